/* test for src/guard/policy_server with everything real behind it: the
 * listener on a unix socket, the Postfix policy protocol bytes, the engine
 * with the in-process limiter, the guard worker writing to an SQLite store,
 * lock notifications to an SMTP sink on 127.0.0.1, and admin lock/unlock
 * through the store API from a second connection (as `mamori account` does),
 * which must reach the running server within about a second. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "guard/guard_worker.h"
#include "guard/limiter.h"
#include "guard/policy_server.h"
#include "store/accounts.h"

/* ---------- an SMTP sink for the notifications ---------- */

struct sink {
	int fd;
	int port;
	pthread_t tid;
	pthread_mutex_t mu;
	char data[8192];
	char rcpt[256];
	unsigned messages;
	bool stop;
};

static bool sink_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	while (n + 1 < len) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r <= 0)
			return false;
		buf[n++] = c;
		if (c == '\n')
			break;
	}
	buf[n] = '\0';
	return true;
}

static void say(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) < 0) {
		/* the client went away */
	}
}

static void *sink_main(void *arg)
{
	struct sink *s = arg;
	for (;;) {
		struct pollfd pf = {s->fd, POLLIN, 0};
		if (poll(&pf, 1, 100) <= 0) {
			if (s->stop)
				break;
			continue;
		}
		int c = accept(s->fd, NULL, NULL);
		if (c < 0)
			continue;
		char line[1024], data[8192] = "";
		size_t dlen = 0;
		say(c, "220 sink ESMTP\r\n");
		while (sink_line(c, line, sizeof line)) {
			if (strncasecmp(line, "EHLO", 4) == 0 || strncasecmp(line, "HELO", 4) == 0) {
				say(c, "250 sink\r\n");
			} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
				pthread_mutex_lock(&s->mu);
				snprintf(s->rcpt, sizeof s->rcpt, "%s", line + 8);
				pthread_mutex_unlock(&s->mu);
				say(c, "250 ok\r\n");
			} else if (strncasecmp(line, "DATA", 4) == 0) {
				say(c, "354 go\r\n");
				while (sink_line(c, line, sizeof line) && strcmp(line, ".\r\n") != 0) {
					size_t l = strlen(line);
					if (dlen + l < sizeof data) {
						memcpy(data + dlen, line, l);
						dlen += l;
						data[dlen] = '\0';
					}
				}
				pthread_mutex_lock(&s->mu);
				memcpy(s->data, data, dlen + 1);
				s->messages++;
				pthread_mutex_unlock(&s->mu);
				say(c, "250 queued\r\n");
			} else if (strncasecmp(line, "QUIT", 4) == 0) {
				say(c, "221 bye\r\n");
				break;
			} else {
				say(c, "250 ok\r\n");
			}
		}
		close(c);
	}
	return NULL;
}

static void sink_start(struct sink *s)
{
	memset(s, 0, sizeof *s);
	pthread_mutex_init(&s->mu, NULL);
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(s->fd, 8), 0);
	socklen_t al = sizeof a;
	getsockname(s->fd, (struct sockaddr *)&a, &al);
	s->port = ntohs(a.sin_port);
	pthread_create(&s->tid, NULL, sink_main, s);
}

static void sink_stop(struct sink *s)
{
	s->stop = true;
	pthread_join(s->tid, NULL);
	close(s->fd);
}

/* ---------- the service under test ---------- */

struct fx {
	char dir[48], db[128], sock[96];
	struct mamori_config cfg;
	struct sub_config *c;
	struct sub_engine *e;
	struct guard_worker *gw;
	struct policy_server *ps;
	struct store *admin_st; /* the "CLI" connection */
	struct account_store *admin;
	struct sink smtp;
};

static const struct sub_config *acquire(void *ctx, void **ref_r)
{
	struct fx *f = ctx;
	*ref_r = NULL;
	return f->c;
}

static void release(void *ctx, void *ref)
{
	(void)ctx;
	(void)ref;
}

