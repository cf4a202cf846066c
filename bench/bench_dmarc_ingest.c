/*
 * bench_dmarc_ingest: throughput and memory of DMARC aggregate report
 * ingest (report_input -> report_parse -> store), next to the floor that
 * no importer can beat on the same files: libarchive decompression plus an
 * expat parse that does nothing.
 *
 * A deterministic corpus of N reports x M records (RFC 7489 appendix C
 * XML, half .xml.gz and half .zip, written with libarchive) goes into a
 * temporary directory. Three phases run over it, each timed in CPU and wall
 * time: floor, parse-only (rin_walk + agg_parse_stream with callbacks
 * that only count), import (the same streaming each report into a fresh
 * SQLite store: store_agg_begin/record/end, store_flush at the end; parse
 * and store are interleaved, so their times are shown together); a floor
 * variant with expat's namespace processing on is shown for information.
 * The phases run in K rounds (--repeat, default 3), one of each per round,
 * so that on a shared machine a busy neighbour slows the phases of a round
 * alike; the fastest run of each phase gives the rates, and each round's
 * own import/floor ratio is shown with their median. Peak RSS is measured
 * per phase (the high-water mark is reset before each one), and the
 * parse-only phase runs once over 4N reports to show that memory stays
 * flat.
 *
 * The results are checked against the generator's own sums: every report
 * parses with exactly M records and the expected message total, and after
 * import store_agg_summary() gives N reports and the same totals. Any
 * mismatch exits 1 (the CTest smoke run relies on it); timing never does.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <expat.h>

#include "bench_common.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/mem.h"
#include "dmarc/report.h"
#include "dmarc/report_input.h"
#include "dmarc/report_parse.h"
#include "store/store.h"

#define BENCH_DEFAULT_REPORTS 200
#define BENCH_DEFAULT_RECORDS 500
#define BENCH_MAX_REPORTS 1000000
#define BENCH_MAX_RECORDS 1000000
#define BENCH_DEFAULT_REPEAT 3
#define BENCH_MAX_REPEAT 100
#define BENCH_SCALE 4                /* the memory check reruns parse-only at 4N */
#define BENCH_RATIO_GOAL 0.50        /* import records/s vs the floor's */
#define BENCH_READ_BLOCK 65536       /* floor: libarchive read size */
#define BENCH_DATE_BASE 1704067200LL /* 2024-01-01T00:00:00Z */
#define BENCH_DAY 86400LL
#define BENCH_MAX_PRINTED_ERRORS 5

/* ---------- small helpers ---------- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bench_dmarc_ingest: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static char *path_join(const char *dir, const char *name)
{
	struct buf b = BUF_INIT(0);
	buf_printf(&b, "%s/%s", dir, name);
	return buf_steal(&b, NULL);
}


/* a "Vm...:" line of /proc/self/status in kB, -1 if unavailable */
static long proc_status_kb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t klen = strlen(key);
	long v = -1;
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/*
 * Resets the peak-RSS mark to the current RSS (Linux >= 4.0: "5" into
 * clear_refs), so each phase's peak is its own and not the generator's.
 * Also gives freed heap back first so the baseline is what is really live.
 */
static bool hwm_reset(void)
{
	int fd;
	bool ok;
	malloc_trim(0);
	fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ok = write(fd, "5", 1) == 1;
	close(fd);
	return ok;
}

/* ---------- deterministic corpus ---------- */

/* xorshift64*: the same corpus on every run */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dULL) >> 32);
}

static unsigned rnd_below(unsigned n)
{
	return rnd() % n;
}

struct reporter {
	const char *org;         /* <org_name> */
	const char *file_org;    /* the name used in attachment file names */
	const char *email;
	const char *extra;       /* extra_contact_info, may be NULL */
};

static const struct reporter reporters[] = {
	{ "google.com", "google.com", "noreply-dmarc-support@google.com",
	  "https://support.google.com/a/answer/2466580" },
	{ "Enterprise Outlook", "enterprise.protection.outlook.com", "dmarcreport@microsoft.com", NULL },
	{ "Yahoo", "yahoo.com", "dmarchelp@yahooinc.com", NULL },
	{ "Mail.Ru", "mail.ru", "dmarc_support@corp.mail.ru", "http://help.mail.ru/mail-help" },
	{ "Fastmail Pty Ltd", "fastmail.com", "dmarc-reports@fastmail.com", NULL },
	{ "AMAZON-SES", "amazonses.com", "postmaster@amazonses.com", NULL },
};
#define NREPORTERS (sizeof reporters / sizeof reporters[0])

static const char *const policy_domains[] = { "example.com", "example.org", "example.net", "mamori.test" };
#define NDOMAINS (sizeof policy_domains / sizeof policy_domains[0])

static const char *const selectors[] = { "s1", "google", "selector1", "k2", "mx2024" };
#define NSELECTORS (sizeof selectors / sizeof selectors[0])

static const char *const foreign_domains[] = { "mailchimpapp.net", "sendgrid.net", "bounces.example-shop.test",
					       "amazonses.com", "spammer.invalid", "mx.forward.test" };
#define NFOREIGN (sizeof foreign_domains / sizeof foreign_domains[0])

static const char *const reason_types[] = { "forwarded", "sampled_out", "trusted_forwarder", "mailing_list",
					    "local_policy", "other" };
