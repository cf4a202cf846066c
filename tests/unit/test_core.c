/* unit tests for src/core: buffers, IP parsing and matching */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/buf.h"
#include "core/ip.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_limit),
		cmocka_unit_test(test_buf_long_printf),
		cmocka_unit_test(test_ip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
