/* up_zeropoll.c: curl's zero-timeout polls answered by the event loop.
 *
 * libcurl 7.88 asks poll() about a pooled connection twice per transfer:
 * is it still alive before reuse (readable would mean closed or garbage),
 * and, right after sending the request, is the answer there yet. Both are
 * poll(fd, 1, 0) on a socket whose readability this thread's event loop
 * already watches (upstream_socket_fn keeps it watched while parked), and
 * each is a system call, which on a VM costs as much as the work around it.
 * So fleetgate defines poll() itself. While this thread is between
 * up_zeropoll_enter and up_zeropoll_leave (up_multi.c: curl acting on its
 * sockets), a zero-timeout, read-only poll of one connected socket that
 * the loop's events have not seen readable (up_multi.c vouches for it) is
 * answered "nothing yet" without asking the kernel. That answer is always safe:
 * the socket stays watched (level-triggered), so an answer that is
 * already there is read on the next loop turn; and a pooled connection
 * that died without our noticing yet fails on reuse, which curl retries on
 * a fresh connection. Every other poll in the process goes to the kernel
 * unchanged (ppoll, which is poll with a timespec). Measured in
 * docs/benchmarks.md: two system calls fewer per forwarded request.
 *
 * Never: answer a poll that waits, writes, or asks about several sockets. */
#define _GNU_SOURCE   /* ppoll */
#include "up_zeropoll.h"
#include <poll.h>
#include <stddef.h>
#include <time.h>

/* One thread-local pair: the code that entered, and how it vouches. */
static __thread void *zeropoll_ctx;
static __thread zeropoll_quiet_fn zeropoll_quiet;

void up_zeropoll_enter(zeropoll_quiet_fn quiet, void *ctx)
{
	zeropoll_quiet = quiet;
	zeropoll_ctx = ctx;
}

void up_zeropoll_leave(void) { zeropoll_ctx = NULL; }
void *up_zeropoll_context(void) { return zeropoll_ctx; }

/* glibc declares poll's array write-only (for _FORTIFY_SOURCE), so GCC
 * takes our read of the events the caller asked for as uninitialised. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (zeropoll_ctx && n == 1 && timeout == 0 && !(fds[0].events & POLLOUT) &&
	    zeropoll_quiet(zeropoll_ctx, fds[0].fd)) {
		fds[0].revents = 0;
		return 0;
	}
	struct timespec ts = { timeout / 1000, (long)(timeout % 1000) * 1000000L };
	return ppoll(fds, n, timeout < 0 ? NULL : &ts, NULL);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
