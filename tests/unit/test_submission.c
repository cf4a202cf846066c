/* unit tests for src/guard/submission: limit strings, config compile errors
 * naming the key, group matching, every refusal kind (limits per account,
 * IP, account+IP, recipients, access rules, IP/country/volume locks), the
 * RCPT-stage counting, and submission.on_error both ways. The limiter is a
 * double of limiter.h over the real ratelimit.c that can play "Redis down".
 * Configurations go through config_load, as mamorid reads them. Time is an
 * argument: nothing sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "guard/limiter.h"
#include "guard/submission.h"

/* ---------- limiter.h double ---------- */

struct limiter {
	struct ratelimit *rl;
	bool down;
	unsigned calls;
};

struct limiter *limiter_local_new(size_t max_entries)
{
	struct limiter *l = calloc(1, sizeof *l);
	l->rl = ratelimit_new(max_entries);
	return l;
}

void limiter_free(struct limiter **l)
{
	if (l == NULL || *l == NULL)
		return;
	ratelimit_free(&(*l)->rl);
	free(*l);
	*l = NULL;
}

enum rl_outcome limiter_check(struct limiter *l, const char *key, size_t keylen, const struct rl_policy *p,
                              uint32_t nrcpt, int64_t now_ns, struct rl_decision *d_r)
{
	l->calls++;
	if (l->down) {
		memset(d_r, 0, sizeof *d_r);
		d_r->outcome = RL_UNAVAILABLE;
		d_r->reason = "redis: connection refused";
		return RL_UNAVAILABLE;
	}
	return ratelimit_check(l->rl, key, keylen, p, nrcpt, now_ns, d_r);
}

const char *limiter_kind(const struct limiter *l)
{
	(void)l;
	return "test";
}

/* ---------- helpers ---------- */

#define S(t) ((int64_t)(t)*1000000000)
#define T0 1700000000

struct captured {
	unsigned n, locks, limits, denies;
	char last_detail[200];
	int64_t last_until;
};

static void sink(void *ctx, const struct sub_event *ev)
{
	struct captured *c = ctx;
	c->n++;
	c->locks += ev->kind == SUB_EV_LOCK;
	c->limits += ev->kind == SUB_EV_LIMIT;
	c->denies += ev->kind == SUB_EV_DENY;
	snprintf(c->last_detail, sizeof c->last_detail, "%s", ev->detail);
	c->last_until = ev->until;
}

struct fx {
	struct mamori_config cfg;
	struct sub_config *c;
	struct sub_engine *e;
	struct limiter *lim;
	struct captured cap;
	char err[512];
};

/* loads "general = {...}; submission = { BODY };" over the defaults */
static int load(struct fx *f, const char *body)
{
	char path[] = "/tmp/test_submission.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *fp = fdopen(fd, "w");
	fprintf(fp, "%s\n", body);
	fclose(fp);
	int rc = config_load(path, &f->cfg, f->err, sizeof f->err);
	unlink(path);
	return rc;
}

static void fx_setup(struct fx *f, const char *body)
{
	memset(f, 0, sizeof *f);
	if (load(f, body) < 0)
		fail_msg("config: %s", f->err);
	f->c = sub_config_compile(&f->cfg, f->err, sizeof f->err);
	if (f->c == NULL)
		fail_msg("compile: %s", f->err);
	f->lim = limiter_local_new(0);
	f->e = sub_engine_new(f->lim, NULL, sink, &f->cap);
}

static void fx_teardown(struct fx *f)
{
	sub_engine_free(&f->e);
	sub_config_free(&f->c);
	config_free(&f->cfg);
}

/* the compile error for body, or "" when it compiles */
static const char *compile_error(const char *body, char *err, size_t errlen)
{
	struct fx f;
	memset(&f, 0, sizeof f);
	err[0] = '\0';
	if (load(&f, body) < 0) {
		snprintf(err, errlen, "LOAD: %s", f.err);
	} else {
		struct sub_config *c = sub_config_compile(&f.cfg, err, errlen);
		if (c != NULL)
			err[0] = '\0';
		sub_config_free(&c);
	}
	config_free(&f.cfg);
	return err;
}

static struct ipaddr A(const char *s) {
	struct ipaddr a;
	if (ip_parse(s, &a) != 0)
		fail_msg("bad address %s", s);
	return a;
}

