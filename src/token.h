#ifndef FG_TOKEN_H
#define FG_TOKEN_H
#endif
