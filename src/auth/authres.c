/*
 * RFC 8601 Authentication-Results: parser, lenient authserv-id reader and
 * builder. Grammar (RFC 8601 2.2, CFWS of RFC 5322 3.2.2 between all items):
 *
 *   authres-payload = authserv-id [ authres-version ] ( ";" "none" / 1*resinfo )
 *   resinfo   = ";" method [ "/" version ] "=" result [ reasonspec ] *propspec
 *   reasonspec = "reason" "=" value
 *   propspec  = ptype "." property "=" pvalue
 *   value     = token (RFC 2045) / quoted-string
 *   pvalue    = value / [ [ local-part ] "@" ] domain-name
 */
#include "auth/authres.h"
#include "core/utf8.h"
#include "core/buf.h"
#include "core/mem.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define AUTHRES_NUMBER_MAX_DIGITS 9 /* versions are small; keeps unsigned safe */

/* ---- character classes ---- */

static bool is_wsp(unsigned char ch)
{
	/* folding CR/LF may still be in the value: treat as FWS */
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* RFC 2045 5.1 tspecials */
static bool is_tspecial(unsigned char ch)
{
	switch (ch) {
	case '(': case ')': case '<': case '>': case '@': case ',': case ';': case ':':
	case '\\': case '"': case '/': case '[': case ']': case '?': case '=':
		return true;
	default:
		return false;
	}
}

/* RFC 2045 token character (US-ASCII only) */
static bool is_token_char(unsigned char ch)
{
	return ch > 0x20 && ch < 0x7f && !is_tspecial(ch);
}

/* RFC 8601 Keyword is an ldh-str; '_' is tolerated as some MTAs use it */
static bool is_kw_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '_';
}

/* unquoted value byte (lenient: anything printable that cannot start CFWS,
   end a resinfo or open a quoted-string) */
static bool is_valchar(unsigned char ch)
{
	return ch > 0x20 && ch < 0x7f && ch != '(' && ch != ')' && ch != ';' && ch != '"' &&
	       ch != '\\';
}

static unsigned char ascii_lower(unsigned char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch - 'A' + 'a') : ch;
}


/* ---- parser ---- */

struct cur {
	const unsigned char *s;
	size_t len, pos;
	char *err;
	size_t errlen;
};

static int fail(struct cur *c, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct cur *c, size_t at, const char *fmt, ...)
{
	if (!c->err || c->errlen == 0)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < c->errlen)
		snprintf(c->err + n, c->errlen - (size_t)n, " at offset %zu", at);
	return -1;
}

static bool at_end(const struct cur *c)
{
	return c->pos >= c->len;
}

/* printable description of the byte at pos, for error messages */
static const char *found(const struct cur *c, char buf[16])
{
	if (at_end(c))
		return "end of input";
	unsigned char ch = c->s[c->pos];
	if (ch > 0x20 && ch < 0x7f)
		snprintf(buf, 16, "'%c'", ch);
	else
		snprintf(buf, 16, "byte 0x%02x", ch);
	return buf;
}

/* a comment starting at '(' (RFC 5322 3.2.2), nesting bounded */
static int skip_comment(struct cur *c)
{
	size_t start = c->pos;
	unsigned depth = 0;
	while (!at_end(c)) {
		unsigned char ch = c->s[c->pos++];
		if (ch == '\\') {
			if (at_end(c))
				break;
			c->pos++;
		} else if (ch == '(') {
			if (++depth > AUTHRES_MAX_COMMENT_DEPTH)
				return fail(c, c->pos - 1, "comments nested deeper than %d",
					    AUTHRES_MAX_COMMENT_DEPTH);
		} else if (ch == ')') {
			if (--depth == 0)
				return 0;
		}
	}
	return fail(c, start, "unterminated comment");
}

static int skip_cfws(struct cur *c)
{
	while (!at_end(c)) {
		unsigned char ch = c->s[c->pos];
		if (is_wsp(ch))
			c->pos++;
		else if (ch == '(') {
			if (skip_comment(c) < 0)
				return -1;
		} else
			break;
	}
	return 0;
}

/* reports a stray 8-bit byte right after an unquoted item */
static int check_no_8bit(struct cur *c, const char *what)
{
	if (!at_end(c) && c->s[c->pos] >= 0x80)
		return fail(c, c->pos, "8-bit byte 0x%02x in %s (only allowed quoted)",
			    c->s[c->pos], what);
	return 0;
}

