/* unit tests for src/auth/address: From mailbox lists and MAIL FROM paths */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "auth/address.h"

struct from_case {
	const char *name;
	const char *value;
	const char *domains; /* expected, comma-separated, "" for none */
	int err;             /* 1: an error reason is expected, 0: none */
	const char *err_has; /* substring of the reason, or NULL */
};

static const struct from_case from_cases[] = {
	/* RFC 5322 appendix A */
	{ "A.1.1 name-addr", "John Doe <jdoe@machine.example>", "machine.example", 0, NULL },
	{ "A.1.2 quoted display", "\"Joe Q. Public\" <john.q.public@example.com>", "example.com", 0, NULL },
	{ "A.1.2 list", "Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>", "x.test,example.org,y.test", 0,
	  NULL },
	{ "A.1.2 quoted specials", "<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
	  "nil.test,example.net", 0, NULL },
	{ "A.1.3 group", "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;", "a.test,where.test,one.test",
	  0, NULL },
	{ "A.1.3 empty group", "Undisclosed recipients:;", "", 0, NULL },
	{ "A.5 comments", "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", "silly.test", 0, NULL },
	{ "A.5 group with comments",
	  "A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n"
	  "         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end of the group)",
	  "public.example,example.org,one.test", 0, NULL },
	{ "A.6.1 obs-phrase", "Joe Q. Public <john.q.public@example.com>", "example.com", 0, NULL },
	{ "A.6.1 obs-route", "Mary Smith <@node.test:mary@example.net>", "example.net", 0, NULL },
	{ "A.6.1 obs-mbox-list", "<@machine.tld:mary@example.net>, , jdoe@test  . example", "example.net,test.example", 0,
	  NULL },
	{ "A.6.3 CFWS in domain", "John Doe <jdoe@machine(comment).  example>", "machine.example", 0, NULL },
	{ "multi-hop route", "<@a.test,@b.test:u@dest.example>", "dest.example", 0, NULL },
	/* normalisation */
	{ "upper case, trailing dot", "jdoe@EXAMPLE.COM.", "example.com", 0, NULL },
	{ "folded header", "Someone\r\n <someone@Fold.Example>", "fold.example", 0, NULL },
	{ "encoded word left alone", "=?UTF-8?B?w4Bsw6lh?= <a@b.example>", "b.example", 0, NULL },
	{ "UTF-8 domain", "user@m\xc3\xbcnchen.example", "m\xc3\xbcnchen.example", 0, NULL },
	{ "8-bit local part", "\xff\xfe@bytes.example", "bytes.example", 0, NULL },
	{ "duplicates dropped", "a@one.example, b@two.example, c@ONE.example", "one.example,two.example", 0, NULL },
	/* spoofing shapes */
	{ "quoted @ in display", "\"ceo@bank.example\" <phisher@evil.test>", "evil.test", 0, NULL },
	{ "unquoted @ in display", "ceo@bank.example <phisher@evil.test>", "evil.test", 0, NULL },
	{ "semicolon separator", "a@b.example; c@d.example", "b.example,d.example", 1, "unexpected text" },
	{ "missing comma", "a@b.example c@d.example", "b.example,d.example", 1, "unexpected text" },
	{ "stray >", "Foo <a@b.example>>", "b.example", 1, NULL },
	{ "empty local part", "@nolocal.example", "nolocal.example", 0, NULL },
	{ "unclosed group", "Group: a@g.example", "g.example", 1, "group not closed" },
	{ "nested group", "Outer: In: x@y.example;; z@w.example", "w.example", 1, "group inside a group" },
	/* garbage */
	{ "empty", "", "", 0, NULL },
	{ "blank", "   \t ", "", 0, NULL },
	{ "no address", "not an address", "", 1, "no domain" },
	{ "null path", "<>", "", 1, "empty address" },
	{ "no domain after @", "Name <user@>", "", 1, "domain expected" },
	{ "missing >", "Name <user@example.com", "", 1, "'>' expected" },
	{ "angle without @", "Name <postmaster>", "", 1, "without domain" },
	{ "unterminated quote", "\"unterminated <a@b.example>", "", 1, "unterminated quoted string" },
	{ "unterminated comment", "(unterminated comment a@b.example", "", 1, "unterminated comment" },
	{ "empty label", "x@a..example", "", 1, "empty label" },
	{ "domain literal", "user@[192.0.2.1]", "", 1, "domain literal" },
	{ "literal and name", "user@[192.0.2.1], b@ok.example", "ok.example", 1, "domain literal" },
	{ "control character", "a\x01" "b@c.example, d@e.example", "e.example", 1, "control character" },
	{ "unbalanced paren", "a@b.example)", "b.example", 1, NULL },
	{ "only punctuation", ",,,;:<>@", "", 1, NULL },
	{ "bare @", "@", "", 1, "domain expected" },
};

