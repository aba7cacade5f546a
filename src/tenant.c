/* tenant.c: tenant files, attribution of a request to a tenant, and the
 * per-request policy of SPEC.md §3/§4 (methods, VINs; list answers are
 * filtered with the tenant's VIN set by listview.c).
 *
 * Tenants belong to the immutable configuration: tenant_load builds one
 * while a configuration loads, and everything after that is a pure read, so
 * no function here takes a lock or changes a tenant. This file must never
 * put an API key (or anything derived from one beyond "a key") into an
 * error, detail or log text, and never log at all: errors go to the
 * caller's fg_errors, policy answers to the caller's DETAIL buffer.
 */
#define _GNU_SOURCE
#include "fleetgate.h"
#include "tenant.h"
#include "vinset.h"
#include "ini.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

/* ---- loading ------------------------------------------------------------ */

struct tenant_parse;
typedef void (*tenant_key_fn)(struct tenant_parse *P, int line, const char *value);

struct tenant_parse {
	struct fg_tenant *t;
	const char *file;
	char *dir;               /* folder of the tenant file, "" = cwd */
	struct fg_errors *errs;
	size_t errs_before;
	bool in_tenant;          /* current section is [tenant] */
	bool seen_tenant;
	int section_line;        /* of the first [tenant] */
	int lines[16];           /* line each key was set on, by table index */
	bool has_name, has_methods, has_burst;
	int burst_line;
};

static void tenant_err(struct tenant_parse *P, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void tenant_err(struct tenant_parse *P, int line, const char *fmt, ...)
{
	char msg[FG_ERR_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errors_add(P->errs, P->file, line, "%s", msg);
}

static void tenant_list_free(char **items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(items[i]);
	free(items);
}

/* Names show up in metrics labels, logs and JSON; keeping them to a safe
 * alphabet means nothing downstream has to escape them. */
static bool tenant_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return false;
	return true;
}

static void tenant_key_name(struct tenant_parse *P, int line, const char *value)
{
	if (!tenant_name_ok(value)) {
		tenant_err(P, line, "name \"%.64s\" must be 1 to 64 characters of A-Z, a-z, 0-9, '-', '_' and '.'",
			   value);
		return;
	}
	free(P->t->name);
	P->t->name = strdup(value);
	P->has_name = true;
}

static void tenant_key_listen(struct tenant_parse *P, int line, const char *value)
{
	char **items;
	size_t n = config_split_list(value, &items);
	struct fg_addrlist *l = &P->t->listen;
	struct fg_addr *nv = realloc(l->v, (l->n + n + 1) * sizeof(*nv));
	if (!nv) {
		tenant_err(P, line, "out of memory");
		goto done;
	}
	l->v = nv;
	for (size_t i = 0; i < n; i++) {
		char err[FG_ERR_LEN];
		struct fg_addr *a = &l->v[l->n];
		if (config_parse_addr(items[i], P->dir, a, err, sizeof(err)) < 0) {
			tenant_err(P, line, "listen: %s", err);
			continue;
		}
		for (size_t j = 0; j < l->n; j++) {
			if (strcmp(l->v[j].spec, a->spec) == 0) {
				tenant_err(P, line, "listen: address %s is listed twice", a->spec);
				config_addr_free(a);
				a = NULL;
				break;
			}
		}
		if (a)
			l->n++;
	}
	if (n == 0)
		tenant_err(P, line, "listen has no items");
done:
	tenant_list_free(items, n);
}

static int tenant_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool tenant_parse_sha256(const char *s, unsigned char out[32])
{
	if (strlen(s) != 64)
		return false;
	for (int i = 0; i < 32; i++) {
		int a = tenant_hex(s[2 * i]), b = tenant_hex(s[2 * i + 1]);
		if (a < 0 || b < 0)
			return false;
		out[i] = (unsigned char)(a << 4 | b);
	}
	return true;
}

static void tenant_key_keys(struct tenant_parse *P, int line, const char *value)
{
	char **items;
	size_t n = config_split_list(value, &items);
	struct fg_tenant *t = P->t;
	unsigned char (*nv)[32] = realloc(t->keys, (t->nkeys + n + 1) * sizeof(*nv));
	if (!nv) {
		tenant_err(P, line, "out of memory");
		goto done;
	}
	t->keys = nv;
	for (size_t i = 0; i < n; i++) {
		/* The text is never echoed: someone may have pasted the key
		 * itself here instead of its hash. */
		if (tenant_parse_sha256(items[i], t->keys[t->nkeys]))
			t->nkeys++;
		else
			tenant_err(P, line, "keys_sha256: item %zu is not 64 hex digits "
				   "(a SHA-256 hash: printf %%s KEY | sha256sum)", i + 1);
		OPENSSL_cleanse(items[i], strlen(items[i]));
	}
	if (n == 0)
		tenant_err(P, line, "keys_sha256 has no items");
done:
	tenant_list_free(items, n);
}

/* A v4-mapped IPv6 range (::ffff:a.b.c.d/96+) is stored as the IPv4 range
 * it means, so it matches and collides like one. */
static void tenant_cidr_unmap(struct fg_cidr *c)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (c->family != AF_INET6 || c->bits < 96 || memcmp(c->addr, mapped, 12) != 0)
		return;
	memmove(c->addr, c->addr + 12, 4);
	memset(c->addr + 4, 0, 12);
	c->family = AF_INET;
	c->bits -= 96;
}

