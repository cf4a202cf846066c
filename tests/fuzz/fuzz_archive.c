/*
 * fuzz_archive: arbitrary bytes as a file's content (rin_bytes): gzip,
 * zlib and zip containers, nesting and the decompressed-size cap. Every
 * item's bytes are read so ASan sees any bad pointer or length.
 */
#include <stdint.h>
#include <string.h>

#include "dmarc/report_input.h"

static int touch(void *ctx, const struct rin_item *it)
{
	size_t *sum = ctx;
	const unsigned char *d = it->data, *r = it->raw;
	for (size_t i = 0; d && i <= it->len; i++)
		*sum += d[i];
	for (size_t i = 0; r && i < it->rawlen; i++)
		*sum += r[i];
	*sum += strlen(it->source) + (it->error ? strlen(it->error) : 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a small cap so bombs are found quickly and runs stay fast */
	struct rin_opts o = { .max_decompressed = 256 * 1024 };
	size_t sum = 0;
	rin_bytes("fuzz", data, size, &o, touch, &sum);
	return 0;
}
