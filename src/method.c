/* method.c: the HTTP method table (see method.h). Pure, no allocation. */
#include "method.h"
#include <event2/http.h>

static const char *const method_names[] = {
#define X(id, name, cmd) [FG_##id] = name,
	FG_METHODS(X)
#undef X
	[FG_OTHER] = "OTHER",
};

const char *method_name(enum fg_method m)
{
	return (m >= 0 && m <= FG_OTHER) ? method_names[m] : "OTHER";
}

enum fg_method method_from_evhttp(int cmd)
{
#define X(id, name, c) if (cmd == (int)(c)) return FG_##id;
	FG_METHODS(X)
#undef X
	return FG_OTHER;
}
