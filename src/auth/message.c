#include "auth/message.h"
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* the number of LFs in in[0..len) that are not preceded by a CR */
static size_t count_bare_lf(const char *in, size_t len)
{
	size_t extra = 0, i = 0;
	if (len > 0 && in[0] == '\n')
		extra++;
	i = 1;
#if defined(__SSE2__)
	/* 16 positions at a time: LF here, no CR just before */
	const __m128i vlf = _mm_set1_epi8('\n'), vcr = _mm_set1_epi8('\r');
	for (; i + 16 <= len; i += 16) {
		__m128i cur = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
		__m128i prev = _mm_loadu_si128((const __m128i *)(const void *)(in + i - 1));
		__m128i bare = _mm_andnot_si128(_mm_cmpeq_epi8(prev, vcr), _mm_cmpeq_epi8(cur, vlf));
		extra += (size_t)__builtin_popcount((unsigned)_mm_movemask_epi8(bare));
	}
#endif
	for (; i < len; i++)
		if (in[i] == '\n' && in[i - 1] != '\r')
			extra++;
	return extra;
}

static char *crlf_normalise(const char *in, size_t len, size_t *len_r)
{
	/* count bare LFs; in the common case (already CRLF) one memcpy does it */
	size_t extra = count_bare_lf(in, len);
	char *out = xmalloc(len + extra + 1);
	if (extra == 0) {
		memcpy(out, in, len);
	} else {
		size_t k = 0, i = 0;
		while (i < len) {
			const char *nl = memchr(in + i, '\n', len - i);
			size_t span = nl ? (size_t)(nl - (in + i)) : len - i;
			memcpy(out + k, in + i, span);
			k += span;
			i += span;
			if (!nl)
				break;
			if (i == 0 || in[i - 1] != '\r')
				out[k++] = '\r';
			out[k++] = '\n';
			i++;
		}
	}
	out[len + extra] = '\0';
	*len_r = len + extra;
	return out;
}

int message_parse(const void *raw, size_t len, struct message *msg_r, char *err, size_t errlen)
{
	size_t n;
	char *data = crlf_normalise(raw, len, &n);
	return message_adopt(data, n, msg_r, err, errlen);
}

/* end of the line starting at p: index just after its CRLF (or end of data) */
static size_t line_end(const char *d, size_t len, size_t p)
{
	const char *nl = memchr(d + p, '\n', len - p);
	return nl ? (size_t)(nl - d) + 1 : len;
}

int message_adopt(char *data, size_t len, struct message *msg, char *err, size_t errlen)
{
	memset(msg, 0, sizeof *msg);
	msg->data = data;
	msg->len = len;
	size_t cap = 0, p = 0;
	while (p < len) {
		/* an empty line ends the header */
		if (data[p] == '\r' && p + 1 < len && data[p + 1] == '\n') {
			msg->has_separator = true;
			p += 2;
			break;
		}
		size_t start = p;
		p = line_end(data, len, p);
		while (p < len && (data[p] == ' ' || data[p] == '\t'))
			p = line_end(data, len, p);
		if (p - start > MESSAGE_MAX_HEADER_BYTES) {
			snprintf(err, errlen, "header field %zu longer than %d bytes", msg->nhdr + 1, MESSAGE_MAX_HEADER_BYTES);
			goto fail;
		}
		if (msg->nhdr == MESSAGE_MAX_HEADERS) {
			snprintf(err, errlen, "more than %d header fields", MESSAGE_MAX_HEADERS);
			goto fail;
		}
		if (msg->nhdr == cap) {
			cap = cap ? cap * 2 : 32;
			msg->hdr = xreallocarray(msg->hdr, cap, sizeof *msg->hdr);
		}
		struct msg_header *h = &msg->hdr[msg->nhdr++];
		h->raw = data + start;
		h->raw_len = p - start;
		const char *colon = memchr(h->raw, ':', h->raw_len);
		/* a field name is printable US-ASCII except colon (RFC 5322 2.2) */
		size_t nl = colon ? (size_t)(colon - h->raw) : 0;
		for (size_t i = 0; i < nl; i++)
			if ((unsigned char)h->raw[i] <= 32 || (unsigned char)h->raw[i] >= 127) {
				/* tolerate WSP before the colon ("Subject :"), as many parsers do */
				size_t j = i;
				while (j < nl && (h->raw[j] == ' ' || h->raw[j] == '\t'))
					j++;
				nl = (j == nl) ? i : 0;
				break;
			}
		h->name = h->raw;
		h->name_len = nl;
		if (colon && nl > 0) {
			h->value = colon + 1;
			size_t vend = h->raw_len;
			if (vend >= 2 && h->raw[vend - 2] == '\r' && h->raw[vend - 1] == '\n')
				vend -= 2;
			h->value_len = (size_t)(h->raw + vend - h->value);
		} else {
			h->value = h->raw + h->raw_len;
			h->value_len = 0;
		}
	}
	msg->body = data + p;
	msg->body_len = len - p;
	return 0;
fail:
	free(msg->hdr);
	free(data);
	memset(msg, 0, sizeof *msg);
	return -1;
}

void message_free(struct message *msg)
{
	free(msg->hdr);
	free(msg->data);
	memset(msg, 0, sizeof *msg);
}

bool msg_header_is(const struct msg_header *h, const char *name)
{
	size_t n = strlen(name);
	return h->name_len == n && strncasecmp(h->name, name, n) == 0;
}

const struct msg_header *message_header(const struct message *msg, const char *name, size_t nth)
{
	for (size_t i = 0; i < msg->nhdr; i++)
		if (msg_header_is(&msg->hdr[i], name) && nth-- == 0)
			return &msg->hdr[i];
	return NULL;
}

size_t message_header_count(const struct message *msg, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < msg->nhdr; i++)
		if (msg_header_is(&msg->hdr[i], name))
			n++;
	return n;
}
