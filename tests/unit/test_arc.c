/*
 * unit tests for src/auth/arc: structural failures (each with its reason),
 * header syntax checks, and full chains built here with freshly generated
 * keys (a small test-only sealer) to cover pass, oldest-pass, tampering,
 * temperror, sha1 policy, ed25519 and expiry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "auth/arc.h"
#include "auth/dkim_canon.h"
#include "auth/message.h"
#include "core/buf.h"
#include "dns/dns_stub.h"

#define NOW 1700000000

static const char base_msg[] = "From: alice@example.com\r\n"
			       "To: bob@example.net\r\n"
			       "Subject: hello\r\n"
			       "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
			       "\r\n"
			       "Hi Bob,\r\nthis is the body.\r\n";

/* ---- structural cases: no cryptography is reached ---- */

/* a syntactically complete set whose signatures are junk; structure is
   checked before any signature, so these never reach DNS */
#define AAR(i) "ARC-Authentication-Results: i=" #i "; mx.example.net; spf=pass\r\n"
#define AMS(i)                                                                                             \
	"ARC-Message-Signature: i=" #i "; a=rsa-sha256; c=relaxed/relaxed; d=example.net; s=sel;\r\n"   \
	"\th=from:to:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\n"
#define AS(i, cv) "ARC-Seal: i=" #i "; a=rsa-sha256; cv=" cv "; d=example.net; s=sel; b=AAAA\r\n"
#define SET(i, cv) AS(i, cv) AMS(i) AAR(i)

struct struct_case {
	const char *name;
	const char *arc;    /* ARC headers put on top of base_msg */
	enum arc_cv cv;
	const char *reason; /* expected resp.reason, exactly */
	unsigned instances;
};

static const struct struct_case struct_cases[] = {
	{ "no ARC headers", "", ARC_NONE, "no ARC sets", 0 },
	{ "missing AS", AMS(1) AAR(1), ARC_FAIL, "i=1 ARC-Seal missing", 1 },
	{ "missing AMS", AS(1, "none") AAR(1), ARC_FAIL, "i=1 ARC-Message-Signature missing", 1 },
	{ "missing AAR", AS(1, "none") AMS(1), ARC_FAIL, "i=1 ARC-Authentication-Results missing", 1 },
	{ "duplicate AMS i=1", SET(1, "none") AMS(1), ARC_FAIL, "i=1 ARC-Message-Signature appears 2 times", 1 },
	{ "duplicate set i=1", SET(1, "none") SET(1, "none"), ARC_FAIL, "i=1 ARC-Seal appears 2 times", 1 },
	{ "gap: sets 1 and 3", SET(3, "pass") SET(1, "none"), ARC_FAIL, "i=2 ARC-Seal missing", 3 },
	{ "i=0", SET(0, "none"), ARC_FAIL, "ARC-Seal: i=0 outside 1..50 (RFC 8617 4.2.1)", 0 },
	{ "i=51", SET(51, "pass"), ARC_FAIL, "ARC-Seal: i=51 outside 1..50 (RFC 8617 4.2.1)", 0 },
	{ "i=abc", "ARC-Seal: i=abc; a=rsa-sha256; cv=none; d=example.net; s=sel; b=AAAA\r\n" AMS(1) AAR(1), ARC_FAIL,
	  "ARC-Seal: i=abc is not a number", 1 },
	{ "i= missing in AMS",
	  AS(1, "none") "ARC-Message-Signature: a=rsa-sha256; d=example.net; s=sel; h=from; bh=AAAA; b=AAAA\r\n" AAR(1),
	  ARC_FAIL, "ARC-Message-Signature: i= missing", 1 },
	{ "latest seal cv=fail", SET(2, "fail") SET(1, "none"), ARC_FAIL, "AS i=2 has cv=fail", 2 },
	/* step 2 comes before structure: a lone failing seal is reported as such */
	{ "latest seal cv=fail, broken structure", AS(2, "fail") SET(1, "none"), ARC_FAIL, "AS i=2 has cv=fail", 2 },
	{ "i=1 cv=pass", SET(1, "pass"), ARC_FAIL, "AS i=1 has cv=pass, expected cv=none", 1 },
	{ "i=2 cv=none", SET(2, "none") SET(1, "none"), ARC_FAIL, "AS i=2 has cv=none, expected cv=pass", 2 },
	{ "cv missing", "ARC-Seal: i=1; a=rsa-sha256; d=example.net; s=sel; b=AAAA\r\n" AMS(1) AAR(1), ARC_FAIL,
	  "AS i=1: cv= missing", 1 },
	{ "cv unknown", SET(1, "maybe"), ARC_FAIL, "AS i=1: cv=maybe is not none, pass or fail", 1 },
	{ "malformed tags: empty tag between ';;'",
	  "ARC-Seal: i=1; a=rsa-sha256;; cv=none; d=example.net; s=sel; b=AAAA\r\n" AMS(1) AAR(1), ARC_FAIL,
	  "ARC-Seal: tag name expected at offset 19", 1 },
	{ "malformed tags: repeated tag",
	  "ARC-Seal: i=1; a=rsa-sha256; cv=none; d=example.net; d=example.org; s=sel; b=AAAA\r\n" AMS(1) AAR(1),
	  ARC_FAIL, "ARC-Seal: tag \"d\" appears twice", 1 },
	{ "malformed tags: missing '='",
	  AS(1, "none") "ARC-Message-Signature: i=1; a=rsa-sha256; d example.net\r\n" AAR(1), ARC_FAIL,
	  "ARC-Message-Signature: tag \"d\": '=' expected", 1 },
	{ "AAR without instance", AS(1, "none") AMS(1) "ARC-Authentication-Results: mx.example.net; i=1; spf=pass\r\n",
	  ARC_FAIL, "AAR: does not start with i=", 1 },
	{ "AAR without ';'", AS(1, "none") AMS(1) "ARC-Authentication-Results: i=1 mx.example.net; spf=pass\r\n",
	  ARC_FAIL, "AAR i=1: ';' expected after the instance", 1 },
	/* AMS syntax is checked when the AMS i=N is verified (step 4) */
	{ "AMS signs ARC-Seal",
	  AS(1, "none") "ARC-Message-Signature: i=1; a=rsa-sha256; d=example.net; s=sel; h=from:arc-seal;\r\n"
			"\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\n" AAR(1),
	  ARC_FAIL, "AMS i=1: h= includes ARC-Seal (RFC 8617 4.1.2)", 1 },
	{ "AMS unknown algorithm",
	  AS(1, "none") "ARC-Message-Signature: i=1; a=rsa-md5; d=example.net; s=sel; h=from;\r\n"
			"\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\n" AAR(1),
	  ARC_FAIL, "AMS i=1: unknown algorithm a=rsa-md5", 1 },
	{ "AMS body hash mismatch", SET(1, "none"), ARC_FAIL, "AMS i=1 body hash mismatch", 1 },
};

