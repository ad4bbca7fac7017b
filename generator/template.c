/*
 * template.c: compiling theme templates to Lua and running them.
 *
 * A template becomes one Lua chunk whose body appends to the output
 * through two C functions, __o (as is) and __e (HTML-escaped), passed
 * in as locals so that no global lookup is made per write:
 *
 *   line 1: local _ENV,__o,__e,__T,__W=...;__o("<h1>");__e(title);…
 *
 * Template text becomes Lua string literals in which every newline is
 * written as a backslash and a real newline, and tag code is copied
 * with its newlines, so line N of the template stays on line N of the
 * chunk and Lua's messages point at template lines.
 *
 * Renders run in a coroutine: the count hook yields it when the
 * instruction budget is spent and the coroutine is never resumed,
 * which, with pcall out of reach, stops any loop.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "buf.h"
#include "diag.h"
#include "template.h"
#include "util.h"

/* Bump when the generated Lua changes, so cached pages are redone. */
#define TMPL_VERSION	"fazhi-tmpl-3"
#define PROLOGUE	"local _ENV,__o,__e,__T,__W,__w,__B=...;"
#define HOOK_EVERY	1000	/* instructions between budget checks */
#define JSON_DEPTH	64
#define NONE		((size_t)-1)

struct incl {
	char	*name;		/* the included template's name */
	int	 line;		/* position of the include tag */
	int	 col;
	size_t	 target;	/* index in the set, or NONE */
	int	 extends;	/* 1: {% extends %}, 0: {% include %} */
};

/* A {% block NAME %} of a template. */
struct tblock {
	char	*name;
	int	 line;		/* position of the block tag */
	int	 col;
	int	 define;	/* 1: an override (top level of an extending
				   template), 0: a place that can be filled */
	int	 open;		/* its endblock not seen yet */
};

struct tmpl {
	char		*name;	/* file name in templates/: report.html */
	char		*path;	/* relative to ROOT: themes/T/templates/report.html */
	char		*chunk;	/* "@" path: the Lua chunk name */
	char		*src;	/* template bytes */
	size_t		 srclen;
	struct buf	 lua;	/* generated chunk */
	struct incl	*incs;	/* include tags, in order */
	size_t		 nincs;
	size_t		 ext;	/* the extends entry in incs, or NONE */
	struct tblock	*blocks; /* block tags, in order */
	size_t		 nblocks;
	size_t		 depth;	/* blocks open while translating */
	int		 extending; /* its first tag is an extends */
	int		 bad;	/* 1 if diagnosed: not syntax-checked */
	int		 mark;	/* cycle search: 0 new, 1 on the path, 2 done */
};

struct tmpl_set {
	struct tmpl	*v;	/* sorted by name */
	size_t		 n;
};

/*
 * {% include "NAME.html" cached K, … %}: a worker renders the include
 * once per distinct key and reuses its output.  Bounded: past
 * CACHE_ENTRIES entries or CACHE_BYTES bytes the cache starts over.
 */
#define CACHE_ENTRIES	256
#define CACHE_BYTES	(4 * 1024 * 1024)
#define CACHE_DEPTH	8	/* cached includes inside cached includes */

struct S_cache {
	char		*key;	/* NULL: empty slot */
	size_t		 klen;
	uint64_t	 hash;
	char		*val;
	size_t		 vlen;
};

struct S_capture {
	char		*key;	/* owned */
	size_t		 klen;
	uint64_t	 hash;
	size_t		 start;	/* where its output starts in env->out */
};

struct tmpl_env {
	lua_State		*L;	/* main thread: loaded chunks live here */
	lua_State		*co;	/* the thread renders run in */
	const struct tmpl_set	*set;
	int			*fnref;	/* registry refs of the chunks, by set index */
	int			 href;	/* helpers table */
	int			 mtref;	/* metatable of render environments */
	int			 tref;	/* read-only name → chunk table, for includes */
	int			 coref;	/* keeps co alive */
	struct buf		*out;	/* where __o and __e write, during a render */
	struct buf		 scratch; /* for helpers that build a string */
	size_t			 mem;	/* bytes allocated by the Lua state */
	struct lpool		 pool;	/* its blocks */
	long			 steps;	/* instructions run by this render */
	int			 overrun; /* the budget ran out in this render */
	const char		*stop_src; /* where it ran out: chunk name */
	int			 stop_line;
	struct S_cache		*cache;	/* cached includes' output, by key */
	size_t			 ncache, capcache; /* entries; slots (power of 2) */
	size_t			 cache_bytes;
	struct S_capture	 capt[CACHE_DEPTH]; /* cached includes rendering */
	int			 ncapt;
	struct buf		 ckey;	/* the key being looked up */
};

#define S_ENV(L)	(*(struct tmpl_env **)lua_getextraspace(L))

/* ---- translating a template to Lua ---- */

enum tag {
	TAG_EXPR,	/* {{ }} */
	TAG_RAW,	/* {{{ }}} */
	TAG_STMT,	/* {% %} */
	TAG_COMMENT	/* {# #} */
};

static void
S_position(const char *s, size_t off, int *line, int *col)
{
	size_t	 i, bol = 0;
	int	 l = 1;

	for (i = 0; i < off; i++)
		if (s[i] == '\n') {
			l++;
			bol = i + 1;
		}
	*line = l;
	*col = (int)utf8_columns(s + bol, off - bol) + 1;
}

static int
S_at(const char *s, size_t n, size_t p, const char *w)
{
	size_t	 k = strlen(w);

	return p <= n && n - p >= k && memcmp(s + p, w, k) == 0;
}

static void
S_put_newlines(struct buf *o, const char *s, size_t a, size_t b)
{
	for (; a < b; a++)
		if (s[a] == '\n')
			buf_putc(o, '\n');
}

/*
 * A Lua string literal.  A newline is written as a backslash and a
 * real newline, which Lua reads as "\n" while counting the line.
 */
static void
S_put_lstr(struct buf *o, const char *s, size_t n)
{
	size_t	 i, run;
	unsigned char c;

	buf_putc(o, '"');
	for (i = 0; i < n; ) {
		for (run = i; run < n; run++) {
			c = (unsigned char)s[run];
			if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
				break;
		}
		buf_put(o, s + i, run - i);
		if ((i = run) == n)
			break;
		c = (unsigned char)s[i++];
		if (c == '\n')
			buf_puts(o, "\\\n");
		else if (c == '"' || c == '\\') {
			buf_putc(o, '\\');
			buf_putc(o, c);
		} else
			buf_printf(o, "\\%03u", c);
	}
	buf_putc(o, '"');
}

/* Skip spaces and tabs after a "-}}" and then one line break. */
static size_t
S_trim_fwd(const char *s, size_t a, size_t lim)
{
	while (a < lim && (s[a] == ' ' || s[a] == '\t'))
		a++;
	if (a < lim && s[a] == '\n')
		a++;
	else if (a + 1 < lim && s[a] == '\r' && s[a + 1] == '\n')
		a += 2;
	return a;
}

/* Drop spaces and tabs before a "{{-" and then one line break. */
static size_t
S_trim_back(const char *s, size_t lo, size_t b)
{
	while (b > lo && (s[b - 1] == ' ' || s[b - 1] == '\t'))
		b--;
	if (b > lo && s[b - 1] == '\n') {
		b--;
		if (b > lo && s[b - 1] == '\r')
			b--;
	}
	return b;
}

/* The next tag opener at or after p, or n. */
static size_t
S_find_open(const char *s, size_t n, size_t p)
{
	const char *q;

	while (p + 1 < n) {
		if ((q = memchr(s + p, '{', n - p - 1)) == NULL)
			return n;
		p = q - s;
		if (s[p + 1] == '{' || s[p + 1] == '%' || s[p + 1] == '#')
			return p;
		p++;
	}
	return n;
}

/* Length of a long bracket "[", "="*, "[" at p, and its level; 0 if none. */
static size_t
S_long_open(const char *s, size_t n, size_t p, size_t *level)
{
	size_t	 q;

	if (p >= n || s[p] != '[')
		return 0;
	for (q = p + 1; q < n && s[q] == '='; q++)
		continue;
	if (q >= n || s[q] != '[')
		return 0;
	*level = q - p - 1;
	return q - p + 1;
}

/* Offset just past the "]", "="*, "]" closing a long bracket, or NONE. */
static size_t
S_long_close(const char *s, size_t n, size_t p, size_t level)
{
	size_t	 q;

	for (; p < n; p++) {
		if (s[p] != ']')
			continue;
		for (q = p + 1; q < n && s[q] == '='; q++)
			continue;
		if ((size_t)(q - p - 1) == level && q < n && s[q] == ']')
			return q + 1;
	}
	return NONE;
}

/*
 * Scan the Lua code of a tag from p up to its closing delimiter close,
 * skipping strings and long brackets (which may contain the delimiter)
 * and counting braces.  Append the code to c without its comments
 * (their newlines kept).  Return the offset past the delimiter, or
 * NONE if the tag is not closed.
 */
static size_t
S_scan_code(const char *s, size_t n, size_t p, const char *close,
    struct buf *c, int *rtrim)
{
	size_t	 cl = strlen(close), depth = 0, q, m, level;

