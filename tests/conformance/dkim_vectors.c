/*
 * dkim_vectors: DKIM conformance against the public vectors in the shared
 * corpus (see each folder's SOURCE.md):
 *   dkim-arc-vectors-mail-auth/dkim/NNN.txt  (stalwartlabs/mail-auth): DNS
 *       lines, empty line, message; the LAST signature must pass at the
 *       fixed time 1667843664.
 *   dkim-vectors-dkimpy/dkim/tests/data/  (dkimpy): pre-signed messages
 *       (RFC 8463 draft example, Exim ed25519 interop, degenerate folding),
 *       and keys/messages to sign and verify, including the broken key
 *       records dkimpy rejects.
 * usage: dkim_vectors [CORPUS_DIR]; prints each case and a summary line.
 */
#include "auth/dkim.h"
#include "dns/dns_stub.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;
static const char *corpus = MAMORI_CORPUS_DEFAULT;

#define MAILAUTH_TIME 1667843664 /* SOURCE.md: upstream's fixed verification time */
/* mail-auth does not reject t= in the future; 004.txt is signed 5 hours
   after the fixed time, so the skew for these vectors is one day */
#define MAILAUTH_SKEW 86400

static void report(bool ok, const char *name, const char *detail)
{
	if (ok)
		passed++;
	else
		failed++;
	printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", name, detail && *detail ? ": " : "", detail ? detail : "");
}

static char *slurp(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *d = malloc((size_t)n + 1);
	if (!d || fread(d, 1, (size_t)n, f) != (size_t)n) {
		free(d);
		fclose(f);
		return NULL;
	}
	fclose(f);
	d[n] = '\0';
	if (len_r)
		*len_r = (size_t)n;
	return d;
}

static char *dpath(char *out, size_t outlen, const char *file)
{
	snprintf(out, outlen, "%s/dkim-vectors-dkimpy/dkim/tests/data/%s", corpus, file);
	return out;
}

/* a TXT record for name from a dkimpy data file (trailing newline cut) */
static bool add_key_file(struct dns_stub *st, const char *name, const char *file)
{
	char p[4096];
	size_t n;
	char *v = slurp(dpath(p, sizeof p, file), &n);
	if (!v)
		return false;
	while (n > 0 && (v[n - 1] == '\n' || v[n - 1] == '\r'))
		n--;
	dns_stub_add_txt(st, name, v, n, 1);
	free(v);
	return true;
}

/* verifies raw and returns the results; the message is parsed here */
static size_t verify_raw(struct dns_resolver *r, const char *raw, size_t len, time_t now, unsigned skew,
			 struct dkim_sig_result **res_r)
{
	struct message msg;
	char err[200];
	*res_r = NULL;
	if (message_parse(raw, len, &msg, err, sizeof err) < 0)
		return 0;
	struct dkim_verify_opts o = { .now = now, .clock_skew = skew };
	size_t n;
	dkim_verify(r, &msg, &o, res_r, &n);
	message_free(&msg);
	return n;
}

static void describe(char *out, size_t outlen, const struct dkim_sig_result *res, size_t n)
{
	size_t k = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && k < outlen; i++) {
		int w = snprintf(out + k, outlen - k, "%s[%s s=%s %s%s%s]", i ? " " : "", res[i].algorithm,
				 res[i].selector, dkim_result_name(res[i].result), res[i].reason[0] ? ": " : "",
				 res[i].reason);
		if (w < 0)
			break;
		k += (size_t)w;
	}
}

/* ---- mail-auth ---- */

