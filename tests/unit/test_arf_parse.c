/*
 * arf_parse: exact fields of corpus failure reports (table), every
 * auth-failure report in the corpus parses, non-ARF messages and bad field
 * values are refused with a reason naming the problem, strings are cleaned.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc/arf_parse.h"
#include "dmarc/report_input.h"

#define C MAMORI_CORPUS "/"

static char *slurp(const char *path, size_t *n_r)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	b[n] = 0;
	*n_r = (size_t)n;
	return b;
}

struct acase {
	const char *path;
	const char *feedback_type, *user_agent, *version, *reported_domain, *auth_failure, *source_ip;
	int64_t arrival_date;
	const char *original_mail_from, *original_rcpt_to, *authentication_results;
	const char *dkim_domain, *dkim_selector, *dkim_identity, *delivery_result, *identity_alignment;
	const char *header_from, *subject, *message_id, *reporter;
	int64_t report_date;
};

static const struct acase acases[] = {
	{ C "dmarc-reports-mail-auth/arf/005.eml", "auth-failure", "Someisp!Mail-Feedback/1.0", "1",
	  "a.sender.example", "bodyhash", "192.0.2.1", 1318104958, "anexample.reply@a.sender.example", "",
	  "mta1011.mail.tp2.receiver.example; dkim=fail (bodyhash) header.d=sender.example",
	  "sender.example", "testkey", "@sender.example", "", "", "anexample@a.sender.example",
	  "You have a new bill from your bank", "<87913910.1318094604546@out.sender.example>",
	  "feedback@mail.receiver.example", 1318104959 },
	{ C "dmarc-reports-mail-auth/arf/003.eml", "auth-failure", "SomeDKIMFilter/1.0", "1", "example.net",
	  "bodyhash", "192.0.2.1", 1271272531, "<randomuser@example.net>", "<user@example.com>",
	  "mail.example.com; dkim=fail header.d=example.net", "example.net", "", "", "", "",
	  "randomuser@example.net", "This is a test", "", "arf-daemon@example.com", 1271272665 },
	/* rspamd; display name RFC 2047-encoded in the enclosed message */
	{ C "dmarc-reports-parsedmarc/failure/DMARC Failure Report for domain.de "
	   "(mail-from=sharepoint@domain.de, ip=10.10.10.10).eml",
	  "auth-failure", "Lua/1.0", "1.0", "domain.de", "dmarc", "10.10.10.10", 1538385627,
	  "sharepoint@domain.de", "peter.pan@domain.de", "dmarc=fail (p=none, dis=none) header.from=domain.de",
	  "", "", "", "smg-policy-action", "", "\"Interaktive Wettbewerber-\xc3\x9c" "bersicht\" <sharepoint@domain.de>",
	  "Subject", "<38.E7.30937.BD6E1BB5@ mailrelay.de>", "dmarc-report@domain.de", 1538385627 },
	/* NetEase: multipart/mixed, base64 feedback part, no Auth-Failure */
	{ C "dmarc-reports-parsedmarc/failure/[Netease DMARC Failure Report] Rent Reminder.eml",
	  "auth-failure", "NtesDmarcReporter/1.0", "1", "cardinal.com", "", "167.89.69.24", 1538124522,
	  "<bounces+1137616-c1ad-xsj399=163.com@email.entrata.com>", "",
	  "163.com; dkim=pass (verify result: all signatures verified) header.d=entrata.com; spf=pass "
	  "smtp.mailfrom=bounces+1137616-c1ad-xsj399=163.com@email.entrata.com",
	  "entrata.com", "", "", "delivered", "spf,dkim", "700 on Washington <info@cardinal.com>",
	  "Rent Reminder", "<oguVx1AxQayV5Sv2nYK-rA@ismtpd0007p1las1.sendgrid.net>", "abuse@163.com",
	  1538124523 },
	/* LinkedIn, CRLF copy (an mbox From_ line first: GMime skips it) */
	{ C "dmarc-reports-parsedmarc/failure/dmarc_ruf_report_linkedin.crlf.eml", "auth-failure", "Lua/1.0",
	  "1.0", "example.com", "dmarc", "10.10.10.10", 1556590140, "", "recipient@linkedin.com",
	  "dmarc=fail (p=none; dis=none) header.from=example.com", "", "", "", "delivered", "",
	  "Sender <sender@example.com>", "Subject line, could be UTF8 encoded",
	  "<01010101010101010101010101010101@ABAB01MS0016.someserver.loc>", "dmarc-noreply@linkedin.com",
	  1556590140 },
	/* OpenDMARC: no Arrival-Date */
	{ C "arf-reports-set-of-emails/maildir/bsd/arf-20.eml", "auth-failure", "OpenDMARC-Filter/1.3.0", "1",
	  "example.net", "dmarc", "203.0.113.2", 0, "dmarc-bounces@ietf.example.org", "",
	  "example.net; dmarc=fail header.from=example.net", "", "", "", "", "", "<sironeko@example.net>",
	  "Nyaan", "<000000000eee@example.net>", "opendmarc-postmaster@example.net", 1430350485 },
	/* bare-CR line ends; Feedback-Type abuse is parsed too */
	{ C "arf-reports-set-of-emails/maildir/mac/arf-01.eml", "abuse", "SMP-FBL", "1.0", "example.ed.jp", "",
	  "192.0.2.89", 1240963200, "", "", "", "", "", "", "", "", "\"Email Abuse\" <abuse@example.ed.jp>",
	  "Kijitora cat family", "", "kijitora@example.co.jp", 1240963200 },
};

