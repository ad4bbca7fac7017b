/*
 * page.h: every page of the portal, from the site index and the theme.
 *
 * URLs (relative to the site root; all links in pages are relative, so
 * the portal browses from file:// as well as from a server):
 *   index.html                      home
 *   reports.html, reports-N.html    all reports, newest first
 *   report/<slug>.html              a report
 *   department/<name>.html[-N]      a department: every year, newest first
 *   category/<name>.html            a category
 *   year/<year>.html                a year: every department
 *   downloads.html                  every bundle
 *   files/<slug>/<attachment>       attachments
 *   bundles/…zip                    zip bundles (see bundle.h)
 *   assets/…                        the theme's static files
 *   atom.xml, department/<name>.xml Atom feeds
 *   sitemap.xml, robots.txt, 404.html
 * Page N > 1 of a listing is <base>-N.html.  Names keep their Chinese
 * characters; links percent-encode them.
 */
#ifndef FAZHI_PAGE_H
#define FAZHI_PAGE_H

#include <stddef.h>

struct config;
struct site;
struct out;
struct tmpl_set;
struct zstore;
struct links;

struct build_stats {
	size_t	 reports;	/* report pages rendered */
	size_t	 reused;	/* report pages reused from the cache */
	size_t	 pages;		/* every HTML page */
	size_t	 bundles;	/* zip files */
	size_t	 static_files;	/* theme assets and attachments */
};

struct page_opts {
	const char		*root;		/* project root */
	const struct config	*cfg;
	const struct site	*site;
	const struct tmpl_set	*tmpl;
	struct out		*out;
	int			 bundles;	/* build zip bundles */
	int			 workers;
	int			 progress;	/* print a progress line on stderr */
	unsigned char		 global[32];	/* hash of config, templates, filters, version */
	struct links		*links;		/* content link check (links.h), or NULL */
};

/*
 * Render and write the whole portal into out.  Return 0 on success, -1
 * if anything failed (diagnosed); the caller then does not publish.
 */
int	 page_build(const struct page_opts *, struct build_stats *);

#endif
