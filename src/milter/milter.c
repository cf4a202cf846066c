#include "milter/milter.h"
#include "auth/authcheck.h"
#include "core/buf.h"
#include "core/geoip.h"
#include "core/log.h"
#include "core/mem.h"
#include "guard/submission.h"
#include "milter/msgbuild.h"
#include "milter/settings.h"
#include "policy/inbound.h"
#include "store/mailstore.h"

#include <libmilter/mfapi.h>
#include <openssl/evp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define AUTHRES_FIELD "Authentication-Results"
/* RFC 5321 4.5.3.1.5: a text line, with its CRLF, is at most 1000 octets;
   HELO arguments and paths are far shorter, this only bounds our copies */
#define MILTER_MAX_ARG 1000
/* envelope recipients kept per message (Postfix's smtpd_recipient_limit
   defaults to 1000); more are counted but not checked or logged */
#define MILTER_MAX_RCPTS 1000
/* our decision headers; incoming copies are removed from inbound mail */
static const char *const xm_fields[] = { "X-Mamori-Action", "X-Mamori-Score", "X-Mamori-Reasons" };
#define XM_FIELDS 3
/* incoming X-Mamori-* fields remembered for removal, per name */
#define XM_MAX_FORGED 50

/* one MTA connection: may carry several messages one after the other */
struct milter_conn {
	struct ipaddr ip;
	bool have_ip;         /* false for unix-socket or unknown peers */
	char *helo;           /* NULL until HELO/EHLO */
	char *client_name;    /* the MTA's verified client name, NULL if none */
	bool leadspc;         /* SMFIP_HDR_LEADSPC negotiated */
	bool can_skip;        /* the MTA understands SMFIS_SKIP */
	unsigned long noreply; /* SMFIP_NR_* steps the MTA expects no reply to */
	struct milter_msg *msg;
	struct milter_conn *prev, *next; /* the registry of live connections */
};

/* one message, from MAIL FROM to end of message or abort */
struct milter_msg {
	struct settings *set; /* the snapshot this message is checked under */
	char *mail_from;      /* angle brackets removed; "" for the null path */
	char *auth_user;      /* SMTP AUTH user ({auth_authen}), NULL if none */
	bool inbound;         /* neither authenticated nor internal */
	char **rcpts;         /* accepted envelope recipients, brackets removed */
	size_t nrcpts, rcpts_cap;
	size_t rcpts_over;    /* recipients beyond MILTER_MAX_RCPTS */
	unsigned xm_seen[XM_FIELDS]; /* incoming X-Mamori-* fields by name */
	struct msgbuild mb;
	bool warned;          /* the oversize warning was logged */
};

static struct dns_resolver *milter_resolver;
static struct mailstore *milter_store;
static const struct geoip *milter_geoip;

void milter_set_stores(struct mailstore *ms, const struct geoip *geo)
{
	milter_store = ms;
	milter_geoip = geo;
}

/*
 * Shutdown. libmilter (Debian builds it with its worker pool) drops the
 * sessions that sit idle between two commands when smfi_stop() is called,
 * without calling xxfi_close, so counting connections cannot tell when it
 * is safe to stop. Instead SIGTERM first drains: new messages are answered
 * 451 (the MTA keeps them and retries), messages already past MAIL FROM
 * run to their end, and only when none is in flight (or the grace time is
 * over) is libmilter stopped. `calls` counts callbacks running, so the
 * shared resolver and stores are freed under none. The connections
 * libmilter dropped are never freed: a late xxfi_close from one of its
 * threads may still come for them after smfi_main() has returned. They
 * stay in a registry (reachable, so the leak checker does not count them)
 * until the process exits.
 */
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
static struct milter_conn *conns; /* registry, under idle_lock */
static unsigned inflight;         /* messages between MAIL FROM and their end */
static unsigned calls;            /* callbacks running */
static bool draining;

static void count(unsigned *counter, int delta)
{
	pthread_mutex_lock(&idle_lock);
	*counter = (unsigned)((int)*counter + delta);
	if (*counter == 0)
		pthread_cond_broadcast(&idle_cond);
	pthread_mutex_unlock(&idle_lock);
}

/* a new message may start (counted in flight), unless we are draining */
static bool msg_may_begin(void)
{
	pthread_mutex_lock(&idle_lock);
	bool ok = !draining;
	if (ok)
		inflight++;
	pthread_mutex_unlock(&idle_lock);
	return ok;
}

