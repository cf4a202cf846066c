/*
 * mamori quarantine: list, show, download, release, delete and expire
 * quarantined messages. Thin glue over store/quarantine.h. Everything
 * printed for a terminal goes through put_term(): subjects, addresses and
 * reasons come from the sender and may hold escape sequences.
 */
#include "cli/cli.h"

#include "core/mem.h"
#include "core/termsafe.h"
#include "core/utf8.h"
#include "store/quarantine.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_TEMPFAIL 75 /* sysexits EX_TEMPFAIL */
#define EXIT_SOME 1      /* some of the given messages could not be handled */
#define LIST_DEFAULT_LIMIT 100

/* ---- output helpers ---- */

static void fmt_time(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(out, outlen, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(out, outlen, "%lld", (long long)t);
}

static void fmt_time_iso(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "%lld", (long long)t);
}

/* s for a terminal (core/termsafe.h): at most max columns (0: no limit),
   padded with blanks to width */
static void put_term(FILE *f, const char *s, size_t max, size_t width)
{
	size_t cols = 0;
	char *t = term_escape(s, max, &cols);
	fputs(t, f);
	xfree(t);
	for (; cols < width; cols++)
		fputc(' ', f);
}

/* a JSON string of s: bytes that are not UTF-8 become U+FFFD (jansson
   refuses invalid UTF-8); control characters are escaped by JSON itself */
static json_t *jstr(const char *s)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	size_t n = strlen((const char *)p), o = 0;
	char *out = xmalloc(3 * n + 1);
	for (size_t i = 0; i < n;) {
		size_t len = utf8_seq_len(p + i, n - i);
		if (len == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(out + o, p + i, len);
		o += len;
		i += len;
	}
	json_t *j = json_stringn(out, o);
	xfree(out);
	return j != NULL ? j : json_string("");
}

/* a "one per line" column as a JSON array */
static json_t *jlines(const char *s)
{
	json_t *a = json_array();
	while (s != NULL && *s != '\0') {
		size_t n = strcspn(s, "\n");
		if (n > 0) {
			char *line = xstrndup(s, n);
			json_array_append_new(a, jstr(line));
			xfree(line);
		}
		s += n;
		if (*s == '\n')
			s++;
	}
	return a;
}

static json_t *item_json(const struct quarantine_item *it, const char *dir)
{
	char t[32];
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(it->id));
	json_object_set_new(o, "time", json_integer(it->time));
	fmt_time_iso(it->time, t, sizeof t);
	json_object_set_new(o, "date", json_string(t));
	json_object_set_new(o, "state", jstr(it->state));
	json_object_set_new(o, "state_time", json_integer(it->state_time));
	json_object_set_new(o, "state_detail", jstr(it->state_detail));
	json_object_set_new(o, "attempts", json_integer(it->attempts));
	json_object_set_new(o, "queue_id", jstr(it->queue_id));
	json_object_set_new(o, "client_ip", jstr(it->client_ip));
	json_object_set_new(o, "mail_from", jstr(it->mail_from));
	json_object_set_new(o, "rcpts", jlines(it->rcpts));
	json_object_set_new(o, "header_from", jstr(it->header_from));
	json_object_set_new(o, "subject", jstr(it->subject));
	json_object_set_new(o, "reasons", jlines(it->reasons));
	json_object_set_new(o, "size", json_integer((json_int_t)it->size));
	json_object_set_new(o, "sha256", jstr(it->sha256));
	if (dir != NULL) {
		size_t n = strlen(dir) + strlen(it->file) + 2;
		char *path = xmalloc(n);
		snprintf(path, n, "%s/%s", dir, it->file);
		json_object_set_new(o, "file", jstr(path));
		xfree(path);
	}
	return o;
}

static void json_print(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	putchar('\n');
	json_decref(j);
}

/* first line of a "one per line" column (heap) and how many lines follow */
static char *first_line(const char *s, size_t *more_r)
{
	size_t n = strcspn(s, "\n");
	size_t more = 0;
	for (const char *p = s + n; *p != '\0'; p++)
		if (*p == '\n' && p[1] != '\0')
			more++;
	*more_r = more;
	return xstrndup(s, n);
}

/* ---- argument helpers ---- */

