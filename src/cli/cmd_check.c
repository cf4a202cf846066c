/* mamori check: run the authentication pipeline on one message offline */
#include "auth/authcheck.h"
#include "cli/cli.h"
#include "core/buf.h"
#include "core/mem.h"
#include "dns/dns_setup.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_MAX_MESSAGE (64 * 1024 * 1024) /* larger than any MTA's message_size_limit */

static void check_usage(FILE *f)
{
	fprintf(f,
		"usage: mamori check [FILE|-] --ip ADDR [--helo NAME] [--mail-from ADDR]\n"
		"                    [--zone ZONEFILE] [--now UNIXTIME] [--json] [-c FILE]\n\n"
		"Checks SPF, DKIM, ARC and DMARC for one message (from FILE, or standard\n"
		"input) as if it arrived from ADDR, and prints the Authentication-Results\n"
		"header mamorid would add, or with --json every result and reason.\n\n"
		"  --ip ADDR          client IP address (IPv4 or IPv6)\n"
		"  --helo NAME        HELO/EHLO name\n"
		"  --mail-from ADDR   envelope sender; '' is the null reverse-path (SPF then\n"
		"                     checks the HELO identity)\n"
		"  --zone FILE        answer DNS from this RFC 1035 zone file instead of the\n"
		"                     configured resolver\n"
		"  --now UNIXTIME     verification time (DKIM x=/t=), default now\n"
		"  --json             print one JSON object (fields: docs/check.md)\n"
		"  -c FILE            configuration file\n\n"
		"exit status: 0 checked, DMARC disposition none; 1 checked, DMARC says\n"
		"quarantine or reject; 2 checked, a temporary DNS failure (mamorid would\n"
		"answer 4xx); 64 usage; 65 unreadable message; 66 cannot open FILE;\n"
		"78 configuration or zone file error.\n");
}

static int read_all(FILE *f, struct buf *b)
{
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (buf_append(b, chunk, n) < 0)
			return -1;
	return ferror(f) ? -1 : 0;
}

int cmd_check(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "ip", required_argument, NULL, 'i' },
		{ "helo", required_argument, NULL, 'H' },
		{ "mail-from", required_argument, NULL, 'm' },
		{ "zone", required_argument, NULL, 'z' },
		{ "now", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ip = NULL, *helo = NULL, *mail_from = NULL, *zone = NULL, *now_s = NULL;
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i': ip = optarg; break;
		case 'H': helo = optarg; break;
		case 'm': mail_from = optarg; break;
		case 'z': zone = optarg; break;
		case 'n': now_s = optarg; break;
		case 'j': json = true; break;
		case 'c': config_path = optarg; break;
		case 'h': check_usage(stdout); return 0;
		default: check_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind + 1 < argc) {
		fprintf(stderr, "mamori check: one message at a time\n");
		return EXIT_USAGE;
	}
	const char *file = optind < argc ? argv[optind] : "-";

	struct auth_envelope env = { .helo = helo, .mail_from = mail_from };
	if (ip != NULL) {
		if (ip_parse(ip, &env.ip) < 0) {
			fprintf(stderr, "mamori check: --ip \"%s\" is not an IP address\n", ip);
			return EXIT_USAGE;
		}
		env.have_ip = true;
	}
	time_t now = time(NULL);
	if (now_s) {
		char *end;
		errno = 0;
		long long v = strtoll(now_s, &end, 10);
		if (errno || *end || v < 0) {
			fprintf(stderr, "mamori check: --now wants a Unix time in seconds\n");
			return EXIT_USAGE;
		}
		now = (time_t)v;
	}

	struct mamori_config cfg;
	if (cli_load_config(config_path, &cfg) < 0)
		return EXIT_CONFIG;

	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
	if (f == NULL) {
		fprintf(stderr, "mamori check: %s: %s\n", file, strerror(errno));
		config_free(&cfg);
		return EXIT_NOINPUT;
	}
	struct buf raw = BUF_INIT(CHECK_MAX_MESSAGE);
	int rd = read_all(f, &raw);
	if (f != stdin)
		fclose(f);
	if (rd < 0) {
		fprintf(stderr, "mamori check: %s: unreadable or larger than %d bytes\n", file, CHECK_MAX_MESSAGE);
		buf_free(&raw);
		config_free(&cfg);
		return 65;
	}

	char err[512];
	struct message msg;
	if (message_parse(raw.data ? raw.data : "", raw.len, &msg, err, sizeof err) < 0) {
		fprintf(stderr, "mamori check: %s: %s\n", file, err);
		buf_free(&raw);
		config_free(&cfg);
		return 65;
	}
	buf_free(&raw);

	struct dns_resolver *r = dns_setup(&cfg, zone, err, sizeof err);
	if (r == NULL) {
		fprintf(stderr, "mamori check: %s\n", err);
		message_free(&msg);
		config_free(&cfg);
		return EXIT_CONFIG;
	}

	struct auth_opts o;
	auth_opts_from_config(&o, &cfg);
	o.now = now;
	struct auth_results res;
	auth_check(r, &o, &msg, &env, &res);

	if (json) {
		json_t *j = auth_results_json(&res, &o);
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(j);
	} else {
		char *ar = auth_results_header(&res, &o, "\n");
		printf("Authentication-Results: %s\n", ar);
		free(ar);
	}

	int status = 0;
	if (res.tempfail)
		status = 2;
	else if (res.dmarc_done && (res.dmarc.disposition == DMARC_POLICY_QUARANTINE ||
				    res.dmarc.disposition == DMARC_POLICY_REJECT))
		status = 1;
	auth_results_free(&res);
	dns_resolver_free(&r);
	message_free(&msg);
	config_free(&cfg);
	return status;
}
