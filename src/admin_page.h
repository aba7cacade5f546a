/* status.h: the status page, GET / on the admin listener (docs/operations.md). */
#ifndef FG_STATUS_H
#define FG_STATUS_H
#include <stddef.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

/* src/status.html as built into the binary (generated src/status_page.c). */
extern const unsigned char status_html[];
extern const size_t status_html_len;

/* Answers REQ with the page, its figures filled from SNAP, the /stats
 * document admin.c builds (consumed). */
void status_page(struct evhttp_request *req, json_t *snap);

/* Fills TPL's {{...}} marks from SNAP (a /stats document) into OUT.
 * Returns 0, or -1 when out of memory. Every value is HTML-escaped. */
int status_render(const char *tpl, size_t len, json_t *snap, struct evbuffer *out);
#endif
