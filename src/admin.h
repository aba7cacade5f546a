#ifndef FG_ADMIN_H
#define FG_ADMIN_H
#endif
