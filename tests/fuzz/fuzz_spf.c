/*
 * fuzz_spf: the SPF record parser, macro expansion, and check_host() over a
 * synthetic resolver. The first byte picks the mode:
 *   0  spf_record_parse(rest)
 *   1  macro expansion of rest as a domain-spec (with 7.3 truncation)
 *   2  macro expansion of rest as explanation text into a small buffer
 *   3  spf_check() where every TXT look-up answers rest as the record, so
 *      include/redirect recurse into the same text until the limits stop them
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "auth/spf.h"
#include "core/mem.h"

static const uint8_t *g_data;
static size_t g_len;

/* names decide the answer by their first letter: a = found, n = NXDOMAIN,
   t = timeout, anything else NODATA; TXT always answers the fuzz input */
static enum dns_status fz_query(void *state, const char *name, enum dns_type type, struct dns_answer *ans)
{
	char c = name[0];
	if (type == DNS_T_TXT) {
		struct dns_rr *rr = dns_answer_add(ans, DNS_T_TXT);
		rr->txt = xmalloc(g_len + 1);
		memcpy(rr->txt, g_data, g_len);
		rr->txt[g_len] = '\0';
		rr->txt_len = g_len;
		rr->nstrings = 1;
		ans->status = DNS_FOUND;
		return ans->status;
	}
	if (c == 't') {
		ans->status = DNS_TEMPFAIL;
		ans->reason = "timeout";
		return ans->status;
	}
	if (c == 'n') {
		ans->status = DNS_NXDOMAIN;
		return ans->status;
	}
	if (c != 'a' && type != DNS_T_PTR && type != DNS_T_MX) {
		ans->status = DNS_NODATA;
		return ans->status;
	}
	switch (type) {
	case DNS_T_A:
	case DNS_T_AAAA: {
		struct dns_rr *rr = dns_answer_add(ans, type);
		ip_parse(type == DNS_T_A ? "192.0.2.1" : "2001:db8::1", &rr->ip);
		break;
	}
	case DNS_T_MX:
		for (unsigned i = 0; i < 12; i++) {
			struct dns_rr *rr = dns_answer_add(ans, type);
			rr->pref = 12 - i;
			rr->name = xstrdup(i % 3 ? "a.mx.example" : (i % 2 ? "n.mx.example" : ""));
		}
		break;
	case DNS_T_PTR: {
		struct dns_rr *rr = dns_answer_add(ans, type);
		rr->name = xstrdup("a.ptr.example.");
		rr = dns_answer_add(ans, type);
		rr->name = xstrdup("t.ptr.example");
		break;
	}
	default:
		ans->status = DNS_NODATA;
		return ans->status;
	}
	ans->status = DNS_FOUND;
	return ans->status;
}

static const struct dns_backend fz_backend = { "fuzz", fz_query, NULL };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned mode = data[0] & 3;
	const char *in = (const char *)data + 1;
	size_t len = size - 1;
	char err[256];

	if (mode == 0) {
		struct spf_record *rec = NULL;
		if (spf_record_parse(in, len, &rec, err, sizeof err) == 0 && rec == NULL)
			abort();
		if (rec == NULL && err[0] == '\0')
			abort(); /* every rejection has a reason */
		spf_record_free(&rec);
		return 0;
	}
	if (mode == 1 || mode == 2) {
		struct spf_macro_vars v = {
			.sender = "str%ng-b.ad@Email.Example.COM",
			.domain = "email.example.com",
			.helo = "JUMPIN' JUPITER",
			.receiver = "mx.example.org",
			.ptr_name = (data[0] & 4) ? "mail.example.net" : NULL,
			.now = 1700000000,
		};
		ip_parse((data[0] & 8) ? "2001:db8::cb01" : "::ffff:192.0.2.3", &v.ip);
		char out[300];
		int n = spf_macro_expand(in, len, &v, mode == 1 ? SPF_MACRO_DOMAIN : SPF_MACRO_EXPLAIN, out,
					 mode == 1 ? sizeof out : 64, err, sizeof err);
		if (n >= 0 && (size_t)n != strlen(out))
			abort();
		if (mode == 1 && n > 253)
			abort();
		return 0;
	}
	g_data = data + 1;
	g_len = len;
	struct dns_resolver r = { &fz_backend, NULL };
	struct spf_request req = {
		.helo = "a.helo.example",
		.mail_from = (data[0] & 4) ? "" : "us%{er}@a.example.com",
		.now = 1700000000,
	};
	ip_parse((data[0] & 8) ? "2001:db8::1" : "192.0.2.1", &req.ip);
	struct spf_response resp;
	enum spf_result res = spf_check(&r, &req, &resp);
	if (res != resp.result || (resp.explanation && res != SPF_FAIL))
		abort();
	if (resp.dns_lookups > SPF_MAX_DNS_MECH + 1 || resp.void_lookups > SPF_MAX_VOID_LOOKUPS + 1)
		abort();
	spf_response_free(&resp);
	return 0;
}