/* one message of n recipients at t seconds */
static bool
msg(struct fx *f, const char *acct, const char *ip, const char *cc, unsigned n, int64_t t, struct sub_verdict *v)
{
	struct ipaddr a;
	if (ip)
		a = A(ip);
	struct sub_request r = {
	    .account = acct,
	    .ip = ip ? &a : NULL,
	    .country = cc,
	    .stage = SUB_STAGE_MESSAGE,
	    .nrcpt = n,
	    .now_ns = S(T0 + t),
	    .qid = "TEST",
	};
	return sub_decide(f->e, f->c, &r, v);
}

static bool rcpt(struct fx *f, const char *acct, const char *ip, bool first, int64_t t, struct sub_verdict *v)
{
	struct ipaddr a = A(ip);
	struct sub_request r = {
	    .account = acct,
	    .ip = &a,
	    .country = "",
	    .stage = SUB_STAGE_RCPT,
	    .nrcpt = 1,
	    .new_message = first,
	    .now_ns = S(T0 + t),
	};
	return sub_decide(f->e, f->c, &r, v);
}

/* ---------- limit strings ---------- */

static void test_limit_parse(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int ok;
		uint32_t count, period;
	} cases[] = {
	    {"100/1h", 1, 100, 3600},
	    {"5/30s", 1, 5, 30},
	    {"2000/1d", 1, 2000, 86400},
	    {"1/h", 1, 1, 3600},
	    {"10/90", 1, 10, 90},
	    {"7/15m", 1, 7, 900},
	    {"1/366d", 1, 1, 366 * 86400},
	    {"1000000000/1s", 1, 1000000000, 1},
	    {"0/1h", 0, 0, 0},
	    {"100", 0, 0, 0},
	    {"100/", 0, 0, 0},
	    {"/1h", 0, 0, 0},
	    {"100/0h", 0, 0, 0},
	    {"100/1x", 0, 0, 0},
	    {"-1/1h", 0, 0, 0},
	    {"100/367d", 0, 0, 0},
	    {"1000000001/1h", 0, 0, 0},
	    {"100/ 1h", 0, 0, 0},
	    {"100/1h ", 0, 0, 0},
	    {" 100/1h", 0, 0, 0},
	    {"100/1h/2", 0, 0, 0},
	    {"100/-1h", 0, 0, 0},
	    {"99999999999999/1h", 0, 0, 0},
	    {"", 0, 0, 0},
	    {"1/99999999999999s", 0, 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct rl_limit l = {0, 0};
		char err[200] = "";
		int rc = sub_limit_parse(cases[i].s, &l, err, sizeof err);
		if (cases[i].ok) {
			if (rc != 0)
				fail_msg("\"%s\" refused: %s", cases[i].s, err);
			assert_int_equal(l.count, cases[i].count);
			assert_int_equal(l.period_s, cases[i].period);
		} else {
			if (rc == 0)
				fail_msg("\"%s\" accepted as %u/%u", cases[i].s, l.count, l.period_s);
			assert_true(err[0] != '\0');
		}
	}
	uint32_t s;
	char err[100];
	assert_int_equal(sub_period_parse("2h", &s, err, sizeof err), 0);
	assert_int_equal(s, 7200);
	assert_int_equal(sub_period_parse("45", &s, err, sizeof err), 0);
	assert_int_equal(s, 45);
	assert_int_equal(sub_period_parse("h", &s, err, sizeof err), 0);
	assert_int_equal(s, 3600);
	assert_int_equal(sub_period_parse("", &s, err, sizeof err), -1);
	assert_int_equal(sub_period_parse("0s", &s, err, sizeof err), -1);
	assert_int_equal(sub_period_parse("2w", &s, err, sizeof err), -1);
}

/* ---------- compile errors ---------- */

