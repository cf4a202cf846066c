/*
 * Fuzz target for the Postfix policy protocol parser (policy_parser_feed).
 * The first byte seeds the chunking; the rest is the byte stream. The stream
 * is parsed three ways: whole, in pseudo-random chunks, and in chunks with
 * the queue drained after each feed. Whole and chunked must agree exactly
 * (same requests, same error); every request must hold only clean,
 * terminated strings. A reply is also formatted from the data as text and
 * must be exactly one protocol reply.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "guard/policy_proto.h"

#define MAXREQ 64

struct run {
	int rc;
	char err[200];
	size_t n;
	struct policy_request req[MAXREQ];
};

static void check_str(const char *s, size_t size)
{
	size_t n = strnlen(s, size);
	if (n == size || memchr(s, '\n', n) || memchr(s, '\r', n))
		__builtin_trap();
}

static void check_req(const struct policy_request *r)
{
	check_str(r->request, sizeof r->request);
	if (!r->request[0] || r->nattrs == 0 || r->nattrs > POLICY_MAX_ATTRS)
		__builtin_trap();
	check_str(r->protocol_state, sizeof r->protocol_state);
	check_str(r->sender, sizeof r->sender);
	check_str(r->recipient, sizeof r->recipient);
	check_str(r->sasl_username, sizeof r->sasl_username);
	check_str(r->client_address, sizeof r->client_address);
	check_str(r->helo_name, sizeof r->helo_name);
	check_str(r->ccert_subject, sizeof r->ccert_subject);
	check_str(r->mail_version, sizeof r->mail_version);
}

static void drain(struct policy_parser *p, struct run *out)
{
	struct policy_request r;
	while (policy_parser_next(p, &r)) {
		check_req(&r);
		if (out->n < MAXREQ)
			out->req[out->n] = r;
		out->n++;
	}
}

static uint32_t rnd(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

static void parse(const char *d, size_t len, uint32_t seed, int mode, struct run *out)
{
	struct policy_parser *p = policy_parser_new();
	out->rc = 0;
	out->err[0] = '\0';
	out->n = 0;
	size_t i = 0;
	while (i < len) {
		size_t chunk = len - i;
		if (mode > 0) {
			/* mostly small chunks, sometimes large */
			uint32_t r = rnd(&seed);
			size_t c = (r & 3) ? 1 + r % 7 : 1 + r % 5000;
			if (c < chunk)
				chunk = c;
		}
		out->rc = policy_parser_feed(p, d + i, chunk, out->err, sizeof out->err);
		i += chunk;
		if (out->rc < 0)
			break;
		if (mode == 2)
			drain(p, out);
	}
	if (out->rc >= 0)
		drain(p, out);
	else if (policy_parser_next(p, &out->req[0]) || !out->err[0])
		__builtin_trap(); /* failed parser yields nothing and says why */
	policy_parser_free(&p);
}

static struct run a, b, c;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint32_t seed = data[0];
	const char *d = (const char *)data + 1;
	size_t len = size - 1;

	parse(d, len, seed, 0, &a);
	parse(d, len, seed, 1, &b);
	parse(d, len, seed, 2, &c);
	if ((a.rc < 0) != (b.rc < 0) || strcmp(a.err, b.err) != 0 || a.n != b.n)
		__builtin_trap();
	for (size_t i = 0; i < a.n && i < MAXREQ; i++)
		if (strcmp(a.req[i].request, b.req[i].request) != 0 ||
		    strcmp(a.req[i].sasl_username, b.req[i].sasl_username) != 0 ||
		    strcmp(a.req[i].sender, b.req[i].sender) != 0 ||
		    strcmp(a.req[i].helo_name, b.req[i].helo_name) != 0 ||
		    a.req[i].size != b.req[i].size || a.req[i].recipient_count != b.req[i].recipient_count ||
		    a.req[i].nattrs != b.req[i].nattrs || a.req[i].truncated != b.req[i].truncated)
			__builtin_trap();
	/* draining as we go can only get further than not draining */
	if (c.n < a.n)
		__builtin_trap();

	/* the data as reply text: one reply, two newlines, both at the end */
	char text[POLICY_MAX_REPLY_TEXT + 1];
	size_t tl = len < POLICY_MAX_REPLY_TEXT ? len : POLICY_MAX_REPLY_TEXT;
	memcpy(text, d, tl);
	text[tl] = '\0';
	char out[600];
	size_t n = policy_reply_format(out, sizeof out, "REJECT", text);
	if (n < 15 || out[n - 1] != '\n' || out[n - 2] != '\n' || memchr(out, '\n', n - 2) ||
	    memchr(out, '\r', n) || strlen(out) != n)
		__builtin_trap();
	return 0;
}
