/* unit tests for src/auth/authres: RFC 8601 parsing, authserv-id matching, building */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authres.h"

/* large: keep it off the stack */
static struct authres ar;

struct exp_prop {
	const char *ptype, *property, *value;
};
struct exp_res {
	const char *method;
	unsigned mver;
	const char *result;
	const char *reason; /* "" when absent */
	struct exp_prop props[4];
	size_t nprops;
};
struct parse_case {
	const char *name;
	const char *value;
	const char *id;
	unsigned version;
	size_t nres;
	struct exp_res res[5];
};

static const struct parse_case parse_cases[] = {
	/* RFC 8601 appendix B.2-B.7 */
	{ "B.2 none", " example.org 1; none", "example.org", 1, 0, { { 0 } } },
	{ "B.3", "example.com;\r\n          spf=pass smtp.mailfrom=example.net", "example.com", 1, 1,
	  { { "spf", 0, "pass", "", { { "smtp", "mailfrom", "example.net" } }, 1 } } },
	{ "B.4 first",
	  "example.com;\r\n          auth=pass (cram-md5) smtp.auth=sender@example.net;\r\n"
	  "          spf=pass smtp.mailfrom=example.net",
	  "example.com", 1, 2,
	  { { "auth", 0, "pass", "", { { "smtp", "auth", "sender@example.net" } }, 1 },
	    { "spf", 0, "pass", "", { { "smtp", "mailfrom", "example.net" } }, 1 } } },
	{ "B.4 second", "example.com; iprev=pass\r\n          policy.iprev=192.0.2.200", "example.com",
	  1, 1, { { "iprev", 0, "pass", "", { { "policy", "iprev", "192.0.2.200" } }, 1 } } },
	{ "B.5 first", "example.com;\r\n          dkim=pass (good signature) header.d=example.com",
	  "example.com", 1, 1, { { "dkim", 0, "pass", "", { { "header", "d", "example.com" } }, 1 } } },
	{ "B.5 second",
	  "example.com;\r\n          auth=pass (cram-md5) smtp.auth=sender@example.com;\r\n"
	  "          spf=fail smtp.mailfrom=example.com",
	  "example.com", 1, 2,
	  { { "auth", 0, "pass", "", { { "smtp", "auth", "sender@example.com" } }, 1 },
	    { "spf", 0, "fail", "", { { "smtp", "mailfrom", "example.com" } }, 1 } } },
	{ "B.6 first",
	  "example.com;\r\n          dkim=pass reason=\"good signature\"\r\n"
	  "            header.i=@mail-router.example.net;\r\n"
	  "          dkim=fail reason=\"bad signature\"\r\n            header.i=@newyork.example.com",
	  "example.com", 1, 2,
	  { { "dkim", 0, "pass", "good signature", { { "header", "i", "@mail-router.example.net" } }, 1 },
	    { "dkim", 0, "fail", "bad signature", { { "header", "i", "@newyork.example.com" } }, 1 } } },
	{ "B.6 second",
	  "example.net;\r\n          dkim=pass (good signature) header.i=@newyork.example.com",
	  "example.net", 1, 1,
	  { { "dkim", 0, "pass", "", { { "header", "i", "@newyork.example.com" } }, 1 } } },
	{ "B.7 comment-heavy",
	  "foo.example.net (foobar) 1 (baz);\r\n"
	  "    dkim (Because I like it) / 1 (One yay) = (wait for it) fail\r\n"
	  "      policy (A dot can go here) . (like that) expired\r\n"
	  "      (this surprised me) = (as I wasn't expecting it) 1362471462",
	  "foo.example.net", 1, 1,
	  { { "dkim", 1, "fail", "", { { "policy", "expired", "1362471462" } }, 1 } } },
	/* real-world shapes */
	{ "gmail style",
	  "mx.google.com;\r\n       dkim=pass header.i=@email.example.com header.s=20111006 "
	  "header.b=URn9MW+F;\r\n       spf=pass (google.com: domain of foo@b.example.com designates "
	  "1.2.3.4 as permitted sender) smtp.mailfrom=foo@b.example.com;\r\n"
	  "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com",
	  "mx.google.com", 1, 3,
	  { { "dkim", 0, "pass", "",
	      { { "header", "i", "@email.example.com" }, { "header", "s", "20111006" },
		{ "header", "b", "URn9MW+F" } }, 3 },
	    { "spf", 0, "pass", "", { { "smtp", "mailfrom", "foo@b.example.com" } }, 1 },
	    { "dmarc", 0, "pass", "", { { "header", "from", "example.com" } }, 1 } } },
	{ "microsoft style (bare action=, no space after ';', trailing reason=)",
	  "mx.microsoft.com; spf=pass (sender IP is 192.0.2.1) "
	  "smtp.mailfrom=example.com; dkim=none (message not signed) header.d=none;dmarc=none "
	  "action=none header.from=example.com;compauth=pass reason=100",
	  "mx.microsoft.com", 1, 4,
	  { { "spf", 0, "pass", "", { { "smtp", "mailfrom", "example.com" } }, 1 },
	    { "dkim", 0, "none", "", { { "header", "d", "none" } }, 1 },
	    { "dmarc", 0, "none", "", { { "", "action", "none" }, { "header", "from", "example.com" } }, 2 },
	    { "compauth", 0, "pass", "100", { { 0 } }, 0 } } },
	{ "case folded keywords, value case kept", "MX.Example.ORG; SPF=Pass SMTP.MailFrom=Bob@Example.NET",
	  "MX.Example.ORG", 1, 1, { { "spf", 0, "pass", "", { { "smtp", "mailfrom", "Bob@Example.NET" } }, 1 } } },
	{ "quoted authserv-id and quoted local-part",
	  "\"mx.example.org\" ; spf=pass smtp.mailfrom=\"john \\\"jd\\\" doe\"@example.com",
	  "mx.example.org", 1, 1,
	  { { "spf", 0, "pass", "", { { "smtp", "mailfrom", "john \"jd\" doe@example.com" } }, 1 } } },
	{ "nested comments and trailing ';'",
	  "(a (b (c \\) d))) mx.example.org (x);spf=pass(y);", "mx.example.org", 1, 1,
	  { { "spf", 0, "pass", "", { { 0 } }, 0 } } },
	{ "UTF-8 in quoted reason and unquoted value",
	  "mx.example.org; dkim=fail reason=\"cl\xc3\xa9 invalide\" header.d=b\xc3\xbc" "cher.example",
	  "mx.example.org", 1, 1,
	  { { "dkim", 0, "fail", "cl\xc3\xa9 invalide", { { "header", "d", "b\xc3\xbc" "cher.example" } }, 1 } } },
	{ "quoted empty value", "mx.example.org; spf=none smtp.mailfrom=\"\"", "mx.example.org", 1, 1,
	  { { "spf", 0, "none", "", { { "smtp", "mailfrom", "" } }, 1 } } },
	{ "version 2, method version", "mx.example.org 2; dkim/1=pass", "mx.example.org", 2, 1,
	  { { "dkim", 1, "pass", "", { { 0 } }, 0 } } },
	{ "folded with LF only", "mx.example.org;\n\tarc=pass\n\tsmtp.remote-ip=192.0.2.1", "mx.example.org",
	  1, 1, { { "arc", 0, "pass", "", { { "smtp", "remote-ip", "192.0.2.1" } }, 1 } } },
};

