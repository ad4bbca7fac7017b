/*
 * fuzz_util.h: what the libFuzzer harnesses share.
 *
 * Some stages read their input from a directory (config_load reads
 * ROOT/site.yaml, tmpl_compile reads ROOT/themes/T/templates/).  A
 * harness gets one private directory per process, under /dev/shm when
 * it exists so that each run costs a memory copy rather than a disk
 * write, and rewrites the files there on every input.  The directory
 * is removed at exit.
 */
#ifndef FAZHI_FUZZ_UTIL_H
#define FAZHI_FUZZ_UTIL_H

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "util.h"

static char	 fz_root[256];

static inline void
fz_cleanup(void)
{
	if (fz_root[0] != '\0')
		rm_rf(fz_root);
}

/* The per-process directory, created on first use. */
static inline const char *
fz_dir(void)
{
	const char *base;

	if (fz_root[0] != '\0')
		return fz_root;
	base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(fz_root, sizeof(fz_root), "%s/fazhi-fuzz-XXXXXX", base);
	if (mkdtemp(fz_root) == NULL) {
		perror("mkdtemp");
		abort();
	}
	atexit(fz_cleanup);
	return fz_root;
}

/* Write data to fz_dir()/rel, making directories; abort on failure. */
static inline void
fz_write(const char *rel, const void *data, size_t len)
{
	char	*path = path_join(fz_dir(), rel), *slash;
	int	 fd;

	if ((slash = strrchr(path, '/')) != NULL) {
		*slash = '\0';
		mkdir_p(path);
		*slash = '/';
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1 || (len > 0 && write(fd, data, len) != (ssize_t)len)) {
		perror(path);
		abort();
	}
	close(fd);
	free(path);
}

/*
 * Format the collected diagnostics (that code runs on every error path
 * of the real program too) and drop them, so memory stays flat.
 */
static inline void
fz_diag_drain(void)
{
	free(diag_collected_text());
	diag_reset();
}

/* Stop with a message that libFuzzer records with the crashing input. */
#define FZ_ASSERT(cond, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz oracle: " __VA_ARGS__);		\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

#endif
