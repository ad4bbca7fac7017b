/*
 * filter.c: the Lua 5.4 sandbox and the bridge between cmark trees
 * and the Lua tables filters see.
 *
 * Shape of a run (filter_run): the report's cmark tree becomes Lua
 * tables; each filter, site's first, runs as one coroutine over them
 * (prelude `apply`: Meta hook, bottom-up walk, Document hook); the
 * result of each is checked in C before the next runs, so a bad node
 * is blamed on the filter that made it; the last one's is checked as
 * the tables become a new cmark tree.
 *
 * Limits.  The count hook spends the report's instruction budget and
 * yields the coroutine when it is gone; the coroutine is never resumed
 * but reset, so pcall cannot catch the stop.  Where Lua cannot yield
 * (inside a metamethod or a sort comparator) the hook raises an error
 * instead, and the sandbox's pcall and xpcall pass errors on once the
 * run is stopped or out of memory.  The allocator refuses growth past
 * the cap, which is set for each filter's run and lifted for the C
 * side's own work.  C library functions whose cost does not follow from memory
 * (string.rep of an empty string, table.move over a huge range, pattern
 * backtracking) charge the budget themselves; the pattern functions
 * are this file's own matcher, with Lua's syntax and results, that
 * counts its steps.  A wall clock catches what is left: single VM steps
 * that are slow because strings are long.
 */
#define _GNU_SOURCE
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmark-gfm.h>
#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm-extension_api.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <yaml.h>

#include "buf.h"
#include "config.h"
#include "content.h"
#include "diag.h"
#include "filter.h"
#include "markdown.h"
#include "util.h"
#include "yval.h"

/* Exported by the extensions library but not declared in its headers. */
extern cmark_node_type CMARK_NODE_TABLE, CMARK_NODE_TABLE_ROW,
    CMARK_NODE_TABLE_CELL, CMARK_NODE_STRIKETHROUGH;

#define HOOK_EVERY	1000	/* instructions between budget checks */
#define MAX_DEPTH	1000	/* tree nesting, both ways */
#define MAX_WARNINGS	100	/* diagnosed per report */
#define MSG_MAX		1500	/* bytes of a filter message in a diagnostic */
#define NAME_MAX_LEN	64
#define DEFAULT_SECONDS	20.0

/* A compiled filter or module, kept as bytecode of our own making. */
struct S_chunk {
	char	*name;		/* NAME of filters/NAME.lua */
	char	*code;		/* lua_dump() output, or NULL if it failed */
	size_t	 len;
	char	*err;		/* why it failed: "filters/x.lua:3: ..." */
	int	 ref;		/* registry: the loaded main function, or 0 */
};

struct filter_env {
	lua_State	*L;
	char		*root;
	const struct config *cfg;
	const struct site *site;
	struct S_chunk	*chunks;
	size_t		 nchunks;
	size_t		 used;		/* bytes held by L */
	struct lpool	 pool;		/* L's blocks */
	cmark_mem	*mem;		/* the running document's allocator */
	size_t		 cap;		/* growth past this is refused */
	double		 seconds;	/* wall-clock limit per report */
	cmark_syntax_extension *table_ext;
	cmark_syntax_extension *strike_ext;
	struct buf	 scratch;	/* for C functions that build a string */
	jmp_buf		*panic;		/* where a Lua panic lands */
	/* registry references */
	int		 r_prelude;	/* {apply, F, stringify} */
	int		 r_state;	/* {node, errmsg, errnode, meta, report, site} */
	int		 r_base, r_string, r_table, r_math, r_utf8, r_fazhi;
	int		 r_order;	/* weak map: YAML map -> its keys in order */
	int		 r_romt;	/* metatable of read-only views */
	int		 r_site;	/* the site view */
	int		 r_reports;	/* plain array of the report views */
	int		 r_seed;	/* the real math.randomseed */
	int		 n_base, n_string, n_table, n_math, n_utf8, n_fazhi;
	/* the current run */
	int		 running;	/* limits apply */
	const char	*path;		/* the report's path, for diagnostics */
	const char	*fname;		/* the running filter */
	long long	 budget;	/* instructions left */
	double		 deadline;
	int		 exhausted;	/* budget or time spent: stop everything */
	int		 timeout;	/* it was the clock */
	int		 memout;	/* the memory cap was hit */
	int		 failed;	/* an error was diagnosed */
	int		 warnings;
	cmark_node	**orig;		/* nodes of unknown types, by handle */
	size_t		 norig;
	unsigned char	*taken;		/* handle used in the current pass */
	struct yval	*tmp_yval;	/* freed after yaml(), even if Lua errs */
};

static struct filter_env *
S_env(lua_State *L)
{
	void	*ud;

	lua_getallocf(L, &ud);
	return ud;
}

/* ---- memory, panics, budget ---- */

/*
 * Lua's allocator: when ptr is NULL, osize is a type tag, not a size.
 * Only growth past the cap is refused; a shrink never fails (if realloc
 * does, the old block is kept).
 */
static void *
S_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct filter_env *e = ud;
	size_t	 old = ptr != NULL ? osize : 0;
	void	*p;

	if (nsize == 0) {
		lpool_realloc(&e->pool, ptr, old, 0);
		e->used -= old;
		return NULL;
	}
	if (nsize > old &&
	    (e->used > e->cap || nsize - old > e->cap - e->used))
		return NULL;
	/* A failed shrink gives the old block back (lpool_realloc). */
	if ((p = lpool_realloc(&e->pool, ptr, old, nsize)) == NULL)
		return NULL;
	e->used = e->used - old + nsize;
	return p;
}

/* An error outside any protected call: never expected; recover. */
static int
S_panic(lua_State *L)
{
	struct filter_env *e = S_env(L);
	const char *msg = lua_tostring(L, -1);

	fprintf(stderr, "fazhi: Lua panic in the filter sandbox: %s\n",
	    msg ? msg : "(no message)");
	if (e->panic != NULL)
		longjmp(*e->panic, 1);
	abort();
}

static void S_hook(lua_State *, lua_Debug *);

/*
 * Mark the run stopped (by the clock when timeout) and make the hook
 * fire at every instruction.
 */
static void
S_exhaust(struct filter_env *e, lua_State *L, int timeout)
{
	if (!e->exhausted) {
		e->exhausted = 1;
		e->timeout = timeout;
		e->budget = 0;
	}
	lua_sethook(L, S_hook, LUA_MASKCOUNT, 1);
}

/*
 * The count hook.  Once the budget or the time is spent it yields the
 * coroutine for good; where Lua cannot yield it raises an error, which
 * the sandbox's pcall passes on, and fires again at the next
 * instruction until it reaches a point where it can yield.
 */
static void
S_hook(lua_State *L, lua_Debug *ar)
{
	struct filter_env *e = S_env(L);

	(void)ar;
	if (!e->exhausted) {
		e->budget -= HOOK_EVERY;
		if (e->budget > 0 && now_seconds() < e->deadline)
			return;
		S_exhaust(e, L, e->budget > 0);
	}
	if (lua_isyieldable(L))
		lua_yield(L, 0);
	else
		luaL_error(L, "filter stopped: out of instructions");
}

/*
 * C functions whose cost is not bounded by memory spend budget up
 * front.  Return 1 when the run must stop: the caller then does
 * `return S_stop(L)`.
 */
static int
S_charge(lua_State *L, double cost)
{
	struct filter_env *e = S_env(L);

	if (!e->running)
		return 0;
	if (!e->exhausted) {
		if (cost >= (double)e->budget)
			S_exhaust(e, L, 0);
		else if (now_seconds() >= e->deadline)
			S_exhaust(e, L, 1);
		else {
			e->budget -= (long long)cost;
			return 0;
		}
	}
	return 1;
}

static int
S_stop(lua_State *L)
{
	if (lua_isyieldable(L))
		return lua_yield(L, 0);
	return luaL_error(L, "filter stopped: out of instructions");
}

/* ---- names, messages, positions ---- */

/* Filter and module names: [a-z0-9_-]+, so never a path. */
static int
S_name_ok(const char *s)
{
	size_t	 i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return 0;
	return i > 0 && i <= NAME_MAX_LEN;
}

/*
 * A message from a filter, made safe to print on one line: control
 * bytes become spaces, invalid UTF-8 becomes U+FFFD, and it is cut at
 * MSG_MAX bytes.
 */
static void
S_clean(struct buf *out, const char *s, size_t len)
{
	size_t	 i = 0, k, start = out->len;
	uint32_t cp;

	while (i < len) {
		if (out->len - start > MSG_MAX) {
			buf_puts(out, "…");
			return;
		}
		k = utf8_decode(s + i, len - i, &cp);
		if (k == 0) {
			buf_puts(out, "\xef\xbf\xbd");
			i++;
		} else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) ||
		    cp == 0x2028 || cp == 0x2029) {
			buf_putc(out, ' ');
			i += k;
		} else {
			buf_put(out, s + i, k);
			i += k;
		}
	}
}

/* "filters/x.lua:LINE" of the innermost filter frame of L, if any. */
static int
S_location(lua_State *L, int level, struct buf *out)
{
	lua_Debug ar;

	for (; lua_getstack(L, level, &ar); level++) {
		if (!lua_getinfo(L, "Sl", &ar))
			continue;
		if (ar.source[0] == '@' && ar.currentline > 0 &&
		    strncmp(ar.source + 1, "filters/", 8) == 0) {
			buf_printf(out, "%s:%d", ar.source + 1, ar.currentline);
			return 1;
		}
	}
	return 0;
}

/* Read an integer field of the table at idx without metamethods. */
static int
S_rawint(lua_State *L, int idx, const char *k, lua_Integer *out)
{
	int	 ok;

	idx = lua_absindex(L, idx);
	lua_pushstring(L, k);
	lua_rawget(L, idx);
	ok = lua_isinteger(L, -1);
	if (ok)
		*out = lua_tointeger(L, -1);
	lua_pop(L, 1);
	return ok;
}

/* The Markdown position a node carries in its pos field, if any. */
static void
S_node_pos(lua_State *L, int idx, int *line, int *col)
{
	lua_Integer l, c;

	*line = *col = 0;
	if (lua_type(L, idx) != LUA_TTABLE)
		return;
	idx = lua_absindex(L, idx);
	lua_pushliteral(L, "pos");
	lua_rawget(L, idx);
	if (lua_type(L, -1) == LUA_TTABLE && S_rawint(L, -1, "line", &l) &&
	    l > 0 && l < INT_MAX) {
		*line = (int)l;
		if (S_rawint(L, -1, "col", &c) && c > 0 && c < INT_MAX)
			*col = (int)c;
	}
	lua_pop(L, 1);
}

/* Push state[k] (raw). */
static int
S_state_get(lua_State *L, const char *k)
{
	struct filter_env *e = S_env(L);

	lua_rawgeti(L, LUA_REGISTRYINDEX, e->r_state);
	lua_pushstring(L, k);
	lua_rawget(L, -2);
	lua_remove(L, -2);
	return lua_type(L, -1);
}

/* state[k] = value on top (popped). */
static void
S_state_set(lua_State *L, const char *k)
{
	struct filter_env *e = S_env(L);

	lua_rawgeti(L, LUA_REGISTRYINDEX, e->r_state);
	lua_pushstring(L, k);
	lua_pushvalue(L, -3);
	lua_rawset(L, -3);
	lua_pop(L, 2);
}

/* Position of the node a filter is working on (state.node). */
static void
S_current_pos(lua_State *L, int *line, int *col)
{
	S_state_get(L, "node");
	S_node_pos(L, -1, line, col);
	lua_pop(L, 1);
}

/* ---- the sandbox's base functions ---- */

/* pcall/xpcall continuation: a stopped run's error is passed on. */
static int
S_pcall_k(lua_State *L, int status, lua_KContext extra)
{
	struct filter_env *e = S_env(L);

	if (status != LUA_OK && status != LUA_YIELD) {
		if (status == LUA_ERRMEM && e->running)
			e->memout = 1;
		if (e->exhausted || e->memout)
			return lua_error(L);
		lua_pushboolean(L, 0);
		lua_pushvalue(L, -2);
		return 2;
	}
	return lua_gettop(L) - (int)extra;
}

static int
S_pcall(lua_State *L)
{
	int	 status;

	luaL_checkany(L, 1);
	lua_pushboolean(L, 1);
	lua_insert(L, 1);
	status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, S_pcall_k);
	return S_pcall_k(L, status, 0);
}

static int
S_xpcall(lua_State *L)
{
	int	 n = lua_gettop(L), status;

	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_pushboolean(L, 1);
	lua_pushvalue(L, 1);
	lua_rotate(L, 3, 2);
	status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, S_pcall_k);
	return S_pcall_k(L, status, 2);
}

/* setmetatable without __gc: finalizers would run outside any budget. */
static int
S_setmetatable(lua_State *L)
{
	int	 t = lua_type(L, 2);

	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
	if (t == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L, "__gc metamethods are not "
			    "allowed in filters");
		lua_pop(L, 1);
	}
	if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
		return luaL_error(L, "cannot change a protected metatable");
	lua_settop(L, 2);
	lua_setmetatable(L, 1);
	return 1;
}

/*
 * error(msg [, level | node]): as Lua's, and a node as second argument
 * says which Markdown position the diagnostic should name.
 */
static int
S_error(lua_State *L)
{
	int	 level = 1, node = lua_type(L, 2) == LUA_TTABLE;

	lua_settop(L, 2);
	if (!node)
		level = (int)luaL_optinteger(L, 2, 1);
	if (lua_type(L, 1) == LUA_TSTRING && level > 0) {
		luaL_where(L, level);
		lua_pushvalue(L, 1);
		lua_concat(L, 2);
	} else
		lua_pushvalue(L, 1);
	if (node) {
		lua_pushvalue(L, 2);
		S_state_set(L, "errnode");
		lua_pushvalue(L, -1);
		S_state_set(L, "errmsg");
	}
	return lua_error(L);
}

/* warn(msg [, node]): a warning at the node's (or the current) position. */
static int
S_warn(lua_State *L)
{
	struct filter_env *e = S_env(L);
	struct buf *b = &e->scratch;
	const char *msg;
	size_t	 len;
	int	 line, col;

	msg = luaL_tolstring(L, 1, &len);
	if (e->path == NULL)
		return 0;
	if (lua_type(L, 2) == LUA_TTABLE)
		S_node_pos(L, 2, &line, &col);
	else
		S_current_pos(L, &line, &col);
	if (++e->warnings > MAX_WARNINGS) {
		if (e->warnings == MAX_WARNINGS + 1)
			diag_warn(e->path, line, col, "filters: more than %d "
			    "warnings; the rest are not shown", MAX_WARNINGS);
		return 0;
	}
	buf_reset(b);
	if (!S_location(L, 1, b))
		buf_printf(b, "filters/%s.lua", e->fname ? e->fname : "?");
	buf_puts(b, ": ");
	S_clean(b, msg, len);
	diag_warn(e->path, line, col, "%s", buf_cstr(b));
	return 0;
}

/* where(f): "filters/x.lua:LINE" where function f is defined. */
static int
S_where_fn(lua_State *L)
{
	struct filter_env *e = S_env(L);
	lua_Debug ar;

	if (lua_type(L, 1) == LUA_TFUNCTION) {
		lua_pushvalue(L, 1);
		if (lua_getinfo(L, ">S", &ar) && ar.source[0] == '@' &&
		    ar.linedefined >= 0) {
			lua_pushfstring(L, "%s:%d", ar.source + 1,
			    ar.linedefined > 0 ? ar.linedefined : 1);
			return 1;
		}
	}
	lua_pushfstring(L, "filters/%s.lua", e->fname ? e->fname : "?");
	return 1;
}

/* load: text chunks only; without an env, the caller's globals. */
static const char *
S_reader(lua_State *L, void *ud, size_t *size)
{
	(void)ud;
	luaL_checkstack(L, 2, "too many nested functions");
	lua_pushvalue(L, 1);
	lua_call(L, 0, 1);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		*size = 0;
		return NULL;
	}
	if (!lua_isstring(L, -1))
		luaL_error(L, "load: the reader function must return a string");
	lua_replace(L, 5);	/* keep the piece alive while Lua reads it */
	return lua_tolstring(L, 5, size);
}

static int
S_load(lua_State *L)
{
	struct filter_env *e = S_env(L);
	const char *s, *name;
	size_t	 len;
	int	 has_env = !lua_isnone(L, 4), status;

	if ((s = lua_tolstring(L, 1, &len)) != NULL) {
		name = luaL_optstring(L, 2, s);
		status = luaL_loadbufferx(L, s, len, name, "t");
	} else {
		name = luaL_optstring(L, 2, "=(load)");
		luaL_checktype(L, 1, LUA_TFUNCTION);
		lua_settop(L, 5);
		status = lua_load(L, S_reader, NULL, name, "t");
	}
	if (status != LUA_OK) {
		if (status == LUA_ERRMEM && e->running) {
			e->memout = 1;
			return lua_error(L);
		}
		luaL_pushfail(L);
		lua_insert(L, -2);
		return 2;
	}
	if (has_env)
		lua_pushvalue(L, 4);
	else
		lua_pushvalue(L, lua_upvalueindex(1));
	if (lua_setupvalue(L, -2, 1) == NULL)
		lua_pop(L, 1);
	return 1;
}

static void	 S_push_sandbox(struct filter_env *, lua_State *, int);
static int	 S_push_chunk(struct filter_env *, lua_State *, const char *,
		    int);

static char	 S_loading;	/* its address marks a module being loaded */

