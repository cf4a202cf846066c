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
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

/* decoded p= bigger than this is refused: a 16384-bit RSA SubjectPublicKeyInfo
   (OpenSSL's own ceiling, OPENSSL_RSA_MAX_MODULUS_BITS) is about 2.1 KB */
#define DKIM_KEY_MAX_DER 4096
#define ED25519_KEY_LEN 32 /* RFC 8463 4: the raw 32-byte public key */

/*
 * Decoding a public key through OpenSSL 3's decoder framework costs about
 * 0.1 ms, more than the RSA verification itself, and the same few keys sign
 * most mail. So parsed key records are kept in a small process-wide cache
 * keyed by the record's exact text (the parse depends on nothing else, so a
 * hit skips tag parsing and base64 as well). An EVP_PKEY is safe to share
 * read-only between threads; each user holds its own reference. Bounded,
 * least recently used out; records longer than DKIM_KEY_CACHE_MAX_TXT are
 * parsed every time.
 */
#define DKIM_KEY_CACHE_SIZE 64
#define DKIM_KEY_CACHE_MAX_TXT 8192

struct key_cache_entry {
	char *txt;
	size_t len;
	struct dkim_key key;   /* key.pkey is the cache's own reference */
	EVP_PKEY_CTX *vctx[2]; /* RSA verify templates for SHA-1, SHA-256; made on first use */
	unsigned long used;
};

static struct key_cache_entry key_cache[DKIM_KEY_CACHE_SIZE];
static unsigned long key_cache_clock;
static pthread_mutex_t key_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* fills key_r (with a new reference to its EVP_PKEY) from the cache entry for
   the record txt; false if there is none */
static bool key_cache_get(const char *txt, size_t len, struct dkim_key *key_r)
{
	bool found = false;
	pthread_mutex_lock(&key_cache_lock);
	for (size_t i = 0; i < DKIM_KEY_CACHE_SIZE; i++) {
		struct key_cache_entry *e = &key_cache[i];
		if (e->key.pkey && e->len == len && memcmp(e->txt, txt, len) == 0) {
			if (EVP_PKEY_up_ref(e->key.pkey) == 1) {
				*key_r = e->key;
				e->used = ++key_cache_clock;
				found = true;
			}
			break;
		}
	}
	pthread_mutex_unlock(&key_cache_lock);
	return found;
}

static void key_cache_put(const char *txt, size_t len, const struct dkim_key *key)
{
	if (len > DKIM_KEY_CACHE_MAX_TXT || !key->pkey || EVP_PKEY_up_ref(key->pkey) != 1)
		return;
	char *copy = xmalloc(len ? len : 1);
	memcpy(copy, txt, len);
	pthread_mutex_lock(&key_cache_lock);
	struct key_cache_entry *victim = &key_cache[0];
	for (size_t i = 0; i < DKIM_KEY_CACHE_SIZE; i++) {
		if (!key_cache[i].key.pkey) {
			victim = &key_cache[i];
			break;
		}
		if (key_cache[i].used < victim->used)
			victim = &key_cache[i];
	}
	EVP_PKEY *old = victim->key.pkey;
	char *old_txt = victim->txt;
	EVP_PKEY_CTX *old_v0 = victim->vctx[0], *old_v1 = victim->vctx[1];
	victim->vctx[0] = victim->vctx[1] = NULL;
	victim->txt = copy;
	victim->len = len;
	victim->key = *key;
	victim->used = ++key_cache_clock;
	pthread_mutex_unlock(&key_cache_lock);
	EVP_PKEY_CTX_free(old_v0);
	EVP_PKEY_CTX_free(old_v1);
	EVP_PKEY_free(old);
	free(old_txt);
}

/*
 * Explicitly fetched digests, shared by every thread (a fetched EVP_MD is
 * immutable). Fetched once; if the fetch fails (no default provider) the
 * legacy EVP_sha*() objects are used, which still work, only slower.
 */
