#include "auth/address.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/*
 * A small lexer over RFC 5322 3.2 lexical tokens, with CFWS dropped between
 * tokens (each token remembers the last comment before it, for the old
 * "addr (Full Name)" style), and a recursive-descent-free parser on top: an
 * element is scanned up to its delimiter first, which decides whether it
 * is a name-addr, an addr-spec or a group, and is then re-read from its
 * start. All loops advance by at least one byte, so every input ends.
 */

enum tok_kind { T_END, T_ATOM, T_QSTR, T_DLIT, T_SPECIAL, T_BAD };

struct tok {
	enum tok_kind kind;
	const char *p; /* the token's bytes (quotes and brackets included) */
	size_t n;
	char c; /* T_SPECIAL: the character */
	const char *why; /* T_BAD: reason */
	const char *cmt; /* text of the last comment before this token, or NULL */
	size_t cmt_n;
};

struct lexer {
	const char *s;
	size_t len, pos;
	bool have_peek;
	struct tok peek;
};

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_special(unsigned char c)
{
	return c == '(' || c == ')' || c == '<' || c == '>' || c == '[' || c == ']' || c == ':' || c == ';' ||
	       c == '@' || c == '\\' || c == ',' || c == '.' || c == '"';
}

static bool is_atext(unsigned char c)
{
	if (c >= 0x80)
		return true; /* RFC 6532 UTF-8; validated later where it matters */
	return c > 0x20 && c < 0x7f && !is_special(c);
}

static void lex_scan(struct lexer *lx, struct tok *t)
{
	memset(t, 0, sizeof *t);
	for (;;) {
		while (lx->pos < lx->len && is_ws((unsigned char)lx->s[lx->pos]))
			lx->pos++;
		if (lx->pos >= lx->len || lx->s[lx->pos] != '(')
			break;
		/* comment: nested parentheses, quoted-pairs */
		size_t start = ++lx->pos;
		unsigned depth = 1;
		while (lx->pos < lx->len && depth > 0) {
			char c = lx->s[lx->pos++];
			if (c == '\\' && lx->pos < lx->len)
				lx->pos++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		}
		if (depth > 0) {
			t->kind = T_BAD;
			t->why = "unterminated comment";
			t->p = lx->s + start - 1;
			t->n = lx->pos - start + 1;
			return;
		}
		t->cmt = lx->s + start;
		t->cmt_n = lx->pos - 1 - start;
	}
	if (lx->pos >= lx->len) {
		t->kind = T_END;
		t->p = lx->s + lx->len;
		return;
	}
	size_t start = lx->pos;
	unsigned char c = (unsigned char)lx->s[lx->pos];
	t->p = lx->s + start;
	if (c == '"' || c == '[') {
		char close = c == '"' ? '"' : ']';
		lx->pos++;
		bool done = false;
		while (lx->pos < lx->len) {
			char d = lx->s[lx->pos++];
			if (d == '\\' && lx->pos < lx->len) {
				lx->pos++;
			} else if (d == close) {
				done = true;
				break;
			} else if (c == '[' && d == '[') {
				break;
			}
		}
		t->n = lx->pos - start;
		if (!done) {
			t->kind = T_BAD;
			t->why = c == '"' ? "unterminated quoted string" : "malformed domain literal";
			return;
		}
		t->kind = c == '"' ? T_QSTR : T_DLIT;
		return;
	}
	if (c == '<' || c == '>' || c == ':' || c == ';' || c == '@' || c == ',' || c == '.') {
		lx->pos++;
		t->kind = T_SPECIAL;
		t->c = (char)c;
		t->n = 1;
		return;
	}
	if (is_atext(c)) {
		while (lx->pos < lx->len && is_atext((unsigned char)lx->s[lx->pos]))
			lx->pos++;
		t->kind = T_ATOM;
		t->n = lx->pos - start;
		return;
	}
	lx->pos++;
	t->kind = T_BAD;
	t->n = 1;
	t->why = c == ')' ? "unbalanced ')'" : c == ']' ? "stray ']'" : c == '\\' ? "stray backslash"
									   : "control character";
}

static const struct tok *lex_peek(struct lexer *lx)
{
	if (!lx->have_peek) {
		lex_scan(lx, &lx->peek);
		lx->have_peek = true;
	}
	return &lx->peek;
}

