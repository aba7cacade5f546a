/* tenant.c: tenant files (docs/tenants.md) and the rules across them: which
 * files of the tenant folder are tenants, one [tenant] section per file,
 * every key parsed and checked with FILE:LINE errors, then names, keys,
 * listeners and source ranges unique across tenants. Attribution and
 * per-request policy are req_policy.c's.
 *
 * tenant_load builds a tenant while a configuration loads; nothing here
 * changes a tenant afterwards. This file must never put an API key (or
 * anything derived from one beyond "a key") into an error text, and never
 * logs: errors go to the caller's fg_errors.
 */
#define _GNU_SOURCE
#include "fleetgate.h"
#include "tenant.h"
#include "vinset.h"
#include "conf_ini.h"
#include "conf_parse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <openssl/crypto.h>

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
	conf_errors_add(P->errs, P->file, line, "%s", msg);
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
	size_t n = conf_parse_split_list(value, &items);
	struct fg_addrlist *l = &P->t->listen;
	struct fg_addr *nv = realloc(l->v, (l->n + n + 1) * sizeof(*nv));
	if (!nv) {
		tenant_err(P, line, "out of memory");
		goto done;
	}
	l->v = nv;
	for (size_t i = 0; i < n; i++) {
		char err[FG_ERR_LEN];
		if (conf_parse_addrlist_add(l, items[i], P->dir, err, sizeof(err)) < 0)
			tenant_err(P, line, "listen: %s", err);
	}
	if (n == 0)
		tenant_err(P, line, "listen has no items");
done:
	conf_parse_list_free(items, n);
}

static void tenant_key_keys(struct tenant_parse *P, int line, const char *value)
{
	char **items;
	size_t n = conf_parse_split_list(value, &items);
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
		char ignored[8];
		if (conf_parse_sha256_hex(items[i], t->keys[t->nkeys], ignored, sizeof ignored) == 0)
			t->nkeys++;
		else
			tenant_err(P, line, "keys_sha256: item %zu is not 64 hex digits "
				   "(a SHA-256 hash: printf %%s KEY | sha256sum)", i + 1);
		OPENSSL_cleanse(items[i], strlen(items[i]));
	}
	if (n == 0)
		tenant_err(P, line, "keys_sha256 has no items");
done:
	conf_parse_list_free(items, n);
}

/* 1 to 255 printable characters without blanks or commas: what a URI,
 * DNS or CN name a certificate carries can be written in a comma list. */
static bool tenant_cert_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 255)
		return false;
	for (; *s; s++)
		if (!isgraph((unsigned char)*s) || *s == ',')
			return false;
	return true;
}

static void tenant_key_cert_names(struct tenant_parse *P, int line, const char *value)
{
	char **items;
	size_t n = conf_parse_split_list(value, &items);
	struct fg_tenant *t = P->t;
	char **nv = realloc(t->cert_names, (t->ncert_names + n + 1) * sizeof(*nv));
	if (!nv) {
		tenant_err(P, line, "out of memory");
		goto done;
	}
	t->cert_names = nv;
	for (size_t i = 0; i < n; i++) {
		if (!tenant_cert_name_ok(items[i]))
			tenant_err(P, line, "cert_names: item %zu must be 1 to %d printable characters without blanks "
				   "or commas (a URI such as spiffe://example.org/dispatch, a DNS name or a CN)",
				   i + 1, 255);
		else if ((t->cert_names[t->ncert_names] = strdup(items[i])))
			t->ncert_names++;
	}
	if (n == 0)
		tenant_err(P, line, "cert_names has no items");
done:
	conf_parse_list_free(items, n);
}

/* Pins are written as sha256sum or openssl prints them: 64 hex digits,
 * with or without colons between the bytes. */
static void tenant_key_cert_sha256(struct tenant_parse *P, int line, const char *value)
{
	char **items;
	size_t n = conf_parse_split_list(value, &items);
	struct fg_tenant *t = P->t;
	unsigned char (*nv)[32] = realloc(t->cert_pins, (t->ncert_pins + n + 1) * sizeof(*nv));
	if (!nv) {
		tenant_err(P, line, "out of memory");
		goto done;
	}
	t->cert_pins = nv;
	for (size_t i = 0; i < n; i++) {
		char hex[65], ignored[8];
		size_t k = 0;
		for (const char *c = items[i]; *c && k < 64; c++)
			if (*c != ':')
				hex[k++] = *c;
		hex[k] = '\0';
		if (strlen(items[i]) <= 95 && conf_parse_sha256_hex(hex, t->cert_pins[t->ncert_pins], ignored, sizeof ignored) == 0)
			t->ncert_pins++;
		else
			tenant_err(P, line, "cert_sha256: item %zu is not 64 hex digits (openssl x509 -noout "
				   "-fingerprint -sha256 -in CERT)", i + 1);
	}
	if (n == 0)
		tenant_err(P, line, "cert_sha256 has no items");
done:
	conf_parse_list_free(items, n);
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
	size_t n = conf_parse_split_list(value, &items);
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
	conf_parse_list_free(items, n);
}

