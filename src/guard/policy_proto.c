/*
 * policy_proto: Postfix policy delegation protocol parser and reply
 * formatter. See policy_proto.h for the rules; this file keeps one line
 * buffer, the request under construction and a small FIFO of finished ones.
 */
#include "guard/policy_proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"

enum attr_kind {
	A_STR,  /* over-long is an error */
	A_DESC, /* over-long is cut, setting truncated */
	A_U32,
	A_U64,
};

struct attr_def {
	const char *name;
	size_t off;
	size_t size; /* field size (strings) */
	enum attr_kind kind;
};

#define STR(f) { #f, offsetof(struct policy_request, f), sizeof(((struct policy_request *)0)->f), A_STR }
#define DESC(f) { #f, offsetof(struct policy_request, f), sizeof(((struct policy_request *)0)->f), A_DESC }
#define U32(f) { #f, offsetof(struct policy_request, f), 0, A_U32 }
#define U64(f) { #f, offsetof(struct policy_request, f), 0, A_U64 }

static const struct attr_def attrs[] = {
	STR(request),
	STR(protocol_state),
	STR(protocol_name),
	STR(queue_id),
	STR(instance),
	STR(sender),
	STR(recipient),
	STR(client_address),
	STR(server_address),
	STR(sasl_method),
	STR(sasl_username),
	STR(sasl_sender),
	STR(stress),
	U32(recipient_count),
	U32(client_port),
	U32(server_port),
	U32(encryption_keysize),
	U64(size),
	DESC(helo_name),
	DESC(client_name),
	DESC(reverse_client_name),
	DESC(etrn_domain),
	DESC(ccert_subject),
	DESC(ccert_issuer),
	DESC(ccert_fingerprint),
	DESC(ccert_pubkey_fingerprint),
	DESC(encryption_protocol),
	DESC(encryption_cipher),
	DESC(policy_context),
	DESC(compatibility_level),
	DESC(mail_version),
};

/* a line may end in "\r\n": one extra byte for the CR */
#define LINE_BUF (POLICY_MAX_LINE + 1)
#define PENDING_MAX POLICY_MAX_PENDING

struct policy_parser {
	char line[LINE_BUF];
	size_t linelen;
	struct policy_request cur;
	size_t cur_bytes;  /* bytes of the current request so far */
	bool have_request; /* a non-empty request= was seen */
	struct policy_request queue[PENDING_MAX];
	size_t qhead, qlen;
	bool failed;
	char reason[160];
};

struct policy_parser *policy_parser_new(void)
{
	return xcalloc(1, sizeof(struct policy_parser));
}

void policy_parser_free(struct policy_parser **p)
{
	if (p && *p)
		*p = xfree(*p);
}

bool policy_parser_partial(const struct policy_parser *p)
{
	return !p->failed && (p->linelen > 0 || p->cur_bytes > 0);
}

static int fail(struct policy_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct policy_parser *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->reason, sizeof p->reason, fmt, ap);
	va_end(ap);
	p->failed = true;
	p->qlen = 0;
	return -1;
}

static void reset_cur(struct policy_parser *p)
{
	memset(&p->cur, 0, sizeof p->cur);
	p->cur_bytes = 0;
	p->have_request = false;
}

static bool name_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '-' || c == '.';
}

/* strict decimal, empty = 0; -1 on a non-digit or a value above max */
static int parse_num(const char *s, size_t n, uint64_t max, uint64_t *v_r)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*v_r = v;
	return 0;
}

/* one complete attribute line (no newline, CR already stripped) */
static int take_line(struct policy_parser *p, const char *s, size_t n)
{
	unsigned lineno = p->cur.nattrs + 1;
	if (memchr(s, '\r', n))
		return fail(p, "policy request line %u: stray CR", lineno);
	if (p->cur.nattrs >= POLICY_MAX_ATTRS)
		return fail(p, "policy request has more than %d attributes", POLICY_MAX_ATTRS);
	p->cur.nattrs++;
	const char *eq = memchr(s, '=', n);
	if (!eq)
		return fail(p, "policy request line %u: no '=' (expected name=value)", lineno);
	size_t nl = (size_t)(eq - s);
	if (nl == 0)
		return fail(p, "policy request line %u: empty attribute name", lineno);
	if (nl > POLICY_MAX_NAME)
		return fail(p, "policy request line %u: attribute name longer than %d bytes", lineno,
			    POLICY_MAX_NAME);
	for (size_t i = 0; i < nl; i++)
		if (!name_char_ok((unsigned char)s[i]))
			return fail(p, "policy request line %u: bad byte 0x%02x in attribute name", lineno,
				    (unsigned char)s[i]);
	const char *val = eq + 1;
	size_t vl = n - nl - 1;

	const struct attr_def *a = NULL;
	for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
		if (strlen(attrs[i].name) == nl && memcmp(attrs[i].name, s, nl) == 0) {
			a = &attrs[i];
			break;
		}
	if (!a)
		return 0; /* unknown: ignored (README: "ignore any attributes it does not care about") */

	char *base = (char *)&p->cur;
	uint64_t v;
	switch (a->kind) {
	case A_STR:
		if (vl >= a->size)
			return fail(p, "policy attribute %s: value of %zu bytes exceeds %zu", a->name, vl,
				    a->size - 1);
		memcpy(base + a->off, val, vl);
		base[a->off + vl] = '\0';
		break;
	case A_DESC:
		if (vl >= a->size) {
			vl = a->size - 1;
			p->cur.truncated = true;
		}
		memcpy(base + a->off, val, vl);
		base[a->off + vl] = '\0';
		break;
	case A_U32:
		if (parse_num(val, vl, UINT32_MAX, &v) != 0)
			return fail(p, "policy attribute %s: not a decimal number below 2^32", a->name);
		*(unsigned *)(void *)(base + a->off) = (unsigned)v;
		break;
	case A_U64:
		if (parse_num(val, vl, UINT64_MAX, &v) != 0)
			return fail(p, "policy attribute %s: not a decimal number below 2^64", a->name);
		*(uint64_t *)(void *)(base + a->off) = v;
		break;
	}
	if (a->off == offsetof(struct policy_request, request))
		p->have_request = vl > 0;
	return 0;
}

