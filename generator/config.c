/*
 * config.c: site.yaml, validated against a fixed schema.
 *
 * Unknown keys are errors (a typo in site.yaml silently changing the
 * site would be worse than a failed build).  Every problem is
 * reported; the function fails if any was.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "diag.h"
#include "util.h"
#include "yval.h"

#define CONFIG_FILE "site.yaml"

static const char *const S_keys[] = {
	"title", "base_url", "language", "description", "parent_title",
	"theme", "categories", "required", "fields", "filters",
	"unsafe_html", "page_size", "feed_size", "bundles", "sections",
	"filter_limits", NULL
};

/* Fields a report may always carry, and those that may be required. */
static const char *const S_known_fields[] = {
	"title", "department", "year", "category", "date", "source", "slug",
	"summary", "attachments", "filters", NULL
};

static int
S_in(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

/* A scalar as a fresh string; diagnose and return NULL otherwise. */
static char *
S_str(const struct yval *v, const char *key)
{
	if (v->type != YV_SCALAR || v->len == 0 || strlen(v->str) != v->len) {
		diag_error(CONFIG_FILE, v->line, v->col,
		    "'%s' must be a non-empty text value", key);
		return NULL;
	}
	return xstrdup(v->str);
}

static int
S_bool(const struct yval *v, const char *key, int *out)
{
	if (v->type == YV_SCALAR && v->plain) {
		if (!strcmp(v->str, "true") || !strcmp(v->str, "yes")) {
			*out = 1;
			return 0;
		}
		if (!strcmp(v->str, "false") || !strcmp(v->str, "no")) {
			*out = 0;
			return 0;
		}
	}
	diag_error(CONFIG_FILE, v->line, v->col, "'%s' must be true or false",
	    key);
	return -1;
}

static int
S_int(const struct yval *v, const char *key, long long lo, long long hi,
    long long *out)
{
	long long n;

	if (!yval_int(v, &n) || n < lo || n > hi) {
		diag_error(CONFIG_FILE, v->line, v->col,
		    "'%s' must be a whole number from %lld to %lld", key, lo, hi);
		return -1;
	}
	*out = n;
	return 0;
}

/* A list of non-empty, distinct strings. */
static int
S_list(const struct yval *v, const char *key, char ***out, size_t *n)
{
	size_t	 i, j;
	int	 rc = 0;

	if (v->type != YV_SEQ) {
		diag_error(CONFIG_FILE, v->line, v->col,
		    "'%s' must be a list, e.g. %s: [a, b]", key, key);
		return -1;
	}
	*out = xcalloc(v->n + 1, sizeof(char *));
	*n = 0;
	for (i = 0; i < v->n; i++) {
		char *s = S_str(v->items[i], key);

		if (s == NULL) {
			rc = -1;
			continue;
		}
		for (j = 0; j < *n; j++)
			if (strcmp((*out)[j], s) == 0)
				break;
		if (j < *n) {
			diag_error(CONFIG_FILE, v->items[i]->line,
			    v->items[i]->col, "'%s' lists \"%s\" twice", key, s);
			free(s);
			rc = -1;
			continue;
		}
		(*out)[(*n)++] = s;
	}
	return rc;
}

int
config_filter_name_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    *s == '-' || *s == '_'))
			return 0;
	return 1;
}

static int
S_sections(struct config *c, const struct yval *v)
{
	size_t	 i, k;
	int	 rc = 0;

	if (v->type != YV_SEQ) {
		diag_error(CONFIG_FILE, v->line, v->col,
		    "'sections' must be a list of {category, required, level}");
		return -1;
	}
	c->sections = xcalloc(v->n + 1, sizeof(*c->sections));
	for (i = 0; i < v->n; i++) {
		const struct yval *e = v->items[i];
		struct section_rule *r = &c->sections[c->nsections];
		const struct yval *cat, *req, *lvl;

		if (e->type != YV_MAP) {
			diag_error(CONFIG_FILE, e->line, e->col,
			    "each 'sections' entry must be a mapping");
			rc = -1;
			continue;
		}
		for (k = 0; k < e->n; k++)
			if (strcmp(e->keys[k]->str, "category") &&
			    strcmp(e->keys[k]->str, "required") &&
			    strcmp(e->keys[k]->str, "level")) {
				diag_error(CONFIG_FILE, e->keys[k]->line,
				    e->keys[k]->col, "unknown key '%s' in "
				    "'sections' (allowed: category, required, "
				    "level)", e->keys[k]->str);
				rc = -1;
			}
		cat = yval_get(e, "category");
		req = yval_get(e, "required");
		lvl = yval_get(e, "level");
		r->category = cat ? S_str(cat, "category") : xstrdup("*");
		if (r->category == NULL) {
			rc = -1;
			r->category = xstrdup("*");
		} else if (strcmp(r->category, "*") &&
		    config_category(c, r->category) < 0) {
			diag_error(CONFIG_FILE, cat->line, cat->col,
			    "'sections' names unknown category \"%s\"",
			    r->category);
			rc = -1;
		}
		if (req == NULL) {
			diag_error(CONFIG_FILE, e->line, e->col,
			    "'sections' entry needs 'required'");
			rc = -1;
		} else if (S_list(req, "required", &r->required,
		    &r->nrequired) == -1)
			rc = -1;
		r->is_error = 0;
		if (lvl != NULL) {
			if (lvl->type == YV_SCALAR && !strcmp(lvl->str, "error"))
				r->is_error = 1;
			else if (!(lvl->type == YV_SCALAR &&
			    !strcmp(lvl->str, "warning"))) {
				diag_error(CONFIG_FILE, lvl->line, lvl->col,
				    "'level' must be warning or error");
				rc = -1;
			}
		}
		c->nsections++;
	}
	return rc;
}

