/*
 * links.c: the internal link check (see links.h).
 *
 * Everything is keyed by decoded paths relative to the site root, the
 * form the files have on disk ("department/市司法局.html"), so a link
 * written percent-encoded and one written in plain Chinese compare
 * equal.  Two string sets do the work: the files of the site, and
 * "page\nid" for every id of every page.
 */
#define _GNU_SOURCE
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmark-gfm.h>

#include "buf.h"
#include "config.h"
#include "content.h"
#include "diag.h"
#include "links.h"
#include "markdown.h"
#include "pool.h"
#include "util.h"

/* ---- a set of strings (open addressing, FNV-1a) ---- */

struct S_set {
	char	**v;		/* slots, NULL when empty */
	size_t	 cap;		/* a power of two */
	size_t	 n;
};

static uint64_t
S_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	size_t	 i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static int
S_set_has(const struct S_set *set, const char *s)
{
	size_t	 i, len = strlen(s);

	if (set->cap == 0)
		return 0;
	for (i = S_hash(s, len) & (set->cap - 1); set->v[i] != NULL;
	    i = (i + 1) & (set->cap - 1))
		if (strcmp(set->v[i], s) == 0)
			return 1;
	return 0;
}

/* Add s (copied); return 1 if it was new, 0 if already there. */
static int
S_set_add(struct S_set *set, const char *s)
{
	size_t	 i, k, len = strlen(s);
	char	**old;
	size_t	 oldcap;

	if (S_set_has(set, s))
		return 0;
	if ((set->n + 1) * 2 > set->cap) {
		old = set->v;
		oldcap = set->cap;
		set->cap = oldcap ? oldcap * 2 : 64;
		set->v = xcalloc(set->cap, sizeof(char *));
		for (k = 0; k < oldcap; k++) {
			if (old[k] == NULL)
				continue;
			for (i = S_hash(old[k], strlen(old[k])) &
			    (set->cap - 1); set->v[i] != NULL;
			    i = (i + 1) & (set->cap - 1))
				;
			set->v[i] = old[k];
		}
		free(old);
	}
	for (i = S_hash(s, len) & (set->cap - 1); set->v[i] != NULL;
	    i = (i + 1) & (set->cap - 1))
		;
	set->v[i] = xstrdup(s);
	set->n++;
	return 1;
}

static void
S_set_free(struct S_set *set)
{
	size_t	 i;

	for (i = 0; i < set->cap; i++)
		free(set->v[i]);
	free(set->v);
	memset(set, 0, sizeof(*set));
}

/* "page\nid": '\n' never occurs in a path or an id we index. */
static char *
S_idkey(const char *page, const char *id)
{
	return xasprintf("%s\n%s", page, id);
}

/* ---- URLs ---- */

static int
S_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..len); a '%' not followed by two hex digits stays. */
static void
S_pct_decode(struct buf *out, const char *s, size_t len)
{
	size_t	 i;
	int	 hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len &&
		    (hi = S_hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = S_hexval((unsigned char)s[i + 2])) >= 0) {
			buf_putc(out, hi * 16 + lo);
			i += 2;
		} else
			buf_putc(out, (unsigned char)s[i]);
	}
}


