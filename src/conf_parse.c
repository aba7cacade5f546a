/* conf_parse.c: the value syntaxes of the configuration files (see conf_parse.h).
 *
 * Pure functions over text, libc only: no fleetgate module, no logging, no
 * shared state. Errors go to the caller's ERR buffer; the file and line are
 * the caller's to add. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "conf_parse.h"
#include "fleetgate.h"


char *conf_parse_path_join(const char *dir, const char *path)
{
	char *out = NULL;
	if (path[0] == '/' || !dir || !*dir)
		return strdup(path);
	if (asprintf(&out, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", path) < 0)
		return NULL;
	return out;
}

size_t conf_parse_split_list(const char *text, char ***items)
{
	char **v = NULL;
	size_t n = 0;
	const char *p = text;

	*items = NULL;
	while (p && *p) {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		const char *b = p;
		while (b < end && isspace((unsigned char)*b))
			b++;
		const char *e = end;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
		if (e > b) {
			char **nv = realloc(v, (n + 1) * sizeof(*v));
			char *item = strndup(b, (size_t)(e - b));
			if (!nv || !item) {
				free(item);
				v = nv ? nv : v;
				goto fail;
			}
			v = nv;
			v[n++] = item;
		}
		p = comma ? comma + 1 : NULL;
	}
	*items = v;
	return n;
fail:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return 0;
}

void conf_parse_list_free(char **items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(items[i]);
	free(items);
}

/* Parses a whole decimal number without sign; false on anything else. */
static bool conf_parse_ull(const char *s, const char **end, unsigned long long *out)
{
	char *e;
	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	*out = strtoull(s, &e, 10);
	if (errno)
		return false;
	*end = e;
	return true;
}

int conf_parse_seconds(const char *text, int *out, char *err, size_t errlen)
{
	unsigned long long v;
	const char *end;
	if (!conf_parse_ull(text, &end, &v) || *end) {
		snprintf(err, errlen, "\"%s\" is not a whole number of seconds", text);
		return -1;
	}
	if (v > INT_MAX) {
		snprintf(err, errlen, "%s seconds is too large", text);
		return -1;
	}
	*out = (int)v;
	return 0;
}

int conf_parse_int(const char *text, int *out, char *err, size_t errlen)
{
	unsigned long long v;
	const char *end;
	if (!conf_parse_ull(text, &end, &v) || *end || v > INT_MAX) {
		snprintf(err, errlen, "\"%s\" is not a non-negative integer", text);
		return -1;
	}
	*out = (int)v;
	return 0;
}

int conf_parse_size(const char *text, size_t *out, char *err, size_t errlen)
{
	unsigned long long v, mul = 1;
	const char *end;
	if (!conf_parse_ull(text, &end, &v))
		goto bad;
	while (*end == ' ')
		end++;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': mul = 1ULL << 10; end++; break;
	case 'M': mul = 1ULL << 20; end++; break;
	case 'G': mul = 1ULL << 30; end++; break;
	default: goto bad;
	}
	if (mul > 1 && toupper((unsigned char)*end) == 'B')
		end++; /* "64MB" reads as 64M */
	if (*end)
		goto bad;
	if (v > SIZE_MAX / mul) {
		snprintf(err, errlen, "size \"%s\" is too large", text);
		return -1;
	}
	*out = (size_t)(v * mul);
	return 0;
bad:
	snprintf(err, errlen, "bad size \"%s\" (expected bytes, optionally with K, M or G)", text);
	return -1;
}

int conf_parse_bool(const char *text, bool *out, char *err, size_t errlen)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	snprintf(err, errlen, "bad boolean \"%s\" (expected yes or no)", text);
	return -1;
}

int conf_parse_rate(const char *text, struct fg_rate *out, char *err, size_t errlen)
{
	static const struct { const char *unit; unsigned window; } units[] = {
		{ "s", 1 }, { "sec", 1 }, { "second", 1 },
		{ "m", 60 }, { "min", 60 }, { "minute", 60 },
		{ "h", 3600 }, { "hour", 3600 },
	};
	unsigned long long n;
	const char *end;

	if (!conf_parse_ull(text, &end, &n))
		goto bad;
	while (*end == ' ')
		end++;
	if (*end++ != '/')
		goto bad;
	while (*end == ' ')
		end++;
	if (n == 0 || n > 1000000000ULL) {
		snprintf(err, errlen, "rate \"%s\" must have a count from 1 to 1000000000", text);
		return -1;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			out->count = (unsigned)n;
			out->window_s = units[i].window;
			return 0;
		}
	}
