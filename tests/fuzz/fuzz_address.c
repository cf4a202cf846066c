/*
 * Fuzz target: From values and MAIL FROM paths. Every extracted domain is
 * then fed to DMARC evaluation (against an empty zone) and to the PSL
 * organizational-domain lookup, which exercises domain normalisation (IDN
 * conversion, label checks) with hostile names.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/address.h"
#include "auth/dmarc.h"
#include "dns/dns_stub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *v = (const char *)data;
	char err[256];
	struct mailbox mb[8];
	size_t n = address_parse_mailboxes(v, size, mb, 8, err, sizeof err);
	if (n > 8)
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		if (strnlen(mb[i].display, sizeof mb[i].display) == sizeof mb[i].display ||
		    strnlen(mb[i].local, sizeof mb[i].local) == sizeof mb[i].local ||
		    strnlen(mb[i].domain, sizeof mb[i].domain) == sizeof mb[i].domain)
			__builtin_trap();

	char doms[4][ADDRESS_MAX_FIELD];
	size_t nd = address_from_domains(v, size, doms, 4, err, sizeof err);
	if (nd > 4)
		__builtin_trap();

	/* the envelope parser takes a C string */
	char *z = malloc(size + 1);
	if (z == NULL)
		return 0;
	memcpy(z, data, size);
	z[size] = '\0';
	char ed[256];
	if (address_envelope_domain(z, ed, sizeof ed) == 0 && strnlen(ed, sizeof ed) == sizeof ed)
		__builtin_trap();
	free(z);

	struct dns_resolver *r = dns_stub_resolver(dns_stub_new());
	for (size_t i = 0; i < nd; i++) {
		struct dmarc_input in = { .from_domain = doms[i], .spf_domain = doms[i], .spf_pass = true };
		struct dmarc_response resp;
		enum dmarc_result res = dmarc_evaluate(r, &in, NULL, &resp);
		if (res == DMARC_PASS || res == DMARC_FAIL || res == DMARC_TEMPERROR)
			__builtin_trap(); /* an empty zone has no policy */
		struct dmarc_opts o = { .orgmode = DMARC_ORG_PSL };
		char org[256];
		dmarc_org_domain(r, doms[i], &o, org, sizeof org);
	}
	dns_resolver_free(&r);
	return 0;
}
