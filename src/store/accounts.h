/*
 * accounts: the submission guard's persistent account state in the store:
 * the current locks (table account_lock, one row per locked account) and the
 * history (table account_event: lock, unlock, limit, deny). Owns its prepared
 * statements on a store's SQLite connection (store_sqlite_db); the store
 * itself stays the caller's. Used by mamorid's guard worker (one thread) and
 * by `mamori account`; several processes may use the same file (SQLite WAL),
 * and a process notices another's changes through account_store_data_version.
 *
 * Account names are stored as given; callers normalise them first
 * (sub_account_norm). A lock row whose until is in the past is an expired
 * lock: reads ignore it and account_store_purge deletes it. Every call may
 * block on the database (busy timeout of the store) and returns a
 * store_status (STORE_TEMPFAIL: busy; STORE_ERROR: anything else).
 */
#ifndef MAMORI_STORE_ACCOUNTS_H
#define MAMORI_STORE_ACCOUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define ACCOUNT_NAME_MAX 255
#define ACCOUNT_REASON_MAX 400
#define ACCOUNT_BY_MAX 64
/* account_event rows older than this are deleted by account_store_purge */
#define ACCOUNT_EVENT_RETENTION_DAYS 180

struct account_lock_row {
	char account[ACCOUNT_NAME_MAX + 1];
	int64_t locked_at;
	int64_t until; /* 0 = until unlocked */
	char reason[ACCOUNT_REASON_MAX];
	char by_whom[ACCOUNT_BY_MAX];
};

struct account_event_row {
	int64_t id;
	int64_t time;
	char account[ACCOUNT_NAME_MAX + 1];
	char event[16]; /* lock, unlock, limit, deny */
	char client_ip[64];
	char country[4];
	char detail[ACCOUNT_REASON_MAX];
	char by_whom[ACCOUNT_BY_MAX];
};

struct account_store;

/* Prepares the statements on s's SQLite connection. NULL with a reason if s
   is not SQLite. Keeps s by pointer: close this before s. */
struct account_store *account_store_open(struct store *s, char *err, size_t errlen);
void account_store_close(struct account_store **as);

/* Groups the writes that follow into one transaction (the worker's batches).
   Without it every write is its own transaction. */
enum store_status account_store_begin(struct account_store *as);
enum store_status account_store_commit(struct account_store *as);
void account_store_rollback(struct account_store *as);

/* Locks account (replacing a current lock) and records a "lock" event, in one
   transaction. client_ip, country may be NULL. */
enum store_status account_store_lock(struct account_store *as, const char *account, int64_t now, int64_t until,
                                     const char *reason, const char *by_whom, const char *client_ip,
                                     const char *country);

/* Removes the lock of account and records an "unlock" event. STORE_NOTFOUND
   (nothing recorded) when the account has no current lock. */
enum store_status account_store_unlock(struct account_store *as, const char *account, int64_t now, const char *by_whom,
                                       const char *reason);

/* The current lock of account at now into *row_r; STORE_NOTFOUND if none. */
enum store_status account_store_get(struct account_store *as, const char *account, int64_t now,
                                    struct account_lock_row *row_r);

/* Calls cb for every lock current at now, by account name; a non-zero return
   from cb stops (still STORE_OK). */
enum store_status account_store_list(struct account_store *as, int64_t now,
                                     int (*cb)(void *ctx, const struct account_lock_row *row), void *ctx);

/* Records one event (event: "limit", "deny", ...). */
enum store_status account_store_event(struct account_store *as, int64_t time, const char *account, const char *event,
                                      const char *client_ip, const char *country, const char *detail,
                                      const char *by_whom);

/* The newest max events of account (NULL: of every account), newest first. */
enum store_status account_store_events(struct account_store *as, const char *account, unsigned max,
                                       int (*cb)(void *ctx, const struct account_event_row *ev), void *ctx);

/* lock and unlock events with an id above after_id, oldest first, at most
   max; for a process catching up with changes made elsewhere */
enum store_status account_store_changes(struct account_store *as, int64_t after_id, unsigned max,
                                        int (*cb)(void *ctx, const struct account_event_row *ev), void *ctx);

/* the highest event id (0 when there is none) */
enum store_status account_store_last_id(struct account_store *as, int64_t *id_r);

/* SQLite's PRAGMA data_version: changes whenever another connection commits */
enum store_status account_store_data_version(struct account_store *as, int64_t *v_r);

/* Deletes locks expired at now and events older than the retention; *n_r
   (may be NULL) gets the number of expired locks removed. */
enum store_status account_store_purge(struct account_store *as, int64_t now, unsigned *n_r);

#endif