/* the empty line: the request is complete */
static int end_request(struct policy_parser *p)
{
	if (p->cur.nattrs == 0)
		return fail(p, "empty policy request (blank line with no attributes)");
	if (!p->have_request)
		return fail(p, "policy request without a request= attribute");
	if (p->qlen >= PENDING_MAX)
		return fail(p, "more than %d policy requests sent without waiting for replies", PENDING_MAX);
	p->queue[(p->qhead + p->qlen) % PENDING_MAX] = p->cur;
	p->qlen++;
	reset_cur(p);
	return 0;
}

static int end_line(struct policy_parser *p)
{
	size_t n = p->linelen;
	p->linelen = 0;
	if (n > 0 && p->line[n - 1] == '\r')
		n--;
	if (n > POLICY_MAX_LINE)
		return fail(p, "policy request line longer than %d bytes", POLICY_MAX_LINE);
	if (n == 0)
		return end_request(p);
	return take_line(p, p->line, n);
}

int policy_parser_feed(struct policy_parser *p, const char *data, size_t len, char *err,
		       size_t errlen)
{
	size_t i = 0;
	while (!p->failed && i < len) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t seg = nl ? (size_t)(nl - (data + i)) : len - i;
		/* bytes of this request so far, the newline included */
		size_t add = seg + (nl ? 1 : 0);
		/*
		 * The first offending byte decides the error, by its position in
		 * the stream, so the outcome never depends on how the stream was
		 * split into reads (ties: NUL, then line, then request length).
		 */
		const char *z = memchr(data + i, '\0', seg);
		size_t bad = z ? (size_t)(z - (data + i)) : SIZE_MAX;
		enum { BAD_NUL, BAD_LINE, BAD_REQ } kind = BAD_NUL;
		size_t line_room = LINE_BUF - p->linelen;
		size_t req_room = POLICY_MAX_REQUEST - p->cur_bytes;
		if (seg > line_room && line_room < bad) {
			bad = line_room;
			kind = BAD_LINE;
		}
		if (add > req_room && req_room < bad) {
			bad = req_room;
			kind = BAD_REQ;
		}
		if (bad != SIZE_MAX) {
			if (kind == BAD_NUL)
				fail(p, "NUL byte in policy request line %u", p->cur.nattrs + 1);
			else if (kind == BAD_LINE)
				fail(p, "policy request line longer than %d bytes", POLICY_MAX_LINE);
			else
				fail(p, "policy request longer than %d bytes", POLICY_MAX_REQUEST);
			break;
		}
		p->cur_bytes += add;
		memcpy(p->line + p->linelen, data + i, seg);
		p->linelen += seg;
		i += add;
		if (nl && end_line(p) != 0)
			break;
	}
	if (p->failed) {
		if (errlen > 0)
			snprintf(err, errlen, "%s", p->reason);
		return -1;
	}
	return (int)p->qlen;
}

bool policy_parser_next(struct policy_parser *p, struct policy_request *req_r)
{
	if (p->failed || p->qlen == 0)
		return false;
	*req_r = p->queue[p->qhead];
	p->qhead = (p->qhead + 1) % PENDING_MAX;
	p->qlen--;
	return true;
}

static bool action_ok(const char *a)
{
	size_t n = strlen(a);
	if (n == 0 || n > POLICY_MAX_ACTION)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char_ok((unsigned char)a[i]))
			return false;
	return true;
}

size_t policy_reply_format(char *out, size_t outlen, const char *action, const char *text)
{
	if (outlen > 0)
		out[0] = '\0';
	if (!action || !action_ok(action))
		return 0;
	size_t al = strlen(action);
	size_t tl = text ? strnlen(text, POLICY_MAX_REPLY_TEXT) : 0;
	/* "action=" + action + (" " + text) + "\n\n" + NUL */
	size_t need = 7 + al + (tl ? 1 + tl : 0) + 2 + 1;
	if (outlen < need)
		return 0;
	size_t o = 0;
	memcpy(out, "action=", 7);
	o = 7;
	memcpy(out + o, action, al);
	o += al;
	if (tl) {
		out[o++] = ' ';
		for (size_t i = 0; i < tl; i++) {
			unsigned char c = (unsigned char)text[i];
			out[o++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
		}
	}
	out[o++] = '\n';
	out[o++] = '\n';
	out[o] = '\0';
	return o;
}
