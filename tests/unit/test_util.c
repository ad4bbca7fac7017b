/*
 * buf.c and util.c: escaping, hashing, UTF-8 and paths.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check.h"
#include "util.h"

static char *
S_esc(void (*fn)(struct buf *, const char *, size_t), const char *s, size_t n)
{
	struct buf b = { 0 };

	fn(&b, s, n);
	return buf_detach(&b);
}

/* utf8_invalid_at() as the rules say, one utf8_decode() at a time. */
static size_t
S_utf8_ref(const char *s, size_t len)
{
	size_t	 i = 0, k;
	uint32_t cp;

	while (i < len) {
		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		if ((k = utf8_decode(s + i, len - i, &cp)) == 0)
			return i;
		i += k;
	}
	return (size_t)-1;
}

/* Every lead byte, every second byte, edge third and fourth bytes. */
static int
S_utf8_exhaustive(void)
{
	static const unsigned char tail[] = { 0x00, 0x41, 0x7f, 0x80, 0x8f,
	    0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff };
	char	 s[12];
	unsigned b0, b1, t2, t3, pad;
	size_t	 n;

	for (pad = 0; pad < 9; pad += 8)
		for (b0 = 0; b0 < 256; b0++)
			for (b1 = 0; b1 < 256; b1++)
				for (t2 = 0; t2 < sizeof(tail); t2++)
					for (t3 = 0; t3 < sizeof(tail); t3++) {
						memset(s, 'a', pad);
						s[pad] = (char)b0;
						s[pad + 1] = (char)b1;
						s[pad + 2] = (char)tail[t2];
						s[pad + 3] = (char)tail[t3];
						for (n = pad + 1; n <= pad + 4; n++)
							if (utf8_invalid_at(s, n) !=
							    S_utf8_ref(s, n))
								return 0;
					}
	return 1;
}

/*
 * Runs of three-byte characters go two at a time: random strings of
 * tokens (CJK, the edge cases of E0 and ED, truncations, stray bytes,
 * other lengths) against the reference, at every length.
 */
static int
S_utf8_runs(void)
{
	static const char *const tok[] = {
		"法", "治", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xef\xbf\xbf",
		"\xe0\x80\x80", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xe4\xb8",
		"\xe4", "\x80", "a", "\xc2\xa9", "\xf0\x9f\x98\x80", "\xff",
		"\xe4\x38\x80", "\xe4\xb8\xc0",
	};
	char	 s[256];
	size_t	 n, k, len, t;
	unsigned long x = 12345;

	for (n = 0; n < 200000; n++) {
		len = 0;
		for (k = 0; k < 24; k++) {
			x = x * 6364136223846793005UL + 1442695040888963407UL;
			/* Mostly 法 and 治, so that runs form. */
			t = (x >> 33) % 40;
			t = t < 24 ? t % 2 : (t - 24) % (sizeof(tok) / sizeof(tok[0]));
			memcpy(s + len, tok[t], strlen(tok[t]));
			len += strlen(tok[t]);
		}
		for (k = 0; k <= len; k++)
			if (utf8_invalid_at(s, k) != S_utf8_ref(s, k))
				return 0;
	}
	return 1;
}

#define ESC(name, fn, in, want) do { \
	char *g = S_esc(fn, in, sizeof(in) - 1); \
	CHECK_STR(name, g, want); \
	free(g); \
} while (0)

