/* test_store: the SQLite store (insert, dedup, errors, rollups, summaries,
   sources, raw round trip, tempfail, abuse log, cache, query plans) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/mem.h"
#include "store/store.h"
#include "store/store_backend.h"

#define DAY0 1767225600LL /* 2026-01-01T00:00:00Z */

struct fixture {
	char dir[64];
	char path[128];
	struct mamori_config cfg;
	struct store *s;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/test_store.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/m.db", f->dir);
	config_defaults(&f->cfg);
	xfree(f->cfg.store_path);
	f->cfg.store_path = xstrdup(f->path);
	char err[256] = "";
	f->s = store_open(&f->cfg, err, sizeof err);
	if (f->s == NULL)
		fail_msg("store_open: %s", err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(&f->s);
	config_free(&f->cfg);
	char p[192];
	const char *suffix[] = { "", "-wal", "-shm" };
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s%s", f->path, suffix[i]);
		unlink(p);
	}
	rmdir(f->dir);
	xfree(f);
	return 0;
}

/* a second, plain connection to look at the tables */
static int64_t count_rows(struct fixture *f, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

struct rec_spec {
	const char *ip;
	uint64_t count;
	const char *disp, *dkim, *spf;
};

static struct agg_report *make_report(const char *org, const char *id, const char *domain, int64_t begin,
				      const struct rec_spec *recs, size_t n)
{
	struct agg_report *r = agg_report_new();
	r->format = AGG_RFC7489;
	snprintf(r->org_name, sizeof r->org_name, "%s", org);
	snprintf(r->email, sizeof r->email, "dmarc@%s", org);
	snprintf(r->report_id, sizeof r->report_id, "%s", id);
	snprintf(r->domain, sizeof r->domain, "%s", domain);
	r->date_begin = begin;
	r->date_end = begin + 86399;
	r->adkim = 'r';
	r->aspf = 'r';
	snprintf(r->p, sizeof r->p, "reject");
	r->pct = 100;
	for (size_t i = 0; i < n; i++) {
		struct agg_record *rec = agg_report_add_record(r);
		assert_int_equal(ip_parse(recs[i].ip, &rec->source_ip), 0);
		rec->count = recs[i].count;
		snprintf(rec->disposition, sizeof rec->disposition, "%s", recs[i].disp);
		snprintf(rec->dkim_eval, sizeof rec->dkim_eval, "%s", recs[i].dkim);
		snprintf(rec->spf_eval, sizeof rec->spf_eval, "%s", recs[i].spf);
		snprintf(rec->header_from, sizeof rec->header_from, "%s", domain);
		struct agg_auth *dk = agg_report_add_dkim(r);
		snprintf(dk->domain, sizeof dk->domain, "%s", domain);
		snprintf(dk->selector, sizeof dk->selector, "s1");
		snprintf(dk->result, sizeof dk->result, "%s", recs[i].dkim);
		struct agg_auth *sp = agg_report_add_spf(r);
		snprintf(sp->domain, sizeof sp->domain, "%s", domain);
		snprintf(sp->scope, sizeof sp->scope, "mfrom");
		snprintf(sp->result, sizeof sp->result, "%s", recs[i].spf);
		rec->nreason = 1;
		snprintf(rec->reason[0].type, sizeof rec->reason[0].type, "forwarded");
		rec->reason[0].comment[0] = '\0'; /* add_record leaves reason[] to the caller */
		r->total_count += recs[i].count;
	}
	return r;
}

static void free_report(struct agg_report *r)
{
	agg_report_free(&r);
}

/* report A (org-a, day 0): known numbers for the rollup checks */
static const struct rec_spec recs_a[] = {
	{ "192.0.2.4", 10, "none", "pass", "fail" },
	{ "192.0.2.4", 5, "reject", "fail", "fail" },
	{ "198.51.100.8", 3, "quarantine", "fail", "pass" },
	{ "2001:db8::1", 7, "none", "fail", "fail" },
};
/* report B (org-b, day 1) */
static const struct rec_spec recs_b[] = {
	{ "203.0.113.9", 2, "none", "pass", "pass" },
	{ "192.0.2.4", 1, "reject", "fail", "fail" },
};

static const char raw_a[] = "<feedback>report A raw bytes, repeated repeated repeated</feedback>";
static const char raw_b[] = "<feedback>report B</feedback>";

static void insert_ab(struct fixture *f, int64_t *ida, int64_t *idb)
{
	char err[256] = "";
	struct agg_report *a = make_report("org-a", "A-1", "example.com", DAY0 + 3600, recs_a, 4);
	struct agg_report *b = make_report("org-b", "B-1", "example.com", DAY0 + 86400, recs_b, 2);
	assert_int_equal(store_agg_insert(f->s, a, raw_a, sizeof raw_a - 1, "a.xml", ida, err, sizeof err), STORE_OK);
	assert_int_equal(store_agg_insert(f->s, b, raw_b, sizeof raw_b - 1, "b.xml", idb, err, sizeof err), STORE_OK);
	free_report(a);
	free_report(b);
}

static void test_day_of(void **state)
{
	(void)state;
	static const struct {
		int64_t t, day;
	} cases[] = {
		{ 0, 0 }, { 86399, 0 }, { 86400, 86400 }, { DAY0 + 3600, DAY0 }, { -1, -86400 }, { -86400, -86400 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_int_equal(store_day_of(cases[i].t), cases[i].day);
}

static void test_insert_and_duplicate(void **state)
{
	struct fixture *f = *state;
	int64_t ida = 0, idb = 0;
	insert_ab(f, &ida, &idb);
	assert_true(ida > 0 && idb > ida);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_report"), 2);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_record"), 6);
	/* schema 3: a report's records are the ids first_record .. + nrec - 1 */
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_report r WHERE r.nrec = 0 OR r.nrec != (SELECT"
				       " COUNT(*) FROM agg_record c WHERE c.report = r.id AND c.id BETWEEN r.first_record"
				       " AND r.first_record + r.nrec - 1)"),
			 0);
	/* schema 2: a record's DKIM and SPF results live in its row (one per
	   line, fields tab-separated), no longer one agg_auth row each */
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_record WHERE dkim LIKE 'example.com' || char(9) || 's1'"
				       " || char(9) || '%' AND spf LIKE 'example.com' || char(9) || 'mfrom' || char(9) || '%'"),
			 6);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_record WHERE instr(dkim, char(10)) > 0"), 0);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM raw_blob"), 2);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_record WHERE source_ip = '2001:db8::1'"), 1);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_record WHERE reasons = 'forwarded'"), 6);

	/* same (org, id, domain): duplicate, nothing changes */
	char err[256] = "";
	int64_t id = 0;
	struct agg_report *a = make_report("org-a", "A-1", "example.com", DAY0 + 3600, recs_a, 4);
	assert_int_equal(store_agg_insert(f->s, a, "other bytes", 11, "again.xml", &id, err, sizeof err),
			 STORE_DUPLICATE);
	assert_int_equal(id, ida);
	assert_non_null(strstr(err, "already imported"));
	/* same id for another domain is a different report */
	snprintf(a->domain, sizeof a->domain, "example.net");
	assert_int_equal(store_agg_insert(f->s, a, raw_a, sizeof raw_a - 1, "c.xml", NULL, err, sizeof err),
			 STORE_OK);
	free_report(a);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_report"), 3);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_record"), 10);
	/* identical raw bytes are kept once */
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM raw_blob"), 2);
	assert_int_equal(count_rows(f, "SELECT SUM(total) FROM rollup_day WHERE domain = 'example.com'"), 28);

	/* a report without report id or domain is refused; an empty org_name
	   (seen in the wild) is kept, its rollups under the reporter's address */
	struct agg_report *bad = make_report("org-a", "", "example.com", DAY0, recs_a, 1);
	assert_int_equal(store_agg_insert(f->s, bad, NULL, 0, "x", NULL, err, sizeof err), STORE_ERROR);
	assert_non_null(strstr(err, "report_id"));
	snprintf(bad->report_id, sizeof bad->report_id, "X");
	bad->domain[0] = '\0';
	assert_int_equal(store_agg_insert(f->s, bad, NULL, 0, "x", NULL, err, sizeof err), STORE_ERROR);
	free_report(bad);
	struct agg_report *anon = make_report("", "X", "example.com", DAY0, recs_a, 1);
	anon->email[0] = '\0';
	assert_int_equal(store_agg_insert(f->s, anon, NULL, 0, "x", NULL, err, sizeof err), STORE_OK);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM rollup_day WHERE reporter = '(unnamed)'"), 1);
	free_report(anon);
}

