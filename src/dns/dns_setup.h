/*
 * dns_setup: builds the resolver the configuration asks for (libunbound with
 * forwarders or resolv.conf, or the stub from a zone file). One resolver per
 * process, shared by all threads.
 */
#ifndef MAMORI_DNS_DNS_SETUP_H
#define MAMORI_DNS_DNS_SETUP_H

#include <stddef.h>

#include "core/config.h"
#include "dns/dns.h"

/* zone_file, when not NULL, overrides the configuration with a stub loaded
   from that file (mamori check --zone). NULL with a reason in err on error. */
struct dns_resolver *dns_setup(const struct mamori_config *cfg, const char *zone_file, char *err, size_t errlen);

#endif
