/*
 * ratelimit: GCRA over a sharded open-addressing table (see ratelimit.h for
 * the algorithm and the eviction policy).
 *
 * Layout: each shard is a mutex plus a linear-probing array of buckets
 * {hash, entry*}. An entry is one allocation: a small header, the window
 * slots (one per policy window, messages first) and the key bytes, so a
 * lookup touches the bucket line and then one entry. Buckets are never
 * deleted one by one; a sweep rebuilds the shard's array without the drained
 * entries, which keeps probing free of tombstones.
 */
#include "guard/ratelimit.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/mem.h"

#define NS_PER_S INT64_C(1000000000)
#define NS_PER_MS INT64_C(1000000)
#define RL_SHARDS_MAX 64
#define RL_SHARD_MIN_ENTRIES 256 /* below this per shard, use fewer shards */
#define RL_BUCKETS_INIT 16
#define RL_LABEL_MAX 64 /* key label bytes shown in a reply */

struct rl_slot {
	int64_t tat;       /* theoretical arrival time, ns (whole part) */
	uint32_t frac;     /* plus frac/count ns; frac < count */
	uint32_t count;    /* the limit this state was computed under; 0 = none */
	uint32_t period_s;
	uint32_t unused;
};

struct rl_entry {
	int64_t drained_at; /* every slot's TAT <= this: reclaimable from then on */
	uint16_t keylen;
	uint8_t nmsgs, nrcpts;
	struct rl_slot slot[]; /* nmsgs + nrcpts, then keylen key bytes */
};

struct rl_bucket {
	uint64_t hash;
	struct rl_entry *e; /* NULL = empty */
};

struct rl_shard {
	pthread_mutex_t lock;
	struct rl_bucket *b;
	size_t mask;        /* buckets - 1 (a power of two) */
	size_t used;
	size_t cap;         /* entries allowed in this shard */
	size_t max_buckets; /* the array never grows past this */
	int64_t next_drain; /* lower bound of every entry's drained_at */
} __attribute__((aligned(64)));

struct ratelimit {
	uint64_t seed[3];
	unsigned nshards;
	struct rl_shard *shard;
};

/* ---------- hashing ---------- */

static inline uint64_t mix(uint64_t a, uint64_t b)
{
	unsigned __int128 m = (unsigned __int128)a * b;
	return (uint64_t)m ^ (uint64_t)(m >> 64);
}

static inline uint64_t load64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* Keyed multiply-mix hash: 16 bytes per round folded through a 64x64->128
 * multiply; the seeds are secret per table. Not cryptographic; it only has to
 * keep clients from choosing colliding keys. */
static uint64_t rl_hash(const struct ratelimit *rl, const char *key, size_t n)
{
	const unsigned char *s = (const unsigned char *)key;
	uint64_t h = rl->seed[0] ^ ((uint64_t)n * UINT64_C(0x9e3779b97f4a7c15));
	while (n >= 16) {
		h = mix(load64(s) ^ rl->seed[1] ^ h, load64(s + 8) ^ rl->seed[2]);
		s += 16;
		n -= 16;
	}
	uint64_t a = 0, b = 0;
	if (n >= 8) {
		a = load64(s);
		s += 8;
		n -= 8;
		memcpy(&b, s, n);
	} else {
		memcpy(&a, s, n);
	}
	h = mix(a ^ rl->seed[1] ^ h, b ^ rl->seed[2] ^ UINT64_C(0xa0761d6478bd642f));
	return mix(h ^ rl->seed[0], UINT64_C(0xe7037ed1a0b428db) ^ (h >> 29));
}