static void test_raw_round_trip(void **state)
{
	struct fixture *f = *state;
	int64_t ida, idb;
	insert_ab(f, &ida, &idb);
	void *raw;
	size_t len;
	assert_int_equal(store_raw_get(f->s, false, ida, &raw, &len), STORE_OK);
	assert_int_equal(len, sizeof raw_a - 1);
	assert_memory_equal(raw, raw_a, len);
	xfree(raw);
	assert_int_equal(store_raw_get(f->s, false, idb, &raw, &len), STORE_OK);
	assert_memory_equal(raw, raw_b, len);
	xfree(raw);
	assert_int_equal(store_raw_get(f->s, false, 9999, &raw, &len), STORE_NOTFOUND);
	assert_null(raw);
	/* binary data, larger than a page, compressible */
	size_t big = 300000;
	unsigned char *data = xmalloc(big);
	for (size_t i = 0; i < big; i++)
		data[i] = (unsigned char)(i * 7 % 251);
	char err[256];
	assert_int_equal(store_import_error(f->s, "big.bin", "not a report", data, big, err, sizeof err), STORE_OK);
	assert_true(count_rows(f, "SELECT length(data) FROM raw_blob WHERE rawlen = 300000") < 300000);
	int64_t eid = count_rows(f, "SELECT MAX(id) FROM import_error");
	assert_int_equal(store_raw_get(f->s, true, eid, &raw, &len), STORE_OK);
	assert_int_equal(len, big);
	assert_memory_equal(raw, data, big);
	xfree(raw);

	/* gzip and zip containers are kept in stored deflate blocks of at
	   most 65535 bytes (6 bytes of zlib frame, 5 per block), whatever the
	   size around the block limit */
	static const size_t sizes[] = { 4, 1000, 65534, 65535, 65536, 131070, 131071, 200001 };
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		size_t n = sizes[k];
		memcpy(data, k % 2 ? "PK\x03\x04" : "\x1f\x8b\x08\x00", 4);
		data[4] = (unsigned char)k; /* distinct bytes each time */
		char src[32];
		snprintf(src, sizeof src, "packed%zu", k);
		assert_int_equal(store_import_error(f->s, src, "not a report", data, n, err, sizeof err), STORE_OK);
		char sql[128];
		snprintf(sql, sizeof sql, "SELECT length(data) FROM raw_blob WHERE id = (SELECT MAX(id) FROM raw_blob)");
		int64_t blocks = (int64_t)(n / 65535 + (n % 65535 != 0));
		assert_int_equal(count_rows(f, sql), (int64_t)n + 6 + 5 * blocks);
		eid = count_rows(f, "SELECT MAX(id) FROM import_error");
		assert_int_equal(store_raw_get(f->s, true, eid, &raw, &len), STORE_OK);
		assert_int_equal(len, n);
		assert_memory_equal(raw, data, n);
		xfree(raw);
	}
	xfree(data);
}

struct err_list {
	int n;
	struct store_import_error e[8];
};

static int collect_err(void *ctx, const struct store_import_error *e)
{
	struct err_list *l = ctx;
	if (l->n < 8)
		l->e[l->n++] = *e;
	return 0;
}

