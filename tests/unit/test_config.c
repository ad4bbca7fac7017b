/*
 * site.yaml: the schema, its errors and its defaults.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "diag.h"
#include "util.h"

static char S_dir[] = "/tmp/fazhi-config-XXXXXX";

/* Write site.yaml with text, load it; return diagnostics (caller frees). */
static char *
S_load(const char *text, struct config *c, int *rc)
{
	char	*p = path_join(S_dir, "site.yaml");
	FILE	*f = fopen(p, "w");

	fputs(text, f);
	fclose(f);
	free(p);
	diag_reset();
	*rc = config_load(c, S_dir);
	return diag_collected_text();
}

int
main(void)
{
	struct config c;
	char	*d;
	int	 rc;

	if (mkdtemp(S_dir) == NULL)
		return 1;
	d = S_load("title: 某市\ncategories: [市政府部门, 区政府]\n"
	    "base_url: https://x.gov.cn/fzzf\nfilters: [numbering]\n"
	    "sections:\n  - category: 区政府\n    required: [measures]\n"
	    "    level: error\n", &c, &rc);
	CHECK("valid config loads", rc == 0 && *d == '\0');
	CHECK_STR("base_url gains a trailing slash", c.base_url,
	    "https://x.gov.cn/fzzf/");
	CHECK("categories in order", c.ncategories == 2 &&
	    strcmp(c.categories[1], "区政府") == 0);
	CHECK("defaults: language zh-CN, page size 20, bundles on",
	    strcmp(c.language, "zh-CN") == 0 && c.page_size == 20 && c.bundles);
	CHECK("defaults: four required fields", c.nrequired == 4);
	CHECK("sections parsed", c.nsections == 1 && c.sections[0].is_error &&
	    c.sections[0].nrequired == 1);
	CHECK("config_category", config_category(&c, "区政府") == 1 &&
	    config_category(&c, "无") == -1);
	config_free(&c);
	free(d);

	d = S_load("title: x\ncategories: [a]\ncatagories: [b]\npage_size: 0\n"
	    "unsafe_html: maybe\ntheme: ../x\n", &c, &rc);
	CHECK("unknown key: error with position", rc == -1 &&
	    strstr(d, "site.yaml:3:1: error: unknown key 'catagories'") != NULL);
	CHECK("all errors in one run: page_size", strstr(d,
	    "site.yaml:4:12: error: 'page_size' must be a whole number") != NULL);
	CHECK("all errors in one run: unsafe_html", strstr(d,
	    "site.yaml:5:14: error: 'unsafe_html' must be true or false") != NULL);
	CHECK("theme cannot leave themes/", strstr(d,
	    "site.yaml:6:8: error: 'theme' must be a directory name") != NULL);
	config_free(&c);
	free(d);

	d = S_load("title: x\n", &c, &rc);
	CHECK("categories are required", rc == -1 &&
	    strstr(d, "must list the site's 'categories'") != NULL);
	config_free(&c);
	free(d);

	d = S_load("categories: [a, a]\nrequired: [title, colour]\n"
	    "filters: [../evil]\n", &c, &rc);
	CHECK("duplicate category", strstr(d,
	    "site.yaml:1:17: error: 'categories' lists \"a\" twice") != NULL);
	CHECK("unknown required field", strstr(d,
	    "site.yaml:2:19: error: 'required' names unknown field 'colour'") != NULL);
	CHECK("filter names cannot be paths", strstr(d,
	    "site.yaml:3:11: error: filter names are a-z") != NULL);
	config_free(&c);
	free(d);

	d = S_load("a: &x 1\nb: *x\n", &c, &rc);
	CHECK("aliases refused in site.yaml", rc == -1 &&
	    strstr(d, "anchors are not allowed") != NULL);
	config_free(&c);
	free(d);

	d = S_load("categories: [a]\nsections:\n  - category: b\n    required: [x]\n"
	    "    colour: red\n", &c, &rc);
	CHECK("sections: unknown category and key", rc == -1 &&
	    strstr(d, "site.yaml:3:15: error: 'sections' names unknown category") &&
	    strstr(d, "site.yaml:5:5: error: unknown key 'colour' in 'sections'"));
	config_free(&c);
	free(d);

	rm_rf(S_dir);
	{
		struct config m;

		diag_reset();
		rc = config_load(&m, "/nonexistent-fazhi");
		d = diag_collected_text();
		CHECK("missing site.yaml: clear error", rc == -1 &&
		    strstr(d, "site.yaml: error: cannot read") != NULL);
		config_free(&m);
		free(d);
	}
	diag_reset();
	return check_done();
}