	*rtrim = 0;
	while (p < n) {
		if (depth == 0) {
			if (s[p] == '-' && S_at(s, n, p + 1, close)) {
				*rtrim = 1;
				return p + 1 + cl;
			}
			if (S_at(s, n, p, close))
				return p + cl;
		}
		switch (s[p]) {
		case '"':
		case '\'':
			for (q = p + 1; q < n && s[q] != s[p] && s[q] != '\n'; q++)
				if (s[q] == '\\' && q + 1 < n)
					q++;
			if (q < n && s[q] == s[p])
				q++;
			buf_put(c, s + p, q - p);
			p = q;
			continue;
		case '[':
			if ((m = S_long_open(s, n, p, &level)) == 0)
				break;
			if ((q = S_long_close(s, n, p + m, level)) == NONE)
				return NONE;
			buf_put(c, s + p, q - p);
			p = q;
			continue;
		case '-':
			if (p + 1 >= n || s[p + 1] != '-')
				break;
			if ((m = S_long_open(s, n, p + 2, &level)) != 0) {
				q = S_long_close(s, n, p + 2 + m, level);
				if (q == NONE)
					return NONE;
			} else
				for (q = p + 2; q < n && s[q] != '\n' &&
				    !S_at(s, n, q, close) &&
				    !(s[q] == '-' && S_at(s, n, q + 1, close)); q++)
					continue;
			buf_putc(c, ' ');
			S_put_newlines(c, s, p, q);
			p = q;
			continue;
		case '{':
			depth++;
			break;
		case '}':
			if (depth > 0)
				depth--;
			break;
		case '\r':
			/* Lua counts a lone CR as a line; we count only LF. */
			if (p + 1 >= n || s[p + 1] != '\n') {
				buf_putc(c, ' ');
				p++;
				continue;
			}
			break;
		default:
			break;
		}
		buf_putc(c, s[p]);
		p++;
	}
	return NONE;
}

static int
S_blank(const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			return 0;
	return 1;
}

static size_t
S_skip_ws(const char *s, size_t n, size_t p)
{
	while (p < n && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' ||
	    s[p] == '\r'))
		p++;
	return p;
}

static int
S_word_end(const char *s, size_t n, size_t p)
{
	return p >= n || !((s[p] >= 'a' && s[p] <= 'z') ||
	    (s[p] >= 'A' && s[p] <= 'Z') || (s[p] >= '0' && s[p] <= '9') ||
	    s[p] == '_');
}

/*
 * The template name quoted at c[q] in a tag (c[q] is the quote): a
 * file NAME.html of the same directory.  Return it, with *end at its
 * closing quote, or NULL if diagnosed (tag names the tag).
 */
static char *
S_tmpl_name(struct tmpl *t, const char *c, size_t n, size_t q,
    const char *tag, int line, int col, size_t *end)
{
	size_t	 e;
	char	*name;

	for (e = q + 1; e < n && c[e] != c[q] && c[e] != '\n' &&
	    c[e] != '\\'; e++)
		continue;
	if (e >= n || c[e] != c[q]) {
		diag_error(t->path, line, col,
		    "%s: the template name must be a plain quoted string", tag);
		return NULL;
	}
	name = xstrndup(c + q + 1, e - q - 1);
	if (!path_is_safe(name) || strchr(name, '/') != NULL ||
	    e - q - 1 <= 5 || strcmp(name + (e - q - 1) - 5, ".html") != 0) {
		diag_error(t->path, line, col, "%s: '%s' is not a "
		    "template name (NAME.html, in the same templates "
		    "directory)", tag, name);
		free(name);
		return NULL;
	}
	*end = e;
	return name;
}

/* Record an include or extends of name (taken over); return its index. */
static size_t
S_add_incl(struct tmpl *t, char *name, int line, int col, int extends)
{
	struct incl *inc;

	t->incs = xrealloc(t->incs, (t->nincs + 1) * sizeof(*t->incs));
	inc = &t->incs[t->nincs];
	inc->name = name;
	inc->line = line;
	inc->col = col;
	inc->target = NONE;
	inc->extends = extends;
	return t->nincs++;
}

/*
 * If the statement code c is an include, emit it and record it.
 * Return 1 if it was one, 0 if it is ordinary Lua, -1 on a malformed
 * include (diagnosed).
 */
static int
S_include(struct tmpl *t, const char *c, size_t n, int line, int col)
{
	struct buf *o = &t->lua;
	size_t	 p, q, ns, ne;
	char	*name;

	p = S_skip_ws(c, n, 0);
	if (!S_at(c, n, p, "include"))
		return 0;
	p += 7;
	q = S_skip_ws(c, n, p);
	if (q >= n || (c[q] != '"' && c[q] != '\''))
		return 0;
	if ((name = S_tmpl_name(t, c, n, q, "include", line, col, &ne)) ==
	    NULL)
		return -1;
	ns = q + 1;
	p = S_skip_ws(c, n, ne + 1);
	if (p >= n || S_at(c, n, p, "with")) {
		buf_puts(o, "__T[");
		S_put_lstr(o, name, ne - ns);
	}
	if (p >= n) {
		buf_puts(o, "](_ENV,__o,__e,__T,__W,__w);");
		S_put_newlines(o, c, 0, n);
	} else if (S_at(c, n, p, "with") && !S_blank(c + p + 4, n - p - 4) &&
	    (c[p + 4] == '{' || c[p + 4] == '(' || S_word_end(c, n, p + 4))) {
		buf_puts(o, "](__W(_ENV,");
		S_put_newlines(o, c, 0, p);
		buf_put(o, c + p + 4, n - p - 4);
		buf_puts(o, "),__o,__e,__T,__W,__w);");
	} else if (S_at(c, n, p, "cached") && S_word_end(c, n, p + 6) &&
	    !S_blank(c + p + 6, n - p - 6)) {
		/* __T[1] looks the key up; __T[2] keeps what was rendered. */
		buf_puts(o, "if __T[1](");
		S_put_lstr(o, name, ne - ns);
		buf_puts(o, ",");
		S_put_newlines(o, c, 0, p);
		buf_put(o, c + p + 6, n - p - 6);
		buf_puts(o, ") then __T[");
		S_put_lstr(o, name, ne - ns);
		buf_puts(o, "](_ENV,__o,__e,__T,__W,__w);__T[2]() end;");
	} else {
		diag_error(t->path, line, col, "include \"%s\": expected the "
		    "end of the tag, 'with' and a table, or 'cached' and a key "
		    "after the name", name);
		free(name);
		return -1;
	}
	S_add_incl(t, name, line, col, 0);
	return 1;
}

/* The name of a block tag at c[p..n): an identifier, then the end. */
static const char *
S_block_name(const char *c, size_t n, size_t p, size_t *len)
{
	size_t	 q;

	p = S_skip_ws(c, n, p);
	for (q = p; q < n && (c[q] == '_' || (c[q] >= 'a' && c[q] <= 'z') ||
	    (c[q] >= 'A' && c[q] <= 'Z') || (q > p && c[q] >= '0' &&
	    c[q] <= '9')); q++)
		continue;
	if (!S_blank(c + q, n - q))
		return NULL;
	*len = q - p;
	return c + p;
}

/*
 * Template inheritance, as in Jinja and Zola's Tera (Hugo's baseof):
 *
 *	{% extends "_base.html" %}	first tag of a template
 *	{% block NAME %} … {% endblock %}
 *
 * In a template that extends another, a block at the top level is an
 * override: the chunk stores it as a function in __B (the first stored
 * wins, so the most derived template's does) and ends by running its
 * parent with __B.  Anywhere else a block is a place: it runs the
 * override if there is one, else its own body.  Only blocks may write
 * output in an extending template; Lua statements outside them run
 * first.  Overrides see the template's variables, not the parent's
 * locals.  Return 1 if c was one of these tags, 0 if not, -1 on an
 * error (diagnosed).
 */
static int
S_inherit(struct tmpl *t, const char *c, size_t n, int line, int col)
{
	struct buf *o = &t->lua;
	struct tblock *b;
	size_t	 p, q, len, k;
	const char *name;
	char	*pname;
	int	 rc = 0;

	p = S_skip_ws(c, n, 0);
	if (S_at(c, n, p, "endblock") && S_word_end(c, n, p + 8)) {
		for (k = t->nblocks; k > 0 && !t->blocks[k - 1].open; k--)
			continue;
		if (k == 0) {
			diag_error(t->path, line, col,
			    "endblock: no block is open");
			return -1;
		}
		b = &t->blocks[k - 1];
		/* Closed even when misnamed: one error, not two. */
		b->open = 0;
		t->depth--;
		buf_puts(o, b->define ? " end end;" : " end;");
		S_put_newlines(o, c, 0, n);
		if ((name = S_block_name(c, n, p + 8, &len)) == NULL ||
		    (len > 0 && (len != strlen(b->name) ||
		    memcmp(name, b->name, len) != 0))) {
			diag_error(t->path, line, col, "endblock: expected "
			    "'endblock' or 'endblock %s' (the block opened at "
			    "line %d)", b->name, b->line);
			return -1;
		}
		return 1;
	}
	if (S_at(c, n, p, "block") && S_word_end(c, n, p + 5) &&
	    !S_blank(c + p + 5, n - p - 5)) {
		/* A bad block is still opened, for its endblock. */
		if ((name = S_block_name(c, n, p + 5, &len)) == NULL ||
		    len == 0) {
			diag_error(t->path, line, col, "block: expected a "
			    "name (letters, digits and '_') and the end of "
			    "the tag");
			rc = -1;
			name = "";
			len = 0;
		}
		for (k = 0; rc == 0 && k < t->nblocks; k++)
			if (strlen(t->blocks[k].name) == len &&
			    memcmp(t->blocks[k].name, name, len) == 0) {
				diag_error(t->path, line, col, "block '%.*s' "
				    "is already defined at line %d", (int)len,
				    name, t->blocks[k].line);
				rc = -1;
			}
		t->blocks = xrealloc(t->blocks,
		    (t->nblocks + 1) * sizeof(*t->blocks));
		b = &t->blocks[t->nblocks++];
		b->name = xstrndup(name, len);
		b->line = line;
		b->col = col;
		b->define = t->ext != NONE && t->depth == 0;
		b->open = 1;
		t->depth++;
		if (b->define) {
			buf_puts(o, "if not __B[");
			S_put_lstr(o, b->name, len);
			buf_puts(o, "] then __B[");
			S_put_lstr(o, b->name, len);
			buf_puts(o, "]=function() ");
		} else {
			buf_puts(o, "if __B and __B[");
			S_put_lstr(o, b->name, len);
			buf_puts(o, "] then __B[");
			S_put_lstr(o, b->name, len);
			buf_puts(o, "]() else ");
		}
		S_put_newlines(o, c, 0, n);
		return rc == 0 ? 1 : -1;
	}
	if (!S_at(c, n, p, "extends") || !S_word_end(c, n, p + 7))
		return 0;
	q = S_skip_ws(c, n, p + 7);
	if (q >= n || (c[q] != '"' && c[q] != '\'')) {
		diag_error(t->path, line, col,
		    "extends: expected a quoted template name");
		return -1;
	}
	if ((pname = S_tmpl_name(t, c, n, q, "extends", line, col, &p)) ==
	    NULL)
		return -1;
	if (!S_blank(c + p + 1, n - p - 1)) {
		diag_error(t->path, line, col, "extends: the template name "
		    "must be a plain quoted string, alone in the tag");
		free(pname);
		return -1;
	}
	if (t->ext != NONE || !t->extending) {
		diag_error(t->path, line, col, "extends must be the first "
		    "tag of the template, before any text, block or output%s",
		    t->ext != NONE ? " (and only once)" : "");
		free(pname);
		return -1;
	}
	t->ext = S_add_incl(t, pname, line, col, 1);
	buf_puts(o, "__B=__B or {};");
	S_put_newlines(o, c, 0, n);
	return 1;
}

