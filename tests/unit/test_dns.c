/* unit tests for src/dns: the zone file loader and the stub resolver's
   semantics (CNAME following, NODATA vs NXDOMAIN, failures, case). The
   libunbound backend is tested against a real server by
   tests/integration/test_unbound.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "dns/dns.h"
#include "dns/dns_stub.h"

/* "192.0.2.1 | 10 mail.example.com" etc.: one line per answer for comparing */
static void render(const struct dns_answer *ans, struct buf *out)
{
	buf_reset(out);
	for (size_t i = 0; i < ans->n; i++) {
		const struct dns_rr *rr = &ans->rr[i];
		char ip[IP_STRLEN];
		if (i > 0)
			buf_puts(out, " | ");
		switch (rr->type) {
		case DNS_T_A:
		case DNS_T_AAAA:
			buf_puts(out, ip_format(&rr->ip, ip));
			break;
		case DNS_T_MX:
			buf_printf(out, "%u %s", rr->pref, rr->name);
			break;
		case DNS_T_TXT:
			for (size_t k = 0; k < rr->txt_len; k++) {
				unsigned char c = (unsigned char)rr->txt[k];
				if (c < 0x20 || c >= 0x7f)
					buf_printf(out, "\\%03u", c);
				else
					buf_putc(out, (char)c);
			}
			buf_printf(out, "/%u", rr->nstrings);
			break;
		default:
			buf_puts(out, rr->name);
		}
	}
}

static struct dns_resolver *load(const char *text)
{
	char err[256];
	struct dns_stub *s = dns_stub_new();
	int rc = dns_stub_load_text(s, text, strlen(text), "t", err, sizeof err);
	if (rc != 0)
		fail_msg("unexpected load error: %s", err);
	return dns_stub_resolver(s);
}

static const char zone_main[] =
	"$ORIGIN example.com.\n"
	"$TTL 3600\n"
	"@           IN  A     192.0.2.1\n"
	"            IN  AAAA  2001:db8::1\n"
	"            MX  10 mail\n"
	"            mx  20 mail.other.net.\n"
	"            TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n"
	"www  300 IN CNAME @\n"
	"alias IN 60 CNAME www   ; chain of two\n"
	"multi TXT \"v=DKIM1; k=rsa; \" \"p=ABC\" ( \"DEF\"\n"
	"          \"GHI\" )\n"
	"unq   TXT hello world\n"
	"esc   TXT \"a\\\"b\\\\c\\059d\\000e;(f)\"\n"
	"sp\\ ace A 192.0.2.7\n"
	"dot\\.inside  A 192.0.2.8\n"
	"\\065bc in a 192.0.2.9\n"
	"a.b.c.deep A 192.0.2.10\n"
	"slow TIMEOUT\n"
	"broken 60 IN SERVFAIL\n"
	"1.2.0.192.in-addr.arpa. PTR host.example.com.\n"
	"sub NS ns1.sub\n"
	"empty TXT \"\"\n"
	"nullmx MX 0 .\n"
	"loop1 CNAME loop2\n"
	"loop2 CNAME loop1\n"
	"dangling CNAME nowhere\n"
	"max255 TXT \"" /* 255 x's, the longest character-string */
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\n"
	"crlf A 192.0.2.11\r\n"
	"$ORIGIN other.net.\n"
	"mail A 198.51.100.1\n"
	"UPPER.Case A 198.51.100.2\n"
	"( paren A\n"
	"  198.51.100.3 )\n";

