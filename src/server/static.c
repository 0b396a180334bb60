/*
 * static.c: the dashboard's files. GET of any path outside /api/ serves
 * the file of that name under the UI directory; a path that names no file
 * is a route of the single-page app and gets index.html, unless it ends in
 * the extension of a file type the dashboard ships ("app.js", "logo.svg"):
 * such a missing file is a 404, not a page.
 * Without a built dashboard, such paths get a small page saying how to
 * build one.
 *
 * Confinement, in three layers: the request parser already refused
 * encoded '/', NUL, "." and ".." segments (400); sm__http_static_relpath()
 * refuses empty and hidden segments (404); and the file's real path (all
 * symlinks resolved) must lie inside the UI directory's real path (404),
 * so a symlink cannot lead out of it either.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handlers.h"
#include "internal.h"
#include "server.h"

#include "util/banned.h"

static const char not_built_page[] =
    "<!doctype html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sematic</title></head>\n"
    "<body style=\"font-family: sans-serif; max-width: 40em; margin: 3em auto\">\n"
    "<h1>Sematic</h1>\n"
    "<p>The server is running, but the dashboard is not built.</p>\n"
    "<p>Build it with <code>cd ui &amp;&amp; npm ci &amp;&amp; npm run build</code> (it writes "
    "<code>ui/dist</code>), or point <code>SEMATIC_UI_DIR</code> at a built dashboard, then "
    "restart the server: <code>sematic stop &amp;&amp; sematic start</code>.</p>\n"
    "<p>The API answers meanwhile: <a href=\"/api/v1/ping\">/api/v1/ping</a>.</p>\n"
    "</body></html>\n";

/* Serve the regular file at path (already confined). Returns 0, or SM_ENOTFOUND when it is not one. */
static int serve_file(struct sm_http_resp *resp, const char *path, const char *name, bool is_index)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return SM_ENOTFOUND;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return SM_ENOTFOUND;
    }
    sm_http_file(resp, 200, sm__http_content_type(name), fd, (uint64_t)st.st_size);
    sm_http_add_header(resp, "X-Content-Type-Options", "nosniff");
    /* index.html names the current hashed assets, so it is checked on every load. */
    sm_http_add_header(resp, "Cache-Control", is_index ? "no-cache" : "public, max-age=3600");
    return 0;
}

static int serve_index(struct sm_http_resp *resp, const char *root)
{
    char path[PATH_MAX + 16];
    sm__http_textf(path, sizeof(path), "%s/index.html", root);
    if (serve_file(resp, path, "index.html", true) != 0)
        return sm_http_error(resp, 404,
                             "the dashboard's index.html is missing from '%s'; "
                             "rebuild the dashboard",
                             root);
    return 0;
}

/* true when path lies inside root (both real paths). */
static bool is_inside(const char *path, const char *root)
{
    size_t n = strlen(root);
    return strncmp(path, root, n) == 0 && (path[n] == '/' || (n == 1 && root[0] == '/'));
}

int sm__static_file(struct sm_http_req *req, struct sm_http_resp *resp)
{
    const char *rel = sm_http_param(req, "path");
    const char *root = req->server != NULL ? sm__server_ui_root(req->server) : NULL;
    char relpath[SM_HTTP_STATIC_REL_MAX + 2];
    if (sm__http_static_relpath(rel, relpath, sizeof(relpath)) != 0)
        return sm_http_error(resp, 404, "no file '%s' in the dashboard", req->target->path);
    if (root == NULL) {
        if (sm__http_static_is_asset(relpath))
            return sm_http_error(resp, 404, "no file '%s': the dashboard is not built",
                                 req->target->path);
        return sm_http_bytes(resp, 200, "text/html; charset=utf-8", not_built_page,
                             sizeof(not_built_page) - 1);
    }
    if (relpath[0] == '\0')
        return serve_index(resp, root);

    char path[PATH_MAX + SM_HTTP_STATIC_REL_MAX + 4];
    snprintf(path, sizeof(path), "%s/%s", root, relpath);
    char *real = realpath(path, NULL);
    if (real == NULL) {
        if (sm__http_static_is_asset(relpath))
            return sm_http_error(resp, 404, "no file '%s' in the dashboard", req->target->path);
        return serve_index(resp, root); /* an SPA route */
    }
    int rc = 0;
    if (!is_inside(real, root)) {
        rc = sm_http_error(resp, 404, "no file '%s' in the dashboard", req->target->path);
    } else {
        struct stat st;
        if (stat(real, &st) == 0 && S_ISDIR(st.st_mode))
            rc = serve_index(resp, root);
        else if (serve_file(resp, real, relpath, false) != 0)
            rc = sm_http_error(resp, 404, "no file '%s' in the dashboard", req->target->path);
    }
    free(real); /* from realpath: the C library's allocator */
    return rc;
}

/* ------------------------------------------------------------ finding it */

static bool has_index(const char *dir)
{
    char path[PATH_MAX + 16];
    sm__http_textf(path, sizeof(path), "%s/index.html", dir);
    return access(path, R_OK) == 0;
}

void sm_server_find_ui_dir(char *out, size_t size)
{
    out[0] = '\0';
    const char *env = getenv("SEMATIC_UI_DIR");
    if (env != NULL && env[0] != '\0') {
        snprintf(out, size, "%s", env);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return;
    *slash = '\0'; /* exe is now the binary's directory */

    /* pip install: <venv>/bin/sematic and <venv>/lib/python3.X/site-packages/sematic/ui. */
    char pattern[PATH_MAX + 64];
    snprintf(pattern, sizeof(pattern), "%s/../lib/python3*/site-packages/sematic/ui", exe);
    glob_t g;
    if (glob(pattern, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            if (has_index(g.gl_pathv[i])) {
                snprintf(out, size, "%s", g.gl_pathv[i]);
                break;
            }
        }
    }
    globfree(&g);
    if (out[0] != '\0')
        return;

    /* The source tree: build-c/src/cli/sematic or .venv/bin/sematic, with ui/dist above. */
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", exe);
    for (int up = 0; up <= 4; up++) {
        char candidate[PATH_MAX + 16];
        snprintf(candidate, sizeof(candidate), "%s/ui/dist", dir);
        if (has_index(candidate)) {
            snprintf(out, size, "%s", candidate);
            return;
        }
        char *s = strrchr(dir, '/');
        if (s == NULL || s == dir)
            return;
        *s = '\0';
    }
}
