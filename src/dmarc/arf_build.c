/* arf_build: ARF (RFC 5965 / RFC 6591) abuse reports (see arf_build.h) */
#include "dmarc/arf_build.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "dmarc/rdap.h"

#define VALUE_MAX 512 /* bytes kept of any one value from the data */

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * Controls (CR and LF above all) become one space, runs of space collapse,
 * leading and trailing space goes; a non-ASCII UTF-8 sequence becomes one
 * "?" so every part stays 7bit us-ascii. Cut to outlen-1 bytes.
 */
void arf_clean(const char *s, char *out, size_t outlen)
{
	size_t n = 0;
	bool space = false;
	if (outlen == 0)
		return;
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && n + 1 < outlen; p++) {
		unsigned char c = *p;
		if (c <= 0x20 || c == 0x7f) {
			space = n > 0;
			continue;
		}
		if (c >= 0x80) {
			if ((c & 0xc0) == 0x80)
				continue; /* continuation byte: already counted */
			c = '?';
		}
		if (space) {
			out[n++] = ' ';
			space = false;
			if (n + 1 >= outlen)
				break;
		}
		out[n++] = (char)c;
	}
	out[n] = '\0';
}

static const char *const wday[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* RFC 5322 3.3 date-time in UTC, locale-independent */
static void rfc5322_date(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, outlen, "Thu, 01 Jan 1970 00:00:00 +0000");
		return;
	}
	snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d +0000", wday[tm.tm_wday], tm.tm_mday, mon[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* RFC 5322 msg-id content: id-left "@" id-right of printable ASCII, no specials */
static bool msgid_valid(const char *s)
{
	const char *at = strchr(s, '@');
	if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') != NULL || strlen(s) > 250)
		return false;
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7f || strchr("<>()[]\\,;:\"", c) != NULL)
			return false;
	}
	return true;
}

static bool domain_valid(const char *d)
{
	char probe[300];
	if (d == NULL || strlen(d) > 253)
		return false;
	snprintf(probe, sizeof probe, "postmaster@%s", d);
	return rdap_email_valid(probe);
}