static int
S_limits(struct config *c, const struct yval *v)
{
	size_t	 k;
	long long n;
	int	 rc = 0;

	if (v->type != YV_MAP) {
		diag_error(CONFIG_FILE, v->line, v->col,
		    "'filter_limits' must be a mapping of instructions, memory");
		return -1;
	}
	for (k = 0; k < v->n; k++) {
		const char *key = v->keys[k]->str;

		if (!strcmp(key, "instructions")) {
			if (S_int(v->items[k], key, 100000, 10000000000LL, &n))
				rc = -1;
			else
				c->filter_instructions = (long)n;
		} else if (!strcmp(key, "memory")) {
			if (S_int(v->items[k], key, 1 << 20, 1LL << 32, &n))
				rc = -1;
			else
				c->filter_memory = (long)n;
		} else {
			diag_error(CONFIG_FILE, v->keys[k]->line,
			    v->keys[k]->col, "unknown key '%s' in "
			    "'filter_limits' (allowed: instructions, memory)",
			    key);
			rc = -1;
		}
	}
	return rc;
}

int
config_category(const struct config *c, const char *s)
{
	size_t	 i;

	for (i = 0; i < c->ncategories; i++)
		if (strcmp(c->categories[i], s) == 0)
			return (int)i;
	return -1;
}

static void
S_defaults(struct config *c)
{
	static const char *const req[] = {
		"title", "department", "year", "category"
	};
	size_t	 i;

	if (c->title == NULL)
		c->title = xstrdup("法治政府建设年度报告");
	if (c->base_url == NULL)
		c->base_url = xstrdup("/");
	if (c->language == NULL)
		c->language = xstrdup("zh-CN");
	if (c->description == NULL)
		c->description = xstrdup(c->title);
	if (c->parent_title == NULL)
		c->parent_title = xstrdup("法治政府建设");
	if (c->theme == NULL)
		c->theme = xstrdup("default");
	if (c->required == NULL) {
		c->required = xcalloc(5, sizeof(char *));
		for (i = 0; i < 4; i++)
			c->required[i] = xstrdup(req[i]);
		c->nrequired = 4;
	}
	if (c->fields == NULL)
		c->fields = xcalloc(1, sizeof(char *));
	if (c->filters == NULL)
		c->filters = xcalloc(1, sizeof(char *));
	if (c->categories == NULL)
		c->categories = xcalloc(1, sizeof(char *));
}

