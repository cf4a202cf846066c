/*
 * bench_ratelimit: decisions per second and latency of the in-process rate
 * limiter (src/guard/ratelimit.c), on one thread and on several sharing one
 * table.
 *
 * The workload is generated on the fly: K distinct keys, a realistic mix of
 * SASL accounts (a:), client IPs (i:, v4 and v6) and account+IP pairs (p:),
 * each kind with its own policy (three message windows, per minute / hour /
 * day; accounts also two recipient windows, 1-5 recipients a message). The
 * simulated clock advances a fixed step per decision so the run covers one
 * hour of traffic; keys are drawn uniformly (the worst case for caches),
 * except that 1 decision in 32 comes from the busiest 0.1% of keys, which
 * run into their limits. With several threads each owns a share of the keys
 * (as connections own their senders); they still share the table's shards.
 * Each key is formatted into a stack buffer right before its check, as the
 * daemon will do from the connection's account and address, so the figures
 * are the table's own cost (hash, shard lock, bucket and entry cache misses)
 * and not a bench-side array of key strings.
 *
 * Latency is sampled on every 64th decision with clock_gettime(); the
 * throughput of that same run includes the sampling (under 1 ns a decision).
 * The per-core rate is decisions per second of thread CPU time, which other
 * jobs on a shared machine do not distort; wall-clock rates are shown beside.
 *
 * Before timing anything it checks decisions: a limit of 5 per minute on one
 * key gives exactly 5 allows out of 100 tries, 1 more a minute later at 12 s;
 * and several threads on one key with 1000 per hour get exactly 1000 in all.
 * A failed check prints "RESULT CHECK FAILED" and exits 1 (CTest's smoke run
 * relies on it; --corrupt gives the engine 6 per minute to prove the check
 * can fail). Timing never decides the exit status.
 *
 * Redis (--redis URL; without it the bench prints "redis: skipped"): the
 * same workload through the Redis backend of limiter.h (limiter_redis.c, one
 * Lua script per decision, the server's clock), first one decision at a time
 * on one connection (every decision a round trip: its latency), then
 * pipelined: --redis-threads threads, each sending batches of
 * --redis-pipeline decisions on its own pooled connection, so several are in
 * flight at once; the latency of a pipelined decision is the round trip of
 * its batch. It checks 5 per minute on one key through Redis too, and
 * reports the script's own cost inside Redis (EVALSHA microseconds from
 * INFO commandstats, before and after), which a loaded client machine does
 * not distort. Keys go under the prefix "mamori-bench:PID:" and are deleted
 * at the end.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <unistd.h>

#include "bench_common.h"
#include "core/mem.h"
#include "guard/limiter.h"
#include "guard/ratelimit.h"

#define DEFAULT_DECISIONS 10000000UL
#define DEFAULT_KEYS 100000UL
#define DEFAULT_THREADS 2
#define MAX_THREADS 64
#define SAMPLE_EVERY 64
#define SIM_SPAN_S 3600 /* simulated time the run covers */
#define T0_NS (INT64_C(1700000000) * 1000000000)
#define GOAL_PER_CORE 1000000.0
#define REDIS_DEFAULT_DECISIONS 100000UL
#define REDIS_DEFAULT_THREADS 4
#define REDIS_DEFAULT_PIPELINE 32
#define REDIS_TIMEOUT_MS 2000