/*
 * WHEN for --since/--until: 30m, 12h, 7d, 2w (back from now), 2026-01-01
 * or 2026-01-01T10:00:00 (UTC), or Unix seconds. -1 on a bad value.
 */
static int parse_when(const char *s, int64_t now, int64_t *t_r)
{
	if (s[0] == '\0' || !isdigit((unsigned char)s[0]))
		return -1;
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *e;
	if (strlen(s) == 10 && s[4] == '-' && s[7] == '-') {
		e = strptime(s, "%Y-%m-%d", &tm);
		if (e == NULL || *e != '\0')
			return -1;
		*t_r = (int64_t)timegm(&tm);
		return 0;
	}
	if (strlen(s) >= 19 && s[4] == '-' && s[10] == 'T') {
		e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
		if (e == NULL || !(*e == '\0' || (e[0] == 'Z' && e[1] == '\0')))
			return -1;
		*t_r = (int64_t)timegm(&tm);
		return 0;
	}
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || v < 0 || v > (1LL << 40))
		return -1;
	long long unit = 0;
	if (*end == '\0')
		unit = 1;
	else if (strcmp(end, "m") == 0)
		unit = 60;
	else if (strcmp(end, "h") == 0)
		unit = 3600;
	else if (strcmp(end, "d") == 0)
		unit = 86400;
	else if (strcmp(end, "w") == 0)
		unit = 7 * 86400;
	if (unit == 0)
		return -1;
	*t_r = unit == 1 ? v : now - v * unit;
	if (*t_r < 1)
		*t_r = 1;
	return 0;
}

static int parse_id(const char *s, int64_t *id_r)
{
	if (s[0] < '1' || s[0] > '9')
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0)
		return -1;
	*id_r = v;
	return 0;
}

static bool state_valid(const char *s)
{
	static const char *const states[] = { "held", "releasing", "released", "failed", "deleted" };
	for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
		if (strcmp(s, states[i]) == 0)
			return true;
	return false;
}

static struct quarantine *open_q(const char *config_path, const char *who, int *exit_r)
{
	struct mamori_config cfg;
	if (cli_load_config(config_path, &cfg) < 0) {
		*exit_r = EXIT_CONFIG;
		return NULL;
	}
	char err[512] = "";
	struct quarantine *q = quarantine_open(&cfg, err, sizeof err);
	config_free(&cfg);
	if (q == NULL) {
		fprintf(stderr, "mamori quarantine %s: %s\n", who, err);
		*exit_r = strstr(err, "busy") != NULL || strstr(err, "locked") != NULL ? EXIT_TEMPFAIL : EXIT_SOFTWARE;
	}
	return q;
}

static int store_exit(const char *who, enum store_status st)
{
	fprintf(stderr, "mamori quarantine %s: database: %s\n", who, store_status_name(st));
	return st == STORE_TEMPFAIL ? EXIT_TEMPFAIL : EXIT_SOFTWARE;
}

/* ---- list ---- */

static void list_usage(FILE *f)
{
	fprintf(f, "usage: mamori quarantine list [-c FILE] [--recipient ADDR] [--sender ADDR] [--reason TEXT]\n"
		   "                             [--since WHEN] [--until WHEN] [--state STATE]\n"
		   "                             [--limit N] [--json]\n\n"
		   "Quarantined messages, newest first. --recipient matches any envelope\n"
		   "recipient, --sender the envelope sender or the header From, --reason the\n"
		   "reasons; all three are substrings, ASCII case-insensitive (\"example.com\"\n"
		   "finds a whole domain). WHEN: 30m, 12h, 7d, 2w back from now, 2026-01-01 or\n"
		   "2026-01-01T10:00:00 (UTC), or Unix seconds; --since is inclusive, --until\n"
		   "exclusive. STATE: held, releasing, released, failed, deleted. --limit:\n"
		   "at most N rows (default %d, 0 = all).\n"
		   "Exit status: 0, 64 usage, 75 database busy, 70/78 other errors.\n",
		LIST_DEFAULT_LIMIT);
}

struct list_ctx {
	bool json;
	json_t *arr;
	size_t n;
};

