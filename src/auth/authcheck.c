#include "auth/authcheck.h"
#include "auth/address.h"
#include "auth/authres.h"
#include "core/buf.h"
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void auth_opts_from_config(struct auth_opts *o, const struct mamori_config *cfg)
{
	memset(o, 0, sizeof *o);
	o->now = time(NULL);
	o->authserv_id = cfg->authserv_id;
	o->receiver = cfg->authserv_id;
	o->dkim_max_signatures = (unsigned)cfg->dkim_max_signatures;
	o->dkim_clock_skew = (unsigned)cfg->dkim_clock_skew;
	o->dkim_sha1_fails = strcmp(cfg->dkim_sha1, "fail") == 0;
	o->orgmode = strcmp(cfg->dmarc_org_domain, "psl") == 0 ? DMARC_ORG_PSL : DMARC_ORG_TREEWALK;
	o->arc_allow_sha1 = cfg->arc_allow_sha1;
}

/* a disposition's severity, to keep the strictest of several From domains */
static int severity(const struct dmarc_response *d)
{
	if (d->result == DMARC_TEMPERROR)
		return 4;
	switch (d->disposition) {
	case DMARC_POLICY_REJECT: return 3;
	case DMARC_POLICY_QUARANTINE: return 2;
	default: return d->result == DMARC_FAIL ? 1 : 0;
	}
}

static void run_dmarc(struct dns_resolver *r, const struct auth_opts *o, struct auth_results *res,
		      const struct auth_envelope *env)
{
	struct dmarc_auth_dkim dk[64];
	size_t ndk = 0;
	for (size_t i = 0; i < res->ndkim && ndk < 64; i++) {
		dk[ndk].domain = res->dkim[i].domain;
		dk[ndk].pass = res->dkim[i].result == DKIM_PASS;
		ndk++;
	}
	struct dmarc_input in = { .dkim = dk, .ndkim = ndk };
	if (res->spf_done) {
		in.spf_domain = res->spf.domain;
		in.spf_pass = res->spf.result == SPF_PASS;
	}
	struct dmarc_opts dopts = { .orgmode = o->orgmode };
	for (size_t i = 0; i < res->nfrom; i++) {
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			seen |= strcmp(res->from_domains[i], res->from_domains[j]) == 0;
		if (seen)
			continue;
		struct dmarc_response d;
		in.from_domain = res->from_domains[i];
		dmarc_evaluate(r, &in, &dopts, &d);
		if (!res->dmarc_done || severity(&d) > severity(&res->dmarc))
			res->dmarc = d;
		res->dmarc_done = true;
	}
	if (res->dmarc_done && res->dmarc.result == DMARC_TEMPERROR)
		res->tempfail = true;
	(void)env;
}

void auth_check(struct dns_resolver *r, const struct auth_opts *o, const struct message *msg,
		const struct auth_envelope *env, struct auth_results *res)
{
	memset(res, 0, sizeof *res);

	if (env->have_ip && (env->mail_from != NULL || (env->helo && env->helo[0]))) {
		struct spf_request req = {
			.ip = env->ip,
			.helo = env->helo,
			.mail_from = env->mail_from ? env->mail_from : "",
			.receiver = o->receiver ? o->receiver : o->authserv_id,
			.now = o->now,
		};
		spf_check(r, &req, &res->spf);
		res->spf_done = true;
		if (strcmp(res->spf.identity, "helo") != 0 && env->helo && env->helo[0]) {
			spf_check_helo(r, &req, &res->spf_helo);
			res->spf_helo_done = true;
		}
		if (res->spf.result == SPF_TEMPERROR)
			res->tempfail = true;
	}

	struct dkim_verify_opts dko = {
		.now = o->now,
		.max_signatures = o->dkim_max_signatures,
		.clock_skew = o->dkim_clock_skew,
		.sha1_fails = o->dkim_sha1_fails,
	};
	dkim_verify(r, msg, &dko, &res->dkim, &res->ndkim);
	for (size_t i = 0; i < res->ndkim; i++)
		if (res->dkim[i].result == DKIM_TEMPERROR)
			res->tempfail = true;

	struct arc_verify_opts ao = { .now = o->now, .allow_sha1 = o->arc_allow_sha1 };
	arc_verify(r, msg, &ao, &res->arc);
	if (res->arc.cv == ARC_TEMPERROR)
		res->tempfail = true;

	size_t nfrom = message_header_count(msg, "From");
	if (nfrom == 0) {
		snprintf(res->from_error, sizeof res->from_error, "no From header field");
	} else if (nfrom > 1) {
		/* RFC 9989 and RFC 5322 3.6: exactly one From field */
		snprintf(res->from_error, sizeof res->from_error, "%zu From header fields", nfrom);
	} else {
		const struct msg_header *h = message_header(msg, "From", 0);
		res->nfrom = address_from_domains(h->value, h->value_len, res->from_domains, AUTHCHECK_MAX_FROM,
						  res->from_error, sizeof res->from_error);
		if (res->nfrom == 0 && res->from_error[0] == '\0')
			snprintf(res->from_error, sizeof res->from_error, "no address in From");
	}
	if (res->nfrom > 0)
		run_dmarc(r, o, res, env);
}

