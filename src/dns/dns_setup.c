#include "dns/dns_setup.h"
#include "dns/dns_stub.h"

#include <string.h>

struct dns_resolver *dns_setup(const struct mamori_config *cfg, const char *zone_file, char *err, size_t errlen)
{
	if (zone_file == NULL && strcmp(cfg->dns_resolver, "stub") == 0)
		zone_file = cfg->dns_zone_file;
	if (zone_file != NULL) {
		struct dns_stub *stub = dns_stub_new();
		if (dns_stub_load_file(stub, zone_file, err, errlen) < 0) {
			dns_stub_free(&stub);
			return NULL;
		}
		return dns_stub_resolver(stub);
	}
	static const char *const nodefault[] = { NULL };
	struct dns_unbound_opts o = {
		.forwarders = cfg->dns_forwarders && cfg->dns_forwarders[0] ? (const char *const *)cfg->dns_forwarders : NULL,
		.resolv_conf = cfg->dns_resolv_conf,
		.trust_anchor_file = cfg->dns_trust_anchor_file,
		.timeout_ms = (unsigned)cfg->dns_timeout_ms,
		.nodefault_zones = nodefault,
	};
	return dns_unbound_new(&o, err, errlen);
}
