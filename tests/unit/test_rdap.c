/* unit tests for src/dmarc/rdap: the RDAP ip-network parser over recorded
   answers in tests/data/rdap/ (RIPE, ARIN, APNIC, LACNIC shapes), hostile
   JSON, address validation, bootstrap longest-prefix matching, and the
   client's cache path (no network needed: the servers are unreachable). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "dmarc/rdap.h"

static char *slurp(const char *name, size_t *len_r)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/rdap/%s", MAMORI_TESTDATA, name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	struct buf b = BUF_INIT(0);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		assert_int_equal(buf_append(&b, chunk, n), 0);
	fclose(f);
	return buf_steal(&b, len_r);
}

/* ---- recorded answers ---- */

struct answer_case {
	const char *file;
	int rc;
	const char *handle, *name, *country, *cidr, *email, *from;
	const char *err_has; /* for rc -1 */
};

static const struct answer_case answers[] = {
	/* abuse role nested in the registrant org entity */
	{ "ripe-192.0.2.0-24.json", 0, "192.0.2.0 - 192.0.2.255", "EXAMPLE-HOSTING-NET", "NL", "192.0.2.0/24",
	  "Abuse@hosting.example.nl", "entity", NULL },
	/* abuse entity at the top; its first "email" is not an address */
	{ "arin-198.51.100.0-24.json", 0, "NET-198-51-100-0-1", "BULKMAIL-CLOUD", "", "198.51.100.0/24",
	  "abuse-reports@bulkmail-cloud.example.com", "entity", NULL },
	/* no abuse entity: a remark labels the address (and a NOC address before it is not taken) */
	{ "apnic-203.0.113.0-24.json", 0, "203.0.113.0 - 203.0.113.255", "PACIFIC-VPS-AP", "AU", "203.0.113.0/24",
	  "abuse@pacific-vps.example.net", "remarks", NULL },
	/* addresses of other roles and an unlabelled remark are not an abuse contact */
	{ "lacnic-noabuse.json", 0, "192.0.2.128/26", "EXEMPLO-TELECOM", "BR", "192.0.2.128/26", "", "", NULL },
	/* IPv6 with "/32" appended to start/endAddress, mailto: in the jCard */
	{ "ripe-2001-db8-32.json", 0, "2001:db8::/32", "DOC-V6-HOSTING", "DE", "2001:db8::/32",
	  "abuse@v6hosting.example.de", "entity", NULL },
	{ "error-404.json", -1, NULL, NULL, NULL, NULL, NULL, NULL, "errorCode 404: Not Found" },
	{ "malformed.json", -1, NULL, NULL, NULL, NULL, NULL, NULL, "not valid JSON" },
	{ "domain-object.json", -1, NULL, NULL, NULL, NULL, NULL, NULL, "objectClassName is \"domain\"" },
};

static void test_recorded_answers(void **state)
{
	for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
		const struct answer_case *c = &answers[i];
		size_t len;
		char *json = slurp(c->file, &len);
		struct rdap_network net;
		char err[256] = "";
		int rc = rdap_parse_ip(json, len, &net, err, sizeof err);
		print_message("%s: rc %d %s\n", c->file, rc, err);
		assert_int_equal(rc, c->rc);
		if (rc == 0) {
			assert_string_equal(net.handle, c->handle);
			assert_string_equal(net.name, c->name);
			assert_string_equal(net.country, c->country);
			assert_string_equal(net.cidr, c->cidr);
			assert_string_equal(net.abuse_email, c->email);
			assert_string_equal(net.abuse_from, c->from);
			assert_true(net.have_range);
		} else {
			assert_non_null(strstr(err, c->err_has));
		}
		free(json);
	}
}

static void test_range_contains(void **state)
{
	size_t len;
	char *json = slurp("lacnic-noabuse.json", &len);
	struct rdap_network net;
	char err[256];
	assert_int_equal(rdap_parse_ip(json, len, &net, err, sizeof err), 0);
	free(json);
	static const struct {
		const char *ip;
		bool in;
	} t[] = { { "192.0.2.128", true }, { "192.0.2.191", true }, { "192.0.2.150", true }, { "192.0.2.127", false },
		  { "192.0.2.192", false }, { "::ffff:192.0.2.130", true }, { "2001:db8::1", false } };
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct ipaddr ip;
		assert_int_equal(ip_parse(t[i].ip, &ip), 0);
		assert_int_equal(rdap_network_contains(&net, &ip), t[i].in);
	}
}

