#include "core/config.h"
#include "core/mem.h"

#include <libconfig.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum key_type { K_STR, K_INT, K_INT64, K_BOOL, K_STRLIST, K_DKIMSIGN, K_ABUSEOVR };

struct key_def {
	const char *group, *name;
	enum key_type type;
	size_t offset;
	long min, max;               /* K_INT */
	const char *const *choices;  /* K_STR: allowed values, or NULL */
};

static const char *const resolvers[] = { "unbound", "stub", NULL };
static const char *const levels[] = { "debug", "info", "warning", "error", NULL };
static const char *const sha1_modes[] = { "weak", "fail", NULL };
static const char *const org_modes[] = { "treewalk", "psl", NULL };
static const char *const store_backends[] = { "sqlite", NULL };

#define OFF(f) offsetof(struct mamori_config, f)
static const struct key_def keys[] = {
	{ "general", "authserv_id", K_STR, OFF(authserv_id), 0, 0, NULL },
	{ "general", "data_dir", K_STR, OFF(data_dir), 0, 0, NULL },
	{ "general", "user", K_STR, OFF(user), 0, 0, NULL },
	{ "general", "log_level", K_STR, OFF(log_level), 0, 0, levels },
	{ "general", "syslog", K_BOOL, OFF(syslog), 0, 0, NULL },
	{ "dns", "resolver", K_STR, OFF(dns_resolver), 0, 0, resolvers },
	{ "dns", "zone_file", K_STR, OFF(dns_zone_file), 0, 0, NULL },
	{ "dns", "forwarders", K_STRLIST, OFF(dns_forwarders), 0, 0, NULL },
	{ "dns", "resolv_conf", K_STR, OFF(dns_resolv_conf), 0, 0, NULL },
	{ "dns", "trust_anchor_file", K_STR, OFF(dns_trust_anchor_file), 0, 0, NULL },
	{ "dns", "timeout_ms", K_INT, OFF(dns_timeout_ms), 100, 60000, NULL },
	{ "dkim", "max_signatures", K_INT, OFF(dkim_max_signatures), 1, 50, NULL },
	{ "dkim", "clock_skew", K_INT, OFF(dkim_clock_skew), 0, 86400, NULL },
	{ "dkim", "sha1", K_STR, OFF(dkim_sha1), 0, 0, sha1_modes },
	{ "dkim", "sign", K_DKIMSIGN, 0, 0, 0, NULL },
	{ "dmarc", "org_domain", K_STR, OFF(dmarc_org_domain), 0, 0, org_modes },
	{ "arc", "allow_sha1", K_BOOL, OFF(arc_allow_sha1), 0, 0, NULL },
	{ "store", "backend", K_STR, OFF(store_backend), 0, 0, store_backends },
	{ "store", "path", K_STR, OFF(store_path), 0, 0, NULL },
	{ "geoip", "country_db", K_STR, OFF(geoip_country_db), 0, 0, NULL },
	{ "geoip", "asn_db", K_STR, OFF(geoip_asn_db), 0, 0, NULL },
	{ "reports", "max_decompressed_bytes", K_INT64, OFF(reports_max_decompressed), 1024, 4LL << 30, NULL },
	{ "reports", "max_records", K_INT, OFF(reports_max_records), 1, 10000000, NULL },
	{ "reports", "known_senders", K_STRLIST, OFF(reports_known_senders), 0, 0, NULL },
	{ "reports", "imap_url", K_STR, OFF(reports_imap_url), 0, 0, NULL },
	{ "reports", "imap_user", K_STR, OFF(reports_imap_user), 0, 0, NULL },
	{ "reports", "imap_password_file", K_STR, OFF(reports_imap_password_file), 0, 0, NULL },
	{ "reports", "imap_move_to", K_STR, OFF(reports_imap_move_to), 0, 0, NULL },
	{ "abuse", "min_messages", K_INT, OFF(abuse_min_messages), 1, 1000000000, NULL },
	{ "abuse", "period_days", K_INT, OFF(abuse_period_days), 1, 3650, NULL },
	{ "abuse", "from", K_STR, OFF(abuse_from), 0, 0, NULL },
	{ "abuse", "smtp_url", K_STR, OFF(abuse_smtp_url), 0, 0, NULL },
	{ "abuse", "smtp_user", K_STR, OFF(abuse_smtp_user), 0, 0, NULL },
	{ "abuse", "smtp_password_file", K_STR, OFF(abuse_smtp_password_file), 0, 0, NULL },
	{ "abuse", "rdap_bootstrap", K_STR, OFF(abuse_rdap_bootstrap), 0, 0, NULL },
	{ "abuse", "cainfo", K_STR, OFF(abuse_cainfo), 0, 0, NULL },
	{ "abuse", "rdap_cache_days", K_INT, OFF(abuse_rdap_cache_days), 0, 365, NULL },
	{ "abuse", "overrides", K_ABUSEOVR, 0, 0, 0, NULL },
	{ "milter", "socket", K_STR, OFF(milter_socket), 0, 0, NULL },
	{ "http", "listen", K_STR, OFF(http_listen), 0, 0, NULL },
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

static char **strp(struct mamori_config *c, size_t off)
{
	return (char **)((char *)c + off);
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
	c->dns_forwarders = xcalloc(1, sizeof(char *));
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
	c->reports_known_senders = xcalloc(1, sizeof(char *));
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
	c->milter_socket = xstrdup("unix:./var/mamorid.sock");
	c->http_listen = xstrdup("127.0.0.1:8025");
}

static void strlist_free(char **l)
{
	for (size_t i = 0; l && l[i]; i++)
		free(l[i]);
	free(l);
}

void config_free(struct mamori_config *c)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].type == K_STR)
			free(*strp(c, keys[i].offset));
	strlist_free(c->dns_forwarders);
	strlist_free(c->reports_known_senders);
	for (size_t i = 0; i < c->n_abuse_overrides; i++) {
		free(c->abuse_overrides[i].network);
		free(c->abuse_overrides[i].contact);
	}
	free(c->abuse_overrides);
	for (size_t i = 0; i < c->n_dkim_sign; i++) {
		free(c->dkim_sign[i].domain);
		free(c->dkim_sign[i].selector);
		free(c->dkim_sign[i].key_file);
	}
	free(c->dkim_sign);
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

