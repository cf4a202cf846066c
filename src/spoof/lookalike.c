/*
 * lookalike: protected-domain lookalike detection. Every domain, protected or
 * queried, goes through the same preparation (la_prepare):
 *
 *   raw bytes -> lower-case ASCII, xn-- labels decoded (libidn2)
 *             -> UTF-16, lower-case, NFC                      = ident
 *             -> NFKC_Casefold, ideographic full stops -> "."  = norm
 *             -> registrable domain of norm (libpsl)           = reg
 *             -> NFD, non-spacing marks removed, UTS #39 skeleton of reg and
 *                of its first label                            = skeletons
 *
 * ident decides identity (EXACT: same registrable domain); everything else
 * compares reg forms. A protected domain costs one preparation at set
 * creation; a query costs one preparation plus string compares and O(n)
 * scans per protected domain.
 */
#include "spoof/lookalike.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idn2.h>
#include <libpsl.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uspoof.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

#include "core/mem.h"

/* working sizes: UTF-16 units after normalisation (NFKC may expand) and code
 * points of a registrable domain */
#define LA_MAX_U16	2048
#define LA_MAX_CP	LOOKALIKE_MAX_DOMAIN
#define LA_MAX_UTF8	(LOOKALIKE_MAX_INPUT + 1)
#define LA_SKEL_UTF8	(4 * LA_MAX_CP + 1)

struct la_prep {
	char ident[LA_MAX_UTF8];	/* lower-case Unicode, NFC */
	char ident_reg[LA_MAX_UTF8];	/* registrable domain of ident (protected only) */
	bool has_reg;
	char reg[LA_MAX_UTF8];		/* registrable domain of norm, UTF-8 */
	UChar32 reg_cp[LA_MAX_CP];	/* the same as code points */
	size_t reg_len;
	size_t brand_len;		/* code points before the first "." */
	const char *suffix;		/* points into reg, after the first "." */
	bool ascii;			/* reg is pure ASCII */
	char skel_reg[LA_SKEL_UTF8];
	char skel_brand[LA_SKEL_UTF8];
	bool mixed;			/* some label fails the restriction level */
	char mixed_label[64];
};

struct lookalike_set {
	size_t n;
	struct la_prep *p;		/* n prepared protected domains */
	char (*conf)[256];		/* as configured, normalised (ident) */
};

/* process-wide, read-only after initialisation: ICU documents the spoof check
 * and skeleton functions as safe for concurrent use on one checker */
static USpoofChecker *la_sc;
static const UNormalizer2 *la_nfc, *la_nfd, *la_nfkc_cf;
static const psl_ctx_t *la_psl;
static pthread_once_t la_once = PTHREAD_ONCE_INIT;
static char la_init_err[128];

static void la_init(void)
{
	UErrorCode e = U_ZERO_ERROR;
	la_nfc = unorm2_getNFCInstance(&e);
	la_nfd = unorm2_getNFDInstance(&e);
	la_nfkc_cf = unorm2_getNFKCCasefoldInstance(&e);
	if (U_FAILURE(e)) {
		snprintf(la_init_err, sizeof la_init_err, "ICU normalisation data: %s", u_errorName(e));
		la_nfc = la_nfd = la_nfkc_cf = NULL;
		return;
	}
	la_sc = uspoof_open(&e);
	if (U_SUCCESS(e))
		uspoof_setChecks(la_sc, USPOOF_RESTRICTION_LEVEL | USPOOF_MIXED_NUMBERS, &e);
	if (U_SUCCESS(e))
		uspoof_setRestrictionLevel(la_sc, USPOOF_HIGHLY_RESTRICTIVE);
	if (U_FAILURE(e)) {
		snprintf(la_init_err, sizeof la_init_err, "ICU spoof checker: %s", u_errorName(e));
		if (la_sc != NULL)
			uspoof_close(la_sc);
		la_sc = NULL;
		return;
	}
	la_psl = psl_builtin();
	if (la_psl == NULL)
		la_psl = psl_latest(NULL);
	if (la_psl == NULL)
		snprintf(la_init_err, sizeof la_init_err, "no public suffix list (libpsl)");
}

static bool la_ready(void)
{
	pthread_once(&la_once, la_init);
	return la_sc != NULL && la_nfc != NULL && la_psl != NULL;
}

