/*
 * limiter_redis: the Redis backend of limiter.h. Owns a small pool of
 * hiredis connections and the Lua script that makes one GCRA decision over
 * every window of a policy atomically inside Redis (the same arithmetic as
 * ratelimit.c; see docs/redis.md for the key layout).
 *
 * Failure handling: any connect or command failure (refused, timeout, lost
 * connection, error reply) is RL_UNAVAILABLE with a static reason. After a
 * failed connect the backend is "down": every check answers RL_UNAVAILABLE at
 * once, without touching the network, and one caller per second probes
 * Redis again, so a dead Redis costs no timeouts and service resumes by
 * itself. A pooled connection that the server closed while idle (a Redis
 * restart) is reconnected and the command sent again once: the server
 * cannot have run a command on a connection it had already closed.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "core/log.h"
#include "core/mem.h"
#include "guard/limiter_backend.h"

#define POOL_SIZE 8
#define PROBE_INTERVAL_MS 1000 /* at most one reconnect attempt per second while down */
#define ERROR_LOG_INTERVAL_MS 10000
#define HOST_MAX 255
#define PREFIX_MAX 256
#define ARGS_MAX (9 + 4 * RL_MAX_WINDOWS)

/*
 * The decision, in Redis. Times are whole microseconds (TIME gives them;
 * Lua 5.1 numbers are doubles, exact below 2^53, and now + one year of
 * microseconds is far below that); the emission interval I = T/N is kept as
 * q + r/N us like ratelimit.c keeps ns, so the decisions are exact.
 *
 * KEYS[1]  the state key
 * ARGV     now_us ("" = the server's TIME), nrcpt, nmsgs, nrcpts, then
 *          count and period_s of each message window and each recipient
 *          window
 * value    "nmsgs nrcpts" then one "tat:frac:count:period" per window
 * returns  { denied, rcpts, window, count, period_s, cost, retry_ms }
 */
