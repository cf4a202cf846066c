/* unit tests for src/dmarc/arf_build: the composed ARF message is parsed
   back (headers, the three MIME parts, the feedback-report fields) and
   hostile values from reports and RDAP can add no header and no part. */
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
#include "dmarc/arf_build.h"

/* ---- a small strict reader of what we produce ---- */

#define MAX_FIELDS 64

struct field {
	char name[64];
	char value[2048]; /* unfolded */
};

struct section {
	struct field f[MAX_FIELDS];
	size_t n;
	const char *body; /* points into the message */
	size_t bodylen;
};

/* every line ends in CRLF, no bare CR or LF, no line over 998 octets */
static void check_lines(const char *m, size_t len)
{
	size_t col = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)m[i];
		if (c == '\r') {
			assert_true(i + 1 < len && m[i + 1] == '\n');
			i++;
			col = 0;
			continue;
		}
		assert_true(c != '\n');
		assert_true(c == '\t' || (c >= 0x20 && c < 0x7f)); /* 7bit, printable */
		assert_true(++col <= 998);
	}
}

/* parses header fields up to the empty line; returns the offset of the body */
static size_t parse_fields(const char *m, size_t len, struct section *s)
{
	size_t i = 0;
	s->n = 0;
	while (i < len) {
		const char *eol = strstr(m + i, "\r\n");
		assert_non_null(eol);
		size_t l = (size_t)(eol - (m + i));
		if (l == 0)
			return i + 2;
		if (m[i] == ' ' || m[i] == '\t') {
			assert_true(s->n > 0); /* continuation of the previous field */
			struct field *f = &s->f[s->n - 1];
			size_t have = strlen(f->value);
			assert_true(have + l < sizeof f->value);
			memcpy(f->value + have, m + i, l);
			f->value[have + l] = '\0';
		} else {
			const char *colon = memchr(m + i, ':', l);
			assert_non_null(colon);
			assert_true(s->n < MAX_FIELDS);
			struct field *f = &s->f[s->n++];
			size_t nl = (size_t)(colon - (m + i));
			assert_true(nl > 0 && nl < sizeof f->name);
			memcpy(f->name, m + i, nl);
			f->name[nl] = '\0';
			for (size_t k = 0; k < nl; k++) /* RFC 5322 ftext */
				assert_true(f->name[k] > 32 && f->name[k] < 127);
			const char *v = colon + 1;
			while (*v == ' ')
				v++;
			size_t vl = (size_t)(eol - v);
			assert_true(vl < sizeof f->value);
			memcpy(f->value, v, vl);
			f->value[vl] = '\0';
		}
		i += l + 2;
	}
	fail_msg("no end of header");
	return 0;
}

static const char *get(const struct section *s, const char *name, unsigned *count_r)
{
	const char *v = NULL;
	unsigned n = 0;
	for (size_t i = 0; i < s->n; i++)
		if (strcasecmp(s->f[i].name, name) == 0) {
			n++;
			if (v == NULL)
				v = s->f[i].value;
		}
	if (count_r)
		*count_r = n;
	return v;
}

static const char *get1(const struct section *s, const char *name)
{
	unsigned n;
	const char *v = get(s, name, &n);
	if (n != 1)
		fail_msg("field %s appears %u times", name, n);
	return v;
}

struct parsed {
	struct section top;
	struct section part[3];
	size_t nparts;
};

static void parse_message(const char *m, size_t len, struct parsed *p)
{
	check_lines(m, len);
	size_t body = parse_fields(m, len, &p->top);
	const char *ct = get1(&p->top, "Content-Type");
	assert_non_null(strstr(ct, "multipart/report"));
	assert_non_null(strstr(ct, "report-type=feedback-report"));
	const char *b = strstr(ct, "boundary=\"");
	assert_non_null(b);
	char boundary[128], delim[140];
	b += 10;
	size_t bl = strcspn(b, "\"");
	assert_true(bl > 0 && bl < sizeof boundary);
	memcpy(boundary, b, bl);
	boundary[bl] = '\0';
	snprintf(delim, sizeof delim, "\r\n--%s", boundary);

	/* split the body at the delimiter lines */
	const char *cur = strstr(m + body - 2, delim);
	p->nparts = 0;
	assert_non_null(cur);
	for (;;) {
		cur += strlen(delim);
		if (strncmp(cur, "--\r\n", 4) == 0) {
			assert_true((size_t)(cur + 4 - m) == len); /* close delimiter ends the message */
			break;
		}
		assert_true(strncmp(cur, "\r\n", 2) == 0);
		cur += 2;
		const char *next = strstr(cur, delim);
		assert_non_null(next);
		assert_true(p->nparts < 3);
		struct section *s = &p->part[p->nparts++];
		size_t off = parse_fields(cur, (size_t)(next - cur) + 2, s);
		s->body = cur + off;
		s->bodylen = (size_t)(next - s->body);
		cur = next;
	}
}