/* ---- hostile JSON ---- */

static int parse_str(const char *json, struct rdap_network *net, char *err, size_t errlen)
{
	return rdap_parse_ip(json, strlen(json), net, err, errlen);
}

static void test_deep_and_huge(void **state)
{
	struct rdap_network net;
	char err[256];
	/* 200000 nested arrays: refused by the parser's depth limit, no stack overflow */
	size_t depth = 200000;
	char *deep = xmalloc(depth * 2 + 1);
	memset(deep, '[', depth);
	memset(deep + depth, ']', depth);
	deep[depth * 2] = '\0';
	assert_int_equal(parse_str(deep, &net, err, sizeof err), -1);
	assert_non_null(strstr(err, "not valid JSON"));
	free(deep);

	/* more than RDAP_MAX_BODY bytes is refused before parsing */
	size_t big = RDAP_MAX_BODY + 100;
	char *huge = xmalloc(big + 1);
	memset(huge, ' ', big);
	memcpy(huge, "{\"objectClassName\":\"ip network\"}", 32);
	huge[big] = '\0';
	assert_int_equal(rdap_parse_ip(huge, big, &net, err, sizeof err), -1);
	assert_non_null(strstr(err, "larger than"));
	free(huge);
}

/* entities nested n deep, the abuse role only on the innermost */
static char *nested_entities(unsigned n)
{
	struct buf b = BUF_INIT(0);
	buf_puts(&b, "{\"objectClassName\":\"ip network\",\"handle\":\"N\",\"entities\":[");
	for (unsigned i = 1; i < n; i++)
		buf_printf(&b, "{\"roles\":[\"registrant\"],\"handle\":\"E%u\",\"entities\":[", i);
	buf_puts(&b, "{\"roles\":[\"abuse\"],\"vcardArray\":[\"vcard\",[[\"email\",{},\"text\",\"deep@abuse.example\"]]]}");
	for (unsigned i = 1; i < n; i++)
		buf_puts(&b, "]}");
	buf_puts(&b, "]}");
	return buf_steal(&b, NULL);
}

static void test_entity_bounds(void **state)
{
	struct rdap_network net;
	char err[256];
	char *j = nested_entities(RDAP_MAX_ENTITY_DEPTH);
	assert_int_equal(parse_str(j, &net, err, sizeof err), 0);
	assert_string_equal(net.abuse_email, "deep@abuse.example");
	free(j);
	j = nested_entities(RDAP_MAX_ENTITY_DEPTH + 1);
	assert_int_equal(parse_str(j, &net, err, sizeof err), 0);
	assert_string_equal(net.abuse_email, "");
	free(j);

	/* many siblings before the abuse entity: the walk stops at RDAP_MAX_ENTITIES */
	struct buf b = BUF_INIT(0);
	buf_puts(&b, "{\"objectClassName\":\"ip network\",\"entities\":[");
	for (unsigned i = 0; i < RDAP_MAX_ENTITIES + 10; i++)
		buf_puts(&b, "{\"roles\":[\"technical\"]},");
	buf_puts(&b, "{\"roles\":[\"abuse\"],\"vcardArray\":[\"vcard\",[[\"email\",{},\"text\",\"late@abuse.example\"]]]}]}");
	assert_int_equal(parse_str(buf_cstr(&b), &net, err, sizeof err), 0);
	assert_string_equal(net.abuse_email, "");
	buf_free(&b);
}

struct hostile_case {
	const char *name;
	const char *json;
	int rc;
	const char *email;
	const char *handle;
};

