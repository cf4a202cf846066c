/*
 * unit tests for src/dmarc/report_parse.c: every aggregate report in the
 * shared corpus (parsed, or refused for the reason in the table below),
 * exact record counts and totals for a dozen of them, field values for the
 * quirky ones, the hostile files of tests/data/reports/hostile/, and
 * inline cases for dialects and limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dmarc/report_parse.h"

#define MAX_FILE (32u << 20)

/* the whole file, or through "gzip -dc" / "unzip -p" for compressed ones
 * (the import layer does this with libarchive; here it only feeds the
 * parser); NULL if it cannot be read */
static char *load(const char *path, size_t *len_r)
{
	size_t n = strlen(path);
	const char *tool = NULL;
	if (n > 3 && strcmp(path + n - 3, ".gz") == 0)
		tool = "gzip -dc";
	else if (n > 4 && strcmp(path + n - 4, ".zip") == 0)
		tool = "unzip -p";
	FILE *f;
	if (tool) {
		char cmd[4096];
		size_t o = (size_t)snprintf(cmd, sizeof cmd, "%s '", tool);
		for (const char *p = path; *p && o + 8 < sizeof cmd; p++) {
			if (*p == '\'') {
				memcpy(cmd + o, "'\\''", 4);
				o += 4;
			} else {
				cmd[o++] = *p;
			}
		}
		snprintf(cmd + o, sizeof cmd - o, "' 2>/dev/null");
		f = popen(cmd, "r");
	} else {
		f = fopen(path, "rb");
	}
	if (f == NULL)
		return NULL;
	char *buf = malloc(MAX_FILE);
	assert_non_null(buf);
	size_t len = fread(buf, 1, MAX_FILE, f);
	if (tool)
		pclose(f);
	else
		fclose(f);
	*len_r = len;
	return buf;
}

static int parse_path(const char *path, const struct agg_limits *lim, struct agg_report **r_r,
		      char *err, size_t errlen)
{
	size_t len = 0;
	char *buf = load(path, &len);
	if (buf == NULL)
		fail_msg("cannot read %s", path);
	int rc = agg_parse(buf, len, lim, r_r, err, errlen);
	free(buf);
	return rc;
}

static int parse_str(const char *xml, struct agg_report **r_r, char *err, size_t errlen)
{
	return agg_parse(xml, strlen(xml), NULL, r_r, err, errlen);
}

/* ---- the corpus ---- */

/* corpus files that are genuinely broken (or not reports) and the words
 * their refusal must contain; matched on the end of the path */
static struct {
	const char *suffix;
	const char *reason;
	int hit;
} broken[] = {
	/* AOL 2012, not well-formed on purpose; the first problem met is the
	 * empty disposition of record 1 */
	{ "bad.com!example.com!1337140800!1337227200.xml", "record 1: row/policy_evaluated/disposition: empty", 0 },
	{ "dmarc-cat/testdata/bad.xml", "empty input", 0 },
	{ "dmarc-cat/testdata/bad.zip", "empty input", 0 },
	{ "dmarc-cat/testdata/notempty.zip", "not XML", 0 },
	{ "dmarc-cat/testdata/notempty.txt.gz", "not XML", 0 },
	{ "dmarc-parser/src/test/resources/test.gz", "not XML", 0 },
	{ "dmarc-parser/src/test/resources/test.zip", "not XML", 0 },
	/* gzip inside gzip: one gunzip leaves gzip bytes */
	{ "dmarc-report-converter/pkg/dmarc/testdata/test.xml.gz.gz", "XML: not well-formed", 0 },
	/* a record whose source_ip, header_from, disposition... are all empty */
	{ "dmarc-report-converter/pkg/dmarc/testdata/test_empty.xml", "record 1: row/source_ip: empty", 0 },
	{ "dmarc_report_reader/tests/fixtures/non-dmarc.xml", "not a DMARC aggregate report (root element \"root\")", 0 },
	{ "dmarc_report_reader/tests/fixtures/malformed.xml", "XML: mismatched tag", 0 },
	/* three reports in one zip: unzip -p concatenates them (the import
	 * layer reads members one by one) */
	{ "dmarc_report_reader/tests/fixtures/multi-report.zip", "junk after document element", 0 },
	/* <feedback> inside an unclosed <xs:schema>, document truncated */
	{ "parsedmarc/aggregate/ikea.com!example.de!1538690400!1538776800.xml", "root element \"schema\"", 0 },
	{ "parsedmarc/aggregate/invalid_xml.xml", "line 5: XML: not well-formed (invalid token) (in report_metadata/email)", 0 },
	{ "parsedmarc/aggregate/invalid_utf_8.xml", "record 1: identifiers/header_from: invalid UTF-8 (byte 0x91) (line 31)", 0 },
	{ "parsedmarc/empty.xml", "empty input", 0 },
};

static int walked_ok, walked_fail;

static bool wanted(const char *name)
{
	size_t n = strlen(name);
	return (n > 4 && strcmp(name + n - 4, ".xml") == 0) ||
	       (n > 3 && strcmp(name + n - 3, ".gz") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".zip") == 0);
}

static void walk(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			walk(path);
			continue;
		}
		if (!wanted(e->d_name))
			continue;
		int bi = -1;
		for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
			size_t pl = strlen(path), sl = strlen(broken[i].suffix);
			if (pl >= sl && strcmp(path + pl - sl, broken[i].suffix) == 0)
				bi = (int)i;
		}
		struct agg_report *r = (struct agg_report *)1;
		char err[512] = "";
		int rc = parse_path(path, NULL, &r, err, sizeof err);
		if (bi >= 0) {
			if (rc != -1 || r != NULL)
				fail_msg("%s: parsed but is listed as broken", path);
			if (strstr(err, broken[bi].reason) == NULL)
				fail_msg("%s: refused with \"%s\", expected \"%s\"", path, err,
					 broken[bi].reason);
			broken[bi].hit++;
			walked_fail++;
		} else {
			if (rc != 0)
				fail_msg("%s: refused: %s", path, err);
			assert_non_null(r);
			assert_true(r->report_id[0] != '\0');
			assert_true(r->domain[0] != '\0');
			assert_true(r->date_begin <= r->date_end);
			uint64_t sum = 0;
			for (size_t i = 0; i < r->nrec; i++) {
				sum += r->rec[i].count;
				assert_true(r->rec[i].source_ip.family == AF_INET ||
					    r->rec[i].source_ip.family == AF_INET6);
				assert_true(r->rec[i].ndkim <= AGG_MAX_AUTH && r->rec[i].nspf <= AGG_MAX_AUTH);
			}
			assert_true(sum == r->total_count);
			agg_report_free(&r);
			assert_null(r);
			walked_ok++;
		}
	}
	closedir(d);
}

