#ifndef FG_UPSTREAM_H
#define FG_UPSTREAM_H
#endif
