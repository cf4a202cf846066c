/*
 * dkim: verification of DKIM-Signature fields (RFC 6376 section 6) with the
 * RFC 8301 rules (rsa-sha1 weak, RSA keys of at least 1024 bits) and RFC 8463
 * ed25519-sha256. Body hashes are computed once per distinct (body canon,
 * hash, l=) among the signatures; keys once per distinct selector/domain.
 */
#include "auth/dkim.h"
#include "auth/dkim_key.h"
#include "auth/taglist.h"
#include "core/mem.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* t= and x= have at most 12 digits and l= at most 76 (RFC 6376 3.5); larger
   values clamp to 10^18, which is later than any x= and longer than any body */
#define DKIM_NUM_CLAMP 1000000000000000000LL

#define HDATA_INITIAL 4096 /* first allocation for the signed header data */

struct dkim_sig {
	enum dkim_keytype ktype;
	enum dkim_hashalg halg;
	enum dkim_canon hc, bc;
	char a[32];
	char d[256];
	char s[128];
	char i[512];      /* identity as written, or "@d" */
	char *h;          /* h= value, copied */
	size_t hlen;
	size_t blen;
	size_t b_off, b_len; /* where the b= value is, as an offset into the field value */
	char b_prefix[16];
	unsigned char bh[EVP_MAX_MD_SIZE];
	size_t bhlen;
	long long l, t, x; /* -1 when absent */
	unsigned char b[DKIM_MAX_SIG_BYTES]; /* last: only blen bytes are ever set or read */
};