static void check_case(const struct acase *a)
{
	size_t n;
	char *m = slurp(a->path, &n);
	struct failure_report f;
	char err[256] = "unset";
	if (arf_parse(m, n, &f, err, sizeof err) != 0)
		fail_msg("%s: %s", a->path, err);
	assert_string_equal(f.feedback_type, a->feedback_type);
	assert_string_equal(f.user_agent, a->user_agent);
	assert_string_equal(f.version, a->version);
	assert_string_equal(f.reported_domain, a->reported_domain);
	assert_string_equal(f.auth_failure, a->auth_failure);
	assert_true(f.have_source_ip);
	char ip[IP_STRLEN];
	assert_string_equal(ip_format(&f.source_ip, ip), a->source_ip);
	assert_int_equal(f.arrival_date, a->arrival_date);
	assert_string_equal(f.original_mail_from, a->original_mail_from);
	assert_string_equal(f.original_rcpt_to, a->original_rcpt_to);
	assert_string_equal(f.authentication_results, a->authentication_results);
	assert_string_equal(f.dkim_domain, a->dkim_domain);
	assert_string_equal(f.dkim_selector, a->dkim_selector);
	assert_string_equal(f.dkim_identity, a->dkim_identity);
	assert_string_equal(f.delivery_result, a->delivery_result);
	assert_string_equal(f.identity_alignment, a->identity_alignment);
	assert_string_equal(f.header_from, a->header_from);
	assert_string_equal(f.subject, a->subject);
	assert_string_equal(f.message_id, a->message_id);
	assert_string_equal(f.reporter, a->reporter);
	assert_int_equal(f.report_date, a->report_date);
	free(m);
}

static void test_corpus_fields(void **state)
{
	for (size_t i = 0; i < sizeof acases / sizeof acases[0]; i++)
		check_case(&acases[i]);
}

/* every RIN_FAILURE item report_input finds in the corpus parses as auth-failure */
struct fctx {
	unsigned failures, parsed;
};

static int on_item(void *ctx, const struct rin_item *it)
{
	struct fctx *c = ctx;
	if (it->kind != RIN_FAILURE)
		return 0;
	c->failures++;
	struct failure_report f;
	char err[256];
	if (arf_parse(it->data, it->len, &f, err, sizeof err) != 0)
		fail_msg("%s: %s", it->source, err);
	assert_string_equal(f.feedback_type, "auth-failure");
	assert_true(f.have_source_ip);
	assert_true(f.reported_domain[0] != 0);
	assert_true(f.reporter[0] != 0);
	c->parsed++;
	return 0;
}

static void test_all_corpus_failures(void **state)
{
	char *paths[] = { (char *)C "dmarc-reports-parsedmarc", (char *)C "dmarc-reports-mail-auth",
			  (char *)C "arf-reports-set-of-emails" };
	struct fctx c = { 0 };
	assert_int_equal(rin_walk(paths, 3, NULL, on_item, &c), 0);
	assert_int_equal(c.failures, 10); /* 4 parsedmarc, 3 mail-auth, 3 sisimai */
	assert_int_equal(c.parsed, 10);
}

/* ---- refusals ---- */

#define ARF_HEAD "From: reporter@example.net\r\nDate: Thu, 1 Feb 2024 10:00:00 +0000\r\n" \
		 "Subject: report\r\nMIME-Version: 1.0\r\n" \
		 "Content-Type: multipart/report; report-type=feedback-report; boundary=B\r\n\r\n" \
		 "--B\r\nContent-Type: text/plain\r\n\r\nhuman part\r\n--B\r\n" \
		 "Content-Type: message/feedback-report\r\n\r\n"
#define ARF_TAIL "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n" \
		 "From: =?utf-8?q?Bank_=E2=9C=93?= <ceo@example.org>\r\nSubject: hi\x01there\xff\r\n" \
		 "Message-ID: <a@b>\r\n\r\n--B--\r\n"

struct refusal {
	const char *name;
	const char *msg; /* NULL: read path */
	const char *path;
	const char *error;
};