static void mailauth_case(const char *path, const char *name)
{
	size_t len;
	char *data = slurp(path, &len);
	if (!data) {
		report(false, name, "cannot read");
		return;
	}
	struct dns_stub *st = dns_stub_new();
	char *p = data;
	for (;;) {
		char *nl = strchr(p, '\n');
		if (!nl || nl == p) {
			p = nl ? nl + 1 : p + strlen(p);
			break;
		}
		*nl = '\0';
		char *sp = strchr(p, ' ');
		if (sp) {
			*sp = '\0';
			dns_stub_add_txt(st, p, sp + 1, strlen(sp + 1), 1);
		}
		p = nl + 1;
	}
	struct dns_resolver *r = dns_stub_resolver(st);
	struct dkim_sig_result *res;
	size_t n = verify_raw(r, p, len - (size_t)(p - data), MAILAUTH_TIME, MAILAUTH_SKEW, &res);
	char d[2048];
	describe(d, sizeof d, res, n);
	report(n > 0 && res[n - 1].result == DKIM_PASS, name, d);
	free(res);
	dns_resolver_free(&r);
	free(data);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void mailauth_all(void)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/dkim-arc-vectors-mail-auth/dkim", corpus);
	DIR *d = opendir(dir);
	if (!d) {
		report(false, "mail-auth", "corpus directory missing");
		return;
	}
	char *names[64];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < 64)
		if (strstr(e->d_name, ".txt"))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof names[0], cmp_str);
	if (n == 0)
		report(false, "mail-auth", "no vectors");
	for (size_t i = 0; i < n; i++) {
		char path[4200], name[300];
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		snprintf(name, sizeof name, "mail-auth/dkim/%s", names[i]);
		mailauth_case(path, name);
		free(names[i]);
	}
}

/* ---- dkimpy ---- */

#define RFC8463_BRISBANE "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
/* the 2012 gmail.com key test2.message was signed with, as dkimpy's own
   test_dkim.py serves it (a public DNS record) */
#define GMAIL_20120113                                                                                      \
	"k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1Kd87/UeJjenpabgbFwh"                          \
	"+eBCsSTrqmwIYYvywlbhbqoo2DymndFkbjOVIPIldNs/m40KF+yzMn1skyoxcTUGCQ"                                 \
	"s8g3FgD2Ap3ZB5DekAo5wMmk4wimDO+U8QzI3SD07y2+07wlNWwIt8svnxgdxGkVbb"                                 \
	"hzY8i+RQ9DpSVpPbF7ykQxtKXkv/ahW3KjViiAH+ghvvIhkx4xYSIc9oSwVmAl5Oct"                                 \
	"MEeWUwg8Istjqz8BZeTWbf41fbNhte7Y+YqZOwq1Sd0DbvYAD9NOZK9vlfuac0598H"                                 \
	"Y+vtSBczUiKERHv1yRbcaQtZFh5wtiRrN04BLUTD21MycBX5jYchHjPY/wIDAQAB"

/* a pre-signed dkimpy message: every signature must pass */
static void presigned(const char *name, const char *file, struct dns_stub *st)
{
	char p[4096];
	size_t len;
	char *raw = slurp(dpath(p, sizeof p, file), &len);
	struct dns_resolver *r = dns_stub_resolver(st);
	if (!raw) {
		report(false, name, "cannot read message");
		dns_resolver_free(&r);
		return;
	}
	struct dkim_sig_result *res;
	size_t n = verify_raw(r, raw, len, time(NULL), 0, &res);
	bool ok = n > 0;
	for (size_t i = 0; i < n; i++)
		ok = ok && res[i].result == DKIM_PASS;
	char d[2048];
	describe(d, sizeof d, res, n);
	report(ok, name, d);
	free(res);
	free(raw);
	dns_resolver_free(&r);
}

/*
 * Signs msgfile with keyfile (d=domain s=selector, canonicalisation c),
 * optionally appends tamper to the signed message, verifies it against
 * keyrec at selector._domainkey.domain and checks the first result and (when
 * want_reason is set) that the reason contains want_reason.
 */
