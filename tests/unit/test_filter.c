/*
 * Lua filters: the API (keep, replace, splice, delete, order, hooks,
 * meta, site, report), the sandbox (every escape ends in a diagnosed
 * error naming filters/NAME.lua:LINE, and the state stays usable), the
 * pattern functions against stock Lua, and the bundled filters against
 * the fixtures in tests/filter/cases (exact HTML and diagnostics).
 *
 * FILTER_UPDATE=1 rewrites the fixtures' expected files from the
 * current output instead of comparing (review the diff before a commit).
 */
#define _GNU_SOURCE
#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmark-gfm.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "buf.h"
#include "check.h"
#include "config.h"
#include "content.h"
#include "diag.h"
#include "filter.h"
#include "frontmatter.h"
#include "markdown.h"
#include "util.h"
#include "yval.h"

static char	 S_dir[] = "/tmp/fazhi-filter-XXXXXX";
static const char *S_repo;		/* the repository: tests/, filters/ */
static struct config S_cfg;		/* S_dir/site.yaml */
static struct filter_env *S_env;	/* over S_dir */

struct res {
	int	 rc;
	char	*html;
	char	*diag;
};

static void
S_free_res(struct res *r)
{
	free(r->html);
	free(r->diag);
	memset(r, 0, sizeof(*r));
}

