/*
 * report: the in-memory model of one DMARC aggregate report (RFC 7489
 * appendix C and RFC 9990, the DMARC 2.0 namespace) and of one failure
 * report (RFC 9991 / RFC 6591 ARF). Parsers fill these; the store writes
 * them; nothing here does I/O. Every string is NUL-terminated, valid UTF-8
 * and free of control characters (parsers reject or clean what is not),
 * but still attacker-controlled: escape before HTML, SQL is parameterised.
 */
#ifndef MAMORI_DMARC_REPORT_H
#define MAMORI_DMARC_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ip.h"

/* hard ceilings no configuration can raise */
#define AGG_MAX_RECORDS_CEILING 10000000u  /* records in one report */
#define AGG_MAX_COUNT 1000000000000ULL      /* one row's count: beyond is absurd */
#define AGG_MAX_AUTH 16                     /* dkim/spf results per record (more: refused) */
#define AGG_MAX_REASONS 4                   /* policy override reasons kept per record */

enum agg_format { AGG_RFC7489 = 1, AGG_RFC9990 = 2 };

/* dispositions and results are kept as the lower-case words reporters use */
struct agg_auth {
	char domain[256];
	char selector[128];  /* dkim only */
	char scope[16];      /* spf only: "mfrom", "helo" or "" */
	char result[16];     /* pass, fail, none, neutral, softfail, temperror, permerror, policy */
	char human[256];     /* human_result, may be "" */
};

struct agg_reason {
	char type[32];       /* forwarded, sampled_out, trusted_forwarder, mailing_list,
	                        local_policy, policy_test_mode, other */
	char comment[256];
};

struct agg_record {
	struct ipaddr source_ip;
	uint64_t count;
	char disposition[16];     /* none, quarantine, reject, pass (RFC 9990 allows "pass"?) */
	char dkim_eval[8];        /* policy_evaluated dkim: pass / fail */
	char spf_eval[8];         /* policy_evaluated spf: pass / fail */
	struct agg_reason reason[AGG_MAX_REASONS];
	unsigned nreason;
	char header_from[256];
	char envelope_from[256];
	char envelope_to[256];
	/* the auth results live in the report's pools (a record with room for
	   them inline would weigh 20 KB); read them with agg_dkim()/agg_spf() */
	size_t dkim_first, spf_first;
	unsigned ndkim, nspf;
};

struct agg_report {
	enum agg_format format;
	/* report_metadata */
	char org_name[256];
	char email[256];
	char extra_contact[256];
	char report_id[256];
	int64_t date_begin, date_end; /* Unix seconds */
	char generator[256];
	char errors[1024];            /* <error> elements joined with "; " */
	/* policy_published */
	char domain[256];
	char adkim, aspf;             /* 'r', 's' or 0 if absent */
	char p[16], sp[16], np[16];   /* "" if absent */
	int pct;                      /* -1 if absent */
	char fo[16];
	char testing;                 /* 'y', 'n' or 0 */
	char discovery_method[16];    /* RFC 9990: "psl", "treewalk" or "" */
	/* records */
	struct agg_record *rec;
	size_t nrec, caprec;
	uint64_t total_count;         /* sum of rec[].count */
	struct agg_auth *dkim_pool, *spf_pool;
	size_t ndkim_pool, capdkim, nspf_pool, capspf;
};

/* a new empty report (heap) */
struct agg_report *agg_report_new(void);
void agg_report_free(struct agg_report **r);
/* appends a record with its fields empty and returns it; the pointer stays
   valid until the next call (the array grows) */
struct agg_record *agg_report_add_record(struct agg_report *r);
/* appends an empty DKIM or SPF result to the LAST record (results are only
   ever added to the record being built) */
struct agg_auth *agg_report_add_dkim(struct agg_report *r);
struct agg_auth *agg_report_add_spf(struct agg_report *r);

static inline const struct agg_auth *agg_dkim(const struct agg_report *r, const struct agg_record *rec, unsigned i)
{
	return &r->dkim_pool[rec->dkim_first + i];
}

static inline const struct agg_auth *agg_spf(const struct agg_report *r, const struct agg_record *rec, unsigned i)
{
	return &r->spf_pool[rec->spf_first + i];
}

/* a failure report (RFC 6591 auth-failure ARF, RFC 9991) */
struct failure_report {
	char feedback_type[32];       /* "auth-failure" normally */
	char user_agent[256];
	char version[16];
	char reported_domain[256];
	char auth_failure[32];        /* dmarc, dkim, spf, adsp, bodyhash, revoked, signature */
	struct ipaddr source_ip;
	bool have_source_ip;
	int64_t arrival_date;         /* Unix seconds, 0 if unknown */
	char original_mail_from[512];
	char original_rcpt_to[512];
	char reported_uri[512];
	char authentication_results[1024];
	char dkim_domain[256], dkim_selector[128], dkim_identity[256];
	char spf_dns[512];
	char delivery_result[32];
	char identity_alignment[64];
	/* from the included original message or headers (part 3) */
	char header_from[512];
	char subject[512];
	char message_id[512];
	/* the reporter: From of the report message */
	char reporter[512];
	int64_t report_date;
};

#endif
