/*
 * mamorid: the daemon. Start-up (configuration, data directory, the one
 * resolver, the milter socket, privilege drop), signal handling (SIGHUP
 * reloads, SIGTERM/SIGINT stop after the messages in flight) and shutdown.
 * The milter itself is milter.c; this file never sees a message.
 */
#include "core/config.h"
#include "core/geoip.h"
#include "core/log.h"
#include "core/mem.h"
#include "dns/dns_setup.h"
#include "milter/guard_setup.h"
#include "milter/milter.h"
#include "milter/settings.h"
#include "store/mailstore.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libmilter/mfapi.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define EXIT_USAGE 64  /* sysexits.h EX_USAGE */
#define EXIT_CONFIG 78 /* sysexits.h EX_CONFIG */
/* how long SIGTERM waits for the messages in flight (Postfix's
   milter_content_timeout is 300 s; systemd's default stop timeout is 90 s) */
#define SHUTDOWN_GRACE_S 60

struct options {
	const char *config_path; /* NULL: built-in defaults */
	bool foreground;
};

static int sig_pipe[2] = { -1, -1 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mamorid [-c FILE] [-f] [-h|--help]\n\n"
		"Mail authentication milter daemon: checks SPF, DKIM, ARC and DMARC for\n"
		"every message the MTA passes and adds Authentication-Results.\n\n"
		"  -c FILE     configuration file (default: built-in defaults, data under\n"
		"              ./var, milter socket unix:./var/mamorid.sock)\n"
		"  -f          foreground, logging to standard error\n"
		"  -h, --help  this help\n\n"
		"signals: HUP reloads the configuration file, TERM and INT stop once the\n"
		"messages in flight are done.\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
	memset(o, 0, sizeof *o);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			o->config_path = argv[++i];
		} else if (strcmp(argv[i], "-f") == 0) {
			o->foreground = true;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			exit(0);
		} else {
			fprintf(stderr, "mamorid: unexpected argument \"%s\"\n", argv[i]);
			usage(stderr);
			return -1;
		}
	}
	return 0;
}

/* "unix:PATH" and "local:PATH" name a socket file; everything else is inet */
static const char *unix_path(const char *spec)
{
	if (strncmp(spec, "unix:", 5) == 0)
		return spec + 5;
	if (strncmp(spec, "local:", 6) == 0)
		return spec + 6;
	return NULL;
}

/* the socket as the start-up line shows it: an absolute path for unix sockets */
static void display_socket(const char *spec, char *out, size_t outlen)
{
	const char *path = unix_path(spec);
	char cwd[PATH_MAX];
	if (path != NULL && path[0] != '/' && getcwd(cwd, sizeof cwd) != NULL) {
		while (strncmp(path, "./", 2) == 0)
			path += 2;
		snprintf(out, outlen, "unix:%s/%s", cwd, path);
	} else {
		snprintf(out, outlen, "%s", spec);
	}
}

/* creates the data directory if missing; true if it was created now */
static bool make_data_dir(const char *dir)
{
	struct stat st;
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			log_fatal("data_dir %s exists and is not a directory", dir);
		return false;
	}
	if (mkdir(dir, 0750) != 0 && errno != EEXIST)
		log_fatal("cannot create data_dir %s: %s", dir, strerror(errno));
	return true;
}

/* the account to become, looked up before anything is created */
struct run_as {
	bool drop;
	uid_t uid;
	gid_t gid;
	char *name;
};

/*
 * Privilege drop. Started as root, mamorid looks up general.user first (so a
 * missing user stops it before it creates anything), opens its socket, hands
 * the unix socket (mode 0660: add the MTA's user to that group) and a data
 * directory it just created to that user, then becomes that user for good.
 * If the user does not exist, running on as root is tolerated only for
 * `make run` on a fresh machine: built-in defaults (no -c) in the
 * foreground. With a configuration file, or as a service, a missing user is
 * fatal: a daemon parsing hostile mail must not quietly stay root.
 */