static struct dns_resolver *empty_resolver(void)
{
	return dns_stub_resolver(dns_stub_new());
}

static void run_verify(const char *text, struct dns_resolver *r, const struct arc_verify_opts *o,
		       struct arc_response *resp)
{
	struct message msg;
	char err[128];
	assert_int_equal(message_parse(text, strlen(text), &msg, err, sizeof err), 0);
	enum arc_cv cv = arc_verify(r, &msg, o, resp);
	assert_int_equal(cv, resp->cv);
	message_free(&msg);
}

static void test_structure(void **state)
{
	struct dns_resolver *r = empty_resolver();
	struct arc_verify_opts o = { .now = NOW };
	for (size_t i = 0; i < sizeof struct_cases / sizeof *struct_cases; i++) {
		const struct struct_case *c = &struct_cases[i];
		char text[4096];
		snprintf(text, sizeof text, "%s%s", c->arc, base_msg);
		struct arc_response resp;
		run_verify(text, r, &o, &resp);
		if (resp.cv != c->cv || strcmp(resp.reason, c->reason) != 0 || resp.instances != c->instances)
			fail_msg("case \"%s\": got cv=%s instances=%u reason \"%s\", want cv=%s instances=%u \"%s\"", c->name,
				 arc_cv_name(resp.cv), resp.instances, resp.reason, arc_cv_name(c->cv), c->instances,
				 c->reason);
		assert_int_equal(resp.oldest_pass, 0);
	}
	dns_resolver_free(&r);
}

/* more than 50 sets: the limit of RFC 8617 4.2.1 / 5.2 step 1 */
static void test_too_many_sets(void **state)
{
	struct buf b = BUF_INIT(0);
	for (int i = 51; i >= 1; i--)
		buf_printf(&b, "ARC-Seal: i=%d; a=rsa-sha256; cv=%s; d=example.net; s=sel; b=AAAA\r\n"
			       "ARC-Message-Signature: i=%d; a=rsa-sha256; d=example.net; s=sel; h=from; bh=AAAA; b=AAAA\r\n"
			       "ARC-Authentication-Results: i=%d; mx.example.net; none\r\n",
			   i, i == 1 ? "none" : "pass", i, i);
	buf_puts(&b, base_msg);
	struct dns_resolver *r = empty_resolver();
	struct arc_verify_opts o = { .now = NOW };
	struct arc_response resp;
	run_verify(buf_cstr(&b), r, &o, &resp);
	assert_int_equal(resp.cv, ARC_FAIL);
	assert_string_equal(resp.reason, "ARC-Seal: i=51 outside 1..50 (RFC 8617 4.2.1)");
	dns_resolver_free(&r);
	buf_free(&b);
}

/* sealer_domain and aar_value are filled even for a failing chain, and
   only with a valid domain name */
