/*
 * report_input: walking, sniffing, decompressing and MIME extraction of
 * DMARC reports. See report_input.h for the contract.
 *
 * Invariant inside this file: every (p, n) handed to do_object/do_mail is
 * followed by a NUL at p[n], so data given to callbacks is terminated
 * without another copy.
 */
#include "dmarc/report_input.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gmime/gmime.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/utf8.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"

/* a file bigger than this is refused before reading (mbox files included) */
#define RIN_MAX_FILE (1024ul * 1024 * 1024)
#define RIN_CHUNK (64 * 1024)
#define RIN_ERRLEN 256

struct walk {
	size_t maxd;
	rin_cb cb;
	void *ctx;
	int stop;
};

enum sniff { SN_UNKNOWN, SN_EMPTY, SN_GZIP, SN_ZIP, SN_ZIP_EMPTY, SN_ZLIB, SN_XML, SN_MBOX, SN_MAIL };

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void gmime_start(void)
{
	g_mime_init();
}

void rin_gmime_init(void)
{
	pthread_once(&gmime_once, gmime_start);
}

/* ---- small helpers ---- */


/* appends name to b as printable UTF-8: controls and bad bytes become '?' */
static void put_clean(struct buf *b, const char *name)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t n = strlen(name);
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq_len(s + i, n - i);
		if (l == 0 || (l == 1 && (s[i] < 0x20 || s[i] == 0x7f))) {
			if (buf_putc(b, '?') < 0)
				return;
			i++;
			continue;
		}
		if (buf_append(b, s + i, l) < 0)
			return; /* truncated at a character boundary */
		i += l;
	}
}

/* out = base + sep + clean(name); truncated to RIN_MAX_SOURCE bytes */
static char *src_join(const char *base, const char *sep, const char *name)
{
	struct buf b = BUF_INIT(RIN_MAX_SOURCE);
	put_clean(&b, base);
	if (sep)
		buf_puts(&b, sep);
	if (name)
		put_clean(&b, name);
	char *s = buf_steal(&b, NULL);
	return s ? s : xstrdup("");
}

static int emit(struct walk *w, const char *source, enum rin_kind kind, const void *data,
		size_t len, const void *raw, size_t rawlen, const char *error)
{
	if (w->stop)
		return w->stop;
	struct rin_item it = {
		.source = source, .kind = kind, .data = data, .len = len,
		.raw = raw, .rawlen = rawlen, .error = error,
	};
	w->stop = w->cb(w->ctx, &it);
	return w->stop;
}

