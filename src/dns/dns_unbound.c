/*
 * dns_unbound: the libunbound backend. One ub_ctx per resolver, configured
 * only in dns_unbound_new() (ub_ctx_config and friends are not thread-safe)
 * and shared by all threads afterwards.
 *
 * Per-query timeout: ub_resolve() has none, so every query goes through
 * ub_resolve_async() (libunbound's own background thread does the work) and
 * waits with a deadline. Answers arrive through one pipe (ub_fd) for all
 * threads, and ub_process() runs the callbacks of whichever queries are
 * ready, so the waiting threads take turns ("leader/followers"): at most one
 * waiter at a time polls ub_fd and calls ub_process() with st->lock held;
 * the callback only writes into its own query's struct; the leader then
 * wakes every waiter (condition variable), each checks its own done flag,
 * and one of those still waiting becomes the next leader. A thread whose
 * deadline passes cancels its query (ub_cancel, under st->lock, so the
 * callback cannot run concurrently) and answers TEMPFAIL "timeout".
 * No thread of our own is created, so a fork() before the first query is safe.
 */
#include "dns/dns.h"
#include "core/buf.h"
#include "core/mem.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <unbound.h>

#define UB_DEFAULT_TIMEOUT_MS 5000
#define UB_CLASS_IN 1 /* RFC 1035 3.2.4 */
/* RFC 1035 4.1.1 RCODE values */
#define UB_RCODE_SERVFAIL 2
#define UB_RCODE_NXDOMAIN 3
#define UB_RCODE_REFUSED 5
/* RFC 1035 4.1.4: the top two bits of a label length mark a pointer */
#define UB_LABEL_PTR_MASK 0xC0
/* RFC 1035 2.3.4 wire-format name length; text form with \DDD escapes
   takes at most four bytes per octet */
#define UB_MAX_WIRE_NAME 255
#define UB_MAX_TEXT_NAME (UB_MAX_WIRE_NAME * 4 + 1)

struct ub_query {
	bool done;
	bool abandoned; /* the waiter gave up but ub_cancel failed: the callback frees */
	int err;
	struct ub_result *res;
};

struct ub_state {
	struct ub_ctx *ctx;
	unsigned timeout_ms;
	int fd;
	pthread_mutex_t lock; /* guards pumping, every ub_query, and ub_process/ub_cancel */
	pthread_cond_t cond;  /* broadcast after each ub_process */
	bool pumping;         /* a waiter is polling ub_fd */
};

/* ub_ctx_set_option and ub_ctx_resolvconf share parser state across contexts */
static pthread_mutex_t ub_config_lock = PTHREAD_MUTEX_INITIALIZER;

/* runs inside ub_process(), which is only called with st->lock held */
static void ub_callback(void *arg, int err, struct ub_result *res)
{
	struct ub_query *q = arg;
	if (q->abandoned) {
		if (res)
			ub_resolve_free(res);
		free(q);
		return;
	}
	q->err = err;
	q->res = res;
	q->done = true;
}

static void ts_add_ms(struct timespec *ts, unsigned ms)
{
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* milliseconds from now until deadline, 0 when it has passed */
static int ms_left(const struct timespec *deadline)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
		       (deadline->tv_nsec - now.tv_nsec) / 1000000;
	if (ms <= 0)
		return 0;
	return ms > 60000 ? 60000 : (int)ms;
}

/*
 * Appends a wire-format name (uncompressed: libunbound hands rdata with the
 * names of well-known types already decompressed) as text: labels joined by
 * dots, no trailing dot, the root as "". Bytes that would be ambiguous or
 * unprintable in text ('.', '\\', controls, space, 8-bit) become \DDD.
 * Returns the bytes consumed, or 0 when malformed.
 */
