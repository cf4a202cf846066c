#include "core/config.h"
#include "core/mem.h"

#include <libconfig.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum key_type { K_STR, K_INT, K_INT64, K_BOOL, K_STRLIST, K_GROUPS };

/* one field of an entry of a list of groups (dkim.sign, inbound.vips, ...) */
struct field_def {
	const char *name;
	enum key_type type; /* K_STR, K_STRLIST or K_BOOL */
	size_t offset;
	bool required;
};

/* a list of groups: where it is stored and what its entries hold */
struct groups_def {
	size_t list_off, count_off, entry_size;
	const struct field_def *fields;
	size_t nfields;
};

struct key_def {
	const char *group, *name;
	enum key_type type;
	size_t offset;
	long min, max;               /* K_INT */
	const char *const *choices;  /* K_STR: allowed values, or NULL */
	const struct groups_def *groups; /* K_GROUPS */
};

static const char *const resolvers[] = { "unbound", "stub", NULL };
static const char *const levels[] = { "debug", "info", "warning", "error", NULL };
static const char *const sha1_modes[] = { "weak", "fail", NULL };
static const char *const org_modes[] = { "treewalk", "psl", NULL };
static const char *const store_backends[] = { "sqlite", NULL };
static const char *const check_modes[] = { "off", "score", "quarantine", "reject", NULL };
static const char *const signal_modes[] = { "off", "score", NULL };
static const char *const dmarc_modes[] = { "off", "score", "action", NULL };
static const char *const fail_modes[] = { "tempfail", "accept", NULL };

#define FOFF(t, f) offsetof(struct t, f)
static const struct field_def dkim_sign_fields[] = {
	{ "domain", K_STR, FOFF(config_dkim_sign, domain), true },
	{ "selector", K_STR, FOFF(config_dkim_sign, selector), true },
	{ "key_file", K_STR, FOFF(config_dkim_sign, key_file), true },
};
static const struct field_def abuse_ovr_fields[] = {
	{ "network", K_STR, FOFF(config_abuse_override, network), true },
	{ "contact", K_STR, FOFF(config_abuse_override, contact), true },
};
static const struct field_def vip_fields[] = {
	{ "name", K_STR, FOFF(config_vip, name), true },
	{ "address", K_STR, FOFF(config_vip, address), true },
};
static const struct field_def dnsbl_fields[] = {
	{ "zone", K_STR, FOFF(config_dnsbl_zone, zone), true },
	{ "codes", K_STRLIST, FOFF(config_dnsbl_zone, codes), false },
	{ "txt", K_BOOL, FOFF(config_dnsbl_zone, txt), false },
};
static const struct field_def rcpt_list_fields[] = {
	{ "recipient", K_STR, FOFF(config_recipient_list, recipient), true },
	{ "allow", K_STRLIST, FOFF(config_recipient_list, allow), false },
	{ "deny", K_STRLIST, FOFF(config_recipient_list, deny), false },
};
static const struct field_def sub_group_fields[] = {
	{ "name", K_STR, FOFF(config_sub_group, name), true },
	{ "accounts", K_STRLIST, FOFF(config_sub_group, accounts), true },
	{ "messages", K_STRLIST, FOFF(config_sub_group, messages), false },
	{ "recipients", K_STRLIST, FOFF(config_sub_group, recipients), false },
	{ "allow_networks", K_STRLIST, FOFF(config_sub_group, allow_networks), false },
	{ "deny_networks", K_STRLIST, FOFF(config_sub_group, deny_networks), false },
	{ "allow_countries", K_STRLIST, FOFF(config_sub_group, allow_countries), false },
	{ "deny_countries", K_STRLIST, FOFF(config_sub_group, deny_countries), false },
};
#define OFF(f) offsetof(struct mamori_config, f)
#define NF(a) (sizeof a / sizeof a[0])
#define GROUPS(list, n, type, fields) \
	{ OFF(list), OFF(n), sizeof(struct type), fields, NF(fields) }