static void sign_verify(const char *name, const char *keyfile, const char *msgfile, const char *domain,
			const char *selector, const char *c, const char *keyrec_file, const char *keyrec,
			const char *tamper, enum dkim_result want, const char *want_reason)
{
	char p[4096], err[256];
	size_t len;
	char *raw = slurp(dpath(p, sizeof p, msgfile), &len);
	struct dkim_signer *s = dkim_signer_load(dpath(p, sizeof p, keyfile), domain, selector, err, sizeof err);
	if (!raw || !s) {
		report(false, name, raw ? err : "cannot read message");
		free(raw);
		dkim_signer_free(&s);
		return;
	}
	enum dkim_canon hc, bc;
	dkim_canon_parse(c, strlen(c), &hc, &bc);
	dkim_signer_set_canon(s, hc, bc);
	struct message msg;
	if (message_parse(raw, len, &msg, err, sizeof err) < 0) {
		report(false, name, err);
		free(raw);
		dkim_signer_free(&s);
		return;
	}
	time_t now = time(NULL);
	char *field = dkim_sign(s, &msg, now, err, sizeof err);
	message_free(&msg);
	dkim_signer_free(&s);
	if (!field) {
		report(false, name, err);
		free(raw);
		return;
	}
	size_t flen = strlen(field), tlen = tamper ? strlen(tamper) : 0;
	char *signed_msg = malloc(flen + len + tlen + 1);
	memcpy(signed_msg, field, flen);
	memcpy(signed_msg + flen, raw, len);
	if (tlen)
		memcpy(signed_msg + flen + len, tamper, tlen);
	signed_msg[flen + len + tlen] = '\0';
	free(field);
	free(raw);

	struct dns_stub *st = dns_stub_new();
	char owner[300];
	snprintf(owner, sizeof owner, "%s._domainkey.%s", selector, domain);
	if (keyrec_file)
		add_key_file(st, owner, keyrec_file);
	else
		dns_stub_add_txt(st, owner, keyrec, strlen(keyrec), 1);
	struct dns_resolver *r = dns_stub_resolver(st);
	struct dkim_sig_result *res;
	size_t n = verify_raw(r, signed_msg, flen + len + tlen, now, 0, &res);
	char d[1024];
	describe(d, sizeof d, res, n);
	/* the new signature is the first field; messages may carry older ones */
	bool ok = n >= 1 && res[0].result == want && (!want_reason || strstr(res[0].reason, want_reason));
	report(ok, name, d);
	free(res);
	free(signed_msg);
	dns_resolver_free(&r);
}

