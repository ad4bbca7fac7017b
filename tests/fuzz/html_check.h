/*
 * html_check.h: the fuzzers' model of safe HTML.
 *
 * fz_check_html() reads rendered report HTML as an attacker would:
 * every tag must be one the renderer (or a bundled filter, through
 * extra_tags) is known to produce, with only known attributes, every
 * attribute value quoted and free of < and >, no text holding a raw
 * '>', and no link or image URL with a scheme that runs script.  It
 * aborts with the offending tag, which libFuzzer records with the input.
 */
#ifndef FAZHI_HTML_CHECK_H
#define FAZHI_HTML_CHECK_H

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "fuzz_util.h"

static const char *const S_tags[] = {
	"a", "blockquote", "br", "code", "del", "div", "em", "h1", "h2",
	"h3", "h4", "h5", "h6", "hr", "img", "li", "ol", "p", "pre",
	/* Tables scroll in <section class="table-wrap" tabindex aria-label>. */
	"section", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
	NULL
};

static const char *const S_attrs[] = {
	"href", "src", "alt", "title", "id", "class", "style", "role",
	"tabindex", "aria-label", "start", NULL
};

static inline int
S_in(const char *const *list, const char *s, size_t n)
{
	for (; *list; list++)
		if (strlen(*list) == n && strncmp(*list, s, n) == 0)
			return 1;
	return 0;
}

/* Does a URL attribute value start with a scheme that runs code? */
static inline int
S_bad_url(const char *v, size_t n)
{
	static const char *const bad[] = {
		"javascript:", "vbscript:", "file:", "data:", NULL
	};
	char	 low[16];
	size_t	 i, k;

	/* Browsers skip leading spaces and controls; entities were escaped. */
	while (n > 0 && (unsigned char)*v <= 0x20) {
		v++;
		n--;
	}
	for (i = 0, k = 0; i < n && k < sizeof(low) - 1; i++) {
		/* Tabs and newlines inside a scheme are ignored by browsers. */
		if (v[i] == '\t' || v[i] == '\n' || v[i] == '\r')
			continue;
		low[k++] = (char)tolower((unsigned char)v[i]);
	}
	low[k] = '\0';
	for (i = 0; bad[i]; i++)
		if (strncmp(low, bad[i], strlen(bad[i])) == 0) {
			/* cmark allows data: for these image types only. */
			if (strcmp(bad[i], "data:") == 0 &&
			    (!strncmp(low, "data:image/png", 14) ||
			    !strncmp(low, "data:image/gif", 14) ||
			    !strncmp(low, "data:image/jpe", 14) ||
			    !strncmp(low, "data:image/web", 14)))
				continue;
			return 1;
		}
	return 0;
}

/* Check safe-mode HTML; abort with a message on the first problem. */
static inline void
S_check_tags(const char *h, size_t len, const char *const *xtags,
    const char *const *xattrs)
{
	const char *p = h, *end = h + len, *name, *q;
	size_t	 nlen, alen;

	while ((p = memchr(p, '<', (size_t)(end - p))) != NULL) {
		if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
			q = memmem(p + 4, (size_t)(end - p - 4), "-->", 3);
			FZ_ASSERT(q != NULL, "unclosed comment");
			FZ_ASSERT(memmem(p, (size_t)(q - p), ">", 1) == NULL,
			    "'>' inside a comment");
			p = q + 3;
			continue;
		}
		p++;
		if (p < end && *p == '/')
			p++;
		name = p;
		while (p < end && isalnum((unsigned char)*p))
			p++;
		nlen = (size_t)(p - name);
		FZ_ASSERT(S_in(S_tags, name, nlen) || (xtags != NULL &&
		    S_in(xtags, name, nlen)), "unexpected tag <%.*s",
		    (int)(nlen > 40 ? 40 : nlen), name);
		for (;;) {
			while (p < end && *p == ' ')
				p++;
			FZ_ASSERT(p < end, "tag <%.*s not closed", (int)nlen, name);
			if (*p == '>') {
				p++;
				break;
			}
			if (*p == '/' && p + 1 < end && p[1] == '>') {
				p += 2;
				break;
			}
			q = p;
			while (p < end && (isalnum((unsigned char)*p) || *p == '-'))
				p++;
			alen = (size_t)(p - q);
			FZ_ASSERT(S_in(S_attrs, q, alen) || (xattrs != NULL &&
			    S_in(xattrs, q, alen)), "unexpected attribute "
			    "%.*s in <%.*s>", (int)(alen > 40 ? 40 : alen), q,
			    (int)nlen, name);
			FZ_ASSERT(p + 1 < end && p[0] == '=' && p[1] == '"',
			    "attribute %.*s not quoted", (int)alen, q);
			p += 2;
			q = memchr(p, '"', (size_t)(end - p));
			FZ_ASSERT(q != NULL, "attribute value not closed");
			FZ_ASSERT(memchr(p, '<', (size_t)(q - p)) == NULL &&
			    memchr(p, '>', (size_t)(q - p)) == NULL,
			    "raw < or > in an attribute value");
			if ((alen == 4 && !strncmp(p - alen - 2, "href", 4)) ||
			    (alen == 3 && !strncmp(p - alen - 2, "src", 3)))
				FZ_ASSERT(!S_bad_url(p, (size_t)(q - p)),
				    "dangerous URL %.*s", (int)(q - p > 60 ? 60 :
				    q - p), p);
			p = q + 1;
		}
	}
}

/* Text between tags may not hold '>' either: it is always escaped. */
static inline void
S_check_text(const char *h, size_t len)
{
	const char *p = h, *end = h + len;
	int	 intag = 0, incomment = 0;

	for (; p < end; p++) {
		if (incomment) {
			if (end - p >= 3 && memcmp(p, "-->", 3) == 0) {
				incomment = 0;
				p += 2;
			}
		} else if (*p == '<') {
			if (end - p >= 4 && memcmp(p, "<!--", 4) == 0)
				incomment = 1;
			else
				intag = 1;
		} else if (*p == '"' && intag) {
			const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));

			if (q == NULL)
				return;	/* S_check_html reports it */
			p = q;
		} else if (*p == '>') {
			FZ_ASSERT(intag, "raw '>' in text at offset %zu",
			    (size_t)(p - h));
			intag = 0;
		}
	}
}

static inline void
fz_check_html(const char *h, size_t len, const char *const *xtags,
    const char *const *xattrs)
{
	S_check_tags(h, len, xtags, xattrs);
	S_check_text(h, len);
}

#endif
