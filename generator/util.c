/*
 * util.c: hashing, UTF-8, paths and files.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "util.h"

/* ---- allocation ---- */

void
xoom(void)
{
	fprintf(stderr, "fazhi: out of memory\n");
	abort();
}

void *
xmalloc(size_t n)
{
	void	*p = malloc(n ? n : 1);

	if (p == NULL)
		xoom();
	return p;
}

void *
xcalloc(size_t n, size_t sz)
{
	void	*p = calloc(n ? n : 1, sz ? sz : 1);

	if (p == NULL)
		xoom();
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		xoom();
	return p;
}

void *
xgrow(void *p, size_t n, size_t size)
{
	if (n != 0 && (n & (n - 1)) != 0)
		return p;
	if (n > ((size_t)-1 / 2) / size)
		xoom();
	return xrealloc(p, (n ? 2 * n : 1) * size);
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char	*p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	struct buf b = { 0 };
	va_list	 ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return buf_detach(&b);
}

double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
timing(const char *phase)
{
	static int	 on = -1;
	static double	 t0, last;
	double		 t;

	if (on == -1) {
		const char *e = getenv("FAZHI_TIMINGS");

		on = e != NULL && *e != '\0' && strcmp(e, "0") != 0;
		t0 = last = now_seconds();
	}
	if (!on)
		return;
	t = now_seconds();
	{
		/* Resident and peak memory, from /proc (Linux), in MB. */
		char	 line[128];
		long	 rss = -1, hwm = -1;
		FILE	*f = fopen("/proc/self/status", "r");

		while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
			if (strncmp(line, "VmRSS:", 6) == 0)
				rss = strtol(line + 6, NULL, 10) / 1024;
			else if (strncmp(line, "VmHWM:", 6) == 0)
				hwm = strtol(line + 6, NULL, 10) / 1024;
		}
		if (f != NULL)
			fclose(f);
		/* And what malloc holds for us, to tell leaks from holes. */
		fprintf(stderr, "fazhi: timing %-24s %8.3f s  (at %.3f s)  "
		    "rss %ld MB, peak %ld MB, malloc'd %zu MB\n", phase,
		    t - last, t - t0, rss, hwm,
		    (size_t)(mallinfo2().uordblks + mallinfo2().hblkhd) >> 20);
	}
	last = t;
}

/* ---- an arena ---- */

struct arena_chunk {
	struct arena_chunk *next;
	size_t		 used, cap;
	max_align_t	 data[];
};

void *
arena_alloc(struct arena *a, size_t n, size_t align)
{
	struct arena_chunk *c = a->head;
	size_t	 at = c ? (c->used + align - 1) & ~(align - 1) : 0;

	if (c == NULL || at + n > c->cap) {
		/* Sanitizer builds: a chunk per block, so ASan sees each. */
		size_t	 cap = FAZHI_ASAN || n > 32768 ? n :
		    65536 - sizeof(*c) - 64;

		c = xmalloc(sizeof(*c) + cap);
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
		at = 0;
	}
	c->used = at + n;
	return (char *)c->data + at;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	size_t	 n = strlen(s) + 1;

	return memcpy(arena_alloc(a, n, 1), s, n);
}

void
arena_free(struct arena *a)
{
	struct arena_chunk *c, *next;

	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
}

/* ---- a set of strings ---- */

/*
 * Eight bytes a step, each word mixed by a multiply and a shift; the
 * length goes into the last word, so "a" and "a\0…" cannot meet.  Keys
 * are URLs of a hundred bytes and more, which FNV-1a's multiply per
 * byte made the slowest part of the link check's sets.  In memory only:
 * no hash is ever written to a file, so it may change between versions.
 */
uint64_t
mem_hash_more(uint64_t h, const void *p, size_t n)
{
	const uint64_t k = 0x9e3779b97f4a7c15ULL;
	const unsigned char *s = p;
	uint64_t w;

	for (; n >= 8; n -= 8, s += 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * k;
		h ^= h >> 31;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w ^ (uint64_t)n << 59) * k;
	h ^= h >> 29;
	return h;
}

