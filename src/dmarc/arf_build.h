/*
 * arf_build: composes one abuse report about a spoofing source as an ARF
 * message (RFC 5965 multipart/report, report-type=feedback-report) of
 * Feedback-Type auth-failure (RFC 6591) from aggregate-report evidence.
 * Pure: no I/O, time and the Message-ID are arguments. Every value that
 * came from reports or RDAP is cleaned of CR, LF and controls and folded
 * before it reaches a header, so no input can add a header or a MIME part.
 */
#ifndef MAMORI_DMARC_ARF_BUILD_H
#define MAMORI_DMARC_ARF_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/ip.h"

#define ARF_MAX_MESSAGE (256 * 1024) /* a composed report never exceeds this */
#define ARF_LINE_MAX 78              /* RFC 5322 2.1.1: SHOULD fold before 78 */

/* what the aggregate reports say about one (source IP, domain); strings may
   be NULL or "" when unknown */
struct arf_evidence {
	const char *domain;        /* the spoofed policy domain (Reported-Domain) */
	struct ipaddr ip;          /* the source (Source-IP) */
	const char *rdns;          /* its reverse DNS name */
	uint64_t total;            /* messages seen from ip for domain */
	uint64_t fail_both;        /* of which failed aligned SPF and aligned DKIM */
	uint64_t spf_aligned_pass, dkim_aligned_pass;
	int64_t first_seen, last_seen; /* Unix seconds (report date ranges) */
	const char *reporters;     /* reporter orgs that saw it, comma-separated */
	const char *network;       /* "HANDLE NAME CIDR CC" from RDAP, for the summary */
};

struct arf_envelope {
	const char *from;          /* our abuse address (From:) */
	const char *to;            /* the network's abuse contact (To:) */
	const char *message_id;    /* without <>; "local@domain" */
	const char *authserv_id;   /* for the Authentication-Results field */
	const char *user_agent;    /* "mamori/1.0" */
	int64_t now;               /* Date: */
};

/*
 * Appends the complete message (CRLF line ends, headers then body) to out.
 * Returns 0, or -1 with a reason in err when from/to is not a plain valid
 * address, message_id is malformed, domain is not a domain name, or the
 * message would exceed ARF_MAX_MESSAGE. out is reset first and must allow
 * at least ARF_MAX_MESSAGE bytes (max 0 or >= it).
 */
int arf_build(const struct arf_evidence *ev, const struct arf_envelope *env, struct buf *out, char *err,
	      size_t errlen);

/*
 * Makes a Message-ID "<hex time>.<random hex>@<domain of from>" (without
 * the angle brackets) into out. 0, or -1 when from has no usable domain.
 */
int arf_message_id(const char *from, int64_t now, char *out, size_t outlen);

/* copies s to out (at most outlen-1 bytes) with CR, LF, TAB and other
   controls turned into single spaces and surrounding space trimmed */
void arf_clean(const char *s, char *out, size_t outlen);

#endif
