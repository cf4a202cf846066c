/*
 * fuzz_rdap: the RDAP answer parser and its neighbours. The first byte
 * picks the mode:
 *   0  rdap_parse_ip(rest), then the range check on a few addresses
 *   1  rdap_bootstrap_add(rest) (http allowed or not) and look-ups
 *   2  arf_build with rest split at NUL bytes into rdns, reporters and
 *      network: the message must keep exactly its three parts and CRLF
 *      line ends whatever the values hold
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/mem.h"
#include "dmarc/arf_build.h"
#include "dmarc/rdap.h"

static const char *const probes[] = { "192.0.2.1", "203.0.113.9", "2001:db8::1", "::ffff:198.51.100.7", "0.0.0.0" };

static void mode_parse(const char *s, size_t n)
{
	struct rdap_network net;
	char err[256];
	if (rdap_parse_ip(s, n, &net, err, sizeof err) == 0) {
		for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
			struct ipaddr ip;
			if (ip_parse(probes[i], &ip) == 0)
				(void)rdap_network_contains(&net, &ip);
		}
		if (net.abuse_email[0] != '\0' && !rdap_email_valid(net.abuse_email))
			abort(); /* only validated addresses come out */
	}
}

static void mode_bootstrap(const char *s, size_t n, bool http)
{
	struct rdap_bootstrap *bs = NULL;
	char err[256], url[256];
	(void)rdap_bootstrap_add(&bs, s, n, http, err, sizeof err);
	for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
		struct ipaddr ip;
		if (ip_parse(probes[i], &ip) == 0 && rdap_bootstrap_lookup(bs, &ip, url, sizeof url) == 0 &&
		    strncasecmp(url, "https://", 8) != 0 && !(http && strncasecmp(url, "http://", 7) == 0))
			abort();
	}
	rdap_bootstrap_free(&bs);
}

static void mode_arf(const char *s, size_t n)
{
	/* a terminated copy, cut into up to three strings at its NUL bytes */
	char *buf = xmalloc(n + 1);
	memcpy(buf, s, n);
	buf[n] = '\0';
	const char *v[3] = { "", "", "" };
	size_t off = 0;
	for (size_t k = 0; k < 3 && off <= n; k++) {
		v[k] = buf + off;
		off += strlen(buf + off) + 1;
	}
	struct arf_evidence ev = { .domain = "example.com", .rdns = v[0], .reporters = v[1], .network = v[2],
				   .total = 10, .fail_both = 9, .first_seen = 1, .last_seen = 2 };
	ip_parse("192.0.2.1", &ev.ip);
	struct arf_envelope env = { .from = "a@example.com", .to = "abuse@example.net", .message_id = "x@example.com",
				    .authserv_id = v[1], .user_agent = v[0], .now = 1718000000 };
	struct buf out = BUF_INIT(ARF_MAX_MESSAGE);
	char err[256];
	if (arf_build(&ev, &env, &out, err, sizeof err) == 0) {
		const char *ct = strstr(out.data, "boundary=\"");
		if (ct == NULL)
			abort();
		char delim[128];
		size_t bl = strcspn(ct + 10, "\"");
		if (bl + 5 > sizeof delim)
			abort();
		memcpy(delim, "\r\n--", 4);
		memcpy(delim + 4, ct + 10, bl);
		delim[4 + bl] = '\0';
		unsigned parts = 0;
		for (const char *p = strstr(out.data, delim); p; p = strstr(p + 1, delim))
			parts++;
		if (parts != 4) /* three openers and the closer */
			abort();
		for (size_t i = 0; i < out.len; i++) {
			unsigned char c = (unsigned char)out.data[i];
			if ((c == '\n' && (i == 0 || out.data[i - 1] != '\r')) || (c == '\r' && out.data[i + 1] != '\n'))
				abort();
			if (c >= 0x80 || c == 0)
				abort();
		}
	}
	buf_free(&out);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *s = (const char *)data + 1;
	size_t n = size - 1;
	switch (data[0] % 4) {
	case 0: mode_parse(s, n); break;
	case 1: mode_bootstrap(s, n, false); break;
	case 2: mode_bootstrap(s, n, true); break;
	default: mode_arf(s, n); break;
	}
	return 0;
}
