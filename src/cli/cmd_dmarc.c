/*
 * mamori dmarc: DMARC reports received for our domains. import (files,
 * directories, mail), fetch (an IMAP mailbox), errors (what could not be
 * imported), summary and sources (read the store's daily rollups). abuse
 * lives in cmd_dmarc_abuse.c. Thin glue: parsing is report_parse/arf_parse,
 * walking is report_input, storage is the store.
 */
#include "cli/cli.h"

#include "auth/spf.h"
#include "core/buf.h"
#include "core/geoip.h"
#include "core/mem.h"
#include "dmarc/arf_parse.h"
#include "dmarc/report_input.h"
#include "dmarc/report_parse.h"
#include "dns/dns_setup.h"
#include "store/store.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EXIT_TEMPFAIL 75            /* sysexits EX_TEMPFAIL */
#define PROGRESS_INTERVAL_NS 100000000LL /* at most 10 progress updates a second */
#define SOURCES_DEFAULT_LIMIT 50
#define SOURCES_MAX_ROWS 1000000    /* rows read for --failing before filtering */
#define IMAP_MAX_UIDS 100000        /* messages handled per fetch run */

/* the abuse pass, when linked in (cmd_dmarc_abuse.c) */
extern int cmd_dmarc_abuse(int argc, char **argv, const char *config_path) __attribute__((weak));

/* ---- small helpers ---- */

static double now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void fmt_day(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(out, outlen, "%Y-%m-%d", &tm) == 0)
		snprintf(out, outlen, "%lld", (long long)t);
}

static void fmt_time(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "%lld", (long long)t);
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole > 0 ? 100.0 * (double)part / (double)whole : 0.0;
}

/*
 * A JSON string of s: report text is attacker-controlled and jansson
 * refuses invalid UTF-8, so bytes that do not form valid UTF-8 become '?'.
 */
static json_t *jstr(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(n + 1);
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		size_t len = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c & 0xf0) == 0xe0 ? 3
			: (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
		bool ok = len > 0 && i + len <= n;
		for (size_t k = 1; ok && k < len; k++)
			ok = (p[i + k] & 0xc0) == 0x80;
		if (ok && len == 3)
			ok = !(c == 0xe0 && p[i + 1] < 0xa0) && !(c == 0xed && p[i + 1] >= 0xa0);
		if (ok && len == 4)
			ok = !(c == 0xf0 && p[i + 1] < 0x90) && !(c == 0xf4 && p[i + 1] >= 0x90);
		if (!ok) {
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, p + i, len);
		o += len;
		i += len;
	}
	json_t *j = json_stringn(out, o);
	xfree(out);
	return j != NULL ? j : json_string("");
}

static void json_print(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	putchar('\n');
	json_decref(j);
}

/* terminal text: control characters (escape sequences in report strings)
   are shown as '?' */
static void put_text(FILE *f, const char *s, int width)
{
	int n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
		fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
	for (; n < width; n++)
		fputc(' ', f);
}

/*
 * --since: "30d", "12h", "2w" (back from now), "2026-01-01" (UTC), or Unix
 * seconds. 0 or -1 on a bad value.
 */
static int parse_since(const char *s, int64_t *since_r)
{
	char *end;
	errno = 0;
	if (s[0] == '\0' || !isdigit((unsigned char)s[0]))
		return -1;
	if (strlen(s) == 10 && s[4] == '-' && s[7] == '-') {
		struct tm tm;
		memset(&tm, 0, sizeof tm);
		const char *e = strptime(s, "%Y-%m-%d", &tm);
		if (e == NULL || *e != '\0')
			return -1;
		*since_r = (int64_t)timegm(&tm);
		return 0;
	}
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || v < 0)
		return -1;
	long long unit = 0;
	if (*end == '\0')
		unit = 1;
	else if (strcmp(end, "d") == 0)
		unit = 86400;
	else if (strcmp(end, "h") == 0)
		unit = 3600;
	else if (strcmp(end, "w") == 0)
		unit = 7 * 86400;
	if (unit == 0 || v > (1LL << 40))
		return -1;
	*since_r = unit == 1 ? v : (int64_t)time(NULL) - v * unit;
	if (*since_r < 0)
		*since_r = 0;
	return 0;
}

static struct store *open_store(const struct mamori_config *cfg, int *exit_r)
{
	char err[512] = "";
	struct store *s = store_open(cfg, err, sizeof err);
	if (s == NULL) {
		fprintf(stderr, "mamori dmarc: store: %s\n", err);
		*exit_r = strstr(err, "busy") != NULL || strstr(err, "locked") != NULL ? EXIT_TEMPFAIL : EXIT_SOFTWARE;
	}
	return s;
}

/* ---- import (shared by import and fetch) ---- */

struct import_ctx {
	struct store *store;
	struct agg_limits lim;
	struct rin_opts ropts;
	/* counters */
	unsigned long files, reports, dups, failures, errors, items;
	unsigned long long records, messages;
	bool tempfail;
	/* progress */
	bool tty;
	long long last_progress;
	double started;
	char last_file[4096];
	const char *stage; /* "import" or "fetch" */
};

static void progress(struct import_ctx *ic, bool force)
{
	if (!ic->tty)
		return;
	long long t = now_ns();
	if (!force && t - ic->last_progress < PROGRESS_INTERVAL_NS)
		return;
	ic->last_progress = t;
	double el = now_sec() - ic->started;
	fprintf(stderr, "\r\033[Kfiles %lu, reports %lu (dup %lu), records %llu, errors %lu, %.0f records/s",
		ic->files, ic->reports, ic->dups, ic->records, ic->errors, el > 0 ? (double)ic->records / el : 0.0);
	fflush(stderr);
}

static void clear_progress(struct import_ctx *ic)
{
	if (ic->tty)
		fprintf(stderr, "\r\033[K");
}

static void item_error(struct import_ctx *ic, const char *source, const char *reason)
{
	clear_progress(ic);
	fputs("mamori dmarc: ", stderr);
	put_text(stderr, source, 0);
	fputs(": ", stderr);
	put_text(stderr, reason, 0);
	fputc('\n', stderr);
	ic->last_progress = 0;
}

