/*
 * template.h: theme templates, with Lua 5.4 as their expression and
 * control language.
 *
 * Contract: tmpl_compile() reads every themes/THEME/templates/NAME.html
 * once per build, translates each to Lua source and checks it; nothing
 * is recompiled per page.  The compiled set is read-only and may be
 * shared by threads.  Each worker thread makes its own tmpl_env (one
 * lua_State holding the loaded templates) and renders pages with it.
 * Problems are reported through diag as
 *   themes/THEME/templates/NAME.html:LINE[:COL]: error: message
 * with the path relative to ROOT: COL only for errors found by the
 * translator (unclosed tags, bad includes), never for Lua's own.
 *
 * Syntax (everything outside tags is copied as is):
 *   {{ expr }}     A Lua expression.  nil and false print nothing,
 *                  integral numbers print as integers (3.0 as "3"),
 *                  other numbers with %.14g, true as "true", anything
 *                  else through tostring().  The text is HTML-escaped
 *                  (& < > " ' become entities), so it is safe both in
 *                  element text and in quoted attribute values.
 *   {{{ expr }}}   The same without escaping, for trusted HTML such as
 *                  a rendered report body.
 *   {% stmt %}     Lua statements: blocks may open in one tag and close
 *                  in another, e.g.
 *                    {% for _, r in ipairs(reports) do %}…{% end %}
 *                    {% if a then %}…{% elseif b then %}…{% else %}…{% end %}
 *                    {% local n = #reports %}
 *   {% include "NAME.html" %}
 *                  Renders another template of the same theme in place,
 *                  with the same global environment (variables and
 *                  globals the includer assigned; not its locals, so
 *                  not a for loop's variables).  To pass those:
 *   {% include "NAME.html" with { r = r } %}
 *                  The partial then sees a fresh environment made of
 *                  the table's fields on top of the includer's: its
 *                  assignments stay in it.  The name is a literal in
 *                  quotes; includes are resolved, and include cycles
 *                  refused, at compile time.  Partials are ordinary
 *                  templates, by convention named _header.html etc.
 *   {% include "NAME.html" cached k1, k2 %}
 *                  As the first form, but each env renders it once per
 *                  distinct list of keys (strings, numbers, booleans,
 *                  nil; each kept with its type) and appends the kept
 *                  output after that (Hugo's partialCached).  The keys
 *                  must decide everything the partial writes.  At most
 *                  256 outputs and 4 MB per env; then it starts over.
 *   {% extends "NAME.html" %}
 *                  Must be the first tag (comments and white space
 *                  aside).  The template is then NAME.html with the
 *                  blocks it defines replacing NAME.html's blocks of the
 *                  same names; the most derived template's wins along a
 *                  chain.  Only its blocks show: other text, {{ }} and
 *                  includes outside them are compile errors, and Lua
 *                  statements outside them run before the parent.
 *   {% block NAME %} … {% endblock [NAME] %}
 *                  A replaceable part (NAME: letters, digits, '_').  A
 *                  replacement sees the render's environment and its
 *                  own template's locals, not the parent's.  Compile
 *                  errors: a repeated name, an unclosed block, and a
 *                  replacement whose name no parent has.  An include
 *                  starts afresh: its blocks are not the includer's.
 *   {# comment #}  Ignored; not nested.
 *   Whitespace control: a '-' just inside a tag's opening ({{-, {{{-,
 *   {%-, {#-) removes the spaces and tabs right before the tag and
 *   then one line break (\n or \r\n) before them, if any; a '-' just
 *   inside its closing (-}}, -}}}, -%}, -#}) removes the spaces and
 *   tabs right after the tag and then one line break after them.
 *   So "{{-1}}" is a trim and a 1: write "{{ -1 }}" for minus one.
 *   A literal "{{", "{%" or "{#" is written {{ "{{" }} and so on.
 *   Inside tags, Lua strings and long brackets may hold any of the
 *   closing delimiters, and braces are counted, so {{ {a = {}} }} works.
 *   A short Lua comment (-- …) ends at the end of its line or at the
 *   tag's closing delimiter, whichever comes first.
 *   Names beginning with two underscores are reserved, and so are
 *   extends, block and endblock as the first word of a {% %}.
 *
 * Lines: the Lua code generated for line N of a template is on line N
 * of its chunk, loaded as "@themes/THEME/templates/NAME.html", so Lua's
 * own messages (syntax and run time) name the template line.
 *
 * Environment of a render: a fresh table holding a copy of the caller's
 * variables (a shallow copy: nested tables are shared with the caller,
 * see tmpl_render), whose missing names fall back to the helpers below.
 * Assigning a global inside a template writes only to that fresh table,
 * so nothing leaks into the next render.  Available to every template:
 *   base: assert error getmetatable ipairs next pairs rawequal rawget
 *         rawlen select setmetatable tonumber tostring type _VERSION
 *   string, table, math, utf8 (read-only; without string.dump,
 *         math.random, math.randomseed, which would break the rule
 *         that identical inputs give identical pages)
 *   esc(v)         the {{ }} conversion and HTML escaping, as a string
 *   urlencode(v)   percent-encoding, everything outside RFC 3986
 *                  unreserved characters and '/'
 *   json(v)        JSON text: a table with a non-empty array part is an
 *                  array (it may not also have other keys); any other
 *                  table is an object with string keys in byte order
 *                  (an empty table is []); '<' '>' '&' are escaped so the
 *                  result is safe inside <script type="application/ld+json">
 *                  when printed with {{{ }}}.  Non-finite numbers are null.
 *                  Tables are read raw (metamethods are not called).
 *   date_zh(s)     "2019-01-04" → "2019年1月4日", "2019-01" → "2019年1月",
 *                  "2019" or 2019 → "2019年"; nil → ""; other text is an error
 *   filesize(n)    bytes as "512 B", "12.3 KB", "1.2 MB", "3.0 GB"
 *                  (1024-based, one decimal)
 *   join(list, sep) the items 1..#list converted as {{ }} does, joined
 *                  by sep (default ""); the result is not escaped
 *   len(v)         #v for a table (honours __len), the number of UTF-8
 *                  characters of a string, 0 for nil
 * Not available: pcall and xpcall (a template could otherwise swallow
 * the instruction-budget error), load, loadfile, dofile, require,
 * collectgarbage, print, rawset, io, os, debug, coroutine, package.
 * pairs() order is unspecified (iterate arrays with ipairs, or sort),
 * and tostring() of a table or function shows an address: neither
 * belongs in a page, whose bytes must not change from build to build.
 * A byte order mark at the start of a template is dropped.
 *
 * Limits: a render may run TMPL_BUDGET Lua instructions, and a worker's
 * Lua state may hold TMPL_MEMCAP bytes; beyond, the render fails with a
 * diagnostic at the template line that was running.  Time spent inside
 * one C library call (string.rep, a pattern match) is not counted.
 */
