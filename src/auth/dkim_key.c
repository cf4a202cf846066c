/*
 * dkim_key: parsing of DKIM key records (RFC 6376 3.6.1, RFC 8463 4) into
 * OpenSSL public keys, their DNS retrieval, and the raw signature check.
 */
#include "auth/dkim_key.h"
#include "auth/taglist.h"
#include "core/mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

/* decoded p= bigger than this is refused: a 16384-bit RSA SubjectPublicKeyInfo
   (OpenSSL's own ceiling, OPENSSL_RSA_MAX_MODULUS_BITS) is about 2.1 KB */
#define DKIM_KEY_MAX_DER 4096
#define ED25519_KEY_LEN 32 /* RFC 8463 4: the raw 32-byte public key */

/*
 * Decoding a public key through OpenSSL 3's decoder framework costs about
 * 0.1 ms, more than the RSA verification itself, and the same few keys sign
 * most mail. So decoded keys are kept in a small process-wide cache keyed by
 * their DER bytes (an EVP_PKEY is safe to share read-only between threads;
 * each user holds its own reference). Bounded, least recently used out.
 */
#define DKIM_KEY_CACHE_SIZE 64

struct key_cache_entry {
	unsigned char *der;
	size_t len;
	enum dkim_keytype type;
	EVP_PKEY *pkey;
	unsigned long used;
};

static struct key_cache_entry key_cache[DKIM_KEY_CACHE_SIZE];
static unsigned long key_cache_clock;
static pthread_mutex_t key_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* a new reference to a cached key, or NULL */
static EVP_PKEY *key_cache_get(enum dkim_keytype type, const unsigned char *der, size_t len)
{
	EVP_PKEY *pk = NULL;
	pthread_mutex_lock(&key_cache_lock);
	for (size_t i = 0; i < DKIM_KEY_CACHE_SIZE; i++) {
		struct key_cache_entry *e = &key_cache[i];
		if (e->pkey && e->type == type && e->len == len && memcmp(e->der, der, len) == 0) {
			if (EVP_PKEY_up_ref(e->pkey) == 1) {
				pk = e->pkey;
				e->used = ++key_cache_clock;
			}
			break;
		}
	}
	pthread_mutex_unlock(&key_cache_lock);
	return pk;
}

static void key_cache_put(enum dkim_keytype type, const unsigned char *der, size_t len, EVP_PKEY *pk)
{
	if (EVP_PKEY_up_ref(pk) != 1)
		return;
	unsigned char *copy = xmalloc(len);
	memcpy(copy, der, len);
	pthread_mutex_lock(&key_cache_lock);
	struct key_cache_entry *victim = &key_cache[0];
	for (size_t i = 0; i < DKIM_KEY_CACHE_SIZE; i++) {
		if (!key_cache[i].pkey) {
			victim = &key_cache[i];
			break;
		}
		if (key_cache[i].used < victim->used)
			victim = &key_cache[i];
	}
	EVP_PKEY *old = victim->pkey;
	unsigned char *old_der = victim->der;
	victim->der = copy;
	victim->len = len;
	victim->type = type;
	victim->pkey = pk;
	victim->used = ++key_cache_clock;
	pthread_mutex_unlock(&key_cache_lock);
	EVP_PKEY_free(old);
	free(old_der);
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long dkim_base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outlen)
{
	unsigned acc = 0;
	int nbits = 0, pad = 0, nchars = 0;
	size_t k = 0;
	for (size_t i = 0; i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			pad++;
			if (pad > 2)
				return -1;
			continue;
		}
		if (pad)
			return -1; /* data after padding */
		int v = b64val(c);
		if (v < 0)
			return -1;
		nchars++;
		acc = (acc << 6) | (unsigned)v;
		nbits += 6;
		if (nbits >= 8) {
			nbits -= 8;
			if (k >= outlen)
				return -1;
			out[k++] = (unsigned char)(acc >> nbits);
			acc &= (1u << nbits) - 1;
		}
	}
	/* a final group of one character cannot encode a byte; padding, when
	   present, must complete the group */
	int rem = nchars % 4;
	if (rem == 1)
		return -1;
	if (pad && (rem + pad) != 4)
		return -1;
	return (long)k;
}

