#include "auth/dmarc.h"

#include <idn2.h>
#include <libpsl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/taglist.h"
#include "core/mem.h"

#define DMARC_DEFAULT_RI 86400u /* RFC 7489 6.3 */

/* ------------------------------------------------------------------ */
/* record parsing                                                      */
/* ------------------------------------------------------------------ */

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void warn(struct dmarc_record *rec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct dmarc_record *rec, const char *fmt, ...)
{
	size_t used = strlen(rec->warnings);
	if (used + 3 >= sizeof rec->warnings)
		return;
	if (used > 0) {
		memcpy(rec->warnings + used, "; ", 3);
		used += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rec->warnings + used, sizeof rec->warnings - used, fmt, ap);
	va_end(ap);
}

static bool val_is(const struct tag *t, const char *word)
{
	size_t n = strlen(word);
	return t->value_len == n && strncasecmp(t->value, word, n) == 0;
}

static int parse_policy(const struct tag *t, enum dmarc_policy *p_r)
{
	if (val_is(t, "none"))
		*p_r = DMARC_POLICY_NONE;
	else if (val_is(t, "quarantine"))
		*p_r = DMARC_POLICY_QUARANTINE;
	else if (val_is(t, "reject"))
		*p_r = DMARC_POLICY_REJECT;
	else
		return -1;
	return 0;
}

/* a one-character keyword among allowed (lower case); 0 if invalid */
static char parse_letter(const struct tag *t, const char *allowed)
{
	if (t->value_len != 1)
		return 0;
	char c = t->value[0];
	if (c >= 'A' && c <= 'Z')
		c = (char)(c + 32);
	return strchr(allowed, c) && c != '\0' ? c : 0;
}

/* decimal without sign, at most max; -1 if invalid */
static long long parse_uint(const char *s, size_t n, unsigned long long max)
{
	if (n == 0 || n > 20)
		return -1;
	unsigned long long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > max)
			return -1;
	}
	return (long long)v;
}

/*
 * One URI of a rua=/ruf= list: RFC 3986 scheme ":" rest, printable without
 * white space, with the obsolete "!" size suffix of RFC 7489 split off
 * (RFC 9989 4.8 obs-dmarc-uri: '!' must be percent-encoded inside a URI,
 * so a bare '!' starts the suffix). mailto: also needs an '@'.
 */
