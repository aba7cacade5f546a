/* check_conf.c: Check suite for the main configuration file: defaults,
 * every key, FILE:LINE errors, secrets, relative paths, reference counts
 * and the config swap. Each test writes its files into a fresh mkdtemp
 * folder and removes it afterwards. */
#define _GNU_SOURCE
#include <check.h>
#include "check_main.h"
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "conf.h"
#include "conf_listen.h"
#include "stats.h"
#include "tenant.h"

#define MIN_OAUTH "[oauth]\nclient_id = abc\nclient_secret = literal-s3cret\n"

static char tmpdir[256];     /* realpath of this test's folder */
static char conf[512];       /* tmpdir/fleetgate.conf */
static struct fg_errors errs;

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void setup(void)
{
	char tmpl[] = "/tmp/fgcfgXXXXXX";
	char *d = mkdtemp(tmpl);
	ck_assert_ptr_nonnull(d);
	/* realpath() into a buffer shorter than PATH_MAX aborts under
	 * _FORTIFY_SOURCE (Debian's build flags): let it allocate. */
	char *real = realpath(d, NULL);
	ck_assert_ptr_nonnull(real);
	ck_assert_uint_lt(strlen(real), sizeof(tmpdir));
	strcpy(tmpdir, real);
	free(real);
	snprintf(conf, sizeof(conf), "%s/fleetgate.conf", tmpdir);
	char td[600];
	snprintf(td, sizeof(td), "%s/tenants.d", tmpdir);
	ck_assert_int_eq(mkdir(td, 0700), 0);
	memset(&errs, 0, sizeof(errs));
}

static void teardown(void)
{
	conf_errors_free(&errs);
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *name, const char *text)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static char *path_in(const char *name)
{
	static char p[1024];
	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	return p;
}

static struct fg_config *load(const char *text)
{
	write_file("fleetgate.conf", text);
	return conf_load(conf, &errs);
}

static void dump_errors(void)
{
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "  error: %s\n", errs.lines[i]);
}

/* True when one error line equals the formatted text exactly. */
static bool has_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool has_error(const char *fmt, ...)
{
	char want[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < errs.n; i++)
		if (strcmp(errs.lines[i], want) == 0)
			return true;
	fprintf(stderr, "missing error: %s\n", want);
	dump_errors();
	return false;
}

static bool any_error_contains(const char *needle)
{
	for (size_t i = 0; i < errs.n; i++)
		if (strstr(errs.lines[i], needle))
			return true;
	return false;
}

static struct fg_config *load_ok(const char *text)
{
	struct fg_config *c = load(text);
	if (!c)
		dump_errors();
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(errs.n, 0);
	return c;
}

static void write_p256_key(const char *name)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	ck_assert_ptr_nonnull(k);
	FILE *f = fopen(path_in(name), "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	chmod(path_in(name), 0600);
	EVP_PKEY_free(k);
}

/* ---- defaults and every key -------------------------------------------- */

START_TEST(test_defaults)
{
	struct fg_config *c = load_ok(MIN_OAUTH);
	char want[1024];

	ck_assert_str_eq(c->path, conf);
	ck_assert_str_eq(c->dir, tmpdir);
	ck_assert_uint_eq(c->listen.n, 1);
	ck_assert_str_eq(c->listen.v[0].spec, "127.0.0.1:8080");
	ck_assert_str_eq(c->listen.v[0].host, "127.0.0.1");
	ck_assert_int_eq(c->listen.v[0].port, 8080);
	ck_assert(!c->listen.v[0].is_unix);
	ck_assert_uint_eq(c->admin_listen.n, 1);
	ck_assert_str_eq(c->admin_listen.v[0].spec, "127.0.0.1:8081");
	ck_assert_int_eq(c->workers, (int)sysconf(_SC_NPROCESSORS_ONLN));
	snprintf(want, sizeof(want), "%s/tenants.d", tmpdir);
	ck_assert_str_eq(c->tenants_dir, want);
	ck_assert_uint_eq(c->max_body_bytes, 1048576);
	ck_assert_int_eq(c->client_timeout, 30);
	ck_assert_int_eq(c->client_header_timeout, 10);
	ck_assert_int_eq(c->client_body_timeout, 60);
	ck_assert_int_gt(c->max_connections, 0);   /* 0 = sized from RLIMIT_NOFILE */
	ck_assert_int_eq(c->shutdown_timeout, 10);
	ck_assert_str_eq(c->access_log, "-");
	ck_assert_str_eq(c->audit_log, "-");
	ck_assert_int_eq(c->log_level, FG_LOG_INFO);
	ck_assert_int_eq(c->local_token_ttl, 3600);

	ck_assert_str_eq(c->base_url, "https://sandbox.api.high-mobility.com");
	ck_assert_ptr_null(c->ca_file);
	ck_assert_int_eq(c->connect_timeout, 5);
	ck_assert_int_eq(c->timeout, 30);
	ck_assert_uint_eq(c->vin_get_rate.count, 60);
	ck_assert_uint_eq(c->vin_get_rate.window_s, 60);
	ck_assert_int_eq(c->queue_timeout, 10);
	ck_assert_uint_eq(c->max_upstream_bytes, 8u << 20);

	ck_assert_str_eq(c->token_url, "https://sandbox.api.high-mobility.com/v1/access_tokens");
	ck_assert_str_eq(c->audience, "https://sandbox.api.high-mobility.com/v1");
	ck_assert_str_eq(c->client_id, "abc");
	ck_assert_str_eq(conf_secret_data(&c->client_secret), "literal-s3cret");
	ck_assert_ptr_null(c->private_key_file);
	ck_assert_ptr_null(c->private_key);
	ck_assert_ptr_null(c->key_id);
	ck_assert_ptr_null(c->scope);
	ck_assert_int_eq(c->refresh_before, -1);

	ck_assert(c->cache_enabled);
	ck_assert_uint_eq(c->cache_max_bytes, 64u << 20);
	ck_assert_int_eq(c->ttl, 60);
	for (int i = 0; i < FG_STATUS_COUNT; i++)
		ck_assert_int_eq(c->ttl_status[i], -1);
	ck_assert_int_eq(c->ttl_list, 30);
	ck_assert_int_eq(c->stale_if_error, 600);

	ck_assert_uint_eq(c->ntenants, 0);
	ck_assert_uint_eq(c->nvins, 0);
	ck_assert_uint_eq(c->generation, 0);
	conf_unref(c);
}
END_TEST

