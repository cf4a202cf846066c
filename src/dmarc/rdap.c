/* rdap: RDAP look-up of a network's abuse contact (see rdap.h) */
#include "dmarc/rdap.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"

#define BOOTSTRAP_CACHE_SECONDS 86400 /* IANA updates the files rarely */

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const char *rdap_status_name(enum rdap_status st)
{
	switch (st) {
	case RDAP_FOUND: return "found";
	case RDAP_NOTFOUND: return "not found";
	case RDAP_TEMPFAIL: return "temporary failure";
	case RDAP_ERROR: return "error";
	}
	return "?";
}

/* copies s into out, controls become spaces, cut on a UTF-8 boundary
   (jansson has already checked the UTF-8) */
static void clean_copy(char *out, size_t outlen, const char *s)
{
	size_t n = 0;
	if (outlen == 0)
		return;
	for (; s != NULL && *s != '\0' && n + 1 < outlen; s++) {
		unsigned char ch = (unsigned char)*s;
		out[n++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
	}
	/* do not leave half a multi-byte sequence at the end */
	if (s != NULL && *s != '\0') {
		size_t k = n;
		while (k > 0 && ((unsigned char)out[k - 1] & 0xc0) == 0x80)
			k--;
		if (k > 0 && ((unsigned char)out[k - 1] & 0xc0) == 0xc0)
			n = k - 1;
	}
	out[n] = '\0';
}

static const char *jstr(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- addresses ---- */

static bool atext(unsigned char c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

bool rdap_email_valid(const char *s)
{
	const char *at = strrchr(s, '@');
	size_t len = strlen(s);
	if (at == NULL || len > 254 || at == s || at - s > 64)
		return false;
	for (const char *p = s; p < at; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '.') {
			if (p == s || p + 1 == at || p[1] == '.')
				return false;
		} else if (!atext(c)) {
			return false;
		}
	}
	const char *d = at + 1;
	size_t labels = 0, lablen = 0;
	bool alldigit = true;
	if (*d == '\0')
		return false;
	for (const char *p = d;; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '.' || c == '\0') {
			if (lablen == 0 || lablen > 63 || p[-1] == '-')
				return false;
			labels++;
			if (c == '\0')
				break;
			lablen = 0;
			alldigit = true;
			continue;
		}
		if (!isalnum(c) && c != '-')
			return false;
		if (c == '-' && lablen == 0)
			return false;
		if (!isdigit(c))
			alldigit = false;
		lablen++;
	}
	return labels >= 2 && !alldigit;
}

/* takes a candidate ("mailto:" stripped, domain lower-cased) if valid */
static bool take_email(const char *cand, size_t n, char *out, size_t outlen)
{
	char tmp[256];
	if (n >= 7 && strncasecmp(cand, "mailto:", 7) == 0) {
		cand += 7;
		n -= 7;
	}
	if (n == 0 || n >= sizeof tmp || n >= outlen)
		return false;
	memcpy(tmp, cand, n);
	tmp[n] = '\0';
	if (!rdap_email_valid(tmp))
		return false;
	for (char *p = strrchr(tmp, '@'); *p; p++)
		*p = (char)tolower((unsigned char)*p);
	memcpy(out, tmp, n + 1);
	return true;
}

/* ---- ranges ---- */

static size_t ip_len(const struct ipaddr *ip)
{
	return ip->family == AF_INET ? 4 : 16;
}

static int ip_cmp(const struct ipaddr *a, const struct ipaddr *b)
{
	return memcmp(a->a, b->a, ip_len(a));
}

bool rdap_network_contains(const struct rdap_network *net, const struct ipaddr *ip)
{
	struct ipaddr x = *ip;
	ip_unmap(&x);
	if (!net->have_range || net->start.family != x.family)
		return false;
	return ip_cmp(&net->start, &x) <= 0 && ip_cmp(&x, &net->end) <= 0;
}

/* first and last address of net/prefix */
static void cidr_bounds(const struct ipaddr *net, unsigned prefix, struct ipaddr *lo, struct ipaddr *hi)
{
	size_t n = ip_len(net);
	*lo = *net;
	*hi = *net;
	for (size_t i = 0; i < n; i++) {
		unsigned bit0 = (unsigned)i * 8;
		uint8_t mask;
		if (prefix >= bit0 + 8)
			mask = 0xff;
		else if (prefix <= bit0)
			mask = 0;
		else
			mask = (uint8_t)(0xff << (8 - (prefix - bit0)));
		lo->a[i] = net->a[i] & mask;
		hi->a[i] = (uint8_t)(net->a[i] | (uint8_t)~mask);
	}
}

/* the prefix length when [lo, hi] is exactly one CIDR block, else -1 */
static int range_prefix(const struct ipaddr *lo, const struct ipaddr *hi)
{
	unsigned bits = (unsigned)ip_len(lo) * 8;
	for (unsigned p = 0; p <= bits; p++) {
		struct ipaddr a, b;
		cidr_bounds(lo, p, &a, &b);
		if (ip_cmp(&a, lo) == 0 && ip_cmp(&b, hi) == 0)
			return (int)p;
	}
	return -1;
}

static void describe_range(struct rdap_network *n)
{
	char a[IP_STRLEN], b[IP_STRLEN];
	int p = range_prefix(&n->start, &n->end);
	if (p >= 0)
		snprintf(n->cidr, sizeof n->cidr, "%s/%d", ip_format(&n->start, a), p);
	else
		snprintf(n->cidr, sizeof n->cidr, "%s - %s", ip_format(&n->start, a), ip_format(&n->end, b));
}

/* an address, tolerating the "/len" some servers (RIPE, for IPv6) append
   to startAddress and endAddress */
static int parse_addr(const char *s, struct ipaddr *ip_r)
{
	return ip_parse_n(s, strcspn(s, "/"), ip_r);
}

/* cidr0_cidrs (RFC 9083 extension "cidr0"): [{"v4prefix": "...", "length": n}] */
static bool parse_cidr0(const json_t *root, struct rdap_network *n)
{
	const json_t *arr = json_object_get(root, "cidr0_cidrs");
	size_t i;
	const json_t *e;
	if (!json_is_array(arr))
		return false;
	json_array_foreach (arr, i, e) {
		const char *pfx = jstr(e, "v4prefix");
		unsigned maxlen = 32;
		if (pfx == NULL) {
			pfx = jstr(e, "v6prefix");
			maxlen = 128;
		}
		const json_t *l = json_object_get(e, "length");
		struct ipaddr ip;
		if (pfx == NULL || !json_is_integer(l) || ip_parse(pfx, &ip) < 0)
			continue;
		json_int_t len = json_integer_value(l);
		if (len < 0 || len > (json_int_t)maxlen || (maxlen == 32) != (ip.family == AF_INET))
			continue;
		cidr_bounds(&ip, (unsigned)len, &n->start, &n->end);
		n->have_range = true;
		return true;
	}
	return false;
}

/* ---- jCard (RFC 7095) ---- */

/* the first valid "email" of a vcardArray: ["vcard", [[name, {params}, type, value], ...]] */
static bool vcard_email(const json_t *ent, char *out, size_t outlen)
{
	const json_t *va = json_object_get(ent, "vcardArray");
	if (!json_is_array(va) || json_array_size(va) < 2)
		return false;
	const char *tag = json_string_value(json_array_get(va, 0));
	const json_t *props = json_array_get(va, 1);
	if (tag == NULL || strcmp(tag, "vcard") != 0 || !json_is_array(props))
		return false;
	size_t i;
	const json_t *prop;
	json_array_foreach (props, i, prop) {
		const char *name = json_string_value(json_array_get(prop, 0));
		const json_t *val = json_array_get(prop, 3);
		if (name == NULL || strcasecmp(name, "email") != 0 || !json_is_string(val))
			continue;
		const char *v = json_string_value(val);
		if (take_email(v, strlen(v), out, outlen))
			return true;
	}
	return false;
}

static bool has_role(const json_t *ent, const char *role)
{
	const json_t *roles = json_object_get(ent, "roles");
	size_t i;
	const json_t *r;
	json_array_foreach (roles, i, r) {
		if (json_is_string(r) && strcasecmp(json_string_value(r), role) == 0)
			return true;
	}
	return false;
}

/* breadth-first over entities and their entities, so the abuse entity
   closest to the network wins; bounded in depth and in count */
static bool find_abuse_entity(const json_t *root, char *out, size_t outlen)
{
	const json_t *queue[RDAP_MAX_ENTITIES];
	unsigned depth[RDAP_MAX_ENTITIES];
	size_t head = 0, tail = 0;
	size_t i;
	const json_t *e;
	json_array_foreach (json_object_get(root, "entities"), i, e) {
		if (tail == RDAP_MAX_ENTITIES)
			break;
		if (json_is_object(e)) {
			depth[tail] = 1;
			queue[tail++] = e;
		}
	}
	while (head < tail) {
		const json_t *ent = queue[head];
		unsigned d = depth[head++];
		if (has_role(ent, "abuse") && vcard_email(ent, out, outlen))
			return true;
		if (d >= RDAP_MAX_ENTITY_DEPTH)
			continue;
		json_array_foreach (json_object_get(ent, "entities"), i, e) {
			if (tail == RDAP_MAX_ENTITIES)
				break;
			if (json_is_object(e)) {
				depth[tail] = d + 1;
				queue[tail++] = e;
			}
		}
	}
	return false;
}

static bool email_char(unsigned char c)
{
	return atext(c) || c == '.';
}

/* an address in line, taken only when the line (before the address) or
   the remark title says "abuse" */
static bool remark_line_email(const char *line, bool title_says_abuse, char *out, size_t outlen)
{
	for (const char *at = strchr(line, '@'); at != NULL; at = strchr(at + 1, '@')) {
		const char *b = at, *e = at + 1;
		while (b > line && email_char((unsigned char)b[-1]))
			b--;
		while (*e != '\0' && email_char((unsigned char)*e))
			e++;
		while (e > at + 1 && e[-1] == '.')
			e--;
		bool labelled = title_says_abuse;
		for (const char *p = line; !labelled && p + 5 <= b; p++)
			if (strncasecmp(p, "abuse", 5) == 0)
				labelled = true;
		if (labelled && take_email(b, (size_t)(e - b), out, outlen))
			return true;
	}
	return false;
}

static bool find_abuse_remark(const json_t *root, char *out, size_t outlen)
{
	size_t i, k;
	const json_t *rem, *line;
	json_array_foreach (json_object_get(root, "remarks"), i, rem) {
		const char *title = jstr(rem, "title");
		bool t = title != NULL && strcasestr(title, "abuse") != NULL;
		json_array_foreach (json_object_get(rem, "description"), k, line) {
			if (json_is_string(line) && remark_line_email(json_string_value(line), t, out, outlen))
				return true;
		}
	}
	return false;
}

/* ---- the ip network object ---- */

static int parse_ip_object(const json_t *root, struct rdap_network *n, char *err, size_t errlen)
{
	memset(n, 0, sizeof *n);
	if (!json_is_object(root)) {
		set_err(err, errlen, "RDAP answer is not a JSON object");
		return -1;
	}
	const json_t *code = json_object_get(root, "errorCode");
	if (code != NULL) {
		char title[128];
		clean_copy(title, sizeof title, jstr(root, "title"));
		set_err(err, errlen, "RDAP error object (errorCode %lld%s%s)",
			json_is_integer(code) ? (long long)json_integer_value(code) : -1LL, title[0] ? ": " : "", title);
		return -1;
	}
	const char *cls = jstr(root, "objectClassName");
	if (cls == NULL || strcmp(cls, "ip network") != 0) {
		char c[64];
		clean_copy(c, sizeof c, cls);
		set_err(err, errlen, "objectClassName is %s%s%s, not \"ip network\"", cls ? "\"" : "", cls ? c : "missing",
			cls ? "\"" : "");
		return -1;
	}
	clean_copy(n->handle, sizeof n->handle, jstr(root, "handle"));
	clean_copy(n->name, sizeof n->name, jstr(root, "name"));
	clean_copy(n->country, sizeof n->country, jstr(root, "country"));

	const char *sa = jstr(root, "startAddress"), *ea = jstr(root, "endAddress");
	struct ipaddr lo, hi;
	if (sa != NULL && ea != NULL && parse_addr(sa, &lo) == 0 && parse_addr(ea, &hi) == 0 &&
	    lo.family == hi.family && ip_cmp(&lo, &hi) <= 0) {
		n->start = lo;
		n->end = hi;
		n->have_range = true;
		describe_range(n);
	} else if (parse_cidr0(root, n)) {
		describe_range(n);
	}

	if (find_abuse_entity(root, n->abuse_email, sizeof n->abuse_email))
		snprintf(n->abuse_from, sizeof n->abuse_from, "entity");
	else if (find_abuse_remark(root, n->abuse_email, sizeof n->abuse_email))
		snprintf(n->abuse_from, sizeof n->abuse_from, "remarks");
	return 0;
}

int rdap_parse_ip(const char *json, size_t len, struct rdap_network *net_r, char *err, size_t errlen)
{
	json_error_t je;
	memset(net_r, 0, sizeof *net_r);
	if (len > RDAP_MAX_BODY) {
		set_err(err, errlen, "RDAP answer larger than %d bytes", RDAP_MAX_BODY);
		return -1;
	}
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		char t[128];
		clean_copy(t, sizeof t, je.text);
		set_err(err, errlen, "RDAP answer is not valid JSON (line %d: %s)", je.line, t);
		return -1;
	}
	int rc = parse_ip_object(root, net_r, err, errlen);
	json_decref(root);
	return rc;
}

