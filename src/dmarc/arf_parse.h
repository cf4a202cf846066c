/*
 * arf_parse: reads one ARF feedback report (RFC 5965; auth-failure reports
 * per RFC 6591 and DMARC failure reports per RFC 9991) from a whole message
 * into struct failure_report. Stateless apart from GMime's one-time
 * initialisation; does no I/O.
 */
#ifndef MAMORI_DMARC_ARF_PARSE_H
#define MAMORI_DMARC_ARF_PARSE_H

#include <stddef.h>

#include "dmarc/report.h"

/* a failure report larger than this is refused (same cap as report_input) */
#define ARF_MAX_MESSAGE (128u * 1024 * 1024)

/*
 * Parses msg (len bytes, any line endings: CRLF, LF or bare CR) into *f_r,
 * which is cleared first. The message must carry a message/feedback-report
 * part (RFC 5965 section 2: normally the second part of a multipart/report,
 * but it is found anywhere outside an enclosed message, since reporters such
 * as NetEase send multipart/mixed) with a Feedback-Type field. Any
 * Feedback-Type is accepted ("abuse", "auth-failure", ...): callers that
 * want DMARC failure reports only check f_r->feedback_type.
 *
 * Fields read from the feedback-report part: Feedback-Type, User-Agent,
 * Version, Source-IP, Arrival-Date (or the older Received-Date),
 * Original-Mail-From, Original-Rcpt-To (repeated ones joined with ", "),
 * Reported-Domain, Reported-URI, Authentication-Results (repeated ones joined
 * with "; "), Auth-Failure, DKIM-Domain, DKIM-Selector, DKIM-Identity,
 * SPF-DNS, Delivery-Result, Identity-Alignment. From the enclosed message
 * (message/rfc822, message/global or text/rfc822-headers): From, Subject and
 * Message-ID, RFC 2047-decoded; header_from keeps the whole From value with
 * the display name (impersonation evidence). From the report itself: the
 * reporter's address (From) and its Date.
 *
 * Every string is cleaned to printable UTF-8 (invalid bytes become '?',
 * control characters and folding become one space) and truncated at a
 * character boundary to its field. A Source-IP that is not an IP address
 * and an Arrival-Date that is not an RFC 5322 date are errors naming the
 * field; absent fields stay empty (have_source_ip false, dates 0).
 *
 * Returns 0, or -1 with a one-line reason in err (errlen bytes) such as
 * "not an ARF report: no message/feedback-report part". Never aborts on
 * input. Does not block.
 */
int arf_parse(const void *msg, size_t len, struct failure_report *f_r, char *err, size_t errlen);

#endif
