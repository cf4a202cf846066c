/*
 * arc: RFC 8617 chain validation. See arc.h for the algorithm; the comments
 * here explain the choices the RFC leaves open and the quirks of real chains.
 *
 * Memory: the message is never copied. Headers are found by pointer, each
 * ARC-Seal/AMS is re-parsed from its raw text when it is verified (a tag list
 * is ~2 KB, keeping 100 of them would cost more than parsing twice), and one
 * bounded buffer is reused for every canonicalised signature input.
 */
#include "auth/arc.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth/dkim_canon.h"
#include "auth/dkim_key.h"
#include "auth/taglist.h"
#include "core/buf.h"
#include "core/mem.h"

#define ARC_KEY_CACHE 4 /* distinct (selector, domain) pairs kept per arc_verify call */
#define ARC_MAX_TIME_DIGITS 12 /* RFC 6376 3.5 t=/x=: at most 12 digits */
#define ARC_MAX_L_DIGITS 18 /* RFC 6376 3.5 allows 76; more than fits a long long is malformed */

enum arc_kind { ARC_AAR, ARC_AMS, ARC_AS, ARC_KINDS };

static const char *const kind_name[ARC_KINDS] = {
	"ARC-Authentication-Results",
	"ARC-Message-Signature",
	"ARC-Seal",
};

/* short forms used in reasons, as operators read them in logs */
static const char *const kind_short[ARC_KINDS] = { "AAR", "AMS", "AS" };

/* a= of an ARC-Seal or AMS (RFC 6376 3.3, RFC 8463) */
struct arc_alg {
	enum dkim_keytype keytype;
	enum dkim_hashalg hash;
};

/* an ARC-Seal or AMS after full syntax checking; strings point into the header */
struct arc_sig {
	enum arc_kind kind;
	unsigned instance;
	struct arc_alg alg;
	enum arc_cv cv;                 /* AS only */
	enum dkim_canon hcanon, bcanon; /* AMS only (AS is always relaxed) */
	const char *h;                  /* AMS h= */
	size_t hlen;
	long long l;                    /* AMS l=, -1 when absent */
	long long t, x;                 /* -1 when absent */
	char d[DNS_MAX_NAME + 1];
	char s[DNS_MAX_NAME + 1];
	unsigned char b[ARC_MAX_SIG_BYTES];
	size_t blen;
	unsigned char bh[EVP_MAX_MD_SIZE];
	size_t bhlen;
};

const char *arc_cv_name(enum arc_cv cv)
{
	switch (cv) {
	case ARC_NONE:
		return "none";
	case ARC_PASS:
		return "pass";
	case ARC_FAIL:
		return "fail";
	case ARC_TEMPERROR:
		return "temperror";
	}
	return "unknown";
}

static bool is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* the tag value equals word exactly (values are case-sensitive: RFC 6376 3.2) */
static bool tag_is(const struct tag *t, const char *word)
{
	size_t n = strlen(word);
	return t->value_len == n && memcmp(t->value, word, n) == 0;
}

static int kind_of(const char *name, size_t len)
{
	for (int k = 0; k < ARC_KINDS; k++)
		if (strlen(kind_name[k]) == len && strncasecmp(kind_name[k], name, len) == 0)
			return k;
	return -1;
}

static int header_kind(const struct msg_header *h)
{
	return h->name_len ? kind_of(h->name, h->name_len) : -1;
}

/*
 * Parses an unsigned decimal of at most maxdigits digits, nothing else (tag
 * values have their outer FWS stripped already; inner whitespace is an
 * error: "t=1 2345" is not a number). Returns 0 or -1.
 */
static int parse_number(const char *s, size_t len, size_t maxdigits, unsigned long long *v_r)
{
	if (len == 0 || len > maxdigits)
		return -1;
	unsigned long long v = 0;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*v_r = v;
	return 0;
}

