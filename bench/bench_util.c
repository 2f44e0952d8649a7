/*
 * bench_util.c: see bench_util.h.
 */
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double bench_run(const char *name, int (*op)(void *arg), void *arg, unsigned min_ms)
{
	double rounds[5];

	for (int round = 0; round < 5; round++) {
		uint64_t start = bench_now_ns(), elapsed;
		uint64_t calls = 0;

		do {
			if (op(arg) != 0) {
				fprintf(stderr, "bench %s: operation failed\n", name);
				exit(1);
			}
			calls++;
			elapsed = bench_now_ns() - start;
		} while (elapsed < (uint64_t)min_ms * 1000000u);
		rounds[round] = (double)elapsed / (double)calls;
	}
	qsort(rounds, 5, sizeof rounds[0], cmp_double);
	return rounds[2];
}

void bench_report(const char *name, double ns_per_op)
{
	printf("%-40s %10.2f us/op\n", name, ns_per_op / 1000.0);
}

long bench_peak_rss_kib(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0) {
		return -1;
	}
	return ru.ru_maxrss;
}
