/*
 * store_sqlite_accounts: accounts.h on SQLite (tables account_lock and
 * account_event, schema migration 4 in store_sqlite.c). Prepared statements
 * only.
 */
#include "store/accounts.h"
#include "store/store_backend.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"

enum acct_stmt {
	A_UPSERT,
	A_DELETE,
	A_GET,
	A_LIST,
	A_EVENT,
	A_EVENTS_ONE,
	A_EVENTS_ALL,
	A_CHANGES,
	A_LAST_ID,
	A_DATA_VERSION,
	A_PURGE_LOCKS,
	A_PURGE_EVENTS,
	A_BEGIN,
	A_COMMIT,
	A_ROLLBACK,
	A_COUNT
};

#define EV_COLS "id, time, account, event, client_ip, country, detail, by_whom"
#define LOCK_COLS "account, locked_at, until, reason, by_whom"

static const char *const acct_sql[A_COUNT] = {
    [A_UPSERT] = "INSERT INTO account_lock (" LOCK_COLS ") VALUES (?1, ?2, ?3, ?4, ?5)"
                 " ON CONFLICT(account) DO UPDATE SET locked_at = excluded.locked_at, until = excluded.until,"
                 " reason = excluded.reason, by_whom = excluded.by_whom",
    [A_DELETE] = "DELETE FROM account_lock WHERE account = ?1 RETURNING until",
    [A_GET] = "SELECT " LOCK_COLS " FROM account_lock WHERE account = ?1 AND (until = 0 OR until > ?2)",
    [A_LIST] = "SELECT " LOCK_COLS " FROM account_lock WHERE until = 0 OR until > ?1 ORDER BY account",
    [A_EVENT] = "INSERT INTO account_event (time, account, event, client_ip, country, detail, by_whom)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [A_EVENTS_ONE] = "SELECT " EV_COLS " FROM account_event WHERE account = ?1 ORDER BY id DESC LIMIT ?2",
    [A_EVENTS_ALL] = "SELECT " EV_COLS " FROM account_event ORDER BY id DESC LIMIT ?2",
    [A_CHANGES] = "SELECT " EV_COLS " FROM account_event WHERE id > ?1 AND event IN ('lock', 'unlock')"
                  " ORDER BY id LIMIT ?2",
    [A_LAST_ID] = "SELECT COALESCE(MAX(id), 0) FROM account_event",
    [A_DATA_VERSION] = "PRAGMA data_version",
    [A_PURGE_LOCKS] = "DELETE FROM account_lock WHERE until != 0 AND until <= ?1",
    [A_PURGE_EVENTS] = "DELETE FROM account_event WHERE time < ?1",
    [A_BEGIN] = "BEGIN IMMEDIATE",
    [A_COMMIT] = "COMMIT",
    [A_ROLLBACK] = "ROLLBACK",
};

struct account_store {
	sqlite3 *db;
	sqlite3_stmt *st[A_COUNT];
	bool in_tx; /* inside account_store_begin */
};

static enum store_status status_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW: return STORE_OK;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return STORE_TEMPFAIL;
	default: return STORE_ERROR;
	}
}

struct account_store *account_store_open(struct store *s, char *err, size_t errlen)
{
	sqlite3 *db = store_sqlite_db(s);
	if (db == NULL) {
		snprintf(err, errlen, "account store: not an SQLite store");
		return NULL;
	}
	struct account_store *as = xcalloc(1, sizeof *as);
	as->db = db;
	for (int i = 0; i < A_COUNT; i++) {
		int rc = sqlite3_prepare_v3(db, acct_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &as->st[i], NULL);
		if (rc != SQLITE_OK) {
			snprintf(err, errlen, "account store: %s", sqlite3_errmsg(db));
			account_store_close(&as);
			return NULL;
		}
	}
	return as;
}

void account_store_close(struct account_store **asp)
{
	if (asp == NULL || *asp == NULL)
		return;
	struct account_store *as = *asp;
	if (as->in_tx)
		account_store_rollback(as);
	for (int i = 0; i < A_COUNT; i++)
		sqlite3_finalize(as->st[i]);
	*asp = xfree(as);
}