/* A value for every key of the table except the credentials, which have
 * their own tests (client_secret and private_key_file exclude each other). */
static const struct { const char *section, *name, *value; } every_key[] = {
	{ "gateway", "listen", "127.0.0.1:9000, [::1]:9001 , unix:run/fg.sock        # host:port, [v6]:port or unix:/path; comma list" },
	{ "gateway", "admin_listen", "localhost:9002  ; admin" },
	{ "gateway", "workers", "3" },
	{ "gateway", "tenants_dir", "tn" },
	{ "gateway", "max_body_bytes", "2K" },
	{ "gateway", "client_timeout", "31" },
	{ "gateway", "client_header_timeout", "7" },
	{ "gateway", "client_body_timeout", "45" },
	{ "gateway", "max_connections", "500" },
	{ "gateway", "shutdown_timeout", "0" },
	{ "gateway", "drain_delay", "3" },
	{ "gateway", "admin_token_sha256", "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08" },
	{ "gateway", "admin_open", "no" },
	{ "gateway", "admin_max_connections", "8" },
	{ "gateway", "admin_idle_timeout", "3" },
	{ "gateway", "audit_sync", "yes" },
	{ "gateway", "unix_mode", "0660" },
	{ "gateway", "unix_group", "root" },   /* gid 0 exists everywhere */
	{ "gateway", "access_log", "logs/access.log" },
	{ "gateway", "audit_log", "off" },
	{ "gateway", "log_level", "debug" },
	{ "gateway", "local_token_ttl", "90" },
	{ "gateway", "local_token_key", "a-local-token-key-of-32-bytes-xx" },
	{ "gateway", "local_token_key_previous", "the-previous-local-token-key-xxx" },
	{ "upstream", "base_url", "http://127.0.0.1:7000/" },
	{ "upstream", "ca_file", "ca.pem" },
	{ "upstream", "connect_timeout", "2" },
	{ "upstream", "timeout", "9" },
	{ "upstream", "vin_get_rate", "5/s" },
	{ "upstream", "queue_timeout", "0" },
	{ "upstream", "max_upstream_bytes", "2M" },
	{ "upstream", "vin_reads", "list" },
	{ "upstream", "list_batch_window", "20ms" },
	{ "upstream", "list_batch_max", "250" },
	{ "upstream", "list_get_rate", "12/min" },
	{ "oauth", "token_url", "http://127.0.0.1:7000/tok" },
	{ "oauth", "client_id", "09ce38c6-5cd7-47b0-b271-235414e938c6" },
	{ "oauth", "private_key_file", "sa.pem" },
	{ "oauth", "key_id", "5e3cc349" },
	{ "oauth", "audience", "https://aud.example/v1" },
	{ "oauth", "scope", "fleet:clearance" },
	{ "oauth", "refresh_before", "120" },
	{ "cache", "enabled", "no" },
	{ "cache", "max_bytes", "3G" },
	{ "cache", "ttl", "61" },
	{ "cache", "ttl_list", "0" },
	{ "cache", "stale_if_error", "7" },
	{ "cache", "refresh_ahead", "no" },
	{ "redis", "url", "redis://127.0.0.1:6380/4" },
	{ "redis", "username", "fg" },
	{ "redis", "password", "literal-redis-pw" },
	{ "redis", "prefix", "fg2" },
	{ "redis", "connect_timeout", "1.5" },
	{ "redis", "timeout", "250ms" },
	{ "redis", "instances", "3" },
	{ "redis", "on_failure", "closed" },
	{ "redis", "cache", "no" },
	{ "redis", "signing_key", "literal-signing-key" },
	{ "redis", "signing_key_previous", "literal-old-signing-key" },
};

static const char *every_key_value(const char *section, const char *name)
{
	for (size_t i = 0; i < sizeof(every_key) / sizeof(every_key[0]); i++)
		if (!strcmp(every_key[i].section, section) && !strcmp(every_key[i].name, name))
			return every_key[i].value;
	return NULL;
}