/* ---- bootstrap ---- */

struct bs_entry {
	struct ipaddr net;
	unsigned prefix;
	char *url;
};

struct rdap_bootstrap {
	struct bs_entry *e;
	size_t n, cap;
};

/* https preferred; http only when allowed; "/" appended when missing */
static char *pick_url(const json_t *urls, bool allow_http)
{
	const char *best = NULL;
	size_t i;
	const json_t *u;
	json_array_foreach (urls, i, u) {
		const char *s = json_string_value(u);
		if (s == NULL || strlen(s) > 200)
			continue;
		for (const char *p = s; *p; p++)
			if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
				goto next;
		if (strncasecmp(s, "https://", 8) == 0) {
			best = s;
			break;
		}
		if (allow_http && best == NULL && strncasecmp(s, "http://", 7) == 0)
			best = s;
next:;
	}
	if (best == NULL)
		return NULL;
	size_t l = strlen(best);
	char *r = xmalloc(l + 2);
	memcpy(r, best, l + 1);
	if (l == 0 || best[l - 1] != '/') {
		r[l] = '/';
		r[l + 1] = '\0';
	}
	return r;
}

int rdap_bootstrap_add(struct rdap_bootstrap **bs_r, const char *json, size_t len, bool allow_http, char *err,
		       size_t errlen)
{
	json_error_t je;
	if (*bs_r == NULL)
		*bs_r = xcalloc(1, sizeof **bs_r);
	struct rdap_bootstrap *bs = *bs_r;
	json_t *root = json_loadb(json, len, 0, &je);
	if (root == NULL) {
		set_err(err, errlen, "bootstrap file is not valid JSON (line %d)", je.line);
		return -1;
	}
	const json_t *services = json_object_get(root, "services");
	if (!json_is_array(services)) {
		set_err(err, errlen, "bootstrap file has no \"services\" array");
		json_decref(root);
		return -1;
	}
	size_t i, k, added = 0;
	const json_t *svc, *c;
	json_array_foreach (services, i, svc) {
		const json_t *cidrs = json_array_get(svc, 0), *urls = json_array_get(svc, 1);
		if (!json_is_array(cidrs) || !json_is_array(urls))
			continue;
		char *url = pick_url(urls, allow_http);
		if (url == NULL)
			continue;
		bool used = false;
		json_array_foreach (cidrs, k, c) {
			struct ipaddr net;
			unsigned prefix;
			const char *s = json_string_value(c);
			if (s == NULL || strchr(s, '/') == NULL || ip_parse_cidr(s, &net, &prefix) < 0)
				continue;
			if (bs->n == RDAP_MAX_SERVICES)
				break;
			if (bs->n == bs->cap) {
				bs->cap = bs->cap ? bs->cap * 2 : 64;
				bs->e = xreallocarray(bs->e, bs->cap, sizeof *bs->e);
			}
			bs->e[bs->n].net = net;
			bs->e[bs->n].prefix = prefix;
			bs->e[bs->n].url = used ? xstrdup(url) : url;
			used = true;
			bs->n++;
			added++;
		}
		if (!used)
			free(url);
	}
	json_decref(root);
	if (added == 0) {
		set_err(err, errlen, "bootstrap file lists no usable service");
		return -1;
	}
	return 0;
}

