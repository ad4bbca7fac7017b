/*
 * content.c: walking content/, validating front matter, the site index.
 *
 * The scan runs in two steps: a single-threaded walk that lists the
 * *.md files in sorted order, then a parallel pass (pool.h) that reads
 * each file, hashes it and validates its front matter.  Checks across
 * reports (duplicate department and year, duplicate slugs) and the
 * groupings come after, on one thread.  The parallel pass takes an
 * unchanged report from the scan cache instead of reading it (see
 * "The scan cache" below).
 */
#define _GNU_SOURCE
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "content.h"
#include "diag.h"
#include "frontmatter.h"
#include "markdown.h"
#include "output.h"
#include "pool.h"
#include "util.h"
#include "yval.h"

#define MAX_REPORT_BYTES (64LL << 20)
#define MAX_ATTACHMENTS	1000	/* per report */

static const char *const S_fields[] = {
	"title", "department", "year", "category", "date", "source", "slug",
	"summary", "attachments", "filters", NULL
};

struct S_list {
	char	**v;
	size_t	 n, cap;
};

static void
S_list_add(struct S_list *l, char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->v = xrealloc(l->v, l->cap * sizeof(char *));
	}
	l->v[l->n++] = s;
}

struct S_dirent {
	char		*name;
	unsigned char	 type;	/* DT_*, DT_UNKNOWN when the file system does not say */
};

static int
S_dirent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct S_dirent *)a)->name,
	    ((const struct S_dirent *)b)->name);
}

/*
 * Walk dir (relative to root) and collect *.md files, skipping hidden
 * entries.  Symbolic links are not followed: a link could lead out of
 * the project, and a report should be a file in the repository.  The
 * type comes from readdir() where it can: an lstat() per file was most
 * of the walk's time, and the scan stats every report anyway.
 */
static void
S_walk(const char *root, const char *rel, struct S_list *out, int depth)
{
	char	*abs, *child, *ca;
	DIR	*d;
	struct dirent *de;
	struct stat st;
	struct S_dirent *names = NULL;
	size_t	 i, n = 0, len;
	unsigned char type;

	if (depth > 32) {
		diag_error(rel, 0, 0, "directories nested too deeply");
		return;
	}
	abs = path_join(root, rel);
	if ((d = opendir(abs)) == NULL) {
		if (!(depth == 0 && errno == ENOENT))
			diag_error(rel, 0, 0, "cannot read directory: %s",
			    strerror(errno));
		free(abs);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.') {
			names = xgrow(names, n, sizeof(*names));
			names[n].name = xstrdup(de->d_name);
			names[n++].type = de->d_type;
		}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), S_dirent_cmp);
	for (i = 0; i < n; i++) {
		child = path_join(rel, names[i].name);
		free(names[i].name);
		type = names[i].type;
		if (type != DT_REG && type != DT_DIR && type != DT_LNK) {
			ca = path_join(root, child);
			if (lstat(ca, &st) == -1) {
				diag_error(child, 0, 0, "cannot stat: %s",
				    strerror(errno));
				free(ca);
				free(child);
				continue;
			}
			free(ca);
			type = S_ISLNK(st.st_mode) ? DT_LNK :
			    S_ISDIR(st.st_mode) ? DT_DIR :
			    S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
		}
		len = strlen(child);
		if (type == DT_LNK) {
			if (len > 3 && strcmp(child + len - 3, ".md") == 0)
				diag_error(child, 0, 0, "symbolic links are not "
				    "followed: commit the report itself");
			free(child);
		} else if (type == DT_DIR) {
			S_walk(root, child, out, depth + 1);
			free(child);
		} else if (type == DT_REG && len > 3 &&
		    strcmp(child + len - 3, ".md") == 0) {
			if (!path_is_safe(child)) {
				diag_error(child, 0, 0, "file name holds control "
				    "characters or backslashes");
				free(child);
			} else
				S_list_add(out, child);
		} else
			free(child);
	}
	free(names);
	free(abs);
}

/* Levenshtein distance on bytes, for "did you mean" hints. */
static size_t
S_distance(const char *a, const char *b)
{
	size_t	 la = strlen(a), lb = strlen(b), i, j, d[64], prev, tmp;

	if (la >= 63 || lb >= 63)
		return 99;
	for (j = 0; j <= lb; j++)
		d[j] = j;
	for (i = 1; i <= la; i++) {
		prev = d[0];
		d[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = d[j];
			d[j] = a[i - 1] == b[j - 1] ? prev :
			    1 + (prev < d[j] ? (prev < d[j - 1] ? prev :
			    d[j - 1]) : (d[j] < d[j - 1] ? d[j] : d[j - 1]));
			prev = tmp;
		}
	}
	return d[lb];
}

static char *
S_text(const char *path, const struct yval *v, const char *key)
{
	const char *s;

	if (v->type != YV_SCALAR) {
		diag_error(path, v->line, v->col, "'%s' must be text, not a %s",
		    key, v->type == YV_SEQ ? "list" : "mapping");
		return NULL;
	}
	for (s = v->str; *s == ' ' || *s == '\t'; s++)
		;
	if (*s == '\0' || (v->plain && (!strcmp(v->str, "null") ||
	    !strcmp(v->str, "~")))) {
		diag_error(path, v->line, v->col, "'%s' is empty", key);
		return NULL;
	}
	if (strlen(v->str) != v->len) {
		diag_error(path, v->line, v->col, "'%s' holds a NUL character",
		    key);
		return NULL;
	}
	for (s = v->str; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') {
			diag_error(path, v->line, v->col, "'%s' holds a control "
			    "character", key);
			return NULL;
		}
	return xstrdup(v->str);
}

static int
S_valid_date(const char *s)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int	 y, m, d, i;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return 0;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return 0;
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (y < 1949 || y > 2100 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return 0;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 0;
	return 1;
}

static int
S_slug_ok(const char *s)
{
	if (*s == '\0' || *s == '-')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    *s == '-'))
			return 0;
	return 1;
}


/* A name usable as one file name: '/' and characters that trouble URLs or shells become '-'. */
static char *
S_file_key(const char *name)
{
	struct buf b = { 0 };
	const char *s;

	for (s = name; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == '/' || c == '\\' || c == '?' || c == '#' ||
		    c == '%' || c == '"' || c == '<' || c == '>' || c == '|' ||
		    c == '*' || c == ':' || c == ' ')
			buf_putc(&b, '-');
		else
			buf_putc(&b, c);
	}
	if (b.len == 0 || b.data[0] == '.')
		buf_puts(&b, "-");
	return buf_detach(&b);
}

char *
site_url(const char *dir, const char *file, const char *ext)
{
	struct buf b = { 0 };

	buf_puts(&b, dir);
	buf_putc(&b, '/');
	buf_url_escape(&b, file, strlen(file));
	buf_puts(&b, ext);
	return buf_detach(&b);
}

enum {
	S_ATT_OK,
	S_ATT_MISSING,
	S_ATT_LINK,		/* a symbolic link, or leads out of root */
	S_ATT_NOTREG
};

/*
 * Where an attachment stands on disk: the one check shared by the scan
 * and the scan cache, which re-checks the attachments of every cached
 * report.  rootreal is realpath(root) or NULL.  Sets *size when S_ATT_OK.
 */
static int
S_attachment_state(const char *root, const char *rootreal, const char *src,
    long long *size)
{
	char	*abs = path_join(root, src), *real = realpath(abs, NULL);
	struct stat st;
	int	 rc;

	if (lstat(abs, &st) == -1 || real == NULL)
		rc = S_ATT_MISSING;
	else if (S_ISLNK(st.st_mode) || rootreal == NULL ||
	    strncmp(real, rootreal, strlen(rootreal)) != 0 ||
	    real[strlen(rootreal)] != '/')
		rc = S_ATT_LINK;
	else if (!S_ISREG(st.st_mode))
		rc = S_ATT_NOTREG;
	else {
		*size = (long long)st.st_size;
		rc = S_ATT_OK;
	}
	free(real);
	free(abs);
	return rc;
}

