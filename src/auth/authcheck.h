/*
 * authcheck: the sender-authentication stage of the pipeline. Runs SPF
 * (MAIL FROM and HELO), DKIM, ARC and DMARC over one message and its
 * envelope, and renders the results as an Authentication-Results value and
 * as JSON. Checks only add results; deciding what to do is the policy's job.
 * The milter, `mamori check` and the benchmarks all call auth_check().
 */
#ifndef MAMORI_AUTH_AUTHCHECK_H
#define MAMORI_AUTH_AUTHCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <jansson.h>

#include "auth/arc.h"
#include "auth/dkim.h"
#include "auth/dmarc.h"
#include "auth/message.h"
#include "auth/spf.h"
#include "core/config.h"
#include "core/ip.h"
#include "dns/dns.h"

#define AUTHCHECK_MAX_FROM 8 /* From domains evaluated for DMARC */

struct auth_envelope {
	struct ipaddr ip;
	bool have_ip;          /* false: no client address, SPF is not checked */
	const char *helo;      /* may be NULL */
	const char *mail_from; /* NULL: not given; "": the null reverse-path */
};

struct auth_opts {
	time_t now;
	const char *authserv_id;
	const char *receiver;  /* host name for SPF %{r}; defaults to authserv_id */
	unsigned dkim_max_signatures;
	unsigned dkim_clock_skew;
	bool dkim_sha1_fails;
	enum dmarc_orgmode orgmode;
	bool arc_allow_sha1;
};

struct auth_results {
	bool spf_done;                 /* SPF for MAIL FROM (or HELO if null path) */
	struct spf_response spf;
	bool spf_helo_done;            /* separate HELO identity check */
	struct spf_response spf_helo;
	struct dkim_sig_result *dkim;
	size_t ndkim;
	struct arc_response arc;
	bool dmarc_done;
	struct dmarc_response dmarc;   /* the strictest over the From domains */
	char from_domains[AUTHCHECK_MAX_FROM][256];
	size_t nfrom;
	char from_error[256];          /* why no From domain could be read */
	bool tempfail;                 /* some check hit a temporary DNS failure */
};

/* fills opts from the configuration (now = current time) */
void auth_opts_from_config(struct auth_opts *o, const struct mamori_config *cfg);

/* runs every check; may block on DNS. res_r must be freed with auth_results_free() */
void auth_check(struct dns_resolver *r, const struct auth_opts *o, const struct message *msg,
		const struct auth_envelope *env, struct auth_results *res_r);
void auth_results_free(struct auth_results *res);

/* the Authentication-Results value (without the field name), folded with eol;
   heap string */
char *auth_results_header(const struct auth_results *res, const struct auth_opts *o, const char *eol);
/* every result and reason as one JSON object (new reference) */
json_t *auth_results_json(const struct auth_results *res, const struct auth_opts *o);

#endif
