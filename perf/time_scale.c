/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * LD_PRELOAD shim for perf/mempool-perf-ab.sh: rte_get_tsc_hz() answers the real rate divided by
 * ELASTIC_TIME_SCALE (default 1). dpdk-test's mempool_perf_autotest runs each configuration for
 * TIME_S seconds measured in TSC cycles against that rate and divides its counts by TIME_S, so
 * with a scale of 10 every configuration runs 0.5 s and every rate reads 10x low — for every
 * pool of the run alike, so ratios between pools are unchanged. Only for benchmarks.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

uint64_t rte_get_tsc_hz(void);

uint64_t rte_get_tsc_hz(void)
{
	static uint64_t (*real)(void);
	static uint64_t scale;

	if (real == NULL)
		real = (uint64_t (*)(void))dlsym(RTLD_NEXT, "rte_get_tsc_hz");
	if (scale == 0) {
		const char *s = getenv("ELASTIC_TIME_SCALE");

		scale = s != NULL && atoi(s) > 0 ? (uint64_t)atoi(s) : 1;
	}
	return real != NULL ? real() / scale : 0;
}
