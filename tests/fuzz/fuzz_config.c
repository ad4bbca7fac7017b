/*
 * fuzz_config.c: site.yaml (config_load).
 *
 * config_load() reads ROOT/site.yaml, so each input is written to a
 * private directory first (see fuzz_util.h).  Besides crashes and
 * leaks, the harness checks the promises config.h makes to the rest of
 * the build: on success every string field is set, the listing sizes
 * and filter limits are positive, and base_url ends in '/'.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"

#include "fuzz_util.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	size_t	 i;

	fz_write("site.yaml", data, size);
	if (config_load(&c, fz_dir()) == 0) {
		FZ_ASSERT(c.title && c.base_url && c.language && c.theme,
		    "a string field is NULL after success");
		FZ_ASSERT(c.base_url[0] != '\0' &&
		    c.base_url[strlen(c.base_url) - 1] == '/',
		    "base_url \"%s\" does not end in /", c.base_url);
		FZ_ASSERT(c.page_size > 0 && c.feed_size > 0,
		    "page_size %d, feed_size %d", c.page_size, c.feed_size);
		FZ_ASSERT(c.filter_instructions > 0 && c.filter_memory > 0,
		    "filter limits");
		for (i = 0; i < c.ncategories; i++) {
			FZ_ASSERT(c.categories[i] != NULL, "NULL category");
			FZ_ASSERT(config_category(&c, c.categories[i]) >= 0,
			    "category %s not found", c.categories[i]);
		}
		FZ_ASSERT(config_category(&c, "\x01no such category") == -1,
		    "config_category found a category that is not there");
		for (i = 0; i < c.nsections; i++)
			FZ_ASSERT(c.sections[i].category != NULL,
			    "section rule without a category");
	}
	config_free(&c);
	fz_diag_drain();
	return 0;
}