static int parse_uri(const char *s, size_t n, struct dmarc_uri *u)
{
	memset(u, 0, sizeof *u);
	const char *bang = memchr(s, '!', n);
	size_t un = bang ? (size_t)(bang - s) : n;
	if (bang) {
		const char *q = bang + 1;
		size_t qn = n - un - 1, dn = 0;
		while (dn < qn && q[dn] >= '0' && q[dn] <= '9')
			dn++;
		long long v = parse_uint(q, dn, 1ULL << 40);
		if (v < 0 || qn - dn > 1)
			return -1;
		uint64_t mult = 1;
		if (qn - dn == 1) {
			switch (q[dn] | 0x20) {
			case 'k': mult = 1ULL << 10; break;
			case 'm': mult = 1ULL << 20; break;
			case 'g': mult = 1ULL << 30; break;
			case 't': mult = 1ULL << 40; break;
			default: return -1;
			}
		}
		/* v and mult are each at most 2^40: saturate on overflow */
		if (v > 0 && mult > UINT64_MAX / (uint64_t)v)
			u->max_size = UINT64_MAX;
		else
			u->max_size = (uint64_t)v * mult;
	}
	size_t i = 0;
	if (un == 0 || !((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z'))
		return -1;
	while (i < un && s[i] != ':') {
		char c = s[i];
		if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z') && !(c >= '0' && c <= '9') && c != '+' && c != '-' &&
		    c != '.')
			return -1;
		i++;
	}
	if (i == un || i + 1 == un)
		return -1; /* no ':' or nothing after it */
	for (size_t k = i + 1; k < un; k++) {
		unsigned char c = (unsigned char)s[k];
		if (c <= 0x20 || c >= 0x7f)
			return -1;
	}
	u->mailto = i == 6 && strncasecmp(s, "mailto", 6) == 0;
	if (u->mailto) {
		const char *at = memchr(s + 7, '@', un - 7);
		if (at == NULL || at == s + 7 || at == s + un - 1)
			return -1;
	}
	u->uri = xstrndup(s, un);
	return 0;
}

static void parse_urilist(struct dmarc_record *rec, const struct tag *t, const char *name, struct dmarc_uri *out,
			  size_t *n_r)
{
	size_t p = 0, n = t->value_len;
	const char *v = t->value;
	while (p <= n) {
		size_t e = p;
		while (e < n && v[e] != ',')
			e++;
		size_t b = p, f = e;
		while (b < f && is_wsp(v[b]))
			b++;
		while (f > b && is_wsp(v[f - 1]))
			f--;
		if (f > b) {
			struct dmarc_uri u;
			if (parse_uri(v + b, f - b, &u) < 0) {
				warn(rec, "%s: invalid URI \"%.*s\" ignored", name, (int)(f - b > 40 ? 40 : f - b), v + b);
			} else if (*n_r == DMARC_MAX_URIS) {
				warn(rec, "%s: more than %d URIs, rest ignored", name, DMARC_MAX_URIS);
				free(u.uri);
			} else {
				out[(*n_r)++] = u;
			}
		}
		p = e + 1;
	}
	if (*n_r == 0)
		warn(rec, "%s: no valid URI", name);
}

static unsigned parse_fo(const struct tag *t)
{
	unsigned fo = 0;
	size_t p = 0, n = t->value_len;
	while (p <= n) {
		size_t e = p;
		while (e < n && t->value[e] != ':')
			e++;
		size_t b = p, f = e;
		while (b < f && is_wsp(t->value[b]))
			b++;
		while (f > b && is_wsp(t->value[f - 1]))
			f--;
		if (f - b != 1)
			return 0;
		unsigned bit;
		switch (t->value[b] | 0x20) {
		case '0': bit = DMARC_FO_0; break;
		case '1': bit = DMARC_FO_1; break;
		case 'd': bit = DMARC_FO_D; break;
		case 's': bit = DMARC_FO_S; break;
		default: return 0;
		}
		if (fo & bit)
			return 0; /* each at most once */
		fo |= bit;
		p = e + 1;
	}
	if ((fo & DMARC_FO_0) && (fo & DMARC_FO_1))
		return 0; /* mutually exclusive (RFC 9989 4.7) */
	return fo;
}

enum known_tag { K_P, K_SP, K_NP, K_PSD, K_T, K_ADKIM, K_ASPF, K_RUA, K_RUF, K_FO, K_PCT, K_RF, K_RI, K_V, K_N };
static const char *const known_names[K_N] = { "p", "sp", "np", "psd", "t", "adkim", "aspf",
					      "rua", "ruf", "fo", "pct", "rf", "ri", "v" };

static int known_tag(const struct tag *t)
{
	for (int i = 0; i < K_N; i++) {
		size_t n = strlen(known_names[i]);
		if (t->name_len == n && strncasecmp(t->name, known_names[i], n) == 0)
			return i;
	}
	return -1;
}

static void apply_tag(struct dmarc_record *rec, int k, const struct tag *t)
{
	int vl = (int)(t->value_len > 40 ? 40 : t->value_len);
	switch (k) {
	case K_P:
	case K_SP:
	case K_NP: {
		enum dmarc_policy *pp = k == K_P ? &rec->p : k == K_SP ? &rec->sp : &rec->np;
		bool *inv = k == K_P ? &rec->p_invalid : k == K_SP ? &rec->sp_invalid : &rec->np_invalid;
		if (parse_policy(t, pp) < 0) {
			*inv = true;
			warn(rec, "invalid %s=%.*s", known_names[k], vl, t->value);
		}
		break;
	}
	case K_PSD: {
		char c = parse_letter(t, "ynu");
		if (c)
			rec->psd = c;
		else
			warn(rec, "invalid psd=%.*s, u assumed", vl, t->value);
		break;
	}
	case K_T: {
		char c = parse_letter(t, "yn");
		if (c) {
			rec->t = c == 'y';
			rec->t_present = true;
		} else {
			warn(rec, "invalid t=%.*s, n assumed", vl, t->value);
		}
		break;
	}
	case K_ADKIM:
	case K_ASPF: {
		char c = parse_letter(t, "rs");
		if (c)
			*(k == K_ADKIM ? &rec->adkim : &rec->aspf) = c;
		else
			warn(rec, "invalid %s=%.*s, r assumed", known_names[k], vl, t->value);
		break;
	}
	case K_RUA:
		rec->rua = xstrndup(t->value, t->value_len);
		parse_urilist(rec, t, "rua", rec->rua_uri, &rec->n_rua);
		break;
	case K_RUF:
		rec->ruf = xstrndup(t->value, t->value_len);
		parse_urilist(rec, t, "ruf", rec->ruf_uri, &rec->n_ruf);
		break;
	case K_FO: {
		unsigned fo = parse_fo(t);
		if (fo)
			rec->fo = fo;
		else
			warn(rec, "invalid fo=%.*s, 0 assumed", vl, t->value);
		break;
	}
	case K_PCT: {
		long long v = parse_uint(t->value, t->value_len, 100);
		if (v < 0)
			warn(rec, "invalid pct=%.*s ignored", vl, t->value);
		else
			rec->pct = (int)v;
		break;
	}
	case K_RF:
		rec->rf = xstrndup(t->value, t->value_len);
		break;
	case K_RI: {
		long long v = parse_uint(t->value, t->value_len, UINT32_MAX);
		if (v < 0)
			warn(rec, "invalid ri=%.*s, %u assumed", vl, t->value, DMARC_DEFAULT_RI);
		else
			rec->ri = (uint32_t)v;
		break;
	}
	default:
		break;
	}
}

/* the next ';'-separated segment [*b, *e) starting at *p; false at the end */
static bool next_segment(const char *s, size_t len, size_t *p, size_t *b, size_t *e)
{
	if (*p > len)
		return false;
	*b = *p;
	size_t i = *p;
	while (i < len && s[i] != ';')
		i++;
	*e = i;
	*p = i + 1;
	return true;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_wsp(s[i]))
			return false;
	return true;
}

int dmarc_record_parse(const char *txt, size_t len, struct dmarc_record **rec_r, char *err, size_t errlen)
{
	char terr[128];
	*rec_r = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (txt == NULL || len == 0) {
		snprintf(err, errlen, "empty record");
		return -1;
	}
	if (len > DMARC_MAX_RECORD) {
		snprintf(err, errlen, "record longer than %d bytes", DMARC_MAX_RECORD);
		return -1;
	}
	/* v=DMARC1 must be the first tag; its value is case-sensitive (4.7) */
	size_t p = 0, b, e;
	next_segment(txt, len, &p, &b, &e);
	struct taglist tl;
	if (blank(txt + b, e - b)) {
		snprintf(err, errlen, "v=DMARC1 is not the first tag");
		return -1;
	}
	if (taglist_parse(txt + b, e - b, &tl, terr, sizeof terr) < 0 || tl.n != 1) {
		snprintf(err, errlen, "not a DMARC record: %s", tl.n != 1 ? "bad first tag" : terr);
		return -1;
	}
	const struct tag *v = &tl.tag[0];
	if (!(v->name_len == 1 && (v->name[0] | 0x20) == 'v')) {
		snprintf(err, errlen, "v=DMARC1 is not the first tag");
		return -1;
	}
	if (!(v->value_len == 6 && memcmp(v->value, "DMARC1", 6) == 0)) {
		snprintf(err, errlen, "not a DMARC record: v=%.*s", (int)(v->value_len > 32 ? 32 : v->value_len),
			 v->value);
		return -1;
	}

	struct dmarc_record *rec = xcalloc(1, sizeof *rec);
	rec->psd = 'u';
	rec->adkim = rec->aspf = 'r';
	rec->pct = -1;
	rec->fo = DMARC_FO_0;
	rec->ri = DMARC_DEFAULT_RI;
	bool seen[K_N] = { [K_V] = true };

	while (next_segment(txt, len, &p, &b, &e)) {
		if (blank(txt + b, e - b))
			continue;
		/* RFC 9989 4.8: syntax errors after v= are ignored, not fatal;
		   taglist checks one tag at a time so one bad tag costs only itself */
		if (taglist_parse(txt + b, e - b, &tl, terr, sizeof terr) < 0 || tl.n != 1) {
			warn(rec, "ignored: %s", tl.n > 1 ? "bad tag" : terr);
			continue;
		}
		int k = known_tag(&tl.tag[0]);
		if (k < 0)
			continue; /* unknown tags MUST be ignored (4.7) */
		if (seen[k]) {
			warn(rec, "%s repeated, first value kept", known_names[k]);
			continue;
		}
		seen[k] = true;
		apply_tag(rec, k, &tl.tag[0]);
	}
	*rec_r = rec;
	return 0;
}

void dmarc_record_free(struct dmarc_record **recp)
{
	struct dmarc_record *rec = *recp;
	if (rec == NULL)
		return;
	for (size_t i = 0; i < rec->n_rua; i++)
		free(rec->rua_uri[i].uri);
	for (size_t i = 0; i < rec->n_ruf; i++)
		free(rec->ruf_uri[i].uri);
	free(rec->rua);
	free(rec->ruf);
	free(rec->rf);
	*recp = xfree(rec);
}

const char *dmarc_result_name(enum dmarc_result r)
{
	switch (r) {
	case DMARC_NONE: return "none";
	case DMARC_PASS: return "pass";
	case DMARC_FAIL: return "fail";
	case DMARC_TEMPERROR: return "temperror";
	case DMARC_PERMERROR: return "permerror";
	}
	return "unknown";
}

const char *dmarc_policy_name(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_POLICY_UNSPECIFIED: return "unspecified";
	case DMARC_POLICY_NONE: return "none";
	case DMARC_POLICY_QUARANTINE: return "quarantine";
	case DMARC_POLICY_REJECT: return "reject";
	}
	return "unknown";
}