/* ---- cases ---- */

static struct arf_evidence good_evidence(void)
{
	struct arf_evidence ev = {
		.domain = "example.com",
		.rdns = "vps-77.hosting.example.nl",
		.total = 130,
		.fail_both = 120,
		.spf_aligned_pass = 10,
		.dkim_aligned_pass = 0,
		.first_seen = 1717200000, /* Sat, 01 Jun 2024 00:00:00 */
		.last_seen = 1717804799,
		.reporters = "google.com, Yahoo, Mail.Ru",
		.network = "192.0.2.0 - 192.0.2.255 EXAMPLE-HOSTING-NET 192.0.2.0/24 NL",
	};
	ip_parse("192.0.2.77", &ev.ip);
	return ev;
}

static struct arf_envelope good_envelope(void)
{
	struct arf_envelope env = {
		.from = "dmarc-abuse@example.com",
		.to = "abuse@hosting.example.nl",
		.message_id = "66.1234abcd.arf@example.com",
		.authserv_id = "mx.example.com",
		.user_agent = "mamori/0.1",
		.now = 1718000000, /* Mon, 10 Jun 2024 06:13:20 */
	};
	return env;
}

static void test_well_formed(void **state)
{
	struct arf_evidence ev = good_evidence();
	struct arf_envelope env = good_envelope();
	struct buf out = BUF_INIT(ARF_MAX_MESSAGE);
	char err[256];
	assert_int_equal(arf_build(&ev, &env, &out, err, sizeof err), 0);
	struct parsed *p = xcalloc(1, sizeof *p);
	parse_message(out.data, out.len, p);

	assert_string_equal(get1(&p->top, "From"), "<dmarc-abuse@example.com>");
	assert_string_equal(get1(&p->top, "To"), "<abuse@hosting.example.nl>");
	assert_string_equal(get1(&p->top, "Subject"),
			    "Abuse report: DMARC authentication failures for example.com from 192.0.2.77");
	assert_string_equal(get1(&p->top, "Date"), "Mon, 10 Jun 2024 06:13:20 +0000");
	assert_string_equal(get1(&p->top, "Message-ID"), "<66.1234abcd.arf@example.com>");
	assert_string_equal(get1(&p->top, "MIME-Version"), "1.0");
	assert_string_equal(get1(&p->top, "Auto-Submitted"), "auto-generated");

	assert_int_equal(p->nparts, 3);
	assert_string_equal(get1(&p->part[0], "Content-Type"), "text/plain; charset=us-ascii");
	assert_string_equal(get1(&p->part[1], "Content-Type"), "message/feedback-report");
	assert_string_equal(get1(&p->part[2], "Content-Type"), "text/rfc822-headers");

	/* part 1: the human summary carries the evidence */
	char *text = xstrndup(p->part[0].body, p->part[0].bodylen);
	static const char *const want[] = {
		"Domain:             example.com",
		"Source IP:          192.0.2.77",
		"Reverse DNS:        vps-77.hosting.example.nl",
		"Network:            192.0.2.0 - 192.0.2.255 EXAMPLE-HOSTING-NET 192.0.2.0/24 NL",
		"Messages seen:      130",
		"Failing SPF+DKIM:   120",
		"SPF aligned pass:   10 of 130",
		"DKIM aligned pass:  0 of 130",
		"First seen:         Sat, 01 Jun 2024 00:00:00 +0000",
		"Last seen:          Fri, 07 Jun 2024 23:59:59 +0000",
		"Reported by:        google.com, Yahoo, Mail.Ru",
		"RECONSTRUCTED",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		if (strstr(text, want[i]) == NULL)
			fail_msg("summary lacks \"%s\"", want[i]);
	}
	free(text);

	/* part 2: the machine-readable report, RFC 5965 + RFC 6591 */
	struct section fr;
	char *rep = xstrndup(p->part[1].body, p->part[1].bodylen);
	size_t replen = strlen(rep);
	char *rep2 = xmalloc(replen + 3);
	memcpy(rep2, rep, replen);
	memcpy(rep2 + replen, "\r\n", 3); /* the empty line that ends the field block */
	parse_fields(rep2, replen + 2, &fr);
	static const struct {
		const char *name, *value;
	} fields[] = {
		{ "Feedback-Type", "auth-failure" },
		{ "User-Agent", "mamori/0.1" },
		{ "Version", "1" },
		{ "Auth-Failure", "dmarc" },
		{ "Source-IP", "192.0.2.77" },
		{ "Reported-Domain", "example.com" },
		{ "Arrival-Date", "Sat, 01 Jun 2024 00:00:00 +0000" },
		{ "Incidents", "120" },
		{ "Identity-Alignment", "none" },
		{ "Authentication-Results",
		  "mx.example.com; dmarc=fail (from aggregate reports) header.from=example.com" },
	};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		assert_string_equal(get1(&fr, fields[i].name), fields[i].value);
	free(rep);
	free(rep2);

	/* part 3: reconstructed headers, and saying so */
	char *hdrs = xstrndup(p->part[2].body, p->part[2].bodylen);
	assert_non_null(strstr(hdrs, "From: <unknown@example.com>\r\n"));
	assert_non_null(strstr(hdrs, "X-Mamori-Reconstructed: yes"));
	assert_non_null(strstr(hdrs, "Received: from vps-77.hosting.example.nl ([192.0.2.77]);"));
	free(hdrs);
	free(p);
	buf_free(&out);
}

