/*
 * account_lock: per-account source tracking and lock state (see
 * account_lock.h for the algorithm). Layout: a few shards, each a mutex and a
 * fixed-size chained hash of accounts; each account owns a small growable
 * array of sources (at most LOCK_MAX_SOURCES) and, when locked, its reason.
 */
#include "guard/account_lock.h"

#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/mem.h"

struct source {
	struct ipaddr ip; /* normalised: unmapped; IPv6 cut to its /64 */
	int64_t seen;
	char cc[3]; /* "" = unknown */
};

struct account {
	struct account *next;
	uint64_t hash;
	char *name;
	size_t namelen;
	struct source *src;
	unsigned nsrc, capsrc;
	int64_t last_seen;
	bool locked;
	int64_t locked_at, until; /* until 0 = until unlocked */
	char *why;                /* when locked */
};

struct shard {
	pthread_mutex_t mu;
	struct account **bucket;
	size_t nbucket; /* power of two */
	size_t count, cap;
};

struct account_locks {
	uint64_t seed;
	size_t nshard;
	struct shard *shard;
};

/* ---------- helpers ---------- */

static uint64_t table_seed(void)
{
	uint64_t s = 0;
	ssize_t n;
	do
		n = getrandom(&s, sizeof s, 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof s) {
		/* no getrandom: weaker, still varies per process */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		s = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid() ^ (uintptr_t)&s;
	}
	return s;
}

/* seeded FNV-1a with a final avalanche (splitmix64 finaliser) */
static uint64_t name_hash(uint64_t seed, const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return h;
}