/* ------------------------------------------------------------------ */
/* domain names                                                        */
/* ------------------------------------------------------------------ */

#define DMARC_PREFIX "_dmarc."

/*
 * Normalises a domain for DMARC: U-labels to A-labels (RFC 9989 5.3.1),
 * ASCII lower case, trailing dot removed; checks it is a host name a query
 * can be made for (letters, digits, '-', '_'; RFC 1035 lengths).
 * Returns 0, or -1 with a reason.
 */
static int normalize_domain(const char *in, char out[256], const char **why_r)
{
	out[0] = '\0';
	if (in == NULL || in[0] == '\0') {
		*why_r = "empty domain";
		return -1;
	}
	size_t n = strnlen(in, 1024);
	if (n >= 1024) {
		*why_r = "domain too long";
		return -1;
	}
	bool ascii = true;
	for (size_t i = 0; i < n; i++)
		ascii &= (unsigned char)in[i] < 0x80;
	char tmp[1024];
	memcpy(tmp, in, n + 1);
	if (!ascii) {
		char *a = NULL;
		if (idn2_to_ascii_8z(tmp, &a, IDN2_NONTRANSITIONAL) != IDN2_OK || a == NULL) {
			idn2_free(a);
			*why_r = "domain is not a valid IDN";
			return -1;
		}
		n = strlen(a);
		if (n >= sizeof tmp) {
			idn2_free(a);
			*why_r = "domain too long";
			return -1;
		}
		memcpy(tmp, a, n + 1);
		idn2_free(a);
	}
	if (n > 0 && tmp[n - 1] == '.')
		tmp[--n] = '\0';
	if (n == 0 || n > DNS_MAX_NAME) {
		*why_r = n == 0 ? "empty domain" : "domain too long";
		return -1;
	}
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		char c = tmp[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		tmp[i] = c;
		if (c == '.') {
			if (label == 0) {
				*why_r = "empty label in domain";
				return -1;
			}
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
			*why_r = "invalid character in domain";
			return -1;
		}
		if (++label > DNS_MAX_LABEL) {
			*why_r = "label longer than 63 octets";
			return -1;
		}
	}
	if (label == 0) {
		*why_r = "empty label in domain";
		return -1;
	}
	memcpy(out, tmp, n + 1);
	return 0;
}

