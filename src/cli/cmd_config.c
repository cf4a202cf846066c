/* mamori config check: validate a configuration file */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

int cmd_config(int argc, char **argv, const char *config_path)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: mamori config check [FILE]\n\n"
		       "Validates FILE (or the -c file) and reports the file, line and key of\n"
		       "the first error. Exit status 0 when valid, 78 when not.\n");
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
	printf("%s: ok\n", path);
	config_free(&cfg);
	return 0;
}