static void rl_seed(uint64_t seed_r[3])
{
	size_t got = 0;
	while (got < 3 * sizeof(uint64_t)) {
		ssize_t n = getrandom((char *)seed_r + got, 3 * sizeof(uint64_t) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got < 3 * sizeof(uint64_t)) {
		/* no getrandom (old kernel, seccomp): weaker, still per process */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid() ^
			     (uint64_t)(uintptr_t)seed_r;
		for (int i = 0; i < 3; i++) {
			x += UINT64_C(0x9e3779b97f4a7c15);
			seed_r[i] = mix(x, UINT64_C(0xbf58476d1ce4e5b9));
		}
	}
	/* a zero multiplier would flatten a round */
	for (int i = 0; i < 3; i++)
		seed_r[i] |= UINT64_C(1) << 63;
}

/* ---------- table ---------- */

static size_t pow2_at_least(size_t n)
{
	size_t p = 1;
	while (p < n)
		p <<= 1;
	return p;
}

struct ratelimit *ratelimit_new(size_t max_entries)
{
	if (max_entries == 0)
		max_entries = RL_DEFAULT_MAX_ENTRIES;
	struct ratelimit *rl = xcalloc(1, sizeof *rl);
	rl_seed(rl->seed);
	unsigned n = RL_SHARDS_MAX;
	while (n > 1 && max_entries / n < RL_SHARD_MIN_ENTRIES)
		n >>= 1;
	rl->nshards = n;
	rl->shard = aligned_alloc(64, sizeof(struct rl_shard) * n);
	if (rl->shard == NULL)
		xmem_fail(sizeof(struct rl_shard) * n);
	size_t cap = max_entries / n; /* >= 1; the shards never hold more than max_entries */
	for (unsigned i = 0; i < n; i++) {
		struct rl_shard *sh = &rl->shard[i];
		memset(sh, 0, sizeof *sh);
		pthread_mutex_init(&sh->lock, NULL);
		sh->cap = cap;
		/* load factor at most 3/4 at capacity */
		sh->max_buckets = pow2_at_least(cap + cap / 3 + 1);
		size_t nb = RL_BUCKETS_INIT < sh->max_buckets ? RL_BUCKETS_INIT : sh->max_buckets;
		sh->b = xcalloc(nb, sizeof *sh->b);
		sh->mask = nb - 1;
		sh->next_drain = INT64_MAX;
	}
	return rl;
}

void ratelimit_free(struct ratelimit **rlp)
{
	struct ratelimit *rl = rlp ? *rlp : NULL;
	if (rl == NULL)
		return;
	for (unsigned i = 0; i < rl->nshards; i++) {
		struct rl_shard *sh = &rl->shard[i];
		for (size_t j = 0; j <= sh->mask; j++)
			xfree(sh->b[j].e);
		xfree(sh->b);
		pthread_mutex_destroy(&sh->lock);
	}
	free(rl->shard);
	xfree(rl);
	*rlp = NULL;
}

static inline struct rl_shard *shard_of(struct ratelimit *rl, uint64_t h)
{
	/* bucket index uses the low bits, the shard the high ones */
	return &rl->shard[(h >> 48) & (rl->nshards - 1)];
}

static inline char *entry_key(struct rl_entry *e)
{
	return (char *)&e->slot[e->nmsgs + e->nrcpts];
}

/* places e in a bucket array that has room and does not hold its key */
static void bucket_put(struct rl_bucket *b, size_t mask, uint64_t h, struct rl_entry *e)
{
	size_t i = h & mask;
	while (b[i].e != NULL)
		i = (i + 1) & mask;
	b[i].hash = h;
	b[i].e = e;
}

/* Rebuilds the shard's array with nb buckets; drops (frees) entries drained
 * at now when drop is set. Returns how many were dropped. */
static size_t shard_rebuild(struct rl_shard *sh, size_t nb, bool drop, int64_t now)
{
	struct rl_bucket *nbk = xcalloc(nb, sizeof *nbk);
	size_t dropped = 0;
	int64_t next = INT64_MAX;
	for (size_t j = 0; j <= sh->mask; j++) {
		struct rl_entry *e = sh->b[j].e;
		if (e == NULL)
			continue;
		if (drop && e->drained_at <= now) {
			xfree(e);
			dropped++;
			continue;
		}
		if (e->drained_at < next)
			next = e->drained_at;
		bucket_put(nbk, nb - 1, sh->b[j].hash, e);
	}
	xfree(sh->b);
	sh->b = nbk;
	sh->mask = nb - 1;
	sh->used -= dropped;
	sh->next_drain = next;
	return dropped;
}

static size_t shard_sweep(struct rl_shard *sh, int64_t now)
{
	if (sh->used == 0 || now < sh->next_drain)
		return 0;
	return shard_rebuild(sh, sh->mask + 1, true, now);
}

size_t ratelimit_sweep(struct ratelimit *rl, int64_t now_ns)
{
	size_t n = 0;
	for (unsigned i = 0; i < rl->nshards; i++) {
		pthread_mutex_lock(&rl->shard[i].lock);
		n += shard_sweep(&rl->shard[i], now_ns);
		pthread_mutex_unlock(&rl->shard[i].lock);
	}
	return n;
}

size_t ratelimit_count(struct ratelimit *rl)
{
	size_t n = 0;
	for (unsigned i = 0; i < rl->nshards; i++) {
		pthread_mutex_lock(&rl->shard[i].lock);
		n += rl->shard[i].used;
		pthread_mutex_unlock(&rl->shard[i].lock);
	}
	return n;
}

/* ---------- GCRA ---------- */

int rl_policy_validate(const struct rl_policy *p, char *err, size_t errlen)
{
	if (p == NULL) {
		snprintf(err, errlen, "no policy");
		return -1;
	}
	if (p->nmsgs > RL_MAX_WINDOWS || p->nrcpts > RL_MAX_WINDOWS) {
		snprintf(err, errlen, "more than %d windows per dimension", RL_MAX_WINDOWS);
		return -1;
	}
	for (int dim = 0; dim < 2; dim++) {
		const struct rl_limit *l = dim ? p->rcpts : p->msgs;
		size_t n = dim ? p->nrcpts : p->nmsgs;
		for (size_t i = 0; i < n; i++) {
			if (l[i].count == 0)
				continue;
			if (l[i].count > RL_COUNT_MAX) {
				snprintf(err, errlen, "%s limit %zu: count %u above %u",
					 dim ? "recipient" : "message", i, l[i].count, RL_COUNT_MAX);
				return -1;
			}
			if (l[i].period_s == 0 || l[i].period_s > RL_PERIOD_MAX) {
				snprintf(err, errlen, "%s limit %zu: period %u s outside 1..%u",
					 dim ? "recipient" : "message", i, l[i].period_s,
					 RL_PERIOD_MAX);
				return -1;
			}
		}
	}
	return 0;
}

/* the TAT (ceiling, whole ns) after which a slot is drained */
static inline int64_t slot_drain(const struct rl_slot *s)
{
	return s->tat + (s->frac != 0);
}

/* Makes slot s follow limit l at now: a fresh or unlimited slot starts empty;
 * a slot computed under another limit keeps its used share of the window. */
static void slot_adopt(struct rl_slot *s, const struct rl_limit *l, int64_t now)
{
	if (s->count == l->count && s->period_s == l->period_s)
		return;
	int64_t tat = 0;
	if (s->count != 0 && l->count != 0 && slot_drain(s) > now) {
		/* used requests = (TAT - now) / I_old; new TAT = now + used * I_new */
		long double rem = (long double)(s->tat - now) + (long double)s->frac / s->count;
		long double used = rem * s->count / ((long double)s->period_s * NS_PER_S);
		long double T = (long double)l->period_s * NS_PER_S;
		long double d = used * T / l->count;
		if (d > T)
			d = T;
		int64_t di = (int64_t)d;
		if ((long double)di < d)
			di++;
		tat = now + di;
	}
	s->tat = tat;
	s->frac = 0;
	s->count = l->count;
	s->period_s = l->period_s;
}

struct rl_eval {
	bool deny;
	bool never;
	int64_t retry_ns; /* deny: wait; never: INT64_MAX */
};

/* GCRA for one slot, cost c (> 0, <= count): new state into nt_r/nf_r. */
static inline struct rl_eval slot_eval(const struct rl_slot *s, uint32_t c, int64_t now,
				       int64_t *nt_r, uint32_t *nf_r)
{
	struct rl_eval ev = { false, false, 0 };
	uint64_t n = s->count;
	int64_t T = (int64_t)s->period_s * NS_PER_S;
	if (c > n) {
		ev.deny = ev.never = true;
		ev.retry_ns = INT64_MAX;
		return ev;
	}
	/* I = q + r/n ns; c*I = c*q + c*r/n; c*q <= T, c*r < n*n <= 1e18 */
	int64_t q = T / (int64_t)n;
	uint64_t r = (uint64_t)T % n;
	int64_t bt = s->tat;
	uint64_t bf = s->frac;
	if (now > bt) { /* now > TAT exactly, as frac/n < 1 */
		bt = now;
		bf = 0;
	}
	uint64_t add = (uint64_t)c * r + bf;
	int64_t nt = bt + (int64_t)c * q + (int64_t)(add / n);
	uint32_t nf = (uint32_t)(add % n);
	int64_t over = nt - now - T; /* TAT' - now - T, whole part */
	if (over > 0 || (over == 0 && nf != 0)) {
		ev.deny = true;
		ev.retry_ns = over + (nf != 0); /* earliest whole ns with TAT' - now' <= T */
	}
	*nt_r = nt;
	*nf_r = nf;
	return ev;
}

static void decision_error(struct rl_decision *d, enum rl_outcome o, const char *reason)
{
	memset(d, 0, sizeof *d);
	d->outcome = o;
	d->reason = reason;
}

static bool policy_ok(const struct rl_policy *p)
{
	char err[1];
	return rl_policy_validate(p, err, 0) == 0;
}

/* true if the request charges at least one limited window */
static bool policy_active(const struct rl_policy *p, uint32_t nrcpt)
{
	for (size_t i = 0; i < p->nmsgs; i++)
		if (p->msgs[i].count != 0)
			return true;
	if (nrcpt != 0)
		for (size_t i = 0; i < p->nrcpts; i++)
			if (p->rcpts[i].count != 0)
				return true;
	return false;
}

/* A new entry shaped for p, state carried over from old (may be NULL) */
static struct rl_entry *entry_shape(const struct rl_entry *old, const char *key, size_t keylen,
				    const struct rl_policy *p)
{
	size_t ns = p->nmsgs + p->nrcpts;
	struct rl_entry *e = xcalloc(1, sizeof *e + ns * sizeof(struct rl_slot) + keylen);
	e->keylen = (uint16_t)keylen;
	e->nmsgs = (uint8_t)p->nmsgs;
	e->nrcpts = (uint8_t)p->nrcpts;
	memcpy(entry_key(e), key, keylen);
	if (old != NULL) {
		for (size_t i = 0; i < p->nmsgs && i < old->nmsgs; i++)
			e->slot[i] = old->slot[i];
		for (size_t i = 0; i < p->nrcpts && i < old->nrcpts; i++)
			e->slot[p->nmsgs + i] = old->slot[old->nmsgs + i];
	}
	int64_t drained = 0;
	for (size_t i = 0; i < ns; i++)
		if (e->slot[i].count != 0 && slot_drain(&e->slot[i]) > drained)
			drained = slot_drain(&e->slot[i]);
	e->drained_at = drained;
	return e;
}

/* Commits the charged slots (charged may be NULL: none) and refreshes the
 * entry's drain time and the shard's lower bound of drain times. */
static void entry_settle(struct rl_shard *sh, struct rl_entry *e, const bool *charged,
			 const int64_t *nt, const uint32_t *nf)
{
	int64_t drained = 0;
	for (size_t si = 0; si < (size_t)(e->nmsgs + e->nrcpts); si++) {
		struct rl_slot *s = &e->slot[si];
		if (charged != NULL && charged[si]) {
			s->tat = nt[si];
			s->frac = nf[si];
		}
		if (s->count != 0 && slot_drain(s) > drained)
			drained = slot_drain(s);
	}
	e->drained_at = drained;
	if (drained < sh->next_drain)
		sh->next_drain = drained;
}

enum rl_outcome ratelimit_check(struct ratelimit *rl, const char *key, size_t keylen,
				const struct rl_policy *p, uint32_t nrcpt, int64_t now_ns,
				struct rl_decision *d_r)
{
	struct rl_decision *d = d_r;
	if (key == NULL || keylen == 0 || keylen > RL_KEY_MAX) {
		decision_error(d, RL_ERROR, "rate limit key empty or longer than RL_KEY_MAX");
		return RL_ERROR;
	}
	if (!policy_ok(p)) {
		decision_error(d, RL_ERROR, "invalid rate limit policy");
		return RL_ERROR;
	}
	if (now_ns < 0 || now_ns > RL_NOW_MAX) {
		decision_error(d, RL_ERROR, "time outside the supported range");
		return RL_ERROR;
	}
	memset(d, 0, sizeof *d);
	d->outcome = RL_ALLOW;
	if (!policy_active(p, nrcpt))
		return RL_ALLOW;

	uint64_t h = rl_hash(rl, key, keylen);
	struct rl_shard *sh = shard_of(rl, h);
	pthread_mutex_lock(&sh->lock);

	size_t i = h & sh->mask;
	struct rl_entry *e;
	while ((e = sh->b[i].e) != NULL) {
		if (sh->b[i].hash == h && e->keylen == keylen && memcmp(entry_key(e), key, keylen) == 0)
			break;
		i = (i + 1) & sh->mask;
	}
	bool fresh = (e == NULL);
	if (e != NULL && (e->nmsgs != p->nmsgs || e->nrcpts != p->nrcpts)) {
		struct rl_entry *ne = entry_shape(e, key, keylen, p);
		xfree(e);
		sh->b[i].e = e = ne;
	}
	/* a fresh key is evaluated on a stack copy and stored only if allowed */
	struct {
		struct rl_entry hdr;
		struct rl_slot slot[2 * RL_MAX_WINDOWS];
	} tmp;
	if (fresh) {
		memset(&tmp, 0, sizeof tmp);
		tmp.hdr.nmsgs = (uint8_t)p->nmsgs;
		tmp.hdr.nrcpts = (uint8_t)p->nrcpts;
		e = &tmp.hdr;
	}

	int64_t nt[2 * RL_MAX_WINDOWS];
	uint32_t nf[2 * RL_MAX_WINDOWS];
	bool charged[2 * RL_MAX_WINDOWS] = { false };
	bool denied = false;
	int64_t worst = -1;
	for (int dim = 0; dim < 2; dim++) {
		const struct rl_limit *lim = dim ? p->rcpts : p->msgs;
		size_t n = dim ? p->nrcpts : p->nmsgs;
		uint32_t cost = dim ? nrcpt : 1;
		for (size_t w = 0; w < n; w++) {
			size_t si = dim ? p->nmsgs + w : w;
			struct rl_slot *s = &e->slot[si];
			slot_adopt(s, &lim[w], now_ns);
			if (lim[w].count == 0 || cost == 0)
				continue;
			struct rl_eval ev = slot_eval(s, cost, now_ns, &nt[si], &nf[si]);
			charged[si] = true;
			if (ev.deny && ev.retry_ns > worst) {
				denied = true;
				worst = ev.retry_ns;
				d->outcome = RL_DENY;
				d->rcpts = dim != 0;
				d->window = (int)w;
				d->count = lim[w].count;
				d->period_s = lim[w].period_s;
				d->cost = cost;
				d->retry_after_ms = ev.never ? -1 : (ev.retry_ns + NS_PER_MS - 1) / NS_PER_MS;
			}
		}
	}
	if (denied) {
		/* nothing is charged; a stored entry keeps any reshaping or
		 * adoption above, which may move its drain time */
		if (!fresh)
			entry_settle(sh, e, NULL, NULL, NULL);
		pthread_mutex_unlock(&sh->lock);
		return RL_DENY;
	}

	if (fresh) {
		if (sh->used >= sh->cap)
			shard_sweep(sh, now_ns);
		if (sh->used >= sh->cap) {
			pthread_mutex_unlock(&sh->lock);
			decision_error(d, RL_FULL, "rate limit table full");
			return RL_FULL;
		}
		if (sh->used + 1 > (sh->mask + 1) / 4 * 3 && sh->mask + 1 < sh->max_buckets)
			shard_rebuild(sh, (sh->mask + 1) * 2, false, now_ns);
		struct rl_entry *ne = entry_shape(NULL, key, keylen, p);
		memcpy(ne->slot, tmp.slot, (p->nmsgs + p->nrcpts) * sizeof(struct rl_slot));
		bucket_put(sh->b, sh->mask, h, ne);
		sh->used++;
		e = ne;
	}
	entry_settle(sh, e, charged, nt, nf);
	pthread_mutex_unlock(&sh->lock);
	return RL_ALLOW;
}

/* ---------- keys and reply text ---------- */

size_t rl_key_build(char *out, size_t outlen, enum rl_key_kind kind, const char *account,
		    const char *ip)
{
	const char *a = NULL, *b = NULL;
	switch (kind) {
	case RL_KEY_ACCOUNT:
		a = account;
		if (a == NULL)
			return 0;
		break;
	case RL_KEY_IP:
		a = ip;
		if (a == NULL)
			return 0;
		break;
	case RL_KEY_ACCOUNT_IP:
		a = account;
		b = ip;
		if (a == NULL || b == NULL)
			return 0;
		break;
	default:
		return 0;
	}
	size_t la = strlen(a), lb = b ? strlen(b) : 0;
	size_t need = 2 + la + (b ? 1 + lb : 0);
	if (need > outlen || need > RL_KEY_MAX)
		return 0;
	out[0] = (char)kind;
	out[1] = ':';
	memcpy(out + 2, a, la);
	if (b != NULL) {
		out[2 + la] = '\0';
		memcpy(out + 3 + la, b, lb);
	}
	return need;
}

/* "1 h", "15 min", "90 s", "2 d" */
static void period_text(uint32_t s, char *out, size_t outlen)
{
	if (s % 86400 == 0)
		snprintf(out, outlen, "%u d", s / 86400);
	else if (s % 3600 == 0)
		snprintf(out, outlen, "%u h", s / 3600);
	else if (s % 60 == 0)
		snprintf(out, outlen, "%u min", s / 60);
	else
		snprintf(out, outlen, "%u s", s);
}

static void wait_text(int64_t ms, char *out, size_t outlen)
{
	int64_t s = (ms + 999) / 1000;
	if (s < 120)
		snprintf(out, outlen, "%lld s", (long long)s);
	else if (s < 2 * 3600)
		snprintf(out, outlen, "%lld min", (long long)((s + 59) / 60));
	else
		snprintf(out, outlen, "%lld h", (long long)((s + 3599) / 3600));
}

void rl_decision_text(const struct rl_decision *d, int smtp_code, const char *key_label,
		      char *out, size_t outlen)
{
	if (outlen == 0)
		return;
	const char *xcode = (smtp_code >= 500 && smtp_code < 600) ? "5.7.1" : "4.7.1";
	char label[RL_LABEL_MAX + 4];
	size_t n = 0;
	for (const char *c = key_label ? key_label : "?"; *c != '\0'; c++) {
		if (n == RL_LABEL_MAX) {
			memcpy(label + n, "...", 3);
			n += 3;
			break;
		}
		label[n++] = (*c >= 0x21 && *c <= 0x7e) ? *c : '?';
	}
	label[n] = '\0';

	switch (d->outcome) {
	case RL_ALLOW:
		snprintf(out, outlen, "2.0.0 within rate limits for %s", label);
		return;
	case RL_FULL:
	case RL_ERROR:
	case RL_UNAVAILABLE:
		snprintf(out, outlen, "%s rate limit unavailable for %s: %s", xcode, label,
			 d->reason ? d->reason : "internal error");
		return;
	case RL_DENY:
		break;
	}
	const char *what = d->rcpts ? (d->count == 1 ? "recipient" : "recipients")
				    : (d->count == 1 ? "message" : "messages");
	char per[32], wait[32];
	period_text(d->period_s, per, sizeof per);
	if (d->retry_after_ms < 0) {
		snprintf(out, outlen, "%s rate limit exceeded: %u %s in one message, over the limit "
			 "of %u %s per %s for %s", xcode, d->cost, d->rcpts ? "recipients" : "messages",
			 d->count, what, per, label);
		return;
	}
	wait_text(d->retry_after_ms, wait, sizeof wait);
	snprintf(out, outlen, "%s rate limit exceeded: %u %s per %s for %s; retry in %s", xcode,
		 d->count, what, per, label, wait);
}
