/* msgbuild: the message mamorid rebuilds from milter callbacks */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "auth/message.h"
#include "milter/msgbuild.h"

#define OURS "mx.example.org"

enum step_kind { H, EOH, BODY };

struct step {
	enum step_kind kind;
	const char *a; /* header name, or body chunk */
	const char *b; /* header value */
};

struct build_case {
	const char *name;
	bool leadspc;
	struct step steps[8];
	const char *want;
};

static const struct build_case build_cases[] = {
	{ "value without its space gets one back", false,
	  { { H, "Subject", "hi" }, { EOH, NULL, NULL }, { BODY, "x\r\n", NULL } },
	  "Subject: hi\r\n\r\nx\r\n" },
	{ "HDR_LEADSPC keeps the value as sent", true,
	  { { H, "Subject", " hi" }, { H, "X-Tab", "\tv" }, { H, "X-None", "v" }, { EOH, NULL, NULL } },
	  "Subject: hi\r\nX-Tab:\tv\r\nX-None:v\r\n\r\n" },
	{ "Postfix folds with bare LF", true,
	  { { H, "DKIM-Signature", " a=1;\n\tb=2;\n c=3" }, { EOH, NULL, NULL } },
	  "DKIM-Signature: a=1;\r\n\tb=2;\r\n c=3\r\n\r\n" },
	{ "CRLF folds stay as they are", true,
	  { { H, "To", " a,\r\n b" }, { EOH, NULL, NULL } },
	  "To: a,\r\n b\r\n\r\n" },
	{ "body LF becomes CRLF", true,
	  { { H, "A", " 1" }, { EOH, NULL, NULL }, { BODY, "l1\nl2\n", NULL } },
	  "A: 1\r\n\r\nl1\r\nl2\r\n" },
	{ "CR and LF split over two chunks stay one line end", true,
	  { { H, "A", " 1" }, { EOH, NULL, NULL }, { BODY, "l1\r", NULL }, { BODY, "\nl2\r\n", NULL } },
	  "A: 1\r\n\r\nl1\r\nl2\r\n" },
	{ "chunk starting with LF after text", true,
	  { { H, "A", " 1" }, { EOH, NULL, NULL }, { BODY, "l1", NULL }, { BODY, "\nl2", NULL } },
	  "A: 1\r\n\r\nl1\r\nl2" },
	{ "body without EOH still gets the separator", true,
	  { { H, "A", " 1" }, { BODY, "b\r\n", NULL } },
	  "A: 1\r\n\r\nb\r\n" },
	{ "EOH twice adds one empty line", true,
	  { { H, "A", " 1" }, { EOH, NULL, NULL }, { EOH, NULL, NULL } },
	  "A: 1\r\n\r\n" },
};

static void run_steps(struct msgbuild *mb, const struct step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct step *s = &steps[i];
		if (s->kind == H && s->a != NULL)
			assert_int_equal(msgbuild_header(mb, s->a, s->b, OURS), 0);
		else if (s->kind == EOH)
			assert_int_equal(msgbuild_eoh(mb), 0);
		else if (s->kind == BODY)
			assert_int_equal(msgbuild_body(mb, s->a, strlen(s->a)), 0);
	}
}

static void test_build(void **state)
{
	for (size_t i = 0; i < sizeof build_cases / sizeof build_cases[0]; i++) {
		const struct build_case *c = &build_cases[i];
		print_message("case: %s\n", c->name);
		struct msgbuild mb;
		msgbuild_init(&mb, 0, c->leadspc);
		run_steps(&mb, c->steps, sizeof c->steps / sizeof c->steps[0]);
		size_t len;
		char *data = msgbuild_take(&mb, &len);
		assert_non_null(data);
		assert_int_equal(len, strlen(c->want));
		assert_string_equal(data, c->want);
		assert_int_equal(mb.nforged, 0);
		free(data);
		msgbuild_free(&mb);
	}
}

