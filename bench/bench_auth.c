/*
 * bench_auth: throughput of the sender-authentication stage (SPF, DKIM, ARC,
 * DMARC and the Authentication-Results header) on one core, next to the
 * cost of the cryptography alone measured in the same process.
 *
 * Everything is generated in memory: a signing key (RSA-2048 or ed25519),
 * a pool of distinct ~4 KB messages signed with dkim_sign(), and a stub DNS
 * zone holding the DKIM key, SPF and DMARC records, so DNS costs nothing and
 * the figures are the CPU cost of our own code plus OpenSSL.
 *
 * Every message must come out dkim=pass, spf=pass, dmarc=pass; anything else
 * exits non-zero, which is what the CTest smoke run (--messages 50) checks.
 * No timing is ever judged by the exit status.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "bench_common.h"
#include "auth/authcheck.h"
#include "auth/dkim.h"
#include "auth/dkim_canon.h"
#include "auth/dkim_key.h"
#include "auth/message.h"
#include "core/buf.h"
#include "core/ip.h"
#include "core/mem.h"
#include "dns/dns.h"
#include "dns/dns_stub.h"

#define BENCH_DEFAULT_MESSAGES 20000
#define BENCH_DEFAULT_SIZE 4096
#define BENCH_DEFAULT_POOL 1000      /* distinct messages, cycled through */
#define BENCH_MIN_SIZE 1024          /* headers alone take about 1 KB */
#define BENCH_MAX_SIZE (16 * 1024 * 1024)
#define BENCH_SPEED_MIN_MESSAGES 1000 /* below: smoke run, skip `openssl speed` */
#define BENCH_RATIO_GOAL 0.50        /* pipeline msgs/s vs pure verify/s */
#define TXT_STRING_MAX 255           /* RFC 1035 3.3: one character-string */

#define DOMAIN "example.com"
#define SELECTOR "bench"
#define HELO "mail.example.com"
#define CLIENT_IP "192.0.2.25"
#define AUTHSERV_ID "mx.example.net"

enum algo { ALGO_RSA, ALGO_ED25519 };

struct options {
	unsigned long messages;
	size_t size;
	unsigned long pool;
	enum algo algo;
	int openssl_speed; /* -1 auto, 0 no, 1 yes */
	bool floor;        /* measure the crypto floor (off: profile the pipeline alone) */
	bool corrupt;      /* alter each body after signing: the result check must fail */
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bench_auth: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void die_ssl(const char *what) __attribute__((noreturn));
static void die_ssl(const char *what)
{
	fprintf(stderr, "bench_auth: %s failed\n", what);
	ERR_print_errors_fp(stderr);
	exit(2);
}

/* ---------- deterministic text ---------- */

/* xorshift64*: same corpus on every run */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dULL) >> 32);
}

static unsigned rnd_below(unsigned n)
{
	return rnd() % n;
}

static const char *const words[] = {
	"the", "report", "meeting", "quarterly", "numbers", "and", "of", "to", "please", "review",
	"attached", "invoice", "schedule", "tomorrow", "server", "migration", "we", "will", "need",
	"a", "short", "call", "about", "budget", "for", "next", "year", "customer", "feedback",
	"was", "positive", "overall", "but", "delivery", "times", "are", "still", "too", "long",
	"thanks", "regards", "team", "project", "deadline", "update", "status", "draft", "final",
	"contract", "signed", "pending", "approval", "from", "legal", "department", "in", "on",
	"with", "this", "that", "it", "is", "be", "as", "at", "by", "or", "an", "if", "can",
	"Zürich", "café", "naïve", "résumé", "façade", "shipment", "warehouse", "inventory",
	"configuration", "authentication", "certificate", "renewal", "backup", "restore", "ticket",
};
#define NWORDS (sizeof words / sizeof words[0])

/* one body line of at most maxlen bytes, with some variety in shape */
static void body_line(struct buf *b, size_t maxlen)
{
	unsigned kind = rnd_below(20);
	size_t start = b->len;
	if (kind == 0) {
		buf_puts(b, "\r\n"); /* paragraph break */
		return;
	}
	if (kind == 1)
		buf_puts(b, "> ");
	if (kind == 2) {
		buf_printf(b, "https://portal.example.com/doc/%08x?ref=%u", rnd(), rnd_below(100000));
	} else if (kind == 3) {
		buf_printf(b, "  %-12s %8u.%02u  %s", words[rnd_below(NWORDS)], rnd_below(100000), rnd_below(100),
			   words[rnd_below(NWORDS)]);
	} else {
		size_t target = 20 + rnd_below((unsigned)(maxlen > 30 ? maxlen - 20 : 10));
		bool first = true;
		while (b->len - start < target) {
			const char *w = words[rnd_below(NWORDS)];
			if (b->len - start + strlen(w) + 1 > maxlen)
				break;
			if (!first)
				buf_putc(b, ' ');
			buf_puts(b, w);
			first = false;
		}
		if (rnd_below(3) == 0)
			buf_putc(b, '.');
		if (rnd_below(12) == 0)
			buf_putc(b, ' '); /* trailing space: relaxed body canonicalisation has work */
	}
	buf_puts(b, "\r\n");
}

