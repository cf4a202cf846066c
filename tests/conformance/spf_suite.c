/*
 * spf_suite: runs the OpenSPF RFC 7208 test suite (pyspf's copy, 203 tests)
 * against spf_check() with a stub resolver built from each scenario's
 * zonedata. Prints every failure and "spf-suite: N passed, N failed";
 * exits non-zero on any failure that is not in the exception list below.
 *
 * Zone data follows the suite's driver conventions (pyspf testspf.py):
 *  - SPF-type records are served as TXT, unless the name has any TXT entry
 *    (even "TXT: NONE", which only means "no TXT records");
 *  - TIMEOUT times out every query type that has no records listed before
 *    it for that name (records after it, and the generated TXT, are not seen);
 *  - a TXT/SPF value given as a list is one multi-string record;
 *  - "\xNN" escapes in the YAML are bytes (code points < 256 map to bytes).
 *
 * Usage: spf_suite [--rfc4408] [file.yml] [-v]
 */
#include "auth/spf.h"
#include "core/mem.h"
#include "dns/dns_stub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#ifndef MAMORI_CORPUS
#define MAMORI_CORPUS "."
#endif

/*
 * Tests that cannot pass, each with its RFC reason. Kept empty on purpose;
 * an entry here is printed on every run.
 */
static const struct {
	const char *test;
	const char *why;
} exceptions[] = {
	{ NULL, NULL },
};

static bool is_exception(const char *name)
{
	for (size_t i = 0; exceptions[i].test; i++)
		if (strcmp(exceptions[i].test, name) == 0)
			return true;
	return false;
}

/* --- YAML helpers over libyaml's document API --- */

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		const char *k = scalar(yaml_document_get_node(doc, p->key));
		if (k && strcmp(k, key) == 0)
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

/*
 * The suite's "\xEF" escapes were meant as bytes, but YAML reads them as
 * code points (U+00EF, UTF-8 encoded). Map the UTF-8 back to bytes when
 * every code point is below 256; otherwise keep the UTF-8 as it is.
 */
static size_t to_bytes(const unsigned char *s, size_t n, char *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x80) {
			out[k++] = (char)s[i];
		} else if ((s[i] == 0xc2 || s[i] == 0xc3) && i + 1 < n && (s[i + 1] & 0xc0) == 0x80) {
			out[k++] = (char)(((s[i] & 0x03) << 6) | (s[i + 1] & 0x3f));
			i++;
		} else {
			memcpy(out, s, n);
			return n;
		}
	}
	return k;
}

/* --- a resolver that adds per-type timeouts in front of the stub --- */

struct timeout_name {
	char *name;
	unsigned ok_types; /* bit per dns_type answered normally */
};

struct suite_dns {
	struct dns_resolver *stub;
	struct timeout_name *t;
	size_t n;
};

static bool name_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la && a[la - 1] == '.')
		la--;
	if (lb && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

static enum dns_status suite_query(void *state, const char *name, enum dns_type type, struct dns_answer *ans)
{
	struct suite_dns *s = state;
	for (size_t i = 0; i < s->n; i++)
		if (name_eq(s->t[i].name, name) && !(s->t[i].ok_types & (1u << type))) {
			ans->status = DNS_TEMPFAIL;
			ans->reason = "timeout";
			return ans->status;
		}
	return s->stub->ops->query(s->stub->state, name, type, ans);
}

static void suite_destroy(void *state)
{
	struct suite_dns *s = state;
	dns_resolver_free(&s->stub);
	for (size_t i = 0; i < s->n; i++)
		free(s->t[i].name);
	free(s->t);
	free(s);
}

static const struct dns_backend suite_backend = { "suite", suite_query, suite_destroy };

/* --- zone data --- */

static int add_txt(struct dns_stub *stub, const char *owner, yaml_document_t *doc, yaml_node_t *v)
{
	char buf[8192];
	size_t len = 0;
	unsigned nstrings = 0;
	if (v->type == YAML_SCALAR_NODE) {
		if (v->data.scalar.length >= sizeof buf)
			return -1;
		len = to_bytes(v->data.scalar.value, v->data.scalar.length, buf);
		nstrings = 1;
	} else if (v->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
			yaml_node_t *s = yaml_document_get_node(doc, *it);
			if (s->type != YAML_SCALAR_NODE || len + s->data.scalar.length >= sizeof buf)
				return -1;
			len += to_bytes(s->data.scalar.value, s->data.scalar.length, buf + len);
			nstrings++;
		}
	} else {
		return -1;
	}
	dns_stub_add_txt(stub, owner, buf, len, nstrings);
	return 0;
}

