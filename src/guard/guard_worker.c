/*
 * guard_worker: event writer, lock synchroniser and lock notifier of the
 * submission guard (see guard_worker.h).
 */
#include "guard/guard_worker.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "store/accounts.h"

#define NOTIFY_CONNECT_TIMEOUT_S 10
#define NOTIFY_TOTAL_TIMEOUT_S 30
#define PURGE_EVERY_S 60
#define CHANGES_PER_ROUND 1000
#define WRITE_RETRIES 5 /* rounds a batch is kept while the store is busy */

struct qev {
	struct qev *next;
	enum sub_event_kind kind;
	int64_t time, until;
	char *account, *ip, *country, *detail;
	char *notify_to, *notify_from, *notify_url;
};

struct notice {
	struct notice *next;
	char *to, *from, *url, *account;
	char *msg;
};

struct guard_worker {
	struct store *st;
	struct account_store *as;
	struct account_locks *locks;
	pthread_t writer, notifier;

	pthread_mutex_t mu;
	pthread_cond_t wake, done;
	struct qev *head, **tail;
	size_t queued, dropped;
	bool stop;
	uint64_t round_started, round_done; /* sync() waits for a round */
	bool kick;

	pthread_mutex_t nmu;
	pthread_cond_t nwake;
	struct notice *nhead, **ntail;
	size_t nqueued;
	bool nstop;

	/* writer thread only */
	int64_t last_id, data_version;
	time_t last_purge;
	unsigned retries;
	struct qev *pending; /* a batch the store refused, kept for a retry */
};

static void qev_free(struct qev *q)
{
	xfree(q->account);
	xfree(q->ip);
	xfree(q->country);
	xfree(q->detail);
	xfree(q->notify_to);
	xfree(q->notify_from);
	xfree(q->notify_url);
	xfree(q);
}

static char *dup0(const char *s)
{
	return xstrdup(s ? s : "");
}

/* ---------- notification ---------- */

static void clean_copy(char *out, size_t outlen, const char *s)
{
	size_t n = 0;
	for (; s && *s && n + 1 < outlen; s++)
		out[n++] = ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) ? '?' : *s;
	out[n] = '\0';
}

char *guard_notify_compose(const char *from, const char *to, const struct sub_event *ev)
{
	char host[256] = "localhost", sender[320], acct[LOCK_ACCOUNT_MAX + 1], date[64], when[64], until[80];
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	if (from && from[0])
		snprintf(sender, sizeof sender, "%s", from);
	else
		snprintf(sender, sizeof sender, "mamori@%s", host);
	clean_copy(acct, sizeof acct, ev->account);
	time_t now = time(NULL), t = (time_t)ev->time;
	struct tm tm;
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", gmtime_r(&now, &tm));
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
	if (ev->until == 0) {
		snprintf(until, sizeof until, "until an administrator unlocks it");
	} else {
		time_t u = (time_t)ev->until;
		strftime(until, sizeof until, "until %Y-%m-%d %H:%M:%S UTC", gmtime_r(&u, &tm));
	}
	char detail[ACCOUNT_REASON_MAX], ip[64], cc[4];
	clean_copy(detail, sizeof detail, ev->detail);
	clean_copy(ip, sizeof ip, ev->client_ip);
	clean_copy(cc, sizeof cc, ev->country);
	size_t cap = 4096;
	char *m = xmalloc(cap);
	snprintf(m, cap,
	         "From: <%s>\r\n"
	         "To: <%s>\r\n"
	         "Subject: [mamori] submission account %s locked\r\n"
	         "Date: %s\r\n"
	         "Message-ID: <mamori-lock.%lld.%ld@%s>\r\n"
	         "Auto-Submitted: auto-generated\r\n"
	         "MIME-Version: 1.0\r\n"
	         "Content-Type: text/plain; charset=us-ascii\r\n"
	         "\r\n"
	         "mamori locked the submission account %s: it behaved like a stolen account.\r\n"
	         "\r\n"
	         "Account:  %s\r\n"
	         "Reason:   %s\r\n"
	         "Client:   %s%s%s%s\r\n"
	         "Time:     %s\r\n"
	         "Locked:   %s\r\n"
	         "\r\n"
	         "Its mail is refused (554 5.7.1) until then. Change the password before\r\n"
	         "unlocking it.\r\n"
	         "\r\n"
	         "  history:  mamori account show %s\r\n"
	         "  unlock:   mamori account unlock %s\r\n",
	         sender, to, acct, date, (long long)ev->time, (long)getpid(), host, acct, acct, detail,
	         ip[0] ? ip : "unknown", cc[0] ? " (" : "", cc, cc[0] ? ")" : "", when, until, acct, acct);
	return m;
}

