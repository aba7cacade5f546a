/* stats.c: placeholder until its owner lands it. */
#include "fleetgate.h"
