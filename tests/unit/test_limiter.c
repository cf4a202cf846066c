/* unit tests for src/guard/limiter: the in-process backend through
 * limiter.h (same answers as ratelimit.c, shared argument checks, batches),
 * and the Redis backend's url parsing. The Redis backend against a real
 * server: tests/integration/test_limiter_redis.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "guard/limiter.h"

#define S(x) ((int64_t)(x)*INT64_C(1000000000))
#define T0 S(1700000000)

static enum rl_outcome chk(struct limiter *l, const char *key, const struct rl_policy *p, uint32_t nrcpt, int64_t now,
                           struct rl_decision *d)
{
	return limiter_check(l, key, strlen(key), p, nrcpt, now, d);
}

/* ratelimit.h's worked example, "3 per 60 s", row by row */
static void test_local_worked_example(void **state)
{
	(void)state;
	struct {
		int64_t t;
		enum rl_outcome o;
		int64_t retry_ms;
	} rows[] = {
	    {0, RL_ALLOW, 0},  {1, RL_ALLOW, 0},     {2, RL_ALLOW, 0},   {3, RL_DENY, 17000},
	    {20, RL_ALLOW, 0}, {21, RL_DENY, 19000}, {200, RL_ALLOW, 0},
	};
	struct limiter *l = limiter_local_new(100);
	assert_string_equal(limiter_kind(l), "local");
	struct rl_policy p = {.msgs = {{3, 60}}, .nmsgs = 1};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct rl_decision d;
		enum rl_outcome o = chk(l, "a:alice", &p, 1, T0 + S(rows[i].t), &d);
		if (o != rows[i].o || d.outcome != o || (o == RL_DENY && d.retry_after_ms != rows[i].retry_ms))
			fail_msg("row %zu: outcome %d retry %lld", i, o, (long long)d.retry_after_ms);
	}
	limiter_free(&l);
	assert_null(l);
	limiter_free(&l); /* NULL is fine */
}

/* N per T exactly at one instant, several windows: the tightest binds, and
 * a denied request charges no window */
static void test_local_windows(void **state)
{
	(void)state;
	struct limiter *l = limiter_local_new(0);
	struct rl_policy p = {
	    .msgs = {{5, 60}, {8, 3600}},
	    .nmsgs = 2,
	    .rcpts = {{10, 60}},
	    .nrcpts = 1,
	};
	struct rl_decision d;
	int allowed = 0;
	for (int i = 0; i < 20; i++)
		allowed += chk(l, "a:bob", &p, 1, T0, &d) == RL_ALLOW;
	assert_int_equal(allowed, 5);
	assert_int_equal(d.outcome, RL_DENY);
	assert_false(d.rcpts);
	assert_int_equal(d.window, 0);
	assert_int_equal(d.retry_after_ms, 12000);
	/* 60 s later the minute window has refilled 5, the hour only 3 more */
	allowed = 0;
	for (int i = 0; i < 20; i++)
		allowed += chk(l, "a:bob", &p, 1, T0 + S(60), &d) == RL_ALLOW;
	assert_int_equal(allowed, 3);
	assert_int_equal(d.outcome, RL_DENY);
	assert_int_equal(d.window, 1);
	assert_int_equal(d.count, 8);
	assert_int_equal(d.period_s, 3600);

	/* recipients: 11 in one message can never pass 10/min */
	assert_int_equal(chk(l, "a:carol", &p, 11, T0, &d), RL_DENY);
	assert_true(d.rcpts);
	assert_int_equal(d.retry_after_ms, -1);
	assert_int_equal(d.cost, 11);
	/* and charged nothing: 10 recipients still pass at once, then 1 more does not */
	assert_int_equal(chk(l, "a:carol", &p, 10, T0, &d), RL_ALLOW);
	assert_int_equal(chk(l, "a:carol", &p, 1, T0, &d), RL_DENY);
	assert_true(d.rcpts);
	/* a message-window deny charges no recipient window either */
	for (int i = 0; i < 5; i++)
		assert_int_equal(chk(l, "a:dave", &p, 1, T0, &d), RL_ALLOW);
	assert_int_equal(chk(l, "a:dave", &p, 5, T0, &d), RL_DENY);
	assert_false(d.rcpts);
	assert_int_equal(chk(l, "a:dave", &p, 5, T0 + S(12), &d), RL_ALLOW); /* 5+5 = 10 rcpts */
	limiter_free(&l);
}

static void test_local_errors(void **state)
{
	(void)state;
	struct limiter *l = limiter_local_new(4);
	struct rl_policy p = {.msgs = {{1, 60}}, .nmsgs = 1};
	struct rl_policy bad = {.msgs = {{1, 0}}, .nmsgs = 1};
	struct rl_policy idle = {.msgs = {{0, 60}}, .nmsgs = 1, .rcpts = {{1, 60}}, .nrcpts = 1};
	char big[RL_KEY_MAX + 1];
	memset(big, 'x', sizeof big);
	struct rl_decision d;
	assert_int_equal(limiter_check(l, big, sizeof big, &p, 1, T0, &d), RL_ERROR);
	assert_non_null(d.reason);
	assert_int_equal(limiter_check(l, "", 0, &p, 1, T0, &d), RL_ERROR);
	assert_int_equal(chk(l, "a:x", &bad, 1, T0, &d), RL_ERROR);
	assert_int_equal(chk(l, "a:x", &p, 1, -1, &d), RL_ERROR);
	/* no charged window: allowed, nothing stored */
	for (int i = 0; i < 3; i++)
		assert_int_equal(chk(l, "a:x", &idle, 0, T0, &d), RL_ALLOW);
	/* a table of 4 keys: the 5th live key is RL_FULL */
	char k[16];
	for (int i = 0; i < 4; i++) {
		snprintf(k, sizeof k, "a:%d", i);
		assert_int_equal(chk(l, k, &p, 1, T0, &d), RL_ALLOW);
	}
	assert_int_equal(chk(l, "a:new", &p, 1, T0, &d), RL_FULL);
	assert_non_null(d.reason);
	limiter_use_caller_clock(l, true); /* no effect on the local backend */
	assert_int_equal(chk(l, "a:0", &p, 1, T0 + S(60), &d), RL_ALLOW);
	limiter_free(&l);
}