static const struct {
	const char *name;
	unsigned bit;
} tenant_methods[] = {
	{ "GET", FG_M_GET }, { "POST", FG_M_POST }, { "DELETE", FG_M_DELETE },
};
#define TENANT_NMETHODS (sizeof(tenant_methods) / sizeof(tenant_methods[0]))

static void tenant_key_methods(struct tenant_parse *P, int line, const char *value)
{
	char **items;
	size_t n = conf_parse_split_list(value, &items);
	unsigned bits = 0;
	for (size_t i = 0; i < n; i++) {
		size_t m = 0;
		while (m < TENANT_NMETHODS && strcasecmp(items[i], tenant_methods[m].name) != 0)
			m++;
		if (m < TENANT_NMETHODS)
			bits |= tenant_methods[m].bit;
		else
			tenant_err(P, line, "methods: unknown method \"%.32s\" (GET, POST or DELETE)", items[i]);
	}
	if (n == 0)
		tenant_err(P, line, "methods has no items (GET, POST and/or DELETE)");
	P->t->methods = bits;
	P->has_methods = true;
	conf_parse_list_free(items, n);
}

static void tenant_key_vins(struct tenant_parse *P, int line, const char *value)
{
	char **items;
	size_t n = conf_parse_split_list(value, &items);
	for (size_t i = 0; i < n; i++) {
		char vin[18];
		if (vin_normalize(items[i], strlen(items[i]), vin))
			vinset_add(P->t->vins, vin);
		else
			tenant_err(P, line, "vins: malformed VIN \"%.40s\" (17 characters of A-Z and 0-9)",
				   items[i]);
	}
	conf_parse_list_free(items, n);
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
			conf_errors_add(P->errs, NULL, 0, "%s", e.lines[i]);
	}
	if (rc < 0 && e.n == 0)
		tenant_err(P, line, "vin_file: cannot read %s", path);
	conf_errors_free(&e);
}

/* Records PATH's identity in SEEN[I]; true when an earlier entry is the
 * same file. A path that cannot be stat'ed is left to the reading to
 * report. */
static bool tenant_file_repeated(struct stat *seen, size_t i, const char *path)
{
	if (stat(path, &seen[i]) < 0) {
		seen[i].st_ino = 0;
		return false;
	}
	for (size_t j = 0; j < i; j++)
		if (seen[j].st_ino && seen[j].st_dev == seen[i].st_dev && seen[j].st_ino == seen[i].st_ino)
			return true;
	return false;
}

static void tenant_key_vin_file(struct tenant_parse *P, int line, const char *value)
{
	char **items;
	size_t n = conf_parse_split_list(value, &items);
	/* A file named twice (under any spelling) is a mistake, refused
	 * before it is read again: each repeat would cost a whole reading. */
	struct stat *seen = calloc(n ? n : 1, sizeof(*seen));
	if (!seen) {
		tenant_err(P, line, "out of memory");
		conf_parse_list_free(items, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char *path = conf_parse_path_join(P->dir, items[i]);
		if (!path) {
			tenant_err(P, line, "out of memory");
			continue;
		}
		if (tenant_file_repeated(seen, i, path))
			tenant_err(P, line, "vin_file: %s is listed more than once", path);
		else
			tenant_vin_file(P, line, path);
		free(path);
	}
	if (n == 0)
		tenant_err(P, line, "vin_file has no items");
	free(seen);
	conf_parse_list_free(items, n);
}

static void tenant_key_vin_prefixes(struct tenant_parse *P, int line, const char *value)
{
	char **items;
	size_t n = conf_parse_split_list(value, &items);
	for (size_t i = 0; i < n; i++) {
		char err[FG_ERR_LEN];
		if (vinset_add_prefix(P->t->vins, items[i], err, sizeof(err)) < 0)
			tenant_err(P, line, "vin_prefixes: %s", err);
	}
	if (n == 0)
		tenant_err(P, line, "vin_prefixes has no items");
	conf_parse_list_free(items, n);
}

static void tenant_key_rate(struct tenant_parse *P, int line, const char *value)
{
	char err[FG_ERR_LEN];
	if (conf_parse_rate(value, &P->t->rate, err, sizeof(err)) < 0)
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
	{ "cert_names", tenant_key_cert_names },
	{ "cert_sha256", tenant_key_cert_sha256 },
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
	t->line_cert_names = tenant_key_line(P, "cert_names");
	t->line_cert_sha256 = tenant_key_line(P, "cert_sha256");
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
	if (P->seen_tenant && P->errs->n == P->errs_before && !t->listen.n && !t->nkeys && !t->nsources &&
	    !t->ncert_names && !t->ncert_pins)
		tenant_err(P, 0, "tenant %s has no listen, keys_sha256 or sources, nor cert_names or cert_sha256: no request can reach it",
			   t->name ? t->name : "?");
}

static int tenant_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool tenant_is_file(const char *name)
{
	size_t n = strlen(name);
	return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".conf") == 0;
}

