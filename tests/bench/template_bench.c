/*
 * template_bench.c: how fast a report page renders.
 *
 * Renders tests/template/themes/bench/templates/report.html (two
 * partials, an 8 KB body, 30 top-level variables, a loop of 50
 * related reports, a table of contents, JSON-LD) N times on one core,
 * building the variables table from C for every page as page.c
 * would, with the 50 report tables made once per env as the site
 * index would be.  Prints the compile time, the time per page and
 * pages per second, by the wall clock and by the process's CPU time
 * (steadier when other jobs share the machine).
 *
 * usage: template_bench [ROOT [N]]	(defaults: . and 10000)
 * Not a test: it prints times and exits 1 only if something broke.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "../../generator/buf.h"
#include "../../generator/diag.h"
#include "../../generator/template.h"
#include "../../generator/util.h"

#define NRELATED	50

static const char *const words[] = {
	"依法行政", "法治政府建设", "行政复议", "行政诉讼", "规范性文件",
	"备案审查", "重大行政决策", "合法性审查", "行政执法", "公平竞争审查",
	"“放管服”改革", "营商环境", "普法宣传", "政务公开", "法律顾问",
	"，", "，", "。", "；", "、",
};

static double
S_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
S_setfield(lua_State *L, const char *k, const char *v)
{
	lua_pushstring(L, v);
	lua_setfield(L, -2, k);
}

static void
S_setint(lua_State *L, const char *k, lua_Integer v)
{
	lua_pushinteger(L, v);
	lua_setfield(L, -2, k);
}

/* An 8 KB report body: headings, paragraphs and a table. */
static void
S_body(struct buf *b)
{
	unsigned int seed = 7;
	int	 i = 0;

	while (b->len < 8192) {
		if (i % 6 == 0)
			buf_printf(b, "<h2 id=\"s%d\">第%d部分</h2>\n", i, i);
		buf_puts(b, "<p>");
		for (int w = 0; w < 24; w++) {
			seed = seed * 1103515245 + 12345;
			buf_puts(b, words[(seed >> 16) %
			    (sizeof(words) / sizeof(words[0]))]);
		}
		buf_puts(b, "</p>\n");
		if (i % 9 == 4)
			buf_puts(b, "<div class=\"table\"><table><tr><th>项目"
			    "</th><th>数量</th></tr><tr><td>行政复议</td><td>"
			    "128</td></tr></table></div>\n");
		i++;
	}
}

/* The related reports, made once per env like the site index. */
static int
S_related(lua_State *L)
{
	char	 s[128];

	lua_createtable(L, NRELATED, 0);
	for (int i = 0; i < NRELATED; i++) {
		lua_createtable(L, 0, 6);
		snprintf(s, sizeof(s), "市司法局%d年法治政府建设年度报告",
		    2000 + i);
		S_setfield(L, "title", s);
		snprintf(s, sizeof(s), "report/sfj-%d.html", 2000 + i);
		S_setfield(L, "url", s);
		snprintf(s, sizeof(s), "%d-03-%02d", 2000 + i, 1 + i % 28);
		S_setfield(L, "date", s);
		S_setfield(L, "category", "市政府部门");
		S_setfield(L, "department", "市司法局");
		S_setint(L, "year", 2000 + i);
		lua_rawseti(L, -2, i + 1);
	}
	return luaL_ref(L, LUA_REGISTRYINDEX);
}