const char *lookalike_kind_name(enum lookalike_kind k)
{
	switch (k) {
	case LOOKALIKE_NONE: return "none";
	case LOOKALIKE_EXACT: return "exact";
	case LOOKALIKE_SKELETON: return "skeleton";
	case LOOKALIKE_IDN_MIXED_SCRIPT: return "idn-mixed-script";
	case LOOKALIKE_EDIT1: return "edit1";
	case LOOKALIKE_DIGIT_SWAP: return "digit-swap";
	case LOOKALIKE_RN_M: return "rn-m";
	case LOOKALIKE_TLD_SWAP: return "tld-swap";
	}
	return "unknown";
}

/* ---- small conversions; each returns 0 or -1 ---- */

static int u_from8(const char *s, int32_t len, UChar *out, int32_t cap, int32_t *n_r)
{
	UErrorCode e = U_ZERO_ERROR;
	u_strFromUTF8(out, cap, n_r, s, len, &e);
	return U_FAILURE(e) || e == U_STRING_NOT_TERMINATED_WARNING ? -1 : 0;
}

static int u_to8(const UChar *u, int32_t n, char *out, int32_t cap)
{
	UErrorCode e = U_ZERO_ERROR;
	int32_t len = 0;
	u_strToUTF8(out, cap, &len, u, n, &e);
	if (U_FAILURE(e) || len >= cap)
		return -1;
	out[len] = '\0';
	return 0;
}

static int u_norm(const UNormalizer2 *nz, const UChar *in, int32_t n, UChar *out, int32_t cap,
		  int32_t *n_r)
{
	UErrorCode e = U_ZERO_ERROR;
	*n_r = unorm2_normalize(nz, in, n, out, cap, &e);
	return U_FAILURE(e) || *n_r >= cap ? -1 : 0;
}

/* NFD, drop non-spacing marks (diacritics; the kana voicing marks stay), then
 * the UTS #39 skeleton, as UTF-8 */
static int la_skeleton(const UChar *s, int32_t n, char *out, int32_t cap)
{
	UChar d[LA_MAX_U16], sk[LA_MAX_U16];
	int32_t nd = 0, j = 0;
	if (u_norm(la_nfd, s, n, d, LA_MAX_U16, &nd) < 0)
		return -1;
	for (int32_t i = 0; i < nd;) {
		UChar32 c;
		int32_t start = i;
		U16_NEXT(d, i, nd, c);
		if (u_charType(c) == U_NON_SPACING_MARK && c != 0x3099 && c != 0x309A)
			continue;
		while (start < i)
			d[j++] = d[start++];
	}
	UErrorCode e = U_ZERO_ERROR;
	int32_t ns = uspoof_getSkeleton(la_sc, 0, d, j, sk, LA_MAX_U16, &e);
	if (U_FAILURE(e) || ns >= LA_MAX_U16)
		return -1;
	return u_to8(sk, ns, out, cap);
}

/* does this label (UTF-16, no dots) fail the "highly restrictive" level? */
static bool la_label_mixed(const UChar *l, int32_t n)
{
	bool ascii = true;
	for (int32_t i = 0; i < n; i++)
		if (l[i] >= 0x80)
			ascii = false;
	if (ascii || n == 0)
		return false;
	UErrorCode e = U_ZERO_ERROR;
	int32_t r = uspoof_check2(la_sc, l, n, NULL, &e);
	return U_SUCCESS(e) && (r & (USPOOF_RESTRICTION_LEVEL | USPOOF_MIXED_NUMBERS)) != 0;
}

static void la_why(char *why, size_t whylen, const char *msg)
{
	if (why != NULL && whylen > 0)
		snprintf(why, whylen, "%s", msg);
}

/*
 * Prepares one domain (see the top of the file). Returns 0, or -1 with a
 * reason for input that is not a domain. has_reg is false when the domain has
 * no registrable part (a public suffix); that is not an error here.
 */