#define NREASONS (sizeof reason_types / sizeof reason_types[0])

/* what the generator wrote: the checks compare the importer's view with it */
struct corpus {
	char *dir;
	char **files;
	size_t nfiles;
	uint64_t reports, records;
	uint64_t total;              /* sum of counts */
	uint64_t dmarc_pass, spf_pass, dkim_pass;
	uint64_t disp_none, disp_quarantine, disp_reject;
	uint64_t xml_bytes, disk_bytes;
};

/*
 * A source IP: most mail comes from a few senders (the domain's own and its
 * ESPs), the rest from a long tail; both IPv4 and IPv6.
 */
static void source_ip(struct buf *b, bool *legit_r)
{
	unsigned pick = rnd_below(100);
	if (pick < 60) {
		unsigned k = rnd_below(40);
		*legit_r = true;
		if (k < 30)
			buf_printf(b, "198.51.100.%u", 10 + k);
		else
			buf_printf(b, "2001:db8:25::%x", 0x100 + k);
	} else if (pick < 90) {
		*legit_r = false;
		buf_printf(b, "%u.%u.%u.%u", 11 + rnd_below(180), rnd_below(256), rnd_below(256), 1 + rnd_below(254));
	} else {
		*legit_r = false;
		buf_printf(b, "2a0%x:%x:%x::%x", 1 + rnd_below(14), rnd_below(0x10000), rnd_below(0x10000),
			   1 + rnd_below(0xffff));
	}
}

/* most rows are a handful of messages; a few are bulk */
static uint64_t row_count(void)
{
	unsigned pick = rnd_below(100);
	if (pick < 70)
		return 1 + rnd_below(5);
	if (pick < 95)
		return 1 + rnd_below(200);
	return 1 + rnd_below(20000);
}

static void gen_record(struct buf *b, struct corpus *c, const char *domain)
{
	bool legit;
	uint64_t count = row_count();
	bool spf_ok, dkim_ok;
	const char *disp;
	unsigned ndkim, i;

	buf_puts(b, "  <record>\n    <row>\n      <source_ip>");
	source_ip(b, &legit);
	buf_printf(b, "</source_ip>\n      <count>%" PRIu64 "</count>\n", count);
	if (legit) {
		spf_ok = rnd_below(100) < 95;
		dkim_ok = rnd_below(100) < 97;
	} else {
		spf_ok = rnd_below(100) < 10;
		dkim_ok = rnd_below(100) < 15;
	}
	if (spf_ok || dkim_ok)
		disp = "none";
	else
		disp = rnd_below(3) == 0 ? "none" : rnd_below(2) ? "quarantine" : "reject";
	buf_printf(b,
		   "      <policy_evaluated>\n"
		   "        <disposition>%s</disposition>\n"
		   "        <dkim>%s</dkim>\n"
		   "        <spf>%s</spf>\n",
		   disp, dkim_ok ? "pass" : "fail", spf_ok ? "pass" : "fail");
	if (rnd_below(20) == 0) {
		const char *t = reason_types[rnd_below(NREASONS)];
		if (rnd_below(2))
			buf_printf(b, "        <reason>\n          <type>%s</type>\n          <comment>arc=pass "
				   "as.1.example.net=pass &amp; list</comment>\n        </reason>\n", t);
		else
			buf_printf(b, "        <reason>\n          <type>%s</type>\n        </reason>\n", t);
	}
	buf_puts(b, "      </policy_evaluated>\n    </row>\n    <identifiers>\n");
	if (rnd_below(4) == 0)
		buf_printf(b, "      <envelope_to>%s</envelope_to>\n", rnd_below(2) ? "example.net" : "mx.test");
	buf_printf(b, "      <header_from>%s</header_from>\n", domain);
	buf_puts(b, "    </identifiers>\n    <auth_results>\n");

	/* aligned pass needs an own-domain result; others add foreign signatures */
	ndkim = (dkim_ok || legit ? 1 : 0) + rnd_below(2);
	for (i = 0; i < ndkim; i++) {
		bool own = i == 0 && (dkim_ok || legit);
		const char *d = own ? domain : foreign_domains[rnd_below(NFOREIGN)];
		const char *res = own ? (dkim_ok ? "pass" : "fail") : rnd_below(2) ? "pass" : "neutral";
		buf_printf(b,
			   "      <dkim>\n        <domain>%s</domain>\n        <selector>%s</selector>\n"
			   "        <result>%s</result>\n",
			   d, selectors[rnd_below(NSELECTORS)], res);
		if (!own && rnd_below(10) == 0)
			buf_puts(b, "        <human_result>body hash did not verify</human_result>\n");
		buf_puts(b, "      </dkim>\n");
	}
	buf_printf(b,
		   "      <spf>\n        <domain>%s</domain>\n        <scope>mfrom</scope>\n"
		   "        <result>%s</result>\n      </spf>\n",
		   spf_ok || legit ? domain : foreign_domains[rnd_below(NFOREIGN)],
		   spf_ok ? "pass" : rnd_below(2) ? "softfail" : "fail");
	buf_puts(b, "    </auth_results>\n  </record>\n");

	c->records++;
	c->total += count;
	if (spf_ok || dkim_ok)
		c->dmarc_pass += count;
	if (spf_ok)
		c->spf_pass += count;
	if (dkim_ok)
		c->dkim_pass += count;
	if (strcmp(disp, "none") == 0)
		c->disp_none += count;
	else if (strcmp(disp, "quarantine") == 0)
		c->disp_quarantine += count;
	else
		c->disp_reject += count;
}

