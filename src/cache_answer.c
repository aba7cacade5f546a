/* cache_answer.c: what of the cache needs no lock (docs/cache.md): the
 * immutable, reference-counted answers (made before they are stored,
 * borrowed into a reply without a copy), the keys and the freshness
 * rule. cache.c holds the map, the flights and the lock.
 *
 * Never: touch the map or a flight. */
#include "cache.h"
#include "req_listfilter.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#define CACHE_LIST_PREFIX "list:"

/* ---- answers ------------------------------------------------------------ */

struct cache_answer *cache_answer_new(int status, const char *ctype, const void *data, size_t len,
				      struct listview *list, double now)
{
	struct cache_answer *a = calloc(1, sizeof *a);
	if (!a)
		goto fail;
	atomic_init(&a->refs, 1);
	a->status = status;
	a->retry_after = -1;
	a->ctype = strdup(ctype ? ctype : "");
	a->text_len = len;
	a->stored_at = now;
	atomic_init(&a->read_once, false);
	a->list = list;
	list = NULL;
	if (!a->ctype)
		goto fail;
	if (!a->list && len) {
		a->data = malloc(len);
		if (!a->data)
			goto fail;
		memcpy(a->data, data, len);
		a->len = len;
	}
	return a;
fail:
	if (!a)
		req_listfilter_free(list);
	cache_answer_unref(a);
	return NULL;
}

struct cache_answer *cache_answer_ref(struct cache_answer *a)
{
	if (a)
		atomic_fetch_add(&a->refs, 1);
	return a;
}

void cache_answer_unref(struct cache_answer *a)
{
	if (!a || atomic_fetch_sub(&a->refs, 1) != 1)
		return;
	req_listfilter_free(a->list);
	free(a->data);
	free(a->ctype);
	free(a);
}

static void cache_answer_cleanup(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	cache_answer_unref(arg);
}

int cache_answer_add_to(struct cache_answer *a, struct evbuffer *out)
{
	if (!a->len)
		return 0;
	cache_answer_ref(a);
	if (evbuffer_add_reference(out, a->data, a->len, cache_answer_cleanup, a) == 0)
		return 0;
	cache_answer_unref(a);
	return -1;
}

/* ---- keys and freshness ------------------------------------------------- */

bool cache_key_is_list(const char *key)
{
	return strncmp(key, CACHE_LIST_PREFIX, sizeof CACHE_LIST_PREFIX - 1) == 0;
}

char *cache_list_key(const char *filter)
{
	size_t n = sizeof CACHE_LIST_PREFIX + (filter ? strlen(filter) : 0);
	char *key = malloc(n);
	if (key)
		snprintf(key, n, "%s%s", CACHE_LIST_PREFIX, filter ? filter : "");
	return key;
}

int cache_ttl(const struct fg_config *cfg, bool list, const char *status)
{
	if (list)
		return cfg->ttl_list;
	int i = status ? fg_status_index(status) : -1;
	if (i >= 0 && cfg->ttl_status[i] >= 0)
		return cfg->ttl_status[i];
	return cfg->ttl;
}

