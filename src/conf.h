/* conf.h: the configuration as one immutable, reference-counted object.
 *
 * conf_load() parses the main file, every tenant file, every VIN file and
 * the credentials into a fresh struct fg_config and validates all of it; it
 * returns NULL with every problem in ERRS (as FILE:LINE: message) when any
 * part is wrong. Loading has no side effect outside the new config: only
 * conf_swap(), before it publishes a config, gives its tenants their
 * stats slots. Nothing in a published config changes, so any thread may
 * read it while it holds a reference. conf_current() / conf_swap()
 * are the only shared state here; their lock is inside. */
#ifndef FG_CONF_H
#define FG_CONF_H
#include <stddef.h>
#include <stdbool.h>
#include <stdatomic.h>
#include "fleetgate.h"
#include "conf_errors.h"
#include "conf_secret.h"
#include "conf_parse.h"   /* struct fg_addrlist, struct fg_rate */
#include "conf_tls.h"     /* struct fg_tls */

struct fg_tenant;        /* tenant.h */
struct tenant_certs;     /* tenant_cert.h */
typedef struct evp_pkey_st EVP_PKEY;

enum fg_log_level { FG_LOG_ERROR, FG_LOG_WARN, FG_LOG_INFO, FG_LOG_DEBUG };
enum fg_redis_onfail { FG_REDIS_SHARE, FG_REDIS_CLOSED };
/* [upstream] vin_reads: how a single-VIN miss goes upstream (docs/cache.md). */
enum fg_vin_reads { FG_VIN_READS_AUTO, FG_VIN_READS_LIST, FG_VIN_READS_SINGLE };

/* How a key's value is written and stored (conf.c's key table). */
enum config_type {
	CT_ADDRS,       /* comma list of addresses; "off" = none (admin only) */
	CT_INT,         /* plain integer in [min, max] */
	CT_SECONDS,     /* non-negative whole seconds in [min, max] */
	CT_SECONDS_OPT, /* like CT_SECONDS; -1 when unset */
	CT_SIZE,        /* bytes with optional K/M/G suffix, in [min, max] */
	CT_RATE,        /* N/s, N/min, N/h */
	CT_BOOL,
	CT_STRING,
	CT_PATH,        /* relative to the main file's folder */
	CT_LOG,         /* "-", "off" or a path */
	CT_LEVEL,       /* error | warn | info | debug */
	CT_URL,         /* http:// or https:// */
	CT_SECRET,      /* env:NAME, file:PATH or literal */
	CT_MILLIS,      /* seconds with a fraction, or Nms; stored in ms */
	CT_REDIS_URL,   /* redis://IP:PORT/DB or unix:/path; empty = no Redis */
	CT_ONFAIL,      /* share | closed */
	CT_VINREADS,    /* auto | list | single */
	CT_MODE,        /* octal file mode; -1 when unset */
	CT_SHA256,      /* 64 hex digits, kept lower-case; NULL when unset */
	CT_TLSVERIFY,   /* off | optional | required; -1 when unset */
	CT_TLSVERSION,  /* 1.2 | 1.3 */
};

struct fg_config {
	atomic_int refs;
	unsigned generation;     /* set by conf_swap */
	char *path;              /* main file as given */
	char *dir;               /* its folder: base of relative paths */

	/* [gateway] */
	struct fg_addrlist listen;
	struct fg_addrlist admin_listen;
	int workers;             /* resolved: 0 in the file means one per CPU */
	char *tenants_dir;       /* resolved to an absolute path */
	size_t max_body_bytes;
	int client_timeout;
	int client_header_timeout;
	int client_body_timeout;
	int max_connections;     /* resolved: 0 in the file means from RLIMIT_NOFILE */
	int shutdown_timeout;
	int drain_delay;         /* lame-duck seconds before draining */
	char *admin_token_sha256;/* lower-case hex, or NULL: no admin token */
	bool admin_open;         /* an admin listener off loopback may go without a token */
	int admin_max_connections;
	int admin_idle_timeout;
	int unix_mode;           /* -1 = umask */
	char *unix_group;
	long unix_gid;           /* resolved unix_group; -1 = none */
	char *access_log;        /* "-", "off" or an absolute path */
	char *audit_log;
	bool audit_sync;         /* answers to mutations wait for fdatasync of their lines */
	enum fg_log_level log_level;
	int local_token_ttl;     /* seconds a local bearer token lives (req_localtoken.c) */
	struct fg_secret local_token_key;          /* empty: tokens are per process */
	struct fg_secret local_token_key_previous;
	/* derived from the two above (conf.c): the AEAD keys of sealed local
	 * tokens, the current first, and their key id bytes */
	unsigned char local_token_keys[2][32];
	unsigned char local_token_kids[2];
	int local_token_nkeys;

