/* unit tests for src/store/store_sqlite_accounts (store/accounts.h): lock,
 * relock, get, list, expiry, unlock, events and their order, changes since
 * an id, data_version seen from a second connection, batches, purge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "store/accounts.h"
#include "store/store_backend.h"

#define NOW 1767225600LL /* 2026-01-01T00:00:00Z */

struct fixture {
	char dir[64];
	char path[128];
	struct mamori_config cfg;
	struct store *s, *s2;
	struct account_store *as, *as2; /* two connections to one file */
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/test_accounts.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/m.db", f->dir);
	config_defaults(&f->cfg);
	xfree(f->cfg.store_path);
	f->cfg.store_path = xstrdup(f->path);
	char err[256] = "";
	f->s = store_open(&f->cfg, err, sizeof err);
	f->s2 = store_open(&f->cfg, err, sizeof err);
	assert_non_null(f->s);
	assert_non_null(f->s2);
	f->as = account_store_open(f->s, err, sizeof err);
	f->as2 = account_store_open(f->s2, err, sizeof err);
	if (f->as == NULL || f->as2 == NULL)
		fail_msg("account_store_open: %s", err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	account_store_close(&f->as);
	account_store_close(&f->as2);
	store_close(&f->s);
	store_close(&f->s2);
	config_free(&f->cfg);
	char p[192];
	const char *suffix[] = {"", "-wal", "-shm"};
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s%s", f->path, suffix[i]);
		unlink(p);
	}
	rmdir(f->dir);
	xfree(f);
	return 0;
}

struct collect {
	char names[16][ACCOUNT_NAME_MAX + 1];
	char events[16][16];
	char details[16][ACCOUNT_REASON_MAX];
	int64_t ids[16];
	unsigned n;
};

static int on_lock(void *arg, const struct account_lock_row *r)
{
	struct collect *c = arg;
	if (c->n < 16)
		snprintf(c->names[c->n], sizeof c->names[0], "%s", r->account);
	c->n++;
	return 0;
}

static int on_event(void *arg, const struct account_event_row *e)
{
	struct collect *c = arg;
	if (c->n < 16) {
		snprintf(c->names[c->n], sizeof c->names[0], "%s", e->account);
		snprintf(c->events[c->n], sizeof c->events[0], "%s", e->event);
		snprintf(c->details[c->n], sizeof c->details[0], "%s", e->detail);
		c->ids[c->n] = e->id;
	}
	c->n++;
	return 0;
}

static void test_lock_get_unlock(void **state)
{
	struct fixture *f = *state;
	struct account_lock_row row;
	assert_int_equal(account_store_get(f->as, "alice@x", NOW, &row), STORE_NOTFOUND);
	assert_int_equal(account_store_unlock(f->as, "alice@x", NOW, "cli:root", ""), STORE_NOTFOUND);

	assert_int_equal(
	    account_store_lock(f->as, "alice@x", NOW, 0, "4 distinct source IPs", "mamorid", "192.0.2.4", "US"),
	    STORE_OK);
	assert_int_equal(account_store_get(f->as, "alice@x", NOW + 86400 * 365, &row), STORE_OK);
	assert_string_equal(row.account, "alice@x");
	assert_int_equal(row.locked_at, NOW);
	assert_int_equal(row.until, 0);
	assert_string_equal(row.reason, "4 distinct source IPs");
	assert_string_equal(row.by_whom, "mamorid");
	/* seen by the other connection at once */
	assert_int_equal(account_store_get(f->as2, "alice@x", NOW, &row), STORE_OK);

	/* relock replaces: timed lock, expired later */
	assert_int_equal(account_store_lock(f->as, "alice@x", NOW + 10, NOW + 100, "by hand", "cli:root", NULL, NULL),
	                 STORE_OK);
	assert_int_equal(account_store_get(f->as, "alice@x", NOW + 99, &row), STORE_OK);
	assert_int_equal(row.until, NOW + 100);
	assert_string_equal(row.by_whom, "cli:root");
	assert_int_equal(account_store_get(f->as, "alice@x", NOW + 100, &row), STORE_NOTFOUND);
	/* an expired lock is not unlocked (nothing recorded) */
	assert_int_equal(account_store_unlock(f->as, "alice@x", NOW + 100, "cli:root", ""), STORE_NOTFOUND);

	assert_int_equal(account_store_lock(f->as, "alice@x", NOW + 200, 0, "again", "mamorid", NULL, NULL), STORE_OK);
	assert_int_equal(account_store_unlock(f->as2, "alice@x", NOW + 300, "cli:admin", "password changed"), STORE_OK);
	assert_int_equal(account_store_get(f->as, "alice@x", NOW + 300, &row), STORE_NOTFOUND);

	struct collect c = {0};
	assert_int_equal(account_store_events(f->as, "alice@x", 10, on_event, &c), STORE_OK);
	assert_int_equal(c.n, 4);
	/* newest first */
	assert_string_equal(c.events[0], "unlock");
	assert_string_equal(c.details[0], "password changed");
	assert_string_equal(c.events[1], "lock");
	assert_string_equal(c.events[2], "lock");
	assert_string_equal(c.details[2], "by hand (until 1767225700)");
	assert_string_equal(c.events[3], "lock");
	assert_string_equal(c.details[3], "4 distinct source IPs");
	memset(&c, 0, sizeof c);
	assert_int_equal(account_store_events(f->as, "alice@x", 2, on_event, &c), STORE_OK);
	assert_int_equal(c.n, 2);
}

