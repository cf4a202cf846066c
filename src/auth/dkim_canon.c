/*
 * dkim_canon: RFC 6376 section 3.4 canonicalisation on raw bytes.
 * Header canonicalisation works field by field into a caller's buf; the body
 * hash is a byte-level state machine so chunks of any size (including a CRLF
 * split across two chunks) give the same digest as one call.
 */
#include "auth/dkim_canon.h"
#include "auth/dkim_key.h"
#include "auth/taglist.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int canon_word(const char *s, size_t len, enum dkim_canon *c_r)
{
	if (len == 6 && strncasecmp(s, "simple", 6) == 0)
		*c_r = DKIM_CANON_SIMPLE;
	else if (len == 7 && strncasecmp(s, "relaxed", 7) == 0)
		*c_r = DKIM_CANON_RELAXED;
	else
		return -1;
	return 0;
}

int dkim_canon_parse(const char *v, size_t len, enum dkim_canon *hdr_r, enum dkim_canon *body_r)
{
	const char *slash = memchr(v, '/', len);
	enum dkim_canon h, b = DKIM_CANON_SIMPLE;
	if (!slash)
		return canon_word(v, len, hdr_r) == 0 ? (*body_r = b, 0) : -1;
	if (canon_word(v, (size_t)(slash - v), &h) < 0)
		return -1;
	if (canon_word(slash + 1, len - (size_t)(slash - v) - 1, &b) < 0)
		return -1;
	*hdr_r = h;
	*body_r = b;
	return 0;
}

/* SP, HTAB and CR: the bytes relaxed canonicalisation may change */
static const unsigned char relaxed_special[256] = { [' '] = 1, ['\t'] = 1, ['\r'] = 1 };

/* canonical header bytes collected locally and appended to out in chunks */
#define HOUT_CHUNK 1024

struct hout {
	struct buf *out;
	size_t n;
	int err;
	char tmp[HOUT_CHUNK];
};

static void hout_flush(struct hout *h)
{
	if (h->n > 0 && buf_append(h->out, h->tmp, h->n) < 0)
		h->err = -1;
	h->n = 0;
}

static void hout_put(struct hout *h, const char *p, size_t n)
{
	if (h->n + n > HOUT_CHUNK) {
		hout_flush(h);
		if (n > HOUT_CHUNK) {
			if (buf_append(h->out, p, n) < 0)
				h->err = -1;
			return;
		}
	}
	memcpy(h->tmp + h->n, p, n);
	h->n += n;
}

/*
 * Relaxed header canonicalisation (RFC 6376 3.4.2) of one field given as
 * contiguous bytes p[0..len): name lower-cased without WSP before the colon;
 * value unfolded (CRLF removed), runs of WSP to one SP, none at either end.
 * A final CRLF of the input is dropped; final_crlf appends one.
 */
static int relaxed_header(const char *p, size_t len, bool final_crlf, struct buf *out)
{
	struct hout h;
	h.out = out;
	h.n = 0;
	h.err = 0;
	size_t total = len;
	if (total >= 2 && p[total - 2] == '\r' && p[total - 1] == '\n')
		total -= 2;
	const char *cp = memchr(p, ':', total);
	size_t colon = cp ? (size_t)(cp - p) : total;
	size_t ne = colon;
	while (ne > 0 && is_wsp(p[ne - 1]))
		ne--;
	for (size_t i = 0; i < ne;) {
		if (h.n == HOUT_CHUNK)
			hout_flush(&h);
		size_t k = ne - i < HOUT_CHUNK - h.n ? ne - i : HOUT_CHUNK - h.n;
		for (size_t j = 0; j < k; j++)
			h.tmp[h.n + j] = lower(p[i + j]);
		h.n += k;
		i += k;
	}
	hout_put(&h, ":", 1);
	const unsigned char *u = (const unsigned char *)p;
	bool pending_sp = false, any = false;
	size_t i = colon + 1;
	while (i < total) {
		size_t s = i;
		while (i < total && !relaxed_special[u[i]])
			i++;
		if (i == s && p[i] == '\r' && !(i + 1 < total && p[i + 1] == '\n'))
			i++; /* a bare CR is content */
		if (i > s) {
			if (pending_sp && any)
				hout_put(&h, " ", 1);
			pending_sp = false;
			any = true;
			hout_put(&h, p + s, i - s);
			continue;
		}
		if (p[i] == '\r')
			i += 2; /* CRLF: unfolded */
		else {
			pending_sp = true;
			i++;
		}
	}
	if (final_crlf)
		hout_put(&h, "\r\n", 2);
	hout_flush(&h);
	return h.err;
}

