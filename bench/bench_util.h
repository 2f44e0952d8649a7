/*
 * bench_util.h: timing helpers shared by the benchmarks. A benchmark runs an
 * operation in batches until a minimum time has passed, repeats that a few
 * times, and reports the median per-operation time, because a shared 2-core
 * machine is noisy and a single run lies.
 */
#ifndef HALQA_BENCH_UTIL_H
#define HALQA_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* bench_now_ns returns a monotonic clock reading in nanoseconds. */
uint64_t bench_now_ns(void);

/*
 * bench_run calls |op(arg)| repeatedly: 5 rounds of at least |min_ms| each,
 * and returns the median time per call in nanoseconds. |op| returns non-zero
 * on failure, which aborts the benchmark with a message.
 */
double bench_run(const char *name, int (*op)(void *arg), void *arg, unsigned min_ms);

/*
 * bench_run_cpu is bench_run that also measures the CPU time this thread
 * spent (CLOCK_THREAD_CPUTIME_ID) per call: the median over the same 5
 * rounds goes to |*out_cpu_ns|. On a loaded machine the wall time includes
 * time waiting for a core; the CPU time does not, so it stays close to an
 * idle machine's wall time for CPU-bound operations.
 */
double bench_run_cpu(const char *name, int (*op)(void *arg), void *arg, unsigned min_ms,
		     double *out_cpu_ns);

/* bench_report prints "name: X us/op" in one line, for bench/README.md. */
void bench_report(const char *name, double ns_per_op);

/* bench_report_cpu prints "name: X us/op wall, Y us/op cpu" in one line. */
void bench_report_cpu(const char *name, double ns_per_op, double cpu_ns_per_op);

/*
 * bench_percentile_ms sorts the |n| nanosecond samples of |ns| in place and
 * returns their |p| quantile (0 < p <= 1; the nearest rank) in ms.
 */
double bench_percentile_ms(uint64_t *ns, size_t n, double p);

/*
 * bench_print_load prints the 1, 5 and 15-minute load averages, labelled
 * |when|, so every figure is recorded with how busy the machine was.
 */
void bench_print_load(const char *when);

/* bench_peak_rss_kib returns this process's peak resident set size in KiB. */
long bench_peak_rss_kib(void);

#endif
