/* mamori dkim sign: add a DKIM-Signature to a message */
#include "auth/dkim.h"
#include "auth/message.h"
#include "cli/cli.h"
#include "core/buf.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void dkim_usage(FILE *f)
{
	fprintf(f, "usage: mamori dkim sign --key FILE --domain D --selector S [FILE|-]\n\n"
		   "Signs the message (FILE or standard input) with the private key (PEM RSA\n"
		   "or Ed25519) and writes it with the DKIM-Signature field prepended to\n"
		   "standard output. Without --key, the dkim.sign entry of the -c\n"
		   "configuration for --domain is used.\n");
}

int cmd_dkim(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "domain", required_argument, NULL, 'd' },
		{ "selector", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key = NULL, *domain = NULL, *selector = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'k': key = optarg; break;
		case 'd': domain = optarg; break;
		case 's': selector = optarg; break;
		case 'c': config_path = optarg; break;
		case 'h': dkim_usage(stdout); return 0;
		default: dkim_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc || strcmp(argv[optind], "sign") != 0 || domain == NULL) {
		dkim_usage(stderr);
		return EXIT_USAGE;
	}
	struct mamori_config cfg;
	if (cli_load_config(config_path, &cfg) < 0)
		return EXIT_CONFIG;
	for (size_t i = 0; key == NULL && i < cfg.n_dkim_sign; i++)
		if (strcmp(cfg.dkim_sign[i].domain, domain) == 0) {
			key = cfg.dkim_sign[i].key_file;
			if (selector == NULL)
				selector = cfg.dkim_sign[i].selector;
		}
	int status = 0;
	if (key == NULL || selector == NULL) {
		fprintf(stderr, "mamori dkim sign: need --key and --selector (or a dkim.sign entry for %s)\n", domain);
		config_free(&cfg);
		return EXIT_USAGE;
	}
	char err[512];
	struct dkim_signer *s = dkim_signer_load(key, domain, selector, err, sizeof err);
	if (s == NULL) {
		fprintf(stderr, "mamori dkim sign: %s\n", err);
		config_free(&cfg);
		return EXIT_CONFIG;
	}
	const char *file = optind + 1 < argc ? argv[optind + 1] : "-";
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
	if (f == NULL) {
		fprintf(stderr, "mamori dkim sign: %s: %s\n", file, strerror(errno));
		dkim_signer_free(&s);
		config_free(&cfg);
		return EXIT_NOINPUT;
	}
	struct buf raw = BUF_INIT(64 * 1024 * 1024);
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (buf_append(&raw, chunk, n) < 0)
			break;
	if (f != stdin)
		fclose(f);
	struct message msg;
	if (message_parse(raw.data ? raw.data : "", raw.len, &msg, err, sizeof err) < 0) {
		fprintf(stderr, "mamori dkim sign: %s: %s\n", file, err);
		status = 65;
	} else {
		char *sig = dkim_sign(s, &msg, time(NULL), err, sizeof err);
		if (sig == NULL) {
			fprintf(stderr, "mamori dkim sign: %s\n", err);
			status = 65;
		} else {
			fputs(sig, stdout);
			fwrite(msg.data, 1, msg.len, stdout);
			free(sig);
		}
		message_free(&msg);
	}
	buf_free(&raw);
	dkim_signer_free(&s);
	config_free(&cfg);
	return status;
}
