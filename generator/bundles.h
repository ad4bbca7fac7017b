/*
 * bundles.h: the portal's downloadable zip bundles, built alongside
 * the pages (bundle.h writes the zips; this module decides what goes
 * into which).
 *
 * Bundles, under bundles/ in the site (URLs percent-encoded):
 *   bundles/report/<slug>.zip        one report
 *   bundles/department/<key>.zip     a department, all its years
 *   bundles/year/<year>.zip          a year, all departments
 *   bundles/category/<key>.zip       a category (none when it is empty)
 *   bundles/全站.zip                  the whole portal, for file://
 * Inside every bundle but the whole-site one, each report is the
 * directory <department key>/<year>/ holding
 *   <title>.md       its Markdown source, byte for byte
 *   index.html       a standalone page (theme template standalone.html)
 *                    that opens offline: CSS inlined, no <link>, no
 *                    script or image from a URL (images attached to
 *                    the report become data: URIs), attachments linked
 *                    as 附件/<name>, other portal pages as absolute
 *                    base_url links
 *   附件/<name>      its attachments, byte for byte
 * and the bundle's root holds 清单.txt: the metadata and one
 * "sha-256  bytes  name" line per file.  The whole-site bundle holds
 * every file of the site but bundles/ and dot files, as published,
 * except that links to bundles point at base_url (the zips are not in
 * it) and downloads.html is the variant rendered with offline = true.
 *
 * Reproducible: entries are sorted, modes and dates fixed.  A bundle's
 * date is SOURCE_DATE_EPOCH when set, else the report's date (its
 * year's 31 December without one), as UTC midnight; a group's is its
 * newest report's, the whole site's the newest of all.
 *
 * Order within a build (page.c), so that every page can show the exact
 * size of the bundle it links (zip_size() is a pure function of the
 * entries):
 *   1. each report worker: bundles_report_begin(), then, when it says
 *      the standalone page is not cached, bundles_report_standalone()
 *      with the report page's variables; both write the report's zip,
 *      after which bundles_push(BUNDLE_REPORT) gives its size;
 *   2. bundles_groups(): department, year and category zips;
 *   3. listing pages: bundles_push_group();
 *   4. after every other file: each downloads page rendered with
 *      bundles_push_downloads(offline = 1) into bundles_site_page(),
 *      and with offline = 0 into the site; then bundles_site() writes
 *      the whole-site zip.
 *
 * Incremental builds: a report page shows its bundle's size, so the
 * bundles_report_*() functions mix the bundle's URL and size into the
 * page's cache key before the caller looks the page up (or, when the
 * standalone page had to be rendered, before it records the key).
 * Every standalone page inlines the same CSS: it is deflated once
 * (zshared_new()) and spliced into each page's stream
 * (zstore_add_shared()), so only the rest of the page is compressed.
 * The standalone page is cached like a report page, as the hidden file
 * .fazhi-standalone/<slug>.z in the site: a header line and the page
 * compressed as the zips hold it (zstore_add_raw()), so an unchanged
 * page is neither rendered nor compressed again.  Its key is the
 * page's, the inlined CSS, the attachments' contents and the
 * compressor's fingerprint (which covers the deflated CSS).  Sources
 * and attachments are read and compressed on every build, since the
 * zips need them.
 *
 * A dry output (fazhi check) gets everything but the files: nothing is
 * compressed (sizes are those of uncompressed entries, an upper bound;
 * deflating every file only to show a size nobody sees made a check as
 * slow as a build), the whole-site bundle is skipped (its files were
 * never written), and every bundle is declared to the link check.
 *
 * Thread-safety: bundles_report_*() may run on any worker, each for a
 * different report; bundles_push*() may run concurrently once the
 * values they read are final.  The rest runs on one thread.
 */
#ifndef FAZHI_BUNDLES_H
#define FAZHI_BUNDLES_H

#include <stddef.h>

#include <lua.h>

struct config;
struct group;
struct links;
struct out;
struct site;
struct tmpl_env;
struct tmpl_set;