bad:
	snprintf(err, errlen, "bad rate \"%s\" (expected N/s, N/min or N/h)", text);
	return -1;
}

void conf_parse_addr_free(struct fg_addr *a)
{
	free(a->spec);
	free(a->path);
	a->spec = a->path = NULL;
}

static int conf_parse_port(const char *s, int *port)
{
	unsigned long long v;
	const char *end;
	if (!conf_parse_ull(s, &end, &v) || *end || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

static int conf_parse_unix(const char *text, const char *basedir, struct fg_addr *out,
		      char *err, size_t errlen)
{
	const char *p = text + 5;
	if (!*p) {
		snprintf(err, errlen, "bad address \"%s\": unix: needs a path", text);
		return -1;
	}
	out->path = conf_parse_path_join(basedir, p);
	if (!out->path || asprintf(&out->spec, "unix:%s", out->path) < 0) {
		out->spec = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (strlen(out->path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(err, errlen, "unix socket path \"%s\" is too long", out->path);
		return -1;
	}
	out->is_unix = true;
	return 0;
}

/* A host name: letters, digits, '-' and '.', as a resolver would take. */
static bool conf_parse_host_name_ok(const char *h)
{
	if (!*h)
		return false;
	for (; *h; h++)
		if (!isalnum((unsigned char)*h) && *h != '-' && *h != '.')
			return false;
	return true;
}

static int conf_parse_tcp(const char *text, struct fg_addr *out, char *err, size_t errlen)
{
	char host[sizeof(out->host)];
	const char *colon;
	bool v6 = false;
	unsigned char bin[16];
	size_t hlen;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			goto bad;
		hlen = (size_t)(close - text - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			goto bad;
		memcpy(host, text + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, bin) != 1) {
			snprintf(err, errlen, "bad address \"%s\": not an IPv6 address in brackets", text);
			return -1;
		}
		inet_ntop(AF_INET6, bin, host, sizeof(host));
		colon = close + 1;
		v6 = true;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			goto bad;
		if (memchr(text, ':', (size_t)(colon - text))) {
			snprintf(err, errlen, "bad address \"%s\": write IPv6 as [addr]:port", text);
			return -1;
		}
		hlen = (size_t)(colon - text);
		if (hlen == 0 || hlen >= sizeof(host))
			goto bad;
		memcpy(host, text, hlen);
		host[hlen] = '\0';
		if (strcmp(host, "*") == 0)
			strcpy(host, "0.0.0.0"); /* nginx's "*:port" */
		else if (inet_pton(AF_INET, host, bin) == 1)
			inet_ntop(AF_INET, bin, host, sizeof(host));
		else if (!conf_parse_host_name_ok(host))
			goto bad;
		for (char *h = host; *h; h++)
			*h = (char)tolower((unsigned char)*h);
	}
	if (conf_parse_port(colon + 1, &out->port) < 0) {
		snprintf(err, errlen, "bad address \"%s\": port must be 0 to 65535", text);
		return -1;
	}
	strcpy(out->host, host);
	if (asprintf(&out->spec, v6 ? "[%s]:%d" : "%s:%d", host, out->port) < 0) {
		out->spec = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "bad address \"%s\" (expected host:port, [v6]:port or unix:/path)", text);
	return -1;
}

int conf_parse_addr(const char *text, const char *basedir, struct fg_addr *out,
	       char *err, size_t errlen)
{
	int rc;
	memset(out, 0, sizeof(*out));
	out->mode = -1;
	out->gid = -1;
	if (strncmp(text, "tls://", 6) == 0) {
		if (strncmp(text + 6, "unix:", 5) == 0) {
			snprintf(err, errlen, "bad address \"%s\": tls:// takes host:port; a unix socket "
				 "needs no TLS (its file mode guards it)", text);
			return -1;
		}
		rc = conf_parse_tcp(text + 6, out, err, errlen);
		char *spec = NULL;
		if (rc == 0 && asprintf(&spec, "tls://%s", out->spec) < 0) {
			snprintf(err, errlen, "out of memory");
			rc = -1;
		}
		if (rc == 0) {
			free(out->spec);
			out->spec = spec;
			out->tls = true;
		}
	} else if (strncmp(text, "unix:", 5) == 0) {
		rc = conf_parse_unix(text, basedir, out, err, errlen);
	} else {
		rc = conf_parse_tcp(text, out, err, errlen);
	}
	if (rc < 0)
		conf_parse_addr_free(out);
	return rc;
}

int conf_parse_addrlist_add(struct fg_addrlist *l, const char *text, const char *basedir,
		       char *err, size_t errlen)
{
	struct fg_addr *a = &l->v[l->n];
	if (conf_parse_addr(text, basedir, a, err, errlen) < 0)
		return -1;
	for (size_t j = 0; j < l->n; j++) {
		if (strcmp(l->v[j].spec, a->spec) == 0) {
			snprintf(err, errlen, "address %s is listed twice", a->spec);
			conf_parse_addr_free(a);
			return -1;
		}
	}
	l->n++;
	return 0;
}

bool conf_parse_addrs_tls(const struct fg_addrlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].tls)
			return true;
	return false;
}

/* The folder of PATH as an absolute path, so relative paths still work
 * after the daemon changes directory. */
char *conf_parse_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (!dir)
		return NULL;
	char *abs = realpath(dir, NULL);
	if (abs) {
		free(dir);
		return abs;
	}
	return dir;
}

