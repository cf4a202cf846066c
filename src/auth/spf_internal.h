/*
 * spf_internal: what spf.c, spf_record.c and spf_macro.c share and nobody
 * else sees: the parsed record layout and the macro engine. A parsed record
 * points into text it may not own (check_host parses the DNS answer in place)
 * and keeps up to SPF_INLINE_TERMS terms without any heap allocation.
 */
#ifndef MAMORI_AUTH_SPF_INTERNAL_H
#define MAMORI_AUTH_SPF_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/spf.h"

/* RFC 7208 4.6.1, 5 and 6 */
enum spf_term_type {
	SPF_T_ALL,
	SPF_T_INCLUDE,
	SPF_T_A,
	SPF_T_MX,
	SPF_T_PTR,
	SPF_T_IP4,
	SPF_T_IP6,
	SPF_T_EXISTS,
	SPF_T_REDIRECT,
	SPF_T_EXP,
	SPF_T_UNKNOWN_MOD,
};

struct spf_term {
	uint8_t type;      /* enum spf_term_type */
	uint8_t result;    /* enum spf_result of the qualifier (mechanisms) */
	uint8_t cidr4;     /* a, mx, ip4: prefix length (32 if absent) */
	uint8_t cidr6;     /* a, mx, ip6: prefix length (128 if absent) */
	uint32_t off, len; /* the whole term in the record text */
	uint32_t arg_off, arg_len; /* domain-spec / modifier value; arg_len 0 = none */
	struct ipaddr net; /* ip4, ip6 */
};

/* most real records have well under this many terms; a struct spf_record
   points into itself (terms = inline_terms), so it is never copied */
#define SPF_INLINE_TERMS 24

struct spf_record {
	const char *text;   /* the whole record, "v=spf1 ..." */
	size_t len;
	char *owned;        /* text copy when made by spf_record_parse() */
	struct spf_term *terms; /* inline[] or heap */
	unsigned nterms;
	int redirect;       /* index of redirect=, or -1 */
	int exp;            /* index of exp=, or -1 */
	bool has_all;
	struct spf_term inline_terms[SPF_INLINE_TERMS];
};

/* true for a TXT string that selects as an SPF record (RFC 7208 4.5) */
bool spf_is_v1(const char *txt, size_t len);

/* parses into *rec (text borrowed, must outlive rec); 0 or -1 with err */
int spf_record_parse_in(struct spf_record *rec, const char *txt, size_t len, char *err, size_t errlen);
/* releases what parse_in allocated (not rec itself) */
void spf_record_clear(struct spf_record *rec);

/* --- macro engine (spf_macro.c) --- */

/* values for the macro letters, with lengths; p is computed on demand */
struct spf_mctx {
	const char *sender, *local, *odomain, *domain, *helo, *receiver;
	size_t sender_len, local_len, odomain_len, domain_len, helo_len;
	char ip_dotted[72];      /* i: dotted quad, or 32 dot-separated nibbles */
	char ip_text[IP_STRLEN]; /* c */
	const char *v;           /* "in-addr" or "ip6" */
	time_t now;
	/* returns the validated name of the client for %{p} ("unknown" if none) */
	const char *(*get_p)(void *arg, const char *domain);
	void *p_arg;
};

/* output of an expansion; in window mode only the tail is kept (domain names) */
struct spf_sink {
	char *p;
	size_t len, cap;
	bool window;
	bool dropped;  /* window mode dropped a head */
	bool overflow; /* buffer mode ran out of room */
};

/* fills the ip fields of m from ip (expected already unmapped) */
void spf_mctx_set_ip(struct spf_mctx *m, const struct ipaddr *ip);

/*
 * Checks (m == NULL) or expands a macro-string (RFC 7208 7.1). flags as for
 * spf_macro_expand. *last_macro_end_r (may be NULL) gets the offset just
 * past the last macro-expand, for the domain-end rule. 0 or -1 with err.
 */
int spf_macro_run(const char *in, size_t len, const struct spf_mctx *m, unsigned flags, struct spf_sink *out,
		  size_t *last_macro_end_r, char *err, size_t errlen);

/* validates a domain-spec: macro-string ending in a macro or "." toplabel ["."] */
int spf_domain_spec_check(const char *in, size_t len, char *err, size_t errlen);

/*
 * Finishes a domain-name expansion in sink: drops one trailing dot and, over
 * 253 characters, whole labels from the left (RFC 7208 7.3). Copies the name
 * to out (at least DNS_MAX_NAME + 1 bytes). Returns 0, or -1 if no usable
 * name remains (a single over-long label).
 */
int spf_domain_finish(struct spf_sink *s, char *out, size_t outlen);

#endif
