/* vinset_bench.c: how fast a million-VIN file loads, how much memory the
 * set takes, and how fast lookups are, next to a plain sorted array with
 * bsearch as a baseline measured in the same run. Prints a table; it
 * passes or fails nothing (the numbers go into docs/tenants.md).
 *
 * Usage: vinset_bench [COUNT]   (default 1000000)
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "fleetgate.h"
#include "vinset.h"

static const char bench_alpha[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

static uint64_t bench_rng = 0x853c49e6748fea9bULL;

static uint64_t bench_next(void)
{
	/* xorshift64*: fast, good enough to make VINs look random */
	bench_rng ^= bench_rng >> 12;
	bench_rng ^= bench_rng << 25;
	bench_rng ^= bench_rng >> 27;
	return bench_rng * 0x2545f4914f6cdd1dULL;
}

static void bench_vin(char out[18])
{
	uint64_t a = bench_next(), b = bench_next();
	for (int i = 0; i < 17; i++) {
		uint64_t *r = i < 9 ? &a : &b;
		out[i] = bench_alpha[*r % 36];
		*r /= 36;
	}
	out[17] = '\0';
}

static double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 17);
}

/* Lookups per second over the N queries in Q. */
static double bench_set_rate(const struct vinset *s, char (*q)[18], size_t n, size_t *found)
{
	size_t hits = 0;
	double t0 = bench_now();
	for (size_t i = 0; i < n; i++)
		hits += vinset_contains(s, q[i]);
	double dt = bench_now() - t0;
	*found = hits;
	return (double)n / dt;
}

static double bench_bsearch_rate(char (*sorted)[18], size_t ns, char (*q)[18], size_t n, size_t *found)
{
	size_t hits = 0;
	double t0 = bench_now();
	for (size_t i = 0; i < n; i++)
		hits += bsearch(q[i], sorted, ns, sizeof(*sorted), bench_cmp) != NULL;
	double dt = bench_now() - t0;
	*found = hits;
	return (double)n / dt;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	if (n == 0)
		n = 1000000;
	char path[] = "/tmp/vinset_bench.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		return 1;
	}
	FILE *f = fdopen(fd, "w");
	char (*vins)[18] = malloc(n * sizeof(*vins));
	char (*miss)[18] = malloc(n * sizeof(*miss));
	if (!f || !vins || !miss) {
		perror("setup");
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		bench_vin(vins[i]);
		fprintf(f, "%s\n", vins[i]);
	}
	fclose(f);
	/* Misses: more random VINs, which hit the file with odds of about
	 * n / 36^17, i.e. never. */
	for (size_t i = 0; i < n; i++)
		bench_vin(miss[i]);

	struct vinset *s = vinset_new();
	struct fg_errors e = {0};
	double t0 = bench_now();
	int rc = vinset_load_file(s, path, &e);
	double load = bench_now() - t0;
	unlink(path);
	if (rc < 0 || e.n) {
		fprintf(stderr, "load failed: %s\n", e.n ? e.lines[0] : "?");
		return 1;
	}

	/* Baseline: the same VINs in a sorted array of 18-byte strings. */
	char (*sorted)[18] = malloc(n * sizeof(*sorted));
	memcpy(sorted, vins, n * sizeof(*sorted));
	t0 = bench_now();
	qsort(sorted, n, sizeof(*sorted), bench_cmp);
	double sort = bench_now() - t0;

	size_t hs, ms, hb, mb;
	double set_hit = bench_set_rate(s, vins, n, &hs);
	double set_miss = bench_set_rate(s, miss, n, &ms);
	double bs_hit = bench_bsearch_rate(sorted, n, vins, n, &hb);
	double bs_miss = bench_bsearch_rate(sorted, n, miss, n, &mb);
	size_t mem = vinset_memory(s);

	printf("vinset benchmark, %zu random VINs (%zu distinct)\n", n, vinset_count(s));
	printf("  %-34s %12.3f s\n", "load file (read+parse+insert)", load);
	printf("  %-34s %12.3f s\n", "baseline: qsort of the array", sort);
	printf("  %-34s %12.1f MiB\n", "vinset memory", (double)mem / 1048576.0);
	printf("  %-34s %12.1f\n", "vinset bytes per VIN", (double)mem / (double)vinset_count(s));
	printf("  %-34s %12.1f\n", "baseline bytes per VIN", (double)sizeof(*sorted));
	printf("  %-34s %12s %12s %8s\n", "lookups per second", "vinset", "bsearch", "ratio");
	printf("  %-34s %12.3g %12.3g %8.1fx\n", "  hits", set_hit, bs_hit, set_hit / bs_hit);
	printf("  %-34s %12.3g %12.3g %8.1fx\n", "  misses", set_miss, bs_miss, set_miss / bs_miss);
	if (hs != n || hb != n || ms != mb)
		printf("  WARNING: answers differ (set hits %zu, bsearch hits %zu, misses %zu/%zu)\n",
		       hs, hb, ms, mb);

	vinset_free(s);
	free(sorted);
	free(vins);
	free(miss);
	return 0;
}
