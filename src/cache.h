#ifndef FG_CACHE_H
#define FG_CACHE_H
#endif
