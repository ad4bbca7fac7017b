/*
 * bundle.h: zip bundles, each distinct file compressed once.
 *
 * A build publishes the same report in several zips (the report's own
 * bundle, its department's, its year's, its category's and the whole
 * site's).  Compressing it five times would dominate the build, so the
 * work is split in two:
 *
 *   1. zstore_add() every file once, from any worker thread.  Content is
 *      keyed by its SHA-256: equal bytes give the same blob, deflated
 *      once (libdeflate, level 6), or stored (method 0) when deflate
 *      would not make it smaller.
 *   2. zip_write() each bundle from a list of (name, blob) pairs.  The
 *      compressed bytes are copied into the archive as they are (minizip
 *      raw mode): no bundle recompresses anything.
 *
 * Typical use by the output stage:
 *
 *	struct zstore *zs = zstore_new(staging_dir);
 *	for each report file (in parallel):
 *		blob[i] = zstore_add(zs, data, len);
 *	for each bundle:
 *		entries = { "市司法局/2023年报告.html", blob[i] }, ...;
 *		zip_manifest(&m, header, entries, n);
 *		entries[n++] = (struct zip_entry){ ZIP_MANIFEST_NAME,
 *		    zstore_add(zs, m.data, m.len) };
 *		if (zip_write(path, entries, n, mtime, &err) == -1)
 *			diag_error(path, 0, 0, "%s", buf_cstr(&err));
 *	zstore_free(zs);
 *
 * Archives are reproducible: the same entries and mtime give the same
 * bytes, whatever the order of the entries, the thread schedule, the
 * time zone or the time of day.
 */
#ifndef FAZHI_BUNDLE_H
#define FAZHI_BUNDLE_H

#include <stddef.h>

struct buf;
struct zshared;
struct zstore;
struct zblob;

/* The manifest every bundle carries, listing the other entries. */
#define	ZIP_MANIFEST_NAME	"清单.txt"

/*
 * Create a store.  With a spill_dir, compressed blobs larger than the
 * spill threshold (1 MiB), and all new blobs once the store holds more
 * than the memory cap (256 MiB) of compressed bytes, go to one temporary
 * file in spill_dir that is unlinked at once, so nothing is left behind
 * even when the build is killed.  With NULL, everything stays in memory.
 * Never fails (allocation failure aborts, see buf.h).
 */
struct zstore	*zstore_new(const char *spill_dir);

/*
 * Compress nothing and keep no bytes: for dry runs, which write no zip.
 * A blob is sized as a stored entry (its size, uncompressed), so
 * zip_size() gives an upper bound, and zip_manifest() is exact (SHA-256
 * and size); zblob_raw() fails with ENODATA and zip_write() with a
 * message.  Blobs added raw keep their size and no bytes.  Only before
 * the first add.
 */
void		 zstore_sizes_only(struct zstore *);

/*
 * Change the deflate level (1-12, libdeflate's scale), the spill
 * threshold and the memory cap, in bytes.  Only before the first
 * zstore_add(); tests use it to reach the spill path cheaply.
 */
void		 zstore_tune(struct zstore *, int level,
		    size_t spill_threshold, size_t mem_cap);

/*
 * Return the blob for these bytes, compressing them if no equal bytes
 * were added before.  Thread-safe; a thread adding bytes that another
 * thread is compressing waits for it rather than compressing them again.
 * The blob lives until zstore_free().  Never fails: if the spill file
 * cannot be written, the blob is kept in memory instead.
 */
const struct zblob *zstore_add(struct zstore *, const void *data, size_t len);

/*
 * Add a blob from the form a zip holds it in: raw, as zblob_raw() gave
 * it (method 8: raw deflate, 0: stored), usize bytes once inflated.
 * It is not compressed again, so an incremental build can keep the
 * compressed bytes of an unchanged file from the build before.  The
 * zips are those a zstore_add() of the plain bytes would give only if
 * the earlier store had the same zstore_fingerprint(): check it.
 * Pass the zshared the bytes were added with (zstore_add_shared()), or
 * NULL: bytes compressed in different ways are different blobs, so that
 * which one a zip gets never depends on the order of the calls.
 * Return NULL if raw does not inflate to exactly usize bytes.
 * Thread-safe.
 */
const struct zblob *zstore_add_raw(struct zstore *, const void *raw,
		    size_t rawlen, int method, size_t usize,
		    const struct zshared *);
