/*
 * report: the aggregate-report model's constructor, destructor and the
 * append helpers that keep records small (auth results in per-report pools).
 */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "dmarc/report.h"

struct agg_report *agg_report_new(void)
{
	return xcalloc(1, sizeof(struct agg_report));
}

void agg_report_free(struct agg_report **r)
{
	if (r == NULL || *r == NULL)
		return;
	xfree((*r)->rec);
	xfree((*r)->dkim_pool);
	xfree((*r)->spf_pool);
	xfree(*r);
	*r = NULL;
}

struct agg_record *agg_report_add_record(struct agg_report *r)
{
	if (r->nrec == r->caprec) {
		r->caprec = r->caprec ? r->caprec * 2 : 8;
		r->rec = xreallocarray(r->rec, r->caprec, sizeof *r->rec);
	}
	struct agg_record *c = &r->rec[r->nrec++];
	/* only the head: reason[] entries are initialised as they are added */
	memset(&c->source_ip, 0, sizeof c->source_ip);
	c->count = 0;
	c->disposition[0] = c->dkim_eval[0] = c->spf_eval[0] = '\0';
	c->nreason = 0;
	c->header_from[0] = c->envelope_from[0] = c->envelope_to[0] = '\0';
	c->dkim_first = r->ndkim_pool;
	c->spf_first = r->nspf_pool;
	c->ndkim = c->nspf = 0;
	return c;
}

static struct agg_auth *pool_add(struct agg_auth **pool, size_t *n, size_t *cap)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*pool = xreallocarray(*pool, *cap, sizeof **pool);
	}
	struct agg_auth *a = &(*pool)[(*n)++];
	a->domain[0] = a->selector[0] = a->scope[0] = a->result[0] = a->human[0] = '\0';
	return a;
}

struct agg_auth *agg_report_add_dkim(struct agg_report *r)
{
	r->rec[r->nrec - 1].ndkim++;
	return pool_add(&r->dkim_pool, &r->ndkim_pool, &r->capdkim);
}

struct agg_auth *agg_report_add_spf(struct agg_report *r)
{
	r->rec[r->nrec - 1].nspf++;
	return pool_add(&r->spf_pool, &r->nspf_pool, &r->capspf);
}
