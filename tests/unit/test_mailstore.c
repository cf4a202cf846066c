/* test_mailstore: the daemon's quarantine and message log (mailstore.h) and
   the quarantine's storage side (quarantine.h): durability order, failure
   paths that leave nothing behind, concurrency, retention, stored names.

   fsync and renameat2 calls made by quarantine.c are wrapped (the link
   uses --wrap, so SQLite's own calls are untouched): the test records
   their order and what was on disk and in the database at each, and makes
   them fail on demand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/mem.h"
#include "store/mailstore.h"
#include "store/quarantine.h"

/* ---- the wrapped calls ---- */

enum ev_kind { EV_FSYNC_FILE, EV_FSYNC_DIR, EV_RENAME };

struct event {
	enum ev_kind kind;
	char path[512];  /* fsync: what the descriptor is; rename: the target */
	char from[512];  /* rename: the source */
	long long size;  /* fsync of a file: its size then */
	int rows;        /* quarantine rows visible to another connection then */
};

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static struct event events[64];
static int nevents;
static bool recording;
static int fail_fsync_call;  /* fail the n-th fsync (1-based) while recording; 0 = never */
static int fail_rename_call;
static int nfsync, nrename;
static char probe_db[256];   /* counts quarantine rows at each event when set */

int __real_fsync(int fd);
int __real_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned flags);

static int count_rows(const char *db, const char *table)
{
	sqlite3 *h = NULL;
	int n = -1;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
		char sql[128];
		snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(h);
	return n;
}

int __wrap_fsync(int fd)
{
	pthread_mutex_lock(&ev_mu);
	bool rec = recording;
	int fail = 0;
	if (rec) {
		nfsync++;
		fail = fail_fsync_call == nfsync;
		if (nevents < 64) {
			struct event *e = &events[nevents++];
			memset(e, 0, sizeof *e);
			char link[64];
			snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
			ssize_t n = readlink(link, e->path, sizeof e->path - 1);
			e->path[n > 0 ? n : 0] = '\0';
			struct stat sb;
			fstat(fd, &sb);
			e->kind = S_ISDIR(sb.st_mode) ? EV_FSYNC_DIR : EV_FSYNC_FILE;
			e->size = (long long)sb.st_size;
			e->rows = probe_db[0] ? count_rows(probe_db, "quarantine") : -1;
		}
	}
	pthread_mutex_unlock(&ev_mu);
	if (fail) {
		errno = EIO;
		return -1;
	}
	return __real_fsync(fd);
}

int __wrap_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned flags)
{
	pthread_mutex_lock(&ev_mu);
	int fail = 0;
	if (recording) {
		nrename++;
		fail = fail_rename_call == nrename;
		if (nevents < 64) {
			struct event *e = &events[nevents++];
			memset(e, 0, sizeof *e);
			e->kind = EV_RENAME;
			snprintf(e->path, sizeof e->path, "%s", newpath);
			snprintf(e->from, sizeof e->from, "%s", oldpath);
			e->rows = probe_db[0] ? count_rows(probe_db, "quarantine") : -1;
		}
	}
	pthread_mutex_unlock(&ev_mu);
	if (fail) {
		errno = EIO;
		return -1;
	}
	return __real_renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

static void record(bool on, int fsync_fail, int rename_fail, const char *db)
{
	pthread_mutex_lock(&ev_mu);
	recording = on;
	if (on) { /* stopping keeps what was recorded */
		nevents = 0;
		nfsync = nrename = 0;
	}
	fail_fsync_call = fsync_fail;
	fail_rename_call = rename_fail;
	snprintf(probe_db, sizeof probe_db, "%s", db != NULL ? db : "");
	pthread_mutex_unlock(&ev_mu);
}

/* ---- fixture ---- */

struct fixture {
	char dir[64];
	char db[128];
	char qdir[128];
	struct mamori_config cfg;
	struct mailstore *ms;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/test_mailstore.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof f->db, "%s/m.db", f->dir);
	snprintf(f->qdir, sizeof f->qdir, "%s/data/quarantine", f->dir);
	config_defaults(&f->cfg);
	xfree(f->cfg.store_path);
	f->cfg.store_path = xstrdup(f->db);
	xfree(f->cfg.data_dir);
	char dd[128];
	snprintf(dd, sizeof dd, "%s/data", f->dir);
	f->cfg.data_dir = xstrdup(dd);
	f->cfg.quarantine_retention_days = 30;
	f->cfg.msglog_retention_days = 10;
	char err[256] = "";
	f->ms = mailstore_open(&f->cfg, err, sizeof err);
	if (f->ms == NULL)
		fail_msg("mailstore_open: %s", err);
	*state = f;
	return 0;
}

