/*
 * store: everything mamori keeps, behind one interface (SQLite now, the
 * same portable SQL for PostgreSQL later; backends behind a function table
 * in store_*.c). Owns the database connection and its schema (created and
 * migrated on open). Every statement is prepared; nothing from input is
 * ever pasted into SQL. Calls may block on the database.
 *
 * Return convention (STYLE.md 6): STORE_OK, STORE_DUPLICATE (already
 * there: nothing changed), STORE_NOTFOUND, STORE_TEMPFAIL (busy, locked,
 * connection lost: try again later), STORE_ERROR (corrupt, disk full, bug),
 * with a reason in err where an err is taken.
 *
 * DMARC aggregate data: reports -> records -> auth results, plus daily
 * rollups maintained in the same transaction as the insert: per (domain,
 * day, source IP, reporter org) and per (domain, day, reporter org), so
 * summaries over months read only rollups.
 */
#ifndef MAMORI_STORE_STORE_H
#define MAMORI_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/ip.h"
#include "dmarc/report.h"

enum store_status { STORE_OK, STORE_DUPLICATE, STORE_NOTFOUND, STORE_TEMPFAIL, STORE_ERROR };

struct store;

/* opens (creating and migrating) the configured store: SQLite at
   store.path, or data_dir/mamori.db; NULL with a reason in err */
struct store *store_open(const struct mamori_config *cfg, char *err, size_t errlen);
void store_close(struct store **s);
const char *store_status_name(enum store_status st);

/* ---- DMARC aggregate reports ---- */

/*
 * Streaming insert of one report, as agg_parse_stream() hands it over:
 *
 *   store_agg_begin(meta, raw...)   the head and the raw bytes (as received:
 *                                   the file, the attachment; kept
 *                                   compressed). STORE_DUPLICATE when
 *                                   (org_name, report_id, domain) is already
 *                                   stored, also earlier in the same batch:
 *                                   nothing changed, do not go on. source
 *                                   names where it came from (path,
 *                                   "imap:UID", "maildir:file"). *id_r (may
 *                                   be NULL): the new report's id, or the
 *                                   stored one for a duplicate.
 *   store_agg_record(meta, rec, dkim, spf)  per record (dkim[0..ndkim-1],
 *                                   spf[0..nspf-1]; nothing is kept)
 *   store_agg_end(meta)             meta final (nrec, total_count); writes
 *                                   the report's daily rollups
 *   store_agg_abort()               undoes the open report alone (after a
 *                                   parse error or a failed call); no-op if
 *                                   none is open
 *
 * Only one report is open at a time. Reports are written in batches (many
 * per transaction, each report in its own savepoint): they become visible
 * to other connections and durable at the next store_flush(), at
 * store_close(), before any read through this store, or when the batch is
 * full. A failed begin/record/end leaves nothing of the report (record and
 * end abort it themselves). Blocks on the database; STORE_TEMPFAIL when
 * another writer holds it past the busy timeout.
 */
enum store_status store_agg_begin(struct store *s, const struct agg_report *meta, const void *raw, size_t rawlen,
				  const char *source, int64_t *id_r, char *err, size_t errlen);
enum store_status store_agg_record(struct store *s, const struct agg_report *meta, const struct agg_record *rec,
				   const struct agg_auth *dkim, const struct agg_auth *spf, char *err, size_t errlen);
enum store_status store_agg_end(struct store *s, const struct agg_report *meta, char *err, size_t errlen);
void store_agg_abort(struct store *s);

/*
 * Commits the open batch (durability: the store runs SQLite with
 * synchronous=NORMAL in WAL mode, so a power loss can lose the last
 * committed batches but never corrupts the database; reports can simply be
 * imported again). On failure the whole batch is lost (STORE_TEMPFAIL or
 * STORE_ERROR with a reason): the caller says so and the import can be run
 * again. STORE_OK when nothing was open.
 */
enum store_status store_flush(struct store *s, char *err, size_t errlen);

/*
 * Inserts one whole report (records, auth results and rollups) and commits
 * it, as store_agg_begin/record/end + store_flush; same return values.
 * For tests and small uses. id_r may be NULL.
 */
