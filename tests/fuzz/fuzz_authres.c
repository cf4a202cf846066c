/*
 * fuzz target for src/auth/authres: authres_parse on hostile header values,
 * with properties checked on every input that parses:
 *  - the lenient authserv-id reader agrees with the parser,
 *  - authres_is_ours recognises the parsed id (a forged header cannot slip
 *    past removal by being parseable),
 *  - rebuilding the parsed results gives a value that parses back to the
 *    same methods and results.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authres.h"

static struct authres ar, ar2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *v = (const char *)data;
	char err[256], id[256];

	(void)authres_is_ours(v, size, "mx.example.org");
	int idrc = authres_authserv_id(v, size, id, sizeof id);
	if (authres_parse(v, size, &ar, err, sizeof err) < 0) {
		if (err[0] == '\0')
			abort(); /* every failure has a reason */
		return 0;
	}
	if (ar.nres > AUTHRES_MAX_RESULTS || idrc != 0 || strcmp(id, ar.authserv_id) != 0)
		abort();
	if (!authres_is_ours(v, size, ar.authserv_id))
		abort();

	struct authres_builder *b = authres_builder_new(ar.authserv_id);
	for (size_t i = 0; i < ar.nres; i++) {
		const struct authres_result *r = &ar.res[i];
		if (r->nprops > AUTHRES_MAX_PROPS)
			abort();
		authres_builder_add(b, r->method, r->result, r->reason[0] ? r->reason : NULL, "c");
		for (size_t j = 0; j < r->nprops; j++)
			authres_builder_prop(b, r->props[j].ptype, r->props[j].property,
					     r->props[j].value);
	}
	char *out = authres_builder_finish(&b, "\r\n");
	if (authres_parse(out, strlen(out), &ar2, err, sizeof err) < 0 || ar2.nres != ar.nres)
		abort();
	for (size_t i = 0; i < ar.nres; i++)
		if (strcmp(ar.res[i].method, ar2.res[i].method) != 0 ||
		    strcmp(ar.res[i].result, ar2.res[i].result) != 0)
			abort();
	free(out);
	return 0;
}
