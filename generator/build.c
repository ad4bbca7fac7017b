/*
 * build.c: the stages of a build, in order, and the summary.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build.h"
#include "buf.h"
#include "config.h"
#include "content.h"
#include "diag.h"
#include "links.h"
#include "output.h"
#include "page.h"
#include "pool.h"
#include "template.h"
#include "util.h"

/* Changes with the generator, so a new fazhi never reuses an old page. */
#define FAZHI_BUILD_ID "fazhi-0.1.0 " __DATE__ " " __TIME__

static const char *const S_required_templates[] = {
	"home.html", "list.html", "report.html", "404.html", NULL
};

static void
S_summary(const struct build_stats *st, const struct out *o, double secs,
    int check)
{
	fprintf(stderr,
	    "\n                   | %s\n"
	    "-------------------+-------\n"
	    "  报告 Reports      | %zu (%zu reused)\n"
	    "  页面 Pages        | %zu\n"
	    "  压缩包 Bundles    | %zu\n"
	    "  静态文件 Static   | %zu\n"
	    "  文件 Files        | %zu (%.1f MB)\n"
	    "\n%s in %.0f ms\n",
	    check ? "检查 check" : "构建 build",
	    st->reports, st->reused, st->pages, st->bundles, st->static_files,
	    out_files(o), (double)out_bytes(o) / 1e6,
	    check ? "Checked" : "Built", secs * 1000);
}

/* Hash the files whose change must rebuild every page. */
static void
S_hash_file(struct sha256 *h, const char *root, const char *rel)
{
	char	*p = path_join(root, rel), *data;
	size_t	 len;

	sha256_update(h, rel, strlen(rel) + 1);
	if (file_read(p, &data, &len) == 0) {
		sha256_update(h, &len, sizeof(len));
		sha256_update(h, data, len);
		free(data);
	}
	free(p);
}

/*
 * The theme's static files, by name and content: pages link them, and
 * the link check of a page reused from the cache relies on its key.
 */
static void
S_hash_tree(struct sha256 *h, const char *root, const char *rel)
{
	struct dirent **names;
	char	*dir = path_join(root, rel), *sub;
	int	 n, i;

	if ((n = scandir(dir, &names, NULL, alphasort)) < 0) {
		free(dir);
		return;
	}
	for (i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			sub = path_join(rel, names[i]->d_name);
			if (names[i]->d_type == DT_DIR)
				S_hash_tree(h, root, sub);
			else
				S_hash_file(h, root, sub);
			free(sub);
		}
		free(names[i]);
	}
	free(names);
	free(dir);
}

static void
S_global_hash(const char *root, const char *theme, const struct tmpl_set *t,
    unsigned char out[32])
{
	struct sha256 h;
	unsigned char th[32];
	struct dirent **names;
	int	 n, i;
	char	*dir;

	sha256_init(&h);
	sha256_update(&h, FAZHI_BUILD_ID, sizeof(FAZHI_BUILD_ID));
	S_hash_file(&h, root, "site.yaml");
	tmpl_hash(t, th);
	sha256_update(&h, th, 32);
	if (theme != NULL) {
		char *st = xasprintf("themes/%s/static", theme);

		S_hash_tree(&h, root, st);
		free(st);
	}
	dir = path_join(root, "filters");
	if ((n = scandir(dir, &names, NULL, alphasort)) >= 0) {
		for (i = 0; i < n; i++) {
			size_t	 l = strlen(names[i]->d_name);

			if (l > 4 && !strcmp(names[i]->d_name + l - 4, ".lua")) {
				char *rel = xasprintf("filters/%s",
				    names[i]->d_name);

				S_hash_file(&h, root, rel);
				free(rel);
			}
			free(names[i]);
		}
		free(names);
	}
	free(dir);
	sha256_final(&h, out);
}

