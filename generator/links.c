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

/*
 * Dry runs: the ids of every report page, for #fragment links into them
 * (a build reads the written page instead).  Kept as 64-bit hashes of
 * "page\nid": at 100,000 reports the strings took about a gigabyte, the
 * hashes take 8 bytes a slot.  Two different keys with the same hash
 * would let one broken fragment pass a dry run (odds about 1 in 10^7 at
 * a million reports); the build checks the pages themselves.
 */
struct S_idset {
	uint64_t	*v;		/* 0: empty slot */
	size_t		 n, cap;	/* cap a power of two, or 0 */
};

/* '\n' never occurs in a path or an id we index. */
static uint64_t
S_idhash(const char *page, const char *id)
{
	uint64_t h = str_hash_more(str_hash_more(str_hash(page), "\n"), id);

	return h != 0 ? h : 1;
}

static int
S_idset_has(const struct S_idset *set, uint64_t h)
{
	size_t	 i;

	if (set->cap == 0)
		return 0;
	for (i = (size_t)(h ^ h >> 29) & (set->cap - 1); set->v[i] != 0;
	    i = (i + 1) & (set->cap - 1))
		if (set->v[i] == h)
			return 1;
	return 0;
}

static void
S_idset_add(struct S_idset *set, uint64_t h)
{
	size_t	 i, k;

	if (S_idset_has(set, h))
		return;
	if ((set->n + 1) * 2 > set->cap) {
		struct S_idset big = { NULL, 0, set->cap ? set->cap * 2 : 1024 };

		big.v = xcalloc(big.cap, sizeof(*big.v));
		for (k = 0; k < set->cap; k++)
			if (set->v[k] != 0)
				S_idset_add(&big, set->v[k]);
		free(set->v);
		*set = big;
	}
	for (i = (size_t)(h ^ h >> 29) & (set->cap - 1); set->v[i] != 0;
	    i = (i + 1) & (set->cap - 1))
		continue;
	set->v[i] = h;
	set->n++;
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
	char	*d;
	int	 hi, lo;

	/* Decoding never lengthens: room for all of it, then plain stores. */
	buf_grow(out, len + 1);
	d = out->data + out->len;
	for (i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len &&
		    (hi = S_hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = S_hexval((unsigned char)s[i + 2])) >= 0) {
			*d++ = (char)(hi * 16 + lo);
			i += 2;
		} else
			*d++ = s[i];
	}
	out->len = (size_t)(d - out->data);
	out->data[out->len] = '\0';
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

static inline int
S_isspace(int c)
{
	return c <= ' ' && (c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\f');
}

/* needle starts with a byte that is not a letter ("-->", "</script"). */
static const char *
S_find_ci(const char *p, const char *end, const char *needle)
{
	size_t	 n = strlen(needle);

	while (p + n <= end &&
	    (p = memchr(p, needle[0], (size_t)(end - p) - n + 1)) != NULL) {
		if (strncasecmp(p, needle, n) == 0)
			return p;
		p++;
	}
	return NULL;
}

/*
 * Is name[0..len) the lowercase ASCII word want (of wlen bytes), in any
 * case?  Inline and by length first: every tag and attribute of every
 * page comes through here.
 */
static inline int
S_word_is(const char *name, size_t len, const char *want, size_t wlen)
{
	size_t	 i;

	if (len != wlen)
		return 0;
	for (i = 0; i < len; i++)
		if ((name[i] | 0x20) != want[i])
			return 0;
	return 1;
}
#define S_name_is(name, len, lit) S_word_is((name), (len), (lit), sizeof(lit) - 1)

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
			if (nlen < 2 || nlen > 4)
				continue;	/* not id, href or src */
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

/* ---- the build's state ---- */

/*
 * A link whose check waits for the end of the build: its target was not
 * known yet (a file written later, or none), or it has a #fragment into
 * another page, whose ids are read then.  Theme links are kept once per
 * target#fragment, with the first page (in path order) that has it.
 */
struct S_pend {
	char	*target;	/* decoded, relative to the site root */
	char	*frag;		/* decoded, or NULL */
	char	*href;		/* as written */
	size_t	 report;	/* content link: its report; else NO_REPORT */
	int	 line, col;	/* content: source position (0: unknown yet);
				   theme: the line in the page */
	char	*page;		/* theme: the page it is on */
	size_t	 more;		/* theme: other occurrences */
};

/* A theme link found broken while its page rendered. */
struct S_broken {
	char	*key;		/* target#fragment, or the href if outside */
	char	*page;		/* the first page (in path order) with it */
	int	 line;
	char	*href;
	char	*why;
	size_t	 more;		/* other occurrences */
};

struct links {
	const struct site *site;
	const struct config *cfg;
	const char	*root;		/* project root */
	char		*outname;	/* how pages are named: "site/x.html" */
	char		*base_path;	/* path of base_url: "/", "/fzzf/" */
	int		 dry;		/* nothing is written: ids kept in memory */
	pthread_mutex_t	 lock;		/* guards everything below */
	struct strset	 known;		/* the files of the site but report pages */
	size_t		*rtab;		/* report pages: index + 1 by hash of out */
	size_t		 rcap;		/* a power of two, or 0 */
	struct S_idset	 report_ids;	/* dry runs: ids of report pages */
	struct S_pend	*pend;		/* checked at the end */
	size_t		 npend;
	struct strset	 pendkeys;	/* theme "target\nfrag" in pend */
	struct S_broken	*broken;
	size_t		 nbroken;
	struct strset	*memo;		/* per worker: "dir\nhref" found good */
	int		 nmemo;
};

/* Links found good are remembered per worker up to this many. */
#define MEMO_MAX	4096

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
			strset_add(&l->known, r);
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

	strset_add(&l->known, base);
	for (k = 2; k <= pages; k++) {
		u = xasprintf("%.*s-%zu.html", (int)(strlen(base) - 5), base, k);
		strset_add(&l->known, u);
		free(u);
	}
}