static void tenant_cidr_mask(struct fg_cidr *c)
{
	int len = c->family == AF_INET ? 4 : 16;
	for (int i = 0; i < len; i++) {
		int keep = c->bits - 8 * i;
		if (keep >= 8)
			continue;
		c->addr[i] &= keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
	}
}

/* "10.0.0.0/8", "fe80::/10", or a bare address (/32 or /128). Host bits
 * are masked off, as ip(8) and nginx's allow do. */
static int tenant_parse_cidr(const char *text, struct fg_cidr *out)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	if (alen == 0 || alen >= sizeof(addr))
		return -1;
	memcpy(addr, text, alen);
	addr[alen] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, addr, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, out->addr) == 1)
		out->family = AF_INET6;
	else
		return -1;
	int max = out->family == AF_INET ? 32 : 128;
	out->bits = max;
	if (slash) {
		const char *b = slash + 1;
		if (!*b || strlen(b) > 3)
			return -1;
		int bits = 0;
		for (; *b; b++) {
			if (!isdigit((unsigned char)*b))
				return -1;
			bits = bits * 10 + (*b - '0');
		}
		if (bits > max)
			return -1;
		out->bits = bits;
	}
	tenant_cidr_mask(out);
	tenant_cidr_unmap(out);
	return 0;
}

static void tenant_key_sources(struct tenant_parse *P, int line, const char *value)
{
	char **items;
	size_t n = config_split_list(value, &items);
	struct fg_tenant *t = P->t;
	struct fg_cidr *nv = realloc(t->sources, (t->nsources + n + 1) * sizeof(*nv));
	if (!nv) {
		tenant_err(P, line, "out of memory");
		goto done;
	}
	t->sources = nv;
	for (size_t i = 0; i < n; i++) {
		if (tenant_parse_cidr(items[i], &t->sources[t->nsources]) == 0)
			t->nsources++;
		else
			tenant_err(P, line, "sources: \"%.64s\" is not an IPv4/IPv6 address or CIDR range",
				   items[i]);
	}
	if (n == 0)
		tenant_err(P, line, "sources has no items");
done:
	tenant_list_free(items, n);
}

static const struct {
	const char *name;
	unsigned bit;
} tenant_methods[] = {
	{ "GET", FG_M_GET }, { "POST", FG_M_POST }, { "DELETE", FG_M_DELETE },
};

static void tenant_key_methods(struct tenant_parse *P, int line, const char *value)
{
	char **items;
	size_t n = config_split_list(value, &items);
	unsigned bits = 0;
	for (size_t i = 0; i < n; i++) {
		size_t m = 0;
		while (m < 3 && strcasecmp(items[i], tenant_methods[m].name) != 0)
			m++;
		if (m < 3)
			bits |= tenant_methods[m].bit;
		else
			tenant_err(P, line, "methods: unknown method \"%.32s\" (GET, POST or DELETE)", items[i]);
	}
	if (n == 0)
		tenant_err(P, line, "methods has no items (GET, POST and/or DELETE)");
	P->t->methods = bits;
	P->has_methods = true;
	tenant_list_free(items, n);
}