/* counts files: a new file starts when the item's source no longer begins
   with the last file's path followed by ':' or '#' (member, attachment,
   mbox message) */
static void count_file(struct import_ctx *ic, const char *source)
{
	size_t n = strlen(ic->last_file);
	if (n > 0 && strncmp(source, ic->last_file, n) == 0 &&
	    (source[n] == '\0' || source[n] == ':' || source[n] == '#'))
		return;
	ic->files++;
	/* the longest prefix that is an existing file is the file (Maildir
	   names hold ':' themselves) */
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s", source);
	struct stat st;
	for (;;) {
		if (stat(tmp, &st) == 0 && S_ISREG(st.st_mode))
			break;
		char *c1 = strrchr(tmp, ':'), *c2 = strrchr(tmp, '#');
		char *cut = c1 > c2 ? c1 : c2;
		if (cut == NULL)
			break;
		*cut = '\0';
	}
	snprintf(ic->last_file, sizeof ic->last_file, "%s", tmp);
}

static void keep_error(struct import_ctx *ic, const char *source, const char *reason, const void *raw,
		       size_t rawlen)
{
	char err[512] = "";
	ic->errors++;
	item_error(ic, source, reason);
	enum store_status st = store_import_error(ic->store, source, reason, raw, rawlen, err, sizeof err);
	if (st == STORE_TEMPFAIL) {
		ic->tempfail = true;
	} else if (st == STORE_ERROR) {
		char msg[700];
		snprintf(msg, sizeof msg, "could not keep the error: %s", err);
		item_error(ic, source, msg);
	}
}

/* one aggregate report streamed from the parser into the store */
struct agg_import {
	struct store *store;
	const struct rin_item *it;
	const char *source;
	enum store_status st;  /* of the store call that stopped the parse */
	bool open;             /* store_agg_begin succeeded, end not yet */
	bool dup;              /* already stored: parsed to the end all the same */
	uint64_t nrec, total;  /* at the end */
	char err[512];
};

static int agg_import_begin(void *ctx, const struct agg_report *meta)
{
	struct agg_import *a = ctx;
	a->st = store_agg_begin(a->store, meta, a->it->raw, a->it->rawlen, a->source, NULL, a->err, sizeof a->err);
	if (a->st == STORE_OK) {
		a->open = true;
		return 0;
	}
	/* a duplicate is still checked to the end: a broken report that reuses
	   a stored report's id is an error (kept), not a duplicate */
	a->dup = a->st == STORE_DUPLICATE;
	return a->dup ? 0 : -1;
}

static int agg_import_record(void *ctx, const struct agg_report *meta, const struct agg_record *rec,
			     const struct agg_auth *dkim, const struct agg_auth *spf)
{
	struct agg_import *a = ctx;
	if (a->dup)
		return 0;
	a->st = store_agg_record(a->store, meta, rec, dkim, spf, a->err, sizeof a->err);
	if (a->st != STORE_OK)
		a->open = false; /* the store aborted the report */
	return a->st == STORE_OK ? 0 : -1;
}

static int agg_import_end(void *ctx, const struct agg_report *meta)
{
	struct agg_import *a = ctx;
	if (a->dup)
		return 0;
	a->open = false;
	a->st = store_agg_end(a->store, meta, a->err, sizeof a->err);
	a->nrec = meta->nrec;
	a->total = meta->total_count;
	return a->st == STORE_OK ? 0 : -1;
}

static const struct agg_stream_ops agg_import_ops = {
	.begin = agg_import_begin,
	.record = agg_import_record,
	.end = agg_import_end,
};

/* commits what was imported so far; false (and counted) if that failed */
static bool import_flush(struct import_ctx *ic)
{
	char err[512] = "";
	enum store_status st = store_flush(ic->store, err, sizeof err);
	if (st == STORE_OK)
		return true;
	char msg[700];
	snprintf(msg, sizeof msg, "commit failed, the last reports are not stored (import again): %s", err);
	item_error(ic, "store", msg);
	if (st == STORE_TEMPFAIL)
		ic->tempfail = true;
	else
		ic->errors++;
	return false;
}

static int import_item(void *ctx, const struct rin_item *it)
{
	struct import_ctx *ic = ctx;
	char err[512] = "", reason[600];
	const char *source = it->source != NULL ? it->source : "";
	count_file(ic, source);
	ic->items++;

	if (it->kind == RIN_AGGREGATE) {
		struct agg_import *a = xcalloc(1, sizeof *a);
		a->store = ic->store;
		a->it = it;
		a->source = source;
		int rc = agg_parse_stream(it->data, it->len, &ic->lim, &agg_import_ops, a, err, sizeof err);
		if (a->open)
			store_agg_abort(ic->store); /* never a partial import */
		if (rc == 0 && a->dup) {
			ic->dups++;
		} else if (rc == 0) {
			ic->reports++;
			ic->records += a->nrec;
			ic->messages += a->total;
		} else if (rc == -1) {
			snprintf(reason, sizeof reason, "aggregate report: %s", err);
			keep_error(ic, source, reason, it->raw, it->rawlen);
		} else if (a->st == STORE_TEMPFAIL) {
			ic->tempfail = true;
		} else {
			snprintf(reason, sizeof reason, "store: %s", a->err);
			keep_error(ic, source, reason, it->raw, it->rawlen);
		}
		xfree(a);
	} else if (it->kind == RIN_FAILURE) {
		struct failure_report *f = xcalloc(1, sizeof *f);
		if (arf_parse(it->data, it->len, f, err, sizeof err) < 0) {
			snprintf(reason, sizeof reason, "failure report: %s", err);
			keep_error(ic, source, reason, it->raw, it->rawlen);
		} else {
			enum store_status st = store_failure_insert(ic->store, f, it->raw, it->rawlen, source, err,
								    sizeof err);
			if (st == STORE_OK) {
				ic->failures++;
			} else if (st == STORE_DUPLICATE) {
				ic->dups++;
			} else if (st == STORE_TEMPFAIL) {
				ic->tempfail = true;
			} else {
				snprintf(reason, sizeof reason, "store: %s", err);
				keep_error(ic, source, reason, it->raw, it->rawlen);
			}
		}
		xfree(f);
	} else {
		keep_error(ic, source, it->error != NULL ? it->error : "unknown error", it->raw, it->rawlen);
	}
	progress(ic, false);
	if (ic->tempfail) {
		item_error(ic, source, "store busy: stopping (try again later)");
		return 1;
	}
	return 0;
}

