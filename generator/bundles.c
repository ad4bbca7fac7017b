/*
 * bundles.c: which files go into which zip bundle, and when.
 *
 * Every file is added to one zstore (bundle.h) once, by the worker
 * that renders its report, so each is deflated once however many
 * bundles hold it; the zips are then only copies of compressed bytes.
 * A report's slot (its blobs, its bundle's size) is written by its own
 * worker only and read by everyone after pool_run() has returned.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lua.h>

#include "buf.h"
#include "bundle.h"
#include "bundles.h"
#include "config.h"
#include "content.h"
#include "diag.h"
#include "links.h"
#include "output.h"
#include "pool.h"
#include "template.h"
#include "util.h"

/* Bump when the standalone page's post-processing changes. */
#define	S_STANDALONE_VERSION	"fazhi standalone 1"

/* One report: written by its worker only. */
struct S_rep {
	char		*dir;		/* "<department key>/<year>" in group zips */
	struct zip_entry *e;		/* its files; names relative to dir */
	size_t		 n;
	char		*url;		/* bundles/report/<slug>.zip, encoded */
	char		*out;		/* the same, as a file name */
	long long	 size;		/* bytes of its zip; -1 until known */
	long long	 mtime;		/* date of its zip, Unix seconds */
	unsigned char	 skey[32];	/* cache key of the standalone page */
};

/* A department, year, category or the whole site. */
struct S_zip {
	enum bundle_kind kind;
	const struct group *g;		/* NULL for the site */
	char		*url;
	char		*out;
	char		*name;		/* file name, for the download */
	struct zip_entry *e;		/* names owned */
	size_t		 n;
	long long	 size;		/* -1 when there is no bundle */
	long long	 mtime;
};

struct bundles {
	const struct site *site;
	const struct config *cfg;
	const char	*root;
	struct out	*out;
	struct links	*links;
	int		 dry;		/* nothing is written */
	int		 standalone;	/* the theme has standalone.html */
	char		*css;		/* the theme's CSS, inlined */
	char		 css_hex[65];	/* its SHA-256 */
	struct zshared	*css_z;		/* css, deflated once for every page */
	char		 zfp[65];	/* zstore_fingerprint(), and css_z's */
	long long	 epoch;		/* SOURCE_DATE_EPOCH, or -1 */
	char		*base_path;	/* the base_url's path: "/" or "/fzzf/" */
	struct zstore	*zs;
	struct S_rep	*rep;		/* per report */
	struct S_zip	*zips;		/* departments, years, categories */
	size_t		 nzips;
	struct S_zip	 whole;		/* the whole site */
	struct zip_entry *offline;	/* its pages given by bundles_site_page() */
	size_t		 noffline;
	struct strset	 offline_names;	/* their names, for the site's walk */
	size_t		 count;		/* zips written */
	int		 failed;
};

/* ---- dates ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static long long
S_days(long long y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/*
 * A report's zip date: its date at midnight, written as UTC so that the
 * DOS date in the zip reads as the date itself; without a date, the
 * last day of its year.
 */
static long long
S_report_mtime(const struct bundles *bd, const struct report *r)
{
	int	 y, m, d;

	if (bd->epoch >= 0)
		return bd->epoch;
	if (r->date != NULL && sscanf(r->date, "%4d-%2d-%2d", &y, &m, &d) == 3)
		return S_days(y, m, d) * 86400;
	return S_days(r->year, 12, 31) * 86400;
}

static long long
S_epoch(void)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	char	*end;
	long long v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0) {
		diag_warn(NULL, 0, 0, "SOURCE_DATE_EPOCH=\"%s\" is not a number "
		    "of seconds; bundles use the reports' dates", s);
		return -1;
	}
	return v;
}

/* ---- names ---- */

/*
 * A file name from a report title: characters that Windows or a shell
 * would trip on become '_', leading and trailing dots and spaces go,
 * and long titles are cut at a character boundary.
 */
static char *
S_title_name(const char *title, const char *fallback, const char *ext)
{
	struct buf b = { 0 };
	const char *s = title, *e = title + strlen(title);
	unsigned char c;
	uint32_t cp;
	size_t	 n;

	while (s < e && (*s == ' ' || *s == '.'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '.'))
		e--;
	while (s < e && b.len < 180) {
		c = (unsigned char)*s;
		n = utf8_decode(s, (size_t)(e - s), &cp);
		if (n == 0 || c < 0x20 || c == 0x7f ||
		    strchr("/\\:*?\"<>|", c) != NULL) {
			buf_putc(&b, '_');
			s += n ? n : 1;
			continue;
		}
		buf_put(&b, s, n);
		s += n;
	}
	if (b.len == 0)
		buf_puts(&b, fallback);
	buf_puts(&b, ext);
	return buf_detach(&b);
}


/* ---- start and end ---- */

/* Append the file dir/name to b, if it can be read. */
static void
S_css_file(struct buf *b, const char *dir, const char *name)
{
	char	*p = path_join(dir, name), *data;
	size_t	 len;

	if (file_read(p, &data, &len) == 0) {
		buf_put(b, data, len);
		buf_putc(b, '\n');
		free(data);
	}
	free(p);
}

/* site.css first: the other sheets (modes.css) override its values. */
static void
S_css(struct bundles *bd, const char *theme)
{
	struct buf b = { 0 };
	struct dirent **names;
	const char *nm;
	char	*dir;
	size_t	 l;
	int	 n, i;

	dir = xasprintf("%s/themes/%s/static", bd->root, theme);
	S_css_file(&b, dir, "site.css");
	if ((n = scandir(dir, &names, NULL, alphasort)) >= 0) {
		for (i = 0; i < n; i++) {
			nm = names[i]->d_name;
			l = strlen(nm);
			if (l > 4 && nm[0] != '.' && !strcmp(nm + l - 4, ".css") &&
			    strcmp(nm, "site.css") != 0)
				S_css_file(&b, dir, nm);
			free(names[i]);
		}
		free(names);
	}
	free(dir);
	sha256_hex(b.data ? b.data : "", b.len, bd->css_hex);
	bd->css = buf_detach(&b);
}

