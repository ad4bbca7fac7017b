/*
 * markdown.c: cmark-gfm parsing and an HTML renderer for the top level.
 *
 * cmark-gfm renders most nodes well; what it lacks is heading ids and
 * a scrollable box around tables.  So the top-level walk here handles
 * documents, block quotes, filter sections (custom blocks), headings
 * and tables itself and hands every other block to cmark_render_html,
 * which applies safe mode (raw HTML dropped, dangerous URLs removed).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmark-gfm.h>
#include <cmark-gfm-core-extensions.h>

#include "buf.h"
#include "diag.h"
#include "markdown.h"
#include "util.h"

static pthread_once_t	 S_once = PTHREAD_ONCE_INIT;
/* Frees a thread's spare arena chunk when the thread ends (S_spare). */
static pthread_key_t	 S_spare_key;
static cmark_llist	*S_exts;
static cmark_syntax_extension *S_table;

static void
S_init(void)
{
	static const char *const names[] = {
		"table", "strikethrough", "autolink"
	};
	cmark_mem *mem = cmark_get_default_mem_allocator();
	cmark_syntax_extension *e;
	size_t	 i;

	if (pthread_key_create(&S_spare_key, free) != 0)
		abort();

	cmark_gfm_core_extensions_ensure_registered();
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((e = cmark_find_syntax_extension(names[i])) != NULL) {
			S_exts = cmark_llist_append(mem, S_exts, e);
			if (i == 0)
				S_table = e;
		}
}

void *
md_extensions(void)
{
	pthread_once(&S_once, S_init);
	return S_exts;
}

static int
S_options(int unsafe_html)
{
	return CMARK_OPT_DEFAULT | CMARK_OPT_TABLE_PREFER_STYLE_ATTRIBUTES |
	    (unsafe_html ? CMARK_OPT_UNSAFE : 0);
}

/*
 * The columns of a GFM delimiter row ("|---|:--:|") ending the line
 * [p, e), or 0.  Only the line's tail is read, so rows inside block
 * quotes and list items ("> |---|") count too.
 */
static size_t
S_delim_cols(const char *p, const char *e)
{
	const char *q = e;
	size_t	 cols = 0, pipes = 0;
	int	 dash = 0;

	while (q > p && q[-1] != '\0' && strchr("|:- \t", q[-1]) != NULL)
		q--;
	for (; q < e; q++) {
		if (*q == '|') {
			pipes++;
			cols += dash;
			dash = 0;
		} else if (*q == '-')
			dash = 1;
	}
	cols += dash;
	return pipes > 0 ? cols : 0;
}

/* Is the line blank, counting block-quote markers as blank? */
static int
S_blank(const char *p, const char *e)
{
	for (; p < e; p++)
		if (*p != ' ' && *p != '\t' && *p != '>')
			return 0;
	return 1;
}

int
md_check(const char *path, const char *text, size_t len, int line_offset)
{
	const char *p = text, *end = text + len, *nl, *next, *lf = NULL;
	size_t	 cols = 0, rows = 0, cells = 0, c;
	int	 line = 0, tline = 0;

	/* Lines end at \n, \r\n or a lone \r, as for cmark. */
	for (; p < end; p = next) {
		/* The next \n, found again only once passed (lone-\r files). */
		if ((lf == NULL || lf < p) &&
		    (lf = memchr(p, '\n', (size_t)(end - p))) == NULL)
			lf = end;
		/* A \r before it ends the line there. */
		if ((nl = memchr(p, '\r', (size_t)(lf - p))) == NULL)
			nl = lf;
		next = nl;
		if (next < end)
			next += *next == '\r' && next + 1 < end &&
			    next[1] == '\n' ? 2 : 1;
		line++;
		if (S_blank(p, nl)) {
			cols = 0;
			continue;
		}
		/* A wider delimiter row may start a new table: count anew. */
		if ((c = S_delim_cols(p, nl)) > cols) {
			cols = c;
			rows = 1;	/* the header row is the line before */
			cells += cols;
			tline = line > 1 ? line - 1 : 1;
		}
		if (cols > 0) {
			rows++;
			cells += cols;
		}
		if (cols > MD_MAX_TABLE_COLUMNS) {
			diag_error(path, tline + line_offset, 1, "table of %zu "
			    "columns; the limit is %d", cols,
			    MD_MAX_TABLE_COLUMNS);
			return -1;
		}
		if (cells > MD_MAX_TABLE_CELLS) {
			diag_error(path, tline + line_offset, 1, "tables too "
			    "large: this one reaches %zu rows of %zu columns, "
			    "and a report may hold %d table cells in all",
			    rows, cols, MD_MAX_TABLE_CELLS);
			diag_hint("split the table, or attach the data as a CSV "
			    "file (attachments:)");
			return -1;
		}
	}
	return 0;
}

