/*
 * frontmatter.c: find the front matter, check the bytes, parse YAML.
 */
#define _GNU_SOURCE
#include <string.h>

#include "diag.h"
#include "frontmatter.h"
#include "util.h"
#include "yval.h"

/* Is the line at p (up to its newline) exactly a fence, allowing trailing blanks? */
static int
S_is_fence(const char *p, const char *end, const char *fence)
{
	size_t	 n = strlen(fence);

	if ((size_t)(end - p) < n || memcmp(p, fence, n) != 0)
		return 0;
	for (p += n; p < end && *p != '\n'; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r')
			return 0;
	return 1;
}

static const char *
S_next_line(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl ? nl + 1 : end;
}

int
fm_split(const char *path, const char *text, size_t len, struct fm_split *s)
{
	const char *p, *end = text + len, *start, *nul;
	size_t	 bad, off, line_start;
	int	 line;

	memset(s, 0, sizeof(*s));
	if (len == 0) {
		diag_error(path, 1, 1, "empty file: a report needs front "
		    "matter between --- lines and a body");
		return -1;
	}
	nul = memchr(text, '\0', len);
	bad = utf8_invalid_at(text, len);
	if (nul != NULL && (bad == (size_t)-1 || (size_t)(nul - text) < bad))
		bad = (size_t)(nul - text);
	if (bad != (size_t)-1) {
		line = 1;
		line_start = 0;
		for (off = 0; off < bad; off++)
			if (text[off] == '\n') {
				line++;
				line_start = off + 1;
			}
		diag_error(path, line, (int)utf8_columns(text + line_start,
		    bad - line_start) + 1, text[bad] == '\0' ?
		    "NUL byte: this looks like a binary file, not a Markdown "
		    "report" : "invalid UTF-8 byte 0x%02X: reports must be "
		    "saved as UTF-8", (unsigned char)text[bad]);
		return -1;
	}
	p = text;
	if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	if (!S_is_fence(p, end, "---")) {
		diag_error(path, 1, 1, "a report must start with front matter: "
		    "a line \"---\", the fields, and another \"---\"");
		return -1;
	}
	p = S_next_line(p, end);
	start = p;
	line = 2;
	s->yaml_off = (size_t)(start - text);
	s->yaml_line = 2;
	while (p < end) {
		if (S_is_fence(p, end, "---") || S_is_fence(p, end, "...")) {
			s->yaml_len = (size_t)(p - start);
			p = S_next_line(p, end);
			s->body_off = (size_t)(p - text);
			s->body_line = line + 1;
			return 0;
		}
		p = S_next_line(p, end);
		line++;
	}
	diag_error(path, 1, 1, "front matter is not closed: add a line \"---\" "
	    "after the fields");
	return -1;
}

struct yval *
fm_parse(const char *path, const char *text, size_t len, struct fm_split *s)
{
	struct yval *y;

	if (fm_split(path, text, len, s) == -1)
		return NULL;
	y = yval_parse(path, text + s->yaml_off, s->yaml_len, s->yaml_line - 1);
	if (y != NULL && y->type != YV_MAP) {
		diag_error(path, y->line, y->col, "front matter must be a "
		    "mapping of fields such as title: …");
		yval_free(y);
		return NULL;
	}
	return y;
}