int arf_message_id(const char *from, int64_t now, char *out, size_t outlen)
{
	const char *at = from ? strrchr(from, '@') : NULL;
	if (at == NULL || !domain_valid(at + 1))
		return -1;
	uint64_t rnd = 0;
	if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		rnd = (uint64_t)now * 6364136223846793005ULL + (uint64_t)(uintptr_t)out;
	int n = snprintf(out, outlen, "%" PRIx64 ".%016" PRIx64 ".arf@%s", (uint64_t)now, rnd, at + 1);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* "Name: value" folded at spaces before ARF_LINE_MAX; value already cleaned */
static void put_header(struct buf *b, const char *name, const char *value)
{
	size_t col = strlen(name) + 2;
	buf_printf(b, "%s:", name);
	const char *p = value;
	bool first = true;
	while (*p) {
		const char *w = p;
		while (*p && *p != ' ')
			p++;
		size_t wl = (size_t)(p - w);
		if (!first && col + 1 + wl > ARF_LINE_MAX) {
			buf_puts(b, "\r\n");
			col = 0;
		}
		buf_putc(b, ' ');
		buf_append(b, w, wl);
		col += 1 + wl;
		first = false;
		while (*p == ' ')
			p++;
	}
	buf_puts(b, "\r\n");
}

static void put_headerf(struct buf *b, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put_headerf(struct buf *b, const char *name, const char *fmt, ...)
{
	char raw[1024], v[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	arf_clean(raw, v, sizeof v);
	put_header(b, name, v);
}

static void line(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
	buf_puts(b, "\r\n");
}

static void summary_part(struct buf *b, const struct arf_evidence *ev, const char *ip, const char *rdns,
			 const char *reporters, const char *network, const char *first, const char *last)
{
	line(b, "This is an abuse report about mail that claimed to come from %s", ev->domain);
	line(b, "but failed DMARC authentication: neither SPF nor DKIM passed in");
	line(b, "alignment with that domain. It was sent from %s, which RDAP", ip);
	line(b, "places in your network.");
	line(b, "%s", "");
	line(b, "Domain:             %s", ev->domain);
	line(b, "Source IP:          %s", ip);
	line(b, "Reverse DNS:        %s", rdns[0] ? rdns : "(none)");
	if (network[0])
		line(b, "Network:            %s", network);
	line(b, "Messages seen:      %" PRIu64, ev->total);
	line(b, "Failing SPF+DKIM:   %" PRIu64, ev->fail_both);
	line(b, "SPF aligned pass:   %" PRIu64 " of %" PRIu64, ev->spf_aligned_pass, ev->total);
	line(b, "DKIM aligned pass:  %" PRIu64 " of %" PRIu64, ev->dkim_aligned_pass, ev->total);
	line(b, "First seen:         %s", first);
	line(b, "Last seen:          %s", last);
	line(b, "Reported by:        %s", reporters[0] ? reporters : "(unknown)");
	line(b, "%s", "");
	line(b, "These figures come from DMARC aggregate reports (RFC 7489) that");
	line(b, "receiving mail systems sent to the owner of %s. Aggregate reports", ev->domain);
	line(b, "carry no message content: the headers in the third part of this");
	line(b, "report are RECONSTRUCTED from that data, not copied from a message.");
	line(b, "%s", "");
	line(b, "Please investigate and stop this traffic. This report was generated");
	line(b, "automatically; replies to the sender address reach the domain owner.");
}

static void feedback_part(struct buf *b, const struct arf_evidence *ev, const struct arf_envelope *env,
			  const char *ip, const char *first, const char *authserv, const char *ua)
{
	/* RFC 5965 3.1 required fields, then RFC 6591 3.1 and 3.2 */
	put_header(b, "Feedback-Type", "auth-failure");
	put_header(b, "User-Agent", ua);
	put_header(b, "Version", "1");
	put_header(b, "Auth-Failure", "dmarc");
	put_headerf(b, "Authentication-Results", "%s; dmarc=fail (from aggregate reports) header.from=%s", authserv,
		    ev->domain);
	put_header(b, "Source-IP", ip);
	put_header(b, "Reported-Domain", ev->domain);
	put_header(b, "Arrival-Date", first);
	put_headerf(b, "Incidents", "%" PRIu64, ev->fail_both);
	put_header(b, "Identity-Alignment", "none");
}

static void headers_part(struct buf *b, const struct arf_evidence *ev, const char *ip, const char *rdns,
			 const char *first, const char *authserv)
{
	put_header(b, "X-Mamori-Reconstructed",
		   "yes: these headers are rebuilt from DMARC aggregate report data, not copied from a message");
	put_headerf(b, "Received", "from %s ([%s]); %s", rdns[0] ? rdns : "unknown", ip, first);
	put_headerf(b, "From", "<unknown@%s>", ev->domain);
	put_header(b, "Date", first);
	put_headerf(b, "Authentication-Results", "%s; dmarc=fail header.from=%s", authserv, ev->domain);
}

int arf_build(const struct arf_evidence *ev, const struct arf_envelope *env, struct buf *out, char *err,
	      size_t errlen)
{
	buf_reset(out);
	if (out->max != 0 && out->max < ARF_MAX_MESSAGE) {
		set_err(err, errlen, "output buffer limit below ARF_MAX_MESSAGE");
		return -1;
	}
	if (env->from == NULL || !rdap_email_valid(env->from)) {
		set_err(err, errlen, "abuse sender address is not a valid address");
		return -1;
	}
	if (env->to == NULL || !rdap_email_valid(env->to)) {
		set_err(err, errlen, "abuse contact is not a valid address");
		return -1;
	}
	if (env->message_id == NULL || !msgid_valid(env->message_id)) {
		set_err(err, errlen, "Message-ID is malformed");
		return -1;
	}
	if (!domain_valid(ev->domain)) {
		set_err(err, errlen, "reported domain is not a domain name");
		return -1;
	}
	char ip[IP_STRLEN], rdns[VALUE_MAX], reporters[VALUE_MAX], network[VALUE_MAX], authserv[256], ua[128];
	char first[64], last[64], now[64];
	ip_format(&ev->ip, ip);
	arf_clean(ev->rdns, rdns, sizeof rdns);
	arf_clean(ev->reporters, reporters, sizeof reporters);
	arf_clean(ev->network, network, sizeof network);
	arf_clean(env->authserv_id && env->authserv_id[0] ? env->authserv_id : "mamori", authserv, sizeof authserv);
	arf_clean(env->user_agent && env->user_agent[0] ? env->user_agent : "mamori", ua, sizeof ua);
	/* authserv-id is a value token or quoted string; keep a token */
	for (char *p = authserv; *p; p++)
		if (strchr(" ;()<>@,:\\\"/[]?=", *p) != NULL)
			*p = '_';
	rfc5322_date(ev->first_seen, first, sizeof first);
	rfc5322_date(ev->last_seen, last, sizeof last);
	rfc5322_date(env->now, now, sizeof now);

	struct buf p1 = BUF_INIT(ARF_MAX_MESSAGE), p2 = BUF_INIT(ARF_MAX_MESSAGE), p3 = BUF_INIT(ARF_MAX_MESSAGE);
	summary_part(&p1, ev, ip, rdns, reporters, network, first, last);
	feedback_part(&p2, ev, env, ip, first, authserv, ua);
	headers_part(&p3, ev, ip, rdns, first, authserv);

	/* a boundary that occurs in no part (RFC 2046 5.1.1) */
	char boundary[80];
	unsigned tries = 0;
	for (;; tries++) {
		snprintf(boundary, sizeof boundary, "=_mamori_arf_%" PRIx64 "_%u", (uint64_t)env->now, tries);
		if (strstr(buf_cstr(&p1), boundary) == NULL && strstr(buf_cstr(&p2), boundary) == NULL &&
		    strstr(buf_cstr(&p3), boundary) == NULL)
			break;
	}

	char subject[600];
	snprintf(subject, sizeof subject, "Abuse report: DMARC authentication failures for %s from %s", ev->domain, ip);
	put_headerf(out, "From", "<%s>", env->from);
	put_headerf(out, "To", "<%s>", env->to);
	put_header(out, "Subject", subject);
	put_header(out, "Date", now);
	put_headerf(out, "Message-ID", "<%s>", env->message_id);
	put_header(out, "MIME-Version", "1.0");
	buf_printf(out, "Content-Type: multipart/report; report-type=feedback-report;\r\n\tboundary=\"%s\"\r\n",
		   boundary);
	put_header(out, "Auto-Submitted", "auto-generated"); /* RFC 3834: no auto-replies please */
	buf_puts(out, "\r\nThis is a multipart message in MIME format (RFC 5965 abuse report).\r\n");
	buf_printf(out, "\r\n--%s\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
		   boundary);
	buf_append(out, p1.data, p1.len);
	buf_printf(out, "\r\n--%s\r\nContent-Type: message/feedback-report\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
		   boundary);
	buf_append(out, p2.data, p2.len);
	buf_printf(out, "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
		   boundary);
	buf_append(out, p3.data, p3.len);
	int rc = buf_printf(out, "\r\n--%s--\r\n", boundary);
	bool big = p1.len + p2.len + p3.len + 4096 > ARF_MAX_MESSAGE;
	buf_free(&p1);
	buf_free(&p2);
	buf_free(&p3);
	if (rc < 0 || big) {
		buf_reset(out);
		set_err(err, errlen, "report larger than %d bytes", ARF_MAX_MESSAGE);
		return -1;
	}
	return 0;
}
