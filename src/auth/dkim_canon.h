/*
 * dkim_canon: RFC 6376 section 3.4 canonicalisation (simple and relaxed) of
 * header fields and bodies, on raw bytes, plus header selection by an h=
 * list (section 5.4.2). Shared by DKIM verify/sign and ARC (RFC 8617).
 * The body hash is streaming: feed it chunks of any size.
 */
#ifndef MAMORI_AUTH_DKIM_CANON_H
#define MAMORI_AUTH_DKIM_CANON_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>

#include "auth/message.h"
#include "core/buf.h"

enum dkim_canon { DKIM_CANON_SIMPLE, DKIM_CANON_RELAXED };

/* parses a c= value ("relaxed", "simple/relaxed"; body defaults to simple);
   0 or -1 */
int dkim_canon_parse(const char *v, size_t len, enum dkim_canon *hdr_r, enum dkim_canon *body_r);

/* appends the canonical form of one field (raw: name ':' value CRLF) to out;
   0, or -1 if out's max would be exceeded */
int dkim_canon_header(enum dkim_canon c, const char *raw, size_t len, struct buf *out);

/*
 * Appends the canonical form of the signature field itself: the value of its
 * b= tag emptied and no trailing CRLF (RFC 6376 3.7 step 2; RFC 8617 5.1.1
 * for ARC-Message-Signature and ARC-Seal). 0 or -1.
 */
int dkim_canon_sig_header(enum dkim_canon c, const char *raw, size_t len, struct buf *out);
/* the same when the caller already knows where the b= value is: raw[cut_from
   ..cut_to) is left out (offsets into raw; clamped to the field). 0 or -1. */
int dkim_canon_sig_header_cut(enum dkim_canon c, const char *raw, size_t len, size_t cut_from, size_t cut_to,
			      struct buf *out);

/*
 * Appends the canonical fields named in the colon-separated list hlist (FWS
 * allowed around names): for each name, the last not yet used instance,
 * walking bottom-up; a name with no unused instance contributes nothing
 * (oversigning). Fields at index >= skip_from are ignored (pass msg->nhdr for
 * none; ARC passes the position of its own seal set). 0 or -1.
 */
int dkim_canon_headers(enum dkim_canon c, const struct message *msg, const char *hlist, size_t hlen,
		       size_t skip_from, struct buf *out);

/* streaming body hash */
struct dkim_bodyhash {
	EVP_MD_CTX *md;
	enum dkim_canon canon;
	long long limit;     /* l= value, or -1 for the whole body */
	long long hashed;    /* canonical bytes hashed so far */
	size_t pending_crlf; /* empty lines held back (trailing ones are dropped) */
	bool pending_wsp;    /* relaxed: whitespace run held back */
	bool line_has_data;  /* relaxed: current line has content */
	bool saw_cr;         /* a CR was the last byte of the previous chunk */
	bool any;            /* any byte of body seen */
};

/* md is EVP_sha256() or EVP_sha1() (replaced by the pre-fetched equivalent,
   dkim_md_fetched) or any fetched EVP_MD; limit -1 for no l= */
void dkim_bodyhash_init(struct dkim_bodyhash *bh, enum dkim_canon c, const EVP_MD *md, long long limit);
void dkim_bodyhash_update(struct dkim_bodyhash *bh, const char *data, size_t len);
/* writes the digest (up to EVP_MAX_MD_SIZE bytes) and frees the context;
   *total_r gets the canonical body length (to compare with l=) */
void dkim_bodyhash_final(struct dkim_bodyhash *bh, unsigned char *digest_r, unsigned *dlen_r, long long *total_r);
/* releases a context without finishing it */
void dkim_bodyhash_abort(struct dkim_bodyhash *bh);

#endif