static void resolve_user(const struct mamori_config *cfg, const struct options *o, struct run_as *ra_r)
{
	memset(ra_r, 0, sizeof *ra_r);
	if (geteuid() != 0)
		return;
	struct passwd *pw = getpwnam(cfg->user);
	if (pw == NULL) {
		if (o->config_path == NULL && o->foreground) {
			log_warning("user \"%s\" does not exist: running as root (built-in defaults in the foreground only)",
				    cfg->user);
			return;
		}
		log_fatal("general.user \"%s\" does not exist; create it or set general.user", cfg->user);
	}
	if (pw->pw_uid == 0)
		return;
	ra_r->drop = true;
	ra_r->uid = pw->pw_uid;
	ra_r->gid = pw->pw_gid;
	ra_r->name = xstrdup(pw->pw_name);
}

static void drop_privileges(const struct mamori_config *cfg, struct run_as *ra, bool data_dir_new)
{
	if (!ra->drop)
		return;
	const char *path = unix_path(cfg->milter_socket);
	if (path != NULL && (chown(path, ra->uid, ra->gid) != 0 || chmod(path, 0660) != 0))
		log_fatal("cannot hand milter socket %s to %s: %s", path, ra->name, strerror(errno));
	struct stat st;
	if (data_dir_new) {
		if (chown(cfg->data_dir, ra->uid, ra->gid) != 0)
			log_fatal("cannot hand data_dir %s to %s: %s", cfg->data_dir, ra->name, strerror(errno));
	} else if (stat(cfg->data_dir, &st) == 0 && st.st_uid != ra->uid) {
		log_warning("data_dir %s belongs to uid %u, not %s: mamorid may not be able to write there",
			    cfg->data_dir, (unsigned)st.st_uid, ra->name);
	}
	if (setgid(ra->gid) != 0 || initgroups(ra->name, ra->gid) != 0 || setuid(ra->uid) != 0)
		log_fatal("cannot become user %s: %s", ra->name, strerror(errno));
	if (setuid(0) == 0)
		log_fatal("still able to regain root after dropping to %s", ra->name);
	ra->name = xfree(ra->name);
}

static enum log_level level_of(const struct mamori_config *cfg)
{
	enum log_level lvl = LOG_LVL_INFO;
	log_level_parse(cfg->log_level, &lvl);
	return lvl;
}

static bool str_differs(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") != 0;
}

static bool list_differs(char **a, char **b)
{
	size_t i = 0;
	for (; a && a[i] && b && b[i]; i++)
		if (strcmp(a[i], b[i]) != 0)
			return true;
	return (a && a[i]) || (b && b[i]);
}

/* settings that live in things built once at start-up */
static void warn_restart_only(const struct mamori_config *old, const struct mamori_config *new)
{
	static const char later[] = "changed: takes effect after a restart";
	if (str_differs(old->milter_socket, new->milter_socket))
		log_warning("milter.socket %s", later);
	if (str_differs(old->user, new->user))
		log_warning("general.user %s", later);
	if (str_differs(old->data_dir, new->data_dir))
		log_warning("general.data_dir %s", later);
	if (str_differs(old->geoip_country_db, new->geoip_country_db))
		log_warning("geoip.country_db %s", later);
	if (str_differs(old->store_path, new->store_path) || str_differs(old->quarantine_dir, new->quarantine_dir))
		log_warning("store.path and quarantine.dir %s", later);
	if (old->syslog != new->syslog)
		log_warning("general.syslog %s", later);
	guard_setup_warn_restart(old, new);
	if (str_differs(old->dns_resolver, new->dns_resolver) || str_differs(old->dns_zone_file, new->dns_zone_file) ||
	    list_differs(old->dns_forwarders, new->dns_forwarders) ||
	    str_differs(old->dns_resolv_conf, new->dns_resolv_conf) ||
	    str_differs(old->dns_trust_anchor_file, new->dns_trust_anchor_file) ||
	    old->dns_timeout_ms != new->dns_timeout_ms)
		log_warning("dns settings %s (the resolver is built once)", later);
}

