/* unit tests for src/auth/dmarc: record parsing, the DNS Tree Walk, policy
   selection, alignment, temporary failures; DNS from dns_stub zones */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dmarc.h"
#include "core/mem.h"
#include "dns/dns_stub.h"

/* ------------------------------------------------------------------ */
/* a resolver that records every query, in front of a stub             */
/* ------------------------------------------------------------------ */

#define MAX_LOG 64

struct counting {
	struct dns_resolver *inner;
	unsigned n;
	char names[MAX_LOG][300];
};

static enum dns_status counting_query(void *state, const char *name, enum dns_type type, struct dns_answer *ans)
{
	struct counting *c = state;
	if (c->n < MAX_LOG)
		snprintf(c->names[c->n], sizeof c->names[0], "%s %s", dns_type_name(type), name);
	c->n++;
	return c->inner->ops->query(c->inner->state, name, type, ans);
}

static void counting_destroy(void *state)
{
	struct counting *c = state;
	dns_resolver_free(&c->inner);
	free(c);
}

static const struct dns_backend counting_backend = { "counting", counting_query, counting_destroy };

static struct dns_resolver *make_resolver(const char *zone, struct counting **log_r)
{
	struct dns_stub *s = dns_stub_new();
	char err[256];
	if (dns_stub_load_text(s, zone, strlen(zone), "zone", err, sizeof err) < 0) {
		print_error("zone: %s\n", err);
		fail();
	}
	struct counting *c = xcalloc(1, sizeof *c);
	c->inner = dns_stub_resolver(s);
	struct dns_resolver *r = xcalloc(1, sizeof *r);
	r->ops = &counting_backend;
	r->state = c;
	*log_r = c;
	return r;
}

static bool queried(const struct counting *c, const char *what)
{
	for (unsigned i = 0; i < c->n && i < MAX_LOG; i++)
		if (strcmp(c->names[i], what) == 0)
			return true;
	return false;
}

static unsigned times_queried(const struct counting *c, const char *what)
{
	unsigned k = 0;
	for (unsigned i = 0; i < c->n && i < MAX_LOG; i++)
		k += strcmp(c->names[i], what) == 0;
	return k;
}

/* ------------------------------------------------------------------ */
/* record parser                                                       */
/* ------------------------------------------------------------------ */

#define U DMARC_POLICY_UNSPECIFIED
#define NO DMARC_POLICY_NONE
#define Q DMARC_POLICY_QUARANTINE
#define R DMARC_POLICY_REJECT

struct rec_case {
	const char *txt;
	enum dmarc_policy p, sp, np;
	bool p_invalid;
	char psd, adkim, aspf;
	bool t;
	int pct;
	size_t n_rua;
	const char *warn; /* substring of warnings, "" for none expected, NULL: don't care */
};

static const struct rec_case good_records[] = {
	{ "v=DMARC1; p=reject", R, U, U, false, 'u', 'r', 'r', false, -1, 0, "" },
	{ "v=DMARC1;p=quarantine;sp=none;np=reject;adkim=s;aspf=s;psd=n;t=y", Q, NO, R, false, 'n', 's', 's', true, -1, 0,
	  "" },
	{ "v=DMARC1", U, U, U, false, 'u', 'r', 'r', false, -1, 0, "" },
	{ "V = DMARC1 ; P = Reject ; SP=NONE ; ADKIM=S; Psd=Y", R, NO, U, false, 'y', 's', 'r', false, -1, 0, "" },
	{ "v=DMARC1; p=reject; rua=mailto:a@example.com!10m, mailto:b@example.net", R, U, U, false, 'u', 'r', 'r', false,
	  -1, 2, "" },
	{ "v=DMARC1; p=bogus; rua=mailto:r@example.com", U, U, U, true, 'u', 'r', 'r', false, -1, 1, "invalid p=bogus" },
	{ "v=DMARC1; p=none; foo=bar; x=; future_tag=1", NO, U, U, false, 'u', 'r', 'r', false, -1, 0, "" },
	{ "v=DMARC1; p=none; p=reject", NO, U, U, false, 'u', 'r', 'r', false, -1, 0, "p repeated" },
	{ "v=DMARC1; p=reject; pct=0", R, U, U, false, 'u', 'r', 'r', false, 0, 0, "" },
	{ "v=DMARC1; p=reject; pct=150", R, U, U, false, 'u', 'r', 'r', false, -1, 0, "invalid pct=150" },
	{ "v=DMARC1; p=reject; adkim=x; psd=q; t=maybe", R, U, U, false, 'u', 'r', 'r', false, -1, 0, "invalid adkim=x" },
	{ "v=DMARC1; p=reject; rua=https://example.com/r, mailto:noat", R, U, U, false, 'u', 'r', 'r', false, -1, 1,
	  "invalid URI \"mailto:noat\"" },
	{ "v=DMARC1; p=reject; ; ;", R, U, U, false, 'u', 'r', 'r', false, -1, 0, "" },
	{ "v=DMARC1; p=reject; =x; 1a=b; sp", R, U, U, false, 'u', 'r', 'r', false, -1, 0, "ignored" },
	{ "v=DMARC1; p=reject; rua=mailto:a@example.com!x", R, U, U, false, 'u', 'r', 'r', false, -1, 0,
	  "rua: no valid URI" },
	{ "v=DMARC1; p=reject; sp=bad", R, U, U, false, 'u', 'r', 'r', false, -1, 0, "invalid sp=bad" },
	{ "v=DMARC1;\tp=reject\r\n; t=n", R, U, U, false, 'u', 'r', 'r', false, -1, 0, "" },
	{ "v=DMARC1; p=none; rua=mailto:a@example.com,,mailto:b@example.com", NO, U, U, false, 'u', 'r', 'r', false, -1,
	  2, "" },
};