START_TEST(test_every_key)
{
	const char *sections[] = { "gateway", "upstream", "oauth", "cache", "redis" };
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	char want[1024];

	for (size_t s = 0; s < 5; s++) {
		fprintf(f, "[%s]\n", sections[s]);
		for (size_t i = 0; i < config_nkeys; i++) {
			const struct fg_config_key *k = &config_keys[i];
			if (strcmp(k->section, sections[s]))
				continue;
			const char *v = every_key_value(k->section, k->name);
			int st = strncmp(k->name, "ttl_", 4) == 0 ? fg_status_index(k->name + 4) : -1;
			if (st >= 0) {
				fprintf(f, "%s = %d\n", k->name, 100 + st);
				continue;
			}
			if (!v && strcmp(k->name, "client_secret") == 0)
				continue; /* see test_secret_* */
			ck_assert_msg(v != NULL, "no test value for [%s] %s", k->section, k->name);
			fprintf(f, "%s = %s\n", k->name, v);
		}
	}
	fclose(f);
	mkdir(path_in("tn"), 0700);
	mkdir(path_in("run"), 0700);
	write_file("ca.pem", "not checked here\n");
	write_p256_key("sa.pem");

	struct fg_config *c = load_ok(text);
	free(text);
	ck_assert_uint_eq(c->listen.n, 3);
	ck_assert_str_eq(c->listen.v[0].spec, "127.0.0.1:9000");
	ck_assert_str_eq(c->listen.v[1].spec, "[::1]:9001");
	ck_assert_str_eq(c->listen.v[1].host, "::1");
	ck_assert_int_eq(c->listen.v[1].port, 9001);
	ck_assert(c->listen.v[2].is_unix);
	snprintf(want, sizeof(want), "%s/run/fg.sock", tmpdir);
	ck_assert_str_eq(c->listen.v[2].path, want);
	snprintf(want, sizeof(want), "unix:%s/run/fg.sock", tmpdir);
	ck_assert_str_eq(c->listen.v[2].spec, want);
	ck_assert_uint_eq(c->admin_listen.n, 1);
	ck_assert_str_eq(c->admin_listen.v[0].spec, "localhost:9002");
	ck_assert_int_eq(c->workers, 3);
	snprintf(want, sizeof(want), "%s/tn", tmpdir);
	ck_assert_str_eq(c->tenants_dir, want);
	ck_assert_uint_eq(c->max_body_bytes, 2048);
	ck_assert_int_eq(c->client_timeout, 31);
	ck_assert_int_eq(c->client_header_timeout, 7);
	ck_assert_int_eq(c->client_body_timeout, 45);
	ck_assert_int_eq(c->max_connections, 500);
	ck_assert_int_eq(c->shutdown_timeout, 0);
	ck_assert_int_eq(c->drain_delay, 3);
	ck_assert_str_eq(c->admin_token_sha256, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
	ck_assert_int_eq(c->unix_mode, 0660);
	ck_assert_int_eq(c->unix_gid, 0);
	ck_assert_int_eq(c->listen.v[2].mode, 0660);   /* handed to the unix listener */
	ck_assert_int_eq(c->listen.v[2].gid, 0);
	ck_assert_int_eq(c->listen.v[0].mode, -1);     /* TCP listeners have no mode */
	snprintf(want, sizeof(want), "%s/logs/access.log", tmpdir);
	ck_assert_str_eq(c->access_log, want);
	ck_assert_str_eq(c->audit_log, "off");
	ck_assert_int_eq(c->log_level, FG_LOG_DEBUG);
	ck_assert_int_eq(c->local_token_ttl, 90);
	ck_assert_int_eq(c->local_token_nkeys, 2);   /* derived: the AEAD keys, not the secrets */
	ck_assert(memcmp(c->local_token_keys[0], "a-local-token-key", 17) != 0);
	ck_assert(memcmp(c->local_token_keys[0], c->local_token_keys[1], 32) != 0);
	ck_assert_str_eq(c->base_url, "http://127.0.0.1:7000");
	snprintf(want, sizeof(want), "%s/ca.pem", tmpdir);
	ck_assert_str_eq(c->ca_file, want);
	ck_assert_int_eq(c->connect_timeout, 2);
	ck_assert_int_eq(c->timeout, 9);
	ck_assert_uint_eq(c->vin_get_rate.count, 5);
	ck_assert_uint_eq(c->vin_get_rate.window_s, 1);
	ck_assert_int_eq(c->vin_reads, FG_VIN_READS_LIST);
	ck_assert_int_eq(c->list_batch_window_ms, 20);
	ck_assert_int_eq(c->list_batch_max, 250);
	ck_assert_uint_eq(c->list_get_rate.count, 12);
	ck_assert_uint_eq(c->list_get_rate.window_s, 60);
	ck_assert(!c->refresh_ahead);
	ck_assert_int_eq(c->queue_timeout, 0);
	ck_assert_uint_eq(c->max_upstream_bytes, 2u << 20);
	ck_assert_str_eq(c->token_url, "http://127.0.0.1:7000/tok");
	ck_assert_str_eq(c->client_id, "09ce38c6-5cd7-47b0-b271-235414e938c6");
	ck_assert(conf_secret_empty(&c->client_secret));
	snprintf(want, sizeof(want), "%s/sa.pem", tmpdir);
	ck_assert_str_eq(c->private_key_file, want);
	ck_assert_ptr_nonnull(c->private_key);
	ck_assert_str_eq(c->key_id, "5e3cc349");
	ck_assert_str_eq(c->audience, "https://aud.example/v1");
	ck_assert_str_eq(c->scope, "fleet:clearance");
	ck_assert_int_eq(c->refresh_before, 120);
	ck_assert(!c->cache_enabled);
	ck_assert_uint_eq(c->cache_max_bytes, 3ULL << 30);
	ck_assert_int_eq(c->ttl, 61);
	for (int i = 0; i < FG_STATUS_COUNT; i++)
		ck_assert_int_eq(c->ttl_status[i], 100 + i);
	ck_assert_int_eq(c->ttl_list, 0);
	ck_assert_int_eq(c->stale_if_error, 7);
	ck_assert(conf_redis_on(c));
	ck_assert_str_eq(c->redis_url.addr.host, "127.0.0.1");
	ck_assert_int_eq(c->redis_url.addr.port, 6380);
	ck_assert_int_eq(c->redis_url.db, 4);
	ck_assert_str_eq(c->redis_username, "fg");
	ck_assert_str_eq(conf_secret_data(&c->redis_password), "literal-redis-pw");
	ck_assert_str_eq(c->redis_prefix, "fg2");
	ck_assert_int_eq(c->redis_connect_timeout_ms, 1500);
	ck_assert_int_eq(c->redis_timeout_ms, 250);
	ck_assert_int_eq(c->redis_instances, 3);
	ck_assert_int_eq(c->redis_on_failure, FG_REDIS_CLOSED);
	ck_assert(!c->redis_cache);
	ck_assert_str_eq(conf_secret_data(&c->redis_signing_key), "literal-signing-key");
	ck_assert_str_eq(conf_secret_data(&c->redis_signing_key_previous), "literal-old-signing-key");
	conf_unref(c);
}
END_TEST

/* Without [redis], or with an empty url, nothing is shared; the other
 * keys still have their defaults. */
START_TEST(test_redis_absent_and_defaults)
{
	struct fg_config *c = load_ok(MIN_OAUTH);
	ck_assert(!conf_redis_on(c));
	ck_assert_str_eq(c->redis_prefix, "fleetgate");
	ck_assert_int_eq(c->redis_connect_timeout_ms, 1000);
	ck_assert_int_eq(c->redis_timeout_ms, 250);
	ck_assert_int_eq(c->redis_instances, 2);
	ck_assert_int_eq(c->redis_on_failure, FG_REDIS_SHARE);
	ck_assert(c->redis_cache);
	conf_unref(c);
	c = load_ok(MIN_OAUTH "[redis]\nurl =\n");
	ck_assert(!conf_redis_on(c));
	conf_unref(c);
	c = load_ok(MIN_OAUTH "[redis]\nurl = unix:redis.sock\n");
	ck_assert(conf_redis_on(c));
	ck_assert(c->redis_url.addr.is_unix);
	ck_assert_int_eq(strncmp(c->redis_url.addr.path, tmpdir, strlen(tmpdir)), 0);
	conf_unref(c);
}
END_TEST

/* Each refusal is FILE:LINE with the reason, and a password never shows. */
START_TEST(test_redis_refusals)
{
	struct fg_config *c = load(MIN_OAUTH "[redis]\nurl = rediss://10.0.0.1:6380/0\n");
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_msg(strstr(errs.lines[0], "fleetgate.conf:5: url: rediss:// (TLS) is not supported: "
			     "Debian's hiredis 0.14 is built without TLS") != NULL, "%s", errs.lines[0]);
	conf_errors_free(&errs);
	c = load(MIN_OAUTH "[redis]\nurl = redis://:pw-in-url@10.0.0.1\nusername = u\n"
		 "timeout = 0\non_failure = open\nprefix = a b\n");
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(errs.n, 5);
	for (size_t i = 0; i < errs.n; i++)
		ck_assert_ptr_null(strstr(errs.lines[i], "pw-in-url"));
	ck_assert_ptr_nonnull(strstr(errs.lines[0], ":5: url: credentials do not belong in the url"));
	ck_assert_ptr_nonnull(strstr(errs.lines[1], ":7: timeout: 0 is out of range"));
	ck_assert_ptr_nonnull(strstr(errs.lines[2], ":8: on_failure: \"open\" is neither share nor closed"));
	ck_assert_ptr_nonnull(strstr(errs.lines[3], ":6: [redis] username needs password"));
	ck_assert_ptr_nonnull(strstr(errs.lines[4], ":9: [redis] prefix must not contain blanks"));
}
END_TEST

/* [gateway] local_token_key: a short key or a previous key alone is
 * refused as FILE:LINE, and neither key's text is in an error. */
START_TEST(test_local_token_keys)
{
	struct fg_config *c = load(MIN_OAUTH "[gateway]\nlocal_token_key = short-hunter2\n");
	ck_assert_ptr_null(c);
	ck_assert(any_error_contains(":5: [gateway] local_token_key must be at least 16 bytes"));
	ck_assert(!any_error_contains("hunter2"));
	conf_errors_free(&errs);
	memset(&errs, 0, sizeof(errs));
	c = load(MIN_OAUTH "[gateway]\nlocal_token_key_previous = previous-hunter2-0123456789\n");
	ck_assert_ptr_null(c);
	ck_assert(any_error_contains(":5: [gateway] local_token_key_previous needs local_token_key"));
	ck_assert(!any_error_contains("hunter2"));
	conf_errors_free(&errs);
	memset(&errs, 0, sizeof(errs));
	setenv("FG_TEST_LT_KEY", "0123456789abcdef0123456789abcdef", 1);
	c = load_ok(MIN_OAUTH "[gateway]\nlocal_token_key = env:FG_TEST_LT_KEY\n"
		    "local_token_key_previous = 0123456789abcdef0123456789abcdef\n");
	ck_assert_int_eq(c->local_token_nkeys, 1);   /* the same key twice is one */
	conf_unref(c);
	c = load_ok(MIN_OAUTH);
	ck_assert_int_eq(c->local_token_nkeys, 0);   /* none: tokens per process */
	conf_unref(c);
}
END_TEST

/* List-backed reads: the defaults, and bad values as FILE:LINE. */
START_TEST(test_list_read_keys)
{
	struct fg_config *c = load_ok(MIN_OAUTH);
	ck_assert_int_eq(c->vin_reads, FG_VIN_READS_AUTO);
	ck_assert_int_eq(c->list_batch_window_ms, 50);
	ck_assert_int_eq(c->list_batch_max, 100);
	ck_assert_uint_eq(c->list_get_rate.count, 30);
	ck_assert(c->refresh_ahead);
	conf_unref(c);
	c = load(MIN_OAUTH "[upstream]\nvin_reads = sometimes\nlist_batch_max = 301\n");
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(errs.n, 2);
	ck_assert_ptr_nonnull(strstr(errs.lines[0], ":5: vin_reads: \"sometimes\" is none of auto, list, single"));
	ck_assert_ptr_nonnull(strstr(errs.lines[1], ":6: list_batch_max: 301 is out of range"));
	conf_errors_free(&errs);
}
END_TEST

START_TEST(test_webhook_keys)
{
	struct fg_config *c = load(MIN_OAUTH);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->webhook_listen.n, 0);
	ck_assert_str_eq(c->webhook_path, "/v1/webhooks/high-mobility");
	ck_assert_uint_eq(c->webhook_max_body_bytes, 65536);
	ck_assert_int_eq(c->webhook_max_age, 86400);
	ck_assert_int_eq(c->webhook_verify_delay_ms, 1000);
	ck_assert_int_eq(c->webhook_reconcile_interval, 60);
	conf_unref(c);
	/* a listener needs the console's secret; a previous one needs a current one */
	c = load(MIN_OAUTH "[webhook]\nlisten = 127.0.0.1:9443\nsecret_previous = old\npath = hooks\n");
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(errs.n, 3);
	ck_assert_ptr_nonnull(strstr(errs.lines[0], "[webhook] listen needs secret"));
	ck_assert_ptr_nonnull(strstr(errs.lines[1], "[webhook] secret_previous needs secret"));
	ck_assert_ptr_nonnull(strstr(errs.lines[2], "[webhook] path must begin with /"));
	conf_errors_free(&errs);
	/* its own port: not also a tenant-facing or admin one */
	c = load(MIN_OAUTH "[webhook]\nlisten = 127.0.0.1:8081\nsecret = s3cret-value\n");
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(errs.lines[0], "[webhook] listen: 127.0.0.1:8081 is also in admin_listen"));
	conf_errors_free(&errs);
	c = load(MIN_OAUTH "[webhook]\nlisten = off\n");
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->webhook_listen.n, 0);
	conf_unref(c);
}
END_TEST

