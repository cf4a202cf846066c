/*
 * spf: check_host() (RFC 7208 4-6, 8) on top of the resolver interface.
 * One struct spf_ctx per check holds the identity, the macro values, the
 * lookup counters and the PTR validation cache; records are parsed in place
 * in the DNS answer that carried them.
 */
#include "auth/spf.h"
#include "auth/spf_internal.h"
#include "core/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* an explanation longer than this is treated as a failed exp= (ignored) */
#define SPF_MAX_EXPLANATION 1024
/* window for domain-spec expansion (see spf_macro.c) */
#define SPF_DOMAIN_WINDOW 1024

enum match { M_NOMATCH, M_MATCH, M_TEMPERROR, M_PERMERROR };

struct spf_ctx {
	struct dns_resolver *r;
	struct ipaddr ip;  /* client, IPv4-mapped already folded to IPv4 */
	struct spf_mctx m; /* macro values; m.domain follows the recursion */
	char sender[512];
	char helo[256];
	unsigned dns_lookups, void_lookups;
	char *explanation;
	char reason[256];
	bool error_set; /* reason holds an error cause */
	/* PTR names of the client that validated (ptr mechanism and %{p}) */
	bool ptr_done;
	enum dns_status ptr_status;
	unsigned nvalid;
	char valid[SPF_MAX_PTR_NAMES][DNS_MAX_NAME + 1];
};

const char *spf_result_name(enum spf_result r)
{
	switch (r) {
	case SPF_NONE: return "none";
	case SPF_NEUTRAL: return "neutral";
	case SPF_PASS: return "pass";
	case SPF_FAIL: return "fail";
	case SPF_SOFTFAIL: return "softfail";
	case SPF_TEMPERROR: return "temperror";
	case SPF_PERMERROR: return "permerror";
	}
	return "permerror";
}

/*
 * Records why the result is what it is. Evaluation stops at the first error,
 * so the first error cause (deep in an include, say) is kept as it travels
 * up; other reasons (a match, "no record") are replaced as levels return.
 */
static void set_reason(struct spf_ctx *c, bool error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_reason(struct spf_ctx *c, bool error, const char *fmt, ...)
{
	if (c->error_set)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof c->reason, fmt, ap);
	va_end(ap);
	/* names come from the client and from DNS: keep the text printable */
	for (char *p = c->reason; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	c->error_set = error;
}

/* copies a DNS name without its trailing dot; false if it cannot be queried */
static bool copy_name(char *dst, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n > 0 && src[n - 1] == '.')
		n--;
	if (n == 0 || n > DNS_MAX_NAME)
		return false;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return dns_name_valid(dst);
}

/*
 * RFC 7208 4.3: a domain that check_host() may start from: a valid,
 * multi-label name of printable ASCII, not an address literal.
 */
static bool domain_ok(const char *d)
{
	size_t n = strlen(d);
	if (n > 0 && d[n - 1] == '.')
		n--;
	if (n == 0 || n > DNS_MAX_NAME || d[0] == '[')
		return false;
	size_t label = 0, labels = 0;
	bool numeric = true;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || d[i] == '.') {
			if (label == 0 || label > DNS_MAX_LABEL)
				return false;
			labels++;
			if (i < n) {
				label = 0;
				numeric = true;
			}
			continue;
		}
		unsigned char ch = (unsigned char)d[i];
		if (ch <= 0x20 || ch >= 0x7f)
			return false;
		if (ch < '0' || ch > '9')
			numeric = false;
		label++;
	}
	/* an all-numeric last label is an IP address, not a domain */
	return labels >= 2 && !numeric;
}

/* name is target or a subdomain of it (ASCII case-insensitive) */
static bool name_within(const char *name, const char *target)
{
	size_t ln = strlen(name), lt = strlen(target);
	if (ln == lt)
		return strcasecmp(name, target) == 0;
	return ln > lt && name[ln - lt - 1] == '.' && strcasecmp(name + ln - lt, target) == 0;
}

