/* unit tests for src/guard/ratelimit: GCRA boundaries, several windows,
 * recipient cost, eviction, policy changes, reply text, threads. Time is an
 * argument: nothing here sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/ratelimit.h"

#define S(x) ((int64_t)(x) * INT64_C(1000000000))
#define MS(x) ((int64_t)(x) * INT64_C(1000000))
#define T0 S(1700000000) /* an arbitrary epoch-like start */

static struct rl_policy msgs1(uint32_t n, uint32_t t)
{
	struct rl_policy p = { .msgs = { { n, t } }, .nmsgs = 1 };
	return p;
}

static struct rl_policy rcpts1(uint32_t n, uint32_t t)
{
	struct rl_policy p = { .rcpts = { { n, t } }, .nrcpts = 1 };
	return p;
}

static enum rl_outcome chk(struct ratelimit *rl, const char *key, const struct rl_policy *p,
			   uint32_t nrcpt, int64_t now, struct rl_decision *d)
{
	return ratelimit_check(rl, key, strlen(key), p, nrcpt, now, d);
}

/* the worked example of ratelimit.h, row by row */
static void test_worked_example(void **state)
{
	struct { int64_t t; enum rl_outcome o; int64_t retry_ms; } rows[] = {
		{ 0, RL_ALLOW, 0 },  { 1, RL_ALLOW, 0 },      { 2, RL_ALLOW, 0 },
		{ 3, RL_DENY, 17000 }, { 20, RL_ALLOW, 0 },   { 21, RL_DENY, 19000 },
		{ 200, RL_ALLOW, 0 }, { 201, RL_ALLOW, 0 },   { 202, RL_ALLOW, 0 },
		{ 203, RL_DENY, 17000 },
	};
	struct ratelimit *rl = ratelimit_new(100);
	struct rl_policy p = msgs1(3, 60);
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct rl_decision d;
		enum rl_outcome o = chk(rl, "a:alice", &p, 1, T0 + S(rows[i].t), &d);
		if (o != rows[i].o || d.outcome != o || (o == RL_DENY && d.retry_after_ms != rows[i].retry_ms))
			fail_msg("row %zu (t=%lld): outcome %d retry %lld", i, (long long)rows[i].t, o,
				 (long long)d.retry_after_ms);
		if (o == RL_DENY) {
			assert_false(d.rcpts);
			assert_int_equal(d.window, 0);
			assert_int_equal(d.count, 3);
			assert_int_equal(d.period_s, 60);
			assert_int_equal(d.cost, 1);
		}
	}
	ratelimit_free(&rl);
	assert_null(rl);
	ratelimit_free(&rl); /* NULL is fine */
}

/* N per T: exactly N pass at one instant, N+1 does not; the retry time is
 * exact to the millisecond; one more passes then, and only one */