/* Is filters/<name>.lua a file?  Shared by the scan and the scan cache. */
static int
S_filter_exists(const char *root, const char *name)
{
	char	*rel = xasprintf("filters/%s.lua", name);
	char	*abs = path_join(root, rel);
	struct stat st;
	int	 ok = stat(abs, &st) == 0 && S_ISREG(st.st_mode);

	free(rel);
	free(abs);
	return ok;
}

/* Attachments sit beside the report; copied to files/<slug>/<name>. */
static int
S_attachments(const char *root, const char *rootreal, struct report *r,
    const struct yval *v)
{
	char	*dir, *slash;
	size_t	 i, j;
	int	 rc = 0;

	if (v->type != YV_SEQ) {
		diag_error(r->path, v->line, v->col, "'attachments' must be a "
		    "list of file names, e.g. attachments: [统计表.csv]");
		return -1;
	}
	/* Each name is checked against the others: keep n small. */
	if (v->n > MAX_ATTACHMENTS) {
		diag_error(r->path, v->line, v->col, "'attachments' lists %zu "
		    "files; the limit is %d", v->n, MAX_ATTACHMENTS);
		return -1;
	}
	dir = xstrdup(r->path);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	r->attachments = xcalloc(v->n + 1, sizeof(*r->attachments));
	for (i = 0; i < v->n; i++) {
		const struct yval *e = v->items[i];
		struct attachment *a = &r->attachments[r->nattachments];
		char *name = S_text(r->path, e, "attachments");

		if (name == NULL) {
			rc = -1;
			continue;
		}
		if (!path_is_safe(name)) {
			diag_error(r->path, e->line, e->col, "attachment \"%s\" "
			    "must be a relative path inside the report's "
			    "directory (no .., no leading /, no \\)", name);
			free(name);
			rc = -1;
			continue;
		}
		for (j = 0; j < r->nattachments; j++)
			if (!strcmp(r->attachments[j].name, name))
				break;
		if (j < r->nattachments) {
			diag_error(r->path, e->line, e->col, "attachment \"%s\" "
			    "is listed twice", name);
			free(name);
			rc = -1;
			continue;
		}
		a->src = path_join(dir, name);
		switch (S_attachment_state(root, rootreal, a->src, &a->size)) {
		case S_ATT_MISSING:
			diag_error(r->path, e->line, e->col, "attachment \"%s\" "
			    "not found (looked for %s)", name, a->src);
			rc = -1;
			break;
		case S_ATT_LINK:
			diag_error(r->path, e->line, e->col, "attachment \"%s\" "
			    "is a symbolic link; commit the file itself", name);
			rc = -1;
			break;
		case S_ATT_NOTREG:
			diag_error(r->path, e->line, e->col, "attachment \"%s\" "
			    "is not a regular file", name);
			rc = -1;
			break;
		}
		a->name = name;
		r->nattachments++;
	}
	free(dir);
	return rc;
}

static int
S_filters(const char *root, struct report *r, const struct yval *v)
{
	size_t	 i;
	int	 rc = 0;

	if (v->type != YV_SEQ) {
		diag_error(r->path, v->line, v->col, "'filters' must be a list "
		    "of filter names, e.g. filters: [stats]");
		return -1;
	}
	r->filters = xcalloc(v->n + 1, sizeof(char *));
	for (i = 0; i < v->n; i++) {
		const struct yval *e = v->items[i];
		char *name = S_text(r->path, e, "filters");

		if (name == NULL) {
			rc = -1;
			continue;
		}
		if (!config_filter_name_ok(name)) {
			diag_error(r->path, e->line, e->col, "filter name \"%s\" "
			    "may hold only a-z, 0-9, - and _", name);
			free(name);
			rc = -1;
			continue;
		}
		if (!S_filter_exists(root, name)) {
			diag_error(r->path, e->line, e->col, "no filter \"%s\" "
			    "(filters/%s.lua not found)", name, name);
			rc = -1;
		}
		r->filters[r->nfilters++] = name;
	}
	return rc;
}

/* The text of the first ```stats (or ~~~stats) fenced block in the body. */
static char *
S_stats(const char *body, size_t len)
{
	const char *p = body, *end = body + len, *nl, *start = NULL, *q;
	char	 fence = 0;
	size_t	 flen = 0, n;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		q = p;
		while (q < nl && *q == ' ' && q - p < 3)
			q++;
		if (start == NULL) {
			if (nl - q >= 3 && (*q == '`' || *q == '~') &&
			    q[1] == *q && q[2] == *q) {
				fence = *q;
				for (n = 0; q + n < nl && q[n] == fence; n++)
					;
				flen = n;
				q += n;
				while (q < nl && *q == ' ')
					q++;
				if (nl - q >= 5 && memcmp(q, "stats", 5) == 0 &&
				    (q + 5 == nl || q[5] == ' ' || q[5] == '\r'))
					start = nl < end ? nl + 1 : nl;
			}
		} else {
			for (n = 0; q + n < nl && q[n] == fence; n++)
				;
			if (n >= flen) {
				while (q + n < nl && (q[n] == ' ' || q[n] == '\r'))
					n++;
				if (q + n == nl)
					return xstrndup(start, (size_t)(p - start));
			}
		}
		p = nl < end ? nl + 1 : end;
	}
	return start ? xstrndup(start, (size_t)(end - start)) : NULL;
}

struct S_key {
	const struct yval *k;
	size_t		 i;	/* position in the map */
};

static int
S_key_cmp(const void *a, const void *b)
{
	const struct S_key *x = a, *y = b;
	int	 c = strcmp(x->k->str, y->k->str);

	return c ? c : x->i < y->i ? -1 : x->i > y->i;
}

/*
 * Diagnose every key given again after its first appearance.  Sorted,
 * not compared pairwise: front matter may hold up to 50000 keys (the
 * YAML node limit), and comparing each with every other took minutes.
 */
static int
S_duplicate_keys(const char *path, const struct yval *y)
{
	struct S_key *v;
	size_t	 i;
	int	 rc = 0;

	if (y->n < 2)
		return 0;
	v = xcalloc(y->n, sizeof(*v));
	for (i = 0; i < y->n; i++) {
		v[i].k = y->keys[i];
		v[i].i = i;
	}
	qsort(v, y->n, sizeof(*v), S_key_cmp);
	for (i = 1; i < y->n; i++)
		if (strcmp(v[i].k->str, v[i - 1].k->str) == 0) {
			diag_error(path, v[i].k->line, v[i].k->col,
			    "'%s' is set twice", v[i].k->str);
			rc = -1;
		}
	free(v);
	return rc;
}

/*
 * The scan cache, OUT.fazhi-scan (beside OUT).  Integers are little-endian:
 *
 *	"fazhi-scan 1\n"	magic and format version
 *	key[32]			S_cache_key(): format, generator, site.yaml
 *	u32 n			entries, in walk order
 *	n entries:
 *	  str path
 *	  u64 dev, ino, size, mtime s, mtime ns, ctime s, ctime ns
 *	  hash[32], u64 body_off, u32 body_line, u32 year
 *	  str title, department, category, date, source, summary,
 *	      slug (absent when derived from the path), stats
 *	  u32 n, str attachment name...; u32 n, str filter name...
 *	u64 sum			S_checksum() of everything before it
 *
 * A str is a u32 length (0xffffffff: absent) and that many bytes.
 * Attachment paths and sizes are not stored: they are checked on disk
 * again for every cached report, as the scan checks them.
 *
 * Racy timestamps.  A file changed twice within one tick of the file
 * system's clock, the second time after the scan read it, keeps the
 * size and timestamps the cache recorded.  So an entry is trusted only
 * when the file's mtime and ctime are more than S_SLACK_NS before the
 * moment the recording scan began: a change after the read would have
 * left a later timestamp.  That moment is not stored in the file,
 * whose bytes depend only on the inputs (two builds of the same tree
 * write the same cache); content_scan_save() makes it the file's mtime.
 * A cache dated in the future (the clock went back) is not used.
 */
