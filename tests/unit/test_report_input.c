/*
 * report_input: which items each corpus file yields (table), Maildir and
 * mbox walking, zip and gzip bombs that must not stop the import, corrupt
 * and truncated archives, callback stop, symlinks not followed.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "dmarc/report_input.h"

#define C MAMORI_CORPUS "/"

struct got {
	enum rin_kind kind;
	char source[RIN_MAX_SOURCE + 1];
	char error[256];
	char head[16]; /* first bytes of data */
	size_t len, rawlen;
	int has_nul, data_has_escaped_from, data_has_from_line;
};

struct coll {
	struct got *v;
	size_t n, cap;
	int stop_after; /* return 7 after this many items, 0 never */
};

static int collect(void *ctx, const struct rin_item *it)
{
	struct coll *c = ctx;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = realloc(c->v, c->cap * sizeof *c->v);
		assert_non_null(c->v);
	}
	struct got *g = &c->v[c->n++];
	memset(g, 0, sizeof *g);
	g->kind = it->kind;
	snprintf(g->source, sizeof g->source, "%s", it->source);
	if (it->error)
		snprintf(g->error, sizeof g->error, "%s", it->error);
	g->len = it->len;
	g->rawlen = it->rawlen;
	if (it->kind == RIN_ERROR) {
		assert_non_null(it->error);
		assert_true(strlen(it->error) > 0);
	} else {
		assert_null(it->error);
		assert_non_null(it->data);
		assert_true(it->len > 0);
		assert_non_null(it->raw);
		assert_true(it->rawlen > 0);
		const char *d = it->data;
		g->has_nul = d[it->len] == 0;
		snprintf(g->head, sizeof g->head, "%.*s", (int)(it->len < 15 ? it->len : 15), d);
		g->data_has_escaped_from = strstr(d, ">From ") != NULL;
		g->data_has_from_line = strstr(d, "\nFrom here") != NULL;
	}
	if (c->stop_after && c->n >= (size_t)c->stop_after)
		return 7;
	return 0;
}

static void coll_free(struct coll *c)
{
	free(c->v);
	memset(c, 0, sizeof *c);
}

static void count(const struct coll *c, unsigned *agg, unsigned *fail, unsigned *err)
{
	*agg = *fail = *err = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].kind == RIN_AGGREGATE)
			++*agg;
		else if (c->v[i].kind == RIN_FAILURE)
			++*fail;
		else
			++*err;
	}
}

static int walk1(const char *path, size_t maxd, struct coll *c)
{
	char *paths[1] = { (char *)path };
	struct rin_opts o = { .max_decompressed = maxd };
	return rin_walk(paths, 1, &o, collect, c);
}

/* ---- the corpus table ---- */

struct fcase {
	const char *path;
	unsigned agg, fail, err;
	const char *error_has;  /* substring of the (first) error, if any */
	const char *source_end; /* how the first item's source must end, if set */
};