static const struct groups_def g_dkim_sign = GROUPS(dkim_sign, n_dkim_sign, config_dkim_sign, dkim_sign_fields);
static const struct groups_def g_abuse_ovr =
	GROUPS(abuse_overrides, n_abuse_overrides, config_abuse_override, abuse_ovr_fields);
static const struct groups_def g_vips = GROUPS(inbound_vips, n_inbound_vips, config_vip, vip_fields);
static const struct groups_def g_dnsbl = GROUPS(dnsbl_zones, n_dnsbl_zones, config_dnsbl_zone, dnsbl_fields);
static const struct groups_def g_rcpt =
	GROUPS(lists_recipients, n_lists_recipients, config_recipient_list, rcpt_list_fields);
static const struct groups_def g_subgrp =
	GROUPS(submission_groups, n_submission_groups, config_sub_group, sub_group_fields);

static const struct key_def keys[] = {
	{ "general", "authserv_id", K_STR, OFF(authserv_id), 0, 0, NULL, NULL },
	{ "general", "data_dir", K_STR, OFF(data_dir), 0, 0, NULL, NULL },
	{ "general", "user", K_STR, OFF(user), 0, 0, NULL, NULL },
	{ "general", "log_level", K_STR, OFF(log_level), 0, 0, levels, NULL },
	{ "general", "syslog", K_BOOL, OFF(syslog), 0, 0, NULL, NULL },
	{ "dns", "resolver", K_STR, OFF(dns_resolver), 0, 0, resolvers, NULL },
	{ "dns", "zone_file", K_STR, OFF(dns_zone_file), 0, 0, NULL, NULL },
	{ "dns", "forwarders", K_STRLIST, OFF(dns_forwarders), 0, 0, NULL, NULL },
	{ "dns", "resolv_conf", K_STR, OFF(dns_resolv_conf), 0, 0, NULL, NULL },
	{ "dns", "trust_anchor_file", K_STR, OFF(dns_trust_anchor_file), 0, 0, NULL, NULL },
	{ "dns", "timeout_ms", K_INT, OFF(dns_timeout_ms), 100, 60000, NULL, NULL },
	{ "dkim", "max_signatures", K_INT, OFF(dkim_max_signatures), 1, 50, NULL, NULL },
	{ "dkim", "clock_skew", K_INT, OFF(dkim_clock_skew), 0, 86400, NULL, NULL },
	{ "dkim", "sha1", K_STR, OFF(dkim_sha1), 0, 0, sha1_modes, NULL },
	{ "dkim", "sign", K_GROUPS, 0, 0, 0, NULL, &g_dkim_sign },
	{ "dmarc", "org_domain", K_STR, OFF(dmarc_org_domain), 0, 0, org_modes, NULL },
	{ "arc", "allow_sha1", K_BOOL, OFF(arc_allow_sha1), 0, 0, NULL, NULL },
	{ "store", "backend", K_STR, OFF(store_backend), 0, 0, store_backends, NULL },
	{ "store", "path", K_STR, OFF(store_path), 0, 0, NULL, NULL },
	{ "geoip", "country_db", K_STR, OFF(geoip_country_db), 0, 0, NULL, NULL },
	{ "geoip", "asn_db", K_STR, OFF(geoip_asn_db), 0, 0, NULL, NULL },
	{ "reports", "max_decompressed_bytes", K_INT64, OFF(reports_max_decompressed), 1024, 4LL << 30, NULL, NULL },
	{ "reports", "max_records", K_INT, OFF(reports_max_records), 1, 10000000, NULL, NULL },
	{ "reports", "known_senders", K_STRLIST, OFF(reports_known_senders), 0, 0, NULL, NULL },
	{ "reports", "imap_url", K_STR, OFF(reports_imap_url), 0, 0, NULL, NULL },
	{ "reports", "imap_user", K_STR, OFF(reports_imap_user), 0, 0, NULL, NULL },
	{ "reports", "imap_password_file", K_STR, OFF(reports_imap_password_file), 0, 0, NULL, NULL },
	{ "reports", "imap_move_to", K_STR, OFF(reports_imap_move_to), 0, 0, NULL, NULL },
	{ "abuse", "min_messages", K_INT, OFF(abuse_min_messages), 1, 1000000000, NULL, NULL },
	{ "abuse", "period_days", K_INT, OFF(abuse_period_days), 1, 3650, NULL, NULL },
	{ "abuse", "from", K_STR, OFF(abuse_from), 0, 0, NULL, NULL },
	{ "abuse", "smtp_url", K_STR, OFF(abuse_smtp_url), 0, 0, NULL, NULL },
	{ "abuse", "smtp_user", K_STR, OFF(abuse_smtp_user), 0, 0, NULL, NULL },
	{ "abuse", "smtp_password_file", K_STR, OFF(abuse_smtp_password_file), 0, 0, NULL, NULL },
	{ "abuse", "rdap_bootstrap", K_STR, OFF(abuse_rdap_bootstrap), 0, 0, NULL, NULL },
	{ "abuse", "cainfo", K_STR, OFF(abuse_cainfo), 0, 0, NULL, NULL },
	{ "abuse", "rdap_cache_days", K_INT, OFF(abuse_rdap_cache_days), 0, 365, NULL, NULL },
	{ "abuse", "overrides", K_GROUPS, 0, 0, 0, NULL, &g_abuse_ovr },
	{ "inbound", "protected_domains", K_STRLIST, OFF(inbound_protected_domains), 0, 0, NULL, NULL },
	{ "inbound", "internal_networks", K_STRLIST, OFF(inbound_internal_networks), 0, 0, NULL, NULL },
	{ "inbound", "headers", K_BOOL, OFF(inbound_headers), 0, 0, NULL, NULL },
	{ "inbound", "dmarc", K_STR, OFF(inbound_dmarc), 0, 0, dmarc_modes, NULL },
	{ "inbound", "dmarc_forwarders", K_STRLIST, OFF(inbound_dmarc_forwarders), 0, 0, NULL, NULL },
	{ "inbound", "arc_trusted_sealers", K_STRLIST, OFF(inbound_arc_trusted_sealers), 0, 0, NULL, NULL },
	{ "inbound", "internal_spoof", K_STR, OFF(inbound_internal_spoof), 0, 0, check_modes, NULL },
	{ "inbound", "org_mismatch", K_STR, OFF(inbound_org_mismatch), 0, 0, signal_modes, NULL },
	{ "inbound", "impersonation", K_STR, OFF(inbound_impersonation), 0, 0, check_modes, NULL },
	{ "inbound", "lookalike", K_STR, OFF(inbound_lookalike), 0, 0, check_modes, NULL },
	{ "inbound", "reply_to", K_STR, OFF(inbound_reply_to), 0, 0, check_modes, NULL },
	{ "inbound", "unresolvable_sender", K_STR, OFF(inbound_unresolvable_sender), 0, 0, check_modes, NULL },
	{ "inbound", "dnsbl", K_STR, OFF(inbound_dnsbl), 0, 0, check_modes, NULL },
	{ "inbound", "score_quarantine", K_INT, OFF(inbound_score_quarantine), 0, 1000, NULL, NULL },
	{ "inbound", "score_reject", K_INT, OFF(inbound_score_reject), 0, 1000, NULL, NULL },
	{ "inbound", "dns_failure", K_STR, OFF(inbound_dns_failure), 0, 0, fail_modes, NULL },
	{ "inbound", "vips", K_GROUPS, 0, 0, 0, NULL, &g_vips },
	{ "inbound", "freemail_domains", K_STRLIST, OFF(inbound_freemail_domains), 0, 0, NULL, NULL },
	{ "dnsbl", "zones", K_GROUPS, 0, 0, 0, NULL, &g_dnsbl },
	{ "lists", "allow_ips", K_STRLIST, OFF(lists_allow_ips), 0, 0, NULL, NULL },
	{ "lists", "deny_ips", K_STRLIST, OFF(lists_deny_ips), 0, 0, NULL, NULL },
	{ "lists", "allow_senders", K_STRLIST, OFF(lists_allow_senders), 0, 0, NULL, NULL },
	{ "lists", "deny_senders", K_STRLIST, OFF(lists_deny_senders), 0, 0, NULL, NULL },
	{ "lists", "recipients", K_GROUPS, 0, 0, 0, NULL, &g_rcpt },
	{ "quarantine", "dir", K_STR, OFF(quarantine_dir), 0, 0, NULL, NULL },
	{ "quarantine", "retention_days", K_INT, OFF(quarantine_retention_days), 1, 3650, NULL, NULL },
	{ "quarantine", "relay_url", K_STR, OFF(quarantine_relay_url), 0, 0, NULL, NULL },
	{ "quarantine", "relay_user", K_STR, OFF(quarantine_relay_user), 0, 0, NULL, NULL },
	{ "quarantine", "relay_password_file", K_STR, OFF(quarantine_relay_password_file), 0, 0, NULL, NULL },
	{ "quarantine", "release_attempts", K_INT, OFF(quarantine_release_attempts), 1, 100, NULL, NULL },
	{ "msglog", "retention_days", K_INT, OFF(msglog_retention_days), 1, 3650, NULL, NULL },
	{ "submission", "enabled", K_BOOL, OFF(submission_enabled), 0, 0, NULL, NULL },
	{ "submission", "reply_code", K_INT, OFF(submission_reply_code), 400, 599, NULL, NULL },
	{ "submission", "account_messages", K_STRLIST, OFF(submission_account_messages), 0, 0, NULL, NULL },
	{ "submission", "account_recipients", K_STRLIST, OFF(submission_account_recipients), 0, 0, NULL, NULL },
	{ "submission", "ip_messages", K_STRLIST, OFF(submission_ip_messages), 0, 0, NULL, NULL },
	{ "submission", "ip_recipients", K_STRLIST, OFF(submission_ip_recipients), 0, 0, NULL, NULL },
	{ "submission", "account_ip_messages", K_STRLIST, OFF(submission_account_ip_messages), 0, 0, NULL, NULL },
	{ "submission", "account_ip_recipients", K_STRLIST, OFF(submission_account_ip_recipients), 0, 0, NULL, NULL },
	{ "submission", "allow_networks", K_STRLIST, OFF(submission_allow_networks), 0, 0, NULL, NULL },
	{ "submission", "deny_networks", K_STRLIST, OFF(submission_deny_networks), 0, 0, NULL, NULL },
	{ "submission", "allow_countries", K_STRLIST, OFF(submission_allow_countries), 0, 0, NULL, NULL },
	{ "submission", "deny_countries", K_STRLIST, OFF(submission_deny_countries), 0, 0, NULL, NULL },
	{ "submission", "groups", K_GROUPS, 0, 0, 0, NULL, &g_subgrp },
	{ "submission", "lock_max_ips", K_INT, OFF(submission_lock_max_ips), 0, 63, NULL, NULL },
	{ "submission", "lock_max_countries", K_INT, OFF(submission_lock_max_countries), 0, 63, NULL, NULL },
	{ "submission", "lock_window", K_INT, OFF(submission_lock_window), 1, 30 * 86400, NULL, NULL },
	{ "submission", "lock_duration", K_INT, OFF(submission_lock_duration), 0, 366 * 86400, NULL, NULL },
	{ "submission", "lock_messages", K_STRLIST, OFF(submission_lock_messages), 0, 0, NULL, NULL },
	{ "submission", "notify", K_STR, OFF(submission_notify), 0, 0, NULL, NULL },
	{ "submission", "notify_from", K_STR, OFF(submission_notify_from), 0, 0, NULL, NULL },
	{ "submission", "notify_smtp_url", K_STR, OFF(submission_notify_smtp_url), 0, 0, NULL, NULL },
	{ "submission", "on_error", K_STR, OFF(submission_on_error), 0, 0, fail_modes, NULL },
	{ "submission", "policy_listen", K_STR, OFF(submission_policy_listen), 0, 0, NULL, NULL },
	{ "redis", "url", K_STR, OFF(redis_url), 0, 0, NULL, NULL },
	{ "redis", "timeout_ms", K_INT, OFF(redis_timeout_ms), 10, 60000, NULL, NULL },
	{ "redis", "prefix", K_STR, OFF(redis_prefix), 0, 0, NULL, NULL },
	{ "milter", "socket", K_STR, OFF(milter_socket), 0, 0, NULL, NULL },
	{ "http", "listen", K_STR, OFF(http_listen), 0, 0, NULL, NULL },
};
#define NKEYS (sizeof keys / sizeof keys[0])