void conf_parse_addrlist_free(struct fg_addrlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		conf_parse_addr_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int conf_parse_url(const char *text, char **out, char *err, size_t errlen)
{
	size_t n = strlen(text);
	if ((strncasecmp(text, "http://", 7) != 0 || n == 7) &&
	    (strncasecmp(text, "https://", 8) != 0 || n == 8)) {
		snprintf(err, errlen, "URL \"%s\" must start with http:// or https://", text);
		return -1;
	}
	while (n > 0 && text[n - 1] == '/')
		n--; /* base_url + "/v1/..." must not give "//v1" */
	*out = strndup(text, n);
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}


/* ---- Redis addresses and millisecond durations ------------------------- */

#define PARSE_REDIS_NO_TLS \
	"rediss:// (TLS) is not supported: Debian's hiredis 0.14 is built without TLS; " \
	"put Redis on a unix socket beside fleetgate (url = unix:/run/redis/redis.sock) or " \
	"carry the connection through a TLS tunnel (stunnel, spiped, ssh -L) and point url at " \
	"its local end"

int conf_parse_redis_url(const char *text, const char *basedir, struct fg_redis_url *out,
		    char *err, size_t errlen)
{
	char hostport[128];
	unsigned char bin[16];
	const char *p, *slash;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (strncasecmp(text, "unix:", 5) == 0)
		return conf_parse_addr(text, basedir, &out->addr, err, errlen);
	if (strncasecmp(text, "rediss://", 9) == 0) {
		snprintf(err, errlen, PARSE_REDIS_NO_TLS);
		return -1;
	}
	if (strncasecmp(text, "redis://", 8) != 0) {
		snprintf(err, errlen, "\"%s\" is not a Redis URL (expected redis://IP:PORT/DB or "
			 "unix:/path)", text);
		return -1;
	}
	p = text + 8;
	slash = strchr(p, '/');
	n = slash ? (size_t)(slash - p) : strlen(p);
	if (memchr(p, '@', n)) {
		/* not quoted back: what precedes '@' may be a password */
		snprintf(err, errlen, "credentials do not belong in the url (it is logged): "
			 "set username = and password = (env:NAME or file:PATH)");
		return -1;
	}
	if (n == 0 || n + 7 >= sizeof(hostport)) {
		snprintf(err, errlen, "bad Redis URL \"%s\": needs a host", text);
		return -1;
	}
	memcpy(hostport, p, n);
	hostport[n] = '\0';
	/* no port: the default one (a bracketed v6 address ends in ']') */
	if (hostport[n - 1] == ']' || !strchr(hostport, ':'))
		strcat(hostport, ":6379");
	if (conf_parse_addr(hostport, NULL, &out->addr, err, errlen) < 0)
		return -1;
	if (strcmp(out->addr.host, "localhost") == 0)
		strcpy(out->addr.host, "127.0.0.1");
	if (inet_pton(AF_INET, out->addr.host, bin) != 1 && inet_pton(AF_INET6, out->addr.host, bin) != 1) {
		snprintf(err, errlen, "Redis host \"%s\" is a name: write its IP address or use "
			 "unix:/path (hiredis 0.14 would resolve it with a blocking call inside the "
			 "event loop)", out->addr.host);
		conf_parse_redis_url_free(out);
		return -1;
	}
	if (out->addr.port == 0) {
		snprintf(err, errlen, "bad Redis URL \"%s\": port 0", text);
		conf_parse_redis_url_free(out);
		return -1;
	}
	if (slash && slash[1]) {
		unsigned long long db;
		const char *end;
		if (!conf_parse_ull(slash + 1, &end, &db) || *end || db > 1000000) {
			snprintf(err, errlen, "bad Redis URL \"%s\": the database after '/' must be a "
				 "number", text);
			conf_parse_redis_url_free(out);
			return -1;
		}
		out->db = (int)db;
	}
	return 0;
}

void conf_parse_redis_url_free(struct fg_redis_url *u)
{
	conf_parse_addr_free(&u->addr);
	u->db = 0;
}

int conf_parse_millis(const char *text, int *out, char *err, size_t errlen)
{
	char *end;
	double v, scale = 1000;
	if (!isdigit((unsigned char)*text) && *text != '.')
		goto bad;
	errno = 0;
	v = strtod(text, &end);
	if (errno || end == text)
		goto bad;
	if (strcmp(end, "ms") == 0)
		scale = 1;
	else if (*end && strcmp(end, "s") != 0)
		goto bad;
	v *= scale;
	if (v > INT_MAX)
		goto bad;
	*out = (int)v;
	if ((double)*out < v)
		(*out)++;
	return 0;
bad:
	snprintf(err, errlen, "\"%s\" is not a duration (seconds such as 0.25 or 2, or 250ms)", text);
	return -1;
}

int conf_parse_addr_apply_perms(const struct fg_addr *a, char *err, size_t errlen)
{
	if (!a->is_unix)
		return 0;
	if (a->gid >= 0 && chown(a->path, (uid_t)-1, (gid_t)a->gid) < 0) {
		snprintf(err, errlen, "%s: cannot set group %ld: %s", a->spec, a->gid, strerror(errno));
		return -1;
	}
	if (a->mode >= 0 && chmod(a->path, (mode_t)a->mode) < 0) {
		snprintf(err, errlen, "%s: cannot set mode %04o: %s", a->spec, a->mode, strerror(errno));
		return -1;
	}
	return 0;
}

int conf_parse_mode(const char *text, int *out, char *err, size_t errlen)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 8);
	if (!*text || *end || errno || v < 0 || v > 0777) {
		snprintf(err, errlen, "bad mode \"%s\" (octal, e.g. 0660)", text);
		return -1;
	}
	*out = (int)v;
	return 0;
}