struct upload {
	const char *p;
	size_t left;
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
	return n;
}

static void notice_send(const struct notice *n)
{
	char cerr[CURL_ERROR_SIZE] = "", from[330], rcpt[330];
	CURL *h = curl_easy_init();
	if (h == NULL) {
		log_error("submission: notification about %s not sent: libcurl initialisation failed", n->account);
		return;
	}
	snprintf(from, sizeof from, "<%s>", n->from);
	snprintf(rcpt, sizeof rcpt, "<%s>", n->to);
	struct curl_slist *rcpts = curl_slist_append(NULL, rcpt);
	struct upload up = {n->msg, strlen(n->msg)};
	curl_easy_setopt(h, CURLOPT_URL, n->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(h, CURLOPT_READDATA, &up);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up.left);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)NOTIFY_CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)NOTIFY_TOTAL_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	CURLcode rc = curl_easy_perform(h);
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(rcpts);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK)
		log_error("submission: notification about the lock of %s to %s failed: %s (last reply %ld)", n->account,
		          n->to, cerr[0] ? cerr : curl_easy_strerror(rc), code);
	else
		log_info("submission: notified %s of the lock of %s", n->to, n->account);
}

static void notice_free(struct notice *n)
{
	xfree(n->to);
	xfree(n->from);
	xfree(n->url);
	xfree(n->account);
	xfree(n->msg);
	xfree(n);
}

static void *notifier_main(void *arg)
{
	struct guard_worker *gw = arg;
	pthread_mutex_lock(&gw->nmu);
	for (;;) {
		while (gw->nhead == NULL && !gw->nstop)
			pthread_cond_wait(&gw->nwake, &gw->nmu);
		if (gw->nhead == NULL)
			break;
		struct notice *n = gw->nhead;
		gw->nhead = n->next;
		if (gw->nhead == NULL)
			gw->ntail = &gw->nhead;
		gw->nqueued--;
		pthread_mutex_unlock(&gw->nmu);
		notice_send(n);
		notice_free(n);
		pthread_mutex_lock(&gw->nmu);
	}
	pthread_mutex_unlock(&gw->nmu);
	return NULL;
}

static void notify_lock(struct guard_worker *gw, const struct qev *q)
{
	if (q->notify_to[0] == '\0')
		return;
	struct sub_event ev = {
	    .kind = SUB_EV_LOCK,
	    .time = q->time,
	    .account = q->account,
	    .client_ip = q->ip,
	    .country = q->country,
	    .detail = q->detail,
	    .until = q->until,
	};
	struct notice *n = xcalloc(1, sizeof *n);
	n->msg = guard_notify_compose(q->notify_from, q->notify_to, &ev);
	n->to = xstrdup(q->notify_to);
	if (q->notify_from[0]) {
		n->from = xstrdup(q->notify_from);
	} else {
		char host[256] = "localhost", b[300];
		if (gethostname(host, sizeof host) != 0)
			snprintf(host, sizeof host, "localhost");
		host[sizeof host - 1] = '\0';
		snprintf(b, sizeof b, "mamori@%s", host);
		n->from = xstrdup(b);
	}
	n->url = xstrdup(q->notify_url);
	n->account = xstrdup(q->account);
	pthread_mutex_lock(&gw->nmu);
	if (gw->nqueued >= GUARD_NOTIFY_QUEUE) {
		pthread_mutex_unlock(&gw->nmu);
		log_error("submission: notification about the lock of %s dropped: %d already waiting", q->account,
		          GUARD_NOTIFY_QUEUE);
		notice_free(n);
		return;
	}
	*gw->ntail = n;
	gw->ntail = &n->next;
	gw->nqueued++;
	pthread_cond_signal(&gw->nwake);
	pthread_mutex_unlock(&gw->nmu);
}