int
links_resolve(const char *from, const char *url, const char *base_path,
    char **target, char **fragment)
{
	const char *hash = strchr(url, '#'), *q, *seg, *end;
	struct buf path = { 0 }, out = { 0 };
	size_t	 plen, nseg = 0, i, segcap = 16;
	const char **segs;
	size_t	*seglen;
	const char *p, *slash;
	int	 dir = 0, rc = 0;

	*target = NULL;
	*fragment = NULL;
	plen = hash ? (size_t)(hash - url) : strlen(url);
	if ((q = memchr(url, '?', plen)) != NULL)
		plen = (size_t)(q - url);
	if (hash != NULL && hash[1] != '\0') {
		struct buf f = { 0 };

		S_pct_decode(&f, hash + 1, strlen(hash + 1));
		*fragment = buf_detach(&f);
	}
	if (plen == 0) {
		*target = xstrdup(from);
		return 0;
	}
	S_pct_decode(&path, url, plen);
	p = buf_cstr(&path);
	if (strlen(p) != path.len) {	/* %00 */
		rc = -1;
		goto out;
	}
	segs = xcalloc(segcap, sizeof(*segs));
	seglen = xcalloc(segcap, sizeof(*seglen));
	/* The starting directory: the page's own, or the site root. */
	if (p[0] == '/') {
		size_t bl = strlen(base_path);

		/* base_path ends in '/': "/fzzf/x" and "/fzzf" are inside. */
		if (strncmp(p, base_path, bl) == 0)
			p += bl;
		else if (bl > 0 && strncmp(p, base_path, bl - 1) == 0 &&
		    p[bl - 1] == '\0')
			p += bl - 1;
		else {
			free(segs);
			free(seglen);
			rc = -1;
			goto out;
		}
	} else {
		for (seg = from; (slash = strchr(seg, '/')) != NULL;
		    seg = slash + 1) {
			if (nseg == segcap) {
				segcap *= 2;
				segs = xrealloc(segs, segcap * sizeof(*segs));
				seglen = xrealloc(seglen, segcap * sizeof(*seglen));
			}
			segs[nseg] = seg;
			seglen[nseg++] = (size_t)(slash - seg);
		}
	}
	/* Walk the link's segments over it. */
	for (seg = p; ; seg = end + 1) {
		end = strchr(seg, '/');
		if (end == NULL)
			end = seg + strlen(seg);
		dir = 0;
		if (end - seg == 0 || (end - seg == 1 && seg[0] == '.'))
			dir = 1;
		else if (end - seg == 2 && seg[0] == '.' && seg[1] == '.') {
			dir = 1;
			if (nseg == 0) {
				free(segs);
				free(seglen);
				rc = -1;
				goto out;
			}
			nseg--;
		} else {
			if (nseg == segcap) {
				segcap *= 2;
				segs = xrealloc(segs, segcap * sizeof(*segs));
				seglen = xrealloc(seglen, segcap * sizeof(*seglen));
			}
			segs[nseg] = seg;
			seglen[nseg++] = (size_t)(end - seg);
		}
		if (*end == '\0')
			break;
	}
	for (i = 0; i < nseg; i++) {
		if (i > 0)
			buf_putc(&out, '/');
		buf_put(&out, segs[i], seglen[i]);
	}
	/* A directory is served by its index page. */
	if (dir) {
		if (out.len > 0)
			buf_putc(&out, '/');
		buf_puts(&out, "index.html");
	}
	*target = buf_detach(&out);
	free(segs);
	free(seglen);
out:
	buf_free(&path);
	buf_free(&out);
	if (rc == -1) {
		free(*fragment);
		*fragment = NULL;
	}
	return rc;
}

static int
S_ends_with(const char *s, const char *suffix)
{
	size_t	 a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* ---- scanning HTML for ids and links ---- */

struct S_attr {
	char	*value;		/* entity-decoded */
	size_t	 off;		/* byte offset in the file, for its line */
};

struct S_attrs {
	struct S_attr	*v;
	size_t		 n, cap;
};

struct S_scan {
	struct S_attrs	 ids;
	struct S_attrs	 links;		/* relative href and src values */
};

static void
S_attrs_free(struct S_attrs *a)
{
	size_t	 i;

	for (i = 0; i < a->n; i++)
		free(a->v[i].value);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

static void
S_scan_free(struct S_scan *sc)
{
	S_attrs_free(&sc->ids);
	S_attrs_free(&sc->links);
}

static void
S_push_attr(struct S_attrs *a, char *value, size_t off)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n].value = value;
	a->v[a->n].off = off;
	a->n++;
}

/* Decode the character references that attribute values use. */
static char *
S_entity_decode(const char *s, size_t len)
{
	static const struct { const char *name; const char *text; } ents[] = {
		{ "amp;", "&" }, { "lt;", "<" }, { "gt;", ">" },
		{ "quot;", "\"" }, { "apos;", "'" }, { "nbsp;", "\xc2\xa0" },
	};
	struct buf b = { 0 };
	const char *amp;
	size_t	 i, k, n;
	unsigned long cp;
	char	*e;

	if ((amp = memchr(s, '&', len)) == NULL)
		return xstrndup(s, len);
	buf_put(&b, s, (size_t)(amp - s));
	for (i = (size_t)(amp - s); i < len; i++) {
		if (s[i] != '&') {
			buf_putc(&b, (unsigned char)s[i]);
			continue;
		}
		if (i + 1 < len && s[i + 1] == '#') {
			int hex = i + 2 < len && (s[i + 2] == 'x' || s[i + 2] == 'X');
			char tmp[16];

			n = 0;
			for (k = i + 2 + hex; k < len && s[k] != ';' && n < 10; k++)
				tmp[n++] = s[k];
			tmp[n] = '\0';
			if (k < len && s[k] == ';' && n > 0) {
				cp = strtoul(tmp, &e, hex ? 16 : 10);
				if (*e == '\0' && cp > 0 && cp <= 0x10ffff) {
					if (cp < 0x80)
						buf_putc(&b, (int)cp);
					else if (cp < 0x800)
						buf_printf(&b, "%c%c",
						    (int)(0xc0 | cp >> 6),
						    (int)(0x80 | (cp & 0x3f)));
					else if (cp < 0x10000)
						buf_printf(&b, "%c%c%c",
						    (int)(0xe0 | cp >> 12),
						    (int)(0x80 | (cp >> 6 & 0x3f)),
						    (int)(0x80 | (cp & 0x3f)));
					else
						buf_printf(&b, "%c%c%c%c",
						    (int)(0xf0 | cp >> 18),
						    (int)(0x80 | (cp >> 12 & 0x3f)),
						    (int)(0x80 | (cp >> 6 & 0x3f)),
						    (int)(0x80 | (cp & 0x3f)));
					i = k;
					continue;
				}
			}
		} else {
			for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
				n = strlen(ents[k].name);
				if (i + 1 + n <= len &&
				    memcmp(s + i + 1, ents[k].name, n) == 0) {
					buf_puts(&b, ents[k].text);
					i += n;
					break;
				}
			}
			if (k < sizeof(ents) / sizeof(ents[0]))
				continue;
		}
		buf_putc(&b, '&');
	}
	return buf_detach(&b);
}