static enum match count_dns_mech(struct spf_ctx *c, const char *term, size_t n)
{
	if (++c->dns_lookups > SPF_MAX_DNS_MECH) {
		set_reason(c, true, "more than %d DNS-querying mechanisms and modifiers at '%.*s' (RFC 7208 4.6.4)",
			   SPF_MAX_DNS_MECH, (int)(n > 80 ? 80 : n), term);
		return M_PERMERROR;
	}
	return M_NOMATCH;
}

static enum match count_void(struct spf_ctx *c, const char *name)
{
	if (++c->void_lookups > SPF_MAX_VOID_LOOKUPS) {
		set_reason(c, true, "more than %d void DNS lookups, last for %s (RFC 7208 4.6.4)",
			   SPF_MAX_VOID_LOOKUPS, name);
		return M_PERMERROR;
	}
	return M_NOMATCH;
}

static enum match dns_failed(struct spf_ctx *c, const char *name, enum dns_type t, const struct dns_answer *ans)
{
	set_reason(c, true, "DNS error looking up %s %s: %s", dns_type_name(t), name,
		   ans->reason ? ans->reason : dns_status_name(ans->status));
	return M_TEMPERROR;
}

/* a, mx hosts: does any A/AAAA of name fall in the client's network? */
static enum match match_host(struct spf_ctx *c, const char *name, unsigned cidr4, unsigned cidr6, bool is_void_source)
{
	enum dns_type t = c->ip.family == AF_INET ? DNS_T_A : DNS_T_AAAA;
	unsigned prefix = c->ip.family == AF_INET ? cidr4 : cidr6;
	struct dns_answer ans;
	enum match res = M_NOMATCH;
	switch (dns_query(c->r, name, t, &ans)) {
	case DNS_FOUND:
		for (size_t i = 0; i < ans.n; i++)
			if (ip_match(&c->ip, &ans.rr[i].ip, prefix)) {
				res = M_MATCH;
				break;
			}
		break;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		if (is_void_source)
			res = count_void(c, name);
		break;
	case DNS_TEMPFAIL:
	case DNS_CONFIG_ERROR:
		res = dns_failed(c, name, t, &ans);
		break;
	}
	dns_answer_free(&ans);
	return res;
}

/* RFC 7208 5.4: MX hosts in preference order, at most SPF_MAX_MX_NAMES */
static enum match match_mx(struct spf_ctx *c, const char *name, unsigned cidr4, unsigned cidr6)
{
	struct dns_answer ans;
	enum match res = M_NOMATCH;
	switch (dns_query(c->r, name, DNS_T_MX, &ans)) {
	case DNS_FOUND:
		break;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		res = count_void(c, name);
		dns_answer_free(&ans);
		return res;
	case DNS_TEMPFAIL:
	case DNS_CONFIG_ERROR:
		res = dns_failed(c, name, DNS_T_MX, &ans);
		dns_answer_free(&ans);
		return res;
	}
	/* pick records by (preference, position) without sorting in place */
	unsigned last_pref = 0, checked = 0;
	size_t last_idx = 0;
	bool first = true;
	for (;;) {
		size_t best = SIZE_MAX;
		for (size_t i = 0; i < ans.n; i++) {
			unsigned p = ans.rr[i].pref;
			if (!first && (p < last_pref || (p == last_pref && i <= last_idx)))
				continue;
			if (best == SIZE_MAX || p < ans.rr[best].pref)
				best = i;
		}
		if (best == SIZE_MAX)
			break;
		first = false;
		last_pref = ans.rr[best].pref;
		last_idx = best;
		char host[DNS_MAX_NAME + 1];
		if (!copy_name(host, ans.rr[best].name))
			continue; /* null MX (RFC 7505) or unusable name */
		if (checked++ >= SPF_MAX_MX_NAMES) {
			set_reason(c, true, "%s has more than %d MX hosts to check (RFC 7208 4.6.4)", name,
				   SPF_MAX_MX_NAMES);
			res = M_PERMERROR;
			break;
		}
		res = match_host(c, host, cidr4, cidr6, false);
		if (res != M_NOMATCH)
			break;
	}
	dns_answer_free(&ans);
	return res;
}