static void import_init(struct import_ctx *ic, const struct mamori_config *cfg, struct store *s)
{
	memset(ic, 0, sizeof *ic);
	ic->store = s;
	ic->lim.max_records = (size_t)cfg->reports_max_records;
	ic->ropts.max_decompressed = (size_t)cfg->reports_max_decompressed;
	ic->tty = isatty(STDERR_FILENO) == 1;
	ic->started = now_sec();
}

static int import_finish(struct import_ctx *ic)
{
	import_flush(ic);
	progress(ic, true);
	clear_progress(ic);
	printf("imported %lu reports (%llu records, %llu messages), %lu duplicates, %lu failure reports, "
	       "%lu errors in %.1fs\n",
	       ic->reports, ic->records, ic->messages, ic->dups, ic->failures, ic->errors, now_sec() - ic->started);
	if (ic->tempfail)
		return EXIT_TEMPFAIL;
	return ic->errors > 0 ? 1 : 0;
}

static void import_usage(FILE *f)
{
	fprintf(f, "usage: mamori dmarc import [-c FILE] PATH...\n\n"
		   "Imports DMARC aggregate and failure reports from files and directories\n"
		   "(recursively): .xml, .gz, .zip and mail (.eml, mbox, Maildir) carrying them\n"
		   "as attachments. Reports already stored (same reporter, report id and\n"
		   "domain) are counted as duplicates and change nothing. What cannot be\n"
		   "imported is kept with its reason (mamori dmarc errors). On a terminal a\n"
		   "progress line is shown; a summary line is always printed.\n\n"
		   "Exit status: 0 all imported, 1 some items failed (kept, see errors),\n"
		   "64 usage, 75 the store was busy (try again), 78 configuration.\n");
}

static int dmarc_import(int argc, char **argv, const char *config_path)
{
	int rc = cli_plain_opts(argc, argv, &config_path, import_usage);
	if (rc >= 0)
		return rc;
	if (optind >= argc) {
		import_usage(stderr);
		return EXIT_USAGE;
	}
	struct mamori_config cfg;
	if (cli_load_config(config_path, &cfg) < 0)
		return EXIT_CONFIG;
	int ret = 0;
	struct store *s = open_store(&cfg, &ret);
	if (s == NULL) {
		config_free(&cfg);
		return ret;
	}
	struct import_ctx ic;
	import_init(&ic, &cfg, s);
	rin_walk(argv + optind, (size_t)(argc - optind), &ic.ropts, import_item, &ic);
	ret = import_finish(&ic);
	store_close(&s);
	config_free(&cfg);
	return ret;
}

/* ---- errors ---- */

struct errors_ctx {
	json_t *arr;
	unsigned long n;
};

static int print_error(void *ctx, const struct store_import_error *e)
{
	struct errors_ctx *ec = ctx;
	char when[32];
	fmt_time(e->when, when, sizeof when);
	ec->n++;
	if (ec->arr != NULL) {
		json_t *o = json_object();
		json_object_set_new(o, "id", json_integer(e->id));
		json_object_set_new(o, "time", json_string(when));
		json_object_set_new(o, "source", jstr(e->source));
		json_object_set_new(o, "reason", jstr(e->reason));
		json_object_set_new(o, "raw_bytes", json_integer((json_int_t)e->rawlen));
		json_array_append_new(ec->arr, o);
		return 0;
	}
	printf("%-6lld %s  ", (long long)e->id, when);
	put_text(stdout, e->source, 0);
	fputs("\n       ", stdout);
	put_text(stdout, e->reason, 0);
	printf(" (%zu bytes kept)\n", e->rawlen);
	return 0;
}

static void errors_usage(FILE *f)
{
	fprintf(f, "usage: mamori dmarc errors [-c FILE] [--json]\n\n"
		   "Lists what import and fetch could not import, newest first, with the\n"
		   "reason; the original bytes are kept in the store.\n");
}

static int dmarc_errors(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'j': json = true; break;
		case 'h': errors_usage(stdout); return 0;
		default: errors_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		errors_usage(stderr);
		return EXIT_USAGE;
	}
	struct mamori_config cfg;
	if (cli_load_config(config_path, &cfg) < 0)
		return EXIT_CONFIG;
	int ret = 0;
	struct store *s = open_store(&cfg, &ret);
	config_free(&cfg);
	if (s == NULL)
		return ret;
	struct errors_ctx ec = { json ? json_array() : NULL, 0 };
	enum store_status st = store_import_errors(s, print_error, &ec);
	store_close(&s);
	if (st != STORE_OK) {
		json_decref(ec.arr);
		fprintf(stderr, "mamori dmarc errors: store: %s\n", store_status_name(st));
		return st == STORE_TEMPFAIL ? EXIT_TEMPFAIL : EXIT_SOFTWARE;
	}
	if (json)
		json_print(ec.arr);
	else if (ec.n == 0)
		printf("no import errors\n");
	return 0;
}

/* ---- summary ---- */