void milter_drain(void)
{
	pthread_mutex_lock(&idle_lock);
	draining = true;
	pthread_mutex_unlock(&idle_lock);
}

bool milter_wait_idle(unsigned timeout_s)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_s;
	pthread_mutex_lock(&idle_lock);
	while (inflight > 0 || calls > 0)
		if (pthread_cond_timedwait(&idle_cond, &idle_lock, &until) != 0)
			break;
	bool idle = inflight == 0 && calls == 0;
	pthread_mutex_unlock(&idle_lock);
	return idle;
}

static struct milter_conn *conn_get(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);
	if (c == NULL) {
		c = xcalloc(1, sizeof *c);
		smfi_setpriv(ctx, c);
		pthread_mutex_lock(&idle_lock);
		c->next = conns;
		if (conns != NULL)
			conns->prev = c;
		conns = c;
		pthread_mutex_unlock(&idle_lock);
	}
	return c;
}

/* takes c out of the registry */
static void conn_unlink(struct milter_conn *c)
{
	pthread_mutex_lock(&idle_lock);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (conns == c)
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	pthread_mutex_unlock(&idle_lock);
}

static void msg_end(struct milter_conn *c)
{
	struct milter_msg *m = c->msg;
	if (m == NULL)
		return;
	msgbuild_free(&m->mb);
	settings_release(m->set);
	xfree(m->mail_from);
	xfree(m->auth_user);
	for (size_t i = 0; i < m->nrcpts; i++)
		xfree(m->rcpts[i]);
	xfree(m->rcpts);
	c->msg = xfree(m);
	count(&inflight, -1);
}

static void conn_free(struct milter_conn *c)
{
	msg_end(c);
	xfree(c->helo);
	xfree(c->client_name);
	xfree(c);
}

static const char *queue_id(SMFICTX *ctx)
{
	const char *id = smfi_getsymval(ctx, "i");
	return id && *id ? id : "NOQUEUE";
}

static sfsistat cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2, unsigned long f3,
			     unsigned long *pf0, unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	struct milter_conn *c = conn_get(ctx);
	const unsigned long want = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_DELRCPT;
	if ((f0 & want) != want)
		log_warning("the MTA does not let the milter add and change headers and remove recipients: "
			    "results cannot be stamped");
	*pf0 = f0 & want;
	/*
	 * HDR_LEADSPC: header values come exactly as in the message, leading
	 * space included; DKIM's simple header canonicalisation needs the
	 * bytes as signed. The steps we have no use for are switched off to
	 * save round trips, and the steps whose answer is always "continue"
	 * (connect, HELO, each header, end of headers) get no reply at all
	 * (SMFIP_NR_*): the MTA does not wait for one. That saves a quarter
	 * of mamorid's CPU per message (bench/milter.sh).
	 */
	const unsigned long nr = SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_HDR | SMFIP_NR_EOH;
	*pf1 = f1 & (SMFIP_HDR_LEADSPC | SMFIP_SKIP | SMFIP_NOUNKNOWN | SMFIP_NODATA | nr);
	*pf2 = 0;
	*pf3 = 0;
	c->leadspc = (*pf1 & SMFIP_HDR_LEADSPC) != 0;
	c->can_skip = (*pf1 & SMFIP_SKIP) != 0;
	c->noreply = *pf1 & nr;
	return SMFIS_CONTINUE;
}

/* "continue" for a step, or no reply if the MTA agreed to expect none */
static sfsistat go_on(const struct milter_conn *c, unsigned long step)
{
	return (c->noreply & step) != 0 ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat cb_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa)
{
	struct milter_conn *c = conn_get(ctx);
	c->have_ip = false;
	/* Postfix passes "unknown" and sendmail "[address]" for a client
	   whose name did not verify (forward-confirmed reverse DNS) */
	c->client_name = xfree(c->client_name);
	if (hostname != NULL && hostname[0] != '\0' && hostname[0] != '[' && strcmp(hostname, "unknown") != 0)
		c->client_name = xstrndup(hostname, strnlen(hostname, MILTER_MAX_ARG));
	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		memset(&c->ip, 0, sizeof c->ip);
		c->ip.family = AF_INET;
		memcpy(c->ip.a, &in->sin_addr, 4);
		c->have_ip = true;
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		c->ip.family = AF_INET6;
		memcpy(c->ip.a, &in6->sin6_addr, 16);
		ip_unmap(&c->ip);
		c->have_ip = true;
	}
	/* AF_UNIX or no address: a local submission, SPF is not checked */
	return go_on(c, SMFIP_NR_CONN);
}