static int emit_err(struct walk *w, const char *source, const void *raw, size_t rawlen,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int emit_err(struct walk *w, const char *source, const void *raw, size_t rawlen,
		    const char *fmt, ...)
{
	char msg[RIN_ERRLEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return emit(w, source, RIN_ERROR, NULL, 0, raw, rawlen, msg);
}

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool has_prefix_ci(const unsigned char *p, size_t n, const char *pre)
{
	size_t l = strlen(pre);
	return n >= l && strncasecmp((const char *)p, pre, l) == 0;
}

/* true if the line at p (n bytes) is "field-name:" per RFC 5322 section 3.6.8 */
static bool header_line(const unsigned char *p, size_t n, size_t *namelen_r)
{
	size_t i = 0;
	while (i < n && p[i] >= 33 && p[i] <= 126 && p[i] != ':')
		i++;
	if (i == 0 || i >= n || p[i] != ':')
		return false;
	if (namelen_r)
		*namelen_r = i;
	return true;
}

static bool known_mail_field(const unsigned char *p, size_t namelen)
{
	static const char *const fields[] = {
		"from", "to", "date", "subject", "received", "return-path", "message-id",
		"mime-version", "content-type", "delivered-to", "dkim-signature", "x-original-to",
		"authentication-results", "reply-to", "sender", "arc-seal", "x-received",
	};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if (strlen(fields[i]) == namelen && strncasecmp((const char *)p, fields[i], namelen) == 0)
			return true;
	return false;
}

/*
 * An RFC 5322 message: the first line is a header field and one of the
 * first 100 header lines is a field every real mail carries.
 */
static bool looks_like_mail(const unsigned char *p, size_t n)
{
	size_t namelen;
	if (!header_line(p, n, NULL))
		return false;
	size_t pos = 0;
	for (int lines = 0; lines < 100 && pos < n; lines++) {
		const unsigned char *nl = memchr(p + pos, '\n', n - pos);
		size_t end = nl ? (size_t)(nl - p) : n;
		size_t len = end - pos;
		if (len > 0 && p[pos + len - 1] == '\r')
			len--;
		if (len == 0)
			break; /* end of the header block */
		if (p[pos] != ' ' && p[pos] != '\t') {
			if (!header_line(p + pos, len, &namelen))
				return false;
			if (known_mail_field(p + pos, namelen))
				return true;
		}
		pos = end + 1;
	}
	return false;
}

/*
 * Classifies content. *off_r is where the payload starts: after a UTF-8 BOM
 * and leading whitespace for XML (expat refuses anything before "<?xml"),
 * after a few leading line breaks before a binary magic (Mimecast sends
 * gzip attachments whose decoded bytes start with CRLF).
 */
static enum sniff sniff(const unsigned char *p, size_t n, size_t *off_r)
{
	size_t i = 0;
	*off_r = 0;
	if (n == 0)
		return SN_EMPTY;
	if (n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
		i = 3;
	while (i < n && is_ws(p[i]))
		i++;
	if (i == n)
		return SN_EMPTY;
	size_t rest = n - i;
	const unsigned char *q = p + i;
	*off_r = i;
	if (rest >= 2 && q[0] == 0x1f && q[1] == 0x8b)
		return SN_GZIP;
	if (rest >= 4 && memcmp(q, "PK\x03\x04", 4) == 0)
		return SN_ZIP;
	if (rest >= 4 && memcmp(q, "PK\x05\x06", 4) == 0)
		return SN_ZIP_EMPTY;
	/* zlib (RFC 1950 section 2.2): deflate, window <= 32K, FCHECK */
	if (rest >= 2 && (q[0] & 0x0f) == 8 && (q[0] >> 4) <= 7 && ((q[0] << 8) | q[1]) % 31 == 0)
		return SN_ZLIB;
	if (q[0] == '<') {
		if (has_prefix_ci(q, rest, "<?xml") || has_prefix_ci(q, rest, "<!--") ||
		    has_prefix_ci(q, rest, "<feedback"))
			return SN_XML;
		/* a namespace-prefixed root such as <ns1:feedback ...> */
		size_t j = 1;
		while (j < rest && j < 64 && (isalnum(q[j]) || q[j] == '_' || q[j] == '-' || q[j] == '.'))
			j++;
		if (j < rest && q[j] == ':' && has_prefix_ci(q + j + 1, rest - j - 1, "feedback"))
			return SN_XML;
		return SN_UNKNOWN;
	}
	/* mail and mbox must start at the very first byte */
	*off_r = 0;
	if (n >= 5 && memcmp(p, "From ", 5) == 0)
		return SN_MBOX;
	if (looks_like_mail(p, n))
		return SN_MAIL;
	return SN_UNKNOWN;
}

/* ---- decompression ---- */

/* reads the current entry of a into out (max bytes); 0, or -1 with err set */
static int archive_slurp(struct archive *a, struct buf *out, size_t max, char *err, size_t errlen)
{
	char *chunk = xmalloc(RIN_CHUNK);
	int rc = 0;
	for (;;) {
		la_ssize_t r = archive_read_data(a, chunk, RIN_CHUNK);
		if (r == 0)
			break;
		if (r < 0) {
			if (r == ARCHIVE_WARN || r == ARCHIVE_RETRY)
				continue;
			const char *m = archive_error_string(a);
			snprintf(err, errlen, "%s", m ? m : "read error");
			rc = -1;
			break;
		}
		if (buf_append(out, chunk, (size_t)r) < 0) {
			snprintf(err, errlen, "decompressed size exceeds %zu bytes (zip/gzip bomb?)", max);
			rc = -1;
			break;
		}
	}
	xfree(chunk);
	return rc;
}

/*
 * gzip (RFC 1952, possibly several members) or zlib (RFC 1950) into out.
 * zlib rather than libarchive's gzip filter: that filter neither checks
 * the CRC-32 trailer nor stops at one layer (it unpacks gzip inside gzip
 * on its own), so corruption and nesting would pass unseen.
 */
static int inflate_into(const unsigned char *p, size_t n, bool gzip, size_t max, struct buf *out,
			char *err, size_t errlen)
{
	const char *what = gzip ? "gzip" : "zlib";
	z_stream z;
	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, gzip ? 15 + 16 : 15) != Z_OK) {
		snprintf(err, errlen, "%s: cannot initialise", what);
		return -1;
	}
	unsigned char *chunk = xmalloc(RIN_CHUNK);
	int rc = -1;
	size_t left = n;
	z.next_in = (unsigned char *)p;
	for (;;) {
		if (z.avail_in == 0 && left > 0) {
			z.avail_in = left > UINT32_MAX ? UINT32_MAX : (uInt)left;
			left -= z.avail_in;
		}
		z.next_out = chunk;
		z.avail_out = RIN_CHUNK;
		int zr = inflate(&z, Z_NO_FLUSH);
		size_t got = RIN_CHUNK - z.avail_out;
		if (got && buf_append(out, chunk, got) < 0) {
			snprintf(err, errlen, "decompressed size exceeds %zu bytes (zip/gzip bomb?)", max);
			break;
		}
		if (zr == Z_STREAM_END) {
			/* another gzip member may follow (RFC 1952 section 2.2) */
			size_t rem = z.avail_in + left; /* p is contiguous: next_in has rem bytes */
			if (gzip && rem >= 2 && z.next_in[0] == 0x1f && z.next_in[1] == 0x8b) {
				inflateReset(&z);
				continue;
			}
			rc = 0; /* trailing bytes after the last member are ignored, as gzip(1) does */
			break;
		}
		if (zr == Z_BUF_ERROR && z.avail_in == 0 && left == 0) {
			snprintf(err, errlen, "%s: truncated stream", what);
			break;
		}
		if (zr != Z_OK && zr != Z_BUF_ERROR) {
			snprintf(err, errlen, "%s: %s", what, z.msg ? z.msg : "corrupt stream");
			break;
		}
	}
	inflateEnd(&z);
	xfree(chunk);
	return rc;
}

/* ---- objects: one file's or attachment's bytes ---- */

static int do_mail(struct walk *w, const char *source, const unsigned char *p, size_t n);
static int do_mbox(struct walk *w, const char *source, const unsigned char *p, size_t n);

/*
 * Handles bytes p[0..n) (p[n] == 0) found at source. raw is the outermost
 * container; depth counts containers already opened. Mail and mbox are
 * accepted only at depth 0 (files on disk, rin_bytes).
 */
static int do_object(struct walk *w, const char *source, const unsigned char *p, size_t n,
		     const void *raw, size_t rawlen, int depth)
{
	char err[RIN_ERRLEN];
	size_t off;
	enum sniff k = sniff(p, n, &off);

	if (depth > RIN_MAX_NESTING)
		return emit_err(w, source, raw, rawlen, "containers nested more than %d deep",
				RIN_MAX_NESTING);
	switch (k) {
	case SN_EMPTY:
		return emit_err(w, source, raw, rawlen, "empty (no data, or only white space)");
	case SN_XML:
		if (n - off > w->maxd)
			return emit_err(w, source, raw, rawlen, "XML larger than %zu bytes", w->maxd);
		return emit(w, source, RIN_AGGREGATE, p + off, n - off, raw, rawlen, NULL);
	case SN_GZIP:
	case SN_ZLIB: {
		struct buf out = BUF_INIT(w->maxd);
		int r = inflate_into(p + off, n - off, k == SN_GZIP, w->maxd, &out, err, sizeof err);
		if (r < 0)
			r = emit_err(w, source, raw, rawlen, "%s", err);
		else if (out.len == 0)
			r = emit_err(w, source, raw, rawlen, "compressed data holds nothing");
		else
			r = do_object(w, source, (unsigned char *)out.data, out.len, raw, rawlen, depth + 1);
		buf_free(&out);
		return r;
	}
	case SN_ZIP_EMPTY:
		return emit_err(w, source, raw, rawlen, "zip archive holds no file");
	case SN_ZIP: {
		struct archive *a = archive_read_new();
		struct archive_entry *e;
		unsigned members = 0, files = 0;
		if (!a)
			return emit_err(w, source, raw, rawlen, "libarchive: out of memory");
		archive_read_support_format_zip(a);
		if (archive_read_open_memory(a, p + off, n - off) != ARCHIVE_OK) {
			const char *m = archive_error_string(a);
			emit_err(w, source, raw, rawlen, "zip: %s", m ? m : "cannot open");
			archive_read_free(a);
			return w->stop;
		}
		while (!w->stop) {
			int r = archive_read_next_header(a, &e);
			if (r == ARCHIVE_EOF)
				break;
			if (r < ARCHIVE_WARN) {
				const char *m = archive_error_string(a);
				emit_err(w, source, raw, rawlen, "zip: corrupt archive: %s",
					 m ? m : "bad header");
				files++;
				break;
			}
			if (++members > RIN_MAX_MEMBERS) {
				emit_err(w, source, raw, rawlen, "zip: more than %d members; rest ignored",
					 RIN_MAX_MEMBERS);
				break;
			}
			const char *name = archive_entry_pathname(e);
			if (archive_entry_filetype(e) == AE_IFDIR ||
			    (name && *name && name[strlen(name) - 1] == '/'))
				continue;
			files++;
			char alt[32];
			if (!name || !*name) {
				snprintf(alt, sizeof alt, "member%u", members);
				name = alt;
			}
			char *msrc = src_join(source, ":", name);
			if (archive_entry_is_encrypted(e)) {
				emit_err(w, msrc, raw, rawlen, "zip: member is encrypted");
				xfree(msrc);
				continue;
			}
			struct buf out = BUF_INIT(w->maxd);
			if (archive_slurp(a, &out, w->maxd, err, sizeof err) < 0) {
				if (strstr(err, "bomb"))
					emit_err(w, msrc, raw, rawlen, "%s", err);
				else
					emit_err(w, msrc, raw, rawlen, "zip: %s", err);
				buf_free(&out);
				xfree(msrc);
				/* a bomb is skipped; a broken member leaves the stream unusable */
				if (!strstr(err, "bomb"))
					break;
				continue;
			}
			if (out.len == 0)
				emit_err(w, msrc, raw, rawlen, "empty member");
			else
				do_object(w, msrc, (unsigned char *)out.data, out.len, raw, rawlen,
					  depth + 1);
			buf_free(&out);
			xfree(msrc);
		}
		archive_read_free(a);
		if (files == 0 && !w->stop)
			emit_err(w, source, raw, rawlen, "zip archive holds no file");
		return w->stop;
	}
	case SN_MBOX:
		if (depth == 0)
			return do_mbox(w, source, p, n);
		break;
	case SN_MAIL:
		if (depth == 0)
			return do_mail(w, source, p, n);
		break;
	case SN_UNKNOWN:
		break;
	}
	if (k == SN_UNKNOWN && n - off > 0 && p[off] == '{' && memmem(p, n, "\"policies\"", 10))
		return emit_err(w, source, raw, rawlen,
				"not a DMARC report: an SMTP TLS report (RFC 8460 JSON)");
	if (depth > 0)
		return emit_err(w, source, raw, rawlen,
				"not a DMARC report: decompressed content is not XML");
	return emit_err(w, source, raw, rawlen,
			"not a DMARC report: content is not XML, gzip, zip or mail");
}

/* ---- mail ---- */

struct mailscan {
	struct walk *w;
	const char *source;
	GMimeObject *feedback;   /* first message/feedback-report part */
	bool multipart_report;
	unsigned found;          /* report items (good or bad) emitted from attachments */
	unsigned partno;
};

/* decoded bytes of a leaf part or a message part (see report_input.h) */
unsigned char *rin_part_bytes(GMimeObject *obj, size_t *len_r)
{
	GMimeStream *s = g_mime_stream_mem_new();
	unsigned char *res = NULL;
	*len_r = 0;
	if (GMIME_IS_PART(obj)) {
		GMimeDataWrapper *dw = g_mime_part_get_content(GMIME_PART(obj));
		if (dw)
			g_mime_data_wrapper_write_to_stream(dw, s);
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		if (m)
			g_mime_object_write_to_stream(GMIME_OBJECT(m), NULL, s);
	}
	GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(s));
	if (ba) {
		res = xmalloc(ba->len + 1);
		if (ba->len)
			memcpy(res, ba->data, ba->len);
		res[ba->len] = 0;
		*len_r = ba->len;
	}
	g_object_unref(s);
	return res;
}