static int
S_isspace(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static const char *
S_find_ci(const char *p, const char *end, const char *needle)
{
	size_t	 n = strlen(needle);

	for (; p + n <= end; p++)
		if ((*p == needle[0] || *p == (needle[0] ^ 0x20)) &&
		    strncasecmp(p, needle, n) == 0)
			return p;
	return NULL;
}

static int
S_name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/*
 * Collect the id values, and with links the relative href and src
 * values, of every start tag, with their offsets (lines are counted
 * only for the rare error).  Comments, doctype and the contents of
 * <script> and <style> (JSON-LD holds absolute URLs that are not
 * links) are skipped.
 */
static void
S_scan_html(const char *s, size_t len, struct S_scan *sc, int links)
{
	const char *p = s, *end = s + len, *q, *name, *v, *tag;
	size_t	 nlen, vlen, tlen;

	while (p < end && (p = memchr(p, '<', (size_t)(end - p))) != NULL) {
		if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
			q = S_find_ci(p + 4, end, "-->");
			p = q ? q + 3 : end;
			continue;
		}
		if (end - p >= 2 && (p[1] == '!' || p[1] == '/' || p[1] == '?')) {
			q = memchr(p, '>', (size_t)(end - p));
			p = q ? q + 1 : end;
			continue;
		}
		if (end - p < 2 || !((p[1] >= 'a' && p[1] <= 'z') ||
		    (p[1] >= 'A' && p[1] <= 'Z'))) {
			p++;
			continue;
		}
		tag = ++p;
		while (p < end && !S_isspace((unsigned char)*p) && *p != '>' &&
		    *p != '/')
			p++;
		tlen = (size_t)(p - tag);
		/* Attributes. */
		for (;;) {
			while (p < end && (S_isspace((unsigned char)*p) ||
			    *p == '/'))
				p++;
			if (p >= end || *p == '>')
				break;
			name = p;
			while (p < end && !S_isspace((unsigned char)*p) &&
			    *p != '>' && *p != '=' && *p != '/')
				p++;
			nlen = (size_t)(p - name);
			while (p < end && S_isspace((unsigned char)*p))
				p++;
			if (p >= end || *p != '=')
				continue;
			p++;
			while (p < end && S_isspace((unsigned char)*p))
				p++;
			if (p < end && (*p == '"' || *p == '\'')) {
				v = p + 1;
				q = memchr(v, *p, (size_t)(end - v));
				if (q == NULL)
					q = end;
				vlen = (size_t)(q - v);
				p = q < end ? q + 1 : end;
			} else {
				v = p;
				while (p < end && !S_isspace((unsigned char)*p) &&
				    *p != '>')
					p++;
				vlen = (size_t)(p - v);
			}
			if (S_name_is(name, nlen, "id"))
				S_push_attr(&sc->ids, S_entity_decode(v, vlen),
				    (size_t)(name - s));
			else if (links && (S_name_is(name, nlen, "href") ||
			    S_name_is(name, nlen, "src"))) {
				char *val = S_entity_decode(v, vlen);

				if (url_is_external(val))
					free(val);
				else
					S_push_attr(&sc->links, val,
					    (size_t)(name - s));
			}
		}
		if (p < end)
			p++;
		/* Raw text elements: their content is not markup. */
		if (S_name_is(tag, tlen, "script"))
			p = (q = S_find_ci(p, end, "</script")) ? q : end;
		else if (S_name_is(tag, tlen, "style"))
			p = (q = S_find_ci(p, end, "</style")) ? q : end;
	}
}

/* The 1-based line of byte offset off in file dir/rel. */
static int
S_line_of(const char *dir, const char *rel, size_t off)
{
	char	*abs = path_join(dir, rel), *data;
	size_t	 len, i;
	int	 line = 1;

	if (file_read(abs, &data, &len) == 0) {
		for (i = 0; i < off && i < len; i++)
			if (data[i] == '\n')
				line++;
		free(data);
	} else
		line = 0;
	free(abs);
	return line;
}

/* ---- the build's state ---- */

/* A report's page, for finding the report from a file name. */
struct S_page {
	const char	*out;
	size_t		 report;
};

static int
S_cmp_page(const void *a, const void *b)
{
	return strcmp(((const struct S_page *)a)->out,
	    ((const struct S_page *)b)->out);
}

