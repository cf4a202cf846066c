/*
 * abuse: turns stored DMARC aggregate data into ARF abuse reports to the
 * networks of spoofing sources (`mamori dmarc abuse`). For each source that
 * failed both aligned SPF and aligned DKIM often enough and is not a known
 * sender of the domain: find the contact (config override, else RDAP), hold
 * back if that contact heard about that IP within the period, compose the
 * report (arf_build.h) and send it over SMTP with libcurl, or write it to a
 * file (dry run). Every decision is logged in the store. Owns no state.
 */
#ifndef MAMORI_DMARC_ABUSE_H
#define MAMORI_DMARC_ABUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"
#include "core/ip.h"
#include "dmarc/rdap.h"
#include "dns/dns.h"
#include "store/store.h"

#define ABUSE_SMTP_CONNECT_TIMEOUT 10 /* seconds */
#define ABUSE_SMTP_TOTAL_TIMEOUT 60   /* seconds per message */
#define ABUSE_MAX_PASSWORD 1024       /* bytes read from the password file */

struct abuse_opts {
	const char *domain;       /* NULL: every domain */
	int64_t since;            /* Unix seconds: data from reports beginning at or after */
	int64_t now;              /* the time of this run (period, Date:, log) */
	uint64_t min_messages;    /* fail_both threshold */
	const char *dry_run_dir;  /* write DIR/<n>-<ip>.eml instead of sending; NULL: send */
	FILE *out;                /* one line per source considered; NULL: quiet */
};

struct abuse_stats {
	unsigned sources;         /* failing sources at or above the threshold */
	unsigned sent, dry_run;
	unsigned failed;          /* composing or sending failed */
	unsigned lookup_failed;   /* RDAP or SPF could not answer (temporary or error) */
	unsigned skip_known;      /* reports.known_senders or the domain's own SPF */
	unsigned skip_override;   /* an override with an empty contact */
	unsigned skip_nocontact;  /* RDAP names no abuse address */
	unsigned skip_period;     /* already reported within abuse.period_days */
};

/*
 * Runs one pass. rdap may be NULL only when every source has an override;
 * dns may be NULL (then the domain's SPF record is not consulted). Returns
 * STORE_OK when the pass completed (individual failures are counted in
 * stats_r), STORE_TEMPFAIL or STORE_ERROR when the store failed (the pass
 * stops there), with a reason in err. Blocks on DNS, RDAP and SMTP.
 */
enum store_status abuse_run(const struct mamori_config *cfg, struct store *st, struct dns_resolver *dns,
			    struct rdap_client *rdap, const struct abuse_opts *o, struct abuse_stats *stats_r,
			    char *err, size_t errlen);

/* the most specific abuse.overrides entry covering ip: true with its
   contact in *contact_r ("" means never report), false when none does */
bool abuse_override(const struct mamori_config *cfg, const struct ipaddr *ip, const char **contact_r);

/* true when ip is inside one of reports.known_senders */
bool abuse_known_sender(const struct mamori_config *cfg, const struct ipaddr *ip);

/*
 * Sends msg (CRLF lines) to one recipient through abuse.smtp_url: MAIL FROM
 * abuse.from, optional AUTH with abuse.smtp_user and the password file
 * (never logged), STARTTLS required when authenticating over smtp://.
 * 0, or -1 with the reason in err. Blocks up to ABUSE_SMTP_TOTAL_TIMEOUT.
 */
int abuse_smtp_send(const struct mamori_config *cfg, const char *to, const char *msg, size_t len, char *err,
		    size_t errlen);

/* fills ops_r with rdap cache callbacks backed by store_cache_get/put on st */
void abuse_rdap_cache(struct store *st, struct rdap_cache_ops *ops_r);

#endif
