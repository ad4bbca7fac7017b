/*
 * pool.h: a worker pool for the build's parallel stages.
 *
 * pool_run() calls fn(ctx, i, worker) for every i in [0, n), spread
 * over nworkers threads that take the next index from a shared
 * counter, and returns when all calls have returned.  worker is in
 * [0, nworkers), so per-worker state (a cmark parser, a Lua state)
 * can be indexed by it.  nworkers <= 1 runs everything on the calling
 * thread.  pool_workers() is the default: the number of online CPUs,
 * or FAZHI_JOBS from the environment.
 */
#ifndef FAZHI_POOL_H
#define FAZHI_POOL_H

#include <stddef.h>

typedef void (*pool_fn)(void *ctx, size_t i, int worker);

void	 pool_run(size_t n, int nworkers, pool_fn fn, void *ctx);
int	 pool_workers(void);

#endif
