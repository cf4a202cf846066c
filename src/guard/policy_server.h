/*
 * policy_server: the submission guard as a Postfix policy service
 * (check_policy_service, SMTPD_POLICY_README). Owns the listening socket
 * (submission.policy_listen: "unix:PATH" or "inet:PORT@HOST"), an accept
 * thread and one thread per client connection, at most POLICY_MAX_CLIENTS at
 * once (further clients wait in the listen backlog). Requests are read with
 * policy_proto.c and answered with the same engine as the milter
 * (sub_decide):
 *
 *   protocol_state   counted                               answer
 *   RCPT             1 recipient; 1 message on the first   DUNNO, or "451 4.7.1 ..."
 *                    RCPT of a message (new "instance")    (reply_code), "554 5.7.1 ..."
 *   DATA,            1 message with recipient_count        the same
 *   END-OF-MESSAGE   recipients
 *   anything else    nothing (locks and access rules only) the same
 *
 * A request without sasl_username is not a submission: DUNNO. The state to
 * use (smtpd_recipient_restrictions or smtpd_end_of_data_restrictions) is
 * explained in docs/submission-guard.md; using both counts a message twice.
 *
 * A malformed request closes the connection (Postfix reconnects and applies
 * its default_action to that command); an idle connection is closed after
 * POLICY_IDLE_S seconds (Postfix's smtpd_policy_service_max_idle is 300 s).
 */
#ifndef MAMORI_GUARD_POLICY_SERVER_H
#define MAMORI_GUARD_POLICY_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#include "guard/policy_proto.h"
#include "guard/submission.h"

#define POLICY_MAX_CLIENTS 256
#define POLICY_IDLE_S 330
#define POLICY_BACKLOG 128

/* where the compiled config comes from: acquire returns the current one and
   a reference (*ref_r) that release gives back; both thread-safe */
struct policy_source {
	const struct sub_config *(*acquire)(void *ctx, void **ref_r);
	void (*release)(void *ctx, void *ref);
	void *ctx;
};

struct policy_server;

/*
 * Binds and listens on spec (a unix socket file is replaced if stale and
 * created with mode 0660). No thread is started yet. NULL with a reason.
 */
struct policy_server *policy_server_listen(const char *spec, char *err, size_t errlen);

/* hands a unix socket file to uid/gid (before a privilege drop); 0 or -1 */
int policy_server_chown(struct policy_server *ps, uid_t uid, gid_t gid, char *err, size_t errlen);

/* Starts serving: engine and src are kept by pointer until stop. 0 or -1. */
int policy_server_start(struct policy_server *ps, struct sub_engine *engine, const struct policy_source *src, char *err,
                        size_t errlen);

/* Stops accepting, closes every client (requests being decided finish
   first), joins the threads, removes a unix socket file, frees; NULL ok. */
void policy_server_stop(struct policy_server **ps);

/* the address as bound ("unix:/abs/path" or "inet:PORT@HOST", the real port
   when 0 was asked) */
const char *policy_server_address(const struct policy_server *ps);

/*
 * One request -> the reply bytes ("action=...\n\n") into out; conn_instance
 * is the connection's last message instance (updated). The logic of the
 * table above, without sockets; exposed for tests. Returns the reply length.
 */
size_t policy_answer(struct sub_engine *engine, const struct sub_config *c, const struct policy_request *req,
                     char *conn_instance, size_t instlen, int64_t now_ns, char *out, size_t outlen);

#endif