/* ---------- queue ---------- */

void guard_worker_event(void *arg, const struct sub_event *ev)
{
	struct guard_worker *gw = arg;
	pthread_mutex_lock(&gw->mu);
	if (ev->kind != SUB_EV_LOCK && gw->queued >= GUARD_EVENT_QUEUE) {
		if (gw->dropped++ % 1000 == 0)
			log_warning("submission: event queue full (%d): %zu event rows dropped so far",
			            GUARD_EVENT_QUEUE, gw->dropped);
		pthread_mutex_unlock(&gw->mu);
		return;
	}
	pthread_mutex_unlock(&gw->mu);
	struct qev *q = xcalloc(1, sizeof *q);
	q->kind = ev->kind;
	q->time = ev->time;
	q->until = ev->until;
	q->account = dup0(ev->account);
	q->ip = dup0(ev->client_ip);
	q->country = dup0(ev->country);
	q->detail = dup0(ev->detail);
	q->notify_to = dup0(ev->notify_to);
	q->notify_from = dup0(ev->notify_from);
	q->notify_url = dup0(ev->notify_url);
	pthread_mutex_lock(&gw->mu);
	*gw->tail = q;
	gw->tail = &q->next;
	gw->queued++;
	if (ev->kind == SUB_EV_LOCK)
		pthread_cond_signal(&gw->wake); /* locks go out at once */
	pthread_mutex_unlock(&gw->mu);
}

/* ---------- writer ---------- */

static const char *kind_word(enum sub_event_kind k)
{
	switch (k) {
	case SUB_EV_LOCK: return "lock";
	case SUB_EV_LIMIT: return "limit";
	case SUB_EV_DENY: return "deny";
	}
	return "?";
}

/* writes a batch in one transaction; false if the store was busy or failed */
static bool write_batch(struct guard_worker *gw, struct qev *list)
{
	if (list == NULL)
		return true;
	enum store_status r = account_store_begin(gw->as);
	for (struct qev *q = list; q != NULL && r == STORE_OK; q = q->next) {
		if (q->kind == SUB_EV_LOCK)
			r = account_store_lock(gw->as, q->account, q->time, q->until, q->detail, GUARD_BY, q->ip,
			                       q->country);
		else
			r = account_store_event(gw->as, q->time, q->account, kind_word(q->kind), q->ip, q->country,
			                        q->detail, GUARD_BY);
	}
	if (r == STORE_OK)
		r = account_store_commit(gw->as);
	if (r != STORE_OK) {
		account_store_rollback(gw->as);
		log_error("submission: cannot record account events: %s", store_status_name(r));
		return false;
	}
	return true;
}

struct change_ctx {
	char (*acct)[LOCK_ACCOUNT_MAX + 1];
	char (*by)[ACCOUNT_BY_MAX];
	size_t n, cap;
	int64_t last;
};

static int on_change(void *arg, const struct account_event_row *ev)
{
	struct change_ctx *c = arg;
	c->last = ev->id;
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->acct[i], ev->account) == 0) {
			snprintf(c->by[i], sizeof c->by[i], "%s", ev->by_whom);
			return 0;
		}
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->acct = xreallocarray(c->acct, c->cap, sizeof *c->acct);
		c->by = xreallocarray(c->by, c->cap, sizeof *c->by);
	}
	snprintf(c->acct[c->n], sizeof c->acct[c->n], "%s", ev->account);
	snprintf(c->by[c->n], sizeof c->by[c->n], "%s", ev->by_whom);
	c->n++;
	return 0;
}

/* an automatic lock of acct queued but not written yet (it is newer than
   anything the store says about the account) */
static bool lock_queued(struct guard_worker *gw, const char *acct)
{
	bool found = false;
	pthread_mutex_lock(&gw->mu);
	for (const struct qev *q = gw->head; q && !found; q = q->next)
		found = q->kind == SUB_EV_LOCK && strcmp(q->account, acct) == 0;
	pthread_mutex_unlock(&gw->mu);
	for (const struct qev *q = gw->pending; q && !found; q = q->next)
		found = q->kind == SUB_EV_LOCK && strcmp(q->account, acct) == 0;
	return found;
}