static EVP_MD *md_sha256, *md_sha1;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_fetch_once(void)
{
	md_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	ERR_clear_error();
}

const EVP_MD *dkim_hash_md(enum dkim_hashalg hash)
{
	pthread_once(&md_once, md_fetch_once);
	if (hash == DKIM_HASH_SHA1)
		return md_sha1 ? md_sha1 : EVP_sha1();
	return md_sha256 ? md_sha256 : EVP_sha256();
}

const EVP_MD *dkim_md_fetched(const EVP_MD *md)
{
	if (md == NULL)
		return md;
	switch (EVP_MD_get_type(md)) {
	case NID_sha256:
		return dkim_hash_md(DKIM_HASH_SHA256);
	case NID_sha1:
		return dkim_hash_md(DKIM_HASH_SHA1);
	default:
		return md;
	}
}

/* a new context for an RSA PKCS#1 v1.5 check of a hash digest, or NULL */
static EVP_PKEY_CTX *rsa_verify_ctx_new(EVP_PKEY *pk, enum dkim_hashalg hash)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	if (c && (EVP_PKEY_verify_init(c) != 1 || EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) != 1 ||
		  EVP_PKEY_CTX_set_signature_md(c, dkim_hash_md(hash)) != 1)) {
		EVP_PKEY_CTX_free(c);
		c = NULL;
	}
	return c;
}

/*
 * A verify context for an RSA key and hash, owned by the caller. Setting one
 * up (algorithm fetch, padding, digest) costs about a fifth of the RSA
 * operation, so a cached key keeps a ready template per hash and callers get
 * a copy of it. EVP_PKEY_CTX_dup only reads the template, but OpenSSL does
 * not promise that concurrent reads are safe, so copies are made under the
 * cache lock (about 0.1 us). Lookup is by pointer: the template holds a
 * reference to its key, so the address cannot be reused while it exists.
 */
static EVP_PKEY_CTX *rsa_verify_ctx(EVP_PKEY *pk, enum dkim_hashalg hash)
{
	EVP_PKEY_CTX *c = NULL;
	bool cached = false;
	size_t h = hash == DKIM_HASH_SHA1 ? 0 : 1;
	pthread_mutex_lock(&key_cache_lock);
	for (size_t i = 0; i < DKIM_KEY_CACHE_SIZE; i++)
		if (key_cache[i].key.pkey == pk) {
			cached = true;
			if (key_cache[i].vctx[h])
				c = EVP_PKEY_CTX_dup(key_cache[i].vctx[h]);
			break;
		}
	pthread_mutex_unlock(&key_cache_lock);
	if (c)
		return c;
	c = rsa_verify_ctx_new(pk, hash);
	if (!c || !cached)
		return c;
	EVP_PKEY_CTX *tmpl = EVP_PKEY_CTX_dup(c);
	if (!tmpl)
		return c;
	pthread_mutex_lock(&key_cache_lock);
	for (size_t i = 0; i < DKIM_KEY_CACHE_SIZE; i++)
		if (key_cache[i].key.pkey == pk) {
			if (!key_cache[i].vctx[h]) {
				key_cache[i].vctx[h] = tmpl;
				tmpl = NULL;
			}
			break;
		}
	pthread_mutex_unlock(&key_cache_lock);
	EVP_PKEY_CTX_free(tmpl); /* another thread was first, or the key left the cache */
	return c;
}

/* base64 alphabet values plus one (0 marks a byte outside the alphabet),
   and markers */
#define B64_BAD 0
#define B64_WS 65  /* SP, HTAB, CR, LF: skipped (FWS inside tag values) */
#define B64_PAD 66 /* '=' */

