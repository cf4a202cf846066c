/*
 * dkim_key: DKIM public key records (RFC 6376 3.6.1, RFC 8463) and their
 * retrieval from <selector>._domainkey.<domain>, plus the signature check
 * on already-hashed data. Shared by DKIM verification and ARC.
 */
#ifndef MAMORI_AUTH_DKIM_KEY_H
#define MAMORI_AUTH_DKIM_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>

#include "dns/dns.h"

#define DKIM_MIN_RSA_BITS 1024  /* RFC 8301 3.2: verifiers MUST NOT accept smaller */

enum dkim_keytype { DKIM_KEY_RSA, DKIM_KEY_ED25519 };
enum dkim_hashalg { DKIM_HASH_SHA1, DKIM_HASH_SHA256 };

struct dkim_key {
	enum dkim_keytype type;
	EVP_PKEY *pkey;       /* NULL when revoked (empty p=) */
	bool revoked;
	bool testing;         /* t=y */
	bool strict_identity; /* t=s: i= domain must equal d= */
	bool allow_sha1, allow_sha256; /* h= (both true when absent) */
	unsigned bits;        /* RSA modulus size, 256 for ed25519 */
};

/* the outcome of fetching and parsing a key */
enum dkim_key_status {
	DKIM_KEY_OK,
	DKIM_KEY_NONE,      /* no key record (NXDOMAIN/NODATA): permerror "no key" */
	DKIM_KEY_TEMPFAIL,  /* DNS temporary failure: temperror */
	DKIM_KEY_INVALID,   /* syntax, unknown k=, bad p=, s= not email or "*": permerror */
};

/*
 * Parses one key record (TXT value). Returns DKIM_KEY_OK or DKIM_KEY_INVALID
 * with a reason in err. On OK key_r must be released with dkim_key_free().
 */
enum dkim_key_status dkim_key_parse(const char *txt, size_t len, struct dkim_key *key_r, char *err, size_t errlen);
/* looks up selector._domainkey.domain (may block on DNS) and parses it;
   several TXT records -> the first that parses */
enum dkim_key_status dkim_key_fetch(struct dns_resolver *r, const char *selector, const char *domain,
				    struct dkim_key *key_r, char *err, size_t errlen);
void dkim_key_free(struct dkim_key *key);

/*
 * Verifies signature sig over data with key: for RSA, data is hashed with hash
 * and checked as PKCS#1 v1.5; for ed25519 (RFC 8463), data is first hashed
 * with SHA-256 and the digest is what was signed. Returns 1 valid, 0 invalid.
 */
int dkim_key_verify(const struct dkim_key *key, enum dkim_hashalg hash, const void *data, size_t len,
		    const unsigned char *sig, size_t siglen);

/*
 * The process-wide, explicitly fetched digest for hash (fetched once, on
 * first use, thread-safe): handing OpenSSL 3 a fetched EVP_MD saves the
 * implicit fetch (a locked method-store lookup) in every digest init.
 * Never NULL: if the fetch fails (no default provider), the legacy
 * EVP_sha*() object is returned. Shared; the caller must not free it.
 */
const EVP_MD *dkim_hash_md(enum dkim_hashalg hash);
/* the fetched equivalent of md when md is SHA-256 or SHA-1 (for instance
   EVP_sha256()), otherwise md itself */
const EVP_MD *dkim_md_fetched(const EVP_MD *md);

/* base64 decode ignoring whitespace; returns length or -1 on bad input */
long dkim_base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outlen);

#endif