/*
 * RFC 7208 5.5: the client's PTR names (the first SPF_MAX_PTR_NAMES) whose
 * A/AAAA records include the client address. Done once per check; a DNS
 * error on a name's address look-up just skips that name.
 */
static void ptr_load(struct spf_ctx *c)
{
	if (c->ptr_done)
		return;
	c->ptr_done = true;
	char rev[80];
	ip_reverse_name(&c->ip, rev, sizeof rev);
	struct dns_answer ans;
	c->ptr_status = dns_query(c->r, rev, DNS_T_PTR, &ans);
	enum dns_type t = c->ip.family == AF_INET ? DNS_T_A : DNS_T_AAAA;
	for (size_t i = 0; c->ptr_status == DNS_FOUND && i < ans.n && i < SPF_MAX_PTR_NAMES; i++) {
		char *dst = c->valid[c->nvalid];
		if (!copy_name(dst, ans.rr[i].name))
			continue;
		struct dns_answer a;
		if (dns_query(c->r, dst, t, &a) == DNS_FOUND) {
			for (size_t j = 0; j < a.n; j++)
				if (ip_equal(&a.rr[j].ip, &c->ip)) {
					c->nvalid++;
					break;
				}
		}
		dns_answer_free(&a);
	}
	dns_answer_free(&ans);
}

/* %{p}: a validated name, preferring the domain itself, then a subdomain */
static const char *ctx_get_p(void *arg, const char *domain)
{
	struct spf_ctx *c = arg;
	ptr_load(c);
	for (unsigned i = 0; i < c->nvalid; i++)
		if (strcasecmp(c->valid[i], domain) == 0)
			return c->valid[i];
	for (unsigned i = 0; i < c->nvalid; i++)
		if (name_within(c->valid[i], domain))
			return c->valid[i];
	return c->nvalid > 0 ? c->valid[0] : "unknown";
}

static enum match match_ptr(struct spf_ctx *c, const char *target)
{
	ptr_load(c);
	if (c->ptr_status == DNS_NXDOMAIN || c->ptr_status == DNS_NODATA)
		return count_void(c, "the client's PTR");
	/* a DNS error on the PTR look-up makes the mechanism not match (5.5) */
	for (unsigned i = 0; i < c->nvalid; i++)
		if (name_within(c->valid[i], target))
			return M_MATCH;
	return M_NOMATCH;
}

static enum match match_exists(struct spf_ctx *c, const char *name)
{
	struct dns_answer ans;
	enum match res = M_NOMATCH;
	/* always an A query, whatever the client's family (5.7) */
	switch (dns_query(c->r, name, DNS_T_A, &ans)) {
	case DNS_FOUND:
		res = M_MATCH;
		break;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		res = count_void(c, name);
		break;
	case DNS_TEMPFAIL:
	case DNS_CONFIG_ERROR:
		res = dns_failed(c, name, DNS_T_A, &ans);
		break;
	}
	dns_answer_free(&ans);
	return res;
}

/* expands a term's domain-spec into out; -1 if the result is unusable */
static int expand_domain(struct spf_ctx *c, const struct spf_record *rec, const struct spf_term *tm,
			 char out[DNS_MAX_NAME + 1])
{
	char win[SPF_DOMAIN_WINDOW];
	struct spf_sink s = { win, 0, sizeof win, true, false, false };
	char err[160];
	win[0] = '\0';
	if (spf_macro_run(rec->text + tm->arg_off, tm->arg_len, &c->m, SPF_MACRO_DOMAIN, &s, NULL, err,
			  sizeof err) < 0)
		return -1;
	if (spf_domain_finish(&s, out, DNS_MAX_NAME + 1) < 0)
		return -1;
	return dns_name_valid(out) ? 0 : -1;
}

static enum spf_result check_host(struct spf_ctx *c, const char *domain, bool want_exp);