/* what is built is what message_adopt() wants, and splits as sent */
static void test_adopt(void **state)
{
	struct msgbuild mb;
	msgbuild_init(&mb, 0, true);
	assert_int_equal(msgbuild_header(&mb, "From", " a@example.org", OURS), 0);
	assert_int_equal(msgbuild_header(&mb, "Subject", " one\n two", OURS), 0);
	assert_int_equal(msgbuild_eoh(&mb), 0);
	assert_int_equal(msgbuild_body(&mb, "body\n", 5), 0);
	size_t len;
	char *data = msgbuild_take(&mb, &len);
	struct message m;
	char err[128];
	assert_int_equal(message_adopt(data, len, &m, err, sizeof err), 0);
	assert_int_equal(m.nhdr, 2);
	assert_true(msg_header_is(&m.hdr[1], "Subject"));
	assert_int_equal(m.hdr[1].value_len, strlen(" one\r\n two"));
	assert_memory_equal(m.hdr[1].value, " one\r\n two", m.hdr[1].value_len);
	assert_int_equal(m.body_len, 6);
	assert_memory_equal(m.body, "body\r\n", 6);
	message_free(&m);
	msgbuild_free(&mb);
}

struct ar_case {
	const char *value;
	bool ours;
};

/* RFC 8601 5: only fields carrying our authserv-id are forged */
static void test_forged(void **state)
{
	static const struct ar_case cases[] = {
		{ " other.example; spf=pass", false },
		{ " mx.example.org; spf=pass smtp.mailfrom=x", true },
		{ " MX.Example.ORG; dkim=pass", true },
		{ " mx.example.org.evil; spf=pass", false },
		{ " \"mx.example.org\"; none", true },
		{ " (comment) mx.example.org; spf=pass", true },
		{ " mx.example.orgx; spf=pass", false },
	};
	struct msgbuild mb;
	msgbuild_init(&mb, 0, true);
	assert_int_equal(msgbuild_header(&mb, "Received", " from x", OURS), 0);
	size_t want[8], nwant = 0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		/* field names are case-insensitive */
		const char *name = i % 2 ? "authentication-results" : "Authentication-Results";
		assert_int_equal(msgbuild_header(&mb, name, cases[i].value, OURS), 0);
		if (cases[i].ours)
			want[nwant++] = i + 1;
	}
	assert_int_equal(msgbuild_header(&mb, "X-Authentication-Results", " mx.example.org; spf=pass", OURS), 0);
	assert_int_equal(mb.nar, sizeof cases / sizeof cases[0]);
	assert_int_equal(mb.nforged, nwant);
	for (size_t i = 0; i < nwant; i++)
		assert_int_equal(mb.forged[i], want[i]);
	msgbuild_free(&mb);
}

/* beyond the cap: buffering stops for good, forged fields are still found */
static void test_oversize(void **state)
{
	struct msgbuild mb;
	msgbuild_init(&mb, 40, true);
	assert_int_equal(msgbuild_header(&mb, "Subject", " short", OURS), 0);
	assert_int_equal(msgbuild_header(&mb, "X-Long", " 0123456789012345678901234567890123456789", OURS), -1);
	assert_true(mb.oversize);
	assert_int_equal(msgbuild_header(&mb, "B", " b", OURS), -1);
	assert_int_equal(msgbuild_header(&mb, "Authentication-Results", " " OURS "; spf=pass", OURS), -1);
	assert_int_equal(mb.nforged, 1);
	assert_int_equal(mb.forged[0], 1);
	assert_int_equal(msgbuild_eoh(&mb), -1);
	assert_int_equal(msgbuild_body(&mb, "x", 1), -1);
	size_t len = 99;
	assert_null(msgbuild_take(&mb, &len));
	assert_int_equal(len, 0);
	msgbuild_free(&mb);

	/* the body overflowing exactly at a CR/LF pair */
	msgbuild_init(&mb, 9, true);
	assert_int_equal(msgbuild_header(&mb, "A", " 1", OURS), 0); /* 6 bytes */
	assert_int_equal(msgbuild_eoh(&mb), 0);                     /* 8 bytes */
	assert_int_equal(msgbuild_body(&mb, "\n", 1), -1);          /* CRLF: 10 > 9 */
	assert_true(mb.oversize);
	msgbuild_free(&mb);
}

static void test_empty(void **state)
{
	struct msgbuild mb;
	msgbuild_init(&mb, 0, false);
	size_t len = 99;
	char *data = msgbuild_take(&mb, &len);
	assert_non_null(data);
	assert_int_equal(len, 0);
	assert_string_equal(data, "");
	free(data);
	/* NULL name or value from a broken MTA does not crash */
	assert_int_equal(msgbuild_header(&mb, NULL, NULL, OURS), 0);
	data = msgbuild_take(&mb, &len);
	assert_string_equal(data, ": \r\n");
	free(data);
	msgbuild_free(&mb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_adopt),
		cmocka_unit_test(test_forged),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
