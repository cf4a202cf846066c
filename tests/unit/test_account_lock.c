/* unit tests for src/guard/account_lock: the header's worked example row by
 * row, IP and country thresholds, window expiry, lock expiry, manual lock and
 * unlock, bounded sources and accounts, listing, and a threaded smoke test.
 * Time is an argument: nothing sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "guard/account_lock.h"

static struct ipaddr ip(const char *s)
{
	struct ipaddr a;
	if (ip_parse(s, &a) != 0)
		fail_msg("bad test address %s", s);
	return a;
}

static enum lock_verdict obs(struct account_locks *al, const char *acct, const char *addr,
			     const char *cc, const struct lock_policy *p, int64_t now, char *why)
{
	struct ipaddr a = ip(addr);
	return account_locks_observe(al, acct, &a, cc, p, now, why, 200);
}

static void test_worked_example(void **state)
{
	(void)state;
	struct lock_policy p = { .max_ips = 3, .max_countries = 2, .window_s = 3600, .lock_s = 1800 };
	struct {
		int64_t t;
		const char *ip, *cc;
		enum lock_verdict v;
		const char *why; /* substring */
		int64_t until;   /* when locked after the row; -1 = not locked */
	} rows[] = {
		{ 0, "192.0.2.1", "JP", LOCK_OK, "", -1 },
		{ 60, "192.0.2.2", "JP", LOCK_OK, "", -1 },
		{ 120, "192.0.2.1", "jp", LOCK_OK, "", -1 },
		{ 600, "192.0.2.3", "US", LOCK_OK, "", -1 },
		{ 700, "192.0.2.4", "US", LOCK_NEWLY_LOCKED, "4 distinct source IPs within 3600 s (limit 3)", 2500 },
		{ 800, "192.0.2.1", "JP", LOCK_LOCKED, "locked until 2500: 4 distinct source IPs", 2500 },
		{ 2500, "192.0.2.1", "JP", LOCK_NEWLY_LOCKED, "4 distinct source IPs", 4300 },
		{ 5000, "192.0.2.5", "DE", LOCK_OK, "", -1 },
		{ 5100, "192.0.2.6", "FR", LOCK_NEWLY_LOCKED, "3 countries within 3600 s (limit 2): JP DE FR", 6900 },
	};
	struct account_locks *al = account_locks_new(100);
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char why[200];
		enum lock_verdict v = obs(al, "alice", rows[i].ip, rows[i].cc, &p, rows[i].t, why);
		if (v != rows[i].v || (rows[i].why[0] ? !strstr(why, rows[i].why) : why[0] != '\0'))
			fail_msg("row %zu (t=%lld): verdict %d why '%s'", i, (long long)rows[i].t, v, why);
		int64_t until = -7;
		bool locked = account_locks_is_locked(al, "alice", rows[i].t, &until);
		assert_int_equal(locked, rows[i].until >= 0);
		if (locked)
			assert_int_equal(until, rows[i].until);
	}
	account_locks_free(&al);
	assert_null(al);
	account_locks_free(&al);
}

/* N distinct IPs are allowed, N+1 locks; repeats do not count twice */
static void test_ip_threshold(void **state)
{
	(void)state;
	for (unsigned n = 1; n <= 10; n++) {
		struct lock_policy p = { .max_ips = n, .window_s = 600, .lock_s = 0 };
		struct account_locks *al = account_locks_new(10);
		char addr[32], why[200];
		for (unsigned k = 0; k < n; k++) {
			snprintf(addr, sizeof addr, "198.51.100.%u", k + 1);
			assert_int_equal(obs(al, "bob", addr, "", &p, 1000 + k, why), LOCK_OK);
			/* same IP again: still one source */
			assert_int_equal(obs(al, "bob", addr, "", &p, 1000 + k, why), LOCK_OK);
		}
		assert_int_equal(obs(al, "bob", "203.0.113.9", "", &p, 1100, why), LOCK_NEWLY_LOCKED);
		char want[100];
		snprintf(want, sizeof want, "%u distinct source IPs within 600 s (limit %u)", n + 1, n);
		assert_string_equal(why, want);
		/* lock_s 0: until unlocked */
		int64_t until = -1;
		assert_true(account_locks_is_locked(al, "bob", INT64_C(1) << 40, &until));
		assert_int_equal(until, 0);
		assert_int_equal(obs(al, "bob", "198.51.100.1", "", &p, 99999, why), LOCK_LOCKED);
		assert_non_null(strstr(why, "locked until unlocked"));
		/* other accounts are unaffected */
		assert_int_equal(obs(al, "carol", "203.0.113.9", "", &p, 1100, why), LOCK_OK);
		account_locks_free(&al);
	}
}