static void
S_zip_init(struct S_zip *z, enum bundle_kind kind, const struct group *g)
{
	static const char *const dirs[] = {
		"report", "department", "year", "category", NULL
	};
	char	*dir;

	memset(z, 0, sizeof(*z));
	z->kind = kind;
	z->g = g;
	z->size = -1;
	if (g != NULL) {
		dir = xasprintf("bundles/%s", dirs[kind]);
		z->url = site_url(dir, g->key, ".zip");
		free(dir);
		z->out = xasprintf("bundles/%s/%s.zip", dirs[kind], g->key);
		z->name = xasprintf("%s.zip", g->key);
	} else {
		z->url = site_url("bundles", BUNDLE_SITE_NAME, "");
		z->out = xasprintf("bundles/%s", BUNDLE_SITE_NAME);
		z->name = xstrdup(BUNDLE_SITE_NAME);
	}
}

struct bundles *
bundles_new(const struct site *s, const struct config *cfg, const char *root,
    const struct tmpl_set *tmpl, struct out *out, struct links *links)
{
	struct bundles *bd = xcalloc(1, sizeof(*bd));
	const char *p;
	size_t	 i, k;

	bd->site = s;
	bd->cfg = cfg;
	bd->root = root;
	bd->out = out;
	bd->links = links;
	bd->dry = out_dry(out);
	bd->standalone = tmpl_exists(tmpl, "standalone.html");
	if (!bd->standalone)
		diag_warn(NULL, 0, 0, "theme \"%s\" has no templates/"
		    "standalone.html: bundles hold no offline page",
		    cfg->theme);
	bd->epoch = S_epoch();
	S_css(bd, cfg->theme);
	p = strstr(cfg->base_url, "://");
	p = p ? strchr(p + 3, '/') : NULL;
	bd->base_path = xstrdup(p ? p : "/");
	/*
	 * Spill big blobs beside the output, never into memory without
	 * bound.  A dry run writes no zip: it compresses nothing and keeps
	 * no bytes (a million reports' would be 12 GB).
	 */
	bd->zs = zstore_new(bd->dry ? NULL : out_staging(out));
	if (bd->dry)
		zstore_sizes_only(bd->zs);
	zstore_fingerprint(bd->zs, bd->zfp);
	if (bd->standalone && !bd->dry) {
		/*
		 * Every standalone page inlines the same CSS, often more
		 * than half its bytes: deflate it once and splice it in.
		 */
		char	 fp[65], both[130];

		bd->css_z = zshared_new(bd->css, strlen(bd->css));
		zshared_fingerprint(bd->css_z, fp);
		memcpy(both, bd->zfp, 64);
		memcpy(both + 64, fp, 64);
		sha256_hex(both, 128, bd->zfp);
	}
	bd->rep = xcalloc(s->n + 1, sizeof(*bd->rep));
	for (i = 0; i < s->n; i++) {
		const struct report *r = &s->reports[i];

		bd->rep[i].dir = xasprintf("%s/%d", s->depts[r->dept].key,
		    r->year);
		bd->rep[i].url = site_url("bundles/report", r->slug, ".zip");
		bd->rep[i].out = xasprintf("bundles/report/%s.zip", r->slug);
		bd->rep[i].size = -1;
		bd->rep[i].mtime = S_report_mtime(bd, r);
	}
	bd->nzips = s->ndepts + s->nyears + s->ncats;
	bd->zips = xcalloc(bd->nzips + 1, sizeof(*bd->zips));
	k = 0;
	for (i = 0; i < s->ndepts; i++)
		S_zip_init(&bd->zips[k++], BUNDLE_DEPARTMENT, &s->depts[i]);
	for (i = 0; i < s->nyears; i++)
		S_zip_init(&bd->zips[k++], BUNDLE_YEAR, &s->years[i]);
	for (i = 0; i < s->ncats; i++)
		S_zip_init(&bd->zips[k++], BUNDLE_CATEGORY, &s->cats[i]);
	S_zip_init(&bd->whole, BUNDLE_SITE, NULL);
	return bd;
}

static void
S_entries_free(struct zip_entry *e, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free((char *)e[i].name);
	free(e);
}

/* Free a list of entries that is not needed any more, and empty it. */
static void
S_entries_drop(struct zip_entry **e, size_t *n)
{
	S_entries_free(*e, *n);
	*e = NULL;
	*n = 0;
}

void
bundles_free(struct bundles *bd)
{
	size_t	 i;

	if (bd == NULL)
		return;
	for (i = 0; i < bd->site->n; i++) {
		struct S_rep *p = &bd->rep[i];

		S_entries_free(p->e, p->n);
		free(p->dir);
		free(p->url);
		free(p->out);
	}
	for (i = 0; i <= bd->nzips; i++) {
		struct S_zip *z = i < bd->nzips ? &bd->zips[i] : &bd->whole;

		S_entries_free(z->e, z->n);
		free(z->url);
		free(z->out);
		free(z->name);
	}
	for (i = 0; i < bd->noffline; i++)
		free((char *)bd->offline[i].name);
	free(bd->offline);
	strset_free(&bd->offline_names);
	free(bd->zips);
	free(bd->rep);
	free(bd->css);
	zshared_free(bd->css_z);
	free(bd->base_path);
	zstore_free(bd->zs);
	free(bd);
}

size_t
bundles_count(const struct bundles *bd)
{
	return bd->count;
}

/* ---- writing a zip ---- */

/*
 * Write the entries as the zip at rel in the staging directory, or in
 * a dry build only declare it.  size is what zip_size() promised, and
 * the pages already show it: a different file is a bug in zip_size(),
 * reported as such.  Return 0 or -1 (diagnosed).
 */