static void service_start(struct fx *f)
{
	char err[512];
	struct store *st = store_open(&f->cfg, err, sizeof err);
	if (st == NULL)
		fail_msg("store: %s", err);
	struct account_locks *locks = account_locks_new(0);
	f->gw = guard_worker_start(st, locks, err, sizeof err);
	if (f->gw == NULL)
		fail_msg("worker: %s", err);
	f->e = sub_engine_new(limiter_local_new(0), locks, guard_worker_event, f->gw);
	char spec[160];
	snprintf(spec, sizeof spec, "unix:%s", f->sock);
	f->ps = policy_server_listen(spec, err, sizeof err);
	if (f->ps == NULL)
		fail_msg("listen: %s", err);
	struct policy_source src = {acquire, release, f};
	assert_int_equal(policy_server_start(f->ps, f->e, &src, err, sizeof err), 0);
}

static void service_stop(struct fx *f)
{
	policy_server_stop(&f->ps);
	guard_worker_stop(&f->gw);
	sub_engine_free(&f->e);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/test_policy_server.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof f->db, "%s/m.db", f->dir);
	snprintf(f->sock, sizeof f->sock, "%s/policy.sock", f->dir);
	sink_start(&f->smtp);
	char conf[160], body[2048], err[512];
	snprintf(conf, sizeof conf, "%s/mamorid.conf", f->dir);
	snprintf(body, sizeof body,
	         "store = { path = \"%s\"; };\n"
	         "submission = {\n"
	         "  account_messages = [ \"3/1h\" ];\n"
	         "  account_recipients = [ \"100/1h\" ];\n"
	         "  lock_max_ips = 2;\n"
	         "  lock_max_countries = 0;\n"
	         "  notify = \"postmaster@example.test\";\n"
	         "  notify_from = \"mamori@example.test\";\n"
	         "  notify_smtp_url = \"smtp://127.0.0.1:%d\";\n"
	         "};\n",
	         f->db, f->smtp.port);
	FILE *fp = fopen(conf, "w");
	fputs(body, fp);
	fclose(fp);
	if (config_load(conf, &f->cfg, err, sizeof err) < 0)
		fail_msg("config: %s", err);
	unlink(conf);
	f->c = sub_config_compile(&f->cfg, err, sizeof err);
	if (f->c == NULL)
		fail_msg("compile: %s", err);
	service_start(f);
	f->admin_st = store_open(&f->cfg, err, sizeof err);
	assert_non_null(f->admin_st);
	f->admin = account_store_open(f->admin_st, err, sizeof err);
	assert_non_null(f->admin);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	service_stop(f);
	account_store_close(&f->admin);
	store_close(&f->admin_st);
	sink_stop(&f->smtp);
	sub_config_free(&f->c);
	config_free(&f->cfg);
	char p[192];
	const char *suffix[] = {"", "-wal", "-shm"};
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s%s", f->db, suffix[i]);
		unlink(p);
	}
	unlink(f->sock);
	rmdir(f->dir);
	xfree(f);
	return 0;
}

/* ---------- a Postfix-like client ---------- */

static int client(const struct fx *f)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	snprintf(un.sun_path, sizeof un.sun_path, "%s", f->sock);
	if (connect(fd, (struct sockaddr *)&un, sizeof un) != 0)
		fail_msg("connect %s: %s", f->sock, strerror(errno));
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