static void test_compile_errors(void **state)
{
	(void)state;
	static const struct {
		const char *body, *want;
	} cases[] = {
	    {"submission = { account_messages = [ \"100/1h\", \"x\" ]; };", "submission.account_messages[1]: "},
	    {"submission = { ip_recipients = [ \"5/1q\" ]; };", "submission.ip_recipients[0]: \"5/1q\""},
	    {"submission = { account_ip_messages = [ \"1/1m\", \"2/2m\", \"3/3m\", \"4/4m\", \"5/5m\" ]; };",
	     "submission.account_ip_messages: at most 4 limits"},
	    {"submission = { account_messages = [ \"1/1h\", \"2/60m\" ]; };",
	     "submission.account_messages[1]: a second limit for the same period"},
	    {"submission = { lock_messages = [ \"0/1h\" ]; };", "submission.lock_messages[0]"},
	    {"submission = { deny_networks = [ \"192.0.2.0/24\", \"not-a-net\" ]; };",
	     "submission.deny_networks[1]: \"not-a-net\" is not an address or CIDR"},
	    {"submission = { allow_networks = [ \"192.0.2.0/33\" ]; };", "submission.allow_networks[0]"},
	    {"submission = { deny_countries = [ \"CN\" ]; };", "need geoip.country_db"},
	    {"geoip = { country_db = \"/nonexistent.mmdb\"; }; submission = { allow_countries = [ \"JPN\" ]; };",
	     "submission.allow_countries[0]: \"JPN\" is not an ISO 3166 country code"},
	    {"geoip = { country_db = \"/nonexistent.mmdb\"; }; submission = { deny_countries = [ \"CN\" ]; };",
	     "geoip.country_db: "},
	    {"submission = { on_error = \"accept\"; notify = \"admin@example.com\"; notify_smtp_url = "
	     "\"http://x\"; };",
	     "submission.notify_smtp_url: "},
	    {"submission = { notify = \"a@b, c@d\"; };", "submission.notify: "},
	    {"submission = { groups = ( { name = \"bulk\"; accounts = [ \"a*@example.com\" ]; } ); };",
	     "submission.groups[bulk].accounts[0]: \"a*@example.com\": '*' only as \"*@domain\""},
	    {"submission = { groups = ( { name = \"bulk\"; accounts = [ \"*@\" ]; } ); };",
	     "submission.groups[bulk].accounts[0]"},
	    {"submission = { groups = ( { name = \"bulk\"; accounts = [ \"*@x.example\" ]; messages = [ "
	     "\"5000/1y\" ]; } ); };",
	     "submission.groups[bulk].messages[0]: \"5000/1y\""},
	    {"submission = { groups = ( { name = \"g\"; accounts = [ \"a@x\" ]; deny_networks = [ \"300.1.1.1\" ]; "
	     "} ); };",
	     "submission.groups[g].deny_networks[0]"},
	    {"submission = { groups = ( { name = \"g\"; accounts = [ \"a@x\" ]; }, { name = \"g\"; accounts = [ "
	     "\"b@x\" ]; } ); };",
	     "submission.groups[g]: a second group of that name"},
	    {"submission = { groups = ( { name = \"g\"; accounts = [ ]; } ); };",
	     "submission.groups: entry needs a non-empty accounts"},
	};
	char err[512];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		compile_error(cases[i].body, err, sizeof err);
		if (strstr(err, cases[i].want) == NULL)
			fail_msg("case %zu: want \"%s\" in \"%s\"", i, cases[i].want, err);
	}
	/* the defaults and a full valid configuration compile */
	assert_string_equal(compile_error("", err, sizeof err), "");
	assert_string_equal(
	    compile_error("submission = { reply_code = 550; on_error = \"accept\"; ip_messages = [ \"10/1m\" ];"
	                  " deny_networks = [ \"198.51.100.0/24\", \"2001:db8:bad::/48\" ];"
	                  " groups = ( { name = \"bulk\"; accounts = [ \"news@example.com\", \"*@lists.example.com\" ];"
	                  " messages = [ \"5000/1h\" ]; } ); lock_messages = [ \"1000/1h\" ]; };",
	                  err, sizeof err),
	    "");
}

/* ---------- groups ---------- */