static int
S_write(struct bundles *bd, const char *rel, const struct zip_entry *e,
    size_t n, long long mtime, long long size)
{
	struct buf err = { 0 };
	struct stat st;
	char	*path, *slash;
	int	 rc = -1;

	if (bd->links != NULL)
		links_add_target(bd->links, rel);
	__atomic_add_fetch(&bd->count, 1, __ATOMIC_RELAXED);
	if (bd->dry)
		return 0;
	path = path_join(out_staging(bd->out), rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	if (mkdir_p(path) == -1) {
		diag_error(NULL, 0, 0, "cannot create %s: %s", path,
		    strerror(errno));
		goto out;
	}
	*slash = '/';
	if (zip_write(path, e, n, mtime, &err) == -1) {
		diag_error(NULL, 0, 0, "%s: %s", rel, buf_cstr(&err));
		goto out;
	}
	if (stat(path, &st) == -1) {
		diag_error(NULL, 0, 0, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((long long)st.st_size != size) {
		diag_error(NULL, 0, 0, "%s: %lld bytes written, %lld expected "
		    "(a bug in zip_size)", rel, (long long)st.st_size, size);
		goto out;
	}
	rc = 0;
out:
	free(path);
	buf_free(&err);
	return rc;
}

/* ---- manifests ---- */

/* A metadata line; line breaks in a value would break the format. */
static void
S_meta(struct buf *b, const char *label, const char *value)
{
	const char *s;

	if (value == NULL || *value == '\0')
		return;
	buf_puts(b, label);
	buf_puts(b, "：");
	for (s = value; *s; s++)
		buf_putc(b, (unsigned char)*s < 0x20 ? ' ' : *s);
	buf_putc(b, '\n');
}

static void
S_legend(struct buf *b)
{
	buf_puts(b, "\n文件清单（SHA-256 校验值、字节数、文件名）：\n");
}

static void
S_report_header(const struct bundles *bd, const struct report *r,
    struct buf *b)
{
	char	 year[16];

	S_meta(b, "网站", bd->cfg->title);
	S_meta(b, "标题", r->title);
	S_meta(b, "部门", r->department);
	S_meta(b, "类别", r->category);
	snprintf(year, sizeof(year), "%d", r->year);
	S_meta(b, "年度", year);
	S_meta(b, "日期", r->date);
	S_meta(b, "信息来源", r->source);
	buf_printf(b, "在线地址：%s%s\n", bd->cfg->base_url, r->url);
}

/*
 * Append the manifest of entries e (n of them) to e itself, as
 * ZIP_MANIFEST_NAME; e must have room for one more.
 */
static void
S_add_manifest(struct bundles *bd, struct zip_entry *e, size_t *n,
    struct buf *header)
{
	struct buf m = { 0 };

	S_legend(header);
	zip_manifest(&m, buf_cstr(header), e, *n);
	e[*n].name = xstrdup(ZIP_MANIFEST_NAME);
	e[*n].blob = zstore_add(bd->zs, m.data ? m.data : "", m.len);
	(*n)++;
	buf_free(&m);
}

/* ---- reports ---- */

/*
 * The report's own zip: its files under its directory, and the
 * manifest.  Then mix the zip's URL and size into the page's key: the
 * page shows them.
 */
static int
S_report_finish(struct bundles *bd, size_t i, const struct zblob *page,
    unsigned char key[32])
{
	const struct report *r = &bd->site->reports[i];
	struct S_rep *p = &bd->rep[i];
	struct zip_entry *e;
	struct buf h = { 0 };
	struct sha256 ctx;
	size_t	 k, n = 0;
	int	 rc;

	if (page != NULL) {
		p->e[p->n].name = xstrdup("index.html");
		p->e[p->n].blob = page;
		p->n++;
	}
	e = xcalloc(p->n + 1, sizeof(*e));
	for (k = 0; k < p->n; k++) {
		e[n].name = xasprintf("%s/%s", p->dir, p->e[k].name);
		e[n++].blob = p->e[k].blob;
	}
	S_report_header(bd, r, &h);
	S_add_manifest(bd, e, &n, &h);
	buf_free(&h);
	p->size = zip_size(e, n);
	rc = S_write(bd, p->out, e, n, p->mtime, p->size);
	S_entries_free(e, n);
	sha256_init(&ctx);
	sha256_update(&ctx, key, 32);
	sha256_update(&ctx, p->url, strlen(p->url) + 1);
	sha256_update(&ctx, &p->size, sizeof(p->size));
	sha256_final(&ctx, key);
	return rc;
}

/*
 * The cached standalone page: a header line, then its bytes as the
 * zips hold them (compressed), so that an unchanged page is neither
 * rendered nor compressed again.
 */
#define	S_CACHE_MAGIC	"fazhi standalone 1"

static char *
S_cache_rel(const struct report *r)
{
	return xasprintf("%s/%s.z", BUNDLE_STANDALONE, r->slug);
}

/* The page's blob from the cache file's bytes, or NULL if they are bad. */
static const struct zblob *
S_cache_blob(struct bundles *bd, const char *data, size_t len)
{
	const char *nl = memchr(data, '\n', len);
	char	 line[80];
	int	 method;
	unsigned long long usize;
	char	 tail;

	if (nl == NULL || (size_t)(nl - data) >= sizeof(line))
		return NULL;
	memcpy(line, data, (size_t)(nl - data));
	line[nl - data] = '\0';
	if (sscanf(line, S_CACHE_MAGIC " %d %llu%c", &method, &usize,
	    &tail) != 2)
		return NULL;
	return zstore_add_raw(bd->zs, nl + 1, len - (size_t)(nl + 1 - data),
	    method, (size_t)usize, bd->css_z);
}

int
bundles_report_begin(struct bundles *bd, size_t i, unsigned char key[32])
{
	const struct report *r = &bd->site->reports[i];
	struct S_rep *p = &bd->rep[i];
	struct sha256 ctx;
	char	*text, *rel, *abs, hex[65];
	size_t	 len, k;
	int	 rc = 0;

	/* Source, standalone page, attachments; the manifest comes later. */
	p->e = xcalloc(r->nattachments + 3, sizeof(*p->e));
	if (report_read(r, bd->root, &text, &len) == -1)
		return -1;
	p->e[0].name = S_title_name(r->title, r->slug, ".md");
	p->e[0].blob = zstore_add(bd->zs, text, len);
	p->n = 1;
	free(text);
	sha256_init(&ctx);
	sha256_update(&ctx, S_STANDALONE_VERSION, sizeof(S_STANDALONE_VERSION));
	sha256_update(&ctx, key, 32);
	sha256_update(&ctx, bd->css_hex, 64);
	sha256_update(&ctx, bd->zfp, 64);
	for (k = 0; k < r->nattachments; k++) {
		const struct attachment *a = &r->attachments[k];

		abs = path_join(bd->root, a->src);
		if (file_read(abs, &text, &len) == -1) {
			diag_error(r->path, 0, 0, "cannot read attachment %s: %s",
			    a->src, strerror(errno));
			free(abs);
			rc = -1;
			continue;
		}
		free(abs);
		p->e[p->n].name = xasprintf("%s/%s", BUNDLE_ATTACH_DIR, a->name);
		p->e[p->n].blob = zstore_add(bd->zs, text, len);
		zblob_sha256_hex(p->e[p->n].blob, hex);
		p->n++;
		/* Images become data: URIs: the page depends on the bytes. */
		sha256_update(&ctx, hex, 64);
		free(text);
	}
	sha256_final(&ctx, p->skey);
	if (rc == -1)
		return -1;
	if (!bd->standalone)
		return S_report_finish(bd, i, NULL, key);
	rel = S_cache_rel(r);
	out_cache_put(bd->out, rel, p->skey, NULL);
	if (out_cache_reuse(bd->out, rel, p->skey, NULL) == 0) {
		const struct zblob *page = NULL;

		abs = path_join(out_staging(bd->out), rel);
		if (file_read(abs, &text, &len) == 0) {
			page = S_cache_blob(bd, text, len);
			free(text);
		}
		if (page != NULL)
			rc = S_report_finish(bd, i, page, key);
		else {
			/*
			 * Linked but unreadable or damaged: render it after
			 * all, into a new file, not through the link.
			 */
			unlink(abs);
			rc = 1;
		}
		free(abs);
	} else
		rc = 1;
	free(rel);
	return rc;
}

/* ---- the standalone page ---- */

/* What the rewriting of one standalone page needs. */
struct S_sa {
	const struct bundles *bd;
	const struct report *r;
};

enum { S_KEEP, S_DROP, S_SET };

/* Are the n bytes at s, ASCII-case-folded, the string lit? */
static int
S_ieq(const char *s, size_t n, const char *lit)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (lit[i] == '\0' || c != lit[i])
			return 0;
	}
	return lit[n] == '\0';
}

static int
S_iprefix(const char *s, const char *lit)
{
	return S_ieq(s, strlen(lit) <= strlen(s) ? strlen(lit) : strlen(s),
	    lit);
}


/* An attribute value without its character references (the common ones). */
static void
S_attr_decode(struct buf *out, const char *s, size_t n)
{
	static const struct { const char *ent; const char *text; } named[] = {
		{ "&amp;", "&" }, { "&lt;", "<" }, { "&gt;", ">" },
		{ "&quot;", "\"" }, { "&apos;", "'" }, { NULL, NULL }
	};
	size_t	 i, k, l;
	unsigned long cp;
	char	*end;

	for (i = 0; i < n; i++) {
		if (s[i] != '&') {
			buf_putc(out, s[i]);
			continue;
		}
		for (k = 0; named[k].ent; k++) {
			l = strlen(named[k].ent);
			if (i + l <= n && memcmp(s + i, named[k].ent, l) == 0)
				break;
		}
		if (named[k].ent) {
			buf_puts(out, named[k].text);
			i += l - 1;
			continue;
		}
		if (i + 2 < n && s[i + 1] == '#') {
			char num[16];

			l = 0;
			while (i + 2 + l < n && l < sizeof(num) - 1 &&
			    s[i + 2 + l] != ';')
				l++;
			memcpy(num, s + i + 2, l);
			num[l] = '\0';
			if (i + 2 + l < n && l > 0) {
				cp = num[0] == 'x' || num[0] == 'X' ?
				    strtoul(num + 1, &end, 16) :
				    strtoul(num, &end, 10);
				if (*end == '\0' && cp > 0 && cp < 0x110000 &&
				    (cp < 0xd800 || cp > 0xdfff)) {
					if (cp < 0x80)
						buf_putc(out, (int)cp);
					else if (cp < 0x800) {
						buf_putc(out, 0xc0 | (int)(cp >> 6));
						buf_putc(out, 0x80 | (int)(cp & 0x3f));
					} else if (cp < 0x10000) {
						buf_putc(out, 0xe0 | (int)(cp >> 12));
						buf_putc(out, 0x80 | (int)((cp >> 6) & 0x3f));
						buf_putc(out, 0x80 | (int)(cp & 0x3f));
					} else {
						buf_putc(out, 0xf0 | (int)(cp >> 18));
						buf_putc(out, 0x80 | (int)((cp >> 12) & 0x3f));
						buf_putc(out, 0x80 | (int)((cp >> 6) & 0x3f));
						buf_putc(out, 0x80 | (int)(cp & 0x3f));
					}
					i += 2 + l;
					continue;
				}
			}
		}
		buf_putc(out, '&');
	}
}

/* The media type of an attachment shown inline, from its extension. */
static const char *
S_mime(const char *name)
{
	static const struct { const char *ext, *type; } t[] = {
		{ ".png", "image/png" }, { ".jpg", "image/jpeg" },
		{ ".jpeg", "image/jpeg" }, { ".gif", "image/gif" },
		{ ".webp", "image/webp" }, { ".svg", "image/svg+xml" },
		{ ".avif", "image/avif" }, { ".bmp", "image/bmp" },
		{ ".ico", "image/x-icon" }, { ".mp3", "audio/mpeg" },
		{ ".mp4", "video/mp4" }, { ".pdf", "application/pdf" },
		{ NULL, NULL }
	};
	const char *dot = strrchr(name, '.');
	size_t	 i;

	for (i = 0; dot != NULL && t[i].ext; i++)
		if (S_ieq(dot, strlen(dot), t[i].ext))
			return t[i].type;
	return "application/octet-stream";
}

static void
S_base64(struct buf *out, const unsigned char *p, size_t n)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t	 i;
	unsigned long v;

	buf_grow(out, (n + 2) / 3 * 4);
	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 |
		    p[i + 2];
		buf_putc(out, a[v >> 18]);
		buf_putc(out, a[(v >> 12) & 63]);
		buf_putc(out, a[(v >> 6) & 63]);
		buf_putc(out, a[v & 63]);
	}
	if (i < n) {
		v = (unsigned long)p[i] << 16 |
		    (i + 1 < n ? (unsigned long)p[i + 1] << 8 : 0);
		buf_putc(out, a[v >> 18]);
		buf_putc(out, a[(v >> 12) & 63]);
		buf_putc(out, i + 1 < n ? a[(v >> 6) & 63] : '=');
		buf_putc(out, '=');
	}
}