static json_t *counts_json(const struct store_counts *c)
{
	json_t *o = json_object();
	json_object_set_new(o, "messages", json_integer((json_int_t)c->total));
	json_object_set_new(o, "dmarc_pass", json_integer((json_int_t)c->dmarc_pass));
	json_object_set_new(o, "spf_aligned_pass", json_integer((json_int_t)c->spf_aligned_pass));
	json_object_set_new(o, "dkim_aligned_pass", json_integer((json_int_t)c->dkim_aligned_pass));
	json_object_set_new(o, "pass_rate", json_real(pct(c->dmarc_pass, c->total)));
	json_t *d = json_object();
	json_object_set_new(d, "none", json_integer((json_int_t)c->disp_none));
	json_object_set_new(d, "quarantine", json_integer((json_int_t)c->disp_quarantine));
	json_object_set_new(d, "reject", json_integer((json_int_t)c->disp_reject));
	json_object_set_new(o, "disposition", d);
	return o;
}

static json_t *top_json(const struct store_top *t, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "name", jstr(t[i].name));
		json_object_set_new(o, "messages", json_integer((json_int_t)t[i].total));
		json_object_set_new(o, "dmarc_pass", json_integer((json_int_t)t[i].dmarc_pass));
		json_object_set_new(o, "pass_rate", json_real(pct(t[i].dmarc_pass, t[i].total)));
		json_array_append_new(a, o);
	}
	return a;
}

static void print_top(const char *title, const struct store_top *t, size_t n)
{
	printf("\n%-40s %12s %7s\n", title, "messages", "pass");
	for (size_t i = 0; i < n; i++) {
		fputs("  ", stdout);
		put_text(stdout, t[i].name, 38);
		printf(" %12llu %6.1f%%\n", (unsigned long long)t[i].total, pct(t[i].dmarc_pass, t[i].total));
	}
	if (n == 0)
		printf("  (none)\n");
}

static void summary_usage(FILE *f)
{
	fprintf(f, "usage: mamori dmarc summary [-c FILE] [--domain D] [--since WHEN] [--json]\n\n"
		   "Volume, DMARC pass rate, SPF and DKIM aligned passes, dispositions, top\n"
		   "reporters, top sources and a day-by-day table, from the stored reports.\n"
		   "WHEN: 30d, 12h, 2w (back from now), 2026-01-01 (UTC) or Unix seconds;\n"
		   "whole days count (a report counts on the day its period begins).\n"
		   "Default: every domain, all time.\n");
}

static int dmarc_summary(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "since", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *domain = NULL;
	int64_t since = 0;
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'd': domain = optarg; break;
		case 's':
			if (parse_since(optarg, &since) < 0) {
				fprintf(stderr, "mamori dmarc summary: --since \"%s\": expected 30d, 2026-01-01 or Unix "
						"seconds\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'j': json = true; break;
		case 'h': summary_usage(stdout); return 0;
		default: summary_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		summary_usage(stderr);
		return EXIT_USAGE;
	}
	struct mamori_config cfg;
	if (cli_load_config(config_path, &cfg) < 0)
		return EXIT_CONFIG;
	int ret = 0;
	struct store *s = open_store(&cfg, &ret);
	config_free(&cfg);
	if (s == NULL)
		return ret;
	struct store_summary sum;
	enum store_status st = store_agg_summary(s, domain, since, &sum);
	store_close(&s);
	if (st != STORE_OK) {
		fprintf(stderr, "mamori dmarc summary: store: %s\n", store_status_name(st));
		return st == STORE_TEMPFAIL ? EXIT_TEMPFAIL : EXIT_SOFTWARE;
	}
	char day[32];
	if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "domain", domain != NULL ? jstr(domain) : json_null());
		json_object_set_new(o, "since", json_integer(since));
		json_object_set_new(o, "reports", json_integer((json_int_t)sum.reports));
		json_object_set_new(o, "totals", counts_json(&sum.c));
		json_object_set_new(o, "top_reporters", top_json(sum.reporters, sum.nreporters));
		json_object_set_new(o, "top_sources", top_json(sum.sources, sum.nsources));
		json_t *days = json_array();
		for (size_t i = 0; i < sum.ndays; i++) {
			json_t *d = counts_json(&sum.days[i].c);
			fmt_day(sum.days[i].day, day, sizeof day);
			json_object_set_new(d, "date", json_string(day));
			json_object_set_new(d, "day", json_integer(sum.days[i].day));
			json_array_append_new(days, d);
		}
		json_object_set_new(o, "days", days);
		json_print(o);
		store_summary_free(&sum);
		return 0;
	}
	const struct store_counts *t = &sum.c;
	fputs("DMARC summary: ", stdout);
	put_text(stdout, domain != NULL ? domain : "all domains", 0);
	if (since > 0) {
		fmt_day(since, day, sizeof day);
		printf(", since %s", day);
	}
	printf("\n\n%-22s %12llu\n", "reports", (unsigned long long)sum.reports);
	printf("%-22s %12llu\n", "messages", (unsigned long long)t->total);
	printf("%-22s %12llu %6.1f%%\n", "DMARC pass", (unsigned long long)t->dmarc_pass, pct(t->dmarc_pass, t->total));
	printf("%-22s %12llu %6.1f%%\n", "SPF aligned pass", (unsigned long long)t->spf_aligned_pass,
	       pct(t->spf_aligned_pass, t->total));
	printf("%-22s %12llu %6.1f%%\n", "DKIM aligned pass", (unsigned long long)t->dkim_aligned_pass,
	       pct(t->dkim_aligned_pass, t->total));
	printf("%-22s %12llu %6.1f%%\n", "disposition none", (unsigned long long)t->disp_none,
	       pct(t->disp_none, t->total));
	printf("%-22s %12llu %6.1f%%\n", "disposition quarantine", (unsigned long long)t->disp_quarantine,
	       pct(t->disp_quarantine, t->total));
	printf("%-22s %12llu %6.1f%%\n", "disposition reject", (unsigned long long)t->disp_reject,
	       pct(t->disp_reject, t->total));
	print_top("top reporters", sum.reporters, sum.nreporters);
	print_top("top sources", sum.sources, sum.nsources);
	printf("\n%-12s %12s %7s %7s %7s %10s %10s %10s\n", "day", "messages", "pass", "spf", "dkim", "none",
	       "quarantine", "reject");
	for (size_t i = 0; i < sum.ndays; i++) {
		const struct store_counts *d = &sum.days[i].c;
		fmt_day(sum.days[i].day, day, sizeof day);
		printf("%-12s %12llu %6.1f%% %6.1f%% %6.1f%% %10llu %10llu %10llu\n", day, (unsigned long long)d->total,
		       pct(d->dmarc_pass, d->total), pct(d->spf_aligned_pass, d->total),
		       pct(d->dkim_aligned_pass, d->total), (unsigned long long)d->disp_none,
		       (unsigned long long)d->disp_quarantine, (unsigned long long)d->disp_reject);
	}
	if (sum.ndays == 0)
		printf("  (no data)\n");
	store_summary_free(&sum);
	return 0;
}

