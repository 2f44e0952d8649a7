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

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double bench_run(const char *name, int (*op)(void *arg), void *arg, unsigned min_ms)
{
	double cpu;

	return bench_run_cpu(name, op, arg, min_ms, &cpu);
}

double bench_run_cpu(const char *name, int (*op)(void *arg), void *arg, unsigned min_ms,
		     double *out_cpu_ns)
{
	double rounds[5], cpu_rounds[5];

	for (int round = 0; round < 5; round++) {
		uint64_t start = bench_now_ns(), elapsed;
		uint64_t cpu_start = thread_cpu_ns();
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
		cpu_rounds[round] = (double)(thread_cpu_ns() - cpu_start) / (double)calls;
	}
	qsort(rounds, 5, sizeof rounds[0], cmp_double);
	qsort(cpu_rounds, 5, sizeof cpu_rounds[0], cmp_double);
	*out_cpu_ns = cpu_rounds[2];
	return rounds[2];
}

void bench_report(const char *name, double ns_per_op)
{
	printf("%-40s %10.2f us/op\n", name, ns_per_op / 1000.0);
}

void bench_report_cpu(const char *name, double ns_per_op, double cpu_ns_per_op)
{
	printf("%-40s %10.2f us/op wall %10.2f us/op cpu\n", name, ns_per_op / 1000.0,
	       cpu_ns_per_op / 1000.0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

double bench_percentile_ms(uint64_t *ns, size_t n, double p)
{
	size_t i = (size_t)(p * (double)n + 0.999999);

	if (n == 0) {
		return 0;
	}
	qsort(ns, n, sizeof ns[0], cmp_u64);
	i = i == 0 ? 0 : i - 1;
	return (double)ns[i < n ? i : n - 1] / 1e6;
}

void bench_print_load(const char *when)
{
	double load[3];

	if (getloadavg(load, 3) == 3) {
		printf("load average %s: %.2f %.2f %.2f\n", when, load[0], load[1], load[2]);
	}
}

long bench_peak_rss_kib(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0) {
		return -1;
	}
	return ru.ru_maxrss;
}
