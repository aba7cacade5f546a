/* main.c: flags, start-up, signals as libevent events, the main loop.
 *
 * The main thread owns the admin listener, the token manager and reloads;
 * workers (http.c) own tenant traffic. Signals arrive as libevent signal
 * events, so a reload runs in loop context, never in a signal handler.
 * As nginx: SIGHUP reloads (and reopens the logs), SIGUSR1 only reopens
 * the logs, SIGTERM and SIGQUIT stop gracefully (a lame-duck phase of
 * drain_delay seconds with /readyz 503, then a drain of up to
 * shutdown_timeout), SIGINT stops fast (no lame duck, the same drain). This is the only file that decides the exit status:
 * 0 normal, 1 configuration error, 2 start-up failure. */
#include "fleetgate.h"
#include "admin.h"
#include "up_listread.h"
#include "budget.h"
#include "cache.h"
#include "clock.h"
#include "conf.h"
#include "conf_check.h"
#include "conf_listen.h"
#include "http.h"
#include "http_listen.h"
#include "hook_in.h"
#include "http_tls.h"
#include "req_localtoken.h"
#include "log.h"
#include "notify.h"
#include "redis.h"
#include "budget_shared.h"
#include "redis_cache.h"
#include "redis_drift.h"
#include "req_tenantrate.h"
#include "req_steps.h"
#include "stats.h"
#include "up_token.h"
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
	struct event *lame_timer;   /* pending while in the lame-duck phase */
	double drain_deadline;
	bool stopping;
} m;

static void main_usage(FILE *out)
{
	fprintf(out,
		"usage: fleetgate [-c FILE] [-t|-T] [-q] [-V] [-h]\n"
		"  -c, --config FILE  main configuration file (default %s)\n"
		"  -t, --test         check the whole configuration and exit\n"
		"  -T, --test-print   check it, print the effective configuration and exit\n"
		"  -q, --quiet        with -t: print errors only, no \"configuration OK\"\n"
		"  -V, --version      print the version and exit\n"
		"  -h, --help         this help\n", MAIN_DEFAULT_CONFIG);
}

/* Loads PATH with every check -t makes; NULL with ERRS filled otherwise. */
static struct fg_config *main_load(const char *path, struct fg_errors *errs)
{
	struct fg_config *c = conf_load(path, errs);
	if (c) {
		conf_check_files(c, errs);
		http_tls_prepare(c, errs);   /* a TLS context that cannot be made refuses the load */
		if (errs->n) {
			conf_unref(c);
			c = NULL;
		}
	}
	return c;
}

/* Under -t the lines go to stderr as they are (FILE:LINE: message); a
 * running daemon sends them through the log functions, with time stamp
 * (or journal priority) and level. */
static void main_report(const struct fg_errors *e, bool plain, const char *what)
{
	for (size_t i = 0; i < e->nwarn; i++) {
		if (plain)
			fprintf(stderr, "warning: %s\n", e->warnings[i]);
		else
			log_warn("%s", e->warnings[i]);
	}
	for (size_t i = 0; i < e->n; i++) {
		if (plain)
			fprintf(stderr, "%s\n", e->lines[i]);
		else
			log_error("%s%s", what, e->lines[i]);
	}
}

static void main_reload(void)
{
	struct fg_errors errs = { 0 };
	char err[FG_ERR_LEN];
	log_info("SIGHUP: reloading %s", m.path);
	struct fg_config *c = main_load(m.path, &errs);
	struct fg_config *now = c ? conf_current() : NULL;
	if (now) {
		/* The admin listeners in force move only with a restart: the
		 * new file's token rules must protect them too. */
		conf_listen_check_admin(c->path, &now->admin_listen, c->admin_token_sha256 || c->admin_open, &errs,
					conf_key_line(c, "gateway", "admin_token_sha256"));
		conf_unref(now);
		if (errs.n) {
			conf_unref(c);
			c = NULL;
		}
	}
	main_report(&errs, false, "reload refused: ");
	conf_errors_free(&errs);
	if (!c) {
		log_error("reload refused: the old configuration stays in force");
		stats_reload(false);
		return;
	}
	if (http_listen_prepare(c, err, sizeof err) < 0) {
		log_error("reload refused: %s; the old configuration stays in force", err);
		conf_unref(c);
		stats_reload(false);
		return;
	}
	struct fg_config *old = conf_current();
	if (old) {
		conf_check_restart_keys(old, c);
		conf_unref(old);
	}
	conf_ref(c);
	conf_swap(c);
	/* Only now, with C in force, do workers see its new listeners. */
	http_listen_commit(c);
	up_token_config_changed(c);
	budget_set_rate(budget_shared(), c->vin_get_rate.count, c->vin_get_rate.window_s);
	up_listread_config_changed(c);
	hook_in_config_changed(c);
	redis_drift_config_changed(c);
	stats_reload(true);
	log_info("configuration reloaded: generation %u, %zu tenants, %zu VINs",
		 c->generation, c->ntenants, c->nvins);
	conf_unref(c);
}

