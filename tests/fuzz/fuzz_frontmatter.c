/*
 * fuzz_frontmatter.c: report front matter (fm_split, fm_parse, yval).
 *
 * The input is a whole report file.  Besides crashes, leaks and
 * undefined behaviour, the harness checks what callers rely on: the
 * split stays inside the input, every node has a position inside the
 * front matter, scalars are NUL-terminated at their length, map keys
 * are scalars, and depth stays within the documented limit.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "frontmatter.h"
#include "yval.h"

#include "fuzz_util.h"

static int	 S_lines;	/* lines in the input, for the position check */

static void
S_walk(const struct yval *v, int depth, int first_line)
{
	long long n;
	size_t	 i;

	FZ_ASSERT(depth <= 65, "depth %d beyond the limit", depth);
	FZ_ASSERT(v->line >= first_line && v->line <= S_lines + 1,
	    "line %d outside %d..%d", v->line, first_line, S_lines + 1);
	FZ_ASSERT(v->col >= 1, "column %d", v->col);
	switch (v->type) {
	case YV_SCALAR:
		FZ_ASSERT(v->str != NULL && v->str[v->len] == '\0',
		    "scalar not NUL-terminated at its length");
		FZ_ASSERT(v->n == 0 && v->items == NULL, "scalar with items");
		(void)yval_int(v, &n);
		break;
	case YV_MAP:
		for (i = 0; i < v->n; i++) {
			FZ_ASSERT(v->keys[i] != NULL &&
			    v->keys[i]->type == YV_SCALAR, "non-scalar key");
			S_walk(v->keys[i], depth + 1, first_line);
			FZ_ASSERT(yval_get(v, v->keys[i]->str) != NULL ||
			    strlen(v->keys[i]->str) != v->keys[i]->len,
			    "yval_get misses a present key");
		}
		/* FALLTHROUGH */
	case YV_SEQ:
		for (i = 0; i < v->n; i++) {
			FZ_ASSERT(v->items[i] != NULL, "NULL item");
			S_walk(v->items[i], depth + 1, first_line);
		}
		break;
	default:
		FZ_ASSERT(0, "bad node type %d", (int)v->type);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fm_split sp;
	struct yval *y;
	size_t	 i;

	/* libyaml also ends a line at a lone CR; so do many editors. */
	S_lines = 1;
	for (i = 0; i < size; i++)
		if (data[i] == '\n' || (data[i] == '\r' &&
		    (i + 1 == size || data[i + 1] != '\n')))
			S_lines++;
	y = fm_parse("content/fuzz.md", (const char *)data, size, &sp);
	if (y != NULL) {
		FZ_ASSERT(y->type == YV_MAP, "front matter is not a map");
		FZ_ASSERT(sp.yaml_off + sp.yaml_len <= size &&
		    sp.body_off <= size && sp.yaml_off + sp.yaml_len <=
		    sp.body_off, "split outside the input");
		FZ_ASSERT(sp.body_line > sp.yaml_line - 1, "body line");
		S_walk(y, 0, sp.yaml_line);
		(void)yval_get(y, "title");
		(void)yval_get(y, "attachments");
		yval_free(y);
	}
	/* The parser alone, on text that skipped fm_split's checks. */
	if ((y = yval_parse("site.yaml", (const char *)data, size, 0)) != NULL)
		yval_free(y);
	fz_diag_drain();
	return 0;
}
