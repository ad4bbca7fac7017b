/*
 * fuzz_markdown.c: Markdown to HTML (md_parse, md_render, md_text).
 *
 * The first input byte picks the mode: its low bit sets unsafe_html,
 * as a site may.  The rest is the report body.  In safe mode, which is
 * the default and the one that matters for untrusted departments, the
 * output must pass html_check.h: a failure is a way to put markup into
 * a published page.  Bodies that md_check() refuses are skipped, as
 * content_scan() refuses them before any rendering.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmark-gfm.h>

#include "buf.h"
#include "markdown.h"

#include "fuzz_util.h"
#include "html_check.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cmark_node *doc;
	struct buf out = { 0 }, text = { 0 };
	struct toc toc = { 0 };
	int	 unsafe;
	size_t	 i;

	if (size == 0)
		return 0;
	unsafe = data[0] & 1;
	data++;
	size--;
	/* As content_scan() does: bodies past the table limits never render. */
	if (md_check("content/fuzz.md", (const char *)data, size, 0) == -1) {
		fz_diag_drain();
		return 0;
	}
	doc = md_parse((const char *)data, size, unsafe);
	md_render(doc, &out, &toc, unsafe);
	md_text(doc, &text);
	if (!unsafe) {
		fz_check_html(buf_cstr(&out), out.len, NULL, NULL);
	}
	for (i = 0; i < toc.n; i++) {
		FZ_ASSERT(toc.v[i].level >= 2 && toc.v[i].level <= 6,
		    "toc level %d", toc.v[i].level);
		FZ_ASSERT(toc.v[i].id != NULL && toc.v[i].id[0] != '\0',
		    "empty heading id");
		FZ_ASSERT(toc.v[i].text != NULL, "toc text");
	}
	/* Heading ids are unique within a page. */
	for (i = 1; i < toc.n && i < 200; i++)
		for (size_t j = 0; j < i; j++)
			FZ_ASSERT(strcmp(toc.v[i].id, toc.v[j].id) != 0,
			    "duplicate heading id %s", toc.v[i].id);
	toc_free(&toc);
	buf_free(&out);
	buf_free(&text);
	md_free(doc);
	fz_diag_drain();
	return 0;
}