static const char lua_gcra[] =
    "if redis.replicate_commands then pcall(redis.replicate_commands) end\n"
    "local tonumber = tonumber\n"
    "local now\n"
    "if ARGV[1] ~= '' then now = tonumber(ARGV[1]) else\n"
    "  local t = redis.call('TIME')\n"
    "  now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "end\n"
    "local nrcpt, nm, nr = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local ns = nm + nr\n"
    /* the stored slots by index, messages first, reshaped like ratelimit.c's
     * entry_shape (T_ TAT, F_ fraction, C_ count, P_ period) */
    "local floor, ceil, huge = math.floor, math.ceil, math.huge\n"
    "local T_, F_, C_, P_ = {}, {}, {}, {}\n"
    "local raw = redis.call('GET', KEYS[1])\n"
    "local fresh = not raw\n"
    "local changed = false\n"
    "if fresh then\n"
    "  for i = 1, ns do T_[i], F_[i], C_[i], P_[i] = 0, 0, 0, 0 end\n"
    "else\n"
    "  local ot, of, oc, op, k = {}, {}, {}, {}, 0\n"
    "  local onm, onr = string.match(raw, '^(%d+) (%d+)')\n"
    "  onm, onr = tonumber(onm), tonumber(onr)\n"
    "  for t, f, c, p in string.gmatch(raw, '(%d+):(%d+):(%d+):(%d+)') do\n"
    "    k = k + 1\n"
    "    ot[k], of[k], oc[k], op[k] = tonumber(t), tonumber(f), tonumber(c), tonumber(p)\n"
    "  end\n"
    "  if onm == nil or k ~= onm + onr then onm, onr = 0, 0 end\n"
    "  if onm ~= nm or onr ~= nr then changed = true end\n"
    "  for i = 1, ns do\n"
    "    local o\n"
    "    if i <= nm then\n"
    "      if i <= onm then o = i end\n"
    "    elseif i - nm <= onr then\n"
    "      o = onm + i - nm\n"
    "    end\n"
    "    if o then T_[i], F_[i], C_[i], P_[i] = ot[o], of[o], oc[o], op[o]\n"
    "    else T_[i], F_[i], C_[i], P_[i] = 0, 0, 0, 0 end\n"
    "  end\n"
    "end\n"
    /* per window: slot_adopt, then slot_eval */
    "local NT, NF = {}, {}\n"
    "local denied, worst = false, -1\n"
    "local r1, r2, r3, r4, r5, r6, r7 = 0, 0, 0, 0, 0, 0, 0\n"
    "for i = 1, ns do\n"
    "  local cnt, per = tonumber(ARGV[3 + 2 * i]), tonumber(ARGV[4 + 2 * i])\n"
    "  local tat, frac = T_[i], F_[i]\n"
    /* a slot computed under another limit keeps its used share */
    "  if C_[i] ~= cnt or P_[i] ~= per then\n"
    "    local ntat, oc = 0, C_[i]\n"
    "    local dr = tat\n"
    "    if frac ~= 0 then dr = tat + 1 end\n"
    "    if oc ~= 0 and cnt ~= 0 and dr > now then\n"
    "      local rem = (tat - now) + frac / oc\n"
    "      local used = rem * oc / (P_[i] * 1000000)\n"
    "      local T = per * 1000000\n"
    "      local d = used * T / cnt\n"
    "      if d > T then d = T end\n"
    "      ntat = now + ceil(d)\n"
    "    end\n"
    "    tat, frac = ntat, 0\n"
    "    T_[i], F_[i], C_[i], P_[i] = ntat, 0, cnt, per\n"
    "    changed = true\n"
    "  end\n"
    "  local cost = 1\n"
    "  if i > nm then cost = nrcpt end\n"
    "  if cnt ~= 0 and cost ~= 0 then\n"
    "    local T = per * 1000000\n"
    "    local deny, retry = false, 0\n"
    "    if cost > cnt then\n"
    "      deny, retry = true, huge\n"
    "    else\n"
    "      local q = floor(T / cnt)\n"
    "      local r = T - q * cnt\n"
    "      if now > tat then tat, frac = now, 0 end\n"
    "      local aq, ar\n"
    /* cost * r / cnt exactly: directly below 2^52, else in 15-bit halves
     * (cost, r, cnt < 2^30) */
    "      local cr = cost * r\n"
    "      if cr < 4503599627370496 then\n"
    "        aq = floor(cr / cnt)\n"
    "        ar = cr - aq * cnt\n"
    "      else\n"
    "        local ah = floor(cost / 32768)\n"
    "        local x = ah * r\n"
    "        local xq = floor(x / cnt)\n"
    "        local y = (x - xq * cnt) * 32768 + (cost - ah * 32768) * r\n"
    "        local yq = floor(y / cnt)\n"
    "        aq, ar = xq * 32768 + yq, y - yq * cnt\n"
    "      end\n"
    "      ar = ar + frac\n"
    "      if ar >= cnt then ar = ar - cnt; aq = aq + 1 end\n"
    "      local nt = tat + cost * q + aq\n"
    "      NT[i], NF[i] = nt, ar\n"
    "      local over = nt - now - T\n"
    "      if over > 0 or (over == 0 and ar ~= 0) then\n"
    "        deny = true\n"
    "        retry = over\n"
    "        if ar ~= 0 then retry = retry + 1 end\n"
    "      end\n"
    "    end\n"
    "    if deny and retry > worst then\n"
    "      denied, worst = true, retry\n"
    "      local rms = -1\n"
    "      if retry ~= huge then rms = ceil(retry / 1000) end\n"
    "      if i > nm then r2, r3 = 1, i - 1 - nm else r2, r3 = 0, i - 1 end\n"
    "      r1, r4, r5, r6, r7 = 1, cnt, per, cost, rms\n"
    "    end\n"
    "  end\n"
    "end\n"
    /* a deny commits nothing (a stored key keeps any reshaping or adoption) */
    "if denied and (fresh or not changed) then return { r1, r2, r3, r4, r5, r6, r7 } end\n"
    "if not denied then\n"
    "  for i = 1, ns do if NT[i] then T_[i], F_[i] = NT[i], NF[i] end end\n"
    "end\n"
    /* store with an expiry at the drain time: a drained key equals a missing one */
    "local drained = 0\n"
    "local parts = { nm .. ' ' .. nr }\n"
    "for i = 1, ns do\n"
    "  parts[i + 1] = string.format('%.0f:%.0f:%d:%d', T_[i], F_[i], C_[i], P_[i])\n"
    "  if C_[i] ~= 0 then\n"
    "    local dr = T_[i]\n"
    "    if F_[i] ~= 0 then dr = dr + 1 end\n"
    "    if dr > drained then drained = dr end\n"
    "  end\n"
    "end\n"
    "if drained <= now then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "else\n"
    "  redis.call('SET', KEYS[1], table.concat(parts, ' '), 'PX', ceil((drained - now) / 1000) + 1)\n"
    "end\n"
    "return { r1, r2, r3, r4, r5, r6, r7 }\n";