static sfsistat cb_helo(SMFICTX *ctx, char *helo)
{
	struct milter_conn *c = conn_get(ctx);
	xfree(c->helo);
	c->helo = helo ? xstrndup(helo, strnlen(helo, MILTER_MAX_ARG)) : NULL;
	return go_on(c, SMFIP_NR_HELO);
}

/* "<a@b>" -> "a@b", "<>" -> "", a bare address stays as it is */
static char *strip_path(const char *arg)
{
	size_t n = strnlen(arg, MILTER_MAX_ARG);
	if (n >= 2 && arg[0] == '<' && arg[n - 1] == '>')
		return xstrndup(arg + 1, n - 2);
	return xstrndup(arg, n);
}

static sfsistat cb_envfrom(SMFICTX *ctx, char **argv)
{
	struct milter_conn *c = conn_get(ctx);
	msg_end(c);
	if (!msg_may_begin()) {
		smfi_setreply(ctx, "451", "4.3.2", "mamorid is restarting, please try again later");
		return SMFIS_TEMPFAIL;
	}
	struct milter_msg *m = xcalloc(1, sizeof *m);
	m->set = settings_acquire();
	m->mail_from = strip_path(argv && argv[0] ? argv[0] : "");
	const char *auth = smfi_getsymval(ctx, "{auth_authen}");
	if (auth != NULL && auth[0] != '\0')
		m->auth_user = xstrndup(auth, strnlen(auth, MILTER_MAX_ARG));
	m->inbound = m->auth_user == NULL && m->set != NULL && m->set->inbound != NULL &&
		     !inbound_client_internal(m->set->inbound, &c->ip, c->have_ip);
	msgbuild_init(&m->mb, 0, c->leadspc);
	c->msg = m;
	return SMFIS_CONTINUE;
}

static sfsistat cb_envrcpt(SMFICTX *ctx, char **argv)
{
	struct milter_conn *c = conn_get(ctx);
	struct milter_msg *m = c->msg;
	if (m == NULL || argv == NULL || argv[0] == NULL)
		return SMFIS_CONTINUE;
	char *rcpt = strip_path(argv[0]);
	char why[INBOUND_REASON_MAX];
	/* a recipient's own deny list refuses just that recipient, here,
	   where the sender still learns it from the 550 */
	if (m->inbound && inbound_rcpt_denied(m->set->inbound, rcpt, m->mail_from, why, sizeof why)) {
		char text[INBOUND_REASON_MAX];
		size_t j = 0;
		for (const char *p = why; *p && j + 1 < sizeof text; p++)
			text[j++] = (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f && *p != '%' ? *p : '?';
		text[j] = '\0';
		smfi_setreply(ctx, "550", "5.7.1", text);
		log_info("%s: recipient refused: 550 5.7.1 %s", queue_id(ctx), text);
		xfree(rcpt);
		return SMFIS_REJECT;
	}
	if (m->nrcpts == MILTER_MAX_RCPTS) {
		m->rcpts_over++;
		xfree(rcpt);
		return SMFIS_CONTINUE;
	}
	if (m->nrcpts == m->rcpts_cap) {
		m->rcpts_cap = m->rcpts_cap ? 2 * m->rcpts_cap : 4;
		m->rcpts = xreallocarray(m->rcpts, m->rcpts_cap, sizeof *m->rcpts);
	}
	m->rcpts[m->nrcpts++] = rcpt;
	return SMFIS_CONTINUE;
}

static void note_oversize(SMFICTX *ctx, struct milter_msg *m)
{
	if (m->warned)
		return;
	m->warned = true;
	log_warning("%s: message larger than %u bytes: it will pass without authentication checks",
		    queue_id(ctx), MSGBUILD_MAX_BYTES);
}

static sfsistat cb_header(SMFICTX *ctx, char *name, char *value)
{
	struct milter_conn *c = conn_get(ctx);
	struct milter_msg *m = c->msg;
	if (m == NULL)
		return go_on(c, SMFIP_NR_HDR);
	if (msgbuild_header(&m->mb, name, value, m->set ? m->set->cfg.authserv_id : NULL) < 0)
		note_oversize(ctx, m);
	for (size_t i = 0; name != NULL && i < XM_FIELDS; i++)
		if (strcasecmp(name, xm_fields[i]) == 0 && m->xm_seen[i] < XM_MAX_FORGED)
			m->xm_seen[i]++;
	return go_on(c, SMFIP_NR_HDR);
}

static sfsistat cb_eoh(SMFICTX *ctx)
{
	struct milter_conn *c = conn_get(ctx);
	if (c->msg != NULL && msgbuild_eoh(&c->msg->mb) < 0)
		note_oversize(ctx, c->msg);
	return go_on(c, SMFIP_NR_EOH);
}

static sfsistat cb_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct milter_conn *c = conn_get(ctx);
	struct milter_msg *m = c->msg;
	if (m == NULL)
		return SMFIS_CONTINUE;
	if (msgbuild_body(&m->mb, chunk, len) < 0) {
		note_oversize(ctx, m);
		/* nothing more to buffer: let the MTA skip the rest of the body */
		if (c->can_skip)
			return SMFIS_SKIP;
	}
	return SMFIS_CONTINUE;
}