static const struct fcase fcases[] = {
	/* .zip */
	{ C "dmarc-reports-dmarc-cat/testdata/google.com!keltia.net!1538438400!1538524799.zip", 1, 0, 0,
	  NULL, ".zip:google.com!keltia.net!1538438400!1538524799.xml" },
	/* .xml.gz */
	{ C "dmarc-reports-dmarc-cat/testdata/example.com!keltia.net!1538604008!1538690408.xml.gz", 1, 0,
	  0, NULL, ".xml.gz" },
	/* bare .gz holding plain text: decompresses, then is not XML */
	{ C "dmarc-reports-dmarc-cat/testdata/notempty.txt.gz", 0, 0, 1, "decompressed content is not XML",
	  NULL },
	/* gzip inside gzip */
	{ C "dmarc-reports-dmarc-report-converter/pkg/dmarc/testdata/test.xml.gz.gz", 1, 0, 0, NULL, NULL },
	/* three reports in one zip: three items */
	{ C "dmarc-reports-dmarc_report_reader/tests/fixtures/multi-report.zip", 3, 0, 0, NULL,
	  ":google.com!example.com!1704067200!1704153599.xml" },
	/* a directory entry named like a report is not a member */
	{ C "dmarc-reports-go-dmarc-report/testdata/test_report.zip", 1, 0, 0, NULL,
	  ".zip:subfolder.xml/test_report.xml" },
	/* streamed zip whose member has an empty name */
	{ C "dmarc-reports-mail-dmarc/t/fixtures/test_dmarc.xml.zip", 1, 0, 0, NULL, ".zip:member1" },
	/* a zip holding an empty file */
	{ C "dmarc-reports-dmarc-cat/testdata/bad.zip", 0, 0, 1, "empty member", ":bad.xml" },
	/* raw zlib stream */
	{ C "dmarc-reports-dmarcgo/testdata/fixtures/aol.com!georgestarcher.com!1342497600!1342584000.zlib",
	  1, 0, 0, NULL, NULL },
	/* report with a .txt name: detected by content */
	{ C "dmarc-reports-dmarc-report-parser/tests/fixtures/dmarc-as-txt.txt", 1, 0, 0, NULL, NULL },
	/* leading space before <?xml: data starts at '<' */
	{ C "dmarc-reports-dmarc-parser/src/test/resources/dmarc-1-space.xml", 1, 0, 0, NULL, NULL },
	{ C "dmarc-reports-parsedmarc/empty.xml", 0, 0, 1, "empty file", NULL },
	{ C "dmarc-reports-dmarc-report-parser/tests/fixtures/plain.txt", 0, 0, 1,
	  "content is not XML, gzip, zip or mail", NULL },
	/* mail with a zip attachment */
	{ C "dmarc-reports-parsedmarc/aggregate/twilight.eml", 1, 0, 0, NULL,
	  "twilight.eml:google.com!twlnet.com!1549756800!1549843199.zip:"
	  "google.com!twlnet.com!1549756800!1549843199.xml" },
	{ C "dmarc-reports-parsedmarc/aggregate/Report domain- borschow.com Submitter- google.com "
	   "Report-ID- 949348866075514174.eml", 1, 0, 0, NULL, NULL },
	/* mail with a gzip attachment */
	{ C "dmarc-reports-mail-auth/dmarc-feedback/101.eml", 1, 0, 0, NULL,
	  "101.eml:backschues.net!stalw.art!1667948400!1668034800.xml.gz" },
	/* multipart/related, RFC 2047 subject */
	{ C "dmarc-reports-mail-auth/dmarc-feedback/103.eml", 1, 0, 0, NULL, NULL },
	/* gzip attachment whose decoded bytes start with CRLF */
	{ C "dmarc-reports-parsedmarc/aggregate/mimecast-weird-gzip.eml", 1, 0, 0, NULL, NULL },
	/* labelled application/gzip, but a zip */
	{ C "dmarc-reports-modoboa-dmarc/modoboa_dmarc/tests/fail-reports/"
	   "Report_Domain_ngyn.org_Submitter_163.com_Report-ID_aggr_report_ngyn.org_20150705_163-failed.com.eml",
	  1, 0, 0, NULL, NULL },
	/* Hotmail: the XML in the zip starts with a BOM */
	{ C "dmarc-reports-modoboa-dmarc/modoboa_dmarc/tests/reports/"
	   "Report_Domain_ngyn.org_Submitter_hotmail.com_Report-ID_66f317a021ff4cdabad2b350d3303615@hotmail.com.eml",
	  1, 0, 0, NULL, NULL },
	/* .xml.gz attachment holding a PNG */
	{ C "dmarc-reports-modoboa-dmarc/modoboa_dmarc/tests/reports/"
	   "Report_Domain_ngyn.org_Submitter_amazon.com_Report-ID_aggr_report_ngyn.org_20210607-ignored.eml",
	  0, 0, 1, "decompressed content is not XML", NULL },
	{ C "dmarc-reports-dmarc-parser/src/test/resources/test.txt.eml", 0, 0, 1,
	  "no DMARC report found in message", NULL },
	{ C "dmarc-reports-dmarc-parser/src/test/resources/test.none.eml", 0, 0, 1,
	  "no DMARC report found in message", NULL },
	/* failure reports */
	{ C "dmarc-reports-parsedmarc/failure/dmarc_ruf_report_linkedin.eml", 0, 1, 0, NULL,
	  "linkedin.eml#msg1" },
	{ C "dmarc-reports-parsedmarc/failure/[Netease DMARC Failure Report] Rent Reminder.eml", 0, 1, 0,
	  NULL, NULL },
	{ C "dmarc-reports-mail-auth/arf/005.eml", 0, 1, 0, NULL, NULL },
	{ C "dmarc-reports-parsedmarc/failure/exim_plain_text_only_no_arf_part.eml", 0, 0, 1,
	  "multipart/report without a message/feedback-report part", NULL },
	{ C "arf-reports-set-of-emails/maildir/mac/arf-01.eml", 0, 0, 1,
	  "ARF feedback report of type 'abuse' is not a DMARC failure report", NULL },
	{ C "arf-reports-set-of-emails/maildir/bsd/arf-20.eml", 0, 1, 0, NULL, NULL },
	{ C "dmarc-reports-parsedmarc/smtp_tls/google.com_smtp_tls_report.eml", 0, 0, 1,
	  "SMTP TLS report", NULL },
	{ C "dmarc-reports-nonexistent/none.xml", 0, 0, 1, "cannot open: No such file", NULL },
};

