/* conf_parse.h: the value syntaxes shared by the main configuration file, the
 * tenant files and configured secrets: addresses, rates, sizes, booleans,
 * seconds, URLs, comma lists and path joins.
 *
 * libc only, and no fleetgate module below it: conf.c, tenant.c and
 * conf_secret.c all build on it, so it must never include their headers. Each
 * parser returns 0, or -1 with ERR filled (the text it was given may be
 * quoted in ERR, so callers never pass a secret's value here). */
#ifndef FG_CONF_PARSE_H
#define FG_CONF_PARSE_H
#include <stddef.h>
#include <stdbool.h>

/* One listening address as written: "host:port", "[v6]:port" or
 * "unix:/path", or "tls://host:port" for a listener that speaks TLS.
 * `spec` is the normalized text (with its tls:// when given), used as the
 * identity of a listener across reloads. */
struct fg_addr {
	char *spec;
	bool is_unix;
	bool tls;         /* written tls://HOST:PORT (docs/configuration.md, [tls]) */
	char *path;       /* unix: absolute path */
	int mode;         /* unix: chmod after bind; -1 = leave to the umask */
	long gid;         /* unix: chown group after bind; -1 = leave */
	char host[64];    /* tcp: numeric or name, without brackets */
	int port;
};

struct fg_addrlist {
	struct fg_addr *v;
	size_t n;
};

/* "N/s", "N/min", "N/h": COUNT events per WINDOW seconds. */
struct fg_rate {
	unsigned count;
	unsigned window_s;
};

/* A relative unix: path is relative to BASEDIR. */
int conf_parse_addr(const char *text, const char *basedir, struct fg_addr *out, char *err, size_t errlen);
void conf_parse_addr_free(struct fg_addr *a);
/* A unix listener's socket file gets A's mode and group (set from
 * [gateway] unix_mode / unix_group by conf.c); called after bind and
 * before listen, so no client connects before they hold. */
int conf_parse_addr_apply_perms(const struct fg_addr *a, char *err, size_t errlen);
/* Parses TEXT and appends it to L, refusing an address L already holds.
 * L->v must have room for one more. */
int conf_parse_addrlist_add(struct fg_addrlist *l, const char *text, const char *basedir,
		       char *err, size_t errlen);
void conf_parse_addrlist_free(struct fg_addrlist *l);
/* Whether any address of L is written tls://. */
bool conf_parse_addrs_tls(const struct fg_addrlist *l);
/* The folder of PATH, absolute when it exists (malloc'ed). */
char *conf_parse_dir_of(const char *path);

int conf_parse_rate(const char *text, struct fg_rate *out, char *err, size_t errlen);
/* Bytes with an optional K, M or G (and B) suffix. */
int conf_parse_size(const char *text, size_t *out, char *err, size_t errlen);
/* yes/no, true/false, on/off, 1/0 */
int conf_parse_bool(const char *text, bool *out, char *err, size_t errlen);
/* Whole non-negative seconds up to INT_MAX. */
int conf_parse_seconds(const char *text, int *out, char *err, size_t errlen);
/* A non-negative integer up to INT_MAX. */
int conf_parse_int(const char *text, int *out, char *err, size_t errlen);
/* A file mode in octal ("0660", "660"), at most 0777. */
int conf_parse_mode(const char *text, int *out, char *err, size_t errlen);
/* 64 hex digits (a SHA-256 hash, as sha256sum prints it) into 32 bytes. */
/* TEXT as one of WORDS (NULL-terminated, any case): its index into *OUT,
 * or -1 with ERR naming the words. */
int conf_parse_word(const char *text, const char *const *words, int *out, char *err, size_t errlen);
/* The value of one hex digit C, or -1. */
int conf_parse_hexdigit(char c);
int conf_parse_sha256_hex(const char *text, unsigned char out[32], char *err, size_t errlen);
/* An http:// or https:// URL; *OUT is a copy without trailing '/'. */
int conf_parse_url(const char *text, char **out, char *err, size_t errlen);

/* A Redis server: "redis://IP:PORT/DB" (port 6379 and db 0 when left
 * out) or "unix:/path". Host names are refused, except "localhost" (read
 * as 127.0.0.1): hiredis 0.14 resolves names with a blocking call inside
 * the event loop. "rediss://" is refused (Debian's hiredis has no TLS), as
 * are credentials in the URL (they belong in username/password). */
struct fg_redis_url {
	struct fg_addr addr;  /* addr.spec empty: not configured */
	int db;
};
int conf_parse_redis_url(const char *text, const char *basedir, struct fg_redis_url *out,
		    char *err, size_t errlen);
void conf_parse_redis_url_free(struct fg_redis_url *u);
/* A duration in seconds with an optional fraction, or with "s" or "ms":
 * "0.25", "0.25s", "250ms", "2". *OUT gets milliseconds (rounded up, so
 * a tiny non-zero value never becomes 0). */
int conf_parse_millis(const char *text, int *out, char *err, size_t errlen);

/* Splits a comma list into trimmed, non-empty items (free them with
 * conf_parse_list_free). Returns the count. */
size_t conf_parse_split_list(const char *text, char ***items);
void conf_parse_list_free(char **items, size_t n);
/* Joins DIR and a relative PATH; an absolute PATH is copied. */
char *conf_parse_path_join(const char *dir, const char *path);
#endif