static int
S_site(lua_State *L)
{
	static const char *const cats[] = { "市政府", "市政府部门",
	    "区政府", "其他单位" };

	lua_createtable(L, 0, 4);
	S_setfield(L, "title", "某市法治政府建设年度报告");
	S_setfield(L, "footer", "某市司法局 主办");
	S_setfield(L, "copyright", "© 2024");
	lua_createtable(L, 4, 0);
	for (int i = 0; i < 4; i++) {
		lua_createtable(L, 0, 2);
		S_setfield(L, "name", cats[i]);
		lua_pushfstring(L, "category/%s.html", cats[i]);
		lua_setfield(L, -2, "url");
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "categories");
	return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* The variables of page i: 30 top-level names. */
static void
S_vars(lua_State *L, int i, const struct buf *body, int related, int site)
{
	char	 s[128];

	lua_createtable(L, 0, 32);
	lua_rawgeti(L, LUA_REGISTRYINDEX, site);
	lua_setfield(L, -2, "site");
	S_setfield(L, "root", "../");
	S_setfield(L, "mode", "default");
	S_setfield(L, "build_date", "2024-05-01");
	lua_pushlstring(L, body->data, body->len);
	lua_setfield(L, -2, "body");

	lua_createtable(L, 0, 16);
	snprintf(s, sizeof(s), "市司法局%d年法治政府建设年度报告", 2000 + i % 50);
	S_setfield(L, "title", s);
	S_setfield(L, "summary", "本报告总结了依法行政、行政复议与\"放管服\"改革<情况>");
	S_setfield(L, "category", "市政府部门");
	S_setfield(L, "department", "市司法局");
	S_setfield(L, "dept_url", "department/市司法局.html");
	S_setint(L, "year", 2000 + i % 50);
	S_setfield(L, "date", "2019-01-04");
	S_setfield(L, "source", "市司法局办公室");
	snprintf(s, sizeof(s), "report/sfj-%d.html", 2000 + i % 50);
	S_setfield(L, "url", s);
	lua_createtable(L, 2, 0);
	for (int k = 1; k <= 2; k++) {
		lua_createtable(L, 0, 3);
		S_setfield(L, "name", k == 1 ? "附件1 统计表.xlsx" : "附件2.pdf");
		S_setfield(L, "url", "files/sfj/%E9%99%84%E4%BB%B6.pdf");
		S_setint(L, "size", 123456 * k);
		lua_rawseti(L, -2, k);
	}
	lua_setfield(L, -2, "attachments");
	lua_createtable(L, 0, 2);
	S_setfield(L, "url", "report/sfj-2018.html");
	S_setint(L, "year", 2018);
	lua_setfield(L, -2, "prev");
	lua_setfield(L, -2, "page");

	lua_createtable(L, 8, 0);
	for (int k = 1; k <= 8; k++) {
		lua_createtable(L, 0, 3);
		S_setint(L, "level", 2 + k % 2);
		snprintf(s, sizeof(s), "第%d部分", k);
		S_setfield(L, "id", s);
		S_setfield(L, "text", s);
		lua_rawseti(L, -2, k);
	}
	lua_setfield(L, -2, "toc");

	/* A fresh list each page, of the shared report tables. */
	lua_createtable(L, NRELATED, 0);
	lua_rawgeti(L, LUA_REGISTRYINDEX, related);
	for (int k = 1; k <= NRELATED; k++) {
		lua_rawgeti(L, -1, k);
		lua_rawseti(L, -3, k);
	}
	lua_pop(L, 1);
	lua_setfield(L, -2, "related");

	lua_createtable(L, 0, 4);
	S_setfield(L, "@context", "https://schema.org");
	S_setfield(L, "@type", "Report");
	S_setfield(L, "name", "</script><script>alert(1)</script>");
	S_setfield(L, "datePublished", "2019-01-04");
	lua_setfield(L, -2, "ld");

	/* The rest of the 30: names a theme may use. */
	for (int k = 0; k < 21; k++) {
		snprintf(s, sizeof(s), "extra%d", k);
		lua_pushinteger(L, k);
		lua_setfield(L, -2, s);
	}
}

int
main(int argc, char *argv[])
{
	const char *root = argc > 1 ? argv[1] : ".";
	long	 n = argc > 2 ? atol(argv[2]) : 10000;
	struct tmpl_set *set;
	struct tmpl_env *env;
	struct buf body = { 0 }, out = { 0 };
	lua_State *L;
	char	*troot;
	double	 t0, t1, t2, c2;
	int	 related, site;
	size_t	 bytes = 0;

	troot = path_join(root, "tests/template");
	t0 = now_seconds();
	if ((set = tmpl_compile(troot, "bench")) == NULL ||
	    (env = tmpl_env_new(set)) == NULL) {
		diag_flush();
		return 1;
	}
	t1 = now_seconds();
	L = tmpl_lua(env);
	related = S_related(L);
	site = S_site(L);
	S_body(&body);

	t2 = now_seconds();
	c2 = S_cpu();
	for (long i = 0; i < n; i++) {
		buf_reset(&out);
		S_vars(L, (int)i, &body, related, site);
		if (tmpl_render(env, "report.html", &out) != 0) {
			diag_flush();
			return 1;
		}
		bytes += out.len;
	}
	t2 = now_seconds() - t2;
	c2 = S_cpu() - c2;
	if (strstr(buf_cstr(&out), "</script><script>") != NULL ||
	    strstr(buf_cstr(&out), body.data) == NULL) {
		fprintf(stderr, "template_bench: wrong output\n");
		return 1;
	}
	printf("template: compile + load %.2f ms; %ld pages of %zu bytes "
	    "(body %zu) in %.3f s (%.3f s CPU): %.1f us/page (%.1f CPU), "
	    "%.0f pages/s on one core (%.0f by CPU time)\n",
	    (t1 - t0) * 1e3, n, bytes / (size_t)(n ? n : 1), body.len, t2, c2,
	    n ? t2 / n * 1e6 : 0, n ? c2 / n * 1e6 : 0, t2 > 0 ? n / t2 : 0,
	    c2 > 0 ? n / c2 : 0);
	tmpl_env_free(env);
	tmpl_set_free(set);
	buf_free(&body);
	buf_free(&out);
	free(troot);
	return 0;
}