/* files in tests/data/reports/containers, walked with a 16 MiB cap */
#define D MAMORI_TESTDATA "/reports/containers/"
static const struct fcase dcases[] = {
	{ D "gzip-bomb-64M.gz", 0, 0, 1, "decompressed size exceeds 16777216 bytes (zip/gzip bomb?)", NULL },
	{ D "zip-bomb-then-report.zip", 1, 0, 1, "decompressed size exceeds 16777216 bytes", ":zeros.xml" },
	{ D "octet-stream-noname.eml", 1, 0, 0, NULL, "octet-stream-noname.eml:part2" },
};

static bool ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

static void run_fcases(const struct fcase *cases, size_t ncases, size_t maxd)
{
	for (size_t i = 0; i < ncases; i++) {
		const struct fcase *fc = &cases[i];
		struct coll c = { 0 };
		unsigned agg, fail, err;
		assert_int_equal(walk1(fc->path, maxd, &c), 0);
		count(&c, &agg, &fail, &err);
		if (agg != fc->agg || fail != fc->fail || err != fc->err) {
			print_error("%s: got %u/%u/%u, want %u/%u/%u\n", fc->path, agg, fail, err, fc->agg,
				    fc->fail, fc->err);
			for (size_t j = 0; j < c.n; j++)
				print_error("  %d %s %s\n", c.v[j].kind, c.v[j].source, c.v[j].error);
			fail();
		}
		if (fc->error_has) {
			size_t j = 0;
			while (j < c.n && c.v[j].kind != RIN_ERROR)
				j++;
			assert_true(j < c.n);
			if (!strstr(c.v[j].error, fc->error_has)) {
				print_error("%s: error \"%s\" lacks \"%s\"\n", fc->path, c.v[j].error,
					    fc->error_has);
				fail();
			}
		}
		if (fc->source_end && !ends_with(c.v[0].source, fc->source_end)) {
			print_error("%s: source %s\n", fc->path, c.v[0].source);
			fail();
		}
		for (size_t j = 0; j < c.n; j++) {
			if (c.v[j].kind == RIN_AGGREGATE) {
				assert_true(c.v[j].has_nul);
				/* BOM and white space stripped: XML starts at '<' */
				assert_int_equal(c.v[j].head[0], '<');
			} else if (c.v[j].kind == RIN_FAILURE) {
				assert_true(c.v[j].has_nul);
			}
		}
		coll_free(&c);
	}
}

static void test_corpus_files(void **state)
{
	run_fcases(fcases, sizeof fcases / sizeof fcases[0], 0);
}

static void test_container_files(void **state)
{
	run_fcases(dcases, sizeof dcases / sizeof dcases[0], 16 * 1024 * 1024);
}

/* the whole corpus: exact totals, and every mail in dmarc-reports-* yields
 * an item of its own */