enum store_status store_agg_insert(struct store *s, const struct agg_report *r, const void *raw, size_t rawlen,
				   const char *source, int64_t *id_r, char *err, size_t errlen);

/* keeps a report that could not be parsed, with its reason and raw bytes
   (compressed); the same bytes twice are kept once (STORE_DUPLICATE) */
enum store_status store_import_error(struct store *s, const char *source, const char *reason, const void *raw,
				     size_t rawlen, char *err, size_t errlen);

struct store_import_error {
	int64_t id;
	int64_t when;      /* Unix seconds of the import */
	char source[512];
	char reason[512];
	size_t rawlen;     /* original size */
};
/* calls cb for each kept error, newest first; cb returns non-zero to stop */
enum store_status store_import_errors(struct store *s, int (*cb)(void *ctx, const struct store_import_error *e),
				      void *ctx);
/* the raw bytes of a kept error or report (decompressed; caller frees) */
enum store_status store_raw_get(struct store *s, bool error_table, int64_t id, void **raw_r, size_t *len_r);

/* ---- DMARC failure reports ---- */
enum store_status store_failure_insert(struct store *s, const struct failure_report *f, const void *raw,
				       size_t rawlen, const char *source, char *err, size_t errlen);

/* ---- summaries (read rollups only) ---- */

#define STORE_TOP_N 10

struct store_counts {
	uint64_t total;             /* messages (sum of counts) */
	uint64_t dmarc_pass;        /* policy_evaluated dkim=pass or spf=pass */
	uint64_t spf_aligned_pass;  /* policy_evaluated spf=pass */
	uint64_t dkim_aligned_pass; /* policy_evaluated dkim=pass */
	uint64_t disp_none, disp_quarantine, disp_reject;
};

struct store_day {
	int64_t day;                /* Unix seconds at 00:00 UTC */
	struct store_counts c;
};

struct store_top {
	char name[256];             /* reporter org, or source IP as text */
	uint64_t total, dmarc_pass;
};

struct store_summary {
	uint64_t reports;
	struct store_counts c;
	struct store_top reporters[STORE_TOP_N];
	size_t nreporters;
	struct store_top sources[STORE_TOP_N];
	size_t nsources;
	struct store_day *days;     /* ascending; heap */
	size_t ndays;
};

/* domain NULL = every domain; since = Unix seconds (report date_begin >= since) */
enum store_status store_agg_summary(struct store *s, const char *domain, int64_t since, struct store_summary *out);
void store_summary_free(struct store_summary *sum);

struct store_source {
	struct ipaddr ip;
	char domain[256];           /* policy domain */
	uint64_t total;
	uint64_t dmarc_pass;
	uint64_t spf_aligned_pass, dkim_aligned_pass;
	uint64_t fail_both;         /* neither aligned SPF nor aligned DKIM passed */
	int64_t first_seen, last_seen;
	unsigned reporters;         /* distinct reporter orgs */
};

/*
 * Per (source IP, domain) since the given time, ordered by fail_both then
 * total, descending. failing_only keeps rows with fail_both > 0. cb returns
 * non-zero to stop.
 */
enum store_status store_agg_sources(struct store *s, const char *domain, int64_t since, bool failing_only,
				    int (*cb)(void *ctx, const struct store_source *src), void *ctx);
/* the distinct reporter org names that saw ip for domain (comma-separated, bounded) */
enum store_status store_agg_source_reporters(struct store *s, const struct ipaddr *ip, const char *domain,
					     int64_t since, char *out, size_t outlen);

/* ---- abuse reporting ---- */

/* when an abuse report was last sent to contact about ip (STORE_NOTFOUND if never) */
enum store_status store_abuse_last(struct store *s, const char *contact, const struct ipaddr *ip, int64_t *when_r);
/* logs a report: status is "sent", "dry-run", or "failed: reason" */
enum store_status store_abuse_log(struct store *s, const char *contact, const struct ipaddr *ip, const char *domain,
				  int64_t when, const char *status, const char *message_id);

/* a small key/value cache with expiry (RDAP answers); value_r heap */
enum store_status store_cache_get(struct store *s, const char *key, int64_t now, char **value_r);
enum store_status store_cache_put(struct store *s, const char *key, const char *value, int64_t expires);

#endif