static const struct qcase {
	const char *name;
	enum dns_type type;
	enum dns_status st;
	const char *expect; /* render() of the answer, or the reason for TEMPFAIL */
} qcases[] = {
	{ "example.com", DNS_T_A, DNS_FOUND, "192.0.2.1" },
	{ "EXAMPLE.Com.", DNS_T_A, DNS_FOUND, "192.0.2.1" },
	{ "example.com", DNS_T_AAAA, DNS_FOUND, "2001:db8::1" },
	{ "example.com", DNS_T_MX, DNS_FOUND, "10 mail.example.com | 20 mail.other.net" },
	{ "example.com", DNS_T_TXT, DNS_FOUND, "v=spf1 ip4:192.0.2.0/24 -all/1" },
	{ "example.com", DNS_T_PTR, DNS_NODATA, "" },
	{ "www.example.com", DNS_T_A, DNS_FOUND, "192.0.2.1" },
	{ "alias.example.com", DNS_T_A, DNS_FOUND, "192.0.2.1" },
	{ "alias.example.com", DNS_T_MX, DNS_FOUND, "10 mail.example.com | 20 mail.other.net" },
	{ "www.example.com", DNS_T_CNAME, DNS_FOUND, "example.com" },
	{ "multi.example.com", DNS_T_TXT, DNS_FOUND, "v=DKIM1; k=rsa; p=ABCDEFGHI/4" },
	{ "unq.example.com", DNS_T_TXT, DNS_FOUND, "helloworld/2" },
	{ "esc.example.com", DNS_T_TXT, DNS_FOUND, "a\"b\\c;d\\000e;(f)/1" },
	{ "sp ace.example.com", DNS_T_A, DNS_FOUND, "192.0.2.7" },
	/* \. is stored as a plain dot (documented simplification) */
	{ "dot.inside.example.com", DNS_T_A, DNS_FOUND, "192.0.2.8" },
	{ "abc.example.com", DNS_T_A, DNS_FOUND, "192.0.2.9" },
	{ "a.b.c.deep.example.com", DNS_T_A, DNS_FOUND, "192.0.2.10" },
	{ "b.c.deep.example.com", DNS_T_A, DNS_NODATA, "" },
	{ "deep.example.com", DNS_T_TXT, DNS_NODATA, "" },
	{ "x.deep.example.com", DNS_T_A, DNS_NXDOMAIN, "" },
	{ "nothere.example.com", DNS_T_A, DNS_NXDOMAIN, "" },
	{ "example.net", DNS_T_A, DNS_NXDOMAIN, "" },
	{ "slow.example.com", DNS_T_A, DNS_TEMPFAIL, "timeout" },
	{ "slow.example.com", DNS_T_TXT, DNS_TEMPFAIL, "timeout" },
	{ "broken.example.com", DNS_T_MX, DNS_TEMPFAIL, "SERVFAIL" },
	{ "1.2.0.192.in-addr.arpa", DNS_T_PTR, DNS_FOUND, "host.example.com" },
	{ "sub.example.com", DNS_T_NS, DNS_FOUND, "ns1.sub.example.com" },
	{ "empty.example.com", DNS_T_TXT, DNS_FOUND, "/1" },
	{ "nullmx.example.com", DNS_T_MX, DNS_FOUND, "0 " },
	{ "loop1.example.com", DNS_T_A, DNS_TEMPFAIL, "CNAME chain too long" },
	{ "dangling.example.com", DNS_T_A, DNS_NXDOMAIN, "" },
	{ "crlf.example.com", DNS_T_A, DNS_FOUND, "192.0.2.11" },
	{ "mail.other.net", DNS_T_A, DNS_FOUND, "198.51.100.1" },
	{ "upper.case.other.net", DNS_T_A, DNS_FOUND, "198.51.100.2" },
	{ "paren.other.net", DNS_T_A, DNS_FOUND, "198.51.100.3" },
	{ "mail.example.com", DNS_T_A, DNS_NXDOMAIN, "" },
};

