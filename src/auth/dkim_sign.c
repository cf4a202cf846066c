/*
 * dkim_sign: DKIM signing (RFC 6376 section 5) with rsa-sha256 or
 * ed25519-sha256 (RFC 8463). The signature field is built folded, then its
 * canonical form with an empty b= is signed, so the output verifies whatever
 * canonicalisation was chosen.
 */
#include "auth/dkim.h"
#include "auth/dkim_key.h"
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#define DKIM_KEYFILE_MAX (64 * 1024)
#define DKIM_FOLD_COLS 78             /* RFC 5322 2.1.1 recommended line length */
#define DKIM_SIGN_MAX_HEADER (1024 * 1024)
#define ED25519_SEED_LEN 32

struct dkim_signer {
	EVP_PKEY *pkey;
	enum dkim_keytype type;
	char *domain, *selector;
	enum dkim_canon hc, bc;
	char *headers, *oversign;
	unsigned expiry;
};

static char *read_file(const char *path, size_t *len_r, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot open key file %s: %m", path);
		return NULL;
	}
	char *data = xmalloc(DKIM_KEYFILE_MAX + 1);
	size_t n = fread(data, 1, DKIM_KEYFILE_MAX + 1, f);
	fclose(f);
	if (n > DKIM_KEYFILE_MAX) {
		snprintf(err, errlen, "key file %s is larger than %d bytes", path, DKIM_KEYFILE_MAX);
		free(data);
		return NULL;
	}
	data[n] = '\0';
	*len_r = n;
	return data;
}

/* d= and s= are written into the field as they are: only domain-name
   characters, so a bad configuration cannot inject tags */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > DNS_MAX_NAME || s[0] == '.' || s[n - 1] == '.' || strstr(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_' || c == '.'))
			return false;
	}
	return true;
}

struct dkim_signer *dkim_signer_load(const char *key_file, const char *domain, const char *selector, char *err,
				     size_t errlen)
{
	if (!name_ok(domain) || !name_ok(selector)) {
		snprintf(err, errlen, "invalid signing domain or selector \"%.64s\" / \"%.64s\"", domain, selector);
		return NULL;
	}
	size_t len;
	char *data = read_file(key_file, &len, err, errlen);
	if (!data)
		return NULL;
	EVP_PKEY *pk = NULL;
	if (strstr(data, "-----BEGIN")) {
		BIO *bio = BIO_new_mem_buf(data, (int)len);
		if (!bio)
			xmem_fail(len);
		pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
		BIO_free(bio);
		if (!pk) {
			ERR_clear_error();
			snprintf(err, errlen, "%s: not a usable PEM private key", key_file);
		}
	} else {
		/* dkimpy's ed25519 key file: base64 of the 32-byte seed */
		unsigned char seed[64];
		long n = dkim_base64_decode(data, len, seed, sizeof seed);
		if (n == ED25519_SEED_LEN)
			pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, (size_t)n);
		OPENSSL_cleanse(seed, sizeof seed);
		if (!pk) {
			ERR_clear_error();
			snprintf(err, errlen, "%s: neither PEM nor a base64 ed25519 seed", key_file);
		}
	}
	OPENSSL_cleanse(data, len);
	free(data);
	if (!pk)
		return NULL;

	enum dkim_keytype type;
	int id = EVP_PKEY_get_base_id(pk);
	if (id == EVP_PKEY_RSA) {
		type = DKIM_KEY_RSA;
		if (EVP_PKEY_get_bits(pk) < DKIM_MIN_RSA_BITS) {
			snprintf(err, errlen, "%s: RSA key of %d bits is below %d (RFC 8301)", key_file,
				 EVP_PKEY_get_bits(pk), DKIM_MIN_RSA_BITS);
			EVP_PKEY_free(pk);
			return NULL;
		}
	} else if (id == EVP_PKEY_ED25519) {
		type = DKIM_KEY_ED25519;
	} else {
		snprintf(err, errlen, "%s: key type is neither RSA nor ed25519", key_file);
		EVP_PKEY_free(pk);
		return NULL;
	}
	struct dkim_signer *s = xcalloc(1, sizeof *s);
	s->pkey = pk;
	s->type = type;
	s->domain = xstrdup(domain);
	s->selector = xstrdup(selector);
	s->hc = s->bc = DKIM_CANON_RELAXED;
	s->headers = xstrdup(DKIM_SIGN_DEFAULT_HEADERS);
	s->oversign = xstrdup(DKIM_SIGN_DEFAULT_OVERSIGN);
	return s;
}

void dkim_signer_free(struct dkim_signer **sp)
{
	struct dkim_signer *s = *sp;
	if (!s)
		return;
	EVP_PKEY_free(s->pkey);
	free(s->domain);
	free(s->selector);
	free(s->headers);
	free(s->oversign);
	free(s);
	*sp = NULL;
}

void dkim_signer_set_canon(struct dkim_signer *s, enum dkim_canon hdr, enum dkim_canon body)
{
	s->hc = hdr;
	s->bc = body;
}