static void check_parse(const struct parse_case *pc, const struct authres *a)
{
	assert_string_equal(a->authserv_id, pc->id);
	assert_int_equal(a->version, pc->version);
	assert_int_equal(a->nres, pc->nres);
	assert_false(a->truncated);
	for (size_t i = 0; i < pc->nres; i++) {
		const struct exp_res *e = &pc->res[i];
		const struct authres_result *r = &a->res[i];
		assert_string_equal(r->method, e->method);
		assert_int_equal(r->method_version, e->mver);
		assert_string_equal(r->result, e->result);
		assert_string_equal(r->reason, e->reason);
		assert_int_equal(r->nprops, e->nprops);
		for (size_t j = 0; j < e->nprops; j++) {
			assert_string_equal(r->props[j].ptype, e->props[j].ptype);
			assert_string_equal(r->props[j].property, e->props[j].property);
			assert_string_equal(r->props[j].value, e->props[j].value);
		}
	}
}

static void test_parse_cases(void **state)
{
	for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
		const struct parse_case *pc = &parse_cases[i];
		char err[200];
		print_message("case: %s\n", pc->name);
		int rc = authres_parse(pc->value, strlen(pc->value), &ar, err, sizeof err);
		if (rc != 0)
			print_message("  unexpected error: %s\n", err);
		assert_int_equal(rc, 0);
		assert_string_equal(err, "");
		check_parse(pc, &ar);
	}
}

