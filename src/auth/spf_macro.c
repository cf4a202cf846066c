/*
 * spf_macro: the macro language of RFC 7208 section 7: syntax checks for
 * domain-specs and explanation strings, and expansion with the
 * transformers (digits, "r"), delimiters and URL escaping of upper-case
 * letters. One scanner does both checking (no context) and expansion, so
 * what the parser accepts is exactly what evaluation can expand.
 */
#include "auth/spf_internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* a transformer digit count above this is treated as "all parts" anyway */
#define SPF_MACRO_MAX_DIGITS 9999u
/* domain expansions keep at most this many trailing bytes; must exceed
   2 * (DNS_MAX_NAME + 2) so the 7.3 truncation always sees a label start */
#define SPF_DOMAIN_WINDOW 1024

static void sink_put(struct spf_sink *s, const char *d, size_t n)
{
	if (s == NULL || n == 0)
		return;
	if (s->len + n < s->cap) {
		memcpy(s->p + s->len, d, n);
		s->len += n;
		s->p[s->len] = '\0';
		return;
	}
	if (!s->window) {
		s->overflow = true;
		return;
	}
	/* keep only the tail: a domain name is truncated from the left anyway */
	size_t keep = s->cap / 2;
	if (n >= keep) {
		memcpy(s->p, d + n - keep, keep);
	} else {
		size_t old = keep - n;
		memmove(s->p, s->p + s->len - old, old);
		memcpy(s->p + old, d, n);
	}
	s->len = keep;
	s->p[s->len] = '\0';
	s->dropped = true;
}

static bool is_unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
	       c == '_' || c == '~';
}

/* writes value bytes, URL-escaping (RFC 3986 unreserved kept) when asked */
static void put_value(struct spf_sink *s, const char *v, size_t n, bool escape)
{
	if (!escape) {
		sink_put(s, v, n);
		return;
	}
	static const char hex[] = "0123456789ABCDEF";
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (is_unreserved(c))
			continue;
		sink_put(s, v + run, i - run);
		char e[3] = { '%', hex[c >> 4], hex[c & 0xf] };
		sink_put(s, e, 3);
		run = i + 1;
	}
	sink_put(s, v + run, n - run);
}

/* delimiter set as a bit mask over ".-+,/_=" (RFC 7208 7.1) */
static int delim_bit(char c)
{
	static const char delims[] = ".-+,/_=";
	const char *p = c ? strchr(delims, c) : NULL;
	return p ? 1 << (p - delims) : 0;
}

static bool is_delim(char c, unsigned mask)
{
	return (delim_bit(c) & (int)mask) != 0;
}

/*
 * RFC 7208 7.3: split value on the delimiters, optionally reverse, keep the
 * right-most nparts (0 = all), join with ".". Done in place without a parts
 * array: the kept parts are contiguous in either order.
 */
static void put_transformed(struct spf_sink *s, const char *v, size_t n, unsigned nparts, bool rev,
			    unsigned delims, bool escape)
{
	size_t k = 1;
	for (size_t i = 0; i < n; i++)
		if (is_delim(v[i], delims))
			k++;
	if (nparts == 0 || nparts > k)
		nparts = (unsigned)k;
	if (!rev) {
		/* skip the first k - nparts parts, then copy with "." joins */
		size_t skip = k - nparts, i = 0;
		while (skip > 0) {
			if (is_delim(v[i], delims))
				skip--;
			i++;
		}
		size_t start = i;
		for (; i <= n; i++) {
			if (i == n || is_delim(v[i], delims)) {
				put_value(s, v + start, i - start, escape);
				if (i < n)
					sink_put(s, ".", 1);
				start = i + 1;
			}
		}
		return;
	}
	/* reversed, right-most nparts = original parts nparts-1 .. 0 */
	size_t end = 0, seen = 0;
	while (end < n) {
		if (is_delim(v[end], delims) && ++seen == nparts)
			break;
		end++;
	}
	for (;;) {
		size_t start = end;
		while (start > 0 && !is_delim(v[start - 1], delims))
			start--;
		put_value(s, v + start, end - start, escape);
		if (start == 0)
			break;
		sink_put(s, ".", 1);
		end = start - 1;
	}
}

/* up to 24 bytes of the input from at, printable, for reason texts */
static const char *quote_at(char q[32], const char *in, size_t at, size_t len)
{
	size_t k = 0;
	for (size_t i = at; i < len && k < 24; i++) {
		unsigned char c = (unsigned char)in[i];
		q[k++] = (c > 0x20 && c < 0x7f) ? (char)c : '?';
	}
	q[k] = '\0';
	return q;
}