/* a Keyword, copied lower-cased into out[outsz] */
static int read_keyword(struct cur *c, const char *what, char *out, size_t outsz)
{
	size_t start = c->pos;
	char fb[16];
	while (!at_end(c) && is_kw_char(c->s[c->pos]))
		c->pos++;
	size_t n = c->pos - start;
	if (check_no_8bit(c, what) < 0)
		return -1;
	if (n == 0)
		return fail(c, start, "expected %s, found %s", what, found(c, fb));
	if (n >= outsz)
		return fail(c, start, "%s too long (%zu bytes, max %zu)", what, n, outsz - 1);
	for (size_t i = 0; i < n; i++)
		out[i] = (char)ascii_lower(c->s[start + i]);
	out[n] = '\0';
	return 0;
}

/* 1*DIGIT, bounded */
static int read_number(struct cur *c, const char *what, unsigned *n_r)
{
	size_t start = c->pos;
	unsigned n = 0;
	char fb[16];
	while (!at_end(c) && c->s[c->pos] >= '0' && c->s[c->pos] <= '9') {
		if (c->pos - start >= AUTHRES_NUMBER_MAX_DIGITS)
			return fail(c, start, "%s number too long", what);
		n = n * 10 + (unsigned)(c->s[c->pos++] - '0');
	}
	if (c->pos == start)
		return fail(c, start, "expected %s number, found %s", what, found(c, fb));
	*n_r = n;
	return 0;
}

/* appends s[from..to) to out[*n_r], bounded */
static int put_bytes(struct cur *c, size_t start, const char *what, char *out, size_t outsz,
		     size_t *n_r, const unsigned char *p, size_t k)
{
	if (k >= outsz - *n_r)
		return fail(c, start, "%s too long (max %zu bytes)", what, outsz - 1);
	memcpy(out + *n_r, p, k);
	*n_r += k;
	out[*n_r] = '\0';
	return 0;
}

/* quoted-string at '"' (RFC 5322 3.2.4), unescaped and unfolded, appended */
static int read_quoted(struct cur *c, const char *what, char *out, size_t outsz, size_t *n_r)
{
	size_t start = c->pos++;
	for (;;) {
		if (at_end(c))
			return fail(c, start, "unterminated quoted-string in %s", what);
		unsigned char ch = c->s[c->pos];
		if (ch == '"') {
			c->pos++;
			return 0;
		}
		if (ch == '\r' || ch == '\n') { /* unfolding: the CRLF goes, WSP stays */
			c->pos++;
			continue;
		}
		if (ch == '\\') {
			c->pos++;
			if (at_end(c))
				return fail(c, start, "unterminated quoted-string in %s", what);
			ch = c->s[c->pos];
		}
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return fail(c, c->pos, "control character 0x%02x in %s", ch, what);
		size_t k = utf8_seq_len(c->s + c->pos, c->len - c->pos);
		if (k == 0)
			return fail(c, c->pos, "invalid UTF-8 byte 0x%02x in %s", ch, what);
		if (put_bytes(c, start, what, out, outsz, n_r, c->s + c->pos, k) < 0)
			return -1;
		c->pos += k;
	}
}

/* unquoted value bytes (lenient token, UTF-8 allowed), appended; may be empty */
static int read_bare(struct cur *c, const char *what, char *out, size_t outsz, size_t *n_r)
{
	size_t start = c->pos;
	while (!at_end(c)) {
		unsigned char ch = c->s[c->pos];
		size_t k;
		if (ch >= 0x80) {
			k = utf8_seq_len(c->s + c->pos, c->len - c->pos);
			if (k == 0)
				return fail(c, c->pos, "invalid UTF-8 byte 0x%02x in %s", ch, what);
		} else if (is_valchar(ch)) {
			k = 1;
		} else {
			break;
		}
		c->pos += k;
	}
	return put_bytes(c, start, what, out, outsz, n_r, c->s + start, c->pos - start);
}

/*
 * value (reason) or pvalue: a quoted-string, a quoted local-part followed by
 * "@" domain, or unquoted text. An unquoted value must not be empty.
 */
