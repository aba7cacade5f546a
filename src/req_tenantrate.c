/* req_tenantrate.c: tenant request rates (docs/cache.md): one token bucket per
 * tenant name, shared by every worker (its lock is inside). A tenant over
 * its rate is refused at once; nobody else slows down and nothing waits.
 * Buckets are kept by name across reloads, so a reload neither refills
 * nor empties them. Never: touch the upstream budget (budget.c). */
#include "req_tenantrate.h"
#include "tenant.h"
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RATELIMIT_BUCKETS 256

double req_tenantrate_bucket_take(struct ratelimit_bucket *bk, double rate, double burst, double now)
{
	if (burst < 1)
		burst = 1;
	if (!bk->primed) {
		bk->tokens = burst;
		bk->last = now;
		bk->primed = true;
	}
	if (now > bk->last) {
		bk->tokens += (now - bk->last) * rate;
		bk->last = now;
	}
	if (bk->tokens > burst)
		bk->tokens = burst;   /* also after a reload made the bucket smaller */
	if (bk->tokens >= 1) {
		bk->tokens -= 1;
		return 0;
	}
	return rate > 0 ? (1 - bk->tokens) / rate : HUGE_VAL;
}

struct ratelimit_tbucket {
	struct ratelimit_tbucket *next;
	struct ratelimit_bucket bk;
	char name[];
};

/* Tenant structs are replaced on reload; their names are not, so the
 * buckets are kept by name. A handful of bytes per tenant ever seen. */
static struct {
	pthread_mutex_t mu;
	struct ratelimit_tbucket *b[RATELIMIT_BUCKETS];
} ratelimit_tenants = { .mu = PTHREAD_MUTEX_INITIALIZER };

static struct ratelimit_tbucket *req_tenantrate_tbucket_get(const char *name)
{
	unsigned h = 5381;
	for (const char *p = name; *p; p++)
		h = h * 33 + (unsigned char)*p;
	struct ratelimit_tbucket **pp = &ratelimit_tenants.b[h % RATELIMIT_BUCKETS];
	for (; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->name, name) == 0)
			return *pp;
	size_t n = strlen(name) + 1;
	struct ratelimit_tbucket *t = calloc(1, sizeof *t + n);
	if (t) {
		memcpy(t->name, name, n);
		*pp = t;
	}
	return t;
}

bool req_tenantrate_tenant_take(const char *name, double rate, double burst, double now, double *retry_after)
{
	*retry_after = 0;
	pthread_mutex_lock(&ratelimit_tenants.mu);
	struct ratelimit_tbucket *t = req_tenantrate_tbucket_get(name);
	double wait = t ? req_tenantrate_bucket_take(&t->bk, rate, burst, now) : 0;
	pthread_mutex_unlock(&ratelimit_tenants.mu);
	*retry_after = wait;
	return wait == 0;
}

bool req_tenantrate_tenant_allows(const struct fg_tenant *t, double now, double *retry_after)
{
	*retry_after = 0;
	if (!t->has_rate || !t->rate.count || !t->rate.window_s)
		return true;
	double rate = (double)t->rate.count / (double)t->rate.window_s;
	return req_tenantrate_tenant_take(t->name, rate, t->burst ? t->burst : t->rate.count, now, retry_after);
}

void req_tenantrate_shutdown(void)
{
	pthread_mutex_lock(&ratelimit_tenants.mu);
	for (size_t i = 0; i < RATELIMIT_BUCKETS; i++) {
		while (ratelimit_tenants.b[i]) {
			struct ratelimit_tbucket *t = ratelimit_tenants.b[i];
			ratelimit_tenants.b[i] = t->next;
			free(t);
		}
	}
	pthread_mutex_unlock(&ratelimit_tenants.mu);
}
