#include "dns/dns.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum dns_status dns_query(struct dns_resolver *r, const char *name, enum dns_type type, struct dns_answer *ans_r)
{
	memset(ans_r, 0, sizeof *ans_r);
	if (!dns_name_valid(name)) {
		ans_r->status = DNS_CONFIG_ERROR;
		ans_r->reason = "invalid domain name";
		return ans_r->status;
	}
	return r->ops->query(r->state, name, type, ans_r);
}

void dns_answer_free(struct dns_answer *ans)
{
	for (size_t i = 0; i < ans->n; i++) {
		free(ans->rr[i].name);
		free(ans->rr[i].txt);
	}
	ans->rr = xfree(ans->rr);
	ans->n = 0;
}

void dns_resolver_free(struct dns_resolver **r)
{
	if (*r == NULL)
		return;
	if ((*r)->ops->destroy)
		(*r)->ops->destroy((*r)->state);
	*r = xfree(*r);
}

struct dns_rr *dns_answer_add(struct dns_answer *ans, enum dns_type type)
{
	ans->rr = xreallocarray(ans->rr, ans->n + 1, sizeof *ans->rr);
	struct dns_rr *rr = &ans->rr[ans->n++];
	memset(rr, 0, sizeof *rr);
	rr->type = type;
	return rr;
}

const char *dns_status_name(enum dns_status st)
{
	switch (st) {
	case DNS_FOUND: return "found";
	case DNS_NODATA: return "nodata";
	case DNS_NXDOMAIN: return "nxdomain";
	case DNS_TEMPFAIL: return "tempfail";
	case DNS_CONFIG_ERROR: return "error";
	}
	return "?";
}

static const struct { const char *name; enum dns_type t; } dns_types[] = {
	{ "A", DNS_T_A }, { "NS", DNS_T_NS }, { "CNAME", DNS_T_CNAME }, { "PTR", DNS_T_PTR },
	{ "MX", DNS_T_MX }, { "TXT", DNS_T_TXT }, { "AAAA", DNS_T_AAAA },
};

const char *dns_type_name(enum dns_type t)
{
	for (size_t i = 0; i < sizeof dns_types / sizeof dns_types[0]; i++)
		if (dns_types[i].t == t)
			return dns_types[i].name;
	return "?";
}

int dns_type_parse(const char *s, enum dns_type *t_r)
{
	for (size_t i = 0; i < sizeof dns_types / sizeof dns_types[0]; i++)
		if (strcasecmp(dns_types[i].name, s) == 0) {
			*t_r = dns_types[i].t;
			return 0;
		}
	return -1;
}

bool dns_name_valid(const char *name)
{
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_MAX_NAME)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (++label > DNS_MAX_LABEL) {
			return false;
		}
	}
	return label > 0;
}