static void test_corpus_every_file(void **state)
{
	DIR *d = opendir(MAMORI_CORPUS);
	if (d == NULL)
		fail_msg("corpus %s missing", MAMORI_CORPUS);
	struct dirent *e;
	int dirs = 0;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "dmarc-reports-", 14) != 0)
			continue;
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", MAMORI_CORPUS, e->d_name);
		walk(path);
		dirs++;
	}
	closedir(d);
	assert_true(dirs >= 14);
	/* every listed broken file was met, and the corpus is all there */
	for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++)
		if (broken[i].hit != 1)
			fail_msg("broken-file entry %s met %d times", broken[i].suffix, broken[i].hit);
	assert_int_equal(walked_fail, (int)(sizeof broken / sizeof broken[0]));
	print_message("corpus: %d reports parsed, %d refused as expected\n", walked_ok, walked_fail);
	assert_int_equal(walked_ok, 70);
}

/* exact numbers, counted independently (python's ElementTree) */
static void test_corpus_counts(void **state)
{
	static const struct {
		const char *path;
		size_t nrec;
		uint64_t total;
		unsigned ndkim, nspf; /* auth results summed over records */
		enum agg_format format;
		const char *org;
	} cases[] = {
		{ "dmarc-reports-dmarc-report-viewer/google.xml", 1, 1, 1, 1, AGG_RFC7489, "google.com" },
		{ "dmarc-reports-dmarc-report-viewer/outlook.xml", 2, 3, 2, 2, AGG_RFC7489, "Outlook.com" },
		{ "dmarc-reports-dmarc-report-parser/tests/fixtures/rfc9990-full.xml", 2, 8, 2, 1, AGG_RFC9990, "Enterprise Outlook" },
		{ "dmarc-reports-parsedmarc/aggregate/!large-example.com!1711897200!1711983600.xml", 2286, 2286, 0, 2286, AGG_RFC7489, "" },
		{ "dmarc-reports-OpenDMARC/libopendmarc/tests/testfiles/good.com!example.com!1337270400!1337356799.xml", 754, 183934, 697, 1025, AGG_RFC7489, "126.com" },
		{ "dmarc-reports-OpenDMARC/libopendmarc/tests/testfiles/yeah.net!example.com!1337270400!1337356799.20120518.xml", 254, 21679, 240, 284, AGG_RFC7489, "yeah.net" },
		{ "dmarc-reports-OpenDMARC/libopendmarc/tests/testfiles/163.com!example.com!1337270400!1337356799.20120518163.xml", 50, 92, 50, 50, AGG_RFC7489, "163.com" },
		{ "dmarc-reports-mail-auth/dmarc-feedback/003.xml", 4, 9, 5, 4, AGG_RFC7489, "Fastmail Pty Ltd" },
		{ "dmarc-reports-parsedmarc/history/aggregate/zoho.com!example.com!1581753600!1581840000.xml", 8, 9, 8, 8, AGG_RFC7489, "zoho.com" },
		{ "dmarc-reports-parsedmarc/extract_report/nice-input.xml", 20, 3047, 34, 20, AGG_RFC7489, "google.com" },
		{ "dmarc-reports-parsedmarc/extract_report/nice-input.xml.gz", 20, 3047, 34, 20, AGG_RFC7489, "google.com" },
		{ "dmarc-reports-dmarc-report-parser/tests/fixtures/dmarc-missing-elements.xml", 1, 30, 1, 1, AGG_RFC7489, "Yahoo" },
		{ "dmarc-reports-mail-auth/dmarc-feedback/004.xml", 1, 123, 1, 1, AGG_RFC9990, "Sample Reporter" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char path[4096], err[512];
		snprintf(path, sizeof path, "%s/%s", MAMORI_CORPUS, cases[i].path);
		struct agg_report *r = NULL;
		if (parse_path(path, NULL, &r, err, sizeof err) != 0)
			fail_msg("%s: %s", cases[i].path, err);
		unsigned nd = 0, ns = 0;
		for (size_t k = 0; k < r->nrec; k++) {
			nd += r->rec[k].ndkim;
			ns += r->rec[k].nspf;
		}
		if (r->nrec != cases[i].nrec || r->total_count != cases[i].total ||
		    nd != cases[i].ndkim || ns != cases[i].nspf || r->format != cases[i].format ||
		    strcmp(r->org_name, cases[i].org) != 0)
			fail_msg("%s: got %zu records, total %llu, dkim %u, spf %u, format %d, org \"%s\"",
				 cases[i].path, r->nrec, (unsigned long long)r->total_count, nd, ns,
				 r->format, r->org_name);
		agg_report_free(&r);
	}
}

static struct agg_report *must_parse_corpus(const char *rel)
{
	char path[4096], err[512];
	snprintf(path, sizeof path, "%s/%s", MAMORI_CORPUS, rel);
	struct agg_report *r = NULL;
	if (parse_path(path, NULL, &r, err, sizeof err) != 0)
		fail_msg("%s: %s", rel, err);
	return r;
}

static void assert_ip(const struct ipaddr *ip, const char *want)
{
	char buf[IP_STRLEN];
	assert_string_equal(ip_format(ip, buf), want);
}

static void test_rfc9990_full(void **state)
{
	struct agg_report *r = must_parse_corpus("dmarc-reports-dmarc-report-parser/tests/fixtures/rfc9990-full.xml");
	assert_int_equal(r->format, AGG_RFC9990);
	assert_string_equal(r->email, "dmarcreport@microsoft.com");
	assert_string_equal(r->extra_contact, "https://example-reporter.com/contact");
	assert_string_equal(r->report_id, "1732492800-a-domain.localhost@example-reporter.com");
	assert_int_equal(r->date_begin, 1732492800);
	assert_int_equal(r->date_end, 1732579200);
	assert_string_equal(r->errors, "Multiple DMARC Policy Records found");
	assert_string_equal(r->generator, "Example DMARC Aggregate Reporter v1.2");
	assert_string_equal(r->domain, "a-domain.localhost");
	assert_string_equal(r->discovery_method, "treewalk");
	assert_string_equal(r->p, "reject");
	assert_string_equal(r->sp, "quarantine");
	assert_string_equal(r->np, "reject");
	assert_string_equal(r->fo, "0");
	assert_int_equal(r->adkim, 's');
	assert_int_equal(r->aspf, 's');
	assert_int_equal(r->testing, 'y');
	assert_int_equal(r->pct, -1);

	const struct agg_record *a = &r->rec[0], *b = &r->rec[1];
	assert_ip(&a->source_ip, "255.255.255.253");
	assert_int_equal(a->count, 7);
	assert_string_equal(a->disposition, "pass");
	assert_string_equal(a->dkim_eval, "pass");
	assert_string_equal(a->spf_eval, "fail");
	assert_int_equal(a->nreason, 1);
	assert_string_equal(a->reason[0].type, "policy_test_mode");
	assert_string_equal(a->reason[0].comment, "policy in testing mode");
	assert_string_equal(a->envelope_from, "a-domain.localhost");
	assert_string_equal(a->header_from, "a-domain.localhost");
	assert_int_equal(a->ndkim, 2);
	assert_int_equal(a->nspf, 0);
	assert_string_equal(agg_dkim(r, a, 0)->selector, "selector1");
	assert_string_equal(agg_dkim(r, a, 0)->result, "pass");
	assert_string_equal(agg_dkim(r, a, 0)->human, "signature verified");
	assert_string_equal(agg_dkim(r, a, 1)->selector, "selector2");
	assert_string_equal(agg_dkim(r, a, 1)->result, "fail");
	assert_string_equal(agg_dkim(r, a, 1)->human, "");
	assert_ip(&b->source_ip, "255.255.255.254");
	assert_string_equal(b->disposition, "quarantine");
	assert_int_equal(b->nreason, 0);
	assert_int_equal(b->nspf, 1);
	assert_string_equal(agg_spf(r, b, 0)->scope, "mfrom");
	assert_string_equal(agg_spf(r, b, 0)->result, "pass");
	assert_string_equal(b->envelope_from, "");
	agg_report_free(&r);
}

static void test_corpus_quirks(void **state)
{
	struct agg_report *r;

	/* "None" / "Pass" written in capitals: stored lower-case */
	r = must_parse_corpus("dmarc-reports-parsedmarc/aggregate_invalid/report_with_upper_cased_pass.xml");
	assert_string_equal(r->rec[0].disposition, "none");
	assert_string_equal(r->rec[0].dkim_eval, "pass");
	assert_string_equal(r->rec[0].spf_eval, "pass");
	assert_string_equal(agg_dkim(r, &r->rec[0], 0)->result, "pass");
	assert_string_equal(agg_spf(r, &r->rec[0], 0)->result, "pass");
	agg_report_free(&r);

	/* SPF "hardfail" and a DKIM result with empty domain and selector */
	r = must_parse_corpus("dmarc-reports-dmarc-report-viewer/hardfail.xml");
	assert_string_equal(agg_spf(r, &r->rec[0], 0)->result, "fail");
	assert_string_equal(agg_dkim(r, &r->rec[0], 0)->domain, "");
	assert_string_equal(agg_dkim(r, &r->rec[0], 0)->selector, "");
	agg_report_free(&r);

	/* windows-1252 declaration, ns1 prefix declared on an unprefixed root */
	r = must_parse_corpus("dmarc-reports-dmarc_aggregate_parser/sample-data/dmarc.xml");
	assert_string_equal(r->org_name, "AOL");
	assert_string_equal(r->domain, "website.com");
	agg_report_free(&r);

	/* the pre-RFC draft from the dmarc.org wiki */
	r = must_parse_corpus("dmarc-reports-parsedmarc/aggregate/old_draft_from_wiki.xml");
	assert_int_equal(r->nrec, 1);
	assert_int_equal(r->total_count, 2);
	assert_string_equal(agg_dkim(r, &r->rec[0], 0)->human, "");
	agg_report_free(&r);

	/* whitespace before the XML declaration, CRLF; and values wrapped in
	 * newlines: both read as the clean file */
	struct agg_report *clean = must_parse_corpus("dmarc-reports-dmarc-parser/src/test/resources/dmarc-1.xml");
	const char *variants[] = { "dmarc-reports-dmarc-parser/src/test/resources/dmarc-1-space.xml",
				   "dmarc-reports-dmarc-parser/src/test/resources/dmarc-1-untrimmed.xml" };
	for (size_t v = 0; v < 2; v++) {
		r = must_parse_corpus(variants[v]);
		assert_int_equal(r->nrec, clean->nrec);
		assert_string_equal(r->org_name, clean->org_name);
		assert_string_equal(r->report_id, clean->report_id);
		assert_int_equal(r->date_begin, clean->date_begin);
		for (size_t i = 0; i < r->nrec; i++) {
			assert_true(ip_equal(&r->rec[i].source_ip, &clean->rec[i].source_ip));
			assert_int_equal(r->rec[i].count, clean->rec[i].count);
			assert_string_equal(r->rec[i].disposition, clean->rec[i].disposition);
			assert_string_equal(r->rec[i].header_from, clean->rec[i].header_from);
		}
		agg_report_free(&r);
	}
	agg_report_free(&clean);

	/* NetEase 2012: dates written "1337270400.0" */
	r = must_parse_corpus("dmarc-reports-OpenDMARC/libopendmarc/tests/testfiles/163.com!example.com!1337270400!1337356799.20120518163.xml");
	assert_int_equal(r->date_begin, 1337270400);
	assert_int_equal(r->date_end, 1337356799);
	agg_report_free(&r);

	/* <reason> with empty type and comment is dropped */
	r = must_parse_corpus("dmarc-reports-parsedmarc/aggregate/empty_reason.xml");
	assert_int_equal(r->rec[0].nreason, 0);
	assert_string_equal(r->rec[0].envelope_to, "example.net");
	assert_string_equal(agg_dkim(r, &r->rec[0], 0)->human, "2048-bit key");
	agg_report_free(&r);

	/* an IPv6 source (record 9), and "<end>1524268799 </end>" */
	r = must_parse_corpus("dmarc-reports-parsedmarc/extract_report/nice-input.xml");
	assert_ip(&r->rec[8].source_ip, "2607:f8b0:4864:20::132");
	agg_report_free(&r);
	r = must_parse_corpus("dmarc-reports-dmarc-report-converter/pkg/dmarc/testdata/test.xml");
	assert_int_equal(r->date_end, 1524268799);
	agg_report_free(&r);

	/* unknown elements in date_range / policy_published, <extensions> */
	r = must_parse_corpus("dmarc-reports-mail-auth/dmarc-feedback/001.xml");
	assert_int_equal(r->format, AGG_RFC9990); /* <version>2.0</version> */
	assert_int_equal(r->date_begin, 161212415);
	assert_int_equal(r->testing, 'n');
	assert_string_equal(agg_dkim(r, &r->rec[0], 0)->selector, "abc123");
	agg_report_free(&r);
}

/* ---- hostile files ---- */

static void test_hostile(void **state)
{
	static const struct {
		const char *file;
		size_t max_records;
		const char *reason; /* NULL: must parse */
	} cases[] = {
		{ "billion_laughs.xml", 0, "line 2: DTD not allowed" },
		{ "external_entity.xml", 0, "line 2: DTD not allowed" },
		{ "parameter_entity.xml", 0, "line 2: DTD not allowed" },
		{ "doctype_only.xml", 0, "line 2: DTD not allowed" },
		{ "undefined_entity.xml", 0, "line 4: XML: undefined entity (in report_metadata/org_name)" },
		{ "deep_nesting.xml", 0, "XML nesting deeper than 32 elements" },
		{ "truncated.xml", 0, "XML: no element found (in record 2)" },
		{ "count_huge.xml", 0, "record 1: row/count: \"99999999999999999999\" is out of range (at most 1000000000000)" },
		{ "count_over_max.xml", 0, "record 1: row/count: \"1000000000001\" is out of range" },
		{ "count_negative.xml", 0, "record 1: row/count: \"-5\" is not a non-negative integer" },
		{ "count_not_number.xml", 0, "record 1: row/count: \"12abc\" is not a non-negative integer" },
		{ "bad_ip.xml", 0, "record 3: row/source_ip: \"999.1.1.1\" is not an IP address (line 23)" },
		{ "script_org_name.xml", 0, NULL },
		{ "control_char_org_name.xml", 0, "report_metadata/org_name: control character (line 4)" },
		{ "c1_control_org_name.xml", 0, "report_metadata/org_name: control character (line 4)" },
		{ "raw_control_byte.xml", 0, "line 4: XML: not well-formed (invalid token) (in report_metadata/org_name)" },
		{ "invalid_utf8_org_name.xml", 0, "report_metadata/org_name: invalid UTF-8 (byte 0xff) (line 4)" },
		{ "huge_text.xml", 0, "report_metadata/org_name: longer than 255 bytes" },
		{ "zero_records.xml", 0, NULL },
		{ "many_records.xml", 0, NULL },
		{ "many_records.xml", 20, NULL },
		{ "many_records.xml", 10, "more than 10 records (the limit)" },
		{ "date_reversed.xml", 0, "report_metadata/date_range: begin 1700086399 is after end 1700000000" },
		{ "date_after_2100.xml", 0, "report_metadata/date_range/end: \"4102444801\" is out of range" },
		{ "bad_disposition.xml", 0, "record 1: row/policy_evaluated/disposition: unknown value \"delete\"" },
		{ "missing_report_id.xml", 0, "report_metadata/report_id: missing" },
		{ "too_many_dkim.xml", 0, "record 1: auth_results/dkim: more than 16 results" },
		{ "duplicate_count.xml", 0, "record 1: row/count: element appears twice" },
		{ "not_a_report.xml", 0, "not a DMARC aggregate report (root element \"html\")" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char path[4096], err[512] = "";
		snprintf(path, sizeof path, "%s/reports/hostile/%s", MAMORI_TESTDATA, cases[i].file);
		struct agg_limits lim = { cases[i].max_records };
		struct agg_report *r = (struct agg_report *)1;
		int rc = parse_path(path, &lim, &r, err, sizeof err);
		if (cases[i].reason == NULL) {
			if (rc != 0)
				fail_msg("%s: refused: %s", cases[i].file, err);
			agg_report_free(&r);
			continue;
		}
		if (rc != -1 || r != NULL)
			fail_msg("%s: accepted", cases[i].file);
		if (strstr(err, cases[i].reason) == NULL)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].file, err, cases[i].reason);
	}

	/* the script tag is data: kept verbatim (callers escape for HTML) */
	char path[4096], err[256];
	struct agg_report *r;
	snprintf(path, sizeof path, "%s/reports/hostile/script_org_name.xml", MAMORI_TESTDATA);
	assert_int_equal(parse_path(path, NULL, &r, err, sizeof err), 0);
	assert_string_equal(r->org_name, "<script>alert(\"x\")</script>");
	agg_report_free(&r);
	snprintf(path, sizeof path, "%s/reports/hostile/zero_records.xml", MAMORI_TESTDATA);
	assert_int_equal(parse_path(path, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r->nrec, 0);
	assert_int_equal(r->total_count, 0);
	agg_report_free(&r);
	snprintf(path, sizeof path, "%s/reports/hostile/many_records.xml", MAMORI_TESTDATA);
	assert_int_equal(parse_path(path, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r->nrec, 20);
	assert_ip(&r->rec[19].source_ip, "192.0.2.20");
	agg_report_free(&r);
}

/* ---- inline cases ---- */

#define META "<report_metadata><org_name>O</org_name><report_id>id</report_id>" \
	     "<date_range><begin>1</begin><end>2</end></date_range></report_metadata>"
#define POL "<policy_published><domain>Example.COM</domain><p>none</p></policy_published>"
#define REC(row) "<record><row>" row "</row><identifiers><header_from>example.com</header_from>" \
		 "</identifiers><auth_results></auth_results></record>"
#define ROW "<source_ip>192.0.2.1</source_ip><count>3</count>" \
	    "<policy_evaluated><disposition>none</disposition></policy_evaluated>"
#define DOC(body) "<feedback>" META POL body "</feedback>"

static void test_inline(void **state)
{
	static const struct {
		const char *name, *xml;
		const char *reason; /* NULL: parses */
		uint64_t total;
	} cases[] = {
		{ "minimal", DOC(REC(ROW)), NULL, 3 },
		{ "spaces in numbers", DOC(REC("<source_ip> 192.0.2.1\n</source_ip><count>\n\t7 </count>"
					       "<policy_evaluated><disposition> REJECT </disposition></policy_evaluated>")), NULL, 7 },
		{ "ipv4-mapped ipv6", DOC(REC("<source_ip>::ffff:192.0.2.9</source_ip><count>1</count>"
					      "<policy_evaluated><disposition>none</disposition></policy_evaluated>")), NULL, 1 },
		{ "rfc9990 namespace", "<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">" META POL REC(ROW) "</feedback>", NULL, 3 },
		{ "rfc7489 xsd namespace, prefixed", "<d:feedback xmlns:d=\"http://dmarc.org/dmarc-xml/0.1\"><d:report_metadata>"
			"<d:org_name>O</d:org_name><d:report_id>id</d:report_id><d:date_range><d:begin>1</d:begin>"
			"<d:end>2</d:end></d:date_range></d:report_metadata><d:policy_published><d:domain>e.com</d:domain>"
			"</d:policy_published></d:feedback>", NULL, 0 },
		{ "unknown root namespace adopted", "<feedback xmlns=\"http://reporter.invalid/dmarc\">" META POL REC(ROW) "</feedback>", NULL, 3 },
		{ "foreign extension skipped", "<feedback xmlns:x=\"urn:x\">" META POL
			"<x:record><row><source_ip>bogus</source_ip></row></x:record>" REC(ROW) "</feedback>", NULL, 3 },
		{ "unknown element skipped", DOC("<record><row>" ROW "<weird><count>999</count></weird></row></record>"), NULL, 3 },
		{ "comments, CDATA, PI", "<?xml version='1.0'?><!-- c --><feedback>" META POL
			"<record><row><source_ip><![CDATA[192.0.2.1]]></source_ip><count>1<!-- x -->2</count>"
			"<policy_evaluated><disposition>none</disposition></policy_evaluated></row><?pi x?></record></feedback>", NULL, 12 },
		{ "count zero", DOC(REC("<source_ip>192.0.2.1</source_ip><count>0</count>"
					"<policy_evaluated><disposition>none</disposition></policy_evaluated>")), NULL, 0 },
		{ "missing count", DOC(REC("<source_ip>192.0.2.1</source_ip>"
					   "<policy_evaluated><disposition>none</disposition></policy_evaluated>")),
		  "record 1: row/count: missing", 0 },
		{ "missing disposition", DOC(REC("<source_ip>192.0.2.1</source_ip><count>1</count>")),
		  "record 1: row/policy_evaluated/disposition: missing", 0 },
		{ "missing source_ip", DOC(REC("<count>1</count>")), "record 1: row/source_ip: missing", 0 },
		{ "ip with zone", DOC(REC("<source_ip>fe80::1%eth0</source_ip><count>1</count>")),
		  "record 1: row/source_ip: \"fe80::1%eth0\" is not an IP address", 0 },
		{ "ip with prefix", DOC(REC("<source_ip>192.0.2.0/24</source_ip><count>1</count>")),
		  "is not an IP address", 0 },
		{ "count with sign", DOC(REC("<source_ip>192.0.2.1</source_ip><count>+1</count>")),
		  "row/count: \"+1\" is not a non-negative integer", 0 },
		{ "count with fraction", DOC(REC("<source_ip>192.0.2.1</source_ip><count>1.0</count>")),
		  "row/count: \"1.0\" is not a non-negative integer", 0 },
		{ "count empty", DOC(REC("<source_ip>192.0.2.1</source_ip><count> </count>")), "row/count: empty", 0 },
		{ "bad pct", "<feedback>" META "<policy_published><domain>e.com</domain><pct>101</pct></policy_published></feedback>",
		  "policy_published/pct: \"101\" is out of range (at most 100)", 0 },
		{ "bad p", "<feedback>" META "<policy_published><domain>e.com</domain><p>drop</p></policy_published></feedback>",
		  "policy_published/p: unknown value \"drop\"", 0 },
		{ "bad adkim", "<feedback>" META "<policy_published><domain>e.com</domain><adkim>x</adkim></policy_published></feedback>",
		  "policy_published/adkim: unknown value \"x\"", 0 },
		{ "bad discovery", "<feedback>" META "<policy_published><domain>e.com</domain><discovery_method>dns</discovery_method></policy_published></feedback>",
		  "policy_published/discovery_method: unknown value \"dns\"", 0 },
		{ "bad dkim result", DOC("<record><row>" ROW "</row><auth_results><dkim><domain>d</domain><result>maybe</result></dkim></auth_results></record>"),
		  "record 1: auth_results/dkim/result: unknown value \"maybe\"", 0 },
		{ "softfail is not a dkim result", DOC("<record><row>" ROW "</row><auth_results><dkim><result>softfail</result></dkim></auth_results></record>"),
		  "auth_results/dkim/result: unknown value \"softfail\"", 0 },
		{ "auth result missing", DOC("<record><row>" ROW "</row><auth_results><spf><domain>d</domain></spf></auth_results></record>"),
		  "record 1: auth_results/spf/result: missing", 0 },
		{ "bad scope", DOC("<record><row>" ROW "</row><auth_results><spf><scope>rcpt</scope><result>pass</result></spf></auth_results></record>"),
		  "auth_results/spf/scope: unknown value \"rcpt\"", 0 },
		{ "bad reason type", DOC("<record><row><source_ip>192.0.2.1</source_ip><count>1</count><policy_evaluated>"
					 "<disposition>none</disposition><reason><type>because</type></reason></policy_evaluated></row></record>"),
		  "row/policy_evaluated/reason/type: unknown value \"because\"", 0 },
		{ "five reasons", DOC("<record><row><source_ip>192.0.2.1</source_ip><count>1</count><policy_evaluated><disposition>none</disposition>"
				      "<reason><type>other</type></reason><reason><type>other</type></reason><reason><type>other</type></reason>"
				      "<reason><type>other</type></reason><reason><type>other</type></reason></policy_evaluated></row></record>"),
		  "more than 4 reasons", 0 },
		{ "bad policy_evaluated dkim", DOC(REC("<source_ip>192.0.2.1</source_ip><count>1</count><policy_evaluated>"
						       "<disposition>none</disposition><dkim>neutral</dkim></policy_evaluated>")),
		  "row/policy_evaluated/dkim: unknown value \"neutral\"", 0 },
		{ "empty report_id", "<feedback><report_metadata><report_id> </report_id></report_metadata></feedback>",
		  "report_metadata/report_id: empty", 0 },
		{ "missing policy domain", "<feedback>" META "<policy_published><p>none</p></policy_published></feedback>",
		  "policy_published/domain: missing", 0 },
		{ "missing policy_published", "<feedback>" META "</feedback>", "policy_published: missing", 0 },
		{ "missing metadata", "<feedback>" POL "</feedback>", "report_metadata: missing", 0 },
		{ "date not a number", "<feedback><report_metadata><date_range><begin>yesterday</begin></date_range></report_metadata></feedback>",
		  "report_metadata/date_range/begin: \"yesterday\" is not a non-negative integer", 0 },
		{ "date with bad fraction", "<feedback><report_metadata><date_range><begin>1.</begin></date_range></report_metadata></feedback>",
		  "\"1.\" is not a non-negative integer", 0 },
		{ "duplicate metadata", "<feedback>" META META POL "</feedback>", "report_metadata: element appears twice", 0 },
		{ "two documents", DOC("") DOC(""), "junk after document element", 0 },
		{ "text", "hello", "not XML: does not start with '<' (line 1)", 0 },
		{ "unknown encoding", "<?xml version=\"1.0\" encoding=\"EBCDIC-US\"?><feedback/>", "XML: unknown encoding", 0 },
		{ "undefined prefix", "<feedback><x:y/></feedback>", "XML: unbound prefix", 0 },
		{ "internal DTD subset", "<!DOCTYPE feedback [<!ELEMENT feedback ANY>]><feedback/>", "DTD not allowed", 0 },
		{ "long header_from", DOC("<record><row>" ROW "</row><identifiers><header_from>"
			"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			"</header_from></identifiers></record>"), "record 1: identifiers/header_from: longer than 255 bytes", 0 },
		{ "surrogate as char ref", "<feedback><report_metadata><org_name>&#xD800;</org_name></report_metadata></feedback>",
		  "reference to invalid character number", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct agg_report *r = (struct agg_report *)1;
		char err[512] = "";
		int rc = parse_str(cases[i].xml, &r, err, sizeof err);
		if (cases[i].reason == NULL) {
			if (rc != 0)
				fail_msg("%s: refused: %s", cases[i].name, err);
			if (r->total_count != cases[i].total)
				fail_msg("%s: total %llu", cases[i].name, (unsigned long long)r->total_count);
			agg_report_free(&r);
		} else {
			if (rc != -1 || r != NULL)
				fail_msg("%s: accepted", cases[i].name);
			if (strstr(err, cases[i].reason) == NULL)
				fail_msg("%s: got \"%s\", want \"%s\"", cases[i].name, err, cases[i].reason);
		}
	}
}

/* ---- streaming ---- */

struct stream_log {
	int begins, records, ends;
	int stop_begin;      /* begin returns this */
	int fail_record_at;  /* record n (1-based) returns -1; 0 never */
	int fail_end;        /* end returns -1 */
	char rid[256];
	uint64_t sum;        /* counts seen in record callbacks */
	size_t nrec_at_end;
	uint64_t total_at_end;
	unsigned ndkim, nspf;
	char last_dkim[600], last_spf[600];
	const struct agg_record *recptr; /* the buffer is reused */
	bool same_buffer;
};

static int log_begin(void *ctx, const struct agg_report *meta)
{
	struct stream_log *l = ctx;
	l->begins++;
	assert_null(meta->rec);
	assert_int_equal(meta->nrec, 0);
	snprintf(l->rid, sizeof l->rid, "%s", meta->report_id);
	return l->stop_begin;
}

static int log_record(void *ctx, const struct agg_report *meta, const struct agg_record *rec,
		      const struct agg_auth *dkim, const struct agg_auth *spf)
{
	struct stream_log *l = ctx;
	l->records++;
	assert_int_equal(meta->nrec, (size_t)l->records);
	l->sum += rec->count;
	assert_int_equal(meta->total_count, l->sum);
	if (l->recptr != NULL && l->recptr != rec)
		l->same_buffer = false;
	l->recptr = rec;
	l->ndkim += rec->ndkim;
	l->nspf += rec->nspf;
	if (rec->ndkim > 0)
		snprintf(l->last_dkim, sizeof l->last_dkim, "%s/%s", dkim[rec->ndkim - 1].domain,
			 dkim[rec->ndkim - 1].result);
	if (rec->nspf > 0)
		snprintf(l->last_spf, sizeof l->last_spf, "%s/%s", spf[rec->nspf - 1].domain, spf[rec->nspf - 1].result);
	return l->records == l->fail_record_at ? -1 : 0;
}

static int log_end(void *ctx, const struct agg_report *meta)
{
	struct stream_log *l = ctx;
	l->ends++;
	l->nrec_at_end = meta->nrec;
	l->total_at_end = meta->total_count;
	return l->fail_end ? -1 : 0;
}

static const struct agg_stream_ops log_ops = { .begin = log_begin, .record = log_record, .end = log_end };

#define AUTH2 "<auth_results><dkim><domain>A.example</domain><result>pass</result></dkim>" \
	      "<dkim><domain>b.example</domain><result>fail</result></dkim>" \
	      "<spf><domain>c.example</domain><result>hardfail</result></spf></auth_results>"
#define SREC(n) "<record><row><source_ip>192.0.2." #n "</source_ip><count>" #n "</count>" \
		"<policy_evaluated><disposition>none</disposition></policy_evaluated></row>" \
		"<identifiers><header_from>example.com</header_from></identifiers>" AUTH2 "</record>"

static void test_stream(void **state)
{
	static const struct {
		const char *name, *xml;
		int stop_begin, fail_record_at, fail_end;
		int rc;
		int begins, records, ends;
		const char *reason; /* substring of err when rc is -1 or -2 */
	} cases[] = {
		{ "three records", DOC(SREC(1) SREC(2) SREC(3)), 0, 0, 0, 0, 1, 3, 1, NULL },
		{ "no records: begin at </feedback>", DOC(""), 0, 0, 0, 0, 1, 0, 1, NULL },
		{ "duplicate: begin stops quietly", DOC(SREC(1) SREC(2)), 1, 0, 0, 1, 1, 0, 0, NULL },
		{ "begin aborts", DOC(SREC(1)), -1, 0, 0, -2, 1, 0, 0, "stopped by the begin callback" },
		{ "record aborts", DOC(SREC(1) SREC(2) SREC(3)), 0, 2, 0, -2, 1, 2, 0, "stopped by the record callback" },
		{ "end fails", DOC(SREC(1)), 0, 0, 1, -2, 1, 1, 1, "stopped by the end callback" },
		/* a late error: records were handed over, the parse still fails */
		{ "bad record after good ones", DOC(SREC(1) SREC(2) REC("<source_ip>x</source_ip>")), 0, 0, 0, -1, 1, 2, 0,
		  "record 3: row/source_ip: \"x\" is not an IP address" },
		{ "junk after the document", DOC(SREC(1)) "<x/>", 0, 0, 0, -1, 1, 1, 0, "junk after document element" },
		{ "record before metadata", "<feedback>" SREC(1) META POL "</feedback>", 0, 0, 0, -1, 0, 0, 0,
		  "report_metadata: missing before the first record (line 1)" },
		{ "record before policy", "<feedback>" META SREC(1) POL "</feedback>", 0, 0, 0, -1, 0, 0, 0,
		  "policy_published: missing before the first record" },
		{ "report_id missing before records", "<feedback><report_metadata><org_name>O</org_name>"
		  "<date_range><begin>1</begin><end>2</end></date_range></report_metadata>" POL SREC(1) "</feedback>",
		  0, 0, 0, -1, 0, 0, 0, "report_metadata/report_id: missing before the first record" },
		{ "policy again after records", DOC(SREC(1) POL), 0, 0, 0, -1, 1, 1, 0,
		  "policy_published: element appears twice" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct stream_log l;
		memset(&l, 0, sizeof l);
		l.same_buffer = true;
		l.stop_begin = cases[i].stop_begin;
		l.fail_record_at = cases[i].fail_record_at;
		l.fail_end = cases[i].fail_end;
		char err[512] = "";
		int rc = agg_parse_stream(cases[i].xml, strlen(cases[i].xml), NULL, &log_ops, &l, err, sizeof err);
		if (rc != cases[i].rc || l.begins != cases[i].begins || l.records != cases[i].records ||
		    l.ends != cases[i].ends)
			fail_msg("%s: rc %d begins %d records %d ends %d (err \"%s\")", cases[i].name, rc, l.begins,
				 l.records, l.ends, err);
		if (cases[i].reason != NULL && strstr(err, cases[i].reason) == NULL)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].name, err, cases[i].reason);
		if (!l.same_buffer)
			fail_msg("%s: record buffer not reused", cases[i].name);
		if (l.begins)
			assert_string_equal(l.rid, "id");
	}

	/* what the callbacks see: totals at the end, auth results per record */
	struct stream_log l;
	memset(&l, 0, sizeof l);
	const char *xml = DOC(SREC(1) SREC(2) SREC(3));
	char err[256];
	assert_int_equal(agg_parse_stream(xml, strlen(xml), NULL, &log_ops, &l, err, sizeof err), 0);
	assert_int_equal(l.nrec_at_end, 3);
	assert_int_equal(l.total_at_end, 6);
	assert_int_equal(l.ndkim, 6);
	assert_int_equal(l.nspf, 3);
	assert_string_equal(l.last_dkim, "b.example/fail");
	assert_string_equal(l.last_spf, "c.example/fail");

	/* the record limit holds while streaming; NULL callbacks are allowed */
	static const struct agg_stream_ops none = { NULL, NULL, NULL };
	struct agg_limits lim = { 2 };
	assert_int_equal(agg_parse_stream(xml, strlen(xml), &lim, &none, NULL, err, sizeof err), -1);
	assert_non_null(strstr(err, "more than 2 records (the limit)"));
	lim.max_records = 3;
	assert_int_equal(agg_parse_stream(xml, strlen(xml), &lim, &none, NULL, err, sizeof err), 0);

	/* the agg_parse wrapper gives the same records with their results */
	struct agg_report *r;
	assert_int_equal(parse_str(xml, &r, err, sizeof err), 0);
	assert_int_equal(r->nrec, 3);
	assert_int_equal(r->total_count, 6);
	assert_int_equal(r->rec[2].ndkim, 2);
	assert_string_equal(agg_dkim(r, &r->rec[2], 0)->domain, "a.example");
	assert_string_equal(agg_dkim(r, &r->rec[2], 1)->result, "fail");
	assert_string_equal(agg_spf(r, &r->rec[1], 0)->result, "fail");
	assert_int_equal(r->rec[1].dkim_first, 2);
	agg_report_free(&r);
}

static void test_values(void **state)
{
	struct agg_report *r;
	char err[256];

	/* normalisation: trimmed, runs of whitespace collapsed, domains lower-cased */
	assert_int_equal(parse_str("<feedback><report_metadata><org_name>\n  Big \t\r\n Corp  </org_name>"
				   "<report_id>id</report_id><date_range><begin>1</begin><end>2</end></date_range>"
				   "<error>one</error><error>  </error><error>two</error></report_metadata>" POL
				   REC("<source_ip>::ffff:192.0.2.9</source_ip><count>1</count><policy_evaluated>"
				       "<disposition>Quarantine</disposition><dkim>FAIL</dkim></policy_evaluated>")
				   "</feedback>", &r, err, sizeof err), 0);
	assert_string_equal(r->org_name, "Big Corp");
	assert_string_equal(r->errors, "one; two");
	assert_string_equal(r->domain, "example.com");
	assert_string_equal(r->p, "none");
	assert_string_equal(r->sp, "");
	assert_int_equal(r->adkim, 0);
	assert_int_equal(r->testing, 0);
	assert_int_equal(r->pct, -1);
	assert_int_equal(r->format, AGG_RFC7489);
	assert_int_equal(r->rec[0].source_ip.family, AF_INET);
	assert_ip(&r->rec[0].source_ip, "192.0.2.9");
	assert_string_equal(r->rec[0].disposition, "quarantine");
	assert_string_equal(r->rec[0].dkim_eval, "fail");
	assert_string_equal(r->rec[0].spf_eval, "");
	agg_report_free(&r);

	/* UTF-8 BOM, then whitespace, then the declaration; line numbers
	 * still count from the top of the file */
	assert_int_equal(parse_str("\xef\xbb\xbf\n\n<?xml version=\"1.0\"?>\n<feedback>" META POL
				   "\n<record><row><source_ip>1.2.3</source_ip></row></record></feedback>",
				   &r, err, sizeof err), -1);
	assert_string_equal(err, "record 1: row/source_ip: \"1.2.3\" is not an IP address (line 5)");

	/* windows-1252: the euro sign and curly quotes arrive as UTF-8;
	 * an undefined byte (0x81) is refused */
	assert_int_equal(parse_str("<?xml version=\"1.0\" encoding=\"windows-1252\"?><feedback>"
				   "<report_metadata><org_name>\x80 \x93q\x94 \xe9</org_name><report_id>id</report_id>"
				   "<date_range><begin>1</begin><end>2</end></date_range></report_metadata>" POL "</feedback>",
				   &r, err, sizeof err), 0);
	assert_string_equal(r->org_name, "\xe2\x82\xac \xe2\x80\x9cq\xe2\x80\x9d \xc3\xa9");
	agg_report_free(&r);
	assert_int_equal(parse_str("<?xml version=\"1.0\" encoding=\"windows-1252\"?><feedback>"
				   "<report_metadata><org_name>\x81</org_name></report_metadata></feedback>",
				   &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "XML: not well-formed (invalid token) (in report_metadata/org_name)"));

	/* ISO-8859-1 */
	assert_int_equal(parse_str("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><feedback>"
				   "<report_metadata><org_name>M\xfcller</org_name><report_id>id</report_id>"
				   "<date_range><begin>1</begin><end>2</end></date_range></report_metadata>" POL "</feedback>",
				   &r, err, sizeof err), 0);
	assert_string_equal(r->org_name, "M\xc3\xbcller");
	agg_report_free(&r);

	/* UTF-16LE with a BOM */
	const char *ascii = "<feedback>" META POL REC(ROW) "</feedback>";
	size_t n = strlen(ascii);
	char *u16 = malloc(2 * n + 2);
	u16[0] = (char)0xff;
	u16[1] = (char)0xfe;
	for (size_t i = 0; i < n; i++) {
		u16[2 + 2 * i] = ascii[i];
		u16[3 + 2 * i] = 0;
	}
	assert_int_equal(agg_parse(u16, 2 * n + 2, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r->nrec, 1);
	assert_int_equal(r->total_count, 3);
	agg_report_free(&r);
	free(u16);

	/* a non-characters-free UTF-8 name with a quote in an error value */
	assert_int_equal(parse_str(DOC(REC("<source_ip>\xc3\xa9\"\\</source_ip>")), &r, err, sizeof err), -1);
	assert_string_equal(err, "record 1: row/source_ip: \"\xc3\xa9\\\"\\\\\" is not an IP address (line 1)");

	/* an error message never overflows its buffer, and err may be NULL */
	char small[16];
	assert_int_equal(parse_str("<feedback><x:y/></feedback>", &r, small, sizeof small), -1);
	assert_int_equal(strlen(small), sizeof small - 1);
	assert_int_equal(parse_str("<feedback><x:y/></feedback>", &r, NULL, 0), -1);
	assert_null(r);
}

static void test_limits(void **state)
{
	/* 3000 records: geometric growth, limit above and below */
	size_t cap = 3000 * 200 + 1024, o = 0;
	char *buf = malloc(cap);
	o += (size_t)snprintf(buf + o, cap - o, "<feedback>" META POL);
	for (int i = 0; i < 3000; i++)
		o += (size_t)snprintf(buf + o, cap - o,
				      "<record><row><source_ip>10.0.%d.%d</source_ip><count>%d</count>"
				      "<policy_evaluated><disposition>none</disposition></policy_evaluated></row></record>",
				      i / 256, i % 256, i + 1);
	o += (size_t)snprintf(buf + o, cap - o, "</feedback>");
	struct agg_report *r;
	char err[256];
	struct agg_limits lim = { 0 };
	assert_int_equal(agg_parse(buf, o, &lim, &r, err, sizeof err), 0);
	assert_int_equal(r->nrec, 3000);
	assert_int_equal(r->total_count, 3000ull * 3001 / 2);
	assert_true(r->caprec >= 3000);
	assert_ip(&r->rec[2999].source_ip, "10.0.11.183");
	agg_report_free(&r);
	lim.max_records = 3000;
	assert_int_equal(agg_parse(buf, o, &lim, &r, err, sizeof err), 0);
	agg_report_free(&r);
	lim.max_records = 2999;
	assert_int_equal(agg_parse(buf, o, &lim, &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "more than 2999 records"));
	assert_null(r);
	lim.max_records = (size_t)-1; /* capped at the ceiling, still parses */
	assert_int_equal(agg_parse(buf, o, &lim, &r, err, sizeof err), 0);
	agg_report_free(&r);
	free(buf);

	/* 16 DKIM results are fine, the 17th is refused */
	char rec[4096];
	o = (size_t)snprintf(rec, sizeof rec, "<feedback>" META POL "<record><row>" ROW "</row><auth_results>");
	for (int i = 0; i < 16; i++)
		o += (size_t)snprintf(rec + o, sizeof rec - o, "<dkim><domain>d%d.example</domain><result>pass</result></dkim>", i);
	snprintf(rec + o, sizeof rec - o, "</auth_results></record></feedback>");
	assert_int_equal(parse_str(rec, &r, err, sizeof err), 0);
	assert_int_equal(r->rec[0].ndkim, 16);
	assert_string_equal(agg_dkim(r, &r->rec[0], 15)->domain, "d15.example");
	agg_report_free(&r);

	/* depth 32 is allowed, 33 is not (inside an ignored extension) */
	char deep[1024];
	for (int d = 32; d <= 33; d++) {
		o = (size_t)snprintf(deep, sizeof deep, "<feedback>" META POL);
		for (int i = 1; i < d; i++)
			o += (size_t)snprintf(deep + o, sizeof deep - o, "<e>");
		for (int i = 1; i < d; i++)
			o += (size_t)snprintf(deep + o, sizeof deep - o, "</e>");
		snprintf(deep + o, sizeof deep - o, "</feedback>");
		int rc = parse_str(deep, &r, err, sizeof err);
		if (d == 32) {
			assert_int_equal(rc, 0);
			agg_report_free(&r);
		} else {
			assert_int_equal(rc, -1);
			assert_non_null(strstr(err, "XML nesting deeper than 32"));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus_every_file),
		cmocka_unit_test(test_corpus_counts),
		cmocka_unit_test(test_rfc9990_full),
		cmocka_unit_test(test_corpus_quirks),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_inline),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
