/*
 * cli: the `mamori` command. Each subcommand is one function taking the
 * arguments after its name; common options (-c FILE) are handled here.
 * Exit codes follow sysexits(3) for usage (64), input (66) and config (78)
 * errors; each command documents its own result codes in its --help.
 */
#ifndef MAMORI_CLI_CLI_H
#define MAMORI_CLI_CLI_H

#include <stdio.h>

#include "core/config.h"

#define EXIT_USAGE 64
#define EXIT_NOINPUT 66
#define EXIT_SOFTWARE 70
#define EXIT_CONFIG 78

/* loads the -c file, or the defaults when path is NULL; prints the error
   and returns -1 on failure (cfg_r is then empty; freeing it again is harmless) */
int cli_load_config(const char *path, struct mamori_config *cfg_r);

/* one subcommand of a command group ("mamori dmarc import ...") */
struct cli_sub {
	const char *name;
	int (*run)(int argc, char **argv, const char *config_path); /* argv[0] is the subcommand */
};

/*
 * "mamori GROUP [-c FILE] [-h] SUBCOMMAND ARGS...": reads the options before
 * the subcommand, then runs the one named in subs (terminated by a NULL
 * name). usage_fn(stdout) for -h, usage_fn(stderr) and EXIT_USAGE for anything
 * unknown (the unknown name is shown with control bytes as '?').
 */
/*
 * The options of a subcommand that takes nothing but [-c FILE] [-h|--help]
 * before its operands (getopt_long; argv[0] is the subcommand). Returns -1
 * to go on, with the operands at argv[optind] and *config_path updated;
 * otherwise the exit status to return (0 after printing usage_fn(stdout)
 * for --help, EXIT_USAGE after usage_fn(stderr)).
 */
int cli_plain_opts(int argc, char **argv, const char **config_path, void (*usage_fn)(FILE *f));

int cli_dispatch(const char *group, int argc, char **argv, const char *config_path, void (*usage_fn)(FILE *f),
		 const struct cli_sub *subs);

int cmd_check(int argc, char **argv, const char *config_path);
int cmd_config(int argc, char **argv, const char *config_path);
int cmd_dns(int argc, char **argv, const char *config_path);
int cmd_dkim(int argc, char **argv, const char *config_path);
/* mamori dmarc import|fetch|summary|sources|errors (cmd_dmarc.c) */
int cmd_dmarc(int argc, char **argv, const char *config_path);
/* mamori dmarc abuse (cmd_dmarc_abuse.c); argv[0] is "abuse" */
int cmd_dmarc_abuse(int argc, char **argv, const char *config_path);
/* mamori account list|show|lock|unlock (cmd_account.c) */
int cmd_account(int argc, char **argv, const char *config_path);
/* mamori quarantine list|show|download|release|delete|expire (cmd_quarantine.c) */
int cmd_quarantine(int argc, char **argv, const char *config_path);

#endif