static int read_value(struct cur *c, const char *what, bool addr, char *out, size_t outsz)
{
	size_t start = c->pos, n = 0;
	char fb[16];
	out[0] = '\0';
	if (!at_end(c) && c->s[c->pos] == '"') {
		if (read_quoted(c, what, out, outsz, &n) < 0)
			return -1;
		if (!addr || at_end(c) || c->s[c->pos] != '@')
			return 0;
		/* "quoted local-part"@domain: the rest is bare */
		if (read_bare(c, what, out, outsz, &n) < 0)
			return -1;
		if (out[n - 1] == '@')
			return fail(c, c->pos, "missing domain after '@' in %s", what);
		return 0;
	}
	if (read_bare(c, what, out, outsz, &n) < 0)
		return -1;
	if (n == 0) {
		if (!at_end(c) && c->s[c->pos] == '\\')
			return fail(c, c->pos, "backslash outside quotes in %s", what);
		return fail(c, start, "empty value for %s (found %s)", what, found(c, fb));
	}
	return 0;
}

/* the authserv-id: an RFC 2045 token or a quoted-string */
static int read_authserv_id(struct cur *c, char *out, size_t outsz)
{
	size_t start = c->pos, n = 0;
	char fb[16];
	if (!at_end(c) && c->s[c->pos] == '"') {
		if (read_quoted(c, "authserv-id", out, outsz, &n) < 0)
			return -1;
		if (n == 0)
			return fail(c, start, "empty authserv-id");
		return 0;
	}
	while (!at_end(c) && is_token_char(c->s[c->pos]))
		c->pos++;
	if (check_no_8bit(c, "authserv-id") < 0)
		return -1;
	if (c->pos == start)
		return fail(c, start, "expected authserv-id, found %s", found(c, fb));
	return put_bytes(c, start, "authserv-id", out, outsz, &n, c->s + start, c->pos - start);
}

/* the propspecs and reasonspec after "method=result", up to ';' or the end */
static int read_props(struct cur *c, struct authres_result *r, bool *truncated)
{
	char fb[16];
	bool have_reason = false; /* reason="" is empty yet present */
	for (;;) {
		if (skip_cfws(c) < 0)
			return -1;
		if (at_end(c) || c->s[c->pos] == ';')
			return 0;
		size_t start = c->pos;
		char name[64];
		struct authres_prop p;
		memset(&p, 0, sizeof p);
		if (read_keyword(c, "property or ';'", name, sizeof name) < 0)
			return -1;
		if (skip_cfws(c) < 0)
			return -1;
		if (!at_end(c) && c->s[c->pos] == '.') {
			if (strlen(name) >= sizeof p.ptype)
				return fail(c, start, "ptype too long (max %zu bytes)",
					    sizeof p.ptype - 1);
			memcpy(p.ptype, name, strlen(name) + 1);
			c->pos++;
			if (skip_cfws(c) < 0 ||
			    read_keyword(c, "property", p.property, sizeof p.property) < 0 ||
			    skip_cfws(c) < 0)
				return -1;
			if (at_end(c) || c->s[c->pos] != '=')
				return fail(c, c->pos, "expected '=' after %s.%s, found %s", p.ptype,
					    p.property, found(c, fb));
		} else if (!at_end(c) && c->s[c->pos] == '=') {
			if (strcmp(name, "reason") == 0) {
				if (have_reason)
					return fail(c, start, "duplicate reason");
				have_reason = true;
				c->pos++;
				if (skip_cfws(c) < 0 ||
				    read_value(c, "reason", false, r->reason, sizeof r->reason) < 0)
					return -1;
				continue;
			}
			/* bare name=value (e.g. "action=none"): not RFC 8601, but common */
			memcpy(p.property, name, strlen(name) + 1);
		} else {
			return fail(c, c->pos, "expected '.' or '=' after \"%s\", found %s", name,
				    found(c, fb));
		}
		c->pos++; /* '=' */
		char what[100];
		snprintf(what, sizeof what, "%s%s%s", p.ptype, p.ptype[0] ? "." : "", p.property);
		if (skip_cfws(c) < 0 || read_value(c, what, true, p.value, sizeof p.value) < 0)
			return -1;
		if (r->nprops < AUTHRES_MAX_PROPS)
			r->props[r->nprops++] = p;
		else
			*truncated = true;
	}
}

