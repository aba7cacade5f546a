/* check_redis_budget.c: Check suite for redis.c and the shared budget's
 * scripts against a real redis-server, driven through a real event base.
 *
 * main() starts `redis-server` on a free loopback port (no persistence,
 * DEBUG allowed from loopback) and kills it by PID at the end; with
 * FG_REDIS_PORT set it uses that server instead. Each test flushes the
 * server, makes its own base and connection(s), and checks Redis's state
 * with a plain synchronous hiredis context. Waiting is always a poll with a
 * deadline. Proves: the limit is never exceeded in a window, across two
 * "instances" too; leases are re-stamped or removed; the pause is honoured
 * by everyone; every key has a TTL; EVALSHA falls back to EVAL after SCRIPT
 * FLUSH; a stopped server gives UNKNOWN, never a grant or a denial; seeding
 * counts nothing twice; cancel gives a granted slot back. */
#define _GNU_SOURCE
#include <check.h>
#include "check_main.h"
#include <arpa/inet.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "redis.h"
#include "redis_budget.h"

#define CLIENT "test-client-0001"

static int redis_port;
static pid_t redis_pid;
static struct event_base *base;
static struct event *tick;
static struct fg_redis_url url;
static redisContext *sync_c;

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		abort();
	close(fd);
	return ntohs(a.sin_port);
}

static redisReply *cmd(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(sync_c, fmt, ap);
	va_end(ap);
	ck_assert_msg(r != NULL, "sync command failed: %s", sync_c->errstr);
	return r;
}

static long long cmd_int(const char *fmt, const char *arg)
{
	redisReply *r = cmd(fmt, arg);
	long long v = r->type == REDIS_REPLY_INTEGER ? r->integer
		    : r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -999;
	freeReplyObject(r);
	return v;
}

static void sync_connect(void)
{
	struct timeval tv = { 2, 0 };
	if (sync_c)
		redisFree(sync_c);
	sync_c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
}

static void start_redis(void)
{
	char port[16];
	const char *given = getenv("FG_REDIS_PORT");
	if (given) {
		redis_port = atoi(given);
	} else {
		redis_port = free_port();
		snprintf(port, sizeof port, "%d", redis_port);
		redis_pid = fork();
		if (redis_pid == 0) {
			execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
			       "--save", "", "--appendonly", "no", "--enable-debug-command", "local",
			       "--logfile", "/dev/null", (char *)NULL);
			_exit(127);
		}
	}
	double deadline = mono() + 10;
	while (mono() < deadline) {
		sync_connect();
		if (sync_c && !sync_c->err) {
			redisReply *r = redisCommand(sync_c, "PING");
			bool ok = r && r->type == REDIS_REPLY_STATUS;
			if (r)
				freeReplyObject(r);
			if (ok)
				return;
		}
		usleep(20000);
	}
	fprintf(stderr, "redis-server did not answer PING on port %d\n", redis_port);
	exit(EXIT_FAILURE);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg) { }

