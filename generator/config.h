/*
 * config.h: site.yaml.
 *
 * config_load() reads ROOT/site.yaml, reports every problem (unknown
 * keys are errors, with their position) and fills struct config with
 * defaults for what is absent.
 */
#ifndef FAZHI_CONFIG_H
#define FAZHI_CONFIG_H

#include <stddef.h>

struct yval;

struct section_rule {
	char	*category;	/* category name, or "*" for every category */
	char	**required;	/* section ids required (see filters/sections.lua) */
	size_t	 nrequired;
	int	 is_error;	/* 1: a missing section is an error, 0: a warning */
};

struct config {
	char	*title;		/* site title, e.g. 某市法治政府建设年度报告 */
	char	*base_url;	/* absolute, ends in '/', e.g. https://www.example.gov.cn/fzzf/ */
	char	*language;	/* BCP 47, default zh-CN */
	char	*description;	/* meta description of the home page */
	char	*parent_title;	/* breadcrumb level above the site, e.g. 法治政府建设 */
	char	*theme;		/* directory name under themes/, default "default" */
	char	**categories;	/* allowed categories, in display order */
	size_t	 ncategories;
	char	**required;	/* required front-matter fields */
	size_t	 nrequired;
	char	**fields;	/* extra optional front-matter keys this site allows */
	size_t	 nfields;
	char	**filters;	/* filters run on every report, in order */
	size_t	 nfilters;
	int	 unsafe_html;	/* allow raw HTML in Markdown (default 0) */
	int	 page_size;	/* listing page size, default 20 */
	int	 feed_size;	/* entries in Atom feeds, default 20 */
	int	 bundles;	/* build zip bundles (default 1) */
	struct section_rule *sections;	/* per-category section checks */
	size_t	 nsections;
	long	 filter_instructions;	/* filter budget per report, default 50M */
	long	 filter_memory;	/* filter memory cap in bytes, default 64 MiB */
	struct yval *raw;	/* the parsed file, for filters and templates */
};

/* Return 0 on success, -1 if site.yaml is missing or invalid (diagnosed). */
int	 config_load(struct config *, const char *root);
void	 config_free(struct config *);
/* Is s a valid filter name: a-z, 0-9, - and _ (so it cannot be a path)? */
int	 config_filter_name_ok(const char *s);
/* Index of a category, or -1. */
int	 config_category(const struct config *, const char *);

#endif
