/*
 * inbound: the policy stage for mail from outside (DESIGN.md "policy").
 * Owns the compiled, immutable inbound policy of one configuration snapshot
 * (CIDR lists, allow/deny lists, the protected-domain lookalike set, VIPs,
 * free-mail domains, parsed DNSBL zones) and the pure decision function that
 * turns a message's envelope, header and authentication results into one
 * action with a score and a list of human-readable signals. It talks to DNS
 * only through the resolver it is given (sender-domain existence, DNSBL),
 * never to the MTA or the store. docs/inbound.md explains the checks and
 * weights to mail administrators.
 */
#ifndef MAMORI_POLICY_INBOUND_H
#define MAMORI_POLICY_INBOUND_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/authcheck.h"
#include "auth/message.h"
#include "core/config.h"
#include "core/ip.h"
#include "dns/dns.h"
#include "inspect/dnsbl.h"

/* signals kept per message; further signals still count in the score */
#define INBOUND_MAX_SIGNALS 24
/* recipients whose own deny list removes them from one message (the rest
   of the message goes on); more than this quarantines the message */
#define INBOUND_MAX_DROP 64
/* one reason, UTF-8, for logs, headers and the quarantine */
#define INBOUND_REASON_MAX 256
/* codes per dnsbl.zones entry */
#define INBOUND_MAX_DNSBL_CODES 32

/* default weights of the signals (docs/inbound.md lists them) */
#define INBOUND_W_DMARC_REJECT 8     /* DMARC failed, the domain asks p=reject */
#define INBOUND_W_DMARC_QUARANTINE 5 /* ... asks p=quarantine */
#define INBOUND_W_DMARC_NONE 2       /* ... asks p=none, or t=y one level down to none */
#define INBOUND_W_INTERNAL_SPOOF 8
#define INBOUND_W_ORG_MISMATCH 1
#define INBOUND_W_LOOKALIKE 8
#define INBOUND_W_LOOKALIKE_WEAK 3 /* mixed-script label resembling no protected domain */
#define INBOUND_W_REPLY_TO 2       /* Reply-To in another organisation */
#define INBOUND_W_REPLY_TO_FREEMAIL 5
#define INBOUND_W_REPLY_TO_LOOKALIKE 8
#define INBOUND_W_UNRESOLVABLE 6
#define INBOUND_W_DNSBL 6  /* a listing without a score:N code */
#define INBOUND_W_DENY 100 /* a deny list entry */
/* impersonation: (strength + 5) / 10 of impersonation.h's strengths, i.e. 6
   for the full name, 9 from free mail, 4 (7 from free mail) for the name
   among other words, 2 from the VIP's own domain; the check's action applies
   from strength IMP_STRENGTH_NAME (60) */

enum inbound_action { INBOUND_ACCEPT, INBOUND_QUARANTINE, INBOUND_TEMPFAIL, INBOUND_REJECT };

/* what one check asks for (config "off", "score", "quarantine", "reject") */
enum inbound_mode { INBOUND_OFF, INBOUND_SCORE, INBOUND_MODE_QUARANTINE, INBOUND_MODE_REJECT };

struct inbound_signal {
	char name[32];              /* "dmarc_fail", "lookalike", ... (docs/inbound.md) */
	int weight;                 /* added to the score */
	enum inbound_action action; /* what this signal alone asks for */
	char reason[INBOUND_REASON_MAX];
};

struct inbound_input {
	struct ipaddr ip;
	bool have_ip;             /* false: no client address (local) */
	const char *client_name;  /* verified host name, NULL if none */
	bool authenticated;       /* SMTP AUTH succeeded */
	const char *helo;         /* may be NULL */
	const char *mail_from;    /* NULL not given, "" the null path */
	const char *const *rcpts; /* envelope recipients, angle brackets removed */
	size_t nrcpts;
	const struct message *msg;       /* NULL: not readable (only envelope checks) */
	const struct auth_results *auth; /* NULL: not run */
};