struct rconn {
	redisContext *c;
	bool in_use;
};

struct redis_state {
	/* where: host and port, or a unix socket path */
	char host[HOST_MAX + 1];
	int port;
	char *path;
	int db;
	char *user, *password;     /* AUTH, or NULL; never logged */
	char where[HOST_MAX + 16]; /* "host:port" or the path, for log lines */
	struct timeval tv;
	int timeout_ms;
	char *prefix;
	size_t prefixlen;
	char sha[41]; /* the script's SHA1 as SCRIPT LOAD returned it; "" = not yet */
	int caller_clock;
	int64_t err_logged_ms; /* last error reply logged (mono ms), 0 = never */

	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct rconn pool[POOL_SIZE];
	bool down;           /* the last connect failed */
	int64_t probe_at_ms; /* while down: no connect attempt before this */
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------- url ---------- */

static bool all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool parse_uint(const char *s, size_t n, long max, long *v_r)
{
	if (!all_digits(s, n) || n > 9)
		return false;
	long v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	if (v > max)
		return false;
	*v_r = v;
	return true;
}

/* "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]" (HOST may be "[v6]") or
 * "unix:PATH" */
static int url_parse(struct redis_state *st, const char *url, char *err, size_t errlen)
{
	st->port = 6379;
	if (url == NULL || url[0] == '\0') {
		snprintf(err, errlen, "redis.url is empty");
		return -1;
	}
	if (strncmp(url, "unix:", 5) == 0) {
		const char *p = url + 5;
		if (p[0] != '/' || strlen(p) >= 108) {
			snprintf(err, errlen, "redis.url: unix: needs an absolute socket path under 108 bytes");
			return -1;
		}
		st->path = xstrdup(p);
		snprintf(st->where, sizeof st->where, "%s", p);
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0) {
		snprintf(err, errlen, "redis.url must start with redis:// or unix:");
		return -1;
	}
	const char *s = url + 8;
	/* the last '@' ends the credentials, so a password may hold '@' and '/' */
	const char *at = strrchr(s, '@');
	if (at != NULL) {
		const char *colon = memchr(s, ':', (size_t)(at - s));
		if (colon == NULL) {
			snprintf(err, errlen, "redis.url: credentials must be [USER]:PASSWORD@");
			return -1;
		}
		if (colon > s)
			st->user = xstrndup(s, (size_t)(colon - s));
		st->password = xstrndup(colon + 1, (size_t)(at - colon - 1));
		s = at + 1;
	}
	const char *end = s + strcspn(s, "/");
	const char *hs = s, *he;
	const char *portp = NULL;
	if (*s == '[') {
		hs = s + 1;
		he = memchr(hs, ']', (size_t)(end - hs));
		if (he == NULL) {
			snprintf(err, errlen, "redis.url: unterminated [IPv6] host");
			return -1;
		}
		if (he + 1 < end) {
			if (he[1] != ':') {
				snprintf(err, errlen, "redis.url: junk after ]");
				return -1;
			}
			portp = he + 2;
		}
	} else {
		he = memchr(hs, ':', (size_t)(end - hs));
		if (he != NULL)
			portp = he + 1;
		else
			he = end;
	}
	size_t hl = (size_t)(he - hs);
	if (hl == 0 || hl > HOST_MAX) {
		snprintf(err, errlen, "redis.url: missing or overlong host");
		return -1;
	}
	for (size_t i = 0; i < hl; i++) {
		unsigned char c = (unsigned char)hs[i];
		if (!isalnum(c) && c != '.' && c != '-' && c != ':' && c != '_' && c != '%') {
			snprintf(err, errlen, "redis.url: bad character in host");
			return -1;
		}
	}
	memcpy(st->host, hs, hl);
	st->host[hl] = '\0';
	if (portp != NULL) {
		long v;
		if (!parse_uint(portp, (size_t)(end - portp), 65535, &v) || v == 0) {
			snprintf(err, errlen, "redis.url: port must be 1..65535");
			return -1;
		}
		st->port = (int)v;
	}
	if (*end == '/' && end[1] != '\0') {
		long v;
		if (!parse_uint(end + 1, strlen(end + 1), 1000000, &v)) {
			snprintf(err, errlen, "redis.url: database must be a number");
			return -1;
		}
		st->db = (int)v;
	}
	snprintf(st->where, sizeof st->where, "%s%s%s:%d", strchr(st->host, ':') ? "[" : "", st->host,
	         strchr(st->host, ':') ? "]" : "", st->port);
	return 0;
}

static void state_free(struct redis_state *st)
{
	for (int i = 0; i < POOL_SIZE; i++)
		if (st->pool[i].c != NULL)
			redisFree(st->pool[i].c);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->freed);
	xfree(st->path);
	xfree(st->user);
	if (st->password != NULL) {
		explicit_bzero(st->password, strlen(st->password));
		xfree(st->password);
	}
	xfree(st->prefix);
	xfree(st);
}

