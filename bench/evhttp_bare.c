/* evhttp_bare.c: the ceiling of the HTTP layer fleetgate is built on.
 *
 * A bare libevent evhttp responder that answers every request with the same
 * JSON body from memory, with N threads accepting on one socket exactly as
 * fleetgate's workers do. bench/run measures fleetgate's cache hits against
 * it. Usage: evhttp_bare PORT THREADS BODYFILE */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char *bare_body;
static size_t bare_len;

static void bare_cb(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_reference(b, bare_body, bare_len, NULL, NULL);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void *bare_thread(void *arg)
{
	int fd = (int)(long)arg;
	/* The same event-base settings as fleetgate's workers, so this stays
	 * the ceiling of the HTTP layer and not a handicapped baseline. */
	struct event_config *ec = event_config_new();
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	struct event_base *base = event_base_new_with_config(ec);
	event_config_free(ec);
	struct evhttp *http = evhttp_new(base);
	evhttp_set_gencb(http, bare_cb, NULL);
	evhttp_accept_socket_with_handle(http, fd);
	event_base_dispatch(base);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: evhttp_bare PORT THREADS BODYFILE\n");
		return 1;
	}
	FILE *f = fopen(argv[3], "rb");
	if (!f)
		return 1;
	bare_body = malloc(1 << 20);
	bare_len = fread(bare_body, 1, 1 << 20, f);
	fclose(f);
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(fd, 1024) < 0) {
		perror("bind");
		return 2;
	}
	evutil_make_socket_nonblocking(fd);
	int n = atoi(argv[2]);
	pthread_t t[64];
	for (int i = 0; i < n && i < 64; i++)
		pthread_create(&t[i], NULL, bare_thread, (void *)(long)fcntl(fd, F_DUPFD_CLOEXEC, 0));
	printf("evhttp_bare listening on 127.0.0.1:%s\n", argv[1]);
	fflush(stdout);
	for (int i = 0; i < n && i < 64; i++)
		pthread_join(t[i], NULL);
	return 0;
}
