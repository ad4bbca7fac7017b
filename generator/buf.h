/*
 * buf.h: the one growable byte buffer, and the one place that escapes text.
 *
 * Contract: a zeroed struct buf is an empty buffer.  Every append keeps
 * data NUL-terminated (data may be NULL only while len == 0 and nothing
 * was ever appended).  Allocation failure aborts the program: a static
 * site generator has no sensible way to continue without memory.
 */
#ifndef FAZHI_BUF_H
#define FAZHI_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char	*data;	/* bytes, always NUL-terminated once allocated */
	size_t	 len;	/* bytes used, excluding the NUL */
	size_t	 cap;	/* bytes allocated */
};

void	 buf_grow(struct buf *, size_t extra);
void	 buf_puts(struct buf *, const char *);

/*
 * The two appends every escaper and renderer makes per byte or run:
 * inline, with buf_grow() called only when the bytes do not fit.
 */
static inline void
buf_put(struct buf *b, const void *p, size_t n)
{
	if (n >= b->cap - b->len || b->data == NULL)
		buf_grow(b, n);
	if (n)
		__builtin_memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static inline void
buf_putc(struct buf *b, int c)
{
	if (b->cap - b->len < 2 || b->data == NULL)
		buf_grow(b, 1);
	b->data[b->len++] = (char)c;
	b->data[b->len] = '\0';
}

void	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_vprintf(struct buf *, const char *, va_list);
void	 buf_reset(struct buf *);
void	 buf_free(struct buf *);
/* Hand the bytes to the caller (never NULL) and leave the buffer empty. */
char	*buf_detach(struct buf *);
/* The contents as a C string, "" when empty. */
const char *buf_cstr(const struct buf *);

/*
 * Escaping.  HTML text, attribute values and XML share one escaper:
 * & < > " ' are replaced by entities.  Invalid UTF-8 and C0 controls
 * other than tab and newline are replaced by U+FFFD so that no byte
 * from content can change how a page parses.
 */
void	 buf_html_escape(struct buf *, const char *, size_t);
/* Percent-encode everything outside RFC 3986 unreserved and '/'. */
void	 buf_url_escape(struct buf *, const char *, size_t);
/* JSON string body (no quotes); escapes '<', '>' and '&' too, for <script>. */
void	 buf_json_escape(struct buf *, const char *, size_t);

#endif
