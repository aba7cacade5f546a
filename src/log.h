/* log.h: leveled diagnostics on stderr, and the JSON access and audit
 * logs. Every writer is thread-safe; lines are buffered and flushed by
 * log_flush() (a timer in the main loop), so a worker never waits on disk
 * for more than a memcpy under a short lock. Nothing secret may be passed
 * here: there is deliberately no way to print a struct fg_secret. */
#ifndef FG_LOG_H
#define FG_LOG_H
#include <jansson.h>
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
/* Writes OBJ as one line to the access / audit log; steals the reference. */
void log_access(json_t *obj);
void log_audit(json_t *obj);
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
