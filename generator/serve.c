/*
 * serve.c: `fazhi serve`, the live preview for department writers.
 *
 * build_serve() builds ROOT into a fresh temporary directory and serves
 * the published tree over HTTP with libmicrohttpd (a thread per
 * connection, so long-lived event streams never hold up page loads).
 * It watches content/, themes/, filters/ and site.yaml with inotify,
 * recursively, and after ~100 ms of quiet runs build_run() again.
 *
 * Files are opened by path when a request arrives, inside the published
 * directory that build_run() swaps in with one atomic rename: a request
 * sees the old tree or the new one, never half a build.  HTML pages get
 * a script tag before </body> as they are served (the built files are
 * never touched); the script listens on /__fazhi/events and reloads on
 * "reload", or shows the HTML-escaped diagnostics of a failed build in
 * an overlay on "error".  /__fazhi/status says {ok, generation, errors}.
 *
 * Request paths are percent-decoded exactly once, must pass
 * path_is_safe(), and their realpath must stay inside the served
 * directory.  Bound to loopback, the server also refuses Host headers
 * other than loopback names, so a web page cannot reach the preview
 * through DNS rebinding.  Ctrl-C or SIGTERM stops the server, removes
 * the temporary directory and exits 0.
 */
#define _GNU_SOURCE
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "buf.h"
#include "build.h"
#include "diag.h"
#include "util.h"

#define S_DEBOUNCE	0.1	/* seconds of quiet before a rebuild */
#define S_KEEPALIVE	15	/* seconds between SSE comments */
#define S_PREFIX	"/__fazhi/"

/*
 * What the browsers are told: shared by the build loop (writer) and
 * the connection threads (readers).
 */
struct live {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;		/* broadcast after a build, or on stop */
	unsigned long	 gen;		/* builds finished */
	unsigned long	 published;	/* gen of the last good build; 0: none */
	int		 ok;		/* did the last build publish? */
	char		*errors;	/* its diagnostics when it did not */
	int		 stopping;	/* event streams must end */
	char		 boot[20];	/* tells this run's pages from another's */
};

static struct live S_live = {
	.lock = PTHREAD_MUTEX_INITIALIZER
};

/* Read-only once the daemon runs. */
struct server {
	char		*site;		/* realpath of the served directory */
	size_t		 sitelen;
	int		 loopback;	/* check Host against DNS rebinding */
};

/* One /__fazhi/events stream. */
struct sse {
	struct buf	 out;		/* bytes not yet handed to MHD */
	size_t		 off;		/* how many of them were */
	unsigned long	 seen;		/* S_live.gen this client knows of */
	int		 started;
	char		*client;	/* the page's generation token, or NULL */
};

static const struct {
	const char	*ext;
	const char	*type;
} S_mime[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "htm", "text/html; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "json", "application/json" },
	{ "xml", "application/xml; charset=utf-8" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "webp", "image/webp" },
	{ "ico", "image/x-icon" },
	{ "woff", "font/woff" },
	{ "woff2", "font/woff2" },
	{ "zip", "application/zip" },
	{ "pdf", "application/pdf" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "csv", "text/plain; charset=utf-8" },
	{ "md", "text/plain; charset=utf-8" },
	{ "webmanifest", "application/manifest+json" },
	{ NULL, NULL }
};

/*
 * The live-reload client.  A script file rather than inline code, so
 * that a theme with a Content-Security-Policy of script-src 'self'
 * still gets it.  The "error" payload is already HTML-escaped.
 */
static const char S_live_js[] =
"/* fazhi serve: live reload and build errors (preview only). */\n"
"(function () {\n"
"\tvar me = document.currentScript, box = null;\n"
"\tvar g = me ? me.getAttribute('data-generation') || '' : '';\n"
"\t/* A good build after a failed one sends reload, which clears it. */\n"
"\tfunction show(html) {\n"
"\t\tif (!box) {\n"
"\t\t\tbox = document.createElement('div');\n"
"\t\t\tbox.id = 'fazhi-error-overlay';\n"
"\t\t\tbox.setAttribute('role', 'alert');\n"
"\t\t\tbox.style.cssText = 'position:fixed;top:0;right:0;bottom:0;"
"left:0;z-index:2147483647;overflow:auto;margin:0;padding:2em;"
"background:rgba(60,0,0,.94);color:#fff;font:15px/1.6 monospace;"
"text-align:left';\n"
"\t\t\tdocument.body.appendChild(box);\n"
"\t\t}\n"
"\t\tbox.innerHTML = '<p style=\"margin:0 0 1em;font-weight:bold\">"
"\\u6784\\u5efa\\u5931\\u8d25 Build failed: fix the file and save; "
"this page reloads by itself.</p>'\n"
"\t\t    + '<pre style=\"margin:0;white-space:pre-wrap\">' + html + "
"'</pre>';\n"
"\t}\n"
"\tvar es = new EventSource('/__fazhi/events?g=' + encodeURIComponent(g));\n"
"\tes.addEventListener('reload', function () { location.reload(); });\n"
"\tes.addEventListener('error', function (e) {\n"
"\t\t/* EventSource fires a data-less \"error\" of its own on a lost"
" connection. */\n"
"\t\tif (typeof e.data === 'string')\n"
"\t\t\tshow(e.data);\n"
"\t});\n"
"})();\n";