/*
 * Each parsed document gets its own arena for cmark's allocations: a
 * parse and render make about a thousand small callocs, reallocs and
 * frees per report, a tenth of a build's instructions, and a document's
 * memory all goes at once in md_free().  cmark's allocator functions
 * take no context, so the arena they use is the calling thread's
 * newest live one: documents are parsed and freed last in, first out
 * on each thread (page.c, links.c), and any allocation for a document
 * happens while its arena is the newest.  Frees are no-ops, except that
 * freeing or growing the newest block reuses its space: rendering a
 * block at a time gives its buffer back each time.  Filters make their
 * nodes with the document's allocator (md_mem()), as cmark requires of
 * nodes linked together.
 *
 * Sanitizer builds malloc every block and free it on cmark's free or
 * when the arena goes, so that ASan still sees each block and any use
 * of a document's memory after md_free().
 */
#define	S_CHUNK_MIN	(64 * 1024)
#define	S_HDR		16	/* block header: its size; keeps 16-byte alignment */

struct S_chunk {
	struct S_chunk	*next;
	size_t		 size;		/* bytes after this header */
	/* then the blocks, from (char *)chunk + S_HDR */
};

struct S_block {			/* sanitizer builds: every block */
	struct S_block	*next, *prev;
};

struct S_arena {
	struct S_arena	*older;		/* the thread's arena before this one */
	cmark_node	*doc;		/* the document it holds, once parsed */
	struct S_chunk	*chunks;	/* newest first */
	char		*cur;		/* free space in the newest chunk */
	size_t		 left;
	char		*last;		/* the newest block, or NULL */
	struct S_block	*blocks;	/* sanitizer builds */
};

static _Thread_local struct S_arena *S_cur;
/* One released chunk kept per thread, so most documents malloc nothing. */
static _Thread_local struct S_chunk *S_spare;

static void
S_spare_set(struct S_chunk *c)
{
	S_spare = c;
	pthread_setspecific(S_spare_key, c);
}

static struct S_arena *
S_arena(void)
{
	if (S_cur == NULL) {
		/* A document's memory touched after md_free(): a bug. */
		fprintf(stderr, "fazhi: cmark allocation outside a document\n");
		abort();
	}
	return S_cur;
}

static void *
S_get(size_t n)
{
	struct S_arena *a = S_arena();
	struct S_chunk *c;
	size_t	 need, size;
	char	*p;

	if (n > SIZE_MAX / 2)
		xoom();
	need = S_HDR + ((n + 15) & ~(size_t)15);
	if (FAZHI_ASAN) {
		struct S_block *b = xmalloc(S_HDR + sizeof(*b) + n);

		b->next = a->blocks;
		b->prev = NULL;
		if (a->blocks != NULL)
			a->blocks->prev = b;
		a->blocks = b;
		p = (char *)(b + 1);
		memcpy(p, &n, sizeof(n));
		return p + S_HDR;
	}
	if (need > a->left) {
		if (S_spare != NULL && S_spare->size >= need) {
			c = S_spare;
			S_spare_set(NULL);
		} else {
			/* Chunks double with the document, from 64 KiB. */
			size = a->chunks ? a->chunks->size * 2 : S_CHUNK_MIN;
			if (size < need)
				size = need;
			c = xmalloc(S_HDR + size);
			c->size = size;
		}
		c->next = a->chunks;
		a->chunks = c;
		a->cur = (char *)c + S_HDR;
		a->left = c->size;
	}
	p = a->cur;
	a->cur += need;
	a->left -= need;
	memcpy(p, &n, sizeof(n));
	a->last = p;
	return p + S_HDR;
}

static void *
S_calloc(size_t k, size_t n)
{
	void	*p;

	if (n != 0 && k > SIZE_MAX / n)
		xoom();
	p = S_get(k * n);
	memset(p, 0, k * n);
	return p;
}