static bool has_line_starting(const char *m, const char *prefix)
{
	size_t pl = strlen(prefix);
	if (strncasecmp(m, prefix, pl) == 0)
		return true;
	for (const char *p = strstr(m, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n"))
		if (strncasecmp(p + 2, prefix, pl) == 0)
			return true;
	return false;
}

static void test_no_injection(void **state)
{
	struct arf_evidence ev = good_evidence();
	struct arf_envelope env = good_envelope();
	ev.rdns = "evil.example\r\nBcc: victim@target.example";
	ev.reporters = "Org\r\n\r\n--=_mamori_arf_0_0\r\nContent-Type: text/html\r\n\r\n<script>x</script>";
	ev.network = "NET\nX-Injected: 1\x01\x7f\tend \xc3\xa9t\xc3\xa9";
	env.authserv_id = "mx.example.com\r\nX-Auth-Injected: yes; dmarc=pass";
	env.user_agent = "mamori\r\nX-UA: 1";
	struct buf out = BUF_INIT(ARF_MAX_MESSAGE);
	char err[256];
	assert_int_equal(arf_build(&ev, &env, &out, err, sizeof err), 0);
	struct parsed *p = xcalloc(1, sizeof *p);
	parse_message(out.data, out.len, p); /* also checks: CRLF only, 7bit, short lines */
	assert_int_equal(p->nparts, 3);
	static const char *const forbidden[] = { "Bcc:", "X-Injected", "X-Auth-Injected", "X-UA:",
						 "Content-Type: text/html" };
	for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++) {
		if (has_line_starting(out.data, forbidden[i]))
			fail_msg("a line starts with %s", forbidden[i]);
	}
	/* the values are still there, flattened */
	assert_non_null(strstr(out.data, "evil.example Bcc: victim@target.example"));
	assert_non_null(strstr(out.data, "NET X-Injected: 1 end ?t?"));
	free(p);
	buf_free(&out);
}

static void test_boundary_collision(void **state)
{
	struct arf_evidence ev = good_evidence();
	struct arf_envelope env = good_envelope();
	char taken[128];
	/* the first boundary the composer would pick, planted in the data */
	snprintf(taken, sizeof taken, "x =_mamori_arf_%llx_0 y", (unsigned long long)env.now);
	ev.reporters = taken;
	struct buf out = BUF_INIT(ARF_MAX_MESSAGE);
	char err[256];
	assert_int_equal(arf_build(&ev, &env, &out, err, sizeof err), 0);
	struct parsed *p = xcalloc(1, sizeof *p);
	parse_message(out.data, out.len, p);
	assert_int_equal(p->nparts, 3);
	assert_non_null(strstr(get1(&p->top, "Content-Type"), "_1\""));
	free(p);
	buf_free(&out);
}

struct refuse_case {
	const char *name;
	const char *from, *to, *msgid, *domain;
	const char *err_has;
};

static const struct refuse_case refusals[] = {
	{ "to with CRLF", NULL, "abuse@x.example\r\nBcc: v@y.example", NULL, NULL, "contact" },
	{ "to not an address", NULL, "Abuse Desk", NULL, NULL, "contact" },
	{ "from empty", "", NULL, NULL, NULL, "sender" },
	{ "from with display name", "Mamori <a@b.example>", NULL, NULL, NULL, "sender" },
	{ "message-id with brackets", NULL, NULL, "<a@b.example>", NULL, "Message-ID" },
	{ "message-id with space", NULL, NULL, "a b@c.example", NULL, "Message-ID" },
	{ "domain with CRLF", NULL, NULL, NULL, "example.com\r\nBcc: x@y.example", "domain" },
	{ "domain empty", NULL, NULL, NULL, "", "domain" },
};

static void test_refusals(void **state)
{
	for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
		const struct refuse_case *c = &refusals[i];
		struct arf_evidence ev = good_evidence();
		struct arf_envelope env = good_envelope();
		if (c->from)
			env.from = c->from;
		if (c->to)
			env.to = c->to;
		if (c->msgid)
			env.message_id = c->msgid;
		if (c->domain)
			ev.domain = c->domain;
		struct buf out = BUF_INIT(ARF_MAX_MESSAGE);
		char err[256] = "";
		print_message("%s\n", c->name);
		assert_int_equal(arf_build(&ev, &env, &out, err, sizeof err), -1);
		assert_non_null(strstr(err, c->err_has));
		assert_int_equal(out.len, 0);
		buf_free(&out);
	}
	/* an output buffer too small to hold any report is refused up front */
	struct arf_evidence ev = good_evidence();
	struct arf_envelope env = good_envelope();
	struct buf small = BUF_INIT(100);
	char err[256];
	assert_int_equal(arf_build(&ev, &env, &small, err, sizeof err), -1);
	buf_free(&small);
}

