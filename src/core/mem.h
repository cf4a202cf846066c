/*
 * mem: allocation wrappers. Allocation failure is not an error a caller can
 * handle sensibly here, so every wrapper aborts on out-of-memory and callers
 * never check for NULL. Input-driven growth is bounded elsewhere (buf.h).
 */
#ifndef MAMORI_CORE_MEM_H
#define MAMORI_CORE_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
/* reallocarray with overflow check; aborts on overflow or OOM */
void *xreallocarray(void *p, size_t count, size_t size);
char *xstrdup(const char *s);
/* copy of the first n bytes of s, NUL-terminated (s need not be terminated) */
char *xstrndup(const char *s, size_t n);
/* aborts with a message if the process is out of memory (never returns) */
void xmem_fail(size_t n) __attribute__((noreturn));

/* frees p and returns NULL, so "p = xfree(p);" reads naturally */
void *xfree(void *p);

#endif