const char *const *config_known_keys(void)
{
	static const char *names[NKEYS + 1];
	static char store[NKEYS][64];
	if (names[0] == NULL)
		for (size_t i = 0; i < NKEYS; i++) {
			snprintf(store[i], sizeof store[i], "%s.%s", keys[i].group, keys[i].name);
			names[i] = store[i];
		}
	return names;
}

static char **strp(void *base, size_t off)
{
	return (char **)((char *)base + off);
}

static char ***listp(void *base, size_t off)
{
	return (char ***)((char *)base + off);
}

static char **strlist_empty(void)
{
	return xcalloc(1, sizeof(char *));
}

/* a NULL-terminated list of copies of the NULL-terminated arguments */
static char **strlist_of(const char *first, ...)
{
	size_t n = 0;
	va_list ap;
	va_start(ap, first);
	for (const char *v = first; v; v = va_arg(ap, const char *))
		n++;
	va_end(ap);
	char **l = xcalloc(n + 1, sizeof(char *));
	size_t i = 0;
	va_start(ap, first);
	for (const char *v = first; v; v = va_arg(ap, const char *))
		l[i++] = xstrdup(v);
	va_end(ap);
	return l;
}

void config_defaults(struct mamori_config *c)
{
	memset(c, 0, sizeof *c);
	char host[256];
	if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	c->authserv_id = xstrdup(host);
	c->data_dir = xstrdup("./var");
	c->user = xstrdup("mamori");
	c->log_level = xstrdup("info");
	c->dns_resolver = xstrdup("unbound");
	c->dns_zone_file = xstrdup("");
	c->dns_forwarders = strlist_empty();
	c->dns_resolv_conf = xstrdup("/etc/resolv.conf");
	c->dns_trust_anchor_file = xstrdup("");
	c->dns_timeout_ms = 5000;
	c->dkim_max_signatures = 8;
	c->dkim_clock_skew = 300;
	c->dkim_sha1 = xstrdup("weak");
	c->dmarc_org_domain = xstrdup("treewalk");
	c->store_backend = xstrdup("sqlite");
	c->store_path = xstrdup("");
	c->geoip_country_db = xstrdup("");
	c->geoip_asn_db = xstrdup("");
	c->reports_max_decompressed = 100LL * 1024 * 1024;
	c->reports_max_records = 1000000;
	c->reports_known_senders = strlist_empty();
	c->reports_imap_url = xstrdup("");
	c->reports_imap_user = xstrdup("");
	c->reports_imap_password_file = xstrdup("");
	c->reports_imap_move_to = xstrdup("");
	c->abuse_min_messages = 10;
	c->abuse_period_days = 7;
	c->abuse_from = xstrdup("");
	c->abuse_smtp_url = xstrdup("smtp://127.0.0.1:25");
	c->abuse_smtp_user = xstrdup("");
	c->abuse_smtp_password_file = xstrdup("");
	c->abuse_rdap_bootstrap = xstrdup("https://data.iana.org/rdap/");
	c->abuse_cainfo = xstrdup("");
	c->abuse_rdap_cache_days = 7;
	c->inbound_protected_domains = strlist_empty();
	c->inbound_internal_networks = strlist_of("127.0.0.0/8", "::1/128", NULL);
	c->inbound_headers = true;
	c->inbound_dmarc = xstrdup("action");
	c->inbound_dmarc_forwarders = strlist_empty();
	c->inbound_arc_trusted_sealers = strlist_empty();
	c->inbound_internal_spoof = xstrdup("quarantine");
	c->inbound_org_mismatch = xstrdup("score");
	c->inbound_impersonation = xstrdup("quarantine");
	c->inbound_lookalike = xstrdup("quarantine");
	c->inbound_reply_to = xstrdup("score");
	c->inbound_unresolvable_sender = xstrdup("reject");
	c->inbound_dnsbl = xstrdup("reject");
	c->inbound_score_quarantine = 10;
	c->inbound_score_reject = 0;
	c->inbound_dns_failure = xstrdup("tempfail");
	c->inbound_freemail_domains = strlist_empty();
	c->lists_allow_ips = strlist_empty();
	c->lists_deny_ips = strlist_empty();
	c->lists_allow_senders = strlist_empty();
	c->lists_deny_senders = strlist_empty();
	c->quarantine_dir = xstrdup("");
	c->quarantine_retention_days = 30;
	c->quarantine_relay_url = xstrdup("smtp://127.0.0.1:25");
	c->quarantine_relay_user = xstrdup("");
	c->quarantine_relay_password_file = xstrdup("");
	c->quarantine_release_attempts = 10;
	c->msglog_retention_days = 90;
	c->submission_enabled = true;
	c->submission_reply_code = 451;
	c->submission_account_messages = strlist_of("100/1m", "500/1h", "2000/1d", NULL);
	c->submission_account_recipients = strlist_of("500/1m", "2000/1h", "10000/1d", NULL);
	c->submission_ip_messages = strlist_empty();
	c->submission_ip_recipients = strlist_empty();
	c->submission_account_ip_messages = strlist_empty();
	c->submission_account_ip_recipients = strlist_empty();
	c->submission_allow_networks = strlist_empty();
	c->submission_deny_networks = strlist_empty();
	c->submission_allow_countries = strlist_empty();
	c->submission_deny_countries = strlist_empty();
	c->submission_lock_max_ips = 10;
	c->submission_lock_max_countries = 3;
	c->submission_lock_window = 3600;
	c->submission_lock_duration = 0;
	c->submission_lock_messages = strlist_empty();
	c->submission_notify = xstrdup("");
	c->submission_notify_from = xstrdup("");
	c->submission_notify_smtp_url = xstrdup("smtp://127.0.0.1:25");
	c->submission_on_error = xstrdup("tempfail");
	c->submission_policy_listen = xstrdup("");
	c->redis_url = xstrdup("");
	c->redis_timeout_ms = 250;
	c->redis_prefix = xstrdup("mamori:");
	c->milter_socket = xstrdup("unix:./var/mamorid.sock");
	c->http_listen = xstrdup("127.0.0.1:8025");
}

