/*
 * bundle.c: zip bundles, each distinct file compressed once.
 *
 * The store deflates with libdeflate (whole buffers, several times
 * faster than zlib) and minizip writes the archives in raw mode, copying
 * the compressed bytes as they are.  Two things minizip 1.1 does not do
 * on its own are done here: zip64 extra fields are asked for only when
 * an entry needs them (asking always leaves zeroed zip64 fields in every
 * local header), and archives of 65535 entries or more get the zip64
 * end records that minizip leaves out below 4 GiB (it writes 0xffff as
 * the entry count and nothing that says where the real count is, which
 * `unzip` rejects).
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libdeflate.h>
#include <zip.h>
#include <zlib.h>

#include "buf.h"
#include "bundle.h"
#include "util.h"

#define	S_LEVEL		6			/* default deflate level */
#define	S_SPILL_MIN	(1024 * 1024)		/* blobs larger than this spill */
#define	S_MEM_CAP	(256 * 1024 * 1024)	/* in-memory compressed bytes */
#define	S_CHUNK		(1024 * 1024)		/* read size for spilled blobs */
#define	S_Z32		0xffffffffULL		/* sizes and offsets from here on need zip64 */

struct zblob {
	uint8_t		 sha[32];	/* SHA-256 of the uncompressed bytes */
	long long	 usize;		/* uncompressed size */
	long long	 csize;		/* bytes in the zip, deflated or stored */
	uint32_t	 crc;		/* CRC-32 of the uncompressed bytes */
	int		 method;	/* zip method: 0 stored, 8 deflated */
	int		 level;		/* deflate level, for the zip flag bits */
	int		 ready;		/* bytes in place (under the store's mutex) */
	int		 spilled;	/* bytes are in the spill file at off */
	unsigned char	*mem;		/* csize bytes in the store's arena,
					   unless spilled */
	long long	 off;		/* offset in the spill file */
	const struct zstore *zs;	/* owner, whose spill file holds the bytes */
	const struct zshared *sh;	/* compressed around this segment, or NULL */
	struct zblob	*next;		/* next in the hash chain */
};

/* A compressor and the buffer it compresses into, reused. */
struct S_comp {
	struct libdeflate_compressor *c;
	unsigned char	*buf;
	size_t		 cap;
	unsigned char	*big;		/* a one-off buffer, over S_COMP_KEEP */
};

#define	S_COMP_KEEP	(4 * 1024 * 1024)	/* buffers kept up to this */

struct zstore {
	pthread_mutex_t	 mu;		/* guards every member below */
	pthread_cond_t	 done;		/* some blob became ready */
	struct zblob	**tab;		/* hash buckets, keyed by SHA-256 */
	size_t		 ntab;		/* buckets, a power of two */
	struct S_comp	**idle;		/* compressors not in use */
	size_t		 nidle;		/* entries in idle */
	size_t		 idlecap;	/* slots in idle */
	int		 level;		/* deflate level for new blobs */
	size_t		 spill_min;	/* blobs larger than this spill */
	size_t		 mem_cap;	/* spill all once mem_used would pass it */
	size_t		 mem_used;	/* compressed bytes held in memory */
	char		*spill_dir;	/* NULL: never spill */
	int		 spill_fd;	/* unlinked temporary file, or -1 */
	int		 spill_broken;	/* the spill file could not be made */
	long long	 spill_end;	/* bytes reserved in the spill file */
	int		 sizes_only;	/* keep no compressed bytes */
	struct arena	 bytes;		/* blobs' bytes, which live as long
					   as the store */
	struct zstore_stats st;		/* counters */
};

/* ---- the store ---- */

struct zstore *
zstore_new(const char *spill_dir)
{
	struct zstore	*zs;

	zs = xcalloc(1, sizeof(*zs));
	pthread_mutex_init(&zs->mu, NULL);
	pthread_cond_init(&zs->done, NULL);
	zs->ntab = 1024;
	zs->tab = xcalloc(zs->ntab, sizeof(*zs->tab));
	zs->level = S_LEVEL;
	zs->spill_min = S_SPILL_MIN;
	zs->mem_cap = S_MEM_CAP;
	zs->spill_dir = spill_dir == NULL ? NULL : xstrdup(spill_dir);
	zs->spill_fd = -1;
	return zs;
}

void
zstore_tune(struct zstore *zs, int level, size_t spill_min, size_t mem_cap)
{
	pthread_mutex_lock(&zs->mu);
	zs->level = level < 1 ? 1 : level > 12 ? 12 : level;
	zs->spill_min = spill_min;
	zs->mem_cap = mem_cap;
	pthread_mutex_unlock(&zs->mu);
}

void
zstore_sizes_only(struct zstore *zs)
{
	pthread_mutex_lock(&zs->mu);
	zs->sizes_only = 1;
	pthread_mutex_unlock(&zs->mu);
}

void
zstore_free(struct zstore *zs)
{
	struct zblob	*b, *next;
	size_t		 i;

	if (zs == NULL)
		return;
	for (i = 0; i < zs->ntab; i++)
		for (b = zs->tab[i]; b != NULL; b = next) {
			next = b->next;
			free(b);
		}
	arena_free(&zs->bytes);
	for (i = 0; i < zs->nidle; i++) {
		libdeflate_free_compressor(zs->idle[i]->c);
		free(zs->idle[i]->buf);
		free(zs->idle[i]);
	}
	if (zs->spill_fd != -1)
		close(zs->spill_fd);
	free(zs->idle);
	free(zs->tab);
	free(zs->spill_dir);
	pthread_cond_destroy(&zs->done);
	pthread_mutex_destroy(&zs->mu);
	free(zs);
}