int
build_run(const struct build_args *a, struct build_result *res)
{
	struct config cfg;
	struct site site;
	struct tmpl_set *tmpl = NULL;
	struct out *o = NULL;
	struct page_opts po;
	struct build_stats st;
	char	*outdir, *scanpath, *newscan;
	size_t	 olen;
	double	 t0 = now_seconds();
	int	 rc = -1, scanned = 0;
	size_t	 i;

	memset(&site, 0, sizeof(site));
	memset(&st, 0, sizeof(st));
	if (res)
		memset(res, 0, sizeof(*res));
	outdir = a->outdir ? xstrdup(a->outdir) : path_join(a->root, "site");
	/*
	 * The scan cache lives beside OUT, not in it: it records the
	 * sources' inodes and times, which the published site must not
	 * depend on.  It is streamed to a file of this process, then
	 * renamed into place.
	 */
	olen = strlen(outdir);
	while (olen > 1 && outdir[olen - 1] == '/')
		olen--;
	scanpath = xasprintf("%.*s.fazhi-scan", (int)olen, outdir);
	newscan = xasprintf("%.*s.fazhi-scan-%ld", (int)olen, outdir,
	    (long)getpid());
	timing("start");
	if (config_load(&cfg, a->root) == 0) {
		if ((tmpl = tmpl_compile(a->root, cfg.theme)) != NULL)
			for (i = 0; S_required_templates[i]; i++)
				if (!tmpl_exists(tmpl, S_required_templates[i]))
					diag_error(NULL, 0, 0, "theme \"%s\" has no "
					    "templates/%s", cfg.theme,
					    S_required_templates[i]);
		timing("config, templates");
		content_scan(&site, &cfg, a->root, scanpath,
		    a->check ? NULL : newscan);
		scanned = 1;
		if (!a->check)
			content_scan_save(&site, newscan, scanpath);
		/* Give back what the parse of a million files left free. */
		malloc_trim(0);
		timing("scan");
	}
	/* Every content error is known here, before anything is written. */
	if (diag_errors() > 0)
		goto out;
	o = a->check ? out_open_dry() : out_open(outdir);
	if (o == NULL)
		goto out;
	memset(&po, 0, sizeof(po));
	po.root = a->root;
	po.cfg = &cfg;
	po.site = &site;
	po.tmpl = tmpl;
	po.out = o;
	po.bundles = a->bundles && cfg.bundles;
	po.workers = a->jobs > 0 ? a->jobs : pool_workers();
	po.progress = !a->quiet && isatty(2);
	S_global_hash(a->root, cfg.theme, tmpl, po.global);
	po.links = links_new(&site, &cfg, a->root, outdir,
	    po.bundles && tmpl_exists(tmpl, "downloads.html"), po.workers,
	    a->check);
	/* Links are checked once every page is written, errors or not. */
	if (page_build(&po, &st) == -1 ||
	    (timing("pages"), 0) ||
	    links_finish(po.links, a->check ? NULL : out_staging(o)) > 0 ||
	    diag_errors() > 0) {
		links_free(po.links);
		out_abort(o);
		o = NULL;
		goto out;
	}
	links_free(po.links);
	timing("link check");
	if (!a->quiet)
		S_summary(&st, o, now_seconds() - t0, a->check);
	if (out_commit(o) == -1) {
		o = NULL;
		goto out;
	}
	o = NULL;
	timing("commit");
	rc = 0;
out:
	if (res) {
		res->ok = rc == 0;
		if (rc != 0)
			res->errors = diag_collected_text();
	}
	diag_flush();
	if (rc != 0 && !a->quiet)
		fprintf(stderr, "fazhi: %zu error(s); %s\n", diag_errors(),
		    a->check ? "check failed" : "nothing was published");
	if (scanned)
		site_free(&site);
	if (tmpl)
		tmpl_set_free(tmpl);
	config_free(&cfg);
	unlink(newscan);		/* renamed unless the scan could not */
	free(newscan);
	free(scanpath);
	free(outdir);
	return rc;
}
