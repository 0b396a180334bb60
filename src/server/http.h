/*
 * http.h: what an endpoint of the `sematic start` server sees (src/server only).
 *
 * An endpoint is a row of the route table in routes.c:
 *
 *     {SM_HTTP_GET, "/api/v1/runs/:id/graph", sm__api_run_graph, 0},
 *
 * and a handler in its own file (runs.c, graph.c, ...), declared in
 * handlers.h:
 *
 *     int sm__api_run_graph(struct sm_http_req *req, struct sm_http_resp *resp)
 *     {
 *         struct sm_err err = SM_ERR_INIT;
 *         struct sm_store *store = sm_http_store(req, &err);
 *         if (store == NULL)
 *             return sm_http_store_error(resp, &err);
 *         const char *id = sm_http_param(req, "id");
 *         struct sm_run_rec run;
 *         if (sm_store_get_run(store, id, &run, &err) != 0)
 *             return sm_http_store_error(resp, &err);  // 404 names the id
 *         struct sm_jw *w = sm_http_json(resp, 200);
 *         sm_jw_begin_object(w);
 *         ...
 *         sm_jw_end_object(w);
 *         return 0;
 *     }
 *
 * A handler returns 0 once `resp` says what to send (any status, errors
 * included). A negative SM_E* return means it failed: when a helper already
 * put an error response in `resp` (sm_http_query_int's 400, for example)
 * that response is sent; otherwise the client gets a 500 whose message
 * names no internals, and the detail goes to the server log.
 *
 * Patterns: literal segments, ":name" (one non-empty path segment) and, as
 * the last segment only, "*name" (the rest of the path, possibly empty,
 * segments joined by '/'). Rows are tried in table order; the first whose
 * pattern and method match wins. A pattern that matches with another
 * method gives 405 with an Allow header; none at all gives 404. HEAD is
 * served by GET rows (the body is not sent). Rows flagged
 * SM_HTTP_ROUTE_FALLBACK are tried only when no other row's pattern matches.
 *
 * Paths are decoded before matching, one segment at a time, and a request
 * whose path holds an encoded '/', a NUL, invalid UTF-8, a bad %-escape, or
 * a "." or ".." segment is refused with 400 before any handler runs, so
 * parameter values never contain '/' and a "*" value never climbs out of
 * its directory.
 *
 * Threads: each connection has its own thread; a handler may block (it
 * holds only its own connection). struct sm_http_req and sm_http_resp
 * belong to one request and are used by its thread only.
 */
#ifndef SM_SERVER_HTTP_H
#define SM_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sematic/buf.h"
#include "sematic/err.h"
#include "sematic/json.h"
#include "sematic/store.h"

/* Methods, as bits so a set of them fits an unsigned (the Allow header). */
enum sm_http_method {
    SM_HTTP_GET = 1 << 0,
    SM_HTTP_HEAD = 1 << 1,
    SM_HTTP_POST = 1 << 2,
    SM_HTTP_PUT = 1 << 3,
    SM_HTTP_DELETE = 1 << 4,
    SM_HTTP_PATCH = 1 << 5,
    SM_HTTP_OPTIONS = 1 << 6,
    SM_HTTP_ANY = (1 << 7) - 1, /* for route rows only: every method */
};

/* The method of its name ("GET"), or 0 when it is none of the above. */
enum sm_http_method sm_http_method_parse(const char *name);
/* "GET" ...; "?" for anything else. */
const char *sm_http_method_name(enum sm_http_method m);

struct sm_server;
struct sm_http_req;
struct sm_http_resp;

typedef int (*sm_http_handler_fn)(struct sm_http_req *req, struct sm_http_resp *resp);

enum sm_http_route_flags {
    /* Served only when the server runs with SEMATIC_SERVER_TEST_ROUTES=1 (tests). */
    SM_HTTP_ROUTE_TEST_ONLY = 1 << 0,
    /*
     * Tried only when no other row's pattern matches the path (whatever the
     * method): the JSON 404 of unknown API paths and the static files'
     * catch-all ("*path"). So a
     * wrong method on a real endpoint is a 405, never a fallback's answer.
     */
    SM_HTTP_ROUTE_FALLBACK = 1 << 1,
    /*
     * Served without an API key when the server authenticates
     * (SEMATIC_AUTHENTICATE): ping, versions, /authenticate, the dashboard's
     * files, the API's 404. Every other row needs a user's X-API-KEY then,
     * checked once in server.c (auth.c) before the body is read: a missing
     * or unknown key is a 401 and the handler never runs.
     */
    SM_HTTP_ROUTE_PUBLIC = 1 << 2,
};

