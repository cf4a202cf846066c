/*
 * account_lock: stolen-account detection for the submission guard. Owns a
 * bounded, thread-safe table from an authenticated account name to (a) the
 * recent source addresses and countries it submitted from and (b) its lock
 * state. Nothing here reads a clock, logs or does I/O: "now" is an argument.
 * Config, milter/policy wiring and persistence live elsewhere.
 *
 * Algorithm. Each account keeps at most LOCK_MAX_SOURCES distinct sources,
 * one per address, with the time it was last seen and its country. IPv6
 * addresses are grouped by /64 (a client's privacy addresses rotate inside
 * its /64 and must count once); IPv4-mapped IPv6 counts as the IPv4 address.
 * When a new source would exceed LOCK_MAX_SOURCES, the least recently seen
 * source is dropped. An observation at time now (seconds):
 *   1. refreshes or adds its source (time now, country as given);
 *   2. counts the sources seen within the window, i.e. now - seen < window_s,
 *      and the distinct non-empty countries among them;
 *   3. if the account is locked (locked_until == 0, or now < locked_until)
 *      the verdict is LOCK_LOCKED; an expired lock is cleared first;
 *   4. otherwise, if sources > max_ips or countries > max_countries (a limit
 *      of 0 is off), the account is locked until now + lock_s (lock_s 0:
 *      until an admin unlocks) and the verdict is LOCK_NEWLY_LOCKED.
 * Observations made while locked are still recorded, so an attacker still
 * active when an automatic lock expires is locked again at once. An admin
 * unlock (account_locks_unlock) also forgets the sources: the admin vouches
 * for the account.
 *
 * Worked example: max_ips 3, max_countries 2, window_s 3600, lock_s 1800.
 *
 *     now   source     cc  sources in window       countries  verdict
 *       0   192.0.2.1  JP  .1                      JP         OK
 *      60   192.0.2.2  JP  .1 .2                   JP         OK
 *     120   192.0.2.1  JP  .1 .2   (.1 refreshed)  JP         OK
 *     600   192.0.2.3  US  .1 .2 .3                JP US      OK
 *     700   192.0.2.4  US  .1 .2 .3 .4             JP US      NEWLY_LOCKED (4 IPs > 3), until 2500
 *     800   192.0.2.1  JP  .1 .2 .3 .4             JP US      LOCKED
 *    2500   192.0.2.1  JP  .1 .2 .3 .4             JP US      NEWLY_LOCKED again, until 4300
 *    5000   192.0.2.5  DE  .1 (2500) .5            JP DE      OK (.2 .3 .4 aged out)
 *    5100   192.0.2.6  FR  .1 .5 .6                JP DE FR   NEWLY_LOCKED (3 countries > 2)
 *
 * At 2500 the first lock has expired, but .2 (seen 2440 s ago) is still in
 * the window, so the account is locked again; by 5000 only .1 is recent.
 *
 * Memory: at most max_accounts accounts. A new account in a full table
 * replaces the unlocked account seen least recently in its shard; when every
 * account there is locked, the new one is not tracked (LOCK_ERROR, "table
 * full"), and the caller applies its fail-open or tempfail setting. Locked
 * accounts are never evicted. Sources grow per account up to
 * LOCK_MAX_SOURCES, so an idle account costs a few dozen bytes.
 *
 * Account names are compared as exact bytes; normalise case before calling
 * if the authentication backend is case-insensitive.
 */
#ifndef MAMORI_GUARD_ACCOUNT_LOCK_H
#define MAMORI_GUARD_ACCOUNT_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ip.h"

#define LOCK_MAX_SOURCES 64          /* distinct sources remembered per account */
#define LOCK_ACCOUNT_MAX 255         /* bytes of an account name (SASL usernames) */
#define LOCK_WHY_MAX 160             /* bytes of a stored reason, NUL included */
#define LOCK_WINDOW_MAX (30u * 86400u) /* window_s ceiling: 30 days */
#define LOCK_DEFAULT_MAX_ACCOUNTS 100000u /* account_locks_new(0) */

