/*
 * test_template.c: the theme template engine, on the fixture themes in
 * tests/template/themes (t holds valid templates; cycle, unclosed and
 * syntax each hold broken ones).  Run from the repository root, or
 * with ROOT set to it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "buf.h"
#include "diag.h"
#include "template.h"
#include "util.h"

static int	 S_failed;

static void
S_check(const char *name, int ok, const char *fmt, ...)
{
	va_list	 ap;

	if (ok) {
		printf("PASS %s\n", name);
		return;
	}
	S_failed = 1;
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Push the table returned by the Lua expression vars. */
static void
S_vars(struct tmpl_env *env, const char *vars)
{
	lua_State *L = tmpl_lua(env);
	char	*code = xasprintf("return %s", vars);

	if (luaL_dostring(L, code) != LUA_OK) {
		fprintf(stderr, "bad test variables: %s\n",
		    lua_tostring(L, -1));
		exit(2);
	}
	free(code);
}

/* Render name with vars; return the output (static buffer) or NULL. */
static const char *
S_render(struct tmpl_env *env, const char *name, const char *vars)
{
	static struct buf out;

	buf_reset(&out);
	S_vars(env, vars);
	if (tmpl_render(env, name, &out) != 0)
		return NULL;
	return buf_cstr(&out);
}

static void
S_expect(struct tmpl_env *env, const char *test, const char *name,
    const char *vars, const char *want)
{
	const char *got = S_render(env, name, vars);
	char	*d;

	if (got == NULL) {
		d = diag_collected_text();
		S_check(test, 0, "render failed: %s", d);
		free(d);
		diag_reset();
		return;
	}
	S_check(test, strcmp(got, want) == 0, "got [%s], want [%s]", got,
	    want);
}

/* Expect the collected diagnostics to contain want; then clear them. */
static void
S_expect_diag(const char *test, int ok, const char *want)
{
	char	*d = diag_collected_text();

	S_check(test, ok && strstr(d, want) != NULL,
	    "diagnostics [%s], want [%s]%s", d, want,
	    ok ? "" : " (and the call to fail)");
	free(d);
	diag_reset();
}

/*
 * Compile a broken fixture theme: it must fail, with every string of
 * want among the diagnostics and none of absent (both NULL-terminated).
 */
static void
S_expect_broken(const char *root, const char *test, const char *theme,
    const char *const *want, const char *const *absent)
{
	struct tmpl_set *set = tmpl_compile(root, theme);
	char	*d = diag_collected_text();
	int	 ok = set == NULL;
	size_t	 i;

	for (i = 0; want[i] != NULL; i++)
		ok &= strstr(d, want[i]) != NULL;
	for (i = 0; absent != NULL && absent[i] != NULL; i++)
		ok &= strstr(d, absent[i]) == NULL;
	S_check(test, ok, "%s", d);
	free(d);
	diag_reset();
	tmpl_set_free(set);
}

static void
S_expect_error(struct tmpl_env *env, const char *test, const char *name,
    const char *vars, const char *want)
{
	struct buf out = { 0 };
	int	 rc;

	buf_puts(&out, "kept");
	S_vars(env, vars);
	rc = tmpl_render(env, name, &out);
	S_expect_diag(test, rc == -1 && strcmp(buf_cstr(&out), "kept") == 0,
	    want);
	buf_free(&out);
}

static void
S_lines_kept(const struct tmpl_set *set, const char *name, const char *root)
{
	const char *lua;
	char	*path, *src;
	size_t	 len, srclen, i, a = 0, b = 0;

	lua = tmpl_lua_source(set, name, &len);
	path = xasprintf("%s/themes/t/templates/%s", root, name);
	if (lua == NULL || file_read(path, &src, &srclen) == -1) {
		S_check("lines kept", 0, "no source for %s", name);
		free(path);
		return;
	}
	for (i = 0; i < len; i++)
		a += lua[i] == '\n';
	for (i = 0; i < srclen; i++)
		b += src[i] == '\n';
	S_check("generated Lua keeps the template's lines", a == b,
	    "%s: %zu lines of Lua for %zu", name, a, b);
	free(src);
	free(path);
}

