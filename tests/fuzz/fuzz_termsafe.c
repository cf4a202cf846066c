/* fuzz_termsafe: term_escape() on arbitrary bytes (mail subjects, addresses)
   never yields a control character, invalid UTF-8 or an unsafe code point,
   and keeps to its column limit */
#include "core/mem.h"
#include "core/termsafe.h"
#include "core/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(const char *in, size_t max)
{
	size_t cols = 0;
	char *out = term_escape(in, max, &cols);
	const unsigned char *p = (const unsigned char *)out;
	size_t n = strlen(out);
	if (max > 0 && cols > (max < 3 ? 3 : max))
		abort();
	for (size_t i = 0; i < n;) {
		size_t len = utf8_seq_len(p + i, n - i);
		if (len == 0 || (len == 1 && (p[i] < 0x20 || p[i] == 0x7f)))
			abort();
		if (len == 2 && p[i] == 0xc2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
			abort(); /* C1 */
		if (len == 3 && p[i] == 0xe2 && p[i + 1] == 0x80 &&
		    (p[i + 2] == 0x8e || p[i + 2] == 0x8f || (p[i + 2] >= 0xaa && p[i + 2] <= 0xae)))
			abort(); /* LRM, RLM, embeddings and overrides */
		if (len == 3 && p[i] == 0xe2 && p[i + 1] == 0x81 && p[i + 2] >= 0xa6 && p[i + 2] <= 0xa9)
			abort(); /* isolates */
		i += len;
	}
	xfree(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	char *s = xmalloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	check(s, 0);
	check(s, size > 0 ? data[0] % 64 : 5);
	xfree(s);
	return 0;
}