START_TEST(test_key_table)
{
	/* §2's keys plus one ttl_<status> per status, each documented */
	ck_assert_uint_eq(config_nkeys, 37 + 9 + 4 + 5 + 3 + 2 /* [redis] signing keys */ + 6 /* [tls] */ +
					15 /* [webhook] */ + FG_STATUS_COUNT);
	for (size_t i = 0; i < config_nkeys; i++) {
		ck_assert_ptr_nonnull(config_keys[i].defval);
		ck_assert_ptr_nonnull(config_keys[i].help);
		ck_assert(config_keys[i].help[0] != '\0');
	}
	ck_assert_int_eq(fg_status_index("approved"), FG_STATUS_approved);
	ck_assert_int_eq(fg_status_index("canceled"), FG_STATUS_canceled);
	ck_assert_int_eq(fg_status_index("bogus"), -1);
	ck_assert_str_eq(fg_status_names[FG_STATUS_pending], "pending");
}
END_TEST

START_TEST(test_empty_value_means_default)
{
	struct fg_config *c = load_ok("[upstream]\nca_file =                      # PEM bundle\n"
				      "[oauth]\ntoken_url =\nclient_id = a\nclient_secret = b\n"
				      "scope =\nrefresh_before =     # default\n");
	ck_assert_ptr_null(c->ca_file);
	ck_assert_ptr_null(c->scope);
	ck_assert_int_eq(c->refresh_before, -1);
	ck_assert_str_eq(c->token_url, "https://sandbox.api.high-mobility.com/v1/access_tokens");
	conf_unref(c);
}
END_TEST