uint64_t
str_hash_more(uint64_t h, const char *s)
{
	return mem_hash_more(h, s, strlen(s));
}

uint64_t
str_hash(const char *s)
{
	return str_hash_more(1469598103934665603ULL, s);
}

int
strset_has(const struct strset *set, const char *s)
{
	size_t	 i;

	if (set->cap == 0)
		return 0;
	for (i = str_hash(s) & (set->cap - 1); set->v[i] != NULL;
	    i = (i + 1) & (set->cap - 1))
		if (strcmp(set->v[i], s) == 0)
			return 1;
	return 0;
}

int
strset_add(struct strset *set, const char *s)
{
	size_t	 i, k, oldcap;
	char	**old;

	if (strset_has(set, s))
		return 0;
	if ((set->n + 1) * 2 > set->cap) {
		old = set->v;
		oldcap = set->cap;
		set->cap = oldcap ? oldcap * 2 : 64;
		set->v = xcalloc(set->cap, sizeof(char *));
		for (k = 0; k < oldcap; k++) {
			if (old[k] == NULL)
				continue;
			for (i = str_hash(old[k]) & (set->cap - 1);
			    set->v[i] != NULL; i = (i + 1) & (set->cap - 1))
				;
			set->v[i] = old[k];
		}
		free(old);
	}
	for (i = str_hash(s) & (set->cap - 1); set->v[i] != NULL;
	    i = (i + 1) & (set->cap - 1))
		;
	set->v[i] = xstrdup(s);
	set->n++;
	return 1;
}

void
strset_free(struct strset *set)
{
	size_t	 i;

	for (i = 0; i < set->cap; i++)
		free(set->v[i]);
	free(set->v);
	set->v = NULL;
	set->cap = set->n = 0;
}

/* ---- SHA-256 (FIPS 180-4) ---- */

static const uint32_t S_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void
S_sha256_c(struct sha256 *c, const uint8_t *p)
{
	uint32_t w[64], a, b, d, e, f, g, h, cc, t1, t2;
	int	 i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (i = 16; i < 64; i++)
		w[i] = w[i - 16] + (ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^
		    (w[i - 15] >> 3)) + w[i - 7] + (ROR(w[i - 2], 17) ^
		    ROR(w[i - 2], 19) ^ (w[i - 2] >> 10));
	a = c->h[0]; b = c->h[1]; cc = c->h[2]; d = c->h[3];
	e = c->h[4]; f = c->h[5]; g = c->h[6]; h = c->h[7];
	for (i = 0; i < 64; i++) {
		t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) +
		    ((e & f) ^ (~e & g)) + S_k[i] + w[i];
		t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) +
		    ((a & b) ^ (a & cc) ^ (b & cc));
		h = g; g = f; f = e; e = d + t1;
		d = cc; cc = b; b = a; a = t1 + t2;
	}
	c->h[0] += a; c->h[1] += b; c->h[2] += cc; c->h[3] += d;
	c->h[4] += e; c->h[5] += f; c->h[6] += g; c->h[7] += h;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>

/*
 * One block with the x86 SHA extensions (SHA-NI), about five times the
 * speed of the C above: sources, pages and zips are hashed on every
 * build.  The state is kept as ABEF/CDGH, the form sha256rnds2 takes.
 * Each of the 16 steps does four rounds; from step 4 on, the message
 * schedule comes from the four previous groups of words.
 */
