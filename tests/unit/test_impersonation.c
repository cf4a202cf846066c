/*
 * Unit tests for src/spoof/impersonation.c: the name normaliser, VIP
 * display-name matching (table of display name, address, expected result and
 * strength), free-mail sets, set-creation errors and Reply-To diversion.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "spoof/impersonation.h"

static const char *const doe_addr[] = { "john.doe@corp.example", "JDoe@Corp.Example" };
static const char *const yamada_addr[] = { "t.yamada@corp.example" };
static const char *const muller_addr[] = { "jm@corp.example" };
static const char *const lee_addr[] = { "ceo-lee@gmail.com" };
static const char *const sato_addr[] = { "sato@corp.example" };

static const struct vip_entry vips[] = {
	{ "John Doe", doe_addr, 2 },
	{ "山田 太郎", yamada_addr, 1 },
	{ "Jürgen Müller", muller_addr, 1 },
	{ "Anna Lee", lee_addr, 1 },	/* a VIP who really uses free-mail */
	{ "佐藤花子", sato_addr, 1 },	/* configured without a space */
};

static struct vip_set *vs;
static struct freemail_set *fm;

static int setup(void **state)
{
	char err[256];
	size_t nd;
	const char *const *d = freemail_default_domains(&nd);
	vs = vip_set_new(vips, sizeof vips / sizeof vips[0], err, sizeof err);
	if (vs == NULL)
		fprintf(stderr, "vip_set_new: %s\n", err);
	fm = freemail_set_new(d, nd, err, sizeof err);
	if (fm == NULL)
		fprintf(stderr, "freemail_set_new: %s\n", err);
	return vs != NULL && fm != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	vip_set_free(&vs);
	freemail_set_free(&fm);
	return 0;
}

static void test_normalize(void **state)
{
	static const struct {
		const char *in;
		int ntok;
		const char *out;
	} t[] = {
		{ "John Doe", 2, "john doe" },
		{ "  JOHN    DOE  ", 2, "john doe" },
		{ "\"Doe, John\"", 2, "doe john" },
		{ "Jöhn Dœ", 2, "john dœ" },			/* œ is a letter, not a mark */
		{ "Jürgen Müller", 2, "jurgen muller" },
		{ "Ｊｏｈｎ　Ｄｏｅ", 2, "john doe" },		/* full-width and ideographic space */
		{ "山田　太郎", 2, "山田 太郎" },
		{ "山田太郎", 1, "山田太郎" },
		{ "ヤマダ・タロウ", 2, "やまだ たろう" },	/* katakana folded, middle dot splits */
		{ "ﾔﾏﾀﾞ ﾀﾛｳ", 2, "やまだ たろう" },		/* half-width katakana */
		{ "Jo\xe2\x80\x8bhn", 1, "john" },		/* zero-width space vanishes */
		{ "", 0, "" },
		{ "!!! ---", 0, "" },
		{ "J. R. R. Tolkien", 4, "j r r tolkien" },
	};
	char out[256];
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		int n = imp_name_normalize(t[i].in, strlen(t[i].in), out, sizeof out);
		if (n != t[i].ntok || strcmp(out, t[i].out) != 0)
			fail_msg("\"%s\": got %d \"%s\", want %d \"%s\"", t[i].in, n, out, t[i].ntok, t[i].out);
	}
	/* invalid UTF-8, embedded NUL counted by length, too long, small output */
	assert_int_equal(imp_name_normalize("Jo\xffhn", 5, out, sizeof out), -1);
	assert_string_equal(out, "");
	assert_int_equal(imp_name_normalize("\xc3", 1, out, sizeof out), -1);
	assert_int_equal(imp_name_normalize("John\0Doe", 8, out, sizeof out), 2);
	assert_string_equal(out, "john doe");
	char big[IMP_MAX_NAME_BYTES + 2];
	memset(big, 'a', sizeof big);
	assert_int_equal(imp_name_normalize(big, sizeof big, out, sizeof out), -1);
	assert_int_equal(imp_name_normalize("John Doe", 8, out, 5), -1);
	assert_string_equal(out, "");
}

