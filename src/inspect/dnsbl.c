/* dnsbl: RFC 5782 look-ups and return-code mapping (see dnsbl.h). */
#include "inspect/dnsbl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* RFC 5782 5: 127.0.0.1 is never a listing; 127.0.0.2 is the test entry */
#define DNSBL_TEST_INVALID 0x7f000001u
#define DNSBL_TEST_LISTED 0x7f000002u
/* Spamhaus-style error answers 127.255.255.252-255 ("typo in zone",
   "public/open resolver", "excessive queries"): the list refused to answer */
#define DNSBL_REFUSED_NET 0x7ffffffcu
#define DNSBL_REFUSED_REASON "query refused by the list operator"

const char *dnsbl_status_name(enum dnsbl_status st)
{
	switch (st) {
	case DNSBL_NOT_LISTED: return "not-listed";
	case DNSBL_LISTED: return "listed";
	case DNSBL_TEMPFAIL: return "tempfail";
	case DNSBL_ERROR: return "error";
	}
	return "unknown";
}

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

/* the zone's length without one trailing dot */
static size_t zone_len(const char *zone)
{
	size_t n = strlen(zone);
	if (n > 0 && zone[n - 1] == '.')
		n--;
	return n;
}

static bool zone_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int dnsbl_zone_name_valid(const char *zone, char *err, size_t errlen)
{
	if (zone == NULL) {
		seterr(err, errlen, "no zone name");
		return -1;
	}
	size_t n = zone_len(zone);
	if (n == 0) {
		seterr(err, errlen, "empty zone name");
		return -1;
	}
	if (n > DNSBL_MAX_ZONE) {
		seterr(err, errlen, "zone name longer than %d bytes (RFC 1035 2.3.4 with an IPv6 query prefix)",
		       DNSBL_MAX_ZONE);
		return -1;
	}
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && zone[i] != '.') {
			if (!zone_char_ok((unsigned char)zone[i])) {
				seterr(err, errlen, "invalid character 0x%02x at offset %zu in zone name",
				       (unsigned char)zone[i], i);
				return -1;
			}
			continue;
		}
		size_t label = i - start;
		if (label == 0) {
			seterr(err, errlen, "empty label at offset %zu in zone name", i);
			return -1;
		}
		if (label > DNS_MAX_LABEL) {
			seterr(err, errlen, "label longer than %d bytes in zone name", DNS_MAX_LABEL);
			return -1;
		}
		if (zone[start] == '-' || zone[i - 1] == '-') {
			seterr(err, errlen, "label starts or ends with '-' in zone name");
			return -1;
		}
		start = i + 1;
	}
	return 0;
}

static uint32_t v4_value(const struct ipaddr *a)
{
	return (uint32_t)a->a[0] << 24 | (uint32_t)a->a[1] << 16 | (uint32_t)a->a[2] << 8 | a->a[3];
}

int dnsbl_zone_validate(const struct dnsbl_zone *z, char *err, size_t errlen)
{
	char why[128];
	if (dnsbl_zone_name_valid(z->zone, why, sizeof why) < 0) {
		seterr(err, errlen, "%s", why);
		return -1;
	}
	if (z->ncodes > 0 && z->codes == NULL) {
		seterr(err, errlen, "zone %s: %zu codes but no code table", z->zone, z->ncodes);
		return -1;
	}
	for (size_t i = 0; i < z->ncodes; i++) {
		const struct dnsbl_code *c = &z->codes[i];
		if (c->bitmask) {
			if (c->bits == 0 || c->bits > 0xffffffu) {
				seterr(err, errlen, "zone %s: code %zu: bitmask 0x%x not in 1..0xffffff", z->zone, i,
				       (unsigned)c->bits);
				return -1;
			}
			continue;
		}
		if (c->value.family != AF_INET || c->value.a[0] != 127) {
			seterr(err, errlen, "zone %s: code %zu: value is not an IPv4 address in 127.0.0.0/8", z->zone,
			       i);
			return -1;
		}
		if (c->prefix != 0 && (c->prefix < 8 || c->prefix > 32)) {
			seterr(err, errlen, "zone %s: code %zu: prefix /%u not in 8..32", z->zone, i, c->prefix);
			return -1;
		}
	}
	return 0;
}

