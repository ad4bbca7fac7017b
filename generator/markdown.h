/*
 * markdown.h: Markdown to HTML with cmark-gfm.
 *
 * md_parse() parses CommonMark with the GFM table, strikethrough and
 * autolink extensions into a cmark tree that filters may edit.
 * md_render() walks the tree and writes HTML: headings get stable ids
 * (a filter may preset one: see below), tables are wrapped in a
 * scrollable region, and the table of contents is collected.
 *
 * Raw HTML: unless the site enables unsafe_html, HTML written in
 * Markdown is dropped and dangerous URLs (javascript:, vbscript:,
 * file:, data: except images) are removed.  Filters emit trusted HTML
 * through CMARK_NODE_CUSTOM_BLOCK / CMARK_NODE_CUSTOM_INLINE nodes,
 * whose on_enter/on_exit text is written as is; their children are
 * rendered normally between the two.
 *
 * Heading ids: a heading node's user data, when set by md_set_id(), is
 * a malloc'd NUL-terminated id that md_render() uses (made unique if
 * needed); freeing the node frees it.  Otherwise the id is derived from
 * the heading text:
 * Chinese text is kept (percent-encoded only in URLs), ASCII is
 * lower-cased, spaces and punctuation become '-'; duplicates get -2, -3.
 *
 * Positions: cmark lines are relative to the body; add
 * report.body_line - 1 for file lines.
 */
#ifndef FAZHI_MARKDOWN_H
#define FAZHI_MARKDOWN_H

#include <stddef.h>

struct buf;
struct cmark_node;

struct toc_entry {
	int	 level;		/* 2..6; h1 is the title */
	char	*id;		/* anchor, not URL-encoded */
	char	*text;		/* plain text of the heading */
};

struct toc {
	struct toc_entry *v;
	size_t	 n;
};

/*
 * Limits that cmark-gfm 0.29 needs and does not enforce.  A GFM table
 * pads every row to the header's column count, so a few kilobytes of
 * "x|x|…" over many short lines make millions of cells (gigabytes of
 * memory, minutes of time).  md_check() refuses a body whose tables
 * could hold more than MD_MAX_TABLE_CELLS cells in all, or a table of
 * more than MD_MAX_TABLE_COLUMNS columns.  It over-counts (a
 * delimiter-like line in a code block counts) but never under-counts.
 * Return 0, or -1 after diagnosing at path and the table's line
 * (body line + line_offset).  Call it before md_parse() on untrusted
 * text; content_scan() does, for every report.
 */
#define MD_MAX_TABLE_COLUMNS	200
#define MD_MAX_TABLE_CELLS	1000000
int	 md_check(const char *path, const char *text, size_t len,
	    int line_offset);
/* Parse Markdown; never fails (aborts on out-of-memory only). */
struct cmark_node *md_parse(const char *text, size_t len, int unsafe_html);
/* Render HTML of doc into out; collect headings into toc if non-NULL. */
void	 md_render(struct cmark_node *doc, struct buf *out, struct toc *toc,
	    int unsafe_html);
/* Plain text of a node's inline content (for titles, ids, stringify). */
void	 md_text(struct cmark_node *, struct buf *out);
void	 md_free(struct cmark_node *doc);
/*
 * The allocator of doc's nodes: nodes added to it must be made with it
 * (cmark_node_new_with_mem()), since cmark links only nodes that share
 * one.  md_parse()'s documents use an arena; others cmark's default.
 */
struct cmark_mem *md_mem(struct cmark_node *doc);
/* Give heading n the id (copied), freed with the node. */
void	 md_set_id(struct cmark_node *n, const char *id);
/* The id md_render() derives from heading text (before de-duplication). */
void	 md_slug(const char *text, size_t len, struct buf *out);
void	 toc_free(struct toc *);
/* The cmark-gfm extension list for parsers made elsewhere (tests). */
void	*md_extensions(void);

#endif