static void test_whole_corpus(void **state)
{
	static const char *dirs[] = {
		"dmarc-reports-OpenDMARC", "dmarc-reports-dmarc-cat", "dmarc-reports-dmarc-parser",
		"dmarc-reports-dmarc-report-converter", "dmarc-reports-dmarc-report-parser",
		"dmarc-reports-dmarc-report-viewer", "dmarc-reports-dmarc_aggregate_parser",
		"dmarc-reports-dmarc_report_reader", "dmarc-reports-dmarcgo", "dmarc-reports-go-dmarc-report",
		"dmarc-reports-mail-auth", "dmarc-reports-mail-dmarc", "dmarc-reports-modoboa-dmarc",
		"dmarc-reports-parsedmarc", "arf-reports-set-of-emails",
	};
	/* aggregate items expected per folder (every report file and attachment) */
	static const unsigned want_agg[] = { 4, 4, 3, 6, 6, 10, 1, 8, 8, 3, 10, 4, 9, 25, 0 };
	static const unsigned want_fail[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 4, 3 };
	char *paths[sizeof dirs / sizeof dirs[0]];
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		struct coll c = { 0 };
		char p[512];
		unsigned agg, fail, err;
		snprintf(p, sizeof p, C "%s", dirs[i]);
		paths[i] = strdup(p);
		assert_int_equal(walk1(p, 0, &c), 0);
		count(&c, &agg, &fail, &err);
		if (agg != want_agg[i] || fail != want_fail[i]) {
			print_error("%s: %u aggregate, %u failure (want %u, %u)\n", dirs[i], agg, fail,
				    want_agg[i], want_fail[i]);
			fail();
		}
		/* no mail silently dropped: each .eml shows up as a source prefix */
		for (size_t j = 0; j < c.n; j++)
			assert_true(strncmp(c.v[j].source, p, strlen(p)) == 0);
		coll_free(&c);
	}
	/* all paths in one walk: totals add up, order follows the arguments */
	struct coll c = { 0 };
	struct rin_opts o = { 0 };
	assert_int_equal(rin_walk(paths, sizeof dirs / sizeof dirs[0], &o, collect, &c), 0);
	unsigned agg, fail, err, sa = 0, sf = 0;
	count(&c, &agg, &fail, &err);
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		sa += want_agg[i];
		sf += want_fail[i];
		free(paths[i]);
	}
	assert_int_equal(agg, sa);
	assert_int_equal(fail, sf);
	assert_true(err > 0);
	coll_free(&c);
}

/* ---- generated files ---- */

static char tmpdir[64];

static int setup_tmp(void **state)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test_rin_XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static unsigned char *slurp(const char *path, size_t *n_r)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	b[n] = 0;
	*n_r = (size_t)n;
	return b;
}

static void spit(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static void copy_file(const char *from, const char *to)
{
	size_t n;
	unsigned char *b = slurp(from, &n);
	spit(to, b, n);
	free(b);
}

#define GOOD_GZ C "dmarc-reports-dmarc-cat/testdata/example.com!keltia.net!1538604008!1538690408.xml.gz"
#define GOOD_ZIP C "dmarc-reports-dmarc-cat/testdata/google.com!keltia.net!1538438400!1538524799.zip"
#define GOOD_XML C "dmarc-reports-dmarc-cat/testdata/google.com!keltia.net!1538438400!1538524799.xml"
#define ZIP_MAIL C "dmarc-reports-parsedmarc/aggregate/twilight.eml"
#define GZ_MAIL C "dmarc-reports-mail-auth/dmarc-feedback/101.eml"
#define ARF_MAIL C "arf-reports-set-of-emails/maildir/bsd/arf-18.eml"

static void test_maildir(void **state)
{
	char p[300], q[700];
	snprintf(p, sizeof p, "%s/Maildir", tmpdir);
	assert_int_equal(mkdir(p, 0700), 0);
	const char *subs[] = { "cur", "new", "tmp", ".Reports", ".Reports/cur", ".Reports/new",
			       ".Reports/tmp" };
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		snprintf(q, sizeof q, "%s/%s", p, subs[i]);
		assert_int_equal(mkdir(q, 0700), 0);
	}
	snprintf(q, sizeof q, "%s/new/1700000000.M1P1.host", p);
	copy_file(ZIP_MAIL, q);
	snprintf(q, sizeof q, "%s/cur/1700000001.M2P2.host:2,S", p);
	copy_file(ARF_MAIL, q);
	/* a mail being delivered: tmp/ is not read */
	snprintf(q, sizeof q, "%s/tmp/1700000002.M3P3.host", p);
	copy_file(GZ_MAIL, q);
	/* a Maildir++ folder */
	snprintf(q, sizeof q, "%s/.Reports/cur/1700000003.M4P4.host:2,", p);
	copy_file(GZ_MAIL, q);
	/* a symlink leaving the tree is not followed */
	snprintf(q, sizeof q, "%s/new/1700000004.link", p);
	assert_int_equal(symlink(GOOD_ZIP, q), 0);

	struct coll c = { 0 };
	assert_int_equal(walk1(p, 0, &c), 0);
	unsigned agg, fail, err;
	count(&c, &agg, &fail, &err);
	assert_int_equal(c.n, 3);
	/* cur/ first, then new/, then the sub-folder */
	assert_int_equal(c.v[0].kind, RIN_FAILURE);
	snprintf(q, sizeof q, "%s/cur/1700000001.M2P2.host:2,S", p);
	assert_string_equal(c.v[0].source, q);
	assert_int_equal(c.v[1].kind, RIN_AGGREGATE);
	snprintf(q, sizeof q, "%s/new/1700000000.M1P1.host:", p);
	assert_true(strncmp(c.v[1].source, q, strlen(q)) == 0);
	assert_int_equal(c.v[2].kind, RIN_AGGREGATE);
	snprintf(q, sizeof q, "%s/.Reports/cur/1700000003.M4P4.host:2,:backschues.net", p);
	assert_true(strncmp(c.v[2].source, q, strlen(q)) == 0);
	coll_free(&c);
}