/* hostile and malformed values: each must fail with this exact reason */
struct bad_case {
	const char *name;
	const char *value;
	size_t len; /* 0: strlen */
	const char *err;
};

static const struct bad_case bad_cases[] = {
	{ "empty", "", 0, "expected authserv-id, found end of input at offset 0" },
	{ "only spaces and comment", "  (x)  ", 0, "expected authserv-id, found end of input at offset 7" },
	{ "id only", "example.com", 0, "expected ';' after authserv-id, found end of input at offset 11" },
	{ "id with tspecial", "example.com/x; none", 0, "expected ';' after authserv-id, found '/' at offset 11" },
	{ "nothing after ';'", "example.com; ", 0, "no result after ';' at offset 13" },
	{ "unterminated comment", "example.com; spf=pass (oops", 0, "unterminated comment at offset 22" },
	{ "unterminated nested comment", "example.com (a (b) ; spf=pass", 0, "unterminated comment at offset 12" },
	{ "comment ends in backslash", "example.com; spf=pass (x\\", 0, "unterminated comment at offset 22" },
	{ "unterminated quote", "example.com; dkim=fail reason=\"bad", 0,
	  "unterminated quoted-string in reason at offset 30" },
	{ "unterminated quoted id", "\"example.com; none", 0,
	  "unterminated quoted-string in authserv-id at offset 0" },
	{ "quote ends in backslash", "x; spf=pass reason=\"a\\", 0,
	  "unterminated quoted-string in reason at offset 19" },
	{ "NUL byte", "example.com; spf=pass\0 smtp.mailfrom=x", 38, "NUL byte at offset 21" },
	{ "8-bit byte in method", "example.com; sp\xc3\xa9=pass", 0,
	  "8-bit byte 0xc3 in method (only allowed quoted) at offset 15" },
	{ "8-bit byte in id", "ex\xe4mple.com; none", 0,
	  "8-bit byte 0xe4 in authserv-id (only allowed quoted) at offset 2" },
	{ "8-bit byte as result", "x; spf=\xff", 0, "8-bit byte 0xff in result (only allowed quoted) at offset 7" },
	{ "invalid UTF-8 in value", "example.com; spf=pass smtp.mailfrom=a\xff" "b", 0,
	  "invalid UTF-8 byte 0xff in smtp.mailfrom at offset 37" },
	{ "invalid UTF-8 in quoted", "x; spf=pass reason=\"\xc3(\"", 0, "invalid UTF-8 byte 0xc3 in reason at offset 20" },
	{ "overlong UTF-8 form", "x; spf=pass reason=\"\xc0\xaf\"", 0, "invalid UTF-8 byte 0xc0 in reason at offset 20" },
	{ "control char in quote", "x; spf=pass reason=\"a\x01" "b\"", 0, "control character 0x01 in reason at offset 21" },
	{ "missing '=' after method", "example.com; spf pass", 0,
	  "expected '=' after method \"spf\", found 'p' at offset 17" },
	{ "missing '=' in property", "example.com; spf=pass smtp.mailfrom example.net", 0,
	  "expected '=' after smtp.mailfrom, found 'e' at offset 36" },
	{ "property without '.' or '='", "x; spf=pass smtp", 0,
	  "expected '.' or '=' after \"smtp\", found end of input at offset 16" },
	{ "missing property after '.'", "x; spf=pass smtp.=x", 0, "expected property, found '=' at offset 17" },
	{ "missing result", "example.com; spf=", 0,
	  "missing result for method \"spf\" (found end of input) at offset 17" },
	{ "missing result before ';'", "x; spf= ; dkim=pass", 0,
	  "missing result for method \"spf\" (found ';') at offset 8" },
	{ "missing method", "x; =pass", 0, "expected method, found '=' at offset 3" },
	{ "empty value at end", "example.com; spf=pass smtp.mailfrom=", 0,
	  "empty value for smtp.mailfrom (found end of input) at offset 36" },
	{ "empty value before ';'", "x; spf=pass smtp.mailfrom=; dkim=pass", 0,
	  "empty value for smtp.mailfrom (found ';') at offset 26" },
	{ "empty reason", "x; spf=pass reason= (c)", 0, "empty value for reason (found end of input) at offset 23" },
	{ "empty quoted id", "\"\"; none", 0, "empty authserv-id at offset 0" },
	{ "backslash in bare value", "x; spf=pass smtp.mailfrom=\\x", 0,
	  "backslash outside quotes in smtp.mailfrom at offset 26" },
	{ "quoted local-part without domain", "x; spf=pass smtp.mailfrom=\"a b\"@", 0,
	  "missing domain after '@' in smtp.mailfrom at offset 32" },
	{ "none not alone", "example.com; none; spf=pass", 0, "\"none\" must be the only result at offset 13" },
	{ "none after result", "example.com; spf=pass; none", 0, "\"none\" must be the only result at offset 23" },
	{ "comma between results", "x; spf=pass, dkim=pass", 0, "expected property or ';', found ',' at offset 11" },
	{ "double ';'", "x; spf=pass;; dkim=pass", 0, "expected method, found ';' at offset 12" },
	{ "duplicate reason", "x; spf=pass reason=a reason=b", 0, "duplicate reason at offset 21" },
	{ "duplicate empty reason", "x; spf=pass reason=\"\" reason=b", 0, "duplicate reason at offset 22" },
	{ "version too long", "x 1234567890; none", 0, "version number too long at offset 2" },
	{ "method version missing", "x; dkim/=pass", 0, "expected method version number, found '=' at offset 8" },
	{ "stray ')'", "x; spf=pass smtp.mailfrom=a)b", 0, "expected property or ';', found ')' at offset 27" },
};

