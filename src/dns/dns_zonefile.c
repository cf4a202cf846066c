/*
 * dns_zonefile: loads an RFC 1035 section 5 master file into a dns_stub.
 * Input is hostile: every limit below is a named constant, every error is
 * reported as "NAME:LINE: reason" and loading stops at the first one.
 *
 * Tokens point into the caller's text (no copy); a record is the tokens of
 * one line, or of several lines joined by parentheses. Names and strings are
 * unescaped (\DDD and \X) only when a record is turned into stub records.
 * Without $ORIGIN the origin is the root, so "example.com" and "example.com."
 * mean the same name.
 */
#include "dns/dns_stub.h"
#include "core/buf.h"
#include "core/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* RFC 1035 2.3.4: 255 octets for a name in wire format, 63 for a label */
#define ZONE_MAX_WIRE_NAME 255
/* RFC 1035 3.3: a <character-string> is one length octet and up to 255 */
#define ZONE_MAX_STRING 255
/* RFC 1035 3.2.1: RDLENGTH is 16 bits, so all of a TXT record's strings
   (each with its length octet) fit in 65535 octets */
#define ZONE_MAX_RDATA 65535
/* RFC 2181 8: a TTL is an unsigned value with the top bit clear */
#define ZONE_MAX_TTL 2147483647UL
/* RFC 1035 3.3.9: MX PREFERENCE is a 16-bit integer */
#define ZONE_MAX_PREF 65535

/* our own ceilings on hostile input */
#define ZONE_MAX_LINE (64 * 1024)          /* bytes in one physical line */
#define ZONE_MAX_RECORD (256 * 1024)       /* bytes in one record spanning lines */
#define ZONE_MAX_TOKENS 4096               /* fields in one record */
#define ZONE_MAX_RECORDS 1000000           /* records in one file */
#define ZONE_MAX_FILE (256 * 1024 * 1024)  /* bytes in one file */
#define ZONE_DEFAULT_TTL 300               /* when neither $TTL nor a TTL was given */

/* unescaped name bytes: at most 254 (labels + separators) plus the NUL */
#define ZONE_NAME_BUF (ZONE_MAX_WIRE_NAME + 1)

struct ztok {
	const char *p;
	size_t len;
	unsigned line;
	bool quoted;
};

struct zparser {
	struct dns_stub *stub;
	const char *text;
	size_t len, pos;
	unsigned line;
	const char *name;
	char *err;
	size_t errlen;

	struct ztok *tok;
	size_t ntok, captok;
	bool blank_owner; /* the record's line started with white space */

	char origin[ZONE_NAME_BUF]; /* unescaped, no trailing dot; "" = root */
	size_t origin_len, origin_wire;
	char owner[ZONE_NAME_BUF];
	bool have_owner;
	unsigned long dollar_ttl, last_ttl;
	bool have_dollar_ttl, have_last_ttl;
	size_t nrecords;
};