/* the store's row is the truth for an account someone else touched */
static void apply_account(struct guard_worker *gw, const char *acct, const char *by, int64_t now)
{
	struct account_lock_row row;
	enum store_status r = account_store_get(gw->as, acct, now, &row);
	int64_t until = 0;
	bool was = account_locks_is_locked(gw->locks, acct, now, &until);
	if (r == STORE_OK) {
		if (was && until == row.until)
			return;
		if (account_locks_lock(gw->locks, acct, row.locked_at, row.until, row.reason) < 0)
			log_error("submission: cannot apply the lock of %s: lock table full", acct);
		else
			log_info("submission: account %s locked by %s: %s", acct, row.by_whom, row.reason);
	} else if (r == STORE_NOTFOUND) {
		if (was && lock_queued(gw, acct))
			return; /* locked again since: that lock is written next */
		if (account_locks_unlock(gw->locks, acct) > 0 && was)
			log_info("submission: account %s unlocked by %s", acct, by);
	} else {
		log_error("submission: cannot read the lock of %s: %s", acct, store_status_name(r));
	}
}

static void sync_changes(struct guard_worker *gw, bool force)
{
	int64_t dv;
	if (account_store_data_version(gw->as, &dv) != STORE_OK)
		return;
	if (!force && dv == gw->data_version)
		return;
	gw->data_version = dv;
	int64_t now = (int64_t)time(NULL);
	for (;;) {
		struct change_ctx c = {.last = gw->last_id};
		enum store_status r = account_store_changes(gw->as, gw->last_id, CHANGES_PER_ROUND, on_change, &c);
		if (r == STORE_OK) {
			for (size_t i = 0; i < c.n; i++)
				apply_account(gw, c.acct[i], c.by[i], now);
			gw->last_id = c.last;
		} else {
			log_error("submission: cannot read account changes: %s", store_status_name(r));
		}
		size_t n = c.n;
		xfree(c.acct);
		xfree(c.by);
		if (r != STORE_OK || n < CHANGES_PER_ROUND)
			break;
	}
}

static void *writer_main(void *arg)
{
	struct guard_worker *gw = arg;
	pthread_mutex_lock(&gw->mu);
	for (;;) {
		if (gw->head == NULL && !gw->stop && !gw->kick) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += GUARD_POLL_MS * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&gw->wake, &gw->mu, &until);
		}
		bool stop = gw->stop;
		gw->kick = false;
		uint64_t round = ++gw->round_started;
		struct qev *list = gw->head;
		gw->head = NULL;
		gw->tail = &gw->head;
		gw->queued = 0;
		pthread_mutex_unlock(&gw->mu);

		/* a batch refused earlier goes first, in order */
		if (gw->pending != NULL) {
			struct qev **t = &gw->pending;
			while (*t)
				t = &(*t)->next;
			*t = list;
			list = gw->pending;
			gw->pending = NULL;
		}
		if (write_batch(gw, list)) {
			gw->retries = 0;
			for (struct qev *q = list; q; q = q->next)
				if (q->kind == SUB_EV_LOCK)
					notify_lock(gw, q);
		} else if (++gw->retries < WRITE_RETRIES && !stop) {
			gw->pending = list;
			list = NULL;
		} else {
			log_error("submission: account events dropped after %u failed writes (locks stay in memory "
			          "and in the log)",
			          gw->retries);
			gw->retries = 0;
			for (struct qev *q = list; q; q = q->next)
				if (q->kind == SUB_EV_LOCK)
					notify_lock(gw, q);
		}
		while (list) {
			struct qev *n = list->next;
			qev_free(list);
			list = n;
		}
		sync_changes(gw, false);
		time_t now = time(NULL);
		if (now - gw->last_purge >= PURGE_EVERY_S) {
			gw->last_purge = now;
			unsigned n = 0;
			if (account_store_purge(gw->as, (int64_t)now, &n) == STORE_OK && n > 0)
				log_info("submission: %u expired account lock(s) removed from the store", n);
		}

		pthread_mutex_lock(&gw->mu);
		gw->round_done = round;
		pthread_cond_broadcast(&gw->done);
		if (stop && gw->head == NULL)
			break;
	}
	pthread_mutex_unlock(&gw->mu);
	while (gw->pending) {
		struct qev *n = gw->pending->next;
		qev_free(gw->pending);
		gw->pending = n;
	}
	return NULL;
}

