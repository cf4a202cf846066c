/*
 * Fuzz target: the spoof signals with arbitrary bytes (invalid UTF-8,
 * NULs, huge expansions under NFKC, bogus xn-- labels). The input is used
 * whole as a domain and as a display name, and split at the first newline
 * into two domains for the pair and Reply-To checks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spoof/impersonation.h"
#include "spoof/lookalike.h"

static struct lookalike_set *set;
static struct vip_set *vips;
static struct freemail_set *fm;

static void init(void)
{
	static const char *const prot[] = { "example.com", "paypal.com", "xn--mller-kva.de", "yamada.co.jp" };
	static const char *const addr[] = { "ceo@example.com" };
	static const struct vip_entry v[] = { { "John Doe", addr, 1 }, { "山田 太郎", addr, 1 } };
	size_t n;
	const char *const *d = freemail_default_domains(&n);
	set = lookalike_set_new(prot, 4, NULL, 0);
	vips = vip_set_new(v, 2, NULL, 0);
	fm = freemail_set_new(d, n, NULL, 0);
	if (set == NULL || vips == NULL || fm == NULL)
		abort();
}

static void check_str(const char *s, size_t cap)
{
	if (strnlen(s, cap) == cap)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (set == NULL)
		init();
	char *z = malloc(size + 1);
	if (z == NULL)
		return 0;
	memcpy(z, data, size);
	z[size] = '\0';

	struct lookalike_match m;
	enum lookalike_kind k = lookalike_check(set, z, &m);
	if (k != m.kind || k > LOOKALIKE_TLD_SWAP)
		__builtin_trap();
	check_str(m.protected_domain, sizeof m.protected_domain);
	check_str(m.reason, sizeof m.reason);

	char out[512];
	int nt = imp_name_normalize((const char *)data, size, out, sizeof out);
	check_str(out, sizeof out);
	if (nt < -1 || nt > IMP_MAX_TOKENS || (nt <= 0 && out[0] != '\0'))
		__builtin_trap();

	struct imp_match im;
	int rc = impersonation_check(vips, z, "x@gmail.com", fm, &im);
	if (rc < -1 || rc > 1 || (rc == 1) != im.matched || im.strength < 0 || im.strength > 100)
		__builtin_trap();
	check_str(im.reason, sizeof im.reason);

	char org[256];
	if (lookalike_org_domain(z, org, sizeof org) == 0 && org[0] == '\0')
		__builtin_trap();

	char *nl = strchr(z, '\n');
	if (nl != NULL) {
		*nl = '\0';
		k = lookalike_check_pair(z, nl + 1, &m);
		if (k != m.kind)
			__builtin_trap();
		struct reply_to_match r;
		bool d = reply_to_diverts(z, nl + 1, fm, set, &r);
		if (d != r.diverts || r.strength < 0 || r.strength > 100)
			__builtin_trap();
		check_str(r.reason, sizeof r.reason);
		(void)freemail_contains(fm, nl + 1);
	}
	free(z);
	return 0;
}
