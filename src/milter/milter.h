/*
 * milter: the libmilter glue of mamorid and nothing else. Turns the MTA's
 * callbacks into one message (msgbuild), runs the authentication stage
 * (auth_check) with the shared resolver and the current settings snapshot,
 * lets the decision stage pick an action, and carries it out with libmilter
 * (header edits, 4xx/5xx, quarantine, message log). Owns the per-connection
 * and per-message state, the registry of MTA connections and the count of
 * messages in flight (for a drain at shutdown).
 */
#ifndef MAMORI_MILTER_MILTER_H
#define MAMORI_MILTER_MILTER_H

#include <stdbool.h>

#include "dns/dns.h"

/*
 * Registers the callbacks with libmilter (smfi_register). r is the one
 * resolver of the process, kept by pointer and used by every milter thread;
 * it must outlive smfi_main() and every open connection. A settings snapshot
 * must be published before the first connection. Returns 0, or -1 if
 * libmilter refused the registration.
 */
int milter_register(struct dns_resolver *r);

/*
 * The message log and quarantine (mailstore.h) and the GeoIP country
 * database (NULL: no country in the log), kept by pointer for every milter
 * thread; set before smfi_main() and cleared only once idle. Without a
 * mailstore a message the policy quarantines is answered tempfail.
 */
struct mailstore;
struct geoip;
void milter_set_stores(struct mailstore *ms, const struct geoip *geo);

/*
 * The submission guard's engine (guard/submission.h), kept by pointer; NULL
 * (the default) turns the guard off. With it, a message from an
 * authenticated client ({auth_authen}) is put to sub_decide at end of
 * message with its envelope recipient count, under the snapshot's rules
 * (settings->sub); a refusal is answered with its code (4xx tempfail, 5xx
 * reject). Set before smfi_main(), cleared only once idle.
 */
struct sub_engine;
void milter_set_guard(struct sub_engine *e);

/*
 * Shutdown, in this order: milter_drain() makes every new message get 451
 * 4.3.2 (the MTA keeps it and retries); milter_wait_idle() waits up to
 * timeout_s seconds until no message is in flight and no callback runs
 * (true when so); then smfi_stop(); once smfi_main() has returned and
 * milter_wait_idle() says idle, nothing uses the resolver or the stores any
 * more. Per-connection state libmilter dropped without closing stays
 * allocated until the process exits (a late close may still come).
 */
void milter_drain(void);
bool milter_wait_idle(unsigned timeout_s);

#endif
