/* hook_dedupe.h: the delivery ids already applied, in a bounded window
 * (docs/webhooks.md "Deduplication"): at most MAX ids, none older than
 * max_age; the oldest go first. With [webhook] spool, the window is also
 * a file (spool/seen, one "UNIXTIME ID" line each), read back at start
 * (every line checked: it is input) and compacted then, so a restart
 * does not apply a retry twice. Main thread only: no lock. Times are
 * wall-clock seconds (they outlive the process), passed in. */
#ifndef FG_HOOK_DEDUPE_H
#define FG_HOOK_DEDUPE_H
#include <stdbool.h>
#include <stddef.h>

struct hook_dedupe;
struct hook_dedupe *hook_dedupe_new(size_t max);
void hook_dedupe_free(struct hook_dedupe *d);
/* Whether ID was marked within MAX_AGE seconds of NOW. */
bool hook_dedupe_seen(struct hook_dedupe *d, const char *id, double now, int max_age);
/* Marks ID seen at NOW (0, or -1 when out of memory); appended to the
 * spool file when there is one. */
int hook_dedupe_mark(struct hook_dedupe *d, const char *id, double now, int max_age);
size_t hook_dedupe_count(const struct hook_dedupe *d);
/* Reads DIR/seen (a missing file is an empty window), keeps the lines
 * that are well formed and within MAX_AGE, rewrites the file with them and
 * appends to it from then on. Returns the ids kept, or -1 with ERR. Lines
 * refused are counted in *BAD. */
long hook_dedupe_spool(struct hook_dedupe *d, const char *dir, double now, int max_age, size_t *bad,
		       char *err, size_t errlen);
#endif
