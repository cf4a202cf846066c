/*
 * bench_milter: the cost of mamorid in front of a real Postfix, measured over
 * SMTP. Two modes, driven by bench/milter.sh:
 *
 *   bench_milter gen DIR [--messages N] [--domains K] [--seed S]
 *       writes a corpus: DIR/corpus (records "MSG <envelope-from> <len>\n"
 *       followed by len bytes of CRLF message, already dot-stuffed), one
 *       RSA-2048 key per signing domain (DIR/d<i>.pem) and DIR/zone.db with
 *       the SPF, DKIM, DMARC, A and MX records of every sender domain, for
 *       mamorid's stub resolver. Half of the K sender domains sign (their
 *       messages carry a DKIM-Signature made by mamori's own signer); sizes
 *       follow a mix seen in real inbound mail (most 2-8 KB, some 8-40 KB,
 *       a tail of 40-200 KB with base64 "attachments").
 *
 *   bench_milter send DIR --server HOST:PORT [--concurrency C]
 *                [--per-conn M] [--label NAME] [--limit N]
 *       sends every message of DIR/corpus over SMTP from C client threads,
 *       each connection carrying up to M messages (default 1: inbound MX
 *       traffic is mostly one message per connection). Measures, per
 *       message, the time from writing the end of DATA (CRLF.CRLF) to
 *       reading the server's reply, and the run's wall time. Prints
 *       messages/s and the latency p50/p90/p99/max, and one machine-readable
 *       line "RESULT label n ok fail msgs_per_s p50_ms p99_ms". Exits 1
 *       when any message did not get a 250 (the CTest smoke check); timing
 *       never decides the exit status.
 *
 * Only loopback servers are meant: the server address must be 127.0.0.0/8.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "bench_common.h"
#include "auth/dkim.h"
#include "auth/message.h"
#include "core/mem.h"

#define GEN_DEFAULT_MESSAGES 2000
#define GEN_DEFAULT_DOMAINS 8
#define GEN_MAX_MESSAGES 1000000
#define GEN_MAX_DOMAINS 64
#define TXT_STRING_MAX 255 /* RFC 1035 3.3: one character-string */
#define SMTP_LINE_MAX 1000 /* RFC 5321 4.5.3.1.5 */
#define SMTP_TIMEOUT_S 120
#define SEND_MAX_CONCURRENCY 256
#define CORPUS_MAX_MESSAGE (4 * 1024 * 1024)
#define BENCH_RCPT "rcpt@example.net"
#define BENCH_HELO "bench-client.test"
#define SELECTOR "s1"

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("bench_milter: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* ---------- generator ---------- */

/* xorshift64*: deterministic across runs for one seed */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}
static unsigned rnd_below(unsigned n)
{
	return (unsigned)(rnd() % n);
}

static const char *const words[] = {
    "the",      "meeting", "invoice",  "quarterly", "report",  "attached", "please",   "review",   "schedule",
    "project",  "update",  "customer", "delivery",  "thanks",  "regards",  "tomorrow", "budget",   "team",
    "shipment", "order",   "contract", "draft",     "summary", "agenda",   "deadline", "approval", "status",
    "network",  "server",  "release",  "notes",     "minutes", "office",   "travel",   "expenses", "question",
};
#define NWORDS (sizeof words / sizeof words[0])

struct sbuf {
	char *d;
	size_t len, cap;
};
static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->d = xrealloc(b->d, cap);
		b->cap = cap;
	}
	memcpy(b->d + b->len, s, n);
	b->len += n;
	b->d[b->len] = '\0';
}
static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp)
		die("sb_printf: line too long");
	sb_add(b, tmp, (size_t)n);
}

/* a message size drawn from the mix described at the top */
static size_t pick_size(void)
{
	unsigned r = rnd_below(100);
	if (r < 60)
		return 2048 + rnd_below(6 * 1024);
	if (r < 90)
		return 8192 + rnd_below(32 * 1024);
	return 40960 + rnd_below(160 * 1024);
}

/* text lines of words, about n bytes, no line starting with '.' */
static void add_text(struct sbuf *b, size_t n)
{
	size_t start = b->len;
	while (b->len - start < n) {
		size_t col = 0;
		while (col < 66) {
			const char *w = words[rnd_below(NWORDS)];
			if (col)
				sb_add(b, " ", 1), col++;
			sb_add(b, w, strlen(w));
			col += strlen(w);
		}
		sb_add(b, ".\r\n", 3);
	}
}