static void tenant_key_vins(struct tenant_parse *P, int line, const char *value)
{
	char **items;
	size_t n = config_split_list(value, &items);
	for (size_t i = 0; i < n; i++) {
		char vin[18];
		if (vin_normalize(items[i], strlen(items[i]), vin))
			vinset_add(P->t->vins, vin);
		else
			tenant_err(P, line, "vins: malformed VIN \"%.40s\" (17 characters of A-Z and 0-9)",
				   items[i]);
	}
	tenant_list_free(items, n);
}

/* Bad lines are reported by the VIN file's own FILE:LINE; a file that
 * cannot be read at all is reported on the vin_file line of the tenant
 * file, since that line is what the operator has to fix. */
static void tenant_vin_file(struct tenant_parse *P, int line, const char *path)
{
	struct fg_errors e = { 0 };
	int rc = vinset_load_file(P->t->vins, path, &e);
	for (size_t i = 0; i < e.n; i++) {
		if (rc < 0 && i + 1 == e.n)
			tenant_err(P, line, "vin_file: %s", e.lines[i]);
		else
			errors_add(P->errs, NULL, 0, "%s", e.lines[i]);
	}
	if (rc < 0 && e.n == 0)
		tenant_err(P, line, "vin_file: cannot read %s", path);
	errors_free(&e);
}

static void tenant_key_vin_file(struct tenant_parse *P, int line, const char *value)
{
	char **items;
	size_t n = config_split_list(value, &items);
	for (size_t i = 0; i < n; i++) {
		char *path = config_path_join(P->dir, items[i]);
		if (!path) {
			tenant_err(P, line, "out of memory");
			continue;
		}
		tenant_vin_file(P, line, path);
		free(path);
	}
	if (n == 0)
		tenant_err(P, line, "vin_file has no items");
	tenant_list_free(items, n);
}

static void tenant_key_vin_prefixes(struct tenant_parse *P, int line, const char *value)
{
	char **items;
	size_t n = config_split_list(value, &items);
	for (size_t i = 0; i < n; i++) {
		char err[FG_ERR_LEN];
		if (vinset_add_prefix(P->t->vins, items[i], err, sizeof(err)) < 0)
			tenant_err(P, line, "vin_prefixes: %s", err);
	}
	if (n == 0)
		tenant_err(P, line, "vin_prefixes has no items");
	tenant_list_free(items, n);
}

static void tenant_key_rate(struct tenant_parse *P, int line, const char *value)
{
	char err[FG_ERR_LEN];
	if (config_parse_rate(value, &P->t->rate, err, sizeof(err)) < 0)
		tenant_err(P, line, "rate: %s", err);
	else
		P->t->has_rate = true;
}

static void tenant_key_burst(struct tenant_parse *P, int line, const char *value)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(value, &end, 10);
	if (!isdigit((unsigned char)value[0]) || *end || errno || v == 0 || v > 1000000000UL) {
		tenant_err(P, line, "burst \"%.32s\" must be a whole number from 1 to 1000000000", value);
		return;
	}
	P->t->burst = (unsigned)v;
	P->has_burst = true;
	P->burst_line = line;
}

static const struct {
	const char *name;
	tenant_key_fn fn;
} tenant_keys[] = {
	{ "name", tenant_key_name },
	{ "listen", tenant_key_listen },
	{ "keys_sha256", tenant_key_keys },
	{ "sources", tenant_key_sources },
	{ "methods", tenant_key_methods },
	{ "vins", tenant_key_vins },
	{ "vin_file", tenant_key_vin_file },
	{ "vin_prefixes", tenant_key_vin_prefixes },
	{ "rate", tenant_key_rate },
	{ "burst", tenant_key_burst },
};
#define TENANT_NKEYS (sizeof(tenant_keys) / sizeof(tenant_keys[0]))

