/*
 * submission: config compilation and the decision (see submission.h for the
 * order of checks and what is counted where).
 */
#include "guard/submission.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/geoip.h"
#include "core/log.h"
#include "core/mem.h"

#define NS_PER_S INT64_C(1000000000)

/* ---------- limit strings ---------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* digits only, no sign, no spaces; at most max */
static int parse_uint(const char *s, size_t n, uint64_t max, uint64_t *v_r)
{
	if (n == 0 || n > 12)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*v_r = v;
	return 0;
}

static int period_parse_n(const char *s, size_t n, uint32_t *secs_r, char *err, size_t errlen)
{
	uint64_t mult = 1;
	if (n > 0) {
		switch (s[n - 1]) {
		case 's': mult = 1, n--; break;
		case 'm': mult = 60, n--; break;
		case 'h': mult = 3600, n--; break;
		case 'd': mult = 86400, n--; break;
		default: break;
		}
	}
	uint64_t v = 1;
	if (n == 0 && mult == 1) {
		set_err(err, errlen, "empty period");
		return -1;
	}
	if (n > 0 && parse_uint(s, n, RL_PERIOD_MAX, &v) < 0) {
		set_err(err, errlen, "period must be a number with s, m, h or d (at most %u s)", RL_PERIOD_MAX);
		return -1;
	}
	if (v == 0 || v * mult > RL_PERIOD_MAX) {
		set_err(err, errlen, "period must be 1 s to %u days", RL_PERIOD_MAX / 86400);
		return -1;
	}
	*secs_r = (uint32_t)(v * mult);
	return 0;
}

int sub_period_parse(const char *s, uint32_t *secs_r, char *err, size_t errlen)
{
	if (s == NULL) {
		set_err(err, errlen, "empty period");
		return -1;
	}
	size_t n = strnlen(s, SUB_LIMIT_MAX + 1);
	if (n > SUB_LIMIT_MAX) {
		set_err(err, errlen, "period too long");
		return -1;
	}
	return period_parse_n(s, n, secs_r, err, errlen);
}

int sub_limit_parse(const char *s, struct rl_limit *lim_r, char *err, size_t errlen)
{
	if (s == NULL) {
		set_err(err, errlen, "empty limit");
		return -1;
	}
	size_t n = strnlen(s, SUB_LIMIT_MAX + 1);
	if (n > SUB_LIMIT_MAX) {
		set_err(err, errlen, "limit longer than %d bytes", SUB_LIMIT_MAX);
		return -1;
	}
	const char *slash = memchr(s, '/', n);
	if (slash == NULL) {
		set_err(err, errlen, "\"%s\" is not N/PERIOD (e.g. \"100/1h\")", s);
		return -1;
	}
	uint64_t count;
	if (parse_uint(s, (size_t)(slash - s), RL_COUNT_MAX, &count) < 0 || count == 0) {
		set_err(err, errlen, "\"%s\": N must be a number from 1 to %u", s, RL_COUNT_MAX);
		return -1;
	}
	char perr[128];
	uint32_t secs;
	if (period_parse_n(slash + 1, n - (size_t)(slash + 1 - s), &secs, perr, sizeof perr) < 0) {
		set_err(err, errlen, "\"%s\": %s", s, perr);
		return -1;
	}
	lim_r->count = (uint32_t)count;
	lim_r->period_s = secs;
	return 0;
}

/* ---------- compiled configuration ---------- */

struct net {
	struct ipaddr net;
	unsigned prefix;
};

struct access {
	struct net *allow_net, *deny_net;
	size_t n_allow_net, n_deny_net;
	char (*allow_cc)[3], (*deny_cc)[3];
	size_t n_allow_cc, n_deny_cc;
};

/* a key kind's limits in the three shapes the stages need */
struct kind_policy {
	struct rl_policy full;  /* messages and recipients (MESSAGE stage) */
	struct rl_policy msgs;  /* messages only (RCPT stage, new message) */
	struct rl_policy rcpts; /* recipients only (RCPT stage) */
};

struct pattern {
	char *s;     /* lower case; for a domain pattern the domain */
	bool domain; /* "*@dom" */
};

struct group {
	char *name;
	struct pattern *pat;
	size_t npat;
	struct kind_policy account; /* own or default limits */
	struct access acc;          /* per list: own or global */
};

struct sub_config {
	bool enabled;
	int reply_code;
	enum sub_on_error on_error;
	struct kind_policy account, ip, account_ip;
	struct rl_policy lockvol; /* messages only */
	struct lock_policy lock;
	struct access acc;
	struct group *groups;
	size_t ngroups;
	struct geoip *geo; /* NULL without geoip.country_db */
	char *notify, *notify_from, *notify_url;
};