static size_t count_labels(const char *d)
{
	size_t n = 1;
	for (; *d; d++)
		n += *d == '.';
	return n;
}

/* the suffix of d made of its last k labels (k >= 1, k <= labels(d)) */
static const char *last_labels(const char *d, size_t k)
{
	size_t skip = count_labels(d) - k;
	while (skip > 0) {
		d = strchr(d, '.') + 1;
		skip--;
	}
	return d;
}

/* true if s equals d or is a parent of d on a label boundary */
static bool is_suffix_domain(const char *s, const char *d)
{
	size_t ls = strlen(s), ld = strlen(d);
	if (ls > ld)
		return false;
	if (strcmp(d + ld - ls, s) != 0)
		return false;
	return ls == ld || d[ld - ls - 1] == '.';
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	if (cap == 0)
		return;
	snprintf(dst, cap, "%s", src ? src : "");
}

/* ------------------------------------------------------------------ */
/* queries, cached per evaluation                                      */
/* ------------------------------------------------------------------ */

enum qstate { Q_NONE, Q_RECORD, Q_TEMPFAIL };

struct qentry {
	char *domain; /* the name below _dmarc. */
	enum qstate state;
	struct dmarc_record *rec;
	char why[96]; /* TEMPFAIL: what failed; NONE: why no record (for reasons) */
};

struct dctx {
	struct dns_resolver *r;
	struct qentry **e;
	size_t n, cap;
};

static void dctx_free(struct dctx *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->e[i]->domain);
		dmarc_record_free(&c->e[i]->rec);
		free(c->e[i]);
	}
	free(c->e);
	memset(c, 0, sizeof *c);
}

