/*
 * limiter: dispatch to the in-process backend (ratelimit.c, here) or the
 * Redis backend (limiter_redis.c), and the argument checks every backend
 * shares, so both answer RL_ERROR alike and an idle policy never reaches
 * Redis.
 */
#include "guard/limiter.h"

#include <string.h>

#include "core/mem.h"
#include "guard/limiter_backend.h"

struct limiter {
	const struct limiter_ops *ops;
	void *state;
};

/* ---------- in process ---------- */

static enum rl_outcome local_check(void *state, const char *key, size_t keylen, const struct rl_policy *p,
                                   uint32_t nrcpt, int64_t now_ns, struct rl_decision *d_r)
{
	return ratelimit_check(state, key, keylen, p, nrcpt, now_ns, d_r);
}

static void local_free(void *state)
{
	struct ratelimit *rl = state;
	ratelimit_free(&rl);
}

static const struct limiter_ops local_ops = {
    .kind = "local",
    .checks_args = true,
    .check = local_check,
    .check_batch = NULL,
    .set_caller_clock = NULL,
    .free = local_free,
};

struct limiter *limiter_local_new(size_t max_entries)
{
	struct limiter *l = xcalloc(1, sizeof *l);
	l->ops = &local_ops;
	l->state = ratelimit_new(max_entries);
	return l;
}

struct limiter *limiter_redis_new(const char *url, int timeout_ms, const char *prefix, char *err, size_t errlen)
{
	void *st = limiter_redis_state_new(url, timeout_ms, prefix, err, errlen);
	if (st == NULL)
		return NULL;
	struct limiter *l = xcalloc(1, sizeof *l);
	l->ops = &limiter_redis_ops;
	l->state = st;
	return l;
}

void limiter_free(struct limiter **lp)
{
	struct limiter *l = lp ? *lp : NULL;
	if (l == NULL)
		return;
	l->ops->free(l->state);
	xfree(l);
	*lp = NULL;
}

const char *limiter_kind(const struct limiter *l)
{
	return l->ops->kind;
}

void limiter_use_caller_clock(struct limiter *l, bool on)
{
	if (l->ops->set_caller_clock != NULL)
		l->ops->set_caller_clock(l->state, on);
}

/* ---------- checks ---------- */

static void decision_set(struct rl_decision *d, enum rl_outcome o, const char *reason)
{
	memset(d, 0, sizeof *d);
	d->outcome = o;
	d->reason = reason;
}

/* true if the request charges at least one limited window */
static bool policy_active(const struct rl_policy *p, uint32_t nrcpt)
{
	for (size_t i = 0; i < p->nmsgs; i++)
		if (p->msgs[i].count != 0)
			return true;
	if (nrcpt != 0)
		for (size_t i = 0; i < p->nrcpts; i++)
			if (p->rcpts[i].count != 0)
				return true;
	return false;
}

/* The checks ratelimit_check() makes, for every backend alike; false with
 * *d_r filled when the request is decided without the backend. */
static bool needs_backend(const char *key, size_t keylen, const struct rl_policy *p, uint32_t nrcpt, int64_t now_ns,
                          struct rl_decision *d_r)
{
	char err[1];
	if (key == NULL || keylen == 0 || keylen > RL_KEY_MAX) {
		decision_set(d_r, RL_ERROR, "rate limit key empty or longer than RL_KEY_MAX");
		return false;
	}
	if (rl_policy_validate(p, err, 0) != 0) {
		decision_set(d_r, RL_ERROR, "invalid rate limit policy");
		return false;
	}
	if (now_ns < 0 || now_ns > RL_NOW_MAX) {
		decision_set(d_r, RL_ERROR, "time outside the supported range");
		return false;
	}
	if (!policy_active(p, nrcpt)) {
		decision_set(d_r, RL_ALLOW, NULL);
		return false;
	}
	return true;
}

enum rl_outcome limiter_check(struct limiter *l, const char *key, size_t keylen, const struct rl_policy *p,
                              uint32_t nrcpt, int64_t now_ns, struct rl_decision *d_r)
{
	if (!l->ops->checks_args && !needs_backend(key, keylen, p, nrcpt, now_ns, d_r))
		return d_r->outcome;
	return l->ops->check(l->state, key, keylen, p, nrcpt, now_ns, d_r);
}

void limiter_check_batch(struct limiter *l, const struct limiter_req *reqs, size_t n, int64_t now_ns,
                         struct rl_decision *d_r)
{
	if (l->ops->check_batch == NULL) {
		for (size_t i = 0; i < n; i++)
			limiter_check(l, reqs[i].key, reqs[i].keylen, reqs[i].p, reqs[i].nrcpt, now_ns, &d_r[i]);
		return;
	}
	/* requests decided here are marked RL_ERROR/ALLOW now; the backend
	 * sees only the rest, in order */
	enum { CHUNK = 64 };
	struct limiter_req sub[CHUNK];
	size_t idx[CHUNK];
	struct rl_decision sd[CHUNK];
	size_t i = 0;
	while (i < n) {
		size_t k = 0;
		for (; i < n && k < CHUNK; i++) {
			if (!needs_backend(reqs[i].key, reqs[i].keylen, reqs[i].p, reqs[i].nrcpt, now_ns, &d_r[i]))
				continue;
			sub[k] = reqs[i];
			idx[k++] = i;
		}
		if (k == 0)
			continue;
		l->ops->check_batch(l->state, sub, k, now_ns, sd);
		for (size_t j = 0; j < k; j++)
			d_r[idx[j]] = sd[j];
	}
}