int dnsbl_query_name(const struct ipaddr *ip, const char *zone, char *out, size_t outlen, char *err, size_t errlen)
{
	char why[128];
	if (outlen > 0)
		out[0] = '\0';
	if (dnsbl_zone_name_valid(zone, why, sizeof why) < 0) {
		seterr(err, errlen, "invalid zone name: %s", why);
		return -1;
	}
	if (ip == NULL || (ip->family != AF_INET && ip->family != AF_INET6)) {
		seterr(err, errlen, "client address has no usable family");
		return -1;
	}
	struct ipaddr a = *ip;
	ip_unmap(&a);
	int zn = (int)zone_len(zone);
	int len;
	if (a.family == AF_INET) {
		len = snprintf(out, outlen, "%u.%u.%u.%u.%.*s", a.a[3], a.a[2], a.a[1], a.a[0], zn, zone);
	} else {
		/* RFC 5782 2.4: every nibble, least significant first, no zero compression */
		static const char hex[] = "0123456789abcdef";
		char nib[DNSBL_IP6_PREFIX_LEN + 1];
		size_t k = 0;
		for (int i = 15; i >= 0; i--) {
			nib[k++] = hex[a.a[i] & 0xf];
			nib[k++] = '.';
			nib[k++] = hex[a.a[i] >> 4];
			nib[k++] = '.';
		}
		nib[k] = '\0';
		len = snprintf(out, outlen, "%s%.*s", nib, zn, zone);
	}
	if (len < 0 || (size_t)len >= outlen || len > DNS_MAX_NAME) {
		if (outlen > 0)
			out[0] = '\0';
		seterr(err, errlen, "query name too long for zone %.*s", zn, zone);
		return -1;
	}
	return 0;
}

enum answer_kind { ANSWER_VALID, ANSWER_REFUSED, ANSWER_OUTSIDE, ANSWER_TEST_INVALID };

static enum answer_kind classify_answer(const struct ipaddr *a)
{
	if (a->family != AF_INET || a->a[0] != 127)
		return ANSWER_OUTSIDE;
	uint32_t v = v4_value(a);
	if (v >= DNSBL_REFUSED_NET)
		return ANSWER_REFUSED;
	if (v == DNSBL_TEST_INVALID)
		return ANSWER_TEST_INVALID;
	return ANSWER_VALID;
}

static bool code_matches(const struct dnsbl_code *c, const struct ipaddr *a)
{
	if (c->bitmask)
		return (v4_value(a) & 0xffffffu & c->bits) != 0;
	if (c->value.family != AF_INET)
		return false;
	unsigned prefix = c->prefix == 0 ? 32 : c->prefix;
	if (prefix > 32)
		return false;
	return ip_match(a, &c->value, prefix);
}

static void add_match(struct dnsbl_hit *hit, const struct ipaddr *a, const struct dnsbl_code *c)
{
	if (hit->nmatches < DNSBL_MAX_MATCHES) {
		hit->matches[hit->nmatches].answer = *a;
		hit->matches[hit->nmatches].code = c;
		hit->nmatches++;
	}
}