/* SIGUSR1 (what logrotate sends nginx) reopens the access and audit logs
 * and does nothing else: a rotation must not apply a half-edited tenant
 * file. SIGHUP reopens them too, even when the reload was refused:
 * logrotate may have moved the files either way. */
static void main_reopen_logs(const char *why)
{
	char err[FG_ERR_LEN];
	struct fg_config *c = conf_current();
	if (c && log_open(c, err, sizeof err) < 0)
		log_error("%s: %s", why, err);
	else if (c)
		log_info("%s: logs reopened", why);
	if (c)
		conf_unref(c);
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

/* The end of the lame-duck phase (or a fast stop): stop accepting, then
 * wait for the requests in flight up to shutdown_timeout. */
static void main_drain_begin(evutil_socket_t fd, short what, void *arg)
{
	if (m.drain_timer)
		return;
	struct fg_config *c = conf_current();
	log_info("no longer accepting; finishing %ld requests in flight (up to %d s)",
		 http_in_flight(), c->shutdown_timeout);
	m.drain_deadline = clock_now() + c->shutdown_timeout;
	conf_unref(c);
	http_stop_accepting();
	m.drain_timer = evtimer_new(m.base, main_drain_check, NULL);
	main_drain_check(-1, 0, NULL);
}

/* The main base's Redis connection (the shared budget and control
 * traffic); started with the budget, before any worker can ask for a slot.
 * [redis] is not reloadable: the connection keeps its start-up settings. */
static struct redis_conn *main_redis_start(const struct fg_config *c)
{
	if (!conf_redis_on(c))
		return NULL;
	struct redis_opts o = {
		.url = &c->redis_url, .username = c->redis_username, .password = &c->redis_password,
		.connect_timeout_ms = c->redis_connect_timeout_ms, .timeout_ms = c->redis_timeout_ms,
		.max_reply_bytes = conf_redis_max_reply(c),
	};
	return redis_conn_new(m.base, &o, "main");
}

static const char *main_signame(int sig)
{
	switch (sig) {
	case SIGTERM: return "SIGTERM";
	case SIGQUIT: return "SIGQUIT";
	case SIGINT: return "SIGINT";
	default: return "signal";
	}
}

/* SIGTERM and SIGQUIT: a load balancer polling /readyz sees 503 and takes
 * the instance out while it still serves, for drain_delay seconds. SIGINT
 * (or a SIGINT during that phase) skips to the drain at once. */
static void main_stop(int sig)
{
	if (m.stopping) {
		if (sig == SIGINT && m.lame_timer && !m.drain_timer) {
			log_info("SIGINT: lame-duck phase cut short");
			main_drain_begin(-1, 0, NULL);
		}
		return;
	}
	m.stopping = true;
	notify_stopping();
	admin_set_draining();
	struct fg_config *c = conf_current();
	int delay = sig == SIGINT ? 0 : c->drain_delay;
	conf_unref(c);
	if (delay <= 0) {
		log_info("%s: stopping", main_signame(sig));
		main_drain_begin(-1, 0, NULL);
		return;
	}
	log_info("%s: lame duck for %d s (/readyz answers 503, requests are still served), then drain",
		 main_signame(sig), delay);
	struct timeval tv = { delay, 0 };
	m.lame_timer = evtimer_new(m.base, main_drain_begin, NULL);
	if (!m.lame_timer || evtimer_add(m.lame_timer, &tv) < 0)
		main_drain_begin(-1, 0, NULL);
}

static void main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	if (sig == SIGUSR1) {
		main_reopen_logs("SIGUSR1");
		return;
	}
	if (sig == SIGHUP) {
		if (!m.stopping) {
			notify_reloading();
			main_reload();
			main_reopen_logs("SIGHUP");
			notify_ready();
		}
		return;
	}
	main_stop((int)sig);
}

/* With [redis]: the connection and the budget's gate (-1: out of memory). */
static int main_share_start(struct fg_config *c, struct redis_conn **redis)
{
	if (!conf_redis_on(c))
		return 0;
	*redis = main_redis_start(c);
	if (!*redis)
		return -1;
	if (budget_shared_start(m.base, *redis, budget_shared(), c) < 0 || redis_drift_start(m.base, *redis, c) < 0)
		return -1;
	return redis_cache_start(m.base, c);
}

/* Each worker's base gets its second-level cache connection now, so the
 * first reads find it connected, and drops it when the worker frees its
 * base (the worker layer never names Redis: this is its "base gone" hook). */
static int main_workers_redis(void)
{
	if (!redis_cache_on())
		return 0;
	if (http_on_base_gone(redis_cache_base_gone) < 0)
		return -1;
	http_workers_each_base(redis_cache_base_add);
	return 0;
}

static void main_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	log_flush();
}

/* -t and -T: exit 0 when the configuration is valid (warnings do not
 * change that), 1 with every error otherwise. */