static void test_groups(void **state)
{
	(void)state;
	struct fx f;
	fx_setup(
	    &f,
	    "submission = { account_messages = [ \"1/1h\" ];"
	    " groups = ( { name = \"bulk\"; accounts = [ \"News@Example.com\", \"*@lists.example.com\" ];"
	    " messages = [ \"3/1h\" ]; },"
	    " { name = \"second\"; accounts = [ \"news@example.com\", \"plain\" ]; messages = [ \"2/1h\" ]; } ); };");
	struct sub_verdict v;
	static const struct {
		const char *acct, *group;
		int allowed; /* messages allowed in a row */
	} cases[] = {
	    {"news@example.com", "bulk", 3}, /* first group naming it wins */
	    {"NEWS@EXAMPLE.COM", "bulk", 0}, /* same account, case folded: already used up */
	    {"x@lists.example.com", "bulk", 3},   {"y@LISTS.example.com", "bulk", 3},
	    {"x@sub.lists.example.com", NULL, 1}, /* "*@dom" is that domain only */
	    {"x@example.com", NULL, 1},           {"plain", "second", 2},
	    {"plain@example.com", NULL, 1},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (int k = 0; k < cases[i].allowed; k++) {
			if (msg(&f, cases[i].acct, "192.0.2.1", "", 1, 0, &v))
				fail_msg("%s: message %d refused: %s", cases[i].acct, k + 1, v.text);
			if (cases[i].group)
				assert_string_equal(v.group, cases[i].group);
			else
				assert_null(v.group);
		}
		assert_true(msg(&f, cases[i].acct, "192.0.2.1", "", 1, 0, &v));
		assert_int_equal(v.reason, SUB_R_LIMIT);
	}
	fx_teardown(&f);
}

/* ---------- limits ---------- */

static void test_account_limit(void **state)
{
	(void)state;
	struct fx f;
	fx_setup(&f, "submission = { account_messages = [ \"3/1h\" ]; account_recipients = [ \"10/1h\" ]; };");
	struct sub_verdict v;
	for (int i = 0; i < 3; i++) {
		assert_false(msg(&f, "alice@example.com", "192.0.2.1", "", 2, i, &v));
		assert_int_equal(v.reason, SUB_R_OK);
	}
	assert_true(msg(&f, "alice@example.com", "192.0.2.1", "", 1, 3, &v));
	assert_int_equal(v.reason, SUB_R_LIMIT);
	assert_int_equal(v.code, 451);
	assert_string_equal(v.xcode, "4.7.1");
	assert_string_equal(v.text,
	                    "rate limit exceeded: 3 messages per 1 h for sasl:alice@example.com; retry in 20 min");
	assert_int_equal(f.cap.limits, 1);
	/* another account is not affected; the refusal cost nothing */
	assert_false(msg(&f, "bob@example.com", "192.0.2.1", "", 1, 3, &v));
	/* GCRA: one message back every 20 min */
	assert_false(msg(&f, "alice@example.com", "192.0.2.1", "", 1, 1200, &v));
	assert_true(msg(&f, "alice@example.com", "192.0.2.1", "", 1, 1201, &v));
	/* recipients: 11 in one message can never pass 10/1h */
	assert_true(msg(&f, "carol@example.com", "192.0.2.1", "", 11, 0, &v));
	assert_int_equal(v.reason, SUB_R_LIMIT);
	assert_non_null(strstr(v.text, "11 recipients in one message, over the limit of 10 recipients per 1 h"));
	/* 6 + 4 pass, then one more recipient does not */
	assert_false(msg(&f, "carol@example.com", "192.0.2.1", "", 6, 0, &v));
	assert_false(msg(&f, "carol@example.com", "192.0.2.1", "", 4, 0, &v));
	assert_true(msg(&f, "carol@example.com", "192.0.2.1", "", 1, 0, &v));
	assert_non_null(strstr(v.text, "10 recipients per 1 h for sasl:carol@example.com"));
	fx_teardown(&f);
}

static void test_reply_code_5xx(void **state)
{
	(void)state;
	struct fx f;
	fx_setup(&f, "submission = { reply_code = 550; account_messages = [ \"1/1m\" ]; };");
	struct sub_verdict v;
	assert_false(msg(&f, "a@x", "192.0.2.1", "", 1, 0, &v));
	assert_true(msg(&f, "a@x", "192.0.2.1", "", 1, 0, &v));
	assert_int_equal(v.code, 550);
	assert_string_equal(v.xcode, "5.7.1");
	fx_teardown(&f);
}