/* one resinfo after its ';'; returns 1 for a lone "none", 0, or -1 */
static int read_resinfo(struct cur *c, bool first, struct authres_result *r, bool *truncated)
{
	size_t start = c->pos;
	char fb[16];
	if (read_keyword(c, "method", r->method, sizeof r->method) < 0 || skip_cfws(c) < 0)
		return -1;
	if (strcmp(r->method, "none") == 0 && (at_end(c) || c->s[c->pos] == ';')) {
		if (first && at_end(c))
			return 1;
		return fail(c, start, "\"none\" must be the only result");
	}
	if (!at_end(c) && c->s[c->pos] == '/') {
		c->pos++;
		if (skip_cfws(c) < 0 || read_number(c, "method version", &r->method_version) < 0 ||
		    skip_cfws(c) < 0)
			return -1;
	}
	if (at_end(c) || c->s[c->pos] != '=')
		return fail(c, c->pos, "expected '=' after method \"%s\", found %s", r->method,
			    found(c, fb));
	c->pos++;
	if (skip_cfws(c) < 0)
		return -1;
	if (at_end(c) || !is_kw_char(c->s[c->pos])) {
		if (check_no_8bit(c, "result") < 0)
			return -1;
		return fail(c, c->pos, "missing result for method \"%s\" (found %s)", r->method,
			    found(c, fb));
	}
	if (read_keyword(c, "result", r->result, sizeof r->result) < 0)
		return -1;
	return read_props(c, r, truncated);
}

int authres_parse(const char *value, size_t len, struct authres *ar_r, char *err, size_t errlen)
{
	struct cur c = { (const unsigned char *)value, len, 0, err, errlen };
	char fb[16];
	memset(ar_r, 0, sizeof *ar_r);
	ar_r->version = 1;
	if (err && errlen)
		err[0] = '\0';
	if (!value)
		return fail(&c, 0, "no header value");
	const char *nul = memchr(value, '\0', len);
	if (nul)
		return fail(&c, (size_t)(nul - value), "NUL byte");

	if (skip_cfws(&c) < 0 || read_authserv_id(&c, ar_r->authserv_id, sizeof ar_r->authserv_id) < 0 ||
	    skip_cfws(&c) < 0)
		return -1;
	if (!at_end(&c) && c.s[c.pos] >= '0' && c.s[c.pos] <= '9') {
		if (read_number(&c, "version", &ar_r->version) < 0 || skip_cfws(&c) < 0)
			return -1;
	}
	if (at_end(&c) || c.s[c.pos] != ';')
		return fail(&c, c.pos, "expected ';' after authserv-id, found %s", found(&c, fb));
	c.pos++;

	for (bool first = true;; first = false) {
		if (skip_cfws(&c) < 0)
			return -1;
		if (at_end(&c)) {
			if (first)
				return fail(&c, c.pos, "no result after ';'");
			return 0; /* tolerated trailing ';' */
		}
		struct authres_result r;
		memset(&r, 0, sizeof r);
		int rc = read_resinfo(&c, first, &r, &ar_r->truncated);
		if (rc < 0)
			return -1;
		if (rc == 1)
			return 0; /* "none" */
		if (ar_r->nres < AUTHRES_MAX_RESULTS)
			ar_r->res[ar_r->nres++] = r;
		else
			ar_r->truncated = true;
		if (at_end(&c))
			return 0;
		c.pos++; /* ';': read_props stops only there or at the end */
	}
}

/* ---- lenient authserv-id ---- */

/* a byte that can continue an unquoted authserv-id (8-bit counts: a
   different name) */
static bool is_id_char(unsigned char ch)
{
	return ch >= 0x80 || is_token_char(ch);
}