/* RFC 8601 5: our authserv-id on an incoming field means it is forged.
   Deleted from the last to the first so no index shifts under us. */
static void remove_forged(SMFICTX *ctx, const struct milter_msg *m, const char *qid)
{
	for (size_t i = m->mb.nforged; i-- > 0;) {
		if (smfi_chgheader(ctx, AUTHRES_FIELD, (int)m->mb.forged[i], NULL) != MI_SUCCESS)
			log_error("%s: could not remove forged Authentication-Results #%zu", qid, m->mb.forged[i]);
	}
	if (m->mb.nforged > 0)
		log_info("%s: removed %zu Authentication-Results field(s) claiming our authserv-id", qid, m->mb.nforged);
	if (m->mb.forged_dropped > 0)
		log_warning("%s: %zu more forged Authentication-Results fields left in place (over %d)", qid,
			    m->mb.forged_dropped, MSGBUILD_MAX_FORGED);
}

/* the header value on one line, for the log */
static void flatten(char *s)
{
	char *w = s;
	for (const char *r = s; *r; r++) {
		if (*r == '\r' || *r == '\n')
			continue;
		if (*r == '\t' && r > s && r[-1] == '\n')
			*w++ = ' ';
		else
			*w++ = *r;
	}
	*w = '\0';
}

/*
 * The message-log row of one message (mailstore.h). Strings point into
 * the caller's buffers; the row is copied by mailstore_log().
 */
struct log_row {
	struct msglog_entry e;
	char ip[IP_STRLEN];
	char country[4];
	char header_from[256];
	char subject[256];
	char message_id[256];
	char dmarc_policy[16];
	const char *signals[INBOUND_MAX_SIGNALS];
	char sigtext[INBOUND_MAX_SIGNALS][INBOUND_REASON_MAX + 48];
};

static const char *dkim_word(const struct auth_results *res)
{
	if (res->ndkim == 0)
		return "none";
	for (size_t i = 0; i < res->ndkim; i++)
		if (res->dkim[i].result == DKIM_PASS)
			return "pass";
	return dkim_result_name(res->dkim[0].result);
}

static void row_init(struct log_row *r, const struct milter_conn *c, const struct milter_msg *m, const char *qid,
		     const struct message *msg, uint64_t size)
{
	memset(r, 0, sizeof *r);
	struct msglog_entry *e = &r->e;
	e->time = (int64_t)time(NULL);
	e->queue_id = qid;
	e->outbound = m->auth_user != NULL;
	if (c->have_ip) {
		e->client_ip = ip_format(&c->ip, r->ip);
		struct geoip_result g;
		if (milter_geoip != NULL && geoip_lookup(milter_geoip, &c->ip, &g) > 0 && g.have_country) {
			snprintf(r->country, sizeof r->country, "%s", g.country_iso);
			e->country = r->country;
		}
	}
	e->helo = c->helo;
	e->sasl_user = m->auth_user;
	e->mail_from = m->mail_from;
	e->rcpts = (const char *const *)m->rcpts;
	e->nrcpts = m->nrcpts;
	e->size = size;
	if (msg != NULL) {
		inbound_header_text(msg, "From", false, r->header_from, sizeof r->header_from);
		inbound_header_text(msg, "Subject", true, r->subject, sizeof r->subject);
		inbound_header_text(msg, "Message-ID", false, r->message_id, sizeof r->message_id);
		e->header_from = r->header_from;
		e->subject = r->subject;
		e->message_id = r->message_id;
	}
}

