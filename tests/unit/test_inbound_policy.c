/* unit tests for src/policy/inbound: every signal with positive and negative
 * cases (DMARC enforcement with forwarder and ARC overrides, internal spoof,
 * org mismatch, impersonation, lookalike, Reply-To, unresolvable sender,
 * DNSBL, allow/deny and per-recipient lists), thresholds, the skip for
 * internal and authenticated clients, DNS failures, config validation
 * naming the key, and the dnsbl code parser. DNS comes from
 * tests/data/zones/inbound.zone through the stub resolver; authentication
 * results are built by hand so each case states exactly what it feeds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/mem.h"
#include "dns/dns_stub.h"
#include "policy/inbound.h"
#include "spoof/impersonation.h"

static struct dns_resolver *resolver;

static int setup_dns(void **state)
{
	struct dns_stub *s = dns_stub_new();
	char err[256];
	if (dns_stub_load_file(s, MAMORI_TESTDATA "/zones/inbound.zone", err, sizeof err) < 0) {
		fprintf(stderr, "zone: %s\n", err);
		dns_stub_free(&s);
		return -1;
	}
	resolver = dns_stub_resolver(s);
	return 0;
}

static int teardown_dns(void **state)
{
	dns_resolver_free(&resolver);
	return 0;
}

/* ---- configuration helpers ---- */

static char **list_of(const char *first, ...)
{
	size_t n = 0;
	char **l = xcalloc(32, sizeof *l);
	va_list ap;
	va_start(ap, first);
	for (const char *s = first; s != NULL && n < 31; s = va_arg(ap, const char *))
		l[n++] = xstrdup(s);
	va_end(ap);
	return l;
}

static void set_list(char ***dst, char **l)
{
	for (size_t i = 0; *dst && (*dst)[i]; i++)
		free((*dst)[i]);
	free(*dst);
	*dst = l;
}

static void set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

/* the configuration most cases use: example.com protected, a VIP, the
   bl.test zone with two codes */
static void base_config(struct mamori_config *c)
{
	config_defaults(c);
	set_list(&c->inbound_protected_domains, list_of("example.com", NULL));
	c->inbound_vips = xcalloc(3, sizeof *c->inbound_vips);
	c->inbound_vips[0].name = xstrdup("Taro Yamada");
	c->inbound_vips[0].address = xstrdup("taro@example.com, t.yamada@example.com");
	c->inbound_vips[1].name = xstrdup("山田 太郎");
	c->inbound_vips[1].address = xstrdup("taro@example.com");
	c->n_inbound_vips = 2;
	c->dnsbl_zones = xcalloc(2, sizeof *c->dnsbl_zones);
	c->dnsbl_zones[0].zone = xstrdup("bl.test");
	c->dnsbl_zones[0].codes = list_of("127.0.0.2 reject SBL", "127.0.0.10/31 score:3 PBL", NULL);
	c->dnsbl_zones[0].txt = true;
	c->n_dnsbl_zones = 1;
}

static struct inbound_policy *policy_of(struct mamori_config *c)
{
	char err[512];
	struct inbound_policy *p = inbound_policy_new(c, err, sizeof err);
	if (p == NULL)
		fail_msg("policy did not compile: %s", err);
	config_free(c);
	return p;
}

static struct inbound_policy *base_policy(void)
{
	struct mamori_config c;
	base_config(&c);
	return policy_of(&c);
}

/* ---- message helpers ---- */

struct tcase {
	struct message msg;
	struct auth_results auth;
	struct inbound_input in;
	struct inbound_verdict v;
	const char *rcpts[4];
};

/* a message with the given From (and Reply-To unless NULL) from an outside
   client 198.51.100.7, envelope sender mail_from, one recipient */
static void tcase_init(struct tcase *t, const char *from, const char *reply_to, const char *mail_from)
{
	memset(t, 0, sizeof *t);
	char text[2048];
	snprintf(text, sizeof text, "From: %s\r\n%s%s%sTo: <rcpt@example.com>\r\nSubject: test\r\n\r\nbody\r\n", from,
	         reply_to ? "Reply-To: " : "", reply_to ? reply_to : "", reply_to ? "\r\n" : "");
	char err[128];
	if (message_parse(text, strlen(text), &t->msg, err, sizeof err) < 0)
		fail_msg("message: %s", err);
	ip_parse("198.51.100.7", &t->in.ip);
	t->in.have_ip = true;
	t->in.helo = "mail.good.test";
	t->in.mail_from = mail_from;
	t->rcpts[0] = "rcpt@example.com";
	t->in.rcpts = t->rcpts;
	t->in.nrcpts = 1;
	t->in.msg = &t->msg;
	t->in.auth = &t->auth;
	t->auth.dmarc_done = true;
	t->auth.dmarc.result = DMARC_NONE;
}

static void tcase_ip(struct tcase *t, const char *ip)
{
	if (ip_parse(ip, &t->in.ip) < 0)
		fail_msg("bad ip %s", ip);
}

static void spf_pass(struct tcase *t, const char *domain)
{
	t->auth.spf_done = true;
	t->auth.spf.result = SPF_PASS;
	snprintf(t->auth.spf.identity, sizeof t->auth.spf.identity, "mailfrom");
	snprintf(t->auth.spf.domain, sizeof t->auth.spf.domain, "%s", domain);
}

static void dmarc_set(struct tcase *t, enum dmarc_result r, const char *domain, enum dmarc_policy applied,
                      enum dmarc_policy disposition, bool testing)
{
	struct dmarc_response *d = &t->auth.dmarc;
	d->result = r;
	snprintf(d->from_domain, sizeof d->from_domain, "%s", domain);
	d->p = d->applied = applied;
	d->disposition = disposition;
	d->testing = testing;
	snprintf(d->reason, sizeof d->reason, "%s", r == DMARC_FAIL ? "SPF and DKIM not aligned" : "aligned");
}