struct options {
	unsigned long decisions;
	unsigned long keys;
	int threads;
	bool corrupt;
	const char *redis_url;
	unsigned long redis_decisions;
	int redis_threads;
	int redis_pipeline;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bench_ratelimit: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static inline int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

/* ---------- workload ---------- */

enum kind { K_ACCOUNT, K_IP, K_PAIR };

static const struct rl_policy policies[3] = {
	[K_ACCOUNT] = { .msgs = { { 30, 60 }, { 500, 3600 }, { 2000, 86400 } }, .nmsgs = 3,
			.rcpts = { { 1000, 3600 }, { 5000, 86400 } }, .nrcpts = 2 },
	[K_IP] = { .msgs = { { 60, 60 }, { 1000, 3600 }, { 5000, 86400 } }, .nmsgs = 3 },
	[K_PAIR] = { .msgs = { { 20, 60 }, { 300, 3600 }, { 1000, 86400 } }, .nmsgs = 3 },
};

/* decimal digits of v at p; returns the end */
static inline char *put_u(char *p, unsigned long v)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

static inline char *put_s(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static inline char *put_hex(char *p, unsigned long v)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[16];
	int n = 0;
	do {
		tmp[n++] = hex[v & 15];
		v >>= 4;
	} while (v != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

/*
 * Key number i, built the way the daemon will build it: from the account
 * and address strings of the connection at hand, into a stack buffer just
 * before the check (so the key text is in cache, as it will be there).
 * 40% accounts, 30% IPs (a third of them IPv6), 30% account+IP pairs.
 */
static size_t build_key(unsigned long i, char *out, size_t outlen, enum kind *kind_r)
{
	char acct[64], ip[64], *p;
	unsigned m = (unsigned)(i % 10);
	enum kind kind = m < 4 ? K_ACCOUNT : m < 7 ? K_IP : K_PAIR;
	p = put_s(acct, "user", 4);
	p = put_u(p, i);
	p = put_s(p, "@mail", 5);
	p = put_u(p, i % 50);
	p = put_s(p, ".example.com", 13); /* with the NUL */
	if (i % 3 == 0) {
		p = put_s(ip, "2001:db8:", 9);
		p = put_hex(p, i >> 16);
		*p++ = ':';
		p = put_hex(p, i & 0xffff);
		p = put_s(p, "::1", 4);
	} else {
		p = put_s(ip, "10.", 3);
		p = put_u(p, (i >> 16) & 0xff);
		*p++ = '.';
		p = put_u(p, (i >> 8) & 0xff);
		*p++ = '.';
		p = put_u(p, i & 0xff);
		*p = '\0';
	}
	*kind_r = kind;
	return rl_key_build(out, outlen,
			    kind == K_ACCOUNT ? RL_KEY_ACCOUNT
			    : kind == K_IP    ? RL_KEY_IP
					      : RL_KEY_ACCOUNT_IP,
			    acct, ip);
}

static unsigned long hot_keys(unsigned long nkeys)
{
	unsigned long h = nkeys / 1000;
	return h ? h : 1;
}

struct run {
	struct ratelimit *rl;
	unsigned long nkeys;
	unsigned long nhot;           /* keys 0..nhot-1 (of this thread's share) are busy */
	unsigned long stride, offset; /* this thread's keys: offset, offset + stride, ... */
	unsigned long decisions;
	uint64_t seed;
	bool sample;
	/* results */
	unsigned long allowed, denied, full, errors;
	int64_t *samples;
	size_t nsamples;
	double cpu_s;
};

static void *run_decisions(void *arg)
{
	struct run *r = arg;
	uint64_t s = r->seed;
	int64_t step = (int64_t)SIM_SPAN_S * 1000000000 / (int64_t)r->decisions;
	if (step < 1)
		step = 1;
	int64_t now = T0_NS;
	unsigned long counts[4] = { 0 };
	double c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
	for (unsigned long i = 0; i < r->decisions; i++) {
		uint64_t x = xorshift(&s);
		/* 1 in 32 decisions from the HOT_KEYS busiest senders, who hit
		 * their limits; each thread has its own share of the keys, so the
		 * threads' simulated clocks never meet on one key */
		unsigned long span = (x & 0x1f00) == 0 ? r->nhot : r->nkeys;
		char key[RL_KEY_MAX];
		enum kind kind;
		size_t klen = build_key(((x >> 16) % span) * r->stride + r->offset, key, sizeof key, &kind);
		uint32_t nrcpt = 1 + (uint32_t)(x & 3) + ((x >> 2) & 1 ? 0 : (x >> 3) & 1);
		struct rl_decision d;
		enum rl_outcome o;
		if (r->sample && i % SAMPLE_EVERY == 0) {
			int64_t t0 = mono_ns();
			o = ratelimit_check(r->rl, key, klen, &policies[kind], nrcpt, now, &d);
			r->samples[r->nsamples++] = mono_ns() - t0;
		} else {
			o = ratelimit_check(r->rl, key, klen, &policies[kind], nrcpt, now, &d);
		}
		counts[o]++;
		now += step;
	}
	r->cpu_s = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
	r->allowed = counts[RL_ALLOW];
	r->denied = counts[RL_DENY];
	r->full = counts[RL_FULL];
	r->errors = counts[RL_ERROR];
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int64_t pct(const int64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i];
}

/* the cost of the timer itself, so the latency figures can be read */
static int64_t timer_overhead_ns(void)
{
	enum { N = 10001 };
	static int64_t v[N];
	for (int i = 0; i < N; i++) {
		int64_t t0 = mono_ns();
		v[i] = mono_ns() - t0;
	}
	qsort(v, N, sizeof v[0], cmp_i64);
	return v[N / 2];
}

/* ---------- decision checks ---------- */

static int check_failures;

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
	if (ok)
		return;
	va_list ap;
	va_start(ap, fmt);
	printf("  RESULT CHECK FAILED: ");
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	check_failures++;
}

struct hot {
	struct ratelimit *rl;
	unsigned long tries, allowed;
};

static void *hot_run(void *arg)
{
	struct hot *h = arg;
	struct rl_policy p = { .msgs = { { 1000, 3600 } }, .nmsgs = 1 };
	for (unsigned long i = 0; i < h->tries; i++) {
		struct rl_decision d;
		if (ratelimit_check(h->rl, "a:hot", 5, &p, 1, T0_NS, &d) == RL_ALLOW)
			h->allowed++;
	}
	return NULL;
}

static void decision_checks(const struct options *o)
{
	struct ratelimit *rl = ratelimit_new(1000);
	struct rl_policy p = { .msgs = { { o->corrupt ? 6 : 5, 60 } }, .nmsgs = 1 };
	struct rl_decision d;
	unsigned long allowed = 0;
	for (int i = 0; i < 100; i++)
		allowed += ratelimit_check(rl, "a:one", 5, &p, 1, T0_NS, &d) == RL_ALLOW;
	check(allowed == 5, "5 per min on one key: got %lu allowed, expected 5", allowed);
	check(d.outcome == RL_DENY && d.retry_after_ms == 12000,
	      "5 per min on one key: retry %lld ms, expected 12000", (long long)d.retry_after_ms);
	allowed = 0;
	for (int i = 0; i < 100; i++)
		allowed += ratelimit_check(rl, "a:one", 5, &p, 1, T0_NS + INT64_C(12000000000), &d) ==
			   RL_ALLOW;
	check(allowed == 1, "5 per min on one key at 12 s: got %lu allowed, expected 1", allowed);
	ratelimit_free(&rl);

	int nt = o->threads < 2 ? 2 : o->threads;
	rl = ratelimit_new(1000);
	pthread_t th[MAX_THREADS];
	struct hot h[MAX_THREADS];
	for (int i = 0; i < nt; i++) {
		h[i] = (struct hot){ rl, 5000, 0 };
		if (pthread_create(&th[i], NULL, hot_run, &h[i]) != 0)
			die("pthread_create failed");
	}
	unsigned long total = 0;
	for (int i = 0; i < nt; i++) {
		pthread_join(th[i], NULL);
		total += h[i].allowed;
	}
	check(total == 1000, "%d threads on one key, 1000 per h: got %lu allowed, expected 1000", nt,
	      total);
	ratelimit_free(&rl);
}

/* ---------- through Redis ---------- */

/* per phase (serial, pipelined), for the summary line */
static double redis_rate[2], redis_p99_us[2], redis_server_us;
static bool redis_ran;

struct rrun {
	struct limiter *l;
	const struct options *o;
	unsigned long offset, stride, nkeys, decisions;
	int pipeline;
	uint64_t seed;
	unsigned long allowed, denied, other;
	const char *reason;
	int64_t *lat; /* per round trip, ns */
	size_t nlat;
};

static void *redis_run(void *arg)
{
	struct rrun *r = arg;
	uint64_t s = r->seed;
	int P = r->pipeline;
	char(*keys)[RL_KEY_MAX] = xcalloc((size_t)P, RL_KEY_MAX);
	struct limiter_req *req = xcalloc((size_t)P, sizeof *req);
	struct rl_decision *d = xcalloc((size_t)P, sizeof *d);
	for (unsigned long done = 0; done < r->decisions;) {
		int n = (int)(r->decisions - done < (unsigned long)P ? r->decisions - done : (unsigned long)P);
		for (int j = 0; j < n; j++) {
			uint64_t x = xorshift(&s);
			unsigned long span = (x & 0x1f00) == 0 ? hot_keys(r->nkeys) : r->nkeys;
			enum kind kind;
			size_t klen = build_key(((x >> 16) % span) * r->stride + r->offset, keys[j],
						RL_KEY_MAX, &kind);
			uint32_t nrcpt = 1 + (uint32_t)(x & 3) + ((x >> 2) & 1 ? 0 : (x >> 3) & 1);
			req[j] = (struct limiter_req){ keys[j], klen, &policies[kind], nrcpt };
		}
		int64_t t0 = mono_ns();
		if (P == 1)
			limiter_check(r->l, req[0].key, req[0].keylen, req[0].p, req[0].nrcpt, 0, &d[0]);
		else
			limiter_check_batch(r->l, req, (size_t)n, 0, d);
		r->lat[r->nlat++] = mono_ns() - t0;
		for (int j = 0; j < n; j++) {
			if (d[j].outcome == RL_ALLOW)
				r->allowed++;
			else if (d[j].outcome == RL_DENY)
				r->denied++;
			else {
				r->other++;
				r->reason = d[j].reason;
			}
		}
		done += (unsigned long)n;
	}
	xfree(keys);
	xfree(req);
	xfree(d);
	return NULL;
}

/* runs nt threads with the given pipeline depth; prints one line */
static void redis_phase(const struct options *o, struct limiter *l, int nt, int pipeline,
			const char *label)
{
	struct rrun rr[8];
	pthread_t th[8];
	unsigned long per = o->redis_decisions / (unsigned long)nt;
	double w0 = clock_s(CLOCK_MONOTONIC), c0 = cpu_now();
	for (int i = 0; i < nt; i++) {
		rr[i] = (struct rrun){ .l = l, .o = o, .offset = (unsigned long)i, .stride = (unsigned long)nt,
				       .nkeys = o->keys / (unsigned long)nt ? o->keys / (unsigned long)nt : 1,
				       .decisions = per, .pipeline = pipeline,
				       .seed = 0x9e3779b97f4a7c15ULL + 104729 * (uint64_t)(i + 1) };
		rr[i].lat = xcalloc(per / (unsigned long)pipeline + 2, sizeof(int64_t));
		if (pthread_create(&th[i], NULL, redis_run, &rr[i]) != 0)
			die("pthread_create failed");
	}
	unsigned long tot = 0, allowed = 0, other = 0;
	size_t nlat = 0;
	const char *reason = NULL;
	for (int i = 0; i < nt; i++) {
		pthread_join(th[i], NULL);
		tot += rr[i].allowed + rr[i].denied + rr[i].other;
		allowed += rr[i].allowed;
		other += rr[i].other;
		nlat += rr[i].nlat;
		if (rr[i].reason)
			reason = rr[i].reason;
	}
	double wall = clock_s(CLOCK_MONOTONIC) - w0, cpu = cpu_now() - c0;
	int64_t *lat = xcalloc(nlat + 1, sizeof *lat);
	size_t k = 0;
	for (int i = 0; i < nt; i++) {
		memcpy(lat + k, rr[i].lat, rr[i].nlat * sizeof *lat);
		k += rr[i].nlat;
		xfree(rr[i].lat);
	}
	qsort(lat, nlat, sizeof *lat, cmp_i64);
	check(other == 0, "redis %s: %lu decisions neither allowed nor denied (%s)", label, other,
	      reason ? reason : "?");
	printf("  redis %-12s %.0f decisions/s wall (%d thread%s x %d in flight), bench CPU %.0f%%;"
	       " round trip p50 %.0f us, p99 %.0f us; %.1f%% allowed\n",
	       label, (double)tot / wall, nt, nt == 1 ? "" : "s", pipeline, 100.0 * cpu / wall,
	       (double)pct(lat, nlat, 0.50) / 1e3, (double)pct(lat, nlat, 0.99) / 1e3,
	       100.0 * (double)allowed / (double)(tot ? tot : 1));
	int ph = pipeline == 1 ? 0 : 1;
	redis_rate[ph] = (double)tot / wall;
	redis_p99_us[ph] = (double)pct(lat, nlat, 0.99) / 1e3;
	xfree(lat);
}

/* a side connection for the bench's own look at the server (no AUTH:
 * NULL if the url needs more) */
static redisContext *redis_side(const char *url)
{
	char host[256];
	int port = 6379;
	redisContext *c = NULL;
	struct timeval tv = { 2, 0 };
	if (strncmp(url, "unix:", 5) == 0)
		c = redisConnectUnixWithTimeout(url + 5, tv);
	else if (strchr(url, '@') == NULL && sscanf(url, "redis://%255[^:/]:%d", host, &port) >= 1)
		c = redisConnectWithTimeout(host, port, tv);
	if (c != NULL && c->err) {
		redisFree(c);
		c = NULL;
	}
	return c;
}

/* the server's own EVALSHA count and microseconds (INFO commandstats):
 * the script's cost inside Redis, whatever the network and client add */
static bool redis_evalsha_stats(const char *url, double *calls_r, double *usec_r)
{
	redisContext *c = redis_side(url);
	if (c == NULL)
		return false;
	redisReply *r = redisCommand(c, "INFO commandstats");
	bool ok = false;
	if (r != NULL && r->type == REDIS_REPLY_STRING) {
		const char *p = strstr(r->str, "cmdstat_evalsha:");
		*calls_r = *usec_r = 0;
		ok = p == NULL || sscanf(p, "cmdstat_evalsha:calls=%lf,usec=%lf", calls_r, usec_r) == 2;
	}
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return ok;
}

/* deletes the bench's keys (SCAN + UNLINK on a connection of its own) */
static void redis_cleanup(const char *url, const char *prefix)
{
	redisContext *c = redis_side(url);
	if (c == NULL) {
		printf("  redis: could not clean up the keys under %s\n", prefix);
		return;
	}
	const char *slash = strncmp(url, "redis://", 8) == 0 ? strchr(url + 8, '/') : NULL;
	if (slash != NULL && slash[1] != '\0') {
		redisReply *r = redisCommand(c, "SELECT %s", slash + 1);
		if (r)
			freeReplyObject(r);
	}
	char cursor[32] = "0";
	unsigned long n = 0;
	do {
		redisReply *r = redisCommand(c, "SCAN %s MATCH %s* COUNT 1000", cursor, prefix);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			if (r)
				freeReplyObject(r);
			break;
		}
		snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			redisReply *k = r->element[1]->element[i];
			redisAppendCommand(c, "UNLINK %b", k->str, k->len);
		}
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			redisReply *u = NULL;
			if (redisGetReply(c, (void **)&u) == REDIS_OK && u)
				freeReplyObject(u);
			n++;
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	redisFree(c);
	printf("  redis cleanup      %lu bench keys deleted\n", n);
}

static void bench_redis(const struct options *o)
{
	char prefix[64], err[256];
	snprintf(prefix, sizeof prefix, "mamori-bench:%ld:", (long)getpid());
	struct limiter *l = limiter_redis_new(o->redis_url, REDIS_TIMEOUT_MS, prefix, err, sizeof err);
	if (l == NULL)
		die("--redis %s: %s", o->redis_url, err);
	/* decisions first: 5 per minute on one key through Redis */
	struct rl_policy p = { .msgs = { { o->corrupt ? 6 : 5, 60 } }, .nmsgs = 1 };
	struct rl_decision d;
	unsigned long allowed = 0;
	for (int i = 0; i < 100; i++)
		allowed += limiter_check(l, "a:one", 5, &p, 1, 0, &d) == RL_ALLOW;
	if (d.outcome == RL_UNAVAILABLE)
		die("--redis %s: %s", o->redis_url, d.reason);
	check(allowed == 5, "redis: 5 per min on one key: got %lu allowed, expected 5", allowed);
	printf("  redis at %s: %lu decisions per run over %lu keys, server clock\n", o->redis_url,
	       o->redis_decisions, o->keys);
	double calls0, usec0, calls1, usec1;
	bool stats = redis_evalsha_stats(o->redis_url, &calls0, &usec0);
	redis_phase(o, l, 1, 1, "serial");
	redis_phase(o, l, o->redis_threads, o->redis_pipeline, "pipelined");
	redis_ran = true;
	if (stats && redis_evalsha_stats(o->redis_url, &calls1, &usec1) && calls1 > calls0) {
		redis_server_us = (usec1 - usec0) / (calls1 - calls0);
		printf("  redis server       %.1f us inside Redis per decision (INFO commandstats; wall time,"
		       " so a busy machine inflates it): ~%.0f decisions/s per Redis thread\n",
		       redis_server_us, 1e6 / redis_server_us);
	}
	limiter_free(&l);
	redis_cleanup(o->redis_url, prefix);
}

/* ---------- main ---------- */

static void usage(void)
{
	fprintf(stderr, "usage: bench_ratelimit [--decisions N] [--keys K] [--threads T] [--corrupt]\n"
			"                       [--redis URL [--redis-decisions N] [--redis-threads T]"
			" [--redis-pipeline P]]\n");
	exit(2);
}

static unsigned long parse_ul(const char *s, unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < min || v > max)
		die("bad number '%s' (%lu..%lu)", s, min, max);
	return v;
}

