/* mamori config check: validate a configuration file */
#include "cli/cli.h"
#include "policy/inbound.h"
#include "guard/submission.h"

#include <stdio.h>
#include <string.h>

int cmd_config(int argc, char **argv, const char *config_path)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: mamori config check [FILE]\n\n"
		       "Validates FILE (or the -c file) and reports the file, line and key of\n"
		       "the first error, then compiles the inbound, dnsbl and lists sections as\n"
		       "mamorid does (CIDRs, domains, DNSBL codes, VIP addresses) and names the\n"
		       "key of any value it cannot use. Exit status 0 when valid, 78 when not.\n");
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "check") != 0) {
		fprintf(stderr, "usage: mamori config check [FILE]\n");
		return EXIT_USAGE;
	}
	const char *path = argc >= 3 ? argv[2] : config_path;
	if (path == NULL) {
		fprintf(stderr, "mamori config check: give a file (or -c FILE)\n");
		return EXIT_USAGE;
	}
	struct mamori_config cfg;
	if (cli_load_config(path, &cfg) < 0)
		return EXIT_CONFIG;
	/* what the syntax allows but mamorid could not use: CIDRs, domains,
	   DNSBL codes, VIP addresses (the same compilation mamorid does) */
	char err[512];
	struct inbound_policy *pol = inbound_policy_new(&cfg, err, sizeof err);
	if (pol == NULL) {
		fprintf(stderr, "%s: %s\n", path, err);
		config_free(&cfg);
		return EXIT_CONFIG;
	}
	inbound_policy_free(&pol);
	/* submission guard: limits "N/PERIOD", groups, networks, countries */
	struct sub_config *sub = sub_config_compile(&cfg, err, sizeof err);
	if (sub == NULL) {
		fprintf(stderr, "%s: %s\n", path, err);
		config_free(&cfg);
		return EXIT_CONFIG;
	}
	sub_config_free(&sub);
	printf("%s: ok\n", path);
	config_free(&cfg);
	return 0;
}