static void decide(const struct inbound_policy *p, struct tcase *t)
{
	inbound_decide(p, resolver, &t->in, &t->v);
}

static void tcase_free(struct tcase *t)
{
	message_free(&t->msg);
}

static const struct inbound_signal *find_signal(const struct inbound_verdict *v, const char *name)
{
	for (size_t i = 0; i < v->nsignals; i++)
		if (strcmp(v->signals[i].name, name) == 0)
			return &v->signals[i];
	return NULL;
}

static void dump(const struct inbound_verdict *v)
{
	fprintf(stderr, "  action=%s score=%d reason=%s reply=%s %s %s\n", inbound_action_name(v->action), v->score,
	        v->reason, v->smtp_code, v->smtp_xcode, v->smtp_text);
	for (size_t i = 0; i < v->nsignals; i++)
		fprintf(stderr, "  signal %s (%+d, %s): %s\n", v->signals[i].name, v->signals[i].weight,
		        inbound_action_name(v->signals[i].action), v->signals[i].reason);
}

#define expect_action(v, a)                                                                                            \
	do {                                                                                                           \
		if ((v)->action != (a))                                                                                \
			dump(v);                                                                                       \
		assert_int_equal((v)->action, (a));                                                                    \
	} while (0)

#define expect_signal(v, name_, weight_)                                                                               \
	do {                                                                                                           \
		const struct inbound_signal *s_ = find_signal((v), (name_));                                           \
		if (s_ == NULL)                                                                                        \
			dump(v);                                                                                       \
		assert_non_null(s_);                                                                                   \
		assert_int_equal(s_->weight, (weight_));                                                               \
	} while (0)

#define expect_no_signal(v, name)                                                                                      \
	do {                                                                                                           \
		if (find_signal((v), (name)) != NULL)                                                                  \
			dump(v);                                                                                       \
		assert_null(find_signal((v), (name)));                                                                 \
	} while (0)

#define expect_reply(v, code, xcode)                                                                                   \
	do {                                                                                                           \
		assert_string_equal((v)->smtp_code, code);                                                             \
		assert_string_equal((v)->smtp_xcode, xcode);                                                           \
	} while (0)

/* ---- the cases ---- */

static void test_clean_message(void **state)
{
	struct inbound_policy *p = base_policy();
	struct tcase t;
	tcase_init(&t, "Alice <alice@good.test>", NULL, "alice@good.test");
	spf_pass(&t, "good.test");
	dmarc_set(&t, DMARC_PASS, "good.test", DMARC_POLICY_REJECT, DMARC_POLICY_NONE, false);
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	assert_true(t.v.inbound);
	assert_int_equal(t.v.score, 0);
	assert_int_equal(t.v.nsignals, 0);
	assert_string_equal(t.v.smtp_code, "");
	tcase_free(&t);
	inbound_policy_free(&p);
	assert_null(p);
}

static void test_internal_and_authenticated_skip(void **state)
{
	struct inbound_policy *p = base_policy();
	struct tcase t;
	/* a DMARC reject and a DNSBL listing would refuse it from outside */
	tcase_init(&t, "<x@good.test>", NULL, "x@nonexistent.test");
	dmarc_set(&t, DMARC_FAIL, "good.test", DMARC_POLICY_REJECT, DMARC_POLICY_REJECT, false);
	tcase_ip(&t, "127.0.0.1");
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	assert_false(t.v.inbound);
	assert_int_equal(t.v.nsignals, 0);
	assert_true(inbound_client_internal(p, &t.in.ip, true));

	tcase_ip(&t, "203.0.113.2");
	assert_false(inbound_client_internal(p, &t.in.ip, true));
	t.in.authenticated = true;
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	assert_false(t.v.inbound);

	/* no address at all (local submission) is internal */
	t.in.authenticated = false;
	t.in.have_ip = false;
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	assert_false(t.v.inbound);

	/* ... but a DNS failure in authentication still tempfails */
	t.auth.tempfail = true;
	decide(p, &t);
	expect_action(&t.v, INBOUND_TEMPFAIL);
	expect_reply(&t.v, "451", "4.7.0");
	assert_non_null(strstr(t.v.smtp_text, "temporary DNS failure"));
	expect_signal(&t.v, "dns_failure", 0);

	/* no policy at all: nothing checked, a DNS failure still tempfails */
	tcase_ip(&t, "203.0.113.2");
	t.in.have_ip = true;
	inbound_decide(NULL, resolver, &t.in, &t.v);
	expect_action(&t.v, INBOUND_TEMPFAIL);
	assert_false(t.v.inbound);
	t.auth.tempfail = false;
	inbound_decide(NULL, resolver, &t.in, &t.v);
	expect_action(&t.v, INBOUND_ACCEPT);
	assert_int_equal(t.v.nsignals, 0);
	tcase_free(&t);
	inbound_policy_free(&p);
}

