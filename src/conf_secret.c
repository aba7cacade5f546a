/* conf_secret.c: the secret type and the env:/file:/literal resolution of
 * configured secrets.
 *
 * Rules this file keeps: every buffer that held secret bytes is cleansed
 * before it is freed (OPENSSL_cleanse, which the compiler may not drop),
 * and no error text ever contains the value, only the variable name or the
 * path it came from. There is deliberately no function that formats a
 * secret for humans. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "conf_secret.h"
#include "conf_parse.h"

/* A file: secret larger than this is a mistake (a key bundle, /dev/zero),
 * not a client secret. */
#define SECRET_FILE_MAX (64 * 1024)

void conf_secret_wipe(struct fg_secret *s)
{
	if (s->buf) {
		OPENSSL_cleanse(s->buf, s->len + 1);
		free(s->buf);
	}
	s->buf = NULL;
	s->len = 0;
}

void conf_secret_set(struct fg_secret *s, const char *data, size_t len)
{
	conf_secret_wipe(s);
	if (!data || len == 0)
		return;
	s->buf = malloc(len + 1);
	if (!s->buf)
		return;
	memcpy(s->buf, data, len);
	s->buf[len] = '\0';
	s->len = len;
}

void conf_secret_copy(struct fg_secret *dst, const struct fg_secret *src)
{
	if (dst == src)
		return;
	conf_secret_set(dst, src->buf, src->len);
}

bool conf_secret_empty(const struct fg_secret *s)
{
	return !s->buf || s->len == 0;
}

const char *conf_secret_data(const struct fg_secret *s)
{
	return s->buf ? s->buf : "";
}

/* Only the length can leak through timing; the bytes cannot. */
bool conf_secret_equal(const struct fg_secret *a, const struct fg_secret *b)
{
	if (a->len != b->len)
		return false;
	if (a->len == 0)
		return true;
	return CRYPTO_memcmp(a->buf, b->buf, a->len) == 0;
}

/* Reads at most SECRET_FILE_MAX bytes of PATH into OUT, stripping one
 * trailing "\n" or "\r\n" (what editors and `echo` add). */
static int conf_secret_read_file(struct fg_secret *out, const char *path, char *err, size_t errlen)
{
	char *buf = malloc(SECRET_FILE_MAX + 1);
	size_t n = 0;
	FILE *f = NULL;
	int rc = -1;

	if (!buf) {
		snprintf(err, errlen, "out of memory reading secret file \"%s\"", path);
		return -1;
	}
	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "cannot read secret file \"%s\": %s", path, strerror(errno));
		goto fail;
	}
	n = fread(buf, 1, SECRET_FILE_MAX + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "cannot read secret file \"%s\": %s", path, strerror(errno));
		goto fail;
	}
	if (n > SECRET_FILE_MAX) {
		snprintf(err, errlen, "secret file \"%s\" is larger than %d bytes", path, SECRET_FILE_MAX);
		goto fail;
	}
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n == 0) {
		snprintf(err, errlen, "secret file \"%s\" is empty", path);
		goto fail;
	}
	conf_secret_set(out, buf, n);
	rc = 0;
fail:
	if (f)
		fclose(f);
	OPENSSL_cleanse(buf, SECRET_FILE_MAX + 1);
	free(buf);
	return rc;
}

int conf_secret_resolve(struct fg_secret *out, const char *value, const char *basedir,
		   char *err, size_t errlen)
{
	conf_secret_wipe(out);
	if (strncmp(value, "env:", 4) == 0) {
		const char *name = value + 4;
		const char *v = *name ? getenv(name) : NULL;
		if (!*name) {
			snprintf(err, errlen, "\"env:\" needs a variable name");
			return -1;
		}
		if (!v) {
			snprintf(err, errlen, "environment variable %s is not set", name);
			return -1;
		}
		if (!*v) {
			snprintf(err, errlen, "environment variable %s is empty", name);
			return -1;
		}
		conf_secret_set(out, v, strlen(v));
		goto check;
	}
	if (strncmp(value, "file:", 5) == 0) {
		if (!value[5]) {
			snprintf(err, errlen, "\"file:\" needs a path");
			return -1;
		}
		char *path = conf_parse_path_join(basedir, value + 5);
		if (!path) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		int rc = conf_secret_read_file(out, path, err, errlen);
		free(path);
		return rc;
	}
	if (!*value) {
		snprintf(err, errlen, "empty secret");
		return -1;
	}
	conf_secret_set(out, value, strlen(value));
check:
	/* conf_secret_set leaves the secret empty only when malloc failed */
	if (conf_secret_empty(out)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}
