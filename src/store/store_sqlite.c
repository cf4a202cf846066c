/*
 * store_sqlite: the SQLite backend of store.h. One connection per struct
 * store (not shared between threads), WAL journal, foreign keys on, a busy
 * timeout after which SQLITE_BUSY/LOCKED become STORE_TEMPFAIL. Every
 * statement is prepared once per connection (SQLITE_PREPARE_PERSISTENT, on
 * first use) and reused with sqlite3_bind_*; nothing is pasted into SQL.
 *
 * Portability (PostgreSQL later): types are INTEGER, TEXT and BLOB only
 * (PostgreSQL: BIGINT, TEXT, BYTEA); upserts use INSERT ... ON CONFLICT
 * (...) DO UPDATE with "excluded" (SQLite >= 3.24 and PostgreSQL); min/max
 * of two values are CASE expressions, not SQLite's scalar MIN/MAX.
 * SQLite-only, unavoidable or deliberate:
 *   - "id INTEGER PRIMARY KEY" as an auto-assigned row id (PostgreSQL:
 *     BIGINT GENERATED ALWAYS AS IDENTITY) and sqlite3_last_insert_rowid()
 *     (PostgreSQL: RETURNING id);
 *   - numbered parameters ?1 (PostgreSQL: $1);
 *   - "IS" for NULL-safe equality (PostgreSQL: IS NOT DISTINCT FROM);
 *   - the PRAGMAs and BEGIN IMMEDIATE (PostgreSQL: plain BEGIN);
 *   - INSERT OR FAIL for the multi-row inserts (PostgreSQL: plain INSERT,
 *     whose statements are atomic anyway; here it spares SQLite a
 *     statement journal, and a failed statement undoes its report or
 *     batch through the savepoint or rollback around it);
 *   - CROSS JOIN to fix the join order (PostgreSQL: plain JOIN).
 *
 * Rollups: a report's records count on the day (00:00 UTC) of its
 * date_begin, even when the report spans several days (most reporters send
 * one report per day, 00:00-24:00 UTC). "since" filters are applied at day
 * granularity: since is rounded down to its day.
 */
#include "store/store_backend.h"

#include "core/buf.h"
#include "core/mem.h"

#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

/* stored originals bigger than this are refused (the ingest limit is lower) */
#define RAW_MAX_LEN (4ULL << 30)

/*
 * Import batches: reports streamed in are committed together, every
 * STORE_BATCH_REPORTS reports or STORE_BATCH_RECORDS records, whichever
 * comes first, and at store_flush()/store_close() and before any read.
 * Each report sits in its own savepoint inside the batch, so a report that
 * fails is undone alone. One commit per report cost a quarter of the
 * import time (WAL frames rewritten for the same index pages, checkpoints).
 */
#define STORE_BATCH_REPORTS 64
#define STORE_BATCH_RECORDS 100000
/*
 * Rollups are summed in memory: per report by source IP (a report's
 * domain, day and reporter are fixed), then, once the report is complete,
 * per batch by (domain, day, reporter, source IP), and written when the
 * batch commits, in primary-key order (neighbouring keys share B-tree
 * pages). Writing them inside each report's savepoint made SQLite copy
 * every rollup page the report touched to its sub-journal: most of the
 * write traffic. Either table is written out early when full (sums add
 * up: the write is an upsert), so memory stays bounded (about 170 bytes an
 * entry) whatever the input. The per-(domain, day, reporter) totals that
 * summaries read (rollup_org_day) are summed per batch group alongside.
 */
#define STORE_ROLLUP_SLOTS 8192        /* per report: hash slots, a power of two; entries: half */
#define STORE_BATCH_ROLLUP_SLOTS 16384 /* per batch: likewise */
/*
 * Records and rollup rows are written with multi-row INSERTs of up to
 * STORE_MULTI_ROWS rows (and power-of-two remainders), so a statement's
 * set-up and tear-down (cursor, transaction check, halt, reset, bindings)
 * is paid once per STORE_MULTI_ROWS rows instead of once per row. Records
 * wait in memory until their statement is full or the report ends (a copy
 * of at most STORE_MULTI_ROWS records).
 */
#define STORE_MULTI_ROWS 64
#define STORE_MULTI_LEVELS 7 /* statements for 1, 2, 4, .. STORE_MULTI_ROWS rows */
/* page cache: 16 MB (SQLite's default is 2 MB) */
#define STORE_CACHE_KB 16384
/* pages of a new database (SQLite's default 4096; an existing database
   keeps its own): half the WAL frames and write calls per record */
#define STORE_PAGE_SIZE 16384
/* checkpoint the WAL every 4096 pages (64 MB; default 1000 pages): fewer,
   larger checkpoints during an import; the WAL file is cut back to
   STORE_WAL_LIMIT bytes after each */
#define STORE_WAL_CHECKPOINT_PAGES 4096
#define STORE_WAL_LIMIT 67108864
#define STR_(x) #x
#define STR(x) STR_(x)

/* ---- schema and migrations ---- */