static void test_import_errors(void **state)
{
	struct fixture *f = *state;
	char err[256];
	assert_int_equal(store_import_error(f->s, "dir/broken.xml", "line 3: XML: mismatched tag", "<a><b></a>", 10,
					    err, sizeof err),
			 STORE_OK);
	/* same bytes, same reason, other path: kept once */
	assert_int_equal(store_import_error(f->s, "copy/broken.xml", "line 3: XML: mismatched tag", "<a><b></a>",
					    10, err, sizeof err),
			 STORE_DUPLICATE);
	/* same bytes, another reason (e.g. a second report in one zip) */
	assert_int_equal(store_import_error(f->s, "dir/broken.xml", "other reason", "<a><b></a>", 10, err,
					    sizeof err),
			 STORE_OK);
	/* nothing read: kept by source and reason */
	assert_int_equal(store_import_error(f->s, "dir/unreadable", "Permission denied", NULL, 0, err, sizeof err),
			 STORE_OK);
	assert_int_equal(store_import_error(f->s, "dir/unreadable", "Permission denied", NULL, 0, err, sizeof err),
			 STORE_DUPLICATE);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM import_error"), 3);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM raw_blob"), 1);

	struct err_list l = { 0 };
	assert_int_equal(store_import_errors(f->s, collect_err, &l), STORE_OK);
	assert_int_equal(l.n, 3);
	/* newest first */
	assert_string_equal(l.e[0].source, "dir/unreadable");
	assert_int_equal(l.e[0].rawlen, 0);
	assert_string_equal(l.e[1].reason, "other reason");
	assert_string_equal(l.e[2].reason, "line 3: XML: mismatched tag");
	assert_int_equal(l.e[2].rawlen, 10);
	assert_true(l.e[2].when > 0 && l.e[2].when <= (int64_t)time(NULL));
	void *raw;
	size_t len;
	assert_int_equal(store_raw_get(f->s, true, l.e[0].id, &raw, &len), STORE_NOTFOUND);
	assert_int_equal(store_raw_get(f->s, true, l.e[2].id, &raw, &len), STORE_OK);
	assert_memory_equal(raw, "<a><b></a>", 10);
	xfree(raw);
}

static void test_summary(void **state)
{
	struct fixture *f = *state;
	int64_t ida, idb;
	insert_ab(f, &ida, &idb);
	struct store_summary sum;
	assert_int_equal(store_agg_summary(f->s, "example.com", 0, &sum), STORE_OK);
	assert_int_equal(sum.reports, 2);
	/* A: 25 messages; B: 3 */
	assert_int_equal(sum.c.total, 28);
	assert_int_equal(sum.c.dmarc_pass, 10 + 3 + 2);
	assert_int_equal(sum.c.spf_aligned_pass, 3 + 2);
	assert_int_equal(sum.c.dkim_aligned_pass, 10 + 2);
	assert_int_equal(sum.c.disp_none, 10 + 7 + 2);
	assert_int_equal(sum.c.disp_quarantine, 3);
	assert_int_equal(sum.c.disp_reject, 5 + 1);
	assert_int_equal(sum.nreporters, 2);
	assert_string_equal(sum.reporters[0].name, "org-a");
	assert_int_equal(sum.reporters[0].total, 25);
	assert_int_equal(sum.reporters[0].dmarc_pass, 13);
	assert_string_equal(sum.reporters[1].name, "org-b");
	assert_int_equal(sum.nsources, 4);
	assert_string_equal(sum.sources[0].name, "192.0.2.4");
	assert_int_equal(sum.sources[0].total, 16);
	assert_int_equal(sum.sources[0].dmarc_pass, 10);
	assert_string_equal(sum.sources[1].name, "2001:db8::1");
	assert_int_equal(sum.ndays, 2);
	assert_int_equal(sum.days[0].day, DAY0);
	assert_int_equal(sum.days[0].c.total, 25);
	assert_int_equal(sum.days[0].c.disp_reject, 5);
	assert_int_equal(sum.days[1].day, DAY0 + 86400);
	assert_int_equal(sum.days[1].c.total, 3);
	store_summary_free(&sum);
	assert_null(sum.days);

	/* since the second day (any time in it counts the whole day) */
	assert_int_equal(store_agg_summary(f->s, "example.com", DAY0 + 86400 + 7200, &sum), STORE_OK);
	assert_int_equal(sum.reports, 1);
	assert_int_equal(sum.c.total, 3);
	assert_int_equal(sum.ndays, 1);
	store_summary_free(&sum);

	/* all domains and an unknown one */
	assert_int_equal(store_agg_summary(f->s, NULL, 0, &sum), STORE_OK);
	assert_int_equal(sum.reports, 2);
	assert_int_equal(sum.c.total, 28);
	store_summary_free(&sum);
	assert_int_equal(store_agg_summary(f->s, "nobody.example", 0, &sum), STORE_OK);
	assert_int_equal(sum.reports, 0);
	assert_int_equal(sum.c.total, 0);
	assert_int_equal(sum.nreporters, 0);
	assert_int_equal(sum.ndays, 0);
	store_summary_free(&sum);
}

struct src_list {
	int n;
	struct store_source s[8];
	int stop_after;
};

static int collect_src(void *ctx, const struct store_source *src)
{
	struct src_list *l = ctx;
	if (l->n < 8)
		l->s[l->n++] = *src;
	return l->stop_after > 0 && l->n >= l->stop_after;
}

