/* log.h: leveled diagnostics on stderr, and the JSON access and audit
 * logs. Every writer is thread-safe; access lines are buffered and flushed
 * by log_flush() (a timer in the main loop), so a worker never waits on
 * disk for more than a memcpy under a short lock; audit lines are written
 * at once, and synced off the event loops with audit_sync. Nothing secret may be passed
 * here: there is deliberately no way to print a struct fg_secret. */
#ifndef FG_LOG_H
#define FG_LOG_H
#include <jansson.h>
#include <stdint.h>
#include "conf.h"

void log_set_level(enum fg_log_level l);
bool log_enabled(enum fg_log_level l);
void log_msg(enum fg_log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(FG_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(FG_LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(FG_LOG_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_enabled(FG_LOG_DEBUG)) log_msg(FG_LOG_DEBUG, __VA_ARGS__); } while (0)

/* (Re)opens the access and audit logs named by C ("-" = stderr, "off").
 * Called at start-up and on SIGHUP, so logrotate can move the files.
 * Returns -1 with ERR filled when a file cannot be opened. */
int log_open(const struct fg_config *c, char *err, size_t errlen);
/* Writes OBJ as one line to the access log; steals the reference. */
void log_access(json_t *obj);
/* Writes OBJ as one line to the audit log at once (one write(2)); steals
 * the reference. Returns the line's number, 0 when it was not written. */
uint64_t log_audit(json_t *obj);
struct audit_waiter;
struct event_base;
/* With audit_sync = yes and line SEQ not on disk yet: a waiter that runs
 * CB(ARG) on BASE once it is. NULL when there is nothing to wait for (or
 * no memory). Cancel it on BASE's thread if the wait ends otherwise. */
struct audit_waiter *log_audit_wait(uint64_t seq, struct event_base *base, void (*cb)(void *), void *arg);
void log_audit_wait_cancel(struct audit_waiter *w);
/* Blocks until line SEQ is on disk (audit_sync = yes), for the admin
 * listener's rare POSTs; returns at once otherwise. */
void log_audit_sync(uint64_t seq);
bool log_access_on(void);
void log_flush(void);
void log_close(void);
/* True when stderr is the systemd journal (JOURNAL_STREAM matches):
 * diagnostics then carry "<N>" priorities. */
bool log_to_journal(void);
/* -t: 0 when TARGET ("-", "off" or a path) could be opened for append at
 * start-up; -1 with ERR otherwise. Creates nothing. */
int log_check_path(const char *target, char *err, size_t errlen);
struct evhttp_request;
/* The client of ER for access and audit lines: "ADDR:PORT" or "unix". */
json_t *log_client(struct evhttp_request *er);
/* "2026-11-27T12:00:00.123Z" */
void log_time_iso(char *buf, size_t len);
#endif
