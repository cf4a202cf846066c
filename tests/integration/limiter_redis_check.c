/*
 * limiter_redis_check: the checks of tests/integration/test_limiter_redis.sh
 * against a real Redis (started by that script). Each mode prints "ok ..." lines,
 * or "FAIL: ..." and exits 1.
 *
 *   limiter_redis_check URL agree
 *       the Redis backend decides exactly as the in-process engine on one
 *       long pseudo-random sequence (both on the caller's clock); N per T
 *       exactly; cost > count is "never" and stores nothing; a deny commits
 *       nothing (the stored value is byte-identical); keys expire; SCRIPT
 *       FLUSH is survived (NOSCRIPT fallback)
 *   limiter_redis_check URL shared
 *       two limiter instances on one Redis enforce one combined limit
 *   limiter_redis_check URL hammer KEY N THREADS CHECKS [START_EPOCH_MS]
 *       THREADS threads make CHECKS checks each against N per hour on KEY,
 *       beginning at START_EPOCH_MS; prints "allowed=X" (the script runs two
 *       of these at once)
 *   limiter_redis_check URL outage STOP START HANG RESUME
 *       shell commands that stop, start, freeze (SIGSTOP) and resume Redis:
 *       restart while idle is invisible; stopped -> RL_UNAVAILABLE at once;
 *       frozen -> RL_UNAVAILABLE within the timeout; back -> decisions work
 *       again with the same limiter
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "guard/limiter.h"

#define S(x) ((int64_t)(x)*INT64_C(1000000000))
#define MS(x) ((int64_t)(x)*INT64_C(1000000))
#define T0 S(1700000000)
#define TIMEOUT_MS 300

static int failures;

#define CHECK(cond, ...)                                                                                               \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			printf("FAIL: %s:%d: ", __FILE__, __LINE__);                                                   \
			printf(__VA_ARGS__);                                                                           \
			printf("\n");                                                                                  \
			fflush(stdout);                                                                                \
			exit(1);                                                                                       \
		}                                                                                                      \
	} while (0)

static const char *url;
static char prefix[64];

static struct limiter *redis_limiter(void)
{
	char err[256];
	struct limiter *l = limiter_redis_new(url, TIMEOUT_MS, prefix, err, sizeof err);
	CHECK(l != NULL, "limiter_redis_new(%s): %s", url, err);
	return l;
}

/* a plain hiredis connection to look at the stored keys */
static redisContext *raw_conn(void)
{
	int port = 0;
	char host[64];
	CHECK(sscanf(url, "redis://%63[^:]:%d", host, &port) == 2, "test wants redis://HOST:PORT");
	redisContext *c = redisConnect(host, port);
	CHECK(c != NULL && c->err == 0, "raw connect");
	return c;
}

static redisReply *raw_cmd(redisContext *c, const char *k, size_t kl, const char *verb)
{
	const char *argv[] = {verb, k};
	size_t len[] = {strlen(verb), kl};
	redisReply *r = redisCommandArgv(c, k ? 2 : 1, argv, len);
	CHECK(r != NULL, "raw %s", verb);
	return r;
}

static size_t full_key(char *out, const char *key, size_t kl)
{
	size_t pl = strlen(prefix);
	memcpy(out, prefix, pl);
	memcpy(out + pl, "rl:", 3);
	memcpy(out + pl + 3, key, kl);
	return pl + 3 + kl;
}

static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * INT64_C(1000000000) + ts.tv_nsec;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static const char *oname(enum rl_outcome o)
{
	static const char *n[] = {"allow", "deny", "full", "error", "unavailable"};
	return (unsigned)o < 5 ? n[o] : "?";
}

