/* inbound: compiling the policy and deciding one message (see inbound.h,
   docs/inbound.md). */
#include "policy/inbound.h"

#include "auth/address.h"
#include "core/mem.h"
#include "spoof/impersonation.h"
#include "spoof/lookalike.h"

#include <gmime/gmime.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* mailboxes read from From and Reply-To; more are ignored for the checks */
#define MAX_MAILBOXES 8
/* domains compared for lookalikes per message (From, Reply-To, envelope) */
#define MAX_DOMAINS (2 * MAX_MAILBOXES + 1)
/* addresses of one VIP */
#define MAX_VIP_ADDRESSES IMP_MAX_VIP_ADDRESSES

struct cidr {
	struct ipaddr net;
	unsigned prefix;
};

struct cidr_list {
	struct cidr *v;
	size_t n;
};

/* sender entries: "user@domain" (exact address) or "domain" (and below) */
struct sender_list {
	char **v; /* lower case */
	size_t n;
};

struct rcpt_lists {
	char *recipient; /* lower case; "@domain" for a whole domain */
	struct sender_list allow, deny;
};

struct zone_codes {
	struct dnsbl_code codes[INBOUND_MAX_DNSBL_CODES];
	char meanings[INBOUND_MAX_DNSBL_CODES][128];
};