/* Write text to S_dir/rel. */
static void
S_write(const char *rel, const char *text)
{
	char	*p = path_join(S_dir, rel);
	FILE	*f = fopen(p, "w");

	if (f == NULL) {
		perror(p);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
	free(p);
}

/* Split "a b c" into a NULL-terminated array (static storage, 8 max). */
static size_t
S_names(char *s, char **v)
{
	size_t	 n = 0;
	char	*tok;

	for (tok = strtok(s, " "); tok && n < 8; tok = strtok(NULL, " "))
		v[n++] = tok;
	v[n] = NULL;
	return n;
}

/*
 * Run the site filters sitef then the report filters repf (names
 * separated by spaces) over a report whose front matter is `title: t`
 * plus fm, and body md.  The report's path is content/t.md.
 */
static void
S_run_env(struct res *out, struct filter_env *env, struct config *cfg,
    const char *sitef, const char *repf, const char *fm, const char *md)
{
	char	 sbuf[256], rbuf[256], *sv[9], *rv[9], **ofilters;
	size_t	 onfilters;
	struct report r;
	struct fm_split sp;
	struct yval *meta;
	struct cmark_node *doc;
	struct buf text = { 0 }, html = { 0 };

	snprintf(sbuf, sizeof(sbuf), "%s", sitef);
	snprintf(rbuf, sizeof(rbuf), "%s", repf);
	buf_printf(&text, "---\ntitle: t\n%s---\n%s", fm, md);
	memset(&r, 0, sizeof(r));
	r.path = "content/t.md";
	r.filters = rv;
	r.nfilters = S_names(rbuf, rv);
	ofilters = cfg->filters;
	onfilters = cfg->nfilters;
	cfg->filters = sv;
	cfg->nfilters = S_names(sbuf, sv);
	diag_reset();
	meta = fm_parse(r.path, text.data, text.len, &sp);
	r.body_line = sp.body_line;
	doc = md_parse(text.data + sp.body_off, text.len - sp.body_off, 0);
	out->rc = filter_run(env, &r, meta, doc);
	md_render(doc, &html, NULL, 0);
	out->html = buf_detach(&html);
	out->diag = diag_collected_text();
	md_free(doc);
	yval_free(meta);
	buf_free(&text);
	cfg->filters = ofilters;
	cfg->nfilters = onfilters;
}

static void
S_run(struct res *out, const char *sitef, const char *repf, const char *md)
{
	S_run_env(out, S_env, &S_cfg, sitef, repf, "", md);
}

/* Run one report filter over md; compare the HTML. */
static void
S_html(const char *name, const char *filter, const char *md, const char *want)
{
	struct res r;

	S_run(&r, "", filter, md);
	if (r.rc != 0 || *r.diag != '\0')
		printf("  rc %d, diagnostics:\n%s", r.rc, r.diag);
	CHECK_STR(name, r.html, want);
	S_free_res(&r);
}

/*
 * Run one report filter that must fail; the diagnostics must hold
 * want (a "content/t.md:L:C: error: filters/x.lua:N: ..." prefix or
 * any part), and the state must still run a good filter afterwards.
 */
static void
S_fails(const char *name, const char *filter, const char *md,
    const char *want)
{
	struct res r;
	char	 label[256];

	S_run(&r, "", filter, md);
	if (r.rc != -1 || strstr(r.diag, want) == NULL)
		printf("  rc %d, diagnostics:\n%s", r.rc, r.diag);
	CHECK(name, r.rc == -1 && strstr(r.diag, want) != NULL);
	S_free_res(&r);
	snprintf(label, sizeof(label), "%s: the state still works", name);
	S_run(&r, "", "good", "x\n");
	CHECK_STR(label, r.html, "<p>X!</p>\n");
	S_free_res(&r);
}

static void
test_api(void)
{
	struct res r;

	S_write("filters/good.lua",
	    "return { Text = function(t) t.text = t.text:upper() .. \"!\" "
	    "return t end }\n");
	S_html("keep: nil keeps the node, in-place changes stay", "good",
	    "a *b*\n", "<p>A !<em>B!</em></p>\n");

	S_write("filters/replace.lua",
	    "return { Paragraph = function(p)\n"
	    "  return fazhi.Heading(3, p.content) end }\n");
	S_html("replace: a node replaces", "replace", "para\n",
	    "<h3 id=\"para\">para</h3>\n");

	S_write("filters/splice.lua",
	    "return { Paragraph = function(p)\n"
	    "  return { p, fazhi.Paragraph(\"copy\") } end }\n");
	S_html("splice: a list goes in the node's place", "splice", "one\n",
	    "<p>one</p>\n<p>copy</p>\n");

	S_write("filters/delete.lua",
	    "return { Emph = function() return {} end,\n"
	    "  BlockQuote = function() return {} end }\n");
	S_html("delete: an empty list removes", "delete",
	    "a *b* c\n\n> quoted\n\nend\n", "<p>a  c</p>\n<p>end</p>\n");

	S_write("filters/sa.lua", "return { Text = function(t) "
	    "t.text = t.text .. \"a\" end }\n");
	S_write("filters/sb.lua", "return { Text = function(t) "
	    "t.text = t.text .. \"b\" end }\n");
	S_run(&r, "sa", "sb", "x\n");
	CHECK_STR("order: site filters, then the report's", r.html,
	    "<p>xab</p>\n");
	S_free_res(&r);
	S_run(&r, "sb sa", "", "x\n");
	CHECK_STR("order: site filters in site.yaml order", r.html,
	    "<p>xba</p>\n");
	S_free_res(&r);
	S_run(&r, "sa sb", "sb sa", "x\n");
	CHECK_STR("order: a filter named twice runs once", r.html,
	    "<p>xab</p>\n");
	S_free_res(&r);

	S_write("filters/order.lua",
	    "local seen = {}\n"
	    "local function note(n) seen[#seen + 1] = n.t .. (n.text and "
	    "\"(\" .. n.text .. \")\" or \"\") end\n"
	    "return { Text = note, Strong = note, Paragraph = note,\n"
	    "  Heading = note, Block = note, Inline = note,\n"
	    "  Meta = function(m) seen[#seen + 1] = \"Meta\" end,\n"
	    "  Document = function(d)\n"
	    "    seen[#seen + 1] = \"Document\"\n"
	    "    d.content = { fazhi.Paragraph(table.concat(seen, \" \")) }\n"
	    "    return d end }\n");
	S_html("order: Meta, then bottom-up in document order, then Document",
	    "order", "# h\n\na **b** c\n\n---\n",
	    "<p>Meta Text(h) Heading Text(a ) Text(b) Strong Text( c) "
	    "Paragraph ThematicBreak Document</p>\n");

	S_write("filters/metaw.lua",
	    "return { Meta = function(m) m.extra = \"from meta\" "
	    "return m end }\n");
	S_write("filters/metar.lua",
	    "return { Document = function(d) d.content = {\n"
	    "  fazhi.Paragraph(meta.extra .. \" \" .. math.type(meta.year) "
	    ".. \" \" .. tostring(meta.draft) .. \" \" .. "
	    "table.concat(fazhi.keys(meta), \",\")) } end }\n");
	S_run_env(&r, S_env, &S_cfg, "metaw", "metar",
	    "year: 2023\ndraft: false\nzeta: 1\nalpha: x\n", "x\n");
	CHECK_STR("meta: typed, in key order, changed by a Meta hook", r.html,
	    "<p>from meta integer false title,year,draft,zeta,alpha,extra"
	    "</p>\n");
	S_free_res(&r);

	S_write("filters/raw.lua",
	    "return { Strong = function(s)\n"
	    "  return fazhi.RawInline('<mark class=\"m\">', s.content, "
	    "'</mark>') end,\n"
	    "  CodeBlock = function(c) return fazhi.RawBlock('<div>' .. "
	    "fazhi.escape(c.text) .. '</div>\\n') end }\n");
	S_html("raw HTML from filters is kept in safe mode, Markdown HTML is not",
	    "raw", "a **b** <i>c</i>\n\n```\n<x> & y\n```\n",
	    "<p>a <mark class=\"m\">b</mark> <!-- raw HTML omitted -->c"
	    "<!-- raw HTML omitted --></p>\n<div>&lt;x&gt; &amp; y\n</div>\n");

	S_write("filters/ids.lua",
	    "return { Heading = function(h) h.id = \"part-\" .. "
	    "stringify(h):len() end }\n");
	S_html("heading ids from filters", "ids", "## Ab *c*\n",
	    "<h2 id=\"part-4\">Ab <em>c</em></h2>\n");

	S_write("filters/build.lua",
	    "return { Document = function(d) d.content = {\n"
	    "  fazhi.Table({ { \"h1\", \"h2\" }, { fazhi.Strong(\"x\"), "
	    "\"y\" } }, { \"center\" }),\n"
	    "  fazhi.List({ \"one\", { fazhi.Paragraph(\"two\") } }, "
	    "{ ordered = true, start = 3 }),\n"
	    "  fazhi.Paragraph({ fazhi.Strikethrough(\"old\"), "
	    "fazhi.LineBreak(), fazhi.Link(\"l\", \"https://a.cn/?q=<\"), "
	    "fazhi.Code(\"c\") }),\n"
	    "  fazhi.BlockQuote(\"q\"), fazhi.ThematicBreak(), "
	    "fazhi.CodeBlock(\"x\\n\", \"lua\") } end }\n");
	S_html("constructors: tables, lists, inlines, blocks", "build", "x\n",
	    "<section class=\"table-wrap\" tabindex=\"0\" "
	    "aria-label=\"表格1\">\n<table>\n<thead>\n<tr>\n"
	    "<th style=\"text-align: center\">h1</th>\n<th>h2</th>\n</tr>\n"
	    "</thead>\n<tbody>\n<tr>\n<td style=\"text-align: center\">"
	    "<strong>x</strong></td>\n<td>y</td>\n</tr>\n</tbody>\n</table>\n"
	    "</section>\n<ol start=\"3\">\n<li>one</li>\n<li>two</li>\n</ol>\n"
	    "<p><del>old</del><br />\n<a href=\"https://a.cn/?q=%3C\">l</a>"
	    "<code>c</code></p>\n<blockquote>\n<p>q</p>\n</blockquote>\n"
	    "<hr />\n<pre><code class=\"language-lua\">x\n</code></pre>\n");

	S_write("filters/tables.lua",
	    "return { Table = function(t)\n"
	    "  if stringify(t):find(\"drop\") then return {} end\n"
	    "  table.remove(t.content, 2)\n"
	    "  t.content[1].content[1].content = { fazhi.Text(\"H\") } end }\n");
	S_html("tables: kept, edited or deleted", "tables",
	    "| a | b |\n|---|--:|\n| 1 | 2 |\n| 3 | 4 |\n\n"
	    "| drop |\n|---|\n| x |\n",
	    "<section class=\"table-wrap\" tabindex=\"0\" "
	    "aria-label=\"表格1\">\n<table>\n<thead>\n<tr>\n<th>H</th>\n"
	    "<th style=\"text-align: right\">b</th>\n</tr>\n</thead>\n"
	    "<tbody>\n<tr>\n<td>3</td>\n<td style=\"text-align: right\">4</td>\n"
	    "</tr>\n</tbody>\n</table>\n</section>\n");

	S_write("filters/walk.lua",
	    "return { BlockQuote = function(q)\n"
	    "  return fazhi.walk(q.content, { Text = function(t) "
	    "return fazhi.Text(t.text .. \"?\") end }) end }\n");
	S_html("fazhi.walk returns the walked list", "walk",
	    "> a\n>\n> b\n", "<p>a?</p>\n<p>b?</p>\n");

	S_write("filters/yaml.lua",
	    "return { CodeBlock = function(c)\n"
	    "  local v = fazhi.yaml(c.text, c)\n"
	    "  if v == nil then return {} end\n"
	    "  local ks = fazhi.keys(v)\n"
	    "  return fazhi.Paragraph(table.concat(ks, \",\") .. \" \" .. "
	    "math.type(v.n) .. \" \" .. math.type(v.f) .. \" \" .. #v.l .. "
	    "\" \" .. type(v.s)) end }\n");
	S_html("fazhi.yaml: typed values, keys in order", "yaml",
	    "```\nz: 1\nn: 2\nf: 1.5\nl: [a, b]\ns: '3'\n```\n",
	    "<p>z,n,f,l,s integer float 2 string</p>\n");
	S_run(&r, "", "yaml", "text\n\n```\nok: 1\nbad: [1,\n```\n");
	CHECK("fazhi.yaml: errors diagnosed at the block's line",
	    r.rc == -1 && strstr(r.diag, "content/t.md:") != NULL &&
	    strstr(r.diag, "content/t.md:9:") != NULL);
	S_free_res(&r);
	S_run(&r, "", "yaml", "```\nok: 1\nbad: \xff\n```\n");
	CHECK("fazhi.yaml: invalid UTF-8, at its line", r.rc == -1 &&
	    strstr(r.diag, "content/t.md:6: error: YAML text is not valid "
	    "UTF-8\n") != NULL);
	S_free_res(&r);

	S_write("filters/mod.lua", "return { twice = function(s) "
	    "return s .. s end }\n");
	S_write("filters/usemod.lua",
	    "local m = require(\"mod\")\n"
	    "local f = load(\"return x .. '!'\", \"chunk\", \"t\", "
	    "{ x = \"loaded\" })\n"
	    "return { Text = function(t) t.text = m.twice(t.text) .. f() "
	    "end }\n");
	S_html("require loads filters/NAME.lua; load takes text",
	    "usemod", "ab\n", "<p>ababloaded!</p>\n");

	S_write("filters/ga.lua",
	    "counter = (counter or 0) + 1\n"
	    "string.upper = function() return \"pwned\" end\n"
	    "local ok = pcall(function() getmetatable(\"\").__index.upper = "
	    "nil end)\n"
	    "return { Text = function(t) t.text = t.text .. counter .. "
	    "tostring(ok) end }\n");
	S_write("filters/gb.lua",
	    "return { Text = function(t) t.text = t.text:upper() .. "
	    "tostring(counter) .. string.upper(\"b\") end }\n");
	S_run(&r, "", "ga gb", "x\n");
	CHECK_STR("isolation: globals, library tables and the string "
	    "metatable are per filter", r.html, "<p>X1FALSEnilB</p>\n");
	S_free_res(&r);
	S_run(&r, "", "ga gb", "x\n");
	CHECK_STR("isolation: nothing survives to the next report", r.html,
	    "<p>X1FALSEnilB</p>\n");
	S_free_res(&r);

	S_write("filters/rand.lua", "return { Text = function(t) "
	    "t.text = tostring(math.random(1000000)) end }\n");
	{
		struct res r2;

		S_run(&r, "", "rand", "x\n");
		S_run(&r2, "", "rand", "x\n");
		CHECK("math.random gives the same numbers for every report",
		    strcmp(r.html, r2.html) == 0);
		S_free_res(&r2);
		S_free_res(&r);
	}

	S_write("filters/warns.lua",
	    "return { Heading = function(h) warn(\"check \" .. stringify(h)) "
	    "end,\n"
	    "  Document = function(d) warn(\"at the second\", d.content[2]) "
	    "end }\n");
	S_run(&r, "", "warns", "# one\n\n## two\n");
	CHECK_STR("warn: the node's position and the filter's line", r.diag,
	    "content/t.md:4:1: warning: filters/warns.lua:1: check one\n"
	    "content/t.md:6:1: warning: filters/warns.lua:1: check two\n"
	    "content/t.md:6:1: warning: filters/warns.lua:2: at the second\n");
	CHECK("warnings do not fail the run", r.rc == 0);
	S_free_res(&r);
}

static void
test_errors(void)
{
	S_write("filters/err.lua",
	    "return {\n  Paragraph = function(p)\n"
	    "    error(\"cannot use \" .. stringify(p))\n  end }\n");
	S_fails("error(): position of the node and of the call", "err",
	    "x\n\nsecond\n", "content/t.md:4:1: error: filters/err.lua:3: "
	    "cannot use x\n");

	S_write("filters/errnode.lua",
	    "return { Document = function(d)\n"
	    "  error(\"look here\", d.content[2]) end }\n");
	S_fails("error(msg, node): the node's position", "errnode",
	    "# a\n\nb\n", "content/t.md:6:1: error: filters/errnode.lua:2: "
	    "look here\n");

	S_write("filters/badret.lua",
	    "return {\n  Text = function(t)\n"
	    "    return fazhi.Paragraph(\"no\") end }\n");
	S_fails("a hook returning a block where an inline belongs", "badret",
	    "x\n", "content/t.md:4:1: error: filters/badret.lua:2: the Text "
	    "hook returned a Paragraph (a block node) where an inline node "
	    "belongs\n");

	S_write("filters/badret2.lua",
	    "return { Heading = function(h) return 42 end }\n");
	S_fails("a hook returning a number", "badret2", "# x\n",
	    "filters/badret2.lua:1: the Heading hook returned a number; "
	    "return nil to keep the node");

	S_write("filters/badtree.lua",
	    "return { Document = function(d)\n"
	    "  d.content[1].content[1] = \"text\" end }\n");
	S_fails("a broken tree is blamed on the filter that made it",
	    "badtree", "x\n", "content/t.md:4:1: error: filters/badtree.lua: "
	    "invalid result: Document.content[1] > Paragraph.content[1] is a "
	    "string, not a node\n");

	S_write("filters/badlevel.lua",
	    "return { Heading = function(h) h.level = 9 end }\n");
	S_fails("field checks: heading level", "badlevel", "# x\n",
	    "invalid result: Document.content[1] field level must be an "
	    "integer from 1 to 6");

	S_write("filters/badcell.lua",
	    "return { TableCell = function(c)\n"
	    "  c.content = { fazhi.RawInline(\"<b>\") } end }\n");
	S_fails("table cells hold only what cmark allows", "badcell",
	    "| a |\n|---|\n| b |\n", "is a RawInline, which a TableCell "
	    "cannot hold");

	S_write("filters/hookname.lua",
	    "return { Header = function() end }\n");
	S_fails("an unknown hook is an error", "hookname", "x\n",
	    "content/t.md: error: filters/hookname.lua:1: unknown hook "
	    "'Header'");

	S_write("filters/notable.lua", "return 42\n");
	S_fails("a filter must return a table", "notable", "x\n",
	    "a filter must return a table of functions keyed by node type, "
	    "not a number");

	S_write("filters/syntax.lua", "return {\n  Text = function(t)\n"
	    "    t.text = = 1\n  end }\n");
	S_fails("a syntax error names the filter's line", "syntax", "x\n",
	    "content/t.md: error: filters/syntax.lua:3: unexpected symbol "
	    "near '='");

	S_fails("a filter that does not exist", "nosuch", "x\n",
	    "content/t.md: error: no filter \"nosuch\": filters/nosuch.lua "
	    "does not exist");
	S_fails("a name that is a path", "../site", "x\n",
	    "invalid filter name \"../site\"");

	S_write("filters/deep.lua",
	    "return { Document = function(d)\n"
	    "  local n = fazhi.Paragraph(\"x\")\n"
	    "  for i = 1, 1200 do n = fazhi.BlockQuote({ n }) end\n"
	    "  d.content = { n } end }\n");
	S_fails("a result nested too deeply", "deep", "x\n",
	    "is nested more than 1000 levels deep");

	S_write("filters/ro.lua",
	    "return { Document = function(d)\n"
	    "  site.title = \"changed\" end }\n");
	S_fails("site is read-only", "ro", "x\n",
	    "filters/ro.lua:2: site, report and site.config are read-only");
	S_write("filters/ro2.lua",
	    "return { Document = function(d)\n"
	    "  rawset(site.config, \"title\", \"x\") end }\n");
	S_fails("site.config cannot be written with rawset", "ro2", "x\n",
	    "filters/ro2.lua:2: bad argument #1 to 'rawset' (table expected, "
	    "got read-only view)");
}

/* Nodes of types the bridge does not know are kept as they were. */
static void
test_unknown(void)
{
	struct report r;
	struct cmark_node *doc, *fn, *p;
	struct buf html = { 0 };
	char	*rv[2], *d;
	int	 rc;

	S_write("filters/reverse.lua",
	    "return { Document = function(d)\n"
	    "  local c, out = d.content, {}\n"
	    "  for i = #c, 1, -1 do out[#out + 1] = c[i] end\n"
	    "  assert(c[1].t == \"Unknown\" and c[1].kind == \"block\" and "
	    "type(c[1].type) == \"string\")\n"
	    "  d.content = out end }\n");
	S_write("filters/twice.lua",
	    "return { Document = function(d)\n"
	    "  d.content[#d.content + 1] = d.content[#d.content] end }\n");
	memset(&r, 0, sizeof(r));
	r.path = "content/u.md";
	r.body_line = 1;
	r.filters = rv;
	r.nfilters = 1;
	rv[0] = "reverse";
	doc = md_parse("para\n", 5, 0);
	/* Nodes added to a document share its allocator (markdown.h). */
	fn = cmark_node_new_with_mem(CMARK_NODE_FOOTNOTE_DEFINITION,
	    md_mem(doc));
	p = cmark_node_new_with_mem(CMARK_NODE_PARAGRAPH, md_mem(doc));
	cmark_node_append_child(fn, p);
	cmark_node_prepend_child(doc, fn);
	diag_reset();
	rc = filter_run(S_env, &r, NULL, doc);
	CHECK("unknown node types are kept and can be moved", rc == 0 &&
	    cmark_node_get_type(cmark_node_first_child(doc)) ==
	    CMARK_NODE_PARAGRAPH &&
	    cmark_node_last_child(doc) == fn &&
	    cmark_node_first_child(fn) == p);
	rv[0] = "twice";
	rc = filter_run(S_env, &r, NULL, doc);
	d = diag_collected_text();
	CHECK("an unknown node cannot be used twice", rc == -1 &&
	    strstr(d, "filters/twice.lua: invalid result: Document.content[3] "
	    "is an Unknown node that appears twice") != NULL);
	free(d);
	md_render(doc, &html, NULL, 0);
	CHECK("after a failed run the tree is still whole",
	    strstr(buf_cstr(&html), "<p>para</p>") != NULL);
	buf_free(&html);
	md_free(doc);
}

/* Every way out of the sandbox ends in a diagnosed error. */
static void
test_sandbox(void)
{
	static const struct {
		const char *name;
		const char *lua;	/* the body of a Document hook */
		const char *want;
	} t[] = {
		{ "sb-io", "io.open('/etc/passwd')",
		  "filters/sb-io.lua:2: attempt to index a nil value (global 'io')" },
		{ "sb-os", "os.execute('true')",
		  "filters/sb-os.lua:2: attempt to index a nil value (global 'os')" },
		{ "sb-debug", "debug.sethook()",
		  "filters/sb-debug.lua:2: attempt to index a nil value (global "
		  "'debug')" },
		{ "sb-package", "package.loadlib('x', 'y')",
		  "filters/sb-package.lua:2: attempt to index a nil value (global "
		  "'package')" },
		{ "sb-dofile", "dofile('/etc/passwd')",
		  "filters/sb-dofile.lua:2: attempt to call a nil value (global "
		  "'dofile')" },
		{ "sb-loadfile", "loadfile('/etc/passwd')",
		  "filters/sb-loadfile.lua:2: attempt to call a nil value (global "
		  "'loadfile')" },
		{ "require-path", "require('../site')",
		  "filters/require-path.lua:2: require: \"../site\" is not a "
		  "module in filters/" },
		{ "require-lib", "require('io')",
		  "filters/require-lib.lua:2: require: no filter \"io\": "
		  "filters/io.lua does not exist" },
		{ "dump", "local f = string.dump(function() end)",
		  "filters/dump.lua:2: attempt to call a nil value (field 'dump')" },
		{ "binary", "local f, e = load('\\27Lua\\84\\0'); error(e)",
		  "filters/binary.lua:2: attempt to load a binary chunk (mode is "
		  "'t')" },
		{ "binary-mode", "local f, e = load('\\27Lua', 'x', 'b'); error(e)",
		  "attempt to load a binary chunk (mode is 't')" },
		{ "strmeta", "getmetatable('').__index.upper = nil",
		  "filters/strmeta.lua:2: attempt to index a boolean value" },
		{ "strmeta2", "setmetatable(getmetatable(''), {})",
		  "filters/strmeta2.lua:2: bad argument #1 to 'setmetatable' "
		  "(table expected, got boolean)" },
		{ "gc", "setmetatable({}, { __gc = function() while true do end "
		  "end })",
		  "filters/gc.lua:2: __gc metamethods are not allowed in filters" },
		{ "collectgarbage", "collectgarbage('stop')",
		  "attempt to call a nil value (global 'collectgarbage')" },
		{ "print", "print('x')",
		  "attempt to call a nil value (global 'print')" },
		{ "loop", "local n = 0 while true do n = n + 1 end",
		  "filters/loop.lua:2: stopped: out of instructions (2000000 per "
		  "report" },
		{ "pcall-loop",
		  "while true do pcall(function() while true do end end) end",
		  "filters/pcall-loop.lua:2: stopped: out of instructions" },
		{ "xpcall-loop", "while true do xpcall(function() while true do "
		  "end end, function() while true do end end) end",
		  "filters/xpcall-loop.lua:2: stopped: out of instructions" },
		{ "sort-loop", "while true do pcall(table.sort, {3, 2, 1}, "
		  "function() while true do end end) end",
		  "filters/sort-loop.lua:2: stopped: out of instructions" },
		{ "gsub-loop", "string.gsub(('x'):rep(10), '.', function() "
		  "while true do pcall(function() while true do end end) end "
		  "end)",
		  "filters/gsub-loop.lua:2: stopped: out of instructions" },
		{ "close-loop", "local x <close> = setmetatable({}, { __close = "
		  "function() while true do end end }) while true do end",
		  "filters/close-loop.lua:2: stopped: out of instructions" },
		{ "rep-bomb", "local s = string.rep('', math.maxinteger)",
		  "filters/rep-bomb.lua:2: stopped: out of instructions" },
		{ "move-bomb", "table.move({}, 1, math.maxinteger, 2)",
		  "filters/move-bomb.lua:2: stopped: out of instructions" },
		{ "len-bomb", "local t = setmetatable({}, { __len = function() "
		  "return math.maxinteger - 1 end }) table.insert(t, 1, 0)",
		  "filters/len-bomb.lua:2: stopped: out of instructions" },
		{ "backtrack", "string.find(('a'):rep(3000), ('a*'):rep(12) .. "
		  "'b')",
		  "filters/backtrack.lua:2: stopped: out of instructions" },
		{ "memory-rep", "local s = string.rep('x', 4000000, 'yy')",
		  "filters/memory-rep.lua:2: out of memory (8388608 bytes per "
		  "filter" },
		{ "memory-rep-loop", "local t = {} for i = 1, 1e6 do t[i] = "
		  "('x'):rep(50000) .. i end",
		  "filters/memory-rep-loop.lua:2: out of memory" },
		{ "memory-table", "local t = {} while true do t[#t + 1] = {} end",
		  "filters/memory-table.lua:2: out of memory" },
		{ "memory-concat", "local s = 'x' while true do s = s .. s end",
		  "filters/memory-concat.lua:2: out of memory" },
		{ "memory-pcall", "while true do pcall(function() local t = {} "
		  "while true do t[#t + 1] = {} end end) end",
		  "filters/memory-pcall.lua:2: out of memory" },
		{ "recursion", "local function f(n) return f(n + 1) + 1 end f(1)",
		  "filters/recursion.lua:2: " },
		{ "c-recursion", "local t = setmetatable({}, {}) "
		  "getmetatable(t).__index = function(s, k) return s[k] end "
		  "local x = t.x",
		  "filters/c-recursion.lua:2: " },
	};
	struct res r;
	size_t	 i;
	char	*path, label[128];
	struct buf lua = { 0 };

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		buf_reset(&lua);
		buf_printf(&lua, "return { Document = function(d)\n  %s\n"
		    "end }\n", t[i].lua);
		path = xasprintf("filters/%s.lua", t[i].name);
		S_write(path, buf_cstr(&lua));
		free(path);
		snprintf(label, sizeof(label), "sandbox: %s", t[i].name);
		S_fails(label, t[i].name, "x\n", t[i].want);
	}
	buf_free(&lua);

	/* a slow step per instruction: only the clock stops it */
	S_write("filters/slow.lua",
	    "return { Document = function(d)\n"
	    "  local a, b = ('x'):rep(1000000), ('x'):rep(999999) .. 'x'\n"
	    "  local n = 0 while true do if a == b then n = n + 1 end end\n"
	    "end }\n");
	filter_env_time_limit(S_env, 0.5);
	S_run(&r, "", "slow", "x\n");
	CHECK("sandbox: the clock stops slow steps",
	    r.rc == -1 && strstr(r.diag, "filters/slow.lua:3: stopped after "
	    "0.5 seconds") != NULL);
	S_free_res(&r);
	filter_env_time_limit(S_env, 20);
}