/* A content link whose target is checked at the end. */
struct S_clink {
	size_t	 report;	/* index into site.reports */
	int	 line, col;	/* in the source file */
	char	*url;		/* as written */
	char	*target;	/* decoded, relative to the site root */
	char	*fragment;	/* decoded, or NULL */
};

struct links {
	const struct site *site;
	const struct config *cfg;
	const char	*root;		/* project root */
	char		*base_path;	/* path of base_url: "/", "/fzzf/" */
	pthread_mutex_t	 lock;
	struct S_set	 known;		/* files a build writes (for dry runs) */
	struct S_set	 report_ids;	/* "page\nid" of rendered report pages */
	struct S_set	 content;	/* "page\ntarget\nfragment" of content links */
	struct S_clink	*clinks;
	size_t		 nclinks;
	struct S_page	*pages;		/* report pages, sorted by out */
};

static void
S_known_static(struct links *l, const char *abs, const char *rel)
{
	DIR	*d;
	struct dirent *de;
	struct stat st;
	char	*a, *r;

	if ((d = opendir(abs)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		a = path_join(abs, de->d_name);
		r = path_join(rel, de->d_name);
		if (lstat(a, &st) == 0 && S_ISDIR(st.st_mode))
			S_known_static(l, a, r);
		else if (S_ISREG(st.st_mode))
			S_set_add(&l->known, r);
		free(a);
		free(r);
	}
	closedir(d);
}

/* The pages of a listing whose first page is base ("x/y.html"). */
static void
S_known_listing(struct links *l, const char *base, size_t n)
{
	size_t	 size = l->cfg->page_size > 0 ? (size_t)l->cfg->page_size : 20;
	size_t	 pages = n == 0 ? 1 : (n + size - 1) / size, k;
	char	*u;

	S_set_add(&l->known, base);
	for (k = 2; k <= pages; k++) {
		u = xasprintf("%.*s-%zu.html", (int)(strlen(base) - 5), base, k);
		S_set_add(&l->known, u);
		free(u);
	}
}

struct links *
links_new(const struct site *s, const struct config *cfg, const char *root,
    int bundles)
{
	static const char *const fixed[] = {
		"index.html", "404.html", "atom.xml", "sitemap.xml",
		"robots.txt", NULL
	};
	static const char *const kinds[] = { "category", "department", "year" };
	struct links *l = xcalloc(1, sizeof(*l));
	const char *bu = cfg->base_url ? cfg->base_url : "/", *p;
	const struct group *gv[3] = { s->cats, s->depts, s->years };
	size_t	 gn[3] = { s->ncats, s->ndepts, s->nyears };
	size_t	 i, k;
	char	*u, *static_dir;

	l->site = s;
	l->cfg = cfg;
	l->root = root;
	pthread_mutex_init(&l->lock, NULL);
	p = strstr(bu, "://");
	p = p ? strchr(p + 3, '/') : bu;
	l->base_path = xstrdup(p && *p == '/' ? p : "/");
	for (i = 0; fixed[i]; i++)
		S_set_add(&l->known, fixed[i]);
	if (bundles)
		S_set_add(&l->known, "downloads.html");
	S_known_listing(l, "reports.html", s->n);
	for (k = 0; k < 3; k++)
		for (i = 0; i < gn[k]; i++) {
			u = xasprintf("%s/%s.html", kinds[k], gv[k][i].key);
			S_known_listing(l, u, gv[k][i].n);
			free(u);
		}
	for (i = 0; i < s->ndepts; i++) {
		u = xasprintf("department/%s.xml", s->depts[i].key);
		S_set_add(&l->known, u);
		free(u);
	}
	for (i = 0; i < s->n; i++) {
		S_set_add(&l->known, s->reports[i].out);
		for (k = 0; k < s->reports[i].nattachments; k++)
			S_set_add(&l->known, s->reports[i].attachments[k].out);
	}
	l->pages = xcalloc(s->n ? s->n : 1, sizeof(*l->pages));
	for (i = 0; i < s->n; i++) {
		l->pages[i].out = s->reports[i].out;
		l->pages[i].report = i;
	}
	qsort(l->pages, s->n, sizeof(*l->pages), S_cmp_page);
	static_dir = xasprintf("%s/themes/%s/static", root,
	    cfg->theme ? cfg->theme : "default");
	S_known_static(l, static_dir, "assets");
	free(static_dir);
	return l;
}

/* The index of the report whose page is rel, or NO_REPORT. */
static size_t
S_report_of(const struct links *l, const char *rel)
{
	struct S_page key = { rel, 0 }, *p;

	p = bsearch(&key, l->pages, l->site->n, sizeof(*l->pages),
	    S_cmp_page);
	return p ? p->report : NO_REPORT;
}

void
links_add_target(struct links *l, const char *rel)
{
	pthread_mutex_lock(&l->lock);
	S_set_add(&l->known, rel);
	pthread_mutex_unlock(&l->lock);
}

/*
 * The content-link key of a link that leaves the site: it has no
 * target, so it is keyed by its decoded text ('\001' never starts a path).
 */
static char *
S_outside_key(const char *page, const char *url)
{
	struct buf b = { 0 };

	buf_printf(&b, "%s\n\001", page);
	S_pct_decode(&b, url, strlen(url));
	return buf_detach(&b);
}

/*
 * Line starts of a report's text, found once: a report can hold tens of
 * thousands of links, and scanning from the top for each is quadratic.
 */
struct S_lines {
	size_t	*off;		/* byte offset of each line's start */
	size_t	 n;
};

static void
S_lines_free(struct S_lines *lc)
{
	free(lc->off);
	lc->off = NULL;
	lc->n = 0;
}

/* 1-based character column of byte column bcol on file line `line`. */
static int
S_char_col(const char *text, size_t len, int line, int bcol,
    struct S_lines *lc)
{
	size_t	 i, start;

	if (lc->off == NULL) {
		size_t	 cap = 64;

		lc->off = xcalloc(cap, sizeof(size_t));
		lc->off[lc->n++] = 0;
		for (i = 0; i < len; i++)
			if (text[i] == '\n') {
				if (lc->n == cap) {
					cap *= 2;
					lc->off = xrealloc(lc->off,
					    cap * sizeof(size_t));
				}
				lc->off[lc->n++] = i + 1;
			}
	}
	if (line < 1)
		return bcol;
	start = (size_t)line - 1 < lc->n ? lc->off[line - 1] : len;
	if (bcol < 1 || start + (size_t)(bcol - 1) > len)
		return bcol;
	return (int)utf8_columns(text + start, (size_t)(bcol - 1)) + 1;
}

/* The shortest relative URL from page `from` to site URL `to`. */
static char *
S_relative(const char *from, const char *to)
{
	struct buf b = { 0 };
	const char *f = from, *t = to, *fs, *ts;

	/* Drop the directories both share. */
	while ((fs = strchr(f, '/')) != NULL && (ts = strchr(t, '/')) != NULL &&
	    fs - f == ts - t && strncmp(f, t, (size_t)(fs - f)) == 0) {
		f = fs + 1;
		t = ts + 1;
	}
	for (; (fs = strchr(f, '/')) != NULL; f = fs + 1)
		buf_puts(&b, "../");
	buf_puts(&b, t);
	return buf_detach(&b);
}

/*
 * A hint for a link written relative to the Markdown file rather than
 * the page: "2022.md" or an attachment's bare name.
 */
static void
S_hint(struct links *l, const struct report *r, const char *url)
{
	const struct site *s = l->site;
	char	*srcdir, *from, *t = NULL, *f = NULL, *rel;
	const char *slash = strrchr(r->path, '/');
	size_t	 i, k;

	srcdir = xstrndup(r->path, slash ? (size_t)(slash - r->path) : 0);
	from = xasprintf("%s/x", srcdir);
	if (links_resolve(from, url, "/", &t, &f) == 0) {
		for (i = 0; i < s->n; i++)
			if (strcmp(s->reports[i].path, t) == 0) {
				rel = S_relative(r->out, s->reports[i].out);
				diag_hint("links are relative to the report's "
				    "page %s: write \"%s%s%s\"", r->out, rel,
				    f ? "#" : "", f ? f : "");
				free(rel);
				goto out;
			}
		for (k = 0; k < r->nattachments; k++)
			if (strcmp(r->attachments[k].src, t) == 0) {
				rel = S_relative(r->out, r->attachments[k].out);
				diag_hint("attachments are published under "
				    "files/: write \"%s\"", rel);
				free(rel);
				goto out;
			}
	}
out:
	free(t);
	free(f);
	free(from);
	free(srcdir);
}

size_t
links_check_report(struct links *l, size_t ri, const char *text,
    size_t textlen, struct cmark_node *doc, const char *page, size_t pagelen)
{
	const struct report *r = &l->site->reports[ri];
	struct S_scan sc = { 0 };
	struct S_set ids = { 0 };
	struct S_lines lc = { 0 };
	cmark_iter *it;
	cmark_event_type ev;
	cmark_node *n;
	cmark_node_type type;
	const char *url;
	char	*target, *frag, *key;
	int	 line, col;
	size_t	 i, errors = 0;

	/* The ids of the rendered page: the body's headings and the theme's. */
	S_scan_html(page ? page : "", page ? pagelen : 0, &sc, 0);
	for (i = 0; i < sc.ids.n; i++)
		S_set_add(&ids, sc.ids.v[i].value);
	pthread_mutex_lock(&l->lock);
	for (i = 0; i < sc.ids.n; i++) {
		key = S_idkey(r->out, sc.ids.v[i].value);
		S_set_add(&l->report_ids, key);
		free(key);
	}
	pthread_mutex_unlock(&l->lock);
	S_scan_free(&sc);

	it = cmark_iter_new(doc);
	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		if (ev != CMARK_EVENT_ENTER)
			continue;
		n = cmark_iter_get_node(it);
		type = cmark_node_get_type(n);
		if (type != CMARK_NODE_LINK && type != CMARK_NODE_IMAGE)
			continue;
		url = cmark_node_get_url(n);
		if (url == NULL || *url == '\0' || url_is_external(url))
			continue;
		line = cmark_node_get_start_line(n);
		col = cmark_node_get_start_column(n);
		if (line > 0) {
			line += r->body_line - 1;
			col = S_char_col(text, textlen, line, col, &lc);
		} else
			col = 0;
		if (links_resolve(r->out, url, l->base_path, &target,
		    &frag) == -1) {
			diag_error(r->path, line, col, "broken link \"%s\": it "
			    "points outside the site", url);
			errors++;
			key = S_outside_key(r->out, url);
			pthread_mutex_lock(&l->lock);
			S_set_add(&l->content, key);
			pthread_mutex_unlock(&l->lock);
			free(key);
			continue;
		}
		key = xasprintf("%s\n%s\n%s", r->out, target, frag ? frag : "");
		pthread_mutex_lock(&l->lock);
		S_set_add(&l->content, key);
		pthread_mutex_unlock(&l->lock);
		free(key);
		if (strcmp(target, r->out) == 0) {
			/* Same page: its ids are known now. */
			if (frag != NULL && !S_set_has(&ids, frag)) {
				diag_error(r->path, line, col, "broken link "
				    "\"%s\": this report has no heading or "
				    "anchor with id \"%s\"", url, frag);
				errors++;
			}
			free(target);
			free(frag);
			continue;
		}
		pthread_mutex_lock(&l->lock);
		l->clinks = xgrow(l->clinks, l->nclinks, sizeof(*l->clinks));
		l->clinks[l->nclinks].report = ri;
		l->clinks[l->nclinks].line = line;
		l->clinks[l->nclinks].col = col;
		l->clinks[l->nclinks].url = xstrdup(url);
		l->clinks[l->nclinks].target = target;
		l->clinks[l->nclinks].fragment = frag;
		l->nclinks++;
		pthread_mutex_unlock(&l->lock);
	}
	cmark_iter_free(it);
	S_set_free(&ids);
	S_lines_free(&lc);
	return errors;
}

