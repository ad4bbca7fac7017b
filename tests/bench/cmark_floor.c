/*
 * cmark_floor: the Markdown floor of the Fazhi benchmark.
 *
 * usage: cmark_floor DIR
 *
 * Parses and renders to HTML every *.md file under DIR, one after the
 * other on one thread, with cmark-gfm and the extensions Fazhi uses
 * (table, strikethrough, autolink), skipping a leading "---" front
 * matter block.  Nothing is written: this is the least time any
 * generator built on cmark-gfm can spend on the corpus.  Prints one
 * line that tests/bench/run.sh reads:
 *
 *   cmark_floor files=N md_bytes=B html_bytes=H parse_render_s=S total_s=T
 *
 * parse_render_s counts cmark only; total_s adds walking and reading.
 * Exits non-zero if a file cannot be read.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmark-gfm.h>
#include <cmark-gfm-core-extensions.h>

struct totals {
	unsigned long long files;	/* Markdown files rendered */
	unsigned long long md;		/* bytes of Markdown body */
	unsigned long long html;	/* bytes of HTML produced */
	double	 cmark;			/* seconds inside cmark */
};

static const char *const extnames[] = { "table", "strikethrough", "autolink" };

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Offset of the body: after a closing "---" line when the file has one. */
static size_t
body_offset(const char *s, size_t len)
{
	const char *p, *end = s + len;

	if (len < 4 || strncmp(s, "---", 3) != 0 ||
	    (s[3] != '\n' && s[3] != '\r'))
		return 0;
	for (p = memchr(s, '\n', len); p != NULL && p + 1 < end;
	    p = memchr(p + 1, '\n', (size_t)(end - p - 1))) {
		if (end - (p + 1) >= 3 && strncmp(p + 1, "---", 3) == 0 &&
		    (p + 4 == end || p[4] == '\n' || p[4] == '\r')) {
			p = memchr(p + 1, '\n', (size_t)(end - p - 1));
			return p == NULL ? len : (size_t)(p + 1 - s);
		}
	}
	return 0;
}

static void
render(struct totals *t, const char *text, size_t len)
{
	cmark_parser	*parser;
	cmark_node	*doc;
	cmark_syntax_extension *ext;
	char		*html;
	size_t		 i;
	double		 start = now();

	parser = cmark_parser_new(CMARK_OPT_DEFAULT);
	for (i = 0; i < sizeof(extnames) / sizeof(extnames[0]); i++)
		if ((ext = cmark_find_syntax_extension(extnames[i])) != NULL)
			cmark_parser_attach_syntax_extension(parser, ext);
	cmark_parser_feed(parser, text, len);
	doc = cmark_parser_finish(parser);
	html = cmark_render_html(doc, CMARK_OPT_DEFAULT,
	    cmark_parser_get_syntax_extensions(parser));
	t->html += strlen(html);
	free(html);
	cmark_node_free(doc);
	cmark_parser_free(parser);
	t->cmark += now() - start;
	t->md += len;
	t->files++;
}

/* Return the file's bytes (caller frees) or NULL on failure (reported). */
static char *
readfile(const char *path, size_t *len)
{
	FILE	*f;
	char	*data = NULL;
	long	 n;

	if ((f = fopen(path, "rb")) == NULL ||
	    fseek(f, 0, SEEK_END) == -1 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) == -1 ||
	    (data = malloc((size_t)n + 1)) == NULL ||
	    fread(data, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "cmark_floor: %s: cannot read\n", path);
		free(data);
		data = NULL;
	} else
		*len = (size_t)n;
	if (f != NULL)
		fclose(f);
	return data;
}

/* Return 0 on success, -1 if a file or directory could not be read. */
static int
walk(struct totals *t, const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	char		*path, *data;
	size_t		 n, len, off;
	int		 rc = 0;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "cmark_floor: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n = strlen(dir) + strlen(de->d_name) + 2;
		if ((path = malloc(n)) == NULL)
			abort();
		snprintf(path, n, "%s/%s", dir, de->d_name);
		if (stat(path, &st) == -1) {
			fprintf(stderr, "cmark_floor: %s: %s\n", path,
			    strerror(errno));
			rc = -1;
		} else if (S_ISDIR(st.st_mode)) {
			if (walk(t, path) == -1)
				rc = -1;
		} else if ((len = strlen(de->d_name)) > 3 &&
		    strcmp(de->d_name + len - 3, ".md") == 0) {
			if ((data = readfile(path, &len)) == NULL)
				rc = -1;
			else {
				off = body_offset(data, len);
				render(t, data + off, len - off);
				free(data);
			}
		}
		free(path);
	}
	closedir(d);
	return rc;
}

int
main(int argc, char *argv[])
{
	struct totals t = { 0, 0, 0, 0 };
	double	 start;
	int	 rc;

	if (argc != 2) {
		fprintf(stderr, "usage: cmark_floor DIR\n");
		return 2;
	}
	cmark_gfm_core_extensions_ensure_registered();
	start = now();
	rc = walk(&t, argv[1]);
	printf("cmark_floor files=%llu md_bytes=%llu html_bytes=%llu "
	    "parse_render_s=%.3f total_s=%.3f\n", t.files, t.md, t.html,
	    t.cmark, now() - start);
	return rc == 0 ? 0 : 1;
}