static void tenant_ini_cb(void *arg, const char *file, int line, const char *section,
			  const char *key, const char *value)
{
	struct tenant_parse *P = arg;
	if (!key) {
		P->in_tenant = strcmp(section, "tenant") == 0;
		if (P->in_tenant && !P->seen_tenant)
			P->section_line = line;
		if (P->in_tenant)
			P->seen_tenant = true;
		else
			tenant_err(P, line, "unknown section [%.64s] (a tenant file has only [tenant])", section);
		return;
	}
	if (!*section) {
		tenant_err(P, line, "key \"%.64s\" before the [tenant] section", key);
		return;
	}
	if (!P->in_tenant)
		return;   /* the unknown section was reported once, at its header */
	for (size_t i = 0; i < TENANT_NKEYS; i++) {
		if (strcmp(key, tenant_keys[i].name) != 0)
			continue;
		if (P->lines[i]) {
			tenant_err(P, line, "duplicate key \"%s\" in [tenant] (first set on line %d)",
				   key, P->lines[i]);
			return;
		}
		P->lines[i] = line;
		if (*value)   /* as in the main file, an empty value means the default */
			tenant_keys[i].fn(P, line, value);
		return;
	}
	tenant_err(P, line, "unknown key \"%.64s\" in [tenant]", key);
}

/* "a/b/dispatch.conf" -> "dispatch" */
static char *tenant_default_name(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t n = strlen(base);
	if (n > 5 && strcmp(base + n - 5, ".conf") == 0)
		n -= 5;
	return strndup(base, n);
}

static char *tenant_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return strdup("");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

static int tenant_key_line(const struct tenant_parse *P, const char *key)
{
	for (size_t i = 0; i < TENANT_NKEYS; i++)
		if (strcmp(tenant_keys[i].name, key) == 0 && P->lines[i])
			return P->lines[i];
	return P->section_line;
}

/* Rules about the file as a whole, once every key has been read. */
static void tenant_finish(struct tenant_parse *P)
{
	struct fg_tenant *t = P->t;
	t->line_name = tenant_key_line(P, "name");
	t->line_listen = tenant_key_line(P, "listen");
	t->line_keys = tenant_key_line(P, "keys_sha256");
	t->line_sources = tenant_key_line(P, "sources");
	if (!P->seen_tenant)
		tenant_err(P, 0, "no [tenant] section");
	if (!P->has_name) {
		t->name = tenant_default_name(P->file);
		if (t->name && !tenant_name_ok(t->name))
			tenant_err(P, 0, "file name \"%.64s\" is not a usable tenant name: set name = ...",
				   t->name);
	}
	if (P->has_burst && !t->has_rate)
		tenant_err(P, P->burst_line, "burst needs a rate");
	if (t->has_rate && !P->has_burst)
		t->burst = t->rate.count;
	/* only when nothing else is wrong: a listen line that failed to parse
	 * would otherwise be reported twice */
	if (P->seen_tenant && P->errs->n == P->errs_before && !t->listen.n && !t->nkeys && !t->nsources)
		tenant_err(P, 0, "tenant %s has no listen, keys_sha256 or sources: no request can reach it",
			   t->name ? t->name : "?");
}

struct fg_tenant *tenant_load(const char *path, struct fg_errors *errs)
{
	struct tenant_parse P = { .file = path, .errs = errs, .errs_before = errs->n };
	P.t = calloc(1, sizeof(*P.t));
	P.dir = tenant_dir_of(path);
	if (!P.t || !P.dir)
		goto oom;
	P.t->file = strdup(path);
	P.t->vins = vinset_new();
	P.t->methods = FG_M_GET;
	if (!P.t->file || !P.t->vins)
		goto oom;
	if (ini_parse_file(path, tenant_ini_cb, &P, errs) < 0)
		goto fail;
	tenant_finish(&P);
	if (!P.t->name)
		goto oom;
	if (errs->n > P.errs_before)
		goto fail;
	free(P.dir);
	return P.t;
oom:
	errors_add(errs, path, 0, "out of memory");
fail:
	tenant_free(P.t);
	free(P.dir);
	return NULL;
}

void tenant_free(struct fg_tenant *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->file);
	for (size_t i = 0; i < t->listen.n; i++)
		config_addr_free(&t->listen.v[i]);
	free(t->listen.v);
	free(t->keys);
	free(t->sources);
	vinset_free(t->vins);
	free(t);
}