static void rfc5322_date(struct buf *b, time_t t)
{
	struct tm tm;
	char s[64];
	gmtime_r(&t, &tm);
	strftime(s, sizeof s, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	buf_puts(b, s);
}

/* an unsigned message of about `size` bytes (headers + body) */
static char *make_message(unsigned long i, time_t now, size_t size, size_t *len_r)
{
	struct buf b = BUF_INIT(0);
	time_t t = now - 60 - (time_t)(i % 86400);
	buf_printf(&b, "Received: from " HELO " (" HELO " [" CLIENT_IP "])\r\n"
		   "\tby mx1.example.net (Postfix) with ESMTPS id %08X%04X\r\n"
		   "\tfor <bob@example.net>; ", rnd(), rnd_below(0x10000));
	rfc5322_date(&b, t + 2);
	buf_printf(&b, "\r\nReceived: from smtp-out.example.com (smtp-out.example.com [10.%u.%u.%u])\r\n"
		   "\tby " HELO " (Postfix) with ESMTP id %08X\r\n\tfor <bob@example.net>; ",
		   rnd_below(256), rnd_below(256), rnd_below(256), rnd());
	rfc5322_date(&b, t + 1);
	buf_printf(&b, "\r\nReceived: from [10.1.%u.%u] (unknown [10.1.%u.%u])\r\n"
		   "\tby smtp-out.example.com (Postfix) with ESMTPSA id %08X;\r\n\t",
		   rnd_below(256), rnd_below(256), rnd_below(256), rnd_below(256), rnd());
	rfc5322_date(&b, t);
	buf_puts(&b, "\r\nFrom: \"Alice Example\" <alice@" DOMAIN ">\r\n"
		     "To: Bob Receiver <bob@example.net>\r\nSubject: ");
	unsigned nw = 3 + rnd_below(6);
	for (unsigned k = 0; k < nw; k++) {
		buf_puts(&b, words[rnd_below(NWORDS)]);
		buf_putc(&b, k + 1 < nw ? ' ' : '\r');
	}
	buf_puts(&b, "\nDate: ");
	rfc5322_date(&b, t);
	buf_printf(&b, "\r\nMessage-ID: <%lu.%08x%08x@" DOMAIN ">\r\n"
		   "MIME-Version: 1.0\r\n"
		   "Content-Type: text/plain; charset=utf-8; format=flowed\r\n"
		   "Content-Transfer-Encoding: 8bit\r\n\r\n",
		   i, rnd(), rnd());
	while (b.len + 2 < size)
		body_line(&b, 76);
	return buf_steal(&b, len_r);
}

/* ---------- keys and the DNS zone ---------- */

static EVP_PKEY *generate_key(enum algo a)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(a == ALGO_RSA ? EVP_PKEY_RSA : EVP_PKEY_ED25519, NULL);
	EVP_PKEY *key = NULL;
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0)
		die_ssl("EVP_PKEY_keygen_init");
	if (a == ALGO_RSA && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) <= 0)
		die_ssl("EVP_PKEY_CTX_set_rsa_keygen_bits");
	if (EVP_PKEY_keygen(ctx, &key) <= 0)
		die_ssl("EVP_PKEY_keygen");
	EVP_PKEY_CTX_free(ctx);
	return key;
}