static void test_parse_bad(void **state)
{
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		const struct bad_case *bc = &bad_cases[i];
		char err[200] = "untouched";
		size_t len = bc->len ? bc->len : strlen(bc->value);
		print_message("case: %s\n", bc->name);
		assert_int_equal(authres_parse(bc->value, len, &ar, err, sizeof err), -1);
		assert_string_equal(err, bc->err);
	}
	/* a NULL or tiny err buffer is fine */
	assert_int_equal(authres_parse("x;", 2, &ar, NULL, 0), -1);
	char tiny[8];
	assert_int_equal(authres_parse("x;", 2, &ar, tiny, sizeof tiny), -1);
	assert_string_equal(tiny, "no resu");
}

static void test_parse_deep_comment(void **state)
{
	/* 1000 nested comments: refused past AUTHRES_MAX_COMMENT_DEPTH */
	char v[2100], err[200];
	size_t n = 0;
	memcpy(v, "x; spf=pass ", 12);
	n = 12;
	for (int i = 0; i < 1000; i++)
		v[n++] = '(';
	for (int i = 0; i < 1000; i++)
		v[n++] = ')';
	assert_int_equal(authres_parse(v, n, &ar, err, sizeof err), -1);
	char want[100];
	snprintf(want, sizeof want, "comments nested deeper than %d at offset %d",
		 AUTHRES_MAX_COMMENT_DEPTH, 12 + AUTHRES_MAX_COMMENT_DEPTH);
	assert_string_equal(err, want);

	/* exactly the maximum depth is accepted */
	n = 12;
	for (int i = 0; i < AUTHRES_MAX_COMMENT_DEPTH; i++)
		v[n++] = '(';
	for (int i = 0; i < AUTHRES_MAX_COMMENT_DEPTH; i++)
		v[n++] = ')';
	assert_int_equal(authres_parse(v, n, &ar, err, sizeof err), 0);
	assert_int_equal(ar.nres, 1);
}

static void test_parse_overlong(void **state)
{
	char v[2000], err[200];
	int n;

	char m[41];
	memset(m, 'a', 40);
	m[40] = '\0';
	n = snprintf(v, sizeof v, "x; %s=pass", m);
	assert_int_equal(authres_parse(v, (size_t)n, &ar, err, sizeof err), -1);
	assert_string_equal(err, "method too long (40 bytes, max 31) at offset 3");

	n = snprintf(v, sizeof v, "x; spf=%s", m);
	assert_int_equal(authres_parse(v, (size_t)n, &ar, err, sizeof err), -1);
	assert_string_equal(err, "result too long (40 bytes, max 31) at offset 7");

	n = snprintf(v, sizeof v, "x; spf=pass %s.d=x", m);
	assert_int_equal(authres_parse(v, (size_t)n, &ar, err, sizeof err), -1);
	assert_string_equal(err, "ptype too long (max 31 bytes) at offset 12");

	char big[600];
	memset(big, 'b', 599);
	big[599] = '\0';
	n = snprintf(v, sizeof v, "x; spf=pass smtp.mailfrom=%s", big);
	assert_int_equal(authres_parse(v, (size_t)n, &ar, err, sizeof err), -1);
	assert_string_equal(err, "smtp.mailfrom too long (max 511 bytes) at offset 26");

	n = snprintf(v, sizeof v, "x; spf=pass reason=\"%s\"", big);
	assert_int_equal(authres_parse(v, (size_t)n, &ar, err, sizeof err), -1);
	assert_string_equal(err, "reason too long (max 255 bytes) at offset 19");

	n = snprintf(v, sizeof v, "%.300s; none", big);
	assert_int_equal(authres_parse(v, (size_t)n, &ar, err, sizeof err), -1);
	assert_string_equal(err, "authserv-id too long (max 255 bytes) at offset 0");

	/* exactly at the limits is fine */
	n = snprintf(v, sizeof v, "%.255s; spf=pass smtp.mailfrom=%.511s", big, big);
	assert_int_equal(authres_parse(v, (size_t)n, &ar, err, sizeof err), 0);
	assert_int_equal(strlen(ar.authserv_id), 255);
	assert_int_equal(strlen(ar.res[0].props[0].value), 511);
}