static void row_auth(struct log_row *r, const struct auth_results *res, const char *ar)
{
	struct msglog_entry *e = &r->e;
	e->spf = res->spf_done ? spf_result_name(res->spf.result) : "none";
	e->dkim = dkim_word(res);
	e->dmarc = res->dmarc_done ? dmarc_result_name(res->dmarc.result) : "permerror";
	e->arc = arc_cv_name(res->arc.cv);
	if (res->dmarc_done) {
		e->dmarc_domain = res->dmarc.from_domain;
		/* "" when the domain publishes no policy */
		if (res->dmarc.applied != DMARC_POLICY_UNSPECIFIED)
			snprintf(r->dmarc_policy, sizeof r->dmarc_policy, "%s", dmarc_policy_name(res->dmarc.applied));
		e->dmarc_policy = r->dmarc_policy;
	}
	e->auth_results = ar;
}

static void row_verdict(struct log_row *r, const struct inbound_verdict *v)
{
	for (size_t i = 0; i < v->nsignals; i++) {
		snprintf(r->sigtext[i], sizeof r->sigtext[i], "%s (%+d): %s", v->signals[i].name, v->signals[i].weight,
			 v->signals[i].reason);
		r->signals[i] = r->sigtext[i];
	}
	r->e.signals = r->signals;
	r->e.nsignals = v->nsignals;
	r->e.score = v->score;
	r->e.action = inbound_action_name(v->action);
	r->e.reason = v->reason;
}

static void row_commit(struct log_row *r)
{
	if (milter_store != NULL)
		mailstore_log(milter_store, &r->e);
}

/* the signals as one text: "name (+w): reason" joined by sep */
static void signals_text(const struct inbound_verdict *v, const char *sep, bool ascii, struct buf *b)
{
	for (size_t i = 0; i < v->nsignals; i++) {
		const struct inbound_signal *s = &v->signals[i];
		if (i > 0)
			buf_puts(b, sep);
		buf_printf(b, "%s (%+d): ", s->name, s->weight);
		for (const char *p = s->reason; *p; p++) {
			unsigned char ch = (unsigned char)*p;
			/* header text is ASCII here: other bytes (U-label domains,
			   names) become '?', the message log keeps them */
			buf_putc(b, !ascii || (ch >= 0x20 && ch < 0x7f) ? *p : '?');
		}
	}
	if (v->signals_dropped > 0)
		buf_printf(b, "%s%zu more", v->nsignals > 0 ? sep : "", v->signals_dropped);
}

/* X-Mamori-* on accepted inbound mail: copies that came with the message
   go first (they could mislead filters that trust them), then ours */
static void decision_headers(SMFICTX *ctx, const struct milter_conn *c, const struct milter_msg *m,
			     const struct inbound_verdict *v, const char *qid)
{
	for (size_t f = 0; f < XM_FIELDS; f++)
		for (unsigned i = m->xm_seen[f]; i > 0; i--)
			if (smfi_chgheader(ctx, (char *)xm_fields[f], (int)i, NULL) != MI_SUCCESS)
				log_error("%s: could not remove an incoming %s", qid, xm_fields[f]);
	if (!inbound_policy_headers(m->set->inbound))
		return;
	const char *sp = c->leadspc ? " " : "";
	char val[64];
	snprintf(val, sizeof val, "%s%s", sp, inbound_action_name(v->action));
	smfi_addheader(ctx, (char *)xm_fields[0], val);
	snprintf(val, sizeof val, "%s%d", sp, v->score);
	smfi_addheader(ctx, (char *)xm_fields[1], val);
	if (v->nsignals > 0) {
		struct buf b = BUF_INIT(16 * 1024);
		buf_puts(&b, sp);
		signals_text(v, ";\n\t", true, &b);
		if (smfi_addheader(ctx, (char *)xm_fields[2], (char *)buf_cstr(&b)) != MI_SUCCESS)
			log_error("%s: could not add X-Mamori-Reasons", qid);
		buf_free(&b);
	}
}

/* a message that could not be checked: passed on, and still logged */
static void log_unchecked(const struct milter_conn *c, const struct milter_msg *m, const char *qid, uint64_t size,
			  const char *action, const char *why)
{
	struct log_row *r = xmalloc(sizeof *r);
	row_init(r, c, m, qid, NULL, size);
	r->e.action = action;
	r->e.reason = why;
	row_commit(r);
	xfree(r);
}

/*
 * What stays the same when a client sends a message again after a 4xx: the
 * envelope, the Message-ID and the body (the header gains a new Received
 * with a new queue id). Hex SHA-256 into key (65 bytes).
 */