struct inbound_verdict {
	enum inbound_action action;
	int score;
	bool inbound;                       /* false: authenticated or internal, nothing checked */
	bool allowed;                       /* an allow list matched */
	char smtp_code[4];                  /* "550" or "451" for reject/tempfail, else "" */
	char smtp_xcode[8];                 /* "5.7.1", "5.1.8", "4.7.0" */
	char smtp_text[INBOUND_REASON_MAX]; /* printable ASCII, safe for smfi_setreply */
	char reason[INBOUND_REASON_MAX];    /* why the action was taken; "" for a plain accept */
	struct inbound_signal signals[INBOUND_MAX_SIGNALS];
	size_t nsignals;
	size_t signals_dropped;        /* signals beyond INBOUND_MAX_SIGNALS (scored, not listed) */
	size_t drop[INBOUND_MAX_DROP]; /* indexes into rcpts of recipients whose deny list
	                                  matched the header From; the caller removes them */
	size_t ndrop;
	bool dns_failed; /* a check met a DNS failure (tempfail, or fail-open) */
};

struct inbound_policy;

/*
 * Compiles and validates the inbound, dnsbl and lists sections of cfg: CIDRs,
 * sender and recipient entries, protected domains (a public suffix is
 * refused), VIPs, free-mail domains, DNSBL zone names and codes. The policy
 * copies what it needs: cfg may be freed afterwards. Returns NULL with
 * "KEY: reason" in err (naming the key and the offending value) on error.
 * Safe to share between threads once built; does not block.
 */
struct inbound_policy *inbound_policy_new(const struct mamori_config *cfg, char *err, size_t errlen);
void inbound_policy_free(struct inbound_policy **p);

/* true when inbound.headers asks for X-Mamori-* headers */
bool inbound_policy_headers(const struct inbound_policy *p);

/* true when the client is internal (no address, or in inbound.internal_networks);
   also for p == NULL (no policy: nothing is checked) */
bool inbound_client_internal(const struct inbound_policy *p, const struct ipaddr *ip, bool have_ip);

/*
 * The per-recipient deny list of rcpt applied to the envelope sender alone,
 * for refusing one recipient at RCPT time. Returns true (with the reason in
 * reason_r) when rcpt's deny list names mail_from or its domain.
 */
bool inbound_rcpt_denied(const struct inbound_policy *p, const char *rcpt, const char *mail_from, char *reason_r,
                         size_t len);

/*
 * Decides what happens to one message. Authenticated and internal clients
 * get accept with inbound = false and no checks (the submission guard's
 * business), except that a temporary DNS failure of the authentication
 * stage gives tempfail unless inbound.dns_failure = "accept". Otherwise every
 * enabled check runs and adds signals; the action is the strongest any
 * signal asks for or the score reaches, in the order reject > tempfail >
 * quarantine > accept. p may be NULL: then every client is treated as
 * internal. Fills *v completely. May block on DNS: up to three
 * queries for the sender domain and two per DNSBL zone.
 */
void inbound_decide(const struct inbound_policy *p, struct dns_resolver *r, const struct inbound_input *in,
                    struct inbound_verdict *v);

/*
 * The value of the first header field called name, for logs: unfolded,
 * trimmed, control characters as '?', RFC 2047 encoded words decoded to
 * UTF-8 when decode is set, cut to fit out. "" when absent. Allocates only
 * while decoding.
 */
void inbound_header_text(const struct message *msg, const char *name, bool decode, char *out, size_t len);

/* "accept", "quarantine", "tempfail", "reject" */
const char *inbound_action_name(enum inbound_action a);

/*
 * Parses one dnsbl.zones code string "ADDRESS[/PREFIX] ACTION MEANING" or
 * "mask:BITS ACTION MEANING" (ACTION: reject, quarantine or score:N with
 * N in 0..1000; MEANING: the rest, may be empty). Exact codes must lie in
 * 127.0.0.0/8 with a prefix of 8..32; BITS (decimal or 0x hex) in
 * 1..0xffffff. On success fills *code_r (meaning pointing into meaning_r,
 * action 0 score / 1 quarantine / 2 reject, score the weight) and returns 0;
 * -1 with the reason in err. Input of any bytes is safe.
 */
int inbound_dnsbl_code_parse(const char *s, struct dnsbl_code *code_r, char *meaning_r, size_t meaning_len, char *err,
                             size_t errlen);

#endif