/*
 * Output calls are batched: consecutive text and {{ }} / {{{ }}} tags
 * whose expressions call no function become one call
 * __w(raw, esc, raw, esc, …) (odd arguments written as is, even ones
 * escaped), which saves a C call per item.  An expression that calls
 * a function ends the batch: a function defined by the template may
 * write output itself, and that must follow the text before it.
 */
struct run {
	struct buf	 args;	/* the arguments so far, comma-separated */
	size_t		 nargs;
};

#define RUN_MAX	100	/* arguments per call, well under Lua's limits */

static void
S_run_flush(struct buf *o, struct run *r)
{
	const char *a = buf_cstr(&r->args);

	if (r->nargs == 0)
		return;
	if (r->nargs == 1) {
		buf_puts(o, "__o(");
		buf_put(o, a, r->args.len);
	} else if (r->nargs == 2 && strncmp(a, "nil,", 4) == 0) {
		buf_puts(o, "__e(");
		buf_put(o, a + 4, r->args.len - 4);
	} else {
		buf_puts(o, "__w(");
		buf_put(o, a, r->args.len);
	}
	buf_puts(o, ");");
	buf_reset(&r->args);
	r->nargs = 0;
}

/* Make the next argument slot one that escapes, or not. */
static void
S_run_slot(struct buf *o, struct run *r, int esc)
{
	if (r->nargs + 2 > RUN_MAX)
		S_run_flush(o, r);
	if ((r->nargs % 2 == 1) != esc) {
		buf_puts(&r->args, r->nargs ? ",nil" : "nil");
		r->nargs++;
	}
	if (r->nargs)
		buf_putc(&r->args, ',');
	r->nargs++;
}

/* Newlines go where the code is being written, to keep lines. */
static void
S_run_newlines(struct buf *o, struct run *r, const char *s, size_t a,
    size_t b)
{
	S_put_newlines(r->nargs ? &r->args : o, s, a, b);
}

/* Might the expression call a function?  Metamethods aside. */
static int
S_calls(const char *c, size_t n)
{
	size_t	 p, q, m, level, w;
	int	 prev = 0;	/* last significant character */

	for (p = 0; p < n; ) {
		if (c[p] == '(' || c[p] == '{')
			return 1;
		m = c[p] == '[' ? S_long_open(c, n, p, &level) : 0;
		if (c[p] == '"' || c[p] == '\'' || m) {
			/* f"x", f[[x]], t[1]"x", f()"x" are calls. */
			if (prev == ')' || prev == ']' || prev == 'a')
				return 1;
			if (m)
				q = S_long_close(c, n, p + m, level);
			else {
				for (q = p + 1; q < n && c[q] != c[p]; q++)
					if (c[q] == '\\')
						q++;
				q++;
			}
			if (q == NONE || q > n)
				return 1;
			p = q;
			prev = '"';
			continue;
		}
		if (!S_word_end(c, n, p)) {
			for (w = p; !S_word_end(c, n, p); p++)
				continue;
			/* After an operator word a string is an operand. */
			prev = (p - w == 3 && memcmp(c + w, "and", 3) == 0) ||
			    (p - w == 2 && memcmp(c + w, "or", 2) == 0) ||
			    (p - w == 3 && memcmp(c + w, "not", 3) == 0) ?
			    '+' : c[w] >= '0' && c[w] <= '9' ? '0' : 'a';
			continue;
		}
		if (c[p] != ' ' && c[p] != '\t' && c[p] != '\n' && c[p] != '\r')
			prev = c[p];
		p++;
	}
	return 0;
}

/* Is the first tag of s[i..n), comments and white space aside, an extends? */
static int
S_extends_first(const char *s, size_t n, size_t i)
{
	size_t	 p;

	for (;;) {
		i = S_skip_ws(s, n, i);
		if (i + 1 >= n || s[i] != '{')
			return 0;
		if (s[i + 1] == '#') {
			for (p = i + 2; p + 1 < n &&
			    !(s[p] == '#' && s[p + 1] == '}'); p++)
				continue;
			if (p + 1 >= n)
				return 0;
			i = p + 2;
			continue;
		}
		if (s[i + 1] != '%')
			return 0;
		p = i + 2;
		if (p < n && s[p] == '-')
			p++;
		p = S_skip_ws(s, n, p);
		return S_at(s, n, p, "extends") && S_word_end(s, n, p + 7);
	}
}

/* Translate t->src into t->lua.  Return 0, or -1 if diagnosed. */
static int
S_translate(struct tmpl *t)
{
	const char *s = t->src, *close;
	struct buf *o = &t->lua, code = { 0 };
	struct run run = { { 0 }, 0 };
	size_t	 n = t->srclen, i = 0, j, a, b, k, open, nl = 0;
	enum tag kind;
	int	 rtrim = 0, ltrim, line, col, rc = 0, esc, r;

	buf_puts(o, PROLOGUE);
	if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		i = 3;	/* a byte order mark is not page text */
	t->ext = NONE;
	t->depth = 0;
	t->extending = S_extends_first(s, n, i);
	for (;;) {
		j = S_find_open(s, n, i);
		kind = TAG_EXPR;
		open = 2;
		ltrim = 0;
		if (j < n) {
			if (s[j + 1] == '%')
				kind = TAG_STMT;
			else if (s[j + 1] == '#')
				kind = TAG_COMMENT;
			else if (j + 2 < n && s[j + 2] == '{') {
				kind = TAG_RAW;
				open = 3;
			}
			ltrim = j + open < n && s[j + open] == '-';
		}

		/* The text before the tag, trimmed as the tags ask. */
		a = rtrim ? S_trim_fwd(s, i, j) : i;
		b = ltrim ? S_trim_back(s, a, j) : j;
		S_run_newlines(o, &run, s, i, a);
		if (a < b && t->extending && t->depth == 0) {
			/* Only blocks show in a template that extends. */
			if (!S_blank(s + a, b - a)) {
				S_position(s, S_skip_ws(s, b, a), &line, &col);
				diag_error(t->path, line, col, "text outside "
				    "a block: a template that extends another "
				    "shows only its blocks");
				rc = -1;
			}
			S_run_newlines(o, &run, s, a, b);
		} else if (a < b) {
			S_run_slot(o, &run, 0);
			S_put_lstr(&run.args, s + a, b - a);
		}
		S_run_newlines(o, &run, s, b, j);
		if (j >= n)
			break;

		S_position(s, j, &line, &col);
		i = j + open + ltrim;
		if (kind == TAG_COMMENT) {
			for (k = i; k + 1 < n && !(s[k] == '#' && s[k + 1] == '}'); k++)
				continue;
			if (k + 1 >= n) {
				diag_error(t->path, line, col,
				    "unclosed '{#' comment (no '#}' follows)");
				rc = -1;
				break;
			}
			rtrim = k > i && s[k - 1] == '-';
			S_run_newlines(o, &run, s, i, k);
			i = k + 2;
			continue;
		}
		close = kind == TAG_RAW ? "}}}" : kind == TAG_STMT ? "%}" : "}}";
		buf_reset(&code);
		k = S_scan_code(s, n, i, close, &code, &rtrim);
		if (k == NONE) {
			diag_error(t->path, line, col, "unclosed '%.*s' (no "
			    "matching '%s' follows)", (int)open, s + j, close);
			rc = -1;
			break;
		}
		i = k;
		if (kind == TAG_STMT) {
			S_run_flush(o, &run);
			r = S_inherit(t, buf_cstr(&code), code.len, line, col);
			if (r == 0) {
				r = S_include(t, buf_cstr(&code), code.len,
				    line, col);
				if (r == 1 && t->extending && t->depth == 0) {
					diag_error(t->path, line, col,
					    "include outside a block: a "
					    "template that extends another "
					    "shows only its blocks");
					rc = -1;
				}
			}
			switch (r) {
			case 1:
				continue;
			case -1:
				rc = -1;
				S_put_newlines(o, code.data, 0, code.len);
				continue;
			default:
				break;
			}
			buf_put(o, code.data, code.len);
			if (!S_blank(code.data, code.len))
				buf_putc(o, ';');
			continue;
		}
		if (S_blank(buf_cstr(&code), code.len)) {
			diag_error(t->path, line, col, "empty '%.*s %s'",
			    (int)open, s + j, close);
			rc = -1;
			S_run_newlines(o, &run, code.data, 0, code.len);
			continue;
		}
		esc = kind == TAG_EXPR;
		if (t->extending && t->depth == 0) {
			diag_error(t->path, line, col, "'%.*s %s' outside a "
			    "block: a template that extends another shows "
			    "only its blocks", (int)open, s + j, close);
			rc = -1;
			S_run_newlines(o, &run, code.data, 0, code.len);
			continue;
		}
		if (S_calls(code.data, code.len)) {
			S_run_flush(o, &run);
			buf_puts(o, esc ? "__e(" : "__o(");
			buf_put(o, code.data, code.len);
			buf_puts(o, ");");
			continue;
		}
		/* Parentheses keep a multi-value expression to one slot. */
		S_run_slot(o, &run, esc);
		buf_putc(&run.args, '(');
		buf_put(&run.args, code.data, code.len);
		buf_putc(&run.args, ')');
	}
	S_run_flush(o, &run);
	buf_free(&run.args);
	buf_free(&code);
	for (k = 0; k < t->nblocks; k++)
		if (t->blocks[k].open) {
			diag_error(t->path, t->blocks[k].line, t->blocks[k].col,
			    "unclosed block '%s' (no endblock follows)",
			    t->blocks[k].name);
			rc = -1;
		}
	if (t->ext != NONE) {
		buf_puts(o, "return __T[");
		S_put_lstr(o, t->incs[t->ext].name,
		    strlen(t->incs[t->ext].name));
		buf_puts(o, "](_ENV,__o,__e,__T,__W,__w,__B)");
	}
	if (rc == 0) {
		/* The line-keeping rule the whole design rests on. */
		for (k = 0; k < o->len; k++)
			nl += o->data[k] == '\n';
		for (k = 0; k < n; k++)
			nl -= s[k] == '\n';
		if (nl != 0) {
			diag_error(t->path, 0, 0, "internal error: the generated "
			    "Lua does not keep the template's lines (please "
			    "report this template)");
			rc = -1;
		}
	}
	return rc;
}

