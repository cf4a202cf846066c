/* unit tests for src/auth/dkim*: canonicalisation, key records, signature
   parsing, verification results and reasons, signing round trips */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "auth/dkim.h"
#include "auth/dkim_canon.h"
#include "auth/dkim_key.h"
#include "dns/dns_stub.h"

#define NOW 1700000000

/* ------------------------------------------------------------------ */
/* canonicalisation                                                    */

struct hcase {
	enum dkim_canon c;
	const char *in, *out;
};

static void test_canon_header(void **state)
{
	static const struct hcase cases[] = {
		/* RFC 6376 3.4.6 example */
		{ DKIM_CANON_RELAXED, "A: X\r\n", "a:X\r\n" },
		{ DKIM_CANON_RELAXED, "B : Y\t\r\n\tZ  \r\n", "b:Y Z\r\n" },
		{ DKIM_CANON_SIMPLE, "B : Y\t\r\n\tZ  \r\n", "B : Y\t\r\n\tZ  \r\n" },
		{ DKIM_CANON_RELAXED, "SubJect:   AbC  dEf \t\r\n", "subject:AbC dEf\r\n" },
		{ DKIM_CANON_RELAXED, "X:\r\n", "x:\r\n" },
		{ DKIM_CANON_RELAXED, "X: \t \r\n", "x:\r\n" },
		{ DKIM_CANON_RELAXED, "X-Folded: a\r\n b\r\n\tc\r\n", "x-folded:a b c\r\n" },
		{ DKIM_CANON_RELAXED, "To:\r\n\tsomeone@example.com\r\n", "to:someone@example.com\r\n" },
		{ DKIM_CANON_RELAXED, "X: a\rb\r\n", "x:a\rb\r\n" }, /* bare CR is data */
		{ DKIM_CANON_RELAXED, "X: a:b : c\r\n", "x:a:b : c\r\n" }, /* only the first colon */
		{ DKIM_CANON_RELAXED, "X: no crlf", "x:no crlf\r\n" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = BUF_INIT(0);
		assert_int_equal(dkim_canon_header(cases[i].c, cases[i].in, strlen(cases[i].in), &b), 0);
		if (strcmp(buf_cstr(&b), cases[i].out) != 0)
			fail_msg("case %zu: got \"%s\" want \"%s\"", i, buf_cstr(&b), cases[i].out);
		buf_free(&b);
	}
	/* the output buffer's maximum is honoured */
	struct buf small = BUF_INIT(4);
	assert_int_equal(dkim_canon_header(DKIM_CANON_RELAXED, "Subject: long value\r\n", 21, &small), -1);
	buf_free(&small);
}

static void test_canon_parse(void **state)
{
	static const struct {
		const char *in;
		int rc;
		enum dkim_canon h, b;
	} cases[] = {
		{ "simple", 0, DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE },
		{ "relaxed", 0, DKIM_CANON_RELAXED, DKIM_CANON_SIMPLE }, /* body defaults to simple */
		{ "relaxed/relaxed", 0, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED },
		{ "simple/relaxed", 0, DKIM_CANON_SIMPLE, DKIM_CANON_RELAXED },
		{ "relaxed/simple", 0, DKIM_CANON_RELAXED, DKIM_CANON_SIMPLE },
		{ "", -1, 0, 0 },
		{ "loose", -1, 0, 0 },
		{ "relaxed/", -1, 0, 0 },
		{ "/relaxed", -1, 0, 0 },
		{ "relaxed/relaxed/relaxed", -1, 0, 0 },
		{ "simplex", -1, 0, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum dkim_canon h = 99, b = 99;
		int rc = dkim_canon_parse(cases[i].in, strlen(cases[i].in), &h, &b);
		assert_int_equal(rc, cases[i].rc);
		if (rc == 0) {
			assert_int_equal(h, cases[i].h);
			assert_int_equal(b, cases[i].b);
		}
	}
}

struct bcase {
	enum dkim_canon c;
	const char *in, *out;
	long long limit;
};

static const struct bcase body_cases[] = {
	/* RFC 6376 3.4.6 */
	{ DKIM_CANON_RELAXED, " C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n", -1 },
	{ DKIM_CANON_SIMPLE, " C \r\nD \t E\r\n\r\n\r\n", " C \r\nD \t E\r\n", -1 },
	/* empty body: a CRLF for simple, nothing for relaxed */
	{ DKIM_CANON_SIMPLE, "", "\r\n", -1 },
	{ DKIM_CANON_RELAXED, "", "", -1 },
	{ DKIM_CANON_SIMPLE, "\r\n\r\n\r\n", "\r\n", -1 },
	{ DKIM_CANON_RELAXED, "\r\n\r\n", "", -1 },
	{ DKIM_CANON_RELAXED, " \t \r\n\t\r\n", "", -1 },
	{ DKIM_CANON_SIMPLE, " \t \r\n", " \t \r\n", -1 },
	/* a missing final CRLF is added */
	{ DKIM_CANON_SIMPLE, "abc", "abc\r\n", -1 },
	{ DKIM_CANON_RELAXED, "abc", "abc\r\n", -1 },
	/* WSP on an unterminated last line is reduced, not removed (as dkimpy) */
	{ DKIM_CANON_RELAXED, "abc \t ", "abc \r\n", -1 },
	{ DKIM_CANON_SIMPLE, "abc  ", "abc  \r\n", -1 },
	/* inner empty lines stay; whitespace-only lines become empty */
	{ DKIM_CANON_RELAXED, "a \r\n  \r\n b\r\n\r\n", "a\r\n\r\n b\r\n", -1 },
	{ DKIM_CANON_SIMPLE, "a\r\n\r\nb\r\n\r\n", "a\r\n\r\nb\r\n", -1 },
	/* bare CR is data, also at the very end */
	{ DKIM_CANON_RELAXED, "a\rb\r\n", "a\rb\r\n", -1 },
	{ DKIM_CANON_SIMPLE, "a\r", "a\r\r\n", -1 },
	{ DKIM_CANON_SIMPLE, "a\r\r\n", "a\r\r\n", -1 },
	{ DKIM_CANON_RELAXED, "a \r\r\n", "a \r\r\n", -1 },
	/* bare LF is data too (the message layer normalises it beforehand) */
	{ DKIM_CANON_SIMPLE, "a\nb\r\n", "a\nb\r\n", -1 },
	/* l=: only the first bytes of the canonical body are hashed */
	{ DKIM_CANON_SIMPLE, "abcdef\r\n", "abc", 3 },
	{ DKIM_CANON_RELAXED, "a   b\r\n\r\n", "a b", 3 },
	{ DKIM_CANON_SIMPLE, "abc\r\n", "", 0 },
	{ DKIM_CANON_SIMPLE, "", "\r\n", 100 },
};

/* total canonical length of a case (what l= is compared with) */
static long long canon_len(const struct bcase *c)
{
	struct dkim_bodyhash bh;
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dl;
	long long total;
	dkim_bodyhash_init(&bh, c->c, EVP_sha256(), -1);
	dkim_bodyhash_update(&bh, c->in, strlen(c->in));
	dkim_bodyhash_final(&bh, d, &dl, &total);
	return total;
}

static void run_body_case(size_t idx, const struct bcase *c, size_t chunk)
{
	unsigned char want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
	unsigned wl, gl;
	EVP_Digest(c->out, strlen(c->out), want, &wl, EVP_sha256(), NULL);
	struct dkim_bodyhash bh;
	dkim_bodyhash_init(&bh, c->c, EVP_sha256(), c->limit);
	size_t n = strlen(c->in);
	for (size_t p = 0; p < n; p += chunk)
		dkim_bodyhash_update(&bh, c->in + p, n - p < chunk ? n - p : chunk);
	long long total;
	dkim_bodyhash_final(&bh, got, &gl, &total);
	if (gl != wl || memcmp(got, want, wl) != 0)
		fail_msg("body case %zu (chunk %zu): digest differs from SHA-256(\"%s\")", idx, chunk, c->out);
	if (c->limit < 0 && total != (long long)strlen(c->out))
		fail_msg("body case %zu: total %lld, want %zu", idx, total, strlen(c->out));
}

static void test_canon_body(void **state)
{
	for (size_t i = 0; i < sizeof body_cases / sizeof body_cases[0]; i++)
		run_body_case(i, &body_cases[i], 1 << 20);
	/* the total is the whole canonical length even with l= */
	assert_int_equal(canon_len(&body_cases[19]), 8);
}

/* streaming: any split (one byte at a time, CR and LF in different chunks)
   gives the one-shot digest */
static void test_canon_body_chunked(void **state)
{
	for (size_t i = 0; i < sizeof body_cases / sizeof body_cases[0]; i++)
		for (size_t chunk = 1; chunk <= 4; chunk++)
			run_body_case(i, &body_cases[i], chunk);
	/* a long body crossing the internal 4 KB output block */
	struct buf in = BUF_INIT(0), out = BUF_INIT(0);
	for (int i = 0; i < 2000; i++) {
		buf_printf(&in, "line %d  with\t\tspace  \r\n", i);
		buf_printf(&out, "line %d with space\r\n", i);
	}
	buf_puts(&in, "\r\n\r\n  \r\n");
	struct bcase big = { DKIM_CANON_RELAXED, buf_cstr(&in), buf_cstr(&out), -1 };
	run_body_case(999, &big, 1);
	run_body_case(999, &big, 4093);
	run_body_case(999, &big, 1 << 20);
	buf_free(&in);
	buf_free(&out);
}

/*
 * Reference canonicalisers written straight from RFC 6376 3.4.3 and 3.4.4,
 * line by line with no streaming, to check the streaming fast path against
 * random bodies (runs of trailing empty lines, whitespace-only lines, bare
 * CR and LF, any chunking).
 */
static void ref_body(enum dkim_canon c, const char *in, size_t n, struct buf *out)
{
	struct buf lines = BUF_INIT(0);
	size_t pending = 0; /* empty lines held back */
	size_t p = 0;
	while (p < n) {
		size_t e = p;
		while (e + 1 < n && !(in[e] == '\r' && in[e + 1] == '\n'))
			e++;
		bool crlf = e + 1 < n;
		size_t end = crlf ? e : n; /* line content is in[p..end) */
		struct buf line = BUF_INIT(0);
		if (c == DKIM_CANON_SIMPLE) {
			buf_append(&line, in + p, end - p);
		} else {
			bool wsp = false;
			for (size_t i = p; i < end; i++) {
				if (in[i] == ' ' || in[i] == '\t') {
					wsp = true;
					continue;
				}
				if (wsp)
					buf_putc(&line, ' ');
				wsp = false;
				buf_putc(&line, in[i]);
			}
			/* trailing WSP is dropped on a terminated line; on an unterminated
			   last line it is reduced to one space (as dkimpy) */
			if (wsp && !crlf)
				buf_putc(&line, ' ');
		}
		if (line.len == 0 && crlf) {
			pending++;
		} else {
			for (; pending > 0; pending--)
				buf_puts(&lines, "\r\n");
			buf_append(&lines, line.data ? line.data : "", line.len);
			buf_puts(&lines, "\r\n");
		}
		buf_free(&line);
		p = crlf ? e + 2 : n;
	}
	if (lines.len == 0 && c == DKIM_CANON_SIMPLE)
		buf_puts(&lines, "\r\n");
	buf_append(out, lines.data ? lines.data : "", lines.len);
	buf_free(&lines);
}

static void test_canon_body_random(void **state)
{
	static const char alphabet[] = "ab \t\r\n\r\n\r\n";
	unsigned seed = 12345;
	for (int round = 0; round < 20000; round++) {
		char in[300];
		seed = seed * 1103515245u + 12345u;
		size_t n = (seed >> 8) % (round < 10000 ? 40 : sizeof in);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
		}
		/* every tenth body ends in a long run of empty or blank lines */
		if (round % 10 == 0)
			for (size_t k = 0; k < 12 && n + 3 < sizeof in; k++) {
				if (k % 3 == 0)
					in[n++] = ' ';
				in[n++] = '\r';
				in[n++] = '\n';
			}
		for (int ci = 0; ci < 2; ci++) {
			enum dkim_canon c = ci ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
			struct buf want = BUF_INIT(0);
			ref_body(c, in, n, &want);
			unsigned char dw[EVP_MAX_MD_SIZE], dg[EVP_MAX_MD_SIZE];
			unsigned lw, lg;
			EVP_Digest(want.data ? want.data : "", want.len, dw, &lw, EVP_sha256(), NULL);
			struct dkim_bodyhash bh;
			dkim_bodyhash_init(&bh, c, EVP_sha256(), -1);
			size_t chunk = 1 + (seed >> 4) % 17;
			for (size_t q = 0; q < n; q += chunk)
				dkim_bodyhash_update(&bh, in + q, n - q < chunk ? n - q : chunk);
			long long total;
			dkim_bodyhash_final(&bh, dg, &lg, &total);
			if (lg != lw || memcmp(dg, dw, lw) != 0 || total != (long long)want.len)
				fail_msg("round %d canon %d len %zu chunk %zu: digest differs from the reference", round, ci,
					 n, chunk);
			buf_free(&want);
		}
	}
}

static void parse_msg(const char *raw, struct message *m)
{
	char err[128];
	assert_int_equal(message_parse(raw, strlen(raw), m, err, sizeof err), 0);
}

static void test_canon_headers_select(void **state)
{
	struct message m;
	parse_msg("From: a\r\nTo: b\r\nfrom: c\r\nSubject: s\r\n\r\nbody\r\n", &m);
	static const struct {
		const char *h;
		size_t skip;
		const char *out;
	} cases[] = {
		/* bottom-up, each instance once; a third from signs nothing */
		{ "from:from:from:to", 99, "from: c\r\nFrom: a\r\nTo: b\r\n" },
		{ "From : TO", 99, "from: c\r\nTo: b\r\n" },
		{ "subject:\r\n\tsubject", 99, "Subject: s\r\n" },
		{ "x-absent:from", 99, "from: c\r\n" },
		{ "from", 2, "From: a\r\n" }, /* fields from index 2 are ignored */
		{ "", 99, "" },
		{ "::from::", 99, "from: c\r\n" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = BUF_INIT(0);
		size_t skip = cases[i].skip > m.nhdr ? m.nhdr : cases[i].skip;
		assert_int_equal(dkim_canon_headers(DKIM_CANON_SIMPLE, &m, cases[i].h, strlen(cases[i].h), skip, &b), 0);
		if (strcmp(buf_cstr(&b), cases[i].out) != 0)
			fail_msg("case %zu: got \"%s\"", i, buf_cstr(&b));
		buf_free(&b);
	}
	message_free(&m);
}

static void test_canon_sig_header(void **state)
{
	static const struct hcase cases[] = {
		{ DKIM_CANON_SIMPLE, "DKIM-Signature: v=1; bh=AAA=; b=abc\r\n def;\r\n", "DKIM-Signature: v=1; bh=AAA=; b=;" },
		{ DKIM_CANON_RELAXED, "DKIM-Signature: v=1; bh=AAA=; b=abc\r\n def;\r\n", "dkim-signature:v=1; bh=AAA=; b=;" },
		/* b= in the middle; bh= is left alone */
		{ DKIM_CANON_SIMPLE, "DKIM-Signature: b = xyz ; bh=QQ==\r\n", "DKIM-Signature: b =  ; bh=QQ==" },
		{ DKIM_CANON_RELAXED, "DKIM-Signature: a=1;\r\n\tb=\r\n\t xyz\r\n", "dkim-signature:a=1; b=" },
		/* no b= at all: the field as is, without CRLF */
		{ DKIM_CANON_SIMPLE, "DKIM-Signature: v=1\r\n", "DKIM-Signature: v=1" },
		/* unparsable tag list: left as is */
		{ DKIM_CANON_RELAXED, "DKIM-Signature: ;;b=1;b=2\r\n", "dkim-signature:;;b=1;b=2" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = BUF_INIT(0);
		assert_int_equal(dkim_canon_sig_header(cases[i].c, cases[i].in, strlen(cases[i].in), &b), 0);
		if (strcmp(buf_cstr(&b), cases[i].out) != 0)
			fail_msg("case %zu: got \"%s\" want \"%s\"", i, buf_cstr(&b), cases[i].out);
		buf_free(&b);
	}
}

static void test_base64(void **state)
{
	static const struct {
		const char *in;
		long n;
		const char *out;
	} cases[] = {
		{ "", 0, "" },
		{ "Zm9v", 3, "foo" },
		{ "Zm9vYg==", 4, "foob" },
		{ "Zm9vYmE=", 5, "fooba" },
		{ "Zm 9v\r\n\tYg ==", 4, "foob" },
		{ "Zm9vYg", 4, "foob" }, /* unpadded tail */
		{ "Zm9vY", -1, NULL },   /* one char cannot make a byte */
		{ "Zm9v!", -1, NULL },
		{ "Zg==Zg==", -1, NULL }, /* data after padding */
		{ "Zg===", -1, NULL },
		{ "Zm9=", 2, "fo" },
		{ "Zm9v=", -1, NULL },    /* padding that does not complete a group */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unsigned char out[16];
		long n = dkim_base64_decode(cases[i].in, strlen(cases[i].in), out, sizeof out);
		if (n != cases[i].n)
			fail_msg("case %zu (%s): %ld want %ld", i, cases[i].in, n, cases[i].n);
		if (n > 0)
			assert_memory_equal(out, cases[i].out, (size_t)n);
	}
	unsigned char tiny[2];
	assert_int_equal(dkim_base64_decode("Zm9v", 4, tiny, sizeof tiny), -1); /* no room */
}

/* ------------------------------------------------------------------ */
/* keys                                                               */

static EVP_PKEY *rsa1024, *rsa512, *ed;
static char rsa1024_p[400], rsa512_p[200], ed_p[64], rsa1024_pkcs1_p[400], ec_p[200];
static char rsa_file[64], ed_file[64], ed_seed_file[64], rsa512_file[64];

static void b64(const unsigned char *in, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static void spki_b64(EVP_PKEY *pk, char *out)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(pk, &der);
	assert_true(n > 0);
	b64(der, (size_t)n, out);
	OPENSSL_free(der);
}

static void write_pem(EVP_PKEY *pk, char *name)
{
	snprintf(name, 64, "/tmp/test_dkim_XXXXXX");
	int fd = mkstemp(name);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_int_equal(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
}

static int setup_keys(void **state)
{
	rsa1024 = EVP_RSA_gen(1024);
	rsa512 = EVP_RSA_gen(512);
	ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!rsa1024 || !rsa512 || !ed || !ec)
		return -1;
	spki_b64(rsa1024, rsa1024_p);
	spki_b64(rsa512, rsa512_p);
	spki_b64(ec, ec_p);
	EVP_PKEY_free(ec);
	unsigned char raw[64], *der = NULL;
	size_t rl = sizeof raw;
	EVP_PKEY_get_raw_public_key(ed, raw, &rl);
	b64(raw, rl, ed_p);
	int n = i2d_PublicKey(rsa1024, &der); /* PKCS#1 RSAPublicKey */
	b64(der, (size_t)n, rsa1024_pkcs1_p);
	OPENSSL_free(der);
	write_pem(rsa1024, rsa_file);
	write_pem(ed, ed_file);
	write_pem(rsa512, rsa512_file);
	/* dkimpy-style ed25519 seed file */
	rl = sizeof raw;
	EVP_PKEY_get_raw_private_key(ed, raw, &rl);
	char seed[64];
	b64(raw, rl, seed);
	snprintf(ed_seed_file, sizeof ed_seed_file, "/tmp/test_dkim_XXXXXX");
	int fd = mkstemp(ed_seed_file);
	FILE *f = fdopen(fd, "w");
	fprintf(f, "%s\n", seed);
	fclose(f);
	return 0;
}

static int teardown_keys(void **state)
{
	EVP_PKEY_free(rsa1024);
	EVP_PKEY_free(rsa512);
	EVP_PKEY_free(ed);
	unlink(rsa_file);
	unlink(ed_file);
	unlink(ed_seed_file);
	unlink(rsa512_file);
	return 0;
}

static void test_key_records(void **state)
{
	char rec[1024];
	struct {
		char txt[1024];
		enum dkim_key_status st;
		const char *reason; /* substring, for INVALID */
		enum dkim_keytype type;
		bool revoked, testing, strict, sha1, sha256;
	} cases[32];
	size_t n = 0;
#define KC(st_, reason_, type_, rev_, test_, strict_, s1_, s256_, ...)                                           \
	do {                                                                                                     \
		snprintf(cases[n].txt, sizeof cases[n].txt, __VA_ARGS__);                                        \
		cases[n].st = st_;                                                                               \
		cases[n].reason = reason_;                                                                       \
		cases[n].type = type_;                                                                           \
		cases[n].revoked = rev_;                                                                         \
		cases[n].testing = test_;                                                                        \
		cases[n].strict = strict_;                                                                       \
		cases[n].sha1 = s1_;                                                                             \
		cases[n].sha256 = s256_;                                                                         \
		n++;                                                                                             \
	} while (0)
	KC(DKIM_KEY_OK, NULL, DKIM_KEY_RSA, 0, 0, 0, 1, 1, "v=DKIM1; k=rsa; p=%s", rsa1024_p);
	KC(DKIM_KEY_OK, NULL, DKIM_KEY_RSA, 0, 0, 0, 1, 1, "p=%s", rsa1024_p); /* k= defaults to rsa */
	KC(DKIM_KEY_OK, NULL, DKIM_KEY_RSA, 0, 0, 0, 1, 1, "k=rsa; p=%s", rsa1024_pkcs1_p); /* bare PKCS#1 */
	KC(DKIM_KEY_OK, NULL, DKIM_KEY_ED25519, 0, 0, 0, 1, 1, "v=DKIM1; k=ed25519; p=%s", ed_p);
	KC(DKIM_KEY_OK, NULL, DKIM_KEY_RSA, 1, 0, 0, 1, 1, "v=DKIM1; p=");
	KC(DKIM_KEY_OK, NULL, DKIM_KEY_RSA, 0, 1, 1, 1, 1, "t=y:s; p=%s", rsa1024_p);
	KC(DKIM_KEY_OK, NULL, DKIM_KEY_RSA, 0, 1, 0, 1, 1, "t=y:x; p=%s", rsa1024_p); /* unknown flags ignored */
	KC(DKIM_KEY_OK, NULL, DKIM_KEY_RSA, 0, 0, 0, 0, 1, "h=sha256; p=%s", rsa1024_p);
	KC(DKIM_KEY_OK, NULL, DKIM_KEY_RSA, 0, 0, 0, 1, 0, "h=sha1 ; p=%s", rsa1024_p);
	KC(DKIM_KEY_OK, NULL, DKIM_KEY_RSA, 0, 0, 0, 1, 1, "h=sha1:sha256:md5; p=%s", rsa1024_p);
	KC(DKIM_KEY_OK, NULL, DKIM_KEY_RSA, 0, 0, 0, 1, 1, "s=email:tlsrpt; p=%s", rsa1024_p);
	KC(DKIM_KEY_OK, NULL, DKIM_KEY_RSA, 0, 0, 0, 1, 1, "s=*; p=%s; n=notes; g=*", rsa1024_p);
	KC(DKIM_KEY_OK, NULL, DKIM_KEY_RSA, 0, 0, 0, 1, 1, "p=%.40s\r\n\t%s", rsa1024_p, rsa1024_p + 40);
	KC(DKIM_KEY_INVALID, "v= is not the first tag", 0, 0, 0, 0, 0, 0, "k=rsa; v=DKIM1; p=%s", rsa1024_p);
	KC(DKIM_KEY_INVALID, "unknown version", 0, 0, 0, 0, 0, 0, "v=DKIM2; p=%s", rsa1024_p);
	KC(DKIM_KEY_INVALID, "unknown version", 0, 0, 0, 0, 0, 0, "v=DKIM1: k=rsa; p=%s", rsa1024_p);
	KC(DKIM_KEY_INVALID, "unknown key type k=dsa", 0, 0, 0, 0, 0, 0, "k=dsa; p=%s", rsa1024_p);
	KC(DKIM_KEY_INVALID, "service type", 0, 0, 0, 0, 0, 0, "s=tlsrpt; p=%s", rsa1024_p);
	KC(DKIM_KEY_INVALID, "no p= tag", 0, 0, 0, 0, 0, 0, "v=DKIM1; k=rsa");
	KC(DKIM_KEY_INVALID, "not valid base64", 0, 0, 0, 0, 0, 0, "p=abc!def");
	KC(DKIM_KEY_INVALID, "not an RSA public key", 0, 0, 0, 0, 0, 0, "p=QUJDRA==");
	KC(DKIM_KEY_INVALID, "not an RSA public key", 0, 0, 0, 0, 0, 0, "k=rsa; p=%s", ec_p);
	KC(DKIM_KEY_INVALID, "ed25519 key is", 0, 0, 0, 0, 0, 0, "k=ed25519; p=%s", rsa1024_p);
	KC(DKIM_KEY_INVALID, "key too small (512 bits)", 0, 0, 0, 0, 0, 0, "p=%s", rsa512_p);
	KC(DKIM_KEY_INVALID, "appears twice", 0, 0, 0, 0, 0, 0, "p=%s; p=%s", ed_p, ed_p);
	KC(DKIM_KEY_INVALID, "syntax error", 0, 0, 0, 0, 0, 0, "=x; p=%s", rsa1024_p);
	KC(DKIM_KEY_INVALID, "no p= tag", 0, 0, 0, 0, 0, 0, "%s", "");
	for (size_t i = 0; i < n; i++) {
		struct dkim_key k;
		char err[200] = "";
		snprintf(rec, sizeof rec, "%s", cases[i].txt);
		enum dkim_key_status st = dkim_key_parse(rec, strlen(rec), &k, err, sizeof err);
		if (st != cases[i].st)
			fail_msg("case %zu (%.60s): status %d want %d (%s)", i, rec, st, cases[i].st, err);
		if (st == DKIM_KEY_OK) {
			assert_int_equal(k.type, cases[i].type);
			assert_int_equal(k.revoked, cases[i].revoked);
			assert_int_equal(k.pkey == NULL, cases[i].revoked);
			assert_int_equal(k.testing, cases[i].testing);
			assert_int_equal(k.strict_identity, cases[i].strict);
			assert_int_equal(k.allow_sha1, cases[i].sha1);
			assert_int_equal(k.allow_sha256, cases[i].sha256);
			if (!k.revoked)
				assert_int_equal(k.bits, k.type == DKIM_KEY_RSA ? 1024 : 256);
			dkim_key_free(&k);
		} else if (!strstr(err, cases[i].reason)) {
			fail_msg("case %zu: reason \"%s\" lacks \"%s\"", i, err, cases[i].reason);
		}
	}
}

static void test_key_fetch(void **state)
{
	struct dns_stub *st = dns_stub_new();
	char rec[600];
	snprintf(rec, sizeof rec, "v=DKIM1; p=%s", rsa1024_p);
	dns_stub_add_txt(st, "s1._domainkey.example.com", rec, strlen(rec), 1);
	/* two records, the first unusable: the second is taken */
	dns_stub_add_txt(st, "two._domainkey.example.com", "v=spf1 -all", 11, 1);
	dns_stub_add_txt(st, "two._domainkey.example.com", rec, strlen(rec), 1);
	dns_stub_add_txt(st, "bad._domainkey.example.com", "k=foo; p=", 9, 1);
	dns_stub_add_fail(st, "tf._domainkey.example.com", DNS_STUB_TIMEOUT);
	dns_stub_add_a(st, "a._domainkey.example.com", &(struct ipaddr){ 0 });
	struct dns_resolver *r = dns_stub_resolver(st);
	static const struct {
		const char *sel;
		enum dkim_key_status st;
		const char *reason;
	} cases[] = {
		{ "s1", DKIM_KEY_OK, NULL },
		{ "two", DKIM_KEY_OK, NULL },
		{ "bad", DKIM_KEY_INVALID, "unknown key type" },
		{ "missing", DKIM_KEY_NONE, "no key for signature" },
		{ "a", DKIM_KEY_NONE, "no key for signature" },
		{ "tf", DKIM_KEY_TEMPFAIL, "DNS temporary failure" },
		{ "a..b", DKIM_KEY_INVALID, "invalid key name" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct dkim_key k;
		char err[200] = "";
		enum dkim_key_status s = dkim_key_fetch(r, cases[i].sel, "example.com", &k, err, sizeof err);
		if (s != cases[i].st)
			fail_msg("case %s: status %d want %d (%s)", cases[i].sel, s, cases[i].st, err);
		if (cases[i].reason && !strstr(err, cases[i].reason))
			fail_msg("case %s: reason \"%s\"", cases[i].sel, err);
		dkim_key_free(&k);
	}
	dns_resolver_free(&r);
}

/* ------------------------------------------------------------------ */
/* signature parsing                                                   */

static void test_sig_parse(void **state)
{
#define BH "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;"
	static const struct {
		const char *v;
		const char *reason; /* NULL: parses */
	} cases[] = {
		{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH " b=AAAA", NULL },
		{ "v=1; a=ed25519-sha256; c=relaxed; d=example.com; s=a.b; h=To:From; " BH " b=AAAA; i=@example.com", NULL },
		{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH " b=AAAA; i=user@sub.Example.COM; q=dns/txt", NULL },
		{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH " b=AAAA; t=10; x=10; l=0", NULL },
		{ "v=1; a=rsa-sha1; d=example.com; s=sel; h=from; bh=2jmj7l5rSw0yVb/vlWAYkK/YBwk=; b=AAAA", NULL },
		{ "a=rsa-sha256; d=example.com; s=sel; h=from; " BH " b=AAAA", "lacks required tag v=" },
		{ "v=1; d=example.com; s=sel; h=from; " BH " b=AAAA", "lacks required tag a=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH, "lacks required tag b=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; b=AAAA", "lacks required tag bh=" },
		{ "v=1; a=rsa-sha256; s=sel; h=from; " BH " b=AAAA", "lacks required tag d=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=sel; " BH " b=AAAA", "lacks required tag h=" },
		{ "v=1; a=rsa-sha256; d=example.com; h=from; " BH " b=AAAA", "lacks required tag s=" },
		{ "v=2; a=rsa-sha256; d=example.com; s=sel; h=from; " BH " b=AAAA", "unsupported signature version" },
		{ "v=1; a=rsa-md5; d=example.com; s=sel; h=from; " BH " b=AAAA", "unsupported algorithm" },
		{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=to:subject; " BH " b=AAAA", "h= lacks from" },
		{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from-x; " BH " b=AAAA", "h= lacks from" },
		{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH " b=AAAA; i=u@example.net", "not within d=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH " b=AAAA; i=u@badexample.com", "not within d=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH " b=AAAA; i=nobody", "has no @" },
		{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH " b=AAAA; t=20; x=10", "x= is before t=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH " b=AAAA; x=1a", "invalid x=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH " b=AAAA; l=-1", "invalid l=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH " b=AAAA; q=http", "unsupported query method" },
		{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH " b=AAAA; c=fancy", "unknown canonicalization" },
		{ "v=1; a=rsa-sha256; d=exa(mple.com; s=sel; h=from; " BH " b=AAAA", "invalid signing domain" },
		{ "v=1; a=rsa-sha256; d=example..com; s=sel; h=from; " BH " b=AAAA", "invalid signing domain" },
		{ "v=1; a=rsa-sha256; d=example.com; s=se/l; h=from; " BH " b=AAAA", "invalid selector" },
		{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH " b=", "empty signature b=" },
		{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH " b=A*A", "b= is not valid base64" },
		{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA", "wrong length" },
		{ "v=1; a=rsa-sha1; d=example.com; s=sel; h=from; " BH " b=AAAA", "wrong length" },
		{ "v=1; v=1; a=rsa-sha256; d=example.com; s=sel; h=from; " BH " b=AAAA", "appears twice" },
		{ "v=1; a=rsa-sha256 d=example.com", "lacks required tag" },
		{ "v=1; a", "syntax error" },
		{ "v=1; a=rsa-sha256; 9=x", "syntax error" },
		{ "", "lacks required tag" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct dkim_sig *sig = NULL;
		char err[200] = "";
		int rc = dkim_sig_parse(cases[i].v, strlen(cases[i].v), &sig, err, sizeof err);
		if (!cases[i].reason) {
			if (rc != 0)
				fail_msg("case %zu: %s", i, err);
			assert_non_null(sig);
		} else {
			if (rc != -1 || sig)
				fail_msg("case %zu parsed", i);
			if (!strstr(err, cases[i].reason))
				fail_msg("case %zu: reason \"%s\" lacks \"%s\"", i, err, cases[i].reason);
		}
		dkim_sig_free(&sig);
		assert_null(sig);
	}
}

/* ------------------------------------------------------------------ */
/* verification                                                        */

static const char MSG[] = "From: Joe SixPack <joe@example.com>\r\n"
			  "To: Suzie Q <suzie@example.net>\r\n"
			  "Subject: Is dinner ready?\r\n"
			  "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
			  "Message-ID: <20030712040037.46341.5F8J@example.com>\r\n"
			  "\r\n"
			  "Hi.\r\n"
			  "\r\n"
			  "We lost the game.  Are you hungry yet?\r\n"
			  "\r\n"
			  "Joe.\r\n";

static struct dns_resolver *resolver(void)
{
	struct dns_stub *st = dns_stub_new();
	char rec[600];
	snprintf(rec, sizeof rec, "v=DKIM1; k=rsa; p=%s", rsa1024_p);
	dns_stub_add_txt(st, "rsa._domainkey.example.com", rec, strlen(rec), 1);
	snprintf(rec, sizeof rec, "v=DKIM1; k=ed25519; p=%s", ed_p);
	dns_stub_add_txt(st, "ed._domainkey.example.com", rec, strlen(rec), 1);
	snprintf(rec, sizeof rec, "v=DKIM1; k=rsa; t=y; p=%s", rsa1024_p);
	dns_stub_add_txt(st, "testing._domainkey.example.com", rec, strlen(rec), 1);
	snprintf(rec, sizeof rec, "v=DKIM1; k=rsa; t=s; p=%s", rsa1024_p);
	dns_stub_add_txt(st, "strict._domainkey.example.com", rec, strlen(rec), 1);
	snprintf(rec, sizeof rec, "v=DKIM1; k=rsa; h=sha1; p=%s", rsa1024_p);
	dns_stub_add_txt(st, "sha1only._domainkey.example.com", rec, strlen(rec), 1);
	snprintf(rec, sizeof rec, "v=DKIM1; k=rsa; p=%s", ed_p);
	dns_stub_add_txt(st, "mismatch._domainkey.example.com", rec, strlen(rec), 1);
	snprintf(rec, sizeof rec, "v=DKIM1; k=rsa; p=%s", rsa512_p);
	dns_stub_add_txt(st, "small._domainkey.example.com", rec, strlen(rec), 1);
	dns_stub_add_txt(st, "revoked._domainkey.example.com", "v=DKIM1; k=rsa; p=", 18, 1);
	dns_stub_add_fail(st, "tempfail._domainkey.example.com", DNS_STUB_SERVFAIL);
	return dns_stub_resolver(st);
}

/* the field mamori would add, signed with the test RSA or ed25519 key */
static char *sign_with(const char *keyfile, const char *sel, enum dkim_canon hc, enum dkim_canon bc,
		       const char *raw, unsigned expiry, time_t now)
{
	char err[200];
	struct dkim_signer *s = dkim_signer_load(keyfile, "example.com", sel, err, sizeof err);
	if (!s)
		fail_msg("load %s: %s", keyfile, err);
	dkim_signer_set_canon(s, hc, bc);
	dkim_signer_set_expiry(s, expiry);
	struct message m;
	parse_msg(raw, &m);
	char *f = dkim_sign(s, &m, now, err, sizeof err);
	if (!f)
		fail_msg("sign: %s", err);
	message_free(&m);
	dkim_signer_free(&s);
	return f;
}

static char *concat3(const char *a, size_t alen, const char *b, const char *c)
{
	size_t lb = strlen(b), lc = strlen(c);
	char *r = malloc(alen + lb + lc + 1);
	memcpy(r, a, alen);
	memcpy(r + alen, b, lb);
	memcpy(r + alen + lb, c, lc + 1);
	return r;
}

static char *concat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *r = malloc(la + lb + 1);
	memcpy(r, a, la);
	memcpy(r + la, b, lb + 1);
	return r;
}

/* verifies raw at now; returns the results (caller frees) and count */
static size_t verify_at(const char *raw, time_t now, bool sha1_fails, unsigned max, struct dkim_sig_result **res)
{
	struct dns_resolver *r = resolver();
	struct message m;
	parse_msg(raw, &m);
	struct dkim_verify_opts o = { .now = now, .sha1_fails = sha1_fails, .max_signatures = max };
	size_t n;
	size_t ret = dkim_verify(r, &m, &o, res, &n);
	assert_int_equal(ret, n);
	message_free(&m);
	dns_resolver_free(&r);
	return n;
}

static void expect(const char *raw, time_t now, enum dkim_result want, const char *reason)
{
	struct dkim_sig_result *res;
	size_t n = verify_at(raw, now, false, 0, &res);
	assert_true(n >= 1);
	if (res[0].result != want || (reason && !strstr(res[0].reason, reason)))
		fail_msg("got %s \"%s\", want %s \"%s\"", dkim_result_name(res[0].result), res[0].reason,
			 dkim_result_name(want), reason ? reason : "");
	if (want != DKIM_PASS)
		assert_true(res[0].reason[0] != '\0');
	free(res);
}

static void test_sign_verify_roundtrip(void **state)
{
	const char *files[] = { rsa_file, ed_file, ed_seed_file };
	const char *sels[] = { "rsa", "ed", "ed" };
	for (size_t k = 0; k < 3; k++)
		for (int hc = 0; hc < 2; hc++)
			for (int bc = 0; bc < 2; bc++) {
				char *f = sign_with(files[k], sels[k], hc, bc, MSG, 0, NOW);
				/* folded at about 78 columns, CRLF-terminated */
				for (const char *l = f; *l;) {
					const char *e = strstr(l, "\r\n");
					assert_non_null(e);
					assert_true(e - l <= 78);
					l = e + 2;
				}
				char *m = concat(f, MSG);
				struct dkim_sig_result *res;
				size_t n = verify_at(m, NOW + 10, false, 0, &res);
				assert_int_equal(n, 1);
				if (res[0].result != DKIM_PASS)
					fail_msg("key %zu c=%d/%d: %s", k, hc, bc, res[0].reason);
				assert_string_equal(res[0].domain, "example.com");
				assert_string_equal(res[0].selector, sels[k]);
				assert_string_equal(res[0].algorithm, k == 0 ? "rsa-sha256" : "ed25519-sha256");
				assert_string_equal(res[0].identity, "@example.com");
				assert_int_equal(res[0].key_bits, k == 0 ? 1024 : 256);
				assert_int_equal(strlen(res[0].b_prefix), 8);
				assert_non_null(strstr(f, res[0].b_prefix));
				assert_false(res[0].weak);
				assert_false(res[0].testing);
				free(res);
				free(m);
				free(f);
			}
}

static void test_signer_load_errors(void **state)
{
	char err[200];
	struct dkim_signer *s = dkim_signer_load("/nonexistent/key.pem", "example.com", "s", err, sizeof err);
	assert_null(s);
	assert_non_null(strstr(err, "cannot open"));
	s = dkim_signer_load(rsa512_file, "example.com", "s", err, sizeof err);
	assert_null(s);
	assert_non_null(strstr(err, "below 1024"));
	char junk[] = "/tmp/test_dkim_XXXXXX";
	int fd = mkstemp(junk);
	assert_int_equal(write(fd, "not a key\n", 10), 10);
	close(fd);
	s = dkim_signer_load(junk, "example.com", "s", err, sizeof err);
	assert_null(s);
	assert_non_null(strstr(err, "neither PEM"));
	unlink(junk);
	s = dkim_signer_load(rsa_file, "legitimate.com(.attacker.com", "s", err, sizeof err);
	assert_null(s);
	assert_non_null(strstr(err, "invalid signing domain"));
	s = dkim_signer_load(rsa_file, "example.com", "s; d=evil.example", err, sizeof err);
	assert_null(s);
	s = dkim_signer_load(rsa_file, "example.com", "s", err, sizeof err);
	assert_non_null(s);
	assert_int_equal(dkim_signer_set_headers(s, "to:subject", NULL), -1); /* must sign From */
	assert_int_equal(dkim_signer_set_headers(s, "from:x;b=evil", NULL), -1);
	assert_int_equal(dkim_signer_set_headers(s, "from", "sub\x01ject"), -1);
	assert_int_equal(dkim_signer_set_headers(s, " From : To ", "reply-to"), 0);
	dkim_signer_free(&s);
	assert_null(s);
}

static void test_tamper(void **state)
{
	char *f = sign_with(rsa_file, "rsa", DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, MSG, 0, NOW);
	char *m = concat(f, MSG);
	expect(m, NOW, DKIM_PASS, NULL);

	/* body changed */
	char *t = concat(m, "P.S.\r\n");
	expect(t, NOW, DKIM_FAIL, "body hash did not verify");
	free(t);
	/* relaxed tolerates whitespace changes and added empty lines */
	t = concat(m, "\r\n\r\n");
	expect(t, NOW, DKIM_PASS, NULL);
	free(t);
	/* a signed header changed */
	t = strdup(m);
	memcpy(strstr(t, "dinner"), "lunch!", 6);
	expect(t, NOW, DKIM_FAIL, "signature did not verify");
	free(t);
	/* the signature value itself damaged */
	t = strdup(m);
	char *b = strstr(t, " b=") + 3;
	b[0] = b[0] == 'A' ? 'B' : 'A';
	expect(t, NOW, DKIM_FAIL, "signature did not verify");
	free(t);
	/* From is oversigned: a second From added on top breaks it */
	t = concat3(f, strlen(f), "From: Mallory <m@evil.example>\r\n", MSG);
	expect(t, NOW, DKIM_FAIL, "signature did not verify");
	free(t);
	/* an unsigned field added anywhere does not matter */
	t = concat3(f, strlen(f), "X-Spam: no\r\n", MSG);
	expect(t, NOW, DKIM_PASS, NULL);
	free(t);
	free(m);
	free(f);
}

static void test_time_checks(void **state)
{
	char *f = sign_with(rsa_file, "rsa", DKIM_CANON_RELAXED, DKIM_CANON_SIMPLE, MSG, 3600, NOW);
	assert_non_null(strstr(f, "x=1700003600;"));
	char *m = concat(f, MSG);
	expect(m, NOW + 3599, DKIM_PASS, NULL);
	expect(m, NOW + 3601, DKIM_PERMERROR, "signature expired");
	expect(m, NOW - 200, DKIM_PASS, NULL); /* within the default 300 s skew */
	expect(m, NOW - 1000, DKIM_PERMERROR, "in the future");
	free(m);
	free(f);
}

/*
 * Builds a signature by hand, from given tags (without b=), so the verifier
 * meets what mamori's signer never writes: rsa-sha1, l=, other identities.
 * The body hash is computed with l= when limit >= 0.
 */
static char *hand_sign(EVP_PKEY *pk, const char *tags, bool sha1, enum dkim_canon hc, enum dkim_canon bc,
		       long long limit, const char *raw, const char *hlist)
{
	struct message m;
	parse_msg(raw, &m);
	struct dkim_bodyhash bh;
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dl;
	dkim_bodyhash_init(&bh, bc, sha1 ? EVP_sha1() : EVP_sha256(), limit);
	dkim_bodyhash_update(&bh, m.body, m.body_len);
	dkim_bodyhash_final(&bh, d, &dl, NULL);
	char bh64[100];
	b64(d, dl, bh64);
	struct buf field = BUF_INIT(0);
	buf_printf(&field, "DKIM-Signature: %s; h=%s; bh=%s; b=\r\n", tags, hlist, bh64);
	struct buf data = BUF_INIT(0);
	assert_int_equal(dkim_canon_headers(hc, &m, hlist, strlen(hlist), m.nhdr, &data), 0);
	assert_int_equal(dkim_canon_sig_header(hc, field.data, field.len, &data), 0);
	unsigned char sig[1024];
	size_t sl = sizeof sig;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519) {
		unsigned char hd[32];
		unsigned hl;
		EVP_Digest(data.data, data.len, hd, &hl, EVP_sha256(), NULL);
		assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk), 1);
		assert_int_equal(EVP_DigestSign(ctx, sig, &sl, hd, hl), 1);
	} else {
		assert_int_equal(EVP_DigestSignInit(ctx, NULL, sha1 ? EVP_sha1() : EVP_sha256(), NULL, pk), 1);
		assert_int_equal(EVP_DigestSign(ctx, sig, &sl, (unsigned char *)data.data, data.len), 1);
	}
	EVP_MD_CTX_free(ctx);
	char sig64[1500];
	b64(sig, sl, sig64);
	field.len -= 2; /* before the CRLF */
	buf_printf(&field, "%s\r\n%s", sig64, raw);
	buf_free(&data);
	message_free(&m);
	return buf_steal(&field, NULL);
}

static void test_rsa_sha1_weak(void **state)
{
	char *m = hand_sign(rsa1024, "v=1; a=rsa-sha1; c=relaxed/relaxed; d=example.com; s=rsa", true,
			    DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, -1, MSG, "from:to:subject");
	struct dkim_sig_result *res;
	assert_int_equal(verify_at(m, NOW, false, 0, &res), 1);
	assert_int_equal(res[0].result, DKIM_PASS);
	assert_true(res[0].weak);
	assert_non_null(strstr(res[0].reason, "rsa-sha1"));
	assert_string_equal(res[0].algorithm, "rsa-sha1");
	free(res);
	assert_int_equal(verify_at(m, NOW, true, 0, &res), 1);
	assert_int_equal(res[0].result, DKIM_POLICY);
	assert_true(res[0].weak);
	assert_non_null(strstr(res[0].reason, "RFC 8301"));
	free(res);
	free(m);
	/* key restricted to sha1 refuses sha256 */
	m = hand_sign(rsa1024, "v=1; a=rsa-sha256; d=example.com; s=sha1only", false, DKIM_CANON_SIMPLE,
		      DKIM_CANON_SIMPLE, -1, MSG, "from");
	expect(m, NOW, DKIM_PERMERROR, "not allowed by key h=");
	free(m);
}

static void test_body_length(void **state)
{
	/* l= covers the body as signed; content appended later is ignored */
	struct message pm;
	parse_msg(MSG, &pm);
	long long blen = (long long)pm.body_len;
	message_free(&pm);
	char tags[200];
	snprintf(tags, sizeof tags, "v=1; a=rsa-sha256; c=simple/simple; d=example.com; s=rsa; l=%lld", blen);
	char *m = hand_sign(rsa1024, tags, false, DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE, blen, MSG, "from:subject");
	struct dkim_sig_result *res;
	assert_int_equal(verify_at(m, NOW, false, 0, &res), 1);
	assert_int_equal(res[0].result, DKIM_PASS);
	assert_non_null(strstr(res[0].reason, "l= signs only"));
	free(res);
	char *t = concat(m, "appended advertising\r\n");
	assert_int_equal(verify_at(t, NOW, false, 0, &res), 1);
	assert_int_equal(res[0].result, DKIM_PASS);
	assert_non_null(strstr(res[0].reason, "l= signs only"));
	free(res);
	free(t);
	free(m);
	/* l= longer than the body */
	snprintf(tags, sizeof tags, "v=1; a=rsa-sha256; c=simple/simple; d=example.com; s=rsa; l=%lld", blen + 10);
	m = hand_sign(rsa1024, tags, false, DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE, blen + 10, MSG, "from");
	expect(m, NOW, DKIM_PERMERROR, "exceeds the body length");
	free(m);
}

static void test_key_outcomes(void **state)
{
	static const struct {
		const char *sel;
		const char *extra;
		enum dkim_result want;
		const char *reason;
	} cases[] = {
		{ "revoked", "", DKIM_PERMERROR, "key revoked" },
		{ "nokey", "", DKIM_PERMERROR, "no key for signature" },
		{ "tempfail", "", DKIM_TEMPERROR, "DNS temporary failure" },
		{ "small", "", DKIM_PERMERROR, "key too small (512 bits)" },
		{ "mismatch", "", DKIM_PERMERROR, "not an RSA public key" },
		{ "strict", "; i=joe@sub.example.com", DKIM_PERMERROR, "t=s" },
		{ "strict", "; i=joe@example.com", DKIM_PASS, NULL },
		{ "rsa", "; i=joe@sub.example.com", DKIM_PASS, NULL },
		{ "ed", "", DKIM_PERMERROR, "does not match a=rsa-sha256" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char tags[200];
		snprintf(tags, sizeof tags, "v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=%s%s", cases[i].sel,
			 cases[i].extra);
		char *m = hand_sign(rsa1024, tags, false, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, -1, MSG, "from:to");
		expect(m, NOW, cases[i].want, cases[i].reason);
		free(m);
	}
	/* t=y: passes, flagged as testing */
	char *m = hand_sign(rsa1024, "v=1; a=rsa-sha256; d=example.com; s=testing", false, DKIM_CANON_SIMPLE,
			    DKIM_CANON_SIMPLE, -1, MSG, "from");
	struct dkim_sig_result *res;
	assert_int_equal(verify_at(m, NOW, false, 0, &res), 1);
	assert_int_equal(res[0].result, DKIM_PASS);
	assert_true(res[0].testing);
	assert_non_null(strstr(res[0].reason, "testing"));
	free(res);
	free(m);
}

static void test_oversigned_absent(void **state)
{
	/* h= names fields absent from the message (and from twice): they sign
	   as nothing, and adding one later breaks the signature */
	char *m = hand_sign(ed, "v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com; s=ed", false,
			    DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, -1, MSG, "from:from:reply-to:cc:subject");
	expect(m, NOW, DKIM_PASS, NULL);
	const char *sep = strstr(m, "\r\nFrom:") + 2;
	size_t pre = (size_t)(sep - m);
	char *t = concat3(m, pre, "Reply-To: attacker@evil.example\r\n", sep);
	expect(t, NOW, DKIM_FAIL, "signature did not verify");
	free(t);
	free(m);
}

static void test_multiple_signatures(void **state)
{
	/* three signatures: good rsa, broken, good ed25519; results in order */
	char *a = sign_with(ed_file, "ed", DKIM_CANON_SIMPLE, DKIM_CANON_RELAXED, MSG, 0, NOW);
	char *b = concat("DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=rsa; h=to; bh=x; b=y\r\n", MSG);
	char *ab = concat(a, b);
	char *m = hand_sign(rsa1024, "v=1; a=rsa-sha256; c=relaxed/simple; d=example.com; s=rsa", false,
			    DKIM_CANON_RELAXED, DKIM_CANON_SIMPLE, -1, ab, "from:subject:dkim-signature");
	struct dkim_sig_result *res;
	size_t n = verify_at(m, NOW, false, 0, &res);
	assert_int_equal(n, 3);
	assert_int_equal(res[0].result, DKIM_PASS);
	assert_string_equal(res[0].selector, "rsa");
	assert_int_equal(res[1].result, DKIM_PASS);
	assert_string_equal(res[1].algorithm, "ed25519-sha256");
	assert_int_equal(res[2].result, DKIM_PERMERROR);
	assert_non_null(strstr(res[2].reason, "h= lacks from"));
	assert_string_equal(res[2].domain, "example.com"); /* named even when broken */
	assert_string_equal(res[2].selector, "rsa");
	free(res);
	/* max_signatures: the rest are reported, not checked */
	n = verify_at(m, NOW, false, 2, &res);
	assert_int_equal(n, 3);
	assert_int_equal(res[0].result, DKIM_PASS);
	assert_int_equal(res[1].result, DKIM_PASS);
	assert_int_equal(res[2].result, DKIM_NEUTRAL);
	assert_non_null(strstr(res[2].reason, "not checked"));
	free(res);
	free(m);
	free(ab);
	free(b);
	free(a);
}

static void test_no_signature_and_garbage(void **state)
{
	struct dkim_sig_result *res = (void *)1;
	assert_int_equal(verify_at(MSG, NOW, false, 0, &res), 0);
	assert_null(res);
	static const char *const bad[] = {
		"DKIM-Signature:\r\n",
		"DKIM-Signature: ;;;\r\n",
		"DKIM-Signature: v=1; a=rsa-sha256; b=\x01\r\n",
		"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; bh=====; b=AAAA\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *m = concat(bad[i], MSG);
		expect(m, NOW, DKIM_PERMERROR, NULL);
		free(m);
	}
}

static void test_result_names(void **state)
{
	assert_string_equal(dkim_result_name(DKIM_PASS), "pass");
	assert_string_equal(dkim_result_name(DKIM_FAIL), "fail");
	assert_string_equal(dkim_result_name(DKIM_NEUTRAL), "neutral");
	assert_string_equal(dkim_result_name(DKIM_POLICY), "policy");
	assert_string_equal(dkim_result_name(DKIM_TEMPERROR), "temperror");
	assert_string_equal(dkim_result_name(DKIM_PERMERROR), "permerror");
}

static void test_sign_header_list(void **state)
{
	/* default list signs present fields, each instance, From once more */
	const char *raw = "From: a@example.com\r\nTo: b@example.net\r\nTo: c@example.net\r\nX-Other: 1\r\n\r\nx\r\n";
	char *f = sign_with(rsa_file, "rsa", DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, raw, 0, NOW);
	char *h = strstr(f, "h=");
	assert_non_null(h);
	assert_memory_equal(h, "h=from:from:to:to;", 18);
	free(f);
	/* custom lists */
	char err[200];
	struct dkim_signer *s = dkim_signer_load(rsa_file, "example.com", "rsa", err, sizeof err);
	assert_int_equal(dkim_signer_set_headers(s, "From:X-Other", "x-other:subject"), 0);
	struct message m;
	parse_msg(raw, &m);
	f = dkim_sign(s, &m, NOW, err, sizeof err);
	assert_non_null(f);
	assert_non_null(strstr(f, "h=from:x-other:x-other:subject;"));
	char *full = concat(f, raw);
	expect(full, NOW, DKIM_PASS, NULL);
	free(full);
	free(f);
	message_free(&m);
	dkim_signer_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canon_header),
		cmocka_unit_test(test_canon_parse),
		cmocka_unit_test(test_canon_body),
		cmocka_unit_test(test_canon_body_chunked),
		cmocka_unit_test(test_canon_body_random),
		cmocka_unit_test(test_canon_headers_select),
		cmocka_unit_test(test_canon_sig_header),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_key_records),
		cmocka_unit_test(test_key_fetch),
		cmocka_unit_test(test_sig_parse),
		cmocka_unit_test(test_sign_verify_roundtrip),
		cmocka_unit_test(test_signer_load_errors),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_time_checks),
		cmocka_unit_test(test_rsa_sha1_weak),
		cmocka_unit_test(test_body_length),
		cmocka_unit_test(test_key_outcomes),
		cmocka_unit_test(test_oversigned_absent),
		cmocka_unit_test(test_multiple_signatures),
		cmocka_unit_test(test_no_signature_and_garbage),
		cmocka_unit_test(test_result_names),
		cmocka_unit_test(test_sign_header_list),
	};
	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