#define S_MAGIC		"fazhi-scan 1\n"
#define S_MAGIC_LEN	(sizeof(S_MAGIC) - 1)
#define S_GENERATOR	"fazhi-0.1.0 " __DATE__ " " __TIME__
#define S_CACHE_MAX	(1LL << 30)	/* bytes: larger is not ours */
#define S_MAX_FILTERS	1000		/* per cached report; more: read it */
#define S_SLACK_NS	1000000000LL	/* coarse or skewed file system clocks */
#define S_ABSENT	0xffffffffu
#define S_HEAD_LEN	(S_MAGIC_LEN + 32 + 4)

struct S_centry {
	const char	*path;		/* not NUL-terminated */
	size_t		 pathlen;
	const unsigned char *p, *end;	/* the fields after the path */
};

struct S_cache {
	char		*data;
	size_t		 len;
	long long	 trust_before;	/* ns: files older than this may be trusted */
	struct S_centry	*v;		/* sorted by path */
	size_t		 n;
};

/* A bounds-checked reader: any overrun sets bad and yields zeroes. */
struct S_rd {
	const unsigned char *p, *end;
	int		 bad;
};

static const unsigned char *
S_rd_bytes(struct S_rd *rd, size_t n)
{
	const unsigned char *p = rd->p;

	if (rd->bad || (size_t)(rd->end - rd->p) < n) {
		rd->bad = 1;
		return NULL;
	}
	rd->p += n;
	return p;
}

static uint64_t
S_rd_u64(struct S_rd *rd)
{
	const unsigned char *p = S_rd_bytes(rd, 8);
	uint64_t v = 0;
	int	 i;

	for (i = 7; p != NULL && i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t
S_rd_u32(struct S_rd *rd)
{
	const unsigned char *p = S_rd_bytes(rd, 4);

	return p == NULL ? 0 : (uint32_t)p[0] | (uint32_t)p[1] << 8 |
	    (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A str: its bytes, or NULL when absent (or bad). */
static const char *
S_rd_str(struct S_rd *rd, size_t *len)
{
	uint32_t n = S_rd_u32(rd);

	*len = 0;
	if (rd->bad || n == S_ABSENT)
		return NULL;
	*len = n;
	return (const char *)S_rd_bytes(rd, n);
}

static void
S_put_u32(struct buf *b, uint32_t v)
{
	unsigned char c[4] = { v, v >> 8, v >> 16, v >> 24 };

	buf_put(b, c, 4);
}

static void
S_put_u64(struct buf *b, uint64_t v)
{
	unsigned char c[8];
	int	 i;

	for (i = 0; i < 8; i++)
		c[i] = (unsigned char)(v >> (8 * i));
	buf_put(b, c, 8);
}

static void
S_put_str(struct buf *b, const char *s)
{
	size_t	 n = s ? strlen(s) : 0;

	/* Longer cannot be a field of a report under MAX_REPORT_BYTES. */
	if (s == NULL || n >= S_ABSENT) {
		S_put_u32(b, S_ABSENT);
		return;
	}
	S_put_u32(b, (uint32_t)n);
	buf_put(b, s, n);
}

/*
 * A checksum against damage (a torn write, a flipped bit), not against
 * forgery: whatever passes it is still validated field by field.
 * SHA-256 took 20 ms of a 3.7 MB cache; this takes about one.
 */
/*
 * A 64-bit checksum over 8-byte words, streamed: the cache is written a
 * megabyte at a time, never held whole.
 */
struct S_ck {
	uint64_t	 h;
	uint64_t	 len;
	unsigned char	 tail[8];
	size_t		 ntail;
};

static void
S_ck_init(struct S_ck *c)
{
	memset(c, 0, sizeof(*c));
	c->h = 0x243f6a8885a308d3ULL;
}

static void
S_ck_update(struct S_ck *c, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t w;

	c->len += len;
	while (len > 0 && c->ntail > 0 && c->ntail < 8) {
		c->tail[c->ntail++] = *p++;
		len--;
		if (c->ntail == 8) {
			memcpy(&w, c->tail, 8);
			c->h = (c->h ^ w) * 0x9e3779b97f4a7c15ULL;
			c->h ^= c->h >> 31;
			c->ntail = 0;
		}
	}
	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, 8);
		c->h = (c->h ^ w) * 0x9e3779b97f4a7c15ULL;
		c->h ^= c->h >> 31;
	}
	memcpy(c->tail + c->ntail, p, len);
	c->ntail += len;
}

static uint64_t
S_ck_final(struct S_ck *c)
{
	uint64_t h = c->h;
	size_t	 i;

	for (i = 0; i < c->ntail; i++)
		h = (h ^ c->tail[i]) * 0x100000001b3ULL;
	h ^= c->len;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 32);
}

static uint64_t
S_checksum(const void *data, size_t len)
{
	struct S_ck c;

	S_ck_init(&c);
	S_ck_update(&c, data, len);
	return S_ck_final(&c);
}

/*
 * What the scan of an unchanged file depends on besides the file, its
 * attachments and its filters (those are checked per report): the
 * generator and the site's configuration.  The binary's size and
 * mtime stand for the generator, so that a rebuilt fazhi whose
 * validation changed in any module never trusts an older cache.
 */
static void
S_cache_key(const struct config *cfg, const char *root, unsigned char key[32])
{
	struct sha256 h;
	struct stat st;
	long long v[4] = { 0, 0, 0, 0 };
	char	*p, *text;
	size_t	 i, len;

	sha256_init(&h);
	sha256_update(&h, S_MAGIC, S_MAGIC_LEN);
	sha256_update(&h, S_GENERATOR, sizeof(S_GENERATOR));
	if (stat("/proc/self/exe", &st) == 0) {
		v[0] = (long long)st.st_size;
		v[1] = (long long)st.st_mtim.tv_sec;
		v[2] = (long long)st.st_mtim.tv_nsec;
		v[3] = (long long)st.st_ino;
	}
	sha256_update(&h, v, sizeof(v));
	p = path_join(root, "site.yaml");
	if (file_read(p, &text, &len) == 0) {
		sha256_update(&h, &len, sizeof(len));
		sha256_update(&h, text, len);
		free(text);
	}
	free(p);
	/* What the scan reads of the config, in case it comes from elsewhere too. */
#define LIST(a, n) do { \
	sha256_update(&h, &(n), sizeof(n)); \
	for (i = 0; i < (n); i++) \
		sha256_update(&h, (a)[i], strlen((a)[i]) + 1); \
} while (0)
	LIST(cfg->categories, cfg->ncategories);
	LIST(cfg->required, cfg->nrequired);
	LIST(cfg->fields, cfg->nfields);
#undef LIST
	sha256_final(&h, key);
}

static int
S_centry_cmp(const void *a, const void *b)
{
	const struct S_centry *x = a, *y = b;
	size_t	 n = x->pathlen < y->pathlen ? x->pathlen : y->pathlen;
	int	 c = memcmp(x->path, y->path, n);

	if (c != 0)
		return c;
	return x->pathlen < y->pathlen ? -1 : x->pathlen > y->pathlen;
}

