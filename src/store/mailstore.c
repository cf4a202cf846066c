/*
 * mailstore: the daemon's message log and quarantine (see mailstore.h).
 *
 * One store connection, guarded by db_mu, shared by the log writer thread
 * and the milter threads that quarantine. Quarantine files are written and
 * fsync'd outside the lock (quarantine_write_file touches only the
 * directory), so concurrent quarantines share the disk and only the row
 * insert is serialised.
 *
 * The log queue is a ring of copied rows bounded by count and bytes. The
 * writer waits for the first row, lets a batch gather for up to
 * MAILSTORE_FLUSH_MS (or until MAILSTORE_BATCH rows wait), and commits the
 * batch in one transaction. A batch that fails (database busy) is retried;
 * rows arriving meanwhile queue up to the bound, beyond which they are
 * dropped with a warning at most once a minute.
 */
#include "store/mailstore.h"

#include "core/log.h"
#include "core/mem.h"
#include "store/quarantine.h"
#include "store/store_backend.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAILSTORE_QUEUE_ROWS 20000
#define MAILSTORE_QUEUE_BYTES (64UL << 20)
#define MAILSTORE_BATCH 256
#define MAILSTORE_FLUSH_MS 250
#define MAILSTORE_RETRY_MS 1000
/* a batch failing this many times in a row is dropped (logged) */
#define MAILSTORE_MAX_FAILURES 30
/* longest text kept per log field, and for the joined lists */
#define MSGLOG_MAX_FIELD 8192
#define MSGLOG_MAX_LIST 65536
#define DROP_WARN_INTERVAL 60
/* retention (mailstore_expire) run by the writer while idle: first this
   long after open, then daily */
#define MAILSTORE_EXPIRE_FIRST 600
#define MAILSTORE_EXPIRE_INTERVAL 86400

enum {
	F_QUEUE_ID,
	F_CLIENT_IP,
	F_COUNTRY,
	F_HELO,
	F_SASL_USER,
	F_MAIL_FROM,
	F_RCPTS,
	F_HEADER_FROM,
	F_SUBJECT,
	F_MESSAGE_ID,
	F_SPF,
	F_DKIM,
	F_DMARC,
	F_ARC,
	F_DMARC_DOMAIN,
	F_DMARC_POLICY,
	F_AUTH_RESULTS,
	F_SIGNALS,
	F_ACTION,
	F_REASON,
	NFIELDS
};

struct logrow {
	int64_t time;
	int64_t quarantine_id;
	uint64_t size;
	int score;
	bool outbound;
	size_t bytes;
	const char *f[NFIELDS]; /* into data */
	char data[];
};

enum { M_INSERT, M_BEGIN, M_COMMIT, M_ROLLBACK, M_COUNT };

static const char *const msql[M_COUNT] = {
	[M_INSERT] = "INSERT INTO msglog (time, queue_id, direction, client_ip, country, helo, sasl_user, mail_from,"
		     " rcpts, header_from, subject, message_id, size, spf, dkim, dmarc, arc, dmarc_domain,"
		     " dmarc_policy, auth_results, signals, score, action, reason, quarantine_id)"
		     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
		     " ?19, ?20, ?21, ?22, ?23, ?24, ?25)",
	[M_BEGIN] = "BEGIN IMMEDIATE",
	[M_COMMIT] = "COMMIT",
	[M_ROLLBACK] = "ROLLBACK",
};

struct mailstore {
	/* database side, under db_mu */
	pthread_mutex_t db_mu;
	struct store *st;
	sqlite3 *db;
	sqlite3_stmt *stmt[M_COUNT];
	struct quarantine *q;

	/* log queue, under q_mu */
	pthread_mutex_t q_mu;
	pthread_cond_t q_cond;    /* rows arrived, flush or stop asked */
	pthread_cond_t idle_cond; /* the writer has nothing left */
	struct logrow **ring;
	size_t head, count, bytes;
	bool stop, flush_now, writing;
	unsigned long dropped;
	int64_t last_drop_warn;
	time_t next_expire;       /* CLOCK_MONOTONIC seconds */
	pthread_t writer;
};

/* ---- copying a row ---- */