static void add_base64ish(struct sbuf *b, size_t n)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char line[78];
	size_t start = b->len;
	while (b->len - start < n) {
		for (int i = 0; i < 76; i++)
			line[i] = b64[rnd_below(64)];
		line[76] = '\r';
		line[77] = '\n';
		sb_add(b, line, sizeof line);
	}
}

/* one unsigned message from domain dom */
static char *make_message(unsigned long seq, const char *dom, time_t now, size_t size, size_t *len_r)
{
	struct sbuf b = {0};
	char date[64];
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	unsigned user = rnd_below(50);
	sb_printf(&b, "From: \"Sender %u\" <user%u@%s>\r\n", user, user, dom);
	sb_printf(&b, "To: <%s>\r\n", BENCH_RCPT);
	sb_printf(&b, "Subject: %s %s %s (bench %lu)\r\n", words[rnd_below(NWORDS)], words[rnd_below(NWORDS)],
	          words[rnd_below(NWORDS)], seq);
	sb_printf(&b, "Date: %s\r\n", date);
	sb_printf(&b, "Message-ID: <bench.%lu.%llx@%s>\r\n", seq, (unsigned long long)rnd(), dom);
	sb_printf(&b, "MIME-Version: 1.0\r\n");
	sb_printf(&b, "X-Bench-Seq: %lu\r\n", seq);
	if (size < 8192) {
		sb_printf(&b, "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
		add_text(&b, size > b.len ? size - b.len : 64);
	} else {
		sb_printf(&b, "Content-Type: multipart/mixed; boundary=\"=_bench_%lu\"\r\n\r\n", seq);
		sb_printf(&b, "--=_bench_%lu\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", seq);
		add_text(&b, 1500);
		sb_printf(&b,
		          "--=_bench_%lu\r\nContent-Type: application/pdf; name=\"doc%lu.pdf\"\r\n"
		          "Content-Transfer-Encoding: base64\r\n"
		          "Content-Disposition: attachment; filename=\"doc%lu.pdf\"\r\n\r\n",
		          seq, seq, seq);
		add_base64ish(&b, size > b.len + 64 ? size - b.len - 64 : 64);
		sb_printf(&b, "--=_bench_%lu--\r\n", seq);
	}
	*len_r = b.len;
	return b.d;
}

/* key pair: private key to path, public key as the base64 of its DER */
static char *make_key(const char *path)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	if (key == NULL)
		die("RSA key generation failed");
	FILE *f = fopen(path, "w");
	if (f == NULL || PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1 || fclose(f) != 0)
		die("writing %s", path);
	unsigned char *der = NULL;
	int dlen = i2d_PUBKEY(key, &der);
	if (dlen <= 0)
		die("i2d_PUBKEY failed");
	char *b64 = xmalloc(4 * ((size_t)dlen / 3 + 1) + 1);
	EVP_EncodeBlock((unsigned char *)b64, der, dlen);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
	return b64;
}

/* TXT rdata as quoted strings of at most 255 bytes */
static void zone_txt(FILE *z, const char *owner, const char *txt)
{
	fprintf(z, "%s TXT (", owner);
	size_t n = strlen(txt);
	for (size_t off = 0; off < n; off += TXT_STRING_MAX)
		fprintf(z, " \"%.*s\"", (int)(n - off < TXT_STRING_MAX ? n - off : TXT_STRING_MAX), txt + off);
	fprintf(z, " )\n");
}