static int list_row(void *vctx, const struct quarantine_item *it)
{
	struct list_ctx *c = vctx;
	c->n++;
	if (c->json) {
		json_array_append_new(c->arr, item_json(it, NULL));
		return 0;
	}
	char t[32], id[24];
	fmt_time(it->time, t, sizeof t);
	snprintf(id, sizeof id, "%lld", (long long)it->id);
	size_t more = 0, rmore = 0;
	char *to = first_line(it->rcpts, &more);
	char *reason = first_line(it->reasons, &rmore);
	printf("%-7s %-19s ", id, t);
	put_term(stdout, it->state, 9, 9);
	putchar(' ');
	put_term(stdout, it->mail_from[0] ? it->mail_from : "<>", 28, 28);
	putchar(' ');
	char plus[24] = "";
	if (more > 0)
		snprintf(plus, sizeof plus, " +%zu", more);
	put_term(stdout, to, 28 - strlen(plus), 0);
	fputs(plus, stdout);
	putchar('\n');
	/* second line: subject and the first reason, indented */
	fputs("        subject: ", stdout);
	put_term(stdout, it->subject, 60, 0);
	fputs("\n        reason:  ", stdout);
	put_term(stdout, reason, 60, 0);
	if (rmore > 0)
		printf(" (+%zu more)", rmore);
	putchar('\n');
	xfree(to);
	xfree(reason);
	return 0;
}

static int q_list(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "recipient", required_argument, NULL, 'r' },
		{ "sender", required_argument, NULL, 's' },
		{ "reason", required_argument, NULL, 'R' },
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "state", required_argument, NULL, 't' },
		{ "limit", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct quarantine_filter f;
	memset(&f, 0, sizeof f);
	f.limit = LIST_DEFAULT_LIMIT;
	bool json = false;
	int64_t now = (int64_t)time(NULL);
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'r': f.recipient = optarg; break;
		case 's': f.sender = optarg; break;
		case 'R': f.reason = optarg; break;
		case 'S':
		case 'U':
			if (parse_when(optarg, now, c == 'S' ? &f.since : &f.until) < 0) {
				fprintf(stderr, "mamori quarantine list: --%s \"%s\": expected 7d, 2026-01-01, "
						"2026-01-01T10:00:00 or Unix seconds\n",
					c == 'S' ? "since" : "until", optarg);
				return EXIT_USAGE;
			}
			break;
		case 't':
			if (!state_valid(optarg)) {
				fprintf(stderr, "mamori quarantine list: --state: held, releasing, released, failed "
						"or deleted\n");
				return EXIT_USAGE;
			}
			f.state = optarg;
			break;
		case 'l': {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || !isdigit((unsigned char)optarg[0])) {
				fprintf(stderr, "mamori quarantine list: --limit: a number\n");
				return EXIT_USAGE;
			}
			f.limit = (size_t)v;
			break;
		}
		case 'j': json = true; break;
		case 'h': list_usage(stdout); return 0;
		default: list_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		list_usage(stderr);
		return EXIT_USAGE;
	}
	int ret = 0;
	struct quarantine *q = open_q(config_path, "list", &ret);
	if (q == NULL)
		return ret;
	struct list_ctx ctx = { json, json ? json_array() : NULL, 0 };
	if (!json)
		printf("%-7s %-19s %-9s %-28s %s\n", "ID", "TIME (UTC)", "STATE", "FROM", "TO");
	enum store_status st = quarantine_list(q, &f, list_row, &ctx);
	quarantine_close(&q);
	if (st != STORE_OK) {
		json_decref(ctx.arr);
		return store_exit("list", st);
	}
	if (json)
		json_print(ctx.arr);
	else if (ctx.n == 0)
		printf("(no messages)\n");
	return 0;
}

/* ---- show ---- */

static void show_usage(FILE *f)
{
	fprintf(f, "usage: mamori quarantine show [-c FILE] [--json] ID\n\n"
		   "Everything recorded about one quarantined message: envelope, header From,\n"
		   "subject, reasons, size and SHA-256, the file, and its state (held,\n"
		   "releasing, released, failed, deleted) with the last release outcome.\n"
		   "Exit status: 0, 1 no such message, 64 usage, 75 database busy.\n");
}