static int
S_require_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status;
	(void)ctx;
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_pushboolean(L, 1);
	}
	lua_pushvalue(L, 1);
	lua_pushvalue(L, -2);
	lua_rawset(L, lua_upvalueindex(1));
	return 1;
}

/* require(name): filters/NAME.lua in a sandbox of its own, once per filter. */
static int
S_require(lua_State *L)
{
	struct filter_env *e = S_env(L);
	const char *name = luaL_checkstring(L, 1);

	lua_settop(L, 1);
	if (!S_name_ok(name))
		return luaL_error(L, "require: \"%s\" is not a module in "
		    "filters/ (names are [a-z0-9_-]+)", name);
	lua_pushvalue(L, 1);
	lua_rawget(L, lua_upvalueindex(1));
	if (lua_touserdata(L, -1) == &S_loading)
		return luaL_error(L, "require: \"%s\" is already being loaded "
		    "(a require loop?)", name);
	if (!lua_isnil(L, -1))
		return 1;
	lua_pop(L, 1);
	lua_pushvalue(L, 1);
	lua_pushlightuserdata(L, &S_loading);
	lua_rawset(L, lua_upvalueindex(1));
	if (e->fname != NULL && strcmp(name, e->fname) == 0)
		return luaL_error(L, "require: a filter cannot require itself");
	if (S_push_chunk(e, L, name, 0) == -1)
		return luaL_error(L, "require: %s", lua_tostring(L, -1));
	S_push_sandbox(e, L, lua_upvalueindex(1));
	lua_setupvalue(L, -2, 1);
	lua_callk(L, 0, 1, 0, S_require_k);
	return S_require_k(L, LUA_OK, 0);
}

/* ---- patterns ----
 *
 * string.find, match, gmatch and gsub with Lua 5.4's pattern syntax
 * and results, reimplemented so that every step is counted: Lua's own
 * matcher backtracks without limit and no hook can interrupt it.
 */
#define PM_MAXCAP	32
#define PM_MAXDEPTH	200
#define PM_UNFINISHED	(-1)
#define PM_POSITION	(-2)
#define PM_ESC		'%'
#define PM_SPECIALS	"^$*+?.([%-"

struct pm {
	const char	*src;	/* subject */
	const char	*end;	/* its end */
	const char	*pend;	/* pattern end */
	lua_State	*L;
	int		 depth;	/* recursion left */
	int		 level;	/* captures open or closed */
	long long	 steps;	/* steps left */
	long long	 start;	/* steps at the start */
	int		 stop;	/* steps ran out: unwind */
	struct {
		const char	*init;
		ptrdiff_t	 len;
	}		 cap[PM_MAXCAP];
};

#define PM_TICK(ms)	(--(ms)->steps < 0 ? ((ms)->stop = 1) : 0)

static void
pm_init(struct pm *ms, lua_State *L, const char *s, size_t ls,
    const char *p, size_t lp)
{
	struct filter_env *e = S_env(L);

	ms->L = L;
	ms->src = s;
	ms->end = s + ls;
	ms->pend = p + lp;
	ms->level = 0;
	ms->depth = PM_MAXDEPTH;
	ms->stop = 0;
	ms->steps = e->running ? (e->budget > 0 ? e->budget : 0) :
	    LLONG_MAX / 4;
	ms->start = ms->steps;
}

/* Charge the steps taken; return 1 when the run must stop. */
static int
pm_done(struct pm *ms)
{
	long long used = ms->start - (ms->steps > 0 ? ms->steps : 0);

	if (ms->stop)
		used = ms->start + 1;
	return S_charge(ms->L, (double)used);
}

static const char *
pm_classend(struct pm *ms, const char *p)
{
	switch (*p++) {
	case PM_ESC:
		if (p == ms->pend)
			luaL_error(ms->L, "malformed pattern (ends with '%%')");
		return p + 1;
	case '[':
		if (*p == '^')
			p++;
		do {	/* the first character is never the closing ']' */
			if (p == ms->pend)
				luaL_error(ms->L, "malformed pattern (missing ']')");
			if (*(p++) == PM_ESC && p < ms->pend)
				p++;
		} while (*p != ']');
		return p + 1;
	default:
		return p;
	}
}

static int
pm_class(int c, int cl)
{
	int	 r;

	switch (tolower(cl)) {
	case 'a': r = isalpha(c); break;
	case 'c': r = iscntrl(c); break;
	case 'd': r = isdigit(c); break;
	case 'g': r = isgraph(c); break;
	case 'l': r = islower(c); break;
	case 'p': r = ispunct(c); break;
	case 's': r = isspace(c); break;
	case 'u': r = isupper(c); break;
	case 'w': r = isalnum(c); break;
	case 'x': r = isxdigit(c); break;
	case 'z': r = c == 0; break;	/* deprecated in Lua, still accepted */
	default: return cl == c;
	}
	if (isupper(cl))
		r = !r;
	return r;
}

/* Is c in the set [...] that starts at p and ends at ec (its ']')? */
static int
pm_inset(int c, const char *p, const char *ec)
{
	int	 yes = 1;

	if (p[1] == '^') {
		yes = 0;
		p++;
	}
	while (++p < ec) {
		if (*p == PM_ESC) {
			p++;
			if (pm_class(c, (unsigned char)*p))
				return yes;
		} else if (p[1] == '-' && p + 2 < ec) {
			if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2])
				return yes;
			p += 2;
		} else if ((unsigned char)*p == c)
			return yes;
	}
	return !yes;
}

static int
pm_single(struct pm *ms, const char *s, const char *p, const char *ep)
{
	int	 c;

	if (s >= ms->end)
		return 0;
	c = (unsigned char)*s;
	switch (*p) {
	case '.':
		return 1;
	case PM_ESC:
		return pm_class(c, (unsigned char)p[1]);
	case '[':
		return pm_inset(c, p, ep - 1);
	default:
		return (unsigned char)*p == c;
	}
}

static const char *pm_do(struct pm *, const char *, const char *);

static const char *
pm_balance(struct pm *ms, const char *s, const char *p)
{
	int	 n = 1;

	if (p >= ms->pend - 1)
		luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
	if (s >= ms->end || *s != p[0])
		return NULL;
	while (++s < ms->end) {
		if (PM_TICK(ms))
			return NULL;
		if (*s == p[1]) {
			if (--n == 0)
				return s + 1;
		} else if (*s == p[0])
			n++;
	}
	return NULL;
}

static const char *
pm_max(struct pm *ms, const char *s, const char *p, const char *ep)
{
	ptrdiff_t i = 0;
	const char *r;

	while (pm_single(ms, s + i, p, ep)) {
		if (PM_TICK(ms))
			return NULL;
		i++;
	}
	for (; i >= 0; i--) {
		if ((r = pm_do(ms, s + i, ep + 1)) != NULL)
			return r;
		if (ms->stop)
			return NULL;
	}
	return NULL;
}

static const char *
pm_min(struct pm *ms, const char *s, const char *p, const char *ep)
{
	const char *r;

	for (;;) {
		if ((r = pm_do(ms, s, ep + 1)) != NULL)
			return r;
		if (ms->stop || !pm_single(ms, s, p, ep))
			return NULL;
		s++;
	}
}

static const char *
pm_open(struct pm *ms, const char *s, const char *p, int what)
{
	const char *r;

	if (ms->level >= PM_MAXCAP)
		luaL_error(ms->L, "too many captures");
	ms->cap[ms->level].init = s;
	ms->cap[ms->level].len = what;
	ms->level++;
	if ((r = pm_do(ms, s, p)) == NULL)
		ms->level--;
	return r;
}

static const char *
pm_close(struct pm *ms, const char *s, const char *p)
{
	const char *r;
	int	 l;

	for (l = ms->level - 1; l >= 0; l--)
		if (ms->cap[l].len == PM_UNFINISHED)
			break;
	if (l < 0)
		luaL_error(ms->L, "invalid pattern capture");
	ms->cap[l].len = s - ms->cap[l].init;
	if ((r = pm_do(ms, s, p)) == NULL)
		ms->cap[l].len = PM_UNFINISHED;
	return r;
}

static const char *
pm_backref(struct pm *ms, const char *s, int c)
{
	int	 l = c - '1';
	size_t	 len;

	if (l < 0 || l >= ms->level || ms->cap[l].len == PM_UNFINISHED)
		luaL_error(ms->L, "invalid capture index %%%d", l + 1);
	if (ms->cap[l].len < 0)		/* a position never matches text */
		return NULL;
	len = (size_t)ms->cap[l].len;
	ms->steps -= (long long)(len / 16);
	if ((size_t)(ms->end - s) >= len &&
	    memcmp(ms->cap[l].init, s, len) == 0)
		return s + len;
	return NULL;
}

/* Match pattern p at s; return the end of the match or NULL. */
static const char *
pm_do(struct pm *ms, const char *s, const char *p)
{
	const char *ep, *r;
	int	 prev, cur;

	if (ms->depth-- == 0)
		luaL_error(ms->L, "pattern too complex");
	for (;;) {
		if (PM_TICK(ms)) {
			s = NULL;
			break;
		}
		if (p == ms->pend)
			break;
		if (*p == '(') {
			if (p[1] == ')')
				s = pm_open(ms, s, p + 2, PM_POSITION);
			else
				s = pm_open(ms, s, p + 1, PM_UNFINISHED);
			break;
		}
		if (*p == ')') {
			s = pm_close(ms, s, p + 1);
			break;
		}
		if (*p == '$' && p + 1 == ms->pend) {
			if (s != ms->end)
				s = NULL;
			break;
		}
		if (*p == PM_ESC && p[1] == 'b') {
			if ((s = pm_balance(ms, s, p + 2)) == NULL)
				break;
			p += 4;
			continue;
		}
		if (*p == PM_ESC && p[1] == 'f') {
			p += 2;
			if (*p != '[')
				luaL_error(ms->L, "missing '[' after '%%f' in pattern");
			ep = pm_classend(ms, p);
			prev = s == ms->src ? '\0' : (unsigned char)s[-1];
			cur = s < ms->end ? (unsigned char)*s : '\0';
			if (!pm_inset(prev, p, ep - 1) && pm_inset(cur, p, ep - 1)) {
				p = ep;
				continue;
			}
			s = NULL;
			break;
		}
		if (*p == PM_ESC && isdigit((unsigned char)p[1])) {
			if ((s = pm_backref(ms, s, (unsigned char)p[1])) == NULL)
				break;
			p += 2;
			continue;
		}
		ep = pm_classend(ms, p);
		if (!pm_single(ms, s, p, ep)) {
			if (*ep == '*' || *ep == '?' || *ep == '-') {
				p = ep + 1;	/* accept the empty match */
				continue;
			}
			s = NULL;
			break;
		}
		if (*ep == '?') {
			if ((r = pm_do(ms, s + 1, ep + 1)) != NULL || ms->stop) {
				s = r;
				break;
			}
			p = ep + 1;
			continue;
		}
		if (*ep == '+') {
			s = pm_max(ms, s + 1, p, ep);
			break;
		}
		if (*ep == '*') {
			s = pm_max(ms, s, p, ep);
			break;
		}
		if (*ep == '-') {
			s = pm_min(ms, s, p, ep);
			break;
		}
		s++;
		p = ep;
	}
	ms->depth++;
	return s;
}

static void
pm_push_one(struct pm *ms, int i, const char *s, const char *e)
{
	if (i >= ms->level) {
		if (i != 0)
			luaL_error(ms->L, "invalid capture index %%%d", i + 1);
		lua_pushlstring(ms->L, s, (size_t)(e - s));
	} else if (ms->cap[i].len == PM_UNFINISHED)
		luaL_error(ms->L, "unfinished capture");
	else if (ms->cap[i].len == PM_POSITION)
		lua_pushinteger(ms->L, (ms->cap[i].init - ms->src) + 1);
	else
		lua_pushlstring(ms->L, ms->cap[i].init, (size_t)ms->cap[i].len);
}

/* Push the captures (or the whole match s..e when there are none). */
static int
pm_push_all(struct pm *ms, const char *s, const char *e)
{
	int	 i, n = (ms->level == 0 && s != NULL) ? 1 : ms->level;

	luaL_checkstack(ms->L, n, "too many captures");
	for (i = 0; i < n; i++)
		pm_push_one(ms, i, s, e);
	return n;
}

static size_t
S_posrelat(lua_Integer pos, size_t len)
{
	if (pos > 0)
		return (size_t)pos;
	if (pos == 0)
		return 1;
	if (pos < -(lua_Integer)len)
		return 1;
	return len + (size_t)pos + 1;
}

static int
S_nospecials(const char *p, size_t lp)
{
	size_t	 i;

	for (i = 0; i < lp; i++)
		if (p[i] != '\0' && strchr(PM_SPECIALS, p[i]) != NULL)
			return 0;
	return 1;
}

static int
S_find_aux(lua_State *L, int find)
{
	size_t	 ls, lp, init;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	const char *s1, *e, *f;
	struct pm ms;
	int	 anchor;

	init = S_posrelat(luaL_optinteger(L, 3, 1), ls) - 1;
	if (init > ls) {
		luaL_pushfail(L);
		return 1;
	}
	if (find && (lua_toboolean(L, 4) || S_nospecials(p, lp))) {
		/* memmem is linear: a plain search cannot be made slow */
		if (S_charge(L, (double)(ls - init) / 16))
			return S_stop(L);
		f = lp == 0 ? s + init : memmem(s + init, ls - init, p, lp);
		if (f != NULL) {
			lua_pushinteger(L, (f - s) + 1);
			lua_pushinteger(L, (f - s) + (lua_Integer)lp);
			return 2;
		}
		luaL_pushfail(L);
		return 1;
	}
	anchor = *p == '^';
	if (anchor) {
		p++;
		lp--;
	}
	pm_init(&ms, L, s, ls, p, lp);
	s1 = s + init;
	do {
		ms.level = 0;
		ms.depth = PM_MAXDEPTH;
		e = pm_do(&ms, s1, p);
		if (ms.stop)
			break;
		if (e != NULL) {
			if (pm_done(&ms))
				return S_stop(L);
			if (find) {
				lua_pushinteger(L, (s1 - s) + 1);
				lua_pushinteger(L, e - s);
				return pm_push_all(&ms, NULL, NULL) + 2;
			}
			return pm_push_all(&ms, s1, e);
		}
	} while (s1++ < ms.end && !anchor);
	if (pm_done(&ms))
		return S_stop(L);
	luaL_pushfail(L);
	return 1;
}

static int
S_find(lua_State *L)
{
	return S_find_aux(L, 1);
}

static int
S_match(lua_State *L)
{
	return S_find_aux(L, 0);
}

struct S_gm {
	size_t	 pos;	/* where the next search starts */
	size_t	 last;	/* end of the last match, or SIZE_MAX */
};

static int
S_gmatch_next(lua_State *L)
{
	size_t	 ls, lp;
	const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
	const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
	struct S_gm *gm = lua_touserdata(L, lua_upvalueindex(3));
	const char *src, *e;
	struct pm ms;

	if (gm->pos > ls)
		return 0;
	pm_init(&ms, L, s, ls, p, lp);
	for (src = s + gm->pos; src <= ms.end; src++) {
		ms.level = 0;
		ms.depth = PM_MAXDEPTH;
		e = pm_do(&ms, src, p);
		if (ms.stop)
			break;
		if (e != NULL && (gm->last == SIZE_MAX || e != s + gm->last)) {
			gm->pos = gm->last = (size_t)(e - s);
			if (pm_done(&ms))
				return S_stop(L);
			return pm_push_all(&ms, src, e);
		}
	}
	if (pm_done(&ms))
		return S_stop(L);
	gm->pos = ls + 1;
	return 0;
}

static int
S_gmatch(lua_State *L)
{
	size_t	 ls, init;
	struct S_gm *gm;

	luaL_checklstring(L, 1, &ls);
	luaL_checkstring(L, 2);
	init = S_posrelat(luaL_optinteger(L, 3, 1), ls) - 1;
	lua_settop(L, 2);
	gm = lua_newuserdatauv(L, sizeof(*gm), 0);
	gm->pos = init;
	gm->last = SIZE_MAX;
	lua_pushcclosure(L, S_gmatch_next, 3);
	return 1;
}

static void
S_gsub_string(struct pm *ms, luaL_Buffer *b, const char *s, const char *e)
{
	lua_State *L = ms->L;
	size_t	 l;
	const char *news = lua_tolstring(L, 3, &l), *p;

	while ((p = memchr(news, PM_ESC, l)) != NULL) {
		luaL_addlstring(b, news, (size_t)(p - news));
		p++;
		if (*p == PM_ESC)
			luaL_addchar(b, *p);
		else if (*p == '0')
			luaL_addlstring(b, s, (size_t)(e - s));
		else if (isdigit((unsigned char)*p)) {
			pm_push_one(ms, *p - '1', s, e);
			luaL_tolstring(L, -1, NULL);
			lua_remove(L, -2);
			luaL_addvalue(b);
		} else
			luaL_error(L, "invalid use of '%c' in replacement string",
			    PM_ESC);
		l -= (size_t)(p + 1 - news);
		news = p + 1;
	}
	luaL_addlstring(b, news, l);
}