static void test_ip_limits(void **state)
{
	(void)state;
	struct fx f;
	fx_setup(&f, "submission = { account_messages = [ ]; account_recipients = [ ];"
	             " ip_messages = [ \"2/1h\" ]; account_ip_messages = [ \"3/1h\" ]; };");
	struct sub_verdict v;
	/* per IP, whatever the account */
	assert_false(msg(&f, "a@x", "192.0.2.1", "", 1, 0, &v));
	assert_false(msg(&f, "b@x", "192.0.2.1", "", 1, 0, &v));
	assert_true(msg(&f, "c@x", "192.0.2.1", "", 1, 0, &v));
	assert_int_equal(v.reason, SUB_R_LIMIT);
	assert_non_null(strstr(v.text, "2 messages per 1 h for ip:192.0.2.1"));
	/* IPv6 by /64: two addresses of one /64 share the limit */
	assert_false(msg(&f, "a@x", "2001:db8:1:2::1", "", 1, 0, &v));
	assert_false(msg(&f, "a@x", "2001:db8:1:2::ffff", "", 1, 0, &v));
	assert_true(msg(&f, "a@x", "2001:db8:1:2:abcd::9", "", 1, 0, &v));
	assert_non_null(strstr(v.text, "ip:2001:db8:1:2::/64"));
	assert_false(msg(&f, "a@x", "2001:db8:1:3::1", "", 1, 0, &v));
	/* IPv4-mapped is the IPv4 address */
	assert_true(msg(&f, "z@x", "::ffff:192.0.2.1", "", 1, 0, &v));
	fx_teardown(&f);

	/* account+ip: the same account from another address has its own count */
	fx_setup(&f, "submission = { account_messages = [ ]; account_recipients = [ ];"
	             " account_ip_messages = [ \"2/1h\" ]; };");
	assert_false(msg(&f, "a@x", "192.0.2.1", "", 1, 0, &v));
	assert_false(msg(&f, "a@x", "192.0.2.1", "", 1, 0, &v));
	assert_true(msg(&f, "a@x", "192.0.2.1", "", 1, 0, &v));
	assert_non_null(strstr(v.text, "for sasl:a@x/ip:192.0.2.1"));
	assert_false(msg(&f, "a@x", "192.0.2.2", "", 1, 0, &v));
	assert_false(msg(&f, "b@x", "192.0.2.1", "", 1, 0, &v));
	/* no address known: per-IP keys do not apply */
	assert_false(msg(&f, "a@x", NULL, "", 1, 0, &v));
	fx_teardown(&f);
}

/* ---------- access rules ---------- */

static void test_access(void **state)
{
	(void)state;
	struct fx f;
	/* country rules need geoip.country_db at compile time; the request
	   carries the country here, so any database file will do */
	const char *mmdb = MAMORI_CORPUS "/mmdb-test/test-data/GeoIP2-Country-Test.mmdb";
	if (access(mmdb, R_OK) != 0)
		skip();
	char body[2048];
	snprintf(body, sizeof body,
	         "geoip = { country_db = \"%s\"; };"
	         "submission = { deny_networks = [ \"198.51.100.0/24\" ]; deny_countries = [ \"cn\" ];"
	         " groups = ( { name = \"office\"; accounts = [ \"*@office.example\" ];"
	         "   allow_networks = [ \"203.0.113.0/24\" ]; allow_countries = [ \"JP\" ]; },"
	         " { name = \"china\"; accounts = [ \"*@cn.example\" ]; deny_countries = [ \"RU\" ]; } ); };",
	         mmdb);
	fx_setup(&f, body);
	struct sub_verdict v;
	assert_false(msg(&f, "a@x", "192.0.2.1", "US", 1, 0, &v));
	assert_true(msg(&f, "a@x", "198.51.100.7", "US", 1, 0, &v));
	assert_int_equal(v.reason, SUB_R_DENY_NETWORK);
	assert_int_equal(v.code, 554);
	assert_string_equal(v.xcode, "5.7.1");
	assert_string_equal(v.text, "submission from 198.51.100.7 is not allowed");
	/* IPv4-mapped IPv6 is matched as IPv4 */
	assert_true(msg(&f, "a@x", "::ffff:198.51.100.8", "US", 1, 0, &v));
	assert_int_equal(v.reason, SUB_R_DENY_NETWORK);
	assert_string_equal(v.text, "submission from 198.51.100.8 is not allowed");
	assert_true(msg(&f, "a@x", "192.0.2.1", "CN", 1, 0, &v));
	assert_int_equal(v.reason, SUB_R_DENY_COUNTRY);
	assert_string_equal(v.text, "submission from country CN is not allowed");
	assert_int_equal(f.cap.denies, 3);
	/* group office: only its network or JP; the global deny_networks still applies */
	assert_false(msg(&f, "u@office.example", "203.0.113.5", "US", 1, 0, &v));
	assert_string_equal(v.group, "office");
	assert_false(msg(&f, "u@office.example", "192.0.2.9", "JP", 1, 0, &v));
	assert_true(msg(&f, "u@office.example", "192.0.2.9", "US", 1, 0, &v));
	assert_int_equal(v.reason, SUB_R_NOT_ALLOWED);
	assert_true(msg(&f, "u@office.example", "192.0.2.9", "", 1, 0, &v)); /* unknown country */
	assert_true(msg(&f, "u@office.example", "198.51.100.7", "JP", 1, 0, &v));
	assert_int_equal(v.reason, SUB_R_DENY_NETWORK);
	/* group china replaces the global deny_countries */
	assert_false(msg(&f, "u@cn.example", "192.0.2.1", "CN", 1, 0, &v));
	assert_true(msg(&f, "u@cn.example", "192.0.2.1", "RU", 1, 0, &v));
	assert_int_equal(v.reason, SUB_R_DENY_COUNTRY);
	fx_teardown(&f);
}

