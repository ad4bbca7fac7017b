/*
 * test_bundle.c: zip bundles and the compress-once store.
 *
 * Archives are checked by outside readers, not by us: `unzip -t` and
 * Python's zipfile (names, CRCs, the UTF-8 flag, modes, dates, bytes).
 * Run from the repository root (or with ROOT set): the manifest case
 * reads tests/bundle/manifest/.  FAZHI_SLOW_TESTS=1 adds a bundle past
 * 4 GiB, which takes minutes and 4 GiB of disk.
 */
#define _GNU_SOURCE
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../generator/buf.h"
#include "../../generator/bundle.h"
#include "../../generator/util.h"

#define	MTIME	1700000000LL	/* 2023-11-14 22:13:20 UTC */

static int	 failed;
static char	*tmp;		/* scratch directory, removed at the end */

static void	 check(const char *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
check(const char *name, int ok, const char *fmt, ...)
{
	va_list	 ap;

	if (ok) {
		printf("PASS %s\n", name);
		return;
	}
	failed = 1;
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static char *
tpath(const char *name)
{
	return path_join(tmp, name);
}

static void
write_file(const char *path, const void *p, size_t n)
{
	FILE	*f;

	if ((f = fopen(path, "wb")) == NULL ||
	    (n > 0 && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
}

/*
 * The outside check.  argv: zip, mtime, list file, then options.  The
 * list file holds "offset length name" per line, locating each name's
 * bytes in list.bin; options "stored:<name>" / "deflated:<name>" require
 * that method.
 */
static const char check_py[] =
"import sys, time, zipfile, zlib\n"
"zp, mt, lst = sys.argv[1], int(sys.argv[2]), sys.argv[3]\n"
"blob = open(lst + '.bin', 'rb').read()\n"
"where = {}\n"
"for line in open(lst, encoding='utf-8').read().split('\\n')[:-1]:\n"
"    o, n, name = line.split(' ', 2)\n"
"    where[name] = blob[int(o):int(o) + int(n)]\n"
"names = list(where)\n"
"want = {}\n"
"for o in sys.argv[4:]:\n"
"    k, n = o.split(':', 1)\n"
"    want[n] = zipfile.ZIP_STORED if k == 'stored' else zipfile.ZIP_DEFLATED\n"
"g = time.gmtime(mt)\n"
"dt = (g.tm_year, g.tm_mon, g.tm_mday, g.tm_hour, g.tm_min, g.tm_sec // 2 * 2)\n"
"def fail(m):\n"
"    print(m); sys.exit(1)\n"
"z = zipfile.ZipFile(zp)\n"
"got = [i.filename for i in z.infolist()]\n"
"if got != sorted(names, key=lambda s: s.encode()):\n"
"    fail('names or order differ: %r' % got[:5])\n"
"for i in z.infolist():\n"
"    data = where[i.filename]\n"
"    if not i.flag_bits & 0x800: fail('no UTF-8 flag on ' + i.filename)\n"
"    if i.CRC != zlib.crc32(data): fail('CRC of ' + i.filename)\n"
"    if i.create_system != 3: fail('not made by Unix: ' + i.filename)\n"
"    if i.external_attr >> 16 != 0o100644: fail('mode %o' % (i.external_attr >> 16))\n"
"    if i.date_time != dt: fail('date %r, want %r' % (i.date_time, dt))\n"
"    if i.extra != b'': fail('extra field on ' + i.filename)\n"
"    if i.filename in want and i.compress_type != want[i.filename]:\n"
"        fail('method %d for %s' % (i.compress_type, i.filename))\n"
"    if z.read(i) != data: fail('bytes of ' + i.filename)\n"
"print('ok')\n";

/* Expected contents of a zip, written for check_py. */
struct expect {
	const char	*name;
	const void	*data;
	size_t		 len;
};

/*
 * Run check_py on zip; return 1 if it passes.  Its message, if any,
 * goes into why.
 */
static int
py_check(const char *zip, long long mtime, const struct expect *x, size_t n,
    const char *opts, struct buf *why)
{
	struct buf	 list = { 0 }, data = { 0 }, cmd = { 0 };
	char		*lst, *dat, *p, *out, line[512];
	size_t		 i;
	FILE		*f;
	int		 st;

	lst = tpath("list");
	dat = tpath("list.bin");
	for (i = 0; i < n; i++) {
		buf_printf(&list, "%zu %zu %s\n", data.len, x[i].len,
		    x[i].name);
		buf_put(&data, x[i].data, x[i].len);
	}
	write_file(lst, list.data, list.len);
	write_file(dat, data.data, data.len);
	p = tpath("check.py");
	write_file(p, check_py, sizeof(check_py) - 1);
	out = tpath("py.out");
	buf_printf(&cmd, "python3 '%s' '%s' %lld '%s' %s >'%s' 2>&1",
	    p, zip, mtime, lst, opts ? opts : "", out);
	st = system(buf_cstr(&cmd));
	buf_reset(why);
	if ((f = fopen(out, "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			buf_puts(why, line);
		fclose(f);
	}
	while (why->len > 0 && why->data[why->len - 1] == '\n')
		why->data[--why->len] = '\0';
	free(out);
	free(p);
	free(dat);
	free(lst);
	buf_free(&list);
	buf_free(&data);
	buf_free(&cmd);
	return st == 0;
}

static int
unzip_ok(const char *zip)
{
	char	*cmd;
	int	 st;

	cmd = xasprintf("unzip -tq '%s' >/dev/null 2>&1", zip);
	st = system(cmd);
	free(cmd);
	return st == 0;
}

/*
 * One check over a written zip: zip_write returned rc, `unzip -t`
 * accepts it, Python reads exactly x from it.  The steps run in order,
 * before the message is formatted.
 */
static void
check_zip(const char *test, int rc, const struct buf *err, const char *zip,
    const struct expect *x, size_t n, const char *opts)
{
	struct buf	 why = { 0 };

	if (rc != 0)
		check(test, 0, "zip_write: %s", buf_cstr(err));
	else if (!unzip_ok(zip))
		check(test, 0, "unzip -t rejects %s", zip);
	else if (!py_check(zip, MTIME, x, n, opts, &why))
		check(test, 0, "python zipfile: %s", buf_cstr(&why));
	else
		check(test, 1, "%s", "");
	buf_free(&why);
}

static int
same_file(const char *a, const char *b)
{
	char	*da, *db;
	size_t	 la, lb;
	int	 same;

	if (file_read(a, &da, &la) == -1)
		return 0;
	if (file_read(b, &db, &lb) == -1) {
		free(da);
		return 0;
	}
	same = la == lb && memcmp(da, db, la) == 0;
	free(da);
	free(db);
	return same;
}

/* Deterministic noise, for data deflate cannot shrink. */
static void
noise(unsigned char *p, size_t n, uint64_t seed)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		p[i] = (unsigned char)(seed >> 24);
	}
}

static const char csv[] =
    "类别,件数,占比\n行政复议,128,45.2%\n行政诉讼,97,34.3%\n"
    "行政赔偿,58,20.5%\n行政复议,128,45.2%\n行政诉讼,97,34.3%\n";
static const char html[] =
    "<!doctype html><title>市司法局2023年法治政府建设年度报告</title>"
    "<h1>一、主要举措</h1><p>坚持依法行政，坚持依法行政，坚持依法行政。</p>";

static void
test_chinese(void)
{
	struct zstore	*zs = zstore_new(NULL);
	struct buf	 err = { 0 };
	char		*zip = tpath("cn.zip");
	struct expect	 x[] = {
		{ "市司法局/2023年行政复议案件统计表.csv", csv, sizeof(csv) - 1 },
		{ "市司法局/2023年法治政府建设年度报告.html", html, sizeof(html) - 1 },
		{ "README.txt", "Fazhi\n", 6 },
		{ "市司法局/附件/说明.txt", csv, sizeof(csv) - 1 },
	};
	struct zip_entry e[4];
	size_t		 i;
	int		 rc;

	for (i = 0; i < 4; i++) {
		e[i].name = x[i].name;
		e[i].blob = zstore_add(zs, x[i].data, x[i].len);
	}
	rc = zip_write(zip, e, 4, MTIME, &err);
	check_zip("zip_chinese_names", rc, &err, zip, x, 4,
	    "'deflated:市司法局/2023年行政复议案件统计表.csv'");
	check("same_bytes_one_blob", e[0].blob == e[3].blob,
	    "two names with equal bytes got two blobs");
	buf_free(&err);
	free(zip);
	zstore_free(zs);
}

/*
 * Shared segments (zstore_add_shared): a piece deflated once and
 * spliced into each file's stream must inflate, in outside readers, to
 * exactly the file's bytes wherever the piece sits: at the start, in
 * the middle after more than one stored block's worth of bytes, at the
 * very end, before bytes deflate cannot shrink, or nowhere.
 */
static void
test_shared(void)
{
	struct zstore	*zs = zstore_new(NULL);
	struct zshared	*sh;
	struct buf	 css = { 0 }, f[6] = { { 0 } }, err = { 0 }, raw = { 0 };
	unsigned char	 rnd[5000];
	const struct zblob *b[6], *plain, *again;
	struct zip_entry e[6];
	struct expect	 x[6];
	char		*zip = tpath("shared.zip"), fp1[65], fp2[65];
	static const char *const names[6] = {
		"开头.html", "中间.html", "结尾.html", "杂讯.html", "没有.html",
		"只有.html"
	};
	size_t		 i;
	int		 rc, m;

	for (i = 0; i < 400; i++)
		buf_printf(&css, ".c%zu{color:#%06zx;margin:0 %zupx}\n", i,
		    i * 2654435761u % 0xffffff, i % 17);
	sh = zshared_new(css.data, css.len);
	check("shared_new", sh != NULL, "zshared_new failed");
	noise(rnd, sizeof(rnd), 7);
	/* 0: at the start; 1: after 70,000 bytes (two stored blocks). */
	buf_put(&f[0], css.data, css.len);
	buf_puts(&f[0], "<p>正文，法治政府建设。</p>\n");
	for (i = 0; i < 7000; i++)
		buf_puts(&f[1], "<p>前言</p>");
	buf_put(&f[1], css.data, css.len);
	buf_puts(&f[1], "</style><p>正文</p>\n");
	/* 2: at the very end; 3: noise after it; 4: not there; 5: alone. */
	buf_puts(&f[2], "<style>");
	buf_put(&f[2], css.data, css.len);
	buf_puts(&f[3], "<style>");
	buf_put(&f[3], css.data, css.len);
	buf_put(&f[3], rnd, sizeof(rnd));
	buf_put(&f[4], css.data, css.len / 2);
	buf_put(&f[5], css.data, css.len);
	for (i = 0; i < 6; i++) {
		b[i] = zstore_add_shared(zs, f[i].data, f[i].len, sh);
		e[i] = (struct zip_entry){ names[i], b[i] };
		x[i] = (struct expect){ names[i], f[i].data, f[i].len };
	}
	rc = zip_write(zip, e, 6, MTIME, &err);
	check_zip("shared_segment_inflates_to_the_bytes", rc, &err, zip, x, 6,
	    NULL);
	/* The segment is not compressed again: the file costs little more. */
	plain = zstore_add(zs, css.data, css.len);
	check("shared_segment_costs_what_it_did_once",
	    zblob_compressed_size(b[5]) <=
	    zblob_compressed_size(plain) * 11 / 10 + 16,
	    "%lld bytes, alone %lld", zblob_compressed_size(b[5]),
	    zblob_compressed_size(plain));
	check("shared_and_plain_are_different_blobs", plain != b[5],
	    "the same blob for two encodings");
	check("shared_absent_is_plain",
	    b[4] == zstore_add(zs, f[4].data, f[4].len),
	    "bytes without the segment were not compressed as usual");
	/* Compressed bytes read back (the build cache) give the same blob. */
	m = zblob_raw(b[1], &raw);
	again = zstore_add_raw(zs, raw.data, raw.len, m, f[1].len, sh);
	check("shared_raw_readback_same_blob", again == b[1],
	    "read back as another blob");
	again = zstore_add_raw(zs, raw.data, raw.len, m, f[1].len, NULL);
	check("shared_raw_without_segment_differs", again != b[1],
	    "the same blob without the segment");
	/* The fingerprint tells the deflated segments apart. */
	zshared_fingerprint(sh, fp1);
	zshared_free(sh);
	buf_putc(&css, 'x');
	sh = zshared_new(css.data, css.len);
	zshared_fingerprint(sh, fp2);
	check("shared_fingerprint_follows_bytes", strcmp(fp1, fp2) != 0,
	    "same fingerprint for other bytes");
	check("shared_empty_is_none", zshared_new("", 0) == NULL,
	    "a segment of no bytes");

	zshared_free(sh);
	for (i = 0; i < 6; i++)
		buf_free(&f[i]);
	buf_free(&css);
	buf_free(&err);
	buf_free(&raw);
	free(zip);
	zstore_free(zs);
}

static void
test_reproducible(void)
{
	struct zstore	*zs1 = zstore_new(NULL), *zs2 = zstore_new(NULL);
	struct zip_entry e1[3], e2[3];
	struct buf	 err = { 0 };
	char		*a = tpath("r1.zip"), *b = tpath("r2.zip");
	char		*old = getenv("TZ") ? xstrdup(getenv("TZ")) : NULL;
	int		 rc;

	e1[0] = (struct zip_entry){ "b/报告.html", zstore_add(zs1, html, sizeof(html) - 1) };
	e1[1] = (struct zip_entry){ "a.csv", zstore_add(zs1, csv, sizeof(csv) - 1) };
	e1[2] = (struct zip_entry){ "b/空.txt", zstore_add(zs1, "", 0) };
	/* Another store, another order, another time zone: same bytes. */
	e2[0] = (struct zip_entry){ "b/空.txt", zstore_add(zs2, "", 0) };
	e2[1] = (struct zip_entry){ "a.csv", zstore_add(zs2, csv, sizeof(csv) - 1) };
	e2[2] = (struct zip_entry){ "b/报告.html", zstore_add(zs2, html, sizeof(html) - 1) };
	rc = zip_write(a, e1, 3, MTIME, &err);
	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
	sleep(2);	/* a time-of-day dependency would show up now */
	rc |= zip_write(b, e2, 3, MTIME, &err);
	if (old != NULL)
		setenv("TZ", old, 1);
	else
		unsetenv("TZ");
	tzset();
	check("reproducible_bytes", rc == 0 && same_file(a, b),
	    "two writes differ (%s)", buf_cstr(&err));
	free(old);
	free(a);
	free(b);
	buf_free(&err);
	zstore_free(zs1);
	zstore_free(zs2);
}

static void
test_reject(void)
{
	static const struct {
		const char	*test;
		const char	*a, *b;	/* two names; b may be NULL */
		const char	*why;	/* in the message */
	} bad[] = {
		{ "reject_dotdot", "../x", NULL, "\"..\"" },
		{ "reject_inner_dotdot", "a/../../x", NULL, "\"..\"" },
		{ "reject_absolute", "/abs", NULL, "absolute" },
		{ "reject_backslash", "a\\b", NULL, "backslash" },
		{ "reject_empty_component", "a//b", NULL, "empty path component" },
		{ "reject_trailing_slash", "a/", NULL, "empty path component" },
		{ "reject_dot", "./x", NULL, "\".\"" },
		{ "reject_empty_name", "", NULL, "empty name" },
		{ "reject_control", "a\nb", NULL, "control character" },
		{ "reject_bad_utf8", "\xff\xfe.txt", NULL, "UTF-8" },
		{ "reject_duplicate", "市司法局/报告.csv", "市司法局/报告.csv",
		    "twice" },
		{ "reject_file_and_dir", "a", "a/b.txt", "directory of" },
	};
	struct zstore	*zs = zstore_new(NULL);
	const struct zblob *blob = zstore_add(zs, csv, sizeof(csv) - 1);
	struct zip_entry e[3];
	struct buf	 err = { 0 };
	char		*zip = tpath("bad.zip"), *data;
	size_t		 i, n, len;
	int		 rc, kept;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* A file already there must be left alone. */
		write_file(zip, "old", 3);
		n = 0;
		e[n++] = (struct zip_entry){ "ok/fine.txt", blob };
		e[n++] = (struct zip_entry){ bad[i].a, blob };
		if (bad[i].b != NULL)
			e[n++] = (struct zip_entry){ bad[i].b, blob };
		buf_reset(&err);
		rc = zip_write(zip, e, n, MTIME, &err);
		kept = file_read(zip, &data, &len) == 0 && len == 3 &&
		    memcmp(data, "old", 3) == 0;
		if (kept)
			free(data);
		check(bad[i].test, rc == -1 && kept &&
		    strstr(buf_cstr(&err), bad[i].why) != NULL,
		    "rc %d, err \"%s\", file %s", rc, buf_cstr(&err),
		    kept ? "kept" : "touched");
	}
	/* "a-b" sorts between "a" and "a/..": still no false conflict. */
	unlink(zip);
	e[0] = (struct zip_entry){ "a-b", blob };
	e[1] = (struct zip_entry){ "a/b", blob };
	e[2] = (struct zip_entry){ "ab", blob };
	buf_reset(&err);
	rc = zip_write(zip, e, 3, MTIME, &err);
	check("accept_near_names", rc == 0 && unzip_ok(zip), "%s",
	    buf_cstr(&err));
	free(zip);
	buf_free(&err);
	zstore_free(zs);
}

static void
test_edges(void)
{
	struct zstore	*zs = zstore_new(NULL);
	struct buf	 err = { 0 }, name = { 0 };
	char		*zip = tpath("edge.zip"), *bad = tpath("no/such/dir/x.zip");
	char		*data, zeros[18] = { 0 };
	struct zip_entry e[2];
	struct expect	 x[1];
	size_t		 len;
	int		 rc, empty;

	rc = zip_write(zip, NULL, 0, MTIME, &err);
	/* unzip -t warns on an empty archive: compare with the one end record. */
	empty = rc == 0 && file_read(zip, &data, &len) == 0;
	if (empty) {
		empty = len == 22 && memcmp(data, "PK\5\6", 4) == 0 &&
		    memcmp(data + 4, zeros, 18) == 0;
		free(data);
	}
	check("zip_no_entries", empty && py_check(zip, MTIME, NULL, 0, NULL,
	    &name), "rc %d, not the 22-byte empty zip (%s)", rc,
	    buf_cstr(&err));
	buf_reset(&name);

	/* Past minizip's 256-byte limit for names it reads back. */
	while (name.len < 600)
		buf_puts(&name, "法治政府建设年度报告");
	buf_puts(&name, ".csv");
	x[0] = (struct expect){ name.data, csv, sizeof(csv) - 1 };
	e[0] = (struct zip_entry){ name.data, zstore_add(zs, csv,
	    sizeof(csv) - 1) };
	rc = zip_write(zip, e, 1, MTIME, &err);
	check_zip("zip_long_name", rc, &err, zip, x, 1, NULL);

	buf_reset(&err);
	rc = zip_write(bad, e, 1, MTIME, &err);
	check("zip_bad_directory", rc == -1 &&
	    strstr(buf_cstr(&err), "no/such/dir/x.zip") != NULL,
	    "rc %d, err \"%s\"", rc, buf_cstr(&err));

	buf_reset(&err);
	e[1] = (struct zip_entry){ "无内容.txt", NULL };
	rc = zip_write(zip, e, 2, MTIME, &err);
	check("zip_null_blob", rc == -1 && err.len > 0, "rc %d", rc);

	buf_reset(&err);
	e[1] = (struct zip_entry){ NULL, e[0].blob };
	rc = zip_write(zip, e, 2, MTIME, &err);
	check("zip_null_name", rc == -1 && err.len > 0, "rc %d", rc);
	free(zip);
	free(bad);
	buf_free(&err);
	buf_free(&name);
	zstore_free(zs);
}

struct adder {
	struct zstore		*zs;
	const struct zblob	*got[200];
	long long		 csize[200];	/* seen on return */
};

static void *
adder_run(void *arg)
{
	struct adder	*a = arg;
	char		 text[256];
	size_t		 i;
	int		 n;

	for (i = 0; i < 200; i++) {
		n = snprintf(text, sizeof(text),
		    "第%zu号报告：依法行政，依法行政，依法行政，依法行政。\n", i);
		a->got[i] = zstore_add(a->zs, text, (size_t)n);
		/* Must be final already, even if another thread made it. */
		a->csize[i] = zblob_compressed_size(a->got[i]);
	}
	return NULL;
}

static void
test_compress_once(void)
{
	struct zstore	*zs = zstore_new(NULL);
	struct zstore_stats st;
	struct adder	 a[4];
	pthread_t	 t[4];
	char		*copy;
	const struct zblob *b1, *b2;
	size_t		 i, j;
	int		 same = 1;

	copy = xstrdup(csv);	/* equal bytes at another address */
	b1 = zstore_add(zs, csv, sizeof(csv) - 1);
	b2 = zstore_add(zs, copy, sizeof(csv) - 1);
	zstore_stats(zs, &st);
	check("compress_once_same_blob", b1 == b2, "two blobs for equal bytes");
	check("compress_once_counter", st.compressions == 1 && st.adds == 2 &&
	    st.blobs == 1, "compressions %lld adds %lld blobs %lld",
	    st.compressions, st.adds, st.blobs);
	check("blob_size", zblob_size(b1) == (long long)sizeof(csv) - 1 &&
	    zblob_compressed_size(b1) < zblob_size(b1),
	    "size %lld compressed %lld", zblob_size(b1),
	    zblob_compressed_size(b1));
	free(copy);
	zstore_free(zs);

	/* Four threads add the same 200 texts at once. */
	zs = zstore_new(NULL);
	for (i = 0; i < 4; i++) {
		a[i].zs = zs;
		pthread_create(&t[i], NULL, adder_run, &a[i]);
	}
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (i = 1; i < 4; i++)
		for (j = 0; j < 200; j++)
			same &= a[i].got[j] == a[0].got[j];
	for (i = 0; i < 4; i++)
		for (j = 0; j < 200; j++)
			same &= a[i].csize[j] > 0 &&
			    a[i].csize[j] == zblob_compressed_size(a[i].got[j]);
	zstore_stats(zs, &st);
	check("compress_once_threads", same && st.compressions == 200 &&
	    st.blobs == 200 && st.adds == 800,
	    "same %d compressions %lld blobs %lld adds %lld", same,
	    st.compressions, st.blobs, st.adds);
	zstore_free(zs);
}

static void
test_stored_and_empty(void)
{
	struct zstore	*zs = zstore_new(NULL);
	struct zstore_stats st;
	struct buf	 err = { 0 };
	unsigned char	*rnd;
	char		*zip = tpath("stored.zip");
	struct zip_entry e[3];
	struct expect	 x[3];
	int		 rc;

	rnd = xmalloc(65536);
	noise(rnd, 65536, 88172645463325252ULL);
	x[0] = (struct expect){ "附件/随机.bin", rnd, 65536 };
	x[1] = (struct expect){ "附件/空文件.txt", "", 0 };
	x[2] = (struct expect){ "报告.csv", csv, sizeof(csv) - 1 };
	for (int i = 0; i < 3; i++)
		e[i] = (struct zip_entry){ x[i].name,
		    zstore_add(zs, x[i].data, x[i].len) };
	zstore_stats(zs, &st);
	check("stored_incompressible", zblob_compressed_size(e[0].blob) ==
	    65536 && st.stored == 2, "compressed %lld, stored %lld",
	    zblob_compressed_size(e[0].blob), st.stored);
	check("empty_blob", zblob_size(e[1].blob) == 0 &&
	    zblob_compressed_size(e[1].blob) == 0, "size %lld/%lld",
	    zblob_size(e[1].blob), zblob_compressed_size(e[1].blob));
	rc = zip_write(zip, e, 3, MTIME, &err);
	check_zip("zip_stored_and_empty", rc, &err, zip, x, 3,
	    "'stored:附件/随机.bin' 'stored:附件/空文件.txt' "
	    "'deflated:报告.csv'");
	free(rnd);
	free(zip);
	buf_free(&err);
	zstore_free(zs);
}

/*
 * Many blobs: their bytes fill many chunks of the store's arena (64 KB
 * each), a blob over 32 KB takes a chunk of its own, and one over the
 * size a compressor keeps its buffer at (4 MB) a one-off buffer.  Every
 * entry must read back exactly, from two zips written in turn.
 */
static void
test_many_blobs(void)
{
	enum { N = 400 };
	struct zstore	*zs = zstore_new(NULL);
	struct buf	 err = { 0 }, text[N + 2];
	struct zip_entry e[N + 2];
	struct expect	 x[N + 2];
	char		*zip1 = tpath("arena1.zip"), *zip2 = tpath("arena2.zip");
	char		 name[N + 2][48];
	unsigned char	*rnd;
	size_t		 i, k;
	int		 rc;

	for (i = 0; i < N; i++) {
		memset(&text[i], 0, sizeof(text[i]));
		/* 1 to 40 KB of lines that differ, so none dedupe. */
		for (k = 0; k < 20 + (i * 37) % 800; k++)
			buf_printf(&text[i], "第%zu份报告，第%zu行：行政复议%zu件。\n",
			    i, k, (i * 131 + k * 7) % 1000);
	}
	/* 200 KB of noise: stored, over the arena's limit. */
	rnd = xmalloc(200 * 1024);
	noise(rnd, 200 * 1024, 2463534242ULL);
	memset(&text[N], 0, sizeof(text[N]));
	buf_put(&text[N], rnd, 200 * 1024);
	/* 6 MB of text: a one-off compressor buffer. */
	memset(&text[N + 1], 0, sizeof(text[N + 1]));
	for (k = 0; text[N + 1].len < 6 * 1024 * 1024; k++)
		buf_printf(&text[N + 1], "%zu：依法行政，建设法治政府。\n",
		    (size_t)(k * 2654435761ULL % 1000003));
	for (i = 0; i < N + 2; i++) {
		snprintf(name[i], sizeof(name[i]), "报告/%03zu.txt", i);
		x[i] = (struct expect){ name[i], text[i].data, text[i].len };
		e[i] = (struct zip_entry){ name[i],
		    zstore_add(zs, text[i].data, text[i].len) };
	}
	rc = zip_write(zip1, e, N + 2, MTIME, &err);
	check_zip("many_blobs_arena", rc, &err, zip1, x, N + 2,
	    "'stored:报告/400.txt' 'deflated:报告/401.txt'");
	/* Again: the same blobs, and the compressors' buffers reused. */
	for (i = k = 0; i < N + 2; i++)
		if (zstore_add(zs, text[i].data, text[i].len) != e[i].blob)
			k++;
	check("many_blobs_same_blob", k == 0, "%zu blobs made twice", k);
	rc = zip_write(zip2, e, N + 2, MTIME, &err);
	check("many_blobs_reproducible", rc == 0 && same_file(zip1, zip2),
	    "%s", buf_cstr(&err));
	for (i = 0; i < N + 2; i++)
		buf_free(&text[i]);
	free(rnd);
	free(zip1);
	free(zip2);
	buf_free(&err);
	zstore_free(zs);
}

/* Number of entries in dir other than . and .. */
static int
count_dir(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void
test_spill(void)
{
	struct zstore	*zs;
	struct zstore_stats st;
	struct buf	 big = { 0 }, err = { 0 };
	char		*dir = tpath("spill"), *zip = tpath("spill.zip");
	unsigned char	 rnd[5000];
	struct zip_entry e[4];
	struct expect	 x[4];
	size_t		 i, small;
	int		 rc;

	mkdir_p(dir);
	for (i = 0; i < 3000; i++)
		buf_printf(&big, "%zu,行政复议,%zu\n", i, i * 7 % 13);
	noise(rnd, sizeof(rnd), 42);
	x[0] = (struct expect){ "大表.csv", big.data, big.len };
	x[1] = (struct expect){ "随机.bin", rnd, sizeof(rnd) };
	x[2] = (struct expect){ "小/说明.txt", html, sizeof(html) - 1 };
	x[3] = (struct expect){ "小/表.csv", csv, sizeof(csv) - 1 };

	/* Blobs past the threshold spill. */
	zs = zstore_new(dir);
	zstore_tune(zs, 6, 1000, (size_t)1 << 30);
	for (i = 0; i < 4; i++)
		e[i] = (struct zip_entry){ x[i].name,
		    zstore_add(zs, x[i].data, x[i].len) };
	zstore_stats(zs, &st);
	small = (size_t)zblob_compressed_size(e[2].blob);
	check("spill_threshold", st.spilled == 2, "spilled %lld of 4 (sizes "
	    "%lld %lld %lld %lld, threshold 1000)", st.spilled,
	    zblob_compressed_size(e[0].blob), zblob_compressed_size(e[1].blob),
	    zblob_compressed_size(e[2].blob), zblob_compressed_size(e[3].blob));
	check("spill_leaves_no_file", count_dir(dir) == 0,
	    "%d files in the spill directory", count_dir(dir));
	rc = zip_write(zip, e, 4, MTIME, &err);
	check_zip("spill_zip", rc, &err, zip, x, 4, "'stored:随机.bin'");
	zstore_free(zs);

	/* Past the memory cap, everything spills, however small. */
	zs = zstore_new(dir);
	zstore_tune(zs, 6, (size_t)1 << 30, small);
	for (i = 0; i < 4; i++)
		e[(i + 2) % 4] = (struct zip_entry){ x[(i + 2) % 4].name,
		    zstore_add(zs, x[(i + 2) % 4].data, x[(i + 2) % 4].len) };
	zstore_stats(zs, &st);
	buf_reset(&err);
	rc = zip_write(zip, e, 4, MTIME, &err);
	check("spill_memory_cap", st.spilled == 3, "spilled %lld of 4 (cap "
	    "%zu)", st.spilled, small);
	check_zip("spill_memory_cap_zip", rc, &err, zip, x, 4, NULL);
	zstore_free(zs);

	/* A spill directory that cannot be used: memory still works. */
	free(dir);
	dir = tpath("no/such/dir");
	zs = zstore_new(dir);
	zstore_tune(zs, 6, 10, 10);
	for (i = 0; i < 4; i++)
		e[i] = (struct zip_entry){ x[i].name,
		    zstore_add(zs, x[i].data, x[i].len) };
	zstore_stats(zs, &st);
	buf_reset(&err);
	rc = zip_write(zip, e, 4, MTIME, &err);
	check("spill_fallback_memory", st.spilled == 0, "spilled %lld",
	    st.spilled);
	check_zip("spill_fallback_memory_zip", rc, &err, zip, x, 4, NULL);
	zstore_free(zs);
	free(dir);
	free(zip);
	buf_free(&big);
	buf_free(&err);
}

static void
test_many_entries(void)
{
	enum { N = 70000 };
	struct zstore	*zs = zstore_new(NULL);
	struct zip_entry *e;
	struct expect	*x;
	struct buf	 err = { 0 };
	char		**names, **texts, *zip = tpath("many.zip"), *data;
	unsigned char	 tail[98];
	size_t		 i, len;
	int		 rc, z64;

	e = xcalloc(N, sizeof(*e));
	x = xcalloc(N, sizeof(*x));
	names = xcalloc(N, sizeof(*names));
	texts = xcalloc(N, sizeof(*texts));
	for (i = 0; i < N; i++) {
		/* Reverse order on purpose: the writer sorts. */
		names[i] = xasprintf("部门%02zu/%05zu.txt", (N - i) % 37, N - i);
		texts[i] = xasprintf("第%zu号\n", i % 1000);
		x[i] = (struct expect){ names[i], texts[i], strlen(texts[i]) };
		e[i] = (struct zip_entry){ names[i],
		    zstore_add(zs, texts[i], strlen(texts[i])) };
	}
	rc = zip_write(zip, e, N, MTIME, &err);
	z64 = 0;
	if (rc == 0 && file_read(zip, &data, &len) == 0) {
		/* zip64 end record, locator, end record: 56 + 20 + 22. */
		if (len > sizeof(tail)) {
			memcpy(tail, data + len - 98, 98);
			z64 = memcmp(tail, "PK\6\6", 4) == 0 &&
			    memcmp(tail + 56, "PK\6\7", 4) == 0 &&
			    memcmp(tail + 76, "PK\5\6", 4) == 0;
		}
		free(data);
	}
	check("zip64_end_records_70000", rc == 0 && z64, "%s",
	    rc ? buf_cstr(&err) : "no zip64 end records");
	check_zip("zip_70000_entries", rc, &err, zip, x, N, NULL);
	for (i = 0; i < N; i++) {
		free(names[i]);
		free(texts[i]);
	}
	free(names);
	free(texts);
	free(e);
	free(x);
	free(zip);
	buf_free(&err);
	zstore_free(zs);
}

static char *
fixture(const char *rel)
{
	const char	*root = getenv("ROOT");

	return path_join(root != NULL && *root ? root : ".", rel);
}

static void
test_manifest(void)
{
	static const char *const names[] = {
		"空文件.txt",
		"市司法局/2023年行政复议案件统计表.csv",
		"README.txt",
		"市司法局/2023年报告.md",
	};
	struct zstore	*zs = zstore_new(NULL);
	struct zip_entry e[4];
	struct buf	 m = { 0 };
	char		*dir, *p, *rel, *data[4] = { 0 }, *header = NULL, *want = NULL;
	size_t		 len, i;
	int		 ok = 1;

	dir = fixture("tests/bundle/manifest");
	for (i = 0; i < 4; i++) {
		rel = xasprintf("files/%s", names[i]);
		p = path_join(dir, rel);
		if (file_read(p, &data[i], &len) == -1) {
			check("manifest_fixture", 0, "%s: %s", p,
			    strerror(errno));
			ok = 0;
		} else
			e[i] = (struct zip_entry){ names[i],
			    zstore_add(zs, data[i], len) };
		free(p);
		free(rel);
	}
	p = path_join(dir, "header.txt");
	ok &= file_read(p, &header, &len) == 0;
	free(p);
	p = path_join(dir, "expected.txt");
	ok &= file_read(p, &want, &len) == 0;
	free(p);
	if (ok) {
		zip_manifest(&m, header, e, 4);
		check("manifest_text", strcmp(buf_cstr(&m), want) == 0,
		    "got:\n%s\nwant:\n%s", buf_cstr(&m), want);
		/* A header without a final newline gets one. */
		buf_reset(&m);
		zip_manifest(&m, "标题", e, 1);
		check("manifest_header_newline",
		    strncmp(buf_cstr(&m), "标题\ne3b0c442",
		    strlen("标题\ne3b0c442")) == 0,
		    "got %s", buf_cstr(&m));
	} else
		check("manifest_fixture", 0, "cannot read %s (run from the "
		    "repository root or set ROOT)", dir);
	for (i = 0; i < 4; i++)
		free(data[i]);
	free(header);
	free(want);
	free(dir);
	buf_free(&m);
	zstore_free(zs);
}

/*
 * Past 4 GiB: 65 copies of a 64 MiB stored blob, read from the spill
 * file, then a small entry whose local header starts past 4 GiB.
 */
static void
test_past_4gib(void)
{
	enum { BIG = 64 * 1024 * 1024, COPIES = 65 };
	struct zstore	*zs = zstore_new(tmp);
	struct zip_entry e[COPIES + 1];
	struct buf	 err = { 0 }, cmd = { 0 };
	unsigned char	*rnd;
	char		*names[COPIES], *zip = tpath("big.zip"), *p;
	size_t		 i;
	int		 rc;

	rnd = xmalloc(BIG);
	noise(rnd, BIG, 7);
	for (i = 0; i < COPIES; i++) {
		names[i] = xasprintf("大/%02zu.bin", i);
		e[i] = (struct zip_entry){ names[i], zstore_add(zs, rnd, BIG) };
	}
	e[COPIES] = (struct zip_entry){ "结尾.csv",
	    zstore_add(zs, csv, sizeof(csv) - 1) };
	rc = zip_write(zip, e, COPIES + 1, MTIME, &err);
	check("past_4gib_write", rc == 0, "%s", buf_cstr(&err));
	p = tpath("big.bin");
	write_file(p, rnd, BIG);
	free(p);
	p = tpath("bigcsv");
	write_file(p, csv, sizeof(csv) - 1);
	free(p);
	buf_printf(&cmd, "python3 -c 'import sys, zipfile\n"
	    "z = zipfile.ZipFile(sys.argv[1])\n"
	    "i = z.infolist()\n"
	    "assert len(i) == %d, len(i)\n"
	    "assert i[-1].header_offset > 1 << 32, i[-1].header_offset\n"
	    "assert z.read(i[-1]) == open(sys.argv[3], \"rb\").read()\n"
	    "assert z.read(i[-2]) == open(sys.argv[2], \"rb\").read()\n"
	    "' '%s' '%s/big.bin' '%s/bigcsv'", COPIES + 1, zip, tmp, tmp);
	check("past_4gib_python", system(buf_cstr(&cmd)) == 0,
	    "python could not read the entry past 4 GiB");
	check("past_4gib_unzip_t", unzip_ok(zip), "unzip -t failed");
	unlink(zip);
	for (i = 0; i < COPIES; i++)
		free(names[i]);
	free(rnd);
	free(zip);
	buf_free(&err);
	buf_free(&cmd);
	zstore_free(zs);
}

/*
 * A sizes-only store (dry runs): nothing compressed and no bytes kept;
 * each blob sized as a stored entry, so zip sizes are upper bounds and
 * manifests (SHA-256 and size) the same as a full store's; no bytes to
 * read, and a zip from it is refused without leaving a file.
 */
static void
test_sizes_only(void)
{
	struct zstore	*full = zstore_new(NULL), *dry = zstore_new(NULL);
	struct zip_entry a[3], b[3];
	struct buf	 ma = { 0 }, mb = { 0 }, raw = { 0 }, err = { 0 };
	struct zstore_stats st;
	unsigned char	 rnd[3000];
	char		*zip = tpath("sizes-only.zip");
	struct stat	 sb;
	int		 i, stored = 1;

	zstore_sizes_only(dry);
	noise(rnd, sizeof(rnd), 11);
	for (i = 0; i < 3; i++) {
		const void *d = i == 0 ? (const void *)csv : i == 1 ?
		    (const void *)html : (const void *)rnd;
		size_t	 n = i == 0 ? sizeof(csv) - 1 : i == 1 ?
		    sizeof(html) - 1 : sizeof(rnd);

		a[i].name = b[i].name = i == 0 ? "统计表.csv" : i == 1 ?
		    "报告.html" : "杂讯.bin";
		a[i].blob = zstore_add(full, d, n);
		b[i].blob = zstore_add(dry, d, n);
		stored &= zblob_size(b[i].blob) == (long long)n &&
		    zblob_compressed_size(b[i].blob) == (long long)n;
	}
	check("sizes_only_stored_sizes", stored &&
	    zip_size(b, 3) > zip_size(a, 3), "zip %lld, deflated %lld",
	    zip_size(b, 3), zip_size(a, 3));
	zip_manifest(&ma, "标题", a, 3);
	zip_manifest(&mb, "标题", b, 3);
	check("sizes_only_same_manifest", ma.len == mb.len &&
	    memcmp(ma.data, mb.data, ma.len) == 0, "manifests differ");
	zstore_stats(dry, &st);
	check("sizes_only_compresses_nothing", st.compressions == 0 &&
	    st.blobs == 3, "%lld compressions", st.compressions);
	errno = 0;
	check("sizes_only_no_bytes", zblob_raw(b[1].blob, &raw) == -1 &&
	    errno == ENODATA && raw.len == 0, "zblob_raw gave %zu bytes",
	    raw.len);
	check("sizes_only_no_zip", zip_write(zip, b, 3, MTIME, &err) == -1 &&
	    strstr(buf_cstr(&err), "sizes only") != NULL &&
	    stat(zip, &sb) == -1, "zip_write: %s", buf_cstr(&err));
	buf_free(&ma);
	buf_free(&mb);
	buf_free(&raw);
	buf_free(&err);
	free(zip);
	zstore_free(full);
	zstore_free(dry);
}

int
main(void)
{
	char	 templ[] = "/tmp/test_bundle.XXXXXX";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((tmp = mkdtemp(templ)) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_chinese();
	test_shared();
	test_reproducible();
	test_reject();
	test_edges();
	test_compress_once();
	test_stored_and_empty();
	test_many_blobs();
	test_spill();
	test_manifest();
	test_sizes_only();
	test_many_entries();
	if (getenv("FAZHI_SLOW_TESTS") != NULL)
		test_past_4gib();
	else
		printf("SKIP past_4gib: set FAZHI_SLOW_TESTS=1 (minutes, "
		    "4 GiB of disk)\n");
	rm_rf(tmp);
	return failed;
}