static void test_mbox(void **state)
{
	size_t n1, n2, n3;
	unsigned char *m1 = slurp(ZIP_MAIL, &n1), *m2 = slurp(ARF_MAIL, &n2),
		      *m3 = slurp(C "dmarc-reports-dmarc-parser/src/test/resources/test.none.eml", &n3);
	char p[512];
	snprintf(p, sizeof p, "%s/reports.mbox", tmpdir);
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	fprintf(f, "From MAILER-DAEMON Thu Jan  1 00:00:00 2024\n");
	fwrite(m1, 1, n1, f);
	fprintf(f, "\nFrom dmarc@example.net Thu Jan  1 00:00:01 2024\n");
	/* mboxrd: the ">From here" line in the body must come back as "From here";
	 * ARF_MAIL's first part is text/plain, so insert after its first blank line */
	unsigned char *body = (unsigned char *)strstr((char *)m2, "\n\n");
	assert_non_null(body);
	fwrite(m2, 1, (size_t)(body - m2) + 2, f);
	fprintf(f, ">From here on, a line that mbox escaped\n");
	fwrite(body + 2, 1, n2 - (size_t)(body - m2) - 2, f);
	fprintf(f, "\nFrom someone@example.org Thu Jan  1 00:00:02 2024\n");
	fwrite(m3, 1, n3, f);
	fclose(f);
	free(m1);
	free(m2);
	free(m3);

	struct coll c = { 0 };
	assert_int_equal(walk1(p, 0, &c), 0);
	assert_int_equal(c.n, 3);
	char q[600];
	snprintf(q, sizeof q, "%s#msg1:google.com!twlnet.com!1549756800!1549843199.zip:", p);
	assert_int_equal(c.v[0].kind, RIN_AGGREGATE);
	assert_true(strncmp(c.v[0].source, q, strlen(q)) == 0);
	snprintf(q, sizeof q, "%s#msg2", p);
	assert_int_equal(c.v[1].kind, RIN_FAILURE);
	assert_string_equal(c.v[1].source, q);
	assert_true(c.v[1].data_has_from_line);
	assert_false(c.v[1].data_has_escaped_from);
	snprintf(q, sizeof q, "%s#msg3", p);
	assert_int_equal(c.v[2].kind, RIN_ERROR);
	assert_string_equal(c.v[2].source, q);
	assert_string_equal(c.v[2].error, "no DMARC report found in message");
	coll_free(&c);
}