/* migrations[i] takes the schema from version i to i + 1 */
static const char *const migrations[] = {
	/* 1: DMARC reports, raw store, rollups, abuse log, cache */
	"CREATE TABLE raw_blob ("
	" id INTEGER PRIMARY KEY,"
	" sha256 TEXT NOT NULL UNIQUE,"
	" rawlen INTEGER NOT NULL,"
	" data BLOB NOT NULL);"

	"CREATE TABLE agg_report ("
	" id INTEGER PRIMARY KEY,"
	" org_name TEXT NOT NULL,"
	" email TEXT NOT NULL,"
	" extra_contact TEXT NOT NULL,"
	" report_id TEXT NOT NULL,"
	" domain TEXT NOT NULL,"
	" date_begin INTEGER NOT NULL,"
	" date_end INTEGER NOT NULL,"
	" format INTEGER NOT NULL,"
	" generator TEXT NOT NULL,"
	" adkim TEXT NOT NULL, aspf TEXT NOT NULL,"
	" p TEXT NOT NULL, sp TEXT NOT NULL, np TEXT NOT NULL,"
	" pct INTEGER,"
	" fo TEXT NOT NULL, testing TEXT NOT NULL, discovery_method TEXT NOT NULL,"
	" errors TEXT NOT NULL,"
	" nrec INTEGER NOT NULL,"
	" total_count INTEGER NOT NULL,"
	" source TEXT NOT NULL,"
	" imported_at INTEGER NOT NULL,"
	" raw_id INTEGER REFERENCES raw_blob(id),"
	" UNIQUE (org_name, report_id, domain));"
	"CREATE INDEX agg_report_domain_begin ON agg_report (domain, date_begin);"
	"CREATE INDEX agg_report_begin ON agg_report (date_begin);"

	"CREATE TABLE agg_record ("
	" id INTEGER PRIMARY KEY,"
	" report INTEGER NOT NULL REFERENCES agg_report(id) ON DELETE CASCADE,"
	" source_ip TEXT NOT NULL,"
	" count INTEGER NOT NULL,"
	" disposition TEXT NOT NULL,"
	" dkim_eval TEXT NOT NULL,"
	" spf_eval TEXT NOT NULL,"
	" header_from TEXT NOT NULL,"
	" envelope_from TEXT NOT NULL,"
	" envelope_to TEXT NOT NULL,"
	" reasons TEXT NOT NULL);"
	"CREATE INDEX agg_record_report ON agg_record (report);"
	"CREATE INDEX agg_record_ip ON agg_record (source_ip);"

	"CREATE TABLE agg_auth ("
	" id INTEGER PRIMARY KEY,"
	" record INTEGER NOT NULL REFERENCES agg_record(id) ON DELETE CASCADE,"
	" kind TEXT NOT NULL,"
	" domain TEXT NOT NULL,"
	" selector TEXT NOT NULL,"
	" scope TEXT NOT NULL,"
	" result TEXT NOT NULL,"
	" human TEXT NOT NULL);"
	"CREATE INDEX agg_auth_record ON agg_auth (record);"

	"CREATE TABLE import_error ("
	" id INTEGER PRIMARY KEY,"
	" created INTEGER NOT NULL,"
	" source TEXT NOT NULL,"
	" reason TEXT NOT NULL,"
	" raw_id INTEGER REFERENCES raw_blob(id));"
	"CREATE INDEX import_error_raw ON import_error (raw_id, reason);"

	"CREATE TABLE failure_report ("
	" id INTEGER PRIMARY KEY,"
	" dedup TEXT NOT NULL UNIQUE,"
	" feedback_type TEXT NOT NULL, user_agent TEXT NOT NULL, version TEXT NOT NULL,"
	" reported_domain TEXT NOT NULL, auth_failure TEXT NOT NULL,"
	" source_ip TEXT,"
	" arrival_date INTEGER NOT NULL,"
	" original_mail_from TEXT NOT NULL, original_rcpt_to TEXT NOT NULL,"
	" reported_uri TEXT NOT NULL, authentication_results TEXT NOT NULL,"
	" dkim_domain TEXT NOT NULL, dkim_selector TEXT NOT NULL, dkim_identity TEXT NOT NULL,"
	" spf_dns TEXT NOT NULL, delivery_result TEXT NOT NULL, identity_alignment TEXT NOT NULL,"
	" header_from TEXT NOT NULL, subject TEXT NOT NULL, message_id TEXT NOT NULL,"
	" reporter TEXT NOT NULL, report_date INTEGER NOT NULL,"
	" source TEXT NOT NULL, imported_at INTEGER NOT NULL,"
	" raw_id INTEGER REFERENCES raw_blob(id));"
	"CREATE INDEX failure_report_domain ON failure_report (reported_domain, arrival_date);"

	"CREATE TABLE rollup_day ("
	" domain TEXT NOT NULL,"
	" day INTEGER NOT NULL,"
	" source_ip TEXT NOT NULL,"
	" reporter TEXT NOT NULL,"
	" total INTEGER NOT NULL,"
	" dmarc_pass INTEGER NOT NULL,"
	" spf_aligned_pass INTEGER NOT NULL,"
	" dkim_aligned_pass INTEGER NOT NULL,"
	" fail_both INTEGER NOT NULL,"
	" disp_none INTEGER NOT NULL,"
	" disp_quarantine INTEGER NOT NULL,"
	" disp_reject INTEGER NOT NULL,"
	" first_seen INTEGER NOT NULL,"
	" last_seen INTEGER NOT NULL,"
	" PRIMARY KEY (domain, day, source_ip, reporter));"
	/* all-domain summaries by time; per-IP reporter look-ups */
	"CREATE INDEX rollup_day_day ON rollup_day (day);"
	"CREATE INDEX rollup_day_ip ON rollup_day (source_ip, domain, day);"

	"CREATE TABLE abuse_log ("
	" id INTEGER PRIMARY KEY,"
	" contact TEXT NOT NULL,"
	" source_ip TEXT NOT NULL,"
	" domain TEXT NOT NULL,"
	" sent_at INTEGER NOT NULL,"
	" status TEXT NOT NULL,"
	" message_id TEXT NOT NULL);"
	"CREATE INDEX abuse_log_contact_ip ON abuse_log (contact, source_ip, sent_at);"

	"CREATE TABLE kv_cache ("
	" key TEXT PRIMARY KEY,"
	" value TEXT NOT NULL,"
	" expires INTEGER NOT NULL);",

	/* 2: a record's DKIM and SPF results in the record row (one row per
	   result cost two index inserts per record: a third of the import
	   time); no index on agg_record.source_ip (nothing reads it: per-IP
	   questions go to rollup_day, which has one). Each column holds the
	   results one per line, fields tab-separated (parsed values never
	   contain either): dkim "domain selector result human", spf "domain
	   scope result human". group_concat: PostgreSQL string_agg. */
	"ALTER TABLE agg_record ADD COLUMN dkim TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE agg_record ADD COLUMN spf TEXT NOT NULL DEFAULT '';"
	"UPDATE agg_record SET"
	" dkim = COALESCE((SELECT group_concat(domain || char(9) || selector || char(9) || result || char(9) || human,"
	" char(10)) FROM agg_auth WHERE record = agg_record.id AND kind = 'dkim'), ''),"
	" spf = COALESCE((SELECT group_concat(domain || char(9) || scope || char(9) || result || char(9) || human,"
	" char(10)) FROM agg_auth WHERE record = agg_record.id AND kind = 'spf'), '');"
	"DROP TABLE agg_auth;"
	"DROP INDEX agg_record_ip;",

	/* 3: no index on agg_record.report (an index insert per record, about
	   6% of the import time): a report's records are inserted
	   together, so their ids run first_record .. first_record + nrec - 1
	   (NULL when the report has none). Nothing deletes reports yet; a
	   purge must delete records by that id range before their report
	   (ON DELETE CASCADE alone would scan agg_record). */
	"ALTER TABLE agg_report ADD COLUMN first_record INTEGER;"
	"UPDATE agg_report SET first_record = (SELECT MIN(id) FROM agg_record WHERE report = agg_report.id);"
	"DROP INDEX IF EXISTS agg_record_report;",

	/* 4: mamorid's side: the message log (one row per message checked,
	   what the console and outgoing DMARC aggregate reports read), the
	   quarantine (rows for files under quarantine.dir; state moves
	   held -> releasing -> released, or -> deleted/failed), account locks
	   of the submission guard and their history. Lists (rcpts, signals)
	   are one item per line. Times are Unix seconds. */
	"CREATE TABLE msglog ("
	" id INTEGER PRIMARY KEY,"
	" time INTEGER NOT NULL,"
	" queue_id TEXT NOT NULL DEFAULT '',"
	" direction TEXT NOT NULL DEFAULT 'in'," /* in | out (authenticated submission) */
	" client_ip TEXT NOT NULL DEFAULT '',"
	" country TEXT NOT NULL DEFAULT '',"
	" helo TEXT NOT NULL DEFAULT '',"
	" sasl_user TEXT NOT NULL DEFAULT '',"
	" mail_from TEXT NOT NULL DEFAULT '',"
	" rcpts TEXT NOT NULL DEFAULT '',"
	" header_from TEXT NOT NULL DEFAULT '',"
	" subject TEXT NOT NULL DEFAULT '',"
	" message_id TEXT NOT NULL DEFAULT '',"
	" size INTEGER NOT NULL DEFAULT 0,"
	" spf TEXT NOT NULL DEFAULT '',"
	" dkim TEXT NOT NULL DEFAULT '',"
	" dmarc TEXT NOT NULL DEFAULT '',"
	" arc TEXT NOT NULL DEFAULT '',"
	" dmarc_domain TEXT NOT NULL DEFAULT '',"
	" dmarc_policy TEXT NOT NULL DEFAULT '',"
	" auth_results TEXT NOT NULL DEFAULT '',"
	" signals TEXT NOT NULL DEFAULT '',"
	" score INTEGER NOT NULL DEFAULT 0,"
	" action TEXT NOT NULL,"
	" reason TEXT NOT NULL DEFAULT '',"
	" quarantine_id INTEGER);"
	"CREATE INDEX msglog_time ON msglog(time);"
	"CREATE TABLE quarantine ("
	" id INTEGER PRIMARY KEY,"
	" time INTEGER NOT NULL,"
	" queue_id TEXT NOT NULL DEFAULT '',"
	" file TEXT NOT NULL UNIQUE," /* name under quarantine.dir */
	" sha256 TEXT NOT NULL,"
	" size INTEGER NOT NULL,"
	" client_ip TEXT NOT NULL DEFAULT '',"
	" mail_from TEXT NOT NULL DEFAULT '',"
	" rcpts TEXT NOT NULL,"
	" header_from TEXT NOT NULL DEFAULT '',"
	" subject TEXT NOT NULL DEFAULT '',"
	" reasons TEXT NOT NULL DEFAULT '',"
	" state TEXT NOT NULL DEFAULT 'held',"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" state_time INTEGER,"
	" state_detail TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX quarantine_time ON quarantine(time);"
	"CREATE TABLE account_lock ("
	" account TEXT PRIMARY KEY,"
	" locked_at INTEGER NOT NULL,"
	" until INTEGER NOT NULL," /* 0: until unlocked */
	" reason TEXT NOT NULL DEFAULT '',"
	" by_whom TEXT NOT NULL DEFAULT '');" /* "mamorid" or the admin */
	"CREATE TABLE account_event ("
	" id INTEGER PRIMARY KEY,"
	" time INTEGER NOT NULL,"
	" account TEXT NOT NULL,"
	" event TEXT NOT NULL," /* lock | unlock | limit | deny */
	" client_ip TEXT NOT NULL DEFAULT '',"
	" country TEXT NOT NULL DEFAULT '',"
	" detail TEXT NOT NULL DEFAULT '',"
	" by_whom TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX account_event_account ON account_event(account, time);",

	/* 5: cheaper import, same answers. rollup_day becomes WITHOUT ROWID
	   (the primary key is the table) and loses both its indexes: three
	   B-tree inserts fewer per row. Summaries (totals, by day, by
	   reporter) read the new rollup_org_day, per (domain, day, reporter),
	   a few rows per report; per-source questions without a domain visit
	   the domains active since the first day (rollup_org_day's index on
	   day), each through rollup_day's primary key; "which reporters saw
	   this IP" seeks (domain, day, IP) for each day the domain has data.
	   The sum columns carry no NOT NULL (the store always binds numbers):
	   with it, SQLite gives each multi-row upsert a statement journal.
	   agg_record loses its foreign key: the report id is the row the same
	   savepoint just inserted, and the check was a look-up per record. */
	"CREATE TABLE rollup_day_new ("
	" domain TEXT NOT NULL,"
	" day INTEGER NOT NULL,"
	" source_ip TEXT NOT NULL,"
	" reporter TEXT NOT NULL,"
	" total INTEGER,"
	" dmarc_pass INTEGER,"
	" spf_aligned_pass INTEGER,"
	" dkim_aligned_pass INTEGER,"
	" fail_both INTEGER,"
	" disp_none INTEGER,"
	" disp_quarantine INTEGER,"
	" disp_reject INTEGER,"
	" first_seen INTEGER,"
	" last_seen INTEGER,"
	" PRIMARY KEY (domain, day, source_ip, reporter)) WITHOUT ROWID;"
	"INSERT INTO rollup_day_new SELECT domain, day, source_ip, reporter, total, dmarc_pass, spf_aligned_pass,"
	" dkim_aligned_pass, fail_both, disp_none, disp_quarantine, disp_reject, first_seen, last_seen"
	" FROM rollup_day ORDER BY domain, day, source_ip, reporter;"
	"DROP TABLE rollup_day;"
	"ALTER TABLE rollup_day_new RENAME TO rollup_day;"

	"CREATE TABLE rollup_org_day ("
	" domain TEXT NOT NULL,"
	" day INTEGER NOT NULL,"
	" reporter TEXT NOT NULL,"
	" total INTEGER NOT NULL,"
	" dmarc_pass INTEGER NOT NULL,"
	" spf_aligned_pass INTEGER NOT NULL,"
	" dkim_aligned_pass INTEGER NOT NULL,"
	" disp_none INTEGER NOT NULL,"
	" disp_quarantine INTEGER NOT NULL,"
	" disp_reject INTEGER NOT NULL,"
	" PRIMARY KEY (domain, day, reporter)) WITHOUT ROWID;"
	"CREATE INDEX rollup_org_day_day ON rollup_org_day (day);"
	"INSERT INTO rollup_org_day SELECT domain, day, reporter, SUM(total), SUM(dmarc_pass), SUM(spf_aligned_pass),"
	" SUM(dkim_aligned_pass), SUM(disp_none), SUM(disp_quarantine), SUM(disp_reject)"
	" FROM rollup_day GROUP BY domain, day, reporter;"

	"CREATE TABLE agg_record_new ("
	" id INTEGER PRIMARY KEY,"
	" report INTEGER NOT NULL," /* agg_report.id */
	" source_ip TEXT NOT NULL,"
	" count INTEGER NOT NULL,"
	" disposition TEXT NOT NULL,"
	" dkim_eval TEXT NOT NULL,"
	" spf_eval TEXT NOT NULL,"
	" header_from TEXT NOT NULL,"
	" envelope_from TEXT NOT NULL,"
	" envelope_to TEXT NOT NULL,"
	" reasons TEXT NOT NULL,"
	" dkim TEXT NOT NULL DEFAULT '',"
	" spf TEXT NOT NULL DEFAULT '');"
	"INSERT INTO agg_record_new SELECT id, report, source_ip, count, disposition, dkim_eval, spf_eval,"
	" header_from, envelope_from, envelope_to, reasons, dkim, spf FROM agg_record ORDER BY id;"
	"DROP TABLE agg_record;"
	"ALTER TABLE agg_record_new RENAME TO agg_record;",

	/* 6: the quarantine recognises a message it already holds. mamorid
	   computes resend_key from the envelope, Message-ID and body; when it
	   dies between committing a quarantine row and answering the MTA, the
	   client sends the same message again and must not get a second copy
	   in the quarantine. Unique among non-empty keys (a partial index:
	   SQLite >= 3.8 and PostgreSQL). */
	"ALTER TABLE quarantine ADD COLUMN resend_key TEXT NOT NULL DEFAULT '';"
	"CREATE UNIQUE INDEX quarantine_resend ON quarantine (resend_key) WHERE resend_key <> '';",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

int store_sqlite_schema_version(void)
{
	return SCHEMA_VERSION;
}

/* ---- statements ---- */

/* summary filters: "D" variants take a domain (?1), "A" ones all domains;
   both bind ?1 (unused by A) and ?2 = first day. Per-source questions
   over all domains visit each domain active since that day (from the
   small rollup_org_day), each through the primary key of rollup_day
   (domain, day, ...); CROSS JOIN keeps that order (left to right), which
   the planner would otherwise trade for a walk of the whole by-IP index
   to save the sort of GROUP BY source_ip */
#define W_D " WHERE domain = ?1 AND day >= ?2"
#define W_A " WHERE day >= ?2"
#define FROM_A_SRC                                                                                             \
	" FROM (SELECT DISTINCT domain AS active FROM rollup_org_day WHERE day >= ?2) a CROSS JOIN rollup_day"  \
	" WHERE rollup_day.domain = a.active AND rollup_day.day >= ?2"
#define SUMS                                                                                                   \
	"SUM(total), SUM(dmarc_pass), SUM(spf_aligned_pass), SUM(dkim_aligned_pass), SUM(disp_none),"         \
	" SUM(disp_quarantine), SUM(disp_reject)"
#define SOURCES_SQL(FROM)                                                                                      \
	"SELECT source_ip, domain, SUM(total), SUM(dmarc_pass), SUM(spf_aligned_pass), SUM(dkim_aligned_pass),"  \
	" SUM(fail_both), MIN(first_seen), MAX(last_seen), COUNT(DISTINCT reporter)" FROM                       \
	" GROUP BY source_ip, domain HAVING SUM(fail_both) >= ?3 ORDER BY 7 DESC, 3 DESC, 1"

enum stmt_id {
	Q_BEGIN,
	Q_BEGIN_READ,
	Q_COMMIT,
	Q_ROLLBACK,
	Q_SAVEPOINT,
	Q_RELEASE,
	Q_ROLLBACK_TO,
	Q_REPORT_EXISTS,
	Q_REPORT_FINISH,
	Q_RAW_FIND,
	Q_RAW_INSERT,
	Q_REPORT_INSERT,
	Q_ORG_UPSERT,
	Q_ERR_FIND_RAW,
	Q_ERR_FIND_SRC,
	Q_ERR_INSERT,
	Q_ERR_LIST,
	Q_RAW_OF_ERR,
	Q_RAW_OF_REPORT,
	Q_RAW_GET,
	Q_FAIL_INSERT,
	Q_SUM_REPORTS_D,
	Q_SUM_REPORTS_A,
	Q_SUM_TOTALS_D,
	Q_SUM_TOTALS_A,
	Q_SUM_REPORTERS_D,
	Q_SUM_REPORTERS_A,
	Q_SUM_SOURCES_D,
	Q_SUM_SOURCES_A,
	Q_SUM_DAYS_D,
	Q_SUM_DAYS_A,
	Q_SOURCES_D,
	Q_SOURCES_A,
	Q_SRC_REPORTERS_D,
	Q_SRC_REPORTERS_A,
	Q_ABUSE_LAST,
	Q_ABUSE_LOG,
	Q_CACHE_GET,
	Q_CACHE_PUT,
	Q_COUNT
};

static const char *const stmt_sql[Q_COUNT] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_BEGIN_READ] = "BEGIN",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_SAVEPOINT] = "SAVEPOINT one",
	[Q_RELEASE] = "RELEASE one",
	[Q_ROLLBACK_TO] = "ROLLBACK TO one",
	[Q_REPORT_FINISH] = "UPDATE agg_report SET nrec = ?2, total_count = ?3, format = ?4, first_record = ?5"
			    " WHERE id = ?1",
	[Q_REPORT_EXISTS] = "SELECT id FROM agg_report WHERE org_name = ?1 AND report_id = ?2 AND domain = ?3",
	[Q_RAW_FIND] = "SELECT id FROM raw_blob WHERE sha256 = ?1",
	[Q_RAW_INSERT] = "INSERT INTO raw_blob (sha256, rawlen, data) VALUES (?1, ?2, ?3)",
	[Q_REPORT_INSERT] =
		"INSERT INTO agg_report (org_name, email, extra_contact, report_id, domain, date_begin, date_end,"
		" format, generator, adkim, aspf, p, sp, np, pct, fo, testing, discovery_method, errors, nrec,"
		" total_count, source, imported_at, raw_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
		" ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
	[Q_ORG_UPSERT] =
		"INSERT INTO rollup_org_day (domain, day, reporter, total, dmarc_pass, spf_aligned_pass,"
		" dkim_aligned_pass, disp_none, disp_quarantine, disp_reject)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
		" ON CONFLICT (domain, day, reporter) DO UPDATE SET"
		" total = rollup_org_day.total + excluded.total,"
		" dmarc_pass = rollup_org_day.dmarc_pass + excluded.dmarc_pass,"
		" spf_aligned_pass = rollup_org_day.spf_aligned_pass + excluded.spf_aligned_pass,"
		" dkim_aligned_pass = rollup_org_day.dkim_aligned_pass + excluded.dkim_aligned_pass,"
		" disp_none = rollup_org_day.disp_none + excluded.disp_none,"
		" disp_quarantine = rollup_org_day.disp_quarantine + excluded.disp_quarantine,"
		" disp_reject = rollup_org_day.disp_reject + excluded.disp_reject",
	[Q_ERR_FIND_RAW] = "SELECT id FROM import_error WHERE raw_id = ?1 AND reason = ?2",
	[Q_ERR_FIND_SRC] = "SELECT id FROM import_error WHERE raw_id IS NULL AND source = ?1 AND reason = ?2",
	[Q_ERR_INSERT] = "INSERT INTO import_error (created, source, reason, raw_id) VALUES (?1, ?2, ?3, ?4)",
	[Q_ERR_LIST] = "SELECT e.id, e.created, e.source, e.reason, b.rawlen FROM import_error e"
		       " LEFT JOIN raw_blob b ON b.id = e.raw_id ORDER BY e.id DESC",
	[Q_RAW_OF_ERR] = "SELECT raw_id FROM import_error WHERE id = ?1",
	[Q_RAW_OF_REPORT] = "SELECT raw_id FROM agg_report WHERE id = ?1",
	[Q_RAW_GET] = "SELECT rawlen, data FROM raw_blob WHERE id = ?1",
	[Q_FAIL_INSERT] =
		"INSERT INTO failure_report (dedup, feedback_type, user_agent, version, reported_domain,"
		" auth_failure, source_ip, arrival_date, original_mail_from, original_rcpt_to, reported_uri,"
		" authentication_results, dkim_domain, dkim_selector, dkim_identity, spf_dns, delivery_result,"
		" identity_alignment, header_from, subject, message_id, reporter, report_date, source,"
		" imported_at, raw_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
		" ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)",
	[Q_SUM_REPORTS_D] = "SELECT COUNT(*) FROM agg_report WHERE domain = ?1 AND date_begin >= ?2",
	[Q_SUM_REPORTS_A] = "SELECT COUNT(*) FROM agg_report WHERE date_begin >= ?2",
	[Q_SUM_TOTALS_D] = "SELECT " SUMS " FROM rollup_org_day" W_D,
	[Q_SUM_TOTALS_A] = "SELECT " SUMS " FROM rollup_org_day" W_A,
	[Q_SUM_REPORTERS_D] = "SELECT reporter, SUM(total), SUM(dmarc_pass) FROM rollup_org_day" W_D
			      " GROUP BY reporter ORDER BY 2 DESC, 1 LIMIT ?3",
	[Q_SUM_REPORTERS_A] = "SELECT reporter, SUM(total), SUM(dmarc_pass) FROM rollup_org_day" W_A
			      " GROUP BY reporter ORDER BY 2 DESC, 1 LIMIT ?3",
	[Q_SUM_SOURCES_D] = "SELECT source_ip, SUM(total), SUM(dmarc_pass) FROM rollup_day" W_D
			    " GROUP BY source_ip ORDER BY 2 DESC, 1 LIMIT ?3",
	[Q_SUM_SOURCES_A] = "SELECT source_ip, SUM(total), SUM(dmarc_pass)" FROM_A_SRC
			    " GROUP BY source_ip ORDER BY 2 DESC, 1 LIMIT ?3",
	[Q_SUM_DAYS_D] = "SELECT day, " SUMS " FROM rollup_org_day" W_D " GROUP BY day ORDER BY day",
	[Q_SUM_DAYS_A] = "SELECT day, " SUMS " FROM rollup_org_day" W_A " GROUP BY day ORDER BY day",
	[Q_SOURCES_D] = SOURCES_SQL(" FROM rollup_day" W_D),
	[Q_SOURCES_A] = SOURCES_SQL(FROM_A_SRC),
	[Q_SRC_REPORTERS_D] = "SELECT DISTINCT reporter FROM (SELECT DISTINCT day AS active FROM rollup_org_day"
			      " WHERE domain = ?2 AND day >= ?3) a CROSS JOIN rollup_day WHERE rollup_day.domain = ?2"
			      " AND rollup_day.day = a.active AND rollup_day.source_ip = ?1 ORDER BY reporter",
	[Q_SRC_REPORTERS_A] = "SELECT DISTINCT reporter FROM (SELECT DISTINCT domain AS active_domain, day AS active"
			      " FROM rollup_org_day WHERE day >= ?3) a CROSS JOIN rollup_day"
			      " WHERE rollup_day.domain = a.active_domain AND rollup_day.day = a.active"
			      " AND rollup_day.source_ip = ?1 ORDER BY reporter",
	[Q_ABUSE_LAST] = "SELECT MAX(sent_at) FROM abuse_log WHERE contact = ?1 AND source_ip = ?2"
			 " AND status = 'sent'",
	[Q_ABUSE_LOG] = "INSERT INTO abuse_log (contact, source_ip, domain, sent_at, status, message_id)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[Q_CACHE_GET] = "SELECT value FROM kv_cache WHERE key = ?1 AND expires > ?2",
	[Q_CACHE_PUT] = "INSERT INTO kv_cache (key, value, expires) VALUES (?1, ?2, ?3)"
			" ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires",
};