int main(int argc, char **argv)
{
	struct options o = { DEFAULT_DECISIONS, DEFAULT_KEYS, DEFAULT_THREADS, false, NULL,
			     REDIS_DEFAULT_DECISIONS, REDIS_DEFAULT_THREADS, REDIS_DEFAULT_PIPELINE };
	static const struct option lopts[] = {
		{ "decisions", required_argument, NULL, 'n' },
		{ "keys", required_argument, NULL, 'k' },
		{ "threads", required_argument, NULL, 't' },
		{ "corrupt", no_argument, NULL, 'c' },
		{ "redis", required_argument, NULL, 'r' },
		{ "redis-decisions", required_argument, NULL, 'R' },
		{ "redis-threads", required_argument, NULL, 'T' },
		{ "redis-pipeline", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 'n': o.decisions = parse_ul(optarg, 1000, 1000000000UL); break;
		case 'k': o.keys = parse_ul(optarg, 1, 10000000UL); break;
		case 't': o.threads = (int)parse_ul(optarg, 1, MAX_THREADS); break;
		case 'c': o.corrupt = true; break;
		case 'r': o.redis_url = optarg; break;
		case 'R': o.redis_decisions = parse_ul(optarg, 100, 100000000UL); break;
		case 'T': o.redis_threads = (int)parse_ul(optarg, 1, 8); break;
		case 'P': o.redis_pipeline = (int)parse_ul(optarg, 1, 1024); break;
		case 'h':
			printf("bench_ratelimit: decisions/s and latency of the rate limiter, in process"
			       " and (with --redis URL) through Redis\n"
			       "usage: bench_ratelimit [--decisions N] [--keys K] [--threads T] [--corrupt]\n"
			       "                       [--redis URL [--redis-decisions N] [--redis-threads T]"
			       " [--redis-pipeline P]]\n");
			exit(0);
		default: usage();
		}
	}

	printf("bench_ratelimit: %lu decisions over %lu keys (40%% account, 30%% IP, 30%% account+IP),"
	       " 3 message windows (+2 recipient windows for accounts), %d s simulated\n",
	       o.decisions, o.keys, SIM_SPAN_S);
	decision_checks(&o);
	printf("  decision checks    %s\n", check_failures ? "FAILED" : "ok");

	long rss_start = peak_rss_kb();
	int64_t tover = timer_overhead_ns();

	/* one thread */
	struct run r1 = { .nkeys = o.keys, .nhot = hot_keys(o.keys), .stride = 1,
			  .decisions = o.decisions,
			  .seed = 0x853c49e6748fea9bULL, .sample = true };
	r1.rl = ratelimit_new(o.keys * 2);
	r1.samples = xcalloc(o.decisions / SAMPLE_EVERY + 1, sizeof(int64_t));
	double w0 = clock_s(CLOCK_MONOTONIC);
	run_decisions(&r1);
	double wall1 = clock_s(CLOCK_MONOTONIC) - w0;
	size_t held = ratelimit_count(r1.rl);
	long rss1 = peak_rss_kb();
	qsort(r1.samples, r1.nsamples, sizeof(int64_t), cmp_i64);
	double per_core = (double)o.decisions / r1.cpu_s;
	check(r1.errors == 0 && r1.full == 0, "1 thread: %lu errors, %lu full", r1.errors, r1.full);
	if (o.decisions >= 40 * o.keys) /* then every key is drawn, and a first try always passes */
		check(held == o.keys, "1 thread: table holds %zu keys, expected %lu", held, o.keys);
	ratelimit_free(&r1.rl);

	/* several threads, one table */
	int nt = o.threads;
	struct run rt[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	struct ratelimit *shared = ratelimit_new(o.keys * 2);
	w0 = clock_s(CLOCK_MONOTONIC);
	for (int i = 0; i < nt; i++) {
		unsigned long share = o.keys / (unsigned long)nt;
		rt[i] = (struct run){ .rl = shared, .nkeys = share, .nhot = hot_keys(share),
				      .stride = (unsigned long)nt, .offset = (unsigned long)i,
				      .decisions = o.decisions / (unsigned long)nt,
				      .seed = 0x853c49e6748fea9bULL + 7919 * (uint64_t)(i + 1) };
		if (pthread_create(&th[i], NULL, run_decisions, &rt[i]) != 0)
			die("pthread_create failed");
	}
	unsigned long tot = 0, tot_allowed = 0;
	double cpu_t = 0;
	for (int i = 0; i < nt; i++) {
		pthread_join(th[i], NULL);
		tot += rt[i].decisions;
		tot_allowed += rt[i].allowed;
		cpu_t += rt[i].cpu_s;
		check(rt[i].errors == 0 && rt[i].full == 0, "thread %d: %lu errors, %lu full", i,
		      rt[i].errors, rt[i].full);
	}
	double wallt = clock_s(CLOCK_MONOTONIC) - w0;
	ratelimit_free(&shared);
	long rss_peak = peak_rss_kb();

	printf("  1 thread           %.0f decisions/s per core (CPU time), %.0f/s wall; "
	       "%.1f%% allowed, %.1f%% denied\n",
	       per_core, (double)o.decisions / wall1, 100.0 * (double)r1.allowed / (double)o.decisions,
	       100.0 * (double)r1.denied / (double)o.decisions);
	printf("  latency (1 in %d)  p50 %lld ns, p90 %lld ns, p99 %lld ns, p99.9 %lld ns, max %lld ns"
	       " (timer itself ~%lld ns, included)\n",
	       SAMPLE_EVERY, (long long)pct(r1.samples, r1.nsamples, 0.50),
	       (long long)pct(r1.samples, r1.nsamples, 0.90), (long long)pct(r1.samples, r1.nsamples, 0.99),
	       (long long)pct(r1.samples, r1.nsamples, 0.999),
	       (long long)(r1.nsamples ? r1.samples[r1.nsamples - 1] : 0), (long long)tover);
	printf("  %d threads          %.0f decisions/s total wall, %.0f per CPU-second; %.1f%% allowed\n",
	       nt, (double)tot / wallt, (double)tot / cpu_t, 100.0 * (double)tot_allowed / (double)tot);
	printf("  peak RSS           %ld KB (%ld KB at start, %ld KB after the 1-thread run"
	       " holding %zu keys)\n",
	       rss_peak, rss_start, rss1, held);
	if (o.redis_url != NULL)
		bench_redis(&o);
	else
		printf("  redis: skipped (no --redis URL)\n");
	bool met = per_core >= GOAL_PER_CORE;
	printf("  goal >= 1,000,000 decisions/s per core: %s (%.0f)\n", met ? "met" : "not met", per_core);
	printf("bench_ratelimit: decisions_per_core_s=%.0f wall_1t_per_s=%.0f p50_ns=%lld p99_ns=%lld"
	       " threads=%d wall_total_per_s=%.0f peak_rss_kb=%ld result=%s\n",
	       per_core, (double)o.decisions / wall1, (long long)pct(r1.samples, r1.nsamples, 0.50),
	       (long long)pct(r1.samples, r1.nsamples, 0.99), nt, (double)tot / wallt, rss_peak,
	       check_failures ? "FAIL" : "ok");

	if (redis_ran)
		printf("bench_ratelimit: redis_serial_per_s=%.0f redis_serial_p99_us=%.0f"
		       " redis_pipelined_per_s=%.0f redis_pipelined_p99_us=%.0f redis_server_us=%.1f\n",
		       redis_rate[0], redis_p99_us[0], redis_rate[1], redis_p99_us[1], redis_server_us);
	xfree(r1.samples);
	return check_failures ? 1 : 0;
}
