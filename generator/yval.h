/*
 * yval.h: a parsed YAML document as a small tree, with source positions.
 *
 * Used for site.yaml and for report front matter.  Scalars keep their
 * text and whether they were plain (unquoted), so a caller can type
 * them (2019 is an integer only when plain).  Aliases are refused by the
 * parser (see yval_parse), which rules out billion-laughs documents.
 */
#ifndef FAZHI_YVAL_H
#define FAZHI_YVAL_H

#include <stddef.h>

enum yval_type {
	YV_SCALAR,
	YV_SEQ,
	YV_MAP
};

struct yval {
	enum yval_type	 type;
	int		 line;	/* 1-based line of the node in its file */
	int		 col;	/* 1-based column (characters) */
	char		*str;	/* YV_SCALAR: text (NUL-terminated, may hold no NUL) */
	size_t		 len;	/* YV_SCALAR: bytes in str */
	int		 plain;	/* YV_SCALAR: 1 when unquoted */
	struct yval	**items;	/* YV_SEQ: items; YV_MAP: values */
	struct yval	**keys;	/* YV_MAP: keys (scalars), parallel to items */
	size_t		 n;	/* YV_SEQ, YV_MAP: number of items */
};

/*
 * Parse one YAML document from text.  line_offset is added to every
 * line (front matter starts after the opening ---).  On error, report
 * every problem through diag with path and return NULL.  An empty
 * document gives an empty map.  Limits: nesting depth 64, 100000 nodes.
 */
struct yval	*yval_parse(const char *path, const char *text, size_t len,
		    int line_offset);
void		 yval_free(struct yval *);
/* Map lookup by key; NULL when absent or v is not a map. */
struct yval	*yval_get(const struct yval *v, const char *key);
/* Is a plain scalar an integer?  Store it in *out and return 1. */
int		 yval_int(const struct yval *v, long long *out);

#endif