/* ---- syntax errors ------------------------------------------------------ */

/* As redis' protected mode: an admin listener other hosts reach needs the
 * admin token, or admin_open = yes. */
START_TEST(test_admin_off_loopback_needs_a_token)
{
	ck_assert_ptr_null(load("[gateway]\nadmin_listen = 127.0.0.1:9001, 0.0.0.0:9002\n" MIN_OAUTH));
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_msg(strstr(errs.lines[0], "fleetgate.conf:2: admin_listen: 0.0.0.0:9002 is reachable from other hosts "
			     "and admin_token_sha256 is not set"), "%s", errs.lines[0]);
	conf_errors_free(&errs);
	ck_assert_ptr_null(load("[gateway]\nadmin_listen = :9002\n" MIN_OAUTH));
	conf_errors_free(&errs);
	const char *ok[] = { "admin_listen = 0.0.0.0:9002\nadmin_open = yes\n",
			     "admin_listen = [::]:9002\nadmin_token_sha256 = 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n",
			     "admin_listen = 127.0.0.2:9002, [::1]:9003, localhost:9004\n",
			     "admin_listen = off\n" };
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		char text[512];
		snprintf(text, sizeof text, "[gateway]\n%s" MIN_OAUTH, ok[i]);
		conf_unref(load_ok(text));
	}
	struct fg_addr unixa = { .is_unix = true };
	ck_assert(conf_listen_is_local(&unixa));
}
END_TEST

START_TEST(test_misspelt_key)
{
	ck_assert_ptr_null(load("# comment\n[gateway]\nlisten = 127.0.0.1:1\n\n  lisen = 1.2.3.4:5\n"
				MIN_OAUTH "clinet_id = x\n"));
	ck_assert(has_error("%s:5: unknown key \"lisen\" in [gateway]", conf));
	ck_assert(has_error("%s:9: unknown key \"clinet_id\" in [oauth]", conf));
	ck_assert_uint_eq(errs.n, 2);
}
END_TEST

START_TEST(test_unknown_section)
{
	ck_assert_ptr_null(load(MIN_OAUTH "\n[gatway]\nlisten = x\nworkers = 1\n"));
	ck_assert(has_error("%s:5: unknown section [gatway]", conf));
	ck_assert_uint_eq(errs.n, 1); /* its keys are not reported again */
}
END_TEST

START_TEST(test_syntax_errors)
{
	ck_assert_ptr_null(load("workers = 2\n" MIN_OAUTH "just words\n[cache\nttl = 1\nttl = 2\n"
				"[oauth]\nclient_id = again\n"));
	ck_assert(has_error("%s:1: key \"workers\" outside of a section", conf));
	ck_assert(has_error("%s:5: expected \"[section]\" or \"key = value\"", conf));
	ck_assert(has_error("%s:6: section header without ']'", conf));
	/* "[cache" failed, so ttl lands in [oauth] */
	ck_assert(has_error("%s:7: unknown key \"ttl\" in [oauth]", conf));
	ck_assert(has_error("%s:8: unknown key \"ttl\" in [oauth]", conf));
	ck_assert(has_error("%s:10: duplicate key \"client_id\" in [oauth] (first set on line 3)", conf));
}
END_TEST

START_TEST(test_long_lines)
{
	size_t n = 100000;
	char *big = malloc(n + 1), *text;
	memset(big, 'x', n);
	big[n] = '\0';
	ck_assert_int_gt(asprintf(&text, "# %s\n[oauth]\nclient_id = %s   # and a comment\n"
				  "client_secret = s\n; %s\n[cache]\nttl = 5\n", big, big, big), 0);
	struct fg_config *c = load_ok(text);
	ck_assert_uint_eq(strlen(c->client_id), n);
	ck_assert_str_eq(c->client_id, big);
	ck_assert_int_eq(c->ttl, 5);
	conf_unref(c);
	/* line numbers stay right after long lines */
	conf_errors_free(&errs);
	memset(&errs, 0, sizeof(errs));
	free(text);
	ck_assert_int_gt(asprintf(&text, "# %s\n# %s\n" MIN_OAUTH "bad = 1\n", big, big), 0);
	ck_assert_ptr_null(load(text));
	ck_assert(has_error("%s:6: unknown key \"bad\" in [oauth]", conf));
	free(text);
	free(big);
}
END_TEST

/* ---- secrets ------------------------------------------------------------ */

START_TEST(test_secret_env)
{
	setenv("FG_TEST_SECRET", "env-hunter2", 1);
	struct fg_config *c = load_ok("[oauth]\nclient_id = a\nclient_secret = env:FG_TEST_SECRET\n");
	ck_assert_str_eq(conf_secret_data(&c->client_secret), "env-hunter2");
	ck_assert_uint_eq(c->client_secret.len, 11);
	conf_unref(c);

	unsetenv("FG_TEST_NOPE");
	ck_assert_ptr_null(load("[oauth]\nclient_id = a\nclient_secret = env:FG_TEST_NOPE\n"));
	ck_assert(has_error("%s:3: client_secret: environment variable FG_TEST_NOPE is not set", conf));
	ck_assert_uint_eq(errs.n, 1); /* no second "needs client_secret" */
}
END_TEST

START_TEST(test_secret_file)
{
	struct fg_config *c;
	write_file("secret.txt", "file-hunter2\n");
	c = load_ok("[oauth]\nclient_id = a\nclient_secret = file:secret.txt\n");
	ck_assert_str_eq(conf_secret_data(&c->client_secret), "file-hunter2");
	conf_unref(c);

	write_file("crlf.txt", "crlf-hunter2\r\n");
	c = load_ok("[oauth]\nclient_id = a\nclient_secret = file:crlf.txt\n");
	ck_assert_str_eq(conf_secret_data(&c->client_secret), "crlf-hunter2");
	conf_unref(c);

	ck_assert_ptr_null(load("[oauth]\nclient_id = a\nclient_secret = file:missing.txt\n"));
	ck_assert(has_error("%s:3: client_secret: cannot read secret file \"%s/missing.txt\": "
			    "No such file or directory", conf, tmpdir));
}
END_TEST

