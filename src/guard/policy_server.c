/*
 * policy_server: socket, threads and request mapping of the Postfix policy
 * service (see policy_server.h).
 */
#include "guard/policy_server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"

#define READ_CHUNK 4096
#define SEND_TIMEOUT_S 10
#define INSTANCE_MAX 64

struct client {
	struct policy_server *ps;
	pthread_t tid;
	int fd;
	bool in_use;   /* slot taken (thread running or not yet joined) */
	bool finished; /* the thread ended: join before reuse */
};

struct policy_server {
	int fd;
	char *unix_path; /* to unlink at stop */
	char address[4224];
	struct sub_engine *engine;
	struct policy_source src;
	int stop_pipe[2];
	pthread_t acceptor;
	bool started;

	pthread_mutex_t mu;
	pthread_cond_t slot_free;
	struct client clients[POLICY_MAX_CLIENTS];
	unsigned active;
	bool stopping;
};

/* ---------- the answer ---------- */

size_t policy_answer(struct sub_engine *engine, const struct sub_config *c, const struct policy_request *req,
                     char *conn_instance, size_t instlen, int64_t now_ns, char *out, size_t outlen)
{
	if (strcmp(req->request, "smtpd_access_policy") != 0) {
		log_warning("policy: unknown request type \"%.40s\": DUNNO", req->request);
		return policy_reply_format(out, outlen, "DUNNO", NULL);
	}
	if (req->sasl_username[0] == '\0' || !sub_config_enabled(c))
		return policy_reply_format(out, outlen, "DUNNO", NULL);

	struct ipaddr ip;
	bool have_ip = req->client_address[0] != '\0' && ip_parse(req->client_address, &ip) == 0;
	struct sub_request r = {
	    .account = req->sasl_username,
	    .ip = have_ip ? &ip : NULL,
	    .country = NULL,
	    .now_ns = now_ns,
	    .qid = req->queue_id[0] ? req->queue_id : "NOQUEUE",
	};
	const char *st = req->protocol_state;
	if (strcmp(st, "RCPT") == 0) {
		r.stage = SUB_STAGE_RCPT;
		r.nrcpt = 1;
		r.new_message = req->instance[0] == '\0' || strcmp(req->instance, conn_instance) != 0;
	} else if (strcmp(st, "DATA") == 0 || strcmp(st, "END-OF-MESSAGE") == 0) {
		r.stage = SUB_STAGE_MESSAGE;
		r.nrcpt = req->recipient_count;
	} else {
		r.stage = SUB_STAGE_CHECK;
	}
	struct sub_verdict v;
	bool refused = sub_decide(engine, c, &r, &v);
	/* the message is counted once: later RCPTs of the same instance add
	   recipients only, unless its message windows did not pass yet */
	if (r.stage == SUB_STAGE_RCPT && v.message_counted && instlen > 0)
		snprintf(conn_instance, instlen, "%s", req->instance);
	if (!refused)
		return policy_reply_format(out, outlen, "DUNNO", NULL);
	char action[8], text[SUB_TEXT_MAX + 16];
	snprintf(action, sizeof action, "%d", v.code);
	snprintf(text, sizeof text, "%s %s", v.xcode, v.text);
	return policy_reply_format(out, outlen, action, text);
}

/* ---------- sockets ---------- */

static int parse_spec(const char *spec, struct sockaddr_storage *sa, socklen_t *salen, char **unix_path, char *err,
                      size_t errlen)
{
	memset(sa, 0, sizeof *sa);
	*unix_path = NULL;
	if (strncmp(spec, "unix:", 5) == 0) {
		const char *p = spec + 5;
		struct sockaddr_un *un = (struct sockaddr_un *)sa;
		if (p[0] == '\0' || strlen(p) >= sizeof un->sun_path) {
			snprintf(err, errlen, "submission.policy_listen: unix socket path empty or too long");
			return -1;
		}
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, p, strlen(p) + 1);
		*salen = (socklen_t)sizeof *un;
		*unix_path = xstrdup(p);
		return 0;
	}
	if (strncmp(spec, "inet:", 5) == 0) {
		const char *p = spec + 5;
		const char *at = strchr(p, '@');
		char port[16];
		if (at == NULL || at == p || (size_t)(at - p) >= sizeof port || at[1] == '\0') {
			snprintf(err, errlen, "submission.policy_listen: \"%s\" is not inet:PORT@HOST", spec);
			return -1;
		}
		memcpy(port, p, (size_t)(at - p));
		port[at - p] = '\0';
		for (const char *c = port; *c; c++)
			if (*c < '0' || *c > '9') {
				snprintf(err, errlen, "submission.policy_listen: port \"%s\" is not a number", port);
				return -1;
			}
		if (atoi(port) > 65535) {
			snprintf(err, errlen, "submission.policy_listen: port %s out of range", port);
			return -1;
		}
		struct addrinfo hints, *res = NULL;
		memset(&hints, 0, sizeof hints);
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
		int rc = getaddrinfo(at + 1, port, &hints, &res);
		if (rc != 0 || res == NULL) {
			snprintf(err, errlen, "submission.policy_listen: host \"%s\": %s", at + 1, gai_strerror(rc));
			return -1;
		}
		memcpy(sa, res->ai_addr, res->ai_addrlen);
		*salen = res->ai_addrlen;
		freeaddrinfo(res);
		return 0;
	}
	snprintf(err, errlen, "submission.policy_listen: \"%s\" must be unix:PATH or inet:PORT@HOST", spec);
	return -1;
}

