#ifndef FG_LOG_H
#define FG_LOG_H
#endif
