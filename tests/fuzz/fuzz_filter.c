/*
 * fuzz_filter.c: Markdown through the bundled Lua filters to HTML
 * (md_parse, filter_run, md_render).
 *
 * The input is a report body; the report's front matter is fixed.  The
 * site runs every filter in the repository's filters/ directory (read
 * from the current directory, so run from the repository root as
 * `make fuzz` does), in name order, with a small instruction budget so
 * that slow inputs fail fast.  One filter environment serves every
 * input, as one serves every report of a worker thread.  Checks beyond
 * crashes and leaks: a filter error is diagnosed, never silent, and
 * the HTML passes html_check.h, with the tags and attributes the
 * bundled filters write (section, figure, an inline SVG chart) allowed:
 * text from the report must come out escaped even inside filter HTML.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmark-gfm.h>

#include "buf.h"
#include "config.h"
#include "content.h"
#include "diag.h"
#include "filter.h"
#include "frontmatter.h"
#include "markdown.h"
#include "yval.h"

#include "fuzz_util.h"
#include "html_check.h"

static const char *const S_xtags[] = {
	"section", "figure", "figcaption", "caption", "svg", "title", "desc",
	"text", "rect", "g", "line", "span", NULL
};
static const char *const S_xattrs[] = {
	"aria-labelledby", "aria-describedby", "xmlns", "viewBox", "width",
	"height", "font-size", "fill", "fill-opacity", "x", "y", "text-anchor",
	"scope", "x1", "x2", "y1", "y2", "stroke", NULL
};

static struct config	 S_cfg;
static struct filter_env *S_env;
static struct yval	*S_meta;
static struct report	 S_r;

static const char S_report[] =
    "---\n"
    "title: 市司法局2023年法治政府建设年度报告\n"
    "department: 市司法局\n"
    "year: 2023\n"
    "category: 市政府部门\n"
    "source: \"<b>来源</b>\"\n"
    "---\n";

/* Copy ./filters/ *.lua into the private root and name them in site.yaml. */
static void
S_setup(void)
{
	struct buf site = { 0 }, path = { 0 };
	struct dirent **de;
	struct fm_split sp;
	char	*data;
	size_t	 len;
	int	 n, i;

	buf_puts(&site, "title: t\nbase_url: /\ncategories: [市政府部门]\n"
	    "filter_limits: {instructions: 2000000, memory: 33554432}\n"
	    "sections:\n  - category: '*'\n    required: [measures]\n"
	    "filters: [");
	if ((n = scandir("filters", &de, NULL, alphasort)) < 0) {
		perror("filters (run from the repository root)");
		abort();
	}
	for (i = 0; i < n; i++) {
		len = strlen(de[i]->d_name);
		if (len > 4 && strcmp(de[i]->d_name + len - 4, ".lua") == 0) {
			buf_reset(&path);
			buf_printf(&path, "filters/%s", de[i]->d_name);
			if (file_read(buf_cstr(&path), &data, &len) == -1)
				abort();
			fz_write(buf_cstr(&path), data, len);
			free(data);
			buf_printf(&site, "%s%.*s", site.data[site.len - 1] ==
			    '[' ? "" : ", ", (int)(strlen(de[i]->d_name) - 4),
			    de[i]->d_name);
		}
		free(de[i]);
	}
	free(de);
	buf_puts(&site, "]\n");
	fz_write("site.yaml", site.data, site.len);
	if (config_load(&S_cfg, fz_dir()) == -1) {
		diag_flush();
		abort();
	}
	S_meta = fm_parse("content/市司法局/2023.md", S_report,
	    sizeof(S_report) - 1, &sp);
	if (S_meta == NULL)
		abort();
	S_r.path = "content/市司法局/2023.md";
	S_r.title = "市司法局2023年法治政府建设年度报告";
	S_r.department = "市司法局";
	S_r.category = "市政府部门";
	S_r.year = 2023;
	S_r.slug = "sfj-2023";
	S_r.url = "report/sfj-2023.html";
	S_r.out = "report/sfj-2023.html";
	S_r.body_line = sp.body_line;
	S_r.prev_year = S_r.next_year = NO_REPORT;
	if ((S_env = filter_env_new(fz_dir(), &S_cfg, NULL)) == NULL)
		abort();
	filter_env_time_limit(S_env, 10);
	buf_free(&site);
	buf_free(&path);
	fz_diag_drain();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cmark_node *doc;
	struct buf out = { 0 };
	struct toc toc = { 0 };
	int	 rc;

	if (S_env == NULL)
		S_setup();
	if (md_check(S_r.path, (const char *)data, size, 0) == -1) {
		fz_diag_drain();
		return 0;
	}
	doc = md_parse((const char *)data, size, 0);
	rc = filter_run(S_env, &S_r, S_meta, doc);
	FZ_ASSERT(rc == 0 || diag_errors() > 0, "filter_run failed silently");
	md_render(doc, &out, &toc, 0);
	fz_check_html(buf_cstr(&out), out.len, S_xtags, S_xattrs);
	toc_free(&toc);
	buf_free(&out);
	md_free(doc);
	fz_diag_drain();
	return 0;
}