static void test_record_good(void **state)
{
	for (size_t i = 0; i < sizeof good_records / sizeof good_records[0]; i++) {
		const struct rec_case *c = &good_records[i];
		struct dmarc_record *rec = NULL;
		char err[256];
		if (dmarc_record_parse(c->txt, strlen(c->txt), &rec, err, sizeof err) != 0) {
			print_error("record \"%s\" rejected: %s\n", c->txt, err);
			fail();
		}
		bool ok = rec->p == c->p && rec->sp == c->sp && rec->np == c->np && rec->p_invalid == c->p_invalid &&
			  rec->psd == c->psd && rec->adkim == c->adkim && rec->aspf == c->aspf && rec->t == c->t &&
			  rec->pct == c->pct && rec->n_rua == c->n_rua;
		if (c->warn && c->warn[0] == '\0')
			ok &= rec->warnings[0] == '\0';
		else if (c->warn)
			ok &= strstr(rec->warnings, c->warn) != NULL;
		if (!ok) {
			print_error("record \"%s\": p=%d sp=%d np=%d inv=%d psd=%c adkim=%c aspf=%c t=%d pct=%d rua=%zu "
				    "warnings \"%s\"\n",
				    c->txt, rec->p, rec->sp, rec->np, rec->p_invalid, rec->psd, rec->adkim, rec->aspf, rec->t,
				    rec->pct, rec->n_rua, rec->warnings);
			fail();
		}
		dmarc_record_free(&rec);
		assert_null(rec);
	}
}

static void test_record_details(void **state)
{
	struct dmarc_record *rec;
	char err[128];
	const char *t = "v=DMARC1; p=reject; rua=mailto:a@example.com!10m, mailto:b@example.net!2k; "
			"ruf=mailto:f@example.com; fo=1:d:s; ri=3600; rf=afrf";
	assert_int_equal(dmarc_record_parse(t, strlen(t), &rec, err, sizeof err), 0);
	assert_int_equal(rec->n_rua, 2);
	assert_string_equal(rec->rua_uri[0].uri, "mailto:a@example.com");
	assert_int_equal(rec->rua_uri[0].max_size, 10ULL << 20);
	assert_true(rec->rua_uri[0].mailto);
	assert_string_equal(rec->rua_uri[1].uri, "mailto:b@example.net");
	assert_int_equal(rec->rua_uri[1].max_size, 2048);
	assert_string_equal(rec->rua, "mailto:a@example.com!10m, mailto:b@example.net!2k");
	assert_int_equal(rec->n_ruf, 1);
	assert_int_equal(rec->fo, DMARC_FO_1 | DMARC_FO_D | DMARC_FO_S);
	assert_int_equal(rec->ri, 3600);
	assert_string_equal(rec->rf, "afrf");
	dmarc_record_free(&rec);

	t = "v=DMARC1; fo=0:1; ri=-5";
	assert_int_equal(dmarc_record_parse(t, strlen(t), &rec, err, sizeof err), 0);
	assert_int_equal(rec->fo, DMARC_FO_0); /* "0" and "1" exclusive: default */
	assert_int_equal(rec->ri, 86400);
	assert_non_null(strstr(rec->warnings, "invalid fo=0:1"));
	assert_non_null(strstr(rec->warnings, "invalid ri=-5"));
	dmarc_record_free(&rec);

	/* not NUL-terminated: only len bytes are read */
	t = "v=DMARC1; p=noneXXXX";
	assert_int_equal(dmarc_record_parse(t, 16, &rec, err, sizeof err), 0);
	assert_int_equal(rec->p, DMARC_POLICY_NONE);
	dmarc_record_free(&rec);

	/* more URIs than kept */
	t = "v=DMARC1; rua=mailto:1@a.b,mailto:2@a.b,mailto:3@a.b,mailto:4@a.b,mailto:5@a.b,mailto:6@a.b,"
	    "mailto:7@a.b,mailto:8@a.b,mailto:9@a.b";
	assert_int_equal(dmarc_record_parse(t, strlen(t), &rec, err, sizeof err), 0);
	assert_int_equal(rec->n_rua, DMARC_MAX_URIS);
	assert_non_null(strstr(rec->warnings, "more than"));
	dmarc_record_free(&rec);
}

struct bad_case {
	const char *txt;
	const char *err;
};

static const struct bad_case bad_records[] = {
	{ "", "empty record" },
	{ "p=reject; v=DMARC1", "v=DMARC1 is not the first tag" },
	{ "v=DMARC2; p=reject", "not a DMARC record: v=DMARC2" },
	{ "v=dmarc1; p=reject", "not a DMARC record: v=dmarc1" },
	{ "v=spf1 -all", "not a DMARC record: v=spf1 -all" },
	{ "; v=DMARC1; p=none", "v=DMARC1 is not the first tag" },
	{ "v=DMARC1 p=reject", "not a DMARC record: v=DMARC1 p=reject" },
	{ "vx=DMARC1", "v=DMARC1 is not the first tag" },
	{ "v=DMARC1\x01", "not a DMARC record" },
	{ "v", "not a DMARC record" },
	{ "=DMARC1", "not a DMARC record" },
};

