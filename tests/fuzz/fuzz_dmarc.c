/*
 * Fuzz target: DMARC policy records. Parses the input as a record, then
 * evaluates a message against it as published at _dmarc.example.com, so
 * the policy selection sees every record the parser accepts.
 */
#include <stdint.h>
#include <string.h>

#include "auth/dmarc.h"
#include "dns/dns_stub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmarc_record *rec = NULL;
	char err[256];
	if (dmarc_record_parse((const char *)data, size, &rec, err, sizeof err) == 0) {
		if (rec == NULL || rec->n_rua > DMARC_MAX_URIS || rec->n_ruf > DMARC_MAX_URIS)
			__builtin_trap();
		dmarc_record_free(&rec);
	} else if (rec != NULL || err[0] == '\0') {
		__builtin_trap(); /* a refusal always says why */
	}

	struct dns_stub *s = dns_stub_new();
	dns_stub_add_txt(s, "_dmarc.example.com", (const char *)data, size, 1);
	struct dns_resolver *r = dns_stub_resolver(s);
	struct dmarc_auth_dkim dk[2] = { { "example.com", false }, { "sub.example.com", true } };
	struct dmarc_input in = {
		.from_domain = size % 2 ? "a.example.com" : "example.com",
		.spf_domain = "x.example.com",
		.spf_pass = size % 3 == 0,
		.dkim = dk,
		.ndkim = 2,
	};
	struct dmarc_opts o = { .orgmode = size % 5 == 0 ? DMARC_ORG_PSL : DMARC_ORG_TREEWALK };
	struct dmarc_response resp;
	enum dmarc_result res = dmarc_evaluate(r, &in, &o, &resp);
	if (res != resp.result || (res != DMARC_FAIL && resp.disposition != DMARC_POLICY_NONE))
		__builtin_trap();
	dns_resolver_free(&r);
	return 0;
}