/* writes gzip of `zeros` zero bytes to path */
static void write_gzip_zeros(const char *path, size_t zeros)
{
	gzFile g = gzopen(path, "wb9");
	assert_non_null(g);
	static unsigned char z[1 << 20];
	for (size_t left = zeros; left > 0;) {
		size_t t = left < sizeof z ? left : sizeof z;
		assert_int_equal(gzwrite(g, z, (unsigned)t), (int)t);
		left -= t;
	}
	assert_int_equal(gzclose(g), Z_OK);
}

static void zip_add(struct archive *a, const char *name, const void *data, size_t len, size_t zeros)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)(data ? len : zeros));
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	if (data) {
		assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
	} else {
		static unsigned char z[1 << 20];
		for (size_t left = zeros; left > 0;) {
			size_t t = left < sizeof z ? left : sizeof z;
			assert_int_equal(archive_write_data(a, z, t), (la_ssize_t)t);
			left -= t;
		}
	}
	archive_entry_free(e);
}

#define MB (1024u * 1024)

static void test_bombs(void **state)
{
	char d[512], p[600];
	snprintf(d, sizeof d, "%s/bombs", tmpdir);
	assert_int_equal(mkdir(d, 0700), 0);
	/* a.gz: 200 MB of zeros (about 200 KB compressed) */
	snprintf(p, sizeof p, "%s/a.gz", d);
	write_gzip_zeros(p, 200 * MB);
	/* b.zip: a bomb member, then a real report */
	size_t xn;
	unsigned char *xml = slurp(GOOD_XML, &xn);
	snprintf(p, sizeof p, "%s/b.zip", d);
	struct archive *a = archive_write_new();
	archive_write_set_format_zip(a);
	archive_write_zip_set_compression_deflate(a);
	assert_int_equal(archive_write_open_filename(a, p), ARCHIVE_OK);
	zip_add(a, "zeros.xml", NULL, 0, 200 * MB);
	zip_add(a, "report.xml", xml, xn, 0);
	archive_write_close(a);
	archive_write_free(a);
	/* c.xml.gz: the next file, still imported */
	snprintf(p, sizeof p, "%s/c.xml.gz", d);
	copy_file(GOOD_GZ, p);

	struct coll c = { 0 };
	assert_int_equal(walk1(d, 10 * MB, &c), 0);
	assert_int_equal(c.n, 4);
	snprintf(p, sizeof p, "%s/a.gz", d);
	assert_string_equal(c.v[0].source, p);
	assert_int_equal(c.v[0].kind, RIN_ERROR);
	assert_string_equal(c.v[0].error, "decompressed size exceeds 10485760 bytes (zip/gzip bomb?)");
	assert_true(c.v[0].rawlen > 0 && c.v[0].rawlen < MB);
	snprintf(p, sizeof p, "%s/b.zip:zeros.xml", d);
	assert_string_equal(c.v[1].source, p);
	assert_int_equal(c.v[1].kind, RIN_ERROR);
	assert_string_equal(c.v[1].error, "decompressed size exceeds 10485760 bytes (zip/gzip bomb?)");
	snprintf(p, sizeof p, "%s/b.zip:report.xml", d);
	assert_string_equal(c.v[2].source, p);
	assert_int_equal(c.v[2].kind, RIN_AGGREGATE);
	assert_int_equal(c.v[2].len, xn);
	snprintf(p, sizeof p, "%s/c.xml.gz", d);
	assert_string_equal(c.v[3].source, p);
	assert_int_equal(c.v[3].kind, RIN_AGGREGATE);
	coll_free(&c);

	/* the same files with a cap above their size decompress fully */
	snprintf(p, sizeof p, "%s/b.zip", d);
	assert_int_equal(walk1(p, 300 * MB, &c), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.v[0].kind, RIN_ERROR); /* 200 MB of zeros is not XML */
	assert_string_equal(c.v[0].error, "not a DMARC report: decompressed content is not XML");
	assert_int_equal(c.v[1].kind, RIN_AGGREGATE);
	coll_free(&c);
	free(xml);
}

