/*
 * quarantine_tool: puts a message into the quarantine through mailstore.h,
 * the way mamorid does, for tests/integration/quarantine_cli.sh.
 *
 *   quarantine_tool -c CONF [--from A] [--rcpt B]... [--header-from H]
 *                   [--subject S] [--reason R]... [--queue-id Q]
 *                   [--time UNIX] [--log] FILE
 *
 * Prints the new quarantine id. --log also writes a message-log row
 * (action quarantine) pointing at it.
 */
#include "core/config.h"
#include "core/log.h"
#include "core/mem.h"
#include "store/mailstore.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LIST 64

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "rcpt", required_argument, NULL, 'r' },
		{ "header-from", required_argument, NULL, 'H' },
		{ "subject", required_argument, NULL, 's' },
		{ "reason", required_argument, NULL, 'R' },
		{ "queue-id", required_argument, NULL, 'q' },
		{ "time", required_argument, NULL, 't' },
		{ "log", no_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	log_init("quarantine_tool", LOG_LVL_WARNING, true, false);
	const char *conf = NULL, *rcpts[MAX_LIST], *reasons[MAX_LIST];
	size_t nr = 0, nreasons = 0;
	struct quarantine_meta m;
	memset(&m, 0, sizeof m);
	bool dolog = false;
	int c;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'f': m.mail_from = optarg; break;
		case 'r':
			if (nr < MAX_LIST)
				rcpts[nr++] = optarg;
			break;
		case 'H': m.header_from = optarg; break;
		case 's': m.subject = optarg; break;
		case 'R':
			if (nreasons < MAX_LIST)
				reasons[nreasons++] = optarg;
			break;
		case 'q': m.queue_id = optarg; break;
		case 't': m.time = strtoll(optarg, NULL, 10); break;
		case 'l': dolog = true; break;
		default: fprintf(stderr, "usage: see the source\n"); return 64;
		}
	}
	if (conf == NULL || optind + 1 != argc) {
		fprintf(stderr, "usage: quarantine_tool -c CONF [options] FILE\n");
		return 64;
	}
	FILE *f = fopen(argv[optind], "rb");
	if (f == NULL) {
		perror(argv[optind]);
		return 66;
	}
	size_t cap = 1 << 16, len = 0, n;
	char *msg = xmalloc(cap);
	while ((n = fread(msg + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap)
			msg = xrealloc(msg, cap *= 2);
	}
	fclose(f);
	/* reasons joined one per line, as the milter records them */
	size_t rl = 1;
	for (size_t i = 0; i < nreasons; i++)
		rl += strlen(reasons[i]) + 1;
	char *joined = xcalloc(1, rl);
	for (size_t i = 0; i < nreasons; i++) {
		if (i > 0)
			strncat(joined, "\n", rl - strlen(joined) - 1);
		strncat(joined, reasons[i], rl - strlen(joined) - 1);
	}
	m.reasons = joined;
	m.rcpts = rcpts;
	m.nrcpts = nr;
	m.client_ip = "192.0.2.1";

	struct mamori_config cfg;
	char err[512];
	if (config_load(conf, &cfg, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 78;
	}
	struct mailstore *ms = mailstore_open(&cfg, err, sizeof err);
	config_free(&cfg);
	if (ms == NULL) {
		fprintf(stderr, "mailstore_open: %s\n", err);
		return 70;
	}
	int64_t id = 0;
	int ret = 0;
	if (mailstore_quarantine(ms, msg, len, &m, &id, err, sizeof err) < 0) {
		fprintf(stderr, "mailstore_quarantine: %s\n", err);
		ret = 75;
	} else {
		printf("%lld\n", (long long)id);
		if (dolog) {
			struct msglog_entry e;
			memset(&e, 0, sizeof e);
			e.time = m.time;
			e.queue_id = m.queue_id;
			e.client_ip = m.client_ip;
			e.mail_from = m.mail_from;
			e.rcpts = rcpts;
			e.nrcpts = nr;
			e.subject = m.subject;
			e.size = len;
			e.action = "quarantine";
			e.reason = nreasons > 0 ? reasons[0] : "";
			e.quarantine_id = id;
			mailstore_log(ms, &e);
		}
	}
	mailstore_close(&ms);
	xfree(joined);
	xfree(msg);
	return ret;
}