static void dkimpy_all(void)
{
	struct dns_stub *st;

	/* RFC 8463 draft example: ed25519 (brisbane) + rsa (test) signatures */
	st = dns_stub_new();
	dns_stub_add_txt(st, "brisbane._domainkey.football.example.com", RFC8463_BRISBANE, strlen(RFC8463_BRISBANE), 1);
	add_key_file(st, "test._domainkey.football.example.com", "test.txt");
	presigned("dkimpy/rfc6376.signed.msg (ed25519 + rsa)", "rfc6376.signed.msg", st);

	/* Exim-signed ed25519 interop vector */
	st = dns_stub_new();
	add_key_file(st, "sed._domainkey.test.ex", "eximtest.dns");
	presigned("dkimpy/ed25519test2.msg (Exim interop)", "ed25519test2.msg", st);

	/* Debian bug 711751: degenerate but legal folding */
	st = dns_stub_new();
	dns_stub_add_txt(st, "20120113._domainkey.gmail.com", GMAIL_20120113, strlen(GMAIL_20120113), 1);
	presigned("dkimpy/test2.message (degenerate folding)", "test2.message", st);

	static const char *const canons[] = { "simple/simple", "simple/relaxed", "relaxed/simple", "relaxed/relaxed" };
	char name[200];
	for (size_t i = 0; i < 4; i++) {
		const char *c = canons[i];
		snprintf(name, sizeof name, "dkimpy/test.message signed with test.private, test.txt (%s)", c);
		sign_verify(name, "test.private", "test.message", "example.com", "test", c, "test.txt", NULL, NULL,
			    DKIM_PASS, NULL);
		snprintf(name, sizeof name, "dkimpy/test.message, implicit k= (test2.txt) (%s)", c);
		sign_verify(name, "test.private", "test.message", "example.com", "test", c, "test2.txt", NULL, NULL,
			    DKIM_PASS, NULL);
		snprintf(name, sizeof name, "dkimpy/ed25519test.msg signed with ed25519test.key (%s)", c);
		sign_verify(name, "ed25519test.key", "ed25519test.msg", "example.net", "test", c, "ed25519test.dns",
			    NULL, NULL, DKIM_PASS, NULL);
		snprintf(name, sizeof name, "dkimpy/rfc6376.msg signed with rfc8032_7_1.key, brisbane (%s)", c);
		sign_verify(name, "rfc8032_7_1.key", "rfc6376.msg", "football.example.com", "brisbane", c, NULL,
			    RFC8463_BRISBANE, NULL, DKIM_PASS, NULL);
	}
	sign_verify("dkimpy/test2.private + test2.message", "test2.private", "test2.message", "example.com", "test2",
		    "relaxed/relaxed", "test2.txt", NULL, NULL, DKIM_PASS, NULL);
	sign_verify("dkimpy/message.mbox signed and verified", "test.private", "message.mbox", "example.com", "test",
		    "relaxed/simple", "test.txt", NULL, NULL, DKIM_PASS, NULL);
	sign_verify("dkimpy/test_extra.message signed and verified", "test.private", "test_extra.message",
		    "example.com", "test", "simple/simple", "test.txt", NULL, NULL, DKIM_PASS, NULL);
	/* dkimpy's rejections */
	sign_verify("dkimpy/badversion.txt (v=DKIM1: ...) rejected", "test.private", "test.message", "example.com",
		    "test", "relaxed/relaxed", "badversion.txt", NULL, NULL, DKIM_PERMERROR, "version");
	sign_verify("dkimpy/badk.txt (k=ed25519-sha256) rejected", "test.private", "test.message", "example.com",
		    "test", "relaxed/relaxed", "badk.txt", NULL, NULL, DKIM_PERMERROR, "unknown key type");
	sign_verify("dkimpy/test_bad.txt (corrupted key) rejected", "test.private", "test.message", "example.com",
		    "test", "relaxed/relaxed", "test_bad.txt", NULL, NULL, DKIM_PERMERROR, "key record");
	sign_verify("dkimpy/test_tlsrpt.txt (s=tlsrpt) rejected for mail", "test.private", "test.message",
		    "example.com", "test", "relaxed/relaxed", "test_tlsrpt.txt", NULL, NULL, DKIM_PERMERROR,
		    "service type");
	sign_verify("dkimpy/altered body fails (rsa)", "test.private", "test.message", "example.com", "test",
		    "relaxed/relaxed", "test.txt", NULL, "foo\r\n", DKIM_FAIL, "body hash did not verify");
	sign_verify("dkimpy/altered body fails (ed25519)", "ed25519test.key", "ed25519test.msg", "example.net", "test",
		    "simple/simple", "ed25519test.dns", NULL, "foo", DKIM_FAIL, "body hash did not verify");

	/* no From field: signing refuses */
	{
		char p[4096], err[256];
		size_t len;
		char *raw = slurp(dpath(p, sizeof p, "test_nofrom.message"), &len);
		struct dkim_signer *s =
			dkim_signer_load(dpath(p, sizeof p, "test.private"), "example.com", "test", err, sizeof err);
		struct message msg;
		char *field = NULL;
		bool ok = false;
		if (raw && s && message_parse(raw, len, &msg, err, sizeof err) == 0) {
			field = dkim_sign(s, &msg, time(NULL), err, sizeof err);
			ok = field == NULL && strstr(err, "From");
			message_free(&msg);
		}
		report(ok, "dkimpy/test_nofrom.message cannot be signed", ok ? err : "signed anyway");
		free(field);
		free(raw);
		dkim_signer_free(&s);
	}
}

int main(int argc, char **argv)
{
	if (argc > 1)
		corpus = argv[1];
	mailauth_all();
	dkimpy_all();
	printf("dkim-vectors: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