static const unsigned char b64_table[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
	['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
	['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
	['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
	['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
	['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
	['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
	['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
	[' '] = B64_WS, ['\t'] = B64_WS, ['\r'] = B64_WS, ['\n'] = B64_WS, ['='] = B64_PAD,
};

long dkim_base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outlen)
{
	const unsigned char *u = (const unsigned char *)in;
	unsigned acc = 0; /* the nbits (< 8) bits not yet written */
	int nbits = 0, pad = 0, nchars = 0;
	size_t k = 0, i = 0;
	while (i < inlen) {
		/* four alphabet characters at once: 24 bits, three bytes out */
		if (pad == 0 && i + 4 <= inlen && k + 3 <= outlen) {
			/* minus one: a byte outside the alphabet wraps to a huge value */
			unsigned a = b64_table[u[i]] - 1u, b = b64_table[u[i + 1]] - 1u, c = b64_table[u[i + 2]] - 1u,
				 d = b64_table[u[i + 3]] - 1u;
			if ((a | b | c | d) < 64) {
				acc = (acc << 24) | (a << 18) | (b << 12) | (c << 6) | d;
				out[k] = (unsigned char)(acc >> (nbits + 16));
				out[k + 1] = (unsigned char)(acc >> (nbits + 8));
				out[k + 2] = (unsigned char)(acc >> nbits);
				k += 3;
				acc &= (1u << nbits) - 1;
				nchars += 4;
				i += 4;
				continue;
			}
		}
		unsigned v = b64_table[u[i++]];
		if (v == B64_WS)
			continue;
		if (v == B64_PAD) {
			pad++;
			if (pad > 2)
				return -1;
			continue;
		}
		if (pad)
			return -1; /* data after padding */
		if (v == B64_BAD)
			return -1;
		nchars++;
		acc = (acc << 6) | (v - 1);
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
	if (key_cache_get(txt, len, key))
		return DKIM_KEY_OK; /* only records that passed every check are cached */
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
		key_cache_put(txt, len, key);
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
	key_cache_put(txt, len, key);
	return DKIM_KEY_OK;
}

/* a selector may itself contain dots (RFC 6376 3.1); the name check is the
   resolver's (lengths, empty labels) */
enum dkim_key_status dkim_key_fetch(struct dns_resolver *r, const char *selector, const char *domain,
				    struct dkim_key *key, char *err, size_t errlen)
{
	static const char mid[] = "._domainkey.";
	char name[DNS_MAX_NAME + 2];
	memset(key, 0, sizeof *key);
	size_t sl = strlen(selector), dl = strlen(domain);
	bool fits = sl + sizeof mid - 1 + dl < sizeof name;
	if (fits) {
		memcpy(name, selector, sl);
		memcpy(name + sl, mid, sizeof mid - 1);
		memcpy(name + sl + sizeof mid - 1, domain, dl + 1);
	}
	if (!fits || !dns_name_valid(name)) {
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
	unsigned char dig[EVP_MAX_MD_SIZE];
	unsigned dl = 0;
	int ok = 0;
	if (key->type == DKIM_KEY_ED25519) {
		/* RFC 8463 3: ed25519 signs the SHA-256 digest of the header data */
		if (hash != DKIM_HASH_SHA256 || EVP_Digest(data, len, dig, &dl, dkim_hash_md(hash), NULL) != 1)
			goto out;
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		if (!ctx)
			xmem_fail(0);
		if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key->pkey) == 1)
			ok = EVP_DigestVerify(ctx, sig, siglen, dig, dl) == 1;
		EVP_MD_CTX_free(ctx);
	} else {
		/* hash here with the fetched digest, then a PKCS#1 v1.5 check of
		   the DigestInfo: the same as EVP_DigestVerify, without its
		   per-call digest fetch */
		if (EVP_Digest(data, len, dig, &dl, dkim_hash_md(hash), NULL) != 1)
			goto out;
		EVP_PKEY_CTX *pctx = rsa_verify_ctx(key->pkey, hash);
		if (!pctx)
			goto out;
		ok = EVP_PKEY_verify(pctx, sig, siglen, dig, dl) == 1;
		EVP_PKEY_CTX_free(pctx);
	}
out:
	if (!ok)
		ERR_clear_error(); /* keep this thread's error queue from growing */
	return ok;
}