/* ---- the shared state ---- */

/* The token of the published tree: "boot-published". */
static void
S_token_locked(struct buf *b)
{
	buf_printf(b, "%s-%lu", S_live.boot, S_live.published);
}

/* Append one SSE event; data may hold newlines (one data: line each). */
static void
S_event(struct buf *b, const char *name, const char *data, size_t len)
{
	const char *p = data, *e, *end = data + len;

	buf_printf(b, "event: %s\n", name);
	if (len == 0)
		buf_puts(b, "data:\n");
	while (p < end) {
		if ((e = memchr(p, '\n', (size_t)(end - p))) == NULL)
			e = end;
		buf_puts(b, "data: ");
		buf_put(b, p, (size_t)(e - p));
		buf_putc(b, '\n');
		p = e + 1;
	}
	buf_putc(b, '\n');
}

/* The event that tells a page about the current state (lock held). */
static void
S_state_event_locked(struct buf *b)
{
	struct buf esc = { 0 }, tok = { 0 };

	if (S_live.ok) {
		S_token_locked(&tok);
		S_event(b, "reload", tok.data, tok.len);
	} else {
		if (S_live.errors)
			buf_html_escape(&esc, S_live.errors,
			    strlen(S_live.errors));
		if (esc.len == 0)
			buf_puts(&esc, "fazhi: the build failed");
		while (esc.len > 0 && esc.data[esc.len - 1] == '\n')
			esc.data[--esc.len] = '\0';
		S_event(b, "error", esc.data, esc.len);
	}
	buf_free(&esc);
	buf_free(&tok);
}

/* Record a finished build and wake every event stream. */
static void
S_publish(int ok, char *errors)
{
	pthread_mutex_lock(&S_live.lock);
	S_live.gen++;
	S_live.ok = ok;
	if (ok)
		S_live.published = S_live.gen;
	free(S_live.errors);
	S_live.errors = ok ? NULL : errors;
	pthread_cond_broadcast(&S_live.cond);
	pthread_mutex_unlock(&S_live.lock);
	if (ok)
		free(errors);
}

/* ---- responses ---- */

static void
S_common_headers(struct MHD_Response *r, const char *type)
{
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	/* A preview changes under the browser: never cache it. */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
}

/*
 * Queue body (taken over and emptied) with status and type, and a
 * Location header when location is not NULL.
 */
