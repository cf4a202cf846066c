/* abuse: ARF reports to the networks of spoofing sources (see abuse.h) */
#include "dmarc/abuse.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/spf.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "dmarc/arf_build.h"

#ifndef MAMORI_VERSION
#define MAMORI_VERSION "0.1"
#endif

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

/* ---- configuration helpers ---- */

bool abuse_override(const struct mamori_config *cfg, const struct ipaddr *ip0, const char **contact_r)
{
	struct ipaddr ip = *ip0;
	ip_unmap(&ip);
	int best = -1;
	unsigned best_prefix = 0;
	for (size_t i = 0; i < cfg->n_abuse_overrides; i++) {
		struct ipaddr net;
		unsigned prefix;
		if (ip_parse_cidr(cfg->abuse_overrides[i].network, &net, &prefix) < 0)
			continue;
		if (ip_match(&ip, &net, prefix) && (best < 0 || prefix > best_prefix)) {
			best = (int)i;
			best_prefix = prefix;
		}
	}
	if (best < 0)
		return false;
	*contact_r = cfg->abuse_overrides[best].contact;
	return true;
}

bool abuse_known_sender(const struct mamori_config *cfg, const struct ipaddr *ip0)
{
	struct ipaddr ip = *ip0;
	ip_unmap(&ip);
	for (char **p = cfg->reports_known_senders; p != NULL && *p != NULL; p++) {
		struct ipaddr net;
		unsigned prefix;
		if (ip_parse_cidr(*p, &net, &prefix) == 0 && ip_match(&ip, &net, prefix))
			return true;
	}
	return false;
}

/* ---- the store as the RDAP cache ---- */

static int cache_get(void *ctx, const char *key, int64_t now, char **value_r)
{
	enum store_status st = store_cache_get(ctx, key, now, value_r);
	return st == STORE_OK ? 0 : st == STORE_NOTFOUND ? 1 : -1;
}

static int cache_put(void *ctx, const char *key, const char *value, int64_t expires)
{
	return store_cache_put(ctx, key, value, expires) == STORE_OK ? 0 : -1;
}

void abuse_rdap_cache(struct store *st, struct rdap_cache_ops *ops_r)
{
	ops_r->get = cache_get;
	ops_r->put = cache_put;
	ops_r->ctx = st;
}

/* ---- SMTP ---- */

struct upload {
	const char *p;
	size_t left;
};

static size_t read_cb(char *dst, size_t size, size_t nmemb, void *ud)
{
	struct upload *u = ud;
	size_t n = size * nmemb;
	if (n > u->left)
		n = u->left;
	memcpy(dst, u->p, n);
	u->p += n;
	u->left -= n;
	return n;
}

/* first line of the file, without the line end; never logged */
static int read_password(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		set_err(err, errlen, "abuse.smtp_password_file %s: %s", path, strerror(errno));
		return -1;
	}
	ssize_t n = read(fd, out, outlen - 1);
	close(fd);
	if (n < 0) {
		set_err(err, errlen, "abuse.smtp_password_file %s: %s", path, strerror(errno));
		return -1;
	}
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