/* an instance value: decimal in 1..ARC_MAX_INSTANCES (RFC 8617 4.2.1) */
static int parse_instance(const char *s, size_t len, unsigned *i_r, char *err, size_t errlen)
{
	unsigned long long v;
	if (parse_number(s, len, 9, &v) < 0) {
		snprintf(err, errlen, "i=%.*s is not a number", (int)(len > 16 ? 16 : len), s);
		return -1;
	}
	if (v < 1 || v > ARC_MAX_INSTANCES) {
		snprintf(err, errlen, "i=%llu outside 1..%d (RFC 8617 4.2.1)", v, ARC_MAX_INSTANCES);
		return -1;
	}
	*i_r = (unsigned)v;
	return 0;
}

/*
 * A domain name or selector as DNS labels of letters, digits and hyphens
 * (RFC 6376 3.5 domain-name / selector, which uses the same sub-domain
 * production). Selectors in the wild sometimes carry '_', which DNS allows,
 * so allow_us lets it through. Copies it NUL-terminated into out.
 */
static int copy_dns_name(const struct tag *t, bool allow_us, char *out, size_t outlen)
{
	if (t->value_len == 0 || t->value_len >= outlen || t->value_len > DNS_MAX_NAME)
		return -1;
	size_t label = 0;
	for (size_t i = 0; i < t->value_len; i++) {
		char c = t->value[i];
		if (c == '.') {
			if (label == 0 || t->value[i - 1] == '-')
				return -1;
			label = 0;
			continue;
		}
		if (!is_alnum(c) && c != '-' && !(allow_us && c == '_'))
			return -1;
		if (c == '-' && label == 0)
			return -1;
		if (++label > DNS_MAX_LABEL)
			return -1;
	}
	if (label == 0 || t->value[t->value_len - 1] == '-')
		return -1;
	memcpy(out, t->value, t->value_len);
	out[t->value_len] = '\0';
	return 0;
}

static int parse_alg(const struct tag *t, struct arc_alg *alg_r)
{
	if (tag_is(t, "rsa-sha256"))
		*alg_r = (struct arc_alg){ DKIM_KEY_RSA, DKIM_HASH_SHA256 };
	else if (tag_is(t, "rsa-sha1"))
		*alg_r = (struct arc_alg){ DKIM_KEY_RSA, DKIM_HASH_SHA1 };
	else if (tag_is(t, "ed25519-sha256"))
		*alg_r = (struct arc_alg){ DKIM_KEY_ED25519, DKIM_HASH_SHA256 };
	else
		return -1;
	return 0;
}

/* base64 tag value (FWS inside ignored) into out; length or -1 */
static long decode_b64(const struct tag *t, unsigned char *out, size_t outlen)
{
	/* base64 text is 4/3 of the bytes plus any folding whitespace */
	char text[ARC_MAX_SIG_BYTES * 2];
	long n = tag_value_nows(t, text, sizeof text);
	if (n <= 0)
		return -1;
	return dkim_base64_decode(text, (size_t)n, out, outlen);
}

/* h= of an AMS: colon-separated field names; ARC-Seal must not be one of them */
static int check_hlist(const char *h, size_t len, char *err, size_t errlen)
{
	size_t p = 0;
	while (p <= len) {
		size_t e = p;
		while (e < len && h[e] != ':')
			e++;
		size_t a = p, z = e;
		while (a < z && is_fws(h[a]))
			a++;
		while (z > a && is_fws(h[z - 1]))
			z--;
		/* an empty element ("from::to") names no field and signs nothing;
		   the ARC suite (ams_fields_h_mis_hdr) expects it to be tolerated */
		for (size_t i = a; i < z; i++) {
			unsigned char c = (unsigned char)h[i];
			if (c <= 32 || c >= 127) {
				snprintf(err, errlen, "h= has an invalid field name");
				return -1;
			}
		}
		/* RFC 8617 4.1.2: the AMS must not sign ARC-Seal fields (their
		   content is not final when the AMS is made) */
		if (z - a == 8 && strncasecmp(h + a, "ARC-Seal", 8) == 0) {
			snprintf(err, errlen, "h= includes ARC-Seal (RFC 8617 4.1.2)");
			return -1;
		}
		p = e + 1;
	}
	return 0;
}

/*
 * The light parse used while collecting sets: tag-list syntax and i=, and
 * cv= for a seal. The full parse (parse_sig) builds on it.
 */