static enum MHD_Result
S_reply(struct MHD_Connection *c, unsigned int status, const char *type,
    struct buf *body, const char *location)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	size_t	 len = body->len;
	char	*data = buf_detach(body);

	r = MHD_create_response_from_buffer_with_free_callback(len, data, free);
	if (r == NULL) {
		free(data);
		return MHD_NO;
	}
	S_common_headers(r, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	if (location)
		MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
S_reply_text(struct MHD_Connection *c, unsigned int status, const char *msg)
{
	struct buf b = { 0 };

	buf_printf(&b, "%u %s\n", status, msg);
	return S_reply(c, status, "text/plain; charset=utf-8", &b, NULL);
}

static const char *
S_mime_type(const char *path)
{
	const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
	size_t	 i;

	if (dot == NULL || (slash && dot < slash))
		return "application/octet-stream";
	for (i = 0; S_mime[i].ext; i++)
		if (strcasecmp(dot + 1, S_mime[i].ext) == 0)
			return S_mime[i].type;
	return "application/octet-stream";
}

static int
S_is_html(const char *type)
{
	return strncmp(type, "text/html", 9) == 0;
}

/* The token of the tree a request is about to read. */
static void
S_token(struct buf *b)
{
	pthread_mutex_lock(&S_live.lock);
	S_token_locked(b);
	pthread_mutex_unlock(&S_live.lock);
}

/*
 * Copy html into out with the live-reload script before the last
 * </body>.  tok was taken before the file was opened: if a build
 * publishes in between, the page looks stale and reloads at once.
 */
static void
S_inject(struct buf *out, const char *html, size_t len, const char *tok)
{
	size_t	 at = len, i;

	for (i = len; i >= 6; i--)
		if (strncasecmp(html + i - 6, "</body", 6) == 0) {
			at = i - 6;
			break;
		}
	buf_put(out, html, at);
	buf_puts(out, "<script src=\"" S_PREFIX "live.js\" data-generation=\"");
	buf_html_escape(out, tok, strlen(tok));
	buf_puts(out, "\"></script>\n");
	buf_put(out, html + at, len - at);
}

/* Read all of fd (size bytes expected) into b; return 0 or -1. */
static int
S_read_fd(int fd, off_t size, struct buf *b)
{
	ssize_t	 r;

	buf_grow(b, (size_t)size + 1);
	for (;;) {
		buf_grow(b, 4096);
		r = read(fd, b->data + b->len, b->cap - b->len - 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0)
			break;
		b->len += (size_t)r;
		b->data[b->len] = '\0';
	}
	return 0;
}

/*
 * Send the regular file open on fd (taken over) with status.  HTML is
 * read whole and gets the script; anything else is streamed from fd.
 */
static enum MHD_Result
S_send_fd(struct MHD_Connection *c, unsigned int status, int fd,
    const struct stat *st, const char *path, const char *tok)
{
	struct MHD_Response *r;
	struct buf raw = { 0 }, page = { 0 };
	enum MHD_Result ret;
	const char *type = S_mime_type(path);

	if (S_is_html(type)) {
		if (S_read_fd(fd, st->st_size, &raw) == -1) {
			close(fd);
			buf_free(&raw);
			return S_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
			    "Read error");
		}
		close(fd);
		S_inject(&page, raw.data ? raw.data : "", raw.len, tok);
		buf_free(&raw);
		return S_reply(c, status, type, &page, NULL);
	}
	if ((r = MHD_create_response_from_fd((size_t)st->st_size, fd)) == NULL) {
		close(fd);
		return MHD_NO;
	}
	S_common_headers(r, type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * Resolve rel inside the served directory and open it.  Return the fd,
 * or -1 with errno: ENOENT (missing), EACCES (resolves outside the
 * site), EISDIR (a directory).
 */
static int
S_open_inside(const struct server *srv, const char *rel, struct stat *st)
{
	char	*path, *real;
	int	 fd;

	path = path_join(srv->site, rel);
	real = realpath(path, NULL);
	free(path);
	if (real == NULL)
		return -1;
	if (strncmp(real, srv->site, srv->sitelen) != 0 ||
	    real[srv->sitelen] != '/') {
		free(real);
		errno = EACCES;
		return -1;
	}
	fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(real);
	if (fd == -1)
		return -1;
	if (fstat(fd, st) == -1) {
		close(fd);
		return -1;
	}
	if (S_ISDIR(st->st_mode)) {
		close(fd);
		errno = EISDIR;
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		errno = ENOENT;
		return -1;
	}
	return fd;
}

/* The site's 404.html with status 404, or a plain page if it has none. */
static enum MHD_Result
S_not_found(struct MHD_Connection *c, const struct server *srv,
    const char *tok)
{
	struct stat st;
	struct buf b = { 0 }, page = { 0 };
	int	 fd, none;

	if ((fd = S_open_inside(srv, "404.html", &st)) != -1)
		return S_send_fd(c, MHD_HTTP_NOT_FOUND, fd, &st, "404.html",
		    tok);
	pthread_mutex_lock(&S_live.lock);
	none = S_live.published == 0;
	pthread_mutex_unlock(&S_live.lock);
	buf_printf(&b, "<!doctype html>\n<html lang=\"zh-CN\"><head>"
	    "<meta charset=\"utf-8\"><title>404</title></head>\n<body>"
	    "<h1>404</h1><p>%s</p>\n</body></html>\n", none ?
	    "No site yet: the first build failed. Fix the errors and save." :
	    "Not found.");
	S_inject(&page, b.data, b.len, tok);
	buf_free(&b);
	return S_reply(c, MHD_HTTP_NOT_FOUND, "text/html; charset=utf-8", &page,
	    NULL);
}

static int
S_hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Percent-decode s once into out; return -1 if malformed or if it holds NUL. */
static int
S_decode(const char *s, struct buf *out)
{
	int	 hi, lo;

	for (; *s; s++) {
		if (*s != '%') {
			buf_putc(out, *s);
			continue;
		}
		if ((hi = S_hexval(s[1])) == -1 || (lo = S_hexval(s[2])) == -1)
			return -1;
		if (hi == 0 && lo == 0)
			return -1;
		buf_putc(out, hi * 16 + lo);
		s += 2;
	}
	return 0;
}

/* Serve a file of the site for url, the raw (still percent-encoded) path. */
static enum MHD_Result
S_static(struct MHD_Connection *c, const struct server *srv, const char *url)
{
	struct buf rel = { 0 }, loc = { 0 }, body = { 0 }, tok = { 0 };
	struct stat st;
	enum MHD_Result ret;
	int	 fd, dir = 0;

	S_token(&tok);

	/* Decode exactly once; "%2e%2e", "%2f" and "%5c" are then caught. */
	if (*url != '/' || S_decode(url, &rel) == -1) {
		ret = S_reply_text(c, MHD_HTTP_FORBIDDEN, "Forbidden");
		goto out;
	}
	if (rel.data[rel.len - 1] == '/') {
		dir = 1;
		buf_puts(&rel, "index.html");
	}
	if (!path_is_safe(rel.data + 1)) {
		ret = S_reply_text(c, MHD_HTTP_FORBIDDEN, "Forbidden");
		goto out;
	}
	/* Dot files (the build cache) are the generator's, not the site's. */
	if (strstr(rel.data, "/.") != NULL) {
		ret = S_not_found(c, srv, tok.data);
		goto out;
	}
	if ((fd = S_open_inside(srv, rel.data + 1, &st)) != -1)
		ret = S_send_fd(c, MHD_HTTP_OK, fd, &st, rel.data + 1,
		    tok.data);
	else if (errno == EACCES)
		ret = S_reply_text(c, MHD_HTTP_FORBIDDEN, "Forbidden");
	else if (errno == EISDIR && !dir) {
		/* Relative links inside DIR/index.html need the slash. */
		buf_url_escape(&loc, rel.data, rel.len);
		buf_putc(&loc, '/');
		buf_puts(&body, "302 Found\n");
		ret = S_reply(c, MHD_HTTP_FOUND, "text/plain; charset=utf-8",
		    &body, loc.data);
	} else
		ret = S_not_found(c, srv, tok.data);
out:
	buf_free(&tok);
	buf_free(&rel);
	buf_free(&loc);
	buf_free(&body);
	return ret;
}

/* ---- /__fazhi/: events, status, the client script ---- */

/* Wait until there is something to tell s; return -1 when stopping. */
static int
S_sse_next(struct sse *s)
{
	struct timespec ts;
	struct buf tok = { 0 };
	int	 rc = 0, w = 0;

	pthread_mutex_lock(&S_live.lock);
	if (S_live.stopping)
		rc = -1;
	else if (!s->started) {
		s->started = 1;
		s->seen = S_live.gen;
		/* Reconnect quickly after a restart of the server. */
		buf_puts(&s->out, "retry: 1000\n\n");
		/*
		 * A page that missed a build (it was served just before the
		 * publish, or by an earlier run) learns of it at once.
		 */
		if (!S_live.ok)
			S_state_event_locked(&s->out);
		else if (s->client) {
			S_token_locked(&tok);
			if (strcmp(tok.data, s->client) != 0)
				S_state_event_locked(&s->out);
		}
	} else {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += S_KEEPALIVE;
		while (!S_live.stopping && S_live.gen == s->seen &&
		    w != ETIMEDOUT)
			w = pthread_cond_timedwait(&S_live.cond, &S_live.lock,
			    &ts);
		if (S_live.stopping)
			rc = -1;
		else if (S_live.gen != s->seen) {
			s->seen = S_live.gen;
			S_state_event_locked(&s->out);
		} else
			/* Finds closed connections and keeps proxies awake. */
			buf_puts(&s->out, ": keepalive\n\n");
	}
	pthread_mutex_unlock(&S_live.lock);
	buf_free(&tok);
	return rc;
}

/*
 * MHD's content reader for an event stream.  It blocks between events,
 * which is fine with a thread per connection.
 */
static ssize_t
S_sse_read(void *cls, uint64_t pos, char *dst, size_t max)
{
	struct sse *s = cls;
	size_t	 n;

	if (s->off == s->out.len) {
		buf_reset(&s->out);
		s->off = 0;
		if (S_sse_next(s) == -1)
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
	n = s->out.len - s->off;
	if (n > max)
		n = max;
	memcpy(dst, s->out.data + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static void
S_sse_free(void *cls)
{
	struct sse *s = cls;

	buf_free(&s->out);
	free(s->client);
	free(s);
}

static enum MHD_Result
S_events(struct MHD_Connection *c)
{
	struct MHD_Response *r;
	struct sse *s = xcalloc(1, sizeof(*s));
	enum MHD_Result ret;
	const char *g;

	g = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "g");
	if (g != NULL)
		s->client = xstrdup(g);
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
	    S_sse_read, s, S_sse_free);
	if (r == NULL) {
		S_sse_free(s);
		return MHD_NO;
	}
	S_common_headers(r, "text/event-stream; charset=utf-8");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
S_status(struct MHD_Connection *c)
{
	struct buf b = { 0 };

	pthread_mutex_lock(&S_live.lock);
	buf_printf(&b, "{\"ok\":%s,\"generation\":%lu,\"published\":%lu,"
	    "\"errors\":\"", S_live.ok ? "true" : "false", S_live.gen,
	    S_live.published);
	if (S_live.errors)
		buf_json_escape(&b, S_live.errors, strlen(S_live.errors));
	buf_puts(&b, "\"}\n");
	pthread_mutex_unlock(&S_live.lock);
	return S_reply(c, MHD_HTTP_OK, "application/json", &b, NULL);
}

/*
 * Bound to loopback, accept only loopback names in Host: a page on the
 * web that rebinds its own name to 127.0.0.1 must not read the preview.
 */
static int
S_host_ok(struct MHD_Connection *c)
{
	const char *h, *e;
	char	 name[256];
	struct in_addr a4;
	struct in6_addr a6;
	size_t	 n;

	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_HOST);
	if (h == NULL)
		return 1;	/* HTTP/1.0 without Host: no name to rebind */
	if (*h == '[') {
		if ((e = strchr(h, ']')) == NULL ||
		    (n = (size_t)(e - h - 1)) >= sizeof(name))
			return 0;
		memcpy(name, h + 1, n);
		name[n] = '\0';
		return inet_pton(AF_INET6, name, &a6) == 1 &&
		    IN6_IS_ADDR_LOOPBACK(&a6);
	}
	if ((n = strcspn(h, ":")) == 0 || n >= sizeof(name))
		return 0;
	memcpy(name, h, n);
	name[n] = '\0';
	if (strcasecmp(name, "localhost") == 0 ||
	    (n > 10 && strcasecmp(name + n - 10, ".localhost") == 0))
		return 1;
	return inet_pton(AF_INET, name, &a4) == 1 &&
	    (ntohl(a4.s_addr) >> 24) == 127;
}

static enum MHD_Result
S_handle(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_len, void **req)
{
	const struct server *srv = cls;
	struct buf b = { 0 };
	const char *name;

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return S_reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "Method Not Allowed");
	if (srv->loopback && !S_host_ok(c))
		return S_reply_text(c, MHD_HTTP_FORBIDDEN, "Forbidden: open the "
		    "preview as http://127.0.0.1 or http://localhost");
	if (strncmp(url, S_PREFIX, strlen(S_PREFIX)) != 0)
		return S_static(c, srv, url);
	name = url + strlen(S_PREFIX);
	if (strcmp(name, "events") == 0)
		return S_events(c);
	if (strcmp(name, "status") == 0)
		return S_status(c);
	if (strcmp(name, "live.js") == 0) {
		buf_put(&b, S_live_js, sizeof(S_live_js) - 1);
		return S_reply(c, MHD_HTTP_OK, "text/javascript; charset=utf-8",
		    &b, NULL);
	}
	return S_reply_text(c, MHD_HTTP_NOT_FOUND, "Not Found");
}

/* Leave the path as sent: S_static() decodes it once, itself. */
static size_t
S_unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
	return strlen(s);
}

/* ---- the listening socket ---- */

static int
S_is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET)
		return (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
		    in6->sin6_addr.s6_addr[12] == 127);
	return 0;
}

