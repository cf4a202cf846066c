/*
 * fuzz_dkim_key: a DKIM key record (TXT value) from hostile input, through
 * dkim_key_parse and, when it yields a key, a signature check with junk; the
 * same bytes also go through the base64 decoder and the streaming body
 * canonicalisation in uneven chunks, compared with one-shot hashing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dkim_canon.h"
#include "auth/dkim_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	const char *s = (const char *)data;
	char err[256];
	struct dkim_key key;
	if (dkim_key_parse(s, size, &key, err, sizeof err) == DKIM_KEY_OK) {
		static const unsigned char sig[64] = { 1, 2, 3 };
		dkim_key_verify(&key, DKIM_HASH_SHA256, "data", 4, sig, sizeof sig);
		dkim_key_verify(&key, DKIM_HASH_SHA1, "data", 4, sig, 3);
		dkim_key_free(&key);
	} else if (err[0] == '\0') {
		abort(); /* a rejected record always has a reason */
	}
	unsigned char out[512];
	dkim_base64_decode(s, size, out, sizeof out);

	for (int c = 0; c < 2; c++) {
		unsigned char d1[EVP_MAX_MD_SIZE], d2[EVP_MAX_MD_SIZE];
		unsigned l1, l2;
		long long t1, t2;
		struct dkim_bodyhash bh;
		dkim_bodyhash_init(&bh, (enum dkim_canon)c, EVP_sha256(), -1);
		dkim_bodyhash_update(&bh, s, size);
		dkim_bodyhash_final(&bh, d1, &l1, &t1);
		dkim_bodyhash_init(&bh, (enum dkim_canon)c, EVP_sha256(), -1);
		for (size_t p = 0, k = 1; p < size; p += k, k = k % 7 + 1)
			dkim_bodyhash_update(&bh, s + p, size - p < k ? size - p : k);
		dkim_bodyhash_final(&bh, d2, &l2, &t2);
		if (l1 != l2 || t1 != t2 || memcmp(d1, d2, l1) != 0)
			abort(); /* chunking changed the canonical body */
	}
	return 0;
}
