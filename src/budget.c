/* budget.c: placeholder until the budget lands. */
#include "budget.h"