int abuse_smtp_send(const struct mamori_config *cfg, const char *to, const char *msg, size_t len, char *err,
		    size_t errlen)
{
	char from[300], rcpt[300], cerr[CURL_ERROR_SIZE] = "";
	char password[ABUSE_MAX_PASSWORD];
	if (!rdap_email_valid(cfg->abuse_from) || !rdap_email_valid(to)) {
		set_err(err, errlen, "invalid sender or recipient address");
		return -1;
	}
	bool smtps = strncasecmp(cfg->abuse_smtp_url, "smtps://", 8) == 0;
	if (!smtps && strncasecmp(cfg->abuse_smtp_url, "smtp://", 7) != 0) {
		set_err(err, errlen, "abuse.smtp_url must be smtp:// or smtps://");
		return -1;
	}
	bool auth = cfg->abuse_smtp_user != NULL && cfg->abuse_smtp_user[0] != '\0';
	password[0] = '\0';
	if (auth && cfg->abuse_smtp_password_file[0] != '\0' &&
	    read_password(cfg->abuse_smtp_password_file, password, sizeof password, err, errlen) < 0)
		return -1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		set_err(err, errlen, "libcurl initialisation failed");
		return -1;
	}
	CURL *h = curl_easy_init();
	if (h == NULL) {
		set_err(err, errlen, "libcurl initialisation failed");
		return -1;
	}
	snprintf(from, sizeof from, "<%s>", cfg->abuse_from);
	snprintf(rcpt, sizeof rcpt, "<%s>", to);
	struct curl_slist *rcpts = curl_slist_append(NULL, rcpt);
	struct upload up = { msg, len };
	curl_easy_setopt(h, CURLOPT_URL, cfg->abuse_smtp_url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(h, CURLOPT_READDATA, &up);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)ABUSE_SMTP_CONNECT_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)ABUSE_SMTP_TOTAL_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	/* a password never crosses the network in clear */
	if (!smtps)
		curl_easy_setopt(h, CURLOPT_USE_SSL, auth ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY);
	if (cfg->abuse_cainfo != NULL && cfg->abuse_cainfo[0] != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, cfg->abuse_cainfo);
	if (auth) {
		curl_easy_setopt(h, CURLOPT_USERNAME, cfg->abuse_smtp_user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, password);
	}
	CURLcode rc = curl_easy_perform(h);
	explicit_bzero(password, sizeof password);
	curl_slist_free_all(rcpts);
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK) {
		set_err(err, errlen, "SMTP: %s (last reply %ld)", cerr[0] ? cerr : curl_easy_strerror(rc), code);
		return -1;
	}
	return 0;
}

/* ---- one pass ---- */

struct pass {
	const struct mamori_config *cfg;
	struct store *st;
	struct dns_resolver *dns;
	struct rdap_client *rdap;
	const struct abuse_opts *o;
	struct abuse_stats *stats;
	enum store_status status; /* a store failure stops the pass */
	char *err;
	size_t errlen;
	unsigned seq;             /* dry-run file numbering */
};