static struct tok lex_take(struct lexer *lx)
{
	lex_peek(lx);
	lx->have_peek = false;
	return lx->peek;
}

static bool tok_is(const struct tok *t, char c)
{
	return t->kind == T_SPECIAL && t->c == c;
}

/* --- bounded output strings --- */

struct out {
	char *buf;
	size_t cap, len;
	bool overflow;
};

static void out_init(struct out *o, char *buf, size_t cap)
{
	o->buf = buf;
	o->cap = cap;
	o->len = 0;
	o->overflow = false;
	if (cap > 0)
		buf[0] = '\0';
}

static void out_putc(struct out *o, char c)
{
	if (o->cap == 0 || o->len + 1 >= o->cap) {
		o->overflow = true;
		return;
	}
	o->buf[o->len++] = c;
	o->buf[o->len] = '\0';
}

/* appends a token's text; quoted strings and domain literals without their
   quoting (literals keep brackets), quoted-pairs undone */
static void out_tok(struct out *o, const struct tok *t, bool keep_brackets)
{
	if (t->kind == T_QSTR || (t->kind == T_DLIT && !keep_brackets)) {
		for (size_t i = 1; i + 1 < t->n; i++) {
			char c = t->p[i];
			if (c == '\\' && i + 2 < t->n)
				c = t->p[++i];
			else if (c == '\r' || c == '\n')
				continue; /* unfold */
			out_putc(o, c == '\t' ? ' ' : c);
		}
		return;
	}
	for (size_t i = 0; i < t->n; i++)
		out_putc(o, t->p[i]);
}

/* copies a comment's text into a display name, runs of white space made one */
static void out_comment(struct out *o, const char *p, size_t n)
{
	bool sp = false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == '\\' && i + 1 < n)
			c = p[++i];
		else if (is_ws((unsigned char)c)) {
			sp = o->len > 0;
			continue;
		}
		if (sp)
			out_putc(o, ' ');
		sp = false;
		out_putc(o, c);
	}
}

/* --- the parser --- */

struct parser {
	struct lexer lx;
	struct mailbox *out;
	size_t max, n;
	bool truncated;  /* more mailboxes than max */
	char *err;
	size_t errlen;
};

static void perr(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void perr(struct parser *ps, const char *fmt, ...)
{
	if (ps->errlen == 0 || ps->err[0] != '\0')
		return; /* keep the first */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ps->err, ps->errlen, fmt, ap);
	va_end(ap);
}

/* skips to the next ',' (or ';' inside a group) without consuming it */
static void resync(struct parser *ps, bool in_group)
{
	for (;;) {
		const struct tok *t = lex_peek(&ps->lx);
		if (t->kind == T_END || tok_is(t, ',') || (in_group && tok_is(t, ';')))
			return;
		lex_take(&ps->lx);
	}
}

/* reads a domain (dot-atom, obs-domain or domain-literal) into mb->domain;
   returns 0 or -1 with err set */
static int parse_domain(struct parser *ps, struct out *d)
{
	const struct tok *t = lex_peek(&ps->lx);
	if (t->kind == T_DLIT) {
		struct tok lit = lex_take(&ps->lx);
		out_tok(d, &lit, true);
		if (d->overflow) {
			perr(ps, "domain literal too long");
			return -1;
		}
		return 0;
	}
	if (t->kind != T_ATOM) {
		perr(ps, "domain expected after '@'");
		return -1;
	}
	for (;;) {
		struct tok a = lex_take(&ps->lx);
		for (size_t i = 0; i < a.n; i++) {
			unsigned char c = (unsigned char)a.p[i];
			out_putc(d, (char)(c >= 'A' && c <= 'Z' ? c + 32 : c));
		}
		if (!tok_is(lex_peek(&ps->lx), '.'))
			break;
		lex_take(&ps->lx);
		if (lex_peek(&ps->lx)->kind != T_ATOM)
			break; /* a trailing dot (absolute name) ends the domain */
		out_putc(d, '.');
	}
	if (tok_is(lex_peek(&ps->lx), '.')) {
		perr(ps, "empty label in domain");
		return -1;
	}
	if (d->overflow) {
		perr(ps, "domain too long");
		return -1;
	}
	return 0;
}