/*
 * Resolve a relative URL of the report page; return the index of the
 * attachment it names, -1 for another file of the site, -2 when it
 * leaves the site.  target and frag are set for -1 and >= 0.
 */
static long
S_resolve(const struct S_sa *sa, const char *v, char **target, char **frag)
{
	size_t	 k;

	if (links_resolve(sa->r->out, v, sa->bd->base_path, target,
	    frag) == -1)
		return -2;
	for (k = 0; k < sa->r->nattachments; k++)
		if (strcmp(*target, sa->r->attachments[k].out) == 0)
			return (long)k;
	return -1;
}

static void
S_frag(struct buf *out, const char *frag)
{
	if (frag != NULL) {
		buf_putc(out, '#');
		buf_url_escape(out, frag, strlen(frag));
	}
}

/*
 * A link (href): kept when it is a fragment or carries a scheme; an
 * attachment becomes 附件/<name> beside the page; the page itself a
 * fragment; any other page of the site an absolute base_url link.
 */
static int
S_link(const struct S_sa *sa, const char *v, struct buf *out)
{
	const char *q, *h;
	char	*target, *frag;
	long	 k;

	if (*v == '\0' || *v == '#' || url_is_external(v))
		return S_KEEP;
	if ((k = S_resolve(sa, v, &target, &frag)) == -2)
		return S_DROP;
	if (k >= 0) {
		const char *name = sa->r->attachments[k].name;

		buf_puts(out, BUNDLE_ATTACH_DIR "/");
		buf_url_escape(out, name, strlen(name));
		S_frag(out, frag);
	} else if (strcmp(target, sa->r->out) == 0) {
		buf_putc(out, '#');
		if (frag != NULL)
			buf_url_escape(out, frag, strlen(frag));
	} else {
		buf_puts(out, sa->bd->cfg->base_url);
		buf_url_escape(out, target, strlen(target));
		h = strchr(v, '#');
		if ((q = strchr(v, '?')) != NULL && (h == NULL || q < h))
			buf_put(out, q, h ? (size_t)(h - q) : strlen(q));
		S_frag(out, frag);
	}
	free(target);
	free(frag);
	return S_SET;
}

