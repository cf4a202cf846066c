/* mamori dns query: ask the configured resolver (or a zone file) */
#include "cli/cli.h"
#include "dns/dns_setup.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void dns_usage(FILE *f)
{
	fprintf(f, "usage: mamori dns query NAME [TYPE] [--zone FILE] [-c FILE]\n\n"
		   "Looks NAME up (TYPE: A, AAAA, MX, TXT, PTR, CNAME, NS; default TXT) with\n"
		   "the configured resolver, or answers from an RFC 1035 zone file, and\n"
		   "prints the outcome and records. Exit status 0 found, 1 NODATA or\n"
		   "NXDOMAIN, 2 temporary failure, 78 resolver setup failed.\n");
}

int cmd_dns(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "zone", required_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *zone = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'z': zone = optarg; break;
		case 'c': config_path = optarg; break;
		case 'h': dns_usage(stdout); return 0;
		default: dns_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc || strcmp(argv[optind], "query") != 0 || optind + 1 >= argc) {
		dns_usage(stderr);
		return EXIT_USAGE;
	}
	const char *name = argv[optind + 1];
	enum dns_type type = DNS_T_TXT;
	if (optind + 2 < argc && dns_type_parse(argv[optind + 2], &type) < 0) {
		fprintf(stderr, "mamori dns: unknown type \"%s\"\n", argv[optind + 2]);
		return EXIT_USAGE;
	}
	struct mamori_config cfg;
	if (cli_load_config(config_path, &cfg) < 0)
		return EXIT_CONFIG;
	char err[512];
	struct dns_resolver *r = dns_setup(&cfg, zone, err, sizeof err);
	config_free(&cfg);
	if (r == NULL) {
		fprintf(stderr, "mamori dns: %s\n", err);
		return EXIT_CONFIG;
	}
	struct dns_answer ans;
	enum dns_status st = dns_query(r, name, type, &ans);
	printf("%s %s: %s%s%s%s\n", name, dns_type_name(type), dns_status_name(st), ans.reason ? " (" : "",
	       ans.reason ? ans.reason : "", ans.reason ? ")" : "");
	for (size_t i = 0; i < ans.n; i++) {
		const struct dns_rr *rr = &ans.rr[i];
		char ip[IP_STRLEN];
		switch (rr->type) {
		case DNS_T_A:
		case DNS_T_AAAA:
			printf("  %s\n", ip_format(&rr->ip, ip));
			break;
		case DNS_T_MX:
			printf("  %u %s\n", rr->pref, rr->name);
			break;
		case DNS_T_TXT:
			putchar(' ');
			putchar(' ');
			putchar('"');
			for (size_t k = 0; k < rr->txt_len; k++) {
				unsigned char ch = (unsigned char)rr->txt[k];
				if (ch < 32 || ch > 126 || ch == '"' || ch == '\\')
					printf("\\%03u", ch);
				else
					putchar(ch);
			}
			printf("\"\n");
			break;
		default:
			printf("  %s\n", rr->name);
		}
	}
	dns_answer_free(&ans);
	dns_resolver_free(&r);
	return st == DNS_FOUND ? 0 : st == DNS_TEMPFAIL ? 2 : st == DNS_CONFIG_ERROR ? EXIT_CONFIG : 1;
}
