/* log.c: diagnostics, access log and audit log.
 *
 * Diagnostics go to stderr (systemd style) one line at a time. When
 * stderr is the journal (JOURNAL_STREAM names its device and inode) each
 * line starts with an sd-daemon "<N>" priority instead of a time stamp,
 * which journald adds itself. Log files are created 0640: the audit log
 * names VINs and client addresses. The access
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
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <event2/http.h>

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

/* sd-daemon priorities of error, warn, info, debug. */
static const char *const log_journal_prio[] = { "<3>", "<4>", "<6>", "<7>" };
static pthread_once_t log_journal_once = PTHREAD_ONCE_INIT;
static bool log_journal;

/* systemd sets JOURNAL_STREAM=DEV:INO for the stream it connected to
 * stderr; it may be inherited by a child whose stderr is elsewhere, hence
 * the comparison. */
static void log_journal_detect(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0)
		log_journal = (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

bool log_to_journal(void)
{
	pthread_once(&log_journal_once, log_journal_detect);
	return log_journal;
}

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
	bool journal = log_to_journal();
	pthread_mutex_lock(&log_err_mu);
	if (journal)
		fprintf(stderr, "%s%s: %s\n", log_journal_prio[l], log_level_names[l], line);
	else
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
		/* 0640 when created: the audit log names VINs and clients. */
		int fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		fp = fd >= 0 ? fdopen(fd, "a") : NULL;
		if (!fp) {
			if (fd >= 0)
				close(fd);
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
		if (!s->own && log_to_journal())
			fputs("<6>", s->fp);
		fputs(text, s->fp);
		fputc('\n', s->fp);
		if (!s->own)
			pthread_mutex_unlock(&log_err_mu);
	}
	pthread_mutex_unlock(&s->mu);
	free(text);
}

/* Lets req_log.c skip building a line nobody will read (access_log = off). */
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

/* For -t: whether start-up could open TARGET for append, without leaving
 * a file behind (an existing one is opened and closed; for a missing one,
 * its folder must let us create it). */
int log_check_path(const char *target, char *err, size_t errlen)
{
	if (!target || strcmp(target, "-") == 0 || strcmp(target, "off") == 0)
		return 0;
	int fd = open(target, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "cannot open \"%s\" for writing: %s", target, strerror(errno));
		return -1;
	}
	char *copy = strdup(target);
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	const char *dir = dirname(copy);
	int rc = access(dir, W_OK | X_OK);
	if (rc < 0)
		snprintf(err, errlen, "cannot create \"%s\": folder \"%s\": %s", target, dir, strerror(errno));
	free(copy);
	return rc;
}

/* "ADDRESS:PORT" of a TCP client, "[V6]:PORT", or "unix" for a unix
 * socket peer (it has no address worth naming). */
json_t *log_client(struct evhttp_request *er)
{
	struct evhttp_connection *con = er ? evhttp_request_get_connection(er) : NULL;
	const struct sockaddr *sa = con ? evhttp_connection_get_addr(con) : NULL;
	char host[INET6_ADDRSTRLEN], out[INET6_ADDRSTRLEN + 16];
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		snprintf(out, sizeof out, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		snprintf(out, sizeof out, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(out, sizeof out, "unix");
	}
	return json_string(out);
}
