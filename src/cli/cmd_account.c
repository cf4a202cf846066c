/* mamori account list|show|lock|unlock: the submission guard's account locks
 * in the store; a running mamorid picks changes up within about a second */
#include "cli/cli.h"
#include "guard/submission.h"
#include "store/accounts.h"
#include "store/store.h"

#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SHOW_EVENTS_DEFAULT 20
#define SHOW_EVENTS_MAX 10000

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: mamori account list [--json]\n"
	        "       mamori account show ACCOUNT [--json] [--events N]\n"
	        "       mamori account lock ACCOUNT [--for DURATION] [--reason TEXT]\n"
	        "       mamori account unlock ACCOUNT [--reason TEXT]\n\n"
	        "Locks of SMTP AUTH accounts by the submission guard (docs/submission-guard.md).\n"
	        "A locked account's mail is refused with 554 5.7.1. A running mamorid applies\n"
	        "lock and unlock within about a second; locks survive restarts.\n\n"
	        "  list             accounts locked now\n"
	        "  show ACCOUNT     lock state and the newest events (lock, unlock, limit,\n"
	        "                   deny); --events N shows N of them (default %d)\n"
	        "  lock ACCOUNT     lock by hand; --for DURATION (90s, 30m, 2h, 7d) or until\n"
	        "                   unlocked; --reason TEXT is recorded\n"
	        "  unlock ACCOUNT   remove the lock (and mamorid's memory of the account's\n"
	        "                   source addresses)\n"
	        "  --json           machine-readable output (list, show)\n\n"
	        "Account names are compared in ASCII lower case. Exit status: 0 done (also\n"
	        "when unlocking an account that was not locked: the message says so), 64\n"
	        "usage, 70 store error, 78 configuration error.\n",
	        SHOW_EVENTS_DEFAULT);
}

static void time_text(int64_t t, char *out, size_t outlen)
{
	if (t == 0) {
		snprintf(out, outlen, "-");
		return;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
}

/* "cli:USER" (the sudo user when there is one) */
static void who(char *out, size_t outlen)
{
	const char *u = getenv("SUDO_USER");
	struct passwd *pw = getpwuid(geteuid());
	if (u == NULL || *u == '\0')
		u = pw ? pw->pw_name : "?";
	snprintf(out, outlen, "cli:%.40s", u);
}

struct list_ctx {
	bool json;
	json_t *arr;
	unsigned n;
};

static json_t *lock_json(const struct account_lock_row *r)
{
	char a[32], u[32];
	time_text(r->locked_at, a, sizeof a);
	time_text(r->until, u, sizeof u);
	return json_pack("{s:s, s:s, s:I, s:s?, s:I, s:s, s:s}", "account", r->account, "locked_at", a,
	                 "locked_at_unix", (json_int_t)r->locked_at, "until", r->until ? u : NULL, "until_unix",
	                 (json_int_t)r->until, "reason", r->reason, "by", r->by_whom);
}

static int on_lock(void *arg, const struct account_lock_row *r)
{
	struct list_ctx *c = arg;
	c->n++;
	if (c->json) {
		json_array_append_new(c->arr, lock_json(r));
		return 0;
	}
	char a[32], u[32];
	time_text(r->locked_at, a, sizeof a);
	time_text(r->until, u, sizeof u);
	printf("%-32s %-20s %-20s %-16s %s\n", r->account, a, r->until ? u : "until unlocked", r->by_whom, r->reason);
	return 0;
}

static int print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	if (s == NULL)
		return EXIT_SOFTWARE;
	printf("%s\n", s);
	free(s);
	return 0;
}

static int do_list(struct account_store *as, bool json)
{
	struct list_ctx c = {json, json ? json_array() : NULL, 0};
	if (!json)
		printf("%-32s %-20s %-20s %-16s %s\n", "ACCOUNT", "LOCKED AT", "UNTIL", "BY", "REASON");
	enum store_status r = account_store_list(as, (int64_t)time(NULL), on_lock, &c);
	if (r != STORE_OK) {
		json_decref(c.arr);
		fprintf(stderr, "mamori account list: store: %s\n", store_status_name(r));
		return EXIT_SOFTWARE;
	}
	if (json)
		return print_json(c.arr);
	if (c.n == 0)
		printf("(no account is locked)\n");
	return 0;
}