START_TEST(test_secret_never_in_errors)
{
	setenv("FG_TEST_SECRET", "env-hunter2", 1);
	write_file("secret.txt", "file-hunter2\n");
	/* literal secret with problems all around it, a duplicate, and a
	 * secret-looking line that is a syntax error */
	ck_assert_ptr_null(load("[oauth]\nclient_id = a\nclient_secret = literal-hunter2\n"
				"client_secret = env:FG_TEST_SECRET\nclient_secret literal-hunter2\n"
				"private_key_file = nope.pem\nkey_id = k\n[cache]\nttl = x\n"));
	ck_assert_uint_ge(errs.n, 3);
	ck_assert(!any_error_contains("hunter2"));
	conf_errors_free(&errs);
	memset(&errs, 0, sizeof(errs));
	ck_assert_ptr_null(load("[oauth]\nclient_id = a\nclient_secret = file:secret.txt\nbogus = 1\n"));
	ck_assert(!any_error_contains("hunter2"));
}
END_TEST

START_TEST(test_secret_type)
{
	struct fg_secret a = { 0 }, b = { 0 };
	char err[FG_ERR_LEN];
	ck_assert(conf_secret_empty(&a));
	ck_assert_str_eq(conf_secret_data(&a), "");
	conf_secret_set(&a, "abc", 3);
	conf_secret_copy(&b, &a);
	ck_assert(conf_secret_equal(&a, &b));
	conf_secret_set(&b, "abd", 3);
	ck_assert(!conf_secret_equal(&a, &b));
	conf_secret_set(&b, "ab", 2);
	ck_assert(!conf_secret_equal(&a, &b));
	ck_assert_int_eq(conf_secret_resolve(&b, "plain", "/", err, sizeof(err)), 0);
	ck_assert_str_eq(conf_secret_data(&b), "plain");
	ck_assert_int_eq(conf_secret_resolve(&b, "env:", "/", err, sizeof(err)), -1);
	ck_assert(conf_secret_empty(&b));
	conf_secret_wipe(&a);
	conf_secret_wipe(&b);
	ck_assert(conf_secret_empty(&a));
	ck_assert_ptr_null(a.buf);
}
END_TEST

/* ---- bad values --------------------------------------------------------- */

START_TEST(test_bad_values)
{
	ck_assert_ptr_null(load(MIN_OAUTH
				"[upstream]\n"                     /* 4 */
				"vin_get_rate = 60/fortnight\n"   /* 5 */
				"base_url = ftp://x\n"            /* 6 */
				"timeout = -5\n"                  /* 7 */
				"connect_timeout = 0\n"           /* 8 */
				"[cache]\n"                       /* 9 */
				"max_bytes = 12X\n"               /* 10 */
				"enabled = maybe\n"               /* 11 */
				"ttl = 1.5\n"                     /* 12 */
				"[gateway]\n"                     /* 13 */
				"listen = localhost\n"            /* 14 */
				"admin_listen = 127.0.0.1:70000\n"/* 15 */
				"log_level = loud\n"              /* 16 */
				"workers = many\n"                /* 17 */
				"max_body_bytes = 0\n"));         /* 18 */
	ck_assert(has_error("%s:5: vin_get_rate: bad rate \"60/fortnight\" (expected N/s, N/min or N/h)", conf));
	ck_assert(has_error("%s:6: base_url: URL \"ftp://x\" must start with http:// or https://", conf));
	ck_assert(has_error("%s:7: timeout: \"-5\" is not a whole number of seconds", conf));
	ck_assert(has_error("%s:8: connect_timeout: 0 is out of range (1 to 3600)", conf));
	ck_assert(has_error("%s:10: max_bytes: bad size \"12X\" (expected bytes, optionally with K, M or G)", conf));
	ck_assert(has_error("%s:11: enabled: bad boolean \"maybe\" (expected yes or no)", conf));
	ck_assert(has_error("%s:12: ttl: \"1.5\" is not a whole number of seconds", conf));
	ck_assert(has_error("%s:14: listen: bad address \"localhost\" (expected host:port, [v6]:port or unix:/path)", conf));
	ck_assert(has_error("%s:15: admin_listen: bad address \"127.0.0.1:70000\": port must be 0 to 65535", conf));
	ck_assert(has_error("%s:16: log_level: \"loud\" is none of error, warn, info, debug", conf));
	ck_assert(has_error("%s:17: workers: \"many\" is not a non-negative integer", conf));
	ck_assert(has_error("%s:18: max_body_bytes: size \"0\" is out of range (1 to 1073741824 bytes)", conf));
	ck_assert_uint_eq(errs.n, 12); /* every error, not just the first */
}
END_TEST

/* curl_url reads the URL: what it would refuse, or connect() would,
 * is an error at -t, with the reason in plain words. */
START_TEST(test_bad_urls)
{
	ck_assert_ptr_null(load(MIN_OAUTH
				"[upstream]\n"                        /* 4 */
				"base_url = http://127.0.0.1:99999\n" /* 5 */
				"[oauth]\n"                           /* 6 */
				"token_url = http://\n"               /* 7 */
				"[gateway]\n"                         /* 8 */
				"admin_token_sha256 = abc\n"          /* 9 */
				"unix_mode = 0999\n"                  /* 10 */
				"unix_group = no-such-group-fg\n"));  /* 11 */
	ck_assert(has_error("%s:5: base_url: URL \"http://127.0.0.1:99999\" has a bad port (1 to 65535)", conf));
	ck_assert(has_error("%s:7: token_url: URL \"http://\" has no host name", conf));
	ck_assert(any_error_contains(":9: admin_token_sha256: not 64 hex digits"));
	ck_assert(has_error("%s:10: unix_mode: bad mode \"0999\" (octal, e.g. 0660)", conf));
	ck_assert(has_error("%s:11: unix_group: no group \"no-such-group-fg\"", conf));
	ck_assert_uint_eq(errs.n, 5);
	ck_assert_ptr_null(load(MIN_OAUTH "[upstream]\nbase_url = http://exa mple.com\n"));
	ck_assert(any_error_contains(":5: base_url: URL \"http://exa mple.com\" cannot be parsed"));
}
END_TEST