static sqlite3_stmt *use(struct account_store *as, enum acct_stmt id)
{
	sqlite3_stmt *st = as->st[id];
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

static void text(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

static void col(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
	const unsigned char *v = sqlite3_column_text(st, i);
	snprintf(out, outlen, "%s", v ? (const char *)v : "");
}

static enum store_status run(struct account_store *as, enum acct_stmt id)
{
	sqlite3_stmt *st = as->st[id];
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return status_of(rc);
}

enum store_status account_store_begin(struct account_store *as)
{
	if (as->in_tx)
		return STORE_OK;
	use(as, A_BEGIN);
	enum store_status r = run(as, A_BEGIN);
	if (r == STORE_OK)
		as->in_tx = true;
	return r;
}

enum store_status account_store_commit(struct account_store *as)
{
	if (!as->in_tx)
		return STORE_OK;
	use(as, A_COMMIT);
	enum store_status r = run(as, A_COMMIT);
	if (r == STORE_OK)
		as->in_tx = false;
	return r;
}

void account_store_rollback(struct account_store *as)
{
	if (!as->in_tx)
		return;
	use(as, A_ROLLBACK);
	run(as, A_ROLLBACK);
	as->in_tx = false;
}

/* a write that is its own transaction unless a batch is open */
struct txn {
	bool own;
};

static enum store_status tx_open(struct account_store *as, struct txn *t)
{
	t->own = !as->in_tx;
	return t->own ? account_store_begin(as) : STORE_OK;
}

static enum store_status tx_close(struct account_store *as, struct txn *t, enum store_status r)
{
	if (!t->own)
		return r;
	if (r != STORE_OK && r != STORE_NOTFOUND) {
		account_store_rollback(as);
		return r;
	}
	enum store_status c = account_store_commit(as);
	if (c != STORE_OK) {
		account_store_rollback(as);
		return c;
	}
	return r;
}

static enum store_status event_insert(struct account_store *as, int64_t time, const char *account, const char *event,
                                      const char *client_ip, const char *country, const char *detail,
                                      const char *by_whom)
{
	sqlite3_stmt *st = use(as, A_EVENT);
	sqlite3_bind_int64(st, 1, time);
	text(st, 2, account);
	text(st, 3, event);
	text(st, 4, client_ip);
	text(st, 5, country);
	text(st, 6, detail);
	text(st, 7, by_whom);
	return run(as, A_EVENT);
}

enum store_status account_store_lock(struct account_store *as, const char *account, int64_t now, int64_t until,
                                     const char *reason, const char *by_whom, const char *client_ip,
                                     const char *country)
{
	struct txn t;
	enum store_status r = tx_open(as, &t);
	if (r != STORE_OK)
		return r;
	sqlite3_stmt *st = use(as, A_UPSERT);
	text(st, 1, account);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, until);
	text(st, 4, reason);
	text(st, 5, by_whom);
	r = run(as, A_UPSERT);
	if (r == STORE_OK) {
		char detail[ACCOUNT_REASON_MAX + 48];
		if (until == 0)
			snprintf(detail, sizeof detail, "%s", reason ? reason : "");
		else
			snprintf(detail, sizeof detail, "%s (until %lld)", reason ? reason : "", (long long)until);
		r = event_insert(as, now, account, "lock", client_ip, country, detail, by_whom);
	}
	return tx_close(as, &t, r);
}

enum store_status account_store_unlock(struct account_store *as, const char *account, int64_t now, const char *by_whom,
                                       const char *reason)
{
	struct txn t;
	enum store_status r = tx_open(as, &t);
	if (r != STORE_OK)
		return r;
	sqlite3_stmt *st = use(as, A_DELETE);
	text(st, 1, account);
	bool current = false;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t until = sqlite3_column_int64(st, 0);
		current = current || until == 0 || until > now;
	}
	sqlite3_reset(st);
	r = status_of(rc);
	if (r == STORE_OK && current)
		r = event_insert(as, now, account, "unlock", NULL, NULL, reason, by_whom);
	else if (r == STORE_OK)
		r = STORE_NOTFOUND;
	return tx_close(as, &t, r);
}

static void lock_row(sqlite3_stmt *st, struct account_lock_row *row)
{
	col(st, 0, row->account, sizeof row->account);
	row->locked_at = sqlite3_column_int64(st, 1);
	row->until = sqlite3_column_int64(st, 2);
	col(st, 3, row->reason, sizeof row->reason);
	col(st, 4, row->by_whom, sizeof row->by_whom);
}