static int cmd_gen(int argc, char **argv)
{
	const char *dir = NULL;
	unsigned long n = GEN_DEFAULT_MESSAGES;
	unsigned ndom = GEN_DEFAULT_DOMAINS;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc)
			n = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--domains") == 0 && i + 1 < argc)
			ndom = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			rng_state = strtoull(argv[++i], NULL, 10) * 0x9e3779b97f4a7c15ULL + 1;
		else if (argv[i][0] != '-' && dir == NULL)
			dir = argv[i];
		else
			die("gen: unknown argument %s", argv[i]);
	}
	if (dir == NULL || n == 0 || n > GEN_MAX_MESSAGES || ndom < 2 || ndom > GEN_MAX_DOMAINS)
		die("usage: bench_milter gen DIR [--messages 1..%d] [--domains 2..%d] [--seed S]", GEN_MAX_MESSAGES,
		    GEN_MAX_DOMAINS);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		die("mkdir %s: %s", dir, strerror(errno));

	char path[4096], dom[64], owner[128], err[256];
	snprintf(path, sizeof path, "%s/zone.db", dir);
	FILE *z = fopen(path, "w");
	if (z == NULL)
		die("%s: %s", path, strerror(errno));
	fprintf(z, "$TTL 3600\n");
	fprintf(z, "%s. A 127.0.0.1\n", BENCH_HELO);
	zone_txt(z, BENCH_HELO ".", "v=spf1 ip4:127.0.0.1 -all");
	struct dkim_signer *signer[GEN_MAX_DOMAINS] = {0};
	static const char *const policy[] = {"reject", "quarantine", "none"};
	for (unsigned d = 0; d < ndom; d++) {
		snprintf(dom, sizeof dom, "d%u.bench.test", d);
		fprintf(z, "%s. A 127.0.0.1\n%s. MX 10 mx.%s.\nmx.%s. A 127.0.0.1\n", dom, dom, dom, dom);
		snprintf(owner, sizeof owner, "%s.", dom);
		zone_txt(z, owner, d % 3 == 2 ? "v=spf1 ip4:127.0.0.0/8 ~all" : "v=spf1 ip4:127.0.0.1 -all");
		snprintf(owner, sizeof owner, "_dmarc.%s.", dom);
		char rec[128];
		snprintf(rec, sizeof rec, "v=DMARC1; p=%s; rua=mailto:dmarc@%s", policy[d % 3], dom);
		zone_txt(z, owner, rec);
		if (d % 2 == 0) { /* the even domains sign */
			snprintf(path, sizeof path, "%s/d%u.pem", dir, d);
			char *pub = make_key(path);
			char txt[1024];
			snprintf(txt, sizeof txt, "v=DKIM1; k=rsa; p=%s", pub);
			free(pub);
			snprintf(owner, sizeof owner, "%s._domainkey.%s.", SELECTOR, dom);
			zone_txt(z, owner, txt);
			signer[d] = dkim_signer_load(path, dom, SELECTOR, err, sizeof err);
			if (signer[d] == NULL)
				die("dkim_signer_load %s: %s", path, err);
		}
	}
	if (fclose(z) != 0)
		die("writing zone.db");

	snprintf(path, sizeof path, "%s/corpus", dir);
	FILE *c = fopen(path, "w");
	if (c == NULL)
		die("%s: %s", path, strerror(errno));
	time_t now = time(NULL);
	unsigned long nsigned = 0;
	size_t total = 0;
	for (unsigned long i = 0; i < n; i++) {
		unsigned d = rnd_below(ndom);
		snprintf(dom, sizeof dom, "d%u.bench.test", d);
		size_t len;
		char *raw = make_message(i, dom, now, pick_size(), &len);
		char *sig = NULL;
		if (signer[d] != NULL) {
			struct message m;
			if (message_parse(raw, len, &m, err, sizeof err) != 0)
				die("message_parse: %s", err);
			sig = dkim_sign(signer[d], &m, now - 60, err, sizeof err);
			if (sig == NULL)
				die("dkim_sign: %s", err);
			message_free(&m);
			nsigned++;
		}
		size_t slen = sig ? strlen(sig) : 0;
		fprintf(c, "MSG user%lu@%s %zu\n", i % 50, dom, slen + len);
		if (slen)
			fwrite(sig, 1, slen, c);
		fwrite(raw, 1, len, c);
		total += slen + len;
		free(sig);
		free(raw);
	}
	if (fclose(c) != 0)
		die("writing corpus");
	for (unsigned d = 0; d < ndom; d++)
		dkim_signer_free(&signer[d]);
	printf("corpus: %lu messages (%lu DKIM-signed) from %u domains, %.1f MB, mean %.1f KB, in %s\n", n, nsigned,
	       ndom, (double)total / 1e6, (double)total / (double)n / 1024.0, dir);
	return 0;
}

/* ---------- sender ---------- */

struct cmsg {
	char *from;
	char *data; /* message + ".\r\n" */
	size_t len;
};

static struct cmsg *load_corpus(const char *dir, unsigned long *n_r)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/corpus", dir);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		die("%s: %s (run 'bench_milter gen' first)", path, strerror(errno));
	struct cmsg *v = NULL;
	unsigned long n = 0, cap = 0;
	char line[512];
	while (fgets(line, sizeof line, f) != NULL) {
		char from[256];
		size_t len;
		if (sscanf(line, "MSG %255s %zu", from, &len) != 2 || len == 0 || len > CORPUS_MAX_MESSAGE)
			die("%s: bad record header after message %lu", path, n);
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[n].from = xstrdup(from);
		v[n].data = xmalloc(len + 3);
		if (fread(v[n].data, 1, len, f) != len)
			die("%s: message %lu truncated", path, n);
		memcpy(v[n].data + len, ".\r\n", 3);
		v[n].len = len + 3;
		n++;
	}
	fclose(f);
	if (n == 0)
		die("%s: empty corpus", path);
	*n_r = n;
	return v;
}