static int parse_light(enum arc_kind kind, const char *value, size_t len, struct taglist *tl, unsigned *inst_r,
		       enum arc_cv *cv_r, char *err, size_t errlen)
{
	char e[160];
	if (taglist_parse(value, len, tl, e, sizeof e) < 0) {
		snprintf(err, errlen, "%s: %s", kind_name[kind], e);
		return -1;
	}
	const struct tag *t = taglist_get(tl, "i");
	if (!t) {
		snprintf(err, errlen, "%s: i= missing", kind_name[kind]);
		return -1;
	}
	if (parse_instance(t->value, t->value_len, inst_r, e, sizeof e) < 0) {
		snprintf(err, errlen, "%s: %s", kind_name[kind], e);
		return -1;
	}
	if (kind != ARC_AS)
		return 0;
	t = taglist_get(tl, "cv");
	if (!t) {
		snprintf(err, errlen, "AS i=%u: cv= missing", *inst_r);
		return -1;
	}
	if (tag_is(t, "none"))
		*cv_r = ARC_NONE;
	else if (tag_is(t, "pass"))
		*cv_r = ARC_PASS;
	else if (tag_is(t, "fail"))
		*cv_r = ARC_FAIL;
	else {
		snprintf(err, errlen, "AS i=%u: cv=%.*s is not none, pass or fail", *inst_r,
			 (int)(t->value_len > 16 ? 16 : t->value_len), t->value);
		return -1;
	}
	return 0;
}

static int parse_time_tag(const struct taglist *tl, const char *name, long long *v_r)
{
	const struct tag *t = taglist_get(tl, name);
	unsigned long long v;
	*v_r = -1;
	if (!t)
		return 0;
	if (parse_number(t->value, t->value_len, ARC_MAX_TIME_DIGITS, &v) < 0)
		return -1;
	*v_r = (long long)v;
	return 0;
}

/*
 * Full syntax check of an ARC-Seal (RFC 8617 4.1.3) or AMS (4.1.2, the
 * DKIM-Signature rules of RFC 6376 3.5 minus v= and with i= as instance).
 * Unknown tags are ignored. Returns 0, or -1 with a reason naming the
 * header ("AMS i=2: bh= missing").
 */