static int la_prepare(const char *domain, struct la_prep *p, char *why, size_t whylen)
{
	char raw[LA_MAX_UTF8];
	size_t len = strnlen(domain, LOOKALIKE_MAX_INPUT + 1);
	p->has_reg = false;
	p->mixed = false;
	p->ident[0] = p->reg[0] = p->ident_reg[0] = '\0';
	if (len > LOOKALIKE_MAX_INPUT) {
		la_why(why, whylen, "domain too long");
		return -1;
	}
	memcpy(raw, domain, len);
	raw[len] = '\0';
	if (len > 0 && raw[len - 1] == '.')
		raw[--len] = '\0';
	if (len == 0) {
		la_why(why, whylen, "empty domain");
		return -1;
	}

	/* labels: ASCII lower-case, xn-- decoded; an A-label that does not decode
	 * is kept literally (it is what the reader sees) */
	size_t o = 0;
	for (size_t i = 0; i <= len;) {
		size_t j = i;
		while (j < len && raw[j] != '.')
			j++;
		if (j == i) {
			la_why(why, whylen, "empty label");
			return -1;
		}
		for (size_t k = i; k < j; k++) {
			unsigned char c = (unsigned char)raw[k];
			if (c <= 0x20 || c == 0x7f) {
				la_why(why, whylen, "control character or space in domain");
				return -1;
			}
			raw[k] = (char)tolower(c);
		}
		const char *lab = raw + i;
		size_t llen = j - i;
		char *dec = NULL;
		if (llen > 4 && memcmp(lab, "xn--", 4) == 0) {
			char tmp[LA_MAX_UTF8];
			memcpy(tmp, lab, llen);
			tmp[llen] = '\0';
			if (idn2_to_unicode_8z8z(tmp, &dec, 0) == IDN2_OK && dec != NULL) {
				lab = dec;
				llen = strlen(dec);
			}
		}
		if (o + llen + 2 > sizeof p->ident) {
			free(dec);
			la_why(why, whylen, "domain too long");
			return -1;
		}
		if (o > 0)
			p->ident[o++] = '.';
		memcpy(p->ident + o, lab, llen);
		o += llen;
		p->ident[o] = '\0';
		free(dec); /* allocated by libidn2 */
		i = j + 1;
	}

	UChar u1[LA_MAX_U16], u2[LA_MAX_U16];
	int32_t n1 = 0, n2 = 0;
	if (u_from8(p->ident, (int32_t)o, u1, LA_MAX_U16, &n1) < 0) {
		la_why(why, whylen, "invalid UTF-8 in domain");
		return -1;
	}
	UErrorCode e = U_ZERO_ERROR;
	n2 = u_strToLower(u2, LA_MAX_U16, u1, n1, "", &e);
	if (U_FAILURE(e) || n2 >= LA_MAX_U16 || u_norm(la_nfc, u2, n2, u1, LA_MAX_U16, &n1) < 0 ||
	    u_to8(u1, n1, p->ident, sizeof p->ident) < 0) {
		la_why(why, whylen, "domain too long after normalisation");
		return -1;
	}

	/* norm: compatibility forms and case folded away; the ideographic and
	 * full-width full stops separate labels as in UTS #46 */
	if (u_norm(la_nfkc_cf, u1, n1, u2, LA_MAX_U16, &n2) < 0) {
		la_why(why, whylen, "domain too long after normalisation");
		return -1;
	}
	for (int32_t i = 0; i < n2; i++)
		if (u2[i] == 0x3002 || u2[i] == 0xFF0E || u2[i] == 0xFF61)
			u2[i] = '.';
	char norm[LA_MAX_UTF8];
	if (u_to8(u2, n2, norm, sizeof norm) < 0) {
		la_why(why, whylen, "domain too long after normalisation");
		return -1;
	}

	/* mixed-script labels, over all labels of norm */
	for (int32_t i = 0; i <= n2 && !p->mixed;) {
		int32_t j = i;
		while (j < n2 && u2[j] != '.')
			j++;
		if (la_label_mixed(u2 + i, j - i)) {
			p->mixed = true;
			if (u_to8(u2 + i, j - i, p->mixed_label, sizeof p->mixed_label) < 0)
				snprintf(p->mixed_label, sizeof p->mixed_label, "(long label)");
		}
		i = j + 1;
	}

	const char *reg = psl_registrable_domain(la_psl, norm);
	if (reg == NULL || reg[0] == '.' || strstr(reg, "..") != NULL || strchr(reg, '.') == NULL)
		return 0;
	size_t rl = strlen(reg);
	memmove(p->reg, reg, rl + 1);

	int32_t nr = 0;
	if (u_from8(p->reg, (int32_t)rl, u1, LA_MAX_U16, &nr) < 0)
		return 0;
	p->reg_len = 0;
	p->brand_len = SIZE_MAX;
	p->ascii = true;
	for (int32_t i = 0; i < nr;) {
		UChar32 c;
		U16_NEXT(u1, i, nr, c);
		if (p->reg_len == LA_MAX_CP)
			return 0; /* longer than any domain: no registrable part */
		if (c == '.' && p->brand_len == SIZE_MAX)
			p->brand_len = p->reg_len;
		if (c >= 0x80)
			p->ascii = false;
		p->reg_cp[p->reg_len++] = c;
	}
	p->suffix = strchr(p->reg, '.') + 1;
	int32_t brand_u16 = 0;
	while (u1[brand_u16] != '.')
		brand_u16++;
	if (la_skeleton(u1, nr, p->skel_reg, sizeof p->skel_reg) < 0 ||
	    la_skeleton(u1, brand_u16, p->skel_brand, sizeof p->skel_brand) < 0)
		return 0;
	p->has_reg = true;
	return 0;
}

