/* geoip: libmaxminddb wrapper (see geoip.h) */
#include "core/geoip.h"

#include "core/mem.h"

#include <arpa/inet.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

struct geoip {
	MMDB_s country;
	MMDB_s asn;
	bool have_country, have_asn;
};

static int open_one(const char *path, MMDB_s *db, char *err, size_t errlen)
{
	int st = MMDB_open(path, MMDB_MODE_MMAP, db);
	if (st != MMDB_SUCCESS) {
		snprintf(err, errlen, "%s: %s", path, MMDB_strerror(st));
		return -1;
	}
	return 0;
}

struct geoip *geoip_open(const char *country_db, const char *asn_db, char *err, size_t errlen)
{
	struct geoip *g = xcalloc(1, sizeof *g);
	if (country_db != NULL && country_db[0] != '\0') {
		if (open_one(country_db, &g->country, err, errlen) < 0)
			goto fail;
		g->have_country = true;
	}
	if (asn_db != NULL && asn_db[0] != '\0') {
		if (open_one(asn_db, &g->asn, err, errlen) < 0)
			goto fail;
		g->have_asn = true;
	}
	return g;
fail:
	geoip_close(&g);
	return NULL;
}

void geoip_close(struct geoip **g)
{
	if (g == NULL || *g == NULL)
		return;
	if ((*g)->have_country)
		MMDB_close(&(*g)->country);
	if ((*g)->have_asn)
		MMDB_close(&(*g)->asn);
	*g = xfree(*g);
}

bool geoip_enabled(const struct geoip *g)
{
	return g != NULL && (g->have_country || g->have_asn);
}

/* copies a database string, replacing control characters and bytes that
   do not form valid UTF-8 with '?' */
static void copy_clean(char *out, size_t outlen, const char *s, uint32_t n)
{
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)s;
	for (uint32_t i = 0; i < n && o + 1 < outlen;) {
		unsigned char c = p[i];
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 && c >= 0xc2 ? 2 : (c & 0xf0) == 0xe0 ? 3
			: (c & 0xf8) == 0xf0 && c <= 0xf4 ? 4 : 0;
		bool ok = len > 0 && i + len <= n;
		for (size_t k = 1; ok && k < len; k++)
			ok = (p[i + k] & 0xc0) == 0x80;
		if (ok && len == 3) {
			/* overlong and surrogates */
			ok = !(c == 0xe0 && p[i + 1] < 0xa0) && !(c == 0xed && p[i + 1] >= 0xa0);
		} else if (ok && len == 4) {
			ok = !(c == 0xf0 && p[i + 1] < 0x90) && !(c == 0xf4 && p[i + 1] >= 0x90);
		}
		if (!ok || (len == 1 && (c < 0x20 || c == 0x7f))) {
			out[o++] = '?';
			i++;
			continue;
		}
		if (o + len >= outlen)
			break;
		memcpy(out + o, p + i, len);
		o += len;
		i += len;
	}
	out[o] = '\0';
}

/* a UTF-8 string at path; 1 found, 0 absent, -1 corrupt */
static int get_string(MMDB_entry_s *e, char *out, size_t outlen, const char *const *path)
{
	MMDB_entry_data_s d;
	int st = MMDB_aget_value(e, &d, path);
	if (st == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR || st == MMDB_INVALID_LOOKUP_PATH_ERROR)
		return 0;
	if (st != MMDB_SUCCESS)
		return -1;
	if (!d.has_data || d.type != MMDB_DATA_TYPE_UTF8_STRING)
		return 0;
	copy_clean(out, outlen, d.utf8_string, d.data_size);
	return out[0] != '\0';
}

static int to_sockaddr(const struct ipaddr *ip, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (ip->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, ip->a, 4);
		return 0;
	}
	if (ip->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, ip->a, 16);
		return 0;
	}
	return -1;
}