static int type_bit(const char *t)
{
	enum dns_type dt;
	if (strcmp(t, "SPF") == 0)
		return -1;
	if (dns_type_parse(t, &dt) < 0)
		return -1;
	return (int)dt;
}

static struct dns_resolver *build_zone(yaml_document_t *doc, yaml_node_t *zone)
{
	struct dns_stub *stub = dns_stub_new();
	struct suite_dns *s = xcalloc(1, sizeof *s);
	if (zone == NULL || zone->type != YAML_MAPPING_NODE)
		goto done;
	for (yaml_node_pair_t *p = zone->data.mapping.pairs.start; p < zone->data.mapping.pairs.top; p++) {
		const char *owner = scalar(yaml_document_get_node(doc, p->key));
		yaml_node_t *list = yaml_document_get_node(doc, p->value);
		if (owner == NULL || list->type != YAML_SEQUENCE_NODE) {
			fprintf(stderr, "zonedata: bad entry\n");
			continue;
		}
		bool has_txt = false, timeout = false;
		unsigned ok_types = 0;
		for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
			yaml_node_t *e = yaml_document_get_node(doc, *it);
			yaml_node_t *k = e->type == YAML_MAPPING_NODE ? yaml_document_get_node(doc, e->data.mapping.pairs.start->key) : NULL;
			if (k && strcmp(scalar(k), "TXT") == 0)
				has_txt = true;
		}
		for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
			yaml_node_t *e = yaml_document_get_node(doc, *it);
			if (e->type == YAML_SCALAR_NODE) {
				if (strcmp(scalar(e), "TIMEOUT") == 0)
					timeout = true;
				else
					fprintf(stderr, "zonedata %s: unknown item %s\n", owner, scalar(e));
				continue;
			}
			if (e->type != YAML_MAPPING_NODE)
				continue;
			const char *type = scalar(yaml_document_get_node(doc, e->data.mapping.pairs.start->key));
			yaml_node_t *v = yaml_document_get_node(doc, e->data.mapping.pairs.start->value);
			const char *sv = scalar(v);
			if (timeout)
				continue; /* never seen by the suite's resolver */
			if (strcmp(type, "SPF") == 0) {
				if (!has_txt && add_txt(stub, owner, doc, v) < 0)
					fprintf(stderr, "zonedata %s: bad SPF value\n", owner);
				continue;
			}
			if (strcmp(type, "TXT") == 0) {
				if (sv && strcmp(sv, "NONE") == 0)
					continue;
				if (add_txt(stub, owner, doc, v) < 0)
					fprintf(stderr, "zonedata %s: bad TXT value\n", owner);
			} else if (strcmp(type, "A") == 0 || strcmp(type, "AAAA") == 0) {
				struct ipaddr ip;
				if (sv == NULL || ip_parse(sv, &ip) < 0) {
					fprintf(stderr, "zonedata %s: bad address\n", owner);
					continue;
				}
				dns_stub_add_a(stub, owner, &ip);
			} else if (strcmp(type, "MX") == 0) {
				if (v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.top - v->data.sequence.items.start != 2) {
					fprintf(stderr, "zonedata %s: bad MX\n", owner);
					continue;
				}
				const char *pref = scalar(yaml_document_get_node(doc, v->data.sequence.items.start[0]));
				const char *ex = scalar(yaml_document_get_node(doc, v->data.sequence.items.start[1]));
				dns_stub_add_mx(stub, owner, (unsigned)atoi(pref ? pref : "0"), ex ? ex : "");
			} else if (strcmp(type, "PTR") == 0 || strcmp(type, "CNAME") == 0) {
				dns_stub_add_name(stub, owner, type[0] == 'P' ? DNS_T_PTR : DNS_T_CNAME, sv ? sv : "");
			} else {
				fprintf(stderr, "zonedata %s: unsupported type %s\n", owner, type);
				continue;
			}
			int bit = type_bit(type);
			if (bit >= 0)
				ok_types |= 1u << bit;
		}
		if (timeout) {
			if (ok_types == 0)
				dns_stub_add_fail(stub, owner, DNS_STUB_TIMEOUT);
			s->t = xreallocarray(s->t, s->n + 1, sizeof *s->t);
			s->t[s->n].name = xstrdup(owner);
			s->t[s->n].ok_types = ok_types;
			s->n++;
		}
	}
done:
	s->stub = dns_stub_resolver(stub);
	struct dns_resolver *r = xcalloc(1, sizeof *r);
	r->ops = &suite_backend;
	r->state = s;
	return r;
}

/* --- running the tests --- */

