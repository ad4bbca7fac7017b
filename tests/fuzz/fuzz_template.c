/*
 * fuzz_template.c: theme templates (tmpl_compile, tmpl_render).
 *
 * tmpl_compile() reads ROOT/themes/THEME/templates/, so the input is
 * written there first (see fuzz_util.h): up to the first NUL byte it is
 * page.html, and what follows is _part.html, which page.html may
 * include.  A template that compiles is rendered twice in one env with
 * a small variables table like the one page.c passes, holding text
 * that must be escaped.  Checks beyond crashes and leaks: a failed
 * render leaves the output buffer as it was (template.h), and the env
 * can render again after a failure.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lua.h>

#include "buf.h"
#include "template.h"

#include "fuzz_util.h"

#define PREFIX	"<!-- kept -->"

static void
S_sets(lua_State *L, const char *k, const char *v)
{
	lua_pushstring(L, v);
	lua_setfield(L, -2, k);
}

/* The variables of one render: text, numbers, a list of reports. */
static void
S_push_vars(lua_State *L)
{
	int	 i;

	lua_createtable(L, 0, 8);
	S_sets(L, "title", "<script>alert(1)</script> \"法治\" & 'x'");
	S_sets(L, "url", "report/%E5%B8%82-2023.html");
	S_sets(L, "date", "2023-03-31");
	lua_pushinteger(L, 2023);
	lua_setfield(L, -2, "year");
	lua_pushnumber(L, 3.5);
	lua_setfield(L, -2, "ratio");
	lua_pushboolean(L, 1);
	lua_setfield(L, -2, "flag");
	lua_createtable(L, 3, 0);
	for (i = 1; i <= 3; i++) {
		lua_createtable(L, 0, 3);
		S_sets(L, "title", i == 2 ? "<img src=x onerror=alert(1)>" :
		    "市司法局2023年法治政府建设年度报告");
		S_sets(L, "department", "市司法局");
		lua_pushinteger(L, 2020 + i);
		lua_setfield(L, -2, "year");
		lua_rawseti(L, -2, i);
	}
	lua_setfield(L, -2, "reports");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tmpl_set *set;
	struct tmpl_env *env;
	struct buf out = { 0 };
	const uint8_t *nul;
	size_t	 n1;
	int	 i, rc;

	/* Huge templates only slow the search down; the parser is linear. */
	if (size > 64 * 1024)
		return 0;
	nul = memchr(data, 0, size);
	n1 = nul ? (size_t)(nul - data) : size;
	fz_write("themes/f/templates/page.html", data, n1);
	if (nul)
		fz_write("themes/f/templates/_part.html", nul + 1,
		    size - n1 - 1);
	else
		fz_write("themes/f/templates/_part.html", "<p>{{ title }}</p>",
		    18);
	if ((set = tmpl_compile(fz_dir(), "f")) != NULL) {
		FZ_ASSERT(tmpl_exists(set, "page.html"), "page.html missing");
		FZ_ASSERT(tmpl_lua_source(set, "page.html", &n1) != NULL,
		    "no Lua source");
		if ((env = tmpl_env_new(set)) != NULL) {
			for (i = 0; i < 2; i++) {
				buf_reset(&out);
				buf_puts(&out, PREFIX);
				S_push_vars(tmpl_lua(env));
				rc = tmpl_render(env, "page.html", &out);
				FZ_ASSERT(rc == 0 || (out.len == strlen(PREFIX) &&
				    memcmp(out.data, PREFIX, out.len) == 0),
				    "a failed render changed the output");
				FZ_ASSERT(out.len >= strlen(PREFIX) &&
				    memcmp(out.data, PREFIX, strlen(PREFIX)) == 0,
				    "the render overwrote what was in the buffer");
				FZ_ASSERT(lua_gettop(tmpl_lua(env)) == 0,
				    "render left %d values on the stack",
				    lua_gettop(tmpl_lua(env)));
			}
			tmpl_env_free(env);
		}
		tmpl_set_free(set);
	}
	buf_free(&out);
	fz_diag_drain();
	return 0;
}
