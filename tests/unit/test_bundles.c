/*
 * test_bundles.c: zip_size() predicts zip_write() to the byte, which
 * the pages rely on to show a bundle's size before it is written.
 * Cases: no entry, one entry, stored and deflated blobs, empty files,
 * long and Chinese names, spilled blobs, and the entry counts around
 * zip64's 65535 (where the zip64 end records start).
 */
#define _GNU_SOURCE
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "bundle.h"
#include "check.h"
#include "util.h"

static char	*tmp;

/* Write the entries, and compare the file's size with zip_size(). */
static void
same_size(const char *name, const struct zip_entry *e, size_t n)
{
	struct buf err = { 0 };
	struct stat st;
	char	*path = xasprintf("%s/%s.zip", tmp, name);
	long long want = zip_size(e, n);
	int	 rc;

	rc = zip_write(path, e, n, 1700000000LL, &err);
	if (rc == 0 && stat(path, &st) == 0 && st.st_size == want)
		printf("PASS %s\n", name);
	else {
		printf("FAIL %s: zip_size %lld, file %lld%s%s\n", name, want,
		    rc == 0 && stat(path, &st) == 0 ? (long long)st.st_size :
		    -1LL, rc ? ": " : "", buf_cstr(&err));
		check_failed = 1;
	}
	unlink(path);
	free(path);
	buf_free(&err);
}

static void
many(struct zstore *zs, size_t n)
{
	struct zip_entry *e = xcalloc(n, sizeof(*e));
	char	 name[64];
	size_t	 i;

	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "d%zu/%zu.txt", i % 97, i);
		e[i].name = xstrdup(name);
		/* A few distinct contents, shared like pages share CSS. */
		e[i].blob = zstore_add(zs, name, strlen(name) % 7 + 1);
	}
	snprintf(name, sizeof(name), "zip_size_%zu_entries", n);
	same_size(name, e, n);
	for (i = 0; i < n; i++)
		free((char *)e[i].name);
	free(e);
}

/* Read a whole file into b. */
static void
slurp(const char *path, struct buf *b)
{
	char	*data;
	size_t	 len;

	buf_reset(b);
	if (file_read(path, &data, &len) == 0) {
		buf_put(b, data, len);
		free(data);
	}
}

/*
 * A blob carried from one store to the next in its zip form gives the
 * same zip as adding its bytes, is never compressed again, and bad
 * bytes are refused.
 */
static void
raw_blobs(const struct buf *big, const struct buf *noise)
{
	struct zstore *a = zstore_new(NULL), *b = zstore_new(NULL);
	struct zstore *spill = zstore_new(tmp), *c = zstore_new(NULL);
	struct zstore_stats st;
	struct zip_entry ea[2], eb[2];
	struct buf raw = { 0 }, raw2 = { 0 }, err = { 0 }, za = { 0 }, zb = { 0 };
	char	 fa[65], fb[65], fc[65], *pa, *pb;
	int	 m, m2, ok;

	zstore_fingerprint(a, fa);
	zstore_fingerprint(b, fb);
	zstore_tune(c, 9, 1 << 20, 1 << 30);
	zstore_fingerprint(c, fc);
	CHECK("fingerprint_same_level_same", strcmp(fa, fb) == 0);
	CHECK("fingerprint_other_level_differs", strcmp(fa, fc) != 0);

	ea[0] = (struct zip_entry){ "报告.md", zstore_add(a, big->data, big->len) };
	ea[1] = (struct zip_entry){ "noise.bin", zstore_add(a, noise->data, noise->len) };
	m = zblob_raw(ea[0].blob, &raw);
	m2 = zblob_raw(ea[1].blob, &raw2);
	CHECK("raw_methods", m == 8 && m2 == 0 &&
	    raw.len == (size_t)zblob_compressed_size(ea[0].blob) &&
	    raw2.len == noise->len);
	eb[0] = (struct zip_entry){ "报告.md",
	    zstore_add_raw(b, raw.data, raw.len, m, big->len, NULL) };
	eb[1] = (struct zip_entry){ "noise.bin",
	    zstore_add_raw(b, raw2.data, raw2.len, m2, noise->len, NULL) };
	pa = xasprintf("%s/a.zip", tmp);
	pb = xasprintf("%s/b.zip", tmp);
	ok = eb[0].blob != NULL && eb[1].blob != NULL &&
	    zip_write(pa, ea, 2, 1700000000LL, &err) == 0 &&
	    zip_write(pb, eb, 2, 1700000000LL, &err) == 0;
	slurp(pa, &za);
	slurp(pb, &zb);
	CHECK("raw_blob_gives_the_same_zip", ok && za.len > 0 &&
	    za.len == zb.len && memcmp(za.data, zb.data, za.len) == 0);
	zstore_stats(b, &st);
	CHECK("raw_blob_not_compressed_again", st.compressions == 0 &&
	    st.raw == 2);
	CHECK("raw_blob_same_bytes_same_blob",
	    zstore_add(b, big->data, big->len) == eb[0].blob);

	CHECK("raw_refuses_wrong_size",
	    zstore_add_raw(c, raw.data, raw.len, 8, big->len - 1, NULL) == NULL &&
	    zstore_add_raw(c, raw.data, raw.len, 8, big->len + 1, NULL) == NULL &&
	    zstore_add_raw(c, raw2.data, raw2.len, 0, noise->len + 1, NULL) == NULL);
	/* Damaged bytes are refused, or at least never pass for the original. */
	raw.data[raw.len / 2] ^= 0x55;
	raw.data[raw.len / 3] ^= 0x55;
	{
		const struct zblob *d = zstore_add_raw(c, raw.data, raw.len, 8,
		    big->len, NULL);
		char	 h1[65], h2[65];

		zblob_sha256_hex(ea[0].blob, h1);
		if (d != NULL)
			zblob_sha256_hex(d, h2);
		CHECK("raw_damaged_deflate_is_not_the_original",
		    d == NULL || strcmp(h1, h2) != 0);
	}
	CHECK("raw_refuses_unknown_method",
	    zstore_add_raw(c, raw2.data, raw2.len, 12, noise->len, NULL) == NULL);

	/* Spilled blobs are read back from the spill file. */
	zstore_tune(spill, 6, 16, 1 << 20);
	buf_reset(&raw);
	m = zblob_raw(zstore_add(spill, big->data, big->len), &raw);
	CHECK("raw_from_spill_file", m == 8 &&
	    zstore_add_raw(c, raw.data, raw.len, m, big->len, NULL) != NULL);

	unlink(pa);
	unlink(pb);
	free(pa);
	free(pb);
	buf_free(&raw);
	buf_free(&raw2);
	buf_free(&err);
	buf_free(&za);
	buf_free(&zb);
	zstore_free(a);
	zstore_free(b);
	zstore_free(c);
	zstore_free(spill);
}

