/*
 * milter: the libmilter glue of mamorid and nothing else. Turns the MTA's
 * callbacks into one message (msgbuild), runs the authentication stage
 * (auth_check) with the shared resolver and the current settings snapshot,
 * lets the decision stage pick an action, and carries it out with libmilter
 * (header edits, 4xx). Owns the per-connection and per-message state and the
 * count of open MTA connections.
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

/* waits until no MTA connection is open, up to timeout_s seconds; true when
   idle (then nothing uses the resolver any more) */
bool milter_wait_idle(unsigned timeout_s);

#endif