static void test_boundaries(void **state)
{
	struct { uint32_t n, t; int64_t retry_ms; } cases[] = {
		{ 1, 1, 1000 },        { 3, 60, 20000 },   { 7, 60, 8572 }, /* I = 8571.43 ms */
		{ 100, 3600, 36000 },  { 1000, 86400, 86400 }, { 13, 7, 539 }, /* 538.46 ms */
		{ 1000, 1, 1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ratelimit *rl = ratelimit_new(100);
		struct rl_policy p = msgs1(cases[i].n, cases[i].t);
		struct rl_decision d;
		for (uint32_t k = 0; k < cases[i].n; k++)
			if (chk(rl, "k", &p, 0, T0, &d) != RL_ALLOW)
				fail_msg("case %zu: request %u of %u denied", i, k + 1, cases[i].n);
		assert_int_equal(chk(rl, "k", &p, 0, T0, &d), RL_DENY);
		if (d.retry_after_ms != cases[i].retry_ms)
			fail_msg("case %zu: retry %lld ms, expected %lld", i, (long long)d.retry_after_ms,
				 (long long)cases[i].retry_ms);
		/* one ms before the (rounded-up) retry time: still denied */
		assert_int_equal(chk(rl, "k", &p, 0, T0 + MS(d.retry_after_ms - 1), &d), RL_DENY);
		int64_t at = T0 + MS(cases[i].retry_ms);
		assert_int_equal(chk(rl, "k", &p, 0, at, &d), RL_ALLOW);
		assert_int_equal(chk(rl, "k", &p, 0, at, &d), RL_DENY);
		ratelimit_free(&rl);
	}
}

/* intervals with a fraction of a nanosecond: boundaries to the nanosecond */
static void test_sub_ns(void **state)
{
	struct ratelimit *rl = ratelimit_new(100);
	struct rl_policy p = msgs1(3, 1); /* I = 333333333 1/3 ns */
	struct rl_decision d;
	for (int i = 0; i < 3; i++)
		assert_int_equal(chk(rl, "k", &p, 0, T0, &d), RL_ALLOW); /* TAT = T0 + 1 s exactly */
	/* the 4th fits once TAT' - now = 1 s + 1/3 s - (now - T0) <= 1 s */
	assert_int_equal(chk(rl, "k", &p, 0, T0 + 333333333, &d), RL_DENY); /* 1/3 ns over */
	assert_int_equal(d.retry_after_ms, 1); /* 1 ns, rounded up */
	assert_int_equal(chk(rl, "k", &p, 0, T0 + 333333334, &d), RL_ALLOW);

	/* the remainder survives a request arriving at the whole ns of TAT */
	assert_int_equal(chk(rl, "k2", &p, 0, T0, &d), RL_ALLOW); /* TAT = T0 + 333333333 1/3 */
	int n = 0;
	while (n < 10 && chk(rl, "k2", &p, 0, T0 + 333333333, &d) == RL_ALLOW)
		n++;
	assert_int_equal(n, 2); /* a third would end 1/3 ns past T */

	/* retry rounding: 999 per s, I = 1001001 1/999 ns; at T0 + 1001 ns the
	 * wait is 1 ms and 1/999 ns, so 2 ms */
	struct rl_policy q = msgs1(999, 1);
	for (int i = 0; i < 999; i++)
		assert_int_equal(chk(rl, "k3", &q, 0, T0, &d), RL_ALLOW);
	assert_int_equal(chk(rl, "k3", &q, 0, T0 + 1001, &d), RL_DENY);
	assert_int_equal(d.retry_after_ms, 2);
	assert_int_equal(chk(rl, "k3", &q, 0, T0 + 1001 + 1000000, &d), RL_DENY);
	assert_int_equal(chk(rl, "k3", &q, 0, T0 + 1001 + 1000001, &d), RL_ALLOW);
	ratelimit_free(&rl);
}

/* large N through the recipient dimension: cost N passes, then nothing */
static void test_boundaries_large(void **state)
{
	struct { uint32_t n, t; } cases[] = {
		{ RL_COUNT_MAX, 1 }, { 999999937, 1 }, { RL_COUNT_MAX, RL_PERIOD_MAX },
		{ 123457, 7 }, { 65537, 86400 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ratelimit *rl = ratelimit_new(100);
		struct rl_policy p = rcpts1(cases[i].n, cases[i].t);
		struct rl_decision d;
		assert_int_equal(chk(rl, "k", &p, cases[i].n, T0, &d), RL_ALLOW);
		if (chk(rl, "k", &p, 1, T0, &d) != RL_DENY)
			fail_msg("case %zu: N+1 allowed", i);
		assert_true(d.rcpts);
		assert_true(d.retry_after_ms >= 1);
		ratelimit_free(&rl);
	}
}

/* an independent, exact formulation of GCRA in units of 1/N ns (128-bit)
 * against the engine on random sequences */
static void test_against_reference(void **state)
{
	uint64_t x = 0x12345678abcdefULL;
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
	for (int round = 0; round < 300; round++) {
		uint32_t n = 1 + (uint32_t)(RND() % (round % 3 == 0 ? 1000000 : 50));
		uint32_t t = 1 + (uint32_t)(RND() % 7200);
		struct rl_policy p = rcpts1(n, t);
		struct ratelimit *rl = ratelimit_new(10);
		__int128 N = n, T = (__int128)S(t), tat = 0;
		int64_t now = T0;
		for (int step = 0; step < 400; step++) {
			now += (int64_t)(RND() % (uint64_t)(S(t) / n * 3 + 2));
			uint32_t c = 1 + (uint32_t)(RND() % (n < 10 ? n + 1 : n / 3 + 1));
			struct rl_decision d;
			enum rl_outcome o = chk(rl, "k", &p, c, now, &d);
			__int128 nows = (__int128)now * N;
			__int128 base = tat > nows ? tat : nows;
			__int128 nt = base + (__int128)c * T;
			enum rl_outcome want;
			int64_t want_ms = 0;
			if (c > n) {
				want = RL_DENY;
				want_ms = -1;
			} else if (nt - nows <= T * N) {
				want = RL_ALLOW;
				tat = nt;
			} else {
				want = RL_DENY;
				/* earliest integer now' with nt - now'*N <= T*N */
				__int128 need = nt - T * N;
				__int128 at = (need + N - 1) / N;
				__int128 wait = at - now;
				want_ms = (int64_t)((wait + MS(1) - 1) / MS(1));
			}
			if (o != want || (want == RL_DENY && d.retry_after_ms != want_ms))
				fail_msg("round %d step %d (n=%u t=%u c=%u): got %d/%lld want %d/%lld", round,
					 step, n, t, c, o, (long long)d.retry_after_ms, want, (long long)want_ms);
		}
		ratelimit_free(&rl);
	}
#undef RND
}

/* minute passes, hour denies: the binding window is reported */
static void test_several_windows(void **state)
{
	struct ratelimit *rl = ratelimit_new(100);
	struct rl_policy p = { .msgs = { { 10, 60 }, { 20, 3600 }, { 100, 86400 } }, .nmsgs = 3 };
	struct rl_decision d;
	for (int i = 0; i < 10; i++)
		assert_int_equal(chk(rl, "a:bob", &p, 1, T0, &d), RL_ALLOW);
	assert_int_equal(chk(rl, "a:bob", &p, 1, T0, &d), RL_DENY);
	assert_int_equal(d.window, 0); /* minute: retry 6 s */
	assert_int_equal(d.retry_after_ms, 6000);
	for (int i = 0; i < 10; i++)
		assert_int_equal(chk(rl, "a:bob", &p, 1, T0 + S(60), &d), RL_ALLOW);
	/* hour TAT = 20 * 180 s = 3600 s: the next passes at 180 s; minute is fine */
	assert_int_equal(chk(rl, "a:bob", &p, 1, T0 + S(120), &d), RL_DENY);
	assert_int_equal(d.window, 1);
	assert_int_equal(d.count, 20);
	assert_int_equal(d.period_s, 3600);
	assert_int_equal(d.retry_after_ms, 60000);
	assert_int_equal(chk(rl, "a:bob", &p, 1, T0 + S(180), &d), RL_ALLOW);
	assert_int_equal(chk(rl, "a:bob", &p, 1, T0 + S(180), &d), RL_DENY);
	assert_int_equal(d.window, 1);

	/* both deny: the longer wait is reported */
	struct rl_policy q = { .msgs = { { 1, 60 }, { 1, 3600 } }, .nmsgs = 2 };
	assert_int_equal(chk(rl, "a:carol", &q, 1, T0, &d), RL_ALLOW);
	assert_int_equal(chk(rl, "a:carol", &q, 1, T0 + S(10), &d), RL_DENY);
	assert_int_equal(d.window, 1);
	assert_int_equal(d.retry_after_ms, S(3590) / MS(1));
	ratelimit_free(&rl);
}

/* recipients are a cost: 50 + 50 fit 100/h, the third 50 waits 30 min */
static void test_recipient_cost(void **state)
{
	struct ratelimit *rl = ratelimit_new(100);
	struct rl_policy p = { .msgs = { { 1000, 3600 } }, .nmsgs = 1, .rcpts = { { 100, 3600 } }, .nrcpts = 1 };
	struct rl_decision d;
	assert_int_equal(chk(rl, "a:dave", &p, 50, T0, &d), RL_ALLOW);
	assert_int_equal(chk(rl, "a:dave", &p, 50, T0, &d), RL_ALLOW);
	assert_int_equal(chk(rl, "a:dave", &p, 50, T0, &d), RL_DENY);
	assert_true(d.rcpts);
	assert_int_equal(d.window, 0);
	assert_int_equal(d.cost, 50);
	assert_int_equal(d.retry_after_ms, 1800 * 1000);
	assert_int_equal(chk(rl, "a:dave", &p, 1, T0, &d), RL_DENY);
	assert_int_equal(d.retry_after_ms, 36 * 1000);
	/* a message with no recipients charges only the message windows */
	assert_int_equal(chk(rl, "a:dave", &p, 0, T0, &d), RL_ALLOW);
	/* more recipients than the window holds: never */
	assert_int_equal(chk(rl, "a:erin", &p, 150, T0, &d), RL_DENY);
	assert_int_equal(d.retry_after_ms, -1);
	assert_int_equal(d.cost, 150);
	assert_int_equal(ratelimit_count(rl), 1); /* erin was not stored */
	assert_int_equal(chk(rl, "a:dave", &p, 50, T0 + S(1800), &d), RL_ALLOW);
	ratelimit_free(&rl);
}

/* a refused request costs nothing, in any window */
static void test_deny_does_not_consume(void **state)
{
	struct ratelimit *rl = ratelimit_new(100);
	struct rl_policy p = msgs1(2, 60);
	struct rl_decision d;
	assert_int_equal(chk(rl, "k", &p, 0, T0, &d), RL_ALLOW);
	assert_int_equal(chk(rl, "k", &p, 0, T0, &d), RL_ALLOW);
	for (int i = 0; i < 100; i++)
		assert_int_equal(chk(rl, "k", &p, 0, T0 + S(i) / 10, &d), RL_DENY);
	assert_int_equal(chk(rl, "k", &p, 0, T0 + S(30), &d), RL_ALLOW);
	assert_int_equal(chk(rl, "k", &p, 0, T0 + S(30), &d), RL_DENY);

	/* the message window refuses; the recipient window must not be charged */
	struct rl_policy q = { .msgs = { { 1, 60 } }, .nmsgs = 1, .rcpts = { { 10, 600 } }, .nrcpts = 1 };
	assert_int_equal(chk(rl, "k2", &q, 5, T0, &d), RL_ALLOW);
	assert_int_equal(chk(rl, "k2", &q, 5, T0 + S(1), &d), RL_DENY);
	assert_false(d.rcpts);
	/* rcpt TAT is 300 s: 6 more fit at 60 s only if the refusal cost nothing */
	assert_int_equal(chk(rl, "k2", &q, 6, T0 + S(60), &d), RL_ALLOW);
	ratelimit_free(&rl);
}

static void test_keys_independent(void **state)
{
	struct ratelimit *rl = ratelimit_new(10000);
	struct rl_policy p = msgs1(1, 60);
	struct rl_decision d;
	char k1[64], k2[64], k3[64], k4[64];
	size_t l1 = rl_key_build(k1, sizeof k1, RL_KEY_ACCOUNT, "x", NULL);
	size_t l2 = rl_key_build(k2, sizeof k2, RL_KEY_IP, NULL, "x");
	size_t l3 = rl_key_build(k3, sizeof k3, RL_KEY_ACCOUNT_IP, "x", "192.0.2.1");
	size_t l4 = rl_key_build(k4, sizeof k4, RL_KEY_ACCOUNT_IP, "x", "192.0.2.2");
	const char *keys[] = { k1, k2, k3, k4 };
	size_t lens[] = { l1, l2, l3, l4 };
	for (int i = 0; i < 4; i++) {
		assert_true(lens[i] > 0);
		assert_int_equal(ratelimit_check(rl, keys[i], lens[i], &p, 0, T0, &d), RL_ALLOW);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(ratelimit_check(rl, keys[i], lens[i], &p, 0, T0, &d), RL_DENY);
	/* a prefix is another key */
	assert_int_equal(ratelimit_check(rl, k3, l3 - 1, &p, 0, T0, &d), RL_ALLOW);
	assert_int_equal(ratelimit_count(rl), 5);

	/* many keys: one each passes, all survive growth of the table */
	char buf[32];
	for (int i = 0; i < 900; i++) {
		snprintf(buf, sizeof buf, "a:user%d", i);
		assert_int_equal(chk(rl, buf, &p, 0, T0, &d), RL_ALLOW);
	}
	for (int i = 0; i < 900; i++) {
		snprintf(buf, sizeof buf, "a:user%d", i);
		assert_int_equal(chk(rl, buf, &p, 0, T0, &d), RL_DENY);
	}
	assert_int_equal(ratelimit_count(rl), 905);
	ratelimit_free(&rl);
}

/* a full table: new keys get RL_FULL until a key drains; old keys work */
static void test_full_and_eviction(void **state)
{
	struct ratelimit *rl = ratelimit_new(2);
	struct rl_policy p = msgs1(1, 60);
	struct rl_decision d;
	assert_int_equal(chk(rl, "a", &p, 0, T0, &d), RL_ALLOW);
	assert_int_equal(chk(rl, "b", &p, 0, T0 + S(10), &d), RL_ALLOW);
	assert_int_equal(chk(rl, "c", &p, 0, T0 + S(10), &d), RL_FULL);
	assert_int_equal(d.outcome, RL_FULL);
	assert_non_null(d.reason);
	assert_int_equal(chk(rl, "a", &p, 0, T0 + S(10), &d), RL_DENY); /* still tracked */
	assert_int_equal(chk(rl, "c", &p, 0, T0 + S(59), &d), RL_FULL);
	/* "a" drains at 60 s: its slot goes to "c", "b" stays */
	assert_int_equal(chk(rl, "c", &p, 0, T0 + S(60), &d), RL_ALLOW);
	assert_int_equal(ratelimit_count(rl), 2);
	assert_int_equal(chk(rl, "b", &p, 0, T0 + S(60), &d), RL_DENY);
	assert_int_equal(chk(rl, "d", &p, 0, T0 + S(60), &d), RL_FULL);
	/* explicit sweep */
	assert_int_equal(ratelimit_sweep(rl, T0 + S(69)), 0);
	assert_int_equal(ratelimit_sweep(rl, T0 + S(70)), 1); /* b */
	assert_int_equal(ratelimit_sweep(rl, T0 + S(200)), 1); /* c */
	assert_int_equal(ratelimit_count(rl), 0);
	/* a drained key behaves as fresh: the full burst is back */
	struct rl_policy q = msgs1(3, 60);
	for (int i = 0; i < 3; i++)
		assert_int_equal(chk(rl, "a", &q, 0, T0 + S(300), &d), RL_ALLOW);
	ratelimit_free(&rl);

	/* a large table under pressure: exactly max_entries keys, then FULL */
	rl = ratelimit_new(20000);
	char buf[32];
	size_t full = 0, ok = 0;
	for (int i = 0; i < 25000; i++) {
		snprintf(buf, sizeof buf, "i:10.0.%d.%d", i / 256, i % 256);
		enum rl_outcome o = chk(rl, buf, &p, 0, T0, &d);
		full += o == RL_FULL;
		ok += o == RL_ALLOW;
	}
	assert_int_equal(ok + full, 25000);
	assert_true(ok <= 20000);
	assert_true(ok >= 19000); /* per-shard caps cost a little at most */
	assert_int_equal(ratelimit_count(rl), ok);
	assert_int_equal(ratelimit_sweep(rl, T0 + S(60)), ok);
	ratelimit_free(&rl);
}

/* policy changes carry the used share of a window */
static void test_policy_change(void **state)
{
	struct ratelimit *rl = ratelimit_new(100);
	struct rl_policy p10 = msgs1(10, 60), p20 = msgs1(20, 60);
	struct rl_decision d;
	for (int i = 0; i < 5; i++)
		assert_int_equal(chk(rl, "k", &p10, 0, T0, &d), RL_ALLOW);
	int n = 0;
	while (n < 100 && chk(rl, "k", &p20, 0, T0, &d) == RL_ALLOW)
		n++;
	assert_int_equal(n, 15); /* 5 of 20 used */
	/* a stricter limit: 20 used of 5 would be a 4-period debt; capped at one period */
	struct rl_policy p5 = msgs1(5, 60);
	assert_int_equal(chk(rl, "k", &p5, 0, T0, &d), RL_DENY);
	assert_int_equal(d.retry_after_ms, 12000);
	/* adding a window keeps the state of the first */
	struct rl_policy p5h = { .msgs = { { 5, 60 }, { 100, 3600 } }, .nmsgs = 2 };
	assert_int_equal(chk(rl, "k", &p5h, 0, T0, &d), RL_DENY);
	assert_int_equal(d.window, 0);
	assert_int_equal(chk(rl, "k", &p5h, 0, T0 + S(12), &d), RL_ALLOW);
	/* and a recipient window added later starts empty */
	struct rl_policy pr = p5h;
	pr.rcpts[0] = (struct rl_limit){ 10, 60 };
	pr.nrcpts = 1;
	assert_int_equal(chk(rl, "k", &pr, 10, T0 + S(24), &d), RL_ALLOW);
	ratelimit_free(&rl);
}

static void test_unlimited_and_errors(void **state)
{
	struct ratelimit *rl = ratelimit_new(100);
	struct rl_decision d;
	struct rl_policy none = { .nmsgs = 0 };
	struct rl_policy zero = { .msgs = { { 0, 60 } }, .nmsgs = 1, .rcpts = { { 10, 60 } }, .nrcpts = 1 };
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(chk(rl, "k", &none, 5, T0, &d), RL_ALLOW);
		assert_int_equal(chk(rl, "k", &zero, 0, T0, &d), RL_ALLOW);
	}
	assert_int_equal(ratelimit_count(rl), 0);

	struct { struct rl_policy p; const char *err; } bad[] = {
		{ { .nmsgs = 5 }, "more than 4 windows per dimension" },
		{ { .nrcpts = 9 }, "more than 4 windows per dimension" },
		{ { .msgs = { { 5, 0 } }, .nmsgs = 1 }, "message limit 0: period 0 s outside 1..31622400" },
		{ { .rcpts = { { 1, 60 }, { 5, RL_PERIOD_MAX + 1 } }, .nrcpts = 2 },
		  "recipient limit 1: period 31622401 s outside 1..31622400" },
		{ { .msgs = { { RL_COUNT_MAX + 1, 1 } }, .nmsgs = 1 },
		  "message limit 0: count 1000000001 above 1000000000" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char err[128];
		assert_int_equal(rl_policy_validate(&bad[i].p, err, sizeof err), -1);
		assert_string_equal(err, bad[i].err);
		assert_int_equal(chk(rl, "k", &bad[i].p, 1, T0, &d), RL_ERROR);
		assert_non_null(d.reason);
	}
	char err[64];
	assert_int_equal(rl_policy_validate(NULL, err, sizeof err), -1);
	struct rl_policy ok = msgs1(1, 1);
	assert_int_equal(rl_policy_validate(&ok, err, sizeof err), 0);

	static char longkey[RL_KEY_MAX + 1];
	memset(longkey, 'x', sizeof longkey);
	assert_int_equal(ratelimit_check(rl, longkey, RL_KEY_MAX + 1, &ok, 0, T0, &d), RL_ERROR);
	assert_int_equal(ratelimit_check(rl, longkey, RL_KEY_MAX, &ok, 0, T0, &d), RL_ALLOW);
	assert_int_equal(ratelimit_check(rl, longkey, 0, &ok, 0, T0, &d), RL_ERROR);
	assert_int_equal(ratelimit_check(rl, NULL, 3, &ok, 0, T0, &d), RL_ERROR);
	assert_int_equal(chk(rl, "k", NULL, 0, T0, &d), RL_ERROR);
	assert_int_equal(chk(rl, "k", &ok, 0, -1, &d), RL_ERROR);
	assert_int_equal(chk(rl, "k", &ok, 0, RL_NOW_MAX + 1, &d), RL_ERROR);
	assert_int_equal(chk(rl, "k", &ok, 0, RL_NOW_MAX, &d), RL_ALLOW);
	assert_int_equal(chk(rl, "k0", &ok, 0, 0, &d), RL_ALLOW);
	assert_int_equal(chk(rl, "k0", &ok, 0, 0, &d), RL_DENY);
	ratelimit_free(&rl);
}

static void test_key_build(void **state)
{
	char out[16];
	assert_int_equal(rl_key_build(out, sizeof out, RL_KEY_ACCOUNT, "alice", NULL), 7);
	assert_memory_equal(out, "a:alice", 7);
	assert_int_equal(rl_key_build(out, sizeof out, RL_KEY_IP, "ignored", "192.0.2.1"), 11);
	assert_memory_equal(out, "i:192.0.2.1", 11);
	assert_int_equal(rl_key_build(out, sizeof out, RL_KEY_ACCOUNT_IP, "al", "::1"), 8);
	assert_memory_equal(out, "p:al\0::1", 8);
	assert_int_equal(rl_key_build(out, sizeof out, RL_KEY_ACCOUNT_IP, "alice", "192.0.2.10"), 0);
	assert_int_equal(rl_key_build(out, sizeof out, RL_KEY_ACCOUNT_IP, "alice", NULL), 0);
	assert_int_equal(rl_key_build(out, sizeof out, RL_KEY_ACCOUNT, NULL, "x"), 0);
	assert_int_equal(rl_key_build(out, sizeof out, (enum rl_key_kind)'z', "x", "x"), 0);
	assert_int_equal(rl_key_build(out, 7, RL_KEY_ACCOUNT, "alice", NULL), 7);
	assert_int_equal(rl_key_build(out, 6, RL_KEY_ACCOUNT, "alice", NULL), 0);
	static char big[RL_KEY_MAX + 8], acct[RL_KEY_MAX];
	memset(acct, 'u', sizeof acct - 1);
	assert_int_equal(rl_key_build(big, sizeof big, RL_KEY_ACCOUNT, acct, NULL), 0); /* 513 */
	acct[RL_KEY_MAX - 2] = '\0';
	assert_int_equal(rl_key_build(big, sizeof big, RL_KEY_ACCOUNT, acct, NULL), RL_KEY_MAX);
}

static void test_decision_text(void **state)
{
	struct {
		struct rl_decision d;
		int code;
		const char *label, *want;
	} cases[] = {
		{ { RL_DENY, false, 1, 100, 3600, 1, 35000, NULL }, 451, "sasl:alice",
		  "4.7.1 rate limit exceeded: 100 messages per 1 h for sasl:alice; retry in 35 s" },
		{ { RL_DENY, false, 0, 1, 60, 1, 1, NULL }, 450, "ip:192.0.2.1",
		  "4.7.1 rate limit exceeded: 1 message per 1 min for ip:192.0.2.1; retry in 1 s" },
		{ { RL_DENY, true, 0, 500, 86400, 3, 7200001, NULL }, 550, "sasl:bob",
		  "5.7.1 rate limit exceeded: 500 recipients per 1 d for sasl:bob; retry in 3 h" },
		{ { RL_DENY, true, 0, 100, 90, 3, 119000, NULL }, 421, "x",
		  "4.7.1 rate limit exceeded: 100 recipients per 90 s for x; retry in 119 s" },
		{ { RL_DENY, false, 0, 10, 7200, 1, 120000, NULL }, 451, "x",
		  "4.7.1 rate limit exceeded: 10 messages per 2 h for x; retry in 2 min" },
		{ { RL_DENY, true, 0, 100, 3600, 150, -1, NULL }, 550, "sasl:carol",
		  "5.7.1 rate limit exceeded: 150 recipients in one message, over the limit of 100 "
		  "recipients per 1 h for sasl:carol" },
		{ { RL_DENY, false, 0, 5, 60, 1, 1000, NULL }, 451, "sasl:evil\r\n250 ok",
		  "4.7.1 rate limit exceeded: 5 messages per 1 min for sasl:evil??250?ok; retry in 1 s" },
		{ { RL_FULL, false, 0, 0, 0, 0, 0, "rate limit table full" }, 451, "ip:192.0.2.9",
		  "4.7.1 rate limit unavailable for ip:192.0.2.9: rate limit table full" },
		{ { RL_ALLOW, false, 0, 0, 0, 0, 0, NULL }, 451, NULL, "2.0.0 within rate limits for ?" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[256];
		rl_decision_text(&cases[i].d, cases[i].code, cases[i].label, out, sizeof out);
		assert_string_equal(out, cases[i].want);
	}
	/* long labels are cut; short buffers truncate and terminate */
	char label[200], out[300];
	memset(label, 'L', sizeof label - 1);
	label[sizeof label - 1] = '\0';
	rl_decision_text(&cases[0].d, 451, label, out, sizeof out);
	assert_non_null(strstr(out, "for LLLL"));
	assert_non_null(strstr(out, "L...; retry in 35 s"));
	assert_true(strlen(out) < 160);
	char tiny[8];
	rl_decision_text(&cases[0].d, 451, "x", tiny, sizeof tiny);
	assert_string_equal(tiny, "4.7.1 r");
	rl_decision_text(&cases[0].d, 451, "x", tiny, 0); /* no write */
}

/* threads: totals never exceed the limit */
struct hammer {
	struct ratelimit *rl;
	int id;
	int allowed_shared, allowed_own;
};

static void *hammer_run(void *arg)
{
	struct hammer *h = arg;
	struct rl_policy shared = msgs1(1000, 3600), own = msgs1(100, 60);
	char key[32];
	snprintf(key, sizeof key, "a:thread%d", h->id);
	for (int i = 0; i < 10000; i++) {
		struct rl_decision d;
		if (chk(h->rl, "a:shared", &shared, 0, T0, &d) == RL_ALLOW)
			h->allowed_shared++;
		if (chk(h->rl, key, &own, 0, T0 + S(i / 1000), &d) == RL_ALLOW)
			h->allowed_own++;
	}
	return NULL;
}

static void test_threads(void **state)
{
	enum { NT = 8 };
	struct ratelimit *rl = ratelimit_new(1000);
	pthread_t th[NT];
	struct hammer h[NT];
	for (int i = 0; i < NT; i++) {
		h[i] = (struct hammer){ rl, i, 0, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, hammer_run, &h[i]), 0);
	}
	int total = 0;
	for (int i = 0; i < NT; i++) {
		pthread_join(th[i], NULL);
		total += h[i].allowed_shared;
		/* 100 at once, then one per 0.6 s over 9 s: 100 + 15 */
		assert_int_equal(h[i].allowed_own, 115);
	}
	assert_int_equal(total, 1000);
	assert_int_equal(ratelimit_count(rl), NT + 1);
	ratelimit_free(&rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worked_example),
		cmocka_unit_test(test_boundaries),
		cmocka_unit_test(test_sub_ns),
		cmocka_unit_test(test_boundaries_large),
		cmocka_unit_test(test_against_reference),
		cmocka_unit_test(test_several_windows),
		cmocka_unit_test(test_recipient_cost),
		cmocka_unit_test(test_deny_does_not_consume),
		cmocka_unit_test(test_keys_independent),
		cmocka_unit_test(test_full_and_eviction),
		cmocka_unit_test(test_policy_change),
		cmocka_unit_test(test_unlimited_and_errors),
		cmocka_unit_test(test_key_build),
		cmocka_unit_test(test_decision_text),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
