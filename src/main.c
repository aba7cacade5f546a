/* main.c: flags, start-up, signals as libevent events, the main loop.
 *
 * The main thread owns the admin listener, the token manager and reloads;
 * workers (http.c) own tenant traffic. SIGHUP, SIGTERM and SIGINT arrive
 * as libevent signal events, so a reload runs in loop context, never in a
 * signal handler. This is the only file that decides the exit status:
 * 0 normal, 1 configuration error, 2 start-up failure. */
#include "fleetgate.h"
#include "admin.h"
#include "batch.h"
#include "budget.h"
#include "cache.h"
#include "clock.h"
#include "config.h"
#include "http.h"
#include "listen.h"
#include "log.h"
#include "notify.h"
#include "redis.h"
#include "ratelimit.h"
#include "request.h"
#include "stats.h"
#include "token.h"
#include <curl/curl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAIN_DEFAULT_CONFIG FG_SYSCONFDIR "/fleetgate/fleetgate.conf"

static struct {
	const char *path;
	struct event_base *base;
	struct event *drain_timer;
	double drain_deadline;
	bool stopping;
} m;

static void main_usage(FILE *out)
{
	fprintf(out,
		"usage: fleetgate [-c FILE] [-t] [-V] [-h]\n"
		"  -c FILE  main configuration file (default %s)\n"
		"  -t       check the whole configuration and exit\n"
		"  -V       print the version and exit\n"
		"  -h       this help\n", MAIN_DEFAULT_CONFIG);
}

static void main_print_errors(const struct fg_errors *e, FILE *out)
{
	for (size_t i = 0; i < e->n; i++)
		fprintf(out, "%s\n", e->lines[i]);
}

static void main_reload(void)
{
	struct fg_errors errs = { 0 };
	char err[FG_ERR_LEN];
	log_info("SIGHUP: reloading %s", m.path);
	struct fg_config *c = config_load(m.path, &errs);
	if (!c) {
		for (size_t i = 0; i < errs.n; i++)
			log_error("reload refused: %s", errs.lines[i]);
		log_error("reload refused: the old configuration stays in force");
		errors_free(&errs);
		stats_reload(false);
		return;
	}
	errors_free(&errs);
	if (listen_prepare(c, err, sizeof err) < 0) {
		log_error("reload refused: %s; the old configuration stays in force", err);
		config_unref(c);
		stats_reload(false);
		return;
	}
	config_ref(c);
	config_swap(c);
	/* Only now, with C in force, do workers see its new listeners. */
	listen_commit(c);
	token_config_changed(c);
	budget_set_rate(budget_shared(), c->vin_get_rate.count, c->vin_get_rate.window_s);
	batch_config_changed(c);
	stats_reload(true);
	log_info("configuration reloaded: generation %u, %zu tenants, %zu VINs",
		 c->generation, c->ntenants, c->nvins);
	config_unref(c);
}

/* SIGHUP reopens the access and audit logs even when the reload was
 * refused: logrotate has moved the files either way, and a broken config
 * must not leave the logs going into the rotated copy. */
static void main_reopen_logs(void)
{
	char err[FG_ERR_LEN];
	struct fg_config *c = config_current();
	if (c && log_open(c, err, sizeof err) < 0)
		log_error("SIGHUP: %s", err);
	if (c)
		config_unref(c);
}

static void main_drain_check(evutil_socket_t fd, short what, void *arg)
{
	long left = http_in_flight();
	if ((left == 0 && http_accepting_stopped()) || clock_now() >= m.drain_deadline) {
		if (left)
			log_warn("shutdown: %ld requests still in flight after shutdown_timeout", left);
		event_base_loopbreak(m.base);
		return;
	}
	struct timeval tv = { 0, 20000 };
	evtimer_add(m.drain_timer, &tv);
}

static void main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	if (sig == SIGHUP) {
		if (!m.stopping) {
			notify_reloading();
			main_reload();
			main_reopen_logs();
			notify_ready();
		}
		return;
	}
	if (m.stopping)
		return;
	m.stopping = true;
	notify_stopping();
	struct fg_config *c = config_current();
	log_info("%s: no longer accepting; finishing %ld requests in flight (up to %d s)",
		 sig == SIGTERM ? "SIGTERM" : "SIGINT", http_in_flight(), c->shutdown_timeout);
	m.drain_deadline = clock_now() + c->shutdown_timeout;
	config_unref(c);
	http_stop_accepting();
	m.drain_timer = evtimer_new(m.base, main_drain_check, NULL);
	main_drain_check(-1, 0, NULL);
}

/* The main base's Redis connection (budget and control traffic, later);
 * started here so /stats shows whether Redis is reachable from the start.
 * [redis] is not reloadable: the connection keeps its start-up settings. */