/* Is rel a report's page? */
static int
S_report_page(const struct links *l, const char *rel)
{
	size_t	 h;

	if (l->rcap == 0)
		return 0;
	for (h = (size_t)str_hash(rel) & (l->rcap - 1); l->rtab[h] != 0;
	    h = (h + 1) & (l->rcap - 1))
		if (strcmp(l->site->reports[l->rtab[h] - 1].out, rel) == 0)
			return 1;
	return 0;
}

/* Does the site have the file rel (l->lock held, or no writers left)? */
static int
S_known(const struct links *l, const char *rel)
{
	return strset_has(&l->known, rel) || S_report_page(l, rel);
}

struct links *
links_new(const struct site *s, const struct config *cfg, const char *root,
    const char *outdir, int bundles, int workers, int dry)
{
	static const char *const fixed[] = {
		"index.html", "404.html", "atom.xml", "sitemap.xml",
		"robots.txt", NULL
	};
	static const char *const kinds[] = { "category", "department", "year" };
	struct links *l = xcalloc(1, sizeof(*l));
	const char *bu = cfg->base_url ? cfg->base_url : "/", *p, *base;
	const struct group *gv[3] = { s->cats, s->depts, s->years };
	size_t	 gn[3] = { s->ncats, s->ndepts, s->nyears };
	size_t	 i, k, len;
	char	*u, *static_dir;

	l->site = s;
	l->cfg = cfg;
	l->root = root;
	l->dry = dry;
	base = strrchr(outdir, '/');
	base = base && base[1] != '\0' ? base + 1 : outdir;
	len = strlen(base);
	while (len > 1 && base[len - 1] == '/')
		len--;
	l->outname = xstrndup(base, len);
	l->nmemo = workers > 0 ? workers : 1;
	l->memo = xcalloc((size_t)l->nmemo, sizeof(*l->memo));
	pthread_mutex_init(&l->lock, NULL);
	p = strstr(bu, "://");
	p = p ? strchr(p + 3, '/') : bu;
	l->base_path = xstrdup(p && *p == '/' ? p : "/");
	for (i = 0; fixed[i]; i++)
		strset_add(&l->known, fixed[i]);
	if (bundles)
		strset_add(&l->known, "downloads.html");
	S_known_listing(l, "reports.html", s->n);
	for (k = 0; k < 3; k++)
		for (i = 0; i < gn[k]; i++) {
			u = xasprintf("%s/%s.html", kinds[k], gv[k][i].key);
			S_known_listing(l, u, gv[k][i].n);
			free(u);
		}
	for (i = 0; i < s->ndepts; i++) {
		u = xasprintf("department/%s.xml", s->depts[i].key);
		strset_add(&l->known, u);
		free(u);
	}
	/* Report pages by their names in the index, not copied. */
	for (l->rcap = 16; l->rcap < 2 * s->n; l->rcap *= 2)
		;
	l->rtab = xcalloc(l->rcap, sizeof(*l->rtab));
	for (i = 0; i < s->n; i++) {
		size_t	 h = (size_t)str_hash(s->reports[i].out) & (l->rcap - 1);

		while (l->rtab[h] != 0)
			h = (h + 1) & (l->rcap - 1);
		l->rtab[h] = i + 1;
	}
	for (i = 0; i < s->n; i++) {
		for (k = 0; k < s->reports[i].nattachments; k++)
			strset_add(&l->known, s->reports[i].attachments[k].out);
	}
	static_dir = xasprintf("%s/themes/%s/static", root,
	    cfg->theme ? cfg->theme : "default");
	S_known_static(l, static_dir, "assets");
	free(static_dir);
	return l;
}