void *limiter_redis_state_new(const char *url, int timeout_ms, const char *prefix, char *err, size_t errlen)
{
	struct redis_state *st = xcalloc(1, sizeof *st);
	pthread_mutex_init(&st->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->freed, &ca);
	pthread_condattr_destroy(&ca);
	if (url_parse(st, url, err, errlen) != 0) {
		state_free(st);
		return NULL;
	}
	if (timeout_ms <= 0)
		timeout_ms = 250;
	st->timeout_ms = timeout_ms;
	st->tv.tv_sec = timeout_ms / 1000;
	st->tv.tv_usec = (timeout_ms % 1000) * 1000;
	st->prefix = xstrdup(prefix ? prefix : "");
	st->prefixlen = strlen(st->prefix);
	if (st->prefixlen > PREFIX_MAX) {
		snprintf(err, errlen, "redis.prefix longer than %d bytes", PREFIX_MAX);
		state_free(st);
		return NULL;
	}
	return st;
}

static void rs_free(void *state)
{
	state_free(state);
}

static void rs_set_caller_clock(void *state, int on)
{
	struct redis_state *st = state;
	__atomic_store_n(&st->caller_clock, on, __ATOMIC_RELAXED);
}

/* ---------- connections ---------- */

static void unavailable(struct rl_decision *d, const char *reason)
{
	memset(d, 0, sizeof *d);
	d->outcome = RL_UNAVAILABLE;
	d->reason = reason;
}

/* one command on c; NULL reply = the connection is broken (c->err set) */
static redisReply *command(redisContext *c, int argc, const char **argv, const size_t *len)
{
	return redisCommandArgv(c, argc, argv, len);
}

/* true while the backend is down: its failures were logged when it went
 * down, the once-a-second probes stay quiet */
static bool is_down(struct redis_state *st)
{
	pthread_mutex_lock(&st->lock);
	bool down = st->down;
	pthread_mutex_unlock(&st->lock);
	return down;
}