/* same registrable domain as the protected one (or below it) */
static bool la_is_under(const char *name, const char *reg)
{
	size_t ln = strlen(name), lr = strlen(reg);
	if (ln == lr)
		return memcmp(name, reg, ln) == 0;
	return ln > lr && name[ln - lr - 1] == '.' && memcmp(name + ln - lr, reg, lr) == 0;
}

/* Damerau-Levenshtein (optimal string alignment) distance exactly 1 */
static bool la_dl1(const UChar32 *a, size_t na, const UChar32 *b, size_t nb)
{
	if (na == nb) {
		size_t i = 0;
		while (i < na && a[i] == b[i])
			i++;
		if (i == na)
			return false;
		size_t rest = na - i - 1;
		if (memcmp(a + i + 1, b + i + 1, rest * sizeof *a) == 0)
			return true; /* substitution */
		return i + 1 < na && a[i] == b[i + 1] && a[i + 1] == b[i] &&
		       memcmp(a + i + 2, b + i + 2, (na - i - 2) * sizeof *a) == 0;
	}
	if (na + 1 == nb || nb + 1 == na) {
		const UChar32 *l = na > nb ? a : b, *s = na > nb ? b : a;
		size_t ns = na > nb ? nb : na, i = 0;
		while (i < ns && l[i] == s[i])
			i++;
		return memcmp(l + i + 1, s + i, (ns - i) * sizeof *s) == 0;
	}
	return false;
}

/* ASCII folding for the digit and letter-pair checks: digits to the letters
 * they imitate (and i to l, since 1 imitates both), optionally rn/vv/cl to
 * m/w/d. Returns the output length. */