static void test_sources(void **state)
{
	struct fixture *f = *state;
	int64_t ida, idb;
	insert_ab(f, &ida, &idb);
	struct src_list l = { 0 };
	assert_int_equal(store_agg_sources(f->s, "example.com", 0, true, collect_src, &l), STORE_OK);
	/* failing: 192.0.2.4 (5 + 1), 2001:db8::1 (7) -> ranked by fail_both */
	assert_int_equal(l.n, 2);
	char ip[IP_STRLEN];
	assert_string_equal(ip_format(&l.s[0].ip, ip), "2001:db8::1");
	assert_int_equal(l.s[0].fail_both, 7);
	assert_int_equal(l.s[0].total, 7);
	assert_string_equal(ip_format(&l.s[1].ip, ip), "192.0.2.4");
	assert_int_equal(l.s[1].fail_both, 6);
	assert_int_equal(l.s[1].total, 16);
	assert_int_equal(l.s[1].dmarc_pass, 10);
	assert_int_equal(l.s[1].dkim_aligned_pass, 10);
	assert_int_equal(l.s[1].spf_aligned_pass, 0);
	assert_int_equal(l.s[1].reporters, 2);
	assert_int_equal(l.s[1].first_seen, DAY0 + 3600);
	assert_int_equal(l.s[1].last_seen, DAY0 + 86400 + 86399);
	assert_string_equal(l.s[1].domain, "example.com");

	memset(&l, 0, sizeof l);
	assert_int_equal(store_agg_sources(f->s, NULL, 0, false, collect_src, &l), STORE_OK);
	assert_int_equal(l.n, 4);
	assert_int_equal(l.s[2].fail_both, 0);
	assert_int_equal(l.s[2].total, 3); /* 198.51.100.8 before 203.0.113.9 (2) */
	assert_int_equal(l.s[3].total, 2);

	memset(&l, 0, sizeof l);
	l.stop_after = 1;
	assert_int_equal(store_agg_sources(f->s, NULL, 0, false, collect_src, &l), STORE_OK);
	assert_int_equal(l.n, 1);

	char out[64];
	struct ipaddr a;
	ip_parse("192.0.2.4", &a);
	assert_int_equal(store_agg_source_reporters(f->s, &a, "example.com", 0, out, sizeof out), STORE_OK);
	assert_string_equal(out, "org-a, org-b");
	assert_int_equal(store_agg_source_reporters(f->s, &a, "example.com", DAY0 + 86400, out, sizeof out),
			 STORE_OK);
	assert_string_equal(out, "org-b");
	/* bounded: whole names only */
	assert_int_equal(store_agg_source_reporters(f->s, &a, NULL, 0, out, 8), STORE_OK);
	assert_string_equal(out, "org-a");
	ip_parse("203.0.113.200", &a);
	assert_int_equal(store_agg_source_reporters(f->s, &a, NULL, 0, out, sizeof out), STORE_NOTFOUND);
}

static void test_tempfail(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	store_sqlite_set_busy_timeout(f->s, 50);
	char err[256] = "";
	struct agg_report *a = make_report("org-a", "T-1", "example.com", DAY0, recs_a, 4);
	assert_int_equal(store_agg_insert(f->s, a, raw_a, sizeof raw_a - 1, "t.xml", NULL, err, sizeof err),
			 STORE_TEMPFAIL);
	assert_non_null(strstr(err, "busy"));
	assert_int_equal(store_import_error(f->s, "x", "y", "z", 1, err, sizeof err), STORE_TEMPFAIL);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	/* nothing was half-written; it goes in once the lock is gone */
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_record"), 0);
	assert_int_equal(store_agg_insert(f->s, a, raw_a, sizeof raw_a - 1, "t.xml", NULL, err, sizeof err),
			 STORE_OK);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_record"), 4);
	free_report(a);
}

/* streams report r (built with make_report) through begin/record/end */
static enum store_status stream_report(struct fixture *f, const struct agg_report *r, const char *raw,
				       int64_t *id_r, bool finish)
{
	char err[256] = "";
	enum store_status st = store_agg_begin(f->s, r, raw, strlen(raw), "stream.xml", id_r, err, sizeof err);
	if (st != STORE_OK)
		return st;
	for (size_t i = 0; i < r->nrec; i++) {
		const struct agg_record *rec = &r->rec[i];
		st = store_agg_record(f->s, r, rec, agg_dkim(r, rec, 0), agg_spf(r, rec, 0), err, sizeof err);
		if (st != STORE_OK)
			return st;
	}
	return finish ? store_agg_end(f->s, r, err, sizeof err) : STORE_OK;
}

static void test_stream_batch(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	int64_t ida = 0, idb = 0, id = 0;
	struct agg_report *a = make_report("org-a", "S-1", "example.com", DAY0, recs_a, 4);
	struct agg_report *b = make_report("org-b", "S-2", "example.com", DAY0, recs_b, 2);

	/* A goes in; B is aborted half-way (a parse error after some records) */
	assert_int_equal(stream_report(f, a, "raw S-1", &ida, true), STORE_OK);
	assert_true(ida > 0);
	assert_int_equal(stream_report(f, b, "raw S-2", &idb, false), STORE_OK);
	store_agg_abort(f->s);
	store_agg_abort(f->s); /* nothing open: no-op */
	/* a duplicate of A is seen before the batch is committed */
	assert_int_equal(store_agg_begin(f->s, a, "other", 5, "again.xml", &id, err, sizeof err), STORE_DUPLICATE);
	assert_int_equal(id, ida);
	assert_non_null(strstr(err, "already imported"));
	/* an import error joins the batch */
	assert_int_equal(store_import_error(f->s, "bad.xml", "broken", "junk", 4, err, sizeof err), STORE_OK);
	/* batched: another connection sees nothing yet */
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_report"), 0);
	assert_int_equal(store_flush(f->s, err, sizeof err), STORE_OK);
	assert_int_equal(store_flush(f->s, err, sizeof err), STORE_OK); /* nothing open */
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_report"), 1);
	assert_int_equal(count_rows(f, "SELECT nrec FROM agg_report"), 4);
	assert_int_equal(count_rows(f, "SELECT total_count FROM agg_report"), 25);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_record"), 4);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM import_error"), 1);
	/* B left nothing: no raw bytes, no rollups under org-b */
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM raw_blob"), 2);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM rollup_day WHERE reporter = 'org-b'"), 0);
	/* rollups summed per source IP within the report: 192.0.2.4 twice */
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM rollup_day"), 3);
	assert_int_equal(count_rows(f, "SELECT total FROM rollup_day WHERE source_ip = '192.0.2.4'"), 15);
	assert_int_equal(count_rows(f, "SELECT dmarc_pass FROM rollup_day WHERE source_ip = '192.0.2.4'"), 10);
	assert_int_equal(count_rows(f, "SELECT fail_both FROM rollup_day WHERE source_ip = '192.0.2.4'"), 5);
	assert_int_equal(count_rows(f, "SELECT disp_reject FROM rollup_day WHERE source_ip = '192.0.2.4'"), 5);

	/* a read through the store commits the batch first */
	assert_int_equal(stream_report(f, b, "raw S-2", &idb, true), STORE_OK);
	struct store_summary sum;
	assert_int_equal(store_agg_summary(f->s, NULL, 0, &sum), STORE_OK);
	assert_int_equal(sum.reports, 2);
	assert_int_equal(sum.c.total, 28);
	store_summary_free(&sum);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_report"), 2);

	/* a second report of the same reporter, domain and day adds to the
	   same rollup rows */
	struct agg_report *a2 = make_report("org-a", "S-1b", "example.com", DAY0 + 7200, recs_a, 4);
	assert_int_equal(stream_report(f, a2, "raw S-1b", NULL, true), STORE_OK);
	assert_int_equal(store_flush(f->s, err, sizeof err), STORE_OK);
	free_report(a2);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM rollup_day WHERE reporter = 'org-a'"), 3);
	assert_int_equal(count_rows(f, "SELECT total FROM rollup_day WHERE source_ip = '192.0.2.4'"
				       " AND reporter = 'org-a'"), 30);
	assert_int_equal(count_rows(f, "SELECT last_seen FROM rollup_day WHERE source_ip = '192.0.2.4'"
				       " AND reporter = 'org-a'"), DAY0 + 7200 + 86399);

	/* misuse is refused, not crashed */
	assert_int_equal(store_agg_end(f->s, a, err, sizeof err), STORE_ERROR);
	free_report(a);
	free_report(b);

	/* store_close commits an open batch */
	struct agg_report *c = make_report("org-c", "S-3", "example.com", DAY0, recs_b, 2);
	assert_int_equal(stream_report(f, c, "raw S-3", NULL, true), STORE_OK);
	free_report(c);
	store_close(&f->s);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_report"), 4); /* S-1, S-2, S-1b, S-3 */
	f->s = store_open(&f->cfg, err, sizeof err);
	assert_non_null(f->s);
}

