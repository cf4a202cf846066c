/*
 * abuse_tool: helper for tests/integration/dmarc_abuse.sh.
 *   abuse_tool seed -c CFG SPEC...   inserts one aggregate report per SPEC
 *       "org|report_id|domain|ip|count|dkim_eval|spf_eval|begin|end"
 *       straight through store.h (used when `mamori dmarc import` is not
 *       built yet)
 *   abuse_tool abuse ARGS...          runs cmd_dmarc_abuse(ARGS) (used when
 *       the `mamori dmarc` dispatcher is not built yet)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/mem.h"
#include "store/store.h"

int cli_load_config(const char *path, struct mamori_config *cfg)
{
	char err[1024];
	if (path == NULL) {
		config_defaults(cfg);
		return 0;
	}
	if (config_load(path, cfg, err, sizeof err) < 0) {
		fprintf(stderr, "abuse_tool: %s\n", err);
		config_free(cfg);
		return -1;
	}
	return 0;
}

static int field(char **p, char *out, size_t outlen)
{
	char *bar = strchr(*p, '|');
	size_t n = bar ? (size_t)(bar - *p) : strlen(*p);
	if (n >= outlen)
		return -1;
	memcpy(out, *p, n);
	out[n] = '\0';
	*p += n + (bar ? 1 : 0);
	return 0;
}

static int seed(const char *cfgpath, int n, char **specs)
{
	struct mamori_config cfg;
	char err[1024];
	if (cli_load_config(cfgpath, &cfg) < 0)
		return 78;
	struct store *st = store_open(&cfg, err, sizeof err);
	if (st == NULL) {
		fprintf(stderr, "abuse_tool: %s\n", err);
		return 78;
	}
	int rc = 0;
	for (int i = 0; i < n; i++) {
		struct agg_report *r = agg_report_new();
		struct agg_record *rec = agg_report_add_record(r);
		char *p = specs[i], ip[64], count[32], begin[32], end[32];
		r->format = AGG_RFC7489;
		if (field(&p, r->org_name, sizeof r->org_name) || field(&p, r->report_id, sizeof r->report_id) ||
		    field(&p, r->domain, sizeof r->domain) || field(&p, ip, sizeof ip) || field(&p, count, sizeof count) ||
		    field(&p, rec->dkim_eval, sizeof rec->dkim_eval) || field(&p, rec->spf_eval, sizeof rec->spf_eval) ||
		    field(&p, begin, sizeof begin) || field(&p, end, sizeof end) || ip_parse(ip, &rec->source_ip) < 0) {
			fprintf(stderr, "abuse_tool: bad spec %s\n", specs[i]);
			rc = 64;
		} else {
			rec->count = strtoull(count, NULL, 10);
			r->total_count = rec->count;
			r->date_begin = strtoll(begin, NULL, 10);
			r->date_end = strtoll(end, NULL, 10);
			r->adkim = r->aspf = 'r';
			snprintf(r->p, sizeof r->p, "reject");
			r->pct = 100;
			snprintf(r->email, sizeof r->email, "noreply-dmarc@%.200s.test", r->org_name);
			snprintf(rec->disposition, sizeof rec->disposition, "reject");
			snprintf(rec->header_from, sizeof rec->header_from, "%s", r->domain);
			struct agg_auth *sp = agg_report_add_spf(r);
			snprintf(sp->domain, sizeof sp->domain, "%s", r->domain);
			snprintf(sp->result, sizeof sp->result, "%s", strcmp(rec->spf_eval, "pass") == 0 ? "pass" : "fail");
			enum store_status s = store_agg_insert(st, r, specs[i], strlen(specs[i]), "abuse_tool", NULL, err,
							       sizeof err);
			if (s != STORE_OK) {
				fprintf(stderr, "abuse_tool: %s: %s %s\n", specs[i], store_status_name(s), err);
				rc = 1;
			}
		}
		agg_report_free(&r);
	}
	store_close(&st);
	config_free(&cfg);
	return rc;
}

int main(int argc, char **argv)
{
	log_init("abuse_tool", LOG_LVL_WARNING, true, false);
	if (argc >= 4 && strcmp(argv[1], "seed") == 0 && strcmp(argv[2], "-c") == 0)
		return seed(argv[3], argc - 4, argv + 4);
	if (argc >= 2 && strcmp(argv[1], "abuse") == 0)
		return cmd_dmarc_abuse(argc - 1, argv + 1, NULL);
	fprintf(stderr, "usage: abuse_tool seed -c CFG SPEC... | abuse_tool abuse ARGS...\n");
	return 64;
}