static void test_broken_archives(void **state)
{
	char d[512], p[600];
	size_t n;
	snprintf(d, sizeof d, "%s/broken", tmpdir);
	assert_int_equal(mkdir(d, 0700), 0);

	/* a.zip: compressed data overwritten with garbage */
	unsigned char *zip = slurp(GOOD_ZIP, &n);
	for (size_t i = 120; i < 400 && i < n; i++)
		zip[i] ^= 0x5a;
	snprintf(p, sizeof p, "%s/a.zip", d);
	spit(p, zip, n);
	free(zip);
	/* b.zip: cut in half (no central directory) */
	zip = slurp(GOOD_ZIP, &n);
	snprintf(p, sizeof p, "%s/b.zip", d);
	spit(p, zip, n / 2);
	free(zip);
	/* c.xml.gz: truncated gzip */
	unsigned char *gz = slurp(GOOD_GZ, &n);
	snprintf(p, sizeof p, "%s/c.xml.gz", d);
	spit(p, gz, n / 2);
	/* d.xml.gz: gzip with a bad CRC-32 in its trailer */
	gz[n - 6] ^= 0xff;
	snprintf(p, sizeof p, "%s/d.xml.gz", d);
	spit(p, gz, n);
	free(gz);
	/* e.gz: seven gzip layers is more nesting than allowed */
	snprintf(p, sizeof p, "%s/e.gz", d);
	{
		size_t xn;
		unsigned char *cur = slurp(GOOD_XML, &xn);
		for (int layer = 0; layer < 7; layer++) {
			uLongf cap = compressBound(xn) + 64;
			unsigned char *out = malloc(cap);
			z_stream z;
			memset(&z, 0, sizeof z);
			assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
			z.next_in = cur;
			z.avail_in = (uInt)xn;
			z.next_out = out;
			z.avail_out = (uInt)cap;
			assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
			xn = z.total_out;
			deflateEnd(&z);
			free(cur);
			cur = out;
		}
		spit(p, cur, xn);
		free(cur);
	}
	/* f.xml: the last file is fine */
	snprintf(p, sizeof p, "%s/f.xml", d);
	copy_file(GOOD_XML, p);

	struct coll c = { 0 };
	assert_int_equal(walk1(d, 0, &c), 0);
	unsigned agg, fail, err;
	count(&c, &agg, &fail, &err);
	assert_int_equal(agg, 1);
	assert_int_equal(fail, 0);
	assert_int_equal(err, 5);
	assert_true(ends_with(c.v[0].source, "/a.zip:google.com!keltia.net!1538438400!1538524799.xml") ||
		    ends_with(c.v[0].source, "/a.zip"));
	assert_non_null(strstr(c.v[0].error, "zip: "));
	assert_true(ends_with(c.v[1].source, "/b.zip") || strstr(c.v[1].source, "/b.zip:"));
	assert_non_null(strstr(c.v[1].error, "zip: "));
	assert_true(ends_with(c.v[2].source, "/c.xml.gz"));
	assert_string_equal(c.v[2].error, "gzip: truncated stream");
	assert_true(ends_with(c.v[3].source, "/d.xml.gz"));
	assert_string_equal(c.v[3].error, "gzip: incorrect data check");
	assert_true(ends_with(c.v[4].source, "/e.gz"));
	assert_string_equal(c.v[4].error, "containers nested more than 4 deep");
	assert_true(ends_with(c.v[5].source, "/f.xml"));
	assert_int_equal(c.v[5].kind, RIN_AGGREGATE);
	coll_free(&c);
}

