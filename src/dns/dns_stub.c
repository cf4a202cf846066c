/* dns_stub: in-memory records and the query semantics (see dns_stub.h). */
#include "dns/dns_stub.h"
#include "core/mem.h"

#include <stdint.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

struct stub_node {
	char *name; /* lower-cased, no trailing dot */
	size_t name_len;
	struct dns_rr *rr;
	size_t n, cap;
	int fail;   /* -1 none, else enum dns_stub_fail */
	struct stub_node *next;
};

struct dns_stub {
	struct stub_node **tab;
	size_t nbuckets;
	size_t count;
};

static uint64_t stub_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 'A' && c <= 'Z')
			c += 32;
		h = (h ^ c) * 1099511628211ULL;
	}
	return h;
}

static size_t stub_trim(const char *name)
{
	size_t n = strlen(name);
	if (n > 1 && name[n - 1] == '.')
		n--;
	return n;
}

static bool stub_name_eq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x += 32;
		if (y >= 'A' && y <= 'Z')
			y += 32;
		if (x != y)
			return false;
	}
	return true;
}

struct dns_stub *dns_stub_new(void)
{
	struct dns_stub *s = xcalloc(1, sizeof *s);
	s->nbuckets = 256;
	s->tab = xcalloc(s->nbuckets, sizeof *s->tab);
	return s;
}

static struct stub_node *stub_find(const struct dns_stub *s, const char *name, size_t n)
{
	for (struct stub_node *nd = s->tab[stub_hash(name, n) % s->nbuckets]; nd; nd = nd->next)
		if (nd->name_len == n && stub_name_eq(nd->name, name, n))
			return nd;
	return NULL;
}

static void stub_grow(struct dns_stub *s)
{
	size_t nb = s->nbuckets * 2;
	struct stub_node **tab = xcalloc(nb, sizeof *tab);
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct stub_node *nd = s->tab[i], *next;
		for (; nd; nd = next) {
			next = nd->next;
			size_t b = stub_hash(nd->name, nd->name_len) % nb;
			nd->next = tab[b];
			tab[b] = nd;
		}
	}
	free(s->tab);
	s->tab = tab;
	s->nbuckets = nb;
}

static struct stub_node *stub_get(struct dns_stub *s, const char *name, size_t n)
{
	struct stub_node *nd = stub_find(s, name, n);
	if (nd)
		return nd;
	if (s->count >= s->nbuckets)
		stub_grow(s);
	nd = xcalloc(1, sizeof *nd);
	nd->name = xstrndup(name, n);
	for (size_t i = 0; i < n; i++)
		if (nd->name[i] >= 'A' && nd->name[i] <= 'Z')
			nd->name[i] += 32;
	nd->name_len = n;
	nd->fail = -1;
	size_t b = stub_hash(name, n) % s->nbuckets;
	nd->next = s->tab[b];
	s->tab[b] = nd;
	s->count++;
	return nd;
}

/* creates the node for owner and empty nodes for every ancestor, so that
   those answer NODATA rather than NXDOMAIN (RFC 8020 empty non-terminals) */
static struct stub_node *stub_owner(struct dns_stub *s, const char *owner)
{
	size_t n = stub_trim(owner);
	struct stub_node *nd = stub_get(s, owner, n);
	for (size_t i = 0; i < n; i++)
		if (owner[i] == '.' && i + 1 < n)
			stub_get(s, owner + i + 1, n - i - 1);
	return nd;
}

static void rr_copy(struct dns_rr *dst, const struct dns_rr *src)
{
	*dst = *src;
	dst->name = src->name ? xstrdup(src->name) : NULL;
	if (src->txt) {
		dst->txt = xmalloc(src->txt_len + 1);
		memcpy(dst->txt, src->txt, src->txt_len);
		dst->txt[src->txt_len] = '\0';
	}
}