/*
 * Find the link of report ri that resolves to target#frag in its
 * Markdown, or with target NULL the link that leaves the site and reads
 * as href; set *line, *col and *url (allocated) and return 1, or return
 * 0.  For pages reused from the cache, whose links were not checked as
 * they rendered.
 */
static int
S_locate(struct links *l, size_t ri, const char *target, const char *frag,
    const char *href, int *line, int *col, char **url)
{
	const struct report *r = &l->site->reports[ri];
	cmark_node *doc;
	cmark_iter *it;
	cmark_event_type ev;
	cmark_node *n;
	char	*text, *t, *f, *want = NULL, *have;
	const char *u;
	size_t	 len;
	int	 found = 0, rc;
	struct S_lines lc = { 0 };

	if (report_read(r, l->root, &text, &len) == -1)
		return 0;
	if (target == NULL)
		want = S_outside_key(r->out, href);
	doc = md_parse(text + r->body_off, len - r->body_off,
	    l->cfg->unsafe_html);
	it = cmark_iter_new(doc);
	while (!found && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		n = cmark_iter_get_node(it);
		if (ev != CMARK_EVENT_ENTER ||
		    (cmark_node_get_type(n) != CMARK_NODE_LINK &&
		    cmark_node_get_type(n) != CMARK_NODE_IMAGE) ||
		    (u = cmark_node_get_url(n)) == NULL || url_is_external(u))
			continue;
		rc = links_resolve(r->out, u, l->base_path, &t, &f);
		if (target == NULL && rc == -1) {
			have = S_outside_key(r->out, u);
			found = strcmp(have, want) == 0;
			free(have);
		} else if (target != NULL && rc == 0)
			found = strcmp(t, target) == 0 &&
			    (frag == NULL) == (f == NULL) &&
			    (frag == NULL || strcmp(frag, f) == 0);
		if (found) {
			*line = cmark_node_get_start_line(n);
			*col = cmark_node_get_start_column(n);
			if (*line > 0) {
				*line += r->body_line - 1;
				*col = S_char_col(text, len, *line, *col, &lc);
			} else
				*col = 0;
			*url = xstrdup(u);
		}
		free(t);
		free(f);
	}
	cmark_iter_free(it);
	S_lines_free(&lc);
	md_free(doc);
	free(text);
	free(want);
	return found;
}

