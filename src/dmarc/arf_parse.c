/*
 * arf_parse: ARF (RFC 5965 / 6591 / 9991) failure reports into
 * struct failure_report. See arf_parse.h for the contract.
 */
#include "dmarc/arf_parse.h"

#include <ctype.h>
#include <gmime/gmime.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/utf8.h"
#include "core/mem.h"
#include "dmarc/report_input.h"

/* one header field value kept before cleaning; longer ones are cut */
#define ARF_MAX_FIELD 8192
/* dates beyond this (year 2242) are absurd */
#define ARF_MAX_DATE 8589934592LL

struct arf_scan {
	GMimeObject *feedback;
	GMimeObject *original;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}


/*
 * Appends src (n bytes) to dst (dstlen bytes, NUL-terminated) as printable
 * UTF-8: invalid bytes become '?', runs of white space and control
 * characters one space, leading and trailing space dropped; stops at the
 * last whole character that fits.
 */
static void clean_append(char *dst, size_t dstlen, const char *src, size_t n)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t o = strlen(dst);
	bool space = o > 0 && dst[o - 1] == ' ';
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq_len(s + i, n - i);
		if (l == 1 && (s[i] <= 0x20 || s[i] == 0x7f)) {
			if (o > 0 && !space) {
				if (o + 2 > dstlen)
					break;
				dst[o++] = ' ';
				space = true;
			}
			i++;
			continue;
		}
		const unsigned char *c = s + i;
		size_t cl = l;
		if (l == 0) {
			c = (const unsigned char *)"?";
			cl = 1;
			l = 1;
		}
		if (o + cl + 1 > dstlen)
			break;
		memcpy(dst + o, c, cl);
		o += cl;
		space = false;
		i += l;
	}
	while (o > 0 && dst[o - 1] == ' ')
		o--;
	dst[o] = 0;
}

static void clean_set(char *dst, size_t dstlen, const char *src)
{
	dst[0] = 0;
	if (src)
		clean_append(dst, dstlen, src, strlen(src));
}

/*
 * Calls fn for each field of the header block at p (up to the first empty
 * line or n), with the value unfolded (folding kept as CR/LF characters,
 * which cleaning turns into spaces) and cut at ARF_MAX_FIELD bytes.
 */
typedef void (*field_fn)(void *ctx, const char *name, size_t namelen, const char *value);

static void each_field(const unsigned char *p, size_t n, field_fn fn, void *ctx)
{
	char *val = xmalloc(ARF_MAX_FIELD + 1);
	size_t pos = 0;
	while (pos < n) {
		const unsigned char *nl = memchr(p + pos, '\n', n - pos);
		size_t end = nl ? (size_t)(nl - p) : n;
		size_t len = end - pos;
		if (len > 0 && p[pos + len - 1] == '\r')
			len--;
		if (len == 0)
			break;
		const unsigned char *line = p + pos;
		pos = end + 1;
		if (line[0] == ' ' || line[0] == '\t')
			continue; /* continuation of a field we did not understand */
		const unsigned char *colon = memchr(line, ':', len);
		if (!colon)
			continue;
		size_t namelen = (size_t)(colon - line);
		while (namelen > 0 && (line[namelen - 1] == ' ' || line[namelen - 1] == '\t'))
			namelen--;
		size_t vl = 0;
		size_t take = len - (size_t)(colon + 1 - line);
		if (take > ARF_MAX_FIELD)
			take = ARF_MAX_FIELD;
		memcpy(val, colon + 1, take);
		vl = take;
		/* continuation lines */
		while (pos < n && (p[pos] == ' ' || p[pos] == '\t')) {
			nl = memchr(p + pos, '\n', n - pos);
			end = nl ? (size_t)(nl - p) : n;
			size_t cl = end - pos;
			if (cl > 0 && p[pos + cl - 1] == '\r')
				cl--;
			if (vl < ARF_MAX_FIELD) {
				val[vl++] = ' ';
				size_t room = ARF_MAX_FIELD - vl;
				size_t t = cl < room ? cl : room;
				memcpy(val + vl, p + pos, t);
				vl += t;
			}
			pos = end + 1;
		}
		/* NULs would cut the value short: make them visible */
		for (size_t i = 0; i < vl; i++)
			if (val[i] == 0)
				val[i] = '?';
		val[vl] = 0;
		fn(ctx, (const char *)line, namelen, val);
	}
	xfree(val);
}

static bool is_original_type(GMimeContentType *ct)
{
	return ct && (g_mime_content_type_is_type(ct, "message", "rfc822") ||
		      g_mime_content_type_is_type(ct, "message", "global") ||
		      g_mime_content_type_is_type(ct, "text", "rfc822-headers") ||
		      g_mime_content_type_is_type(ct, "message", "rfc822-headers") ||
		      g_mime_content_type_is_type(ct, "message", "global-headers"));
}

