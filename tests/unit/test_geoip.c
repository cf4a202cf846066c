/* test_geoip: country and ASN look-ups in the MaxMind test databases, and
   clean errors (never crashes) on the corrupt ones */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "core/geoip.h"

#define TD MAMORI_CORPUS "/mmdb-test/test-data/"
#define BAD MAMORI_CORPUS "/mmdb-test/bad-data/"

#define A TD "GeoLite2-ASN-Test.mmdb"

static void test_country_and_asn(void **state)
{
	(void)state;
	static const struct {
		const char *country_db, *asn_db, *ip;
		int ret;
		const char *iso, *name;
		uint32_t asn;
		const char *org;
	} cases[] = {
		/* GeoLite2-Country-Test.json: 81.2.69.142/31 GB; 2001:218::/32 JP */
		{ "GeoLite2-Country-Test.mmdb", "", "81.2.69.142", 1, "GB", "United Kingdom", 0, "" },
		{ "GeoLite2-Country-Test.mmdb", "", "2001:218::1", 1, "JP", "Japan", 0, "" },
		/* an IPv4-mapped address is looked up as IPv4; both databases */
		{ "GeoLite2-Country-Test.mmdb", A, "::ffff:89.160.20.129", 1, "SE", "Sweden", 29518, "Bredband2 AB" },
		/* GeoLite2-ASN-Test.json: 1.0.0.0/24 AS15169 Google Inc.; not in the country db */
		{ "GeoLite2-Country-Test.mmdb", A, "1.0.0.1", 1, "", "", 15169, "Google Inc." },
		/* GeoIP2-Country-Test: IPv4 written as ::a.b.c.d in an IPv6 tree */
		{ "GeoIP2-Country-Test.mmdb", "", "216.160.83.57", 1, "US", "United States", 0, "" },
		{ "GeoIP2-Country-Test.mmdb", "", "175.16.199.1", 1, "CN", "China", 0, "" },
		/* in neither database */
		{ "GeoIP2-Country-Test.mmdb", A, "192.0.2.1", 0, "", "", 0, "" },
		{ "GeoIP2-Country-Test.mmdb", A, "2001:db8::1", 0, "", "", 0, "" },
		/* ASN only; 12.81.96.0/19 has a number without an organisation */
		{ "", A, "12.81.92.1", 1, "", "", 7018, "AT&T Services" },
		{ "", A, "12.81.100.1", 1, "", "", 7018, "" },
		{ "", A, "2001:1700::5", 1, "", "", 6730, "Sunrise Communications AG" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char cdb[512] = "", err[256] = "";
		if (cases[i].country_db[0] != '\0')
			snprintf(cdb, sizeof cdb, TD "%s", cases[i].country_db);
		struct geoip *g = geoip_open(cdb, cases[i].asn_db, err, sizeof err);
		if (g == NULL)
			fail_msg("case %zu: %s", i, err);
		assert_true(geoip_enabled(g));
		struct ipaddr ip;
		assert_int_equal(ip_parse(cases[i].ip, &ip), 0);
		struct geoip_result r;
		int ret = geoip_lookup(g, &ip, &r);
		if (ret != cases[i].ret || strcmp(r.country_iso, cases[i].iso) != 0 ||
		    strcmp(r.country_name, cases[i].name) != 0 || r.asn != cases[i].asn ||
		    strcmp(r.as_org, cases[i].org) != 0)
			fail_msg("case %zu (%s): got %d \"%s\" \"%s\" AS%u \"%s\" (%s)", i, cases[i].ip, ret,
				 r.country_iso, r.country_name, r.asn, r.as_org, r.err);
		assert_int_equal(r.have_country, cases[i].iso[0] != '\0');
		assert_int_equal(r.have_asn, cases[i].asn != 0);
		geoip_close(&g);
		assert_null(g);
	}
}

static void test_empty_and_missing(void **state)
{
	(void)state;
	char err[256] = "";
	struct geoip *g = geoip_open("", NULL, err, sizeof err);
	assert_non_null(g);
	assert_false(geoip_enabled(g));
	struct ipaddr ip;
	ip_parse("1.0.0.1", &ip);
	struct geoip_result r;
	assert_int_equal(geoip_lookup(g, &ip, &r), 0);
	geoip_close(&g);
	assert_int_equal(geoip_lookup(NULL, &ip, &r), 0);

	assert_null(geoip_open("/nonexistent/x.mmdb", "", err, sizeof err));
	assert_non_null(strstr(err, "/nonexistent/x.mmdb"));
	/* a file that is not a database */
	assert_null(geoip_open(TD "README.md", "", err, sizeof err));
	assert_non_null(strstr(err, "README.md"));
	/* the ASN database is checked too */
	assert_null(geoip_open(TD "GeoLite2-Country-Test.mmdb", TD "README.md", err, sizeof err));
}

/* every corrupt database: refused at open, or look-ups fail cleanly */
static void test_corrupt(void **state)
{
	(void)state;
	static const char *const broken[] = {
		TD "MaxMind-DB-test-broken-pointers-24.mmdb",
		TD "MaxMind-DB-test-broken-search-tree-24.mmdb",
		TD "GeoIP2-City-Test-Broken-Double-Format.mmdb",
		TD "GeoIP2-City-Test-Invalid-Node-Count.mmdb",
	};
	static const char *const dirs[] = { BAD "libmaxminddb", BAD "maxminddb-golang", BAD "maxminddb-python" };
	static const char *const ips[] = { "1.1.1.1", "1.1.1.3", "1.1.1.32", "81.2.69.160", "2001:218::1",
					   "::1.1.1.1", "255.255.255.255", "::", "ffff::1", "2.125.160.217" };
	char paths[64][512];
	size_t n = 0;
	for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++)
		snprintf(paths[n++], sizeof paths[0], "%s", broken[i]);
	for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
		DIR *dir = opendir(dirs[d]);
		assert_non_null(dir);
		struct dirent *e;
		while ((e = readdir(dir)) != NULL && n < 64)
			if (strstr(e->d_name, ".mmdb") != NULL)
				snprintf(paths[n++], sizeof paths[0], "%s/%s", dirs[d], e->d_name);
		closedir(dir);
	}
	assert_true(n >= 20);
	size_t refused = 0, lookup_errors = 0;
	for (size_t i = 0; i < n; i++) {
		char err[256] = "";
		/* as the country database and as the ASN database */
		for (int as_asn = 0; as_asn < 2; as_asn++) {
			struct geoip *g = geoip_open(as_asn ? "" : paths[i], as_asn ? paths[i] : "", err, sizeof err);
			if (g == NULL) {
				assert_true(err[0] != '\0');
				refused++;
				continue;
			}
			for (size_t k = 0; k < sizeof ips / sizeof ips[0]; k++) {
				struct ipaddr ip;
				assert_int_equal(ip_parse(ips[k], &ip), 0);
				struct geoip_result r;
				int ret = geoip_lookup(g, &ip, &r);
				assert_true(ret >= -1 && ret <= 1);
				if (ret < 0) {
					assert_true(r.err[0] != '\0');
					lookup_errors++;
				}
				/* whatever came out is clean text */
				for (const char *p = r.country_name; *p; p++)
					assert_true((unsigned char)*p >= 0x20);
				for (const char *p = r.as_org; *p; p++)
					assert_true((unsigned char)*p >= 0x20);
			}
			geoip_close(&g);
		}
	}
	printf("# %zu corrupt databases: %zu refused at open, %zu look-up errors\n", n, refused, lookup_errors);
	assert_true(refused + lookup_errors > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_country_and_asn),
		cmocka_unit_test(test_empty_and_missing),
		cmocka_unit_test(test_corrupt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
