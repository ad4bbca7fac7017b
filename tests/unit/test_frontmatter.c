/*
 * Front matter splitting, YAML positions and the safety limits.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "diag.h"
#include "frontmatter.h"
#include "util.h"
#include "yval.h"

/* Parse text; return the diagnostics text (caller frees). */
static char *
S_parse(const char *text, size_t len, struct yval **out, struct fm_split *sp)
{
	struct fm_split tmp;

	diag_reset();
	*out = fm_parse("content/x.md", text, len, sp ? sp : &tmp);
	return diag_collected_text();
}

int
main(void)
{
	struct yval *y;
	struct fm_split sp;
	char	*d;
	long long n;
	static const char ok[] = "---\ntitle: 标题\nyear: 2019\nq: \"2019\"\n"
	    "list: [a, b]\n---\n\n# Body\n";
	static const char crlf[] = "\xEF\xBB\xBF---\r\ntitle: 标题\r\nyear: 2020\r\n"
	    "---\r\nbody\r\n";

	d = S_parse(ok, strlen(ok), &y, &sp);
	CHECK("split: parses a plain report", y != NULL && *d == '\0');
	CHECK("split: body starts after the closing fence",
	    sp.body_line == 7 && strncmp(ok + sp.body_off, "\n# Body", 7) == 0);
	CHECK("yaml: key position is 1-based and file-relative",
	    y && y->keys[1]->line == 3 && y->keys[1]->col == 1);
	CHECK("yaml: value column counts characters",
	    y && y->items[0]->col == 8);
	CHECK("yaml: plain 2019 is an integer", y &&
	    yval_int(yval_get(y, "year"), &n) && n == 2019);
	CHECK("yaml: quoted \"2019\" is text, not an integer", y &&
	    !yval_int(yval_get(y, "q"), &n));
	CHECK_STR("yaml: Chinese value kept", y ? yval_get(y, "title")->str : NULL,
	    "标题");
	yval_free(y);
	free(d);

	d = S_parse(crlf, strlen(crlf), &y, &sp);
	CHECK("bom+crlf: parses", y != NULL && *d == '\0');
	CHECK_STR("bom+crlf: no CR in values", y ? yval_get(y, "title")->str : NULL,
	    "标题");
	CHECK("bom+crlf: body line", sp.body_line == 5);
	yval_free(y);
	free(d);

	d = S_parse("", 0, &y, NULL);
	CHECK("empty file: error at 1:1", y == NULL &&
	    strstr(d, "content/x.md:1:1: error: empty file") != NULL);
	free(d);

	d = S_parse("---\ntitle: x\n", 13, &y, NULL);
	CHECK("unclosed front matter: clear error", y == NULL &&
	    strstr(d, "content/x.md:1:1: error: front matter is not closed") != NULL);
	free(d);

	d = S_parse("# no front matter\n", 18, &y, NULL);
	CHECK("missing front matter: error", y == NULL &&
	    strstr(d, "must start with front matter") != NULL);
	free(d);

	d = S_parse("---\ntitle: a\xff\n---\n", 18, &y, NULL);
	CHECK("invalid UTF-8: position of the byte", y == NULL &&
	    strstr(d, "content/x.md:2:9: error: invalid UTF-8 byte 0xFF") != NULL);
	free(d);

	d = S_parse("---\ntitle: \xe6\xa0\x87\xc0\xaf\n---\n", 19, &y, NULL);
	CHECK("overlong UTF-8 is invalid", y == NULL &&
	    strstr(d, "content/x.md:2:9: error: invalid UTF-8") != NULL);
	free(d);

	d = S_parse("---\ntitle: a\0b\n---\n", 19, &y, NULL);
	CHECK("NUL byte: binary file error", y == NULL &&
	    strstr(d, "content/x.md:2:9: error: NUL byte") != NULL);
	free(d);

	{
		static const char bomb[] = "---\na: &a [\"lol\",\"lol\"]\n"
		    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
		    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n---\n";

		d = S_parse(bomb, strlen(bomb), &y, NULL);
		CHECK("billion laughs: anchors refused with position", y == NULL &&
		    strstr(d, "content/x.md:2:4: error: YAML anchors are not allowed") != NULL);
		free(d);
	}

	d = S_parse("---\ntitle: [a\n---\n", 17, &y, NULL);
	CHECK("YAML syntax error: position", y == NULL &&
	    strstr(d, "content/x.md:3:") != NULL &&
	    strstr(d, "YAML syntax error") != NULL);
	free(d);

	d = S_parse("---\n- a\n- b\n---\n", 16, &y, NULL);
	CHECK("front matter that is a list: error", y == NULL &&
	    strstr(d, "front matter must be a mapping") != NULL);
	free(d);

	{
		/* 100 levels of nesting: refused, not a stack overflow. */
		char	 deep[1024];
		size_t	 i, k = 0;

		k += (size_t)sprintf(deep, "---\na: ");
		for (i = 0; i < 100; i++)
			deep[k++] = '[';
		for (i = 0; i < 100; i++)
			deep[k++] = ']';
		k += (size_t)sprintf(deep + k, "\n---\n");
		d = S_parse(deep, k, &y, NULL);
		CHECK("deep YAML nesting: refused", y == NULL &&
		    strstr(d, "nested too deeply") != NULL);
		free(d);
	}
	diag_reset();
	return check_done();
}
