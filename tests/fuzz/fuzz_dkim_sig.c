/*
 * fuzz_dkim_sig: a DKIM-Signature value from hostile input. The bytes go to
 * dkim_sig_parse, to the signature-field canonicalisation (both forms), and,
 * as the field of a small message, through the whole verifier against a stub
 * key, so tag handling, b= removal, header selection and the body hash all
 * see the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dkim.h"
#include "dns/dns_stub.h"

static struct dns_resolver *resolver(void)
{
	static struct dns_resolver *r;
	if (!r) {
		struct dns_stub *st = dns_stub_new();
		static const char ed[] = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
		dns_stub_add_txt(st, "brisbane._domainkey.football.example.com", ed, sizeof ed - 1, 1);
		dns_stub_add_txt(st, "revoked._domainkey.example.com", "p=", 2, 1);
		dns_stub_add_fail(st, "tf._domainkey.example.com", DNS_STUB_TIMEOUT);
		r = dns_stub_resolver(st);
	}
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	char err[256];
	struct dkim_sig *sig = NULL;
	if (dkim_sig_parse((const char *)data, size, &sig, err, sizeof err) == 0)
		dkim_sig_free(&sig);

	static const char pre[] = "DKIM-Signature:";
	static const char post[] = "\r\nFrom: Joe <joe@football.example.com>\r\nSubject: hi\r\n\r\nHi.\r\n \r\n\r\n";
	char *raw = malloc(sizeof pre + size + sizeof post);
	memcpy(raw, pre, sizeof pre - 1);
	memcpy(raw + sizeof pre - 1, data, size);
	memcpy(raw + sizeof pre - 1 + size, post, sizeof post);
	size_t len = sizeof pre - 1 + size + sizeof post - 1;

	for (int c = 0; c < 2; c++) {
		struct buf b = BUF_INIT(1 << 20);
		dkim_canon_sig_header((enum dkim_canon)c, raw, sizeof pre - 1 + size, &b);
		buf_free(&b);
	}
	struct message msg;
	if (message_parse(raw, len, &msg, err, sizeof err) == 0) {
		struct dkim_verify_opts o = { .now = 1700000000 };
		struct dkim_sig_result *res;
		size_t n;
		dkim_verify(resolver(), &msg, &o, &res, &n);
		for (size_t i = 0; i < n; i++)
			if (res[i].result != DKIM_PASS && res[i].reason[0] == '\0')
				abort(); /* every non-pass carries a reason */
		free(res);
		message_free(&msg);
	}
	free(raw);
	return 0;
}
