/*
 * report_parse: turns one DMARC aggregate report (XML, already
 * decompressed) into a struct agg_report. Streaming expat parser, hardened
 * for hostile input: no DTD at all (so no entities, internal or external),
 * bounded depth, bounded text per field, bounded records. Owns no state
 * between calls; safe to call from several threads at once.
 *
 * Accepted dialects: RFC 7489 appendix C (no namespace or the
 * http://dmarc.org/dmarc-xml/0.1 namespace), RFC 9990
 * (urn:ietf:params:xml:ns:dmarc-2.0), the pre-RFC dmarc.org draft, and the
 * deviations real reporters produce: upper-case keywords, whitespace around
 * values, a UTF-8 BOM or whitespace before the XML declaration,
 * windows-1252 documents, missing optional elements, unknown and
 * foreign-namespace (extension) elements, which are skipped.
 */
#ifndef MAMORI_DMARC_REPORT_PARSE_H
#define MAMORI_DMARC_REPORT_PARSE_H

#include <stddef.h>

#include "dmarc/report.h"

#define AGG_DEFAULT_MAX_RECORDS 1000000u /* when agg_limits.max_records is 0 */
#define AGG_MAX_DEPTH 32                 /* XML nesting; real reports use 6 */
#define AGG_MAX_YEAR_2100 4102444800LL   /* 2100-01-01T00:00:00Z: dates beyond are absurd */

struct agg_limits {
	size_t max_records; /* 0 -> AGG_DEFAULT_MAX_RECORDS; capped at AGG_MAX_RECORDS_CEILING */
};

/*
 * The streaming interface: the caller sees the report's head once, then
 * each record as it is parsed, then the end. meta is the parser's own
 * head: rec is NULL, nrec counts the records seen so far (the record
 * being handed over included) and total_count their sum; at end() both
 * are final. rec, dkim[0..rec->ndkim-1] and spf[0..rec->nspf-1] are valid
 * during the call only (one buffer, reused for every record): memory per
 * report is constant. Any callback may be NULL.
 *
 *   begin   once report_metadata and policy_published are complete and
 *           checked (at the first <record>, or at </feedback> when there
 *           are none); 0 continue, 1 stop quietly (e.g. a duplicate: the
 *           rest is not even parsed), -1 abort
 *   record  per complete, checked record; 0 continue, -1 abort
 *   end     after the whole document was read and found valid; 0 or -1
 *
 * Validation failures can come after records were handed over: whatever
 * the caller did with them must be undone unless agg_parse_stream
 * returns 0 (never a partial silent import).
 */
struct agg_stream_ops {
	int (*begin)(void *ctx, const struct agg_report *meta);
	int (*record)(void *ctx, const struct agg_report *meta, const struct agg_record *rec,
		      const struct agg_auth *dkim, const struct agg_auth *spf);
	int (*end)(void *ctx, const struct agg_report *meta);
};

/*
 * Parses one report of len bytes held in memory (lim may be NULL for the
 * defaults), streaming it through ops with ctx. Returns 0: valid report,
 * end() was called and returned 0; 1: begin() returned 1 (nothing more was
 * called); -1: the report is invalid, with a one-line reason in err (as for
 * agg_parse below); -2: a callback returned -1 (err says which; the
 * caller has its own reason). A report whose <record> comes before its
 * report_metadata or policy_published is refused ("... missing before the
 * first record"). Does not block unless the callbacks do; allocates only
 * its parser state (constant size).
 */
int agg_parse_stream(const void *xml, size_t len, const struct agg_limits *lim,
		     const struct agg_stream_ops *ops, void *ctx, char *err, size_t errlen);

/*
 * Parses one report of len bytes held in memory (lim may be NULL for the
 * defaults). Returns 0 and a new report in *r_r (the caller frees it with
 * agg_report_free), or -1 with *r_r set to NULL and a one-line reason in
 * err naming the element and, where known, the record and line, e.g.
 * "record 3: row/source_ip: \"999.1.1.1\" is not an IP address (line 40)"
 * or "line 1: XML: undefined entity". Never returns part of a report.
 *
 * What is stored: keywords (disposition, results, p/sp/np, scope, reason
 * type, ...) in lower case; domains (policy domain, header_from, auth
 * domains) in lower case; every text trimmed, inner whitespace runs
 * collapsed to one space; IPv4-mapped IPv6 sources unmapped. In each record
 * only the first ndkim / nspf / nreason entries of dkim[] / spf[] /
 * reason[] are initialised. A <reason> with empty type and comment is
 * dropped. SPF result "hardfail" (seen in the wild) is stored as "fail".
 *
 * A thin wrapper over agg_parse_stream() for tests and small uses: the
 * whole report is held in memory. Does not block.
 */
int agg_parse(const void *xml, size_t len, const struct agg_limits *lim,
	      struct agg_report **r_r, char *err, size_t errlen);

#endif
