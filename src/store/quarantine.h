/*
 * quarantine: the quarantined messages themselves, one file each under
 * quarantine.dir plus one row in the store's quarantine table, and what an
 * admin does with them: list, show, read, delete, release, expire. Owns an
 * open descriptor of the quarantine directory and its own prepared
 * statements on a store connection (its own, or one lent by mailstore).
 * Not thread-safe: one thread per struct quarantine, except
 * quarantine_write_file(), which touches only the directory.
 *
 * Files are named q-<32 random hex>.eml (never from message content or
 * input); a name read back from the database is checked against that
 * pattern before it is opened. Rows carry the file's SHA-256, checked
 * before a release sends it.
 *
 * States: held -> releasing -> released; releasing -> held (temporary
 * failures ran out: may be released again) or failed (a permanent 5xx, or
 * an outcome that cannot be known); held|failed|released -> deleted (the
 * file is removed, the row kept until retention). "releasing" is a claim:
 * taken by one UPDATE ... WHERE state='held', so two releases of the same
 * message cannot both send, and it stays claimed if the releasing process
 * dies (see QUARANTINE_STALE_RELEASING).
 */
#ifndef MAMORI_STORE_QUARANTINE_H
#define MAMORI_STORE_QUARANTINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "store/store.h"

struct quarantine_meta; /* store/mailstore.h */

/* biggest message read back into memory (download, release) */
#define QUARANTINE_MAX_MESSAGE (512UL << 20)
/* file name length: "q-" + 32 hex + ".eml" */
#define QUARANTINE_NAME_LEN 38
/* a "releasing" claim older than this (seconds without a heartbeat) may be
   taken over by a forced release: the releasing process is gone */
#define QUARANTINE_STALE_RELEASING 3600
/* release retries: first wait, doubled per attempt up to the cap (ms) */
#define QUARANTINE_BACKOFF_FIRST_MS 1000
#define QUARANTINE_BACKOFF_MAX_MS 60000
/* SMTP timeouts of one release attempt (seconds) */
#define QUARANTINE_SMTP_CONNECT_TIMEOUT 30
#define QUARANTINE_SMTP_TOTAL_TIMEOUT 600

struct quarantine;

/* Opens the configured store (a connection of its own) and the quarantine
   directory, for the command line: a missing directory is not created (the
   daemon creates it as its own user) and reads as empty. NULL with a
   reason in err. */
struct quarantine *quarantine_open(const struct mamori_config *cfg, char *err, size_t errlen);
/* On a store the caller owns (and keeps: it must outlive q), for the
   daemon: the directory is created 0750 if missing. */
struct quarantine *quarantine_attach(struct store *st, const struct mamori_config *cfg, char *err, size_t errlen);
/* Closes the directory, the statements, and the store if q opened it; NULL is fine. */
void quarantine_close(struct quarantine **q);
/* how long a call waits for another writer of the database (ms) */
void quarantine_set_busy_timeout(struct quarantine *q, int ms);
/* the quarantine directory in use (absolute or as configured) */
const char *quarantine_dir(const struct quarantine *q);

/* ---- storing (mailstore's durable path, in this order) ---- */

/*
 * Writes msg to a new temporary file in the directory, fsyncs it, renames
 * it to a fresh unique name (never replacing a file), and fsyncs the
 * directory. On success name_r (QUARANTINE_NAME_LEN + 1 bytes) holds the
 * name and sha_r the hex SHA-256; on failure nothing is left behind.
 * Thread-safe. Blocks on disk.
 */
int quarantine_write_file(struct quarantine *q, const void *msg, size_t len, char *name_r, char sha_r[65],
			  char *err, size_t errlen);
/* The row already holding a message with this resend key (see
   quarantine_meta.resend_key): STORE_OK with its id, or STORE_NOTFOUND
   (also for a NULL or empty key). */
enum store_status quarantine_find_resend(struct quarantine *q, const char *key, int64_t *id_r);
/* Inserts and commits the row for a file written above (state held);
   STORE_DUPLICATE if a row with the same non-empty resend key exists. */
enum store_status quarantine_insert(struct quarantine *q, const char *name, const char *sha, uint64_t size,
				    const struct quarantine_meta *m, int64_t *id_r, char *err, size_t errlen);
/* v[0..n-1] one per line (heap); line ends inside an item become blanks;
   addresses: blanks and one pair of <> around each are dropped, empty
   items skipped (shared with the message log) */
char *quarantine_join_lines(const char *const *v, size_t n, bool addresses);
/* Removes a file written above (a failed insert) and fsyncs the directory. */
void quarantine_unlink_file(struct quarantine *q, const char *name);

/* ---- reading ---- */