static void test_record_bad(void **state)
{
	for (size_t i = 0; i < sizeof bad_records / sizeof bad_records[0]; i++) {
		struct dmarc_record *rec = (struct dmarc_record *)1;
		char err[256];
		int rc = dmarc_record_parse(bad_records[i].txt, strlen(bad_records[i].txt), &rec, err, sizeof err);
		if (rc != -1 || rec != NULL || strstr(err, bad_records[i].err) == NULL) {
			print_error("bad record \"%s\": rc %d err \"%s\", want \"%s\"\n", bad_records[i].txt, rc, err,
				    bad_records[i].err);
			fail();
		}
	}
	char big[DMARC_MAX_RECORD + 100];
	memset(big, 'a', sizeof big);
	memcpy(big, "v=DMARC1; p=none; x=", 20);
	struct dmarc_record *rec;
	char err[128];
	assert_int_equal(dmarc_record_parse(big, sizeof big, &rec, err, sizeof err), -1);
	assert_non_null(strstr(err, "longer than"));
	assert_int_equal(dmarc_record_parse(NULL, 0, &rec, err, sizeof err), -1);
}

/* ------------------------------------------------------------------ */
/* evaluation                                                          */
/* ------------------------------------------------------------------ */

#define RES_NONE DMARC_NONE
#define PASS DMARC_PASS
#define FAIL DMARC_FAIL
#define TEMP DMARC_TEMPERROR
#define PERM DMARC_PERMERROR

struct eval_case {
	const char *name;
	const char *zone;
	enum dmarc_orgmode mode;
	const char *from;
	const char *spf; /* SPF-passing domain or NULL */
	const char *dkim[3]; /* "+d" passing, "-d" failing signatures */
	/* expectations */
	enum dmarc_result result;
	const char *policy_domain; /* NULL: don't check */
	const char *org_domain;    /* NULL: don't check */
	enum dmarc_policy applied, disposition;
	bool testing, spf_aligned, dkim_aligned, psd;
	int queries;               /* total DNS queries, -1: don't check */
	const char *reason_has;    /* NULL: don't check */
};

#define REC(name, txt) name " TXT \"" txt "\"\n"