static void test_parse_truncated(void **state)
{
	char v[4000], err[200];
	size_t n = (size_t)snprintf(v, sizeof v, "x");
	for (int i = 0; i < AUTHRES_MAX_RESULTS + 8; i++)
		n += (size_t)snprintf(v + n, sizeof v - n, "; m%d=pass", i);
	assert_int_equal(authres_parse(v, n, &ar, err, sizeof err), 0);
	assert_int_equal(ar.nres, AUTHRES_MAX_RESULTS);
	assert_true(ar.truncated);
	assert_string_equal(ar.res[AUTHRES_MAX_RESULTS - 1].method, "m31");

	/* a syntax error after the kept results is still an error */
	n += (size_t)snprintf(v + n, sizeof v - n, "; bad");
	assert_int_equal(authres_parse(v, n, &ar, err, sizeof err), -1);

	n = (size_t)snprintf(v, sizeof v, "x; dkim=pass");
	for (int i = 0; i < AUTHRES_MAX_PROPS + 3; i++)
		n += (size_t)snprintf(v + n, sizeof v - n, " header.p%d=v%d", i, i);
	assert_int_equal(authres_parse(v, n, &ar, err, sizeof err), 0);
	assert_int_equal(ar.nres, 1);
	assert_int_equal(ar.res[0].nprops, AUTHRES_MAX_PROPS);
	assert_true(ar.truncated);
	assert_string_equal(ar.res[0].props[7].property, "p7");
}

/* authserv-id reading and the forged-header test */
static void test_authserv_id(void **state)
{
	struct {
		const char *value;
		int rc;
		const char *id;
	} cases[] = {
		{ "mx.example.org; spf=pass", 0, "mx.example.org" },
		{ "  (c (nested)) mx.example.org 1; none", 0, "mx.example.org" },
		{ "\"mx.exa\\mple.org\"; none", 0, "mx.example.org" },
		{ "mx.example.org", 0, "mx.example.org" },
		{ "mx.example.org(x", 0, "mx.example.org" },
		{ "", -1, "" },
		{ "   ", -1, "" },
		{ "(unterminated mx.example.org", -1, "" },
		{ "\"unterminated", -1, "" },
		{ ";spf=pass", -1, "" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char id[64] = "junk";
		print_message("case: %s\n", cases[i].value);
		assert_int_equal(authres_authserv_id(cases[i].value, strlen(cases[i].value), id, sizeof id),
				 cases[i].rc);
		if (cases[i].rc == 0)
			assert_string_equal(id, cases[i].id);
	}
	char small[5];
	assert_int_equal(authres_authserv_id("mx.example.org;", 15, small, sizeof small), -1);
	assert_int_equal(authres_authserv_id("abcd;", 5, small, sizeof small), 0);
	assert_string_equal(small, "abcd");
}

static void test_is_ours(void **state)
{
	static const struct {
		const char *value;
		size_t len;
		bool ours;
	} cases[] = {
		{ "mx.example.org; spf=pass", 0, true },
		{ "MX.Example.ORG; spf=pass", 0, true },
		{ "(forged) mx.example.org; spf=pass", 0, true },
		{ " (a (nested) comment)\r\n\tmx.example.org 1; none", 0, true },
		{ "\"mx.example.org\"; spf=pass", 0, true },
		{ "\"MX.EXAMPLE.ORG\" ; none", 0, true },
		{ "mx.example.org", 0, true },
		{ "mx.example.org;", 0, true },
		/* hostile or unparseable, yet starting with our id */
		{ "mx.example.org(unterminated", 0, true },
		{ "\"mx.example.org; spf=pass", 0, true },
		{ "mx.example.org/x; none", 0, true },
		{ "mx.example.org@evil; none", 0, true },
		{ "mx.example.org\0; spf=pass", 25, true },
		{ "\"mx.example.org\0\"; none", 23, true },
		/* someone else's */
		{ "mx.example.org.evil; spf=pass", 0, false },
		{ "\"mx.example.org.evil\"; none", 0, false },
		{ "mx.example.org-evil; none", 0, false },
		{ "mx.example.org\xc3\xa9; none", 0, false },
		{ "evil.mx.example.org; none", 0, false },
		{ "mx.example.or; none", 0, false },
		{ "other.example; spf=pass (mx.example.org)", 0, false },
		{ "(unterminated mx.example.org", 0, false },
		{ "", 0, false },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].value);
		print_message("case %zu: %s\n", i, cases[i].value);
		assert_int_equal(authres_is_ours(cases[i].value, len, "mx.example.org"), cases[i].ours);
	}
	/* our id configured in upper case */
	assert_true(authres_is_ours("mx.example.org; none", 20, "MX.EXAMPLE.ORG"));
	assert_false(authres_is_ours("mx.example.org; none", 20, ""));
	assert_false(authres_is_ours("mx.example.org; none", 20, NULL));
}

