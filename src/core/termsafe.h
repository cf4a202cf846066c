/*
 * termsafe: text from mail (subjects, addresses, reasons) made safe to
 * print on a terminal. Control characters, bytes that are not UTF-8, C1
 * controls and the bidirectional overrides that reorder what is shown are
 * escaped (\n, \t, \xNN, \u{NNNN}); everything else passes unchanged.
 * Owns no state.
 */
#ifndef MAMORI_CORE_TERMSAFE_H
#define MAMORI_CORE_TERMSAFE_H

#include <stddef.h>

/*
 * The escaped form of s (heap, NUL-terminated; NULL reads as ""). With
 * max_cols > 0 the result is at most max_cols columns (counting one per
 * character; max_cols >= 3): a cut is shown as "..". *cols_r (may be NULL)
 * gets the columns used.
 */
char *term_escape(const char *s, size_t max_cols, size_t *cols_r);

#endif