static void test_zone_queries(void **state)
{
	struct dns_resolver *r = load(zone_main);
	struct buf out = BUF_INIT(0);
	for (size_t i = 0; i < sizeof qcases / sizeof qcases[0]; i++) {
		const struct qcase *c = &qcases[i];
		struct dns_answer ans;
		enum dns_status st = dns_query(r, c->name, c->type, &ans);
		if (st != c->st || ans.status != st)
			fail_msg("%s %s: got %s, want %s", c->name, dns_type_name(c->type),
				 dns_status_name(st), dns_status_name(c->st));
		if (st == DNS_TEMPFAIL) {
			assert_non_null(ans.reason);
			assert_string_equal(ans.reason, c->expect);
		} else {
			render(&ans, &out);
			if (strcmp(buf_cstr(&out), c->expect) != 0)
				fail_msg("%s %s: got '%s', want '%s'", c->name, dns_type_name(c->type),
					 buf_cstr(&out), c->expect);
		}
		if (st != DNS_FOUND)
			assert_int_equal(ans.n, 0);
		dns_answer_free(&ans);
	}
	/* a 255-byte character-string is the maximum and loads whole */
	struct dns_answer ans;
	assert_int_equal(dns_query(r, "max255.example.com", DNS_T_TXT, &ans), DNS_FOUND);
	assert_int_equal(ans.rr[0].txt_len, 255);
	assert_int_equal(ans.rr[0].nstrings, 1);
	dns_answer_free(&ans);
	/* TXT may hold NUL bytes: length counts them */
	assert_int_equal(dns_query(r, "esc.example.com", DNS_T_TXT, &ans), DNS_FOUND);
	assert_int_equal(ans.rr[0].txt_len, 13);
	assert_memory_equal(ans.rr[0].txt, "a\"b\\c;d\0e;", 10);
	dns_answer_free(&ans);
	buf_free(&out);
	dns_resolver_free(&r);
}

static void test_ttls(void **state)
{
	static const struct { const char *name; unsigned ttl; } cases[] = {
		{ "a.example", 300 },   /* nothing stated: ZONE_DEFAULT_TTL */
		{ "b.example", 7200 },  /* explicit */
		{ "c.example", 7200 },  /* RFC 1035 5.1: last explicitly stated */
		{ "d.example", 5400 },  /* BIND units */
		{ "e.example", 86400 }, /* $TTL wins over the last stated */
		{ "f.example", 0 },
		{ "g.example", 2147483647 }, /* RFC 2181 8 maximum */
		{ "h.example", 1209600 },    /* 2w */
	};
	struct dns_resolver *r = load("a.example A 192.0.2.1\n"
				      "b.example 7200 A 192.0.2.1\n"
				      "c.example A 192.0.2.1\n"
				      "d.example 1h30M A 192.0.2.1\n"
				      "$TTL 1d\n"
				      "e.example A 192.0.2.1\n"
				      "f.example IN 0 A 192.0.2.1\n"
				      "g.example 2147483647 A 192.0.2.1\n"
				      "h.example 2w A 192.0.2.1\n");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct dns_answer ans;
		assert_int_equal(dns_query(r, cases[i].name, DNS_T_A, &ans), DNS_FOUND);
		if (ans.rr[0].ttl != cases[i].ttl)
			fail_msg("%s: ttl %u, want %u", cases[i].name, ans.rr[0].ttl, cases[i].ttl);
		dns_answer_free(&ans);
	}
	dns_resolver_free(&r);
}