/* One row of the route table. */
struct sm_http_route {
    enum sm_http_method method;
    const char *pattern; /* "/api/v1/runs/:id/graph"; static storage */
    sm_http_handler_fn handler;
    unsigned flags; /* enum sm_http_route_flags */
};

/* A name and a value, NUL-terminated. */
struct sm_http_kv {
    const char *name;
    const char *value;
};

/* At most this many ":name"/"*name" parameters in a pattern. */
#define SM_HTTP_MAX_PARAMS 8
/* At most this many query parameters in a request (more is a 400). */
#define SM_HTTP_MAX_QUERY 256

/*
 * A parsed request target (path and query), decoded. All strings live in
 * `mem`, owned; release with sm__http_target_release(). Built by
 * sm__http_target_parse() (request.c).
 */
struct sm_http_target {
    char *mem;
    const char *raw_path;  /* as sent, without the query */
    const char *raw_query; /* as sent, after '?' ("" when none) */
    const char *path;      /* decoded: "/" followed by the segments joined by '/' */
    const char **segments; /* decoded segments; "" for an empty one ("//", trailing '/') */
    size_t *seg_offsets;   /* where segment i starts in `path` */
    size_t n_segments;     /* "/" has none */
    struct sm_http_kv *query;
    size_t n_query;
};

/* The request a handler gets. Fields are read-only for handlers. */
struct sm_http_req {
    enum sm_http_method method; /* SM_HTTP_GET for a HEAD request */
    bool is_head;               /* it was HEAD: the body will not be sent */
    const struct sm_http_target *target;
    struct sm_http_kv params[SM_HTTP_MAX_PARAMS]; /* from the pattern, in pattern order */
    size_t n_params;
    const char *user_id; /* the authenticated user's id (X-API-KEY); NULL when the server does
                          * not authenticate, or on a public row */
    const char *body;    /* NUL-terminated (the NUL is not counted); "" when none */
    size_t body_len;
    /* Server internals; use the functions below. */
    struct sm_server *server;
    void *conn;             /* the MHD connection, NULL in unit tests */
    struct sm_store *store; /* borrowed from the server's pool on first use */
    const char *(*header_fn)(void *conn, const char *name);
};

/* Value of path parameter `name` (":name" or "*name" in the pattern), or NULL. Borrowed. */
const char *sm_http_param(const struct sm_http_req *req, const char *name);

/* First value of query parameter `name` (decoded), or NULL when absent. Borrowed. */
const char *sm_http_query(const struct sm_http_req *req, const char *name);

/*
 * Query parameter `name` as an integer in [min, max]; *out = dflt when absent.
 * Returns 0, or SM_EINVAL after putting a 400 naming the parameter and the
 * accepted range in resp (return that code from the handler).
 */
int sm_http_query_int(const struct sm_http_req *req, struct sm_http_resp *resp, const char *name,
                      int64_t dflt, int64_t min, int64_t max, int64_t *out);

/*
 * Query parameter `name` as a boolean: "1"/"true"/"yes" or "0"/"false"/"no"
 * (any case); *out = dflt when absent. 0, or SM_EINVAL with a 400 in resp.
 */
int sm_http_query_bool(const struct sm_http_req *req, struct sm_http_resp *resp, const char *name,
                       bool dflt, bool *out);

/* true when the server checks API keys (SEMATIC_AUTHENTICATE was on when it started). */
bool sm_http_authenticates(const struct sm_http_req *req);

/* Request header `name` (any case), or NULL. Borrowed for the request. */
const char *sm_http_header(const struct sm_http_req *req, const char *name);

/*
 * Parse the body as JSON into doc (release it with sm_json_doc_release()).
 * Returns 0, or SM_EINVAL after putting a 400 naming where the JSON is wrong.
 */
int sm_http_body_json(const struct sm_http_req *req, struct sm_http_resp *resp,
                      struct sm_json_doc *doc);

/*
 * The store at $SEMATIC_HOME, borrowed from the server's pool for this
 * request (one handle per request: a struct sm_store is single-threaded).
 * It holds no read transaction between calls, so LocalRunner processes
 * writing the same database are never blocked by an idle handle. Returns
 * NULL with err set when the store cannot be opened; pass err to
 * sm_http_store_error().
 */
struct sm_store *sm_http_store(struct sm_http_req *req, struct sm_err *err);