/* report i as XML in b; the report's file-name stem in name */
static void gen_report(struct buf *b, struct corpus *c, unsigned long i, unsigned long m, struct buf *name)
{
	const struct reporter *rep = &reporters[i % NREPORTERS];
	const char *domain = policy_domains[i % NDOMAINS];
	long long begin = BENCH_DATE_BASE + (long long)(i % 90) * BENCH_DAY;
	long long end = begin + BENCH_DAY - 1;
	unsigned long k;

	buf_printf(b,
		   "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n"
		   "<feedback>\n"
		   "  <version>1.0</version>\n"
		   "  <report_metadata>\n"
		   "    <org_name>%s</org_name>\n"
		   "    <email>%s</email>\n",
		   rep->org, rep->email);
	if (rep->extra != NULL)
		buf_printf(b, "    <extra_contact_info>%s</extra_contact_info>\n", rep->extra);
	buf_printf(b,
		   "    <report_id>%lu%08x%08x</report_id>\n"
		   "    <date_range>\n      <begin>%lld</begin>\n      <end>%lld</end>\n    </date_range>\n"
		   "  </report_metadata>\n"
		   "  <policy_published>\n"
		   "    <domain>%s</domain>\n"
		   "    <adkim>r</adkim>\n    <aspf>%s</aspf>\n"
		   "    <p>%s</p>\n    <sp>none</sp>\n    <pct>100</pct>\n"
		   "  </policy_published>\n",
		   i + 1, rnd(), rnd(), begin, end, domain, i % 3 ? "r" : "s",
		   i % 2 ? "quarantine" : "none");
	for (k = 0; k < m; k++)
		gen_record(b, c, domain);
	buf_puts(b, "</feedback>\n");
	buf_printf(name, "%s!%s!%lld!%lld!%06lu", rep->file_org, domain, begin, end, i + 1);
}

static void archive_die(struct archive *a, const char *what, const char *path)
{
	die("%s %s: %s", what, path, archive_error_string(a) ? archive_error_string(a) : "unknown error");
}

/* writes data as path (gzip, raw: a .xml.gz) or as one member of a zip */
static void write_container(const char *path, bool zip, const char *member, const void *data, size_t len)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	if (a == NULL || e == NULL)
		die("libarchive: out of memory");
	if (zip) {
		if (archive_write_set_format_zip(a) != ARCHIVE_OK)
			archive_die(a, "zip format", path);
	} else {
		if (archive_write_add_filter_gzip(a) != ARCHIVE_OK || archive_write_set_format_raw(a) != ARCHIVE_OK)
			archive_die(a, "gzip filter", path);
	}
	/* no block padding after the compressed stream */
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK)
		archive_die(a, "open", path);
	archive_entry_set_pathname(e, member);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_mtime(e, (time_t)BENCH_DATE_BASE, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK)
		archive_die(a, "header", path);
	if (archive_write_data(a, data, len) != (la_ssize_t)len)
		archive_die(a, "write", path);
	if (archive_write_close(a) != ARCHIVE_OK)
		archive_die(a, "close", path);
	archive_entry_free(e);
	archive_write_free(a);
}

/*
 * N reports of M records under dir, alternately .xml.gz and .zip. corrupt:
 * the last report loses its closing tag, so a correct importer refuses it
 * and the result check must then fail (proves the check can fail).
 */
static void gen_corpus(struct corpus *c, const char *dir, unsigned long n, unsigned long m, bool corrupt)
{
	struct buf xml = BUF_INIT(0), name = BUF_INIT(0), file = BUF_INIT(0);
	unsigned long i;
	struct stat st;

	memset(c, 0, sizeof *c);
	c->dir = xstrdup(dir);
	c->files = xcalloc(n, sizeof *c->files);
	for (i = 0; i < n; i++) {
		bool zip = i % 2 == 1;
		char *path;
		buf_reset(&xml);
		buf_reset(&name);
		buf_reset(&file);
		gen_report(&xml, c, i, m, &name);
		if (corrupt && i == n - 1)
			xml.len -= strlen("</feedback>\n");
		buf_printf(&file, "%s.xml", buf_cstr(&name));
		path = zip ? path_join(dir, buf_cstr(&name)) : path_join(dir, buf_cstr(&file));
		if (zip) {
			char *p = xmalloc(strlen(path) + 5);
			memcpy(p, path, strlen(path));
			memcpy(p + strlen(path), ".zip", 5);
			xfree(path);
			path = p;
		} else {
			char *p = xmalloc(strlen(path) + 4);
			memcpy(p, path, strlen(path));
			memcpy(p + strlen(path), ".gz", 4);
			xfree(path);
			path = p;
		}
		write_container(path, zip, buf_cstr(&file), xml.data, xml.len);
		if (stat(path, &st) == 0)
			c->disk_bytes += (uint64_t)st.st_size;
		c->xml_bytes += xml.len;
		c->files[c->nfiles++] = path;
		c->reports++;
	}
	buf_free(&xml);
	buf_free(&name);
	buf_free(&file);
}