/* Runs the loop until *FLAG is true or SECS pass; returns *FLAG. */
static bool run_until(const bool *flag, double secs)
{
	double deadline = mono() + secs;
	while (!*flag && mono() < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	return *flag;
}

static bool wait_state(struct redis_conn *c, enum redis_state s, double secs)
{
	double deadline = mono() + secs;
	while (redis_conn_state(c) != s && mono() < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	return redis_conn_state(c) == s;
}

static struct redis_conn *conn(int timeout_ms)
{
	struct redis_opts o = { .url = &url, .connect_timeout_ms = 500, .timeout_ms = timeout_ms };
	struct redis_conn *c = redis_conn_new(base, &o, "main");
	ck_assert_ptr_nonnull(c);
	ck_assert_msg(wait_state(c, REDIS_UP, 5), "connection did not come up");
	return c;
}

static void setup(void)
{
	char text[64];
	char err[256];
	snprintf(text, sizeof text, "redis://127.0.0.1:%d/0", redis_port);
	ck_assert_int_eq(conf_parse_redis_url(text, NULL, &url, err, sizeof err), 0);
	base = event_base_new();
	tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = { 0, 10000 };
	evtimer_add(tick, &tv);
	sync_connect();
	freeReplyObject(cmd("FLUSHALL"));
}

static void teardown(void)
{
	event_free(tick);
	event_base_free(base);
	conf_parse_redis_url_free(&url);
}

/* ---- collecting results ---------------------------------------------------- */

#define MAXR 64
struct collect {
	struct sharedbudget_result r[MAXR];
	int n;
	bool done;      /* set when N reaches WANT */
	int want;
};

static void collect_cb(const struct sharedbudget_result *r, void *arg)
{
	struct collect *c = arg;
	ck_assert_int_lt(c->n, MAXR);
	c->r[c->n++] = *r;
	if (c->n >= c->want)
		c->done = true;
}

static int count_status(const struct collect *c, enum sharedbudget_status s)
{
	int k = 0;
	for (int i = 0; i < c->n; i++)
		k += c->r[i].status == s;
	return k;
}

/* ---- tests ------------------------------------------------------------------- */

START_TEST(test_limit_never_exceeded)
{
	struct redis_conn *c = conn(1000);
	struct sharedbudget *sb = redis_budget_new("fgt", CLIENT, 5, 2000);
	struct collect col = { .want = 8 };
	for (int i = 0; i < 8; i++)
		ck_assert_ptr_nonnull(redis_budget_acquire(sb, c, collect_cb, &col));
	ck_assert(run_until(&col.done, 5));
	ck_assert_int_eq(count_status(&col, SHAREDBUDGET_GRANTED), 5);
	ck_assert_int_eq(count_status(&col, SHAREDBUDGET_WAIT), 3);
	for (int i = 0; i < col.n; i++) {
		if (col.r[i].status == SHAREDBUDGET_WAIT) {
			ck_assert_int_gt(col.r[i].wait_ms, 0);
			ck_assert_int_le(col.r[i].wait_ms, 2000);
		} else {
			ck_assert(col.r[i].lease[0] != '\0');
			ck_assert_int_le(col.r[i].in_window, 5);
		}
	}
	ck_assert_int_eq(cmd_int("ZCARD %s", redis_budget_log_key(sb)), 5);
	long long ttl = cmd_int("PTTL %s", redis_budget_log_key(sb));
	ck_assert_int_gt(ttl, 0);
	ck_assert_int_le(ttl, 3000);
	redis_budget_free(sb);
	redis_conn_free(c);
}
END_TEST

START_TEST(test_two_instances_share_one_window)
{
	struct redis_conn *a = conn(1000), *b = conn(1000);
	struct sharedbudget *sa = redis_budget_new("fgt", CLIENT, 6, 60000);
	struct sharedbudget *sbb = redis_budget_new("fgt", CLIENT, 6, 60000);
	struct collect col = { .want = 20 };
	ck_assert_str_eq(redis_budget_log_key(sa), redis_budget_log_key(sbb));
	for (int i = 0; i < 10; i++) {
		ck_assert_ptr_nonnull(redis_budget_acquire(sa, a, collect_cb, &col));
		ck_assert_ptr_nonnull(redis_budget_acquire(sbb, b, collect_cb, &col));
	}
	ck_assert(run_until(&col.done, 5));
	ck_assert_int_eq(count_status(&col, SHAREDBUDGET_GRANTED), 6);
	/* every lease distinct: two instances never mint the same id */
	for (int i = 0; i < col.n; i++)
		for (int j = i + 1; j < col.n; j++)
			if (col.r[i].status == SHAREDBUDGET_GRANTED && col.r[j].status == SHAREDBUDGET_GRANTED)
				ck_assert_str_ne(col.r[i].lease, col.r[j].lease);
	ck_assert_int_eq(cmd_int("ZCARD %s", redis_budget_log_key(sa)), 6);
	redis_budget_free(sa);
	redis_budget_free(sbb);
	redis_conn_free(a);
	redis_conn_free(b);
}
END_TEST

START_TEST(test_lease_restamped_or_removed)
{
	struct redis_conn *c = conn(1000);
	struct sharedbudget *sb = redis_budget_new("fgt", CLIENT, 10, 60000);
	struct collect col = { .want = 2 };
	const char *key = redis_budget_log_key(sb);
	redis_budget_acquire(sb, c, collect_cb, &col);
	redis_budget_acquire(sb, c, collect_cb, &col);
	ck_assert(run_until(&col.done, 5));
	ck_assert_int_eq(count_status(&col, SHAREDBUDGET_GRANTED), 2);
	redisReply *r = cmd("ZSCORE %s %s", key, col.r[0].lease);
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	long long granted_at = strtoll(r->str, NULL, 10);
	freeReplyObject(r);
	ck_assert_int_eq(granted_at, col.r[0].now_ms);
	/* let Redis's clock move on, so the re-stamp is visible */
	double deadline = mono() + 2;
	long long t;
	do {
		r = cmd("TIME");
		t = strtoll(r->element[0]->str, NULL, 10) * 1000 + strtoll(r->element[1]->str, NULL, 10) / 1000;
		freeReplyObject(r);
	} while (t < granted_at + 20 && mono() < deadline);
	struct collect done = { .want = 2 };
	ck_assert_int_eq(redis_budget_commit(sb, c, col.r[0].lease, true, collect_cb, &done), 0);
	ck_assert_int_eq(redis_budget_commit(sb, c, col.r[1].lease, false, collect_cb, &done), 0);
	ck_assert(run_until(&done.done, 5));
	ck_assert_int_eq(done.r[0].status, SHAREDBUDGET_GRANTED);
	r = cmd("ZSCORE %s %s", key, col.r[0].lease);
	long long stamped = strtoll(r->str, NULL, 10);
	freeReplyObject(r);
	ck_assert_int_ge(stamped, granted_at + 20);
	ck_assert_int_eq(stamped, done.r[0].now_ms);
	r = cmd("ZSCORE %s %s", key, col.r[1].lease);
	ck_assert_int_eq(r->type, REDIS_REPLY_NIL);   /* not used: not recorded */
	freeReplyObject(r);
	ck_assert_int_eq(cmd_int("ZCARD %s", key), 1);
	redis_budget_free(sb);
	redis_conn_free(c);
}
END_TEST

START_TEST(test_pause_honoured_by_every_instance)
{
	struct redis_conn *a = conn(1000), *b = conn(1000);
	struct sharedbudget *sa = redis_budget_new("fgt", CLIENT, 10, 60000);
	struct sharedbudget *sbb = redis_budget_new("fgt", CLIENT, 10, 60000);
	struct collect p = { .want = 2 };
	ck_assert_int_eq(redis_budget_pause(sa, a, 1500, collect_cb, &p), 0);
	ck_assert_int_eq(redis_budget_pause(sa, a, 200, collect_cb, &p), 0);  /* never shortens */
	ck_assert(run_until(&p.done, 5));
	ck_assert_int_eq(p.r[0].status, SHAREDBUDGET_PAUSED);
	ck_assert_int_eq(p.r[0].wait_ms, 1500);
	ck_assert_int_gt(p.r[1].wait_ms, 1000);
	long long pttl = cmd_int("PTTL %s", redis_budget_pause_key(sa));
	ck_assert_int_gt(pttl, 1000);
	ck_assert_int_le(pttl, 1500);
	struct collect col = { .want = 2 };
	redis_budget_acquire(sa, a, collect_cb, &col);
	redis_budget_acquire(sbb, b, collect_cb, &col);
	ck_assert(run_until(&col.done, 5));
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(col.r[i].status, SHAREDBUDGET_PAUSED);
		ck_assert_int_gt(col.r[i].wait_ms, 0);
		ck_assert_int_le(col.r[i].wait_ms, 1500);
	}
	ck_assert_int_eq(cmd_int("EXISTS %s", redis_budget_log_key(sa)), 0);  /* nothing recorded */
	redis_budget_free(sa);
	redis_budget_free(sbb);
	redis_conn_free(a);
	redis_conn_free(b);
}
END_TEST

START_TEST(test_every_key_has_a_ttl)
{
	struct redis_conn *c = conn(1000);
	struct sharedbudget *sb = redis_budget_new("fgt", CLIENT, 3, 60000);
	struct collect col = { .want = 5 };
	const char *leases[1] = { "seeded:1" };
	long long ages[1] = { 10 };
	redis_budget_acquire(sb, c, collect_cb, &col);
	redis_budget_acquire(sb, c, collect_cb, &col);
	redis_budget_pause(sb, c, 5000, collect_cb, &col);
	redis_budget_seed(sb, c, leases, ages, 1, 4000, collect_cb, &col);
	redis_budget_acquire(sb, c, collect_cb, &col);
	ck_assert(run_until(&col.done, 5));
	redisReply *keys = cmd("KEYS fgt:*");
	ck_assert_int_eq(keys->elements, 2);
	for (size_t i = 0; i < keys->elements; i++)
		ck_assert_msg(cmd_int("PTTL %s", keys->element[i]->str) > 0, "%s has no TTL",
			      keys->element[i]->str);
	freeReplyObject(keys);
	redis_budget_free(sb);
	redis_conn_free(c);
}
END_TEST

static long long eval_calls(void)
{
	redisReply *r = cmd("INFO commandstats");
	const char *p = strstr(r->str, "cmdstat_eval:calls=");
	long long n = p ? strtoll(p + strlen("cmdstat_eval:calls="), NULL, 10) : 0;
	freeReplyObject(r);
	return n;
}

START_TEST(test_noscript_falls_back_to_eval)
{
	struct redis_conn *c = conn(1000);
	struct sharedbudget *sb = redis_budget_new("fgt", CLIENT, 10, 60000);
	struct collect col = { .want = 1 };
	redis_budget_acquire(sb, c, collect_cb, &col);
	ck_assert(run_until(&col.done, 5));
	ck_assert_int_eq(col.r[0].status, SHAREDBUDGET_GRANTED);
	freeReplyObject(cmd("SCRIPT FLUSH"));
	long long before = eval_calls();
	struct collect col2 = { .want = 2 };
	redis_budget_acquire(sb, c, collect_cb, &col2);
	redis_budget_acquire(sb, c, collect_cb, &col2);
	ck_assert(run_until(&col2.done, 5));
	ck_assert_int_eq(count_status(&col2, SHAREDBUDGET_GRANTED), 2);
	ck_assert_int_ge(eval_calls(), before + 1);
	ck_assert_int_eq(cmd_int("ZCARD %s", redis_budget_log_key(sb)), 3);
	redis_budget_free(sb);
	redis_conn_free(c);
}
END_TEST

START_TEST(test_seed_counts_nothing_twice)
{
	struct redis_conn *c = conn(1000);
	struct sharedbudget *sb = redis_budget_new("fgt", CLIENT, 10, 10000);
	const char *leases[3] = { "i:1", "i:2", "i:3" };
	long long ages[3] = { 100, 2000, 10100 };   /* the last is out of the window */
	struct collect col = { .want = 2 };
	ck_assert_int_eq(redis_budget_seed(sb, c, leases, ages, 3, 3000, collect_cb, &col), 0);
	ck_assert_int_eq(redis_budget_seed(sb, c, leases, ages, 3, 0, collect_cb, &col), 0);
	ck_assert(run_until(&col.done, 5));
	ck_assert_int_eq(col.r[0].in_window, 2);
	ck_assert_int_eq(col.r[1].in_window, 2);
	ck_assert_int_gt(cmd_int("PTTL %s", redis_budget_pause_key(sb)), 2000);
	redis_budget_free(sb);
	redis_conn_free(c);
}
END_TEST

START_TEST(test_cancel_gives_the_slot_back)
{
	struct redis_conn *c = conn(1000);
	struct sharedbudget *sb = redis_budget_new("fgt", CLIENT, 10, 60000);
	struct collect col = { .want = 1 };
	struct sharedbudget_op *op = redis_budget_acquire(sb, c, collect_cb, &col);
	ck_assert_ptr_nonnull(op);
	redis_budget_cancel(op);
	/* a later command on the same connection is answered after the
	 * grant and the release it triggers */
	redis_budget_acquire(sb, c, collect_cb, &col);
	ck_assert(run_until(&col.done, 5));
	ck_assert_int_eq(col.n, 1);    /* the cancelled one never called back */
	double deadline = mono() + 5;
	while (cmd_int("ZCARD %s", redis_budget_log_key(sb)) != 1 && mono() < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_int_eq(cmd_int("ZCARD %s", redis_budget_log_key(sb)), 1);
	redis_budget_free(sb);
	redis_conn_free(c);
}
END_TEST

START_TEST(test_stopped_server_is_unknown_never_granted)
{
	if (!redis_pid)
		return;   /* a server we did not start is not ours to stop */
	struct redis_conn *c = conn(200);
	struct sharedbudget *sb = redis_budget_new("fgt", CLIENT, 10, 60000);
	struct collect col = { .want = 1 };
	kill(redis_pid, SIGSTOP);
	double t0 = mono();
	ck_assert_ptr_nonnull(redis_budget_acquire(sb, c, collect_cb, &col));
	bool got = run_until(&col.done, 3);
	double took = mono() - t0;
	ck_assert(got);
	ck_assert_int_eq(col.r[0].status, SHAREDBUDGET_UNKNOWN);
	ck_assert_double_lt(took, 1.5);
	/* not up any more: nothing is sent, the caller knows at once */
	ck_assert_int_ne(redis_conn_state(c), REDIS_UP);
	ck_assert_ptr_null(redis_budget_acquire(sb, c, collect_cb, &col));
	ck_assert(wait_state(c, REDIS_DOWN, 5));
	struct redis_stats st;
	redis_get_stats(&st);
	ck_assert_uint_ge(st.timeouts, 1);
	kill(redis_pid, SIGCONT);
	ck_assert(wait_state(c, REDIS_UP, 5));
	redis_budget_free(sb);
	redis_conn_free(c);
}
END_TEST

static struct redis_conn *free_me;

static void free_in_cb(const struct sharedbudget_result *r, void *arg)
{
	collect_cb(r, arg);
	if (free_me) {
		redis_conn_free(free_me);   /* inside the connection's own callback */
		free_me = NULL;
	}
}

START_TEST(test_free_inside_callback_is_safe)
{
	struct redis_conn *c = conn(1000);
	struct sharedbudget *sb = redis_budget_new("fgt", CLIENT, 10, 60000);
	struct collect col = { .want = 3 };
	free_me = c;
	for (int i = 0; i < 3; i++)
		ck_assert_ptr_nonnull(redis_budget_acquire(sb, c, free_in_cb, &col));
	/* every command is answered exactly once: granted if its reply was
	 * already read, else unknown when the deferred free closes it */
	ck_assert(run_until(&col.done, 5));
	ck_assert_int_eq(col.n, 3);
	ck_assert_int_eq(col.r[0].status, SHAREDBUDGET_GRANTED);
	for (int i = 1; i < 3; i++)
		ck_assert(col.r[i].status == SHAREDBUDGET_GRANTED || col.r[i].status == SHAREDBUDGET_UNKNOWN);
	/* the loop runs the deferred free; nothing is left to call back */
	for (int i = 0; i < 5; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(col.n, 3);
	redis_budget_free(sb);
}
END_TEST

struct sub_log {
	int subscribed, dropped, messages;
	char last[64];
};

static void sub_cb(enum redis_sub_event ev, const char *msg, size_t len, void *arg)
{
	struct sub_log *l = arg;
	if (ev == REDIS_SUB_SUBSCRIBED)
		l->subscribed++;
	else if (ev == REDIS_SUB_DROPPED)
		l->dropped++;
	else {
		l->messages++;
		snprintf(l->last, sizeof l->last, "%.*s", (int)len, msg);
	}
}

static bool sub_wait(const int *counter, int want, double secs)
{
	double deadline = mono() + secs;
	while (*counter < want && mono() < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	return *counter >= want;
}

/* A subscriber gets messages, is told when its subscription drops (what
 * was published meanwhile is lost) and resubscribes by itself. */
START_TEST(test_subscriber_drop_and_resubscribe)
{
	struct redis_opts o = { .url = &url, .connect_timeout_ms = 500, .timeout_ms = 500 };
	struct sub_log l = { 0 };
	struct redis_conn *s = redis_subscriber_new(base, &o, "fgt:inval", sub_cb, &l);
	ck_assert_ptr_nonnull(s);
	ck_assert(sub_wait(&l.subscribed, 1, 5));
	ck_assert_int_eq(redis_conn_state(s), REDIS_UP);
	freeReplyObject(cmd("PUBLISH fgt:inval %s", "vin-1"));
	ck_assert(sub_wait(&l.messages, 1, 5));
	ck_assert_str_eq(l.last, "vin-1");
	freeReplyObject(cmd("CLIENT KILL TYPE pubsub"));
	ck_assert(sub_wait(&l.dropped, 1, 5));
	ck_assert(sub_wait(&l.subscribed, 2, 5));
	freeReplyObject(cmd("PUBLISH fgt:inval %s", "vin-2"));
	ck_assert(sub_wait(&l.messages, 2, 5));
	ck_assert_str_eq(l.last, "vin-2");
	redis_conn_free(s);
	ck_assert_int_eq(l.dropped, 1);   /* freeing is not a drop */
}
END_TEST

START_TEST(test_fallback_share)
{
	ck_assert_uint_eq(redis_budget_fallback_share(60, 2), 30);
	ck_assert_uint_eq(redis_budget_fallback_share(60, 7), 8);
	ck_assert_uint_eq(redis_budget_fallback_share(60, 1), 60);
	ck_assert_uint_eq(redis_budget_fallback_share(1, 2), 0);
	ck_assert_uint_eq(redis_budget_fallback_share(60, 0), 60);
}
END_TEST

START_TEST(test_keys_hash_the_client_id)
{
	struct sharedbudget *sb = redis_budget_new("fleetgate", CLIENT, 10, 60000);
	const char *k = redis_budget_log_key(sb);
	ck_assert_ptr_null(strstr(k, CLIENT));
	ck_assert_int_eq(strncmp(k, "fleetgate:budget:{", 18), 0);
	ck_assert_uint_eq(strlen(k), 18 + 32 + 1);
	ck_assert_str_eq(k + 51, "");
	char want[128];
	snprintf(want, sizeof want, "%s:pause", k);
	ck_assert_str_eq(redis_budget_pause_key(sb), want);
	redis_budget_free(sb);
}
END_TEST

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	start_redis();
	Suite *s = suite_create("sharedbudget");
	TCase *tc = tcase_create("redis");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_limit_never_exceeded);
	tcase_add_test(tc, test_two_instances_share_one_window);
	tcase_add_test(tc, test_lease_restamped_or_removed);
	tcase_add_test(tc, test_pause_honoured_by_every_instance);
	tcase_add_test(tc, test_every_key_has_a_ttl);
	tcase_add_test(tc, test_noscript_falls_back_to_eval);
	tcase_add_test(tc, test_seed_counts_nothing_twice);
	tcase_add_test(tc, test_cancel_gives_the_slot_back);
	tcase_add_test(tc, test_stopped_server_is_unknown_never_granted);
	tcase_add_test(tc, test_free_inside_callback_is_safe);
	tcase_add_test(tc, test_subscriber_drop_and_resubscribe);
	suite_add_tcase(s, tc);
	TCase *pure = tcase_create("pure");
	tcase_add_test(pure, test_fallback_share);
	tcase_add_test(pure, test_keys_hash_the_client_id);
	suite_add_tcase(s, pure);
	int rc = check_run(s);
	if (sync_c)
		redisFree(sync_c);
	if (redis_pid) {
		kill(redis_pid, SIGCONT);
		kill(redis_pid, SIGKILL);
		waitpid(redis_pid, NULL, 0);
	}
	return rc;
}