/* addresses are stored as ip_format writes them; a report with more
   distinct sources than the in-memory rollup table holds still sums right */
static void test_stream_ips_and_rollup_overflow(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *ip;
	} ips[] = { { "0.0.0.0" }, { "9.10.99.100" }, { "255.255.255.255" }, { "10.0.0.1" }, { "::ffff:1.2.3.4" },
		    { "2001:db8::" } };
	struct rec_spec spec[sizeof ips / sizeof ips[0]];
	for (size_t i = 0; i < sizeof ips / sizeof ips[0]; i++)
		spec[i] = (struct rec_spec){ ips[i].ip, 1, "none", "pass", "pass" };
	struct agg_report *r = make_report("org-a", "IP-1", "example.com", DAY0, spec, sizeof ips / sizeof ips[0]);
	char err[256] = "";
	assert_int_equal(store_agg_insert(f->s, r, "ips", 3, "ips.xml", NULL, err, sizeof err), STORE_OK);
	for (size_t i = 0; i < sizeof ips / sizeof ips[0]; i++) {
		char want[IP_STRLEN], sql[256];
		ip_format(&r->rec[i].source_ip, want);
		snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM agg_record WHERE source_ip = '%s'", want);
		if (count_rows(f, sql) != 1)
			fail_msg("%s not stored as %s", ips[i].ip, want);
		snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM rollup_day WHERE source_ip = '%s'", want);
		if (count_rows(f, sql) != 1)
			fail_msg("%s: no rollup as %s", ips[i].ip, want);
	}
	free_report(r);

	/* 6000 distinct sources, each twice (12000 records): partial sums are
	   written when the table fills and add up */
	enum { NIP = 6000 };
	struct rec_spec *many = xcalloc(2 * NIP, sizeof *many);
	char (*txt)[IP_STRLEN] = xcalloc(NIP, sizeof *txt);
	for (int i = 0; i < NIP; i++) {
		snprintf(txt[i], sizeof txt[i], "10.%d.%d.%d", i / 65536, i / 256 % 256, i % 256);
		many[i] = (struct rec_spec){ txt[i], 2, "none", "fail", "fail" };
		many[NIP + i] = (struct rec_spec){ txt[i], 3, "reject", "fail", "pass" };
	}
	r = make_report("org-b", "MANY", "example.net", DAY0, many, 2 * NIP);
	assert_int_equal(store_agg_insert(f->s, r, "many", 4, "many.xml", NULL, err, sizeof err), STORE_OK);
	free_report(r);
	xfree(many);
	xfree(txt);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM rollup_day WHERE domain = 'example.net'"), NIP);
	assert_int_equal(count_rows(f, "SELECT SUM(total) FROM rollup_day WHERE domain = 'example.net'"), 5 * NIP);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM rollup_day WHERE domain = 'example.net' AND total = 5"
				       " AND spf_aligned_pass = 3 AND fail_both = 2 AND disp_none = 2 AND disp_reject = 3"),
			 NIP);
	assert_int_equal(count_rows(f, "SELECT nrec FROM agg_report WHERE report_id = 'MANY'"), 2 * NIP);
}

/* IPv6 sources are stored exactly as inet_ntop writes them (RFC 5952
   forms: zero runs, ties, leading and trailing "::", dotted IPv4 tails) */
static void test_ip6_text(void **state)
{
	struct fixture *f = *state;
	enum { N = 3000 };
	struct rec_spec *spec = xcalloc(N, sizeof *spec);
	char (*txt)[IP_STRLEN] = xcalloc(N, sizeof *txt);
	uint64_t seed = 0x243f6a8885a308d3ULL;
	for (int i = 0; i < N; i++) {
		struct ipaddr ip = { .family = AF_INET6 };
		for (int w = 0; w < 8; w++) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			unsigned pick = (unsigned)(seed >> 60), v;
			if (pick < 8)
				v = 0; /* many zero fields: runs of every length */
			else if (pick < 10)
				v = 0xffff;
			else if (pick < 12)
				v = (unsigned)(seed >> 40) & 0xf;
			else
				v = (unsigned)(seed >> 33) & 0xffff;
			ip.a[2 * w] = (uint8_t)(v >> 8);
			ip.a[2 * w + 1] = (uint8_t)v;
		}
		if (i < 4) /* ::a.b.c.d, ::ffff:a.b.c.d, ::1, :: */
			memset(ip.a, 0, i < 2 ? 10 : 16);
		if (i == 1)
			ip.a[10] = ip.a[11] = 0xff;
		if (i == 2)
			ip.a[15] = 1;
		ip_format(&ip, txt[i]);
		spec[i] = (struct rec_spec){ txt[i], 1, "none", "pass", "pass" };
	}
	struct agg_report *r = make_report("org-6", "V6", "example.com", DAY0, spec, N);
	char err[256] = "";
	assert_int_equal(store_agg_insert(f->s, r, "v6", 2, "v6.xml", NULL, err, sizeof err), STORE_OK);
	free_report(r);
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT source_ip FROM agg_record ORDER BY id", -1, &st, NULL),
			 SQLITE_OK);
	int n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		assert_true(n < N);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), txt[n]);
		n++;
	}
	assert_int_equal(n, N);
	sqlite3_finalize(st);
	sqlite3_close(db);
	xfree(spec);
	xfree(txt);
}