struct policy_server *policy_server_listen(const char *spec, char *err, size_t errlen)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	char *path = NULL;
	if (parse_spec(spec, &sa, &salen, &path, err, errlen) < 0)
		return NULL;
	int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "submission.policy_listen: socket: %s", strerror(errno));
		xfree(path);
		return NULL;
	}
	if (path != NULL) {
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path); /* stale, from an earlier run */
	} else {
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	}
	mode_t um = umask(0117); /* 0660: the MTA reaches it through the group */
	int rc = bind(fd, (struct sockaddr *)&sa, salen);
	umask(um);
	if (rc != 0 || listen(fd, POLICY_BACKLOG) != 0) {
		snprintf(err, errlen, "submission.policy_listen %s: %s", spec, strerror(errno));
		close(fd);
		xfree(path);
		return NULL;
	}
	struct policy_server *ps = xcalloc(1, sizeof *ps);
	ps->fd = fd;
	ps->unix_path = path;
	ps->stop_pipe[0] = ps->stop_pipe[1] = -1;
	pthread_mutex_init(&ps->mu, NULL);
	pthread_cond_init(&ps->slot_free, NULL);
	if (path != NULL) {
		char cwd[4096];
		if (path[0] != '/' && getcwd(cwd, sizeof cwd) != NULL)
			snprintf(ps->address, sizeof ps->address, "unix:%s/%s", cwd, path);
		else
			snprintf(ps->address, sizeof ps->address, "unix:%s", path);
	} else {
		struct sockaddr_storage b;
		socklen_t bl = sizeof b;
		char host[NI_MAXHOST] = "?", serv[NI_MAXSERV] = "?";
		if (getsockname(fd, (struct sockaddr *)&b, &bl) == 0)
			getnameinfo((struct sockaddr *)&b, bl, host, sizeof host, serv, sizeof serv,
			            NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(ps->address, sizeof ps->address, "inet:%s@%s", serv, host);
	}
	return ps;
}

int policy_server_chown(struct policy_server *ps, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	if (ps->unix_path == NULL)
		return 0;
	if (chown(ps->unix_path, uid, gid) != 0 || chmod(ps->unix_path, 0660) != 0) {
		snprintf(err, errlen, "policy socket %s: %s", ps->unix_path, strerror(errno));
		return -1;
	}
	return 0;
}

const char *policy_server_address(const struct policy_server *ps)
{
	return ps->address;
}

/* ---------- one client ---------- */

static bool write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void serve_client(struct policy_server *ps, int fd)
{
	struct policy_parser *pp = policy_parser_new();
	char buf[READ_CHUNK], err[200], instance[INSTANCE_MAX] = "";
	char reply[POLICY_MAX_REPLY_TEXT + POLICY_MAX_ACTION + 16];
	struct policy_request *req = xmalloc(sizeof *req);
	for (;;) {
		struct pollfd pf[2] = {{fd, POLLIN, 0}, {ps->stop_pipe[0], POLLIN, 0}};
		int pr = poll(pf, 2, POLICY_IDLE_S * 1000);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0) {
			log_debug("policy: client idle for %d s: closed", POLICY_IDLE_S);
			break;
		}
		if (pr < 0 || (pf[1].revents & (POLLIN | POLLHUP)))
			break;
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (policy_parser_partial(pp))
				log_warning("policy: client closed in the middle of a request");
			break;
		}
		if (policy_parser_feed(pp, buf, (size_t)n, err, sizeof err) < 0) {
			log_warning("policy: malformed request, connection closed: %s", err);
			break;
		}
		bool ok = true;
		while (ok && policy_parser_next(pp, req)) {
			void *ref = NULL;
			const struct sub_config *c = ps->src.acquire(ps->src.ctx, &ref);
			size_t len =
			    policy_answer(ps->engine, c, req, instance, sizeof instance, now_ns(), reply, sizeof reply);
			ps->src.release(ps->src.ctx, ref);
			if (len == 0) {
				log_error("policy: could not format a reply: connection closed");
				ok = false;
				break;
			}
			ok = write_all(fd, reply, len);
		}
		if (!ok)
			break;
	}
	xfree(req);
	policy_parser_free(&pp);
}

