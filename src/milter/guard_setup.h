/*
 * guard_setup: the submission guard's life in mamorid, kept out of
 * mamorid.c. Owns the process-wide guard state that outlives settings
 * snapshots (and so survives SIGHUP): the limiter (in process, or Redis when
 * redis.url is set), the account lock table, the guard worker (store,
 * events, lock sync, notifications) and the policy service listener. The
 * rules themselves are compiled per snapshot (settings->sub).
 *
 * Order in mamorid: guard_setup_listen (as root, before the privilege drop:
 * binds submission.policy_listen), guard_setup_start (as the service user:
 * opens the store, loads the locks, starts the threads, hands the engine to
 * the milter), guard_setup_stop_service (at SIGTERM: no new policy
 * requests), guard_setup_free (once the milter is idle). Errors here are
 * fatal: a guard that cannot keep its state must not run half-way.
 */
#ifndef MAMORI_MILTER_GUARD_SETUP_H
#define MAMORI_MILTER_GUARD_SETUP_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/config.h"

struct guard_setup;

/* binds the policy socket if cfg asks for one (fatal on failure); a unix
   socket file is handed to uid/gid when chown is true */
struct guard_setup *guard_setup_listen(const struct mamori_config *cfg, bool chown, uid_t uid, gid_t gid);
void guard_setup_start(struct guard_setup *g, const struct mamori_config *cfg);
void guard_setup_stop_service(struct guard_setup *g);
void guard_setup_free(struct guard_setup **g);
/* logs a warning for guard settings a reload cannot change */
void guard_setup_warn_restart(const struct mamori_config *old, const struct mamori_config *new);

#endif
