/*
 * Fuzz target for the zone file loader (dns_stub_load_text): any input must
 * load or fail with a message, never crash, leak or read out of bounds. When
 * it loads, a few queries run over the result to exercise the stored names.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dns/dns.h"
#include "dns/dns_stub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct dns_stub *s = dns_stub_new();
	if (dns_stub_load_text(s, (const char *)data, size, "fuzz", err, sizeof err) != 0) {
		/* every error names the input and a line */
		if (strncmp(err, "fuzz:", 5) != 0)
			__builtin_trap();
		dns_stub_free(&s);
		return 0;
	}
	struct dns_resolver *r = dns_stub_resolver(s);
	static const char *const names[] = { "example.com", "www.example.com", "a", "a.b", "@" };
	static const enum dns_type types[] = { DNS_T_A, DNS_T_TXT, DNS_T_MX, DNS_T_CNAME };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
			struct dns_answer ans;
			dns_query(r, names[i], types[k], &ans);
			dns_answer_free(&ans);
		}
	dns_resolver_free(&r);
	return 0;
}