static size_t wire_name(const uint8_t *p, size_t len, char **name_r)
{
	struct buf b = BUF_INIT(UB_MAX_TEXT_NAME);
	size_t off = 0;
	for (;;) {
		if (off >= len || off >= UB_MAX_WIRE_NAME)
			goto bad;
		unsigned l = p[off];
		if (l == 0) {
			off++;
			break;
		}
		if ((l & UB_LABEL_PTR_MASK) != 0 || off + 1 + l > len || off + 1 + l >= UB_MAX_WIRE_NAME)
			goto bad;
		if (b.len > 0 && buf_putc(&b, '.') < 0)
			goto bad;
		for (unsigned i = 0; i < l; i++) {
			unsigned char c = p[off + 1 + i];
			int rc;
			if (c <= 0x20 || c >= 0x7f || c == '.' || c == '\\')
				rc = buf_printf(&b, "\\%03u", c);
			else
				rc = buf_putc(&b, (char)c);
			if (rc < 0)
				goto bad;
		}
		off += 1 + l;
	}
	*name_r = buf_steal(&b, NULL);
	return off;
bad:
	buf_free(&b);
	return 0;
}

/* one rdata item into a new record of ans; -1 (nothing added) when malformed */
static int parse_rdata(struct dns_answer *ans, enum dns_type type, const uint8_t *p, size_t len, unsigned ttl)
{
	struct dns_rr tmp = { .type = type, .ttl = ttl };
	size_t used;
	switch (type) {
	case DNS_T_A:
		if (len != 4)
			return -1;
		tmp.ip.family = AF_INET;
		memcpy(tmp.ip.a, p, 4);
		break;
	case DNS_T_AAAA:
		if (len != 16)
			return -1;
		tmp.ip.family = AF_INET6;
		memcpy(tmp.ip.a, p, 16);
		break;
	case DNS_T_MX: /* RFC 1035 3.3.9: PREFERENCE, EXCHANGE */
		if (len < 3)
			return -1;
		tmp.pref = (unsigned)p[0] << 8 | p[1];
		used = wire_name(p + 2, len - 2, &tmp.name);
		if (used == 0)
			return -1;
		if (used != len - 2) {
			free(tmp.name);
			return -1;
		}
		break;
	case DNS_T_NS:
	case DNS_T_CNAME:
	case DNS_T_PTR:
		used = wire_name(p, len, &tmp.name);
		if (used == 0)
			return -1;
		if (used != len) {
			free(tmp.name);
			return -1;
		}
		break;
	case DNS_T_TXT: { /* RFC 1035 3.3.14: one or more <character-string> */
		if (len == 0)
			return -1;
		tmp.txt = xmalloc(len + 1);
		size_t off = 0;
		while (off < len) {
			size_t l = p[off];
			if (off + 1 + l > len) {
				free(tmp.txt);
				return -1;
			}
			memcpy(tmp.txt + tmp.txt_len, p + off + 1, l);
			tmp.txt_len += l;
			tmp.nstrings++;
			off += 1 + l;
		}
		tmp.txt[tmp.txt_len] = '\0';
		break;
	}
	default:
		return -1;
	}
	struct dns_rr *rr = dns_answer_add(ans, type);
	*rr = tmp; /* hands over name/txt */
	return 0;
}

static enum dns_status fail(struct dns_answer *ans, enum dns_status st, const char *reason)
{
	ans->status = st;
	ans->reason = reason;
	return st;
}

static enum dns_status convert(const struct ub_result *res, enum dns_type type, struct dns_answer *ans)
{
	if (res->bogus)
		return fail(ans, DNS_TEMPFAIL, "DNSSEC bogus");
	if (res->rcode == UB_RCODE_SERVFAIL)
		return fail(ans, DNS_TEMPFAIL, "SERVFAIL");
	if (res->nxdomain || res->rcode == UB_RCODE_NXDOMAIN) {
		ans->secure = res->secure;
		ans->status = DNS_NXDOMAIN;
		return ans->status;
	}
	if (res->rcode == UB_RCODE_REFUSED)
		return fail(ans, DNS_TEMPFAIL, "REFUSED");
	if (res->rcode != 0)
		return fail(ans, DNS_TEMPFAIL, "DNS error rcode");
	ans->secure = res->secure;
	if (!res->havedata || res->data == NULL || res->data[0] == NULL) {
		ans->status = DNS_NODATA;
		return ans->status;
	}
	unsigned ttl = res->ttl > 0 ? (unsigned)res->ttl : 0;
	for (size_t i = 0; res->data[i] != NULL; i++)
		if (res->len[i] >= 0)
			(void)parse_rdata(ans, type, (const uint8_t *)res->data[i], (size_t)res->len[i], ttl);
	if (ans->n == 0) {
		ans->secure = false;
		return fail(ans, DNS_TEMPFAIL, "malformed answer");
	}
	ans->status = DNS_FOUND;
	return ans->status;
}