static void resend_key(const struct milter_msg *m, const struct message *msg, char key[65])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		key[0] = '\0';
		return;
	}
	EVP_DigestUpdate(md, m->mail_from, strlen(m->mail_from) + 1);
	for (size_t i = 0; i < m->nrcpts; i++)
		EVP_DigestUpdate(md, m->rcpts[i], strlen(m->rcpts[i]) + 1);
	const struct msg_header *h = message_header(msg, "Message-ID", 0);
	if (h != NULL)
		EVP_DigestUpdate(md, h->value, h->value_len);
	EVP_DigestUpdate(md, "", 1);
	EVP_DigestUpdate(md, msg->body, msg->body_len);
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	EVP_DigestFinal_ex(md, d, &dlen);
	EVP_MD_CTX_free(md);
	for (unsigned i = 0; i < dlen && i < 32; i++)
		snprintf(key + 2 * i, 3, "%02x", d[i]);
	key[64] = '\0';
}

/* quarantine: durably stored, then discarded; tempfail if it could not be */
static sfsistat quarantine(SMFICTX *ctx, const struct milter_msg *m, const struct message *msg, struct log_row *r,
			   const struct inbound_verdict *v, const char *qid)
{
	struct buf reasons = BUF_INIT(64 * 1024);
	signals_text(v, "\n", false, &reasons);
	char key[65];
	resend_key(m, msg, key);
	struct quarantine_meta meta = {
		.time = r->e.time,
		.queue_id = qid,
		.client_ip = r->e.client_ip,
		.mail_from = m->mail_from,
		.rcpts = (const char *const *)m->rcpts,
		.nrcpts = m->nrcpts,
		.header_from = r->e.header_from,
		.subject = r->e.subject,
		.reasons = buf_cstr(&reasons),
		.resend_key = key[0] ? key : NULL,
	};
	int64_t id = 0;
	char err[256] = "no message store";
	int rc = milter_store != NULL ? mailstore_quarantine(milter_store, msg->data, msg->len, &meta, &id, err, sizeof err)
				      : -1;
	buf_free(&reasons);
	if (rc == 0) {
		r->e.quarantine_id = id;
		return SMFIS_DISCARD;
	}
	/* never lose a message: the MTA keeps it and the client retries */
	log_error("%s: cannot quarantine (%s): answered 451 4.3.0", qid, err);
	smfi_setreply(ctx, "451", "4.3.0", "temporary failure storing the message, try again later");
	r->e.action = "tempfail";
	r->e.reason = "quarantine failed";
	return SMFIS_TEMPFAIL;
}

/* removes the recipients whose own deny list named the header From */
static void drop_rcpts(SMFICTX *ctx, const struct milter_msg *m, const struct inbound_verdict *v, const char *qid)
{
	for (size_t i = 0; i < v->ndrop; i++) {
		char addr[MILTER_MAX_ARG + 3];
		snprintf(addr, sizeof addr, "<%s>", m->rcpts[v->drop[i]]);
		if (smfi_delrcpt(ctx, addr) != MI_SUCCESS)
			log_error("%s: could not remove recipient %s", qid, addr);
	}
}

/* ---- submission guard (guard/submission.h) ---- */

static struct sub_engine *milter_guard;

void milter_set_guard(struct sub_engine *e)
{
	milter_guard = e;
}

/* true when the guard refuses an authenticated message; the reply is set
   and *rc_r holds what to return */
static bool guard_refuses(SMFICTX *ctx, const struct milter_conn *c, const struct milter_msg *m, const char *qid,
			  sfsistat *rc_r)
{
	if (milter_guard == NULL || m->auth_user == NULL || m->set->sub == NULL)
		return false;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct sub_request r = {
		.account = m->auth_user,
		.ip = c->have_ip ? &c->ip : NULL,
		.country = NULL, /* looked up by the engine */
		.stage = SUB_STAGE_MESSAGE,
		.nrcpt = (uint32_t)(m->nrcpts + m->rcpts_over),
		.now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec,
		.qid = qid,
	};
	struct sub_verdict v;
	if (!sub_decide(milter_guard, m->set->sub, &r, &v))
		return false;
	char code[8];
	snprintf(code, sizeof code, "%d", v.code);
	/* v.text is printable ASCII without '%' */
	if (smfi_setreply(ctx, code, v.xcode, v.text) != MI_SUCCESS)
		log_error("%s: could not set the reply %s %s %s", qid, code, v.xcode, v.text);
	*rc_r = v.code >= 500 ? SMFIS_REJECT : SMFIS_TEMPFAIL;
	/* the message log row (the engine logged the line already) */
	char why[SUB_TEXT_MAX + 64];
	snprintf(why, sizeof why, "submission guard (%s): %s %s %s", sub_reason_name(v.reason), code, v.xcode, v.text);
	log_unchecked(c, m, qid, 0, v.code >= 500 ? "reject" : "tempfail", why);
	return true;
}