int dkim_canon_header(enum dkim_canon c, const char *raw, size_t len, struct buf *out)
{
	if (c == DKIM_CANON_SIMPLE)
		return buf_append(out, raw, len);
	return relaxed_header(raw, len, true, out);
}

int dkim_canon_sig_header(enum dkim_canon c, const char *raw, size_t len, struct buf *out)
{
	/* find the b= tag's value inside the raw field and cut it out */
	const char *colon = memchr(raw, ':', len);
	size_t cut_from = len, cut_to = len;
	if (colon) {
		const char *v = colon + 1;
		size_t vlen = len - (size_t)(v - raw);
		struct taglist tl;
		char err[128];
		if (taglist_parse(v, vlen, &tl, err, sizeof err) == 0) {
			const struct tag *b = taglist_get(&tl, "b");
			if (b) {
				cut_from = (size_t)(b->value - raw);
				cut_to = cut_from + b->value_len;
			}
		}
	}
	return dkim_canon_sig_header_cut(c, raw, len, cut_from, cut_to, out);
}

#define SIG_STACK 2048 /* signature fields up to this size are joined on the stack */

int dkim_canon_sig_header_cut(enum dkim_canon c, const char *raw, size_t len, size_t cut_from, size_t cut_to,
			      struct buf *out)
{
	/* without the field's final CRLF */
	size_t end = len;
	if (end >= 2 && raw[end - 2] == '\r' && raw[end - 1] == '\n')
		end -= 2;
	if (cut_from > cut_to)
		cut_from = cut_to;
	if (cut_to > end) { /* b= value cannot reach into the CRLF, but be safe */
		cut_to = end;
		if (cut_from > end)
			cut_from = end;
	}
	size_t n0 = cut_from, n1 = end - cut_to;
	if (c == DKIM_CANON_SIMPLE) {
		if (buf_append(out, raw, n0) < 0 || buf_append(out, raw + cut_to, n1) < 0)
			return -1;
		return 0;
	}
	char stack[SIG_STACK];
	char *joined = n0 + n1 <= sizeof stack ? stack : xmalloc(n0 + n1);
	memcpy(joined, raw, n0);
	memcpy(joined + n0, raw + cut_to, n1);
	int rc = relaxed_header(joined, n0 + n1, false, out);
	if (joined != stack)
		free(joined);
	return rc;
}

static bool name_eq(const struct msg_header *h, const char *n, size_t len)
{
	return h->name_len == len && strncasecmp(h->name, n, len) == 0;
}

int dkim_canon_headers(enum dkim_canon c, const struct message *msg, const char *hlist, size_t hlen,
		       size_t skip_from, struct buf *out)
{
	/* which instances are already taken; message.h bounds nhdr */
	bool used[MESSAGE_MAX_HEADERS];
	size_t nh = msg->nhdr < skip_from ? msg->nhdr : skip_from;
	if (nh > MESSAGE_MAX_HEADERS)
		nh = MESSAGE_MAX_HEADERS;
	memset(used, 0, nh * sizeof used[0]);
	size_t p = 0;
	while (p <= hlen) {
		const char *e = memchr(hlist + p, ':', hlen - p);
		size_t q = e ? (size_t)(e - hlist) : hlen;
		size_t s = p, t = q;
		while (s < t && (is_wsp(hlist[s]) || hlist[s] == '\r' || hlist[s] == '\n'))
			s++;
		while (t > s && (is_wsp(hlist[t - 1]) || hlist[t - 1] == '\r' || hlist[t - 1] == '\n'))
			t--;
		if (t > s) {
			for (size_t i = nh; i-- > 0;) {
				if (used[i] || !name_eq(&msg->hdr[i], hlist + s, t - s))
					continue;
				used[i] = true;
				if (dkim_canon_header(c, msg->hdr[i].raw, msg->hdr[i].raw_len, out) < 0)
					return -1;
				break;
			}
		}
		p = q + 1;
	}
	return 0;
}

/* ---- body ---- */

/*
 * The body hash is a byte-level state machine (bh_content, bh_eol) that holds
 * back whitespace and empty lines until it knows whether they are trailing.
 * Most of a body needs none of that: in the "clean" state (nothing held
 * back) a run of bytes that canonicalisation leaves as it is can be copied
 * whole. The run scanners below find such runs; every byte they do not take
 * goes through the state machine, so both paths give the same output.
 */