static void show_lines(const char *label, const char *s)
{
	bool first = true;
	while (*s != '\0') {
		size_t n = strcspn(s, "\n");
		char *line = xstrndup(s, n);
		printf("%-14s ", first ? label : "");
		put_term(stdout, line, 0, 0);
		putchar('\n');
		xfree(line);
		first = false;
		s += n;
		if (*s == '\n')
			s++;
	}
	if (first)
		printf("%-14s (none)\n", label);
}

static void show_field(const char *label, const char *s)
{
	printf("%-14s ", label);
	put_term(stdout, s, 0, 0);
	putchar('\n');
}

static int q_show(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'j': json = true; break;
		case 'h': show_usage(stdout); return 0;
		default: show_usage(stderr); return EXIT_USAGE;
		}
	}
	int64_t id;
	if (optind + 1 != argc || parse_id(argv[optind], &id) < 0) {
		show_usage(stderr);
		return EXIT_USAGE;
	}
	int ret = 0;
	struct quarantine *q = open_q(config_path, "show", &ret);
	if (q == NULL)
		return ret;
	struct quarantine_item it;
	enum store_status st = quarantine_get(q, id, &it);
	if (st == STORE_NOTFOUND) {
		fprintf(stderr, "mamori quarantine show: no quarantined message %lld\n", (long long)id);
		quarantine_close(&q);
		return EXIT_SOME;
	}
	if (st != STORE_OK) {
		quarantine_close(&q);
		return store_exit("show", st);
	}
	if (json) {
		json_print(item_json(&it, quarantine_dir(q)));
	} else {
		char t[32], num[64];
		printf("%-14s %lld\n", "id:", (long long)it.id);
		fmt_time(it.time, t, sizeof t);
		printf("%-14s %s UTC\n", "time:", t);
		printf("%-14s ", "state:");
		put_term(stdout, it.state, 0, 0);
		if (it.state_time > 0) {
			fmt_time(it.state_time, t, sizeof t);
			printf(" (since %s UTC)", t);
		}
		putchar('\n');
		if (it.state_detail[0] != '\0')
			show_field("detail:", it.state_detail);
		printf("%-14s %d\n", "attempts:", it.attempts);
		show_field("queue id:", it.queue_id);
		show_field("client ip:", it.client_ip);
		show_field("mail from:", it.mail_from[0] ? it.mail_from : "<>");
		show_lines("recipients:", it.rcpts);
		show_field("header from:", it.header_from);
		show_field("subject:", it.subject);
		show_lines("reasons:", it.reasons);
		snprintf(num, sizeof num, "%llu bytes", (unsigned long long)it.size);
		show_field("size:", num);
		show_field("sha256:", it.sha256);
		printf("%-14s ", "file:");
		put_term(stdout, quarantine_dir(q), 0, 0);
		putchar('/');
		put_term(stdout, it.file, 0, 0);
		putchar('\n');
	}
	quarantine_item_clear(&it);
	quarantine_close(&q);
	return 0;
}

/* ---- download ---- */

static void download_usage(FILE *f)
{
	fprintf(f, "usage: mamori quarantine download [-c FILE] [-o OUTFILE] ID\n\n"
		   "Writes the quarantined message exactly as it was received to OUTFILE\n"
		   "(created mode 0600, replaced if it exists) or to standard output, which\n"
		   "must not be a terminal (the message may hold escape sequences).\n"
		   "The file is checked against its recorded size and SHA-256 first.\n"
		   "Exit status: 0, 1 no such message or its file is gone, 64 usage,\n"
		   "66 output not writable, 70 the file does not match its record.\n");
}

