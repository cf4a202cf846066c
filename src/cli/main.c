/* mamori: command-line entry point and subcommand dispatch */
#include "cli/cli.h"
#include "core/log.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	int (*fn)(int, char **, const char *);
	const char *summary;
} commands[] = {
	{ "account", cmd_account, "submission guard account locks: list, show, lock, unlock" },
	{ "check", cmd_check, "check a message's SPF, DKIM, DMARC and ARC offline" },
	{ "config", cmd_config, "validate a configuration file (config check)" },
	{ "dns", cmd_dns, "query the configured resolver (dns query NAME TYPE)" },
	{ "dkim", cmd_dkim, "sign a message (dkim sign)" },
	{ "dmarc", cmd_dmarc, "DMARC reports: import, fetch, summary, sources, errors, abuse" },
	{ "quarantine", cmd_quarantine, "quarantined mail: list, show, download, release, delete, expire" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: mamori [-c FILE] COMMAND [ARGS...]\n\n"
		   "Mail authentication and abuse defence: offline tools.\n\n"
		   "options:\n"
		   "  -c FILE    configuration file (default: built-in defaults, data under ./var)\n"
		   "  -h, --help this help\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'mamori COMMAND --help' for a command's options.\n");
}

int cli_load_config(const char *path, struct mamori_config *cfg)
{
	if (path == NULL) {
		config_defaults(cfg);
		return 0;
	}
	char err[512];
	if (config_load(path, cfg, err, sizeof err) < 0) {
		fprintf(stderr, "mamori: %s\n", err);
		config_free(cfg); /* defaults only, but allocated */
		return -1;
	}
	enum log_level lvl;
	if (log_level_parse(cfg->log_level, &lvl) == 0)
		log_set_level(lvl);
	return 0;
}

int cli_plain_opts(int argc, char **argv, const char **config_path, void (*usage_fn)(FILE *f))
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': *config_path = optarg; break;
		case 'h': usage_fn(stdout); return 0;
		default: usage_fn(stderr); return EXIT_USAGE;
		}
	}
	return -1;
}

int cli_dispatch(const char *group, int argc, char **argv, const char *config_path, void (*usage_fn)(FILE *f),
		 const struct cli_sub *subs)
{
	int i = 1;
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			config_path = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage_fn(stdout);
			return 0;
		} else {
			usage_fn(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage_fn(stderr);
		return EXIT_USAGE;
	}
	for (const struct cli_sub *s = subs; s->name != NULL; s++)
		if (strcmp(argv[i], s->name) == 0)
			return s->run(argc - i, argv + i, config_path);
	char shown[41];
	size_t n = 0;
	for (const char *c = argv[i]; *c && n < sizeof shown - 1; c++)
		shown[n++] = (*c >= 0x20 && *c < 0x7f) ? *c : '?';
	shown[n] = '\0';
	fprintf(stderr, "mamori %s: unknown subcommand \"%s\"\n\n", group, shown);
	usage_fn(stderr);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	log_init("mamori", LOG_LVL_WARNING, true, false);
	const char *config_path = NULL;
	int i = 1;
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			config_path = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i == argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
		if (strcmp(argv[i], commands[k].name) == 0)
			return commands[k].fn(argc - i, argv + i, config_path);
	fprintf(stderr, "mamori: unknown command \"%s\"\n\n", argv[i]);
	usage(stderr);
	return EXIT_USAGE;
}