static void test_dmarc_enforcement(void **state)
{
	struct inbound_policy *p = base_policy();
	struct tcase t;
	tcase_init(&t, "<ceo@good.test>", NULL, "bounce@good.test");

	dmarc_set(&t, DMARC_FAIL, "good.test", DMARC_POLICY_REJECT, DMARC_POLICY_REJECT, false);
	decide(p, &t);
	expect_action(&t.v, INBOUND_REJECT);
	expect_reply(&t.v, "550", "5.7.1");
	expect_signal(&t.v, "dmarc_fail", INBOUND_W_DMARC_REJECT);
	assert_non_null(strstr(t.v.smtp_text, "DMARC policy of good.test (p=reject) failed"));
	assert_non_null(strstr(t.v.smtp_text, "not aligned"));
	/* refused already: no DNS checks ran, so no further signals */
	assert_int_equal(t.v.nsignals, 1);

	dmarc_set(&t, DMARC_FAIL, "good.test", DMARC_POLICY_QUARANTINE, DMARC_POLICY_QUARANTINE, false);
	decide(p, &t);
	expect_action(&t.v, INBOUND_QUARANTINE);
	expect_signal(&t.v, "dmarc_fail", INBOUND_W_DMARC_QUARANTINE);
	assert_string_equal(t.v.smtp_code, "");

	/* t=y under p=reject: the dmarc module lowers the disposition one level */
	dmarc_set(&t, DMARC_FAIL, "good.test", DMARC_POLICY_REJECT, DMARC_POLICY_QUARANTINE, true);
	decide(p, &t);
	expect_action(&t.v, INBOUND_QUARANTINE);
	assert_non_null(strstr(find_signal(&t.v, "dmarc_fail")->reason, "p=reject t=y"));

	dmarc_set(&t, DMARC_FAIL, "good.test", DMARC_POLICY_NONE, DMARC_POLICY_NONE, false);
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	expect_signal(&t.v, "dmarc_fail", INBOUND_W_DMARC_NONE);

	/* negative: pass, none, temperror give no dmarc signal */
	dmarc_set(&t, DMARC_PASS, "good.test", DMARC_POLICY_REJECT, DMARC_POLICY_NONE, false);
	decide(p, &t);
	expect_no_signal(&t.v, "dmarc_fail");
	expect_action(&t.v, INBOUND_ACCEPT);
	dmarc_set(&t, DMARC_NONE, "good.test", DMARC_POLICY_UNSPECIFIED, DMARC_POLICY_NONE, false);
	decide(p, &t);
	expect_no_signal(&t.v, "dmarc_fail");
	tcase_free(&t);
	inbound_policy_free(&p);

	/* inbound.dmarc = "score": the weight only */
	struct mamori_config c;
	base_config(&c);
	set_str(&c.inbound_dmarc, "score");
	p = policy_of(&c);
	tcase_init(&t, "<ceo@good.test>", NULL, "bounce@good.test");
	dmarc_set(&t, DMARC_FAIL, "good.test", DMARC_POLICY_REJECT, DMARC_POLICY_REJECT, false);
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	expect_signal(&t.v, "dmarc_fail", INBOUND_W_DMARC_REJECT);
	assert_int_equal(t.v.score, INBOUND_W_DMARC_REJECT);
	tcase_free(&t);
	inbound_policy_free(&p);

	/* "off": not even a signal */
	base_config(&c);
	set_str(&c.inbound_dmarc, "off");
	p = policy_of(&c);
	tcase_init(&t, "<ceo@good.test>", NULL, "bounce@good.test");
	dmarc_set(&t, DMARC_FAIL, "good.test", DMARC_POLICY_REJECT, DMARC_POLICY_REJECT, false);
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	expect_no_signal(&t.v, "dmarc_fail");
	tcase_free(&t);
	inbound_policy_free(&p);
}

static void test_dmarc_forwarders(void **state)
{
	struct mamori_config c;
	base_config(&c);
	set_list(&c.inbound_dmarc_forwarders, list_of("198.51.100.0/24", "lists.test", "fwd.example", NULL));
	struct inbound_policy *p = policy_of(&c);
	struct tcase t;

	/* by client CIDR */
	tcase_init(&t, "<ceo@good.test>", NULL, "bounce@good.test");
	dmarc_set(&t, DMARC_FAIL, "good.test", DMARC_POLICY_REJECT, DMARC_POLICY_REJECT, false);
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	expect_signal(&t.v, "dmarc_fail", 0);
	assert_non_null(strstr(find_signal(&t.v, "dmarc_fail")->reason, "not enforced: client 198.51.100.7"));

	/* by envelope sender domain (a mailing list's bounce address) */
	tcase_ip(&t, "192.0.2.99");
	t.in.mail_from = "list-bounces@lists.test";
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	expect_signal(&t.v, "dmarc_fail", 0);

	/* by the verified client name, a subdomain of the entry */
	t.in.mail_from = "bounce@good.test";
	t.in.client_name = "out1.fwd.example";
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	expect_signal(&t.v, "dmarc_fail", 0);

	/* negative: none of them */
	t.in.client_name = "fwd.example.evil.test";
	decide(p, &t);
	expect_action(&t.v, INBOUND_REJECT);
	expect_signal(&t.v, "dmarc_fail", INBOUND_W_DMARC_REJECT);
	tcase_free(&t);
	inbound_policy_free(&p);
}

static void test_dmarc_arc_sealers(void **state)
{
	struct mamori_config c;
	base_config(&c);
	set_list(&c.inbound_arc_trusted_sealers, list_of("google.com", NULL));
	struct inbound_policy *p = policy_of(&c);
	struct tcase t;
	tcase_init(&t, "<ceo@good.test>", NULL, "bounce@good.test");
	dmarc_set(&t, DMARC_FAIL, "good.test", DMARC_POLICY_REJECT, DMARC_POLICY_REJECT, false);
	t.auth.arc.cv = ARC_PASS;
	t.auth.arc.instances = 1;
	snprintf(t.auth.arc.sealer_domain, sizeof t.auth.arc.sealer_domain, "Google.com");
	snprintf(t.auth.arc.aar_value, sizeof t.auth.arc.aar_value,
	         "mx.google.com; dkim=pass header.i=@good.test; spf=pass smtp.mailfrom=good.test; dmarc=pass "
	         "(p=REJECT) header.from=good.test");
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	expect_signal(&t.v, "dmarc_fail", 0);
	assert_non_null(strstr(find_signal(&t.v, "dmarc_fail")->reason, "ARC chain sealed by trusted google.com"));

	/* the sealer saw a failure too: enforced */
	snprintf(t.auth.arc.aar_value, sizeof t.auth.arc.aar_value, "mx.google.com; dmarc=fail header.from=good.test");
	decide(p, &t);
	expect_action(&t.v, INBOUND_REJECT);

	/* a chain that did not validate: enforced */
	snprintf(t.auth.arc.aar_value, sizeof t.auth.arc.aar_value, "mx.google.com; dmarc=pass header.from=good.test");
	t.auth.arc.cv = ARC_FAIL;
	decide(p, &t);
	expect_action(&t.v, INBOUND_REJECT);

	/* an untrusted sealer: enforced */
	t.auth.arc.cv = ARC_PASS;
	snprintf(t.auth.arc.sealer_domain, sizeof t.auth.arc.sealer_domain, "notgoogle.com");
	decide(p, &t);
	expect_action(&t.v, INBOUND_REJECT);
	tcase_free(&t);
	inbound_policy_free(&p);
}