/*
 * Waits (st->lock held) until q is done or the deadline passes, taking the
 * leader's turn at polling ub_fd when nobody else is. Returns with the lock
 * held; true when q is done.
 */
static bool wait_for(struct ub_state *st, struct ub_query *q, const struct timespec *deadline)
{
	while (!q->done) {
		int ms = ms_left(deadline);
		if (ms == 0)
			return false;
		if (!st->pumping) {
			st->pumping = true;
			pthread_mutex_unlock(&st->lock);
			struct pollfd pfd = { .fd = st->fd, .events = POLLIN };
			int r = poll(&pfd, 1, ms);
			pthread_mutex_lock(&st->lock);
			if (r > 0)
				(void)ub_process(st->ctx);
			st->pumping = false;
			pthread_cond_broadcast(&st->cond);
		} else {
			(void)pthread_cond_timedwait(&st->cond, &st->lock, deadline);
		}
	}
	return true;
}

static enum dns_status ub_query_fn(void *state, const char *name, enum dns_type type, struct dns_answer *ans)
{
	struct ub_state *st = state;
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	ts_add_ms(&deadline, st->timeout_ms);

	struct ub_query *q = xcalloc(1, sizeof *q);
	int id = 0;
	int rc = ub_resolve_async(st->ctx, name, (int)type, UB_CLASS_IN, q, ub_callback, &id);
	if (rc != 0) {
		free(q);
		if (rc == UB_SYNTAX)
			return fail(ans, DNS_CONFIG_ERROR, "invalid domain name");
		return fail(ans, DNS_TEMPFAIL, ub_strerror(rc));
	}

	pthread_mutex_lock(&st->lock);
	if (!wait_for(st, q, &deadline)) {
		/* callbacks only run under st->lock, so q cannot complete now */
		if (ub_cancel(st->ctx, id) != 0)
			q->abandoned = true;
		else
			free(q);
		pthread_mutex_unlock(&st->lock);
		return fail(ans, DNS_TEMPFAIL, "timeout");
	}
	pthread_mutex_unlock(&st->lock);

	enum dns_status status;
	if (q->err != 0 || q->res == NULL)
		status = fail(ans, DNS_TEMPFAIL, q->err != 0 ? ub_strerror(q->err) : "no result");
	else
		status = convert(q->res, type, ans);
	if (q->res)
		ub_resolve_free(q->res);
	free(q);
	return status;
}