static const struct hostile_case hostile[] = {
	{ "CRLF in the jCard email",
	  "{\"objectClassName\":\"ip network\",\"entities\":[{\"roles\":[\"abuse\"],\"vcardArray\":[\"vcard\",[[\"email\",{},"
	  "\"text\",\"abuse@x.example\\r\\nBcc: victim@y.example\"]]]}]}",
	  0, "", "" },
	{ "controls in handle become spaces",
	  "{\"objectClassName\":\"ip network\",\"handle\":\"NET\\r\\nX-Evil: 1\\u0007\"}", 0, "", "NET  X-Evil: 1 " },
	{ "NUL in a string refused", "{\"objectClassName\":\"ip network\",\"handle\":\"a\\u0000b\"}", -1, NULL, NULL },
	{ "wrong types everywhere",
	  "{\"objectClassName\":\"ip network\",\"handle\":5,\"name\":[],\"entities\":{\"a\":1},\"remarks\":\"x\","
	  "\"startAddress\":1,\"cidr0_cidrs\":[{\"v4prefix\":\"1.2.3.4\",\"length\":99}]}",
	  0, "", "" },
	{ "vcard not a vcard",
	  "{\"objectClassName\":\"ip network\",\"entities\":[{\"roles\":[\"abuse\"],\"vcardArray\":[\"xcard\",[[\"email\","
	  "{},\"text\",\"a@b.example\"]]]},{\"roles\":\"abuse\"},{\"roles\":[\"abuse\"],\"vcardArray\":[\"vcard\",[[]]]}]}",
	  0, "", "" },
	{ "remark without the word abuse before the address",
	  "{\"objectClassName\":\"ip network\",\"remarks\":[{\"description\":[\"mail abuse@x.example if in doubt\"]}]}", 0,
	  "", "" },
	{ "remark title says abuse", "{\"objectClassName\":\"ip network\",\"remarks\":[{\"title\":\"Abuse contact\","
	  "\"description\":[\"<mailto:abuse@x.example>\"]}]}", 0, "abuse@x.example", "" },
	{ "role case-insensitive, IP-literal domain refused",
	  "{\"objectClassName\":\"ip network\",\"entities\":[{\"roles\":[\"ABUSE\"],\"vcardArray\":[\"vcard\",[[\"EMAIL\","
	  "{},\"text\",\"a@192.0.2.1\"],[\"email\",{},\"text\",\"a@ok.example\"]]]}]}",
	  0, "a@ok.example", "" },
	{ "duplicate keys refused", "{\"objectClassName\":\"ip network\",\"objectClassName\":\"domain\"}", -1, NULL, NULL },
	{ "not an object", "[1,2,3]", -1, NULL, NULL },
	{ "empty", "", -1, NULL, NULL },
	{ "start after end ignored, cidr0 used",
	  "{\"objectClassName\":\"ip network\",\"startAddress\":\"10.0.0.9\",\"endAddress\":\"10.0.0.1\","
	  "\"cidr0_cidrs\":[{\"v4prefix\":\"10.0.0.0\",\"length\":8}]}",
	  0, "", "" },
};

static void test_hostile(void **state)
{
	for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
		const struct hostile_case *c = &hostile[i];
		struct rdap_network net;
		char err[256] = "";
		int rc = parse_str(c->json, &net, err, sizeof err);
		print_message("%s: rc %d %s\n", c->name, rc, err);
		assert_int_equal(rc, c->rc);
		if (rc == 0) {
			assert_string_equal(net.abuse_email, c->email);
			assert_string_equal(net.handle, c->handle);
		} else {
			assert_true(err[0] != '\0');
		}
	}
	/* the last case: the range comes from cidr0 */
	struct rdap_network net;
	char err[256];
	assert_int_equal(parse_str(hostile[sizeof hostile / sizeof hostile[0] - 1].json, &net, err, sizeof err), 0);
	assert_string_equal(net.cidr, "10.0.0.0/8");
}

static void test_email_valid(void **state)
{
	static const struct {
		const char *s;
		bool ok;
	} t[] = {
		{ "abuse@example.net", true },     { "a.b+c@sub.example.co.uk", true }, { "abuse@localhost", false },
		{ "@example.net", false },         { "abuse@", false },                 { "a..b@example.net", false },
		{ ".a@example.net", false },       { "a@-x.example", false },           { "a@x-.example", false },
		{ "a@x..example", false },         { "a b@example.net", false },        { "a@example.net\r\n", false },
		{ "\"q\"@example.net", false },    { "a@1.2.3.4", false },              { "a@[1.2.3.4]", false },
		{ "a@b@example.net", false },      { "ab\xc3\xa9@example.net", false }, { "", false },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		print_message("%s\n", t[i].s);
		assert_int_equal(rdap_email_valid(t[i].s), t[i].ok);
	}
}

/* ---- bootstrap ---- */

/* the test copies name their servers "@BASE@": make them real URLs */
static char *bootstrap_file(const char *name, const char *base)
{
	size_t len;
	char *raw = slurp(name, &len);
	struct buf b = BUF_INIT(0);
	for (const char *p = raw; *p;) {
		const char *m = strstr(p, "@BASE@");
		if (m == NULL) {
			buf_puts(&b, p);
			break;
		}
		buf_append(&b, p, (size_t)(m - p));
		buf_puts(&b, base);
		p = m + 6;
	}
	free(raw);
	return buf_steal(&b, NULL);
}