/* a batch answers exactly what the same checks one by one answer */
static void test_local_batch(void **state)
{
	(void)state;
	struct limiter *a = limiter_local_new(0), *b = limiter_local_new(0);
	struct rl_policy p = {.msgs = {{3, 60}}, .nmsgs = 1, .rcpts = {{7, 60}}, .nrcpts = 1};
	struct rl_policy bad = {.nmsgs = RL_MAX_WINDOWS + 1};
	enum { N = 150 };
	struct limiter_req req[N];
	char keys[N][8];
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof keys[i], "a:%d", i % 5);
		req[i] = (struct limiter_req){keys[i], strlen(keys[i]), i % 37 == 5 ? &bad : &p, (uint32_t)(i % 4)};
	}
	struct rl_decision db[N], d1;
	limiter_check_batch(b, req, N, T0, db);
	int allowed = 0;
	for (int i = 0; i < N; i++) {
		enum rl_outcome o = limiter_check(a, req[i].key, req[i].keylen, req[i].p, req[i].nrcpt, T0, &d1);
		assert_int_equal(db[i].outcome, o);
		assert_int_equal(db[i].retry_after_ms, d1.retry_after_ms);
		assert_int_equal(db[i].window, d1.window);
		allowed += o == RL_ALLOW;
	}
	assert_true(allowed >= 5 && allowed <= 15);
	limiter_free(&a);
	limiter_free(&b);
}

/* malformed urls are refused at creation, with a reason; good ones are
 * accepted without connecting */
static void test_redis_url(void **state)
{
	(void)state;
	const char *bad[] = {
	    "",
	    "http://x",
	    "redis://",
	    "redis://host:0",
	    "redis://host:65536",
	    "redis://host:6379/x",
	    "redis://host:6379/-1",
	    "redis://host:port",
	    "unix:",
	    "redis://[::1",
	    "redis://a b:1",
	    "redis://user@host",
	    "unix:relative/path",
	    "redis://h/1x",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char err[256] = "";
		struct limiter *l = limiter_redis_new(bad[i], 100, "m:", err, sizeof err);
		if (l != NULL)
			fail_msg("url \"%s\" accepted", bad[i]);
		assert_true(err[0] != '\0');
	}
	const char *good[] = {"redis://127.0.0.1:6379",
	                      "redis://localhost",
	                      "redis://[::1]:7000/3",
	                      "unix:/run/redis/redis.sock",
	                      "redis://h:1/15",
	                      "redis://:secret@h:1",
	                      "redis://mamori:pw@[2001:db8::1]:6380/2",
	                      "redis://:p@ss/w:rd@h:1/3"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		char err[256] = "";
		struct limiter *l = limiter_redis_new(good[i], 100, "m:", err, sizeof err);
		if (l == NULL)
			fail_msg("url \"%s\" refused: %s", good[i], err);
		assert_string_equal(limiter_kind(l), "redis");
		limiter_free(&l);
	}
}

/* nothing listening: unavailable at once with a reason, then "down" without
 * another connect until a second has passed */
static void test_redis_unreachable(void **state)
{
	(void)state;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sa;
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd); /* the port is now (almost certainly) closed: connect is refused */
	char url[64], err[128];
	snprintf(url, sizeof url, "redis://127.0.0.1:%u", ntohs(sa.sin_port));
	struct limiter *l = limiter_redis_new(url, 200, "t:", err, sizeof err);
	assert_non_null(l);
	struct rl_policy p = {.msgs = {{3, 60}}, .nmsgs = 1};
	struct rl_decision d;
	/* the reason of the later calls shows they did not try the network
	   again (no timing is judged here) */
	assert_int_equal(chk(l, "a:x", &p, 1, T0, &d), RL_UNAVAILABLE);
	assert_int_equal(d.outcome, RL_UNAVAILABLE);
	assert_string_equal(d.reason, "redis unreachable (connect failed)");
	for (int i = 0; i < 50; i++) {
		assert_int_equal(chk(l, "a:x", &p, 1, T0, &d), RL_UNAVAILABLE);
		assert_non_null(strstr(d.reason, "at most once a second"));
	}
	/* a batch is unavailable as a whole; an idle policy still allows */
	struct limiter_req req[2] = {{"a:x", 3, &p, 1}, {"a:y", 3, &p, 1}};
	struct rl_decision db[2];
	limiter_check_batch(l, req, 2, T0, db);
	assert_int_equal(db[0].outcome, RL_UNAVAILABLE);
	assert_int_equal(db[1].outcome, RL_UNAVAILABLE);
	struct rl_policy idle = {.nmsgs = 0};
	assert_int_equal(chk(l, "a:x", &idle, 1, T0, &d), RL_ALLOW);
	assert_int_equal(limiter_check(l, "", 0, &p, 1, T0, &d), RL_ERROR);
	limiter_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_local_worked_example),
	    cmocka_unit_test(test_local_windows),
	    cmocka_unit_test(test_local_errors),
	    cmocka_unit_test(test_local_batch),
	    cmocka_unit_test(test_redis_url),
	    cmocka_unit_test(test_redis_unreachable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
