/*
 * impersonation: display-name impersonation of VIPs, free-mail domains and
 * Reply-To diversion.
 *
 * A name becomes a list of tokens:
 *   UTF-8 -> UTF-16 -> NFKC_Casefold (case, full-width, ignorables)
 *         -> NFD, non-spacing marks dropped (diacritics; kana voicing stays), NFC
 *         -> katakana folded to hiragana
 *         -> split on anything that is not a letter, digit or mark
 *         -> titles dropped ("mr", "ceo", 様, 社長 ..., also as a suffix of a
 *            CJK token: 山田太郎様)
 *         -> per token: UTS #39 skeleton, case-folded again (j0hn == john)
 * Two names match when their token multisets are equal (any order), or when
 * some order of the tokens of each, written without spaces, is the same
 * string (山田太郎 == 山田 太郎 == 太郎 山田); the latter is tried only when a
 * byte-multiset signature already agrees, so the common case is a few string
 * compares per VIP.
 */
#include "spoof/impersonation.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uspoof.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

#include "core/mem.h"

#define IMP_U16_CAP	(4 * IMP_MAX_NAME_BYTES)
#define IMP_KEY_BYTES	(IMP_MAX_TOKENS * IMP_MAX_TOKEN_BYTES)

struct imp_name {
	size_t ntok;
	char tok[IMP_MAX_TOKENS][IMP_MAX_TOKEN_BYTES + 1]; /* "" = unmatchable */
	unsigned char sorted[IMP_MAX_TOKENS];	/* token indexes in strcmp order */
	size_t keybytes;
	char sig[IMP_KEY_BYTES + 1];		/* all token bytes, sorted */
};

struct vip {
	char name[256];
	struct imp_name key;
	size_t naddr;
	char **addr;		/* lower-case */
};

struct vip_set {
	size_t n;
	struct vip *v;
};

struct freemail_set {
	size_t n;
	char **d;		/* lower-case, sorted */
};

static USpoofChecker *imp_sc;
static const UNormalizer2 *imp_nfc, *imp_nfd, *imp_nfkc_cf;
static pthread_once_t imp_once = PTHREAD_ONCE_INIT;

static void imp_init(void)
{
	UErrorCode e = U_ZERO_ERROR;
	imp_nfc = unorm2_getNFCInstance(&e);
	imp_nfd = unorm2_getNFDInstance(&e);
	imp_nfkc_cf = unorm2_getNFKCCasefoldInstance(&e);
	if (U_SUCCESS(e))
		imp_sc = uspoof_open(&e);
	if (U_FAILURE(e)) {
		if (imp_sc != NULL)
			uspoof_close(imp_sc);
		imp_sc = NULL;
	}
}

static bool imp_ready(void)
{
	pthread_once(&imp_once, imp_init);
	return imp_sc != NULL;
}

/* titles and honorifics, in normalised form (case-folded, hiragana) */
static const char *const imp_titles[] = {
	"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam",
	"ceo", "cfo", "coo", "cto", "cio", "president", "chairman", "director",
	"様", "さま", "さん", "殿", "どの", "氏", "君", "くん", "先生",
	"社長", "副社長", "会長", "部長", "課長", "専務", "常務", "取締役",
	"代表取締役", "代表", "理事長",
};
/* titles that may be glued to the end of a CJK name (山田太郎様) */
static const char *const imp_cjk_suffixes[] = {
	"代表取締役", "副社長", "取締役", "理事長", "社長", "会長", "部長", "課長",
	"専務", "常務", "先生", "さま", "さん", "どの", "様", "殿", "氏",
};

static bool imp_is_title(const char *t)
{
	for (size_t i = 0; i < sizeof imp_titles / sizeof imp_titles[0]; i++)
		if (strcmp(t, imp_titles[i]) == 0)
			return true;
	return false;
}

