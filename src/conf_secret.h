/* conf_secret.h: the one type that holds tokens, client secrets and API keys.
 *
 * It has no printing function on purpose: a secret can only be copied into
 * a buffer that goes on the wire (conf_secret_data), compared, or wiped. Wiping
 * uses OPENSSL_cleanse so the compiler cannot drop it. */
#ifndef FG_CONF_SECRET_H
#define FG_CONF_SECRET_H
#include <stddef.h>
#include <stdbool.h>

struct fg_secret {
	char *buf;   /* NUL-terminated, malloc'd; NULL when empty */
	size_t len;
};

void conf_secret_set(struct fg_secret *s, const char *data, size_t len);
void conf_secret_copy(struct fg_secret *dst, const struct fg_secret *src);
void conf_secret_wipe(struct fg_secret *s);          /* cleanse + free, leaves empty */
bool conf_secret_empty(const struct fg_secret *s);
const char *conf_secret_data(const struct fg_secret *s); /* for the wire only */
bool conf_secret_equal(const struct fg_secret *a, const struct fg_secret *b); /* constant time */

/* Resolves a configured secret value: "env:NAME", "file:PATH" (relative to
 * BASEDIR, trailing newline stripped) or a literal. On failure fills ERR
 * (never with the secret itself) and returns -1. */
int conf_secret_resolve(struct fg_secret *out, const char *value, const char *basedir,
		   char *err, size_t errlen);
#endif