/* turns the A records of a FOUND answer into the hit's status */
static void classify_answers(const struct dnsbl_zone *z, const struct dns_answer *ans, struct dnsbl_hit *hit)
{
	char ipbuf[IP_STRLEN];
	const struct ipaddr *first_bad = NULL;
	enum answer_kind bad_kind = ANSWER_OUTSIDE;
	size_t nvalid = 0;
	const struct ipaddr *first_valid = NULL;

	/* a refusal taints the whole answer: never read it as a listing */
	for (size_t i = 0; i < ans->n; i++) {
		const struct ipaddr *a = &ans->rr[i].ip;
		enum answer_kind k = classify_answer(a);
		if (k == ANSWER_REFUSED) {
			hit->status = DNSBL_ERROR;
			hit->answer = *a;
			snprintf(hit->reason, sizeof hit->reason, DNSBL_REFUSED_REASON);
			return;
		}
		if (k == ANSWER_VALID) {
			if (nvalid++ == 0)
				first_valid = a;
		} else if (first_bad == NULL) {
			first_bad = a;
			bad_kind = k;
		}
	}

	bool listed = false;
	if (z->ncodes == 0) {
		for (size_t i = 0; i < ans->n; i++) {
			if (classify_answer(&ans->rr[i].ip) == ANSWER_VALID)
				add_match(hit, &ans->rr[i].ip, NULL);
		}
		if (first_valid != NULL) {
			listed = true;
			hit->answer = *first_valid;
		}
	} else {
		for (size_t c = 0; c < z->ncodes; c++) {
			const struct dnsbl_code *code = &z->codes[c];
			bool hit_code = false;
			for (size_t i = 0; i < ans->n; i++) {
				const struct ipaddr *a = &ans->rr[i].ip;
				if (classify_answer(a) != ANSWER_VALID || !code_matches(code, a))
					continue;
				add_match(hit, a, code);
				if (hit_code)
					continue;
				hit_code = true;
				hit->score += code->score;
				if (!listed || code->action > hit->action) {
					hit->code = code;
					hit->answer = *a;
					hit->action = code->action;
				}
				listed = true;
			}
		}
	}

	if (listed) {
		hit->status = DNSBL_LISTED;
		ip_format(&hit->answer, ipbuf);
		const char *meaning = hit->code && hit->code->meaning ? hit->code->meaning : NULL;
		snprintf(hit->reason, sizeof hit->reason, "listed in %s: %s%s%s%s", hit->zone, ipbuf,
		         meaning ? " (" : "", meaning ? meaning : "", meaning ? ")" : "");
		return;
	}
	if (nvalid > 0) {
		hit->status = DNSBL_NOT_LISTED;
		ip_format(first_valid, ipbuf);
		snprintf(hit->reason, sizeof hit->reason, "answer %s from %s matches no configured code", ipbuf,
		         hit->zone);
		return;
	}
	hit->status = DNSBL_ERROR;
	if (first_bad == NULL) {
		snprintf(hit->reason, sizeof hit->reason, "empty answer from %s", hit->zone);
		return;
	}
	hit->answer = *first_bad;
	ip_format(first_bad, ipbuf);
	if (bad_kind == ANSWER_TEST_INVALID)
		snprintf(hit->reason, sizeof hit->reason, "answer 127.0.0.1 from %s is not a listing (RFC 5782 5)",
		         hit->zone);
	else
		snprintf(hit->reason, sizeof hit->reason, "answer %s from %s is outside 127.0.0.0/8 (RFC 5782 2.1)",
		         ipbuf, hit->zone);
}

/* copies the first TXT record, control and non-ASCII bytes as '?' */
static void fetch_txt(struct dns_resolver *r, struct dnsbl_hit *hit)
{
	struct dns_answer ans;
	if (dns_query(r, hit->query, DNS_T_TXT, &ans) == DNS_FOUND && ans.n > 0 && ans.rr[0].txt != NULL) {
		size_t n = ans.rr[0].txt_len;
		if (n >= sizeof hit->txt)
			n = sizeof hit->txt - 1;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)ans.rr[0].txt[i];
			hit->txt[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
		}
		hit->txt[n] = '\0';
	}
	dns_answer_free(&ans);
}