/* strips one glued CJK title from the end of t when something remains */
static void imp_strip_cjk_suffix(char *t)
{
	size_t lt = strlen(t);
	for (size_t i = 0; i < sizeof imp_cjk_suffixes / sizeof imp_cjk_suffixes[0]; i++) {
		size_t ls = strlen(imp_cjk_suffixes[i]);
		if (lt > ls && memcmp(t + lt - ls, imp_cjk_suffixes[i], ls) == 0 &&
		    (unsigned char)t[lt - ls - 1] >= 0x80) {
			t[lt - ls] = '\0';
			return;
		}
	}
}

static bool imp_token_char(UChar32 c)
{
	return (U_GET_GC_MASK(c) & (U_GC_L_MASK | U_GC_N_MASK | U_GC_M_MASK)) != 0;
}

static void imp_why(char *why, size_t whylen, const char *msg)
{
	if (why != NULL && whylen > 0)
		snprintf(why, whylen, "%s", msg);
}

/*
 * Normalises and tokenises a name into plain tokens (no titles dropped, no
 * skeletons). Returns the token count or -1 with a reason.
 */
static int imp_plain_tokens(const char *in, size_t len, struct imp_name *nm, bool *truncated_r,
			    char *why, size_t whylen)
{
	UChar a[IMP_U16_CAP], b[IMP_U16_CAP];
	int32_t na = 0, nb = 0;
	UErrorCode e = U_ZERO_ERROR;

	nm->ntok = 0;
	*truncated_r = false;
	if (len > IMP_MAX_NAME_BYTES) {
		imp_why(why, whylen, "display name too long");
		return -1;
	}
	u_strFromUTF8(a, IMP_U16_CAP, &na, in, (int32_t)len, &e);
	if (U_FAILURE(e) || na >= IMP_U16_CAP) {
		imp_why(why, whylen, "invalid UTF-8 in display name");
		return -1;
	}
	e = U_ZERO_ERROR;
	nb = unorm2_normalize(imp_nfkc_cf, a, na, b, IMP_U16_CAP, &e);
	if (U_SUCCESS(e) && nb < IMP_U16_CAP)
		na = unorm2_normalize(imp_nfd, b, nb, a, IMP_U16_CAP, &e);
	if (U_FAILURE(e) || nb >= IMP_U16_CAP || na >= IMP_U16_CAP) {
		imp_why(why, whylen, "display name too long after normalisation");
		return -1;
	}
	int32_t j = 0;
	for (int32_t i = 0; i < na;) {
		UChar32 c;
		int32_t start = i;
		U16_NEXT(a, i, na, c);
		if (u_charType(c) == U_NON_SPACING_MARK && c != 0x3099 && c != 0x309A)
			continue;
		while (start < i)
			a[j++] = a[start++];
	}
	nb = unorm2_normalize(imp_nfc, a, j, b, IMP_U16_CAP, &e);
	if (U_FAILURE(e) || nb >= IMP_U16_CAP) {
		imp_why(why, whylen, "display name too long after normalisation");
		return -1;
	}
	for (int32_t i = 0; i < nb; i++)
		if ((b[i] >= 0x30A1 && b[i] <= 0x30F6) || b[i] == 0x30FD || b[i] == 0x30FE)
			b[i] -= 0x60;

	for (int32_t i = 0; i < nb;) {
		UChar32 c;
		int32_t start = i;
		U16_NEXT(b, i, nb, c);
		if (!imp_token_char(c))
			continue;
		int32_t end = i;
		while (end < nb) {
			int32_t k = end;
			U16_NEXT(b, k, nb, c);
			if (!imp_token_char(c))
				break;
			end = k;
		}
		if (nm->ntok == IMP_MAX_TOKENS) {
			*truncated_r = true;
			break;
		}
		char *t = nm->tok[nm->ntok++];
		int32_t tl = 0;
		e = U_ZERO_ERROR;
		u_strToUTF8(t, IMP_MAX_TOKEN_BYTES + 1, &tl, b + start, end - start, &e);
		if (U_FAILURE(e) || tl > IMP_MAX_TOKEN_BYTES)
			t[0] = '\0'; /* overlong: never equal to a real name token */
		else
			t[tl] = '\0';
		i = end;
	}
	return (int)nm->ntok;
}