static void test_internal_spoof(void **state)
{
	struct inbound_policy *p = base_policy();
	struct tcase t;
	tcase_init(&t, "<boss@example.com>", NULL, "bounce@good.test");
	decide(p, &t);
	expect_action(&t.v, INBOUND_QUARANTINE);
	expect_signal(&t.v, "internal_spoof", INBOUND_W_INTERNAL_SPOOF);
	assert_non_null(strstr(t.v.reason, "internal_spoof: From domain example.com is ours"));

	/* a subdomain of ours is ours too */
	tcase_free(&t);
	tcase_init(&t, "<boss@hr.example.com>", NULL, "bounce@good.test");
	decide(p, &t);
	expect_signal(&t.v, "internal_spoof", INBOUND_W_INTERNAL_SPOOF);

	/* negative: DMARC passed for it (our own records authorise the sender) */
	dmarc_set(&t, DMARC_PASS, "hr.example.com", DMARC_POLICY_REJECT, DMARC_POLICY_NONE, false);
	decide(p, &t);
	expect_no_signal(&t.v, "internal_spoof");
	expect_action(&t.v, INBOUND_ACCEPT);
	tcase_free(&t);

	/* envelope sender ours without SPF pass */
	tcase_init(&t, "<a@good.test>", NULL, "boss@example.com");
	decide(p, &t);
	expect_signal(&t.v, "internal_spoof", INBOUND_W_INTERNAL_SPOOF);
	assert_non_null(strstr(find_signal(&t.v, "internal_spoof")->reason, "envelope sender domain example.com"));
	spf_pass(&t, "example.com");
	decide(p, &t);
	expect_no_signal(&t.v, "internal_spoof");
	tcase_free(&t);

	/* negative: other domains */
	tcase_init(&t, "<a@good.test>", NULL, "a@good.test");
	decide(p, &t);
	expect_no_signal(&t.v, "internal_spoof");
	tcase_free(&t);
	inbound_policy_free(&p);

	/* "reject" mode */
	struct mamori_config c;
	base_config(&c);
	set_str(&c.inbound_internal_spoof, "reject");
	p = policy_of(&c);
	tcase_init(&t, "<boss@example.com>", NULL, "bounce@good.test");
	decide(p, &t);
	expect_action(&t.v, INBOUND_REJECT);
	expect_reply(&t.v, "550", "5.7.1");
	tcase_free(&t);
	inbound_policy_free(&p);
}

static void test_org_mismatch(void **state)
{
	struct inbound_policy *p = base_policy();
	struct tcase t;
	tcase_init(&t, "<a@good.test>", NULL, "bounce@aonly.test");
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	expect_signal(&t.v, "org_mismatch", INBOUND_W_ORG_MISMATCH);
	assert_int_equal(t.v.score, INBOUND_W_ORG_MISMATCH);
	tcase_free(&t);

	/* negative: same organisation, null sender */
	tcase_init(&t, "<a@good.test>", NULL, "bounce@mail.good.test");
	decide(p, &t);
	expect_no_signal(&t.v, "org_mismatch");
	t.in.mail_from = "";
	decide(p, &t);
	expect_no_signal(&t.v, "org_mismatch");
	assert_int_equal(t.v.score, 0);
	tcase_free(&t);
	inbound_policy_free(&p);
}

static void test_impersonation(void **state)
{
	struct inbound_policy *p = base_policy();
	struct tcase t;
	/* the VIP's name on a free-mail address: strongest */
	tcase_init(&t, "\"Taro Yamada\" <taro.yamada.ceo@gmail.com>", NULL, "taro.yamada.ceo@gmail.com");
	decide(p, &t);
	expect_action(&t.v, INBOUND_QUARANTINE);
	expect_signal(&t.v, "impersonation", (IMP_STRENGTH_NAME + IMP_STRENGTH_FREEMAIL_BONUS + 5) / 10);
	assert_non_null(strstr(find_signal(&t.v, "impersonation")->reason, "(free mail)"));
	tcase_free(&t);

	/* reversed order, other case, from a non-free-mail domain */
	tcase_init(&t, "\"YAMADA, taro\" <ceo@good.test>", NULL, "ceo@good.test");
	decide(p, &t);
	expect_action(&t.v, INBOUND_QUARANTINE);
	expect_signal(&t.v, "impersonation", (IMP_STRENGTH_NAME + 5) / 10);
	tcase_free(&t);

	/* Japanese name in an RFC 2047 encoded word */
	tcase_init(&t, "=?UTF-8?B?5bGx55SwIOWkqumDjg==?= <boss@yahoo.co.jp>", NULL, "boss@yahoo.co.jp");
	decide(p, &t);
	expect_action(&t.v, INBOUND_QUARANTINE);
	assert_non_null(find_signal(&t.v, "impersonation"));
	tcase_free(&t);

	/* negative: the VIP's own address; another name */
	tcase_init(&t, "Taro Yamada <t.yamada@example.com>", NULL, "t.yamada@example.com");
	spf_pass(&t, "example.com");
	dmarc_set(&t, DMARC_PASS, "example.com", DMARC_POLICY_REJECT, DMARC_POLICY_NONE, false);
	decide(p, &t);
	expect_no_signal(&t.v, "impersonation");
	expect_action(&t.v, INBOUND_ACCEPT);
	tcase_free(&t);
	tcase_init(&t, "Hanako Suzuki <hanako@gmail.com>", NULL, "hanako@gmail.com");
	decide(p, &t);
	expect_no_signal(&t.v, "impersonation");
	expect_action(&t.v, INBOUND_ACCEPT);
	tcase_free(&t);
	inbound_policy_free(&p);
}

