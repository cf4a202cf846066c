/*
 * submission: the submission guard's engine. Owns (a) the compiled form of
 * the submission.* configuration (struct sub_config: limits, groups, access
 * rules, lock policy; immutable, one per settings snapshot, so a reload swaps
 * it atomically) and (b) the long-lived state that must survive a reload
 * (struct sub_engine: the limiter of limiter.h, the account_lock table, and
 * a sink that persists events and sends notifications). The milter and the
 * policy service both ask sub_decide(); neither knows the rules.
 *
 * One decision, in this order (the first refusal wins):
 *   1. the account is normalised (ASCII lower case) and its group found: the
 *      first group with a pattern "user@dom" equal to it or "*@dom" matching
 *      its domain (case-insensitive);
 *   2. stolen-account observation (account_lock.c): the client address and
 *      its country are recorded; more than lock_max_ips addresses or
 *      lock_max_countries countries within lock_window locks the account;
 *   3. a locked account is refused: 554 5.7.1 "account locked: ...";
 *   4. access rules (per list: the group's list if non-empty, else the
 *      global one): a client in deny_networks, or from a country in
 *      deny_countries, is refused; with allow_networks or allow_countries
 *      set, a client matching neither is refused: 554 5.7.1;
 *   5. the volume lock (lock_messages): every message that got this far is
 *      counted, refused or not by the limits below, so a spam run that keeps
 *      hitting the rate limit still trips it; over it the account is locked
 *      and refused (554 5.7.1);
 *   6. rate limits, each key in turn: account+ip, ip, account (the group's
 *      messages/recipients if set, else the defaults). Over a limit:
 *      submission.reply_code (451 by default) with rl_decision_text's text.
 * Denied networks and countries are refused with a 5xx whatever
 * submission.reply_code says: retrying cannot help. Locked accounts too.
 *
 * Counting. SUB_STAGE_MESSAGE charges one message and nrcpt recipients in
 * one atomic limiter call per key (the milter at end of message, a policy
 * request at DATA or END-OF-MESSAGE). SUB_STAGE_RCPT charges one recipient,
 * and one message when new_message is set (the first RCPT of a message): its
 * keys are separate ("m" + key for messages, "r" + key for recipients), so a
 * site running both the milter and an RCPT-time policy service applies each
 * limit once per path, never twice to one path. SUB_STAGE_CHECK (any other
 * protocol state) applies observation, locks and access rules only.
 * A message refused by one key may already have been counted against the
 * keys checked before it (account+ip before ip before account); with only the
 * default account limits every decision is exact. IPv6 clients are keyed by
 * their /64, as one host rotates addresses inside it.
 *
 * Shared state unreachable (limiter RL_UNAVAILABLE, RL_FULL, RL_ERROR; lock
 * table full): submission.on_error "tempfail" answers 451 4.3.0, "accept"
 * lets the message through with a warning logged every time.
 *
 * Every refusal and every lock is logged at info ("submission: ...") with
 * the queue id, and handed to the engine's event sink (persisted as an
 * account_event by guard_worker.c). Nothing here blocks beyond the limiter
 * (a Redis round trip, bounded by redis.timeout_ms) and short mutexes.
 */
#ifndef MAMORI_GUARD_SUBMISSION_H
#define MAMORI_GUARD_SUBMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/ip.h"
#include "guard/account_lock.h"
#include "guard/limiter.h"
#include "guard/ratelimit.h"

#define SUB_LIMIT_MAX 64    /* bytes of a limit string "N/PERIOD" */
#define SUB_TEXT_MAX 400    /* reply text; fits POLICY_MAX_REPLY_TEXT */
#define SUB_CODE_LOCKED 554 /* locked accounts, access rules */
#define SUB_CODE_ERROR 451  /* on_error tempfail (RFC 3463 4.3.0) */

/*
 * "90", "90s", "15m", "2h", "1d" -> seconds (1 .. RL_PERIOD_MAX); no
 * spaces, no sign. 0 on success, -1 with a reason in err.
 */
int sub_period_parse(const char *s, uint32_t *secs_r, char *err, size_t errlen);

/*
 * "N/PERIOD", e.g. "100/1h", "5/30s", "2000/1d": N in 1 .. RL_COUNT_MAX,
 * PERIOD as sub_period_parse (a bare "h" means "1h"). 0 or -1 with a reason.
 */
int sub_limit_parse(const char *s, struct rl_limit *lim_r, char *err, size_t errlen);

struct sub_config;

/*
 * Compiles cfg's submission.* keys (and geoip.country_db when country rules
 * are set). NULL with "submission.KEY: reason" (or
 * "submission.groups[NAME].KEY: reason") in err. Opens the GeoIP database
 * if one is configured. The result is immutable and safe to share between
 * threads.
 */
