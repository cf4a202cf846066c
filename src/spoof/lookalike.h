/*
 * lookalike: is a domain seen in From, Reply-To or the envelope a lookalike of
 * one of our protected domains? Owns a prepared, immutable set of protected
 * domains (normalised forms and UTS #39 skeletons computed once) and the pure
 * per-domain checks; it makes no decision and reads no configuration.
 */
#ifndef MAMORI_SPOOF_LOOKALIKE_H
#define MAMORI_SPOOF_LOOKALIKE_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 1035 section 2.3.4: 255 octets on the wire, 253 in text form. A U-label
 * form may take up to four bytes per character, so raw input is capped higher;
 * longer input is "not a domain" (LOOKALIKE_NONE with a reason). */
#define LOOKALIKE_MAX_DOMAIN	253
#define LOOKALIKE_MAX_INPUT	1024
/* edit-distance and TLD-swap matching only when the protected domain's
 * registrable label (the part left of the public suffix) has at least this
 * many characters: "ibm.com" vs "ibn.com" would match far too much */
#define LOOKALIKE_EDIT_MIN_LABEL	5
#define LOOKALIKE_TLD_MIN_LABEL		4
/* hard cap on the number of protected domains in one set */
#define LOOKALIKE_MAX_PROTECTED		4096

struct lookalike_set;

enum lookalike_kind {
	LOOKALIKE_NONE = 0,
	/* the domain is a protected domain, or in the same registrable domain as
	 * one (a subdomain or sibling): not a lookalike */
	LOOKALIKE_EXACT,
	/* same UTS #39 skeleton after NFKC case folding and diacritic removal:
	 * homoglyphs, whole-script confusables, full-width forms, "exämple" */
	LOOKALIKE_SKELETON,
	/* skeleton match where a label mixes scripts (uspoof restriction level
	 * "highly restrictive" fails), e.g. Cyrillic "а" inside a Latin label;
	 * also reported with an empty protected_domain when a label mixes scripts
	 * but resembles no protected domain (the weakest result) */
	LOOKALIKE_IDN_MIXED_SCRIPT,
	/* one insertion, deletion, substitution or adjacent transposition
	 * (Damerau-Levenshtein distance 1) in the registrable domain */
	LOOKALIKE_EDIT1,
	/* digit for letter: 0/o, 1/l, 1/i, 3/e, 5/s ("examp1e.com") */
	LOOKALIKE_DIGIT_SWAP,
	/* letter pair for letter: rn/m, vv/w, cl/d ("exarnple.com") */
	LOOKALIKE_RN_M,
	/* same registrable label, different public suffix ("example.net",
	 * "example.co", "example.co.uk" for "example.com") */
	LOOKALIKE_TLD_SWAP,
};

struct lookalike_match {
	enum lookalike_kind kind;
	/* the protected domain as configured (normalised to lower-case Unicode);
	 * empty for LOOKALIKE_NONE and for an unrelated mixed-script label */
	char protected_domain[256];
	/* one line for logs and headers; also set for LOOKALIKE_NONE when the
	 * input was not a usable domain (invalid UTF-8, empty label, too long) */
	char reason[256];
};

/* Prepares a set from n protected domains (U-labels or A-labels, any case, a
 * trailing dot allowed). A protected domain stands for its whole registrable
 * domain: protecting "mail.example.com" protects "example.com". Returns the
 * set, or NULL with a message in err when a domain is invalid, is a public
 * suffix, or ICU's spoof data is unavailable. The set is immutable and safe to
 * query from many threads at once. Does not block. */
struct lookalike_set *lookalike_set_new(const char *const *protected_domains, size_t n,
					char *err, size_t errlen);

/* frees the set and clears *s; NULL and *s == NULL are fine */
void lookalike_set_free(struct lookalike_set **s);

/* number of protected domains in the set */
size_t lookalike_set_count(const struct lookalike_set *s);

/* Checks one domain taken from a header or the envelope (U-label or A-label,
 * any case, arbitrary bytes). Returns the kind and fills *m_r (if not NULL)
 * with the strongest match over all protected domains; LOOKALIKE_EXACT wins
 * over everything. Invalid input yields LOOKALIKE_NONE with a reason. No heap
 * allocation except while decoding xn-- labels; does not block. */
enum lookalike_kind lookalike_check(const struct lookalike_set *s, const char *domain,
				    struct lookalike_match *m_r);

/* Like lookalike_check against the single domain protected_domain, prepared
 * per call (for per-message comparisons such as Reply-To against From).
 * Invalid protected_domain yields LOOKALIKE_NONE with a reason. */
enum lookalike_kind lookalike_check_pair(const char *domain, const char *protected_domain,
					 struct lookalike_match *m_r);

/* Name of a kind, for logs and tests: "none", "exact", "skeleton", ... */
const char *lookalike_kind_name(enum lookalike_kind k);

/* Organisational (registrable) domain of domain by the public suffix list
 * (libpsl, offline), after decoding xn-- labels and lower-casing: writes the
 * lower-case Unicode form to out. Returns 0, or -1 (out set to "") for input
 * that is not a domain or is itself a public suffix. */
int lookalike_org_domain(const char *domain, char *out, size_t outlen);

#endif