static void rm_tree(const char *path)
{
	DIR *d = opendir(path);
	if (d != NULL) {
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			char p[1024];
			snprintf(p, sizeof p, "%s/%s", path, de->d_name);
			rm_tree(p);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	record(false, 0, 0, NULL);
	mailstore_close(&f->ms);
	config_free(&f->cfg);
	rm_tree(f->dir);
	xfree(f);
	return 0;
}

/* names in the quarantine directory: q-files and temporary files */
static int dir_count(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static const char MSG[] = "From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n";

static struct quarantine_meta meta(const char *const *rcpts, size_t n, int64_t t)
{
	struct quarantine_meta m;
	memset(&m, 0, sizeof m);
	m.time = t;
	m.queue_id = "QID1";
	m.client_ip = "192.0.2.7";
	m.mail_from = "<a@example.com>";
	m.rcpts = rcpts;
	m.nrcpts = n;
	m.header_from = "A <a@example.com>";
	m.subject = "hi";
	m.reasons = "lookalike: examp1e.com\nscore 11";
	return m;
}

static sqlite3 *db_open(const char *path)
{
	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	return h;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ---- durability ---- */

static void test_durability_order(void **state)
{
	struct fixture *f = *state;
	const char *rcpts[] = { "<b@example.org>", " c@example.org " };
	struct quarantine_meta m = meta(rcpts, 2, 1767225600);
	int64_t id = 0;
	char err[256] = "";
	record(true, 0, 0, f->db);
	int rc = mailstore_quarantine(f->ms, MSG, sizeof MSG - 1, &m, &id, err, sizeof err);
	record(false, 0, 0, NULL);
	assert_int_equal(rc, 0);
	assert_true(id > 0);

	/* exactly: fsync(temporary file, complete) -> rename -> fsync(dir),
	   with no row anywhere until after the directory is synced */
	assert_int_equal(nevents, 3);
	assert_int_equal(events[0].kind, EV_FSYNC_FILE);
	assert_non_null(strstr(events[0].path, "/.tmp-"));
	assert_int_equal(events[0].size, (long long)(sizeof MSG - 1));
	assert_int_equal(events[0].rows, 0);
	assert_int_equal(events[1].kind, EV_RENAME);
	assert_non_null(strstr(events[0].path, events[1].from));
	assert_int_equal(strlen(events[1].path), QUARANTINE_NAME_LEN);
	assert_int_equal(strncmp(events[1].path, "q-", 2), 0);
	assert_int_equal(events[1].rows, 0);
	assert_int_equal(events[2].kind, EV_FSYNC_DIR);
	assert_string_equal(events[2].path, f->qdir);
	assert_int_equal(events[2].rows, 0);

	/* and the row is committed when the call returns: another connection sees it */
	sqlite3 *h = db_open(f->db);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(h,
					    "SELECT file, sha256, size, mail_from, rcpts, state, queue_id, reasons, time"
					    " FROM quarantine WHERE id = ?1",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(st, 1, id);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), events[1].path);
	char sha[65];
	sha256_hex(MSG, sizeof MSG - 1, sha);
	assert_string_equal((const char *)sqlite3_column_text(st, 1), sha);
	assert_int_equal(sqlite3_column_int64(st, 2), sizeof MSG - 1);
	assert_string_equal((const char *)sqlite3_column_text(st, 3), "a@example.com");
	assert_string_equal((const char *)sqlite3_column_text(st, 4), "b@example.org\nc@example.org");
	assert_string_equal((const char *)sqlite3_column_text(st, 5), "held");
	assert_string_equal((const char *)sqlite3_column_text(st, 6), "QID1");
	assert_string_equal((const char *)sqlite3_column_text(st, 7), "lookalike: examp1e.com\nscore 11");
	assert_int_equal(sqlite3_column_int64(st, 8), 1767225600);
	sqlite3_finalize(st);
	sqlite3_close(h);

	/* the file holds the message, private to the group */
	char path[700];
	snprintf(path, sizeof path, "%s/%s", f->qdir, events[1].path);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
	assert_int_equal(sb.st_size, sizeof MSG - 1);
	assert_int_equal(stat(f->qdir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0750);
	assert_int_equal(dir_count(f->qdir, ".tmp-"), 0);
}

/* a failure at each step leaves no file and no row, and says why */
static void test_failure_steps(void **state)
{
	struct fixture *f = *state;
	const char *rcpts[] = { "b@example.org" };
	struct quarantine_meta m = meta(rcpts, 1, 0);
	static const struct {
		const char *name;
		int fsync_fail, rename_fail;
		const char *err;
	} cases[] = {
		{ "fsync of the file", 1, 0, "write" },
		{ "rename", 0, 1, "rename" },
		{ "fsync of the directory", 2, 0, "fsync" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t id = -5;
		char err[256] = "";
		record(true, cases[i].fsync_fail, cases[i].rename_fail, NULL);
		int rc = mailstore_quarantine(f->ms, MSG, sizeof MSG - 1, &m, &id, err, sizeof err);
		record(false, 0, 0, NULL);
		if (rc != -1)
			fail_msg("%s: expected -1", cases[i].name);
		if (strstr(err, cases[i].err) == NULL)
			fail_msg("%s: error \"%s\" lacks \"%s\"", cases[i].name, err, cases[i].err);
		assert_int_equal(id, -5);
		assert_int_equal(dir_count(f->qdir, "q-"), 0);
		assert_int_equal(dir_count(f->qdir, ".tmp-"), 0);
		assert_int_equal(count_rows(f->db, "quarantine"), 0);
	}
	/* and the next one works */
	int64_t id = 0;
	char err[256] = "";
	assert_int_equal(mailstore_quarantine(f->ms, MSG, sizeof MSG - 1, &m, &id, err, sizeof err), 0);
	assert_int_equal(dir_count(f->qdir, "q-"), 1);
	assert_int_equal(count_rows(f->db, "quarantine"), 1);
}

/* the directory cannot take files (it is gone: root ignores permissions) */
static void test_directory_unusable(void **state)
{
	struct fixture *f = *state;
	const char *rcpts[] = { "b@example.org" };
	struct quarantine_meta m = meta(rcpts, 1, 0);
	int64_t id = 0;
	char err[256] = "";
	if (geteuid() != 0) {
		/* not writable (root would not notice the mode) */
		assert_int_equal(chmod(f->qdir, 0550), 0);
		assert_int_equal(mailstore_quarantine(f->ms, MSG, sizeof MSG - 1, &m, &id, err, sizeof err), -1);
		assert_non_null(strstr(err, "Permission denied"));
		assert_int_equal(count_rows(f->db, "quarantine"), 0);
		assert_int_equal(chmod(f->qdir, 0750), 0);
	}
	assert_int_equal(rmdir(f->qdir), 0);
	assert_int_equal(mailstore_quarantine(f->ms, MSG, sizeof MSG - 1, &m, &id, err, sizeof err), -1);
	assert_non_null(strstr(err, "create"));
	assert_int_equal(count_rows(f->db, "quarantine"), 0);
}

/* another connection holds the database: -1 after the busy timeout, the
   file is removed again, no row; once free, quarantining works */
static void test_database_locked(void **state)
{
	struct fixture *f = *state;
	const char *rcpts[] = { "b@example.org" };
	struct quarantine_meta m = meta(rcpts, 1, 0);
	mailstore_set_busy_timeout(f->ms, 50);
	sqlite3 *h = db_open(f->db);
	assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	int64_t id = 0;
	char err[256] = "";
	assert_int_equal(mailstore_quarantine(f->ms, MSG, sizeof MSG - 1, &m, &id, err, sizeof err), -1);
	assert_non_null(strstr(err, "insert"));
	assert_int_equal(dir_count(f->qdir, "q-"), 0);
	assert_int_equal(dir_count(f->qdir, ".tmp-"), 0);
	assert_int_equal(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(count_rows(f->db, "quarantine"), 0);
	assert_int_equal(mailstore_quarantine(f->ms, MSG, sizeof MSG - 1, &m, &id, err, sizeof err), 0);
	assert_int_equal(dir_count(f->qdir, "q-"), 1);
}

/* ---- the message log ---- */

static void test_log_fields(void **state)
{
	struct fixture *f = *state;
	const char *rcpts[] = { "<x@example.org>", "y@example.org" };
	const char *signals[] = { "lookalike: examp1e.com", "free mail\r\ninjected" };
	char subject[10000];
	memset(subject, 'S', sizeof subject - 1);
	subject[sizeof subject - 1] = '\0';
	/* a multi-byte character straddling the cut is not split */
	memcpy(subject + 8191, "\xe3\x81\x82", 3);
	struct msglog_entry e;
	memset(&e, 0, sizeof e);
	e.time = 1767225600;
	e.queue_id = "Q9";
	e.outbound = true;
	e.client_ip = "2001:db8::1";
	e.country = "JP";
	e.mail_from = "<s@example.com>";
	e.rcpts = rcpts;
	e.nrcpts = 2;
	e.subject = subject;
	e.signals = signals;
	e.nsignals = 2;
	e.score = 7;
	e.action = "quarantine";
	e.quarantine_id = 42;
	mailstore_log(f->ms, &e);
	e.queue_id = "Q10";
	e.outbound = false;
	e.quarantine_id = 0;
	e.action = NULL;
	mailstore_log(f->ms, &e);
	mailstore_flush(f->ms);

	sqlite3 *h = db_open(f->db);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(h,
					    "SELECT queue_id, direction, client_ip, country, mail_from, rcpts, signals,"
					    " score, action, quarantine_id, length(CAST(subject AS BLOB)), time, helo"
					    " FROM msglog ORDER BY id",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "Q9");
	assert_string_equal((const char *)sqlite3_column_text(st, 1), "out");
	assert_string_equal((const char *)sqlite3_column_text(st, 2), "2001:db8::1");
	assert_string_equal((const char *)sqlite3_column_text(st, 3), "JP");
	assert_string_equal((const char *)sqlite3_column_text(st, 4), "s@example.com");
	assert_string_equal((const char *)sqlite3_column_text(st, 5), "x@example.org\ny@example.org");
	assert_string_equal((const char *)sqlite3_column_text(st, 6), "lookalike: examp1e.com\nfree mail  injected");
	assert_int_equal(sqlite3_column_int(st, 7), 7);
	assert_string_equal((const char *)sqlite3_column_text(st, 8), "quarantine");
	assert_int_equal(sqlite3_column_int64(st, 9), 42);
	assert_int_equal(sqlite3_column_int(st, 10), 8191);
	assert_int_equal(sqlite3_column_int64(st, 11), 1767225600);
	assert_string_equal((const char *)sqlite3_column_text(st, 12), "");
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "Q10");
	assert_string_equal((const char *)sqlite3_column_text(st, 1), "in");
	assert_string_equal((const char *)sqlite3_column_text(st, 8), "");
	assert_int_equal(sqlite3_column_type(st, 9), SQLITE_NULL);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(h);
}

/* the database is held by another connection for a while: queued rows
   wait and are written once it is free, none lost */
static void test_log_survives_busy_database(void **state)
{
	struct fixture *f = *state;
	mailstore_set_busy_timeout(f->ms, 20);
	sqlite3 *h = db_open(f->db);
	assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	struct msglog_entry e;
	memset(&e, 0, sizeof e);
	e.action = "accept";
	for (int i = 0; i < 300; i++)
		mailstore_log(f->ms, &e);
	/* long enough for the writer to have tried and failed */
	struct timespec ts = { 0, 600 * 1000000L };
	nanosleep(&ts, NULL);
	assert_int_equal(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	mailstore_flush(f->ms);
	assert_int_equal(count_rows(f->db, "msglog"), 300);
	assert_int_equal(mailstore_dropped(f->ms), 0);
}

/* ---- many threads at once ---- */

#define NTHREADS 8
#define LOGS_PER_THREAD 400
#define QUARANTINES_PER_THREAD 12

struct worker {
	struct mailstore *ms;
	int n;
	int failures;
	int64_t ids[QUARANTINES_PER_THREAD];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char body[256], qid[32];
	const char *rcpts[] = { "r@example.org" };
	for (int i = 0; i < LOGS_PER_THREAD; i++) {
		snprintf(qid, sizeof qid, "T%dL%d", w->n, i);
		struct msglog_entry e;
		memset(&e, 0, sizeof e);
		e.queue_id = qid;
		e.rcpts = rcpts;
		e.nrcpts = 1;
		e.action = "accept";
		mailstore_log(w->ms, &e);
		if (i % (LOGS_PER_THREAD / QUARANTINES_PER_THREAD) == 0 && i / (LOGS_PER_THREAD / QUARANTINES_PER_THREAD) <
										 QUARANTINES_PER_THREAD) {
			int k = i / (LOGS_PER_THREAD / QUARANTINES_PER_THREAD);
			int len = snprintf(body, sizeof body, "Subject: t%d m%d\r\n\r\nbody of %d/%d\r\n", w->n, k, w->n, k);
			struct quarantine_meta m = meta(rcpts, 1, 0);
			m.queue_id = qid;
			char err[256];
			if (mailstore_quarantine(w->ms, body, (size_t)len, &m, &w->ids[k], err, sizeof err) < 0)
				w->failures++;
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fixture *f = *state;
	pthread_t th[NTHREADS];
	struct worker w[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].ms = f->ms;
		w[i].n = i;
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	mailstore_flush(f->ms);
	assert_int_equal(count_rows(f->db, "msglog"), NTHREADS * LOGS_PER_THREAD);
	assert_int_equal(count_rows(f->db, "quarantine"), NTHREADS * QUARANTINES_PER_THREAD);
	assert_int_equal(dir_count(f->qdir, "q-"), NTHREADS * QUARANTINES_PER_THREAD);
	assert_int_equal(dir_count(f->qdir, ".tmp-"), 0);

	/* each row reads back its own message */
	struct quarantine *q = NULL;
	char err[256] = "";
	q = quarantine_open(&f->cfg, err, sizeof err);
	assert_non_null(q);
	for (int i = 0; i < NTHREADS; i++) {
		for (int k = 0; k < QUARANTINES_PER_THREAD; k++) {
			struct quarantine_item it;
			assert_int_equal(quarantine_get(q, w[i].ids[k], &it), STORE_OK);
			void *msg = NULL;
			size_t len = 0;
			assert_int_equal(quarantine_read(q, &it, &msg, &len, err, sizeof err), STORE_OK);
			char want[256];
			int wl = snprintf(want, sizeof want, "Subject: t%d m%d\r\n\r\nbody of %d/%d\r\n", i, k, i, k);
			assert_int_equal(len, (size_t)wl);
			assert_memory_equal(msg, want, len);
			xfree(msg);
			quarantine_item_clear(&it);
		}
	}
	quarantine_close(&q);
}

/* ---- retention ---- */

static void test_expire(void **state)
{
	struct fixture *f = *state;
	int64_t now = 1767225600 + 100 * 86400;
	const char *rcpts[] = { "b@example.org" };
	int64_t ids[4];
	int64_t times[4] = { now - 31 * 86400, now - 29 * 86400, now - 40 * 86400, now - 35 * 86400 };
	char err[256] = "";
	for (int i = 0; i < 4; i++) {
		struct quarantine_meta m = meta(rcpts, 1, times[i]);
		assert_int_equal(mailstore_quarantine(f->ms, MSG, sizeof MSG - 1, &m, &ids[i], err, sizeof err), 0);
	}
	/* the fourth is being released right now: expiry leaves it alone */
	sqlite3 *h = db_open(f->db);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(h, "UPDATE quarantine SET state = 'releasing' WHERE id = ?1", -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(st, 1, ids[3]);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(h);
	/* message log: 11 and 9 days old */
	struct msglog_entry e;
	memset(&e, 0, sizeof e);
	e.action = "accept";
	e.time = now - 11 * 86400;
	mailstore_log(f->ms, &e);
	mailstore_log(f->ms, &e);
	e.time = now - 9 * 86400;
	mailstore_log(f->ms, &e);
	mailstore_flush(f->ms);

	assert_int_equal(mailstore_expire(f->ms, now), 2);
	assert_int_equal(count_rows(f->db, "quarantine"), 2);
	assert_int_equal(count_rows(f->db, "msglog"), 1);
	assert_int_equal(dir_count(f->qdir, "q-"), 2);
	/* again: nothing more */
	assert_int_equal(mailstore_expire(f->ms, now), 0);
	assert_int_equal(count_rows(f->db, "quarantine"), 2);
}

/* ---- stored names are checked before anything is opened ---- */

static void test_stored_name_checked(void **state)
{
	struct fixture *f = *state;
	const char *rcpts[] = { "b@example.org" };
	struct quarantine_meta m = meta(rcpts, 1, 0);
	int64_t id = 0;
	char err[256] = "";
	assert_int_equal(mailstore_quarantine(f->ms, MSG, sizeof MSG - 1, &m, &id, err, sizeof err), 0);
	/* a copy of the message outside the directory, and rows pointing at it */
	char outside[256];
	snprintf(outside, sizeof outside, "%s/outside.eml", f->dir);
	FILE *o = fopen(outside, "wb");
	assert_non_null(o);
	fwrite(MSG, 1, sizeof MSG - 1, o);
	fclose(o);
	struct quarantine *q = quarantine_open(&f->cfg, err, sizeof err);
	assert_non_null(q);
	static const char *const bad[] = { "../../outside.eml", "/etc/passwd", "q-0123.eml", "" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct quarantine_item it;
		assert_int_equal(quarantine_get(q, id, &it), STORE_OK);
		xfree(it.file);
		it.file = xstrdup(bad[i]);
		void *msg = (void *)1;
		size_t len = 7;
		assert_int_equal(quarantine_read(q, &it, &msg, &len, err, sizeof err), STORE_ERROR);
		assert_null(msg);
		assert_int_equal(len, 0);
		assert_non_null(strstr(err, "not one of ours"));
		quarantine_item_clear(&it);
	}
	/* a file changed after it was stored is refused (SHA-256) */
	struct quarantine_item it;
	assert_int_equal(quarantine_get(q, id, &it), STORE_OK);
	char path[512];
	snprintf(path, sizeof path, "%s/%s", f->qdir, it.file);
	FILE *w = fopen(path, "r+b");
	assert_non_null(w);
	fputc('X', w);
	fclose(w);
	void *msg = NULL;
	size_t len = 0;
	assert_int_equal(quarantine_read(q, &it, &msg, &len, err, sizeof err), STORE_ERROR);
	assert_non_null(strstr(err, "SHA-256"));
	quarantine_item_clear(&it);
	quarantine_close(&q);
}

struct list_count {
	int n;
	int64_t first;
};

static int count_cb(void *ctx, const struct quarantine_item *it)
{
	struct list_count *g = ctx;
	if (g->n++ == 0)
		g->first = it->time;
	return 0;
}

/* a message sent again after mamorid died between its commit and its
   answer (same resend key) is not quarantined twice; other keys are */
static void test_resend_not_duplicated(void **state)
{
	struct fixture *f = *state;
	const char *r[] = { "alice@example.org" };
	char err[256] = "";
	struct quarantine_meta m = meta(r, 1, 1000);
	m.resend_key = "5d41402abc4b2a76b9719d911017c592aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	int64_t id1 = 0, id2 = 0, id3 = 0, id4 = 0;
	assert_int_equal(mailstore_quarantine(f->ms, MSG, sizeof MSG - 1, &m, &id1, err, sizeof err), 0);
	assert_int_equal(mailstore_quarantine(f->ms, MSG, sizeof MSG - 1, &m, &id2, err, sizeof err), 0);
	assert_true(id1 > 0);
	assert_int_equal(id2, id1);
	assert_int_equal(count_rows(f->db, "quarantine"), 1);
	assert_int_equal(dir_count(f->qdir, "q-"), 1);
	assert_int_equal(dir_count(f->qdir, ".tmp-"), 0);
	m.resend_key = "6d41402abc4b2a76b9719d911017c592aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	assert_int_equal(mailstore_quarantine(f->ms, MSG, sizeof MSG - 1, &m, &id3, err, sizeof err), 0);
	assert_true(id3 != id1);
	/* no key: never deduplicated */
	m.resend_key = NULL;
	assert_int_equal(mailstore_quarantine(f->ms, MSG, sizeof MSG - 1, &m, &id4, err, sizeof err), 0);
	m.resend_key = "";
	assert_int_equal(mailstore_quarantine(f->ms, MSG, sizeof MSG - 1, &m, &id4, err, sizeof err), 0);
	assert_int_equal(count_rows(f->db, "quarantine"), 4);
	assert_int_equal(dir_count(f->qdir, "q-"), 4);
}

/* list filters and delete through the API */
static void test_list_and_delete(void **state)
{
	struct fixture *f = *state;
	const char *r1[] = { "Alice@Example.org" };
	const char *r2[] = { "bob@other.test", "carol@example.org" };
	int64_t id1, id2;
	char err[256] = "";
	struct quarantine_meta m = meta(r1, 1, 1000);
	assert_int_equal(mailstore_quarantine(f->ms, MSG, sizeof MSG - 1, &m, &id1, err, sizeof err), 0);
	m = meta(r2, 2, 2000);
	m.reasons = "dnsbl: listed";
	m.mail_from = "<>";
	assert_int_equal(mailstore_quarantine(f->ms, MSG, sizeof MSG - 1, &m, &id2, err, sizeof err), 0);
	struct quarantine *q = quarantine_open(&f->cfg, err, sizeof err);
	assert_non_null(q);
	static const struct {
		struct quarantine_filter f;
		int n;
		int64_t first_time;
	} cases[] = {
		{ { 0 }, 2, 2000 },
		{ { .recipient = "alice@example.ORG" }, 1, 1000 },
		{ { .recipient = "example.org" }, 2, 2000 },
		{ { .recipient = "%" }, 0, 0 }, /* no LIKE wildcards */
		{ { .sender = "a@example.com" }, 2, 2000 }, /* header From of both */
		{ { .reason = "DNSBL" }, 1, 2000 },
		{ { .since = 1500 }, 1, 2000 },
		{ { .until = 1500 }, 1, 1000 },
		{ { .state = "held" }, 2, 2000 },
		{ { .state = "released" }, 0, 0 },
		{ { .limit = 1 }, 1, 2000 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct list_count got = { 0, 0 };
		assert_int_equal(quarantine_list(q, &cases[i].f, count_cb, &got), STORE_OK);
		if (got.n != cases[i].n)
			fail_msg("case %zu: %d rows, expected %d", i, got.n, cases[i].n);
		if (cases[i].n > 0)
			assert_int_equal(got.first, cases[i].first_time);
	}
	char detail[256];
	assert_int_equal(quarantine_delete(q, id1, 5000, detail, sizeof detail), QO_DONE);
	assert_int_equal(dir_count(f->qdir, "q-"), 1);
	assert_int_equal(quarantine_delete(q, id1, 5000, detail, sizeof detail), QO_ALREADY);
	assert_int_equal(quarantine_delete(q, 99999, 5000, detail, sizeof detail), QO_NOTFOUND);
	struct quarantine_item it;
	assert_int_equal(quarantine_get(q, id1, &it), STORE_OK);
	assert_string_equal(it.state, "deleted");
	assert_int_equal(it.state_time, 5000);
	void *msg = NULL;
	size_t len = 0;
	assert_int_equal(quarantine_read(q, &it, &msg, &len, err, sizeof err), STORE_NOTFOUND);
	quarantine_item_clear(&it);
	/* the null sender is kept as empty */
	assert_int_equal(quarantine_get(q, id2, &it), STORE_OK);
	assert_string_equal(it.mail_from, "");
	quarantine_item_clear(&it);
	quarantine_close(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_durability_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory_unusable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_database_locked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_survives_busy_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stored_name_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_and_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resend_not_duplicated, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
