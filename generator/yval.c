/*
 * yval.c: libyaml events into a small tree with positions.
 *
 * Aliases and anchors are refused outright: front matter has no use
 * for them, and refusing them rules out alias bombs.  Tags are
 * ignored.  Depth and node count are bounded.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "buf.h"
#include "diag.h"
#include "util.h"
#include "yval.h"

#define YV_MAX_DEPTH	64
#define YV_MAX_NODES	100000

struct S_parse {
	yaml_parser_t	 p;
	const char	*path;
	int		 line_offset;
	size_t		 nodes;
	int		 failed;
};

static void
S_free_node(struct yval *v)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; i < v->n; i++) {
		S_free_node(v->items[i]);
		if (v->keys)
			S_free_node(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->str);
	free(v);
}

void
yval_free(struct yval *v)
{
	S_free_node(v);
}

static struct yval *
S_node(struct S_parse *ps, enum yval_type t, yaml_mark_t m)
{
	struct yval *v = xcalloc(1, sizeof(*v));

	v->type = t;
	v->line = (int)m.line + 1 + ps->line_offset;
	v->col = (int)m.column + 1;
	ps->nodes++;
	return v;
}

static void
S_syntax_error(struct S_parse *ps)
{
	yaml_mark_t m = ps->p.problem_mark;
	const char *prob = ps->p.problem ? ps->p.problem : "invalid YAML";

	if (ps->p.error == YAML_READER_ERROR) {
		diag_error(ps->path, 1 + ps->line_offset, 0,
		    "front matter is not valid UTF-8 (%s)", prob);
		ps->failed = 1;
		return;
	}
	diag_error(ps->path, (int)m.line + 1 + ps->line_offset,
	    (int)m.column + 1, "YAML syntax error: %s%s%s", prob,
	    ps->p.context ? " " : "", ps->p.context ? ps->p.context : "");
	ps->failed = 1;
}

/* Parse the node whose first event is ev; consume through its end. */
static struct yval *
S_parse_node(struct S_parse *ps, yaml_event_t *ev, int depth)
{
	struct yval *v = NULL, *k, *item;
	yaml_event_t e;
	size_t	 cap = 0;

	if (depth > YV_MAX_DEPTH || ps->nodes > YV_MAX_NODES) {
		diag_error(ps->path, (int)ev->start_mark.line + 1 +
		    ps->line_offset, (int)ev->start_mark.column + 1,
		    "YAML nested too deeply or too large (limits: depth %d, "
		    "%d nodes)", YV_MAX_DEPTH, YV_MAX_NODES);
		ps->failed = 1;
		return NULL;
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		diag_error(ps->path, (int)ev->start_mark.line + 1 +
		    ps->line_offset, (int)ev->start_mark.column + 1,
		    "YAML aliases are not allowed");
		ps->failed = 1;
		return NULL;
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.anchor) {
			diag_error(ps->path, (int)ev->start_mark.line + 1 +
			    ps->line_offset, (int)ev->start_mark.column + 1,
			    "YAML anchors are not allowed");
			ps->failed = 1;
			return NULL;
		}
		v = S_node(ps, YV_SCALAR, ev->start_mark);
		v->len = ev->data.scalar.length;
		v->str = xstrndup((const char *)ev->data.scalar.value, v->len);
		v->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		return v;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if ((ev->type == YAML_SEQUENCE_START_EVENT ?
		    ev->data.sequence_start.anchor :
		    ev->data.mapping_start.anchor) != NULL) {
			diag_error(ps->path, (int)ev->start_mark.line + 1 +
			    ps->line_offset, (int)ev->start_mark.column + 1,
			    "YAML anchors are not allowed");
			ps->failed = 1;
			return NULL;
		}
		v = S_node(ps, ev->type == YAML_SEQUENCE_START_EVENT ?
		    YV_SEQ : YV_MAP, ev->start_mark);
		for (;;) {
			if (!yaml_parser_parse(&ps->p, &e)) {
				S_syntax_error(ps);
				S_free_node(v);
				return NULL;
			}
			if (e.type == YAML_SEQUENCE_END_EVENT ||
			    e.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&e);
				return v;
			}
			k = NULL;
			if (v->type == YV_MAP) {
				k = S_parse_node(ps, &e, depth + 1);
				yaml_event_delete(&e);
				if (k == NULL) {
					S_free_node(v);
					return NULL;
				}
				if (k->type != YV_SCALAR) {
					diag_error(ps->path, k->line, k->col,
					    "mapping keys must be plain text");
					ps->failed = 1;
				}
				if (!yaml_parser_parse(&ps->p, &e)) {
					S_syntax_error(ps);
					S_free_node(k);
					S_free_node(v);
					return NULL;
				}
			}
			item = S_parse_node(ps, &e, depth + 1);
			yaml_event_delete(&e);
			if (item == NULL) {
				S_free_node(k);
				S_free_node(v);
				return NULL;
			}
			if (v->n == cap) {
				cap = cap ? cap * 2 : 8;
				v->items = xrealloc(v->items, cap * sizeof(*v->items));
				if (v->type == YV_MAP)
					v->keys = xrealloc(v->keys, cap * sizeof(*v->keys));
			}
			if (v->type == YV_MAP)
				v->keys[v->n] = k;
			v->items[v->n++] = item;
		}
	default:
		diag_error(ps->path, (int)ev->start_mark.line + 1 +
		    ps->line_offset, (int)ev->start_mark.column + 1,
		    "unexpected YAML event");
		ps->failed = 1;
		return NULL;
	}
}