/* address normalisation: mapped v4 is v4; one IPv6 /64 is one source */
static void test_ip_normalisation(void **state)
{
	(void)state;
	struct lock_policy p = { .max_ips = 1, .window_s = 600 };
	struct account_locks *al = account_locks_new(10);
	char why[200];
	assert_int_equal(obs(al, "d", "192.0.2.1", "", &p, 1, why), LOCK_OK);
	assert_int_equal(obs(al, "d", "::ffff:192.0.2.1", "", &p, 2, why), LOCK_OK);
	assert_int_equal(obs(al, "e", "2001:db8:1:2::1", "", &p, 1, why), LOCK_OK);
	assert_int_equal(obs(al, "e", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "", &p, 2, why), LOCK_OK);
	assert_int_equal(obs(al, "e", "2001:db8:1:3::1", "", &p, 3, why), LOCK_NEWLY_LOCKED);
	account_locks_free(&al);
}

static void test_countries(void **state)
{
	(void)state;
	/* IPs off, 2 countries allowed; unknown and invalid codes do not count */
	struct lock_policy p = { .max_countries = 2, .window_s = 3600, .lock_s = 60 };
	struct account_locks *al = account_locks_new(10);
	char why[200];
	assert_int_equal(obs(al, "f", "192.0.2.1", "JP", &p, 10, why), LOCK_OK);
	assert_int_equal(obs(al, "f", "192.0.2.2", "jp", &p, 11, why), LOCK_OK);
	assert_int_equal(obs(al, "f", "192.0.2.3", "", &p, 12, why), LOCK_OK);
	assert_int_equal(obs(al, "f", "192.0.2.4", NULL, &p, 13, why), LOCK_OK);
	assert_int_equal(obs(al, "f", "192.0.2.5", "USA", &p, 14, why), LOCK_OK);
	assert_int_equal(obs(al, "f", "192.0.2.6", "U$", &p, 15, why), LOCK_OK);
	assert_int_equal(obs(al, "f", "192.0.2.7", "US", &p, 16, why), LOCK_OK);
	/* 30 IPs but only 2 countries: fine, max_ips is off */
	for (int i = 10; i < 40; i++) {
		char a[32];
		snprintf(a, sizeof a, "10.0.0.%d", i);
		assert_int_equal(obs(al, "f", a, i % 2 ? "JP" : "US", &p, 20 + i, why), LOCK_OK);
	}
	assert_int_equal(obs(al, "f", "192.0.2.8", "BR", &p, 100, why), LOCK_NEWLY_LOCKED);
	assert_string_equal(why, "3 countries within 3600 s (limit 2): JP US BR");
	/* a country changing for a known IP (geo update) replaces, not adds */
	struct account_locks *al2 = account_locks_new(10);
	assert_int_equal(obs(al2, "g", "192.0.2.1", "JP", &p, 1, why), LOCK_OK);
	assert_int_equal(obs(al2, "g", "192.0.2.2", "US", &p, 2, why), LOCK_OK);
	assert_int_equal(obs(al2, "g", "192.0.2.2", "DE", &p, 3, why), LOCK_OK);
	assert_int_equal(obs(al2, "g", "192.0.2.3", "FR", &p, 4, why), LOCK_NEWLY_LOCKED);
	assert_string_equal(why, "3 countries within 3600 s (limit 2): JP DE FR");
	/* both limits at once */
	struct lock_policy pb = { .max_ips = 2, .max_countries = 1, .window_s = 60 };
	assert_int_equal(obs(al2, "h", "192.0.2.1", "JP", &pb, 1, why), LOCK_OK);
	assert_int_equal(obs(al2, "h", "192.0.2.2", "JP", &pb, 2, why), LOCK_OK);
	assert_int_equal(obs(al2, "h", "192.0.2.3", "US", &pb, 3, why), LOCK_NEWLY_LOCKED);
	assert_string_equal(why, "3 distinct source IPs within 60 s (limit 2); "
				 "2 countries within 60 s (limit 1): JP US");
	account_locks_free(&al);
	account_locks_free(&al2);
}

