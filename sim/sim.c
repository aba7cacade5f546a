/* sim.c: fleetgate-sim's entry point: command line, listener (HTTP or
 * HTTPS), signals, and the clean-up that keeps valgrind quiet at exit.
 *
 * fleetgate-sim stands in for the High Mobility Fleet Clearance API and its
 * OAuth2 token endpoint so that fleetgate's tests and quick start run
 * without network access (docs/simulator.md). */
#include "sim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

struct sim sim_g;

static const char sim_usage_text[] =
	"usage: fleetgate-sim --listen HOST:PORT --client-id ID\n"
	"         [--client-secret SECRET] [--public-key PEM --key-id KID [--audience AUD]]\n"
	"         [--tls-cert PEM --tls-key PEM] [--token-lifetime SECONDS] [--jwt-tokens]\n"
	"         [--jwt-lifetime SECONDS]  (exp of JWT tokens, shorter than expires_in)\n"
	"         [--seed FILE.json] [--seed-count N [--seed-prefix P]]\n"
	"         [--pending-delay SECONDS] [--vin-rate N] [--list-rate N] [--port-file FILE]\n"
	"         [--webhook-url http://HOST:PORT/PATH --webhook-secret SECRET] [-v] [-h]\n";

int64_t sim_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wall-clock ISO 8601 time of a monotonic instant: changelog entries are
 * stamped when a transition was due, not when someone happened to look. */
void sim_iso_time(int64_t mono_ms, char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	time_t t;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = ts.tv_sec - (time_t)((sim_now_ms() - mono_ms) / 1000);
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void sim_die_usage(const char *msg, const char *arg)
{
	if (arg)
		fprintf(stderr, "fleetgate-sim: %s: %s\n", msg, arg);
	else
		fprintf(stderr, "fleetgate-sim: %s\n", msg);
	fputs(sim_usage_text, stderr);
	exit(1);
}

static long sim_parse_long(const char *s, long min, long max, const char *opt)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		sim_die_usage("bad number for", opt);
	return v;
}

/* HOST:PORT, [V6]:PORT; the port may be 0 (the kernel picks one). */
static void sim_parse_listen(const char *s)
{
	const char *colon = strrchr(s, ':');
	size_t hlen;

	if (!colon || colon == s)
		sim_die_usage("--listen wants HOST:PORT, got", s);
	hlen = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hlen < 3 || s[hlen - 1] != ']')
			sim_die_usage("bad IPv6 address in --listen", s);
		sim_g.cfg.listen_host = strndup(s + 1, hlen - 2);
	} else {
		sim_g.cfg.listen_host = strndup(s, hlen);
	}
	sim_g.cfg.listen_port = (int)sim_parse_long(colon + 1, 0, 65535, "--listen");
}

/* Generated VINs are PREFIX + counter zero-padded to 17 characters. */
static void sim_check_seed_prefix(const struct sim_config *c)
{
	char digits[24];

	snprintf(digits, sizeof(digits), "%ld", c->seed_count);
	if (c->seed_count && strlen(c->seed_prefix) + strlen(digits) > 17)
		sim_die_usage("--seed-prefix too long for --seed-count in 17 characters",
			      c->seed_prefix);
}