/* ---- cross-tenant checks ------------------------------------------------ */

static bool tenant_has_key(const struct fg_tenant *t, const unsigned char key[32])
{
	for (size_t i = 0; i < t->nkeys; i++)
		if (memcmp(t->keys[i], key, 32) == 0)
			return true;
	return false;
}

static bool tenant_cidr_eq(const struct fg_cidr *a, const struct fg_cidr *b)
{
	return a->family == b->family && a->bits == b->bits && memcmp(a->addr, b->addr, 16) == 0;
}

static void tenant_cidr_text(const struct fg_cidr *c, char *out, size_t outlen)
{
	char a[INET6_ADDRSTRLEN];
	inet_ntop(c->family, c->addr, a, sizeof(a));
	snprintf(out, outlen, "%s/%d", a, c->bits);
}

/* Each pair is reported once, on the later file, naming the earlier one. */
static int tenant_check_pair(const struct fg_tenant *a, const struct fg_tenant *b,
			     struct fg_errors *errs)
{
	int n = 0;
	if (strcmp(a->name, b->name) == 0) {
		errors_add(errs, b->file, b->line_name, "tenant name \"%s\" is also used by %s", b->name, a->file);
		n++;
	}
	for (size_t k = 0; k < b->nkeys; k++) {
		if (tenant_has_key(a, b->keys[k])) {
			errors_add(errs, b->file, b->line_keys, "keys_sha256: an API key of tenant %s is also a key of tenant %s (%s)",
				   b->name, a->name, a->file);
			n++;
		}
	}
	for (size_t i = 0; i < b->listen.n; i++) {
		for (size_t j = 0; j < a->listen.n; j++) {
			if (strcmp(b->listen.v[i].spec, a->listen.v[j].spec) == 0) {
				errors_add(errs, b->file, b->line_listen, "listen: %s is also a listener of tenant %s (%s)",
					   b->listen.v[i].spec, a->name, a->file);
				n++;
			}
		}
	}
	for (size_t i = 0; i < b->nsources; i++) {
		for (size_t j = 0; j < a->nsources; j++) {
			if (tenant_cidr_eq(&b->sources[i], &a->sources[j])) {
				char txt[INET6_ADDRSTRLEN + 8];
				tenant_cidr_text(&b->sources[i], txt, sizeof(txt));
				errors_add(errs, b->file, b->line_sources, "sources: %s is also a source range of tenant %s (%s)",
					   txt, a->name, a->file);
				n++;
			}
		}
	}
	return n;
}

/* Quadratic in tenants, fine for the tens a deployment has. */
int tenant_check_set(struct fg_tenant *const *t, size_t n, struct fg_errors *errs)
{
	int bad = 0;
	for (size_t j = 1; j < n; j++)
		for (size_t i = 0; i < j; i++)
			bad += tenant_check_pair(t[i], t[j], errs);
	return bad;
}

/* ---- attribution -------------------------------------------------------- */

/* Lower-case AF_INET for v4 and v4-mapped v6 peers, so ::ffff:10.1.2.3 (a
 * dual-stack listener's view of an IPv4 client) matches 10.0.0.0/8. */
static int tenant_peer_addr(const struct sockaddr *peer, unsigned char addr[16])
{
	if (peer->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)peer;
		memcpy(addr, &s4->sin_addr, 4);
		return AF_INET;
	}
	if (peer->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)peer;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			memcpy(addr, s6->sin6_addr.s6_addr + 12, 4);
			return AF_INET;
		}
		memcpy(addr, &s6->sin6_addr, 16);
		return AF_INET6;
	}
	return -1;
}

static bool tenant_cidr_holds(const struct fg_cidr *c, int family, const unsigned char *addr)
{
	if (c->family != family)
		return false;
	int full = c->bits / 8, rest = c->bits % 8;
	if (memcmp(c->addr, addr, (size_t)full) != 0)
		return false;
	if (!rest)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (addr[full] & mask) == c->addr[full];
}

static const struct fg_tenant *tenant_by_listener(const struct fg_config *c, const char *spec)
{
	for (size_t i = 0; i < c->ntenants; i++)
		for (size_t j = 0; j < c->tenants[i]->listen.n; j++)
			if (strcmp(c->tenants[i]->listen.v[j].spec, spec) == 0)
				return c->tenants[i];
	return NULL;
}

