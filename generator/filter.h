/*
 * filter.h: Lua 5.4 filters over the Markdown tree.
 *
 * A filter is ROOT/filters/NAME.lua (NAME matches [a-z0-9_-]+).  It
 * returns a table of functions keyed by node type (Heading, Paragraph,
 * Text, ...), plus Meta and Document hooks; filters/README.md is the
 * user's reference.  filter_run() turns the cmark tree into Lua tables,
 * runs the site's filters and then the report's, in order, and turns
 * the result back into cmark nodes.  Filter HTML becomes custom nodes
 * (see markdown.h), heading ids become heading user data.
 *
 * Sandbox: a filter sees only base (no dofile, loadfile, print,
 * collectgarbage; load takes text only), string (no dump), table, math
 * and utf8, plus meta, site, report and the fazhi helpers; require
 * loads only other files in filters/.  Every filter instance has its
 * own globals and library tables, and strings' metatable is locked, so
 * one filter cannot change what another sees.  A report's filters share
 * an instruction budget, each filter run has a memory cap (filter_limits
 * in site.yaml), both enforced even against code that catches errors
 * with pcall, and a wall clock is the safety net for the rest
 * (filter_env_time_limit()).
 *
 * Errors: a filter that fails or breaks a rule is diagnosed as
 *   content/x.md:LINE:COL: error: filters/NAME.lua:LINE: message
 * at the position of the Markdown node it was working on, and
 * filter_run() returns -1; warn() from a filter gives a warning the
 * same way.  A filter_env is one Lua state: use one per thread.
 */
#ifndef FAZHI_FILTER_H
#define FAZHI_FILTER_H

#include <stdint.h>

struct cmark_node;
struct config;
struct report;
struct site;
struct yval;

struct filter_env;

/*
 * A filter environment for one worker thread.  config and site (which
 * may be NULL) must outlive it; filters see them through `site`.  The
 * Lua state is made on first use, so an environment that never runs a
 * filter costs nothing; never returns NULL.
 */
struct filter_env *filter_env_new(const char *root, const struct config *,
		    const struct site *);
void		 filter_env_free(struct filter_env *);

/*
 * Load (once, cached) and run the site's filters, then the report's
 * (a name given twice runs once, at its first place), over doc, a tree
 * from md_parse(); meta is the report's front matter
 * (or NULL).  With no filters, doc is not touched.  Return 0 on
 * success, -1 if a filter failed (diagnosed; doc is then left in a
 * valid but unspecified state).  Warnings from filters are diagnosed
 * and do not fail the run.
 */
int		 filter_run(struct filter_env *, const struct report *,
		    const struct yval *meta, struct cmark_node *doc);

/*
 * Check that a filter name is valid and that filters/NAME.lua exists
 * and compiles, for `fazhi check`; problems are diagnosed at
 * referrer_path:line:col (where the name was written).  Return 0 or -1.
 */
int		 filter_check(struct filter_env *, const char *name,
		    const char *referrer_path, int line, int col);

/*
 * SHA-256 over the names and bytes of every filters/ *.lua file, in
 * name order, for the build cache: a changed filter means every report
 * is filtered again.  Return 0, or -1 if a file cannot be read
 * (diagnosed).  No filters/ directory hashes as empty.
 */
int		 filter_hash(const char *root, uint8_t out[32]);

/*
 * The wall-clock safety net per report, in seconds (default 20): it
 * stops code whose single steps are slow (e.g. comparing long strings
 * in a loop) before the instruction budget would.
 */
void		 filter_env_time_limit(struct filter_env *, double seconds);

#endif
