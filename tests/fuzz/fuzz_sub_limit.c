/*
 * Fuzz target for the submission guard's limit and period strings
 * (sub_limit_parse, sub_period_parse), which come from the configuration
 * and from `mamori account lock --for`. The input is taken as a C string
 * (up to the first NUL). A result must be in range; a refusal must say why;
 * an accepted limit, formatted back as "N/Ss", must parse to the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/submission.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[256];
	size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
	memcpy(s, data, n);
	s[n] = '\0';

	char err[200] = "";
	struct rl_limit l = {0, 0};
	if (sub_limit_parse(s, &l, err, sizeof err) == 0) {
		if (l.count == 0 || l.count > RL_COUNT_MAX || l.period_s == 0 || l.period_s > RL_PERIOD_MAX)
			__builtin_trap();
		char back[64];
		snprintf(back, sizeof back, "%u/%us", l.count, l.period_s);
		struct rl_limit l2;
		if (sub_limit_parse(back, &l2, err, sizeof err) != 0 || l2.count != l.count ||
		    l2.period_s != l.period_s)
			__builtin_trap();
	} else if (err[0] == '\0' || strnlen(err, sizeof err) == sizeof err) {
		__builtin_trap();
	}

	uint32_t secs = 0;
	err[0] = '\0';
	if (sub_period_parse(s, &secs, err, sizeof err) == 0) {
		if (secs == 0 || secs > RL_PERIOD_MAX)
			__builtin_trap();
	} else if (err[0] == '\0') {
		__builtin_trap();
	}
	return 0;
}