static const struct eval_case eval_cases[] = {
	{ "exact dkim", REC("_dmarc.example.com.", "v=DMARC1; p=reject"), DMARC_ORG_TREEWALK, "example.com", NULL,
	  { "+example.com" }, PASS, "example.com", NULL, R, NO, false, false, true, false, 1, "aligned dkim" },
	{ "unaligned fails with reject", REC("_dmarc.example.com.", "v=DMARC1; p=reject"), DMARC_ORG_TREEWALK,
	  "example.com", "example.net", { "+evil.test" }, FAIL, "example.com", "example.com", R, R, false, false, false,
	  false, 2, "no aligned identifier" },
	{ "failing signature does not count", REC("_dmarc.example.com.", "v=DMARC1; p=quarantine"), DMARC_ORG_TREEWALK,
	  "example.com", NULL, { "-example.com" }, FAIL, "example.com", NULL, Q, Q, false, false, false, false, 1, NULL },
	{ "relaxed spf (B.1.1 example 2)", REC("_dmarc.example.com.", "v=DMARC1; p=reject"), DMARC_ORG_TREEWALK,
	  "example.com", "child.example.com", { NULL }, PASS, "example.com", "example.com", R, NO, false, true, false,
	  false, 3, "aligned spf" },
	{ "strict spf", REC("_dmarc.example.com.", "v=DMARC1; p=reject; aspf=s"), DMARC_ORG_TREEWALK, "example.com",
	  "child.example.com", { NULL }, FAIL, "example.com", NULL, R, R, false, false, false, false, 1, NULL },
	{ "strict dkim: subdomain fails", REC("_dmarc.example.com.", "v=DMARC1; p=reject; adkim=s"),
	  DMARC_ORG_TREEWALK, "example.com", NULL, { "+mail.example.com" }, FAIL, NULL, NULL, R, R, false, false, false,
	  false, 1, NULL },
	{ "strict dkim: exact passes", REC("_dmarc.example.com.", "v=DMARC1; p=reject; adkim=s"), DMARC_ORG_TREEWALK,
	  "EXAMPLE.com.", NULL, { "+mail.example.com", "+Example.COM" }, PASS, NULL, NULL, R, NO, false, false, true,
	  false, 1, NULL },
	{ "only one of several signatures aligns",
	  REC("_dmarc.example.com.", "v=DMARC1; p=reject") REC("_dmarc.mail.example.com.", "v=DMARC1; p=none"),
	  DMARC_ORG_TREEWALK, "example.com", NULL, { "+evil.test", "-example.com", "+mail.example.com" }, PASS, NULL,
	  "example.com", R, NO, false, false, true, false, 3, "d=mail.example.com" },
	{ "subdomain takes sp", REC("_dmarc.example.com.", "v=DMARC1; p=reject; sp=quarantine") "news.example.com. A 192.0.2.1\n",
	  DMARC_ORG_TREEWALK, "news.example.com", NULL, { NULL }, FAIL, "example.com", "example.com", Q, Q, false, false,
	  false, false, 3, NULL },
	{ "subdomain without sp takes p", REC("_dmarc.example.com.", "v=DMARC1; p=reject"), DMARC_ORG_TREEWALK,
	  "news.example.com", NULL, { NULL }, FAIL, "example.com", NULL, R, R, false, false, false, false, 3, NULL },
	{ "np for a non-existent subdomain",
	  REC("_dmarc.example.com.", "v=DMARC1; p=none; sp=none; np=reject"), DMARC_ORG_TREEWALK,
	  "nosuch.example.com", NULL, { NULL }, FAIL, "example.com", NULL, R, R, false, false, false, false, 4, NULL },
	{ "np does not apply to an existing subdomain",
	  REC("_dmarc.example.com.", "v=DMARC1; p=none; np=reject") "exists.example.com. A 192.0.2.1\n",
	  DMARC_ORG_TREEWALK, "exists.example.com", NULL, { NULL }, FAIL, "example.com", NULL, NO, NO, false, false,
	  false, false, 4, NULL },
	{ "np not asked when it equals sp", REC("_dmarc.example.com.", "v=DMARC1; p=reject; np=reject"),
	  DMARC_ORG_TREEWALK, "nosuch.example.com", NULL, { NULL }, FAIL, "example.com", NULL, R, R, false, false, false,
	  false, 3, NULL },
	{ "np does not apply to the policy domain itself", REC("_dmarc.example.com.", "v=DMARC1; p=quarantine; np=reject"),
	  DMARC_ORG_TREEWALK, "example.com", NULL, { NULL }, FAIL, "example.com", NULL, Q, Q, false, false, false, false,
	  1, NULL },
	{ "existence check times out", REC("_dmarc.example.com.", "v=DMARC1; p=none; np=reject") "gone.example.com. TIMEOUT\n",
	  DMARC_ORG_TREEWALK, "gone.example.com", NULL, { NULL }, TEMP, "example.com", NULL, NO, NO, false, false, false,
	  false, 4, "timeout" },
	{ "t=y: reject applied as quarantine", REC("_dmarc.example.com.", "v=DMARC1; p=reject; t=y"),
	  DMARC_ORG_TREEWALK, "example.com", NULL, { NULL }, FAIL, NULL, NULL, R, Q, true, false, false, false, 1,
	  "testing (t=y)" },
	{ "t=y: quarantine applied as none", REC("_dmarc.example.com.", "v=DMARC1; p=quarantine; t=y"),
	  DMARC_ORG_TREEWALK, "example.com", NULL, { NULL }, FAIL, NULL, NULL, Q, NO, true, false, false, false, 1, NULL },
	{ "t=y does not affect a pass", REC("_dmarc.example.com.", "v=DMARC1; p=reject; t=y"), DMARC_ORG_TREEWALK,
	  "example.com", "example.com", { NULL }, PASS, NULL, NULL, R, NO, true, true, false, false, 1, NULL },
	{ "pct=0 maps to t=y", REC("_dmarc.example.com.", "v=DMARC1; p=reject; pct=0"), DMARC_ORG_TREEWALK,
	  "example.com", NULL, { NULL }, FAIL, NULL, NULL, R, Q, true, false, false, false, 1, "pct=0" },
	{ "pct=50 is ignored (RFC 9989)", REC("_dmarc.example.com.", "v=DMARC1; p=reject; pct=50"), DMARC_ORG_TREEWALK,
	  "example.com", NULL, { NULL }, FAIL, NULL, NULL, R, R, false, false, false, false, 1, NULL },
	{ "t=n wins over pct=0", REC("_dmarc.example.com.", "v=DMARC1; p=reject; pct=0; t=n"), DMARC_ORG_TREEWALK,
	  "example.com", NULL, { NULL }, FAIL, NULL, NULL, R, R, false, false, false, false, 1, NULL },
	{ "p=none never disposes", REC("_dmarc.example.com.", "v=DMARC1; p=none"), DMARC_ORG_TREEWALK, "example.com",
	  NULL, { NULL }, FAIL, NULL, NULL, NO, NO, false, false, false, false, 1, NULL },
	{ "p absent is none", REC("_dmarc.example.com.", "v=DMARC1; rua=mailto:r@example.com"), DMARC_ORG_TREEWALK,
	  "example.com", NULL, { NULL }, FAIL, NULL, NULL, NO, NO, false, false, false, false, 1, NULL },
	{ "invalid p with rua acts as none",
	  REC("_dmarc.example.com.", "v=DMARC1; p=bogus; sp=reject; rua=mailto:r@example.com"), DMARC_ORG_TREEWALK,
	  "example.com", NULL, { NULL }, FAIL, NULL, NULL, NO, NO, false, false, false, false, 1, NULL },
	{ "invalid p without rua is a permerror", REC("_dmarc.example.com.", "v=DMARC1; p=bogus"), DMARC_ORG_TREEWALK,
	  "example.com", "example.com", { NULL }, PERM, "example.com", NULL, U, NO, false, false, false, false, 1,
	  "invalid p=bogus" },
	{ "invalid np without rua is a permerror", REC("_dmarc.example.com.", "v=DMARC1; p=reject; np=maybe"),
	  DMARC_ORG_TREEWALK, "example.com", NULL, { NULL }, PERM, NULL, NULL, U, NO, false, false, false, false, 1,
	  NULL },
	{ "no record anywhere", "example.com. A 192.0.2.1\n", DMARC_ORG_TREEWALK, "mail.example.com", "mail.example.com",
	  { "+mail.example.com" }, RES_NONE, "", "mail.example.com", U, NO, false, false, false, false, 3,
	  "no DMARC policy record" },
	{ "several records at the author are discarded",
	  REC("_dmarc.example.com.", "v=DMARC1; p=none") REC("_dmarc.example.com.", "v=DMARC1; p=reject")
		  REC("_dmarc.com.", "v=DMARC1; p=quarantine"),
	  DMARC_ORG_TREEWALK, "example.com", NULL, { NULL }, FAIL, "com", "com", Q, Q, false, false, false, false, 2,
	  NULL },
	{ "non-DMARC TXT records are skipped",
	  REC("_dmarc.example.com.", "v=spf1 -all") REC("_dmarc.example.com.", "v=DMARC1; p=reject")
		  REC("_dmarc.example.com.", "hello"),
	  DMARC_ORG_TREEWALK, "example.com", NULL, { NULL }, FAIL, "example.com", NULL, R, R, false, false, false, false,
	  1, NULL },
	{ "timeout at the author", "_dmarc.example.com. TIMEOUT\n", DMARC_ORG_TREEWALK, "example.com", "example.com",
	  { "+example.com" }, TEMP, "", NULL, U, NO, false, false, false, false, 1, "timeout" },
	{ "servfail during the walk", REC("_dmarc.example.com.", "v=DMARC1; p=reject") "_dmarc.com. SERVFAIL\n",
	  DMARC_ORG_TREEWALK, "sub.example.com", NULL, { NULL }, TEMP, "", NULL, U, NO, false, false, false, false, 3,
	  "SERVFAIL" },
	{ "timeout while aligning, nothing else aligns",
	  REC("_dmarc.example.com.", "v=DMARC1; p=reject") "_dmarc.com. TIMEOUT\n", DMARC_ORG_TREEWALK, "example.com",
	  "mail.example.com", { NULL }, TEMP, "example.com", NULL, R, NO, false, false, false, false, 2,
	  "alignment undetermined" },
	{ "timeout while aligning, but dkim aligns exactly",
	  REC("_dmarc.example.com.", "v=DMARC1; p=reject") "_dmarc.com. TIMEOUT\n", DMARC_ORG_TREEWALK, "example.com",
	  "mail.example.com", { "+example.com" }, PASS, "example.com", NULL, R, NO, false, false, true, false, 2, NULL },
	/* RFC 9989 4.10.2 and appendix B.4 */
	{ "4.10.2: org is the shortest record",
	  REC("_dmarc.mail.example.com.", "v=DMARC1; p=none") REC("_dmarc.example.com.", "v=DMARC1; p=reject; sp=quarantine")
		  "a.mail.example.com. A 192.0.2.1\n",
	  DMARC_ORG_TREEWALK, "a.mail.example.com", NULL, { "+example.com" }, PASS, "example.com", "example.com", Q, NO,
	  false, false, true, false, 4, NULL },
	{ "4.10.2: psd=n makes the org",
	  REC("_dmarc.mail.example.com.", "v=DMARC1; p=quarantine; psd=n") REC("_dmarc.example.com.", "v=DMARC1; p=reject")
		  "a.mail.example.com. A 192.0.2.1\n",
	  DMARC_ORG_TREEWALK, "a.mail.example.com", NULL, { "+example.com" }, FAIL, "mail.example.com",
	  "mail.example.com", Q, Q, false, false, false, false, 2, NULL },
	{ "4.10.2: psd=y at the TLD", REC("_dmarc.com.", "v=DMARC1; p=reject; sp=quarantine; psd=y")
					  "a.mail.example.com. A 192.0.2.1\n",
	  DMARC_ORG_TREEWALK, "a.mail.example.com", NULL, { "+x.example.com", "+other.com" }, PASS, "com", "example.com", Q,
	  NO, false, false, true, true, 5, "d=x.example.com" },
	{ "B.4.1 simple", REC("_dmarc.example.com.", "v=DMARC1; p=reject") REC("_dmarc.signing.example.com.", "v=DMARC1; p=none"),
	  DMARC_ORG_TREEWALK, "example.com", "example.com", { "+signing.example.com" }, PASS, "example.com", "example.com",
	  R, NO, false, true, true, false, 3, NULL },
	{ "B.4.2 deep tree walk",
	  REC("_dmarc.example.com.", "v=DMARC1; p=reject") REC("_dmarc.signing.example.com.", "v=DMARC1; p=none"),
	  DMARC_ORG_TREEWALK, "a.b.c.d.e.f.g.h.i.j.k.example.com", "example.com", { "+signing.example.com" }, PASS,
	  "example.com", "example.com", R, NO, false, true, true, false, 9, NULL },
	{ "B.4.3 PSD: spf aligns, dkim does not",
	  REC("_dmarc.bank.example.", "v=DMARC1; p=reject; psd=y") REC("_dmarc.giant.bank.example.", "v=DMARC1; p=quarantine"),
	  DMARC_ORG_TREEWALK, "giant.bank.example", "mail.giant.bank.example", { "+mail.mega.bank.example" }, PASS,
	  "giant.bank.example", "giant.bank.example", Q, NO, false, true, false, false, 3, NULL },
	{ "B.4.3 PSD: dkim alone fails",
	  REC("_dmarc.bank.example.", "v=DMARC1; p=reject; psd=y") REC("_dmarc.giant.bank.example.", "v=DMARC1; p=quarantine"),
	  DMARC_ORG_TREEWALK, "giant.bank.example", NULL, { "+mail.mega.bank.example" }, FAIL, "giant.bank.example",
	  "giant.bank.example", Q, Q, false, false, false, false, 2, NULL },
	{ "PSD policy for an org without a record",
	  REC("_dmarc.bank.example.", "v=DMARC1; p=reject; sp=quarantine; psd=y") "small.bank.example. A 192.0.2.1\n",
	  DMARC_ORG_TREEWALK, "small.bank.example", NULL, { NULL }, FAIL, "bank.example", "small.bank.example", Q, Q,
	  false, false, false, true, 2, NULL },
	{ "PSD np for a non-existent org domain",
	  REC("_dmarc.bank.example.", "v=DMARC1; p=none; np=reject; psd=y") "bank.example. A 192.0.2.1\n",
	  DMARC_ORG_TREEWALK, "nosuch.bank.example", NULL, { NULL }, FAIL, "bank.example", "nosuch.bank.example", R, R,
	  false, false, false, true, 3, NULL },
	{ "author is the PSD itself",
	  REC("_dmarc.bank.example.", "v=DMARC1; p=reject; sp=none; psd=y"),
	  DMARC_ORG_TREEWALK, "bank.example", NULL, { "+x.bank.example" }, FAIL, "bank.example", "bank.example", R, R,
	  false, false, false, true, 2, NULL },
	{ "5.1.8: psd=n beyond the walk limit is not seen",
	  REC("_dmarc.b.c.d.e.f.g.example.com.", "v=DMARC1; p=none; psd=n") REC("_dmarc.example.com.", "v=DMARC1; p=reject")
		  "mail.a.b.c.d.e.f.g.example.com. A 192.0.2.1\n",
	  DMARC_ORG_TREEWALK, "mail.a.b.c.d.e.f.g.example.com", NULL, { NULL }, FAIL, "example.com", "example.com", R, R,
	  false, false, false, false, 8, NULL },
	{ "unrelated identifiers cost no walk", REC("_dmarc.example.com.", "v=DMARC1; p=reject"), DMARC_ORG_TREEWALK,
	  "example.com", "bounces.esp.test", { "+esp.test", "+other.org" }, FAIL, "example.com", "example.com", R, R,
	  false, false, false, false, 2, NULL },
	{ "IDN author domain", REC("_dmarc.xn--bcher-kva.example.", "v=DMARC1; p=reject"), DMARC_ORG_TREEWALK,
	  "b\xc3\xbc" "cher.example", NULL, { "+xn--bcher-kva.example" }, PASS, "xn--bcher-kva.example", NULL, R, NO,
	  false, false, true, false, 1, NULL },
	{ "no author domain", "", DMARC_ORG_TREEWALK, "", NULL, { NULL }, RES_NONE, "", "", U, NO, false, false, false,
	  false, 0, "no Author Domain" },
	{ "unusable author domain", "", DMARC_ORG_TREEWALK, "exa mple.com", NULL, { NULL }, PERM, "", "", U, NO, false,
	  false, false, false, 0, "invalid character" },
	{ "author domain with empty label", "", DMARC_ORG_TREEWALK, "a..example", NULL, { NULL }, PERM, "", "", U, NO,
	  false, false, false, false, 0, "empty label" },
	/* RFC 7489 mode: Organizational Domains from the PSL */
	{ "PSL: policy at the registrable domain", REC("_dmarc.example.co.uk.", "v=DMARC1; p=reject; sp=quarantine")
						   "mail.example.co.uk. A 192.0.2.1\n",
	  DMARC_ORG_PSL, "mail.example.co.uk", "x.example.co.uk", { NULL }, PASS, "example.co.uk", "example.co.uk", Q, NO,
	  false, true, false, false, 2, NULL },
	{ "PSL: no tree walk, no PSD", REC("_dmarc.co.uk.", "v=DMARC1; p=reject; psd=y"), DMARC_ORG_PSL,
	  "mail.example.co.uk", NULL, { NULL }, RES_NONE, "", "example.co.uk", U, NO, false, false, false, false, 2, NULL },
	{ "PSL: relaxed dkim across subdomains", REC("_dmarc.example.co.uk.", "v=DMARC1; p=reject"), DMARC_ORG_PSL,
	  "example.co.uk", NULL, { "+other.co.uk", "+s.example.co.uk" }, PASS, "example.co.uk", "example.co.uk", R, NO,
	  false, false, true, false, 1, NULL },
};