static void corpus_remove(struct corpus *c, bool keep)
{
	size_t i;
	for (i = 0; i < c->nfiles; i++) {
		if (!keep)
			unlink(c->files[i]);
		xfree(c->files[i]);
	}
	if (!keep)
		rmdir(c->dir);
	xfree(c->files);
	xfree(c->dir);
	memset(c, 0, sizeof *c);
}

/* ---------- phases ---------- */

struct phase {
	const char *name;
	double cpu, wall;
	double cpu_parse, cpu_store; /* parse-only: in agg_parse_stream; import: in agg_parse_stream
					with the store calls it makes, and store_flush */
	long rss_before_kb;          /* VmRSS when the phase starts */
	long hwm_kb;                 /* VmHWM at the end (reset at the start) */
	long maxrss_kb;              /* getrusage ru_maxrss at the end */
	bool hwm_was_reset;
	uint64_t items, reports, records, total;
	uint64_t inserted, duplicates, errors;
};

static void phase_begin(struct phase *ph, const char *name)
{
	memset(ph, 0, sizeof *ph);
	ph->name = name;
	ph->hwm_was_reset = hwm_reset();
	ph->rss_before_kb = proc_status_kb("VmRSS");
	ph->cpu = cpu_now();
	ph->wall = wall_now();
}

static void phase_end(struct phase *ph)
{
	ph->cpu = cpu_now() - ph->cpu;
	ph->wall = wall_now() - ph->wall;
	ph->hwm_kb = proc_status_kb("VmHWM");
	ph->maxrss_kb = peak_rss_kb();
}

static void note_error(struct phase *ph, const char *source, const char *what, const char *why)
{
	if (ph->errors++ < BENCH_MAX_PRINTED_ERRORS)
		fprintf(stderr, "  %s: %s: %s: %s\n", ph->name, source ? source : "?", what, why);
}

/*
 * floor: decompress every file with libarchive and run expat with no
 * handlers. ns: the same with namespace processing on (what a parser of the
 * RFC 9990 namespace needs), shown for information only.
 */
static void phase_floor(struct phase *ph, const struct corpus *c, bool ns)
{
	static char block[BENCH_READ_BLOCK];
	size_t i;

	phase_begin(ph, ns ? "floor+ns" : "floor");
	for (i = 0; i < c->nfiles; i++) {
		struct archive *a = archive_read_new();
		struct archive_entry *e;
		archive_read_support_filter_gzip(a);
		archive_read_support_format_zip(a);
		archive_read_support_format_raw(a);
		if (archive_read_open_filename(a, c->files[i], BENCH_READ_BLOCK) != ARCHIVE_OK) {
			note_error(ph, c->files[i], "open", archive_error_string(a));
			archive_read_free(a);
			continue;
		}
		while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
			XML_Parser p = ns ? XML_ParserCreateNS(NULL, '\x01') : XML_ParserCreate(NULL);
			la_ssize_t n;
			bool ok = true;
			if (p == NULL)
				die("expat: out of memory");
			while ((n = archive_read_data(a, block, sizeof block)) > 0) {
				if (ok && XML_Parse(p, block, (int)n, 0) != XML_STATUS_OK)
					ok = false;
			}
			if (n < 0)
				note_error(ph, c->files[i], "read", archive_error_string(a));
			else if (!ok || XML_Parse(p, NULL, 0, 1) != XML_STATUS_OK)
				note_error(ph, c->files[i], "xml", XML_ErrorString(XML_GetErrorCode(p)));
			else
				ph->items++;
			XML_ParserFree(p);
		}
		archive_read_free(a);
	}
	phase_end(ph);
	/* the floor does not look inside: it is credited with the corpus */
	ph->reports = ph->items;
	ph->records = c->records;
	ph->total = c->total;
}

struct ingest_ctx {
	struct phase *ph;
	struct store *store;  /* NULL: parse only */
	struct agg_limits lim;
};

/* the streaming callbacks: with a store, each report goes straight in;
   without one (parse-only), records are only counted */
struct ingest_item {
	struct ingest_ctx *x;
	const struct rin_item *it;
	enum store_status st; /* of the store call that stopped the parse */
	bool open, dup;
	uint64_t nrec, total;
	char err[512];
};

static int ingest_begin(void *vctx, const struct agg_report *meta)
{
	struct ingest_item *ii = vctx;
	if (ii->x->store == NULL)
		return 0;
	ii->st = store_agg_begin(ii->x->store, meta, ii->it->raw, ii->it->rawlen, ii->it->source, NULL, ii->err,
				 sizeof ii->err);
	ii->open = ii->st == STORE_OK;
	ii->dup = ii->st == STORE_DUPLICATE;
	return ii->open || ii->dup ? 0 : -1;
}

static int ingest_record(void *vctx, const struct agg_report *meta, const struct agg_record *rec,
			 const struct agg_auth *dkim, const struct agg_auth *spf)
{
	struct ingest_item *ii = vctx;
	if (!ii->open)
		return 0;
	ii->st = store_agg_record(ii->x->store, meta, rec, dkim, spf, ii->err, sizeof ii->err);
	if (ii->st != STORE_OK)
		ii->open = false; /* the store aborted the report */
	return ii->st == STORE_OK ? 0 : -1;
}