/* local-part tokens (words and dots) up to '@'; returns 0 at '@' */
static int parse_local(struct parser *ps, struct out *l)
{
	for (;;) {
		const struct tok *t = lex_peek(&ps->lx);
		if (tok_is(t, '@'))
			return 0;
		if (t->kind == T_ATOM || t->kind == T_QSTR || tok_is(t, '.')) {
			struct tok w = lex_take(&ps->lx);
			out_tok(l, &w, false);
			continue;
		}
		if (t->kind == T_BAD)
			perr(ps, "%s", t->why);
		else if (tok_is(t, '>'))
			perr(ps, "address without domain in angle brackets");
		else
			perr(ps, "unexpected character in local-part");
		return -1;
	}
}

/* after '<': [route] addr-spec '>' */
static int parse_angle(struct parser *ps, struct mailbox *mb)
{
	struct out l, d;
	out_init(&l, mb->local, sizeof mb->local);
	out_init(&d, mb->domain, sizeof mb->domain);
	if (tok_is(lex_peek(&ps->lx), '>')) {
		perr(ps, "empty address <>");
		return -1;
	}
	if (tok_is(lex_peek(&ps->lx), '@')) {
		/* obs-route: "@a,@b:" (RFC 5322 4.4), ignored */
		char scratch[ADDRESS_MAX_FIELD];
		for (;;) {
			const struct tok *t = lex_peek(&ps->lx);
			if (tok_is(t, ':')) {
				lex_take(&ps->lx);
				break;
			}
			if (tok_is(t, ',')) {
				lex_take(&ps->lx);
				continue;
			}
			if (!tok_is(t, '@')) {
				perr(ps, "malformed source route");
				return -1;
			}
			lex_take(&ps->lx);
			struct out r;
			out_init(&r, scratch, sizeof scratch);
			if (parse_domain(ps, &r) < 0)
				return -1;
		}
	}
	if (parse_local(ps, &l) < 0)
		return -1;
	lex_take(&ps->lx); /* '@' */
	if (parse_domain(ps, &d) < 0)
		return -1;
	if (!tok_is(lex_peek(&ps->lx), '>')) {
		perr(ps, "'>' expected after address");
		return -1;
	}
	lex_take(&ps->lx);
	return 0;
}

static void keep_mailbox(struct parser *ps, const struct mailbox *mb)
{
	if (ps->n < ps->max)
		ps->out[ps->n++] = *mb;
	else
		ps->truncated = true;
}

/* builds a display name from the tokens from saved up to stop: one space
   where the source had white space or comments between tokens */
static void build_display(struct lexer saved, char stop, struct out *o)
{
	struct lexer lx = saved;
	const char *prev_end = NULL;
	for (;;) {
		const struct tok *t = lex_peek(&lx);
		if (t->kind == T_END || t->kind == T_BAD || tok_is(t, stop))
			break;
		struct tok w = lex_take(&lx);
		if (prev_end != NULL && w.p > prev_end)
			out_putc(o, ' ');
		out_tok(o, &w, true);
		prev_end = w.p + w.n;
	}
}

static void parse_list(struct parser *ps, bool in_group);

/*
 * One address (mailbox or group) at the current position. Returns after
 * leaving the lexer on the delimiter (',' ';' or end).
 */
