/* zeropoll.h: curl's zero-timeout polls of sockets the event loop already
 * watches, answered without the kernel (see zeropoll.c). */
#ifndef FG_ZEROPOLL_H
#define FG_ZEROPOLL_H
#include <stdbool.h>

/* True when FD is known to have nothing to read yet. */
typedef bool (*zeropoll_quiet_fn)(void *ctx, int fd);

/* From here until zeropoll_leave, on this thread, a zero-timeout read-only
 * poll() of one descriptor QUIET(CTX, fd) vouches for answers "nothing
 * yet". upstream.c brackets curl acting on its sockets with these. */
void zeropoll_enter(zeropoll_quiet_fn quiet, void *ctx);
void zeropoll_leave(void);
/* The CTX entered on this thread, or NULL outside. */
void *zeropoll_context(void);
#endif