static void check_eval(const struct eval_case *c)
{
	struct counting *log;
	struct dns_resolver *r = make_resolver(c->zone, &log);
	struct dmarc_auth_dkim dk[3];
	size_t ndk = 0;
	for (size_t i = 0; i < 3 && c->dkim[i]; i++) {
		dk[ndk].domain = c->dkim[i] + 1;
		dk[ndk].pass = c->dkim[i][0] == '+';
		ndk++;
	}
	struct dmarc_input in = {
		.from_domain = c->from,
		.spf_domain = c->spf,
		.spf_pass = c->spf != NULL,
		.dkim = dk,
		.ndkim = ndk,
	};
	struct dmarc_opts o = { .orgmode = c->mode };
	struct dmarc_response resp;
	enum dmarc_result res = dmarc_evaluate(r, &in, &o, &resp);
	bool ok = res == c->result && resp.result == c->result && resp.applied == c->applied &&
		  resp.disposition == c->disposition && resp.testing == c->testing &&
		  resp.spf_aligned == c->spf_aligned && resp.dkim_aligned == c->dkim_aligned && resp.psd == c->psd;
	if (c->policy_domain)
		ok &= strcmp(resp.policy_domain, c->policy_domain) == 0;
	if (c->org_domain)
		ok &= strcmp(resp.org_domain, c->org_domain) == 0;
	if (c->queries >= 0)
		ok &= log->n == (unsigned)c->queries;
	if (c->reason_has)
		ok &= strstr(resp.reason, c->reason_has) != NULL;
	/* no _dmarc name is ever asked twice in one evaluation */
	for (unsigned i = 0; i < log->n && i < MAX_LOG; i++)
		ok &= times_queried(log, log->names[i]) == 1;
	if (!ok) {
		print_error("case \"%s\": result %s applied %s dis %s testing %d spf %d dkim %d psd %d policy \"%s\" org "
			    "\"%s\" queries %u reason \"%s\"\n",
			    c->name, dmarc_result_name(res), dmarc_policy_name(resp.applied),
			    dmarc_policy_name(resp.disposition), resp.testing, resp.spf_aligned, resp.dkim_aligned, resp.psd,
			    resp.policy_domain, resp.org_domain, log->n, resp.reason);
		for (unsigned i = 0; i < log->n && i < MAX_LOG; i++)
			print_error("  query %s\n", log->names[i]);
		dns_resolver_free(&r);
		fail();
	}
	dns_resolver_free(&r);
}

