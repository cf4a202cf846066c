/*
 * store_backend: the function table behind store.h. A backend embeds
 * struct store as its first member; store.c dispatches every public call
 * through s->ops. Only store_*.c and their unit tests include this.
 */
#ifndef MAMORI_STORE_STORE_BACKEND_H
#define MAMORI_STORE_STORE_BACKEND_H

#include "store/store.h"

struct store_ops {
	const char *name;
	void (*close)(struct store *s);
	enum store_status (*agg_begin)(struct store *s, const struct agg_report *meta, const void *raw, size_t rawlen,
				       const char *source, int64_t *id_r, char *err, size_t errlen);
	enum store_status (*agg_record)(struct store *s, const struct agg_report *meta, const struct agg_record *rec,
					const struct agg_auth *dkim, const struct agg_auth *spf, char *err,
					size_t errlen);
	enum store_status (*agg_end)(struct store *s, const struct agg_report *meta, char *err, size_t errlen);
	void (*agg_abort)(struct store *s);
	enum store_status (*flush)(struct store *s, char *err, size_t errlen);
	enum store_status (*import_error)(struct store *s, const char *source, const char *reason, const void *raw,
					  size_t rawlen, char *err, size_t errlen);
	enum store_status (*import_errors)(struct store *s, int (*cb)(void *, const struct store_import_error *),
					   void *ctx);
	enum store_status (*raw_get)(struct store *s, bool error_table, int64_t id, void **raw_r, size_t *len_r);
	enum store_status (*failure_insert)(struct store *s, const struct failure_report *f, const void *raw,
					    size_t rawlen, const char *source, char *err, size_t errlen);
	enum store_status (*agg_summary)(struct store *s, const char *domain, int64_t since, struct store_summary *out);
	enum store_status (*agg_sources)(struct store *s, const char *domain, int64_t since, bool failing_only,
					 int (*cb)(void *, const struct store_source *), void *ctx);
	enum store_status (*agg_source_reporters)(struct store *s, const struct ipaddr *ip, const char *domain,
						  int64_t since, char *out, size_t outlen);
	enum store_status (*abuse_last)(struct store *s, const char *contact, const struct ipaddr *ip, int64_t *when_r);
	enum store_status (*abuse_log)(struct store *s, const char *contact, const struct ipaddr *ip, const char *domain,
				       int64_t when, const char *status, const char *message_id);
	enum store_status (*cache_get)(struct store *s, const char *key, int64_t now, char **value_r);
	enum store_status (*cache_put)(struct store *s, const char *key, const char *value, int64_t expires);
};

struct store {
	const struct store_ops *ops;
};

/* the SQLite backend: opens (creating, migrating) the file at path */
struct store *store_sqlite_open(const char *path, char *err, size_t errlen);
/* how long a call waits for another writer before STORE_TEMPFAIL (default
   STORE_SQLITE_BUSY_MS); for tests and tools */
#define STORE_SQLITE_BUSY_MS 5000
void store_sqlite_set_busy_timeout(struct store *s, int ms);
/*
 * The SQLite connection of s, for the mail-side store modules
 * (store_sqlite_*.c) that keep their own prepared statements: commits an
 * open import batch first. NULL if s is not SQLite or the commit failed.
 * The connection belongs to s: use it from the thread that owns s.
 */
struct sqlite3;
struct sqlite3 *store_sqlite_db(struct store *s);
/* the schema version this build creates and expects */
int store_sqlite_schema_version(void);

/* SQL of the i-th summary query (NULL past the last), for query-plan tests */
const char *store_sqlite_read_sql(size_t i);

/* day bucket of a Unix time: 00:00 UTC of its day (floor, also for t < 0) */
static inline int64_t store_day_of(int64_t t)
{
	int64_t d = t / 86400;
	if (t % 86400 < 0)
		d--;
	return d * 86400;
}

#endif