static void same(const struct rl_decision *a, const struct rl_decision *b, const char *what, size_t step)
{
	CHECK(a->outcome == b->outcome, "%s step %zu: local %s, redis %s (%s)", what, step, oname(a->outcome),
	      oname(b->outcome), b->reason ? b->reason : "");
	if (a->outcome != RL_DENY)
		return;
	CHECK(a->rcpts == b->rcpts && a->window == b->window && a->count == b->count && a->period_s == b->period_s &&
	          a->cost == b->cost && a->retry_after_ms == b->retry_after_ms,
	      "%s step %zu: deny differs: local %s[%d] %u/%u cost %u retry %lld, redis %s[%d] %u/%u "
	      "cost %u retry %lld",
	      what, step, a->rcpts ? "rcpts" : "msgs", a->window, a->count, a->period_s, a->cost,
	      (long long)a->retry_after_ms, b->rcpts ? "rcpts" : "msgs", b->window, b->count, b->period_s, b->cost,
	      (long long)b->retry_after_ms);
}

/* ---------- agree ---------- */

static void mode_agree(void)
{
	struct rl_policy pol[] = {
	    {.msgs = {{3, 60}}, .nmsgs = 1},
	    {.msgs = {{5, 60}, {20, 3600}}, .nmsgs = 2, .rcpts = {{10, 60}, {50, 3600}}, .nrcpts = 2},
	    {.msgs = {{7, 13}}, .nmsgs = 1, .rcpts = {{11, 7}}, .nrcpts = 1},
	    /* counts near the ceiling: c*r needs more than 53 bits */
	    {.msgs = {{999999937, 31622400}}, .nmsgs = 1, .rcpts = {{1000000000, 86399}, {999999999, 7}}, .nrcpts = 2},
	    {.msgs = {{0, 60}, {4, 1}, {9, 10}, {30, 600}}, .nmsgs = 4, .rcpts = {{6, 2}}, .nrcpts = 1},
	};
	const size_t npol = sizeof pol / sizeof pol[0];
	enum { NKEYS = 7 };
	char keys[NKEYS][RL_KEY_MAX];
	size_t klen[NKEYS];
	for (int i = 0; i < NKEYS - 2; i++)
		klen[i] = (size_t)snprintf(keys[i], sizeof keys[i], "a:user%d@example.org", i);
	klen[NKEYS - 2] = rl_key_build(keys[NKEYS - 2], RL_KEY_MAX, RL_KEY_ACCOUNT_IP, "bob", "192.0.2.7");
	klen[NKEYS - 1] = RL_KEY_MAX; /* the longest key, every byte value */
	for (size_t j = 0; j < RL_KEY_MAX; j++)
		keys[NKEYS - 1][j] = (char)(j * 7 + 1);

	struct limiter *loc = limiter_local_new(0);
	struct limiter *red = redis_limiter();
	limiter_use_caller_clock(red, true);

	int64_t now = T0;
	size_t steps = 0, allowed = 0, denied = 0, never = 0, changes = 0;
	size_t polidx[NKEYS];
	for (int k = 0; k < NKEYS; k++)
		polidx[k] = (size_t)k % npol;
	for (int round = 0; round < 4000; round++) {
		/* time moves in whole milliseconds: 0 (bursts), small steps, jumps */
		uint32_t t = rnd(100);
		if (t < 30)
			;
		else if (t < 90)
			now += MS(rnd(3000));
		else if (t < 98)
			now += MS(rnd(120000));
		else
			now += S(rnd(4000));
		int k = (int)rnd(NKEYS);
		uint32_t nrcpt = rnd(4) == 0 ? 0 : 1 + rnd(5);
		if (polidx[k] == 3 && rnd(3) == 0)
			nrcpt = rnd(2) ? 600000001u : 999999998u;
		if (rnd(50) == 0)
			nrcpt = 12; /* above 11 and 10: never for some windows */
		if (rnd(100) == 0) { /* a policy change: state carried over */
			size_t np = rnd((uint32_t)npol);
			changes += np != polidx[k];
			polidx[k] = np;
		}
		struct rl_decision a, b;
		limiter_check(loc, keys[k], klen[k], &pol[polidx[k]], nrcpt, now, &a);
		limiter_check(red, keys[k], klen[k], &pol[polidx[k]], nrcpt, now, &b);
		same(&a, &b, "sequence", steps++);
		allowed += a.outcome == RL_ALLOW;
		denied += a.outcome == RL_DENY;
		never += a.outcome == RL_DENY && a.retry_after_ms < 0;
	}
	CHECK(allowed > 500 && denied > 300 && never > 5 && changes > 10,
	      "sequence too one-sided: %zu allowed, %zu denied, %zu never, %zu policy changes", allowed,
	      denied, never, changes);
	printf("ok agree: %zu decisions identical (%zu allowed, %zu denied, %zu never, %zu policy changes)\n",
	       steps, allowed, denied, never, changes);

	/* a pipelined batch decides as the same checks one by one */
	{
		enum { NB = 300 };
		struct limiter_req req[NB];
		struct rl_decision db[NB], da;
		now += S(100000);
		for (int i = 0; i < NB; i++) {
			int k = i % NKEYS;
			req[i] = (struct limiter_req){keys[k], klen[k], &pol[(size_t)k % npol], (uint32_t)(i % 3)};
		}
		limiter_check_batch(red, req, NB, now, db);
		for (int i = 0; i < NB; i++) {
			limiter_check(loc, req[i].key, req[i].keylen, req[i].p, req[i].nrcpt, now, &da);
			same(&da, &db[i], "batch", (size_t)i);
		}
		printf("ok batch: %d pipelined decisions identical\n", NB);
	}

	/* N per T exactly, on the server's clock, then the stored state */
	limiter_use_caller_clock(red, false);
	redisContext *rc = raw_conn();
	struct rl_policy hour = {.msgs = {{100, 3600}}, .nmsgs = 1, .rcpts = {{10, 60}}, .nrcpts = 1};
	const char *k1 = "a:exact";
	int ok = 0;
	struct rl_decision d;
	for (int i = 0; i < 130; i++)
		ok += limiter_check(red, k1, strlen(k1), &hour, 0, 0, &d) == RL_ALLOW;
	CHECK(ok == 100, "100 per hour at once: %d allowed", ok);
	CHECK(d.outcome == RL_DENY && !d.rcpts && d.count == 100 && d.period_s == 3600 && d.retry_after_ms > 30000 &&
	          d.retry_after_ms <= 36000,
	      "deny after 100: retry %lld", (long long)d.retry_after_ms);
	char fk[512 + RL_KEY_MAX];
	size_t fkl = full_key(fk, k1, strlen(k1));
	redisReply *r = raw_cmd(rc, fk, fkl, "PTTL");
	/* TAT = now + 100 * 36 s: expires when drained, one hour on */
	CHECK(r->type == REDIS_REPLY_INTEGER && r->integer > 3590000 && r->integer <= 3600001, "PTTL %lld", r->integer);
	freeReplyObject(r);
	printf("ok exact: 100 per hour allowed exactly 100; key expires when drained\n");

	/* a deny commits nothing: the stored value and its expiry stay */
	r = raw_cmd(rc, fk, fkl, "GET");
	CHECK(r->type == REDIS_REPLY_STRING, "GET");
	char before[512];
	snprintf(before, sizeof before, "%.*s", (int)r->len, r->str);
	freeReplyObject(r);
	CHECK(strncmp(before, "1 1 ", 4) == 0, "stored value \"%s\"", before);
	for (int i = 0; i < 5; i++)
		CHECK(limiter_check(red, k1, strlen(k1), &hour, 1, 0, &d) == RL_DENY, "still denied");
	CHECK(limiter_check(red, k1, strlen(k1), &hour, 11, 0, &d) == RL_DENY && d.retry_after_ms == -1,
	      "11 recipients against 10: never");
	r = raw_cmd(rc, fk, fkl, "GET");
	CHECK(r->type == REDIS_REPLY_STRING && strlen(before) == r->len && memcmp(before, r->str, r->len) == 0,
	      "a deny changed the state: \"%s\" -> \"%.*s\"", before, (int)r->len, r->str);
	freeReplyObject(r);

	/* cost above count on a fresh key: never, and no key is created */
	const char *k2 = "a:never";
	CHECK(limiter_check(red, k2, strlen(k2), &hour, 11, 0, &d) == RL_DENY && d.rcpts && d.retry_after_ms == -1 &&
	          d.cost == 11,
	      "fresh key, 11 recipients: %s retry %lld", oname(d.outcome), (long long)d.retry_after_ms);
	fkl = full_key(fk, k2, strlen(k2));
	r = raw_cmd(rc, fk, fkl, "EXISTS");
	CHECK(r->integer == 0, "a never-deny created a key");
	freeReplyObject(r);
	printf("ok deny: commits nothing (value byte-identical); cost > count is never, stores nothing\n");

	/* the server forgets its scripts: EVALSHA's NOSCRIPT falls back */
	{
		const char *argv[] = {"SCRIPT", "FLUSH"};
		r = redisCommandArgv(rc, 2, argv, NULL);
		CHECK(r && r->type == REDIS_REPLY_STATUS, "SCRIPT FLUSH");
		freeReplyObject(r);
	}
	CHECK(limiter_check(red, "a:after-flush", 13, &hour, 1, 0, &d) == RL_ALLOW, "after SCRIPT FLUSH: %s %s",
	      oname(d.outcome), d.reason ? d.reason : "");
	{
		const char *argv[] = {"SCRIPT", "FLUSH"};
		r = redisCommandArgv(rc, 2, argv, NULL);
		freeReplyObject(r);
		struct limiter_req req[4];
		struct rl_decision db[4];
		for (int i = 0; i < 4; i++)
			req[i] = (struct limiter_req){"a:flush-batch", 13, &pol[0], 1};
		limiter_check_batch(red, req, 4, 0, db);
		CHECK(db[0].outcome == RL_ALLOW && db[1].outcome == RL_ALLOW && db[2].outcome == RL_ALLOW &&
		          db[3].outcome == RL_DENY,
		      "batch after SCRIPT FLUSH: %s %s %s %s", oname(db[0].outcome), oname(db[1].outcome),
		      oname(db[2].outcome), oname(db[3].outcome));
	}
	printf("ok noscript: SCRIPT FLUSH survived (single and pipelined)\n");

	/* an error reply (out of memory under noeviction) is unavailable, not
	 * a decision; the same connection works once the error is gone */
	{
		r = redisCommand(rc, "CONFIG SET maxmemory-policy noeviction");
		freeReplyObject(r);
		r = redisCommand(rc, "CONFIG SET maxmemory 1");
		CHECK(r && r->type == REDIS_REPLY_STATUS, "CONFIG SET maxmemory");
		freeReplyObject(r);
		enum rl_outcome o = limiter_check(red, "a:oom", 5, &hour, 1, 0, &d);
		r = redisCommand(rc, "CONFIG SET maxmemory 0");
		freeReplyObject(r);
		CHECK(o == RL_UNAVAILABLE && d.reason && strcmp(d.reason, "redis answered an error") == 0,
		      "out of memory: %s (%s)", oname(o), d.reason ? d.reason : "");
		CHECK(limiter_check(red, "a:oom", 5, &hour, 1, 0, &d) == RL_ALLOW, "after OOM: %s", oname(d.outcome));
		printf("ok error reply: OOM -> RL_UNAVAILABLE (\"%s\"), then allowed again\n",
		       "redis answered an error");
	}
	redisFree(rc);
	limiter_free(&red);
	limiter_free(&loc);
}

