#include "core/ip.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int ip_parse_n(const char *s, size_t n, struct ipaddr *ip_r)
{
	char tmp[IP_STRLEN + 1];
	if (n == 0 || n > IP_STRLEN)
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	memset(ip_r, 0, sizeof *ip_r);
	if (memchr(tmp, ':', n) != NULL) {
		if (inet_pton(AF_INET6, tmp, ip_r->a) != 1)
			return -1;
		ip_r->family = AF_INET6;
		return 0;
	}
	if (inet_pton(AF_INET, tmp, ip_r->a) != 1)
		return -1;
	ip_r->family = AF_INET;
	return 0;
}

int ip_parse(const char *s, struct ipaddr *ip_r)
{
	return ip_parse_n(s, strlen(s), ip_r);
}

char *ip_format(const struct ipaddr *ip, char *out)
{
	if (inet_ntop(ip->family, ip->a, out, IP_STRLEN) == NULL)
		snprintf(out, IP_STRLEN, "?");
	return out;
}

bool ip_match(const struct ipaddr *a, const struct ipaddr *net, unsigned prefix)
{
	if (a->family != net->family)
		return false;
	unsigned max = a->family == AF_INET ? 32 : 128;
	if (prefix > max)
		return false;
	unsigned full = prefix / 8, rest = prefix % 8;
	if (memcmp(a->a, net->a, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a->a[full] & mask) == (net->a[full] & mask);
}

bool ip_equal(const struct ipaddr *a, const struct ipaddr *b)
{
	return a->family == b->family && memcmp(a->a, b->a, a->family == AF_INET ? 4 : 16) == 0;
}

void ip_unmap(struct ipaddr *ip)
{
	static const uint8_t pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (ip->family == AF_INET6 && memcmp(ip->a, pfx, 12) == 0) {
		memmove(ip->a, ip->a + 12, 4);
		memset(ip->a + 4, 0, 12);
		ip->family = AF_INET;
	}
}

int ip_parse_cidr(const char *s, struct ipaddr *net_r, unsigned *prefix_r)
{
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (ip_parse_n(s, n, net_r) < 0)
		return -1;
	unsigned max = net_r->family == AF_INET ? 32 : 128;
	if (!slash) {
		*prefix_r = max;
		return 0;
	}
	char *end;
	if (slash[1] < '0' || slash[1] > '9')
		return -1;
	unsigned long p = strtoul(slash + 1, &end, 10);
	if (*end != '\0' || p > max)
		return -1;
	*prefix_r = (unsigned)p;
	return 0;
}

void ip_reverse_name(const struct ipaddr *ip, char *out, size_t outlen)
{
	if (ip->family == AF_INET) {
		snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa", ip->a[3], ip->a[2], ip->a[1], ip->a[0]);
		return;
	}
	static const char hex[] = "0123456789abcdef";
	char tmp[80];
	size_t k = 0;
	for (int i = 15; i >= 0; i--) {
		tmp[k++] = hex[ip->a[i] & 0xf];
		tmp[k++] = '.';
		tmp[k++] = hex[ip->a[i] >> 4];
		tmp[k++] = '.';
	}
	tmp[k] = '\0';
	snprintf(out, outlen, "%sip6.arpa", tmp);
}