static bool ends_with_ci(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcasecmp(s + a - b, suf) == 0;
}

/* 2: declared as a report (type or name), 1: might be one, 0: not a candidate */
static int report_candidate(GMimeContentType *ct, const char *filename)
{
	static const char *const strong[] = {
		"application/gzip", "application/x-gzip", "application/zip",
		"application/x-zip-compressed", "application/x-zip", "application/xml",
		"text/xml", "application/x-gzip-compressed", "application/gzip-compressed",
		"application/zlib",
	};
	const char *t = ct ? g_mime_content_type_get_media_type(ct) : NULL;
	const char *st = ct ? g_mime_content_type_get_media_subtype(ct) : NULL;
	if (filename && (ends_with_ci(filename, ".xml") || ends_with_ci(filename, ".gz") ||
			 ends_with_ci(filename, ".zip") || ends_with_ci(filename, ".zlib")))
		return 2;
	if (!t || !st)
		return 0;
	for (size_t i = 0; i < sizeof strong / sizeof strong[0]; i++) {
		const char *slash = strchr(strong[i], '/');
		if (strlen(t) == (size_t)(slash - strong[i]) &&
		    strncasecmp(t, strong[i], (size_t)(slash - strong[i])) == 0 &&
		    strcasecmp(st, slash + 1) == 0)
			return 2;
	}
	if (strcasecmp(t, "application") == 0 &&
	    (strcasecmp(st, "octet-stream") == 0 || strcasestr(st, "zip") || strcasestr(st, "xml")))
		return 1;
	return 0;
}

