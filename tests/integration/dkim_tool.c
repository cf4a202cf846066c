/*
 * dkim_tool: a small command-line front end to mamori's DKIM code for the
 * cross-check against dkimpy (tests/integration/dkim_crosscheck.sh).
 *
 *   dkim_tool sign --key K --domain D --selector S [--canon H/B] [--time T] < msg
 *       prints the signed message (the new DKIM-Signature field first)
 *   dkim_tool verify (--keys FILE | --zone ZONEFILE) [--time T] < msg
 *       prints one line per signature, "RESULT d=D s=S a=A: reason";
 *       exit 0 when every signature passes, 1 otherwise
 *
 * --keys FILE holds "name TXT-value" lines (the value unquoted, to the end of
 * the line); --zone FILE is an RFC 1035 master file.
 */
#include "auth/dkim.h"
#include "dns/dns_stub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOOL_MAX_INPUT (64 * 1024 * 1024)

static char *read_all(FILE *f, size_t *len_r)
{
	size_t cap = 65536, len = 0;
	char *d = malloc(cap + 1);
	if (!d)
		abort();
	for (;;) {
		if (len == cap) {
			if (cap >= TOOL_MAX_INPUT)
				break;
			cap *= 2;
			d = realloc(d, cap + 1);
			if (!d)
				abort();
		}
		size_t n = fread(d + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	d[len] = '\0';
	*len_r = len;
	return d;
}

static int load_keys(struct dns_stub *stub, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		perror(path);
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) > 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		char *sp = strpbrk(line, " \t");
		if (!sp || line[0] == '#')
			continue;
		*sp++ = '\0';
		while (*sp == ' ' || *sp == '\t')
			sp++;
		dns_stub_add_txt(stub, line, sp, strlen(sp), 1);
	}
	free(line);
	fclose(f);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: dkim_tool sign --key K --domain D --selector S [--canon H/B] [--time T] < msg\n"
			"       dkim_tool verify (--keys FILE | --zone FILE) [--time T] < msg\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	const char *key = NULL, *domain = NULL, *selector = NULL, *canon = NULL, *keys = NULL, *zone = NULL;
	time_t now = time(NULL);
	for (int i = 2; i < argc; i++) {
		if (i + 1 >= argc)
			return usage();
		const char *o = argv[i], *v = argv[++i];
		if (strcmp(o, "--key") == 0)
			key = v;
		else if (strcmp(o, "--domain") == 0)
			domain = v;
		else if (strcmp(o, "--selector") == 0)
			selector = v;
		else if (strcmp(o, "--canon") == 0)
			canon = v;
		else if (strcmp(o, "--keys") == 0)
			keys = v;
		else if (strcmp(o, "--zone") == 0)
			zone = v;
		else if (strcmp(o, "--time") == 0)
			now = (time_t)strtoll(v, NULL, 10);
		else
			return usage();
	}
	size_t len;
	char *raw = read_all(stdin, &len);
	struct message msg;
	char err[256];
	if (message_parse(raw, len, &msg, err, sizeof err) < 0) {
		fprintf(stderr, "message: %s\n", err);
		free(raw);
		return 2;
	}
	int rc = 0;
	if (strcmp(argv[1], "sign") == 0) {
		if (!key || !domain || !selector)
			return usage();
		struct dkim_signer *s = dkim_signer_load(key, domain, selector, err, sizeof err);
		if (!s) {
			fprintf(stderr, "%s\n", err);
			rc = 2;
			goto out;
		}
		if (canon) {
			enum dkim_canon hc, bc;
			if (dkim_canon_parse(canon, strlen(canon), &hc, &bc) < 0) {
				fprintf(stderr, "bad --canon %s\n", canon);
				dkim_signer_free(&s);
				rc = 2;
				goto out;
			}
			dkim_signer_set_canon(s, hc, bc);
		}
		char *field = dkim_sign(s, &msg, now, err, sizeof err);
		dkim_signer_free(&s);
		if (!field) {
			fprintf(stderr, "sign: %s\n", err);
			rc = 1;
			goto out;
		}
		fputs(field, stdout);
		fwrite(raw, 1, len, stdout);
		free(field);
	} else if (strcmp(argv[1], "verify") == 0) {
		struct dns_stub *stub = dns_stub_new();
		if ((keys && load_keys(stub, keys) < 0) ||
		    (zone && dns_stub_load_file(stub, zone, err, sizeof err) < 0)) {
			if (zone)
				fprintf(stderr, "%s\n", err);
			dns_stub_free(&stub);
			rc = 2;
			goto out;
		}
		struct dns_resolver *r = dns_stub_resolver(stub);
		struct dkim_verify_opts o = { .now = now };
		struct dkim_sig_result *res;
		size_t n;
		dkim_verify(r, &msg, &o, &res, &n);
		if (n == 0) {
			printf("none: no signature\n");
			rc = 1;
		}
		for (size_t i = 0; i < n; i++) {
			printf("%s d=%s s=%s a=%s%s%s\n", dkim_result_name(res[i].result), res[i].domain, res[i].selector,
			       res[i].algorithm, res[i].reason[0] ? ": " : "", res[i].reason);
			if (res[i].result != DKIM_PASS)
				rc = 1;
		}
		free(res);
		dns_resolver_free(&r);
	} else {
		rc = usage();
	}
out:
	message_free(&msg);
	free(raw);
	return rc;
}