/*
 * A resource (src): data: and fragments stay, an attachment becomes a
 * data: URI, anything else would be fetched from the network or the
 * file system and goes.
 */
static int
S_resource(const struct S_sa *sa, const char *v, struct buf *out)
{
	char	*target, *frag, *abs, *data = NULL;
	size_t	 len;
	long	 k;

	/* "#id" is this document (an SVG <use>), fetched from nowhere. */
	if (S_iprefix(v, "data:") || *v == '#')
		return S_KEEP;
	if (*v == '\0' || url_is_external(v))
		return S_DROP;
	k = S_resolve(sa, v, &target, &frag);
	free(target);
	free(frag);
	if (k < 0)
		return S_DROP;
	/* Read when needed: most attachments are never shown inline. */
	abs = path_join(sa->bd->root, sa->r->attachments[k].src);
	if (file_read(abs, &data, &len) == -1) {
		diag_error(sa->r->path, 0, 0, "cannot read attachment %s: %s",
		    sa->r->attachments[k].src, strerror(errno));
		free(abs);
		return S_DROP;
	}
	free(abs);
	buf_puts(out, "data:");
	buf_puts(out, S_mime(sa->r->attachments[k].name));
	buf_puts(out, ";base64,");
	S_base64(out, (const unsigned char *)data, len);
	free(data);
	return S_SET;
}

/* What to do with attribute attr of element tag. */
static int
S_attr(const struct S_sa *sa, const char *tag, size_t taglen,
    const char *attr, size_t attrlen, const char *v, struct buf *out)
{
	int	 svgref = S_ieq(tag, taglen, "image") ||
	    S_ieq(tag, taglen, "use") || S_ieq(tag, taglen, "feimage");

	if ((S_ieq(attr, attrlen, "href") && !svgref) ||
	    S_ieq(attr, attrlen, "action") ||
	    S_ieq(attr, attrlen, "formaction"))
		return S_link(sa, v, out);
	if (S_ieq(attr, attrlen, "src") || S_ieq(attr, attrlen, "poster") ||
	    S_ieq(attr, attrlen, "background") ||
	    S_ieq(attr, attrlen, "xlink:href") ||
	    (S_ieq(attr, attrlen, "href") && svgref) ||
	    (S_ieq(attr, attrlen, "data") && S_ieq(tag, taglen, "object")))
		return S_resource(sa, v, out);
	if (S_ieq(attr, attrlen, "srcset") || S_ieq(attr, attrlen, "ping"))
		return S_iprefix(v, "data:") ? S_KEEP : S_DROP;
	return S_KEEP;
}

static int
S_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static int
S_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * Make a page standalone: walk its tags (comments, doctype and the raw
 * text of script, style, textarea and title skipped), drop <link> and
 * <base>, and rewrite the URLs of the others (S_attr).  Bytes that
 * need no change are copied as they are.
 */
static void
S_offline(const struct S_sa *sa, const char *in, size_t len, struct buf *out)
{
	static const char *const raw[] = {
		"script", "style", "textarea", "title", NULL
	};
	struct buf val = { 0 }, nv = { 0 };
	const char *tag, *attr, *p;
	size_t	 i = 0, j, copied = 0, taglen, attrlen, vs, ve, astart, k, l;
	int	 droptag, act;

	while (i < len) {
		if (in[i] != '<') {
			/* Text: jump to the next tag. */
			p = memchr(in + i, '<', len - i);
			i = p ? (size_t)(p - in) : len;
			continue;
		}
		if (i + 3 < len && memcmp(in + i, "<!--", 4) == 0) {
			p = memmem(in + i + 4, len - i - 4, "-->", 3);
			i = p ? (size_t)(p - in) + 3 : len;
			continue;
		}
		if (i + 1 < len && (in[i + 1] == '!' || in[i + 1] == '?' ||
		    in[i + 1] == '/')) {
			i += 2;
			continue;
		}
		if (i + 1 >= len || !S_alpha(in[i + 1])) {
			i++;
			continue;
		}
		tag = in + i + 1;
		for (j = i + 1; j < len && !S_space(in[j]) && in[j] != '/' &&
		    in[j] != '>'; j++)
			continue;
		taglen = (size_t)(in + j - tag);
		droptag = S_ieq(tag, taglen, "link") || S_ieq(tag, taglen, "base");
		for (;;) {
			while (j < len && (S_space(in[j]) || in[j] == '/'))
				j++;
			if (j >= len || in[j] == '>')
				break;
			astart = j;
			attr = in + j;
			while (j < len && !S_space(in[j]) && in[j] != '/' &&
			    in[j] != '>' && in[j] != '=')
				j++;
			attrlen = (size_t)(in + j - attr);
			if (attrlen == 0) {	/* a stray '=' */
				j++;
				continue;
			}
			while (j < len && S_space(in[j]))
				j++;
			vs = ve = j;
			if (j < len && in[j] == '=') {
				j++;
				while (j < len && S_space(in[j]))
					j++;
				if (j < len && (in[j] == '"' || in[j] == '\'')) {
					char qc = in[j];

					vs = ++j;
					while (j < len && in[j] != qc)
						j++;
					ve = j;
					if (j < len)
						j++;
				} else {
					vs = j;
					while (j < len && !S_space(in[j]) &&
					    in[j] != '>')
						j++;
					ve = j;
				}
			} else
				j = vs = ve = astart + attrlen;
			if (droptag)
				continue;
			buf_reset(&val);
			buf_reset(&nv);
			S_attr_decode(&val, in + vs, ve - vs);
			act = S_attr(sa, tag, taglen, attr, attrlen,
			    buf_cstr(&val), &nv);
			if (act == S_KEEP)
				continue;
			buf_put(out, in + copied, astart - copied);
			if (act == S_SET) {
				buf_put(out, attr, attrlen);
				buf_puts(out, "=\"");
				buf_html_escape(out, buf_cstr(&nv), nv.len);
				buf_putc(out, '"');
			}
			copied = j;
		}
		j = j < len ? j + 1 : len;
		if (droptag) {
			buf_put(out, in + copied, i - copied);
			copied = j;
		}
		i = j;
		for (k = 0; raw[k]; k++)
			if (S_ieq(tag, taglen, raw[k]))
				break;
		if (raw[k] == NULL)
			continue;
		/* Skip to the element's end tag. */
		l = strlen(raw[k]);
		for (; i < len; i++) {
			if ((p = memchr(in + i, '<', len - i)) == NULL) {
				i = len;
				break;
			}
			i = (size_t)(p - in);
			if (i + 1 + l < len && in[i + 1] == '/' &&
			    S_ieq(in + i + 2, l, raw[k]))
				break;
		}
	}
	buf_put(out, in + copied, len - copied);
	buf_free(&val);
	buf_free(&nv);
}

