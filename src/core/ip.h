/*
 * ip: IPv4/IPv6 addresses and CIDR matching. An address is kept in
 * network byte order; IPv4 uses the first 4 bytes of a[]. IPv4-mapped IPv6
 * addresses (::ffff:a.b.c.d) are not folded here: callers that want the v4
 * view call ip_unmap().
 */
#ifndef MAMORI_CORE_IP_H
#define MAMORI_CORE_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ipaddr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t a[16];
};

#define IP_STRLEN 46 /* INET6_ADDRSTRLEN */

/* parses a literal address (no brackets, no prefix); 0 or -1 */
int ip_parse(const char *s, struct ipaddr *ip_r);
/* same, for n bytes that need not be terminated */
int ip_parse_n(const char *s, size_t n, struct ipaddr *ip_r);
/* formats into out (IP_STRLEN bytes); returns out */
char *ip_format(const struct ipaddr *ip, char *out);
/* true when the first prefix bits of a and net agree and families match */
bool ip_match(const struct ipaddr *a, const struct ipaddr *net, unsigned prefix);
bool ip_equal(const struct ipaddr *a, const struct ipaddr *b);
/* ::ffff:a.b.c.d becomes a.b.c.d; other addresses are unchanged */
void ip_unmap(struct ipaddr *ip);
/* parses "addr" or "addr/len" into net and prefix (full length if absent) */
int ip_parse_cidr(const char *s, struct ipaddr *net_r, unsigned *prefix_r);
/* reverse-DNS name: "4.3.2.1.in-addr.arpa" or nibble form under ip6.arpa */
void ip_reverse_name(const struct ipaddr *ip, char *out, size_t outlen);

#endif