static void test_list_and_purge(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(account_store_lock(f->as, "c@x", NOW, 0, "r", "mamorid", NULL, NULL), STORE_OK);
	assert_int_equal(account_store_lock(f->as, "a@x", NOW, NOW + 60, "r", "mamorid", NULL, NULL), STORE_OK);
	assert_int_equal(account_store_lock(f->as, "b@x", NOW, NOW + 3600, "r", "mamorid", NULL, NULL), STORE_OK);
	struct collect c = {0};
	assert_int_equal(account_store_list(f->as, NOW, on_lock, &c), STORE_OK);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.names[0], "a@x");
	assert_string_equal(c.names[1], "b@x");
	assert_string_equal(c.names[2], "c@x");
	memset(&c, 0, sizeof c);
	assert_int_equal(account_store_list(f->as, NOW + 60, on_lock, &c), STORE_OK);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.names[0], "b@x");
	unsigned n = 99;
	assert_int_equal(account_store_purge(f->as, NOW + 60, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(account_store_purge(f->as, NOW + 60, &n), STORE_OK);
	assert_int_equal(n, 0);
	/* events older than the retention go */
	assert_int_equal(account_store_event(f->as, NOW - 400LL * 86400, "old@x", "limit", "", "", "old", "mamorid"),
	                 STORE_OK);
	memset(&c, 0, sizeof c);
	assert_int_equal(account_store_events(f->as, "old@x", 10, on_event, &c), STORE_OK);
	assert_int_equal(c.n, 1);
	assert_int_equal(account_store_purge(f->as, NOW, NULL), STORE_OK);
	memset(&c, 0, sizeof c);
	assert_int_equal(account_store_events(f->as, "old@x", 10, on_event, &c), STORE_OK);
	assert_int_equal(c.n, 0);
}

static void test_changes_and_version(void **state)
{
	struct fixture *f = *state;
	int64_t v0, v1, last;
	assert_int_equal(account_store_last_id(f->as, &last), STORE_OK);
	assert_int_equal(last, 0);
	assert_int_equal(account_store_data_version(f->as, &v0), STORE_OK);
	/* own writes do not move one's own data_version */
	assert_int_equal(account_store_event(f->as, NOW, "a@x", "limit", "192.0.2.1", "", "3 per h", "mamorid"),
	                 STORE_OK);
	assert_int_equal(account_store_data_version(f->as, &v1), STORE_OK);
	assert_int_equal(v0, v1);
	/* another connection's do */
	assert_int_equal(account_store_lock(f->as2, "b@x", NOW, 0, "by hand", "cli:root", NULL, NULL), STORE_OK);
	assert_int_equal(account_store_unlock(f->as2, "b@x", NOW, "cli:root", ""), STORE_OK);
	assert_int_equal(account_store_event(f->as2, NOW, "b@x", "deny", "", "CN", "country", "mamorid"), STORE_OK);
	assert_int_equal(account_store_data_version(f->as, &v1), STORE_OK);
	assert_true(v1 != v0);
	/* changes: lock and unlock only, oldest first, above the id */
	struct collect c = {0};
	assert_int_equal(account_store_changes(f->as, 0, 100, on_event, &c), STORE_OK);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.events[0], "lock");
	assert_string_equal(c.events[1], "unlock");
	assert_true(c.ids[0] < c.ids[1]);
	int64_t after = c.ids[0];
	memset(&c, 0, sizeof c);
	assert_int_equal(account_store_changes(f->as, after, 100, on_event, &c), STORE_OK);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.events[0], "unlock");
	assert_int_equal(account_store_last_id(f->as, &last), STORE_OK);
	assert_int_equal(last, 4);
	/* all events of every account, newest first */
	memset(&c, 0, sizeof c);
	assert_int_equal(account_store_events(f->as, NULL, 100, on_event, &c), STORE_OK);
	assert_int_equal(c.n, 4);
	assert_string_equal(c.events[0], "deny");
}

static void test_batch(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(account_store_begin(f->as), STORE_OK);
	assert_int_equal(account_store_event(f->as, NOW, "a@x", "limit", "", "", "1", "mamorid"), STORE_OK);
	assert_int_equal(account_store_lock(f->as, "a@x", NOW, 0, "r", "mamorid", NULL, NULL), STORE_OK);
	/* not visible to the other connection before the commit */
	struct account_lock_row row;
	assert_int_equal(account_store_get(f->as2, "a@x", NOW, &row), STORE_NOTFOUND);
	assert_int_equal(account_store_commit(f->as), STORE_OK);
	assert_int_equal(account_store_get(f->as2, "a@x", NOW, &row), STORE_OK);
	/* a rolled back batch leaves nothing */
	assert_int_equal(account_store_begin(f->as), STORE_OK);
	assert_int_equal(account_store_lock(f->as, "z@x", NOW, 0, "r", "mamorid", NULL, NULL), STORE_OK);
	account_store_rollback(f->as);
	assert_int_equal(account_store_get(f->as, "z@x", NOW, &row), STORE_NOTFOUND);
	/* while one connection holds the write lock the other gets TEMPFAIL
	   after its busy timeout */
	store_sqlite_set_busy_timeout(f->s2, 50);
	assert_int_equal(account_store_begin(f->as), STORE_OK);
	assert_int_equal(account_store_lock(f->as2, "y@x", NOW, 0, "r", "mamorid", NULL, NULL), STORE_TEMPFAIL);
	assert_int_equal(account_store_commit(f->as), STORE_OK);
	assert_int_equal(account_store_lock(f->as2, "y@x", NOW, 0, "r", "mamorid", NULL, NULL), STORE_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lock_get_unlock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_and_purge, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_changes_and_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
