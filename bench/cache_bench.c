/* cache_bench.c: what a cache hit costs and what an entry weighs.
 *
 * 1. Memory: stores COUNT single-VIN answers of a realistic size and
 *    measures the heap they take (mallinfo2), next to what the cache
 *    charges against max_bytes (cache_entry_cost). Then parses a list
 *    answer to measure what a parsed list costs per byte of its text.
 * 2. Hit throughput: 1, 2 and 4 threads look up random stored VINs and
 *    borrow the body into an evbuffer, as a hit in http.c does.
 *
 * Prints a table; it passes or fails nothing (the numbers go into
 * docs/cache.md).
 *
 * Usage: cache_bench [COUNT]   (default 100000)
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/buffer.h>
#include "cache.h"
#include "req_listfilter.h"

#define BENCH_SECONDS 1.0

static double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench_vin(unsigned i, char out[18])
{
	snprintf(out, 18, "WBABENCH%09u", i % 1000000000u);
}

/* An answer shaped like the upstream's GET /v1/fleets/vehicles/{vin}. */
static size_t bench_body(const char *vin, char *out, size_t len)
{
	return (size_t)snprintf(out, len,
		"{\"vin\":\"%s\",\"status\":\"approved\",\"brand\":\"bmw\",\"changelog\":["
		"{\"status\":\"pending\",\"timestamp\":\"2024-03-01T10:00:00.000Z\"},"
		"{\"status\":\"approved\",\"timestamp\":\"2024-03-01T10:05:12.000Z\"}]}", vin);
}

static size_t bench_heap(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

static void bench_store(struct cache *c, const char *key, const char *body, size_t len)
{
	struct cache_answer *hit, *a = cache_answer_new(200, "application/json", body, len, NULL, 0);
	struct cache_flight *f;
	struct cache_waiter *w;
	if (cache_lookup(c, key, 0, true, &hit, &f, NULL, NULL, NULL, &w) == CACHE_LEAD) {
		cache_store(c, f, a, 3600, 600, SIZE_MAX, 0);
		cache_flight_done(c, f, a, "MISS");
	}
	cache_answer_unref(a);
}

static struct cache *bench_cache;
static unsigned bench_count;

struct bench_thread {
	pthread_t t;
	uint64_t seed;
	unsigned long long hits;
};

static void *bench_hits(void *arg)
{
	struct bench_thread *bt = arg;
	char vin[18];
	struct evbuffer *out = evbuffer_new();
	double end = bench_now() + BENCH_SECONDS;
	while (bench_now() < end) {
		for (int k = 0; k < 1000; k++) {
			bt->seed ^= bt->seed << 13;
			bt->seed ^= bt->seed >> 7;
			bt->seed ^= bt->seed << 17;
			bench_vin((unsigned)(bt->seed % bench_count), vin);
			struct cache_answer *a;
			struct cache_flight *f;
			struct cache_waiter *w;
			if (cache_lookup(bench_cache, vin, 1, false, &a, &f, NULL, NULL, NULL, &w) != CACHE_HIT)
				abort();
			cache_answer_add_to(a, out);
			cache_answer_unref(a);
			evbuffer_drain(out, evbuffer_get_length(out));
			bt->hits++;
		}
	}
	evbuffer_free(out);
	return NULL;
}

static void bench_memory(unsigned count)
{
	char vin[18], body[512];
	size_t charged = 0, text = 0;
	size_t before = bench_heap();
	for (unsigned i = 0; i < count; i++) {
		bench_vin(i, vin);
		size_t len = bench_body(vin, body, sizeof body);
		bench_store(bench_cache, vin, body, len);
		text += len;
	}
	size_t after = bench_heap();
	struct cache_stats s;
	cache_get_stats(bench_cache, &s);
	charged = s.bytes;
	printf("single-VIN entries    %u (body %zu bytes each)\n", count, text / count);
	printf("  heap per entry      %.0f bytes (measured with mallinfo2)\n", (double)(after - before) / count);
	printf("  charged per entry   %.0f bytes (counted against max_bytes)\n", (double)charged / count);
	printf("  entries in 64M      %.0f\n", 64.0 * 1024 * 1024 / ((double)charged / count));
}

static void bench_list(void)
{
	char body[512], vin[18];
	size_t n = 500;
	char *text = malloc(n * 256 + 16);
	size_t len = 0;
	text[len++] = '[';
	for (size_t i = 0; i < n; i++) {
		bench_vin((unsigned)i, vin);
		bench_body(vin, body, sizeof body);
		len += (size_t)sprintf(text + len, "%s%s", i ? "," : "", body);
	}
	text[len++] = ']';
	text[len] = 0;
	json_t *j = json_loadb(text, len, 0, NULL);
	size_t before = bench_heap();
	struct listview *view = req_listfilter_new(j);
	size_t after = bench_heap();
	json_decref(j);
	struct cache_answer *a = cache_answer_new(200, "application/json", text, len, view, 0);
	printf("list answer           %zu vehicles, %zu bytes of text\n", n, len);
	printf("  split view heap     %zu bytes = %.1f x the text\n", after - before,
	       (double)(after - before) / (double)len);
	printf("  charged             %zu bytes = %.1f x the text\n", cache_entry_cost("list:", a),
	       (double)cache_entry_cost("list:", a) / (double)len);
	cache_answer_unref(a);
	free(text);
}

static void bench_throughput(void)
{
	for (int nt = 1; nt <= 4; nt *= 2) {
		struct bench_thread bt[4];
		for (int i = 0; i < nt; i++) {
			bt[i].seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
			bt[i].hits = 0;
			pthread_create(&bt[i].t, NULL, bench_hits, &bt[i]);
		}
		unsigned long long total = 0;
		for (int i = 0; i < nt; i++) {
			pthread_join(bt[i].t, NULL);
			total += bt[i].hits;
		}
		printf("hits/s, %d thread%s     %.2f M\n", nt, nt > 1 ? "s" : " ", (double)total / BENCH_SECONDS / 1e6);
	}
}

int main(int argc, char **argv)
{
	bench_count = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 100000;
	if (!bench_count)
		bench_count = 1;
	bench_cache = cache_new();
	bench_memory(bench_count);
	bench_list();
	bench_throughput();
	cache_free(bench_cache);
	return 0;
}