static void split_expect(const char *list, char out[][64], size_t *n)
{
	*n = 0;
	const char *p = list;
	while (*p) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);
		snprintf(out[(*n)++], 64, "%.*s", (int)l, p);
		p += l;
		if (*p == ',')
			p++;
	}
}

static void test_from_domains(void **state)
{
	for (size_t i = 0; i < sizeof from_cases / sizeof from_cases[0]; i++) {
		const struct from_case *fc = &from_cases[i];
		char doms[8][ADDRESS_MAX_FIELD];
		char err[256];
		char want[8][64];
		size_t nwant;
		split_expect(fc->domains, want, &nwant);
		size_t n = address_from_domains(fc->value, strlen(fc->value), doms, 8, err, sizeof err);
		if (n != nwant || (fc->err != (err[0] != '\0')) || (fc->err_has && !strstr(err, fc->err_has))) {
			print_error("case \"%s\": got %zu domains, err \"%s\"\n", fc->name, n, err);
			fail();
		}
		for (size_t k = 0; k < n; k++) {
			if (strcmp(doms[k], want[k]) != 0) {
				print_error("case \"%s\": domain %zu is \"%s\", want \"%s\"\n", fc->name, k, doms[k],
					    want[k]);
				fail();
			}
		}
	}
}

static void test_from_max(void **state)
{
	char doms[2][ADDRESS_MAX_FIELD];
	char err[128];
	const char *v = "a@one.example, b@two.example, c@three.example";
	assert_int_equal(address_from_domains(v, strlen(v), doms, 2, err, sizeof err), 2);
	assert_string_equal(doms[0], "one.example");
	assert_string_equal(doms[1], "two.example");
	assert_non_null(strstr(err, "more than 2"));
	/* value is not NUL-terminated: only len bytes count */
	assert_int_equal(address_from_domains("x@cut.example.junk", 13, doms, 2, err, sizeof err), 1);
	assert_string_equal(doms[0], "cut.example");
	/* NULL value is empty */
	assert_int_equal(address_from_domains(NULL, 0, doms, 2, err, sizeof err), 0);
}

static void test_long_domain(void **state)
{
	char v[600];
	size_t k = 0;
	v[k++] = 'a';
	v[k++] = '@';
	for (int i = 0; i < 60; i++, k += 5)
		memcpy(v + k, "abcd.", 5); /* 300 bytes of domain */
	memcpy(v + k, "example", 8);
	char doms[2][ADDRESS_MAX_FIELD];
	char err[128];
	assert_int_equal(address_from_domains(v, strlen(v), doms, 2, err, sizeof err), 0);
	assert_non_null(strstr(err, "too long"));
}

struct mbox_case {
	const char *value;
	size_t idx;
	const char *display, *local, *domain;
};

