/*
 * links.h: every internal link of the portal resolves, anchors included.
 *
 * Pages are checked as they are rendered, in memory, so the check costs
 * no second pass over the output and its memory does not grow with the
 * number of pages: only the site's file names are kept (the known set),
 * plus the few links whose check must wait for the end of the build.
 *
 * Content links.  links_check_report() takes each link and image of a
 * report's Markdown whose URL is relative (no scheme, not "//host"),
 * resolves it against the report's page (report/<slug>.html; a leading
 * '/' is the base_url's path) and percent-decodes it.  A link that
 * leaves the site, or a #fragment on the same page with no such id in
 * the rendered page, is diagnosed at once; a link to a file the site
 * does not have (yet: zips are declared as they are written), or with a
 * #fragment into another page, is checked by links_finish().  Errors
 * are content errors with the link's position:
 *   content/市司法局/2023.md:14:9: error: broken link "2022.md": …
 *
 * Pages.  links_check_page() (links_check_report() for report pages)
 * checks that the page's ids are unique and each relative href and src
 * (outside <script> and <style>) and its #fragment against the site's
 * files and the target's ids.  A failure that is not a content link is
 * a theme bug, reported once with the first page (by path) that has it,
 * its line, and how many other pages repeat it.
 *
 * The build cache.  A report page reused from the cache is not rendered
 * and its theme links depend only on what its cache key covers; its
 * content links into other files may have broken since (another report
 * renamed, an attachment removed).  links_check_report() gives those as
 * dependency lines for the cache, and links_reused() checks them again;
 * a broken one is looked up in the Markdown and reported at its source.
 *
 * Fragments into other pages are checked in links_finish() against the
 * target page as written into the staging directory (a dry run knows
 * the ids of report pages only).
 *
 * All functions are thread-safe except links_finish() and links_free().
 */
#ifndef FAZHI_LINKS_H
#define FAZHI_LINKS_H

#include <stddef.h>

struct config;
struct site;
struct cmark_node;
struct buf;

struct links;

/*
 * Start a build's checks.  root is the project root (the theme's static
 * files, published under assets/, are in root/themes/THEME/static, and
 * reports are read again from there to place a broken link found in a
 * page reused from the build cache); outdir names pages in
 * diagnostics; bundles says whether downloads.html is written; workers
 * is the number of threads that check pages; dry is set for a build
 * that writes nothing.  Never fails.
 */
struct links	*links_new(const struct site *, const struct config *,
		    const char *root, const char *outdir, int bundles,
		    int workers, int dry);
/* Declare another file the build writes (rel to the site root), e.g. a zip. */
void		 links_add_target(struct links *, const char *rel);
/*
 * Check a rendered page (not a report's) at rel, from worker number
 * worker (0 .. workers-1; it keeps a memo of links found good).  Return
 * the number of errors diagnosed now; more may come from links_finish().
 */
size_t		 links_check_page(struct links *, int worker, const char *rel,
		    const char *html, size_t len);
/*
 * Check report i (an index into site.reports): text is the whole source
 * file (for columns), doc its parsed body, and page the rendered HTML
 * page.  deps (may be NULL) receives the report's links into other
 * files, one per line, for the build cache.  Return as above.
 */
size_t		 links_check_report(struct links *, int worker, size_t i,
		    const char *text, size_t textlen, struct cmark_node *doc,
		    const char *page, size_t pagelen, struct buf *deps);
/* Report i's page was reused from the cache: check its deps again. */
void		 links_reused(struct links *, size_t i, const char *deps);
/*
 * Check what was deferred: dir is the staging directory holding the
 * pages (NULL for a dry run).  Return the number of errors diagnosed.
 */
size_t		 links_finish(struct links *, const char *dir);
void		 links_free(struct links *);

/*
 * Exposed for tests.  Resolve url (as written, percent-encoded, with
 * no scheme) against the page at rel path from: the decoded path of the
 * target relative to the site root and the decoded fragment (NULL if
 * none).  base_path is the base_url's path
 * ("/" or "/fzzf/").  A URL with no path gives from itself; a
 * directory gives its index.html.  Return 0, or -1 if the target is
 * outside the site.
 */
int		 links_resolve(const char *from, const char *url,
		    const char *base_path, char **target, char **fragment);

#endif