int
bundles_report_standalone(struct bundles *bd, size_t i, struct tmpl_env *env,
    unsigned char key[32])
{
	const struct report *r = &bd->site->reports[i];
	lua_State *L = tmpl_lua(env);
	struct S_sa sa;
	struct buf html = { 0 }, page = { 0 }, cache = { 0 };
	const struct zblob *b;
	char	*rel, *online;
	int	 rc = -1, method;

	/* A shallow copy of the page's variables, and our own on top. */
	lua_newtable(L);
	lua_pushnil(L);
	while (lua_next(L, -3) != 0) {
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_settable(L, -4);
	}
	lua_pushstring(L, bd->css);
	lua_setfield(L, -2, "inline_css");
	online = xasprintf("%s%s", bd->cfg->base_url, r->url);
	lua_pushstring(L, online);
	lua_setfield(L, -2, "online_url");
	free(online);
	if (tmpl_render(env, "standalone.html", &html) == -1)
		goto out;
	sa.bd = bd;
	sa.r = r;
	S_offline(&sa, html.data ? html.data : "", html.len, &page);
	b = zstore_add_shared(bd->zs, page.data ? page.data : "", page.len,
	    bd->css_z);
	buf_reset(&html);
	if (bd->dry)		/* no cache to write, and no bytes kept */
		goto done;
	if ((method = zblob_raw(b, &html)) == -1) {
		diag_error(NULL, 0, 0, "%s: cannot read the compressed page: %s",
		    r->path, strerror(errno));
		goto out;
	}
	buf_printf(&cache, S_CACHE_MAGIC " %d %zu\n", method, page.len);
	buf_put(&cache, html.data ? html.data : "", html.len);
	rel = S_cache_rel(r);
	if (out_write(bd->out, rel, cache.data, cache.len) == -1) {
		free(rel);
		goto out;
	}
	free(rel);
done:
	rc = S_report_finish(bd, i, b, key);
out:
	buf_free(&html);
	buf_free(&page);
	buf_free(&cache);
	return rc;
}

/* ---- groups ---- */

static const char *
S_kind_label(enum bundle_kind k)
{
	switch (k) {
	case BUNDLE_DEPARTMENT:
		return "部门";
	case BUNDLE_YEAR:
		return "年度";
	case BUNDLE_CATEGORY:
		return "类别";
	default:
		return "全站";
	}
}

/* Entries and size of a group's zip: its reports' files, and the manifest. */
static void
S_group_entries(struct bundles *bd, struct S_zip *z)
{
	const struct site *s = bd->site;
	const struct group *g = z->g;
	struct buf h = { 0 };
	size_t	 k, m, n = 0, cap = 1;
	char	*name;

	for (k = 0; k < g->n; k++)
		cap += bd->rep[g->reports[k]].n;
	z->e = xcalloc(cap, sizeof(*z->e));
	z->mtime = 0;
	S_meta(&h, "网站", bd->cfg->title);
	name = z->kind == BUNDLE_YEAR ? xasprintf("%s年", g->name) :
	    xstrdup(g->name);
	S_meta(&h, S_kind_label(z->kind), name);
	free(name);
	buf_printf(&h, "报告数：%zu\n", g->n);
	buf_printf(&h, "在线地址：%s%s\n", bd->cfg->base_url, g->url);
	buf_puts(&h, "\n报告（目录、标题）：\n");
	for (k = 0; k < g->n; k++) {
		const struct S_rep *p = &bd->rep[g->reports[k]];

		buf_printf(&h, "%s/  %s\n", p->dir,
		    s->reports[g->reports[k]].title);
		for (m = 0; m < p->n; m++) {
			z->e[n].name = xasprintf("%s/%s", p->dir, p->e[m].name);
			z->e[n++].blob = p->e[m].blob;
		}
		if (p->mtime > z->mtime)
			z->mtime = p->mtime;
	}
	S_add_manifest(bd, z->e, &n, &h);
	z->n = n;
	z->size = zip_size(z->e, z->n);
	buf_free(&h);
}

struct S_job {
	struct bundles	*bd;
	struct S_zip	**v;		/* the groups with a zip */
	size_t		 n;
	int		 failed;
};

static void
S_group_job(void *arg, size_t i, int worker)
{
	struct S_job *j = arg;
	struct S_zip *z = j->v[i];

	S_group_entries(j->bd, z);
	if (S_write(j->bd, z->out, z->e, z->n, z->mtime, z->size) == -1)
		j->failed = 1;
	/* Only its size is wanted from here on (the downloads pages). */
	S_entries_drop(&z->e, &z->n);
}

