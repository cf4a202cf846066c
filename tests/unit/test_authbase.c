/* unit tests for src/auth/message.c (raw split) and src/auth/taglist.c */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/message.h"
#include "auth/taglist.h"

static void test_split(void **state)
{
	const char *lf = "From: a@b.example\nSubject: hi\n  there\nX-Empty:\n\nbody line\n";
	const char *crlf = "From: a@b.example\r\nSubject: hi\r\n  there\r\nX-Empty:\r\n\r\nbody line\r\n";
	struct message m1, m2;
	char err[128];
	assert_int_equal(message_parse(lf, strlen(lf), &m1, err, sizeof err), 0);
	assert_int_equal(message_parse(crlf, strlen(crlf), &m2, err, sizeof err), 0);
	assert_int_equal(m1.len, m2.len);
	assert_memory_equal(m1.data, m2.data, m1.len);
	assert_int_equal(m1.nhdr, 3);
	assert_true(msg_header_is(&m1.hdr[1], "subject"));
	assert_int_equal(m1.hdr[1].value_len, strlen(" hi\r\n  there"));
	assert_memory_equal(m1.hdr[1].value, " hi\r\n  there", m1.hdr[1].value_len);
	assert_int_equal(m1.hdr[1].raw_len, strlen("Subject: hi\r\n  there\r\n"));
	assert_int_equal(m1.hdr[2].value_len, 0);
	assert_true(m1.has_separator);
	assert_int_equal(m1.body_len, strlen("body line\r\n"));
	assert_ptr_equal(message_header(&m1, "FROM", 0), &m1.hdr[0]);
	assert_null(message_header(&m1, "from", 1));
	assert_int_equal(message_header_count(&m1, "subject"), 1);
	message_free(&m1);
	message_free(&m2);
}

static void test_odd_shapes(void **state)
{
	struct { const char *in; size_t nhdr; int sep; size_t body; } cases[] = {
		{ "", 0, 0, 0 },
		{ "\r\n", 0, 1, 0 },
		{ "\nbody\n", 0, 1, 6 },                /* no header at all */
		{ "A: 1", 1, 0, 0 },                    /* no final CRLF, no body */
		{ "A: 1\r\nB: 2\r\n", 2, 0, 0 },        /* header only */
		{ "no colon here\r\nA: 1\r\n\r\nx", 2, 1, 1 },
		{ "Subject : spaced\r\n\r\n", 1, 1, 0 },
		{ "\r\r\n\r\n", 1, 1, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct message m;
		char err[128];
		assert_int_equal(message_parse(cases[i].in, strlen(cases[i].in), &m, err, sizeof err), 0);
		if (m.nhdr != cases[i].nhdr || (int)m.has_separator != cases[i].sep || m.body_len != cases[i].body)
			fail_msg("case %zu: nhdr %zu sep %d body %zu", i, m.nhdr, m.has_separator, m.body_len);
		message_free(&m);
	}
	struct message m;
	char err[128];
	const char *nc = "no colon here\r\n\r\n";
	assert_int_equal(message_parse(nc, strlen(nc), &m, err, sizeof err), 0);
	assert_int_equal(m.hdr[0].name_len, 0);
	message_free(&m);
	const char *sp = "Subject : spaced\r\n\r\n";
	assert_int_equal(message_parse(sp, strlen(sp), &m, err, sizeof err), 0);
	assert_true(msg_header_is(&m.hdr[0], "Subject"));
	message_free(&m);
}

static void test_limits(void **state)
{
	size_t n = MESSAGE_MAX_HEADERS + 1;
	char *big = malloc(n * 6 + 1);
	for (size_t i = 0; i < n; i++)
		memcpy(big + i * 6, "A: 1\r\n", 6);
	big[n * 6] = '\0';
	struct message m;
	char err[128] = "";
	assert_int_equal(message_parse(big, n * 6, &m, err, sizeof err), -1);
	assert_non_null(strstr(err, "header fields"));
	free(big);
}

static void test_taglist(void **state)
{
	struct taglist tl;
	char err[128];
	const char *s = " v=1; a = rsa-sha256 ;\r\n\tb=abc\r\n def ; h=from:to;";
	assert_int_equal(taglist_parse(s, strlen(s), &tl, err, sizeof err), 0);
	assert_int_equal(tl.n, 4);
	const struct tag *b = taglist_get(&tl, "b");
	assert_non_null(b);
	char out[32];
	assert_int_equal(tag_value_nows(b, out, sizeof out), 6);
	assert_string_equal(out, "abcdef");
	const struct tag *a = taglist_get(&tl, "a");
	assert_int_equal(a->value_len, strlen("rsa-sha256"));
	assert_null(taglist_get(&tl, "A")); /* tag names are case-sensitive */

	struct { const char *in; const char *err; } bad[] = {
		{ "v=1; v=1", "appears twice" },
		{ "=x", "tag name expected" },
		{ "1a=x", "tag name expected" },
		{ "a", "'=' expected" },
		{ "a b=c", "'=' expected" },
		{ "a=\x01", "invalid character 0x01" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_int_equal(taglist_parse(bad[i].in, strlen(bad[i].in), &tl, err, sizeof err), -1);
		if (strstr(err, bad[i].err) == NULL)
			fail_msg("bad %zu: \"%s\" lacks \"%s\"", i, err, bad[i].err);
	}
	assert_int_equal(taglist_parse("", 0, &tl, err, sizeof err), 0);
	assert_int_equal(tl.n, 0);
	/* more tags than the bound is an error, not an overflow */
	char many[TAGLIST_MAX_TAGS * 8 + 16];
	size_t k = 0;
	for (int i = 0; i <= TAGLIST_MAX_TAGS; i++)
		k += (size_t)snprintf(many + k, sizeof many - k, "t%d=1;", i);
	assert_int_equal(taglist_parse(many, k, &tl, err, sizeof err), -1);
	assert_non_null(strstr(err, "more than"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_odd_shapes),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_taglist),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