static size_t strv_len(char *const *v)
{
	size_t n = 0;
	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

static int parse_limits(char *const *v, const char *key, struct rl_limit *out, size_t *n_r, char *err, size_t errlen)
{
	size_t n = strv_len(v);
	if (n > RL_MAX_WINDOWS) {
		set_err(err, errlen, "%s: at most %d limits", key, RL_MAX_WINDOWS);
		return -1;
	}
	char e[200];
	for (size_t i = 0; i < n; i++) {
		if (sub_limit_parse(v[i], &out[i], e, sizeof e) < 0) {
			set_err(err, errlen, "%s[%zu]: %s", key, i, e);
			return -1;
		}
		for (size_t j = 0; j < i; j++)
			if (out[j].period_s == out[i].period_s) {
				set_err(err, errlen, "%s[%zu]: a second limit for the same period", key, i);
				return -1;
			}
	}
	*n_r = n;
	return 0;
}

static int kind_compile(char *const *msgs, char *const *rcpts, const char *kmsgs, const char *krcpts,
                        struct kind_policy *k, char *err, size_t errlen)
{
	memset(k, 0, sizeof *k);
	if (parse_limits(msgs, kmsgs, k->full.msgs, &k->full.nmsgs, err, errlen) < 0 ||
	    parse_limits(rcpts, krcpts, k->full.rcpts, &k->full.nrcpts, err, errlen) < 0)
		return -1;
	char e[200];
	if (rl_policy_validate(&k->full, e, sizeof e) < 0) {
		set_err(err, errlen, "%s: %s", kmsgs, e);
		return -1;
	}
	memcpy(k->msgs.msgs, k->full.msgs, sizeof k->msgs.msgs);
	k->msgs.nmsgs = k->full.nmsgs;
	memcpy(k->rcpts.rcpts, k->full.rcpts, sizeof k->rcpts.rcpts);
	k->rcpts.nrcpts = k->full.nrcpts;
	return 0;
}

static int nets_compile(char *const *v, const char *key, struct net **out, size_t *n_r, char *err, size_t errlen)
{
	size_t n = strv_len(v);
	*out = n ? xcalloc(n, sizeof **out) : NULL;
	*n_r = n;
	for (size_t i = 0; i < n; i++) {
		if (ip_parse_cidr(v[i], &(*out)[i].net, &(*out)[i].prefix) < 0) {
			set_err(err, errlen, "%s[%zu]: \"%s\" is not an address or CIDR", key, i, v[i]);
			return -1;
		}
		ip_unmap(&(*out)[i].net);
	}
	return 0;
}

static int ccs_compile(char *const *v, const char *key, char (**out)[3], size_t *n_r, char *err, size_t errlen)
{
	size_t n = strv_len(v);
	*out = n ? xcalloc(n, sizeof **out) : NULL;
	*n_r = n;
	for (size_t i = 0; i < n; i++) {
		const char *s = v[i];
		if (strlen(s) != 2 || !isalpha((unsigned char)s[0]) || !isalpha((unsigned char)s[1])) {
			set_err(err, errlen, "%s[%zu]: \"%s\" is not an ISO 3166 country code (two letters)", key, i,
			        s);
			return -1;
		}
		(*out)[i][0] = (char)toupper((unsigned char)s[0]);
		(*out)[i][1] = (char)toupper((unsigned char)s[1]);
		(*out)[i][2] = '\0';
	}
	return 0;
}

static int access_compile(char *const *an, char *const *dn, char *const *ac, char *const *dc, const char *prefix,
                          struct access *a, char *err, size_t errlen)
{
	char k[4][160];
	snprintf(k[0], sizeof k[0], "%sallow_networks", prefix);
	snprintf(k[1], sizeof k[1], "%sdeny_networks", prefix);
	snprintf(k[2], sizeof k[2], "%sallow_countries", prefix);
	snprintf(k[3], sizeof k[3], "%sdeny_countries", prefix);
	if (nets_compile(an, k[0], &a->allow_net, &a->n_allow_net, err, errlen) < 0 ||
	    nets_compile(dn, k[1], &a->deny_net, &a->n_deny_net, err, errlen) < 0 ||
	    ccs_compile(ac, k[2], &a->allow_cc, &a->n_allow_cc, err, errlen) < 0 ||
	    ccs_compile(dc, k[3], &a->deny_cc, &a->n_deny_cc, err, errlen) < 0)
		return -1;
	return 0;
}

static void access_free(struct access *a)
{
	xfree(a->allow_net);
	xfree(a->deny_net);
	xfree(a->allow_cc);
	xfree(a->deny_cc);
	memset(a, 0, sizeof *a);
}

static bool access_uses_countries(const struct access *a)
{
	return a->n_allow_cc > 0 || a->n_deny_cc > 0;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int pattern_compile(const char *s, const char *key, size_t i, struct pattern *p, char *err, size_t errlen)
{
	size_t n = strlen(s);
	if (n == 0 || n > LOCK_ACCOUNT_MAX) {
		set_err(err, errlen, "%s[%zu]: empty or longer than %d bytes", key, i, LOCK_ACCOUNT_MAX);
		return -1;
	}
	for (size_t k = 0; k < n; k++)
		if ((unsigned char)s[k] < 0x21 || s[k] == 0x7f) {
			set_err(err, errlen, "%s[%zu]: \"%s\" contains a space or control character", key, i, s);
			return -1;
		}
	if (s[0] == '*') {
		if (n < 3 || s[1] != '@' || strchr(s + 2, '@') != NULL || strchr(s + 2, '*') != NULL) {
			set_err(err, errlen, "%s[%zu]: \"%s\": a wildcard must be \"*@domain\"", key, i, s);
			return -1;
		}
		p->domain = true;
		p->s = xstrdup(s + 2);
	} else {
		if (strchr(s, '*') != NULL) {
			set_err(err, errlen, "%s[%zu]: \"%s\": '*' only as \"*@domain\"", key, i, s);
			return -1;
		}
		p->s = xstrdup(s);
	}
	lower(p->s);
	return 0;
}

static int group_compile(const struct config_sub_group *g, const struct sub_config *c, const struct mamori_config *cfg,
                         struct group *out, char *err, size_t errlen)
{
	char key[200];
	const char *name = g->name ? g->name : "";
	out->name = xstrdup(name);
	snprintf(key, sizeof key, "submission.groups[%s].accounts", name);
	size_t n = strv_len(g->accounts);
	if (n == 0) {
		set_err(err, errlen, "%s: at least one account or \"*@domain\"", key);
		return -1;
	}
	out->pat = xcalloc(n, sizeof *out->pat);
	for (size_t i = 0; i < n; i++) {
		if (pattern_compile(g->accounts[i], key, i, &out->pat[i], err, errlen) < 0) {
			out->npat = i;
			return -1;
		}
	}
	out->npat = n;

	/* limits: the group's list where given, else the default */
	bool own_m = strv_len(g->messages) > 0, own_r = strv_len(g->recipients) > 0;
	char km[200], kr[200];
	snprintf(km, sizeof km, "submission.groups[%s].messages", name);
	snprintf(kr, sizeof kr, "submission.groups[%s].recipients", name);
	char *const *msgs = own_m ? g->messages : cfg->submission_account_messages;
	char *const *rcpts = own_r ? g->recipients : cfg->submission_account_recipients;
	if (kind_compile(msgs, rcpts, own_m ? km : "submission.account_messages",
	                 own_r ? kr : "submission.account_recipients", &out->account, err, errlen) < 0)
		return -1;

	char prefix[200];
	snprintf(prefix, sizeof prefix, "submission.groups[%s].", name);
	struct access own;
	memset(&own, 0, sizeof own);
	if (access_compile(g->allow_networks, g->deny_networks, g->allow_countries, g->deny_countries, prefix, &own,
	                   err, errlen) < 0) {
		access_free(&own);
		return -1;
	}
	/* per list: the group's if non-empty, else a copy of the global one */
	struct access *a = &out->acc;
	const struct access *gl = &c->acc;
#define PICK(f, nf, type)                                                                                              \
	do {                                                                                                           \
		if (own.nf > 0) {                                                                                      \
			a->f = own.f;                                                                                  \
			a->nf = own.nf;                                                                                \
			own.f = NULL;                                                                                  \
		} else if (gl->nf > 0) {                                                                               \
			a->f = xcalloc(gl->nf, sizeof(type));                                                          \
			memcpy(a->f, gl->f, gl->nf * sizeof(type));                                                    \
			a->nf = gl->nf;                                                                                \
		}                                                                                                      \
	} while (0)
	PICK(allow_net, n_allow_net, struct net);
	PICK(deny_net, n_deny_net, struct net);
	PICK(allow_cc, n_allow_cc, char[3]);
	PICK(deny_cc, n_deny_cc, char[3]);
#undef PICK
	access_free(&own);
	return 0;
}

void sub_config_free(struct sub_config **cp)
{
	if (cp == NULL || *cp == NULL)
		return;
	struct sub_config *c = *cp;
	for (size_t i = 0; i < c->ngroups; i++) {
		struct group *g = &c->groups[i];
		xfree(g->name);
		for (size_t k = 0; k < g->npat; k++)
			xfree(g->pat[k].s);
		xfree(g->pat);
		access_free(&g->acc);
	}
	xfree(c->groups);
	access_free(&c->acc);
	geoip_close(&c->geo);
	xfree(c->notify);
	xfree(c->notify_from);
	xfree(c->notify_url);
	xfree(c);
	*cp = NULL;
}

bool sub_config_enabled(const struct sub_config *c)
{
	return c != NULL && c->enabled;
}

struct sub_config *sub_config_compile(const struct mamori_config *cfg, char *err, size_t errlen)
{
	struct sub_config *c = xcalloc(1, sizeof *c);
	c->enabled = cfg->submission_enabled;
	c->reply_code = cfg->submission_reply_code;
	c->notify = xstrdup(cfg->submission_notify ? cfg->submission_notify : "");
	c->notify_from = xstrdup(cfg->submission_notify_from ? cfg->submission_notify_from : "");
	c->notify_url = xstrdup(cfg->submission_notify_smtp_url ? cfg->submission_notify_smtp_url : "");
	if (c->reply_code < 400 || c->reply_code > 599) {
		set_err(err, errlen, "submission.reply_code: %d is not a 4xx or 5xx code", c->reply_code);
		goto fail;
	}
	const char *oe = cfg->submission_on_error ? cfg->submission_on_error : "tempfail";
	if (strcmp(oe, "tempfail") == 0) {
		c->on_error = SUB_ON_ERROR_TEMPFAIL;
	} else if (strcmp(oe, "accept") == 0) {
		c->on_error = SUB_ON_ERROR_ACCEPT;
	} else {
		set_err(err, errlen, "submission.on_error: \"%s\" is neither tempfail nor accept", oe);
		goto fail;
	}
	if (kind_compile(cfg->submission_account_messages, cfg->submission_account_recipients,
	                 "submission.account_messages", "submission.account_recipients", &c->account, err,
	                 errlen) < 0 ||
	    kind_compile(cfg->submission_ip_messages, cfg->submission_ip_recipients, "submission.ip_messages",
	                 "submission.ip_recipients", &c->ip, err, errlen) < 0 ||
	    kind_compile(cfg->submission_account_ip_messages, cfg->submission_account_ip_recipients,
	                 "submission.account_ip_messages", "submission.account_ip_recipients", &c->account_ip, err,
	                 errlen) < 0)
		goto fail;
	if (parse_limits(cfg->submission_lock_messages, "submission.lock_messages", c->lockvol.msgs, &c->lockvol.nmsgs,
	                 err, errlen) < 0)
		goto fail;

	c->lock.max_ips = (unsigned)(cfg->submission_lock_max_ips > 0 ? cfg->submission_lock_max_ips : 0);
	c->lock.max_countries =
	    (unsigned)(cfg->submission_lock_max_countries > 0 ? cfg->submission_lock_max_countries : 0);
	c->lock.window_s = (uint32_t)(cfg->submission_lock_window > 0 ? cfg->submission_lock_window : 0);
	c->lock.lock_s = (uint32_t)(cfg->submission_lock_duration > 0 ? cfg->submission_lock_duration : 0);
	char e[200];
	if (lock_policy_validate(&c->lock, e, sizeof e) < 0) {
		set_err(err, errlen, "submission.lock_max_ips/lock_max_countries/lock_window: %s", e);
		goto fail;
	}

	if (access_compile(cfg->submission_allow_networks, cfg->submission_deny_networks,
	                   cfg->submission_allow_countries, cfg->submission_deny_countries, "submission.", &c->acc, err,
	                   errlen) < 0)
		goto fail;

	c->groups = cfg->n_submission_groups ? xcalloc(cfg->n_submission_groups, sizeof *c->groups) : NULL;
	for (size_t i = 0; i < cfg->n_submission_groups; i++) {
		c->ngroups = i + 1;
		if (group_compile(&cfg->submission_groups[i], c, cfg, &c->groups[i], err, errlen) < 0)
			goto fail;
		for (size_t k = 0; k < i; k++)
			if (strcmp(c->groups[k].name, c->groups[i].name) == 0) {
				set_err(err, errlen, "submission.groups[%s]: a second group of that name",
				        c->groups[i].name);
				goto fail;
			}
	}

	if (c->notify[0] != '\0' && strncmp(c->notify_url, "smtp://", 7) != 0 &&
	    strncmp(c->notify_url, "smtps://", 8) != 0) {
		set_err(err, errlen, "submission.notify_smtp_url: \"%s\" must be smtp://HOST[:PORT] or smtps://",
		        c->notify_url);
		goto fail;
	}
	if (c->notify[0] != '\0' && (strchr(c->notify, '@') == NULL || strpbrk(c->notify, " \t\r\n<>,") != NULL)) {
		set_err(err, errlen, "submission.notify: \"%s\" is not one mail address", c->notify);
		goto fail;
	}
	if (c->notify_from[0] != '\0' &&
	    (strchr(c->notify_from, '@') == NULL || strpbrk(c->notify_from, " \t\r\n<>,") != NULL)) {
		set_err(err, errlen, "submission.notify_from: \"%s\" is not one mail address", c->notify_from);
		goto fail;
	}

	/* countries need the database; the lock's country count uses it when there */
	bool need_geo = access_uses_countries(&c->acc);
	for (size_t i = 0; i < c->ngroups; i++)
		need_geo = need_geo || access_uses_countries(&c->groups[i].acc);
	const char *db = cfg->geoip_country_db ? cfg->geoip_country_db : "";
	if (need_geo && db[0] == '\0') {
		set_err(err, errlen, "submission.allow_countries/deny_countries: country rules need geoip.country_db");
		goto fail;
	}
	if (c->enabled && db[0] != '\0' && (need_geo || c->lock.max_countries > 0)) {
		char ge[300];
		c->geo = geoip_open(db, NULL, ge, sizeof ge);
		if (c->geo == NULL) {
			set_err(err, errlen, "geoip.country_db: %s", ge);
			goto fail;
		}
	}
	return c;
fail:
	sub_config_free(&c);
	return NULL;
}

/* ---------- engine ---------- */

struct sub_engine {
	struct limiter *lim;
	struct account_locks *locks;
	sub_event_fn sink;
	void *sink_ctx;
};

struct sub_engine *sub_engine_new(struct limiter *lim, struct account_locks *locks, sub_event_fn sink, void *sink_ctx)
{
	struct sub_engine *e = xcalloc(1, sizeof *e);
	e->lim = lim;
	e->locks = locks ? locks : account_locks_new(0);
	e->sink = sink;
	e->sink_ctx = sink_ctx;
	return e;
}

void sub_engine_free(struct sub_engine **ep)
{
	if (ep == NULL || *ep == NULL)
		return;
	limiter_free(&(*ep)->lim);
	account_locks_free(&(*ep)->locks);
	*ep = xfree(*ep);
}

struct account_locks *sub_engine_locks(struct sub_engine *e)
{
	return e->locks;
}

struct limiter *sub_engine_limiter(struct sub_engine *e)
{
	return e->lim;
}

const char *sub_reason_name(enum sub_reason r)
{
	switch (r) {
	case SUB_R_OK: return "ok";
	case SUB_R_NOT_APPLICABLE: return "not-applicable";
	case SUB_R_LOCKED: return "locked";
	case SUB_R_NEWLY_LOCKED: return "newly-locked";
	case SUB_R_DENY_NETWORK: return "deny-network";
	case SUB_R_DENY_COUNTRY: return "deny-country";
	case SUB_R_NOT_ALLOWED: return "not-allowed";
	case SUB_R_LIMIT: return "limit";
	case SUB_R_STATE_ERROR: return "state-error";
	case SUB_R_STATE_ACCEPTED: return "state-error-accepted";
	}
	return "?";
}

int sub_account_norm(const char *in, char *out, size_t outlen)
{
	if (in == NULL || outlen == 0)
		return -1;
	size_t n = strnlen(in, LOCK_ACCOUNT_MAX + 1);
	if (n == 0 || n > LOCK_ACCOUNT_MAX || n >= outlen)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (ch < 0x20 || ch == 0x7f)
			return -1;
		out[i] = (char)tolower(ch);
	}
	out[n] = '\0';
	return 0;
}

static const struct group *group_of(const struct sub_config *c, const char *acct)
{
	const char *at = strrchr(acct, '@');
	for (size_t i = 0; i < c->ngroups; i++) {
		const struct group *g = &c->groups[i];
		for (size_t k = 0; k < g->npat; k++) {
			const struct pattern *p = &g->pat[k];
			if (p->domain ? (at != NULL && strcmp(at + 1, p->s) == 0) : strcmp(acct, p->s) == 0)
				return g;
		}
	}
	return NULL;
}

static bool in_nets(const struct net *n, size_t count, const struct ipaddr *ip)
{
	if (ip == NULL)
		return false;
	for (size_t i = 0; i < count; i++)
		if (ip_match(ip, &n[i].net, n[i].prefix))
			return true;
	return false;
}

static bool in_ccs(char (*cc)[3], size_t count, const char *country)
{
	if (country == NULL || country[0] == '\0')
		return false;
	for (size_t i = 0; i < count; i++)
		if (strcasecmp(cc[i], country) == 0)
			return true;
	return false;
}

/* one decision's working set */
struct dctx {
	struct sub_engine *e;
	const struct sub_config *c;
	const struct sub_request *req;
	struct sub_verdict *v;
	const char *qid;
	char acct[LOCK_ACCOUNT_MAX + 1];
	char ipstr[IP_STRLEN];
	char ipkey[IP_STRLEN + 4]; /* IPv6: the /64 */
	char cc[4];
	struct ipaddr ip; /* unmapped; valid when req->ip != NULL */
	int64_t now_s;
	bool state_accepted;
};

static void refuse(struct dctx *d, enum sub_reason r, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void refuse(struct dctx *d, enum sub_reason r, int code, const char *fmt, ...)
{
	struct sub_verdict *v = d->v;
	v->refuse = true;
	v->reason = r;
	v->code = code;
	snprintf(v->xcode, sizeof v->xcode, "%s",
	         code == SUB_CODE_ERROR && r == SUB_R_STATE_ERROR ? "4.3.0"
	         : code >= 500                                    ? "5.7.1"
	                                                          : "4.7.1");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->text, sizeof v->text, fmt, ap);
	va_end(ap);
	/* the text reaches an SMTP reply: printable ASCII only, and no '%'
	   (libmilter's smfi_setreply treats it as a format character) */
	for (char *p = v->text; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '%')
			*p = '?';
	log_info("%s: submission: refused account=%s ip=%s country=%s group=%s reason=%s: %d %s %s", d->qid, d->acct,
	         d->ipstr[0] ? d->ipstr : "unknown", d->cc[0] ? d->cc : "-", v->group ? v->group : "-",
	         sub_reason_name(r), code, v->xcode, v->text);
}

static void emit(struct dctx *d, enum sub_event_kind kind, const char *detail, int64_t until)
{
	if (d->e->sink == NULL)
		return;
	struct sub_event ev = {
	    .kind = kind,
	    .time = d->now_s,
	    .account = d->acct,
	    .client_ip = d->ipstr,
	    .country = d->cc,
	    .detail = detail,
	    .until = until,
	    .notify_to = d->c->notify,
	    .notify_from = d->c->notify_from,
	    .notify_url = d->c->notify_url,
	};
	d->e->sink(d->e->sink_ctx, &ev);
}

/* state unreachable: true if the request is refused (tempfail) */
static bool state_error(struct dctx *d, const char *what, const char *why)
{
	if (d->c->on_error == SUB_ON_ERROR_ACCEPT) {
		log_warning("%s: submission: %s unavailable (%s) for account=%s ip=%s: accepted (on_error accept)",
		            d->qid, what, why ? why : "?", d->acct, d->ipstr[0] ? d->ipstr : "unknown");
		d->state_accepted = true;
		return false;
	}
	log_error("%s: submission: %s unavailable (%s) for account=%s: tempfail", d->qid, what, why ? why : "?",
	          d->acct);
	refuse(d, SUB_R_STATE_ERROR, SUB_CODE_ERROR, "temporary failure of the submission guard, try again later");
	return true;
}

static void until_text(int64_t until, char *out, size_t outlen)
{
	if (until == 0) {
		snprintf(out, outlen, "until an administrator unlocks it");
		return;
	}
	time_t t = (time_t)until;
	struct tm tm;
	gmtime_r(&t, &tm);
	char buf[40];
	strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
	snprintf(out, outlen, "until %s", buf);
}

static void refuse_locked(struct dctx *d, enum sub_reason r, int64_t until)
{
	char u[80];
	until_text(until, u, sizeof u);
	refuse(d, r, SUB_CODE_LOCKED, "account locked: contact your mail administrator (%s)", u);
}

static int64_t lock_until(const struct dctx *d)
{
	return d->c->lock.lock_s ? d->now_s + d->c->lock.lock_s : 0;
}

/* steps 2 and 3: true if refused */
static bool check_lock(struct dctx *d)
{
	char why[LOCK_WHY_MAX + 64];
	int64_t until = 0;
	if (d->req->ip == NULL) {
		if (account_locks_is_locked(d->e->locks, d->acct, d->now_s, &until)) {
			refuse_locked(d, SUB_R_LOCKED, until);
			return true;
		}
		return false;
	}
	enum lock_verdict lv =
	    account_locks_observe(d->e->locks, d->acct, d->req->ip, d->cc, &d->c->lock, d->now_s, why, sizeof why);
	switch (lv) {
	case LOCK_OK: return false;
	case LOCK_NEWLY_LOCKED:
		account_locks_is_locked(d->e->locks, d->acct, d->now_s, &until);
		log_warning("%s: submission: account %s locked automatically: %s (last from %s%s%s)", d->qid, d->acct,
		            why, d->ipstr, d->cc[0] ? " " : "", d->cc);
		emit(d, SUB_EV_LOCK, why, until);
		refuse_locked(d, SUB_R_NEWLY_LOCKED, until);
		return true;
	case LOCK_LOCKED:
		account_locks_is_locked(d->e->locks, d->acct, d->now_s, &until);
		refuse_locked(d, SUB_R_LOCKED, until);
		return true;
	case LOCK_ERROR: return state_error(d, "account lock table", why);
	}
	return false;
}

/* step 4: true if refused */
static bool check_access(struct dctx *d, const struct access *a)
{
	const struct ipaddr *ip = d->req->ip ? &d->ip : NULL;
	char detail[160];
	if (in_nets(a->deny_net, a->n_deny_net, ip)) {
		snprintf(detail, sizeof detail, "client %s in a denied network", d->ipstr);
		emit(d, SUB_EV_DENY, detail, 0);
		refuse(d, SUB_R_DENY_NETWORK, SUB_CODE_LOCKED, "submission from %s is not allowed", d->ipstr);
		return true;
	}
	if (in_ccs(a->deny_cc, a->n_deny_cc, d->cc)) {
		snprintf(detail, sizeof detail, "client country %s denied", d->cc);
		emit(d, SUB_EV_DENY, detail, 0);
		refuse(d, SUB_R_DENY_COUNTRY, SUB_CODE_LOCKED, "submission from country %s is not allowed", d->cc);
		return true;
	}
	if (a->n_allow_net + a->n_allow_cc > 0 && !in_nets(a->allow_net, a->n_allow_net, ip) &&
	    !in_ccs(a->allow_cc, a->n_allow_cc, d->cc)) {
		snprintf(detail, sizeof detail, "client %s (country %s) not in the allowed networks or countries",
		         d->ipstr[0] ? d->ipstr : "unknown", d->cc[0] ? d->cc : "unknown");
		emit(d, SUB_EV_DENY, detail, 0);
		refuse(d, SUB_R_NOT_ALLOWED, SUB_CODE_LOCKED, "submission from %s is not allowed for this account",
		       d->ipstr[0] ? d->ipstr : "this client");
		return true;
	}
	return false;
}

static bool counts_message(const struct sub_request *r)
{
	return r->stage == SUB_STAGE_MESSAGE || (r->stage == SUB_STAGE_RCPT && r->new_message);
}

static uint32_t msg_rcpts(const struct sub_request *r)
{
	return r->nrcpt == 0 ? 1 : r->nrcpt;
}

/* "<prefix><kind>:<a>[\0<b>]" */
static size_t key_make(char *out, size_t outlen, char prefix, enum rl_key_kind kind, const char *acct, const char *ip)
{
	size_t off = prefix ? 1 : 0;
	if (outlen < off + 1)
		return 0;
	size_t n = rl_key_build(out + off, outlen - off, kind, acct, ip);
	if (n == 0)
		return 0;
	if (prefix)
		out[0] = prefix;
	return n + off;
}

/* step 5: true if refused */
static bool check_volume(struct dctx *d)
{
	if (d->c->lockvol.nmsgs == 0 || !counts_message(d->req))
		return false;
	char key[RL_KEY_MAX + 2];
	char prefix = d->req->stage == SUB_STAGE_RCPT ? 'm' : 0;
	size_t off = prefix ? 1 : 0;
	key[0] = prefix;
	size_t alen = strlen(d->acct);
	if (off + 2 + alen > RL_KEY_MAX)
		return state_error(d, "volume counter", "account name too long");
	key[off] = 'L';
	key[off + 1] = ':';
	memcpy(key + off + 2, d->acct, alen);
	struct rl_decision rd;
	enum rl_outcome o = limiter_check(d->e->lim, key, off + 2 + alen, &d->c->lockvol, 0, d->req->now_ns, &rd);
	if (o == RL_ALLOW)
		return false;
	if (o != RL_DENY)
		return state_error(d, "volume counter", rd.reason);
	char why[LOCK_WHY_MAX];
	char per[32];
	snprintf(per, sizeof per, "%u s", rd.period_s);
	snprintf(why, sizeof why, "more than %u messages within %s (lock_messages)", rd.count, per);
	int64_t until = lock_until(d);
	if (account_locks_lock(d->e->locks, d->acct, d->now_s, until, why) < 0)
		return state_error(d, "account lock table", "table full");
	log_warning("%s: submission: account %s locked automatically: %s (last from %s%s%s)", d->qid, d->acct, why,
	            d->ipstr[0] ? d->ipstr : "unknown", d->cc[0] ? " " : "", d->cc);
	emit(d, SUB_EV_LOCK, why, until);
	refuse_locked(d, SUB_R_NEWLY_LOCKED, until);
	return true;
}

/* one limiter call of step 6: true if refused */
static bool check_call(struct dctx *d, const struct rl_policy *p, char prefix, enum rl_key_kind kind, uint32_t nrcpt,
                       const char *label)
{
	if (p->nmsgs + p->nrcpts == 0)
		return false;
	if (kind != RL_KEY_ACCOUNT && d->ipkey[0] == '\0')
		return false; /* no address: nothing to key on */
	char key[RL_KEY_MAX + 2];
	size_t klen = key_make(key, sizeof key, prefix, kind, d->acct, d->ipkey);
	if (klen == 0)
		return state_error(d, "rate limit", "key too long");
	struct rl_decision rd;
	enum rl_outcome o = limiter_check(d->e->lim, key, klen, p, nrcpt, d->req->now_ns, &rd);
	if (o == RL_ALLOW)
		return false;
	if (o != RL_DENY)
		return state_error(d, "rate limit state", rd.reason);
	char text[SUB_TEXT_MAX];
	rl_decision_text(&rd, d->c->reply_code, label, text, sizeof text);
	/* rl_decision_text starts with the enhanced code: split it off */
	const char *sp = strchr(text, ' ');
	const char *msg = sp ? sp + 1 : text;
	emit(d, SUB_EV_LIMIT, msg, 0);
	refuse(d, SUB_R_LIMIT, d->c->reply_code, "%s", msg);
	return true;
}

bool sub_decide(struct sub_engine *e, const struct sub_config *c, const struct sub_request *req, struct sub_verdict *v)
{
	memset(v, 0, sizeof *v);
	v->reason = SUB_R_OK;
	if (c == NULL || !c->enabled || req->account == NULL || req->account[0] == '\0') {
		v->reason = SUB_R_NOT_APPLICABLE;
		return false;
	}
	struct dctx d;
	memset(&d, 0, sizeof d);
	d.e = e;
	d.c = c;
	d.req = req;
	d.v = v;
	d.qid = req->qid ? req->qid : "NOQUEUE";
	d.now_s = req->now_ns / NS_PER_S;
	if (sub_account_norm(req->account, d.acct, sizeof d.acct) < 0) {
		snprintf(d.acct, sizeof d.acct, "(invalid)");
		refuse(&d, SUB_R_NOT_ALLOWED, SUB_CODE_LOCKED, "account name not acceptable");
		return true;
	}
	struct ipaddr ip;
	memset(&ip, 0, sizeof ip);
	if (req->ip != NULL) {
		/* keys and rules see IPv4-mapped IPv6 as IPv4; the observation
		   (account_lock.c) does the same with req->ip */
		ip = *req->ip;
		ip_unmap(&ip);
		d.ip = ip;
		ip_format(&ip, d.ipstr);
		if (ip.family == AF_INET6) {
			struct ipaddr net = ip;
			memset(net.a + 8, 0, 8);
			char b[IP_STRLEN];
			snprintf(d.ipkey, sizeof d.ipkey, "%s/64", ip_format(&net, b));
		} else {
			snprintf(d.ipkey, sizeof d.ipkey, "%s", d.ipstr);
		}
	}
	if (req->country != NULL) {
		snprintf(d.cc, sizeof d.cc, "%.2s", req->country);
	} else if (c->geo != NULL && req->ip != NULL) {
		struct geoip_result gr;
		if (geoip_lookup(c->geo, &ip, &gr) > 0 && gr.have_country)
			snprintf(d.cc, sizeof d.cc, "%.2s", gr.country_iso);
	}
	for (char *p = d.cc; *p; p++)
		*p = (char)toupper((unsigned char)*p);

	const struct group *g = group_of(c, d.acct);
	v->group = g ? g->name : NULL;

	if (check_lock(&d) || check_access(&d, g ? &g->acc : &c->acc) || check_volume(&d))
		return true;
	/* step 6, keys in the order account+ip, ip, account */
	struct {
		const struct kind_policy *k;
		enum rl_key_kind kind;
		char label[LOCK_ACCOUNT_MAX + IP_STRLEN + 16];
	} ks[3];
	ks[0].k = &c->account_ip;
	ks[0].kind = RL_KEY_ACCOUNT_IP;
	snprintf(ks[0].label, sizeof ks[0].label, "sasl:%s/ip:%s", d.acct, d.ipkey);
	ks[1].k = &c->ip;
	ks[1].kind = RL_KEY_IP;
	snprintf(ks[1].label, sizeof ks[1].label, "ip:%s", d.ipkey);
	ks[2].k = g ? &g->account : &c->account;
	ks[2].kind = RL_KEY_ACCOUNT;
	snprintf(ks[2].label, sizeof ks[2].label, "sasl:%s", d.acct);
	if (req->stage == SUB_STAGE_MESSAGE) {
		for (int i = 0; i < 3; i++)
			if (check_call(&d, &ks[i].k->full, 0, ks[i].kind, msg_rcpts(req), ks[i].label))
				return true;
	} else if (req->stage == SUB_STAGE_RCPT) {
		/* every message window first, so a refusal in a recipient
		   window leaves the message counted exactly once */
		if (req->new_message) {
			for (int i = 0; i < 3; i++)
				if (check_call(&d, &ks[i].k->msgs, 'm', ks[i].kind, 0, ks[i].label))
					return true;
			v->message_counted = true;
		}
		for (int i = 0; i < 3; i++)
			if (check_call(&d, &ks[i].k->rcpts, 'r', ks[i].kind, 1, ks[i].label))
				return true;
	}
	v->reason = d.state_accepted ? SUB_R_STATE_ACCEPTED : SUB_R_OK;
	log_debug("%s: submission: allowed account=%s ip=%s group=%s", d.qid, d.acct, d.ipstr[0] ? d.ipstr : "unknown",
	          g ? g->name : "-");
	return false;
}