/* ---- the end of the build ---- */

struct S_file {
	char		*rel;		/* relative to the site root */
	size_t		 report;	/* the report whose page it is, or NO_REPORT */
	struct S_scan	 scan;		/* for .html files */
};

struct S_tree {
	const char	*dir;
	struct S_file	*v;
	size_t		 n;
};

static void
S_walk(struct S_tree *t, const char *abs, const char *rel)
{
	DIR	*d;
	struct dirent *de;
	struct stat st;
	char	*a, *r;

	if ((d = opendir(abs)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		a = path_join(abs, de->d_name);
		r = *rel ? path_join(rel, de->d_name) : xstrdup(de->d_name);
		if (lstat(a, &st) == 0 && S_ISDIR(st.st_mode)) {
			S_walk(t, a, r);
			free(r);
		} else {
			t->v = xgrow(t->v, t->n, sizeof(*t->v));
			memset(&t->v[t->n], 0, sizeof(t->v[t->n]));
			t->v[t->n++].rel = r;
		}
		free(a);
	}
	closedir(d);
}

static void
S_scan_one(void *arg, size_t i, int worker)
{
	struct S_tree *t = arg;
	struct S_file *f = &t->v[i];
	char	*abs, *data;
	size_t	 len;

	(void)worker;
	if (!S_ends_with(f->rel, ".html"))
		return;
	abs = path_join(t->dir, f->rel);
	if (file_read(abs, &data, &len) == 0) {
		S_scan_html(data, len, &f->scan, 1);
		free(data);
	} else
		diag_error(NULL, 0, 0, "cannot read %s: %s", abs,
		    strerror(errno));
	free(abs);
}

static int
S_cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct S_file *)a)->rel,
	    ((const struct S_file *)b)->rel);
}

