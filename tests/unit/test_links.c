/*
 * test_links.c: resolving relative links against a page (links.h).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "links.h"

/* Resolve url from page `from`; give "target#frag", "target", or "OUTSIDE". */
static char *
S_res(const char *from, const char *url, const char *base)
{
	char	*t, *f, *s;
	size_t	 n;

	if (links_resolve(from, url, base, &t, &f) == -1)
		return strdup("OUTSIDE");
	n = strlen(t) + (f ? strlen(f) + 2 : 1);
	s = malloc(n);
	snprintf(s, n, "%s%s%s", t, f ? "#" : "", f ? f : "");
	free(t);
	free(f);
	return s;
}

#define R(name, from, url, base, want) do {				\
	char *got_ = S_res(from, url, base);				\
	CHECK_STR(name, got_, want);					\
	free(got_);							\
} while (0)

int
main(void)
{
	R("sibling", "report/a.html", "b.html", "/", "report/b.html");
	R("parent", "report/a.html", "../index.html", "/", "index.html");
	R("dot segments", "report/a.html", "./x/../b.html", "/",
	    "report/b.html");
	R("fragment only", "report/a.html", "#x", "/", "report/a.html#x");
	R("empty fragment", "report/a.html", "b.html#", "/", "report/b.html");
	R("query dropped", "report/a.html", "b.html?v=2#k", "/",
	    "report/b.html#k");
	R("percent-decoded path",
	    "report/a.html", "../department/%E5%B8%82%E5%8F%B8%E6%B3%95%E5%B1%80.html",
	    "/", "department/市司法局.html");
	R("percent-decoded fragment", "report/a.html",
	    "#%E4%B8%80-%E4%B8%BB%E8%A6%81", "/", "report/a.html#一-主要");
	R("plain Chinese", "report/a.html", "../department/市司法局.html", "/",
	    "department/市司法局.html");
	R("bad percent kept", "report/a.html", "b%zz.html", "/",
	    "report/b%zz.html");
	R("directory is its index", "report/a.html", "../", "/", "index.html");
	R("root page", "index.html", "reports.html", "/", "reports.html");
	R("above the root", "report/a.html", "../../x.html", "/", "OUTSIDE");
	R("above the root from top", "index.html", "../x.html", "/", "OUTSIDE");
	R("absolute path", "report/a.html", "/index.html", "/", "index.html");
	R("absolute under base", "report/a.html", "/fzzf/report/b.html",
	    "/fzzf/", "report/b.html");
	R("absolute base without slash", "report/a.html", "/fzzf", "/fzzf/",
	    "index.html");
	R("absolute outside base", "report/a.html", "/other/x.html",
	    "/fzzf/", "OUTSIDE");
	R("NUL refused", "report/a.html", "b%00.html", "/", "OUTSIDE");
	R("double slash segment", "report/a.html", "x//b.html", "/",
	    "report/x/b.html");
	return check_done();
}
