/* unit tests for src/guard/policy_proto: the Postfix README example field by
 * field, several requests per buffer, byte-by-byte splits, limits, malformed
 * lines, NUL, and reply formatting with CR/LF injection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "guard/policy_proto.h"

/* the attribute list of SMTPD_POLICY_README "Protocol description", with
 * the example values (addresses our own), plus the 3.x additions */
static const char readme_request[] =
	"request=smtpd_access_policy\n"
	"protocol_state=RCPT\n"
	"protocol_name=SMTP\n"
	"helo_name=some.domain.tld\n"
	"queue_id=8045F2AB23\n"
	"sender=foo@bar.tld\n"
	"recipient=bar@foo.tld\n"
	"recipient_count=0\n"
	"client_address=1.2.3.4\n"
	"client_name=another.domain.tld\n"
	"reverse_client_name=another.domain.tld\n"
	"instance=123.456.7\n"
	"sasl_method=plain\n"
	"sasl_username=you\n"
	"sasl_sender=\n"
	"size=12345\n"
	"ccert_subject=solaris9.porcupine.org\n"
	"ccert_issuer=Wietse+20Venema\n"
	"ccert_fingerprint=C2:9D:F4:87:71:73:73:D9:18:E7:C2:F3:C1:DA:6E:04\n"
	"encryption_protocol=TLSv1/SSLv3\n"
	"encryption_cipher=DHE-RSA-AES256-SHA\n"
	"encryption_keysize=256\n"
	"etrn_domain=\n"
	"stress=\n"
	"ccert_pubkey_fingerprint=68:B3:29:DA:98:93:E3:40:99:C7:D8:AD:5C:B9:C9:40\n"
	"client_port=1234\n"
	"policy_context=submission\n"
	"server_address=10.3.2.1\n"
	"server_port=54321\n"
	"compatibility_level=major.minor.patch\n"
	"mail_version=3.8.0\n"
	"\n";

static void check_readme(const struct policy_request *r)
{
	assert_string_equal(r->request, "smtpd_access_policy");
	assert_string_equal(r->protocol_state, "RCPT");
	assert_string_equal(r->protocol_name, "SMTP");
	assert_string_equal(r->helo_name, "some.domain.tld");
	assert_string_equal(r->queue_id, "8045F2AB23");
	assert_string_equal(r->sender, "foo@bar.tld");
	assert_string_equal(r->recipient, "bar@foo.tld");
	assert_int_equal(r->recipient_count, 0);
	assert_string_equal(r->client_address, "1.2.3.4");
	assert_string_equal(r->client_name, "another.domain.tld");
	assert_string_equal(r->reverse_client_name, "another.domain.tld");
	assert_string_equal(r->instance, "123.456.7");
	assert_string_equal(r->sasl_method, "plain");
	assert_string_equal(r->sasl_username, "you");
	assert_string_equal(r->sasl_sender, "");
	assert_true(r->size == 12345);
	assert_string_equal(r->ccert_subject, "solaris9.porcupine.org");
	assert_string_equal(r->ccert_issuer, "Wietse+20Venema");
	assert_string_equal(r->ccert_fingerprint, "C2:9D:F4:87:71:73:73:D9:18:E7:C2:F3:C1:DA:6E:04");
	assert_string_equal(r->encryption_protocol, "TLSv1/SSLv3");
	assert_string_equal(r->encryption_cipher, "DHE-RSA-AES256-SHA");
	assert_int_equal(r->encryption_keysize, 256);
	assert_string_equal(r->etrn_domain, "");
	assert_string_equal(r->stress, "");
	assert_string_equal(r->ccert_pubkey_fingerprint,
			    "68:B3:29:DA:98:93:E3:40:99:C7:D8:AD:5C:B9:C9:40");
	assert_int_equal(r->client_port, 1234);
	assert_string_equal(r->policy_context, "submission");
	assert_string_equal(r->server_address, "10.3.2.1");
	assert_int_equal(r->server_port, 54321);
	assert_string_equal(r->compatibility_level, "major.minor.patch");
	assert_string_equal(r->mail_version, "3.8.0");
	assert_int_equal(r->nattrs, 31);
	assert_false(r->truncated);
}