void
links_add_target(struct links *l, const char *rel)
{
	pthread_mutex_lock(&l->lock);
	strset_add(&l->known, rel);
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

/* The 1-based line of byte offset off in text. */
static int
S_line_at(const char *text, size_t len, size_t off)
{
	const char *p = text, *end = text + (off < len ? off : len);
	int	 line = 1;

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		line++;
		p++;
	}
	return line;
}

/* How page rel is named in diagnostics: OUT/rel. */
static char *
S_page_name(const struct links *l, const char *rel)
{
	return xasprintf("%s/%s", l->outname, rel);
}

/*
 * Record a theme link found broken on page (its name in diagnostics),
 * standing for 1 + extra occurrences (l->lock held).
 */
static void
S_theme_broken(struct links *l, const char *key, const char *page, int line,
    const char *href, const char *why, size_t extra)
{
	struct S_broken *b;
	size_t	 i;

	for (i = 0; i < l->nbroken; i++)
		if (strcmp(l->broken[i].key, key) == 0)
			break;
	if (i < l->nbroken) {
		/* The same bug on another page: keep the first page by path. */
		b = &l->broken[i];
		b->more += 1 + extra;
		if (strcmp(page, b->page) < 0) {
			free(b->page);
			free(b->href);
			b->page = xstrdup(page);
			b->href = xstrdup(href);
			b->line = line;
		}
		return;
	}
	l->broken = xgrow(l->broken, l->nbroken, sizeof(*l->broken));
	b = &l->broken[l->nbroken++];
	b->key = xstrdup(key);
	b->page = xstrdup(page);
	b->line = line;
	b->href = xstrdup(href);
	b->why = xstrdup(why);
	b->more = extra;
}

/* Is rel a report's page?  They are all report/<slug>.html. */
static int
S_is_report(const struct links *l, const char *rel)
{
	return S_report_page(l, rel);
}

/* Queue a link for the end of the build (l->lock held). */
static void
S_defer(struct links *l, const char *target, const char *frag,
    const char *href, size_t report, int line, int col, const char *page)
{
	struct S_pend *p;

	if (report == NO_REPORT) {
		char	*k = xasprintf("%s\n%s", target, frag ? frag : "");
		size_t	 i;

		if (!strset_add(&l->pendkeys, k)) {
			free(k);
			/* Seen before: count it, keep the first page by path. */
			for (i = 0; i < l->npend; i++) {
				p = &l->pend[i];
				if (p->report == NO_REPORT &&
				    strcmp(p->target, target) == 0 &&
				    (p->frag == NULL) == (frag == NULL) &&
				    (frag == NULL || strcmp(p->frag, frag) == 0))
					break;
			}
			if (i < l->npend) {
				p->more++;
				if (strcmp(page, p->page) < 0) {
					free(p->page);
					free(p->href);
					p->page = xstrdup(page);
					p->href = xstrdup(href);
					p->line = line;
				}
			}
			return;
		}
		free(k);
	}
	l->pend = xgrow(l->pend, l->npend, sizeof(*l->pend));
	p = &l->pend[l->npend++];
	p->target = xstrdup(target);
	p->frag = frag ? xstrdup(frag) : NULL;
	p->href = href ? xstrdup(href) : NULL;
	p->report = report;
	p->line = line;
	p->col = col;
	p->page = page ? xstrdup(page) : NULL;
	p->more = 0;
}

/*
 * Check the ids and the relative links of a page as rendered.  skip
 * holds "target\nfragment" (or the outside key) of the page's content
 * links, which are checked at their source instead.  ids receives the
 * page's ids.  Return errors diagnosed now.
 */