/* The sandbox's pattern functions give what stock Lua gives. */
static void
test_patterns(void)
{
	lua_State *L;
	char	*src, *path, *want = NULL;
	size_t	 len;
	struct res r;

	path = path_join(S_repo, "tests/filter/patterns.lua");
	if (file_read(path, &src, &len) == -1) {
		CHECK("patterns: tests/filter/patterns.lua", 0);
		free(path);
		return;
	}
	S_write("filters/patcases.lua", src);
	free(src);
	L = luaL_newstate();
	luaL_openlibs(L);
	if (luaL_dofile(L, path) == LUA_OK && lua_pcall(L, 0, 1, 0) == LUA_OK)
		want = xstrdup(lua_tostring(L, -1));
	else
		printf("  stock Lua: %s\n", lua_tostring(L, -1));
	lua_close(L);
	free(path);
	S_write("filters/pattest.lua",
	    "local run = require(\"patcases\")\n"
	    "return { Document = function(d)\n"
	    "  return { t = \"Document\", content = "
	    "{ fazhi.RawBlock(run()) } } end }\n");
	S_run(&r, "", "pattest", "x\n");
	CHECK("patterns: the transcript is not empty",
	    want != NULL && strlen(want) > 2000);
	CHECK_STR("patterns: find, match, gmatch, gsub as in Lua 5.4",
	    r.html, want);
	S_free_res(&r);
	free(want);
}