/* Skip one entry after its path; sets rd->bad if it does not fit. */
static void
S_centry_skip(struct S_rd *rd)
{
	size_t	 len, k;
	uint32_t n;
	int	 list;

	S_rd_bytes(rd, 7 * 8 + 32 + 8 + 4 + 4);
	for (k = 0; k < 8; k++)
		S_rd_str(rd, &len);
	for (list = 0; list < 2; list++) {
		n = S_rd_u32(rd);
		/* Each str takes 4 bytes at least: no huge loop on a lie. */
		if ((size_t)(rd->end - rd->p) / 4 < n) {
			rd->bad = 1;
			return;
		}
		for (k = 0; k < n && !rd->bad; k++)
			S_rd_str(rd, &len);
	}
}

static void
S_cache_free(struct S_cache *c)
{
	free(c->data);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

/*
 * Read and index the cache at path.  Return 0, or -1 when it is
 * missing, damaged, for other inputs or from the future: then nothing
 * is taken from it.  Nothing is diagnosed: a cache only saves time.
 */
static int
S_cache_load(struct S_cache *c, const char *path, const unsigned char key[32],
    const struct timespec *now)
{
	struct stat st;
	struct S_rd rd;
	uint32_t n, k;
	ssize_t	 got;
	size_t	 off = 0;
	int	 fd;

	memset(c, 0, sizeof(*c));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	/* One descriptor: a build publishing meanwhile cannot mix two files. */
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size < (off_t)(S_HEAD_LEN + 8) ||
	    st.st_size > S_CACHE_MAX ||
	    st.st_mtim.tv_sec > now->tv_sec) {
		close(fd);
		return -1;
	}
	c->len = (size_t)st.st_size;
	c->data = xmalloc(c->len);
	while (off < c->len) {
		got = read(fd, c->data + off, c->len - off);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		off += (size_t)got;
	}
	close(fd);
	if (off != c->len)
		goto bad;
	c->trust_before = (long long)st.st_mtim.tv_sec * 1000000000LL +
	    st.st_mtim.tv_nsec - S_SLACK_NS;
	if (memcmp(c->data, S_MAGIC, S_MAGIC_LEN) != 0 ||
	    memcmp(c->data + S_MAGIC_LEN, key, 32) != 0)
		goto bad;
	rd.p = (const unsigned char *)c->data + c->len - 8;
	rd.end = rd.p + 8;
	rd.bad = 0;
	if (S_rd_u64(&rd) != S_checksum(c->data, c->len - 8))
		goto bad;
	rd.p = (const unsigned char *)c->data + S_MAGIC_LEN + 32;
	rd.end = (const unsigned char *)c->data + c->len - 8;
	n = S_rd_u32(&rd);
	/* An entry takes more than 100 bytes: a larger n is a lie. */
	if (n > c->len / 100)
		goto bad;
	c->v = xcalloc((size_t)n + 1, sizeof(*c->v));
	for (k = 0; k < n && !rd.bad; k++) {
		struct S_centry *e = &c->v[k];

		e->path = S_rd_str(&rd, &e->pathlen);
		e->p = rd.p;
		S_centry_skip(&rd);
		e->end = rd.p;
		if (e->path == NULL)
			rd.bad = 1;
	}
	if (rd.bad || rd.p != rd.end)
		goto bad;
	c->n = n;
	qsort(c->v, c->n, sizeof(*c->v), S_centry_cmp);
	return 0;
bad:
	S_cache_free(c);
	return -1;
}

/*
 * Is s a value S_text() could have returned?  (Stricter is fine: a
 * refused entry only means the file is read.)
 */
static int
S_text_ok(const char *s, size_t len)
{
	size_t	 i;

	if (s == NULL || len == 0 || memchr(s, '\0', len) != NULL ||
	    utf8_invalid_at(s, len) != (size_t)-1)
		return 0;
	if ((len == 4 && memcmp(s, "null", 4) == 0) || (len == 1 && *s == '~'))
		return 0;
	for (i = 0; i < len && (s[i] == ' ' || s[i] == '\t'); i++)
		;
	if (i == len)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\n' && s[i] != '\t')
			return 0;
	return 1;
}

/* Read a text field into *out (NULL when absent); return -1 if invalid. */
static int
S_rd_text(struct S_rd *rd, char **out)
{
	size_t	 len;
	const char *s = S_rd_str(rd, &len);

	*out = NULL;
	if (rd->bad)
		return -1;
	if (s == NULL)
		return 0;
	if (!S_text_ok(s, len))
		return -1;
	*out = xstrndup(s, len);
	return 0;
}

