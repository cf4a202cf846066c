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

/* inbound.vips: a high-profile user whose display name is impersonated */
struct config_vip {
	char *name;            /* "Taro Yamada" */
	char *address;         /* their real address(es), comma-separated */
};

/* dnsbl.zones: one DNS blocklist */
struct config_dnsbl_zone {
	char *zone;            /* "zen.spamhaus.org" */
	char **codes;          /* "CODE ACTION MEANING", see docs/config.md; [] = any 127/8 answer */
	bool txt;              /* also fetch the TXT reason of a listing */
};

/* lists.recipients: allow/deny lists of one recipient */
struct config_recipient_list {
	char *recipient;       /* address, or "@domain" for every address of a domain */
	char **allow;          /* sender addresses or domains always accepted */
	char **deny;           /* sender addresses or domains always refused */
};

/* submission.groups: accounts with their own limits and access rules */
struct config_sub_group {
	char *name;
	char **accounts;           /* SASL user names; "*@domain" matches a domain */
	char **messages;           /* per-account message limits "N/PERIOD"; [] = the defaults */
	char **recipients;         /* per-account recipient limits; [] = the defaults */
	char **allow_networks;     /* CIDRs; non-empty: only these may submit */
	char **deny_networks;
	char **allow_countries;    /* ISO 3166 codes; non-empty: only these */
	char **deny_countries;
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

	/* inbound: policy of mamorid for mail from outside */
	char **inbound_protected_domains;  /* our own domains */
	char **inbound_internal_networks;  /* CIDRs of our own clients */
	bool inbound_headers;              /* add X-Mamori-* headers */
	char *inbound_dmarc;               /* "off", "score", "action" */
	char **inbound_dmarc_forwarders;   /* CIDRs or domains whose DMARC failures are not enforced */
	char **inbound_arc_trusted_sealers;/* ARC sealer domains whose results we trust */
	char *inbound_internal_spoof;      /* "off", "score", "quarantine", "reject" (each check below too) */
	char *inbound_org_mismatch;        /* "off", "score" */
	char *inbound_impersonation;
	char *inbound_lookalike;
	char *inbound_reply_to;
	char *inbound_unresolvable_sender;
	char *inbound_dnsbl;
	int inbound_score_quarantine;      /* score at which a message is quarantined; 0 = never */
	int inbound_score_reject;          /* score at which it is refused; 0 = never */
	char *inbound_dns_failure;         /* "tempfail" or "accept" */
	struct config_vip *inbound_vips;
	size_t n_inbound_vips;
	char **inbound_freemail_domains;   /* [] = the built-in list */

	/* dnsbl */
	struct config_dnsbl_zone *dnsbl_zones;
	size_t n_dnsbl_zones;

	/* lists: allow/deny */
	char **lists_allow_ips;
	char **lists_deny_ips;
	char **lists_allow_senders;        /* addresses or domains */
	char **lists_deny_senders;
	struct config_recipient_list *lists_recipients;
	size_t n_lists_recipients;

	/* quarantine and message log */
	char *quarantine_dir;              /* "" = data_dir/quarantine */
	int quarantine_retention_days;
	char *quarantine_relay_url;        /* smtp://host:port used by release */
	char *quarantine_relay_user;
	char *quarantine_relay_password_file;
	int quarantine_release_attempts;
	int msglog_retention_days;

	/* submission guard */
	bool submission_enabled;
	int submission_reply_code;         /* 4xx or 5xx for a limit */
	char **submission_account_messages;   /* "N/PERIOD" */
	char **submission_account_recipients;
	char **submission_ip_messages;
	char **submission_ip_recipients;
	char **submission_account_ip_messages;
	char **submission_account_ip_recipients;
	char **submission_allow_networks;
	char **submission_deny_networks;
	char **submission_allow_countries;
	char **submission_deny_countries;
	struct config_sub_group *submission_groups;
	size_t n_submission_groups;
	int submission_lock_max_ips;
	int submission_lock_max_countries;
	int submission_lock_window;        /* seconds */
	int submission_lock_duration;      /* seconds; 0 = until unlocked */
	char **submission_lock_messages;   /* volume that locks an account, "N/PERIOD" */
	char *submission_notify;           /* admin address told about locks; "" = none */
	char *submission_notify_from;
	char *submission_notify_smtp_url;
	char *submission_on_error;         /* "tempfail" or "accept" (state unavailable) */
	char *submission_policy_listen;    /* "" = no policy service; "inet:PORT@HOST" or "unix:PATH" */

	/* redis: shared counters */
	char *redis_url;                   /* "" = in process; "redis://host:port/db" or "unix:PATH" */
	int redis_timeout_ms;
	char *redis_prefix;

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