static void test_response_fields(void **state)
{
	struct dns_resolver *r = empty_resolver();
	struct arc_verify_opts o = { .now = NOW };
	struct arc_response resp;
	run_verify(SET(2, "fail") SET(1, "none") "Subject: x\r\n\r\n", r, &o, &resp);
	assert_int_equal(resp.cv, ARC_FAIL);
	assert_string_equal(resp.sealer_domain, "example.net");
	assert_string_equal(resp.aar_value, "mx.example.net; spf=pass");
	run_verify("ARC-Seal: i=1; a=rsa-sha256; cv=fail; d=exa\r\n mple..net; s=sel; b=AAAA\r\n"
		   "ARC-Authentication-Results: i=1;\r\n\tmx.example.net;\r\n\tdkim=pass\r\n\r\n",
		   r, &o, &resp);
	assert_int_equal(resp.cv, ARC_FAIL);
	assert_string_equal(resp.reason, "AS i=1 has cv=fail");
	assert_string_equal(resp.sealer_domain, "");
	assert_string_equal(resp.aar_value, "mx.example.net;\tdkim=pass");
	dns_resolver_free(&r);
}

/* ---- arc_header_parse_check ---- */

struct parse_case {
	const char *name, *value;
	int rc;
	const char *err; /* expected error, or NULL */
};

#define GOOD_B "b=dGVzdA=="
#define GOOD_BH "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

static const struct parse_case parse_cases[] = {
	{ "ARC-Seal", "i=1; a=rsa-sha256; cv=none; d=example.net; s=sel; t=12345; " GOOD_B, 0, NULL },
	{ "arc-seal", " i = 2 ; a=ed25519-sha256; cv=pass; d=example.net; s=sel; xunknown=1; " GOOD_B ";", 0, NULL },
	{ "ARC-Seal", "i=1; a=rsa-sha256; cv=none; d=example.net; s=sel; h=from; " GOOD_B, -1,
	  "AS i=1: h= is not allowed in an ARC-Seal (RFC 8617 4.1.3)" },
	{ "ARC-Seal", "i=1; a=rsa-sha256; cv=none; d=example.net; " GOOD_B, -1, "AS i=1: s= missing" },
	{ "ARC-Seal", "i=1; a=rsa-sha256; cv=None; d=example.net; s=sel; " GOOD_B, -1,
	  "AS i=1: cv=None is not none, pass or fail" },
	{ "ARC-Seal", "i=1; a=RSA-SHA256; cv=none; d=example.net; s=sel; " GOOD_B, -1,
	  "AS i=1: unknown algorithm a=RSA-SHA256" },
	{ "ARC-Seal", "i=1; a=rsa-sha256; cv=none; d=example..net; s=sel; " GOOD_B, -1,
	  "AS i=1: d= is not a valid domain name" },
	{ "ARC-Seal", "i=1; a=rsa-sha256; cv=none; d=-example.net; s=sel; " GOOD_B, -1,
	  "AS i=1: d= is not a valid domain name" },
	{ "ARC-Seal", "i=1; a=rsa-sha256; cv=none; d=example.net; s=s*l; " GOOD_B, -1,
	  "AS i=1: s= is not a valid selector" },
	{ "ARC-Seal", "i=1; a=rsa-sha256; cv=none; d=example.net; s=sel; b=!!!", -1,
	  "AS i=1: b= is empty, too long or not base64" },
	{ "ARC-Seal", "i=1; a=rsa-sha256; cv=none; d=example.net; s=sel; t=12 34; " GOOD_B, -1,
	  "AS i=1: t= is not a timestamp" },
	{ "ARC-Seal", "i=51; a=rsa-sha256; cv=none; d=example.net; s=sel; " GOOD_B, -1,
	  "ARC-Seal: i=51 outside 1..50 (RFC 8617 4.2.1)" },
	{ "ARC-Seal", "i=1;; a=rsa-sha256", -1, "ARC-Seal: tag name expected at offset 4" },
	{ "ARC-Message-Signature",
	  "i=1; a=rsa-sha256; c=relaxed/simple; d=example.net; s=sel; h=From : To::Subject; l=10; t=5; x=6; " GOOD_BH
	  "; " GOOD_B,
	  0, NULL },
	{ "ARC-Message-Signature", "i=1; a=rsa-sha256; d=example.net; s=sel; h=from:Arc-Seal; " GOOD_BH "; " GOOD_B,
	  -1, "AMS i=1: h= includes ARC-Seal (RFC 8617 4.1.2)" },
	{ "ARC-Message-Signature", "i=1; a=rsa-sha256; d=example.net; s=sel; h=from; " GOOD_B, -1, "AMS i=1: bh= missing" },
	{ "ARC-Message-Signature", "i=1; a=rsa-sha256; d=example.net; s=sel; " GOOD_BH "; " GOOD_B, -1,
	  "AMS i=1: h= missing" },
	{ "ARC-Message-Signature", "i=1; a=rsa-sha256; d=example.net; s=sel; h=from; bh=dGVzdA==; " GOOD_B, -1,
	  "AMS i=1: bh= is 4 bytes, sha256 needs 32" },
	{ "ARC-Message-Signature", "i=1; a=rsa-sha256; c=fancy; d=example.net; s=sel; h=from; " GOOD_BH "; " GOOD_B,
	  -1, "AMS i=1: c=fancy is not a canonicalization" },
	{ "ARC-Message-Signature", "i=1; a=rsa-sha256; c=; d=example.net; s=sel; h=from; " GOOD_BH "; " GOOD_B, -1,
	  "AMS i=1: c= is not a canonicalization" },
	{ "ARC-Message-Signature", "i=1; a=rsa-sha256; d=example.net; s=sel; h=from; t=10; x=5; " GOOD_BH "; " GOOD_B,
	  -1, "AMS i=1: x= is before t=" },
	{ "ARC-Message-Signature", "i=1; a=rsa-sha256; d=example.net; s=sel; h=from; l=-1; " GOOD_BH "; " GOOD_B, -1,
	  "AMS i=1: l= is not a length" },
	{ "ARC-Message-Signature", "i=1; a=rsa-sha256; d=example.net; s=sel; h=fr om; " GOOD_BH "; " GOOD_B, -1,
	  "AMS i=1: h= has an invalid field name" },
	{ "ARC-Authentication-Results", " i = 3 ; mx.example.net; spf=pass", 0, NULL },
	{ "ARC-Authentication-Results", "i=3 mx.example.net; spf=pass", -1, "AAR i=3: ';' expected after the instance" },
	{ "ARC-Authentication-Results", "mx.example.net; i=3; spf=pass", -1, "AAR: does not start with i=" },
	{ "ARC-Authentication-Results", "i=; mx.example.net", -1, "AAR: i= has no number" },
	{ "ARC-Authentication-Results", "i=99; mx.example.net", -1, "AAR: i=99 outside 1..50 (RFC 8617 4.2.1)" },
	{ "ARC-Authentication-Results", "", -1, "AAR: does not start with i=" },
	{ "DKIM-Signature", "v=1", -1, "DKIM-Signature is not an ARC header field" },
};