/* ---- the bundled filters, against tests/filter/cases ---- */

/* Diagnostics name the filter's line; the fixtures do not pin it. */
static void
S_mask_lines(char *s)
{
	char	*p = s, *q;

	while ((p = strstr(p, ".lua:")) != NULL) {
		p += 5;
		for (q = p; *q >= '0' && *q <= '9'; q++)
			;
		if (q > p && *q == ':') {
			*p = 'N';
			memmove(p + 1, q, strlen(q) + 1);
		}
	}
}

static int
S_cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
S_read_or_empty(const char *path)
{
	char	*s;
	size_t	 len;

	if (file_read(path, &s, &len) == -1)
		return xstrdup("");
	return s;
}

static void
S_update(const char *path, const char *text)
{
	FILE	*f;

	if (*text == '\0') {
		unlink(path);
		return;
	}
	if ((f = fopen(path, "w")) != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

static void
test_bundled(void)
{
	struct config cfg;
	struct site site;
	struct filter_env *env;
	char	*froot = path_join(S_repo, "tests/filter");
	char	*cdir = path_join(froot, "cases"), **names = NULL;
	char	*p, *text, *exp_html, *exp_diag, *base, label[256];
	size_t	 n = 0, i, k, len;
	DIR	*d;
	struct dirent *de;
	int	 update = getenv("FILTER_UPDATE") != NULL;

	diag_reset();
	if (config_load(&cfg, froot) == -1) {
		CHECK("fixtures: tests/filter/site.yaml loads", 0);
		return;
	}
	memset(&site, 0, sizeof(site));
	CHECK("fixtures: tests/filter/content scans",
	    content_scan(&site, &cfg, froot, NULL, NULL) == 0);
	/* the bundled filters are the repository's own */
	env = filter_env_new(S_repo, &cfg, &site);
	if ((d = opendir(cdir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			len = strlen(de->d_name);
			if (len > 3 && strcmp(de->d_name + len - 3, ".md") == 0) {
				names = xrealloc(names, (n + 1) * sizeof(*names));
				names[n++] = xstrndup(de->d_name, len - 3);
			}
		}
		closedir(d);
	}
	qsort(names, n, sizeof(*names), S_cmp_name);
	CHECK("fixtures: cases found", n >= 10);
	for (i = 0; i < n; i++) {
		struct fm_split sp;
		struct yval *meta, *fl;
		struct report r;
		struct cmark_node *doc;
		struct buf html = { 0 };
		char	*diagtext, *rfilters[8];

		base = xasprintf("%s/%s", cdir, names[i]);
		p = xasprintf("%s.md", base);
		if (file_read(p, &text, &len) == -1) {
			free(p);
			free(base);
			continue;
		}
		free(p);
		memset(&r, 0, sizeof(r));
		r.path = p = xasprintf("cases/%s.md", names[i]);
		diag_reset();
		meta = fm_parse(r.path, text, len, &sp);
		r.body_line = sp.body_line;
		r.filters = rfilters;
		if ((fl = yval_get(meta, "filters")) != NULL)
			for (k = 0; k < fl->n && k < 8; k++)
				rfilters[r.nfilters++] = fl->items[k]->str;
		doc = md_parse(text + sp.body_off, len - sp.body_off, 0);
		filter_run(env, &r, meta, doc);
		md_render(doc, &html, NULL, 0);
		diagtext = diag_collected_text();
		S_mask_lines(diagtext);
		p = xasprintf("%s.html", base);
		if (update)
			S_update(p, buf_cstr(&html));
		exp_html = S_read_or_empty(p);
		free(p);
		p = xasprintf("%s.diag", base);
		if (update)
			S_update(p, diagtext);
		exp_diag = S_read_or_empty(p);
		free(p);
		snprintf(label, sizeof(label), "bundled %s: HTML", names[i]);
		CHECK_STR(label, buf_cstr(&html), exp_html);
		snprintf(label, sizeof(label), "bundled %s: diagnostics",
		    names[i]);
		CHECK_STR(label, diagtext, exp_diag);
		free(exp_html);
		free(exp_diag);
		free(diagtext);
		buf_free(&html);
		md_free(doc);
		yval_free(meta);
		free(text);
		free((char *)r.path);
		free(base);
		free(names[i]);
	}
	free(names);
	filter_env_free(env);
	site_free(&site);
	config_free(&cfg);
	free(cdir);
	free(froot);
}

static void
test_check_and_hash(void)
{
	uint8_t	 h1[32], h2[32], h3[32];
	char	*d;

	diag_reset();
	CHECK("filter_check: a good filter", filter_check(S_env, "good",
	    "site.yaml", 3, 10) == 0);
	CHECK("filter_check: a syntax error, at the referrer",
	    filter_check(S_env, "syntax", "site.yaml", 3, 10) == -1);
	CHECK("filter_check: a missing filter",
	    filter_check(S_env, "absent", "content/a.md", 5, 3) == -1);
	CHECK("filter_check: a bad name",
	    filter_check(S_env, "A/b", "content/a.md", 5, 3) == -1);
	d = diag_collected_text();
	CHECK_STR("filter_check: diagnostics", d,
	    "content/a.md:5:3: error: no filter \"absent\": "
	    "filters/absent.lua does not exist\n"
	    "content/a.md:5:3: error: invalid filter name \"A/b\": names are "
	    "[a-z0-9_-]+\n"
	    "site.yaml:3:10: error: filters/syntax.lua:3: unexpected symbol "
	    "near '='\n");
	free(d);

	CHECK("filter_hash", filter_hash(S_dir, h1) == 0 &&
	    filter_hash(S_dir, h2) == 0 && memcmp(h1, h2, 32) == 0);
	S_write("filters/good.lua", "return {}\n");
	filter_hash(S_dir, h3);
	CHECK("filter_hash changes with a filter", memcmp(h1, h3, 32) != 0);
	filter_hash("/nonexistent-fazhi", h3);
	CHECK("filter_hash without filters/", memcmp(h1, h3, 32) != 0);
}

int
main(void)
{
	char	*p;

	S_repo = getenv("ROOT") ? getenv("ROOT") : ".";
	if (mkdtemp(S_dir) == NULL)
		return 2;
	p = path_join(S_dir, "filters");
	mkdir(p, 0755);
	free(p);
	S_write("site.yaml", "title: 测试\ncategories: [市政府部门]\n"
	    "filter_limits:\n  instructions: 2000000\n  memory: 8388608\n");
	if (config_load(&S_cfg, S_dir) == -1) {
		diag_flush();
		return 2;
	}
	S_env = filter_env_new(S_dir, &S_cfg, NULL);

	test_api();
	test_errors();
	test_unknown();
	test_sandbox();
	test_patterns();
	test_check_and_hash();
	test_bundled();

	filter_env_free(S_env);
	config_free(&S_cfg);
	rm_rf(S_dir);
	return check_done();
}