int
bundles_groups(struct bundles *bd, int nworkers)
{
	struct S_job j;
	size_t	 i;

	memset(&j, 0, sizeof(j));
	j.bd = bd;
	j.v = xcalloc(bd->nzips + 1, sizeof(*j.v));
	for (i = 0; i < bd->site->n; i++)
		if (bd->rep[i].size < 0) {
			/* A report failed: its error is already diagnosed. */
			free(j.v);
			return -1;
		}
	for (i = 0; i < bd->nzips; i++)
		if (bd->zips[i].g->n > 0)
			j.v[j.n++] = &bd->zips[i];
	pool_run(j.n, nworkers, S_group_job, &j);
	free(j.v);
	/*
	 * Every zip that holds a report's files is written: drop their
	 * names, which at national scale would otherwise stay for the
	 * rest of the build (the blobs stay in the store).
	 */
	for (i = 0; i < bd->site->n; i++) {
		S_entries_drop(&bd->rep[i].e, &bd->rep[i].n);
		free(bd->rep[i].dir);
		bd->rep[i].dir = NULL;
	}
	return j.failed ? -1 : 0;
}

/* ---- template values ---- */

static void
S_push_zip(lua_State *L, const char *url, const char *name, long long size)
{
	lua_createtable(L, 0, 3);
	lua_pushstring(L, url);
	lua_setfield(L, -2, "url");
	lua_pushstring(L, name);
	lua_setfield(L, -2, "name");
	if (size >= 0) {
		lua_pushinteger(L, size);
		lua_setfield(L, -2, "size");
	}
}

void
bundles_push(struct bundles *bd, lua_State *L, enum bundle_kind kind,
    size_t index)
{
	const struct site *s = bd->site;
	const struct S_zip *z;
	char	*name;

	switch (kind) {
	case BUNDLE_REPORT:
		if (index >= s->n || bd->rep[index].size < 0) {
			lua_pushnil(L);
			return;
		}
		name = xasprintf("%s.zip", s->reports[index].slug);
		S_push_zip(L, bd->rep[index].url, name, bd->rep[index].size);
		free(name);
		return;
	case BUNDLE_SITE:
		S_push_zip(L, bd->whole.url, bd->whole.name, bd->whole.size);
		return;
	case BUNDLE_DEPARTMENT:
		z = index < s->ndepts ? &bd->zips[index] : NULL;
		break;
	case BUNDLE_YEAR:
		z = index < s->nyears ? &bd->zips[s->ndepts + index] : NULL;
		break;
	default:
		z = index < s->ncats ?
		    &bd->zips[s->ndepts + s->nyears + index] : NULL;
		break;
	}
	if (z == NULL || z->size < 0)
		lua_pushnil(L);
	else
		S_push_zip(L, z->url, z->name, z->size);
}

void
bundles_push_group(struct bundles *bd, lua_State *L, const struct group *g)
{
	const struct site *s = bd->site;

	if (g >= s->depts && g < s->depts + s->ndepts)
		bundles_push(bd, L, BUNDLE_DEPARTMENT, (size_t)(g - s->depts));
	else if (g >= s->years && g < s->years + s->nyears)
		bundles_push(bd, L, BUNDLE_YEAR, (size_t)(g - s->years));
	else if (g >= s->cats && g < s->cats + s->ncats)
		bundles_push(bd, L, BUNDLE_CATEGORY, (size_t)(g - s->cats));
	else
		lua_pushnil(L);
}

/* A group's row on the downloads page: name, url, count, bundle. */
static void
S_push_row(struct bundles *bd, lua_State *L, const struct group *g)
{
	lua_createtable(L, 0, 5);
	lua_pushstring(L, g->name);
	lua_setfield(L, -2, "name");
	lua_pushstring(L, g->url);
	lua_setfield(L, -2, "url");
	lua_pushinteger(L, (lua_Integer)g->n);
	lua_setfield(L, -2, "count");
	bundles_push_group(bd, L, g);
	lua_setfield(L, -2, "bundle");
}