static void test_parse_check(void **state)
{
	for (size_t i = 0; i < sizeof parse_cases / sizeof *parse_cases; i++) {
		const struct parse_case *c = &parse_cases[i];
		char err[256] = "";
		int rc = arc_header_parse_check(c->name, c->value, strlen(c->value), err, sizeof err);
		if (rc != c->rc || (c->err && strcmp(err, c->err) != 0))
			fail_msg("case %zu (%s: %s): rc=%d err \"%s\", want rc=%d \"%s\"", i, c->name, c->value, rc, err,
				 c->rc, c->err ? c->err : "");
	}
}

/* ---- a test-only sealer, to build real chains ---- */

struct signer {
	EVP_PKEY *pkey;
	const char *alg; /* a= value */
	const char *sel, *dom;
};

static char *b64(const unsigned char *d, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	assert_non_null(out);
	EVP_EncodeBlock((unsigned char *)out, d, (int)n);
	return out;
}

static EVP_PKEY *gen_key(int type, unsigned bits)
{
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(type, NULL);
	EVP_PKEY *pk = NULL;
	assert_non_null(kc);
	assert_int_equal(EVP_PKEY_keygen_init(kc), 1);
	if (type == EVP_PKEY_RSA)
		assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(kc, (int)bits), 1);
	assert_int_equal(EVP_PKEY_keygen(kc, &pk), 1);
	EVP_PKEY_CTX_free(kc);
	return pk;
}

/* publishes the public key of s in stub as a DKIM key record */
static void publish(struct dns_stub *stub, const struct signer *s)
{
	unsigned char der[4096];
	size_t n;
	const char *k;
	if (EVP_PKEY_get_id(s->pkey) == EVP_PKEY_ED25519) {
		n = sizeof der;
		assert_int_equal(EVP_PKEY_get_raw_public_key(s->pkey, der, &n), 1);
		k = "ed25519";
	} else {
		unsigned char *p = der;
		int len = i2d_PUBKEY(s->pkey, &p);
		assert_true(len > 0 && (size_t)len <= sizeof der);
		n = (size_t)len;
		k = "rsa";
	}
	char *p64 = b64(der, n);
	char owner[300], txt[4096];
	snprintf(owner, sizeof owner, "%s._domainkey.%s", s->sel, s->dom);
	snprintf(txt, sizeof txt, "v=DKIM1; k=%s; p=%s", k, p64);
	dns_stub_add_txt(stub, owner, txt, strlen(txt), 1);
	free(p64);
}

/* signs data the way the verifier checks it (RFC 6376 / RFC 8463) */
static char *sign(const struct signer *s, const char *data, size_t len)
{
	unsigned char sig[1024];
	size_t siglen = sizeof sig;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (EVP_PKEY_get_id(s->pkey) == EVP_PKEY_ED25519) {
		unsigned char dig[32];
		unsigned dl;
		assert_int_equal(EVP_Digest(data, len, dig, &dl, EVP_sha256(), NULL), 1);
		assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, s->pkey), 1);
		assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, dig, dl), 1);
	} else {
		const EVP_MD *md = strstr(s->alg, "sha1") ? EVP_sha1() : EVP_sha256();
		assert_int_equal(EVP_DigestSignInit(ctx, NULL, md, NULL, s->pkey), 1);
		assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)data, len), 1);
	}
	EVP_MD_CTX_free(ctx);
	return b64(sig, siglen);
}