/* Return a listening socket on host:port, or -1 (reported). */
static int
S_listen(const char *host, int port, int *loopback)
{
	struct addrinfo hints, *res, *ai;
	char	 serv[16];
	int	 fd = -1, on = 1, err, saved = EADDRNOTAVAIL;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(serv, sizeof(serv), "%d", port);
	if ((err = getaddrinfo(host, serv, &hints, &res)) != 0) {
		fprintf(stderr, "fazhi serve: --bind %s: %s\n", host,
		    gai_strerror(err));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, SOMAXCONN) == 0) {
			*loopback = S_is_loopback(ai->ai_addr);
			break;
		}
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		fprintf(stderr, "fazhi serve: cannot listen on %s port %d: %s\n",
		    host, port, strerror(saved));
		if (saved == EADDRINUSE)
			fprintf(stderr, "  note: another program holds the "
			    "port; choose one with --port\n");
	}
	return fd;
}

/* ---- watching the sources ---- */

#define S_WATCH_MASK (IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | \
	IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_ONLYDIR)

/* What ROOT holds that a build reads. */
static const char *const S_sources[] = {
	"content", "themes", "filters", "site.yaml", NULL
};

struct watch {
	int		 wd;
	char		*rel;		/* directory under ROOT; "" is ROOT */
};