int spf_macro_run(const char *in, size_t len, const struct spf_mctx *m, unsigned flags, struct spf_sink *out,
		  size_t *last_macro_end_r, char *err, size_t errlen)
{
	bool explain = (flags & SPF_MACRO_EXPLAIN) != 0;
	size_t last_end = SIZE_MAX, lit = 0, i = 0;
	char q[32];

	while (i < len) {
		unsigned char c = (unsigned char)in[i];
		if (c != '%') {
			if (c == ' ' ? !explain : (c < 0x21 || c > 0x7e)) {
				snprintf(err, errlen, "invalid character in macro-string near '%s'", quote_at(q, in, i, len));
				return -1;
			}
			i++;
			continue;
		}
		if (m)
			sink_put(out, in + lit, i - lit);
		if (i + 1 >= len) {
			snprintf(err, errlen, "'%%' at end of macro-string");
			return -1;
		}
		char c2 = in[i + 1];
		if (c2 == '%' || c2 == '_' || c2 == '-') {
			if (m)
				sink_put(out, c2 == '%' ? "%" : c2 == '_' ? " " : "%20", c2 == '-' ? 3 : 1);
			i += 2;
			last_end = lit = i;
			continue;
		}
		if (c2 != '{') {
			snprintf(err, errlen,
				 "invalid macro '%s' (RFC 7208 7.1: '%%' must be followed by '{', '%%', '_' or '-')",
				 quote_at(q, in, i, len));
			return -1;
		}
		size_t j = i + 2;
		if (j >= len) {
			snprintf(err, errlen, "unterminated macro '%s'", quote_at(q, in, i, len));
			return -1;
		}
		char letter = in[j];
		char lower = (letter >= 'A' && letter <= 'Z') ? (char)(letter + 32) : letter;
		bool escape = lower != letter;
		if (strchr("slodiphv", lower) == NULL || lower == '\0') {
			if (lower && strchr("crt", lower)) {
				if (!explain) {
					snprintf(err, errlen,
						"macro '%s' is only allowed in explanation text (RFC 7208 7.1)", quote_at(q, in, i, len));
					return -1;
				}
			} else {
				snprintf(err, errlen, "unknown macro letter in '%s'", quote_at(q, in, i, len));
				return -1;
			}
		}
		j++;
		unsigned nparts = 0, ndigits = 0;
		while (j < len && in[j] >= '0' && in[j] <= '9') {
			nparts = nparts * 10 + (unsigned)(in[j] - '0');
			if (nparts > SPF_MACRO_MAX_DIGITS)
				nparts = SPF_MACRO_MAX_DIGITS;
			ndigits++;
			j++;
		}
		if (ndigits > 0 && nparts == 0) {
			snprintf(err, errlen, "macro '%s' asks for zero parts (RFC 7208 7.3)", quote_at(q, in, i, len));
			return -1;
		}
		bool rev = false;
		if (j < len && (in[j] == 'r' || in[j] == 'R')) {
			rev = true;
			j++;
		}
		unsigned delims = 0;
		while (j < len && delim_bit(in[j]))
			delims |= (unsigned)delim_bit(in[j++]);
		if (j >= len || in[j] != '}') {
			snprintf(err, errlen, "malformed macro '%s'", quote_at(q, in, i, len));
			return -1;
		}
		i = j + 1;
		last_end = lit = i;
		if (m == NULL)
			continue;

		const char *v = "";
		size_t vn = 0;
		char tbuf[24];
		switch (lower) {
		case 's': v = m->sender; vn = m->sender_len; break;
		case 'l': v = m->local; vn = m->local_len; break;
		case 'o': v = m->odomain; vn = m->odomain_len; break;
		case 'd': v = m->domain; vn = m->domain_len; break;
		case 'h': v = m->helo; vn = m->helo_len; break;
		case 'i': v = m->ip_dotted; vn = strlen(v); break;
		case 'c': v = m->ip_text; vn = strlen(v); break;
		case 'v': v = m->v; vn = strlen(v); break;
		case 'r':
			v = m->receiver && *m->receiver ? m->receiver : "unknown";
			vn = strlen(v);
			break;
		case 't':
			snprintf(tbuf, sizeof tbuf, "%lld", (long long)m->now);
			v = tbuf;
			vn = strlen(v);
			break;
		case 'p':
			v = m->get_p ? m->get_p(m->p_arg, m->domain) : "unknown";
			vn = strlen(v);
			break;
		}
		if (v == NULL) {
			v = "";
			vn = 0;
		}
		put_transformed(out, v, vn, nparts, rev, delims ? delims : (unsigned)delim_bit('.'), escape);
	}
	if (m)
		sink_put(out, in + lit, i - lit);
	if (last_macro_end_r)
		*last_macro_end_r = last_end;
	if (m && out && out->overflow) {
		if (err && errlen)
			snprintf(err, errlen, "macro expansion too long");
		return -1;
	}
	return 0;
}

static bool toplabel_ok(const char *s, size_t n)
{
	/* toplabel = ( *alphanum ALPHA *alphanum ) /
	              ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) */
	bool alpha = false, dash = false;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			alpha = true;
		else if (c == '-')
			dash = true;
		else if (c < '0' || c > '9')
			return false;
	}
	if (s[0] == '-' || s[n - 1] == '-')
		return false;
	return alpha || dash;
}