int tenant_files(const char *dir, char ***names, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t cnt = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (!tenant_is_file(de->d_name))
			continue;
		char **nv = realloc(v, (cnt + 1) * sizeof(*v));
		if (!nv)
			break;
		v = nv;
		v[cnt] = conf_parse_path_join(dir, de->d_name);
		if (v[cnt])
			cnt++;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), tenant_cmp_str);
	*names = v;
	*n = cnt;
	return 0;
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
	P.t->stats_slot = -1;
	if (!P.t->file || !P.t->vins)
		goto oom;
	if (conf_ini_parse_file(path, tenant_ini_cb, &P, errs) < 0)
		goto fail;
	tenant_finish(&P);
	if (!P.t->name)
		goto oom;
	if (errs->n > P.errs_before)
		goto fail;
	free(P.dir);
	return P.t;
oom:
	conf_errors_add(errs, path, 0, "out of memory");
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
	conf_parse_addrlist_free(&t->listen);
	free(t->keys);
	free(t->sources);
	for (size_t i = 0; i < t->ncert_names; i++)
		free(t->cert_names[i]);
	free(t->cert_names);
	free(t->cert_pins);
	vinset_free(t->vins);
	free(t);
}

static int tenant_cmp_name(const void *a, const void *b)
{
	const struct fg_tenant *x = *(const struct fg_tenant *const *)a;
	const struct fg_tenant *y = *(const struct fg_tenant *const *)b;
	return strcmp(x->name, y->name);
}

void tenant_load_dir(const char *dir, const char *conf_path, int line, struct fg_tenant ***out, size_t *nout,
		     struct fg_errors *errs)
{
	struct stat st;
	char **files = NULL;
	size_t nfiles = 0;
	if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
		conf_errors_add(errs, conf_path, line, "tenants_dir: \"%s\" is not a folder", dir);
		return;
	}
	if (tenant_files(dir, &files, &nfiles) < 0) {
		conf_errors_add(errs, conf_path, line, "tenants_dir: cannot open folder \"%s\": %s", dir, strerror(errno));
		return;
	}
	struct fg_tenant **v = calloc(nfiles ? nfiles : 1, sizeof(*v));
	size_t n = 0;
	if (!v) {
		conf_errors_add(errs, conf_path, line, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nfiles; i++) {
		struct fg_tenant *t = tenant_load(files[i], errs);
		if (t)
			v[n++] = t;
	}
	tenant_check_set(v, n, errs);
	qsort(v, n, sizeof(*v), tenant_cmp_name);
out:
	*out = v;
	*nout = n;
	conf_parse_list_free(files, nfiles);
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
		conf_errors_add(errs, b->file, b->line_name, "tenant name \"%s\" is also used by %s", b->name, a->file);
		n++;
	}
	for (size_t k = 0; k < b->nkeys; k++) {
		if (tenant_has_key(a, b->keys[k])) {
			conf_errors_add(errs, b->file, b->line_keys, "keys_sha256: an API key of tenant %s is also a key of tenant %s (%s)",
				   b->name, a->name, a->file);
			n++;
		}
	}
	for (size_t i = 0; i < b->listen.n; i++) {
		for (size_t j = 0; j < a->listen.n; j++) {
			if (strcmp(b->listen.v[i].spec, a->listen.v[j].spec) == 0) {
				conf_errors_add(errs, b->file, b->line_listen, "listen: %s is also a listener of tenant %s (%s)",
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
				conf_errors_add(errs, b->file, b->line_sources, "sources: %s is also a source range of tenant %s (%s)",
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

/* ---- methods ------------------------------------------------------------ */

const char *tenant_method_name(unsigned bit)
{
	for (size_t i = 0; i < TENANT_NMETHODS; i++)
		if (tenant_methods[i].bit == bit)
			return tenant_methods[i].name;
	return "?";
}

void tenant_methods_text(unsigned bits, char *out, size_t outlen)
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < TENANT_NMETHODS; i++)
		if (bits & tenant_methods[i].bit)
			n += (size_t)snprintf(out + n, n < outlen ? outlen - n : 0, "%s%s",
					      n ? ", " : "", tenant_methods[i].name);
	if (!n)
		snprintf(out, outlen, "none");
}