static int on_event(void *arg, const struct account_event_row *e)
{
	struct list_ctx *c = arg;
	char t[32];
	time_text(e->time, t, sizeof t);
	if (c->json) {
		json_array_append_new(c->arr, json_pack("{s:I, s:s, s:I, s:s, s:s, s:s, s:s, s:s}", "id",
		                                        (json_int_t)e->id, "time", t, "time_unix", (json_int_t)e->time,
		                                        "event", e->event, "client_ip", e->client_ip, "country",
		                                        e->country, "detail", e->detail, "by", e->by_whom));
		return 0;
	}
	printf("  %s  %-6s  %-15s %-2s  %-12s %s\n", t, e->event, e->client_ip[0] ? e->client_ip : "-",
	       e->country[0] ? e->country : "-", e->by_whom, e->detail);
	return 0;
}

static int do_show(struct account_store *as, const char *acct, bool json, unsigned nev)
{
	struct account_lock_row row;
	enum store_status r = account_store_get(as, acct, (int64_t)time(NULL), &row);
	if (r != STORE_OK && r != STORE_NOTFOUND) {
		fprintf(stderr, "mamori account show: store: %s\n", store_status_name(r));
		return EXIT_SOFTWARE;
	}
	bool locked = r == STORE_OK;
	struct list_ctx c = {json, json ? json_array() : NULL, 0};
	if (json) {
		json_t *o = json_pack("{s:s, s:b}", "account", acct, "locked", locked);
		if (locked)
			json_object_set_new(o, "lock", lock_json(&row));
		if (account_store_events(as, acct, nev, on_event, &c) != STORE_OK) {
			json_decref(o);
			json_decref(c.arr);
			fprintf(stderr, "mamori account show: store error reading events\n");
			return EXIT_SOFTWARE;
		}
		json_object_set_new(o, "events", c.arr);
		return print_json(o);
	}
	printf("account:  %s\n", acct);
	if (locked) {
		char a[32], u[32];
		time_text(row.locked_at, a, sizeof a);
		time_text(row.until, u, sizeof u);
		printf("state:    locked since %s, %s%s\n", a, row.until ? "until " : "until unlocked",
		       row.until ? u : "");
		printf("by:       %s\nreason:   %s\n", row.by_whom, row.reason);
	} else {
		printf("state:    not locked\n");
	}
	printf("events (newest first):\n");
	if (account_store_events(as, acct, nev, on_event, &c) != STORE_OK) {
		fprintf(stderr, "mamori account show: store error reading events\n");
		return EXIT_SOFTWARE;
	}
	return 0;
}

static int do_lock(struct account_store *as, const char *acct, uint32_t for_s, const char *reason)
{
	char by[64];
	who(by, sizeof by);
	int64_t now = (int64_t)time(NULL);
	int64_t until = for_s ? now + for_s : 0;
	enum store_status r =
	    account_store_lock(as, acct, now, until, reason ? reason : "locked by an administrator", by, NULL, NULL);
	if (r != STORE_OK) {
		fprintf(stderr, "mamori account lock: store: %s\n", store_status_name(r));
		return EXIT_SOFTWARE;
	}
	char u[32];
	time_text(until, u, sizeof u);
	printf("%s: locked %s%s\n", acct, until ? "until " : "until unlocked", until ? u : "");
	return 0;
}

static int do_unlock(struct account_store *as, const char *acct, const char *reason)
{
	char by[64];
	who(by, sizeof by);
	enum store_status r = account_store_unlock(as, acct, (int64_t)time(NULL), by, reason ? reason : "");
	if (r == STORE_NOTFOUND) {
		printf("%s: was not locked\n", acct);
		return 0;
	}
	if (r != STORE_OK) {
		fprintf(stderr, "mamori account unlock: store: %s\n", store_status_name(r));
		return EXIT_SOFTWARE;
	}
	printf("%s: unlocked\n", acct);
	return 0;
}

