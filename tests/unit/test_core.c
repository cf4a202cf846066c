/* unit tests for src/core: buffers, IP parsing and matching */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/buf.h"
#include "core/ip.h"
#include "core/config.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void test_buf_limit(void **state)
{
	struct buf b = BUF_INIT(8);
	assert_int_equal(buf_puts(&b, "1234"), 0);
	assert_int_equal(buf_printf(&b, "%d", 5678), 0);
	assert_string_equal(buf_cstr(&b), "12345678");
	assert_int_equal(buf_putc(&b, 'x'), -1); /* over max: refused, unchanged */
	assert_int_equal(b.len, 8);
	buf_free(&b);
}

static void test_buf_long_printf(void **state)
{
	struct buf b = BUF_INIT(0);
	char big[1000];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(buf_printf(&b, "<%s>", big), 0);
	assert_int_equal(b.len, 1001);
	buf_free(&b);
}

static void test_ip(void **state)
{
	struct { const char *addr, *net; int match; } cases[] = {
		{ "192.0.2.1", "192.0.2.0/24", 1 },
		{ "192.0.3.1", "192.0.2.0/24", 0 },
		{ "192.0.2.1", "0.0.0.0/0", 1 },
		{ "2001:db8::1", "2001:db8::/32", 1 },
		{ "2001:db9::1", "2001:db8::/32", 0 },
		{ "192.0.2.1", "::/0", 0 },
		{ "192.0.2.129", "192.0.2.128/25", 1 },
		{ "192.0.2.127", "192.0.2.128/25", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ipaddr a, n;
		unsigned p;
		assert_int_equal(ip_parse(cases[i].addr, &a), 0);
		assert_int_equal(ip_parse_cidr(cases[i].net, &n, &p), 0);
		assert_int_equal(ip_match(&a, &n, p), cases[i].match);
	}
	struct ipaddr a;
	unsigned p;
	assert_int_equal(ip_parse("1.2.3", &a), -1);
	assert_int_equal(ip_parse("", &a), -1);
	assert_int_equal(ip_parse_cidr("1.2.3.4/33", &a, &p), -1);
	assert_int_equal(ip_parse_cidr("1.2.3.4/", &a, &p), -1);
	assert_int_equal(ip_parse_cidr("1.2.3.4/-1", &a, &p), -1);
	char name[100];
	ip_parse("192.0.2.3", &a);
	ip_reverse_name(&a, name, sizeof name);
	assert_string_equal(name, "3.2.0.192.in-addr.arpa");
	ip_parse("::ffff:192.0.2.3", &a);
	ip_unmap(&a);
	char out[IP_STRLEN];
	assert_string_equal(ip_format(&a, out), "192.0.2.3");
}

static char *write_tmp(const char *text)
{
	static char path[64];
	snprintf(path, sizeof path, "/tmp/mamori-cfg-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_config(void **state)
{
	struct { const char *text; const char *err_has; } cases[] = {
		{ "general = { authserv_id = \"mx.example.org\"; };\ndns = { timeout_ms = 2000; forwarders = [\"127.0.0.1\"]; };\n", NULL },
		{ "general = {\n  authserv_idd = \"x\";\n};\n", ":2: general.authserv_idd: unknown key" },
		{ "dns = {\n\n  timeout_ms = 5;\n};\n", ":3: dns.timeout_ms: 5 is outside 100..60000" },
		{ "dns = { resolver = \"bind\"; };\n", "dns.resolver: \"bind\" is not one of the allowed values" },
		{ "bogus = { a = 1; };\n", ":1: bogus: unknown section" },
		{ "general = { syslog = \"yes\"; };\n", "general.syslog: must be true or false" },
		{ "general = { authserv_id = ; };\n", ":1: syntax error" },
		{ "dns = { resolver = \"stub\"; };\n", "dns.zone_file: required" },
		{ "abuse = { overrides = ( { network = \"192.0.2.0/24\"; contact = \"a@b\"; bogus = \"x\"; } ); };\n", "abuse.overrides: unknown key \"bogus\"" },
		{ "reports = { max_decompressed_bytes = 10; };\n", "reports.max_decompressed_bytes: 10 is outside" },
		{ "dkim = { sign = ( { domain = \"a.example\"; selector = \"s\"; } ); };\n", "dkim.sign: entry needs key_file" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *path = write_tmp(cases[i].text);
		struct mamori_config c;
		char err[512] = "";
		int rc = config_load(path, &c, err, sizeof err);
		if (cases[i].err_has == NULL) {
			assert_int_equal(rc, 0);
			assert_string_equal(c.authserv_id, "mx.example.org");
			assert_int_equal(c.dns_timeout_ms, 2000);
			assert_string_equal(c.dns_forwarders[0], "127.0.0.1");
			assert_null(c.dns_forwarders[1]);
		} else {
			assert_int_equal(rc, -1);
			if (strstr(err, cases[i].err_has) == NULL || strstr(err, path) == NULL)
				fail_msg("case %zu: error \"%s\" lacks \"%s\" or the file name", i, err, cases[i].err_has);
			assert_string_equal(c.data_dir, "./var"); /* defaults remain usable */
		}
		config_free(&c);
		unlink(path);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_limit),
		cmocka_unit_test(test_buf_long_printf),
		cmocka_unit_test(test_ip),
		cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