static int parse_sig(enum arc_kind kind, const char *value, size_t len, struct arc_sig *sig, char *err,
		     size_t errlen)
{
	struct taglist tl;
	memset(sig, 0, sizeof *sig);
	sig->kind = kind;
	sig->l = sig->t = sig->x = -1;
	if (parse_light(kind, value, len, &tl, &sig->instance, &sig->cv, err, errlen) < 0)
		return -1;
	const char *k = kind_short[kind];
	unsigned i = sig->instance;

	static const char *const as_req[] = { "a", "b", "d", "s", NULL };
	static const char *const ams_req[] = { "a", "b", "bh", "d", "h", "s", NULL };
	for (const char *const *r = kind == ARC_AS ? as_req : ams_req; *r; r++)
		if (!taglist_get(&tl, *r)) {
			snprintf(err, errlen, "%s i=%u: %s= missing", k, i, *r);
			return -1;
		}

	const struct tag *t = taglist_get(&tl, "a");
	if (parse_alg(t, &sig->alg) < 0) {
		snprintf(err, errlen, "%s i=%u: unknown algorithm a=%.*s", k, i,
			 (int)(t->value_len > 32 ? 32 : t->value_len), t->value);
		return -1;
	}
	long n = decode_b64(taglist_get(&tl, "b"), sig->b, sizeof sig->b);
	if (n <= 0) {
		snprintf(err, errlen, "%s i=%u: b= is empty, too long or not base64", k, i);
		return -1;
	}
	sig->blen = (size_t)n;
	if (copy_dns_name(taglist_get(&tl, "d"), false, sig->d, sizeof sig->d) < 0) {
		snprintf(err, errlen, "%s i=%u: d= is not a valid domain name", k, i);
		return -1;
	}
	if (copy_dns_name(taglist_get(&tl, "s"), true, sig->s, sizeof sig->s) < 0) {
		snprintf(err, errlen, "%s i=%u: s= is not a valid selector", k, i);
		return -1;
	}
	if (parse_time_tag(&tl, "t", &sig->t) < 0) {
		snprintf(err, errlen, "%s i=%u: t= is not a timestamp", k, i);
		return -1;
	}

	if (kind == ARC_AS) {
		/* RFC 8617 4.1.3: the seal covers the ARC sets only; an h= tag
		   would claim otherwise and is an error */
		if (taglist_get(&tl, "h")) {
			snprintf(err, errlen, "AS i=%u: h= is not allowed in an ARC-Seal (RFC 8617 4.1.3)", i);
			return -1;
		}
		sig->hcanon = sig->bcanon = DKIM_CANON_RELAXED;
		return 0;
	}

	t = taglist_get(&tl, "h");
	char e[96];
	if (check_hlist(t->value, t->value_len, e, sizeof e) < 0) {
		snprintf(err, errlen, "AMS i=%u: %s", i, e);
		return -1;
	}
	sig->h = t->value;
	sig->hlen = t->value_len;

	sig->bhlen = 0;
	n = decode_b64(taglist_get(&tl, "bh"), sig->bh, sizeof sig->bh);
	if (n <= 0) {
		snprintf(err, errlen, "AMS i=%u: bh= is empty, too long or not base64", i);
		return -1;
	}
	sig->bhlen = (size_t)n;
	/* a digest of the wrong size cannot match; say so precisely */
	size_t want = sig->alg.hash == DKIM_HASH_SHA1 ? 20 : 32;
	if (sig->bhlen != want) {
		snprintf(err, errlen, "AMS i=%u: bh= is %zu bytes, %s needs %zu", i, sig->bhlen,
			 sig->alg.hash == DKIM_HASH_SHA1 ? "sha1" : "sha256", want);
		return -1;
	}

	t = taglist_get(&tl, "c");
	sig->hcanon = sig->bcanon = DKIM_CANON_SIMPLE; /* RFC 6376 3.5 default */
	if (t && dkim_canon_parse(t->value, t->value_len, &sig->hcanon, &sig->bcanon) < 0) {
		snprintf(err, errlen, "AMS i=%u: c=%.*s is not a canonicalization", i,
			 (int)(t->value_len > 32 ? 32 : t->value_len), t->value);
		return -1;
	}
	t = taglist_get(&tl, "l");
	if (t) {
		unsigned long long v;
		if (parse_number(t->value, t->value_len, ARC_MAX_L_DIGITS, &v) < 0) {
			snprintf(err, errlen, "AMS i=%u: l= is not a length", i);
			return -1;
		}
		sig->l = (long long)v;
	}
	if (parse_time_tag(&tl, "x", &sig->x) < 0) {
		snprintf(err, errlen, "AMS i=%u: x= is not a timestamp", i);
		return -1;
	}
	/* RFC 6376 3.5: x= must be greater than t= */
	if (sig->x >= 0 && sig->t >= 0 && sig->x < sig->t) {
		snprintf(err, errlen, "AMS i=%u: x= is before t=", i);
		return -1;
	}
	return 0;
}

/* ARC-Authentication-Results: [FWS] "i" [FWS] "=" [FWS] 1*DIGIT [FWS] ";" payload
   (RFC 8617 4.1.1; comments in the prefix are not supported). Sets *payload_r
   to the first byte after the ';'. */
static int parse_aar(const char *v, size_t len, unsigned *inst_r, size_t *payload_r, char *err, size_t errlen)
{
	size_t p = 0;
	while (p < len && is_fws(v[p]))
		p++;
	if (p == len || v[p] != 'i') {
		snprintf(err, errlen, "AAR: does not start with i=");
		return -1;
	}
	p++;
	while (p < len && is_fws(v[p]))
		p++;
	if (p == len || v[p] != '=') {
		snprintf(err, errlen, "AAR: does not start with i=");
		return -1;
	}
	p++;
	while (p < len && is_fws(v[p]))
		p++;
	size_t ds = p;
	while (p < len && is_digit(v[p]))
		p++;
	char e[96];
	if (parse_instance(v + ds, p - ds, inst_r, e, sizeof e) < 0) {
		if (p == ds)
			snprintf(err, errlen, "AAR: i= has no number");
		else
			snprintf(err, errlen, "AAR: %s", e);
		return -1;
	}
	while (p < len && is_fws(v[p]))
		p++;
	if (p == len || v[p] != ';') {
		snprintf(err, errlen, "AAR i=%u: ';' expected after the instance", *inst_r);
		return -1;
	}
	*payload_r = p + 1;
	return 0;
}