enum dnsbl_status dnsbl_check_zone(struct dns_resolver *r, const struct ipaddr *ip, const struct dnsbl_zone *z,
                                   struct dnsbl_hit *hit_r)
{
	char why[160];
	memset(hit_r, 0, sizeof *hit_r);
	hit_r->zone = z->zone;
	if (dnsbl_query_name(ip, z->zone, hit_r->query, sizeof hit_r->query, why, sizeof why) < 0) {
		hit_r->status = DNSBL_ERROR;
		snprintf(hit_r->reason, sizeof hit_r->reason, "%s", why);
		return hit_r->status;
	}

	struct dns_answer ans;
	switch (dns_query(r, hit_r->query, DNS_T_A, &ans)) {
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		hit_r->status = DNSBL_NOT_LISTED;
		snprintf(hit_r->reason, sizeof hit_r->reason, "not listed in %s", z->zone);
		break;
	case DNS_TEMPFAIL:
		hit_r->status = DNSBL_TEMPFAIL;
		snprintf(hit_r->reason, sizeof hit_r->reason, "DNS temporary failure for %s: %s", z->zone,
		         ans.reason ? ans.reason : "unknown");
		break;
	case DNS_CONFIG_ERROR:
		hit_r->status = DNSBL_ERROR;
		snprintf(hit_r->reason, sizeof hit_r->reason, "DNS error for %s: %s", z->zone,
		         ans.reason ? ans.reason : "unknown");
		break;
	case DNS_FOUND: classify_answers(z, &ans, hit_r); break;
	}
	dns_answer_free(&ans);

	if (hit_r->status == DNSBL_LISTED && z->want_txt)
		fetch_txt(r, hit_r);
	return hit_r->status;
}

size_t dnsbl_check(struct dns_resolver *r, const struct ipaddr *ip, const struct dnsbl_zone *zones, size_t nzones,
                   struct dnsbl_hit *hits_r)
{
	size_t listed = 0;
	for (size_t i = 0; i < nzones; i++) {
		if (dnsbl_check_zone(r, ip, &zones[i], &hits_r[i]) == DNSBL_LISTED)
			listed++;
	}
	return listed;
}

enum dnsbl_selftest_result dnsbl_selftest(struct dns_resolver *r, const struct dnsbl_zone *z, char *err, size_t errlen)
{
	/* codes are not consulted: the test entry may carry any code */
	struct dnsbl_zone any = {.zone = z->zone, .codes = NULL, .ncodes = 0, .want_txt = false};
	struct ipaddr ip = {.family = AF_INET};
	struct dnsbl_hit hit;

	ip.a[0] = 127;
	ip.a[3] = DNSBL_TEST_LISTED & 0xff;
	switch (dnsbl_check_zone(r, &ip, &any, &hit)) {
	case DNSBL_LISTED: break;
	case DNSBL_TEMPFAIL:
		seterr(err, errlen, "127.0.0.2 test entry: %s", hit.reason);
		return DNSBL_SELFTEST_TEMPFAIL;
	case DNSBL_NOT_LISTED:
	case DNSBL_ERROR:
		seterr(err, errlen, "127.0.0.2 test entry must be listed (RFC 5782 5): %s", hit.reason);
		return DNSBL_SELFTEST_FAIL;
	}

	ip.a[3] = DNSBL_TEST_INVALID & 0xff;
	switch (dnsbl_check_zone(r, &ip, &any, &hit)) {
	case DNSBL_NOT_LISTED: break;
	case DNSBL_TEMPFAIL:
		seterr(err, errlen, "127.0.0.1 test entry: %s", hit.reason);
		return DNSBL_SELFTEST_TEMPFAIL;
	case DNSBL_LISTED:
		seterr(err, errlen,
		       "127.0.0.1 must not be listed (RFC 5782 5), but %s lists it: "
		       "wildcard or broken zone",
		       z->zone);
		return DNSBL_SELFTEST_FAIL;
	case DNSBL_ERROR: seterr(err, errlen, "127.0.0.1 test entry: %s", hit.reason); return DNSBL_SELFTEST_FAIL;
	}
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	return DNSBL_SELFTEST_PASS;
}