static void scan_leaf(struct mailscan *ms, GMimeObject *obj)
{
	struct walk *w = ms->w;
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	ms->partno++;
	if (ct && g_mime_content_type_is_type(ct, "message", "feedback-report")) {
		if (!ms->feedback)
			ms->feedback = obj;
		return;
	}
	if (!GMIME_IS_PART(obj))
		return;
	const char *filename = g_mime_part_get_filename(GMIME_PART(obj));
	int cand = report_candidate(ct, filename);
	if (!cand)
		return;
	size_t len;
	unsigned char *bytes = rin_part_bytes(obj, &len);
	char name[64];
	if (!filename || !*filename) {
		snprintf(name, sizeof name, "part%u", ms->partno);
		filename = name;
	}
	char *src = src_join(ms->source, ":", filename);
	size_t off;
	enum sniff k = bytes ? sniff(bytes, len, &off) : SN_EMPTY;
	if (k == SN_XML || k == SN_GZIP || k == SN_ZIP || k == SN_ZLIB || k == SN_ZIP_EMPTY) {
		ms->found++;
		do_object(w, src, bytes, len, bytes, len, 1);
	} else if (cand == 2) {
		ms->found++;
		char *tstr = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
		if (k == SN_EMPTY)
			emit_err(w, src, bytes, len, "attachment (%s) is empty",
				 tstr ? tstr : "no type");
		else
			emit_err(w, src, bytes, len,
				 "attachment (%s) is not XML, gzip or zip", tstr ? tstr : "no type");
		g_free(tstr);
	}
	xfree(src);
	xfree(bytes);
}