struct imp_case {
	const char *display, *address;
	int rc;
	const char *vip;	/* NULL when no match */
	int strength;
	bool freemail;
};

static const struct imp_case cases[] = {
	/* case, spacing, punctuation, order */
	{ "John Doe", "ceo@attacker.example", 1, "John Doe", IMP_STRENGTH_NAME, false },
	{ "JOHN DOE", "ceo@attacker.example", 1, "John Doe", IMP_STRENGTH_NAME, false },
	{ "john   doe", "ceo@attacker.example", 1, "John Doe", IMP_STRENGTH_NAME, false },
	{ "Doe John", "ceo@attacker.example", 1, "John Doe", IMP_STRENGTH_NAME, false },
	{ "Doe, John", "ceo@attacker.example", 1, "John Doe", IMP_STRENGTH_NAME, false },
	{ "\"John Doe\"", "ceo@attacker.example", 1, "John Doe", IMP_STRENGTH_NAME, false },
	{ "John.Doe", "ceo@attacker.example", 1, "John Doe", IMP_STRENGTH_NAME, false },
	{ "JohnDoe", "ceo@attacker.example", 1, "John Doe", IMP_STRENGTH_NAME, false },
	/* diacritics, full-width, confusables, invisible characters */
	{ "Jöhn Döe", "ceo@attacker.example", 1, "John Doe", IMP_STRENGTH_NAME, false },
	{ "Ｊｏｈｎ Ｄｏｅ", "ceo@attacker.example", 1, "John Doe", IMP_STRENGTH_NAME, false },
	{ "Jоhn Dое", "ceo@attacker.example", 1, "John Doe", IMP_STRENGTH_NAME, false }, /* Cyrillic о, е */
	{ "J0hn D0e", "ceo@attacker.example", 1, "John Doe", IMP_STRENGTH_NAME, false },
	{ "Jo\xe2\x80\x8bhn Doe", "ceo@attacker.example", 1, "John Doe", IMP_STRENGTH_NAME, false },
	{ "Jurgen Muller", "x@attacker.example", 1, "Jürgen Müller", IMP_STRENGTH_NAME, false },
	{ "JÜRGEN MÜLLER", "x@attacker.example", 1, "Jürgen Müller", IMP_STRENGTH_NAME, false },
	/* titles */
	{ "Mr. John Doe", "ceo@attacker.example", 1, "John Doe", IMP_STRENGTH_NAME, false },
	{ "John Doe (CEO)", "ceo@attacker.example", 1, "John Doe", IMP_STRENGTH_NAME, false },
	/* extra words: weaker */
	{ "John Doe via Partner Portal", "ceo@attacker.example", 1, "John Doe", IMP_STRENGTH_SUPERSET, false },
	{ "John Q. Doe", "ceo@attacker.example", 1, "John Doe", IMP_STRENGTH_SUPERSET, false },
	/* free-mail: stronger */
	{ "John Doe", "john.doe.ceo@gmail.com", 1, "John Doe", IMP_STRENGTH_NAME + IMP_STRENGTH_FREEMAIL_BONUS, true },
	{ "Doe, John", "jd@Yahoo.Co.JP", 1, "John Doe", IMP_STRENGTH_NAME + IMP_STRENGTH_FREEMAIL_BONUS, true },
	{ "John Doe via Portal", "jd@outlook.com", 1, "John Doe", IMP_STRENGTH_SUPERSET + IMP_STRENGTH_FREEMAIL_BONUS, true },
	/* the VIP's real addresses: no match, any case */
	{ "John Doe", "john.doe@corp.example", 0, NULL, 0, false },
	{ "JOHN DOE", "JOHN.DOE@CORP.EXAMPLE", 0, NULL, 0, false },
	{ "Doe, John", "jdoe@corp.example", 0, NULL, 0, false },
	/* same domain, other address: weak (maybe an unlisted alias) */
	{ "John Doe", "john@corp.example", 1, "John Doe", IMP_STRENGTH_SAME_DOMAIN, false },
	/* Japanese: with and without spaces, ideographic space, reversed, titles */
	{ "山田太郎", "yamada@attacker.example", 1, "山田 太郎", IMP_STRENGTH_NAME, false },
	{ "山田 太郎", "yamada@attacker.example", 1, "山田 太郎", IMP_STRENGTH_NAME, false },
	{ "山田　太郎", "yamada@attacker.example", 1, "山田 太郎", IMP_STRENGTH_NAME, false },
	{ "太郎 山田", "yamada@attacker.example", 1, "山田 太郎", IMP_STRENGTH_NAME, false },
	{ "太郎山田", "yamada@attacker.example", 1, "山田 太郎", IMP_STRENGTH_NAME, false },
	{ "山田太郎様", "yamada@attacker.example", 1, "山田 太郎", IMP_STRENGTH_NAME, false },
	{ "山田 太郎 社長", "yamada@gmail.com", 1, "山田 太郎", IMP_STRENGTH_NAME + IMP_STRENGTH_FREEMAIL_BONUS, true },
	{ "ｻﾄｳ", "x@attacker.example", 0, NULL, 0, false },	/* a reading is not the kanji */
	{ "佐藤 花子", "hanako@docomo.ne.jp", 1, "佐藤花子", IMP_STRENGTH_NAME + IMP_STRENGTH_FREEMAIL_BONUS, true },
	{ "花子 佐藤", "hanako@attacker.example", 1, "佐藤花子", IMP_STRENGTH_NAME, false },
	{ "佐藤花子", "sato@corp.example", 0, NULL, 0, false },
	{ "山田太郎", "t.yamada@corp.example", 0, NULL, 0, false },
	/* a VIP whose real address is free-mail: another free-mail address is strong */
	{ "Anna Lee", "anna.lee.office@gmail.com", 1, "Anna Lee", IMP_STRENGTH_NAME + IMP_STRENGTH_FREEMAIL_BONUS, true },
	{ "Anna Lee", "ceo-lee@gmail.com", 0, NULL, 0, false },
	/* negatives */
	{ "John Smith", "js@attacker.example", 0, NULL, 0, false },
	{ "John", "j@attacker.example", 0, NULL, 0, false },
	{ "Doe", "j@attacker.example", 0, NULL, 0, false },
	{ "Jon Doe", "j@attacker.example", 0, NULL, 0, false },
	{ "Johnny Doe", "j@attacker.example", 0, NULL, 0, false },
	{ "John Doeson", "j@attacker.example", 0, NULL, 0, false },
	{ "Jane Doe", "j@gmail.com", 0, NULL, 0, false },
	{ "山田花子", "h@attacker.example", 0, NULL, 0, false },
	{ "山田", "h@attacker.example", 0, NULL, 0, false },
	{ "Anna", "a@gmail.com", 0, NULL, 0, false },
	{ "", "a@attacker.example", 0, NULL, 0, false },
	{ "CEO", "a@attacker.example", 0, NULL, 0, false },
	{ "Mr.", "a@attacker.example", 0, NULL, 0, false },
	{ "Customer Service", "a@gmail.com", 0, NULL, 0, false },
	/* unusable input */
	{ "Jo\xffhn Doe", "a@attacker.example", -1, NULL, 0, false },
	{ "John \xe0\x80\xaf Doe", "a@attacker.example", -1, NULL, 0, false }, /* overlong encoding */
	/* no address at all: name alone still matches */
	{ "John Doe", NULL, 1, "John Doe", IMP_STRENGTH_NAME, false },
	{ "John Doe", "no-at-sign", 1, "John Doe", IMP_STRENGTH_NAME, false },
};

