/*
 * rdap: finds the abuse contact of the network an IP address belongs to,
 * over RDAP (RFC 7480-7484, JSON responses per RFC 9083, bootstrap per
 * RFC 9224). Owns the IANA bootstrap tables it fetched and one libcurl
 * handle; answers are cached through caller-supplied cache callbacks (the
 * store's key/value cache in production) so this module never touches SQL.
 * Everything received is hostile: bodies are size-capped, JSON walks are
 * depth- and count-bounded, every string kept is cleaned of controls.
 */
#ifndef MAMORI_DMARC_RDAP_H
#define MAMORI_DMARC_RDAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ip.h"

/* hard ceilings (not configurable) */
#define RDAP_MAX_BODY (1024 * 1024)  /* bytes of one HTTP answer; beyond aborts */
#define RDAP_MAX_REDIRECTS 5         /* RFC 7480 5.2: RIRs redirect to each other */
#define RDAP_CONNECT_TIMEOUT 5       /* seconds */
#define RDAP_TOTAL_TIMEOUT 15        /* seconds per request, redirects included */
#define RDAP_MAX_ENTITY_DEPTH 6      /* entities nested in entities (RFC 9083 5.1) */
#define RDAP_MAX_ENTITIES 256        /* entity objects examined per answer */
#define RDAP_MAX_SERVICES 20000      /* CIDR entries kept from one bootstrap file */

enum rdap_status {
	RDAP_FOUND,    /* an answer (net_r filled; abuse_email may still be "") */
	RDAP_NOTFOUND, /* no registry covers the address, or HTTP 404 */
	RDAP_TEMPFAIL, /* network, timeout, 5xx, 429: try again later */
	RDAP_ERROR,    /* malformed answer, oversize body, bad configuration */
};

/* what an RDAP "ip network" answer told us; every string cleaned, "" if absent */
struct rdap_network {
	char handle[128];
	char name[128];
	char country[8];
	char cidr[96];              /* "192.0.2.0/24", or "start - end" when not one CIDR */
	struct ipaddr start, end;   /* the range covered (have_range) */
	bool have_range;
	char abuse_email[256];      /* validated local@domain, or "" */
	char abuse_from[16];        /* "entity" or "remarks" (where abuse_email came from) */
	char server[256];           /* base URL that answered (after the bootstrap) */
};

/*
 * Parses one RDAP answer for an IP network (RFC 9083 5.4). Returns 0 with
 * *net_r filled (abuse_email "" when the answer names no abuse contact), or
 * -1 with the reason in err for anything that is not a usable ip network
 * object (bad JSON, an RDAP error object, wrong objectClassName). The abuse
 * contact is the first "email" of the shallowest entity with role "abuse";
 * failing that, a remark line of the network that plainly labels an address
 * as the abuse contact ("abuse-mailbox: x@y", "Abuse contact: x@y"). Pure.
 */
int rdap_parse_ip(const char *json, size_t len, struct rdap_network *net_r, char *err, size_t errlen);

/* true when ip lies in net's range (false without a range) */
bool rdap_network_contains(const struct rdap_network *net, const struct ipaddr *ip);

/* ---- bootstrap (RFC 9224) ---- */

struct rdap_bootstrap;

/*
 * Parses an IANA bootstrap file (ipv4.json or ipv6.json; both may be fed to
 * one table by calling this twice). allow_http keeps http:// base URLs as
 * well (only when the bootstrap itself came over http, i.e. tests). Returns
 * 0 or -1 with a reason; *bs_r is created on first use and kept on error.
 */
int rdap_bootstrap_add(struct rdap_bootstrap **bs_r, const char *json, size_t len, bool allow_http, char *err,
		       size_t errlen);
/*
 * Longest-prefix match of ip against the services; writes the chosen base
 * URL (https preferred, always ending in "/") to url_r. 0, or -1 when no
 * service covers ip or the URL does not fit.
 */
int rdap_bootstrap_lookup(const struct rdap_bootstrap *bs, const struct ipaddr *ip, char *url_r, size_t urllen);
void rdap_bootstrap_free(struct rdap_bootstrap **bs);

/* ---- the client ---- */

/* a small key/value cache with expiry; get returns 0 and a heap value,
   1 when absent, -1 on error; put returns 0 or -1 (errors only logged) */
struct rdap_cache_ops {
	int (*get)(void *ctx, const char *key, int64_t now, char **value_r);
	int (*put)(void *ctx, const char *key, const char *value, int64_t expires);
	void *ctx;
};

struct rdap_client_opts {
	const char *bootstrap;   /* base URL of ipv4.json/ipv6.json, e.g. "https://data.iana.org/rdap/" */
	const char *cainfo;      /* CA bundle, NULL or "" for the system's */
	int cache_days;          /* answers kept this long (0: not cached) */
	const struct rdap_cache_ops *cache; /* NULL: no cache */
	const char *user_agent;  /* NULL: "mamori" */
};

struct rdap_client;

/* copies what it needs from o; NULL with a reason when o is unusable */
struct rdap_client *rdap_client_new(const struct rdap_client_opts *o, char *err, size_t errlen);
void rdap_client_free(struct rdap_client **c);

/*
 * Finds the network of ip and its abuse contact: the cache first (keyed by
 * the address: a covering network says nothing of more specific ones
 * inside it), else the bootstrap (fetched once per run and cached a day)
 * and a GET of BASE/ip/ADDR following at most RDAP_MAX_REDIRECTS redirects.
 * Answers without an abuse contact are cached too; failures are not. Blocks on the network (RDAP_TOTAL_TIMEOUT per request).
 * Returns RDAP_FOUND with *net_r filled, otherwise a reason in err.
 */
enum rdap_status rdap_lookup(struct rdap_client *c, const struct ipaddr *ip, int64_t now, struct rdap_network *net_r,
			     char *err, size_t errlen);

const char *rdap_status_name(enum rdap_status st);

/* true for a plain ASCII address local@domain safe to put in a header and
   an SMTP envelope (dot-atom local part, LDH domain with a dot) */
bool rdap_email_valid(const char *s);

#endif