static int zerr(struct zparser *zp, unsigned line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int zerr(struct zparser *zp, unsigned line, const char *fmt, ...)
{
	char reason[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	if (zp->errlen > 0)
		snprintf(zp->err, zp->errlen, "%s:%u: %s", zp->name, line, reason);
	return -1;
}

/* a printable, bounded copy of a token for error messages */
static const char *tok_show(const struct ztok *t, char *out, size_t outlen)
{
	size_t n = 0;
	for (size_t i = 0; i < t->len && n + 4 < outlen; i++) {
		unsigned char c = (unsigned char)t->p[i];
		out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (n < t->len && n + 4 <= outlen) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

static bool tok_is(const struct ztok *t, const char *word)
{
	size_t n = strlen(word);
	return !t->quoted && t->len == n && strncasecmp(t->p, word, n) == 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static int push_tok(struct zparser *zp, const char *p, size_t len, unsigned line, bool quoted)
{
	if (zp->ntok >= ZONE_MAX_TOKENS)
		return zerr(zp, line, "too many fields in one record (max %d)", ZONE_MAX_TOKENS);
	if (zp->ntok == zp->captok) {
		zp->captok = zp->captok ? zp->captok * 2 : 16;
		zp->tok = xreallocarray(zp->tok, zp->captok, sizeof *zp->tok);
	}
	zp->tok[zp->ntok++] = (struct ztok){ p, len, line, quoted };
	return 0;
}

/*
 * Reads the next record's tokens into zp->tok. Returns 1 with a record,
 * 0 at the end of the text, -1 on a syntax error.
 */
static int next_record(struct zparser *zp)
{
	const char *s = zp->text;
	int depth = 0;
	unsigned paren_line = 0;
	size_t line_start = zp->pos, rec_start = zp->pos;
	bool at_line_start = true;

	zp->ntok = 0;
	zp->blank_owner = false;
	while (zp->pos < zp->len) {
		char c = s[zp->pos];
		if (zp->pos - line_start >= ZONE_MAX_LINE)
			return zerr(zp, zp->line, "line too long (max %d bytes)", ZONE_MAX_LINE);
		if (zp->ntok > 0 && zp->pos - rec_start >= ZONE_MAX_RECORD)
			return zerr(zp, zp->tok[0].line, "record too long (max %d bytes)", ZONE_MAX_RECORD);
		if (c == '\n') {
			zp->pos++;
			zp->line++;
			line_start = zp->pos;
			if (depth > 0)
				continue;
			if (zp->ntok > 0)
				return 1;
			at_line_start = true;
			zp->blank_owner = false;
			rec_start = zp->pos;
			continue;
		}
		if (at_line_start && depth == 0 && zp->ntok == 0 && is_space(c))
			zp->blank_owner = true;
		at_line_start = false;
		if (is_space(c)) {
			zp->pos++;
		} else if (c == ';') {
			while (zp->pos < zp->len && s[zp->pos] != '\n')
				zp->pos++;
		} else if (c == '(') {
			if (depth > 0)
				return zerr(zp, zp->line, "nested parentheses");
			depth++;
			paren_line = zp->line;
			zp->pos++;
		} else if (c == ')') {
			if (depth == 0)
				return zerr(zp, zp->line, "unbalanced parentheses: ')' without '('");
			depth--;
			zp->pos++;
		} else if (c == '"') {
			size_t start = ++zp->pos;
			unsigned line = zp->line;
			for (;;) {
				if (zp->pos >= zp->len || s[zp->pos] == '\n')
					return zerr(zp, line, "unterminated string");
				if (s[zp->pos] == '"')
					break;
				if (s[zp->pos] == '\\') {
					if (zp->pos + 1 >= zp->len || s[zp->pos + 1] == '\n')
						return zerr(zp, line, "unterminated string (escape at end of line)");
					zp->pos++;
				}
				zp->pos++;
			}
			if (push_tok(zp, s + start, zp->pos - start, line, true) < 0)
				return -1;
			zp->pos++; /* the closing quote */
		} else {
			size_t start = zp->pos;
			while (zp->pos < zp->len) {
				char d = s[zp->pos];
				if (is_space(d) || d == '\n' || d == ';' || d == '(' || d == ')' || d == '"')
					break;
				if (d == '\\') {
					if (zp->pos + 1 >= zp->len || s[zp->pos + 1] == '\n')
						return zerr(zp, zp->line, "escape at end of line");
					zp->pos++;
				}
				zp->pos++;
			}
			if (push_tok(zp, s + start, zp->pos - start, zp->line, false) < 0)
				return -1;
		}
	}
	/* a last line without a newline, consumed by one of the inner loops */
	if (zp->pos - line_start >= ZONE_MAX_LINE)
		return zerr(zp, zp->line, "line too long (max %d bytes)", ZONE_MAX_LINE);
	if (depth > 0)
		return zerr(zp, paren_line, "unbalanced parentheses: '(' not closed");
	return zp->ntok > 0 ? 1 : 0;
}

/*
 * Decodes the escape at t->p[*i] (a backslash): \DDD is a decimal octet,
 * \X is X. Advances *i to the last byte of the escape.
 */
static int unescape_at(struct zparser *zp, const struct ztok *t, size_t *i, unsigned char *b_r)
{
	size_t k = *i;
	if (k + 1 >= t->len)
		return zerr(zp, t->line, "escape at end of field");
	unsigned char c = (unsigned char)t->p[k + 1];
	if (c < '0' || c > '9') {
		*b_r = c;
		*i = k + 1;
		return 0;
	}
	unsigned v = 0;
	for (size_t j = 1; j <= 3; j++) {
		if (k + j >= t->len || t->p[k + j] < '0' || t->p[k + j] > '9')
			return zerr(zp, t->line, "bad escape: \\DDD needs three decimal digits");
		v = v * 10 + (unsigned)(t->p[k + j] - '0');
	}
	if (v > 255)
		return zerr(zp, t->line, "bad escape \\%03u: more than 255", v);
	*b_r = (unsigned char)v;
	*i = k + 3;
	return 0;
}

static int name_too_long(struct zparser *zp, const struct ztok *t)
{
	return zerr(zp, t->line, "name too long (max %d octets in wire format, RFC 1035 2.3.4)",
		    ZONE_MAX_WIRE_NAME);
}

/*
 * Turns a name field into unescaped bytes in out (ZONE_NAME_BUF), relative
 * names completed with the origin, no trailing dot; the root is "".
 * *wire_r gets the wire-format length (labels with their length octets and
 * the root octet).
 */
static int parse_name(struct zparser *zp, const struct ztok *t, char *out, size_t *len_r, size_t *wire_r)
{
	char show[40];
	if (t->quoted)
		return zerr(zp, t->line, "a name cannot be a quoted string: \"%s\"", tok_show(t, show, sizeof show));
	if (t->len == 1 && t->p[0] == '@') {
		memcpy(out, zp->origin, zp->origin_len + 1);
		*len_r = zp->origin_len;
		*wire_r = zp->origin_wire;
		return 0;
	}
	if (t->len == 1 && t->p[0] == '.') {
		out[0] = '\0';
		*len_r = 0;
		*wire_r = 1;
		return 0;
	}
	size_t n = 0, wire = 0, label = 0;
	bool absolute = false;
	for (size_t i = 0; i < t->len; i++) {
		unsigned char c = (unsigned char)t->p[i];
		if (c == '.') {
			if (label == 0)
				return zerr(zp, t->line, "empty label in name '%s'", tok_show(t, show, sizeof show));
			wire += 1 + label;
			label = 0;
			if (i + 1 == t->len) {
				absolute = true;
				break;
			}
			out[n++] = '.';
			continue;
		}
		if (c == '\\') {
			if (unescape_at(zp, t, &i, &c) < 0)
				return -1;
			if (c == 0)
				return zerr(zp, t->line, "NUL byte (\\000) in a name is not supported");
		}
		if (++label > DNS_MAX_LABEL)
			return zerr(zp, t->line, "label longer than %d octets (RFC 1035 2.3.4)", DNS_MAX_LABEL);
		/* this label plus the root octet must still fit */
		if (wire + 1 + label + 1 > ZONE_MAX_WIRE_NAME)
			return name_too_long(zp, t);
		out[n++] = (char)c;
	}
	if (absolute) {
		wire += 1;
	} else {
		wire += 1 + label;
		if (wire + zp->origin_wire > ZONE_MAX_WIRE_NAME)
			return name_too_long(zp, t);
		wire += zp->origin_wire;
		if (zp->origin_len > 0) {
			out[n++] = '.';
			memcpy(out + n, zp->origin, zp->origin_len);
			n += zp->origin_len;
		}
	}
	out[n] = '\0';
	*len_r = n;
	*wire_r = wire;
	return 0;
}

/* decimal with optional BIND units (1h30m, 2d, 1w); 0 or -1 */
static int parse_ttl(struct zparser *zp, const struct ztok *t, unsigned long *ttl_r)
{
	char show[40];
	unsigned long total = 0, cur = 0;
	bool digits = false;
	if (t->quoted || t->len == 0)
		return zerr(zp, t->line, "bad TTL");
	for (size_t i = 0; i < t->len; i++) {
		char c = t->p[i];
		if (c >= '0' && c <= '9') {
			cur = cur * 10 + (unsigned long)(c - '0');
			if (cur > ZONE_MAX_TTL)
				return zerr(zp, t->line, "TTL overflow (max %lu, RFC 2181 8)", ZONE_MAX_TTL);
			digits = true;
			continue;
		}
		unsigned long mult;
		switch (c) {
		case 's': case 'S': mult = 1; break;
		case 'm': case 'M': mult = 60; break;
		case 'h': case 'H': mult = 3600; break;
		case 'd': case 'D': mult = 86400; break;
		case 'w': case 'W': mult = 604800; break;
		default:
			return zerr(zp, t->line, "bad TTL '%s'", tok_show(t, show, sizeof show));
		}
		if (!digits)
			return zerr(zp, t->line, "bad TTL '%s'", tok_show(t, show, sizeof show));
		if (cur > ZONE_MAX_TTL / mult || cur * mult > ZONE_MAX_TTL - total)
			return zerr(zp, t->line, "TTL overflow (max %lu, RFC 2181 8)", ZONE_MAX_TTL);
		total += cur * mult;
		cur = 0;
		digits = false;
	}
	if (cur > ZONE_MAX_TTL - total)
		return zerr(zp, t->line, "TTL overflow (max %lu, RFC 2181 8)", ZONE_MAX_TTL);
	*ttl_r = total + cur;
	return 0;
}

static int parse_pref(struct zparser *zp, const struct ztok *t, unsigned *pref_r)
{
	char show[40];
	unsigned v = 0;
	if (t->quoted || t->len == 0)
		return zerr(zp, t->line, "bad MX preference");
	for (size_t i = 0; i < t->len; i++) {
		if (t->p[i] < '0' || t->p[i] > '9')
			return zerr(zp, t->line, "bad MX preference '%s'", tok_show(t, show, sizeof show));
		v = v * 10 + (unsigned)(t->p[i] - '0');
		if (v > ZONE_MAX_PREF)
			return zerr(zp, t->line, "MX preference over %d", ZONE_MAX_PREF);
	}
	*pref_r = v;
	return 0;
}

/* the character-strings of a TXT record, unescaped and joined into txt */
static int parse_txt(struct zparser *zp, const struct ztok *t, size_t n, struct buf *txt, unsigned *nstrings_r)
{
	size_t wire = 0;
	for (size_t k = 0; k < n; k++) {
		size_t slen = 0;
		for (size_t i = 0; i < t[k].len; i++) {
			unsigned char c = (unsigned char)t[k].p[i];
			if (c == '\\' && unescape_at(zp, &t[k], &i, &c) < 0)
				return -1;
			if (++slen > ZONE_MAX_STRING)
				return zerr(zp, t[k].line, "string longer than %d bytes (RFC 1035 3.3)", ZONE_MAX_STRING);
			if (buf_putc(txt, (char)c) < 0)
				return zerr(zp, t[k].line, "TXT data too long");
		}
		wire += 1 + slen;
		if (wire > ZONE_MAX_RDATA)
			return zerr(zp, t[k].line, "TXT record longer than %d octets (RFC 1035 3.2.1)", ZONE_MAX_RDATA);
	}
	*nstrings_r = (unsigned)n;
	return 0;
}

static int directive(struct zparser *zp)
{
	const struct ztok *t = zp->tok;
	char show[40];
	if (tok_is(&t[0], "$ORIGIN")) {
		if (zp->ntok != 2)
			return zerr(zp, t[0].line, "$ORIGIN needs exactly one name");
		char name[ZONE_NAME_BUF];
		size_t len, wire;
		if (parse_name(zp, &t[1], name, &len, &wire) < 0)
			return -1;
		memcpy(zp->origin, name, len + 1);
		zp->origin_len = len;
		zp->origin_wire = wire;
		return 0;
	}
	if (tok_is(&t[0], "$TTL")) {
		if (zp->ntok != 2)
			return zerr(zp, t[0].line, "$TTL needs exactly one value");
		if (parse_ttl(zp, &t[1], &zp->dollar_ttl) < 0)
			return -1;
		zp->have_dollar_ttl = true;
		return 0;
	}
	return zerr(zp, t[0].line, "unsupported directive %s", tok_show(&t[0], show, sizeof show));
}

static bool looks_like_ttl(const struct ztok *t)
{
	return !t->quoted && t->len > 0 && t->p[0] >= '0' && t->p[0] <= '9';
}

static const char *const other_classes[] = { "CH", "HS", "CS", "ANY", "NONE" };

static int need_fields(struct zparser *zp, size_t have, size_t want, const struct ztok *type_tok)
{
	char show[40];
	if (have < want)
		return zerr(zp, type_tok->line, "missing rdata for %s", tok_show(type_tok, show, sizeof show));
	if (have > want)
		return zerr(zp, zp->tok[zp->ntok - 1].line, "too many rdata fields for %s",
			    tok_show(type_tok, show, sizeof show));
	return 0;
}

static int record(struct zparser *zp)
{
	const struct ztok *t = zp->tok;
	char show[40];
	size_t i = 0;

	if (!zp->blank_owner && !t[0].quoted && t[0].len > 0 && t[0].p[0] == '$')
		return directive(zp);
	if (zp->blank_owner) {
		if (!zp->have_owner)
			return zerr(zp, t[0].line, "record without an owner name (line starts with white space)");
	} else {
		size_t len, wire;
		if (parse_name(zp, &t[0], zp->owner, &len, &wire) < 0)
			return -1;
		zp->have_owner = true;
		i = 1;
	}

	/* [TTL] [class] or [class] [TTL] (RFC 1035 5.1) */
	unsigned long ttl = 0;
	bool have_ttl = false, have_class = false;
	while (i < zp->ntok) {
		if (!have_ttl && looks_like_ttl(&t[i])) {
			if (parse_ttl(zp, &t[i], &ttl) < 0)
				return -1;
			have_ttl = true;
			i++;
			continue;
		}
		if (!have_class && tok_is(&t[i], "IN")) {
			have_class = true;
			i++;
			continue;
		}
		for (size_t c = 0; c < sizeof other_classes / sizeof other_classes[0]; c++)
			if (tok_is(&t[i], other_classes[c]))
				return zerr(zp, t[i].line, "unsupported class %s (only IN)", other_classes[c]);
		break;
	}
	if (i >= zp->ntok)
		return zerr(zp, t[zp->ntok - 1].line, "missing type");
	if (have_ttl) {
		zp->last_ttl = ttl;
		zp->have_last_ttl = true;
	} else if (zp->have_dollar_ttl) {
		ttl = zp->dollar_ttl;
	} else if (zp->have_last_ttl) {
		ttl = zp->last_ttl; /* RFC 1035 5.1: the last explicitly stated TTL */
	} else {
		ttl = ZONE_DEFAULT_TTL;
	}

	if (zp->nrecords >= ZONE_MAX_RECORDS)
		return zerr(zp, t[i].line, "too many records (max %d)", ZONE_MAX_RECORDS);

	const struct ztok *type = &t[i];
	const struct ztok *rd = &t[i + 1];
	size_t nrd = zp->ntok - i - 1;
	struct dns_rr rr = { .ttl = (unsigned)ttl };
	char target[ZONE_NAME_BUF];
	size_t len, wire;

	if (tok_is(type, "TIMEOUT") || tok_is(type, "SERVFAIL")) {
		if (need_fields(zp, nrd, 0, type) < 0)
			return -1;
		dns_stub_add_fail(zp->stub, zp->owner, tok_is(type, "TIMEOUT") ? DNS_STUB_TIMEOUT : DNS_STUB_SERVFAIL);
		zp->nrecords++;
		return 0;
	}
	if (tok_is(type, "A") || tok_is(type, "AAAA")) {
		bool v6 = tok_is(type, "AAAA");
		if (need_fields(zp, nrd, 1, type) < 0)
			return -1;
		if (rd[0].quoted || ip_parse_n(rd[0].p, rd[0].len, &rr.ip) < 0 ||
		    rr.ip.family != (v6 ? AF_INET6 : AF_INET))
			return zerr(zp, rd[0].line, "bad %s address '%s'", v6 ? "IPv6" : "IPv4",
				    tok_show(&rd[0], show, sizeof show));
		rr.type = v6 ? DNS_T_AAAA : DNS_T_A;
	} else if (tok_is(type, "MX")) {
		if (need_fields(zp, nrd, 2, type) < 0)
			return -1;
		if (parse_pref(zp, &rd[0], &rr.pref) < 0 || parse_name(zp, &rd[1], target, &len, &wire) < 0)
			return -1;
		rr.type = DNS_T_MX;
		rr.name = target;
	} else if (tok_is(type, "CNAME") || tok_is(type, "PTR") || tok_is(type, "NS")) {
		if (need_fields(zp, nrd, 1, type) < 0)
			return -1;
		if (parse_name(zp, &rd[0], target, &len, &wire) < 0)
			return -1;
		rr.type = tok_is(type, "CNAME") ? DNS_T_CNAME : tok_is(type, "PTR") ? DNS_T_PTR : DNS_T_NS;
		rr.name = target;
	} else if (tok_is(type, "TXT")) {
		if (nrd == 0)
			return zerr(zp, type->line, "missing rdata for TXT");
		struct buf txt = BUF_INIT(ZONE_MAX_RDATA);
		if (parse_txt(zp, rd, nrd, &txt, &rr.nstrings) < 0) {
			buf_free(&txt);
			return -1;
		}
		rr.type = DNS_T_TXT;
		rr.txt = buf_steal(&txt, &rr.txt_len);
		if (rr.txt == NULL)
			rr.txt = xstrdup("");
		dns_stub_add_rr(zp->stub, zp->owner, &rr);
		free(rr.txt);
		zp->nrecords++;
		return 0;
	} else {
		return zerr(zp, type->line, "unknown or unsupported type '%s'", tok_show(type, show, sizeof show));
	}
	dns_stub_add_rr(zp->stub, zp->owner, &rr);
	zp->nrecords++;
	return 0;
}

int dns_stub_load_text(struct dns_stub *s, const char *text, size_t len, const char *name, char *err, size_t errlen)
{
	struct zparser zp = {
		.stub = s, .text = text, .len = len, .line = 1,
		.name = name ? name : "(zone)", .err = err, .errlen = errlen,
		.origin_wire = 1,
	};
	int rc;
	if (errlen > 0)
		err[0] = '\0';
	while ((rc = next_record(&zp)) > 0)
		if (record(&zp) < 0) {
			rc = -1;
			break;
		}
	free(zp.tok);
	return rc < 0 ? -1 : 0;
}

int dns_stub_load_file(struct dns_stub *s, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_size > ZONE_MAX_FILE) {
		snprintf(err, errlen, "%s: file too large (max %d bytes)", path, ZONE_MAX_FILE);
		close(fd);
		return -1;
	}
	size_t size = (size_t)st.st_size, got = 0;
	char *data = xmalloc(size + 1);
	while (got < size) {
		ssize_t n = read(fd, data + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: read error: %s", path, n < 0 ? strerror(errno) : "file shrank");
			free(data);
			close(fd);
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	data[size] = '\0';
	int rc = dns_stub_load_text(s, data, size, path, err, errlen);
	free(data);
	return rc;
}