	/* [upstream] */
	char *base_url;          /* without trailing '/' */
	char *ca_file;           /* NULL = system store */
	int connect_timeout;
	int timeout;
	struct fg_rate vin_get_rate;
	int queue_timeout;
	size_t max_upstream_bytes; /* longer answers are refused (502) */
	enum fg_vin_reads vin_reads;
	int list_batch_window_ms;  /* a batch gathers VINs this long */
	int list_batch_max;        /* VINs per list read */
	struct fg_rate list_get_rate;

	/* [oauth] */
	char *token_url;         /* resolved: default base_url + /v1/access_tokens */
	char *client_id;
	struct fg_secret client_secret;  /* empty when private_key_file is used */
	char *private_key_file;  /* resolved path, or NULL */
	EVP_PKEY *private_key;   /* parsed P-256 key, or NULL */
	char *key_id;
	char *audience;          /* resolved: default base_url + /v1 */
	char *scope;             /* NULL when unset */
	int refresh_before;      /* seconds; -1 = default (half the lifetime) */

	/* [cache] */
	bool cache_enabled;
	size_t cache_max_bytes;
	int ttl;
	int ttl_status[FG_STATUS_COUNT];  /* -1 = use ttl */
	int ttl_list;
	int stale_if_error;
	bool refresh_ahead;      /* read entries are refreshed by list reads before expiry */

	/* [redis]: redis_url.addr.spec NULL = not configured (conf_redis_on) */
	struct fg_redis_url redis_url;
	char *redis_username;          /* NULL: AUTH with the password alone */
	struct fg_secret redis_password;
	char *redis_prefix;
	int redis_connect_timeout_ms;
	int redis_timeout_ms;
	int redis_instances;
	enum fg_redis_onfail redis_on_failure;
	bool redis_cache;
	struct fg_secret redis_signing_key;          /* empty: entries unsigned */
	struct fg_secret redis_signing_key_previous;

	/* [tls]: the defaults of tls:// tenant and admin listeners */
	struct fg_tls tls;

	/* [webhook] (docs/webhooks.md): webhook_listen.n 0 = no webhook listener */
	struct fg_addrlist webhook_listen;
	struct fg_tls webhook_tls;  /* tls:// webhook listeners: cert_file, key_file; no client CA */
	char *webhook_path;
	struct fg_secret webhook_secret;
	struct fg_secret webhook_secret_previous;
	size_t webhook_max_body_bytes;
	int webhook_max_connections;
	int webhook_header_timeout;
	int webhook_body_timeout;
	char *webhook_spool;     /* resolved folder, or NULL */
	int webhook_max_age;
	int webhook_dedupe_max;
	int webhook_verify_delay_ms;
	int webhook_reconcile_interval;

	/* tenants, sorted by name */
	struct fg_tenant **tenants;
	size_t ntenants;
	size_t nvins;            /* VINs over all tenants */
	struct tenant_certs *certs;  /* their cert_names and cert_sha256; NULL: none */
	int *key_lines;          /* line of each config_keys[] row; 0 = default */
};

/* Loads and validates everything. Returns a config holding one reference,
 * or NULL with ERRS filled. */
struct fg_config *conf_load(const char *path, struct fg_errors *errs);
struct fg_config *conf_ref(struct fg_config *c);
/* Whether a [redis] url is configured: without one, nothing is shared. */
static inline bool conf_redis_on(const struct fg_config *c)
{
	return c && c->redis_url.addr.spec != NULL;
}

/* The longest reply fleetgate takes from Redis: an answer of
 * max_upstream_bytes and room for its fields (redis_io.h). */
static inline size_t conf_redis_max_reply(const struct fg_config *c)
{
	return c->max_upstream_bytes + 65536;
}
void conf_unref(struct fg_config *c);

/* The configuration in force; the caller owns the returned reference. */
struct fg_config *conf_current(void);
/* Generation of the configuration in force, without taking a reference:
 * lets a worker see cheaply whether its cached pointer is still current. */
unsigned conf_current_generation(void);
/* Installs C (takes over the caller's reference), gives it the next
 * generation number and its tenants their stats slots, drops the old one. */
void conf_swap(struct fg_config *c);

/* A short, secret-free description of one key's documentation, generated
 * from the key table (name, section, default). Used by docs coverage. */
struct fg_config_key {
	const char *section;
	const char *name;
	const char *defval;
	bool reloadable;
	const char *help;
};
extern const struct fg_config_key config_keys[];
extern const size_t config_nkeys;
/* Row I's field in C and its type, for -T and reload's restart check. */
const void *conf_key_field(const struct fg_config *c, size_t i, enum config_type *type);
/* The line SECTION.NAME was set on in C's main file; 0 when defaulted. */
int conf_key_line(const struct fg_config *c, const char *section, const char *name);
#endif
