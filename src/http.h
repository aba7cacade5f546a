#ifndef FG_HTTP_H
#define FG_HTTP_H
#endif