int
config_load(struct config *c, const char *root)
{
	char	*path, *text, *s;
	size_t	 len, i, at;
	struct yval *y;
	const struct yval *v;
	long long n;
	int	 rc = 0;

	memset(c, 0, sizeof(*c));
	c->page_size = 20;
	c->feed_size = 20;
	c->bundles = 1;
	c->filter_instructions = 50000000L;
	c->filter_memory = 64L << 20;
	path = path_join(root, CONFIG_FILE);
	if (file_read(path, &text, &len) == -1) {
		diag_error(CONFIG_FILE, 0, 0, "cannot read: %s", strerror(errno));
		diag_hint("a site needs site.yaml at its root (see README.md)");
		free(path);
		S_defaults(c);
		return -1;
	}
	free(path);
	at = utf8_invalid_at(text, len);
	if (at != (size_t)-1 || memchr(text, '\0', len) != NULL) {
		diag_error(CONFIG_FILE, 0, 0, "not valid UTF-8 text");
		free(text);
		S_defaults(c);
		return -1;
	}
	y = yval_parse(CONFIG_FILE, text, len, 0);
	free(text);
	if (y == NULL) {
		S_defaults(c);
		return -1;
	}
	c->raw = y;
	if (y->type != YV_MAP) {
		diag_error(CONFIG_FILE, y->line, y->col,
		    "site.yaml must be a mapping of settings");
		S_defaults(c);
		return -1;
	}
	/* Categories first: 'sections' refers to them. */
	if ((v = yval_get(y, "categories")) != NULL &&
	    S_list(v, "categories", &c->categories, &c->ncategories) == -1)
		rc = -1;
	for (i = 0; i < y->n; i++) {
		const char *key = y->keys[i]->str;
		size_t	 j;

		v = y->items[i];
		/* A repeated key is an error; only its first value is used. */
		for (j = 0; j < i; j++)
			if (!strcmp(y->keys[j]->str, key))
				break;
		if (j < i) {
			diag_error(CONFIG_FILE, y->keys[i]->line,
			    y->keys[i]->col, "'%s' is set twice", key);
			rc = -1;
			continue;
		}
		if (!S_in(S_keys, key)) {
			diag_error(CONFIG_FILE, y->keys[i]->line,
			    y->keys[i]->col, "unknown key '%s'", key);
			diag_hint("allowed keys: title, base_url, language, "
			    "description, parent_title, theme, categories, "
			    "required, fields, filters, unsafe_html, page_size, "
			    "feed_size, bundles, sections, filter_limits");
			rc = -1;
			continue;
		}
		if (!strcmp(key, "categories"))
			continue;
#define STRKEY(name, field) \
		if (!strcmp(key, name)) { \
			free(c->field); \
			if ((c->field = S_str(v, key)) == NULL) \
				rc = -1; \
			continue; \
		}
		STRKEY("title", title)
		STRKEY("language", language)
		STRKEY("description", description)
		STRKEY("parent_title", parent_title)
#undef STRKEY
		if (!strcmp(key, "base_url")) {
			if ((s = S_str(v, key)) == NULL) {
				rc = -1;
				continue;
			}
			if (strncmp(s, "https://", 8) && strncmp(s, "http://", 7) &&
			    s[0] != '/') {
				diag_error(CONFIG_FILE, v->line, v->col,
				    "'base_url' must start with https://, "
				    "http:// or /");
				free(s);
				rc = -1;
				continue;
			}
			if (s[strlen(s) - 1] != '/') {
				c->base_url = xasprintf("%s/", s);
				free(s);
			} else
				c->base_url = s;
		} else if (!strcmp(key, "theme")) {
			if ((c->theme = S_str(v, key)) == NULL)
				rc = -1;
			else if (!path_is_safe(c->theme) ||
			    strchr(c->theme, '/')) {
				diag_error(CONFIG_FILE, v->line, v->col,
				    "'theme' must be a directory name under "
				    "themes/");
				rc = -1;
			}
		} else if (!strcmp(key, "required")) {
			if (S_list(v, key, &c->required, &c->nrequired) == -1)
				rc = -1;
			for (j = 0; j < c->nrequired; j++)
				if (!S_in(S_known_fields, c->required[j])) {
					diag_error(CONFIG_FILE, v->items[j]->line,
					    v->items[j]->col, "'required' "
					    "names unknown field '%s'",
					    c->required[j]);
					rc = -1;
				}
		} else if (!strcmp(key, "fields")) {
			if (S_list(v, key, &c->fields, &c->nfields) == -1)
				rc = -1;
		} else if (!strcmp(key, "filters")) {
			if (S_list(v, key, &c->filters, &c->nfilters) == -1)
				rc = -1;
			for (j = 0; j < c->nfilters; j++)
				if (!config_filter_name_ok(c->filters[j])) {
					diag_error(CONFIG_FILE, v->items[j]->line,
					    v->items[j]->col, "filter names "
					    "are a-z, 0-9, - and _: '%s'",
					    c->filters[j]);
					rc = -1;
				}
		} else if (!strcmp(key, "unsafe_html")) {
			if (S_bool(v, key, &c->unsafe_html))
				rc = -1;
		} else if (!strcmp(key, "bundles")) {
			if (S_bool(v, key, &c->bundles))
				rc = -1;
		} else if (!strcmp(key, "page_size")) {
			if (S_int(v, key, 1, 10000, &n))
				rc = -1;
			else
				c->page_size = (int)n;
		} else if (!strcmp(key, "feed_size")) {
			if (S_int(v, key, 1, 10000, &n))
				rc = -1;
			else
				c->feed_size = (int)n;
		} else if (!strcmp(key, "sections")) {
			if (S_sections(c, v))
				rc = -1;
		} else if (!strcmp(key, "filter_limits")) {
			if (S_limits(c, v))
				rc = -1;
		}
	}
	if (rc == 0 && c->ncategories == 0) {
		diag_error(CONFIG_FILE, y->line, y->col,
		    "site.yaml must list the site's 'categories'");
		diag_hint("e.g. categories: [市政府部门, 区政府, 市直单位]");
		rc = -1;
	}
	S_defaults(c);
	return rc;
}

static void
S_free_list(char **v, size_t n)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
config_free(struct config *c)
{
	size_t	 i;

	free(c->title);
	free(c->base_url);
	free(c->language);
	free(c->description);
	free(c->parent_title);
	free(c->theme);
	S_free_list(c->categories, c->ncategories);
	S_free_list(c->required, c->nrequired);
	S_free_list(c->fields, c->nfields);
	S_free_list(c->filters, c->nfilters);
	for (i = 0; i < c->nsections; i++) {
		free(c->sections[i].category);
		S_free_list(c->sections[i].required, c->sections[i].nrequired);
	}
	free(c->sections);
	yval_free(c->raw);
	memset(c, 0, sizeof(*c));
}