static void strlist_free(char **l)
{
	for (size_t i = 0; l && l[i]; i++)
		free(l[i]);
	free(l);
}

static void groups_free(struct mamori_config *c, const struct groups_def *g)
{
	char *list = *(char **)((char *)c + g->list_off);
	size_t n = *(size_t *)((char *)c + g->count_off);
	for (size_t i = 0; list && i < n + 1; i++) /* +1: a half-loaded entry */
		for (size_t f = 0; f < g->nfields; f++) {
			void *e = list + i * g->entry_size;
			if (g->fields[f].type == K_STR)
				free(*strp(e, g->fields[f].offset));
			else if (g->fields[f].type == K_STRLIST)
				strlist_free(*listp(e, g->fields[f].offset));
		}
	free(list);
}

void config_free(struct mamori_config *c)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].type == K_STR)
			free(*strp(c, keys[i].offset));
		else if (keys[i].type == K_STRLIST)
			strlist_free(*listp(c, keys[i].offset));
		else if (keys[i].type == K_GROUPS)
			groups_free(c, keys[i].groups);
	}
	free(c->path);
	memset(c, 0, sizeof *c);
}

__attribute__((format(printf, 6, 7)))
static int where(const config_setting_t *s, const char *path, char *err, size_t errlen, const char *key,
		 const char *fmt, ...)
{
	const char *file = config_setting_source_file(s);
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s:%u: %s: %s", file ? file : path, config_setting_source_line(s), key, msg);
	return -1;
}