/* SIGHUP: a broken file keeps the running configuration */
static void reload(const struct options *o)
{
	if (o->config_path == NULL) {
		log_info("reload: running on built-in defaults, nothing to reload");
		return;
	}
	struct mamori_config cfg;
	char err[512];
	if (config_load(o->config_path, &cfg, err, sizeof err) < 0) {
		log_error("reload failed, keeping the running configuration: %s", err);
		config_free(&cfg);
		return;
	}
	struct settings *next = settings_build(&cfg, err, sizeof err);
	if (next == NULL) {
		log_error("reload failed, keeping the running configuration: %s: %s", o->config_path, err);
		config_free(&cfg);
		return;
	}
	struct settings *cur = settings_acquire();
	warn_restart_only(&cur->cfg, &next->cfg);
	settings_release(cur);
	log_set_level(level_of(&next->cfg));
	settings_publish(next);
	log_info("configuration reloaded from %s", o->config_path);
}

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	if (write(sig_pipe[1], &b, 1) < 0) {
		/* the pipe is full: a wake-up is already pending */
	}
	errno = saved;
}

#define MILTER_ENDED 0xff /* pseudo-signal: smfi_main() returned */

static void *milter_thread(void *arg)
{
	int *rc = arg;
	*rc = smfi_main();
	unsigned char b = MILTER_ENDED;
	if (write(sig_pipe[1], &b, 1) < 0)
		log_error("cannot wake the main thread: %s", strerror(errno));
	return NULL;
}

/*
 * libmilter's own signal thread sigwait()s for HUP, TERM and INT and stops
 * the milter on any of them, so a HUP meant for reloading would stop the
 * daemon. The main thread therefore keeps these signals unblocked with a
 * handler (Linux hands a process-directed signal to the thread-group leader
 * first when it can take it) and runs smfi_main() in a thread started with
 * them blocked, which libmilter's threads inherit. The handler only writes
 * to a pipe; the main thread does the work.
 */
