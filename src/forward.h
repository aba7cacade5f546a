#ifndef FG_FORWARD_H
#define FG_FORWARD_H
#endif