int rdap_bootstrap_lookup(const struct rdap_bootstrap *bs, const struct ipaddr *ip, char *url_r, size_t urllen)
{
	struct ipaddr x = *ip;
	ip_unmap(&x);
	const struct bs_entry *best = NULL;
	for (size_t i = 0; bs != NULL && i < bs->n; i++) {
		const struct bs_entry *e = &bs->e[i];
		if (ip_match(&x, &e->net, e->prefix) && (best == NULL || e->prefix > best->prefix))
			best = e;
	}
	if (best == NULL || strlen(best->url) >= urllen)
		return -1;
	memcpy(url_r, best->url, strlen(best->url) + 1);
	return 0;
}

void rdap_bootstrap_free(struct rdap_bootstrap **bs)
{
	if (*bs == NULL)
		return;
	for (size_t i = 0; i < (*bs)->n; i++)
		free((*bs)->e[i].url);
	free((*bs)->e);
	*bs = xfree(*bs);
}

/* ---- HTTP ---- */

struct rdap_client {
	char *bootstrap;
	char *cainfo;
	char *user_agent;
	int cache_days;
	struct rdap_cache_ops cache;
	bool have_cache;
	bool allow_http;
	struct rdap_bootstrap *bs;
	bool bs_loaded[2]; /* [0] ipv4.json, [1] ipv6.json */
	CURL *curl;
};

