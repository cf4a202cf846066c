/* unit tests for src/inspect/dnsbl: query names (IPv4, IPv6 nibbles, mapped),
 * return-code meanings (exact, range, bitmask, none), refusals and bad
 * answers, TEMPFAIL, TXT reasons, several zones, the RFC 5782 5 self-test,
 * and zone-name validation. DNS comes from a stub filled here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns/dns_stub.h"
#include "inspect/dnsbl.h"

static struct ipaddr ipv(const char *s)
{
	struct ipaddr ip;
	if (ip_parse(s, &ip) < 0)
		fail_msg("bad test address %s", s);
	return ip;
}

#define V6_2001_DB8_1 "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"

/* zen.test: Spamhaus-like exact codes and a PBL range */
static struct dnsbl_code zen_codes[3];
/* bits.test: SURBL-like bitmask codes */
static const struct dnsbl_code bit_codes[] = {
    {.bitmask = true, .bits = 2, .meaning = "list-2", .action = 0, .score = 1},
    {.bitmask = true, .bits = 4, .meaning = "list-4", .action = 1, .score = 3},
    {.bitmask = true, .bits = 8, .meaning = "list-8", .action = 1, .score = 5},
};
static struct dnsbl_zone zones[3];
enum { Z_ZEN, Z_BITS, Z_ANY };

static void setup_zones(void)
{
	zen_codes[0] = (struct dnsbl_code){.value = ipv("127.0.0.2"), .meaning = "SBL", .action = 1, .score = 10};
	zen_codes[1] =
	    (struct dnsbl_code){.value = ipv("127.0.0.4"), .prefix = 32, .meaning = "XBL", .action = 1, .score = 8};
	zen_codes[2] =
	    (struct dnsbl_code){.value = ipv("127.0.0.10"), .prefix = 31, .meaning = "PBL", .action = 0, .score = 2};
	zones[Z_ZEN] = (struct dnsbl_zone){.zone = "zen.test", .codes = zen_codes, .ncodes = 3, .want_txt = true};
	zones[Z_BITS] = (struct dnsbl_zone){.zone = "bits.test.", .codes = bit_codes, .ncodes = 3};
	zones[Z_ANY] = (struct dnsbl_zone){.zone = "any.test"};
}

static void add_a(struct dns_stub *s, const char *owner, const char *ip)
{
	struct ipaddr a = ipv(ip);
	dns_stub_add_a(s, owner, &a);
}

static void add_txt(struct dns_stub *s, const char *owner, const char *txt)
{
	dns_stub_add_txt(s, owner, txt, strlen(txt), 1);
}