static void parse_address(struct parser *ps, bool in_group)
{
	struct lexer start = ps->lx;
	/* scan to the delimiter to learn the element's shape */
	bool saw_at = false, saw_lt = false, saw_colon = false, bad = false, words = false;
	const char *why = NULL;
	for (;;) {
		const struct tok *t = lex_peek(&ps->lx);
		if (t->kind == T_END || tok_is(t, ',') || tok_is(t, ';'))
			break;
		if (tok_is(t, '<')) {
			saw_lt = true;
			break;
		}
		if (tok_is(t, ':') && !saw_at) {
			saw_colon = true;
			break;
		}
		if (t->kind == T_BAD) {
			bad = true;
			why = t->why;
			break;
		}
		if (tok_is(t, '@'))
			saw_at = true;
		else if (tok_is(t, '>') || tok_is(t, ':')) {
			bad = true;
			why = tok_is(t, '>') ? "stray '>'" : "stray ':'";
			break;
		} else if (!tok_is(t, '.'))
			words = true;
		lex_take(&ps->lx);
	}
	if (bad) {
		perr(ps, "%s", why);
		if (!saw_at || saw_lt || saw_colon) {
			resync(ps, in_group);
			return;
		}
		/* "a@b.example<junk>": keep what reads as an address before the
		   junk, so that a domain cannot be hidden by appending garbage */
	}

	struct mailbox scratch;
	struct mailbox *mb = &scratch;
	memset(mb, 0, sizeof *mb);
	struct out disp;
	out_init(&disp, mb->display, sizeof mb->display);

	if (saw_lt) {
		/* name-addr: everything before '<' is the display name, even an
		   unquoted "a@b" (a common malformation that MUAs show as a name) */
		build_display(start, '<', &disp);
		lex_take(&ps->lx); /* '<' */
		if (parse_angle(ps, mb) < 0) {
			resync(ps, in_group);
			return;
		}
	} else if (saw_colon) {
		if (in_group) {
			perr(ps, "group inside a group");
			lex_take(&ps->lx);
			resync(ps, in_group);
			return;
		}
		lex_take(&ps->lx); /* ':' */
		parse_list(ps, true);
		return;
	} else if (saw_at) {
		/* addr-spec: re-read from the start */
		ps->lx = start;
		struct out l, d;
		out_init(&l, mb->local, sizeof mb->local);
		out_init(&d, mb->domain, sizeof mb->domain);
		if (parse_local(ps, &l) < 0) {
			resync(ps, in_group);
			return;
		}
		lex_take(&ps->lx); /* '@' */
		if (parse_domain(ps, &d) < 0) {
			resync(ps, in_group);
			return;
		}
	} else {
		if (words) {
			struct out w;
			char tmp[64];
			out_init(&w, tmp, sizeof tmp);
			build_display(start, ',', &w);
			perr(ps, "no domain in address \"%s\"", tmp);
		}
		return; /* empty element (obs-mbox-list) or a bare word */
	}

	/* what follows must end the element */
	const struct tok *t = lex_peek(&ps->lx);
	if (disp.len == 0 && t->cmt != NULL)
		out_comment(&disp, t->cmt, t->cmt_n);
	if (!(t->kind == T_END || tok_is(t, ',') || (in_group && tok_is(t, ';')))) {
		/* keep it, and go on reading what follows as another address:
		   a second domain hidden behind junk must not evade checks */
		perr(ps, "unexpected text after address %.64s@%.64s", mb->local, mb->domain);
		keep_mailbox(ps, mb);
		return;
	}
	keep_mailbox(ps, mb);
}

/*
 * address-list (top level) or a group's mailbox-list (ends at ';', which
 * is consumed). Empty elements are skipped (obs-mbox-list).
 */
static void parse_list(struct parser *ps, bool in_group)
{
	for (;;) {
		const struct tok *t = lex_peek(&ps->lx);
		if (t->kind == T_END) {
			if (in_group)
				perr(ps, "group not closed with ';'");
			return;
		}
		if (tok_is(t, ',')) {
			lex_take(&ps->lx);
			continue;
		}
		if (tok_is(t, ';')) {
			lex_take(&ps->lx);
			if (in_group)
				return;
			perr(ps, "stray ';'");
			continue;
		}
		size_t before = ps->lx.pos;
		parse_address(ps, in_group);
		if (ps->lx.pos == before && ps->lx.have_peek && lex_peek(&ps->lx)->kind != T_END &&
		    !tok_is(lex_peek(&ps->lx), ',') && !tok_is(lex_peek(&ps->lx), ';'))
			lex_take(&ps->lx); /* never stall */
	}
}

static size_t run_parser(const char *value, size_t len, struct mailbox *out, size_t max, char *err,
			 size_t errlen, bool *truncated_r)
{
	struct parser ps = {
		.lx = { .s = value ? value : "", .len = value ? len : 0 },
		.out = out,
		.max = max,
		.err = err,
		.errlen = errlen,
	};
	if (errlen > 0)
		err[0] = '\0';
	parse_list(&ps, false);
	*truncated_r = ps.truncated;
	return ps.n;
}

size_t address_parse_mailboxes(const char *value, size_t len, struct mailbox *out, size_t max, char *err,
			       size_t errlen)
{
	bool trunc = false;
	size_t n = run_parser(value, len, out, max, err, errlen, &trunc);
	if (trunc && errlen > 0 && err[0] == '\0')
		snprintf(err, errlen, "more than %zu mailboxes", max);
	return n;
}

/* mailboxes parsed per From value for address_from_domains(); a From with
   more is hostile, and the first ones are what DMARC needs */