enum bundle_kind {
	BUNDLE_REPORT,		/* index into site.reports */
	BUNDLE_DEPARTMENT,	/* index into site.depts */
	BUNDLE_YEAR,		/* index into site.years */
	BUNDLE_CATEGORY,	/* index into site.cats */
	BUNDLE_SITE		/* index ignored */
};

#define	BUNDLE_SITE_NAME	"全站.zip"
#define	BUNDLE_ATTACH_DIR	"附件"
#define	BUNDLE_STANDALONE	".fazhi-standalone"

/*
 * Start a build's bundles: read the theme's CSS for the standalone
 * pages (static/site.css, then the other static/ .css files in byte
 * order) and SOURCE_DATE_EPOCH.  links may be NULL.  Never fails; a
 * theme without standalone.html gives bundles without index.html
 * (warned once).
 */
struct bundles	*bundles_new(const struct site *, const struct config *,
		    const char *root, const struct tmpl_set *, struct out *,
		    struct links *);
void		 bundles_free(struct bundles *);

/*
 * Report i, step 1.  Read its source and attachments into the store
 * and look up its standalone page in the cache; key is the report
 * page's cache key.  Return 0 when the report's bundle is complete
 * (written, and key updated as by bundles_report_key()), 1 when the
 * standalone page must be rendered (bundles_report_standalone()), -1
 * on error (diagnosed).
 */
int		 bundles_report_begin(struct bundles *, size_t i,
		    unsigned char key[32]);
/*
 * Report i, step 2, only after step 1 returned 1.  Render
 * standalone.html in env with a copy of the variables table at the top
 * of env's Lua stack (the report page's; it is left there, unchanged)
 * plus inline_css and online_url, make it standalone, cache it,
 * complete and write the bundle and update key.  Return 0, or -1 on
 * error (diagnosed).
 */
int		 bundles_report_standalone(struct bundles *, size_t i,
		    struct tmpl_env *, unsigned char key[32]);

/*
 * Department, year and category bundles, from the reports' blobs:
 * written in parallel on nworkers threads.  Return 0 or -1 (diagnosed).
 */
int		 bundles_groups(struct bundles *, int nworkers);

/*
 * Push onto L the bundle's template value, { url = "bundles/…zip"
 * (site-relative, percent-encoded), size = bytes (absent while
 * unknown), name = file name }, or nil when there is no such bundle
 * (an empty category, an unfinished report).
 */
void		 bundles_push(struct bundles *, lua_State *,
		    enum bundle_kind, size_t index);
/* The same for a group of the site index (a department, year or category). */
void		 bundles_push_group(struct bundles *, lua_State *,
		    const struct group *);
/*
 * Set `offline` and `downloads` on the table at the top of L, for a
 * downloads page: downloads = { site = bundle, years = { { name, url,
 * count, bundle }… }, categories = {…} (non-empty ones),
 * departments = { { name, url, count, bundle, reports = { { year,
 * title, url, bundle }… } }… } }, in the site index's orders;
 * departments only those from index `from` to before `to` (a page's).
 */
void		 bundles_push_downloads(struct bundles *, lua_State *,
		    int offline, size_t from, size_t to);

/*
 * A page the whole-site bundle holds instead of the published one of
 * that name: a downloads page rendered with offline = true.  Its links
 * to bundles are pointed at base_url here; it is compressed at once and
 * not kept.  A dry output ignores it.
 */
void		 bundles_site_page(struct bundles *, const char *name,
		    const char *html, size_t len);

/*
 * The whole-site bundle: every file now in the staging directory but
 * bundles/ and dot files, the pages given by bundles_site_page() in
 * place of theirs.  Call after every other file is written.  Return 0
 * or -1 (diagnosed).  A dry output skips it.
 */
int		 bundles_site(struct bundles *, int nworkers);

/* Zip files written (or, dry, that would be). */
size_t		 bundles_count(const struct bundles *);

#endif