static const struct mbox_case mbox_cases[] = {
	{ "\"Joe Q. Public\" <john.q.public@example.com>", 0, "Joe Q. Public", "john.q.public", "example.com" },
	{ "Joe Q. Public <john.q.public@example.com>", 0, "Joe Q. Public", "john.q.public", "example.com" },
	{ "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", 0, "Pete", "pete", "silly.test" },
	{ "<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>", 1, "Giant; \"Big\" Box",
	  "sysservices", "example.net" },
	{ "a@b.example (Display  From\r\n Comment)", 0, "Display From Comment", "a", "b.example" },
	{ "ceo@bank.example <phisher@evil.test>", 0, "ceo@bank.example", "phisher", "evil.test" },
	{ "\"quoted local\"@Example.COM", 0, "", "quoted local", "example.com" },
	{ "=?UTF-8?B?w4Bsw6lh?= <a@b.example>", 0, "=?UTF-8?B?w4Bsw6lh?=", "a", "b.example" },
	{ "G: x@y.example, Name <z@w.example>;", 1, "Name", "z", "w.example" },
	{ "user@[192.0.2.1]", 0, "", "user", "[192.0.2.1]" },
};

static void test_mailboxes(void **state)
{
	for (size_t i = 0; i < sizeof mbox_cases / sizeof mbox_cases[0]; i++) {
		const struct mbox_case *mc = &mbox_cases[i];
		struct mailbox mb[4];
		char err[128];
		size_t n = address_parse_mailboxes(mc->value, strlen(mc->value), mb, 4, err, sizeof err);
		if (n <= mc->idx) {
			print_error("mailbox case %zu: only %zu mailboxes (%s)\n", i, n, err);
			fail();
		}
		assert_string_equal(mb[mc->idx].display, mc->display);
		assert_string_equal(mb[mc->idx].local, mc->local);
		assert_string_equal(mb[mc->idx].domain, mc->domain);
	}
}

struct env_case {
	const char *in;
	int rc;
	const char *domain;
};

static const struct env_case env_cases[] = {
	{ "<a@b.example>", 0, "b.example" },
	{ "a@B.Example", 0, "b.example" },
	{ "<>", 0, "" },
	{ "", 0, "" },
	{ "  <u@example.com>  ", 0, "example.com" },
	{ "<@r1.example,@r2.example:u@dest.example>", 0, "dest.example" },
	{ "<\"a@x\"@quoted.example>", 0, "quoted.example" },
	{ "<\"a>b\"@quoted.example>", 0, "quoted.example" },
	{ "<u@example.com> SIZE=100 BODY=8BITMIME", 0, "example.com" },
	{ "u@example.com SIZE=100", 0, "example.com" },
	{ "<u@example.com.>", 0, "example.com" },
	{ "<u@[192.0.2.1]>", 0, "[192.0.2.1]" },
	{ "<u@m\xc3\xbcnchen.example>", 0, "m\xc3\xbcnchen.example" },
	{ "u", -1, "" },
	{ "<postmaster>", -1, "" },
	{ "<u@>", -1, "" },
	{ "<@u.example>", -1, "" },
	{ "<u@exa mple>", -1, "" },
	{ "<u@example.com", -1, "" },
	{ "<u@a..b>", -1, "" },
	{ "<u@.a.b>", -1, "" },
	{ "<u@example.com>junk", -1, "" },
	{ "<\"unterminated@x.example>", -1, "" },
	{ "<u@ex!ample.com>", -1, "" },
	{ "<u@[192.0.2.1>", -1, "" },
};

static void test_envelope(void **state)
{
	for (size_t i = 0; i < sizeof env_cases / sizeof env_cases[0]; i++) {
		char d[256] = "sentinel";
		int rc = address_envelope_domain(env_cases[i].in, d, sizeof d);
		if (rc != env_cases[i].rc || strcmp(d, env_cases[i].domain) != 0) {
			print_error("envelope \"%s\": rc %d domain \"%s\", want %d \"%s\"\n", env_cases[i].in, rc, d,
				    env_cases[i].rc, env_cases[i].domain);
			fail();
		}
	}
	char small[8];
	assert_int_equal(address_envelope_domain("<a@long.example.com>", small, sizeof small), -1);
	assert_string_equal(small, "");
	assert_int_equal(address_envelope_domain(NULL, small, sizeof small), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_domains),
		cmocka_unit_test(test_from_max),
		cmocka_unit_test(test_long_domain),
		cmocka_unit_test(test_mailboxes),
		cmocka_unit_test(test_envelope),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
