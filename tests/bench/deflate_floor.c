/*
 * deflate_floor: the compression floor of the Fazhi benchmark.
 *
 * usage: deflate_floor DIR [LEVEL ...]	(default levels: 1 4 6)
 *
 * Reads every regular file under DIR into memory (skipping "bundles/"
 * and names that start with a dot, such as the build cache), then, for
 * each level, deflates each file on its own with libdeflate, the way
 * Fazhi's bundle store does, one after the other on one thread.  Only
 * the compression is timed.  Run on a pages-only build of the corpus,
 * this is the least CPU any bundle writer using DEFLATE at that level
 * spends on the whole-site zip alone; the report zips' Markdown sources
 * and standalone pages come on top.  Prints one line a level, which
 * tests/bench/run.sh reads:
 *
 *   deflate_floor level=L files=N bytes=B out=O s=S
 *
 * Exits non-zero if a file cannot be read.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libdeflate.h>

struct file {
	unsigned char	*data;
	size_t		 len;
};

static struct file	*files;
static size_t		 nfiles, capfiles;

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n == 0 ? 1 : n)) == NULL) {
		perror("deflate_floor");
		exit(2);
	}
	return p;
}

static int
readfile(const char *path)
{
	FILE	*f;
	struct stat st;
	struct file *fl;

	if ((f = fopen(path, "rb")) == NULL || fstat(fileno(f), &st) == -1) {
		fprintf(stderr, "deflate_floor: %s: %s\n", path,
		    strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	if (nfiles == capfiles) {
		capfiles = capfiles ? capfiles * 2 : 1024;
		files = xrealloc(files, capfiles * sizeof(*files));
	}
	fl = &files[nfiles];
	fl->len = (size_t)st.st_size;
	fl->data = xrealloc(NULL, fl->len);
	if (fread(fl->data, 1, fl->len, f) != fl->len) {
		fprintf(stderr, "deflate_floor: %s: short read\n", path);
		fclose(f);
		free(fl->data);
		return -1;
	}
	fclose(f);
	nfiles++;
	return 0;
}

static int
walk(const char *dir, int top)
{
	DIR	*d;
	struct dirent *e;
	struct stat st;
	char	*p;
	int	 rc = 0;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "deflate_floor: %s: %s\n", dir,
		    strerror(errno));
		return -1;
	}
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' ||
		    (top && strcmp(e->d_name, "bundles") == 0))
			continue;
		p = xrealloc(NULL, strlen(dir) + strlen(e->d_name) + 2);
		sprintf(p, "%s/%s", dir, e->d_name);
		if (lstat(p, &st) == -1)
			rc = -1;
		else if (S_ISDIR(st.st_mode))
			rc = walk(p, 0);
		else if (S_ISREG(st.st_mode))
			rc = readfile(p);
		free(p);
	}
	closedir(d);
	return rc;
}

int
main(int argc, char *argv[])
{
	static const int defaults[] = { 1, 4, 6 };
	struct libdeflate_compressor *c;
	struct timespec t0, t1;
	unsigned char *out = NULL;
	size_t	 cap = 0, i, bytes = 0, o;
	int	 a, level, nlevels;

	if (argc < 2) {
		fprintf(stderr, "usage: deflate_floor DIR [LEVEL ...]\n");
		return 2;
	}
	if (walk(argv[1], 1) == -1)
		return 1;
	for (i = 0; i < nfiles; i++) {
		bytes += files[i].len;
		if (files[i].len + 1024 > cap)
			cap = files[i].len + 1024;
	}
	out = xrealloc(NULL, cap * 2);
	nlevels = argc > 2 ? argc - 2 : 3;
	for (a = 0; a < nlevels; a++) {
		level = argc > 2 ? atoi(argv[a + 2]) : defaults[a];
		if ((c = libdeflate_alloc_compressor(level)) == NULL) {
			fprintf(stderr, "deflate_floor: bad level %d\n", level);
			return 2;
		}
		o = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (i = 0; i < nfiles; i++)
			o += libdeflate_deflate_compress(c, files[i].data,
			    files[i].len, out, cap * 2);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		libdeflate_free_compressor(c);
		printf("deflate_floor level=%d files=%zu bytes=%zu out=%zu "
		    "s=%.3f\n", level, nfiles, bytes, o,
		    (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	}
	for (i = 0; i < nfiles; i++)
		free(files[i].data);
	free(files);
	free(out);
	return 0;
}