static int main_check(const char *path, bool print, bool quiet)
{
	struct fg_errors errs = { 0 };
	struct fg_config *c = main_load(path, &errs);
	main_report(&errs, true, "");
	conf_errors_free(&errs);
	if (!c)
		return 1;
	if (!quiet) {
		conf_tls_report(&c->tls, print ? stderr : stdout);
		conf_tls_report(&c->webhook_tls, print ? stderr : stdout);
	}
	if (print)
		conf_check_print(c, stdout);
	conf_unref(c);
	if (!quiet)
		fprintf(print ? stderr : stdout, "configuration OK\n");
	return 0;
}

static int main_run(struct fg_config *c)
{
	char err[FG_ERR_LEN];
	int rc = 2;
	static const int signums[] = { SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1 };
	enum { NSIGS = sizeof signums / sizeof signums[0] };
	struct event *sigs[NSIGS] = { 0 }, *flush = NULL;
	struct evhttp *admin = NULL;
	struct stats_shard *shard = NULL;
	struct redis_conn *redis = NULL;

	if (log_open(c, err, sizeof err) < 0) {
		log_error("%s", err);
		return 2;
	}
	if (http_listen_open(c, err, sizeof err) < 0) {
		log_error("%s", err);
		goto out;
	}
	m.base = event_base_new();
	shard = stats_shard_new();
	if (!m.base || !shard)
		goto out;
	stats_thread_init(shard);
	http_set_handler(&req_handler);
	/* The shared cache and budget exist before any worker can ask for
	 * them, and the budget has its configured rate from the start (so
	 * /stats shows it before the first read). */
	if (cache_start() < 0 || budget_start(c->vin_get_rate.count, c->vin_get_rate.window_s) < 0 ||
	    main_share_start(c, &redis) < 0 ||
	    up_token_start(m.base, c) < 0 || up_listread_start(m.base, c) < 0 || http_workers_start(c) < 0 || main_workers_redis() < 0 ||
	    http_listen_serve() < 0 ||
	    http_workers_run() < 0) {
		log_error("cannot start the workers");
		goto out;
	}
	admin = http_listen_admin_bind(m.base, admin_request_cb, NULL, c->admin_idle_timeout);
	if (!admin) {
		log_error("cannot serve the admin listener");
		goto out;
	}
	/* The webhook listener on the main base too, with the list-read
	 * batcher its verifications use; redis shares its dedupe window. */
	if (hook_in_start(m.base, redis, c, err, sizeof err) < 0) {
		log_error("webhook: %s", err);
		goto out;
	}
	for (int i = 0; i < NSIGS; i++) {
		sigs[i] = evsignal_new(m.base, signums[i], main_signal_cb, NULL);
		if (sigs[i])
			evsignal_add(sigs[i], NULL);
	}
	flush = event_new(m.base, -1, EV_PERSIST, main_flush_cb, NULL);
	struct timeval one = { 1, 0 };
	evtimer_add(flush, &one);
	stats_loaded(true);   /* the start-up load is the first */
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
	for (int i = 0; i < NSIGS; i++) {
		if (sigs[i])
			event_free(sigs[i]);
		sigs[i] = NULL;
		signal(signums[i], SIG_IGN);
	}
	http_workers_stop();
	hook_in_stop();       /* its checks wait on list reads; before the Redis connection goes */
	up_listread_stop();   /* after the workers: nothing joins a batch any more */
	http_listen_close_all();
	up_token_stop();
	req_localtoken_clear();   /* the workers are gone: no lookup can race it */
	redis_cache_stop();   /* its subscriber touches the cache */
	redis_drift_stop();
	cache_shutdown();
	/* The connection first: freeing it answers its pending commands (as
	 * failed), and those answers go to the shared budget's gate, which
	 * must still be there; then the gate, then the budget it gates. */
	redis_conn_free(redis);
	budget_shared_stop();
	budget_shutdown();
	req_tenantrate_shutdown();
	if (admin)
		evhttp_free(admin);
	if (flush)
		event_free(flush);
	if (m.drain_timer)
		event_free(m.drain_timer);
	if (m.lame_timer)
		event_free(m.lame_timer);
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
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "test-print", no_argument, NULL, 'T' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool check = false, print = false, quiet = false;
	int opt;
	m.path = MAIN_DEFAULT_CONFIG;
	while ((opt = getopt_long(argc, argv, "c:tTqVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': m.path = optarg; break;
		case 't': check = true; break;
		case 'T': check = print = true; break;
		case 'q': quiet = true; break;
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
		return main_check(m.path, print, quiet);

	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "fleetgate: cannot initialise libcurl\n");
		return 2;
	}
	stats_init();
	struct fg_errors errs = { 0 };
	/* Not main_load: a log file that cannot be opened is a start-up
	 * failure (exit 2, from log_open), not a configuration error. */
	struct fg_config *c = conf_load(m.path, &errs);
	if (c && http_tls_prepare(c, &errs) < 0) {
		conf_unref(c);
		c = NULL;
	}
	main_report(&errs, false, "");
	conf_errors_free(&errs);
	if (!c) {
		log_error("cannot start: the configuration %s is not valid", m.path);
		curl_global_cleanup();
		return 1;
	}
	conf_ref(c);
	conf_swap(c);
	int rc = main_run(c);
	conf_unref(c);
	conf_swap(NULL);
	curl_global_cleanup();
	return rc;
}