/* ---- builder ---- */

/* every line within the limit (the first after the field name), CRLF
   (or LF) only as folding followed by a tab, no other control bytes */
static void check_folding(const char *v, const char *eol)
{
	size_t col = AUTHRES_NAME_COLUMN, el = strlen(eol);
	for (const char *p = v; *p;) {
		if (strncmp(p, eol, el) == 0) {
			assert_true(col <= AUTHRES_LINE_MAX);
			p += el;
			assert_int_equal(*p, '\t');
			col = 0;
			continue;
		}
		assert_true((unsigned char)*p >= 0x20 || *p == '\t');
		assert_true(*p != 0x7f);
		col++;
		p++;
	}
	assert_true(col <= AUTHRES_LINE_MAX);
}

static void test_build_none(void **state)
{
	struct authres_builder *b = authres_builder_new("mx.example.org");
	char *v = authres_builder_finish(&b, "\r\n");
	assert_null(b);
	assert_string_equal(v, "mx.example.org; none");
	char err[200];
	assert_int_equal(authres_parse(v, strlen(v), &ar, err, sizeof err), 0);
	assert_int_equal(ar.nres, 0);
	free(v);

	/* an id that is not a token gets quoted */
	b = authres_builder_new("mail gw");
	v = authres_builder_finish(&b, "\n");
	assert_string_equal(v, "\"mail gw\"; none");
	free(v);
}

static void test_build_exact(void **state)
{
	struct authres_builder *b = authres_builder_new("mx.example.org");
	authres_builder_add(b, "spf", "pass", NULL,
			    "mx.example.org: domain of bounce@example.net designates 192.0.2.1 as "
			    "permitted sender");
	authres_builder_prop(b, "smtp", "mailfrom", "bounce@example.net");
	authres_builder_add(b, "dkim", "pass", NULL, NULL);
	authres_builder_prop(b, "header", "d", "example.net");
	authres_builder_prop(b, "header", "s", "sel1");
	authres_builder_prop(b, "header", "b", "ab/cd+ef");
	authres_builder_add(b, "dkim", "fail", "signature did not verify", NULL);
	authres_builder_prop(b, "header", "i", "@example.net");
	authres_builder_add(b, "iprev", "pass", NULL, "(mail.example.net)");
	authres_builder_add(b, "dmarc", "fail", NULL, "p=reject");
	authres_builder_prop(b, "header", "from", "example.net");
	char *v = authres_builder_finish(&b, "\r\n");
	assert_string_equal(v,
		"mx.example.org;\r\n"
		"\tspf=pass (mx.example.org: domain of bounce@example.net designates 192.0.2.1\r\n"
		"\tas permitted sender) smtp.mailfrom=bounce@example.net;\r\n"
		"\tdkim=pass header.d=example.net header.s=sel1 header.b=\"ab/cd+ef\";\r\n"
		"\tdkim=fail reason=\"signature did not verify\" header.i=@example.net;\r\n"
		"\tiprev=pass (\\(mail.example.net\\));\r\n"
		"\tdmarc=fail (p=reject) header.from=example.net");
	check_folding(v, "\r\n");
	free(v);
}