void dns_stub_add_rr(struct dns_stub *s, const char *owner, const struct dns_rr *rr)
{
	struct stub_node *nd = stub_owner(s, owner);
	if (nd->n == nd->cap) {
		nd->cap = nd->cap ? nd->cap * 2 : 2;
		nd->rr = xreallocarray(nd->rr, nd->cap, sizeof *nd->rr);
	}
	rr_copy(&nd->rr[nd->n++], rr);
}

void dns_stub_add_a(struct dns_stub *s, const char *owner, const struct ipaddr *ip)
{
	struct dns_rr rr = { .type = ip->family == AF_INET6 ? DNS_T_AAAA : DNS_T_A, .ttl = 300, .ip = *ip };
	dns_stub_add_rr(s, owner, &rr);
}

void dns_stub_add_txt(struct dns_stub *s, const char *owner, const char *txt, size_t len, unsigned nstrings)
{
	struct dns_rr rr = { .type = DNS_T_TXT, .ttl = 300, .txt = (char *)txt, .txt_len = len, .nstrings = nstrings };
	dns_stub_add_rr(s, owner, &rr);
}

void dns_stub_add_mx(struct dns_stub *s, const char *owner, unsigned pref, const char *exchange)
{
	struct dns_rr rr = { .type = DNS_T_MX, .ttl = 300, .pref = pref, .name = (char *)exchange };
	dns_stub_add_rr(s, owner, &rr);
}

void dns_stub_add_name(struct dns_stub *s, const char *owner, enum dns_type type, const char *target)
{
	struct dns_rr rr = { .type = type, .ttl = 300, .name = (char *)target };
	dns_stub_add_rr(s, owner, &rr);
}

void dns_stub_add_fail(struct dns_stub *s, const char *owner, enum dns_stub_fail how)
{
	stub_owner(s, owner)->fail = (int)how;
}

void dns_stub_free(struct dns_stub **sp)
{
	struct dns_stub *s = *sp;
	if (!s)
		return;
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct stub_node *nd = s->tab[i], *next;
		for (; nd; nd = next) {
			next = nd->next;
			struct dns_answer tmp = { .rr = nd->rr, .n = nd->n };
			dns_answer_free(&tmp);
			free(nd->name);
			free(nd);
		}
	}
	free(s->tab);
	*sp = xfree(s);
}

static enum dns_status stub_query(void *state, const char *name, enum dns_type type, struct dns_answer *ans)
{
	struct dns_stub *s = state;
	const char *cur = name;
	size_t n = stub_trim(name);
	for (int hop = 0; hop <= DNS_STUB_MAX_CNAME; hop++) {
		struct stub_node *nd = stub_find(s, cur, n);
		if (nd == NULL) {
			ans->status = DNS_NXDOMAIN;
			return ans->status;
		}
		if (nd->fail >= 0) {
			ans->status = DNS_TEMPFAIL;
			ans->reason = nd->fail == DNS_STUB_TIMEOUT ? "timeout" : "SERVFAIL";
			return ans->status;
		}
		const struct dns_rr *cname = NULL;
		for (size_t i = 0; i < nd->n; i++) {
			if (nd->rr[i].type == type)
				rr_copy(dns_answer_add(ans, type), &nd->rr[i]);
			else if (nd->rr[i].type == DNS_T_CNAME)
				cname = &nd->rr[i];
		}
		if (ans->n > 0) {
			ans->status = DNS_FOUND;
			return ans->status;
		}
		if (cname == NULL || type == DNS_T_CNAME) {
			ans->status = DNS_NODATA;
			return ans->status;
		}
		cur = cname->name;
		n = stub_trim(cur);
	}
	ans->status = DNS_TEMPFAIL;
	ans->reason = "CNAME chain too long";
	return ans->status;
}

static void stub_destroy(void *state)
{
	struct dns_stub *s = state;
	dns_stub_free(&s);
}

static const struct dns_backend stub_backend = { "stub", stub_query, stub_destroy };

struct dns_resolver *dns_stub_resolver(struct dns_stub *s)
{
	struct dns_resolver *r = xcalloc(1, sizeof *r);
	r->ops = &stub_backend;
	r->state = s;
	return r;
}