static void test_evaluate(void **state)
{
	for (size_t i = 0; i < sizeof eval_cases / sizeof eval_cases[0]; i++)
		check_eval(&eval_cases[i]);
}

/* the query order of the deep walk is the one RFC 9989 4.10 lists */
static void test_deep_walk_names(void **state)
{
	struct counting *log;
	struct dns_resolver *r = make_resolver(REC("_dmarc.example.com.", "v=DMARC1; p=reject"), &log);
	struct dmarc_input in = { .from_domain = "a.b.c.d.e.f.g.h.i.j.mail.example.com" };
	struct dmarc_response resp;
	assert_int_equal(dmarc_evaluate(r, &in, NULL, &resp), DMARC_FAIL);
	static const char *const want[] = {
		"TXT _dmarc.a.b.c.d.e.f.g.h.i.j.mail.example.com",
		"TXT _dmarc.g.h.i.j.mail.example.com",
		"TXT _dmarc.h.i.j.mail.example.com",
		"TXT _dmarc.i.j.mail.example.com",
		"TXT _dmarc.j.mail.example.com",
		"TXT _dmarc.mail.example.com",
		"TXT _dmarc.example.com",
		"TXT _dmarc.com",
	};
	assert_int_equal(log->n, 8);
	for (size_t i = 0; i < 8; i++)
		assert_string_equal(log->names[i], want[i]);
	assert_false(queried(log, "TXT _dmarc.f.g.h.i.j.mail.example.com"));
	assert_string_equal(resp.policy_domain, "example.com");
	assert_int_equal(resp.applied, DMARC_POLICY_REJECT);
	dns_resolver_free(&r);
}

