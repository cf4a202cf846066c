#include "milter/milter.h"
#include "auth/authcheck.h"
#include "core/log.h"
#include "core/mem.h"
#include "milter/msgbuild.h"
#include "milter/settings.h"

#include <libmilter/mfapi.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define AUTHRES_FIELD "Authentication-Results"
/* RFC 5321 4.5.3.1.5: a text line, with its CRLF, is at most 1000 octets;
   HELO arguments and paths are far shorter, this only bounds our copies */
#define MILTER_MAX_ARG 1000

/* one MTA connection: may carry several messages one after the other */
struct milter_conn {
	struct ipaddr ip;
	bool have_ip;         /* false for unix-socket or unknown peers */
	char *helo;           /* NULL until HELO/EHLO */
	bool leadspc;         /* SMFIP_HDR_LEADSPC negotiated */
	bool can_skip;        /* the MTA understands SMFIS_SKIP */
	struct milter_msg *msg;
};

/* one message, from MAIL FROM to end of message or abort */
struct milter_msg {
	struct settings *set; /* the snapshot this message is checked under */
	char *mail_from;      /* angle brackets removed; "" for the null path */
	struct msgbuild mb;
	bool warned;          /* the oversize warning was logged */
};

/* what the decision stage asks the milter to do with a checked message.
   The policy stage (DMARC enforcement, quarantine, ...) will extend this. */
enum milter_action {
	MILTER_ACCEPT,   /* pass on, with our Authentication-Results */
	MILTER_TEMPFAIL, /* 451 4.7.0: a check could not finish */
};

static struct dns_resolver *milter_resolver;

static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
static unsigned open_conns;

static void conn_count(int delta)
{
	pthread_mutex_lock(&idle_lock);
	open_conns = (unsigned)((int)open_conns + delta);
	if (open_conns == 0)
		pthread_cond_broadcast(&idle_cond);
	pthread_mutex_unlock(&idle_lock);
}

bool milter_wait_idle(unsigned timeout_s)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_s;
	pthread_mutex_lock(&idle_lock);
	while (open_conns > 0)
		if (pthread_cond_timedwait(&idle_cond, &idle_lock, &until) != 0)
			break;
	bool idle = open_conns == 0;
	pthread_mutex_unlock(&idle_lock);
	return idle;
}

static struct milter_conn *conn_get(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);
	if (c == NULL) {
		c = xcalloc(1, sizeof *c);
		smfi_setpriv(ctx, c);
		conn_count(+1);
	}
	return c;
}

static void msg_end(struct milter_conn *c)
{
	struct milter_msg *m = c->msg;
	if (m == NULL)
		return;
	msgbuild_free(&m->mb);
	settings_release(m->set);
	xfree(m->mail_from);
	c->msg = xfree(m);
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
	const unsigned long want = SMFIF_ADDHDRS | SMFIF_CHGHDRS;
	if ((f0 & want) != want)
		log_warning("the MTA does not let the milter add and change headers: results cannot be stamped");
	*pf0 = f0 & want;
	/*
	 * HDR_LEADSPC: header values come exactly as in the message, leading
	 * space included; DKIM's simple header canonicalisation needs the
	 * bytes as signed. The steps we have no use for are switched off to
	 * save round trips.
	 */
	*pf1 = f1 & (SMFIP_HDR_LEADSPC | SMFIP_SKIP | SMFIP_NOUNKNOWN | SMFIP_NODATA);
	*pf2 = 0;
	*pf3 = 0;
	c->leadspc = (*pf1 & SMFIP_HDR_LEADSPC) != 0;
	c->can_skip = (*pf1 & SMFIP_SKIP) != 0;
	return SMFIS_CONTINUE;
}

static sfsistat cb_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa)
{
	struct milter_conn *c = conn_get(ctx);
	c->have_ip = false;
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
	return SMFIS_CONTINUE;
}