/* ---- the compiled set ---- */

static int
S_cmp_tmpl(const void *a, const void *b)
{
	return strcmp(((const struct tmpl *)a)->name,
	    ((const struct tmpl *)b)->name);
}

static size_t
S_find(const struct tmpl_set *set, const char *name)
{
	size_t	 lo = 0, hi = set->n, mid;
	int	 c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(name, set->v[mid].name)) == 0)
			return mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NONE;
}

/*
 * Split a Lua message "PATH:LINE: text" where PATH names a template
 * (possibly shortened by Lua to "...tail") or is "[string "…"]".
 * Return the text and set *path (NULL if unknown) and *line; or return
 * msg unchanged with *line 0 if it carries no position.
 */
static const char *
S_split_msg(const struct tmpl_set *set, const char *msg, const char **path,
    int *line)
{
	const char *c, *d, *pre = msg;
	size_t	 i, plen, tlen;
	long	 l;

	*path = NULL;
	*line = 0;
	for (c = strchr(msg, ':'); c != NULL; c = strchr(c + 1, ':')) {
		if (c[1] < '0' || c[1] > '9')
			continue;
		l = strtol(c + 1, (char **)&d, 10);
		if (d[0] != ':' || d[1] != ' ' || l <= 0 || l > INT32_MAX)
			continue;
		plen = c - pre;
		if (plen > 9 && strncmp(pre, "[string \"", 9) == 0 &&
		    pre[plen - 1] == ']') {
			*line = (int)l;
			return d + 2;
		}
		for (i = 0; i < set->n; i++) {
			tlen = strlen(set->v[i].path);
			if ((plen == tlen &&
			    memcmp(pre, set->v[i].path, tlen) == 0) ||
			    (plen > 3 && plen - 3 <= tlen &&
			    memcmp(pre, "...", 3) == 0 &&
			    memcmp(pre + 3, set->v[i].path + tlen - (plen - 3),
			    plen - 3) == 0)) {
				*path = set->v[i].path;
				*line = (int)l;
				return d + 2;
			}
		}
		break;
	}
	return msg;
}

/* Say "template text" where Lua would name the generated calls. */
static void
S_explain(struct buf *b, const char *msg)
{
	static const char *const from[] = { "'__o'", "'__e'", "'__T'" };
	static const char *const to[] = { "template text or '{{{'", "'{{'",
	    "'{% include'" };
	const char *p;
	size_t	 i, best, bi;

	while (*msg) {
		best = NONE;
		bi = 0;
		for (i = 0; i < 3; i++)
			if ((p = strstr(msg, from[i])) != NULL &&
			    (size_t)(p - msg) < best) {
				best = p - msg;
				bi = i;
			}
		if (best == NONE) {
			buf_puts(b, msg);
			return;
		}
		buf_put(b, msg, best);
		buf_puts(b, to[bi]);
		msg += best + strlen(from[bi]);
	}
}

/* Report include cycles through template i; return the number found. */
static int
S_cycles(struct tmpl_set *set, size_t i, size_t *stack, size_t depth)
{
	struct tmpl *t = &set->v[i];
	struct buf path = { 0 };
	size_t	 k, d, target;
	int	 errs = 0;

	t->mark = 1;
	stack[depth] = i;
	for (k = 0; k < t->nincs; k++) {
		if ((target = t->incs[k].target) == NONE)
			continue;
		if (set->v[target].mark == 1) {
			for (d = 0; stack[d] != target; d++)
				continue;
			buf_reset(&path);
			for (; d <= depth; d++)
				buf_printf(&path, "%s -> ", set->v[stack[d]].name);
			buf_puts(&path, set->v[target].name);
			diag_error(t->path, t->incs[k].line, t->incs[k].col,
			    "%s cycle: %s", t->incs[k].extends ? "extends" :
			    "include", buf_cstr(&path));
			errs++;
		} else if (set->v[target].mark == 0)
			errs += S_cycles(set, target, stack, depth + 1);
	}
	t->mark = 2;
	buf_free(&path);
	return errs;
}

/* Read and translate every template; return the number of errors. */
static int
S_read_all(struct tmpl_set *set, const char *root, const char *rel)
{
	struct tmpl *t;
	char	*abs;
	size_t	 i, bad;
	int	 errs = 0, line, col;

	for (i = 0; i < set->n; i++) {
		t = &set->v[i];
		abs = path_join(root, t->path);
		if (file_read(abs, &t->src, &t->srclen) == -1) {
			diag_error(t->path, 0, 0, "cannot read: %s",
			    strerror(errno));
			t->src = xstrdup("");
			t->srclen = 0;
			t->bad = 1;
			errs++;
		} else if ((bad = utf8_invalid_at(t->src, t->srclen)) !=
		    (size_t)-1) {
			S_position(t->src, bad, &line, &col);
			diag_error(t->path, line, col, "invalid UTF-8");
			t->bad = 1;
			errs++;
		} else if (S_translate(t) == -1) {
			t->bad = 1;
			errs++;
		}
		free(abs);
	}
	(void)rel;
	return errs;
}

/* Does template i or one it extends have a block of this name? */
static int
S_has_block(const struct tmpl_set *set, size_t i, const char *name)
{
	const struct tmpl *t;
	size_t	 k, steps;

	for (steps = 0; i != NONE && steps <= set->n; steps++) {
		t = &set->v[i];
		for (k = 0; k < t->nblocks; k++)
			if (strcmp(t->blocks[k].name, name) == 0)
				return 1;
		i = t->ext == NONE ? NONE : t->incs[t->ext].target;
	}
	return 0;
}

/*
 * An override that no parent has a place for would never show: most
 * likely a misspelt name.  Return the number of errors.
 */
static int
S_overrides(struct tmpl_set *set)
{
	struct tmpl *t;
	size_t	 i, k;
	int	 errs = 0;

	for (i = 0; i < set->n; i++) {
		t = &set->v[i];
		if (t->bad || t->ext == NONE)
			continue;
		for (k = 0; k < t->nblocks; k++)
			if (t->blocks[k].define && !S_has_block(set,
			    t->incs[t->ext].target, t->blocks[k].name)) {
				diag_error(t->path, t->blocks[k].line,
				    t->blocks[k].col, "block '%s': %s has no "
				    "block of that name, so it would never "
				    "show", t->blocks[k].name,
				    t->incs[t->ext].name);
				t->bad = 1;
				errs++;
			}
	}
	return errs;
}

/* Resolve includes and refuse cycles; return the number of errors. */
static int
S_link(struct tmpl_set *set, const char *rel)
{
	struct tmpl *t;
	struct incl *inc;
	size_t	 i, k, *stack;
	int	 errs = 0;

	for (i = 0; i < set->n; i++) {
		t = &set->v[i];
		for (k = 0; k < t->nincs; k++) {
			inc = &t->incs[k];
			if ((inc->target = S_find(set, inc->name)) == NONE) {
				diag_error(t->path, inc->line, inc->col,
				    "%s: no template '%s' in %s",
				    inc->extends ? "extends" : "include",
				    inc->name, rel);
				t->bad = 1;
				errs++;
			}
		}
	}
	stack = xcalloc(set->n + 1, sizeof(*stack));
	for (i = 0; i < set->n; i++)
		if (set->v[i].mark == 0)
			errs += S_cycles(set, i, stack, 0);
	free(stack);
	if (errs == 0)
		errs += S_overrides(set);
	return errs;
}