/* the length of s cut to at most max bytes, not inside a UTF-8 sequence */
static size_t cut_len(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

static struct logrow *row_copy(const struct msglog_entry *e)
{
	/* addresses as the quarantine keeps them: without the <> the milter
	   sees ("<>", the null sender, becomes "") */
	char *from = quarantine_join_lines(&e->mail_from, 1, true);
	char *rcpts = quarantine_join_lines(e->rcpts, e->nrcpts, true);
	char *signals = quarantine_join_lines(e->signals, e->nsignals, false);
	const char *src[NFIELDS] = {
		[F_QUEUE_ID] = e->queue_id,
		[F_CLIENT_IP] = e->client_ip,
		[F_COUNTRY] = e->country,
		[F_HELO] = e->helo,
		[F_SASL_USER] = e->sasl_user,
		[F_MAIL_FROM] = from,
		[F_RCPTS] = rcpts,
		[F_HEADER_FROM] = e->header_from,
		[F_SUBJECT] = e->subject,
		[F_MESSAGE_ID] = e->message_id,
		[F_SPF] = e->spf,
		[F_DKIM] = e->dkim,
		[F_DMARC] = e->dmarc,
		[F_ARC] = e->arc,
		[F_DMARC_DOMAIN] = e->dmarc_domain,
		[F_DMARC_POLICY] = e->dmarc_policy,
		[F_AUTH_RESULTS] = e->auth_results,
		[F_SIGNALS] = signals,
		[F_ACTION] = e->action,
		[F_REASON] = e->reason,
	};
	size_t len[NFIELDS], total = 0;
	for (int i = 0; i < NFIELDS; i++) {
		size_t max = i == F_RCPTS || i == F_SIGNALS ? MSGLOG_MAX_LIST : MSGLOG_MAX_FIELD;
		len[i] = src[i] != NULL ? cut_len(src[i], max) : 0;
		total += len[i] + 1;
	}
	struct logrow *r = xmalloc(sizeof *r + total);
	r->time = e->time != 0 ? e->time : (int64_t)time(NULL);
	r->quarantine_id = e->quarantine_id;
	r->size = e->size;
	r->score = e->score;
	r->outbound = e->outbound;
	r->bytes = sizeof *r + total;
	char *o = r->data;
	for (int i = 0; i < NFIELDS; i++) {
		if (len[i] > 0)
			memcpy(o, src[i], len[i]);
		o[len[i]] = '\0';
		r->f[i] = o;
		o += len[i] + 1;
	}
	xfree(from);
	xfree(rcpts);
	xfree(signals);
	return r;
}

/* ---- writing ---- */

static sqlite3_stmt *mstmt(struct mailstore *ms, int i)
{
	if (ms->stmt[i] == NULL &&
	    sqlite3_prepare_v3(ms->db, msql[i], -1, SQLITE_PREPARE_PERSISTENT, &ms->stmt[i], NULL) != SQLITE_OK) {
		log_error("mailstore: prepare: %s", sqlite3_errmsg(ms->db));
		ms->stmt[i] = NULL;
		return NULL;
	}
	sqlite3_reset(ms->stmt[i]);
	return ms->stmt[i];
}

static int exec_m(struct mailstore *ms, int i)
{
	sqlite3_stmt *st = mstmt(ms, i);
	if (st == NULL)
		return SQLITE_ERROR;
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int insert_row(struct mailstore *ms, const struct logrow *r)
{
	sqlite3_stmt *st = mstmt(ms, M_INSERT);
	if (st == NULL)
		return SQLITE_ERROR;
	sqlite3_clear_bindings(st);
	sqlite3_bind_int64(st, 1, r->time);
	sqlite3_bind_text(st, 2, r->f[F_QUEUE_ID], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->outbound ? "out" : "in", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, r->f[F_CLIENT_IP], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, r->f[F_COUNTRY], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, r->f[F_HELO], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, r->f[F_SASL_USER], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, r->f[F_MAIL_FROM], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, r->f[F_RCPTS], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, r->f[F_HEADER_FROM], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, r->f[F_SUBJECT], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, r->f[F_MESSAGE_ID], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 13, r->size > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)r->size);
	sqlite3_bind_text(st, 14, r->f[F_SPF], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 15, r->f[F_DKIM], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 16, r->f[F_DMARC], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 17, r->f[F_ARC], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 18, r->f[F_DMARC_DOMAIN], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 19, r->f[F_DMARC_POLICY], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 20, r->f[F_AUTH_RESULTS], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 21, r->f[F_SIGNALS], -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 22, r->score);
	sqlite3_bind_text(st, 23, r->f[F_ACTION], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 24, r->f[F_REASON], -1, SQLITE_STATIC);
	if (r->quarantine_id > 0)
		sqlite3_bind_int64(st, 25, r->quarantine_id);
	else
		sqlite3_bind_null(st, 25);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* one transaction for the batch; 0 or -1 (nothing written) */
static int write_batch(struct mailstore *ms, struct logrow *const *rows, size_t n)
{
	pthread_mutex_lock(&ms->db_mu);
	int rc = exec_m(ms, M_BEGIN);
	for (size_t i = 0; rc == SQLITE_OK && i < n; i++)
		rc = insert_row(ms, rows[i]);
	if (rc == SQLITE_OK)
		rc = exec_m(ms, M_COMMIT);
	if (rc != SQLITE_OK) {
		log_error("mailstore: message log: %zu rows not written yet: %s", n, sqlite3_errstr(rc));
		if (!sqlite3_get_autocommit(ms->db))
			exec_m(ms, M_ROLLBACK);
	}
	pthread_mutex_unlock(&ms->db_mu);
	return rc == SQLITE_OK ? 0 : -1;
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *writer_main(void *arg)
{
	struct mailstore *ms = arg;
	struct logrow *batch[MAILSTORE_BATCH];
	size_t nb = 0;
	int failures = 0;
	struct timespec dl;
	pthread_mutex_lock(&ms->q_mu);
	for (;;) {
		if (nb == 0) {
			if (ms->count == 0) {
				ms->writing = false;
				pthread_cond_broadcast(&ms->idle_cond);
			}
			while (ms->count == 0 && !ms->stop) {
				clock_gettime(CLOCK_MONOTONIC, &dl);
				if (dl.tv_sec >= ms->next_expire) {
					/* housekeeping while idle; rows queued meanwhile wait */
					ms->next_expire = dl.tv_sec + MAILSTORE_EXPIRE_INTERVAL;
					pthread_mutex_unlock(&ms->q_mu);
					mailstore_expire(ms, (int64_t)time(NULL));
					pthread_mutex_lock(&ms->q_mu);
					continue;
				}
				dl.tv_sec = ms->next_expire;
				dl.tv_nsec = 0;
				pthread_cond_timedwait(&ms->q_cond, &ms->q_mu, &dl);
			}
			if (ms->count == 0 && ms->stop)
				break;
			ms->writing = true;
			/* let a batch gather: one commit for many rows */
			deadline_in(&dl, MAILSTORE_FLUSH_MS);
			while (ms->count < MAILSTORE_BATCH && !ms->stop && !ms->flush_now)
				if (pthread_cond_timedwait(&ms->q_cond, &ms->q_mu, &dl) == ETIMEDOUT)
					break;
			while (nb < MAILSTORE_BATCH && ms->count > 0) {
				struct logrow *r = ms->ring[ms->head];
				ms->ring[ms->head] = NULL;
				ms->head = (ms->head + 1) % MAILSTORE_QUEUE_ROWS;
				ms->count--;
				ms->bytes -= r->bytes;
				batch[nb++] = r;
			}
			if (ms->count == 0)
				ms->flush_now = false;
		}
		pthread_mutex_unlock(&ms->q_mu);
		int ok = write_batch(ms, batch, nb);
		pthread_mutex_lock(&ms->q_mu);
		if (ok == 0 || ++failures >= (ms->stop ? 3 : MAILSTORE_MAX_FAILURES)) {
			if (ok != 0)
				log_error("mailstore: message log: %zu rows dropped after %d failed writes", nb,
					  failures);
			for (size_t i = 0; i < nb; i++)
				xfree(batch[i]);
			nb = 0;
			failures = 0;
		} else {
			deadline_in(&dl, MAILSTORE_RETRY_MS);
			while (!ms->stop)
				if (pthread_cond_timedwait(&ms->q_cond, &ms->q_mu, &dl) == ETIMEDOUT)
					break;
		}
	}
	ms->writing = false;
	pthread_cond_broadcast(&ms->idle_cond);
	pthread_mutex_unlock(&ms->q_mu);
	return NULL;
}

/* ---- public ---- */

struct mailstore *mailstore_open(const struct mamori_config *cfg, char *err, size_t errlen)
{
	struct store *st = store_open(cfg, err, errlen);
	if (st == NULL)
		return NULL;
	sqlite3 *db = store_sqlite_db(st);
	if (db == NULL) {
		snprintf(err, errlen, "mailstore: the store is not SQLite or not usable");
		store_close(&st);
		return NULL;
	}
	struct quarantine *q = quarantine_attach(st, cfg, err, errlen);
	if (q == NULL) {
		store_close(&st);
		return NULL;
	}
	struct mailstore *ms = xcalloc(1, sizeof *ms);
	ms->st = st;
	ms->db = db;
	ms->q = q;
	ms->ring = xcalloc(MAILSTORE_QUEUE_ROWS, sizeof *ms->ring);
	pthread_mutex_init(&ms->db_mu, NULL);
	pthread_mutex_init(&ms->q_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ms->q_cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&ms->idle_cond, NULL);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms->next_expire = now.tv_sec + MAILSTORE_EXPIRE_FIRST;
	int rc = pthread_create(&ms->writer, NULL, writer_main, ms);
	if (rc != 0) {
		snprintf(err, errlen, "mailstore: writer thread: %s", strerror(rc));
		quarantine_close(&ms->q);
		store_close(&ms->st);
		pthread_mutex_destroy(&ms->db_mu);
		pthread_mutex_destroy(&ms->q_mu);
		pthread_cond_destroy(&ms->q_cond);
		pthread_cond_destroy(&ms->idle_cond);
		xfree(ms->ring);
		xfree(ms);
		return NULL;
	}
	return ms;
}

void mailstore_close(struct mailstore **msp)
{
	if (msp == NULL || *msp == NULL)
		return;
	struct mailstore *ms = *msp;
	pthread_mutex_lock(&ms->q_mu);
	ms->stop = true;
	pthread_cond_broadcast(&ms->q_cond);
	pthread_mutex_unlock(&ms->q_mu);
	pthread_join(ms->writer, NULL);
	for (size_t i = 0; i < ms->count; i++)
		xfree(ms->ring[(ms->head + i) % MAILSTORE_QUEUE_ROWS]);
	if (ms->dropped > 0)
		log_warning("mailstore: message log: %lu rows dropped (queue full)", ms->dropped);
	for (int i = 0; i < M_COUNT; i++)
		sqlite3_finalize(ms->stmt[i]);
	quarantine_close(&ms->q);
	store_close(&ms->st);
	pthread_mutex_destroy(&ms->db_mu);
	pthread_mutex_destroy(&ms->q_mu);
	pthread_cond_destroy(&ms->q_cond);
	pthread_cond_destroy(&ms->idle_cond);
	xfree(ms->ring);
	xfree(ms);
	*msp = NULL;
}

void mailstore_set_busy_timeout(struct mailstore *ms, int busy_ms)
{
	pthread_mutex_lock(&ms->db_mu);
	quarantine_set_busy_timeout(ms->q, busy_ms);
	pthread_mutex_unlock(&ms->db_mu);
}

void mailstore_log(struct mailstore *ms, const struct msglog_entry *e)
{
	struct logrow *r = row_copy(e);
	pthread_mutex_lock(&ms->q_mu);
	if (ms->count >= MAILSTORE_QUEUE_ROWS || ms->bytes + r->bytes > MAILSTORE_QUEUE_BYTES || ms->stop) {
		ms->dropped++;
		int64_t now = (int64_t)time(NULL);
		bool warn = now - ms->last_drop_warn >= DROP_WARN_INTERVAL;
		unsigned long dropped = ms->dropped;
		if (warn)
			ms->last_drop_warn = now;
		pthread_mutex_unlock(&ms->q_mu);
		if (warn)
			log_warning("%s: message log queue full (database unavailable?): row dropped, %lu so far",
				    r->f[F_QUEUE_ID][0] ? r->f[F_QUEUE_ID] : "-", dropped);
		xfree(r);
		return;
	}
	ms->ring[(ms->head + ms->count) % MAILSTORE_QUEUE_ROWS] = r;
	ms->count++;
	ms->bytes += r->bytes;
	/* wake the writer for its first row and when a batch is full, not per row */
	if (ms->count == 1 || ms->count == MAILSTORE_BATCH)
		pthread_cond_signal(&ms->q_cond);
	pthread_mutex_unlock(&ms->q_mu);
}

unsigned long mailstore_dropped(struct mailstore *ms)
{
	pthread_mutex_lock(&ms->q_mu);
	unsigned long n = ms->dropped;
	pthread_mutex_unlock(&ms->q_mu);
	return n;
}

void mailstore_flush(struct mailstore *ms)
{
	pthread_mutex_lock(&ms->q_mu);
	while (ms->count > 0 || ms->writing) {
		ms->flush_now = true;
		pthread_cond_broadcast(&ms->q_cond);
		pthread_cond_wait(&ms->idle_cond, &ms->q_mu);
	}
	pthread_mutex_unlock(&ms->q_mu);
}

int mailstore_quarantine(struct mailstore *ms, const void *msg, size_t len, const struct quarantine_meta *m,
			 int64_t *id_r, char *err, size_t errlen)
{
	char name[QUARANTINE_NAME_LEN + 1], sha[65];
	const char *qid = m->queue_id != NULL ? m->queue_id : "-";
	pthread_mutex_lock(&ms->db_mu);
	enum store_status known = quarantine_find_resend(ms->q, m->resend_key, id_r);
	pthread_mutex_unlock(&ms->db_mu);
	if (known == STORE_OK) {
		log_info("%s: the same message is already quarantined as #%lld (sent again)", qid, (long long)*id_r);
		return 0;
	}
	if (known != STORE_NOTFOUND) {
		snprintf(err, errlen, "quarantine: look-up failed (%s)", store_status_name(known));
		log_error("%s: %s", qid, err);
		return -1;
	}
	if (quarantine_write_file(ms->q, msg, len, name, sha, err, errlen) < 0) {
		log_error("%s: %s", m->queue_id != NULL ? m->queue_id : "-", err);
		return -1;
	}
	pthread_mutex_lock(&ms->db_mu);
	enum store_status st = quarantine_insert(ms->q, name, sha, len, m, id_r, err, errlen);
	pthread_mutex_unlock(&ms->db_mu);
	if (st == STORE_DUPLICATE) {
		/* a copy raced us in between: it holds the message */
		quarantine_unlink_file(ms->q, name);
		pthread_mutex_lock(&ms->db_mu);
		st = quarantine_find_resend(ms->q, m->resend_key, id_r);
		pthread_mutex_unlock(&ms->db_mu);
		if (st == STORE_OK) {
			log_info("%s: the same message is already quarantined as #%lld (sent again)", qid,
				 (long long)*id_r);
			return 0;
		}
		snprintf(err, errlen, "quarantine: duplicate row but no resend key match (%s)", store_status_name(st));
		log_error("%s: %s", qid, err);
		return -1;
	}
	if (st != STORE_OK) {
		log_error("%s: %s", qid, err);
		quarantine_unlink_file(ms->q, name);
		return -1;
	}
	return 0;
}

long mailstore_expire(struct mailstore *ms, int64_t now)
{
	long nq = 0, nl = 0;
	bool more = true;
	while (more) {
		/* one step at a time, so milter threads waiting to quarantine
		   get the connection in between */
		pthread_mutex_lock(&ms->db_mu);
		int rc = quarantine_expire_step(ms->q, now, &nq, &nl, &more);
		pthread_mutex_unlock(&ms->db_mu);
		if (rc < 0)
			return -1;
	}
	if (nq > 0 || nl > 0)
		log_info("mailstore: expired %ld quarantined messages and %ld message-log rows", nq, nl);
	return nq;
}