static int feed_str(struct policy_parser *p, const char *s, char *err, size_t errlen)
{
	return policy_parser_feed(p, s, strlen(s), err, errlen);
}

static void test_readme_example(void **state)
{
	(void)state;
	struct policy_parser *p = policy_parser_new();
	char err[200];
	struct policy_request r;
	assert_int_equal(feed_str(p, readme_request, err, sizeof err), 1);
	assert_false(policy_parser_partial(p));
	assert_true(policy_parser_next(p, &r));
	check_readme(&r);
	assert_false(policy_parser_next(p, &r));
	policy_parser_free(&p);
	assert_null(p);
	policy_parser_free(&p); /* NULL is fine */
}

static void test_two_in_one_buffer(void **state)
{
	(void)state;
	struct policy_parser *p = policy_parser_new();
	char err[200];
	struct policy_request r;
	const char *two = "request=smtpd_access_policy\nprotocol_state=RCPT\nsasl_username=alice\n"
			  "recipient=a@example.org\n\n"
			  "request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\n"
			  "sasl_username=alice\nrecipient_count=7\nsize=18446744073709551615\n\n"
			  "request=smtpd_acc"; /* a third one, partial */
	assert_int_equal(feed_str(p, two, err, sizeof err), 2);
	assert_true(policy_parser_partial(p));
	assert_true(policy_parser_next(p, &r));
	assert_string_equal(r.protocol_state, "RCPT");
	assert_string_equal(r.recipient, "a@example.org");
	assert_int_equal(r.recipient_count, 0);
	assert_int_equal(r.nattrs, 4);
	assert_true(policy_parser_next(p, &r));
	assert_string_equal(r.protocol_state, "END-OF-MESSAGE");
	assert_string_equal(r.recipient, ""); /* not carried over from the first */
	assert_int_equal(r.recipient_count, 7);
	assert_true(r.size == UINT64_MAX);
	assert_false(policy_parser_next(p, &r));
	/* finish the third */
	assert_int_equal(feed_str(p, "ess_policy\nsender=\n\n", err, sizeof err), 1);
	assert_true(policy_parser_next(p, &r));
	assert_string_equal(r.request, "smtpd_access_policy");
	assert_false(policy_parser_partial(p));
	policy_parser_free(&p);
}

static void test_byte_by_byte(void **state)
{
	(void)state;
	struct policy_parser *p = policy_parser_new();
	char err[200];
	struct policy_request r;
	size_t n = strlen(readme_request);
	/* twice over, to check the state resets between requests */
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < n; i++) {
			int got = policy_parser_feed(p, readme_request + i, 1, err, sizeof err);
			assert_int_equal(got, i + 1 == n ? 1 : 0);
		}
		assert_true(policy_parser_next(p, &r));
		check_readme(&r);
	}
	/* also a zero-length feed */
	assert_int_equal(policy_parser_feed(p, "", 0, err, sizeof err), 0);
	policy_parser_free(&p);
}

static void test_crlf_and_semantics(void **state)
{
	(void)state;
	struct policy_parser *p = policy_parser_new();
	char err[200];
	struct policy_request r;
	/* CRLF line ends; repeated attribute keeps the last; unknown ignored;
	 * "name=" and "name=0" mean unavailable; value may contain '=' */
	const char *in = "request=smtpd_access_policy\r\n"
			 "sasl_username=first\r\n"
			 "sasl_username=second\r\n"
			 "x_future_attribute=whatever=with=equals\r\n"
			 "size=0\r\n"
			 "recipient_count=\r\n"
			 "sender=a=b@example.org\r\n"
			 "\r\n";
	assert_int_equal(feed_str(p, in, err, sizeof err), 1);
	assert_true(policy_parser_next(p, &r));
	assert_string_equal(r.sasl_username, "second");
	assert_string_equal(r.sender, "a=b@example.org");
	assert_true(r.size == 0);
	assert_int_equal(r.recipient_count, 0);
	assert_int_equal(r.nattrs, 7);
	policy_parser_free(&p);
}

