/*
 * settings: the configuration mamorid works with, as reference-counted
 * snapshots. A message takes a reference when it starts and keeps using that
 * snapshot to its end, so a reload (SIGHUP) swaps the current snapshot
 * atomically without changing the rules under a message in flight; the old
 * snapshot is freed when its last message lets go. Owns the snapshots.
 */
#ifndef MAMORI_MILTER_SETTINGS_H
#define MAMORI_MILTER_SETTINGS_H

#include "core/config.h"

struct inbound_policy; /* policy/inbound.h */
struct sub_config;     /* guard/submission.h */

struct settings {
	struct mamori_config cfg; /* owned; read-only once published */
	struct inbound_policy *inbound; /* compiled from cfg, owned; NULL only
	                                   for a snapshot made by settings_new */
	struct sub_config *sub;   /* submission guard rules compiled from cfg, owned;
				     NULL only for a snapshot made by settings_new.
				     Its counters and locks live outside the snapshot
				     (struct sub_engine), so a reload keeps them. */
	unsigned refs;            /* guarded by the module's lock */
};

/* a new snapshot taking ownership of *cfg (which is zeroed); one reference */
struct settings *settings_new(struct mamori_config *cfg);
/* the same after compiling cfg's inbound policy (inbound_policy_new) and
   submission guard rules (sub_config_compile); NULL
   with "KEY: reason" in err when it does not compile, *cfg then untouched */
struct settings *settings_build(struct mamori_config *cfg, char *err, size_t errlen);

/* makes s the current snapshot, taking over the caller's reference; the
   previous one is released. Thread-safe. */
void settings_publish(struct settings *s);
/* the current snapshot with one more reference (never NULL once something
   was published); pair with settings_release(). Thread-safe, never blocks
   beyond a short mutex. */
struct settings *settings_acquire(void);
/* drops a reference (NULL is ignored); frees the snapshot on the last one */
void settings_release(struct settings *s);
/* releases the current snapshot at shutdown */
void settings_shutdown(void);

#endif
