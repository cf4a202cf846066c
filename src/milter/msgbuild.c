#include "milter/msgbuild.h"
#include "auth/authres.h"
#include "core/mem.h"

#include <string.h>
#include <strings.h>

void msgbuild_init(struct msgbuild *mb, size_t max, bool leadspc)
{
	memset(mb, 0, sizeof *mb);
	buf_init(&mb->raw, max ? max : MSGBUILD_MAX_BYTES);
	mb->leadspc = leadspc;
}

void msgbuild_free(struct msgbuild *mb)
{
	buf_free(&mb->raw);
	mb->forged = xfree(mb->forged);
	mb->nforged = 0;
}

static int overflow(struct msgbuild *mb)
{
	/* stop buffering for good: a half message must never be checked */
	mb->oversize = true;
	buf_free(&mb->raw);
	return -1;
}

/*
 * Appends p[0..n) turning each bare LF into CRLF. A CR that ended the
 * previous append pairs with an LF starting this one, so "\r" | "\n" split
 * over two body chunks stays one line end.
 */
static int append_crlf(struct msgbuild *mb, const char *p, size_t n)
{
	if (mb->oversize)
		return -1;
	const char *end = p + n;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			return buf_append(&mb->raw, p, (size_t)(end - p)) < 0 ? overflow(mb) : 0;
		bool cr_before = nl > p ? nl[-1] == '\r' : (mb->raw.len > 0 && mb->raw.data[mb->raw.len - 1] == '\r');
		if (buf_append(&mb->raw, p, (size_t)(nl - p)) < 0)
			return overflow(mb);
		if (buf_append(&mb->raw, cr_before ? "\n" : "\r\n", cr_before ? 1 : 2) < 0)
			return overflow(mb);
		p = nl + 1;
	}
	return 0;
}

static void track_authres(struct msgbuild *mb, const char *name, const char *value, const char *authserv_id)
{
	if (strcasecmp(name, "Authentication-Results") != 0)
		return;
	mb->nar++;
	if (authserv_id == NULL || !authres_is_ours(value, strlen(value), authserv_id))
		return;
	if (mb->nforged == MSGBUILD_MAX_FORGED) {
		mb->forged_dropped++;
		return;
	}
	if (mb->nforged == 0 || (mb->nforged & (mb->nforged - 1)) == 0)
		mb->forged = xreallocarray(mb->forged, mb->nforged ? mb->nforged * 2 : 4, sizeof *mb->forged);
	mb->forged[mb->nforged++] = mb->nar;
}

int msgbuild_header(struct msgbuild *mb, const char *name, const char *value, const char *authserv_id)
{
	if (name == NULL)
		name = "";
	if (value == NULL)
		value = "";
	track_authres(mb, name, value, authserv_id);
	if (mb->oversize)
		return -1;
	if (append_crlf(mb, name, strlen(name)) < 0 || append_crlf(mb, mb->leadspc ? ":" : ": ", mb->leadspc ? 1 : 2) < 0 ||
	    append_crlf(mb, value, strlen(value)) < 0 || append_crlf(mb, "\r\n", 2) < 0)
		return -1;
	return 0;
}

int msgbuild_eoh(struct msgbuild *mb)
{
	if (mb->eoh)
		return mb->oversize ? -1 : 0;
	mb->eoh = true;
	return append_crlf(mb, "\r\n", 2);
}

int msgbuild_body(struct msgbuild *mb, const void *chunk, size_t len)
{
	/* an MTA that skipped EOH still separates header and body */
	if (!mb->eoh && msgbuild_eoh(mb) < 0)
		return -1;
	return append_crlf(mb, chunk, len);
}

char *msgbuild_take(struct msgbuild *mb, size_t *len_r)
{
	*len_r = 0;
	if (mb->oversize)
		return NULL;
	if (mb->raw.data == NULL)
		return xstrdup("");
	return buf_steal(&mb->raw, len_r);
}