/* walks the MIME tree; message/rfc822 parts are not entered (they are the
 * reported message in failure reports, or forwards handled separately) */
static void scan_tree(struct mailscan *ms, GMimeObject *obj, int depth, GPtrArray *inner)
{
	if (!obj || ms->w->stop || depth > 32)
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeContentType *ct = g_mime_object_get_content_type(obj);
		if (ct && g_mime_content_type_is_type(ct, "multipart", "report"))
			ms->multipart_report = true;
		int cnt = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
		for (int i = 0; i < cnt && !ms->w->stop; i++)
			scan_tree(ms, g_mime_multipart_get_part(GMIME_MULTIPART(obj), i), depth + 1,
				  inner);
		return;
	}
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	if (GMIME_IS_MESSAGE_PART(obj) &&
	    !(ct && g_mime_content_type_is_type(ct, "message", "feedback-report"))) {
		if (inner)
			g_ptr_array_add(inner, obj);
		return;
	}
	scan_leaf(ms, obj);
}

/* the Feedback-Type value of a feedback-report part, lower-cased, into out */
static void feedback_type(GMimeObject *fb, char *out, size_t outlen)
{
	size_t len;
	unsigned char *b = rin_part_bytes(fb, &len);
	out[0] = 0;
	for (size_t pos = 0; b && pos < len;) {
		unsigned char *nl = memchr(b + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - b) : len;
		if (has_prefix_ci(b + pos, end - pos, "feedback-type:")) {
			size_t i = pos + 14, o = 0;
			while (i < end && (b[i] == ' ' || b[i] == '\t'))
				i++;
			while (i < end && o + 1 < outlen && b[i] > 32 && b[i] < 127 && b[i] != ';')
				out[o++] = (char)tolower(b[i++]);
			out[o] = 0;
			break;
		}
		pos = end + 1;
	}
	xfree(b);
}

/*
 * Some mail (old Mac files) ends lines with a bare CR, which GMime does not
 * treat as a line end: such input gets its CRs turned into LFs first.
 */