static void say(struct pass *p, const char *ip, const char *domain, uint64_t fails, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void say(struct pass *p, const char *ip, const char *domain, uint64_t fails, const char *fmt, ...)
{
	char what[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (p->o->out != NULL)
		fprintf(p->o->out, "%-39s %-30s %8" PRIu64 "  %s\n", ip, domain, fails, what);
	log_debug("abuse: %s %s (%" PRIu64 " failing): %s", ip, domain, fails, what);
}

/* the reverse DNS name of ip, "" when none or unknown */
static void reverse_dns(struct dns_resolver *dns, const struct ipaddr *ip, char *out, size_t outlen)
{
	char name[128];
	struct dns_answer ans;
	out[0] = '\0';
	if (dns == NULL)
		return;
	ip_reverse_name(ip, name, sizeof name);
	if (dns_query(dns, name, DNS_T_PTR, &ans) == DNS_FOUND && ans.n > 0 && ans.rr[0].name != NULL)
		arf_clean(ans.rr[0].name, out, outlen);
	dns_answer_free(&ans);
}

/* 1 when the domain's own SPF record authorises ip, 0 when not, -1 when
   SPF could not say (temperror: the source is held back this run) */
static int spf_authorised(struct dns_resolver *dns, const struct ipaddr *ip, const char *domain, int64_t now)
{
	char sender[300];
	if (dns == NULL)
		return 0;
	snprintf(sender, sizeof sender, "postmaster@%s", domain);
	struct spf_request req = { .ip = *ip, .helo = domain, .mail_from = sender, .now = (time_t)now };
	struct spf_response resp;
	enum spf_result r = spf_check(dns, &req, &resp);
	spf_response_free(&resp);
	if (r == SPF_TEMPERROR)
		return -1;
	return r == SPF_PASS;
}

static bool log_abuse(struct pass *p, const char *contact, const struct ipaddr *ip, const char *domain,
		      const char *status, const char *msgid)
{
	enum store_status st = store_abuse_log(p->st, contact, ip, domain, p->o->now, status, msgid ? msgid : "");
	if (st != STORE_OK) {
		p->status = st;
		set_err(p->err, p->errlen, "store: logging the report failed (%s)", store_status_name(st));
		return false;
	}
	return true;
}

static int write_dry_run(struct pass *p, const char *ip, const struct buf *msg, char *err, size_t errlen)
{
	char path[4096], name[IP_STRLEN];
	snprintf(name, sizeof name, "%s", ip);
	for (char *c = name; *c; c++)
		if (*c == ':')
			*c = '_';
	snprintf(path, sizeof path, "%s/%u-%s.eml", p->o->dry_run_dir, ++p->seq, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		set_err(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	size_t off = 0;
	while (off < msg->len) {
		ssize_t n = write(fd, msg->data + off, msg->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			set_err(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (close(fd) < 0) {
		set_err(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int one_source(void *ctx, const struct store_source *src)
{
	struct pass *p = ctx;
	const struct abuse_opts *o = p->o;
	struct abuse_stats *s = p->stats;
	char ip[IP_STRLEN];
	ip_format(&src->ip, ip);
	if (src->fail_both < o->min_messages)
		return 0;
	s->sources++;

	if (abuse_known_sender(p->cfg, &src->ip)) {
		s->skip_known++;
		say(p, ip, src->domain, src->fail_both, "skipped: known sender (reports.known_senders)");
		return 0;
	}
	int auth = spf_authorised(p->dns, &src->ip, src->domain, o->now);
	if (auth != 0) {
		if (auth > 0) {
			s->skip_known++;
			say(p, ip, src->domain, src->fail_both, "skipped: authorised by the SPF record of %s", src->domain);
		} else {
			s->lookup_failed++;
			say(p, ip, src->domain, src->fail_both, "held back: SPF of %s temporarily unavailable", src->domain);
		}
		return 0;
	}

	/* the contact: an override first, else RDAP */
	char contact[256], network[512] = "";
	const char *ovr = NULL;
	if (abuse_override(p->cfg, &src->ip, &ovr)) {
		if (ovr[0] == '\0') {
			s->skip_override++;
			say(p, ip, src->domain, src->fail_both, "skipped: override says never report this network");
			return 0;
		}
		snprintf(contact, sizeof contact, "%s", ovr);
		snprintf(network, sizeof network, "(contact from local override)");
	} else {
		struct rdap_network net;
		char rerr[512] = "";
		enum rdap_status rs =
			p->rdap ? rdap_lookup(p->rdap, &src->ip, o->now, &net, rerr, sizeof rerr) : RDAP_ERROR;
		if (p->rdap == NULL)
			snprintf(rerr, sizeof rerr, "no RDAP client");
		if (rs == RDAP_NOTFOUND || (rs == RDAP_FOUND && net.abuse_email[0] == '\0')) {
			s->skip_nocontact++;
			say(p, ip, src->domain, src->fail_both, "skipped: no abuse contact (%s)",
			    rs == RDAP_FOUND ? net.handle : rerr);
			return 0;
		}
		if (rs != RDAP_FOUND) {
			s->lookup_failed++;
			say(p, ip, src->domain, src->fail_both, "RDAP %s: %s", rdap_status_name(rs), rerr);
			return 0;
		}
		snprintf(contact, sizeof contact, "%s", net.abuse_email);
		snprintf(network, sizeof network, "%s %s %s %s", net.handle, net.name, net.cidr, net.country);
	}
	if (!rdap_email_valid(contact)) {
		s->failed++;
		say(p, ip, src->domain, src->fail_both, "failed: contact is not a valid address");
		return 0;
	}

	/* at most one report per contact and source per period */
	int64_t last = 0;
	enum store_status st = store_abuse_last(p->st, contact, &src->ip, &last);
	if (st == STORE_OK && o->now - last < (int64_t)p->cfg->abuse_period_days * 86400) {
		s->skip_period++;
		say(p, ip, src->domain, src->fail_both, "skipped: %s already told within %d days", contact,
		    p->cfg->abuse_period_days);
		return 0;
	}
	if (st != STORE_OK && st != STORE_NOTFOUND) {
		p->status = st;
		set_err(p->err, p->errlen, "store: reading the abuse log failed (%s)", store_status_name(st));
		return 1;
	}

	/* compose */
	char rdns[256], reporters[1024] = "", msgid[300], err[512] = "";
	reverse_dns(p->dns, &src->ip, rdns, sizeof rdns);
	st = store_agg_source_reporters(p->st, &src->ip, src->domain, o->since, reporters, sizeof reporters);
	if (st == STORE_TEMPFAIL || st == STORE_ERROR) {
		p->status = st;
		set_err(p->err, p->errlen, "store: reading reporters failed (%s)", store_status_name(st));
		return 1;
	}
	struct arf_evidence ev = {
		.domain = src->domain, .ip = src->ip, .rdns = rdns, .total = src->total, .fail_both = src->fail_both,
		.spf_aligned_pass = src->spf_aligned_pass, .dkim_aligned_pass = src->dkim_aligned_pass,
		.first_seen = src->first_seen, .last_seen = src->last_seen, .reporters = reporters,
		.network = network,
	};
	struct buf msg = BUF_INIT(ARF_MAX_MESSAGE);
	int rc = arf_message_id(p->cfg->abuse_from, o->now, msgid, sizeof msgid);
	if (rc < 0)
		set_err(err, sizeof err, "abuse.from has no usable domain");
	if (rc == 0) {
		struct arf_envelope env = {
			.from = p->cfg->abuse_from, .to = contact, .message_id = msgid,
			.authserv_id = p->cfg->authserv_id, .user_agent = "mamori/" MAMORI_VERSION, .now = o->now,
		};
		rc = arf_build(&ev, &env, &msg, err, sizeof err);
	}
	if (rc == 0) {
		if (o->dry_run_dir != NULL)
			rc = write_dry_run(p, ip, &msg, err, sizeof err);
		else
			rc = abuse_smtp_send(p->cfg, contact, msg.data, msg.len, err, sizeof err);
	}
	buf_free(&msg);

	char status[600];
	if (rc == 0 && o->dry_run_dir != NULL) {
		s->dry_run++;
		snprintf(status, sizeof status, "dry-run");
		say(p, ip, src->domain, src->fail_both, "dry run: report to %s written", contact);
	} else if (rc == 0) {
		s->sent++;
		snprintf(status, sizeof status, "sent");
		say(p, ip, src->domain, src->fail_both, "sent to %s", contact);
	} else {
		s->failed++;
		snprintf(status, sizeof status, "failed: %s", err);
		say(p, ip, src->domain, src->fail_both, "failed (%s): %s", contact, err);
	}
	return log_abuse(p, contact, &src->ip, src->domain, status, rc == 0 ? msgid : "") ? 0 : 1;
}

enum store_status abuse_run(const struct mamori_config *cfg, struct store *st, struct dns_resolver *dns,
			    struct rdap_client *rdap, const struct abuse_opts *o, struct abuse_stats *stats_r,
			    char *err, size_t errlen)
{
	memset(stats_r, 0, sizeof *stats_r);
	struct pass p = {
		.cfg = cfg, .st = st, .dns = dns, .rdap = rdap, .o = o, .stats = stats_r,
		.status = STORE_OK, .err = err, .errlen = errlen,
	};
	enum store_status rc = store_agg_sources(st, o->domain, o->since, true, one_source, &p);
	if (p.status != STORE_OK)
		return p.status;
	if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		set_err(err, errlen, "store: listing failing sources failed (%s)", store_status_name(rc));
		return rc;
	}
	return STORE_OK;
}
