/* termsafe: terminal-safe text (see termsafe.h) */
#include "core/termsafe.h"

#include "core/mem.h"
#include "core/utf8.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* code points a terminal must not receive raw: C1 controls (some
   terminals act on them), bidirectional marks, overrides and isolates
   (they reorder the text shown, "Trojan Source"), and the BOM */
static bool cp_unsafe(unsigned cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

static unsigned cp_decode(const unsigned char *p, size_t len)
{
	if (len == 1)
		return p[0];
	unsigned cp = p[0] & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
	for (size_t i = 1; i < len; i++)
		cp = (cp << 6) | (p[i] & 0x3f);
	return cp;
}

char *term_escape(const char *s, size_t max_cols, size_t *cols_r)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	size_t n = strlen((const char *)p);
	if (max_cols > 0 && max_cols < 3)
		max_cols = 3;
	/* worst case: every byte becomes \xNN (4 bytes) */
	char *out = xmalloc(4 * n + 3);
	size_t o = 0, cols = 0;
	char esc[16];
	for (size_t i = 0; i < n;) {
		size_t len = utf8_seq_len(p + i, n - i);
		const char *piece = (const char *)p + i;
		size_t piecelen, piececols = 1;
		if (len == 0 || (len == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
			if (p[i] == '\n')
				snprintf(esc, sizeof esc, "\\n");
			else if (p[i] == '\t')
				snprintf(esc, sizeof esc, "\\t");
			else
				snprintf(esc, sizeof esc, "\\x%02x", p[i]);
			len = 1;
			piece = esc;
			piecelen = piececols = strlen(esc);
		} else if (len > 1 && cp_unsafe(cp_decode(p + i, len))) {
			snprintf(esc, sizeof esc, "\\u{%04x}", cp_decode(p + i, len));
			piece = esc;
			piecelen = piececols = strlen(esc);
		} else {
			piecelen = len;
		}
		/* keep room for ".." unless this is the last piece and fits */
		bool last = i + len >= n;
		if (max_cols > 0 && cols + piececols > (last ? max_cols : max_cols - 2)) {
			memcpy(out + o, "..", 2);
			o += 2;
			cols += 2;
			break;
		}
		memcpy(out + o, piece, piecelen);
		o += piecelen;
		cols += piececols;
		i += len;
	}
	out[o] = '\0';
	if (cols_r != NULL)
		*cols_r = cols;
	return out;
}
