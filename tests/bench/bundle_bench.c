/*
 * bundle_bench.c: what compress-once saves.
 *
 * N synthetic Chinese files of about 8 KiB go into 5 overlapping zips,
 * shaped like the site's bundles (whole site, a year, a category, a
 * department, a half), first with one store for all zips (each file
 * deflated once), then with a fresh store per zip (each file deflated
 * once per zip that holds it, as a naive writer would).  Both runs must
 * give byte-identical zips.  Also times adding the files from 2 threads.
 *
 * usage: bundle_bench [files]	(default 3000)
 * Not a test: it prints times and exits 1 only if something broke.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../generator/buf.h"
#include "../../generator/bundle.h"
#include "../../generator/util.h"

#define	NZIP	5

static const char *const words[] = {
	"依法行政", "法治政府建设", "行政复议", "行政诉讼", "规范性文件",
	"备案审查", "重大行政决策", "合法性审查", "行政执法", "公平竞争审查",
	"证明事项告知承诺制", "“放管服”改革", "营商环境", "普法宣传",
	"矛盾纠纷多元化解", "政务公开", "行政应诉", "法律顾问", "公职律师",
	"，", "，", "。", "；", "、",
};

/* Is file i in zip k?  Overlaps like the site's bundles do. */
static int
member(size_t i, int k)
{
	switch (k) {
	case 0: return 1;		/* whole site */
	case 1: return i % 3 == 0;	/* one year */
	case 2: return i % 4 < 2;	/* one category */
	case 3: return i % 7 < 3;	/* one department */
	default: return i % 2 == 0;	/* another half */
	}
}

/* About 8 KiB of plausible report text, different for every i. */
static void
make_file(struct buf *b, size_t i)
{
	unsigned long long s = 0x9e3779b97f4a7c15ULL * (i + 1);

	buf_reset(b);
	buf_printf(b, "---\ntitle: 第%zu号单位%zu年法治政府建设年度报告\n"
	    "department: 部门%zu\nyear: %zu\n---\n\n", i, 2018 + i % 6,
	    i % 50, 2018 + i % 6);
	while (b->len < 8192) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		if (s % 11 == 0)
			buf_printf(b, "%llu件", s % 1000);
		else
			buf_puts(b, words[s % (sizeof(words) / sizeof(words[0]))]);
		if (s % 97 == 0)
			buf_puts(b, "\n\n");
	}
}

struct half {
	struct zstore		*zs;
	struct buf		*files;
	const struct zblob	**blobs;
	size_t			 from, to;
};

static void *
add_range(void *arg)
{
	struct half	*h = arg;
	size_t		 i;

	for (i = h->from; i < h->to; i++)
		h->blobs[i] = zstore_add(h->zs, h->files[i].data,
		    h->files[i].len);
	return NULL;
}

/* Write zip k of run `run` from blobs; return -1 on failure. */
static int
write_zip(const char *dir, const char *run, int k, char **names,
    const struct zblob **blobs, size_t n)
{
	struct zip_entry *e;
	struct buf	 err = { 0 };
	char		*path;
	size_t		 i, m = 0;
	int		 rc;

	e = xcalloc(n, sizeof(*e));
	for (i = 0; i < n; i++)
		if (member(i, k))
			e[m++] = (struct zip_entry){ names[i], blobs[i] };
	path = xasprintf("%s/%s-%d.zip", dir, run, k);
	if ((rc = zip_write(path, e, m, 1700000000LL, &err)) == -1)
		fprintf(stderr, "bundle_bench: %s\n", buf_cstr(&err));
	free(path);
	free(e);
	buf_free(&err);
	return rc;
}

/* Are zip k of runs r1 and r2 the same bytes? */
static int
same(const char *dir, const char *r1, const char *r2, int k)
{
	char	*a, *b, *da = NULL, *db = NULL;
	size_t	 la = 0, lb = 0;
	int	 eq;

	a = xasprintf("%s/%s-%d.zip", dir, r1, k);
	b = xasprintf("%s/%s-%d.zip", dir, r2, k);
	eq = file_read(a, &da, &la) == 0 && file_read(b, &db, &lb) == 0 &&
	    la == lb && memcmp(da, db, la) == 0;
	free(da);
	free(db);
	free(a);
	free(b);
	return eq;
}