static void test_bootstrap(void **state)
{
	struct rdap_bootstrap *bs = NULL;
	char err[256];
	char *v4 = bootstrap_file("bootstrap/ipv4.json", "https://rdap.test/");
	char *v6 = bootstrap_file("bootstrap/ipv6.json", "https://rdap.test/");
	assert_int_equal(rdap_bootstrap_add(&bs, v4, strlen(v4), false, err, sizeof err), 0);
	assert_int_equal(rdap_bootstrap_add(&bs, v6, strlen(v6), false, err, sizeof err), 0);
	free(v4);
	free(v6);
	static const struct {
		const char *ip;
		const char *url; /* NULL: no service */
	} t[] = {
		{ "192.0.2.77", "https://rdap.test/ripe/" },
		{ "203.0.113.9", "https://rdap.test/apnic/" },  /* /22 beats the /8 */
		{ "203.0.116.1", "https://rdap.test/arin/" },   /* just outside the /22 */
		{ "203.0.112.0", "https://rdap.test/apnic/" },
		{ "198.51.100.23", "https://rdap.test/arin/" },
		{ "100.64.1.1", NULL },                         /* only an ftp:// server */
		{ "10.0.0.1", NULL },
		{ "::ffff:192.0.2.1", "https://rdap.test/ripe/" },
		{ "2001:db8::1", "https://rdap.test/ripe/" },
		{ "2001:db8:8000::1", "https://rdap.test/apnic/" }, /* /33 beats the /32 */
		{ "2001:db8:7fff::1", "https://rdap.test/ripe/" },
		{ "2600:1::1", "https://rdap.test/arin/" },
		{ "2a00::1", NULL },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct ipaddr ip;
		char url[256];
		assert_int_equal(ip_parse(t[i].ip, &ip), 0);
		int rc = rdap_bootstrap_lookup(bs, &ip, url, sizeof url);
		print_message("%s -> %s\n", t[i].ip, rc == 0 ? url : "(none)");
		if (t[i].url == NULL) {
			assert_int_equal(rc, -1);
		} else {
			assert_int_equal(rc, 0);
			assert_string_equal(url, t[i].url);
		}
	}
	/* a URL that does not fit is refused, not truncated */
	struct ipaddr ip;
	char small[8];
	assert_int_equal(ip_parse("192.0.2.1", &ip), 0);
	assert_int_equal(rdap_bootstrap_lookup(bs, &ip, small, sizeof small), -1);
	rdap_bootstrap_free(&bs);
	assert_null(bs);
}

static void test_bootstrap_http_and_bad(void **state)
{
	struct rdap_bootstrap *bs = NULL;
	char err[256];
	const char *http = "{\"services\":[[[\"192.0.2.0/24\"],[\"http://plain.test\"]]]}";
	assert_int_equal(rdap_bootstrap_add(&bs, http, strlen(http), false, err, sizeof err), -1);
	assert_non_null(strstr(err, "no usable service"));
	assert_int_equal(rdap_bootstrap_add(&bs, http, strlen(http), true, err, sizeof err), 0);
	struct ipaddr ip;
	char url[256];
	assert_int_equal(ip_parse("192.0.2.9", &ip), 0);
	assert_int_equal(rdap_bootstrap_lookup(bs, &ip, url, sizeof url), 0);
	assert_string_equal(url, "http://plain.test/"); /* "/" appended */
	rdap_bootstrap_free(&bs);

	static const char *const bad[] = {
		"", "{", "[]", "{\"services\":{}}", "{\"services\":[[\"x\"]]}",
		"{\"services\":[[[\"not-a-cidr\",\"1.2.3.4\"],[\"https://a.test/\"]]]}",
		"{\"services\":[[[\"1.0.0.0/8\"],[\"https://with space.test/\"]]]}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(rdap_bootstrap_add(&bs, bad[i], strlen(bad[i]), true, err, sizeof err), -1);
		assert_true(err[0] != '\0');
	}
	rdap_bootstrap_free(&bs);
}

/* ---- the client's cache path (servers unreachable on purpose) ---- */

struct fake_cache {
	const char *key[4];
	const char *value[4];
	int64_t expires[4];
	unsigned gets, puts;
};

static int fc_get(void *ctx, const char *key, int64_t now, char **value_r)
{
	struct fake_cache *fc = ctx;
	fc->gets++;
	for (int i = 0; i < 4; i++)
		if (fc->key[i] && strcmp(fc->key[i], key) == 0 && fc->expires[i] > now) {
			*value_r = xstrdup(fc->value[i]);
			return 0;
		}
	return 1;
}