/* Add the replacement of s..e; return 1 if it changed the text. */
static int
S_gsub_value(struct pm *ms, luaL_Buffer *b, const char *s, const char *e,
    int tr)
{
	lua_State *L = ms->L;

	if (tr == LUA_TFUNCTION) {
		lua_pushvalue(L, 3);
		lua_call(L, pm_push_all(ms, s, e), 1);
	} else if (tr == LUA_TTABLE) {
		pm_push_one(ms, 0, s, e);
		lua_gettable(L, 3);
	} else {
		S_gsub_string(ms, b, s, e);
		return 1;
	}
	if (!lua_toboolean(L, -1)) {
		lua_pop(L, 1);
		luaL_addlstring(b, s, (size_t)(e - s));
		return 0;
	}
	if (!lua_isstring(L, -1))
		return luaL_error(L, "invalid replacement value (a %s)",
		    luaL_typename(L, -1));
	luaL_addvalue(b);
	return 1;
}

static int
S_gsub(lua_State *L)
{
	size_t	 srcl, lp;
	const char *src = luaL_checklstring(L, 1, &srcl);
	const char *p = luaL_checklstring(L, 2, &lp);
	const char *last = NULL, *e;
	int	 tr = lua_type(L, 3), anchor, changed = 0;
	lua_Integer max_s = luaL_optinteger(L, 4, (lua_Integer)srcl + 1), n = 0;
	struct pm ms;
	luaL_Buffer b;

	luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING ||
	    tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3, "string/function/table");
	luaL_buffinit(L, &b);
	anchor = *p == '^';
	if (anchor) {
		p++;
		lp--;
	}
	pm_init(&ms, L, src, srcl, p, lp);
	while (n < max_s) {
		ms.level = 0;
		ms.depth = PM_MAXDEPTH;
		e = pm_do(&ms, src, p);
		if (ms.stop)
			break;
		if (e != NULL && e != last) {
			n++;
			changed |= S_gsub_value(&ms, &b, src, e, tr);
			src = last = e;
		} else if (src < ms.end)
			luaL_addchar(&b, *src++);
		else
			break;
		if (anchor)
			break;
	}
	if (pm_done(&ms))
		return S_stop(L);
	if (!changed)
		lua_pushvalue(L, 1);
	else {
		luaL_addlstring(&b, src, (size_t)(ms.end - src));
		luaL_pushresult(&b);
	}
	lua_pushinteger(L, n);
	return 2;
}

/* ---- library functions that charge the budget ---- */

/* string.rep: rep("", math.maxinteger) would loop for ages in C. */
static int
S_rep(lua_State *L)
{
	size_t	 l, lsep;
	lua_Integer n;

	luaL_checklstring(L, 1, &l);
	n = luaL_checkinteger(L, 2);
	luaL_optlstring(L, 3, "", &lsep);
	if (n > 0 && S_charge(L, (double)n / 8 +
	    ((double)l + (double)lsep) * (double)n / 64))
		return S_stop(L);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

/* table.move: charge the range, which need not exist to be walked. */
static int
S_tmove(lua_State *L)
{
	lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);

	if (e >= f && S_charge(L, (double)e - (double)f + 1))
		return S_stop(L);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

/*
 * table.insert and table.remove: their loops run to #t, which __len
 * can make anything; the length is read once and charged.
 */
static int
S_tinsert(lua_State *L)
{
	lua_Integer e, pos, i;

	luaL_checktype(L, 1, LUA_TTABLE);
	e = luaL_len(L, 1) + 1;
	switch (lua_gettop(L)) {
	case 2:
		pos = e;
		break;
	case 3:
		pos = luaL_checkinteger(L, 2);
		luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2,
		    "position out of bounds");
		if (S_charge(L, (double)e - (double)pos))
			return S_stop(L);
		for (i = e; i > pos; i--) {
			lua_geti(L, 1, i - 1);
			lua_seti(L, 1, i);
		}
		break;
	default:
		return luaL_error(L, "wrong number of arguments to 'insert'");
	}
	lua_seti(L, 1, pos);
	return 0;
}

static int
S_tremove(lua_State *L)
{
	lua_Integer size, pos;

	luaL_checktype(L, 1, LUA_TTABLE);
	size = luaL_len(L, 1);
	pos = luaL_optinteger(L, 2, size);
	if (pos != size)
		luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size,
		    2, "position out of bounds");
	if (size > pos && S_charge(L, (double)size - (double)pos))
		return S_stop(L);
	lua_geti(L, 1, pos);
	for (; pos < size; pos++) {
		lua_geti(L, 1, pos + 1);
		lua_seti(L, 1, pos);
	}
	lua_pushnil(L);
	lua_seti(L, 1, pos);
	return 1;
}

/* ---- values: YAML, read-only views ---- */

static int
S_oneof(const char *s, const char *a, const char *b, const char *c)
{
	return strcmp(s, a) == 0 || strcmp(s, b) == 0 || strcmp(s, c) == 0;
}

/* YAML 1.2 core schema floats: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int
S_is_float(const char *s)
{
	int	 digits = 0;

	if (*s == '+' || *s == '-')
		s++;
	while (isdigit((unsigned char)*s)) {
		s++;
		digits++;
	}
	if (*s == '.') {
		s++;
		while (isdigit((unsigned char)*s)) {
			s++;
			digits++;
		}
	}
	if (digits == 0)
		return 0;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!isdigit((unsigned char)*s))
			return 0;
		while (isdigit((unsigned char)*s))
			s++;
	}
	return *s == '\0';
}

/* A typed scalar: plain 2019 is an integer, plain true a boolean, plain null nil. */
static void
S_push_scalar(lua_State *L, const struct yval *v)
{
	long long n;

	if (v->plain && strlen(v->str) == v->len) {
		if (yval_int(v, &n)) {
			lua_pushinteger(L, n);
			return;
		}
		if (S_oneof(v->str, "true", "True", "TRUE")) {
			lua_pushboolean(L, 1);
			return;
		}
		if (S_oneof(v->str, "false", "False", "FALSE")) {
			lua_pushboolean(L, 0);
			return;
		}
		if (v->len == 0 || S_oneof(v->str, "null", "Null", "NULL") ||
		    strcmp(v->str, "~") == 0) {
			lua_pushnil(L);
			return;
		}
		if (S_is_float(v->str)) {
			lua_pushnumber(L, strtod(v->str, NULL));
			return;
		}
	}
	lua_pushlstring(L, v->str, v->len);
}

static void	 S_ro_wrap(lua_State *, int);

/*
 * Push a YAML tree as Lua values; maps remember their key order for
 * fazhi.keys.  With ro, tables become read-only views.
 */