/* Every tenant's every hash is compared with CRYPTO_memcmp, so how long
 * this takes does not depend on how many bytes of a guess were right. */
static const struct fg_tenant *tenant_by_key(const struct fg_config *c, const char *key, size_t keylen)
{
	unsigned char h[SHA256_DIGEST_LENGTH];
	const struct fg_tenant *found = NULL;
	SHA256((const unsigned char *)key, keylen, h);
	for (size_t i = 0; i < c->ntenants; i++)
		for (size_t k = 0; k < c->tenants[i]->nkeys; k++)
			if (CRYPTO_memcmp(c->tenants[i]->keys[k], h, sizeof(h)) == 0 && !found)
				found = c->tenants[i];
	OPENSSL_cleanse(h, sizeof(h));
	return found;
}

static const struct fg_tenant *tenant_by_source(const struct fg_config *c, const struct sockaddr *peer)
{
	unsigned char addr[16];
	int family = tenant_peer_addr(peer, addr);
	const struct fg_tenant *best = NULL;
	int best_bits = -1;
	if (family < 0)
		return NULL;   /* unix sockets have no address to match */
	for (size_t i = 0; i < c->ntenants; i++) {
		const struct fg_tenant *t = c->tenants[i];
		for (size_t j = 0; j < t->nsources; j++) {
			if (t->sources[j].bits > best_bits &&
			    tenant_cidr_holds(&t->sources[j], family, addr)) {
				best = t;
				best_bits = t->sources[j].bits;
			}
		}
	}
	return best;
}

/* Linear scans: deployments have tens of tenants, and a scan of tens of
 * entries costs less than the hash of the key it follows. */
const struct fg_tenant *tenant_attribute(const struct fg_config *c, const char *listener_spec,
					 const char *key, size_t keylen,
					 const struct sockaddr *peer, enum fg_attr_result *res)
{
	enum fg_attr_result dummy;
	const struct fg_tenant *t = NULL;
	if (!res)
		res = &dummy;
	*res = FG_ATTR_NONE;
	if (!c)
		return NULL;
	if (listener_spec) {
		/* A dedicated listener is its tenant's alone: a key or address
		 * seen there never picks anyone else, even once the tenant has
		 * been removed and the listener is on its way out. */
		if ((t = tenant_by_listener(c, listener_spec)))
			goto found;
		*res = FG_ATTR_LISTENER_GONE;
		return NULL;
	}
	if (key) {
		t = tenant_by_key(c, key, keylen);
		if (!t) {
			*res = FG_ATTR_BAD_KEY;   /* never fall back to the source */
			return NULL;
		}
		goto found;
	}
	if (peer && (t = tenant_by_source(c, peer)))
		goto found;
	return NULL;
found:
	*res = FG_ATTR_OK;
	return t;
}

/* ---- policy ------------------------------------------------------------- */

bool tenant_allows_vin(const struct fg_tenant *t, const char *vin17)
{
	return t && vinset_contains(t->vins, vin17);
}

/* The same mapping as route_needs() in route.c, kept here so policy does
 * not depend on the router's file. */
static unsigned tenant_route_needs(enum fg_route r)
{
	switch (r) {
	case FG_R_LIST:
	case FG_R_GET:
		return FG_M_GET;
	case FG_R_CREATE:
	case FG_R_ACCESS_TOKEN:
		return FG_M_POST;
	case FG_R_DELETE:
	case FG_R_CANCEL:
		return FG_M_DELETE;
	default:
		return 0;
	}
}

static const char *tenant_method_name(unsigned bit)
{
	for (size_t i = 0; i < 3; i++)
		if (tenant_methods[i].bit == bit)
			return tenant_methods[i].name;
	return "?";
}

static void tenant_methods_text(unsigned bits, char *out, size_t outlen)
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < 3; i++)
		if (bits & tenant_methods[i].bit)
			n += (size_t)snprintf(out + n, n < outlen ? outlen - n : 0, "%s%s",
					      n ? ", " : "", tenant_methods[i].name);
	if (!n)
		snprintf(out, outlen, "none");
}

