/*
 * dnsbl: IP reputation look-ups in DNS blocklists (RFC 5782). Builds the
 * query name for a client address under each configured zone, asks for A
 * (and optionally TXT) records, and maps the returned 127.0.0.0/8 codes to
 * caller-configured meanings. Owns no state: zones and codes belong to the
 * caller, results point into them. Safe to call from many threads.
 */
#ifndef MAMORI_INSPECT_DNSBL_H
#define MAMORI_INSPECT_DNSBL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ip.h"
#include "dns/dns.h"

/* RFC 5782 2.4: an IPv6 address becomes 32 nibble labels, 64 bytes with
   their dots; the zone must leave that much room in a DNS_MAX_NAME name
   (RFC 1035 2.3.4), whatever family the client has. */
#define DNSBL_IP6_PREFIX_LEN 64
#define DNSBL_MAX_ZONE (DNS_MAX_NAME - DNSBL_IP6_PREFIX_LEN)
/* room kept in a hit for the TXT reason and for our own reason text */
#define DNSBL_TEXT_MAX 256
/* matched (answer, code) pairs kept per zone; the score counts them all */
#define DNSBL_MAX_MATCHES 8

/*
 * One return code of a zone and what it means. Two ways to match an answer
 * a (an IPv4 address in 127.0.0.0/8):
 *   exact / range: !bitmask, a lies in value/prefix (prefix 0 means 32, an
 *                  exact match); e.g. 127.0.0.2 "SBL", 127.0.0.10/31 "PBL".
 *   bitmask:       bitmask, (low 24 bits of a) & bits != 0; SURBL-style
 *                  zones where 127.0.0.6 carries the lists 2 and 4.
 * action and score are the caller's: dnsbl only reports them back.
 */
struct dnsbl_code {
	struct ipaddr value;
	unsigned prefix;
	bool bitmask;
	uint32_t bits;
	const char *meaning;
	int action; /* caller-defined, e.g. 0 = score only, 1 = reject */
	int score;
};

struct dnsbl_zone {
	const char *zone;               /* e.g. "zen.spamhaus.org"; trailing dot allowed */
	const struct dnsbl_code *codes; /* ncodes entries */
	size_t ncodes;                  /* 0: any valid 127/8 answer means listed */
	bool want_txt;                  /* on a listing, also fetch the TXT reason */
};

enum dnsbl_status {
	DNSBL_NOT_LISTED, /* NXDOMAIN/NODATA, or only answers no configured code covers */
	DNSBL_LISTED,     /* at least one answer matched (any, with ncodes 0) */
	DNSBL_TEMPFAIL,   /* DNS timeout/SERVFAIL: the caller picks tempfail or fail-open */
	DNSBL_ERROR,      /* invalid zone, refused by the list operator, or a bad answer */
};

struct dnsbl_match {
	struct ipaddr answer;
	const struct dnsbl_code *code;
};

/* the outcome for one zone; filled completely by dnsbl_check_zone() */
struct dnsbl_hit {
	enum dnsbl_status status;
	const char *zone;                              /* the caller's zone string */
	char query[DNS_MAX_NAME + 1];                  /* the A query sent, "" when none was */
	struct ipaddr answer;                          /* LISTED: answer of the primary match;
	                                                  ERROR: the offending answer (family 0 if none) */
	const struct dnsbl_code *code;                 /* primary match: highest action, first in config
	                                                  order on ties; NULL when ncodes is 0 */
	size_t nmatches;                               /* pairs kept in matches[] (at most DNSBL_MAX_MATCHES) */
	struct dnsbl_match matches[DNSBL_MAX_MATCHES]; /* in code order, then answer order */
	int score;                                     /* sum of the scores of the matched codes, each once */
	int action;                                    /* highest action among matched codes, 0 if none */
	char txt[DNSBL_TEXT_MAX];                      /* TXT reason (want_txt), control bytes as '?' */
	char reason[DNSBL_TEXT_MAX];                   /* why this status, for logs and replies */
};