/* How a page of the output is named in diagnostics: OUT/rel. */
static char *
S_page_name(const char *dir, const char *rel)
{
	const char *base = strrchr(dir, '/');
	size_t	 len;

	base = base ? base + 1 : dir;
	len = strlen(base);
	if (S_ends_with(base, ".fazhi-staging"))
		len -= strlen(".fazhi-staging");
	return xasprintf("%.*s/%s", (int)len, base, rel);
}

/* A broken link of the theme, diagnosed once for all the pages it is on. */
struct S_broken {
	char	*key;		/* target#fragment, or the href if outside */
	char	*page;		/* the first page it is on */
	size_t	 off;		/* of the link in the page */
	char	*href;
	char	*why;
	size_t	 more;		/* other pages with it */
};

struct S_brokens {
	struct S_broken	*v;
	size_t		 n;
};

/*
 * Check one href or src of a page written into dir.  A content link of
 * a rendered report was diagnosed at its source already; one of a
 * report reused from the cache is diagnosed at its source now; anything
 * else is a theme bug, collected into theme.  good remembers links
 * found good, as "directory\nhref": navigation repeats the same links
 * on every page of a directory.  Return errors diagnosed.
 */
static size_t
S_check_page_link(struct links *l, const struct S_file *f,
    const struct S_attr *a, const struct S_set *files,
    const struct S_set *ids, struct S_brokens *theme, struct S_set *good)
{
	char	*target = NULL, *frag = NULL, *key, *why = NULL, *url;
	char	*memo = NULL;
	const char *src, *slash;
	int	 line, col, outside = 0;
	size_t	 i, errors = 0;

	/* Only links with a path: "#x" depends on the page itself. */
	if (a->value[0] != '\0' && a->value[0] != '#') {
		slash = strrchr(f->rel, '/');
		memo = xasprintf("%.*s\n%s", slash ? (int)(slash - f->rel) : 0,
		    f->rel, a->value);
		if (S_set_has(good, memo)) {
			free(memo);
			return 0;
		}
	}
	if (links_resolve(f->rel, a->value, l->base_path, &target,
	    &frag) == -1)
		outside = 1;
	else if (!S_set_has(files, target))
		why = xasprintf("the site has no page or file \"%s\"", target);
	else if (frag != NULL && S_ends_with(target, ".html")) {
		key = S_idkey(target, frag);
		if (!S_set_has(ids, key))
			why = xasprintf("\"%s\" has no heading or anchor with "
			    "id \"%s\"", target, frag);
		free(key);
	}
	if (outside)
		why = xstrdup("it points outside the site");
	if (why == NULL) {
		if (memo != NULL)
			S_set_add(good, memo);
		goto out;
	}
	key = outside ? S_outside_key(f->rel, a->value) :
	    xasprintf("%s\n%s\n%s", f->rel, target, frag ? frag : "");
	i = S_set_has(&l->content, key);
	free(key);
	if (i)
		goto out;	/* diagnosed at its source */
	if (f->report != NO_REPORT && S_locate(l, f->report, target, frag,
	    a->value, &line, &col, &url)) {
		src = l->site->reports[f->report].path;
		diag_error(src, line, col, "broken link \"%s\": %s", url, why);
		free(url);
		errors++;
		goto out;
	}
	key = outside ? xstrdup(a->value) : xasprintf("%s#%s", target,
	    frag ? frag : "");
	for (i = 0; i < theme->n; i++)
		if (strcmp(theme->v[i].key, key) == 0)
			break;
	if (i < theme->n) {
		theme->v[i].more++;
		free(key);
		goto out;
	}
	theme->v = xgrow(theme->v, theme->n, sizeof(*theme->v));
	theme->v[theme->n].key = key;
	theme->v[theme->n].page = xstrdup(f->rel);
	theme->v[theme->n].off = a->off;
	theme->v[theme->n].href = xstrdup(a->value);
	theme->v[theme->n].why = why;
	theme->v[theme->n].more = 0;
	theme->n++;
	why = NULL;
out:
	free(memo);
	free(why);
	free(target);
	free(frag);
	return errors;
}