/* the header starting with prefix, e.g. "ARC-Seal: i=2;" (our sealer always
   writes i= first) */
static const struct msg_header *find(const struct message *m, const char *prefix)
{
	for (size_t i = 0; i < m->nhdr; i++)
		if (m->hdr[i].raw_len >= strlen(prefix) && strncasecmp(m->hdr[i].raw, prefix, strlen(prefix)) == 0)
			return &m->hdr[i];
	fail_msg("no header %s", prefix);
	return NULL;
}

/* returns a new string: text with dellen bytes at off replaced by ins; frees text */
static char *splice(char *text, size_t off, size_t dellen, const char *ins)
{
	size_t tl = strlen(text), il = strlen(ins);
	char *n = malloc(tl - dellen + il + 1);
	assert_non_null(n);
	memcpy(n, text, off);
	memcpy(n + off, ins, il);
	memcpy(n + off + il, text + off + dellen, tl - off - dellen + 1);
	free(text);
	return n;
}

/* the signature goes where the header we just added ends in "\tb=\r\n" */
static char *fill_b(char *text, const char *sig)
{
	char *cut = strstr(text, "\tb=\r\n");
	assert_non_null(cut);
	return splice(text, (size_t)(cut - text) + 3, 0, sig);
}

/* replaces the text (NUL-terminated, malloc'ed) with prefix + text */
static char *prepend(char *text, const char *prefix)
{
	return splice(text, 0, 0, prefix);
}

/*
 * Adds ARC set i on top of text: AAR, then AMS (relaxed/relaxed over
 * from:to:subject:arc-authentication-results plus extra tags), then AS over
 * sets 1..i. Returns the new text.
 */
static char *seal(char *text, unsigned i, const char *cv, const struct signer *ams_s, const struct signer *as_s,
		  const char *ams_extra)
{
	char hdr[2048];
	snprintf(hdr, sizeof hdr, "ARC-Authentication-Results: i=%u; mx%u.example.net;\r\n\tspf=pass smtp.mailfrom=example.com\r\n",
		 i, i);
	text = prepend(text, hdr);

	/* body hash */
	struct message m;
	char err[128];
	assert_int_equal(message_parse(text, strlen(text), &m, err, sizeof err), 0);
	struct dkim_bodyhash bh;
	unsigned char dig[EVP_MAX_MD_SIZE];
	unsigned dl;
	long long total;
	bool sha1 = strstr(ams_s->alg, "sha1") != NULL;
	dkim_bodyhash_init(&bh, DKIM_CANON_RELAXED, sha1 ? EVP_sha1() : EVP_sha256(), -1);
	dkim_bodyhash_update(&bh, m.body, m.body_len);
	dkim_bodyhash_final(&bh, dig, &dl, &total);
	message_free(&m);
	char *bh64 = b64(dig, dl);
	snprintf(hdr, sizeof hdr,
		 "ARC-Message-Signature: i=%u; a=%s; c=relaxed/relaxed; d=%s; s=%s;\r\n"
		 "\th=from:to:subject:arc-authentication-results; t=%d;%s bh=%s;\r\n\tb=\r\n",
		 i, ams_s->alg, ams_s->dom, ams_s->sel, NOW - 100, ams_extra, bh64);
	free(bh64);
	text = prepend(text, hdr);
	assert_int_equal(message_parse(text, strlen(text), &m, err, sizeof err), 0);
	struct buf data = BUF_INIT(0);
	const struct msg_header *ams = &m.hdr[0];
	static const char hl[] = "from:to:subject:arc-authentication-results";
	assert_int_equal(dkim_canon_headers(DKIM_CANON_RELAXED, &m, hl, strlen(hl), m.nhdr, &data), 0);
	assert_int_equal(dkim_canon_sig_header(DKIM_CANON_RELAXED, ams->raw, ams->raw_len, &data), 0);
	char *sig = sign(ams_s, data.data, data.len);
	message_free(&m);
	text = fill_b(text, sig);
	free(sig);

	snprintf(hdr, sizeof hdr, "ARC-Seal: i=%u; a=%s; cv=%s; d=%s; s=%s; t=%d;\r\n\tb=\r\n", i, as_s->alg, cv,
		 as_s->dom, as_s->sel, NOW - 100);
	text = prepend(text, hdr);
	assert_int_equal(message_parse(text, strlen(text), &m, err, sizeof err), 0);
	buf_reset(&data);
	for (unsigned j = 1; j <= i; j++) {
		char p[64];
		const struct msg_header *h;
		snprintf(p, sizeof p, "ARC-Authentication-Results: i=%u;", j);
		h = find(&m, p);
		dkim_canon_header(DKIM_CANON_RELAXED, h->raw, h->raw_len, &data);
		snprintf(p, sizeof p, "ARC-Message-Signature: i=%u;", j);
		h = find(&m, p);
		dkim_canon_header(DKIM_CANON_RELAXED, h->raw, h->raw_len, &data);
		snprintf(p, sizeof p, "ARC-Seal: i=%u;", j);
		h = find(&m, p);
		if (j < i)
			dkim_canon_header(DKIM_CANON_RELAXED, h->raw, h->raw_len, &data);
		else
			dkim_canon_sig_header(DKIM_CANON_RELAXED, h->raw, h->raw_len, &data);
	}
	sig = sign(as_s, data.data, data.len);
	message_free(&m);
	buf_free(&data);
	text = fill_b(text, sig);
	free(sig);
	return text;
}