/*
 * Checks one zone name for use as a DNSBL zone: letters, digits, '-' and '_'
 * in non-empty labels of at most 63 bytes, no label starting or ending with
 * '-', at most DNSBL_MAX_ZONE bytes without the trailing dot.
 * Returns 0, or -1 with the reason in err.
 */
int dnsbl_zone_name_valid(const char *zone, char *err, size_t errlen);

/*
 * Checks a whole zone entry (for config loading): the name as above, and
 * each code: exact codes are IPv4 in 127.0.0.0/8 with prefix 0 or 8..32;
 * bitmask codes have bits in 1..0xffffff. Returns 0, or -1 with err.
 */
int dnsbl_zone_validate(const struct dnsbl_zone *z, char *err, size_t errlen);

/*
 * Writes the RFC 5782 query name for ip under zone into out: reversed
 * octets for IPv4 ("2.0.0.127.zone"), 32 reversed nibbles for IPv6
 * (RFC 5782 2.4). IPv4-mapped IPv6 addresses are treated as IPv4.
 * Returns 0, or -1 with err when ip has no usable family, the zone name is
 * invalid, or the result does not fit outlen.
 */
int dnsbl_query_name(const struct ipaddr *ip, const char *zone, char *out, size_t outlen, char *err, size_t errlen);

/*
 * Looks ip up in one zone and fills hit_r completely; returns hit_r->status.
 * Rules (RFC 5782 2.1, 5):
 *   NXDOMAIN/NODATA -> NOT_LISTED; DNS TEMPFAIL -> TEMPFAIL; invalid zone or
 *   resolver config error -> ERROR.
 *   Any answer in 127.255.255.252/30 (Spamhaus-style "public resolver",
 *   "excessive queries", "typo" codes) -> ERROR "query refused by the list
 *   operator", whatever else came back.
 *   Otherwise answers that match a code (any valid one with ncodes 0) ->
 *   LISTED; answers outside 127.0.0.0/8 and 127.0.0.1 never list: alone they
 *   give ERROR; valid 127/8 answers no code covers give NOT_LISTED.
 * With want_txt, a LISTED zone is asked for TXT at the same name; a failed
 * TXT query leaves txt empty and the status unchanged.
 * Blocks on up to two DNS queries.
 */
enum dnsbl_status dnsbl_check_zone(struct dns_resolver *r, const struct ipaddr *ip, const struct dnsbl_zone *z,
                                   struct dnsbl_hit *hit_r);

/*
 * Checks ip against each of nzones zones, in order, filling hits_r[i] for
 * zones[i] (hits_r has nzones entries). Returns how many zones listed ip.
 * A zone's TEMPFAIL or ERROR is reported in its hit and does not stop the
 * others. Blocks on up to 2 * nzones DNS queries, one after the other.
 */
size_t dnsbl_check(struct dns_resolver *r, const struct ipaddr *ip, const struct dnsbl_zone *zones, size_t nzones,
                   struct dnsbl_hit *hits_r);

enum dnsbl_selftest_result {
	DNSBL_SELFTEST_PASS = 0,
	DNSBL_SELFTEST_FAIL = -1,     /* the zone misbehaves, or the name is invalid */
	DNSBL_SELFTEST_TEMPFAIL = -2, /* DNS did not answer: try again later */
};

/*
 * RFC 5782 5 self-test of a zone: the test entry 127.0.0.2 must be listed
 * (some valid 127/8 answer) and 127.0.0.1 must not be (NXDOMAIN/NODATA).
 * Codes are not consulted. On anything but PASS, err says why. Blocks on
 * two DNS queries.
 */
enum dnsbl_selftest_result dnsbl_selftest(struct dns_resolver *r, const struct dnsbl_zone *z, char *err, size_t errlen);

/* "not-listed", "listed", "tempfail", "error" */
const char *dnsbl_status_name(enum dnsbl_status st);

#endif