#ifndef FAZHI_TEMPLATE_H
#define FAZHI_TEMPLATE_H

#include <stddef.h>

#include <lua.h>

struct buf;

#define TMPL_BUDGET	100000000L		/* Lua instructions per render */
#define TMPL_MEMCAP	((size_t)512 << 20)	/* bytes per tmpl_env */

/* The compiled templates of one theme: Lua source, and their hash. */
struct tmpl_set;

/*
 * Read and compile every themes/THEME/templates/NAME.html under root
 * (names starting with '.' are skipped).  Return NULL if the theme has
 * no templates or any template has an error: all problems are
 * diagnosed, not just the first.
 */
struct tmpl_set	*tmpl_compile(const char *root, const char *theme);
/*
 * SHA-256 over every template's name and bytes and the translator's
 * version, for the build cache: equal hashes, equal pages.
 */
void		 tmpl_hash(const struct tmpl_set *, unsigned char out[32]);
/* Return 1 if NAME.html (given with its .html) is in the set, else 0. */
int		 tmpl_exists(const struct tmpl_set *, const char *name);
/* The generated Lua chunk of a template, or NULL; for tests and debugging. */
const char	*tmpl_lua_source(const struct tmpl_set *, const char *name,
		    size_t *len);
void		 tmpl_set_free(struct tmpl_set *);

/*
 * One per worker thread: a sandboxed lua_State with every template of
 * the set loaded.  The set must outlive the env.  Return NULL (with a
 * diagnostic) only if the Lua state cannot be made.
 */
struct tmpl_env	*tmpl_env_new(const struct tmpl_set *);
/*
 * The env's Lua state, for the caller to push the variables table.
 * Values the caller keeps across renders (e.g. the site index as Lua
 * tables, built once per env and referenced from each variables
 * table) are shared between renders: make them read-only with
 * tmpl_readonly(), or a template could change what later pages see.
 * Errors in the caller's own pushes are not caught here: the state's
 * panic handler prints the message and aborts.
 */
lua_State	*tmpl_lua(struct tmpl_env *);
/*
 * Replace the table at the top of L's stack with a read-only view of
 * it: reads, pairs(), ipairs() and json() see the table; assignments
 * are errors; getmetatable() and setmetatable() cannot reach it.
 */
void		 tmpl_readonly(lua_State *);
/*
 * Make a C function available to every template under name, like the
 * built-in helpers (which it may replace).  Call between renders.
 */
void		 tmpl_env_add_helper(struct tmpl_env *, const char *name,
		    lua_CFunction);
/*
 * Render template name ("report.html") with the table at the top of
 * the env's Lua stack as its variables; the table is popped, and is
 * not modified.  Append the output to out.  Return 0 on success, -1
 * on error: then the error is diagnosed with the template path and
 * line (and "included from" positions), out is left as it was, and
 * the env can render again.
 */
int		 tmpl_render(struct tmpl_env *, const char *name,
		    struct buf *out);
void		 tmpl_env_free(struct tmpl_env *);

#endif