struct conn {
	int fd;
	char buf[4096];
	size_t have, off;
};

static bool write_all(int fd, const char *d, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, d, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		d += w;
		n -= (size_t)w;
	}
	return true;
}

/* reads one reply (possibly multi-line); returns its code, 0 on I/O error;
   the last line's text in last */
static int read_reply(struct conn *c, char *last, size_t lastlen)
{
	char line[SMTP_LINE_MAX + 1];
	for (;;) {
		size_t ll = 0;
		for (;;) {
			if (c->off == c->have) {
				ssize_t r = recv(c->fd, c->buf, sizeof c->buf, 0);
				if (r < 0 && errno == EINTR)
					continue;
				if (r <= 0)
					return 0;
				c->have = (size_t)r;
				c->off = 0;
			}
			char ch = c->buf[c->off++];
			if (ch == '\n')
				break;
			if (ll < SMTP_LINE_MAX)
				line[ll++] = ch;
		}
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		line[ll] = '\0';
		if (ll < 3)
			return 0;
		if (ll == 3 || line[3] == ' ') {
			snprintf(last, lastlen, "%s", line);
			return atoi(line);
		}
	}
}

static int cmd(struct conn *c, const char *line, char *last, size_t lastlen)
{
	if (!write_all(c->fd, line, strlen(line)))
		return 0;
	return read_reply(c, last, lastlen);
}

struct send_ctx {
	struct sockaddr_in addr;
	struct cmsg *msgs;
	unsigned long n;
	unsigned per_conn;
	unsigned long next; /* atomic */
	double *lat;        /* seconds per message; -1: failed */
	pthread_mutex_t err_lock;
	unsigned long nerr_printed;
};

static void report_failure(struct send_ctx *s, unsigned long i, const char *what)
{
	pthread_mutex_lock(&s->err_lock);
	if (s->nerr_printed++ < 5)
		fprintf(stderr, "bench_milter: message %lu: %s\n", i, what);
	pthread_mutex_unlock(&s->err_lock);
}

static bool smtp_open(struct send_ctx *s, struct conn *c, char *last, size_t lastlen)
{
	c->have = c->off = 0;
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0)
		return false;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct timeval tv = {.tv_sec = SMTP_TIMEOUT_S};
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(c->fd, (struct sockaddr *)&s->addr, sizeof s->addr) != 0) {
		snprintf(last, lastlen, "connect: %s", strerror(errno));
		close(c->fd);
		return false;
	}
	if (read_reply(c, last, lastlen) != 220 || cmd(c, "EHLO " BENCH_HELO "\r\n", last, lastlen) != 250) {
		close(c->fd);
		return false;
	}
	return true;
}