struct sub_config *sub_config_compile(const struct mamori_config *cfg, char *err, size_t errlen);
void sub_config_free(struct sub_config **c);
bool sub_config_enabled(const struct sub_config *c);

enum sub_on_error { SUB_ON_ERROR_TEMPFAIL, SUB_ON_ERROR_ACCEPT };

/* ---- events: what the engine reports for the record ---- */

enum sub_event_kind {
	SUB_EV_LOCK,  /* automatic lock (observation or volume) */
	SUB_EV_LIMIT, /* a rate limit refused a message or recipient */
	SUB_EV_DENY,  /* an access rule refused the client */
};

struct sub_event {
	enum sub_event_kind kind;
	int64_t time;          /* Unix seconds */
	const char *account;   /* normalised */
	const char *client_ip; /* text, "" when unknown */
	const char *country;   /* "" when unknown */
	const char *detail;    /* the reason, one line */
	int64_t until;         /* SUB_EV_LOCK: lock end, 0 = until unlocked */
	const char *notify_to; /* SUB_EV_LOCK: submission.notify ("" = none) */
	const char *notify_from;
	const char *notify_url;
};

/* Called from the deciding thread; must copy what it keeps and not block. */
typedef void (*sub_event_fn)(void *ctx, const struct sub_event *ev);

/* ---- the engine (state outside the snapshot) ---- */

struct sub_engine;

/* Takes ownership of lim (required) and locks (NULL: a new table). sink may
   be NULL. Never returns NULL. */
struct sub_engine *sub_engine_new(struct limiter *lim, struct account_locks *locks, sub_event_fn sink, void *sink_ctx);
void sub_engine_free(struct sub_engine **e);
struct account_locks *sub_engine_locks(struct sub_engine *e);
struct limiter *sub_engine_limiter(struct sub_engine *e);

enum sub_stage {
	SUB_STAGE_MESSAGE, /* one message with nrcpt recipients */
	SUB_STAGE_RCPT,    /* one recipient (and one message if new_message) */
	SUB_STAGE_CHECK,   /* nothing counted */
};

struct sub_request {
	const char *account;     /* SASL user name; "" or NULL: not applicable */
	const struct ipaddr *ip; /* NULL when unknown */
	const char *country;     /* ISO code; NULL: look up in the config's GeoIP */
	enum sub_stage stage;
	uint32_t nrcpt;   /* MESSAGE: recipients (0 counts as 1) */
	bool new_message; /* RCPT: first recipient of a message */
	int64_t now_ns;   /* CLOCK_REALTIME */
	const char *qid;  /* for the log; NULL: "NOQUEUE" */
};

enum sub_reason {
	SUB_R_OK,             /* allowed */
	SUB_R_NOT_APPLICABLE, /* no account, or the guard is disabled */
	SUB_R_LOCKED,         /* the account is locked */
	SUB_R_NEWLY_LOCKED,   /* this request locked it (observation or volume) */
	SUB_R_DENY_NETWORK,
	SUB_R_DENY_COUNTRY,
	SUB_R_NOT_ALLOWED,    /* allow lists set, the client matches none */
	SUB_R_LIMIT,          /* a rate limit */
	SUB_R_STATE_ERROR,    /* state unavailable, on_error tempfail */
	SUB_R_STATE_ACCEPTED, /* state unavailable, on_error accept */
};

struct sub_verdict {
	bool refuse;
	enum sub_reason reason;
	int code;                /* refuse: SMTP code */
	char xcode[8];           /* refuse: enhanced status code "4.7.1" */
	char text[SUB_TEXT_MAX]; /* refuse: reply text without the codes */
	const char *group;       /* matched group name (points into the config) or NULL */
	bool message_counted;    /* RCPT stage with new_message: every message window
	                            passed and was charged (the next RCPT of this
	                            message must not count it again) */
};

/* the reason as a word for logs and JSON ("limit", "locked", ...) */
const char *sub_reason_name(enum sub_reason r);

/*
 * Decides one request (see the top of this file). Fills *v (required) and
 * returns v->refuse. Thread-safe. May block on a Redis round trip.
 */
bool sub_decide(struct sub_engine *e, const struct sub_config *c, const struct sub_request *req, struct sub_verdict *v);

/* Account normalisation used everywhere (store, CLI): ASCII lower case into
   out; -1 if empty, longer than LOCK_ACCOUNT_MAX or containing a control
   byte. */
int sub_account_norm(const char *in, char *out, size_t outlen);

#endif