/* ---- sources ---- */

enum spf_mark { SPF_MARK_NONE, SPF_MARK_AUTHORISED, SPF_MARK_UNKNOWN };

struct src_row {
	struct store_source s;
	char ptr[256];
	bool ptr_tempfail;
	struct geoip_result geo;
	int geo_ret;
	enum spf_mark spf;
};

struct src_list {
	struct src_row *rows;
	size_t n, cap;
	bool truncated;
};

static int collect_source(void *ctx, const struct store_source *src)
{
	struct src_list *l = ctx;
	if (l->n >= SOURCES_MAX_ROWS) {
		l->truncated = true;
		return 1;
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->rows = xreallocarray(l->rows, l->cap, sizeof *l->rows);
	}
	memset(&l->rows[l->n], 0, sizeof l->rows[l->n]);
	l->rows[l->n++].s = *src;
	return 0;
}

struct cidr {
	struct ipaddr net;
	unsigned prefix;
};

static bool is_known(const struct cidr *k, size_t nk, const struct ipaddr *ip_in)
{
	struct ipaddr ip = *ip_in;
	ip_unmap(&ip);
	for (size_t i = 0; i < nk; i++)
		if (ip_match(&ip, &k[i].net, k[i].prefix))
			return true;
	return false;
}

/* PTR name of ip (first answer), cached by the caller's row order */
static void reverse_dns(struct dns_resolver *r, const struct ipaddr *ip, char *out, size_t outlen, bool *temp_r)
{
	char name[DNS_MAX_NAME + 16];
	ip_reverse_name(ip, name, sizeof name);
	struct dns_answer ans;
	enum dns_status st = dns_query(r, name, DNS_T_PTR, &ans);
	out[0] = '\0';
	*temp_r = st == DNS_TEMPFAIL;
	if (st == DNS_FOUND && ans.n > 0 && ans.rr[0].name != NULL)
		snprintf(out, outlen, "%s", ans.rr[0].name);
	dns_answer_free(&ans);
}

static void sources_usage(FILE *f)
{
	fprintf(f, "usage: mamori dmarc sources [-c FILE] [--domain D] [--since WHEN] [--failing]\n"
		   "                            [--limit N] [--no-rdns] [--json]\n\n"
		   "Per source IP and domain: messages, DMARC pass, aligned SPF and DKIM passes,\n"
		   "messages failing both, reporters, with reverse DNS (the configured\n"
		   "resolver) and country and ASN when geoip databases are configured.\n"
		   "--failing lists likely spoofing sources: IPs with messages failing both\n"
		   "aligned SPF and aligned DKIM that are not known senders (reports.known_senders)\n"
		   "and not authorised by the domain's own SPF record (checked as\n"
		   "postmaster@DOMAIN; a DNS failure keeps the IP, marked \"spf unknown\"),\n"
		   "ranked by failing volume. Default limit %d rows.\n",
		SOURCES_DEFAULT_LIMIT);
}