static void *sender(void *arg)
{
	struct send_ctx *s = arg;
	char last[SMTP_LINE_MAX + 1], line[600];
	struct conn c;
	for (;;) {
		unsigned long i = __atomic_fetch_add(&s->next, 1, __ATOMIC_RELAXED);
		if (i >= s->n)
			break;
		if (!smtp_open(s, &c, last, sizeof last)) {
			s->lat[i] = -1;
			report_failure(s, i, last);
			continue;
		}
		for (unsigned k = 0;; k++) {
			struct cmsg *m = &s->msgs[i];
			snprintf(line, sizeof line, "MAIL FROM:<%s>\r\n", m->from);
			int code = cmd(&c, line, last, sizeof last);
			if (code == 250)
				code = cmd(&c, "RCPT TO:<" BENCH_RCPT ">\r\n", last, sizeof last);
			if (code == 250)
				code = cmd(&c, "DATA\r\n", last, sizeof last);
			if (code == 354) {
				/* everything but the final ".\r\n", then the clock */
				if (!write_all(c.fd, m->data, m->len - 3)) {
					code = 0;
				} else {
					double t0 = wall_now();
					code = cmd(&c, ".\r\n", last, sizeof last);
					if (code == 250)
						s->lat[i] = wall_now() - t0;
				}
			}
			if (code != 250) {
				s->lat[i] = -1;
				report_failure(s, i, code ? last : "connection lost");
				if (code != 0)
					cmd(&c, "RSET\r\n", last, sizeof last);
				else
					break;
			}
			if (k + 1 >= s->per_conn)
				break;
			i = __atomic_fetch_add(&s->next, 1, __ATOMIC_RELAXED);
			if (i >= s->n)
				break;
		}
		cmd(&c, "QUIT\r\n", last, sizeof last);
		close(c.fd);
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(const double *sorted, unsigned long n, double p)
{
	if (n == 0)
		return 0;
	unsigned long k = (unsigned long)(p * (double)(n - 1) + 0.5);
	return sorted[k];
}

static int cmd_send(int argc, char **argv)
{
	const char *dir = NULL, *server = NULL, *label = "run";
	unsigned conc = 8, per_conn = 1;
	unsigned long limit = 0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc)
			limit = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
			server = argv[++i];
		else if (strcmp(argv[i], "--concurrency") == 0 && i + 1 < argc)
			conc = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--per-conn") == 0 && i + 1 < argc)
			per_conn = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--label") == 0 && i + 1 < argc)
			label = argv[++i];
		else if (argv[i][0] != '-' && dir == NULL)
			dir = argv[i];
		else
			die("send: unknown argument %s", argv[i]);
	}
	if (dir == NULL || server == NULL || conc == 0 || conc > SEND_MAX_CONCURRENCY || per_conn == 0)
		die("usage: bench_milter send DIR --server 127.0.0.1:PORT [--concurrency 1..%d] [--per-conn M] "
		    "[--label NAME] [--limit N]",
		    SEND_MAX_CONCURRENCY);
	struct send_ctx s = {0};
	char host[64];
	unsigned port;
	if (sscanf(server, "%63[^:]:%u", host, &port) != 2 || port == 0 || port > 65535 ||
	    inet_pton(AF_INET, host, &s.addr.sin_addr) != 1)
		die("--server: want IPV4:PORT, got %s", server);
	if ((ntohl(s.addr.sin_addr.s_addr) >> 24) != 127)
		die("--server: only loopback (127.0.0.0/8) servers are benchmarked");
	s.addr.sin_family = AF_INET;
	s.addr.sin_port = htons((uint16_t)port);
	s.msgs = load_corpus(dir, &s.n);
	unsigned long loaded = s.n;
	if (limit > 0 && limit < s.n)
		s.n = limit;
	s.per_conn = per_conn;
	s.lat = xcalloc(s.n, sizeof *s.lat);
	pthread_mutex_init(&s.err_lock, NULL);

	pthread_t *th = xcalloc(conc, sizeof *th);
	double t0 = wall_now();
	for (unsigned k = 0; k < conc; k++)
		if (pthread_create(&th[k], NULL, sender, &s) != 0)
			die("pthread_create failed");
	for (unsigned k = 0; k < conc; k++)
		pthread_join(th[k], NULL);
	double wall = wall_now() - t0;

	double *ok = xcalloc(s.n, sizeof *ok);
	unsigned long nok = 0;
	size_t bytes = 0;
	for (unsigned long i = 0; i < s.n; i++) {
		if (s.lat[i] >= 0)
			ok[nok++] = s.lat[i];
		bytes += s.msgs[i].len;
	}
	qsort(ok, nok, sizeof *ok, cmp_double);
	double rate = (double)nok / wall;
	printf("%s: %lu messages (%.1f MB), %u clients, %u per connection: %lu got 250, %lu failed\n", label, s.n,
	       (double)bytes / 1e6, conc, per_conn, nok, s.n - nok);
	printf("%s: %.0f messages/s over %.2f s wall\n", label, rate, wall);
	printf("%s: end-of-DATA -> reply latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", label,
	       pct(ok, nok, 0.50) * 1e3, pct(ok, nok, 0.90) * 1e3, pct(ok, nok, 0.99) * 1e3,
	       nok ? ok[nok - 1] * 1e3 : 0.0);
	printf("RESULT %s %lu %lu %lu %.1f %.3f %.3f\n", label, s.n, nok, s.n - nok, rate, pct(ok, nok, 0.50) * 1e3,
	       pct(ok, nok, 0.99) * 1e3);
	for (unsigned long i = 0; i < loaded; i++) {
		free(s.msgs[i].from);
		free(s.msgs[i].data);
	}
	free(s.msgs);
	free(s.lat);
	free(ok);
	free(th);
	return nok == s.n ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "gen") == 0)
		return cmd_gen(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "send") == 0)
		return cmd_send(argc - 2, argv + 2);
	fprintf(argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) ? stdout : stderr,
	        "usage: bench_milter gen DIR [--messages N] [--domains K] [--seed S]\n"
	        "       bench_milter send DIR --server 127.0.0.1:PORT [--concurrency C] [--per-conn M] [--label NAME]\n"
	        "                   [--limit N]\n"
	        "See bench/milter.sh, which runs both against Postfix with and without mamorid.\n");
	return argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) ? 0 : 64;
}
