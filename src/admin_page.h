/* admin_page.h: the status page, GET / on the admin listener (docs/operations.md). */
#ifndef FG_ADMIN_PAGE_H
#define FG_ADMIN_PAGE_H
#include <stddef.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

/* src/admin_page.html as built into the binary (generated src/admin_page_html.c). */
extern const unsigned char admin_page_html[];
extern const size_t admin_page_html_len;

/* Answers REQ with the page, its figures filled from SNAP, the /stats
 * document admin.c builds (consumed). */
void admin_page_serve(struct evhttp_request *req, json_t *snap);

/* Fills TPL's {{...}} marks from SNAP (a /stats document) into OUT.
 * Returns 0, or -1 when out of memory. Every value is HTML-escaped. */
int admin_page_render(const char *tpl, size_t len, json_t *snap, struct evbuffer *out);
#endif