static void test_lookalike(void **state)
{
	struct inbound_policy *p = base_policy();
	struct tcase t;
	tcase_init(&t, "<ceo@exarnple.com>", NULL, "ceo@good.test");
	decide(p, &t);
	expect_action(&t.v, INBOUND_QUARANTINE);
	expect_signal(&t.v, "lookalike", INBOUND_W_LOOKALIKE);
	assert_non_null(strstr(find_signal(&t.v, "lookalike")->reason, "From domain exarnple.com is a lookalike"));
	tcase_free(&t);

	/* in the envelope sender only */
	tcase_init(&t, "<a@good.test>", NULL, "a@exarnple.com");
	decide(p, &t);
	expect_action(&t.v, INBOUND_QUARANTINE);
	assert_non_null(strstr(find_signal(&t.v, "lookalike")->reason, "envelope sender domain exarnple.com"));
	tcase_free(&t);

	/* in Reply-To: both the lookalike and the Reply-To signal */
	tcase_init(&t, "<a@good.test>", "<pay@examp1e.com>", "a@good.test");
	decide(p, &t);
	expect_action(&t.v, INBOUND_QUARANTINE);
	assert_non_null(strstr(find_signal(&t.v, "lookalike")->reason, "Reply-To domain examp1e.com"));
	expect_signal(&t.v, "reply_to", INBOUND_W_REPLY_TO_LOOKALIKE);
	tcase_free(&t);

	/* negative: unrelated and exact */
	tcase_init(&t, "<a@good.test>", NULL, "a@good.test");
	decide(p, &t);
	expect_no_signal(&t.v, "lookalike");
	tcase_free(&t);
	inbound_policy_free(&p);

	/* "off" */
	struct mamori_config c;
	base_config(&c);
	set_str(&c.inbound_lookalike, "off");
	p = policy_of(&c);
	tcase_init(&t, "<ceo@exarnple.com>", NULL, "ceo@good.test");
	decide(p, &t);
	expect_no_signal(&t.v, "lookalike");
	expect_action(&t.v, INBOUND_ACCEPT);
	tcase_free(&t);
	inbound_policy_free(&p);
}

static void test_reply_to(void **state)
{
	struct mamori_config c;
	base_config(&c);
	set_str(&c.inbound_reply_to, "quarantine");
	struct inbound_policy *p = policy_of(&c);
	struct tcase t;
	/* free mail: the action applies */
	tcase_init(&t, "<billing@good.test>", "<billing.dept@gmail.com>", "billing@good.test");
	decide(p, &t);
	expect_action(&t.v, INBOUND_QUARANTINE);
	expect_signal(&t.v, "reply_to", INBOUND_W_REPLY_TO_FREEMAIL);
	tcase_free(&t);

	/* another organisation, neither free mail nor lookalike: weight only */
	tcase_init(&t, "<billing@good.test>", "<billing@partner.test>", "billing@good.test");
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	expect_signal(&t.v, "reply_to", INBOUND_W_REPLY_TO);
	tcase_free(&t);

	/* negative: same organisation */
	tcase_init(&t, "<billing@good.test>", "<help@mail.good.test>", "billing@good.test");
	decide(p, &t);
	expect_no_signal(&t.v, "reply_to");
	expect_action(&t.v, INBOUND_ACCEPT);
	tcase_free(&t);
	inbound_policy_free(&p);

	/* the default mode ("score"): free mail only scores */
	p = base_policy();
	tcase_init(&t, "<billing@good.test>", "<billing.dept@gmail.com>", "billing@good.test");
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	expect_signal(&t.v, "reply_to", INBOUND_W_REPLY_TO_FREEMAIL);
	tcase_free(&t);
	inbound_policy_free(&p);
}

static void test_unresolvable_sender(void **state)
{
	struct inbound_policy *p = base_policy();
	struct tcase t;
	static const char *const bad[] = {"x@nonexistent.test", "x@nodata.test", "x@nullmx.test"};
	for (size_t i = 0; i < 3; i++) {
		tcase_init(&t, "<x@good.test>", NULL, bad[i]);
		decide(p, &t);
		expect_action(&t.v, INBOUND_REJECT);
		expect_reply(&t.v, "550", "5.1.8");
		expect_signal(&t.v, "unresolvable_sender", INBOUND_W_UNRESOLVABLE);
		tcase_free(&t);
	}
	/* negative: MX, A only, AAAA only, the null sender */
	static const char *const good[] = {"x@good.test", "x@aonly.test", "x@v6only.test", ""};
	for (size_t i = 0; i < 4; i++) {
		tcase_init(&t, "<x@good.test>", NULL, good[i]);
		decide(p, &t);
		expect_no_signal(&t.v, "unresolvable_sender");
		expect_no_signal(&t.v, "dns_failure");
		tcase_free(&t);
	}
	/* timeout and SERVFAIL: 451, never a pass */
	static const char *const slow[] = {"x@slow.test", "x@broken.test"};
	for (size_t i = 0; i < 2; i++) {
		tcase_init(&t, "<x@good.test>", NULL, slow[i]);
		decide(p, &t);
		expect_action(&t.v, INBOUND_TEMPFAIL);
		expect_reply(&t.v, "451", "4.7.0");
		expect_signal(&t.v, "dns_failure", 0);
		expect_no_signal(&t.v, "unresolvable_sender");
		assert_true(t.v.dns_failed);
		tcase_free(&t);
	}
	inbound_policy_free(&p);

	/* inbound.dns_failure = "accept": fail-open, still noted */
	struct mamori_config c;
	base_config(&c);
	set_str(&c.inbound_dns_failure, "accept");
	p = policy_of(&c);
	tcase_init(&t, "<x@good.test>", NULL, "x@slow.test");
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	expect_signal(&t.v, "dns_failure", 0);
	assert_non_null(strstr(find_signal(&t.v, "dns_failure")->reason, "fail-open"));
	tcase_free(&t);
	inbound_policy_free(&p);
}