static int imp_cmp_tok(const void *x, const void *y, void *arg)
{
	const struct imp_name *nm = arg;
	return strcmp(nm->tok[*(const unsigned char *)x], nm->tok[*(const unsigned char *)y]);
}

static int imp_cmp_byte(const void *x, const void *y)
{
	return (int)*(const unsigned char *)x - (int)*(const unsigned char *)y;
}

/* full key: plain tokens, titles dropped, skeletons, sort order, signature */
static int imp_key(const char *in, size_t len, struct imp_name *nm, char *why, size_t whylen)
{
	bool truncated;
	if (imp_plain_tokens(in, len, nm, &truncated, why, whylen) < 0)
		return -1;

	/* drop titles, unless that would leave nothing */
	size_t keep = 0;
	for (size_t i = 0; i < nm->ntok; i++)
		keep += !imp_is_title(nm->tok[i]);
	if (keep > 0) {
		size_t o = 0;
		for (size_t i = 0; i < nm->ntok; i++)
			if (!imp_is_title(nm->tok[i])) {
				if (o != i)
					memcpy(nm->tok[o], nm->tok[i], sizeof nm->tok[o]);
				o++;
			}
		nm->ntok = o;
	}
	for (size_t i = 0; i < nm->ntok; i++)
		imp_strip_cjk_suffix(nm->tok[i]);

	nm->keybytes = 0;
	for (size_t i = 0; i < nm->ntok; i++) {
		char *t = nm->tok[i];
		if (t[0] == '\0')
			continue;
		UChar u[4 * IMP_MAX_TOKEN_BYTES], sk[4 * IMP_MAX_TOKEN_BYTES];
		int32_t nu = 0, ns;
		UErrorCode e = U_ZERO_ERROR;
		u_strFromUTF8(u, 4 * IMP_MAX_TOKEN_BYTES, &nu, t, -1, &e);
		ns = uspoof_getSkeleton(imp_sc, 0, u, nu, sk, 4 * IMP_MAX_TOKEN_BYTES, &e);
		if (U_SUCCESS(e) && ns < 4 * IMP_MAX_TOKEN_BYTES)
			nu = u_strFoldCase(u, 4 * IMP_MAX_TOKEN_BYTES, sk, ns, U_FOLD_CASE_DEFAULT, &e);
		int32_t tl = 0;
		if (U_SUCCESS(e) && nu < 4 * IMP_MAX_TOKEN_BYTES)
			u_strToUTF8(t, IMP_MAX_TOKEN_BYTES + 1, &tl, u, nu, &e);
		if (U_FAILURE(e) || tl > IMP_MAX_TOKEN_BYTES) {
			t[0] = '\0';
			continue;
		}
		t[tl] = '\0';
		memcpy(nm->sig + nm->keybytes, t, (size_t)tl);
		nm->keybytes += (size_t)tl;
	}
	nm->sig[nm->keybytes] = '\0';
	qsort(nm->sig, nm->keybytes, 1, imp_cmp_byte);
	for (size_t i = 0; i < nm->ntok; i++)
		nm->sorted[i] = (unsigned char)i;
	qsort_r(nm->sorted, nm->ntok, 1, imp_cmp_tok, nm);
	return (int)nm->ntok;
}

int imp_name_normalize(const char *in, size_t len, char *out, size_t outlen)
{
	struct imp_name nm;
	bool truncated;
	if (outlen > 0)
		out[0] = '\0';
	if (in == NULL || !imp_ready() || imp_plain_tokens(in, len, &nm, &truncated, NULL, 0) < 0)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < nm.ntok; i++) {
		int w = snprintf(out + o, outlen > o ? outlen - o : 0, "%s%s", i > 0 ? " " : "", nm.tok[i]);
		if (w < 0 || (size_t)w >= (outlen > o ? outlen - o : 0)) {
			if (outlen > 0)
				out[0] = '\0';
			return -1;
		}
		o += (size_t)w;
	}
	return (int)nm.ntok;
}