int spf_domain_spec_check(const char *in, size_t len, char *err, size_t errlen)
{
	size_t last_end = SIZE_MAX;
	if (len == 0) {
		snprintf(err, errlen, "empty domain-spec");
		return -1;
	}
	if (spf_macro_run(in, len, NULL, 0, NULL, &last_end, err, errlen) < 0)
		return -1;
	if (last_end == len)
		return 0;
	/* domain-end = ( "." toplabel [ "." ] ) / macro-expand */
	size_t n = len;
	if (in[n - 1] == '.')
		n--;
	size_t k = n;
	while (k > 0 && in[k - 1] != '.')
		k--;
	if (k == 0 || !toplabel_ok(in + k, n - k)) {
		char q[80];
		size_t show = len < 60 ? len : 60;
		memcpy(q, in, show);
		q[show] = '\0';
		snprintf(err, errlen, "invalid domain-spec '%s' (RFC 7208 7.1: must end in a macro or \".\" top-label)", q);
		return -1;
	}
	return 0;
}

int spf_domain_finish(struct spf_sink *s, char *out, size_t outlen)
{
	const char *p = s->p;
	size_t n = s->len;
	if (n > 0 && p[n - 1] == '.')
		n--;
	size_t start = 0;
	if (n > DNS_MAX_NAME || s->dropped) {
		/* RFC 7208 7.3: remove whole labels (and their dots) from the left */
		start = n > DNS_MAX_NAME ? n - DNS_MAX_NAME : 1;
		if (start == 0)
			start = 1;
		while (start < n && p[start - 1] != '.')
			start++;
		if (start >= n)
			return -1;
	}
	if (n - start + 1 > outlen)
		return -1;
	memcpy(out, p + start, n - start);
	out[n - start] = '\0';
	return 0;
}

void spf_mctx_set_ip(struct spf_mctx *m, const struct ipaddr *ip)
{
	if (ip->family == AF_INET) {
		snprintf(m->ip_dotted, sizeof m->ip_dotted, "%u.%u.%u.%u", ip->a[0], ip->a[1], ip->a[2], ip->a[3]);
		m->v = "in-addr";
	} else {
		/* 32 nibbles, dot-separated (RFC 7208 7.3). Upper-case hex, as the
		   OpenSPF suite expects; DNS compares names case-insensitively. */
		static const char hex[] = "0123456789ABCDEF";
		size_t k = 0;
		for (int i = 0; i < 16; i++) {
			m->ip_dotted[k++] = hex[ip->a[i] >> 4];
			m->ip_dotted[k++] = '.';
			m->ip_dotted[k++] = hex[ip->a[i] & 0xf];
			m->ip_dotted[k++] = '.';
		}
		m->ip_dotted[k - 1] = '\0';
		m->v = "ip6";
	}
	ip_format(ip, m->ip_text);
}

static const char *fixed_p(void *arg, const char *domain)
{
	return arg;
}

int spf_macro_expand(const char *in, size_t len, const struct spf_macro_vars *vars, unsigned flags,
		     char *out, size_t outlen, char *err, size_t errlen)
{
	struct spf_mctx m;
	memset(&m, 0, sizeof m);
	const char *sender = vars->sender ? vars->sender : "";
	const char *at = strrchr(sender, '@');
	m.sender = sender;
	m.sender_len = strlen(sender);
	m.local = sender;
	m.local_len = at ? (size_t)(at - sender) : 0;
	m.odomain = at ? at + 1 : sender;
	m.odomain_len = strlen(m.odomain);
	m.domain = vars->domain ? vars->domain : "";
	m.domain_len = strlen(m.domain);
	m.helo = vars->helo ? vars->helo : "";
	m.helo_len = strlen(m.helo);
	m.receiver = vars->receiver;
	m.now = vars->now;
	struct ipaddr ip = vars->ip;
	if (ip.family != AF_INET && ip.family != AF_INET6) {
		memset(&ip, 0, sizeof ip);
		ip.family = AF_INET;
	}
	ip_unmap(&ip);
	spf_mctx_set_ip(&m, &ip);
	m.get_p = fixed_p;
	m.p_arg = (void *)(vars->ptr_name ? vars->ptr_name : "unknown");

	if (outlen == 0) {
		snprintf(err, errlen, "no output space");
		return -1;
	}
	if (flags & SPF_MACRO_DOMAIN) {
		char win[SPF_DOMAIN_WINDOW];
		struct spf_sink s = { win, 0, sizeof win, true, false, false };
		win[0] = '\0';
		if (spf_macro_run(in, len, &m, flags, &s, NULL, err, errlen) < 0)
			return -1;
		if (spf_domain_finish(&s, out, outlen) < 0) {
			snprintf(err, errlen, "expanded domain name unusable or too long");
			return -1;
		}
		return (int)strlen(out);
	}
	struct spf_sink s = { out, 0, outlen, false, false, false };
	out[0] = '\0';
	if (spf_macro_run(in, len, &m, flags, &s, NULL, err, errlen) < 0)
		return -1;
	return (int)s.len;
}