static int ingest_end(void *vctx, const struct agg_report *meta)
{
	struct ingest_item *ii = vctx;
	ii->nrec = meta->nrec;
	ii->total = meta->total_count;
	if (!ii->open)
		return 0;
	ii->open = false;
	ii->st = store_agg_end(ii->x->store, meta, ii->err, sizeof ii->err);
	return ii->st == STORE_OK ? 0 : -1;
}

static const struct agg_stream_ops ingest_ops = {
	.begin = ingest_begin, .record = ingest_record, .end = ingest_end,
};

static int ingest_cb(void *vctx, const struct rin_item *it)
{
	struct ingest_ctx *x = vctx;
	struct phase *ph = x->ph;
	struct ingest_item ii;
	char err[512];
	double t0;
	int rc;

	ph->items++;
	if (it->kind == RIN_ERROR) {
		note_error(ph, it->source, "input", it->error ? it->error : "(no reason)");
		return 0;
	}
	if (it->kind != RIN_AGGREGATE) {
		note_error(ph, it->source, "input", "not an aggregate report");
		return 0;
	}
	memset(&ii, 0, sizeof ii);
	ii.x = x;
	ii.it = it;
	err[0] = '\0';
	/* parse and store are interleaved now: the time is all "parse+store" */
	t0 = cpu_now();
	rc = agg_parse_stream(it->data, it->len, &x->lim, &ingest_ops, &ii, err, sizeof err);
	if (ii.open)
		store_agg_abort(x->store);
	if (x->store != NULL)
		ph->cpu_store += cpu_now() - t0;
	else
		ph->cpu_parse += cpu_now() - t0;
	if (rc == -1) {
		note_error(ph, it->source, "parse", err[0] ? err : "(no reason)");
		return 0;
	}
	if (rc != 0) {
		note_error(ph, it->source, store_status_name(ii.st), ii.err[0] ? ii.err : "(no reason)");
		return 0;
	}
	ph->reports++;
	ph->records += ii.nrec;
	ph->total += ii.total;
	if (x->store != NULL) {
		if (ii.dup)
			ph->duplicates++;
		else
			ph->inserted++;
	}
	return 0;
}

static void limits_for(struct ingest_ctx *x, const struct mamori_config *cfg, unsigned long m,
		       struct rin_opts *ro)
{
	size_t maxrec = cfg->reports_max_records > 0 ? (size_t)cfg->reports_max_records : 0;
	if (maxrec < m)
		maxrec = m; /* the bench asks for it: not an input error */
	memset(ro, 0, sizeof *ro);
	ro->max_decompressed = (size_t)cfg->reports_max_decompressed;
	memset(&x->lim, 0, sizeof x->lim);
	x->lim.max_records = maxrec;
}

/* parse-only (store NULL) or import over the corpus directory */
static void phase_ingest(struct phase *ph, const char *name, const struct corpus *c,
			 const struct mamori_config *cfg, unsigned long m, struct store *store)
{
	struct ingest_ctx x = { .ph = ph, .store = store };
	struct rin_opts ro;
	char *paths[1];
	int rc;

	limits_for(&x, cfg, m, &ro);
	paths[0] = c->dir;
	phase_begin(ph, name);
	x.ph = ph;
	rc = rin_walk(paths, 1, &ro, ingest_cb, &x);
	if (store != NULL) {
		/* the last batch's commit is part of the import */
		char err[512] = "";
		double t0 = cpu_now();
		enum store_status st = store_flush(store, err, sizeof err);
		ph->cpu_store += cpu_now() - t0;
		if (st != STORE_OK)
			note_error(ph, c->dir, "store_flush", err[0] ? err : store_status_name(st));
	}
	phase_end(ph);
	if (rc != 0)
		note_error(ph, c->dir, "rin_walk", "returned non-zero");
}

/* ---------- checks ---------- */

static int check_failures;

static void check_u64(const char *what, uint64_t got, uint64_t want)
{
	if (got == want)
		return;
	check_failures++;
	fprintf(stderr, "RESULT CHECK FAILED: %s: got %" PRIu64 ", expected %" PRIu64 "\n", what, got, want);
}

static void check_ingest(const struct phase *ph, const struct corpus *c)
{
	char what[128];
	snprintf(what, sizeof what, "%s: errors", ph->name);
	check_u64(what, ph->errors, 0);
	snprintf(what, sizeof what, "%s: reports parsed", ph->name);
	check_u64(what, ph->reports, c->reports);
	snprintf(what, sizeof what, "%s: records parsed", ph->name);
	check_u64(what, ph->records, c->records);
	snprintf(what, sizeof what, "%s: message total", ph->name);
	check_u64(what, ph->total, c->total);
}

static void check_store(struct store *s, const struct corpus *c)
{
	struct store_summary sum;
	enum store_status st;
	memset(&sum, 0, sizeof sum);
	st = store_agg_summary(s, NULL, 0, &sum);
	if (st != STORE_OK) {
		check_failures++;
		fprintf(stderr, "RESULT CHECK FAILED: store_agg_summary: %s\n", store_status_name(st));
		return;
	}
	check_u64("store: reports", sum.reports, c->reports);
	check_u64("store: message total", sum.c.total, c->total);
	check_u64("store: dmarc pass", sum.c.dmarc_pass, c->dmarc_pass);
	check_u64("store: spf aligned pass", sum.c.spf_aligned_pass, c->spf_pass);
	check_u64("store: dkim aligned pass", sum.c.dkim_aligned_pass, c->dkim_pass);
	check_u64("store: disposition none", sum.c.disp_none, c->disp_none);
	check_u64("store: disposition quarantine", sum.c.disp_quarantine, c->disp_quarantine);
	check_u64("store: disposition reject", sum.c.disp_reject, c->disp_reject);
	store_summary_free(&sum);
}