static char *base64(const unsigned char *p, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

/* "v=DKIM1; k=...; p=..." (RFC 6376 3.6.1, RFC 8463 4.2) */
static char *key_record(EVP_PKEY *key, enum algo a)
{
	unsigned char *der = NULL, raw[32];
	size_t n;
	char *p64;
	if (a == ALGO_RSA) {
		int len = i2d_PUBKEY(key, &der);
		if (len <= 0)
			die_ssl("i2d_PUBKEY");
		p64 = base64(der, (size_t)len);
		OPENSSL_free(der);
	} else {
		n = sizeof raw;
		if (EVP_PKEY_get_raw_public_key(key, raw, &n) <= 0)
			die_ssl("EVP_PKEY_get_raw_public_key");
		p64 = base64(raw, n);
	}
	struct buf b = BUF_INIT(0);
	buf_printf(&b, "v=DKIM1; k=%s; p=%s", a == ALGO_RSA ? "rsa" : "ed25519", p64);
	free(p64);
	return buf_steal(&b, NULL);
}

static void add_txt(struct dns_stub *z, const char *owner, const char *txt)
{
	size_t len = strlen(txt);
	unsigned nstrings = (unsigned)((len + TXT_STRING_MAX - 1) / TXT_STRING_MAX);
	dns_stub_add_txt(z, owner, txt, len, nstrings ? nstrings : 1);
}

/* the zone; *keyrec_r gets the DKIM key record (heap) */
static struct dns_resolver *make_zone(EVP_PKEY *key, enum algo a, char **keyrec_r)
{
	struct dns_stub *z = dns_stub_new();
	char *rec = key_record(key, a);
	add_txt(z, SELECTOR "._domainkey." DOMAIN, rec);
	*keyrec_r = rec;
	add_txt(z, DOMAIN, "v=spf1 ip4:192.0.2.0/24 -all");
	add_txt(z, HELO, "v=spf1 ip4:192.0.2.0/24 -all");
	add_txt(z, "_dmarc." DOMAIN, "v=DMARC1; p=reject");
	struct ipaddr ip;
	ip_parse(CLIENT_IP, &ip);
	dns_stub_add_a(z, HELO, &ip);
	return dns_stub_resolver(z);
}

static struct dkim_signer *make_signer(EVP_PKEY *key)
{
	const char *tmpdir = getenv("TMPDIR");
	char path[4096], err[256];
	snprintf(path, sizeof path, "%s/bench_auth_key_XXXXXX", tmpdir && tmpdir[0] ? tmpdir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp: %s", strerror(errno));
	FILE *f = fdopen(fd, "w");
	if (f == NULL || PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1) {
		unlink(path);
		die_ssl("PEM_write_PrivateKey");
	}
	fclose(f);
	struct dkim_signer *s = dkim_signer_load(path, DOMAIN, SELECTOR, err, sizeof err);
	unlink(path);
	if (s == NULL)
		die("dkim_signer_load: %s", err);
	return s;
}

/* ---------- the corpus ---------- */

struct corpus {
	char **msg;
	size_t *len;
	unsigned long n;
	size_t total;
};

static char *sign_one(const struct dkim_signer *s, unsigned long i, time_t now, size_t size, size_t *len_r,
		      size_t *siglen_r)
{
	size_t ulen;
	char *raw = make_message(i, now, size, &ulen), err[256];
	struct message m;
	if (message_parse(raw, ulen, &m, err, sizeof err) != 0)
		die("message_parse of a generated message: %s", err);
	char *sig = dkim_sign(s, &m, now - 30, err, sizeof err);
	if (sig == NULL)
		die("dkim_sign: %s", err);
	message_free(&m);
	size_t slen = strlen(sig);
	char *out = xmalloc(slen + ulen + 1);
	memcpy(out, sig, slen);
	memcpy(out + slen, raw, ulen);
	out[slen + ulen] = '\0';
	free(sig);
	free(raw);
	*len_r = slen + ulen;
	*siglen_r = slen;
	return out;
}

static void make_corpus(struct corpus *c, const struct dkim_signer *s, unsigned long n, time_t now, size_t size,
			bool corrupt)
{
	c->n = n;
	c->msg = xcalloc(n, sizeof *c->msg);
	c->len = xcalloc(n, sizeof *c->len);
	c->total = 0;
	/* the signature is part of the message: learn its size once and leave room */
	size_t siglen;
	uint64_t saved = rng_state;
	free(sign_one(s, 0, now, size, &c->len[0], &siglen));
	rng_state = saved;
	for (unsigned long i = 0; i < n; i++) {
		size_t sl;
		c->msg[i] = sign_one(s, i, now, size > siglen + BENCH_MIN_SIZE / 2 ? size - siglen : size / 2,
				     &c->len[i], &sl);
		c->total += c->len[i];
		if (corrupt) /* the last body line is text or a URL: change a letter of it */
			c->msg[i][c->len[i] - 4] ^= 0x01;
	}
}

static void free_corpus(struct corpus *c)
{
	for (unsigned long i = 0; i < c->n; i++)
		free(c->msg[i]);
	free(c->msg);
	free(c->len);
}

/* ---------- the pipeline ---------- */

struct pipeline_result {
	unsigned long done, bad;
	double cpu_s, wall_s;
	char first_bad[1024];
};

/* the folded header on one line, for the failure message */
static void unfold(char *s)
{
	char *w = s;
	for (const char *r = s; *r; r++) {
		char ch = *r == '\r' || *r == '\n' || *r == '\t' ? ' ' : *r;
		if (ch != ' ' || (w > s && w[-1] != ' '))
			*w++ = ch;
	}
	*w = '\0';
}

/* true when res and its header say pass for all three */
static bool all_pass(const struct auth_results *res, const char *ar, char *why, size_t whylen)
{
	static const char *const want[] = { "spf=pass", "dkim=pass", "dmarc=pass" };
	if (!res->spf_done || res->spf.result != SPF_PASS || res->ndkim != 1 || res->dkim[0].result != DKIM_PASS ||
	    !res->dmarc_done || res->dmarc.result != DMARC_PASS) {
		snprintf(why, whylen, "results: %s", ar ? ar : "(no header)");
		unfold(why);
		return false;
	}
	for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
		if (ar == NULL || strstr(ar, want[k]) == NULL) {
			snprintf(why, whylen, "no %s in: %s", want[k], ar ? ar : "(no header)");
			unfold(why);
			return false;
		}
	return true;
}

static void run_pipeline(struct dns_resolver *r, const struct corpus *c, unsigned long count, time_t now,
			 struct pipeline_result *pr)
{
	struct auth_opts o;
	memset(&o, 0, sizeof o);
	o.now = now;
	o.authserv_id = AUTHSERV_ID;
	o.receiver = AUTHSERV_ID;
	o.orgmode = DMARC_ORG_TREEWALK;
	struct auth_envelope env;
	memset(&env, 0, sizeof env);
	ip_parse(CLIENT_IP, &env.ip);
	env.have_ip = true;
	env.helo = HELO;
	env.mail_from = "alice@" DOMAIN;

	memset(pr, 0, sizeof *pr);
	double c0 = cpu_now(), w0 = wall_now();
	for (unsigned long i = 0; i < count; i++) {
		const unsigned long k = i % c->n;
		struct message m;
		struct auth_results res;
		char err[900];
		if (message_parse(c->msg[k], c->len[k], &m, err, sizeof err) != 0) {
			if (pr->bad++ == 0)
				snprintf(pr->first_bad, sizeof pr->first_bad, "message %lu: parse: %s", k, err);
			continue;
		}
		auth_check(r, &o, &m, &env, &res);
		char *ar = auth_results_header(&res, &o, "\r\n");
		if (!all_pass(&res, ar, err, sizeof err) && pr->bad++ == 0)
			snprintf(pr->first_bad, sizeof pr->first_bad, "message %lu: %s", k, err);
		free(ar);
		auth_results_free(&res);
		message_free(&m);
	}
	pr->cpu_s = cpu_now() - c0;
	pr->wall_s = wall_now() - w0;
	pr->done = count;
}

/* ---------- the crypto floor ---------- */

struct rate {
	double per_s;
	unsigned long ops;
	double cpu_s;
};

/* runs op until at least min_s of CPU time has passed */
#define TIMED(min_s, rate_r, body)                                              \
	do {                                                                     \
		unsigned long ops_ = 0;                                          \
		double t0_ = cpu_now(), t_;                                      \
		do {                                                             \
			for (int rep_ = 0; rep_ < 64; rep_++) {                  \
				body;                                            \
			}                                                        \
			ops_ += 64;                                              \
			t_ = cpu_now() - t0_;                                    \
		} while (t_ < (min_s));                                          \
		(rate_r)->ops = ops_;                                            \
		(rate_r)->cpu_s = t_;                                            \
		(rate_r)->per_s = (double)ops_ / t_;                             \
	} while (0)

struct floor {
	struct rate rsa_verify;    /* EVP_PKEY_verify on a SHA-256 digest, context reused */
	struct rate rsa_digest;    /* EVP_DigestVerifyInit + EVP_DigestVerify, fresh context */
	struct rate ed_verify;     /* ed25519 over a 32-byte input (RFC 8463: the SHA-256 hash) */
	struct rate sha256_4k;     /* SHA-256 of 4096 bytes, one-shot */
	bool have_ed;
};

static void measure_rsa(EVP_PKEY *key, double min_s, struct floor *f)
{
	unsigned char digest[32], sig[512];
	size_t siglen = sizeof sig;
	const char input[] = "DKIM signed header hash input..."; /* 32 bytes */
	EVP_Digest(input, 32, digest, NULL, EVP_sha256(), NULL);

	EVP_PKEY_CTX *sc = EVP_PKEY_CTX_new(key, NULL);
	if (sc == NULL || EVP_PKEY_sign_init(sc) <= 0 || EVP_PKEY_CTX_set_rsa_padding(sc, RSA_PKCS1_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(sc, EVP_sha256()) <= 0 || EVP_PKEY_sign(sc, sig, &siglen, digest, 32) <= 0)
		die_ssl("RSA sign");
	EVP_PKEY_CTX_free(sc);

	/* the verifier only ever holds the public half, as from DNS */
	unsigned char *der = NULL;
	int dlen = i2d_PUBKEY(key, &der);
	const unsigned char *dp = der;
	EVP_PKEY *pub = d2i_PUBKEY(NULL, &dp, dlen);
	OPENSSL_free(der);
	if (pub == NULL)
		die_ssl("d2i_PUBKEY");

	EVP_PKEY_CTX *vc = EVP_PKEY_CTX_new(pub, NULL);
	if (vc == NULL || EVP_PKEY_verify_init(vc) <= 0 || EVP_PKEY_CTX_set_rsa_padding(vc, RSA_PKCS1_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(vc, EVP_sha256()) <= 0)
		die_ssl("EVP_PKEY_verify_init");
	if (EVP_PKEY_verify(vc, sig, siglen, digest, 32) != 1)
		die_ssl("RSA verify self-check");
	TIMED(min_s, &f->rsa_verify, {
		if (EVP_PKEY_verify(vc, sig, siglen, digest, 32) != 1)
			die_ssl("EVP_PKEY_verify");
	});
	EVP_PKEY_CTX_free(vc);

	/* what a verifier that hashes the 32-byte input itself pays per call */
	TIMED(min_s, &f->rsa_digest, {
		EVP_MD_CTX *mc = EVP_MD_CTX_new();
		if (mc == NULL || EVP_DigestVerifyInit(mc, NULL, EVP_sha256(), NULL, pub) != 1)
			die_ssl("EVP_DigestVerifyInit");
		/* the signature is over the digest of `digest`, so this fails: the
		   cost is identical to a success (the RSA operation always runs) */
		(void)EVP_DigestVerify(mc, sig, siglen, (const unsigned char *)input, 32);
		EVP_MD_CTX_free(mc);
	});
	ERR_clear_error();
	EVP_PKEY_free(pub);
}

static void measure_ed25519(EVP_PKEY *key, double min_s, struct floor *f)
{
	unsigned char sig[64], in[32];
	size_t siglen = sizeof sig;
	memset(in, 0x5a, sizeof in);
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	if (mc == NULL || EVP_DigestSignInit(mc, NULL, NULL, NULL, key) != 1 ||
	    EVP_DigestSign(mc, sig, &siglen, in, sizeof in) != 1)
		die_ssl("ed25519 sign");
	EVP_MD_CTX_free(mc);
	TIMED(min_s, &f->ed_verify, {
		EVP_MD_CTX *vc = EVP_MD_CTX_new();
		if (vc == NULL || EVP_DigestVerifyInit(vc, NULL, NULL, NULL, key) != 1 ||
		    EVP_DigestVerify(vc, sig, siglen, in, sizeof in) != 1)
			die_ssl("ed25519 verify");
		EVP_MD_CTX_free(vc);
	});
	f->have_ed = true;
}

static void measure_sha256(double min_s, struct floor *f)
{
	static unsigned char data[4096];
	unsigned char md[32];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (unsigned char)(i * 131 + 7);
	TIMED(min_s, &f->sha256_4k, {
		if (EVP_Digest(data, sizeof data, md, NULL, EVP_sha256(), NULL) != 1)
			die_ssl("EVP_Digest");
		data[0] ^= md[0];
	});
}

/* OpenSSL's own figure: the last number of the matching line of `openssl speed` */
static double openssl_speed(const char *what, const char *line_has)
{
	if (access("/usr/bin/openssl", X_OK) != 0 && system("command -v openssl >/dev/null 2>&1") != 0)
		return -1;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "openssl speed -seconds 2 %s 2>/dev/null", what);
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	char line[512];
	double v = -1;
	while (fgets(line, sizeof line, p)) {
		if (strstr(line, line_has) == NULL || strstr(line, "verify/s") != NULL)
			continue;
		/* "rsa 2048 bits 0.000661s 0.000019s 1512.3 51872.0": verify/s last */
		char *end = line + strlen(line);
		while (end > line && (end[-1] == '\n' || end[-1] == ' '))
			*--end = '\0';
		char *last = strrchr(line, ' ');
		if (last != NULL) {
			char *e;
			double d = strtod(last + 1, &e);
			if (e != last + 1 && *e == '\0')
				v = d;
		}
	}
	pclose(p);
	return v;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_auth [--messages N] [--size BYTES] [--algo rsa|ed25519] [--pool N]\n"
		   "                  [--openssl-speed | --no-openssl-speed] [--no-floor]\n"
		   "  --messages N   messages to check (default %d)\n"
		   "  --size BYTES   size of each signed message (default %d)\n"
		   "  --algo A       signing key: rsa (RSA-2048, default) or ed25519\n"
		   "  --pool N       distinct messages generated and cycled (default %d, at most --messages)\n"
		   "  --openssl-speed / --no-openssl-speed\n"
		   "                 run `openssl speed` for comparison (default: only with >= %d messages)\n"
		   "  --no-floor     skip the crypto floor (to profile the pipeline alone)\n"
		   "  --corrupt      change one body byte after signing (tests that the check can fail)\n"
		   "Exits 0 when every message gave spf=pass, dkim=pass, dmarc=pass; 1 otherwise.\n",
		BENCH_DEFAULT_MESSAGES, BENCH_DEFAULT_SIZE, BENCH_DEFAULT_POOL, BENCH_SPEED_MIN_MESSAGES);
}

static unsigned long parse_count(const char *s, const char *what, unsigned long min, unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "bench_auth: %s: need a number from %lu to %lu, got \"%s\"\n", what, min, max, s);
		exit(2);
	}
	return v;
}