static struct redis_conn *main_redis_start(const struct fg_config *c)
{
	if (!config_redis_on(c))
		return NULL;
	struct redis_opts o = {
		.url = &c->redis_url, .username = c->redis_username, .password = &c->redis_password,
		.connect_timeout_ms = c->redis_connect_timeout_ms, .timeout_ms = c->redis_timeout_ms,
	};
	return redis_conn_new(m.base, &o, "main");
}

static void main_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	log_flush();
}

static int main_check(const char *path)
{
	struct fg_errors errs = { 0 };
	struct fg_config *c = config_load(path, &errs);
	if (!c) {
		main_print_errors(&errs, stderr);
		errors_free(&errs);
		return 1;
	}
	errors_free(&errs);
	config_unref(c);
	printf("configuration OK\n");
	return 0;
}

static int main_run(struct fg_config *c)
{
	char err[FG_ERR_LEN];
	int rc = 2;
	static const int signums[3] = { SIGHUP, SIGTERM, SIGINT };
	struct event *sigs[3] = { 0 }, *flush = NULL;
	struct evhttp *admin = NULL;
	struct stats_shard *shard = NULL;
	struct redis_conn *redis = NULL;

	if (log_open(c, err, sizeof err) < 0) {
		fprintf(stderr, "fleetgate: %s\n", err);
		return 2;
	}
	if (listen_open(c, err, sizeof err) < 0) {
		log_error("%s", err);
		goto out;
	}
	m.base = event_base_new();
	shard = stats_shard_new();
	if (!m.base || !shard)
		goto out;
	stats_thread_init(shard);
	http_set_handler(&request_handler);
	/* The shared cache and budget exist before any worker can ask for
	 * them, and the budget has its configured rate from the start (so
	 * /stats shows it before the first read). */
	if (cache_start() < 0 || budget_start(c->vin_get_rate.count, c->vin_get_rate.window_s) < 0 ||
	    token_start(m.base, c) < 0 || batch_start(m.base, c) < 0 || http_workers_start(c) < 0 || listen_serve() < 0 ||
	    http_workers_run() < 0) {
		log_error("cannot start the workers");
		goto out;
	}
	redis = main_redis_start(c);
	admin = listen_admin_bind(m.base, admin_request_cb, NULL, c->client_timeout);
	if (!admin) {
		log_error("cannot serve the admin listener");
		goto out;
	}
	for (int i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(m.base, signums[i], main_signal_cb, NULL);
		if (sigs[i])
			evsignal_add(sigs[i], NULL);
	}
	flush = event_new(m.base, -1, EV_PERSIST, main_flush_cb, NULL);
	struct timeval one = { 1, 0 };
	evtimer_add(flush, &one);
	log_info("fleetgate %s started: %d workers, %zu tenants, %zu VINs, upstream %s",
		 FG_VERSION, c->workers, c->ntenants, c->nvins, c->base_url);
	notify_ready();
	event_base_dispatch(m.base);
	rc = 0;
	log_info("stopped");
out:
	/* Stopping for good: a SIGTERM repeated while the clean-up below runs
	 * must not turn exit status 0 into death by signal. Freeing a signal
	 * event gives the signal back its old (default) action, so it goes
	 * first, and the signals are ignored from then on. */
	for (int i = 0; i < 3; i++) {
		if (sigs[i])
			event_free(sigs[i]);
		sigs[i] = NULL;
		signal(signums[i], SIG_IGN);
	}
	http_workers_stop();
	batch_stop();   /* after the workers: nothing joins a batch any more */
	listen_close_all();
	token_stop();
	cache_shutdown();
	budget_shutdown();
	redis_conn_free(redis);
	ratelimit_shutdown();
	if (admin)
		evhttp_free(admin);
	if (flush)
		event_free(flush);
	if (m.drain_timer)
		event_free(m.drain_timer);
	if (m.base)
		event_base_free(m.base);
	if (shard)
		stats_shard_free(shard);
	log_flush();
	log_close();
	return rc;
}

int main(int argc, char **argv)
{
	bool check = false;
	int opt;
	m.path = MAIN_DEFAULT_CONFIG;
	while ((opt = getopt(argc, argv, "c:tVh")) != -1) {
		switch (opt) {
		case 'c': m.path = optarg; break;
		case 't': check = true; break;
		case 'V': printf("fleetgate %s\n", FG_VERSION); return 0;
		case 'h': main_usage(stdout); return 0;
		default: main_usage(stderr); return 1;
		}
	}
	if (optind < argc) {
		main_usage(stderr);
		return 1;
	}
	if (check)
		return main_check(m.path);

	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "fleetgate: cannot initialise libcurl\n");
		return 2;
	}
	stats_init();
	struct fg_errors errs = { 0 };
	struct fg_config *c = config_load(m.path, &errs);
	if (!c) {
		main_print_errors(&errs, stderr);
		errors_free(&errs);
		curl_global_cleanup();
		return 1;
	}
	errors_free(&errs);
	config_ref(c);
	config_swap(c);
	int rc = main_run(c);
	config_unref(c);
	config_swap(NULL);
	curl_global_cleanup();
	return rc;
}
