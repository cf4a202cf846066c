/*
 * quarantine: files under quarantine.dir and their rows (see quarantine.h).
 *
 * Durability: a file is written to .tmp-<random>, fsync'd, renamed into
 * place with RENAME_NOREPLACE and the directory fsync'd before its row is
 * inserted; the connection runs with synchronous=FULL so a committed row
 * (and a "released" state) survives a power loss, which a release needs to
 * never send twice.
 *
 * SQL is portable apart from instr() (PostgreSQL: strpos()) and
 * "LIMIT -1" for no limit.
 */
#include "store/quarantine.h"

#include "core/log.h"
#include "core/mem.h"
#include "store/mailstore.h"
#include "store/store_backend.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define QSTR_(x) #x
#define QSTR(x) QSTR_(x)

/* rows handled per expire step (the daemon holds its lock for one step) */
#define EXPIRE_QUARANTINE_ROWS 256
#define EXPIRE_MSGLOG_ROWS 5000
#define EXPIRE_SWEEP_ENTRIES 512
/* a stray file (no row) younger than this may still be getting its row */
#define STRAY_MIN_AGE 3600
/* longest relay password read from relay_password_file */
#define RELAY_MAX_PASSWORD 512
/* longest envelope address accepted for a release (RFC 5321 4.5.3.1.3: 256 for a path) */
#define RELEASE_MAX_ADDRESS 256

enum {
	S_INSERT,
	S_RESEND,
	S_GET,
	S_LIST,
	S_CLAIM,
	S_ATTEMPT,
	S_FINISH,
	S_DELETE,
	S_STATE,
	S_EXPIRE_SEL,
	S_EXPIRE_DEL,
	S_LOG_EXPIRE,
	S_HAS_FILE,
	S_COUNT
};

#define ITEM_COLS \
	"id, time, queue_id, file, sha256, size, client_ip, mail_from, rcpts, header_from, subject, reasons," \
	" state, attempts, state_time, state_detail"

static const char *const sql_text[S_COUNT] = {
	[S_INSERT] = "INSERT INTO quarantine (time, queue_id, file, sha256, size, client_ip, mail_from, rcpts,"
		     " header_from, subject, reasons, state, state_time, resend_key)"
		     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'held', ?1, COALESCE(?12, ''))",
	[S_RESEND] = "SELECT id FROM quarantine WHERE resend_key = ?1 AND resend_key <> ''",
	[S_GET] = "SELECT " ITEM_COLS " FROM quarantine WHERE id = ?1",
	[S_LIST] = "SELECT " ITEM_COLS " FROM quarantine"
		   " WHERE (?1 IS NULL OR instr(lower(rcpts), lower(?1)) > 0)"
		   " AND (?2 IS NULL OR instr(lower(mail_from), lower(?2)) > 0"
		   "      OR instr(lower(header_from), lower(?2)) > 0)"
		   " AND (?3 IS NULL OR instr(lower(reasons), lower(?3)) > 0)"
		   " AND (?4 IS NULL OR state = ?4)"
		   " AND (?5 = 0 OR time >= ?5) AND (?6 = 0 OR time < ?6)"
		   " ORDER BY time DESC, id DESC LIMIT ?7",
	/* the claim: only one UPDATE can move a row out of 'held' */
	[S_CLAIM] = "UPDATE quarantine SET state = 'releasing', state_time = ?2, state_detail = ''"
		    " WHERE id = ?1 AND (state = 'held' OR (?3 <> 0 AND (state = 'failed'"
		    "   OR (state = 'releasing' AND state_time < ?2 - " QSTR(QUARANTINE_STALE_RELEASING) "))))",
	[S_ATTEMPT] = "UPDATE quarantine SET attempts = attempts + 1, state_time = ?2, state_detail = ?3"
		      " WHERE id = ?1 AND state = 'releasing'",
	[S_FINISH] = "UPDATE quarantine SET state = ?2, state_time = ?3, state_detail = ?4"
		     " WHERE id = ?1 AND state = 'releasing'",
	[S_DELETE] = "UPDATE quarantine SET state = 'deleted', state_time = ?2, state_detail = ?3"
		     " WHERE id = ?1 AND state IN ('held', 'failed', 'released')",
	[S_STATE] = "SELECT state, state_detail FROM quarantine WHERE id = ?1",
	[S_EXPIRE_SEL] = "SELECT id, file FROM quarantine WHERE time < ?1 AND state <> 'releasing'"
			 " ORDER BY time LIMIT " QSTR(EXPIRE_QUARANTINE_ROWS),
	[S_EXPIRE_DEL] = "DELETE FROM quarantine WHERE id = ?1",
	[S_LOG_EXPIRE] = "DELETE FROM msglog WHERE id IN"
			 " (SELECT id FROM msglog WHERE time < ?1 ORDER BY time LIMIT " QSTR(EXPIRE_MSGLOG_ROWS) ")",
	[S_HAS_FILE] = "SELECT 1 FROM quarantine WHERE file = ?1",
};

struct quarantine {
	struct store *st;
	bool own_store;
	sqlite3 *db;
	sqlite3_stmt *stmt[S_COUNT];
	int dirfd;
	char *dir;
	/* configuration copied at open (the daemon's config may be reloaded) */
	char *relay_url, *relay_user, *relay_password_file;
	int release_attempts;
	int retention_days, msglog_retention_days;
	/* expire: the stray-file sweep walks the directory across steps */
	DIR *sweep;
	int expire_phase;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

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

static sqlite3_stmt *stmt(struct quarantine *q, int i, int *rc_r)
{
	if (q->stmt[i] == NULL) {
		int rc = sqlite3_prepare_v3(q->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &q->stmt[i], NULL);
		if (rc != SQLITE_OK) {
			log_error("quarantine: prepare: %s", sqlite3_errmsg(q->db));
			q->stmt[i] = NULL;
			*rc_r = rc;
			return NULL;
		}
	}
	sqlite3_reset(q->stmt[i]);
	sqlite3_clear_bindings(q->stmt[i]);
	return q->stmt[i];
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v != NULL ? v : "", -1, SQLITE_STATIC);
}