static void parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "messages", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "algo", required_argument, NULL, 'a' },
		{ "pool", required_argument, NULL, 'p' },
		{ "openssl-speed", no_argument, NULL, 'O' },
		{ "no-openssl-speed", no_argument, NULL, 'N' },
		{ "no-floor", no_argument, NULL, 'F' },
		{ "corrupt", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	memset(o, 0, sizeof *o);
	o->messages = BENCH_DEFAULT_MESSAGES;
	o->size = BENCH_DEFAULT_SIZE;
	o->pool = BENCH_DEFAULT_POOL;
	o->algo = ALGO_RSA;
	o->openssl_speed = -1;
	o->floor = true;
	int c;
	while ((c = getopt_long(argc, argv, "n:s:a:p:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': o->messages = parse_count(optarg, "--messages", 1, 100000000UL); break;
		case 's': o->size = parse_count(optarg, "--size", BENCH_MIN_SIZE, BENCH_MAX_SIZE); break;
		case 'p': o->pool = parse_count(optarg, "--pool", 1, 1000000UL); break;
		case 'O': o->openssl_speed = 1; break;
		case 'N': o->openssl_speed = 0; break;
		case 'F': o->floor = false; break;
		case 'C': o->corrupt = true; break;
		case 'a':
			if (strcmp(optarg, "rsa") == 0)
				o->algo = ALGO_RSA;
			else if (strcmp(optarg, "ed25519") == 0)
				o->algo = ALGO_ED25519;
			else
				die("--algo: \"%s\" is neither rsa nor ed25519", optarg);
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
	if (o->pool > o->messages)
		o->pool = o->messages;
	if (o->openssl_speed < 0)
		o->openssl_speed = o->messages >= BENCH_SPEED_MIN_MESSAGES;
	if (!o->floor)
		o->openssl_speed = 0;
}

/* ---------- where the time goes ---------- */

enum stage {
	ST_PARSE, ST_SPF, ST_SPF_HELO, ST_DKIM, ST_ARC, ST_DMARC, ST_HEADER, ST_COUNT,
	/* parts of dkim_verify, shown indented and not summed */
	ST_KEY = ST_COUNT, ST_BODYHASH, ST_BODYSHA, ST_ALL
};
static const char *const stage_name[ST_ALL] = {
	"message_parse + message_free", "spf_check (MAIL FROM)", "spf_check_helo", "dkim_verify",
	"arc_verify (no ARC headers)", "dmarc_evaluate", "auth_results_header",
	"  of which dkim_key_parse (TXT -> EVP_PKEY)", "  of which body: relaxed canon + SHA-256",
	"  (SHA-256 of the same body, no canon)",
};

/*
 * Each stage alone, in its own loop over the parsed corpus, timed in CPU
 * seconds per call. The sum is close to the pipeline's cost; the difference
 * is what auth_check adds around the calls (From parsing, copying).
 */
static void run_stages(struct dns_resolver *r, const struct corpus *c, const char *keyrec, unsigned long count,
		       time_t now, double us_r[ST_ALL])
{
	char err[256];
	struct message *m = xcalloc(c->n, sizeof *m);
	for (unsigned long k = 0; k < c->n; k++)
		if (message_parse(c->msg[k], c->len[k], &m[k], err, sizeof err) != 0)
			die("message_parse: %s", err);
	struct spf_request req = { .helo = HELO, .mail_from = "alice@" DOMAIN, .receiver = AUTHSERV_ID, .now = now };
	ip_parse(CLIENT_IP, &req.ip);
	struct dkim_verify_opts dko = { .now = now };
	struct arc_verify_opts ao = { .now = now };
	struct dmarc_auth_dkim dk = { .domain = DOMAIN, .pass = true };
	struct dmarc_input din = { .from_domain = DOMAIN, .spf_domain = DOMAIN, .spf_pass = true, .dkim = &dk, .ndkim = 1 };
	struct dmarc_opts dmo = { .orgmode = DMARC_ORG_TREEWALK };
	struct auth_opts o = { .now = now, .authserv_id = AUTHSERV_ID, .receiver = AUTHSERV_ID };
	struct auth_envelope env = { .have_ip = true, .helo = HELO, .mail_from = "alice@" DOMAIN };
	env.ip = req.ip;
	struct auth_results res;
	auth_check(r, &o, &m[0], &env, &res); /* a typical result to render */

	for (int st = 0; st < ST_ALL; st++) {
		double t0 = cpu_now();
		for (unsigned long i = 0; i < count; i++) {
			const unsigned long k = i % c->n;
			switch (st) {
			case ST_PARSE: {
				struct message tmp;
				if (message_parse(c->msg[k], c->len[k], &tmp, err, sizeof err) == 0)
					message_free(&tmp);
				break;
			}
			case ST_SPF:
			case ST_SPF_HELO: {
				struct spf_response sr;
				if (st == ST_SPF)
					spf_check(r, &req, &sr);
				else
					spf_check_helo(r, &req, &sr);
				spf_response_free(&sr);
				break;
			}
			case ST_DKIM: {
				struct dkim_sig_result *dr;
				size_t n;
				dkim_verify(r, &m[k], &dko, &dr, &n);
				free(dr);
				break;
			}
			case ST_ARC: {
				struct arc_response ar;
				arc_verify(r, &m[k], &ao, &ar);
				break;
			}
			case ST_DMARC: {
				struct dmarc_response dr;
				dmarc_evaluate(r, &din, &dmo, &dr);
				break;
			}
			case ST_HEADER:
				free(auth_results_header(&res, &o, "\r\n"));
				break;
			case ST_KEY: {
				struct dkim_key key;
				if (dkim_key_parse(keyrec, strlen(keyrec), &key, err, sizeof err) == DKIM_KEY_OK)
					dkim_key_free(&key);
				break;
			}
			case ST_BODYHASH: {
				struct dkim_bodyhash bh;
				unsigned char md[EVP_MAX_MD_SIZE];
				unsigned mdlen;
				long long total;
				dkim_bodyhash_init(&bh, DKIM_CANON_RELAXED, EVP_sha256(), -1);
				dkim_bodyhash_update(&bh, m[k].body, m[k].body_len);
				dkim_bodyhash_final(&bh, md, &mdlen, &total);
				break;
			}
			case ST_BODYSHA: {
				unsigned char md[EVP_MAX_MD_SIZE];
				EVP_Digest(m[k].body, m[k].body_len, md, NULL, EVP_sha256(), NULL);
				break;
			}
			}
		}
		us_r[st] = (cpu_now() - t0) * 1e6 / (double)count;
	}
	auth_results_free(&res);
	for (unsigned long k = 0; k < c->n; k++)
		message_free(&m[k]);
	free(m);
}

/* ---------- main ---------- */

static void row(const char *what, double per_s)
{
	if (per_s > 0)
		printf("  %-46s %12.0f %12.2f\n", what, per_s, 1e6 / per_s);
	else
		printf("  %-46s %12s %12s\n", what, "-", "-");
}

int main(int argc, char **argv)
{
	struct options opt;
	parse_args(argc, argv, &opt);
	const bool rsa = opt.algo == ALGO_RSA;
	const time_t now = time(NULL);

	/* the corpus: the signing key, a pool of signed messages, the zone */
	double g0 = wall_now();
	EVP_PKEY *key = generate_key(opt.algo);
	/* the RSA floor is always measured, so an ed25519 run needs an RSA key too */
	EVP_PKEY *rsakey = rsa ? key : generate_key(ALGO_RSA);
	struct dkim_signer *signer = make_signer(key);
	char *keyrec;
	struct dns_resolver *r = make_zone(key, opt.algo, &keyrec);
	struct corpus c;
	make_corpus(&c, signer, opt.pool, now, opt.size, opt.corrupt);
	dkim_signer_free(&signer);
	double gen_s = wall_now() - g0;
	long rss_corpus = peak_rss_kb();

	/* an untimed pass warms caches and checks the whole pool */
	struct pipeline_result warm, pr;
	run_pipeline(r, &c, c.n, now, &warm);
	run_pipeline(r, &c, opt.messages, now, &pr);
	long rss_peak = peak_rss_kb();
	const bool ok = pr.bad == 0 && warm.bad == 0;

	/* the floor, on the same keys, in the same process */
	const bool smoke = opt.messages < BENCH_SPEED_MIN_MESSAGES;
	double min_s = smoke ? 0.05 : 1.0;
	struct floor fl;
	memset(&fl, 0, sizeof fl);
	double stage_us[ST_ALL] = { 0 };
	if (opt.floor) {
		measure_rsa(rsakey, min_s, &fl);
		if (!rsa)
			measure_ed25519(key, min_s, &fl);
		measure_sha256(min_s, &fl);
		run_stages(r, &c, keyrec, opt.messages < 5000 ? opt.messages : 5000, now, stage_us);
	}
	double ossl_rsa = -1, ossl_ed = -1;
	if (opt.openssl_speed) {
		ossl_rsa = openssl_speed("rsa2048", "rsa 2048");
		if (!rsa)
			ossl_ed = openssl_speed("ed25519", "Ed25519");
	}

	double msgs_s = pr.cpu_s > 0 ? (double)pr.done / pr.cpu_s : 0;
	double us_msg = pr.done ? pr.cpu_s * 1e6 / (double)pr.done : 0;
	double floor_s = rsa ? fl.rsa_verify.per_s : fl.ed_verify.per_s;
	double ratio = floor_s > 0 ? msgs_s / floor_s : 0;

	printf("bench_auth: SPF + DKIM + ARC + DMARC + Authentication-Results, one thread, stub DNS\n");
	printf("  corpus: %lu distinct messages cycled, %s, average %.0f bytes, built in %.1f s\n", c.n,
	       rsa ? "rsa-sha256 (RSA-2048)" : "ed25519-sha256", (double)c.total / (double)c.n, gen_s);
	printf("\n  %-46s %12s %12s\n", "measure (CPU time of this process)", "per second", "us each");
	printf("  %-46s %12s %12s\n", "----------------------------------------------", "----------", "-------");
	row("pipeline: parse, auth_check, AR header, free", msgs_s);
	row("pipeline, wall clock", pr.wall_s > 0 ? (double)pr.done / pr.wall_s : 0);
	if (opt.floor) {
		row("RSA-2048 verify (EVP_PKEY_verify, digest)", fl.rsa_verify.per_s);
		row("RSA-2048 verify (EVP_DigestVerify, new ctx)", fl.rsa_digest.per_s);
		if (fl.have_ed)
			row("ed25519 verify (EVP_DigestVerify, new ctx)", fl.ed_verify.per_s);
		row("SHA-256 of 4096 bytes", fl.sha256_4k.per_s);
		printf("  %-46s %12.0f MB/s\n", "SHA-256 throughput", fl.sha256_4k.per_s * 4096.0 / 1e6);
	}
	if (opt.openssl_speed) {
		row("`openssl speed -seconds 2 rsa2048` verify", ossl_rsa);
		if (!rsa)
			row("`openssl speed -seconds 2 ed25519` verify", ossl_ed);
	} else {
		printf("  %-46s %12s\n", "`openssl speed`", "skipped");
	}
	if (opt.floor) {
		printf("\n  %-46s %12s %12s\n", "stage alone (same corpus)", "us each", "% of msg");
		double sum = 0;
		for (int st = 0; st < ST_COUNT; st++) {
			printf("  %-46s %12.2f %11.1f%%\n", stage_name[st], stage_us[st],
			       us_msg > 0 ? 100 * stage_us[st] / us_msg : 0);
			sum += stage_us[st];
		}
		printf("  %-46s %12.2f %11.1f%%\n", "sum of stages", sum, us_msg > 0 ? 100 * sum / us_msg : 0);
		for (int st = ST_COUNT; st < ST_ALL; st++)
			printf("  %-46s %12.2f %11.1f%%\n", stage_name[st], stage_us[st],
			       us_msg > 0 ? 100 * stage_us[st] / us_msg : 0);
	}
	printf("\n  messages checked   %lu (%.2f s CPU, %.2f s wall)\n", pr.done, pr.cpu_s, pr.wall_s);
	printf("  peak RSS           %ld KB (%ld KB after building the corpus)\n", rss_peak, rss_corpus);
	if (opt.floor)
		printf("  ratio              pipeline msgs/s / pure %s verify/s = %.1f%%  (goal >= %.0f%%: %s)\n",
		       rsa ? "RSA-2048" : "ed25519", ratio * 100, BENCH_RATIO_GOAL * 100,
		       ratio >= BENCH_RATIO_GOAL ? "met" : "not met");
	if (ok)
		printf("  result check       all %lu messages spf=pass dkim=pass dmarc=pass\n", pr.done + warm.done);
	else
		printf("  RESULT CHECK FAILED: %lu of %lu messages not spf/dkim/dmarc=pass; first: %s\n",
		       pr.bad + warm.bad, pr.done + warm.done, warm.bad ? warm.first_bad : pr.first_bad);

	printf("bench_auth: messages=%lu size=%zu algo=%s msgs_per_s=%.0f us_per_msg=%.2f rsa_verify_per_s=%.0f",
	       pr.done, opt.size, rsa ? "rsa" : "ed25519", msgs_s, us_msg, fl.rsa_verify.per_s);
	if (fl.have_ed)
		printf(" ed25519_verify_per_s=%.0f", fl.ed_verify.per_s);
	printf(" sha256_4k_per_s=%.0f openssl_rsa_verify_per_s=%.0f ratio=%.3f peak_rss_kb=%ld result=%s\n",
	       fl.sha256_4k.per_s, ossl_rsa, ratio, rss_peak, ok ? "ok" : "FAIL");

	free_corpus(&c);
	free(keyrec);
	dns_resolver_free(&r);
	if (rsakey != key)
		EVP_PKEY_free(rsakey);
	EVP_PKEY_free(key);
	return ok ? 0 : 1;
}
