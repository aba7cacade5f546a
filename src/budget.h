/* budget.h: the upstream read budget and tenant rates (SPEC.md §7). */
#ifndef FG_BUDGET_H
#define FG_BUDGET_H
#endif