static size_t body_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct buf *b = ud;
	size_t n = size * nmemb;
	if (buf_append(b, p, n) < 0)
		return 0; /* over RDAP_MAX_BODY: curl aborts with CURLE_WRITE_ERROR */
	return n;
}

static enum rdap_status http_get(struct rdap_client *c, const char *url, struct buf *body, char *err, size_t errlen)
{
	char cerr[CURL_ERROR_SIZE] = "";
	const char *protos = c->allow_http ? "http,https" : "https";
	CURL *h = c->curl;
	struct curl_slist *hdr = curl_slist_append(NULL, "Accept: application/rdap+json, application/json");
	curl_easy_reset(h);
	buf_reset(body);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protos);
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, protos);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)RDAP_MAX_REDIRECTS);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)RDAP_CONNECT_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)RDAP_TOTAL_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)RDAP_MAX_BODY);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* bounded by the write callback after decoding */
	if (c->cainfo != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cainfo);
	CURLcode rc = curl_easy_perform(h);
	curl_slist_free_all(hdr);
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	switch (rc) {
	case CURLE_OK:
		break;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		set_err(err, errlen, "%s: answer larger than %d bytes", url, RDAP_MAX_BODY);
		return RDAP_ERROR;
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
		set_err(err, errlen, "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
		return RDAP_TEMPFAIL;
	default:
		set_err(err, errlen, "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
		return RDAP_ERROR;
	}
	if (code == 200)
		return RDAP_FOUND;
	set_err(err, errlen, "%s: HTTP status %ld", url, code);
	if (code == 404)
		return RDAP_NOTFOUND;
	if (code == 429 || code >= 500)
		return RDAP_TEMPFAIL;
	return RDAP_ERROR;
}

struct rdap_client *rdap_client_new(const struct rdap_client_opts *o, char *err, size_t errlen)
{
	bool http = o->bootstrap != NULL && strncasecmp(o->bootstrap, "http://", 7) == 0;
	if (o->bootstrap == NULL || (!http && strncasecmp(o->bootstrap, "https://", 8) != 0)) {
		set_err(err, errlen, "abuse.rdap_bootstrap must be an https:// URL");
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		set_err(err, errlen, "libcurl initialisation failed");
		return NULL;
	}
	struct rdap_client *c = xcalloc(1, sizeof *c);
	c->curl = curl_easy_init();
	if (c->curl == NULL) {
		free(c);
		set_err(err, errlen, "libcurl initialisation failed");
		return NULL;
	}
	size_t bl = strlen(o->bootstrap);
	c->bootstrap = xmalloc(bl + 2);
	memcpy(c->bootstrap, o->bootstrap, bl + 1);
	if (bl == 0 || o->bootstrap[bl - 1] != '/') {
		c->bootstrap[bl] = '/';
		c->bootstrap[bl + 1] = '\0';
	}
	c->cainfo = o->cainfo != NULL && o->cainfo[0] ? xstrdup(o->cainfo) : NULL;
	c->user_agent = xstrdup(o->user_agent ? o->user_agent : "mamori");
	c->cache_days = o->cache_days;
	if (o->cache != NULL) {
		c->cache = *o->cache;
		c->have_cache = true;
	}
	c->allow_http = http;
	return c;
}

void rdap_client_free(struct rdap_client **c)
{
	if (*c == NULL)
		return;
	curl_easy_cleanup((*c)->curl);
	rdap_bootstrap_free(&(*c)->bs);
	free((*c)->bootstrap);
	free((*c)->cainfo);
	free((*c)->user_agent);
	*c = xfree(*c);
}

static enum rdap_status load_bootstrap(struct rdap_client *c, int v6, int64_t now, char *err, size_t errlen)
{
	if (c->bs_loaded[v6])
		return RDAP_FOUND;
	const char *file = v6 ? "ipv6.json" : "ipv4.json";
	char url[512], key[600];
	snprintf(url, sizeof url, "%s%s", c->bootstrap, file);
	snprintf(key, sizeof key, "rdap:bootstrap:%s", url);
	char *cached = NULL;
	if (c->have_cache && c->cache.get(c->cache.ctx, key, now, &cached) == 0) {
		int rc = rdap_bootstrap_add(&c->bs, cached, strlen(cached), c->allow_http, err, errlen);
		free(cached);
		if (rc == 0) {
			c->bs_loaded[v6] = true;
			return RDAP_FOUND;
		}
	}
	struct buf body = BUF_INIT(RDAP_MAX_BODY);
	enum rdap_status st = http_get(c, url, &body, err, errlen);
	if (st == RDAP_NOTFOUND)
		st = RDAP_ERROR; /* a missing bootstrap file is a configuration problem */
	if (st == RDAP_FOUND) {
		if (rdap_bootstrap_add(&c->bs, buf_cstr(&body), body.len, c->allow_http, err, errlen) < 0) {
			st = RDAP_ERROR;
		} else {
			c->bs_loaded[v6] = true;
			if (c->have_cache && c->cache.put(c->cache.ctx, key, buf_cstr(&body), now + BOOTSTRAP_CACHE_SECONDS) < 0)
				log_warning("rdap: could not cache %s", url);
		}
	}
	buf_free(&body);
	return st;
}

/* ---- the network cache ---- */

static char *net_to_json(const struct rdap_network *n)
{
	char a[IP_STRLEN] = "", b[IP_STRLEN] = "";
	if (n->have_range) {
		ip_format(&n->start, a);
		ip_format(&n->end, b);
	}
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "handle", n->handle, "name", n->name,
			      "country", n->country, "cidr", n->cidr, "start", a, "end", b, "email", n->abuse_email,
			      "from", n->abuse_from, "server", n->server);
	if (o == NULL)
		return NULL;
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static int net_from_json(const char *s, struct rdap_network *n)
{
	json_t *o = json_loads(s, 0, NULL);
	memset(n, 0, sizeof *n);
	if (!json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	clean_copy(n->handle, sizeof n->handle, jstr(o, "handle"));
	clean_copy(n->name, sizeof n->name, jstr(o, "name"));
	clean_copy(n->country, sizeof n->country, jstr(o, "country"));
	clean_copy(n->cidr, sizeof n->cidr, jstr(o, "cidr"));
	clean_copy(n->abuse_from, sizeof n->abuse_from, jstr(o, "from"));
	clean_copy(n->server, sizeof n->server, jstr(o, "server"));
	const char *e = jstr(o, "email");
	if (e != NULL && e[0] != '\0' && !take_email(e, strlen(e), n->abuse_email, sizeof n->abuse_email)) {
		json_decref(o);
		return -1;
	}
	const char *a = jstr(o, "start"), *b = jstr(o, "end");
	if (a != NULL && b != NULL && a[0] && ip_parse(a, &n->start) == 0 && ip_parse(b, &n->end) == 0)
		n->have_range = n->start.family == n->end.family;
	json_decref(o);
	return 0;
}

/*
 * Answers are cached per address ("rdap:ip:192.0.2.7"), not per covering
 * network: an answer for 192.0.2.0/24 does not prove that 192.0.2.150 is not
 * in a more specific reassignment (a /26 with its own abuse desk), and RDAP
 * only ever returns the most specific network of the address asked about.
 */
static bool cache_lookup(struct rdap_client *c, const struct ipaddr *ip, int64_t now, struct rdap_network *n)
{
	char key[80], t[IP_STRLEN];
	char *v = NULL;
	if (!c->have_cache)
		return false;
	snprintf(key, sizeof key, "rdap:ip:%s", ip_format(ip, t));
	if (c->cache.get(c->cache.ctx, key, now, &v) != 0)
		return false;
	int rc = net_from_json(v, n);
	free(v);
	return rc == 0;
}

static void cache_store(struct rdap_client *c, const struct ipaddr *ip, int64_t now, const struct rdap_network *n)
{
	char key[80], t[IP_STRLEN];
	if (!c->have_cache || c->cache_days <= 0)
		return;
	snprintf(key, sizeof key, "rdap:ip:%s", ip_format(ip, t));
	char *v = net_to_json(n);
	if (v == NULL || c->cache.put(c->cache.ctx, key, v, now + (int64_t)c->cache_days * 86400) < 0)
		log_warning("rdap: could not cache %s", key);
	free(v);
}

enum rdap_status rdap_lookup(struct rdap_client *c, const struct ipaddr *ip0, int64_t now, struct rdap_network *net_r,
			     char *err, size_t errlen)
{
	struct ipaddr ip = *ip0;
	ip_unmap(&ip);
	memset(net_r, 0, sizeof *net_r);
	if (cache_lookup(c, &ip, now, net_r))
		return RDAP_FOUND;

	int v6 = ip.family == AF_INET6;
	enum rdap_status st = load_bootstrap(c, v6, now, err, errlen);
	if (st != RDAP_FOUND)
		return st;
	char base[256], addr[IP_STRLEN], url[512];
	if (rdap_bootstrap_lookup(c->bs, &ip, base, sizeof base) < 0) {
		set_err(err, errlen, "no RDAP service in the bootstrap covers %s", ip_format(&ip, addr));
		return RDAP_NOTFOUND;
	}
	snprintf(url, sizeof url, "%sip/%s", base, ip_format(&ip, addr));
	struct buf body = BUF_INIT(RDAP_MAX_BODY);
	st = http_get(c, url, &body, err, errlen);
	if (st == RDAP_FOUND) {
		char perr[256];
		if (rdap_parse_ip(buf_cstr(&body), body.len, net_r, perr, sizeof perr) < 0) {
			set_err(err, errlen, "%s: %s", url, perr);
			st = RDAP_ERROR;
		} else {
			clean_copy(net_r->server, sizeof net_r->server, base);
			cache_store(c, &ip, now, net_r);
		}
	}
	buf_free(&body);
	return st;
}