void
zstore_stats(struct zstore *zs, struct zstore_stats *st)
{
	pthread_mutex_lock(&zs->mu);
	*st = zs->st;
	pthread_mutex_unlock(&zs->mu);
}

static void
S_sha(const void *data, size_t len, uint8_t sha[32])
{
	struct sha256	 ctx;

	sha256_init(&ctx);
	sha256_update(&ctx, data, len);
	sha256_final(&ctx, sha);
}

static size_t
S_bucket(const struct zstore *zs, const uint8_t sha[32])
{
	size_t	 h;

	/* SHA-256 bytes are already uniform: any of them make a hash. */
	memcpy(&h, sha, sizeof(h));
	return h & (zs->ntab - 1);
}

/* Grow the table so chains stay short.  Called with the mutex held. */
static void
S_grow(struct zstore *zs)
{
	struct zblob	**old = zs->tab, *b, *next;
	size_t		 oldn = zs->ntab, i, k;

	zs->ntab *= 2;
	zs->tab = xcalloc(zs->ntab, sizeof(*zs->tab));
	for (i = 0; i < oldn; i++)
		for (b = old[i]; b != NULL; b = next) {
			next = b->next;
			k = S_bucket(zs, b->sha);
			b->next = zs->tab[k];
			zs->tab[k] = b;
		}
	free(old);
}

/*
 * Reserve len bytes in the spill file, creating it on first use; return
 * the offset, or -1 when there is no spill file.  Mutex held.
 */
static long long
S_spill_reserve(struct zstore *zs, long long len)
{
	char		*tmpl;
	long long	 off;

	if (zs->spill_fd == -1 && !zs->spill_broken) {
		tmpl = path_join(zs->spill_dir, ".zstore-XXXXXX");
		zs->spill_fd = mkostemp(tmpl, O_CLOEXEC);
		/* Unlinked at once: a killed build leaves nothing behind. */
		if (zs->spill_fd == -1 || unlink(tmpl) == -1) {
			if (zs->spill_fd != -1)
				close(zs->spill_fd);
			zs->spill_fd = -1;
			zs->spill_broken = 1;
		}
		free(tmpl);
	}
	if (zs->spill_fd == -1)
		return -1;
	off = zs->spill_end;
	zs->spill_end += len;
	return off;
}

