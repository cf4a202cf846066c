/*
 * spf_record: parses one SPF record (RFC 7208 4.5, 4.6, 5, 6, 12) into a
 * term array. The whole record is checked before anything is evaluated, so
 * a syntax error anywhere is a permerror (4.6). Terms point into the text;
 * no per-term allocation, and none at all for records up to
 * SPF_INLINE_TERMS terms.
 */
#include "auth/spf_internal.h"
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define SPF_VERSION "v=spf1"
#define SPF_VERSION_LEN 6

bool spf_is_v1(const char *txt, size_t len)
{
	/* "v=spf1" (case-insensitive) ended by SP or the end of the record */
	return len >= SPF_VERSION_LEN && strncasecmp(txt, SPF_VERSION, SPF_VERSION_LEN) == 0 &&
	       (len == SPF_VERSION_LEN || txt[SPF_VERSION_LEN] == ' ');
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool word_eq(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* writes "<what> in '<term>'" with the term shortened and made printable */
static int term_err(char *err, size_t errlen, const char *what, const char *t, size_t n)
{
	char q[72];
	size_t k = 0;
	for (size_t i = 0; i < n && k < 64; i++)
		q[k++] = (t[i] > 0x20 && t[i] < 0x7f) ? t[i] : '?';
	if (n > 64) {
		q[k++] = '.';
		q[k++] = '.';
		q[k++] = '.';
	}
	q[k] = '\0';
	snprintf(err, errlen, "%s in '%s'", what, q);
	return -1;
}

/* ip4-cidr-length / ip6-cidr-length: 1*DIGIT, no leading zero, <= max */
static int parse_cidr(const char *s, size_t n, unsigned max, uint8_t *out)
{
	if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
		return -1;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = (uint8_t)v;
	return 0;
}

/*
 * Strips a dual-cidr-length ("/N", "//M" or "/N//M") from the end of
 * s[0..*n). Absent: returns 0 with *n unchanged. Present but out of range
 * or malformed digits: -1.
 */
static int strip_dual_cidr(const char *s, size_t *n, struct spf_term *tm)
{
	size_t e = *n, d = e;
	while (d > 0 && is_digit(s[d - 1]))
		d--;
	if (d == e || d == 0 || s[d - 1] != '/')
		return 0;
	if (d >= 2 && s[d - 2] == '/') {
		if (parse_cidr(s + d, e - d, 128, &tm->cidr6) < 0)
			return -1;
		e = d - 2;
		d = e;
		while (d > 0 && is_digit(s[d - 1]))
			d--;
		if (d < e && d > 0 && s[d - 1] == '/') {
			if (parse_cidr(s + d, e - d, 32, &tm->cidr4) < 0)
				return -1;
			e = d - 1;
		}
	} else {
		if (parse_cidr(s + d, e - d, 32, &tm->cidr4) < 0)
			return -1;
		e = d - 1;
	}
	*n = e;
	return 0;
}

struct mech_name {
	const char *name;
	enum spf_term_type type;
};

static const struct mech_name mechs[] = {
	{ "all", SPF_T_ALL }, { "include", SPF_T_INCLUDE }, { "a", SPF_T_A },     { "mx", SPF_T_MX },
	{ "ptr", SPF_T_PTR }, { "ip4", SPF_T_IP4 },         { "ip6", SPF_T_IP6 }, { "exists", SPF_T_EXISTS },
};

static int parse_modifier(struct spf_record *rec, struct spf_term *tm, const char *t, size_t namelen, size_t n,
			  char *err, size_t errlen)
{
	const char *val = t + namelen + 1;
	size_t vlen = n - namelen - 1;
	char why[200];
	tm->arg_off = tm->off + (uint32_t)namelen + 1;
	tm->arg_len = (uint32_t)vlen;
	if (word_eq(t, namelen, "redirect") || word_eq(t, namelen, "exp")) {
		bool redirect = namelen == 8;
		int *slot = redirect ? &rec->redirect : &rec->exp;
		if (*slot >= 0)
			return term_err(err, errlen, redirect ? "redirect= given twice (RFC 7208 6)"
							     : "exp= given twice (RFC 7208 6)", t, n);
		if (spf_domain_spec_check(val, vlen, why, sizeof why) < 0)
			return term_err(err, errlen, why, t, n);
		tm->type = redirect ? SPF_T_REDIRECT : SPF_T_EXP;
		*slot = (int)rec->nterms;
		return 0;
	}
	/* unknown-modifier = name "=" macro-string; ignored, but must be valid */
	if (spf_macro_run(val, vlen, NULL, 0, NULL, NULL, why, sizeof why) < 0)
		return term_err(err, errlen, why, t, n);
	tm->type = SPF_T_UNKNOWN_MOD;
	return 0;
}

static int parse_ip(struct spf_term *tm, const char *t, size_t n, const char *rest, size_t rlen, bool v6,
		    char *err, size_t errlen)
{
	if (rlen < 2 || rest[0] != ':')
		return term_err(err, errlen, v6 ? "ip6 needs an address" : "ip4 needs an address", t, n);
	const char *addr = rest + 1;
	const char *slash = memchr(addr, '/', rlen - 1);
	size_t alen = slash ? (size_t)(slash - addr) : rlen - 1;
	if (ip_parse_n(addr, alen, &tm->net) < 0 || tm->net.family != (v6 ? AF_INET6 : AF_INET))
		return term_err(err, errlen, v6 ? "invalid IPv6 network" : "invalid IPv4 network", t, n);
	if (slash) {
		size_t clen = rlen - 1 - alen - 1;
		if (parse_cidr(slash + 1, clen, v6 ? 128 : 32, v6 ? &tm->cidr6 : &tm->cidr4) < 0)
			return term_err(err, errlen, "invalid CIDR length", t, n);
	}
	return 0;
}

static int parse_term(struct spf_record *rec, size_t off, size_t n, char *err, size_t errlen)
{
	const char *t = rec->text + off;
	struct spf_term *tm = &rec->terms[rec->nterms];
	char why[200];

	memset(tm, 0, sizeof *tm);
	tm->off = (uint32_t)off;
	tm->len = (uint32_t)n;
	tm->cidr4 = 32;
	tm->cidr6 = 128;

	/* modifier: name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) "=" */
	size_t k = 0;
	if (is_alpha(t[0])) {
		k = 1;
		while (k < n && (is_alpha(t[k]) || is_digit(t[k]) || t[k] == '-' || t[k] == '_' || t[k] == '.'))
			k++;
	}
	if (k > 0 && k < n && t[k] == '=')
		return parse_modifier(rec, tm, t, k, n, err, errlen);
	if (t[0] == '=')
		return term_err(err, errlen, "modifier without a name", t, n);

	/* mechanism = [ qualifier ] name [ ":" ... ] [ "/" ... ] */
	size_t p = 0;
	tm->result = SPF_PASS;
	switch (t[0]) {
	case '+': tm->result = SPF_PASS; p = 1; break;
	case '-': tm->result = SPF_FAIL; p = 1; break;
	case '~': tm->result = SPF_SOFTFAIL; p = 1; break;
	case '?': tm->result = SPF_NEUTRAL; p = 1; break;
	}
	size_t q = p;
	while (q < n && t[q] != ':' && t[q] != '/')
		q++;
	const struct mech_name *mn = NULL;
	for (size_t i = 0; i < sizeof mechs / sizeof mechs[0]; i++)
		if (word_eq(t + p, q - p, mechs[i].name))
			mn = &mechs[i];
	if (mn == NULL)
		return term_err(err, errlen, "unknown mechanism", t, n);
	tm->type = (uint8_t)mn->type;

	const char *rest = t + q;
	size_t rlen = n - q;
	switch (mn->type) {
	case SPF_T_ALL:
		if (rlen != 0)
			return term_err(err, errlen, "'all' takes no argument", t, n);
		rec->has_all = true;
		return 0;
	case SPF_T_IP4:
	case SPF_T_IP6:
		return parse_ip(tm, t, n, rest, rlen, mn->type == SPF_T_IP6, err, errlen);
	case SPF_T_A:
	case SPF_T_MX:
		if (strip_dual_cidr(rest, &rlen, tm) < 0)
			return term_err(err, errlen, "invalid CIDR length", t, n);
		break;
	default:
		break;
	}
	/* what is left is nothing or ":" domain-spec */
	bool required = mn->type == SPF_T_INCLUDE || mn->type == SPF_T_EXISTS;
	if (rlen == 0) {
		if (required)
			return term_err(err, errlen, "missing domain-spec", t, n);
		return 0;
	}
	if (rest[0] != ':')
		return term_err(err, errlen, "unexpected text after mechanism name", t, n);
	if (spf_domain_spec_check(rest + 1, rlen - 1, why, sizeof why) < 0)
		return term_err(err, errlen, why, t, n);
	tm->arg_off = (uint32_t)(off + q + 1);
	tm->arg_len = (uint32_t)(rlen - 1);
	return 0;
}

int spf_record_parse_in(struct spf_record *rec, const char *txt, size_t len, char *err, size_t errlen)
{
	rec->text = txt;
	rec->len = len;
	rec->owned = NULL;
	rec->terms = rec->inline_terms;
	rec->nterms = 0;
	rec->redirect = rec->exp = -1;
	rec->has_all = false;

	if (len > UINT32_MAX / 2) {
		snprintf(err, errlen, "record too long");
		return -1;
	}
	if (!spf_is_v1(txt, len)) {
		snprintf(err, errlen, "not an SPF record (no \"v=spf1\" version)");
		return -1;
	}
	/* RFC 7208 3.1, 4.6.1: terms are printable ASCII separated by SP only */
	size_t count = 0;
	for (size_t i = SPF_VERSION_LEN; i < len; i++) {
		unsigned char c = (unsigned char)txt[i];
		if (c < 0x20 || c > 0x7e) {
			snprintf(err, errlen, "invalid byte 0x%02x at offset %zu (only printable ASCII and spaces)", c, i);
			return -1;
		}
		if (c != ' ' && txt[i - 1] == ' ')
			count++;
	}
	if (count > SPF_INLINE_TERMS)
		rec->terms = xcalloc(count, sizeof *rec->terms);

	size_t i = SPF_VERSION_LEN;
	while (i < len) {
		while (i < len && txt[i] == ' ')
			i++;
		if (i >= len)
			break;
		size_t start = i;
		while (i < len && txt[i] != ' ')
			i++;
		if (parse_term(rec, start, i - start, err, errlen) < 0) {
			spf_record_clear(rec);
			return -1;
		}
		rec->nterms++;
	}
	return 0;
}

void spf_record_clear(struct spf_record *rec)
{
	if (rec->terms != rec->inline_terms)
		free(rec->terms);
	rec->terms = rec->inline_terms;
	rec->nterms = 0;
}

int spf_record_parse(const char *txt, size_t len, struct spf_record **rec_r, char *err, size_t errlen)
{
	*rec_r = NULL;
	if (txt == NULL) {
		snprintf(err, errlen, "no record");
		return -1;
	}
	struct spf_record *rec = xmalloc(sizeof *rec);
	char *copy = xmalloc(len + 1);
	memcpy(copy, txt, len);
	copy[len] = '\0';
	if (spf_record_parse_in(rec, copy, len, err, errlen) < 0) {
		free(copy);
		free(rec);
		return -1;
	}
	rec->text = rec->owned = copy;
	*rec_r = rec;
	return 0;
}

void spf_record_free(struct spf_record **rec)
{
	if (*rec == NULL)
		return;
	spf_record_clear(*rec);
	free((*rec)->owned);
	*rec = xfree(*rec);
}
