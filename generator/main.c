/*
 * main.c: the command line.
 *
 *   fazhi build [-C ROOT] [-o OUT] [--quiet] [--no-bundles] [--jobs N]
 *               [--error-format plain|github]
 *   fazhi check [-C ROOT] [--error-format plain|github]
 *   fazhi new [-C ROOT] --department D --year Y --category C [--slug S]
 *   fazhi serve [-C ROOT] [--port N] [--bind ADDR]
 *
 * Exit status: 0 success, 1 content/template/filter errors (or a
 * failed write), 2 usage errors.
 */
#define _GNU_SOURCE
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "build.h"
#include "config.h"
#include "diag.h"
#include "util.h"

#define FAZHI_VERSION "0.1.0"

enum { EXIT_OK = 0, EXIT_CONTENT = 1, EXIT_USAGE = 2 };

static void
S_usage(FILE *f)
{
	fputs("usage: fazhi build [-C ROOT] [-o OUT] [--quiet] [--no-bundles] "
	    "[--jobs N]\n"
	    "                   [--error-format plain|github]\n"
	    "       fazhi check [-C ROOT] [--error-format plain|github]\n"
	    "       fazhi new [-C ROOT] --department D --year Y --category C "
	    "[--slug S]\n"
	    "       fazhi serve [-C ROOT] [--port 1313] [--bind 127.0.0.1]\n"
	    "       fazhi --help | --version\n", f);
}

static void
S_help(void)
{
	printf("fazhi %s: builds the annual rule-of-law report portal "
	    "(法治政府建设年度报告)\n\n", FAZHI_VERSION);
	S_usage(stdout);
	fputs("\ncommands:\n"
	    "  build   build ROOT/content into OUT (default ROOT/site), "
	    "atomically\n"
	    "  check   validate site.yaml, content, templates and filters; "
	    "write nothing\n"
	    "  new     write a report skeleton to content/DEPARTMENT/YEAR.md\n"
	    "  serve   live preview on http://127.0.0.1:1313/\n"
	    "\noptions:\n"
	    "  -C ROOT               the project root (default: .)\n"
	    "  -o OUT                the output directory (default: ROOT/site)\n"
	    "  -q, --quiet           no summary or progress\n"
	    "  --no-bundles          skip zip bundles (quick previews)\n"
	    "  -j, --jobs N          worker threads (default: CPUs)\n"
	    "  --error-format F      plain (path:line:col: error: …) or github\n"
	    "\nexit status: 0 success, 1 content errors, 2 usage errors\n"
	    "see fazhi(1) and README.md\n", stdout);
}

/* Parse --error-format's argument; -1 if unknown. */
static int
S_format(const char *s)
{
	if (strcmp(s, "plain") == 0)
		diag_set_format(DIAG_PLAIN);
	else if (strcmp(s, "github") == 0)
		diag_set_format(DIAG_GITHUB);
	else
		return -1;
	return 0;
}

enum {
	OPT_NO_BUNDLES = 256, OPT_ERROR_FORMAT, OPT_DEPARTMENT, OPT_YEAR,
	OPT_CATEGORY, OPT_SLUG, OPT_PORT, OPT_BIND
};

static const struct option S_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "jobs", required_argument, NULL, 'j' },
	{ "no-bundles", no_argument, NULL, OPT_NO_BUNDLES },
	{ "error-format", required_argument, NULL, OPT_ERROR_FORMAT },
	{ "department", required_argument, NULL, OPT_DEPARTMENT },
	{ "year", required_argument, NULL, OPT_YEAR },
	{ "category", required_argument, NULL, OPT_CATEGORY },
	{ "slug", required_argument, NULL, OPT_SLUG },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "bind", required_argument, NULL, OPT_BIND },
	{ NULL, 0, NULL, 0 }
};

