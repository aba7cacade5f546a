/* conf_listen.c: the rules that span a configuration's listeners, checked
 * when a file is loaded (-t, start-up and reload alike): each listener in
 * one place only, and the admin listener's protected mode.
 *
 * The admin listener's POST routes purge the cache and end upstream
 * pauses. Reachable off this host without admin_token_sha256, they would
 * be open to the network; as redis' protected mode does, that is refused
 * unless the operator says so with admin_open = yes (docs/configuration.md).
 *
 * Never: bind a socket (http_listen.c does). */
#define _GNU_SOURCE
#include "conf_listen.h"
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static bool conf_listen_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family != AF_INET6)
		return false;
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (IN6_IS_ADDR_LOOPBACK(a6))
		return true;
	return IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127;
}

bool conf_listen_is_local(const struct fg_addr *a)
{
	if (a->is_unix)
		return true;
	if (!a->host[0])
		return false;   /* every interface */
	/* As the listener resolves it (http_listen.c): every address it may
	 * bind must be loopback. */
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *res = NULL;
	if (getaddrinfo(a->host, "1", &hints, &res) != 0)
		return false;
	bool local = res != NULL;
	for (const struct addrinfo *ai = res; ai && local; ai = ai->ai_next)
		local = conf_listen_loopback(ai->ai_addr);
	freeaddrinfo(res);
	return local;
}

void conf_listen_check_admin(const char *file, const struct fg_addrlist *admin, bool guarded,
			     struct fg_errors *errs, int line)
{
	for (size_t i = 0; !guarded && i < admin->n; i++)
		if (!conf_listen_is_local(&admin->v[i]))
			conf_errors_add(errs, file, line,
					"admin_listen: %s is reachable from other hosts and admin_token_sha256 is not "
					"set, so anyone who reaches it could purge the cache and end upstream pauses; "
					"set admin_token_sha256, listen on loopback or a unix: socket, or set "
					"admin_open = yes to allow it", admin->v[i].spec);
}

/* Whether A and B are the same socket: "tls://H:P" and "H:P" are one
 * port, whichever speaks TLS. */
static bool conf_listen_same(const char *a, const char *b)
{
	if (strncmp(a, "tls://", 6) == 0)
		a += 6;
	if (strncmp(b, "tls://", 6) == 0)
		b += 6;
	return strcmp(a, b) == 0;
}

/* A listener belongs to one place only: the shared list, the admin list
 * or one tenant. */
void conf_listen_check(const char *file, const struct fg_addrlist *listen, const struct fg_addrlist *admin,
		       struct fg_tenant *const *tenants, size_t ntenants, struct fg_errors *errs, int aline)
{
	for (size_t i = 0; i < admin->n; i++)
		for (size_t j = 0; j < listen->n; j++)
			if (conf_listen_same(admin->v[i].spec, listen->v[j].spec))
				conf_errors_add(errs, file, aline, "admin_listen: %s is also in listen", admin->v[i].spec);
	for (size_t t = 0; t < ntenants; t++) {
		const struct fg_tenant *tn = tenants[t];
		for (size_t k = 0; k < tn->listen.n; k++) {
			const char *spec = tn->listen.v[k].spec;
			for (size_t j = 0; j < listen->n; j++)
				if (conf_listen_same(spec, listen->v[j].spec))
					conf_errors_add(errs, tn->file, 0,
						   "listen: %s is also a shared listener of %s", spec, file);
			for (size_t j = 0; j < admin->n; j++)
				if (conf_listen_same(spec, admin->v[j].spec))
					conf_errors_add(errs, tn->file, 0,
						   "listen: %s is also the admin listener of %s", spec, file);
		}
	}
}

static bool conf_listen_in(const struct fg_addrlist *l, const char *spec)
{
	for (size_t j = 0; j < l->n; j++)
		if (strcmp(l->v[j].spec, spec) == 0)
			return true;
	return false;
}

/* The webhook listener is the one port the internet reaches: it serves
 * deliveries only, so it shares its socket with nothing else. */
void conf_listen_check_webhook(const char *file, const struct fg_addrlist *webhook, const struct fg_addrlist *listen,
			       const struct fg_addrlist *admin, struct fg_tenant *const *tenants, size_t ntenants,
			       struct fg_errors *errs, int line)
{
	for (size_t i = 0; i < webhook->n; i++) {
		const char *spec = webhook->v[i].spec;
		if (conf_listen_in(listen, spec))
			conf_errors_add(errs, file, line, "[webhook] listen: %s is also in listen", spec);
		if (conf_listen_in(admin, spec))
			conf_errors_add(errs, file, line, "[webhook] listen: %s is also in admin_listen", spec);
		for (size_t t = 0; t < ntenants; t++)
			if (conf_listen_in(&tenants[t]->listen, spec))
				conf_errors_add(errs, file, line, "[webhook] listen: %s is also a listener of tenant %s",
					   spec, tenants[t]->name);
	}
}
