/*
 * utf8: validation of UTF-8 byte sequences (RFC 3629: shortest form only,
 * no surrogates, nothing above U+10FFFF). Used wherever attacker-supplied
 * text must become valid UTF-8 (JSON, headers, the store).
 */
#ifndef MAMORI_CORE_UTF8_H
#define MAMORI_CORE_UTF8_H

#include <stddef.h>

/* length (1-4) of the valid UTF-8 sequence at s, with n >= 1 bytes left;
   0 when the bytes there are not valid UTF-8 */
size_t utf8_seq_len(const unsigned char *s, size_t n);

#endif