/* ---------- store ---------- */

static struct store *open_fresh_store(struct mamori_config *cfg, const char *dir, unsigned run)
{
	char err[512], name[64];
	struct store *s;
	snprintf(name, sizeof name, "bench-%u.db", run);
	xfree(cfg->data_dir);
	cfg->data_dir = xstrdup(dir);
	xfree(cfg->store_path);
	cfg->store_path = path_join(dir, name);
	unlink(cfg->store_path);
	err[0] = '\0';
	s = store_open(cfg, err, sizeof err);
	if (s == NULL)
		die("store_open %s: %s", cfg->store_path, err);
	return s;
}

/* removes the SQLite file and its journal/WAL companions */
static void remove_store_files(const char *db)
{
	static const char *const suffix[] = { "", "-journal", "-wal", "-shm" };
	size_t i;
	for (i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
		struct buf b = BUF_INIT(0);
		buf_printf(&b, "%s%s", db, suffix[i]);
		unlink(buf_cstr(&b));
		buf_free(&b);
	}
}

/* ---------- report ---------- */

static double rate(uint64_t n, double s)
{
	return s > 0 ? (double)n / s : 0.0;
}

static void print_phase(const struct phase *ph, uint64_t records)
{
	printf("%-12s cpu %8.3f s  wall %8.3f s  %10.0f records/s  %8.1f reports/s  (wall: %.0f records/s)\n",
	       ph->name, ph->cpu, ph->wall, rate(records, ph->cpu), rate(ph->reports, ph->cpu),
	       rate(records, ph->wall));
	if (ph->cpu_parse > 0 || ph->cpu_store > 0)
		printf("%-12s   of which agg_parse %.3f s, parse+store %.3f s, input+walk %.3f s\n", "",
		       ph->cpu_parse, ph->cpu_store, ph->cpu - ph->cpu_parse - ph->cpu_store);
	printf("%-12s   peak RSS %ld KB (VmHWM%s; RSS at start %ld KB; ru_maxrss %ld KB)\n", "", ph->hwm_kb,
	       ph->hwm_was_reset ? ", reset at start" : ", NOT reset: process-wide", ph->rss_before_kb,
	       ph->maxrss_kb);
}

/* ---------- main ---------- */

struct options {
	unsigned long reports, records;
	unsigned repeat;
	const char *tmpdir;
	bool keep, scale, corrupt, dedup;
	unsigned only;      /* 0 all phases, else one PHASE_* (for profiling) */
};

enum { PHASE_FLOOR = 1, PHASE_PARSE, PHASE_IMPORT };

static bool want(const struct options *o, unsigned phase)
{
	return o->only == 0 || o->only == phase;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_dmarc_ingest [--reports N] [--records M] [--repeat K] [--tmpdir DIR]\n"
		"                          [--no-scale] [--dedup] [--keep] [--corrupt] [--only PHASE]\n"
		"  --reports N   reports in the corpus (default %d)\n"
		"  --records M   records per report (default %d)\n"
		"  --repeat K    K rounds of the timed phases, keep the fastest of each (default %d)\n"
		"  --tmpdir DIR  where the corpus and the store go (default $TMPDIR or /tmp)\n"
		"  --no-scale    skip the parse-only rerun at %dN (memory flatness)\n"
		"  --dedup       import a second time: every report must be a duplicate\n"
		"  --keep        keep the generated corpus and store\n"
		"  --corrupt     truncate the last report: the result check must fail\n"
		"  --only PHASE  run only floor, parse or import (for a profiler; no ratios)\n",
		BENCH_DEFAULT_REPORTS, BENCH_DEFAULT_RECORDS, BENCH_DEFAULT_REPEAT, BENCH_SCALE);
}

static unsigned long parse_ulong(const char *s, unsigned long lo, unsigned long hi, const char *what)
{
	char *end;
	unsigned long v;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		die("%s: expected a number from %lu to %lu, got \"%s\"", what, lo, hi, s);
	return v;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "reports", required_argument, NULL, 'n' }, { "records", required_argument, NULL, 'm' },
		{ "repeat", required_argument, NULL, 'r' },  { "tmpdir", required_argument, NULL, 't' },
		{ "no-scale", no_argument, NULL, 'S' },      { "dedup", no_argument, NULL, 'd' },
		{ "keep", no_argument, NULL, 'k' },          { "corrupt", no_argument, NULL, 'c' },
		{ "only", required_argument, NULL, 'o' },   { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	memset(o, 0, sizeof *o);
	o->reports = BENCH_DEFAULT_REPORTS;
	o->records = BENCH_DEFAULT_RECORDS;
	o->repeat = BENCH_DEFAULT_REPEAT;
	o->scale = true;
	o->tmpdir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n': o->reports = parse_ulong(optarg, 1, BENCH_MAX_REPORTS, "--reports"); break;
		case 'm': o->records = parse_ulong(optarg, 1, BENCH_MAX_RECORDS, "--records"); break;
		case 'r': o->repeat = (unsigned)parse_ulong(optarg, 1, BENCH_MAX_REPEAT, "--repeat"); break;
		case 't': o->tmpdir = optarg; break;
		case 'S': o->scale = false; break;
		case 'd': o->dedup = true; break;
		case 'k': o->keep = true; break;
		case 'c': o->corrupt = true; break;
		case 'o':
			if (strcmp(optarg, "floor") == 0)
				o->only = PHASE_FLOOR;
			else if (strcmp(optarg, "parse") == 0)
				o->only = PHASE_PARSE;
			else if (strcmp(optarg, "import") == 0)
				o->only = PHASE_IMPORT;
			else
				die("--only: expected floor, parse or import, got \"%s\"", optarg);
			o->scale = false;
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
}