static void set_why(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
	if (!why || whylen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

static bool lock_live(const struct account *a, int64_t now)
{
	return a->locked && (a->until == 0 || now < a->until);
}

static void clear_lock(struct account *a)
{
	a->locked = false;
	a->locked_at = a->until = 0;
	a->why = xfree(a->why);
}

static void account_free(struct account *a)
{
	xfree(a->name);
	xfree(a->src);
	xfree(a->why);
	xfree(a);
}

/* name length, or 0 if NULL, empty or longer than LOCK_ACCOUNT_MAX */
static size_t name_len(const char *account)
{
	if (!account)
		return 0;
	size_t n = strnlen(account, LOCK_ACCOUNT_MAX + 1);
	return n > LOCK_ACCOUNT_MAX ? 0 : n;
}

static struct shard *shard_of(struct account_locks *al, uint64_t h)
{
	return &al->shard[(h >> 48) % al->nshard];
}

/* the link pointing at the account, or at the NULL ending its chain */
static struct account **find_link(struct shard *sh, const char *name, size_t n, uint64_t h)
{
	struct account **l = &sh->bucket[h & (sh->nbucket - 1)];
	for (; *l; l = &(*l)->next)
		if ((*l)->hash == h && (*l)->namelen == n && memcmp((*l)->name, name, n) == 0)
			break;
	return l;
}

static void unlink_free(struct shard *sh, struct account **l)
{
	struct account *a = *l;
	*l = a->next;
	sh->count--;
	account_free(a);
}

/* Makes room for one more account in a full shard: drops the evictable
 * (not currently locked) account seen least recently. false if none. */
static bool evict_one(struct shard *sh, int64_t now)
{
	struct account **best = NULL;
	for (size_t b = 0; b < sh->nbucket; b++)
		for (struct account **l = &sh->bucket[b]; *l; l = &(*l)->next)
			if (!lock_live(*l, now) && (!best || (*l)->last_seen < (*best)->last_seen))
				best = l;
	if (!best)
		return false;
	unlink_free(sh, best);
	return true;
}

/* finds or creates (evicting if needed); NULL when the shard is full of locks */
static struct account *get_account(struct shard *sh, const char *name, size_t n, uint64_t h,
				   int64_t now)
{
	struct account **l = find_link(sh, name, n, h);
	if (*l)
		return *l;
	if (sh->count >= sh->cap) {
		if (!evict_one(sh, now))
			return NULL;
		l = find_link(sh, name, n, h); /* the chain may have changed */
	}
	struct account *a = xcalloc(1, sizeof *a);
	a->hash = h;
	a->name = xstrndup(name, n);
	a->namelen = n;
	*l = a;
	sh->count++;
	return a;
}

static void normalise_ip(const struct ipaddr *in, struct ipaddr *out)
{
	*out = *in;
	ip_unmap(out);
	if (out->family == AF_INET)
		memset(out->a + 4, 0, 12);
	else
		memset(out->a + 8, 0, 8); /* one /64 is one source */
}

static void normalise_cc(const char *country, char cc[3])
{
	cc[0] = '\0';
	if (!country || strlen(country) != 2)
		return;
	for (int i = 0; i < 2; i++) {
		char c = country[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
			cc[0] = '\0';
			return;
		}
		cc[i] = c;
	}
	cc[2] = '\0';
}

static void add_source(struct account *a, const struct ipaddr *ip, const char *cc, int64_t now)
{
	struct source *s = NULL;
	for (unsigned i = 0; i < a->nsrc; i++)
		if (ip_equal(&a->src[i].ip, ip)) {
			s = &a->src[i];
			break;
		}
	if (s) {
		/* known source: refresh (a late, out-of-order time never moves it back) */
		if (now > s->seen)
			s->seen = now;
		memcpy(s->cc, cc, 3);
		if (now > a->last_seen)
			a->last_seen = now;
		return;
	}
	if (a->nsrc < LOCK_MAX_SOURCES) {
		if (a->nsrc == a->capsrc) {
			unsigned nc = a->capsrc ? a->capsrc * 2 : 4;
			if (nc > LOCK_MAX_SOURCES)
				nc = LOCK_MAX_SOURCES;
			a->src = xreallocarray(a->src, nc, sizeof *a->src);
			a->capsrc = nc;
		}
		s = &a->src[a->nsrc++];
	} else {
		/* full: the least recently seen source goes */
		s = &a->src[0];
		for (unsigned i = 1; i < a->nsrc; i++)
			if (a->src[i].seen < s->seen)
				s = &a->src[i];
	}
	s->ip = *ip;
	s->seen = now;
	memcpy(s->cc, cc, 3);
	if (now > a->last_seen)
		a->last_seen = now;
}

/* ---------- public ---------- */

struct account_locks *account_locks_new(size_t max_accounts)
{
	if (max_accounts == 0)
		max_accounts = LOCK_DEFAULT_MAX_ACCOUNTS;
	struct account_locks *al = xcalloc(1, sizeof *al);
	al->seed = table_seed();
	/* small tables: one shard, so the bound is exact */
	al->nshard = max_accounts < 4096 ? 1 : 16;
	al->shard = xcalloc(al->nshard, sizeof *al->shard);
	for (size_t i = 0; i < al->nshard; i++) {
		struct shard *sh = &al->shard[i];
		pthread_mutex_init(&sh->mu, NULL);
		sh->cap = max_accounts / al->nshard;
		sh->nbucket = 16;
		while (sh->nbucket < sh->cap && sh->nbucket < ((size_t)1 << 24))
			sh->nbucket *= 2;
		sh->bucket = xcalloc(sh->nbucket, sizeof *sh->bucket);
	}
	return al;
}

void account_locks_free(struct account_locks **alp)
{
	if (!alp || !*alp)
		return;
	struct account_locks *al = *alp;
	for (size_t i = 0; i < al->nshard; i++) {
		struct shard *sh = &al->shard[i];
		for (size_t b = 0; b < sh->nbucket; b++)
			while (sh->bucket[b])
				unlink_free(sh, &sh->bucket[b]);
		xfree(sh->bucket);
		pthread_mutex_destroy(&sh->mu);
	}
	xfree(al->shard);
	*alp = xfree(al);
}

int lock_policy_validate(const struct lock_policy *p, char *err, size_t errlen)
{
	if (!p) {
		set_why(err, errlen, "no lock policy");
		return -1;
	}
	if (p->max_ips >= LOCK_MAX_SOURCES) {
		set_why(err, errlen, "max_ips %u must be below %d (sources kept per account)", p->max_ips,
			LOCK_MAX_SOURCES);
		return -1;
	}
	if (p->max_countries >= LOCK_MAX_SOURCES) {
		set_why(err, errlen, "max_countries %u must be below %d", p->max_countries,
			LOCK_MAX_SOURCES);
		return -1;
	}
	if (p->window_s == 0 || p->window_s > LOCK_WINDOW_MAX) {
		set_why(err, errlen, "window %u s outside 1..%u", p->window_s, LOCK_WINDOW_MAX);
		return -1;
	}
	return 0;
}

enum lock_verdict account_locks_observe(struct account_locks *al, const char *account,
					const struct ipaddr *ip, const char *country,
					const struct lock_policy *p, int64_t now_s, char *why,
					size_t whylen)
{
	set_why(why, whylen, "%s", "");
	size_t n = name_len(account);
	if (n == 0) {
		set_why(why, whylen, "account name empty or longer than %d bytes", LOCK_ACCOUNT_MAX);
		return LOCK_ERROR;
	}
	if (!ip || (ip->family != AF_INET && ip->family != AF_INET6)) {
		set_why(why, whylen, "no source address");
		return LOCK_ERROR;
	}
	if (now_s < 0) {
		set_why(why, whylen, "time before the epoch");
		return LOCK_ERROR;
	}
	char perr[128];
	if (lock_policy_validate(p, perr, sizeof perr) != 0) {
		set_why(why, whylen, "bad lock policy: %s", perr);
		return LOCK_ERROR;
	}
	struct ipaddr nip;
	normalise_ip(ip, &nip);
	char cc[3];
	normalise_cc(country, cc);

	uint64_t h = name_hash(al->seed, account, n);
	struct shard *sh = shard_of(al, h);
	enum lock_verdict v = LOCK_OK;
	pthread_mutex_lock(&sh->mu);
	struct account *a = get_account(sh, account, n, h, now_s);
	if (!a) {
		pthread_mutex_unlock(&sh->mu);
		set_why(why, whylen, "account table full of locked accounts; not tracked");
		return LOCK_ERROR;
	}
	add_source(a, &nip, cc, now_s);
	if (a->locked && !lock_live(a, now_s))
		clear_lock(a);

	if (a->locked) {
		v = LOCK_LOCKED;
		if (a->until)
			set_why(why, whylen, "locked until %lld: %s", (long long)a->until, a->why);
		else
			set_why(why, whylen, "locked until unlocked: %s", a->why);
		pthread_mutex_unlock(&sh->mu);
		return v;
	}

	/* sources and countries within the window */
	unsigned nips = 0, ncc = 0;
	char ccs[LOCK_MAX_SOURCES][3];
	for (unsigned i = 0; i < a->nsrc; i++) {
		const struct source *s = &a->src[i];
		if (now_s - s->seen >= (int64_t)p->window_s)
			continue;
		nips++;
		if (!s->cc[0])
			continue;
		unsigned k = 0;
		while (k < ncc && memcmp(ccs[k], s->cc, 3) != 0)
			k++;
		if (k == ncc)
			memcpy(ccs[ncc++], s->cc, 3);
	}
	bool ip_over = p->max_ips && nips > p->max_ips;
	bool cc_over = p->max_countries && ncc > p->max_countries;
	if (ip_over || cc_over) {
		char r[LOCK_WHY_MAX];
		size_t o = 0;
		if (ip_over)
			o += (size_t)snprintf(r, sizeof r, "%u distinct source IPs within %u s (limit %u)", nips,
					      p->window_s, p->max_ips);
		if (cc_over && o < sizeof r) {
			o += (size_t)snprintf(r + o, sizeof r - o, "%s%u countries within %u s (limit %u):",
					      o ? "; " : "", ncc, p->window_s, p->max_countries);
			for (unsigned k = 0; k < ncc && o < sizeof r; k++)
				o += (size_t)snprintf(r + o, sizeof r - o, " %s", ccs[k]);
		}
		a->locked = true;
		a->locked_at = now_s;
		a->until = p->lock_s ? now_s + (int64_t)p->lock_s : 0;
		xfree(a->why);
		a->why = xstrdup(r);
		set_why(why, whylen, "%s", r);
		v = LOCK_NEWLY_LOCKED;
	}
	pthread_mutex_unlock(&sh->mu);
	return v;
}

int account_locks_lock(struct account_locks *al, const char *account, int64_t now_s,
		       int64_t until_s, const char *why)
{
	size_t n = name_len(account);
	if (n == 0 || until_s < 0)
		return -1;
	uint64_t h = name_hash(al->seed, account, n);
	struct shard *sh = shard_of(al, h);
	pthread_mutex_lock(&sh->mu);
	struct account *a = get_account(sh, account, n, h, now_s);
	if (!a) {
		pthread_mutex_unlock(&sh->mu);
		return -1;
	}
	a->locked = true;
	a->locked_at = now_s;
	a->until = until_s;
	xfree(a->why);
	if (!why)
		why = "";
	a->why = xstrndup(why, strnlen(why, LOCK_WHY_MAX - 1));
	if (now_s > a->last_seen)
		a->last_seen = now_s;
	pthread_mutex_unlock(&sh->mu);
	return 0;
}

int account_locks_unlock(struct account_locks *al, const char *account)
{
	size_t n = name_len(account);
	if (n == 0)
		return -1;
	uint64_t h = name_hash(al->seed, account, n);
	struct shard *sh = shard_of(al, h);
	pthread_mutex_lock(&sh->mu);
	struct account **l = find_link(sh, account, n, h);
	int r = 0;
	if (*l) {
		r = (*l)->locked ? 1 : 0;
		unlink_free(sh, l); /* forgets the sources too */
	}
	pthread_mutex_unlock(&sh->mu);
	return r;
}

bool account_locks_is_locked(struct account_locks *al, const char *account, int64_t now_s,
			     int64_t *until_r)
{
	size_t n = name_len(account);
	if (n == 0)
		return false;
	uint64_t h = name_hash(al->seed, account, n);
	struct shard *sh = shard_of(al, h);
	pthread_mutex_lock(&sh->mu);
	struct account *a = *find_link(sh, account, n, h);
	bool locked = a && lock_live(a, now_s);
	if (locked && until_r)
		*until_r = a->until;
	pthread_mutex_unlock(&sh->mu);
	return locked;
}

static int info_cmp(const void *x, const void *y)
{
	return strcmp(((const struct account_lock_info *)x)->account,
		      ((const struct account_lock_info *)y)->account);
}

size_t account_locks_list(struct account_locks *al, int64_t now_s, struct account_lock_info *out,
			  size_t max)
{
	struct account_lock_info *all = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < al->nshard; i++) {
		struct shard *sh = &al->shard[i];
		pthread_mutex_lock(&sh->mu);
		for (size_t b = 0; b < sh->nbucket; b++)
			for (struct account *a = sh->bucket[b]; a; a = a->next) {
				if (!lock_live(a, now_s))
					continue;
				if (n == cap) {
					cap = cap ? cap * 2 : 16;
					all = xreallocarray(all, cap, sizeof *all);
				}
				struct account_lock_info *e = &all[n++];
				memcpy(e->account, a->name, a->namelen + 1);
				e->locked_at = a->locked_at;
				e->until_s = a->until;
				snprintf(e->why, sizeof e->why, "%s", a->why ? a->why : "");
			}
		pthread_mutex_unlock(&sh->mu);
	}
	if (n > 1)
		qsort(all, n, sizeof *all, info_cmp);
	if (out && n > 0 && max > 0)
		memcpy(out, all, (n < max ? n : max) * sizeof *all);
	xfree(all);
	return n;
}

size_t account_locks_sweep(struct account_locks *al, int64_t now_s, uint32_t idle_s)
{
	size_t dropped = 0;
	for (size_t i = 0; i < al->nshard; i++) {
		struct shard *sh = &al->shard[i];
		pthread_mutex_lock(&sh->mu);
		for (size_t b = 0; b < sh->nbucket; b++) {
			struct account **l = &sh->bucket[b];
			while (*l) {
				if (!lock_live(*l, now_s) && now_s - (*l)->last_seen >= (int64_t)idle_s) {
					unlink_free(sh, l);
					dropped++;
				} else {
					l = &(*l)->next;
				}
			}
		}
		pthread_mutex_unlock(&sh->mu);
	}
	return dropped;
}

size_t account_locks_count(struct account_locks *al)
{
	size_t n = 0;
	for (size_t i = 0; i < al->nshard; i++) {
		pthread_mutex_lock(&al->shard[i].mu);
		n += al->shard[i].count;
		pthread_mutex_unlock(&al->shard[i].mu);
	}
	return n;
}
