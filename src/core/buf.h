/*
 * buf: a growable byte buffer with a hard maximum set at creation. Anything
 * fed from the network or a file goes through a buf whose max bounds it;
 * "too big" is reported to the caller as an input error, never a crash.
 * The data is always kept NUL-terminated (the NUL is not counted in len).
 */
#ifndef MAMORI_CORE_BUF_H
#define MAMORI_CORE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;  /* NUL-terminated; NULL until the first append */
	size_t len;  /* bytes used, excluding the terminating NUL */
	size_t cap;  /* bytes allocated */
	size_t max;  /* hard limit on len; 0 means SIZE_MAX/2 */
};

#define BUF_INIT(maxlen) { NULL, 0, 0, (maxlen) }

void buf_init(struct buf *b, size_t max);
/* appends n bytes; returns 0, or -1 (buffer unchanged) if max would be exceeded */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* empties the buffer, keeping its memory */
void buf_reset(struct buf *b);
/* returns a pointer to the terminated data ("" if empty); stays owned by b */
const char *buf_cstr(struct buf *b);
/* hands the data to the caller (who frees it) and empties b */
char *buf_steal(struct buf *b, size_t *len_r);
void buf_free(struct buf *b);

#endif