/* ---- end of submission guard ---- */

static sfsistat cb_eom(SMFICTX *ctx)
{
	struct milter_conn *c = conn_get(ctx);
	struct milter_msg *m = c->msg;
	const char *qid = queue_id(ctx);
	if (m == NULL || m->set == NULL) {
		log_error("%s: end of message without a message: passed unchecked", qid);
		return SMFIS_CONTINUE;
	}
	sfsistat guard_rc;
	if (guard_refuses(ctx, c, m, qid, &guard_rc)) {
		msg_end(c);
		return guard_rc;
	}
	remove_forged(ctx, m, qid);
	if (m->mb.oversize) {
		note_oversize(ctx, m);
		log_unchecked(c, m, qid, 0, "accept", "message too large: passed without checks");
		msg_end(c);
		return SMFIS_CONTINUE;
	}

	size_t len;
	char *data = msgbuild_take(&m->mb, &len);
	struct message msg;
	char err[256];
	if (message_adopt(data, len, &msg, err, sizeof err) < 0) {
		/* hostile or broken input (more header fields than message.h
		   allows, a field over a megabyte): from outside it would slip
		   past every check, so it is refused (the sender gets a bounce,
		   nothing is lost); our own clients' mail passes as before */
		if (m->inbound) {
			char text[300];
			snprintf(text, sizeof text, "message not accepted: %s", err);
			smfi_setreply(ctx, "550", "5.6.0", text);
			log_info("%s: 550 5.6.0 %s", qid, text);
			log_unchecked(c, m, qid, len, "reject", "unreadable message");
			msg_end(c);
			return SMFIS_REJECT;
		}
		log_warning("%s: unreadable message (%s): passed without authentication checks", qid, err);
		log_unchecked(c, m, qid, len, "accept", "unreadable message: passed without checks");
		msg_end(c);
		return SMFIS_CONTINUE;
	}

	struct auth_opts o;
	auth_opts_from_config(&o, &m->set->cfg);
	o.now = time(NULL);
	struct auth_envelope env = {
		.ip = c->ip,
		.have_ip = c->have_ip,
		.helo = c->helo,
		.mail_from = m->mail_from,
	};
	struct auth_results res;
	auth_check(milter_resolver, &o, &msg, &env, &res);

	/* the policy: authenticated and internal clients skip the inbound
	   checks (the submission guard decides about those) */
	struct inbound_input in = {
		.ip = c->ip,
		.have_ip = c->have_ip,
		.client_name = c->client_name,
		.authenticated = m->auth_user != NULL,
		.helo = c->helo,
		.mail_from = m->mail_from,
		.rcpts = (const char *const *)m->rcpts,
		.nrcpts = m->nrcpts,
		.msg = &msg,
		.auth = &res,
	};
	struct inbound_verdict *v = xmalloc(sizeof *v);
	inbound_decide(m->set->inbound, milter_resolver, &in, v);

	char *ar = auth_results_header(&res, &o, "\n");
	struct log_row *r = xmalloc(sizeof *r);
	row_init(r, c, m, qid, &msg, len);
	row_verdict(r, v);
	sfsistat rc = SMFIS_CONTINUE;
	switch (v->action) {
	case INBOUND_TEMPFAIL:
	case INBOUND_REJECT:
		smfi_setreply(ctx, v->smtp_code, v->smtp_xcode, v->smtp_text);
		rc = v->action == INBOUND_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
		break;
	case INBOUND_QUARANTINE:
		rc = quarantine(ctx, m, &msg, r, v, qid);
		break;
	case INBOUND_ACCEPT: {
		/* with HDR_LEADSPC the MTA takes the value as is, space included */
		size_t n = strlen(ar) + 2;
		char *val = xmalloc(n);
		snprintf(val, n, "%s%s", c->leadspc ? " " : "", ar);
		if (smfi_insheader(ctx, 0, AUTHRES_FIELD, val) != MI_SUCCESS)
			log_error("%s: could not add Authentication-Results", qid);
		xfree(val);
		if (v->inbound) {
			decision_headers(ctx, c, m, v, qid);
			drop_rcpts(ctx, m, v, qid);
		}
		break;
	}
	}
	flatten(ar);
	row_auth(r, &res, ar);
	row_commit(r);

	/* one line per message: the results, the action and every reason */
	struct buf line = BUF_INIT(16 * 1024);
	buf_printf(&line, "%s: %s; action=%s score=%d", qid, ar, r->e.action, v->score);
	if (rc == SMFIS_REJECT || (rc == SMFIS_TEMPFAIL && v->action == INBOUND_TEMPFAIL))
		buf_printf(&line, " reply=\"%s %s %s\"", v->smtp_code, v->smtp_xcode, v->smtp_text);
	else if (rc == SMFIS_TEMPFAIL)
		buf_puts(&line, " reply=\"451 4.3.0 quarantine failed\"");
	if (r->e.quarantine_id > 0)
		buf_printf(&line, " quarantine=%lld", (long long)r->e.quarantine_id);
	if (v->nsignals > 0) {
		buf_puts(&line, " reasons=[");
		signals_text(v, "; ", false, &line);
		buf_puts(&line, "]");
	}
	log_info("%s", buf_cstr(&line));
	buf_free(&line);

	xfree(r);
	xfree(v);
	xfree(ar);
	auth_results_free(&res);
	message_free(&msg);
	msg_end(c);
	return rc;
}