__attribute__((target("sha,sse4.1,ssse3")))
static void
S_sha256_ni(struct sha256 *c, const uint8_t *p)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL,
	    0x0405060700010203ULL);
	__m128i	 st0, st1, tmp, msg, w[4], save0, save1;
	int	 i;

	tmp = _mm_loadu_si128((const __m128i *)&c->h[0]);
	st1 = _mm_loadu_si128((const __m128i *)&c->h[4]);
	tmp = _mm_shuffle_epi32(tmp, 0xb1);		/* CDAB */
	st1 = _mm_shuffle_epi32(st1, 0x1b);		/* EFGH */
	st0 = _mm_alignr_epi8(tmp, st1, 8);		/* ABEF */
	st1 = _mm_blend_epi16(st1, tmp, 0xf0);		/* CDGH */
	save0 = st0;
	save1 = st1;
	for (i = 0; i < 16; i++) {
		if (i < 4)
			w[i] = _mm_shuffle_epi8(_mm_loadu_si128(
			    (const __m128i *)(p + 16 * i)), bswap);
		else {
			tmp = _mm_sha256msg1_epu32(w[i & 3], w[(i + 1) & 3]);
			tmp = _mm_add_epi32(tmp, _mm_alignr_epi8(w[(i + 3) & 3],
			    w[(i + 2) & 3], 4));
			w[i & 3] = _mm_sha256msg2_epu32(tmp, w[(i + 3) & 3]);
		}
		msg = _mm_add_epi32(w[i & 3],
		    _mm_loadu_si128((const __m128i *)&S_k[4 * i]));
		st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
		msg = _mm_shuffle_epi32(msg, 0x0e);
		st0 = _mm_sha256rnds2_epu32(st0, st1, msg);
	}
	st0 = _mm_add_epi32(st0, save0);
	st1 = _mm_add_epi32(st1, save1);
	tmp = _mm_shuffle_epi32(st0, 0x1b);		/* FEBA */
	st1 = _mm_shuffle_epi32(st1, 0xb1);		/* DCHG */
	st0 = _mm_blend_epi16(tmp, st1, 0xf0);		/* DCBA */
	st1 = _mm_alignr_epi8(st1, tmp, 8);		/* HGFE */
	_mm_storeu_si128((__m128i *)&c->h[0], st0);
	_mm_storeu_si128((__m128i *)&c->h[4], st1);
}

/* 1 when the CPU has SHA-NI (and SSSE3, SSE4.1), 0 if not; -1 unknown. */
static int	 S_have_ni = -1;

static int
S_ni(void)
{
	unsigned a, b, cc, d;
	int	 have = 0;

	if (__atomic_load_n(&S_have_ni, __ATOMIC_RELAXED) != -1)
		return S_have_ni;
	if (getenv("FAZHI_NO_SHA_NI") == NULL &&
	    __get_cpuid(1, &a, &b, &cc, &d) && (cc & bit_SSSE3) &&
	    (cc & bit_SSE4_1) && __get_cpuid_count(7, 0, &a, &b, &cc, &d))
		have = (b >> 29) & 1;
	__atomic_store_n(&S_have_ni, have, __ATOMIC_RELAXED);
	return have;
}
#endif

static void
S_sha256_block(struct sha256 *c, const uint8_t *p)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (S_ni()) {
		S_sha256_ni(c, p);
		return;
	}
#endif
	S_sha256_c(c, p);
}

void
sha256_init(struct sha256 *c)
{
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
	};

	memcpy(c->h, iv, sizeof(iv));
	c->n = 0;
	c->fill = 0;
}

void
sha256_update(struct sha256 *c, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t	 k;

	c->n += len;
	if (c->fill) {
		k = 64 - c->fill < len ? 64 - c->fill : len;
		memcpy(c->blk + c->fill, p, k);
		c->fill += k;
		p += k;
		len -= k;
		if (c->fill < 64)
			return;
		S_sha256_block(c, c->blk);
		c->fill = 0;
	}
	while (len >= 64) {
		S_sha256_block(c, p);
		p += 64;
		len -= 64;
	}
	memcpy(c->blk, p, len);
	c->fill = len;
}

