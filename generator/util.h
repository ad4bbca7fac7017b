/*
 * util.h: hashing, UTF-8, paths and files.
 *
 * Paths: every path that comes from content is relative to ROOT and is
 * checked with path_is_safe() before use.  path_join() is the one
 * function that joins path components.
 */
#ifndef FAZHI_UTIL_H
#define FAZHI_UTIL_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* SHA-256. */
struct sha256 {
	uint32_t	h[8];
	uint64_t	n;	/* bytes hashed so far */
	uint8_t		blk[64];
	size_t		fill;
};
void	 sha256_init(struct sha256 *);
void	 sha256_update(struct sha256 *, const void *, size_t);
void	 sha256_final(struct sha256 *, uint8_t out[32]);
void	 sha256_hex(const void *, size_t, char out[65]);
void	 hex_encode(const uint8_t *, size_t, char *out);

/*
 * Return the byte offset of the first invalid UTF-8 sequence (overlong
 * forms, surrogates and code points past U+10FFFF are invalid), or
 * (size_t)-1 when the whole buffer is valid.
 */
size_t	 utf8_invalid_at(const char *, size_t);
/* Decode one code point at s (len bytes left); return its length, 0 if invalid. */
size_t	 utf8_decode(const char *s, size_t len, uint32_t *cp);
/* Count code points in a prefix: used for columns in diagnostics. */
size_t	 utf8_columns(const char *, size_t);

/* Join a and b with exactly one '/', return a new string. */
char	*path_join(const char *a, const char *b);
/*
 * A relative path that stays inside its root: not empty, not absolute,
 * no "." or ".." component, no backslash, no NUL or control byte.
 */
int	 path_is_safe(const char *);

/* Does url carry a scheme ("https:", "mailto:") or a host ("//")? */
int	 url_is_external(const char *url);

/* Read a whole file; return 0 on success and -1 with errno set. */
int	 file_read(const char *path, char **data, size_t *len);
/* Create directories as needed; return 0 on success, -1 with errno. */
int	 mkdir_p(const char *path);
/* Remove a tree (does not follow symlinks); return 0 or -1. */
int	 rm_rf(const char *path);

/* Say "fazhi: out of memory" and abort: what the x functions do. */
void	 xoom(void) __attribute__((noreturn));
/* malloc that aborts on failure, and friends. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
/*
 * Make room for element n (0-based) of an array that grows one element
 * at a time: reallocates only when n is 0 or a power of two, doubling,
 * so appending stays linear even where realloc cannot grow in place.
 */
void	*xgrow(void *p, size_t n, size_t size);
char	*xstrndup(const char *, size_t);
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

/*
 * A set of strings (open addressing, FNV-1a), for paths and ids.  Not
 * thread-safe; strset_add copies.  Zero-initialised is empty.
 */
struct strset {
	char	**v;		/* slots, NULL when empty */
	size_t	 cap;		/* 0 or a power of two */
	size_t	 n;
};
/* A string's 64-bit hash: strset's, for other tables of strings. */
uint64_t str_hash(const char *);
/* The hash of s continued from h: str_hash_more(str_hash(a), b) hashes
   the pair (a, b), not the string a b. */
uint64_t str_hash_more(uint64_t h, const char *s);
/* The same over n bytes, which may hold NULs. */
uint64_t mem_hash_more(uint64_t h, const void *, size_t n);
int	 strset_has(const struct strset *, const char *);
/* Add s; return 1 if it was new, 0 if it was there already. */
int	 strset_add(struct strset *, const char *);
void	 strset_free(struct strset *);

/*
 * A bump allocator: many small objects freed together, without malloc's
 * per-object overhead (a million reports' strings).  Not thread-safe.
 * In AddressSanitizer builds every block is a malloc of its own.
 */
struct arena_chunk;
struct arena {
	struct arena_chunk *head;
};
/* n bytes aligned to align (a power of two); never NULL. */
void	*arena_alloc(struct arena *, size_t n, size_t align);
char	*arena_strdup(struct arena *, const char *);
void	 arena_free(struct arena *);

/*
 * 1 in AddressSanitizer builds (gcc defines __SANITIZE_ADDRESS__, clang
 * has the feature test): the pooled allocators (lpool, the Markdown
 * arena) then hand out malloc'd blocks, so that ASan sees each one.
 */
#if defined(__SANITIZE_ADDRESS__)
#define	FAZHI_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define	FAZHI_ASAN	1
#endif
#endif
#ifndef FAZHI_ASAN
#define	FAZHI_ASAN	0
#endif

/*
 * A Lua allocator's blocks, for one Lua state (so one thread at a
 * time): blocks up to LPOOL_MAX bytes come from free lists of 16-byte
 * size classes, carved from 64 KiB chunks, and go back to them when
 * Lua frees them; bigger ones are malloc's.  Lua says the old size of
 * every block it frees or resizes, so no header is needed.  A page
 * render makes and drops thousands of small strings and tables, and
 * this takes them off malloc's locks and bins.  The chunks are
 * released by lpool_free(), after lua_close().  Sanitizer builds use
 * malloc for every block, so that ASan still sees each one.
 */
#define	LPOOL_MAX	256
struct lpool {
	void	*free[LPOOL_MAX / 16 + 1];	/* by size class */
	char	*cur;			/* unused part of the newest chunk */
	size_t	 left;
	void	*chunks;		/* chunks, linked through their first word */
};
/* Lua's lua_Alloc contract, with osize 0 when ptr is NULL; NULL on failure. */
void	*lpool_realloc(struct lpool *, void *ptr, size_t osize, size_t nsize);
void	 lpool_free(struct lpool *);

/* Monotonic seconds, for the build summary only (never written to output). */
double	 now_seconds(void);
/* FAZHI_TIMINGS=1: phase times on stderr, for profiling (make bench). */
void	 timing(const char *phase);

#endif