void auth_results_free(struct auth_results *res)
{
	if (res->spf_done)
		spf_response_free(&res->spf);
	if (res->spf_helo_done)
		spf_response_free(&res->spf_helo);
	free(res->dkim);
	memset(res, 0, sizeof *res);
}

static void add_spf(struct authres_builder *b, const struct spf_response *s, const char *helo_name)
{
	char comment[320];
	snprintf(comment, sizeof comment, "%s", s->reason);
	authres_builder_add(b, "spf", spf_result_name(s->result), NULL, comment[0] ? comment : NULL);
	if (strcmp(s->identity, "helo") == 0)
		authres_builder_prop(b, "smtp", "helo", helo_name ? helo_name : s->domain);
	else
		authres_builder_prop(b, "smtp", "mailfrom", s->sender[0] ? s->sender : s->domain);
}

char *auth_results_header(const struct auth_results *res, const struct auth_opts *o, const char *eol)
{
	struct authres_builder *b = authres_builder_new(o->authserv_id);
	if (res->spf_done)
		add_spf(b, &res->spf, res->spf.domain);
	if (res->spf_helo_done)
		add_spf(b, &res->spf_helo, res->spf_helo.domain);
	if (res->ndkim == 0)
		authres_builder_add(b, "dkim", "none", NULL, NULL);
	for (size_t i = 0; i < res->ndkim; i++) {
		const struct dkim_sig_result *d = &res->dkim[i];
		char comment[320];
		if (d->result == DKIM_PASS)
			snprintf(comment, sizeof comment, "%u-bit key%s%s", d->key_bits, d->weak ? ", weak algorithm" : "",
				 d->testing ? ", key in testing mode" : "");
		else
			snprintf(comment, sizeof comment, "%s", d->reason);
		authres_builder_add(b, "dkim", dkim_result_name(d->result), NULL, comment);
		if (d->domain[0])
			authres_builder_prop(b, "header", "d", d->domain);
		if (d->selector[0])
			authres_builder_prop(b, "header", "s", d->selector);
		if (d->algorithm[0])
			authres_builder_prop(b, "header", "a", d->algorithm);
		if (d->b_prefix[0])
			authres_builder_prop(b, "header", "b", d->b_prefix);
	}
	if (res->dmarc_done) {
		const struct dmarc_response *d = &res->dmarc;
		char comment[400];
		/* the reason only when it explains a non-pass: a pass needs no story */
		bool why = d->result != DMARC_PASS && d->reason[0];
		snprintf(comment, sizeof comment, "p=%s sp=%s%s dis=%s%s%s", dmarc_policy_name(d->p), dmarc_policy_name(d->sp),
			 d->testing ? " t=y" : "", dmarc_policy_name(d->disposition), why ? "; " : "", why ? d->reason : "");
		authres_builder_add(b, "dmarc", dmarc_result_name(d->result), NULL,
				    d->result == DMARC_NONE && !d->reason[0] ? NULL : comment);
		authres_builder_prop(b, "header", "from", d->from_domain);
	} else {
		authres_builder_add(b, "dmarc", "permerror", NULL, res->from_error[0] ? res->from_error : "no From domain");
	}
	if (res->arc.cv != ARC_NONE || res->arc.instances > 0) {
		char comment[300];
		snprintf(comment, sizeof comment, "i=%u%s%s", res->arc.instances, res->arc.reason[0] ? "; " : "", res->arc.reason);
		authres_builder_add(b, "arc", arc_cv_name(res->arc.cv), NULL, comment);
		if (res->arc.oldest_pass > 0) {
			char op[16];
			snprintf(op, sizeof op, "%d", res->arc.oldest_pass);
			authres_builder_prop(b, "header", "oldest-pass", op); /* RFC 8617 10.2 */
		}
	}
	return authres_builder_finish(&b, eol);
}

/* JSON strings must be UTF-8; results can carry attacker bytes (d= tags,
   reasons quoting input), so invalid sequences become U+FFFD */