static void sim_parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "client-id", required_argument, NULL, 'i' },
		{ "client-secret", required_argument, NULL, 's' },
		{ "public-key", required_argument, NULL, 'P' },
		{ "key-id", required_argument, NULL, 'k' },
		{ "audience", required_argument, NULL, 'a' },
		{ "token-lifetime", required_argument, NULL, 'L' },
		{ "jwt-tokens", no_argument, NULL, 'J' },
		{ "jwt-lifetime", required_argument, NULL, 'j' },
		{ "seed", required_argument, NULL, 'S' },
		{ "seed-count", required_argument, NULL, 'N' },
		{ "seed-prefix", required_argument, NULL, 'p' },
		{ "pending-delay", required_argument, NULL, 'D' },
		{ "vin-rate", required_argument, NULL, 'R' },
		{ "list-rate", required_argument, NULL, 'r' },
		{ "port-file", required_argument, NULL, 'F' },
		{ "webhook-url", required_argument, NULL, 'W' },
		{ "webhook-secret", required_argument, NULL, 'w' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct sim_config *c = &sim_g.cfg;
	int o;

	c->token_lifetime = 300;
	c->pending_delay = 5;
	c->vin_rate = 60;
	c->seed_prefix = "SIMVIN";
	while ((o = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (o) {
		case 'l': free(c->listen_host); sim_parse_listen(optarg); break;
		case 'C': c->tls_cert = optarg; break;
		case 'K': c->tls_key = optarg; break;
		case 'i': c->client_id = optarg; break;
		case 's': c->client_secret = optarg; break;
		case 'P': c->public_key_file = optarg; break;
		case 'k': c->key_id = optarg; break;
		case 'a': c->audience = optarg; break;
		case 'L': c->token_lifetime = sim_parse_long(optarg, 1, 86400 * 365, "--token-lifetime"); break;
		case 'J': c->jwt_tokens = 1; break;
		case 'j': c->jwt_lifetime = sim_parse_long(optarg, 1, 86400 * 365, "--jwt-lifetime"); break;
		case 'S': c->seed_file = optarg; break;
		case 'N': c->seed_count = sim_parse_long(optarg, 0, 100000000, "--seed-count"); break;
		case 'p': c->seed_prefix = optarg; break;
		case 'D': c->pending_delay = sim_parse_long(optarg, 0, 86400 * 365, "--pending-delay"); break;
		case 'R': c->vin_rate = sim_parse_long(optarg, 0, 100000000, "--vin-rate"); break;
		case 'r': c->list_rate = sim_parse_long(optarg, 0, 100000000, "--list-rate"); break;
		case 'F': c->port_file = optarg; break;
		case 'W': c->webhook_url = optarg; break;
		case 'w': c->webhook_secret = optarg; break;
		case 'v': c->verbose = 1; break;
		case 'h': fputs(sim_usage_text, stdout); exit(0);
		default: sim_die_usage("bad arguments", NULL);
		}
	}
	if (optind < argc)
		sim_die_usage("unexpected argument", argv[optind]);
	if (!c->listen_host)
		sim_die_usage("--listen is required", NULL);
	if (!c->client_id)
		sim_die_usage("--client-id is required", NULL);
	if (!c->client_secret && !c->public_key_file)
		sim_die_usage("--client-secret or --public-key is required", NULL);
	if (c->public_key_file && !c->key_id)
		sim_die_usage("--public-key needs --key-id", NULL);
	if (!c->tls_cert != !c->tls_key)
		sim_die_usage("--tls-cert and --tls-key go together", NULL);
	if (c->webhook_url && !c->webhook_secret)
		sim_die_usage("--webhook-url needs --webhook-secret", NULL);
	sim_check_seed_prefix(c);
}

static SSL_CTX *sim_tls_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		return NULL;
	if (SSL_CTX_use_certificate_chain_file(ctx, sim_g.cfg.tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, sim_g.cfg.tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		fprintf(stderr, "fleetgate-sim: cannot load TLS certificate/key: %s\n",
			ERR_reason_error_string(ERR_get_error()));
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* evhttp asks for a bufferevent per accepted connection; with TLS it is an
 * OpenSSL one that owns (and frees) its SSL. */
static struct bufferevent *sim_tls_bevcb(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new(arg);

	if (!ssl)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl,
		BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

static int sim_bound_port(struct evhttp_bound_socket *bs)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	evutil_socket_t fd = evhttp_bound_socket_get_fd(bs);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Written to a temporary name and renamed, so a test that polls the file
 * never reads half a number. */
static int sim_write_port_file(const char *path, int port)
{
	char tmp[PATH_MAX];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void sim_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(sim_g.base);
}

static int sim_load_state(void)
{
	struct sim_config *c = &sim_g.cfg;

	if (c->public_key_file) {
		c->public_key = sim_load_public_key(c->public_key_file);
		if (!c->public_key) {
			fprintf(stderr, "fleetgate-sim: cannot load P-256 public key from %s\n",
				c->public_key_file);
			return -1;
		}
	}
	if (c->seed_file && sim_fleet_seed_file(c->seed_file) != 0)
		return -1;
	if (c->seed_count && sim_fleet_seed_count(c->seed_count, c->seed_prefix) != 0)
		return -1;
	return 0;
}

static int sim_listen(SSL_CTX **tls)
{
	struct evhttp_bound_socket *bs;
	const struct sim_config *c = &sim_g.cfg;
	int port;

	sim_g.http = evhttp_new(sim_g.base);
	if (!sim_g.http)
		return -1;
	/* Every answer names its own; a script with "headers": {} sends none. */
	evhttp_set_default_content_type(sim_g.http, NULL);
	evhttp_set_allowed_methods(sim_g.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
		EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
		EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_max_body_size(sim_g.http, 64 * 1024 * 1024);
	evhttp_set_gencb(sim_g.http, sim_http_cb, NULL);
	if (c->tls_cert) {
		*tls = sim_tls_ctx();
		if (!*tls)
			return -1;
		evhttp_set_bevcb(sim_g.http, sim_tls_bevcb, *tls);
	}
	bs = evhttp_bind_socket_with_handle(sim_g.http, c->listen_host,
					    (ev_uint16_t)c->listen_port);
	if (!bs) {
		fprintf(stderr, "fleetgate-sim: cannot listen on %s:%d: %s\n",
			c->listen_host, c->listen_port, strerror(errno));
		return -1;
	}
	port = sim_bound_port(bs);
	if (c->port_file && sim_write_port_file(c->port_file, port) != 0) {
		fprintf(stderr, "fleetgate-sim: cannot write %s: %s\n",
			c->port_file, strerror(errno));
		return -1;
	}
	if (strchr(c->listen_host, ':'))
		printf("fleetgate-sim listening on [%s]:%d\n", c->listen_host, port);
	else
		printf("fleetgate-sim listening on %s:%d\n", c->listen_host, port);
	fflush(stdout);
	return 0;
}

/* Order matters: our deferred answers drop their hold on requests before
 * evhttp_free frees the connections that own them. */
static void sim_cleanup(SSL_CTX *tls)
{
	size_t i;

	sim_pending_free_all();
	sim_webhook_stop();
	if (sim_g.http)
		evhttp_free(sim_g.http);
	if (tls)
		SSL_CTX_free(tls);
	sim_log_clear();
	json_decref(sim_g.stats.by_status);
	json_decref(sim_g.tokens);
	sim_fleet_free();
	sim_window_free();
	sim_script_clear();
	EVP_PKEY_free(sim_g.cfg.public_key);
	free(sim_g.cfg.listen_host);
	for (i = 0; i < SIM_LOG_MAX; i++)
		sim_g.log[i] = NULL;
}

int main(int argc, char **argv)
{
	struct event *sigterm = NULL, *sigint = NULL;
	SSL_CTX *tls = NULL;
	int rc = 2;	/* start-up failure; bad arguments already exited 1 */

	signal(SIGPIPE, SIG_IGN);
	sim_parse_args(argc, argv);
	sim_g.stats.by_status = json_object();
	sim_g.tokens = json_object();
	sim_g.fleet.index = json_object();
	sim_faults_clear();
	sim_g.base = event_base_new();
	if (!sim_g.base || sim_load_state() != 0)
		goto out;
	sigterm = evsignal_new(sim_g.base, SIGTERM, sim_signal_cb, NULL);
	sigint = evsignal_new(sim_g.base, SIGINT, sim_signal_cb, NULL);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) || evsignal_add(sigint, NULL))
		goto out;
	if (sim_listen(&tls) != 0 || sim_webhook_start() != 0)
		goto out;
	event_base_dispatch(sim_g.base);
	rc = 0;
out:
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	sim_cleanup(tls);
	if (sim_g.base)
		event_base_free(sim_g.base);
	libevent_global_shutdown();
	return rc;
}