static void *client_main(void *arg)
{
	struct client *cl = arg;
	struct policy_server *ps = cl->ps;
	serve_client(ps, cl->fd);
	pthread_mutex_lock(&ps->mu);
	close(cl->fd);
	cl->fd = -1;
	cl->finished = true;
	ps->active--;
	pthread_cond_broadcast(&ps->slot_free);
	pthread_mutex_unlock(&ps->mu);
	return NULL;
}

/* joins ended client threads; caller holds mu */
static void reap(struct policy_server *ps)
{
	for (unsigned i = 0; i < POLICY_MAX_CLIENTS; i++) {
		struct client *cl = &ps->clients[i];
		if (cl->in_use && cl->finished) {
			pthread_join(cl->tid, NULL);
			cl->in_use = cl->finished = false;
		}
	}
}

static void *acceptor_main(void *arg)
{
	struct policy_server *ps = arg;
	for (;;) {
		pthread_mutex_lock(&ps->mu);
		reap(ps);
		while (ps->active >= POLICY_MAX_CLIENTS && !ps->stopping)
			pthread_cond_wait(&ps->slot_free, &ps->mu);
		bool stopping = ps->stopping;
		reap(ps);
		pthread_mutex_unlock(&ps->mu);
		if (stopping)
			break;
		struct pollfd pf[2] = {{ps->fd, POLLIN, 0}, {ps->stop_pipe[0], POLLIN, 0}};
		int pr = poll(pf, 2, -1);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0 || (pf[1].revents & (POLLIN | POLLHUP)))
			break;
		int cfd = accept4(ps->fd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
				log_error("policy: accept: %s", strerror(errno));
			if (errno == EMFILE || errno == ENFILE)
				poll(NULL, 0, 100);
			continue;
		}
		int one = 1;
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails harmlessly on unix */
		struct timeval tv = {SEND_TIMEOUT_S, 0};
		setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		pthread_mutex_lock(&ps->mu);
		struct client *cl = NULL;
		for (unsigned i = 0; i < POLICY_MAX_CLIENTS && cl == NULL; i++)
			if (!ps->clients[i].in_use)
				cl = &ps->clients[i];
		if (cl == NULL) { /* cannot happen: active < max */
			pthread_mutex_unlock(&ps->mu);
			close(cfd);
			continue;
		}
		cl->ps = ps;
		cl->fd = cfd;
		cl->in_use = true;
		cl->finished = false;
		ps->active++;
		int e = pthread_create(&cl->tid, NULL, client_main, cl);
		if (e != 0) {
			cl->in_use = false;
			ps->active--;
			close(cfd);
			log_error("policy: cannot start a client thread: %s", strerror(e));
		}
		pthread_mutex_unlock(&ps->mu);
	}
	return NULL;
}

int policy_server_start(struct policy_server *ps, struct sub_engine *engine, const struct policy_source *src, char *err,
                        size_t errlen)
{
	ps->engine = engine;
	ps->src = *src;
	if (pipe2(ps->stop_pipe, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "policy server: pipe: %s", strerror(errno));
		return -1;
	}
	int e = pthread_create(&ps->acceptor, NULL, acceptor_main, ps);
	if (e != 0) {
		snprintf(err, errlen, "policy server: thread: %s", strerror(e));
		return -1;
	}
	ps->started = true;
	return 0;
}

void policy_server_stop(struct policy_server **psp)
{
	if (psp == NULL || *psp == NULL)
		return;
	struct policy_server *ps = *psp;
	if (ps->started) {
		pthread_mutex_lock(&ps->mu);
		ps->stopping = true;
		pthread_cond_broadcast(&ps->slot_free);
		pthread_mutex_unlock(&ps->mu);
		/* the pipe stays readable: every poll on it wakes */
		if (write(ps->stop_pipe[1], "x", 1) < 0)
			log_error("policy server: cannot signal stop: %s", strerror(errno));
		pthread_join(ps->acceptor, NULL);
		for (unsigned i = 0; i < POLICY_MAX_CLIENTS; i++) {
			struct client *cl = &ps->clients[i];
			if (cl->in_use) {
				pthread_join(cl->tid, NULL);
				cl->in_use = false;
			}
		}
	}
	close(ps->fd);
	if (ps->stop_pipe[0] >= 0) {
		close(ps->stop_pipe[0]);
		close(ps->stop_pipe[1]);
	}
	if (ps->unix_path != NULL)
		unlink(ps->unix_path);
	xfree(ps->unix_path);
	pthread_mutex_destroy(&ps->mu);
	pthread_cond_destroy(&ps->slot_free);
	*psp = xfree(ps);
}