#define BH_CHUNK 8192 /* canonical bytes collected before one digest update */
#define BH_DIRECT (BH_CHUNK / 2) /* longer runs are hashed from the input, not copied */

struct bh_out {
	struct dkim_bodyhash *bh;
	size_t n;
	char buf[BH_CHUNK];
};

/* hashes canonical bytes, honouring l=; counts all of them */
static void bh_hash(struct dkim_bodyhash *bh, const char *p, size_t n)
{
	size_t h = n;
	if (bh->limit >= 0) {
		long long room = bh->limit - bh->hashed;
		if (room <= 0)
			h = 0;
		else if ((long long)h > room)
			h = (size_t)room;
	}
	if (h > 0 && bh->md)
		EVP_DigestUpdate(bh->md, p, h);
	bh->hashed += (long long)n;
}

static void bh_flush(struct bh_out *o)
{
	size_t n = o->n;
	o->n = 0;
	if (n > 0)
		bh_hash(o->bh, o->buf, n);
}

static inline void bh_put(struct bh_out *o, char c)
{
	if (o->n == BH_CHUNK)
		bh_flush(o);
	o->buf[o->n++] = c;
}

/* n canonical bytes taken as they stand from the input */
static void bh_put_run(struct bh_out *o, const char *p, size_t n)
{
	if (n >= BH_DIRECT) {
		bh_flush(o);
		bh_hash(o->bh, p, n);
		return;
	}
	if (o->n + n > BH_CHUNK)
		bh_flush(o);
	memcpy(o->buf + o->n, p, n);
	o->n += n;
}

/* a content byte (not part of a line break) */
static void bh_content(struct dkim_bodyhash *bh, struct bh_out *o, char c)
{
	if (bh->canon == DKIM_CANON_RELAXED && is_wsp(c)) {
		bh->pending_wsp = true;
		return;
	}
	for (; bh->pending_crlf > 0; bh->pending_crlf--) {
		bh_put(o, '\r');
		bh_put(o, '\n');
	}
	if (bh->pending_wsp) {
		bh_put(o, ' ');
		bh->pending_wsp = false;
	}
	bh_put(o, c);
	bh->line_has_data = true;
	bh->any = true;
}

static void bh_eol(struct dkim_bodyhash *bh)
{
	/* relaxed: whitespace at the end of a line is dropped; the CRLF is held
	   like an empty line, so trailing CRLFs collapse to one at the end */
	bh->pending_wsp = false;
	bh->line_has_data = false;
	bh->pending_crlf++;
}

void dkim_bodyhash_init(struct dkim_bodyhash *bh, enum dkim_canon c, const EVP_MD *md, long long limit)
{
	memset(bh, 0, sizeof *bh);
	bh->canon = c;
	bh->limit = limit;
	bh->md = EVP_MD_CTX_new();
	if (!bh->md)
		xmem_fail(0);
	if (EVP_DigestInit_ex(bh->md, dkim_md_fetched(md), NULL) != 1) {
		EVP_MD_CTX_free(bh->md);
		bh->md = NULL; /* final then yields an empty digest: never verifies */
	}
}

/*
 * Relaxed, clean state: the length of the longest prefix of p[0..n) that is
 * its own canonical form and ends with a content byte (so the state after it
 * is clean again), or 0. Taken: a byte other than SP, HTAB, CR; a SP followed
 * by such a byte (a single space inside a line); CR LF followed by such a
 * byte (the end of a line without trailing whitespace, the next one not
 * empty). Anything else is left to the state machine.
 */
static size_t relaxed_run(const unsigned char *p, size_t n)
{
	size_t i = 0;
	for (;;) {
#if defined(__SSE2__)
		/* 16 bytes at a time: a byte is "bad" if it is HTAB, a SP whose
		   successor is SP, HTAB or CR, or a CR not followed by LF and a byte
		   that is none of those */
		const __m128i vsp = _mm_set1_epi8(' '), vtab = _mm_set1_epi8('\t'), vcr = _mm_set1_epi8('\r'),
			      vlf = _mm_set1_epi8('\n');
		while (i + 18 <= n) {
			__m128i a = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
			__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 1));
			__m128i c = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 2));
			__m128i spec_b = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(b, vsp), _mm_cmpeq_epi8(b, vtab)),
						      _mm_cmpeq_epi8(b, vcr));
			__m128i spec_c = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(c, vsp), _mm_cmpeq_epi8(c, vtab)),
						      _mm_cmpeq_epi8(c, vcr));
			__m128i crlf_ok = _mm_andnot_si128(spec_c, _mm_cmpeq_epi8(b, vlf));
			__m128i bad = _mm_or_si128(_mm_cmpeq_epi8(a, vtab), _mm_and_si128(_mm_cmpeq_epi8(a, vsp), spec_b));
			bad = _mm_or_si128(bad, _mm_andnot_si128(crlf_ok, _mm_cmpeq_epi8(a, vcr)));
			unsigned m = (unsigned)_mm_movemask_epi8(bad);
			if (m != 0) {
				i += (size_t)__builtin_ctz(m);
				break;
			}
			i += 16;
		}
