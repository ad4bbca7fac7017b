/*
 * links.h: every internal link of the portal resolves, anchors included.
 *
 * Two checks share one struct links per build:
 *
 * Content links.  links_check_report() takes each link and image of a
 * report's Markdown whose URL is relative (no scheme, not "//host"),
 * resolves it against the report's page (report/<slug>.html; a leading
 * '/' is the base_url's path) and percent-decodes it.  A link that
 * leaves the site, or a #fragment on the same page with no such id in
 * the rendered page, is diagnosed at once; every other link is checked
 * by links_finish(), against the files the build wrote (or, for
 * `fazhi check`, which writes nothing, the files it would write: pages,
 * feeds, attachments, theme assets and links_add_target() names).  Errors
 * are content errors with the link's position:
 *   content/市司法局/2023.md:14:9: error: broken link "2022.md": …
 *
 * Pages.  links_finish(), given the staging directory, reads every
 * .html file written into it and checks each relative href and src
 * (outside <script> and <style>) and its #fragment against the files
 * and the ids of the target page; ids must be unique in a page.  A
 * failure that is not a content link already diagnosed is a theme
 * bug, reported with the page's path in the output and its line.
 * Report pages reused from the build cache were not checked while
 * rendering: a broken link in one is looked up in its Markdown and, if
 * it is there, reported at its source position like any content link.
 *
 * All functions are thread-safe except links_finish() and links_free().
 */
#ifndef FAZHI_LINKS_H
#define FAZHI_LINKS_H

#include <stddef.h>

struct config;
struct site;
struct cmark_node;

struct links;

/*
 * Start a build's checks.  root is the project root (the theme's static
 * files, published under assets/, are in root/themes/THEME/static, and
 * reports are read again from there to place a broken link found in a
 * page reused from the build cache); bundles says whether
 * downloads.html is written.  Never fails.
 */
struct links	*links_new(const struct site *, const struct config *,
		    const char *root, int bundles);
/* Declare another file the build writes (rel to the site root), e.g. a zip. */
void		 links_add_target(struct links *, const char *rel);
/*
 * Check the links of report i (an index into site.reports).  text is
 * the whole source file (for columns), doc its parsed body, and page
 * the rendered HTML page (for its ids).  Return the number of errors
 * diagnosed now; more may come from links_finish().
 */
size_t		 links_check_report(struct links *, size_t i, const char *text,
		    size_t textlen, struct cmark_node *doc, const char *page,
		    size_t pagelen);
/*
 * Check what was deferred, and with dir (the staging directory; NULL
 * for a dry run) every page written there.  Return the number of
 * errors diagnosed.
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