/* the window: a source seen window_s ago or earlier no longer counts */
static void test_window_expiry(void **state)
{
	(void)state;
	struct lock_policy p = { .max_ips = 2, .window_s = 100, .lock_s = 10 };
	struct account_locks *al = account_locks_new(10);
	char why[200];
	assert_int_equal(obs(al, "i", "192.0.2.1", "", &p, 1000, why), LOCK_OK);
	assert_int_equal(obs(al, "i", "192.0.2.2", "", &p, 1050, why), LOCK_OK);
	/* at 1100, .1 is exactly 100 s old: out */
	assert_int_equal(obs(al, "i", "192.0.2.3", "", &p, 1100, why), LOCK_OK);
	/* at 1149, .2 (1050) and .3 (1100) are in: a 4th makes 3 */
	assert_int_equal(obs(al, "i", "192.0.2.4", "", &p, 1149, why), LOCK_NEWLY_LOCKED);
	/* refreshing keeps a source alive */
	assert_int_equal(obs(al, "j", "192.0.2.1", "", &p, 0, why), LOCK_OK);
	assert_int_equal(obs(al, "j", "192.0.2.1", "", &p, 90, why), LOCK_OK);
	assert_int_equal(obs(al, "j", "192.0.2.2", "", &p, 150, why), LOCK_OK);
	assert_int_equal(obs(al, "j", "192.0.2.3", "", &p, 185, why), LOCK_NEWLY_LOCKED);
	/* an out-of-order (older) time does not move a source back */
	assert_int_equal(obs(al, "k", "192.0.2.1", "", &p, 500, why), LOCK_OK);
	assert_int_equal(obs(al, "k", "192.0.2.1", "", &p, 300, why), LOCK_OK);
	assert_int_equal(obs(al, "k", "192.0.2.2", "", &p, 590, why), LOCK_OK);
	assert_int_equal(obs(al, "k", "192.0.2.3", "", &p, 599, why), LOCK_NEWLY_LOCKED);
	account_locks_free(&al);
}

static void test_lock_expiry(void **state)
{
	(void)state;
	struct lock_policy p = { .max_ips = 1, .window_s = 60, .lock_s = 300 };
	struct account_locks *al = account_locks_new(10);
	char why[200];
	int64_t until;
	assert_int_equal(obs(al, "m", "192.0.2.1", "", &p, 0, why), LOCK_OK);
	assert_int_equal(obs(al, "m", "192.0.2.2", "", &p, 10, why), LOCK_NEWLY_LOCKED);
	assert_true(account_locks_is_locked(al, "m", 10, &until));
	assert_int_equal(until, 310);
	assert_true(account_locks_is_locked(al, "m", 309, NULL));
	assert_false(account_locks_is_locked(al, "m", 310, &until));
	/* after expiry, with the old sources out of the window: one IP is fine */
	assert_int_equal(obs(al, "m", "192.0.2.1", "", &p, 400, why), LOCK_OK);
	assert_string_equal(why, "");
	assert_false(account_locks_is_locked(al, "m", 400, NULL));
	assert_false(account_locks_is_locked(al, "nobody", 400, NULL));
	account_locks_free(&al);
}

