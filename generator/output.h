/*
 * output.h: the staging directory and the atomic publish.
 *
 * A build never writes into the published directory.  out_open()
 * creates a staging directory beside it (OUT.fazhi-staging), every
 * file of the build is written there through out_write() or
 * out_copy(), and out_commit() swaps it into place with one
 * renameat2(RENAME_EXCHANGE), then removes the old tree.  A build that
 * fails, or is killed at any point before the swap, leaves OUT as it
 * was; the next build removes the stale staging directory.  A lock
 * file (OUT.fazhi-lock, flock) keeps two builds from racing.
 *
 * The write functions are thread-safe.  Their failures (disk full,
 * read-only file system) are diagnosed once per build and make
 * out_commit() refuse to publish.
 */
#ifndef FAZHI_OUTPUT_H
#define FAZHI_OUTPUT_H

#include <stddef.h>

struct out;

/* Return NULL (diagnosed) if the staging directory cannot be made. */
struct out *out_open(const char *outdir);
/* An output that checks and counts but writes nothing (fazhi check). */
struct out *out_open_dry(void);
const char *out_staging(const struct out *);
/* Write data to rel (a path relative to the site root). Return 0 or -1. */
int	 out_write(struct out *, const char *rel, const void *data, size_t len);
/* Copy the file at src (an absolute or cwd-relative path) to rel. */
int	 out_copy(struct out *, const char *rel, const char *src);
/*
 * Reuse rel from the published site when it is unchanged (incremental
 * builds): hard-link OUT/rel into staging.  Return 0 if linked, -1 if
 * not (then the caller writes it).
 */
int	 out_reuse(struct out *, const char *rel);
/*
 * The build cache.  OUT/.fazhi-cache lists, for each cached output
 * file, the key (a SHA-256 over everything that went into it) that
 * produced it, and the file's dependencies: lines of text, without
 * '\n', that the caller gave (the link check's targets of a page, see
 * links_reused()).  out_cache_reuse() links rel from the published
 * site into staging when the published copy was made from the same key,
 * sets *deps (when not NULL) to its dependencies ("" if none; valid
 * until out_commit() or out_abort()) and returns 0; otherwise it
 * returns -1, and the caller renders the file.  Either way the caller
 * then records the key with out_cache_put(), and out_commit() writes
 * the new cache into the staging directory, so the cache is published
 * atomically with the pages it describes.
 */
int	 out_cache_reuse(struct out *, const char *rel, const unsigned char key[32],
	    const char **deps);
void	 out_cache_put(struct out *, const char *rel, const unsigned char key[32],
	    const char *deps);

/* Is this out_open_dry()'s output, which writes nothing? */
int	 out_dry(const struct out *);
/* Has any write failed? */
int	 out_failed(const struct out *);
/* Swap staging into place; return 0 or -1 (diagnosed; OUT untouched). */
int	 out_commit(struct out *);
/* Remove staging and release the lock; OUT untouched. */
void	 out_abort(struct out *);
size_t	 out_files(const struct out *);
long long out_bytes(const struct out *);

#endif
