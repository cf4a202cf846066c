/*
 * policy_proto: the Postfix SMTP access policy delegation protocol
 * (SMTPD_POLICY_README, Postfix 2.1 and later), wire format only. Owns an
 * incremental parser for one connection (a line buffer, the request being
 * built and a short queue of complete requests) and a reply formatter. No
 * I/O, no clock, no logging, no policy decisions.
 *
 * Wire format. A request is a sequence of "name=value\n" lines ended by an
 * empty line; the reply is "action=<action>[ <text>]\n\n". One connection
 * carries any number of requests in turn, and a request may arrive split
 * across reads anywhere (even inside a line). Example request:
 *
 *     request=smtpd_access_policy
 *     protocol_state=RCPT
 *     sasl_username=alice
 *     client_address=192.0.2.7
 *     recipient=bob@example.org
 *     [empty line]
 *
 * Parsing rules (README "Protocol description" notes):
 *   - attribute order does not matter; unknown attributes are ignored (but
 *     still count towards POLICY_MAX_ATTRS and POLICY_MAX_REQUEST);
 *   - a repeated attribute keeps the last value (the README allows either);
 *   - an absent attribute, "name=" and, for numbers, "name=0" all mean
 *     "unavailable": strings are "" and numbers 0;
 *   - "request" is required: a request without it is an error;
 *   - "\r\n" is accepted as a line end (a hand-typed test session); any other
 *     CR, and any NUL, is an error.
 * A known string attribute longer than its field is an error when the value
 * names an identity or a decision input (request, protocol_state, sender,
 * recipient, sasl_*, client_address, queue_id, instance, ...): silently cutting
 * it could make it match another account. Descriptive attributes (helo_name,
 * client_name, ccert_*, encryption_*, policy_context, ...) are cut to fit and
 * the request's "truncated" flag is set.
 *
 * Errors. Any malformed input (line without '=', empty name, NUL, stray CR,
 * over-long line, too many attributes, over-long request, bad number, missing
 * request attribute, too many pipelined requests) puts the parser into a
 * failed state with a reason; the caller logs it and closes the connection
 * (Postfix then reconnects; the affected SMTP command gets its
 * default_action). A failed parser drops queued requests and stays failed.
 */
#ifndef MAMORI_GUARD_POLICY_PROTO_H
#define MAMORI_GUARD_POLICY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Hard limits. The protocol itself sets none; these are far above what
 * Postfix sends (about 40 attributes in 3.x, each well under its
 * line_length_limit default of 2048 bytes) and bound what a peer can make
 * us buffer.
 */
#define POLICY_MAX_LINE 4096    /* bytes per "name=value" line, without "\n" */
#define POLICY_MAX_NAME 64      /* bytes of an attribute name */
#define POLICY_MAX_ATTRS 128    /* lines per request */
#define POLICY_MAX_REQUEST 65536 /* bytes per request, newlines included */
#define POLICY_MAX_PENDING 8    /* complete requests queued, not yet taken by next() */
/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with its CRLF;
 * Postfix puts the reply code (and enhanced status code) in front of the
 * text, so cap the text well below that. */
#define POLICY_MAX_REPLY_TEXT 400
#define POLICY_MAX_ACTION 32    /* bytes of the action word ("DEFER_IF_PERMIT") */

/* The attributes Postfix sends (3.x), known ones as fields. Strings are
 * NUL-terminated, never contain NUL, CR or LF; numbers are 0 when absent. */
struct policy_request {
	/* identity and decision inputs: over-long is an error */
	char request[32];         /* "smtpd_access_policy" */
	char protocol_state[16];  /* CONNECT EHLO HELO MAIL RCPT DATA END-OF-MESSAGE VRFY ETRN */
	char protocol_name[16];   /* SMTP ESMTP LMTP */
	char queue_id[64];
	char instance[64];        /* same for every request of one message */
	char sender[512];
	char recipient[512];
	char client_address[64];
	char server_address[64];
	char sasl_method[32];
	char sasl_username[256];
	char sasl_sender[512];
	char stress[8];           /* "yes" or "" */
	unsigned recipient_count; /* non-zero only at DATA and END-OF-MESSAGE */
	unsigned client_port;
	unsigned server_port;
	unsigned encryption_keysize;
	uint64_t size;            /* MAIL FROM SIZE= or actual at END-OF-MESSAGE */
	/* descriptive: cut to fit, setting truncated */
	char helo_name[256];
	char client_name[256];
	char reverse_client_name[256];
	char etrn_domain[256];
	char ccert_subject[256];
	char ccert_issuer[256];
	char ccert_fingerprint[128];
	char ccert_pubkey_fingerprint[128];
	char encryption_protocol[32];
	char encryption_cipher[64];
	char policy_context[128];
	char compatibility_level[32];
	char mail_version[32];
	/* bookkeeping */
	unsigned nattrs;          /* lines in the request, unknown ones included */
	bool truncated;           /* a descriptive attribute was cut to fit */
};

struct policy_parser;

/* A parser for one connection. Never returns NULL (aborts on OOM). */
struct policy_parser *policy_parser_new(void);

/* Frees the parser and sets *p to NULL; NULL and *p == NULL are fine. */
void policy_parser_free(struct policy_parser **p);

/*
 * Feeds len bytes (any split, any bytes). Returns the number of complete
 * requests now waiting for policy_parser_next() (0 while a request is still
 * partial), or -1 with a one-line reason in err (always NUL-terminated when
 * errlen > 0) when the input is malformed or over a limit; the caller should
 * then close the connection. Once -1 is returned every later call returns
 * -1 with the same reason and next() yields nothing. Keeps no pointer to
 * data. Bytes after an error are not looked at. Not thread-safe (one parser
 * per connection); never blocks.
 */
int policy_parser_feed(struct policy_parser *p, const char *data, size_t len, char *err,
		       size_t errlen);

/* Moves the oldest complete request into *req_r and returns true, or returns
 * false (leaving *req_r untouched) when none is waiting. Requests come out in
 * the order they arrived. */
bool policy_parser_next(struct policy_parser *p, struct policy_request *req_r);

/* True when the parser holds bytes of a request not yet ended by its empty
 * line (for "peer closed mid-request" logging). */
bool policy_parser_partial(const struct policy_parser *p);

/*
 * Formats a reply "action=<action>\n\n" or, with a non-empty text,
 * "action=<action> <text>\n\n" into out and NUL-terminates it. action is one
 * word of letters, digits, '_', '.', '-' (DUNNO, OK, REJECT, DEFER,
 * DEFER_IF_PERMIT, 450, 554, ...), at most POLICY_MAX_ACTION bytes; anything
 * else is refused, as it is our bug, not input. text (may be NULL) is
 * sanitised: CR, LF, TAB, other control bytes, DEL and non-ASCII bytes each
 * become '?' (a peer-chosen string in the text can never end the line or the
 * reply early), and it is cut at POLICY_MAX_REPLY_TEXT bytes. Returns the
 * length written (without the NUL), or 0 when the action is invalid or out is
 * too small for the whole reply, in which case out holds "" (if outlen > 0)
 * and nothing partial is ever sent.
 */
size_t policy_reply_format(char *out, size_t outlen, const char *action, const char *text);

#endif