/*
 * A piece of text that many files hold unchanged (the theme's CSS,
 * inlined into every standalone page), deflated once, at the maximum
 * level, into a segment a deflate stream can continue from: no final
 * block, ending on a byte boundary.  zstore_add_shared() then splices
 * it into each file's stream instead of compressing it again.
 */
struct zshared	*zshared_new(const void *data, size_t len);
void		 zshared_free(struct zshared *);
/* SHA-256 hex of its deflated bytes: they depend on the zlib in use. */
void		 zshared_fingerprint(const struct zshared *, char out[65]);

/*
 * zstore_add() for bytes that may contain sh (NULL: none).  When they
 * do, the blob is one deflate stream of three parts: the bytes before
 * sh's first occurrence as stored blocks, sh's segment, and the rest
 * deflated by libdeflate.  It inflates to the same bytes, so CRC,
 * SHA-256 and size are those of the plain bytes; only the compressed
 * bytes differ from zstore_add()'s.  Thread-safe.
 */
const struct zblob *zstore_add_shared(struct zstore *, const void *data,
		    size_t len, const struct zshared *sh);

/*
 * What decides the compressed bytes: the deflate level and the
 * libdeflate in use (a probe is compressed to tell), as SHA-256 hex.
 */
void		 zstore_fingerprint(struct zstore *, char out[65]);

/* Release the store, its blobs and its spill file. */
void		 zstore_free(struct zstore *);

/* Counters, for tests and the build summary. */
struct zstore_stats {
	long long	 adds;		/* zstore_add() calls */
	long long	 blobs;		/* distinct contents */
	long long	 compressions;	/* deflate runs (blobs of 2+ bytes) */
	long long	 stored;	/* blobs kept uncompressed */
	long long	 spilled;	/* blobs in the spill file */
	long long	 raw;		/* blobs added compressed (zstore_add_raw) */
	long long	 bytes_in;	/* uncompressed bytes of the blobs */
	long long	 bytes_out;	/* compressed bytes of the blobs */
};
void		 zstore_stats(struct zstore *, struct zstore_stats *);

/* Uncompressed size of a blob. */
long long	 zblob_size(const struct zblob *);
/* Bytes the blob takes inside a zip, before headers. */
long long	 zblob_compressed_size(const struct zblob *);
/* SHA-256 of the uncompressed bytes, lowercase hex. */
void		 zblob_sha256_hex(const struct zblob *, char out[65]);
/*
 * Append the bytes a zip holds for the blob to out; return the zip
 * method (8 deflated, 0 stored), or -1 if the spill file cannot be
 * read.
 */
int		 zblob_raw(const struct zblob *, struct buf *out);

struct zip_entry {
	const char		*name;	/* path inside the zip, '/'-separated */
	const struct zblob	*blob;	/* contents, from the store */
};

/*
 * Write a zip at path holding the entries, sorted by name (byte order)
 * whatever their order in the array.  Every entry gets mtime (Unix
 * seconds, written as a UTC DOS date; clamped to 1980-2107), mode 0644,
 * "made by Unix", the UTF-8 name flag (bit 11) and no extra fields
 * unless zip64 needs them; directories are implicit.  Zip64 records are
 * written when sizes, offsets or the number of entries need them.
 *
 * Names must be relative, valid UTF-8 without control characters, with
 * no empty, "." or ".." component, no backslash, no duplicate and no
 * name that is also a directory of another (a and a/b).  If one is not,
 * nothing is written.
 *
 * Return 0 on success.  Return -1 with a message appended to err on a
 * bad name or an I/O error; a partly written file is removed.  Several
 * threads may write different zips from one store at once, even while
 * others still add blobs.
 */
int		 zip_write(const char *path, const struct zip_entry *,
		    size_t n, long long mtime, struct buf *err);

/*
 * The size in bytes of the file zip_write() would write for these
 * entries: a pure function of the names and the blobs' sizes, so pages
 * can show a bundle's size before (or without) writing it.  Names are
 * not checked here.
 */
long long	 zip_size(const struct zip_entry *, size_t n);

/*
 * Append a manifest to out: header as given (a newline is added if it
 * lacks one), then one line per entry, sorted by name (byte order):
 *	<sha-256 hex>  <uncompressed size>  <name>
 * The manifest does not list itself: render it from the other entries,
 * then add it as ZIP_MANIFEST_NAME.
 */
void		 zip_manifest(struct buf *out, const char *header,
		    const struct zip_entry *, size_t n);

#endif
