/*
 * arc: Authenticated Received Chain validation (RFC 8617 section 5.2).
 * Collects the ARC sets of a message, checks their structure, verifies the
 * newest ARC-Message-Signature and every ARC-Seal, and reports the chain
 * validation status. Owns no state between calls; keys come from DNS through
 * the resolver passed in (ARC reuses the DKIM key records, RFC 8617 4.1.2).
 * Sealing (adding a set) is not implemented here.
 */
#ifndef MAMORI_AUTH_ARC_H
#define MAMORI_AUTH_ARC_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "auth/message.h"
#include "dns/dns.h"

#define ARC_MAX_INSTANCES 50 /* RFC 8617 4.2.1: i= is 1..50; more sets -> cv=fail (5.2 step 1) */
#define ARC_MAX_SIG_BYTES 1024 /* decoded b=: an 8192-bit RSA signature; longer is malformed */
#define ARC_MAX_SIGNED_BYTES (2 * 1024 * 1024) /* canonical header bytes fed to one signature check */

/*
 * The chain validation status. NONE, PASS and FAIL are RFC 8617's cv values.
 * ARC_TEMPERROR is ours: a key could not be fetched because of a temporary
 * DNS failure and no definite failure was found elsewhere in the chain. It is
 * not a cv value (never write "cv=temperror" into a seal); a caller should
 * tempfail the message or treat it as "no ARC information", never as fail.
 */
enum arc_cv { ARC_NONE, ARC_PASS, ARC_FAIL, ARC_TEMPERROR };

struct arc_response {
	enum arc_cv cv;
	unsigned instances;        /* N: the highest instance seen (0 when no ARC header) */
	int oldest_pass;           /* lowest i whose AMS verifies, counting down from N
	                              without a gap; 0 unless cv is pass (see arc_verify) */
	char reason[256];          /* why the chain is what it is, e.g. "AS i=1 signature did not verify" */
	char sealer_domain[256];   /* d= of the ARC-Seal with i=N as written (for trusted-sealer
	                              policy; compare case-insensitively), "" if absent or not a
	                              valid domain name; set even when the chain fails */
	char aar_value[1024];      /* the ARC-Authentication-Results i=N value after "i=N;", unfolded
	                              (CR/LF removed) and truncated, or "" */
};

struct arc_verify_opts {
	time_t now;      /* for AMS x= expiry; 0 skips the expiry check */
	bool allow_sha1; /* accept rsa-sha1 (RFC 8301 3.1 says verifiers MUST NOT; default false) */
};

/*
 * Validates the ARC chain of msg (RFC 8617 5.2):
 *  1. no ARC header -> ARC_NONE; an instance above 50 -> ARC_FAIL;
 *  2. the ARC-Seal with the highest instance says cv=fail -> ARC_FAIL;
 *  3. structure: every i in 1..N has exactly one AAR, AMS and AS, each header
 *     parses, AS i=1 has cv=none and the others cv=pass -> else ARC_FAIL;
 *  4. the AMS i=N verifies like a DKIM signature (body hash and header
 *     signature, h= must not name ARC-Seal) -> else ARC_FAIL;
 *  5. every AS from N down to 1 verifies (relaxed canonical AAR, AMS, AS of
 *     sets 1..i, the AS itself with b= emptied) -> else ARC_FAIL;
 *  6. ARC_PASS; then oldest_pass is computed (RFC 8617 5.2 step 5,
 *     optional): the AMS of N-1, N-2, ... are verified until one fails;
 *     oldest_pass is the lowest instance reached that still verified (1 when
 *     all do; RFC 8617's "oldest-pass=0" corresponds to our 1).
 * A temporary DNS failure while fetching a key (steps 4-5) yields
 * ARC_TEMPERROR unless a definite failure is found in another step. The
 * result is also stored in resp_r->cv; resp_r is always fully initialised.
 * May block on DNS (one key lookup per distinct selector/domain).
 */
enum arc_cv arc_verify(struct dns_resolver *r, const struct message *msg, const struct arc_verify_opts *o,
		       struct arc_response *resp_r);

/* "none", "pass", "fail", "temperror" */
const char *arc_cv_name(enum arc_cv cv);

/*
 * Checks one ARC header value with the rules arc_verify applies before any
 * cryptography: name is "ARC-Seal", "ARC-Message-Signature" or
 * "ARC-Authentication-Results" (case-insensitive); value[0..len) is the text
 * after the colon. For the seal and the signature: tag-list syntax, required
 * tags, i= in 1..50, known a=, base64 b= (and bh=), c=, d=/s= syntax, numeric
 * t=/x=/l=, cv= for seals, no h= in a seal, no ARC-Seal in an AMS h=. For
 * AAR: the "i=N;" prefix. Returns 0, or -1 with a reason in err. For tests
 * and fuzzing; no DNS, no allocation.
 */
int arc_header_parse_check(const char *name, const char *value, size_t len, char *err, size_t errlen);

#endif
