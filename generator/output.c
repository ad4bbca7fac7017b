/*
 * output.c: writing the build into a staging directory, then publishing.
 */
#define _GNU_SOURCE
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "diag.h"
#include "output.h"
#include "util.h"

struct out {
	char		*dir;		/* the published directory */
	char		*staging;	/* dir.fazhi-staging */
	char		*lockpath;
	int		 lockfd;
	pthread_mutex_t	 lock;
	char		**dirs;		/* directories made in staging */
	size_t		 ndirs;
	int		 failed;
	int		 dry;		/* count only, write nothing */
	size_t		 files;
	long long	 bytes;
};

static void
S_fail(struct out *o, const char *rel, int err)
{
	pthread_mutex_lock(&o->lock);
	if (!o->failed) {
		o->failed = 1;
		diag_error(NULL, 0, 0, "cannot write %s/%s: %s%s", o->staging,
		    rel, strerror(err), err == ENOSPC ? " (the disk is full)" :
		    err == EROFS ? " (the file system is read-only)" : "");
		diag_hint("nothing was published; %s is unchanged", o->dir);
	}
	pthread_mutex_unlock(&o->lock);
}

struct out *
out_open(const char *outdir)
{
	struct out *o = xcalloc(1, sizeof(*o));
	size_t	 len = strlen(outdir);

	while (len > 1 && outdir[len - 1] == '/')
		len--;
	o->dir = xstrndup(outdir, len);
	o->staging = xasprintf("%s.fazhi-staging", o->dir);
	o->lockpath = xasprintf("%s.fazhi-lock", o->dir);
	pthread_mutex_init(&o->lock, NULL);
	o->lockfd = open(o->lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (o->lockfd == -1) {
		diag_error(NULL, 0, 0, "cannot create %s: %s", o->lockpath,
		    strerror(errno));
		if (errno == EROFS || errno == EACCES)
			diag_hint("the output directory's parent must be "
			    "writable");
		goto fail;
	}
	if (flock(o->lockfd, LOCK_EX | LOCK_NB) == -1) {
		diag_error(NULL, 0, 0, "another build is writing %s", o->dir);
		goto fail;
	}
	/* A killed build leaves its staging directory: start afresh. */
	if (rm_rf(o->staging) == -1 && errno != ENOENT) {
		diag_error(NULL, 0, 0, "cannot remove %s: %s", o->staging,
		    strerror(errno));
		goto fail;
	}
	if (mkdir(o->staging, 0755) == -1) {
		diag_error(NULL, 0, 0, "cannot create %s: %s", o->staging,
		    strerror(errno));
		goto fail;
	}
	return o;
fail:
	if (o->lockfd != -1)
		close(o->lockfd);
	free(o->dir);
	free(o->staging);
	free(o->lockpath);
	free(o);
	return NULL;
}

struct out *
out_open_dry(void)
{
	struct out *o = xcalloc(1, sizeof(*o));

	o->dry = 1;
	o->lockfd = -1;
	o->dir = xstrdup("(check)");
	o->staging = xstrdup("(check)");
	o->lockpath = xstrdup("(check)");
	pthread_mutex_init(&o->lock, NULL);
	return o;
}

const char *
out_staging(const struct out *o)
{
	return o->staging;
}

/* Make the parent directories of rel inside staging, remembering them. */
static int
S_parents(struct out *o, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	char	*dir, *abs;
	size_t	 i;
	int	 rc = 0;

	if (slash == NULL)
		return 0;
	dir = xstrndup(rel, (size_t)(slash - rel));
	pthread_mutex_lock(&o->lock);
	for (i = 0; i < o->ndirs; i++)
		if (strcmp(o->dirs[i], dir) == 0)
			break;
	if (i == o->ndirs) {
		abs = path_join(o->staging, dir);
		rc = mkdir_p(abs);
		free(abs);
		if (rc == 0) {
			o->dirs = xrealloc(o->dirs, (o->ndirs + 1) * sizeof(char *));
			o->dirs[o->ndirs++] = dir;
			dir = NULL;
		}
	}
	pthread_mutex_unlock(&o->lock);
	free(dir);
	return rc;
}

int
out_write(struct out *o, const char *rel, const void *data, size_t len)
{
	char	*abs;
	const char *p = data;
	ssize_t	 w;
	int	 fd, err;

	if (!path_is_safe(rel)) {
		diag_error(NULL, 0, 0, "refusing to write outside the site: %s",
		    rel);
		return -1;
	}
	if (o->dry) {
		__atomic_add_fetch(&o->bytes, (long long)len, __ATOMIC_RELAXED);
		__atomic_add_fetch(&o->files, 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (S_parents(o, rel) == -1) {
		S_fail(o, rel, errno);
		return -1;
	}
	abs = path_join(o->staging, rel);
	fd = open(abs, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	free(abs);
	if (fd == -1) {
		S_fail(o, rel, errno);
		return -1;
	}
	while (len > 0) {
		w = write(fd, p, len);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			err = errno;
			close(fd);
			S_fail(o, rel, err);
			return -1;
		}
		p += w;
		len -= (size_t)w;
		__atomic_add_fetch(&o->bytes, (long long)w, __ATOMIC_RELAXED);
	}
	if (close(fd) == -1) {
		S_fail(o, rel, errno);
		return -1;
	}
	__atomic_add_fetch(&o->files, 1, __ATOMIC_RELAXED);
	return 0;
}

int
out_copy(struct out *o, const char *rel, const char *src)
{
	char	*data;
	size_t	 len;
	int	 rc;

	if (file_read(src, &data, &len) == -1) {
		diag_error(NULL, 0, 0, "cannot read %s: %s", src,
		    strerror(errno));
		return -1;
	}
	rc = out_write(o, rel, data, len);
	free(data);
	return rc;
}

int
out_reuse(struct out *o, const char *rel)
{
	char	*from, *to;
	int	 rc;

	if (o->dry || !path_is_safe(rel) || S_parents(o, rel) == -1)
		return -1;
	from = path_join(o->dir, rel);
	to = path_join(o->staging, rel);
	rc = link(from, to);
	free(from);
	free(to);
	if (rc == 0)
		__atomic_add_fetch(&o->files, 1, __ATOMIC_RELAXED);
	return rc;
}

int
out_failed(const struct out *o)
{
	return o->failed;
}

static void
S_release(struct out *o)
{
	size_t	 i;

	if (o->lockfd != -1) {
		/* Unlink while holding the lock, so no stray file is left. */
		unlink(o->lockpath);
		close(o->lockfd);
	}
	for (i = 0; i < o->ndirs; i++)
		free(o->dirs[i]);
	free(o->dirs);
	pthread_mutex_destroy(&o->lock);
	free(o->dir);
	free(o->staging);
	free(o->lockpath);
	free(o);
}

int
out_commit(struct out *o)
{
	struct stat st;
	int	 rc = 0;

	if (o->dry) {
		rc = o->failed ? -1 : 0;
		S_release(o);
		return rc;
	}
	if (o->failed) {
		rm_rf(o->staging);
		S_release(o);
		return -1;
	}
	if (lstat(o->dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			diag_error(NULL, 0, 0, "%s exists and is not a directory",
			    o->dir);
			rc = -1;
		} else if (renameat2(AT_FDCWD, o->staging, AT_FDCWD, o->dir,
		    RENAME_EXCHANGE) == -1) {
			diag_error(NULL, 0, 0, "cannot publish %s: %s", o->dir,
			    strerror(errno));
			rc = -1;
		}
	} else if (rename(o->staging, o->dir) == -1) {
		diag_error(NULL, 0, 0, "cannot publish %s: %s", o->dir,
		    strerror(errno));
		rc = -1;
	}
	/* After the exchange, staging holds the old site. */
	rm_rf(o->staging);
	S_release(o);
	return rc;
}

void
out_abort(struct out *o)
{
	if (!o->dry)
		rm_rf(o->staging);
	S_release(o);
}

size_t
out_files(const struct out *o)
{
	return o->files;
}

long long
out_bytes(const struct out *o)
{
	return o->bytes;
}