static void test_response_fields(void **state)
{
	struct counting *log;
	struct dns_resolver *r = make_resolver(
		REC("_dmarc.example.com.", "v=DMARC1; p=quarantine; sp=reject; adkim=s; aspf=r; "
					   "rua=mailto:agg@example.com, mailto:x@thirdparty.test"),
		&log);
	struct dmarc_input in = { .from_domain = "Example.Com", .spf_domain = "example.com", .spf_pass = false };
	struct dmarc_response resp;
	assert_int_equal(dmarc_evaluate(r, &in, NULL, &resp), DMARC_FAIL);
	assert_string_equal(resp.from_domain, "example.com");
	assert_int_equal(resp.p, DMARC_POLICY_QUARANTINE);
	assert_int_equal(resp.sp, DMARC_POLICY_REJECT);
	assert_int_equal(resp.np, DMARC_POLICY_REJECT); /* np defaults to sp */
	assert_int_equal(resp.adkim, 's');
	assert_int_equal(resp.aspf, 'r');
	assert_false(resp.spf_aligned); /* SPF did not pass */
	assert_string_equal(resp.rua, "mailto:agg@example.com, mailto:x@thirdparty.test");
	assert_int_equal(resp.disposition, DMARC_POLICY_QUARANTINE);
	dns_resolver_free(&r);

	/* NULL input is handled; no resolver is a temporary failure, never none */
	assert_int_equal(dmarc_evaluate(NULL, NULL, NULL, &resp), DMARC_NONE);
	in.from_domain = "example.com";
	assert_int_equal(dmarc_evaluate(NULL, &in, NULL, &resp), DMARC_TEMPERROR);
	assert_non_null(strstr(resp.reason, "no resolver"));
	assert_string_equal(dmarc_result_name(DMARC_TEMPERROR), "temperror");
	assert_string_equal(dmarc_policy_name(DMARC_POLICY_QUARANTINE), "quarantine");
	assert_string_equal(dmarc_policy_name(DMARC_POLICY_UNSPECIFIED), "unspecified");
}