/* names at the RFC 1035 2.3.4 limits: 63-octet labels, 255-octet wire names */
static void test_name_limits(void **state)
{
	char l63[64], l61[62], l62[63], zone[1024], q[300];
	memset(l63, 'a', 63);
	l63[63] = '\0';
	memset(l61, 'b', 61);
	l61[61] = '\0';
	memset(l62, 'b', 62);
	l62[62] = '\0';
	/* 3*64 + 62 + 1 = 255 octets: accepted */
	snprintf(zone, sizeof zone, "%s.%s.%s.%s. A 192.0.2.1\n", l63, l63, l63, l61);
	struct dns_resolver *r = load(zone);
	snprintf(q, sizeof q, "%s.%s.%s.%s", l63, l63, l63, l61);
	struct dns_answer ans;
	assert_int_equal(strlen(q), 253);
	assert_int_equal(dns_query(r, q, DNS_T_A, &ans), DNS_FOUND);
	dns_answer_free(&ans);
	dns_resolver_free(&r);

	/* one more octet: refused, also when the origin makes it too long */
	char err[256];
	struct dns_stub *s = dns_stub_new();
	snprintf(zone, sizeof zone, "%s.%s.%s.%s. A 192.0.2.1\n", l63, l63, l63, l62);
	assert_int_equal(dns_stub_load_text(s, zone, strlen(zone), "t", err, sizeof err), -1);
	assert_string_equal(err, "t:1: name too long (max 255 octets in wire format, RFC 1035 2.3.4)");
	dns_stub_free(&s);
	s = dns_stub_new();
	snprintf(zone, sizeof zone, "$ORIGIN %s.%s.%s.\n%s A 192.0.2.1\n", l63, l63, l63, l62);
	assert_int_equal(dns_stub_load_text(s, zone, strlen(zone), "t", err, sizeof err), -1);
	assert_string_equal(err, "t:2: name too long (max 255 octets in wire format, RFC 1035 2.3.4)");
	dns_stub_free(&s);
	/* \DDD counts as one octet */
	s = dns_stub_new();
	snprintf(zone, sizeof zone, "\\097%.63s A 192.0.2.1\n", l63);
	assert_int_equal(dns_stub_load_text(s, zone, strlen(zone), "t", err, sizeof err), -1);
	assert_string_equal(err, "t:1: label longer than 63 octets (RFC 1035 2.3.4)");
	dns_stub_free(&s);
	s = dns_stub_new();
	snprintf(zone, sizeof zone, "\\097%.62s A 192.0.2.1\n", l61);
	assert_int_equal(dns_stub_load_text(s, zone, strlen(zone), "t", err, sizeof err), 0);
	dns_stub_free(&s);
}