static void test_descriptive_truncated(void **state)
{
	(void)state;
	struct policy_parser *p = policy_parser_new();
	char err[200];
	struct policy_request r;
	char line[600];
	memset(line, 'h', sizeof line);
	char in[1000];
	snprintf(in, sizeof in, "request=smtpd_access_policy\nhelo_name=%.*s\n\n", 400, line);
	assert_int_equal(feed_str(p, in, err, sizeof err), 1);
	assert_true(policy_parser_next(p, &r));
	assert_true(r.truncated);
	assert_int_equal(strlen(r.helo_name), sizeof r.helo_name - 1);
	policy_parser_free(&p);
}

/* each input fails with a reason containing the expected text */
static void test_malformed(void **state)
{
	(void)state;
	static char longline[POLICY_MAX_LINE + 100];
	static char longname[200];
	static char longuser[400];
	static char manyattrs[POLICY_MAX_ATTRS * 8 + 100];
	static char bigreq[POLICY_MAX_REQUEST + 4000];
	static char pipelined[(POLICY_MAX_PENDING + 1) * 40];

	/* a line one byte over the limit */
	size_t o = (size_t)snprintf(longline, sizeof longline, "request=smtpd_access_policy\nx=");
	memset(longline + o, 'v', POLICY_MAX_LINE - 1);
	o += POLICY_MAX_LINE - 1;
	snprintf(longline + o, sizeof longline - o, "\n\n");

	snprintf(longname, sizeof longname, "%0*d=1\n\n", POLICY_MAX_NAME + 1, 0);

	o = (size_t)snprintf(longuser, sizeof longuser, "request=smtpd_access_policy\nsasl_username=");
	memset(longuser + o, 'u', 256);
	o += 256;
	snprintf(longuser + o, sizeof longuser - o, "\n\n");

	o = (size_t)snprintf(manyattrs, sizeof manyattrs, "request=smtpd_access_policy\n");
	for (int i = 0; i < POLICY_MAX_ATTRS; i++)
		o += (size_t)snprintf(manyattrs + o, sizeof manyattrs - o, "a=%d\n", i % 10);
	snprintf(manyattrs + o, sizeof manyattrs - o, "\n");

	/* many lines each under the line limit, together over the request limit */
	o = 0;
	while (o < POLICY_MAX_REQUEST + 100) {
		memcpy(bigreq + o, "x=", 2);
		memset(bigreq + o + 2, 'y', 997);
		bigreq[o + 999] = '\n';
		o += 1000;
	}
	bigreq[o] = '\0';

	o = 0;
	for (int i = 0; i <= POLICY_MAX_PENDING; i++)
		o += (size_t)snprintf(pipelined + o, sizeof pipelined - o,
				      "request=smtpd_access_policy\n\n");

	struct {
		const char *name;
		const char *in;
		size_t len; /* 0: strlen */
		const char *want;
	} cases[] = {
		{ "no equals", "request=smtpd_access_policy\nprotocol_state RCPT\n\n", 0, "no '='" },
		{ "empty name", "request=smtpd_access_policy\n=RCPT\n\n", 0, "empty attribute name" },
		{ "bad name byte", "request=smtpd_access_policy\npro tocol=1\n\n", 0, "bad byte 0x20" },
		{ "nul", "request=smtpd_access_policy\nsender=a\0b\n\n", 40, "NUL byte" },
		{ "stray cr", "request=smtpd_access_policy\nsender=a\rb\n\n", 0, "stray CR" },
		{ "missing request", "sasl_username=alice\n\n", 0, "without a request=" },
		{ "empty request value", "request=\n\n", 0, "without a request=" },
		{ "blank line first", "\n", 0, "empty policy request" },
		{ "bad number", "request=smtpd_access_policy\nsize=12a\n\n", 0, "size: not a decimal" },
		{ "negative number", "request=smtpd_access_policy\nrecipient_count=-1\n\n", 0,
		  "recipient_count: not a decimal" },
		{ "u32 overflow", "request=smtpd_access_policy\nrecipient_count=4294967296\n\n", 0,
		  "recipient_count: not a decimal" },
		{ "u64 overflow", "request=smtpd_access_policy\nsize=18446744073709551616\n\n", 0,
		  "size: not a decimal" },
		{ "line too long", longline, 0, "line longer than 4096" },
		{ "name too long", longname, 0, "name longer than 64" },
		{ "identity too long", longuser, 0, "sasl_username: value of 256 bytes exceeds 255" },
		{ "too many attributes", manyattrs, 0, "more than 128 attributes" },
		{ "request too long", bigreq, 0, "request longer than 65536" },
		{ "pipelined", pipelined, 0, "more than 8 policy requests" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct policy_parser *p = policy_parser_new();
		char err[200] = "";
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		int got = policy_parser_feed(p, cases[i].in, len, err, sizeof err);
		if (got != -1 || !strstr(err, cases[i].want))
			fail_msg("case '%s': got %d, err '%s', want '%s'", cases[i].name, got, err,
				 cases[i].want);
		/* dead: stays failed, yields nothing */
		struct policy_request r;
		char err2[200] = "";
		assert_int_equal(feed_str(p, "request=x\n\n", err2, sizeof err2), -1);
		assert_string_equal(err, err2);
		assert_false(policy_parser_next(p, &r));
		assert_false(policy_parser_partial(p));
		policy_parser_free(&p);

		/* the same input split byte by byte fails the same way (except
		 * pipelining, which a reader draining each request never hits) */
		if (strcmp(cases[i].name, "pipelined") == 0)
			continue;
		p = policy_parser_new();
		got = 0;
		for (size_t k = 0; k < len && got != -1; k++) {
			got = policy_parser_feed(p, cases[i].in + k, 1, err2, sizeof err2);
			while (got > 0 && policy_parser_next(p, &r))
				got--;
		}
		if (got != -1 || strcmp(err, err2) != 0)
			fail_msg("case '%s' split: got %d, err '%s'", cases[i].name, got, err2);
		policy_parser_free(&p);
	}
}

/* exactly at the limits is accepted */
static void test_limits_exact(void **state)
{
	(void)state;
	static char buf[POLICY_MAX_LINE + POLICY_MAX_ATTRS * 8 + 200];
	size_t o = (size_t)snprintf(buf, sizeof buf, "request=smtpd_access_policy\nx=");
	memset(buf + o, 'v', POLICY_MAX_LINE - 2);
	o += POLICY_MAX_LINE - 2;
	buf[o++] = '\n';
	for (int i = 2; i < POLICY_MAX_ATTRS; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "a=%d\n", i % 10);
	snprintf(buf + o, sizeof buf - o, "\n");
	struct policy_parser *p = policy_parser_new();
	char err[200] = "";
	int got = feed_str(p, buf, err, sizeof err);
	if (got != 1)
		fail_msg("at the limits: %d '%s'", got, err);
	struct policy_request r;
	assert_true(policy_parser_next(p, &r));
	assert_int_equal(r.nattrs, POLICY_MAX_ATTRS);

	/* a 255-byte username fits exactly */
	char in[400];
	o = (size_t)snprintf(in, sizeof in, "request=smtpd_access_policy\nsasl_username=");
	memset(in + o, 'u', 255);
	o += 255;
	snprintf(in + o, sizeof in - o, "\n\n");
	assert_int_equal(feed_str(p, in, err, sizeof err), 1);
	assert_true(policy_parser_next(p, &r));
	assert_int_equal(strlen(r.sasl_username), 255);
	policy_parser_free(&p);
}

static void test_reply_format(void **state)
{
	(void)state;
	struct {
		const char *action, *text, *want;
	} cases[] = {
		{ "DUNNO", NULL, "action=DUNNO\n\n" },
		{ "OK", "", "action=OK\n\n" },
		{ "REJECT", "5.7.1 account locked", "action=REJECT 5.7.1 account locked\n\n" },
		{ "DEFER", "4.7.1 slow down", "action=DEFER 4.7.1 slow down\n\n" },
		{ "450", "4.7.1 try later", "action=450 4.7.1 try later\n\n" },
		{ "DEFER_IF_PERMIT", "x", "action=DEFER_IF_PERMIT x\n\n" },
		/* injection: a peer-chosen name with a newline must not end the reply
		 * and start "action=OK" */
		{ "REJECT", "locked: evil\n\naction=OK\n\n", "action=REJECT locked: evil??action=OK??\n\n" },
		{ "REJECT", "a\r\nb\tc\x7f" "d\xc3\xa9", "action=REJECT a??b?c?d??\n\n" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[600];
		size_t n = policy_reply_format(out, sizeof out, cases[i].action, cases[i].text);
		if (n != strlen(cases[i].want) || strcmp(out, cases[i].want) != 0)
			fail_msg("case %zu: got %zu '%s'", i, n, out);
	}

	/* bad actions are refused, output empty */
	const char *bad[] = { "", "REJECT now", "OK\n", "action=OK", "A123456789012345678901234567890123" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char out[100] = "junk";
		assert_int_equal(policy_reply_format(out, sizeof out, bad[i], "t"), 0);
		assert_string_equal(out, "");
	}
	char out[100];
	assert_int_equal(policy_reply_format(out, sizeof out, NULL, "t"), 0);

	/* too small: nothing partial; exactly enough: fits */
	assert_int_equal(policy_reply_format(out, 14, "DUNNO", NULL), 0); /* needs 15 */
	assert_string_equal(out, "");
	assert_int_equal(policy_reply_format(out, 15, "DUNNO", NULL), 14);
	assert_string_equal(out, "action=DUNNO\n\n");
	assert_int_equal(policy_reply_format(NULL, 0, "DUNNO", NULL), 0);

	/* text cut at POLICY_MAX_REPLY_TEXT */
	char longtext[POLICY_MAX_REPLY_TEXT + 100];
	memset(longtext, 'z', sizeof longtext - 1);
	longtext[sizeof longtext - 1] = '\0';
	char big[1000];
	size_t n = policy_reply_format(big, sizeof big, "REJECT", longtext);
	assert_int_equal(n, 7 + 6 + 1 + POLICY_MAX_REPLY_TEXT + 2);
	assert_memory_equal(big + n - 2, "\n\n", 2);
	assert_null(memchr(big, '\n', n - 2));
}

/* a reply formatted from hostile text round-trips as exactly one reply:
 * fed to our own parser's line rules, it is one line plus the end */
static void test_reply_is_one_line(void **state)
{
	(void)state;
	char text[256];
	for (int c = 1; c < 256; c++)
		text[c - 1] = (char)c;
	text[255] = '\0';
	char out[600];
	size_t n = policy_reply_format(out, sizeof out, "REJECT", text);
	assert_true(n > 0);
	size_t newlines = 0;
	for (size_t i = 0; i < n; i++) {
		assert_true(out[i] != '\r');
		if (out[i] == '\n')
			newlines++;
	}
	assert_int_equal(newlines, 2);
	assert_memory_equal(out + n - 2, "\n\n", 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readme_example),
		cmocka_unit_test(test_two_in_one_buffer),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_crlf_and_semantics),
		cmocka_unit_test(test_descriptive_truncated),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limits_exact),
		cmocka_unit_test(test_reply_format),
		cmocka_unit_test(test_reply_is_one_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