/* ---------- locks ---------- */

static void test_lock_ips(void **state)
{
	(void)state;
	struct fx f;
	fx_setup(&f, "submission = { lock_max_ips = 2; lock_max_countries = 0; lock_window = 3600;"
	             " lock_duration = 1800; };");
	struct sub_verdict v;
	assert_false(msg(&f, "a@x", "192.0.2.1", "", 1, 0, &v));
	assert_false(msg(&f, "a@x", "192.0.2.2", "", 1, 10, &v));
	assert_false(msg(&f, "a@x", "192.0.2.1", "", 1, 20, &v));
	assert_true(msg(&f, "a@x", "192.0.2.3", "", 1, 30, &v));
	assert_int_equal(v.reason, SUB_R_NEWLY_LOCKED);
	assert_int_equal(v.code, 554);
	assert_string_equal(v.xcode, "5.7.1");
	assert_non_null(strstr(v.text, "account locked: contact your mail administrator (until "));
	assert_int_equal(f.cap.locks, 1);
	assert_int_equal(f.cap.last_until, T0 + 30 + 1800);
	assert_non_null(strstr(f.cap.last_detail, "3 distinct source IPs"));
	/* locked: every address, also the first one */
	assert_true(msg(&f, "a@x", "192.0.2.1", "", 1, 40, &v));
	assert_int_equal(v.reason, SUB_R_LOCKED);
	assert_true(msg(&f, "a@x", NULL, "", 1, 40, &v));
	assert_int_equal(v.reason, SUB_R_LOCKED);
	assert_int_equal(f.cap.locks, 1);
	/* unlock: allowed again */
	assert_int_equal(account_locks_unlock(sub_engine_locks(f.e), "a@x"), 1);
	assert_false(msg(&f, "a@x", "192.0.2.1", "", 1, 50, &v));
	/* other accounts were never affected */
	assert_false(msg(&f, "b@x", "192.0.2.3", "", 1, 50, &v));
	fx_teardown(&f);
}

static void test_lock_countries(void **state)
{
	(void)state;
	struct fx f;
	fx_setup(&f, "submission = { lock_max_ips = 0; lock_max_countries = 1; lock_duration = 0; };");
	struct sub_verdict v;
	assert_false(msg(&f, "a@x", "192.0.2.1", "JP", 1, 0, &v));
	assert_false(msg(&f, "a@x", "192.0.2.2", "jp", 1, 0, &v));
	assert_true(msg(&f, "a@x", "192.0.2.3", "US", 1, 0, &v));
	assert_int_equal(v.reason, SUB_R_NEWLY_LOCKED);
	assert_non_null(strstr(v.text, "(until an administrator unlocks it)"));
	assert_int_equal(f.cap.last_until, 0);
	/* until unlocked: still locked a year later */
	assert_true(msg(&f, "a@x", "192.0.2.1", "JP", 1, 366 * 86400, &v));
	assert_int_equal(v.reason, SUB_R_LOCKED);
	fx_teardown(&f);
}