/* 1 found, 0 not in the database, -1 error (reason in err) */
static int lookup_entry(const MMDB_s *db, const struct sockaddr *sa, MMDB_lookup_result_s *res, char *err,
			size_t errlen)
{
	int mmdb_err = MMDB_SUCCESS;
	/* MMDB_lookup_sockaddr does not modify the database; the cast is for
	   its historical non-const prototype */
	*res = MMDB_lookup_sockaddr((MMDB_s *)db, sa, &mmdb_err);
	if (mmdb_err != MMDB_SUCCESS) {
		snprintf(err, errlen, "%s", MMDB_strerror(mmdb_err));
		return -1;
	}
	return res->found_entry ? 1 : 0;
}

int geoip_lookup(const struct geoip *g, const struct ipaddr *ip_in, struct geoip_result *r)
{
	memset(r, 0, sizeof *r);
	if (g == NULL)
		return 0;
	struct ipaddr ip = *ip_in;
	ip_unmap(&ip);
	struct sockaddr_storage ss;
	if (to_sockaddr(&ip, &ss) < 0) {
		snprintf(r->err, sizeof r->err, "not an IP address");
		return -1;
	}
	bool found = false, failed = false;
	MMDB_lookup_result_s res;

	if (g->have_country) {
		int st = lookup_entry(&g->country, (struct sockaddr *)&ss, &res, r->err, sizeof r->err);
		if (st < 0) {
			failed = true;
		} else if (st > 0) {
			static const char *const iso[] = { "country", "iso_code", NULL };
			static const char *const reg_iso[] = { "registered_country", "iso_code", NULL };
			static const char *const name[] = { "country", "names", "en", NULL };
			static const char *const reg_name[] = { "registered_country", "names", "en", NULL };
			const char *const *name_path = name;
			int a = get_string(&res.entry, r->country_iso, sizeof r->country_iso, iso);
			if (a == 0) {
				/* anonymous proxies and satellite providers carry only the
				   registered country */
				a = get_string(&res.entry, r->country_iso, sizeof r->country_iso, reg_iso);
				name_path = reg_name;
			}
			int b = a > 0 ? get_string(&res.entry, r->country_name, sizeof r->country_name, name_path) : 0;
			if (a < 0 || b < 0) {
				snprintf(r->err, sizeof r->err, "country database: corrupt data");
				failed = true;
				r->country_iso[0] = r->country_name[0] = '\0';
			} else if (a > 0) {
				r->have_country = true;
				found = true;
			}
		}
	}
	if (g->have_asn) {
		char aerr[128] = "";
		int st = lookup_entry(&g->asn, (struct sockaddr *)&ss, &res, aerr, sizeof aerr);
		if (st < 0) {
			snprintf(r->err, sizeof r->err, "%s", aerr);
			failed = true;
		} else if (st > 0) {
			static const char *const num[] = { "autonomous_system_number", NULL };
			static const char *const org[] = { "autonomous_system_organization", NULL };
			MMDB_entry_data_s d;
			int vs = MMDB_aget_value(&res.entry, &d, num);
			if (vs == MMDB_SUCCESS && d.has_data &&
			    (d.type == MMDB_DATA_TYPE_UINT32 || d.type == MMDB_DATA_TYPE_UINT16)) {
				r->asn = d.type == MMDB_DATA_TYPE_UINT32 ? d.uint32 : d.uint16;
				r->have_asn = r->asn != 0;
			} else if (vs != MMDB_SUCCESS && vs != MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR) {
				snprintf(r->err, sizeof r->err, "ASN database: %s", MMDB_strerror(vs));
				failed = true;
			}
			if (r->have_asn && get_string(&res.entry, r->as_org, sizeof r->as_org, org) < 0) {
				snprintf(r->err, sizeof r->err, "ASN database: corrupt data");
				r->as_org[0] = '\0';
				failed = true;
			}
			found = found || r->have_asn;
		}
	}
	if (failed)
		return -1;
	return found ? 1 : 0;
}
