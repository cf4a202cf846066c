/*
 * Fuzz target: the dnsbl.zones code string parser (inbound_dnsbl_code_parse)
 * with arbitrary bytes. A code that parses must also pass dnsbl's own zone
 * validation (the two must agree on what a valid code is), and its meaning
 * must be a terminated string within the buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/inbound.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	struct dnsbl_code code;
	char meaning[64], err[256] = "";
	if (inbound_dnsbl_code_parse(s, &code, meaning, sizeof meaning, err, sizeof err) == 0) {
		if (strlen(meaning) >= sizeof meaning)
			abort();
		struct dnsbl_zone z = {.zone = "bl.test", .codes = &code, .ncodes = 1};
		if (dnsbl_zone_validate(&z, err, sizeof err) != 0)
			abort();
	} else if (err[0] == '\0') {
		abort(); /* every refusal says why */
	}
	free(s);
	return 0;
}