/* finds the feedback part and the enclosed original; does not enter it */
static void scan(struct arf_scan *sc, GMimeObject *obj, int depth)
{
	if (!obj || depth > 32)
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		int cnt = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
		for (int i = 0; i < cnt; i++)
			scan(sc, g_mime_multipart_get_part(GMIME_MULTIPART(obj), i), depth + 1);
		return;
	}
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	if (ct && g_mime_content_type_is_type(ct, "message", "feedback-report")) {
		if (!sc->feedback)
			sc->feedback = obj;
	} else if (is_original_type(ct)) {
		if (!sc->original)
			sc->original = obj;
	}
}

/* ---- the feedback-report fields ---- */

struct fbctx {
	struct failure_report *f;
	char source_ip[128];
	char arrival[256];
	char received[256];
	bool have_ftype;
};

#define FIELD(name, member) { name, offsetof(struct failure_report, member), \
			      sizeof(((struct failure_report *)0)->member), 0 }
#define FIELD_JOIN(name, member, sep) { name, offsetof(struct failure_report, member), \
					sizeof(((struct failure_report *)0)->member), sep }

static const struct fbfield {
	const char *name;
	size_t off, size;
	const char *join; /* repeated fields: separator, or 0 to keep the first */
} fb_fields[] = {
	FIELD("Feedback-Type", feedback_type),
	FIELD("User-Agent", user_agent),
	FIELD("Version", version),
	FIELD("Reported-Domain", reported_domain),
	FIELD("Auth-Failure", auth_failure),
	FIELD("Original-Mail-From", original_mail_from),
	FIELD_JOIN("Original-Rcpt-To", original_rcpt_to, ", "),
	FIELD("Reported-URI", reported_uri),
	FIELD_JOIN("Authentication-Results", authentication_results, "; "),
	FIELD("DKIM-Domain", dkim_domain),
	FIELD("DKIM-Selector", dkim_selector),
	FIELD("DKIM-Identity", dkim_identity),
	FIELD("SPF-DNS", spf_dns),
	FIELD("Delivery-Result", delivery_result),
	FIELD("Identity-Alignment", identity_alignment),
};

static bool name_is(const char *name, size_t namelen, const char *want)
{
	return strlen(want) == namelen && strncasecmp(name, want, namelen) == 0;
}

static void fb_field(void *vctx, const char *name, size_t namelen, const char *value)
{
	struct fbctx *c = vctx;
	if (name_is(name, namelen, "Source-IP")) {
		if (!c->source_ip[0])
			clean_set(c->source_ip, sizeof c->source_ip, value);
		return;
	}
	if (name_is(name, namelen, "Arrival-Date")) {
		if (!c->arrival[0])
			clean_set(c->arrival, sizeof c->arrival, value);
		return;
	}
	if (name_is(name, namelen, "Received-Date")) {
		if (!c->received[0])
			clean_set(c->received, sizeof c->received, value);
		return;
	}
	for (size_t i = 0; i < sizeof fb_fields / sizeof fb_fields[0]; i++) {
		const struct fbfield *fd = &fb_fields[i];
		if (!name_is(name, namelen, fd->name))
			continue;
		char *dst = (char *)c->f + fd->off;
		if (fd->off == offsetof(struct failure_report, feedback_type))
			c->have_ftype = true;
		if (!dst[0]) {
			clean_set(dst, fd->size, value);
		} else if (fd->join) {
			size_t o = strlen(dst);
			if (o + strlen(fd->join) + 1 < fd->size) {
				memcpy(dst + o, fd->join, strlen(fd->join) + 1);
				clean_append(dst, fd->size, value, strlen(value));
			}
		}
		return;
	}
}