int arc_header_parse_check(const char *name, const char *value, size_t len, char *err, size_t errlen)
{
	int kind = kind_of(name, strlen(name));
	if (kind < 0) {
		snprintf(err, errlen, "%s is not an ARC header field", name);
		return -1;
	}
	if (kind == ARC_AAR) {
		unsigned inst;
		size_t payload;
		return parse_aar(value, len, &inst, &payload, err, errlen);
	}
	struct arc_sig sig;
	return parse_sig((enum arc_kind)kind, value, len, &sig, err, errlen);
}

/* ---- the chain ---- */

struct arc_set {
	const struct msg_header *h[ARC_KINDS]; /* the first one seen of each kind */
	unsigned count[ARC_KINDS];
	enum arc_cv cv; /* of h[ARC_AS] */
};

struct key_slot {
	char sel[DNS_MAX_NAME + 1];
	char dom[DNS_MAX_NAME + 1];
	enum dkim_key_status st;
	struct dkim_key key; /* valid when st == DKIM_KEY_OK */
	char err[128];
};

struct arc_ctx {
	struct dns_resolver *r;
	const struct message *msg;
	const struct arc_verify_opts *o;
	struct arc_set set[ARC_MAX_INSTANCES + 1]; /* index = instance */
	unsigned n;
	struct buf data; /* signature input, reused */
	struct key_slot keys[ARC_KEY_CACHE];
	unsigned nkeys;
	struct key_slot spare; /* when the cache is full: holds the last lookup */
	bool spare_used;
};

enum vstatus { V_OK, V_FAIL, V_TEMP };

/* fetches (or finds cached) the key of sig; the slot stays owned by ctx */
static const struct key_slot *get_key(struct arc_ctx *c, const struct arc_sig *sig)
{
	for (unsigned k = 0; k < c->nkeys; k++)
		if (strcmp(c->keys[k].sel, sig->s) == 0 && strcasecmp(c->keys[k].dom, sig->d) == 0)
			return &c->keys[k];
	struct key_slot *ks;
	if (c->nkeys < ARC_KEY_CACHE) {
		ks = &c->keys[c->nkeys++];
	} else {
		if (c->spare_used && c->spare.st == DKIM_KEY_OK)
			dkim_key_free(&c->spare.key);
		ks = &c->spare;
		c->spare_used = true;
	}
	snprintf(ks->sel, sizeof ks->sel, "%s", sig->s);
	snprintf(ks->dom, sizeof ks->dom, "%s", sig->d);
	ks->err[0] = '\0';
	ks->st = dkim_key_fetch(c->r, sig->s, sig->d, &ks->key, ks->err, sizeof ks->err);
	return ks;
}

static void free_keys(struct arc_ctx *c)
{
	for (unsigned k = 0; k < c->nkeys; k++)
		if (c->keys[k].st == DKIM_KEY_OK)
			dkim_key_free(&c->keys[k].key);
	if (c->spare_used && c->spare.st == DKIM_KEY_OK)
		dkim_key_free(&c->spare.key);
}

