/*
 * bench_common: clocks and memory figures shared by the benchmarks. Rates
 * are computed on CPU time, which holds up on a shared machine; wall time
 * is printed beside it.
 */
#ifndef MAMORI_BENCH_COMMON_H
#define MAMORI_BENCH_COMMON_H

#include <sys/resource.h>
#include <time.h>

static inline double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* the process's CPU time */
static inline double cpu_now(void)
{
	return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static inline double wall_now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* peak resident set size so far, in KB (getrusage; -1 on error) */
static inline long peak_rss_kb(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return -1;
	return ru.ru_maxrss; /* kilobytes on Linux */
}

#endif