static sfsistat cb_abort(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);
	if (c != NULL)
		msg_end(c);
	return SMFIS_CONTINUE;
}

static sfsistat cb_close(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);
	if (c == NULL)
		return SMFIS_CONTINUE;
	conn_unlink(c);
	conn_free(c);
	smfi_setpriv(ctx, NULL);
	return SMFIS_CONTINUE;
}

/* every callback runs counted in `calls`, so shutdown frees nothing under one */
#define COUNTED(name, params, args)                       \
	static sfsistat name##_counted params             \
	{                                                 \
		count(&calls, +1);                        \
		sfsistat r = name args;                   \
		count(&calls, -1);                        \
		return r;                                 \
	}
COUNTED(cb_negotiate,
	(SMFICTX * ctx, unsigned long f0, unsigned long f1, unsigned long f2, unsigned long f3, unsigned long *pf0,
	 unsigned long *pf1, unsigned long *pf2, unsigned long *pf3),
	(ctx, f0, f1, f2, f3, pf0, pf1, pf2, pf3))
COUNTED(cb_connect, (SMFICTX * ctx, char *hostname, _SOCK_ADDR *sa), (ctx, hostname, sa))
COUNTED(cb_helo, (SMFICTX * ctx, char *helo), (ctx, helo))
COUNTED(cb_envfrom, (SMFICTX * ctx, char **argv), (ctx, argv))
COUNTED(cb_envrcpt, (SMFICTX * ctx, char **argv), (ctx, argv))
COUNTED(cb_header, (SMFICTX * ctx, char *name, char *value), (ctx, name, value))
COUNTED(cb_eoh, (SMFICTX * ctx), (ctx))
COUNTED(cb_body, (SMFICTX * ctx, unsigned char *chunk, size_t len), (ctx, chunk, len))
COUNTED(cb_eom, (SMFICTX * ctx), (ctx))
COUNTED(cb_abort, (SMFICTX * ctx), (ctx))
COUNTED(cb_close, (SMFICTX * ctx), (ctx))

int milter_register(struct dns_resolver *r)
{
	milter_resolver = r;
	struct smfiDesc desc = {
		.xxfi_name = "mamorid",
		.xxfi_version = SMFI_VERSION,
		.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_DELRCPT,
		.xxfi_connect = cb_connect_counted,
		.xxfi_helo = cb_helo_counted,
		.xxfi_envfrom = cb_envfrom_counted,
		.xxfi_envrcpt = cb_envrcpt_counted,
		.xxfi_header = cb_header_counted,
		.xxfi_eoh = cb_eoh_counted,
		.xxfi_body = cb_body_counted,
		.xxfi_eom = cb_eom_counted,
		.xxfi_abort = cb_abort_counted,
		.xxfi_close = cb_close_counted,
		.xxfi_negotiate = cb_negotiate_counted,
	};
	return smfi_register(desc) == MI_SUCCESS ? 0 : -1;
}