/* fetches the key and checks sig->b over c->data with it */
static enum vstatus check_signature(struct arc_ctx *c, const struct arc_sig *sig, char *why, size_t whylen)
{
	const char *k = kind_short[sig->kind];
	unsigned i = sig->instance;
	const struct key_slot *ks = get_key(c, sig);
	switch (ks->st) {
	case DKIM_KEY_OK:
		break;
	case DKIM_KEY_TEMPFAIL:
		snprintf(why, whylen, "%s i=%u key %.80s._domainkey.%.80s: temporary DNS failure", k, i, sig->s,
			 sig->d);
		return V_TEMP;
	case DKIM_KEY_NONE:
		snprintf(why, whylen, "%s i=%u no key at %.80s._domainkey.%.80s", k, i, sig->s, sig->d);
		return V_FAIL;
	case DKIM_KEY_INVALID:
	default:
		snprintf(why, whylen, "%s i=%u key %.80s._domainkey.%.80s invalid: %.60s", k, i, sig->s, sig->d, ks->err);
		return V_FAIL;
	}
	const struct dkim_key *key = &ks->key;
	if (key->revoked || !key->pkey) {
		snprintf(why, whylen, "%s i=%u key %.80s._domainkey.%.80s is revoked", k, i, sig->s, sig->d);
		return V_FAIL;
	}
	if (key->type != sig->alg.keytype) {
		snprintf(why, whylen, "%s i=%u key type does not match a=", k, i);
		return V_FAIL;
	}
	if ((sig->alg.hash == DKIM_HASH_SHA1 && !key->allow_sha1) ||
	    (sig->alg.hash == DKIM_HASH_SHA256 && !key->allow_sha256)) {
		snprintf(why, whylen, "%s i=%u key h= does not allow the hash of a=", k, i);
		return V_FAIL;
	}
	if (key->type == DKIM_KEY_RSA && key->bits < DKIM_MIN_RSA_BITS) {
		snprintf(why, whylen, "%s i=%u key is %u bits, below %d (RFC 8301 3.2)", k, i, key->bits,
			 DKIM_MIN_RSA_BITS);
		return V_FAIL;
	}
	if (dkim_key_verify(key, sig->alg.hash, c->data.data ? c->data.data : "", c->data.len, sig->b, sig->blen) !=
	    1) {
		snprintf(why, whylen, "%s i=%u signature did not verify", k, i);
		return V_FAIL;
	}
	return V_OK;
}

static bool sha1_refused(const struct arc_ctx *c, const struct arc_sig *sig, char *why, size_t whylen)
{
	if (sig->alg.hash != DKIM_HASH_SHA1 || (c->o && c->o->allow_sha1))
		return false;
	snprintf(why, whylen, "%s i=%u uses rsa-sha1, not accepted (RFC 8301 3.1)", kind_short[sig->kind],
		 sig->instance);
	return true;
}

/* RFC 8617 5.2 step 4: the AMS of instance i, verified as a DKIM signature */
static enum vstatus verify_ams(struct arc_ctx *c, unsigned i, char *why, size_t whylen)
{
	const struct msg_header *h = c->set[i].h[ARC_AMS];
	struct arc_sig sig;
	if (parse_sig(ARC_AMS, h->value, h->value_len, &sig, why, whylen) < 0)
		return V_FAIL;
	if (sha1_refused(c, &sig, why, whylen))
		return V_FAIL;
	if (sig.x >= 0 && c->o && c->o->now > 0 && (long long)c->o->now > sig.x) {
		snprintf(why, whylen, "AMS i=%u expired (x=%lld)", i, sig.x);
		return V_FAIL;
	}

	/* body hash first: it needs no DNS */
	struct dkim_bodyhash bh;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	long long total = 0;
	dkim_bodyhash_init(&bh, sig.bcanon, sig.alg.hash == DKIM_HASH_SHA1 ? EVP_sha1() : EVP_sha256(), sig.l);
	dkim_bodyhash_update(&bh, c->msg->body, c->msg->body_len);
	dkim_bodyhash_final(&bh, digest, &dlen, &total);
	if (sig.l >= 0 && total < sig.l) {
		snprintf(why, whylen, "AMS i=%u l=%lld is longer than the body (%lld)", i, sig.l, total);
		return V_FAIL;
	}
	if (dlen != sig.bhlen || CRYPTO_memcmp(digest, sig.bh, dlen) != 0) {
		snprintf(why, whylen, "AMS i=%u body hash mismatch", i);
		return V_FAIL;
	}

	/* header hash: the h= fields bottom-up from the whole header, as DKIM
	   does (RFC 6376 5.4.2); then the AMS itself without b= */
	buf_reset(&c->data);
	if (dkim_canon_headers(sig.hcanon, c->msg, sig.h, sig.hlen, c->msg->nhdr, &c->data) < 0 ||
	    dkim_canon_sig_header(sig.hcanon, h->raw, h->raw_len, &c->data) < 0) {
		snprintf(why, whylen, "AMS i=%u signed headers exceed %d bytes", i, ARC_MAX_SIGNED_BYTES);
		return V_FAIL;
	}
	return check_signature(c, &sig, why, whylen);
}