/* a colon-separated list contains word (RFC 6376 3.6.1 h=, s=, t=) */
static bool list_has(const struct tag *t, const char *word)
{
	size_t wl = strlen(word), p = 0;
	while (p <= t->value_len) {
		const char *e = memchr(t->value + p, ':', t->value_len - p);
		size_t q = e ? (size_t)(e - t->value) : t->value_len;
		size_t s = p, u = q;
		while (s < u && (t->value[s] == ' ' || t->value[s] == '\t' || t->value[s] == '\r' || t->value[s] == '\n'))
			s++;
		while (u > s && (t->value[u - 1] == ' ' || t->value[u - 1] == '\t' || t->value[u - 1] == '\r' ||
				 t->value[u - 1] == '\n'))
			u--;
		if (u - s == wl && memcmp(t->value + s, word, wl) == 0)
			return true;
		p = q + 1;
	}
	return false;
}

static bool tag_is(const struct tag *t, const char *v)
{
	size_t n = strlen(v);
	return t->value_len == n && memcmp(t->value, v, n) == 0;
}

static EVP_PKEY *rsa_from_der(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)len);
	if (pk) {
		if (p != der + len || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
			EVP_PKEY_free(pk);
			return NULL;
		}
		return pk;
	}
	/* some publishers put a bare PKCS#1 RSAPublicKey in p= */
	ERR_clear_error();
	p = der;
	pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)len);
	if (pk && p != der + len) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	if (!pk)
		ERR_clear_error();
	return pk;
}

enum dkim_key_status dkim_key_parse(const char *txt, size_t len, struct dkim_key *key, char *err, size_t errlen)
{
	struct taglist tl;
	char terr[160];
	memset(key, 0, sizeof *key);
	if (taglist_parse(txt, len, &tl, terr, sizeof terr) < 0) {
		snprintf(err, errlen, "key record syntax error: %s", terr);
		return DKIM_KEY_INVALID;
	}
	const struct tag *v = taglist_get(&tl, "v");
	if (v) {
		/* RFC 6376 3.6.1: v= if present MUST be the first tag, "DKIM1" */
		if (v != &tl.tag[0]) {
			snprintf(err, errlen, "key record: v= is not the first tag");
			return DKIM_KEY_INVALID;
		}
		if (!tag_is(v, "DKIM1")) {
			snprintf(err, errlen, "key record: unknown version v=%.*s", (int)(v->value_len > 20 ? 20 : v->value_len),
				 v->value);
			return DKIM_KEY_INVALID;
		}
	}
	const struct tag *k = taglist_get(&tl, "k");
	if (!k || tag_is(k, "rsa")) {
		key->type = DKIM_KEY_RSA;
	} else if (tag_is(k, "ed25519")) {
		key->type = DKIM_KEY_ED25519;
	} else {
		snprintf(err, errlen, "key record: unknown key type k=%.*s", (int)(k->value_len > 20 ? 20 : k->value_len),
			 k->value);
		return DKIM_KEY_INVALID;
	}
	const struct tag *h = taglist_get(&tl, "h");
	if (h) {
		key->allow_sha1 = list_has(h, "sha1");
		key->allow_sha256 = list_has(h, "sha256");
	} else {
		key->allow_sha1 = key->allow_sha256 = true;
	}
	const struct tag *s = taglist_get(&tl, "s");
	if (s && !list_has(s, "*") && !list_has(s, "email")) {
		snprintf(err, errlen, "key record: service type s=%.*s does not include email",
			 (int)(s->value_len > 20 ? 20 : s->value_len), s->value);
		return DKIM_KEY_INVALID;
	}
	const struct tag *t = taglist_get(&tl, "t");
	if (t) {
		key->testing = list_has(t, "y");
		key->strict_identity = list_has(t, "s");
	}
	const struct tag *p = taglist_get(&tl, "p");
	if (!p) {
		snprintf(err, errlen, "key record: no p= tag");
		return DKIM_KEY_INVALID;
	}
	unsigned char der[DKIM_KEY_MAX_DER];
	long n = dkim_base64_decode(p->value, p->value_len, der, sizeof der);
	if (n < 0) {
		snprintf(err, errlen, "key record: p= is not valid base64 or too long");
		return DKIM_KEY_INVALID;
	}
	if (n == 0) {
		/* RFC 6376 3.6.1: an empty p= means the key was revoked */
		key->revoked = true;
		return DKIM_KEY_OK;
	}
	key->pkey = key_cache_get(key->type, der, (size_t)n);
	if (key->pkey) {
		int bits = EVP_PKEY_get_bits(key->pkey);
		key->bits = key->type == DKIM_KEY_ED25519 ? 256 : (bits > 0 ? (unsigned)bits : 0);
		return DKIM_KEY_OK; /* only keys that passed every check are cached */
	}
	if (key->type == DKIM_KEY_ED25519) {
		if (n != ED25519_KEY_LEN) {
			snprintf(err, errlen, "key record: ed25519 key is %ld bytes, not %d", n, ED25519_KEY_LEN);
			return DKIM_KEY_INVALID;
		}
		key->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, (size_t)n);
		if (!key->pkey) {
			ERR_clear_error();
			snprintf(err, errlen, "key record: unusable ed25519 key");
			return DKIM_KEY_INVALID;
		}
		key->bits = 256;
		key_cache_put(key->type, der, (size_t)n, key->pkey);
		return DKIM_KEY_OK;
	}
	key->pkey = rsa_from_der(der, (size_t)n);
	if (!key->pkey) {
		snprintf(err, errlen, "key record: p= is not an RSA public key");
		return DKIM_KEY_INVALID;
	}
	int bits = EVP_PKEY_get_bits(key->pkey);
	key->bits = bits > 0 ? (unsigned)bits : 0;
	if (key->bits < DKIM_MIN_RSA_BITS) {
		snprintf(err, errlen, "key too small (%u bits)", key->bits);
		dkim_key_free(key);
		return DKIM_KEY_INVALID;
	}
	key_cache_put(key->type, der, (size_t)n, key->pkey);
	return DKIM_KEY_OK;
}