void
sha256_final(struct sha256 *c, uint8_t out[32])
{
	uint64_t bits = c->n * 8;
	int	 i;

	c->blk[c->fill++] = 0x80;
	if (c->fill > 56) {
		memset(c->blk + c->fill, 0, 64 - c->fill);
		S_sha256_block(c, c->blk);
		c->fill = 0;
	}
	memset(c->blk + c->fill, 0, 56 - c->fill);
	for (i = 0; i < 8; i++)
		c->blk[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
	S_sha256_block(c, c->blk);
	for (i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(c->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)c->h[i];
	}
}

void
hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t	 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

void
sha256_hex(const void *data, size_t len, char out[65])
{
	struct sha256 c;
	uint8_t	 d[32];

	sha256_init(&c);
	sha256_update(&c, data, len);
	sha256_final(&c, d);
	hex_encode(d, 32, out);
}

/* ---- UTF-8 ---- */

size_t
utf8_decode(const char *s, size_t len, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t c;
	size_t	 n, i;

	if (len == 0)
		return 0;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		c = p[0] & 0x07;
	} else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

size_t
utf8_invalid_at(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	uint64_t w;
	unsigned c;

	/*
	 * The same rules as utf8_decode(), unrolled: reports are megabytes
	 * of CJK text, validated on every build.  ASCII goes 8 bytes at a time.
	 */
	while (p < end) {
		c = *p;
		if (c < 0x80) {
			while (end - p >= 8) {
				memcpy(&w, p, 8);
				if (w & 0x8080808080808080ULL)
					break;
				p += 8;
			}
			while (p < end && *p < 0x80)
				p++;
			continue;
		}
		if (c >= 0xe0 && c <= 0xef) {		/* CJK: three bytes */
			/*
			 * Runs of them two at a time: both lead bytes 1110xxxx
			 * and neither E0 nor ED (whose second byte is
			 * restricted), and all four others 10xxxxxx.
			 */
			while (end - p >= 6) {
				w = (uint64_t)p[0] | (uint64_t)p[1] << 8 |
				    (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
				    (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40;
				if ((w & 0xc0c0f0c0c0f0ULL) != 0x8080e08080e0ULL ||
				    p[0] == 0xe0 || p[0] == 0xed ||
				    p[3] == 0xe0 || p[3] == 0xed)
					break;
				p += 6;
			}
			if (p >= end || *p < 0xe0 || *p > 0xef)
				continue;
			c = *p;
			if (end - p < 3 || (p[1] & 0xc0) != 0x80 ||
			    (p[2] & 0xc0) != 0x80 ||
			    (c == 0xe0 && p[1] < 0xa0) ||	/* overlong */
			    (c == 0xed && p[1] >= 0xa0))	/* surrogate */
				break;
			p += 3;
		} else if (c >= 0xc2 && c <= 0xdf) {
			if (end - p < 2 || (p[1] & 0xc0) != 0x80)
				break;
			p += 2;
		} else if (c >= 0xf0 && c <= 0xf4) {
			if (end - p < 4 || (p[1] & 0xc0) != 0x80 ||
			    (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80 ||
			    (c == 0xf0 && p[1] < 0x90) ||	/* overlong */
			    (c == 0xf4 && p[1] >= 0x90))	/* past U+10FFFF */
				break;
			p += 4;
		} else
			break;
	}
	return p < end ? (size_t)(p - (const unsigned char *)s) : (size_t)-1;
}

size_t
utf8_columns(const char *s, size_t len)
{
	size_t	 i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/* ---- paths ---- */

char *
path_join(const char *a, const char *b)
{
	size_t	 la = strlen(a);

	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	if (la == 0 || (la == 1 && a[0] == '.'))
		return xstrdup(b);
	if (*b == '\0')
		return xstrndup(a, la);
	{
		/* Not xasprintf: a build joins paths for every file it writes. */
		size_t	 lb = strlen(b);
		char	*p = xmalloc(la + 1 + lb + 1);

		memcpy(p, a, la);
		p[la] = '/';
		memcpy(p + la + 1, b, lb + 1);
		return p;
	}
}

int
path_is_safe(const char *p)
{
	const char *c, *e;

	if (p == NULL || *p == '\0' || *p == '/')
		return 0;
	for (c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == '\\' || *c == 0x7f)
			return 0;
	for (c = p; *c; c = *e ? e + 1 : e) {
		e = strchr(c, '/');
		if (e == NULL)
			e = c + strlen(c);
		if (e == c)
			return 0;
		if ((e - c == 1 && c[0] == '.') ||
		    (e - c == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
	}
	return 1;
}

int
url_is_external(const char *url)
{
	const char *p = url;

	if (url[0] == '/' && url[1] == '/')
		return 1;
	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		return 0;
	for (p++; *p; p++) {
		if (*p == ':')
			return 1;
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' ||
		    *p == '.'))
			return 0;
	}
	return 0;
}

/* ---- files ---- */

int
file_read(const char *path, char **data, size_t *len)
{
	struct stat st;
	struct buf b = { 0 };
	ssize_t	 r;
	int	 fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	if (st.st_size > 0)
		buf_grow(&b, (size_t)st.st_size);
	for (;;) {
		buf_grow(&b, 65536);
		r = read(fd, b.data + b.len, b.cap - b.len - 1);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (r == 0)
			break;
		b.len += (size_t)r;
	}
	b.data[b.len] = '\0';
	close(fd);
	*len = b.len;
	*data = buf_detach(&b);
	return 0;
fail:
	saved = errno;
	close(fd);
	buf_free(&b);
	errno = saved;
	return -1;
}

int
mkdir_p(const char *path)
{
	char	*p, *s;
	int	 rc = 0;

	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -1;
	p = xstrdup(path);
	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST) {
			rc = -1;
			break;
		}
		*s = '/';
	}
	if (rc == 0 && mkdir(p, 0755) == -1 && errno != EEXIST)
		rc = -1;
	free(p);
	return rc;
}

static int
S_rm_at(int dirfd, const char *name)
{
	DIR	*d;
	struct dirent *de;
	int	 fd, rc = 0;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (S_rm_at(fd, de->d_name) == -1)
			rc = -1;
	}
	closedir(d);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) == -1 && errno != ENOENT)
		rc = -1;
	return rc;
}