static int dmarc_sources(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "since", required_argument, NULL, 's' },
		{ "failing", no_argument, NULL, 'f' },
		{ "limit", required_argument, NULL, 'l' },
		{ "no-rdns", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *domain = NULL;
	int64_t since = 0;
	bool json = false, failing = false, rdns = true;
	long limit = SOURCES_DEFAULT_LIMIT;
	int c;
	char *end;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'd': domain = optarg; break;
		case 's':
			if (parse_since(optarg, &since) < 0) {
				fprintf(stderr, "mamori dmarc sources: --since \"%s\": expected 30d, 2026-01-01 or Unix "
						"seconds\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'f': failing = true; break;
		case 'l':
			limit = strtol(optarg, &end, 10);
			if (*end != '\0' || limit < 1 || limit > 1000000) {
				fprintf(stderr, "mamori dmarc sources: --limit: 1..1000000\n");
				return EXIT_USAGE;
			}
			break;
		case 'n': rdns = false; break;
		case 'j': json = true; break;
		case 'h': sources_usage(stdout); return 0;
		default: sources_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		sources_usage(stderr);
		return EXIT_USAGE;
	}
	struct mamori_config cfg;
	if (cli_load_config(config_path, &cfg) < 0)
		return EXIT_CONFIG;
	int ret = 0;
	struct store *s = open_store(&cfg, &ret);
	if (s == NULL) {
		config_free(&cfg);
		return ret;
	}
	char err[512];

	/* known senders */
	size_t nknown = 0;
	struct cidr *known = NULL;
	for (char **k = cfg.reports_known_senders; k != NULL && *k != NULL; k++) {
		known = xreallocarray(known, nknown + 1, sizeof *known);
		if (ip_parse_cidr(*k, &known[nknown].net, &known[nknown].prefix) < 0) {
			fprintf(stderr, "mamori dmarc sources: reports.known_senders: \"%s\" is not a CIDR\n", *k);
			xfree(known);
			store_close(&s);
			config_free(&cfg);
			return EXIT_CONFIG;
		}
		nknown++;
	}

	struct dns_resolver *resolver = NULL;
	if (rdns || failing) {
		resolver = dns_setup(&cfg, NULL, err, sizeof err);
		if (resolver == NULL)
			fprintf(stderr, "mamori dmarc sources: resolver: %s (no reverse DNS%s)\n", err,
				failing ? ", SPF authorisation unknown" : "");
	}
	struct geoip *geo = NULL;
	if (cfg.geoip_country_db[0] != '\0' || cfg.geoip_asn_db[0] != '\0') {
		geo = geoip_open(cfg.geoip_country_db, cfg.geoip_asn_db, err, sizeof err);
		if (geo == NULL)
			fprintf(stderr, "mamori dmarc sources: geoip: %s\n", err);
	}

	struct src_list l = { 0 };
	enum store_status st = store_agg_sources(s, domain, since, failing, collect_source, &l);
	if (st != STORE_OK) {
		fprintf(stderr, "mamori dmarc sources: store: %s\n", store_status_name(st));
		ret = st == STORE_TEMPFAIL ? EXIT_TEMPFAIL : EXIT_SOFTWARE;
		goto out;
	}
	if (l.truncated)
		fprintf(stderr, "mamori dmarc sources: more than %d rows; narrow with --domain or --since\n",
			SOURCES_MAX_ROWS);

	json_t *arr = json ? json_array() : NULL;
	if (!json)
		printf("%-39s %-28s %10s %10s %6s %4s  %s\n", "source", "domain", "messages", "fail_both", "pass",
		       "rep", "ptr / country / asn");
	size_t shown = 0;
	size_t *shown_idx = xcalloc((size_t)limit, sizeof *shown_idx);
	for (size_t i = 0; i < l.n && shown < (size_t)limit; i++) {
		struct src_row *row = &l.rows[i];
		if (failing) {
			if (is_known(known, nknown, &row->s.ip))
				continue;
			row->spf = SPF_MARK_UNKNOWN;
			if (resolver != NULL) {
				char mf[300];
				snprintf(mf, sizeof mf, "postmaster@%s", row->s.domain);
				struct spf_request req = { .ip = row->s.ip, .helo = row->s.domain, .mail_from = mf,
							   .now = time(NULL) };
				struct spf_response resp;
				enum spf_result sr = spf_check(resolver, &req, &resp);
				spf_response_free(&resp);
				if (sr == SPF_PASS)
					continue; /* the domain's own SPF authorises it */
				row->spf = sr == SPF_TEMPERROR ? SPF_MARK_UNKNOWN : SPF_MARK_NONE;
			}
		}
		/* the same IP for several domains: reuse the earlier look-ups */
		struct src_row *prev = NULL;
		for (size_t k = 0; k < shown && prev == NULL; k++)
			if (ip_equal(&l.rows[shown_idx[k]].s.ip, &row->s.ip))
				prev = &l.rows[shown_idx[k]];
		if (prev != NULL) {
			memcpy(row->ptr, prev->ptr, sizeof row->ptr);
			row->geo = prev->geo;
			row->geo_ret = prev->geo_ret;
		} else {
			if (rdns && resolver != NULL)
				reverse_dns(resolver, &row->s.ip, row->ptr, sizeof row->ptr, &row->ptr_tempfail);
			if (geo != NULL)
				row->geo_ret = geoip_lookup(geo, &row->s.ip, &row->geo);
		}
		shown_idx[shown++] = i;
		char ip[IP_STRLEN], first[32], last[32], reporters[1024] = "";
		ip_format(&row->s.ip, ip);
		fmt_day(row->s.first_seen, first, sizeof first);
		fmt_day(row->s.last_seen, last, sizeof last);
		store_agg_source_reporters(s, &row->s.ip, row->s.domain, since, reporters, sizeof reporters);
		if (json) {
			json_t *o = json_object();
			json_object_set_new(o, "ip", json_string(ip));
			json_object_set_new(o, "domain", jstr(row->s.domain));
			json_object_set_new(o, "messages", json_integer((json_int_t)row->s.total));
			json_object_set_new(o, "dmarc_pass", json_integer((json_int_t)row->s.dmarc_pass));
			json_object_set_new(o, "spf_aligned_pass", json_integer((json_int_t)row->s.spf_aligned_pass));
			json_object_set_new(o, "dkim_aligned_pass", json_integer((json_int_t)row->s.dkim_aligned_pass));
			json_object_set_new(o, "fail_both", json_integer((json_int_t)row->s.fail_both));
			json_object_set_new(o, "first_seen", json_string(first));
			json_object_set_new(o, "last_seen", json_string(last));
			json_object_set_new(o, "reporters", json_integer(row->s.reporters));
			json_object_set_new(o, "reporter_names", jstr(reporters));
			json_object_set_new(o, "ptr", row->ptr[0] ? jstr(row->ptr) : json_null());
			if (row->ptr_tempfail)
				json_object_set_new(o, "ptr_error", json_string("temporary failure"));
			json_object_set_new(o, "country", row->geo.have_country ? jstr(row->geo.country_iso) : json_null());
			json_object_set_new(o, "country_name",
					    row->geo.have_country ? jstr(row->geo.country_name) : json_null());
			json_object_set_new(o, "asn", row->geo.have_asn ? json_integer(row->geo.asn) : json_null());
			json_object_set_new(o, "as_org", row->geo.have_asn ? jstr(row->geo.as_org) : json_null());
			if (failing)
				json_object_set_new(o, "spf_unknown", json_boolean(row->spf == SPF_MARK_UNKNOWN));
			json_array_append_new(arr, o);
			continue;
		}
		printf("%-39s ", ip);
		put_text(stdout, row->s.domain, 28);
		printf(" %10llu %10llu %5.1f%% %4u  %s", (unsigned long long)row->s.total,
		       (unsigned long long)row->s.fail_both, pct(row->s.dmarc_pass, row->s.total), row->s.reporters,
		       row->ptr[0] ? "" : row->ptr_tempfail ? "(ptr temp failure)" : "-");
		put_text(stdout, row->ptr, 0);
		if (row->geo.have_country)
			printf(" %s", row->geo.country_iso);
		if (row->geo.have_asn) {
			printf(" AS%u ", row->geo.asn);
			put_text(stdout, row->geo.as_org, 0);
		}
		if (failing && row->spf == SPF_MARK_UNKNOWN)
			printf(" [spf unknown]");
		printf("\n");
	}
	xfree(shown_idx);
	if (json)
		json_print(arr);
	else if (shown == 0)
		printf("  (none)\n");
out:
	xfree(l.rows);
	xfree(known);
	geoip_close(&geo);
	dns_resolver_free(&resolver);
	store_close(&s);
	config_free(&cfg);
	return ret;
}

/* ---- fetch (IMAP) ---- */

struct membuf {
	char *data;
	size_t len, max;
	bool too_big;
};

static size_t membuf_write(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct membuf *m = ctx;
	size_t n = size * nmemb;
	if (m->len + n > m->max) {
		m->too_big = true;
		return 0; /* aborts the transfer */
	}
	m->data = xrealloc(m->data, m->len + n + 1);
	memcpy(m->data + m->len, p, n);
	m->len += n;
	m->data[m->len] = '\0';
	return n;
}

/* the first line of the password file, without its line end; NULL on error */
static char *read_password(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "reports.imap_password_file %s: %s", path, strerror(errno));
		return NULL;
	}
	char line[1024];
	char *ok = fgets(line, sizeof line, f);
	fclose(f);
	if (ok == NULL) {
		snprintf(err, errlen, "reports.imap_password_file %s: empty", path);
		return NULL;
	}
	line[strcspn(line, "\r\n")] = '\0';
	char *pw = xstrdup(line);
	explicit_bzero(line, sizeof line);
	return pw;
}

