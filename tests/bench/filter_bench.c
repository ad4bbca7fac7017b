/*
 * filter_bench.c: what the Lua filters cost per report.
 *
 * Builds a small site in a temporary directory (site.yaml, three earlier
 * years of one department with stats blocks, and filters/ holding copies
 * of the repository's bundled filters plus an empty one), then takes a
 * generated report of about 8 KB (five sections, headings four levels
 * deep, tables, a ```stats block with compare: years) and, N times on
 * one core, parses it, filters it and renders it, for: no filters, the
 * empty filter (the cost of the tree's trip into Lua and back),
 * numbering, sections, stats, and all three.  Prints the time per
 * report by the wall clock and by CPU time, and each line's cost over
 * no filters.
 *
 * usage: filter_bench [ROOT [N [FILTERS]]]	(defaults: $ROOT or ., 2000)
 * FILTERS (e.g. "numbering stats") times only that list, for profiling.
 * build: cc -O2 -Igenerator -o build/bench/filter_bench
 *        tests/bench/filter_bench.c <generator objects but main.o> <libs>
 * Not a test: it prints times and exits 1 only if something broke.
 */
#define _GNU_SOURCE
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../generator/buf.h"
#include "../../generator/config.h"
#include "../../generator/content.h"
#include "../../generator/diag.h"
#include "../../generator/filter.h"
#include "../../generator/frontmatter.h"
#include "../../generator/markdown.h"
#include "../../generator/util.h"
#include "../../generator/yval.h"

static const char *const S_words[] = {
	"依法行政", "法治政府建设", "行政复议", "行政诉讼", "规范性文件",
	"备案审查", "重大行政决策", "合法性审查", "行政执法", "公平竞争审查",
	"证明事项告知承诺制", "营商环境", "普法宣传", "执法监督",
	"行政调解", "政务公开", "权责清单", "信用监管", "包容审慎监管",
};
#define NWORDS	(sizeof(S_words) / sizeof(S_words[0]))

static unsigned S_seed = 20231231;

static const char *
S_word(void)
{
	S_seed = S_seed * 1103515245u + 12345u;
	return S_words[(S_seed >> 16) % NWORDS];
}

/* A paragraph of about n bytes of Chinese. */
static void
S_para(struct buf *b, size_t n)
{
	size_t	 start = b->len;

	while (b->len - start < n)
		buf_printf(b, "%s%s，", S_word(), S_word());
	buf_puts(b, "切实提高工作质量。\n\n");
}

static void
S_report(struct buf *b, int year)
{
	static const char *const h2[] = {
		"%d年推进法治政府建设的主要举措和成效", "存在的不足和原因",
		"党政主要负责人履行推进法治建设第一责任人职责情况",
		"%d年推进法治政府建设的主要安排", "其他需要报告的情况"
	};
	int	 i, j, k;

	buf_printf(b, "---\ntitle: 基准局%d年法治政府建设年度报告\n"
	    "department: 基准局\nyear: %d\ncategory: 市政府部门\n---\n\n",
	    year, year);
	S_para(b, 200);
	for (i = 0; i < 5; i++) {
		buf_puts(b, "## ");
		buf_printf(b, h2[i], i == 3 ? year + 1 : year);
		buf_puts(b, "\n\n");
		if (i != 0) {
			S_para(b, 300);
			continue;
		}
		for (j = 0; j < 3; j++) {
			buf_printf(b, "### 加强%s\n\n", S_word());
			S_para(b, 600);
			for (k = 0; k < 2; k++) {
				buf_printf(b, "#### %s工作\n\n", S_word());
				S_para(b, 300);
			}
		}
		buf_puts(b, "```stats\ntitle: 行政复议案件办理情况\nunit: 件\n"
		    "compare: years\n");
		buf_printf(b, "收到申请: %d\n受理: %d\n审结: %d\n直接纠错: %d\n",
		    2000 + year % 10 * 50, 1800 + year % 10 * 40,
		    1700 + year % 10 * 30, 150 + year % 10);
		buf_puts(b, "```\n\n| 类别 | 收到 | 审结 |\n|:--|--:|--:|\n");
		for (k = 0; k < 6; k++)
			buf_printf(b, "| %s | %d | %d |\n", S_word(), 100 + k * 37,
			    90 + k * 31);
		buf_puts(b, "\n");
	}
}

static void
S_write(const char *dir, const char *rel, const char *text, size_t len)
{
	char	*p = path_join(dir, rel), *slash = strrchr(p, '/');
	FILE	*f;

	*slash = '\0';
	mkdir_p(p);
	*slash = '/';
	if ((f = fopen(p, "w")) == NULL || fwrite(text, 1, len, f) != len) {
		perror(p);
		exit(1);
	}
	fclose(f);
	free(p);
}