static struct dns_resolver *make_resolver(void)
{
	struct dns_stub *s = dns_stub_new();
	add_a(s, "2.0.0.127.zen.test", "127.0.0.2");
	add_txt(s, "2.0.0.127.zen.test", "Listed by SBL, see https://sbl.example/query/SBL1");
	add_a(s, "10.2.0.192.zen.test", "127.0.0.4");
	add_a(s, "10.2.0.192.zen.test", "127.0.0.2");
	add_a(s, "11.2.0.192.zen.test", "127.0.0.11");
	add_a(s, "12.2.0.192.zen.test", "127.0.0.9");
	add_a(s, "13.2.0.192.zen.test", "192.0.2.99");
	add_a(s, "14.2.0.192.zen.test", "127.255.255.254");
	add_a(s, "15.2.0.192.zen.test", "127.0.0.2");
	add_a(s, "15.2.0.192.zen.test", "127.255.255.255");
	dns_stub_add_fail(s, "16.2.0.192.zen.test", DNS_STUB_TIMEOUT);
	add_a(s, "17.2.0.192.zen.test", "127.0.0.1");
	add_a(s, "18.2.0.192.zen.test", "10.0.0.1");
	add_a(s, "18.2.0.192.zen.test", "127.0.0.4");
	dns_stub_add_fail(s, "19.2.0.192.zen.test", DNS_STUB_SERVFAIL);
	add_txt(s, "20.2.0.192.zen.test", "TXT without A");
	add_a(s, "21.2.0.192.zen.test", "127.0.0.4");
	dns_stub_add_txt(s, "21.2.0.192.zen.test", "bad\x01\nbyte\xff", 10, 1);
	add_a(s, "22.2.0.192.zen.test", "127.255.255.252");
	/* IPv6: only the exact RFC 5782 2.4 name, plus decoys an off-by-one
	   nibble order or a compressed form would hit instead */
	add_a(s, V6_2001_DB8_1 ".zen.test", "127.0.0.2");
	add_a(s, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.8.0.d.2.0.0.1.zen.test", "127.0.0.4");
	add_a(s, "1.0.0.0.8.b.d.0.1.0.0.2.zen.test", "127.0.0.4");
	add_a(s, "6.2.0.192.bits.test", "127.0.0.6");
	add_a(s, "16.2.0.192.bits.test", "127.0.0.16");
	add_a(s, "14.2.0.192.bits.test", "127.0.0.14");
	add_a(s, "10.2.0.192.any.test", "127.0.0.3");
	add_a(s, "11.2.0.192.any.test", "127.0.0.1");
	return dns_stub_resolver(s);
}

struct zone_case {
	const char *name;
	const char *ip;
	int zone;
	enum dnsbl_status status;
	const char *query;   /* exact query name expected */
	const char *answer;  /* hit->answer, NULL = family 0 */
	const char *meaning; /* primary code meaning, NULL = no code */
	int score, action;
	size_t nmatches;
	const char *reason; /* substring of hit->reason */
	const char *txt;    /* exact */
};

static const struct zone_case zone_cases[] = {
    {"listed IPv4 exact code with TXT", "127.0.0.2", Z_ZEN, DNSBL_LISTED, "2.0.0.127.zen.test", "127.0.0.2", "SBL", 10,
     1, 1, "listed in zen.test: 127.0.0.2 (SBL)", "Listed by SBL, see https://sbl.example/query/SBL1"},
    {"two codes: scores add, first in config order wins", "192.0.2.10", Z_ZEN, DNSBL_LISTED, "10.2.0.192.zen.test",
     "127.0.0.2", "SBL", 18, 1, 2, "(SBL)", ""},
    {"range code 127.0.0.10/31", "192.0.2.11", Z_ZEN, DNSBL_LISTED, "11.2.0.192.zen.test", "127.0.0.11", "PBL", 2, 0, 1,
     "listed in zen.test: 127.0.0.11 (PBL)", ""},
    {"code nobody configured", "192.0.2.12", Z_ZEN, DNSBL_NOT_LISTED, "12.2.0.192.zen.test", NULL, NULL, 0, 0, 0,
     "answer 127.0.0.9 from zen.test matches no configured code", ""},
    {"NXDOMAIN", "192.0.2.99", Z_ZEN, DNSBL_NOT_LISTED, "99.2.0.192.zen.test", NULL, NULL, 0, 0, 0,
     "not listed in zen.test", ""},
    {"NODATA (TXT only)", "192.0.2.20", Z_ZEN, DNSBL_NOT_LISTED, "20.2.0.192.zen.test", NULL, NULL, 0, 0, 0,
     "not listed", ""},
    {"answer outside 127/8", "192.0.2.13", Z_ZEN, DNSBL_ERROR, "13.2.0.192.zen.test", "192.0.2.99", NULL, 0, 0, 0,
     "outside 127.0.0.0/8", ""},
    {"127.255.255.254 refused", "192.0.2.14", Z_ZEN, DNSBL_ERROR, "14.2.0.192.zen.test", "127.255.255.254", NULL, 0, 0,
     0, "query refused by the list operator", ""},
    {"127.255.255.252 refused", "192.0.2.22", Z_ZEN, DNSBL_ERROR, "22.2.0.192.zen.test", "127.255.255.252", NULL, 0, 0,
     0, "query refused by the list operator", ""},
    {"refusal beats a listing in the same answer", "192.0.2.15", Z_ZEN, DNSBL_ERROR, "15.2.0.192.zen.test",
     "127.255.255.255", NULL, 0, 0, 0, "query refused by the list operator", ""},
    {"TIMEOUT is tempfail", "192.0.2.16", Z_ZEN, DNSBL_TEMPFAIL, "16.2.0.192.zen.test", NULL, NULL, 0, 0, 0,
     "DNS temporary failure for zen.test: timeout", ""},
    {"SERVFAIL is tempfail", "192.0.2.19", Z_ZEN, DNSBL_TEMPFAIL, "19.2.0.192.zen.test", NULL, NULL, 0, 0, 0,
     "SERVFAIL", ""},
    {"answer 127.0.0.1 is not a listing", "192.0.2.17", Z_ZEN, DNSBL_ERROR, "17.2.0.192.zen.test", "127.0.0.1", NULL, 0,
     0, 0, "answer 127.0.0.1 from zen.test is not a listing", ""},
    {"bad answer beside a good one: the good one lists", "192.0.2.18", Z_ZEN, DNSBL_LISTED, "18.2.0.192.zen.test",
     "127.0.0.4", "XBL", 8, 1, 1, "(XBL)", ""},
    {"TXT control bytes replaced", "192.0.2.21", Z_ZEN, DNSBL_LISTED, "21.2.0.192.zen.test", "127.0.0.4", "XBL", 8, 1,
     1, "XBL", "bad??byte?"},
    {"IPv6 nibble name", "2001:db8::1", Z_ZEN, DNSBL_LISTED, V6_2001_DB8_1 ".zen.test", "127.0.0.2", "SBL", 10, 1, 1,
     "SBL", ""},
    {"IPv4-mapped IPv6 checked as IPv4", "::ffff:192.0.2.10", Z_ZEN, DNSBL_LISTED, "10.2.0.192.zen.test", "127.0.0.2",
     "SBL", 18, 1, 2, "SBL", ""},
    {"bitmask 127.0.0.6 = lists 2 and 4", "192.0.2.6", Z_BITS, DNSBL_LISTED, "6.2.0.192.bits.test", "127.0.0.6",
     "list-4", 4, 1, 2, "listed in bits.test.: 127.0.0.6 (list-4)", ""},
    {"bitmask 127.0.0.14 = lists 2, 4, 8", "192.0.2.14", Z_BITS, DNSBL_LISTED, "14.2.0.192.bits.test", "127.0.0.14",
     "list-4", 9, 1, 3, "list-4", ""},
    {"bitmask with no configured bit", "192.0.2.16", Z_BITS, DNSBL_NOT_LISTED, "16.2.0.192.bits.test", NULL, NULL, 0, 0,
     0, "matches no configured code", ""},
    {"no codes: any 127/8 answer lists", "192.0.2.10", Z_ANY, DNSBL_LISTED, "10.2.0.192.any.test", "127.0.0.3", NULL, 0,
     0, 1, "listed in any.test: 127.0.0.3", ""},
    {"no codes: 127.0.0.1 still not a listing", "192.0.2.11", Z_ANY, DNSBL_ERROR, "11.2.0.192.any.test", "127.0.0.1",
     NULL, 0, 0, 0, "not a listing", ""},
};

static void test_zone_cases(void **state)
{
	setup_zones();
	struct dns_resolver *r = make_resolver();
	for (size_t i = 0; i < sizeof zone_cases / sizeof zone_cases[0]; i++) {
		const struct zone_case *c = &zone_cases[i];
		struct ipaddr ip = ipv(c->ip);
		struct dnsbl_hit hit;
		enum dnsbl_status st = dnsbl_check_zone(r, &ip, &zones[c->zone], &hit);
		char got[IP_STRLEN] = "";
		if (hit.answer.family != 0)
			ip_format(&hit.answer, got);
		const char *meaning = hit.code ? hit.code->meaning : NULL;
		if (st != c->status || hit.status != st || strcmp(hit.query, c->query) != 0 ||
		    strcmp(got, c->answer ? c->answer : "") != 0 || (meaning == NULL) != (c->meaning == NULL) ||
		    (meaning && strcmp(meaning, c->meaning) != 0) || hit.score != c->score || hit.action != c->action ||
		    hit.nmatches != c->nmatches || strstr(hit.reason, c->reason) == NULL ||
		    strcmp(hit.txt, c->txt) != 0 || hit.zone != zones[c->zone].zone)
			fail_msg("case \"%s\": got %s query=%s answer=%s code=%s score=%d action=%d nmatches=%zu "
			         "reason=\"%s\" txt=\"%s\"",
			         c->name, dnsbl_status_name(st), hit.query, got, meaning ? meaning : "-", hit.score,
			         hit.action, hit.nmatches, hit.reason, hit.txt);
	}
	dns_resolver_free(&r);
}

/* the bitmask case lists each matched code with its answer, in code order */
static void test_bitmask_matches(void **state)
{
	setup_zones();
	struct dns_resolver *r = make_resolver();
	struct ipaddr ip = ipv("192.0.2.6");
	struct dnsbl_hit hit;
	assert_int_equal(dnsbl_check_zone(r, &ip, &zones[Z_BITS], &hit), DNSBL_LISTED);
	assert_int_equal(hit.nmatches, 2);
	assert_ptr_equal(hit.matches[0].code, &bit_codes[0]);
	assert_ptr_equal(hit.matches[1].code, &bit_codes[1]);
	struct ipaddr want = ipv("127.0.0.6");
	assert_true(ip_equal(&hit.matches[0].answer, &want));
	assert_true(ip_equal(&hit.matches[1].answer, &want));
	/* list-8 (bit 3) is not in 6 */
	for (size_t i = 0; i < hit.nmatches; i++)
		assert_ptr_not_equal(hit.matches[i].code, &bit_codes[2]);
	dns_resolver_free(&r);
}

static void test_several_zones(void **state)
{
	setup_zones();
	struct dns_resolver *r = make_resolver();
	struct dnsbl_hit hits[3];
	struct ipaddr ip = ipv("192.0.2.10");
	/* zen lists (SBL+XBL), bits has no entry, any lists */
	assert_int_equal(dnsbl_check(r, &ip, zones, 3, hits), 2);
	assert_int_equal(hits[Z_ZEN].status, DNSBL_LISTED);
	assert_string_equal(hits[Z_ZEN].code->meaning, "SBL");
	assert_int_equal(hits[Z_BITS].status, DNSBL_NOT_LISTED);
	assert_string_equal(hits[Z_BITS].query, "10.2.0.192.bits.test");
	assert_int_equal(hits[Z_ANY].status, DNSBL_LISTED);
	for (size_t i = 0; i < 3; i++)
		assert_ptr_equal(hits[i].zone, zones[i].zone);

	/* a tempfail in one zone does not stop the next */
	ip = ipv("192.0.2.16");
	assert_int_equal(dnsbl_check(r, &ip, zones, 3, hits), 0);
	assert_int_equal(hits[Z_ZEN].status, DNSBL_TEMPFAIL);
	assert_int_equal(hits[Z_BITS].status, DNSBL_NOT_LISTED);
	assert_non_null(strstr(hits[Z_BITS].reason, "answer 127.0.0.16 from bits.test. matches no configured code"));
	assert_int_equal(hits[Z_ANY].status, DNSBL_NOT_LISTED);

	/* bits.test lists 127.0.0.6 while zen and any do not */
	ip = ipv("192.0.2.6");
	assert_int_equal(dnsbl_check(r, &ip, zones, 3, hits), 1);
	assert_int_equal(hits[Z_BITS].status, DNSBL_LISTED);

	assert_int_equal(dnsbl_check(r, &ip, zones, 0, hits), 0);
	dns_resolver_free(&r);
}

static void test_selftest(void **state)
{
	struct dns_stub *s = dns_stub_new();
	add_a(s, "2.0.0.127.good.test", "127.0.0.2");
	add_a(s, "2.0.0.127.code.test", "127.0.0.10"); /* any valid code is fine */
	add_a(s, "2.0.0.127.wild.test", "127.0.0.2");
	add_a(s, "1.0.0.127.wild.test", "127.0.0.2");
	add_a(s, "1.0.0.127.empty.test", "127.0.0.2"); /* swapped */
	add_a(s, "2.0.0.127.refused.test", "127.255.255.254");
	add_a(s, "2.0.0.127.hijack.test", "198.51.100.1");
	dns_stub_add_fail(s, "2.0.0.127.slow.test", DNS_STUB_TIMEOUT);
	add_a(s, "2.0.0.127.slow1.test", "127.0.0.2");
	dns_stub_add_fail(s, "1.0.0.127.slow1.test", DNS_STUB_SERVFAIL);
	struct dns_resolver *r = dns_stub_resolver(s);

	struct {
		const char *zone;
		enum dnsbl_selftest_result res;
		const char *err;
	} cases[] = {
	    {"good.test", DNSBL_SELFTEST_PASS, ""},
	    {"code.test", DNSBL_SELFTEST_PASS, ""},
	    {"wild.test", DNSBL_SELFTEST_FAIL, "127.0.0.1 must not be listed"},
	    {"empty.test", DNSBL_SELFTEST_FAIL, "127.0.0.2 test entry must be listed"},
	    {"nothing.test", DNSBL_SELFTEST_FAIL, "not listed in nothing.test"},
	    {"refused.test", DNSBL_SELFTEST_FAIL, "query refused by the list operator"},
	    {"hijack.test", DNSBL_SELFTEST_FAIL, "outside 127.0.0.0/8"},
	    {"slow.test", DNSBL_SELFTEST_TEMPFAIL, "timeout"},
	    {"slow1.test", DNSBL_SELFTEST_TEMPFAIL, "127.0.0.1 test entry: DNS temporary failure"},
	    {"bad zone.test", DNSBL_SELFTEST_FAIL, "invalid zone name"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct dnsbl_code c = {.value = ipv("127.0.0.4"), .meaning = "codes are ignored"};
		struct dnsbl_zone z = {.zone = cases[i].zone, .codes = &c, .ncodes = 1};
		char err[256] = "stale";
		enum dnsbl_selftest_result res = dnsbl_selftest(r, &z, err, sizeof err);
		if (res != cases[i].res || strstr(err, cases[i].err) == NULL ||
		    (cases[i].res == DNSBL_SELFTEST_PASS && err[0] != '\0'))
			fail_msg("selftest %s: got %d \"%s\"", cases[i].zone, res, err);
	}
	dns_resolver_free(&r);
}

static void test_query_names(void **state)
{
	struct {
		const char *ip, *zone, *want; /* want NULL: must fail */
	} cases[] = {
	    {"192.0.2.1", "bl.example", "1.2.0.192.bl.example"},
	    {"192.0.2.1", "bl.example.", "1.2.0.192.bl.example"},
	    {"0.0.0.0", "bl.example", "0.0.0.0.bl.example"},
	    {"255.255.255.255", "BL.Example", "255.255.255.255.BL.Example"},
	    {"::ffff:10.1.2.3", "bl.example", "3.2.1.10.bl.example"},
	    {"::1", "bl.example", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.example"},
	    {"2001:db8:abcd:12::ff", "v6.bl", "f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.1.0.0.d.c.b.a.8.b.d.0.1.0.0.2.v6.bl"},
	    {"192.0.2.1", "bl..example", NULL},
	    {"192.0.2.1", "", NULL},
	    {"192.0.2.1", ".", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ipaddr ip = ipv(cases[i].ip);
		char out[DNS_MAX_NAME + 1], err[128] = "";
		int rc = dnsbl_query_name(&ip, cases[i].zone, out, sizeof out, err, sizeof err);
		if (cases[i].want ? (rc != 0 || strcmp(out, cases[i].want) != 0)
		                  : (rc != -1 || out[0] != '\0' || !err[0]))
			fail_msg("query name %s / %s: rc %d out \"%s\" err \"%s\"", cases[i].ip, cases[i].zone, rc, out,
			         err);
	}

	/* the longest allowed zone fits an IPv6 query exactly at 253 bytes */
	char zone[DNSBL_MAX_ZONE + 2];
	for (size_t i = 0; i < DNSBL_MAX_ZONE; i++)
		zone[i] = (i % 50 == 49) ? '.' : 'a';
	zone[DNSBL_MAX_ZONE] = '\0';
	struct ipaddr ip6 = ipv("2001:db8::1");
	char out[DNS_MAX_NAME + 1], err[128];
	assert_int_equal(dnsbl_query_name(&ip6, zone, out, sizeof out, err, sizeof err), 0);
	assert_int_equal(strlen(out), DNS_MAX_NAME);
	/* an output buffer too small is an error, not a truncated name */
	assert_int_equal(dnsbl_query_name(&ip6, zone, out, 100, err, sizeof err), -1);
	assert_non_null(strstr(err, "too long"));
	assert_string_equal(out, "");

	/* an address without a family */
	struct ipaddr none = {0};
	assert_int_equal(dnsbl_query_name(&none, "bl.example", out, sizeof out, err, sizeof err), -1);
	assert_non_null(strstr(err, "no usable family"));
	assert_int_equal(dnsbl_query_name(NULL, "bl.example", out, sizeof out, err, sizeof err), -1);
}

static void test_zone_names(void **state)
{
	char toolong[DNSBL_MAX_ZONE + 3];
	for (size_t i = 0; i < DNSBL_MAX_ZONE + 1; i++)
		toolong[i] = (i % 40 == 39) ? '.' : 'b';
	toolong[DNSBL_MAX_ZONE + 1] = '\0';
	char longlabel[80];
	memset(longlabel, 'c', 64);
	memcpy(longlabel + 64, ".test", 6);

	struct {
		const char *zone;
		const char *err; /* NULL: valid */
	} cases[] = {
	    {"zen.spamhaus.org", NULL},
	    {"zen.spamhaus.org.", NULL},
	    {"b.barracudacentral.org", NULL},
	    {"_dnsbl.internal", NULL},
	    {"x", NULL},
	    {"", "empty zone name"},
	    {".", "empty zone name"},
	    {".zen.test", "empty label"},
	    {"zen..test", "empty label"},
	    {"zen.test..", "empty label"},
	    {"bad zone.test", "invalid character 0x20"},
	    {"zen.test;rm", "invalid character 0x3b"},
	    {"*.zen.test", "invalid character 0x2a"},
	    {"z\xc3\xa9n.test", "invalid character 0xc3"},
	    {"zen.test\n", "invalid character 0x0a"},
	    {"-zen.test", "starts or ends with '-'"},
	    {"zen-.test", "starts or ends with '-'"},
	    {longlabel, "label longer than 63"},
	    {toolong, "longer than 189"},
	    {NULL, "no zone name"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[128] = "";
		int rc = dnsbl_zone_name_valid(cases[i].zone, err, sizeof err);
		if (cases[i].err ? (rc != -1 || strstr(err, cases[i].err) == NULL) : rc != 0)
			fail_msg("zone name case %zu (%s): rc %d err \"%s\"", i, cases[i].zone ? cases[i].zone : "NULL",
			         rc, err);
	}

	/* an invalid zone is reported in the hit without any query */
	struct dns_resolver *r = dns_stub_resolver(dns_stub_new());
	struct dnsbl_zone bad = {.zone = "bad zone.test"};
	struct ipaddr ip = ipv("192.0.2.1");
	struct dnsbl_hit hit;
	assert_int_equal(dnsbl_check(r, &ip, &bad, 1, &hit), 0);
	assert_int_equal(hit.status, DNSBL_ERROR);
	assert_string_equal(hit.query, "");
	assert_non_null(strstr(hit.reason, "invalid zone name: invalid character 0x20"));
	dns_resolver_free(&r);
}

static void test_zone_validate(void **state)
{
	setup_zones();
	char err[160];
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(dnsbl_zone_validate(&zones[i], err, sizeof err), 0);

	struct {
		struct dnsbl_code code;
		const char *err;
	} cases[] = {
	    {{.value = ipv("10.0.0.2")}, "not an IPv4 address in 127.0.0.0/8"},
	    {{.value = ipv("::1")}, "not an IPv4 address in 127.0.0.0/8"},
	    {{.meaning = "no value"}, "not an IPv4 address in 127.0.0.0/8"},
	    {{.value = ipv("127.0.0.0"), .prefix = 7}, "prefix /7 not in 8..32"},
	    {{.value = ipv("127.0.0.0"), .prefix = 33}, "prefix /33 not in 8..32"},
	    {{.bitmask = true, .bits = 0}, "bitmask 0x0 not in 1..0xffffff"},
	    {{.bitmask = true, .bits = 0x1000000}, "bitmask 0x1000000"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct dnsbl_zone z = {.zone = "bl.test", .codes = &cases[i].code, .ncodes = 1};
		err[0] = '\0';
		if (dnsbl_zone_validate(&z, err, sizeof err) != -1 || strstr(err, cases[i].err) == NULL)
			fail_msg("validate case %zu: err \"%s\"", i, err);
	}
	struct dnsbl_zone nocodes = {.zone = "bl.test", .ncodes = 2};
	assert_int_equal(dnsbl_zone_validate(&nocodes, err, sizeof err), -1);
	assert_non_null(strstr(err, "no code table"));
	struct dnsbl_zone badname = {.zone = "bl test"};
	assert_int_equal(dnsbl_zone_validate(&badname, err, sizeof err), -1);
	assert_non_null(strstr(err, "invalid character"));
}

static void test_status_names(void **state)
{
	assert_string_equal(dnsbl_status_name(DNSBL_NOT_LISTED), "not-listed");
	assert_string_equal(dnsbl_status_name(DNSBL_LISTED), "listed");
	assert_string_equal(dnsbl_status_name(DNSBL_TEMPFAIL), "tempfail");
	assert_string_equal(dnsbl_status_name(DNSBL_ERROR), "error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_zone_cases),    cmocka_unit_test(test_bitmask_matches),
	    cmocka_unit_test(test_several_zones), cmocka_unit_test(test_selftest),
	    cmocka_unit_test(test_query_names),   cmocka_unit_test(test_zone_names),
	    cmocka_unit_test(test_zone_validate), cmocka_unit_test(test_status_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