void
bundles_push_downloads(struct bundles *bd, lua_State *L, int offline,
    size_t from, size_t to)
{
	const struct site *s = bd->site;
	size_t	 i, k;
	int	 n;

	if (to > s->ndepts)
		to = s->ndepts;
	if (from > to)
		from = to;

	lua_pushboolean(L, offline);
	lua_setfield(L, -2, "offline");
	lua_createtable(L, 0, 4);
	/* The offline copy cannot know the size of the zip that holds it. */
	S_push_zip(L, bd->whole.url, bd->whole.name,
	    offline ? -1 : bd->whole.size);
	lua_setfield(L, -2, "site");
	lua_createtable(L, (int)s->nyears, 0);
	for (i = 0; i < s->nyears; i++) {
		S_push_row(bd, L, &s->years[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "years");
	lua_createtable(L, (int)s->ncats, 0);
	for (i = 0, n = 0; i < s->ncats; i++)
		if (s->cats[i].n > 0) {
			S_push_row(bd, L, &s->cats[i]);
			lua_rawseti(L, -2, ++n);
		}
	lua_setfield(L, -2, "categories");
	lua_createtable(L, (int)(to - from), 0);
	for (i = from; i < to; i++) {
		const struct group *g = &s->depts[i];

		S_push_row(bd, L, g);
		lua_createtable(L, (int)g->n, 0);
		for (k = 0; k < g->n; k++) {
			const struct report *r = &s->reports[g->reports[k]];

			lua_createtable(L, 0, 4);
			lua_pushinteger(L, r->year);
			lua_setfield(L, -2, "year");
			lua_pushstring(L, r->title);
			lua_setfield(L, -2, "title");
			lua_pushstring(L, r->url);
			lua_setfield(L, -2, "url");
			bundles_push(bd, L, BUNDLE_REPORT, g->reports[k]);
			lua_setfield(L, -2, "bundle");
			lua_rawseti(L, -2, (lua_Integer)k + 1);
		}
		lua_setfield(L, -2, "reports");
		lua_rawseti(L, -2, (lua_Integer)(i - from) + 1);
	}
	lua_setfield(L, -2, "departments");
	lua_setfield(L, -2, "downloads");
}

/* ---- the whole site ---- */

struct S_files {
	char		**v;		/* paths relative to the site root */
	size_t		 n, cap;
};

/* List the files under staging/rel, but dot files and bundles/. */
static int
S_walk(const char *staging, const char *rel, struct S_files *f)
{
	char	*abs = *rel ? path_join(staging, rel) : xstrdup(staging);
	char	*a, *r;
	struct dirent *de;
	struct stat st;
	DIR	*d;
	int	 rc = 0;

	if ((d = opendir(abs)) == NULL) {
		diag_error(NULL, 0, 0, "cannot read %s: %s", abs,
		    strerror(errno));
		free(abs);
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' ||
		    (*rel == '\0' && strcmp(de->d_name, "bundles") == 0))
			continue;
		a = path_join(abs, de->d_name);
		r = *rel ? path_join(rel, de->d_name) : xstrdup(de->d_name);
		if (lstat(a, &st) == -1) {
			diag_error(NULL, 0, 0, "cannot read %s: %s", a,
			    strerror(errno));
			rc = -1;
		} else if (S_ISDIR(st.st_mode))
			rc = S_walk(staging, r, f);
		else if (S_ISREG(st.st_mode)) {
			if (f->n == f->cap) {
				f->cap = f->cap ? 2 * f->cap : 256;
				f->v = xrealloc(f->v, f->cap * sizeof(*f->v));
			}
			f->v[f->n++] = r;
			r = NULL;
		}
		free(a);
		free(r);
	}
	closedir(d);
	free(abs);
	return rc;
}

/*
 * Links to bundles, which the offline copy does not hold, go to the
 * published site instead.  Pages link them as href="bundles/…" or
 * href="../bundles/…" (all links in pages are relative).
 */
static void
S_online_bundles(const struct bundles *bd, const char *in, size_t len,
    struct buf *out)
{
	static const char *const pre[] = {
		"href=\"bundles/", "href=\"../bundles/", NULL
	};
	const char *p = in, *end = in + len, *h;
	size_t	 k, l;

	while ((h = memmem(p, (size_t)(end - p), "href=\"", 6)) != NULL) {
		for (k = 0; pre[k]; k++) {
			l = strlen(pre[k]);
			if ((size_t)(end - h) >= l && memcmp(h, pre[k], l) == 0)
				break;
		}
		if (pre[k] == NULL) {
			buf_put(out, p, (size_t)(h - p) + 6);
			p = h + 6;
			continue;
		}
		buf_put(out, p, (size_t)(h - p));
		buf_puts(out, "href=\"");
		buf_puts(out, bd->cfg->base_url);
		buf_puts(out, "bundles/");
		p = h + l;
	}
	buf_put(out, p, (size_t)(end - p));
}

struct S_sitejob {
	struct bundles	*bd;
	struct S_files	*f;
	const struct zblob **blobs;
	int		 failed;
};

static void
S_site_file(void *arg, size_t i, int worker)
{
	struct S_sitejob *j = arg;
	struct bundles *bd = j->bd;
	struct buf b = { 0 };
	char	*abs, *data;
	size_t	 len, l = strlen(j->f->v[i]);

	abs = path_join(out_staging(bd->out), j->f->v[i]);
	if (file_read(abs, &data, &len) == -1) {
		diag_error(NULL, 0, 0, "cannot read %s: %s", abs,
		    strerror(errno));
		j->failed = 1;
		free(abs);
		return;
	}
	free(abs);
	if (l > 5 && strcmp(j->f->v[i] + l - 5, ".html") == 0) {
		S_online_bundles(bd, data, len, &b);
		j->blobs[i] = zstore_add(bd->zs, b.data ? b.data : "", b.len);
		buf_free(&b);
	} else
		j->blobs[i] = zstore_add(bd->zs, data, len);
	free(data);
}

void
bundles_site_page(struct bundles *bd, const char *name, const char *html,
    size_t len)
{
	struct buf b = { 0 };

	if (bd->dry)
		return;
	S_online_bundles(bd, html, len, &b);
	bd->offline = xgrow(bd->offline, bd->noffline, sizeof(*bd->offline));
	bd->offline[bd->noffline].name = xstrdup(name);
	bd->offline[bd->noffline++].blob = zstore_add(bd->zs,
	    b.data ? b.data : "", b.len);
	strset_add(&bd->offline_names, name);
	buf_free(&b);
}

int
bundles_site(struct bundles *bd, int nworkers)
{
	const struct site *s = bd->site;
	struct S_zip *z = &bd->whole;
	struct S_files f = { 0 };
	struct S_sitejob j;
	struct buf h = { 0 };
	size_t	 i, n = 0;
	int	 rc = -1;

	if (bd->dry) {
		/* Declared all the same: downloads.html links it. */
		if (bd->links != NULL && z->out != NULL)
			links_add_target(bd->links, z->out);
		return 0;
	}
	if (S_walk(out_staging(bd->out), "", &f) == -1)
		goto out;
	memset(&j, 0, sizeof(j));
	j.bd = bd;
	j.f = &f;
	j.blobs = xcalloc(f.n + 1, sizeof(*j.blobs));
	pool_run(f.n, nworkers, S_site_file, &j);
	if (j.failed) {
		free(j.blobs);
		goto out;
	}
	z->e = xcalloc(f.n + bd->noffline + 2, sizeof(*z->e));
	for (i = 0; i < f.n; i++) {
		/* The online downloads pages: their offline copies win. */
		if (strset_has(&bd->offline_names, f.v[i]))
			continue;
		z->e[n].name = f.v[i];	/* moved, not copied */
		f.v[i] = NULL;
		z->e[n++].blob = j.blobs[i];
	}
	free(j.blobs);
	for (i = 0; i < bd->noffline; i++) {
		z->e[n].name = bd->offline[i].name;
		z->e[n++].blob = bd->offline[i].blob;
		bd->offline[i].name = NULL;
	}
	z->mtime = 0;
	for (i = 0; i < s->n; i++)
		if (bd->rep[i].mtime > z->mtime)
			z->mtime = bd->rep[i].mtime;
	if (bd->epoch >= 0)
		z->mtime = bd->epoch;
	S_meta(&h, "网站", bd->cfg->title);
	buf_printf(&h, "报告数：%zu\n", s->n);
	buf_printf(&h, "在线地址：%s\n", bd->cfg->base_url);
	buf_puts(&h, "离线浏览：解压后用浏览器打开 index.html。"
	    "压缩包不在其中，下载链接指向在线网站。\n");
	S_add_manifest(bd, z->e, &n, &h);
	z->n = n;
	z->size = zip_size(z->e, z->n);
	rc = S_write(bd, z->out, z->e, z->n, z->mtime, z->size);
	S_entries_drop(&z->e, &z->n);
out:
	for (i = 0; i < f.n; i++)
		free(f.v[i]);
	free(f.v);
	buf_free(&h);
	return rc;
}
