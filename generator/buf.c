/*
 * buf.c: growable buffers and the one set of escapers.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "util.h"

void
buf_grow(struct buf *b, size_t extra)
{
	size_t	 need, cap;

	if (extra > (size_t)-1 / 2 - b->len) {
		fprintf(stderr, "fazhi: buffer too large\n");
		abort();
	}
	need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap += cap / 2 + 64;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}


void
buf_puts(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}


void
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list	 aq;
	int	 n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return;
	buf_grow(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *
buf_detach(struct buf *b)
{
	char	*p;

	p = b->data ? b->data : xstrdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

const char *
buf_cstr(const struct buf *b)
{
	return b->data ? b->data : "";
}

/*
 * Copy runs of harmless bytes at once; replace the five significant
 * characters, and anything that is not valid UTF-8 or is a control
 * character, so that no input can change the structure of a page.
 */
/* Length of a valid UTF-8 sequence at s that is not a C1 control, or 0. */
static inline size_t
S_utf8_ok(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	/* CJK first: nearly every non-ASCII character of a report. */
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))
			return 0;
		return 3;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		if (n < 2 || (s[1] & 0xc0) != 0x80 || (c == 0xc2 && s[1] < 0xa0))
			return 0;
		return 2;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80 || (c == 0xf0 && s[1] < 0x90) ||
		    (c == 0xf4 && s[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

/* ASCII bytes that HTML text and attribute values take as they are. */
static const unsigned char S_html_plain[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

void
buf_html_escape(struct buf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t	 i = 0, run, k;
	unsigned char c;

	buf_grow(b, n);
	while (i < n) {
		run = i;
		while (run < n) {
			c = u[run];
			if (S_html_plain[c]) {
				run++;
				continue;
			}
			if (c < 0x80 || (k = S_utf8_ok(u + run, n - run)) == 0)
				break;
			run += k;
		}
		if (run > i)
			buf_put(b, s + i, run - i);
		i = run;
		if (i >= n)
			break;
		c = u[i];
		switch (c) {
		case '&': buf_puts(b, "&amp;"); i++; continue;
		case '<': buf_puts(b, "&lt;"); i++; continue;
		case '>': buf_puts(b, "&gt;"); i++; continue;
		case '"': buf_puts(b, "&quot;"); i++; continue;
		case '\'': buf_puts(b, "&#39;"); i++; continue;
		case '\t': case '\n': case '\r': buf_putc(b, c); i++; continue;
		default: break;
		}
		/* Controls, DEL, C1 controls and invalid UTF-8. */
		buf_puts(b, "\xEF\xBF\xBD");
		if (c >= 0x80 && (k = S_utf8_ok(u + i, n - i)) == 0) {
			uint32_t cp;
			k = utf8_decode(s + i, n - i, &cp);
			i += k ? k : 1;
		} else
			i++;
	}
}

void
buf_url_escape(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t	 i;
	unsigned char c;

	size_t	 run;
	char	 pct[3];

	for (i = 0; i < n; ) {
		/* A run of unreserved bytes, copied at once. */
		for (run = i; run < n; run++) {
			c = (unsigned char)s[run];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
			    c == '_' || c == '~' || c == '/'))
				break;
		}
		if (run > i)
			buf_put(b, s + i, run - i);
		if ((i = run) >= n)
			break;
		c = (unsigned char)s[i++];
		pct[0] = '%';
		pct[1] = hex[c >> 4];
		pct[2] = hex[c & 15];
		buf_put(b, pct, 3);
	}
}

void
buf_json_escape(struct buf *b, const char *s, size_t n)
{
	size_t	 i, k;
	uint32_t cp;
	unsigned char c;

	for (i = 0; i < n; ) {
		/*
		 * A run that needs no escape, at once: printable ASCII, and
		 * valid UTF-8 but for U+2028 and U+2029 (E2 80 A8/A9).
		 */
		for (k = i; k < n; ) {
			c = (unsigned char)s[k];
			if (c >= 0x80) {
				size_t	 m = S_utf8_ok((const unsigned char *)s + k,
				    n - k);

				if (m == 0 || (c == 0xe2 &&
				    (unsigned char)s[k + 1] == 0x80 &&
				    ((unsigned char)s[k + 2] & 0xfe) == 0xa8))
					break;
				k += m;
				continue;
			}
			if (c < 0x20 || c == 0x7f || c == '"' || c == '\\' ||
			    c == '<' || c == '>' || c == '&')
				break;
			k++;
		}
		if (k > i) {
			buf_put(b, s + i, k - i);
			i = k;
			continue;
		}
		c = (unsigned char)s[i];
		if (c >= 0x80) {
			k = utf8_decode(s + i, n - i, &cp);
			if (k == 0) {
				buf_puts(b, "\\ufffd");
				i++;
			} else if (cp == 0x2028 || cp == 0x2029) {
				buf_printf(b, "\\u%04x", (unsigned)cp);
				i += k;
			} else {
				buf_put(b, s + i, k);
				i += k;
			}
			continue;
		}
		switch (c) {
		case '"': buf_puts(b, "\\\""); break;
		case '\\': buf_puts(b, "\\\\"); break;
		case '\n': buf_puts(b, "\\n"); break;
		case '\r': buf_puts(b, "\\r"); break;
		case '\t': buf_puts(b, "\\t"); break;
		case '<': buf_puts(b, "\\u003c"); break;
		case '>': buf_puts(b, "\\u003e"); break;
		case '&': buf_puts(b, "\\u0026"); break;
		default:
			if (c < 0x20 || c == 0x7f)
				buf_printf(b, "\\u%04x", c);
			else
				buf_putc(b, c);
		}
		i++;
	}
}
