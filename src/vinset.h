/* vinset.h: VIN normalisation and the allowlist of one tenant.
 *
 * A set holds exact VINs (an open-addressing hash set: O(1) lookup, a
 * million VINs load well under a second), prefixes (matched per prefix
 * length, never by scanning the set) and an allow-all flag ("*"). A set is
 * built while loading and read-only afterwards, so lookups need no lock. */
#ifndef FG_VINSET_H
#define FG_VINSET_H
#include <stddef.h>
#include <stdbool.h>
#include "conf_errors.h"

/* Trims, upper-cases and validates IN[0..len): 17 of A-Z0-9 (I, O and Q
 * are allowed: High Mobility's test VINs use them). Writes 17 chars + NUL
 * to OUT. Returns false when the text is not a VIN. */
bool vin_normalize(const char *in, size_t len, char out[18]);

/* Quotes at most 40 bytes of text that was meant to be a VIN, anything
 * unprintable, '"' or '\\' shown as '?': safe in a log line, an error
 * detail or the JSON it goes into, whatever a client or a file sent. */
void vin_quote(const char *in, size_t len, char *out, size_t outlen);

struct vinset;

struct vinset *vinset_new(void);
void vinset_free(struct vinset *s);
/* VIN must already be normalized. Duplicates are ignored. */
void vinset_add(struct vinset *s, const char *vin17);
/* Prefix of 1..16 chars of A-Z0-9 after normalisation, or "*" = all. */
int vinset_add_prefix(struct vinset *s, const char *prefix, char *err, size_t errlen);
/* Loads one VIN per line; '#' starts a comment, blank lines are skipped;
 * a bad line adds "FILE:LINE: ..." to ERRS. -1 when the file cannot be
 * read (error added). */
int vinset_load_file(struct vinset *s, const char *path, struct fg_errors *errs);
bool vinset_contains(const struct vinset *s, const char *vin17);  /* exact, prefix or all */
size_t vinset_count(const struct vinset *s);   /* exact VINs held */
/* SHA-256 of what S allows (exact VINs, prefixes, all), whatever the order
 * they were added in: equal sets, equal digests (redis_drift.c). */
void vinset_digest(const struct vinset *s, unsigned char out[32]);
bool vinset_allows_all(const struct vinset *s);
size_t vinset_memory(const struct vinset *s);  /* bytes allocated, for docs/bench */
#endif