/* more passing DKIM signatures than DMARC_MAX_DKIM_WALKS: the extra ones
   are compared exactly, never walked */
static void test_dkim_walk_limit(void **state)
{
	struct counting *log;
	struct dns_resolver *r = make_resolver(REC("_dmarc.example.com.", "v=DMARC1; p=reject"), &log);
	char names[20][64];
	struct dmarc_auth_dkim dk[20];
	for (int i = 0; i < 20; i++) {
		snprintf(names[i], sizeof names[i], "s%d.x.example.com", i);
		dk[i].domain = names[i];
		dk[i].pass = true;
	}
	/* s*.x.example.com all have org example.com: the first aligns */
	struct dmarc_input in = { .from_domain = "example.com", .dkim = dk, .ndkim = 20 };
	struct dmarc_response resp;
	assert_int_equal(dmarc_evaluate(r, &in, NULL, &resp), DMARC_PASS);
	assert_string_equal(resp.dkim_aligned_domain, "s0.x.example.com");
	dns_resolver_free(&r);

	/* none aligns: organizational domain of each is itself (psd=n) */
	struct dns_stub *s = dns_stub_new();
	dns_stub_add_txt(s, "_dmarc.example.com", "v=DMARC1; p=reject", 18, 1);
	for (int i = 0; i < 20; i++) {
		char owner[1300];
		snprintf(owner, sizeof owner, "_dmarc.%s", names[i]);
		dns_stub_add_txt(s, owner, "v=DMARC1; psd=n", 15, 1);
	}
	struct counting *c = xcalloc(1, sizeof *c);
	c->inner = dns_stub_resolver(s);
	r = xcalloc(1, sizeof *r);
	r->ops = &counting_backend;
	r->state = c;
	assert_int_equal(dmarc_evaluate(r, &in, NULL, &resp), DMARC_FAIL);
	/* author: 2 queries; each walked signature: 1 (stops at psd=n) */
	assert_int_equal(c->n, 2 + DMARC_MAX_DKIM_WALKS);
	dns_resolver_free(&r);
}

struct org_case {
	const char *zone;
	enum dmarc_orgmode mode;
	const char *domain;
	int rc;
	const char *org;
};

static const struct org_case org_cases[] = {
	{ REC("_dmarc.example.com.", "v=DMARC1; p=none"), DMARC_ORG_TREEWALK, "a.b.example.com", 0, "example.com" },
	{ "", DMARC_ORG_TREEWALK, "a.b.example.com", 1, "a.b.example.com" },
	{ REC("_dmarc.b.example.com.", "v=DMARC1; psd=n") REC("_dmarc.example.com.", "v=DMARC1"), DMARC_ORG_TREEWALK,
	  "a.b.example.com", 0, "b.example.com" },
	{ REC("_dmarc.example.", "v=DMARC1; psd=y"), DMARC_ORG_TREEWALK, "x.y.z.example", 0, "z.example" },
	{ "_dmarc.com. TIMEOUT\n", DMARC_ORG_TREEWALK, "example.com", -1, "" },
	{ "", DMARC_ORG_TREEWALK, "bad domain", -2, "" },
	{ "", DMARC_ORG_TREEWALK, "", -2, "" },
	{ "", DMARC_ORG_PSL, "a.b.example.co.uk", 0, "example.co.uk" },
	{ "", DMARC_ORG_PSL, "Example.COM.", 0, "example.com" },
	{ "", DMARC_ORG_PSL, "co.uk", 1, "co.uk" },
};

static void test_org_domain(void **state)
{
	for (size_t i = 0; i < sizeof org_cases / sizeof org_cases[0]; i++) {
		const struct org_case *c = &org_cases[i];
		struct counting *log;
		struct dns_resolver *r = make_resolver(c->zone, &log);
		struct dmarc_opts o = { .orgmode = c->mode };
		char org[256];
		int rc = dmarc_org_domain(r, c->domain, &o, org, sizeof org);
		if (rc != c->rc || strcmp(org, c->org) != 0) {
			print_error("org case %zu (%s): rc %d org \"%s\", want %d \"%s\"\n", i, c->domain, rc, org, c->rc,
				    c->org);
			fail();
		}
		if (c->mode == DMARC_ORG_PSL)
			assert_int_equal(log->n, 0); /* PSL mode never queries */
		dns_resolver_free(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_good),
		cmocka_unit_test(test_record_details),
		cmocka_unit_test(test_record_bad),
		cmocka_unit_test(test_evaluate),
		cmocka_unit_test(test_deep_walk_names),
		cmocka_unit_test(test_response_fields),
		cmocka_unit_test(test_dkim_walk_limit),
		cmocka_unit_test(test_org_domain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