#define ADDRESS_MAX_SCAN 32

size_t address_from_domains(const char *value, size_t len, char domains_r[][ADDRESS_MAX_FIELD], size_t max,
			    char *err, size_t errlen)
{
	struct mailbox mb[ADDRESS_MAX_SCAN];
	bool trunc = false;
	size_t n = run_parser(value, len, mb, ADDRESS_MAX_SCAN, err, errlen, &trunc);
	size_t k = 0;
	bool more = trunc;
	for (size_t i = 0; i < n; i++) {
		const char *d = mb[i].domain;
		if (d[0] == '[') {
			if (errlen > 0 && err[0] == '\0')
				snprintf(err, errlen, "domain literal %.64s has no DMARC policy", d);
			continue;
		}
		bool dup = false;
		for (size_t j = 0; j < k && !dup; j++)
			dup = strcmp(domains_r[j], d) == 0;
		if (dup)
			continue;
		if (k == max) {
			more = true;
			continue;
		}
		memcpy(domains_r[k++], d, ADDRESS_MAX_FIELD);
	}
	if (more && errlen > 0 && err[0] == '\0')
		snprintf(err, errlen, "more than %zu From domains", k);
	return k;
}

/* --- RFC 5321 reverse-path --- */

static bool domain_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
	       c == '.' || c >= 0x80;
}

int address_envelope_domain(const char *mail_from, char *domain_r, size_t len)
{
	if (len == 0)
		return -1;
	domain_r[0] = '\0';
	if (mail_from == NULL)
		return -1;
	const char *s = mail_from;
	size_t n = strlen(s);
	while (n > 0 && is_ws((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && is_ws((unsigned char)s[n - 1]))
		n--;
	if (n == 0)
		return 0; /* nothing given: treated as the null path */
	size_t b = 0, e = n;
	if (s[0] == '<') {
		/* find the matching '>' outside quotes; ESMTP parameters may follow */
		bool q = false;
		size_t i;
		for (i = 1; i < n; i++) {
			if (s[i] == '\\' && q && i + 1 < n)
				i++;
			else if (s[i] == '"')
				q = !q;
			else if (s[i] == '>' && !q)
				break;
		}
		if (i == n)
			return -1;
		if (i + 1 < n && !is_ws((unsigned char)s[i + 1]))
			return -1;
		b = 1;
		e = i;
	} else {
		/* bare form: the path ends at the first white space outside quotes */
		bool q = false;
		for (size_t i = 0; i < n; i++) {
			if (s[i] == '\\' && q && i + 1 < n)
				i++;
			else if (s[i] == '"')
				q = !q;
			else if (is_ws((unsigned char)s[i]) && !q) {
				e = i;
				break;
			}
		}
	}
	if (b == e)
		return 0; /* "<>" */
	/* source route "@a,@b:" */
	if (s[b] == '@') {
		const char *colon = memchr(s + b, ':', e - b);
		if (colon == NULL)
			return -1;
		b = (size_t)(colon - s) + 1;
	}
	/* the last '@' outside quotes separates the domain */
	bool q = false;
	size_t at = (size_t)-1;
	for (size_t i = b; i < e; i++) {
		if (s[i] == '\\' && q && i + 1 < e)
			i++;
		else if (s[i] == '"')
			q = !q;
		else if (s[i] == '@' && !q)
			at = i;
	}
	if (q || at == (size_t)-1 || at == b)
		return -1;
	size_t ds = at + 1, de = e;
	if (de > ds && s[de - 1] == '.')
		de--;
	if (de == ds || de - ds >= len)
		return -1;
	if (s[ds] == '[') {
		if (s[de - 1] != ']')
			return -1;
		for (size_t i = ds + 1; i + 1 < de; i++)
			if (s[i] == '[' || s[i] == ']' || is_ws((unsigned char)s[i]) || (unsigned char)s[i] < 0x20)
				return -1;
	} else {
		bool dot = true; /* no leading dot, no empty labels */
		for (size_t i = ds; i < de; i++) {
			if (!domain_char_ok((unsigned char)s[i]))
				return -1;
			if (s[i] == '.' && dot)
				return -1;
			dot = s[i] == '.';
		}
	}
	for (size_t i = ds; i < de; i++) {
		unsigned char c = (unsigned char)s[i];
		domain_r[i - ds] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	domain_r[de - ds] = '\0';
	return 0;
}
