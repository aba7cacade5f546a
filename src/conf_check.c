/* conf_check.c: views of a loaded configuration that loading itself does
 * not need: the log files -t must prove writable, -T's print of every
 * effective value, and the warning when a reload changes a key that only a
 * restart applies. Values are rendered from the key table, so a new key
 * shows up here without a line of code. A secret is never printed: only
 * whether one is set. */
#define _GNU_SOURCE
#include "conf_check.h"
#include "log.h"
#include "tenant.h"
#include <stdlib.h>
#include <string.h>

static const char *const confcheck_levels[] = { "error", "warn", "info", "debug" };

static void conf_check_addrs(const struct fg_addrlist *l, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = 0;
	for (size_t i = 0; i < l->n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", l->v[i].spec);
}

/* The effective value of key row I of C as it would be written in the
 * file ("" when unset). */
static void conf_check_value(const struct fg_config *c, size_t i, char *buf, size_t len)
{
	enum config_type t;
	const void *f = conf_key_field(c, i, &t);
	const char *s;
	switch (t) {
	case CT_ADDRS:
		conf_check_addrs(f, buf, len);
		if (!buf[0])
			snprintf(buf, len, "off");
		return;
	case CT_INT:
	case CT_SECONDS:
		snprintf(buf, len, "%d", *(const int *)f);
		return;
	case CT_SECONDS_OPT:
		if (*(const int *)f < 0)
			buf[0] = 0;
		else
			snprintf(buf, len, "%d", *(const int *)f);
		return;
	case CT_MODE:
		if (*(const int *)f < 0)
			buf[0] = 0;
		else
			snprintf(buf, len, "%04o", *(const int *)f);
		return;
	case CT_SIZE:
		snprintf(buf, len, "%zu", *(const size_t *)f);
		return;
	case CT_RATE: {
		const struct fg_rate *r = f;
		snprintf(buf, len, "%u/%s", r->count,
			 r->window_s == 1 ? "s" : r->window_s == 60 ? "min" : "h");
		return;
	}
	case CT_BOOL:
		snprintf(buf, len, "%s", *(const bool *)f ? "yes" : "no");
		return;
	case CT_LEVEL:
		snprintf(buf, len, "%s", confcheck_levels[*(const enum fg_log_level *)f]);
		return;
	case CT_SECRET:
		snprintf(buf, len, "%s", conf_secret_empty(f) ? "" : "<redacted>");
		return;
	case CT_MILLIS:
		snprintf(buf, len, "%dms", *(const int *)f);
		return;
	case CT_REDIS_URL: {
		const struct fg_redis_url *u = f;
		if (u->addr.is_unix)
			snprintf(buf, len, "%s", u->addr.spec);
		else if (u->addr.spec && u->addr.spec[0])
			snprintf(buf, len, "redis://%s/%d", u->addr.spec, u->db);
		else
			buf[0] = 0;
		return;
	}
	case CT_TLSVERIFY:
		snprintf(buf, len, "%s", (const char *const[]){ "off", "optional", "required" }[*(const int *)f < 0 ? 0 : *(const int *)f]);
		return;
	case CT_TLSVERSION:
		snprintf(buf, len, "%s", *(const int *)f == FG_TLS_1_3 ? "1.3" : "1.2");
		return;
	case CT_VINREADS:
		snprintf(buf, len, "%s", (const char *[]){ "auto", "list", "single" }[*(const enum fg_vin_reads *)f]);
		return;
	case CT_ONFAIL:
		snprintf(buf, len, "%s", *(const enum fg_redis_onfail *)f == FG_REDIS_SHARE ? "share" : "closed");
		return;
	case CT_STRING: case CT_PATH: case CT_LOG: case CT_URL: case CT_SHA256:
		s = *(char *const *)f;
		snprintf(buf, len, "%s", s ? s : "");
		return;
	}
	buf[0] = 0;
}

void conf_check_files(const struct fg_config *c, struct fg_errors *errs)
{
	char err[FG_ERR_LEN];
	if (log_check_path(c->access_log, err, sizeof err) < 0)
		conf_errors_add(errs, c->path, conf_key_line(c, "gateway", "access_log"), "access_log: %s", err);
	if (log_check_path(c->audit_log, err, sizeof err) < 0)
		conf_errors_add(errs, c->path, conf_key_line(c, "gateway", "audit_log"), "audit_log: %s", err);
}

static void conf_check_copy_file(const char *path, FILE *out)
{
	char buf[8192];
	size_t n;
	FILE *in = fopen(path, "r");
	if (!in) {
		fprintf(out, "# (cannot read %s)\n", path);
		return;
	}
	bool nl = true;
	while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
		fwrite(buf, 1, n, out);
		nl = buf[n - 1] == '\n';
	}
	if (!nl)
		fputc('\n', out);
	fclose(in);
}

void conf_check_print(const struct fg_config *c, FILE *out)
{
	char v[4096];
	const char *section = "";
	fprintf(out, "# configuration file %s (effective values; defaults included)\n", c->path);
	for (size_t i = 0; i < config_nkeys; i++) {
		if (strcmp(section, config_keys[i].section) != 0) {
			section = config_keys[i].section;
			fprintf(out, "%s[%s]\n", i ? "\n" : "", section);
		}
		conf_check_value(c, i, v, sizeof v);
		fprintf(out, "%s = %s\n", config_keys[i].name, v);
	}
	for (size_t t = 0; t < c->ntenants; t++) {
		fprintf(out, "\n# tenant file %s\n", c->tenants[t]->file);
		conf_check_copy_file(c->tenants[t]->file, out);
	}
}

void conf_check_restart_keys(const struct fg_config *old, const struct fg_config *new)
{
	char a[4096], b[4096];
	for (size_t i = 0; i < config_nkeys; i++) {
		if (config_keys[i].reloadable)
			continue;
		conf_check_value(old, i, a, sizeof a);
		conf_check_value(new, i, b, sizeof b);
		if (strcmp(a, b) != 0)
			log_warn("reload: [%s] %s changed from \"%s\" to \"%s\": it takes effect after a restart",
				 config_keys[i].section, config_keys[i].name, a, b);
	}
}
