#ifndef FG_BUDGET_H
#define FG_BUDGET_H
#endif