static void test_long_values_fold(void **state)
{
	struct arf_evidence ev = good_evidence();
	struct arf_envelope env = good_envelope();
	char longname[400];
	size_t n = 0;
	while (n + 12 < sizeof longname) {
		memcpy(longname + n, "label-word ", 11);
		n += 11;
	}
	longname[n] = '\0';
	env.authserv_id = "mx.example.com"; /* token: spaces would become _ */
	ev.reporters = longname;
	ev.domain = "a-rather-long-subdomain-name.of-a-long-registered-domain.example.com";
	struct buf out = BUF_INIT(ARF_MAX_MESSAGE);
	char err[256];
	assert_int_equal(arf_build(&ev, &env, &out, err, sizeof err), 0);
	struct parsed *p = xcalloc(1, sizeof *p);
	parse_message(out.data, out.len, p);
	/* the subject was folded, and unfolds to the full text */
	const char *subj = get1(&p->top, "Subject");
	assert_string_equal(subj, "Abuse report: DMARC authentication failures for "
				  "a-rather-long-subdomain-name.of-a-long-registered-domain.example.com from 192.0.2.77");
	const char *raw = strstr(out.data, "\r\nSubject:");
	assert_non_null(raw);
	const char *eol = strstr(raw + 2, "\r\n");
	assert_true(eol - (raw + 2) <= ARF_LINE_MAX);
	free(p);
	buf_free(&out);
}

static void test_message_id_and_clean(void **state)
{
	char id[256];
	assert_int_equal(arf_message_id("dmarc@example.com", 1718000000, id, sizeof id), 0);
	assert_non_null(strstr(id, "@example.com"));
	assert_int_equal(strncmp(id, "66669980.", 9), 0);
	char id2[256];
	assert_int_equal(arf_message_id("dmarc@example.com", 1718000000, id2, sizeof id2), 0);
	assert_string_not_equal(id, id2); /* the random part differs */
	assert_int_equal(arf_message_id("no-domain", 1, id, sizeof id), -1);
	assert_int_equal(arf_message_id("a@bad..example", 1, id, sizeof id), -1);
	assert_int_equal(arf_message_id("a@example.com", 1, id, 10), -1);

	static const struct {
		const char *in, *out;
	} t[] = {
		{ "  a\r\n b \t c  ", "a b c" }, { "x\x01\x02y", "x y" }, { "caf\xc3\xa9", "caf?" },
		{ "\xf0\x9f\x98\x80!", "?!" },   { "", "" },               { "\r\n", "" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char o[64];
		arf_clean(t[i].in, o, sizeof o);
		assert_string_equal(o, t[i].out);
	}
	char small[4];
	arf_clean("abcdef", small, sizeof small);
	assert_string_equal(small, "abc");
	arf_clean(NULL, small, sizeof small);
	assert_string_equal(small, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_well_formed),       cmocka_unit_test(test_no_injection),
		cmocka_unit_test(test_boundary_collision), cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_long_values_fold),  cmocka_unit_test(test_message_id_and_clean),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