/* A line in the server log, prefixed with the request's method and path. */
void sm_http_log(const struct sm_http_req *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------ responses */

enum sm_http_resp_kind {
    SM_HTTP_RESP_BUFFER = 0, /* body in `body` */
    SM_HTTP_RESP_FILE,       /* body read from fd */
    SM_HTTP_RESP_STREAM,     /* body produced by a callback, chunk by chunk */
};

struct sm_http_header {
    char *name;  /* owned */
    char *value; /* owned */
};

struct sm_http_stream;

/*
 * Produce the next part of a streaming response: append bytes to out and
 * return SM_HTTP_STREAM_MORE (called again once they are sent), or
 * SM_HTTP_STREAM_END (what was appended is sent, then the response ends),
 * or a negative SM_E* code (the connection is closed at once). Appending
 * nothing and returning MORE is allowed; the callback is then called again
 * at once, so it must wait first (sm_http_stream_wait()).
 *
 * Runs on the connection's own thread and may block: other requests have
 * their own threads. It must not block without a bound, so that the
 * server can stop: wait with sm_http_stream_wait(), which returns
 * SM_HTTP_WAIT_CLOSED when the server stops or the client hangs up.
 */
typedef int (*sm_http_stream_fn)(void *ctx, struct sm_http_stream *s, struct sm_buf *out);
typedef void (*sm_http_free_fn)(void *ctx);

enum sm_http_stream_rc {
    SM_HTTP_STREAM_MORE = 0,
    SM_HTTP_STREAM_END = 1,
};

enum sm_http_wait {
    SM_HTTP_WAIT_READY = 0,   /* fd is readable */
    SM_HTTP_WAIT_TIMEOUT = 1, /* timeout_ms passed */
    SM_HTTP_WAIT_CLOSED = 2,  /* the server is stopping or the client hung up: end the stream */
};

/*
 * Wait until fd (may be -1) is readable, timeout_ms (>= 0) passes, the
 * server stops or the client hangs up, whichever is first.
 */
enum sm_http_wait sm_http_stream_wait(struct sm_http_stream *s, int fd, int timeout_ms);

/* The store, borrowed from the pool until the stream callback returns. NULL with err set. */
struct sm_store *sm_http_stream_store(struct sm_http_stream *s, struct sm_err *err);

/* The response a handler fills. Initialised by the server; use the functions below. */
struct sm_http_resp {
    int status; /* 0 until set */
    enum sm_http_resp_kind kind;
    char content_type[96];
    struct sm_buf body;
    struct sm_jw jw; /* when is_json: writes into body */
    bool is_json;
    struct sm_http_header *headers;
    size_t n_headers, cap_headers;
    int fd; /* SM_HTTP_RESP_FILE: owned, -1 when none */
    uint64_t file_bytes;
    sm_http_stream_fn stream_fn;
    void *stream_ctx;
    sm_http_free_fn stream_free;
    char log_detail[256]; /* what the server log adds to this request's line ("" for none) */
};

/* Cap on a buffered response body (a JSON graph of 100,000 runs fits). */
#define SM_HTTP_MAX_RESPONSE_BYTES ((size_t)1 << 30)

/* Initialise / free a response (the server does this around each handler). */
void sm__http_resp_init(struct sm_http_resp *resp);
void sm__http_resp_release(struct sm_http_resp *resp);

/*
 * Start a JSON body with this status: returns the canonical writer (json.h)
 * that appends to the body. Its sticky error is checked after the handler
 * returns: an encoding failure becomes a 500 (the message goes to the log).
 * Anything the response held before is dropped.
 */
struct sm_jw *sm_http_json(struct sm_http_resp *resp, int status);

/*
 * The error response {"error": "<message>"} with this status (400, 404,
 * ...). Returns 0, so a handler can `return sm_http_error(resp, 404, ...)`.
 * The message is shown to the client: name what was wrong and the fix.
 */
int sm_http_error(struct sm_http_resp *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The response for a failed store call: SM_ENOTFOUND -> 404, SM_EINVAL ->
 * 400, both with the store's message; SM_EBUSY -> 503; anything else -> 500
 * with a generic message (the store's message goes to the log, not to the
 * client). Returns 0.
 */
int sm_http_store_error(struct sm_http_resp *resp, const struct sm_err *err);

/* A body of bytes (copied) with a content type ("text/html; charset=utf-8"). Returns 0. */
int sm_http_bytes(struct sm_http_resp *resp, int status, const char *content_type, const void *data,
                  size_t len);

/* Add a response header (both copied). Content-Type is set by the functions above instead. */
void sm_http_add_header(struct sm_http_resp *resp, const char *name, const char *value);

/* The body is the file open at fd (taken over: closed by the server), size bytes. Returns 0. */
int sm_http_file(struct sm_http_resp *resp, int status, const char *content_type, int fd,
                 uint64_t size);

/*
 * A streaming body produced by fn (see sm_http_stream_fn), sent with chunked
 * transfer encoding. ctx is handed to fn and freed with free_ctx (may be
 * NULL) when the response ends, however it ends. Returns 0.
 */
int sm_http_stream(struct sm_http_resp *resp, int status, const char *content_type,
                   sm_http_stream_fn fn, void *ctx, sm_http_free_fn free_ctx);

#endif