static const struct refusal refusals[] = {
	{ "exim plain text", NULL, C "dmarc-reports-parsedmarc/failure/exim_plain_text_only_no_arf_part.eml",
	  "not an ARF report: no message/feedback-report part" },
	{ "JMRP complaint", NULL, C "arf-reports-set-of-emails/maildir/bsd/arf-22.eml",
	  "not an ARF report: no message/feedback-report part" },
	{ "aggregate mail", NULL, C "dmarc-reports-parsedmarc/aggregate/twilight.eml",
	  "not an ARF report: no message/feedback-report part" },
	{ "empty", "", NULL, "empty message" },
	{ "no feedback-type", ARF_HEAD "User-Agent: x/1\r\nVersion: 1\r\n" ARF_TAIL, NULL,
	  "not an ARF report: message/feedback-report part has no Feedback-Type field" },
	{ "bad source ip", ARF_HEAD "Feedback-Type: auth-failure\r\nSource-IP: 300.1.2.3\r\n" ARF_TAIL, NULL,
	  "Source-IP: not an IP address: \"300.1.2.3\"" },
	{ "script source ip", ARF_HEAD "Feedback-Type: auth-failure\r\nSource-IP: <script>\r\n" ARF_TAIL, NULL,
	  "Source-IP: not an IP address: \"<script>\"" },
	{ "bad arrival date", ARF_HEAD "Feedback-Type: auth-failure\r\nArrival-Date: yesterday-ish\r\n" ARF_TAIL,
	  NULL, "Arrival-Date: not a valid date: \"yesterday-ish\"" },
};

static void test_refusals(void **state)
{
	for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
		const struct refusal *r = &refusals[i];
		size_t n;
		char *m = r->msg ? strdup(r->msg) : slurp(r->path, &n);
		if (r->msg)
			n = strlen(r->msg);
		struct failure_report f;
		char err[256] = "";
		memset(&f, 0x41, sizeof f);
		if (arf_parse(m, n, &f, err, sizeof err) != -1)
			fail_msg("%s: accepted", r->name);
		if (strcmp(err, r->error) != 0)
			fail_msg("%s: error \"%s\", want \"%s\"", r->name, err, r->error);
		/* nothing half-filled is left behind */
		assert_int_equal(f.feedback_type[0], 0);
		assert_false(f.have_source_ip);
		free(m);
	}
}

/* cleaning: RFC 2047, controls, invalid UTF-8, folding, repeats, truncation, IPv6 */
static void test_cleaning(void **state)
{
	char big[3000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	char msg[8192];
	snprintf(msg, sizeof msg,
		 ARF_HEAD "Feedback-Type: Auth-Failure\r\nUser-Agent: evil\x1b[31m/1\r\n"
			  "Source-IP: [IPv6:2001:db8::1]\r\nOriginal-Rcpt-To: <a@example.com>\r\n"
			  "Original-Rcpt-To: <b@example.com>\r\nAuthentication-Results: mx.example.com;\r\n"
			  "\tdkim=fail\r\nAuthentication-Results: mx2.example.com; spf=fail\r\n"
			  "Reported-URI: %s\r\nDKIM-Domain: \xc3\x28.example\r\n"
			  "Arrival-Date: Thu, 1 Feb 2024 09:59:00 +0100\r\n" ARF_TAIL,
		 big);
	struct failure_report f;
	char err[256];
	assert_int_equal(arf_parse(msg, strlen(msg), &f, err, sizeof err), 0);
	assert_string_equal(f.feedback_type, "auth-failure");
	assert_string_equal(f.user_agent, "evil [31m/1");
	char ip[IP_STRLEN];
	assert_true(f.have_source_ip);
	assert_string_equal(ip_format(&f.source_ip, ip), "2001:db8::1");
	assert_string_equal(f.original_rcpt_to, "<a@example.com>, <b@example.com>");
	assert_string_equal(f.authentication_results, "mx.example.com; dkim=fail; mx2.example.com; spf=fail");
	assert_int_equal(strlen(f.reported_uri), sizeof f.reported_uri - 1);
	assert_string_equal(f.dkim_domain, "?(.example");
	assert_int_equal(f.arrival_date, 1706777940);
	assert_string_equal(f.header_from, "Bank \xe2\x9c\x93 <ceo@example.org>");
	/* raw 8-bit header text is taken as Latin-1 by GMime's decoder */
	assert_string_equal(f.subject, "hi there\xc3\xbf");
	assert_string_equal(f.message_id, "<a@b>");
	assert_string_equal(f.reporter, "reporter@example.net");
	assert_int_equal(f.report_date, 1706781600);
}

/* hostile bytes: never a crash, always 0 or -1 with a reason */
static void test_garbage(void **state)
{
	static const char *junk[] = {
		"\x00\x01\x02", "Content-Type: multipart/report; boundary=\r\n\r\n--\r\n--\r\n",
		"Content-Type: message/feedback-report\r\n\r\n",
		"Content-Type: message/feedback-report\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!\r\n",
		"Content-Type: message/feedback-report\r\n\r\nFeedback-Type:\r\n",
	};
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
		struct failure_report f;
		char err[128] = "";
		size_t n = i == 0 ? 3 : strlen(junk[i]);
		int r = arf_parse(junk[i], n, &f, err, sizeof err);
		assert_int_equal(r, -1);
		assert_true(err[0] != 0);
	}
	/* a message/feedback-report body alone is ARF enough */
	const char *bare = "Content-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n";
	struct failure_report f;
	char err[128];
	assert_int_equal(arf_parse(bare, strlen(bare), &f, err, sizeof err), 0);
	assert_string_equal(f.feedback_type, "abuse");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus_fields),
		cmocka_unit_test(test_all_corpus_failures),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_cleaning),
		cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
