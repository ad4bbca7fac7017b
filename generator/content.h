/*
 * content.h: the reports and the site index.
 *
 * content_scan() walks ROOT/content, reads each *.md file's front
 * matter, validates it against the config and fills the site index.
 * The index holds metadata only; bodies are read again when a report
 * is rendered, so memory does not grow with the size of the content.
 * After a successful scan the reports are sorted (department, year)
 * and the groupings below are built.  Every string is owned by the
 * site and lives until site_free().
 *
 * The scan cache (OUT.fazhi-scan, beside OUT) lets a rebuild skip reading,
 * hashing and parsing the reports whose files have not changed: a
 * report is taken from it when its stat (device, inode, size, mtime
 * and ctime in ns) is the one recorded, its timestamps are older than
 * the scan that recorded it, the cache was written for the same
 * site.yaml and generator, and its attachments and filters still
 * check out.  Reports that had any diagnostic are never cached, so a
 * rebuild prints what a cold build prints.  The pages are the same
 * with or without the cache.
 */
#ifndef FAZHI_CONTENT_H
#define FAZHI_CONTENT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct buf;
struct config;
struct out;

#define NO_REPORT ((size_t)-1)

struct attachment {
	char	*name;		/* file name as written in front matter (may be Chinese) */
	char	*src;		/* path relative to ROOT */
	char	*url;		/* site-relative URL, percent-encoded */
	char	*out;		/* output path relative to the site root */
	long long size;		/* bytes */
};

struct report {
	char	*path;		/* source, relative to ROOT: content/…/x.md */
	char	*title;
	char	*department;
	char	*category;
	int	 year;
	char	*date;		/* YYYY-MM-DD or NULL */
	char	*source;	/* 信息来源, or NULL */
	char	*summary;	/* or NULL */
	char	*slug;		/* output name: front matter slug, else derived */
	char	*url;		/* site-relative URL of the page: report/<slug>.html, percent-encoded */
	char	*out;		/* output path relative to the site root */
	struct attachment *attachments;
	size_t	 nattachments;
	char	**filters;	/* filters named in front matter */
	size_t	 nfilters;
	char	*stats;		/* the first ```stats block's text, for site views; or NULL */
	size_t	 body_off;	/* byte offset of the Markdown body in the file */
	int	 body_line;	/* 1-based line of the body's first line */
	long long size;		/* source bytes */
	uint8_t	 hash[32];	/* SHA-256 of the source file */
	size_t	 prev_year;	/* same department, the nearest earlier year, or NO_REPORT */
	size_t	 next_year;	/* same department, the nearest later year, or NO_REPORT */
	size_t	 dept;		/* index into site.depts */
	size_t	 cat;		/* index into site.cats (config order) */
	size_t	 yr;		/* index into site.years */
	int	 pooled;	/* strings in the site's arenas, not malloc'd */
};

/* A group of reports: a department, a category or a year. */
struct group {
	char	*name;		/* 市司法局, 市政府部门, "2019" */
	char	*key;		/* file-name form of name (unsafe bytes replaced) */
	char	*url;		/* site-relative URL of the group's first index page */
	size_t	*reports;	/* indices into site.reports, newest first */
	size_t	 n;
};

struct site {
	struct report	*reports;	/* sorted by department, then year */
	size_t		 n;
	size_t		*newest;	/* all reports, newest first (date, year, path) */
	struct group	*depts;		/* sorted by name (byte order) */
	size_t		 ndepts;
	struct group	*cats;		/* in config order; empty ones included */
	size_t		 ncats;
	struct group	*years;		/* newest first */
	size_t		 nyears;
	struct timespec	 scanned;	/* wall clock when content_scan() began */
	void		*arenas;	/* where the reports' strings live */
	size_t		 narenas;
};

/*
 * Return 0 on success, -1 when any report is invalid (all problems are
 * diagnosed).  root is the project root.  cache is the scan cache to
 * read (OUT.fazhi-scan) or NULL; a missing, damaged or stale cache
 * only makes the scan read every file.  When newcache is not NULL it
 * is a file path (next to the output, on its file system) that receives
 * the cache for this scan's reports, streamed, so a million reports do
 * not hold it in memory; content_scan_save() puts it in place.
 */
int	 content_scan(struct site *, const struct config *, const char *root,
	    const char *cache, const char *newcache);
/*
 * Date the file newcache when the scan began (the next scan trusts only
 * files older than that) and rename it to path.  Valid or not, a build
 * may keep it: each entry describes one file as it was.  Return 0 or -1
 * (then newcache is removed and the next build reads every file).
 */
int	 content_scan_save(const struct site *, const char *newcache,
	    const char *path);
void	 site_free(struct site *);
/* Free the strings of every report in s (not the array itself). */
void	 site_free_reports(struct site *);
/* "dir/" + percent-encoded file + ext: the site-relative URL of a file. */
char	*site_url(const char *dir, const char *file, const char *ext);
/* Read a report's source; return 0 or -1 (diagnosed). */
int	 report_read(const struct report *, const char *root, char **data, size_t *len);

#endif