static enum match eval_mech(struct spf_ctx *c, const struct spf_record *rec, const struct spf_term *tm,
			    const char *domain)
{
	const char *term = rec->text + tm->off;
	switch (tm->type) {
	case SPF_T_ALL:
		return M_MATCH;
	case SPF_T_IP4:
		return c->ip.family == AF_INET && ip_match(&c->ip, &tm->net, tm->cidr4) ? M_MATCH : M_NOMATCH;
	case SPF_T_IP6:
		return c->ip.family == AF_INET6 && ip_match(&c->ip, &tm->net, tm->cidr6) ? M_MATCH : M_NOMATCH;
	default:
		break;
	}
	if (count_dns_mech(c, term, tm->len) != M_NOMATCH)
		return M_PERMERROR;
	char target[DNS_MAX_NAME + 1];
	bool ok = true;
	if (tm->arg_len > 0)
		ok = expand_domain(c, rec, tm, target) == 0;
	else
		snprintf(target, sizeof target, "%s", domain);

	switch (tm->type) {
	case SPF_T_INCLUDE: {
		enum spf_result r = ok && domain_ok(target) ? check_host(c, target, false) : SPF_NONE;
		switch (r) {
		case SPF_PASS:
			return M_MATCH;
		case SPF_FAIL:
		case SPF_SOFTFAIL:
		case SPF_NEUTRAL:
			return M_NOMATCH;
		case SPF_TEMPERROR:
			return M_TEMPERROR;
		case SPF_PERMERROR:
			return M_PERMERROR;
		case SPF_NONE:
			set_reason(c, true, "'%.*s': no SPF record at %s (RFC 7208 5.2)", (int)tm->len, term,
				   ok ? target : "an invalid name");
			return M_PERMERROR;
		}
		return M_PERMERROR;
	}
	case SPF_T_A:
		/* a name that cannot be queried (empty or long label after macro
		   expansion) does not exist, so it does not match (4.3, 4.8) */
		return ok ? match_host(c, target, tm->cidr4, tm->cidr6, true) : M_NOMATCH;
	case SPF_T_MX:
		return ok ? match_mx(c, target, tm->cidr4, tm->cidr6) : M_NOMATCH;
	case SPF_T_PTR:
		return ok ? match_ptr(c, target) : M_NOMATCH;
	case SPF_T_EXISTS:
		return ok ? match_exists(c, target) : M_NOMATCH;
	default:
		return M_NOMATCH;
	}
}

/* RFC 7208 6.2: failures here only mean "no explanation" */
static void compute_exp(struct spf_ctx *c, const struct spf_record *rec)
{
	char target[DNS_MAX_NAME + 1];
	if (expand_domain(c, rec, &rec->terms[rec->exp], target) < 0)
		return;
	struct dns_answer ans;
	if (dns_query(c->r, target, DNS_T_TXT, &ans) == DNS_FOUND && ans.n == 1) {
		char out[SPF_MAX_EXPLANATION + 1];
		struct spf_sink s = { out, 0, sizeof out, false, false, false };
		char err[160];
		out[0] = '\0';
		if (spf_macro_run(ans.rr[0].txt, ans.rr[0].txt_len, &c->m, SPF_MACRO_EXPLAIN, &s, NULL, err,
				  sizeof err) == 0) {
			free(c->explanation);
			c->explanation = xstrndup(out, s.len);
		}
	}
	dns_answer_free(&ans);
}