int
main(int argc, char *argv[])
{
	char		 templ[] = "/tmp/bundle_bench.XXXXXX", *dir, **names;
	struct buf	*files;
	const struct zblob **blobs;
	struct zstore	*zs;
	struct zstore_stats st;
	struct half	 h[2];
	pthread_t	 t[2];
	size_t		 n = 3000, i, entries = 0;
	long long	 bytes = 0, out = 0;
	double		 t0, once, added, naive, threaded;
	int		 k, bad = 0;

	if (argc > 1 && (n = strtoul(argv[1], NULL, 10)) == 0) {
		fprintf(stderr, "usage: bundle_bench [files]\n");
		return 1;
	}
	if ((dir = mkdtemp(templ)) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	files = xcalloc(n, sizeof(*files));
	names = xcalloc(n, sizeof(*names));
	blobs = xcalloc(n, sizeof(*blobs));
	for (i = 0; i < n; i++) {
		make_file(&files[i], i);
		bytes += (long long)files[i].len;
		names[i] = xasprintf("部门%02zu/%zu年/第%zu号报告.md",
		    i % 50, 2018 + i % 6, i);
		for (k = 0; k < NZIP; k++)
			entries += (size_t)member(i, k);
	}

	/* Compress once, write every zip from the same blobs. */
	t0 = now_seconds();
	zs = zstore_new(dir);
	for (i = 0; i < n; i++)
		blobs[i] = zstore_add(zs, files[i].data, files[i].len);
	added = now_seconds() - t0;
	for (k = 0; k < NZIP; k++)
		bad |= write_zip(dir, "once", k, names, blobs, n);
	zstore_stats(zs, &st);
	zstore_free(zs);
	once = now_seconds() - t0;
	out = st.bytes_out;

	/* Compress per zip: a fresh store for each. */
	t0 = now_seconds();
	for (k = 0; k < NZIP; k++) {
		zs = zstore_new(dir);
		for (i = 0; i < n; i++)
			if (member(i, k))
				blobs[i] = zstore_add(zs, files[i].data,
				    files[i].len);
		bad |= write_zip(dir, "naive", k, names, blobs, n);
		zstore_free(zs);
	}
	naive = now_seconds() - t0;

	/* Adding from two threads, as the build's workers do. */
	t0 = now_seconds();
	zs = zstore_new(dir);
	for (k = 0; k < 2; k++) {
		h[k] = (struct half){ zs, files, blobs, n * k / 2,
		    n * (k + 1) / 2 };
		pthread_create(&t[k], NULL, add_range, &h[k]);
	}
	for (k = 0; k < 2; k++)
		pthread_join(t[k], NULL);
	for (k = 0; k < NZIP; k++)
		bad |= write_zip(dir, "threads", k, names, blobs, n);
	zstore_free(zs);
	threaded = now_seconds() - t0;

	/* The three runs must agree byte for byte. */
	for (k = 0; k < NZIP; k++)
		if (!same(dir, "once", "naive", k) ||
		    !same(dir, "once", "threads", k))
			bad = 1;

	printf("bundle_bench: %zu files, %.1f MiB -> %.1f MiB deflated, "
	    "%d zips, %zu entries\n", n, bytes / 1048576.0, out / 1048576.0,
	    NZIP, entries);
	printf("  compress once          %7.3f s  (adding %.3f s, writing "
	    "%.3f s)\n", once, added, once - added);
	printf("  compress per zip       %7.3f s  (%.2fx slower)\n", naive,
	    naive / once);
	printf("  compress once, 2 threads %5.3f s\n", threaded);
	printf("  zips identical: %s\n", bad ? "NO" : "yes");
	rm_rf(dir);
	for (i = 0; i < n; i++) {
		buf_free(&files[i]);
		free(names[i]);
	}
	free(files);
	free(names);
	free(blobs);
	return bad;
}