/*
 * The DMARC record of domain: a TXT query at _dmarc.<domain>, keeping the
 * records that start with v=DMARC1 (RFC 9989 4.10 steps 2 and 6); several
 * such records count as none. A name too long to query cannot hold a
 * record. The returned entry lives until dctx_free().
 */
static const struct qentry *dmarc_lookup(struct dctx *c, const char *domain)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->e[i]->domain, domain) == 0)
			return c->e[i];
	struct qentry *q = xcalloc(1, sizeof *q);
	q->domain = xstrdup(domain);
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->e = xreallocarray(c->e, c->cap, sizeof *c->e);
	}
	c->e[c->n++] = q;

	char name[DNS_MAX_NAME + 16];
	snprintf(name, sizeof name, DMARC_PREFIX "%s", domain);
	if (strlen(domain) + strlen(DMARC_PREFIX) > DNS_MAX_NAME || !dns_name_valid(name)) {
		q->state = Q_NONE;
		snprintf(q->why, sizeof q->why, "name too long to query");
		return q;
	}
	struct dns_answer ans;
	memset(&ans, 0, sizeof ans);
	enum dns_status st = DNS_CONFIG_ERROR;
	if (c->r != NULL)
		st = dns_query(c->r, name, DNS_T_TXT, &ans);
	else
		ans.reason = "no resolver";
	switch (st) {
	case DNS_FOUND: {
		size_t found = 0;
		char err[128];
		for (size_t i = 0; i < ans.n; i++) {
			struct dmarc_record *rec = NULL;
			if (ans.rr[i].type != DNS_T_TXT || ans.rr[i].txt == NULL)
				continue;
			if (dmarc_record_parse(ans.rr[i].txt, ans.rr[i].txt_len, &rec, err, sizeof err) < 0)
				continue;
			found++;
			if (found == 1)
				q->rec = rec;
			else
				dmarc_record_free(&rec);
		}
		if (found == 1) {
			q->state = Q_RECORD;
		} else {
			dmarc_record_free(&q->rec);
			q->state = Q_NONE;
			if (found)
				snprintf(q->why, sizeof q->why, "%zu DMARC records, all discarded", found);
			else
				snprintf(q->why, sizeof q->why, "no v=DMARC1 record");
		}
		break;
	}
	case DNS_NODATA:
	case DNS_NXDOMAIN:
		q->state = Q_NONE;
		snprintf(q->why, sizeof q->why, "%s", dns_status_name(st));
		break;
	case DNS_TEMPFAIL:
	case DNS_CONFIG_ERROR:
	default:
		/* a resolver that cannot answer is a temporary condition for the
		   message, never "no record" */
		q->state = Q_TEMPFAIL;
		snprintf(q->why, sizeof q->why, "%.60s for %.*s", ans.reason ? ans.reason : dns_status_name(st), 30, name);
		break;
	}
	dns_answer_free(&ans);
	return q;
}

/* ------------------------------------------------------------------ */
/* the DNS Tree Walk (RFC 9989 4.10, 4.10.2)                           */
/* ------------------------------------------------------------------ */

struct walk {
	int status;                        /* 0 org from records, 1 none found, -1 tempfail */
	const char *org;                   /* suffix of the start domain */
	const struct qentry *org_q;        /* the record at org, if one was queried */
	const struct qentry *psd_q;        /* a psd=y record that stopped the walk */
	const char *psd_domain;
	char why[128];
};

/*
 * Walks from domain (normalised) up to its last label: at most
 * DMARC_TREEWALK_MAX_QUERIES names, a name of more labels jumping to its
 * last DMARC_TREEWALK_SHORTEN_TO after the first query; stops at a record
 * with psd=y or psd=n. Then selects the Organizational Domain:
 * psd=n -> that domain; psd=y above the start -> one label below it; else
 * the record with the fewest labels; no record -> the start domain.
 */