static void send_all(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		assert_true(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

/* reads one reply (up to the empty line) without the final "\n\n" */
static void read_reply(int fd, char *out, size_t outlen)
{
	size_t n = 0;
	while (n + 1 < outlen) {
		ssize_t r = read(fd, out + n, 1);
		if (r <= 0)
			break;
		n++;
		if (n >= 2 && out[n - 1] == '\n' && out[n - 2] == '\n') {
			n -= 2;
			break;
		}
	}
	out[n] = '\0';
}

static void request(char *out, size_t outlen, const char *state, const char *user, const char *ip, const char *instance,
                    unsigned rcpt_count)
{
	snprintf(out, outlen,
	         "request=smtpd_access_policy\n"
	         "protocol_state=%s\n"
	         "protocol_name=ESMTP\n"
	         "client_address=%s\n"
	         "client_name=client.test\n"
	         "helo_name=client.test\n"
	         "sender=%s\n"
	         "recipient=rcpt@example.org\n"
	         "recipient_count=%u\n"
	         "queue_id=\n"
	         "instance=%s\n"
	         "size=0\n"
	         "sasl_method=PLAIN\n"
	         "sasl_username=%s\n"
	         "sasl_sender=\n"
	         "\n",
	         state, ip, user, rcpt_count, instance, user);
}

static void ask(int fd, const char *state, const char *user, const char *ip, const char *instance, unsigned rcpt_count,
                char *reply, size_t replylen)
{
	char req[2048];
	request(req, sizeof req, state, user, ip, instance, rcpt_count);
	send_all(fd, req);
	read_reply(fd, reply, replylen);
}

/* ---------- tests ---------- */

static int count_limits(void *ctx, const struct account_event_row *ev)
{
	unsigned *k = ctx;
	if (strcmp(ev->event, "limit") == 0)
		(*k)++;
	return 0;
}

static void test_limit(void **state)
{
	struct fx *f = *state;
	int fd = client(f);
	char reply[600], inst[32];
	/* three messages of two recipients each: every RCPT answered DUNNO */
	for (int m = 0; m < 3; m++) {
		snprintf(inst, sizeof inst, "a%d.1", m);
		for (int r = 0; r < 2; r++) {
			ask(fd, "RCPT", "alice@example.test", "192.0.2.1", inst, 0, reply, sizeof reply);
			assert_string_equal(reply, "action=DUNNO");
		}
	}
	/* the 4th message is over 3/1h */
	ask(fd, "RCPT", "Alice@Example.TEST", "192.0.2.1", "a3.1", 0, reply, sizeof reply);
	assert_string_equal(reply, "action=451 4.7.1 rate limit exceeded: 3 messages per 1 h for "
	                           "sasl:alice@example.test; retry in 20 min");
	/* still refused on its next RCPT: the message was not counted */
	ask(fd, "RCPT", "alice@example.test", "192.0.2.1", "a3.1", 0, reply, sizeof reply);
	assert_true(strncmp(reply, "action=451 4.7.1 rate limit exceeded", 36) == 0);
	/* not an authenticated submission: DUNNO, nothing counted */
	ask(fd, "RCPT", "", "192.0.2.1", "a4.1", 0, reply, sizeof reply);
	assert_string_equal(reply, "action=DUNNO");
	/* END-OF-MESSAGE counts one message of recipient_count */
	ask(fd, "END-OF-MESSAGE", "eve@example.test", "192.0.2.1", "e1", 101, reply, sizeof reply);
	assert_true(strstr(reply, "action=451 4.7.1 rate limit exceeded: 101 recipients in one message") == reply);
	ask(fd, "END-OF-MESSAGE", "eve@example.test", "192.0.2.1", "e1", 100, reply, sizeof reply);
	assert_string_equal(reply, "action=DUNNO");
	/* other states count nothing */
	for (int i = 0; i < 5; i++) {
		ask(fd, "MAIL", "frank@example.test", "192.0.2.1", "f1", 0, reply, sizeof reply);
		assert_string_equal(reply, "action=DUNNO");
	}
	/* two requests in one write: two replies in order */
	char two[4096], r1[2048];
	request(r1, sizeof r1, "RCPT", "gina@example.test", "192.0.2.1", "g1", 0);
	snprintf(two, sizeof two, "%s%s", r1, r1);
	send_all(fd, two);
	read_reply(fd, reply, sizeof reply);
	assert_string_equal(reply, "action=DUNNO");
	read_reply(fd, reply, sizeof reply);
	assert_string_equal(reply, "action=DUNNO");
	close(fd);

	/* the limit hit was recorded */
	guard_worker_sync(f->gw);
	unsigned n = 0;
	assert_int_equal(account_store_events(f->admin, "alice@example.test", 10, count_limits, &n), STORE_OK);
	assert_int_equal(n, 2);
}

static bool wait_reply(struct fx *f, const char *user, const char *ip, const char *prefix, int64_t *ms_r)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char reply[600];
	/* up to 10 s: the worker polls every 200 ms; a loaded CI machine under
	   ASan is slow, and timing is not what this test judges */
	for (int i = 0; i < 200; i++) {
		int fd = client(f);
		ask(fd, "MAIL", user, ip, "w", 0, reply, sizeof reply);
		close(fd);
		if (strncmp(reply, prefix, strlen(prefix)) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			*ms_r = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
			return true;
		}
		usleep(50000);
	}
	return false;
}

static void test_lock_unlock(void **state)
{
	struct fx *f = *state;
	int fd = client(f);
	char reply[600];
	ask(fd, "RCPT", "bob@example.test", "192.0.2.1", "b1", 0, reply, sizeof reply);
	assert_string_equal(reply, "action=DUNNO");
	ask(fd, "RCPT", "bob@example.test", "192.0.2.2", "b2", 0, reply, sizeof reply);
	assert_string_equal(reply, "action=DUNNO");
	/* a third address within the window: locked */
	ask(fd, "RCPT", "bob@example.test", "198.51.100.3", "b3", 0, reply, sizeof reply);
	assert_string_equal(reply, "action=554 5.7.1 account locked: contact your mail administrator (until an "
	                           "administrator unlocks it)");
	ask(fd, "RCPT", "bob@example.test", "192.0.2.1", "b4", 0, reply, sizeof reply);
	assert_true(strncmp(reply, "action=554 5.7.1 account locked", 31) == 0);
	close(fd);

	/* persisted by the worker */
	guard_worker_sync(f->gw);
	struct account_lock_row row;
	assert_int_equal(account_store_get(f->admin, "bob@example.test", time(NULL), &row), STORE_OK);
	assert_string_equal(row.by_whom, GUARD_BY);
	assert_string_equal(row.reason, "3 distinct source IPs within 3600 s (limit 2)");
	assert_int_equal(row.until, 0);

	/* the notification reached the relay */
	bool got = false;
	for (int i = 0; i < 100 && !got; i++) {
		pthread_mutex_lock(&f->smtp.mu);
		got = f->smtp.messages > 0;
		pthread_mutex_unlock(&f->smtp.mu);
		if (!got)
			usleep(50000);
	}
	assert_true(got);
	pthread_mutex_lock(&f->smtp.mu);
	assert_non_null(strstr(f->smtp.rcpt, "<postmaster@example.test>"));
	assert_non_null(strstr(f->smtp.data, "Subject: [mamori] submission account bob@example.test locked\r\n"));
	assert_non_null(strstr(f->smtp.data, "Client:   198.51.100.3\r\n"));
	assert_non_null(strstr(f->smtp.data, "mamori account unlock bob@example.test"));
	assert_int_equal(f->smtp.messages, 1);
	pthread_mutex_unlock(&f->smtp.mu);

	/* the admin unlocks through the store (another connection, as the CLI
	   does): the running server takes it without a restart */
	assert_int_equal(account_store_unlock(f->admin, "bob@example.test", time(NULL), "cli:test", "checked"),
	                 STORE_OK);
	int64_t ms = -1;
	assert_true(wait_reply(f, "bob@example.test", "192.0.2.1", "action=DUNNO", &ms));

	/* an admin lock reaches it the same way */
	assert_int_equal(account_store_lock(f->admin, "carol@example.test", time(NULL), time(NULL) + 7200, "by hand",
	                                    "cli:test", NULL, NULL),
	                 STORE_OK);
	assert_true(wait_reply(f, "carol@example.test", "192.0.2.1", "action=554 5.7.1 account locked", &ms));

	/* locks survive a restart: a fresh service loads carol's from the store */
	service_stop(f);
	service_start(f);
	fd = client(f);
	ask(fd, "RCPT", "carol@example.test", "192.0.2.1", "c1", 0, reply, sizeof reply);
	assert_true(strncmp(reply, "action=554 5.7.1 account locked: contact your mail administrator (until 20", 72) ==
	            0);
	ask(fd, "RCPT", "bob@example.test", "192.0.2.1", "b5", 0, reply, sizeof reply);
	assert_string_equal(reply, "action=DUNNO");
	close(fd);
}

static void test_malformed_closes(void **state)
{
	struct fx *f = *state;
	int fd = client(f);
	send_all(fd, "request=smtpd_access_policy\nno equals sign here\n\n");
	char buf[16];
	ssize_t n = read(fd, buf, sizeof buf);
	assert_int_equal(n, 0); /* closed without a reply */
	close(fd);
	/* the service goes on */
	fd = client(f);
	char reply[600];
	ask(fd, "RCPT", "hal@example.test", "192.0.2.1", "h1", 0, reply, sizeof reply);
	assert_string_equal(reply, "action=DUNNO");
	close(fd);
}

struct par {
	struct fx *f;
	int id;
	unsigned dunno, refused;
};

static void *par_main(void *arg)
{
	struct par *p = arg;
	int fd = client(p->f);
	char reply[600], user[64], inst[32];
	snprintf(user, sizeof user, "user%d@example.test", p->id);
	for (int m = 0; m < 5; m++) {
		snprintf(inst, sizeof inst, "p%d.%d", p->id, m);
		char req[2048];
		request(req, sizeof req, "RCPT", user, "192.0.2.50", inst, 0);
		send_all(fd, req);
		read_reply(fd, reply, sizeof reply);
		if (strcmp(reply, "action=DUNNO") == 0)
			p->dunno++;
		else if (strncmp(reply, "action=451 4.7.1", 16) == 0)
			p->refused++;
	}
	close(fd);
	return NULL;
}

static void test_concurrent_clients(void **state)
{
	struct fx *f = *state;
	enum { N = 16 };
	struct par p[N];
	pthread_t t[N];
	for (int i = 0; i < N; i++) {
		p[i] = (struct par){f, i, 0, 0};
		pthread_create(&t[i], NULL, par_main, &p[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		/* 3/1h each: exactly 3 of 5 pass, whatever the interleaving */
		assert_int_equal(p[i].dunno, 3);
		assert_int_equal(p[i].refused, 2);
	}
}

/* policy_answer without sockets: the state table of policy_server.h */
static void test_answer_states(void **state)
{
	struct fx *f = *state;
	struct policy_request *req = xcalloc(1, sizeof *req);
	char out[600], inst[64] = "";
	int64_t now = (int64_t)time(NULL) * 1000000000;
	snprintf(req->request, sizeof req->request, "smtpd_access_policy");
	snprintf(req->sasl_username, sizeof req->sasl_username, "ivy@example.test");
	snprintf(req->client_address, sizeof req->client_address, "192.0.2.9");
	/* DATA: one message of recipient_count recipients each (3 x 30 <= 100/1h) */
	snprintf(req->protocol_state, sizeof req->protocol_state, "DATA");
	req->recipient_count = 30;
	for (int i = 0; i < 3; i++) {
		assert_true(policy_answer(f->e, f->c, req, inst, sizeof inst, now, out, sizeof out) > 0);
		assert_string_equal(out, "action=DUNNO\n\n");
	}
	assert_true(policy_answer(f->e, f->c, req, inst, sizeof inst, now, out, sizeof out) > 0);
	assert_string_equal(out, "action=451 4.7.1 rate limit exceeded: 3 messages per 1 h for sasl:ivy@example.test; "
	                         "retry in 20 min\n\n");
	/* another request type, or the guard switched off: DUNNO */
	snprintf(req->request, sizeof req->request, "junk");
	policy_answer(f->e, f->c, req, inst, sizeof inst, now, out, sizeof out);
	assert_string_equal(out, "action=DUNNO\n\n");
	snprintf(req->request, sizeof req->request, "smtpd_access_policy");
	policy_answer(f->e, NULL, req, inst, sizeof inst, now, out, sizeof out);
	assert_string_equal(out, "action=DUNNO\n\n");
	/* an unparsable client address: no per-IP keys, the account still counts */
	snprintf(req->client_address, sizeof req->client_address, "unknown");
	policy_answer(f->e, f->c, req, inst, sizeof inst, now, out, sizeof out);
	assert_true(strncmp(out, "action=451 4.7.1", 16) == 0);
	xfree(req);
}

int main(void)
{
	log_init("test_policy_server", LOG_LVL_ERROR, true, false);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lock_unlock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_closes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_clients, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_answer_states, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