static void test_build_hostile(void **state)
{
	struct authres_builder *b = authres_builder_new("mx.example.org\r\nX-Evil: 1");
	authres_builder_add(b, "sp f\r\n", "Pa;ss", "bad \"sig\"\r\nX-Injected: yes\\",
			    "evil ) comment ( \\ \x01\x7f\xff end");
	authres_builder_prop(b, "smtp", "mailfrom", "\"quoted\\\" local\"\r\n@example.com");
	authres_builder_prop(b, "header", "from", "a b\tc");
	authres_builder_prop(b, "header", "x", "semi;colon");
	authres_builder_prop(b, "he.ader", "d", "");
	authres_builder_prop(b, "", "d", "dropped: empty ptype");
	char *v = authres_builder_finish(&b, "\n");
	check_folding(v, "\n");
	assert_null(strstr(v, "\r"));
	char err[200];
	assert_int_equal(authres_parse(v, strlen(v), &ar, err, sizeof err), 0);
	assert_string_equal(ar.authserv_id, "mx.example.org X-Evil: 1");
	assert_int_equal(ar.nres, 1);
	assert_string_equal(ar.res[0].method, "spf");
	assert_string_equal(ar.res[0].result, "pass");
	assert_string_equal(ar.res[0].reason, "bad \"sig\" X-Injected: yes\\");
	assert_int_equal(ar.res[0].nprops, 4);
	assert_string_equal(ar.res[0].props[0].value, "\"quoted\\\" local\" @example.com");
	assert_string_equal(ar.res[0].props[1].value, "a b c");
	assert_string_equal(ar.res[0].props[2].value, "semi;colon");
	assert_string_equal(ar.res[0].props[3].ptype, "header");
	assert_string_equal(ar.res[0].props[3].value, "");
	/* the comment is escaped, the 8-bit junk replaced */
	assert_non_null(strstr(v, "(evil \\) comment \\( \\\\ ? end)"));
	free(v);

	/* props before any result, and after a refused result, go nowhere */
	b = authres_builder_new("mx");
	authres_builder_prop(b, "smtp", "mailfrom", "x@example.com");
	authres_builder_add(b, "\r\n", "pass", NULL, NULL);
	authres_builder_prop(b, "smtp", "mailfrom", "x@example.com");
	v = authres_builder_finish(&b, "\r\n");
	assert_string_equal(v, "mx; none");
	free(v);

	/* an abandoned builder frees cleanly */
	b = authres_builder_new("mx");
	authres_builder_add(b, "spf", "pass", "r", "c");
	authres_builder_prop(b, "smtp", "mailfrom", "x@example.com");
	authres_builder_free(&b);
	assert_null(b);
	authres_builder_free(&b);
}

struct rt_case {
	const char *method, *result, *reason, *comment;
	const char *props[3][3];
};

static void test_round_trip(void **state)
{
	static const struct rt_case cases[] = {
		{ "spf", "pass", NULL, "designates 192.0.2.1", { { "smtp", "mailfrom", "user@example.com" },
							     { "smtp", "helo", "mail.example.com" } } },
		{ "spf", "none", NULL, NULL, { { "smtp", "mailfrom", "" } } },
		{ "dkim", "pass", NULL, "2048-bit key", { { "header", "d", "example.com" },
						       { "header", "i", "@mail.example.com" },
						       { "header", "b", "Ab/+x=yz" } } },
		{ "dkim", "fail", "body hash did not verify", NULL,
		  { { "header", "i", "first.last+tag@example.com" } } },
		{ "dmarc", "fail", NULL, "p=REJECT sp=NONE dis=REJECT", { { "header", "from", "example.org" } } },
		{ "auth", "pass", NULL, NULL, { { "smtp", "auth", "j\xc3\xb6rg@example.com" } } },
		{ "spf", "softfail", NULL, NULL, { { "smtp", "mailfrom", "odd local@example.com" } } },
		{ "spf", "neutral", NULL, NULL, { { "smtp", "mailfrom", "a@b@example.com" } } },
		{ "x-custom", "temperror", "dns timeout (SERVFAIL)", "a (nested) comment",
		  { { "policy", "x-thing", "a=b;c\\d\"e" } } },
		{ "arc", "pass", NULL, NULL, { { "smtp", "remote-ip", "2001:db8::1" } } },
	};
	size_t n = sizeof cases / sizeof cases[0];
	for (int pass = 0; pass < 2; pass++) {
		const char *eol = pass ? "\n" : "\r\n";
		struct authres_builder *b = authres_builder_new("mx.example.org");
		for (size_t i = 0; i < n; i++) {
			authres_builder_add(b, cases[i].method, cases[i].result, cases[i].reason,
					    cases[i].comment);
			for (size_t j = 0; j < 3 && cases[i].props[j][0]; j++)
				authres_builder_prop(b, cases[i].props[j][0], cases[i].props[j][1],
						     cases[i].props[j][2]);
		}
		char *v = authres_builder_finish(&b, eol);
		check_folding(v, eol);
		char err[200];
		int rc = authres_parse(v, strlen(v), &ar, err, sizeof err);
		if (rc)
			print_message("%s\n%s\n", v, err);
		assert_int_equal(rc, 0);
		assert_string_equal(ar.authserv_id, "mx.example.org");
		assert_int_equal(ar.nres, n);
		for (size_t i = 0; i < n; i++) {
			assert_string_equal(ar.res[i].method, cases[i].method);
			assert_string_equal(ar.res[i].result, cases[i].result);
			assert_string_equal(ar.res[i].reason, cases[i].reason ? cases[i].reason : "");
			size_t np = 0;
			while (np < 3 && cases[i].props[np][0])
				np++;
			assert_int_equal(ar.res[i].nprops, np);
			for (size_t j = 0; j < np; j++) {
				assert_string_equal(ar.res[i].props[j].ptype, cases[i].props[j][0]);
				assert_string_equal(ar.res[i].props[j].property, cases[i].props[j][1]);
				assert_string_equal(ar.res[i].props[j].value, cases[i].props[j][2]);
			}
		}
		free(v);
	}
}