static sfsistat cb_helo(SMFICTX *ctx, char *helo)
{
	struct milter_conn *c = conn_get(ctx);
	xfree(c->helo);
	c->helo = helo ? xstrndup(helo, strnlen(helo, MILTER_MAX_ARG)) : NULL;
	return SMFIS_CONTINUE;
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
	struct milter_msg *m = xcalloc(1, sizeof *m);
	m->set = settings_acquire();
	m->mail_from = strip_path(argv && argv[0] ? argv[0] : "");
	msgbuild_init(&m->mb, 0, c->leadspc);
	c->msg = m;
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
		return SMFIS_CONTINUE;
	if (msgbuild_header(&m->mb, name, value, m->set ? m->set->cfg.authserv_id : NULL) < 0)
		note_oversize(ctx, m);
	return SMFIS_CONTINUE;
}

static sfsistat cb_eoh(SMFICTX *ctx)
{
	struct milter_conn *c = conn_get(ctx);
	if (c->msg != NULL && msgbuild_eoh(&c->msg->mb) < 0)
		note_oversize(ctx, c->msg);
	return SMFIS_CONTINUE;
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
 * The decision stage. Today it only keeps a temporary DNS failure from
 * passing silently; the policy stage (enforcement, quarantine, hold) will
 * take the results and the message's signals here.
 */
static enum milter_action decide(const struct auth_results *res)
{
	return res->tempfail ? MILTER_TEMPFAIL : MILTER_ACCEPT;
}

static sfsistat cb_eom(SMFICTX *ctx)
{
	struct milter_conn *c = conn_get(ctx);
	struct milter_msg *m = c->msg;
	const char *qid = queue_id(ctx);
	if (m == NULL || m->set == NULL) {
		log_error("%s: end of message without a message: passed unchecked", qid);
		return SMFIS_CONTINUE;
	}
	remove_forged(ctx, m, qid);
	if (m->mb.oversize) {
		note_oversize(ctx, m);
		msg_end(c);
		return SMFIS_CONTINUE;
	}

	size_t len;
	char *data = msgbuild_take(&m->mb, &len);
	struct message msg;
	char err[256];
	if (message_adopt(data, len, &msg, err, sizeof err) < 0) {
		/* hostile or broken input: never lose the mail over it */
		log_warning("%s: unreadable message (%s): passed without authentication checks", qid, err);
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

	char *ar = auth_results_header(&res, &o, "\n");
	sfsistat rc = SMFIS_CONTINUE;
	switch (decide(&res)) {
	case MILTER_TEMPFAIL:
		smfi_setreply(ctx, "451", "4.7.0", "temporary DNS failure checking sender authentication");
		flatten(ar);
		log_info("%s: 451 4.7.0 temporary DNS failure: %s", qid, ar);
		rc = SMFIS_TEMPFAIL;
		break;
	case MILTER_ACCEPT: {
		/* with HDR_LEADSPC the MTA takes the value as is, space included */
		size_t n = strlen(ar) + 2;
		char *val = xmalloc(n);
		snprintf(val, n, "%s%s", c->leadspc ? " " : "", ar);
		if (smfi_insheader(ctx, 0, AUTHRES_FIELD, val) != MI_SUCCESS)
			log_error("%s: could not add Authentication-Results", qid);
		xfree(val);
		flatten(ar);
		log_info("%s: %s", qid, ar);
		break;
	}
	}
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
	msg_end(c);
	xfree(c->helo);
	xfree(c);
	smfi_setpriv(ctx, NULL);
	conn_count(-1);
	return SMFIS_CONTINUE;
}

int milter_register(struct dns_resolver *r)
{
	milter_resolver = r;
	struct smfiDesc desc = {
		.xxfi_name = "mamorid",
		.xxfi_version = SMFI_VERSION,
		.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS,
		.xxfi_connect = cb_connect,
		.xxfi_helo = cb_helo,
		.xxfi_envfrom = cb_envfrom,
		.xxfi_header = cb_header,
		.xxfi_eoh = cb_eoh,
		.xxfi_body = cb_body,
		.xxfi_eom = cb_eom,
		.xxfi_abort = cb_abort,
		.xxfi_close = cb_close,
		.xxfi_negotiate = cb_negotiate,
	};
	return smfi_register(desc) == MI_SUCCESS ? 0 : -1;
}