/* ---- matching ---- */

static bool imp_same_multiset(const struct imp_name *a, const struct imp_name *b)
{
	if (a->ntok != b->ntok || a->ntok == 0)
		return false;
	for (size_t i = 0; i < a->ntok; i++) {
		const char *x = a->tok[a->sorted[i]], *y = b->tok[b->sorted[i]];
		if (x[0] == '\0' || strcmp(x, y) != 0)
			return false;
	}
	return true;
}

/* next permutation of idx[0..n) in lexicographic order; false after the last */
static bool imp_next_perm(unsigned char *idx, size_t n)
{
	if (n < 2)
		return false;
	size_t i = n - 1;
	while (i > 0 && idx[i - 1] >= idx[i])
		i--;
	if (i == 0)
		return false;
	size_t j = n - 1;
	while (idx[j] <= idx[i - 1])
		j--;
	unsigned char t = idx[i - 1];
	idx[i - 1] = idx[j];
	idx[j] = t;
	for (size_t l = i, r = n - 1; l < r; l++, r--) {
		t = idx[l];
		idx[l] = idx[r];
		idx[r] = t;
	}
	return true;
}

static void imp_concat(const struct imp_name *nm, const unsigned char *idx, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < nm->ntok; i++) {
		size_t l = strlen(nm->tok[idx[i]]);
		memcpy(out + o, nm->tok[idx[i]], l);
		o += l;
	}
	out[o] = '\0';
}

/* the same letters with the spaces elsewhere, in some order of each side */
static bool imp_same_concat(const struct imp_name *a, const struct imp_name *b)
{
	if (a->keybytes != b->keybytes || a->keybytes == 0 || a->ntok > IMP_MAX_PERMUTE ||
	    b->ntok > IMP_MAX_PERMUTE || strcmp(a->sig, b->sig) != 0)
		return false;
	for (size_t i = 0; i < a->ntok; i++)
		if (a->tok[i][0] == '\0')
			return false;
	char ca[IMP_KEY_BYTES + 1], cb[IMP_KEY_BYTES + 1];
	unsigned char ia[IMP_MAX_PERMUTE], ib[IMP_MAX_PERMUTE];
	for (size_t i = 0; i < a->ntok; i++)
		ia[i] = (unsigned char)i;
	do {
		imp_concat(a, ia, ca);
		for (size_t i = 0; i < b->ntok; i++)
			ib[i] = (unsigned char)i;
		do {
			imp_concat(b, ib, cb);
			if (strcmp(ca, cb) == 0)
				return true;
		} while (imp_next_perm(ib, b->ntok));
	} while (imp_next_perm(ia, a->ntok));
	return false;
}

/* every token of vip appears in d (as a multiset), d having more */
static bool imp_superset(const struct imp_name *d, const struct imp_name *vip)
{
	if (vip->ntok < 2 || d->ntok <= vip->ntok)
		return false;
	bool used[IMP_MAX_TOKENS] = { false };
	for (size_t i = 0; i < vip->ntok; i++) {
		bool found = false;
		for (size_t k = 0; k < d->ntok && !found; k++)
			if (!used[k] && vip->tok[i][0] != '\0' && strcmp(vip->tok[i], d->tok[k]) == 0)
				used[k] = found = true;
		if (!found)
			return false;
	}
	return true;
}