static size_t
S_check_page(struct links *l, int worker, const char *rel, const char *html,
    size_t len, const struct strset *skip, struct strset *ids)
{
	struct S_scan sc = { 0 };
	struct strset *memo = &l->memo[worker >= 0 && worker < l->nmemo ?
	    worker : 0];
	struct buf mk = { 0 };		/* "dir\nhref", the memo's key */
	const char *slash = strrchr(rel, '/');
	int	 dirlen = slash ? (int)(slash - rel) : 0;
	size_t	 i, errors = 0;
	char	*target, *frag, *key, *name, *why;

	S_scan_html(html, len, &sc, 1);
	for (i = 0; i < sc.ids.n; i++)
		if (!strset_add(ids, sc.ids.v[i].value)) {
			name = S_page_name(l, rel);
			diag_error(name, S_line_at(html, len, sc.ids.v[i].off),
			    0, "duplicate id \"%s\" in a generated page",
			    sc.ids.v[i].value);
			free(name);
			errors++;
		}
	for (i = 0; i < sc.links.n; i++) {
		const struct S_attr *a = &sc.links.v[i];
		int	 outside, memo_it = 0;

		/* Navigation repeats the same links on every page of a directory. */
		if (a->value[0] != '\0' && a->value[0] != '#') {
			buf_reset(&mk);
			buf_put(&mk, rel, (size_t)dirlen);
			buf_putc(&mk, '\n');
			buf_puts(&mk, a->value);
			if (strset_has(memo, buf_cstr(&mk)))
				continue;
			memo_it = 1;
		}
		why = NULL;
		outside = links_resolve(rel, a->value, l->base_path, &target,
		    &frag) == -1;
		/* Content links are few: their key only when there are some. */
		key = skip == NULL || skip->n == 0 ? NULL : outside ?
		    S_outside_key(rel, a->value) :
		    xasprintf("%s\n%s", target, frag ? frag : "");
		if (key != NULL && strset_has(skip, key)) {
			/* A content link: diagnosed at its source. */
		} else if (outside) {
			why = xstrdup("it points outside the site");
		} else if (strcmp(target, rel) == 0) {
			/* Same page: its ids are all known once it is scanned. */
			if (frag != NULL) {
				if (!strset_has(ids, frag))
					why = xasprintf("\"%s\" has no heading "
					    "or anchor with id \"%s\"", target,
					    frag);
			}
		} else {
			int	 known;

			pthread_mutex_lock(&l->lock);
			known = S_known(l, target);
			if (!known || (frag != NULL &&
			    S_ends_with(target, ".html")))
				S_defer(l, target, frag, a->value, NO_REPORT,
				    S_line_at(html, len, a->off), 0, rel);
			else if (memo_it) {
				if (memo->n >= MEMO_MAX)
					strset_free(memo);
				strset_add(memo, buf_cstr(&mk));
			}
			pthread_mutex_unlock(&l->lock);
		}
		if (why != NULL) {
			char	*bkey = outside ? xstrdup(a->value) :
			    xasprintf("%s#%s", target, frag ? frag : "");

			name = S_page_name(l, rel);
			pthread_mutex_lock(&l->lock);
			S_theme_broken(l, bkey, name, S_line_at(html, len,
			    a->off), a->value, why, 0);
			pthread_mutex_unlock(&l->lock);
			free(name);
			free(bkey);
			free(why);
		}
		free(key);
		free(target);
		free(frag);
	}
	S_scan_free(&sc);
	buf_free(&mk);
	return errors;
}

size_t
links_check_page(struct links *l, int worker, const char *rel,
    const char *html, size_t len)
{
	struct strset ids = { 0 };
	size_t	 errors;

	errors = S_check_page(l, worker, rel, html, len, NULL, &ids);
	strset_free(&ids);
	return errors;
}

/*
 * A dependency line of the build cache: "target\tfragment", each
 * percent-encoded where it holds a control byte, '%' or a space, so the
 * line holds no '\t' or '\n' of its own.
 */
static void
S_dep_put(struct buf *b, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c == '%' || c == 0x7f)
			buf_printf(b, "%%%02X", c);
		else
			buf_putc(b, c);
	}
}

/* A content link of a report, resolved once. */
struct S_clink {
	cmark_node	*n;
	const char	*url;
	char		*target;	/* NULL when outside */
	char		*frag;
	int		 outside;
};

