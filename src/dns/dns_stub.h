/*
 * dns_stub: an in-memory resolver for tests and offline checks, filled by
 * code (dns_stub_add_*) or from an RFC 1035 master file (dns_zonefile.c).
 *
 * Semantics follow real DNS: names are case-insensitive (ASCII), a CNAME is
 * followed for other types (at most DNS_STUB_MAX_CNAME hops), a name that has
 * records of other types or only exists as the parent of other names answers
 * NODATA, any other name NXDOMAIN. A name marked with dns_stub_add_fail()
 * answers every query with that failure (TIMEOUT or SERVFAIL pseudo-types).
 * Owner names are stored as raw bytes after unescaping; no trailing dot.
 * Not thread-safe while being filled; safe for concurrent queries after.
 */
#ifndef MAMORI_DNS_DNS_STUB_H
#define MAMORI_DNS_DNS_STUB_H

#include <stddef.h>

#include "dns/dns.h"

#define DNS_STUB_MAX_CNAME 8

enum dns_stub_fail { DNS_STUB_TIMEOUT, DNS_STUB_SERVFAIL };

struct dns_stub;

struct dns_stub *dns_stub_new(void);
void dns_stub_free(struct dns_stub **s);

/* each copies its arguments; owner may end in '.' */
void dns_stub_add_a(struct dns_stub *s, const char *owner, const struct ipaddr *ip);
void dns_stub_add_txt(struct dns_stub *s, const char *owner, const char *txt, size_t len, unsigned nstrings);
void dns_stub_add_mx(struct dns_stub *s, const char *owner, unsigned pref, const char *exchange);
/* PTR, CNAME, NS */
void dns_stub_add_name(struct dns_stub *s, const char *owner, enum dns_type type, const char *target);
void dns_stub_add_fail(struct dns_stub *s, const char *owner, enum dns_stub_fail how);
/* the generic form: copies rr (type taken from rr->type) */
void dns_stub_add_rr(struct dns_stub *s, const char *owner, const struct dns_rr *rr);

/*
 * Loads an RFC 1035 master file: "owner [TTL] [IN] TYPE RDATA" with types A,
 * AAAA, MX, TXT (one or more quoted strings), PTR, CNAME, NS, the pseudo-types
 * TIMEOUT and SERVFAIL, $ORIGIN and $TTL, "@", relative names, parentheses,
 * ';' comments, and the escapes \DDD and \X in names and strings.
 * Returns 0, or -1 with "file:line: reason" in err (nothing half-loaded is
 * used: on error the caller should discard s).
 */
int dns_stub_load_file(struct dns_stub *s, const char *path, char *err, size_t errlen);
/* same for text in memory; name is used in error messages */
int dns_stub_load_text(struct dns_stub *s, const char *text, size_t len, const char *name, char *err, size_t errlen);

/* a resolver answering from s; the resolver takes ownership of s */
struct dns_resolver *dns_stub_resolver(struct dns_stub *s);

#endif
