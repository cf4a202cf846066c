/*
 * fuzz_mime_report: arbitrary bytes as one mail (rin_buffer, as IMAP
 * fetch uses it); failure reports found go through arf_parse, and every
 * item's bytes are read so ASan sees any bad pointer or length.
 */
#include <stdint.h>
#include <string.h>

#include "dmarc/arf_parse.h"
#include "dmarc/report_input.h"

static int touch(void *ctx, const struct rin_item *it)
{
	size_t *sum = ctx;
	const unsigned char *d = it->data, *r = it->raw;
	for (size_t i = 0; d && i <= it->len; i++) /* includes the terminating NUL */
		*sum += d[i];
	for (size_t i = 0; r && i < it->rawlen; i++)
		*sum += r[i];
	*sum += strlen(it->source) + (it->error ? strlen(it->error) : 0);
	if (it->kind == RIN_FAILURE) {
		struct failure_report f;
		char err[128];
		arf_parse(it->data, it->len, &f, err, sizeof err);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rin_opts o = { .max_decompressed = 1024 * 1024 };
	size_t sum = 0;
	rin_buffer("fuzz", data, size, &o, touch, &sum);
	/* and the ARF parser on the raw bytes directly */
	struct failure_report f;
	char err[128];
	arf_parse(data, size, &f, err, sizeof err);
	return 0;
}
