/*
 * page.c: the portal's pages.
 *
 * Reports are rendered in parallel, one at a time per worker: read,
 * parse, filter, render, write, free.  Nothing of a body outlives its
 * page, so memory does not grow with the content.  Listing pages are
 * rendered in parallel too, as a flat list of jobs.  Each worker owns
 * a template environment (a Lua state) and a filter environment.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmark-gfm.h>
#include <lua.h>
#include <lauxlib.h>

#include "buf.h"
#include "bundles.h"
#include "config.h"
#include "content.h"
#include "diag.h"
#include "filter.h"
#include "frontmatter.h"
#include "links.h"
#include "markdown.h"
#include "output.h"
#include "page.h"
#include "pool.h"
#include "template.h"
#include "util.h"
#include "yval.h"

struct S_worker {
	struct filter_env *filter;
	struct tmpl_env	*tmpl;
	int		 site_ref;	/* the cached `site` table in tmpl's Lua state */
	int		 sum_ref;	/* report index + 1 -> its read-only summary */
	size_t		 sum_n;		/* summaries in it */
	struct buf	 html;		/* reused between pages */
	struct buf	 body;
	struct buf	 scratch;	/* for short strings, reused */
};

/* A listing page to render. */
struct S_list {
	const char	*kind;		/* "category", "department", "year", "all" */
	const struct group *g;		/* NULL for "all" */
	size_t		 page;		/* 1-based */
	size_t		 npages;
};

struct S_ctx {
	const struct page_opts *o;
	struct S_worker	*w;
	int		 failed;
	size_t		 done;
	size_t		 total;
	size_t		 pages;
	size_t		 reused;	/* report pages linked from the cache */
	unsigned char	 site_hash[32];	/* see S_site_hash */
	unsigned char	 index_hash[32];	/* every report's metadata */
	unsigned char	(*sumhash)[32];	/* per report: S_hash_summary's */
	size_t		**catdepts;	/* per category: its departments, by name */
	size_t		*ncatdepts;
	size_t		*deptpos;	/* a department's place in its category's list */
	char		**dixurl;	/* per category: its departments index, or NULL */
	size_t		 dlpages;	/* downloads pages, 0 when none is built */
	struct S_list	*jobs;		/* listing pages */
	size_t		 njobs;
	struct bundles	*bd;		/* zip bundles (bundles.h), or NULL */
};

/* ---- Lua values ---- */

static void
S_sets(lua_State *L, const char *k, const char *v)
{
	if (v == NULL)
		return;
	/*
	 * Not lua_pushstring: its cache, keyed by address, compares every
	 * value with the string last pushed from a nearby address, and
	 * URLs share long prefixes ("report/%E5%9B%BD…").
	 */
	lua_pushlstring(L, v, strlen(v));
	lua_setfield(L, -2, k);
}

static void
S_seti(lua_State *L, const char *k, long long v)
{
	lua_pushinteger(L, v);
	lua_setfield(L, -2, k);
}

/* URL of page n of a listing whose first page is base ("x/y.html"). */
static char *
S_page_url(const char *base, size_t n)
{
	size_t	 len = strlen(base);

	if (n <= 1)
		return xstrdup(base);
	return xasprintf("%.*s-%zu.html", (int)(len - 5), base, n);
}

/* File (not URL) of page n of category c's departments index. */
static char *
S_dix_file(const struct group *c, size_t n)
{
	char	*first = xasprintf("departments/%s.html", c->key);
	char	*f = S_page_url(first, n);

	free(first);
	return f;
}

static size_t
S_npages(size_t n, int size)
{
	return n == 0 ? 1 : (n + (size_t)size - 1) / (size_t)size;
}

/*
 * The departments index of a category: departments/<key>.html, then
 * -2.html and on, DEPTS_PAGE departments a page, by name; built when
 * the theme has the template.  The home page lists a category's
 * departments itself up to HOME_DEPTS, and past that links the index:
 * a national site has tens of thousands of departments per category.
 */
#define DEPTS_TEMPLATE	"departments.html"
#define DEPTS_PAGE	100
#define HOME_DEPTS	100
/* Departments, with their reports' bundles, on a downloads page. */
#define DOWNLOAD_DEPTS	100


static void
S_push_group(lua_State *L, const struct group *g)
{
	lua_createtable(L, 0, 5);
	S_sets(L, "name", g->name);
	S_sets(L, "url", g->url);
	S_sets(L, "key", g->key);
	S_seti(L, "count", (long long)g->n);
}

/*
 * On the category group at the top: department_count, the departments
 * whose newest report is in it, and departments_url, its index (or no
 * field without one).
 */
static void
S_category_fields(const struct S_ctx *ctx, lua_State *L, size_t ci)
{
	S_seti(L, "department_count", (long long)ctx->ncatdepts[ci]);
	S_sets(L, "departments_url", ctx->dixurl[ci]);
}