static json_t *jstr(const char *v)
{
	if (v == NULL)
		return json_null();
	json_t *s = json_string(v);
	if (s)
		return s;
	struct buf b = BUF_INIT(0);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x80)
			buf_putc(&b, (char)*p);
		else
			buf_puts(&b, "\xef\xbf\xbd");
	s = json_string(buf_cstr(&b));
	buf_free(&b);
	return s;
}

static void set_s(json_t *o, const char *k, const char *v)
{
	json_object_set_new(o, k, jstr(v));
}

static void set_i(json_t *o, const char *k, long long v)
{
	json_object_set_new(o, k, json_integer(v));
}

static void set_b(json_t *o, const char *k, bool v)
{
	json_object_set_new(o, k, json_boolean(v));
}

static json_t *spf_json(const struct spf_response *s)
{
	json_t *j = json_object();
	set_s(j, "result", spf_result_name(s->result));
	set_s(j, "identity", s->identity);
	set_s(j, "domain", s->domain);
	set_s(j, "sender", s->sender);
	set_s(j, "explanation", s->explanation);
	set_s(j, "reason", s->reason);
	set_i(j, "dns_lookups", s->dns_lookups);
	set_i(j, "void_lookups", s->void_lookups);
	return j;
}

json_t *auth_results_json(const struct auth_results *res, const struct auth_opts *o)
{
	json_t *j = json_object();
	set_s(j, "authserv_id", o->authserv_id);
	json_object_set_new(j, "spf", res->spf_done ? spf_json(&res->spf) : json_null());
	json_object_set_new(j, "spf_helo", res->spf_helo_done ? spf_json(&res->spf_helo) : json_null());
	json_t *dk = json_array();
	for (size_t i = 0; i < res->ndkim; i++) {
		const struct dkim_sig_result *d = &res->dkim[i];
		json_t *e = json_object();
		set_s(e, "result", dkim_result_name(d->result));
		set_s(e, "domain", d->domain);
		set_s(e, "selector", d->selector);
		set_s(e, "algorithm", d->algorithm);
		set_s(e, "identity", d->identity);
		set_i(e, "key_bits", d->key_bits);
		set_b(e, "weak", d->weak);
		set_b(e, "testing", d->testing);
		set_s(e, "reason", d->reason);
		json_array_append_new(dk, e);
	}
	json_object_set_new(j, "dkim", dk);
	json_t *dm = json_object();
	if (res->dmarc_done) {
		const struct dmarc_response *d = &res->dmarc;
		char adkim[2] = { d->adkim ? d->adkim : 'r', 0 }, aspf[2] = { d->aspf ? d->aspf : 'r', 0 };
		set_s(dm, "result", dmarc_result_name(d->result));
		set_s(dm, "from_domain", d->from_domain);
		set_s(dm, "policy_domain", d->policy_domain);
		set_s(dm, "org_domain", d->org_domain);
		set_s(dm, "policy", dmarc_policy_name(d->p));
		set_s(dm, "subdomain_policy", dmarc_policy_name(d->sp));
		set_s(dm, "nonexistent_policy", dmarc_policy_name(d->np));
		set_s(dm, "applied_policy", dmarc_policy_name(d->applied));
		set_b(dm, "testing", d->testing);
		set_b(dm, "spf_aligned", d->spf_aligned);
		set_b(dm, "dkim_aligned", d->dkim_aligned);
		set_s(dm, "dkim_aligned_domain", d->dkim_aligned_domain[0] ? d->dkim_aligned_domain : NULL);
		set_s(dm, "adkim", adkim);
		set_s(dm, "aspf", aspf);
		set_s(dm, "disposition", dmarc_policy_name(d->disposition));
		set_s(dm, "reason", d->reason);
	} else {
		set_s(dm, "result", "permerror");
		set_s(dm, "reason", res->from_error[0] ? res->from_error : "no From domain");
	}
	json_object_set_new(j, "dmarc", dm);
	json_t *arc = json_object();
	set_s(arc, "cv", arc_cv_name(res->arc.cv));
	set_i(arc, "instances", res->arc.instances);
	set_i(arc, "oldest_pass", res->arc.oldest_pass);
	set_s(arc, "sealer", res->arc.sealer_domain);
	set_s(arc, "reason", res->arc.reason);
	json_object_set_new(j, "arc", arc);
	set_b(j, "tempfail", res->tempfail);
	char *ar = auth_results_header(res, o, "\n");
	set_s(j, "authentication_results", ar);
	free(ar);
	return j;
}