START_TEST(test_listener_clash)
{
	ck_assert_ptr_null(load(MIN_OAUTH "[gateway]\nlisten = 127.0.0.1:1, 127.0.0.1:01\n"
				"admin_listen = 127.0.0.1:1\n"));
	ck_assert(has_error("%s:5: listen: address 127.0.0.1:1 is listed twice", conf));
	conf_errors_free(&errs);
	memset(&errs, 0, sizeof(errs));
	ck_assert_ptr_null(load(MIN_OAUTH "[gateway]\nlisten = 127.0.0.1:1\n\nadmin_listen = 127.0.0.1:1\n"));
	ck_assert(has_error("%s:7: admin_listen: 127.0.0.1:1 is also in listen", conf));
	conf_errors_free(&errs);
	memset(&errs, 0, sizeof(errs));
	struct fg_config *c = load_ok(MIN_OAUTH "[gateway]\nadmin_listen = off\n");
	ck_assert_uint_eq(c->admin_listen.n, 0);
	conf_unref(c);
}
END_TEST

/* ---- credentials -------------------------------------------------------- */

START_TEST(test_credentials_required)
{
	ck_assert_ptr_null(load("[oauth]\nclient_id = a\n"));
	ck_assert(has_error("%s: [oauth] needs client_secret or private_key_file", conf));
	conf_errors_free(&errs);
	memset(&errs, 0, sizeof(errs));

	write_p256_key("sa.pem");
	ck_assert_ptr_null(load("[oauth]\nclient_id = a\nclient_secret = s\nprivate_key_file = sa.pem\nkey_id = k\n"));
	ck_assert(has_error("%s:4: [oauth] set either client_secret or private_key_file, not both", conf));
	conf_errors_free(&errs);
	memset(&errs, 0, sizeof(errs));

	ck_assert_ptr_null(load("[oauth]\nclient_id = a\nprivate_key_file = sa.pem\n"));
	ck_assert(has_error("%s:3: [oauth] private_key_file needs key_id", conf));
	conf_errors_free(&errs);
	memset(&errs, 0, sizeof(errs));

	ck_assert_ptr_null(load("[oauth]\nclient_secret = s\n"));
	ck_assert(has_error("%s: [oauth] client_id is required", conf));
	conf_errors_free(&errs);
	memset(&errs, 0, sizeof(errs));

	ck_assert_ptr_null(load("[oauth]\nclient_id = a\nprivate_key_file = nokey.pem\nkey_id = k\n"));
	ck_assert_uint_eq(errs.n, 1);
	ck_assert(strncmp(errs.lines[0], conf, strlen(conf)) == 0);
	ck_assert(strstr(errs.lines[0], ":3: private_key_file: ") != NULL);

	conf_errors_free(&errs);
	memset(&errs, 0, sizeof(errs));
	struct fg_config *c = load_ok("[oauth]\nclient_id = a\nprivate_key_file = sa.pem\nkey_id = k\n");
	ck_assert_ptr_nonnull(c->private_key);
	conf_unref(c);
}
END_TEST

START_TEST(test_many_errors)
{
	ck_assert_ptr_null(load("[gateway]\nworkers = x\nnope = 1\n[upstream]\ntimeout = y\n"
				"[oauth]\nclient_secret = s\n[cache]\nttl_pending = z\n[extra]\n"));
	ck_assert(has_error("%s:2: workers: \"x\" is not a non-negative integer", conf));
	ck_assert(has_error("%s:3: unknown key \"nope\" in [gateway]", conf));
	ck_assert(has_error("%s:5: timeout: \"y\" is not a whole number of seconds", conf));
	ck_assert(has_error("%s: [oauth] client_id is required", conf));
	ck_assert(has_error("%s:9: ttl_pending: \"z\" is not a whole number of seconds", conf));
	ck_assert(has_error("%s:10: unknown section [extra]", conf));
	ck_assert_uint_eq(errs.n, 6);
}
END_TEST

START_TEST(test_missing_file)
{
	char p[600];
	snprintf(p, sizeof(p), "%s/nope.conf", tmpdir);
	ck_assert_ptr_null(conf_load(p, &errs));
	ck_assert(has_error("%s: cannot open: No such file or directory", p));
}
END_TEST

/* ---- paths and tenants -------------------------------------------------- */

START_TEST(test_relative_paths)
{
	char want[1024];
	mkdir(path_in("sub"), 0700);
	mkdir(path_in("sub/t"), 0700);
	write_file("sub/ca.pem", "x\n");
	write_file("sub/sec", "from-sub\n");
	write_file("fleetgate.conf", "[gateway]\ntenants_dir = t\naccess_log = a.log\n"
		   "audit_log = /var/log/fg-audit.log\nlisten = unix:fg.sock\n"
		   "[upstream]\nca_file = ca.pem\n"
		   "[oauth]\nclient_id = a\nclient_secret = file:sec\n");
	/* the config lives in sub/, it is named from elsewhere, by a relative path */
	char cwd[1024];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	char from[1024];
	snprintf(from, sizeof(from), "%s", path_in("fleetgate.conf"));
	ck_assert_int_eq(rename(from, path_in("sub/main.conf")), 0);
	ck_assert_int_eq(chdir(tmpdir), 0);
	struct fg_config *c = conf_load("./sub/main.conf", &errs);
	ck_assert_int_eq(chdir(cwd), 0);
	if (!c)
		dump_errors();
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->path, "./sub/main.conf");
	snprintf(want, sizeof(want), "%s/sub", tmpdir);
	ck_assert_str_eq(c->dir, want);
	snprintf(want, sizeof(want), "%s/sub/t", tmpdir);
	ck_assert_str_eq(c->tenants_dir, want);
	snprintf(want, sizeof(want), "%s/sub/a.log", tmpdir);
	ck_assert_str_eq(c->access_log, want);
	ck_assert_str_eq(c->audit_log, "/var/log/fg-audit.log");
	snprintf(want, sizeof(want), "%s/sub/fg.sock", tmpdir);
	ck_assert_str_eq(c->listen.v[0].path, want);
	snprintf(want, sizeof(want), "%s/sub/ca.pem", tmpdir);
	ck_assert_str_eq(c->ca_file, want);
	ck_assert_str_eq(conf_secret_data(&c->client_secret), "from-sub");
	conf_unref(c);
}
END_TEST

