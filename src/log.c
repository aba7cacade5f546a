/* log.c: diagnostics, access log and audit log.
 *
 * Diagnostics go to stderr (systemd style) one line at a time. When
 * stderr is the journal (JOURNAL_STREAM names its device and inode) each
 * line starts with an sd-daemon "<N>" priority instead of a time stamp,
 * which journald adds itself. Log files are created 0640: the audit log
 * names VINs and client addresses. The access and audit logs are JSON
 * lines. The access log has a FILE* with a large stdio buffer behind a
 * mutex, flushed once a second by the main loop and at exit, so a request
 * pays a lock and a memcpy, not a write(2). The audit log is written with
 * one write(2) per line at once: a line written is the kernel's, and a
 * crash of the process loses none (docs/operations.md). With audit_sync,
 * a thread of its own syncs the lines in batches (group commit: one
 * fdatasync for every line written meanwhile) and wakes the requests
 * waiting for their line on their own bases (waiter.c), so no event loop
 * waits for the disk. This file never sees a secret: callers pass only
 * names, ids and counts. */
#include "log.h"
#include "waiter.h"
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <errno.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stdint.h>
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

/* The audit log: a descriptor, written a line at a time. Lock order:
 * aud.sync_mu (held across an fdatasync, so the descriptor cannot be
 * closed under it), then aud.mu (a write and its number), then
 * aud.wmu (the waiters and the counts). */
struct audit_waiter {
	struct waiter w;               /* first: waiter.c frees the whole */
	uint64_t seq;
	void (*cb)(void *arg);
	void *arg;
	struct audit_waiter *next;
};

static struct {
	pthread_mutex_t mu;
	int fd;                        /* -1 when off */
	bool own;                      /* ours to close (not stderr) */
	uint64_t seq;                  /* lines written so far */
	pthread_mutex_t sync_mu;
	pthread_mutex_t wmu;
	pthread_cond_t work, done;
	bool sync;                     /* audit_sync = yes */
	bool running, stop;
	pthread_t thread;
	uint64_t written, synced;      /* under wmu */
	struct audit_waiter *waiters;  /* under wmu */
} aud = { PTHREAD_MUTEX_INITIALIZER, -1, false, 0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
	  PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, false, 0, 0, 0, NULL };

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

/* ---- the audit log ------------------------------------------------------ */

static void audit_waiter_run(struct waiter *w)
{
	struct audit_waiter *aw = (struct audit_waiter *)w;
	aw->cb(aw->arg);
}

/* Group commit: every line written by now goes to disk with one
 * fdatasync; then the waiters whose lines that covered are woken. A
 * descriptor that cannot be synced (stderr on a pipe or the journal's
 * socket) counts as synced once written: the line is the reader's. */
static void *audit_sync_main(void *unused)
{
	pthread_mutex_lock(&aud.wmu);
	for (;;) {
		while (!aud.stop && aud.synced >= aud.written)
			pthread_cond_wait(&aud.work, &aud.wmu);
		if (aud.stop && aud.synced >= aud.written)
			break;
		uint64_t target = aud.written;
		pthread_mutex_unlock(&aud.wmu);
		pthread_mutex_lock(&aud.sync_mu);
		pthread_mutex_lock(&aud.mu);
		int fd = aud.fd;
		pthread_mutex_unlock(&aud.mu);
		if (fd >= 0 && fdatasync(fd) < 0 && errno != EINVAL && errno != EROFS)
			log_error("audit log: fdatasync: %s", strerror(errno));
		pthread_mutex_unlock(&aud.sync_mu);
		pthread_mutex_lock(&aud.wmu);
		aud.synced = target;
		struct audit_waiter *wake = NULL, **pp = &aud.waiters;
		while (*pp) {
			struct audit_waiter *w = *pp;
			if (w->seq > target) {
				pp = &w->next;
				continue;
			}
			*pp = w->next;
			waiter_take_locked(&w->w);
			w->next = wake;
			wake = w;
		}
		pthread_cond_broadcast(&aud.done);
		pthread_mutex_unlock(&aud.wmu);
		while (wake) {
			struct audit_waiter *w = wake;
			wake = w->next;
			waiter_wake(&w->w);
		}
		pthread_mutex_lock(&aud.wmu);
	}
	pthread_mutex_unlock(&aud.wmu);
	return NULL;
}

static void audit_sync_stop(void)
{
	pthread_mutex_lock(&aud.wmu);
	bool running = aud.running;
	aud.stop = true;
	pthread_cond_broadcast(&aud.work);
	pthread_mutex_unlock(&aud.wmu);
	if (running)
		pthread_join(aud.thread, NULL);
	aud.running = aud.stop = false;
}