static void
S_free(void *ptr)
{
	struct S_arena *a;
	char	*p = ptr;
	size_t	 n;

	if (p == NULL)
		return;
	a = S_arena();
	p -= S_HDR;
	if (FAZHI_ASAN) {
		struct S_block *b = (struct S_block *)p - 1;

		if (b->prev != NULL)
			b->prev->next = b->next;
		else
			a->blocks = b->next;
		if (b->next != NULL)
			b->next->prev = b->prev;
		free(b);
		return;
	}
	if (p == a->last) {
		memcpy(&n, p, sizeof(n));
		n = S_HDR + ((n + 15) & ~(size_t)15);
		a->cur -= n;
		a->left += n;
		a->last = NULL;
	}
}

static void *
S_realloc(void *ptr, size_t n)
{
	struct S_arena *a;
	char	*p = ptr, *q;
	size_t	 old, oldneed, need;

	if (p == NULL)
		return S_get(n);
	a = S_arena();
	memcpy(&old, p - S_HDR, sizeof(old));
	if (!FAZHI_ASAN && p - S_HDR == a->last) {
		/* The newest block grows (or shrinks) where it is. */
		oldneed = (old + 15) & ~(size_t)15;
		need = (n + 15) & ~(size_t)15;
		if (n <= SIZE_MAX / 2 && need <= oldneed + a->left) {
			a->left = a->left + oldneed - need;
			a->cur = p + need;
			memcpy(p - S_HDR, &n, sizeof(n));
			return p;
		}
	}
	q = S_get(n);
	memcpy(q, p, old < n ? old : n);
	S_free(p);
	return q;
}

static cmark_mem S_arena_mem = { S_calloc, S_realloc, S_free };

/*
 * Where a block's rendered HTML goes: the newest document's arena (it
 * is freed at once, so its space is reused), else malloc.
 */
static cmark_mem *
S_render_mem(void)
{
	return S_cur != NULL ? &S_arena_mem : cmark_get_default_mem_allocator();
}

/* Release the arena of doc (made by md_parse() on this thread), if any. */
static void
S_arena_release(cmark_node *doc)
{
	struct S_arena **pp, *a;
	struct S_chunk *c, *next;
	struct S_block *b, *bn;

	for (pp = &S_cur; (a = *pp) != NULL; pp = &a->older)
		if (a->doc == doc)
			break;
	if (a == NULL)
		return;
	*pp = a->older;
	for (b = a->blocks; b != NULL; b = bn) {
		bn = b->next;
		free(b);
	}
	for (c = a->chunks; c != NULL; c = next) {
		next = c->next;
		if (S_spare == NULL || c->size > S_spare->size) {
			free(S_spare);
			S_spare_set(c);
		} else
			free(c);
	}
	free(a);
}

struct cmark_mem *
md_mem(struct cmark_node *doc)
{
	struct S_arena *a;

	for (a = S_cur; a != NULL; a = a->older)
		if (a->doc == doc)
			return &S_arena_mem;
	return cmark_get_default_mem_allocator();
}

struct cmark_node *
md_parse(const char *text, size_t len, int unsafe_html)
{
	struct S_arena *a;
	cmark_parser *p;
	cmark_llist *l;
	cmark_node *doc;

	pthread_once(&S_once, S_init);
	a = xcalloc(1, sizeof(*a));
	a->older = S_cur;
	S_cur = a;
	p = cmark_parser_new_with_mem(S_options(unsafe_html), &S_arena_mem);
	for (l = S_exts; l; l = l->next)
		cmark_parser_attach_syntax_extension(p, l->data);
	cmark_parser_feed(p, text, len);
	doc = cmark_parser_finish(p);
	cmark_parser_free(p);
	if (doc == NULL)
		abort();
	a->doc = doc;
	return doc;
}

void
md_text(struct cmark_node *n, struct buf *out)
{
	cmark_iter *it = cmark_iter_new(n);
	cmark_event_type ev;
	cmark_node *c;
	const char *lit;

	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		if (ev != CMARK_EVENT_ENTER)
			continue;
		c = cmark_iter_get_node(it);
		switch (cmark_node_get_type(c)) {
		case CMARK_NODE_TEXT:
		case CMARK_NODE_CODE:
			if ((lit = cmark_node_get_literal(c)) != NULL)
				buf_puts(out, lit);
			break;
		case CMARK_NODE_SOFTBREAK:
		case CMARK_NODE_LINEBREAK:
			buf_putc(out, ' ');
			break;
		default:
			break;
		}
	}
	cmark_iter_free(it);
}