size_t
links_check_report(struct links *l, int worker, size_t ri, const char *text,
    size_t textlen, struct cmark_node *doc, const char *page, size_t pagelen,
    struct buf *deps)
{
	const struct report *r = &l->site->reports[ri];
	struct strset ids = { 0 }, content = { 0 };
	struct S_lines lc = { 0 };
	struct S_clink *cl = NULL;
	size_t	 ncl = 0, c;
	cmark_iter *it;
	cmark_event_type ev;
	cmark_node *n;
	cmark_node_type type;
	const char *url;
	char	*target, *frag, *key;
	int	 line, col, known;
	size_t	 errors = 0;

	/*
	 * The content links first, resolved once (one walk of the tree):
	 * the page check leaves them out, and they are checked below.
	 */
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
		cl = xgrow(cl, ncl, sizeof(*cl));
		cl[ncl].n = n;
		cl[ncl].url = url;
		if (links_resolve(r->out, url, l->base_path, &cl[ncl].target,
		    &cl[ncl].frag) == -1) {
			cl[ncl].outside = 1;
			key = S_outside_key(r->out, url);
		} else {
			cl[ncl].outside = 0;
			key = xasprintf("%s\n%s", cl[ncl].target,
			    cl[ncl].frag ? cl[ncl].frag : "");
		}
		strset_add(&content, key);
		free(key);
		ncl++;
	}
	cmark_iter_free(it);
	/* The page: its ids, and the theme's links. */
	errors += S_check_page(l, worker, r->out, page ? page : "",
	    page ? pagelen : 0, &content, &ids);
	if (l->dry) {
		size_t	 k;

		pthread_mutex_lock(&l->lock);
		for (k = 0; k < ids.cap; k++)
			if (ids.v[k] != NULL)
				S_idset_add(&l->report_ids,
				    S_idhash(r->out, ids.v[k]));
		pthread_mutex_unlock(&l->lock);
	}

	for (c = 0; c < ncl; c++) {
		n = cl[c].n;
		url = cl[c].url;
		target = cl[c].target;
		frag = cl[c].frag;
		line = cmark_node_get_start_line(n);
		col = cmark_node_get_start_column(n);
		if (line > 0) {
			line += r->body_line - 1;
			col = S_char_col(text, textlen, line, col, &lc);
		} else
			col = 0;
		if (cl[c].outside) {
			diag_error(r->path, line, col, "broken link \"%s\": it "
			    "points outside the site", url);
			errors++;
			continue;
		}
		if (strcmp(target, r->out) == 0) {
			/* Same page: its ids are known now. */
			if (frag != NULL && !strset_has(&ids, frag)) {
				diag_error(r->path, line, col, "broken link "
				    "\"%s\": this report has no heading or "
				    "anchor with id \"%s\"", url, frag);
				errors++;
			}
			continue;
		}
		/* Another file: a dependency of the page in the build cache. */
		if (deps != NULL) {
			S_dep_put(deps, target);
			buf_putc(deps, '\t');
			S_dep_put(deps, frag);
			buf_putc(deps, '\n');
		}
		pthread_mutex_lock(&l->lock);
		known = S_known(l, target);
		if (!known || (frag != NULL && S_ends_with(target, ".html")))
			S_defer(l, target, frag, url, ri, line, col, NULL);
		pthread_mutex_unlock(&l->lock);
	}
	for (c = 0; c < ncl; c++) {
		free(cl[c].target);
		free(cl[c].frag);
	}
	free(cl);
	strset_free(&ids);
	strset_free(&content);
	S_lines_free(&lc);
	return errors;
}

/* Decode S_dep_put's encoding of s[0..len). */
static char *
S_dep_get(const char *s, size_t len)
{
	struct buf b = { 0 };

	S_pct_decode(&b, s, len);
	return buf_detach(&b);
}

void
links_reused(struct links *l, size_t ri, const char *deps)
{
	const char *p, *tab, *nl;
	char	*target, *frag;

	for (p = deps; p != NULL && *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		if ((tab = memchr(p, '\t', (size_t)(nl - p))) == NULL)
			continue;
		target = S_dep_get(p, (size_t)(tab - p));
		frag = tab + 1 < nl ? S_dep_get(tab + 1, (size_t)(nl - tab - 1)) :
		    NULL;
		pthread_mutex_lock(&l->lock);
		if (!S_known(l, target) ||
		    (frag != NULL && S_ends_with(target, ".html")))
			S_defer(l, target, frag, NULL, ri, 0, 0, NULL);
		pthread_mutex_unlock(&l->lock);
		free(target);
		free(frag);
	}
}

/* ---- the end of the build ---- */

static int
S_cmp_pend(const void *a, const void *b)
{
	const struct S_pend *x = a, *y = b;
	int	 c = strcmp(x->target, y->target);

	return c != 0 ? c : (x->report > y->report) - (x->report < y->report);
}

