/*
 * output.c: writing the build into a staging directory, then publishing.
 */
#define _GNU_SOURCE
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
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

#define CACHE_FILE ".fazhi-cache"

struct S_entry {
	char		*path;
	unsigned char	 key[32];
	char		*deps;		/* "line\nline\n", or NULL */
};

struct out {
	char		*dir;		/* the published directory */
	char		*staging;	/* dir.fazhi-staging */
	char		*lockpath;
	int		 lockfd;
	pthread_mutex_t	 lock;
	struct strset	 dirs;		/* directories made in staging */
	struct S_entry	*old;		/* the published cache, sorted by path */
	size_t		 nold;
	struct S_entry	**new;		/* this build's cache, in newarena */
	size_t		 nnew, capnew;
	struct arena	 newarena;
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

static int
S_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct S_entry *)a)->path,
	    ((const struct S_entry *)b)->path);
}

static int
S_unhex(const char *s, unsigned char *out, size_t n)
{
	size_t	 i;
	int	 hi, lo;

	for (i = 0; i < n; i++) {
		hi = s[2 * i] >= 'a' ? s[2 * i] - 'a' + 10 : s[2 * i] - '0';
		lo = s[2 * i + 1] >= 'a' ? s[2 * i + 1] - 'a' + 10 :
		    s[2 * i + 1] - '0';
		if (hi < 0 || hi > 15 || lo < 0 || lo > 15)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* Read OUT/.fazhi-cache; a missing or damaged cache just means a cold build. */
static void
S_cache_load(struct out *o)
{
	char	*p = path_join(o->dir, CACHE_FILE), *text, *line, *nl;
	size_t	 len, cap = 0;

	if (file_read(p, &text, &len) == -1) {
		free(p);
		return;
	}
	free(p);
	if (len < 8 || memcmp(text, "fazhi 2\n", 8) != 0) {
		free(text);
		return;
	}
	for (line = text + 8; line < text + len; line = nl + 1) {
		struct S_entry e;

		if ((nl = strchr(line, '\n')) == NULL)
			break;
		*nl = '\0';
		/* "\tdep": a dependency of the entry above. */
		if (line[0] == '\t') {
			if (o->nold > 0 && strchr(line + 1, '\t') != NULL) {
				struct S_entry *last = &o->old[o->nold - 1];
				size_t	 have = last->deps ? strlen(last->deps) : 0;

				last->deps = xrealloc(last->deps, have +
				    (size_t)(nl - line) + 1);
				memcpy(last->deps + have, line + 1,
				    (size_t)(nl - line - 1));
				memcpy(last->deps + have + (nl - line - 1), "\n",
				    2);
			}
			continue;
		}
		if (nl - line < 66 || line[64] != ' ' ||
		    S_unhex(line, e.key, 32) == -1 || !path_is_safe(line + 65))
			continue;
		e.path = xstrdup(line + 65);
		e.deps = NULL;
		if (o->nold == cap) {
			cap = cap ? cap * 2 : 1024;
			o->old = xrealloc(o->old, cap * sizeof(*o->old));
		}
		o->old[o->nold++] = e;
	}
	free(text);
	if (o->nold > 0)
		qsort(o->old, o->nold, sizeof(*o->old), S_entry_cmp);
}

int
out_cache_reuse(struct out *o, const char *rel, const unsigned char key[32],
    const char **deps)
{
	struct S_entry k, *e;

	if (o->dry || o->nold == 0)
		return -1;
	k.path = (char *)rel;
	e = bsearch(&k, o->old, o->nold, sizeof(*o->old), S_entry_cmp);
	if (e == NULL || memcmp(e->key, key, 32) != 0 || out_reuse(o, rel) == -1)
		return -1;
	if (deps != NULL)
		*deps = e->deps ? e->deps : "";
	return 0;
}

void
out_cache_put(struct out *o, const char *rel, const unsigned char key[32],
    const char *deps)
{
	pthread_mutex_lock(&o->lock);
	if (o->nnew == o->capnew) {
		o->capnew = o->capnew ? o->capnew * 2 : 1024;
		o->new = xrealloc(o->new, o->capnew * sizeof(*o->new));
	}
	o->new[o->nnew] = arena_alloc(&o->newarena, sizeof(struct S_entry),
	    sizeof(void *));
	o->new[o->nnew]->path = arena_strdup(&o->newarena, rel);
	o->new[o->nnew]->deps = deps && *deps ?
	    arena_strdup(&o->newarena, deps) : NULL;
	memcpy(o->new[o->nnew]->key, key, 32);
	o->nnew++;
	pthread_mutex_unlock(&o->lock);
}

static int
S_entry_pcmp(const void *a, const void *b)
{
	return strcmp((*(struct S_entry *const *)a)->path,
	    (*(struct S_entry *const *)b)->path);
}

/*
 * Write the new cache into staging, sorted, so it is deterministic;
 * streamed a megabyte at a time (a national site has a million entries).
 */
static int
S_cache_save(struct out *o)
{
	struct buf b = { 0 };
	char	 hex[65], *path;
	size_t	 i;
	int	 rc = 0;
	FILE	*f;

	if (o->nnew > 0)
		qsort(o->new, o->nnew, sizeof(*o->new), S_entry_pcmp);
	path = path_join(o->staging, CACHE_FILE);
	if ((f = fopen(path, "we")) == NULL) {
		S_fail(o, CACHE_FILE, errno);
		free(path);
		return -1;
	}
	buf_puts(&b, "fazhi 2\n");
	for (i = 0; i <= o->nnew && rc == 0; i++) {
		const struct S_entry *e = i < o->nnew ? o->new[i] : NULL;
		const char *d, *nl;

		if (e != NULL) {
			hex_encode(e->key, 32, hex);
			buf_printf(&b, "%s %s\n", hex, e->path);
			/* Each dependency line, as "\tline\n". */
			for (d = e->deps; d != NULL && *d != '\0'; d = nl) {
				size_t	 n = strcspn(d, "\n");

				nl = d + n + (d[n] == '\n');
				if (n == 0)
					continue;
				buf_putc(&b, '\t');
				buf_put(&b, d, n);
				buf_putc(&b, '\n');
			}
		}
		if (e != NULL && b.len < (1 << 20))
			continue;
		if (b.len > 0 && fwrite(b.data, 1, b.len, f) != b.len)
			rc = -1;
		o->bytes += (long long)b.len;
		buf_reset(&b);
	}
	if (fclose(f) != 0)
		rc = -1;
	if (rc == -1)
		S_fail(o, CACHE_FILE, errno ? errno : EIO);
	else
		o->files++;
	buf_free(&b);
	free(path);
	return rc;
}

/*
 * What killed builds leave beside OUT, removed in one pass over its
 * parent: a scan cache being written (OUT.fazhi-scan-PID, see build.c)
 * whose process is gone, and an old site whose detached removal was
 * killed (OUT.fazhi-trash-PID, see S_discard): one still being removed
 * holds a lock on it and is left alone.
 */
static void
S_leftovers(const char *dir)
{
	const char *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : dir;
	char	*parent, *p, *end;
	DIR	*d;
	struct dirent *de;
	size_t	 n = strlen(base);
	long	 pid;
	int	 fd;

	parent = slash ? xstrndup(dir, slash == dir ? 1 : (size_t)(slash - dir)) :
	    xstrdup(".");
	if ((d = opendir(parent)) == NULL) {
		free(parent);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		const char *rest = de->d_name + n;

		if (strncmp(de->d_name, base, n) != 0)
			continue;
		p = path_join(parent, de->d_name);
		if (strncmp(rest, ".fazhi-scan-", 12) == 0) {
			pid = strtol(rest + 12, &end, 10);
			if (*end != '\0' || pid <= 0 ||
			    (kill((pid_t)pid, 0) == -1 && errno == ESRCH))
				unlink(p);
		} else if (strncmp(rest, ".fazhi-trash-", 13) == 0) {
			/* Locked: a removal is under way.  Else one was killed. */
			fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd != -1 && flock(fd, LOCK_EX | LOCK_NB) == 0)
				rm_rf(p);
			if (fd != -1)
				close(fd);
		}
		free(p);
	}
	closedir(d);
	free(parent);
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
	S_leftovers(o->dir);
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
	S_cache_load(o);
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
	int	 rc = 0;

	if (slash == NULL)
		return 0;
	dir = xstrndup(rel, (size_t)(slash - rel));
	pthread_mutex_lock(&o->lock);
	if (!strset_has(&o->dirs, dir)) {
		abs = path_join(o->staging, dir);
		rc = mkdir_p(abs);
		free(abs);
		if (rc == 0)
			strset_add(&o->dirs, dir);
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
out_dry(const struct out *o)
{
	return o->dry;
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
	strset_free(&o->dirs);
	for (i = 0; i < o->nold; i++) {
		free(o->old[i].path);
		free(o->old[i].deps);
	}
	free(o->old);
	arena_free(&o->newarena);
	free(o->new);
	pthread_mutex_destroy(&o->lock);
	free(o->dir);
	free(o->staging);
	free(o->lockpath);
	free(o);
}

/*
 * Remove the old site, which staging holds after the exchange.  It can
 * be a million files, minutes of unlinking on a disk: it is renamed to
 * OUT.fazhi-trash-PID and removed by a detached process, so the build
 * returns as soon as the new site is published.  FAZHI_SYNC_DELETE=1,
 * or any failure to rename or fork, removes it here instead.
 */
static void
S_discard(struct out *o)
{
	char	*trash;
	pid_t	 pid;

	trash = xasprintf("%s.fazhi-trash-%ld", o->dir, (long)getpid());
	if (getenv("FAZHI_SYNC_DELETE") != NULL ||
	    rename(o->staging, trash) == -1) {
		rm_rf(o->staging);
		free(trash);
		return;
	}
	fflush(NULL);
	if ((pid = fork()) == 0) {
		/*
		 * The grandchild, not ours to reap, keeps no lock, socket or
		 * file of ours; it holds a lock on the trash while it removes
		 * it, taken before we return, so that a next build leaves it
		 * alone (S_leftovers).
		 */
		int	 fd;

		closefrom(0);
		fd = open(trash, O_RDONLY | O_DIRECTORY);
		if (fd != -1)
			flock(fd, LOCK_EX);
		if (fork() == 0) {
			setsid();
			rm_rf(trash);
		}
		_exit(0);
	}
	if (pid == -1)
		rm_rf(trash);
	else
		waitpid(pid, NULL, 0);
	free(trash);
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
	if (!o->failed)
		S_cache_save(o);
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
	if (rc == 0)
		S_discard(o);
	else
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
