#include "fleetgate.h"
int main(void) { return 0; }