struct yval *
yval_parse(const char *path, const char *text, size_t len, int line_offset)
{
	struct S_parse ps;
	yaml_event_t e;
	struct yval *root = NULL, *extra;
	yaml_mark_t zero = { 0, 0, 0 };
	int	 done = 0;

	memset(&ps, 0, sizeof(ps));
	ps.path = path;
	ps.line_offset = line_offset;
	if (!yaml_parser_initialize(&ps.p)) {
		diag_error(path, 0, 0, "cannot initialise the YAML parser");
		return NULL;
	}
	yaml_parser_set_input_string(&ps.p, (const unsigned char *)text, len);
	yaml_parser_set_encoding(&ps.p, YAML_UTF8_ENCODING);
	while (!done && !ps.failed) {
		if (!yaml_parser_parse(&ps.p, &e)) {
			S_syntax_error(&ps);
			break;
		}
		switch (e.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		default:
			if (root != NULL) {
				diag_error(path, (int)e.start_mark.line + 1 +
				    line_offset, (int)e.start_mark.column + 1,
				    "only one YAML document is allowed");
				ps.failed = 1;
				break;
			}
			extra = S_parse_node(&ps, &e, 0);
			if (extra == NULL)
				ps.failed = 1;
			root = extra;
			break;
		}
		yaml_event_delete(&e);
	}
	yaml_parser_delete(&ps.p);
	if (ps.failed) {
		S_free_node(root);
		return NULL;
	}
	if (root == NULL) {
		root = S_node(&ps, YV_MAP, zero);
		root->line = 1 + line_offset;
	}
	return root;
}

struct yval *
yval_get(const struct yval *v, const char *key)
{
	size_t	 i;

	if (v == NULL || v->type != YV_MAP)
		return NULL;
	for (i = 0; i < v->n; i++)
		if (v->keys[i] && v->keys[i]->type == YV_SCALAR &&
		    strcmp(v->keys[i]->str, key) == 0)
			return v->items[i];
	return NULL;
}

int
yval_int(const struct yval *v, long long *out)
{
	const char *s;
	char	*end;
	long long n;

	if (v == NULL || v->type != YV_SCALAR || !v->plain)
		return 0;
	s = v->str;
	if (*s == '\0' || strlen(s) != v->len)
		return 0;
	if (*s == '+' || *s == '-')
		s++;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	n = strtoll(v->str, &end, 10);
	if (*end != '\0')
		return 0;
	*out = n;
	return 1;
}