/*
 * Parses the untagged "* SEARCH 1 2 3" lines of a UID SEARCH answer into
 * uids (at most max); returns the count. Exposed shape kept simple for
 * tests of the non-network part.
 */
static size_t parse_search(const char *resp, unsigned long *uids, size_t max)
{
	size_t n = 0;
	for (const char *line = resp; line != NULL && *line != '\0';) {
		const char *eol = strchr(line, '\n');
		if (strncasecmp(line, "* SEARCH", 8) == 0) {
			const char *p = line + 8;
			const char *stop = eol != NULL ? eol : line + strlen(line);
			while (p < stop && n < max) {
				while (p < stop && *p == ' ')
					p++;
				if (p >= stop || !isdigit((unsigned char)*p))
					break;
				char *e;
				unsigned long v = strtoul(p, &e, 10);
				if (v > 0 && v <= 0xffffffffUL)
					uids[n++] = v;
				p = e;
			}
		}
		line = eol != NULL ? eol + 1 : NULL;
	}
	return n;
}

/* an IMAP quoted string (RFC 3501 9: quoted) for a mailbox name */
static void imap_quote(const char *s, char *out, size_t outlen)
{
	size_t o = 0;
	if (outlen < 3) {
		out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (; *s && o + 3 < outlen; s++) {
		if (*s == '\r' || *s == '\n')
			continue;
		if (*s == '"' || *s == '\\')
			out[o++] = '\\';
		out[o++] = *s;
	}
	out[o++] = '"';
	out[o] = '\0';
}

static CURLcode imap_command(CURL *h, const char *url, const char *cmd, struct membuf *resp)
{
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, cmd);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, membuf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
	return curl_easy_perform(h);
}

static void fetch_usage(FILE *f)
{
	fprintf(f, "usage: mamori dmarc fetch [-c FILE]\n\n"
		   "Imports report mail from the IMAP mailbox reports.imap_url (imaps:// or\n"
		   "imap:// with STARTTLS required except on loopback), user reports.imap_user,\n"
		   "password from reports.imap_password_file. Each unseen message is fetched,\n"
		   "imported like `mamori dmarc import`, then moved to reports.imap_move_to or\n"
		   "marked \\Seen. A message that could not be handled because the store was\n"
		   "busy is left unseen for the next run. Exit status as for import; 69 when\n"
		   "the mailbox cannot be reached.\n");
}