static long long
S_ns(const struct timespec *ts)
{
	return (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static void S_report_free(struct report *);
static char *S_derived_slug(const char *path);

/*
 * Fill report i from the cache when its entry matches the file's stat
 * st, is trusted and valid, and its attachments and filters still
 * check out as the scan would find them.  Return 0 if filled; -1 if
 * the file must be read (report i is left as it was).
 */
static int
S_cache_take(const struct S_cache *c, const struct config *cfg,
    const char *root, const char *rootreal, struct report *r,
    const struct stat *st, int *derived)
{
	struct S_centry key, *e;
	struct report t;
	struct S_rd rd;
	const unsigned char *h;
	const char *s;
	uint64_t rec[7];
	char	*dir, *slash, *name;
	size_t	 len, k, j;
	uint32_t n;
	int	 i;

	key.path = r->path;
	key.pathlen = strlen(r->path);
	if (c->n == 0 || (e = bsearch(&key, c->v, c->n, sizeof(*c->v),
	    S_centry_cmp)) == NULL)
		return -1;
	rd.p = e->p;
	rd.end = e->end;
	rd.bad = 0;
	for (i = 0; i < 7; i++)
		rec[i] = S_rd_u64(&rd);
	if (rd.bad || rec[0] != (uint64_t)st->st_dev ||
	    rec[1] != (uint64_t)st->st_ino ||
	    rec[2] != (uint64_t)st->st_size ||
	    rec[3] != (uint64_t)st->st_mtim.tv_sec ||
	    rec[4] != (uint64_t)st->st_mtim.tv_nsec ||
	    rec[5] != (uint64_t)st->st_ctim.tv_sec ||
	    rec[6] != (uint64_t)st->st_ctim.tv_nsec ||
	    S_ns(&st->st_mtim) >= c->trust_before ||
	    S_ns(&st->st_ctim) >= c->trust_before ||
	    st->st_size > MAX_REPORT_BYTES)
		return -1;
	memset(&t, 0, sizeof(t));
	t.prev_year = t.next_year = NO_REPORT;
	t.size = (long long)st->st_size;
	if ((h = S_rd_bytes(&rd, 32)) != NULL)
		memcpy(t.hash, h, 32);
	t.body_off = (size_t)S_rd_u64(&rd);
	t.body_line = (int)S_rd_u32(&rd);
	t.year = (int)S_rd_u32(&rd);
	if (rd.bad || t.body_off > (size_t)t.size || t.body_line < 1 ||
	    t.year < 1949 || t.year > 2100)
		goto miss;
	if (S_rd_text(&rd, &t.title) == -1 ||
	    S_rd_text(&rd, &t.department) == -1 ||
	    S_rd_text(&rd, &t.category) == -1 ||
	    S_rd_text(&rd, &t.date) == -1 ||
	    S_rd_text(&rd, &t.source) == -1 ||
	    S_rd_text(&rd, &t.summary) == -1 ||
	    S_rd_text(&rd, &t.slug) == -1)
		goto miss;
	if (t.title == NULL || t.department == NULL || t.category == NULL ||
	    strlen(t.department) > 200 ||
	    config_category(cfg, t.category) < 0 ||
	    (t.date != NULL && !S_valid_date(t.date)) ||
	    (t.slug != NULL && !S_slug_ok(t.slug)))
		goto miss;
	t.cat = (size_t)config_category(cfg, t.category);
	for (k = 0; k < cfg->nrequired; k++)
		if ((!strcmp(cfg->required[k], "date") && t.date == NULL) ||
		    (!strcmp(cfg->required[k], "source") && t.source == NULL) ||
		    (!strcmp(cfg->required[k], "summary") && t.summary == NULL) ||
		    (!strcmp(cfg->required[k], "slug") && t.slug == NULL))
			goto miss;
	/* The stats block is body text: UTF-8 without NUL, may be empty. */
	if ((s = S_rd_str(&rd, &len)) != NULL) {
		if (memchr(s, '\0', len) != NULL ||
		    utf8_invalid_at(s, len) != (size_t)-1)
			goto miss;
		t.stats = xstrndup(s, len);
	}
	n = S_rd_u32(&rd);
	if (rd.bad || n > MAX_ATTACHMENTS)
		goto miss;
	t.attachments = xcalloc((size_t)n + 1, sizeof(*t.attachments));
	dir = xstrdup(r->path);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	for (k = 0; k < n; k++) {
		struct attachment *a = &t.attachments[k];

		if (S_rd_text(&rd, &name) == -1 || name == NULL ||
		    !path_is_safe(name)) {
			free(name);
			break;
		}
		for (j = 0; j < k; j++)
			if (!strcmp(t.attachments[j].name, name))
				break;
		a->name = name;
		t.nattachments++;
		a->src = path_join(dir, name);
		if (j < k || S_attachment_state(root, rootreal, a->src,
		    &a->size) != S_ATT_OK)
			break;
	}
	free(dir);
	if (k < n)
		goto miss;
	n = S_rd_u32(&rd);
	if (rd.bad || n > S_MAX_FILTERS)
		goto miss;
	t.filters = xcalloc((size_t)n + 1, sizeof(char *));
	for (k = 0; k < n; k++) {
		if (S_rd_text(&rd, &name) == -1 || name == NULL)
			break;
		t.filters[t.nfilters++] = name;
		if (!config_filter_name_ok(name) || !S_filter_exists(root, name))
			break;
	}
	if (k < n || rd.p != rd.end)
		goto miss;
	*derived = t.slug == NULL;
	if (t.slug == NULL)
		t.slug = S_derived_slug(r->path);
	t.path = r->path;
	*r = t;
	return 0;
miss:
	S_report_free(&t);
	return -1;
}

/* What the cache keeps of a file's stat: 56 bytes, not struct stat's 144. */
struct S_st {
	uint64_t	 v[7];	/* dev, ino, size, mtime s/ns, ctime s/ns */
};

static void
S_st_set(struct S_st *c, const struct stat *st)
{
	c->v[0] = (uint64_t)st->st_dev;
	c->v[1] = (uint64_t)st->st_ino;
	c->v[2] = (uint64_t)st->st_size;
	c->v[3] = (uint64_t)st->st_mtim.tv_sec;
	c->v[4] = (uint64_t)st->st_mtim.tv_nsec;
	c->v[5] = (uint64_t)st->st_ctim.tv_sec;
	c->v[6] = (uint64_t)st->st_ctim.tv_nsec;
}

/* Append report r, read from a file whose stat is st, to the cache b. */
static void
S_cache_put(struct buf *b, const struct report *r, const struct S_st *st,
    int derived)
{
	size_t	 k;

	S_put_str(b, r->path);
	for (k = 0; k < 7; k++)
		S_put_u64(b, st->v[k]);
	buf_put(b, r->hash, 32);
	S_put_u64(b, (uint64_t)r->body_off);
	S_put_u32(b, (uint32_t)r->body_line);
	S_put_u32(b, (uint32_t)r->year);
	S_put_str(b, r->title);
	S_put_str(b, r->department);
	S_put_str(b, r->category);
	S_put_str(b, r->date);
	S_put_str(b, r->source);
	S_put_str(b, r->summary);
	S_put_str(b, derived ? NULL : r->slug);
	S_put_str(b, r->stats);
	S_put_u32(b, (uint32_t)r->nattachments);
	for (k = 0; k < r->nattachments; k++)
		S_put_str(b, r->attachments[k].name);
	S_put_u32(b, (uint32_t)r->nfilters);
	for (k = 0; k < r->nfilters; k++)
		S_put_str(b, r->filters[k]);
}

struct S_scan;
static int	 S_cache_write(const char *, const unsigned char *,
		    const struct S_scan *, size_t);

struct S_scan {
	const struct config *cfg;
	const char	*root;
	char		*rootreal;	/* realpath(root), or NULL */
	struct report	*reports;
	char		**paths;
	int		*ok;
	const struct S_cache *cache;	/* the published cache, or NULL */
	struct S_st	*st;		/* each file's stat before it was read */
	struct S_arena	*arenas;	/* per worker: the valid reports' strings */
	unsigned char	*flags;		/* S_F_*, per file */
	size_t		 hits;		/* reports taken from the cache */
};

#define S_F_STAT	0x01	/* st[i] is set */
#define S_F_CLEAN	0x02	/* valid without any diagnostic: cacheable */
#define S_F_DERIVED	0x04	/* the slug comes from the file name */

/*
 * The strings of valid reports live in arenas, one per scan worker: a
 * national site has a million reports, and malloc's per-string overhead
 * and the fragmentation left by each file's parse would double the
 * index.  Department, category, source and date recur across reports
 * and are stored once per arena.
 */
struct S_arena {
	struct arena	 a;
	const char	**tab;		/* interned strings, open addressing */
	size_t		 tabcap, tabn;
};

/* A copy of s in the arena; s (malloc'd) is freed.  NULL stays NULL. */
static char *
S_arena_take(struct S_arena *a, char *s)
{
	size_t	 n;
	char	*p;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	p = arena_alloc(&a->a, n, 1);
	memcpy(p, s, n);
	free(s);
	return p;
}

/* As S_arena_take, but equal strings share one copy. */
static char *
S_arena_intern(struct S_arena *a, char *s)
{
	size_t	 i, k;
	const char **old;
	char	*p;

	if (s == NULL)
		return NULL;
	if ((a->tabn + 1) * 2 > a->tabcap) {
		old = a->tab;
		k = a->tabcap;
		a->tabcap = k ? k * 2 : 256;
		a->tab = xcalloc(a->tabcap, sizeof(*a->tab));
		for (i = 0; i < k; i++)
			if (old[i] != NULL) {
				size_t j = str_hash(old[i]) & (a->tabcap - 1);

				while (a->tab[j] != NULL)
					j = (j + 1) & (a->tabcap - 1);
				a->tab[j] = old[i];
			}
		free(old);
	}
	for (i = str_hash(s) & (a->tabcap - 1); a->tab[i] != NULL;
	    i = (i + 1) & (a->tabcap - 1))
		if (strcmp(a->tab[i], s) == 0) {
			free(s);
			return (char *)a->tab[i];
		}
	p = S_arena_take(a, s);
	a->tab[i] = p;
	a->tabn++;
	return p;
}

static void
S_arena_free(struct S_arena *a)
{
	arena_free(&a->a);
	free(a->tab);
	memset(a, 0, sizeof(*a));
}

/* Move report r's strings and arrays into arena a. */
static void
S_arena_report(struct S_arena *a, struct report *r)
{
	struct attachment *av;
	char	**fv;
	size_t	 k;

	r->path = S_arena_take(a, r->path);
	r->title = S_arena_take(a, r->title);
	r->department = S_arena_intern(a, r->department);
	r->category = S_arena_intern(a, r->category);
	r->date = S_arena_intern(a, r->date);
	r->source = S_arena_intern(a, r->source);
	r->summary = S_arena_take(a, r->summary);
	r->slug = S_arena_take(a, r->slug);
	r->url = S_arena_take(a, r->url);
	r->out = S_arena_take(a, r->out);
	r->stats = S_arena_take(a, r->stats);
	if (r->attachments != NULL) {
		av = arena_alloc(&a->a, (r->nattachments + 1) * sizeof(*av),
		    sizeof(void *));
		memcpy(av, r->attachments, (r->nattachments + 1) * sizeof(*av));
		free(r->attachments);
		r->attachments = av;
		for (k = 0; k < r->nattachments; k++) {
			av[k].name = S_arena_take(a, av[k].name);
			av[k].src = S_arena_take(a, av[k].src);
			av[k].url = S_arena_take(a, av[k].url);
			av[k].out = S_arena_take(a, av[k].out);
		}
	}
	if (r->filters != NULL) {
		fv = arena_alloc(&a->a, (r->nfilters + 1) * sizeof(*fv),
		    sizeof(void *));
		memcpy(fv, r->filters, (r->nfilters + 1) * sizeof(*fv));
		free(r->filters);
		r->filters = fv;
		for (k = 0; k < r->nfilters; k++)
			fv[k] = S_arena_intern(a, fv[k]);
	}
	r->pooled = 1;
}

/* content/市司法局/2021.md -> 市司法局-2021 */
static char *
S_derived_slug(const char *path)
{
	const char *rel = path;
	char	*p, *slug;

	if (strncmp(rel, "content/", 8) == 0)
		rel += 8;
	p = xstrndup(rel, strlen(rel) - 3);
	slug = S_file_key(p);
	free(p);
	for (p = slug; *p; p++)
		if (*p == '/')
			*p = '-';
	return slug;
}

/* Fill one report from its file; diagnose everything wrong with it. */
static void
S_scan_file(void *ctx, size_t i, int worker)
{
	struct S_scan *sc = ctx;
	struct report *r = &sc->reports[i];
	const struct config *cfg = sc->cfg;
	struct fm_split sp;
	struct yval *y, *v;
	char	*abs, *text = NULL;
	size_t	 len, k, j;
	long long year;
	int	 rc = 0, known;
	struct sha256 h;
	struct stat st;
	size_t	 ndiag = diag_thread_count();
	int	 derived = 0;

	(void)worker;
	r->path = sc->paths[i];
	r->prev_year = r->next_year = NO_REPORT;
	abs = path_join(sc->root, r->path);
	if (stat(abs, &st) == 0) {
		S_st_set(&sc->st[i], &st);
		sc->flags[i] |= S_F_STAT;
		if (sc->cache != NULL && S_cache_take(sc->cache, cfg, sc->root,
		    sc->rootreal, r, &st, &derived) == 0) {
			sc->ok[i] = 1;
			sc->flags[i] |= S_F_CLEAN | (derived ? S_F_DERIVED : 0);
			__atomic_add_fetch(&sc->hits, 1, __ATOMIC_RELAXED);
			free(abs);
			return;
		}
	}
	/* Refuse by size before reading: a huge file must not fill memory. */
	if ((sc->flags[i] & S_F_STAT) && st.st_size > MAX_REPORT_BYTES) {
		diag_error(r->path, 1, 1, "report is %lld bytes; the limit is "
		    "%lld MiB", (long long)st.st_size, MAX_REPORT_BYTES >> 20);
		free(abs);
		return;
	}
	if (file_read(abs, &text, &len) == -1) {
		diag_error(r->path, 0, 0, "cannot read: %s", strerror(errno));
		free(abs);
		return;
	}
	free(abs);
	if ((long long)len > MAX_REPORT_BYTES) {
		diag_error(r->path, 1, 1, "report is %zu bytes; the limit is "
		    "%lld MiB", len, MAX_REPORT_BYTES >> 20);
		free(text);
		return;
	}
	r->size = (long long)len;
	sha256_init(&h);
	sha256_update(&h, text, len);
	sha256_final(&h, r->hash);
	if ((y = fm_parse(r->path, text, len, &sp)) == NULL) {
		free(text);
		return;
	}
	r->body_off = sp.body_off;
	r->body_line = sp.body_line;
	if (S_duplicate_keys(r->path, y) == -1)
		rc = -1;
	for (k = 0; k < y->n; k++) {
		const char *key = y->keys[k]->str;

		known = 0;
		for (j = 0; S_fields[j]; j++)
			if (!strcmp(S_fields[j], key))
				known = 1;
		for (j = 0; j < cfg->nfields; j++)
			if (!strcmp(cfg->fields[j], key))
				known = 1;
		if (!known) {
			const char *best = NULL;
			size_t	 bd = 3, d;

			for (j = 0; S_fields[j]; j++)
				if ((d = S_distance(key, S_fields[j])) < bd) {
					bd = d;
					best = S_fields[j];
				}
			diag_warn(r->path, y->keys[k]->line, y->keys[k]->col,
			    "unknown front-matter key '%s' is ignored", key);
			if (best)
				diag_hint("did you mean '%s'?", best);
			else
				diag_hint("known keys: title, department, year, "
				    "category, date, source, slug, summary, "
				    "attachments, filters; a site can allow more "
				    "with fields: in site.yaml");
		}
	}
	for (j = 0; j < cfg->nrequired; j++)
		if (yval_get(y, cfg->required[j]) == NULL) {
			diag_error(r->path, y->line, y->col, "missing required "
			    "field '%s'", cfg->required[j]);
			rc = -1;
		}
#define TEXTFIELD(name, field) \
	if ((v = yval_get(y, name)) != NULL && \
	    (r->field = S_text(r->path, v, name)) == NULL) \
		rc = -1;
	TEXTFIELD("title", title)
	TEXTFIELD("department", department)
	TEXTFIELD("source", source)
	TEXTFIELD("summary", summary)
#undef TEXTFIELD
	if ((v = yval_get(y, "category")) != NULL) {
		if ((r->category = S_text(r->path, v, "category")) == NULL)
			rc = -1;
		else if (config_category(cfg, r->category) < 0) {
			struct buf hint = { 0 };

			for (j = 0; j < cfg->ncategories; j++)
				buf_printf(&hint, "%s%s", j ? "、" : "",
				    cfg->categories[j]);
			diag_error(r->path, v->line, v->col, "unknown category "
			    "\"%s\"", r->category);
			diag_hint("allowed categories (site.yaml): %s",
			    buf_cstr(&hint));
			buf_free(&hint);
			rc = -1;
		} else
			r->cat = (size_t)config_category(cfg, r->category);
	}
	if ((v = yval_get(y, "year")) != NULL) {
		if (!yval_int(v, &year) || year < 1949 || year > 2100) {
			diag_error(r->path, v->line, v->col, "'year' must be a "
			    "whole number from 1949 to 2100, not \"%s\"",
			    v->type == YV_SCALAR ? v->str : "…");
			rc = -1;
		} else
			r->year = (int)year;
	}
	if ((v = yval_get(y, "date")) != NULL) {
		if ((r->date = S_text(r->path, v, "date")) == NULL)
			rc = -1;
		else if (!S_valid_date(r->date)) {
			diag_error(r->path, v->line, v->col, "'date' must be a "
			    "date written YYYY-MM-DD, not \"%s\"", r->date);
			rc = -1;
		}
	}
	if ((v = yval_get(y, "slug")) != NULL) {
		if ((r->slug = S_text(r->path, v, "slug")) == NULL)
			rc = -1;
		else if (!S_slug_ok(r->slug)) {
			diag_error(r->path, v->line, v->col, "'slug' may hold "
			    "only a-z, 0-9 and -, not \"%s\"", r->slug);
			diag_hint("the slug names the page's file; leave it out "
			    "to use the report's file name");
			rc = -1;
		}
	}
	if (r->department && strlen(r->department) > 200) {
		v = yval_get(y, "department");
		diag_error(r->path, v->line, v->col, "'department' is longer "
		    "than 200 bytes");
		rc = -1;
	}
	if ((v = yval_get(y, "attachments")) != NULL &&
	    S_attachments(sc->root, sc->rootreal, r, v) == -1)
		rc = -1;
	if ((v = yval_get(y, "filters")) != NULL &&
	    S_filters(sc->root, r, v) == -1)
		rc = -1;
	if (r->slug == NULL) {
		r->slug = S_derived_slug(r->path);
		derived = 1;
	}
	r->stats = S_stats(text + sp.body_off, len - sp.body_off);
	/* Bodies cmark-gfm cannot render in bounded memory fail here, early. */
	if (md_check(r->path, text + sp.body_off, len - sp.body_off,
	    sp.body_line - 1) == -1)
		rc = -1;
	yval_free(y);
	free(text);
	if (rc == 0 && r->title && r->department && r->category && r->year) {
		sc->ok[i] = 1;
		/* Only a report without any diagnostic may skip its scan. */
		if (diag_thread_count() == ndiag)
			sc->flags[i] |= S_F_CLEAN | (derived ? S_F_DERIVED : 0);
	} else if (rc == 0) {
		/* A site that does not require a field still needs it for the index. */
		diag_error(r->path, 1, 1, "a report needs title, department, "
		    "year and category");
	}
}

/*
 * Write the cache of this scan's clean reports to path, a megabyte at
 * a time.  Return 0, or -1 (path may be left partial: remove it).
 */
static int
S_cache_write(const char *path, const unsigned char *key,
    const struct S_scan *sc, size_t n)
{
	struct buf b = { 0 };
	struct S_ck ck;
	size_t	 i, cnt = 0, done;
	unsigned char sum[8];
	uint64_t v;
	FILE	*f;
	int	 rc = 0;

	for (i = 0; i < n; i++)
		if (sc->ok[i] && (sc->flags[i] & (S_F_STAT | S_F_CLEAN)) ==
		    (S_F_STAT | S_F_CLEAN))
			cnt++;
	if ((f = fopen(path, "we")) == NULL)
		return -1;
	S_ck_init(&ck);
	buf_put(&b, S_MAGIC, S_MAGIC_LEN);
	buf_put(&b, key, 32);
	S_put_u32(&b, (uint32_t)cnt);
	for (i = 0; i <= n && rc == 0; i++) {
		if (i < n && (!sc->ok[i] || (sc->flags[i] &
		    (S_F_STAT | S_F_CLEAN)) != (S_F_STAT | S_F_CLEAN)))
			continue;
		if (i < n)
			S_cache_put(&b, &sc->reports[i], &sc->st[i],
			    (sc->flags[i] & S_F_DERIVED) != 0);
		if (b.len < (1 << 20) && i < n)
			continue;
		done = b.len;
		S_ck_update(&ck, b.data, done);
		if (fwrite(b.data, 1, done, f) != done)
			rc = -1;
		buf_reset(&b);
	}
	v = S_ck_final(&ck);
	for (i = 0; i < 8; i++)
		sum[i] = (unsigned char)(v >> (8 * i));
	if (rc == 0 && fwrite(sum, 1, 8, f) != 8)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	buf_free(&b);
	return rc;
}

/* pool_run: scan file i; a valid report's strings go to the worker's arena. */
static void
S_scan_one(void *ctx, size_t i, int worker)
{
	struct S_scan *sc = ctx;

	S_scan_file(ctx, i, worker);
	if (sc->ok[i])
		S_arena_report(&sc->arenas[worker], &sc->reports[i]);
}

static int
S_by_dept_year(const void *a, const void *b)
{
	const struct report *x = a, *y = b;
	int	 c;

	if ((c = strcmp(x->department, y->department)) != 0)
		return c;
	if (x->year != y->year)
		return x->year < y->year ? -1 : 1;
	return strcmp(x->path, y->path);
}

static const struct report *S_sort_reports;

static int
S_by_newest(const void *a, const void *b)
{
	const struct report *x = &S_sort_reports[*(const size_t *)a];
	const struct report *y = &S_sort_reports[*(const size_t *)b];
	int	 c;

	if (x->year != y->year)
		return x->year > y->year ? -1 : 1;
	c = strcmp(x->date ? x->date : "", y->date ? y->date : "");
	if (c != 0)
		return -c;
	if ((c = strcmp(x->department, y->department)) != 0)
		return c;
	return strcmp(x->path, y->path);
}

static int
S_by_slug(const void *a, const void *b)
{
	const struct report *x = &S_sort_reports[*(const size_t *)a];
	const struct report *y = &S_sort_reports[*(const size_t *)b];
	int	 c = strcmp(x->slug, y->slug);

	return c ? c : strcmp(x->path, y->path);
}

static void
S_group_add(struct group *g, size_t i)
{
	g->reports = xgrow(g->reports, g->n, sizeof(size_t));
	g->reports[g->n++] = i;
}

static int
S_by_year_desc(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	int	 xa = atoi(x->name), ya = atoi(y->name);

	return xa == ya ? 0 : xa > ya ? -1 : 1;
}

static void
S_index(struct site *s)
{
	size_t	 i, k, *order;
	struct report *r;

	/* Departments: reports are sorted by department, so groups are runs. */
	for (i = 0; i < s->n; i++) {
		r = &s->reports[i];
		if (s->ndepts == 0 ||
		    strcmp(s->depts[s->ndepts - 1].name, r->department)) {
			s->depts = xgrow(s->depts, s->ndepts, sizeof(*s->depts));
			memset(&s->depts[s->ndepts], 0, sizeof(*s->depts));
			s->depts[s->ndepts].name = xstrdup(r->department);
			s->depts[s->ndepts].key = S_file_key(r->department);
			s->depts[s->ndepts].url = site_url("department",
			    s->depts[s->ndepts].key, ".html");
			s->ndepts++;
		} else {
			/* Same department: link the years. */
			r->prev_year = i - 1;
			s->reports[i - 1].next_year = i;
		}
		r->dept = s->ndepts - 1;
	}
	/* Newest first, the order every listing uses. */
	order = xcalloc(s->n + 1, sizeof(size_t));
	for (i = 0; i < s->n; i++)
		order[i] = i;
	S_sort_reports = s->reports;
	qsort(order, s->n, sizeof(size_t), S_by_newest);
	s->newest = order;
	for (k = 0; k < s->n; k++) {
		i = order[k];
		r = &s->reports[i];
		S_group_add(&s->depts[r->dept], i);
		S_group_add(&s->cats[r->cat], i);
		for (r->yr = 0; r->yr < s->nyears; r->yr++)
			if (atoi(s->years[r->yr].name) == r->year)
				break;
		if (r->yr == s->nyears) {
			s->years = xrealloc(s->years,
			    (s->nyears + 1) * sizeof(*s->years));
			memset(&s->years[s->nyears], 0, sizeof(*s->years));
			s->years[s->nyears].name = xasprintf("%d", r->year);
			s->years[s->nyears].key = xasprintf("%d", r->year);
			s->years[s->nyears].url = xasprintf("year/%d.html",
			    r->year);
			s->nyears++;
		}
		S_group_add(&s->years[r->yr], i);
	}
	/* Years newest first; order[] visited reports newest first already. */
	if (s->nyears > 0)
		qsort(s->years, s->nyears, sizeof(*s->years), S_by_year_desc);
	for (i = 0; i < s->n; i++)
		for (k = 0; k < s->nyears; k++)
			if (atoi(s->years[k].name) == s->reports[i].year)
				s->reports[i].yr = k;
}

int
content_scan(struct site *s, const struct config *cfg, const char *root,
    const char *cache, const char *newcache)
{
	struct S_list files = { 0 };
	struct S_scan sc;
	struct S_cache old;
	struct report *r;
	unsigned char key[32];
	size_t	 i, n, *byslug;
	int	 rc = 0, have = -1;
	const char *dbg;

	memset(s, 0, sizeof(*s));
	/* Before the walk: every file read later is younger or equal. */
	clock_gettime(CLOCK_REALTIME, &s->scanned);
	if (cache != NULL || newcache != NULL)
		S_cache_key(cfg, root, key);
	if (cache != NULL)
		have = S_cache_load(&old, cache, key, &s->scanned);
	S_walk(root, "content", &files, 0);
	if (diag_errors() > 0)
		rc = -1;
	memset(&sc, 0, sizeof(sc));
	sc.cfg = cfg;
	sc.root = root;
	sc.rootreal = realpath(root, NULL);
	sc.paths = files.v;
	sc.reports = xcalloc(files.n + 1, sizeof(struct report));
	sc.ok = xcalloc(files.n + 1, sizeof(int));
	sc.cache = have == 0 ? &old : NULL;
	sc.st = xcalloc(files.n + 1, sizeof(*sc.st));
	sc.flags = xcalloc(files.n + 1, 1);
	s->narenas = (size_t)pool_workers();
	sc.arenas = xcalloc(s->narenas, sizeof(*sc.arenas));
	s->arenas = sc.arenas;
	pool_run(files.n, pool_workers(), S_scan_one, &sc);
	if ((dbg = getenv("FAZHI_DEBUG_SCAN")) != NULL && *dbg == '1')
		fprintf(stderr, "fazhi: scan: %zu cached, %zu read\n", sc.hits,
		    files.n - sc.hits);
	if (have == 0)
		S_cache_free(&old);
	free(sc.rootreal);
	/* The new cache, in walk order: the same inputs, the same bytes. */
	if (newcache != NULL && S_cache_write(newcache, key, &sc, files.n) == -1)
		unlink(newcache);
	free(sc.st);
	free(sc.flags);
	/* Keep the valid reports; free the rest. */
	s->reports = sc.reports;
	for (i = n = 0; i < files.n; i++) {
		if (sc.ok[i]) {
			s->reports[n++] = s->reports[i];
			continue;
		}
		rc = -1;
		S_report_free(&s->reports[i]);
	}
	free(sc.ok);
	free(files.v);
	s->n = n;
	s->ncats = cfg->ncategories;
	s->cats = xcalloc(s->ncats + 1, sizeof(*s->cats));
	for (i = 0; i < s->ncats; i++) {
		s->cats[i].name = xstrdup(cfg->categories[i]);
		s->cats[i].key = S_file_key(cfg->categories[i]);
		s->cats[i].url = site_url("category", s->cats[i].key, ".html");
	}
	qsort(s->reports, s->n, sizeof(*s->reports), S_by_dept_year);
	for (i = 1; i < s->n; i++)
		if (!strcmp(s->reports[i].department,
		    s->reports[i - 1].department) &&
		    s->reports[i].year == s->reports[i - 1].year) {
			diag_error(s->reports[i].path, 0, 0, "a report for %s %d "
			    "already exists: %s", s->reports[i].department,
			    s->reports[i].year, s->reports[i - 1].path);
			diag_hint("each department has one report a year");
			rc = -1;
		}
	byslug = xcalloc(s->n + 1, sizeof(size_t));
	for (i = 0; i < s->n; i++)
		byslug[i] = i;
	S_sort_reports = s->reports;
	qsort(byslug, s->n, sizeof(size_t), S_by_slug);
	for (i = 1; i < s->n; i++)
		if (!strcmp(s->reports[byslug[i]].slug,
		    s->reports[byslug[i - 1]].slug)) {
			diag_error(s->reports[byslug[i]].path, 0, 0, "slug "
			    "\"%s\" is already used by %s",
			    s->reports[byslug[i]].slug,
			    s->reports[byslug[i - 1]].path);
			rc = -1;
		}
	free(byslug);
	for (i = 0; i < s->n; i++) {
		r = &s->reports[i];
		r->url = S_arena_take(&sc.arenas[0],
		    site_url("report", r->slug, ".html"));
		r->out = S_arena_take(&sc.arenas[0],
		    xasprintf("report/%s.html", r->slug));
		for (n = 0; n < r->nattachments; n++) {
			struct attachment *a = &r->attachments[n];
			char *rel = xasprintf("%s/%s", r->slug, a->name);

			a->out = S_arena_take(&sc.arenas[0],
			    xasprintf("files/%s", rel));
			a->url = S_arena_take(&sc.arenas[0],
			    site_url("files", rel, ""));
			free(rel);
		}
	}
	if (rc == 0)
		S_index(s);
	return rc;
}

int
report_read(const struct report *r, const char *root, char **data, size_t *len)
{
	char	*abs = path_join(root, r->path);
	int	 rc = file_read(abs, data, len);

	if (rc == -1)
		diag_error(r->path, 0, 0, "cannot read: %s", strerror(errno));
	free(abs);
	return rc;
}

static void
S_report_free(struct report *r)
{
	size_t	 k;

	if (r->pooled)		/* in the site's arenas */
		return;
	free(r->path);
	free(r->title);
	free(r->department);
	free(r->category);
	free(r->date);
	free(r->source);
	free(r->summary);
	free(r->slug);
	free(r->url);
	free(r->out);
	free(r->stats);
	for (k = 0; k < r->nattachments; k++) {
		free(r->attachments[k].name);
		free(r->attachments[k].src);
		free(r->attachments[k].url);
		free(r->attachments[k].out);
	}
	free(r->attachments);
	for (k = 0; k < r->nfilters; k++)
		free(r->filters[k]);
	free(r->filters);
}

void
site_free_reports(struct site *s)
{
	size_t	 i;

	for (i = 0; i < s->n; i++)
		S_report_free(&s->reports[i]);
}

/*
 * The file's mtime says when the scan that made it began; see "Racy
 * timestamps" above.  Failing that, no cache is better than one
 * dated later than its scan.
 */
int
content_scan_save(const struct site *s, const char *newcache, const char *path)
{
	struct timespec ts[2];
	struct stat st;

	if (newcache == NULL || stat(newcache, &st) == -1)
		return 0;
	ts[0] = ts[1] = s->scanned;
	if (utimensat(AT_FDCWD, newcache, ts, 0) == -1 ||
	    rename(newcache, path) == -1) {
		unlink(newcache);
		return -1;
	}
	return 0;
}

static void
S_free_groups(struct group *g, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(g[i].name);
		free(g[i].key);
		free(g[i].url);
		free(g[i].reports);
	}
	free(g);
}

void
site_free(struct site *s)
{
	size_t	 i;

	site_free_reports(s);
	for (i = 0; i < s->narenas; i++)
		S_arena_free(&((struct S_arena *)s->arenas)[i]);
	free(s->arenas);
	free(s->reports);
	free(s->newest);
	S_free_groups(s->depts, s->ndepts);
	S_free_groups(s->cats, s->ncats);
	S_free_groups(s->years, s->nyears);
	memset(s, 0, sizeof(*s));
}