static unsigned char *fix_bare_cr(const unsigned char *p, size_t n)
{
	size_t probe = n < 65536 ? n : 65536;
	if (memchr(p, '\n', probe) || !memchr(p, '\r', probe))
		return NULL;
	unsigned char *q = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		q[i] = p[i] == '\r' ? '\n' : p[i];
	q[n] = 0;
	return q;
}

static int do_mail(struct walk *w, const char *source, const unsigned char *p, size_t n)
{
	if (n > RIN_MAX_MESSAGE)
		return emit_err(w, source, NULL, 0, "message larger than %u bytes", RIN_MAX_MESSAGE);
	rin_gmime_init();
	unsigned char *fixed = fix_bare_cr(p, n);
	const unsigned char *m = fixed ? fixed : p;

	GMimeStream *stream = g_mime_stream_mem_new_with_buffer((const char *)m, n);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	if (!msg) {
		emit_err(w, source, p, n, "not a parseable mail message");
		xfree(fixed);
		return w->stop;
	}

	struct mailscan ms = { .w = w, .source = source };
	GPtrArray *inner = g_ptr_array_new();
	scan_tree(&ms, g_mime_message_get_mime_part(msg), 0, inner);
	/* a forwarded report: look one message deep when the outer has none */
	if (!ms.found && !ms.feedback && !ms.multipart_report) {
		for (guint i = 0; i < inner->len && !w->stop; i++) {
			GMimeMessage *im = g_mime_message_part_get_message(inner->pdata[i]);
			if (im)
				scan_tree(&ms, g_mime_message_get_mime_part(im), 1, NULL);
		}
	}
	g_ptr_array_free(inner, TRUE);

	if (!w->stop && ms.feedback) {
		char ft[32];
		feedback_type(ms.feedback, ft, sizeof ft);
		if (strcmp(ft, "auth-failure") == 0)
			emit(w, source, RIN_FAILURE, m, n, p, n, NULL);
		else if (!ft[0])
			emit_err(w, source, p, n, "ARF feedback report without a Feedback-Type");
		else
			emit_err(w, source, p, n,
				 "ARF feedback report of type '%s' is not a DMARC failure report", ft);
	} else if (!w->stop && !ms.found) {
		if (ms.multipart_report)
			emit_err(w, source, p, n,
				 "multipart/report without a message/feedback-report part: "
				 "not an ARF failure report");
		else
			emit_err(w, source, p, n, "no DMARC report found in message");
	}
	g_object_unref(msg);
	xfree(fixed);
	return w->stop;
}

/*
 * mbox (RFC 4155): messages start at lines beginning "From "; in bodies
 * mboxrd escapes such lines as ">From ", ">>From " ...: one '>' is removed
 * (which also undoes mboxo's escaping of "From ").
 */
static int do_mbox(struct walk *w, const char *source, const unsigned char *p, size_t n)
{
	size_t pos = 0;
	unsigned msgno = 0;
	while (pos < n && !w->stop) {
		const unsigned char *nl = memchr(p + pos, '\n', n - pos);
		if (!nl)
			break; /* a lone From_ line: nothing follows */
		size_t start = (size_t)(nl - p) + 1, end = n, next = n;
		for (size_t i = start; i + 6 <= n;) {
			const unsigned char *q = memchr(p + i, '\n', n - i);
			if (!q || (size_t)(q - p) + 6 > n)
				break;
			if (memcmp(q + 1, "From ", 5) == 0) {
				end = (size_t)(q - p) + 1;
				next = end;
				break;
			}
			i = (size_t)(q - p) + 1;
		}
		/* the blank line before the next From_ belongs to the separator */
		size_t mend = end;
		if (next < n && mend > start && p[mend - 1] == '\n') {
			mend--;
			if (mend > start && p[mend - 1] == '\r')
				mend--;
		}
		msgno++;
		struct buf m = BUF_INIT(0);
		size_t i = start;
		while (i < mend) {
			const unsigned char *q = memchr(p + i, '\n', mend - i);
			size_t le = q ? (size_t)(q - p) + 1 : mend;
			size_t g = i;
			while (g < le && p[g] == '>')
				g++;
			if (g > i && le - g >= 5 && memcmp(p + g, "From ", 5) == 0)
				i++;
			buf_append(&m, p + i, le - i);
			i = le;
		}
		char tag[32];
		snprintf(tag, sizeof tag, "#msg%u", msgno);
		char *src = src_join(source, tag, NULL);
		if (m.len == 0)
			emit_err(w, src, NULL, 0, "empty message in mbox");
		else
			do_mail(w, src, (unsigned char *)m.data, m.len);
		xfree(src);
		buf_free(&m);
		pos = next;
	}
	if (msgno == 0 && !w->stop)
		emit_err(w, source, p, n, "mbox without messages");
	return w->stop;
}