static void tree_walk(struct dctx *c, const char *domain, struct walk *w)
{
	memset(w, 0, sizeof *w);
	const struct qentry *found[DMARC_TREEWALK_MAX_QUERIES];
	const char *found_dom[DMARC_TREEWALK_MAX_QUERIES];
	size_t nfound = 0, x = count_labels(domain), k = x, nq = 0;
	while (k >= 1 && nq < DMARC_TREEWALK_MAX_QUERIES) {
		const char *target = last_labels(domain, k);
		const struct qentry *q = dmarc_lookup(c, target);
		nq++;
		if (q->state == Q_TEMPFAIL) {
			w->status = -1;
			snprintf(w->why, sizeof w->why, "DNS: %s", q->why);
			return;
		}
		if (q->state == Q_RECORD) {
			found[nfound] = q;
			found_dom[nfound++] = target;
			if (q->rec->psd == 'y' || q->rec->psd == 'n')
				break;
		}
		size_t next = k - 1;
		if (k == x && next > DMARC_TREEWALK_SHORTEN_TO)
			next = DMARC_TREEWALK_SHORTEN_TO;
		k = next;
	}
	if (nfound == 0) {
		w->status = 1;
		w->org = domain;
		return;
	}
	w->status = 0;
	for (size_t i = 0; i < nfound; i++) {
		if (found[i]->rec->psd == 'n') {
			w->org = found_dom[i];
			w->org_q = found[i];
			return;
		}
		if (found[i]->rec->psd == 'y' && found_dom[i] != domain) {
			w->psd_q = found[i];
			w->psd_domain = found_dom[i];
			w->org = last_labels(domain, count_labels(found_dom[i]) + 1);
			for (size_t j = 0; j < i; j++)
				if (found_dom[j] == w->org)
					w->org_q = found[j];
			return;
		}
	}
	w->org = found_dom[nfound - 1];
	w->org_q = found[nfound - 1];
	if (found[nfound - 1]->rec->psd == 'y') {
		/* the start domain itself says it is a PSD */
		w->psd_q = found[nfound - 1];
		w->psd_domain = found_dom[nfound - 1];
	}
}

/* libpsl's built-in list, or the system's file if built without one */
static const psl_ctx_t *psl_ctx;
static pthread_once_t psl_once = PTHREAD_ONCE_INIT;

static void psl_init(void)
{
	psl_ctx = psl_builtin();
	if (psl_ctx == NULL)
		psl_ctx = psl_latest(NULL);
}

/* RFC 7489 3.2 via the PSL: the registrable domain, or the name itself when
   it is a public suffix or unknown; returns 0 or 1 as dmarc_org_domain */
static int psl_org(const char *domain, const char **org_r)
{
	pthread_once(&psl_once, psl_init);
	const char *reg = psl_ctx ? psl_registrable_domain(psl_ctx, domain) : NULL;
	if (reg == NULL) {
		*org_r = domain;
		return 1;
	}
	*org_r = reg; /* points into domain */
	return 0;
}

/* Organizational Domain of a normalised name: 0/1 as dmarc_org_domain, -1 tempfail */
static int org_of(struct dctx *c, const struct dmarc_opts *o, const char *domain, const char **org_r, char *why,
		  size_t whylen)
{
	if (o && o->orgmode == DMARC_ORG_PSL)
		return psl_org(domain, org_r);
	struct walk w;
	tree_walk(c, domain, &w);
	if (w.status < 0) {
		copy_str(why, whylen, w.why);
		*org_r = NULL;
		return -1;
	}
	*org_r = w.org;
	return w.status;
}

int dmarc_org_domain(struct dns_resolver *r, const char *domain, const struct dmarc_opts *o, char *org_r, size_t len)
{
	char d[256];
	const char *why;
	if (len > 0)
		org_r[0] = '\0';
	if (normalize_domain(domain, d, &why) < 0)
		return -2;
	struct dctx c = { .r = r };
	const char *org = NULL;
	int rc = org_of(&c, o, d, &org, NULL, 0);
	if (rc >= 0)
		copy_str(org_r, len, org);
	dctx_free(&c);
	return rc;
}

/* ------------------------------------------------------------------ */
/* evaluation                                                          */
/* ------------------------------------------------------------------ */

static void reason(struct dmarc_response *resp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reason(struct dmarc_response *resp, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(resp->reason, sizeof resp->reason, fmt, ap);
	va_end(ap);
}

/* one step below (RFC 9989 4.7 t=y) */
static enum dmarc_policy lower(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_POLICY_REJECT: return DMARC_POLICY_QUARANTINE;
	case DMARC_POLICY_QUARANTINE: return DMARC_POLICY_NONE;
	default: return DMARC_POLICY_NONE;
	}
}

/* alignment state of one identifier */
enum align { AL_NO, AL_YES, AL_TEMPFAIL };

/*
 * Whether identifier id (normalised) aligns with the Author Domain under
 * mode 'r' or 's'. Relaxed needs the two Organizational Domains; since an
 * Organizational Domain is always the name itself or a parent of it, an
 * identifier of which org(author) is not a suffix cannot align and costs
 * no query.
 */