/* replaces the first occurrence of from by to in text */
static char *replace(char *text, const char *from, const char *to)
{
	char *at = strstr(text, from);
	assert_non_null(at);
	return splice(text, (size_t)(at - text), strlen(from), to);
}

struct fixture {
	struct signer rsa, rsa2, ed, sha1;
	EVP_PKEY *rsa_key, *rsa2_key, *ed_key;
};

static struct fixture fx;

static int setup(void **state)
{
	fx.rsa_key = gen_key(EVP_PKEY_RSA, 1024);
	fx.rsa2_key = gen_key(EVP_PKEY_RSA, 2048);
	fx.ed_key = gen_key(EVP_PKEY_ED25519, 0);
	fx.rsa = (struct signer){ fx.rsa_key, "rsa-sha256", "s1", "relay.example" };
	fx.rsa2 = (struct signer){ fx.rsa2_key, "rsa-sha256", "seal", "list.example" };
	fx.ed = (struct signer){ fx.ed_key, "ed25519-sha256", "ed", "ed.example" };
	fx.sha1 = (struct signer){ fx.rsa_key, "rsa-sha1", "s1", "relay.example" };
	return 0;
}

static int teardown(void **state)
{
	EVP_PKEY_free(fx.rsa_key);
	EVP_PKEY_free(fx.rsa2_key);
	EVP_PKEY_free(fx.ed_key);
	return 0;
}

static struct dns_resolver *resolver_with_keys(void)
{
	struct dns_stub *stub = dns_stub_new();
	publish(stub, &fx.rsa);
	publish(stub, &fx.rsa2);
	publish(stub, &fx.ed);
	return dns_stub_resolver(stub);
}

static char *base(void)
{
	char *t = strdup(base_msg);
	assert_non_null(t);
	return t;
}

static void test_chain_pass(void **state)
{
	struct dns_resolver *r = resolver_with_keys();
	struct arc_verify_opts o = { .now = NOW };
	struct arc_response resp;

	char *t = seal(base(), 1, "none", &fx.rsa, &fx.rsa, "");
	run_verify(t, r, &o, &resp);
	assert_int_equal(resp.cv, ARC_PASS);
	assert_string_equal(resp.reason, "1 ARC set verified");
	assert_int_equal(resp.instances, 1);
	assert_int_equal(resp.oldest_pass, 1);
	assert_string_equal(resp.sealer_domain, "relay.example");
	assert_string_equal(resp.aar_value, "mx1.example.net;\tspf=pass smtp.mailfrom=example.com");

	/* three hops, different keys and algorithms per hop and per header */
	t = seal(t, 2, "pass", &fx.ed, &fx.rsa2, "");
	t = seal(t, 3, "pass", &fx.rsa2, &fx.ed, "");
	run_verify(t, r, &o, &resp);
	assert_int_equal(resp.cv, ARC_PASS);
	assert_string_equal(resp.reason, "3 ARC sets verified");
	assert_int_equal(resp.instances, 3);
	assert_int_equal(resp.oldest_pass, 1);
	assert_string_equal(resp.sealer_domain, "ed.example");
	assert_string_equal(resp.aar_value, "mx3.example.net;\tspf=pass smtp.mailfrom=example.com");
	free(t);
	dns_resolver_free(&r);
}

/* a hop that modifies the message: AMS 1 breaks, the chain still passes,
   oldest_pass says from where on the content is intact */
static void test_oldest_pass(void **state)
{
	struct dns_resolver *r = resolver_with_keys();
	struct arc_verify_opts o = { .now = NOW };
	struct arc_response resp;
	char *t = seal(base(), 1, "none", &fx.rsa, &fx.rsa, "");
	t = replace(t, "Subject: hello", "Subject: [list] hello");
	t = seal(t, 2, "pass", &fx.rsa2, &fx.rsa2, "");
	t = seal(t, 3, "pass", &fx.rsa, &fx.rsa2, "");
	run_verify(t, r, &o, &resp);
	assert_int_equal(resp.cv, ARC_PASS);
	assert_int_equal(resp.oldest_pass, 2);
	/* the body changed too: same answer, AMS 1 fails on its body hash */
	t = replace(t, "this is the body.", "this is the body!");
	run_verify(t, r, &o, &resp);
	assert_int_equal(resp.cv, ARC_FAIL);
	assert_string_equal(resp.reason, "AMS i=3 body hash mismatch");
	free(t);
	dns_resolver_free(&r);
}