/* Return 0 when all len bytes were written at off, -1 otherwise. */
static int
S_pwrite_all(int fd, const unsigned char *p, long long len, long long off)
{
	ssize_t	 w;

	while (len > 0) {
		w = pwrite(fd, p, len > (1 << 30) ? (1 << 30) : (size_t)len, off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		off += w;
		len -= w;
	}
	return 0;
}

/* Return 0 when all len bytes were read from off, -1 with errno otherwise. */
static int
S_pread_all(int fd, unsigned char *p, size_t len, long long off)
{
	ssize_t	 r;

	while (len > 0) {
		r = pread(fd, p, len, off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0) {
			errno = EIO;	/* the file is shorter than we wrote */
			return -1;
		}
		p += r;
		off += r;
		len -= (size_t)r;
	}
	return 0;
}

static void	 S_place(struct zstore *, struct zblob *, const void *);

/* A compressor at the store's level: an idle one, or a new one. */
static struct S_comp *
S_comp_get(struct zstore *zs, int *level)
{
	struct S_comp	*k = NULL;

	pthread_mutex_lock(&zs->mu);
	*level = zs->level;
	if (zs->nidle > 0)
		k = zs->idle[--zs->nidle];
	pthread_mutex_unlock(&zs->mu);
	if (k == NULL) {
		k = xcalloc(1, sizeof(*k));
		if ((k->c = libdeflate_alloc_compressor(*level)) == NULL)
			xoom();
	}
	return k;
}

/*
 * k's buffer, with room for n bytes.  A big attachment gets a buffer of
 * its own, freed by S_comp_put(), so that none is kept at its size.
 */
static unsigned char *
S_comp_buf(struct S_comp *k, size_t n)
{
	if (n > S_COMP_KEEP) {
		free(k->big);
		k->big = xmalloc(n);
		return k->big;
	}
	if (k->cap < n) {
		free(k->buf);
		k->cap = n > 2 * k->cap ? n : 2 * k->cap;
		k->buf = xmalloc(k->cap);
	}
	return k->buf;
}

/* Give k back for the next S_comp_get(); count a deflate run if ran. */
static void
S_comp_put(struct zstore *zs, struct S_comp *k, int ran)
{
	free(k->big);
	k->big = NULL;
	pthread_mutex_lock(&zs->mu);
	if (zs->nidle == zs->idlecap) {
		zs->idlecap = zs->idlecap ? 2 * zs->idlecap : 4;
		zs->idle = xrealloc(zs->idle, zs->idlecap * sizeof(*zs->idle));
	}
	zs->idle[zs->nidle++] = k;
	if (ran)
		zs->st.compressions++;
	pthread_mutex_unlock(&zs->mu);
}

/*
 * Compress data into b, outside the mutex: the slow part, which is why
 * workers can run it in parallel.
 */
static void
S_compress(struct zstore *zs, struct zblob *b, const void *data, size_t len)
{
	struct S_comp	*k = NULL;
	unsigned char	*out = NULL;
	size_t		 clen = 0;
	int		 level = 0;

	b->crc = libdeflate_crc32(0, data, len);
	if (len > 1) {
		k = S_comp_get(zs, &level);
		/*
		 * One byte less than the input: libdeflate returns 0 when
		 * the result would not be smaller, and we store instead.
		 */
		out = S_comp_buf(k, len - 1);
		clen = libdeflate_deflate_compress(k->c, data, len, out,
		    len - 1);
	}
	if (clen > 0) {
		b->method = 8;
		b->level = level;
		b->csize = (long long)clen;
		S_place(zs, b, out);
	} else {
		b->method = 0;
		b->csize = (long long)len;
		S_place(zs, b, data);
	}
	if (k != NULL)
		S_comp_put(zs, k, 1);
}

/*
 * A sizes-only store's blob: what a stored entry would be.  No CRC: no
 * zip is written from it.
 */
static void
S_as_stored(struct zblob *b, size_t len)
{
	b->method = 0;
	b->csize = (long long)len;
}

/* ---- shared segments ---- */

struct zshared {
	unsigned char	*data;		/* the plain bytes */
	size_t		 len;
	unsigned char	*z;		/* deflated: no final block, byte-aligned */
	size_t		 zlen;
};

struct zshared *
zshared_new(const void *data, size_t len)
{
	struct zshared	*sh;
	z_stream	 zst;
	size_t		 cap;
	int		 rc;

	if (len == 0 || len > UINT32_MAX)
		return NULL;
	memset(&zst, 0, sizeof(zst));
	/* Raw deflate (negative window bits), the most thorough settings. */
	if (deflateInit2(&zst, Z_BEST_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 9,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		xoom();
	cap = deflateBound(&zst, (uLong)len) + 16;
	sh = xcalloc(1, sizeof(*sh));
	sh->z = xmalloc(cap);
	zst.next_in = (Bytef *)(uintptr_t)data;
	zst.avail_in = (uInt)len;
	zst.next_out = sh->z;
	zst.avail_out = (uInt)cap;
	/*
	 * A sync flush ends the output with an empty stored block: on a
	 * byte boundary, and with no block marked final, so that more
	 * blocks can follow it.
	 */
	rc = deflate(&zst, Z_SYNC_FLUSH);
	sh->zlen = cap - zst.avail_out;
	deflateEnd(&zst);
	if (rc != Z_OK || zst.avail_in != 0 || zst.avail_out == 0) {
		free(sh->z);
		free(sh);
		return NULL;
	}
	sh->data = xmalloc(len);
	memcpy(sh->data, data, len);
	sh->len = len;
	return sh;
}

void
zshared_free(struct zshared *sh)
{
	if (sh == NULL)
		return;
	free(sh->data);
	free(sh->z);
	free(sh);
}

void
zshared_fingerprint(const struct zshared *sh, char out[65])
{
	sha256_hex(sh != NULL ? (const char *)sh->z : "",
	    sh != NULL ? sh->zlen : 0, out);
}

/*
 * The first occurrence of sh's bytes in data, or NULL.  glibc's memmem
 * is slow for needles of kilobytes (the CSS is tens): look for a short
 * prefix, then compare the rest.
 */
static const unsigned char *
S_find(const void *data, size_t len, const struct zshared *sh)
{
	const unsigned char *d = data, *p, *end;
	size_t	 pre = sh->len < 32 ? sh->len : 32;

	if (len < sh->len)
		return NULL;
	end = d + len - sh->len;	/* the last place it can start */
	for (p = d; p <= end; p++) {
		p = memmem(p, (size_t)(end - p) + pre, sh->data, pre);
		if (p == NULL)
			return NULL;
		if (memcmp(p + pre, sh->data + pre, sh->len - pre) == 0)
			return p;
	}
	return NULL;
}

/*
 * Append n bytes from p as stored blocks (at most 65,535 bytes each),
 * the last one final if final is set; return the bytes written to out,
 * which has room for n + 5 * (n / 65535 + 1).
 */
static size_t
S_stored(unsigned char *out, const unsigned char *p, size_t n, int final)
{
	size_t	 o = 0, k;

	do {
		k = n > 65535 ? 65535 : n;
		/* BFINAL, BTYPE 00, then padding to the byte boundary. */
		out[o++] = final && k == n ? 1 : 0;
		out[o++] = k & 0xff;
		out[o++] = (k >> 8) & 0xff;
		out[o++] = ~k & 0xff;
		out[o++] = (~k >> 8) & 0xff;
		memcpy(out + o, p, k);
		o += k;
		p += k;
		n -= k;
	} while (n > 0);
	return o;
}

/*
 * S_compress() for data holding sh's bytes at off: the bytes before as
 * stored blocks, sh's deflated segment, the bytes after deflated.
 */
static void
S_compress_shared(struct zstore *zs, struct zblob *b, const void *data,
    size_t len, size_t off, const struct zshared *sh)
{
	const unsigned char *d = data;
	struct S_comp	*k;
	unsigned char	*out;
	size_t		 pre = off, post = len - off - sh->len, cap, o = 0, clen;
	int		 level;

	b->crc = libdeflate_crc32(0, data, len);
	cap = pre + 5 * (pre / 65535 + 1) + sh->zlen + post +
	    5 * (post / 65535 + 1) + 2;
	k = S_comp_get(zs, &level);
	out = S_comp_buf(k, cap);
	if (pre > 0)
		o += S_stored(out, d, pre, 0);
	memcpy(out + o, sh->z, sh->zlen);
	o += sh->zlen;
	if (post == 0) {
		/* An empty final block with the fixed codes: only its end. */
		out[o++] = 0x03;
		out[o++] = 0x00;
	} else {
		clen = libdeflate_deflate_compress(k->c, d + off + sh->len,
		    post, out + o, cap - o);
		o += clen > 0 ? clen :
		    S_stored(out + o, d + off + sh->len, post, 1);
	}
	if (o < len) {
		b->method = 8;
		b->level = level;
		b->csize = (long long)o;
		S_place(zs, b, out);
	} else {
		b->method = 0;
		b->csize = (long long)len;
		S_place(zs, b, data);
	}
	/* A page that ends with the segment ran no deflate of its own. */
	S_comp_put(zs, k, post > 0);
}

/*
 * Keep a copy of b->csize bytes at bytes: in the spill file when the
 * store says so, else in the store's arena (a malloc and a realloc per
 * blob were 3% of a build with bundles).
 */
static void
S_place(struct zstore *zs, struct zblob *b, const void *bytes)
{
	long long	 off = -1;
	int		 spill;

	pthread_mutex_lock(&zs->mu);
	if (zs->sizes_only) {
		pthread_mutex_unlock(&zs->mu);
		return;
	}
	spill = zs->spill_dir != NULL && b->csize > 0 &&
	    ((size_t)b->csize > zs->spill_min ||
	     zs->mem_used + (size_t)b->csize > zs->mem_cap);
	if (spill)
		off = S_spill_reserve(zs, b->csize);
	if (off == -1) {
		zs->mem_used += (size_t)b->csize;
		if (b->csize > 0)
			b->mem = arena_alloc(&zs->bytes, (size_t)b->csize, 1);
	}
	pthread_mutex_unlock(&zs->mu);

	if (off != -1) {
		if (S_pwrite_all(zs->spill_fd, bytes, b->csize, off) == 0) {
			b->spilled = 1;
			b->off = off;
			return;
		}
		/* Disk full or the like: memory still works. */
		pthread_mutex_lock(&zs->mu);
		zs->mem_used += (size_t)b->csize;
		b->mem = arena_alloc(&zs->bytes, (size_t)b->csize, 1);
		pthread_mutex_unlock(&zs->mu);
	}
	if (b->csize > 0)
		memcpy(b->mem, bytes, (size_t)b->csize);
}

/*
 * The blob with this SHA-256, waiting while another thread fills it;
 * or a new, empty one (*fresh set) that the caller fills and passes to
 * S_ready().
 */
static struct zblob *
S_lookup(struct zstore *zs, const uint8_t sha[32], size_t len,
    const struct zshared *sh, int *fresh)
{
	struct zblob	*b;
	size_t		 k;

	pthread_mutex_lock(&zs->mu);
	zs->st.adds++;
	for (b = zs->tab[S_bucket(zs, sha)]; b != NULL; b = b->next)
		if (memcmp(b->sha, sha, 32) == 0 && b->sh == sh)
			break;
	if (b != NULL) {
		/* Someone else may still be compressing it: wait. */
		while (!b->ready)
			pthread_cond_wait(&zs->done, &zs->mu);
		pthread_mutex_unlock(&zs->mu);
		*fresh = 0;
		return b;
	}
	b = xcalloc(1, sizeof(*b));
	memcpy(b->sha, sha, 32);
	b->usize = (long long)len;
	b->zs = zs;
	b->sh = sh;
	if ((size_t)zs->st.blobs >= zs->ntab)
		S_grow(zs);
	k = S_bucket(zs, sha);
	b->next = zs->tab[k];
	zs->tab[k] = b;
	zs->st.blobs++;
	pthread_mutex_unlock(&zs->mu);
	*fresh = 1;
	return b;
}

static void
S_ready(struct zstore *zs, struct zblob *b, int raw)
{
	pthread_mutex_lock(&zs->mu);
	b->ready = 1;
	if (b->method == 0)
		zs->st.stored++;
	if (b->spilled)
		zs->st.spilled++;
	if (raw)
		zs->st.raw++;
	zs->st.bytes_in += b->usize;
	zs->st.bytes_out += b->csize;
	pthread_cond_broadcast(&zs->done);
	pthread_mutex_unlock(&zs->mu);
}

const struct zblob *
zstore_add(struct zstore *zs, const void *data, size_t len)
{
	struct zblob	*b;
	uint8_t		 sha[32];
	int		 fresh;

	S_sha(data, len, sha);
	b = S_lookup(zs, sha, len, NULL, &fresh);
	if (fresh) {
		if (zs->sizes_only)
			S_as_stored(b, len);
		else
			S_compress(zs, b, data, len);
		S_ready(zs, b, 0);
	}
	return b;
}

const struct zblob *
zstore_add_shared(struct zstore *zs, const void *data, size_t len,
    const struct zshared *sh)
{
	const unsigned char *at;
	struct zblob	*b;
	uint8_t		 sha[32];
	int		 fresh;

	if (sh == NULL || zs->sizes_only ||
	    (at = S_find(data, len, sh)) == NULL)
		return zstore_add(zs, data, len);
	S_sha(data, len, sha);
	b = S_lookup(zs, sha, len, sh, &fresh);
	if (fresh) {
		S_compress_shared(zs, b, data, len,
		    (size_t)(at - (const unsigned char *)data), sh);
		S_ready(zs, b, 0);
	}
	return b;
}

const struct zblob *
zstore_add_raw(struct zstore *zs, const void *raw, size_t rawlen, int method,
    size_t usize, const struct zshared *sh)
{
	struct libdeflate_decompressor *d;
	enum libdeflate_result r;
	struct zblob	*b;
	unsigned char	*data = NULL;
	const void	*plain = raw;
	uint8_t		 sha[32];
	size_t		 got = 0;
	int		 fresh;

	if (method == 8) {
		if ((d = libdeflate_alloc_decompressor()) == NULL)
			xoom();
		data = xmalloc(usize + 1);
		r = libdeflate_deflate_decompress(d, raw, rawlen, data, usize,
		    &got);
		libdeflate_free_decompressor(d);
		if (r != LIBDEFLATE_SUCCESS || got != usize) {
			free(data);
			return NULL;
		}
		plain = data;
	} else if (method != 0 || rawlen != usize)
		return NULL;
	/* Tell the blob apart as zstore_add_shared() would have made it. */
	if (sh != NULL && S_find(plain, usize, sh) == NULL)
		sh = NULL;
	S_sha(plain, usize, sha);
	b = S_lookup(zs, sha, usize, sh, &fresh);
	if (fresh) {
		b->crc = libdeflate_crc32(0, plain, usize);
		b->method = method;
		pthread_mutex_lock(&zs->mu);
		b->level = zs->level;
		pthread_mutex_unlock(&zs->mu);
		b->csize = (long long)rawlen;
		S_place(zs, b, raw);
		S_ready(zs, b, 1);
	}
	free(data);
	return b;
}

/* Are b's compressed bytes kept?  Not in a sizes-only store. */
static int
S_has_bytes(const struct zblob *b)
{
	return b->mem != NULL || b->spilled || b->csize == 0;
}

int
zblob_raw(const struct zblob *b, struct buf *out)
{
	if (!S_has_bytes(b)) {
		errno = ENODATA;
		return -1;
	}
	buf_grow(out, (size_t)b->csize);
	if (b->spilled) {
		if (S_pread_all(b->zs->spill_fd, (unsigned char *)out->data +
		    out->len, (size_t)b->csize, b->off) == -1)
			return -1;
		out->len += (size_t)b->csize;
		out->data[out->len] = '\0';
	} else
		buf_put(out, b->mem, (size_t)b->csize);
	return b->method;
}

void
zstore_fingerprint(struct zstore *zs, char out[65])
{
	static const char probe[] =
	    "<p>2023年，市司法局深入贯彻习近平法治思想，全面落实新修订的《中华"
	    "人民共和国行政复议法》，统筹推进法治政府建设。</p>\n<table><tr><td>"
	    "收到申请</td><td>3125</td></tr><tr><td>受理</td><td>2847</td></tr>"
	    "</table>\n<p>2023年，市司法局深入贯彻习近平法治思想。</p>\n";
	struct libdeflate_compressor *c;
	struct sha256	 ctx;
	unsigned char	 buf[sizeof(probe) * 2];
	uint8_t		 sha[32];
	size_t		 n;
	int		 level;

	pthread_mutex_lock(&zs->mu);
	level = zs->level;
	pthread_mutex_unlock(&zs->mu);
	if ((c = libdeflate_alloc_compressor(level)) == NULL)
		xoom();
	n = libdeflate_deflate_compress(c, probe, sizeof(probe) - 1, buf,
	    sizeof(buf));
	libdeflate_free_compressor(c);
	sha256_init(&ctx);
	sha256_update(&ctx, &level, sizeof(level));
	sha256_update(&ctx, buf, n);
	sha256_final(&ctx, sha);
	hex_encode(sha, 32, out);
}

long long
zblob_size(const struct zblob *b)
{
	return b->usize;
}

long long
zblob_compressed_size(const struct zblob *b)
{
	return b->csize;
}

void
zblob_sha256_hex(const struct zblob *b, char out[65])
{
	hex_encode(b->sha, 32, out);
}

/* ---- names ---- */

static int
S_entry_cmp(const void *a, const void *b)
{
	const struct zip_entry *const *x = a, *const *y = b;

	/* NULL sorts as "" here and is refused by S_name_check(). */
	return strcmp((*x)->name ? (*x)->name : "", (*y)->name ? (*y)->name : "");
}

/* Sorted copy of the entry pointers; strcmp orders bytes as unsigned. */
static const struct zip_entry **
S_sorted(const struct zip_entry *e, size_t n)
{
	const struct zip_entry **v;
	size_t		 i;

	v = xcalloc(n, sizeof(*v));
	for (i = 0; i < n; i++)
		v[i] = &e[i];
	qsort(v, n, sizeof(*v), S_entry_cmp);
	return v;
}

/* Return 0 if name may go into a zip, else -1 with the reason in err. */
static int
S_name_check(const char *name, struct buf *err)
{
	const char	*c, *e, *why = NULL;
	size_t		 len;

	if (name == NULL || *name == '\0') {
		buf_puts(err, "zip entry with an empty name");
		return -1;
	}
	len = strlen(name);
	if (len > 0xffff)
		why = "longer than 65535 bytes";
	else if (utf8_invalid_at(name, len) != (size_t)-1)
		why = "not valid UTF-8";
	else if (name[0] == '/')
		why = "absolute path";
	else if (strchr(name, '\\') != NULL)
		why = "contains a backslash";
	for (c = name; why == NULL && *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			why = "contains a control character";
	for (c = name; why == NULL; c = e + 1) {
		if ((e = strchr(c, '/')) == NULL)
			e = c + strlen(c);
		if (e == c)
			why = "has an empty path component";
		else if (e - c == 1 && c[0] == '.')
			why = "has a \".\" component";
		else if (e - c == 2 && c[0] == '.' && c[1] == '.')
			why = "has a \"..\" component";
		if (*e == '\0')
			break;
	}
	/* The project's one path rule must agree. */
	if (why == NULL && !path_is_safe(name))
		why = "not a safe relative path";
	if (why == NULL)
		return 0;
	buf_puts(err, "zip entry \"");
	buf_json_escape(err, name, len);
	buf_printf(err, "\": %s", why);
	return -1;
}

/* Is the first len bytes of key one of the (sorted) names? */
static int
S_has_name(const struct zip_entry **v, size_t n, const char *key, size_t len)
{
	size_t		 lo = 0, hi = n, mid, nl;
	int		 c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		nl = strlen(v[mid]->name);
		c = memcmp(key, v[mid]->name, len < nl ? len : nl);
		if (c == 0)
			c = len < nl ? -1 : len > nl;
		if (c == 0)
			return 1;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

/* Check sorted names; return 0 if all are fit, else -1 with err set. */
static int
S_names_check(const struct zip_entry **v, size_t n, struct buf *err)
{
	const char	*s;
	size_t		 i;

	for (i = 0; i < n; i++) {
		if (S_name_check(v[i]->name, err) == -1)
			return -1;
		if (v[i]->blob == NULL) {
			buf_printf(err, "zip entry \"%s\" has no contents",
			    v[i]->name);
			return -1;
		}
	}
	for (i = 0; i < n; i++) {
		if (i > 0 && strcmp(v[i - 1]->name, v[i]->name) == 0) {
			buf_printf(err, "zip entry \"%s\" appears twice",
			    v[i]->name);
			return -1;
		}
		/* A file "a" and a file "a/b" cannot both be extracted. */
		for (s = v[i]->name; (s = strchr(s, '/')) != NULL; s++)
			if (S_has_name(v, n, v[i]->name,
			    (size_t)(s - v[i]->name))) {
				buf_printf(err, "zip entry \"%.*s\" is also "
				    "the directory of \"%s\"",
				    (int)(s - v[i]->name), v[i]->name,
				    v[i]->name);
				return -1;
			}
	}
	return 0;
}

/* ---- writing ---- */

/* Unix seconds as a DOS date and time, in UTC so that TZ cannot matter. */
static unsigned long
S_dos_time(long long t)
{
	struct tm	 tm;
	time_t		 tt;

	if (t < 315532800LL)		/* 1980-01-01 00:00:00 */
		t = 315532800LL;
	if (t > 4354819198LL)		/* 2107-12-31 23:59:58 */
		t = 4354819198LL;
	tt = (time_t)t;
	gmtime_r(&tt, &tm);
	return (unsigned long)(tm.tm_year - 80) << 25 |
	    (unsigned long)(tm.tm_mon + 1) << 21 |
	    (unsigned long)tm.tm_mday << 16 |
	    (unsigned long)tm.tm_hour << 11 |
	    (unsigned long)tm.tm_min << 5 |
	    (unsigned long)(tm.tm_sec / 2);
}

/*
 * Add one entry.  *off tracks where its local header starts: minizip
 * needs to be told in advance whether an entry will need zip64 fields,
 * and an offset past 4 GiB is one reason.  Return 0 or -1 with err set.
 */
static int
S_add_entry(zipFile zf, const struct zip_entry *e, unsigned long dos,
    unsigned long long *off, unsigned char **chunk, struct buf *err)
{
	const struct zblob *b = e->blob;
	zip_fileinfo	 zi;
	long long	 done, k;
	int		 z64, r;

	if (!S_has_bytes(b)) {
		buf_printf(err, "\"%s\": its store keeps sizes only", e->name);
		return -1;
	}
	z64 = (unsigned long long)b->usize >= S_Z32 ||
	    (unsigned long long)b->csize >= S_Z32 || *off >= S_Z32;
	memset(&zi, 0, sizeof(zi));
	zi.dosDate = dos;
	zi.external_fa = (unsigned long)(S_IFREG | 0644) << 16;
	errno = 0;
	r = zipOpenNewFileInZip4_64(zf, e->name, &zi, NULL, 0, NULL, 0, NULL,
	    b->method, b->method == 0 ? 0 : b->level > 9 ? 9 : b->level,
	    1, -MAX_WBITS, DEF_MEM_LEVEL, Z_DEFAULT_STRATEGY, NULL, 0,
	    3 << 8 | (z64 ? 45 : 20), 0x800, z64);
	for (done = 0; r == ZIP_OK && done < b->csize; done += k) {
		k = b->csize - done;
		if (b->spilled) {
			if (k > S_CHUNK)
				k = S_CHUNK;
			if (*chunk == NULL)
				*chunk = xmalloc(S_CHUNK);
			if (S_pread_all(b->zs->spill_fd, *chunk, (size_t)k,
			    b->off + done) == -1) {
				buf_printf(err, "reading the compressed "
				    "bytes of \"%s\": %s", e->name,
				    strerror(errno));
				return -1;
			}
			r = zipWriteInFileInZip(zf, *chunk, (unsigned)k);
		} else {
			if (k > (1 << 30))
				k = 1 << 30;
			r = zipWriteInFileInZip(zf, b->mem + done, (unsigned)k);
		}
	}
	if (r == ZIP_OK)
		r = zipCloseFileInZipRaw64(zf, (ZPOS64_T)b->usize, b->crc);
	if (r != ZIP_OK) {
		buf_printf(err, "writing \"%s\": %s", e->name,
		    r == ZIP_ERRNO && errno != 0 ? strerror(errno) :
		    "minizip failed");
		return -1;
	}
	/* Local header: 30 bytes, the name, and the zip64 extra field. */
	*off += 30 + strlen(e->name) + (z64 ? 20 : 0) +
	    (unsigned long long)b->csize;
	return 0;
}

/*
 * minizip's file functions, over one write-back buffer.  minizip writes
 * each local header with blank sizes, the data, then seeks back to fill
 * the sizes in and forward again: through stdio every such seek
 * flushed, several write(2)s per entry.  Here a seek into the buffered
 * range only moves the position, so a zip goes out in few large writes.
 */
#define	S_ZIO_CAP	(1024 * 1024)

struct S_zio {
	int		 fd;
	int		 err;		/* errno of the first failure, or 0 */
	unsigned long long pos;		/* minizip's position */
	unsigned long long end;		/* the file's size, written or buffered */
	unsigned long long bstart;	/* file offset of buf[0] */
	size_t		 blen;		/* bytes in buf */
	unsigned char	*buf;		/* S_ZIO_CAP bytes */
};

static int
S_zio_pwrite(struct S_zio *z, const unsigned char *p, size_t n,
    unsigned long long off)
{
	ssize_t	 w;

	while (n > 0) {
		w = pwrite(z->fd, p, n, (off_t)off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (z->err == 0)
				z->err = w == 0 ? EIO : errno;
			return -1;
		}
		p += w;
		off += (unsigned long long)w;
		n -= (size_t)w;
	}
	return 0;
}

static int
S_zio_flush(struct S_zio *z)
{
	int	 rc = 0;

	if (z->blen > 0)
		rc = S_zio_pwrite(z, z->buf, z->blen, z->bstart);
	z->blen = 0;
	return rc;
}

static voidpf ZCALLBACK
S_zio_open(voidpf opaque, const void *name, int mode)
{
	struct S_zio *z;
	int	 fd;

	(void)opaque;
	/* zip_write() only creates zips. */
	if (!(mode & ZLIB_FILEFUNC_MODE_CREATE)) {
		errno = EINVAL;
		return NULL;
	}
	if ((fd = open(name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1)
		return NULL;
	z = xcalloc(1, sizeof(*z));
	z->fd = fd;
	z->buf = xmalloc(S_ZIO_CAP);
	return z;
}

static uLong ZCALLBACK
S_zio_write(voidpf opaque, voidpf stream, const void *buf, uLong size)
{
	struct S_zio *z = stream;
	const unsigned char *p = buf;
	size_t	 n = size;

	(void)opaque;
	if (z->err != 0)
		return 0;
	/* Within or just after the buffered range: into the buffer. */
	if (!(z->pos >= z->bstart && z->pos <= z->bstart + z->blen &&
	    z->pos - z->bstart + n <= S_ZIO_CAP)) {
		if (S_zio_flush(z) == -1)
			return 0;
		if (n >= S_ZIO_CAP) {
			if (S_zio_pwrite(z, p, n, z->pos) == -1)
				return 0;
			z->pos += n;
			if (z->pos > z->end)
				z->end = z->pos;
			return size;
		}
		z->bstart = z->pos;
	}
	memcpy(z->buf + (z->pos - z->bstart), p, n);
	z->pos += n;
	if (z->pos - z->bstart > z->blen)
		z->blen = (size_t)(z->pos - z->bstart);
	if (z->pos > z->end)
		z->end = z->pos;
	return size;
}

static uLong ZCALLBACK
S_zio_read(voidpf opaque, voidpf stream, void *buf, uLong size)
{
	struct S_zio *z = stream;
	ssize_t	 r;

	(void)opaque;
	if (S_zio_flush(z) == -1)
		return 0;
	do
		r = pread(z->fd, buf, size, (off_t)z->pos);
	while (r == -1 && errno == EINTR);
	if (r <= 0)
		return 0;
	z->pos += (unsigned long long)r;
	return (uLong)r;
}

static ZPOS64_T ZCALLBACK
S_zio_tell(voidpf opaque, voidpf stream)
{
	(void)opaque;
	return ((struct S_zio *)stream)->pos;
}

static long ZCALLBACK
S_zio_seek(voidpf opaque, voidpf stream, ZPOS64_T off, int origin)
{
	struct S_zio *z = stream;

	(void)opaque;
	switch (origin) {
	case ZLIB_FILEFUNC_SEEK_SET:
		z->pos = off;
		break;
	case ZLIB_FILEFUNC_SEEK_CUR:
		z->pos += off;
		break;
	case ZLIB_FILEFUNC_SEEK_END:
		z->pos = z->end + off;
		break;
	default:
		return -1;
	}
	return 0;
}

static int ZCALLBACK
S_zio_close(voidpf opaque, voidpf stream)
{
	struct S_zio *z = stream;
	int	 rc;

	(void)opaque;
	S_zio_flush(z);
	if (close(z->fd) == -1 && z->err == 0)
		z->err = errno;
	rc = z->err != 0 ? -1 : 0;
	if (z->err != 0)
		errno = z->err;
	free(z->buf);
	free(z);
	return rc;
}

static int ZCALLBACK
S_zio_error(voidpf opaque, voidpf stream)
{
	struct S_zio *z = stream;

	(void)opaque;
	if (z->err != 0)
		errno = z->err;
	return z->err != 0;
}

static uint32_t
S_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 |
	    (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void
S_put(unsigned char *p, uint64_t v, int n)
{
	while (n-- > 0) {
		*p++ = v & 0xff;
		v >>= 8;
	}
}

/*
 * minizip 1.1 writes 0xffff as the entry count of an archive with 65535
 * entries or more, but adds the zip64 end records that hold the real
 * count only when the central directory starts past 4 GiB.  Insert them
 * before the end record when they are missing.  Return 0 or -1.
 */
static int
S_fix_zip64_end(const char *path, unsigned long long nent, struct buf *err)
{
	unsigned char	 t[56 + 20 + 22], *rec = t, *loc = t + 56, *end = t + 76;
	struct stat	 st;
	uint64_t	 cdsize, cdoff, eocd;
	int		 fd, rc = -1;

	if ((fd = open(path, O_RDWR | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		buf_printf(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (st.st_size < 22 || S_pread_all(fd, end, 22, st.st_size - 22) == -1 ||
	    S_le32(end) != 0x06054b50 || end[20] != 0 || end[21] != 0) {
		buf_printf(err, "%s: no end of central directory", path);
		goto out;
	}
	eocd = (uint64_t)st.st_size - 22;
	cdsize = S_le32(end + 12);
	cdoff = S_le32(end + 16);
	/*
	 * With the offset at 0xffffffff, or a central directory that ends
	 * short of the end record, minizip already wrote the zip64 records.
	 */
	if (cdoff == 0xffffffffULL || cdoff + cdsize != eocd) {
		rc = 0;
		goto out;
	}
	S_put(rec, 0x06064b50, 4);		/* zip64 end record */
	S_put(rec + 4, 44, 8);			/* its size after this field */
	S_put(rec + 12, 3 << 8 | 45, 2);	/* made by: Unix, zip 4.5 */
	S_put(rec + 14, 45, 2);			/* needed to extract */
	S_put(rec + 16, 0, 4);			/* this disk */
	S_put(rec + 20, 0, 4);			/* disk of the central dir */
	S_put(rec + 24, nent, 8);		/* entries on this disk */
	S_put(rec + 32, nent, 8);		/* entries */
	S_put(rec + 40, cdsize, 8);
	S_put(rec + 48, cdoff, 8);
	S_put(loc, 0x07064b50, 4);		/* zip64 end locator */
	S_put(loc + 4, 0, 4);			/* disk of the zip64 end */
	S_put(loc + 8, eocd, 8);		/* where the zip64 end starts */
	S_put(loc + 16, 1, 4);			/* disks */
	S_put(end + 8, 0xffff, 2);		/* counts: see zip64 end */
	S_put(end + 10, 0xffff, 2);
	if (S_pwrite_all(fd, t, sizeof(t), (long long)eocd) == -1) {
		buf_printf(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd != -1 && close(fd) == -1 && rc == 0) {
		buf_printf(err, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	return rc;
}

static zlib_filefunc64_def S_zio_funcs = {
	S_zio_open, S_zio_read, S_zio_write, S_zio_tell, S_zio_seek,
	S_zio_close, S_zio_error, NULL
};

int
zip_write(const char *path, const struct zip_entry *e, size_t n,
    long long mtime, struct buf *err)
{
	const struct zip_entry **v;
	unsigned char	*chunk = NULL;
	unsigned long long off = 0;
	unsigned long	 dos;
	zipFile		 zf = NULL;
	size_t		 i;
	int		 rc = -1, made = 0, closed;

	v = S_sorted(e, n);
	if (S_names_check(v, n, err) == -1)
		goto out;
	if ((zf = zipOpen2_64(path, APPEND_STATUS_CREATE, NULL,
	    &S_zio_funcs)) == NULL) {
		buf_printf(err, "%s: %s", path,
		    errno ? strerror(errno) : "cannot create");
		goto out;
	}
	made = 1;
	dos = S_dos_time(mtime);
	for (i = 0; i < n; i++)
		if (S_add_entry(zf, v[i], dos, &off, &chunk, err) == -1)
			goto out;
	errno = 0;
	closed = zipClose(zf, NULL);
	zf = NULL;
	if (closed != ZIP_OK) {
		buf_printf(err, "%s: %s", path,
		    errno ? strerror(errno) : "cannot finish the zip");
		goto out;
	}
	if (n >= 0xffff && S_fix_zip64_end(path, n, err) == -1)
		goto out;
	rc = 0;
out:
	if (zf != NULL)
		zipClose(zf, NULL);
	if (rc == -1 && made)
		unlink(path);
	free(chunk);
	free(v);
	return rc;
}

/*
 * The layout zip_write() produces with minizip 1.1 in raw mode: per
 * entry a 30-byte local header, the name, a 20-byte zip64 extra field
 * when S_add_entry() asks for one, and the compressed bytes (no data
 * descriptor: minizip seeks back to fill in the sizes); per entry a
 * 46-byte central header, the name, and a zip64 extra field holding
 * whichever of the sizes and the offset do not fit in 32 bits; then
 * the zip64 end record and locator (76 bytes) when the central
 * directory starts past 4 GiB or there are 65535 entries or more
 * (minizip's rule and S_fix_zip64_end()'s), and the 22-byte end record.
 */
long long
zip_size(const struct zip_entry *e, size_t n)
{
	const struct zip_entry **v;
	unsigned long long off = 0, cd = 0;
	const struct zblob *b;
	size_t		 i, nl;
	int		 z64, datasize;

	/* Sorted as written: past 4 GiB, offsets decide the zip64 fields. */
	v = S_sorted(e, n);
	for (i = 0; i < n; i++) {
		b = v[i]->blob;
		nl = v[i]->name ? strlen(v[i]->name) : 0;
		z64 = (unsigned long long)b->usize >= S_Z32 ||
		    (unsigned long long)b->csize >= S_Z32 || off >= S_Z32;
		datasize = ((unsigned long long)b->usize >= S_Z32 ? 8 : 0) +
		    ((unsigned long long)b->csize >= S_Z32 ? 8 : 0) +
		    (off >= S_Z32 ? 8 : 0);
		cd += 46 + nl + (datasize > 0 ? 4 + (unsigned)datasize : 0);
		off += 30 + nl + (z64 ? 20 : 0) + (unsigned long long)b->csize;
	}
	free(v);
	return (long long)(off + cd + 22 +
	    (off >= S_Z32 || n >= 0xffff ? 76 : 0));
}

/* ---- manifest ---- */

void
zip_manifest(struct buf *out, const char *header, const struct zip_entry *e,
    size_t n)
{
	const struct zip_entry **v;
	char		 hex[65];
	size_t		 i, hl;

	if (header != NULL && (hl = strlen(header)) > 0) {
		buf_put(out, header, hl);
		if (header[hl - 1] != '\n')
			buf_putc(out, '\n');
	}
	v = S_sorted(e, n);
	for (i = 0; i < n; i++) {
		zblob_sha256_hex(v[i]->blob, hex);
		buf_printf(out, "%s  %lld  %s\n", hex, v[i]->blob->usize,
		    v[i]->name);
	}
	free(v);
}