static void
S_push_yval(lua_State *L, const struct yval *v, int ro)
{
	struct filter_env *e = S_env(L);
	size_t	 i, k;

	luaL_checkstack(L, 8, "YAML nested too deeply");
	if (v->type == YV_SCALAR) {
		S_push_scalar(L, v);
		return;
	}
	if (v->type == YV_SEQ) {
		lua_createtable(L, (int)v->n, 0);
		for (i = 0; i < v->n; i++) {
			S_push_yval(L, v->items[i], ro);
			if (lua_isnil(L, -1)) {
				lua_pop(L, 1);
				lua_pushliteral(L, "");
			}
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		if (ro)
			S_ro_wrap(L, -1);
		return;
	}
	lua_createtable(L, 0, (int)v->n);
	lua_createtable(L, (int)v->n, 0);	/* keys in order */
	for (i = 0, k = 0; i < v->n; i++) {
		lua_pushlstring(L, v->keys[i]->str, v->keys[i]->len);
		S_push_yval(L, v->items[i], ro);
		if (lua_isnil(L, -1)) {
			lua_pop(L, 2);
			continue;
		}
		lua_pushvalue(L, -2);
		lua_rawseti(L, -4, (lua_Integer)++k);
		lua_rawset(L, -4);
	}
	if (ro)
		S_ro_wrap(L, -2);
	/* ORDER[map] = keys */
	lua_rawgeti(L, LUA_REGISTRYINDEX, e->r_order);
	lua_pushvalue(L, -3);
	lua_pushvalue(L, -3);
	lua_rawset(L, -3);
	lua_pop(L, 2);
}

/* Read-only views: a userdata whose user value is the real table. */
static int
S_ro_index(lua_State *L)
{
	lua_getiuservalue(L, 1, 1);
	lua_pushvalue(L, 2);
	lua_rawget(L, -2);
	return 1;
}

static int
S_ro_newindex(lua_State *L)
{
	return luaL_error(L, "site, report and site.config are read-only");
}

static int
S_ro_len(lua_State *L)
{
	lua_getiuservalue(L, 1, 1);
	lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
	return 1;
}

static int
S_ro_next(lua_State *L)
{
	lua_settop(L, 2);
	lua_getiuservalue(L, 1, 1);
	lua_pushvalue(L, 2);
	if (lua_next(L, -2))
		return 2;
	lua_pushnil(L);
	return 1;
}

static int
S_ro_pairs(lua_State *L)
{
	lua_pushcfunction(L, S_ro_next);
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

/* Replace the table at idx by a read-only view of it. */
static void
S_ro_wrap(lua_State *L, int idx)
{
	struct filter_env *e = S_env(L);

	idx = lua_absindex(L, idx);
	lua_newuserdatauv(L, 0, 1);
	lua_pushvalue(L, idx);
	lua_setiuservalue(L, -2, 1);
	lua_rawgeti(L, LUA_REGISTRYINDEX, e->r_romt);
	lua_setmetatable(L, -2);
	lua_replace(L, idx);
}

static void
S_setstr(lua_State *L, const char *k, const char *v)
{
	if (v == NULL)
		return;
	lua_pushstring(L, v);
	lua_setfield(L, -2, k);
}

static void
S_setint(lua_State *L, const char *k, long long v)
{
	lua_pushinteger(L, v);
	lua_setfield(L, -2, k);
}

/* The plain (writable) table of a report's view. */
static void
S_push_report_table(lua_State *L, const struct report *r, size_t index)
{
	size_t	 i;

	lua_createtable(L, 0, 16);
	S_setstr(L, "path", r->path);
	S_setstr(L, "title", r->title);
	S_setstr(L, "department", r->department);
	S_setstr(L, "category", r->category);
	S_setint(L, "year", r->year);
	S_setstr(L, "date", r->date);
	S_setstr(L, "source", r->source);
	S_setstr(L, "summary", r->summary);
	S_setstr(L, "slug", r->slug);
	S_setstr(L, "url", r->url);
	S_setstr(L, "stats", r->stats);
	if (index > 0)
		S_setint(L, "index", (long long)index);
	lua_createtable(L, (int)r->nfilters, 0);
	for (i = 0; i < r->nfilters; i++) {
		lua_pushstring(L, r->filters[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	S_ro_wrap(L, -1);
	lua_setfield(L, -2, "filters");
	lua_createtable(L, (int)r->nattachments, 0);
	for (i = 0; i < r->nattachments; i++) {
		lua_createtable(L, 0, 3);
		S_setstr(L, "name", r->attachments[i].name);
		S_setstr(L, "url", r->attachments[i].url);
		S_setint(L, "size", r->attachments[i].size);
		S_ro_wrap(L, -1);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	S_ro_wrap(L, -1);
	lua_setfield(L, -2, "attachments");
}

/* Push a read-only list of report views from indices into site.reports. */
static void
S_push_group_list(lua_State *L, int views, const size_t *idx, size_t n)
{
	size_t	 i;

	lua_createtable(L, (int)n, 0);
	for (i = 0; i < n; i++) {
		lua_rawgeti(L, views, (lua_Integer)idx[i] + 1);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	S_ro_wrap(L, -1);
}

/*
 * The `site` view: reports (index order: department, then year),
 * departments / categories / years (name -> reports, newest first),
 * config (site.yaml, typed), sections (the parsed section rules),
 * title, base_url, language.  Built once per state; protected call.
 */
static int
S_build_site(lua_State *L)
{
	struct filter_env *e = S_env(L);
	const struct site *s = e->site;
	const struct config *c = e->cfg;
	size_t	 i, j, n = s ? s->n : 0;
	int	 views, tables;

	lua_createtable(L, (int)n, 0);		/* views */
	views = lua_gettop(L);
	lua_createtable(L, (int)n, 0);		/* their tables */
	tables = lua_gettop(L);
	for (i = 0; i < n; i++) {
		S_push_report_table(L, &s->reports[i], i + 1);
		lua_pushvalue(L, -1);
		lua_rawseti(L, tables, (lua_Integer)i + 1);
		S_ro_wrap(L, -1);
		lua_rawseti(L, views, (lua_Integer)i + 1);
	}
	for (i = 0; i < n; i++) {
		lua_rawgeti(L, tables, (lua_Integer)i + 1);
		if (s->reports[i].prev_year != NO_REPORT) {
			lua_rawgeti(L, views,
			    (lua_Integer)s->reports[i].prev_year + 1);
			lua_setfield(L, -2, "previous");
		}
		if (s->reports[i].next_year != NO_REPORT) {
			lua_rawgeti(L, views,
			    (lua_Integer)s->reports[i].next_year + 1);
			lua_setfield(L, -2, "next");
		}
		lua_pop(L, 1);
	}

	lua_createtable(L, 0, 12);		/* site */
	S_setstr(L, "title", c->title);
	S_setstr(L, "base_url", c->base_url);
	S_setstr(L, "language", c->language);
	lua_pushvalue(L, views);
	lua_setfield(L, -2, "reports");
	lua_createtable(L, 0, s ? (int)s->ndepts : 0);
	for (j = 0; s && j < s->ndepts; j++) {
		S_push_group_list(L, views, s->depts[j].reports, s->depts[j].n);
		lua_setfield(L, -2, s->depts[j].name);
	}
	S_ro_wrap(L, -1);
	lua_setfield(L, -2, "departments");
	lua_createtable(L, 0, s ? (int)s->ncats : 0);
	for (j = 0; s && j < s->ncats; j++) {
		S_push_group_list(L, views, s->cats[j].reports, s->cats[j].n);
		lua_setfield(L, -2, s->cats[j].name);
	}
	S_ro_wrap(L, -1);
	lua_setfield(L, -2, "categories");
	lua_createtable(L, 0, s ? (int)s->nyears : 0);
	for (j = 0; s && j < s->nyears; j++) {
		lua_pushinteger(L, strtol(s->years[j].name, NULL, 10));
		S_push_group_list(L, views, s->years[j].reports, s->years[j].n);
		lua_rawset(L, -3);
	}
	S_ro_wrap(L, -1);
	lua_setfield(L, -2, "years");
	if (c->raw != NULL)
		S_push_yval(L, c->raw, 1);
	else {
		lua_newtable(L);
		S_ro_wrap(L, -1);
	}
	lua_setfield(L, -2, "config");
	lua_createtable(L, (int)c->nsections, 0);
	for (i = 0; i < c->nsections; i++) {
		const struct section_rule *r = &c->sections[i];

		lua_createtable(L, 0, 3);
		S_setstr(L, "category", r->category);
		S_setstr(L, "level", r->is_error ? "error" : "warning");
		lua_createtable(L, (int)r->nrequired, 0);
		for (j = 0; j < r->nrequired; j++) {
			lua_pushstring(L, r->required[j]);
			lua_rawseti(L, -2, (lua_Integer)j + 1);
		}
		S_ro_wrap(L, -1);
		lua_setfield(L, -2, "required");
		S_ro_wrap(L, -1);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	S_ro_wrap(L, -1);
	lua_setfield(L, -2, "sections");
	S_ro_wrap(L, -1);
	e->r_site = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushvalue(L, views);
	e->r_reports = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

/* ---- fazhi helpers written in C ---- */

/* fazhi.escape(s): HTML-escaped text, through the one escaper. */
/* fazhi.slug(text): the heading id md_render() would give this text. */
static int
S_slug(lua_State *L)
{
	size_t	 len;
	const char *t = luaL_checklstring(L, 1, &len);
	struct buf b = { 0 };

	md_slug(t, len, &b);
	lua_pushlstring(L, buf_cstr(&b), b.len);
	buf_free(&b);
	return 1;
}

static int
S_escape(lua_State *L)
{
	struct filter_env *e = S_env(L);
	size_t	 len;
	const char *s = luaL_checklstring(L, 1, &len);

	buf_reset(&e->scratch);
	buf_html_escape(&e->scratch, s, len);
	lua_pushlstring(L, buf_cstr(&e->scratch), e->scratch.len);
	return 1;
}

/*
 * Check YAML without diagnosing, mirroring yval_parse's rules (no
 * aliases, depth 64, 100000 nodes); on a problem put a message in out.
 */
static int
S_yaml_quiet_ok(const char *text, size_t len, struct buf *out)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int	 depth = 0, nodes = 0, ok = 1, done = 0;

	if (!yaml_parser_initialize(&p)) {
		buf_puts(out, "cannot initialise the YAML parser");
		return 0;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	while (ok && !done) {
		if (!yaml_parser_parse(&p, &ev)) {
			buf_printf(out, "line %zu: %s",
			    p.problem_mark.line + 1,
			    p.problem ? p.problem : "invalid YAML");
			ok = 0;
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_ALIAS_EVENT:
			buf_printf(out, "line %zu: aliases are not allowed",
			    ev.start_mark.line + 1);
			ok = 0;
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > 64) {
				buf_puts(out, "nested more than 64 levels");
				ok = 0;
			}
			/* FALLTHROUGH */
		case YAML_SCALAR_EVENT:
			if (++nodes > 100000) {
				buf_puts(out, "more than 100000 nodes");
				ok = 0;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return ok;
}

/*
 * fazhi.yaml(text [, where]): text parsed as YAML into typed values.
 * where a node (a ```stats block): problems are diagnosed at its
 * position in the report, the build fails, and the result is nil.
 * Otherwise (e.g. another report's stats from site): nothing is
 * diagnosed; the result is nil and a message.
 */
static int
S_yaml(lua_State *L)
{
	struct filter_env *e = S_env(L);
	size_t	 len, bad, i, nl;
	const char *text = luaL_checklstring(L, 1, &len);
	int	 line = 0, col = 0, quiet = lua_type(L, 2) != LUA_TTABLE;

	if (S_charge(L, (double)len / 4))
		return S_stop(L);
	if (!quiet)
		S_node_pos(L, 2, &line, &col);
	/* yval_parse would call it "front matter"; say what it is */
	if ((bad = utf8_invalid_at(text, len)) != (size_t)-1) {
		for (i = 0, nl = 0; i < bad; i++)
			nl += text[i] == '\n';
		if (!quiet) {
			e->failed = 1;
			diag_error(e->path ? e->path : "filters",
			    line > 0 ? line + 1 + nl : 0, 0,
			    "YAML text is not valid UTF-8");
		}
		luaL_pushfail(L);
		lua_pushfstring(L, "line %d: not valid UTF-8", (int)nl + 1);
		return 2;
	}
	if (quiet) {
		buf_reset(&e->scratch);
		if (!S_yaml_quiet_ok(text, len, &e->scratch)) {
			luaL_pushfail(L);
			lua_pushlstring(L, buf_cstr(&e->scratch),
			    e->scratch.len);
			return 2;
		}
	}
	yval_free(e->tmp_yval);
	e->tmp_yval = yval_parse(e->path ? e->path : "filters", text, len,
	    line);
	if (e->tmp_yval == NULL) {
		e->failed = 1;
		luaL_pushfail(L);
		lua_pushliteral(L, "invalid YAML (diagnosed)");
		return 2;
	}
	S_push_yval(L, e->tmp_yval, 0);
	yval_free(e->tmp_yval);
	e->tmp_yval = NULL;
	return 1;
}

/*
 * The prelude: the Lua half of the filter API (the walk, stringify,
 * constructors, keys, clone), trusted and run once per state with the
 * real libraries.  Kept here as text so that it ships inside the binary.
 */
static const char S_prelude[] =
	"-- The trusted half of the filter API, run once per Lua state.  Its\n"
	"-- functions keep the library functions they use in locals, so nothing a\n"
	"-- filter does to its own globals reaches them; node structure is read\n"
	"-- with rawget so a metatable on a node cannot redirect the walk.\n"
	"local C = ...\n"
	"local type, rawget, rawset, rawlen, next, tostring, error, pairs =\n"
	"\ttype, rawget, rawset, rawlen, next, tostring, error, pairs\n"
	"local mathtype, sort, concat = math.type, table.sort, table.concat\n"
	"local state, where, ORDER = C.state, C.where, C.order\n"
	"\n"
	"local KIND = {\n"
	"\tHeading = \"block\", Paragraph = \"block\", CodeBlock = \"block\",\n"
	"\tHtmlBlock = \"block\", RawBlock = \"block\", List = \"block\",\n"
	"\tBlockQuote = \"block\", ThematicBreak = \"block\", Table = \"block\",\n"
	"\tItem = \"item\", TableRow = \"row\", TableCell = \"cell\",\n"
	"\tText = \"inline\", Code = \"inline\", Emph = \"inline\", Strong = \"inline\",\n"
	"\tStrikethrough = \"inline\", Link = \"inline\", Image = \"inline\",\n"
	"\tSoftBreak = \"inline\", LineBreak = \"inline\", HtmlInline = \"inline\",\n"
	"\tRawInline = \"inline\",\n"
	"}\n"
	"local CHILD = {\n"
	"\tDocument = \"block\", BlockQuote = \"block\", Item = \"block\",\n"
	"\tRawBlock = \"block\", List = \"item\", Table = \"row\", TableRow = \"cell\",\n"
	"\tHeading = \"inline\", Paragraph = \"inline\", TableCell = \"inline\",\n"
	"\tEmph = \"inline\", Strong = \"inline\", Strikethrough = \"inline\",\n"
	"\tLink = \"inline\", Image = \"inline\", RawInline = \"inline\",\n"
	"}\n"
	"local KDESC = {\n"
	"\tblock = \"a block node\", inline = \"an inline node\", item = \"an Item\",\n"
	"\trow = \"a TableRow\", cell = \"a TableCell\",\n"
	"}\n"
	"local HOOKS = { Block = true, Inline = true, Document = true, Meta = true,\n"
	"\tUnknown = true }\n"
	"for k in next, KIND do HOOKS[k] = true end\n"
	"\n"
	"local function kindof(x)\n"
	"\tlocal t = rawget(x, \"t\")\n"
	"\tif t == \"Unknown\" then\n"
	"\t\tlocal k = rawget(x, \"kind\")\n"
	"\t\tif k == \"block\" or k == \"inline\" then return k end\n"
	"\t\treturn nil\n"
	"\tend\n"
	"\treturn KIND[t]\n"
	"end\n"
	"\n"
	"local function describe(x)\n"
	"\tif type(x) ~= \"table\" then return \"a \" .. type(x) end\n"
	"\tlocal t = rawget(x, \"t\")\n"
	"\tif t == nil then return \"a list\" end\n"
	"\tif type(t) ~= \"string\" then return \"a table whose t is not a string\" end\n"
	"\tif t == \"Document\" then return \"a Document\" end\n"
	"\tlocal k = kindof(x)\n"
	"\tif not k then return \"a table with unknown type '\" .. t .. \"'\" end\n"
	"\treturn \"a \" .. t .. \" (\" .. KDESC[k] .. \")\"\n"
	"end\n"
	"\n"
	"-- Check a hooks table; return the hooks and which child lists to enter\n"
	"-- (nil when only Meta and Document are set), or nil and a message.\n"
	"local function resolve(h)\n"
	"\tif type(h) ~= \"table\" then\n"
	"\t\treturn nil, \"a filter must return a table of functions keyed \" ..\n"
	"\t\t\t\"by node type, not \" .. describe(h)\n"
	"\tend\n"
	"\tlocal R, need = {}, {}\n"
	"\tfor k, f in next, h do\n"
	"\t\tif type(k) ~= \"string\" or not HOOKS[k] then\n"
	"\t\t\treturn nil, \"unknown hook \" .. (type(k) == \"string\" and\n"
	"\t\t\t\t\"'\" .. k .. \"'\" or \"key of type \" .. type(k)) ..\n"
	"\t\t\t\t\"; hooks are node types (Heading, Paragraph, \" ..\n"
	"\t\t\t\t\"Text, ...), Block, Inline, Meta and Document\"\n"
	"\t\tend\n"
	"\t\tif type(f) ~= \"function\" then\n"
	"\t\t\treturn nil, \"hook '\" .. k .. \"' is a \" .. type(f) ..\n"
	"\t\t\t\t\", not a function\"\n"
	"\t\tend\n"
	"\t\tR[k] = f\n"
	"\t\tif k == \"Block\" or k == \"Unknown\" then need.block = true end\n"
	"\t\tif k == \"Inline\" or k == \"Unknown\" then need.inline = true end\n"
	"\t\tif KIND[k] then need[KIND[k]] = true end\n"
	"\tend\n"
	"\tlocal deep\n"
	"\tif need.block or need.inline or need.item or need.row or need.cell then\n"
	"\t\tdeep = { block = true, item = true,\n"
	"\t\t\trow = need.row or need.cell or need.inline or false,\n"
	"\t\t\tcell = need.cell or need.inline or false,\n"
	"\t\t\tinline = need.inline or false }\n"
	"\tend\n"
	"\treturn R, deep\n"
	"end\n"
	"\n"
	"local function check(x, ck, f, t)\n"
	"\tif type(x) ~= \"table\" or kindof(x) ~= ck then\n"
	"\t\terror(where(f) .. \": the \" .. t .. \" hook returned \" ..\n"
	"\t\t\tdescribe(x) .. \" where \" .. KDESC[ck] ..\n"
	"\t\t\t\" belongs\", 0)\n"
	"\tend\n"
	"end\n"
	"\n"
	"-- Bottom-up: a node's children are walked before its own hook runs;\n"
	"-- what a hook returns is not walked again.\n"
	"local function walk(list, ck, R, deep)\n"
	"\tlocal out, n = {}, 0\n"
	"\tfor i = 1, rawlen(list) do\n"
	"\t\tlocal node = rawget(list, i)\n"
	"\t\tif type(node) ~= \"table\" then\n"
	"\t\t\terror(\"fazhi: found \" .. describe(node) ..\n"
	"\t\t\t\t\" in a list of nodes\", 0)\n"
	"\t\tend\n"
	"\t\tlocal t = rawget(node, \"t\")\n"
	"\t\tlocal cck = CHILD[t]\n"
	"\t\tif cck and deep[cck] then\n"
	"\t\t\tlocal c = rawget(node, \"content\")\n"
	"\t\t\tif type(c) == \"table\" then\n"
	"\t\t\t\trawset(node, \"content\", walk(c, cck, R, deep))\n"
	"\t\t\tend\n"
	"\t\tend\n"
	"\t\tlocal f = R[t]\n"
	"\t\tif f == nil then\n"
	"\t\t\tlocal k = kindof(node)\n"
	"\t\t\tif k == \"block\" then f = R.Block\n"
	"\t\t\telseif k == \"inline\" then f = R.Inline end\n"
	"\t\tend\n"
	"\t\tif f then\n"
	"\t\t\trawset(state, \"node\", node)\n"
	"\t\t\tlocal r = f(node)\n"
	"\t\t\tif r == nil then\n"
	"\t\t\t\tn = n + 1; out[n] = node\n"
	"\t\t\telseif type(r) == \"table\" and rawget(r, \"t\") ~= nil then\n"
	"\t\t\t\tcheck(r, ck, f, t)\n"
	"\t\t\t\tn = n + 1; out[n] = r\n"
	"\t\t\telseif type(r) == \"table\" then\n"
	"\t\t\t\tfor j = 1, rawlen(r) do\n"
	"\t\t\t\t\tlocal x = rawget(r, j)\n"
	"\t\t\t\t\tcheck(x, ck, f, t)\n"
	"\t\t\t\t\tn = n + 1; out[n] = x\n"
	"\t\t\t\tend\n"
	"\t\t\telse\n"
	"\t\t\t\terror(where(f) .. \": the \" .. t .. \" hook returned \" ..\n"
	"\t\t\t\t\tdescribe(r) .. \"; return nil to keep the \" ..\n"
	"\t\t\t\t\t\"node, a node to replace it, or a list \" ..\n"
	"\t\t\t\t\t\"of nodes (empty to delete it)\", 0)\n"
	"\t\t\tend\n"
	"\t\telse\n"
	"\t\t\tn = n + 1; out[n] = node\n"
	"\t\tend\n"
	"\tend\n"
	"\treturn out\n"
	"end\n"
	"\n"
	"-- One filter over one report: Meta, then the tree, then Document.\n"
	"local function apply(chunk, doc, meta)\n"
	"\trawset(state, \"node\", nil)\n"
	"\tlocal R, deep = resolve(chunk())\n"
	"\tif R == nil then error(where(chunk) .. \": \" .. deep, 0) end\n"
	"\trawset(state, \"node\", doc)\n"
	"\tif R.Meta then\n"
	"\t\tlocal r = R.Meta(meta)\n"
	"\t\tif r ~= nil then\n"
	"\t\t\tif type(r) ~= \"table\" then\n"
	"\t\t\t\terror(where(R.Meta) .. \": the Meta hook returned \" ..\n"
	"\t\t\t\t\tdescribe(r) .. \"; return nil or a table\", 0)\n"
	"\t\t\tend\n"
	"\t\t\tmeta = r\n"
	"\t\t\trawset(state, \"meta\", r)\n"
	"\t\tend\n"
	"\tend\n"
	"\tif deep then\n"
	"\t\tlocal c = rawget(doc, \"content\")\n"
	"\t\trawset(doc, \"content\", walk(type(c) == \"table\" and c or {},\n"
	"\t\t\t\"block\", R, deep))\n"
	"\tend\n"
	"\tif R.Document then\n"
	"\t\trawset(state, \"node\", doc)\n"
	"\t\tlocal r = R.Document(doc)\n"
	"\t\tif r ~= nil then\n"
	"\t\t\tif type(r) ~= \"table\" or rawget(r, \"t\") ~= \"Document\" then\n"
	"\t\t\t\terror(where(R.Document) .. \": the Document hook \" ..\n"
	"\t\t\t\t\t\"returned \" .. describe(r) ..\n"
	"\t\t\t\t\t\"; return nil or a Document\", 0)\n"
	"\t\t\tend\n"
	"\t\t\tdoc = r\n"
	"\t\tend\n"
	"\tend\n"
	"\treturn doc, meta\n"
	"end\n"
	"\n"
	"local F = {}\n"
	"\n"
	"function F.walk(x, hooks)\n"
	"\tlocal R, deep = resolve(hooks)\n"
	"\tif R == nil then error(\"fazhi.walk: \" .. deep, 2) end\n"
	"\tif type(x) ~= \"table\" then\n"
	"\t\terror(\"fazhi.walk: expected a node or a list of nodes, not \" ..\n"
	"\t\t\tdescribe(x), 2)\n"
	"\tend\n"
	"\tif not deep then return x end\n"
	"\tlocal saved = rawget(state, \"node\")\n"
	"\tlocal t = rawget(x, \"t\")\n"
	"\tif t == nil then\n"
	"\t\tlocal first = rawget(x, 1)\n"
	"\t\tlocal k = type(first) == \"table\" and kindof(first) or \"block\"\n"
	"\t\tx = walk(x, k, R, deep)\n"
	"\telseif CHILD[t] then\n"
	"\t\tlocal c = rawget(x, \"content\")\n"
	"\t\tif type(c) == \"table\" then\n"
	"\t\t\trawset(x, \"content\", walk(c, CHILD[t], R, deep))\n"
	"\t\tend\n"
	"\tend\n"
	"\trawset(state, \"node\", saved)\n"
	"\treturn x\n"
	"end\n"
	"\n"
	"local function strf(x, out, n, depth)\n"
	"\tif depth > 200 then\n"
	"\t\terror(\"stringify: nodes nested more than 200 deep\", 0)\n"
	"\tend\n"
	"\tlocal t = rawget(x, \"t\")\n"
	"\tif t == \"Text\" or t == \"Code\" or t == \"CodeBlock\" then\n"
	"\t\tlocal s = rawget(x, \"text\")\n"
	"\t\tif type(s) == \"string\" then n = n + 1; out[n] = s end\n"
	"\telseif t == \"SoftBreak\" or t == \"LineBreak\" then\n"
	"\t\tn = n + 1; out[n] = \" \"\n"
	"\telseif t == nil or CHILD[t] then\n"
	"\t\tlocal list = x\n"
	"\t\tif t ~= nil then list = rawget(x, \"content\") end\n"
	"\t\tif type(list) == \"table\" then\n"
	"\t\t\tlocal prev\n"
	"\t\t\tfor i = 1, rawlen(list) do\n"
	"\t\t\t\tlocal c = rawget(list, i)\n"
	"\t\t\t\tif type(c) == \"string\" then\n"
	"\t\t\t\t\tn = n + 1; out[n] = c\n"
	"\t\t\t\telseif type(c) == \"table\" then\n"
	"\t\t\t\t\tlocal k = kindof(c) or \"block\"\n"
	"\t\t\t\t\tif prev and k ~= \"inline\" and prev ~= \"inline\" then\n"
	"\t\t\t\t\t\tn = n + 1; out[n] = k == \"cell\" and \" \" or \"\\n\"\n"
	"\t\t\t\t\tend\n"
	"\t\t\t\t\tn = strf(c, out, n, depth + 1)\n"
	"\t\t\t\t\tprev = k\n"
	"\t\t\t\tend\n"
	"\t\t\tend\n"
	"\t\tend\n"
	"\tend\n"
	"\treturn n\n"
	"end\n"
	"\n"
	"-- Plain text of a node or list, as heading ids and titles use it.\n"
	"local function stringify(x)\n"
	"\tlocal tx = type(x)\n"
	"\tif tx == \"string\" then return x end\n"
	"\tif tx == \"number\" then return tostring(x) end\n"
	"\tif tx ~= \"table\" then return \"\" end\n"
	"\tlocal out = {}\n"
	"\tlocal n = strf(x, out, 0, 0)\n"
	"\treturn concat(out, \"\", 1, n)\n"
	"end\n"
	"F.stringify = stringify\n"
	"\n"
	"local function str_of(s, what, optional)\n"
	"\tlocal ts = type(s)\n"
	"\tif ts == \"string\" then return s end\n"
	"\tif ts == \"number\" then return tostring(s) end\n"
	"\tif optional and s == nil then return nil end\n"
	"\terror(what .. \" must be a string, not a \" .. ts, 3)\n"
	"end\n"
	"\n"
	"local function list_of(c, what)\n"
	"\tlocal tc = type(c)\n"
	"\tif c == nil then return {} end\n"
	"\tif tc == \"string\" or tc == \"number\" then\n"
	"\t\tlocal text = { t = \"Text\", text = tostring(c) }\n"
	"\t\tif what == \"block\" then\n"
	"\t\t\treturn { { t = \"Paragraph\", content = { text } } }\n"
	"\t\tend\n"
	"\t\treturn { text }\n"
	"\tend\n"
	"\tif tc == \"table\" then\n"
	"\t\tif rawget(c, \"t\") ~= nil then return { c } end\n"
	"\t\treturn c\n"
	"\tend\n"
	"\terror(\"content must be a string, a node or a list of nodes, not a \" ..\n"
	"\t\ttc, 3)\n"
	"end\n"
	"\n"
	"function F.Text(s) return { t = \"Text\", text = str_of(s, \"Text\") } end\n"
	"function F.Code(s) return { t = \"Code\", text = str_of(s, \"Code\") } end\n"
	"function F.SoftBreak() return { t = \"SoftBreak\" } end\n"
	"function F.LineBreak() return { t = \"LineBreak\" } end\n"
	"function F.Emph(c) return { t = \"Emph\", content = list_of(c, \"inline\") } end\n"
	"function F.Strong(c) return { t = \"Strong\", content = list_of(c, \"inline\") } end\n"
	"function F.Strikethrough(c)\n"
	"\treturn { t = \"Strikethrough\", content = list_of(c, \"inline\") }\n"
	"end\n"
	"function F.Link(c, url, title)\n"
	"\treturn { t = \"Link\", content = list_of(c, \"inline\"),\n"
	"\t\turl = str_of(url, \"a Link's url\"),\n"
	"\t\ttitle = str_of(title, \"a Link's title\", true) }\n"
	"end\n"
	"function F.Image(alt, url, title)\n"
	"\treturn { t = \"Image\", content = list_of(alt, \"inline\"),\n"
	"\t\turl = str_of(url, \"an Image's url\"),\n"
	"\t\ttitle = str_of(title, \"an Image's title\", true) }\n"
	"end\n"
	"function F.RawInline(html, c, close)\n"
	"\treturn { t = \"RawInline\", html = str_of(html, \"RawInline html\"),\n"
	"\t\tcontent = list_of(c, \"inline\"),\n"
	"\t\tclose = str_of(close, \"RawInline close\", true) }\n"
	"end\n"
	"function F.Paragraph(c)\n"
	"\treturn { t = \"Paragraph\", content = list_of(c, \"inline\") }\n"
	"end\n"
	"function F.Heading(level, c, id)\n"
	"\tif mathtype(level) ~= \"integer\" or level < 1 or level > 6 then\n"
	"\t\terror(\"a Heading's level must be an integer from 1 to 6\", 2)\n"
	"\tend\n"
	"\treturn { t = \"Heading\", level = level, content = list_of(c, \"inline\"),\n"
	"\t\tid = str_of(id, \"a Heading's id\", true) }\n"
	"end\n"
	"function F.CodeBlock(text, info)\n"
	"\treturn { t = \"CodeBlock\", text = str_of(text, \"CodeBlock text\"),\n"
	"\t\tinfo = str_of(info, \"CodeBlock info\", true) }\n"
	"end\n"
	"function F.BlockQuote(c)\n"
	"\treturn { t = \"BlockQuote\", content = list_of(c, \"block\") }\n"
	"end\n"
	"function F.ThematicBreak() return { t = \"ThematicBreak\" } end\n"
	"function F.RawBlock(html, c, close)\n"
	"\treturn { t = \"RawBlock\", html = str_of(html, \"RawBlock html\"),\n"
	"\t\tcontent = list_of(c, \"block\"),\n"
	"\t\tclose = str_of(close, \"RawBlock close\", true) }\n"
	"end\n"
	"function F.Item(c) return { t = \"Item\", content = list_of(c, \"block\") } end\n"
	"function F.List(items, opts)\n"
	"\tlocal its, out = list_of(items, \"item\"), {}\n"
	"\tfor i = 1, rawlen(its) do\n"
	"\t\tlocal x = rawget(its, i)\n"
	"\t\tif type(x) == \"table\" and rawget(x, \"t\") == \"Item\" then\n"
	"\t\t\tout[i] = x\n"
	"\t\telse\n"
	"\t\t\tout[i] = F.Item(x)\n"
	"\t\tend\n"
	"\tend\n"
	"\tif opts ~= nil and type(opts) ~= \"table\" then\n"
	"\t\terror(\"List options must be a table\", 2)\n"
	"\tend\n"
	"\topts = opts or {}\n"
	"\treturn { t = \"List\", content = out, ordered = opts.ordered and true or\n"
	"\t\tfalse, start = opts.start or 1, tight = opts.tight ~= false,\n"
	"\t\tdelim = opts.delim or \"period\" }\n"
	"end\n"
	"function F.TableCell(c)\n"
	"\treturn { t = \"TableCell\", content = list_of(c, \"inline\") }\n"
	"end\n"
	"function F.TableRow(cells, header)\n"
	"\tlocal cs, out = list_of(cells, \"cell\"), {}\n"
	"\tfor i = 1, rawlen(cs) do\n"
	"\t\tlocal x = rawget(cs, i)\n"
	"\t\tif type(x) == \"table\" and rawget(x, \"t\") == \"TableCell\" then\n"
	"\t\t\tout[i] = x\n"
	"\t\telse\n"
	"\t\t\tout[i] = F.TableCell(x)\n"
	"\t\tend\n"
	"\tend\n"
	"\treturn { t = \"TableRow\", header = header and true or false,\n"
	"\t\tcontent = out }\n"
	"end\n"
	"-- Table(rows[, align]): rows of cells (strings, inline lists or\n"
	"-- TableCells); the first row is the header.\n"
	"function F.Table(rows, align)\n"
	"\tif type(rows) ~= \"table\" then error(\"Table rows must be a list\", 2) end\n"
	"\tlocal out = {}\n"
	"\tfor i = 1, rawlen(rows) do\n"
	"\t\tlocal r = rawget(rows, i)\n"
	"\t\tif type(r) == \"table\" and rawget(r, \"t\") == \"TableRow\" then\n"
	"\t\t\tout[i] = r\n"
	"\t\telse\n"
	"\t\t\tout[i] = F.TableRow(r, i == 1)\n"
	"\t\tend\n"
	"\tend\n"
	"\treturn { t = \"Table\", content = out, align = align or {} }\n"
	"end\n"
	"\n"
	"-- Keys of a table: YAML maps (meta, site.config, fazhi.yaml) in their\n"
	"-- written order, other keys sorted.\n"
	"function F.keys(t)\n"
	"\tlocal tt = type(t)\n"
	"\tif tt ~= \"table\" and tt ~= \"userdata\" then\n"
	"\t\terror(\"fazhi.keys: expected a table, not a \" .. tt, 2)\n"
	"\tend\n"
	"\tlocal out, seen, n = {}, {}, 0\n"
	"\tlocal ord = ORDER[t]\n"
	"\tif ord then\n"
	"\t\tfor i = 1, #ord do\n"
	"\t\t\tlocal k = ord[i]\n"
	"\t\t\tif t[k] ~= nil then n = n + 1; out[n] = k; seen[k] = true end\n"
	"\t\tend\n"
	"\tend\n"
	"\tlocal rest, m = {}, 0\n"
	"\tfor k in pairs(t) do\n"
	"\t\tif not seen[k] then m = m + 1; rest[m] = k end\n"
	"\tend\n"
	"\tif m > 0 then\n"
	"\t\tsort(rest, function(a, b)\n"
	"\t\t\tlocal ta, tb = type(a), type(b)\n"
	"\t\t\tif ta ~= tb then return ta < tb end\n"
	"\t\t\tif ta == \"number\" or ta == \"string\" then return a < b end\n"
	"\t\t\treturn false\n"
	"\t\tend)\n"
	"\t\tfor i = 1, m do out[n + i] = rest[i] end\n"
	"\tend\n"
	"\treturn out\n"
	"end\n"
	"\n"
	"local function clone(x, seen, depth)\n"
	"\tif type(x) ~= \"table\" then return x end\n"
	"\tlocal c = seen[x]\n"
	"\tif c then return c end\n"
	"\tif depth > 1000 then error(\"fazhi.clone: nested too deeply\", 0) end\n"
	"\tc = {}\n"
	"\tseen[x] = c\n"
	"\tfor k, v in next, x do c[clone(k, seen, depth + 1)] = clone(v, seen, depth + 1) end\n"
	"\treturn c\n"
	"end\n"
	"function F.clone(x) return clone(x, {}, 0) end\n"
	"\n"
	"return { apply = apply, F = F, stringify = stringify }\n";

/* ---- the sandbox ---- */

/* The number of entries of the table registry[ref]. */
static int
S_count(lua_State *L, int ref)
{
	int	 n = 0;

	lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		lua_pop(L, 1);
		n++;
	}
	lua_pop(L, 1);
	return n;
}

/* Push a shallow copy of registry[ref], a table of n entries. */
static void
S_copy(lua_State *L, int ref, int n)
{
	lua_createtable(L, 0, n);
	lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, -5);
	}
	lua_pop(L, 1);
}

/*
 * Push a fresh global table for one filter or module: copies of the
 * library tables, its own load and require, and meta, site, report.
 * loaded is the index of the require cache, or 0 for a new one.
 */
static void
S_push_sandbox(struct filter_env *e, lua_State *L, int loaded)
{
	static const char *const vars[] = { "meta", "site", "report" };
	size_t	 i;

	if (loaded != 0)
		loaded = lua_absindex(L, loaded);
	luaL_checkstack(L, 8, "stack overflow");
	S_copy(L, e->r_base, e->n_base + 8);
	S_copy(L, e->r_string, e->n_string);
	lua_setfield(L, -2, "string");
	S_copy(L, e->r_table, e->n_table);
	lua_setfield(L, -2, "table");
	S_copy(L, e->r_math, e->n_math);
	lua_setfield(L, -2, "math");
	S_copy(L, e->r_utf8, e->n_utf8);
	lua_setfield(L, -2, "utf8");
	S_copy(L, e->r_fazhi, e->n_fazhi);
	lua_setfield(L, -2, "fazhi");
	lua_pushvalue(L, -1);
	lua_setfield(L, -2, "_G");
	lua_pushvalue(L, -1);
	lua_pushcclosure(L, S_load, 1);
	lua_setfield(L, -2, "load");
	if (loaded != 0)
		lua_pushvalue(L, loaded);
	else
		lua_newtable(L);
	lua_pushcclosure(L, S_require, 1);
	lua_setfield(L, -2, "require");
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		S_state_get(L, vars[i]);
		lua_setfield(L, -2, vars[i]);
	}
}

/* Keep the named fields of the table at src in a new table. */
static void
S_pick(lua_State *L, int src, const char *const *names)
{
	src = lua_absindex(L, src);
	lua_newtable(L);
	for (; *names != NULL; names++) {
		lua_getfield(L, src, *names);
		lua_setfield(L, -2, *names);
	}
}

static int
S_writer(lua_State *L, const void *p, size_t sz, void *ud)
{
	(void)L;
	buf_put(ud, p, sz);
	return 0;
}

/*
 * Set up the state (a protected call): libraries, the templates each
 * sandbox is copied from, the locked string metatable, the prelude and
 * the site view.
 */
static int
S_setup(lua_State *L)
{
	static const char *const base[] = {
		"assert", "getmetatable", "ipairs", "next", "pairs",
		"rawequal", "rawget", "rawlen", "rawset", "select",
		"tonumber", "tostring", "type", "_VERSION", NULL
	};
	static const char *const strs[] = {
		"byte", "char", "format", "len", "lower", "pack",
		"packsize", "reverse", "sub", "unpack", "upper", NULL
	};
	static const char *const tabs[] = {
		"concat", "pack", "sort", "unpack", NULL
	};
	static const char *const maths[] = {
		"abs", "ceil", "cos", "deg", "exp", "floor", "fmod", "huge",
		"log", "max", "maxinteger", "min", "mininteger", "modf", "pi",
		"rad", "random", "randomseed", "sin", "sqrt", "tan",
		"tointeger", "type", "ult", "acos", "asin", "atan", NULL
	};
	static const char *const utf8s[] = {
		"char", "charpattern", "codepoint", "codes", "len", "offset",
		NULL
	};
	static const luaL_Reg libs[] = {
		{ LUA_GNAME, luaopen_base }, { LUA_STRLIBNAME, luaopen_string },
		{ LUA_TABLIBNAME, luaopen_table }, { LUA_MATHLIBNAME, luaopen_math },
		{ LUA_UTF8LIBNAME, luaopen_utf8 }, { NULL, NULL }
	};
	static const luaL_Reg romt[] = {
		{ "__index", S_ro_index }, { "__newindex", S_ro_newindex },
		{ "__len", S_ro_len }, { "__pairs", S_ro_pairs }, { NULL, NULL }
	};
	struct filter_env *e = S_env(L);
	const luaL_Reg *r;
	int	 g;

	for (r = libs; r->name != NULL; r++) {
		luaL_requiref(L, r->name, r->func, 1);
		lua_pop(L, 1);
	}
	lua_pushglobaltable(L);
	g = lua_gettop(L);

	/* YAML key order, read-only views */
	lua_newtable(L);
	lua_newtable(L);
	lua_pushliteral(L, "k");
	lua_setfield(L, -2, "__mode");
	lua_setmetatable(L, -2);
	e->r_order = luaL_ref(L, LUA_REGISTRYINDEX);
	luaL_newlib(L, romt);
	lua_pushliteral(L, "read-only");
	lua_setfield(L, -2, "__metatable");
	lua_pushliteral(L, "read-only view");
	lua_setfield(L, -2, "__name");
	e->r_romt = luaL_ref(L, LUA_REGISTRYINDEX);

	/* state shared by C and the prelude */
	lua_newtable(L);
	e->r_state = luaL_ref(L, LUA_REGISTRYINDEX);

	/* base */
	S_pick(L, g, base);
	lua_pushcfunction(L, S_pcall);
	lua_setfield(L, -2, "pcall");
	lua_pushcfunction(L, S_xpcall);
	lua_setfield(L, -2, "xpcall");
	lua_pushcfunction(L, S_setmetatable);
	lua_setfield(L, -2, "setmetatable");
	lua_pushcfunction(L, S_error);
	lua_setfield(L, -2, "error");
	lua_pushcfunction(L, S_warn);
	lua_setfield(L, -2, "warn");
	e->r_base = luaL_ref(L, LUA_REGISTRYINDEX);

	/* string: the metatable's __index is a private copy, locked */
	lua_getfield(L, g, "string");
	S_pick(L, -1, strs);
	lua_pushcfunction(L, S_find);
	lua_setfield(L, -2, "find");
	lua_pushcfunction(L, S_match);
	lua_setfield(L, -2, "match");
	lua_pushcfunction(L, S_gmatch);
	lua_setfield(L, -2, "gmatch");
	lua_pushcfunction(L, S_gsub);
	lua_setfield(L, -2, "gsub");
	lua_getfield(L, -2, "rep");
	lua_pushcclosure(L, S_rep, 1);
	lua_setfield(L, -2, "rep");
	lua_pushliteral(L, "");
	lua_getmetatable(L, -1);
	lua_pushvalue(L, -3);
	lua_setfield(L, -2, "__index");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 2);
	lua_pushvalue(L, -1);
	e->r_string = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pop(L, 2);

	/* table */
	lua_getfield(L, g, "table");
	S_pick(L, -1, tabs);
	lua_pushcfunction(L, S_tinsert);
	lua_setfield(L, -2, "insert");
	lua_pushcfunction(L, S_tremove);
	lua_setfield(L, -2, "remove");
	lua_getfield(L, -2, "move");
	lua_pushcclosure(L, S_tmove, 1);
	lua_setfield(L, -2, "move");
	e->r_table = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pop(L, 1);

	/* math, utf8 */
	lua_getfield(L, g, "math");
	lua_getfield(L, -1, "randomseed");
	e->r_seed = luaL_ref(L, LUA_REGISTRYINDEX);
	S_pick(L, -1, maths);
	e->r_math = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pop(L, 1);
	lua_getfield(L, g, "utf8");
	S_pick(L, -1, utf8s);
	e->r_utf8 = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pop(L, 1);

	/* error messages name functions by where package.loaded has them */
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_rawgeti(L, LUA_REGISTRYINDEX, e->r_string);
	lua_setfield(L, -2, LUA_STRLIBNAME);
	lua_rawgeti(L, LUA_REGISTRYINDEX, e->r_table);
	lua_setfield(L, -2, LUA_TABLIBNAME);
	lua_rawgeti(L, LUA_REGISTRYINDEX, e->r_base);
	lua_setfield(L, -2, LUA_GNAME);
	lua_pop(L, 1);

	/* the prelude, with the real libraries (filters never reach it) */
	if (luaL_loadbufferx(L, S_prelude, sizeof(S_prelude) - 1, "=fazhi",
	    "t") != LUA_OK)
		return lua_error(L);
	lua_newtable(L);
	lua_rawgeti(L, LUA_REGISTRYINDEX, e->r_state);
	lua_setfield(L, -2, "state");
	lua_pushcfunction(L, S_where_fn);
	lua_setfield(L, -2, "where");
	lua_rawgeti(L, LUA_REGISTRYINDEX, e->r_order);
	lua_setfield(L, -2, "order");
	lua_call(L, 1, 1);
	lua_getfield(L, -1, "F");
	lua_pushcfunction(L, S_escape);
	lua_setfield(L, -2, "escape");
	lua_pushcfunction(L, S_yaml);
	lua_setfield(L, -2, "yaml");
	lua_pushcfunction(L, S_slug);
	lua_setfield(L, -2, "slug");
	lua_pushcfunction(L, S_warn);
	lua_setfield(L, -2, "warn");
	lua_pushcfunction(L, S_error);
	lua_setfield(L, -2, "error");
	lua_pushliteral(L, "1");
	lua_setfield(L, -2, "version");
	e->r_fazhi = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_rawgeti(L, LUA_REGISTRYINDEX, e->r_base);
	lua_getfield(L, -2, "stringify");
	lua_setfield(L, -2, "stringify");
	lua_pop(L, 1);
	e->r_prelude = luaL_ref(L, LUA_REGISTRYINDEX);

	e->n_base = S_count(L, e->r_base);
	e->n_string = S_count(L, e->r_string);
	e->n_table = S_count(L, e->r_table);
	e->n_math = S_count(L, e->r_math);
	e->n_utf8 = S_count(L, e->r_utf8);
	e->n_fazhi = S_count(L, e->r_fazhi);

	lua_pushcfunction(L, S_build_site);
	lua_call(L, 0, 0);
	lua_rawgeti(L, LUA_REGISTRYINDEX, e->r_site);
	S_state_set(L, "site");
	lua_settop(L, g - 1);
	return 0;
}

/* ---- the bridge: cmark tree -> Lua tables ---- */

struct S_tolua {
	struct filter_env *e;
	cmark_node	*doc;
	int		 line_off;	/* add to cmark lines for file lines */
};

static const char *
S_align_name(uint8_t a)
{
	switch (a) {
	case 'l': return "left";
	case 'c': return "center";
	case 'r': return "right";
	default: return "";
	}
}

/*
 * Push node n as a table.  Blocks carry their own position; inline
 * nodes share their block's pos table (cmark's inline columns count
 * bytes, diagnostics count characters).  pos is the stack index of the
 * enclosing block's pos table, or 0.
 */
static void
S_push_node(struct S_tolua *c, lua_State *L, cmark_node *n, int depth,
    int pos)
{
	cmark_node_type type = cmark_node_get_type(n);
	const char *ts, *t = NULL, *s;
	cmark_node *ch;
	int	 leaf = 0, known = 1, own = 0, nfields;
	lua_Integer i;

	if (depth > MAX_DEPTH)
		luaL_error(L, "the Markdown is nested more than %d levels "
		    "deep; filters cannot run on it", MAX_DEPTH);
	luaL_checkstack(L, 10, "nested too deeply");
	/* rows and cells share their table's position: tables are lines */
	if (type == CMARK_NODE_DOCUMENT ||
	    ((type & CMARK_NODE_TYPE_MASK) == CMARK_NODE_TYPE_BLOCK &&
	    cmark_node_get_start_line(n) > 0 &&
	    (pos == 0 || (type != CMARK_NODE_TABLE_ROW &&
	    type != CMARK_NODE_TABLE_CELL)))) {
		lua_createtable(L, 0, 2);
		if (type == CMARK_NODE_DOCUMENT) {
			S_setint(L, "line", c->line_off + 1);
			S_setint(L, "col", 1);
		} else {
			S_setint(L, "line", cmark_node_get_start_line(n) +
			    c->line_off);
			S_setint(L, "col", cmark_node_get_start_column(n) > 0 ?
			    cmark_node_get_start_column(n) : 1);
		}
		pos = lua_gettop(L);
		own = 1;
	}
	/* t, pos and content or text, and the type's own fields */
	switch (type) {
	case CMARK_NODE_LIST: nfields = 7; break;
	case CMARK_NODE_LINK:
	case CMARK_NODE_IMAGE:
	case CMARK_NODE_CUSTOM_BLOCK:
	case CMARK_NODE_CUSTOM_INLINE:
	case CMARK_NODE_HEADING: nfields = 5; break;
	default: nfields = 4; break;
	}
	lua_createtable(L, 0, nfields);
	switch (type) {
	case CMARK_NODE_DOCUMENT: t = "Document"; break;
	case CMARK_NODE_BLOCK_QUOTE: t = "BlockQuote"; break;
	case CMARK_NODE_LIST:
		t = "List";
		lua_pushboolean(L, cmark_node_get_list_type(n) ==
		    CMARK_ORDERED_LIST);
		lua_setfield(L, -2, "ordered");
		S_setint(L, "start", cmark_node_get_list_start(n));
		lua_pushboolean(L, cmark_node_get_list_tight(n));
		lua_setfield(L, -2, "tight");
		S_setstr(L, "delim", cmark_node_get_list_delim(n) ==
		    CMARK_PAREN_DELIM ? "paren" : "period");
		break;
	case CMARK_NODE_ITEM: t = "Item"; break;
	case CMARK_NODE_CODE_BLOCK:
		t = "CodeBlock";
		leaf = 1;
		S_setstr(L, "info", cmark_node_get_fence_info(n));
		break;
	case CMARK_NODE_HTML_BLOCK: t = "HtmlBlock"; leaf = 1; break;
	case CMARK_NODE_CUSTOM_BLOCK:
	case CMARK_NODE_CUSTOM_INLINE:
		t = type == CMARK_NODE_CUSTOM_BLOCK ? "RawBlock" : "RawInline";
		S_setstr(L, "html", cmark_node_get_on_enter(n));
		S_setstr(L, "close", cmark_node_get_on_exit(n));
		break;
	case CMARK_NODE_PARAGRAPH: t = "Paragraph"; break;
	case CMARK_NODE_HEADING:
		t = "Heading";
		S_setint(L, "level", cmark_node_get_heading_level(n));
		if ((s = cmark_node_get_user_data(n)) != NULL)
			S_setstr(L, "id", s);
		break;
	case CMARK_NODE_THEMATIC_BREAK: t = "ThematicBreak"; break;
	case CMARK_NODE_TEXT: t = "Text"; leaf = 1; break;
	case CMARK_NODE_SOFTBREAK: t = "SoftBreak"; break;
	case CMARK_NODE_LINEBREAK: t = "LineBreak"; break;
	case CMARK_NODE_CODE: t = "Code"; leaf = 1; break;
	case CMARK_NODE_HTML_INLINE: t = "HtmlInline"; leaf = 1; break;
	case CMARK_NODE_EMPH: t = "Emph"; break;
	case CMARK_NODE_STRONG: t = "Strong"; break;
	case CMARK_NODE_LINK:
	case CMARK_NODE_IMAGE:
		t = type == CMARK_NODE_LINK ? "Link" : "Image";
		S_setstr(L, "url", cmark_node_get_url(n));
		if ((s = cmark_node_get_title(n)) != NULL && *s != '\0')
			S_setstr(L, "title", s);
		break;
	default:
		ts = cmark_node_get_type_string(n);
		if (strcmp(ts, "table") == 0) {
			uint16_t k, nc = cmark_gfm_extensions_get_table_columns(n);
			uint8_t *al = cmark_gfm_extensions_get_table_alignments(n);

			t = "Table";
			lua_createtable(L, nc, 0);
			for (k = 0; k < nc; k++) {
				lua_pushstring(L, S_align_name(al ? al[k] : 0));
				lua_rawseti(L, -2, k + 1);
			}
			lua_setfield(L, -2, "align");
		} else if (strcmp(ts, "table_header") == 0 ||
		    strcmp(ts, "table_row") == 0) {
			t = "TableRow";
			lua_pushboolean(L, ts[6] == 'h');
			lua_setfield(L, -2, "header");
		} else if (strcmp(ts, "table_cell") == 0)
			t = "TableCell";
		else if (strcmp(ts, "strikethrough") == 0)
			t = "Strikethrough";
		else {
			/* kept as is: a handle to the original node */
			struct filter_env *e = c->e;

			e->orig = xgrow(e->orig, e->norig, sizeof(*e->orig));
			e->orig[e->norig++] = n;
			S_setstr(L, "type", ts);
			S_setstr(L, "kind", (type & CMARK_NODE_TYPE_MASK) ==
			    CMARK_NODE_TYPE_INLINE ? "inline" : "block");
			S_setint(L, "handle", (long long)e->norig);
			t = "Unknown";
			known = 0;
		}
		break;
	}
	S_setstr(L, "t", t);
	if (pos != 0) {
		lua_pushvalue(L, pos);
		lua_setfield(L, -2, "pos");
	}
	if (leaf) {
		s = cmark_node_get_literal(n);
		S_setstr(L, "text", s ? s : "");
	} else if (known && type != CMARK_NODE_THEMATIC_BREAK &&
	    type != CMARK_NODE_SOFTBREAK && type != CMARK_NODE_LINEBREAK) {
		for (i = 0, ch = cmark_node_first_child(n); ch != NULL;
		    ch = cmark_node_next(ch))
			i++;
		lua_createtable(L, (int)i, 0);
		for (i = 1, ch = cmark_node_first_child(n); ch != NULL;
		    ch = cmark_node_next(ch), i++) {
			S_push_node(c, L, ch, depth + 1, pos);
			lua_rawseti(L, -2, i);
		}
		lua_setfield(L, -2, "content");
	}
	if (own)
		lua_remove(L, -2);
}

/* Protected: push the Lua form of the document (lightuserdata arg). */
static int
S_tolua(lua_State *L)
{
	struct S_tolua *c = lua_touserdata(L, 1);

	S_push_node(c, L, c->doc, 0, 0);
	return 1;
}

/* ---- the bridge: Lua tables -> cmark tree ---- */

enum S_kind { K_NONE, K_BLOCK, K_INLINE, K_ITEM, K_ROW, K_CELL, K_DOC };

/* Node types, in the order of S_ntypes. */
enum S_type {
	T_DOCUMENT, T_HEADING, T_PARAGRAPH, T_CODEBLOCK, T_HTMLBLOCK,
	T_RAWBLOCK, T_LIST, T_BLOCKQUOTE, T_THEMATICBREAK, T_TABLE, T_ITEM,
	T_TABLEROW, T_TABLECELL, T_TEXT, T_CODE, T_EMPH, T_STRONG,
	T_STRIKETHROUGH, T_LINK, T_IMAGE, T_SOFTBREAK, T_LINEBREAK,
	T_HTMLINLINE, T_RAWINLINE, T_UNKNOWN, T_NTYPES
};

static const struct S_ntype {
	const char	*name;
	enum S_kind	 kind;	/* what the node is */
	enum S_kind	 child;	/* what its content holds; K_NONE: no content */
} S_ntypes[T_NTYPES] = {
	{ "Document", K_DOC, K_BLOCK },
	{ "Heading", K_BLOCK, K_INLINE },
	{ "Paragraph", K_BLOCK, K_INLINE },
	{ "CodeBlock", K_BLOCK, K_NONE },
	{ "HtmlBlock", K_BLOCK, K_NONE },
	{ "RawBlock", K_BLOCK, K_BLOCK },
	{ "List", K_BLOCK, K_ITEM },
	{ "BlockQuote", K_BLOCK, K_BLOCK },
	{ "ThematicBreak", K_BLOCK, K_NONE },
	{ "Table", K_BLOCK, K_ROW },
	{ "Item", K_ITEM, K_BLOCK },
	{ "TableRow", K_ROW, K_CELL },
	{ "TableCell", K_CELL, K_INLINE },
	{ "Text", K_INLINE, K_NONE },
	{ "Code", K_INLINE, K_NONE },
	{ "Emph", K_INLINE, K_INLINE },
	{ "Strong", K_INLINE, K_INLINE },
	{ "Strikethrough", K_INLINE, K_INLINE },
	{ "Link", K_INLINE, K_INLINE },
	{ "Image", K_INLINE, K_INLINE },
	{ "SoftBreak", K_INLINE, K_NONE },
	{ "LineBreak", K_INLINE, K_NONE },
	{ "HtmlInline", K_INLINE, K_NONE },
	{ "RawInline", K_INLINE, K_INLINE },
	{ "Unknown", K_NONE, K_NONE },
};

static const char *const S_kdesc[] = {
	"nothing", "a block node", "an inline node", "an Item",
	"a TableRow", "a TableCell", "a Document"
};

struct S_back {
	struct filter_env *e;
	lua_State	*L;
	int		 build;		/* 0: check only */
	size_t		 nodes;		/* counted against max_nodes */
	size_t		 bytes;		/* text, against max_bytes */
	size_t		 max_nodes;
	size_t		 max_bytes;
	int		 line, col;	/* nearest position seen */
	struct buf	 err;		/* what is wrong, when it is */
	struct buf	 tmp;
	int		 top;		/* depth of the node being checked */
	struct {
		enum S_type	 parent;	/* the list's owner */
		size_t		 index;		/* 1-based, in its content */
		int		 idx;		/* the node's Lua stack index */
	}		 at[MAX_DEPTH + 2];	/* where, for messages */
};

/* Record a problem, after the path to the node; return -1. */
static int
S_bad(struct S_back *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
S_bad(struct S_back *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 d;

	if (b->err.len > 0)
		return -1;
	/* the position: the innermost node on the path that has one */
	for (d = b->top; d >= 1 && b->line == 0; d--)
		S_node_pos(b->L, b->at[d].idx, &b->line, &b->col);
	d = b->top > 6 ? b->top - 3 : 1;	/* long paths: the last levels */
	if (d > 1)
		buf_puts(&b->err, "…");
	for (; d <= b->top; d++)
		buf_printf(&b->err, "%s%s.content[%zu]", d > 1 ? " > " : "",
		    S_ntypes[b->at[d].parent].name, b->at[d].index);
	if (b->top > 0)
		buf_putc(&b->err, ' ');
	va_start(ap, fmt);
	buf_vprintf(&b->err, fmt, ap);
	va_end(ap);
	return -1;
}

/* node[k] as a string: 1 present, 0 absent, -1 wrong type. */
static int
S_fstr(struct S_back *b, int idx, const char *k, const char **s,
    size_t *len, int required)
{
	lua_State *L = b->L;
	int	 t;

	lua_pushstring(L, k);
	t = lua_rawget(L, idx);
	if (t == LUA_TSTRING) {
		*s = lua_tolstring(L, -1, len);	/* stays alive in the node */
		lua_pop(L, 1);
		b->bytes += *len;
		return 1;
	}
	lua_pop(L, 1);
	*s = NULL;
	*len = 0;
	if (t == LUA_TNIL && !required)
		return 0;
	return S_bad(b, "field %s is %s, not a string", k,
	    t == LUA_TNIL ? "missing" : lua_typename(L, t));
}

/* node[k] as a boolean (absent: dflt); -1 if it is something else. */
static int
S_fbool(struct S_back *b, int idx, const char *k, int dflt)
{
	lua_State *L = b->L;
	int	 t, v;

	lua_pushstring(L, k);
	t = lua_rawget(L, idx);
	v = t == LUA_TNIL ? dflt : lua_toboolean(L, -1);
	lua_pop(L, 1);
	if (t != LUA_TNIL && t != LUA_TBOOLEAN)
		return S_bad(b, "field %s is %s, not a boolean", k,
		    lua_typename(L, t));
	return v;
}

/* node[k] as an integer in [lo, hi] (absent: dflt); 0 or -1. */
static int
S_fint(struct S_back *b, int idx, const char *k, lua_Integer lo,
    lua_Integer hi, lua_Integer dflt, lua_Integer *out)
{
	lua_State *L = b->L;
	int	 t, isint;

	lua_pushstring(L, k);
	t = lua_rawget(L, idx);
	*out = lua_tointegerx(L, -1, &isint);
	lua_pop(L, 1);
	if (t == LUA_TNIL) {
		*out = dflt;
		return 0;
	}
	if (t != LUA_TNUMBER || !isint || *out < lo || *out > hi)
		return S_bad(b, "field %s must be an integer from %lld to %lld",
		    k, (long long)lo, (long long)hi);
	return 0;
}

/* A C string for cmark: NUL bytes in Lua strings become U+FFFD. */
static const char *
S_cstr(struct S_back *b, const char *s, size_t len)
{
	size_t	 i;

	if (s == NULL)
		return "";
	if (memchr(s, '\0', len) == NULL)
		return s;
	buf_reset(&b->tmp);
	for (i = 0; i < len; i++)
		if (s[i] == '\0')
			buf_puts(&b->tmp, "\xef\xbf\xbd");
		else
			buf_putc(&b->tmp, s[i]);
	return buf_cstr(&b->tmp);
}

static cmark_node *
S_new(struct S_back *b, cmark_node_type type, cmark_node *parent)
{
	cmark_node *n;

	/*
	 * Tables and rows need the extension's data (columns, alignments,
	 * header flag).  Cells and strikethrough need none, and cmark-gfm
	 * 0.29.0.gfm.6 leaks what it allocates for a cell made with
	 * cmark_node_new_with_ext(): those get the extension set after.
	 */
	if (type == CMARK_NODE_TABLE || type == CMARK_NODE_TABLE_ROW)
		n = cmark_node_new_with_mem_and_ext(type, b->e->mem,
		    b->e->table_ext);
	else
		n = cmark_node_new_with_mem(type, b->e->mem);
	if (n == NULL)
		abort();
	if (type == CMARK_NODE_TABLE_CELL)
		cmark_node_set_syntax_extension(n, b->e->table_ext);
	else if (type == CMARK_NODE_STRIKETHROUGH)
		cmark_node_set_syntax_extension(n, b->e->strike_ext);
	/* appended at once, so a Lua error cannot leak it */
	if (!cmark_node_append_child(parent, n)) {
		cmark_node_free(n);
		luaL_error(b->L, "internal error: cmark refused a %s in a %s",
		    cmark_node_get_type_string(n),
		    cmark_node_get_type_string(parent));
	}
	return n;
}

static int	 S_back_list(struct S_back *, int, enum S_kind, cmark_node *,
		    int, enum S_type);

/* The type of the node at idx, or T_NTYPES (problem recorded). */
static enum S_type
S_typeof(struct S_back *b, int idx)
{
	lua_State *L = b->L;
	const char *t;
	size_t	 len;
	int	 i;

	if (lua_type(L, idx) != LUA_TTABLE) {
		S_bad(b, "is a %s, not a node", luaL_typename(L, idx));
		return T_NTYPES;
	}
	lua_pushliteral(L, "t");
	if (lua_rawget(L, idx) != LUA_TSTRING) {
		lua_pop(L, 1);
		S_bad(b, "is not a node (its t field is not a string)");
		return T_NTYPES;
	}
	t = lua_tolstring(L, -1, &len);
	for (i = 0; i < T_NTYPES; i++)
		if (S_ntypes[i].name[0] == t[0] &&
		    strcmp(S_ntypes[i].name, t) == 0)
			break;
	if (i == T_NTYPES)
		S_bad(b, "has unknown type '%.40s'", t);
	lua_pop(L, 1);
	return (enum S_type)i;
}

/* Columns of the Table at idx (widest row or align list), alignments. */
static int
S_table_cols(struct S_back *b, int idx, uint8_t **al, size_t *ncols)
{
	lua_State *L = b->L;
	size_t	 nrows, k;
	const char *s;

	*ncols = 0;
	lua_pushliteral(L, "content");
	if (lua_rawget(L, idx) == LUA_TTABLE) {
		nrows = lua_rawlen(L, -1);
		for (k = 1; k <= nrows; k++) {
			if (lua_rawgeti(L, -1, (lua_Integer)k) == LUA_TTABLE) {
				if (k > 1 && S_fbool(b, lua_gettop(L), "header",
				    0) == 1) {
					lua_pop(L, 2);
					return S_bad(b, "has a header row that "
					    "is not its first row");
				}
				lua_pushliteral(L, "content");
				if (lua_rawget(L, -2) == LUA_TTABLE &&
				    lua_rawlen(L, -1) > *ncols)
					*ncols = lua_rawlen(L, -1);
				lua_pop(L, 1);
			}
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	lua_pushliteral(L, "align");
	if (lua_rawget(L, idx) == LUA_TTABLE && lua_rawlen(L, -1) > *ncols)
		*ncols = lua_rawlen(L, -1);
	if (*ncols > 1000) {
		lua_pop(L, 1);
		return S_bad(b, "has more than 1000 columns");
	}
	*al = xcalloc(*ncols + 1, 1);
	for (k = 0; k < *ncols && lua_type(L, -1) == LUA_TTABLE; k++) {
		if (lua_rawgeti(L, -1, (lua_Integer)k + 1) == LUA_TSTRING) {
			s = lua_tostring(L, -1);
			(*al)[k] = strcmp(s, "left") == 0 ? 'l' :
			    strcmp(s, "center") == 0 ? 'c' :
			    strcmp(s, "right") == 0 ? 'r' : 0;
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return 0;
}

/* What cmark's table extension lets a cell hold. */
static int
S_cell_ok(enum S_type t)
{
	return t == T_TEXT || t == T_CODE || t == T_EMPH || t == T_STRONG ||
	    t == T_STRIKETHROUGH || t == T_LINK || t == T_IMAGE ||
	    t == T_HTMLINLINE;
}

/*
 * Check (and when building, make) the node at stack index idx as a
 * child of kind want under parent, whose type is ptype.  Return 0, or
 * -1 with b->err saying why.
 */
static int
S_back_node(struct S_back *b, int idx, enum S_kind want, cmark_node *parent,
    int depth, enum S_type ptype)
{
	lua_State *L = b->L;
	const struct S_ntype *nt;
	enum S_type t;
	const char *s, *s2;
	size_t	 len, len2, ncols;
	int	 v, rc = 0;
	lua_Integer n1;
	cmark_node *n = NULL;
	uint8_t	*al = NULL;

	if (depth > MAX_DEPTH)
		return S_bad(b, "is nested more than %d levels deep", MAX_DEPTH);
	if (++b->nodes > b->max_nodes || b->bytes > b->max_bytes)
		return S_bad(b, "makes the document too large (more than "
		    "%zu nodes or %zu bytes of text)", b->max_nodes,
		    b->max_bytes);
	if ((t = S_typeof(b, idx)) == T_NTYPES)
		return -1;
	nt = &S_ntypes[t];

	if (t == T_UNKNOWN) {
		lua_Integer h;
		enum S_kind k;

		if (S_fint(b, idx, "handle", 1, (lua_Integer)b->e->norig, 0,
		    &h) == -1 || h == 0)
			return S_bad(b, "is an Unknown node without a valid "
			    "handle");
		n = b->e->orig[h - 1];
		k = (cmark_node_get_type(n) & CMARK_NODE_TYPE_MASK) ==
		    CMARK_NODE_TYPE_INLINE ? K_INLINE : K_BLOCK;
		if (k != want)
			return S_bad(b, "is %s where %s belongs",
			    S_kdesc[k], S_kdesc[want]);
		if (b->e->taken[h - 1]++)
			return S_bad(b, "is an Unknown node that appears twice");
		if (b->build && !cmark_node_append_child(parent, n))
			return S_bad(b, "cannot go in a %s",
			    S_ntypes[ptype].name);
		return 0;
	}
	if (nt->kind != want)
		return S_bad(b, "is a %s (%s) where %s belongs", nt->name,
		    S_kdesc[nt->kind], S_kdesc[want]);
	if (ptype == T_TABLECELL && !S_cell_ok(t))
		return S_bad(b, "is a %s, which a TableCell cannot hold",
		    nt->name);

	switch (t) {
	case T_HEADING:
		if (S_fint(b, idx, "level", 1, 6, -1, &n1) == -1)
			return -1;
		if (n1 == -1)
			return S_bad(b, "is a Heading without a level");
		if ((v = S_fstr(b, idx, "id", &s, &len, 0)) == -1)
			return -1;
		if (v == 1 && (len == 0 || len > 200 || memchr(s, '\0', len)))
			return S_bad(b, "has an id that is empty, longer than "
			    "200 bytes or holds a NUL byte");
		if (b->build) {
			n = S_new(b, CMARK_NODE_HEADING, parent);
			cmark_node_set_heading_level(n, (int)n1);
			if (v == 1)
				md_set_id(n, s);
		}
		break;
	case T_CODEBLOCK:
		if (S_fstr(b, idx, "text", &s, &len, 1) == -1 ||
		    S_fstr(b, idx, "info", &s2, &len2, 0) == -1)
			return -1;
		if (b->build) {
			n = S_new(b, CMARK_NODE_CODE_BLOCK, parent);
			cmark_node_set_literal(n, S_cstr(b, s, len));
			cmark_node_set_fence_info(n, S_cstr(b, s2, len2));
		}
		break;
	case T_HTMLBLOCK:
	case T_HTMLINLINE:
	case T_TEXT:
	case T_CODE:
		if (S_fstr(b, idx, "text", &s, &len, 1) == -1)
			return -1;
		if (b->build) {
			n = S_new(b, t == T_TEXT ? CMARK_NODE_TEXT :
			    t == T_CODE ? CMARK_NODE_CODE :
			    t == T_HTMLBLOCK ? CMARK_NODE_HTML_BLOCK :
			    CMARK_NODE_HTML_INLINE, parent);
			cmark_node_set_literal(n, S_cstr(b, s, len));
		}
		break;
	case T_RAWBLOCK:
	case T_RAWINLINE:
		if (S_fstr(b, idx, "html", &s, &len, 1) == -1 ||
		    S_fstr(b, idx, "close", &s2, &len2, 0) == -1)
			return -1;
		if (b->build) {
			n = S_new(b, t == T_RAWBLOCK ? CMARK_NODE_CUSTOM_BLOCK :
			    CMARK_NODE_CUSTOM_INLINE, parent);
			cmark_node_set_on_enter(n, S_cstr(b, s, len));
			cmark_node_set_on_exit(n, S_cstr(b, s2, len2));
		}
		break;
	case T_LIST: {
		int	 ordered, tight;

		if ((ordered = S_fbool(b, idx, "ordered", 0)) == -1 ||
		    (tight = S_fbool(b, idx, "tight", 1)) == -1 ||
		    S_fint(b, idx, "start", 0, 999999999, 1, &n1) == -1 ||
		    S_fstr(b, idx, "delim", &s, &len, 0) == -1)
			return -1;
		if (s != NULL && strcmp(s, "period") && strcmp(s, "paren"))
			return S_bad(b, "has delim \"%.20s\"; use period or "
			    "paren", s);
		if (b->build) {
			n = S_new(b, CMARK_NODE_LIST, parent);
			cmark_node_set_list_type(n, ordered ?
			    CMARK_ORDERED_LIST : CMARK_BULLET_LIST);
			cmark_node_set_list_tight(n, tight);
			cmark_node_set_list_start(n, (int)n1);
			cmark_node_set_list_delim(n, s != NULL &&
			    strcmp(s, "paren") == 0 ? CMARK_PAREN_DELIM :
			    CMARK_PERIOD_DELIM);
		}
		break;
	}
	case T_LINK:
	case T_IMAGE:
		if (S_fstr(b, idx, "url", &s, &len, 1) == -1 ||
		    S_fstr(b, idx, "title", &s2, &len2, 0) == -1)
			return -1;
		if (b->build) {
			n = S_new(b, t == T_LINK ? CMARK_NODE_LINK :
			    CMARK_NODE_IMAGE, parent);
			cmark_node_set_url(n, S_cstr(b, s, len));
			cmark_node_set_title(n, S_cstr(b, s2, len2));
		}
		break;
	case T_TABLE:
		if (S_table_cols(b, idx, &al, &ncols) == -1)
			return -1;
		if (b->build) {
			n = S_new(b, CMARK_NODE_TABLE, parent);
			cmark_gfm_extensions_set_table_columns(n,
			    (uint16_t)ncols);
			cmark_gfm_extensions_set_table_alignments(n,
			    (uint16_t)ncols, al);
		}
		free(al);
		break;
	case T_TABLEROW:
		if ((v = S_fbool(b, idx, "header", 0)) == -1)
			return -1;
		if (b->build) {
			n = S_new(b, CMARK_NODE_TABLE_ROW, parent);
			cmark_gfm_extensions_set_table_row_is_header(n, v);
		}
		break;
	default:
		if (b->build)
			n = S_new(b,
			    t == T_PARAGRAPH ? CMARK_NODE_PARAGRAPH :
			    t == T_BLOCKQUOTE ? CMARK_NODE_BLOCK_QUOTE :
			    t == T_THEMATICBREAK ? CMARK_NODE_THEMATIC_BREAK :
			    t == T_ITEM ? CMARK_NODE_ITEM :
			    t == T_TABLECELL ? CMARK_NODE_TABLE_CELL :
			    t == T_EMPH ? CMARK_NODE_EMPH :
			    t == T_STRONG ? CMARK_NODE_STRONG :
			    t == T_STRIKETHROUGH ? CMARK_NODE_STRIKETHROUGH :
			    t == T_SOFTBREAK ? CMARK_NODE_SOFTBREAK :
			    CMARK_NODE_LINEBREAK, parent);
		break;
	}

	if (nt->child != K_NONE) {
		lua_pushliteral(L, "content");
		switch (lua_rawget(L, idx)) {
		case LUA_TNIL:
			break;
		case LUA_TTABLE:
			rc = S_back_list(b, lua_gettop(L), nt->child, n,
			    depth + 1, t);
			break;
		default:
			rc = S_bad(b, "has a content field that is a %s, not "
			    "a list", luaL_typename(L, -1));
			break;
		}
		lua_pop(L, 1);
	}
	return rc;
}

static int
S_back_list(struct S_back *b, int list, enum S_kind want, cmark_node *parent,
    int depth, enum S_type ptype)
{
	size_t	 i, n = lua_rawlen(b->L, list);
	int	 top = b->top;

	if (!lua_checkstack(b->L, 8))
		return S_bad(b, "is nested too deeply");
	for (i = 1; i <= n; i++) {
		lua_rawgeti(b->L, list, (lua_Integer)i);
		b->top = depth;
		b->at[depth].parent = ptype;
		b->at[depth].index = i;
		b->at[depth].idx = lua_gettop(b->L);
		if (S_back_node(b, lua_gettop(b->L), want, parent, depth,
		    ptype) == -1) {
			lua_pop(b->L, 1);
			return -1;
		}
		lua_pop(b->L, 1);
	}
	b->top = top;
	return 0;
}

/*
 * Protected: check the Document at index 2 (args: S_back lightuserdata,
 * doc, holder) and, when building, put its blocks under a new node
 * stored in *holder.  Pushes 0 or -1.
 */
static int
S_back_doc(lua_State *L)
{
	struct S_back *b = lua_touserdata(L, 1);
	cmark_node **holder = lua_touserdata(L, 3);
	int	 rc;

	lua_pushliteral(L, "t");
	if (lua_type(L, 2) != LUA_TTABLE || lua_rawget(L, 2) != LUA_TSTRING ||
	    strcmp(lua_tostring(L, -1), "Document") != 0) {
		S_bad(b, "the result is not a Document");
		lua_pushinteger(L, -1);
		return 1;
	}
	lua_pop(L, 1);
	if (b->build)
		*holder = cmark_node_new_with_mem(CMARK_NODE_DOCUMENT,
		    b->e->mem);
	lua_pushliteral(L, "content");
	if (lua_rawget(L, 2) != LUA_TTABLE) {
		S_bad(b, "the Document has no content list");
		rc = -1;
	} else
		rc = S_back_list(b, lua_gettop(L), K_BLOCK,
		    b->build ? *holder : NULL, 1, T_DOCUMENT);
	if (b->err.len > 0)
		rc = -1;
	lua_pushinteger(L, rc);
	return 1;
}

/* ---- loading filters ---- */

/*
 * Find or compile filters/NAME.lua, keeping its bytecode.  Return the
 * entry (whose err says what is wrong with the file), or NULL when
 * memory ran out (not cached: it may work next time).
 */
static struct S_chunk *
S_chunk_get(struct filter_env *e, lua_State *L, const char *name)
{
	struct S_chunk *c;
	struct buf code = { 0 };
	struct stat st;
	char	*rel, *abs, *data, *chunkname;
	const char *src;
	size_t	 i, len;
	int	 status;

	for (i = 0; i < e->nchunks; i++)
		if (strcmp(e->chunks[i].name, name) == 0)
			return &e->chunks[i];
	rel = xasprintf("filters/%s.lua", name);
	abs = path_join(e->root, rel);
	e->chunks = xrealloc(e->chunks, (e->nchunks + 1) * sizeof(*e->chunks));
	c = &e->chunks[e->nchunks++];
	memset(c, 0, sizeof(*c));
	c->name = xstrdup(name);
	if (stat(abs, &st) == -1 || !S_ISREG(st.st_mode))
		c->err = xasprintf("no filter \"%s\": %s does not exist",
		    name, rel);
	else if (file_read(abs, &data, &len) == -1)
		c->err = xasprintf("%s: %s", rel, strerror(errno));
	else {
		src = data;
		if (len >= 3 && memcmp(src, "\xef\xbb\xbf", 3) == 0) {
			src += 3;
			len -= 3;
		}
		chunkname = xasprintf("@%s", rel);
		status = luaL_loadbufferx(L, src, len, chunkname, "t");
		free(chunkname);
		free(data);
		if (status == LUA_OK) {
			lua_dump(L, S_writer, &code, 0);
			c->len = code.len;
			c->code = buf_detach(&code);
		} else if (status == LUA_ERRMEM) {
			lua_pop(L, 1);
			free(c->name);
			e->nchunks--;
			c = NULL;
			goto out;
		} else {
			buf_reset(&code);
			S_clean(&code, lua_tostring(L, -1),
			    strlen(lua_tostring(L, -1)));
			c->err = buf_detach(&code);
		}
		lua_pop(L, 1);
	}
out:
	buf_free(&code);
	free(rel);
	free(abs);
	return c;
}

/*
 * Push a function for filters/NAME.lua, or a message and -1.  For a
 * module, a new one each time.  For a filter (shared), the same
 * function every time: one instance of a filter runs at a time, and
 * setting its _ENV upvalue for the next one is all a new instance
 * needs (functions made by the old instance see the new globals, but
 * nothing keeps them past their run).
 */
static int
S_push_chunk(struct filter_env *e, lua_State *L, const char *name,
    int shared)
{
	struct S_chunk *c = S_chunk_get(e, L, name);

	if (c == NULL) {
		lua_pushfstring(L, "filters/%s.lua: not enough memory to load",
		    name);
		return -1;
	}
	if (c->err != NULL) {
		lua_pushstring(L, c->err);
		return -1;
	}
	if (shared && c->ref != 0) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
		return 0;
	}
	/* our own bytecode, from text compiled above */
	if (luaL_loadbufferx(L, c->code, c->len, c->name, "b") != LUA_OK)
		return -1;
	if (shared) {
		lua_pushvalue(L, -1);
		c->ref = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	return 0;
}

/* ---- running ---- */

static int
S_state_new(struct filter_env *e)
{
	size_t	 i;

	for (i = 0; i < e->nchunks; i++)
		e->chunks[i].ref = 0;
	if ((e->L = lua_newstate(S_alloc, e)) == NULL) {
		diag_error(NULL, 0, 0, "filters: cannot create a Lua state");
		return -1;
	}
	lua_atpanic(e->L, S_panic);
	lua_pushcfunction(e->L, S_setup);
	if (lua_pcall(e->L, 0, 0, 0) != LUA_OK) {
		diag_error(NULL, 0, 0, "filters: cannot set up the sandbox: %s",
		    lua_tostring(e->L, -1));
		lua_close(e->L);
		e->L = NULL;
		return -1;
	}
	lua_gc(e->L, LUA_GCCOLLECT);
	return 0;
}

/* The Lua state is made when first needed: most reports have no filters. */
static int
S_ready(struct filter_env *e)
{
	return e->L != NULL ? 0 : S_state_new(e);
}

static long long
S_budget(const struct filter_env *e)
{
	return e->cfg->filter_instructions > 0 ?
	    e->cfg->filter_instructions : 50000000LL;
}

static size_t
S_memory(const struct filter_env *e)
{
	return e->cfg->filter_memory > 0 ?
	    (size_t)e->cfg->filter_memory : (size_t)64 << 20;
}

/* Protected: the front matter (lightuserdata yval or NULL) as a table. */
static int
S_tometa(lua_State *L)
{
	const struct yval *m = lua_touserdata(L, 1);

	if (m != NULL && m->type == YV_MAP)
		S_push_yval(L, m, 0);
	else
		lua_newtable(L);
	return 1;
}

/* Protected: the read-only view of the report (lightuserdata). */
static int
S_report_view(lua_State *L)
{
	struct filter_env *e = S_env(L);
	const struct report *r = lua_touserdata(L, 1);
	const struct site *s = e->site;
	uintptr_t p = (uintptr_t)r, lo, hi;

	if (s != NULL && s->n > 0) {
		lo = (uintptr_t)s->reports;
		hi = (uintptr_t)(s->reports + s->n);
		if (p >= lo && p < hi) {
			lua_rawgeti(L, LUA_REGISTRYINDEX, e->r_reports);
			lua_rawgeti(L, -1, (lua_Integer)(r - s->reports) + 1);
			return 1;
		}
	}
	S_push_report_table(L, r, 0);
	S_ro_wrap(L, -1);
	return 1;
}

/*
 * Protected: a coroutine for one filter, holding prelude.apply, a new
 * instance of the filter in a fresh sandbox, doc and meta.
 * Args: env, name, doc, meta.
 */
static int
S_prepare(lua_State *L)
{
	struct filter_env *e = lua_touserdata(L, 1);
	lua_State *co;

	co = lua_newthread(L);
	lua_rawgeti(L, LUA_REGISTRYINDEX, e->r_prelude);
	lua_getfield(L, -1, "apply");
	lua_remove(L, -2);
	if (S_push_chunk(e, L, lua_tostring(L, 2), 1) == -1)
		return lua_error(L);
	S_push_sandbox(e, L, 0);
	lua_setupvalue(L, -2, 1);
	lua_pushvalue(L, 3);
	lua_pushvalue(L, 4);
	lua_xmove(L, co, 4);
	return 1;
}

/* Diagnose why the coroutine co of the running filter failed. */
static void
S_diag_failure(struct filter_env *e, lua_State *co, int status)
{
	lua_State *L = e->L;
	struct buf msg = { 0 }, loc = { 0 };
	const char *err = NULL;
	size_t	 len = 0;
	int	 line = 0, col = 0, erridx = 0;

	if (!S_location(co, 0, &loc))
		buf_printf(&loc, "filters/%s.lua", e->fname);
	if (status != LUA_OK && status != LUA_YIELD &&
	    lua_type(co, -1) == LUA_TSTRING && lua_checkstack(L, 4)) {
		lua_pushvalue(co, -1);
		lua_xmove(co, L, 1);
		erridx = lua_gettop(L);
		err = lua_tolstring(L, erridx, &len);
	}
	/* where in the Markdown: the node error() named, else the current one */
	if (erridx != 0 && S_state_get(L, "errmsg") != LUA_TNIL &&
	    lua_rawequal(L, -1, erridx)) {
		S_state_get(L, "errnode");
		S_node_pos(L, -1, &line, &col);
		lua_pop(L, 1);
	} else if (lua_checkstack(L, 4))
		S_current_pos(L, &line, &col);
	if (erridx != 0)
		lua_pop(L, 1);
	if (e->exhausted && e->timeout)
		buf_printf(&msg, "%s: stopped after %g seconds, the time "
		    "filters may take per report", buf_cstr(&loc), e->seconds);
	else if (e->exhausted)
		buf_printf(&msg, "%s: stopped: out of instructions (%lld per "
		    "report; see filter_limits in site.yaml)", buf_cstr(&loc),
		    S_budget(e));
	else if (status == LUA_ERRMEM || e->memout)
		buf_printf(&msg, "%s: out of memory (%zu bytes per filter; "
		    "see filter_limits in site.yaml)", buf_cstr(&loc),
		    S_memory(e));
	else if (err == NULL)
		buf_printf(&msg, "%s: error object is not a string",
		    buf_cstr(&loc));
	else {
		if (strncmp(err, "filters/", 8) != 0)
			buf_printf(&msg, "%s: ", buf_cstr(&loc));
		S_clean(&msg, err, len);
	}
	diag_error(e->path, line, col, "%s", buf_cstr(&msg));
	if (erridx != 0)
		lua_pop(L, 1);
	buf_free(&msg);
	buf_free(&loc);
}

/*
 * Check the Document at docidx, or with holder, build its blocks under
 * a new *holder node.  Return 0, or -1 diagnosed against the filter.
 */
static int
S_back(struct filter_env *e, int docidx, cmark_node **holder)
{
	lua_State *L = e->L;
	struct S_back b;
	int	 rc, status;

	memset(&b, 0, sizeof(b));
	b.e = e;
	b.L = L;
	b.build = holder != NULL;
	b.max_bytes = S_memory(e);
	b.max_nodes = S_memory(e) / 64;
	if (e->norig > 0)
		memset(e->taken, 0, e->norig);
	lua_pushcfunction(L, S_back_doc);
	lua_pushlightuserdata(L, &b);
	lua_pushvalue(L, docidx);
	lua_pushlightuserdata(L, holder);
	status = lua_pcall(L, 3, 1, 0);
	rc = status == LUA_OK ? (int)lua_tointeger(L, -1) : -1;
	if (status != LUA_OK && b.err.len == 0)
		buf_puts(&b.err, lua_tostring(L, -1));
	lua_pop(L, 1);
	if (rc != 0) {
		rc = -1;
		diag_error(e->path, b.line, b.col, "filters/%s.lua: invalid "
		    "result: %s", e->fname, buf_cstr(&b.err));
	}
	buf_free(&b.err);
	buf_free(&b.tmp);
	return rc;
}

/*
 * Run one filter over the values at docidx and metaidx, replacing them;
 * check the result unless the build that follows will (last).
 */
static int
S_run_one(struct filter_env *e, const char *name, int docidx, int metaidx,
    int last)
{
	lua_State *L = e->L, *co;
	size_t	 mem = S_memory(e);
	int	 status, nres = 0, rc = 0;

	e->fname = name;
	lua_pushvalue(L, metaidx);
	S_state_set(L, "meta");
	lua_pushcfunction(L, S_prepare);
	lua_pushlightuserdata(L, e);
	lua_pushstring(L, name);
	lua_pushvalue(L, docidx);
	lua_pushvalue(L, metaidx);
	if (lua_pcall(L, 4, 1, 0) != LUA_OK) {
		diag_error(e->path, 0, 0, "%s", lua_tostring(L, -1));
		lua_pop(L, 1);
		return -1;
	}
	co = lua_tothread(L, -1);
	lua_sethook(co, S_hook, LUA_MASKCOUNT, HOOK_EVERY);
	e->cap = e->used > SIZE_MAX - mem ? SIZE_MAX : e->used + mem;
	e->running = 1;
	status = lua_resume(co, L, 3, &nres);
	if (status == LUA_OK && !e->exhausted && nres == 2 &&
	    lua_checkstack(L, 2)) {
		lua_xmove(co, L, 2);
		lua_replace(L, metaidx);
		lua_replace(L, docidx);
	} else {
		/* room to diagnose; then __close handlers run, limited again */
		e->cap = SIZE_MAX;
		S_diag_failure(e, co, status);
		e->cap = e->used > SIZE_MAX - mem ? SIZE_MAX : e->used + mem;
		lua_resetthread(co);
		rc = -1;
	}
	e->running = 0;
	e->cap = SIZE_MAX;
	lua_pop(L, 1);
	if (rc == 0 && !last)
		rc = S_back(e, docidx, NULL);
	return rc;
}

static int
S_run(struct filter_env *e, const struct report *r, const struct yval *meta,
    cmark_node *doc, const char *const *names, size_t n)
{
	lua_State *L = e->L;
	struct S_tolua tl;
	struct S_chunk *c;
	cmark_node *holder = NULL, *ch;
	int	 top = lua_gettop(L), docidx, metaidx, rc = 0;
	size_t	 i;

	e->path = r->path;
	e->failed = e->warnings = 0;
	e->exhausted = e->timeout = e->memout = 0;
	e->budget = S_budget(e);
	e->deadline = now_seconds() + e->seconds;
	e->norig = 0;

	/* every filter must exist and compile before any runs */
	for (i = 0; i < n; i++) {
		if (!S_name_ok(names[i])) {
			diag_error(e->path, 0, 0, "invalid filter name \"%s\": "
			    "names are [a-z0-9_-]+", names[i]);
			rc = -1;
		} else if ((c = S_chunk_get(e, L, names[i])) == NULL) {
			diag_error(e->path, 0, 0, "filters/%s.lua: not enough "
			    "memory to load", names[i]);
			rc = -1;
		} else if (c->err != NULL) {
			diag_error(e->path, 0, 0, "%s", c->err);
			rc = -1;
		}
	}
	if (rc == -1)
		goto out;

	/* math.random gives the same numbers for the same report */
	lua_rawgeti(L, LUA_REGISTRYINDEX, e->r_seed);
	lua_pushinteger(L, 20191231);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK)
		lua_pop(L, 1);

	tl.e = e;
	tl.doc = doc;
	tl.line_off = r->body_line > 0 ? r->body_line - 1 : 0;
	lua_pushcfunction(L, S_tolua);
	lua_pushlightuserdata(L, &tl);
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		diag_error(e->path, 0, 0, "filters: %s", lua_tostring(L, -1));
		rc = -1;
		goto out;
	}
	docidx = lua_gettop(L);
	lua_pushcfunction(L, S_tometa);
	lua_pushlightuserdata(L, (void *)meta);
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		diag_error(e->path, 0, 0, "filters: %s", lua_tostring(L, -1));
		rc = -1;
		goto out;
	}
	metaidx = lua_gettop(L);
	lua_pushcfunction(L, S_report_view);
	lua_pushlightuserdata(L, (void *)r);
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		diag_error(e->path, 0, 0, "filters: %s", lua_tostring(L, -1));
		rc = -1;
		goto out;
	}
	S_state_set(L, "report");
	e->taken = xcalloc(e->norig + 1, 1);

	for (i = 0; i < n && rc == 0; i++)
		rc = S_run_one(e, names[i], docidx, metaidx, i + 1 == n);
	if (rc == 0 && !e->failed) {
		if (S_back(e, docidx, &holder) == -1)
			rc = -1;
		else {
			/* the old blocks go, the new ones come in */
			while ((ch = cmark_node_first_child(doc)) != NULL) {
				cmark_node_unlink(ch);
				md_free(ch);
			}
			/* cmark refuses nodes of another allocator. */
			while ((ch = cmark_node_first_child(holder)) != NULL)
				if (!cmark_node_append_child(doc, ch)) {
					diag_error(r->path, 0, 0, "filters: "
					    "cannot move the new blocks into "
					    "the document (a bug)");
					rc = -1;
					break;
				}
		}
	}
	if (holder != NULL)
		md_free(holder);
	if (e->failed)
		rc = -1;
out:
	lua_settop(L, top);
	lua_rawgeti(L, LUA_REGISTRYINDEX, e->r_state);
	for (i = 0; i < 5; i++) {
		static const char *const keys[] = {
			"node", "errmsg", "errnode", "meta", "report"
		};

		lua_pushnil(L);
		lua_setfield(L, -2, keys[i]);
	}
	lua_pop(L, 1);
	free(e->taken);
	e->taken = NULL;
	e->norig = 0;
	yval_free(e->tmp_yval);
	e->tmp_yval = NULL;
	e->path = NULL;
	e->fname = NULL;
	return rc;
}

/* ---- the public interface ---- */

struct filter_env *
filter_env_new(const char *root, const struct config *cfg,
    const struct site *site)
{
	struct filter_env *e = xcalloc(1, sizeof(*e));

	e->root = xstrdup(root);
	e->cfg = cfg;
	e->site = site;
	e->cap = SIZE_MAX;
	e->seconds = DEFAULT_SECONDS;
	md_extensions();	/* registers cmark-gfm's extensions */
	e->table_ext = cmark_find_syntax_extension("table");
	e->strike_ext = cmark_find_syntax_extension("strikethrough");
	return e;
}

void
filter_env_free(struct filter_env *e)
{
	size_t	 i;

	if (e == NULL)
		return;
	if (e->L != NULL)
		lua_close(e->L);
	for (i = 0; i < e->nchunks; i++) {
		free(e->chunks[i].name);
		free(e->chunks[i].code);
		free(e->chunks[i].err);
	}
	free(e->chunks);
	lpool_free(&e->pool);
	free(e->orig);
	free(e->taken);
	yval_free(e->tmp_yval);
	buf_free(&e->scratch);
	free(e->root);
	free(e);
}

void
filter_env_time_limit(struct filter_env *e, double seconds)
{
	e->seconds = seconds > 0 ? seconds : DEFAULT_SECONDS;
}

/* S_run with a landing place for a Lua panic, which should never come. */
static int
S_guarded(struct filter_env *e, const struct report *r,
    const struct yval *meta, cmark_node *doc, const char *const *names,
    size_t n)
{
	jmp_buf	 jb;
	int	 rc;

	e->panic = &jb;
	if (setjmp(jb) == 0)
		rc = S_run(e, r, meta, doc, names, n);
	else {
		/* the state cannot be trusted now: drop it, make a new one */
		e->L = NULL;
		e->running = 0;
		e->cap = SIZE_MAX;
		diag_error(r->path, 0, 0, "filters: internal error (Lua panic)");
		rc = -1;
	}
	e->panic = NULL;
	return rc;
}

int
filter_run(struct filter_env *e, const struct report *r,
    const struct yval *meta, struct cmark_node *doc)
{
	const char **names;
	size_t	 n = 0, i;
	int	 rc;

	if (e->cfg->nfilters + r->nfilters == 0)
		return 0;
	if (S_ready(e) == -1) {
		diag_error(r->path, 0, 0, "filters cannot run: the Lua "
		    "sandbox could not be set up");
		return -1;
	}
	/* a filter named twice (site and report) runs once, at its first place */
	names = xcalloc(e->cfg->nfilters + r->nfilters, sizeof(*names));
	for (i = 0; i < e->cfg->nfilters + r->nfilters; i++) {
		const char *name = i < e->cfg->nfilters ? e->cfg->filters[i] :
		    r->filters[i - e->cfg->nfilters];
		size_t	 k;

		for (k = 0; k < n && strcmp(names[k], name) != 0; k++)
			;
		if (k == n)
			names[n++] = name;
	}
	/* New nodes must share the document's allocator (markdown.h). */
	e->mem = md_mem(doc);
	rc = S_guarded(e, r, meta, doc, names, n);
	e->mem = NULL;
	free(names);
	return rc;
}

int
filter_check(struct filter_env *e, const char *name, const char *referrer,
    int line, int col)
{
	struct S_chunk *c;

	if (!S_name_ok(name)) {
		diag_error(referrer, line, col, "invalid filter name \"%s\": "
		    "names are [a-z0-9_-]+", name);
		return -1;
	}
	if (S_ready(e) == -1)
		return -1;
	if ((c = S_chunk_get(e, e->L, name)) == NULL) {
		diag_error(referrer, line, col, "filters/%s.lua: not enough "
		    "memory to load", name);
		return -1;
	}
	if (c->err != NULL) {
		diag_error(referrer, line, col, "%s", c->err);
		return -1;
	}
	return 0;
}

static int
S_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
filter_hash(const char *root, uint8_t out[32])
{
	static const char version[] = "fazhi-filters-1";
	struct sha256 h;
	struct dirent *de;
	DIR	*d;
	char	*dir = path_join(root, "filters"), **names = NULL, *p, *data;
	size_t	 n = 0, i, len, k;
	uint8_t	 lenb[8];
	int	 rc = 0;

	sha256_init(&h);
	sha256_update(&h, version, sizeof(version));
	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			len = strlen(de->d_name);
			if (len > 4 && strcmp(de->d_name + len - 4, ".lua") == 0) {
				names = xrealloc(names, (n + 1) * sizeof(*names));
				names[n++] = xstrdup(de->d_name);
			}
		}
		closedir(d);
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), S_strcmp);
	for (i = 0; i < n; i++) {
		p = path_join(dir, names[i]);
		if (file_read(p, &data, &len) == -1) {
			diag_error(NULL, 0, 0, "filters/%s: cannot read: %s",
			    names[i], strerror(errno));
			rc = -1;
		} else {
			for (k = 0; k < 8; k++)
				lenb[k] = (uint8_t)(len >> (8 * k));
			sha256_update(&h, names[i], strlen(names[i]) + 1);
			sha256_update(&h, lenb, sizeof(lenb));
			sha256_update(&h, data, len);
			free(data);
		}
		free(p);
		free(names[i]);
	}
	free(names);
	free(dir);
	sha256_final(&h, out);
	return rc;
}