/* the statements that summaries run, for EXPLAIN QUERY PLAN in tests */
static const enum stmt_id read_stmts[] = {
	Q_SUM_REPORTS_D, Q_SUM_REPORTS_A, Q_SUM_TOTALS_D, Q_SUM_TOTALS_A, Q_SUM_REPORTERS_D, Q_SUM_REPORTERS_A,
	Q_SUM_SOURCES_D, Q_SUM_SOURCES_A, Q_SUM_DAYS_D, Q_SUM_DAYS_A, Q_SOURCES_D, Q_SOURCES_A,
	Q_SRC_REPORTERS_D, Q_SRC_REPORTERS_A,
};

const char *store_sqlite_read_sql(size_t i)
{
	return i < sizeof read_stmts / sizeof read_stmts[0] ? stmt_sql[read_stmts[i]] : NULL;
}

/* message counts of a rollup row */
struct roll_sums {
	uint64_t total, dmarc_pass, spf_pass, dkim_pass, fail_both, none, quarantine, reject;
};

/* one source's sums: in the report table (group 0) or the batch table
   (group: index in sqlite_store.grp) */
struct rollup_entry {
	unsigned group;
	uint32_t slot;            /* its place in rollup_table.slot */
	struct ipaddr ip;
	char text[IP_STRLEN];     /* ip as stored */
	struct roll_sums c;
	int64_t first_seen, last_seen;
};

/* open addressing on (group, source IP) over a dense array of entries, so
   walking and emptying the table touch only the entries in use */
struct rollup_table {
	uint32_t *slot;           /* cap: 0 free, else entry index + 1 */
	struct rollup_entry *e;   /* cap / 2 */
	size_t n, cap;            /* cap a power of two */
};

/* the (domain, day, reporter) part of a batch rollup key, with the
   group's totals (its rollup_org_day row) */
struct rollup_group {
	char domain[256];
	char reporter[256];
	int64_t day;
	struct roll_sums c;
	bool any;                 /* a report of the group had records */
};

/* a rollup row to write: its key and sums; dom and rep order the domain
   and reporter names as strcmp does (ranks among the batch's groups) */
struct roll_order {
	const char *domain, *reporter;
	int64_t day;
	uint32_t dom, rep;
	const struct rollup_entry *e;
};

/* multi-row statements: head, one row of nparam placeholders (repeated),
   tail */
enum multi_id { M_RECORD, M_ROLLUP, M_COUNT };

/* the text fields of a record waiting for its INSERT: offsets of
   NUL-terminated strings in sqlite_store.pend_text */
enum { PT_IP, PT_DISP, PT_DKIM_EVAL, PT_SPF_EVAL, PT_HFROM, PT_EFROM, PT_ETO, PT_REASONS, PT_DKIM, PT_SPF, PT_COUNT };
struct pending_record {
	int64_t count;
	size_t off[PT_COUNT];
	size_t len[PT_COUNT];
};

struct sqlite_store {
	struct store base;
	sqlite3 *db;
	sqlite3_stmt *stmt[Q_COUNT];
	sqlite3_stmt *multi[M_COUNT][STORE_MULTI_LEVELS];
	EVP_MD *sha256;
	/* the import batch: one transaction over many reports */
	bool batch;
	unsigned batch_reports;
	uint64_t batch_records;
	/* the report being streamed in (store_agg_begin .. end/abort), under
	   the savepoint "one" */
	bool in_report;
	int64_t report_row;
	int64_t report_first; /* its first record's id, 0 before one */
	uint64_t report_nrec;
	struct pending_record pend[STORE_MULTI_ROWS]; /* its records not yet inserted */
	unsigned npend;
	struct buf pend_text;
	struct rollup_table rep;  /* the open report's rollups, by source IP */
	struct roll_sums rep_tot; /* and its totals */
	bool rep_any;             /* it has records */
	struct rollup_table bat;  /* complete reports' rollups, by group and IP */
	struct rollup_group grp[STORE_BATCH_REPORTS];
	unsigned ngrp;
	struct roll_order *order; /* sort space: bat.cap / 2 */
};

static struct sqlite_store *sq(struct store *s)
{
	return (struct sqlite_store *)s;
}

static enum store_status status_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW: return STORE_OK;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return STORE_TEMPFAIL;
	case SQLITE_CONSTRAINT: return STORE_DUPLICATE;
	default: return STORE_ERROR;
	}
}

/* a failed step: busy/locked is temporary, anything else an error */
static enum store_status failed_status(int rc)
{
	return status_of(rc) == STORE_TEMPFAIL ? STORE_TEMPFAIL : STORE_ERROR;
}

static void db_err(struct sqlite_store *s, int rc, const char *what, char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s%s", what, sqlite3_errstr(rc),
			 status_of(rc) == STORE_TEMPFAIL ? " (database busy)" : "");
	(void)s;
}

/* the statement, prepared on first use and kept; NULL on error */
static sqlite3_stmt *stmt(struct sqlite_store *s, enum stmt_id id, int *rc_r)
{
	if (s->stmt[id] == NULL) {
		int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[id], NULL);
		if (rc != SQLITE_OK) {
			*rc_r = rc;
			return NULL;
		}
	}
	*rc_r = SQLITE_OK;
	return s->stmt[id];
}

static void done(sqlite3_stmt *st)
{
	if (st != NULL) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
}