static int load_strlist(config_setting_t *s, char ***dst, const char *key, const char *path, char *err,
			size_t errlen)
{
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return where(s, path, err, errlen, key, "%s", "must be a list of strings [ \"...\", ... ]");
	int n = config_setting_length(s);
	strlist_free(*dst);
	*dst = xcalloc((size_t)n + 1, sizeof(char *));
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return where(e, path, err, errlen, key, "%s", "every element must be a string");
		(*dst)[i] = xstrdup(config_setting_get_string(e));
	}
	return 0;
}

/* a list of groups, e.g. dkim.sign = ( { domain = "..."; ... }, ... ) */
static int load_groups(config_setting_t *s, struct mamori_config *c, const struct groups_def *g, const char *key,
		       const char *path, char *err, size_t errlen)
{
	if (!config_setting_is_list(s) && !config_setting_is_array(s))
		return where(s, path, err, errlen, key, "%s", "must be a list of groups ( { ... }, ... )");
	groups_free(c, g);
	int n = config_setting_length(s);
	char *list = xcalloc((size_t)n + 1, g->entry_size);
	*(char **)((char *)c + g->list_off) = list;
	size_t *count = (size_t *)((char *)c + g->count_off);
	*count = 0;
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (!config_setting_is_group(e))
			return where(e, path, err, errlen, key, "%s", "each entry must be a group { ... }");
		void *entry = list + (size_t)i * g->entry_size;
		for (size_t f = 0; f < g->nfields; f++)
			if (g->fields[f].type == K_STRLIST)
				*listp(entry, g->fields[f].offset) = strlist_empty();
		(*count)++;
		for (int j = 0; j < config_setting_length(e); j++) {
			config_setting_t *fs = config_setting_get_elem(e, (unsigned)j);
			const char *name = config_setting_name(fs);
			const struct field_def *fd = NULL;
			for (size_t f = 0; f < g->nfields && !fd; f++)
				if (strcmp(name, g->fields[f].name) == 0)
					fd = &g->fields[f];
			if (fd == NULL)
				return where(fs, path, err, errlen, key, "unknown key \"%s\"", name);
			if (fd->type == K_STR) {
				if (config_setting_type(fs) != CONFIG_TYPE_STRING)
					return where(fs, path, err, errlen, key, "\"%s\" must be a string", name);
				free(*strp(entry, fd->offset));
				*strp(entry, fd->offset) = xstrdup(config_setting_get_string(fs));
			} else if (fd->type == K_BOOL) {
				if (config_setting_type(fs) != CONFIG_TYPE_BOOL)
					return where(fs, path, err, errlen, key, "\"%s\" must be true or false", name);
				*(bool *)((char *)entry + fd->offset) = config_setting_get_bool(fs);
			} else {
				char sub[96];
				snprintf(sub, sizeof sub, "%s.%s", key, name);
				if (load_strlist(fs, listp(entry, fd->offset), sub, path, err, errlen) < 0)
					return -1;
			}
		}
		for (size_t f = 0; f < g->nfields; f++)
			if (g->fields[f].required && g->fields[f].type == K_STR && *strp(entry, g->fields[f].offset) == NULL)
				return where(e, path, err, errlen, key, "entry needs %s", g->fields[f].name);
		for (size_t f = 0; f < g->nfields; f++)
			if (g->fields[f].required && g->fields[f].type == K_STRLIST &&
			    (*listp(entry, g->fields[f].offset))[0] == NULL)
				return where(e, path, err, errlen, key, "entry needs a non-empty %s", g->fields[f].name);
		/* optional strings read as "" when absent */
		for (size_t f = 0; f < g->nfields; f++)
			if (g->fields[f].type == K_STR && *strp(entry, g->fields[f].offset) == NULL)
				*strp(entry, g->fields[f].offset) = xstrdup("");
	}
	return 0;
}