static int audit_open(const char *target, bool sync, char *err, size_t errlen)
{
	int fd = -1;
	bool own = false;
	if (target && strcmp(target, "-") == 0) {
		fd = STDERR_FILENO;
	} else if (target && strcmp(target, "off") != 0) {
		/* 0640 when created: the audit log names VINs and clients. */
		fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0) {
			snprintf(err, errlen, "%s: cannot open log: %s", target, strerror(errno));
			return -1;
		}
		own = true;
	}
	if (sync && !aud.running) {
		aud.running = pthread_create(&aud.thread, NULL, audit_sync_main, NULL) == 0;
		if (!aud.running)
			log_error("audit log: no thread for audit_sync: answers are not held for the disk");
	}
	/* The lines of the old file go to disk before it is closed. */
	pthread_mutex_lock(&aud.sync_mu);
	pthread_mutex_lock(&aud.mu);
	int old = aud.fd;
	bool old_own = aud.own;
	aud.fd = fd;
	aud.own = own;
	pthread_mutex_unlock(&aud.mu);
	if (old >= 0 && old_own) {
		if (aud.sync)
			fdatasync(old);
		close(old);
	}
	pthread_mutex_unlock(&aud.sync_mu);
	pthread_mutex_lock(&aud.wmu);
	aud.sync = sync && aud.running;
	pthread_mutex_unlock(&aud.wmu);
	return 0;
}

uint64_t log_audit(json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(obj);
	if (!text)
		return 0;
	uint64_t seq = 0;
	pthread_mutex_lock(&aud.mu);
	if (aud.fd >= 0) {
		/* One write(2) of the whole line, so lines never interleave;
		 * stderr is shared with diagnostics, whose lock it takes. */
		bool journal = !aud.own && log_to_journal();
		size_t n = strlen(text);
		char *line = malloc(n + 5);
		if (line) {
			int k = snprintf(line, n + 5, "%s%s\n", journal ? "<6>" : "", text);
			if (!aud.own)
				pthread_mutex_lock(&log_err_mu);
			for (ssize_t off = 0, w; off < k; off += w) {
				w = write(aud.fd, line + off, (size_t)(k - off));
				if (w < 0 && errno == EINTR)
					w = 0;
				else if (w <= 0)
					break;
			}
			if (!aud.own)
				pthread_mutex_unlock(&log_err_mu);
			free(line);
			seq = ++aud.seq;
		}
	}
	pthread_mutex_unlock(&aud.mu);
	free(text);
	if (seq) {
		pthread_mutex_lock(&aud.wmu);
		if (seq > aud.written)
			aud.written = seq;
		if (aud.sync || aud.waiters)   /* waiters from before a reload turned it off */
			pthread_cond_signal(&aud.work);
		else
			aud.synced = aud.written;
		pthread_mutex_unlock(&aud.wmu);
	}
	return seq;
}

struct audit_waiter *log_audit_wait(uint64_t seq, struct event_base *base, void (*cb)(void *), void *arg)
{
	struct audit_waiter *w = NULL;
	pthread_mutex_lock(&aud.wmu);
	if (seq && aud.sync && aud.synced < seq) {
		w = waiter_new(sizeof *w, &aud.wmu, base, audit_waiter_run, NULL);
		if (w) {
			w->seq = seq;
			w->cb = cb;
			w->arg = arg;
			w->next = aud.waiters;
			aud.waiters = w;
		}
	}
	pthread_mutex_unlock(&aud.wmu);
	return w;
}

void log_audit_wait_cancel(struct audit_waiter *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&aud.wmu);
	bool queued = waiter_cancel_locked(&w->w);
	if (queued) {
		struct audit_waiter **pp = &aud.waiters;
		while (*pp && *pp != w)
			pp = &(*pp)->next;
		if (*pp)
			*pp = w->next;
	}
	pthread_mutex_unlock(&aud.wmu);
	if (queued)
		free(w);
}

void log_audit_sync(uint64_t seq)
{
	pthread_mutex_lock(&aud.wmu);
	while (seq && aud.sync && aud.running && aud.synced < seq)
		pthread_cond_wait(&aud.done, &aud.wmu);
	pthread_mutex_unlock(&aud.wmu);
}

/* Both sinks are tried, so one unwritable path does not stop the other
 * from being reopened; a sink that cannot be reopened keeps its old file. */
int log_open(const struct fg_config *c, char *err, size_t errlen)
{
	log_set_level(c->log_level);
	int a = sink_open(&log_acc, c->access_log, err, errlen);
	char err2[512];
	int b = audit_open(c->audit_log, c->audit_sync, a < 0 ? err2 : err, a < 0 ? sizeof err2 : errlen);
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
}

void log_close(void)
{
	pthread_mutex_lock(&log_acc.mu);
	sink_close_locked(&log_acc);
	pthread_mutex_unlock(&log_acc.mu);
	audit_sync_stop();
	pthread_mutex_lock(&aud.mu);
	if (aud.fd >= 0 && aud.own)
		close(aud.fd);
	aud.fd = -1;
	aud.own = false;
	pthread_mutex_unlock(&aud.mu);
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