/* Write a new report skeleton; refuse to overwrite. */
static int
S_new(const char *root, const char *dept, const char *year_s,
    const char *cat, const char *slug)
{
	struct config cfg;
	struct buf b = { 0 };
	char	*end, *dir, *rel, *abs;
	long	 year;
	int	 fd, rc = EXIT_CONTENT;
	const char *s;

	if (dept == NULL || year_s == NULL || cat == NULL) {
		fputs("fazhi new: --department, --year and --category are "
		    "required\n", stderr);
		return EXIT_USAGE;
	}
	year = strtol(year_s, &end, 10);
	if (*end != '\0' || year < 1949 || year > 2100) {
		fprintf(stderr, "fazhi new: --year must be from 1949 to 2100, "
		    "not \"%s\"\n", year_s);
		return EXIT_USAGE;
	}
	if (*dept == '\0' || utf8_invalid_at(dept, strlen(dept)) != (size_t)-1 ||
	    strchr(dept, '/') || strchr(dept, '\\') || dept[0] == '.') {
		fputs("fazhi new: --department must be a name without / or \\\n",
		    stderr);
		return EXIT_USAGE;
	}
	for (s = dept; *s; s++)
		if ((unsigned char)*s < 0x20) {
			fputs("fazhi new: --department holds a control "
			    "character\n", stderr);
			return EXIT_USAGE;
		}
	if (slug != NULL) {
		for (s = slug; *s; s++)
			if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
			    *s == '-'))
				break;
		if (*slug == '\0' || *s != '\0') {
			fputs("fazhi new: --slug may hold only a-z, 0-9 and -\n",
			    stderr);
			return EXIT_USAGE;
		}
	}
	if (config_load(&cfg, root) == -1) {
		diag_flush();
		config_free(&cfg);
		return EXIT_CONTENT;
	}
	if (config_category(&cfg, cat) < 0) {
		fprintf(stderr, "fazhi new: unknown category \"%s\"; site.yaml "
		    "allows:", cat);
		for (size_t i = 0; i < cfg.ncategories; i++)
			fprintf(stderr, " %s", cfg.categories[i]);
		fputc('\n', stderr);
		config_free(&cfg);
		return EXIT_USAGE;
	}
	dir = xasprintf("content/%s", dept);
	rel = xasprintf("%s/%ld.md", dir, year);
	abs = path_join(root, dir);
	if (mkdir_p(abs) == -1) {
		fprintf(stderr, "fazhi new: cannot create %s: %s\n", dir,
		    strerror(errno));
		goto out;
	}
	free(abs);
	abs = path_join(root, rel);
	fd = open(abs, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd == -1) {
		fprintf(stderr, "fazhi new: %s: %s\n", rel, errno == EEXIST ?
		    "already exists; not overwritten" : strerror(errno));
		goto out;
	}
	buf_printf(&b, "---\ntitle: %s%ld年法治政府建设年度报告\n"
	    "department: %s\nyear: %ld\ncategory: %s\ndate: %ld-03-31\n"
	    "source: %s\n", dept, year, dept, year, cat, year + 1, dept);
	if (slug)
		buf_printf(&b, "slug: %s\n", slug);
	buf_printf(&b, "summary: \n---\n\n"
	    "%ld年，%s……（概述全年法治政府建设工作。）\n\n"
	    "## 一、%ld年推进法治政府建设的主要举措和成效\n\n"
	    "### （一）\n\n"
	    "## 二、存在的不足和原因\n\n"
	    "## 三、党政主要负责人履行推进法治建设第一责任人职责情况\n\n"
	    "## 四、%ld年推进法治政府建设的主要安排\n\n"
	    "## 五、其他需要报告的情况\n",
	    year, dept, year, year + 1);
	/* An empty summary would fail the build; drop the line until filled. */
	{
		char *p = strstr(b.data, "summary: \n");

		if (p)
			memmove(p, p + 10, strlen(p + 10) + 1), b.len -= 10;
	}
	if (write(fd, b.data, b.len) != (ssize_t)b.len || close(fd) == -1) {
		fprintf(stderr, "fazhi new: cannot write %s: %s\n", rel,
		    strerror(errno));
		unlink(abs);
		goto out;
	}
	printf("%s\n", rel);
	rc = EXIT_OK;
out:
	buf_free(&b);
	free(abs);
	free(rel);
	free(dir);
	config_free(&cfg);
	return rc;
}

int
main(int argc, char *argv[])
{
	struct build_args a;
	const char *cmd, *dept = NULL, *year = NULL, *cat = NULL, *slug = NULL;
	int	 c;
	char	*end;

	memset(&a, 0, sizeof(a));
	a.root = ".";
	a.bundles = 1;
	a.port = 1313;
	a.bind = "127.0.0.1";
	if (argc < 2) {
		S_usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0) {
		S_help();
		return EXIT_OK;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("fazhi %s\n", FAZHI_VERSION);
		return EXIT_OK;
	}
	if (strcmp(cmd, "build") && strcmp(cmd, "check") && strcmp(cmd, "new") &&
	    strcmp(cmd, "serve")) {
		fprintf(stderr, "fazhi: unknown command \"%s\"\n", cmd);
		S_usage(stderr);
		return EXIT_USAGE;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "C:o:qj:h", S_opts, NULL)) != -1) {
		switch (c) {
		case 'C':
			a.root = optarg;
			break;
		case 'o':
			a.outdir = optarg;
			break;
		case 'q':
			a.quiet = 1;
			break;
		case 'j':
			a.jobs = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || a.jobs < 1 || a.jobs > 256) {
				fputs("fazhi: --jobs takes 1 to 256\n", stderr);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			S_help();
			return EXIT_OK;
		case OPT_NO_BUNDLES:
			a.bundles = 0;
			break;
		case OPT_ERROR_FORMAT:
			if (S_format(optarg) == -1) {
				fprintf(stderr, "fazhi: --error-format is plain "
				    "or github, not \"%s\"\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_DEPARTMENT:
			dept = optarg;
			break;
		case OPT_YEAR:
			year = optarg;
			break;
		case OPT_CATEGORY:
			cat = optarg;
			break;
		case OPT_SLUG:
			slug = optarg;
			break;
		case OPT_PORT:
			a.port = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || a.port < 1 || a.port > 65535) {
				fputs("fazhi: --port takes 1 to 65535\n", stderr);
				return EXIT_USAGE;
			}
			break;
		case OPT_BIND:
			a.bind = optarg;
			break;
		default:
			S_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fazhi: unexpected argument \"%s\"\n",
		    argv[optind]);
		S_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "new") == 0)
		return S_new(a.root, dept, year, cat, slug);
	if (dept || year || cat || slug) {
		fprintf(stderr, "fazhi %s: --department, --year, --category and "
		    "--slug belong to fazhi new\n", cmd);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "serve") == 0)
		return build_serve(&a);
	a.check = strcmp(cmd, "check") == 0;
	if (a.check && a.outdir) {
		fputs("fazhi check writes nothing; -o has no use\n", stderr);
		return EXIT_USAGE;
	}
	return build_run(&a, NULL) == 0 ? EXIT_OK : EXIT_CONTENT;
}