static int load_key(config_setting_t *s, const struct key_def *k, struct mamori_config *c, const char *path,
		    char *err, size_t errlen)
{
	char key[64];
	snprintf(key, sizeof key, "%s.%s", k->group, k->name);
	switch (k->type) {
	case K_STR: {
		if (config_setting_type(s) != CONFIG_TYPE_STRING)
			return where(s, path, err, errlen, key, "%s", "must be a string in double quotes");
		const char *v = config_setting_get_string(s);
		if (k->choices) {
			bool ok = false;
			for (size_t i = 0; k->choices[i]; i++)
				ok |= strcmp(v, k->choices[i]) == 0;
			if (!ok)
				return where(s, path, err, errlen, key, "\"%s\" is not one of the allowed values", v);
		}
		char **dst = strp(c, k->offset);
		free(*dst);
		*dst = xstrdup(v);
		return 0;
	}
	case K_INT: {
		if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64)
			return where(s, path, err, errlen, key, "%s", "must be an integer");
		long long v = config_setting_get_int64(s);
		if (v < k->min || v > k->max) {
			char range[64];
			snprintf(range, sizeof range, "%lld is outside %ld..%ld", v, k->min, k->max);
			return where(s, path, err, errlen, key, "%s", range);
		}
		*(int *)((char *)c + k->offset) = (int)v;
		return 0;
	}
	case K_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			return where(s, path, err, errlen, key, "%s", "must be true or false");
		*(bool *)((char *)c + k->offset) = config_setting_get_bool(s);
		return 0;
	case K_STRLIST:
		return load_strlist(s, listp(c, k->offset), key, path, err, errlen);
	case K_GROUPS:
		return load_groups(s, c, k->groups, key, path, err, errlen);
	case K_INT64: {
		if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64)
			return where(s, path, err, errlen, key, "%s", "must be an integer (use an L suffix above 2147483647)");
		long long v = config_setting_get_int64(s);
		if (v < k->min || v > k->max)
			return where(s, path, err, errlen, key, "%lld is outside %ld..%ld", v, k->min, k->max);
		*(long long *)((char *)c + k->offset) = v;
		return 0;
	}
	}
	return 0;
}

