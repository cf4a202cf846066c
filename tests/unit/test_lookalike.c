/*
 * Unit tests for src/spoof/lookalike.c: a table of domains against a fixed set
 * of protected domains (each row: input, expected kind, expected protected
 * domain), set creation errors, hostile input, the pair check and the
 * organisational-domain helper.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "spoof/lookalike.h"

static const char *const protected_domains[] = {
	"example.com", "paypal.com", "microsoft.com", "apple.com", "google.com",
	"cocoa.com", "ibm.com", "xn--mller-kva.de" /* müller.de */, "yamada.co.jp",
	"MAIL.Bank-Of-Mamori.JP.", /* stands for bank-of-mamori.jp */
};

struct la_case {
	const char *domain;
	enum lookalike_kind kind;
	const char *protected_domain; /* NULL: must be empty */
};

static const struct la_case cases[] = {
	/* protected domains themselves, their subdomains and siblings */
	{ "example.com", LOOKALIKE_EXACT, "example.com" },
	{ "EXAMPLE.COM", LOOKALIKE_EXACT, "example.com" },
	{ "example.com.", LOOKALIKE_EXACT, "example.com" },
	{ "mail.example.com", LOOKALIKE_EXACT, "example.com" },
	{ "a.b.c.example.com", LOOKALIKE_EXACT, "example.com" },
	{ "PayPal.Com", LOOKALIKE_EXACT, "paypal.com" },
	{ "www.paypal.com", LOOKALIKE_EXACT, "paypal.com" },
	{ "müller.de", LOOKALIKE_EXACT, "müller.de" },
	{ "MÜLLER.DE", LOOKALIKE_EXACT, "müller.de" },
	{ "xn--mller-kva.de", LOOKALIKE_EXACT, "müller.de" },
	{ "XN--MLLER-KVA.DE", LOOKALIKE_EXACT, "müller.de" },
	{ "bank-of-mamori.jp", LOOKALIKE_EXACT, "mail.bank-of-mamori.jp" },
	{ "www.bank-of-mamori.jp", LOOKALIKE_EXACT, "mail.bank-of-mamori.jp" },

	/* digit for letter */
	{ "examp1e.com", LOOKALIKE_DIGIT_SWAP, "example.com" },
	{ "EXAMP1E.COM", LOOKALIKE_DIGIT_SWAP, "example.com" },
	{ "examp1e.com.", LOOKALIKE_DIGIT_SWAP, "example.com" },
	{ "mail.examp1e.com", LOOKALIKE_DIGIT_SWAP, "example.com" },
	{ "paypa1.com", LOOKALIKE_DIGIT_SWAP, "paypal.com" },
	{ "micr0soft.com", LOOKALIKE_DIGIT_SWAP, "microsoft.com" },
	{ "m1crosoft.com", LOOKALIKE_DIGIT_SWAP, "microsoft.com" },
	{ "g00gle.com", LOOKALIKE_DIGIT_SWAP, "google.com" },
	{ "3xampl3.com", LOOKALIKE_DIGIT_SWAP, "example.com" },
	{ "exarnp1e.com", LOOKALIKE_DIGIT_SWAP, "example.com" }, /* digit and rn */
	{ "bank-0f-mamori.jp", LOOKALIKE_DIGIT_SWAP, "mail.bank-of-mamori.jp" },

	/* letter pairs */
	{ "exarnple.com", LOOKALIKE_RN_M, "example.com" },
	{ "rnicrosoft.com", LOOKALIKE_RN_M, "microsoft.com" },
	{ "yarnada.co.jp", LOOKALIKE_RN_M, "yamada.co.jp" },
	{ "exarnple.corn", LOOKALIKE_RN_M, "example.com" },
	{ "cocoa.corn", LOOKALIKE_RN_M, "cocoa.com" },

	/* one edit */
	{ "exmaple.com", LOOKALIKE_EDIT1, "example.com" },	/* transposition */
	{ "examplee.com", LOOKALIKE_EDIT1, "example.com" },	/* insertion */
	{ "exampl.com", LOOKALIKE_EDIT1, "example.com" },	/* deletion */
	{ "exbmple.com", LOOKALIKE_EDIT1, "example.com" },	/* substitution */
	{ "paypai.com", LOOKALIKE_EDIT1, "paypal.com" },	/* i for l, no digit */
	{ "appIe.com", LOOKALIKE_EDIT1, "apple.com" },		/* is appie.com */
	{ "gooogle.com", LOOKALIKE_EDIT1, "google.com" },
	{ "googel.com", LOOKALIKE_EDIT1, "google.com" },
	{ "micosoft.com", LOOKALIKE_EDIT1, "microsoft.com" },
	{ "examplec.om", LOOKALIKE_EDIT1, "example.com" },	/* dot moved */
	{ "yamaha.co.jp", LOOKALIKE_EDIT1, "yamada.co.jp" },	/* a real brand: edit distance cannot know */
	{ "mail.exmaple.com", LOOKALIKE_EDIT1, "example.com" },

	/* TLD swaps */
	{ "example.net", LOOKALIKE_TLD_SWAP, "example.com" },
	{ "example.co", LOOKALIKE_TLD_SWAP, "example.com" },
	{ "example.co.uk", LOOKALIKE_TLD_SWAP, "example.com" },
	{ "example.com.br", LOOKALIKE_TLD_SWAP, "example.com" },
	{ "paypal.co.jp", LOOKALIKE_TLD_SWAP, "paypal.com" },
	{ "yamada.jp", LOOKALIKE_TLD_SWAP, "yamada.co.jp" },
	{ "examp1e.net", LOOKALIKE_TLD_SWAP, "example.com" },	/* lookalike name, other TLD */
	{ "muller.com", LOOKALIKE_TLD_SWAP, "müller.de" },

	/* skeletons: homoglyphs, diacritics, full-width, whole-script */
	{ "xn--exmple-cua.com", LOOKALIKE_SKELETON, "example.com" },	/* exämple */
	{ "exámple.com", LOOKALIKE_SKELETON, "example.com" },
	{ "éxämplé.com", LOOKALIKE_SKELETON, "example.com" },
	{ "muller.de", LOOKALIKE_SKELETON, "müller.de" },
	{ "ｅｘａｍｐｌｅ.com", LOOKALIKE_SKELETON, "example.com" },		/* full-width */
	{ "ｅｘａｍｐｌｅ．ｃｏｍ", LOOKALIKE_SKELETON, "example.com" },	/* and its dot */
	{ "example。com", LOOKALIKE_SKELETON, "example.com" },		/* ideographic full stop */
	{ "xn--mi7chab1aes7c.com", LOOKALIKE_SKELETON, "example.com" },	/* full-width A-label */
	{ "сосоа.com", LOOKALIKE_SKELETON, "cocoa.com" },		/* all Cyrillic */
	{ "xn--80a1aakb.com", LOOKALIKE_SKELETON, "cocoa.com" },
	{ "examp|e.com", LOOKALIKE_SKELETON, "example.com" },
	{ "exa\xe2\x80\x8bmple.com", LOOKALIKE_SKELETON, "example.com" },	/* zero-width space */

	/* mixed-script labels */
	{ "раураl.com", LOOKALIKE_IDN_MIXED_SCRIPT, "paypal.com" },	/* Cyrillic р а у + Latin l */
	{ "xn--l-7sba6dbr.com", LOOKALIKE_IDN_MIXED_SCRIPT, "paypal.com" },
	{ "аpple.com", LOOKALIKE_IDN_MIXED_SCRIPT, "apple.com" },
	{ "xn--pple-43d.com", LOOKALIKE_IDN_MIXED_SCRIPT, "apple.com" },
	{ "ехаmрlе.com", LOOKALIKE_IDN_MIXED_SCRIPT, "example.com" },
	{ "xn--ml-6kctd8d6a.com", LOOKALIKE_IDN_MIXED_SCRIPT, "example.com" },
	{ "examplе.com", LOOKALIKE_IDN_MIXED_SCRIPT, "example.com" },	/* last е Cyrillic */
	{ "secure.раураl.com", LOOKALIKE_IDN_MIXED_SCRIPT, "paypal.com" },
	{ "pаyment.com", LOOKALIKE_IDN_MIXED_SCRIPT, NULL },	/* mixed, near nothing */

	/* negatives: unrelated domains and real other brands */
	{ "wikipedia.org", LOOKALIKE_NONE, NULL },
	{ "debian.org", LOOKALIKE_NONE, NULL },
	{ "sample.com", LOOKALIKE_NONE, NULL },		/* two edits from example */
	{ "maple.com", LOOKALIKE_NONE, NULL },		/* two edits from apple */
	{ "examples-of-things.com", LOOKALIKE_NONE, NULL },
	{ "exampleexample.com", LOOKALIKE_NONE, NULL },
	{ "exomple.org", LOOKALIKE_NONE, NULL },	/* edit plus TLD: not flagged */
	{ "amazon.com", LOOKALIKE_NONE, NULL },
	{ "microsoftonline.com", LOOKALIKE_NONE, NULL },
	{ "example.com.evil.net", LOOKALIKE_NONE, NULL },	/* registrable is evil.net */
	{ "paypal-community.com", LOOKALIKE_NONE, NULL },
	{ "日本.jp", LOOKALIKE_NONE, NULL },
	{ "山田.jp", LOOKALIKE_NONE, NULL },
	{ "пример.рф", LOOKALIKE_NONE, NULL },		/* all Cyrillic, unrelated */
	{ "bücher.de", LOOKALIKE_NONE, NULL },
	{ "xn--zz.com", LOOKALIKE_NONE, NULL },		/* undecodable A-label kept literally */
	/* short names: no edit-distance or TLD-swap matching below the minimum */
	{ "ibn.com", LOOKALIKE_NONE, NULL },
	{ "ibm.net", LOOKALIKE_NONE, NULL },
	{ "ibm.co", LOOKALIKE_NONE, NULL },
	{ "ib.com", LOOKALIKE_NONE, NULL },
	{ "ibmm.com", LOOKALIKE_NONE, NULL },
	{ "ibm.com", LOOKALIKE_EXACT, "ibm.com" },
	{ "i8m.com", LOOKALIKE_NONE, NULL },		/* 8 is not a swap digit */
	{ "1bm.com", LOOKALIKE_DIGIT_SWAP, "ibm.com" },	/* but digit swaps have no minimum */
	/* not a registrable domain at all */
	{ "com", LOOKALIKE_NONE, NULL },
	{ "co.uk", LOOKALIKE_NONE, NULL },
	{ "localhost", LOOKALIKE_NONE, NULL },
};

