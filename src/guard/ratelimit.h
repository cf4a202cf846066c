/*
 * ratelimit: in-process rate limits for the submission guard. Owns a bounded,
 * sharded table from a key (SASL account, client IP, account+IP, ...) to GCRA
 * state: one theoretical arrival time per configured window. Nothing here
 * reads a clock, sleeps, logs or does I/O; "now" is always an argument, and
 * the only blocking is a short per-shard mutex. Config, milter and Redis
 * wiring live elsewhere.
 *
 * Algorithm: GCRA (generic cell rate algorithm, ITU-T I.371; the "virtual
 * scheduling" form of a leaky bucket). A limit "N per T" has emission
 * interval I = T/N. Each (key, window) keeps one number, the theoretical
 * arrival time TAT. A request of cost c (1 for a message; k for a message
 * with k recipients) at time now computes
 *
 *     TAT' = max(TAT, now) + c * I
 *
 * and is allowed iff TAT' - now <= T (equivalently max(TAT,now) - now <=
 * T - c*I: the burst tolerance for cost 1 is T - I). On allow TAT := TAT';
 * on deny nothing changes (a refused request costs nothing), and the caller
 * may retry after TAT' - T - now. A key whose TAT <= now in every window is
 * "drained": its state is the same as a key never seen, so it can be dropped.
 *
 * Worked example, "3 per 60 s" (I = 20 s, T = 60 s), one key, cost 1:
 *
 *     now   TAT before  TAT'  TAT'-now  result           TAT after
 *      0         -       20      20     allow                20
 *      1        20       40      39     allow                40
 *      2        40       60      58     allow                60
 *      3        60       80      77     deny, retry in 17 s  60
 *     20        60       80      60     allow (60 <= 60)     80
 *     21        80      100      79     deny, retry in 19 s  80
 *    200        80      220      20     allow (drained at 80) 220
 *
 * So "N per T" means: a burst of up to N at once, then one every T/N; the
 * long-run rate is exactly N per T, and any closed span of length L admits
 * at most N + floor(L / I) requests: up to 2N within one period (a burst
 * after a quiet spell, then the refill). Combine windows (per
 * minute, hour and day) to bound both the burst and the daily total. Unlike
 * fixed windows there is no boundary effect, and unlike a sliding log the
 * state is one integer per window.
 *
 * Arithmetic is exact: times are int64 nanoseconds and I is kept as a
 * quotient plus a remainder in units of 1/N ns, so exactly N requests pass
 * a fresh key at one instant, never N+1, whatever N and T are.
 *
 * Several windows at once: a policy has up to RL_MAX_WINDOWS message limits
 * (cost 1) and RL_MAX_WINDOWS recipient limits (cost nrcpt). A decision checks
 * every window and commits all of them only if all allow, atomically per key
 * (the key's shard mutex is held across check and commit). A request whose
 * cost exceeds a window's N can never pass; it is denied with retry_after -1
 * ("never").
 *
 * Policy changes: each window's state remembers the limit it was computed
 * under. When the policy for a key changes (reload, an override), the used
 * share of the old window, (TAT - now) / I_old requests, is carried into
 * the new limit, rounded up and capped at one full period.
 *
 * Memory and eviction: the table holds at most max_entries keys, split evenly
 * over the shards. A new key in a full shard triggers a sweep of that shard
 * that drops every drained key (exact: a drained key behaves like a fresh
 * one). The sweep is skipped while no key can have drained yet (each shard
 * tracks a lower bound of its keys' drain times), so a table full of live keys
 * answers RL_FULL in O(1) instead of rescanning. If nothing can be dropped the
 * new key gets RL_FULL and the caller applies its configured fail-open or
 * tempfail behaviour; keys already present keep working. ratelimit_sweep()
 * lets a scheduler drop drained keys ahead of time.
 *
 * Hashing: keys are hashed with a keyed multiply-mix hash whose secret is
 * drawn from getrandom() per table, so a client choosing keys cannot aim
 * them at one probe chain. Full keys are always compared.
 */
#ifndef MAMORI_GUARD_RATELIMIT_H
#define MAMORI_GUARD_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RL_MAX_WINDOWS 4                       /* per dimension (messages, recipients) */
#define RL_KEY_MAX 512                         /* bytes; longer keys are RL_ERROR */
#define RL_COUNT_MAX 1000000000u               /* N ceiling: keeps c*N arithmetic in 64 bits */
#define RL_PERIOD_MAX (366u * 86400u)          /* T ceiling in seconds: one (leap) year */
#define RL_NOW_MAX (INT64_C(1) << 62)          /* now_ns range [0, RL_NOW_MAX]: year 2116 */
#define RL_DEFAULT_MAX_ENTRIES 1000000u        /* ratelimit_new(0) */