/* a list of groups whose members are all strings, e.g. dkim.sign and
   abuse.overrides; names[i] is stored at ((char **)entry)[i] */
static int load_group_list(config_setting_t *s, const char *key, const char *const *names, size_t nnames,
			   size_t entry_size, void **list_r, size_t *n_r, const char *path, char *err, size_t errlen)
{
	if (!config_setting_is_list(s) && !config_setting_is_array(s))
		return where(s, path, err, errlen, key, "%s", "must be a list of groups ( { ... }, ... )");
	int n = config_setting_length(s);
	char *list = xcalloc((size_t)n + 1, entry_size);
	*list_r = list;
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (!config_setting_is_group(e))
			return where(e, path, err, errlen, key, "%s", "each entry must be a group { ... }");
		char **fields = (char **)(list + (size_t)i * entry_size);
		(*n_r)++;
		for (int j = 0; j < config_setting_length(e); j++) {
			config_setting_t *f = config_setting_get_elem(e, (unsigned)j);
			const char *name = config_setting_name(f);
			size_t k = 0;
			while (k < nnames && strcmp(name, names[k]) != 0)
				k++;
			if (k == nnames)
				return where(f, path, err, errlen, key, "unknown key \"%s\"", name);
			if (config_setting_type(f) != CONFIG_TYPE_STRING)
				return where(f, path, err, errlen, key, "\"%s\" must be a string", name);
			free(fields[k]);
			fields[k] = xstrdup(config_setting_get_string(f));
		}
		for (size_t k = 0; k < nnames; k++)
			if (fields[k] == NULL)
				return where(e, path, err, errlen, key, "entry needs %s", names[k]);
	}
	return 0;
}

static int load_dkim_sign(config_setting_t *s, struct mamori_config *c, const char *path, char *err, size_t errlen)
{
	static const char *const names[] = { "domain", "selector", "key_file" };
	void *list = NULL;
	int rc = load_group_list(s, "dkim.sign", names, 3, sizeof(struct config_dkim_sign), &list, &c->n_dkim_sign,
				 path, err, errlen);
	c->dkim_sign = list;
	return rc;
}

static int load_abuse_overrides(config_setting_t *s, struct mamori_config *c, const char *path, char *err,
				size_t errlen)
{
	static const char *const names[] = { "network", "contact" };
	void *list = NULL;
	int rc = load_group_list(s, "abuse.overrides", names, 2, sizeof(struct config_abuse_override), &list,
				 &c->n_abuse_overrides, path, err, errlen);
	c->abuse_overrides = list;
	return rc;
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
	case K_STRLIST: {
		if (!config_setting_is_array(s) && !config_setting_is_list(s))
			return where(s, path, err, errlen, key, "%s", "must be a list of strings [ \"...\", ... ]");
		int n = config_setting_length(s);
		char ***dst = (char ***)((char *)c + k->offset);
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
	case K_DKIMSIGN:
		return load_dkim_sign(s, c, path, err, errlen);
	case K_ABUSEOVR:
		return load_abuse_overrides(s, c, path, err, errlen);
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