static void test_lock_volume(void **state)
{
	(void)state;
	struct fx f;
	fx_setup(&f, "submission = { account_messages = [ \"3/1h\" ]; lock_messages = [ \"5/1h\" ];"
	             " lock_duration = 600; };");
	struct sub_verdict v;
	for (int i = 0; i < 3; i++)
		assert_false(msg(&f, "a@x", "192.0.2.1", "", 1, 0, &v));
	/* refused by the rate limit, yet counted towards the lock */
	assert_true(msg(&f, "a@x", "192.0.2.1", "", 1, 0, &v));
	assert_int_equal(v.reason, SUB_R_LIMIT);
	assert_true(msg(&f, "a@x", "192.0.2.1", "", 1, 0, &v));
	assert_int_equal(v.reason, SUB_R_LIMIT);
	assert_true(msg(&f, "a@x", "192.0.2.1", "", 1, 0, &v));
	assert_int_equal(v.reason, SUB_R_NEWLY_LOCKED);
	assert_int_equal(f.cap.locks, 1);
	assert_string_equal(f.cap.last_detail, "more than 5 messages within 3600 s (lock_messages)");
	assert_int_equal(f.cap.last_until, T0 + 600);
	assert_true(msg(&f, "a@x", "192.0.2.1", "", 1, 599, &v));
	assert_int_equal(v.reason, SUB_R_LOCKED);
	/* the lock expires; the rate limit has refilled by then too */
	assert_false(msg(&f, "a@x", "192.0.2.1", "", 1, 1200, &v));
	fx_teardown(&f);
}

/* ---------- RCPT-stage counting ---------- */

static void test_rcpt_stage(void **state)
{
	(void)state;
	struct fx f;
	fx_setup(&f, "submission = { account_messages = [ \"2/1h\" ]; account_recipients = [ \"5/1h\" ]; };");
	struct sub_verdict v;
	/* message 1: three recipients, the message counted once */
	assert_false(rcpt(&f, "a@x", "192.0.2.1", true, 0, &v));
	assert_true(v.message_counted);
	assert_false(rcpt(&f, "a@x", "192.0.2.1", false, 0, &v));
	assert_false(v.message_counted);
	assert_false(rcpt(&f, "a@x", "192.0.2.1", false, 0, &v));
	/* message 2: two recipients, the 6th recipient in all is refused */
	assert_false(rcpt(&f, "a@x", "192.0.2.1", true, 0, &v));
	assert_false(rcpt(&f, "a@x", "192.0.2.1", false, 0, &v));
	assert_true(rcpt(&f, "a@x", "192.0.2.1", false, 0, &v));
	assert_int_equal(v.reason, SUB_R_LIMIT);
	assert_non_null(strstr(v.text, "5 recipients per 1 h"));
	/* message 3 is over the message limit whatever its recipients */
	assert_true(rcpt(&f, "a@x", "192.0.2.1", true, 1000, &v));
	assert_false(v.message_counted);
	assert_non_null(strstr(v.text, "2 messages per 1 h"));
	/* CHECK stage counts nothing */
	struct ipaddr a = A("192.0.2.1");
	struct sub_request r = {.account = "b@x", .ip = &a, .stage = SUB_STAGE_CHECK, .now_ns = S(T0)};
	for (int i = 0; i < 10; i++)
		assert_false(sub_decide(f.e, f.c, &r, &v));
	/* RCPT counting is separate from message counting (milter) */
	assert_false(msg(&f, "a@x", "192.0.2.1", "", 1, 1000, &v));
	fx_teardown(&f);
}

/* ---------- not applicable ---------- */