/* A growing list of normalized VINs without duplicates; the temporary set
 * keeps a body of thousands of VINs linear. It is made at the second VIN:
 * the one VIN of a path route (every single-VIN read) needs none. */
struct tenant_vinlist {
	char **v;
	size_t n, cap;
	struct vinset *seen;
};

static int tenant_vinlist_add(struct tenant_vinlist *l, const char *vin)
{
	if (l->n > 0 && !l->seen) {
		if (!(l->seen = vinset_new()))
			return -1;
		vinset_add(l->seen, l->v[0]);
	}
	if (l->seen && vinset_contains(l->seen, vin))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		char **nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv)
			return -1;
		l->v = nv;
		l->cap = cap;
	}
	if (!(l->v[l->n] = strdup(vin)))
		return -1;
	l->n++;
	if (l->seen)
		vinset_add(l->seen, vin);
	return 0;
}

static void tenant_vinlist_free(struct tenant_vinlist *l)
{
	tenant_vins_free(l->v, l->n);
	vinset_free(l->seen);
	memset(l, 0, sizeof(*l));
}

void tenant_vins_free(char **vins, size_t n)
{
	if (!vins)
		return;
	for (size_t i = 0; i < n; i++)
		free(vins[i]);
	free(vins);
}

/* "VIN A is not ..." or "VINs A, B and 3 more are not ...": every denied
 * VIN that fits in DETAIL is named, the rest counted. */
static void tenant_denied_detail(const struct fg_tenant *t, char **denied, size_t n,
				 char *detail, size_t detaillen)
{
	char tail[192];
	snprintf(tail, sizeof(tail), " %s not allowed for tenant %s (not in its vins, vin_file or vin_prefixes)",
		 n == 1 ? "is" : "are", t->name);
	size_t room = detaillen > strlen(tail) + 32 ? detaillen - strlen(tail) - 32 : 0;
	size_t len = (size_t)snprintf(detail, detaillen, "%s", n == 1 ? "VIN" : "VINs");
	size_t shown = 0;
	for (; shown < n && len + 2 + FG_VIN_LEN < room; shown++)
		len += (size_t)snprintf(detail + len, detaillen - len, "%s %s", shown ? "," : "", denied[shown]);
	if (shown < n && len < detaillen)
		len += (size_t)snprintf(detail + len, detaillen - len, " and %zu more", n - shown);
	if (len < detaillen)
		snprintf(detail + len, detaillen - len, "%s", tail);
}

static int tenant_check_method(const struct fg_tenant *t, enum fg_route route, char *detail,
			       size_t detaillen)
{
	unsigned need = tenant_route_needs(route);
	if (!need) {
		snprintf(detail, detaillen, "unknown route");
		return 404;
	}
	if (t->methods & need)
		return 0;
	char have[32];
	tenant_methods_text(t->methods, have, sizeof(have));
	snprintf(detail, detaillen, "method %s is not allowed for tenant %s (methods = %s)%s",
		 tenant_method_name(need), t->name, have,
		 route == FG_R_CANCEL ? "; cancel_activation counts as DELETE" : "");
	return 403;
}

/* Normalizes every vehicles[].vin into L, or fills DETAIL and returns 400. */
static int tenant_body_vehicles(json_t *body, struct tenant_vinlist *l, char *detail, size_t detaillen)
{
	if (!json_is_object(body)) {
		snprintf(detail, detaillen, "request body must be a JSON object with a \"vehicles\" array");
		return 400;
	}
	json_t *vehicles = json_object_get(body, "vehicles");
	if (!json_is_array(vehicles)) {
		snprintf(detail, detaillen, "request body must have a \"vehicles\" array");
		return 400;
	}
	size_t i, bad = 0;
	json_t *item;
	char first[160] = "";
	json_array_foreach(vehicles, i, item) {
		if (!json_is_object(item)) {
			snprintf(detail, detaillen, "vehicles[%zu] must be an object", i);
			return 400;
		}
		json_t *jv = json_object_get(item, "vin");
		if (!json_is_string(jv)) {
			snprintf(detail, detaillen, "vehicles[%zu].vin must be a string", i);
			return 400;
		}
		char vin[18];
		if (!vin_normalize(json_string_value(jv), json_string_length(jv), vin)) {
			if (!bad++) {
				char q[48];
				vin_quote(json_string_value(jv), json_string_length(jv), q, sizeof(q));
				snprintf(first, sizeof(first), "vehicles[%zu].vin \"%s\" is not a VIN", i, q);
			}
			continue;
		}
		if (tenant_vinlist_add(l, vin) < 0) {
			snprintf(detail, detaillen, "out of memory");
			return 500;
		}
	}
	if (bad) {
		if (bad == 1)
			snprintf(detail, detaillen, "%s (17 characters of A-Z and 0-9)", first);
		else
			snprintf(detail, detaillen, "%s (17 characters of A-Z and 0-9); %zu more malformed VINs",
				 first, bad - 1);
		return 400;
	}
	return 0;
}