static void test_stop_and_buffer(void **state)
{
	/* the callback's nonzero value stops the walk and is returned */
	struct coll c = { .stop_after = 1 };
	char *paths[] = { (char *)GOOD_XML, (char *)GOOD_GZ };
	assert_int_equal(rin_walk(paths, 2, NULL, collect, &c), 7);
	assert_int_equal(c.n, 1);
	coll_free(&c);
	c.stop_after = 2;
	assert_int_equal(
		rin_walk((char *[]){ (char *)C "dmarc-reports-dmarc_report_reader/tests/fixtures/multi-report.zip" },
			 1, NULL, collect, &c),
		7);
	assert_int_equal(c.n, 2);
	coll_free(&c);

	/* one mail in memory (IMAP) */
	size_t n;
	unsigned char *m = slurp(GZ_MAIL, &n);
	assert_int_equal(rin_buffer("imap:INBOX/42", m, n, NULL, collect, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.v[0].kind, RIN_AGGREGATE);
	assert_string_equal(c.v[0].source, "imap:INBOX/42:backschues.net!stalw.art!1667948400!1668034800.xml.gz");
	assert_int_equal(c.v[0].rawlen, 479); /* the gzip attachment as sent */
	coll_free(&c);
	/* rin_buffer takes its input as mail even if it looks like XML */
	assert_int_equal(rin_buffer("x", "<?xml version='1.0'?><feedback/>", 32, NULL, collect, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.v[0].kind, RIN_ERROR);
	coll_free(&c);
	assert_int_equal(rin_buffer("x", "", 0, NULL, collect, &c), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.v[0].error, "empty message");
	coll_free(&c);
	/* rin_bytes sniffs */
	assert_int_equal(rin_bytes("y", m, n, NULL, collect, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.v[0].kind, RIN_AGGREGATE);
	coll_free(&c);
	free(m);
	/* hostile attachment names are cleaned in the source */
	const char *evil = "From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
			   "Content-Type: application/xml; name=\"=?utf-8?q?bad=0A=1B[31mname=FF.xml?=\"\r\n\r\n"
			   "<?xml version=\"1.0\"?><feedback/>\r\n";
	assert_int_equal(rin_buffer("m", evil, strlen(evil), NULL, collect, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.v[0].kind, RIN_AGGREGATE);
	for (const unsigned char *s = (const unsigned char *)c.v[0].source; *s; s++)
		assert_true(*s >= 0x20 && *s != 0x7f);
	assert_int_equal(strncmp(c.v[0].source, "m:bad", 5), 0);
	coll_free(&c);
}

/* a single-part mail whose body is the zip itself, as some reporters send */
static void test_singlepart_and_forward(void **state)
{
	size_t n;
	unsigned char *zip = slurp(GOOD_ZIP, &n);
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *mail = malloc(4096 + n * 2);
	size_t o = (size_t)snprintf(mail, 4096,
				    "From: noreply-dmarc-support@google.com\r\nTo: d@example.com\r\n"
				    "Subject: Report\r\nMIME-Version: 1.0\r\n"
				    "Content-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\n");
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)zip[i] << 16 | (i + 1 < n ? (unsigned)zip[i + 1] << 8 : 0) |
			     (i + 2 < n ? zip[i + 2] : 0);
		mail[o++] = b64[v >> 18 & 63];
		mail[o++] = b64[v >> 12 & 63];
		mail[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		mail[o++] = i + 2 < n ? b64[v & 63] : '=';
		if (i % 57 == 54) {
			mail[o++] = '\r';
			mail[o++] = '\n';
		}
	}
	struct coll c = { 0 };
	assert_int_equal(rin_buffer("s", mail, o, NULL, collect, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.v[0].kind, RIN_AGGREGATE);
	assert_string_equal(c.v[0].source, "s:part1:google.com!keltia.net!1538438400!1538524799.xml");
	assert_int_equal(c.v[0].rawlen, n);
	coll_free(&c);

	/* the same mail forwarded as a message/rfc822 attachment */
	char *fwd = malloc(o + 1024);
	size_t fo = (size_t)snprintf(fwd, 1024,
				     "From: admin@example.com\r\nSubject: Fwd: Report\r\nMIME-Version: 1.0\r\n"
				     "Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
				     "Content-Type: text/plain\r\n\r\nsee attached\r\n--XX\r\n"
				     "Content-Type: message/rfc822\r\n\r\n");
	memcpy(fwd + fo, mail, o);
	fo += o;
	fo += (size_t)snprintf(fwd + fo, 64, "\r\n--XX--\r\n");
	assert_int_equal(rin_buffer("f", fwd, fo, NULL, collect, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.v[0].kind, RIN_AGGREGATE);
	coll_free(&c);
	free(fwd);
	free(mail);
	free(zip);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus_files),
		cmocka_unit_test(test_container_files),
		cmocka_unit_test(test_whole_corpus),
		cmocka_unit_test(test_maildir),
		cmocka_unit_test(test_mbox),
		cmocka_unit_test(test_bombs),
		cmocka_unit_test(test_broken_archives),
		cmocka_unit_test(test_stop_and_buffer),
		cmocka_unit_test(test_singlepart_and_forward),
	};
	return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
