/* mamori dmarc abuse: ARF reports to the networks of spoofing sources */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dmarc/abuse.h"
#include "dmarc/rdap.h"
#include "dns/dns_setup.h"
#include "store/store.h"

#define EXIT_SOME_FAILED 1
#define EXIT_TEMPFAIL 75 /* sysexits EX_TEMPFAIL */

static void abuse_usage(FILE *f)
{
	fprintf(f, "usage: mamori dmarc abuse [--domain D] [--since 30d] [--min N] [--dry-run DIR] [-c FILE]\n\n"
		   "For each source IP that failed both aligned SPF and aligned DKIM for at\n"
		   "least N messages (default abuse.min_messages) in the stored aggregate\n"
		   "reports and is not a known sender of the domain (reports.known_senders,\n"
		   "or authorised by the domain's own SPF record), finds the abuse contact\n"
		   "of its network (abuse.overrides, else RDAP) and sends it an ARF report\n"
		   "(RFC 5965/6591) through abuse.smtp_url, at most once per contact and\n"
		   "source in abuse.period_days. Every report is logged in the store.\n\n"
		   "  --domain D     only this policy domain\n"
		   "  --since S      data from reports beginning in the last S (Nd, Nh, Nw)\n"
		   "                 or since a date YYYY-MM-DD; default 30d\n"
		   "  --min N        threshold of failing messages (overrides the config)\n"
		   "  --dry-run DIR  write DIR/<n>-<ip>.eml instead of sending\n\n"
		   "Exit status: 0 done, 1 some reports could not be made or sent,\n"
		   "64 usage, 75 store temporarily unavailable, 78 configuration error.\n");
}

/* "30d", "12h", "2w", or "YYYY-MM-DD" into Unix seconds before/at now */
static int parse_since(const char *s, time_t now, int64_t *since_r)
{
	int y, m, d;
	char tail;
	if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3) {
		if (m < 1 || m > 12 || d < 1 || d > 31 || y < 1970)
			return -1;
		struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d };
		*since_r = (int64_t)timegm(&tm);
		return 0;
	}
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno != 0 || end == s || n < 0 || n > 100000 || end[0] == '\0' || end[1] != '\0')
		return -1;
	long long unit;
	switch (end[0]) {
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	case 'w': unit = 7 * 86400; break;
	default: return -1;
	}
	*since_r = (int64_t)now - (int64_t)(n * unit);
	return 0;
}

int cmd_dmarc_abuse(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "since", required_argument, NULL, 's' },
		{ "min", required_argument, NULL, 'm' },
		{ "dry-run", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *domain = NULL, *since_arg = "30d", *dry_run = NULL;
	long long min = -1;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': domain = optarg; break;
		case 's': since_arg = optarg; break;
		case 'n': dry_run = optarg; break;
		case 'm': {
			char *end;
			errno = 0;
			min = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg || min < 1 || min > 1000000000LL) {
				fprintf(stderr, "mamori dmarc abuse: --min must be a whole number from 1\n");
				return EXIT_USAGE;
			}
			break;
		}
		case 'c': config_path = optarg; break;
		case 'h': abuse_usage(stdout); return 0;
		default: abuse_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		abuse_usage(stderr);
		return EXIT_USAGE;
	}
	time_t now = time(NULL);
	int64_t since;
	if (parse_since(since_arg, now, &since) < 0) {
		fprintf(stderr, "mamori dmarc abuse: --since \"%s\": use Nh, Nd, Nw or YYYY-MM-DD\n", since_arg);
		return EXIT_USAGE;
	}
	if (dry_run != NULL && mkdir(dry_run, 0750) < 0 && errno != EEXIST) {
		fprintf(stderr, "mamori dmarc abuse: %s: %s\n", dry_run, strerror(errno));
		return EXIT_USAGE;
	}

	struct mamori_config cfg;
	if (cli_load_config(config_path, &cfg) < 0)
		return EXIT_CONFIG;
	if (!rdap_email_valid(cfg.abuse_from)) {
		fprintf(stderr, "mamori dmarc abuse: abuse.from must be set to a plain address (local@domain)\n");
		config_free(&cfg);
		return EXIT_CONFIG;
	}
	char err[1024];
	struct store *st = store_open(&cfg, err, sizeof err);
	if (st == NULL) {
		fprintf(stderr, "mamori dmarc abuse: store: %s\n", err);
		config_free(&cfg);
		return EXIT_CONFIG;
	}
	struct dns_resolver *dns = dns_setup(&cfg, NULL, err, sizeof err);
	if (dns == NULL) {
		fprintf(stderr, "mamori dmarc abuse: resolver: %s\n", err);
		store_close(&st);
		config_free(&cfg);
		return EXIT_CONFIG;
	}
	struct rdap_cache_ops cache;
	abuse_rdap_cache(st, &cache);
	struct rdap_client_opts ro = {
		.bootstrap = cfg.abuse_rdap_bootstrap,
		.cainfo = cfg.abuse_cainfo,
		.cache_days = cfg.abuse_rdap_cache_days,
		.cache = &cache,
		.user_agent = "mamori (DMARC abuse reporting)",
	};
	struct rdap_client *rdap = rdap_client_new(&ro, err, sizeof err);
	if (rdap == NULL) {
		fprintf(stderr, "mamori dmarc abuse: %s\n", err);
		dns_resolver_free(&dns);
		store_close(&st);
		config_free(&cfg);
		return EXIT_CONFIG;
	}

	struct abuse_opts o = {
		.domain = domain,
		.since = since,
		.now = (int64_t)now,
		.min_messages = min > 0 ? (uint64_t)min : (uint64_t)cfg.abuse_min_messages,
		.dry_run_dir = dry_run,
		.out = stdout,
	};
	struct abuse_stats s;
	enum store_status rc = abuse_run(&cfg, st, dns, rdap, &o, &s, err, sizeof err);
	printf("%u source%s at or above %llu failing messages: %u %s, %u failed, %u lookups failed; "
	       "skipped %u known, %u by override, %u without contact, %u within the period\n",
	       s.sources, s.sources == 1 ? "" : "s", (unsigned long long)o.min_messages,
	       dry_run ? s.dry_run : s.sent, dry_run ? "written" : "sent", s.failed, s.lookup_failed, s.skip_known,
	       s.skip_override, s.skip_nocontact, s.skip_period);
	rdap_client_free(&rdap);
	dns_resolver_free(&dns);
	store_close(&st);
	config_free(&cfg);
	if (rc != STORE_OK) {
		fprintf(stderr, "mamori dmarc abuse: %s\n", err);
		return rc == STORE_TEMPFAIL ? EXIT_TEMPFAIL : EXIT_SOFTWARE;
	}
	return s.failed > 0 || s.lookup_failed > 0 ? EXIT_SOME_FAILED : 0;
}