static size_t la_fold(const char *in, char *out, size_t cap, bool pairs)
{
	size_t o = 0;
	for (size_t i = 0; in[i] != '\0' && o + 1 < cap; i++) {
		char c = in[i], n = in[i + 1];
		if (pairs && ((c == 'r' && n == 'n') || (c == 'v' && n == 'v') || (c == 'c' && n == 'l'))) {
			out[o++] = c == 'r' ? 'm' : c == 'v' ? 'w' : 'd';
			i++;
			continue;
		}
		switch (c) {
		case '0': c = 'o'; break;
		case '1': case 'i': c = 'l'; break;
		case '3': c = 'e'; break;
		case '5': c = 's'; break;
		default: break;
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return o;
}

static size_t la_digits(const char *s)
{
	size_t n = 0;
	for (; *s != '\0'; s++)
		n += *s >= '0' && *s <= '9';
	return n;
}

/* strength order for choosing among protected domains */
static int la_rank(enum lookalike_kind k, bool with_protected)
{
	switch (k) {
	case LOOKALIKE_IDN_MIXED_SCRIPT: return with_protected ? 8 : 1;
	case LOOKALIKE_SKELETON: return 7;
	case LOOKALIKE_DIGIT_SWAP: return 6;
	case LOOKALIKE_RN_M: return 5;
	case LOOKALIKE_EDIT1: return 4;
	case LOOKALIKE_TLD_SWAP: return 3;
	default: return 0;
	}
}

/* compares prepared query q with prepared protected p (q is not EXACT) */
static enum lookalike_kind la_compare(const struct la_prep *q, const struct la_prep *p,
				      char *why, size_t whylen)
{
	if (!q->has_reg || !p->has_reg)
		return LOOKALIKE_NONE;
	if (strcmp(q->reg, p->reg) == 0) {
		snprintf(why, whylen, "equal to %.100s after Unicode compatibility folding (variant or full-width forms)", p->reg);
		return LOOKALIKE_SKELETON;
	}
	if (q->ascii && p->ascii) {
		char fq[LA_MAX_UTF8], fp[LA_MAX_UTF8], dq[LA_MAX_UTF8], dp[LA_MAX_UTF8];
		la_fold(q->reg, fq, sizeof fq, true);
		la_fold(p->reg, fp, sizeof fp, true);
		if (strcmp(fq, fp) == 0) {
			bool digits = la_digits(q->reg) != la_digits(p->reg);
			la_fold(q->reg, dq, sizeof dq, false);
			la_fold(p->reg, dp, sizeof dp, false);
			bool pairs = strcmp(dq, dp) != 0;
			if (digits) {
				snprintf(why, whylen, "%.70s imitates %.70s with digits for letters%.70s", q->reg, p->reg,
					 pairs ? " and letter pairs (rn/m, vv/w, cl/d)" : "");
				return LOOKALIKE_DIGIT_SWAP;
			}
			if (pairs) {
				snprintf(why, whylen, "%.70s imitates %.70s with letter pairs (rn/m, vv/w, cl/d)", q->reg, p->reg);
				return LOOKALIKE_RN_M;
			}
		}
	}
	if (strcmp(q->skel_reg, p->skel_reg) == 0) {
		if (q->mixed) {
			snprintf(why, whylen, "%.70s is confusable with %.70s and label \"%.70s\" mixes scripts", q->reg, p->reg, q->mixed_label);
			return LOOKALIKE_IDN_MIXED_SCRIPT;
		}
		snprintf(why, whylen, "%.70s is confusable with %.70s (UTS #39 skeleton)", q->reg, p->reg);
		return LOOKALIKE_SKELETON;
	}
	if (strcmp(q->suffix, p->suffix) != 0 && p->brand_len >= LOOKALIKE_TLD_MIN_LABEL &&
	    strcmp(q->skel_brand, p->skel_brand) == 0) {
		snprintf(why, whylen, "%.70s has the name of %.70s under another suffix (.%.70s)", q->reg, p->reg, q->suffix);
		return LOOKALIKE_TLD_SWAP;
	}
	if (p->brand_len >= LOOKALIKE_EDIT_MIN_LABEL && q->brand_len + 1 >= LOOKALIKE_EDIT_MIN_LABEL &&
	    la_dl1(q->reg_cp, q->reg_len, p->reg_cp, p->reg_len)) {
		snprintf(why, whylen, "%.70s is one edit (insert, delete, substitute, swap) from %.70s", q->reg, p->reg);
		return LOOKALIKE_EDIT1;
	}
	return LOOKALIKE_NONE;
}

static void la_match_init(struct lookalike_match *m)
{
	if (m != NULL) {
		m->kind = LOOKALIKE_NONE;
		m->protected_domain[0] = '\0';
		m->reason[0] = '\0';
	}
}

/* the core of lookalike_check over an array of prepared protected domains */
static enum lookalike_kind la_check(const struct la_prep *ps, char (*conf)[256], size_t n,
				    const char *domain, struct lookalike_match *m_r)
{
	struct lookalike_match tmp;
	struct lookalike_match *m = m_r != NULL ? m_r : &tmp;
	la_match_init(m);
	if (domain == NULL) {
		snprintf(m->reason, sizeof m->reason, "no domain");
		return LOOKALIKE_NONE;
	}
	struct la_prep q;
	if (la_prepare(domain, &q, m->reason, sizeof m->reason) < 0)
		return LOOKALIKE_NONE;

	for (size_t i = 0; i < n; i++)
		if (la_is_under(q.ident, ps[i].ident_reg)) {
			m->kind = LOOKALIKE_EXACT;
			memcpy(m->protected_domain, conf[i], sizeof m->protected_domain);
			snprintf(m->reason, sizeof m->reason, "%.100s is within protected %.100s", q.ident, ps[i].ident_reg);
			return LOOKALIKE_EXACT;
		}

	int best = 0;
	char why[256];
	for (size_t i = 0; i < n && best < la_rank(LOOKALIKE_IDN_MIXED_SCRIPT, true); i++) {
		enum lookalike_kind k = la_compare(&q, &ps[i], why, sizeof why);
		int r = la_rank(k, true);
		if (r > best) {
			best = r;
			m->kind = k;
			memcpy(m->protected_domain, conf[i], sizeof m->protected_domain);
			snprintf(m->reason, sizeof m->reason, "%s", why);
		}
	}
	if (m->kind == LOOKALIKE_NONE && q.mixed) {
		m->kind = LOOKALIKE_IDN_MIXED_SCRIPT;
		snprintf(m->reason, sizeof m->reason, "label \"%.100s\" mixes scripts", q.mixed_label);
	}
	return m->kind;
}

/* prepares a protected domain; -1 with err on invalid input */
static int la_prepare_protected(const char *d, struct la_prep *p, char *err, size_t errlen)
{
	char why[128];
	if (d == NULL) {
		snprintf(err, errlen, "protected domain is NULL");
		return -1;
	}
	if (la_prepare(d, p, why, sizeof why) < 0) {
		snprintf(err, errlen, "protected domain \"%.64s\": %s", d, why);
		return -1;
	}
	const char *ir = psl_registrable_domain(la_psl, p->ident);
	if (!p->has_reg || ir == NULL) {
		snprintf(err, errlen, "protected domain \"%.64s\" has no registrable part (public suffix?)", d);
		return -1;
	}
	memmove(p->ident_reg, ir, strlen(ir) + 1);
	if (strlen(p->ident) >= sizeof ((struct lookalike_match *)0)->protected_domain) {
		snprintf(err, errlen, "protected domain \"%.64s\" too long", d);
		return -1;
	}
	return 0;
}

struct lookalike_set *lookalike_set_new(const char *const *protected_domains, size_t n,
					char *err, size_t errlen)
{
	char dummy[1];
	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = '\0';
	if (!la_ready()) {
		snprintf(err, errlen, "%s", la_init_err);
		return NULL;
	}
	if (n > LOOKALIKE_MAX_PROTECTED || (n > 0 && protected_domains == NULL)) {
		snprintf(err, errlen, "too many protected domains (max %d)", LOOKALIKE_MAX_PROTECTED);
		return NULL;
	}
	struct lookalike_set *s = xcalloc(1, sizeof *s);
	s->p = xcalloc(n > 0 ? n : 1, sizeof *s->p);
	s->conf = xcalloc(n > 0 ? n : 1, sizeof *s->conf);
	for (size_t i = 0; i < n; i++) {
		if (la_prepare_protected(protected_domains[i], &s->p[i], err, errlen) < 0) {
			lookalike_set_free(&s);
			return NULL;
		}
		memcpy(s->conf[i], s->p[i].ident, strlen(s->p[i].ident) + 1);
		/* suffix points into the copied struct's own reg buffer */
		s->p[i].suffix = strchr(s->p[i].reg, '.') + 1;
		s->n++;
	}
	return s;
}

void lookalike_set_free(struct lookalike_set **s)
{
	if (s == NULL || *s == NULL)
		return;
	xfree((*s)->p);
	xfree((*s)->conf);
	*s = xfree(*s);
}

size_t lookalike_set_count(const struct lookalike_set *s)
{
	return s != NULL ? s->n : 0;
}

enum lookalike_kind lookalike_check(const struct lookalike_set *s, const char *domain,
				    struct lookalike_match *m_r)
{
	if (s == NULL || !la_ready()) {
		la_match_init(m_r);
		if (m_r != NULL)
			snprintf(m_r->reason, sizeof m_r->reason, "no protected domains");
		return LOOKALIKE_NONE;
	}
	return la_check(s->p, s->conf, s->n, domain, m_r);
}

enum lookalike_kind lookalike_check_pair(const char *domain, const char *protected_domain,
					 struct lookalike_match *m_r)
{
	la_match_init(m_r);
	if (!la_ready()) {
		if (m_r != NULL)
			snprintf(m_r->reason, sizeof m_r->reason, "%s", la_init_err);
		return LOOKALIKE_NONE;
	}
	/* about 10 KB: heap rather than a second prepared struct on the stack */
	struct la_prep *p = xmalloc(sizeof *p);
	char conf[1][256], err[256];
	enum lookalike_kind k = LOOKALIKE_NONE;
	if (la_prepare_protected(protected_domain, p, err, sizeof err) < 0) {
		if (m_r != NULL)
			snprintf(m_r->reason, sizeof m_r->reason, "%s", err);
	} else {
		memcpy(conf[0], p->ident, strlen(p->ident) + 1);
		k = la_check(p, conf, 1, domain, m_r);
	}
	xfree(p);
	return k;
}

int lookalike_org_domain(const char *domain, char *out, size_t outlen)
{
	if (outlen > 0)
		out[0] = '\0';
	if (domain == NULL || !la_ready())
		return -1;
	struct la_prep *p = xmalloc(sizeof *p);
	int rc = -1;
	if (la_prepare(domain, p, NULL, 0) == 0) {
		const char *r = psl_registrable_domain(la_psl, p->ident);
		if (r != NULL && strlen(r) < outlen) {
			snprintf(out, outlen, "%s", r);
			rc = 0;
		}
	}
	xfree(p);
	return rc;
}
