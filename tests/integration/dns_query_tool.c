/*
 * dns_query_tool: a tiny CLI over the resolver interface, used by
 * tests/integration/test_unbound.sh and handy for debugging.
 *
 *   dns_query_tool [--forwarder ADDR[@PORT]]... [--nodefault ZONE]...
 *                  [--timeout MS] [--resolv-conf PATH] [--trust-anchor FILE]
 *                  [--zone FILE] NAME TYPE
 *   dns_query_tool ... --stress THREADS COUNT
 *
 * Prints "STATUS[ reason]" (found, nodata, nxdomain, tempfail, error), then
 * one line per record: "TYPE TTL DATA". --zone answers from a zone file
 * (stub backend) instead of libunbound.
 *
 * --stress: THREADS threads each ask COUNT times for tI.example.test A and
 * expect 192.0.2.(100+I); one more thread asks twice for x.slow.test A and
 * expects a TEMPFAIL (the server drops those queries). Checks that concurrent queries on one shared
 * context each get their own answer. Prints "stress ok" or the failures.
 * Exit: 0 when the query ran (whatever its status) / stress passed,
 * 1 stress failure, 2 usage or configuration error.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "dns/dns.h"
#include "dns/dns_stub.h"

#define MAX_LIST 16
#define MAX_THREADS 64

static void print_answer(const struct dns_answer *ans)
{
	printf("%s", dns_status_name(ans->status));
	if (ans->reason)
		printf(" %s", ans->reason);
	printf("\n");
	for (size_t i = 0; i < ans->n; i++) {
		const struct dns_rr *rr = &ans->rr[i];
		char ip[IP_STRLEN];
		printf("%s %u ", dns_type_name(rr->type), rr->ttl);
		switch (rr->type) {
		case DNS_T_A:
		case DNS_T_AAAA:
			printf("%s\n", ip_format(&rr->ip, ip));
			break;
		case DNS_T_MX:
			printf("%u %s\n", rr->pref, rr->name);
			break;
		case DNS_T_TXT:
			putchar('"');
			for (size_t k = 0; k < rr->txt_len; k++) {
				unsigned char c = (unsigned char)rr->txt[k];
				if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
					printf("\\%03u", c);
				else
					putchar(c);
			}
			printf("\" %u\n", rr->nstrings);
			break;
		default:
			printf("%s\n", rr->name);
		}
	}
	if (ans->secure)
		printf("secure\n");
}

struct stress_arg {
	struct dns_resolver *r;
	int index; /* -1: the timeout thread */
	int count;
	int failures;
};

static void *stress_thread(void *p)
{
	struct stress_arg *a = p;
	char name[64], want[32], ip[IP_STRLEN];
	if (a->index < 0) {
		for (int i = 0; i < 2; i++) {
			struct dns_answer ans;
			dns_query(a->r, "x.slow.test", DNS_T_A, &ans);
			/* "timeout", or "SERVFAIL" once libunbound gives up on the
			   server within the deadline */
			if (ans.status != DNS_TEMPFAIL) {
				if (a->failures < 3)
					fprintf(stderr, "slow: got %s %s\n", dns_status_name(ans.status),
						ans.reason ? ans.reason : "");
				a->failures++;
			}
			dns_answer_free(&ans);
		}
		return NULL;
	}
	snprintf(name, sizeof name, "t%d.example.test", a->index);
	snprintf(want, sizeof want, "192.0.2.%d", 100 + a->index);
	for (int i = 0; i < a->count; i++) {
		struct dns_answer ans;
		dns_query(a->r, name, DNS_T_A, &ans);
		if (ans.status != DNS_FOUND || ans.n != 1 || strcmp(ip_format(&ans.rr[0].ip, ip), want) != 0) {
			if (a->failures < 3)
				fprintf(stderr, "%s: got %s (%zu records)\n", name, dns_status_name(ans.status), ans.n);
			a->failures++;
		}
		dns_answer_free(&ans);
	}
	return NULL;
}

static int stress(struct dns_resolver *r, int nthreads, int count)
{
	pthread_t th[MAX_THREADS + 1];
	struct stress_arg args[MAX_THREADS + 1];
	for (int i = 0; i <= nthreads; i++) {
		args[i] = (struct stress_arg){ r, i < nthreads ? i : -1, count, 0 };
		if (pthread_create(&th[i], NULL, stress_thread, &args[i]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 2;
		}
	}
	int failures = 0;
	for (int i = 0; i <= nthreads; i++) {
		pthread_join(th[i], NULL);
		failures += args[i].failures;
	}
	if (failures) {
		printf("stress failed: %d\n", failures);
		return 1;
	}
	printf("stress ok\n");
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: dns_query_tool [--forwarder ADDR[@PORT]]... [--nodefault ZONE]... "
			"[--timeout MS] [--resolv-conf PATH] [--trust-anchor FILE] [--zone FILE] "
			"(NAME TYPE | --stress THREADS COUNT)\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *fwd[MAX_LIST + 1] = { 0 }, *zones[MAX_LIST + 1] = { 0 };
	size_t nfwd = 0, nzones = 0;
	struct dns_unbound_opts o = { 0 };
	const char *zonefile = NULL;
	int stress_threads = 0, stress_count = 0;
	int i = 1;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *opt = argv[i];
		if (strcmp(opt, "--stress") == 0 && i + 2 < argc) {
			stress_threads = atoi(argv[++i]);
			stress_count = atoi(argv[++i]);
			if (stress_threads < 1 || stress_threads > MAX_THREADS || stress_count < 1)
				return usage();
			continue;
		}
		if (i + 1 >= argc)
			return usage();
		const char *val = argv[++i];
		if (strcmp(opt, "--forwarder") == 0 && nfwd < MAX_LIST)
			fwd[nfwd++] = val;
		else if (strcmp(opt, "--nodefault") == 0 && nzones < MAX_LIST)
			zones[nzones++] = val;
		else if (strcmp(opt, "--timeout") == 0)
			o.timeout_ms = (unsigned)strtoul(val, NULL, 10);
		else if (strcmp(opt, "--resolv-conf") == 0)
			o.resolv_conf = val;
		else if (strcmp(opt, "--trust-anchor") == 0)
			o.trust_anchor_file = val;
		else if (strcmp(opt, "--zone") == 0)
			zonefile = val;
		else
			return usage();
	}
	if (stress_threads == 0 && argc - i != 2)
		return usage();
	if (nfwd)
		o.forwarders = fwd;
	if (nzones)
		o.nodefault_zones = zones;

	char err[512];
	struct dns_resolver *r;
	if (zonefile) {
		struct dns_stub *s = dns_stub_new();
		if (dns_stub_load_file(s, zonefile, err, sizeof err) != 0) {
			fprintf(stderr, "%s\n", err);
			dns_stub_free(&s);
			return 2;
		}
		r = dns_stub_resolver(s);
	} else if ((r = dns_unbound_new(&o, err, sizeof err)) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}

	int rc = 0;
	if (stress_threads) {
		rc = stress(r, stress_threads, stress_count);
	} else {
		enum dns_type t;
		if (dns_type_parse(argv[i + 1], &t) < 0) {
			fprintf(stderr, "unknown type %s\n", argv[i + 1]);
			rc = 2;
		} else {
			struct dns_answer ans;
			dns_query(r, argv[i], t, &ans);
			print_answer(&ans);
			dns_answer_free(&ans);
		}
	}
	dns_resolver_free(&r);
	return rc;
}