/* the names of a colon list, one at a time: *p advances; false at the end */
static bool next_name(const char *list, size_t *p, const char **name_r, size_t *len_r)
{
	size_t n = strlen(list);
	while (*p <= n) {
		const char *e = strchr(list + *p, ':');
		size_t q = e ? (size_t)(e - list) : n, a = *p, b = q;
		*p = q + 1;
		while (a < b && (list[a] == ' ' || list[a] == '\t'))
			a++;
		while (b > a && (list[b - 1] == ' ' || list[b - 1] == '\t'))
			b--;
		if (b > a) {
			*name_r = list + a;
			*len_r = b - a;
			return true;
		}
	}
	return false;
}

static bool list_has_name(const char *list, const char *name, size_t len)
{
	size_t p = 0, l;
	const char *nm;
	while (next_name(list, &p, &nm, &l))
		if (l == len && strncasecmp(nm, name, len) == 0)
			return true;
	return false;
}

/* every name is a field name (RFC 5322 3.6.8 ftext) that cannot break the
   tag list: no ';' or '=' */
static bool names_ok(const char *list)
{
	for (const char *c = list; *c; c++) {
		unsigned char u = (unsigned char)*c;
		if (u == ' ' || u == '\t' || u == ':')
			continue;
		if (u < 33 || u > 126 || u == ';' || u == '=')
			return false;
	}
	return true;
}

int dkim_signer_set_headers(struct dkim_signer *s, const char *headers, const char *oversign)
{
	if ((headers && !names_ok(headers)) || (oversign && !names_ok(oversign)))
		return -1;
	if (headers) {
		if (!list_has_name(headers, "from", 4))
			return -1;
		free(s->headers);
		s->headers = xstrdup(headers);
	}
	if (oversign) {
		free(s->oversign);
		s->oversign = xstrdup(oversign);
	}
	return 0;
}

void dkim_signer_set_expiry(struct dkim_signer *s, unsigned seconds)
{
	s->expiry = seconds;
}

static size_t count_fields(const struct message *msg, const char *name, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < msg->nhdr; i++)
		if (msg->hdr[i].name_len == len && strncasecmp(msg->hdr[i].name, name, len) == 0)
			n++;
	return n;
}

/* the folding writer: tracks the current column of the field being built */
struct folder {
	struct buf *b;
	size_t col;
};

/* appends an atom that may not be split, folding before it if needed */
static void fold_atom_room(struct folder *f, const char *s, size_t n, bool space_before, size_t room)
{
	size_t need = n + room + (space_before ? 1 : 0);
	if (f->col > 1 && f->col + need > DKIM_FOLD_COLS) {
		buf_append(f->b, "\r\n\t", 3);
		f->col = 8;
	} else if (space_before) {
		buf_putc(f->b, ' ');
		f->col++;
	}
	buf_append(f->b, s, n);
	f->col += n;
}

static void fold_atom(struct folder *f, const char *s, size_t n, bool space_before)
{
	fold_atom_room(f, s, n, space_before, 0);
}

/* appends a long token (base64) split wherever the line is full */
static void fold_long(struct folder *f, const char *s, size_t n)
{
	while (n > 0) {
		if (f->col >= DKIM_FOLD_COLS) {
			buf_append(f->b, "\r\n\t", 3);
			f->col = 8;
		}
		size_t room = DKIM_FOLD_COLS - f->col, k = n < room ? n : room;
		buf_append(f->b, s, k);
		f->col += k;
		s += k;
		n -= k;
	}
}