static void install_signals(void)
{
	if (pipe2(sig_pipe, O_CLOEXEC) != 0)
		log_fatal("pipe: %s", strerror(errno));
	fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int serve(const struct options *o)
{
	static int milter_rc = MI_SUCCESS;
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	pthread_t tid;
	int err = pthread_create(&tid, NULL, milter_thread, &milter_rc);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0)
		log_fatal("cannot start the milter thread: %s", strerror(err));

	bool stopping = false;
	for (;;) {
		unsigned char b;
		ssize_t n = read(sig_pipe[0], &b, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			log_fatal("signal pipe: %s", n < 0 ? strerror(errno) : "closed");
		if (b == MILTER_ENDED)
			break;
		if (b == SIGHUP) {
			reload(o);
		} else if (!stopping) {
			log_info("%s: stopping after the messages in flight (new ones get 451)",
				 b == SIGINT ? "SIGINT" : "SIGTERM");
			stopping = true;
			milter_drain();
			if (!milter_wait_idle(SHUTDOWN_GRACE_S))
				log_warning("messages still in flight after %d s: stopping anyway (the MTA retries them)",
					    SHUTDOWN_GRACE_S);
			smfi_stop();
		}
	}
	pthread_join(tid, NULL);
	if (!stopping) {
		/* a signal went to libmilter's thread instead, or it failed */
		log_error("the milter stopped on its own (status %d)", milter_rc);
		return 1;
	}
	return milter_rc == MI_SUCCESS ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct options o;
	log_init("mamorid", LOG_LVL_INFO, true, false);
	if (parse_args(argc, argv, &o) < 0)
		return EXIT_USAGE;

	struct mamori_config cfg;
	char err[512];
	if (o.config_path == NULL) {
		config_defaults(&cfg);
	} else if (config_load(o.config_path, &cfg, err, sizeof err) < 0) {
		fprintf(stderr, "mamorid: %s\n", err);
		config_free(&cfg);
		return EXIT_CONFIG;
	}
	/* -f: standard error (and syslog if asked); as a service: syslog if
	   asked, else standard error (which systemd's journal collects) */
	log_init("mamorid", level_of(&cfg), o.foreground || !cfg.syslog, cfg.syslog);
	/* the inbound policy is compiled before anything is created, so a
	   semantic error (a bad CIDR, a public suffix as protected domain)
	   stops start-up like a syntax error */
	struct settings *first = settings_build(&cfg, err, sizeof err);
	if (first == NULL) {
		fprintf(stderr, "mamorid: %s: %s\n", o.config_path ? o.config_path : "built-in defaults", err);
		config_free(&cfg);
		return EXIT_CONFIG;
	}
	const struct mamori_config *run = &first->cfg;

	struct run_as ra;
	resolve_user(run, &o, &ra);
	bool data_dir_new = make_data_dir(run->data_dir);
	struct dns_resolver *resolver = dns_setup(run, NULL, err, sizeof err);
	if (resolver == NULL)
		log_fatal("resolver: %s", err);

	if (milter_register(resolver) < 0)
		log_fatal("libmilter refused the filter registration");
	if (smfi_setconn(run->milter_socket) != MI_SUCCESS)
		log_fatal("milter.socket \"%s\" is not usable", run->milter_socket);
	/* socket mode 0660: the MTA's user reaches it through the group */
	mode_t um = umask(0117);
	/* true: remove a stale socket file left by a previous run */
	if (smfi_opensocket(true) != MI_SUCCESS)
		log_fatal("cannot open milter socket %s (in use, or its directory is missing?)", run->milter_socket);
	umask(um);
	/* submission guard: the policy socket is bound before the drop */
	struct guard_setup *guard = guard_setup_listen(run, ra.drop, ra.uid, ra.gid);
	drop_privileges(run, &ra, data_dir_new);
	/* opened as the service user, so the database and the quarantine
	   files it creates belong to that user */
	struct mailstore *mstore = mailstore_open(run, err, sizeof err);
	if (mstore == NULL)
		log_fatal("message log and quarantine: %s", err);
	struct geoip *geo = NULL;
	if (run->geoip_country_db[0] != '\0' && (geo = geoip_open(run->geoip_country_db, NULL, err, sizeof err)) == NULL)
		log_fatal("geoip.country_db: %s", err);
	milter_set_stores(mstore, geo);
	guard_setup_start(guard, run);

	char where[PATH_MAX + 16];
	display_socket(run->milter_socket, where, sizeof where);
	if (unix_path(run->milter_socket) == NULL)
		log_warning("milter on TCP: prefer a unix socket (one round trip less latency per message)");
	fprintf(stderr, "mamorid: milter listening on %s\n", where);
	fprintf(stderr, "mamorid: console: not available in this build\n");
	log_info("started (%s, authserv-id %s)", o.config_path ? o.config_path : "built-in defaults", run->authserv_id);

	settings_publish(first);
	install_signals();
	int rc = serve(&o);
	guard_setup_stop_service(guard);

	/* smfi_main() has returned: only callbacks already running remain */
	if (milter_wait_idle(SHUTDOWN_GRACE_S)) {
		guard_setup_free(&guard);
		settings_shutdown();
		dns_resolver_free(&resolver);
		milter_set_stores(NULL, NULL);
		mailstore_close(&mstore);
		geoip_close(&geo);
	} else {
		log_warning("callbacks still running after %d s: exiting anyway", SHUTDOWN_GRACE_S);
	}
	log_info("stopped");
	return rc;
}
