/* up_zeropoll.h: curl's zero-timeout polls of sockets the event loop already
 * watches, answered without the kernel (see up_zeropoll.c). */
#ifndef FG_UP_ZEROPOLL_H
#define FG_UP_ZEROPOLL_H
#include <stdbool.h>

/* True when FD is known to have nothing to read yet. */
typedef bool (*zeropoll_quiet_fn)(void *ctx, int fd);

/* From here until up_zeropoll_leave, on this thread, a zero-timeout read-only
 * poll() of one descriptor QUIET(CTX, fd) vouches for answers "nothing
 * yet". up_multi.c brackets curl acting on its sockets with these. */
void up_zeropoll_enter(zeropoll_quiet_fn quiet, void *ctx);
void up_zeropoll_leave(void);
/* The CTX entered on this thread, or NULL outside. */
void *up_zeropoll_context(void);
#endif
