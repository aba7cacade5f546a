/* redis_io.c: the libevent adapter of hiredis 0.14 with a reply size cap
 * (see redis_io.h).
 *
 * Owns: one read and one write event per context (as hiredis's own
 * adapters/libevent.h), the check of the reply being received before each
 * read, and reply-object functions that count what hiredis builds and
 * hand the building itself to hiredis's defaults.
 *
 * Never: free the context (redis.c does, from its reaper), or call back
 * into redis.c from inside a hiredis callback. */
#include "redis_io.h"
#include <hiredis/hiredis.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

struct redis_io {
	redisAsyncContext *ac;
	struct event *rev, *wev;
	struct redis_io_limit *limit;
};

/* hiredis's own reply functions (the same table for every reader). */
static _Atomic(redisReplyObjectFunctions *) rio_base;

/* Charges N bytes to the reply being built; the root object starts a new
 * reply. False: over the cap (hiredis then fails the reader). */
static bool rio_charge(const redisReadTask *t, size_t n)
{
	struct redis_io_limit *l = t->privdata;
	if (!l)
		return true;
	if (!t->parent)
		l->used = 0;
	l->used += n;
	if (l->used > l->max_bytes) {
		l->hit = true;
		return false;
	}
	return true;
}

static void *rio_string(const redisReadTask *t, char *s, size_t len)
{
	return rio_charge(t, len + sizeof(redisReply)) ? atomic_load(&rio_base)->createString(t, s, len) : NULL;
}

static void *rio_array(const redisReadTask *t, int n)
{
	size_t each = sizeof(redisReply) + sizeof(redisReply *);
	if (n < 0 || (size_t)n > SIZE_MAX / each || !rio_charge(t, (size_t)n * each + sizeof(redisReply)))
		return NULL;
	return atomic_load(&rio_base)->createArray(t, n);
}

static void *rio_integer(const redisReadTask *t, long long v)
{
	return rio_charge(t, sizeof(redisReply)) ? atomic_load(&rio_base)->createInteger(t, v) : NULL;
}

static void *rio_nil(const redisReadTask *t)
{
	return rio_charge(t, sizeof(redisReply)) ? atomic_load(&rio_base)->createNil(t) : NULL;
}

static void rio_free(void *obj)
{
	atomic_load(&rio_base)->freeObject(obj);
}

static redisReplyObjectFunctions rio_fns = {
	.createString = rio_string, .createArray = rio_array, .createInteger = rio_integer,
	.createNil = rio_nil, .freeObject = rio_free,
};

static void rio_read(evutil_socket_t fd, short what, void *arg)
{
	struct redis_io *e = arg;
	redisReader *r = e->ac->c.reader;
	(void)fd;
	(void)what;
	if (r && r->len - r->pos > e->limit->max_bytes) {
		/* the reply still arriving is already over the cap */
		event_del(e->rev);
		e->limit->hit = true;
		e->limit->too_big(e->limit->arg);
		return;
	}
	redisAsyncHandleRead(e->ac);
}

static void rio_write(evutil_socket_t fd, short what, void *arg)
{
	struct redis_io *e = arg;
	(void)fd;
	(void)what;
	redisAsyncHandleWrite(e->ac);
}

static void rio_add_read(void *p) { event_add(((struct redis_io *)p)->rev, NULL); }
static void rio_del_read(void *p) { event_del(((struct redis_io *)p)->rev); }
static void rio_add_write(void *p) { event_add(((struct redis_io *)p)->wev, NULL); }
static void rio_del_write(void *p) { event_del(((struct redis_io *)p)->wev); }

static void rio_cleanup(void *p)
{
	struct redis_io *e = p;
	if (e->rev)
		event_free(e->rev);
	if (e->wev)
		event_free(e->wev);
	free(e);
}

int redis_io_attach(redisAsyncContext *ac, struct event_base *base, struct redis_io_limit *limit)
{
	redisReader *r = ac->c.reader;
	if (ac->ev.data || !r || !r->fn)
		return REDIS_ERR;
	struct redis_io *e = calloc(1, sizeof *e);
	if (!e)
		return REDIS_ERR;
	e->ac = ac;
	e->limit = limit;
	e->rev = event_new(base, ac->c.fd, EV_READ, rio_read, e);
	e->wev = event_new(base, ac->c.fd, EV_WRITE, rio_write, e);
	if (!e->rev || !e->wev) {
		rio_cleanup(e);
		return REDIS_ERR;
	}
	redisReplyObjectFunctions *none = NULL;
	if (r->fn != &rio_fns)
		atomic_compare_exchange_strong(&rio_base, &none, r->fn);
	r->fn = &rio_fns;
	r->privdata = limit;
	limit->used = 0;
	ac->ev.addRead = rio_add_read;
	ac->ev.delRead = rio_del_read;
	ac->ev.addWrite = rio_add_write;
	ac->ev.delWrite = rio_del_write;
	ac->ev.cleanup = rio_cleanup;
	ac->ev.data = e;
	event_add(e->rev, NULL);
	event_add(e->wev, NULL);
	return REDIS_OK;
}
