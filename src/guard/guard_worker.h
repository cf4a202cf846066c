/*
 * guard_worker: the submission guard's background side in mamorid. Owns a
 * store connection (struct store, its account_store), two threads and their
 * bounded queues:
 *   - the writer: records the engine's events (sub_event_fn) as account_event
 *     rows and automatic locks as account_lock rows, in batches, so a milter
 *     thread never waits on SQLite; every ~200 ms it checks SQLite's
 *     PRAGMA data_version and, when another connection (`mamori account
 *     lock|unlock`, another mamorid) committed, applies the lock and unlock
 *     events it has not seen yet to the in-memory lock table, taking the
 *     account_lock row as the truth. An admin action therefore reaches a
 *     running mamorid within about 200 ms, and locks survive a restart
 *     (guard_worker_start loads them).
 *   - the notifier: mails submission.notify about every automatic lock over
 *     libcurl SMTP (submission.notify_smtp_url), one message per lock, at
 *     most GUARD_NOTIFY_QUEUE waiting; a failed send is logged, never retried.
 * Queue limits: event rows beyond GUARD_EVENT_QUEUE waiting are dropped with
 * a warning (they are still in the log); locks are always queued.
 *
 * An admin unlock does not undo an automatic lock of the same account that
 * is newer than the store (queued, not yet written). Known race, accepted:
 * one made in the microseconds between the lock in memory and its queueing
 * may be undone in memory while the store keeps it (a restart re-applies
 * it, and an attacker still active is locked again at once).
 */
#ifndef MAMORI_GUARD_GUARD_WORKER_H
#define MAMORI_GUARD_GUARD_WORKER_H

#include <stddef.h>

#include "guard/account_lock.h"
#include "guard/submission.h"
#include "store/store.h"

#define GUARD_EVENT_QUEUE 4096
#define GUARD_NOTIFY_QUEUE 64
#define GUARD_POLL_MS 200
#define GUARD_BY "mamorid" /* by_whom of what mamorid records itself */

struct guard_worker;

/*
 * Takes ownership of st; loads the current locks into locks (kept by
 * pointer: it must outlive the worker) and starts both threads. NULL with a
 * reason if the store is unusable.
 */
struct guard_worker *guard_worker_start(struct store *st, struct account_locks *locks, char *err, size_t errlen);

/* The engine's event sink (sub_engine_new(..., guard_worker_event, gw)):
   copies ev into the queue; never blocks beyond a short mutex. */
void guard_worker_event(void *gw, const struct sub_event *ev);

/* Waits until everything queued before the call is written and a change
   check has run (tests, shutdown). */
void guard_worker_sync(struct guard_worker *gw);

/* Writes what is queued, sends pending notifications (bounded by their
   timeouts), stops the threads, closes the store, sets *gw to NULL. */
void guard_worker_stop(struct guard_worker **gw);

/*
 * The notification mail for one lock (RFC 5322, CRLF line ends) into a new
 * string (caller frees); from "" uses "mamori@<host name>". Exposed for
 * tests.
 */
char *guard_notify_compose(const char *from, const char *to, const struct sub_event *ev);

#endif