static bool result_ok(yaml_document_t *doc, yaml_node_t *want, enum spf_result got)
{
	const char *name = spf_result_name(got);
	if (want == NULL)
		return false;
	if (want->type == YAML_SCALAR_NODE)
		return strcmp(scalar(want), name) == 0;
	if (want->type == YAML_SEQUENCE_NODE)
		for (yaml_node_item_t *it = want->data.sequence.items.start; it < want->data.sequence.items.top; it++)
			if (strcmp(scalar(yaml_document_get_node(doc, *it)) ?: "", name) == 0)
				return true;
	return false;
}

static void want_text(yaml_document_t *doc, yaml_node_t *want, char *out, size_t outlen)
{
	size_t k = 0;
	out[0] = '\0';
	if (want && want->type == YAML_SCALAR_NODE) {
		snprintf(out, outlen, "%s", scalar(want));
		return;
	}
	if (want && want->type == YAML_SEQUENCE_NODE)
		for (yaml_node_item_t *it = want->data.sequence.items.start; it < want->data.sequence.items.top; it++)
			k += (size_t)snprintf(out + k, k < outlen ? outlen - k : 0, "%s%s", k ? "|" : "",
					      scalar(yaml_document_get_node(doc, *it)) ?: "?");
}

int main(int argc, char **argv)
{
	const char *path = MAMORI_CORPUS "/spf-suite/rfc7208-tests.yml";
	bool verbose = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rfc4408") == 0)
			path = MAMORI_CORPUS "/spf-suite/rfc4408-tests.yml";
		else if (strcmp(argv[i], "-v") == 0)
			verbose = true;
		else
			path = argv[i];
	}
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		return 2;
	}
	for (size_t i = 0; exceptions[i].test; i++)
		printf("exception: %s: %s\n", exceptions[i].test, exceptions[i].why);

	yaml_parser_t parser;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	unsigned passed = 0, failed = 0, excepted = 0, scenarios = 0;
	for (;;) {
		yaml_document_t doc;
		if (!yaml_parser_load(&parser, &doc)) {
			fprintf(stderr, "%s: YAML error: %s (line %zu)\n", path, parser.problem ? parser.problem : "?",
				parser.problem_mark.line + 1);
			failed++;
			break;
		}
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		if (root == NULL) {
			yaml_document_delete(&doc);
			break;
		}
		scenarios++;
		const char *desc = scalar(map_get(&doc, root, "description")) ?: "?";
		struct dns_resolver *r = build_zone(&doc, map_get(&doc, root, "zonedata"));
		yaml_node_t *tests = map_get(&doc, root, "tests");
		for (yaml_node_pair_t *p = tests ? tests->data.mapping.pairs.start : NULL;
		     tests && p < tests->data.mapping.pairs.top; p++) {
			const char *name = scalar(yaml_document_get_node(&doc, p->key));
			yaml_node_t *t = yaml_document_get_node(&doc, p->value);
			const char *host = scalar(map_get(&doc, t, "host"));
			struct spf_request req = {
				.helo = scalar(map_get(&doc, t, "helo")),
				.mail_from = scalar(map_get(&doc, t, "mailfrom")),
				.receiver = NULL,
				.now = 1700000000,
			};
			if (host == NULL || ip_parse(host, &req.ip) < 0) {
				printf("FAIL %s: bad host in test\n", name);
				failed++;
				continue;
			}
			struct spf_response resp;
			enum spf_result res = spf_check(r, &req, &resp);
			yaml_node_t *want = map_get(&doc, t, "result");
			const char *want_exp = scalar(map_get(&doc, t, "explanation"));
			bool ok = result_ok(&doc, want, res);
			bool exp_ok = true;
			if (want_exp) {
				if (strcmp(want_exp, "DEFAULT") == 0)
					exp_ok = resp.explanation == NULL;
				else
					exp_ok = resp.explanation && strcmp(resp.explanation, want_exp) == 0;
			}
			char wt[128];
			want_text(&doc, want, wt, sizeof wt);
			if (ok && exp_ok) {
				passed++;
				if (verbose)
					printf("ok   %s: %s (%s)\n", name, spf_result_name(res), resp.reason);
			} else {
				bool ex = is_exception(name);
				printf("%s %s [%s]: got %s, want %s; reason: %s", ex ? "EXCEPTION" : "FAIL", name, desc,
				       spf_result_name(res), wt, resp.reason);
				if (!exp_ok)
					printf("; explanation got \"%s\", want \"%s\"",
					       resp.explanation ? resp.explanation : "(none)", want_exp);
				printf("\n");
				if (ex)
					excepted++;
				else
					failed++;
			}
			spf_response_free(&resp);
		}
		dns_resolver_free(&r);
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	fclose(f);
	printf("spf-suite: %u passed, %u failed", passed, failed);
	if (excepted)
		printf(", %u known exceptions", excepted);
	printf(" (%u scenarios, %s)\n", scenarios, path);
	return failed ? 1 : 0;
}