struct lock_policy {
	unsigned max_ips;       /* lock when distinct sources in the window exceed this; 0 = off */
	unsigned max_countries; /* same for distinct countries; 0 = off */
	uint32_t window_s;      /* 1 .. LOCK_WINDOW_MAX */
	uint32_t lock_s;        /* automatic lock length; 0 = until unlocked */
};

enum lock_verdict {
	LOCK_OK,           /* recorded; not locked */
	LOCK_NEWLY_LOCKED, /* recorded; this observation locked the account */
	LOCK_LOCKED,       /* recorded; the account was already locked */
	LOCK_ERROR,        /* not recorded: bad arguments or table full; why says which */
};

struct account_locks;

/* A table of at most max_accounts accounts (0 = LOCK_DEFAULT_MAX_ACCOUNTS).
 * Never returns NULL (aborts on OOM). Thread-safe once created. */
struct account_locks *account_locks_new(size_t max_accounts);

/* Frees everything and sets *al to NULL; NULL is fine. No other thread may be
 * using the table. */
void account_locks_free(struct account_locks **al);

/* 0 if p is usable, else -1 with a reason (config-time check; the same check
 * runs inside account_locks_observe). Limits must be below
 * LOCK_MAX_SOURCES, or they could never trigger. */
int lock_policy_validate(const struct lock_policy *p, char *err, size_t errlen);

/*
 * Records one authenticated submission by account from ip (country: an
 * ISO 3166 alpha-2 code, case-insensitive, or "" / NULL when unknown; any
 * other string counts as unknown) at now_s, and returns the verdict. why
 * (may be NULL) receives a one-line reason for NEWLY_LOCKED ("4 distinct
 * source IPs within 3600 s (limit 3)"), LOCKED ("locked until 2500: ...")
 * and ERROR; "" for OK. Copies everything; keeps no pointers. Thread-safe;
 * blocks only on the account's shard mutex.
 */
enum lock_verdict account_locks_observe(struct account_locks *al, const char *account,
					const struct ipaddr *ip, const char *country,
					const struct lock_policy *p, int64_t now_s, char *why,
					size_t whylen);

/* Locks account (an admin action, or a lock decided elsewhere) until until_s
 * (0 = until unlocked), replacing any current lock; why (may be NULL) is
 * stored, cut to LOCK_WHY_MAX - 1 bytes. The lock time recorded is now_s.
 * Returns 0, or -1 for a bad name or a table full of locked accounts. */
int account_locks_lock(struct account_locks *al, const char *account, int64_t now_s,
		       int64_t until_s, const char *why);

/* Removes the lock of account and forgets its sources. Returns 1 if a lock
 * (current or expired) was removed, 0 if the account was not locked, -1 for a
 * bad name. */
int account_locks_unlock(struct account_locks *al, const char *account);

/* True if account is locked at now_s; *until_r (may be NULL) gets the lock
 * end (0 = until unlocked). False for unknown accounts and expired locks. */
bool account_locks_is_locked(struct account_locks *al, const char *account, int64_t now_s,
			     int64_t *until_r);

struct account_lock_info {
	char account[LOCK_ACCOUNT_MAX + 1];
	int64_t locked_at; /* now_s of the lock */
	int64_t until_s;   /* 0 = until unlocked */
	char why[LOCK_WHY_MAX];
};

/* Copies up to max accounts locked at now_s into out, sorted by account
 * name, and returns how many are locked in all (may exceed max). */
size_t account_locks_list(struct account_locks *al, int64_t now_s, struct account_lock_info *out,
			  size_t max);

/* Drops unlocked (or expired-lock) accounts whose newest source is at least
 * idle_s old at now_s; returns how many. For a scheduler; idle_s should be
 * at least the largest window in use. */
size_t account_locks_sweep(struct account_locks *al, int64_t now_s, uint32_t idle_s);

/* Number of accounts held (a snapshot under concurrency). */
size_t account_locks_count(struct account_locks *al);

#endif