static void test_failure_reports(void **state)
{
	struct fixture *f = *state;
	struct failure_report fr;
	memset(&fr, 0, sizeof fr);
	snprintf(fr.feedback_type, sizeof fr.feedback_type, "auth-failure");
	snprintf(fr.reported_domain, sizeof fr.reported_domain, "example.com");
	snprintf(fr.auth_failure, sizeof fr.auth_failure, "dmarc");
	ip_parse("192.0.2.77", &fr.source_ip);
	fr.have_source_ip = true;
	fr.arrival_date = DAY0;
	snprintf(fr.message_id, sizeof fr.message_id, "<m1@example.com>");
	char err[256];
	const char raw[] = "From: r@example.net\r\n\r\nARF";
	assert_int_equal(store_failure_insert(f->s, &fr, raw, sizeof raw - 1, "arf.eml", err, sizeof err), STORE_OK);
	assert_int_equal(store_failure_insert(f->s, &fr, raw, sizeof raw - 1, "arf2.eml", err, sizeof err),
			 STORE_DUPLICATE);
	/* a second report in the same mbox bytes is its own row */
	snprintf(fr.message_id, sizeof fr.message_id, "<m2@example.com>");
	assert_int_equal(store_failure_insert(f->s, &fr, raw, sizeof raw - 1, "arf.eml", err, sizeof err), STORE_OK);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM failure_report"), 2);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM failure_report WHERE source_ip = '192.0.2.77'"), 2);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM raw_blob"), 1);
}

static void test_abuse_and_cache(void **state)
{
	struct fixture *f = *state;
	struct ipaddr ip;
	ip_parse("192.0.2.9", &ip);
	int64_t when = 0;
	assert_int_equal(store_abuse_last(f->s, "abuse@net.example", &ip, &when), STORE_NOTFOUND);
	assert_int_equal(store_abuse_log(f->s, "abuse@net.example", &ip, "example.com", 1000, "sent", "<a@b>"),
			 STORE_OK);
	assert_int_equal(store_abuse_log(f->s, "abuse@net.example", &ip, "example.com", 2000, "sent", "<c@d>"),
			 STORE_OK);
	/* a dry run or a failure is not a sent report */
	assert_int_equal(store_abuse_log(f->s, "abuse@net.example", &ip, "example.com", 3000, "dry-run", ""),
			 STORE_OK);
	assert_int_equal(store_abuse_log(f->s, "abuse@net.example", &ip, "example.com", 4000, "failed: 550", ""),
			 STORE_OK);
	assert_int_equal(store_abuse_last(f->s, "abuse@net.example", &ip, &when), STORE_OK);
	assert_int_equal(when, 2000);
	assert_int_equal(store_abuse_last(f->s, "other@net.example", &ip, &when), STORE_NOTFOUND);

	char *v = NULL;
	assert_int_equal(store_cache_get(f->s, "rdap:192.0.2.9", 100, &v), STORE_NOTFOUND);
	assert_null(v);
	assert_int_equal(store_cache_put(f->s, "rdap:192.0.2.9", "{\"a\":1}", 200), STORE_OK);
	assert_int_equal(store_cache_get(f->s, "rdap:192.0.2.9", 100, &v), STORE_OK);
	assert_string_equal(v, "{\"a\":1}");
	v = xfree(v);
	assert_int_equal(store_cache_get(f->s, "rdap:192.0.2.9", 200, &v), STORE_NOTFOUND); /* expired */
	assert_int_equal(store_cache_put(f->s, "rdap:192.0.2.9", "new", 500), STORE_OK);
	assert_int_equal(store_cache_get(f->s, "rdap:192.0.2.9", 300, &v), STORE_OK);
	assert_string_equal(v, "new");
	xfree(v);
}

static void test_reopen_and_schema(void **state)
{
	struct fixture *f = *state;
	int64_t ida, idb;
	insert_ab(f, &ida, &idb);
	store_close(&f->s);
	assert_null(f->s);
	char err[256] = "";
	f->s = store_open(&f->cfg, err, sizeof err);
	assert_non_null(f->s);
	assert_int_equal(count_rows(f, "SELECT version FROM schema_version"), store_sqlite_schema_version());
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM schema_version"), 1);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_report"), 2);

	/* a newer schema is refused, not damaged */
	store_close(&f->s);
	sqlite3 *db;
	sqlite3_open(f->path, &db);
	sqlite3_exec(db, "UPDATE schema_version SET version = 999", NULL, NULL, NULL);
	sqlite3_close(db);
	f->s = store_open(&f->cfg, err, sizeof err);
	assert_null(f->s);
	assert_non_null(strstr(err, "newer"));
	sqlite3_open(f->path, &db);
	char restore[64];
	snprintf(restore, sizeof restore, "UPDATE schema_version SET version = %d", store_sqlite_schema_version());
	sqlite3_exec(db, restore, NULL, NULL, NULL);
	sqlite3_close(db);
	f->s = store_open(&f->cfg, err, sizeof err);
	assert_non_null(f->s);

	/* not a database */
	struct mamori_config c2;
	config_defaults(&c2);
	xfree(c2.store_path);
	char junk[160];
	snprintf(junk, sizeof junk, "%s/junk.db", f->dir);
	FILE *fp = fopen(junk, "w");
	fputs("this is not an SQLite database, just text that is long enough to have a header....\n", fp);
	fclose(fp);
	c2.store_path = xstrdup(junk);
	assert_null(store_open(&c2, err, sizeof err));
	assert_non_null(strstr(err, "junk.db"));
	config_free(&c2);
	unlink(junk);
}

/* months of rollups: the summary statements use an index, never a full scan */
/* a schema 1 database (results in agg_auth) is migrated: the results move
   into their record rows; the rollups are rebuilt (migration 5) and every
   summary answers as before */
