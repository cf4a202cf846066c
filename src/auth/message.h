/*
 * message: an RFC 5322 message as raw bytes, split into header fields and
 * body without decoding anything. DKIM and ARC canonicalise these raw bytes,
 * so the split keeps every byte: each field's raw text includes its name,
 * colon, folding and the terminating CRLF. Line endings are normalised to
 * CRLF on input (bare LF becomes CRLF), as an MTA does on the wire.
 * A struct message owns one copy of the data; header pointers point into it.
 */
#ifndef MAMORI_AUTH_MESSAGE_H
#define MAMORI_AUTH_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>

/* bounds on hostile input; beyond them parsing fails with a reason */
#define MESSAGE_MAX_HEADERS 2000        /* fields per message */
#define MESSAGE_MAX_HEADER_BYTES (1024 * 1024) /* one field, folded */

struct msg_header {
	const char *name;   /* field name, not terminated */
	size_t name_len;    /* 0 for a malformed line with no colon */
	const char *raw;    /* the whole field: name ':' value CRLF (all folded lines) */
	size_t raw_len;
	const char *value;  /* after the colon, up to and excluding the final CRLF */
	size_t value_len;
};

struct message {
	char *data;          /* CRLF-normalised copy of the message, NUL-terminated */
	size_t len;
	struct msg_header *hdr;
	size_t nhdr;
	const char *body;    /* first byte after the empty line (or data+len) */
	size_t body_len;
	bool has_separator;  /* an empty line ended the header (else: no body) */
};

/*
 * Copies and splits raw bytes. Returns 0, or -1 with a reason in err (too many
 * or too large header fields); on error msg_r holds nothing to free.
 */
int message_parse(const void *raw, size_t len, struct message *msg_r, char *err, size_t errlen);
/* same, taking ownership of data (which must be CRLF-normalised and
   NUL-terminated at data[len]); used by the milter which builds it itself */
int message_adopt(char *data, size_t len, struct message *msg_r, char *err, size_t errlen);
void message_free(struct message *msg);

/* case-insensitive name comparison against a field */
bool msg_header_is(const struct msg_header *h, const char *name);
/* the nth (0-based, from the top) field called name, or NULL */
const struct msg_header *message_header(const struct message *msg, const char *name, size_t nth);
size_t message_header_count(const struct message *msg, const char *name);

#endif
