/*
 * content.c: walking content/, validating front matter, the site index.
 *
 * The scan runs in two steps: a single-threaded walk that lists the
 * *.md files in sorted order, then a parallel pass (pool.h) that reads
 * each file, hashes it and validates its front matter.  Checks across
 * reports (duplicate department and year, duplicate slugs) and the
 * groupings come after, on one thread.
 */
#define _GNU_SOURCE
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "content.h"
#include "diag.h"
#include "frontmatter.h"
#include "markdown.h"
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

static int
S_strcmp_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Walk dir (relative to root) and collect *.md files, skipping hidden
 * entries.  Symbolic links are not followed: a link could lead out of
 * the project, and a report should be a file in the repository.
 */
static void
S_walk(const char *root, const char *rel, struct S_list *out, int depth)
{
	char	*abs, *child;
	DIR	*d;
	struct dirent *de;
	struct stat st;
	struct S_list names = { 0 };
	size_t	 i, len;

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
		if (de->d_name[0] != '.')
			S_list_add(&names, xstrdup(de->d_name));
	closedir(d);
	if (names.n > 0)
		qsort(names.v, names.n, sizeof(char *), S_strcmp_p);
	for (i = 0; i < names.n; i++) {
		child = path_join(rel, names.v[i]);
		free(names.v[i]);
		char *ca = path_join(root, child);
		if (lstat(ca, &st) == -1) {
			diag_error(child, 0, 0, "cannot stat: %s",
			    strerror(errno));
			free(ca);
			free(child);
			continue;
		}
		free(ca);
		len = strlen(child);
		if (S_ISLNK(st.st_mode)) {
			if (len > 3 && strcmp(child + len - 3, ".md") == 0)
				diag_error(child, 0, 0, "symbolic links are not "
				    "followed: commit the report itself");
			free(child);
		} else if (S_ISDIR(st.st_mode)) {
			S_walk(root, child, out, depth + 1);
			free(child);
		} else if (S_ISREG(st.st_mode) && len > 3 &&
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
	free(names.v);
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

/* Attachments sit beside the report; copied to files/<slug>/<name>. */
static int
S_attachments(const char *root, struct report *r, const struct yval *v)
{
	char	*dir, *slash, *abs, *rootreal = NULL, *real = NULL;
	struct stat st;
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
	rootreal = realpath(root, NULL);
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
		abs = path_join(root, a->src);
		free(real);
		real = realpath(abs, NULL);
		if (lstat(abs, &st) == -1 || real == NULL) {
			diag_error(r->path, e->line, e->col, "attachment \"%s\" "
			    "not found (looked for %s)", name, a->src);
			rc = -1;
		} else if (S_ISLNK(st.st_mode) || rootreal == NULL ||
		    strncmp(real, rootreal, strlen(rootreal)) != 0 ||
		    real[strlen(rootreal)] != '/') {
			diag_error(r->path, e->line, e->col, "attachment \"%s\" "
			    "is a symbolic link; commit the file itself", name);
			rc = -1;
		} else if (!S_ISREG(st.st_mode)) {
			diag_error(r->path, e->line, e->col, "attachment \"%s\" "
			    "is not a regular file", name);
			rc = -1;
		} else
			a->size = (long long)st.st_size;
		free(abs);
		a->name = name;
		r->nattachments++;
	}
	free(real);
	free(rootreal);
	free(dir);
	return rc;
}

static int
S_filters(const char *root, struct report *r, const struct yval *v)
{
	size_t	 i;
	int	 rc = 0;
	struct stat st;

	if (v->type != YV_SEQ) {
		diag_error(r->path, v->line, v->col, "'filters' must be a list "
		    "of filter names, e.g. filters: [stats]");
		return -1;
	}
	r->filters = xcalloc(v->n + 1, sizeof(char *));
	for (i = 0; i < v->n; i++) {
		const struct yval *e = v->items[i];
		char *name = S_text(r->path, e, "filters");
		char *rel, *abs;

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
		rel = xasprintf("filters/%s.lua", name);
		abs = path_join(root, rel);
		if (stat(abs, &st) == -1 || !S_ISREG(st.st_mode)) {
			diag_error(r->path, e->line, e->col, "no filter \"%s\" "
			    "(%s not found)", name, rel);
			rc = -1;
		}
		free(rel);
		free(abs);
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

struct S_scan {
	const struct config *cfg;
	const char	*root;
	struct report	*reports;
	char		**paths;
	int		*ok;
};

/* Fill one report from its file; diagnose everything wrong with it. */
static void
S_scan_one(void *ctx, size_t i, int worker)
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

	(void)worker;
	r->path = sc->paths[i];
	r->prev_year = r->next_year = NO_REPORT;
	abs = path_join(sc->root, r->path);
	/* Refuse by size before reading: a huge file must not fill memory. */
	if (stat(abs, &st) == 0 && st.st_size > MAX_REPORT_BYTES) {
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
	    S_attachments(sc->root, r, v) == -1)
		rc = -1;
	if ((v = yval_get(y, "filters")) != NULL &&
	    S_filters(sc->root, r, v) == -1)
		rc = -1;
	if (r->slug == NULL) {
		/* content/市司法局/2021.md -> 市司法局-2021 */
		const char *rel = r->path;
		char	*p;

		if (strncmp(rel, "content/", 8) == 0)
			rel += 8;
		p = xstrndup(rel, strlen(rel) - 3);
		r->slug = S_file_key(p);
		free(p);
		for (p = r->slug; *p; p++)
			if (*p == '/')
				*p = '-';
	}
	r->stats = S_stats(text + sp.body_off, len - sp.body_off);
	/* Bodies cmark-gfm cannot render in bounded memory fail here, early. */
	if (md_check(r->path, text + sp.body_off, len - sp.body_off,
	    sp.body_line - 1) == -1)
		rc = -1;
	yval_free(y);
	free(text);
	if (rc == 0 && r->title && r->department && r->category && r->year)
		sc->ok[i] = 1;
	else if (rc == 0) {
		/* A site that does not require a field still needs it for the index. */
		diag_error(r->path, 1, 1, "a report needs title, department, "
		    "year and category");
	}
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
content_scan(struct site *s, const struct config *cfg, const char *root)
{
	struct S_list files = { 0 };
	struct S_scan sc;
	struct report *r;
	size_t	 i, n, *byslug;
	int	 rc = 0;

	memset(s, 0, sizeof(*s));
	S_walk(root, "content", &files, 0);
	if (diag_errors() > 0)
		rc = -1;
	sc.cfg = cfg;
	sc.root = root;
	sc.paths = files.v;
	sc.reports = xcalloc(files.n + 1, sizeof(struct report));
	sc.ok = xcalloc(files.n + 1, sizeof(int));
	pool_run(files.n, pool_workers(), S_scan_one, &sc);
	/* Keep the valid reports; free the rest. */
	s->reports = sc.reports;
	for (i = n = 0; i < files.n; i++) {
		if (sc.ok[i]) {
			s->reports[n++] = s->reports[i];
			continue;
		}
		rc = -1;
		r = &s->reports[i];
		s->n = 0;
		/* Reuse site_free's logic on a one-report site. */
		struct site one = { .reports = r, .n = 1 };
		struct report copy = *r;
		one.reports = &copy;
		site_free_reports(&one);
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
		r->url = site_url("report", r->slug, ".html");
		r->out = xasprintf("report/%s.html", r->slug);
		for (n = 0; n < r->nattachments; n++) {
			struct attachment *a = &r->attachments[n];
			char *rel = xasprintf("%s/%s", r->slug, a->name);

			a->out = xasprintf("files/%s", rel);
			a->url = site_url("files", rel, "");
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

void
site_free_reports(struct site *s)
{
	size_t	 i, k;

	for (i = 0; i < s->n; i++) {
		struct report *r = &s->reports[i];

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
	site_free_reports(s);
	free(s->reports);
	free(s->newest);
	S_free_groups(s->depts, s->ndepts);
	S_free_groups(s->cats, s->ncats);
	S_free_groups(s->years, s->nyears);
	memset(s, 0, sizeof(*s));
}
