/*
 * Fuzz target: aggregate-report XML (agg_parse and agg_parse_stream).
 * Checks the parser's promises on every input: a refusal says why and
 * returns nothing; an accepted report has consistent counts, strings that
 * are terminated, valid UTF-8 and free of control characters, and keywords
 * from the sets; the stream agrees with the whole-report parse (begin at
 * most once and before any record, end only for a valid report, the same
 * records and total), and stopping at begin never reads further.
 */
#include <stdint.h>
#include <string.h>

#include "dmarc/report_parse.h"

static void check_str(const char *s, size_t size)
{
	size_t n = strnlen(s, size);
	if (n == size)
		__builtin_trap(); /* not terminated */
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			__builtin_trap(); /* control character, or untrimmed whitespace */
		if (p[i] == 0xc2 && i + 1 < n && p[i + 1] < 0xa0)
			__builtin_trap(); /* C1 control */
		if (p[i] >= 0x80 && (p[i] < 0xc2 || p[i] > 0xf4) && (p[i] & 0xc0) != 0x80)
			__builtin_trap();
	}
	if (n > 0 && (s[0] == ' ' || s[n - 1] == ' '))
		__builtin_trap(); /* not trimmed */
}

#define STR(f) check_str((f), sizeof(f))

static void check_kw(const char *s, const char *const *set)
{
	if (s[0] == '\0')
		return;
	for (; *set; set++)
		if (strcmp(s, *set) == 0)
			return;
	__builtin_trap();
}

struct stream_count {
	int begins, ends, stop;
	size_t records;
	uint64_t total;
};

static int sc_begin(void *ctx, const struct agg_report *meta)
{
	struct stream_count *c = ctx;
	if (c->begins++ != 0 || c->records != 0 || meta->nrec != 0 || meta->report_id[0] == '\0' ||
	    meta->domain[0] == '\0')
		__builtin_trap();
	return c->stop;
}

static int sc_record(void *ctx, const struct agg_report *meta, const struct agg_record *rec,
		     const struct agg_auth *dkim, const struct agg_auth *spf)
{
	struct stream_count *c = ctx;
	if (c->begins != 1 || c->ends != 0 || meta->nrec != ++c->records || rec->ndkim > AGG_MAX_AUTH ||
	    rec->nspf > AGG_MAX_AUTH || (rec->ndkim > 0 && dkim[rec->ndkim - 1].result[0] == '\0') ||
	    (rec->nspf > 0 && spf[rec->nspf - 1].result[0] == '\0'))
		__builtin_trap();
	c->total += rec->count;
	return 0;
}

static int sc_end(void *ctx, const struct agg_report *meta)
{
	struct stream_count *c = ctx;
	if (c->begins != 1 || c->ends++ != 0 || meta->nrec != c->records || meta->total_count != c->total)
		__builtin_trap();
	return 0;
}

static const struct agg_stream_ops sc_ops = { .begin = sc_begin, .record = sc_record, .end = sc_end };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const disp[] = { "none", "quarantine", "reject", "pass", NULL };
	static const char *const pol[] = { "none", "quarantine", "reject", NULL };
	static const char *const eval[] = { "pass", "fail", NULL };
	static const char *const res[] = { "none", "pass", "fail", "policy", "neutral", "softfail",
					   "temperror", "permerror", NULL };
	struct agg_limits lim = { size % 4 == 0 ? 3 : 0 };
	struct agg_report *r = (struct agg_report *)1;
	char err[256];
	err[0] = '\0';
	struct stream_count sc = { 0 }, stop = { .stop = 1 };
	int src = agg_parse_stream(data, size, &lim, &sc_ops, &sc, err, sizeof err);
	int stoprc = agg_parse_stream(data, size, &lim, &sc_ops, &stop, NULL, 0);
	if (stop.records != 0 || stop.ends != 0 || (stoprc == 1) != (stop.begins == 1) || stoprc == 0 || stoprc == -2)
		__builtin_trap(); /* a quiet stop at begin hands nothing more over */
	err[0] = '\0';
	if (agg_parse(data, size, &lim, &r, err, sizeof err) != 0) {
		if (r != NULL || err[0] == '\0' || src != -1 || sc.ends != 0)
			__builtin_trap(); /* a refusal always says why, returns nothing */
		return 0;
	}
	if (src != 0 || sc.ends != 1 || sc.records != r->nrec || sc.total != r->total_count)
		__builtin_trap(); /* the stream and the whole report agree */
	if (r == NULL || r->nrec > r->caprec || (lim.max_records && r->nrec > lim.max_records))
		__builtin_trap();
	STR(r->org_name);
	STR(r->email);
	STR(r->extra_contact);
	STR(r->report_id);
	STR(r->generator);
	STR(r->errors);
	STR(r->domain);
	STR(r->fo);
	check_kw(r->p, pol);
	check_kw(r->sp, pol);
	check_kw(r->np, pol);
	if (r->report_id[0] == '\0' || r->domain[0] == '\0' || r->date_begin > r->date_end ||
	    r->date_end > AGG_MAX_YEAR_2100 || r->pct > 100 || r->pct < -1)
		__builtin_trap();
	uint64_t sum = 0;
	for (size_t i = 0; i < r->nrec; i++) {
		const struct agg_record *c = &r->rec[i];
		if (c->count > AGG_MAX_COUNT || c->ndkim > AGG_MAX_AUTH || c->nspf > AGG_MAX_AUTH ||
		    c->nreason > AGG_MAX_REASONS || c->disposition[0] == '\0')
			__builtin_trap();
		sum += c->count;
		check_kw(c->disposition, disp);
		check_kw(c->dkim_eval, eval);
		check_kw(c->spf_eval, eval);
		STR(c->header_from);
		STR(c->envelope_from);
		STR(c->envelope_to);
		for (unsigned k = 0; k < c->nreason; k++) {
			STR(c->reason[k].type);
			STR(c->reason[k].comment);
		}
		for (unsigned k = 0; k < c->ndkim + c->nspf; k++) {
			const struct agg_auth *a = k < c->ndkim ? agg_dkim(r, c, k) : agg_spf(r, c, k - c->ndkim);
			STR(a->domain);
			STR(a->selector);
			STR(a->scope);
			STR(a->human);
			if (a->result[0] == '\0')
				__builtin_trap();
			check_kw(a->result, res);
		}
	}
	if (sum != r->total_count)
		__builtin_trap();
	agg_report_free(&r);
	if (r != NULL)
		__builtin_trap();
	return 0;
}