/* Load each chunk once to catch Lua syntax errors; return their number. */
static int
S_syntax(struct tmpl_set *set)
{
	struct tmpl *t;
	struct buf msg = { 0 };
	lua_State *L;
	const char *path, *text;
	size_t	 i;
	int	 errs = 0, line;

	if ((L = luaL_newstate()) == NULL) {
		diag_error(NULL, 0, 0, "templates: cannot create a Lua state");
		return 1;
	}
	for (i = 0; i < set->n; i++) {
		t = &set->v[i];
		if (t->bad)
			continue;
		if (luaL_loadbufferx(L, t->lua.data, t->lua.len, t->chunk,
		    "t") != LUA_OK) {
			text = S_split_msg(set, lua_tostring(L, -1), &path,
			    &line);
			buf_reset(&msg);
			S_explain(&msg, text);
			diag_error(t->path, line, 0, "%s", buf_cstr(&msg));
			t->bad = 1;
			errs++;
		}
		lua_pop(L, 1);
	}
	lua_close(L);
	buf_free(&msg);
	return errs;
}

struct tmpl_set *
tmpl_compile(const char *root, const char *theme)
{
	struct tmpl_set *set;
	struct dirent *de;
	struct stat st;
	DIR	*dir;
	char	*rel, *abs, *file;
	size_t	 len;
	int	 errs = 0;

	if (!path_is_safe(theme) || strchr(theme, '/') != NULL) {
		diag_error(NULL, 0, 0, "theme name '%s' is not a directory "
		    "name", theme);
		return NULL;
	}
	rel = xasprintf("themes/%s/templates", theme);
	abs = path_join(root, rel);
	if ((dir = opendir(abs)) == NULL) {
		diag_error(rel, 0, 0, "cannot read the templates directory: %s",
		    strerror(errno));
		free(rel);
		free(abs);
		return NULL;
	}
	set = xcalloc(1, sizeof(*set));
	while ((de = readdir(dir)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len <= 5 ||
		    strcmp(de->d_name + len - 5, ".html") != 0)
			continue;
		file = path_join(abs, de->d_name);
		if (stat(file, &st) == -1 || !S_ISREG(st.st_mode) ||
		    !path_is_safe(de->d_name)) {
			free(file);
			continue;
		}
		free(file);
		set->v = xrealloc(set->v, (set->n + 1) * sizeof(*set->v));
		memset(&set->v[set->n], 0, sizeof(set->v[set->n]));
		set->v[set->n].name = xstrdup(de->d_name);
		set->v[set->n].path = xasprintf("%s/%s", rel, de->d_name);
		set->v[set->n].chunk = xasprintf("@%s/%s", rel, de->d_name);
		set->v[set->n].ext = NONE;
		set->n++;
	}
	closedir(dir);
	if (set->n == 0) {
		diag_error(rel, 0, 0, "no *.html templates");
		errs++;
	} else {
		qsort(set->v, set->n, sizeof(*set->v), S_cmp_tmpl);
		errs += S_read_all(set, root, rel);
		errs += S_link(set, rel);
		errs += S_syntax(set);
	}
	free(rel);
	free(abs);
	if (errs > 0) {
		tmpl_set_free(set);
		return NULL;
	}
	return set;
}

void
tmpl_hash(const struct tmpl_set *set, unsigned char out[32])
{
	struct sha256 h;
	uint64_t len;
	size_t	 i;

	sha256_init(&h);
	sha256_update(&h, TMPL_VERSION, sizeof(TMPL_VERSION));
	for (i = 0; i < set->n; i++) {
		sha256_update(&h, set->v[i].name, strlen(set->v[i].name) + 1);
		len = set->v[i].srclen;
		sha256_update(&h, &len, sizeof(len));
		sha256_update(&h, set->v[i].src, set->v[i].srclen);
	}
	sha256_final(&h, out);
}

int
tmpl_exists(const struct tmpl_set *set, const char *name)
{
	return S_find(set, name) != NONE;
}

const char *
tmpl_lua_source(const struct tmpl_set *set, const char *name, size_t *len)
{
	size_t	 i;

	if ((i = S_find(set, name)) == NONE)
		return NULL;
	if (len)
		*len = set->v[i].lua.len;
	return buf_cstr(&set->v[i].lua);
}

void
tmpl_set_free(struct tmpl_set *set)
{
	struct tmpl *t;
	size_t	 i, k;

	if (set == NULL)
		return;
	for (i = 0; i < set->n; i++) {
		t = &set->v[i];
		for (k = 0; k < t->nincs; k++)
			free(t->incs[k].name);
		free(t->incs);
		for (k = 0; k < t->nblocks; k++)
			free(t->blocks[k].name);
		free(t->blocks);
		free(t->name);
		free(t->path);
		free(t->chunk);
		free(t->src);
		buf_free(&t->lua);
	}
	free(set->v);
	free(set);
}

/* ---- converting values for output ---- */

/* Decimal digits of v at p; return the length.  Faster than snprintf. */
static size_t
S_itoa(char *p, long long v)
{
	char	 tmp[24];
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v :
	    (unsigned long long)v;
	size_t	 n = 0, k = 0;

	do
		tmp[n++] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		p[k++] = '-';
	while (n > 0)
		p[k++] = tmp[--n];
	return k;
}

static size_t
S_fmt_number(lua_State *L, int idx, char num[64])
{
	lua_Number x;
	int	 k;

	if (lua_isinteger(L, idx))
		return S_itoa(num, (long long)lua_tointeger(L, idx));
	x = lua_tonumber(L, idx);
	if (x == floor(x) && fabs(x) < 9.2e18)
		return S_itoa(num, (long long)x);
	k = snprintf(num, 64, "%.14g", (double)x);
	return k < 0 ? 0 : (size_t)k;
}

/* Append the value at idx as {{ }} prints it, escaped or not. */
static void
S_put_value(lua_State *L, int idx, struct buf *b, int esc)
{
	const char *s;
	size_t	 len;
	char	 num[64];

	switch (lua_type(L, idx)) {
	case LUA_TNONE:
	case LUA_TNIL:
		return;
	case LUA_TBOOLEAN:
		if (!lua_toboolean(L, idx))
			return;
		s = "true";
		len = 4;
		break;
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		break;
	case LUA_TNUMBER:
		len = S_fmt_number(L, idx, num);
		s = num;
		break;
	default:
		/* __tostring may run Lua code: convert before writing. */
		s = luaL_tolstring(L, idx, &len);
		if (esc)
			buf_html_escape(b, s, len);
		else
			buf_put(b, s, len);
		lua_pop(L, 1);
		return;
	}
	if (esc)
		buf_html_escape(b, s, len);
	else
		buf_put(b, s, len);
}

/* Push the value at idx converted to a string as {{ }} would print it. */
static const char *
S_push_string(lua_State *L, int idx, size_t *len)
{
	char	 num[64];
	size_t	 n;

	switch (lua_type(L, idx)) {
	case LUA_TNONE:
	case LUA_TNIL:
		lua_pushliteral(L, "");
		break;
	case LUA_TBOOLEAN:
		if (lua_toboolean(L, idx))
			lua_pushliteral(L, "true");
		else
			lua_pushliteral(L, "");
		break;
	case LUA_TSTRING:
		lua_pushvalue(L, idx);
		break;
	case LUA_TNUMBER:
		n = S_fmt_number(L, idx, num);
		lua_pushlstring(L, num, n);
		break;
	default:
		luaL_tolstring(L, idx, NULL);
		break;
	}
	return lua_tolstring(L, -1, len);
}

static struct buf *
S_out(lua_State *L)
{
	struct tmpl_env *env = S_ENV(L);

	if (env->out == NULL)
		luaL_error(L, "template output used outside a render");
	return env->out;
}

/* __o(v): append as is. */
static int
S_out_raw(lua_State *L)
{
	struct buf *b = S_out(L);
	const char *s;
	size_t	 len;

	if (lua_type(L, 1) == LUA_TSTRING) {
		s = lua_tolstring(L, 1, &len);
		buf_put(b, s, len);
	} else
		S_put_value(L, 1, b, 0);
	return 0;
}

/* __e(v): append HTML-escaped. */
static int
S_out_esc(lua_State *L)
{
	struct buf *b = S_out(L);
	const char *s;
	size_t	 len;

	if (lua_type(L, 1) == LUA_TSTRING) {
		s = lua_tolstring(L, 1, &len);
		buf_html_escape(b, s, len);
	} else
		S_put_value(L, 1, b, 1);
	return 0;
}

/* __w(raw, esc, raw, …): odd arguments as is, even ones escaped. */
static int
S_out_run(lua_State *L)
{
	struct buf *b = S_out(L);
	const char *s;
	size_t	 len;
	int	 i, n = lua_gettop(L);

	for (i = 1; i <= n; i++) {
		if (lua_type(L, i) != LUA_TSTRING)
			S_put_value(L, i, b, !(i & 1));
		else if (s = lua_tolstring(L, i, &len), i & 1)
			buf_put(b, s, len);
		else
			buf_html_escape(b, s, len);
	}
	return 0;
}

static int	 S_ro_target(lua_State *, int);

/* __W(parent, t): the environment of an include … with t. */
static int
S_with(lua_State *L)
{
	int	 t, e;

	if (!lua_istable(L, 2))
		return luaL_error(L, "include … with: expected a table, got %s",
		    luaL_typename(L, 2));
	lua_settop(L, 2);
	t = S_ro_target(L, 2);		/* a read-only view: its table */
	lua_createtable(L, 0, 4);
	e = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, t)) {
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, e);
	}
	lua_createtable(L, 0, 2);
	lua_pushvalue(L, 1);
	lua_setfield(L, -2, "__index");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, e);
	return 1;
}

/* ---- cached includes ---- */

static void
S_cache_clear(struct tmpl_env *env)
{
	size_t	 i;

	for (i = 0; i < env->capcache; i++) {
		free(env->cache[i].key);
		free(env->cache[i].val);
	}
	free(env->cache);
	env->cache = NULL;
	env->ncache = env->capcache = env->cache_bytes = 0;
}