/* ---- files and directories ---- */

/* reads fd (a regular file) whole into a NUL-terminated buffer */
static int read_fd(int fd, unsigned char **p_r, size_t *n_r, char *err, size_t errlen)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot stat: %s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		return -1;
	}
	if ((uint64_t)st.st_size > RIN_MAX_FILE) {
		snprintf(err, errlen, "file larger than %lu bytes", RIN_MAX_FILE);
		return -1;
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	unsigned char *b = xmalloc(cap);
	for (;;) {
		if (len + 1 == cap) {
			/* the file grew while we read it: take what the stat said */
			break;
		}
		ssize_t r = read(fd, b + len, cap - 1 - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "cannot read: %s", strerror(errno));
			xfree(b);
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	b[len] = 0;
	*p_r = b;
	*n_r = len;
	return 0;
}

static int do_file(struct walk *w, int fd, const char *source, bool is_mail)
{
	char err[RIN_ERRLEN];
	unsigned char *p;
	size_t n;
	if (read_fd(fd, &p, &n, err, sizeof err) < 0)
		return emit_err(w, source, NULL, 0, "%s", err);
	if (n == 0)
		emit_err(w, source, NULL, 0, "empty file");
	else if (is_mail)
		do_mail(w, source, p, n);
	else
		do_object(w, source, p, n, p, n, 0);
	xfree(p);
	return w->stop;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* names in dfd, sorted; dotfiles only when dots is set (never . and ..) */
static char **list_dir(int dfd, bool dots, size_t *n_r)
{
	int fd2 = dup(dfd);
	DIR *d = fd2 >= 0 ? fdopendir(fd2) : NULL;
	char **v = NULL;
	size_t n = 0, cap = 0;
	*n_r = 0;
	if (!d) {
		if (fd2 >= 0)
			close(fd2);
		return NULL;
	}
	rewinddir(d);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_name[0] == '.' && !dots)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			v = xreallocarray(v, cap, sizeof *v);
		}
		v[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof *v, cmp_names);
	*n_r = n;
	return v;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		xfree(v[i]);
	xfree(v);
}

static bool subdir_at(int dfd, const char *name)
{
	struct stat st;
	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static bool is_maildir(int dfd)
{
	return subdir_at(dfd, "cur") && subdir_at(dfd, "new") && subdir_at(dfd, "tmp");
}

static int walk_dir(struct walk *w, int dfd, const char *dpath, int depth);

/* one entry of dfd: files are read, directories walked, links skipped */
static int walk_entry(struct walk *w, int dfd, const char *dpath, const char *name, int depth,
		      bool is_mail)
{
	struct stat st;
	char *path = src_join(dpath, "/", name);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		emit_err(w, path, NULL, 0, "cannot stat: %s", strerror(errno));
	} else if (S_ISDIR(st.st_mode) && !is_mail) {
		if (depth >= RIN_MAX_DIR_DEPTH) {
			emit_err(w, path, NULL, 0, "directories nested more than %d deep",
				 RIN_MAX_DIR_DEPTH);
		} else {
			int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				emit_err(w, path, NULL, 0, "cannot open directory: %s", strerror(errno));
			} else {
				walk_dir(w, fd, path, depth + 1);
				close(fd);
			}
		}
	} else if (S_ISREG(st.st_mode)) {
		int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			emit_err(w, path, NULL, 0, "cannot open: %s", strerror(errno));
		else {
			do_file(w, fd, path, is_mail);
			close(fd);
		}
	} else if (S_ISLNK(st.st_mode)) {
		log_debug("%s: symbolic link not followed", path);
	}
	xfree(path);
	return w->stop;
}