static int q_download(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'o': out = optarg; break;
		case 'h': download_usage(stdout); return 0;
		default: download_usage(stderr); return EXIT_USAGE;
		}
	}
	int64_t id;
	if (optind + 1 != argc || parse_id(argv[optind], &id) < 0) {
		download_usage(stderr);
		return EXIT_USAGE;
	}
	if (out == NULL && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "mamori quarantine download: standard output is a terminal; use -o FILE or "
				"redirect it\n");
		return EXIT_USAGE;
	}
	int ret = 0;
	struct quarantine *q = open_q(config_path, "download", &ret);
	if (q == NULL)
		return ret;
	struct quarantine_item it;
	enum store_status st = quarantine_get(q, id, &it);
	if (st == STORE_NOTFOUND) {
		fprintf(stderr, "mamori quarantine download: no quarantined message %lld\n", (long long)id);
		quarantine_close(&q);
		return EXIT_SOME;
	}
	if (st != STORE_OK) {
		quarantine_close(&q);
		return store_exit("download", st);
	}
	void *msg = NULL;
	size_t len = 0;
	char err[700] = "";
	st = quarantine_read(q, &it, &msg, &len, err, sizeof err);
	quarantine_close(&q);
	if (st != STORE_OK) {
		fprintf(stderr, "mamori quarantine download: %s%s\n", err,
			strcmp(it.state, "deleted") == 0 ? " (the message was deleted)" : "");
		quarantine_item_clear(&it);
		return st == STORE_NOTFOUND ? EXIT_SOME : EXIT_SOFTWARE;
	}
	quarantine_item_clear(&it);
	int fd = STDOUT_FILENO;
	if (out != NULL && (fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		fprintf(stderr, "mamori quarantine download: %s: %s\n", out, strerror(errno));
		xfree(msg);
		return EXIT_NOINPUT;
	}
	const char *p = msg;
	size_t left = len;
	ret = 0;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "mamori quarantine download: write: %s\n", strerror(errno));
			ret = EXIT_NOINPUT;
			break;
		}
		p += n;
		left -= (size_t)n;
	}
	if (out != NULL && close(fd) < 0 && ret == 0) {
		fprintf(stderr, "mamori quarantine download: %s: %s\n", out, strerror(errno));
		ret = EXIT_NOINPUT;
	}
	xfree(msg);
	return ret;
}

/* ---- release / delete ---- */

static void release_usage(FILE *f)
{
	fprintf(f, "usage: mamori quarantine release [-c FILE] [--force] ID...\n\n"
		   "Sends each message, unchanged, to its original envelope sender and\n"
		   "recipients through quarantine.relay_url, exactly once: a message already\n"
		   "released, or being released by another run, is not sent again. Temporary\n"
		   "relay failures (4xx, connection) are retried with growing pauses up to\n"
		   "quarantine.release_attempts times; then the message stays held. A\n"
		   "permanent refusal (5xx), or a connection lost after the whole message was\n"
		   "sent, marks it failed.\n"
		   "--force also releases a failed message, and takes over a release claim\n"
		   "older than an hour (a release that died).\n"
		   "Exit status: 0 every message released (now or before), 1 some not\n"
		   "(not found, deleted, failed, being released), 75 some still held after\n"
		   "temporary failures, 64 usage, 70/78 other errors.\n");
}

static void release_note(void *ctx, int64_t id, const char *line)
{
	(void)ctx;
	fprintf(stderr, "%lld: ", (long long)id);
	put_term(stderr, line, 0, 0);
	fputc('\n', stderr);
}

static int worst(int a, int b)
{
	/* tempfail outranks "some not done", errors outrank both */
	static const int rank[] = { 0, EXIT_SOME, EXIT_TEMPFAIL, EXIT_SOFTWARE };
	int ra = 0, rb = 0;
	for (int i = 0; i < 4; i++) {
		if (rank[i] == a)
			ra = i;
		if (rank[i] == b)
			rb = i;
	}
	return ra >= rb ? a : b;
}

static int outcome_exit(enum quarantine_outcome o)
{
	switch (o) {
	case QO_DONE:
	case QO_ALREADY: return 0;
	case QO_TEMPFAIL: return EXIT_TEMPFAIL;
	case QO_ERROR: return EXIT_SOFTWARE;
	default: return EXIT_SOME;
	}
}

static void delete_usage(FILE *f)
{
	fprintf(f, "usage: mamori quarantine delete [-c FILE] ID...\n\n"
		   "Deletes each message's file and marks its row deleted (kept, for the\n"
		   "record, until quarantine.retention_days). Not while it is being released.\n"
		   "Exit status: 0 every message deleted (now or before), 1 some not, 64 usage,\n"
		   "75 database busy.\n");
}