struct watcher {
	int		 fd;		/* inotify */
	const char	*root;
	struct watch	*v;
	size_t		 n, cap;
	int		 full;		/* warned about the watch limit */
	char		*changed[8];	/* files changed since the last build */
	size_t		 nchanged;
	int		 more;		/* and more than changed[] holds */
};

static ssize_t
S_watch_find(const struct watcher *w, int wd)
{
	size_t	 i;

	for (i = 0; i < w->n; i++)
		if (w->v[i].wd == wd)
			return (ssize_t)i;
	return -1;
}

static void
S_watch_drop(struct watcher *w, size_t i)
{
	free(w->v[i].rel);
	w->v[i] = w->v[--w->n];
}

/* Watch the directory rel; return 0, or -1 if it cannot be watched. */
static int
S_watch_add(struct watcher *w, const char *rel)
{
	char	*abs = *rel ? path_join(w->root, rel) : xstrdup(w->root);
	ssize_t	 i;
	int	 wd;

	wd = inotify_add_watch(w->fd, abs, S_WATCH_MASK);
	if (wd == -1) {
		if (errno == ENOSPC && !w->full) {
			w->full = 1;
			fprintf(stderr, "fazhi serve: cannot watch %s: too many "
			    "directories\n  note: raise "
			    "fs.inotify.max_user_watches\n", abs);
		}
		free(abs);
		return -1;
	}
	free(abs);
	/* The same directory under a new name (it was moved): rename. */
	if ((i = S_watch_find(w, wd)) != -1) {
		free(w->v[i].rel);
		w->v[i].rel = xstrdup(rel);
		return 0;
	}
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->v = xrealloc(w->v, w->cap * sizeof(*w->v));
	}
	w->v[w->n].wd = wd;
	w->v[w->n].rel = xstrdup(rel);
	w->n++;
	return 0;
}