int conf_parse_word(const char *text, const char *const *words, int *out, char *err, size_t errlen)
{
	int n = 0;
	for (; words[n]; n++)
		if (strcasecmp(text, words[n]) == 0) {
			*out = n;
			return 0;
		}
	size_t o = (size_t)snprintf(err, errlen, "\"%s\" is %s", text, n == 2 ? "neither " : "none of ");
	for (int i = 0; i < n && o < errlen; i++)
		o += (size_t)snprintf(err + o, errlen - o, "%s%s", i == 0 ? "" : n == 2 ? " nor " : ", ", words[i]);
	return -1;
}

int conf_parse_hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int conf_parse_sha256_hex(const char *text, unsigned char out[32], char *err, size_t errlen)
{
	if (strlen(text) == 64) {
		int i = 0;
		for (; i < 32; i++) {
			int a = conf_parse_hexdigit(text[2 * i]), b = conf_parse_hexdigit(text[2 * i + 1]);
			if (a < 0 || b < 0)
				break;
			out[i] = (unsigned char)(a << 4 | b);
		}
		if (i == 32)
			return 0;
	}
	snprintf(err, errlen, "not 64 hex digits (a SHA-256 hash: printf %%s TOKEN | sha256sum)");
	return -1;
}

/* ---- statuses ----------------------------------------------------------- */

const char *const fg_status_names[FG_STATUS_COUNT] = {
#define X(s) #s,
	FG_STATUS_LIST(X)
#undef X
};

int fg_status_index(const char *name)
{
	for (int i = 0; i < FG_STATUS_COUNT; i++)
		if (strcmp(fg_status_names[i], name) == 0)
			return i;
	return -1;
}
