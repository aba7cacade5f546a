#ifndef FG_STATS_H
#define FG_STATS_H
#endif