START_TEST(test_missing_dirs_and_files)
{
	ck_assert_ptr_null(load("[gateway]\ntenants_dir = nowhere\n[upstream]\nca_file = /nonexistent/ca.pem\n"
				MIN_OAUTH));
	ck_assert(has_error("%s:2: tenants_dir: cannot open folder \"%s/nowhere\": No such file or directory",
			    conf, tmpdir));
	ck_assert(has_error("%s:4: ca_file: cannot read \"/nonexistent/ca.pem\": No such file or directory",
			    conf));
}
END_TEST

START_TEST(test_tenants)
{
	write_file("tenants.d/b.conf", "[tenant]\nname = bravo\nsources = 10.2.0.0/16\n"
		   "vins = WBADT43452G296403, EXVETESTVIN000001\n");
	write_file("tenants.d/a.conf", "[tenant]\nname = alpha\nsources = 10.1.0.0/16\n"
		   "vins = WBADT43452G296404\n");
	write_file("tenants.d/notes.txt", "not a tenant\n");
	struct fg_config *c = load_ok(MIN_OAUTH);
	ck_assert_uint_eq(c->ntenants, 2);
	ck_assert_str_eq(c->tenants[0]->name, "alpha");
	ck_assert_str_eq(c->tenants[1]->name, "bravo");
	ck_assert_uint_eq(c->nvins, 3);
	conf_unref(c);
}
END_TEST

START_TEST(test_tenant_listener_clash)
{
	write_file("tenants.d/a.conf", "[tenant]\nname = alpha\nlisten = 127.0.0.1:8081\n"
		   "vins = WBADT43452G296403\n");
	ck_assert_ptr_null(load(MIN_OAUTH));
	ck_assert(has_error("%s/tenants.d/a.conf: listen: 127.0.0.1:8081 is also the admin listener of %s",
			    tmpdir, conf));
}
END_TEST

/* ---- references and swap ----------------------------------------------- */

START_TEST(test_swap_generation)
{
	struct fg_config *a = load_ok(MIN_OAUTH), *b = load_ok(MIN_OAUTH), *cur;

	ck_assert_ptr_null(conf_current());
	conf_swap(a);
	ck_assert_uint_eq(a->generation, 1);
	cur = conf_current();
	ck_assert_ptr_eq(cur, a);
	ck_assert_int_eq(atomic_load(&a->refs), 2);
	conf_swap(b);
	ck_assert_uint_eq(b->generation, 2);
	/* the old config lives on while a request still holds it */
	ck_assert_int_eq(atomic_load(&a->refs), 1);
	ck_assert_str_eq(cur->client_id, "abc");
	conf_unref(cur);
	cur = conf_current();
	ck_assert_ptr_eq(cur, b);
	conf_unref(cur);
	conf_swap(NULL); /* drops b: nothing leaks at exit */
	ck_assert_ptr_null(conf_current());
}
END_TEST

/* Stats slots never come back, so loading a configuration must not take
 * one: a reload refused for any reason, or a configuration only checked,
 * leaves the slot table as it was; the configuration put in force gets
 * its slots when it is swapped in. Relative to a probe name, so the test
 * holds whether or not Check forks per test. */
START_TEST(test_stats_slots_only_on_swap)
{
	int before = stats_tenant_slot("probe-before");
	ck_assert_int_ge(before, 0);

	write_file("tenants.d/n.conf", "[tenant]\nname = newcomer\nsources = 10.9.0.0/16\n");
	ck_assert_ptr_null(load(MIN_OAUTH "[gateway]\nworkers = lots\n"));
	conf_errors_free(&errs);
	struct fg_config *c = load_ok(MIN_OAUTH);
	ck_assert_str_eq(c->tenants[0]->name, "newcomer");
	ck_assert_int_eq(c->tenants[0]->stats_slot, -1);
	conf_unref(c);
	ck_assert_int_eq(stats_tenant_slot("probe-after"), before + 1);

	c = load_ok(MIN_OAUTH);
	conf_swap(c);
	ck_assert_int_eq(c->tenants[0]->stats_slot, before + 2);
	ck_assert_int_eq(stats_tenant_slot("newcomer"), before + 2);
	conf_swap(NULL);
}
END_TEST

START_TEST(test_refcount)
{
	struct fg_config *c = load_ok(MIN_OAUTH);
	ck_assert_int_eq(atomic_load(&c->refs), 1);
	ck_assert_ptr_eq(conf_ref(c), c);
	ck_assert_int_eq(atomic_load(&c->refs), 2);
	conf_unref(c);
	ck_assert_int_eq(atomic_load(&c->refs), 1);
	conf_unref(c); /* frees; ASan / valgrind prove nothing is left */
	conf_unref(NULL);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_every_key);
	tcase_add_test(tc, test_key_table);
	tcase_add_test(tc, test_webhook_keys);
	tcase_add_test(tc, test_admin_off_loopback_needs_a_token);
	tcase_add_test(tc, test_empty_value_means_default);
	tcase_add_test(tc, test_misspelt_key);
	tcase_add_test(tc, test_unknown_section);
	tcase_add_test(tc, test_syntax_errors);
	tcase_add_test(tc, test_long_lines);
	tcase_add_test(tc, test_secret_env);
	tcase_add_test(tc, test_secret_file);
	tcase_add_test(tc, test_secret_never_in_errors);
	tcase_add_test(tc, test_secret_type);
	tcase_add_test(tc, test_bad_values);
	tcase_add_test(tc, test_listener_clash);
	tcase_add_test(tc, test_credentials_required);
	tcase_add_test(tc, test_many_errors);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_relative_paths);
	tcase_add_test(tc, test_missing_dirs_and_files);
	tcase_add_test(tc, test_tenants);
	tcase_add_test(tc, test_tenant_listener_clash);
	tcase_add_test(tc, test_swap_generation);
	tcase_add_test(tc, test_stats_slots_only_on_swap);
	tcase_add_test(tc, test_refcount);
	tcase_add_test(tc, test_redis_absent_and_defaults);
	tcase_add_test(tc, test_redis_refusals);
	tcase_add_test(tc, test_local_token_keys);
	tcase_add_test(tc, test_bad_urls);
	tcase_add_test(tc, test_list_read_keys);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(config_suite());
}