static void test_dnsbl(void **state)
{
	struct inbound_policy *p = base_policy();
	struct tcase t;
	tcase_init(&t, "<x@good.test>", NULL, "x@good.test");
	tcase_ip(&t, "203.0.113.2");
	decide(p, &t);
	expect_action(&t.v, INBOUND_REJECT);
	expect_reply(&t.v, "550", "5.7.1");
	expect_signal(&t.v, "dnsbl", INBOUND_W_DNSBL);
	assert_non_null(strstr(t.v.smtp_text, "client 203.0.113.2 listed in bl.test (SBL, 127.0.0.2)"));
	assert_non_null(strstr(t.v.smtp_text, "see https://bl.test/203.0.113.2"));

	/* a score:3 code only scores */
	tcase_ip(&t, "203.0.113.10");
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	expect_signal(&t.v, "dnsbl", 3);
	assert_int_equal(t.v.score, 3);

	/* the list timed out */
	tcase_ip(&t, "203.0.113.99");
	decide(p, &t);
	expect_action(&t.v, INBOUND_TEMPFAIL);
	expect_reply(&t.v, "451", "4.7.0");
	expect_signal(&t.v, "dns_failure", 0);

	/* the operator refuses our resolver: noted, not a listing */
	tcase_ip(&t, "203.0.113.4");
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	expect_signal(&t.v, "dnsbl_error", 0);
	expect_no_signal(&t.v, "dnsbl");

	/* negative: not listed */
	tcase_ip(&t, "203.0.113.3");
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	assert_int_equal(t.v.nsignals, 0);
	tcase_free(&t);
	inbound_policy_free(&p);

	/* a zone without codes takes inbound.dnsbl */
	struct mamori_config c;
	base_config(&c);
	free(c.dnsbl_zones[0].zone);
	c.dnsbl_zones[0].zone = xstrdup("any.test");
	set_list(&c.dnsbl_zones[0].codes, list_of(NULL));
	set_str(&c.inbound_dnsbl, "quarantine");
	p = policy_of(&c);
	tcase_init(&t, "<x@good.test>", NULL, "x@good.test");
	tcase_ip(&t, "203.0.113.3");
	decide(p, &t);
	expect_action(&t.v, INBOUND_QUARANTINE);
	expect_signal(&t.v, "dnsbl", INBOUND_W_DNSBL);
	tcase_free(&t);
	inbound_policy_free(&p);
}

static void test_global_lists(void **state)
{
	struct mamori_config c;
	base_config(&c);
	set_list(&c.lists_deny_ips, list_of("192.0.2.128/25", NULL));
	set_list(&c.lists_allow_ips, list_of("203.0.113.2", NULL));
	set_list(&c.lists_deny_senders, list_of("rival.test", "spam@good.test", NULL));
	set_list(&c.lists_allow_senders, list_of("partner.test", NULL));
	struct inbound_policy *p = policy_of(&c);
	struct tcase t;

	tcase_init(&t, "<x@good.test>", NULL, "x@good.test");
	tcase_ip(&t, "192.0.2.200");
	decide(p, &t);
	expect_action(&t.v, INBOUND_REJECT);
	expect_reply(&t.v, "550", "5.7.1");
	expect_signal(&t.v, "deny_ip", INBOUND_W_DENY);
	tcase_ip(&t, "192.0.2.100");
	decide(p, &t);
	expect_no_signal(&t.v, "deny_ip");
	expect_action(&t.v, INBOUND_ACCEPT);

	/* allow_ips beats the DNSBL listing of the same address and DMARC */
	tcase_ip(&t, "203.0.113.2");
	dmarc_set(&t, DMARC_FAIL, "good.test", DMARC_POLICY_REJECT, DMARC_POLICY_REJECT, false);
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	assert_true(t.v.allowed);
	expect_signal(&t.v, "allow_ip", 0);
	expect_no_signal(&t.v, "dmarc_fail");
	tcase_free(&t);

	/* deny_senders: the envelope sender (a subdomain) and the header From */
	tcase_init(&t, "<x@good.test>", NULL, "x@mail.rival.test");
	decide(p, &t);
	expect_action(&t.v, INBOUND_REJECT);
	expect_signal(&t.v, "deny_sender", INBOUND_W_DENY);
	tcase_free(&t);
	tcase_init(&t, "Spammer <SPAM@good.test>", NULL, "x@good.test");
	decide(p, &t);
	expect_action(&t.v, INBOUND_REJECT);
	expect_signal(&t.v, "deny_sender", INBOUND_W_DENY);
	tcase_free(&t);
	/* negative: another address of the same domain */
	tcase_init(&t, "<ham@good.test>", NULL, "x@good.test");
	decide(p, &t);
	expect_no_signal(&t.v, "deny_sender");
	tcase_free(&t);

	/* allow_senders only for an authenticated identity */
	tcase_init(&t, "<ceo@example.com>", NULL, "news@partner.test");
	decide(p, &t);
	expect_no_signal(&t.v, "allow_sender");
	expect_action(&t.v, INBOUND_QUARANTINE); /* internal spoof from outside */
	spf_pass(&t, "partner.test");
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	expect_signal(&t.v, "allow_sender", 0);
	assert_true(t.v.allowed);
	tcase_free(&t);
	tcase_init(&t, "<news@partner.test>", NULL, "bounce@good.test");
	dmarc_set(&t, DMARC_PASS, "partner.test", DMARC_POLICY_NONE, DMARC_POLICY_NONE, false);
	decide(p, &t);
	expect_signal(&t.v, "allow_sender", 0);
	tcase_free(&t);
	inbound_policy_free(&p);
}