/* ---------- shared ---------- */

static void mode_shared(void)
{
	struct limiter *a = redis_limiter(), *b = redis_limiter();
	struct rl_policy p = {.msgs = {{10, 3600}, {25, 86400}}, .nmsgs = 2};
	struct rl_decision d;
	int got_a = 0, got_b = 0;
	for (int i = 0; i < 20; i++) {
		got_a += limiter_check(a, "a:carol", 7, &p, 1, wall_ns(), &d) == RL_ALLOW;
		got_b += limiter_check(b, "a:carol", 7, &p, 1, wall_ns(), &d) == RL_ALLOW;
	}
	CHECK(got_a + got_b == 10, "two limiters, 10 per hour: %d + %d allowed", got_a, got_b);
	CHECK(got_a == 5 && got_b == 5, "alternating: %d and %d", got_a, got_b);
	/* another prefix is another namespace */
	char err[128];
	struct limiter *c = limiter_redis_new(url, TIMEOUT_MS, "other:", err, sizeof err);
	CHECK(c != NULL, "%s", err);
	CHECK(limiter_check(c, "a:carol", 7, &p, 1, wall_ns(), &d) == RL_ALLOW, "prefix separates");
	limiter_free(&c);
	printf("ok shared: two limiters on one Redis allowed %d + %d = 10 of 10 per hour\n", got_a, got_b);
	limiter_free(&a);
	limiter_free(&b);
}