/* Diagnose a deferred link that is broken: why says how. */
static size_t
S_pend_broken(struct links *l, struct S_pend *p, const char *why)
{
	const struct report *r;
	char	*url = NULL, *key;

	if (p->report == NO_REPORT) {
		char	*name = S_page_name(l, p->page);

		key = xasprintf("%s#%s", p->target, p->frag ? p->frag : "");
		S_theme_broken(l, key, name, p->line, p->href, why, p->more);
		free(key);
		free(name);
		return 0;	/* counted with the theme's */
	}
	r = &l->site->reports[p->report];
	/* From a page reused from the cache: find the link in the source. */
	if (p->line == 0 && !S_locate(l, p->report, p->target, p->frag, "",
	    &p->line, &p->col, &url))
		p->line = p->col = 0;
	diag_error(r->path, p->line, p->col, "broken link \"%s\": %s",
	    url ? url : p->href ? p->href : p->target, why);
	if (!p->frag)
		S_hint(l, r, url ? url : p->href ? p->href : p->target);
	free(url);
	return 1;
}

size_t
links_finish(struct links *l, const char *dir)
{
	struct strset ids = { 0 };
	const char *cur = NULL;
	size_t	 i, k, errors = 0;
	char	*why;
	int	 have_ids = 0;

	/* By target, so that each page's ids are read once. */
	if (l->npend > 0)
		qsort(l->pend, l->npend, sizeof(*l->pend), S_cmp_pend);
	for (i = 0; i < l->npend; i++) {
		struct S_pend *p = &l->pend[i];

		if (!S_known(l, p->target)) {
			why = xasprintf("the site has no page or file \"%s\"",
			    p->target);
			errors += S_pend_broken(l, p, why);
			free(why);
			continue;
		}
		if (p->frag == NULL || !S_ends_with(p->target, ".html"))
			continue;
		if (dir == NULL) {
			/* A dry run knows the ids of report pages only. */
			k = S_idset_has(&l->report_ids,
			    S_idhash(p->target, p->frag));
			if (k || !S_is_report(l, p->target))
				continue;
		} else {
			if (cur == NULL || strcmp(cur, p->target) != 0) {
				char	*abs = path_join(dir, p->target), *data;
				size_t	 len;
				struct S_scan sc = { 0 };

				strset_free(&ids);
				cur = p->target;
				have_ids = file_read(abs, &data, &len) == 0;
				if (have_ids) {
					S_scan_html(data, len, &sc, 0);
					for (k = 0; k < sc.ids.n; k++)
						strset_add(&ids,
						    sc.ids.v[k].value);
					S_scan_free(&sc);
					free(data);
				}
				free(abs);
			}
			if (!have_ids || strset_has(&ids, p->frag))
				continue;
		}
		why = xasprintf("\"%s\" has no heading or anchor with id "
		    "\"%s\"", p->target, p->frag);
		errors += S_pend_broken(l, p, why);
		free(why);
	}
	strset_free(&ids);

	/* A theme bug repeats on every page: say it once, with a count. */
	for (i = 0; i < l->nbroken; i++) {
		const struct S_broken *b = &l->broken[i];

		diag_error(b->page, b->line, 0, "broken link \"%s\" in a "
		    "generated page (a theme or generator bug): %s", b->href,
		    b->why);
		if (b->more > 0)
			diag_hint("the same link is broken in %zu other page%s",
			    b->more, b->more == 1 ? "" : "s");
	}
	errors += l->nbroken;
	return errors;
}

void
links_free(struct links *l)
{
	size_t	 i;

	if (l == NULL)
		return;
	for (i = 0; i < l->npend; i++) {
		free(l->pend[i].target);
		free(l->pend[i].frag);
		free(l->pend[i].href);
		free(l->pend[i].page);
	}
	free(l->pend);
	for (i = 0; i < l->nbroken; i++) {
		free(l->broken[i].key);
		free(l->broken[i].page);
		free(l->broken[i].href);
		free(l->broken[i].why);
	}
	free(l->broken);
	for (i = 0; i < (size_t)l->nmemo; i++)
		strset_free(&l->memo[i]);
	free(l->memo);
	strset_free(&l->known);
	free(l->rtab);
	free(l->report_ids.v);
	strset_free(&l->pendkeys);
	pthread_mutex_destroy(&l->lock);
	free(l->base_path);
	free(l->outname);
	free(l);
}