#endif
		if (i >= n)
			return n;
		unsigned char c = p[i];
		if (!relaxed_special[c]) {
			i++;
		} else if (c == ' ' && i + 1 < n && !relaxed_special[p[i + 1]]) {
			i += 2;
		} else if (c == '\r' && i + 2 < n && p[i + 1] == '\n' && !relaxed_special[p[i + 2]]) {
			i += 3;
		} else {
			return i;
		}
	}
}

/*
 * Simple, clean state: the same for simple canonicalisation, which changes
 * nothing but trailing empty lines: everything up to a CR, and CR LF when
 * followed by a byte other than CR.
 */
static size_t simple_run(const unsigned char *p, size_t n)
{
	size_t i = 0;
	for (;;) {
		const unsigned char *cr = memchr(p + i, '\r', n - i);
		if (!cr)
			return n;
		i = (size_t)(cr - p);
		if (i + 2 < n && p[i + 1] == '\n' && p[i + 2] != '\r')
			i += 3;
		else
			return i;
	}
}

void dkim_bodyhash_update(struct dkim_bodyhash *bh, const char *data, size_t len)
{
	struct bh_out o;
	o.bh = bh;
	o.n = 0;
	const unsigned char *u = (const unsigned char *)data;
	size_t i = 0;
	while (i < len) {
		if (!bh->saw_cr && !bh->pending_wsp && bh->pending_crlf == 0) {
			size_t run = bh->canon == DKIM_CANON_RELAXED ? relaxed_run(u + i, len - i)
								      : simple_run(u + i, len - i);
			if (run > 0) {
				bh_put_run(&o, data + i, run);
				bh->line_has_data = true;
				bh->any = true;
				i += run;
				continue;
			}
		}
		/* one byte through the state machine */
		char c = data[i++];
		if (bh->saw_cr) {
			bh->saw_cr = false;
			if (c == '\n') {
				bh_eol(bh);
				continue;
			}
			bh_content(bh, &o, '\r'); /* a bare CR is data */
		}
		if (c == '\r') {
			bh->saw_cr = true;
			continue;
		}
		bh_content(bh, &o, c);
	}
	bh_flush(&o);
}

void dkim_bodyhash_final(struct dkim_bodyhash *bh, unsigned char *digest_r, unsigned *dlen_r, long long *total_r)
{
	struct bh_out o;
	o.bh = bh;
	o.n = 0;
	if (bh->saw_cr) {
		bh->saw_cr = false;
		bh_content(bh, &o, '\r');
	}
	if (bh->pending_wsp) {
		/* relaxed: whitespace on a last line without CRLF is not "at the
		   end of a line" (RFC 6376 3.4.4 a), so it stays as one SP before
		   the CRLF added by 3.4.4 b; dkimpy reads it the same way */
		for (; bh->pending_crlf > 0; bh->pending_crlf--) {
			bh_put(&o, '\r');
			bh_put(&o, '\n');
		}
		bh_put(&o, ' ');
		bh->pending_wsp = false;
		bh->any = true;
	}
	if (bh->any) {
		/* content seen: exactly one CRLF ends it (added if missing,
		   trailing empty lines dropped) */
		bh_put(&o, '\r');
		bh_put(&o, '\n');
	} else if (bh->canon == DKIM_CANON_SIMPLE) {
		/* RFC 6376 3.4.3: an empty body is a single CRLF */
		bh_put(&o, '\r');
		bh_put(&o, '\n');
	}
	/* relaxed empty body: nothing (RFC 6376 3.4.4, errata 3765 style) */
	bh_flush(&o);
	*dlen_r = 0;
	if (bh->md) {
		EVP_DigestFinal_ex(bh->md, digest_r, dlen_r);
		EVP_MD_CTX_free(bh->md);
		bh->md = NULL;
	}
	if (total_r)
		*total_r = bh->hashed;
}

void dkim_bodyhash_abort(struct dkim_bodyhash *bh)
{
	EVP_MD_CTX_free(bh->md);
	bh->md = NULL;
}