static double
S_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	static const struct { const char *label, *filters; } runs[] = {
		{ "no filters (parse + render)", "" },
		{ "empty filter (the bridge)", "empty" },
		{ "numbering", "numbering" },
		{ "sections", "sections" },
		{ "stats (compare: years)", "stats" },
		{ "numbering sections stats", "numbering sections stats" },
	};
	const char *root = argc > 1 ? argv[1] :
	    getenv("ROOT") ? getenv("ROOT") : ".";
	int	 n = argc > 2 ? atoi(argv[2]) : 2000, i, k, year, failed = 0;
	char	 dir[] = "/tmp/fazhi-filter-bench-XXXXXX", *p, *text, *rel;
	char	*names[4], buf[128];
	size_t	 len, r, j;
	struct buf md = { 0 }, html = { 0 };
	struct config cfg;
	struct site site;
	struct filter_env *env;
	double	 base_wall = 0, base_cpu = 0;

	if (n <= 0 || mkdtemp(dir) == NULL)
		return 1;
	p = "title: 基准\ncategories: [市政府部门]\n";
	S_write(dir, "site.yaml", p, strlen(p));
	for (j = 0; j < 3; j++) {
		static const char *const f[] = { "numbering", "sections", "stats" };

		rel = xasprintf("filters/%s.lua", f[j]);
		p = path_join(root, rel);
		if (file_read(p, &text, &len) == -1) {
			perror(p);
			return 1;
		}
		S_write(dir, rel, text, len);
		free(text);
		free(p);
		free(rel);
	}
	p = "return { Document = function() end }\n";
	S_write(dir, "filters/empty.lua", p, strlen(p));
	for (year = 2020; year <= 2023; year++) {
		buf_reset(&md);
		S_report(&md, year);
		rel = xasprintf("content/基准局/%d.md", year);
		S_write(dir, rel, md.data, md.len);
		free(rel);
	}
	if (config_load(&cfg, dir) == -1 ||
	    content_scan(&site, &cfg, dir, NULL, NULL) == -1) {
		diag_flush();
		return 1;
	}
	/* the 2023 report: the last of its department */
	for (r = 0; r < site.n; r++)
		if (site.reports[r].year == 2023)
			break;
	if (r == site.n)
		return 1;
	env = filter_env_new(dir, &cfg, &site);
	printf("report: %s, %zu bytes, %d runs each\n", site.reports[r].path,
	    md.len, n);
	printf("%-32s %12s %12s %12s\n", "filters", "wall us/rep",
	    "cpu us/rep", "cpu over none");
	for (i = 0; i < (int)(sizeof(runs) / sizeof(runs[0])); i++) {
		struct report rep = site.reports[r];
		const char *list = argc > 3 ? argv[3] : runs[i].filters;
		struct fm_split sp;
		struct yval *meta;
		double	 w0, c0, wall, cpu;
		char	*tok;

		if (argc > 3 && i > 0)
			break;
		snprintf(buf, sizeof(buf), "%s", list);
		rep.nfilters = 0;
		for (tok = strtok(buf, " "); tok; tok = strtok(NULL, " "))
			names[rep.nfilters++] = tok;
		rep.filters = names;
		meta = fm_parse(rep.path, md.data, md.len, &sp);
		w0 = now_seconds();
		c0 = S_cpu();
		for (k = 0; k < n; k++) {
			struct cmark_node *doc = md_parse(md.data + sp.body_off,
			    md.len - sp.body_off, 0);

			if (filter_run(env, &rep, meta, doc) != 0)
				failed = 1;
			buf_reset(&html);
			md_render(doc, &html, NULL, 0);
			md_free(doc);
		}
		wall = (now_seconds() - w0) / n * 1e6;
		cpu = (S_cpu() - c0) / n * 1e6;
		if (i == 0) {
			base_wall = wall;
			base_cpu = cpu;
		}
		printf("%-32s %12.1f %12.1f %12.1f\n", argc > 3 ? list :
		    runs[i].label, wall, cpu, cpu - base_cpu);
		yval_free(meta);
	}
	(void)base_wall;
	if (failed || diag_errors() > 0) {
		printf("filter_bench: a filter failed:\n");
		diag_flush();
	}
	filter_env_free(env);
	site_free(&site);
	config_free(&cfg);
	buf_free(&md);
	buf_free(&html);
	rm_rf(dir);
	return failed;
}