static void test_recipient_lists(void **state)
{
	struct mamori_config c;
	base_config(&c);
	c.lists_recipients = xcalloc(3, sizeof *c.lists_recipients);
	c.lists_recipients[0].recipient = xstrdup("ceo@example.com");
	c.lists_recipients[0].allow = list_of("partner.test", NULL);
	c.lists_recipients[0].deny = list_of("rival.test", NULL);
	c.lists_recipients[1].recipient = xstrdup("@example.com");
	c.lists_recipients[1].allow = list_of("partner.test", NULL);
	c.lists_recipients[1].deny = list_of(NULL);
	c.n_lists_recipients = 2;
	struct inbound_policy *p = policy_of(&c);
	char why[256];
	assert_true(inbound_rcpt_denied(p, "CEO@example.com", "sales@rival.test", why, sizeof why));
	assert_non_null(strstr(why, "deny list of CEO@example.com"));
	assert_false(inbound_rcpt_denied(p, "ceo@example.com", "sales@partner.test", why, sizeof why));
	assert_false(inbound_rcpt_denied(p, "staff@example.com", "sales@rival.test", why, sizeof why));
	assert_false(inbound_rcpt_denied(p, "ceo@example.com", "", why, sizeof why));

	/* header From on the deny list of the only recipient: refused */
	struct tcase t;
	tcase_init(&t, "<sales@rival.test>", NULL, "bounce@good.test");
	t.rcpts[0] = "ceo@example.com";
	decide(p, &t);
	expect_action(&t.v, INBOUND_REJECT);
	expect_signal(&t.v, "recipient_deny", INBOUND_W_DENY);
	assert_int_equal(t.v.ndrop, 0);

	/* one of two recipients denies: that one is removed, the rest go on */
	t.rcpts[0] = "staff@example.com";
	t.rcpts[1] = "ceo@example.com";
	t.in.nrcpts = 2;
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	expect_signal(&t.v, "recipient_deny", 0);
	assert_int_equal(t.v.ndrop, 1);
	assert_int_equal(t.v.drop[0], 1);
	tcase_free(&t);

	/* every recipient allows the (SPF-authenticated) sender */
	tcase_init(&t, "<ceo@example.com>", NULL, "news@partner.test");
	spf_pass(&t, "partner.test");
	t.rcpts[0] = "ceo@example.com";
	t.rcpts[1] = "staff@example.com";
	t.in.nrcpts = 2;
	decide(p, &t);
	expect_action(&t.v, INBOUND_ACCEPT);
	expect_signal(&t.v, "recipient_allow", 0);
	assert_true(t.v.allowed);
	/* negative: one recipient without a list */
	t.rcpts[1] = "someone@good.test";
	decide(p, &t);
	expect_no_signal(&t.v, "recipient_allow");
	assert_false(t.v.allowed);
	tcase_free(&t);
	inbound_policy_free(&p);
}

static void test_score_thresholds(void **state)
{
	struct mamori_config c;
	base_config(&c);
	c.inbound_score_quarantine = 6;
	c.inbound_score_reject = 9;
	struct inbound_policy *p = policy_of(&c);
	struct tcase t;
	/* org mismatch (1) + Reply-To free mail (5) = 6: quarantined by score */
	tcase_init(&t, "<a@good.test>", "<a@gmail.com>", "bounce@aonly.test");
	decide(p, &t);
	assert_int_equal(t.v.score, INBOUND_W_ORG_MISMATCH + INBOUND_W_REPLY_TO_FREEMAIL);
	expect_action(&t.v, INBOUND_QUARANTINE);
	assert_non_null(strstr(t.v.reason, "reached inbound.score_quarantine"));
	/* + PBL (3) = 9: refused by score */
	tcase_ip(&t, "203.0.113.10");
	decide(p, &t);
	assert_int_equal(t.v.score, 9);
	expect_action(&t.v, INBOUND_REJECT);
	expect_reply(&t.v, "550", "5.7.1");
	assert_non_null(strstr(t.v.smtp_text, "score 9 reached inbound.score_reject (9)"));
	tcase_free(&t);
	inbound_policy_free(&p);
}

