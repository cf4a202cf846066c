/*
 * dkim: DKIM signature verification (RFC 6376, with RFC 8301 algorithm and
 * key-size rules and RFC 8463 ed25519-sha256) and signing. Verification owns
 * nothing between calls: every result is returned in a heap array; keys are
 * fetched through the caller's resolver. A signer owns its private key.
 */
#ifndef MAMORI_AUTH_DKIM_H
#define MAMORI_AUTH_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "auth/dkim_canon.h"
#include "auth/message.h"
#include "dns/dns.h"

#define DKIM_DEFAULT_MAX_SIGNATURES 8  /* signatures checked per message; a DoS bound */
#define DKIM_DEFAULT_CLOCK_SKEW 300    /* seconds a t= may lie in the future */
#define DKIM_MAX_SIG_BYTES 2048        /* decoded b=: a 16384-bit RSA signature */
#define DKIM_MAX_HEADER_DATA (8 * 1024 * 1024) /* canonical signed header bytes */

enum dkim_result { DKIM_PASS, DKIM_FAIL, DKIM_NEUTRAL, DKIM_POLICY, DKIM_TEMPERROR, DKIM_PERMERROR };

struct dkim_sig_result {
	enum dkim_result result;
	char domain[256];      /* d= */
	char selector[128];    /* s= */
	char algorithm[32];    /* a= as written, e.g. "rsa-sha256" */
	char identity[512];    /* i= (or "@d" default) */
	char b_prefix[16];     /* first 8 chars of b= for header.b (RFC 6008) */
	unsigned key_bits;
	bool weak;             /* rsa-sha1, reported as weak (RFC 8301) */
	bool testing;          /* key t=y */
	char reason[256];      /* why it failed / notes; always set for non-pass */
};

struct dkim_verify_opts {
	time_t now;              /* verification time (x= / t= checks); 0 -> time(NULL) */
	unsigned max_signatures; /* 0 -> DKIM_DEFAULT_MAX_SIGNATURES; the rest are neutral, "not checked" */
	unsigned clock_skew;     /* seconds allowed for t= in the future; 0 -> DKIM_DEFAULT_CLOCK_SKEW */
	bool sha1_fails;         /* rsa-sha1: policy result if true, else pass with weak=true */
};

/*
 * Verifies every DKIM-Signature field of msg, top to bottom. *res_r gets a
 * heap array (free with free()) of *n_r results in header order, NULL when
 * there is no signature; returns *n_r. May block on DNS (one TXT query per
 * distinct selector/domain). A DNS temporary failure gives temperror, never
 * pass or fail. o may be NULL (now = time(NULL), defaults).
 */
size_t dkim_verify(struct dns_resolver *r, const struct message *msg, const struct dkim_verify_opts *o,
		   struct dkim_sig_result **res_r, size_t *n_r);

/* "pass", "fail", "neutral", "policy", "temperror", "permerror" (RFC 8601 2.7.1) */
const char *dkim_result_name(enum dkim_result r);

/* a parsed DKIM-Signature value (for tests and fuzzing; opaque) */
struct dkim_sig;
/*
 * Parses and checks a DKIM-Signature field value (RFC 6376 3.5, 6.1.1): tag
 * syntax, required tags, v=1, known a=, h= containing from, i= within d=,
 * x= not before t=. Returns 0 with *sig_r set (free with dkim_sig_free), or
 * -1 with a reason in err.
 */
int dkim_sig_parse(const char *value, size_t len, struct dkim_sig **sig_r, char *err, size_t errlen);
void dkim_sig_free(struct dkim_sig **sig);

/* --- signing (dkim_sign.c) --- */

#define DKIM_SIGN_DEFAULT_HEADERS                                                                        \
	"from:sender:reply-to:subject:date:message-id:to:cc:mime-version:content-type:"                  \
	"content-transfer-encoding:content-id:content-description:in-reply-to:references:"              \
	"list-id:list-help:list-unsubscribe:list-unsubscribe-post:list-subscribe:list-post:list-owner:" \
	"list-archive:resent-date:resent-from:resent-to:resent-cc:resent-message-id"
#define DKIM_SIGN_DEFAULT_OVERSIGN "from"

/* a loaded private key with its domain, selector and options */
struct dkim_signer;

/*
 * Loads key_file: a PEM private key (RSA of at least DKIM_MIN_RSA_BITS, or
 * ed25519), or the base64 of a raw 32-byte ed25519 seed as dkimpy writes it.
 * The algorithm follows the key: rsa-sha256 or ed25519-sha256. Defaults:
 * c=relaxed/relaxed, DKIM_SIGN_DEFAULT_HEADERS with From oversigned, t= set,
 * no x=. Returns NULL with a reason in err.
 */
struct dkim_signer *dkim_signer_load(const char *key_file, const char *domain, const char *selector, char *err,
				     size_t errlen);
void dkim_signer_free(struct dkim_signer **s);

void dkim_signer_set_canon(struct dkim_signer *s, enum dkim_canon hdr, enum dkim_canon body);
/*
 * headers: colon-separated names to sign where present (each instance);
 * oversign: names additionally listed once more than they occur, so none can
 * be added later (RFC 6376 8.15). Either may be NULL to keep the current list.
 * The lists are copied. Returns 0, or -1 (nothing changed) if headers does
 * not contain "from" or a name holds a byte that is not field-name text or
 * is ';' or '='.
 */
int dkim_signer_set_headers(struct dkim_signer *s, const char *headers, const char *oversign);
/* x= at now + seconds; 0 for none */
void dkim_signer_set_expiry(struct dkim_signer *s, unsigned seconds);

/*
 * Signs msg at time now. Returns a heap string "DKIM-Signature: ...\r\n"
 * folded at about 78 columns, to prepend to the message; or NULL with a
 * reason in err. Does not block.
 */
char *dkim_sign(const struct dkim_signer *s, const struct message *msg, time_t now, char *err, size_t errlen);

#endif