int cmd_account(int argc, char **argv, const char *config_path)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	bool json = false;
	const char *acct_in = NULL, *reason = NULL;
	uint32_t for_s = 0;
	unsigned nev = SHOW_EVENTS_DEFAULT;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		char err[200];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--json") == 0) {
			json = true;
		} else if (strcmp(a, "--for") == 0 && i + 1 < argc) {
			if (sub_period_parse(argv[++i], &for_s, err, sizeof err) < 0) {
				fprintf(stderr, "mamori account: --for %s: %s\n", argv[i], err);
				return EXIT_USAGE;
			}
		} else if (strcmp(a, "--reason") == 0 && i + 1 < argc) {
			reason = argv[++i];
		} else if (strcmp(a, "--events") == 0 && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end != '\0' || v < 0 || v > SHOW_EVENTS_MAX) {
				fprintf(stderr, "mamori account: --events takes 0..%d\n", SHOW_EVENTS_MAX);
				return EXIT_USAGE;
			}
			nev = (unsigned)v;
		} else if (a[0] == '-') {
			fprintf(stderr, "mamori account: unknown option %s\n", a);
			usage(stderr);
			return EXIT_USAGE;
		} else if (acct_in == NULL) {
			acct_in = a;
		} else {
			fprintf(stderr, "mamori account: one account at a time\n");
			return EXIT_USAGE;
		}
	}
	bool needs_acct = strcmp(sub, "list") != 0;
	if (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0 && strcmp(sub, "lock") != 0 &&
	    strcmp(sub, "unlock") != 0) {
		fprintf(stderr, "mamori account: unknown subcommand \"%s\"\n", sub);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (needs_acct != (acct_in != NULL)) {
		fprintf(stderr,
		        needs_acct ? "mamori account %s: name an account\n" : "mamori account %s: no account here\n",
		        sub);
		return EXIT_USAGE;
	}
	char acct[LOCK_ACCOUNT_MAX + 1] = "";
	if (acct_in != NULL && sub_account_norm(acct_in, acct, sizeof acct) < 0) {
		fprintf(stderr, "mamori account: \"%s\" is not an account name (1..%d bytes, no control characters)\n",
		        acct_in, LOCK_ACCOUNT_MAX);
		return EXIT_USAGE;
	}
	if (reason != NULL && strlen(reason) >= ACCOUNT_REASON_MAX) {
		fprintf(stderr, "mamori account: --reason longer than %d bytes\n", ACCOUNT_REASON_MAX - 1);
		return EXIT_USAGE;
	}
	for (const char *p = reason; p && *p; p++)
		if ((unsigned char)*p < 0x20) {
			fprintf(stderr, "mamori account: --reason must be one line\n");
			return EXIT_USAGE;
		}

	struct mamori_config cfg;
	if (cli_load_config(config_path, &cfg) < 0)
		return EXIT_CONFIG;
	char err[512];
	struct store *st = store_open(&cfg, err, sizeof err);
	config_free(&cfg);
	if (st == NULL) {
		fprintf(stderr, "mamori account: store: %s\n", err);
		return EXIT_SOFTWARE;
	}
	struct account_store *as = account_store_open(st, err, sizeof err);
	if (as == NULL) {
		fprintf(stderr, "mamori account: %s\n", err);
		store_close(&st);
		return EXIT_SOFTWARE;
	}
	int rc;
	if (strcmp(sub, "list") == 0)
		rc = do_list(as, json);
	else if (strcmp(sub, "show") == 0)
		rc = do_show(as, acct, json, nev);
	else if (strcmp(sub, "lock") == 0)
		rc = do_lock(as, acct, for_s, reason);
	else
		rc = do_unlock(as, acct, reason);
	account_store_close(&as);
	store_close(&st);
	return rc;
}