/* RFC 5322 date to Unix seconds; -1 if it is not one */
static int64_t parse_date(const char *s)
{
	GDateTime *dt = g_mime_utils_header_decode_date(s);
	if (!dt)
		return -1;
	int64_t t = g_date_time_to_unix(dt);
	g_date_time_unref(dt);
	if (t <= 0 || t > ARF_MAX_DATE)
		return -1;
	return t;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* "[192.0.2.1]", "192.0.2.1 (comment)", "IPv6:2001:db8::1" -> the address */
static int parse_source_ip(const char *v, struct ipaddr *ip_r)
{
	char tmp[128];
	size_t i = 0, o = 0;
	while (v[i] == ' ' || v[i] == '[')
		i++;
	if (strncasecmp(v + i, "IPv6:", 5) == 0)
		i += 5;
	while (v[i] && v[i] != ']' && v[i] != ' ' && v[i] != '(' && v[i] != ';' && o + 1 < sizeof tmp)
		tmp[o++] = v[i++];
	tmp[o] = 0;
	if (ip_parse(tmp, ip_r) < 0)
		return -1;
	return 0;
}

/* ---- the enclosed original message ---- */

struct origctx {
	struct failure_report *f;
	bool from, subject, msgid;
};

static void orig_field(void *vctx, const char *name, size_t namelen, const char *value)
{
	struct origctx *c = vctx;
	char *dst = NULL;
	size_t size = 0;
	bool *seen = NULL;
	if (name_is(name, namelen, "From")) {
		dst = c->f->header_from, size = sizeof c->f->header_from, seen = &c->from;
	} else if (name_is(name, namelen, "Subject")) {
		dst = c->f->subject, size = sizeof c->f->subject, seen = &c->subject;
	} else if (name_is(name, namelen, "Message-ID")) {
		dst = c->f->message_id, size = sizeof c->f->message_id, seen = &c->msgid;
	}
	if (!dst || *seen)
		return;
	*seen = true;
	char *dec = g_mime_utils_header_decode_text(NULL, value);
	clean_set(dst, size, dec ? dec : value);
	g_free(dec);
}

/* ---- the report itself ---- */

static void reporter_from(GMimeMessage *msg, struct failure_report *f)
{
	InternetAddressList *l = g_mime_message_get_from(msg);
	int n = l ? internet_address_list_length(l) : 0;
	for (int i = 0; i < n; i++) {
		InternetAddress *a = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
			const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
			if (addr && *addr) {
				clean_set(f->reporter, sizeof f->reporter, addr);
				return;
			}
		}
	}
	const char *raw = g_mime_object_get_header(GMIME_OBJECT(msg), "From");
	if (raw)
		clean_set(f->reporter, sizeof f->reporter, raw);
}

int arf_parse(const void *msgdata, size_t len, struct failure_report *f_r, char *err, size_t errlen)
{
	memset(f_r, 0, sizeof *f_r);
	if (err && errlen)
		err[0] = 0;
	if (!msgdata || len == 0) {
		seterr(err, errlen, "empty message");
		return -1;
	}
	if (len > ARF_MAX_MESSAGE) {
		seterr(err, errlen, "message larger than %u bytes", ARF_MAX_MESSAGE);
		return -1;
	}
	rin_gmime_init();

	/* bare-CR line ends (old Mac files): GMime only knows LF */
	const unsigned char *p = msgdata;
	unsigned char *fixed = NULL;
	size_t probe = len < 65536 ? len : 65536;
	if (!memchr(p, '\n', probe) && memchr(p, '\r', probe)) {
		fixed = xmalloc(len);
		for (size_t i = 0; i < len; i++)
			fixed[i] = p[i] == '\r' ? '\n' : p[i];
		p = fixed;
	}

	int rc = -1;
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer((const char *)p, len);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	if (!msg) {
		seterr(err, errlen, "not a parseable mail message");
		goto out;
	}

	struct arf_scan sc = { 0 };
	scan(&sc, g_mime_message_get_mime_part(msg), 0);
	if (!sc.feedback) {
		seterr(err, errlen, "not an ARF report: no message/feedback-report part");
		goto out;
	}

	size_t fblen;
	unsigned char *fb = rin_part_bytes(sc.feedback, &fblen);
	struct fbctx c = { .f = f_r };
	if (fb)
		each_field(fb, fblen, fb_field, &c);
	xfree(fb);
	if (!c.have_ftype || !f_r->feedback_type[0]) {
		seterr(err, errlen,
		       "not an ARF report: message/feedback-report part has no Feedback-Type field");
		goto out;
	}
	lower(f_r->feedback_type);
	lower(f_r->auth_failure);
	lower(f_r->delivery_result);
	if (c.source_ip[0]) {
		if (parse_source_ip(c.source_ip, &f_r->source_ip) < 0) {
			seterr(err, errlen, "Source-IP: not an IP address: \"%.64s\"", c.source_ip);
			goto out;
		}
		f_r->have_source_ip = true;
	}
	const char *ad = c.arrival[0] ? c.arrival : c.received[0] ? c.received : NULL;
	if (ad) {
		int64_t t = parse_date(ad);
		if (t < 0) {
			seterr(err, errlen, "%s: not a valid date: \"%.64s\"",
			       c.arrival[0] ? "Arrival-Date" : "Received-Date", ad);
			goto out;
		}
		f_r->arrival_date = t;
	}

	if (sc.original) {
		size_t olen;
		unsigned char *ob = rin_part_bytes(sc.original, &olen);
		struct origctx oc = { .f = f_r };
		if (ob)
			each_field(ob, olen, orig_field, &oc);
		xfree(ob);
	}

	reporter_from(msg, f_r);
	GDateTime *dt = g_mime_message_get_date(msg);
	if (dt) {
		int64_t t = g_date_time_to_unix(dt);
		f_r->report_date = t > 0 && t <= ARF_MAX_DATE ? t : 0;
	}
	rc = 0;
out:
	if (msg)
		g_object_unref(msg);
	xfree(fixed);
	if (rc < 0)
		memset(f_r, 0, sizeof *f_r);
	return rc;
}
