/*
 * limiter_backend: the function table behind limiter.h (private to
 * src/guard/limiter*.c). A backend owns its state; limiter.c owns the
 * dispatch and the argument checks common to every backend.
 */
#ifndef MAMORI_GUARD_LIMITER_BACKEND_H
#define MAMORI_GUARD_LIMITER_BACKEND_H

#include <stdbool.h>

#include "guard/limiter.h"

struct limiter_ops {
	const char *kind;
	/* true: check() makes the argument checks itself (ratelimit_check
	 * does), so limiter.c does not repeat them on the hot path */
	bool checks_args;
	/* arguments already checked unless checks_args: key 1..RL_KEY_MAX
	 * bytes, policy valid, at least one window charged by this request */
	enum rl_outcome (*check)(void *state, const char *key, size_t keylen, const struct rl_policy *p, uint32_t nrcpt,
	                         int64_t now_ns, struct rl_decision *d_r);
	/* n pipelined checks (optional; NULL = one check at a time) */
	void (*check_batch)(void *state, const struct limiter_req *reqs, size_t n, int64_t now_ns,
	                    struct rl_decision *d_r);
	void (*set_caller_clock)(void *state, int on); /* optional */
	void (*free)(void *state);
};

/* limiter_redis.c: the Redis backend's table and constructor (NULL with a
 * reason for a malformed url) */
extern const struct limiter_ops limiter_redis_ops;
void *limiter_redis_state_new(const char *url, int timeout_ms, const char *prefix, char *err, size_t errlen);

#endif
