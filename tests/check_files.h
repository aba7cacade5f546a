/* check_files.h: the temporary folder the tenant and policy suites write
 * their tenant files into, one fresh folder per test. */
#ifndef FG_CHECK_FILES_H
#define FG_CHECK_FILES_H
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conf_errors.h"

static char tmpdir[64];
static struct fg_errors errs;

static void setup(void)
{
	strcpy(tmpdir, "/tmp/fgcheck.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	memset(&errs, 0, sizeof(errs));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	conf_errors_free(&errs);
}

/* Writes NAME in the temp folder; returns its path (static buffer rotates). */
static const char *put(const char *name, const char *text)
{
	static char paths[4][256];
	static int k;
	char *p = paths[k++ % 4];
	snprintf(p, 256, "%s/%s", tmpdir, name);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return p;
}

#endif