/* ---------- hammer ---------- */

struct hammer {
	struct limiter *l;
	const char *key;
	struct rl_policy p;
	int checks;
	int allowed, other;
};

static void *hammer_run(void *arg)
{
	struct hammer *h = arg;
	struct rl_decision d;
	for (int i = 0; i < h->checks; i++) {
		enum rl_outcome o = limiter_check(h->l, h->key, strlen(h->key), &h->p, 1, wall_ns(), &d);
		if (o == RL_ALLOW)
			h->allowed++;
		else if (o != RL_DENY)
			h->other++;
	}
	return NULL;
}

static void mode_hammer(const char *key, int n, int threads, int checks, int64_t start_ms)
{
	struct limiter *l = redis_limiter();
	/* both processes begin at one agreed wall-clock instant */
	while (wall_ns() / 1000000 < start_ms)
		usleep(1000);
	struct hammer h[16];
	pthread_t t[16];
	CHECK(threads >= 1 && threads <= 16, "threads 1..16");
	for (int i = 0; i < threads; i++) {
		h[i] = (struct hammer){l, key, {.msgs = {{(uint32_t)n, 3600}}, .nmsgs = 1}, checks, 0, 0};
		pthread_create(&t[i], NULL, hammer_run, &h[i]);
	}
	int allowed = 0, other = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		allowed += h[i].allowed;
		other += h[i].other;
	}
	CHECK(other == 0, "%d checks neither allowed nor denied", other);
	printf("allowed=%d\n", allowed);
	limiter_free(&l);
}

