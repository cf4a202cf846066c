/*
 * dns: the one resolver interface every check uses. Backends (libunbound for
 * production, a stub loaded from a zone file for tests and offline use) sit
 * behind a small function table. A resolver is shared by all threads; the
 * backends are thread-safe for queries.
 *
 * Every query ends in one of the outcomes of enum dns_status. Callers decide
 * what a temporary failure means (SPF temperror, SMTP tempfail); it never
 * turns into "not found".
 */
#ifndef MAMORI_DNS_DNS_H
#define MAMORI_DNS_DNS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/ip.h"

enum dns_type {
	DNS_T_A = 1,
	DNS_T_NS = 2,
	DNS_T_CNAME = 5,
	DNS_T_PTR = 12,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
};

enum dns_status {
	DNS_FOUND,        /* at least one record of the asked type */
	DNS_NODATA,       /* the name exists, no record of that type */
	DNS_NXDOMAIN,     /* the name does not exist */
	DNS_TEMPFAIL,     /* timeout, SERVFAIL, network: try again later */
	DNS_CONFIG_ERROR, /* resolver unusable, or the name is not a valid DNS name */
};

/* RFC 1035 2.3.4 */
#define DNS_MAX_NAME 253
#define DNS_MAX_LABEL 63

struct dns_rr {
	enum dns_type type;
	unsigned ttl;
	struct ipaddr ip;  /* A, AAAA */
	unsigned pref;     /* MX preference */
	char *name;        /* MX exchange, PTR, CNAME, NS target; no trailing dot */
	char *txt;         /* TXT: the character-strings concatenated (RFC 7208 3.3,
	                      RFC 6376 3.6.2.2); may hold any byte, NUL-terminated */
	size_t txt_len;
	unsigned nstrings; /* TXT: how many character-strings were joined */
};

struct dns_answer {
	enum dns_status status;
	const char *reason; /* static text for TEMPFAIL/CONFIG_ERROR, e.g. "timeout" */
	bool secure;        /* DNSSEC-validated (unbound backend with a trust anchor) */
	size_t n;
	struct dns_rr *rr;  /* n records of the asked type (CNAMEs already followed) */
};

struct dns_backend {
	const char *name;
	/* fills ans_r (zeroed by the caller) and returns ans_r->status */
	enum dns_status (*query)(void *state, const char *name, enum dns_type type, struct dns_answer *ans_r);
	void (*destroy)(void *state);
};

struct dns_resolver {
	const struct dns_backend *ops;
	void *state;
};

/*
 * Looks up name (with or without trailing dot) for type. ans_r is always
 * initialised and must be released with dns_answer_free(). May block up to
 * the backend's timeout.
 */
enum dns_status dns_query(struct dns_resolver *r, const char *name, enum dns_type type, struct dns_answer *ans_r);
void dns_answer_free(struct dns_answer *ans);
void dns_resolver_free(struct dns_resolver **r);

/* appends a record (copying strings) to ans; used by backends */
struct dns_rr *dns_answer_add(struct dns_answer *ans, enum dns_type type);
const char *dns_status_name(enum dns_status st);
const char *dns_type_name(enum dns_type t);
/* "TXT" -> DNS_T_TXT; returns -1 for unknown names */
int dns_type_parse(const char *s, enum dns_type *t_r);
/* true when name is syntactically usable in a query (lengths, no empty labels) */
bool dns_name_valid(const char *name);

/* --- libunbound backend (dns_unbound.c) --- */
struct dns_unbound_opts {
	const char *const *forwarders; /* NULL-terminated list of IPs, or NULL to use resolv_conf */
	const char *resolv_conf;       /* default /etc/resolv.conf; "" = full recursion */
	const char *trust_anchor_file; /* DNSSEC root key file, or NULL/"" for no validation */
	unsigned timeout_ms;           /* per query; 0 = 5000 */
	const char *const *nodefault_zones; /* local-zone nodefault list, e.g. "test." */
};
/* one context for the whole process (ub_ctx_config is not thread-safe);
   returns NULL with a message in err on failure */
struct dns_resolver *dns_unbound_new(const struct dns_unbound_opts *opts, char *err, size_t errlen);

#endif