static int dmarc_fetch(int argc, char **argv, const char *config_path)
{
	int rc = cli_plain_opts(argc, argv, &config_path, fetch_usage);
	if (rc >= 0)
		return rc;
	if (optind != argc) {
		fetch_usage(stderr);
		return EXIT_USAGE;
	}
	struct mamori_config cfg;
	if (cli_load_config(config_path, &cfg) < 0)
		return EXIT_CONFIG;
	char err[512] = "";
	const char *url = cfg.reports_imap_url;
	if (strncmp(url, "imap://", 7) != 0 && strncmp(url, "imaps://", 8) != 0) {
		fprintf(stderr, "mamori dmarc fetch: reports.imap_url must be imap://HOST/FOLDER or imaps://...\n");
		config_free(&cfg);
		return EXIT_CONFIG;
	}
	char *password = NULL;
	if (cfg.reports_imap_password_file[0] != '\0' &&
	    (password = read_password(cfg.reports_imap_password_file, err, sizeof err)) == NULL) {
		fprintf(stderr, "mamori dmarc fetch: %s\n", err);
		config_free(&cfg);
		return EXIT_CONFIG;
	}
	int ret = 0;
	struct store *s = open_store(&cfg, &ret);
	if (s == NULL) {
		if (password != NULL)
			explicit_bzero(password, strlen(password));
		xfree(password);
		config_free(&cfg);
		return ret;
	}

	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *h = curl_easy_init();
	if (cfg.reports_imap_user[0] != '\0')
		curl_easy_setopt(h, CURLOPT_USERNAME, cfg.reports_imap_user);
	if (password != NULL)
		curl_easy_setopt(h, CURLOPT_PASSWORD, password);
	bool loopback = strstr(url, "://127.0.0.1") != NULL || strstr(url, "://localhost") != NULL ||
			strstr(url, "://[::1]") != NULL;
	if (strncmp(url, "imap://", 7) == 0 && !loopback)
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (cfg.abuse_cainfo[0] != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, cfg.abuse_cainfo);

	struct import_ctx ic;
	import_init(&ic, &cfg, s);
	struct membuf resp = { NULL, 0, 1u << 24, false };
	CURLcode cc = imap_command(h, url, "UID SEARCH UNSEEN", &resp);
	if (cc != CURLE_OK) {
		fprintf(stderr, "mamori dmarc fetch: %s: UID SEARCH: %s\n", url, curl_easy_strerror(cc));
		ret = 69; /* EX_UNAVAILABLE */
		goto out;
	}
	unsigned long *uids = xcalloc(IMAP_MAX_UIDS, sizeof *uids);
	size_t nuids = parse_search(resp.data != NULL ? resp.data : "", uids, IMAP_MAX_UIDS);
	resp.data = xfree(resp.data);

	/* the folder URL without a trailing '/' */
	char base[2048];
	snprintf(base, sizeof base, "%s", url);
	size_t bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		base[--bl] = '\0';
	char quoted[600] = "";
	if (cfg.reports_imap_move_to[0] != '\0')
		imap_quote(cfg.reports_imap_move_to, quoted, sizeof quoted);

	bool need_expunge = false;
	for (size_t i = 0; i < nuids && !ic.tempfail; i++) {
		/*
		 * libcurl's own fetch (";UID=N") reads the literal exactly, where a
		 * custom "UID FETCH N BODY.PEEK[]" would leave us to re-parse the
		 * literal from its line-by-line relay; it sets \Seen, which is
		 * taken back below if the message could not be handled.
		 */
		char murl[2200], source[64], cmd[700];
		snprintf(murl, sizeof murl, "%s/;UID=%lu", base, uids[i]);
		snprintf(source, sizeof source, "imap:%lu", uids[i]);
		struct membuf msg = { NULL, 0, RIN_MAX_MESSAGE, false };
		curl_easy_setopt(h, CURLOPT_URL, murl);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, membuf_write);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &msg);
		cc = curl_easy_perform(h);
		bool handled = false;
		if (msg.too_big) {
			snprintf(err, sizeof err, "message larger than %u bytes: left in the mailbox", RIN_MAX_MESSAGE);
			count_file(&ic, source);
			keep_error(&ic, source, err, NULL, 0);
		} else if (cc != CURLE_OK) {
			fprintf(stderr, "mamori dmarc fetch: UID %lu: %s\n", uids[i], curl_easy_strerror(cc));
			ic.errors++;
		} else {
			rin_buffer(source, msg.data != NULL ? msg.data : "", msg.len, &ic.ropts, import_item, &ic);
			/* committed before the message is moved or marked */
			handled = import_flush(&ic) && !ic.tempfail;
		}
		xfree(msg.data);
		struct membuf r2 = { NULL, 0, 1u << 20, false };
		if (handled && quoted[0] != '\0') {
			snprintf(cmd, sizeof cmd, "UID MOVE %lu %s", uids[i], quoted);
			if (imap_command(h, base, cmd, &r2) != CURLE_OK) {
				/* no MOVE (RFC 6851): copy, then flag deleted */
				snprintf(cmd, sizeof cmd, "UID COPY %lu %s", uids[i], quoted);
				cc = imap_command(h, base, cmd, &r2);
				if (cc == CURLE_OK) {
					snprintf(cmd, sizeof cmd, "UID STORE %lu +FLAGS.SILENT (\\Deleted)", uids[i]);
					cc = imap_command(h, base, cmd, &r2);
					need_expunge = need_expunge || cc == CURLE_OK;
				}
				if (cc != CURLE_OK)
					fprintf(stderr, "mamori dmarc fetch: UID %lu: could not move to %s: %s\n",
						uids[i], cfg.reports_imap_move_to, curl_easy_strerror(cc));
			}
		} else if (!handled && !msg.too_big && cc == CURLE_OK) {
			/* the fetch set \Seen: leave it unseen for the next run */
			snprintf(cmd, sizeof cmd, "UID STORE %lu -FLAGS.SILENT (\\Seen)", uids[i]);
			imap_command(h, base, cmd, &r2);
		} else if (handled) {
			snprintf(cmd, sizeof cmd, "UID STORE %lu +FLAGS.SILENT (\\Seen)", uids[i]);
			imap_command(h, base, cmd, &r2);
		}
		xfree(r2.data);
		progress(&ic, false);
	}
	if (need_expunge) {
		struct membuf r3 = { NULL, 0, 1u << 20, false };
		imap_command(h, base, "EXPUNGE", &r3);
		xfree(r3.data);
	}
	xfree(uids);
	ret = import_finish(&ic);
out:
	xfree(resp.data);
	curl_easy_cleanup(h);
	curl_global_cleanup();
	if (password != NULL)
		explicit_bzero(password, strlen(password));
	xfree(password);
	store_close(&s);
	config_free(&cfg);
	return ret;
}

/* ---- dispatch ---- */

static void dmarc_usage(FILE *f)
{
	fprintf(f, "usage: mamori dmarc [-c FILE] SUBCOMMAND [OPTIONS]\n\n"
		   "DMARC reports received for your domains:\n"
		   "  import PATH...   import report files, directories, mail\n"
		   "  fetch            import new report mail from the IMAP mailbox\n"
		   "  errors           list what could not be imported\n"
		   "  summary          pass rates, dispositions, reporters, sources, by day\n"
		   "  sources          per source IP (--failing: likely spoofing)\n"
		   "  abuse            report spoofing sources to their networks\n\n"
		   "Run 'mamori dmarc SUBCOMMAND --help' for its options.\n");
}

static int dmarc_abuse(int argc, char **argv, const char *config_path)
{
	if (cmd_dmarc_abuse == NULL) {
		fprintf(stderr, "mamori dmarc abuse: not built in\n");
		return EXIT_SOFTWARE;
	}
	return cmd_dmarc_abuse(argc, argv, config_path);
}

int cmd_dmarc(int argc, char **argv, const char *config_path)
{
	static const struct cli_sub subs[] = {
		{ "import", dmarc_import },   { "fetch", dmarc_fetch },     { "errors", dmarc_errors },
		{ "summary", dmarc_summary }, { "sources", dmarc_sources }, { "abuse", dmarc_abuse },
		{ NULL, NULL },
	};
	return cli_dispatch("dmarc", argc, argv, config_path, dmarc_usage, subs);
}