int config_load(const char *path, struct mamori_config *c, char *err, size_t errlen)
{
	config_defaults(c);
	config_t lc;
	config_init(&lc);
	int rc = -1;
	if (config_read_file(&lc, path) != CONFIG_TRUE) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s: cannot read the file", path);
		else
			snprintf(err, errlen, "%s:%d: syntax error: %s",
				 config_error_file(&lc) ? config_error_file(&lc) : path,
				 config_error_line(&lc), config_error_text(&lc));
		goto out;
	}
	config_setting_t *root = config_root_setting(&lc);
	for (int g = 0; g < config_setting_length(root); g++) {
		config_setting_t *grp = config_setting_get_elem(root, (unsigned)g);
		const char *gname = config_setting_name(grp);
		bool known = false;
		for (size_t i = 0; i < NKEYS; i++)
			known |= strcmp(keys[i].group, gname) == 0;
		if (!known) {
			where(grp, path, err, errlen, gname, "%s", "unknown section");
			goto out;
		}
		if (!config_setting_is_group(grp)) {
			where(grp, path, err, errlen, gname, "%s", "must be a group: name = { ... };");
			goto out;
		}
		for (int j = 0; j < config_setting_length(grp); j++) {
			config_setting_t *s = config_setting_get_elem(grp, (unsigned)j);
			const char *kname = config_setting_name(s);
			const struct key_def *k = NULL;
			for (size_t i = 0; i < NKEYS; i++)
				if (strcmp(keys[i].group, gname) == 0 && strcmp(keys[i].name, kname) == 0)
					k = &keys[i];
			if (k == NULL) {
				char full[128];
				snprintf(full, sizeof full, "%s.%s", gname, kname);
				where(s, path, err, errlen, full, "%s", "unknown key");
				goto out;
			}
			if (load_key(s, k, c, path, err, errlen) < 0)
				goto out;
		}
	}
	if (strcmp(c->dns_resolver, "stub") == 0 && c->dns_zone_file[0] == '\0') {
		snprintf(err, errlen, "%s: dns.zone_file: required when dns.resolver is \"stub\"", path);
		goto out;
	}
	c->path = xstrdup(path);
	rc = 0;
out:
	config_destroy(&lc);
	if (rc < 0) {
		config_free(c);
		config_defaults(c);
	}
	return rc;
}