struct tamper_case {
	const char *name, *from, *to;
	const char *reason;
};

static void test_tampering(void **state)
{
	static const struct tamper_case cases[] = {
		{ "body changed", "this is the body.", "this is the body?", "AMS i=2 body hash mismatch" },
		{ "signed header changed", "To: bob@", "To: eve@", "AMS i=2 signature did not verify" },
		/* AMS 2's h= names arc-authentication-results once, and DKIM's
		   bottom-up selection picks the lowest one: AAR 1 */
		{ "AAR 1 changed", "mx1.example.net", "mx9.example.net", "AMS i=2 signature did not verify" },
		/* AMS 1 is covered by AS 1 and AS 2 only; seals are checked from N down */
		{ "AMS 1 changed", "ARC-Message-Signature: i=1; a=rsa-sha256;", "ARC-Message-Signature: i=1; a=rsa-sha256; z=1;",
		  "AS i=2 signature did not verify" },
		{ "AS 1 cv flipped", "cv=none", "cv=pass", "AS i=1 has cv=pass, expected cv=none" },
		{ "AS 2 timestamp changed", "s=seal; t=1699999900", "s=seal; t=1699999901", "AS i=2 signature did not verify" },
		{ "AS 2 domain changed", "d=list.example", "d=relay.example", "AS i=2 no key at seal._domainkey.relay.example" },
		{ "seal renumbered", "ARC-Seal: i=2;", "ARC-Seal: i=3;", "i=2 ARC-Seal missing" },
	};
	struct dns_resolver *r = resolver_with_keys();
	struct arc_verify_opts o = { .now = NOW };
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *t = seal(base(), 1, "none", &fx.rsa, &fx.rsa, "");
		t = seal(t, 2, "pass", &fx.rsa, &fx.rsa2, "");
		t = replace(t, cases[i].from, cases[i].to);
		struct arc_response resp;
		run_verify(t, r, &o, &resp);
		if (resp.cv != ARC_FAIL || strcmp(resp.reason, cases[i].reason) != 0)
			fail_msg("case \"%s\": cv=%s \"%s\", want fail \"%s\"", cases[i].name, arc_cv_name(resp.cv),
				 resp.reason, cases[i].reason);
		free(t);
	}
	dns_resolver_free(&r);
}

/* a whole set renumbered consistently leaves a gap */
static void test_gap_after_renumber(void **state)
{
	struct dns_resolver *r = resolver_with_keys();
	struct arc_verify_opts o = { .now = NOW };
	struct arc_response resp;
	char *t = seal(base(), 1, "none", &fx.rsa, &fx.rsa, "");
	t = seal(t, 2, "pass", &fx.rsa, &fx.rsa2, "");
	t = replace(t, "ARC-Seal: i=2;", "ARC-Seal: i=3;");
	t = replace(t, "ARC-Message-Signature: i=2;", "ARC-Message-Signature: i=3;");
	t = replace(t, "ARC-Authentication-Results: i=2;", "ARC-Authentication-Results: i=3;");
	run_verify(t, r, &o, &resp);
	assert_int_equal(resp.cv, ARC_FAIL);
	assert_string_equal(resp.reason, "i=2 ARC-Seal missing");
	assert_int_equal(resp.instances, 3);
	free(t);
	dns_resolver_free(&r);
}