static enum spf_result eval_record(struct spf_ctx *c, const struct spf_record *rec, const char *domain,
				   bool want_exp)
{
	for (unsigned i = 0; i < rec->nterms; i++) {
		const struct spf_term *tm = &rec->terms[i];
		if (tm->type >= SPF_T_REDIRECT)
			continue;
		switch (eval_mech(c, rec, tm, domain)) {
		case M_NOMATCH:
			continue;
		case M_TEMPERROR:
			return SPF_TEMPERROR;
		case M_PERMERROR:
			return SPF_PERMERROR;
		case M_MATCH:
			break;
		}
		set_reason(c, false, "'%.*s' matched in %s", (int)(tm->len > 120 ? 120 : tm->len),
			   rec->text + tm->off, domain);
		if (tm->result == SPF_FAIL && want_exp && rec->exp >= 0)
			compute_exp(c, rec);
		return (enum spf_result)tm->result;
	}
	if (rec->redirect >= 0 && !rec->has_all) {
		const struct spf_term *tm = &rec->terms[rec->redirect];
		if (count_dns_mech(c, rec->text + tm->off, tm->len) != M_NOMATCH)
			return SPF_PERMERROR;
		char target[DNS_MAX_NAME + 1];
		enum spf_result r = SPF_NONE;
		bool ok = expand_domain(c, rec, tm, target) == 0 && domain_ok(target);
		/* the target's own exp= applies, ours does not (6.2) */
		if (ok)
			r = check_host(c, target, want_exp);
		if (r == SPF_NONE) {
			set_reason(c, true, "redirect from %s: no SPF record at %s (RFC 7208 6.1)", domain,
				   ok ? target : "an invalid name");
			return SPF_PERMERROR;
		}
		return r;
	}
	set_reason(c, false, "no mechanism matched in %s (default neutral)", domain);
	return SPF_NEUTRAL;
}

/* check_host(<ip>, domain, <sender>) of RFC 7208 4; domain passed domain_ok */
static enum spf_result check_host(struct spf_ctx *c, const char *domain, bool want_exp)
{
	struct dns_answer ans;
	enum dns_status st = dns_query(c->r, domain, DNS_T_TXT, &ans);
	if (st == DNS_TEMPFAIL || st == DNS_CONFIG_ERROR) {
		dns_failed(c, domain, DNS_T_TXT, &ans);
		dns_answer_free(&ans);
		return SPF_TEMPERROR;
	}
	size_t found = 0, idx = 0;
	for (size_t i = 0; st == DNS_FOUND && i < ans.n; i++)
		if (ans.rr[i].txt && spf_is_v1(ans.rr[i].txt, ans.rr[i].txt_len)) {
			found++;
			idx = i;
		}
	if (found != 1) {
		dns_answer_free(&ans);
		if (found == 0) {
			set_reason(c, false, "no SPF record at %s", domain);
			return SPF_NONE;
		}
		set_reason(c, true, "%zu SPF records at %s (RFC 7208 4.5)", found, domain);
		return SPF_PERMERROR;
	}

	struct spf_record rec;
	char err[200];
	enum spf_result res;
	if (spf_record_parse_in(&rec, ans.rr[idx].txt, ans.rr[idx].txt_len, err, sizeof err) < 0) {
		set_reason(c, true, "bad SPF record at %s: %s", domain, err);
		res = SPF_PERMERROR;
	} else {
		const char *saved = c->m.domain;
		size_t saved_len = c->m.domain_len;
		c->m.domain = domain;
		c->m.domain_len = strlen(domain);
		res = eval_record(c, &rec, domain, want_exp);
		c->m.domain = saved;
		c->m.domain_len = saved_len;
		spf_record_clear(&rec);
	}
	dns_answer_free(&ans);
	return res;
}