/* ---------- outage ---------- */

static void run(const char *cmd)
{
	fflush(stdout);
	CHECK(system(cmd) == 0, "command failed: %s", cmd);
}

/* one check on a fresh key; its outcome and how long it took */
static enum rl_outcome timed(struct limiter *l, int64_t *ms_r, struct rl_decision *d)
{
	static int n;
	char key[32];
	snprintf(key, sizeof key, "a:outage%d", n++);
	struct rl_policy p = {.msgs = {{5, 60}}, .nmsgs = 1};
	int64_t t = mono_ms();
	enum rl_outcome o = limiter_check(l, key, strlen(key), &p, 1, wall_ns(), d);
	*ms_r = mono_ms() - t;
	return o;
}

/* checks until one is allowed; how long that took (ms), or -1 after limit_ms */
static int64_t until_allowed(struct limiter *l, int64_t limit_ms)
{
	int64_t start = mono_ms(), ms;
	struct rl_decision d;
	while (mono_ms() - start < limit_ms) {
		if (timed(l, &ms, &d) == RL_ALLOW)
			return mono_ms() - start;
		CHECK(d.outcome == RL_UNAVAILABLE, "while recovering: %s", oname(d.outcome));
		usleep(50000);
	}
	return -1;
}

static void mode_outage(const char *stop, const char *start, const char *hang, const char *resume)
{
	struct limiter *l = redis_limiter();
	struct rl_decision d;
	int64_t ms;
	CHECK(timed(l, &ms, &d) == RL_ALLOW, "first check: %s %s", oname(d.outcome), d.reason ? d.reason : "");

	/* restarted while idle: the pooled connection is stale, nobody notices */
	run(stop);
	run(start);
	CHECK(timed(l, &ms, &d) == RL_ALLOW, "after an idle restart: %s %s", oname(d.outcome),
	      d.reason ? d.reason : "");
	printf("ok idle restart: next decision allowed (%lld ms)\n", (long long)ms);

	/* stopped: unavailable at once, every time */
	run(stop);
	int64_t worst = 0;
	for (int i = 0; i < 20; i++) {
		CHECK(timed(l, &ms, &d) == RL_UNAVAILABLE, "Redis stopped, check %d: %s", i, oname(d.outcome));
		CHECK(d.reason != NULL && strstr(d.reason, "redis") != NULL, "reason \"%s\"",
		      d.reason ? d.reason : "(null)");
		if (ms > worst)
			worst = ms;
		usleep(100000);
	}
	CHECK(worst < TIMEOUT_MS, "a check took %lld ms with Redis stopped (timeout %d)", (long long)worst, TIMEOUT_MS);
	printf("ok stopped: 20 checks over 2 s all RL_UNAVAILABLE (\"%s\"), slowest %lld ms\n", d.reason,
	       (long long)worst);

	run(start);
	int64_t took = until_allowed(l, 3000);
	CHECK(took >= 0 && took <= 2500, "not recovered after Redis came back (%lld ms)", (long long)took);
	printf("ok back: decisions allowed again after %lld ms, same limiter\n", (long long)took);

	/* frozen: connected but silent, so the command timeout applies */
	run(hang);
	CHECK(timed(l, &ms, &d) == RL_UNAVAILABLE, "Redis frozen: %s", oname(d.outcome));
	CHECK(ms >= TIMEOUT_MS - 50 && ms < TIMEOUT_MS + 700, "frozen: answered after %lld ms (timeout %d)",
	      (long long)ms, TIMEOUT_MS);
	const char *why = d.reason;
	worst = 0;
	for (int i = 0; i < 10; i++) {
		CHECK(timed(l, &ms, &d) == RL_UNAVAILABLE, "still frozen: %s", oname(d.outcome));
		if (ms > worst)
			worst = ms;
	}
	/* at most one probe a second: a few checks may pay one timeout */
	CHECK(worst < TIMEOUT_MS + 700, "frozen, later check took %lld ms", (long long)worst);
	printf("ok frozen: RL_UNAVAILABLE (\"%s\") after the %d ms timeout, then at once\n", why, TIMEOUT_MS);
	run(resume);
	took = until_allowed(l, 3000);
	CHECK(took >= 0 && took <= 2500, "not recovered after SIGCONT (%lld ms)", (long long)took);
	printf("ok resumed: decisions allowed again after %lld ms\n", (long long)took);
	limiter_free(&l);
}

int main(int argc, char **argv)
{
	if (argc < 3 || strcmp(argv[1], "--help") == 0) {
		printf("usage: limiter_redis_check URL agree|shared|outage STOP START HANG RESUME|"
		       "hammer KEY N THREADS CHECKS [START_EPOCH_MS]\n");
		return argc < 3 ? 2 : 0;
	}
	url = argv[1];
	snprintf(prefix, sizeof prefix, "test%ld:", (long)getpid());
	const char *mode = argv[2];
	if (strcmp(mode, "agree") == 0)
		mode_agree();
	else if (strcmp(mode, "shared") == 0)
		mode_shared();
	else if (strcmp(mode, "hammer") == 0 && (argc == 7 || argc == 8)) {
		snprintf(prefix, sizeof prefix, "hammer:");
		mode_hammer(argv[3], atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), argc == 8 ? atoll(argv[7]) : 0);
	} else if (strcmp(mode, "outage") == 0 && argc == 7)
		mode_outage(argv[3], argv[4], argv[5], argv[6]);
	else {
		fprintf(stderr, "limiter_redis_check: bad mode or arguments\n");
		return 2;
	}
	return failures ? 1 : 0;
}