static const struct bad_case {
	const char *text;
	const char *err; /* the whole message */
} bad_cases[] = {
	{ "a TXT \"unterminated\n", "t:1: unterminated string" },
	{ "a TXT \"unterminated", "t:1: unterminated string" },
	{ "a TXT \"x\\", "t:1: unterminated string (escape at end of line)" },
	{ "a TXT x\\\nb A 1.2.3.4\n", "t:1: escape at end of line" },
	{ "a A 300.1.2.3\n", "t:1: bad IPv4 address '300.1.2.3'" },
	{ "a A 2001:db8::1\n", "t:1: bad IPv4 address '2001:db8::1'" },
	{ "a A \"192.0.2.1\"\n", "t:1: bad IPv4 address '192.0.2.1'" },
	{ "a AAAA 192.0.2.1\n", "t:1: bad IPv6 address '192.0.2.1'" },
	{ "a AAAA 2001:db8:::1\n", "t:1: bad IPv6 address '2001:db8:::1'" },
	{ "a SOA ns hostmaster 1 2 3 4 5\n", "t:1: unknown or unsupported type 'SOA'" },
	{ "a TYPE1 \\# 4 c0000201\n", "t:1: unknown or unsupported type 'TYPE1'" },
	{ "a \"A\" 192.0.2.1\n", "t:1: unknown or unsupported type 'A'" },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa A 1.2.3.4\n",
	  "t:1: label longer than 63 octets (RFC 1035 2.3.4)" },
	{ "a..b A 1.2.3.4\n", "t:1: empty label in name 'a..b'" },
	{ ".a A 1.2.3.4\n", "t:1: empty label in name '.a'" },
	{ "a\\000b A 1.2.3.4\n", "t:1: NUL byte (\\000) in a name is not supported" },
	{ "\"quoted\" A 1.2.3.4\n", "t:1: a name cannot be a quoted string: \"quoted\"" },
	{ "a TXT \"\\256\"\n", "t:1: bad escape \\256: more than 255" },
	{ "a TXT \"\\999\"\n", "t:1: bad escape \\999: more than 255" },
	{ "a TXT \"\\12\"\n", "t:1: bad escape: \\DDD needs three decimal digits" },
	{ "a TXT \\1x2\n", "t:1: bad escape: \\DDD needs three decimal digits" },
	{ "a\\25 A 1.2.3.4\n", "t:1: bad escape: \\DDD needs three decimal digits" },
	{ "a ( A 1.2.3.4\n", "t:1: unbalanced parentheses: '(' not closed" },
	{ "a A 1.2.3.4 )\n", "t:1: unbalanced parentheses: ')' without '('" },
	{ "a ( ( A 1.2.3.4 ) )\n", "t:1: nested parentheses" },
	{ "a 2147483648 A 1.2.3.4\n", "t:1: TTL overflow (max 2147483647, RFC 2181 8)" },
	{ "$TTL 99999999999999999999999\n", "t:1: TTL overflow (max 2147483647, RFC 2181 8)" },
	{ "a 3000000w A 1.2.3.4\n", "t:1: TTL overflow (max 2147483647, RFC 2181 8)" },
	{ "a 68y A 1.2.3.4\n", "t:1: bad TTL '68y'" },
	{ "a 1hh A 1.2.3.4\n", "t:1: bad TTL '1hh'" },
	{ "a MX 10\n", "t:1: missing rdata for MX" },
	{ "a MX mx 10\n", "t:1: bad MX preference 'mx'" },
	{ "a MX 65536 mx\n", "t:1: MX preference over 65535" },
	{ "a A\n", "t:1: missing rdata for A" },
	{ "a TXT\n", "t:1: missing rdata for TXT" },
	{ "a CNAME\n", "t:1: missing rdata for CNAME" },
	{ "a\n", "t:1: missing type" },
	{ "a 300 IN\n", "t:1: missing type" },
	{ "a A 1.2.3.4 5.6.7.8\n", "t:1: too many rdata fields for A" },
	{ "a CNAME b c\n", "t:1: too many rdata fields for CNAME" },
	{ "a TIMEOUT now\n", "t:1: too many rdata fields for TIMEOUT" },
	{ "  A 1.2.3.4\n", "t:1: record without an owner name (line starts with white space)" },
	{ "$INCLUDE /etc/passwd\n", "t:1: unsupported directive $INCLUDE" },
	{ "$GENERATE 1-100 a$ A 1.2.3.4\n", "t:1: unsupported directive $GENERATE" },
	{ "$ORIGIN\n", "t:1: $ORIGIN needs exactly one name" },
	{ "$ORIGIN a b\n", "t:1: $ORIGIN needs exactly one name" },
	{ "$TTL\n", "t:1: $TTL needs exactly one value" },
	{ "a CH A 1.2.3.4\n", "t:1: unsupported class CH (only IN)" },
	{ "a IN IN A 1.2.3.4\n", "t:1: unknown or unsupported type 'IN'" },
	/* line numbers: the line of the bad field, counting blank and comment lines */
	{ "ok A 192.0.2.1\n\n; comment\nbad A x\n", "t:4: bad IPv4 address 'x'" },
	{ "a TXT ( \"x\"\n \"y\n", "t:2: unterminated string" },
	{ "a TXT ( \"x\"\n\n\n", "t:1: unbalanced parentheses: '(' not closed" },
	{ "a MX (\n 10\n )\n", "t:1: missing rdata for MX" },
	{ "a MX (\n 10\n mx extra )\n", "t:3: too many rdata fields for MX" },
	/* unprintable bytes are shown as '?' */
	{ "a \x01\xff A\n", "t:1: unknown or unsupported type '?\?'" },
};

static void test_bad_zones(void **state)
{
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		char err[256];
		struct dns_stub *s = dns_stub_new();
		int rc = dns_stub_load_text(s, bad_cases[i].text, strlen(bad_cases[i].text), "t", err, sizeof err);
		if (rc != -1)
			fail_msg("case %zu (%s): loaded, want error '%s'", i, bad_cases[i].text, bad_cases[i].err);
		if (strcmp(err, bad_cases[i].err) != 0)
			fail_msg("case %zu: error '%s', want '%s'", i, err, bad_cases[i].err);
		dns_stub_free(&s);
	}
}