/* one row; every string is owned by the row (quarantine_item_clear) */
struct quarantine_item {
	int64_t id;
	int64_t time;
	char *queue_id;
	char *file;
	char *sha256;
	uint64_t size;
	char *client_ip;
	char *mail_from;
	char *rcpts;        /* one per line */
	char *header_from;
	char *subject;
	char *reasons;      /* one per line */
	char *state;        /* held, releasing, released, failed, deleted */
	int attempts;       /* SMTP attempts made by releases */
	int64_t state_time; /* when the state last changed (0: never) */
	char *state_detail; /* the last release outcome or error */
};
void quarantine_item_clear(struct quarantine_item *it);

struct quarantine_filter {
	const char *recipient; /* substring of any recipient, ASCII case-insensitive */
	const char *sender;    /* substring of envelope sender or header From */
	const char *reason;    /* substring of the reasons */
	const char *state;     /* exact state; NULL = any */
	int64_t since, until;  /* time >= since, time < until; 0 = open */
	size_t limit;          /* 0 = no limit */
};

/* calls cb per matching row, newest first; cb returns non-zero to stop
   (the item is valid only during the call) */
enum store_status quarantine_list(struct quarantine *q, const struct quarantine_filter *f,
				  int (*cb)(void *ctx, const struct quarantine_item *it), void *ctx);
/* one row by id: STORE_OK, STORE_NOTFOUND, STORE_TEMPFAIL, STORE_ERROR */
enum store_status quarantine_get(struct quarantine *q, int64_t id, struct quarantine_item *it_r);
/*
 * The stored message of a row (the file, checked against the row's size
 * and SHA-256); *msg_r is heap (xfree). STORE_NOTFOUND when there is no
 * such row or its file is gone (deleted); STORE_ERROR with a reason when
 * the file does not match its row.
 */
enum store_status quarantine_read(struct quarantine *q, const struct quarantine_item *it, void **msg_r,
				  size_t *len_r, char *err, size_t errlen);

/* ---- changing ---- */

enum quarantine_outcome {
	QO_DONE,      /* released / deleted now */
	QO_ALREADY,   /* released (or deleted) before: nothing sent or changed */
	QO_BUSY,      /* another release holds the claim */
	QO_NOTFOUND,  /* no such id */
	QO_REFUSED,   /* not in a state that allows it (deleted, failed without force) */
	QO_TEMPFAIL,  /* relay or database: try again later (the message is held) */
	QO_FAILED,    /* permanent refusal by the relay, or an unknown outcome (state failed) */
	QO_ERROR,     /* local problem: file missing or changed, bad config */
};
const char *quarantine_outcome_name(enum quarantine_outcome o);

/*
 * Deletes one message: marks the row deleted and removes its file. Not
 * while it is being released. detail gets a sentence for the admin.
 */
enum quarantine_outcome quarantine_delete(struct quarantine *q, int64_t id, int64_t now, char *detail,
					  size_t detlen);

struct quarantine_release_opts {
	bool force;                /* also a failed message, or a stale releasing claim */
	unsigned attempts;         /* 0 = quarantine.release_attempts */
	unsigned backoff_first_ms; /* 0 = QUARANTINE_BACKOFF_FIRST_MS */
	/* progress lines for the admin (may be NULL); never contain secrets */
	void (*note)(void *ctx, int64_t id, const char *line);
	void *ctx;
};

/*
 * Sends the message, unchanged, to its original envelope sender and
 * recipients through quarantine.relay_url (libcurl SMTP; relay_user and the
 * first line of relay_password_file for AUTH, STARTTLS required then),
 * exactly once: the row is claimed (held -> releasing) first, temporary
 * failures (connection, 4xx) are retried with backoff up to the attempt
 * limit, then the row becomes released, held again (temporary failures ran
 * out) or failed (5xx, or the connection was lost after the whole message
 * went out, when the relay may have queued it). All or nothing: a refused
 * recipient refuses the transaction. Blocks (sleeps between attempts).
 */
enum quarantine_outcome quarantine_release(struct quarantine *q, int64_t id, const struct quarantine_release_opts *o,
					   char *detail, size_t detlen);

/*
 * Retention at now: quarantined messages (files and rows) older than
 * quarantine.retention_days, message-log rows older than
 * msglog.retention_days, and stray files (temporary files and files without
 * a row, older than an hour). Works in small steps: one call does at most
 * a few hundred rows and returns; *more_r says whether to call again.
 * Counts are added to *quarantined and *logrows. -1 on a database error.
 */
int quarantine_expire_step(struct quarantine *q, int64_t now, long *quarantined, long *logrows, bool *more_r);
/* all steps; returns quarantined messages removed or -1 */
long quarantine_expire(struct quarantine *q, int64_t now, long *logrows_r);

#endif