/* Editors' swap, backup and probe files are not sources. */
static int
S_ignored(const char *name)
{
	size_t	 n = strlen(name);

	return name[0] == '.' || (n > 0 && name[n - 1] == '~') ||
	    (n > 4 && (strcmp(name + n - 4, ".swp") == 0 ||
	    strcmp(name + n - 4, ".swx") == 0)) || strcmp(name, "4913") == 0;
}

/* Watch rel and every directory below it (new ones included). */
static void
S_watch_tree(struct watcher *w, const char *rel)
{
	struct dirent *de;
	struct stat st;
	DIR	*d;
	char	*abs, *sub, *p;
	int	 isdir;

	if (S_watch_add(w, rel) == -1)
		return;
	abs = path_join(w->root, rel);
	d = opendir(abs);
	if (d == NULL) {
		free(abs);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (S_ignored(de->d_name))
			continue;
		isdir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN) {
			p = path_join(abs, de->d_name);
			isdir = lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
			free(p);
		}
		if (!isdir)
			continue;
		sub = path_join(rel, de->d_name);
		S_watch_tree(w, sub);
		free(sub);
	}
	closedir(d);
	free(abs);
}

/* Stop watching rel and everything below it (it moved away). */
static void
S_unwatch_tree(struct watcher *w, const char *rel)
{
	size_t	 i = 0, n = strlen(rel);

	while (i < w->n)
		if (strncmp(w->v[i].rel, rel, n) == 0 &&
		    (w->v[i].rel[n] == '\0' || w->v[i].rel[n] == '/')) {
			inotify_rm_watch(w->fd, w->v[i].wd);
			S_watch_drop(w, i);
		} else
			i++;
}

/* Watch ROOT (for site.yaml and the top directories) and every source. */
static int
S_watch_all(struct watcher *w)
{
	size_t	 i;

	if (S_watch_add(w, "") == -1)
		return -1;
	for (i = 0; S_sources[i]; i++)
		S_watch_tree(w, S_sources[i]);
	return 0;
}