/* runs a statement that returns no rows (binding nothing) */
static int exec_stmt(struct sqlite_store *s, enum stmt_id id)
{
	int rc;
	sqlite3_stmt *st = stmt(s, id, &rc);
	if (st == NULL)
		return rc;
	rc = sqlite3_step(st);
	done(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void rollback(struct sqlite_store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		exec_stmt(s, Q_ROLLBACK);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v != NULL ? v : "", -1, SQLITE_STATIC);
}

static void bind_char(sqlite3_stmt *st, int i, char c)
{
	char one[2] = { c, '\0' };
	sqlite3_bind_text(st, i, one, c != 0 ? 1 : 0, SQLITE_TRANSIENT);
}

static int64_t clamp_u64(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static uint64_t col_u64(sqlite3_stmt *st, int i)
{
	int64_t v = sqlite3_column_int64(st, i);
	return v < 0 ? 0 : (uint64_t)v;
}

static void col_text(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(out, outlen, "%s", t != NULL ? (const char *)t : "");
}

/* ---- open / close ---- */

static const struct store_ops sqlite_ops;
static void sq_agg_abort(struct store *base);
static int batch_commit(struct sqlite_store *s);
static void batch_lost(struct sqlite_store *s);
static void roll_init(struct rollup_table *t, size_t cap);
static void roll_free(struct rollup_table *t);

static int migrate(struct sqlite3 *db, char *err, size_t errlen)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db,
			      "BEGIN IMMEDIATE;"
			      "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);",
			      NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_stmt *st = NULL;
	int version = 0;
	bool have_row = false;
	rc = sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		version = sqlite3_column_int(st, 0);
		have_row = true;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto fail;
	if (version > SCHEMA_VERSION) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		snprintf(err, errlen, "database schema version %d is newer than this mamori's (%d)", version,
			 SCHEMA_VERSION);
		return -1;
	}
	for (int v = version; v < SCHEMA_VERSION; v++) {
		if ((rc = sqlite3_exec(db, migrations[v], NULL, NULL, &msg)) != SQLITE_OK)
			goto fail;
	}
	if (version != SCHEMA_VERSION) {
		char sql[128];
		snprintf(sql, sizeof sql,
			 have_row ? "UPDATE schema_version SET version = %d" : "INSERT INTO schema_version VALUES (%d)",
			 SCHEMA_VERSION);
		if ((rc = sqlite3_exec(db, sql, NULL, NULL, &msg)) != SQLITE_OK)
			goto fail;
	}
	if ((rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &msg)) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "schema: %s", msg != NULL ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

struct store *store_sqlite_open(const char *path, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	/* NOMUTEX: a connection is used by one thread at a time (see the top
	   of this file), so SQLite's own per-call connection mutex is only
	   cost (two lock/unlock pairs per bound value) */
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, STORE_SQLITE_BUSY_MS);
	char *msg = NULL;
	rc = sqlite3_exec(db,
			  "PRAGMA page_size = " STR(STORE_PAGE_SIZE) ";"
			  "PRAGMA journal_mode = WAL;"
			  "PRAGMA synchronous = NORMAL;"
			  "PRAGMA foreign_keys = ON;"
			  "PRAGMA cache_size = -" STR(STORE_CACHE_KB) ";"
			  "PRAGMA wal_autocheckpoint = " STR(STORE_WAL_CHECKPOINT_PAGES) ";"
			  "PRAGMA journal_size_limit = " STR(STORE_WAL_LIMIT) ";",
			  NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, msg != NULL ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		sqlite3_close(db);
		return NULL;
	}
	char merr[256];
	if (migrate(db, merr, sizeof merr) < 0) {
		snprintf(err, errlen, "%s: %s", path, merr);
		sqlite3_close(db);
		return NULL;
	}
	struct sqlite_store *s = xcalloc(1, sizeof *s);
	s->base.ops = &sqlite_ops;
	s->db = db;
	roll_init(&s->rep, STORE_ROLLUP_SLOTS);
	roll_init(&s->bat, STORE_BATCH_ROLLUP_SLOTS);
	s->order = xcalloc(s->bat.cap / 2, sizeof *s->order);
	s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	return &s->base;
}

sqlite3 *store_sqlite_db(struct store *base)
{
	if (base == NULL || base->ops != &sqlite_ops)
		return NULL;
	struct sqlite_store *s = sq(base);
	if (s->in_report)
		sq_agg_abort(base);
	return batch_commit(s) == SQLITE_OK ? s->db : NULL;
}

void store_sqlite_set_busy_timeout(struct store *s, int ms)
{
	sqlite3_busy_timeout(sq(s)->db, ms);
}

static void sq_close(struct store *base)
{
	struct sqlite_store *s = sq(base);
	if (s->in_report)
		sq_agg_abort(base);
	batch_commit(s);
	roll_free(&s->rep);
	roll_free(&s->bat);
	xfree(s->order);
	buf_free(&s->pend_text);
	EVP_MD_free(s->sha256);
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	for (int i = 0; i < M_COUNT; i++)
		for (int l = 0; l < STORE_MULTI_LEVELS; l++)
			sqlite3_finalize(s->multi[i][l]);
	sqlite3_close(s->db);
	xfree(s);
}

/* ---- raw blobs ---- */

/* md: the store's fetched SHA-256 (EVP_sha256() fetches it on every call) */
static void sha256_hex(const EVP_MD *md_type, const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, md_type != NULL ? md_type : EVP_sha256(), NULL);
	static const char hex[] = "0123456789abcdef";
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

/*
 * data as a zlib stream (RFC 1950) of stored deflate blocks (RFC 1951
 * 3.2.4), what compress2() at level 0 writes, without its 256 KB of
 * compressor state to set up per call; heap, *zlen_r bytes.
 */
static unsigned char *zlib_stored(const void *data, size_t len, uLongf *zlen_r)
{
	enum { STORED_MAX = 65535 };
	size_t nblocks = len / STORED_MAX + 1;
	size_t zlen = 2 + nblocks * 5 + len + 4;
	unsigned char *z = xmalloc(zlen), *o = z;
	const unsigned char *in = data;
	*o++ = 0x78; /* deflate, 32 KB window */
	*o++ = 0x01; /* no dictionary, fastest; (0x78 << 8 | 0x01) % 31 == 0 */
	size_t left = len;
	do {
		size_t n = left > STORED_MAX ? STORED_MAX : left;
		*o++ = n == left ? 1 : 0; /* BFINAL on the last block, BTYPE 00 */
		o[0] = (unsigned char)(n & 0xff);
		o[1] = (unsigned char)(n >> 8);
		o[2] = (unsigned char)(~n & 0xff);
		o[3] = (unsigned char)((~n >> 8) & 0xff);
		o += 4;
		if (n > 0)
			memcpy(o, in, n);
		o += n;
		in += n;
		left -= n;
	} while (left > 0);
	/* adler32 takes uInt lengths */
	uLong ad = adler32(0L, Z_NULL, 0);
	for (size_t off = 0; off < len;) {
		size_t n = len - off > (1u << 30) ? (1u << 30) : len - off;
		ad = adler32(ad, (const Bytef *)data + off, (uInt)n);
		off += n;
	}
	*o++ = (unsigned char)(ad >> 24);
	*o++ = (unsigned char)(ad >> 16);
	*o++ = (unsigned char)(ad >> 8);
	*o++ = (unsigned char)ad;
	*zlen_r = (uLongf)(o - z);
	return z;
}

/*
 * Finds or stores the compressed bytes; *id_r = 0 when there are none.
 * Runs inside the caller's transaction.
 */
static int raw_put(struct sqlite_store *s, const void *raw, size_t rawlen, int64_t *id_r, char *err, size_t errlen)
{
	*id_r = 0;
	if (raw == NULL || rawlen == 0)
		return SQLITE_OK;
	if (rawlen > RAW_MAX_LEN) {
		snprintf(err, errlen, "raw report too large to keep");
		return SQLITE_TOOBIG;
	}
	char sha[65];
	sha256_hex(s->sha256, raw, rawlen, sha);
	int rc;
	sqlite3_stmt *st = stmt(s, Q_RAW_FIND, &rc);
	if (st == NULL)
		goto fail;
	bind_text(st, 1, sha);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id_r = sqlite3_column_int64(st, 0);
	done(st);
	if (rc == SQLITE_ROW)
		return SQLITE_OK;
	if (rc != SQLITE_DONE)
		goto fail;

	/* a gzip or zip container is already compressed: deflating it again
	   costs time for nothing, so it is only wrapped in stored blocks
	   (still read back with uncompress) */
	const unsigned char *m = raw;
	bool packed = rawlen >= 4 && ((m[0] == 0x1f && m[1] == 0x8b) || memcmp(m, "PK\x03\x04", 4) == 0);
	uLongf zlen;
	unsigned char *z;
	if (packed) {
		z = zlib_stored(raw, rawlen, &zlen);
	} else {
		zlen = compressBound(rawlen);
		z = xmalloc(zlen);
		if (compress2(z, &zlen, raw, rawlen, Z_DEFAULT_COMPRESSION) != Z_OK) {
			xfree(z);
			snprintf(err, errlen, "raw report: zlib compression failed");
			return SQLITE_ERROR;
		}
	}
	if ((st = stmt(s, Q_RAW_INSERT, &rc)) == NULL) {
		xfree(z);
		goto fail;
	}
	bind_text(st, 1, sha);
	sqlite3_bind_int64(st, 2, (int64_t)rawlen);
	sqlite3_bind_blob64(st, 3, z, zlen, SQLITE_STATIC);
	rc = sqlite3_step(st);
	done(st);
	xfree(z);
	if (rc != SQLITE_DONE)
		goto fail;
	*id_r = sqlite3_last_insert_rowid(s->db);
	return SQLITE_OK;
fail:
	db_err(s, rc, "raw_blob", err, errlen);
	return rc;
}

static void bind_raw_id(sqlite3_stmt *st, int i, int64_t raw_id)
{
	if (raw_id > 0)
		sqlite3_bind_int64(st, i, raw_id);
	else
		sqlite3_bind_null(st, i);
}

/* ---- aggregate reports ---- */

/* IPv6 text as inet_ntop writes it (RFC 5952: lower-case hex without
   leading zeros, the longest run of two or more zero fields as "::", the
   first on a tie); addresses that glibc prints with a dotted IPv4 tail
   (::a.b.c.d, ::ffff:a.b.c.d) are left to it. inet_ntop formats each field
   with sprintf: a tenth of the per-record cost. */
static void ip6_text(const struct ipaddr *ip, char out[IP_STRLEN])
{
	unsigned w[8];
	for (int i = 0; i < 8; i++)
		w[i] = (unsigned)ip->a[2 * i] << 8 | ip->a[2 * i + 1];
	if ((w[0] | w[1] | w[2] | w[3] | w[4]) == 0 && (w[5] == 0 || w[5] == 0xffff)) {
		ip_format(ip, out);
		return;
	}
	int best = -1, bestlen = 0;
	for (int i = 0; i < 8;) {
		if (w[i] != 0) {
			i++;
			continue;
		}
		int j = i;
		while (j < 8 && w[j] == 0)
			j++;
		if (j - i > bestlen) {
			best = i;
			bestlen = j - i;
		}
		i = j;
	}
	if (bestlen < 2)
		best = -1;
	static const char hex[] = "0123456789abcdef";
	char *o = out;
	for (int i = 0; i < 8; i++) {
		if (best >= 0 && i >= best && i < best + bestlen) {
			if (i == best)
				*o++ = ':';
			continue;
		}
		if (i != 0)
			*o++ = ':';
		unsigned v = w[i];
		if (v >= 0x1000)
			*o++ = hex[v >> 12];
		if (v >= 0x100)
			*o++ = hex[(v >> 8) & 15];
		if (v >= 0x10)
			*o++ = hex[(v >> 4) & 15];
		*o++ = hex[v & 15];
	}
	if (best >= 0 && best + bestlen == 8)
		*o++ = ':';
	*o = '\0';
}

/* an address as stored: the text of ip_format(), without inet_ntop */
static void ip_text(const struct ipaddr *ip, char out[IP_STRLEN])
{
	if (ip->family == AF_INET6) {
		ip6_text(ip, out);
		return;
	}
	if (ip->family != AF_INET) {
		ip_format(ip, out);
		return;
	}
	char *o = out;
	for (int i = 0; i < 4; i++) {
		unsigned v = ip->a[i];
		if (v >= 100)
			*o++ = (char)('0' + v / 100);
		if (v >= 10)
			*o++ = (char)('0' + v / 10 % 10);
		*o++ = (char)('0' + v % 10);
		*o++ = i < 3 ? '.' : '\0';
	}
}

/* ---- records waiting for their multi-row INSERT ---- */

/* shared_first: the first column is one value for every row (?1); a
   row's other parameters are numbered on, nparam - 1 a row */
