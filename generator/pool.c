/*
 * pool.c: threads taking indices from an atomic counter.
 *
 * Dynamic assignment rather than fixed slices, because reports differ
 * in size by orders of magnitude.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "pool.h"
#include "util.h"

struct S_job {
	atomic_size_t	 next;
	size_t		 n;
	pool_fn		 fn;
	void		*ctx;
};

struct S_arg {
	struct S_job	*job;
	int		 worker;
};

static void *
S_main(void *p)
{
	struct S_arg *a = p;
	size_t	 i;

	while ((i = atomic_fetch_add(&a->job->next, 1)) < a->job->n)
		a->job->fn(a->job->ctx, i, a->worker);
	return NULL;
}

void
pool_run(size_t n, int nworkers, pool_fn fn, void *ctx)
{
	struct S_job job;
	struct S_arg *args;
	pthread_t *th;
	int	 w, started;

	if (nworkers > 1 && (size_t)nworkers > n)
		nworkers = n > 0 ? (int)n : 1;
	if (nworkers <= 1) {
		for (size_t i = 0; i < n; i++)
			fn(ctx, i, 0);
		return;
	}
	atomic_init(&job.next, 0);
	job.n = n;
	job.fn = fn;
	job.ctx = ctx;
	args = xcalloc((size_t)nworkers, sizeof(*args));
	th = xcalloc((size_t)nworkers, sizeof(*th));
	started = 0;
	for (w = 1; w < nworkers; w++) {
		args[w].job = &job;
		args[w].worker = w;
		if (pthread_create(&th[w], NULL, S_main, &args[w]) != 0)
			break;
		started = w;
	}
	args[0].job = &job;
	args[0].worker = 0;
	S_main(&args[0]);
	for (w = 1; w <= started; w++)
		pthread_join(th[w], NULL);
	free(args);
	free(th);
}

int
pool_workers(void)
{
	const char *e = getenv("FAZHI_JOBS");
	long	 n;

	if (e != NULL && (n = strtol(e, NULL, 10)) > 0 && n <= 256)
		return (int)n;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (n > 64 ? 64 : (int)n) : 1;
}