static void test_dns_outcomes(void **state)
{
	struct arc_verify_opts o = { .now = NOW };
	struct arc_response resp;
	char *t = seal(base(), 1, "none", &fx.rsa, &fx.rsa2, ""); /* AMS key s1/relay, AS key seal/list */

	/* the seal's key times out: temperror, never pass or fail */
	struct dns_stub *stub = dns_stub_new();
	publish(stub, &fx.rsa);
	dns_stub_add_fail(stub, "seal._domainkey.list.example", DNS_STUB_TIMEOUT);
	struct dns_resolver *r = dns_stub_resolver(stub);
	run_verify(t, r, &o, &resp);
	assert_int_equal(resp.cv, ARC_TEMPERROR);
	assert_non_null(strstr(resp.reason, "AS i=1 key seal._domainkey.list.example: temporary DNS failure"));
	assert_int_equal(resp.oldest_pass, 0);
	dns_resolver_free(&r);

	/* the AMS key fails temporarily, but the seal is definitely bad: fail */
	char *bad = replace(strdup(t), "mx1.example.net", "mx2.example.net");
	stub = dns_stub_new();
	publish(stub, &fx.rsa2);
	dns_stub_add_fail(stub, "s1._domainkey.relay.example", DNS_STUB_SERVFAIL);
	r = dns_stub_resolver(stub);
	run_verify(bad, r, &o, &resp);
	assert_int_equal(resp.cv, ARC_FAIL);
	assert_string_equal(resp.reason, "AS i=1 signature did not verify");
	/* and with an intact seal it is temperror */
	run_verify(t, r, &o, &resp);
	assert_int_equal(resp.cv, ARC_TEMPERROR);
	assert_non_null(strstr(resp.reason, "AMS i=1 key s1._domainkey.relay.example: temporary DNS failure"));
	dns_resolver_free(&r);
	free(bad);

	/* no key at all: fail */
	r = empty_resolver();
	run_verify(t, r, &o, &resp);
	assert_int_equal(resp.cv, ARC_FAIL);
	assert_string_equal(resp.reason, "AMS i=1 no key at s1._domainkey.relay.example");
	dns_resolver_free(&r);

	/* a revoked key (empty p=): fail */
	stub = dns_stub_new();
	publish(stub, &fx.rsa);
	dns_stub_add_txt(stub, "seal._domainkey.list.example", "v=DKIM1; p=", 11, 1);
	r = dns_stub_resolver(stub);
	run_verify(t, r, &o, &resp);
	assert_int_equal(resp.cv, ARC_FAIL);
	assert_string_equal(resp.reason, "AS i=1 key seal._domainkey.list.example is revoked");
	dns_resolver_free(&r);

	/* a key that only allows sha1 for an rsa-sha256 seal */
	stub = dns_stub_new();
	publish(stub, &fx.rsa);
	{
		unsigned char der[4096], *p = der;
		int len = i2d_PUBKEY(fx.rsa2_key, &p);
		char *p64 = b64(der, (size_t)len), txt[4096];
		snprintf(txt, sizeof txt, "v=DKIM1; h=sha1; p=%s", p64);
		dns_stub_add_txt(stub, "seal._domainkey.list.example", txt, strlen(txt), 1);
		free(p64);
	}
	r = dns_stub_resolver(stub);
	run_verify(t, r, &o, &resp);
	assert_int_equal(resp.cv, ARC_FAIL);
	assert_string_equal(resp.reason, "AS i=1 key h= does not allow the hash of a=");
	dns_resolver_free(&r);
	free(t);
}

static void test_sha1_policy(void **state)
{
	struct dns_resolver *r = resolver_with_keys();
	struct arc_response resp;
	char *t = seal(base(), 1, "none", &fx.sha1, &fx.rsa, "");
	struct arc_verify_opts o = { .now = NOW };
	run_verify(t, r, &o, &resp);
	assert_int_equal(resp.cv, ARC_FAIL);
	assert_string_equal(resp.reason, "AMS i=1 uses rsa-sha1, not accepted (RFC 8301 3.1)");
	o.allow_sha1 = true;
	run_verify(t, r, &o, &resp);
	assert_int_equal(resp.cv, ARC_PASS);
	free(t);

	t = seal(base(), 1, "none", &fx.rsa, &fx.sha1, "");
	o.allow_sha1 = false;
	run_verify(t, r, &o, &resp);
	assert_int_equal(resp.cv, ARC_FAIL);
	assert_string_equal(resp.reason, "AS i=1 uses rsa-sha1, not accepted (RFC 8301 3.1)");
	free(t);
	dns_resolver_free(&r);
}

static void test_expiry_and_wrong_keytype(void **state)
{
	struct dns_resolver *r = resolver_with_keys();
	struct arc_response resp;
	struct arc_verify_opts o = { .now = NOW };
	char x[64];
	snprintf(x, sizeof x, " x=%d;", NOW - 1);
	char *t = seal(base(), 1, "none", &fx.rsa, &fx.rsa, x);
	run_verify(t, r, &o, &resp);
	assert_int_equal(resp.cv, ARC_FAIL);
	snprintf(x, sizeof x, "AMS i=1 expired (x=%d)", NOW - 1);
	assert_string_equal(resp.reason, x);
	o.now = 0; /* no clock: expiry not checked */
	run_verify(t, r, &o, &resp);
	assert_int_equal(resp.cv, ARC_PASS);
	free(t);

	/* an ed25519 signature claiming an RSA key's selector */
	struct signer liar = fx.ed;
	liar.sel = fx.rsa.sel;
	liar.dom = fx.rsa.dom;
	t = seal(base(), 1, "none", &fx.rsa, &liar, "");
	o.now = NOW;
	run_verify(t, r, &o, &resp);
	assert_int_equal(resp.cv, ARC_FAIL);
	assert_string_equal(resp.reason, "AS i=1 key type does not match a=");
	free(t);
	dns_resolver_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_too_many_sets),
		cmocka_unit_test(test_response_fields),
		cmocka_unit_test(test_parse_check),
		cmocka_unit_test(test_chain_pass),
		cmocka_unit_test(test_oldest_pass),
		cmocka_unit_test(test_tampering),
		cmocka_unit_test(test_gap_after_renumber),
		cmocka_unit_test(test_dns_outcomes),
		cmocka_unit_test(test_sha1_policy),
		cmocka_unit_test(test_expiry_and_wrong_keytype),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