static void test_migrate_v1(void **state)
{
	struct fixture *f = *state;
	int64_t ida, idb;
	insert_ab(f, &ida, &idb);
	struct store_summary before;
	memset(&before, 0, sizeof before);
	assert_int_equal(store_agg_summary(f->s, NULL, 0, &before), STORE_OK);
	store_close(&f->s);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	char *msg = NULL;
	const char *to_v1 =
		/* undo migration 5: rowid rollup_day with its two indexes, no
		   rollup_org_day, agg_record with its foreign key */
		"DROP TABLE rollup_org_day;"
		"CREATE TABLE rollup_v1 (domain TEXT NOT NULL, day INTEGER NOT NULL, source_ip TEXT NOT NULL,"
		" reporter TEXT NOT NULL, total INTEGER NOT NULL, dmarc_pass INTEGER NOT NULL,"
		" spf_aligned_pass INTEGER NOT NULL, dkim_aligned_pass INTEGER NOT NULL, fail_both INTEGER NOT NULL,"
		" disp_none INTEGER NOT NULL, disp_quarantine INTEGER NOT NULL, disp_reject INTEGER NOT NULL,"
		" first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
		" PRIMARY KEY (domain, day, source_ip, reporter));"
		"INSERT INTO rollup_v1 SELECT * FROM rollup_day;"
		"DROP TABLE rollup_day; ALTER TABLE rollup_v1 RENAME TO rollup_day;"
		"CREATE INDEX rollup_day_day ON rollup_day (day);"
		"CREATE INDEX rollup_day_ip ON rollup_day (source_ip, domain, day);"
		"CREATE TABLE record_v1 (id INTEGER PRIMARY KEY,"
		" report INTEGER NOT NULL REFERENCES agg_report(id) ON DELETE CASCADE, source_ip TEXT NOT NULL,"
		" count INTEGER NOT NULL, disposition TEXT NOT NULL, dkim_eval TEXT NOT NULL, spf_eval TEXT NOT NULL,"
		" header_from TEXT NOT NULL, envelope_from TEXT NOT NULL, envelope_to TEXT NOT NULL,"
		" reasons TEXT NOT NULL, dkim TEXT NOT NULL DEFAULT '', spf TEXT NOT NULL DEFAULT '');"
		"INSERT INTO record_v1 SELECT * FROM agg_record;"
		"DROP TABLE agg_record; ALTER TABLE record_v1 RENAME TO agg_record;"
		"ALTER TABLE agg_record DROP COLUMN dkim; ALTER TABLE agg_record DROP COLUMN spf;"
		"CREATE TABLE agg_auth (id INTEGER PRIMARY KEY, record INTEGER NOT NULL REFERENCES agg_record(id)"
		" ON DELETE CASCADE, kind TEXT NOT NULL, domain TEXT NOT NULL, selector TEXT NOT NULL,"
		" scope TEXT NOT NULL, result TEXT NOT NULL, human TEXT NOT NULL);"
		"CREATE INDEX agg_auth_record ON agg_auth (record);"
		"CREATE INDEX agg_record_ip ON agg_record (source_ip);"
		"ALTER TABLE agg_report DROP COLUMN first_record;"
		"CREATE INDEX agg_record_report ON agg_record (report);"
		"DROP TABLE msglog; DROP TABLE quarantine; DROP TABLE account_lock; DROP TABLE account_event;"
		"INSERT INTO agg_auth (record, kind, domain, selector, scope, result, human) VALUES"
		" (1, 'dkim', 'd.example', 's1', '', 'pass', ''), (1, 'dkim', 'e.example', 's2', '', 'fail', 'x y'),"
		" (1, 'spf', 'd.example', '', 'mfrom', 'pass', '');"
		"UPDATE schema_version SET version = 1;";
	if (sqlite3_exec(db, to_v1, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("to v1: %s", msg);
	sqlite3_close(db);
	char err[256] = "";
	f->s = store_open(&f->cfg, err, sizeof err);
	if (f->s == NULL)
		fail_msg("migrate: %s", err);
	assert_int_equal(count_rows(f, "SELECT version FROM schema_version"), store_sqlite_schema_version());
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('agg_auth', 'agg_record_ip',"
				       " 'agg_record_report')"),
			 0);
	/* migration 3: each report knows where its records start */
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_report WHERE nrec > 0 AND first_record IS NOT"
				       " (SELECT MIN(id) FROM agg_record WHERE report = agg_report.id)"),
			 0);
	assert_true(count_rows(f, "SELECT COUNT(*) FROM agg_report WHERE first_record IS NOT NULL") > 0);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_record WHERE id = 1 AND dkim = 'd.example' || char(9)"
				       " || 's1' || char(9) || 'pass' || char(9) || char(10) || 'e.example' || char(9) || 's2'"
				       " || char(9) || 'fail' || char(9) || 'x y' AND spf = 'd.example' || char(9) || 'mfrom'"
				       " || char(9) || 'pass' || char(9)"),
			 1);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_record WHERE id <> 1 AND dkim = '' AND spf = ''"), 5);

	/* migration 5: rollup_day WITHOUT ROWID, no index besides its key;
	   per-reporter totals; no foreign key on agg_record; the same
	   summary */
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'rollup_day'"
				       " AND sql LIKE '%WITHOUT ROWID%'"),
			 1);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'"
				       " AND tbl_name = 'rollup_day' AND name NOT LIKE 'sqlite_autoindex%'"),
			 0);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM pragma_foreign_key_list('agg_record')"), 0);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM agg_record"), 6);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM rollup_day"), 5);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM rollup_org_day"), 2);
	assert_int_equal(count_rows(f, "SELECT SUM(total) FROM rollup_org_day"), 28);
	assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM (SELECT domain, day, reporter, SUM(total) t,"
				       " SUM(dmarc_pass) p, SUM(disp_reject) r FROM rollup_day GROUP BY 1, 2, 3) x"
				       " JOIN rollup_org_day o USING (domain, day, reporter)"
				       " WHERE o.total = x.t AND o.dmarc_pass = x.p AND o.disp_reject = x.r"),
			 2);
	struct store_summary after;
	memset(&after, 0, sizeof after);
	assert_int_equal(store_agg_summary(f->s, NULL, 0, &after), STORE_OK);
	assert_int_equal(after.reports, before.reports);
	assert_memory_equal(&after.c, &before.c, sizeof after.c);
	assert_int_equal(after.ndays, before.ndays);
	for (size_t i = 0; i < after.ndays; i++) {
		assert_int_equal(after.days[i].day, before.days[i].day);
		assert_memory_equal(&after.days[i].c, &before.days[i].c, sizeof after.days[i].c);
	}
	assert_int_equal(after.nreporters, before.nreporters);
	assert_int_equal(after.nsources, before.nsources);
	for (size_t i = 0; i < after.nsources; i++)
		assert_string_equal(after.sources[i].name, before.sources[i].name);
	store_summary_free(&before);
	store_summary_free(&after);

	/* and imports go on in the migrated tables */
	struct agg_report *c = make_report("org-a", "C-1", "example.com", DAY0 + 3600, recs_b, 2);
	err[0] = '\0';
	assert_int_equal(store_agg_insert(f->s, c, "raw c", 5, "c.xml", NULL, err, sizeof err), STORE_OK);
	free_report(c);
	assert_int_equal(count_rows(f, "SELECT total FROM rollup_org_day WHERE reporter = 'org-a'"), 25 + 3);
	assert_int_equal(count_rows(f, "SELECT total FROM rollup_day WHERE reporter = 'org-a'"
				       " AND source_ip = '192.0.2.4'"),
			 10 + 5 + 1);
}

