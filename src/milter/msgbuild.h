/*
 * msgbuild: rebuilds one message's raw bytes from the pieces an MTA hands a
 * milter (header name and value, end of header, body chunks) so the checks
 * see the same CRLF-terminated bytes they would read from a file. Owns the
 * per-message buffer (bounded) and the list of incoming
 * Authentication-Results fields that claim to be ours (forged, RFC 8601 5).
 * Pure: no libmilter, no DNS, so it is unit-tested on its own.
 */
#ifndef MAMORI_MILTER_MSGBUILD_H
#define MAMORI_MILTER_MSGBUILD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* larger than any MTA's message size limit (Postfix default 10 MB); beyond it
   the message is passed on unchecked rather than lost */
#define MSGBUILD_MAX_BYTES (64u * 1024 * 1024)
/* forged Authentication-Results fields remembered for removal; more than
   message.h lets a message carry in all */
#define MSGBUILD_MAX_FORGED 2000

struct msgbuild {
	struct buf raw;        /* the message so far, CRLF line ends */
	bool leadspc;          /* values arrive with their leading space (SMFIP_HDR_LEADSPC) */
	bool oversize;         /* raw overflowed: buffering stopped, raw freed */
	bool eoh;              /* the empty line after the header has been added */
	size_t nar;            /* Authentication-Results fields seen so far */
	size_t *forged;        /* 1-based indexes among those fields, ascending */
	size_t nforged;
	size_t forged_dropped; /* forged beyond MSGBUILD_MAX_FORGED (left in place) */
};

/* starts an empty message; max 0 means MSGBUILD_MAX_BYTES */
void msgbuild_init(struct msgbuild *mb, size_t max, bool leadspc);
/* drops everything; mb may be reused after msgbuild_init() */
void msgbuild_free(struct msgbuild *mb);

/*
 * Adds one header field "name:value". Without leadspc the MTA stripped the
 * space after the colon and one is put back. Bare LF line breaks inside a
 * folded value (Postfix passes "\n") become CRLF. If the field is an
 * Authentication-Results whose authserv-id equals authserv_id, its index is
 * remembered. Returns 0, or -1 once the message is oversize (then nothing
 * more is buffered, but forged fields are still tracked).
 */
int msgbuild_header(struct msgbuild *mb, const char *name, const char *value, const char *authserv_id);
/* ends the header with the empty line; returns 0 or -1 (oversize) */
int msgbuild_eoh(struct msgbuild *mb);
/* appends a body chunk, LF normalised to CRLF across chunk boundaries;
   returns 0 or -1 (oversize) */
int msgbuild_body(struct msgbuild *mb, const void *chunk, size_t len);

/*
 * Hands over the message: NUL-terminated, CRLF-normalised bytes as
 * message_adopt() wants them (the caller frees them); mb's buffer is empty
 * afterwards. NULL when oversize.
 */
char *msgbuild_take(struct msgbuild *mb, size_t *len_r);

#endif
