/*
 * diag.h: diagnostics.
 *
 * Every problem found in input is reported as
 *   path:line:col: error: message
 * (or warning), with path relative to ROOT and 1-based line and column
 * (columns count characters, not bytes).  line or col may be 0 when
 * unknown; they are then left out.  Diagnostics are collected, not
 * printed at once, so that parallel workers give a deterministic order:
 * diag_flush() sorts them by path, line, column and prints them.
 * All functions are thread-safe.
 */
#ifndef FAZHI_DIAG_H
#define FAZHI_DIAG_H

#include <stddef.h>

enum diag_format {
	DIAG_PLAIN,	/* path:line:col: error: message */
	DIAG_GITHUB	/* ::error file=path,line=L,col=C::message */
};

enum diag_level {
	DIAG_WARNING,
	DIAG_ERROR
};

void	 diag_set_format(enum diag_format);
void	 diag(enum diag_level, const char *path, int line, int col,
	    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#define	 diag_error(p, l, c, ...) diag(DIAG_ERROR, (p), (l), (c), __VA_ARGS__)
#define	 diag_warn(p, l, c, ...) diag(DIAG_WARNING, (p), (l), (c), __VA_ARGS__)
/* Add a "note:" line to the most recent diagnostic (e.g. a hint). */
void	 diag_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
size_t	 diag_errors(void);
size_t	 diag_warnings(void);
/*
 * Diagnostics reported so far by the calling thread: compared before
 * and after a work item, it tells whether that item had any.
 */
size_t	 diag_thread_count(void);
/* Print collected diagnostics to stderr in sorted order and clear them. */
void	 diag_flush(void);
/* Format one diagnostic into a string (used by tests and `serve`). */
char	*diag_collected_text(void);
void	 diag_reset(void);

#endif