static void test_manual_lock_unlock(void **state)
{
	(void)state;
	struct lock_policy p = { .max_ips = 1, .window_s = 3600 };
	struct account_locks *al = account_locks_new(10);
	char why[200];
	int64_t until;
	/* manual lock of an unknown account, until unlocked */
	assert_int_equal(account_locks_lock(al, "n", 100, 0, "admin: phishing report"), 0);
	assert_true(account_locks_is_locked(al, "n", INT64_C(1) << 50, &until));
	assert_int_equal(until, 0);
	assert_int_equal(obs(al, "n", "192.0.2.1", "", &p, 200, why), LOCK_LOCKED);
	assert_string_equal(why, "locked until unlocked: admin: phishing report");
	assert_int_equal(account_locks_unlock(al, "n"), 1);
	assert_false(account_locks_is_locked(al, "n", 200, NULL));
	assert_int_equal(account_locks_unlock(al, "n"), 0);
	assert_int_equal(account_locks_unlock(al, "never-seen"), 0);
	assert_int_equal(account_locks_unlock(al, ""), -1);
	assert_int_equal(account_locks_unlock(al, NULL), -1);

	/* unlock forgets the evidence: the next login from a 2nd IP is fine */
	assert_int_equal(obs(al, "o", "192.0.2.1", "", &p, 0, why), LOCK_OK);
	assert_int_equal(obs(al, "o", "192.0.2.2", "", &p, 1, why), LOCK_NEWLY_LOCKED);
	assert_int_equal(account_locks_unlock(al, "o"), 1);
	assert_int_equal(obs(al, "o", "192.0.2.2", "", &p, 2, why), LOCK_OK);
	assert_int_equal(obs(al, "o", "192.0.2.3", "", &p, 3, why), LOCK_NEWLY_LOCKED);

	/* timed manual lock; relock replaces */
	assert_int_equal(account_locks_lock(al, "q", 0, 50, NULL), 0);
	assert_true(account_locks_is_locked(al, "q", 49, NULL));
	assert_false(account_locks_is_locked(al, "q", 50, NULL));
	assert_int_equal(account_locks_lock(al, "q", 60, 500, "again"), 0);
	assert_true(account_locks_is_locked(al, "q", 100, &until));
	assert_int_equal(until, 500);

	/* bad names */
	char longname[LOCK_ACCOUNT_MAX + 2];
	memset(longname, 'x', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	assert_int_equal(account_locks_lock(al, longname, 0, 0, "x"), -1);
	assert_int_equal(account_locks_lock(al, "", 0, 0, "x"), -1);
	assert_int_equal(obs(al, longname, "192.0.2.1", "", &p, 0, why), LOCK_ERROR);
	assert_non_null(strstr(why, "longer than 255"));
	longname[LOCK_ACCOUNT_MAX] = '\0'; /* exactly the maximum is fine */
	assert_int_equal(obs(al, longname, "192.0.2.1", "", &p, 0, why), LOCK_OK);
	account_locks_free(&al);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	struct account_locks *al = account_locks_new(10);
	char why[200];
	struct ipaddr a = ip("192.0.2.1");
	struct ipaddr none = { 0 };
	struct lock_policy ok = { .max_ips = 3, .window_s = 60 };
	struct {
		struct lock_policy p;
		const char *want;
	} bad[] = {
		{ { .max_ips = 64, .window_s = 60 }, "max_ips 64 must be below 64" },
		{ { .max_countries = 100, .window_s = 60 }, "max_countries 100 must be below 64" },
		{ { .max_ips = 3, .window_s = 0 }, "window 0 s outside" },
		{ { .max_ips = 3, .window_s = LOCK_WINDOW_MAX + 1 }, "outside 1..2592000" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char err[128];
		assert_int_equal(lock_policy_validate(&bad[i].p, err, sizeof err), -1);
		if (!strstr(err, bad[i].want))
			fail_msg("case %zu: '%s'", i, err);
		assert_int_equal(account_locks_observe(al, "a", &a, "", &bad[i].p, 0, why, sizeof why),
				 LOCK_ERROR);
		assert_non_null(strstr(why, bad[i].want));
	}
	assert_int_equal(lock_policy_validate(&ok, NULL, 0), 0);
	assert_int_equal(account_locks_observe(al, "a", &none, "", &ok, 0, why, sizeof why), LOCK_ERROR);
	assert_string_equal(why, "no source address");
	assert_int_equal(account_locks_observe(al, "a", NULL, "", &ok, 0, why, sizeof why), LOCK_ERROR);
	assert_int_equal(account_locks_observe(al, "a", &a, "", NULL, 0, why, sizeof why), LOCK_ERROR);
	assert_int_equal(account_locks_observe(al, "a", &a, "", &ok, -1, why, sizeof why), LOCK_ERROR);
	assert_int_equal(account_locks_observe(al, NULL, &a, "", &ok, 0, NULL, 0), LOCK_ERROR);
	assert_int_equal(account_locks_count(al), 0); /* nothing recorded */
	account_locks_free(&al);
}

/* sources per account are bounded; the least recently seen one goes */
static void test_bounded_sources(void **state)
{
	(void)state;
	/* max_ips 63 with a window wide enough to hold 200 observations */
	struct lock_policy p = { .max_ips = LOCK_MAX_SOURCES - 1, .window_s = 100000 };
	struct account_locks *al = account_locks_new(10);
	char why[200], a[32];
	for (int i = 0; i < LOCK_MAX_SOURCES - 1; i++) {
		snprintf(a, sizeof a, "10.1.%d.%d", i / 200, i % 200 + 1);
		assert_int_equal(obs(al, "r", a, "", &p, i, why), LOCK_OK);
	}
	/* the 64th distinct source exceeds 63 */
	assert_int_equal(obs(al, "r", "10.9.9.9", "", &p, 100, why), LOCK_NEWLY_LOCKED);
	assert_string_equal(why, "64 distinct source IPs within 100000 s (limit 63)");
	/* 300 more distinct IPs on another account: never more than 64 kept,
	 * so the count it reports is capped at 64 */
	struct lock_policy p2 = { .max_ips = 5, .window_s = 100000, .lock_s = 1 };
	for (int i = 0; i < 300; i++) {
		snprintf(a, sizeof a, "10.2.%d.%d", i / 200, i % 200 + 1);
		enum lock_verdict v = obs(al, "s", a, "", &p2, 1000 + 2 * i, why);
		if (v == LOCK_NEWLY_LOCKED) {
			unsigned n = 0;
			assert_int_equal(sscanf(why, "%u distinct", &n), 1);
			assert_true(n >= 6 && n <= LOCK_MAX_SOURCES);
		}
	}
	assert_non_null(strstr(why, "64 distinct source IPs"));
	account_locks_free(&al);
}

/* accounts are bounded; the least recently seen unlocked one goes; locked
 * accounts stay */
static void test_bounded_accounts(void **state)
{
	(void)state;
	struct lock_policy p = { .max_ips = 5, .window_s = 60 };
	struct account_locks *al = account_locks_new(3);
	char why[200];
	assert_int_equal(obs(al, "u1", "192.0.2.1", "", &p, 10, why), LOCK_OK);
	assert_int_equal(obs(al, "u2", "192.0.2.1", "", &p, 5, why), LOCK_OK);
	assert_int_equal(account_locks_lock(al, "u3", 1, 0, "manual"), 0);
	assert_int_equal(account_locks_count(al), 3);
	/* u4 evicts u2 (seen least recently, unlocked) */
	assert_int_equal(obs(al, "u4", "192.0.2.1", "", &p, 20, why), LOCK_OK);
	assert_int_equal(account_locks_count(al), 3);
	assert_int_equal(account_locks_unlock(al, "u2"), 0); /* gone */
	assert_int_equal(account_locks_count(al), 3);
	assert_true(account_locks_is_locked(al, "u3", 20, NULL));
	/* lock the rest: then a new account cannot be tracked */
	assert_int_equal(account_locks_lock(al, "u1", 21, 0, "m"), 0);
	assert_int_equal(account_locks_lock(al, "u4", 21, 1000, "m"), 0);
	assert_int_equal(obs(al, "u5", "192.0.2.1", "", &p, 22, why), LOCK_ERROR);
	assert_non_null(strstr(why, "table full"));
	assert_int_equal(account_locks_lock(al, "u5", 22, 0, "m"), -1);
	/* once u4's lock expires it may be evicted */
	assert_int_equal(obs(al, "u5", "192.0.2.1", "", &p, 1000, why), LOCK_OK);
	assert_false(account_locks_is_locked(al, "u4", 1000, NULL));
	assert_true(account_locks_is_locked(al, "u1", 1000, NULL));
	assert_true(account_locks_is_locked(al, "u3", 1000, NULL));
	account_locks_free(&al);
}

static void test_list_and_sweep(void **state)
{
	(void)state;
	struct lock_policy p = { .max_ips = 1, .window_s = 60, .lock_s = 100 };
	struct account_locks *al = account_locks_new(100);
	char why[200];
	assert_int_equal(account_locks_lock(al, "zed", 5, 0, "manual"), 0);
	assert_int_equal(obs(al, "amy", "192.0.2.1", "", &p, 10, why), LOCK_OK);
	assert_int_equal(obs(al, "amy", "192.0.2.2", "", &p, 11, why), LOCK_NEWLY_LOCKED);
	assert_int_equal(obs(al, "idle", "192.0.2.2", "", &p, 12, why), LOCK_OK);
	assert_int_equal(account_locks_lock(al, "old", 0, 20, "expired"), 0);

	struct account_lock_info info[4];
	assert_int_equal(account_locks_list(al, 50, info, 4), 2);
	assert_string_equal(info[0].account, "amy");
	assert_int_equal(info[0].locked_at, 11);
	assert_int_equal(info[0].until_s, 111);
	assert_string_equal(info[0].why, "2 distinct source IPs within 60 s (limit 1)");
	assert_string_equal(info[1].account, "zed");
	assert_int_equal(info[1].until_s, 0);
	assert_string_equal(info[1].why, "manual");
	/* a short output array still gets the total */
	memset(info, 0, sizeof info);
	assert_int_equal(account_locks_list(al, 50, info, 1), 2);
	assert_string_equal(info[0].account, "amy");
	assert_string_equal(info[1].account, "");
	assert_int_equal(account_locks_list(al, 50, NULL, 0), 2);
	/* after amy's lock ends only zed */
	assert_int_equal(account_locks_list(al, 111, info, 4), 1);
	assert_string_equal(info[0].account, "zed");

	/* sweep at 200 with idle 100: idle (12), old (expired, 0) and amy
	 * (expired lock, last seen 11) go; zed stays (locked) */
	assert_int_equal(account_locks_count(al), 4);
	assert_int_equal(account_locks_sweep(al, 200, 100), 3);
	assert_int_equal(account_locks_count(al), 1);
	assert_true(account_locks_is_locked(al, "zed", 200, NULL));
	account_locks_free(&al);
}

/* several threads on shared and private accounts of a sharded table */
#define NTHREADS 4
#define NOBS 4000

struct thr {
	struct account_locks *al;
	int id;
	unsigned newly, locked, errors;
};

static void *worker(void *arg)
{
	struct thr *t = arg;
	struct lock_policy p = { .max_ips = 10, .window_s = 1000000 };
	for (int i = 0; i < NOBS; i++) {
		char acct[32], addr[32];
		struct ipaddr a;
		/* shared: one account all threads hit from 20 IPs; private: per thread */
		if (i % 2)
			snprintf(acct, sizeof acct, "shared");
		else
			snprintf(acct, sizeof acct, "t%d-%d", t->id, i % 500);
		snprintf(addr, sizeof addr, "10.%d.0.%d", t->id, i % 20 + 1);
		ip_parse(addr, &a);
		char why[200];
		switch (account_locks_observe(t->al, acct, &a, "", &p, i, why, sizeof why)) {
		case LOCK_NEWLY_LOCKED: t->newly++; break;
		case LOCK_LOCKED: t->locked++; break;
		case LOCK_ERROR: t->errors++; break;
		default: break;
		}
		if (i % 97 == 0)
			(void)account_locks_list(t->al, i, NULL, 0);
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	struct account_locks *al = account_locks_new(10000); /* 16 shards */
	pthread_t th[NTHREADS];
	struct thr t[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		t[i] = (struct thr){ .al = al, .id = i };
		pthread_create(&th[i], NULL, worker, &t[i]);
	}
	unsigned newly = 0, errors = 0;
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		newly += t[i].newly;
		errors += t[i].errors;
	}
	assert_int_equal(errors, 0);
	/* "shared" gets 10 IPs from each thread (odd i), 40 in all: it locks
	 * exactly once (lock_s 0: for good). Each private account (even i,
	 * i % 500) always sees the same IP, as 500 % 20 == 0: never locks. */
	assert_int_equal(newly, 1);
	assert_true(account_locks_is_locked(al, "shared", 0, NULL));
	assert_int_equal(account_locks_count(al), 1 + NTHREADS * 250);
	account_locks_free(&al);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worked_example),
		cmocka_unit_test(test_ip_threshold),
		cmocka_unit_test(test_ip_normalisation),
		cmocka_unit_test(test_countries),
		cmocka_unit_test(test_window_expiry),
		cmocka_unit_test(test_lock_expiry),
		cmocka_unit_test(test_manual_lock_unlock),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_bounded_sources),
		cmocka_unit_test(test_bounded_accounts),
		cmocka_unit_test(test_list_and_sweep),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
