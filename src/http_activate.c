/* http_activate.c: listening sockets handed over by the service manager.
 *
 * With fleetgate.socket active, systemd binds the listeners and passes
 * them at start (LISTEN_PID, LISTEN_FDS, descriptors 3 and up: the
 * sd_listen_fds(3) protocol, which any supervisor can speak). The sockets
 * stay open in systemd while fleetgate restarts, so a connection made
 * between the old process and the new one waits in the kernel's backlog
 * instead of being refused (docs/operations.md, "Restarts that refuse no
 * connection"). Each configured listener takes the inherited socket bound
 * to its address (http_listen.c asks); the rest bind as before.
 *
 * Never: bind, unlink a socket file (systemd owns it) or accept. */
#include "fg_autoconf.h"
#include "http_activate.h"
#include "log.h"
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#define ACTIVATE_FIRST_FD 3   /* SD_LISTEN_FDS_START */
#define ACTIVATE_MAX 256

struct inherited {
	int fd;   /* -1 once claimed or closed */
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

static struct inherited inh[ACTIVATE_MAX];
static int ninh;

/* Without libsystemd, the same protocol read by hand: the variables are
 * for this process only (LISTEN_PID), and unset so no child takes them. */
static int activate_listen_fds(void)
{
#ifdef HAVE_LIBSYSTEMD
	return sd_listen_fds(1);
#else
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	int n = 0;
	if (pid && fds) {
		char *end;
		errno = 0;
		long p = strtol(pid, &end, 10);
		bool ours = errno == 0 && *end == '\0' && p == (long)getpid();
		long v = strtol(fds, &end, 10);
		if (ours && errno == 0 && *end == '\0' && v > 0 && v <= ACTIVATE_MAX)
			n = (int)v;
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	for (int i = 0; i < n; i++) {
		int fl = fcntl(ACTIVATE_FIRST_FD + i, F_GETFD);
		if (fl < 0 || fcntl(ACTIVATE_FIRST_FD + i, F_SETFD, fl | FD_CLOEXEC) < 0)
			return -errno;
	}
	return n;
#endif
}

/* "127.0.0.1:8080", "[::1]:8080" or "unix:/path", for the log. */
static void activate_name(const struct sockaddr_storage *ss, socklen_t len, char *out, size_t outlen)
{
	if (ss->ss_family == AF_UNIX) {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)ss;
		size_t n = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
		if (n > 0 && sun->sun_path[0] == '\0')
			snprintf(out, outlen, "unix:@%.*s (abstract)", (int)(n - 1), sun->sun_path + 1);
		else
			snprintf(out, outlen, "unix:%.*s", (int)strnlen(sun->sun_path, n), sun->sun_path);
		return;
	}
	char host[NI_MAXHOST], port[NI_MAXSERV];
	if (getnameinfo((const struct sockaddr *)ss, len, host, sizeof host, port, sizeof port,
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(out, outlen, "(address family %d)", ss->ss_family);
		return;
	}
	snprintf(out, outlen, ss->ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

int http_activate_receive(void)
{
	int n = activate_listen_fds();
	if (n < 0) {
		log_error("socket activation: cannot take the inherited sockets: %s", strerror(-n));
		return 0;
	}
	for (int i = 0; i < n; i++) {
		int fd = ACTIVATE_FIRST_FD + i;
		int type = 0, acc = 0;
		socklen_t tl = sizeof type, al = sizeof acc;
		struct inherited s = { .fd = fd, .addrlen = sizeof s.addr };
		bool ok = ninh < ACTIVATE_MAX &&
			  getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM &&
			  getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) == 0 && acc &&
			  getsockname(fd, (struct sockaddr *)&s.addr, &s.addrlen) == 0 &&
			  (s.addr.ss_family == AF_INET || s.addr.ss_family == AF_INET6 || s.addr.ss_family == AF_UNIX);
		if (!ok) {
			log_warn("socket activation: inherited descriptor %d is not a listening TCP or unix stream "
				 "socket; closed", fd);
			close(fd);
			continue;
		}
		inh[ninh++] = s;
	}
	if (n > 0)
		log_info("socket activation: %d listening sockets inherited", ninh);
	return ninh;
}

static bool activate_same_inet(const struct sockaddr *x, const struct sockaddr_storage *y)
{
	if (x->sa_family != y->ss_family)
		return false;
	if (x->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)x, *b = (const void *)y;
		return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *a = (const void *)x, *b = (const void *)y;
	return a->sin6_port == b->sin6_port && memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0 &&
	       a->sin6_scope_id == b->sin6_scope_id;
}

/* Which inherited socket is bound where A would bind: any address A's
 * host resolves to (as http_listen.c resolves it, empty = any), A's port;
 * or A's unix path. */
static int activate_find(const struct fg_addr *a)
{
	if (a->is_unix) {
		for (int i = 0; i < ninh; i++) {
			const struct sockaddr_un *sun = (const struct sockaddr_un *)&inh[i].addr;
			size_t max = inh[i].addrlen > offsetof(struct sockaddr_un, sun_path)
				     ? inh[i].addrlen - offsetof(struct sockaddr_un, sun_path) : 0;
			if (inh[i].fd >= 0 && sun->sun_family == AF_UNIX && max > 0 && sun->sun_path[0] &&
			    strnlen(sun->sun_path, max) == strlen(a->path) && strncmp(sun->sun_path, a->path, max) == 0)
				return i;
		}
		return -1;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *res = NULL;
	char port[16];
	snprintf(port, sizeof port, "%d", a->port);
	if (getaddrinfo(a->host[0] ? a->host : NULL, port, &hints, &res) != 0)
		return -1;   /* binding it says why */
	int found = -1;
	for (struct addrinfo *r = res; r && found < 0; r = r->ai_next)
		for (int i = 0; i < ninh && found < 0; i++)
			if (inh[i].fd >= 0 && activate_same_inet(r->ai_addr, &inh[i].addr))
				found = i;
	freeaddrinfo(res);
	return found;
}

int http_activate_claim(const struct fg_addr *a)
{
	int i = activate_find(a);
	if (i < 0)
		return -1;
	int fd = inh[i].fd;
	inh[i].fd = -1;
	return fd;
}

void http_activate_close_unclaimed(void)
{
	for (int i = 0; i < ninh; i++) {
		if (inh[i].fd < 0)
			continue;
		char name[160];
		activate_name(&inh[i].addr, inh[i].addrlen, name, sizeof name);
		log_warn("socket activation: inherited socket %s matches no listener of the configuration; closed "
			 "(the service manager still holds it: remove it from fleetgate.socket)", name);
		close(inh[i].fd);
		inh[i].fd = -1;
	}
	ninh = 0;
}