int
main(void)
{
	struct tmpl_set *set, *bad;
	struct tmpl_env *env, *env2;
	const char *got;
	char	*root, *d;
	unsigned char h1[32], h2[32];
	double	 t0;

	root = getenv("ROOT") ? path_join(getenv("ROOT"), "tests/template") :
	    xstrdup("tests/template");

	set = tmpl_compile(root, "t");
	if (set == NULL) {
		d = diag_collected_text();
		S_check("compile fixture theme", 0, "%s", d);
		return 1;
	}
	S_check("compile fixture theme", 1, "");
	S_check("exists", tmpl_exists(set, "page.html") &&
	    tmpl_exists(set, "_footer.html") && !tmpl_exists(set, "nope.html"),
	    "tmpl_exists is wrong");
	tmpl_hash(set, h1);
	bad = tmpl_compile(root, "t");
	tmpl_hash(bad, h2);
	tmpl_set_free(bad);
	S_check("hash is stable", memcmp(h1, h2, 32) == 0, "two compiles differ");
	S_lines_kept(set, "multiline.html", root);
	S_lines_kept(set, "ws.html", root);
	S_lines_kept(set, "cached.html", root);
	S_lines_kept(set, "inh_child.html", root);
	S_lines_kept(set, "_mid.html", root);

	if ((env = tmpl_env_new(set)) == NULL)
		return 1;

	S_expect(env, "escaping in text and attributes", "escape.html",
	    "{ title = [[<a&b> \"q\" 'x']], url = '/a?b=1&c=\"2\"', "
	    "raw = '<b>bold</b>' }",
	    "<a title=\"&lt;a&amp;b&gt; &quot;q&quot; &#39;x&#39;\" "
	    "href=\"/a?b=1&amp;c=&quot;2&quot;\">&lt;a&amp;b&gt; &quot;q&quot; "
	    "&#39;x&#39;</a><b>bold</b>\n");
	S_expect(env, "values: integers, nil, false, true", "values.html",
	    "{ i = 42, f = 3.0, g = 2.5, no = false, yes = true, big = 1e20 }",
	    "42|3|2.5|||true|1e+20");
	S_expect(env, "loop over reports", "loop.html",
	    "{ reports = { { title = '甲', year = 2019 }, "
	    "{ title = '<乙>', year = 2020 } } }",
	    "<ul>\n  <li>甲 (2019)</li>\n  <li>&lt;乙&gt; (2020)</li>\n</ul>\n");
	S_expect(env, "loop over nothing", "loop.html", "{ reports = {} }",
	    "<ul>\n</ul>\n");
	S_expect(env, "if", "cond.html", "{ x = 1 }", "one");
	S_expect(env, "elseif", "cond.html", "{ x = 2 }", "two");
	S_expect(env, "else", "cond.html", "{ x = 3 }", "other");
	S_expect(env, "include shares variables and globals", "page.html",
	    "{ title = 'T', site = '<S>' }",
	    "<h1>T</h1>\n<footer>&lt;S&gt; / set by page</footer>\n");
	S_expect(env, "include with a table", "with.html",
	    "{ items = { 'a', '<b>' }, title = 'T' }",
	    "<i>1:a:T</i><i>2:&lt;b&gt;:T</i>\n[][T]\n");
	/* Cached includes: once per key and worker, then reused. */
	S_expect(env, "cached include renders", "cached.html",
	    "{ k = 'a', stamp = 1 }", "[1]|[1]\n");
	S_expect(env, "cached include reused for the same key", "cached.html",
	    "{ k = 'a', stamp = 2 }", "[1]|[1]\n");
	S_expect(env, "cached include renders again for a new key",
	    "cached.html", "{ k = 'b', stamp = 3 }", "[3]|[3]\n");
	S_expect(env, "cached key nil", "nilkey.html", "{ stamp = 'n' }", "[n]");
	S_expect(env, "cached key \"\" is not nil", "nilkey.html",
	    "{ kk = '', stamp = 'e' }", "[e]");
	S_expect(env, "cached key false is neither", "nilkey.html",
	    "{ kk = false, stamp = 'f' }", "[f]");
	S_expect(env, "cached key 1 (number) is not \"a\"", "nilkey.html",
	    "{ kk = 1, stamp = 'i' }", "[i]");
	S_expect(env, "cached includes nest", "nested.html",
	    "{ stamp = 'p' }", "<[p]>[p]");
	S_expect(env, "nested cached includes reused", "nested.html",
	    "{ stamp = 'q' }", "<[p]>[p]");
	S_expect_error(env, "cached key must be a plain value", "badkey.html",
	    "{}", "themes/t/templates/badkey.html:1: error: include … cached: "
	    "key 1 is a table, not a string, number, boolean or nil");
	S_expect_error(env, "error inside a cached include", "cachederr.html",
	    "{}", "themes/t/templates/_boom.html:1: error:");
	S_expect(env, "cached include after an error in one", "cached.html",
	    "{ k = 'c', stamp = 4 }", "[4]|[4]\n");
	S_expect(env, "json escapes </script>", "json.html",
	    "{ data = { name = '</script><x>', list = { 1, 2, 3 }, b = true, "
	    "nested = { z = 1, a = 'é', f = 0.5 }, empty = {} } }",
	    "<script type=\"application/ld+json\">{\"b\":true,\"empty\":[],"
	    "\"list\":[1,2,3],\"name\":\"\\u003c/script\\u003e\\u003cx\\u003e\","
	    "\"nested\":{\"a\":\"é\",\"f\":0.5,\"z\":1}}</script>\n");
	S_expect(env, "json sorts keys by bytes, shorter first", "json.html",
	    "{ data = { b = 1, ab = 2, a = 3, aa = { y = 1, x = { 2 } }, "
	    "['\xe6\xb3\x95'] = 4, B = 5 } }",
	    "<script type=\"application/ld+json\">{\"B\":5,\"a\":3,"
	    "\"aa\":{\"x\":[2],\"y\":1},\"ab\":2,\"b\":1,\"\xe6\xb3\x95\":4}"
	    "</script>\n");
	S_expect(env, "json: an object of 40 keys, sorted", "json.html",
	    "{ data = (function() local t = {} for i = 1, 40 do "
	    "t[('k%02d'):format(41 - i)] = i end return t end)() }",
	    "<script type=\"application/ld+json\">{\"k01\":40,\"k02\":39,"
	    "\"k03\":38,\"k04\":37,\"k05\":36,\"k06\":35,\"k07\":34,"
	    "\"k08\":33,\"k09\":32,\"k10\":31,\"k11\":30,\"k12\":29,"
	    "\"k13\":28,\"k14\":27,\"k15\":26,\"k16\":25,\"k17\":24,"
	    "\"k18\":23,\"k19\":22,\"k20\":21,\"k21\":20,\"k22\":19,"
	    "\"k23\":18,\"k24\":17,\"k25\":16,\"k26\":15,\"k27\":14,"
	    "\"k28\":13,\"k29\":12,\"k30\":11,\"k31\":10,\"k32\":9,"
	    "\"k33\":8,\"k34\":7,\"k35\":6,\"k36\":5,\"k37\":4,"
	    "\"k38\":3,\"k39\":2,\"k40\":1}</script>\n");
	S_expect_error(env, "json refuses non-string keys", "json.html",
	    "{ data = { [2] = 'x' } }",
	    "themes/t/templates/json.html:1: error: json: object keys must be "
	    "strings, not number");
	S_expect_error(env, "json refuses mixed tables", "json.html",
	    "{ data = { 1, 2, x = 3 } }",
	    "themes/t/templates/json.html:1: error: json: a table has both");
	S_expect(env, "helpers: date_zh, filesize, join, len, urlencode, esc",
	    "helpers.html", "{}",
	    "2019年1月4日|2019年12月|2020年|\n"
	    "500 B|12.3 KB|1.2 MB|1.0 MB\n"
	    "1, a, 2.5, 3|4|3|0\n"
	    "%E6%B3%95%20%E6%B2%BB/a%3Fb|&lt;b class=&#39;x&#39;&gt;\n");
	S_expect(env, "globals do not leak (1st render)", "globals.html",
	    "{ shared = { n = 7 } }", "[][function][1][string][7]\n");
	S_expect(env, "globals do not leak (2nd render)", "globals.html",
	    "{ shared = { n = 8 } }", "[][function][1][string][8]\n");
	/* Read-only views (tmpl_readonly()): the site data pages share. */
	{
		lua_State *L = tmpl_lua(env);
		struct buf out = { 0 };
		int	 rc;

		S_vars(env, "{ r = { title = '<法>', year = 2023, i = 1 }, "
		    "l = { 'a', 'b', 'c' } }");
		lua_getfield(L, -1, "r");
		tmpl_readonly(L);
		lua_setfield(L, -2, "r");
		lua_getfield(L, -1, "l");
		tmpl_readonly(L);
		lua_setfield(L, -2, "l");
		lua_pushvalue(L, -1);
		lua_setfield(L, LUA_REGISTRYINDEX, "test_ro_vars");
		rc = tmpl_render(env, "roview.html", &out);
		S_check("read-only view: fields, #, ipairs, pairs, json, include with",
		    rc == 0 && strcmp(buf_cstr(&out), "&lt;法&gt;|3|abc|3|"
		    "{\"i\":1,\"title\":\"\\u003c法\\u003e\",\"year\":2023}|"
		    "[\"a\",\"b\",\"c\"]|<i>1:&lt;法&gt;:2023</i>\n") == 0,
		    "got [%s] %s", buf_cstr(&out),
		    rc ? (d = diag_collected_text()) : "");
		buf_reset(&out);
		diag_reset();
		lua_getfield(L, LUA_REGISTRYINDEX, "test_ro_vars");
		rc = tmpl_render(env, "roassign.html", &out);
		d = diag_collected_text();
		S_check("read-only view: an assignment is an error at its line",
		    rc == -1 && strstr(d, "themes/t/templates/roassign.html:2: "
		    "error: attempt to modify a read-only table") != NULL,
		    "rc %d: %s", rc, d);
		free(d);
		diag_reset();
		buf_free(&out);
	}
	S_expect_error(env, "library tables are read-only", "readonly.html",
	    "{}", "themes/t/templates/readonly.html:1: error: attempt to "
	    "modify a read-only table");
	S_expect(env, "string library intact after the attempt", "values.html",
	    "{ i = ('x'):upper() }", "X||||||");
	S_expect(env, "sandbox hides pcall, load, io, os, ...", "sandbox.html",
	    "{}", "[][][][][][][][]\n");
	S_expect(env, "whitespace control", "ws.html", "{}",
	    "<ul>\n  <li>1</li>\n  <li>2</li>\n</ul>ABC\n");
	S_expect(env, "literal {{, strings and braces in tags", "literal.html",
	    "{}", "{{ x }} 2 %}}}\n");
	S_expect(env, "template functions write in order", "macro.html",
	    "{}", "<ul><b>1</b>-<b>2</b></ul>\n");
	{
		struct buf want = { 0 };

		for (int k = 0; k < 60; k++)
			buf_puts(&want, "[&lt;<i>]");
		buf_putc(&want, '\n');
		S_expect(env, "long runs of output", "runlong.html",
		    "{ x = '<', y = '<i>' }", buf_cstr(&want));
		buf_free(&want);
	}
	S_expect(env, "CRLF template", "crlf.html", "{ x = 1 }",
	    "a\r\nb 1\r\n");
	S_expect(env, "byte order mark dropped", "bom.html", "{ x = 1 }",
	    "<p>1</p>");
	S_expect(env, "UTF-8 text", "utf8.html", "{}", "café ✓ &lt;");

	S_expect_error(env, "runtime error position", "runtime.html",
	    "{ page = { title = 'x' } }",
	    "themes/t/templates/runtime.html:3: error: attempt to index a "
	    "nil value (field 'prev')");
	S_expect_error(env, "runtime error in a multi-line tag", "multiline.html",
	    "{}", "themes/t/templates/multiline.html:5: error: attempt to "
	    "index a nil value (field 'b')");
	S_expect_error(env, "runtime error in a partial", "nested_err.html",
	    "{}", "themes/t/templates/_bad.html:2: error: attempt to call a "
	    "nil value (global 'missing_function') (included from "
	    "themes/t/templates/nested_err.html:2)");
	S_expect_error(env, "runtime error in a multi-line include", "incl_ml.html",
	    "{}", "themes/t/templates/incl_ml.html:5: error: attempt to index "
	    "a nil value (global 'nope')");
	S_expect_error(env, "include used as a function", "incl_call.html",
	    "{}", "themes/t/templates/incl_call.html:1: error: include must "
	    "be alone in its tag");
	S_expect_error(env, "error object without position", "errobj.html",
	    "{}", "themes/t/templates/errobj.html:1: error: error object is "
	    "a table value");
	S_expect_error(env, "variables must be a table", "cond.html", "42",
	    "themes/t/templates/cond.html: error: the variables");
	S_expect_error(env, "unknown template", "nope.html", "{}",
	    "no template 'nope.html'");

	/* Inheritance: {% extends %} and {% block %}. */
	S_expect(env, "a base renders its own blocks", "_layout.html",
	    "{ site = 'S' }", "<h>Default</h>\n<p>base body</p>\n<f>S</f>\n");
	S_expect(env, "a child fills its parent's blocks", "inh_child.html",
	    "{ site = 'S', name = '<x>' }",
	    "<h>Child &lt;x&gt;</h>\n<i>1</i><i>2</i>\n<f>S</f>\n");
	S_expect(env, "a middle template renders alone", "_mid.html",
	    "{ site = 'S' }", "<h>Default</h>\n<m>mid inner</m>\n<f>S</f>\n");
	S_expect(env, "three levels: the most derived block wins",
	    "inh_grand.html", "{ site = 'S' }",
	    "<h>Grand</h>\n<m>grand inner</m>\n<f>S</f>\n");
	S_expect(env, "an included child keeps its blocks to itself",
	    "inh_incl.html", "{ site = 'S', name = 'n' }",
	    "outer[<h>Child n</h>\n<i>1</i><i>2</i>\n<f>S</f>\n]\n");
	S_expect(env, "the same env renders the base alone again",
	    "_layout.html", "{ site = 'T' }",
	    "<h>Default</h>\n<p>base body</p>\n<f>T</f>\n");
	S_expect_error(env, "an error in an override names its line",
	    "inh_err.html", "{}", "themes/t/templates/inh_err.html:3: error: "
	    "attempt to index a nil value (global 'nope')");

	t0 = now_seconds();
	S_expect_error(env, "endless loop stopped", "forever.html", "{}",
	    "themes/t/templates/forever.html:2: error: instruction budget "
	    "exceeded");
	S_expect_error(env, "endless loop inside a C call stopped",
	    "sortforever.html", "{}",
	    "themes/t/templates/sortforever.html:2: error: instruction budget "
	    "exceeded");
	S_check("budget stops loops quickly", now_seconds() - t0 < 20,
	    "%.1f s", now_seconds() - t0);
	S_expect_error(env, "memory cap", "memory.html", "{}",
	    "themes/t/templates/memory.html:1: error: not enough memory");
	S_expect(env, "env renders again after errors", "cond.html",
	    "{ x = 2 }", "two");

	env2 = tmpl_env_new(set);
	S_expect(env2, "second env", "cond.html", "{ x = 1 }", "one");
	tmpl_env_free(env2);
	tmpl_env_free(env);
	tmpl_set_free(set);

	bad = tmpl_compile(root, "cycle");
	S_expect_diag("include cycle refused", bad == NULL,
	    "themes/cycle/templates/b.html:1:1: error: include cycle: "
	    "a.html -> b.html -> a.html");
	bad = tmpl_compile(root, "cycle");
	S_expect_diag("self include refused", bad == NULL,
	    "themes/cycle/templates/c.html:1:1: error: include cycle: "
	    "c.html -> c.html");

	S_expect_broken(root, "unclosed tag with line and column", "unclosed",
	    (const char *const[]){
	    "themes/unclosed/templates/x.html:2:7: error: unclosed '{{'",
	    "themes/unclosed/templates/y.html:3:3: error: unclosed '{%'",
	    "themes/unclosed/templates/z.html:1:1: error: include: "
	    "no template 'nope.html'", NULL }, NULL);

	S_expect_broken(root, "Lua syntax errors at template lines", "syntax",
	    (const char *const[]){
	    "themes/syntax/templates/s.html:2: error: 'then' expected",
	    "themes/syntax/templates/t.html:4: error: 'end' "
	    "expected (to close 'for' at line 2)",
	    "themes/syntax/templates/v.html:1:1: error: include "
	    "\"_x.html\": expected the end of the tag, 'with' and a table, "
	    "or 'cached' and a key after the name", NULL },
	    (const char *const[]){ "u.html", NULL });

	S_expect_broken(root, "inheritance errors, each at its tag", "inherit",
	    (const char *const[]){
	    "themes/inherit/templates/text.html:2:1: error: text "
	    "outside a block: a template that extends another shows only its "
	    "blocks",
	    "themes/inherit/templates/late.html:2:1: error: extends "
	    "must be the first tag of the template",
	    "themes/inherit/templates/noparent.html:1:1: error: "
	    "extends: no template '_none.html'",
	    "themes/inherit/templates/unclosed.html:1:1: error: "
	    "unclosed block 'a'",
	    "themes/inherit/templates/mismatch.html:1:15: error: "
	    "endblock: expected 'endblock' or 'endblock a'",
	    "themes/inherit/templates/dup.html:1:29: error: block "
	    "'a' is already defined at line 1",
	    "error: extends cycle: ",
	    "themes/inherit/templates/expr.html:2:1: error: '{{ }}' "
	    "outside a block",
	    "themes/inherit/templates/incl.html:2:1: error: include "
	    "outside a block",
	    "themes/inherit/templates/badname.html:1:1: error: "
	    "block: expected a name",
	    "themes/inherit/templates/stray_end.html:1:1: error: "
	    "endblock: no block is open", NULL },
	    /* One error for each mistake, none that follow from it. */
	    (const char *const[]){ "mismatch.html:1:1: error: unclosed",
	    "dup.html:1:43", "badname.html:1:16", NULL });
	/* Misspelt overrides are found once everything else is right. */
	bad = tmpl_compile(root, "inherit2");
	S_expect_diag("an override with no place in the parents", bad == NULL,
	    "themes/inherit2/templates/typo.html:2:1: error: block 'typo': "
	    "_base.html has no block of that name, so it would never show");

	bad = tmpl_compile(root, "no-such-theme");
	S_expect_diag("missing theme", bad == NULL,
	    "themes/no-such-theme/templates: error: cannot read");
	bad = tmpl_compile(root, "../t");
	S_expect_diag("unsafe theme name", bad == NULL, "not a directory name");

	(void)got;
	free(root);
	return S_failed;
}