static const struct {
	const char *head;
	unsigned nparam;
	bool shared_first;
	const char *tail;
} multi_sql[M_COUNT] = {
	[M_RECORD] = { "INSERT OR FAIL INTO agg_record (report, source_ip, count, disposition, dkim_eval, spf_eval,"
		       " header_from, envelope_from, envelope_to, reasons, dkim, spf) VALUES ",
		       12, true, "" },
	[M_ROLLUP] = { "INSERT OR FAIL INTO rollup_day (domain, day, source_ip, reporter, total, dmarc_pass,"
		       " spf_aligned_pass, dkim_aligned_pass, fail_both, disp_none, disp_quarantine, disp_reject,"
		       " first_seen, last_seen) VALUES ",
		       14, false,
		       " ON CONFLICT (domain, day, source_ip, reporter) DO UPDATE SET"
		       " total = rollup_day.total + excluded.total,"
		       " dmarc_pass = rollup_day.dmarc_pass + excluded.dmarc_pass,"
		       " spf_aligned_pass = rollup_day.spf_aligned_pass + excluded.spf_aligned_pass,"
		       " dkim_aligned_pass = rollup_day.dkim_aligned_pass + excluded.dkim_aligned_pass,"
		       " fail_both = rollup_day.fail_both + excluded.fail_both,"
		       " disp_none = rollup_day.disp_none + excluded.disp_none,"
		       " disp_quarantine = rollup_day.disp_quarantine + excluded.disp_quarantine,"
		       " disp_reject = rollup_day.disp_reject + excluded.disp_reject,"
		       " first_seen = CASE WHEN excluded.first_seen < rollup_day.first_seen"
		       " THEN excluded.first_seen ELSE rollup_day.first_seen END,"
		       " last_seen = CASE WHEN excluded.last_seen > rollup_day.last_seen"
		       " THEN excluded.last_seen ELSE rollup_day.last_seen END" },
};

/* the multi-row statement for 1 << level rows, prepared on first use */
static sqlite3_stmt *multi_stmt(struct sqlite_store *s, enum multi_id id, unsigned level, int *rc_r)
{
	if (s->multi[id][level] == NULL) {
		struct buf sql = BUF_INIT(0);
		buf_puts(&sql, multi_sql[id].head);
		for (unsigned r = 0; r < 1u << level; r++) {
			buf_puts(&sql, r > 0 ? ", (" : "(");
			buf_puts(&sql, multi_sql[id].shared_first ? "?1" : "?");
			for (unsigned p = 1; p < multi_sql[id].nparam; p++)
				buf_puts(&sql, ", ?");
			buf_putc(&sql, ')');
		}
		buf_puts(&sql, multi_sql[id].tail);
		int rc = sqlite3_prepare_v3(s->db, buf_cstr(&sql), -1, SQLITE_PREPARE_PERSISTENT, &s->multi[id][level],
					    NULL);
		buf_free(&sql);
		if (rc != SQLITE_OK) {
			*rc_r = rc;
			return NULL;
		}
	}
	*rc_r = SQLITE_OK;
	return s->multi[id][level];
}

/* after a multi-row statement: every parameter is bound again before its
   next step, so the stale (static) pointers are never read, and clearing
   hundreds of bindings per statement is skipped */
static void multi_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
}

/* the largest level whose statement takes at most n (> 0) rows */
static unsigned multi_level(size_t n)
{
	unsigned level = 0;
	while (level + 1 < STORE_MULTI_LEVELS && ((size_t)2 << level) <= n)
		level++;
	return level;
}

/* appends a NUL-terminated copy of v[0..n-1] to the pending text */
static void pend_put(struct sqlite_store *s, struct pending_record *p, int field, const char *v, size_t n)
{
	p->off[field] = s->pend_text.len;
	p->len[field] = n;
	buf_append(&s->pend_text, v, n);
	buf_putc(&s->pend_text, '\0');
}

static void pend_str(struct sqlite_store *s, struct pending_record *p, int field, const char *v)
{
	pend_put(s, p, field, v, strlen(v));
}

/* field: the record's reasons, "type: comment" joined with "; " */
static void pend_reasons(struct sqlite_store *s, struct pending_record *p, const struct agg_record *rec)
{
	struct buf *b = &s->pend_text;
	p->off[PT_REASONS] = b->len;
	for (unsigned i = 0; i < rec->nreason && i < AGG_MAX_REASONS; i++) {
		if (i > 0)
			buf_append(b, "; ", 2);
		buf_puts(b, rec->reason[i].type);
		if (rec->reason[i].comment[0] != '\0') {
			buf_append(b, ": ", 2);
			buf_puts(b, rec->reason[i].comment);
		}
	}
	p->len[PT_REASONS] = b->len - p->off[PT_REASONS];
	buf_putc(b, '\0');
}

/* field: a record's DKIM or SPF results as stored: one per line, fields
   tab-separated (see migration 2); the middle field is the selector (dkim)
   or the scope (spf) */
static void pend_auth(struct sqlite_store *s, struct pending_record *p, int field, const struct agg_auth *a,
		      unsigned n, bool dkim)
{
	struct buf *b = &s->pend_text;
	p->off[field] = b->len;
	for (unsigned i = 0; i < n; i++) {
		if (i > 0)
			buf_putc(b, '\n');
		buf_puts(b, a[i].domain);
		buf_putc(b, '\t');
		buf_puts(b, dkim ? a[i].selector : a[i].scope);
		buf_putc(b, '\t');
		buf_puts(b, a[i].result);
		buf_putc(b, '\t');
		buf_puts(b, a[i].human);
	}
	p->len[field] = b->len - p->off[field];
	buf_putc(b, '\0');
}

static void pend_clear(struct sqlite_store *s)
{
	s->npend = 0;
	buf_reset(&s->pend_text);
}

/* inserts the open report's pending records (inside its savepoint) */
static int pend_flush(struct sqlite_store *s)
{
	static const int text_param[PT_COUNT] = {
		[PT_IP] = 2, [PT_DISP] = 4, [PT_DKIM_EVAL] = 5, [PT_SPF_EVAL] = 6, [PT_HFROM] = 7,
		[PT_EFROM] = 8, [PT_ETO] = 9, [PT_REASONS] = 10, [PT_DKIM] = 11, [PT_SPF] = 12,
	};
	const char *text = s->pend_text.data;
	unsigned next = 0;
	int rc = SQLITE_OK;
	while (next < s->npend) {
		unsigned level = multi_level(s->npend - next), rows = 1u << level;
		sqlite3_stmt *st = multi_stmt(s, M_RECORD, level, &rc);
		if (st == NULL)
			break;
		/* ?1 is every row's report; row r's column c (1-based, c > 1) is
		   parameter r * 11 + c */
		sqlite3_bind_int64(st, 1, s->report_row);
		for (unsigned r = 0; r < rows; r++) {
			const struct pending_record *p = &s->pend[next + r];
			int base = (int)(r * (multi_sql[M_RECORD].nparam - 1));
			sqlite3_bind_int64(st, base + 3, p->count);
			for (int f = 0; f < PT_COUNT; f++)
				sqlite3_bind_text(st, base + text_param[f], text + p->off[f], (int)p->len[f],
						  SQLITE_STATIC);
		}
		rc = sqlite3_step(st);
		multi_done(st);
		if (rc != SQLITE_DONE)
			break;
		rc = SQLITE_OK;
		/* one statement's rows get consecutive ids (a new row id is the
		   largest + 1, and this transaction is the only writer) */
		if (s->report_first == 0)
			s->report_first = sqlite3_last_insert_rowid(s->db) - (int64_t)rows + 1;
		next += rows;
	}
	pend_clear(s);
	return rc;
}

/* ---- rollups ---- */

static void roll_init(struct rollup_table *t, size_t cap)
{
	t->cap = cap;
	t->n = 0;
	t->slot = xcalloc(cap, sizeof *t->slot);
	t->e = xcalloc(cap / 2, sizeof *t->e);
}

static void roll_free(struct rollup_table *t)
{
	xfree(t->slot);
	xfree(t->e);
	t->n = t->cap = 0;
}

static bool roll_full(const struct rollup_table *t, size_t more)
{
	return t->n + more > t->cap / 2;
}

/* the entry of (group, ip), added empty if new (*new_r); the caller made
   sure there is room (roll_full) */
static struct rollup_entry *roll_get(struct rollup_table *t, unsigned group, const struct ipaddr *ip,
				     const char *text, bool *new_r)
{
	size_t alen = ip->family == AF_INET ? 4 : 16;
	uint64_t h = 0x9e3779b97f4a7c15ULL * ((uint64_t)group + 1) ^ (uint64_t)ip->family;
	for (size_t i = 0; i < alen; i += 4) {
		uint32_t w;
		memcpy(&w, ip->a + i, 4);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	size_t mask = t->cap - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		uint32_t k = t->slot[i];
		if (k == 0) {
			struct rollup_entry *e = &t->e[t->n];
			memset(e, 0, sizeof *e);
			e->group = group;
			e->slot = (uint32_t)i;
			e->ip = *ip;
			memcpy(e->text, text, strlen(text) + 1);
			t->slot[i] = (uint32_t)++t->n;
			*new_r = true;
			return e;
		}
		struct rollup_entry *e = &t->e[k - 1];
		if (e->group == group && e->ip.family == ip->family && memcmp(e->ip.a, ip->a, alen) == 0) {
			*new_r = false;
			return e;
		}
	}
}

static void roll_clear(struct rollup_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		t->slot[t->e[i].slot] = 0;
	t->n = 0;
}

static void sums_add(struct roll_sums *to, const struct roll_sums *c)
{
	to->total += c->total;
	to->dmarc_pass += c->dmarc_pass;
	to->spf_pass += c->spf_pass;
	to->dkim_pass += c->dkim_pass;
	to->fail_both += c->fail_both;
	to->none += c->none;
	to->quarantine += c->quarantine;
	to->reject += c->reject;
}

/* the reporter as summaries show it: org_name, else its address */
static const char *reporter_of(const struct agg_report *r)
{
	return r->org_name[0] != '\0' ? r->org_name : r->email[0] != '\0' ? r->email : "(unnamed)";
}

/* primary-key order of rollup_day: (domain, day, source_ip, reporter),
   compared as SQLite's BINARY collation does (bytes) */
static int roll_order_cmp(const void *pa, const void *pb)
{
	const struct roll_order *a = pa, *b = pb;
	if (a->dom != b->dom)
		return a->dom < b->dom ? -1 : 1;
	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	int c = strcmp(a->e->text, b->e->text);
	if (c != 0)
		return c;
	return a->rep < b->rep ? -1 : a->rep > b->rep;
}

struct name_ref {
	const char *name;
	unsigned g;
};

static int name_ref_cmp(const void *pa, const void *pb)
{
	const struct name_ref *a = pa, *b = pb;
	return strcmp(a->name, b->name);
}

/* rank_r[g]: the rank of group g's domain (or reporter) among the batch's
   groups, equal names equal ranks, in strcmp order */
static void grp_ranks(const struct sqlite_store *s, bool reporter, uint32_t *rank_r)
{
	struct name_ref ref[STORE_BATCH_REPORTS];
	for (unsigned g = 0; g < s->ngrp; g++)
		ref[g] = (struct name_ref){ reporter ? s->grp[g].reporter : s->grp[g].domain, g };
	qsort(ref, s->ngrp, sizeof ref[0], name_ref_cmp);
	uint32_t rank = 0;
	for (unsigned i = 0; i < s->ngrp; i++) {
		if (i > 0 && strcmp(ref[i - 1].name, ref[i].name) != 0)
			rank++;
		rank_r[ref[i].g] = rank;
	}
}