int authres_authserv_id(const char *value, size_t len, char *id_r, size_t idlen)
{
	const unsigned char *s = (const unsigned char *)value;
	size_t i = 0, n = 0;
	if (!value || !id_r || idlen == 0)
		return -1;
	id_r[0] = '\0';
	for (;;) {
		while (i < len && is_wsp(s[i]))
			i++;
		if (i >= len || s[i] != '(')
			break;
		size_t depth = 0; /* a counter only: no recursion, no bound needed */
		for (; i < len; i++) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '(')
				depth++;
			else if (s[i] == ')' && --depth == 0)
				break;
		}
		if (i >= len)
			return -1; /* unterminated comment */
		i++;
	}
	if (i >= len)
		return -1;
	if (s[i] == '"') {
		for (i++; i < len && s[i] != '"'; i++) {
			if (s[i] == '\\' && i + 1 < len)
				i++;
			else if (s[i] == '\r' || s[i] == '\n')
				continue;
			if (n + 1 >= idlen)
				return -1;
			id_r[n++] = (char)s[i];
		}
		if (i >= len)
			return -1; /* unterminated quote */
	} else {
		for (; i < len && is_id_char(s[i]); i++) {
			if (n + 1 >= idlen)
				return -1;
			id_r[n++] = (char)s[i];
		}
	}
	id_r[n] = '\0';
	return n ? 0 : -1;
}

static bool ascii_caseeq(const unsigned char *a, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ascii_lower(a[i]) != ascii_lower(b[i]))
			return false;
	return true;
}

bool authres_is_ours(const char *value, size_t len, const char *authserv_id)
{
	if (!value || !authserv_id || !*authserv_id)
		return false;
	size_t olen = strlen(authserv_id);
	char id[256];
	if (authres_authserv_id(value, len, id, sizeof id) == 0 && strlen(id) == olen &&
	    ascii_caseeq((const unsigned char *)id, (const unsigned char *)authserv_id, olen))
		return true;
	/* unreadable (unterminated quote, NUL inside, ...) but starts with our id */
	const unsigned char *s = (const unsigned char *)value;
	size_t i = 0;
	while (i < len && is_wsp(s[i]))
		i++;
	if (i < len && s[i] == '"')
		i++;
	if (len - i < olen || !ascii_caseeq(s + i, (const unsigned char *)authserv_id, olen))
		return false;
	i += olen;
	return i == len || !is_id_char(s[i]);
}

/* ---- builder ---- */

/* the output is bounded by the caps below; this only guards the arithmetic */
#define AUTHRES_BUILD_MAX (1024 * 1024)

struct ab_prop {
	char ptype[32];
	char property[64];
	char *value;
};

struct ab_result {
	char method[32];
	char result[32];
	char *reason;  /* NULL when absent */
	char *comment; /* NULL when absent */
	struct ab_prop props[AUTHRES_MAX_PROPS];
	size_t nprops;
};

struct authres_builder {
	char *authserv_id;
	struct ab_result *res; /* grown as results are added, up to AUTHRES_MAX_RESULTS */
	size_t nres, cap;
	bool last_ok; /* the last add was kept: props go to res[nres-1] */
};

/* keyword characters of s, lower-cased, into out[outsz] (cut to fit) */
static void clean_keyword(const char *s, char *out, size_t outsz)
{
	size_t n = 0;
	for (; s && *s && n + 1 < outsz; s++)
		if (is_kw_char((unsigned char)*s))
			out[n++] = (char)ascii_lower((unsigned char)*s);
	out[n] = '\0';
}

/*
 * Attacker text made safe for a header: controls become spaces, space runs
 * collapse, the ends are trimmed, invalid UTF-8 bytes become '?', and the
 * result is cut (on a character boundary) to fit max bytes.
 */
static char *clean_text(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);
	char *out = xmalloc(len + 1);
	size_t n = 0;
	bool space = false;
	for (size_t i = 0; i < len;) {
		unsigned char ch = p[i];
		if (ch <= 0x20 || ch == 0x7f) {
			space = n > 0;
			i++;
			continue;
		}
		size_t k = utf8_seq_len(p + i, len - i);
		const unsigned char *src = p + i;
		if (k == 0) {
			src = (const unsigned char *)"?";
			k = 1;
			i++;
		} else {
			i += k;
		}
		if (n + (space ? 1 : 0) + k > max)
			break;
		if (space)
			out[n++] = ' ';
		space = false;
		memcpy(out + n, src, k);
		n += k;
	}
	out[n] = '\0';
	return out;
}

struct authres_builder *authres_builder_new(const char *authserv_id)
{
	struct authres_builder *b = xcalloc(1, sizeof *b);
	b->cap = 6; /* spf, dkim, dmarc, arc and a few more, without regrowth */
	b->res = xreallocarray(NULL, b->cap, sizeof *b->res);
	b->authserv_id = clean_text(authserv_id ? authserv_id : "", 255);
	return b;
}

