/*
 * taglist: the tag=value list syntax of RFC 6376 section 3.2, shared by
 * DKIM-Signature, DKIM key records, ARC headers and DMARC records.
 * Parsing does not copy: each tag points into the input. Values keep inner
 * folding whitespace (callers strip it where the RFC says, e.g. b= and bh=).
 */
#ifndef MAMORI_AUTH_TAGLIST_H
#define MAMORI_AUTH_TAGLIST_H

#include <stdbool.h>
#include <stddef.h>

#define TAGLIST_MAX_TAGS 64 /* no DKIM/ARC/DMARC record defines half as many */

struct tag {
	const char *name;
	size_t name_len;
	const char *value; /* leading and trailing FWS removed */
	size_t value_len;
};

struct taglist {
	struct tag tag[TAGLIST_MAX_TAGS];
	size_t n;
};

/*
 * Parses s[0..len). Returns 0, or -1 with a reason naming the offending tag
 * in err: bad tag name, missing '=', invalid character in a value, a tag
 * repeated (RFC 6376 3.2: "MUST NOT" -> permerror), too many tags.
 */
int taglist_parse(const char *s, size_t len, struct taglist *tl_r, char *err, size_t errlen);
/* the tag called name (case-sensitive, as RFC 6376 says), or NULL */
const struct tag *taglist_get(const struct taglist *tl, const char *name);
/* copies value into out without any whitespace (for base64 in b=, bh=, p=);
   returns the length, or -1 if it does not fit in outlen-1 */
long tag_value_nows(const struct tag *t, char *out, size_t outlen);

#endif