static void copy_str(char *dst, size_t cap, const char *src, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static enum spf_result finish(struct spf_ctx *c, struct spf_response *resp, enum spf_result res)
{
	resp->result = res;
	snprintf(resp->reason, sizeof resp->reason, "%s", c->reason);
	resp->dns_lookups = c->dns_lookups;
	resp->void_lookups = c->void_lookups;
	if (res == SPF_FAIL)
		resp->explanation = c->explanation;
	else
		free(c->explanation);
	c->explanation = NULL;
	return res;
}

static enum spf_result run(struct dns_resolver *r, const struct spf_request *req, struct spf_response *resp,
			   bool helo_only)
{
	memset(resp, 0, sizeof *resp);
	struct spf_ctx *c = xcalloc(1, sizeof *c);
	c->r = r;
	c->ip = req->ip;
	ip_unmap(&c->ip);

	const char *helo = req->helo ? req->helo : "";
	copy_str(c->helo, sizeof c->helo, helo, strlen(helo));
	const char *mf = helo_only ? NULL : req->mail_from;
	size_t mflen = mf ? strlen(mf) : 0;
	if (mflen >= 2 && mf[0] == '<' && mf[mflen - 1] == '>') {
		mf++;
		mflen -= 2;
	}

	const char *local, *dom;
	size_t local_len, dom_len;
	if (mflen == 0) {
		snprintf(resp->identity, sizeof resp->identity, "helo");
		local = "postmaster";
		local_len = 10;
		dom = c->helo;
		dom_len = strlen(c->helo);
	} else {
		snprintf(resp->identity, sizeof resp->identity, "mailfrom");
		const char *at = NULL;
		for (size_t i = 0; i < mflen; i++)
			if (mf[i] == '@')
				at = mf + i;
		if (at == NULL) {
			/* no "@": the whole path is taken as the domain */
			local = "postmaster";
			local_len = 10;
			dom = mf;
			dom_len = mflen;
		} else {
			local = mf;
			local_len = (size_t)(at - mf);
			dom = at + 1;
			dom_len = mflen - local_len - 1;
			if (local_len == 0) {
				/* RFC 7208 4.3: no local-part -> "postmaster" */
				local = "postmaster";
				local_len = 10;
			}
		}
	}
	copy_str(resp->domain, sizeof resp->domain, dom, dom_len);
	size_t dl = strlen(resp->domain);
	if (dl > 0 && resp->domain[dl - 1] == '.')
		resp->domain[--dl] = '\0';
	if (local_len + 1 + dl >= sizeof c->sender) {
		set_reason(c, false, "sender address too long");
		enum spf_result res = finish(c, resp, SPF_NONE);
		free(c);
		return res;
	}
	memcpy(c->sender, local, local_len);
	c->sender[local_len] = '@';
	memcpy(c->sender + local_len + 1, resp->domain, dl + 1);
	snprintf(resp->sender, sizeof resp->sender, "%s", c->sender);

	enum spf_result res;
	if (c->ip.family != AF_INET && c->ip.family != AF_INET6) {
		set_reason(c, false, "no valid client IP address");
		res = SPF_NONE;
	} else if (dom_len == 0) {
		set_reason(c, false, "%s", mflen == 0 ? "no HELO name and a null reverse-path" : "empty domain");
		res = SPF_NONE;
	} else if (dom_len != dl + (dom[dom_len - 1] == '.') || !domain_ok(resp->domain)) {
		/* also catches a NUL or truncation inside the given name */
		set_reason(c, false, "'%s' is not a fully qualified domain name (RFC 7208 4.3)", resp->domain);
		res = SPF_NONE;
	} else {
		c->m.sender = c->sender;
		c->m.sender_len = strlen(c->sender);
		c->m.local = c->sender;
		c->m.local_len = local_len;
		c->m.odomain = c->sender + local_len + 1;
		c->m.odomain_len = dl;
		c->m.domain = c->m.odomain;
		c->m.domain_len = dl;
		c->m.helo = c->helo;
		c->m.helo_len = strlen(c->helo);
		c->m.receiver = req->receiver;
		c->m.now = req->now;
		spf_mctx_set_ip(&c->m, &c->ip);
		c->m.get_p = ctx_get_p;
		c->m.p_arg = c;
		res = check_host(c, resp->domain, true);
	}
	res = finish(c, resp, res);
	free(c);
	return res;
}

enum spf_result spf_check(struct dns_resolver *r, const struct spf_request *req, struct spf_response *resp_r)
{
	return run(r, req, resp_r, false);
}

enum spf_result spf_check_helo(struct dns_resolver *r, const struct spf_request *req, struct spf_response *resp_r)
{
	return run(r, req, resp_r, true);
}

void spf_response_free(struct spf_response *resp)
{
	resp->explanation = xfree(resp->explanation);
}