/*
 * Past 4 GiB: entries whose local headers start beyond it need zip64
 * extra fields in both headers, and the archive the zip64 end records.
 * 65 names for one 64 MiB incompressible blob, then a small entry.
 */
static void
past_4gib(void)
{
	enum { BIG = 64 * 1024 * 1024, COPIES = 65 };
	struct zstore *zs = zstore_new(tmp);
	struct zip_entry e[COPIES + 1];
	unsigned char *rnd = xmalloc(BIG);
	unsigned long long x = 0x2545f4914f6cdd1dULL;
	const struct zblob *b;
	size_t	 i;

	for (i = 0; i < BIG; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		rnd[i] = (unsigned char)(x >> 24);
	}
	b = zstore_add(zs, rnd, BIG);
	free(rnd);
	for (i = 0; i < COPIES; i++) {
		e[i].name = xasprintf("大/%02zu.bin", i);
		e[i].blob = b;
	}
	e[COPIES].name = xstrdup("结尾.csv");
	e[COPIES].blob = zstore_add(zs, "a,b\n1,2\n", 8);
	same_size("zip_size_past_4gib", e, COPIES + 1);
	for (i = 0; i <= COPIES; i++)
		free((char *)e[i].name);
	zstore_free(zs);
}

int
main(void)
{
	struct zstore *zs, *spill;
	struct zip_entry e[6];
	struct buf big = { 0 }, noise = { 0 }, longname = { 0 };
	unsigned long long x = 88172645463325252ULL;
	size_t	 i;

	tmp = xstrdup("/tmp/fazhi-test-bundles-XXXXXX");
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	zs = zstore_new(NULL);
	for (i = 0; i < 200000; i++)
		buf_puts(&big, "法治政府建设年度报告，");
	for (i = 0; i < 4096; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf_putc(&noise, (int)(x & 0xff));	/* deflate cannot shrink it */
	}
	for (i = 0; i < 300; i++)
		buf_puts(&longname, "很长的目录名/");
	buf_puts(&longname, "文件.txt");

	same_size("zip_size_no_entries", e, 0);
	e[0] = (struct zip_entry){ "a.txt", zstore_add(zs, "hello", 5) };
	same_size("zip_size_one_entry", e, 1);
	e[1] = (struct zip_entry){ "市司法局/2023/附件/2023年行政复议案件统计表.csv",
	    zstore_add(zs, noise.data, noise.len) };
	e[2] = (struct zip_entry){ "empty", zstore_add(zs, "", 0) };
	e[3] = (struct zip_entry){ "one", zstore_add(zs, "x", 1) };
	e[4] = (struct zip_entry){ "big/报告.md", zstore_add(zs, big.data, big.len) };
	e[5] = (struct zip_entry){ longname.data, zstore_add(zs, "长", 3) };
	same_size("zip_size_stored_deflated_empty_long_chinese", e, 6);
	/* The same entries in another order: the size cannot change. */
	{
		struct zip_entry r[6];

		for (i = 0; i < 6; i++)
			r[i] = e[5 - i];
		same_size("zip_size_any_order", r, 6);
	}

	spill = zstore_new(tmp);
	zstore_tune(spill, 6, 16, 1 << 20);
	e[0].blob = zstore_add(spill, big.data, big.len);
	e[1].blob = zstore_add(spill, noise.data, noise.len);
	same_size("zip_size_spilled_blobs", e, 2);

	raw_blobs(&big, &noise);

	many(zs, 65534);
	many(zs, 65535);
	many(zs, 65536);

	if (getenv("FAZHI_SLOW_TESTS") != NULL)
		past_4gib();
	else
		printf("SKIP zip_size_past_4gib: set FAZHI_SLOW_TESTS=1 "
		    "(a minute, 4 GiB of disk)\n");

	zstore_free(spill);
	zstore_free(zs);
	buf_free(&big);
	buf_free(&noise);
	buf_free(&longname);
	rmdir(tmp);
	free(tmp);
	return check_done();
}
