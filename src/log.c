/* log.c: diagnostics, access log and audit log.
 *
 * Diagnostics go to stderr (systemd style) one line at a time. The access
 * and audit logs are JSON lines; each has a FILE* with a large stdio buffer
 * behind a mutex, flushed once a second by the main loop and at exit, so a
 * request pays a lock and a memcpy, not a write(2). This file never sees a
 * secret: callers pass only names, ids and counts. */
#include "log.h"
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <errno.h>
#include <stdlib.h>
#include <stdatomic.h>

struct log_sink {
	pthread_mutex_t mu;
	FILE *fp;        /* NULL when off */
	bool own;        /* fp is ours to close (not stderr) */
	char *buf;       /* setvbuf buffer when own */
	atomic_bool on;  /* fp != NULL, readable without the lock */
};

static atomic_int log_level = FG_LOG_INFO;
static pthread_mutex_t log_err_mu = PTHREAD_MUTEX_INITIALIZER;
static struct log_sink log_acc = { PTHREAD_MUTEX_INITIALIZER, NULL, false, NULL, false };
static struct log_sink log_aud = { PTHREAD_MUTEX_INITIALIZER, NULL, false, NULL, false };

static const char *const log_level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(enum fg_log_level l) { atomic_store(&log_level, (int)l); }
bool log_enabled(enum fg_log_level l) { return (int)l <= atomic_load(&log_level); }

void log_time_iso(char *buf, size_t len)
{
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

void log_msg(enum fg_log_level l, const char *fmt, ...)
{
	if (!log_enabled(l))
		return;
	char ts[40], line[2048];
	log_time_iso(ts, sizeof ts);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&log_err_mu);
	fprintf(stderr, "%s %s fleetgate: %s\n", ts, log_level_names[l], line);
	pthread_mutex_unlock(&log_err_mu);
}

static void sink_close_locked(struct log_sink *s)
{
	if (s->fp && s->own)
		fclose(s->fp);
	else if (s->fp)
		fflush(s->fp);
	free(s->buf);
	s->fp = NULL;
	s->own = false;
	s->buf = NULL;
	atomic_store(&s->on, false);
}

static int sink_open(struct log_sink *s, const char *target, char *err, size_t errlen)
{
	FILE *fp = NULL;
	char *buf = NULL;
	bool own = false;
	if (target && strcmp(target, "-") == 0) {
		fp = stderr;
	} else if (target && strcmp(target, "off") != 0) {
		fp = fopen(target, "a");
		if (!fp) {
			snprintf(err, errlen, "%s: cannot open log: %s", target, strerror(errno));
			return -1;
		}
		own = true;
		buf = malloc(1 << 16);
		if (buf)
			setvbuf(fp, buf, _IOFBF, 1 << 16);
	}
	pthread_mutex_lock(&s->mu);
	sink_close_locked(s);
	s->fp = fp;
	s->own = own;
	s->buf = buf;
	atomic_store(&s->on, fp != NULL);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* Both sinks are tried, so one unwritable path does not stop the other
 * from being reopened; a sink that cannot be reopened keeps its old file. */
int log_open(const struct fg_config *c, char *err, size_t errlen)
{
	log_set_level(c->log_level);
	int a = sink_open(&log_acc, c->access_log, err, errlen);
	char err2[512];
	int b = sink_open(&log_aud, c->audit_log, a < 0 ? err2 : err, a < 0 ? sizeof err2 : errlen);
	return a < 0 || b < 0 ? -1 : 0;
}

static void sink_write(struct log_sink *s, json_t *obj)
{
	/* Six significant digits: microseconds for any duration under 10 s. */
	char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(obj);
	if (!text)
		return;
	pthread_mutex_lock(&s->mu);
	if (s->fp) {
		/* stderr is shared with diagnostics: keep whole lines together. */
		if (!s->own)
			pthread_mutex_lock(&log_err_mu);
		fputs(text, s->fp);
		fputc('\n', s->fp);
		if (!s->own)
			pthread_mutex_unlock(&log_err_mu);
	}
	pthread_mutex_unlock(&s->mu);
	free(text);
}

/* Lets reqlog.c skip building a line nobody will read (access_log = off). */
bool log_access_on(void) { return atomic_load(&log_acc.on); }
void log_access(json_t *obj) { sink_write(&log_acc, obj); }
void log_audit(json_t *obj) { sink_write(&log_aud, obj); }

static void sink_flush(struct log_sink *s)
{
	pthread_mutex_lock(&s->mu);
	if (s->fp)
		fflush(s->fp);
	pthread_mutex_unlock(&s->mu);
}

void log_flush(void)
{
	sink_flush(&log_acc);
	sink_flush(&log_aud);
}

void log_close(void)
{
	pthread_mutex_lock(&log_acc.mu);
	sink_close_locked(&log_acc);
	pthread_mutex_unlock(&log_acc.mu);
	pthread_mutex_lock(&log_aud.mu);
	sink_close_locked(&log_aud);
	pthread_mutex_unlock(&log_aud.mu);
}