static void test_not_applicable(void **state)
{
	(void)state;
	struct fx f;
	fx_setup(&f, "submission = { account_messages = [ \"1/1h\" ]; };");
	struct sub_verdict v;
	for (int i = 0; i < 3; i++) {
		assert_false(msg(&f, "", "192.0.2.1", "", 1, 0, &v));
		assert_int_equal(v.reason, SUB_R_NOT_APPLICABLE);
		assert_false(msg(&f, NULL, "192.0.2.1", "", 1, 0, &v));
	}
	assert_int_equal(f.lim->calls, 0);
	/* a control character in the name is refused, not keyed */
	assert_true(msg(&f, "a\r\nb", "192.0.2.1", "", 1, 0, &v));
	assert_int_equal(v.code, 554);
	fx_teardown(&f);

	fx_setup(&f, "submission = { enabled = false; account_messages = [ \"1/1h\" ]; };");
	for (int i = 0; i < 3; i++)
		assert_false(msg(&f, "a@x", "192.0.2.1", "", 1, 0, &v));
	assert_int_equal(v.reason, SUB_R_NOT_APPLICABLE);
	fx_teardown(&f);
}

/* ---------- on_error ---------- */

static void test_on_error(void **state)
{
	(void)state;
	struct fx f;
	fx_setup(&f, "submission = { account_messages = [ \"1/1h\" ]; on_error = \"tempfail\"; };");
	struct sub_verdict v;
	f.lim->down = true;
	assert_true(msg(&f, "a@x", "192.0.2.1", "", 1, 0, &v));
	assert_int_equal(v.reason, SUB_R_STATE_ERROR);
	assert_int_equal(v.code, 451);
	assert_string_equal(v.xcode, "4.3.0");
	assert_string_equal(v.text, "temporary failure of the submission guard, try again later");
	/* recovers by itself */
	f.lim->down = false;
	assert_false(msg(&f, "a@x", "192.0.2.1", "", 1, 0, &v));
	assert_true(msg(&f, "a@x", "192.0.2.1", "", 1, 0, &v));
	assert_int_equal(v.reason, SUB_R_LIMIT);
	fx_teardown(&f);

	fx_setup(&f, "submission = { account_messages = [ \"1/1h\" ]; on_error = \"accept\";"
	             " lock_max_ips = 1; };");
	f.lim->down = true;
	for (int i = 0; i < 3; i++) {
		assert_false(msg(&f, "a@x", "192.0.2.1", "", 1, 0, &v));
		assert_int_equal(v.reason, SUB_R_STATE_ACCEPTED);
	}
	/* locks live in process: they still apply while the limiter is down */
	assert_true(msg(&f, "a@x", "192.0.2.2", "", 1, 0, &v));
	assert_int_equal(v.reason, SUB_R_NEWLY_LOCKED);
	fx_teardown(&f);
}

/* ---------- the account lock table full ---------- */

static void test_lock_table_full(void **state)
{
	(void)state;
	struct fx f;
	memset(&f, 0, sizeof f);
	assert_int_equal(load(&f, "submission = { on_error = \"tempfail\"; };"), 0);
	f.c = sub_config_compile(&f.cfg, f.err, sizeof f.err);
	assert_non_null(f.c);
	f.lim = limiter_local_new(0);
	struct account_locks *al = account_locks_new(1);
	f.e = sub_engine_new(f.lim, al, sink, &f.cap);
	/* the one slot holds a locked account: a new account cannot be tracked */
	assert_int_equal(account_locks_lock(al, "locked@x", T0, 0, "test"), 0);
	struct sub_verdict v;
	assert_true(msg(&f, "new@x", "192.0.2.1", "", 1, 0, &v));
	assert_int_equal(v.reason, SUB_R_STATE_ERROR);
	fx_teardown(&f);
}

int main(void)
{
	log_init("test_submission", LOG_LVL_ERROR, true, false);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_limit_parse),    cmocka_unit_test(test_compile_errors),
	    cmocka_unit_test(test_groups),         cmocka_unit_test(test_account_limit),
	    cmocka_unit_test(test_reply_code_5xx), cmocka_unit_test(test_ip_limits),
	    cmocka_unit_test(test_access),         cmocka_unit_test(test_lock_ips),
	    cmocka_unit_test(test_lock_countries), cmocka_unit_test(test_lock_volume),
	    cmocka_unit_test(test_rcpt_stage),     cmocka_unit_test(test_not_applicable),
	    cmocka_unit_test(test_on_error),       cmocka_unit_test(test_lock_table_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