static int fc_put(void *ctx, const char *key, const char *value, int64_t expires)
{
	((struct fake_cache *)ctx)->puts++;
	return 0;
}

static void test_client_cache(void **state)
{
	struct fake_cache fc = {
		.key = { "rdap:ip:192.0.2.5", "rdap:ip:198.51.100.7", "rdap:ip:192.0.2.6" },
		.value = {
			"{\"handle\":\"H\",\"name\":\"N\",\"country\":\"NL\",\"cidr\":\"192.0.2.0/25\",\"start\":\"192.0.2.0\","
			"\"end\":\"192.0.2.127\",\"email\":\"abuse@cached.example\",\"from\":\"entity\",\"server\":\"s\"}",
			"{\"handle\":\"H2\",\"email\":\"\",\"start\":\"\",\"end\":\"\"}",
			"{\"handle\":\"H3\",\"email\":\"bad\\r\\naddress@x.example\"}", /* a corrupt entry */
		},
		.expires = { 2000, 2000, 2000 },
	};
	struct rdap_cache_ops ops = { fc_get, fc_put, &fc };
	/* port 1 on loopback: nothing listens, so any HTTP is a quick refusal */
	struct rdap_client_opts o = { .bootstrap = "https://127.0.0.1:1/", .cache_days = 7, .cache = &ops };
	char err[512];
	struct rdap_client *c = rdap_client_new(&o, err, sizeof err);
	assert_non_null(c);
	struct rdap_network net;
	struct ipaddr ip;

	assert_int_equal(ip_parse("192.0.2.5", &ip), 0);
	assert_int_equal(rdap_lookup(c, &ip, 1000, &net, err, sizeof err), RDAP_FOUND);
	assert_string_equal(net.abuse_email, "abuse@cached.example");
	assert_string_equal(net.handle, "H");
	assert_string_equal(net.cidr, "192.0.2.0/25");
	assert_true(net.have_range);

	/* the IPv4-mapped form finds the same entry */
	assert_int_equal(ip_parse("::ffff:192.0.2.5", &ip), 0);
	assert_int_equal(rdap_lookup(c, &ip, 1000, &net, err, sizeof err), RDAP_FOUND);
	assert_string_equal(net.handle, "H");

	/* a cached answer without a contact */
	assert_int_equal(ip_parse("198.51.100.7", &ip), 0);
	assert_int_equal(rdap_lookup(c, &ip, 1000, &net, err, sizeof err), RDAP_FOUND);
	assert_string_equal(net.handle, "H2");
	assert_string_equal(net.abuse_email, "");

	/* a neighbour in the same network is not answered from the cache (it
	   may sit in a more specific network): it goes to the network, which
	   is down: a temporary failure, never "no contact" */
	assert_int_equal(ip_parse("192.0.2.7", &ip), 0);
	assert_int_equal(rdap_lookup(c, &ip, 1000, &net, err, sizeof err), RDAP_TEMPFAIL);
	print_message("%s\n", err);
	assert_non_null(strstr(err, "ipv4.json"));

	/* a corrupt entry is ignored */
	assert_int_equal(ip_parse("192.0.2.6", &ip), 0);
	assert_int_equal(rdap_lookup(c, &ip, 1000, &net, err, sizeof err), RDAP_TEMPFAIL);

	/* expired entries are not used */
	assert_int_equal(ip_parse("192.0.2.5", &ip), 0);
	assert_int_equal(rdap_lookup(c, &ip, 5000, &net, err, sizeof err), RDAP_TEMPFAIL);
	assert_int_equal(fc.puts, 0);
	rdap_client_free(&c);
	assert_null(c);

	/* only https (or http for tests) bootstrap URLs */
	o.bootstrap = "ftp://x.test/";
	assert_null(rdap_client_new(&o, err, sizeof err));
	assert_non_null(strstr(err, "https://"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorded_answers), cmocka_unit_test(test_range_contains),
		cmocka_unit_test(test_deep_and_huge),    cmocka_unit_test(test_entity_bounds),
		cmocka_unit_test(test_hostile),          cmocka_unit_test(test_email_valid),
		cmocka_unit_test(test_bootstrap),        cmocka_unit_test(test_bootstrap_http_and_bad),
		cmocka_unit_test(test_client_cache),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