static void b64(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	/* EVP_EncodeBlock writes 4*ceil(n/3)+1 bytes */
	if (4 * ((n + 2) / 3) + 1 > outlen) {
		out[0] = '\0';
		return;
	}
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

char *dkim_sign(const struct dkim_signer *s, const struct message *msg, time_t now, char *err, size_t errlen)
{
	if (!message_header(msg, "From", 0)) {
		snprintf(err, errlen, "message has no From field");
		return NULL;
	}
	/* body hash */
	unsigned char bh[EVP_MAX_MD_SIZE];
	unsigned bhlen;
	struct dkim_bodyhash h;
	dkim_bodyhash_init(&h, s->bc, dkim_hash_md(DKIM_HASH_SHA256), -1);
	dkim_bodyhash_update(&h, msg->body, msg->body_len);
	dkim_bodyhash_final(&h, bh, &bhlen, NULL);
	if (bhlen == 0) {
		snprintf(err, errlen, "SHA-256 unavailable");
		return NULL;
	}
	char bh64[EVP_MAX_MD_SIZE * 2];
	b64(bh, bhlen, bh64, sizeof bh64);

	/* h=: each present instance of the listed names, plus the oversigned */
	struct buf hl = BUF_INIT(DKIM_SIGN_MAX_HEADER);
	size_t p = 0, len;
	const char *nm;
	while (next_name(s->headers, &p, &nm, &len)) {
		size_t c = count_fields(msg, nm, len);
		if (list_has_name(s->oversign, nm, len))
			c++;
		for (size_t i = 0; i < c; i++) {
			if (hl.len)
				buf_putc(&hl, ':');
			for (size_t k = 0; k < len; k++)
				buf_putc(&hl, (char)((nm[k] >= 'A' && nm[k] <= 'Z') ? nm[k] + 32 : nm[k]));
		}
	}
	/* oversigned names that are not in the signed list still get one entry */
	p = 0;
	while (next_name(s->oversign, &p, &nm, &len)) {
		if (list_has_name(s->headers, nm, len))
			continue;
		size_t c = count_fields(msg, nm, len) + 1;
		for (size_t i = 0; i < c; i++) {
			if (hl.len)
				buf_putc(&hl, ':');
			for (size_t k = 0; k < len; k++)
				buf_putc(&hl, (char)((nm[k] >= 'A' && nm[k] <= 'Z') ? nm[k] + 32 : nm[k]));
		}
	}

	/* the field, folded, with an empty b= last */
	struct buf out = BUF_INIT(DKIM_SIGN_MAX_HEADER);
	struct folder f = { &out, 0 };
	char tag[320];
	buf_puts(&out, "DKIM-Signature:");
	f.col = out.len;
	const char *alg = s->type == DKIM_KEY_RSA ? "rsa-sha256" : "ed25519-sha256";
	const char *cn[] = { "simple", "relaxed" };
	snprintf(tag, sizeof tag, "v=1;");
	fold_atom(&f, tag, strlen(tag), true);
	snprintf(tag, sizeof tag, "a=%s;", alg);
	fold_atom(&f, tag, strlen(tag), true);
	snprintf(tag, sizeof tag, "c=%s/%s;", cn[s->hc], cn[s->bc]);
	fold_atom(&f, tag, strlen(tag), true);
	snprintf(tag, sizeof tag, "d=%s;", s->domain);
	fold_atom(&f, tag, strlen(tag), true);
	snprintf(tag, sizeof tag, "s=%s;", s->selector);
	fold_atom(&f, tag, strlen(tag), true);
	snprintf(tag, sizeof tag, "t=%lld;", (long long)now);
	fold_atom(&f, tag, strlen(tag), true);
	if (s->expiry) {
		snprintf(tag, sizeof tag, "x=%lld;", (long long)now + s->expiry);
		fold_atom(&f, tag, strlen(tag), true);
	}
	/* h= folds after a colon */
	fold_atom(&f, "h=", 2, true);
	size_t hstart = out.len, hend;
	{
		const char *hp = buf_cstr(&hl);
		while (*hp) {
			const char *c = strchr(hp, ':');
			size_t k = c ? (size_t)(c - hp) + 1 : strlen(hp);
			fold_atom(&f, hp, k, false);
			hp += k;
		}
		hend = out.len;
		fold_atom(&f, ";", 1, false);
	}
	fold_atom_room(&f, "bh=", 3, true, 8);
	fold_long(&f, bh64, strlen(bh64));
	fold_atom(&f, ";", 1, false);
	/* keep the start of the b= value on the line of "b=": a fold between
	   them would stay in the simple-canonical field (the verifier removes
	   only the value) but not in what is signed here */
	fold_atom_room(&f, "b=", 2, true, 8);
	buf_free(&hl);

	/* sign the canonical header data with the field as it stands */
	struct buf data = BUF_INIT(DKIM_MAX_HEADER_DATA);
	{
		/* the h= value as it appears in the field */
		if (dkim_canon_headers(s->hc, msg, out.data + hstart, hend - hstart, msg->nhdr, &data) < 0 ||
		    buf_puts(&out, "\r\n") < 0 || dkim_canon_sig_header(s->hc, out.data, out.len, &data) < 0) {
			snprintf(err, errlen, "signed header data too large");
			buf_free(&data);
			buf_free(&out);
			return NULL;
		}
		out.len -= 2; /* drop the CRLF again; b= value follows */
		out.data[out.len] = '\0';
	}

	unsigned char sig[DKIM_MAX_SIG_BYTES];
	size_t siglen = sizeof sig;
	int ok = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		xmem_fail(0);
	if (s->type == DKIM_KEY_ED25519) {
		unsigned char dig[EVP_MAX_MD_SIZE];
		unsigned dl;
		ok = EVP_Digest(data.data, data.len, dig, &dl, dkim_hash_md(DKIM_HASH_SHA256), NULL) == 1 &&
		     EVP_DigestSignInit(ctx, NULL, NULL, NULL, s->pkey) == 1 &&
		     EVP_DigestSign(ctx, sig, &siglen, dig, dl) == 1;
	} else {
		ok = EVP_DigestSignInit(ctx, NULL, dkim_hash_md(DKIM_HASH_SHA256), NULL, s->pkey) == 1 &&
		     EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)data.data, data.len) == 1;
	}
	EVP_MD_CTX_free(ctx);
	buf_free(&data);
	if (!ok) {
		ERR_clear_error();
		snprintf(err, errlen, "signing failed");
		buf_free(&out);
		return NULL;
	}
	char sig64[DKIM_MAX_SIG_BYTES * 4 / 3 + 8];
	b64(sig, siglen, sig64, sizeof sig64);
	fold_long(&f, sig64, strlen(sig64));
	buf_puts(&out, "\r\n");
	return buf_steal(&out, NULL);
}