/* Is cp punctuation or a space, in ASCII or the CJK punctuation blocks? */
static int
S_is_sep(uint32_t cp)
{
	if (cp < 0x80)
		return !((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
		    (cp >= '0' && cp <= '9') || cp == '_');
	return (cp >= 0x2000 && cp <= 0x206f) || (cp >= 0x3000 && cp <= 0x303f) ||
	    (cp >= 0xff00 && cp <= 0xff0f) || (cp >= 0xff1a && cp <= 0xff20) ||
	    (cp >= 0xff3b && cp <= 0xff40) || (cp >= 0xff5b && cp <= 0xff65) ||
	    cp == 0x00b7 || cp == 0x00a0 || (cp >= 0xfe30 && cp <= 0xfe4f);
}

/* A readable id from heading text: 一、主要举措 -> 一-主要举措. */
static void
S_slugify(const char *s, size_t len, struct buf *out)
{
	size_t	 i = 0, k, start = out->len, chars = 0;
	uint32_t cp;
	int	 sep = 0;

	while (i < len && chars < 48) {
		k = utf8_decode(s + i, len - i, &cp);
		if (k == 0) {
			i++;
			continue;
		}
		if (S_is_sep(cp))
			sep = out->len > start;
		else {
			if (sep)
				buf_putc(out, '-');
			sep = 0;
			if (cp >= 'A' && cp <= 'Z')
				buf_putc(out, (int)(cp + 32));
			else
				buf_put(out, s + i, k);
			chars++;
		}
		i += k;
	}
	if (out->len == start)
		buf_puts(out, "section");
}

/* One id in use, and the next suffix to try when it comes up again. */
struct S_id {
	char	*id;
	int	 next;
};

void
md_slug(const char *text, size_t len, struct buf *out)
{
	S_slugify(text, len, out);
}

struct S_render {
	struct buf	*out;
	struct toc	*toc;
	int		 options;
	struct S_id	*ids;	/* hash set of the ids used so far */
	size_t		 nids;
	size_t		 capids;	/* a power of two, or 0 */
	size_t		 tables;
};

/* The slot holding id, or the empty slot where it would go. */
static struct S_id *
S_id_slot(struct S_render *st, const char *id)
{
	size_t	 i = (size_t)str_hash(id) & (st->capids - 1);

	while (st->ids[i].id != NULL && strcmp(st->ids[i].id, id) != 0)
		i = (i + 1) & (st->capids - 1);
	return &st->ids[i];
}

static void
S_id_add(struct S_render *st, const char *id)
{
	struct S_id *old = st->ids, *e;
	size_t	 i, oldcap = st->capids;

	if (2 * (st->nids + 1) > st->capids) {
		st->capids = oldcap ? oldcap * 2 : 64;
		st->ids = xcalloc(st->capids, sizeof(*st->ids));
		for (i = 0; i < oldcap; i++)
			if (old[i].id != NULL)
				*S_id_slot(st, old[i].id) = old[i];
		free(old);
	}
	e = S_id_slot(st, id);
	e->id = xstrdup(id);
	e->next = 2;
	st->nids++;
}

/*
 * A page's ids must be unique.  Each base remembers the next suffix to
 * try, so n headings with the same text cost O(n), not O(n^2) probes:
 * a report of thousands of identical headings once took minutes.
 */
static char *
S_unique_id(struct S_render *st, const char *base)
{
	struct S_id *e;
	char	*id;
	int	 n;

	if (st->capids == 0 || (e = S_id_slot(st, base))->id == NULL) {
		S_id_add(st, base);
		return xstrdup(base);
	}
	n = e->next;
	for (;;) {
		id = xasprintf("%s-%d", base, n++);
		if (S_id_slot(st, id)->id == NULL)
			break;
		free(id);
	}
	e->next = n;
	S_id_add(st, id);
	return id;
}

static void
S_cmark_html(struct S_render *st, cmark_node *n)
{
	cmark_mem *m = S_render_mem();
	char	*html = cmark_render_html_with_mem(n, st->options, S_exts, m);

	buf_puts(st->out, html);
	m->free(html);
}

static void
S_heading(struct S_render *st, cmark_node *n)
{
	struct buf text = { 0 }, base = { 0 };
	const char *preset = cmark_node_get_user_data(n);
	cmark_mem *m;
	char	*html, *id;
	int	 level = cmark_node_get_heading_level(n);
	struct toc_entry *e;

	md_text(n, &text);
	if (preset != NULL && *preset != '\0')
		buf_puts(&base, preset);
	else
		S_slugify(buf_cstr(&text), text.len, &base);
	id = S_unique_id(st, buf_cstr(&base));
	m = S_render_mem();
	html = cmark_render_html_with_mem(n, st->options, S_exts, m);
	/* cmark writes "<hN>"; put the id in the opening tag. */
	if (strncmp(html, "<h", 2) == 0 && html[3] == '>') {
		buf_put(st->out, html, 3);
		buf_puts(st->out, " id=\"");
		buf_html_escape(st->out, id, strlen(id));
		buf_putc(st->out, '"');
		buf_puts(st->out, html + 3);
	} else
		buf_puts(st->out, html);
	m->free(html);
	if (st->toc != NULL && level >= 2) {
		st->toc->v = xgrow(st->toc->v, st->toc->n, sizeof(*st->toc->v));
		e = &st->toc->v[st->toc->n++];
		e->level = level;
		e->id = id;
		e->text = buf_detach(&text);
	} else
		free(id);
	buf_free(&text);
	buf_free(&base);
}

/*
 * Block quotes and filter sections nest without limit in Markdown
 * ("> > > …"), and this walk recurses on them.  Below MD_MAX_NEST
 * levels the subtree goes to cmark_render_html, which is iterative:
 * 100000 nested quotes once overflowed the stack.  Headings that deep
 * get no id and no table-of-contents entry.
 */
#define MD_MAX_NEST	200

static void
S_block(struct S_render *st, cmark_node *n, int depth)
{
	cmark_node *c;
	const char *s;

	if (depth > MD_MAX_NEST) {
		S_cmark_html(st, n);
		return;
	}
	switch (cmark_node_get_type(n)) {
	case CMARK_NODE_DOCUMENT:
		for (c = cmark_node_first_child(n); c; c = cmark_node_next(c))
			S_block(st, c, depth + 1);
		return;
	case CMARK_NODE_BLOCK_QUOTE:
		buf_puts(st->out, "<blockquote>\n");
		for (c = cmark_node_first_child(n); c; c = cmark_node_next(c))
			S_block(st, c, depth + 1);
		buf_puts(st->out, "</blockquote>\n");
		return;
	case CMARK_NODE_CUSTOM_BLOCK:
		if ((s = cmark_node_get_on_enter(n)) != NULL)
			buf_puts(st->out, s);
		for (c = cmark_node_first_child(n); c; c = cmark_node_next(c))
			S_block(st, c, depth + 1);
		if ((s = cmark_node_get_on_exit(n)) != NULL)
			buf_puts(st->out, s);
		return;
	case CMARK_NODE_HEADING:
		S_heading(st, n);
		return;
	default:
		break;
	}
	if (S_table != NULL && cmark_node_get_syntax_extension(n) == S_table &&
	    strcmp(cmark_node_get_type_string(n), "table") == 0) {
		st->tables++;
		/* A labelled, focusable region, so keyboards can scroll it. */
		buf_printf(st->out, "<section class=\"table-wrap\" "
		    "tabindex=\"0\" aria-label=\"表格%zu\">\n", st->tables);
		S_cmark_html(st, n);
		buf_puts(st->out, "</section>\n");
		return;
	}
	S_cmark_html(st, n);
}

void
md_render(struct cmark_node *doc, struct buf *out, struct toc *toc,
    int unsafe_html)
{
	struct S_render st;
	size_t	 i;

	pthread_once(&S_once, S_init);
	memset(&st, 0, sizeof(st));
	st.out = out;
	st.toc = toc;
	st.options = S_options(unsafe_html);
	S_block(&st, doc, 0);
	for (i = 0; i < st.capids; i++)
		free(st.ids[i].id);
	free(st.ids);
}

static void
S_free_id(cmark_mem *mem, void *id)
{
	(void)mem;
	free(id);
}

void
md_set_id(struct cmark_node *n, const char *id)
{
	void	*old = cmark_node_get_user_data(n);

	free(old);
	cmark_node_set_user_data(n, xstrdup(id));
	cmark_node_set_user_data_free_func(n, S_free_id);
}

/* Ids set by md_set_id() go with their nodes: no walk over the tree. */
void
md_free(struct cmark_node *doc)
{
	if (doc == NULL)
		return;
	/* Frees the nodes filters made, and the ids; arena blocks stay. */
	cmark_node_free(doc);
	S_arena_release(doc);
}

void
toc_free(struct toc *t)
{
	size_t	 i;

	for (i = 0; i < t->n; i++) {
		free(t->v[i].id);
		free(t->v[i].text);
	}
	free(t->v);
	t->v = NULL;
	t->n = 0;
}
