/*
 * address: reads the addresses out of an RFC 5322 From (or other
 * address-list) field value, and the domain out of an RFC 5321 MAIL FROM
 * reverse-path. Owns no state; every call works on the caller's buffers and
 * never allocates. Hostile input is expected: nothing here crashes or
 * aborts on any byte string, and problems come back as a reason string.
 *
 * Grammar handled (RFC 5322 3.4 and 4.4): mailbox-list and address-list,
 * name-addr and addr-spec, display names of atoms, quoted strings and
 * (obsolete) dots, comments (nested, with quoted-pairs) and folding white
 * space anywhere between tokens, group syntax ("name: a@b, c@d;"), obsolete
 * source routes ("<@relay1,@relay2:user@host>"), empty list elements
 * (obs-mbox-list), domain literals. RFC 2047 encoded words are left as they
 * are; UTF-8 (RFC 6532) passes through in atoms.
 */
#ifndef MAMORI_AUTH_ADDRESS_H
#define MAMORI_AUTH_ADDRESS_H

#include <stddef.h>

#define ADDRESS_MAX_FIELD 256 /* buffer size of every out string below */

struct mailbox {
	char display[ADDRESS_MAX_FIELD]; /* display name, quotes removed, runs of
	                                    white space made one space; if none,
	                                    the text of a trailing comment
	                                    ("a@b (Name)"); "" if neither */
	char local[ADDRESS_MAX_FIELD];   /* local-part, unquoted */
	char domain[ADDRESS_MAX_FIELD];  /* lower-cased ASCII, trailing dot removed;
	                                    a domain literal keeps its brackets */
};

/*
 * Extracts the distinct domains of the addresses in a From value (value need
 * not be NUL-terminated): lower-cased, trailing dot removed, duplicates
 * dropped (RFC 9989 5.3.1 counts Author Domains, not mailboxes), in order of
 * first appearance, at most max. Domain literals ("[192.0.2.1]") cannot name
 * a DMARC policy and are skipped. Returns the count; 0 means none found.
 * err (if errlen > 0) receives the first problem seen (malformed element,
 * skipped literal, more than max domains), or "" when there was none; a
 * non-empty err with a non-zero count means some elements were unusable.
 * A caller doing DMARC must treat a count other than 1 as RFC 9989 5.3.1
 * and 11.5 say (see dmarc.h).
 */
size_t address_from_domains(const char *value, size_t len, char domains_r[][ADDRESS_MAX_FIELD], size_t max,
			    char *err, size_t errlen);

/*
 * Parses every mailbox (those inside groups too) into out, at most max.
 * Returns the number stored. err as for address_from_domains(). Elements
 * that fail to parse are skipped; the parser resynchronises at the next
 * top-level comma.
 */
size_t address_parse_mailboxes(const char *value, size_t len, struct mailbox *out, size_t max, char *err,
			       size_t errlen);

/*
 * The domain of a MAIL FROM reverse-path: "<a@b>" or "a@b" (without the
 * brackets some clients send), with an optional source route
 * ("<@r1,@r2:a@b>"), quoted local-parts and trailing ESMTP parameters after
 * the closing '>'. "<>" (the null path) and "" give "" and return 0.
 * domain_r is lower-cased, trailing dot removed. Returns 0, or -1 when
 * malformed (no '@', empty or invalid domain, unbalanced brackets or
 * quotes, result longer than len-1); domain_r is "" then.
 */
int address_envelope_domain(const char *mail_from, char *domain_r, size_t len);

#endif
