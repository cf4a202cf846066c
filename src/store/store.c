/* store: backend choice and dispatch of store.h through struct store_ops */
#include "store/store_backend.h"

#include "core/mem.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

const char *store_status_name(enum store_status st)
{
	switch (st) {
	case STORE_OK: return "ok";
	case STORE_DUPLICATE: return "duplicate";
	case STORE_NOTFOUND: return "not found";
	case STORE_TEMPFAIL: return "temporary failure";
	case STORE_ERROR: return "error";
	}
	return "unknown";
}

/* mkdir -p for the data directory; 0 or -1 with errno */
static int mkdir_parents(const char *dir)
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
		if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
			return -1;
		tmp[i] = save;
	}
	return 0;
}

struct store *store_open(const struct mamori_config *cfg, char *err, size_t errlen)
{
	if (cfg->store_backend != NULL && strcmp(cfg->store_backend, "sqlite") != 0) {
		snprintf(err, errlen, "store.backend: unknown backend \"%s\"", cfg->store_backend);
		return NULL;
	}
	char path[4096];
	if (cfg->store_path != NULL && cfg->store_path[0] != '\0') {
		snprintf(path, sizeof path, "%s", cfg->store_path);
	} else {
		const char *dir = cfg->data_dir != NULL && cfg->data_dir[0] != '\0' ? cfg->data_dir : ".";
		if (mkdir_parents(dir) < 0) {
			snprintf(err, errlen, "data_dir %s: %s", dir, strerror(errno));
			return NULL;
		}
		if ((size_t)snprintf(path, sizeof path, "%s/mamori.db", dir) >= sizeof path) {
			snprintf(err, errlen, "data_dir: path too long");
			return NULL;
		}
	}
	return store_sqlite_open(path, err, errlen);
}

void store_close(struct store **s)
{
	if (s == NULL || *s == NULL)
		return;
	(*s)->ops->close(*s);
	*s = NULL;
}

static void seterr(char *err, size_t errlen, const char *msg)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", msg);
}

enum store_status store_agg_begin(struct store *s, const struct agg_report *meta, const void *raw, size_t rawlen,
				  const char *source, int64_t *id_r, char *err, size_t errlen)
{
	/* an empty org_name is seen in the wild (and kept); without report_id
	   or domain the report could not be told from others */
	if (meta == NULL || meta->report_id[0] == '\0' || meta->domain[0] == '\0') {
		seterr(err, errlen, "report without report_id or policy domain");
		return STORE_ERROR;
	}
	return s->ops->agg_begin(s, meta, raw, rawlen, source != NULL ? source : "", id_r, err, errlen);
}

enum store_status store_agg_record(struct store *s, const struct agg_report *meta, const struct agg_record *rec,
				   const struct agg_auth *dkim, const struct agg_auth *spf, char *err, size_t errlen)
{
	enum store_status st = s->ops->agg_record(s, meta, rec, dkim, spf, err, errlen);
	if (st != STORE_OK)
		s->ops->agg_abort(s);
	return st;
}

enum store_status store_agg_end(struct store *s, const struct agg_report *meta, char *err, size_t errlen)
{
	return s->ops->agg_end(s, meta, err, errlen);
}

void store_agg_abort(struct store *s)
{
	s->ops->agg_abort(s);
}

enum store_status store_flush(struct store *s, char *err, size_t errlen)
{
	return s->ops->flush(s, err, errlen);
}

enum store_status store_agg_insert(struct store *s, const struct agg_report *r, const void *raw, size_t rawlen,
				   const char *source, int64_t *id_r, char *err, size_t errlen)
{
	enum store_status st = store_agg_begin(s, r, raw, rawlen, source, id_r, err, errlen);
	if (st != STORE_OK)
		return st;
	for (size_t i = 0; i < r->nrec; i++) {
		const struct agg_record *rec = &r->rec[i];
		const struct agg_auth *dkim = rec->ndkim > 0 ? agg_dkim(r, rec, 0) : NULL;
		const struct agg_auth *spf = rec->nspf > 0 ? agg_spf(r, rec, 0) : NULL;
		if ((st = store_agg_record(s, r, rec, dkim, spf, err, errlen)) != STORE_OK)
			return st;
	}
	if ((st = store_agg_end(s, r, err, errlen)) != STORE_OK)
		return st;
	return store_flush(s, err, errlen);
}

enum store_status store_import_error(struct store *s, const char *source, const char *reason, const void *raw,
				     size_t rawlen, char *err, size_t errlen)
{
	return s->ops->import_error(s, source != NULL ? source : "", reason != NULL ? reason : "", raw, rawlen, err,
				    errlen);
}

enum store_status store_import_errors(struct store *s, int (*cb)(void *ctx, const struct store_import_error *e),
				      void *ctx)
{
	return s->ops->import_errors(s, cb, ctx);
}

enum store_status store_raw_get(struct store *s, bool error_table, int64_t id, void **raw_r, size_t *len_r)
{
	*raw_r = NULL;
	*len_r = 0;
	return s->ops->raw_get(s, error_table, id, raw_r, len_r);
}

enum store_status store_failure_insert(struct store *s, const struct failure_report *f, const void *raw,
				       size_t rawlen, const char *source, char *err, size_t errlen)
{
	return s->ops->failure_insert(s, f, raw, rawlen, source != NULL ? source : "", err, errlen);
}

enum store_status store_agg_summary(struct store *s, const char *domain, int64_t since, struct store_summary *out)
{
	memset(out, 0, sizeof *out);
	return s->ops->agg_summary(s, domain, since, out);
}

void store_summary_free(struct store_summary *sum)
{
	if (sum == NULL)
		return;
	sum->days = xfree(sum->days);
	sum->ndays = 0;
}

enum store_status store_agg_sources(struct store *s, const char *domain, int64_t since, bool failing_only,
				    int (*cb)(void *ctx, const struct store_source *src), void *ctx)
{
	return s->ops->agg_sources(s, domain, since, failing_only, cb, ctx);
}

enum store_status store_agg_source_reporters(struct store *s, const struct ipaddr *ip, const char *domain,
					     int64_t since, char *out, size_t outlen)
{
	if (outlen > 0)
		out[0] = '\0';
	return s->ops->agg_source_reporters(s, ip, domain, since, out, outlen);
}

enum store_status store_abuse_last(struct store *s, const char *contact, const struct ipaddr *ip, int64_t *when_r)
{
	return s->ops->abuse_last(s, contact, ip, when_r);
}

enum store_status store_abuse_log(struct store *s, const char *contact, const struct ipaddr *ip, const char *domain,
				  int64_t when, const char *status, const char *message_id)
{
	return s->ops->abuse_log(s, contact, ip, domain != NULL ? domain : "", when, status != NULL ? status : "",
				 message_id != NULL ? message_id : "");
}

enum store_status store_cache_get(struct store *s, const char *key, int64_t now, char **value_r)
{
	*value_r = NULL;
	return s->ops->cache_get(s, key, now, value_r);
}

enum store_status store_cache_put(struct store *s, const char *key, const char *value, int64_t expires)
{
	return s->ops->cache_put(s, key, value, expires);
}