static enum align check_align(struct dctx *c, const struct dmarc_opts *o, const char *author, const char **author_org,
			      int *author_org_rc, char *why, size_t whylen, const char *id, char mode)
{
	if (strcmp(id, author) == 0)
		return AL_YES;
	if (mode == 's')
		return AL_NO;
	if (*author_org == NULL) {
		*author_org_rc = org_of(c, o, author, author_org, why, whylen);
		if (*author_org_rc < 0)
			return AL_TEMPFAIL;
	}
	if (*author_org_rc < 0)
		return AL_TEMPFAIL;
	if (!is_suffix_domain(*author_org, id))
		return AL_NO;
	const char *id_org = NULL;
	int rc = org_of(c, o, id, &id_org, why, whylen);
	if (rc < 0)
		return AL_TEMPFAIL;
	return strcmp(id_org, *author_org) == 0 ? AL_YES : AL_NO;
}

enum dmarc_result dmarc_evaluate(struct dns_resolver *r, const struct dmarc_input *in, const struct dmarc_opts *o,
				 struct dmarc_response *resp)
{
	memset(resp, 0, sizeof *resp);
	resp->adkim = resp->aspf = 'r';
	resp->result = DMARC_NONE;
	resp->disposition = DMARC_POLICY_NONE;
	static const struct dmarc_opts defaults = { .orgmode = DMARC_ORG_TREEWALK };
	if (o == NULL)
		o = &defaults;

	char author[256];
	const char *why = NULL;
	copy_str(resp->from_domain, sizeof resp->from_domain, in ? in->from_domain : NULL);
	if (in == NULL || in->from_domain == NULL || in->from_domain[0] == '\0') {
		reason(resp, "no Author Domain");
		return resp->result = DMARC_NONE;
	}
	if (normalize_domain(in->from_domain, author, &why) < 0) {
		reason(resp, "From domain unusable: %s", why);
		return resp->result = DMARC_PERMERROR;
	}
	copy_str(resp->from_domain, sizeof resp->from_domain, author);

	struct dctx c = { .r = r };
	const char *author_org = NULL;
	int author_org_rc = 0;
	char owhy[128] = "";

	/* policy discovery (RFC 9989 4.10.1; RFC 7489 6.6.3 in PSL mode) */
	const struct qentry *pq = dmarc_lookup(&c, author);
	const char *policy_domain = author;
	if (pq->state == Q_TEMPFAIL) {
		reason(resp, "DNS: %s", pq->why);
		resp->result = DMARC_TEMPERROR;
		goto out;
	}
	if (pq->state != Q_RECORD) {
		if (o->orgmode == DMARC_ORG_PSL) {
			psl_org(author, &author_org);
			author_org_rc = 0;
			pq = NULL;
			if (strcmp(author_org, author) != 0) {
				pq = dmarc_lookup(&c, author_org);
				policy_domain = author_org;
				if (pq->state == Q_TEMPFAIL) {
					reason(resp, "DNS: %s", pq->why);
					resp->result = DMARC_TEMPERROR;
					goto out;
				}
				if (pq->state != Q_RECORD)
					pq = NULL;
			}
		} else {
			struct walk w;
			tree_walk(&c, author, &w);
			if (w.status < 0) {
				reason(resp, "%s", w.why);
				resp->result = DMARC_TEMPERROR;
				goto out;
			}
			author_org = w.org;
			author_org_rc = w.status;
			pq = NULL;
			if (w.org_q) {
				pq = w.org_q;
				policy_domain = w.org;
			} else if (w.psd_q) {
				pq = w.psd_q;
				policy_domain = w.psd_domain;
			}
		}
		if (pq == NULL) {
			reason(resp, "no DMARC policy record for %s", author);
			resp->result = DMARC_NONE;
			goto out;
		}
	}
	const struct dmarc_record *rec = pq->rec;
	copy_str(resp->policy_domain, sizeof resp->policy_domain, policy_domain);
	copy_str(resp->rua, sizeof resp->rua, rec->rua);
	resp->psd = rec->psd == 'y';
	resp->adkim = rec->adkim;
	resp->aspf = rec->aspf;

	/* policies (RFC 9989 4.7, 4.10.1) */
	enum dmarc_policy p = rec->p, sp = rec->sp, np = rec->np;
	if (rec->p_invalid || rec->sp_invalid || rec->np_invalid) {
		if (rec->n_rua == 0) {
			reason(resp, "invalid policy in record at %s and no valid rua: %s", policy_domain, rec->warnings);
			resp->result = DMARC_PERMERROR;
			goto out;
		}
		p = DMARC_POLICY_NONE; /* act as if p=none had been retrieved */
		sp = np = DMARC_POLICY_UNSPECIFIED;
	}
	if (p == DMARC_POLICY_UNSPECIFIED)
		p = DMARC_POLICY_NONE; /* p absent: treated as p=none */
	bool np_given = np != DMARC_POLICY_UNSPECIFIED;
	if (sp == DMARC_POLICY_UNSPECIFIED)
		sp = p;
	if (np == DMARC_POLICY_UNSPECIFIED)
		np = sp;
	resp->p = p;
	resp->sp = sp;
	resp->np = np;
	resp->testing = rec->t_present ? rec->t : rec->pct == 0;
	bool subdomain = strcmp(policy_domain, author) != 0;
	resp->applied = subdomain ? sp : p;