/*
 * Remember rel for the rebuild line.  A file renamed away is forgotten:
 * it was an editor's or sed's temporary file, and the name it was
 * renamed to is what the writer knows.
 */
static void
S_note(struct watcher *w, const char *rel, int gone)
{
	size_t	 i;

	for (i = 0; i < w->nchanged; i++)
		if (strcmp(w->changed[i], rel) == 0)
			break;
	if (gone) {
		if (i < w->nchanged) {
			free(w->changed[i]);
			w->changed[i] = w->changed[--w->nchanged];
		}
	} else if (i == w->nchanged) {
		if (w->nchanged < sizeof(w->changed) / sizeof(w->changed[0]))
			w->changed[w->nchanged++] = xstrdup(rel);
		else
			w->more = 1;
	}
}

static void
S_forget(struct watcher *w)
{
	while (w->nchanged > 0)
		free(w->changed[--w->nchanged]);
	w->more = 0;
}

static int
S_is_source(const char *name)
{
	size_t	 i;

	for (i = 0; S_sources[i]; i++)
		if (strcmp(name, S_sources[i]) == 0)
			return 1;
	return 0;
}

/* Handle one event; return 1 if the site must be rebuilt. */
static int
S_watch_event(struct watcher *w, const struct inotify_event *ev)
{
	const char *name = ev->len ? ev->name : "";
	ssize_t	 i;
	char	*rel;

	if (ev->mask & IN_Q_OVERFLOW) {
		S_watch_all(w);
		w->more = 1;
		return 1;
	}
	if ((i = S_watch_find(w, ev->wd)) == -1)
		return 0;
	if (ev->mask & IN_IGNORED) {
		S_watch_drop(w, (size_t)i);
		return 0;
	}
	if (w->v[i].rel[0] == '\0') {
		if (!S_is_source(name))
			return 0;
		rel = xstrdup(name);
	} else if (*name == '\0')
		rel = xstrdup(w->v[i].rel);
	else if (S_ignored(name))
		return 0;
	else
		rel = path_join(w->v[i].rel, name);
	if (ev->mask & IN_ISDIR) {
		if (ev->mask & (IN_MOVED_FROM | IN_DELETE))
			S_unwatch_tree(w, rel);
		if (ev->mask & (IN_CREATE | IN_MOVED_TO))
			S_watch_tree(w, rel);
	}
	/* Noted once written or renamed into place, not when first made. */
	if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_ATTRIB |
	    IN_DELETE_SELF) || (ev->mask & (IN_CREATE | IN_ISDIR)) ==
	    (IN_CREATE | IN_ISDIR))
		S_note(w, rel, 0);
	else if (ev->mask & IN_MOVED_FROM)
		S_note(w, rel, !(ev->mask & IN_ISDIR));
	free(rel);
	return 1;
}

/* Read every pending event; return 1 if any of them matters. */
static int
S_watch_read(struct watcher *w)
{
	static char buf[64 * 1024]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t	 n;
	char	*p;
	int	 changed = 0;

	for (;;) {
		n = read(w->fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			changed |= S_watch_event(w, ev);
		}
	}
	return changed;
}

static void
S_watch_free(struct watcher *w)
{
	while (w->n > 0)
		S_watch_drop(w, w->n - 1);
	free(w->v);
	S_forget(w);
	if (w->fd != -1)
		close(w->fd);
}

/* ---- the build loop ---- */

/* Build once, tell the browsers and print one line. */
static void
S_build(const struct build_args *ba, struct watcher *w, int first)
{
	struct build_result res;
	struct tm tm;
	time_t	 now;
	char	 stamp[16];
	double	 t0 = now_seconds(), ms;
	size_t	 nerr;

	diag_reset();
	(void)build_run(ba, &res);
	ms = (now_seconds() - t0) * 1000;
	nerr = diag_errors();
	S_publish(res.ok, res.errors);
	now = time(NULL);
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	if (res.ok && w->nchanged > 0)
		printf("%s Rebuilt in %.0f ms (%s%s)\n", stamp, ms,
		    w->changed[0], w->nchanged > 1 || w->more ? " and more" : "");
	else if (res.ok)
		printf("%s %s in %.0f ms\n", stamp, first ? "Built" : "Rebuilt",
		    ms);
	else
		printf("%s Build failed: %zu error(s), shown in the browser\n",
		    stamp, nerr);
	fflush(stdout);
	S_forget(w);
}

