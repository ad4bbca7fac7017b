/*
 * diag.c: collected, sorted diagnostics.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "util.h"

struct diagmsg {
	enum diag_level	 level;
	char		*path;	/* may be NULL for whole-build problems */
	int		 line;
	int		 col;
	char		*msg;
	char		*hint;	/* or NULL */
	size_t		 seq;	/* arrival order, the last sort key */
};

static pthread_mutex_t	 S_lock = PTHREAD_MUTEX_INITIALIZER;
static struct diagmsg	*S_v;
static size_t		 S_n, S_cap, S_seq;
static size_t		 S_errors, S_warnings;
/* Per thread: where its last diagnostic went, so hints attach to it. */
static _Thread_local size_t S_last = (size_t)-1;
static _Thread_local size_t S_thread_count;
static enum diag_format	 S_format = DIAG_PLAIN;

void
diag_set_format(enum diag_format f)
{
	S_format = f;
}

void
diag(enum diag_level level, const char *path, int line, int col,
    const char *fmt, ...)
{
	struct buf b = { 0 };
	struct diagmsg *d;
	va_list	 ap;

	S_thread_count++;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&S_lock);
	if (S_n == S_cap) {
		S_cap = S_cap ? S_cap * 2 : 16;
		S_v = xrealloc(S_v, S_cap * sizeof(*S_v));
	}
	d = &S_v[S_n++];
	d->level = level;
	d->path = path ? xstrdup(path) : NULL;
	d->line = line;
	d->col = col;
	d->msg = buf_detach(&b);
	d->hint = NULL;
	d->seq = S_seq++;
	S_last = S_n - 1;
	if (level == DIAG_ERROR)
		S_errors++;
	else
		S_warnings++;
	pthread_mutex_unlock(&S_lock);
}

void
diag_hint(const char *fmt, ...)
{
	struct buf b = { 0 };
	va_list	 ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&S_lock);
	if (S_last < S_n) {
		free(S_v[S_last].hint);
		S_v[S_last].hint = buf_detach(&b);
	} else
		buf_free(&b);
	pthread_mutex_unlock(&S_lock);
}

size_t
diag_errors(void)
{
	size_t	 n;

	pthread_mutex_lock(&S_lock);
	n = S_errors;
	pthread_mutex_unlock(&S_lock);
	return n;
}

size_t
diag_thread_count(void)
{
	return S_thread_count;
}

size_t
diag_warnings(void)
{
	size_t	 n;

	pthread_mutex_lock(&S_lock);
	n = S_warnings;
	pthread_mutex_unlock(&S_lock);
	return n;
}

static int
S_cmp(const void *a, const void *b)
{
	const struct diagmsg *x = a, *y = b;
	int	 c;

	if (x->path == NULL || y->path == NULL) {
		if (x->path != y->path)
			return x->path == NULL ? -1 : 1;
	} else if ((c = strcmp(x->path, y->path)) != 0)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* GitHub workflow commands need %, CR and LF escaped in messages. */
static void
S_gh_escape(struct buf *b, const char *s, int property)
{
	for (; *s; s++) {
		if (*s == '%')
			buf_puts(b, "%25");
		else if (*s == '\r')
			buf_puts(b, "%0D");
		else if (*s == '\n')
			buf_puts(b, "%0A");
		else if (property && *s == ':')
			buf_puts(b, "%3A");
		else if (property && *s == ',')
			buf_puts(b, "%2C");
		else
			buf_putc(b, *s);
	}
}

static void
S_format_one(struct buf *b, const struct diagmsg *d, enum diag_format f)
{
	const char *lv = d->level == DIAG_ERROR ? "error" : "warning";

	if (f == DIAG_GITHUB) {
		buf_printf(b, "::%s", lv);
		if (d->path) {
			buf_puts(b, " file=");
			S_gh_escape(b, d->path, 1);
			if (d->line > 0)
				buf_printf(b, ",line=%d", d->line);
			if (d->col > 0)
				buf_printf(b, ",col=%d", d->col);
		}
		buf_puts(b, "::");
		S_gh_escape(b, d->msg, 0);
		if (d->hint) {
			buf_puts(b, "%0A");
			S_gh_escape(b, d->hint, 0);
		}
		buf_putc(b, '\n');
		return;
	}
	if (d->path) {
		buf_puts(b, d->path);
		if (d->line > 0) {
			buf_printf(b, ":%d", d->line);
			if (d->col > 0)
				buf_printf(b, ":%d", d->col);
		}
		buf_puts(b, ": ");
	} else
		buf_puts(b, "fazhi: ");
	buf_printf(b, "%s: %s\n", lv, d->msg);
	if (d->hint)
		buf_printf(b, "  note: %s\n", d->hint);
}

static void
S_clear_locked(void)
{
	size_t	 i;

	S_last = (size_t)-1;
	for (i = 0; i < S_n; i++) {
		free(S_v[i].path);
		free(S_v[i].msg);
		free(S_v[i].hint);
	}
	S_n = 0;
}

/* Sort what was collected and format it all; the caller holds S_lock. */
static void
S_format_all_locked(struct buf *b, enum diag_format f)
{
	size_t	 i;

	if (S_n > 0)
		qsort(S_v, S_n, sizeof(*S_v), S_cmp);
	for (i = 0; i < S_n; i++)
		S_format_one(b, &S_v[i], f);
}

char *
diag_collected_text(void)
{
	struct buf b = { 0 };

	pthread_mutex_lock(&S_lock);
	S_format_all_locked(&b, DIAG_PLAIN);
	pthread_mutex_unlock(&S_lock);
	return buf_detach(&b);
}

void
diag_flush(void)
{
	struct buf b = { 0 };

	pthread_mutex_lock(&S_lock);
	S_format_all_locked(&b, S_format);
	S_clear_locked();
	pthread_mutex_unlock(&S_lock);
	fwrite(b.data ? b.data : "", 1, b.len, stderr);
	fflush(stderr);
	buf_free(&b);
}

void
diag_reset(void)
{
	pthread_mutex_lock(&S_lock);
	S_clear_locked();
	free(S_v);
	S_v = NULL;
	S_cap = 0;
	S_errors = S_warnings = 0;
	pthread_mutex_unlock(&S_lock);
}
