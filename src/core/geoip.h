/*
 * geoip: country and autonomous-system look-ups of an IP address in
 * MaxMind-format databases (GeoLite2/GeoIP2 Country or City, GeoLite2-ASN,
 * DB-IP) through libmaxminddb. Owns the two memory-mapped databases; after
 * geoip_open they are read-only, so look-ups are safe from many threads.
 * Corrupt databases are errors (at open or per look-up), never crashes.
 */
#ifndef MAMORI_CORE_GEOIP_H
#define MAMORI_CORE_GEOIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ip.h"

struct geoip;

struct geoip_result {
	bool have_country;
	char country_iso[4];    /* ISO 3166-1 alpha-2, e.g. "US"; "" if unknown */
	char country_name[128]; /* English name, e.g. "United States"; may be "" */
	bool have_asn;
	uint32_t asn;           /* 0 if unknown */
	char as_org[256];       /* e.g. "Google Inc."; may be "" */
	char err[128];          /* why a database failed (return -1) */
};

/*
 * Opens either or both databases (a NULL or "" path is skipped; both empty
 * gives a geoip that finds nothing). NULL with "PATH: reason" in err when
 * a given file cannot be opened or is not a valid database.
 */
struct geoip *geoip_open(const char *country_db, const char *asn_db, char *err, size_t errlen);
void geoip_close(struct geoip **g);
/* true when at least one database is open */
bool geoip_enabled(const struct geoip *g);

/*
 * Looks ip up in both databases and fills *r (always initialised; strings
 * are printable UTF-8 without control characters). Returns 1 when something
 * was found, 0 when the address is in neither database, -1 when a database
 * is corrupt (reason in r->err; what the other database found is kept).
 * IPv4-mapped IPv6 addresses are looked up as IPv4. Does not block.
 */
int geoip_lookup(const struct geoip *g, const struct ipaddr *ip, struct geoip_result *r);

#endif
