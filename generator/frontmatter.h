/*
 * frontmatter.h: splitting a report into YAML front matter and body.
 *
 * A report starts (after an optional UTF-8 BOM) with a line "---",
 * then YAML, then a line "---" or "...", then the Markdown body.
 * CRLF line endings are accepted everywhere.
 */
#ifndef FAZHI_FRONTMATTER_H
#define FAZHI_FRONTMATTER_H

#include <stddef.h>

struct yval;

struct fm_split {
	size_t	 yaml_off;	/* byte offset of the YAML text */
	size_t	 yaml_len;	/* its length */
	int	 yaml_line;	/* 1-based line of the YAML's first line */
	size_t	 body_off;	/* byte offset of the body */
	int	 body_line;	/* 1-based line of the body's first line */
};

/*
 * Check the bytes (UTF-8, no NUL) and split.  Return 0 on success, -1
 * after diagnosing the problem with path and position.
 */
int	 fm_split(const char *path, const char *text, size_t len,
	    struct fm_split *);
/* Split and parse: return the front matter tree or NULL (diagnosed). */
struct yval *fm_parse(const char *path, const char *text, size_t len,
	    struct fm_split *);

#endif