int
main(void)
{
	char	 hex[65];
	struct buf b = { 0 };

	ESC("html: the five characters", buf_html_escape, "<a href=\"x\" onclick='y'>&",
	    "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;");
	ESC("html: Chinese passes through", buf_html_escape, "法治政府（一）",
	    "法治政府（一）");
	ESC("html: invalid UTF-8 becomes U+FFFD", buf_html_escape, "a\xff" "b",
	    "a\xEF\xBF\xBD" "b");
	ESC("html: overlong '<' cannot sneak through", buf_html_escape, "\xc0\xbc",
	    "\xEF\xBF\xBD\xEF\xBF\xBD");
	ESC("html: C0 and C1 controls replaced", buf_html_escape, "a\x01\xc2\x85z",
	    "a\xEF\xBF\xBD\xEF\xBF\xBDz");
	ESC("html: NUL replaced", buf_html_escape, "a\0b", "a\xEF\xBF\xBD" "b");
	ESC("html: surrogates are invalid", buf_html_escape, "\xed\xa0\x80",
	    "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
	ESC("html: tab and newline kept", buf_html_escape, "a\tb\nc", "a\tb\nc");
	ESC("url: Chinese percent-encoded, slash kept", buf_url_escape,
	    "department/市司法局.html",
	    "department/%E5%B8%82%E5%8F%B8%E6%B3%95%E5%B1%80.html");
	ESC("url: reserved characters encoded", buf_url_escape, "a b?c#d\"e",
	    "a%20b%3Fc%23d%22e");
	ESC("json: quotes, backslash, script end", buf_json_escape,
	    "\"\\</script>&\n", "\\\"\\\\\\u003c/script\\u003e\\u0026\\n");
	ESC("json: U+2028 escaped", buf_json_escape, "\xe2\x80\xa8", "\\u2028");
	ESC("json: Chinese as is, U+2029 escaped in the middle of a run",
	    buf_json_escape, "法治\xe2\x80\xa9政府\xe2\x80\xa7",
	    "法治\\u2029政府\xe2\x80\xa7");
	ESC("json: C1 control as is, DEL and bad bytes escaped", buf_json_escape,
	    "a\xc2\x85" "b\x7f\xff\xe6\xb3" "c",
	    "a\xc2\x85" "b\\u007f\\ufffd\\ufffd\\ufffdc");
	ESC("url: runs and escapes interleaved", buf_url_escape,
	    "a-b_c~d/法 x", "a-b_c~d/%E6%B3%95%20x");
	ESC("html: text runs, entities and a bad byte", buf_html_escape,
	    "政府<b>&\"'\x01\xff法", "政府&lt;b&gt;&amp;&quot;&#39;\xef\xbf\xbd\xef\xbf\xbd法");

	sha256_hex("", 0, hex);
	CHECK_STR("sha256: empty", hex,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	CHECK_STR("sha256: two blocks", hex,
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	{
		struct sha256 c;
		unsigned char d[32];
		int	 i;

		sha256_init(&c);
		for (i = 0; i < 1000; i++)
			sha256_update(&c, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1000);
		sha256_final(&c, d);
		hex_encode(d, 32, hex);
		CHECK_STR("sha256: a million a's, streamed", hex,
		    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	}

	/* 1000 lengths across block edges, against Python's hashlib. */
	{
		struct sha256 all, one;
		uint8_t	 d[32], data[1000];
		size_t	 len, i;

		sha256_init(&all);
		for (len = 0; len < 1000; len++) {
			for (i = 0; i < len; i++)
				data[i] = (uint8_t)(i * 7 + len);
			sha256_init(&one);
			/* In two pieces, so partial blocks are joined too. */
			sha256_update(&one, data, len / 3);
			sha256_update(&one, data + len / 3, len - len / 3);
			sha256_final(&one, d);
			sha256_update(&all, d, 32);
		}
		sha256_final(&all, d);
		hex_encode(d, 32, hex);
		CHECK_STR("sha256: lengths 0-999 (hashlib's digest)", hex,
		    "f6736e777f4669cd08490040f12b8c9fbd70cfb57c155927dcff1efdb269a162");
	}

	CHECK("utf8: valid Chinese", utf8_invalid_at("法治", 6) == (size_t)-1);
	CHECK("utf8: truncated sequence found", utf8_invalid_at("a\xe6\xb3", 3) == 1);
	CHECK("utf8: beyond U+10FFFF invalid", utf8_invalid_at("\xf4\x90\x80\x80", 4) == 0);
	CHECK("utf8: overlong 3-byte invalid", utf8_invalid_at("ab\xe0\x9f\xbf", 5) == 2);
	CHECK("utf8: surrogate invalid", utf8_invalid_at("\xed\xa0\x80", 3) == 0);
	CHECK("utf8: ASCII run then bad byte", utf8_invalid_at("0123456789abcdef\xff", 17) == 16);
	CHECK("utf8: fast validator agrees with utf8_decode on every 1-4 byte sequence",
	    S_utf8_exhaustive());
	CHECK("utf8: runs of CJK (two at a time) agree with utf8_decode",
	    S_utf8_runs());
	CHECK("utf8: columns count characters", utf8_columns("法治a", 7) == 3);

	/* strset: membership across growth. */
	{
		struct strset set = { 0 };
		char	 k[32];
		int	 i, ok = 1;

		for (i = 0; i < 5000; i++) {
			snprintf(k, sizeof(k), "report/%d.html", i);
			ok &= strset_add(&set, k) == 1;
		}
		CHECK("strset: 5000 distinct adds are new", ok);
		CHECK("strset: a second add is not new", strset_add(&set, "report/7.html") == 0);
		CHECK("strset: has what was added", strset_has(&set, "report/4999.html"));
		CHECK("strset: not what was not", !strset_has(&set, "report/5000.html") &&
		    !strset_has(&set, ""));
		CHECK("strset: count", set.n == 5000);
		strset_free(&set);
		CHECK("strset: empty after free", set.n == 0 && !strset_has(&set, "report/1.html"));
	}
	/*
	 * str_hash: every length through the 8-byte steps and the tail, and
	 * the keys the link check hashes (long URLs sharing a prefix), give
	 * distinct hashes whose low bits (what the tables use) spread.
	 */
	{
		static const char base[] = "report/%E5%B8%82%E5%8F%B8%E6%B3%95"
		    "%E5%B1%80-2023.html#%E4%B8%80-%E4%B8%BB%E8%A6%81";
		uint64_t hs[sizeof(base)], h;
		char	 k[sizeof(base)], u[64];
		size_t	 n, m, low[256] = { 0 }, worst = 0;
		int	 ok = 1;

		for (n = 0; n < sizeof(base); n++) {
			memcpy(k, base, n);
			k[n] = '\0';
			hs[n] = str_hash(k);
			for (m = 0; m < n; m++)
				ok &= hs[m] != hs[n];
		}
		CHECK("str_hash: every prefix of a URL (0-93 bytes) hashes apart", ok);
		ok = 1;
		for (n = 0; n + 1 < sizeof(base); n++) {
			memcpy(k, base, sizeof(base));
			k[n] ^= 1;
			ok &= str_hash(k) != hs[sizeof(base) - 1];
		}
		CHECK("str_hash: one changed byte at any place changes it", ok);
		for (n = 0; n < 25600; n++) {
			snprintf(u, sizeof(u), "../report/%%E5%%B8%%82-%zu.html", n);
			low[str_hash(u) & 255]++;
		}
		ok = 1;
		for (n = 0; n < 256; n++) {
			if (low[n] > worst)
				worst = low[n];
			ok &= low[n] > 0;
		}
		CHECK("str_hash: low 8 bits of 25,600 similar URLs fill every bucket "
		    "within 1.5x of even", ok && worst < 150);
		h = str_hash_more(str_hash("a"), "bc");
		CHECK("str_hash_more: a pair is not its concatenation's split elsewhere",
		    h != str_hash_more(str_hash("ab"), "c") &&
		    h == str_hash_more(str_hash("a"), "bc"));
	}
	/* arena: alignment, big objects, strings kept until freed. */
	{
		struct arena a = { 0 };
		char	*s1, *s2, *big;
		void	*p8;
		int	 i, ok = 1;

		s1 = arena_strdup(&a, "法治政府");
		p8 = arena_alloc(&a, 24, 8);
		big = arena_alloc(&a, 200000, 1);
		memset(big, 'x', 200000);
		for (i = 0; i < 20000; i++)
			ok &= strcmp(arena_strdup(&a, "市司法局"), "市司法局") == 0;
		s2 = arena_strdup(&a, "");
		CHECK("arena: strings survive later allocations", strcmp(s1, "法治政府") == 0 &&
		    *s2 == '\0' && ok);
		CHECK("arena: aligned", ((uintptr_t)p8 & 7) == 0);
		CHECK("arena: an object larger than a chunk", big[0] == 'x' && big[199999] == 'x');
		arena_free(&a);
		CHECK("arena: empty after free", a.head == NULL);
	}

	/*
	 * lpool: 20,000 random allocations, resizes and frees across the
	 * size classes and past LPOOL_MAX, against a model of what every
	 * live block must still hold; and blocks 16-byte aligned.
	 */
	{
		enum { SLOTS = 500 };
		struct lpool pool = { 0 };
		unsigned char *blk[SLOTS] = { 0 };
		size_t	 sz[SLOTS] = { 0 }, k, j, n;
		unsigned long long x = 0x9e3779b97f4a7c15ULL;
		int	 ok = 1, aligned = 1, i;

		for (i = 0; i < 20000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			k = (size_t)(x % SLOTS);
			n = (size_t)(x >> 32) % (x & 0x100 ? 600 : 64);
			/* The block must still hold its pattern. */
			for (j = 0; j < sz[k]; j++)
				ok &= blk[k][j] == (unsigned char)(k + j);
			blk[k] = lpool_realloc(&pool, blk[k], sz[k], n);
			if (n == 0) {
				ok &= blk[k] == NULL;
				sz[k] = 0;
				continue;
			}
			ok &= blk[k] != NULL;
			aligned &= ((uintptr_t)blk[k] & 15) == 0;
			/* What survived the resize is still there. */
			for (j = 0; j < (sz[k] < n ? sz[k] : n); j++)
				ok &= blk[k][j] == (unsigned char)(k + j);
			for (j = 0; j < n; j++)
				blk[k][j] = (unsigned char)(k + j);
			sz[k] = n;
		}
		CHECK("lpool: blocks keep their bytes through resizes and reuse", ok);
		CHECK("lpool: blocks are 16-byte aligned", aligned);
		for (k = 0; k < SLOTS; k++)
			lpool_realloc(&pool, blk[k], sz[k], 0);
		lpool_free(&pool);
		CHECK("lpool: empty after free", pool.chunks == NULL);
	}

	CHECK("path: plain relative", path_is_safe("content/市司法局/2021.md"));
	CHECK("path: .. refused", !path_is_safe("content/../x"));
	CHECK("path: leading .. refused", !path_is_safe("../x"));
	CHECK("path: absolute refused", !path_is_safe("/etc/passwd"));
	CHECK("path: backslash refused", !path_is_safe("a\\..\\b"));
	CHECK("path: empty component refused", !path_is_safe("a//b"));
	CHECK("path: dot component refused", !path_is_safe("a/./b"));
	CHECK("path: control byte refused", !path_is_safe("a\nb"));
	CHECK("path: dotfile allowed", path_is_safe(".fazhi-cache"));
	{
		char *j = path_join("a/", "/b");

		CHECK_STR("path_join: one slash", j, "a/b");
		free(j);
		j = path_join(".", "b");
		CHECK_STR("path_join: . is dropped", j, "b");
		free(j);
	}
	buf_printf(&b, "%d-%s", 7, "x");
	buf_puts(&b, "y");
	CHECK_STR("buf: printf and puts", buf_cstr(&b), "7-xy");
	buf_free(&b);
	CHECK_STR("buf: empty is \"\"", buf_cstr(&b), "");
	return check_done();
}
