/*
 * dmarc: DMARC policy records, policy discovery and evaluation after
 * RFC 9989 (DMARCbis): the DNS Tree Walk for the policy and the
 * Organizational Domain (psd= tag), identifier alignment of SPF and DKIM,
 * sp=/np= selection, t=y testing. An RFC 7489 mode takes Organizational
 * Domains from the public suffix list (libpsl's built-in copy) instead.
 * Owns no global state except the libpsl context (read-only, process-wide).
 * Each evaluation keeps a private cache of the _dmarc queries it made, so a
 * name asked for the policy and again for alignment is queried once.
 *
 * Several From domains (RFC 9989 5.3.1 and 11.5): dmarc_evaluate() looks at
 * one Author Domain. The pipeline evaluates each distinct From domain (a
 * bounded number) and keeps the strictest outcome, the approach RFC 9989
 * 11.5 recommends; a From with no domain cannot be evaluated at all.
 */
#ifndef MAMORI_AUTH_DMARC_H
#define MAMORI_AUTH_DMARC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/dns.h"

/* RFC 9989 4.10: at most eight _dmarc queries per tree walk; a longer name
   is shortened to seven labels after the first query */
#define DMARC_TREEWALK_MAX_QUERIES 8
#define DMARC_TREEWALK_SHORTEN_TO 7
/* passing DKIM signatures whose Organizational Domain is looked up (each
   may cost a tree walk); more are checked for strict (exact) match only */
#define DMARC_MAX_DKIM_WALKS 8
/* a policy record longer than this is discarded (TXT data is at most
   64 KiB; real records are well under 1 KiB) */
#define DMARC_MAX_RECORD 4096
/* reporting URIs kept per rua=/ruf= list */
#define DMARC_MAX_URIS 8

enum dmarc_result { DMARC_NONE, DMARC_PASS, DMARC_FAIL, DMARC_TEMPERROR, DMARC_PERMERROR };
enum dmarc_policy { DMARC_POLICY_UNSPECIFIED, DMARC_POLICY_NONE, DMARC_POLICY_QUARANTINE, DMARC_POLICY_REJECT };
enum dmarc_orgmode { DMARC_ORG_TREEWALK /* RFC 9989, default */, DMARC_ORG_PSL /* RFC 7489 */ };

/* fo= bits (RFC 9989 4.7) */
#define DMARC_FO_0 0x1
#define DMARC_FO_1 0x2
#define DMARC_FO_D 0x4
#define DMARC_FO_S 0x8

struct dmarc_uri {
	char *uri;          /* without the obsolete "!size" suffix */
	uint64_t max_size;  /* the obsolete size limit in bytes, 0 = none */
	bool mailto;        /* scheme is mailto (the one receivers must support) */
};

/*
 * A parsed policy record. Values a record got wrong are replaced by their
 * defaults (RFC 9989 4.8) and noted in warnings; p/sp/np that are present
 * but invalid are kept as UNSPECIFIED with the *_invalid flag set, because
 * RFC 9989 4.10.1 then depends on rua=.
 */
struct dmarc_record {
	enum dmarc_policy p, sp, np; /* UNSPECIFIED when absent or invalid */
	bool p_invalid, sp_invalid, np_invalid;
	char psd;                    /* 'y', 'n' or 'u' (default) */
	bool t;                      /* t=y */
	bool t_present;
	char adkim, aspf;            /* 'r' (default) or 's' */
	int pct;                     /* RFC 7489 pct= 0..100, -1 absent or invalid */
	unsigned fo;                 /* DMARC_FO_* bits; DMARC_FO_0 by default */
	char *rua, *ruf;             /* raw values, NULL when absent */
	struct dmarc_uri rua_uri[DMARC_MAX_URIS], ruf_uri[DMARC_MAX_URIS];
	size_t n_rua, n_ruf;         /* syntactically valid URIs kept */
	char *rf;                    /* historic (RFC 7489), raw, NULL when absent */
	uint32_t ri;                 /* historic, default 86400 */
	char warnings[256];          /* what was ignored or defaulted, "" if nothing */
};