int
rm_rf(const char *path)
{
	return S_rm_at(AT_FDCWD, path);
}

/* ---- a Lua state's small blocks ---- */

#define	S_LPOOL_CHUNK	(64 * 1024)

static void *
S_lpool_get(struct lpool *p, size_t n)
{
	size_t	 c = (n + 15) / 16, sz = c * 16;
	void	*b;
	char	*chunk;

	if (FAZHI_ASAN || n > LPOOL_MAX)
		return malloc(n);
	if ((b = p->free[c]) != NULL) {
		p->free[c] = *(void **)b;
		return b;
	}
	if (p->left < sz) {
		/* The tail of the old chunk is lost: under LPOOL_MAX bytes. */
		if ((chunk = malloc(S_LPOOL_CHUNK)) == NULL)
			return NULL;
		*(void **)chunk = p->chunks;
		p->chunks = chunk;
		p->cur = chunk + 16;	/* keeps blocks 16-byte aligned */
		p->left = S_LPOOL_CHUNK - 16;
	}
	b = p->cur;
	p->cur += sz;
	p->left -= sz;
	return b;
}

static void
S_lpool_put(struct lpool *p, void *b, size_t n)
{
	size_t	 c = (n + 15) / 16;

	if (FAZHI_ASAN || n > LPOOL_MAX) {
		free(b);
		return;
	}
	*(void **)b = p->free[c];
	p->free[c] = b;
}

void *
lpool_realloc(struct lpool *p, void *ptr, size_t osize, size_t nsize)
{
	void	*q;

	if (ptr == NULL)
		return nsize == 0 ? NULL : S_lpool_get(p, nsize);
	if (nsize == 0) {
		S_lpool_put(p, ptr, osize);
		return NULL;
	}
	if (FAZHI_ASAN || (osize > LPOOL_MAX && nsize > LPOOL_MAX))
		return realloc(ptr, nsize);
	/* The same size class: the block already fits. */
	if (osize <= LPOOL_MAX && nsize <= LPOOL_MAX &&
	    (osize + 15) / 16 == (nsize + 15) / 16)
		return ptr;
	if ((q = S_lpool_get(p, nsize)) == NULL)
		/* Lua may not see a shrink fail: keep the bigger block. */
		return nsize < osize ? ptr : NULL;
	memcpy(q, ptr, osize < nsize ? osize : nsize);
	S_lpool_put(p, ptr, osize);
	return q;
}

void
lpool_free(struct lpool *p)
{
	void	*c, *next;

	for (c = p->chunks; c != NULL; c = next) {
		next = *(void **)c;
		free(c);
	}
	memset(p, 0, sizeof(*p));
}