int
build_serve(const struct build_args *a)
{
	struct build_args ba = *a;
	struct server srv;
	struct watcher w;
	struct MHD_Daemon *d = NULL;
	struct pollfd pfd[2];
	struct signalfd_siginfo si;
	pthread_condattr_t ca;
	sigset_t set;
	const char *tmpdir;
	char	*tmp = NULL, *real = NULL;
	double	 deadline = 0, left;
	int	 sfd = -1, lfd = -1, pending = 0, rc = 1, timeout, v6;

	if (a->outdir) {
		fputs("fazhi serve builds into a temporary directory; "
		    "-o has no use\n", stderr);
		return 2;
	}
	memset(&srv, 0, sizeof(srv));
	memset(&w, 0, sizeof(w));
	w.fd = -1;
	w.root = a->root;

	/* Blocked before any thread starts, so only the signalfd sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) == -1) {
		fprintf(stderr, "fazhi serve: signalfd: %s\n", strerror(errno));
		goto out;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&S_live.cond, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(S_live.boot, sizeof(S_live.boot), "%lx%x",
	    (unsigned long)time(NULL), (unsigned int)getpid());

	if ((lfd = S_listen(a->bind, a->port, &srv.loopback)) == -1)
		goto out;
	if ((tmpdir = getenv("TMPDIR")) == NULL || *tmpdir == '\0')
		tmpdir = "/tmp";
	tmp = path_join(tmpdir, "fazhi-serve-XXXXXX");
	if (mkdtemp(tmp) == NULL || (real = realpath(tmp, NULL)) == NULL) {
		fprintf(stderr, "fazhi serve: cannot make a directory in %s: "
		    "%s\n", tmpdir, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	srv.site = path_join(real, "site");
	srv.sitelen = strlen(srv.site);
	ba.outdir = srv.site;
	ba.quiet = 1;
	ba.check = 0;
	/* Bundles take most of a build's time and a preview needs none. */
	ba.bundles = 0;

	if ((w.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
	    S_watch_all(&w) == -1) {
		fprintf(stderr, "fazhi serve: cannot watch %s: %s\n", a->root,
		    strerror(errno));
		goto out;
	}
	S_build(&ba, &w, 1);

	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0, NULL, NULL,
	    S_handle, &srv,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
	    MHD_OPTION_UNESCAPE_CALLBACK, S_unescape_none, NULL,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1000,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
	    MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
	    MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "fazhi serve: cannot start the HTTP server\n");
		goto out;
	}
	lfd = -1;	/* the daemon closes it */
	v6 = strchr(a->bind, ':') != NULL;
	printf("Serving http://%s%s%s:%d/ (Ctrl-C to stop)\n", v6 ? "[" : "",
	    a->bind, v6 ? "]" : "", a->port);
	if (!srv.loopback)
		printf("warning: %s is not loopback: anyone who can reach it "
		    "sees unpublished drafts\n", a->bind);
	fflush(stdout);

	pfd[0].fd = sfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = w.fd;
	pfd[1].events = POLLIN;
	for (;;) {
		timeout = -1;
		if (pending) {
			left = deadline - now_seconds();
			timeout = left <= 0 ? 0 : (int)(left * 1000) + 1;
		}
		if (poll(pfd, 2, timeout) == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "fazhi serve: poll: %s\n",
			    strerror(errno));
			goto out;
		}
		if (pfd[0].revents & POLLIN) {
			if (read(sfd, &si, sizeof(si)) == -1)
				si.ssi_signo = SIGTERM;
			break;
		}
		/* Debounce: an editor's save is several events. */
		if ((pfd[1].revents & POLLIN) && S_watch_read(&w)) {
			pending = 1;
			deadline = now_seconds() + S_DEBOUNCE;
		}
		if (pending && now_seconds() >= deadline) {
			pending = 0;
			S_build(&ba, &w, 0);
		}
	}
	printf("Stopped (%s)\n", strsignal((int)si.ssi_signo));
	fflush(stdout);
	rc = 0;
out:
	pthread_mutex_lock(&S_live.lock);
	S_live.stopping = 1;
	pthread_cond_broadcast(&S_live.cond);
	pthread_mutex_unlock(&S_live.lock);
	if (d != NULL)
		MHD_stop_daemon(d);
	if (lfd != -1)
		close(lfd);
	if (tmp != NULL && rm_rf(tmp) == -1 && errno != ENOENT)
		fprintf(stderr, "fazhi serve: cannot remove %s: %s\n", tmp,
		    strerror(errno));
	S_watch_free(&w);
	if (sfd != -1)
		close(sfd);
	free(S_live.errors);
	S_live.errors = NULL;
	diag_reset();
	free(srv.site);
	free(real);
	free(tmp);
	return rc;
}
