/* hook_dedupe.c: the window of delivery ids already applied.
 *
 * A hash table by id and a FIFO by age (ids are marked in time order),
 * so a look-up, a mark and the expiry of the oldest are each O(1). The
 * spool file is the same window on disk: appended one line per mark and
 * rewritten at start; a line that is not "DIGITS ID" with a valid id is
 * refused and counted, never trusted. Never: hold more than MAX ids. */
#include "hook_dedupe.h"
#include "hook_event.h"
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct dd_item {
	struct dd_item *hnext;
	struct dd_item *older, *newer;
	double at;
	char id[];
};

struct hook_dedupe {
	struct dd_item **buckets;
	size_t nbuckets, n, max;
	struct dd_item *oldest, *newest;
	FILE *spool;
};

static uint64_t dd_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

struct hook_dedupe *hook_dedupe_new(size_t max)
{
	struct hook_dedupe *d = calloc(1, sizeof *d);
	size_t nb = 64;
	while (nb < max && nb < ((size_t)1 << 24))
		nb <<= 1;
	if (d)
		d->buckets = calloc(nb, sizeof *d->buckets);
	if (!d || !d->buckets) {
		free(d);
		return NULL;
	}
	d->nbuckets = nb;
	d->max = max;
	return d;
}

static struct dd_item **dd_slot(struct hook_dedupe *d, const char *id)
{
	struct dd_item **pp = &d->buckets[dd_hash(id) & (d->nbuckets - 1)];
	while (*pp && strcmp((*pp)->id, id) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

static void dd_drop_oldest(struct hook_dedupe *d)
{
	struct dd_item *it = d->oldest;
	struct dd_item **pp = dd_slot(d, it->id);
	*pp = it->hnext;
	d->oldest = it->newer;
	if (d->oldest)
		d->oldest->older = NULL;
	else
		d->newest = NULL;
	d->n--;
	free(it);
}

static void dd_expire(struct hook_dedupe *d, double now, int max_age)
{
	while (d->oldest && (d->n > d->max || d->oldest->at + max_age <= now))
		dd_drop_oldest(d);
}

bool hook_dedupe_seen(struct hook_dedupe *d, const char *id, double now, int max_age)
{
	dd_expire(d, now, max_age);
	return *dd_slot(d, id) != NULL;
}

static int dd_insert(struct hook_dedupe *d, const char *id, double at)
{
	struct dd_item **pp = dd_slot(d, id);
	if (*pp)
		return 0;
	size_t len = strlen(id) + 1;
	struct dd_item *it = calloc(1, sizeof *it + len);
	if (!it)
		return -1;
	memcpy(it->id, id, len);
	it->at = at;
	*pp = it;
	it->older = d->newest;
	if (d->newest)
		d->newest->newer = it;
	else
		d->oldest = it;
	d->newest = it;
	d->n++;
	return 0;
}

int hook_dedupe_mark(struct hook_dedupe *d, const char *id, double now, int max_age)
{
	if (dd_insert(d, id, now) < 0)
		return -1;
	dd_expire(d, now, max_age);
	if (d->spool) {
		/* Before the 200 that tells High Mobility not to retry. */
		fprintf(d->spool, "%.0f %s\n", now, id);
		if (fflush(d->spool) == 0)
			fdatasync(fileno(d->spool));
	}
	return 0;
}

size_t hook_dedupe_count(const struct hook_dedupe *d)
{
	return d ? d->n : 0;
}

void hook_dedupe_free(struct hook_dedupe *d)
{
	if (!d)
		return;
	while (d->oldest)
		dd_drop_oldest(d);
	if (d->spool)
		fclose(d->spool);
	free(d->buckets);
	free(d);
}

/* "DIGITS ID\n": the time and the id, or false. */
static bool dd_line(char *line, double *at, char **id)
{
	size_t n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[--n] = '\0';
	char *sp = strchr(line, ' ');
	if (!sp || sp == line || sp - line > 12 || strspn(line, "0123456789") != (size_t)(sp - line))
		return false;
	*sp = '\0';
	*at = strtod(line, NULL);
	*id = sp + 1;
	return hook_event_delivery_ok(*id);
}

long hook_dedupe_spool(struct hook_dedupe *d, const char *dir, double now, int max_age, size_t *bad,
		       char *err, size_t errlen)
{
	char path[4096], tmp[4200], line[HOOK_DELIVERY_MAX + 40];
	*bad = 0;
	if (snprintf(path, sizeof path, "%s/seen", dir) >= (int)sizeof path) {
		snprintf(err, errlen, "[webhook] spool: path too long");
		return -1;
	}
	FILE *in = fopen(path, "r");
	if (!in && errno != ENOENT) {
		snprintf(err, errlen, "[webhook] spool: cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	while (in && fgets(line, sizeof line, in)) {
		double at;
		char *id;
		bool whole = strchr(line, '\n') != NULL || feof(in);
		if (!whole) {   /* too long: skip the rest of it */
			int ch;
			while ((ch = fgetc(in)) != EOF && ch != '\n')
				;
		}
		if (!whole || !dd_line(line, &at, &id) || at > now + 86400) {
			(*bad)++;
			continue;
		}
		if (at + max_age > now && dd_insert(d, id, at) < 0)
			break;
	}
	if (in)
		fclose(in);
	dd_expire(d, now, max_age);
	/* Compacted: only what the window still holds, oldest first. */
	snprintf(tmp, sizeof tmp, "%s.new", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!out) {
		snprintf(err, errlen, "[webhook] spool: cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (struct dd_item *it = d->oldest; it; it = it->newer)
		fprintf(out, "%.0f %s\n", it->at, it->id);
	if (fflush(out) != 0 || fdatasync(fileno(out)) != 0 || fclose(out) != 0 || rename(tmp, path) != 0) {
		snprintf(err, errlen, "[webhook] spool: cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	d->spool = fopen(path, "a");
	if (!d->spool) {
		snprintf(err, errlen, "[webhook] spool: cannot append to %s: %s", path, strerror(errno));
		return -1;
	}
	return (long)d->n;
}
