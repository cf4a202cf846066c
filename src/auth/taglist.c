#include "auth/taglist.h"

#include <stdio.h>
#include <string.h>

static bool is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnumpunc(char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9') || c == '_';
}

/*
 * Bytes of a tag value: tval = %x21-3A / %x3C-7E (RFC 6376 3.2); 8-bit bytes
 * are let through for DMARC URIs and rfc2047-style oddities, callers
 * validate. FWS separates tvals; ';' ends the value; the rest is an error.
 */
enum { TV_CHAR, TV_FWS, TV_SEMI, TV_BAD };

static const unsigned char value_class[256] = {
	[0x00 ... 0x08] = TV_BAD,
	['\t'] = TV_FWS,
	['\n'] = TV_FWS,
	[0x0b ... 0x0c] = TV_BAD,
	['\r'] = TV_FWS,
	[0x0e ... 0x1f] = TV_BAD,
	[' '] = TV_FWS,
	[';'] = TV_SEMI,
	[0x7f] = TV_BAD,
};

int taglist_parse(const char *s, size_t len, struct taglist *tl, char *err, size_t errlen)
{
	size_t p = 0;
	tl->n = 0;
	for (;;) {
		while (p < len && is_fws(s[p]))
			p++;
		if (p == len)
			return 0; /* empty list, or trailing ';' */
		size_t ns = p;
		if (!is_alpha(s[p])) {
			snprintf(err, errlen, "tag name expected at offset %zu", p);
			return -1;
		}
		while (p < len && is_alnumpunc(s[p]))
			p++;
		size_t ne = p;
		while (p < len && is_fws(s[p]))
			p++;
		if (p == len || s[p] != '=') {
			snprintf(err, errlen, "tag \"%.*s\": '=' expected", (int)(ne - ns > 32 ? 32 : ne - ns), s + ns);
			return -1;
		}
		p++;
		while (p < len && is_fws(s[p]))
			p++;
		size_t vs = p, ve = p;
		while (p < len) {
			/* a run of value characters, then whatever ends it */
			size_t r = p;
			while (r < len && value_class[(unsigned char)s[r]] == TV_CHAR)
				r++;
			if (r > p)
				ve = r;
			p = r;
			if (p == len)
				break;
			unsigned char c = (unsigned char)s[p];
			if (value_class[c] == TV_SEMI)
				break;
			if (value_class[c] == TV_BAD) {
				snprintf(err, errlen, "tag \"%.*s\": invalid character 0x%02x in value",
					 (int)(ne - ns > 32 ? 32 : ne - ns), s + ns, c);
				return -1;
			}
			p++; /* FWS */
		}
		for (size_t i = 0; i < tl->n; i++)
			if (tl->tag[i].name_len == ne - ns && memcmp(tl->tag[i].name, s + ns, ne - ns) == 0) {
				snprintf(err, errlen, "tag \"%.*s\" appears twice", (int)(ne - ns > 32 ? 32 : ne - ns), s + ns);
				return -1;
			}
		if (tl->n == TAGLIST_MAX_TAGS) {
			snprintf(err, errlen, "more than %d tags", TAGLIST_MAX_TAGS);
			return -1;
		}
		struct tag *t = &tl->tag[tl->n++];
		t->name = s + ns;
		t->name_len = ne - ns;
		t->value = s + vs;
		t->value_len = ve - vs;
		if (p == len)
			return 0;
		p++; /* ';' */
	}
}

const struct tag *taglist_get(const struct taglist *tl, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < tl->n; i++)
		if (tl->tag[i].name_len == n && tl->tag[i].name[0] == name[0] && memcmp(tl->tag[i].name, name, n) == 0)
			return &tl->tag[i];
	return NULL;
}

long tag_value_nows(const struct tag *t, char *out, size_t outlen)
{
	size_t k = 0;
	for (size_t i = 0; i < t->value_len; i++) {
		if (is_fws(t->value[i]))
			continue;
		if (k + 1 >= outlen)
			return -1;
		out[k++] = t->value[i];
	}
	out[k] = '\0';
	return (long)k;
}
