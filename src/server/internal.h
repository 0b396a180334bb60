/*
 * internal.h: what the files of src/server share and the unit tests and
 * the fuzz target reach: request-target parsing (request.c), the compiled
 * router (router.c), static-file path rules (request.c). Endpoint authors
 * need only http.h.
 */
#ifndef SM_SERVER_INTERNAL_H
#define SM_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* ------------------------------------------------------------- request.c */

/*
 * Parse a request target as sent ("/api/v1/runs?limit=5", len bytes, need
 * not be NUL-terminated) into t (caller's memory; filled on success, empty
 * on failure). Returns 0 or SM_EINVAL with a message for the client that
 * names what was wrong: a target not starting with '/', a bad %-escape,
 * an encoded NUL, invalid UTF-8 after decoding, an encoded '/' in a path
 * segment, a "." or ".." segment, more than SM_HTTP_MAX_QUERY query
 * parameters. In the query, '+' decodes to a space; in the path it stays.
 */
int sm__http_target_parse(struct sm_http_target *t, const char *raw, size_t len,
                          struct sm_err *err);

/* Free what t holds; t is then empty. Accepts an empty (zeroed) target. */
void sm__http_target_release(struct sm_http_target *t);

/* true when s[0..len) is well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF). */
bool sm__http_is_utf8(const char *s, size_t len);

/*
 * Copy s into out (size > 0, always NUL-terminated, cut on a character
 * boundary), replacing each byte that is not part of well-formed UTF-8 and
 * each control character with '?': text that quotes a client's input can
 * then always be written as JSON or logged on one line.
 */
void sm__http_sanitize(const char *s, char *out, size_t size);

/*
 * snprintf into out where cutting the text short is acceptable (log
 * details, messages): always NUL-terminated. A function of its own so the
 * compiler's truncation warnings stay on for every other snprintf.
 */
void sm__http_textf(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The Content-Type for a file name by its extension; application/octet-stream when unknown. */
const char *sm__http_content_type(const char *name);

/* The reason phrase of a status ("Not Found"); "" when unknown. */
const char *sm__http_status_text(int status);

/* -------------------------------------------------------------- router.c */

struct sm_http_router;

/*
 * Compile n route rows (borrowed: they must outlive the router; the table in
 * routes.c is static). Rows with any flag in skip_flags are left out.
 * Returns 0, or SM_EINVAL naming the row whose pattern is malformed (not
 * starting with '/', an empty segment, an empty parameter name, "*name" not
 * last, a repeated name, more than SM_HTTP_MAX_PARAMS parameters, no method).
 * *out is owned by the caller: free with sm__http_router_free().
 */
int sm__http_router_new(const struct sm_http_route *rows, size_t n, unsigned skip_flags,
                        struct sm_http_router **out, struct sm_err *err);

void sm__http_router_free(struct sm_http_router *r);

/*
 * The row serving method m on target t, filling params (values borrowed
 * from t) and *n_params; NULL when none, with *allowed the methods that
 * would have matched (0: the path is unknown, 404; else 405). HEAD matches
 * GET rows. Reentrant: any number of threads may match concurrently.
 */
const struct sm_http_route *sm__http_router_match(const struct sm_http_router *r,
                                                  enum sm_http_method m,
                                                  const struct sm_http_target *t,
                                                  struct sm_http_kv params[SM_HTTP_MAX_PARAMS],
                                                  size_t *n_params, unsigned *allowed);

/* "GET, HEAD, POST" for a method set, into out. */
void sm__http_methods_text(unsigned methods, char *out, size_t size);

/* ------------------------------------------------ request.c: static paths */

/* The longest relative path a static file request may name. */
#define SM_HTTP_STATIC_REL_MAX 1024

/*
 * The relative file path ("assets/app.js") that "*name" value rel (already
 * decoded and free of "." and ".." segments, as the router hands it)
 * names under the UI directory, into out. Returns 0, or SM_ENOTFOUND for
 * paths that never name a file: an empty segment ("a//b"), a leading '/',
 * a hidden name (".env", "a/.git/x"), a backslash, more than
 * SM_HTTP_STATIC_REL_MAX bytes or than out can hold.
 * An empty rel or one ending in '/' gives "" (the SPA's index.html).
 */
int sm__http_static_relpath(const char *rel, char *out, size_t size);

/* true when rel ends in the extension of a file type the dashboard ships ("app.js", "x.svg";
 * sm__http_content_type knows it): a missing one is a 404, while any other missing path
 * ("runs/abc", "pipelines/my.module.pipeline") is an SPA route served by index.html. */
bool sm__http_static_is_asset(const char *rel);

/* -------------------------------------------------------------- server.c */

/* The real path of the dashboard build, or NULL when none is built. Borrowed for the server's life. */
const char *sm__server_ui_root(const struct sm_server *srv);

/* A store handle from the server's pool (opened when none is idle), or NULL with err set. */
struct sm_store *sm__server_store_borrow(struct sm_server *srv, struct sm_err *err);

/* Give a borrowed handle back (kept for reuse, or closed when enough are idle). Accepts NULL. */
void sm__server_store_return(struct sm_server *srv, struct sm_store *store);

/* A line in the server log, for work outside a request (a stream's threads). NULL: nothing. */
void sm__server_log(const struct sm_server *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The server's cache of listing counts (api.h, count_cache.c); NULL for NULL. */
struct sm_count_cache *sm__server_count_cache(struct sm_server *srv);

/* -------------------------------------------------------------- routes.c */

/* The route table: every endpoint of the server, in matching order. */
extern const struct sm_http_route sm__server_routes[];
extern const size_t sm__server_n_routes;

#endif