void authres_builder_add(struct authres_builder *b, const char *method, const char *result,
			 const char *reason, const char *comment)
{
	b->last_ok = false;
	if (b->nres >= AUTHRES_MAX_RESULTS)
		return;
	if (b->nres == b->cap) {
		b->cap = b->cap * 2 > AUTHRES_MAX_RESULTS ? AUTHRES_MAX_RESULTS : b->cap * 2;
		b->res = xreallocarray(b->res, b->cap, sizeof *b->res);
	}
	struct ab_result *r = &b->res[b->nres];
	clean_keyword(method, r->method, sizeof r->method);
	clean_keyword(result, r->result, sizeof r->result);
	if (!r->method[0] || !r->result[0])
		return;
	r->reason = reason ? clean_text(reason, 255) : NULL;
	r->comment = comment ? clean_text(comment, AUTHRES_COMMENT_MAX) : NULL;
	r->nprops = 0;
	b->nres++;
	b->last_ok = true;
}

void authres_builder_prop(struct authres_builder *b, const char *ptype, const char *property,
			  const char *value)
{
	if (!b->last_ok)
		return;
	struct ab_result *r = &b->res[b->nres - 1];
	if (r->nprops >= AUTHRES_MAX_PROPS)
		return;
	struct ab_prop *p = &r->props[r->nprops];
	clean_keyword(ptype, p->ptype, sizeof p->ptype);
	clean_keyword(property, p->property, sizeof p->property);
	if (!p->ptype[0] || !p->property[0])
		return;
	p->value = clean_text(value ? value : "", 511);
	r->nprops++;
}

void authres_builder_free(struct authres_builder **bp)
{
	struct authres_builder *b = *bp;
	if (!b)
		return;
	for (size_t i = 0; i < b->nres; i++) {
		xfree(b->res[i].reason);
		xfree(b->res[i].comment);
		for (size_t j = 0; j < b->res[i].nprops; j++)
			xfree(b->res[i].props[j].value);
	}
	xfree(b->res);
	xfree(b->authserv_id);
	*bp = xfree(b);
}

static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!is_token_char((unsigned char)*s))
			return false;
	return true;
}

/* RFC 5322 3.2.3 atext */
static bool is_atext(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return true;
	switch (ch) {
	case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
	case '/': case '=': case '?': case '^': case '_': case '`': case '{': case '|': case '}': case '~':
		return true;
	default:
		return false;
	}
}