static struct lookalike_set *set;

static int setup(void **state)
{
	char err[256];
	set = lookalike_set_new(protected_domains, sizeof protected_domains / sizeof protected_domains[0],
				err, sizeof err);
	if (set == NULL)
		fprintf(stderr, "lookalike_set_new: %s\n", err);
	return set == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	lookalike_set_free(&set);
	return set == NULL ? 0 : -1;
}

static void test_table(void **state)
{
	size_t n = sizeof cases / sizeof cases[0], bad = 0;
	assert_true(n >= 60);
	assert_int_equal(lookalike_set_count(set), sizeof protected_domains / sizeof protected_domains[0]);
	for (size_t i = 0; i < n; i++) {
		struct lookalike_match m;
		enum lookalike_kind k = lookalike_check(set, cases[i].domain, &m);
		const char *want_p = cases[i].protected_domain ? cases[i].protected_domain : "";
		if (k != cases[i].kind || m.kind != k || strcmp(m.protected_domain, want_p) != 0 ||
		    (k != LOOKALIKE_NONE && m.reason[0] == '\0')) {
			fprintf(stderr, "case %zu %s: got %s (%s) \"%s\", want %s (%s)\n", i, cases[i].domain,
				lookalike_kind_name(k), m.protected_domain, m.reason,
				lookalike_kind_name(cases[i].kind), want_p);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void test_hostile_input(void **state)
{
	struct lookalike_match m;
	static const struct {
		const char *in;
		const char *reason_part;
	} bad[] = {
		{ "", "empty" },
		{ ".", "empty" },
		{ "a..example.com", "empty label" },
		{ ".example.com", "empty label" },
		{ "exa mple.com", "space" },
		{ "exa\tmple.com", "control" },
		{ "\xff\xfe.com", "invalid UTF-8" },
		{ "exa\xc3mple.com", "invalid UTF-8" },
		{ "\xed\xa0\x80.com", "invalid UTF-8" }, /* encoded surrogate */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(lookalike_check(set, bad[i].in, &m), LOOKALIKE_NONE);
		assert_int_equal(m.kind, LOOKALIKE_NONE);
		if (strstr(m.reason, bad[i].reason_part) == NULL)
			fail_msg("%s: reason \"%s\" lacks \"%s\"", bad[i].in, m.reason, bad[i].reason_part);
	}
	assert_int_equal(lookalike_check(set, NULL, &m), LOOKALIKE_NONE);
	assert_string_equal(m.reason, "no domain");
	/* NULL set and NULL match are fine */
	assert_int_equal(lookalike_check(NULL, "examp1e.com", &m), LOOKALIKE_NONE);
	assert_int_equal(lookalike_check(set, "examp1e.com", NULL), LOOKALIKE_DIGIT_SWAP);

	/* too long: plain and after expansion */
	char big[LOOKALIKE_MAX_INPUT + 10];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(lookalike_check(set, big, &m), LOOKALIKE_NONE);
	assert_non_null(strstr(m.reason, "too long"));
	/* U+FDFA expands to 18 characters under NFKC; 300 of them overflow */
	char exp[LOOKALIKE_MAX_INPUT];
	size_t o = 0;
	while (o + 3 < 900) {
		memcpy(exp + o, "\xef\xb7\xba", 3);
		o += 3;
	}
	memcpy(exp + o, ".com", 5);
	assert_int_equal(lookalike_check(set, exp, &m), LOOKALIKE_NONE);
	assert_non_null(strstr(m.reason, "too long"));
	/* a long but legal domain is just not a lookalike */
	char lng[254];
	memset(lng, 'b', 249);
	memcpy(lng + 249, ".com", 5);
	for (size_t i = 63; i < 249; i += 64)
		lng[i] = '.';
	assert_int_equal(lookalike_check(set, lng, &m), LOOKALIKE_NONE);
}

static void test_set_errors(void **state)
{
	char err[256];
	static const char *const bad[][1] = { { "com" }, { "co.uk" }, { "" }, { "a..b.com" }, { "\xff.com" }, { "localhost" } };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		struct lookalike_set *s = lookalike_set_new(bad[i], 1, err, sizeof err);
		if (s != NULL)
			fail_msg("protected \"%s\" accepted", bad[i][0]);
		assert_true(strlen(err) > 0);
	}
	const char *nul[] = { NULL };
	assert_null(lookalike_set_new(nul, 1, err, sizeof err));
	assert_non_null(strstr(err, "NULL"));

	/* an empty set: nothing is exact, mixed-script labels are still reported */
	struct lookalike_set *s = lookalike_set_new(NULL, 0, err, sizeof err);
	assert_non_null(s);
	assert_int_equal(lookalike_check(s, "example.com", NULL), LOOKALIKE_NONE);
	assert_int_equal(lookalike_check(s, "раураl.com", NULL), LOOKALIKE_IDN_MIXED_SCRIPT);
	lookalike_set_free(&s);
	assert_null(s);
	lookalike_set_free(&s);
	lookalike_set_free(NULL);
}

static void test_pair(void **state)
{
	struct lookalike_match m;
	assert_int_equal(lookalike_check_pair("examp1e.com", "example.com", &m), LOOKALIKE_DIGIT_SWAP);
	assert_string_equal(m.protected_domain, "example.com");
	assert_int_equal(lookalike_check_pair("reply.example.com", "Example.com", &m), LOOKALIKE_EXACT);
	assert_int_equal(lookalike_check_pair("example.org", "mail.example.com", &m), LOOKALIKE_TLD_SWAP);
	assert_int_equal(lookalike_check_pair("gmail.com", "example.com", &m), LOOKALIKE_NONE);
	assert_int_equal(lookalike_check_pair("example.com", "com", &m), LOOKALIKE_NONE);
	assert_non_null(strstr(m.reason, "registrable"));
	assert_int_equal(lookalike_check_pair("example.com", NULL, &m), LOOKALIKE_NONE);
}

static void test_org_domain(void **state)
{
	static const struct {
		const char *in, *want;
	} t[] = {
		{ "example.com", "example.com" },
		{ "A.B.Example.COM.", "example.com" },
		{ "mail.example.co.uk", "example.co.uk" },
		{ "xn--mller-kva.de", "müller.de" },
		{ "www.пример.рф", "пример.рф" },
	};
	char out[256];
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		assert_int_equal(lookalike_org_domain(t[i].in, out, sizeof out), 0);
		assert_string_equal(out, t[i].want);
	}
	static const char *const bad[] = { "com", "co.uk", "", "a..b", "\xff" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		out[0] = 'x';
		assert_int_equal(lookalike_org_domain(bad[i], out, sizeof out), -1);
		assert_string_equal(out, "");
	}
	/* too small an output buffer */
	assert_int_equal(lookalike_org_domain("example.com", out, 5), -1);
}

static void test_kind_names(void **state)
{
	assert_string_equal(lookalike_kind_name(LOOKALIKE_NONE), "none");
	assert_string_equal(lookalike_kind_name(LOOKALIKE_EXACT), "exact");
	assert_string_equal(lookalike_kind_name(LOOKALIKE_RN_M), "rn-m");
	assert_string_equal(lookalike_kind_name(LOOKALIKE_TLD_SWAP), "tld-swap");
	assert_string_equal(lookalike_kind_name((enum lookalike_kind)99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_hostile_input),
		cmocka_unit_test(test_set_errors),
		cmocka_unit_test(test_pair),
		cmocka_unit_test(test_org_domain),
		cmocka_unit_test(test_kind_names),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