static void test_build_limits(void **state)
{
	struct authres_builder *b = authres_builder_new("mx.example.org");
	for (int i = 0; i < AUTHRES_MAX_RESULTS + 5; i++) {
		char m[16];
		snprintf(m, sizeof m, "m%d", i);
		authres_builder_add(b, m, "pass", NULL, NULL);
		for (int j = 0; j < AUTHRES_MAX_PROPS + 2; j++)
			authres_builder_prop(b, "header", "d", "example.com");
	}
	char *v = authres_builder_finish(&b, "\r\n");
	check_folding(v, "\r\n");
	char err[200];
	assert_int_equal(authres_parse(v, strlen(v), &ar, err, sizeof err), 0);
	assert_int_equal(ar.nres, AUTHRES_MAX_RESULTS);
	assert_false(ar.truncated);
	assert_int_equal(ar.res[0].nprops, AUTHRES_MAX_PROPS);
	free(v);

	/* every alignment of a comment's end (and its ';') stays within the line */
	for (size_t cl = 1; cl < 2 * AUTHRES_LINE_MAX; cl++) {
		char c[200];
		for (size_t k = 0; k < cl; k++)
			c[k] = k % 7 == 6 ? ' ' : 'c';
		c[cl] = '\0';
		b = authres_builder_new("mx.example.org");
		authres_builder_add(b, "iprev", "pass", NULL, c);
		authres_builder_add(b, "spf", "pass", NULL, c);
		authres_builder_prop(b, "smtp", "mailfrom", "postmaster@example.com");
		authres_builder_add(b, "dkim", "none", NULL, NULL);
		v = authres_builder_finish(&b, "\r\n");
		check_folding(v, "\r\n");
		assert_int_equal(authres_parse(v, strlen(v), &ar, err, sizeof err), 0);
		assert_int_equal(ar.nres, 3);
		free(v);
	}

	/* long attacker text: comment cut, value cut to what parses back, and
	   a single overlong word may exceed the line (nothing to fold at) */
	char big[2000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	b = authres_builder_new("mx.example.org");
	authres_builder_add(b, "spf", "pass", big, big);
	authres_builder_prop(b, "smtp", "mailfrom", big);
	v = authres_builder_finish(&b, "\r\n");
	assert_int_equal(authres_parse(v, strlen(v), &ar, err, sizeof err), 0);
	assert_int_equal(strlen(ar.res[0].reason), 255);
	assert_int_equal(strlen(ar.res[0].props[0].value), 511);
	assert_true(strlen(v) < 1200);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_cases),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_deep_comment),
		cmocka_unit_test(test_parse_overlong),
		cmocka_unit_test(test_parse_truncated),
		cmocka_unit_test(test_authserv_id),
		cmocka_unit_test(test_is_ours),
		cmocka_unit_test(test_build_none),
		cmocka_unit_test(test_build_exact),
		cmocka_unit_test(test_build_hostile),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_build_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
