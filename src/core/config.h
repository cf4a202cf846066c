/*
 * config: the one configuration file (libconfig syntax) and the built-in
 * defaults used when there is none. Owns struct mamori_config and every
 * string in it. Validation is strict: an unknown key, a wrong type or a value
 * out of range is an error naming file, line and key, so a typo never passes
 * silently. Every key is listed in the table in config.c and documented in
 * docs/config.md (tests/check_config_doc.sh keeps the two in step).
 */
#ifndef MAMORI_CORE_CONFIG_H
#define MAMORI_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct config_dkim_sign {
	char *domain;
	char *selector;
	char *key_file;
};

struct config_abuse_override {
	char *network;         /* CIDR */
	char *contact;         /* abuse address to use for it, or "" to never report */
};

struct mamori_config {
	char *path;            /* file loaded, NULL for built-in defaults */

	/* general */
	char *authserv_id;     /* RFC 8601 authserv-id; default: host name */
	char *data_dir;        /* default "./var" */
	char *user;            /* unprivileged user mamorid runs as */
	char *log_level;       /* debug, info, warning, error */
	bool syslog;

	/* dns */
	char *dns_resolver;    /* "unbound" or "stub" */
	char *dns_zone_file;   /* stub: RFC 1035 zone file */
	char **dns_forwarders; /* NULL-terminated; empty: resolv_conf */
	char *dns_resolv_conf;
	char *dns_trust_anchor_file;
	int dns_timeout_ms;

	/* dkim */
	int dkim_max_signatures;
	int dkim_clock_skew;
	char *dkim_sha1;       /* "weak" (pass, flagged) or "fail" */
	struct config_dkim_sign *dkim_sign;
	size_t n_dkim_sign;

	/* dmarc */
	char *dmarc_org_domain; /* "treewalk" (RFC 9989) or "psl" (RFC 7489) */

	/* arc */
	bool arc_allow_sha1;

	/* store */
	char *store_backend;   /* "sqlite" */
	char *store_path;      /* SQLite file; "" = data_dir/mamori.db */

	/* geoip (libmaxminddb) */
	char *geoip_country_db;
	char *geoip_asn_db;

	/* reports: DMARC report ingest */
	long long reports_max_decompressed; /* bytes per report after decompression */
	int reports_max_records;            /* records per report */
	char **reports_known_senders;       /* CIDRs that legitimately send for our domains */
	char *reports_imap_url;             /* imaps://host/FOLDER */
	char *reports_imap_user;
	char *reports_imap_password_file;
	char *reports_imap_move_to;         /* folder for imported mail; "" = mark \Seen */

	/* abuse: ARF reports to the networks of spoofing sources */
	int abuse_min_messages;
	int abuse_period_days;
	char *abuse_from;
	char *abuse_smtp_url;
	char *abuse_smtp_user;
	char *abuse_smtp_password_file;
	char *abuse_rdap_bootstrap;
	char *abuse_cainfo;
	int abuse_rdap_cache_days;
	struct config_abuse_override *abuse_overrides;
	size_t n_abuse_overrides;

	/* milter and http listeners (mamorid) */
	char *milter_socket;   /* "unix:PATH" or "inet:PORT@HOST" */
	char *http_listen;     /* "HOST:PORT" */
};

/* fills cfg_r with the built-in defaults */
void config_defaults(struct mamori_config *cfg_r);
/*
 * Loads path over the defaults. Returns 0, or -1 with "FILE:LINE: key: reason"
 * in err; cfg_r then holds defaults only and must still be freed.
 */
int config_load(const char *path, struct mamori_config *cfg_r, char *err, size_t errlen);
void config_free(struct mamori_config *cfg);

/* the documented keys, "group.key", NULL-terminated (for the doc check) */
const char *const *config_known_keys(void);

#endif
