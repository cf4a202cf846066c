/*
 * mailstore: what mamorid keeps about the mail it handles, safe to use from
 * every milter thread at once: the message log (one row per message
 * checked) and the quarantine (the message file under quarantine.dir plus
 * its row). Owns one store connection of its own, guarded by a mutex, and a
 * background writer that commits message-log rows in small batches so the
 * milter never waits on the log. The quarantine is written synchronously
 * and durably: file written, fsync'd, renamed into place, directory
 * fsync'd, row committed, all before mailstore_quarantine() returns 0.
 * The tables live in the SQLite schema (store_sqlite.c, migration 4).
 *
 * The CLI side (list, show, download, release, delete, expire) is in
 * store/quarantine.h; it opens the store itself and needs no mailstore.
 */
#ifndef MAMORI_STORE_MAILSTORE_H
#define MAMORI_STORE_MAILSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* one row of the message log; every string may be NULL (stored as "") */
struct msglog_entry {
	int64_t time;             /* Unix seconds */
	const char *queue_id;
	bool outbound;            /* an authenticated submission */
	const char *client_ip;    /* text form */
	const char *country;      /* ISO 3166 alpha-2 when GeoIP knows it */
	const char *helo;
	const char *sasl_user;
	const char *mail_from;
	const char *const *rcpts; /* nrcpts entries */
	size_t nrcpts;
	const char *header_from;
	const char *subject;
	const char *message_id;
	uint64_t size;
	const char *spf;          /* result words: "pass", "fail", ... */
	const char *dkim;
	const char *dmarc;
	const char *arc;
	const char *dmarc_domain; /* the RFC5322.From domain DMARC was evaluated for */
	const char *dmarc_policy; /* the policy that applied: none, quarantine, reject */
	const char *auth_results; /* the Authentication-Results value we added */
	const char *const *signals; /* "name: reason" per signal, nsignals entries */
	size_t nsignals;
	int score;
	const char *action;       /* accept, quarantine, reject, tempfail, discard */
	const char *reason;       /* the reason the action was taken */
	int64_t quarantine_id;    /* 0 when not quarantined */
};

/* what is recorded with a quarantined message (strings may be NULL) */
struct quarantine_meta {
	int64_t time;
	const char *queue_id;
	const char *client_ip;
	const char *mail_from;
	const char *const *rcpts; /* the original envelope recipients */
	size_t nrcpts;
	const char *header_from;
	const char *subject;
	const char *reasons;      /* one per line */
	const char *resend_key;   /* hex SHA-256 over envelope sender, recipients,
	                             Message-ID and body (mamorid), or NULL: equal
	                             for a copy a client sends again after a 4xx,
	                             e.g. when mamorid died between the commit and
	                             its answer; a message whose key the quarantine
	                             already holds is not stored twice */
};

struct mailstore;

/* Opens the store of cfg (a connection of its own) and the quarantine
   directory (created 0750 if missing), and starts the log writer. NULL with
   a reason in err. */
struct mailstore *mailstore_open(const struct mamori_config *cfg, char *err, size_t errlen);
/* Writes out queued log rows, stops the writer, closes; NULL is fine. */
void mailstore_close(struct mailstore **ms);

/*
 * Queues one message-log row (copied). Never blocks on the database: the
 * writer commits queued rows every few hundred milliseconds. If the queue
 * is full (the database has been unavailable for a while) the row is
 * dropped with a rate-limited warning: the log must never hold mail up.
 */
void mailstore_log(struct mailstore *ms, const struct msglog_entry *e);

/* Blocks until every row queued so far is committed (or dropped after
   repeated failures); for shutdown and tests. */
void mailstore_flush(struct mailstore *ms);
/* rows dropped so far because the queue was full */
unsigned long mailstore_dropped(struct mailstore *ms);
/* how long a database call waits for another writer before failing (ms;
   default STORE_SQLITE_BUSY_MS) */
void mailstore_set_busy_timeout(struct mailstore *ms, int busy_ms);

/*
 * Stores msg (len bytes, the whole message as received: headers CRLF,
 * body) durably in the quarantine. Returns 0 with the row id in *id_r once
 * the file is on disk (fsync'd) and the row is committed; -1 with a reason
 * in err if anything failed, in which case nothing is left behind and the
 * caller must answer tempfail. A message with a resend_key the quarantine
 * already holds (the same message sent again) is not stored twice: 0 with
 * the existing row's id. Thread-safe; blocks on disk and database.
 */
int mailstore_quarantine(struct mailstore *ms, const void *msg, size_t len, const struct quarantine_meta *m,
			 int64_t *id_r, char *err, size_t errlen);

/* Deletes quarantined messages and log rows past their retention
   (quarantine.retention_days, msglog.retention_days) at now; for the
   daemon's daily housekeeping. Returns how many quarantined messages went,
   or -1. The log writer already calls it while idle, ten minutes after
   open and then daily. */
long mailstore_expire(struct mailstore *ms, int64_t now);

#endif
