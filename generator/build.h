/*
 * build.h: one whole build, from site.yaml to the published site.
 *
 * build_run() is what `fazhi build` and `fazhi check` do, and what
 * `fazhi serve` repeats on every change: load the config, compile the
 * templates, scan the content, stop before writing anything if a
 * single error was found, render into the staging directory and
 * publish.  Diagnostics are flushed before it returns.
 */
#ifndef FAZHI_BUILD_H
#define FAZHI_BUILD_H

struct build_args {
	const char	*root;		/* project root */
	const char	*outdir;	/* NULL: ROOT/site */
	int		 quiet;		/* no summary, no progress */
	int		 bundles;	/* build zip bundles */
	int		 check;		/* validate and render, write nothing */
	int		 jobs;		/* 0: pool_workers() */
	int		 port;		/* serve */
	const char	*bind;		/* serve */
};

struct build_result {
	int		 ok;		/* 1 when published */
	char		*errors;	/* diagnostics text when not ok, or NULL */
};

/* Return 0 on success, -1 on any error (diagnosed and flushed). */
int	 build_run(const struct build_args *, struct build_result *);
/* Return the process exit status. */
int	 build_serve(const struct build_args *);

#endif
