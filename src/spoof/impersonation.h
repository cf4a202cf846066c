/*
 * impersonation: business-e-mail-compromise signals from the visible sender.
 * Owns the prepared, immutable sets of high-profile users ("VIPs": display
 * name plus their real addresses) and of free-mail provider domains, the
 * display-name normaliser, and the Reply-To diversion check. Pure functions:
 * no configuration, no DNS, no decision.
 */
#ifndef MAMORI_SPOOF_IMPERSONATION_H
#define MAMORI_SPOOF_IMPERSONATION_H

#include <stdbool.h>
#include <stddef.h>

#include "spoof/lookalike.h"

/* display names longer than this (decoded UTF-8 bytes) are not compared */
#define IMP_MAX_NAME_BYTES	1024
/* tokens kept per name; a longer name only matches as a superset of the first
 * IMP_MAX_TOKENS tokens */
#define IMP_MAX_TOKENS		16
/* a token longer than this (UTF-8 bytes, after normalisation) never matches */
#define IMP_MAX_TOKEN_BYTES	64
/* names of up to this many tokens are also compared with spaces removed in
 * every order (4! = 24 concatenations) */
#define IMP_MAX_PERMUTE		4
#define IMP_MAX_VIPS		4096
#define IMP_MAX_VIP_ADDRESSES	64
#define IMP_MAX_FREEMAIL	100000

/* strengths (0..100) reported in imp_match.strength */
#define IMP_STRENGTH_NAME		60	/* all name tokens, any order/spacing */
#define IMP_STRENGTH_SUPERSET		35	/* the name plus other words */
#define IMP_STRENGTH_FREEMAIL_BONUS	30	/* sender on a free-mail domain */
#define IMP_STRENGTH_SAME_DOMAIN	20	/* cap: sender in the VIP's own domain */

struct vip_entry {
	const char *name;		/* display name as configured, UTF-8 */
	const char *const *addresses;	/* the VIP's real addresses */
	size_t n_addresses;
};

struct vip_set;
struct freemail_set;

struct imp_match {
	bool matched;
	bool freemail;		/* the sender's domain is a free-mail provider */
	char vip_name[256];	/* as configured */
	char reason[256];	/* also set when nothing matched for a reason */
	int strength;		/* 0 when not matched */
};

/* Prepares a set of n VIPs (names normalised and tokenised once). Returns
 * NULL with a message in err for a NULL/empty/invalid name, a name with no
 * letters, or too many entries. Immutable; safe to query from many threads. */
struct vip_set *vip_set_new(const struct vip_entry *v, size_t n, char *err, size_t errlen);
void vip_set_free(struct vip_set **s);

/* Free-mail provider domains (ASCII or U-labels, any case). A domain matches
 * itself and its subdomains. Returns NULL with err for an empty entry. */
struct freemail_set *freemail_set_new(const char *const *domains, size_t n, char *err,
				      size_t errlen);
void freemail_set_free(struct freemail_set **s);
/* true if domain (any case, trailing dot allowed) is in the set or below an
 * entry; NULL set or domain gives false */
bool freemail_contains(const struct freemail_set *s, const char *domain);
/* a built-in list of common providers (static storage), for defaults */
const char *const *freemail_default_domains(size_t *n_r);

/*
 * Does display_name (decoded UTF-8, e.g. from an RFC 2047 encoded-word)
 * imitate a VIP while address (local@domain) is not one of that VIP's?
 * Comparison ignores case, spacing, punctuation, diacritics, full-width and
 * other compatibility forms, confusable characters, word order ("Doe, John"),
 * common titles ("Mr", "CEO", 様, 社長), and for Japanese the space between
 * family and given name and katakana/hiragana. fm may be NULL.
 * Returns 1 on a match (m_r filled with the strongest VIP match), 0 when
 * nothing matches (m_r->reason may say why, e.g. the VIP's own address), -1
 * for unusable input (invalid UTF-8, too long; reason set). Does not block;
 * no heap allocation.
 */
int impersonation_check(const struct vip_set *s, const char *display_name, const char *address,
			const struct freemail_set *fm, struct imp_match *m_r);

/* The name normaliser used by impersonation_check, exposed for logs and
 * tests: writes the normalised tokens joined by one space to out (before
 * confusable mapping, titles kept). Returns the number of tokens (0 for a
 * name with no letters), or -1 with out = "" for invalid UTF-8 or input
 * longer than IMP_MAX_NAME_BYTES. in need not be NUL-terminated. */
int imp_name_normalize(const char *in, size_t len, char *out, size_t outlen);

struct reply_to_match {
	bool diverts;		/* Reply-To is in another organisational domain */
	bool freemail;		/* ... and on a free-mail provider */
	enum lookalike_kind lookalike; /* ... and a lookalike of From or a protected domain */
	int strength;		/* 0..100: 30 different org, 60 free-mail, 80 lookalike */
	char from_org[256];
	char reply_to_org[256];
	char reason[256];
};

/*
 * Does Reply-To divert answers away from the From organisation? Compares the
 * organisational domains (libpsl registrable domain, offline). fm and
 * protected may be NULL. Returns true when the organisations differ (r_r
 * filled); false for the same organisation or an unusable domain (reason
 * says which). Does not block.
 */
bool reply_to_diverts(const char *from_domain, const char *reply_to_domain,
		      const struct freemail_set *fm, const struct lookalike_set *protected_set,
		      struct reply_to_match *r_r);

#endif
