/*
 * limiter: where the submission guard's rate-limit state lives. One
 * interface, two backends: in process (ratelimit.c, the default) or in
 * Redis (limiter_redis.c: hiredis, one atomic Lua script per decision doing
 * the same GCRA over every window of the policy, so every mamorid sharing
 * that Redis enforces one combined limit). Same semantics as ratelimit.h:
 * all windows are checked and committed together or not at all.
 *
 * Redis unreachable (connect refused, timeout, error reply): the decision is
 * RL_UNAVAILABLE with a reason; the caller applies submission.on_error
 * (tempfail, or accept with a logged warning). The backend reconnects by
 * itself on a later call (not more often than once a second while down),
 * so service recovers without a restart when Redis returns.
 *
 * Thread-safe: the Redis backend keeps a small pool of connections.
 */
#ifndef MAMORI_GUARD_LIMITER_H
#define MAMORI_GUARD_LIMITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guard/ratelimit.h"

struct limiter;

/* in process; max_entries as ratelimit_new() */
struct limiter *limiter_local_new(size_t max_entries);
/* Redis at url ("redis://HOST:PORT[/DB]" or "unix:PATH"), every key
   prefixed with prefix; does not connect yet (the first check does). NULL
   with a reason in err for a malformed url. */
struct limiter *limiter_redis_new(const char *url, int timeout_ms, const char *prefix, char *err, size_t errlen);
void limiter_free(struct limiter **l);

/*
 * As ratelimit_check(). now_ns is used by the in-process backend; the Redis
 * backend uses the Redis server's clock (TIME inside the script), so
 * several hosts with slightly different clocks still share one timeline.
 * Returns RL_ALLOW, RL_DENY, RL_FULL, RL_ERROR, or RL_UNAVAILABLE (Redis
 * only: state could not be reached; d_r->reason says why).
 */
enum rl_outcome limiter_check(struct limiter *l, const char *key, size_t keylen, const struct rl_policy *p,
			      uint32_t nrcpt, int64_t now_ns, struct rl_decision *d_r);

/* "local" or "redis" */
const char *limiter_kind(const struct limiter *l);

/* One request of a batch. */
struct limiter_req {
	const char *key;
	size_t keylen;
	const struct rl_policy *p;
	uint32_t nrcpt;
};

/*
 * n checks in order, decision i into d_r[i] (each as limiter_check; the
 * batch as a whole is not atomic). The Redis backend pipelines them on one
 * connection: one round trip for the batch. Used by bench/ratelimit.
 */
void limiter_check_batch(struct limiter *l, const struct limiter_req *reqs, size_t n,
			 int64_t now_ns, struct rl_decision *d_r);

/*
 * Redis backend: use the caller's now_ns (truncated to whole microseconds)
 * instead of the server's TIME, so a test can run both backends on one
 * timeline. Only for tests: hosts sharing a Redis must share one clock then.
 * No effect on the in-process backend.
 */
void limiter_use_caller_clock(struct limiter *l, bool on);

#endif