/* the length limits of TXT records and of one record's fields */
static void test_txt_limits(void **state)
{
	struct buf z = BUF_INIT(0);
	char err[256];
	struct dns_stub *s;

	/* 256 bytes in one string */
	buf_puts(&z, "a TXT \"");
	for (int i = 0; i < 256; i++)
		buf_putc(&z, 'x');
	buf_puts(&z, "\"\n");
	s = dns_stub_new();
	assert_int_equal(dns_stub_load_text(s, z.data, z.len, "t", err, sizeof err), -1);
	assert_string_equal(err, "t:1: string longer than 255 bytes (RFC 1035 3.3)");
	dns_stub_free(&s);

	/* 255 escaped bytes are 255 bytes, not 1020 */
	buf_reset(&z);
	buf_puts(&z, "a TXT \"");
	for (int i = 0; i < 255; i++)
		buf_puts(&z, "\\255");
	buf_puts(&z, "\"\n");
	s = dns_stub_new();
	assert_int_equal(dns_stub_load_text(s, z.data, z.len, "t", err, sizeof err), 0);
	dns_stub_free(&s);

	/* 257 strings of 255 bytes overflow the 16-bit RDLENGTH (257*256 > 65535) */
	buf_reset(&z);
	buf_puts(&z, "a TXT (\n");
	for (int k = 0; k < 257; k++) {
		buf_putc(&z, '"');
		for (int i = 0; i < 255; i++)
			buf_putc(&z, 'y');
		buf_puts(&z, "\"\n");
	}
	buf_puts(&z, ")\n");
	s = dns_stub_new();
	assert_int_equal(dns_stub_load_text(s, z.data, z.len, "t", err, sizeof err), -1);
	assert_string_equal(err, "t:257: TXT record longer than 65535 octets (RFC 1035 3.2.1)");
	dns_stub_free(&s);

	/* 255 such strings fit */
	buf_reset(&z);
	buf_puts(&z, "a TXT (\n");
	for (int k = 0; k < 255; k++) {
		buf_putc(&z, '"');
		for (int i = 0; i < 255; i++)
			buf_putc(&z, 'y');
		buf_puts(&z, "\"\n");
	}
	buf_puts(&z, ")\n");
	s = dns_stub_new();
	assert_int_equal(dns_stub_load_text(s, z.data, z.len, "t", err, sizeof err), 0);
	struct dns_resolver *r = dns_stub_resolver(s);
	struct dns_answer ans;
	assert_int_equal(dns_query(r, "a", DNS_T_TXT, &ans), DNS_FOUND);
	assert_int_equal(ans.rr[0].txt_len, 255 * 255);
	assert_int_equal(ans.rr[0].nstrings, 255);
	dns_answer_free(&ans);
	dns_resolver_free(&r);

	/* too many fields in one record */
	buf_reset(&z);
	buf_puts(&z, "a TXT");
	for (int k = 0; k < 5000; k++)
		buf_puts(&z, " x");
	buf_puts(&z, "\n");
	s = dns_stub_new();
	assert_int_equal(dns_stub_load_text(s, z.data, z.len, "t", err, sizeof err), -1);
	assert_string_equal(err, "t:1: too many fields in one record (max 4096)");
	dns_stub_free(&s);

	/* a physical line over the limit */
	buf_reset(&z);
	buf_puts(&z, "a TXT x ;");
	for (int k = 0; k < 70000; k++)
		buf_putc(&z, 'c');
	buf_puts(&z, "\nb A 1.2.3.4\n");
	s = dns_stub_new();
	assert_int_equal(dns_stub_load_text(s, z.data, z.len, "t", err, sizeof err), -1);
	assert_string_equal(err, "t:1: line too long (max 65536 bytes)");
	dns_stub_free(&s);

	/* the same for one huge field on a last line without a newline */
	buf_reset(&z);
	buf_puts(&z, "a A 192.0.2.1\nb TXT ");
	for (int k = 0; k < 70000; k++)
		buf_putc(&z, 'w');
	s = dns_stub_new();
	assert_int_equal(dns_stub_load_text(s, z.data, z.len, "t", err, sizeof err), -1);
	assert_string_equal(err, "t:2: line too long (max 65536 bytes)");
	dns_stub_free(&s);
	buf_free(&z);
}

