/*
 * spf: Sender Policy Framework (RFC 7208) check_host() for the MAIL FROM and
 * HELO identities: record selection, parsing, every mechanism and modifier,
 * macros, the processing limits and the exp= explanation. It owns no state
 * between calls: each check builds its context on the stack and asks the
 * resolver (dns.h) for everything; caching is the resolver's business.
 */
#ifndef MAMORI_AUTH_SPF_H
#define MAMORI_AUTH_SPF_H

#include <stddef.h>
#include <time.h>

#include "core/ip.h"
#include "dns/dns.h"

/* Processing limits (RFC 7208 4.6.4); hard ceilings, not configurable. */
#define SPF_MAX_DNS_MECH 10   /* include, a, mx, ptr, exists, redirect per check */
#define SPF_MAX_VOID_LOOKUPS 2 /* NXDOMAIN / empty answers for mechanism look-ups */
#define SPF_MAX_MX_NAMES 10   /* address look-ups per "mx" mechanism */
#define SPF_MAX_PTR_NAMES 10  /* PTR names considered by "ptr" and %{p} */

enum spf_result { SPF_NONE, SPF_NEUTRAL, SPF_PASS, SPF_FAIL, SPF_SOFTFAIL, SPF_TEMPERROR, SPF_PERMERROR };

struct spf_request {
	struct ipaddr ip;        /* client IP */
	const char *helo;        /* HELO/EHLO name, may be NULL/"" */
	const char *mail_from;   /* envelope sender; "" or NULL = null reverse-path -> HELO identity */
	const char *receiver;    /* our host name for %{r}; NULL -> "unknown" */
	time_t now;              /* for %{t} */
};

/* domain and sender hold the client's bytes as given (truncated to fit):
   escape them before putting them in a header; reason is printable ASCII */
struct spf_response {
	enum spf_result result;
	char identity[16];       /* "mailfrom" or "helo" */
	char domain[256];        /* the domain that was checked */
	char sender[512];        /* the sender used for macros (local@domain) */
	char *explanation;       /* exp= text (heap, may be NULL) on fail */
	char reason[256];        /* human-readable: mechanism that matched, or the error cause */
	unsigned dns_lookups, void_lookups;
};

/*
 * Runs check_host() for the MAIL FROM identity, or for the HELO identity
 * when mail_from is NULL or "" (RFC 7208 2.4: sender postmaster@helo).
 * Fills *resp_r completely (release with spf_response_free) and returns
 * resp_r->result. A DNS temporary failure is always SPF_TEMPERROR, never a
 * pass or fail. Blocks on DNS: at most 10 mechanism look-ups, each of which
 * may fan out to 10 address look-ups (mx, ptr), plus the exp= look-up.
 */
enum spf_result spf_check(struct dns_resolver *r, const struct spf_request *req, struct spf_response *resp_r);

/* Same, for the HELO identity only (RFC 7208 2.3); mail_from is ignored.
   A missing or non-FQDN HELO name gives SPF_NONE. */
enum spf_result spf_check_helo(struct dns_resolver *r, const struct spf_request *req, struct spf_response *resp_r);

/* frees resp->explanation (and sets it to NULL); the struct itself is the caller's */
void spf_response_free(struct spf_response *resp);

/* "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror" (RFC 8601 2.7.2) */
const char *spf_result_name(enum spf_result r);

/*
 * Parses one record, the whole TXT text including "v=spf1" (len bytes, need
 * not be terminated, may hold any byte). Returns 0 with a new record in
 * *rec_r, or -1 with the reason in err (the cause of an SPF permerror) and
 * *rec_r NULL. Does no DNS; the record keeps its own copy of the text.
 */
struct spf_record;
int spf_record_parse(const char *txt, size_t len, struct spf_record **rec_r, char *err, size_t errlen);
void spf_record_free(struct spf_record **rec);

/*
 * Macro expansion (RFC 7208 7), exposed for tests and fuzzing; check_host()
 * uses the same code. vars supply every macro letter; ptr_name is the
 * validated client name for %{p} (NULL gives "unknown"). With
 * SPF_MACRO_EXPLAIN the input is an explanation string (spaces and the
 * letters c, r, t allowed); with SPF_MACRO_DOMAIN the result is a domain
 * name: a trailing dot is dropped and a name longer than 253 characters
 * loses labels on the left (RFC 7208 7.3). Returns the length written to out
 * (always terminated), or -1 with the reason in err on a syntax error or when
 * the result does not fit in outlen.
 */
struct spf_macro_vars {
	const char *sender;   /* s: local-part@domain */
	const char *domain;   /* d: the current domain */
	const char *helo;     /* h */
	const char *receiver; /* r; NULL -> "unknown" */
	const char *ptr_name; /* p; NULL -> "unknown" */
	struct ipaddr ip;     /* i, c, v (IPv4-mapped addresses are used as IPv4) */
	time_t now;           /* t */
};
#define SPF_MACRO_EXPLAIN 0x1u
#define SPF_MACRO_DOMAIN 0x2u
int spf_macro_expand(const char *in, size_t len, const struct spf_macro_vars *vars, unsigned flags,
		     char *out, size_t outlen, char *err, size_t errlen);

#endif
