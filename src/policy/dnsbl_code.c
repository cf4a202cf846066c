/* inbound: the dnsbl.zones code string parser (see inbound.h). Config text
   is trusted less than code: any byte string is handled. */
#include "policy/inbound.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* longest code token we accept ("127.255.255.255/32" or "mask:0xffffff") */
#define CODE_TOKEN_MAX 40

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* copies the next blank-separated token of at most max-1 bytes into out;
   returns the position after it, or NULL when it is empty or too long */
static const char *token(const char *s, char *out, size_t max)
{
	while (is_space(*s))
		s++;
	size_t n = 0;
	while (s[n] != '\0' && !is_space(s[n]))
		n++;
	if (n == 0 || n >= max)
		return NULL;
	memcpy(out, s, n);
	out[n] = '\0';
	return s + n;
}

/* a decimal number (no sign) in 0..max; false on anything else */
static bool parse_uint(const char *s, unsigned long max, int base, unsigned long *v_r)
{
	if (*s == '\0')
		return false;
	for (const char *p = s; *p; p++) {
		bool ok =
		    (*p >= '0' && *p <= '9') || (base == 16 && ((*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')));
		if (!ok)
			return false;
	}
	errno = 0;
	char *end;
	unsigned long v = strtoul(s, &end, base);
	if (errno != 0 || *end != '\0' || v > max)
		return false;
	*v_r = v;
	return true;
}

static int parse_match(const char *tok, struct dnsbl_code *c, char *err, size_t errlen)
{
	if (strncmp(tok, "mask:", 5) == 0) {
		const char *bits = tok + 5;
		unsigned long v;
		bool ok = strncmp(bits, "0x", 2) == 0 || strncmp(bits, "0X", 2) == 0
		              ? parse_uint(bits + 2, 0xffffff, 16, &v)
		              : parse_uint(bits, 0xffffff, 10, &v);
		if (!ok || v == 0) {
			seterr(err, errlen, "\"%s\": mask bits must be 1..0xffffff", tok);
			return -1;
		}
		c->bitmask = true;
		c->bits = (uint32_t)v;
		return 0;
	}
	char addr[CODE_TOKEN_MAX];
	snprintf(addr, sizeof addr, "%s", tok);
	char *slash = strchr(addr, '/');
	unsigned long prefix = 0;
	if (slash != NULL) {
		*slash = '\0';
		if (!parse_uint(slash + 1, 32, 10, &prefix) || prefix < 8) {
			seterr(err, errlen, "\"%s\": prefix must be 8..32", tok);
			return -1;
		}
	}
	if (ip_parse(addr, &c->value) < 0 || c->value.family != AF_INET) {
		seterr(err, errlen, "\"%s\": not an IPv4 address or mask:BITS", tok);
		return -1;
	}
	if (c->value.a[0] != 127) {
		seterr(err, errlen, "\"%s\": DNSBL answers lie in 127.0.0.0/8 (RFC 5782 2.1)", tok);
		return -1;
	}
	c->prefix = (unsigned)prefix;
	return 0;
}

int inbound_dnsbl_code_parse(const char *s, struct dnsbl_code *code_r, char *meaning_r, size_t meaning_len, char *err,
                             size_t errlen)
{
	memset(code_r, 0, sizeof *code_r);
	if (meaning_r != NULL && meaning_len > 0)
		meaning_r[0] = '\0';
	if (s == NULL) {
		seterr(err, errlen, "empty code");
		return -1;
	}
	char tok[CODE_TOKEN_MAX];
	const char *p = token(s, tok, sizeof tok);
	if (p == NULL) {
		seterr(err, errlen, "\"%.60s\": expected ADDRESS[/PREFIX] or mask:BITS first", s);
		return -1;
	}
	if (parse_match(tok, code_r, err, errlen) < 0)
		return -1;
	p = token(p, tok, sizeof tok);
	if (p == NULL) {
		seterr(err, errlen, "\"%.60s\": expected an action (reject, quarantine or score:N)", s);
		return -1;
	}
	if (strcmp(tok, "reject") == 0) {
		code_r->action = 2;
		code_r->score = INBOUND_W_DNSBL;
	} else if (strcmp(tok, "quarantine") == 0) {
		code_r->action = 1;
		code_r->score = INBOUND_W_DNSBL;
	} else if (strncmp(tok, "score:", 6) == 0) {
		unsigned long n;
		if (!parse_uint(tok + 6, 1000, 10, &n)) {
			seterr(err, errlen, "\"%s\": score must be 0..1000", tok);
			return -1;
		}
		code_r->action = 0;
		code_r->score = (int)n;
	} else {
		seterr(err, errlen, "\"%.40s\": unknown action (reject, quarantine or score:N)", tok);
		return -1;
	}
	while (is_space(*p))
		p++;
	size_t n = strlen(p);
	while (n > 0 && is_space(p[n - 1]))
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch < 0x20 || ch == 0x7f) {
			seterr(err, errlen, "meaning contains a control character");
			return -1;
		}
	}
	if (meaning_r != NULL && meaning_len > 0) {
		if (n >= meaning_len)
			n = meaning_len - 1;
		memcpy(meaning_r, p, n);
		meaning_r[n] = '\0';
		code_r->meaning = meaning_r;
	}
	return 0;
}