/* no $ORIGIN: names are taken as absolute; an empty zone is fine */
static void test_no_origin(void **state)
{
	struct dns_resolver *r = load("example.org TXT \"v=spf1 -all\"\n"
				      "mx.example.org. A 192.0.2.1\n"
				      "example.org MX 5 mx.example.org\n");
	struct buf out = BUF_INIT(0);
	struct dns_answer ans;
	assert_int_equal(dns_query(r, "example.org", DNS_T_TXT, &ans), DNS_FOUND);
	render(&ans, &out);
	assert_string_equal(buf_cstr(&out), "v=spf1 -all/1");
	dns_answer_free(&ans);
	assert_int_equal(dns_query(r, "example.org", DNS_T_MX, &ans), DNS_FOUND);
	render(&ans, &out);
	assert_string_equal(buf_cstr(&out), "5 mx.example.org");
	dns_answer_free(&ans);
	assert_int_equal(dns_query(r, "mx.example.org", DNS_T_A, &ans), DNS_FOUND);
	dns_answer_free(&ans);
	buf_free(&out);
	dns_resolver_free(&r);

	char err[64] = "unchanged";
	struct dns_stub *s = dns_stub_new();
	assert_int_equal(dns_stub_load_text(s, "", 0, "t", err, sizeof err), 0);
	assert_int_equal(dns_stub_load_text(s, "; only a comment\n\n   \n", 22, "t", err, sizeof err), 0);
	assert_string_equal(err, "");
	dns_stub_free(&s);
}

/* a small error buffer truncates the message and never overflows */
static void test_small_errbuf(void **state)
{
	char err[8];
	memset(err, 'Z', sizeof err);
	struct dns_stub *s = dns_stub_new();
	assert_int_equal(dns_stub_load_text(s, "a A x\n", 6, "zone", err, sizeof err), -1);
	assert_string_equal(err, "zone:1:");
	/* errlen 0: nothing written */
	assert_int_equal(dns_stub_load_text(s, "a A x\n", 6, "zone", NULL, 0), -1);
	dns_stub_free(&s);
}

static void test_load_file(void **state)
{
	char err[512];
	struct dns_stub *s = dns_stub_new();
	if (dns_stub_load_file(s, MAMORI_TESTDATA "/zones/basic.zone", err, sizeof err) != 0)
		fail_msg("%s", err);
	struct dns_resolver *r = dns_stub_resolver(s);
	static const struct qcase cases[] = {
		{ "example.com", DNS_T_A, DNS_FOUND, "192.0.2.1" },
		{ "example.com", DNS_T_MX, DNS_FOUND, "10 mail.example.com | 20 mail.other.net" },
		{ "alias.example.com", DNS_T_AAAA, DNS_FOUND, "2001:db8::1" },
		{ "_dmarc.example.com", DNS_T_TXT, DNS_FOUND,
		  "v=DMARC1; p=reject; rua=mailto:dmarc@example.com/2" },
		{ "sel._domainkey.example.com", DNS_T_TXT, DNS_FOUND,
		  "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ/2" },
		{ "_domainkey.example.com", DNS_T_TXT, DNS_NODATA, "" },
		{ "slow.example.com", DNS_T_TXT, DNS_TEMPFAIL, "timeout" },
		{ "broken.example.com", DNS_T_A, DNS_TEMPFAIL, "SERVFAIL" },
		{ "b.deep.example.com", DNS_T_A, DNS_NODATA, "" },
		{ "nullmx.example.com", DNS_T_MX, DNS_FOUND, "0 " },
		{ "1.2.0.192.in-addr.arpa", DNS_T_PTR, DNS_FOUND, "example.com" },
	};
	struct buf out = BUF_INIT(0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct dns_answer ans;
		enum dns_status st = dns_query(r, cases[i].name, cases[i].type, &ans);
		if (st != cases[i].st)
			fail_msg("%s: got %s", cases[i].name, dns_status_name(st));
		if (st == DNS_TEMPFAIL) {
			assert_string_equal(ans.reason, cases[i].expect);
		} else {
			render(&ans, &out);
			if (strcmp(buf_cstr(&out), cases[i].expect) != 0)
				fail_msg("%s: got '%s', want '%s'", cases[i].name, buf_cstr(&out), cases[i].expect);
		}
		dns_answer_free(&ans);
	}
	buf_free(&out);
	dns_resolver_free(&r);

	s = dns_stub_new();
	assert_int_equal(dns_stub_load_file(s, MAMORI_TESTDATA "/zones/bad_ip.zone", err, sizeof err), -1);
	assert_string_equal(err, MAMORI_TESTDATA "/zones/bad_ip.zone:4: bad IPv4 address '192.0.2.300'");
	assert_int_equal(dns_stub_load_file(s, MAMORI_TESTDATA "/zones/missing.zone", err, sizeof err), -1);
	assert_non_null(strstr(err, "missing.zone: cannot open: "));
	assert_int_equal(dns_stub_load_file(s, MAMORI_TESTDATA "/zones", err, sizeof err), -1);
	assert_non_null(strstr(err, "not a regular file"));
	dns_stub_free(&s);
}