/*
 * Parses a TXT record's text (txt need not be NUL-terminated). Returns 0
 * with a new record in *rec_r, or -1 with the reason in err when the text
 * is not a DMARC policy record at all (v=DMARC1 missing, not first, wrong
 * case or version; too long): RFC 9989 4.7 says such records are ignored.
 * Everything after v=DMARC1 is lenient: tag names and keyword values are
 * case-insensitive, unknown tags and malformed tag=value pairs are ignored,
 * a repeated tag keeps its first value.
 */
int dmarc_record_parse(const char *txt, size_t len, struct dmarc_record **rec_r, char *err, size_t errlen);
void dmarc_record_free(struct dmarc_record **rec);

struct dmarc_auth_dkim {
	const char *domain; /* d= of the signature */
	bool pass;
};

struct dmarc_input {
	const char *from_domain;  /* RFC5322.From domain (U-labels are converted) */
	const char *spf_domain;   /* the domain SPF checked: MAIL FROM's, or HELO's
	                             for the null path (RFC 9989 3.2.4); may be NULL */
	bool spf_pass;
	const struct dmarc_auth_dkim *dkim;
	size_t ndkim;
};

struct dmarc_opts {
	enum dmarc_orgmode orgmode;
};

struct dmarc_response {
	enum dmarc_result result;
	char from_domain[256];   /* normalised: A-labels, lower case */
	char policy_domain[256]; /* where the applied record was found, "" if none */
	char org_domain[256];    /* the Author Domain's Organizational Domain; ""
	                            when nothing needed it (record at the Author
	                            Domain and only exact or strict matches) */
	/* the record's policies, with RFC 9989 4.7 defaults filled in: sp is p
	   when absent, np is sp when absent; UNSPECIFIED when no record */
	enum dmarc_policy p, sp, np;
	enum dmarc_policy applied;     /* the one of p/sp/np that applies to this
	                                  Author Domain (RFC 9989 4.10.1) */
	bool testing;                  /* t=y, or pct=0 without t= (RFC 9989 A.6
	                                  calls t=y/n the pct=0/100 analogue);
	                                  pct=1..99 is ignored as RFC 9989 removed
	                                  pct, so the policy applies in full */
	bool spf_aligned, dkim_aligned;
	char dkim_aligned_domain[256];
	char adkim, aspf;              /* 'r' or 's' */
	enum dmarc_policy disposition; /* NONE unless result is FAIL; under
	                                  testing one level below applied
	                                  (RFC 9989 4.7 t=y) */
	char reason[256];
	char rua[512];                 /* raw rua= value, "" if none (cut at 511) */
	bool psd;                      /* the policy record has psd=y */
};

/*
 * Evaluates DMARC for one Author Domain. Always fills resp_r and returns
 * resp_r->result:
 *   NONE      no policy record applies (or no Author Domain given);
 *   PASS/FAIL a record applies and an aligned identifier was / was not found;
 *   TEMPERROR a DNS query needed for the outcome failed temporarily (or the
 *             resolver is unusable): never turned into none, pass or fail;
 *   PERMERROR the Author Domain is not a usable domain name, or the record
 *             has an invalid p=/sp=/np= and no valid rua= (RFC 9989 4.10.1).
 * May block on DNS: up to 8 queries for the policy, 8 per distinct
 * identifier for relaxed alignment (fewer with the per-call cache), and one
 * A query when np= is present and the Author Domain has no record of its
 * own (existence, RFC 9989 3.2.13).
 */
enum dmarc_result dmarc_evaluate(struct dns_resolver *r, const struct dmarc_input *in, const struct dmarc_opts *o,
				 struct dmarc_response *resp_r);

const char *dmarc_result_name(enum dmarc_result r);  /* "pass", "fail", ... */
const char *dmarc_policy_name(enum dmarc_policy p);  /* "none", ...; "unspecified" */

/*
 * The Organizational Domain of domain (may block on DNS in tree-walk mode;
 * never in PSL mode). Returns 0 when found from published records (or the
 * PSL), 1 when none was found and the domain itself is its own
 * Organizational Domain (RFC 9989 4.10.2 last rule; also a public suffix in
 * PSL mode), -1 on temporary DNS failure (org_r is ""), -2 when domain is
 * not a usable domain name (org_r is "").
 */
int dmarc_org_domain(struct dns_resolver *r, const char *domain, const struct dmarc_opts *o, char *org_r,
		     size_t len);

#endif