static void bind_opt(sqlite3_stmt *st, int i, const char *v)
{
	if (v != NULL && v[0] != '\0')
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return xstrdup(t != NULL ? (const char *)t : "");
}

/* runs a prepared UPDATE/DELETE to completion; the SQLite code */
static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ---- names and paths ---- */

static bool hexchars(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* q-<32 hex>.eml: the only names this module opens */
static bool name_valid(const char *name)
{
	return name != NULL && strlen(name) == QUARANTINE_NAME_LEN && strncmp(name, "q-", 2) == 0 &&
	       hexchars(name + 2, 32) && strcmp(name + 34, ".eml") == 0;
}

static bool tmpname_valid(const char *name)
{
	return strlen(name) == 5 + 32 && strncmp(name, ".tmp-", 5) == 0 && hexchars(name + 5, 32);
}

static int random_hex(char out[33])
{
	unsigned char r[16];
	size_t got = 0;
	while (got < sizeof r) {
		ssize_t n = getrandom(r + got, sizeof r - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof r; i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[32] = '\0';
	return 0;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	static const char hex[] = "0123456789abcdef";
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

/* mkdir -p with mode for the missing components; 0 or -1 with errno */
static int mkdir_parents(const char *dir, mode_t mode)
{
	char tmp[4096];
	size_t n = strlen(dir);
	if (n == 0 || n >= sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		char save = tmp[i];
		tmp[i] = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		tmp[i] = save;
	}
	return 0;
}

/* ---- open / close ---- */

/* create: make the directory if missing (the daemon, running as its own
   user); the command line only uses what is there, so that running it as
   root first does not leave a directory the daemon cannot write */
static struct quarantine *attach(struct store *st, const struct mamori_config *cfg, bool create, char *err,
				 size_t errlen)
{
	sqlite3 *db = store_sqlite_db(st);
	if (db == NULL) {
		set_err(err, errlen, "quarantine: the store is not SQLite or not usable");
		return NULL;
	}
	char path[4096];
	if (cfg->quarantine_dir != NULL && cfg->quarantine_dir[0] != '\0') {
		snprintf(path, sizeof path, "%s", cfg->quarantine_dir);
	} else {
		const char *d = cfg->data_dir != NULL && cfg->data_dir[0] != '\0' ? cfg->data_dir : ".";
		if ((size_t)snprintf(path, sizeof path, "%s/quarantine", d) >= sizeof path) {
			set_err(err, errlen, "quarantine.dir: path too long");
			return NULL;
		}
	}
	if (create && mkdir_parents(path, 0750) < 0) {
		set_err(err, errlen, "quarantine.dir %s: %s", path, strerror(errno));
		return NULL;
	}
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && (create || errno != ENOENT)) {
		set_err(err, errlen, "quarantine.dir %s: %s", path, strerror(errno));
		return NULL;
	}
	/* a committed row, and above all a "released" state, must survive a
	   power loss (WAL with synchronous=NORMAL may lose the last commits) */
	char *msg = NULL;
	if (sqlite3_exec(db, "PRAGMA synchronous = FULL", NULL, NULL, &msg) != SQLITE_OK) {
		set_err(err, errlen, "quarantine: %s", msg != NULL ? msg : "PRAGMA synchronous failed");
		sqlite3_free(msg);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	struct quarantine *q = xcalloc(1, sizeof *q);
	q->st = st;
	q->db = db;
	q->dirfd = fd;
	q->dir = xstrdup(path);
	q->relay_url = xstrdup(cfg->quarantine_relay_url != NULL ? cfg->quarantine_relay_url : "");
	q->relay_user = xstrdup(cfg->quarantine_relay_user != NULL ? cfg->quarantine_relay_user : "");
	q->relay_password_file =
		xstrdup(cfg->quarantine_relay_password_file != NULL ? cfg->quarantine_relay_password_file : "");
	q->release_attempts = cfg->quarantine_release_attempts > 0 ? cfg->quarantine_release_attempts : 1;
	q->retention_days = cfg->quarantine_retention_days;
	q->msglog_retention_days = cfg->msglog_retention_days;
	return q;
}

struct quarantine *quarantine_attach(struct store *st, const struct mamori_config *cfg, char *err, size_t errlen)
{
	return attach(st, cfg, true, err, errlen);
}

struct quarantine *quarantine_open(const struct mamori_config *cfg, char *err, size_t errlen)
{
	struct store *st = store_open(cfg, err, errlen);
	if (st == NULL)
		return NULL;
	struct quarantine *q = attach(st, cfg, false, err, errlen);
	if (q == NULL) {
		store_close(&st);
		return NULL;
	}
	q->own_store = true;
	return q;
}

void quarantine_close(struct quarantine **qp)
{
	if (qp == NULL || *qp == NULL)
		return;
	struct quarantine *q = *qp;
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(q->stmt[i]);
	if (q->sweep != NULL)
		closedir(q->sweep);
	if (q->dirfd >= 0)
		close(q->dirfd);
	if (q->own_store)
		store_close(&q->st);
	xfree(q->dir);
	xfree(q->relay_url);
	xfree(q->relay_user);
	xfree(q->relay_password_file);
	xfree(q);
	*qp = NULL;
}

void quarantine_set_busy_timeout(struct quarantine *q, int ms)
{
	sqlite3_busy_timeout(q->db, ms);
}

const char *quarantine_dir(const struct quarantine *q)
{
	return q->dir;
}

/* ---- storing ---- */

static int write_all(int fd, const void *p, size_t len)
{
	const char *c = p;
	while (len > 0) {
		ssize_t n = write(fd, c, len > (1U << 30) ? (1U << 30) : len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

/* renames without replacing: RENAME_NOREPLACE, or link+unlink where the
   file system lacks it */
static int rename_noreplace(int dirfd, const char *from, const char *to)
{
	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (linkat(dirfd, from, dirfd, to, 0) < 0)
		return -1;
	unlinkat(dirfd, from, 0);
	return 0;
}

int quarantine_write_file(struct quarantine *q, const void *msg, size_t len, char *name_r, char sha_r[65],
			  char *err, size_t errlen)
{
	char rnd[33], tmp[48];
	if (q->dirfd < 0) {
		set_err(err, errlen, "quarantine: %s does not exist", q->dir);
		return -1;
	}
	if (random_hex(rnd) < 0) {
		set_err(err, errlen, "quarantine: no random bytes: %s", strerror(errno));
		return -1;
	}
	snprintf(tmp, sizeof tmp, ".tmp-%s", rnd);
	int fd = openat(q->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0) {
		set_err(err, errlen, "quarantine: create in %s: %s", q->dir, strerror(errno));
		return -1;
	}
	if (write_all(fd, msg, len) < 0 || fsync(fd) < 0) {
		set_err(err, errlen, "quarantine: write in %s: %s", q->dir, strerror(errno));
		close(fd);
		unlinkat(q->dirfd, tmp, 0);
		return -1;
	}
	if (close(fd) < 0) {
		set_err(err, errlen, "quarantine: close in %s: %s", q->dir, strerror(errno));
		unlinkat(q->dirfd, tmp, 0);
		return -1;
	}
	/* the final name is random again: nothing about the message shows in it */
	int tries = 0;
	for (;;) {
		if (random_hex(rnd) < 0) {
			set_err(err, errlen, "quarantine: no random bytes: %s", strerror(errno));
			unlinkat(q->dirfd, tmp, 0);
			return -1;
		}
		snprintf(name_r, QUARANTINE_NAME_LEN + 1, "q-%s.eml", rnd);
		if (rename_noreplace(q->dirfd, tmp, name_r) == 0)
			break;
		if (errno != EEXIST || ++tries >= 3) {
			set_err(err, errlen, "quarantine: rename in %s: %s", q->dir, strerror(errno));
			unlinkat(q->dirfd, tmp, 0);
			return -1;
		}
	}
	if (fsync(q->dirfd) < 0) {
		set_err(err, errlen, "quarantine: fsync %s: %s", q->dir, strerror(errno));
		unlinkat(q->dirfd, name_r, 0);
		fsync(q->dirfd);
		return -1;
	}
	sha256_hex(msg, len, sha_r);
	return 0;
}

void quarantine_unlink_file(struct quarantine *q, const char *name)
{
	if (!name_valid(name) || q->dirfd < 0)
		return;
	if (unlinkat(q->dirfd, name, 0) < 0 && errno != ENOENT)
		log_error("quarantine: remove %s/%s: %s", q->dir, name, strerror(errno));
	fsync(q->dirfd);
}

/* an envelope address as stored: without blanks around it and without one
   pair of angle brackets (milters see "<a@b>") */
static void address_trim(const char *in, const char **start_r, size_t *len_r)
{
	const char *s = in != NULL ? in : "";
	size_t n = strlen(s);
	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++;
		n -= 2;
	}
	*start_r = s;
	*len_r = n;
}

char *quarantine_join_lines(const char *const *v, size_t n, bool addresses)
{
	size_t total = 1;
	for (size_t i = 0; i < n; i++)
		total += (v[i] != NULL ? strlen(v[i]) : 0) + 1;
	char *out = xmalloc(total), *o = out;
	for (size_t i = 0; i < n; i++) {
		const char *s = v[i] != NULL ? v[i] : "";
		size_t len = strlen(s);
		if (addresses)
			address_trim(v[i], &s, &len);
		if (len == 0)
			continue;
		if (o != out)
			*o++ = '\n';
		for (size_t k = 0; k < len; k++)
			*o++ = s[k] == '\r' || s[k] == '\n' ? ' ' : s[k];
	}
	*o = '\0';
	return out;
}

enum store_status quarantine_insert(struct quarantine *q, const char *name, const char *sha, uint64_t size,
				    const struct quarantine_meta *m, int64_t *id_r, char *err, size_t errlen)
{
	int rc = SQLITE_OK;
	sqlite3_stmt *st = stmt(q, S_INSERT, &rc);
	if (st == NULL) {
		set_err(err, errlen, "quarantine: %s", sqlite3_errstr(rc));
		return status_of(rc) == STORE_OK ? STORE_ERROR : status_of(rc);
	}
	const char *from;
	size_t fromlen;
	address_trim(m->mail_from, &from, &fromlen);
	char *rcpts = quarantine_join_lines(m->rcpts, m->nrcpts, true);
	sqlite3_bind_int64(st, 1, m->time != 0 ? m->time : (int64_t)time(NULL));
	bind_text(st, 2, m->queue_id);
	bind_text(st, 3, name);
	bind_text(st, 4, sha);
	sqlite3_bind_int64(st, 5, size > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)size);
	bind_text(st, 6, m->client_ip);
	sqlite3_bind_text(st, 7, from, (int)fromlen, SQLITE_STATIC);
	bind_text(st, 8, rcpts);
	bind_text(st, 9, m->header_from);
	bind_text(st, 10, m->subject);
	bind_text(st, 11, m->reasons);
	if (m->resend_key != NULL && m->resend_key[0] != '\0')
		bind_text(st, 12, m->resend_key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE && id_r != NULL)
		*id_r = sqlite3_last_insert_rowid(q->db);
	if (rc != SQLITE_DONE)
		set_err(err, errlen, "quarantine: insert: %s", sqlite3_errmsg(q->db));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	xfree(rcpts);
	if (rc == SQLITE_DONE)
		return STORE_OK;
	return status_of(rc) == STORE_OK ? STORE_ERROR : status_of(rc);
}

enum store_status quarantine_find_resend(struct quarantine *q, const char *key, int64_t *id_r)
{
	if (key == NULL || key[0] == '\0')
		return STORE_NOTFOUND;
	int rc = SQLITE_OK;
	sqlite3_stmt *st = stmt(q, S_RESEND, &rc);
	if (st == NULL)
		return status_of(rc) == STORE_OK ? STORE_ERROR : status_of(rc);
	bind_text(st, 1, key);
	rc = sqlite3_step(st);
	enum store_status out = STORE_NOTFOUND;
	if (rc == SQLITE_ROW) {
		*id_r = sqlite3_column_int64(st, 0);
		out = STORE_OK;
	} else if (rc != SQLITE_DONE) {
		out = status_of(rc) == STORE_OK ? STORE_ERROR : status_of(rc);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return out;
}

/* ---- reading ---- */

void quarantine_item_clear(struct quarantine_item *it)
{
	if (it == NULL)
		return;
	xfree(it->queue_id);
	xfree(it->file);
	xfree(it->sha256);
	xfree(it->client_ip);
	xfree(it->mail_from);
	xfree(it->rcpts);
	xfree(it->header_from);
	xfree(it->subject);
	xfree(it->reasons);
	xfree(it->state);
	xfree(it->state_detail);
	memset(it, 0, sizeof *it);
}

static void item_from_row(sqlite3_stmt *st, struct quarantine_item *it)
{
	it->id = sqlite3_column_int64(st, 0);
	it->time = sqlite3_column_int64(st, 1);
	it->queue_id = col_dup(st, 2);
	it->file = col_dup(st, 3);
	it->sha256 = col_dup(st, 4);
	int64_t size = sqlite3_column_int64(st, 5);
	it->size = size < 0 ? 0 : (uint64_t)size;
	it->client_ip = col_dup(st, 6);
	it->mail_from = col_dup(st, 7);
	it->rcpts = col_dup(st, 8);
	it->header_from = col_dup(st, 9);
	it->subject = col_dup(st, 10);
	it->reasons = col_dup(st, 11);
	it->state = col_dup(st, 12);
	it->attempts = sqlite3_column_int(st, 13);
	it->state_time = sqlite3_column_int64(st, 14);
	it->state_detail = col_dup(st, 15);
}

enum store_status quarantine_list(struct quarantine *q, const struct quarantine_filter *f,
				  int (*cb)(void *ctx, const struct quarantine_item *it), void *ctx)
{
	int rc = SQLITE_OK;
	sqlite3_stmt *st = stmt(q, S_LIST, &rc);
	if (st == NULL)
		return STORE_ERROR;
	bind_opt(st, 1, f->recipient);
	bind_opt(st, 2, f->sender);
	bind_opt(st, 3, f->reason);
	bind_opt(st, 4, f->state);
	sqlite3_bind_int64(st, 5, f->since);
	sqlite3_bind_int64(st, 6, f->until);
	sqlite3_bind_int64(st, 7, f->limit > 0 && f->limit < (size_t)INT64_MAX ? (int64_t)f->limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct quarantine_item it;
		memset(&it, 0, sizeof it);
		item_from_row(st, &it);
		int stop = cb(ctx, &it);
		quarantine_item_clear(&it);
		if (stop) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? STORE_OK : status_of(rc) == STORE_OK ? STORE_ERROR : status_of(rc);
}

enum store_status quarantine_get(struct quarantine *q, int64_t id, struct quarantine_item *it)
{
	memset(it, 0, sizeof *it);
	int rc = SQLITE_OK;
	sqlite3_stmt *st = stmt(q, S_GET, &rc);
	if (st == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	enum store_status ret;
	if (rc == SQLITE_ROW) {
		item_from_row(st, it);
		ret = STORE_OK;
	} else if (rc == SQLITE_DONE) {
		ret = STORE_NOTFOUND;
	} else {
		ret = status_of(rc) == STORE_OK ? STORE_ERROR : status_of(rc);
	}
	sqlite3_reset(st);
	return ret;
}

enum store_status quarantine_read(struct quarantine *q, const struct quarantine_item *it, void **msg_r,
				  size_t *len_r, char *err, size_t errlen)
{
	*msg_r = NULL;
	*len_r = 0;
	if (!name_valid(it->file)) {
		set_err(err, errlen, "message %lld: stored file name is not one of ours", (long long)it->id);
		return STORE_ERROR;
	}
	int fd = q->dirfd >= 0 ? openat(q->dirfd, it->file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
	if (q->dirfd < 0)
		errno = ENOENT;
	if (fd < 0) {
		set_err(err, errlen, "message %lld: %s/%s: %s", (long long)it->id, q->dir, it->file, strerror(errno));
		return errno == ENOENT ? STORE_NOTFOUND : STORE_ERROR;
	}
	struct stat sb;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != it->size ||
	    it->size > QUARANTINE_MAX_MESSAGE) {
		set_err(err, errlen, "message %lld: %s/%s is not the stored message (size)", (long long)it->id, q->dir,
			it->file);
		close(fd);
		return STORE_ERROR;
	}
	size_t len = (size_t)it->size, got = 0;
	char *buf = xmalloc(len + 1);
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			set_err(err, errlen, "message %lld: read %s/%s: %s", (long long)it->id, q->dir, it->file,
				n < 0 ? strerror(errno) : "short file");
			close(fd);
			xfree(buf);
			return STORE_ERROR;
		}
		got += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	char sha[65];
	sha256_hex(buf, len, sha);
	if (strcmp(sha, it->sha256) != 0) {
		set_err(err, errlen, "message %lld: %s/%s is not the stored message (SHA-256)", (long long)it->id,
			q->dir, it->file);
		xfree(buf);
		return STORE_ERROR;
	}
	*msg_r = buf;
	*len_r = len;
	return STORE_OK;
}

/* ---- changing ---- */

const char *quarantine_outcome_name(enum quarantine_outcome o)
{
	switch (o) {
	case QO_DONE: return "done";
	case QO_ALREADY: return "already";
	case QO_BUSY: return "busy";
	case QO_NOTFOUND: return "not found";
	case QO_REFUSED: return "refused";
	case QO_TEMPFAIL: return "temporary failure";
	case QO_FAILED: return "failed";
	case QO_ERROR: return "error";
	}
	return "unknown";
}

/* state and detail of a row; STORE_NOTFOUND when there is none */
static enum store_status row_state(struct quarantine *q, int64_t id, char *state, size_t statelen, char *detail,
				   size_t detlen)
{
	int rc = SQLITE_OK;
	sqlite3_stmt *st = stmt(q, S_STATE, &rc);
	if (st == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	enum store_status ret = STORE_OK;
	if (rc == SQLITE_ROW) {
		const unsigned char *s = sqlite3_column_text(st, 0), *d = sqlite3_column_text(st, 1);
		snprintf(state, statelen, "%s", s != NULL ? (const char *)s : "");
		snprintf(detail, detlen, "%s", d != NULL ? (const char *)d : "");
	} else {
		ret = rc == SQLITE_DONE ? STORE_NOTFOUND : status_of(rc) == STORE_OK ? STORE_ERROR : status_of(rc);
	}
	sqlite3_reset(st);
	return ret;
}

enum quarantine_outcome quarantine_delete(struct quarantine *q, int64_t id, int64_t now, char *detail, size_t detlen)
{
	struct quarantine_item it;
	enum store_status s = quarantine_get(q, id, &it);
	if (s == STORE_NOTFOUND) {
		set_err(detail, detlen, "no quarantined message %lld", (long long)id);
		return QO_NOTFOUND;
	}
	if (s != STORE_OK) {
		set_err(detail, detlen, "database: %s", store_status_name(s));
		return s == STORE_TEMPFAIL ? QO_TEMPFAIL : QO_ERROR;
	}
	int rc = SQLITE_OK;
	sqlite3_stmt *st = stmt(q, S_DELETE, &rc);
	if (st == NULL) {
		quarantine_item_clear(&it);
		set_err(detail, detlen, "database: %s", sqlite3_errstr(rc));
		return QO_ERROR;
	}
	char why[300];
	snprintf(why, sizeof why, "deleted by an admin (was %s)", it.state);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	bind_text(st, 3, why);
	rc = step_done(st);
	sqlite3_clear_bindings(st);
	enum quarantine_outcome ret;
	if (rc != SQLITE_OK) {
		set_err(detail, detlen, "database: %s", sqlite3_errmsg(q->db));
		ret = status_of(rc) == STORE_TEMPFAIL ? QO_TEMPFAIL : QO_ERROR;
	} else if (sqlite3_changes(q->db) == 1) {
		/* the row says deleted before the file goes: a crash in between
		   leaves a stray file for expiry, never a row without its file
		   that still looks releasable */
		quarantine_unlink_file(q, it.file);
		set_err(detail, detlen, "deleted");
		ret = QO_DONE;
	} else {
		char state[32], d[512];
		s = row_state(q, id, state, sizeof state, d, sizeof d);
		if (s == STORE_OK && strcmp(state, "deleted") == 0) {
			set_err(detail, detlen, "already deleted");
			ret = QO_ALREADY;
		} else if (s == STORE_OK && strcmp(state, "releasing") == 0) {
			set_err(detail, detlen, "being released right now; not deleted");
			ret = QO_BUSY;
		} else if (s == STORE_OK) {
			set_err(detail, detlen, "state %s; not deleted", state);
			ret = QO_REFUSED;
		} else {
			set_err(detail, detlen, "database: %s", store_status_name(s));
			ret = s == STORE_TEMPFAIL ? QO_TEMPFAIL : QO_ERROR;
		}
	}
	quarantine_item_clear(&it);
	return ret;
}

/* ---- release ---- */

enum send_result { SEND_OK, SEND_TEMP, SEND_PERM, SEND_UNKNOWN, SEND_CONFIG };

struct upload {
	const char *p;
	size_t left;
	bool eof; /* curl has taken the whole message */
};

static size_t read_cb(char *dst, size_t size, size_t nmemb, void *ud)
{
	struct upload *u = ud;
	size_t n = size * nmemb;
	if (n > u->left)
		n = u->left;
	memcpy(dst, u->p, n);
	u->p += n;
	u->left -= n;
	if (n == 0)
		u->eof = true;
	return n;
}

/* an envelope address for curl: "<addr>" ("<>" for the null sender);
   -1 if it holds anything that could change the SMTP command */
static int envelope_arg(const char *addr, size_t len, char *out, size_t outlen)
{
	if (len > RELEASE_MAX_ADDRESS || len + 3 > outlen)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)addr[i];
		if (c <= 0x20 || c == 0x7f || c == '<' || c == '>')
			return -1;
	}
	out[0] = '<';
	memcpy(out + 1, addr, len);
	out[len + 1] = '>';
	out[len + 2] = '\0';
	return 0;
}

static bool host_is_loopback(const char *url)
{
	const char *h = strstr(url, "://");
	if (h == NULL)
		return false;
	h += 3;
	const char *at = strchr(h, '@');
	const char *slash = strchr(h, '/');
	if (at != NULL && (slash == NULL || at < slash))
		h = at + 1;
	static const char *const names[] = { "127.", "[::1]", "localhost:", "localhost/" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strncasecmp(h, names[i], strlen(names[i])) == 0)
			return true;
	return strcasecmp(h, "localhost") == 0;
}

static enum send_result relay_send(struct quarantine *q, const char *from, struct curl_slist *rcpts, const void *msg,
				   size_t len, const char *password, char *err, size_t errlen)
{
	char cerr[CURL_ERROR_SIZE] = "";
	bool smtps = strncasecmp(q->relay_url, "smtps://", 8) == 0;
	if (!smtps && strncasecmp(q->relay_url, "smtp://", 7) != 0) {
		set_err(err, errlen, "quarantine.relay_url must be smtp:// or smtps://");
		return SEND_CONFIG;
	}
	bool auth = q->relay_user[0] != '\0';
	CURL *h = curl_easy_init();
	if (h == NULL) {
		set_err(err, errlen, "libcurl initialisation failed");
		return SEND_TEMP;
	}
	struct upload up = { msg, len, false };
	curl_easy_setopt(h, CURLOPT_URL, q->relay_url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts);
	/* no CURLOPT_MAIL_RCPT_ALLOWFAILS: one refused recipient aborts the
	   transaction, so a release is all or nothing */
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(h, CURLOPT_READDATA, &up);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)QUARANTINE_SMTP_CONNECT_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)QUARANTINE_SMTP_TOTAL_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	/* a password never crosses the network in clear; without one, a
	   loopback relay is spoken to in clear (a local Postfix often offers
	   STARTTLS with a certificate nobody can verify) and others with
	   STARTTLS when offered */
	if (!smtps)
		curl_easy_setopt(h, CURLOPT_USE_SSL,
				 auth ? (long)CURLUSESSL_ALL
				      : host_is_loopback(q->relay_url) ? (long)CURLUSESSL_NONE : (long)CURLUSESSL_TRY);
	if (auth) {
		curl_easy_setopt(h, CURLOPT_USERNAME, q->relay_user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, password);
	}
	CURLcode rc = curl_easy_perform(h);
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	if (rc == CURLE_OK) {
		set_err(err, errlen, "relay answered %ld", code);
		return SEND_OK;
	}
	const char *what = cerr[0] ? cerr : curl_easy_strerror(rc);
	/* the relay's set-up, not the message: retrying or failing the message
	   would not help; it stays held until the configuration is fixed */
	if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT || rc == CURLE_LOGIN_DENIED ||
	    rc == CURLE_USE_SSL_FAILED || rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
	    rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_AUTH_ERROR) {
		set_err(err, errlen, "relay: %s", what);
		return SEND_CONFIG;
	}
	if (code >= 500 && code < 600) {
		set_err(err, errlen, "relay refused: %s (reply %ld)", what, code);
		return SEND_PERM;
	}
	if (code >= 400 && code < 500) {
		set_err(err, errlen, "relay: temporary failure: %s (reply %ld)", what, code);
		return SEND_TEMP;
	}
	if (up.eof) {
		/* the whole message went out and no final reply came: the relay
		   may have queued it; sending again could deliver it twice */
		set_err(err, errlen,
			"outcome unknown: %s after the whole message was sent (last reply %ld); check the relay's log",
			what, code);
		return SEND_UNKNOWN;
	}
	set_err(err, errlen, "relay: %s (last reply %ld)", what, code);
	return SEND_TEMP;
}

/* first line of the file, without the line end; never logged */
static int read_password(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		set_err(err, errlen, "quarantine.relay_password_file %s: %s", path, strerror(errno));
		return -1;
	}
	ssize_t n = read(fd, out, outlen - 1);
	int e = errno;
	close(fd);
	if (n < 0) {
		set_err(err, errlen, "quarantine.relay_password_file %s: %s", path, strerror(e));
		return -1;
	}
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

/* moves a claimed row on; retried a few times, since a lost update would
   leave it claimed (safe, but needing --force) */
static int finish(struct quarantine *q, int64_t id, const char *state, const char *detail)
{
	for (int tries = 0; tries < 5; tries++) {
		int rc = SQLITE_OK;
		sqlite3_stmt *st = stmt(q, S_FINISH, &rc);
		if (st != NULL) {
			sqlite3_bind_int64(st, 1, id);
			bind_text(st, 2, state);
			sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
			bind_text(st, 4, detail);
			rc = step_done(st);
			sqlite3_clear_bindings(st);
			if (rc == SQLITE_OK)
				return 0;
		}
		log_error("quarantine: message %lld: recording state %s: %s", (long long)id, state,
			  sqlite3_errstr(rc));
		if (status_of(rc) != STORE_TEMPFAIL)
			break;
	}
	return -1;
}

static void note(const struct quarantine_release_opts *o, int64_t id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void note(const struct quarantine_release_opts *o, int64_t id, const char *fmt, ...)
{
	if (o == NULL || o->note == NULL)
		return;
	char line[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	o->note(o->ctx, id, line);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* why a row could not be claimed, for the admin */
static enum quarantine_outcome unclaimable(struct quarantine *q, int64_t id, bool force, char *detail,
					   size_t detlen)
{
	char state[32], d[512];
	enum store_status s = row_state(q, id, state, sizeof state, d, sizeof d);
	if (s == STORE_NOTFOUND) {
		set_err(detail, detlen, "no quarantined message %lld", (long long)id);
		return QO_NOTFOUND;
	}
	if (s != STORE_OK) {
		set_err(detail, detlen, "database: %s", store_status_name(s));
		return s == STORE_TEMPFAIL ? QO_TEMPFAIL : QO_ERROR;
	}
	if (strcmp(state, "released") == 0) {
		set_err(detail, detlen, "already released (%s); nothing sent", d);
		return QO_ALREADY;
	}
	if (strcmp(state, "releasing") == 0) {
		set_err(detail, detlen, "another release of it is in progress; nothing sent%s",
			force ? "" : " (a release that died leaves this claim: --force takes it over after an hour)");
		return QO_BUSY;
	}
	if (strcmp(state, "deleted") == 0) {
		set_err(detail, detlen, "it was deleted; nothing sent");
		return QO_REFUSED;
	}
	if (strcmp(state, "failed") == 0) {
		set_err(detail, detlen, "an earlier release failed (%s); --force releases it again", d);
		return QO_REFUSED;
	}
	set_err(detail, detlen, "state %s; nothing sent", state);
	return QO_REFUSED;
}

enum quarantine_outcome quarantine_release(struct quarantine *q, int64_t id, const struct quarantine_release_opts *o,
					   char *detail, size_t detlen)
{
	bool force = o != NULL && o->force;
	int64_t now = (int64_t)time(NULL);
	int rc = SQLITE_OK;
	sqlite3_stmt *st = stmt(q, S_CLAIM, &rc);
	if (st == NULL) {
		set_err(detail, detlen, "database: %s", sqlite3_errstr(rc));
		return status_of(rc) == STORE_TEMPFAIL ? QO_TEMPFAIL : QO_ERROR;
	}
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int(st, 3, force ? 1 : 0);
	rc = step_done(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_OK) {
		set_err(detail, detlen, "database: %s", sqlite3_errmsg(q->db));
		return status_of(rc) == STORE_TEMPFAIL ? QO_TEMPFAIL : QO_ERROR;
	}
	if (sqlite3_changes(q->db) != 1)
		return unclaimable(q, id, force, detail, detlen);

	/* ours now: from here every way out moves the row on */
	struct quarantine_item it;
	enum store_status s = quarantine_get(q, id, &it);
	if (s != STORE_OK) {
		set_err(detail, detlen, "database: %s", store_status_name(s));
		finish(q, id, "held", "release: could not read the row");
		return s == STORE_TEMPFAIL ? QO_TEMPFAIL : QO_ERROR;
	}
	void *msg = NULL;
	size_t len = 0;
	char err[700] = "";
	s = quarantine_read(q, &it, &msg, &len, err, sizeof err);
	if (s != STORE_OK) {
		/* the file is gone or altered: sending something else than what
		   was quarantined is never right */
		set_err(detail, detlen, "%s", err);
		finish(q, id, "failed", err);
		quarantine_item_clear(&it);
		return QO_ERROR;
	}

	/* the envelope */
	char from[RELEASE_MAX_ADDRESS + 3];
	struct curl_slist *rcpts = NULL;
	size_t nrcpts = 0;
	bool env_ok = envelope_arg(it.mail_from, strlen(it.mail_from), from, sizeof from) == 0;
	for (const char *p = it.rcpts; env_ok && *p != '\0';) {
		size_t n = strcspn(p, "\n");
		char arg[RELEASE_MAX_ADDRESS + 3];
		if (n > 0) {
			if (envelope_arg(p, n, arg, sizeof arg) < 0) {
				env_ok = false;
				break;
			}
			rcpts = curl_slist_append(rcpts, arg);
			if (rcpts == NULL)
				xmem_fail(n);
			nrcpts++;
		}
		p += n;
		if (*p == '\n')
			p++;
	}
	if (!env_ok || nrcpts == 0) {
		set_err(detail, detlen, "%s", nrcpts == 0 && env_ok ? "no recipients stored" : "stored envelope is unusable");
		finish(q, id, "failed", detail);
		curl_slist_free_all(rcpts);
		xfree(msg);
		quarantine_item_clear(&it);
		return QO_ERROR;
	}

	char password[RELAY_MAX_PASSWORD];
	password[0] = '\0';
	if (q->relay_user[0] != '\0' && q->relay_password_file[0] != '\0' &&
	    read_password(q->relay_password_file, password, sizeof password, err, sizeof err) < 0) {
		set_err(detail, detlen, "%s", err);
		finish(q, id, "held", err);
		curl_slist_free_all(rcpts);
		xfree(msg);
		quarantine_item_clear(&it);
		return QO_ERROR;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		set_err(detail, detlen, "libcurl initialisation failed");
		finish(q, id, "held", detail);
		curl_slist_free_all(rcpts);
		xfree(msg);
		quarantine_item_clear(&it);
		return QO_ERROR;
	}

	unsigned attempts = o != NULL && o->attempts > 0 ? o->attempts : (unsigned)q->release_attempts;
	unsigned wait = o != NULL && o->backoff_first_ms > 0 ? o->backoff_first_ms : QUARANTINE_BACKOFF_FIRST_MS;
	enum send_result r = SEND_TEMP;
	for (unsigned a = 1; a <= attempts; a++) {
		r = relay_send(q, from, rcpts, msg, len, password, err, sizeof err);
		/* every attempt is counted, and refreshes the claim's time */
		sqlite3_stmt *at = stmt(q, S_ATTEMPT, &rc);
		if (at != NULL) {
			sqlite3_bind_int64(at, 1, id);
			sqlite3_bind_int64(at, 2, (int64_t)time(NULL));
			bind_text(at, 3, err);
			if (step_done(at) != SQLITE_OK)
				log_warning("quarantine: message %lld: attempt not recorded: %s", (long long)id,
					    sqlite3_errmsg(q->db));
			sqlite3_clear_bindings(at);
		}
		if (r != SEND_TEMP)
			break;
		if (a < attempts) {
			note(o, id, "attempt %u of %u: %s; retrying in %u ms", a, attempts, err, wait);
			sleep_ms(wait);
			wait = wait >= QUARANTINE_BACKOFF_MAX_MS / 2 ? QUARANTINE_BACKOFF_MAX_MS : wait * 2;
		}
	}
	explicit_bzero(password, sizeof password);
	curl_slist_free_all(rcpts);
	xfree(msg);

	enum quarantine_outcome ret;
	char final[800];
	switch (r) {
	case SEND_OK:
		snprintf(final, sizeof final, "released to %zu recipient%s (%s)", nrcpts, nrcpts == 1 ? "" : "s", err);
		if (finish(q, id, "released", final) < 0) {
			/* sent, but the row still says releasing: that blocks a
			   second send, which is what matters */
			set_err(detail, detlen, "%s; but the database could not record it (the message stays claimed)",
				final);
			ret = QO_DONE;
			break;
		}
		set_err(detail, detlen, "%s", final);
		ret = QO_DONE;
		break;
	case SEND_PERM:
	case SEND_UNKNOWN:
		finish(q, id, "failed", err);
		set_err(detail, detlen, "%s", err);
		ret = QO_FAILED;
		break;
	case SEND_CONFIG:
		finish(q, id, "held", err);
		set_err(detail, detlen, "%s", err);
		ret = QO_ERROR;
		break;
	case SEND_TEMP:
	default:
		snprintf(final, sizeof final, "gave up after %u attempt%s: %s", attempts, attempts == 1 ? "" : "s",
			 err);
		finish(q, id, "held", final);
		set_err(detail, detlen, "%s; still held", final);
		ret = QO_TEMPFAIL;
		break;
	}
	if (ret == QO_DONE)
		log_info("quarantine: message %lld released", (long long)id);
	else
		log_warning("quarantine: message %lld not released: %s", (long long)id, detail);
	quarantine_item_clear(&it);
	return ret;
}

/* ---- retention ---- */

enum { PHASE_QUARANTINE, PHASE_MSGLOG, PHASE_SWEEP, PHASE_DONE };

static int expire_quarantine(struct quarantine *q, int64_t before, long *count, bool *more_r)
{
	int rc = SQLITE_OK;
	sqlite3_stmt *sel = stmt(q, S_EXPIRE_SEL, &rc);
	if (sel == NULL)
		return -1;
	sqlite3_bind_int64(sel, 1, before);
	int64_t ids[EXPIRE_QUARANTINE_ROWS];
	char names[EXPIRE_QUARANTINE_ROWS][QUARANTINE_NAME_LEN + 1];
	size_t n = 0;
	while (n < EXPIRE_QUARANTINE_ROWS && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
		ids[n] = sqlite3_column_int64(sel, 0);
		const unsigned char *f = sqlite3_column_text(sel, 1);
		snprintf(names[n], sizeof names[n], "%s", f != NULL ? (const char *)f : "");
		n++;
	}
	sqlite3_reset(sel);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	for (size_t i = 0; i < n; i++) {
		/* file first: a row without its file is harmless (reads say
		   gone), a file without its row is swept later anyway */
		if (name_valid(names[i]) && q->dirfd >= 0 && unlinkat(q->dirfd, names[i], 0) < 0 && errno != ENOENT) {
			log_error("quarantine: expire %s/%s: %s", q->dir, names[i], strerror(errno));
			continue;
		}
		sqlite3_stmt *del = stmt(q, S_EXPIRE_DEL, &rc);
		if (del == NULL)
			return -1;
		sqlite3_bind_int64(del, 1, ids[i]);
		if ((rc = step_done(del)) != SQLITE_OK)
			return -1;
		(*count)++;
	}
	if (n > 0 && q->dirfd >= 0)
		fsync(q->dirfd);
	*more_r = n == EXPIRE_QUARANTINE_ROWS;
	return 0;
}

static int expire_msglog(struct quarantine *q, int64_t before, long *count, bool *more_r)
{
	int rc = SQLITE_OK;
	sqlite3_stmt *st = stmt(q, S_LOG_EXPIRE, &rc);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, before);
	if ((rc = step_done(st)) != SQLITE_OK)
		return -1;
	int n = sqlite3_changes(q->db);
	*count += n;
	*more_r = n == EXPIRE_MSGLOG_ROWS;
	return 0;
}

/* files nobody refers to: temporary files of writes that died, files whose
   row never got committed (the MTA was answered tempfail) */
static int sweep_step(struct quarantine *q, int64_t now, bool *more_r)
{
	if (q->dirfd < 0) {
		*more_r = false;
		return 0;
	}
	if (q->sweep == NULL) {
		int fd = openat(q->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || (q->sweep = fdopendir(fd)) == NULL) {
			if (fd >= 0)
				close(fd);
			return -1;
		}
	}
	int rc = SQLITE_OK;
	for (int i = 0; i < EXPIRE_SWEEP_ENTRIES; i++) {
		struct dirent *de = readdir(q->sweep);
		if (de == NULL) {
			closedir(q->sweep);
			q->sweep = NULL;
			*more_r = false;
			return 0;
		}
		bool tmp = tmpname_valid(de->d_name);
		if (!tmp && !name_valid(de->d_name))
			continue;
		struct stat sb;
		if (fstatat(q->dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode) ||
		    (int64_t)sb.st_mtime > now - STRAY_MIN_AGE)
			continue;
		if (!tmp) {
			sqlite3_stmt *st = stmt(q, S_HAS_FILE, &rc);
			if (st == NULL)
				return -1;
			bind_text(st, 1, de->d_name);
			rc = sqlite3_step(st);
			sqlite3_reset(st);
			if (rc == SQLITE_ROW)
				continue;
			if (rc != SQLITE_DONE)
				return -1;
		}
		log_info("quarantine: removing stray file %s/%s", q->dir, de->d_name);
		if (unlinkat(q->dirfd, de->d_name, 0) < 0 && errno != ENOENT)
			log_error("quarantine: remove %s/%s: %s", q->dir, de->d_name, strerror(errno));
	}
	*more_r = true;
	return 0;
}

int quarantine_expire_step(struct quarantine *q, int64_t now, long *quarantined, long *logrows, bool *more_r)
{
	bool more = false;
	int ret = 0;
	switch (q->expire_phase) {
	case PHASE_QUARANTINE:
		ret = expire_quarantine(q, now - (int64_t)q->retention_days * 86400, quarantined, &more);
		break;
	case PHASE_MSGLOG:
		ret = expire_msglog(q, now - (int64_t)q->msglog_retention_days * 86400, logrows, &more);
		break;
	case PHASE_SWEEP:
		ret = sweep_step(q, now, &more);
		break;
	default:
		break;
	}
	if (ret < 0) {
		log_error("quarantine: expire: %s", sqlite3_errmsg(q->db));
		if (q->sweep != NULL) {
			closedir(q->sweep);
			q->sweep = NULL;
		}
		q->expire_phase = PHASE_QUARANTINE;
		*more_r = false;
		return -1;
	}
	if (!more)
		q->expire_phase++;
	if (q->expire_phase >= PHASE_DONE) {
		q->expire_phase = PHASE_QUARANTINE;
		*more_r = false;
	} else {
		*more_r = true;
	}
	return 0;
}

long quarantine_expire(struct quarantine *q, int64_t now, long *logrows_r)
{
	long nq = 0, nl = 0;
	bool more = true;
	while (more)
		if (quarantine_expire_step(q, now, &nq, &nl, &more) < 0)
			return -1;
	if (logrows_r != NULL)
		*logrows_r = nl;
	return nq;
}