/* the unbound backend refuses bad options without touching the network */
static void test_unbound_bad_opts(void **state)
{
	char err[256];
	const char *const bad_fwd[] = { "not-an-ip", NULL };
	struct dns_unbound_opts o = { .forwarders = bad_fwd };
	assert_null(dns_unbound_new(&o, err, sizeof err));
	assert_non_null(strstr(err, "forwarder 'not-an-ip'"));

	const char *const fwd[] = { "127.0.0.1@5353", NULL };
	struct dns_unbound_opts o2 = { .forwarders = fwd, .trust_anchor_file = "/nonexistent/root.key" };
	assert_null(dns_unbound_new(&o2, err, sizeof err));
	assert_non_null(strstr(err, "trust anchor"));

	/* a readable but broken trust anchor is found at start-up, not at the
	   first query */
	char ta[] = "/tmp/test_dns_ta_XXXXXX";
	int fd = mkstemp(ta);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "this is not a key\n", 18), 18);
	close(fd);
	struct dns_unbound_opts o6 = { .forwarders = fwd, .trust_anchor_file = ta };
	assert_null(dns_unbound_new(&o6, err, sizeof err));
	unlink(ta);
	assert_non_null(strstr(err, "bad configuration"));

	const char *const zones[] = { "te st.", NULL };
	struct dns_unbound_opts o3 = { .forwarders = fwd, .nodefault_zones = zones };
	assert_null(dns_unbound_new(&o3, err, sizeof err));
	assert_non_null(strstr(err, "nodefault"));

	struct dns_unbound_opts o4 = { .resolv_conf = "/nonexistent/resolv.conf" };
	assert_null(dns_unbound_new(&o4, err, sizeof err));
	assert_non_null(strstr(err, "resolv.conf"));

	/* good options build a resolver; it is not queried here */
	const char *const ok_zones[] = { "test.", "invalid.", NULL };
	struct dns_unbound_opts o5 = { .forwarders = fwd, .nodefault_zones = ok_zones, .timeout_ms = 100 };
	struct dns_resolver *r = dns_unbound_new(&o5, err, sizeof err);
	if (!r)
		fail_msg("%s", err);
	struct dns_answer ans;
	/* an invalid name never reaches the backend */
	assert_int_equal(dns_query(r, "a..b", DNS_T_A, &ans), DNS_CONFIG_ERROR);
	dns_answer_free(&ans);
	dns_resolver_free(&r);
	assert_null(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zone_queries),
		cmocka_unit_test(test_ttls),
		cmocka_unit_test(test_name_limits),
		cmocka_unit_test(test_bad_zones),
		cmocka_unit_test(test_txt_limits),
		cmocka_unit_test(test_no_origin),
		cmocka_unit_test(test_small_errbuf),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_unbound_bad_opts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