static void imp_lower(const char *in, char *out, size_t cap)
{
	size_t i = 0;
	for (; in[i] != '\0' && i + 1 < cap; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

static const char *imp_domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at != NULL ? at + 1 : NULL;
}

static bool imp_vip_has_address(const struct vip *v, const char *addr_lc)
{
	for (size_t i = 0; i < v->naddr; i++)
		if (strcmp(v->addr[i], addr_lc) == 0)
			return true;
	return false;
}

static bool imp_vip_has_domain(const struct vip *v, const char *dom_lc)
{
	for (size_t i = 0; i < v->naddr; i++) {
		const char *d = imp_domain_of(v->addr[i]);
		if (d != NULL && strcmp(d, dom_lc) == 0)
			return true;
	}
	return false;
}

int impersonation_check(const struct vip_set *s, const char *display_name, const char *address,
			const struct freemail_set *fm, struct imp_match *m_r)
{
	struct imp_match tmp;
	struct imp_match *m = m_r != NULL ? m_r : &tmp;
	memset(m, 0, sizeof *m);
	if (s == NULL || s->n == 0 || display_name == NULL || !imp_ready())
		return 0;

	struct imp_name d;
	if (imp_key(display_name, strnlen(display_name, IMP_MAX_NAME_BYTES + 1), &d, m->reason,
		    sizeof m->reason) < 0)
		return -1;
	if (d.ntok == 0)
		return 0;

	char addr[320] = "";
	if (address != NULL)
		imp_lower(address, addr, sizeof addr);
	const char *dom = imp_domain_of(addr);
	bool free_dom = dom != NULL && freemail_contains(fm, dom);

	const struct vip *own = NULL;
	for (size_t i = 0; i < s->n; i++) {
		const struct vip *v = &s->v[i];
		int base = 0;
		const char *how = NULL;
		if (imp_same_multiset(&d, &v->key)) {
			base = IMP_STRENGTH_NAME;
			how = "matches";
		} else if (imp_same_concat(&d, &v->key)) {
			base = IMP_STRENGTH_NAME;
			how = "matches (spacing or order differs)";
		} else if (imp_superset(&d, &v->key)) {
			base = IMP_STRENGTH_SUPERSET;
			how = "contains";
		}
		if (base == 0)
			continue;
		if (imp_vip_has_address(v, addr)) {
			own = v;
			continue;
		}
		int strength = base;
		bool same_dom = dom != NULL && imp_vip_has_domain(v, dom);
		if (free_dom)
			strength += IMP_STRENGTH_FREEMAIL_BONUS;
		else if (same_dom && strength > IMP_STRENGTH_SAME_DOMAIN)
			strength = IMP_STRENGTH_SAME_DOMAIN;
		if (strength > 100)
			strength = 100;
		if (strength <= m->strength)
			continue;
		m->matched = true;
		m->freemail = free_dom;
		m->strength = strength;
		snprintf(m->vip_name, sizeof m->vip_name, "%s", v->name);
		snprintf(m->reason, sizeof m->reason, "display name %s VIP \"%.50s\" but <%.64s> is not theirs%s",
			 how, v->name, addr, free_dom ? " (free-mail domain)" :
			 same_dom ? " (same domain as the VIP: unlisted address?)" : "");
	}
	if (m->matched)
		return 1;
	if (own != NULL)
		snprintf(m->reason, sizeof m->reason, "display name matches VIP \"%.80s\" sending from their own address", own->name);
	return 0;
}

/* ---- sets ---- */

struct vip_set *vip_set_new(const struct vip_entry *v, size_t n, char *err, size_t errlen)
{
	char dummy[1];
	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = '\0';
	if (!imp_ready()) {
		snprintf(err, errlen, "ICU normalisation or spoof data unavailable");
		return NULL;
	}
	if (n > IMP_MAX_VIPS || (n > 0 && v == NULL)) {
		snprintf(err, errlen, "too many VIP entries (max %d)", IMP_MAX_VIPS);
		return NULL;
	}
	struct vip_set *s = xcalloc(1, sizeof *s);
	s->v = xcalloc(n > 0 ? n : 1, sizeof *s->v);
	for (size_t i = 0; i < n; i++, s->n++) {
		struct vip *x = &s->v[i];
		char why[128];
		if (v[i].name == NULL) {
			snprintf(err, errlen, "VIP %zu: no name", i + 1);
			goto fail;
		}
		snprintf(x->name, sizeof x->name, "%s", v[i].name);
		if (imp_key(v[i].name, strlen(v[i].name), &x->key, why, sizeof why) < 0) {
			snprintf(err, errlen, "VIP \"%.64s\": %s", v[i].name, why);
			goto fail;
		}
		if (x->key.ntok == 0 || x->key.ntok > IMP_MAX_PERMUTE * 2) {
			snprintf(err, errlen, "VIP \"%.64s\": %s", v[i].name,
				 x->key.ntok == 0 ? "name has no letters" : "name has too many words");
			goto fail;
		}
		for (size_t k = 0; k < x->key.ntok; k++)
			if (x->key.tok[k][0] == '\0') {
				snprintf(err, errlen, "VIP \"%.64s\": word too long", v[i].name);
				goto fail;
			}
		if (v[i].n_addresses > IMP_MAX_VIP_ADDRESSES || (v[i].n_addresses > 0 && v[i].addresses == NULL)) {
			snprintf(err, errlen, "VIP \"%.64s\": too many addresses", v[i].name);
			goto fail;
		}
		x->addr = xcalloc(v[i].n_addresses > 0 ? v[i].n_addresses : 1, sizeof *x->addr);
		for (size_t k = 0; k < v[i].n_addresses; k++, x->naddr++) {
			const char *a = v[i].addresses[k];
			if (a == NULL || strchr(a, '@') == NULL || strlen(a) >= 320) {
				snprintf(err, errlen, "VIP \"%.64s\": bad address \"%.64s\"", v[i].name, a ? a : "(null)");
				goto fail;
			}
			x->addr[k] = xmalloc(strlen(a) + 1);
			imp_lower(a, x->addr[k], strlen(a) + 1);
		}
	}
	return s;
fail:
	s->n++; /* the partly built entry is freed too */
	vip_set_free(&s);
	return NULL;
}

void vip_set_free(struct vip_set **s)
{
	if (s == NULL || *s == NULL)
		return;
	for (size_t i = 0; i < (*s)->n; i++) {
		for (size_t k = 0; k < (*s)->v[i].naddr; k++)
			xfree((*s)->v[i].addr[k]);
		xfree((*s)->v[i].addr);
	}
	xfree((*s)->v);
	*s = xfree(*s);
}

static int imp_cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

struct freemail_set *freemail_set_new(const char *const *domains, size_t n, char *err,
				      size_t errlen)
{
	char dummy[1];
	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = '\0';
	if (n > IMP_MAX_FREEMAIL || (n > 0 && domains == NULL)) {
		snprintf(err, errlen, "too many free-mail domains (max %d)", IMP_MAX_FREEMAIL);
		return NULL;
	}
	struct freemail_set *s = xcalloc(1, sizeof *s);
	s->d = xcalloc(n > 0 ? n : 1, sizeof *s->d);
	for (size_t i = 0; i < n; i++) {
		const char *d = domains[i];
		size_t l = d != NULL ? strlen(d) : 0;
		if (l > 0 && d[l - 1] == '.')
			l--;
		if (l == 0 || l > LOOKALIKE_MAX_DOMAIN || d[0] == '.') {
			snprintf(err, errlen, "free-mail domain %zu: empty or too long", i + 1);
			freemail_set_free(&s);
			return NULL;
		}
		s->d[s->n] = xmalloc(l + 1);
		for (size_t k = 0; k < l; k++)
			s->d[s->n][k] = (char)tolower((unsigned char)d[k]);
		s->d[s->n++][l] = '\0';
	}
	qsort(s->d, s->n, sizeof *s->d, imp_cmp_str);
	return s;
}

void freemail_set_free(struct freemail_set **s)
{
	if (s == NULL || *s == NULL)
		return;
	for (size_t i = 0; i < (*s)->n; i++)
		xfree((*s)->d[i]);
	xfree((*s)->d);
	*s = xfree(*s);
}

bool freemail_contains(const struct freemail_set *s, const char *domain)
{
	if (s == NULL || domain == NULL || s->n == 0)
		return false;
	char lc[LOOKALIKE_MAX_DOMAIN + 2];
	size_t l = strnlen(domain, sizeof lc);
	if (l >= sizeof lc)
		return false;
	imp_lower(domain, lc, sizeof lc);
	if (l > 0 && lc[l - 1] == '.')
		lc[--l] = '\0';
	for (const char *p = lc; p != NULL && *p != '\0';) {
		const char *key = p;
		if (bsearch(&key, s->d, s->n, sizeof *s->d, imp_cmp_str) != NULL)
			return true;
		p = strchr(p, '.');
		if (p != NULL)
			p++;
	}
	return false;
}

static const char *const imp_freemail_defaults[] = {
	"gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.jp", "ymail.com",
	"outlook.com", "outlook.jp", "hotmail.com", "hotmail.co.jp", "live.com", "live.jp",
	"msn.com", "icloud.com", "me.com", "mac.com", "aol.com", "gmx.com", "gmx.de",
	"gmx.net", "web.de", "mail.com", "mail.ru", "yandex.ru", "yandex.com",
	"proton.me", "protonmail.com", "zoho.com", "tutanota.com", "qq.com", "163.com",
	"126.com", "naver.com", "daum.net", "docomo.ne.jp", "ezweb.ne.jp", "au.com",
	"softbank.ne.jp", "i.softbank.jp", "excite.co.jp", "nifty.com",
};

const char *const *freemail_default_domains(size_t *n_r)
{
	if (n_r != NULL)
		*n_r = sizeof imp_freemail_defaults / sizeof imp_freemail_defaults[0];
	return imp_freemail_defaults;
}

/* ---- Reply-To ---- */

bool reply_to_diverts(const char *from_domain, const char *reply_to_domain,
		      const struct freemail_set *fm, const struct lookalike_set *protected_set,
		      struct reply_to_match *r_r)
{
	struct reply_to_match tmp;
	struct reply_to_match *r = r_r != NULL ? r_r : &tmp;
	memset(r, 0, sizeof *r);
	if (from_domain == NULL || reply_to_domain == NULL) {
		snprintf(r->reason, sizeof r->reason, "no From or Reply-To domain");
		return false;
	}
	if (lookalike_org_domain(from_domain, r->from_org, sizeof r->from_org) < 0) {
		snprintf(r->reason, sizeof r->reason, "From domain has no organisational domain");
		return false;
	}
	if (lookalike_org_domain(reply_to_domain, r->reply_to_org, sizeof r->reply_to_org) < 0) {
		snprintf(r->reason, sizeof r->reason, "Reply-To domain has no organisational domain");
		return false;
	}
	if (strcmp(r->from_org, r->reply_to_org) == 0) {
		snprintf(r->reason, sizeof r->reason, "same organisational domain %.200s", r->from_org);
		return false;
	}
	r->diverts = true;
	r->strength = 30;
	r->freemail = freemail_contains(fm, reply_to_domain);
	if (r->freemail)
		r->strength = 60;

	struct lookalike_match lm;
	enum lookalike_kind k = lookalike_check_pair(reply_to_domain, from_domain, &lm);
	if (k == LOOKALIKE_NONE || k == LOOKALIKE_EXACT || lm.protected_domain[0] == '\0') {
		k = protected_set != NULL ? lookalike_check(protected_set, reply_to_domain, &lm) : LOOKALIKE_NONE;
		if (k == LOOKALIKE_EXACT || lm.protected_domain[0] == '\0')
			k = LOOKALIKE_NONE;
	}
	r->lookalike = k;
	if (k != LOOKALIKE_NONE) {
		r->strength = 80;
		snprintf(r->reason, sizeof r->reason, "Reply-To %.60s is a lookalike (%s) of %.60s",
			 r->reply_to_org, lookalike_kind_name(k), lm.protected_domain);
	} else {
		snprintf(r->reason, sizeof r->reason, "Reply-To organisation %.80s differs from From %.80s%s",
			 r->reply_to_org, r->from_org, r->freemail ? " (free-mail)" : "");
	}
	return true;
}