enum store_status account_store_get(struct account_store *as, const char *account, int64_t now,
                                    struct account_lock_row *row_r)
{
	sqlite3_stmt *st = use(as, A_GET);
	text(st, 1, account);
	sqlite3_bind_int64(st, 2, now);
	int rc = sqlite3_step(st);
	enum store_status r;
	if (rc == SQLITE_ROW) {
		lock_row(st, row_r);
		r = STORE_OK;
	} else {
		r = rc == SQLITE_DONE ? STORE_NOTFOUND : status_of(rc);
	}
	sqlite3_reset(st);
	return r;
}

enum store_status account_store_list(struct account_store *as, int64_t now,
                                     int (*cb)(void *ctx, const struct account_lock_row *row), void *ctx)
{
	sqlite3_stmt *st = use(as, A_LIST);
	sqlite3_bind_int64(st, 1, now);
	int rc;
	struct account_lock_row row;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		lock_row(st, &row);
		if (cb(ctx, &row) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(st);
	return status_of(rc);
}

enum store_status account_store_event(struct account_store *as, int64_t time, const char *account, const char *event,
                                      const char *client_ip, const char *country, const char *detail,
                                      const char *by_whom)
{
	struct txn t;
	enum store_status r = tx_open(as, &t);
	if (r != STORE_OK)
		return r;
	r = event_insert(as, time, account, event, client_ip, country, detail, by_whom);
	return tx_close(as, &t, r);
}

static enum store_status event_rows(struct account_store *as, sqlite3_stmt *st,
                                    int (*cb)(void *ctx, const struct account_event_row *ev), void *ctx)
{
	int rc;
	struct account_event_row ev;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ev.id = sqlite3_column_int64(st, 0);
		ev.time = sqlite3_column_int64(st, 1);
		col(st, 2, ev.account, sizeof ev.account);
		col(st, 3, ev.event, sizeof ev.event);
		col(st, 4, ev.client_ip, sizeof ev.client_ip);
		col(st, 5, ev.country, sizeof ev.country);
		col(st, 6, ev.detail, sizeof ev.detail);
		col(st, 7, ev.by_whom, sizeof ev.by_whom);
		if (cb(ctx, &ev) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(st);
	(void)as;
	return status_of(rc);
}

enum store_status account_store_events(struct account_store *as, const char *account, unsigned max,
                                       int (*cb)(void *ctx, const struct account_event_row *ev), void *ctx)
{
	sqlite3_stmt *st = use(as, account ? A_EVENTS_ONE : A_EVENTS_ALL);
	if (account)
		text(st, 1, account);
	sqlite3_bind_int64(st, 2, max);
	return event_rows(as, st, cb, ctx);
}

enum store_status account_store_changes(struct account_store *as, int64_t after_id, unsigned max,
                                        int (*cb)(void *ctx, const struct account_event_row *ev), void *ctx)
{
	sqlite3_stmt *st = use(as, A_CHANGES);
	sqlite3_bind_int64(st, 1, after_id);
	sqlite3_bind_int64(st, 2, max);
	return event_rows(as, st, cb, ctx);
}

static enum store_status one_int(struct account_store *as, enum acct_stmt id, int64_t *v_r)
{
	sqlite3_stmt *st = use(as, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v_r = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? STORE_OK : status_of(rc == SQLITE_DONE ? SQLITE_ERROR : rc);
}

enum store_status account_store_last_id(struct account_store *as, int64_t *id_r)
{
	return one_int(as, A_LAST_ID, id_r);
}

enum store_status account_store_data_version(struct account_store *as, int64_t *v_r)
{
	return one_int(as, A_DATA_VERSION, v_r);
}

enum store_status account_store_purge(struct account_store *as, int64_t now, unsigned *n_r)
{
	struct txn t;
	enum store_status r = tx_open(as, &t);
	if (r != STORE_OK)
		return r;
	sqlite3_stmt *st = use(as, A_PURGE_LOCKS);
	sqlite3_bind_int64(st, 1, now);
	r = run(as, A_PURGE_LOCKS);
	if (n_r != NULL)
		*n_r = r == STORE_OK ? (unsigned)sqlite3_changes(as->db) : 0;
	if (r == STORE_OK) {
		st = use(as, A_PURGE_EVENTS);
		sqlite3_bind_int64(st, 1, now - (int64_t)ACCOUNT_EVENT_RETENTION_DAYS * 86400);
		r = run(as, A_PURGE_EVENTS);
	}
	return tx_close(as, &t, r);
}