/* compilation errors name the key */
static void expect_config_error(struct mamori_config *c, const char *want)
{
	char err[512] = "";
	struct inbound_policy *p = inbound_policy_new(c, err, sizeof err);
	config_free(c);
	if (p != NULL)
		fail_msg("compiled, expected \"%s\"", want);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

static void test_config_errors(void **state)
{
	struct mamori_config c;
	base_config(&c);
	set_list(&c.inbound_internal_networks, list_of("10.0.0.0/33", NULL));
	expect_config_error(&c, "inbound.internal_networks: \"10.0.0.0/33\"");
	base_config(&c);
	set_list(&c.lists_deny_ips, list_of("example.com", NULL));
	expect_config_error(&c, "lists.deny_ips");
	base_config(&c);
	set_list(&c.inbound_protected_domains, list_of("co.uk", NULL));
	expect_config_error(&c, "inbound.protected_domains");
	base_config(&c);
	set_list(&c.dnsbl_zones[0].codes, list_of("127.0.0.2 block SBL", NULL));
	expect_config_error(&c, "dnsbl.zones: zone bl.test: code 1");
	base_config(&c);
	set_list(&c.dnsbl_zones[0].codes, list_of("10.0.0.2 reject X", NULL));
	expect_config_error(&c, "127.0.0.0/8");
	base_config(&c);
	free(c.dnsbl_zones[0].zone);
	c.dnsbl_zones[0].zone = xstrdup("bad..zone");
	expect_config_error(&c, "dnsbl.zones: entry 1");
	base_config(&c);
	free(c.inbound_vips[0].address);
	c.inbound_vips[0].address = xstrdup("taro@example.com, not-an-address");
	expect_config_error(&c, "inbound.vips: entry 1");
	base_config(&c);
	set_list(&c.lists_allow_senders, list_of("user@", NULL));
	expect_config_error(&c, "lists.allow_senders");
	base_config(&c);
	set_list(&c.inbound_dmarc_forwarders, list_of("10.0.0.0/40", NULL));
	expect_config_error(&c, "inbound.dmarc_forwarders");
	base_config(&c);
	set_list(&c.inbound_arc_trusted_sealers, list_of("bad domain", NULL));
	expect_config_error(&c, "inbound.arc_trusted_sealers");
	base_config(&c);
	c.lists_recipients = xcalloc(2, sizeof *c.lists_recipients);
	c.lists_recipients[0].recipient = xstrdup("nobody");
	c.lists_recipients[0].allow = list_of(NULL);
	c.lists_recipients[0].deny = list_of(NULL);
	c.n_lists_recipients = 1;
	expect_config_error(&c, "lists.recipients: entry 1");

	/* the built-in defaults compile */
	config_defaults(&c);
	struct inbound_policy *p = policy_of(&c);
	assert_true(inbound_policy_headers(p));
	inbound_policy_free(&p);
}

static void test_dnsbl_code_parse(void **state)
{
	struct dnsbl_code code;
	char meaning[64], err[256];
	assert_int_equal(
	    inbound_dnsbl_code_parse("127.0.0.2 reject SBL listing", &code, meaning, sizeof meaning, err, sizeof err),
	    0);
	assert_false(code.bitmask);
	assert_int_equal(code.prefix, 0);
	assert_int_equal(code.action, 2);
	assert_string_equal(code.meaning, "SBL listing");
	assert_int_equal(
	    inbound_dnsbl_code_parse("  127.0.0.10/31\tscore:3 PBL ", &code, meaning, sizeof meaning, err, sizeof err),
	    0);
	assert_int_equal(code.prefix, 31);
	assert_int_equal(code.action, 0);
	assert_int_equal(code.score, 3);
	assert_string_equal(meaning, "PBL");
	assert_int_equal(
	    inbound_dnsbl_code_parse("mask:0x40 quarantine", &code, meaning, sizeof meaning, err, sizeof err), 0);
	assert_true(code.bitmask);
	assert_int_equal(code.bits, 0x40);
	assert_int_equal(code.action, 1);
	assert_string_equal(meaning, "");
	assert_int_equal(inbound_dnsbl_code_parse("mask:8 score:0 x", &code, meaning, sizeof meaning, err, sizeof err),
	                 0);
	assert_int_equal(code.bits, 8);

	static const char *const bad[] = {
	    "",
	    "127.0.0.2",
	    "127.0.0.2 drop",
	    "127.0.0.2/7 reject",
	    "127.0.0.2/33 reject",
	    "128.0.0.2 reject",
	    "::1 reject",
	    "mask:0 reject",
	    "mask:0x1000000 reject",
	    "mask:x reject",
	    "127.0.0.2 score:1001",
	    "127.0.0.2 score:-1",
	    "127.0.0.2 score:",
	    "127.0.0.2 reject bad\x01meaning",
	    "127.0.0.2/ reject",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		if (inbound_dnsbl_code_parse(bad[i], &code, meaning, sizeof meaning, err, sizeof err) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(err[0] != '\0');
	}
}

static void test_header_text(void **state)
{
	struct message msg;
	char err[128];
	const char *text = "Subject: =?UTF-8?B?5bGx55SwIOWkqumDjg==?= and\r\n\tmore\r\nFrom: <a@b.test>\r\n\r\n";
	assert_int_equal(message_parse(text, strlen(text), &msg, err, sizeof err), 0);
	char out[64];
	inbound_header_text(&msg, "Subject", true, out, sizeof out);
	assert_string_equal(out, "山田 太郎 and more");
	inbound_header_text(&msg, "subject", false, out, sizeof out);
	assert_string_equal(out, "=?UTF-8?B?5bGx55SwIOWkqumDjg==?= and more");
	inbound_header_text(&msg, "Message-ID", false, out, sizeof out);
	assert_string_equal(out, "");
	char small[8];
	inbound_header_text(&msg, "Subject", true, small, sizeof small);
	assert_string_equal(small, "山田"); /* cut on a character boundary */
	message_free(&msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clean_message),       cmocka_unit_test(test_internal_and_authenticated_skip),
	    cmocka_unit_test(test_dmarc_enforcement),   cmocka_unit_test(test_dmarc_forwarders),
	    cmocka_unit_test(test_dmarc_arc_sealers),   cmocka_unit_test(test_internal_spoof),
	    cmocka_unit_test(test_org_mismatch),        cmocka_unit_test(test_impersonation),
	    cmocka_unit_test(test_lookalike),           cmocka_unit_test(test_reply_to),
	    cmocka_unit_test(test_unresolvable_sender), cmocka_unit_test(test_dnsbl),
	    cmocka_unit_test(test_global_lists),        cmocka_unit_test(test_recipient_lists),
	    cmocka_unit_test(test_score_thresholds),    cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_dnsbl_code_parse),    cmocka_unit_test(test_header_text),
	};
	return cmocka_run_group_tests(tests, setup_dns, teardown_dns);
}