/* SCRIPT LOAD on c; stores the SHA1 in st->sha. 0, or -1 with *why_r */
static int script_load(struct redis_state *st, redisContext *c, const char **why_r)
{
	const char *argv[] = {"SCRIPT", "LOAD", lua_gcra};
	size_t len[] = {6, 4, sizeof lua_gcra - 1};
	redisReply *r = command(c, 3, argv, len);
	if (r == NULL) {
		*why_r = "redis connection lost";
		return -1;
	}
	int rc = -1;
	if (r->type == REDIS_REPLY_STRING && r->len == 40) {
		pthread_mutex_lock(&st->lock);
		memcpy(st->sha, r->str, 40);
		st->sha[40] = '\0';
		pthread_mutex_unlock(&st->lock);
		rc = 0;
	} else {
		*why_r = "redis refused SCRIPT LOAD";
		if (r->type == REDIS_REPLY_ERROR && !is_down(st))
			log_error("redis %s: SCRIPT LOAD: %.200s", st->where, r->str);
	}
	freeReplyObject(r);
	return rc;
}

/* a new connection: connect, timeouts, AUTH, SELECT, SCRIPT LOAD. NULL with
 * *why_r on failure. */
static redisContext *connect_one(struct redis_state *st, const char **why_r)
{
	redisContext *c = st->path ? redisConnectUnixWithTimeout(st->path, st->tv)
	                           : redisConnectWithTimeout(st->host, st->port, st->tv);
	if (c == NULL) {
		*why_r = "redis connect failed (out of memory)";
		return NULL;
	}
	if (c->err) {
		bool timeout = (c->err == REDIS_ERR_IO && (errno == ETIMEDOUT || errno == EINPROGRESS)) ||
		               strstr(c->errstr, "timed out") != NULL;
		*why_r = timeout ? "redis connect timed out" : "redis unreachable (connect failed)";
		if (!is_down(st))
			log_error("redis %s: connect: %.200s", st->where, c->errstr);
		redisFree(c);
		return NULL;
	}
	if (redisSetTimeout(c, st->tv) != REDIS_OK)
		goto broken;
	if (st->path == NULL)
		redisEnableKeepAlive(c);
	if (st->password != NULL) {
		const char *argv[] = {"AUTH", st->user, st->password};
		size_t len[] = {4, st->user ? strlen(st->user) : 0, strlen(st->password)};
		int argc = 3;
		if (st->user == NULL) {
			argv[1] = st->password;
			len[1] = len[2];
			argc = 2;
		}
		redisReply *r = command(c, argc, argv, len);
		if (r == NULL)
			goto broken;
		bool ok = r->type == REDIS_REPLY_STATUS;
		freeReplyObject(r);
		if (!ok) {
			if (!is_down(st))
				log_error("redis %s: AUTH refused", st->where);
			*why_r = "redis refused AUTH";
			redisFree(c);
			return NULL;
		}
	}
	if (st->db != 0) {
		redisReply *r = redisCommand(c, "SELECT %d", st->db);
		if (r == NULL)
			goto broken;
		bool ok = r->type == REDIS_REPLY_STATUS;
		if (!ok && !is_down(st))
			log_error("redis %s: SELECT %d: %.200s", st->where, st->db,
			          r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		freeReplyObject(r);
		if (!ok) {
			*why_r = "redis refused SELECT";
			redisFree(c);
			return NULL;
		}
	}
	if (script_load(st, c, why_r) != 0) {
		redisFree(c);
		return NULL;
	}
	return c;
broken:
	if (!is_down(st))
		log_error("redis %s: %.200s", st->where, c->errstr[0] ? c->errstr : "connection lost");
	*why_r = "redis connection lost";
	redisFree(c);
	return NULL;
}

/*
 * Takes a pooled connection for the caller (connected, or a fresh connect
 * when the slot is empty). Returns the slot index, or -1 with *why_r: down
 * and not yet time to probe, pool busy past the timeout, connect failed.
 */
static int conn_get(struct redis_state *st, const char **why_r)
{
	int64_t deadline = mono_ms() + st->timeout_ms;
	pthread_mutex_lock(&st->lock);
	int slot;
	for (;;) {
		int64_t now = mono_ms();
		if (st->down && now < st->probe_at_ms) {
			pthread_mutex_unlock(&st->lock);
			*why_r = "redis down (reconnect attempt at most once a second)";
			return -1;
		}
		/* a connected free slot first, then an empty one */
		slot = -1;
		for (int i = 0; i < POOL_SIZE; i++) {
			if (st->pool[i].in_use)
				continue;
			if (st->pool[i].c != NULL) {
				slot = i;
				break;
			}
			if (slot < 0)
				slot = i;
		}
		if (slot >= 0)
			break;
		if (now >= deadline) {
			pthread_mutex_unlock(&st->lock);
			*why_r = "redis connection pool busy past the timeout";
			return -1;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t wait = deadline - now;
		ts.tv_sec += wait / 1000;
		ts.tv_nsec += (wait % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&st->freed, &st->lock, &ts);
	}
	st->pool[slot].in_use = true;
	if (st->down) /* this caller is the probe; the others wait a second more */
		st->probe_at_ms = mono_ms() + PROBE_INTERVAL_MS;
	bool need_connect = st->pool[slot].c == NULL;
	pthread_mutex_unlock(&st->lock);
	if (need_connect) {
		redisContext *c = connect_one(st, why_r);
		pthread_mutex_lock(&st->lock);
		if (c == NULL) {
			st->pool[slot].in_use = false;
			if (!st->down)
				st->probe_at_ms = mono_ms() + PROBE_INTERVAL_MS;
			st->down = true;
			pthread_cond_broadcast(&st->freed);
			pthread_mutex_unlock(&st->lock);
			return -1;
		}
		st->pool[slot].c = c;
		if (st->down) {
			st->down = false;
			log_info("redis %s: reachable again; shared rate limits resume", st->where);
		}
		pthread_mutex_unlock(&st->lock);
	}
	return slot;
}

enum put_how {
	PUT_OK,     /* the connection answered */
	PUT_CLOSED, /* the server had closed it: drop it and every idle one (a
	               restart closes them all); reconnect on the next use */
	PUT_FAILED, /* timeout or lost mid-command: drop connections, go down */
};

/* gives the slot back */
static void conn_put(struct redis_state *st, int slot, enum put_how how)
{
	pthread_mutex_lock(&st->lock);
	if (how != PUT_OK) {
		for (int i = 0; i < POOL_SIZE; i++) {
			if ((i == slot || !st->pool[i].in_use) && st->pool[i].c != NULL) {
				redisFree(st->pool[i].c);
				st->pool[i].c = NULL;
			}
		}
	}
	if (how == PUT_FAILED && !st->down) {
		st->down = true;
		st->probe_at_ms = mono_ms() + PROBE_INTERVAL_MS;
	} else if (how == PUT_OK && st->down) {
		st->down = false;
		log_info("redis %s: reachable again; shared rate limits resume", st->where);
	}
	st->pool[slot].in_use = false;
	pthread_cond_broadcast(&st->freed);
	pthread_mutex_unlock(&st->lock);
}

/* the connection died before the server could have read the command: EOF
 * or reset on a pooled connection the server had closed */
static bool closed_by_server(const redisContext *c)
{
	if (c->err == REDIS_ERR_EOF)
		return true;
	return c->err == REDIS_ERR_IO &&
	       (strstr(c->errstr, "reset") != NULL || strstr(c->errstr, "Broken pipe") != NULL);
}

/* ---------- the decision ---------- */

struct call {
	char key[PREFIX_MAX + 3 + RL_KEY_MAX];
	size_t keylen;
	char num[ARGS_MAX][24];
	const char *argv[ARGS_MAX];
	size_t len[ARGS_MAX];
	int argc;
};

/* EVALSHA sha 1 key now nrcpt nm nr (count period)... into cl */
static void call_build(struct redis_state *st, struct call *cl, const char *sha, const char *key, size_t keylen,
                       const struct rl_policy *p, uint32_t nrcpt, int64_t now_ns)
{
	size_t pl = st->prefixlen;
	memcpy(cl->key, st->prefix, pl);
	memcpy(cl->key + pl, "rl:", 3);
	memcpy(cl->key + pl + 3, key, keylen);
	cl->keylen = pl + 3 + keylen;
	int n = 0;
	cl->argv[n] = "EVALSHA", cl->len[n++] = 7;
	cl->argv[n] = sha, cl->len[n++] = 40;
	cl->argv[n] = "1", cl->len[n++] = 1;
	cl->argv[n] = cl->key, cl->len[n++] = cl->keylen;
#define NUM(fmt, v)                                                                                                    \
	do {                                                                                                           \
		int k_ = snprintf(cl->num[n], sizeof cl->num[n], fmt, v);                                              \
		cl->argv[n] = cl->num[n];                                                                              \
		cl->len[n++] = (size_t)k_;                                                                             \
	} while (0)
	if (__atomic_load_n(&st->caller_clock, __ATOMIC_RELAXED))
		NUM("%lld", (long long)(now_ns / 1000));
	else
		cl->argv[n] = "", cl->len[n++] = 0;
	NUM("%u", nrcpt);
	NUM("%zu", p->nmsgs);
	NUM("%zu", p->nrcpts);
	for (size_t i = 0; i < p->nmsgs; i++) {
		NUM("%u", p->msgs[i].count);
		NUM("%u", p->msgs[i].period_s);
	}
	for (size_t i = 0; i < p->nrcpts; i++) {
		NUM("%u", p->rcpts[i].count);
		NUM("%u", p->rcpts[i].period_s);
	}
#undef NUM
	cl->argc = n;
}

static bool is_noscript(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

/* the script's reply into *d */
static enum rl_outcome reply_decode(struct redis_state *st, const redisReply *r, struct rl_decision *d)
{
	if (r->type == REDIS_REPLY_ERROR) {
		/* OOM, READONLY replica, BUSY...: every decision would log it */
		int64_t now = mono_ms();
		int64_t last = __atomic_load_n(&st->err_logged_ms, __ATOMIC_RELAXED);
		if (last == 0 || now - last >= ERROR_LOG_INTERVAL_MS) {
			__atomic_store_n(&st->err_logged_ms, now, __ATOMIC_RELAXED);
			log_error("redis %s: script: %.200s (logged at most every %d s)", st->where, r->str,
			          ERROR_LOG_INTERVAL_MS / 1000);
		}
		unavailable(d, "redis answered an error");
		return RL_UNAVAILABLE;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 7) {
		unavailable(d, "redis answered something unexpected");
		return RL_UNAVAILABLE;
	}
	long long v[7];
	for (int i = 0; i < 7; i++) {
		if (r->element[i]->type != REDIS_REPLY_INTEGER) {
			unavailable(d, "redis answered something unexpected");
			return RL_UNAVAILABLE;
		}
		v[i] = r->element[i]->integer;
	}
	memset(d, 0, sizeof *d);
	if (v[0] == 0) {
		d->outcome = RL_ALLOW;
		return RL_ALLOW;
	}
	d->outcome = RL_DENY;
	d->rcpts = v[1] != 0;
	d->window = (int)v[2];
	d->count = (uint32_t)v[3];
	d->period_s = (uint32_t)v[4];
	d->cost = (uint32_t)v[5];
	d->retry_after_ms = v[6];
	return RL_DENY;
}

static void sha_copy(struct redis_state *st, char sha_r[41])
{
	pthread_mutex_lock(&st->lock);
	memcpy(sha_r, st->sha, 41);
	pthread_mutex_unlock(&st->lock);
}

static enum rl_outcome rs_check(void *state, const char *key, size_t keylen, const struct rl_policy *p, uint32_t nrcpt,
                                int64_t now_ns, struct rl_decision *d_r)
{
	struct redis_state *st = state;
	const char *why = NULL;
	struct call cl;
	char sha[41];
	bool retried = false;
again:;
	int slot = conn_get(st, &why);
	if (slot < 0) {
		unavailable(d_r, why);
		return RL_UNAVAILABLE;
	}
	redisContext *c = st->pool[slot].c;
	sha_copy(st, sha);
	call_build(st, &cl, sha, key, keylen, p, nrcpt, now_ns);
	redisReply *r = command(c, cl.argc, cl.argv, cl.len);
	if (r != NULL && is_noscript(r)) {
		/* the server lost its script cache (restart, SCRIPT FLUSH) */
		freeReplyObject(r);
		r = NULL;
		if (script_load(st, c, &why) == 0) {
			sha_copy(st, sha);
			cl.argv[1] = sha;
			r = command(c, cl.argc, cl.argv, cl.len);
		} else if (c->err == 0) {
			conn_put(st, slot, PUT_OK);
			unavailable(d_r, why);
			return RL_UNAVAILABLE;
		}
	}
	if (r == NULL) {
		bool retry = !retried && closed_by_server(c);
		/* a read past SO_RCVTIMEO fails with EAGAIN */
		bool timed_out = c->err == REDIS_ERR_IO && strstr(c->errstr, "temporarily") != NULL;
		const char *reason = timed_out ? "redis command timed out" : "redis connection lost";
		if (!retry && timed_out)
			log_error("redis %s: no answer within %d ms", st->where, st->timeout_ms);
		else if (!retry)
			log_error("redis %s: %.200s", st->where, c->errstr[0] ? c->errstr : "no reply");
		conn_put(st, slot, retry ? PUT_CLOSED : PUT_FAILED);
		if (retry) {
			retried = true;
			goto again;
		}
		unavailable(d_r, reason);
		return RL_UNAVAILABLE;
	}
	enum rl_outcome o = reply_decode(st, r, d_r);
	freeReplyObject(r);
	conn_put(st, slot, PUT_OK);
	return o;
}

/* n checks pipelined on one connection: all appended, then all read */
static void rs_check_batch(void *state, const struct limiter_req *reqs, size_t n, int64_t now_ns,
                           struct rl_decision *d_r)
{
	struct redis_state *st = state;
	const char *why = NULL;
	int slot = conn_get(st, &why);
	if (slot < 0) {
		for (size_t i = 0; i < n; i++)
			unavailable(&d_r[i], why);
		return;
	}
	redisContext *c = st->pool[slot].c;
	char sha[41];
	sha_copy(st, sha);
	struct call *cl = xmalloc(sizeof *cl);
	for (size_t i = 0; i < n; i++) {
		call_build(st, cl, sha, reqs[i].key, reqs[i].keylen, reqs[i].p, reqs[i].nrcpt, now_ns);
		redisAppendCommandArgv(c, cl->argc, cl->argv, cl->len);
	}
	/* read every reply first: a NOSCRIPT answer is followed by more
	 * pipelined replies, so the requests it hit are sent again after */
	redisReply **rep = xcalloc(n, sizeof *rep);
	bool broken = false, noscript = false;
	for (size_t i = 0; i < n && !broken; i++) {
		if (redisGetReply(c, (void **)&rep[i]) != REDIS_OK) {
			log_error("redis %s: %.200s", st->where, c->errstr[0] ? c->errstr : "no reply");
			rep[i] = NULL;
			broken = true;
		} else if (is_noscript(rep[i])) {
			noscript = true;
		}
	}
	if (!broken && noscript && script_load(st, c, &why) != 0)
		broken = true;
	sha_copy(st, sha);
	for (size_t i = 0; i < n; i++) {
		if (!broken && rep[i] != NULL && is_noscript(rep[i])) {
			freeReplyObject(rep[i]);
			call_build(st, cl, sha, reqs[i].key, reqs[i].keylen, reqs[i].p, reqs[i].nrcpt, now_ns);
			rep[i] = command(c, cl->argc, cl->argv, cl->len);
			if (rep[i] == NULL)
				broken = true;
		}
		if (rep[i] == NULL || (broken && is_noscript(rep[i])))
			unavailable(&d_r[i], "redis connection lost");
		else
			reply_decode(st, rep[i], &d_r[i]);
		if (rep[i] != NULL)
			freeReplyObject(rep[i]);
	}
	xfree(rep);
	xfree(cl);
	conn_put(st, slot, broken ? PUT_FAILED : PUT_OK);
}

const struct limiter_ops limiter_redis_ops = {
    .kind = "redis",
    .check = rs_check,
    .check_batch = rs_check_batch,
    .set_caller_clock = rs_set_caller_clock,
    .free = rs_free,
};