static void test_query_plans(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	const char *gen =
		"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 199999)"
		" INSERT INTO rollup_day SELECT 'd' || (i % 20) || '.example', 1700006400 + (i % 181) * 86400,"
		" '10.' || (i / 65536 % 256) || '.' || (i / 256 % 256) || '.' || (i % 256), 'org' || (i % 7),"
		" 10, 7, 5, 6, 3, 8, 1, 1, 1700006400, 1700006400 FROM n;"
		"INSERT INTO rollup_org_day SELECT domain, day, reporter, SUM(total), SUM(dmarc_pass),"
		" SUM(spf_aligned_pass), SUM(dkim_aligned_pass), SUM(disp_none), SUM(disp_quarantine), SUM(disp_reject)"
		" FROM rollup_day GROUP BY domain, day, reporter";
	char *msg = NULL;
	if (sqlite3_exec(db, gen, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("generate: %s", msg);
	sqlite3_exec(db, "ANALYZE", NULL, NULL, NULL);
	for (size_t i = 0; store_sqlite_read_sql(i) != NULL; i++) {
		char sql[2048];
		snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", store_sqlite_read_sql(i));
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
			fail_msg("%s: %s", sql, sqlite3_errmsg(db));
		bool indexed = false, full_scan = false;
		char plan[1024] = "";
		size_t off = 0;
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *d = (const char *)sqlite3_column_text(st, 3);
			if (strstr(d, "USING INDEX") || strstr(d, "USING COVERING INDEX") || strstr(d, "PRIMARY KEY"))
				indexed = true;
			/* a walk of a table; walking a subquery's few rows is fine */
			if (strncmp(d, "SCAN ", 5) == 0 && strstr(d, "INDEX") == NULL) {
				char q[300];
				snprintf(q, sizeof q,
					 "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '%.*s'",
					 (int)strcspn(d + 5, " "), d + 5);
				sqlite3_stmt *t;
				assert_int_equal(sqlite3_prepare_v2(db, q, -1, &t, NULL), SQLITE_OK);
				assert_int_equal(sqlite3_step(t), SQLITE_ROW);
				if (sqlite3_column_int(t, 0) != 0)
					full_scan = true;
				sqlite3_finalize(t);
			}
			off += (size_t)snprintf(plan + off, sizeof plan - off, "%s | ", d);
			if (off >= sizeof plan)
				off = sizeof plan - 1;
		}
		sqlite3_finalize(st);
		printf("# plan %zu: %s\n", i, plan);
		if (!indexed || full_scan)
			fail_msg("no index for %s: %s", store_sqlite_read_sql(i), plan);
	}
	sqlite3_close(db);

	/* and the calls answer (time printed, not asserted) */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct store_summary sum;
	assert_int_equal(store_agg_summary(f->s, "d3.example", 0, &sum), STORE_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(sum.c.total, 10 * 10000);
	assert_int_equal(sum.c.dmarc_pass, 7 * 10000);
	assert_int_equal(sum.ndays, 181);
	assert_int_equal(sum.nreporters, 7);
	assert_int_equal(sum.nsources, STORE_TOP_N);
	store_summary_free(&sum);
	printf("# summary of one domain over 200000 rollup rows: %.1f ms\n",
	       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(store_agg_summary(f->s, NULL, 1700006400 + 150 * 86400LL, &sum), STORE_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(sum.ndays, 31);
	store_summary_free(&sum);
	printf("# summary of all domains, last 31 of 181 days: %.1f ms\n",
	       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);

	/* the reporters that saw one source: a seek per active day (row
	   i = 12345 is 10.0.48.57 for d5.example, org4, on day 37) */
	struct ipaddr ip;
	char out[128];
	assert_int_equal(ip_parse("10.0.48.57", &ip), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(store_agg_source_reporters(f->s, &ip, "d5.example", 0, out, sizeof out), STORE_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_string_equal(out, "org4");
	printf("# reporters of one source for one domain over 181 days: %.1f ms\n",
	       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	assert_int_equal(store_agg_source_reporters(f->s, &ip, "d6.example", 0, out, sizeof out), STORE_NOTFOUND);
	assert_int_equal(store_agg_source_reporters(f->s, &ip, "d5.example", 1700006400 + 38 * 86400LL, out,
						    sizeof out),
			 STORE_NOTFOUND);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(store_agg_source_reporters(f->s, &ip, NULL, 1700006400 + 37 * 86400LL, out, sizeof out),
			 STORE_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_string_equal(out, "org4");
	printf("# reporters of one source, all domains, 144 days: %.1f ms\n",
	       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_day_of),
		cmocka_unit_test_setup_teardown(test_insert_and_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_summary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sources, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tempfail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_ips_and_rollup_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ip6_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_reports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abuse_and_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_and_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_plans, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