/* RFC 8617 5.1.1 / 5.2 step 6: the AS of instance i over sets 1..i */
static enum vstatus verify_as(struct arc_ctx *c, unsigned i, char *why, size_t whylen)
{
	const struct msg_header *h = c->set[i].h[ARC_AS];
	struct arc_sig sig;
	if (parse_sig(ARC_AS, h->value, h->value_len, &sig, why, whylen) < 0)
		return V_FAIL;
	if (sha1_refused(c, &sig, why, whylen))
		return V_FAIL;
	buf_reset(&c->data);
	for (unsigned j = 1; j <= i; j++) {
		const struct arc_set *s = &c->set[j];
		int rc = dkim_canon_header(DKIM_CANON_RELAXED, s->h[ARC_AAR]->raw, s->h[ARC_AAR]->raw_len, &c->data);
		if (rc == 0)
			rc = dkim_canon_header(DKIM_CANON_RELAXED, s->h[ARC_AMS]->raw, s->h[ARC_AMS]->raw_len,
					       &c->data);
		if (rc == 0)
			rc = j < i ? dkim_canon_header(DKIM_CANON_RELAXED, s->h[ARC_AS]->raw, s->h[ARC_AS]->raw_len,
						       &c->data)
				   : dkim_canon_sig_header(DKIM_CANON_RELAXED, s->h[ARC_AS]->raw,
							   s->h[ARC_AS]->raw_len, &c->data);
		if (rc < 0) {
			snprintf(why, whylen, "AS i=%u sealed headers exceed %d bytes", i, ARC_MAX_SIGNED_BYTES);
			return V_FAIL;
		}
	}
	return check_signature(c, &sig, why, whylen);
}

/* copies the AAR payload after "i=N;", dropping CR and LF (unfolding) and
   leading whitespace, truncated to fit */
static void copy_aar(const struct msg_header *h, char *out, size_t outlen)
{
	unsigned inst;
	size_t p, k = 0;
	char e[8];
	out[0] = '\0';
	if (parse_aar(h->value, h->value_len, &inst, &p, e, sizeof e) < 0)
		return;
	while (p < h->value_len && is_fws(h->value[p]))
		p++;
	for (; p < h->value_len && k + 1 < outlen; p++)
		if (h->value[p] != '\r' && h->value[p] != '\n')
			out[k++] = h->value[p];
	out[k] = '\0';
}

/*
 * RFC 8617 5.2 step 1 and the structural part of step 3: finds every ARC
 * header and files it under its instance. Returns 0 when all parsed, or -1
 * with the first problem (in header order) in why; sets c->n either way.
 */
static int collect(struct arc_ctx *c, bool *any_r, char *why, size_t whylen)
{
	int rc = 0;
	*any_r = false;
	for (size_t k = 0; k < c->msg->nhdr; k++) {
		const struct msg_header *h = &c->msg->hdr[k];
		int kind = header_kind(h);
		if (kind < 0)
			continue;
		*any_r = true;
		unsigned inst = 0;
		enum arc_cv cv = ARC_NONE;
		char e[200];
		int prc;
		if (kind == ARC_AAR) {
			size_t payload;
			prc = parse_aar(h->value, h->value_len, &inst, &payload, e, sizeof e);
		} else {
			struct taglist tl;
			prc = parse_light((enum arc_kind)kind, h->value, h->value_len, &tl, &inst, &cv, e, sizeof e);
		}
		if (prc < 0) {
			if (rc == 0)
				snprintf(why, whylen, "%s", e);
			rc = -1;
			continue;
		}
		struct arc_set *s = &c->set[inst];
		if (s->count[kind]++ == 0) {
			s->h[kind] = h;
			if (kind == ARC_AS)
				s->cv = cv;
		}
		if (inst > c->n)
			c->n = inst;
	}
	return rc;
}

static void set_result(struct arc_response *resp, enum arc_cv cv, const char *why)
{
	resp->cv = cv;
	snprintf(resp->reason, sizeof resp->reason, "%s", why);
}