/* ---------- life cycle ---------- */

struct load_ctx {
	struct account_locks *locks;
	unsigned n, failed;
};

static int on_load(void *arg, const struct account_lock_row *row)
{
	struct load_ctx *c = arg;
	if (account_locks_lock(c->locks, row->account, row->locked_at, row->until, row->reason) < 0)
		c->failed++;
	else
		c->n++;
	return 0;
}

struct guard_worker *guard_worker_start(struct store *st, struct account_locks *locks, char *err, size_t errlen)
{
	struct account_store *as = account_store_open(st, err, errlen);
	if (as == NULL) {
		store_close(&st);
		return NULL;
	}
	struct guard_worker *gw = xcalloc(1, sizeof *gw);
	gw->st = st;
	gw->as = as;
	gw->locks = locks;
	gw->tail = &gw->head;
	gw->ntail = &gw->nhead;
	gw->last_purge = 0;
	pthread_mutex_init(&gw->mu, NULL);
	pthread_cond_init(&gw->wake, NULL);
	pthread_cond_init(&gw->done, NULL);
	pthread_mutex_init(&gw->nmu, NULL);
	pthread_cond_init(&gw->nwake, NULL);

	enum store_status r = account_store_data_version(as, &gw->data_version);
	if (r == STORE_OK)
		r = account_store_last_id(as, &gw->last_id);
	struct load_ctx lc = {locks, 0, 0};
	if (r == STORE_OK)
		r = account_store_list(as, (int64_t)time(NULL), on_load, &lc);
	if (r != STORE_OK) {
		snprintf(err, errlen, "account locks: %s", store_status_name(r));
		account_store_close(&gw->as);
		store_close(&gw->st);
		xfree(gw);
		return NULL;
	}
	if (lc.n > 0 || lc.failed > 0)
		log_info("submission: %u locked account(s) loaded from the store%s", lc.n,
		         lc.failed ? " (some did not fit the lock table)" : "");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int e1 = pthread_create(&gw->writer, NULL, writer_main, gw);
	if (e1 != 0)
		log_fatal("cannot start the submission guard writer: %s", strerror(e1));
	int e2 = pthread_create(&gw->notifier, NULL, notifier_main, gw);
	if (e2 != 0)
		log_fatal("cannot start the submission guard notifier: %s", strerror(e2));
	return gw;
}

void guard_worker_sync(struct guard_worker *gw)
{
	pthread_mutex_lock(&gw->mu);
	uint64_t want = gw->round_started + 1;
	gw->kick = true;
	pthread_cond_signal(&gw->wake);
	while (gw->round_done < want && !gw->stop)
		pthread_cond_wait(&gw->done, &gw->mu);
	pthread_mutex_unlock(&gw->mu);
}

void guard_worker_stop(struct guard_worker **gwp)
{
	if (gwp == NULL || *gwp == NULL)
		return;
	struct guard_worker *gw = *gwp;
	pthread_mutex_lock(&gw->mu);
	gw->stop = true;
	pthread_cond_signal(&gw->wake);
	pthread_mutex_unlock(&gw->mu);
	pthread_join(gw->writer, NULL);
	pthread_mutex_lock(&gw->nmu);
	gw->nstop = true;
	pthread_cond_signal(&gw->nwake);
	pthread_mutex_unlock(&gw->nmu);
	pthread_join(gw->notifier, NULL);
	while (gw->head) {
		struct qev *n = gw->head->next;
		qev_free(gw->head);
		gw->head = n;
	}
	account_store_close(&gw->as);
	store_close(&gw->st);
	pthread_mutex_destroy(&gw->mu);
	pthread_cond_destroy(&gw->wake);
	pthread_cond_destroy(&gw->done);
	pthread_mutex_destroy(&gw->nmu);
	pthread_cond_destroy(&gw->nwake);
	*gwp = xfree(gw);
}