static bool is_dot_atom(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return false;
		} else if (!is_atext((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

/* a domain-name as RFC 8601 pvalue allows it bare: LDH labels and dots */
static bool is_domain(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || s[0] == '.' || s[n - 1] == '.' || strstr(s, "..") != NULL)
		return false;
	for (; *s; s++)
		if (!is_kw_char((unsigned char)*s) && *s != '.')
			return false;
	return true;
}

static void put_quoted(struct buf *w, const char *s, size_t n)
{
	(void)buf_putc(w, '"');
	size_t i = 0;
	while (i < n) {
		size_t r = i;
		while (r < n && s[r] != '"' && s[r] != '\\')
			r++;
		(void)buf_append(w, s + i, r - i);
		if (r == n)
			break;
		(void)buf_putc(w, '\\');
		(void)buf_putc(w, s[r]);
		i = r + 1;
	}
	(void)buf_putc(w, '"');
}

/* value as token, or quoted-string (RFC 8601 2.2 "value") */
static void put_value(struct buf *w, const char *s)
{
	if (is_token(s))
		(void)buf_puts(w, s);
	else
		put_quoted(w, s, strlen(s));
}

/*
 * pvalue (RFC 8601 2.2): a token or [local-part] "@" domain go bare; an
 * address whose local-part is not a dot-atom gets only that part quoted
 * ("a b"@example.com); anything else is one quoted-string.
 */
static void put_pvalue(struct buf *w, const char *s)
{
	const char *at = strrchr(s, '@');
	if (is_token(s)) {
		(void)buf_puts(w, s);
		return;
	}
	if (at && is_domain(at + 1)) {
		size_t ln = (size_t)(at - s);
		if (ln == 0 || is_dot_atom(s, ln))
			(void)buf_append(w, s, ln);
		else
			put_quoted(w, s, ln);
		(void)buf_puts(w, at);
		return;
	}
	put_quoted(w, s, strlen(s));
}

struct layout {
	struct buf out;
	size_t col;
	const char *eol;
};

enum sep { SEP_GLUE, SEP_SPACE, SEP_LINE };

/* places one unbreakable word, folding before it when allowed and needed */
static void lay_word(struct layout *l, const char *w, size_t n, enum sep sep)
{
	if (sep == SEP_LINE || (sep == SEP_SPACE && l->col + 1 + n > AUTHRES_LINE_MAX)) {
		(void)buf_puts(&l->out, l->eol);
		(void)buf_putc(&l->out, '\t');
		l->col = 1;
	} else if (sep == SEP_SPACE) {
		(void)buf_putc(&l->out, ' ');
		l->col++;
	}
	(void)buf_append(&l->out, w, n);
	l->col += n;
}

/* "(comment)" split at its spaces so it can fold; parens and '\' escaped;
   suffix (";" or "") sticks to the closing parenthesis */
static void lay_comment(struct layout *l, const char *text, const char *suffix)
{
	struct buf w = BUF_INIT(0);
	const char *p = text;
	(void)buf_putc(&w, '(');
	while (*p) {
		const char *e = strchr(p, ' ');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		for (size_t i = 0; i < n;) {
			size_t r = i;
			while (r < n && p[r] != '(' && p[r] != ')' && p[r] != '\\')
				r++;
			(void)buf_append(&w, p + i, r - i);
			if (r == n)
				break;
			(void)buf_putc(&w, '\\');
			(void)buf_putc(&w, p[r]);
			i = r + 1;
		}
		if (!e) {
			(void)buf_putc(&w, ')');
			(void)buf_puts(&w, suffix);
		}
		lay_word(l, buf_cstr(&w), w.len, SEP_SPACE);
		buf_reset(&w);
		p += n + (e ? 1 : 0);
	}
	buf_free(&w);
}

char *authres_builder_finish(struct authres_builder **bp, const char *eol)
{
	struct authres_builder *b = *bp;
	struct layout l = { BUF_INIT(AUTHRES_BUILD_MAX), AUTHRES_NAME_COLUMN, "\r\n" };
	struct buf w = BUF_INIT(0);
	if (eol && strcmp(eol, "\n") == 0)
		l.eol = "\n";

	put_value(&w, b->authserv_id[0] ? b->authserv_id : "unknown");
	(void)buf_putc(&w, ';');
	lay_word(&l, buf_cstr(&w), w.len, SEP_GLUE);
	if (b->nres == 0)
		lay_word(&l, "none", 4, SEP_SPACE);
	for (size_t i = 0; i < b->nres; i++) {
		const struct ab_result *r = &b->res[i];
		bool last = i + 1 == b->nres;
		/* the ';' sticks to the last word of each result */
		size_t words = 1 + (r->reason ? 1 : 0) + r->nprops;
		buf_reset(&w);
		(void)buf_puts(&w, r->method);
		(void)buf_putc(&w, '=');
		(void)buf_puts(&w, r->result);
		if (!last && words == 1 && !(r->comment && r->comment[0]))
			(void)buf_putc(&w, ';');
		lay_word(&l, buf_cstr(&w), w.len, SEP_LINE);
		if (r->comment && r->comment[0]) {
			lay_comment(&l, r->comment, !last && words == 1 ? ";" : "");
		}
		if (r->reason) {
			buf_reset(&w);
			(void)buf_puts(&w, "reason=");
			put_value(&w, r->reason);
			if (!last && r->nprops == 0)
				(void)buf_putc(&w, ';');
			lay_word(&l, buf_cstr(&w), w.len, SEP_SPACE);
		}
		for (size_t j = 0; j < r->nprops; j++) {
			buf_reset(&w);
			(void)buf_puts(&w, r->props[j].ptype);
			(void)buf_putc(&w, '.');
			(void)buf_puts(&w, r->props[j].property);
			(void)buf_putc(&w, '=');
			put_pvalue(&w, r->props[j].value);
			if (!last && j + 1 == r->nprops)
				(void)buf_putc(&w, ';');
			lay_word(&l, buf_cstr(&w), w.len, SEP_SPACE);
		}
	}
	buf_free(&w);
	authres_builder_free(bp);
	return buf_steal(&l.out, NULL);
}