struct inbound_policy {
	bool headers;
	bool dns_fail_accept;
	enum inbound_mode dmarc; /* OFF, SCORE, or MODE_REJECT meaning "action" */
	enum inbound_mode internal_spoof, org_mismatch, impersonation, lookalike, reply_to, unresolvable, dnsbl;
	int score_quarantine, score_reject;
	struct cidr_list internal, fwd_nets, allow_ips, deny_ips;
	struct sender_list fwd_domains, sealers, allow_senders, deny_senders;
	struct rcpt_lists *rcpts;
	size_t nrcpts;
	struct lookalike_set *protected_set; /* NULL: no protected domains */
	struct vip_set *vips;                /* NULL: no VIPs */
	struct freemail_set *freemail;
	struct dnsbl_zone *zones;
	struct zone_codes *zone_codes;
	char **zone_names;
	size_t nzones;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const char *inbound_action_name(enum inbound_action a)
{
	switch (a) {
	case INBOUND_ACCEPT: return "accept";
	case INBOUND_QUARANTINE: return "quarantine";
	case INBOUND_TEMPFAIL: return "tempfail";
	case INBOUND_REJECT: return "reject";
	}
	return "unknown";
}

/* ---- compiling ---- */

static size_t strlist_len(char **l)
{
	size_t n = 0;
	while (l != NULL && l[n] != NULL)
		n++;
	return n;
}

static char *lower_dup(const char *s)
{
	char *d = xstrdup(s);
	for (char *p = d; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return d;
}

static enum inbound_mode mode_of(const char *s)
{
	if (s == NULL || strcmp(s, "off") == 0)
		return INBOUND_OFF;
	if (strcmp(s, "score") == 0)
		return INBOUND_SCORE;
	if (strcmp(s, "quarantine") == 0)
		return INBOUND_MODE_QUARANTINE;
	return INBOUND_MODE_REJECT; /* "reject", and "action" for inbound.dmarc */
}

static int compile_cidrs(char **in, const char *key, struct cidr_list *out, char *err, size_t errlen)
{
	size_t n = strlist_len(in);
	out->v = xcalloc(n ? n : 1, sizeof *out->v);
	out->n = 0;
	for (size_t i = 0; i < n; i++) {
		struct cidr c;
		if (ip_parse_cidr(in[i], &c.net, &c.prefix) < 0) {
			seterr(err, errlen,
			       "%s: \"%.80s\" is not an address or CIDR (e.g. 192.0.2.0/24, 2001:db8::/32)", key,
			       in[i]);
			return -1;
		}
		out->v[out->n++] = c;
	}
	return 0;
}

static bool cidr_match(const struct cidr_list *l, const struct ipaddr *ip)
{
	for (size_t i = 0; i < l->n; i++)
		if (ip_match(ip, &l->v[i].net, l->v[i].prefix))
			return true;
	return false;
}

static bool domain_ok(const char *d)
{
	if (d[0] == '\0' || strchr(d, '@') != NULL || strchr(d, ' ') != NULL)
		return false;
	/* U-labels are fine for matching; only ASCII names are checked as DNS names */
	for (const char *p = d; *p; p++)
		if ((unsigned char)*p >= 0x80)
			return true;
	return dns_name_valid(d);
}

/* a sender entry: "user@domain", "domain" or "@domain" (the same as "domain") */
static int compile_sender(const char *s, const char *key, char **out_r, char *err, size_t errlen)
{
	const char *at = strrchr(s, '@');
	if (at == s)
		s++, at = NULL;
	bool ok = at == NULL ? domain_ok(s) : at > s && domain_ok(at + 1) && strchr(s, ' ') == NULL;
	if (!ok) {
		seterr(err, errlen, "%s: \"%.80s\" is neither an address (user@example.com) nor a domain", key, s);
		return -1;
	}
	char *d = lower_dup(s);
	size_t n = strlen(d);
	if (n > 0 && d[n - 1] == '.')
		d[n - 1] = '\0';
	*out_r = d;
	return 0;
}

static int compile_senders(char **in, const char *key, struct sender_list *out, char *err, size_t errlen)
{
	size_t n = strlist_len(in);
	out->v = xcalloc(n ? n : 1, sizeof *out->v);
	out->n = 0;
	for (size_t i = 0; i < n; i++) {
		if (compile_sender(in[i], key, &out->v[out->n], err, errlen) < 0)
			return -1;
		out->n++;
	}
	return 0;
}

static void free_senders(struct sender_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		xfree(l->v[i]);
	l->v = xfree(l->v);
	l->n = 0;
}

/* domain equals parent or lies below it; both lower case */
static bool domain_under(const char *domain, const char *parent)
{
	size_t d = strlen(domain), p = strlen(parent);
	if (p == 0 || d < p)
		return false;
	if (strcasecmp(domain + d - p, parent) != 0)
		return false;
	return d == p || domain[d - p - 1] == '.';
}

/* does a sender entry list name addr (local@domain, may be "") or its domain? */
static const char *sender_match(const struct sender_list *l, const char *addr, const char *domain)
{
	for (size_t i = 0; i < l->n; i++) {
		const char *e = l->v[i];
		if (strchr(e, '@') != NULL) {
			if (addr != NULL && addr[0] && strcasecmp(e, addr) == 0)
				return e;
		} else if (domain != NULL && domain[0] && domain_under(domain, e)) {
			return e;
		}
	}
	return NULL;
}

static int compile_forwarders(char **in, struct inbound_policy *p, char *err, size_t errlen)
{
	size_t n = strlist_len(in);
	p->fwd_nets.v = xcalloc(n ? n : 1, sizeof *p->fwd_nets.v);
	p->fwd_domains.v = xcalloc(n ? n : 1, sizeof *p->fwd_domains.v);
	for (size_t i = 0; i < n; i++) {
		struct cidr c;
		if (ip_parse_cidr(in[i], &c.net, &c.prefix) == 0) {
			p->fwd_nets.v[p->fwd_nets.n++] = c;
			continue;
		}
		if (strchr(in[i], '@') != NULL || strchr(in[i], '/') != NULL || !domain_ok(in[i])) {
			seterr(err, errlen, "inbound.dmarc_forwarders: \"%.80s\" is neither a CIDR nor a domain",
			       in[i]);
			return -1;
		}
		p->fwd_domains.v[p->fwd_domains.n++] = lower_dup(in[i]);
	}
	return 0;
}

static int compile_domains(char **in, const char *key, struct sender_list *out, char *err, size_t errlen)
{
	size_t n = strlist_len(in);
	out->v = xcalloc(n ? n : 1, sizeof *out->v);
	for (size_t i = 0; i < n; i++) {
		if (!domain_ok(in[i])) {
			seterr(err, errlen, "%s: \"%.80s\" is not a domain name", key, in[i]);
			return -1;
		}
		out->v[out->n++] = lower_dup(in[i]);
	}
	return 0;
}

static void trim(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	size_t k = strspn(s, " \t");
	memmove(s, s + k, n - k + 1);
}

static int compile_vips(const struct mamori_config *cfg, struct inbound_policy *p, char *err, size_t errlen)
{
	size_t n = cfg->n_inbound_vips;
	if (n == 0)
		return 0;
	if (n > IMP_MAX_VIPS) {
		seterr(err, errlen, "inbound.vips: more than %d entries", IMP_MAX_VIPS);
		return -1;
	}
	struct vip_entry *ent = xcalloc(n, sizeof *ent);
	char **copies = xcalloc(n, sizeof *copies);
	const char **addrs = xcalloc(n * MAX_VIP_ADDRESSES, sizeof *addrs);
	int rc = -1;
	for (size_t i = 0; i < n; i++) {
		const struct config_vip *v = &cfg->inbound_vips[i];
		copies[i] = xstrdup(v->address ? v->address : "");
		size_t na = 0;
		for (char *save = NULL, *a = strtok_r(copies[i], ",", &save); a; a = strtok_r(NULL, ",", &save)) {
			trim(a);
			if (a[0] == '\0')
				continue;
			const char *at = strrchr(a, '@');
			if (at == NULL || at == a || !domain_ok(at + 1)) {
				seterr(err, errlen, "inbound.vips: entry %zu (\"%.60s\"): \"%.80s\" is not an address",
				       i + 1, v->name ? v->name : "", a);
				goto out;
			}
			if (na == MAX_VIP_ADDRESSES) {
				seterr(err, errlen, "inbound.vips: entry %zu: more than %d addresses", i + 1,
				       MAX_VIP_ADDRESSES);
				goto out;
			}
			addrs[i * MAX_VIP_ADDRESSES + na++] = a;
		}
		ent[i].name = v->name;
		ent[i].addresses = &addrs[i * MAX_VIP_ADDRESSES];
		ent[i].n_addresses = na;
	}
	char why[256];
	p->vips = vip_set_new(ent, n, why, sizeof why);
	if (p->vips == NULL) {
		seterr(err, errlen, "inbound.vips: %s", why);
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		xfree(copies[i]);
	xfree(copies);
	xfree(addrs);
	xfree(ent);
	return rc;
}

static int compile_zones(const struct mamori_config *cfg, struct inbound_policy *p, char *err, size_t errlen)
{
	size_t n = cfg->n_dnsbl_zones;
	p->nzones = n;
	p->zones = xcalloc(n ? n : 1, sizeof *p->zones);
	p->zone_codes = xcalloc(n ? n : 1, sizeof *p->zone_codes);
	p->zone_names = xcalloc(n ? n : 1, sizeof *p->zone_names);
	for (size_t i = 0; i < n; i++) {
		const struct config_dnsbl_zone *cz = &cfg->dnsbl_zones[i];
		char why[256];
		if (dnsbl_zone_name_valid(cz->zone, why, sizeof why) < 0) {
			seterr(err, errlen, "dnsbl.zones: entry %zu: zone \"%.80s\": %s", i + 1,
			       cz->zone ? cz->zone : "", why);
			return -1;
		}
		p->zone_names[i] = lower_dup(cz->zone);
		size_t nc = strlist_len(cz->codes);
		if (nc > INBOUND_MAX_DNSBL_CODES) {
			seterr(err, errlen, "dnsbl.zones: zone %s: more than %d codes", cz->zone,
			       INBOUND_MAX_DNSBL_CODES);
			return -1;
		}
		struct zone_codes *zc = &p->zone_codes[i];
		for (size_t j = 0; j < nc; j++) {
			if (inbound_dnsbl_code_parse(cz->codes[j], &zc->codes[j], zc->meanings[j],
			                             sizeof zc->meanings[j], why, sizeof why) < 0) {
				seterr(err, errlen, "dnsbl.zones: zone %s: code %zu: %s", cz->zone, j + 1, why);
				return -1;
			}
			if (zc->meanings[j][0] == '\0')
				snprintf(zc->meanings[j], sizeof zc->meanings[j], "%.100s", cz->codes[j]);
		}
		p->zones[i] = (struct dnsbl_zone){
		    .zone = p->zone_names[i],
		    .codes = zc->codes,
		    .ncodes = nc,
		    .want_txt = cz->txt,
		};
		if (dnsbl_zone_validate(&p->zones[i], why, sizeof why) < 0) {
			seterr(err, errlen, "dnsbl.zones: %s", why);
			return -1;
		}
	}
	return 0;
}

static int compile_rcpt_lists(const struct mamori_config *cfg, struct inbound_policy *p, char *err, size_t errlen)
{
	size_t n = cfg->n_lists_recipients;
	p->rcpts = xcalloc(n ? n : 1, sizeof *p->rcpts);
	for (size_t i = 0; i < n; i++) {
		const struct config_recipient_list *cr = &cfg->lists_recipients[i];
		struct rcpt_lists *r = &p->rcpts[i];
		p->nrcpts = i + 1;
		const char *rc = cr->recipient ? cr->recipient : "";
		const char *at = strrchr(rc, '@');
		if (at == NULL || !domain_ok(at + 1)) {
			seterr(err, errlen,
			       "lists.recipients: entry %zu: recipient \"%.80s\" is neither an address nor \"@domain\"",
			       i + 1, rc);
			return -1;
		}
		r->recipient = lower_dup(rc);
		if (compile_senders(cr->allow, "lists.recipients.allow", &r->allow, err, errlen) < 0 ||
		    compile_senders(cr->deny, "lists.recipients.deny", &r->deny, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;
static void gmime_start(void)
{
	g_mime_init();
}

struct inbound_policy *inbound_policy_new(const struct mamori_config *cfg, char *err, size_t errlen)
{
	pthread_once(&gmime_once, gmime_start);
	struct inbound_policy *p = xcalloc(1, sizeof *p);
	p->headers = cfg->inbound_headers;
	p->dns_fail_accept = cfg->inbound_dns_failure != NULL && strcmp(cfg->inbound_dns_failure, "accept") == 0;
	p->dmarc = mode_of(cfg->inbound_dmarc);
	p->internal_spoof = mode_of(cfg->inbound_internal_spoof);
	p->org_mismatch = mode_of(cfg->inbound_org_mismatch) == INBOUND_OFF ? INBOUND_OFF : INBOUND_SCORE;
	p->impersonation = mode_of(cfg->inbound_impersonation);
	p->lookalike = mode_of(cfg->inbound_lookalike);
	p->reply_to = mode_of(cfg->inbound_reply_to);
	p->unresolvable = mode_of(cfg->inbound_unresolvable_sender);
	p->dnsbl = mode_of(cfg->inbound_dnsbl);
	p->score_quarantine = cfg->inbound_score_quarantine;
	p->score_reject = cfg->inbound_score_reject;

	if (compile_cidrs(cfg->inbound_internal_networks, "inbound.internal_networks", &p->internal, err, errlen) < 0 ||
	    compile_cidrs(cfg->lists_allow_ips, "lists.allow_ips", &p->allow_ips, err, errlen) < 0 ||
	    compile_cidrs(cfg->lists_deny_ips, "lists.deny_ips", &p->deny_ips, err, errlen) < 0 ||
	    compile_forwarders(cfg->inbound_dmarc_forwarders, p, err, errlen) < 0 ||
	    compile_domains(cfg->inbound_arc_trusted_sealers, "inbound.arc_trusted_sealers", &p->sealers, err, errlen) <
	        0 ||
	    compile_senders(cfg->lists_allow_senders, "lists.allow_senders", &p->allow_senders, err, errlen) < 0 ||
	    compile_senders(cfg->lists_deny_senders, "lists.deny_senders", &p->deny_senders, err, errlen) < 0 ||
	    compile_rcpt_lists(cfg, p, err, errlen) < 0 || compile_zones(cfg, p, err, errlen) < 0 ||
	    compile_vips(cfg, p, err, errlen) < 0)
		goto fail;

	size_t npd = strlist_len(cfg->inbound_protected_domains);
	if (npd > 0) {
		char why[256];
		p->protected_set =
		    lookalike_set_new((const char *const *)cfg->inbound_protected_domains, npd, why, sizeof why);
		if (p->protected_set == NULL) {
			seterr(err, errlen, "inbound.protected_domains: %s", why);
			goto fail;
		}
	}
	size_t nfm = strlist_len(cfg->inbound_freemail_domains);
	const char *const *fm = (const char *const *)cfg->inbound_freemail_domains;
	if (nfm == 0)
		fm = freemail_default_domains(&nfm);
	char why[256];
	p->freemail = freemail_set_new(fm, nfm, why, sizeof why);
	if (p->freemail == NULL) {
		seterr(err, errlen, "inbound.freemail_domains: %s", why);
		goto fail;
	}
	return p;
fail:
	inbound_policy_free(&p);
	return NULL;
}

void inbound_policy_free(struct inbound_policy **pp)
{
	if (pp == NULL || *pp == NULL)
		return;
	struct inbound_policy *p = *pp;
	xfree(p->internal.v);
	xfree(p->fwd_nets.v);
	xfree(p->allow_ips.v);
	xfree(p->deny_ips.v);
	free_senders(&p->fwd_domains);
	free_senders(&p->sealers);
	free_senders(&p->allow_senders);
	free_senders(&p->deny_senders);
	for (size_t i = 0; i < p->nrcpts; i++) {
		xfree(p->rcpts[i].recipient);
		free_senders(&p->rcpts[i].allow);
		free_senders(&p->rcpts[i].deny);
	}
	xfree(p->rcpts);
	for (size_t i = 0; i < p->nzones; i++)
		xfree(p->zone_names ? p->zone_names[i] : NULL);
	xfree(p->zone_names);
	xfree(p->zone_codes);
	xfree(p->zones);
	lookalike_set_free(&p->protected_set);
	vip_set_free(&p->vips);
	freemail_set_free(&p->freemail);
	*pp = xfree(p);
}

bool inbound_policy_headers(const struct inbound_policy *p)
{
	return p != NULL && p->headers;
}

bool inbound_client_internal(const struct inbound_policy *p, const struct ipaddr *ip, bool have_ip)
{
	/* no policy compiled: nothing is checked, as for our own clients */
	if (!have_ip || p == NULL)
		return true;
	return cidr_match(&p->internal, ip);
}

/* ---- deciding ---- */

/* the per-message view of the sender: addresses and domains read once */
struct sender_view {
	char env_addr[512];   /* envelope sender, lower case; "" for the null path */
	char env_domain[256]; /* "" when none */
	struct mailbox from[MAX_MAILBOXES];
	size_t nfrom;
	struct mailbox reply_to[MAX_MAILBOXES];
	size_t nreply_to;
	bool spf_pass; /* SPF passed for the envelope sender's domain */
	bool dmarc_pass;
};

static void addr_of(const struct mailbox *m, char *out, size_t len)
{
	snprintf(out, len, "%s@%s", m->local, m->domain);
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
}

static void read_view(const struct inbound_input *in, struct sender_view *sv)
{
	memset(sv, 0, sizeof *sv);
	if (in->mail_from != NULL && in->mail_from[0]) {
		snprintf(sv->env_addr, sizeof sv->env_addr, "%s", in->mail_from);
		for (char *p = sv->env_addr; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		if (address_envelope_domain(in->mail_from, sv->env_domain, sizeof sv->env_domain) < 0)
			sv->env_domain[0] = '\0';
	}
	if (in->msg != NULL && message_header_count(in->msg, "From") == 1) {
		const struct msg_header *h = message_header(in->msg, "From", 0);
		sv->nfrom = address_parse_mailboxes(h->value, h->value_len, sv->from, MAX_MAILBOXES, NULL, 0);
	}
	if (in->msg != NULL) {
		const struct msg_header *h = message_header(in->msg, "Reply-To", 0);
		if (h != NULL)
			sv->nreply_to =
			    address_parse_mailboxes(h->value, h->value_len, sv->reply_to, MAX_MAILBOXES, NULL, 0);
	}
	const struct auth_results *a = in->auth;
	if (a != NULL) {
		sv->spf_pass = a->spf_done && a->spf.result == SPF_PASS && strcmp(a->spf.identity, "mailfrom") == 0 &&
		               sv->env_domain[0] && strcasecmp(a->spf.domain, sv->env_domain) == 0;
		sv->dmarc_pass = a->dmarc_done && a->dmarc.result == DMARC_PASS;
	}
}

static enum inbound_action mode_action(enum inbound_mode m)
{
	switch (m) {
	case INBOUND_MODE_QUARANTINE: return INBOUND_QUARANTINE;
	case INBOUND_MODE_REJECT: return INBOUND_REJECT;
	default: return INBOUND_ACCEPT;
	}
}

static void add_signal(struct inbound_verdict *v, const char *name, int weight, enum inbound_action action,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void add_signal(struct inbound_verdict *v, const char *name, int weight, enum inbound_action action,
                       const char *fmt, ...)
{
	v->score += weight;
	if (v->nsignals == INBOUND_MAX_SIGNALS) {
		v->signals_dropped++;
		/* the action still counts: a dropped signal must not weaken the verdict */
		if (action > v->action)
			v->action = action;
		return;
	}
	struct inbound_signal *s = &v->signals[v->nsignals++];
	snprintf(s->name, sizeof s->name, "%s", name);
	s->weight = weight;
	s->action = action;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof s->reason, fmt, ap);
	va_end(ap);
	/* reasons quote the sender's bytes; they go into logs, headers and
	   line-per-reason lists, so no control characters */
	for (char *q = s->reason; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			*q = '?';
}

static void dns_failure(const struct inbound_policy *p, struct inbound_verdict *v, const char *what)
{
	v->dns_failed = true;
	if (p != NULL && p->dns_fail_accept)
		add_signal(v, "dns_failure", 0, INBOUND_ACCEPT, "%s (fail-open: inbound.dns_failure = accept)", what);
	else
		add_signal(v, "dns_failure", 0, INBOUND_TEMPFAIL, "%s", what);
}

/* ---- lists ---- */

static const struct rcpt_lists *rcpt_lists_for(const struct inbound_policy *p, const char *rcpt)
{
	const char *at = strrchr(rcpt, '@');
	const struct rcpt_lists *dom = NULL;
	for (size_t i = 0; i < p->nrcpts; i++) {
		const char *r = p->rcpts[i].recipient;
		if (r[0] == '@') {
			if (dom == NULL && at != NULL && strcasecmp(r + 1, at + 1) == 0)
				dom = &p->rcpts[i];
		} else if (strcasecmp(r, rcpt) == 0) {
			return &p->rcpts[i]; /* an address wins over its domain */
		}
	}
	return dom;
}

bool inbound_rcpt_denied(const struct inbound_policy *p, const char *rcpt, const char *mail_from, char *reason_r,
                         size_t len)
{
	if (p == NULL || rcpt == NULL || mail_from == NULL || mail_from[0] == '\0')
		return false;
	const struct rcpt_lists *rl = rcpt_lists_for(p, rcpt);
	if (rl == NULL)
		return false;
	char domain[256];
	if (address_envelope_domain(mail_from, domain, sizeof domain) < 0)
		domain[0] = '\0';
	const char *e = sender_match(&rl->deny, mail_from, domain);
	if (e == NULL)
		return false;
	seterr(reason_r, len, "sender %.100s is on the deny list of %.100s (%.100s)", mail_from, rcpt, e);
	return true;
}

/* the header From address that a list entry names, or NULL */
static const char *from_match(const struct sender_list *l, const struct sender_view *sv, char *which, size_t len)
{
	for (size_t i = 0; i < sv->nfrom; i++) {
		char addr[520];
		addr_of(&sv->from[i], addr, sizeof addr);
		const char *e = sender_match(l, addr, sv->from[i].domain);
		if (e != NULL) {
			snprintf(which, len, "%s", addr);
			return e;
		}
	}
	return NULL;
}

/* deny lists; true when the message is refused outright */
static bool check_deny(const struct inbound_policy *p, const struct inbound_input *in, const struct sender_view *sv,
                       struct inbound_verdict *v)
{
	char ipbuf[IP_STRLEN];
	if (in->have_ip && cidr_match(&p->deny_ips, &in->ip)) {
		add_signal(v, "deny_ip", INBOUND_W_DENY, INBOUND_REJECT, "client %s is on lists.deny_ips",
		           ip_format(&in->ip, ipbuf));
		return true;
	}
	const char *e = sender_match(&p->deny_senders, sv->env_addr, sv->env_domain);
	if (e != NULL) {
		add_signal(v, "deny_sender", INBOUND_W_DENY, INBOUND_REJECT,
		           "envelope sender %.100s is on lists.deny_senders (%.80s)", sv->env_addr, e);
		return true;
	}
	char which[520];
	if ((e = from_match(&p->deny_senders, sv, which, sizeof which)) != NULL) {
		add_signal(v, "deny_sender", INBOUND_W_DENY, INBOUND_REJECT,
		           "From %.100s is on lists.deny_senders (%.80s)", which, e);
		return true;
	}
	/* per-recipient deny lists: the envelope sender is refused at RCPT
	   time by the milter; here the header From (and the envelope, for
	   callers that did not check at RCPT time) */
	size_t denied = 0;
	char first[INBOUND_REASON_MAX] = "";
	for (size_t i = 0; i < in->nrcpts; i++) {
		const struct rcpt_lists *rl = rcpt_lists_for(p, in->rcpts[i]);
		if (rl == NULL)
			continue;
		const char *hit = sender_match(&rl->deny, sv->env_addr, sv->env_domain);
		const char *who = sv->env_addr;
		if (hit == NULL) {
			hit = from_match(&rl->deny, sv, which, sizeof which);
			who = which;
		}
		if (hit == NULL)
			continue;
		if (denied == 0)
			snprintf(first, sizeof first, "%.90s is on the deny list of %.90s (%.40s)", who, in->rcpts[i],
			         hit);
		if (denied < INBOUND_MAX_DROP)
			v->drop[v->ndrop++] = i;
		denied++;
	}
	if (denied > 0 && denied == in->nrcpts) {
		v->ndrop = 0;
		add_signal(v, "recipient_deny", INBOUND_W_DENY, INBOUND_REJECT, "%s", first);
		return true;
	}
	if (denied > INBOUND_MAX_DROP) {
		v->ndrop = 0;
		add_signal(v, "recipient_deny", 0, INBOUND_QUARANTINE,
		           "%zu recipients deny this sender, too many to remove one by one: %s", denied, first);
	} else if (denied > 0) {
		add_signal(v, "recipient_deny", 0, INBOUND_ACCEPT, "%zu of %zu recipients removed: %s", denied,
		           in->nrcpts, first);
	}
	return false;
}

/* an allow entry counts only for an authenticated identity: the envelope
   sender with SPF pass, the header From with DMARC pass */
static const char *allowed_by(const struct sender_list *l, const struct sender_view *sv, char *who, size_t len)
{
	if (sv->spf_pass) {
		const char *e = sender_match(l, sv->env_addr, sv->env_domain);
		if (e != NULL) {
			snprintf(who, len, "envelope sender %s (SPF pass)", sv->env_addr);
			return e;
		}
	}
	if (sv->dmarc_pass) {
		char which[520];
		const char *e = from_match(l, sv, which, sizeof which);
		if (e != NULL) {
			snprintf(who, len, "From %s (DMARC pass)", which);
			return e;
		}
	}
	return NULL;
}

static bool check_allow(const struct inbound_policy *p, const struct inbound_input *in, const struct sender_view *sv,
                        struct inbound_verdict *v)
{
	char ipbuf[IP_STRLEN], who[600];
	if (in->have_ip && cidr_match(&p->allow_ips, &in->ip)) {
		add_signal(v, "allow_ip", 0, INBOUND_ACCEPT, "client %s is on lists.allow_ips",
		           ip_format(&in->ip, ipbuf));
		return true;
	}
	const char *e = allowed_by(&p->allow_senders, sv, who, sizeof who);
	if (e != NULL) {
		add_signal(v, "allow_sender", 0, INBOUND_ACCEPT, "%.200s is on lists.allow_senders (%.40s)", who, e);
		return true;
	}
	if (in->nrcpts == 0 || p->nrcpts == 0)
		return false;
	/* one message, one decision: every recipient must allow the sender */
	for (size_t i = 0; i < in->nrcpts; i++) {
		const struct rcpt_lists *rl = rcpt_lists_for(p, in->rcpts[i]);
		if (rl == NULL || (e = allowed_by(&rl->allow, sv, who, sizeof who)) == NULL)
			return false;
	}
	add_signal(v, "recipient_allow", 0, INBOUND_ACCEPT, "%.200s is on the allow list of every recipient (%.40s)",
	           who, e);
	return true;
}

/* ---- DMARC ---- */

/* did the newest ARC set's Authentication-Results see dmarc=pass? */
static bool aar_dmarc_pass(const char *aar)
{
	for (const char *s = aar; (s = strcasestr(s, "dmarc=")) != NULL; s += 6) {
		if (s > aar && s[-1] != ';' && s[-1] != ' ' && s[-1] != '\t')
			continue;
		if (strncasecmp(s + 6, "pass", 4) == 0 &&
		    (s[10] == '\0' || s[10] == ' ' || s[10] == ';' || s[10] == '\t' || s[10] == '('))
			return true;
	}
	return false;
}

static bool is_forwarder(const struct inbound_policy *p, const struct inbound_input *in, const struct sender_view *sv,
                         char *why, size_t len)
{
	char ipbuf[IP_STRLEN];
	if (in->have_ip && cidr_match(&p->fwd_nets, &in->ip)) {
		snprintf(why, len, "client %s is a known forwarder", ip_format(&in->ip, ipbuf));
		return true;
	}
	for (size_t i = 0; i < p->fwd_domains.n; i++) {
		const char *d = p->fwd_domains.v[i];
		if (in->client_name != NULL && domain_under(in->client_name, d)) {
			snprintf(why, len, "client %.100s is a known forwarder (%.80s)", in->client_name, d);
			return true;
		}
		if (sv->env_domain[0] && domain_under(sv->env_domain, d)) {
			snprintf(why, len, "envelope sender domain %.100s is a known forwarder or list (%.80s)",
			         sv->env_domain, d);
			return true;
		}
	}
	return false;
}

static void check_dmarc(const struct inbound_policy *p, const struct inbound_input *in, const struct sender_view *sv,
                        struct inbound_verdict *v)
{
	const struct auth_results *a = in->auth;
	if (p->dmarc == INBOUND_OFF || a == NULL || !a->dmarc_done || a->dmarc.result != DMARC_FAIL)
		return;
	const struct dmarc_response *d = &a->dmarc;
	int weight = INBOUND_W_DMARC_NONE;
	enum inbound_action act = INBOUND_ACCEPT;
	if (d->disposition == DMARC_POLICY_REJECT) {
		weight = INBOUND_W_DMARC_REJECT;
		act = INBOUND_REJECT;
	} else if (d->disposition == DMARC_POLICY_QUARANTINE) {
		weight = INBOUND_W_DMARC_QUARANTINE;
		act = INBOUND_QUARANTINE;
	}
	if (p->dmarc == INBOUND_SCORE)
		act = INBOUND_ACCEPT;
	char policy[64];
	snprintf(policy, sizeof policy, "p=%s%s", dmarc_policy_name(d->applied), d->testing ? " t=y" : "");
	char why[300];
	if (is_forwarder(p, in, sv, why, sizeof why)) {
		add_signal(v, "dmarc_fail", 0, INBOUND_ACCEPT, "DMARC fail for %.100s (%s) not enforced: %s",
		           d->from_domain, policy, why);
		return;
	}
	const struct arc_response *arc = &a->arc;
	if (arc->cv == ARC_PASS && arc->sealer_domain[0]) {
		char sealer[256];
		snprintf(sealer, sizeof sealer, "%s", arc->sealer_domain);
		for (char *q = sealer; *q; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q - 'A' + 'a');
		for (size_t i = 0; i < p->sealers.n; i++) {
			if (domain_under(sealer, p->sealers.v[i]) && aar_dmarc_pass(arc->aar_value)) {
				add_signal(v, "dmarc_fail", 0, INBOUND_ACCEPT,
				           "DMARC fail for %.100s (%s) not enforced: ARC chain sealed by trusted %.80s "
				           "passed and it saw dmarc=pass",
				           d->from_domain, policy, sealer);
				return;
			}
		}
	}
	add_signal(v, "dmarc_fail", weight, act, "DMARC policy of %.100s (%s) failed: %.120s", d->from_domain, policy,
	           d->reason);
}

/* ---- spoofing ---- */

struct domain_seen {
	char domain[256];
	const char *where; /* "From", "Reply-To", "envelope sender" */
	enum lookalike_kind kind;
	struct lookalike_match m;
};

static size_t classify_domains(const struct inbound_policy *p, const struct sender_view *sv, struct domain_seen *ds)
{
	size_t n = 0;
	struct {
		const char *d;
		const char *where;
	} cand[MAX_DOMAINS];
	size_t nc = 0;
	for (size_t i = 0; i < sv->nfrom; i++)
		cand[nc++] = (typeof(cand[0])){sv->from[i].domain, "From"};
	for (size_t i = 0; i < sv->nreply_to; i++)
		cand[nc++] = (typeof(cand[0])){sv->reply_to[i].domain, "Reply-To"};
	if (sv->env_domain[0])
		cand[nc++] = (typeof(cand[0])){sv->env_domain, "envelope sender"};
	for (size_t i = 0; i < nc; i++) {
		if (cand[i].d[0] == '\0' || cand[i].d[0] == '[')
			continue;
		bool dup = false;
		for (size_t j = 0; j < n && !dup; j++)
			dup = strcasecmp(ds[j].domain, cand[i].d) == 0;
		if (dup)
			continue;
		struct domain_seen *s = &ds[n++];
		snprintf(s->domain, sizeof s->domain, "%s", cand[i].d);
		s->where = cand[i].where;
		s->kind = p->protected_set ? lookalike_check(p->protected_set, s->domain, &s->m) : LOOKALIKE_NONE;
	}
	return n;
}

static bool is_protected(const struct domain_seen *ds, size_t n, const char *domain)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(ds[i].domain, domain) == 0)
			return ds[i].kind == LOOKALIKE_EXACT;
	return false;
}

static void check_internal_spoof(const struct inbound_policy *p, const struct inbound_input *in,
                                 const struct sender_view *sv, const struct domain_seen *ds, size_t nds,
                                 struct inbound_verdict *v)
{
	if (p->internal_spoof == INBOUND_OFF || p->protected_set == NULL)
		return;
	char ipbuf[IP_STRLEN] = "(unknown)";
	if (in->have_ip)
		ip_format(&in->ip, ipbuf);
	int w = INBOUND_W_INTERNAL_SPOOF;
	enum inbound_action act = mode_action(p->internal_spoof);
	/* our own domain authenticated by our own records (a mailing service
	   named in our SPF or signing with our key) is not a spoof */
	for (size_t i = 0; i < sv->nfrom; i++) {
		if (!sv->dmarc_pass && is_protected(ds, nds, sv->from[i].domain)) {
			add_signal(v, "internal_spoof", w, act,
			           "From domain %.100s is ours but client %s is neither internal nor authenticated",
			           sv->from[i].domain, ipbuf);
			return;
		}
	}
	if (sv->env_domain[0] && !sv->spf_pass && is_protected(ds, nds, sv->env_domain))
		add_signal(v, "internal_spoof", w, act,
		           "envelope sender domain %.100s is ours but client %s is neither internal nor authenticated",
		           sv->env_domain, ipbuf);
}

static void check_org_mismatch(const struct inbound_policy *p, const struct sender_view *sv, struct inbound_verdict *v)
{
	if (p->org_mismatch == INBOUND_OFF || sv->nfrom == 0 || sv->env_domain[0] == '\0' ||
	    sv->from[0].domain[0] == '\0')
		return;
	char a[256], b[256];
	if (lookalike_org_domain(sv->from[0].domain, a, sizeof a) < 0 ||
	    lookalike_org_domain(sv->env_domain, b, sizeof b) < 0)
		return;
	if (strcmp(a, b) != 0)
		add_signal(v, "org_mismatch", INBOUND_W_ORG_MISMATCH, INBOUND_ACCEPT,
		           "header From organisation %.100s differs from the envelope sender's %.100s", a, b);
}

static void check_impersonation(const struct inbound_policy *p, const struct sender_view *sv, struct inbound_verdict *v)
{
	if (p->impersonation == INBOUND_OFF || p->vips == NULL)
		return;
	struct imp_match best = {0};
	char best_addr[520] = "";
	for (size_t i = 0; i < sv->nfrom; i++) {
		const struct mailbox *mb = &sv->from[i];
		if (mb->display[0] == '\0')
			continue;
		char *decoded = NULL;
		const char *name = mb->display;
		if (strstr(name, "=?") != NULL) {
			decoded = g_mime_utils_header_decode_phrase(NULL, name);
			if (decoded != NULL)
				name = decoded;
		}
		char addr[520];
		addr_of(mb, addr, sizeof addr);
		struct imp_match m;
		if (impersonation_check(p->vips, name, addr, p->freemail, &m) == 1 && m.strength > best.strength) {
			best = m;
			snprintf(best_addr, sizeof best_addr, "%s", addr);
		}
		g_free(decoded);
	}
	if (!best.matched)
		return;
	enum inbound_action act = best.strength >= IMP_STRENGTH_NAME ? mode_action(p->impersonation) : INBOUND_ACCEPT;
	add_signal(v, "impersonation", (best.strength + 5) / 10, act,
	           "display name imitates %.80s from %.100s%s: %.100s", best.vip_name, best_addr,
	           best.freemail ? " (free mail)" : "", best.reason);
}

static void check_lookalike(const struct inbound_policy *p, const struct domain_seen *ds, size_t nds,
                            struct inbound_verdict *v)
{
	if (p->lookalike == INBOUND_OFF)
		return;
	for (size_t i = 0; i < nds; i++) {
		const struct domain_seen *s = &ds[i];
		if (s->kind == LOOKALIKE_NONE || s->kind == LOOKALIKE_EXACT)
			continue;
		if (s->m.protected_domain[0] == '\0') {
			add_signal(v, "lookalike", INBOUND_W_LOOKALIKE_WEAK, INBOUND_ACCEPT, "%s domain %.100s: %.120s",
			           s->where, s->domain, s->m.reason);
			continue;
		}
		add_signal(v, "lookalike", INBOUND_W_LOOKALIKE, mode_action(p->lookalike),
		           "%s domain %.100s is a lookalike (%s) of %.100s", s->where, s->domain,
		           lookalike_kind_name(s->kind), s->m.protected_domain);
	}
}

static void check_reply_to(const struct inbound_policy *p, const struct sender_view *sv, struct inbound_verdict *v)
{
	if (p->reply_to == INBOUND_OFF || sv->nfrom == 0 || sv->nreply_to == 0 || sv->from[0].domain[0] == '\0')
		return;
	struct reply_to_match best = {0};
	for (size_t i = 0; i < sv->nreply_to; i++) {
		struct reply_to_match r;
		if (sv->reply_to[i].domain[0] == '\0' || sv->reply_to[i].domain[0] == '[')
			continue;
		if (reply_to_diverts(sv->from[0].domain, sv->reply_to[i].domain, p->freemail, p->protected_set, &r) &&
		    r.strength > best.strength)
			best = r;
	}
	if (!best.diverts)
		return;
	int w = INBOUND_W_REPLY_TO;
	enum inbound_action act = INBOUND_ACCEPT;
	if (best.lookalike != LOOKALIKE_NONE) {
		w = INBOUND_W_REPLY_TO_LOOKALIKE;
		act = mode_action(p->reply_to);
	} else if (best.freemail) {
		w = INBOUND_W_REPLY_TO_FREEMAIL;
		act = mode_action(p->reply_to);
	}
	add_signal(v, "reply_to", w, act, "%s", best.reason);
}

/* ---- DNS checks ---- */

static bool ascii_only(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

static void check_unresolvable(const struct inbound_policy *p, struct dns_resolver *r, const struct sender_view *sv,
                               struct inbound_verdict *v)
{
	const char *d = sv->env_domain;
	if (p->unresolvable == INBOUND_OFF || r == NULL || d[0] == '\0' || d[0] == '[' || !ascii_only(d))
		return;
	static const enum dns_type types[] = {DNS_T_MX, DNS_T_A, DNS_T_AAAA};
	bool tempfail = false, invalid = false, null_mx = false;
	const char *why = NULL;
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		struct dns_answer ans;
		enum dns_status st = dns_query(r, d, types[i], &ans);
		if (st == DNS_FOUND && types[i] == DNS_T_MX) {
			/* RFC 7505: a lone "0 ." MX says the domain sends and takes no mail */
			null_mx = ans.n == 1 && (ans.rr[0].name == NULL || ans.rr[0].name[0] == '\0' ||
			                         strcmp(ans.rr[0].name, ".") == 0);
			dns_answer_free(&ans);
			if (null_mx)
				break;
			return;
		}
		if (st == DNS_FOUND) {
			dns_answer_free(&ans);
			return;
		}
		if (st == DNS_TEMPFAIL) {
			tempfail = true;
			why = ans.reason;
		} else if (st == DNS_CONFIG_ERROR) {
			invalid = true;
		}
		dns_answer_free(&ans);
		if (invalid)
			break;
	}
	enum inbound_action act = mode_action(p->unresolvable);
	if (null_mx) {
		add_signal(v, "unresolvable_sender", INBOUND_W_UNRESOLVABLE, act,
		           "sender domain %.100s publishes a null MX (RFC 7505): it sends no mail", d);
	} else if (tempfail) {
		char what[300];
		snprintf(what, sizeof what, "temporary DNS failure looking up sender domain %.100s (%s)", d,
		         why ? why : "tempfail");
		dns_failure(p, v, what);
	} else {
		add_signal(v, "unresolvable_sender", INBOUND_W_UNRESOLVABLE, act,
		           invalid ? "sender domain %.100s is not a valid DNS name"
		                   : "sender domain %.100s has no MX, A or AAAA record",
		           d);
	}
}

static void check_dnsbl(const struct inbound_policy *p, struct dns_resolver *r, const struct inbound_input *in,
                        struct inbound_verdict *v)
{
	if (p->dnsbl == INBOUND_OFF || r == NULL || !in->have_ip || p->nzones == 0)
		return;
	char ipbuf[IP_STRLEN];
	ip_format(&in->ip, ipbuf);
	for (size_t i = 0; i < p->nzones; i++) {
		const struct dnsbl_zone *z = &p->zones[i];
		struct dnsbl_hit hit;
		switch (dnsbl_check_zone(r, &in->ip, z, &hit)) {
		case DNSBL_NOT_LISTED: break;
		case DNSBL_LISTED: {
			int w = INBOUND_W_DNSBL;
			enum inbound_action act = mode_action(p->dnsbl);
			const char *meaning = "listed";
			if (z->ncodes > 0 && hit.code != NULL) {
				w = hit.score;
				act = hit.action == 2   ? INBOUND_REJECT
				      : hit.action == 1 ? INBOUND_QUARANTINE
				                        : INBOUND_ACCEPT;
				meaning = hit.code->meaning;
			}
			char ans[IP_STRLEN];
			add_signal(v, "dnsbl", w, act, "client %s listed in %.80s (%.60s, %s)%s%.100s", ipbuf, z->zone,
			           meaning, ip_format(&hit.answer, ans), hit.txt[0] ? ": " : "", hit.txt);
			break;
		}
		case DNSBL_TEMPFAIL: {
			char what[300];
			snprintf(what, sizeof what, "temporary DNS failure asking %.80s about %s", z->zone, ipbuf);
			dns_failure(p, v, what);
			break;
		}
		case DNSBL_ERROR:
			add_signal(v, "dnsbl_error", 0, INBOUND_ACCEPT, "%.80s: %.150s", z->zone, hit.reason);
			break;
		}
	}
}

/* ---- the verdict ---- */

/* printable ASCII without '%' (libmilter treats it as a format): safe for
   an SMTP reply line */
static void smtp_safe(char *out, size_t len, const char *in)
{
	size_t j = 0;
	for (size_t i = 0; in[i] && j + 1 < len; i++) {
		unsigned char c = (unsigned char)in[i];
		out[j++] = c >= 0x20 && c < 0x7f && c != '%' ? (char)c : '?';
	}
	out[j] = '\0';
}

static void finish(const struct inbound_policy *p, struct inbound_verdict *v)
{
	/* the strongest action any signal asked for; the first such signal
	   with the largest weight gives the reason */
	const struct inbound_signal *why = NULL;
	for (size_t i = 0; i < v->nsignals; i++) {
		const struct inbound_signal *s = &v->signals[i];
		if (s->action > v->action)
			v->action = s->action;
	}
	for (size_t i = 0; i < v->nsignals; i++) {
		const struct inbound_signal *s = &v->signals[i];
		if (s->action == v->action && v->action != INBOUND_ACCEPT && (why == NULL || s->weight > why->weight))
			why = s;
	}
	if (why != NULL)
		snprintf(v->reason, sizeof v->reason, "%s: %.200s", why->name, why->reason);
	if (p == NULL) {
		/* no thresholds */
	} else if (p->score_reject > 0 && v->score >= p->score_reject && v->action < INBOUND_REJECT) {
		v->action = INBOUND_REJECT;
		snprintf(v->reason, sizeof v->reason, "score %d reached inbound.score_reject (%d)", v->score,
		         p->score_reject);
		why = NULL;
	} else if (p->score_quarantine > 0 && v->score >= p->score_quarantine && v->action < INBOUND_QUARANTINE) {
		v->action = INBOUND_QUARANTINE;
		snprintf(v->reason, sizeof v->reason, "score %d reached inbound.score_quarantine (%d)", v->score,
		         p->score_quarantine);
	}
	if (v->action != INBOUND_ACCEPT && v->reason[0] == '\0')
		/* only a signal beyond INBOUND_MAX_SIGNALS asked for it */
		snprintf(v->reason, sizeof v->reason, "%zu signals, score %d", v->nsignals + v->signals_dropped,
		         v->score);
	if (v->action == INBOUND_REJECT) {
		snprintf(v->smtp_code, sizeof v->smtp_code, "550");
		bool domain = why != NULL && strcmp(why->name, "unresolvable_sender") == 0;
		snprintf(v->smtp_xcode, sizeof v->smtp_xcode, domain ? "5.1.8" : "5.7.1");
		char text[INBOUND_REASON_MAX];
		snprintf(text, sizeof text, "%s", why != NULL ? why->reason : v->reason);
		smtp_safe(v->smtp_text, sizeof v->smtp_text, text);
	} else if (v->action == INBOUND_TEMPFAIL) {
		snprintf(v->smtp_code, sizeof v->smtp_code, "451");
		snprintf(v->smtp_xcode, sizeof v->smtp_xcode, "4.7.0");
		smtp_safe(v->smtp_text, sizeof v->smtp_text, why != NULL ? why->reason : "temporary failure");
	}
}

void inbound_decide(const struct inbound_policy *p, struct dns_resolver *r, const struct inbound_input *in,
                    struct inbound_verdict *v)
{
	memset(v, 0, sizeof *v);
	bool auth_tempfail = in->auth != NULL && in->auth->tempfail;
	if (in->authenticated || inbound_client_internal(p, &in->ip, in->have_ip)) {
		if (auth_tempfail)
			dns_failure(p, v, "temporary DNS failure checking sender authentication");
		finish(p, v);
		return;
	}
	v->inbound = true; /* p is not NULL here: inbound_client_internal() */
	struct sender_view sv;
	read_view(in, &sv);

	if (check_deny(p, in, &sv, v)) {
		finish(p, v);
		return;
	}
	if (check_allow(p, in, &sv, v)) {
		v->allowed = true;
		finish(p, v);
		return;
	}
	if (auth_tempfail)
		dns_failure(p, v, "temporary DNS failure checking sender authentication");

	check_dmarc(p, in, &sv, v);
	struct domain_seen ds[MAX_DOMAINS];
	size_t nds = classify_domains(p, &sv, ds);
	check_internal_spoof(p, in, &sv, ds, nds, v);
	check_org_mismatch(p, &sv, v);
	check_impersonation(p, &sv, v);
	check_lookalike(p, ds, nds, v);
	check_reply_to(p, &sv, v);

	/* a message already refused needs no more DNS queries */
	bool refused = false;
	for (size_t i = 0; i < v->nsignals; i++)
		refused |= v->signals[i].action == INBOUND_REJECT;
	if (!refused) {
		check_unresolvable(p, r, &sv, v);
		check_dnsbl(p, r, in, v);
	}
	finish(p, v);
}

void inbound_header_text(const struct message *msg, const char *name, bool decode, char *out, size_t len)
{
	if (len == 0)
		return;
	out[0] = '\0';
	const struct msg_header *h = msg != NULL ? message_header(msg, name, 0) : NULL;
	if (h == NULL)
		return;
	/* unfold into a bounded copy: the value may be a megabyte */
	char tmp[1024];
	size_t j = 0;
	for (size_t i = 0; i < h->value_len && j + 1 < sizeof tmp; i++) {
		char c = h->value[i];
		if (c == '\r' || c == '\n')
			continue;
		tmp[j++] = c == '\t' ? ' ' : c;
	}
	tmp[j] = '\0';
	char *dec = NULL;
	const char *src = tmp;
	if (decode)
		pthread_once(&gmime_once, gmime_start);
	if (decode && strstr(tmp, "=?") != NULL && (dec = g_mime_utils_header_decode_text(NULL, tmp)) != NULL)
		src = dec;
	while (*src == ' ')
		src++;
	j = 0;
	size_t i = 0;
	for (; src[i] && j + 1 < len; i++) {
		unsigned char c = (unsigned char)src[i];
		out[j++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	if (src[i] != '\0') {
		/* cut: do not leave half a UTF-8 sequence at the end */
		size_t k = j;
		while (k > 0 && ((unsigned char)out[k - 1] & 0xc0) == 0x80)
			k--;
		if (k > 0 && (unsigned char)out[k - 1] >= 0xc0)
			j = k - 1;
	}
	while (j > 0 && out[j - 1] == ' ')
		j--;
	out[j] = '\0';
	g_free(dec);
}
