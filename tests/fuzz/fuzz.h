/* fuzz.h: what every libFuzzer target shares: a private scratch folder for
 * parsers that read files, and an assertion that fails loudly.
 *
 * The folder is made once per process ($FG_FUZZ_TMPDIR, else /dev/shm when
 * writable, else $TMPDIR) and removed at exit; each input is written over
 * the same few file names, so an iteration costs a write and a read of
 * memory, not a new file on disk. Targets never
 * print: libFuzzer's own report (and the crash input it saves) is the
 * output. */
#ifndef FG_FUZZ_H
#define FG_FUZZ_H
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An invariant broke: say which, then abort so libFuzzer keeps the input. */
#define FUZZ_ASSERT(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz: %s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
	abort(); } } while (0)

static char fuzz_dir_path[256];

static inline void fuzz_dir_cleanup(void)
{
	char cmd[300];
	if (fuzz_dir_path[0] && snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir_path) < (int)sizeof cmd)
		(void)!system(cmd);
}

/* The scratch folder, made on first use. */
static inline const char *fuzz_dir(void)
{
	if (!fuzz_dir_path[0]) {
		/* tmpfs when there is one: on a disk file system the writes,
		 * not the parsers, would set the pace. */
		const char *t = getenv("FG_FUZZ_TMPDIR");
		if (!t || !*t)
			t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
		snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/fg-fuzz.XXXXXX", t && *t ? t : "/tmp");
		if (!mkdtemp(fuzz_dir_path))
			abort();
		/* Absolute, so every path the loaders report starts with '/'
		 * (the targets assert it) even when the variable is relative. */
		char *abs = realpath(fuzz_dir_path, NULL);
		if (!abs || strlen(abs) >= sizeof fuzz_dir_path)
			abort();
		strcpy(fuzz_dir_path, abs);
		free(abs);
		atexit(fuzz_dir_cleanup);
	}
	return fuzz_dir_path;
}

/* Writes DATA to NAME in the scratch folder; returns its path (static). */
static inline const char *fuzz_write(const char *name, const uint8_t *data, size_t len)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, data + off, len - off);
		if (n <= 0)
			abort();
		off += (size_t)n;
	}
	close(fd);
	return path;
}

/* A NUL-terminated copy of DATA (caller frees). */
static inline char *fuzz_strndup(const uint8_t *data, size_t len)
{
	char *s = malloc(len + 1);
	if (!s)
		abort();
	memcpy(s, data, len);
	s[len] = 0;
	return s;
}

static inline int fuzz_is_vin(const char *v)
{
	if (strlen(v) != 17)
		return 0;
	for (int i = 0; i < 17; i++)
		if (!((v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9')))
			return 0;
	return 1;
}
#endif