static int q_change(int argc, char **argv, const char *config_path, bool release)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *who = release ? "release" : "delete";
	void (*usage)(FILE *) = release ? release_usage : delete_usage;
	bool force = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:h", release ? opts : opts + 1, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'f': force = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	size_t n = (size_t)(argc - optind);
	int64_t *ids = xcalloc(n, sizeof *ids);
	for (size_t i = 0; i < n; i++) {
		if (parse_id(argv[optind + (int)i], &ids[i]) < 0) {
			fprintf(stderr, "mamori quarantine %s: \"", who);
			put_term(stderr, argv[optind + (int)i], 40, 0);
			fprintf(stderr, "\" is not a message id\n");
			xfree(ids);
			return EXIT_USAGE;
		}
	}
	int ret = 0;
	struct quarantine *q = open_q(config_path, who, &ret);
	if (q == NULL) {
		xfree(ids);
		return ret;
	}
	struct quarantine_release_opts ro = { .force = force, .note = release_note };
	for (size_t i = 0; i < n; i++) {
		char detail[1024] = "";
		enum quarantine_outcome o = release ? quarantine_release(q, ids[i], &ro, detail, sizeof detail)
						    : quarantine_delete(q, ids[i], (int64_t)time(NULL), detail,
									sizeof detail);
		FILE *f = o == QO_DONE || o == QO_ALREADY ? stdout : stderr;
		fprintf(f, "%lld: ", (long long)ids[i]);
		put_term(f, detail, 0, 0);
		fputc('\n', f);
		ret = worst(ret, outcome_exit(o));
	}
	quarantine_close(&q);
	xfree(ids);
	return ret;
}

/* ---- expire ---- */

static void expire_usage(FILE *f)
{
	fprintf(f, "usage: mamori quarantine expire [-c FILE]\n\n"
		   "Deletes quarantined messages (files and rows) older than\n"
		   "quarantine.retention_days, message-log rows older than\n"
		   "msglog.retention_days, and stray files in the quarantine directory (left\n"
		   "by a crash, older than an hour). mamorid does the same daily.\n"
		   "Exit status: 0, 64 usage, 75 database busy, 70 other errors.\n");
}

static int q_expire(int argc, char **argv, const char *config_path)
{
	int rc = cli_plain_opts(argc, argv, &config_path, expire_usage);
	if (rc >= 0)
		return rc;
	if (optind != argc) {
		expire_usage(stderr);
		return EXIT_USAGE;
	}
	int ret = 0;
	struct quarantine *q = open_q(config_path, "expire", &ret);
	if (q == NULL)
		return ret;
	long logrows = 0;
	long nq = quarantine_expire(q, (int64_t)time(NULL), &logrows);
	quarantine_close(&q);
	if (nq < 0) {
		fprintf(stderr, "mamori quarantine expire: database error (see the log)\n");
		return EXIT_SOFTWARE;
	}
	printf("expired %ld quarantined message%s and %ld message-log row%s\n", nq, nq == 1 ? "" : "s", logrows,
	       logrows == 1 ? "" : "s");
	return 0;
}

/* ---- dispatch ---- */

static void quarantine_usage(FILE *f)
{
	fprintf(f, "usage: mamori quarantine [-c FILE] SUBCOMMAND [ARGS...]\n\n"
		   "  list       quarantined messages, with filters\n"
		   "  show       one message's record\n"
		   "  download   the message as received\n"
		   "  release    deliver to the original recipients, exactly once\n"
		   "  delete     delete messages\n"
		   "  expire     apply the retention settings now\n\n"
		   "Run 'mamori quarantine SUBCOMMAND --help' for its options.\n");
}

static int q_release(int argc, char **argv, const char *config_path)
{
	return q_change(argc, argv, config_path, true);
}

static int q_delete(int argc, char **argv, const char *config_path)
{
	return q_change(argc, argv, config_path, false);
}

int cmd_quarantine(int argc, char **argv, const char *config_path)
{
	static const struct cli_sub subs[] = {
		{ "list", q_list },       { "show", q_show },     { "download", q_download },
		{ "release", q_release }, { "delete", q_delete }, { "expire", q_expire },
		{ NULL, NULL },
	};
	return cli_dispatch("quarantine", argc, argv, config_path, quarantine_usage, subs);
}
