/* conf.c: the main configuration file, the key table that drives it, and
 * the one shared pointer to the configuration in force.
 *
 * Every key of the main file is one row of CONFIG_KEYS below (section,
 * name, type, field, default, reloadable, range, help). Parsing, defaults,
 * the public config_keys[] used by -t / docs coverage / the stats config
 * view all come from that list, so a key cannot exist in one place and be
 * missing in another. Defaults are written as text and go through the same
 * parsers as the file, which proves them valid.
 *
 * Loading never stops at the first problem: every error is collected as
 * FILE:LINE so one `fleetgate -t` shows them all. A loaded config is
 * immutable; readers hold a reference instead of a lock. This file must
 * never put a secret's value into an error: secrets are resolved by
 * conf_secret_resolve(), whose errors name only the variable or the path. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "conf.h"
#include "conf_keys.h"
#include "stats.h"
#include "conf_ini.h"
#include "tenant.h"
#include "vinset.h"
#include "up_jwt.h"
#include "conf_url.h"
#include "conf_listen.h"
#include "tenant_cert.h"
#include <grp.h>

/* ---- the key table ------------------------------------------------------ */


/* CONFIG_KEYS, the rows: conf_keys.h. */

/* ttl_<status>, one per clearance status, after the keys above. */
#define CONFIG_TTL_DOC(s) \
	{ "cache", "ttl_" #s, "", true, \
	  "seconds a single-VIN read with status " #s " is fresh; default: ttl" },
#define CONFIG_TTL_SPEC(s) \
	{ CT_SECONDS_OPT, offsetof(struct fg_config, ttl_status) + \
	  FG_STATUS_##s * sizeof(int), 0, 31536000 },

#define CONFIG_KEY_DOC(sec, name, type, field, def, reload, min, max, help) \
	{ #sec, #name, def, reload, help },
#define CONFIG_KEY_SPEC(sec, name, type, field, def, reload, min, max, help) \
	{ type, offsetof(struct fg_config, field), min, max },

const struct fg_config_key config_keys[] = {
	CONFIG_KEYS(CONFIG_KEY_DOC)
	FG_STATUS_LIST(CONFIG_TTL_DOC)
};
const size_t config_nkeys = sizeof(config_keys) / sizeof(config_keys[0]);

/* How to parse each row of config_keys[], same order. */
struct config_spec {
	enum config_type type;
	size_t off;
	long long min, max;
};
static const struct config_spec config_specs[] = {
	CONFIG_KEYS(CONFIG_KEY_SPEC)
	FG_STATUS_LIST(CONFIG_TTL_SPEC)
};
_Static_assert(sizeof(config_specs) / sizeof(config_specs[0]) ==
	       sizeof(config_keys) / sizeof(config_keys[0]), "key tables out of step");

#define CONFIG_NKEYS (sizeof(config_specs) / sizeof(config_specs[0]))

static const char *const config_sections[] = { "gateway", "upstream", "oauth", "cache", "redis", "tls", "webhook" };

/* ---- loading ------------------------------------------------------------ */

struct config_seen {
	char *value;   /* as written; cleansed on free (may be a literal secret) */
	int line;
};

struct conf_load {
	struct fg_config *c;
	struct fg_errors *errs;
	struct config_seen seen[CONFIG_NKEYS];
};

static bool conf_section_known(const char *s)
{
	for (size_t i = 0; i < sizeof(config_sections) / sizeof(config_sections[0]); i++)
		if (strcmp(config_sections[i], s) == 0)
			return true;
	return false;
}

static int conf_key_index(const char *section, const char *name)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (strcmp(config_keys[i].section, section) == 0 &&
		    strcmp(config_keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void conf_ini_cb(void *arg, const char *file, int line,
			  const char *section, const char *key, const char *value)
{
	struct conf_load *L = arg;
	int i;

	if (!key) {
		if (!conf_section_known(section))
			conf_errors_add(L->errs, file, line, "unknown section [%s]", section);
		return;
	}
	if (!*section) {
		conf_errors_add(L->errs, file, line, "key \"%s\" outside of a section", key);
		return;
	}
	if (!conf_section_known(section))
		return; /* reported once, at its header */
	i = conf_key_index(section, key);
	if (i < 0) {
		conf_errors_add(L->errs, file, line, "unknown key \"%s\" in [%s]", key, section);
		return;
	}
	if (L->seen[i].value) {
		conf_errors_add(L->errs, file, line, "duplicate key \"%s\" in [%s] (first set on line %d)",
			   key, section, L->seen[i].line);
		return;
	}
	L->seen[i].value = strdup(value);
	L->seen[i].line = line;
	if (!L->seen[i].value)
		conf_errors_add(L->errs, file, line, "out of memory");
}

static int conf_parse_addrs(struct conf_load *L, const char *text, struct fg_addrlist *out,
			      bool off_ok, char *err, size_t errlen)
{
	char **items;
	size_t n;
	int rc = 0;

	if (off_ok && strcmp(text, "off") == 0)
		return 0;
	n = conf_parse_split_list(text, &items);
	if (n == 0) {
		snprintf(err, errlen, "needs at least one address");
		return -1;
	}
	out->v = calloc(n, sizeof(*out->v));
	if (!out->v) {
		conf_parse_list_free(items, n);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = conf_parse_addrlist_add(out, items[i], L->c->dir, err, errlen);
	conf_parse_list_free(items, n);
	return rc;
}

static int conf_check_range(const struct config_spec *sp, long long v, const char *text,
			      char *err, size_t errlen)
{
	if (v < sp->min || v > sp->max) {
		snprintf(err, errlen, "%s is out of range (%lld to %lld)", text, sp->min, sp->max);
		return -1;
	}
	return 0;
}

/* A secret or key file that the group or others may read is worth a
 * warning (not an error: it works, and -t still exits 0). */
static void conf_warn_mode(struct conf_load *L, int line, const char *key, const char *path)
{
	struct stat st;
	if (path && stat(path, &st) == 0 && (st.st_mode & 044))
		conf_errors_warn(L->errs, L->c->path, line, "%s: \"%s\" is readable by %s (mode %04o); chmod 600 or 640",
			    key, path, (st.st_mode & 04) ? "every user" : "its group",
			    (unsigned)(st.st_mode & 07777));
}

static void conf_check_secret_file(struct conf_load *L, size_t i, const char *text)
{
	if (strncmp(text, "file:", 5) != 0)
		return;
	char *path = conf_parse_path_join(L->c->dir, text + 5);
	conf_warn_mode(L, L->seen[i].line, config_keys[i].name, path);
	free(path);
}

/* Parses TEXT for key I into the config. Returns 0 or -1 with ERR. */
static int conf_apply(struct conf_load *L, size_t i, const char *text, char *err, size_t errlen)
{
	const struct config_spec *sp = &config_specs[i];
	void *field = (char *)L->c + sp->off;
	int iv;
	size_t zv;

	switch (sp->type) {
	case CT_ADDRS:
		return conf_parse_addrs(L, text, field, strcmp(config_keys[i].name, "admin_listen") == 0 ||
					strcmp(config_keys[i].section, "webhook") == 0,
					  err, errlen);
	case CT_INT:
		if (conf_parse_int(text, &iv, err, errlen) < 0 ||
		    conf_check_range(sp, iv, text, err, errlen) < 0)
			return -1;
		*(int *)field = iv;
		return 0;
	case CT_SECONDS:
	case CT_SECONDS_OPT:
		if (conf_parse_seconds(text, &iv, err, errlen) < 0 ||
		    conf_check_range(sp, iv, text, err, errlen) < 0)
			return -1;
		*(int *)field = iv;
		return 0;
	case CT_SIZE:
		if (conf_parse_size(text, &zv, err, errlen) < 0)
			return -1;
		if ((long long)zv < sp->min || (unsigned long long)zv > (unsigned long long)sp->max) {
			snprintf(err, errlen, "size \"%s\" is out of range (%lld to %lld bytes)",
				 text, sp->min, sp->max);
			return -1;
		}
		*(size_t *)field = zv;
		return 0;
	case CT_RATE:
		return conf_parse_rate(text, field, err, errlen);
	case CT_BOOL:
		return conf_parse_bool(text, field, err, errlen);
	case CT_LEVEL:
		if (conf_parse_word(text, (const char *const[]){ "error", "warn", "info", "debug", NULL }, &iv, err, errlen) < 0)
			return -1;
		*(enum fg_log_level *)field = (enum fg_log_level)iv;
		return 0;
	case CT_URL:
		if (conf_url_check(text, err, errlen) < 0)
			return -1;
		return conf_parse_url(text, field, err, errlen);
	case CT_SECRET:
		conf_check_secret_file(L, i, text);
		return conf_secret_resolve(field, text, L->c->dir, err, errlen);
	case CT_MILLIS:
		if (conf_parse_millis(text, &iv, err, errlen) < 0 ||
		    conf_check_range(sp, iv, text, err, errlen) < 0)
			return -1;
		*(int *)field = iv;
		return 0;
	case CT_REDIS_URL:
		return conf_parse_redis_url(text, L->c->dir, field, err, errlen);
	case CT_ONFAIL:
		if (conf_parse_word(text, (const char *const[]){ "share", "closed", NULL }, &iv, err, errlen) < 0)
			return -1;
		*(enum fg_redis_onfail *)field = iv ? FG_REDIS_CLOSED : FG_REDIS_SHARE;
		return 0;
	case CT_MODE:
		return conf_parse_mode(text, field, err, errlen);
	case CT_SHA256: {
		unsigned char h[32];
		if (conf_parse_sha256_hex(text, h, err, errlen) < 0)
			return -1;
		*(char **)field = strdup(text);
		for (char *p = *(char **)field; p && *p; p++)
			*p = (char)tolower((unsigned char)*p);
		break;
	}
	case CT_TLSVERIFY:
	case CT_TLSVERSION:
		if (conf_parse_word(text, sp->type == CT_TLSVERIFY ? (const char *const[]){ "off", "optional", "required", NULL }
				    : (const char *const[]){ "1.2", "1.3", NULL }, &iv, err, errlen) < 0)
			return -1;
		*(int *)field = iv;
		return 0;
	case CT_VINREADS:
		if (conf_parse_word(text, (const char *const[]){ "auto", "list", "single", NULL }, &iv, err, errlen) < 0)
			return -1;
		*(enum fg_vin_reads *)field = (enum fg_vin_reads)iv;
		return 0;
	case CT_LOG:
		if (strcmp(text, "-") == 0 || strcmp(text, "off") == 0) {
			*(char **)field = strdup(text);
			break;
		}
		/* a log path is a path */
		__attribute__((fallthrough));
	case CT_PATH:
		*(char **)field = conf_parse_path_join(L->c->dir, text);
		break;
	case CT_STRING:
		*(char **)field = strdup(text);
		break;
	}
	if (!*(char **)field) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Every key: the file's value, or its default when absent or empty. */
static void conf_apply_all(struct conf_load *L)
{
	char err[FG_ERR_LEN];
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		const struct config_seen *s = &L->seen[i];
		const char *text = s->value && *s->value ? s->value : config_keys[i].defval;
		if (config_specs[i].type == CT_SECONDS_OPT || config_specs[i].type == CT_MODE ||
		    config_specs[i].type == CT_TLSVERIFY)
			*(int *)((char *)L->c + config_specs[i].off) = -1;
		if (!*text)
			continue;
		if (conf_apply(L, i, text, err, sizeof(err)) < 0)
			conf_errors_add(L->errs, L->c->path, s->line, "%s: %s", config_keys[i].name, err);
	}
}

static int conf_line(const struct conf_load *L, const char *section, const char *name)
{
	int i = conf_key_index(section, name);
	return i < 0 ? 0 : L->seen[i].line;
}

static char *conf_concat(const char *a, const char *b)
{
	char *out;
	return asprintf(&out, "%s%s", a, b) < 0 ? NULL : out;
}

/* max_connections = 0: what the descriptor limit leaves once every
 * worker's upstream pool, its epoll and listener descriptors, the token
 * manager, Redis, the logs and the admin listener's admin_max_connections
 * have theirs (never
 * fewer than 16, so a tiny limit still serves). Beyond it accept() would
 * fail with EMFILE, which sheds nobody and starves the admin listener. */
static int conf_auto_connections(int workers, int admin_max)
{
	struct rlimit rl;
	long have = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (long)rl.rlim_cur : 1048576;
	long reserve = 64 + admin_max + (long)workers * (FG_UPSTREAM_CONNS + 8);
	long n = have - reserve;
	return (int)(n < 16 ? 16 : n > 1048576 ? 1048576 : n);
}

static void conf_derive_local_token_keys(struct conf_load *L);

/* Defaults that depend on other keys, and the rules that span keys. */
/* [webhook]: a listener needs the console's secret (an unsigned delivery
 * is never accepted), and the path is an absolute one without a query. */
static void conf_derive_webhook(struct conf_load *L)
{
	struct fg_config *c = L->c;
	if (c->webhook_listen.n && conf_secret_empty(&c->webhook_secret))
		conf_errors_add(L->errs, c->path, conf_line(L, "webhook", "listen"),
			   "[webhook] listen needs secret (the one set in the High Mobility console)");
	if (!conf_secret_empty(&c->webhook_secret_previous) && conf_secret_empty(&c->webhook_secret))
		conf_errors_add(L->errs, c->path, conf_line(L, "webhook", "secret_previous"),
			   "[webhook] secret_previous needs secret");
	if (c->webhook_path && (c->webhook_path[0] != '/' || strpbrk(c->webhook_path, "?# \t")))
		conf_errors_add(L->errs, c->path, conf_line(L, "webhook", "path"),
			   "[webhook] path must begin with / and hold no query, fragment or blank");
}

static void conf_derive(struct conf_load *L)
{
	struct fg_config *c = L->c;
	const char *f = c->path;

	if (c->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		c->workers = n > 0 ? (int)(n > FG_MAX_WORKERS ? FG_MAX_WORKERS : n) : 1;
	}
	if (c->max_connections == 0)
		c->max_connections = conf_auto_connections(c->workers, c->admin_max_connections);
	if (c->base_url) {
		if (!c->token_url)
			c->token_url = conf_concat(c->base_url, "/v1/access_tokens");
		if (!c->audience)
			c->audience = conf_concat(c->base_url, "/v1");
	}
	if (!c->client_id)
		conf_errors_add(L->errs, f, 0, "[oauth] client_id is required");
	bool has_secret = L->seen[conf_key_index("oauth", "client_secret")].value &&
			  *L->seen[conf_key_index("oauth", "client_secret")].value;
	if (has_secret && c->private_key_file)
		conf_errors_add(L->errs, f, conf_line(L, "oauth", "private_key_file"),
			   "[oauth] set either client_secret or private_key_file, not both");
	else if (!has_secret && !c->private_key_file)
		conf_errors_add(L->errs, f, 0, "[oauth] needs client_secret or private_key_file");
	if (c->private_key_file && !c->key_id)
		conf_errors_add(L->errs, f, conf_line(L, "oauth", "private_key_file"),
			   "[oauth] private_key_file needs key_id");
	if (c->key_id && !c->private_key_file)
		conf_errors_add(L->errs, f, conf_line(L, "oauth", "key_id"),
			   "[oauth] key_id is only used with private_key_file");
	conf_derive_local_token_keys(L);
	if (c->redis_username && conf_secret_empty(&c->redis_password))
		conf_errors_add(L->errs, f, conf_line(L, "redis", "username"),
			   "[redis] username needs password");
	if (c->redis_prefix && strpbrk(c->redis_prefix, " \t{}"))
		conf_errors_add(L->errs, f, conf_line(L, "redis", "prefix"),
			   "[redis] prefix must not contain blanks or braces");
	if (!conf_secret_empty(&c->redis_signing_key_previous) && conf_secret_empty(&c->redis_signing_key))
		conf_errors_add(L->errs, f, conf_line(L, "redis", "signing_key_previous"),
			   "[redis] signing_key_previous needs signing_key");
	conf_derive_webhook(L);
}

/* The AEAD keys of sealed local tokens (req_localtoken.c), derived from
 * the configured secrets so that a secret of any length gives a 256-bit
 * key, and a key id byte so the previous key is tried only for its own
 * tokens. */
static void conf_derive_local_token_keys(struct conf_load *L)
{
	struct fg_config *c = L->c;
	const struct fg_secret *k[2] = { &c->local_token_key, &c->local_token_key_previous };
	static const char *const names[2] = { "local_token_key", "local_token_key_previous" };
	c->local_token_nkeys = 0;
	if (conf_secret_empty(k[0]) && !conf_secret_empty(k[1])) {
		conf_errors_add(L->errs, c->path, conf_line(L, "gateway", "local_token_key_previous"),
				"[gateway] local_token_key_previous needs local_token_key");
		return;
	}
	for (int i = 0; i < 2; i++) {
		if (conf_secret_empty(k[i]))
			continue;
		if (k[i]->len < 16) {
			conf_errors_add(L->errs, c->path, conf_line(L, "gateway", names[i]),
					"[gateway] %s must be at least 16 bytes (openssl rand -base64 32 makes one)",
					names[i]);
			continue;
		}
		unsigned char id[32];
		unsigned int n = 0;
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
			  EVP_DigestUpdate(md, "fleetgate local token key v1", 29) &&
			  EVP_DigestUpdate(md, k[i]->buf, k[i]->len) &&
			  EVP_DigestFinal_ex(md, c->local_token_keys[c->local_token_nkeys], &n) &&
			  EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
			  EVP_DigestUpdate(md, "fleetgate local token key id v1", 32) &&
			  EVP_DigestUpdate(md, k[i]->buf, k[i]->len) && EVP_DigestFinal_ex(md, id, &n);
		EVP_MD_CTX_free(md);
		if (!ok) {
			conf_errors_add(L->errs, c->path, conf_line(L, "gateway", names[i]),
					"[gateway] %s: no key could be derived (OpenSSL)", names[i]);
			continue;
		}
		c->local_token_kids[c->local_token_nkeys++] = id[0];
		OPENSSL_cleanse(id, sizeof id);
	}
	if (c->local_token_nkeys == 2 && conf_secret_equal(k[0], k[1]))
		c->local_token_nkeys = 1;
}

/* Files the config names must be usable now, so -t catches them. */
static void conf_check_files(struct conf_load *L)
{
	struct fg_config *c = L->c;
	char err[FG_ERR_LEN];

	if (c->ca_file && access(c->ca_file, R_OK) < 0)
		conf_errors_add(L->errs, c->path, conf_line(L, "upstream", "ca_file"),
			   "ca_file: cannot read \"%s\": %s", c->ca_file, strerror(errno));
	if (c->private_key_file) {
		conf_warn_mode(L, conf_line(L, "oauth", "private_key_file"), "private_key_file",
				 c->private_key_file);
		err[0] = '\0';
		c->private_key = up_jwt_load_key(c->private_key_file, err, sizeof(err));
		if (!c->private_key)
			conf_errors_add(L->errs, c->path, conf_line(L, "oauth", "private_key_file"),
				   "private_key_file: %s", err[0] ? err : "cannot load key");
	}
}

static void conf_unix_perms(struct fg_config *c, struct fg_addrlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		if (!l->v[i].is_unix)
			continue;
		l->v[i].mode = c->unix_mode;
		l->v[i].gid = c->unix_gid;
	}
}

/* unix_mode and unix_group go to every unix: listener. */
static void conf_unix_listeners(struct conf_load *L)
{
	struct fg_config *c = L->c;
	c->unix_gid = -1;
	if (c->unix_group) {
		struct group *g = getgrnam(c->unix_group);
		if (g)
			c->unix_gid = (long)g->gr_gid;
		else
			conf_errors_add(L->errs, c->path, conf_line(L, "gateway", "unix_group"),
				   "unix_group: no group \"%s\"", c->unix_group);
	}
	conf_unix_perms(c, &c->listen);
	conf_unix_perms(c, &c->admin_listen);
	conf_unix_perms(c, &c->webhook_listen);
	for (size_t t = 0; t < c->ntenants; t++)
		conf_unix_perms(c, &c->tenants[t]->listen);
}

static void conf_load_tenants(struct conf_load *L)
{
	struct fg_config *c = L->c;
	if (!c->tenants_dir)
		return;
	tenant_load_dir(c->tenants_dir, c->path, conf_line(L, "gateway", "tenants_dir"), &c->tenants, &c->ntenants, L->errs);
	for (size_t i = 0; i < c->ntenants; i++)
		if (c->tenants[i]->vins)
			c->nvins += vinset_count(c->tenants[i]->vins);
}

static void conf_free(struct fg_config *c)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		void *field = (char *)c + config_specs[i].off;
		switch (config_specs[i].type) {
		case CT_ADDRS:
			conf_parse_addrlist_free(field);
			break;
		case CT_SECRET:
			conf_secret_wipe(field);
			break;
		case CT_REDIS_URL:
			conf_parse_redis_url_free(field);
			break;
		case CT_STRING: case CT_PATH: case CT_LOG: case CT_URL: case CT_SHA256:
			free(*(char **)field);
			break;
		default:
			break;
		}
	}
	/* derived values not owned by a key row */
	OPENSSL_cleanse(c->local_token_keys, sizeof c->local_token_keys);
	conf_tls_free(&c->tls);
	conf_tls_free(&c->webhook_tls);
	tenant_cert_index_free(c->certs);
	if (c->private_key)
		EVP_PKEY_free(c->private_key);
	for (size_t i = 0; i < c->ntenants; i++)
		tenant_free(c->tenants[i]);
	free(c->tenants);
	free(c->key_lines);
	free(c->path);
	free(c->dir);
	free(c);
}

static void conf_seen_free(struct conf_load *L)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		char *v = L->seen[i].value;
		if (v) {
			OPENSSL_cleanse(v, strlen(v));
			free(v);
		}
	}
}

struct fg_config *conf_load(const char *path, struct fg_errors *errs)
{
	struct conf_load *L = calloc(1, sizeof(*L));
	struct fg_config *c = calloc(1, sizeof(*c));
	size_t nerr0 = errs->n;

	if (!L || !c)
		goto oom;
	atomic_init(&c->refs, 1);
	c->path = strdup(path);
	c->dir = conf_parse_dir_of(path);
	if (!c->path || !c->dir)
		goto oom;
	L->c = c;
	L->errs = errs;
	if (conf_ini_parse_file(path, conf_ini_cb, L, errs) < 0)
		goto fail;
	conf_apply_all(L);
	conf_derive(L);
	conf_check_files(L);
	conf_load_tenants(L);
	conf_unix_listeners(L);
	conf_listen_check(c->path, &c->listen, &c->admin_listen, c->tenants, c->ntenants, L->errs,
			  conf_line(L, "gateway", "admin_listen"));
	conf_listen_check_admin(c->path, &c->admin_listen, c->admin_token_sha256 || c->admin_open, L->errs,
				conf_line(L, "gateway", "admin_listen"));
	conf_listen_check_webhook(c->path, &c->webhook_listen, &c->listen, &c->admin_listen, c->tenants,
				  c->ntenants, L->errs, conf_line(L, "webhook", "listen"));
	bool tls = conf_parse_addrs_tls(&c->listen) || conf_parse_addrs_tls(&c->admin_listen);
	for (size_t t = 0; t < c->ntenants; t++)
		tls = tls || conf_parse_addrs_tls(&c->tenants[t]->listen);
	const int tls_lines[4] = { conf_line(L, "tls", "cert_file"), conf_line(L, "tls", "key_file"),
				   conf_line(L, "tls", "client_ca_file"), conf_line(L, "tls", "crl_file") };
	conf_tls_load(&c->tls, tls, c->path, tls_lines, L->errs);
	/* The webhook listener faces the internet: a certificate of its own, no client CA. */
	const int hook_lines[4] = { conf_line(L, "webhook", "cert_file"), conf_line(L, "webhook", "key_file"), 0, 0 };
	c->webhook_tls.verify = FG_TLS_VERIFY_OFF;
	c->webhook_tls.section = "[webhook]";
	conf_tls_load(&c->webhook_tls, conf_parse_addrs_tls(&c->webhook_listen), c->path, hook_lines, L->errs);
	c->certs = tenant_cert_index(c->tenants, c->ntenants, L->errs);
	if (errs->n != nerr0)
		goto fail;
	c->key_lines = calloc(CONFIG_NKEYS, sizeof(*c->key_lines));
	if (!c->key_lines)
		goto oom;
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		c->key_lines[i] = L->seen[i].line;
	conf_seen_free(L);
	free(L);
	return c;
oom:
	conf_errors_add(errs, path, 0, "out of memory");
fail:
	if (L)
		conf_seen_free(L);
	free(L);
	if (c)
		conf_free(c);
	return NULL;
}

const void *conf_key_field(const struct fg_config *c, size_t i, enum config_type *type)
{
	*type = config_specs[i].type;
	return (const char *)c + config_specs[i].off;
}

int conf_key_line(const struct fg_config *c, const char *section, const char *name)
{
	int i = conf_key_index(section, name);
	return i < 0 || !c->key_lines ? 0 : c->key_lines[i];
}

/* ---- references and the configuration in force ------------------------ */

struct fg_config *conf_ref(struct fg_config *c)
{
	if (c)
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void conf_unref(struct fg_config *c)
{
	if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		conf_free(c);
}

static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fg_config *config_cur;
static atomic_uint config_generation;

unsigned conf_current_generation(void)
{
	return atomic_load(&config_generation);
}

struct fg_config *conf_current(void)
{
	struct fg_config *c;
	pthread_mutex_lock(&config_lock);
	c = conf_ref(config_cur);
	pthread_mutex_unlock(&config_lock);
	return c;
}

void conf_swap(struct fg_config *c)
{
	struct fg_config *old;
	/* Stats slots are a fixed, never-released table: only a configuration
	 * that is put in force may take one, or a refused reload (or a -t run)
	 * would use slots up for names that never answer a request. Resolved
	 * before C is published, so a request never takes the stats lock.
	 * /stats lists the tenants in force from here on, silent ones too. */
	bool in_force[STATS_MAX_TENANTS] = { false };
	for (size_t i = 0; c && i < c->ntenants; i++) {
		int slot = stats_tenant_slot(c->tenants[i]->name);
		c->tenants[i]->stats_slot = slot;
		if (slot >= 0)
			in_force[slot] = true;
	}
	stats_tenants_in_force(in_force);
	pthread_mutex_lock(&config_lock);
	if (c)
		c->generation = atomic_fetch_add(&config_generation, 1) + 1;
	old = config_cur;
	config_cur = c;
	pthread_mutex_unlock(&config_lock);
	conf_unref(old); /* outside the lock: freeing may take a while */
}