static void ub_destroy(void *state)
{
	struct ub_state *st = state;
	if (!st)
		return;
	ub_ctx_delete(st->ctx); /* outstanding queries die with it, no callbacks */
	pthread_cond_destroy(&st->cond);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

static const struct dns_backend ub_backend = { "unbound", ub_query_fn, ub_destroy };

/* a plausible zone name: printable, no blanks, quotes or escapes */
static bool zone_ok(const char *z)
{
	if (*z == '\0' || strlen(z) > DNS_MAX_NAME + 1)
		return false;
	for (const char *p = z; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == '"' || *p == '\\' || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

/* configures ctx; returns 0 or -1 with err filled. Called with ub_config_lock. */
static int ub_configure(struct ub_ctx *ctx, const struct dns_unbound_opts *opts, char *err, size_t errlen)
{
	int rc;
	if ((rc = ub_ctx_async(ctx, 1)) != 0) {
		snprintf(err, errlen, "unbound: async: %s", ub_strerror(rc));
		return -1;
	}
	bool forwarding = false;
	if (opts->forwarders && opts->forwarders[0]) {
		for (size_t i = 0; opts->forwarders[i]; i++) {
			if ((rc = ub_ctx_set_fwd(ctx, opts->forwarders[i])) != 0) {
				snprintf(err, errlen, "unbound: forwarder '%s': %s", opts->forwarders[i], ub_strerror(rc));
				return -1;
			}
		}
		forwarding = true;
	} else {
		const char *rcf = opts->resolv_conf ? opts->resolv_conf : "/etc/resolv.conf";
		if (*rcf) {
			if ((rc = ub_ctx_resolvconf(ctx, rcf)) != 0) {
				snprintf(err, errlen, "unbound: resolv.conf '%s': %s", rcf, ub_strerror(rc));
				return -1;
			}
			forwarding = true;
		}
		/* "" = full recursion from libunbound's built-in root hints */
	}
	/* The servers we forward to are configured by the operator and are often
	   a local resolver (127.0.0.1, or 127.0.0.1@port in tests); unbound
	   refuses to query loopback addresses by default. Full recursion keeps
	   that default, which guards against referrals to 127.0.0.1. */
	if (forwarding && (rc = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no")) != 0) {
		snprintf(err, errlen, "unbound: do-not-query-localhost: %s", ub_strerror(rc));
		return -1;
	}
	if (opts->trust_anchor_file && *opts->trust_anchor_file) {
		if (access(opts->trust_anchor_file, R_OK) != 0) {
			snprintf(err, errlen, "unbound: trust anchor '%s': %s", opts->trust_anchor_file, strerror(errno));
			return -1;
		}
		if ((rc = ub_ctx_add_ta_file(ctx, opts->trust_anchor_file)) != 0) {
			snprintf(err, errlen, "unbound: trust anchor '%s': %s", opts->trust_anchor_file, ub_strerror(rc));
			return -1;
		}
	}
	/* libunbound reads the trust anchor and builds its modules lazily, at
	   the first query; a bad file would then fail every query. Removing a
	   zone finalizes the context now (there is no public ub_ctx_finalize),
	   so such errors surface here; no ub_ctx_set_option after this point. */
	if ((rc = ub_ctx_zone_remove(ctx, "finalize.mamori.invalid.")) != 0) {
		snprintf(err, errlen, "unbound: bad configuration: %s", ub_strerror(rc));
		return -1;
	}
	/* Special-use zones (test., invalid., ...) are answered NXDOMAIN by
	   libunbound's default local zones. ub_ctx_set_option("local-zone:",
	   "test. nodefault") does not work in libunbound 1.17 (it stores the
	   whole value, "test. nodefault", as the zone name), so the default zone
	   is removed from the finalized context instead, which has the same
	   effect. Removing a zone that is not there is not an error. */
	for (size_t i = 0; opts->nodefault_zones && opts->nodefault_zones[i]; i++) {
		const char *z = opts->nodefault_zones[i];
		if (!zone_ok(z)) {
			snprintf(err, errlen, "unbound: bad nodefault zone name");
			return -1;
		}
		if ((rc = ub_ctx_zone_remove(ctx, z)) != 0) {
			snprintf(err, errlen, "unbound: nodefault zone '%s': %s", z, ub_strerror(rc));
			return -1;
		}
	}
	return 0;
}

struct dns_resolver *dns_unbound_new(const struct dns_unbound_opts *opts, char *err, size_t errlen)
{
	static const struct dns_unbound_opts defaults = { 0 };
	if (!opts)
		opts = &defaults;
	struct ub_ctx *ctx = ub_ctx_create();
	if (!ctx) {
		snprintf(err, errlen, "unbound: cannot create context");
		return NULL;
	}
	pthread_mutex_lock(&ub_config_lock);
	int rc = ub_configure(ctx, opts, err, errlen);
	pthread_mutex_unlock(&ub_config_lock);
	int fd = rc == 0 ? ub_fd(ctx) : -1;
	if (rc == 0 && fd < 0) {
		snprintf(err, errlen, "unbound: no result descriptor");
		rc = -1;
	}
	if (rc < 0) {
		ub_ctx_delete(ctx);
		return NULL;
	}

	struct ub_state *st = xcalloc(1, sizeof *st);
	st->ctx = ctx;
	st->fd = fd;
	st->timeout_ms = opts->timeout_ms ? opts->timeout_ms : UB_DEFAULT_TIMEOUT_MS;
	pthread_mutex_init(&st->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->cond, &ca);
	pthread_condattr_destroy(&ca);

	struct dns_resolver *r = xcalloc(1, sizeof *r);
	r->ops = &ub_backend;
	r->state = st;
	return r;
}