static void
S_capture_clear(struct tmpl_env *env)
{
	while (env->ncapt > 0)
		if (--env->ncapt < CACHE_DEPTH)	/* deeper ones kept no key */
			free(env->capt[env->ncapt].key);
}

/* The slot of key in the cache (capcache > 0), or the empty one for it. */
static struct S_cache *
S_cache_slot(struct tmpl_env *env, const char *key, size_t klen, uint64_t h)
{
	size_t	 i = (size_t)(h ^ h >> 32) & (env->capcache - 1);
	struct S_cache *c;

	for (;; i = (i + 1) & (env->capcache - 1)) {
		c = &env->cache[i];
		if (c->key == NULL || (c->hash == h && c->klen == klen &&
		    memcmp(c->key, key, klen) == 0))
			return c;
	}
}

/*
 * __T[1](name, k1, k2, …): append the cached output of include `name`
 * with this key and return false, or start capturing it and return
 * true (the caller renders the include, then calls __T[2]).  Keys are
 * strings, numbers, booleans or nil, each kept with its type and length
 * so that no two lists of keys meet.
 */
static int
S_cache_begin(lua_State *L)
{
	struct tmpl_env *env = S_ENV(L);
	struct buf *k = &env->ckey;
	struct S_capture *cap;
	const char *v;
	size_t	 len;
	uint64_t h;
	int	 i, n = lua_gettop(L), t;

	buf_reset(k);
	for (i = 1; i <= n; i++) {
		t = lua_type(L, i);
		if (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN &&
		    t != LUA_TNIL)
			return luaL_error(L, "include … cached: key %d is a %s, "
			    "not a string, number, boolean or nil", i - 1,
			    luaL_typename(L, i));
		v = t == LUA_TNIL ? "" : t == LUA_TBOOLEAN ?
		    (lua_toboolean(L, i) ? "1" : "0") :
		    S_push_string(L, i, &len);
		if (t == LUA_TNIL || t == LUA_TBOOLEAN)
			len = strlen(v);
		/* Type and length as bytes: no two key lists read alike. */
		buf_putc(k, t);
		buf_put(k, &len, sizeof(len));
		buf_put(k, v, len);
	}
	h = mem_hash_more(0, k->data, k->len);
	if (env->capcache > 0) {
		struct S_cache *c = S_cache_slot(env, k->data, k->len, h);

		if (c->key != NULL) {
			buf_put(env->out, c->val, c->vlen);
			lua_pushboolean(L, 0);
			return 1;
		}
	}
	/* Deeper than CACHE_DEPTH: rendered, not kept. */
	if (env->ncapt < CACHE_DEPTH) {
		cap = &env->capt[env->ncapt++];
		cap->key = xmalloc(k->len + 1);
		memcpy(cap->key, k->data, k->len);
		cap->klen = k->len;
		cap->hash = h;
		cap->start = env->out->len;
	} else
		env->ncapt++;
	lua_pushboolean(L, 1);
	return 1;
}

/* __T[2](): keep what the include just rendered under its key. */
static int
S_cache_end(lua_State *L)
{
	struct tmpl_env *env = S_ENV(L);
	struct S_capture *cap;
	struct S_cache *c;
	size_t	 vlen, i, cap0;

	if (env->ncapt == 0)
		return 0;
	if (env->ncapt-- > CACHE_DEPTH)
		return 0;
	cap = &env->capt[env->ncapt];
	vlen = env->out->len - cap->start;
	if (env->ncache + 1 > CACHE_ENTRIES ||
	    env->cache_bytes + vlen > CACHE_BYTES)
		S_cache_clear(env);
	if (vlen > CACHE_BYTES) {
		free(cap->key);
		return 0;
	}
	if (2 * (env->ncache + 1) > env->capcache) {
		struct S_cache *old = env->cache;

		cap0 = env->capcache;
		env->capcache = cap0 ? 2 * cap0 : 16;
		env->cache = xcalloc(env->capcache, sizeof(*env->cache));
		for (i = 0; i < cap0; i++)
			if (old[i].key != NULL)
				*S_cache_slot(env, old[i].key, old[i].klen,
				    old[i].hash) = old[i];
		free(old);
	}
	c = S_cache_slot(env, cap->key, cap->klen, cap->hash);
	if (c->key != NULL) {		/* rendered twice in one page */
		free(cap->key);
		return 0;
	}
	c->key = cap->key;
	c->klen = cap->klen;
	c->hash = cap->hash;
	c->val = xmalloc(vlen + 1);
	memcpy(c->val, env->out->data + cap->start, vlen);
	c->vlen = vlen;
	env->ncache++;
	env->cache_bytes += vlen;
	return 0;
}

/* ---- helpers for templates ---- */

static int
S_h_esc(lua_State *L)
{
	struct tmpl_env *env = S_ENV(L);
	const char *s;
	size_t	 len;

	s = S_push_string(L, 1, &len);
	buf_reset(&env->scratch);
	buf_html_escape(&env->scratch, s, len);
	lua_pushlstring(L, buf_cstr(&env->scratch), env->scratch.len);
	return 1;
}

static int
S_h_urlencode(lua_State *L)
{
	struct tmpl_env *env = S_ENV(L);
	const char *s;
	size_t	 len;

	s = S_push_string(L, 1, &len);
	buf_reset(&env->scratch);
	buf_url_escape(&env->scratch, s, len);
	lua_pushlstring(L, buf_cstr(&env->scratch), env->scratch.len);
	return 1;
}

struct jkey {
	const char	*s;
	size_t		 len;
	int		 at;		/* stack index of the key */
};

/* An object's keys and values sit on the Lua stack (at most a million slots). */
#define JSON_KEYS_MAX	400000

static int
S_cmp_jkey(const void *a, const void *b)
{
	const struct jkey *x = a, *y = b;
	int	 c;

	c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* Serialise the value at idx; only raw accesses, so no Lua code runs. */
static void
S_json(lua_State *L, int idx, struct buf *b, int depth)
{
	struct jkey small[16], *keys;
	const char *s;
	lua_Integer k;
	lua_Number x;
	size_t	 n, count, i, len, cap = 16;
	int	 base;

	idx = lua_absindex(L, idx);
	switch (lua_type(L, idx)) {
	case LUA_TNONE:
	case LUA_TNIL:
		buf_puts(b, "null");
		return;
	case LUA_TBOOLEAN:
		buf_puts(b, lua_toboolean(L, idx) ? "true" : "false");
		return;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			char	 num[24];

			buf_put(b, num, S_itoa(num,
			    (long long)lua_tointeger(L, idx)));
		} else if (!isfinite(x = lua_tonumber(L, idx)))
			buf_puts(b, "null");
		else if (x == floor(x) && fabs(x) < 9007199254740992.0)
			buf_printf(b, "%.0f", (double)x);
		else
			buf_printf(b, "%.17g", (double)x);
		return;
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		buf_putc(b, '"');
		buf_json_escape(b, s, len);
		buf_putc(b, '"');
		return;
	case LUA_TTABLE:
		break;
	default:
		luaL_error(L, "json: cannot serialise a %s value",
		    luaL_typename(L, idx));
		return;
	}
	if (depth >= JSON_DEPTH)
		luaL_error(L, "json: tables nested more than %d deep "
		    "(a table that contains itself?)", JSON_DEPTH);
	/* A read-only view (site data): the table it shows. */
	{
		int	 top = lua_gettop(L), real = S_ro_target(L, idx);

		if (real != idx) {
			S_json(L, real, b, depth + 1);
			lua_settop(L, top);
			return;
		}
	}
	luaL_checkstack(L, 4, "json");
	n = lua_rawlen(L, idx);
	if (n > 0) {
		/* An array: every key must be one of 1..n. */
		lua_pushnil(L);
		while (lua_next(L, idx)) {
			lua_pop(L, 1);
			if (!lua_isinteger(L, -1) || (k = lua_tointeger(L, -1)) < 1 ||
			    (lua_Unsigned)k > n)
				luaL_error(L, "json: a table has both array items "
				    "and other keys");
		}
		buf_putc(b, '[');
		for (i = 1; i <= n; i++) {
			if (i > 1)
				buf_putc(b, ',');
			lua_rawgeti(L, idx, (lua_Integer)i);
			S_json(L, -1, b, depth + 1);
			lua_pop(L, 1);
		}
		buf_putc(b, ']');
		return;
	}
	/*
	 * An object: each key and its value stay on the stack, so one
	 * traversal serves; the keys are then sorted (output independent
	 * of the hash seed) by insertion when the object is small.
	 */
	base = lua_gettop(L);
	count = 0;
	keys = small;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (lua_type(L, -2) != LUA_TSTRING)
			luaL_error(L, "json: object keys must be strings, "
			    "not %s", luaL_typename(L, -2));
		if (count == JSON_KEYS_MAX)
			luaL_error(L, "json: an object has more than %d keys",
			    JSON_KEYS_MAX);
		if (count == cap) {
			struct jkey *nk;

			cap = cap * 4;
			nk = lua_newuserdatauv(L, cap * sizeof(*nk), 0);
			memcpy(nk, keys, count * sizeof(*nk));
			keys = nk;
			/* Under the pair on the stack, kept until the end. */
			lua_insert(L, -3);
		}
		luaL_checkstack(L, 3, "json");
		keys[count].s = lua_tolstring(L, -2, &keys[count].len);
		keys[count].at = lua_gettop(L) - 1;
		/* Leave key and value; push the key again for lua_next. */
		lua_pushvalue(L, -2);
		count++;
	}
	if (count == 0) {
		buf_puts(b, "[]");
		return;
	}
	if (count > 16)
		qsort(keys, count, sizeof(*keys), S_cmp_jkey);
	else for (i = 1; i < count; i++) {
		struct jkey kx = keys[i];
		size_t	 j = i;

		while (j > 0 && S_cmp_jkey(&keys[j - 1], &kx) > 0) {
			keys[j] = keys[j - 1];
			j--;
		}
		keys[j] = kx;
	}
	buf_putc(b, '{');
	for (i = 0; i < count; i++) {
		if (i > 0)
			buf_putc(b, ',');
		buf_putc(b, '"');
		buf_json_escape(b, keys[i].s, keys[i].len);
		buf_puts(b, "\":");
		S_json(L, keys[i].at + 1, b, depth + 1);
	}
	buf_putc(b, '}');
	lua_settop(L, base);
}