/* upserts rows o[0..n-1] into rollup_day, several per statement */
static int roll_write(struct sqlite_store *s, const struct roll_order *o, size_t n)
{
	size_t next = 0;
	int rc = SQLITE_OK;
	while (next < n) {
		unsigned level = multi_level(n - next), rows = 1u << level;
		sqlite3_stmt *st = multi_stmt(s, M_ROLLUP, level, &rc);
		if (st == NULL)
			return rc;
		for (unsigned r = 0; r < rows; r++) {
			const struct roll_order *k = &o[next + r];
			const struct rollup_entry *e = k->e;
			int p = (int)(r * multi_sql[M_ROLLUP].nparam);
			sqlite3_bind_text(st, p + 1, k->domain, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, p + 2, k->day);
			sqlite3_bind_text(st, p + 3, e->text, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, p + 4, k->reporter, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, p + 5, clamp_u64(e->c.total));
			sqlite3_bind_int64(st, p + 6, clamp_u64(e->c.dmarc_pass));
			sqlite3_bind_int64(st, p + 7, clamp_u64(e->c.spf_pass));
			sqlite3_bind_int64(st, p + 8, clamp_u64(e->c.dkim_pass));
			sqlite3_bind_int64(st, p + 9, clamp_u64(e->c.fail_both));
			sqlite3_bind_int64(st, p + 10, clamp_u64(e->c.none));
			sqlite3_bind_int64(st, p + 11, clamp_u64(e->c.quarantine));
			sqlite3_bind_int64(st, p + 12, clamp_u64(e->c.reject));
			sqlite3_bind_int64(st, p + 13, e->first_seen);
			sqlite3_bind_int64(st, p + 14, e->last_seen);
		}
		rc = sqlite3_step(st);
		multi_done(st);
		if (rc != SQLITE_DONE)
			return rc;
		rc = SQLITE_OK;
		next += rows;
	}
	return rc;
}

/* writes the open report's sums (inside its savepoint) and empties them;
   its totals stay for rep_merge */
static int rep_flush(struct sqlite_store *s, const struct agg_report *r)
{
	int64_t day = store_day_of(r->date_begin);
	const char *reporter = reporter_of(r);
	for (size_t i = 0; i < s->rep.n; i++)
		s->order[i] = (struct roll_order){ r->domain, reporter, day, 0, 0, &s->rep.e[i] };
	qsort(s->order, s->rep.n, sizeof *s->order, roll_order_cmp);
	int rc = roll_write(s, s->order, s->rep.n);
	roll_clear(&s->rep);
	return rc;
}