	/* alignment (RFC 9989 4.4, 4.10.2) */
	bool tempfail = false;
	char twhy[128] = "";
	if (in->spf_pass && in->spf_domain && in->spf_domain[0]) {
		char spfd[256];
		if (normalize_domain(in->spf_domain, spfd, &why) == 0) {
			enum align a = check_align(&c, o, author, &author_org, &author_org_rc, owhy, sizeof owhy, spfd,
						   rec->aspf);
			resp->spf_aligned = a == AL_YES;
			if (a == AL_TEMPFAIL) {
				tempfail = true;
				copy_str(twhy, sizeof twhy, owhy);
			}
		}
	}
	size_t walks = 0;
	for (size_t i = 0; i < in->ndkim && !resp->dkim_aligned; i++) {
		const struct dmarc_auth_dkim *dk = &in->dkim[i];
		char dd[256];
		if (!dk->pass || dk->domain == NULL || normalize_domain(dk->domain, dd, &why) < 0)
			continue;
		char mode = rec->adkim;
		if (strcmp(dd, author) != 0 && mode == 'r' && walks++ >= DMARC_MAX_DKIM_WALKS)
			mode = 's'; /* beyond the limit: exact match only */
		enum align a = check_align(&c, o, author, &author_org, &author_org_rc, owhy, sizeof owhy, dd, mode);
		if (a == AL_YES) {
			resp->dkim_aligned = true;
			copy_str(resp->dkim_aligned_domain, sizeof resp->dkim_aligned_domain, dd);
		} else if (a == AL_TEMPFAIL && !tempfail) {
			tempfail = true;
			copy_str(twhy, sizeof twhy, owhy);
		}
	}

	if (resp->spf_aligned || resp->dkim_aligned) {
		resp->result = DMARC_PASS;
		if (resp->dkim_aligned && resp->spf_aligned)
			reason(resp, "aligned spf and dkim (d=%s)", resp->dkim_aligned_domain);
		else if (resp->dkim_aligned)
			reason(resp, "aligned dkim (d=%s)", resp->dkim_aligned_domain);
		else
			reason(resp, "aligned spf");
	} else if (tempfail) {
		resp->result = DMARC_TEMPERROR;
		reason(resp, "alignment undetermined: %s", twhy);
		goto out;
	} else {
		resp->result = DMARC_FAIL;
		reason(resp, "no aligned identifier (policy from %s)", policy_domain);
	}

	/* np= applies to an Author Domain that does not exist (RFC 9989 4.7,
	   3.2.13: NXDOMAIN, RFC 8020); only asked when it could matter */
	if (subdomain && np_given && np != sp) {
		struct dns_answer ans;
		memset(&ans, 0, sizeof ans);
		enum dns_status st = r ? dns_query(r, author, DNS_T_A, &ans) : DNS_CONFIG_ERROR;
		if (st == DNS_NXDOMAIN) {
			resp->applied = np;
		} else if ((st == DNS_TEMPFAIL || st == DNS_CONFIG_ERROR) && resp->result == DMARC_FAIL) {
			resp->result = DMARC_TEMPERROR;
			reason(resp, "DNS: %s checking whether %s exists", ans.reason ? ans.reason : dns_status_name(st),
			       author);
		}
		dns_answer_free(&ans);
	}
	if (resp->result == DMARC_FAIL) {
		resp->disposition = resp->testing ? lower(resp->applied) : resp->applied;
		if (resp->testing) {
			size_t used = strlen(resp->reason);
			snprintf(resp->reason + used, sizeof resp->reason - used, "; testing (%s), %s applied as %s",
				 rec->t_present ? "t=y" : "pct=0", dmarc_policy_name(resp->applied),
				 dmarc_policy_name(resp->disposition));
		}
	}

out:
	if (author_org && author_org_rc >= 0)
		copy_str(resp->org_domain, sizeof resp->org_domain, author_org);
	if (resp->result != DMARC_FAIL)
		resp->disposition = DMARC_POLICY_NONE;
	dctx_free(&c);
	return resp->result;
}