const char *dkim_result_name(enum dkim_result r)
{
	switch (r) {
	case DKIM_PASS:
		return "pass";
	case DKIM_FAIL:
		return "fail";
	case DKIM_NEUTRAL:
		return "neutral";
	case DKIM_POLICY:
		return "policy";
	case DKIM_TEMPERROR:
		return "temperror";
	case DKIM_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

static int show(size_t n)
{
	return (int)(n > 40 ? 40 : n);
}

static bool tag_eq(const struct tag *t, const char *v)
{
	size_t n = strlen(v);
	return t->value_len == n && memcmp(t->value, v, n) == 0;
}

/* copies a tag value into a fixed field; -1 if too long */
static int copy_value(const struct tag *t, char *out, size_t outlen)
{
	if (t->value_len >= outlen)
		return -1;
	memcpy(out, t->value, t->value_len);
	out[t->value_len] = '\0';
	return 0;
}

static int parse_num(const struct tag *t, long long *v_r)
{
	if (t->value_len == 0)
		return -1;
	long long v = 0;
	for (size_t i = 0; i < t->value_len; i++) {
		char c = t->value[i];
		if (c < '0' || c > '9')
			return -1;
		if (v < DKIM_NUM_CLAMP)
			v = v * 10 + (c - '0');
	}
	*v_r = v > DKIM_NUM_CLAMP ? DKIM_NUM_CLAMP : v;
	return 0;
}

/* a domain name as DKIM uses it in d= and i= (RFC 6376 3.5, sub-domain) */
static bool domain_ok(const char *d)
{
	size_t n = strlen(d), lab = 0;
	if (n == 0 || n > DNS_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];
		if (c == '.') {
			if (lab == 0)
				return false;
			lab = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_'))
			return false;
		if (++lab > DNS_MAX_LABEL)
			return false;
	}
	return lab > 0;
}

/* sub is dom or a subdomain of it, ignoring case */
static bool domain_within(const char *sub, const char *dom)
{
	size_t a = strlen(sub), b = strlen(dom);
	if (a < b || strcasecmp(sub + a - b, dom) != 0)
		return false;
	return a == b || sub[a - b - 1] == '.';
}

/* a colon-separated list (h=) names field name, ignoring case and FWS */
static bool hlist_has(const char *h, size_t hlen, const char *name)
{
	size_t nl = strlen(name), p = 0;
	while (p <= hlen) {
		const char *e = memchr(h + p, ':', hlen - p);
		size_t q = e ? (size_t)(e - h) : hlen, s = p, u = q;
		while (s < u && strchr(" \t\r\n", h[s]))
			s++;
		while (u > s && strchr(" \t\r\n", h[u - 1]))
			u--;
		if (u - s == nl && strncasecmp(h + s, name, nl) == 0)
			return true;
		p = q + 1;
	}
	return false;
}

/* the checks of dkim_sig_parse on the already parsed tag list of value */
static int sig_from_tags(const struct taglist *tl, const char *value, struct dkim_sig **sig_r, char *err,
			 size_t errlen)
{
	*sig_r = NULL;
	static const char *const required[] = { "v", "a", "b", "bh", "d", "h", "s" };
	for (size_t k = 0; k < sizeof required / sizeof required[0]; k++)
		if (!taglist_get(tl, required[k])) {
			snprintf(err, errlen, "signature lacks required tag %s=", required[k]);
			return -1;
		}
	const struct tag *v = taglist_get(tl, "v");
	if (!tag_eq(v, "1")) {
		snprintf(err, errlen, "unsupported signature version v=%.*s", show(v->value_len), v->value);
		return -1;
	}
	/* everything but the big b[] (filled by the decoder) starts zeroed */
	struct dkim_sig *sig = xmalloc(sizeof *sig);
	memset(sig, 0, offsetof(struct dkim_sig, b));
	sig->l = sig->t = sig->x = -1;

	const struct tag *t = taglist_get(tl, "a");
	if (tag_eq(t, "rsa-sha256")) {
		sig->ktype = DKIM_KEY_RSA;
		sig->halg = DKIM_HASH_SHA256;
	} else if (tag_eq(t, "rsa-sha1")) {
		sig->ktype = DKIM_KEY_RSA;
		sig->halg = DKIM_HASH_SHA1;
	} else if (tag_eq(t, "ed25519-sha256")) {
		sig->ktype = DKIM_KEY_ED25519;
		sig->halg = DKIM_HASH_SHA256;
	} else {
		snprintf(err, errlen, "unsupported algorithm a=%.*s", show(t->value_len), t->value);
		goto bad;
	}
	copy_value(t, sig->a, sizeof sig->a);

	t = taglist_get(tl, "d");
	if (copy_value(t, sig->d, sizeof sig->d) < 0 || !domain_ok(sig->d)) {
		snprintf(err, errlen, "invalid signing domain d=%.*s", show(t->value_len), t->value);
		goto bad;
	}
	t = taglist_get(tl, "s");
	if (copy_value(t, sig->s, sizeof sig->s) < 0 || !domain_ok(sig->s)) {
		snprintf(err, errlen, "invalid selector s=%.*s", show(t->value_len), t->value);
		goto bad;
	}
	t = taglist_get(tl, "i");
	if (t) {
		if (copy_value(t, sig->i, sizeof sig->i) < 0) {
			snprintf(err, errlen, "identity i= too long");
			goto bad;
		}
		const char *at = strrchr(sig->i, '@');
		if (!at) {
			snprintf(err, errlen, "identity i=%.*s has no @", show(t->value_len), t->value);
			goto bad;
		}
		/* RFC 6376 3.5: the domain of i= is d= or a subdomain of it */
		if (!domain_within(at + 1, sig->d)) {
			snprintf(err, errlen, "identity i=%.*s is not within d=%s", show(t->value_len), t->value, sig->d);
			goto bad;
		}
	} else {
		snprintf(sig->i, sizeof sig->i, "@%s", sig->d);
	}

	t = taglist_get(tl, "c");
	if (!t) {
		sig->hc = sig->bc = DKIM_CANON_SIMPLE;
	} else if (dkim_canon_parse(t->value, t->value_len, &sig->hc, &sig->bc) < 0) {
		snprintf(err, errlen, "unknown canonicalization c=%.*s", show(t->value_len), t->value);
		goto bad;
	}

	t = taglist_get(tl, "h");
	if (!hlist_has(t->value, t->value_len, "from")) {
		snprintf(err, errlen, "From field not signed (h= lacks from)");
		goto bad;
	}
	sig->h = xstrndup(t->value, t->value_len);
	sig->hlen = t->value_len;

	t = taglist_get(tl, "q");
	if (t && !hlist_has(t->value, t->value_len, "dns/txt")) {
		snprintf(err, errlen, "unsupported query method q=%.*s", show(t->value_len), t->value);
		goto bad;
	}

	t = taglist_get(tl, "b");
	long n = dkim_base64_decode(t->value, t->value_len, sig->b, sizeof sig->b);
	if (n <= 0) {
		snprintf(err, errlen, n == 0 ? "empty signature b=" : "b= is not valid base64 or too long");
		goto bad;
	}
	sig->blen = (size_t)n;
	sig->b_off = (size_t)(t->value - value);
	sig->b_len = t->value_len;
	size_t k = 0;
	for (size_t j = 0; j < t->value_len && k < 8; j++)
		if (!strchr(" \t\r\n", t->value[j]))
			sig->b_prefix[k++] = t->value[j];
	sig->b_prefix[k] = '\0';

	t = taglist_get(tl, "bh");
	n = dkim_base64_decode(t->value, t->value_len, sig->bh, sizeof sig->bh);
	if (n <= 0) {
		snprintf(err, errlen, n == 0 ? "empty body hash bh=" : "bh= is not valid base64");
		goto bad;
	}
	sig->bhlen = (size_t)n;
	if (sig->bhlen != (sig->halg == DKIM_HASH_SHA1 ? 20u : 32u)) {
		snprintf(err, errlen, "bh= has the wrong length for %s", sig->a);
		goto bad;
	}

	static const char *const nums[] = { "l", "t", "x" };
	long long *dst[] = { &sig->l, &sig->t, &sig->x };
	for (size_t j = 0; j < 3; j++) {
		t = taglist_get(tl, nums[j]);
		if (t && parse_num(t, dst[j]) < 0) {
			snprintf(err, errlen, "invalid %s=%.*s", nums[j], show(t->value_len), t->value);
			goto bad;
		}
	}
	if (sig->t >= 0 && sig->x >= 0 && sig->x < sig->t) {
		snprintf(err, errlen, "x= is before t=");
		goto bad;
	}
	*sig_r = sig;
	return 0;
bad:
	dkim_sig_free(&sig);
	return -1;
}

int dkim_sig_parse(const char *value, size_t len, struct dkim_sig **sig_r, char *err, size_t errlen)
{
	struct taglist tl;
	char terr[160];
	*sig_r = NULL;
	if (taglist_parse(value, len, &tl, terr, sizeof terr) < 0) {
		snprintf(err, errlen, "signature syntax error: %s", terr);
		return -1;
	}
	return sig_from_tags(&tl, value, sig_r, err, errlen);
}

void dkim_sig_free(struct dkim_sig **sig)
{
	if (!*sig)
		return;
	free((*sig)->h);
	free(*sig);
	*sig = NULL;
}

/* best-effort identification of a signature that may not parse, so even a
   permerror names its d=, s=, a= */
static void fill_basic(struct dkim_sig_result *res, const struct taglist *tl)
{
	const struct tag *t;
	if ((t = taglist_get(tl, "d")) && t->value_len < sizeof res->domain)
		copy_value(t, res->domain, sizeof res->domain);
	if ((t = taglist_get(tl, "s")) && t->value_len < sizeof res->selector)
		copy_value(t, res->selector, sizeof res->selector);
	if ((t = taglist_get(tl, "a")) && t->value_len < sizeof res->algorithm)
		copy_value(t, res->algorithm, sizeof res->algorithm);
	if ((t = taglist_get(tl, "i")) && t->value_len < sizeof res->identity)
		copy_value(t, res->identity, sizeof res->identity);
	else if (res->domain[0])
		snprintf(res->identity, sizeof res->identity, "@%s", res->domain);
	if ((t = taglist_get(tl, "b"))) {
		size_t k = 0;
		for (size_t j = 0; j < t->value_len && k < 8; j++)
			if (!strchr(" \t\r\n", t->value[j]))
				res->b_prefix[k++] = t->value[j];
		res->b_prefix[k] = '\0';
	}
}

/* one body hash shared by every signature with the same parameters */
struct bh_slot {
	enum dkim_canon bc;
	enum dkim_hashalg halg;
	long long l;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned dlen;
	long long total; /* canonical body length */
};

/* one key fetch shared by signatures naming the same selector and domain */
struct key_slot {
	const char *d, *s;
	enum dkim_key_status st;
	struct dkim_key key;
	char err[200];
};

static const struct bh_slot *body_hash(const struct message *msg, struct bh_slot *slots, size_t *nslots,
				       const struct dkim_sig *sig)
{
	for (size_t i = 0; i < *nslots; i++)
		if (slots[i].bc == sig->bc && slots[i].halg == sig->halg && slots[i].l == sig->l)
			return &slots[i];
	struct bh_slot *b = &slots[(*nslots)++];
	b->bc = sig->bc;
	b->halg = sig->halg;
	b->l = sig->l;
	struct dkim_bodyhash h;
	dkim_bodyhash_init(&h, sig->bc, sig->halg == DKIM_HASH_SHA1 ? EVP_sha1() : EVP_sha256(), sig->l);
	dkim_bodyhash_update(&h, msg->body, msg->body_len);
	dkim_bodyhash_final(&h, b->digest, &b->dlen, &b->total);
	return b;
}

static struct key_slot *get_key(struct dns_resolver *r, struct key_slot *slots, size_t *nslots,
				const struct dkim_sig *sig)
{
	for (size_t i = 0; i < *nslots; i++)
		if (strcasecmp(slots[i].d, sig->d) == 0 && strcasecmp(slots[i].s, sig->s) == 0)
			return &slots[i];
	struct key_slot *k = &slots[(*nslots)++];
	k->d = sig->d;
	k->s = sig->s;
	k->st = dkim_key_fetch(r, sig->s, sig->d, &k->key, k->err, sizeof k->err);
	return k;
}

#define FAILWITH(res_, code_, ...)                                                  \
	do {                                                                        \
		(res_)->result = (code_);                                           \
		snprintf((res_)->reason, sizeof (res_)->reason, __VA_ARGS__);       \
	} while (0)

static void verify_one(struct dns_resolver *r, const struct message *msg, const struct dkim_verify_opts *o,
		       const struct dkim_sig *sig, const struct msg_header *field, struct bh_slot *bslots,
		       size_t *nb, struct key_slot *kslots, size_t *nk, struct buf *hdata,
		       struct dkim_sig_result *res)
{
	/* RFC 6376 6.1.1: time checks */
	if (sig->x >= 0 && (long long)o->now > sig->x) {
		FAILWITH(res, DKIM_PERMERROR, "signature expired");
		return;
	}
	if (sig->t >= 0 && sig->t > (long long)o->now + (long long)o->clock_skew) {
		FAILWITH(res, DKIM_PERMERROR, "signature timestamp t= is in the future");
		return;
	}

	/* 6.1.2: the key */
	struct key_slot *ks = get_key(r, kslots, nk, sig);
	switch (ks->st) {
	case DKIM_KEY_OK:
		break;
	case DKIM_KEY_NONE:
		FAILWITH(res, DKIM_PERMERROR, "%s", ks->err);
		return;
	case DKIM_KEY_TEMPFAIL:
		FAILWITH(res, DKIM_TEMPERROR, "%s", ks->err);
		return;
	case DKIM_KEY_INVALID:
	default:
		FAILWITH(res, DKIM_PERMERROR, "%s", ks->err);
		return;
	}
	const struct dkim_key *key = &ks->key;
	res->key_bits = key->bits;
	res->testing = key->testing;
	if (key->revoked) {
		FAILWITH(res, DKIM_PERMERROR, "key revoked");
		return;
	}
	if (key->type != sig->ktype) {
		FAILWITH(res, DKIM_PERMERROR, "key type (k=%s) does not match a=%s",
			 key->type == DKIM_KEY_RSA ? "rsa" : "ed25519", sig->a);
		return;
	}
	if ((sig->halg == DKIM_HASH_SHA1 && !key->allow_sha1) ||
	    (sig->halg == DKIM_HASH_SHA256 && !key->allow_sha256)) {
		FAILWITH(res, DKIM_PERMERROR, "hash algorithm of a=%s not allowed by key h=", sig->a);
		return;
	}
	if (key->strict_identity) {
		const char *at = strrchr(sig->i, '@');
		if (!at || strcasecmp(at + 1, sig->d) != 0) {
			FAILWITH(res, DKIM_PERMERROR, "key requires i= domain equal to d= (t=s)");
			return;
		}
	}

	/* 6.1.3: body hash, then the header signature */
	const struct bh_slot *bh = body_hash(msg, bslots, nb, sig);
	if (sig->l >= 0 && sig->l > bh->total) {
		FAILWITH(res, DKIM_PERMERROR, "l=%lld exceeds the body length (%lld)", sig->l, bh->total);
		return;
	}
	if (bh->dlen != sig->bhlen || memcmp(bh->digest, sig->bh, sig->bhlen) != 0) {
		FAILWITH(res, DKIM_FAIL, "body hash did not verify");
		return;
	}
	buf_reset(hdata);
	if (dkim_canon_headers(sig->hc, msg, sig->h, sig->hlen, msg->nhdr, hdata) < 0 ||
	    dkim_canon_sig_header_cut(sig->hc, field->raw, field->raw_len, (size_t)(field->value - field->raw) + sig->b_off,
				      (size_t)(field->value - field->raw) + sig->b_off + sig->b_len, hdata) < 0) {
		FAILWITH(res, DKIM_PERMERROR, "signed header data larger than %d bytes", DKIM_MAX_HEADER_DATA);
		return;
	}
	if (!dkim_key_verify(key, sig->halg, hdata->data, hdata->len, sig->b, sig->blen)) {
		FAILWITH(res, DKIM_FAIL, "signature did not verify");
		return;
	}
	if (sig->halg == DKIM_HASH_SHA1) {
		res->weak = true;
		if (o->sha1_fails) {
			FAILWITH(res, DKIM_POLICY, "rsa-sha1 is not accepted (RFC 8301)");
			return;
		}
	}
	res->result = DKIM_PASS;
	if (!res->weak && sig->l < 0 && !res->testing) {
		res->reason[0] = '\0'; /* the common case: nothing to note */
		return;
	}
	/* notes on a pass */
	struct buf note = BUF_INIT(sizeof res->reason - 1);
	if (res->weak)
		buf_puts(&note, "weak algorithm rsa-sha1; ");
	if (sig->l >= 0)
		buf_printf(&note, "l= signs only %lld of %lld body bytes; ", sig->l, bh->total);
	if (res->testing)
		buf_puts(&note, "key in testing mode (t=y); ");
	if (note.len >= 2)
		note.data[note.len - 2] = '\0';
	snprintf(res->reason, sizeof res->reason, "%s", buf_cstr(&note));
	buf_free(&note);
}

size_t dkim_verify(struct dns_resolver *r, const struct message *msg, const struct dkim_verify_opts *opts,
		   struct dkim_sig_result **res_r, size_t *n_r)
{
	struct dkim_verify_opts o = { 0 };
	if (opts)
		o = *opts;
	if (o.now == 0)
		o.now = time(NULL);
	if (o.max_signatures == 0)
		o.max_signatures = DKIM_DEFAULT_MAX_SIGNATURES;
	if (o.clock_skew == 0)
		o.clock_skew = DKIM_DEFAULT_CLOCK_SKEW;

	size_t n = message_header_count(msg, "DKIM-Signature");
	*res_r = NULL;
	*n_r = n;
	if (n == 0)
		return 0;
	struct dkim_sig_result *res = xcalloc(n, sizeof *res);
	size_t nchk = n < o.max_signatures ? n : o.max_signatures;
	/* per-signature state: on the stack for the usual few signatures */
	struct dkim_sig *sigs_stack[DKIM_DEFAULT_MAX_SIGNATURES] = { 0 };
	struct bh_slot bslots_stack[DKIM_DEFAULT_MAX_SIGNATURES];
	struct key_slot kslots_stack[DKIM_DEFAULT_MAX_SIGNATURES];
	bool on_stack = nchk <= DKIM_DEFAULT_MAX_SIGNATURES;
	struct dkim_sig **sigs = on_stack ? sigs_stack : xcalloc(nchk, sizeof *sigs);
	struct bh_slot *bslots = on_stack ? bslots_stack : xcalloc(nchk, sizeof *bslots);
	struct key_slot *kslots = on_stack ? kslots_stack : xcalloc(nchk, sizeof *kslots);
	size_t nb = 0, nk = 0;
	/* the signed header data of one signature is typically 1-2 KB: start
	   with room for that rather than growing from 64 bytes (buf keeps its
	   invariants: data from the allocator, cap its size, NUL-terminated) */
	struct buf hdata = BUF_INIT(DKIM_MAX_HEADER_DATA);
	hdata.data = xmalloc(HDATA_INITIAL);
	hdata.cap = HDATA_INITIAL;
	hdata.data[0] = '\0';
	struct taglist tl;

	size_t j = 0;
	for (size_t i = 0; i < msg->nhdr; i++) {
		const struct msg_header *f = &msg->hdr[i];
		if (!msg_header_is(f, "DKIM-Signature"))
			continue;
		struct dkim_sig_result *rs = &res[j];
		/* the tag list is parsed once, for the names in the result and
		   for the checks */
		char terr[160], err[200];
		int tl_rc = taglist_parse(f->value, f->value_len, &tl, terr, sizeof terr);
		if (tl_rc == 0)
			fill_basic(rs, &tl);
		if (j >= nchk) {
			FAILWITH(rs, DKIM_NEUTRAL, "not checked: more than %u signatures", o.max_signatures);
			j++;
			continue;
		}
		if (tl_rc < 0)
			snprintf(err, sizeof err, "signature syntax error: %s", terr);
		if (tl_rc < 0 || sig_from_tags(&tl, f->value, &sigs[j], err, sizeof err) < 0) {
			FAILWITH(rs, DKIM_PERMERROR, "%s", err);
			j++;
			continue;
		}
		snprintf(rs->identity, sizeof rs->identity, "%s", sigs[j]->i);
		verify_one(r, msg, &o, sigs[j], f, bslots, &nb, kslots, &nk, &hdata, rs);
		j++;
	}
	buf_free(&hdata);
	for (size_t k = 0; k < nk; k++)
		dkim_key_free(&kslots[k].key);
	for (size_t k = 0; k < nchk; k++)
		dkim_sig_free(&sigs[k]);
	if (!on_stack) {
		free(kslots);
		free(bslots);
		free(sigs);
	}
	*res_r = res;
	return n;
}