static char *make_tempdir(const char *base, const char *tag)
{
	struct buf b = BUF_INIT(0);
	char *d;
	buf_printf(&b, "%s/bench_dmarc_%s_XXXXXX", base, tag);
	d = buf_steal(&b, NULL);
	if (mkdtemp(d) == NULL)
		die("mkdtemp %s: %s", d, strerror(errno));
	return d;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* keeps the faster of two runs of the same phase */
static void keep_best(struct phase *best, const struct phase *run, unsigned k)
{
	if (k == 0 || run->cpu < best->cpu)
		*best = *run;
}

int main(int argc, char **argv)
{
	struct options o;
	struct mamori_config cfg;
	struct corpus c, c4;
	struct phase floor_ph = { 0 }, floorns_ph = { 0 }, parse_ph = { 0 }, import_ph = { 0 }, parse4_ph = { 0 };
	struct phase parsemem_ph = { 0 }, dedup_ph = { 0 }, run;
	char *corpus_dir, *store_dir, *corpus4_dir = NULL;
	unsigned k;
	double t0, ratio_import, ratio_parse, ratio_median = 0.0;
	double round_floor[BENCH_MAX_REPEAT] = { 0 }, round_import[BENCH_MAX_REPEAT] = { 0 };
	long peak;
	bool have4 = false;

	parse_options(argc, argv, &o);
	config_defaults(&cfg);

	corpus_dir = make_tempdir(o.tmpdir, "corpus");
	store_dir = make_tempdir(o.tmpdir, "store");

	t0 = wall_now();
	gen_corpus(&c, corpus_dir, o.reports, o.records, o.corrupt);
	printf("corpus: %" PRIu64 " reports x %lu records = %" PRIu64 " records, %" PRIu64
	       " messages; %.1f MB XML, %.1f MB on disk (.xml.gz and .zip) in %s (%.1f s)\n",
	       c.reports, o.records, c.records, c.total, (double)c.xml_bytes / 1e6, (double)c.disk_bytes / 1e6,
	       corpus_dir, wall_now() - t0);

	/* the memory check's corpus, BENCH_SCALE times as many reports */
	if (o.scale && (unsigned long)BENCH_SCALE * o.reports <= BENCH_MAX_REPORTS) {
		corpus4_dir = make_tempdir(o.tmpdir, "corpus4");
		t0 = wall_now();
		gen_corpus(&c4, corpus4_dir, BENCH_SCALE * o.reports, o.records, false);
		printf("corpus %dN: %" PRIu64 " reports, %" PRIu64 " records, %.1f MB XML (%.1f s)\n", BENCH_SCALE,
		       c4.reports, c4.records, (double)c4.xml_bytes / 1e6, wall_now() - t0);
		have4 = true;
	}

	/* memory: parse-only over N and over BENCH_SCALE x N reports, one
	   after the other and before any import leaves SQLite's and the
	   allocator's memory behind */
	if (have4) {
		phase_ingest(&parsemem_ph, "parse-onlyN", &c, &cfg, o.records, NULL);
		check_ingest(&parsemem_ph, &c);
		phase_ingest(&parse4_ph, "parse-only4N", &c4, &cfg, o.records, NULL);
		check_ingest(&parse4_ph, &c4);
	}

	/* rounds of floor, parse-only, import (each into a fresh store): the
	   phases of one round run close together, so a busy neighbour on a
	   shared machine slows all of them alike; the best of each phase and
	   each round's own import/floor ratio are reported */
	for (k = 0; k < o.repeat; k++) {
		if (want(&o, PHASE_FLOOR)) {
			phase_floor(&run, &c, false);
			keep_best(&floor_ph, &run, k);
			round_floor[k] = run.cpu;
			phase_floor(&run, &c, true);
			keep_best(&floorns_ph, &run, k);
		}
		if (want(&o, PHASE_PARSE)) {
			phase_ingest(&run, "parse-only", &c, &cfg, o.records, NULL);
			keep_best(&parse_ph, &run, k);
		}
		if (want(&o, PHASE_IMPORT)) {
			struct store *s = open_fresh_store(&cfg, store_dir, k);
			phase_ingest(&run, "import", &c, &cfg, o.records, s);
			keep_best(&import_ph, &run, k);
			round_import[k] = run.cpu;
			if (k + 1 == o.repeat) {
				check_ingest(&run, &c);
				check_u64("import: inserted", run.inserted, c.reports);
				check_store(s, &c);
				if (o.dedup) {
					phase_ingest(&dedup_ph, "reimport", &c, &cfg, o.records, s);
					check_u64("reimport: inserted", dedup_ph.inserted, 0);
					check_u64("reimport: duplicates", dedup_ph.duplicates, c.reports);
					check_store(s, &c);
				}
			}
			store_close(&s);
			if (!o.keep)
				remove_store_files(cfg.store_path);
		}
	}
	if (want(&o, PHASE_FLOOR))
		check_u64("floor: files that failed to decompress or parse", floor_ph.errors, 0);
	if (want(&o, PHASE_PARSE))
		check_ingest(&parse_ph, &c);

	printf("\n%s%" PRIu64 " reports x %lu records, best of %u, one core (rates on CPU time)\n",
	       o.corrupt ? "CORRUPTED RUN: " : "", c.reports, o.records, o.repeat);
	if (want(&o, PHASE_FLOOR)) {
		print_phase(&floor_ph, c.records);
		print_phase(&floorns_ph, c.records);
	}
	if (want(&o, PHASE_PARSE))
		print_phase(&parse_ph, c.records);
	if (have4) {
		print_phase(&parsemem_ph, c.records);
		print_phase(&parse4_ph, c4.records);
	}
	if (want(&o, PHASE_IMPORT))
		print_phase(&import_ph, c.records);
	if (o.dedup)
		print_phase(&dedup_ph, c.records);

	/* same records in each phase: the rate ratio is the inverse time ratio */
	ratio_import = import_ph.cpu > 0 ? floor_ph.cpu / import_ph.cpu : 0.0;
	ratio_parse = parse_ph.cpu > 0 ? floor_ph.cpu / parse_ph.cpu : 0.0;
	if (o.only == 0) {
		printf("\nfloor+ns / floor:   %5.1f%%   (information: expat's namespace processing alone)\n",
		       floorns_ph.cpu > 0 ? 100.0 * floor_ph.cpu / floorns_ph.cpu : 0.0);
		printf("parse-only / floor: %5.1f%%\n", 100.0 * ratio_parse);
		printf("import / floor:     %5.1f%%   goal >= %.0f%%: %s\n", 100.0 * ratio_import,
		       100.0 * BENCH_RATIO_GOAL, ratio_import >= BENCH_RATIO_GOAL ? "met" : "not met");
		if (o.repeat > 1) {
			double r[BENCH_MAX_REPEAT];
			printf("import / floor by round:");
			for (k = 0; k < o.repeat; k++) {
				r[k] = round_import[k] > 0 ? round_floor[k] / round_import[k] : 0.0;
				printf(" %.1f%%", 100.0 * r[k]);
			}
			qsort(r, o.repeat, sizeof r[0], cmp_double);
			ratio_median = o.repeat % 2 ? r[o.repeat / 2] : (r[o.repeat / 2 - 1] + r[o.repeat / 2]) / 2;
			printf("; median %.1f%%\n", 100.0 * ratio_median);
		}
	}
	if (have4)
		printf("memory: parse-only peak RSS at N=%" PRIu64 ": %ld KB (+%ld KB over its start), "
		       "at N=%" PRIu64 ": %ld KB (+%ld KB): %+.1f%%\n",
		       c.reports, parsemem_ph.hwm_kb, parsemem_ph.hwm_kb - parsemem_ph.rss_before_kb, c4.reports,
		       parse4_ph.hwm_kb, parse4_ph.hwm_kb - parse4_ph.rss_before_kb,
		       parsemem_ph.hwm_kb > 0
			       ? 100.0 * (double)(parse4_ph.hwm_kb - parsemem_ph.hwm_kb) / (double)parsemem_ph.hwm_kb
			       : 0.0);
	printf("memory: import peak RSS %ld KB\n", import_ph.hwm_kb);

	peak = floor_ph.hwm_kb;
	if (parse_ph.hwm_kb > peak)
		peak = parse_ph.hwm_kb;
	if (import_ph.hwm_kb > peak)
		peak = import_ph.hwm_kb;
	if (have4 && parse4_ph.hwm_kb > peak)
		peak = parse4_ph.hwm_kb;

	if (check_failures != 0)
		printf("\nRESULT CHECK FAILED: %d mismatches (see stderr)\n", check_failures);
	printf("bench_dmarc_ingest: reports=%" PRIu64 " records=%" PRIu64 " floor_rps=%.0f parse_rps=%.0f "
	       "import_rps=%.0f ratio_import=%.3f ratio_import_median=%.3f peak_rss_kb=%ld parse_rss_kb_n=%ld "
	       "parse_rss_kb_%dn=%ld result=%s\n",
	       c.reports, c.records, rate(c.records, floor_ph.cpu), rate(c.records, parse_ph.cpu),
	       rate(c.records, import_ph.cpu), ratio_import, ratio_median, peak,
	       have4 ? parsemem_ph.hwm_kb : parse_ph.hwm_kb, BENCH_SCALE,
	       have4 ? parse4_ph.hwm_kb : -1L, check_failures ? "FAIL" : "ok");

	corpus_remove(&c, o.keep);
	if (have4)
		corpus_remove(&c4, o.keep);
	if (!o.keep)
		rmdir(store_dir);
	xfree(corpus_dir);
	xfree(corpus4_dir);
	xfree(store_dir);
	config_free(&cfg);
	return check_failures ? 1 : 0;
}