static void test_table(void **state)
{
	size_t bad = 0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct imp_case *c = &cases[i];
		struct imp_match m;
		int rc = impersonation_check(vs, c->display, c->address, fm, &m);
		bool ok = rc == c->rc && m.matched == (c->rc == 1) && m.strength == c->strength &&
			  m.freemail == c->freemail && strcmp(m.vip_name, c->vip ? c->vip : "") == 0 &&
			  (rc == 0 || m.reason[0] != '\0');
		if (!ok) {
			fprintf(stderr, "case %zu \"%s\" <%s>: got rc %d vip \"%s\" strength %d freemail %d (%s)\n",
				i, c->display, c->address ? c->address : "(null)", rc, m.vip_name, m.strength,
				m.freemail, m.reason);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void test_reasons(void **state)
{
	struct imp_match m;
	assert_int_equal(impersonation_check(vs, "John Doe", "john.doe@corp.example", fm, &m), 0);
	assert_non_null(strstr(m.reason, "their own address"));
	assert_int_equal(impersonation_check(vs, "Jo\xffhn", "a@b.example", fm, &m), -1);
	assert_non_null(strstr(m.reason, "invalid UTF-8"));
	assert_int_equal(impersonation_check(vs, "John Doe", "x@gmail.com", fm, &m), 1);
	assert_non_null(strstr(m.reason, "free-mail"));
	assert_non_null(strstr(m.reason, "x@gmail.com"));
	/* NULL freemail set: no bonus; NULL VIP set or name: nothing */
	assert_int_equal(impersonation_check(vs, "John Doe", "x@gmail.com", NULL, &m), 1);
	assert_int_equal(m.strength, IMP_STRENGTH_NAME);
	assert_false(m.freemail);
	assert_int_equal(impersonation_check(NULL, "John Doe", "x@gmail.com", fm, &m), 0);
	assert_int_equal(impersonation_check(vs, NULL, "x@gmail.com", fm, NULL), 0);
	assert_int_equal(impersonation_check(vs, "John Doe", "x@gmail.com", fm, NULL), 1);
	/* very long display names are refused, not truncated into a match */
	char big[IMP_MAX_NAME_BYTES + 20];
	memset(big, ' ', sizeof big);
	memcpy(big, "John Doe", 8);
	big[sizeof big - 1] = '\0';
	assert_int_equal(impersonation_check(vs, big, "x@gmail.com", fm, &m), -1);
	assert_non_null(strstr(m.reason, "too long"));
	/* many tokens: only the first IMP_MAX_TOKENS count, no crash */
	assert_int_equal(impersonation_check(vs, "a b c d e f g h i j k l m n o p q r s t John Doe", "x@gmail.com",
					     fm, &m), 0);
	assert_int_equal(impersonation_check(vs, "John Doe a b c d e f g h i j k l m n o p q r s t", "x@y.example",
					     fm, &m), 1);
	assert_int_equal(m.strength, IMP_STRENGTH_SUPERSET);
}

static void test_vip_set_errors(void **state)
{
	char err[256];
	static const char *const a[] = { "a@b.example" };
	static const char *const bad_a[] = { "no-at" };
	const struct {
		struct vip_entry e;
		const char *msg;
	} t[] = {
		{ { NULL, a, 1 }, "no name" },
		{ { "", a, 1 }, "no letters" },
		{ { "---", a, 1 }, "no letters" },
		{ { "Jo\xffhn", a, 1 }, "invalid UTF-8" },
		{ { "John Doe", bad_a, 1 }, "bad address" },
		{ { "a b c d e f g h i j", a, 1 }, "too many words" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct vip_entry two[2] = { vips[0], t[i].e }; /* the failing one second: frees the first */
		struct vip_set *s = vip_set_new(two, 2, err, sizeof err);
		assert_null(s);
		if (strstr(err, t[i].msg) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, t[i].msg);
	}
	struct vip_set *s = vip_set_new(NULL, 0, err, sizeof err);
	assert_non_null(s);
	assert_int_equal(impersonation_check(s, "John Doe", "x@y.example", NULL, NULL), 0);
	vip_set_free(&s);
	assert_null(s);
	vip_set_free(NULL);
}

static void test_freemail(void **state)
{
	static const struct {
		const char *d;
		bool want;
	} t[] = {
		{ "gmail.com", true }, { "GMAIL.COM", true }, { "gmail.com.", true },
		{ "mail.yahoo.co.jp", true }, { "docomo.ne.jp", true },
		{ "gmail.co", false }, { "notgmail.com", false }, { "com", false }, { "", false },
		{ "corp.example", false }, { "ail.com", false },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (freemail_contains(fm, t[i].d) != t[i].want)
			fail_msg("%s: want %d", t[i].d, t[i].want);
	assert_false(freemail_contains(NULL, "gmail.com"));
	assert_false(freemail_contains(fm, NULL));

	char err[128];
	const char *own[] = { "Mail.Example.", "xn--mller-kva.de" };
	struct freemail_set *s = freemail_set_new(own, 2, err, sizeof err);
	assert_non_null(s);
	assert_true(freemail_contains(s, "mail.example"));
	assert_true(freemail_contains(s, "x.MAIL.example"));
	assert_true(freemail_contains(s, "xn--mller-kva.de"));
	assert_false(freemail_contains(s, "example"));
	freemail_set_free(&s);
	assert_null(s);
	const char *bad[] = { "gmail.com", "" };
	assert_null(freemail_set_new(bad, 2, err, sizeof err));
	assert_non_null(strstr(err, "empty"));
	const char *badnull[] = { NULL };
	assert_null(freemail_set_new(badnull, 1, err, sizeof err));
}

static void test_reply_to(void **state)
{
	static const char *const prot[] = { "corp.example", "example.com" };
	char err[256];
	struct lookalike_set *ls = lookalike_set_new(prot, 2, err, sizeof err);
	assert_non_null(ls);
	static const struct {
		const char *from, *reply;
		bool diverts, freemail;
		enum lookalike_kind kind;
		int strength;
	} t[] = {
		{ "example.com", "example.com", false, false, LOOKALIKE_NONE, 0 },
		{ "example.com", "mail.example.com", false, false, LOOKALIKE_NONE, 0 },
		{ "Mail.Example.COM", "EXAMPLE.com.", false, false, LOOKALIKE_NONE, 0 },
		{ "shop.example.co.uk", "other.example.co.uk", false, false, LOOKALIKE_NONE, 0 },
		{ "example.com", "partner.example", true, false, LOOKALIKE_NONE, 30 },
		{ "example.co.uk", "other.co.uk", true, false, LOOKALIKE_NONE, 30 },
		{ "example.com", "gmail.com", true, true, LOOKALIKE_NONE, 60 },
		{ "example.com", "examp1e.com", true, false, LOOKALIKE_DIGIT_SWAP, 80 },
		{ "example.com", "example.net", true, false, LOOKALIKE_TLD_SWAP, 80 },
		{ "example.com", "xn--exmple-cua.com", true, false, LOOKALIKE_SKELETON, 80 },
		/* From is unrelated, Reply-To imitates one of our protected domains */
		{ "news.example", "c0rp.example", true, false, LOOKALIKE_DIGIT_SWAP, 80 },
		/* Reply-To into our own protected domain is a plain divert */
		{ "news.example", "corp.example", true, false, LOOKALIKE_NONE, 30 },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct reply_to_match r;
		bool d = reply_to_diverts(t[i].from, t[i].reply, fm, ls, &r);
		if (d != t[i].diverts || r.diverts != d || r.freemail != t[i].freemail || r.lookalike != t[i].kind ||
		    r.strength != t[i].strength || r.reason[0] == '\0')
			fail_msg("case %zu %s -> %s: got %d freemail %d %s strength %d (%s)", i, t[i].from,
				 t[i].reply, d, r.freemail, lookalike_kind_name(r.lookalike), r.strength, r.reason);
	}
	struct reply_to_match r;
	assert_false(reply_to_diverts("example.com", "com", fm, ls, &r));
	assert_non_null(strstr(r.reason, "Reply-To"));
	assert_false(reply_to_diverts("\xff", "example.com", fm, ls, &r));
	assert_non_null(strstr(r.reason, "From"));
	assert_false(reply_to_diverts(NULL, "example.com", fm, ls, &r));
	assert_true(reply_to_diverts("example.com", "gmail.com", NULL, NULL, &r));
	assert_int_equal(r.strength, 30);
	assert_string_equal(r.from_org, "example.com");
	assert_string_equal(r.reply_to_org, "gmail.com");
	assert_true(reply_to_diverts("example.com", "gmail.com", NULL, NULL, NULL));
	lookalike_set_free(&ls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_vip_set_errors),
		cmocka_unit_test(test_freemail),
		cmocka_unit_test(test_reply_to),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