size_t
links_finish(struct links *l, const char *dir)
{
	struct S_tree tree = { 0 };
	struct S_set files = { 0 }, ids = { 0 };
	struct S_brokens theme = { 0 };
	struct S_set good = { 0 };
	const struct S_set *fileset = &l->known, *idset = &l->report_ids;
	size_t	 i, k, errors = 0;
	char	*key, *name;

	if (dir != NULL) {
		tree.dir = dir;
		S_walk(&tree, dir, "");
		qsort(tree.v, tree.n, sizeof(*tree.v), S_cmp_file);
		pool_run(tree.n, pool_workers(), S_scan_one, &tree);
		for (i = 0; i < tree.n; i++) {
			S_set_add(&files, tree.v[i].rel);
			tree.v[i].report = S_report_of(l, tree.v[i].rel);
		}
		/* Ids, unique per page. */
		for (i = 0; i < tree.n; i++)
			for (k = 0; k < tree.v[i].scan.ids.n; k++) {
				key = S_idkey(tree.v[i].rel,
				    tree.v[i].scan.ids.v[k].value);
				if (!S_set_add(&ids, key)) {
					name = S_page_name(dir, tree.v[i].rel);
					diag_error(name, S_line_of(dir,
					    tree.v[i].rel, tree.v[i].scan.ids.v[k].off),
					    0, "duplicate id \"%s\" in a "
					    "generated page",
					    tree.v[i].scan.ids.v[k].value);
					free(name);
					errors++;
				}
				free(key);
			}
		fileset = &files;
		idset = &ids;
	}

	/* Content links into other pages. */
	for (i = 0; i < l->nclinks; i++) {
		const struct S_clink *c = &l->clinks[i];
		const struct report *r = &l->site->reports[c->report];

		if (!S_set_has(fileset, c->target)) {
			diag_error(r->path, c->line, c->col, "broken link "
			    "\"%s\": the site has no page or file \"%s\"",
			    c->url, c->target);
			S_hint(l, r, c->url);
			errors++;
			continue;
		}
		if (c->fragment == NULL || !S_ends_with(c->target, ".html"))
			continue;
		/* Without the pages (a dry run) only reports' ids are known. */
		if (dir == NULL && S_report_of(l, c->target) == NO_REPORT)
			continue;
		key = S_idkey(c->target, c->fragment);
		if (!S_set_has(idset, key)) {
			diag_error(r->path, c->line, c->col, "broken link "
			    "\"%s\": \"%s\" has no heading or anchor with id "
			    "\"%s\"", c->url, c->target, c->fragment);
			errors++;
		}
		free(key);
	}

	/* Every link of every page written. */
	for (i = 0; i < tree.n; i++)
		for (k = 0; k < tree.v[i].scan.links.n; k++)
			errors += S_check_page_link(l, &tree.v[i],
			    &tree.v[i].scan.links.v[k], &files, &ids, &theme,
			    &good);
	/* A theme bug repeats on every page: say it once, with a count. */
	for (i = 0; i < theme.n; i++) {
		const struct S_broken *b = &theme.v[i];

		name = S_page_name(dir, b->page);
		diag_error(name, S_line_of(dir, b->page, b->off), 0, "broken link \"%s\" in a generated "
		    "page (a theme or generator bug): %s", b->href, b->why);
		if (b->more > 0)
			diag_hint("the same link is broken in %zu other page%s",
			    b->more, b->more == 1 ? "" : "s");
		free(name);
		free(b->page);
		free(b->href);
		free(b->why);
		free(b->key);
	}
	errors += theme.n;
	free(theme.v);
	for (i = 0; i < tree.n; i++) {
		free(tree.v[i].rel);
		S_scan_free(&tree.v[i].scan);
	}
	free(tree.v);
	S_set_free(&files);
	S_set_free(&ids);
	S_set_free(&good);
	return errors;
}

void
links_free(struct links *l)
{
	size_t	 i;

	if (l == NULL)
		return;
	for (i = 0; i < l->nclinks; i++) {
		free(l->clinks[i].url);
		free(l->clinks[i].target);
		free(l->clinks[i].fragment);
	}
	free(l->clinks);
	free(l->pages);
	S_set_free(&l->known);
	S_set_free(&l->report_ids);
	S_set_free(&l->content);
	pthread_mutex_destroy(&l->lock);
	free(l->base_path);
	free(l);
}