enum arc_cv arc_verify(struct dns_resolver *r, const struct message *msg, const struct arc_verify_opts *o,
		       struct arc_response *resp)
{
	memset(resp, 0, sizeof *resp);
	struct arc_ctx *c = xcalloc(1, sizeof *c); /* ~7 KB: kept off small thread stacks */
	c->r = r;
	c->msg = msg;
	c->o = o;
	buf_init(&c->data, ARC_MAX_SIGNED_BYTES);

	char why[sizeof resp->reason];
	bool any;
	int crc = collect(c, &any, why, sizeof why);
	resp->instances = c->n;
	if (!any) {
		set_result(resp, ARC_NONE, "no ARC sets");
		goto out;
	}
	unsigned n = c->n;
	if (n > 0 && c->set[n].h[ARC_AS]) {
		struct taglist tl;
		const struct tag *d;
		const struct msg_header *as = c->set[n].h[ARC_AS];
		char e[160];
		/* only a syntactically valid domain: policy code compares it */
		if (taglist_parse(as->value, as->value_len, &tl, e, sizeof e) == 0 && (d = taglist_get(&tl, "d")) &&
		    copy_dns_name(d, false, resp->sealer_domain, sizeof resp->sealer_domain) < 0)
			resp->sealer_domain[0] = '\0';
	}
	if (n > 0 && c->set[n].h[ARC_AAR])
		copy_aar(c->set[n].h[ARC_AAR], resp->aar_value, sizeof resp->aar_value);

	/* step 2: the newest seal already says the chain is broken */
	if (n > 0 && c->set[n].count[ARC_AS] >= 1 && c->set[n].cv == ARC_FAIL) {
		snprintf(why, sizeof why, "AS i=%u has cv=fail", n);
		set_result(resp, ARC_FAIL, why);
		goto out;
	}
	if (crc < 0) {
		set_result(resp, ARC_FAIL, why);
		goto out;
	}
	/* step 3: exactly one of each header per instance, 1..N without gaps */
	for (unsigned i = 1; i <= n; i++)
		for (int k = ARC_AS; k >= 0; k--) {
			unsigned cnt = c->set[i].count[k];
			if (cnt == 1)
				continue;
			if (cnt == 0)
				snprintf(why, sizeof why, "i=%u %s missing", i, kind_name[k]);
			else
				snprintf(why, sizeof why, "i=%u %s appears %u times", i, kind_name[k], cnt);
			set_result(resp, ARC_FAIL, why);
			goto out;
		}
	for (unsigned i = 1; i <= n; i++) {
		enum arc_cv want = i == 1 ? ARC_NONE : ARC_PASS;
		if (c->set[i].cv != want) {
			snprintf(why, sizeof why, "AS i=%u has cv=%s, expected cv=%s", i, arc_cv_name(c->set[i].cv),
				 arc_cv_name(want));
			set_result(resp, ARC_FAIL, why);
			goto out;
		}
	}

	/* steps 4 and 6; a temporary failure is remembered while the other
	   checks may still find a definite failure */
	char tempwhy[sizeof resp->reason] = "";
	enum vstatus vs = verify_ams(c, n, why, sizeof why);
	if (vs == V_FAIL) {
		set_result(resp, ARC_FAIL, why);
		goto out;
	}
	if (vs == V_TEMP)
		snprintf(tempwhy, sizeof tempwhy, "%s", why);
	for (unsigned i = n; i >= 1; i--) {
		vs = verify_as(c, i, why, sizeof why);
		if (vs == V_FAIL) {
			set_result(resp, ARC_FAIL, why);
			goto out;
		}
		if (vs == V_TEMP && !tempwhy[0])
			snprintf(tempwhy, sizeof tempwhy, "%s", why);
	}
	if (tempwhy[0]) {
		set_result(resp, ARC_TEMPERROR, tempwhy);
		goto out;
	}

	/* step 5 (optional): how far back the message is unmodified */
	resp->oldest_pass = (int)n;
	for (unsigned i = n - 1; i >= 1; i--) {
		if (verify_ams(c, i, why, sizeof why) != V_OK)
			break;
		resp->oldest_pass = (int)i;
	}
	snprintf(why, sizeof why, "%u ARC set%s verified", n, n == 1 ? "" : "s");
	set_result(resp, ARC_PASS, why);
out:
	free_keys(c);
	buf_free(&c->data);
	xfree(c);
	return resp->cv;
}