static void
S_push_groups(lua_State *L, const struct group *g, size_t n)
{
	size_t	 i;

	lua_createtable(L, (int)n, 0);
	for (i = 0; i < n; i++) {
		S_push_group(L, &g[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
}

/* Make the list of groups at the top, and each group, read-only. */
static void
S_ro_groups(lua_State *L)
{
	lua_Integer i, n = (lua_Integer)lua_rawlen(L, -1);

	for (i = 1; i <= n; i++) {
		lua_rawgeti(L, -1, i);
		tmpl_readonly(L);
		lua_rawseti(L, -2, i);
	}
	tmpl_readonly(L);
}

/* The metadata of a report, as listings and report pages see it. */
static void
S_push_summary(lua_State *L, const struct site *s, const struct report *r)
{
	lua_createtable(L, 0, 14);
	S_sets(L, "title", r->title);
	S_sets(L, "department", r->department);
	S_sets(L, "category", r->category);
	S_seti(L, "year", r->year);
	S_sets(L, "date", r->date);
	S_sets(L, "source", r->source);
	S_sets(L, "summary", r->summary);
	S_sets(L, "url", r->url);
	S_sets(L, "slug", r->slug);
	S_sets(L, "path", r->path);
	S_sets(L, "department_url", s->depts[r->dept].url);
	S_sets(L, "category_url", s->cats[r->cat].url);
	S_sets(L, "year_url", s->years[r->yr].url);
}

/*
 * A report's summary from the worker's cache, read-only: a report page
 * shows its department's other years, and the next report page (the
 * same department, in path order) shows the same ones again.  Read-
 * only, so no template can change what a later page sees.  The cache
 * starts over past SUMMARY_CACHE entries.  It is small on purpose:
 * each new summary stored in the (old) cache table makes the Lua
 * collector walk the whole table again, and a cache of thousands (to
 * serve listing pages too) made a 10k build a quarter slower than
 * building those summaries again.
 */
#define	SUMMARY_CACHE	64

/* Start w's summary cache over, empty. */
static void
S_summaries_reset(struct S_worker *w, lua_State *L)
{
	luaL_unref(L, LUA_REGISTRYINDEX, w->sum_ref);
	/* Keyed by report number: the hash part. */
	lua_createtable(L, 0, SUMMARY_CACHE);
	w->sum_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	w->sum_n = 0;
}

static void
S_push_summary_ro(struct S_worker *w, lua_State *L, const struct site *s,
    size_t i)
{
	lua_rawgeti(L, LUA_REGISTRYINDEX, w->sum_ref);
	if (lua_rawgeti(L, -1, (lua_Integer)i + 1) == LUA_TTABLE) {
		lua_remove(L, -2);
		return;
	}
	lua_pop(L, 1);
	if (w->sum_n >= SUMMARY_CACHE) {
		lua_pop(L, 1);
		S_summaries_reset(w, L);
		lua_rawgeti(L, LUA_REGISTRYINDEX, w->sum_ref);
	}
	S_push_summary(L, s, &s->reports[i]);
	tmpl_readonly(L);
	lua_pushvalue(L, -1);
	lua_rawseti(L, -3, (lua_Integer)i + 1);
	lua_remove(L, -2);
	w->sum_n++;
}

/* __index of the site table: site.departments on first use. */
static int
S_site_index(lua_State *L)
{
	const struct page_opts *o = lua_touserdata(L, lua_upvalueindex(1));
	const struct site *s = o->site;
	size_t	 i;

	if (lua_type(L, 2) != LUA_TSTRING ||
	    strcmp(lua_tostring(L, 2), "departments") != 0) {
		lua_pushnil(L);
		return 1;
	}
	S_push_groups(L, s->depts, s->ndepts);
	/* A department's category (its newest report's), to group them by. */
	for (i = 0; i < s->ndepts; i++)
		if (s->depts[i].n > 0) {
			lua_rawgeti(L, -1, (lua_Integer)i + 1);
			S_sets(L, "category",
			    s->reports[s->depts[i].reports[0]].category);
			lua_pop(L, 1);
		}
	S_ro_groups(L);
	lua_pushvalue(L, -1);
	lua_setfield(L, 1, "departments");
	return 1;
}

static void
S_push_site(lua_State *L, const struct S_ctx *ctx)
{
	const struct page_opts *o = ctx->o;
	const struct config *c = o->cfg;
	const struct site *s = o->site;
	size_t	 i;

	lua_createtable(L, 0, 12);
	S_sets(L, "title", c->title);
	S_sets(L, "base_url", c->base_url);
	S_sets(L, "language", c->language);
	S_sets(L, "description", c->description);
	S_sets(L, "parent_title", c->parent_title);
	S_seti(L, "report_count", (long long)s->n);
	S_seti(L, "department_count", (long long)s->ndepts);
	/*
	 * Pages link downloads.html when this is true: only when bundles
	 * are built and the theme can render the page that lists them.
	 */
	lua_pushboolean(L, o->bundles && tmpl_exists(o->tmpl, "downloads.html"));
	lua_setfield(L, -2, "bundles");
	S_push_groups(L, s->cats, s->ncats);
	/* Each category's departments: how many, and their index. */
	for (i = 0; i < s->ncats; i++) {
		lua_rawgeti(L, -1, (lua_Integer)i + 1);
		S_category_fields(ctx, L, i);
		lua_pop(L, 1);
	}
	S_ro_groups(L);
	lua_setfield(L, -2, "categories");
	S_push_groups(L, s->years, s->nyears);
	S_ro_groups(L);
	lua_setfield(L, -2, "years");
	/*
	 * site.departments is made when a template first reads it: a
	 * national site has a hundred thousand departments, and report
	 * pages, rendered by every worker, do not list them.
	 */
	lua_createtable(L, 0, 1);
	lua_pushlightuserdata(L, (void *)o);
	lua_pushcclosure(L, S_site_index, 1);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
}

/* Common variables: site, root, page {kind, title, url, canonical}. */
static void
S_push_vars(struct S_worker *w, const struct page_opts *o, const char *kind,
    const char *title, const char *url, int depth)
{
	lua_State *L = tmpl_lua(w->tmpl);

	lua_createtable(L, 0, 8);
	lua_rawgeti(L, LUA_REGISTRYINDEX, w->site_ref);
	lua_setfield(L, -2, "site");
	S_sets(L, "root", depth ? "../" : "");
	lua_createtable(L, 0, 8);
	S_sets(L, "kind", kind);
	S_sets(L, "title", title);
	S_sets(L, "url", url);
	{
		struct buf *c = &w->scratch;

		buf_reset(c);
		buf_puts(c, o->cfg->base_url);
		if (strcmp(url, "index.html") != 0)
			buf_puts(c, url);
		lua_pushlstring(L, c->data, c->len);
		lua_setfield(L, -2, "canonical");
	}
	lua_setfield(L, -2, "page");
}

/* Get the table t.page (pushed) from the vars table at the top. */
static void
S_page_table(lua_State *L)
{
	lua_getfield(L, -1, "page");
}

static void
S_crumb(lua_State *L, int i, const char *title, const char *url)
{
	lua_createtable(L, 0, 2);
	S_sets(L, "title", title);
	S_sets(L, "url", url);
	lua_rawseti(L, -2, i);
}

static int
S_render(struct S_ctx *ctx, struct S_worker *w, const char *tmpl,
    const char *rel)
{
	buf_reset(&w->html);
	if (tmpl_render(w->tmpl, tmpl, &w->html) == -1) {
		ctx->failed = 1;
		return -1;
	}
	if (out_write(ctx->o->out, rel, w->html.data ? w->html.data : "",
	    w->html.len) == -1) {
		ctx->failed = 1;
		return -1;
	}
	__atomic_add_fetch(&ctx->pages, 1, __ATOMIC_RELAXED);
	/* Report pages are checked with their Markdown (S_report). */
	if (ctx->o->links != NULL && strcmp(tmpl, "report.html") != 0)
		links_check_page(ctx->o->links, (int)(w - ctx->w), rel,
		    w->html.data ? w->html.data : "", w->html.len);
	return 0;
}

#define TRIM_EVERY	20000

static void
S_progress(struct S_ctx *ctx)
{
	size_t	 d = __atomic_add_fetch(&ctx->done, 1, __ATOMIC_RELAXED);

	if (ctx->o->progress && (d % 500 == 0 || d == ctx->total))
		fprintf(stderr, "\r  %zu/%zu", d, ctx->total);
	/*
	 * Every TRIM_EVERY pages, hand the memory that each page's parse
	 * and render freed back to the system: with several threads,
	 * malloc's arenas otherwise keep it, and at a million reports
	 * that is hundreds of megabytes.
	 */
	if (d % TRIM_EVERY == 0)
		malloc_trim(0);
}

/* ---- report pages ---- */

static void
S_hash_str(struct sha256 *h, const char *s)
{
	/* Length-prefixed, so that ("ab","c") and ("a","bc") differ. */
	size_t	 n = s ? strlen(s) + 1 : 0;

	sha256_update(h, &n, sizeof(n));
	if (s)
		sha256_update(h, s, n);
}

static void
S_hash_summary(struct sha256 *h, const struct site *s, const struct report *r)
{
	long long y = r->year;

	S_hash_str(h, r->title);
	S_hash_str(h, r->department);
	S_hash_str(h, r->category);
	sha256_update(h, &y, sizeof(y));
	S_hash_str(h, r->date);
	S_hash_str(h, r->source);
	S_hash_str(h, r->summary);
	S_hash_str(h, r->url);
	S_hash_str(h, r->slug);
	S_hash_str(h, r->path);
	S_hash_str(h, r->stats);
	S_hash_str(h, s->depts[r->dept].url);
	S_hash_str(h, s->cats[r->cat].url);
	S_hash_str(h, s->years[r->yr].url);
}

/*
 * Everything a report page is made from: the build's global hash, the
 * source, and the index data the page and its filters see (the
 * department's reports, its attachments).
 */
static void
S_hash_groups(struct sha256 *h, const struct group *g, size_t n)
{
	size_t	 i;

	sha256_update(h, &n, sizeof(n));
	for (i = 0; i < n; i++) {
		S_hash_str(h, g[i].name);
		S_hash_str(h, g[i].url);
		sha256_update(h, &g[i].n, sizeof(g[i].n));
	}
}

/* What every page sees of the whole site: the `site` template variable. */
static void
S_site_hash(const struct page_opts *o, unsigned char out[32])
{
	const struct site *s = o->site;
	struct sha256 h;
	size_t	 i;

	sha256_init(&h);
	sha256_update(&h, &s->n, sizeof(s->n));
	sha256_update(&h, &o->bundles, sizeof(o->bundles));
	S_hash_groups(&h, s->cats, s->ncats);
	S_hash_groups(&h, s->depts, s->ndepts);
	S_hash_groups(&h, s->years, s->nyears);
	/* site.departments[i].category: its newest report's. */
	for (i = 0; i < s->ndepts; i++)
		if (s->depts[i].n > 0)
			sha256_update(&h, &s->reports[s->depts[i].reports[0]].cat,
			    sizeof(size_t));
	sha256_final(&h, out);
}

/* pool_run: the hash of report i's summary, once per build. */
static void
S_sumhash(void *arg, size_t i, int worker)
{
	struct S_ctx *ctx = arg;
	const struct site *s = ctx->o->site;
	struct sha256 h;

	(void)worker;
	sha256_init(&h);
	S_hash_summary(&h, s, &s->reports[i]);
	sha256_final(&h, ctx->sumhash[i]);
}

static int
S_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Hash the Lua value at idx: what a page's variables hold (strings,
 * numbers, booleans and tables of them), with table keys in order so
 * the hash does not depend on Lua's iteration order.  At the top level
 * (depth 0) "site" is left out: the site table is the same for every
 * page and S_site_hash covers it.
 */
static void
S_hash_lua(struct sha256 *h, lua_State *L, int idx, int depth)
{
	int	 t = lua_type(L, idx);

	idx = lua_absindex(L, idx);
	sha256_update(h, &t, sizeof(t));
	switch (t) {
	case LUA_TSTRING: {
		size_t	 n;
		const char *p = lua_tolstring(L, idx, &n);

		sha256_update(h, &n, sizeof(n));
		sha256_update(h, p, n);
		break;
	}
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			lua_Integer v = lua_tointeger(L, idx);

			sha256_update(h, &v, sizeof(v));
		} else {
			lua_Number v = lua_tonumber(L, idx);

			sha256_update(h, &v, sizeof(v));
		}
		break;
	case LUA_TBOOLEAN: {
		int	 v = lua_toboolean(L, idx);

		sha256_update(h, &v, sizeof(v));
		break;
	}
	case LUA_TTABLE: {
		lua_Integer n = (lua_Integer)lua_rawlen(L, idx), k;
		const char **keys = NULL;
		size_t	 nkeys = 0, j;

		if (depth > 32)
			break;
		sha256_update(h, &n, sizeof(n));
		for (k = 1; k <= n; k++) {
			lua_rawgeti(L, idx, k);
			S_hash_lua(h, L, -1, depth + 1);
			lua_pop(L, 1);
		}
		lua_pushnil(L);
		while (lua_next(L, idx) != 0) {
			lua_pop(L, 1);
			if (lua_type(L, -1) == LUA_TSTRING) {
				const char *key = lua_tostring(L, -1);

				if (depth == 0 && strcmp(key, "site") == 0)
					continue;
				keys = xgrow(keys, nkeys, sizeof(*keys));
				keys[nkeys++] = key;
			}
		}
		if (nkeys > 1)
			qsort(keys, nkeys, sizeof(*keys), S_cmp_str);
		for (j = 0; j < nkeys; j++) {
			S_hash_str(h, keys[j]);
			lua_getfield(L, idx, keys[j]);
			S_hash_lua(h, L, -1, depth + 1);
			lua_pop(L, 1);
		}
		free(keys);
		break;
	}
	default:
		break;
	}
}

static void
S_report_key(const struct page_opts *o, const unsigned char ctx_site_hash[32],
    const unsigned char ctx_index_hash[32], const unsigned char (*sumhash)[32],
    size_t i, unsigned char key[32])
{
	const struct site *s = o->site;
	const struct report *r = &s->reports[i];
	const struct group *g = &s->depts[r->dept];
	struct sha256 h;
	size_t	 k;

	sha256_init(&h);
	sha256_update(&h, o->global, 32);
	sha256_update(&h, ctx_site_hash, 32);
	/* Filters see the whole index (site.reports): then all of it counts. */
	if (o->cfg->nfilters + r->nfilters > 0)
		sha256_update(&h, ctx_index_hash, 32);
	sha256_update(&h, r->hash, 32);
	for (k = 0; k < g->n; k++)
		sha256_update(&h, sumhash[g->reports[k]], 32);
	for (k = 0; k < r->nattachments; k++) {
		S_hash_str(&h, r->attachments[k].name);
		sha256_update(&h, &r->attachments[k].size, sizeof(long long));
	}
	sha256_final(&h, key);
}

static void
S_report(void *arg, size_t i, int worker)
{
	struct S_ctx *ctx = arg;
	const struct page_opts *o = ctx->o;
	const struct site *s = o->site;
	const struct report *r = &s->reports[i];
	struct S_worker *w = &ctx->w[worker];
	lua_State *L = tmpl_lua(w->tmpl);
	struct toc toc = { 0 };
	cmark_node *doc;
	char	*text;
	size_t	 len, k;
	unsigned char key[32];
	int	 filtered;
	int	 pending = 0;		/* bundles: standalone page to render */
	const char *deps;
	struct buf depbuf = { 0 };

	S_report_key(o, ctx->site_hash, ctx->index_hash,
	    (const unsigned char (*)[32])ctx->sumhash, i, key);
	for (k = 0; k < r->nattachments; k++) {
		char *src = path_join(o->root, r->attachments[k].src);

		if (out_copy(o->out, r->attachments[k].out, src) == -1)
			ctx->failed = 1;
		free(src);
	}
	/* bundles.h: the page shows its bundle's size, so its key holds it. */
	if (ctx->bd != NULL &&
	    (pending = bundles_report_begin(ctx->bd, i, key)) == -1) {
		ctx->failed = 1;
		return;
	}
	if (!pending && out_cache_reuse(o->out, r->out, key, &deps) == 0) {
		/* Its links into other files may have broken since. */
		if (o->links != NULL)
			links_reused(o->links, i, deps);
		out_cache_put(o->out, r->out, key, deps);
		__atomic_add_fetch(&ctx->reused, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&ctx->pages, 1, __ATOMIC_RELAXED);
		S_progress(ctx);
		return;
	}
	if (report_read(r, o->root, &text, &len) == -1) {
		ctx->failed = 1;
		return;
	}
	doc = md_parse(text + r->body_off, len - r->body_off,
	    o->cfg->unsafe_html);
	filtered = o->cfg->nfilters + r->nfilters > 0;
	if (filtered) {
		struct fm_split sp;
		struct yval *meta = fm_parse(r->path, text, len, &sp);

		if (meta == NULL || filter_run(w->filter, r, meta, doc) == -1)
			ctx->failed = 1;
		yval_free(meta);
	}
	buf_reset(&w->body);
	md_render(doc, &w->body, &toc, o->cfg->unsafe_html);

	S_push_vars(w, o, "report", r->title, r->url, 1);
	S_page_table(L);
	lua_createtable(L, 4, 0);
	S_crumb(L, 1, "首页", "index.html");
	S_crumb(L, 2, o->cfg->parent_title, "reports.html");
	S_crumb(L, 3, r->category, s->cats[r->cat].url);
	S_crumb(L, 4, r->department, s->depts[r->dept].url);
	lua_pushstring(L, r->title);
	lua_pushfstring(L, "%d年", r->year);
	lua_remove(L, -2);
	{
		lua_createtable(L, 0, 1);
		lua_insert(L, -2);
		lua_setfield(L, -2, "title");
		lua_rawseti(L, -2, 5);
	}
	lua_setfield(L, -2, "breadcrumbs");
	S_sets(L, "description", r->summary ? r->summary : r->title);
	lua_pop(L, 1);

	S_push_summary(L, s, r);
	lua_pushlstring(L, w->body.data ? w->body.data : "", w->body.len);
	lua_setfield(L, -2, "content");
	lua_createtable(L, (int)toc.n, 0);
	for (k = 0; k < toc.n; k++) {
		lua_createtable(L, 0, 3);
		S_seti(L, "level", toc.v[k].level);
		S_sets(L, "id", toc.v[k].id);
		S_sets(L, "text", toc.v[k].text);
		lua_rawseti(L, -2, (lua_Integer)k + 1);
	}
	lua_setfield(L, -2, "toc");
	if (r->prev_year != NO_REPORT) {
		S_push_summary_ro(w, L, s, r->prev_year);
		lua_setfield(L, -2, "prev");
	}
	if (r->next_year != NO_REPORT) {
		S_push_summary_ro(w, L, s, r->next_year);
		lua_setfield(L, -2, "next");
	}
	lua_createtable(L, (int)r->nattachments, 0);
	for (k = 0; k < r->nattachments; k++) {
		lua_createtable(L, 0, 3);
		S_sets(L, "name", r->attachments[k].name);
		S_sets(L, "url", r->attachments[k].url);
		S_seti(L, "size", r->attachments[k].size);
		lua_rawseti(L, -2, (lua_Integer)k + 1);
	}
	lua_setfield(L, -2, "attachments");
	/* The department's other years, oldest first. */
	{
		const struct group *g = &s->depts[r->dept];
		int	 n = 0;

		/*
		 * Each entry: { current = … } over the cached summary, so
		 * y.title and the rest read through (pairs() shows only
		 * current).
		 */
		lua_createtable(L, (int)g->n, 0);
		for (k = g->n; k-- > 0; ) {
			lua_createtable(L, 0, 1);
			lua_pushboolean(L, g->reports[k] == i);
			lua_setfield(L, -2, "current");
			lua_createtable(L, 0, 1);
			S_push_summary_ro(w, L, s, g->reports[k]);
			lua_setfield(L, -2, "__index");
			lua_setmetatable(L, -2);
			lua_rawseti(L, -2, ++n);
		}
		lua_setfield(L, -2, "years");
	}
	lua_setfield(L, -2, "report");
	toc_free(&toc);
	/* bundles.h: the standalone page from these variables, then the link. */
	if (ctx->bd != NULL) {
		if (pending && bundles_report_standalone(ctx->bd, i, w->tmpl,
		    key) == -1)
			ctx->failed = 1;
		bundles_push(ctx->bd, L, BUNDLE_REPORT, i);
		lua_setfield(L, -2, "bundle");
	}
	/*
	 * Links are checked against the rendered page, whose ids are final.
	 * Their errors are counted by diag, so the build still goes on to
	 * links_finish() and reports every broken link at once.
	 */
	if (S_render(ctx, w, "report.html", r->out) == 0 && o->links) {
		/*
		 * Filters rebuild the nodes they touch, which loses source
		 * positions: check the links as written, in a fresh parse.
		 */
		cmark_node *src = filtered ? md_parse(text + r->body_off,
		    len - r->body_off, o->cfg->unsafe_html) : doc;

		links_check_report(o->links, worker, i, text, len, src,
		    w->html.data, w->html.len, &depbuf);
		if (src != doc)
			md_free(src);
	}
	out_cache_put(o->out, r->out, key, buf_cstr(&depbuf));
	buf_free(&depbuf);
	md_free(doc);
	free(text);
	S_progress(ctx);
}

/* ---- listing pages ---- */

#define SIBLINGS 30
/* Pages around the current one in page.pagination.pages. */
#define PAGER_WINDOW 5

/*
 * page.siblings: up to SIBLINGS departments of the same category around
 * department d, and page.siblings_total.  A national site has thousands
 * of departments per category: listing them all on every department
 * page would make the site quadratic in size.
 */
static void
S_push_siblings(struct S_ctx *ctx, lua_State *L, size_t d,
    const struct group *cat)
{
	const struct site *s = ctx->o->site;
	size_t	 ci = (size_t)(cat - s->cats), n = ctx->ncatdepts[ci];
	size_t	 pos = ctx->deptpos[d], from, to, k;

	from = pos > SIBLINGS / 2 ? pos - SIBLINGS / 2 : 0;
	to = from + SIBLINGS < n ? from + SIBLINGS : n;
	if (to - from < SIBLINGS && to == n)
		from = n > SIBLINGS ? n - SIBLINGS : 0;
	lua_createtable(L, (int)(to - from), 0);
	for (k = from; k < to; k++) {
		const struct group *g = &s->depts[ctx->catdepts[ci][k]];

		lua_createtable(L, 0, 4);
		S_sets(L, "name", g->name);
		S_sets(L, "url", g->url);
		S_seti(L, "count", (long long)g->n);
		lua_rawseti(L, -2, (lua_Integer)(k - from + 1));
	}
	lua_setfield(L, -2, "siblings");
	S_seti(L, "siblings_total", (long long)n);
	/* The index page that lists this department among all of them. */
	if (ctx->dixurl[ci] != NULL) {
		char *u = S_page_url(ctx->dixurl[ci], pos / DEPTS_PAGE + 1);

		S_sets(L, "siblings_url", u);
		free(u);
	}
}

/*
 * page.pagination of page `page` of `npages` of a listing whose first
 * page is base, into the table at the top.
 */
static void
S_push_pagination(lua_State *L, const char *base, size_t page, size_t npages)
{
	size_t	 k;
	char	*u;

	lua_createtable(L, 0, 6);
	S_seti(L, "current", (long long)page);
	S_seti(L, "total", (long long)npages);
	if (page > 1) {
		u = S_page_url(base, page - 1);
		S_sets(L, "prev", u);
		free(u);
	}
	if (page < npages) {
		u = S_page_url(base, page + 1);
		S_sets(L, "next", u);
		free(u);
	}
	/*
	 * The first, the last and the pages within PAGER_WINDOW of this
	 * one: every page on every page would make a national listing of
	 * tens of thousands of pages quadratic.
	 */
	lua_createtable(L, 2 * PAGER_WINDOW + 3, 0);
	{
		int	 np = 0;

		for (k = 1; k <= npages; k++) {
			if (k != 1 && k != npages &&
			    k + PAGER_WINDOW < page)
				k = page - PAGER_WINDOW;
			if (k != npages && k > page + PAGER_WINDOW)
				k = npages;
			lua_createtable(L, 0, 2);
			S_seti(L, "n", (long long)k);
			u = S_page_url(base, k);
			S_sets(L, "url", u);
			free(u);
			lua_rawseti(L, -2, ++np);
		}
	}
	lua_setfield(L, -2, "pages");
	lua_setfield(L, -2, "pagination");
}

/*
 * A listing page the build cache already has under key: keep it, count
 * it and return 1; else return 0.
 */
static int
S_reuse(struct S_ctx *ctx, const char *out, const unsigned char key[32])
{
	if (out_cache_reuse(ctx->o->out, out, key, NULL) != 0)
		return 0;
	__atomic_add_fetch(&ctx->pages, 1, __ATOMIC_RELAXED);
	out_cache_put(ctx->o->out, out, key, NULL);
	return 1;
}

/*
 * A page of a category's departments index (DEPTS_TEMPLATE): each
 * department with its report count and newest report.
 */
static void
S_deptindex(struct S_ctx *ctx, const struct S_list *job, size_t i,
    struct S_worker *w)
{
	const struct page_opts *o = ctx->o;
	const struct site *s = o->site;
	const struct group *c = job->g;
	size_t	 ci = (size_t)(c - s->cats), n = ctx->ncatdepts[ci];
	size_t	 from = (job->page - 1) * DEPTS_PAGE, to, k;
	lua_State *L = tmpl_lua(w->tmpl);
	const char *base = ctx->dixurl[ci];
	char	*out, *url, *title, *d;
	unsigned char key[32];

	to = from + DEPTS_PAGE < n ? from + DEPTS_PAGE : n;
	out = S_dix_file(c, job->page);
	/*
	 * Its variables are the site's groups (S_site_hash: departments,
	 * their counts, URLs and categories), the newest report of each
	 * department listed, and which page.
	 */
	{
		struct sha256 h;

		sha256_init(&h);
		sha256_update(&h, o->global, 32);
		sha256_update(&h, ctx->site_hash, 32);
		S_hash_str(&h, DEPTS_TEMPLATE);
		S_hash_str(&h, c->name);
		sha256_update(&h, &job->page, sizeof(job->page));
		sha256_update(&h, &job->npages, sizeof(job->npages));
		for (k = from; k < to; k++)
			sha256_update(&h, ctx->sumhash[s->depts[
			    ctx->catdepts[ci][k]].reports[0]], 32);
		sha256_final(&h, key);
	}
	if (S_reuse(ctx, out, key)) {
		free(out);
		return;
	}
	url = S_page_url(base, job->page);
	title = xasprintf("%s：部门名录", c->name);
	S_push_vars(w, o, "departments", title, url, 1);
	S_page_table(L);
	lua_createtable(L, 4, 0);
	S_crumb(L, 1, "首页", "index.html");
	S_crumb(L, 2, o->cfg->parent_title, "reports.html");
	S_crumb(L, 3, c->name, c->url);
	S_crumb(L, 4, "部门名录", NULL);
	lua_setfield(L, -2, "breadcrumbs");
	d = xasprintf("%s：%s", title, o->cfg->title);
	S_sets(L, "description", d);
	free(d);
	S_push_pagination(L, base, job->page, job->npages);
	lua_pop(L, 1);
	S_push_group(L, c);
	S_category_fields(ctx, L, ci);
	lua_setfield(L, -2, "group");
	lua_createtable(L, (int)(to - from), 0);
	for (k = from; k < to; k++) {
		const struct group *g = &s->depts[ctx->catdepts[ci][k]];

		S_push_group(L, g);
		if (g->n > 0) {
			S_push_summary_ro(w, L, s, g->reports[0]);
			lua_setfield(L, -2, "latest");
		}
		lua_rawseti(L, -2, (lua_Integer)(k - from + 1));
	}
	lua_setfield(L, -2, "departments");
	S_render(ctx, w, DEPTS_TEMPLATE, out);
	out_cache_put(o->out, out, key, NULL);
	if (i % TRIM_EVERY == TRIM_EVERY - 1)	/* as S_progress */
		malloc_trim(0);
	free(out);
	free(url);
	free(title);
}

static void
S_listing(void *arg, size_t i, int worker)
{
	struct S_ctx *ctx = arg;
	const struct page_opts *o = ctx->o;
	const struct site *s = o->site;
	const struct S_list *job = &ctx->jobs[i];
	struct S_worker *w = &ctx->w[worker];
	lua_State *L = tmpl_lua(w->tmpl);
	const size_t *idx;
	size_t	 n, from, to, k;
	const char *base;
	char	*url, *title, *u, *out;
	unsigned char key[32];

	if (strcmp(job->kind, "departments") == 0) {
		S_deptindex(ctx, job, i, w);
		return;
	}
	if (job->g) {
		idx = job->g->reports;
		n = job->g->n;
		base = job->g->url;
	} else {
		idx = s->newest;
		n = s->n;
		base = "reports.html";
	}
	from = (job->page - 1) * (size_t)o->cfg->page_size;
	to = from + (size_t)o->cfg->page_size;
	if (to > n)
		to = n;
	/* The file name keeps its characters; only the URL is encoded. */
	u = job->g ? xasprintf("%s/%s.html", job->kind, job->g->key) :
	    xstrdup(base);
	out = S_page_url(u, job->page);
	free(u);
	/*
	 * Its key, from what its variables are made of: the build and the
	 * site (S_site_hash: groups, their counts and categories, hence
	 * titles, breadcrumbs, siblings and pager URLs), which group and
	 * page, its bundle, and the summaries it lists.  A reused page is
	 * not even pushed to Lua.
	 */
	{
		struct sha256 h;

		sha256_init(&h);
		sha256_update(&h, o->global, 32);
		sha256_update(&h, ctx->site_hash, 32);
		S_hash_str(&h, "list.html");
		S_hash_str(&h, job->kind);
		S_hash_str(&h, job->g ? job->g->name : NULL);
		sha256_update(&h, &job->page, sizeof(job->page));
		sha256_update(&h, &job->npages, sizeof(job->npages));
		if (job->g && ctx->bd != NULL) {
			bundles_push_group(ctx->bd, L, job->g);
			S_hash_lua(&h, L, -1, 1);
			lua_pop(L, 1);
		}
		for (k = from; k < to; k++)
			sha256_update(&h, ctx->sumhash[idx[k]], 32);
		sha256_final(&h, key);
	}
	if (S_reuse(ctx, out, key)) {
		free(out);
		return;
	}
	url = S_page_url(base, job->page);
	if (job->g == NULL)
		title = xstrdup("全部报告");
	else if (strcmp(job->kind, "year") == 0)
		title = xasprintf("%s年", job->g->name);
	else
		title = xstrdup(job->g->name);
	S_push_vars(w, o, job->kind, title, url, job->g ? 1 : 0);
	S_page_table(L);
	lua_createtable(L, 3, 0);
	S_crumb(L, 1, "首页", "index.html");
	if (job->g && strcmp(job->kind, "department") == 0 && job->g->n > 0) {
		/* As on its reports: 首页 > 法治政府建设 > category > department. */
		const struct group *c = &s->cats[s->reports[job->g->reports[0]].cat];

		S_crumb(L, 2, o->cfg->parent_title, "reports.html");
		S_crumb(L, 3, c->name, c->url);
		S_crumb(L, 4, title, NULL);
		lua_setfield(L, -2, "breadcrumbs");
		S_push_siblings(ctx, L, (size_t)(job->g - s->depts), c);
	} else if (job->g) {
		S_crumb(L, 2, o->cfg->parent_title, "reports.html");
		S_crumb(L, 3, title, NULL);
		lua_setfield(L, -2, "breadcrumbs");
	} else {
		S_crumb(L, 2, o->cfg->parent_title, NULL);
		lua_setfield(L, -2, "breadcrumbs");
	}
	{
		char *d = xasprintf("%s：%s", title, o->cfg->title);

		S_sets(L, "description", d);
		free(d);
	}
	S_push_pagination(L, base, job->page, job->npages);
	if (job->g && strcmp(job->kind, "department") == 0) {
		char *feed = xasprintf("%.*s.xml", (int)(strlen(base) - 5),
		    base);

		S_sets(L, "feed", feed);
		free(feed);
	}
	lua_pop(L, 1);
	if (job->g) {
		S_push_group(L, job->g);
		if (strcmp(job->kind, "category") == 0)
			S_category_fields(ctx, L, (size_t)(job->g - s->cats));
		lua_setfield(L, -2, "group");
	}
	if (job->g && ctx->bd != NULL) {	/* bundles.h */
		bundles_push_group(ctx->bd, L, job->g);
		lua_setfield(L, -2, "bundle");
	}
	lua_createtable(L, (int)(to - from), 0);
	for (k = from; k < to; k++) {
		S_push_summary_ro(w, L, s, idx[k]);
		lua_rawseti(L, -2, (lua_Integer)(k - from + 1));
	}
	lua_setfield(L, -2, "reports");
	S_render(ctx, w, "list.html", out);
	out_cache_put(o->out, out, key, NULL);
	free(out);
	if (i % TRIM_EVERY == TRIM_EVERY - 1)	/* as S_progress */
		malloc_trim(0);
	free(url);
	free(title);
}

/* ---- single pages ---- */

static void
S_home(struct S_ctx *ctx, struct S_worker *w)
{
	const struct page_opts *o = ctx->o;
	const struct site *s = o->site;
	lua_State *L = tmpl_lua(w->tmpl);
	size_t	 k, n;

	S_push_vars(w, o, "home", o->cfg->title, "index.html", 0);
	S_page_table(L);
	S_sets(L, "description", o->cfg->description);
	lua_createtable(L, 1, 0);
	S_crumb(L, 1, "首页", NULL);
	lua_setfield(L, -2, "breadcrumbs");
	S_sets(L, "feed", "atom.xml");
	lua_pop(L, 1);
	n = s->n < 10 ? s->n : 10;
	lua_createtable(L, (int)n, 0);
	for (k = 0; k < n; k++) {
		S_push_summary_ro(w, L, s, s->newest[k]);
		lua_rawseti(L, -2, (lua_Integer)k + 1);
	}
	lua_setfield(L, -2, "latest");
	/*
	 * The departments by category: each category's own list up to
	 * HOME_DEPTS of them (or all, when the theme has no index to link),
	 * past that only its count and index.
	 */
	lua_createtable(L, (int)s->ncats, 0);
	for (k = 0, n = 0; k < s->ncats; k++) {
		size_t	 nd = ctx->ncatdepts[k], d;

		if (nd == 0)
			continue;
		lua_createtable(L, 0, 5);
		S_sets(L, "name", s->cats[k].name);
		S_sets(L, "category_url", s->cats[k].url);
		S_sets(L, "url", ctx->dixurl[k]);
		S_seti(L, "count", (long long)nd);
		if (nd <= HOME_DEPTS || ctx->dixurl[k] == NULL) {
			lua_createtable(L, (int)nd, 0);
			for (d = 0; d < nd; d++) {
				S_push_group(L, &s->depts[ctx->catdepts[k][d]]);
				lua_rawseti(L, -2, (lua_Integer)d + 1);
			}
			lua_setfield(L, -2, "departments");
		}
		lua_rawseti(L, -2, (lua_Integer)++n);
	}
	lua_setfield(L, -2, "department_groups");
	S_render(ctx, w, "home.html", "index.html");
}

static void
S_notfound(struct S_ctx *ctx, struct S_worker *w)
{
	const struct page_opts *o = ctx->o;
	lua_State *L = tmpl_lua(w->tmpl);
	const char *path = strstr(o->cfg->base_url, "://");

	/* Served for any missing URL, so its links are absolute paths. */
	path = path ? strchr(path + 3, '/') : o->cfg->base_url;
	S_push_vars(w, o, "404", "页面未找到", "404.html", 0);
	lua_pushstring(L, path ? path : "/");
	lua_setfield(L, -2, "root");
	S_page_table(L);
	lua_createtable(L, 1, 0);
	S_crumb(L, 1, "首页", "index.html");
	lua_setfield(L, -2, "breadcrumbs");
	lua_pop(L, 1);
	S_render(ctx, w, "404.html", "404.html");
}

/* ---- feeds, sitemap, robots ---- */

static void
S_xml(struct buf *b, const char *s)
{
	buf_html_escape(b, s, strlen(s));
}

/* RFC 3339 time of a report: its date, else the end of its year. */
static void
S_rfc3339(struct buf *b, const struct report *r)
{
	if (r->date)
		buf_printf(b, "%sT00:00:00+08:00", r->date);
	else
		buf_printf(b, "%d-12-31T00:00:00+08:00", r->year);
}

static int
S_feed(struct S_ctx *ctx, const char *rel, const char *title,
    const size_t *idx, size_t n, const char *self_page)
{
	const struct page_opts *o = ctx->o;
	const struct site *s = o->site;
	const char *base = o->cfg->base_url;
	struct buf b = { 0 };
	size_t	 k;
	int	 rc;

	if (n > (size_t)o->cfg->feed_size)
		n = (size_t)o->cfg->feed_size;
	/* Reused from the cache when made of the same: a site has a feed per department. */
	{
		struct sha256 h;
		unsigned char key[32];

		sha256_init(&h);
		sha256_update(&h, o->global, 32);
		S_hash_str(&h, "feed");
		S_hash_str(&h, rel);
		S_hash_str(&h, title);
		S_hash_str(&h, self_page);
		sha256_update(&h, &n, sizeof(n));
		for (k = 0; k < n; k++)
			sha256_update(&h, ctx->sumhash[idx[k]], 32);
		sha256_final(&h, key);
		out_cache_put(o->out, rel, key, NULL);
		if (out_cache_reuse(o->out, rel, key, NULL) == 0)
			return 0;
	}
	buf_puts(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	    "<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"");
	S_xml(&b, o->cfg->language);
	buf_puts(&b, "\">\n  <title>");
	S_xml(&b, title);
	buf_puts(&b, "</title>\n  <id>");
	S_xml(&b, base);
	S_xml(&b, rel);
	buf_puts(&b, "</id>\n  <link rel=\"self\" href=\"");
	S_xml(&b, base);
	S_xml(&b, rel);
	buf_puts(&b, "\"/>\n  <link rel=\"alternate\" type=\"text/html\" href=\"");
	S_xml(&b, base);
	S_xml(&b, self_page);
	buf_puts(&b, "\"/>\n  <updated>");
	if (n > 0)
		S_rfc3339(&b, &s->reports[idx[0]]);
	else
		buf_puts(&b, "1970-01-01T00:00:00Z");
	buf_puts(&b, "</updated>\n  <author><name>");
	S_xml(&b, o->cfg->title);
	buf_puts(&b, "</name></author>\n");
	for (k = 0; k < n; k++) {
		const struct report *r = &s->reports[idx[k]];

		buf_puts(&b, "  <entry>\n    <title>");
		S_xml(&b, r->title);
		buf_puts(&b, "</title>\n    <id>");
		S_xml(&b, base);
		S_xml(&b, r->url);
		buf_puts(&b, "</id>\n    <link rel=\"alternate\" type=\"text/html\" href=\"");
		S_xml(&b, base);
		S_xml(&b, r->url);
		buf_puts(&b, "\"/>\n    <updated>");
		S_rfc3339(&b, r);
		buf_puts(&b, "</updated>\n    <author><name>");
		S_xml(&b, r->source ? r->source : r->department);
		buf_puts(&b, "</name></author>\n    <category term=\"");
		S_xml(&b, r->category);
		buf_puts(&b, "\"/>\n    <summary>");
		S_xml(&b, r->summary ? r->summary : r->title);
		buf_puts(&b, "</summary>\n  </entry>\n");
	}
	buf_puts(&b, "</feed>\n");
	rc = out_write(o->out, rel, b.data, b.len);
	buf_free(&b);
	return rc;
}

static void
S_sitemap_url(struct buf *b, const char *base, const char *url,
    const char *lastmod)
{
	buf_puts(b, "  <url><loc>");
	S_xml(b, base);
	S_xml(b, strcmp(url, "index.html") ? url : "");
	buf_puts(b, "</loc>");
	if (lastmod) {
		buf_puts(b, "<lastmod>");
		S_xml(b, lastmod);
		buf_puts(b, "</lastmod>");
	}
	buf_puts(b, "</url>\n");
}

/* A sitemap file holds at most this many URLs (sitemaps.org). */
#define SITEMAP_MAX 50000

/* Sitemap state: URLs go into parts of SITEMAP_MAX, each written when full. */
struct S_smap {
	const struct page_opts *o;
	struct buf	 b;
	size_t		 n;		/* URLs in b */
	size_t		 parts;		/* parts written */
	int		 split;		/* more URLs than one file holds */
	int		 failed;
};

static void
S_smap_flush(struct S_smap *m)
{
	char	*rel;

	if (m->n == 0 && m->parts > 0)
		return;
	buf_puts(&m->b, "</urlset>\n");
	rel = m->split ? xasprintf("sitemap-%zu.xml", m->parts + 1) :
	    xstrdup("sitemap.xml");
	if (out_write(m->o->out, rel, m->b.data, m->b.len) == -1)
		m->failed = 1;
	free(rel);
	m->parts++;
	m->n = 0;
	buf_reset(&m->b);
}

static void
S_smap_url(struct S_smap *m, const char *url, const char *lastmod)
{
	if (m->n == 0)
		buf_puts(&m->b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
		    "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
	S_sitemap_url(&m->b, m->o->cfg->base_url, url, lastmod);
	if (++m->n == SITEMAP_MAX)
		S_smap_flush(m);
}

/*
 * sitemap.xml lists every page; past SITEMAP_MAX URLs it is an index of
 * sitemap-1.xml, sitemap-2.xml, ..., written as they fill, so memory
 * stays flat however large the site.
 */
static int
S_sitemap(struct S_ctx *ctx)
{
	const struct page_opts *o = ctx->o;
	const struct site *s = o->site;
	const char *base = o->cfg->base_url;
	struct S_smap m;
	size_t	 i, total;
	char	*robots;
	int	 rc;

	memset(&m, 0, sizeof(m));
	m.o = o;
	total = 1 + ctx->njobs + s->n + ctx->dlpages;
	m.split = total > SITEMAP_MAX;
	S_smap_url(&m, "index.html", NULL);
	for (i = 0; i < ctx->njobs; i++) {
		const struct S_list *j = &ctx->jobs[i];
		char *u = S_page_url(strcmp(j->kind, "departments") == 0 ?
		    ctx->dixurl[j->g - s->cats] : j->g ? j->g->url :
		    "reports.html", j->page);

		S_smap_url(&m, u, NULL);
		free(u);
	}
	for (i = 0; i < s->n; i++)
		S_smap_url(&m, s->reports[i].url, s->reports[i].date);
	for (i = 1; i <= ctx->dlpages; i++) {
		char *u = S_page_url("downloads.html", i);

		S_smap_url(&m, u, NULL);
		free(u);
	}
	S_smap_flush(&m);
	if (m.split) {
		buf_puts(&m.b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
		    "<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
		for (i = 1; i <= m.parts; i++) {
			buf_puts(&m.b, "  <sitemap><loc>");
			S_xml(&m.b, base);
			buf_printf(&m.b, "sitemap-%zu.xml</loc></sitemap>\n", i);
		}
		buf_puts(&m.b, "</sitemapindex>\n");
		if (out_write(o->out, "sitemap.xml", m.b.data, m.b.len) == -1)
			m.failed = 1;
	}
	buf_free(&m.b);
	rc = m.failed ? -1 : 0;
	robots = xasprintf("User-agent: *\nAllow: /\n\nSitemap: %ssitemap.xml\n",
	    base);
	if (out_write(o->out, "robots.txt", robots, strlen(robots)) == -1)
		rc = -1;
	free(robots);
	return rc;
}

/* ---- theme assets ---- */

#include <dirent.h>
#include <sys/stat.h>

static int
S_static(struct S_ctx *ctx, const char *abs, const char *rel, size_t *count)
{
	DIR	*d;
	struct dirent *de;
	char	**names = NULL;
	size_t	 n = 0, i;
	int	 rc = 0;
	struct stat st;

	if ((d = opendir(abs)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		names = xrealloc(names, (n + 1) * sizeof(char *));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	for (i = 0; i < n; i++) {
		char *a = path_join(abs, names[i]);
		char *r = path_join(rel, names[i]);

		if (lstat(a, &st) == 0 && S_ISDIR(st.st_mode))
			rc |= S_static(ctx, a, r, count);
		else if (lstat(a, &st) == 0 && S_ISREG(st.st_mode)) {
			if (out_copy(ctx->o->out, r, a) == -1)
				rc = -1;
			(*count)++;
		}
		free(a);
		free(r);
		free(names[i]);
	}
	free(names);
	return rc;
}

/* ---- downloads and the whole-site bundle (bundles.h) ---- */

/*
 * downloads.html twice: the offline variant goes into the whole-site
 * zip, whose exact size the published one then shows.  Called after
 * every other file is written.
 */
/*
 * The downloads pages: downloads.html, then downloads-2.html and on,
 * DOWNLOAD_DEPTS departments a page with their reports' bundles (a
 * national site's one page would hold a million links).  Each is
 * rendered with offline = true for the whole-site bundle, then, once
 * that bundle's size is known, as published.
 */
static void
S_downloads(struct S_ctx *ctx, struct S_worker *w)
{
	const struct page_opts *o = ctx->o;
	lua_State *L = tmpl_lua(w->tmpl);
	struct buf off = { 0 };
	size_t	 p, np = ctx->dlpages;
	int	 offline, nw = o->workers > 0 ? o->workers : 1;
	char	*url, *title, *c;

	for (offline = 1; offline >= 0 && !ctx->failed; offline--) {
		if (!offline && bundles_site(ctx->bd, nw) == -1) {
			ctx->failed = 1;
			break;
		}
		for (p = 1; p <= np && !ctx->failed; p++) {
			url = S_page_url("downloads.html", p);
			title = p == 1 ? xstrdup("下载") :
			    xasprintf("下载（第 %zu 页）", p);
			S_push_vars(w, o, "downloads", title, url, 0);
			S_page_table(L);
			lua_createtable(L, 3, 0);
			S_crumb(L, 1, "首页", "index.html");
			S_crumb(L, 2, "下载", p == 1 ? NULL : "downloads.html");
			if (p > 1) {
				c = xasprintf("第 %zu 页", p);
				S_crumb(L, 3, c, NULL);
				free(c);
			}
			lua_setfield(L, -2, "breadcrumbs");
			S_sets(L, "description", "按报告、部门、年度、类别和全站"
			    "打包的离线压缩包，解压后可直接用浏览器阅读。");
			S_push_pagination(L, "downloads.html", p, np);
			lua_pop(L, 1);
			bundles_push_downloads(ctx->bd, L, offline,
			    (p - 1) * DOWNLOAD_DEPTS, p * DOWNLOAD_DEPTS);
			if (!offline)
				S_render(ctx, w, "downloads.html", url);
			else {
				buf_reset(&off);
				if (tmpl_render(w->tmpl, "downloads.html",
				    &off) == -1)
					ctx->failed = 1;
				else
					bundles_site_page(ctx->bd, url,
					    off.data ? off.data : "", off.len);
			}
			free(url);
			free(title);
		}
	}
	buf_free(&off);
}

/* ---- the build ---- */

int
page_build(const struct page_opts *o, struct build_stats *st)
{
	struct S_ctx ctx;
	const struct site *s = o->site;
	size_t	 i, g, p, nj = 0;
	int	 nw = o->workers > 0 ? o->workers : 1;
	char	*dir;

	memset(&ctx, 0, sizeof(ctx));
	memset(st, 0, sizeof(*st));
	ctx.o = o;
	/*
	 * Each category's departments (a department is in its newest
	 * report's category), by name: for the departments indexes, the
	 * home page and department pages' side lists.
	 */
	ctx.catdepts = xcalloc(s->ncats + 1, sizeof(*ctx.catdepts));
	ctx.ncatdepts = xcalloc(s->ncats + 1, sizeof(*ctx.ncatdepts));
	ctx.deptpos = xcalloc(s->ndepts + 1, sizeof(*ctx.deptpos));
	ctx.dixurl = xcalloc(s->ncats + 1, sizeof(*ctx.dixurl));
	for (i = 0; i < s->ndepts; i++) {
		size_t c = s->depts[i].n ? s->reports[s->depts[i].reports[0]].cat : 0;

		ctx.catdepts[c] = xgrow(ctx.catdepts[c], ctx.ncatdepts[c],
		    sizeof(size_t));
		ctx.deptpos[i] = ctx.ncatdepts[c];
		ctx.catdepts[c][ctx.ncatdepts[c]++] = i;
	}
	if (o->bundles && tmpl_exists(o->tmpl, "downloads.html"))
		ctx.dlpages = S_npages(s->ndepts, DOWNLOAD_DEPTS);
	/* Downloads pages past the first, known before any page links them. */
	for (p = 2; o->links != NULL && p <= ctx.dlpages; p++) {
		char *u = S_page_url("downloads.html", p);

		links_add_target(o->links, u);
		free(u);
	}
	if (tmpl_exists(o->tmpl, DEPTS_TEMPLATE))
		for (i = 0; i < s->ncats; i++)
			if (ctx.ncatdepts[i] > 0)
				ctx.dixurl[i] = site_url("departments",
				    s->cats[i].key, ".html");
	ctx.w = xcalloc((size_t)nw, sizeof(*ctx.w));
	for (i = 0; i < (size_t)nw; i++) {
		lua_State *L;

		ctx.w[i].tmpl = tmpl_env_new(o->tmpl);
		ctx.w[i].filter = filter_env_new(o->root, o->cfg, o->site);
		L = tmpl_lua(ctx.w[i].tmpl);
		S_push_site(L, &ctx);
		/* Shared by every page the worker renders: read-only. */
		tmpl_readonly(L);
		ctx.w[i].site_ref = luaL_ref(L, LUA_REGISTRYINDEX);
		ctx.w[i].sum_ref = LUA_NOREF;
		S_summaries_reset(&ctx.w[i], L);
	}
	/* Listing jobs: every page of every group, and of "all reports". */
	{
		const struct { const char *kind; const struct group *v; size_t n; }
		    kinds[] = {
			{ "category", s->cats, s->ncats },
			{ "department", s->depts, s->ndepts },
			{ "year", s->years, s->nyears },
		};
		size_t	 cap = 16;

		ctx.jobs = xcalloc(cap, sizeof(*ctx.jobs));
		for (g = 0; g < 3; g++)
			for (i = 0; i < kinds[g].n; i++) {
				size_t np = S_npages(kinds[g].v[i].n,
				    o->cfg->page_size);

				for (p = 1; p <= np; p++) {
					if (nj == cap) {
						cap *= 2;
						ctx.jobs = xrealloc(ctx.jobs,
						    cap * sizeof(*ctx.jobs));
					}
					ctx.jobs[nj].kind = kinds[g].kind;
					ctx.jobs[nj].g = &kinds[g].v[i];
					ctx.jobs[nj].page = p;
					ctx.jobs[nj].npages = np;
					nj++;
				}
			}
		p = S_npages(s->n, o->cfg->page_size);
		ctx.jobs = xrealloc(ctx.jobs, (nj + p + 1) * sizeof(*ctx.jobs));
		for (i = 1; i <= p; i++) {
			ctx.jobs[nj].kind = "all";
			ctx.jobs[nj].g = NULL;
			ctx.jobs[nj].page = i;
			ctx.jobs[nj].npages = p;
			nj++;
		}
		/* The departments indexes, one per category that has any. */
		for (g = 0; g < s->ncats; g++) {
			if (ctx.dixurl[g] == NULL)
				continue;
			p = S_npages(ctx.ncatdepts[g], DEPTS_PAGE);
			ctx.jobs = xrealloc(ctx.jobs, (nj + p + 1) *
			    sizeof(*ctx.jobs));
			for (i = 1; i <= p; i++) {
				char *f = S_dix_file(&s->cats[g], i);

				ctx.jobs[nj].kind = "departments";
				ctx.jobs[nj].g = &s->cats[g];
				ctx.jobs[nj].page = i;
				ctx.jobs[nj].npages = p;
				nj++;
				/* Known to the link check before any page links it. */
				if (o->links != NULL)
					links_add_target(o->links, f);
				free(f);
			}
		}
		ctx.njobs = nj;
	}
	ctx.total = s->n;
	S_site_hash(o, ctx.site_hash);
	ctx.sumhash = xcalloc(s->n + 1, 32);
	pool_run(s->n, nw, S_sumhash, &ctx);
	{
		struct sha256 h;

		sha256_init(&h);
		for (i = 0; i < s->n; i++)
			sha256_update(&h, ctx.sumhash[i], 32);
		sha256_final(&h, ctx.index_hash);
	}
	if (o->bundles)
		ctx.bd = bundles_new(s, o->cfg, o->root, o->tmpl, o->out,
		    o->links);
	timing("page setup");
	pool_run(s->n, nw, S_report, &ctx);
	timing("report pages");
	if (o->progress && s->n >= 500)
		fputc('\n', stderr);
	/* bundles.h: group zips first, the listing pages show their sizes. */
	if (ctx.bd != NULL && !ctx.failed && bundles_groups(ctx.bd, nw) == -1)
		ctx.failed = 1;
	timing("group bundles");
	pool_run(ctx.njobs, nw, S_listing, &ctx);
	timing("listing pages");
	/* The single pages show few summaries: the caches' memory goes. */
	for (i = 0; i < (size_t)nw; i++) {
		lua_State *L = tmpl_lua(ctx.w[i].tmpl);

		S_summaries_reset(&ctx.w[i], L);
		lua_gc(L, LUA_GCCOLLECT);
	}
	S_home(&ctx, &ctx.w[0]);
	S_notfound(&ctx, &ctx.w[0]);
	if (S_feed(&ctx, "atom.xml", o->cfg->title, s->newest, s->n,
	    "index.html") == -1)
		ctx.failed = 1;
	for (i = 0; i < s->ndepts; i++) {
		const struct group *d = &s->depts[i];
		char *rel = xasprintf("department/%s.xml", d->key);
		char *t = xasprintf("%s — %s", d->name, o->cfg->title);

		if (S_feed(&ctx, rel, t, d->reports, d->n, d->url) == -1)
			ctx.failed = 1;
		free(rel);
		free(t);
	}
	timing("home, feeds");
	if (S_sitemap(&ctx) == -1)
		ctx.failed = 1;
	dir = xasprintf("%s/themes/%s/static", o->root, o->cfg->theme);
	if (S_static(&ctx, dir, "assets", &st->static_files) == -1)
		ctx.failed = 1;
	free(dir);
	for (i = 0; i < s->n; i++)
		st->static_files += s->reports[i].nattachments;
	timing("sitemap, assets");
	if (ctx.bd != NULL) {		/* bundles.h: after every other file */
		if (!ctx.failed)
			S_downloads(&ctx, &ctx.w[0]);
		st->bundles = bundles_count(ctx.bd);
		bundles_free(ctx.bd);
	}
	timing("site bundle");
	st->reports = s->n;
	st->pages = ctx.pages;
	st->reused = ctx.reused;
	for (i = 0; i < (size_t)nw; i++) {
		tmpl_env_free(ctx.w[i].tmpl);
		filter_env_free(ctx.w[i].filter);
		buf_free(&ctx.w[i].html);
		buf_free(&ctx.w[i].body);
		buf_free(&ctx.w[i].scratch);
	}
	free(ctx.w);
	free(ctx.jobs);
	free(ctx.sumhash);
	for (i = 0; i < s->ncats; i++) {
		free(ctx.catdepts[i]);
		free(ctx.dixurl[i]);
	}
	free(ctx.catdepts);
	free(ctx.ncatdepts);
	free(ctx.deptpos);
	free(ctx.dixurl);
	return ctx.failed || out_failed(o->out) ? -1 : 0;
}