static int
S_h_json(lua_State *L)
{
	struct tmpl_env *env = S_ENV(L);

	lua_settop(L, 1);
	buf_reset(&env->scratch);
	S_json(L, 1, &env->scratch, 0);
	lua_pushlstring(L, buf_cstr(&env->scratch), env->scratch.len);
	return 1;
}

static int
S_digits(const char *s, size_t n, size_t *p, size_t min, size_t max, int *v)
{
	size_t	 k = 0;

	*v = 0;
	while (*p < n && k < max && s[*p] >= '0' && s[*p] <= '9') {
		*v = *v * 10 + (s[*p] - '0');
		(*p)++;
		k++;
	}
	return k >= min && (*p >= n || s[*p] < '0' || s[*p] > '9');
}

/* Called once per listed report: formats by hand, not with printf. */
static int
S_h_date_zh(lua_State *L)
{
	const char *s;
	char	 out[64];
	size_t	 n, p = 0, k;
	int	 y, m = 0, d = 0;

	if (lua_isnoneornil(L, 1)) {
		lua_pushliteral(L, "");
		return 1;
	}
	if (lua_isinteger(L, 1)) {
		k = S_itoa(out, (long long)lua_tointeger(L, 1));
		memcpy(out + k, "年", 3);
		lua_pushlstring(L, out, k + 3);
		return 1;
	}
	s = luaL_checklstring(L, 1, &n);
	if (!S_digits(s, n, &p, 4, 4, &y))
		goto bad;
	if (p < n && (s[p++] != '-' || !S_digits(s, n, &p, 1, 2, &m) ||
	    m < 1 || m > 12))
		goto bad;
	if (p < n && (s[p++] != '-' || !S_digits(s, n, &p, 1, 2, &d) ||
	    d < 1 || d > 31 || p != n))
		goto bad;
	k = S_itoa(out, y);
	memcpy(out + k, "年", 3);
	k += 3;
	if (m > 0) {
		k += S_itoa(out + k, m);
		memcpy(out + k, "月", 3);
		k += 3;
	}
	if (d > 0) {
		k += S_itoa(out + k, d);
		memcpy(out + k, "日", 3);
		k += 3;
	}
	lua_pushlstring(L, out, k);
	return 1;
bad:
	return luaL_error(L, "date_zh: '%s' is not a date (YYYY-MM-DD)", s);
}

static int
S_h_filesize(lua_State *L)
{
	static const char *const unit[] = { "KB", "MB", "GB", "TB", "PB" };
	lua_Number x = luaL_checknumber(L, 1);
	double	 v;
	char	 num[64];
	int	 u = 0;

	if (!(x >= 0) || !isfinite(x))
		return luaL_error(L, "filesize: %f is not a size", (double)x);
	if (x < 1024) {
		lua_pushfstring(L, "%d B", (int)x);
		return 1;
	}
	/* Move up a unit when one decimal would round to 1024.0. */
	for (v = x / 1024; u < 4 && floor(v * 10 + 0.5) >= 10240; u++)
		v /= 1024;
	snprintf(num, sizeof(num), "%.1f %s", v, unit[u]);
	lua_pushstring(L, num);
	return 1;
}

static int
S_h_join(lua_State *L)
{
	luaL_Buffer b;
	const char *sep;
	size_t	 seplen;
	lua_Integer i, n;

	luaL_checktype(L, 1, LUA_TTABLE);
	sep = luaL_optlstring(L, 2, "", &seplen);
	n = luaL_len(L, 1);
	luaL_buffinit(L, &b);
	for (i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addlstring(&b, sep, seplen);
		lua_geti(L, 1, i);
		S_push_string(L, -1, NULL);
		lua_remove(L, -2);
		luaL_addvalue(&b);
	}
	luaL_pushresult(&b);
	return 1;
}

/* include is syntax, not a function: say so when it is used as one. */
static int
S_h_include(lua_State *L)
{
	return luaL_error(L, "include must be alone in its tag: "
	    "{%% include \"NAME.html\" %%} or {%% include \"NAME.html\" "
	    "with { … } %%}");
}

static int
S_h_len(lua_State *L)
{
	const char *s;
	size_t	 n, i, k, chars = 0;
	uint32_t cp;

	switch (lua_type(L, 1)) {
	case LUA_TNONE:
	case LUA_TNIL:
		lua_pushinteger(L, 0);
		return 1;
	case LUA_TTABLE:
		lua_pushinteger(L, luaL_len(L, 1));
		return 1;
	case LUA_TSTRING:
		s = lua_tolstring(L, 1, &n);
		for (i = 0; i < n; i += k ? k : 1, chars++)
			k = utf8_decode(s + i, n - i, &cp);
		lua_pushinteger(L, (lua_Integer)chars);
		return 1;
	default:
		return luaL_error(L, "len: expected a table or a string, "
		    "got %s", luaL_typename(L, 1));
	}
}

/* ---- the Lua state of a worker ---- */

static void *
S_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct tmpl_env *env = ud;
	void	*p;

	if (ptr == NULL)
		osize = 0;	/* then osize is a type tag */
	if (nsize == 0) {
		lpool_realloc(&env->pool, ptr, osize, 0);
		env->mem -= osize;
		return NULL;
	}
	if (nsize > osize && env->mem + (nsize - osize) > TMPL_MEMCAP)
		return NULL;
	/* A failed shrink gives the old block back (lpool_realloc). */
	if ((p = lpool_realloc(&env->pool, ptr, osize, nsize)) == NULL)
		return NULL;
	env->mem = env->mem - osize + nsize;
	return p;
}

static int
S_panic(lua_State *L)
{
	const char *msg = lua_tostring(L, -1);

	fprintf(stderr, "fazhi: unprotected error in the template Lua "
	    "state: %s\n", msg ? msg : "(not a string)");
	abort();
}

static void
S_hook(lua_State *L, lua_Debug *ar)
{
	struct tmpl_env *env = S_ENV(L);

	env->steps += HOOK_EVERY;
	if (env->steps <= TMPL_BUDGET)
		return;
	env->overrun = 1;
	/* Record the line now: a yield from a hook moves the pc back. */
	env->stop_src = NULL;
	if (lua_getstack(L, 0, ar) && lua_getinfo(L, "Sl", ar)) {
		env->stop_src = ar->source;
		env->stop_line = ar->currentline;
	}
	/* Inside a C call (table.sort's comparator…) yielding is refused. */
	if (lua_isyieldable(L)) {
		lua_yield(L, 0);
		return;
	}
	lua_pushliteral(L, "instruction budget exceeded");
	lua_error(L);
}

static int
S_ro_newindex(lua_State *L)
{
	return luaL_error(L, "attempt to modify a read-only table");
}

/*
 * The metamethods of a view find the table it shows through __index:
 * plain C functions, so a view is two tables (itself and its
 * metatable) and no closures.  Sites make one per summary and group.
 */
static int
S_ro_pairs(lua_State *L)
{
	int	 t = S_ro_target(L, 1);

	lua_getglobal(L, "next");
	lua_pushvalue(L, t);
	lua_pushnil(L);
	return 3;
}

static int
S_ro_len(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)lua_rawlen(L, S_ro_target(L, 1)));
	return 1;
}

/* Replace the table at the top with a read-only view of it. */
void
tmpl_readonly(lua_State *L)
{
	lua_newtable(L);			/* real proxy */
	lua_createtable(L, 0, 5);		/* real proxy mt */
	lua_pushcfunction(L, S_ro_len);
	lua_setfield(L, -2, "__len");
	lua_pushvalue(L, -3);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, S_ro_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_pushcfunction(L, S_ro_pairs);
	lua_setfield(L, -2, "__pairs");
	lua_setmetatable(L, -2);
	lua_remove(L, -2);
}

/*
 * If the table at idx is a read-only view (tmpl_readonly()), push the
 * table it shows and return its index; else push nothing and return
 * idx.  Raw accesses only, so no Lua code runs.
 */
static int
S_ro_target(lua_State *L, int idx)
{
	int	 top = lua_gettop(L);

	idx = lua_absindex(L, idx);
	if (!lua_getmetatable(L, idx))
		return idx;
	lua_pushliteral(L, "__newindex");
	if (lua_rawget(L, top + 1) == LUA_TFUNCTION &&
	    lua_tocfunction(L, top + 2) == S_ro_newindex) {
		lua_pushliteral(L, "__index");
		if (lua_rawget(L, top + 1) == LUA_TTABLE) {
			lua_replace(L, top + 1);
			lua_settop(L, top + 1);
			return top + 1;
		}
	}
	lua_settop(L, top);
	return idx;
}

static int
S_render_done(lua_State *L, int status, lua_KContext ctx)
{
	(void)L;
	(void)status;
	(void)ctx;
	return 0;
}

/*
 * The body of a render, run in the coroutine with (chunk, variables):
 * copy the variables into a fresh environment and call the chunk.
 * lua_callk keeps the call yieldable for the budget hook.
 */