static int org_upsert(struct sqlite_store *s, const struct rollup_group *g)
{
	int rc;
	sqlite3_stmt *st = stmt(s, Q_ORG_UPSERT, &rc);
	if (st == NULL)
		return rc;
	bind_text(st, 1, g->domain);
	sqlite3_bind_int64(st, 2, g->day);
	bind_text(st, 3, g->reporter);
	sqlite3_bind_int64(st, 4, clamp_u64(g->c.total));
	sqlite3_bind_int64(st, 5, clamp_u64(g->c.dmarc_pass));
	sqlite3_bind_int64(st, 6, clamp_u64(g->c.spf_pass));
	sqlite3_bind_int64(st, 7, clamp_u64(g->c.dkim_pass));
	sqlite3_bind_int64(st, 8, clamp_u64(g->c.none));
	sqlite3_bind_int64(st, 9, clamp_u64(g->c.quarantine));
	sqlite3_bind_int64(st, 10, clamp_u64(g->c.reject));
	rc = sqlite3_step(st);
	done(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* writes the batch's sums (inside the batch transaction) and empties them */
static int bat_flush(struct sqlite_store *s)
{
	uint32_t dom[STORE_BATCH_REPORTS], rep[STORE_BATCH_REPORTS];
	grp_ranks(s, false, dom);
	grp_ranks(s, true, rep);
	for (size_t i = 0; i < s->bat.n; i++) {
		const struct rollup_entry *e = &s->bat.e[i];
		const struct rollup_group *g = &s->grp[e->group];
		s->order[i] = (struct roll_order){ g->domain, g->reporter, g->day, dom[e->group], rep[e->group], e };
	}
	qsort(s->order, s->bat.n, sizeof *s->order, roll_order_cmp);
	int rc = roll_write(s, s->order, s->bat.n);
	for (unsigned g = 0; g < s->ngrp && rc == SQLITE_OK; g++)
		if (s->grp[g].any)
			rc = org_upsert(s, &s->grp[g]);
	roll_clear(&s->bat);
	s->ngrp = 0;
	return rc;
}

/* adds the complete report's sums to the batch's */
static int rep_merge(struct sqlite_store *s, const struct agg_report *r)
{
	int rc;
	if ((s->ngrp == STORE_BATCH_REPORTS || roll_full(&s->bat, s->rep.n)) && (rc = bat_flush(s)) != SQLITE_OK)
		return rc;
	int64_t day = store_day_of(r->date_begin);
	const char *reporter = reporter_of(r);
	unsigned g = 0;
	while (g < s->ngrp && (s->grp[g].day != day || strcmp(s->grp[g].domain, r->domain) != 0 ||
			       strcmp(s->grp[g].reporter, reporter) != 0))
		g++;
	if (g == s->ngrp) {
		struct rollup_group *ng = &s->grp[g];
		snprintf(ng->domain, sizeof ng->domain, "%s", r->domain);
		snprintf(ng->reporter, sizeof ng->reporter, "%s", reporter);
		ng->day = day;
		memset(&ng->c, 0, sizeof ng->c);
		ng->any = false;
		s->ngrp++;
	}
	sums_add(&s->grp[g].c, &s->rep_tot);
	s->grp[g].any |= s->rep_any;
	for (size_t i = 0; i < s->rep.n; i++) {
		const struct rollup_entry *e = &s->rep.e[i];
		bool fresh;
		struct rollup_entry *b = roll_get(&s->bat, g, &e->ip, e->text, &fresh);
		if (fresh) {
			b->first_seen = e->first_seen;
			b->last_seen = e->last_seen;
		} else {
			if (e->first_seen < b->first_seen)
				b->first_seen = e->first_seen;
			if (e->last_seen > b->last_seen)
				b->last_seen = e->last_seen;
		}
		sums_add(&b->c, &e->c);
	}
	roll_clear(&s->rep);
	return SQLITE_OK;
}

/* forgets the open report's pending records and sums */
static void rep_forget(struct sqlite_store *s)
{
	pend_clear(s);
	roll_clear(&s->rep);
	memset(&s->rep_tot, 0, sizeof s->rep_tot);
	s->rep_any = false;
}

/*
 * Each report's savepoint keeps the original of every page it changes
 * that the batch had already changed (about nine 16 KB pages a report: the
 * ends of the tables and index leaves). With the default temp_store that
 * sub-journal is a file in /var/tmp written page by page, as many bytes as
 * the WAL itself; in memory it is a copy, emptied when the report's
 * savepoint is released. So: memory for the batch only (summaries'
 * temporary B-trees keep the default, a file past the cache). SQLite
 * applies this PRAGMA when it compiles it, and only outside a transaction:
 * sqlite3_exec compiles it each time. Failure only costs speed.
 */
static void temp_store_memory(struct sqlite_store *s, bool memory)
{
	sqlite3_exec(s->db, memory ? "PRAGMA temp_store = MEMORY" : "PRAGMA temp_store = DEFAULT", NULL, NULL, NULL);
}

/* after a failure that leaves the batch inconsistent: rolls all of it back */
static void batch_lost(struct sqlite_store *s)
{
	rep_forget(s);
	roll_clear(&s->bat);
	s->ngrp = 0;
	s->batch = false;
	s->in_report = false;
	rollback(s);
	temp_store_memory(s, false);
}

/* ends the batch transaction (COMMIT), if one is open */
static int batch_commit(struct sqlite_store *s)
{
	if (!s->batch)
		return SQLITE_OK;
	int rc = bat_flush(s);
	s->batch = false;
	s->batch_reports = 0;
	s->batch_records = 0;
	if (rc == SQLITE_OK)
		rc = exec_stmt(s, Q_COMMIT);
	if (rc != SQLITE_OK)
		batch_lost(s);
	else
		temp_store_memory(s, false);
	return rc;
}

/* opens the batch transaction if none is open */
static int batch_open(struct sqlite_store *s)
{
	if (s->batch && sqlite3_get_autocommit(s->db))
		batch_lost(s); /* SQLite rolled it back after an I/O error */
	if (s->batch)
		return SQLITE_OK;
	temp_store_memory(s, true);
	int rc = exec_stmt(s, Q_BEGIN);
	if (rc == SQLITE_OK) {
		s->batch = true;
		s->batch_reports = 0;
		s->batch_records = 0;
	} else {
		temp_store_memory(s, false);
	}
	return rc;
}

/* a write outside the aggregate stream: a savepoint inside an open batch,
   else its own transaction (tx_end commits or rolls back accordingly) */
static int tx_begin(struct sqlite_store *s)
{
	if (s->batch && sqlite3_get_autocommit(s->db))
		batch_lost(s); /* SQLite rolled it back after an I/O error */
	return exec_stmt(s, s->batch ? Q_SAVEPOINT : Q_BEGIN);
}

static int tx_end(struct sqlite_store *s, bool ok)
{
	if (s->batch) {
		if (!ok && exec_stmt(s, Q_ROLLBACK_TO) != SQLITE_OK) {
			batch_commit(s); /* cannot happen; do not leave the savepoint half-undone */
			return SQLITE_ERROR;
		}
		return exec_stmt(s, Q_RELEASE);
	}
	if (ok)
		return exec_stmt(s, Q_COMMIT);
	rollback(s);
	return SQLITE_OK;
}

/* a read, or a write that must not wait for the batch: commits the batch */
static int settle(struct sqlite_store *s)
{
	if (s->in_report)
		return SQLITE_MISUSE;
	return batch_commit(s);
}

static enum store_status fail_status(int rc)
{
	return failed_status(rc);
}

static enum store_status sq_agg_begin(struct store *base, const struct agg_report *r, const void *raw,
				      size_t rawlen, const char *source, int64_t *id_r, char *err, size_t errlen)
{
	struct sqlite_store *s = sq(base);
	const char *what = "begin";
	int rc;
	if (s->in_report) {
		snprintf(err, errlen, "store_agg_begin: a report is already open");
		return STORE_ERROR;
	}
	if ((rc = batch_open(s)) != SQLITE_OK)
		goto fail;
	if ((rc = exec_stmt(s, Q_SAVEPOINT)) != SQLITE_OK)
		goto fail;

	/* earlier reports of this batch are seen: same connection */
	what = "agg_report";
	sqlite3_stmt *st = stmt(s, Q_REPORT_EXISTS, &rc);
	if (st == NULL)
		goto fail_sp;
	bind_text(st, 1, r->org_name);
	bind_text(st, 2, r->report_id);
	bind_text(st, 3, r->domain);
	rc = sqlite3_step(st);
	int64_t existing = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	done(st);
	if (rc == SQLITE_ROW) {
		exec_stmt(s, Q_RELEASE);
		if (id_r != NULL)
			*id_r = existing;
		snprintf(err, errlen, "report %s from %s for %s already imported", r->report_id, r->org_name,
			 r->domain);
		return STORE_DUPLICATE;
	}
	if (rc != SQLITE_DONE)
		goto fail_sp;

	int64_t raw_id;
	if ((rc = raw_put(s, raw, rawlen, &raw_id, err, errlen)) != SQLITE_OK) {
		exec_stmt(s, Q_ROLLBACK_TO);
		exec_stmt(s, Q_RELEASE);
		return fail_status(rc);
	}

	/* nrec and total_count are known at the end (store_agg_end) */
	if ((st = stmt(s, Q_REPORT_INSERT, &rc)) == NULL)
		goto fail_sp;
	bind_text(st, 1, r->org_name);
	bind_text(st, 2, r->email);
	bind_text(st, 3, r->extra_contact);
	bind_text(st, 4, r->report_id);
	bind_text(st, 5, r->domain);
	sqlite3_bind_int64(st, 6, r->date_begin);
	sqlite3_bind_int64(st, 7, r->date_end);
	sqlite3_bind_int(st, 8, (int)r->format);
	bind_text(st, 9, r->generator);
	bind_char(st, 10, r->adkim);
	bind_char(st, 11, r->aspf);
	bind_text(st, 12, r->p);
	bind_text(st, 13, r->sp);
	bind_text(st, 14, r->np);
	if (r->pct >= 0)
		sqlite3_bind_int(st, 15, r->pct);
	else
		sqlite3_bind_null(st, 15);
	bind_text(st, 16, r->fo);
	bind_char(st, 17, r->testing);
	bind_text(st, 18, r->discovery_method);
	bind_text(st, 19, r->errors);
	sqlite3_bind_int64(st, 20, 0);
	sqlite3_bind_int64(st, 21, 0);
	bind_text(st, 22, source);
	sqlite3_bind_int64(st, 23, (int64_t)time(NULL));
	bind_raw_id(st, 24, raw_id);
	rc = sqlite3_step(st);
	done(st);
	if (rc != SQLITE_DONE)
		goto fail_sp;
	s->report_row = sqlite3_last_insert_rowid(s->db);
	s->report_nrec = 0;
	s->report_first = 0;
	s->in_report = true;
	rep_forget(s);
	if (id_r != NULL)
		*id_r = s->report_row;
	return STORE_OK;
fail_sp:
	db_err(s, rc, what, err, errlen);
	exec_stmt(s, Q_ROLLBACK_TO);
	exec_stmt(s, Q_RELEASE);
	return fail_status(rc);
fail:
	db_err(s, rc, what, err, errlen);
	return fail_status(rc);
}

static enum store_status sq_agg_record(struct store *base, const struct agg_report *r,
				       const struct agg_record *rec, const struct agg_auth *dkim,
				       const struct agg_auth *spf, char *err, size_t errlen)
{
	struct sqlite_store *s = sq(base);
	if (!s->in_report) {
		snprintf(err, errlen, "store_agg_record: no report open");
		return STORE_ERROR;
	}
	int rc;
	if (s->npend == STORE_MULTI_ROWS && (rc = pend_flush(s)) != SQLITE_OK)
		goto fail;
	char ip[IP_STRLEN];
	ip_text(&rec->source_ip, ip);
	struct pending_record *p = &s->pend[s->npend++];
	p->count = clamp_u64(rec->count);
	pend_str(s, p, PT_IP, ip);
	pend_str(s, p, PT_DISP, rec->disposition);
	pend_str(s, p, PT_DKIM_EVAL, rec->dkim_eval);
	pend_str(s, p, PT_SPF_EVAL, rec->spf_eval);
	pend_str(s, p, PT_HFROM, rec->header_from);
	pend_str(s, p, PT_EFROM, rec->envelope_from);
	pend_str(s, p, PT_ETO, rec->envelope_to);
	pend_reasons(s, p, rec);
	pend_auth(s, p, PT_DKIM, dkim, rec->ndkim, true);
	pend_auth(s, p, PT_SPF, spf, rec->nspf, false);
	s->report_nrec++;

	/* a report with more distinct sources than the table holds writes
	   partial sums (the upsert adds them up): memory stays bounded */
	if (roll_full(&s->rep, 1) && (rc = rep_flush(s, r)) != SQLITE_OK)
		goto fail;
	bool fresh;
	struct rollup_entry *e = roll_get(&s->rep, 0, &rec->source_ip, ip, &fresh);
	e->first_seen = r->date_begin;
	e->last_seen = r->date_end > r->date_begin ? r->date_end : r->date_begin;
	uint64_t c = rec->count;
	bool dkim_ok = strcmp(rec->dkim_eval, "pass") == 0;
	bool spf_ok = strcmp(rec->spf_eval, "pass") == 0;
	struct roll_sums add = { .total = c };
	if (dkim_ok || spf_ok)
		add.dmarc_pass = c;
	else
		add.fail_both = c;
	if (spf_ok)
		add.spf_pass = c;
	if (dkim_ok)
		add.dkim_pass = c;
	if (strcmp(rec->disposition, "none") == 0)
		add.none = c;
	else if (strcmp(rec->disposition, "quarantine") == 0)
		add.quarantine = c;
	else if (strcmp(rec->disposition, "reject") == 0)
		add.reject = c;
	sums_add(&e->c, &add);
	sums_add(&s->rep_tot, &add);
	s->rep_any = true;
	return STORE_OK;
fail:
	db_err(s, rc, "agg_record", err, errlen);
	return fail_status(rc);
}

static void sq_agg_abort(struct store *base)
{
	struct sqlite_store *s = sq(base);
	if (!s->in_report)
		return;
	s->in_report = false;
	rep_forget(s);
	/* the report alone is undone; the batch goes on */
	if (exec_stmt(s, Q_ROLLBACK_TO) != SQLITE_OK || exec_stmt(s, Q_RELEASE) != SQLITE_OK)
		batch_lost(s);
}

static enum store_status sq_agg_end(struct store *base, const struct agg_report *r, char *err, size_t errlen)
{
	struct sqlite_store *s = sq(base);
	const char *what = "agg_record";
	int rc;
	if (!s->in_report) {
		snprintf(err, errlen, "store_agg_end: no report open");
		return STORE_ERROR;
	}
	if ((rc = pend_flush(s)) != SQLITE_OK)
		goto fail;
	what = "agg_report";
	sqlite3_stmt *st = stmt(s, Q_REPORT_FINISH, &rc);
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, s->report_row);
	sqlite3_bind_int64(st, 2, (int64_t)s->report_nrec);
	sqlite3_bind_int64(st, 3, clamp_u64(r->total_count));
	sqlite3_bind_int(st, 4, (int)r->format);
	if (s->report_first > 0)
		sqlite3_bind_int64(st, 5, s->report_first);
	else
		sqlite3_bind_null(st, 5);
	rc = sqlite3_step(st);
	done(st);
	if (rc != SQLITE_DONE)
		goto fail;
	what = "release";
	if ((rc = exec_stmt(s, Q_RELEASE)) != SQLITE_OK)
		goto fail;
	s->in_report = false;
	s->batch_reports++;
	s->batch_records += s->report_nrec;
	what = "rollup_day";
	rc = rep_merge(s, r);
	rep_forget(s);
	if (rc == SQLITE_OK &&
	    (s->batch_reports >= STORE_BATCH_REPORTS || s->batch_records >= STORE_BATCH_RECORDS)) {
		what = "commit";
		rc = batch_commit(s);
	}
	if (rc != SQLITE_OK) {
		/* the batch's rollups are half written: all of it goes */
		batch_lost(s);
		db_err(s, rc, what, err, errlen);
		return fail_status(rc);
	}
	return STORE_OK;
fail:
	db_err(s, rc, what, err, errlen);
	sq_agg_abort(base);
	return fail_status(rc);
}

static enum store_status sq_flush(struct store *base, char *err, size_t errlen)
{
	struct sqlite_store *s = sq(base);
	if (s->in_report)
		sq_agg_abort(base);
	int rc = batch_commit(s);
	if (rc != SQLITE_OK) {
		db_err(s, rc, "commit", err, errlen);
		return fail_status(rc);
	}
	return STORE_OK;
}

/* ---- import errors ---- */

static enum store_status sq_import_error(struct store *base, const char *source, const char *reason,
					 const void *raw, size_t rawlen, char *err, size_t errlen)
{
	struct sqlite_store *s = sq(base);
	int rc = tx_begin(s);
	if (rc != SQLITE_OK) {
		db_err(s, rc, "begin", err, errlen);
		return fail_status(rc);
	}
	const char *what = "raw_blob";
	int64_t raw_id;
	if ((rc = raw_put(s, raw, rawlen, &raw_id, err, errlen)) != SQLITE_OK) {
		tx_end(s, false);
		return failed_status(rc);
	}
	what = "import_error";
	/* the same bytes with the same reason are kept once; without bytes,
	   the same source and reason */
	sqlite3_stmt *st;
	if (raw_id > 0) {
		if ((st = stmt(s, Q_ERR_FIND_RAW, &rc)) == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, raw_id);
		bind_text(st, 2, reason);
	} else {
		if ((st = stmt(s, Q_ERR_FIND_SRC, &rc)) == NULL)
			goto fail;
		bind_text(st, 1, source);
		bind_text(st, 2, reason);
	}
	rc = sqlite3_step(st);
	done(st);
	if (rc == SQLITE_ROW) {
		tx_end(s, false);
		return STORE_DUPLICATE;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	if ((st = stmt(s, Q_ERR_INSERT, &rc)) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, (int64_t)time(NULL));
	bind_text(st, 2, source);
	bind_text(st, 3, reason);
	bind_raw_id(st, 4, raw_id);
	rc = sqlite3_step(st);
	done(st);
	if (rc != SQLITE_DONE)
		goto fail;
	what = "commit";
	if ((rc = tx_end(s, true)) != SQLITE_OK)
		goto fail;
	return STORE_OK;
fail:
	db_err(s, rc, what, err, errlen);
	tx_end(s, false);
	return failed_status(rc);
}

static enum store_status sq_import_errors(struct store *base, int (*cb)(void *, const struct store_import_error *),
					  void *ctx)
{
	struct sqlite_store *s = sq(base);
	int pre = settle(s);
	if (pre != SQLITE_OK)
		return fail_status(pre);
	int rc;
	sqlite3_stmt *st = stmt(s, Q_ERR_LIST, &rc);
	if (st == NULL)
		return failed_status(rc);
	struct store_import_error *e = xmalloc(sizeof *e);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(e, 0, sizeof *e);
		e->id = sqlite3_column_int64(st, 0);
		e->when = sqlite3_column_int64(st, 1);
		col_text(st, 2, e->source, sizeof e->source);
		col_text(st, 3, e->reason, sizeof e->reason);
		e->rawlen = (size_t)col_u64(st, 4);
		if (cb(ctx, e) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	done(st);
	xfree(e);
	return rc == SQLITE_DONE ? STORE_OK : failed_status(rc);
}

static enum store_status sq_raw_get(struct store *base, bool error_table, int64_t id, void **raw_r, size_t *len_r)
{
	struct sqlite_store *s = sq(base);
	int pre = settle(s);
	if (pre != SQLITE_OK)
		return fail_status(pre);
	int rc;
	sqlite3_stmt *st = stmt(s, error_table ? Q_RAW_OF_ERR : Q_RAW_OF_REPORT, &rc);
	if (st == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	bool have = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
	int64_t raw_id = have ? sqlite3_column_int64(st, 0) : 0;
	done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return failed_status(rc);
	if (!have)
		return STORE_NOTFOUND;
	if ((st = stmt(s, Q_RAW_GET, &rc)) == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(st, 1, raw_id);
	rc = sqlite3_step(st);
	enum store_status ret = STORE_NOTFOUND;
	if (rc == SQLITE_ROW) {
		int64_t rawlen = sqlite3_column_int64(st, 0);
		const void *z = sqlite3_column_blob(st, 1);
		int zlen = sqlite3_column_bytes(st, 1);
		ret = STORE_ERROR;
		if (rawlen > 0 && (uint64_t)rawlen <= RAW_MAX_LEN && z != NULL) {
			uLongf outlen = (uLongf)rawlen;
			unsigned char *out = xmalloc((size_t)rawlen + 1);
			if (uncompress(out, &outlen, z, (uLong)zlen) == Z_OK && outlen == (uLongf)rawlen) {
				out[rawlen] = '\0';
				*raw_r = out;
				*len_r = (size_t)rawlen;
				ret = STORE_OK;
			} else {
				xfree(out);
			}
		}
	} else if (rc != SQLITE_DONE) {
		ret = failed_status(rc);
	}
	done(st);
	return ret;
}

/* ---- failure reports ---- */

static enum store_status sq_failure_insert(struct store *base, const struct failure_report *f, const void *raw,
					   size_t rawlen, const char *source, char *err, size_t errlen)
{
	struct sqlite_store *s = sq(base);
	char ip[IP_STRLEN] = "";
	if (f->have_source_ip)
		ip_format(&f->source_ip, ip);

	/* one row per (raw bytes, report identity): an mbox holding several
	   failure reports keeps each, the same one twice is a duplicate */
	char rawsha[65] = "";
	if (raw != NULL && rawlen > 0)
		sha256_hex(s->sha256, raw, rawlen, rawsha);
	struct buf key = BUF_INIT(0);
	buf_printf(&key, "%s\n%s\n%s\n%s\n%lld\n%s\n%s\n%s\n%s\n%lld", rawsha, f->reporter, f->message_id,
		   f->reported_domain, (long long)f->arrival_date, ip, f->original_rcpt_to, f->auth_failure,
		   f->header_from, (long long)f->report_date);
	char dedup[65];
	sha256_hex(s->sha256, key.data, key.len, dedup);
	buf_free(&key);

	int rc = tx_begin(s);
	if (rc != SQLITE_OK) {
		db_err(s, rc, "begin", err, errlen);
		return fail_status(rc);
	}
	const char *what = "raw_blob";
	int64_t raw_id;
	if ((rc = raw_put(s, raw, rawlen, &raw_id, err, errlen)) != SQLITE_OK) {
		tx_end(s, false);
		return failed_status(rc);
	}
	what = "failure_report";
	sqlite3_stmt *st = stmt(s, Q_FAIL_INSERT, &rc);
	if (st == NULL)
		goto fail;
	int i = 1;
	bind_text(st, i++, dedup);
	bind_text(st, i++, f->feedback_type);
	bind_text(st, i++, f->user_agent);
	bind_text(st, i++, f->version);
	bind_text(st, i++, f->reported_domain);
	bind_text(st, i++, f->auth_failure);
	if (f->have_source_ip)
		bind_text(st, i++, ip);
	else
		sqlite3_bind_null(st, i++);
	sqlite3_bind_int64(st, i++, f->arrival_date);
	bind_text(st, i++, f->original_mail_from);
	bind_text(st, i++, f->original_rcpt_to);
	bind_text(st, i++, f->reported_uri);
	bind_text(st, i++, f->authentication_results);
	bind_text(st, i++, f->dkim_domain);
	bind_text(st, i++, f->dkim_selector);
	bind_text(st, i++, f->dkim_identity);
	bind_text(st, i++, f->spf_dns);
	bind_text(st, i++, f->delivery_result);
	bind_text(st, i++, f->identity_alignment);
	bind_text(st, i++, f->header_from);
	bind_text(st, i++, f->subject);
	bind_text(st, i++, f->message_id);
	bind_text(st, i++, f->reporter);
	sqlite3_bind_int64(st, i++, f->report_date);
	bind_text(st, i++, source);
	sqlite3_bind_int64(st, i++, (int64_t)time(NULL));
	bind_raw_id(st, i++, raw_id);
	rc = sqlite3_step(st);
	done(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		tx_end(s, false);
		snprintf(err, errlen, "failure report already imported");
		return STORE_DUPLICATE;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	what = "commit";
	if ((rc = tx_end(s, true)) != SQLITE_OK)
		goto fail;
	return STORE_OK;
fail:
	db_err(s, rc, what, err, errlen);
	tx_end(s, false);
	return failed_status(rc);
}

/* ---- summaries ---- */

static void bind_filter(sqlite3_stmt *st, const char *domain, int64_t since)
{
	if (domain != NULL)
		bind_text(st, 1, domain);
	sqlite3_bind_int64(st, 2, store_day_of(since));
}

static void read_counts(sqlite3_stmt *st, int col, struct store_counts *c)
{
	c->total = col_u64(st, col);
	c->dmarc_pass = col_u64(st, col + 1);
	c->spf_aligned_pass = col_u64(st, col + 2);
	c->dkim_aligned_pass = col_u64(st, col + 3);
	c->disp_none = col_u64(st, col + 4);
	c->disp_quarantine = col_u64(st, col + 5);
	c->disp_reject = col_u64(st, col + 6);
}

static int read_top(struct sqlite_store *s, enum stmt_id id, const char *domain, int64_t since,
		    struct store_top *top, size_t *n_r)
{
	int rc;
	sqlite3_stmt *st = stmt(s, id, &rc);
	if (st == NULL)
		return rc;
	bind_filter(st, domain, since);
	sqlite3_bind_int(st, 3, STORE_TOP_N);
	*n_r = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n_r < STORE_TOP_N) {
		struct store_top *t = &top[(*n_r)++];
		col_text(st, 0, t->name, sizeof t->name);
		t->total = col_u64(st, 1);
		t->dmarc_pass = col_u64(st, 2);
	}
	done(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static enum store_status sq_agg_summary(struct store *base, const char *domain, int64_t since,
					struct store_summary *out)
{
	struct sqlite_store *s = sq(base);
	int pre = settle(s);
	if (pre != SQLITE_OK)
		return fail_status(pre);
	bool d = domain != NULL;
	int rc;
	/* one read transaction: every part sees the same snapshot */
	if ((rc = exec_stmt(s, Q_BEGIN_READ)) != SQLITE_OK)
		return failed_status(rc);
	sqlite3_stmt *st = stmt(s, d ? Q_SUM_REPORTS_D : Q_SUM_REPORTS_A, &rc);
	if (st == NULL)
		goto fail;
	if (d)
		bind_text(st, 1, domain);
	sqlite3_bind_int64(st, 2, store_day_of(since));
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		out->reports = col_u64(st, 0);
	done(st);
	if (rc != SQLITE_ROW)
		goto fail;

	if ((st = stmt(s, d ? Q_SUM_TOTALS_D : Q_SUM_TOTALS_A, &rc)) == NULL)
		goto fail;
	bind_filter(st, domain, since);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		read_counts(st, 0, &out->c);
	done(st);
	if (rc != SQLITE_ROW)
		goto fail;

	if ((rc = read_top(s, d ? Q_SUM_REPORTERS_D : Q_SUM_REPORTERS_A, domain, since, out->reporters,
			   &out->nreporters)) != SQLITE_OK)
		goto fail;
	if ((rc = read_top(s, d ? Q_SUM_SOURCES_D : Q_SUM_SOURCES_A, domain, since, out->sources,
			   &out->nsources)) != SQLITE_OK)
		goto fail;

	if ((st = stmt(s, d ? Q_SUM_DAYS_D : Q_SUM_DAYS_A, &rc)) == NULL)
		goto fail;
	bind_filter(st, domain, since);
	size_t cap = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->ndays == cap) {
			cap = cap ? cap * 2 : 64;
			out->days = xreallocarray(out->days, cap, sizeof *out->days);
		}
		struct store_day *day = &out->days[out->ndays++];
		day->day = sqlite3_column_int64(st, 0);
		read_counts(st, 1, &day->c);
	}
	done(st);
	if (rc != SQLITE_DONE)
		goto fail;
	exec_stmt(s, Q_COMMIT);
	return STORE_OK;
fail:
	rollback(s);
	store_summary_free(out);
	return failed_status(rc);
}

static enum store_status sq_agg_sources(struct store *base, const char *domain, int64_t since, bool failing_only,
					int (*cb)(void *, const struct store_source *), void *ctx)
{
	struct sqlite_store *s = sq(base);
	int pre = settle(s);
	if (pre != SQLITE_OK)
		return fail_status(pre);
	int rc;
	sqlite3_stmt *st = stmt(s, domain != NULL ? Q_SOURCES_D : Q_SOURCES_A, &rc);
	if (st == NULL)
		return STORE_ERROR;
	bind_filter(st, domain, since);
	sqlite3_bind_int(st, 3, failing_only ? 1 : 0);
	struct store_source src;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&src, 0, sizeof src);
		const unsigned char *ip = sqlite3_column_text(st, 0);
		if (ip == NULL || ip_parse((const char *)ip, &src.ip) < 0)
			continue; /* cannot happen: we wrote it with ip_format */
		col_text(st, 1, src.domain, sizeof src.domain);
		src.total = col_u64(st, 2);
		src.dmarc_pass = col_u64(st, 3);
		src.spf_aligned_pass = col_u64(st, 4);
		src.dkim_aligned_pass = col_u64(st, 5);
		src.fail_both = col_u64(st, 6);
		src.first_seen = sqlite3_column_int64(st, 7);
		src.last_seen = sqlite3_column_int64(st, 8);
		src.reporters = (unsigned)sqlite3_column_int64(st, 9);
		if (cb(ctx, &src) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	done(st);
	return rc == SQLITE_DONE ? STORE_OK : failed_status(rc);
}

static enum store_status sq_agg_source_reporters(struct store *base, const struct ipaddr *ip, const char *domain,
						 int64_t since, char *out, size_t outlen)
{
	struct sqlite_store *s = sq(base);
	int pre = settle(s);
	if (pre != SQLITE_OK)
		return fail_status(pre);
	char ipt[IP_STRLEN];
	ip_format(ip, ipt);
	int rc;
	sqlite3_stmt *st = stmt(s, domain != NULL ? Q_SRC_REPORTERS_D : Q_SRC_REPORTERS_A, &rc);
	if (st == NULL)
		return STORE_ERROR;
	bind_text(st, 1, ipt);
	if (domain != NULL)
		bind_text(st, 2, domain);
	sqlite3_bind_int64(st, 3, store_day_of(since));
	size_t off = 0;
	unsigned n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		const char *name = t != NULL ? (const char *)t : "";
		size_t len = strlen(name);
		/* whole names only: stop when the next one does not fit */
		if (outlen == 0 || off + (n > 0 ? 2 : 0) + len + 1 > outlen)
			continue;
		if (n > 0) {
			memcpy(out + off, ", ", 2);
			off += 2;
		}
		memcpy(out + off, name, len);
		off += len;
		out[off] = '\0';
		n++;
	}
	done(st);
	if (rc != SQLITE_DONE)
		return failed_status(rc);
	return n > 0 ? STORE_OK : STORE_NOTFOUND;
}

/* ---- abuse log and cache ---- */

static enum store_status sq_abuse_last(struct store *base, const char *contact, const struct ipaddr *ip,
				       int64_t *when_r)
{
	struct sqlite_store *s = sq(base);
	int pre = settle(s);
	if (pre != SQLITE_OK)
		return fail_status(pre);
	char ipt[IP_STRLEN];
	ip_format(ip, ipt);
	int rc;
	sqlite3_stmt *st = stmt(s, Q_ABUSE_LAST, &rc);
	if (st == NULL)
		return STORE_ERROR;
	bind_text(st, 1, contact);
	bind_text(st, 2, ipt);
	rc = sqlite3_step(st);
	enum store_status ret = STORE_NOTFOUND;
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*when_r = sqlite3_column_int64(st, 0);
		ret = STORE_OK;
	} else if (rc != SQLITE_ROW) {
		ret = failed_status(rc);
	}
	done(st);
	return ret;
}

static enum store_status sq_abuse_log(struct store *base, const char *contact, const struct ipaddr *ip,
				      const char *domain, int64_t when, const char *status, const char *message_id)
{
	struct sqlite_store *s = sq(base);
	int pre = settle(s);
	if (pre != SQLITE_OK)
		return fail_status(pre);
	char ipt[IP_STRLEN];
	ip_format(ip, ipt);
	int rc;
	sqlite3_stmt *st = stmt(s, Q_ABUSE_LOG, &rc);
	if (st == NULL)
		return STORE_ERROR;
	bind_text(st, 1, contact);
	bind_text(st, 2, ipt);
	bind_text(st, 3, domain);
	sqlite3_bind_int64(st, 4, when);
	bind_text(st, 5, status);
	bind_text(st, 6, message_id);
	rc = sqlite3_step(st);
	done(st);
	return rc == SQLITE_DONE ? STORE_OK : failed_status(rc);
}

static enum store_status sq_cache_get(struct store *base, const char *key, int64_t now, char **value_r)
{
	struct sqlite_store *s = sq(base);
	int pre = settle(s);
	if (pre != SQLITE_OK)
		return fail_status(pre);
	int rc;
	sqlite3_stmt *st = stmt(s, Q_CACHE_GET, &rc);
	if (st == NULL)
		return STORE_ERROR;
	bind_text(st, 1, key);
	sqlite3_bind_int64(st, 2, now);
	rc = sqlite3_step(st);
	enum store_status ret = STORE_NOTFOUND;
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		*value_r = xstrdup(t != NULL ? (const char *)t : "");
		ret = STORE_OK;
	} else if (rc != SQLITE_DONE) {
		ret = failed_status(rc);
	}
	done(st);
	return ret;
}

static enum store_status sq_cache_put(struct store *base, const char *key, const char *value, int64_t expires)
{
	struct sqlite_store *s = sq(base);
	int pre = settle(s);
	if (pre != SQLITE_OK)
		return fail_status(pre);
	int rc;
	sqlite3_stmt *st = stmt(s, Q_CACHE_PUT, &rc);
	if (st == NULL)
		return STORE_ERROR;
	bind_text(st, 1, key);
	bind_text(st, 2, value);
	sqlite3_bind_int64(st, 3, expires);
	rc = sqlite3_step(st);
	done(st);
	return rc == SQLITE_DONE ? STORE_OK : failed_status(rc);
}

static const struct store_ops sqlite_ops = {
	.name = "sqlite",
	.close = sq_close,
	.agg_begin = sq_agg_begin,
	.agg_record = sq_agg_record,
	.agg_end = sq_agg_end,
	.agg_abort = sq_agg_abort,
	.flush = sq_flush,
	.import_error = sq_import_error,
	.import_errors = sq_import_errors,
	.raw_get = sq_raw_get,
	.failure_insert = sq_failure_insert,
	.agg_summary = sq_agg_summary,
	.agg_sources = sq_agg_sources,
	.agg_source_reporters = sq_agg_source_reporters,
	.abuse_last = sq_abuse_last,
	.abuse_log = sq_abuse_log,
	.cache_get = sq_cache_get,
	.cache_put = sq_cache_put,
};