/* "count per period_s seconds"; count 0 means unlimited (window unused) */
struct rl_limit {
	uint32_t count;
	uint32_t period_s;
};

/* Message limits cost 1 per message; recipient limits cost nrcpt. */
struct rl_policy {
	struct rl_limit msgs[RL_MAX_WINDOWS];
	size_t nmsgs;
	struct rl_limit rcpts[RL_MAX_WINDOWS];
	size_t nrcpts;
};

enum rl_outcome {
	RL_ALLOW, /* every window allowed; state committed */
	RL_DENY,  /* a window refused; nothing committed; see window, retry_after_ms */
	RL_FULL,  /* new key and the table is full of live keys; nothing committed */
	RL_ERROR, /* bad arguments (key length, policy, now); reason says which */
	RL_UNAVAILABLE, /* limiter.h Redis backend only: the shared state could not be reached */
};

struct rl_decision {
	enum rl_outcome outcome;
	/* RL_DENY: the binding window (the one with the longest wait; a "never"
	 * window wins), as an index into msgs[] or rcpts[] */
	bool rcpts;
	int window;
	uint32_t count, period_s; /* that window's limit */
	uint32_t cost;            /* what the request asked of it: 1 or nrcpt */
	/* ms until this same request would pass (rounded up); -1 = never, the
	 * cost exceeds the window's count */
	int64_t retry_after_ms;
	const char *reason; /* RL_FULL / RL_ERROR: static text; otherwise NULL */
};

struct ratelimit;

/* A table bounded at max_entries keys (0 = RL_DEFAULT_MAX_ENTRIES). Small
 * tables (under 16384 entries) use fewer shards so the bound stays exact.
 * Never returns NULL (aborts on OOM). Thread-safe once created. */
struct ratelimit *ratelimit_new(size_t max_entries);

/* Frees the table and its keys and sets *rl to NULL; NULL is fine. No other
 * thread may be using it. */
void ratelimit_free(struct ratelimit **rl);

/*
 * One message with nrcpt recipients for key (keylen bytes, any bytes, at most
 * RL_KEY_MAX) under policy p at time now_ns (nanoseconds on a clock that does
 * not jump back: CLOCK_REALTIME or CLOCK_MONOTONIC, consistently). Fills *d_r
 * (required) and returns its outcome. Recipient windows are not charged when
 * nrcpt is 0; a policy with no limited window allows without storing state.
 * Copies the key; keeps no pointer to key or p. Thread-safe; blocks only on
 * the key's shard mutex.
 */
enum rl_outcome ratelimit_check(struct ratelimit *rl, const char *key, size_t keylen,
				const struct rl_policy *p, uint32_t nrcpt, int64_t now_ns,
				struct rl_decision *d_r);

/* Drops every key drained at now_ns; returns how many. Takes each shard
 * mutex in turn (O(entries) in total). */
size_t ratelimit_sweep(struct ratelimit *rl, int64_t now_ns);

/* Number of keys held (a snapshot under concurrency). */
size_t ratelimit_count(struct ratelimit *rl);

/* 0 if p is usable, else -1 with a reason in err (config-time check; the
 * same check runs inside ratelimit_check). */
int rl_policy_validate(const struct rl_policy *p, char *err, size_t errlen);

/* Key kinds; the byte starts the key so kinds never collide. */
enum rl_key_kind {
	RL_KEY_ACCOUNT = 'a',    /* account */
	RL_KEY_IP = 'i',         /* ip */
	RL_KEY_ACCOUNT_IP = 'p', /* account and ip, NUL-separated */
};

/* Builds "<kind>:<account>" / "<kind>:<ip>" / "<kind>:<account>\0<ip>" into
 * out (not NUL-terminated; binary-safe). Returns the key length, or 0 if a
 * needed part is NULL or the key would exceed outlen or RL_KEY_MAX. */
size_t rl_key_build(char *out, size_t outlen, enum rl_key_kind kind, const char *account,
		    const char *ip);

/*
 * Text for the SMTP reply, enhanced status code first, its class taken from
 * smtp_code (5xx -> 5.7.1, anything else -> 4.7.1, RFC 3463 3.8 "delivery
 * not authorized"), e.g.
 *   "4.7.1 rate limit exceeded: 100 messages per 1 h for sasl:alice; retry in 35 s"
 * key_label is the operator-facing name of the key; bytes outside printable
 * ASCII become '?' and it is cut at 64 bytes, so a hostile account name cannot
 * break the reply. Always NUL-terminates out (if outlen > 0); truncates.
 */
void rl_decision_text(const struct rl_decision *d, int smtp_code, const char *key_label,
		      char *out, size_t outlen);

#endif