/* a selector may itself contain dots (RFC 6376 3.1); the name check is the
   resolver's (lengths, empty labels) */
enum dkim_key_status dkim_key_fetch(struct dns_resolver *r, const char *selector, const char *domain,
				    struct dkim_key *key, char *err, size_t errlen)
{
	char name[DNS_MAX_NAME + 2];
	memset(key, 0, sizeof *key);
	int w = snprintf(name, sizeof name, "%s._domainkey.%s", selector, domain);
	if (w < 0 || (size_t)w >= sizeof name || !dns_name_valid(name)) {
		snprintf(err, errlen, "invalid key name %.*s._domainkey.%.*s", 63, selector, 100, domain);
		return DKIM_KEY_INVALID;
	}
	struct dns_answer ans;
	enum dns_status st = dns_query(r, name, DNS_T_TXT, &ans);
	enum dkim_key_status ks;
	switch (st) {
	case DNS_FOUND:
		ks = DKIM_KEY_INVALID;
		snprintf(err, errlen, "no usable key record at %s", name);
		for (size_t i = 0; i < ans.n; i++) {
			char kerr[200];
			enum dkim_key_status one = dkim_key_parse(ans.rr[i].txt, ans.rr[i].txt_len, key, kerr, sizeof kerr);
			if (one == DKIM_KEY_OK) {
				ks = DKIM_KEY_OK;
				break;
			}
			if (i == 0)
				snprintf(err, errlen, "%s", kerr);
		}
		break;
	case DNS_NODATA:
	case DNS_NXDOMAIN:
		snprintf(err, errlen, "no key for signature (%s: %s)", name, dns_status_name(st));
		ks = DKIM_KEY_NONE;
		break;
	case DNS_TEMPFAIL:
	case DNS_CONFIG_ERROR:
	default:
		/* a resolver that cannot answer is never "no key" */
		snprintf(err, errlen, "DNS temporary failure for %s (%s)", name,
			 ans.reason ? ans.reason : dns_status_name(st));
		ks = DKIM_KEY_TEMPFAIL;
		break;
	}
	dns_answer_free(&ans);
	return ks;
}

void dkim_key_free(struct dkim_key *key)
{
	EVP_PKEY_free(key->pkey);
	key->pkey = NULL;
}

int dkim_key_verify(const struct dkim_key *key, enum dkim_hashalg hash, const void *data, size_t len,
		    const unsigned char *sig, size_t siglen)
{
	if (!key->pkey)
		return 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		xmem_fail(0);
	int ok = 0;
	if (key->type == DKIM_KEY_ED25519) {
		/* RFC 8463 3: ed25519 signs the SHA-256 digest of the header data */
		unsigned char dig[EVP_MAX_MD_SIZE];
		unsigned dl = 0;
		if (hash == DKIM_HASH_SHA256 && EVP_Digest(data, len, dig, &dl, EVP_sha256(), NULL) == 1 &&
		    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key->pkey) == 1)
			ok = EVP_DigestVerify(ctx, sig, siglen, dig, dl) == 1;
	} else {
		const EVP_MD *md = hash == DKIM_HASH_SHA1 ? EVP_sha1() : EVP_sha256();
		EVP_PKEY_CTX *pctx = NULL;
		if (EVP_DigestVerifyInit(ctx, &pctx, md, NULL, key->pkey) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1)
			ok = EVP_DigestVerify(ctx, sig, siglen, data, len) == 1;
	}
	EVP_MD_CTX_free(ctx);
	if (!ok)
		ERR_clear_error(); /* keep this thread's error queue from growing */
	return ok;
}