static int tenant_body_vin(json_t *body, struct tenant_vinlist *l, char *detail, size_t detaillen)
{
	json_t *jv = json_object_get(body, "vin");
	if (!json_is_object(body) || !json_is_string(jv)) {
		snprintf(detail, detaillen, "request body must be a JSON object with a \"vin\" string");
		return 400;
	}
	char vin[18];
	if (!vin_normalize(json_string_value(jv), json_string_length(jv), vin)) {
		char q[48];
		vin_quote(json_string_value(jv), json_string_length(jv), q, sizeof(q));
		snprintf(detail, detaillen, "vin \"%s\" is not a VIN (17 characters of A-Z and 0-9)", q);
		return 400;
	}
	if (tenant_vinlist_add(l, vin) < 0) {
		snprintf(detail, detaillen, "out of memory");
		return 500;
	}
	return 0;
}

/* Gathers the request's VINs into L: from the body for POST routes, from
 * the path for VIN routes, none for the list. */
static int tenant_request_vins(enum fg_route route, const char *path_vin, json_t *body,
			       struct tenant_vinlist *l, char *detail, size_t detaillen)
{
	switch (route) {
	case FG_R_CREATE:
		return tenant_body_vehicles(body, l, detail, detaillen);
	case FG_R_ACCESS_TOKEN:
		return tenant_body_vin(body, l, detail, detaillen);
	case FG_R_GET:
	case FG_R_DELETE:
	case FG_R_CANCEL: {
		char vin[18];
		if (!path_vin || !vin_normalize(path_vin, strlen(path_vin), vin)) {
			snprintf(detail, detaillen, "the path does not hold a VIN (17 characters of A-Z and 0-9)");
			return 400;
		}
		if (tenant_vinlist_add(l, vin) < 0) {
			snprintf(detail, detaillen, "out of memory");
			return 500;
		}
		return 0;
	}
	default:
		return 0;
	}
}

int tenant_check(const struct fg_tenant *t, enum fg_route route, const char *path_vin,
		 json_t *body, char ***vins, size_t *nvins, char *detail, size_t detaillen)
{
	struct tenant_vinlist l = {0}, denied = {0};
	int status;
	if (vins)
		*vins = NULL;
	if (nvins)
		*nvins = 0;
	if (detaillen)
		detail[0] = '\0';
	if ((status = tenant_check_method(t, route, detail, detaillen)) != 0)
		return status;
	if ((status = tenant_request_vins(route, path_vin, body, &l, detail, detaillen)) != 0)
		goto done;
	for (size_t i = 0; i < l.n; i++) {
		if (!tenant_allows_vin(t, l.v[i]) && tenant_vinlist_add(&denied, l.v[i]) < 0) {
			snprintf(detail, detaillen, "out of memory");
			status = 500;
			goto done;
		}
	}
	if (denied.n) {
		tenant_denied_detail(t, denied.v, denied.n, detail, detaillen);
		status = 403;
	}
	/* Allowed or denied, the caller gets the VINs asked for: the audit
	 * line of a refused mutation names them too. */
	if (vins && nvins) {
		*vins = l.v;
		*nvins = l.n;
		l.v = NULL;
		l.n = 0;
	}
done:
	tenant_vinlist_free(&l);
	tenant_vinlist_free(&denied);
	return status;
}
