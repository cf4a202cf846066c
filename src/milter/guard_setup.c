/* guard_setup: start, reload behaviour and stop of the submission guard in
 * mamorid (see guard_setup.h) */
#include "milter/guard_setup.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "guard/guard_worker.h"
#include "guard/limiter.h"
#include "guard/policy_server.h"
#include "guard/submission.h"
#include "milter/milter.h"
#include "milter/settings.h"
#include "store/store.h"

struct guard_setup {
	struct policy_server *ps; /* NULL without submission.policy_listen */
	struct guard_worker *gw;
	struct sub_engine *engine;
};

static const struct sub_config *snapshot_acquire(void *ctx, void **ref_r)
{
	(void)ctx;
	struct settings *s = settings_acquire();
	*ref_r = s;
	return s ? s->sub : NULL;
}

static void snapshot_release(void *ctx, void *ref)
{
	(void)ctx;
	settings_release(ref);
}

struct guard_setup *guard_setup_listen(const struct mamori_config *cfg, bool chown, uid_t uid, gid_t gid)
{
	struct guard_setup *g = xcalloc(1, sizeof *g);
	const char *spec = cfg->submission_policy_listen ? cfg->submission_policy_listen : "";
	if (spec[0] == '\0')
		return g;
	char err[512];
	g->ps = policy_server_listen(spec, err, sizeof err);
	if (g->ps == NULL)
		log_fatal("%s", err);
	if (chown && policy_server_chown(g->ps, uid, gid, err, sizeof err) < 0)
		log_fatal("submission.policy_listen: %s", err);
	return g;
}

void guard_setup_start(struct guard_setup *g, const struct mamori_config *cfg)
{
	char err[512];
	struct limiter *lim;
	if (cfg->redis_url != NULL && cfg->redis_url[0] != '\0') {
		lim = limiter_redis_new(cfg->redis_url, cfg->redis_timeout_ms, cfg->redis_prefix, err, sizeof err);
		if (lim == NULL)
			log_fatal("redis.url: %s", err);
	} else {
		lim = limiter_local_new(0);
	}
	struct store *st = store_open(cfg, err, sizeof err);
	if (st == NULL)
		log_fatal("submission guard: store: %s", err);
	struct account_locks *locks = account_locks_new(0);
	g->gw = guard_worker_start(st, locks, err, sizeof err);
	if (g->gw == NULL)
		log_fatal("submission guard: %s", err);
	g->engine = sub_engine_new(lim, locks, guard_worker_event, g->gw);
	milter_set_guard(g->engine);
	log_info("submission guard: %s counters%s", limiter_kind(lim),
	         cfg->submission_enabled ? "" : " (submission.enabled is false: not checking)");
	if (g->ps != NULL) {
		struct policy_source src = {snapshot_acquire, snapshot_release, NULL};
		if (policy_server_start(g->ps, g->engine, &src, err, sizeof err) < 0)
			log_fatal("%s", err);
		fprintf(stderr, "mamorid: policy service listening on %s\n", policy_server_address(g->ps));
		log_info("policy service listening on %s", policy_server_address(g->ps));
	}
}

void guard_setup_stop_service(struct guard_setup *g)
{
	if (g != NULL)
		policy_server_stop(&g->ps);
}

void guard_setup_free(struct guard_setup **gp)
{
	if (gp == NULL || *gp == NULL)
		return;
	struct guard_setup *g = *gp;
	policy_server_stop(&g->ps);
	milter_set_guard(NULL);
	/* the worker writes what is queued; the engine's lock table outlives it */
	guard_worker_stop(&g->gw);
	sub_engine_free(&g->engine);
	*gp = xfree(g);
}

static bool differs(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") != 0;
}

void guard_setup_warn_restart(const struct mamori_config *old, const struct mamori_config *new)
{
	static const char later[] = "changed: takes effect after a restart";
	if (differs(old->submission_policy_listen, new->submission_policy_listen))
		log_warning("submission.policy_listen %s", later);
	if (differs(old->redis_url, new->redis_url) || differs(old->redis_prefix, new->redis_prefix) ||
	    old->redis_timeout_ms != new->redis_timeout_ms)
		log_warning("redis settings %s (the counters are kept across reloads)", later);
}