static int walk_maildir(struct walk *w, int dfd, const char *dpath, int depth)
{
	static const char *const subs[] = { "cur", "new" };
	for (size_t s = 0; s < 2 && !w->stop; s++) {
		int fd = openat(dfd, subs[s], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		char *sp = src_join(dpath, "/", subs[s]);
		if (fd < 0) {
			emit_err(w, sp, NULL, 0, "cannot open directory: %s", strerror(errno));
			xfree(sp);
			continue;
		}
		size_t n;
		char **v = list_dir(fd, false, &n);
		for (size_t i = 0; i < n && !w->stop; i++)
			walk_entry(w, fd, sp, v[i], depth, true);
		free_list(v, n);
		close(fd);
		xfree(sp);
	}
	/* Maildir++ keeps sub-folders as ".Name" Maildirs inside the root */
	size_t n;
	char **v = list_dir(dfd, true, &n);
	for (size_t i = 0; i < n && !w->stop; i++) {
		if (v[i][0] != '.' || depth >= RIN_MAX_DIR_DEPTH)
			continue;
		int fd = openat(dfd, v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (is_maildir(fd)) {
			char *sp = src_join(dpath, "/", v[i]);
			walk_maildir(w, fd, sp, depth + 1);
			xfree(sp);
		}
		close(fd);
	}
	free_list(v, n);
	return w->stop;
}

static int walk_dir(struct walk *w, int dfd, const char *dpath, int depth)
{
	if (is_maildir(dfd))
		return walk_maildir(w, dfd, dpath, depth);
	size_t n;
	char **v = list_dir(dfd, false, &n);
	for (size_t i = 0; i < n && !w->stop; i++)
		walk_entry(w, dfd, dpath, v[i], depth, false);
	free_list(v, n);
	return w->stop;
}

static void walk_init(struct walk *w, const struct rin_opts *o, rin_cb cb, void *ctx)
{
	memset(w, 0, sizeof *w);
	w->maxd = o && o->max_decompressed ? o->max_decompressed : RIN_DEFAULT_MAX_DECOMPRESSED;
	if (w->maxd > RIN_MAX_DECOMPRESSED_CEILING)
		w->maxd = RIN_MAX_DECOMPRESSED_CEILING;
	w->cb = cb;
	w->ctx = ctx;
}

int rin_walk(char *const *paths, size_t n, const struct rin_opts *o, rin_cb cb, void *ctx)
{
	struct walk w;
	walk_init(&w, o, cb, ctx);
	for (size_t i = 0; i < n && !w.stop; i++) {
		const char *path = paths[i];
		char *src = src_join(path, NULL, NULL);
		/* the path given is followed even if it is a link: the operator named it */
		int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		struct stat st;
		if (fd < 0) {
			emit_err(&w, src, NULL, 0, "cannot open: %s", strerror(errno));
		} else if (fstat(fd, &st) < 0) {
			emit_err(&w, src, NULL, 0, "cannot stat: %s", strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			/* strip trailing slashes so sources read "dir/file" */
			size_t l = strlen(src);
			while (l > 1 && src[l - 1] == '/')
				src[--l] = 0;
			walk_dir(&w, fd, src, 0);
		} else if (S_ISREG(st.st_mode)) {
			do_file(&w, fd, src, false);
		} else {
			emit_err(&w, src, NULL, 0, "not a regular file or directory");
		}
		if (fd >= 0)
			close(fd);
		xfree(src);
	}
	return w.stop;
}

int rin_buffer(const char *source, const void *data, size_t len, const struct rin_opts *o,
	       rin_cb cb, void *ctx)
{
	struct walk w;
	walk_init(&w, o, cb, ctx);
	char *src = src_join(source ? source : "", NULL, NULL);
	if (len == 0) {
		emit_err(&w, src, NULL, 0, "empty message");
	} else {
		unsigned char *copy = xmalloc(len + 1);
		memcpy(copy, data, len);
		copy[len] = 0;
		/* an IMAP message may still carry an mbox From_ line */
		if (len >= 5 && memcmp(copy, "From ", 5) == 0)
			do_mbox(&w, src, copy, len);
		else
			do_mail(&w, src, copy, len);
		xfree(copy);
	}
	xfree(src);
	return w.stop;
}

int rin_bytes(const char *source, const void *data, size_t len, const struct rin_opts *o,
	      rin_cb cb, void *ctx)
{
	struct walk w;
	walk_init(&w, o, cb, ctx);
	char *src = src_join(source ? source : "", NULL, NULL);
	if (len == 0) {
		emit_err(&w, src, NULL, 0, "empty file");
	} else {
		unsigned char *copy = xmalloc(len + 1);
		memcpy(copy, data, len);
		copy[len] = 0;
		do_object(&w, src, copy, len, copy, len, 0);
		xfree(copy);
	}
	xfree(src);
	return w.stop;
}
