/* check_main.h: how every Check suite runs and reports, written once. */
#ifndef FG_CHECK_MAIN_H
#define FG_CHECK_MAIN_H
#include <check.h>
#include <stdlib.h>

/* Runs S (and frees it); EXIT_FAILURE when any test failed. */
static inline int check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
#endif
