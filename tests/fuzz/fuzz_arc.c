/*
 * fuzz_arc: arc_header_parse_check and arc_verify on hostile input.
 * The first byte picks the mode: 0x01, 0x02 or 0x03 check the rest as an
 * ARC-Authentication-Results, ARC-Message-Signature or ARC-Seal value; any
 * other byte runs the whole input as a message through arc_verify with a
 * resolver that knows no names (so every key lookup answers NXDOMAIN).
 */
#include <stdint.h>
#include <string.h>

#include "auth/arc.h"
#include "auth/message.h"
#include "dns/dns_stub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dns_resolver *r;
	if (!r)
		r = dns_stub_resolver(dns_stub_new()); /* lives for the process */
	if (size == 0)
		return 0;
	char err[256];
	const char *name = NULL;
	switch (data[0]) {
	case 0x01:
		name = "ARC-Authentication-Results";
		break;
	case 0x02:
		name = "ARC-Message-Signature";
		break;
	case 0x03:
		name = "ARC-Seal";
		break;
	}
	if (name) {
		if (arc_header_parse_check(name, (const char *)data + 1, size - 1, err, sizeof err) < 0 &&
		    memchr(err, '\0', sizeof err) == NULL)
			__builtin_trap(); /* the reason must be a terminated string */
		return 0;
	}
	struct message msg;
	if (message_parse(data, size, &msg, err, sizeof err) < 0)
		return 0;
	struct arc_verify_opts o = { .now = 1700000000, .allow_sha1 = false };
	struct arc_response resp;
	enum arc_cv cv = arc_verify(r, &msg, &o, &resp);
	/* invariants: one answer, a reason, terminated strings; no key exists,
	   so nothing can pass */
	if (cv != resp.cv || resp.reason[0] == '\0' || cv == ARC_PASS || cv == ARC_TEMPERROR ||
	    memchr(resp.sealer_domain, '\0', sizeof resp.sealer_domain) == NULL ||
	    memchr(resp.aar_value, '\0', sizeof resp.aar_value) == NULL)
		__builtin_trap();
	message_free(&msg);
	return 0;
}