static int
S_render_entry(lua_State *L)
{
	struct tmpl_env *env = S_ENV(L);

	lua_createtable(L, 0, 32);
	lua_pushnil(L);
	while (lua_next(L, 2)) {
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, 3);
	}
	lua_rawgeti(L, LUA_REGISTRYINDEX, env->mtref);
	lua_setmetatable(L, 3);
	lua_pushvalue(L, 1);
	lua_pushvalue(L, 3);
	lua_pushcfunction(L, S_out_raw);
	lua_pushcfunction(L, S_out_esc);
	lua_rawgeti(L, LUA_REGISTRYINDEX, env->tref);
	lua_pushcfunction(L, S_with);
	lua_pushcfunction(L, S_out_run);
	lua_callk(L, 6, 0, 0, S_render_done);
	return 0;
}

static int
S_setup(lua_State *L)
{
	static const char *const base[] = { "assert", "error",
	    "getmetatable", "ipairs", "next", "pairs", "rawequal", "rawget",
	    "rawlen", "select", "setmetatable", "tonumber", "tostring",
	    "type", "_VERSION", NULL };
	static const luaL_Reg libs[] = { { "_G", luaopen_base },
	    { LUA_STRLIBNAME, luaopen_string }, { LUA_TABLIBNAME, luaopen_table },
	    { LUA_MATHLIBNAME, luaopen_math }, { LUA_UTF8LIBNAME, luaopen_utf8 },
	    { NULL, NULL } };
	static const luaL_Reg helpers[] = { { "esc", S_h_esc },
	    { "urlencode", S_h_urlencode }, { "json", S_h_json },
	    { "date_zh", S_h_date_zh }, { "filesize", S_h_filesize },
	    { "join", S_h_join }, { "len", S_h_len },
	    { "include", S_h_include }, { NULL, NULL } };
	struct tmpl_env *env = lua_touserdata(L, 1);
	const struct tmpl_set *set = env->set;
	const luaL_Reg *r;
	size_t	 i;
	int	 h;

	for (r = libs; r->name; r++) {
		luaL_requiref(L, r->name, r->func, 1);
		lua_pop(L, 1);
	}
	lua_getglobal(L, LUA_STRLIBNAME);
	lua_pushnil(L);
	lua_setfield(L, -2, "dump");
	lua_pop(L, 1);
	lua_getglobal(L, LUA_MATHLIBNAME);
	lua_pushnil(L);
	lua_setfield(L, -2, "random");
	lua_pushnil(L);
	lua_setfield(L, -2, "randomseed");
	lua_pop(L, 1);
	/* Hide the string metatable: it leads to the real string table. */
	lua_pushliteral(L, "");
	lua_getmetatable(L, -1);
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 2);

	lua_newtable(L);
	h = lua_gettop(L);
	for (i = 0; base[i]; i++) {
		lua_getglobal(L, base[i]);
		lua_setfield(L, h, base[i]);
	}
	for (r = libs + 1; r->name; r++) {
		lua_getglobal(L, r->name);
		tmpl_readonly(L);
		lua_setfield(L, h, r->name);
	}
	for (r = helpers; r->name; r++) {
		lua_pushcfunction(L, r->func);
		lua_setfield(L, h, r->name);
	}
	lua_pushvalue(L, h);
	env->href = luaL_ref(L, LUA_REGISTRYINDEX);

	lua_createtable(L, 0, 2);
	lua_pushvalue(L, h);
	lua_setfield(L, -2, "__index");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	env->mtref = luaL_ref(L, LUA_REGISTRYINDEX);

	lua_createtable(L, 0, (int)set->n);
	for (i = 0; i < set->n; i++) {
		if (luaL_loadbufferx(L, set->v[i].lua.data, set->v[i].lua.len,
		    set->v[i].chunk, "t") != LUA_OK)
			return lua_error(L);
		/* The chunk declares its own _ENV: cut the default one off. */
		lua_newtable(L);
		lua_setupvalue(L, -2, 1);
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, set->v[i].name);
		env->fnref[i] = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	/* Integer keys, which no template name is: cached includes. */
	lua_pushcfunction(L, S_cache_begin);
	lua_rawseti(L, -2, 1);
	lua_pushcfunction(L, S_cache_end);
	lua_rawseti(L, -2, 2);
	tmpl_readonly(L);
	env->tref = luaL_ref(L, LUA_REGISTRYINDEX);

	env->co = lua_newthread(L);
	lua_sethook(env->co, S_hook, LUA_MASKCOUNT, HOOK_EVERY);
	env->coref = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

struct tmpl_env *
tmpl_env_new(const struct tmpl_set *set)
{
	struct tmpl_env *env;

	env = xcalloc(1, sizeof(*env));
	env->set = set;
	env->fnref = xcalloc(set->n ? set->n : 1, sizeof(*env->fnref));
	if ((env->L = lua_newstate(S_alloc, env)) == NULL) {
		diag_error(NULL, 0, 0, "templates: cannot create a Lua state");
		lpool_free(&env->pool);
		free(env->fnref);
		free(env);
		return NULL;
	}
	lua_atpanic(env->L, S_panic);
	/*
	 * Generational collection: a worker's state holds long-lived data
	 * (the site table, the compiled templates, the summary cache) and
	 * each page makes short-lived garbage.  The incremental collector
	 * walked the long-lived part on every cycle; minor collections
	 * only look at what is new (a tenth less CPU for a 10k build).
	 */
	lua_gc(env->L, LUA_GCGEN, 0, 0);
	S_ENV(env->L) = env;	/* copied into every thread made later */
	lua_pushcfunction(env->L, S_setup);
	lua_pushlightuserdata(env->L, env);
	if (lua_pcall(env->L, 1, 0, 0) != LUA_OK) {
		diag_error(NULL, 0, 0, "templates: cannot set up Lua: %s",
		    lua_tostring(env->L, -1));
		tmpl_env_free(env);
		return NULL;
	}
	return env;
}

lua_State *
tmpl_lua(struct tmpl_env *env)
{
	return env->L;
}

void
tmpl_env_add_helper(struct tmpl_env *env, const char *name, lua_CFunction f)
{
	lua_rawgeti(env->L, LUA_REGISTRYINDEX, env->href);
	lua_pushcfunction(env->L, f);
	lua_setfield(env->L, -2, name);
	lua_pop(env->L, 1);
}

/*
 * Diagnose a failed render from the stopped coroutine's stack: the
 * position in Lua's message if it names a template, else the innermost
 * template line running; then the includes that led there.
 */
static void
S_report(struct tmpl_env *env, lua_State *co, int status, size_t idx)
{
	struct buf msg = { 0 };
	lua_Debug ar;
	const char *text, *path, *fpath = NULL;
	int	 line, fline = 0, level, mains = 0;

	if (env->overrun)
		text = "instruction budget exceeded (an endless loop?)";
	else if (status == LUA_ERRMEM)
		text = "not enough memory (the templates' Lua state is "
		    "capped)";
	else if (lua_type(co, -1) == LUA_TSTRING)
		text = lua_tostring(co, -1);
	else
		text = lua_pushfstring(co, "error object is a %s value",
		    luaL_typename(co, -1));
	text = S_split_msg(env->set, text, &path, &line);
	buf_puts(&msg, text);
	for (level = 0; lua_getstack(co, level, &ar); level++) {
		if (!lua_getinfo(co, "Sl", &ar) || ar.source[0] != '@' ||
		    ar.currentline <= 0)
			continue;
		if (fpath == NULL) {
			fpath = ar.source + 1;
			fline = ar.currentline;
		}
		if (strcmp(ar.what, "main") == 0 && mains++ > 0)
			buf_printf(&msg, " (included from %s:%d)",
			    ar.source + 1, ar.currentline);
	}
	if (env->overrun && env->stop_src != NULL &&
	    env->stop_src[0] == '@') {
		path = env->stop_src + 1;
		line = env->stop_line;
	}
	if (path == NULL && fpath != NULL) {
		path = fpath;
		if (line == 0)
			line = fline;
	}
	if (path == NULL)
		path = env->set->v[idx].path;
	diag_error(path, line, 0, "%s", buf_cstr(&msg));
	buf_free(&msg);
}

int
tmpl_render(struct tmpl_env *env, const char *name, struct buf *out)
{
	lua_State *L = env->L, *co = env->co;
	size_t	 idx, len0 = out->len;
	int	 status, nres;

	if ((idx = S_find(env->set, name)) == NONE) {
		diag_error(NULL, 0, 0, "templates: no template '%s' in the "
		    "theme", name);
		lua_pop(L, 1);
		return -1;
	}
	if (!lua_istable(L, -1)) {
		diag_error(env->set->v[idx].path, 0, 0, "the variables "
		    "passed to the template are not a table");
		lua_pop(L, 1);
		return -1;
	}
	lua_settop(co, 0);
	lua_pushcfunction(co, S_render_entry);
	lua_rawgeti(co, LUA_REGISTRYINDEX, env->fnref[idx]);
	lua_xmove(L, co, 1);
	env->out = out;
	env->steps = 0;
	env->overrun = 0;
	status = lua_resume(co, L, 2, &nres);
	env->out = NULL;
	S_capture_clear(env);	/* a render stopped inside a cached include */
	if (status == LUA_OK) {
		lua_settop(co, 0);
		return 0;
	}
	S_report(env, co, status, idx);
	/* Never resume a stopped render: reset the thread for the next. */
#if LUA_VERSION_RELEASE_NUM >= 50406
	lua_closethread(co, L);
#else
	lua_resetthread(co);
#endif
	lua_settop(co, 0);
	out->len = len0;
	if (out->data)
		out->data[len0] = '\0';
	return -1;
}

void
tmpl_env_free(struct tmpl_env *env)
{
	if (env == NULL)
		return;
	lua_close(env->L);
	lpool_free(&env->pool);
	buf_free(&env->scratch);
	buf_free(&env->ckey);
	S_capture_clear(env);
	S_cache_clear(env);
	free(env->fnref);
	free(env);
}
