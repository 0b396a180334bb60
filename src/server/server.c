/*
 * server.c: libmicrohttpd underneath the route table. One request goes:
 *
 *   on_uri        (MHD has read the request line) a struct conn_req is made,
 *                 holding the target exactly as sent, before MHD decodes it;
 *   on_request #1 (headers read) the target is parsed and routed; an
 *                 unknown path (404), a wrong method (405), a bad target
 *                 (400) or a Content-Length over the limit (413) is answered
 *                 at once, without reading the body;
 *   on_request #n the body is accumulated, up to max_body_bytes (a chunked
 *                 body that grows past it is read to its end, then 413);
 *   on_request    (body complete) the handler runs and its struct
 *                 sm_http_resp becomes an MHD response;
 *   on_completed  one line goes to the log (method, path, status, µs) and
 *                 the conn_req is freed.
 *
 * Threads: MHD runs one thread per connection (MHD_USE_THREAD_PER_CONNECTION),
 * so a handler, or a streaming response's callback, may block without
 * holding up any other connection. A struct sm_store is single-threaded,
 * so handlers borrow one from a small pool for the length of a request
 * (sm_http_store); an idle handle holds no read transaction (store.h), so
 * runners writing the same SQLite file are never held up by the server.
 *
 * Stopping: a byte written to stop_pipe wakes every stream waiting in
 * sm_http_stream_wait(); stopping waits (briefly) for the streams to send
 * their last chunk, then MHD_stop_daemon() closes the connections and joins
 * their threads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "sematic/alloc.h"
#include "sematic/store.h"

#include "api.h"
#include "internal.h"
#include "server.h"

#include "util/banned.h"

/* Idle store handles kept for reuse; more are closed when given back. */
#define POOL_IDLE_MAX 16
#define POOL_CACHE_KEEP ((size_t)4 << 20)
/* Seconds an idle keep-alive connection (and its thread) is kept. */
#define CONNECTION_TIMEOUT_S 60
/* libmicrohttpd's buffer for a stream: bytes handed to one send(). 16 KiB cost a big graph
 * (180 MB) 11,000 system calls and as many copies; an event stream's events are small. */
#define STREAM_BLOCK_BYTES ((size_t)128 << 10)
/* Bytes a streaming callback may append in one call. */
#define STREAM_CHUNK_MAX_BYTES ((size_t)16 << 20)
/* How much of a path a log line shows. */
#define LOG_PATH_MAX 512
/* How long stopping waits for open streams to send their last chunk. */
#define STREAM_DRAIN_MS 2000

struct sm_server {
    struct MHD_Daemon *mhd;
    struct sm_http_router *router;
    char *home;
    char *ui_root; /* realpath of a dashboard build with index.html; NULL when none */
    size_t max_body_bytes;
    bool authenticate;                  /* X-API-KEY required on non-public rows (auth.c) */
    struct sm_count_cache *count_cache; /* the runs listing's counts (count_cache.c) */
    int log_fd;
    int port;
    int stop_pipe[2]; /* [0] becomes readable when the server stops */

    pthread_mutex_t pool_mu;
    struct sm_store *idle[POOL_IDLE_MAX];
    size_t n_idle;

    pthread_mutex_t stream_mu;
    pthread_cond_t stream_done; /* signalled when a stream ends */
    size_t n_streams;           /* streaming responses not yet freed */
};

enum stage {
    STAGE_NEW,  /* headers read, not yet routed */
    STAGE_BODY, /* routed, reading the body */
    STAGE_DONE, /* a response is queued */
};

/* One request, from its request line to its completion. */
struct conn_req {
    struct sm_server *srv;
    char *raw; /* the request target as sent */
    int64_t start_us;
    enum stage stage;
    char method_text[16];
    enum sm_http_method method;
    struct sm_http_target target; /* parsed in STAGE_NEW */
    const struct sm_http_route *route;
    struct sm_http_kv params[SM_HTTP_MAX_PARAMS];
    size_t n_params;
    char user_id[SM_ID_HEX_LEN + 1]; /* who sent it, when the server authenticates */
    struct sm_buf body;
    bool is_too_big;
    int status;       /* queued status, 0 while none */
    char detail[256]; /* added to the log line */
};

struct sm_http_stream {
    struct sm_server *srv;
    int client_fd;
    sm_http_stream_fn fn;
    void *ctx;
    sm_http_free_fn free_ctx;
    struct sm_buf pending; /* produced, not yet handed to MHD */
    size_t sent;           /* bytes of pending already handed over */
    bool is_ended;
    struct sm_store *store; /* borrowed during one fn call */
};

static int64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---------------------------------------------------------------- log */

static void vlog_line(const struct sm_server *srv, const char *fmt, va_list ap)
{
    if (srv->log_fd < 0)
        return;
    char line[2048];
    char when[40];
    sm_format_time_us(sm_now_us(), when);
    int n = snprintf(line, sizeof(line), "%s ", when);
    if (n < 0)
        return;
    int k = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if (k < 0)
        return;
    size_t len = (size_t)n + (size_t)k;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* One write per line: lines from concurrent threads never interleave (O_APPEND). */
    ssize_t w = write(srv->log_fd, line, len);
    (void)w;
}

static void log_line(const struct sm_server *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void log_line(const struct sm_server *srv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog_line(srv, fmt, ap);
    va_end(ap);
}

void sm__server_log(const struct sm_server *srv, const char *fmt, ...)
{
    if (srv == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog_line(srv, fmt, ap);
    va_end(ap);
}

void sm_http_log(const struct sm_http_req *req, const char *fmt, ...)
{
    if (req->server == NULL)
        return;
    char msg[1024], path[LOG_PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sm__http_sanitize(req->target != NULL ? req->target->raw_path : "?", path, sizeof(path));
    log_line(req->server, "%s %s: %s", sm_http_method_name(req->method), path, msg);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[1024], clean[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    sm__http_sanitize(msg, clean, sizeof(clean)); /* also drops MHD's trailing newline */
    size_t n = strlen(clean);
    while (n > 0 && clean[n - 1] == '?')
        clean[--n] = '\0';
    log_line(cls, "libmicrohttpd: %s", clean);
}

/* --------------------------------------------------------------- store pool */

struct sm_store *sm__server_store_borrow(struct sm_server *srv, struct sm_err *err)
{
    pthread_mutex_lock(&srv->pool_mu);
    struct sm_store *s = srv->n_idle > 0 ? srv->idle[--srv->n_idle] : NULL;
    pthread_mutex_unlock(&srv->pool_mu);
    if (s != NULL)
        return s;
    return sm_store_open_sqlite(srv->home, SM_STORE_SYNC_NORMAL, err);
}

void sm__server_store_return(struct sm_server *srv, struct sm_store *store)
{
    if (store == NULL)
        return;
    /* An idle handle keeps at most POOL_CACHE_KEEP of page cache: 16 of them holding 64 MiB
     * each (what one big read fills) made a server that had served a 100,000-run graph 300
     * MiB big. */
    sm_store_trim(store, POOL_CACHE_KEEP);
    pthread_mutex_lock(&srv->pool_mu);
    if (srv->n_idle < POOL_IDLE_MAX) {
        srv->idle[srv->n_idle++] = store;
        store = NULL;
    }
    pthread_mutex_unlock(&srv->pool_mu);
    sm_store_close(store); /* accepts NULL */
}

struct sm_store *sm_http_store(struct sm_http_req *req, struct sm_err *err)
{
    if (req->store == NULL && req->server != NULL)
        req->store = sm__server_store_borrow(req->server, err);
    else if (req->store == NULL)
        sm_errf(err, SM_ESTATE, "no store: this request has no server");
    return req->store;
}

struct sm_count_cache *sm__server_count_cache(struct sm_server *srv)
{
    return srv != NULL ? srv->count_cache : NULL;
}

bool sm_http_authenticates(const struct sm_http_req *req)
{
    return req->server != NULL && req->server->authenticate;
}

const char *sm__server_ui_root(const struct sm_server *srv)
{
    return srv->ui_root;
}

/* ------------------------------------------------------------- streaming */

enum sm_http_wait sm_http_stream_wait(struct sm_http_stream *s, int fd, int timeout_ms)
{
    int64_t deadline = monotonic_us() + (int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000;
    for (;;) {
        struct pollfd pfd[3] = {
            {.fd = s->srv->stop_pipe[0], .events = POLLIN},
            {.fd = s->client_fd, .events = POLLRDHUP},
            {.fd = fd, .events = POLLIN},
        };
        int64_t left_us = deadline - monotonic_us();
        int left_ms = left_us > 0 ? (int)((left_us + 999) / 1000) : 0;
        int rc = poll(pfd, fd >= 0 ? 3 : 2, left_ms);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return SM_HTTP_WAIT_CLOSED;
        if (pfd[0].revents != 0 || (pfd[1].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0)
            return SM_HTTP_WAIT_CLOSED;
        if (fd >= 0 && pfd[2].revents != 0)
            return SM_HTTP_WAIT_READY;
        if (rc == 0 && left_ms == 0)
            return SM_HTTP_WAIT_TIMEOUT;
        if (rc == 0 && monotonic_us() >= deadline)
            return SM_HTTP_WAIT_TIMEOUT;
    }
}

struct sm_store *sm_http_stream_store(struct sm_http_stream *s, struct sm_err *err)
{
    if (s->store == NULL)
        s->store = sm__server_store_borrow(s->srv, err);
    return s->store;
}

/* MHD's content reader: hands over pending bytes, asking fn for more when they run out. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct sm_http_stream *s = cls;
    for (;;) {
        if (s->sent < s->pending.len) {
            size_t n = s->pending.len - s->sent;
            if (n > max)
                n = max;
            memcpy(buf, s->pending.data + s->sent, n);
            s->sent += n;
            return (ssize_t)n;
        }
        if (s->is_ended)
            return MHD_CONTENT_READER_END_OF_STREAM;
        sm_buf_reset(&s->pending);
        s->sent = 0;
        int rc = s->fn(s->ctx, s, &s->pending);
        sm__server_store_return(s->srv, s->store);
        s->store = NULL;
        if (rc < 0) {
            log_line(s->srv, "stream callback failed: %s", sm_err_name(rc));
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (rc == SM_HTTP_STREAM_END)
            s->is_ended = true;
        /* Nothing to send: end rather than spin when the server stops or the client left. */
        if (s->pending.len == 0 && !s->is_ended &&
            sm_http_stream_wait(s, -1, 0) == SM_HTTP_WAIT_CLOSED)
            s->is_ended = true;
    }
}

static void stream_free(void *cls)
{
    struct sm_http_stream *s = cls;
    struct sm_server *srv = s->srv;
    if (s->free_ctx != NULL)
        s->free_ctx(s->ctx);
    sm__server_store_return(srv, s->store);
    sm_buf_release(&s->pending);
    sm_free(s);
    pthread_mutex_lock(&srv->stream_mu);
    srv->n_streams--;
    pthread_cond_broadcast(&srv->stream_done);
    pthread_mutex_unlock(&srv->stream_mu);
}

/* Wait up to STREAM_DRAIN_MS for every stream to end (they were told to by the stop pipe), so
 * their clients get the final chunk rather than a cut connection. */
static void drain_streams(struct sm_server *srv)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += STREAM_DRAIN_MS / 1000;
    pthread_mutex_lock(&srv->stream_mu);
    while (srv->n_streams > 0) {
        if (pthread_cond_timedwait(&srv->stream_done, &srv->stream_mu, &deadline) != 0)
            break;
    }
    pthread_mutex_unlock(&srv->stream_mu);
}

/* ------------------------------------------------------------- responses */

static const char *lookup_header(void *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* Turn resp into an MHD response and queue it. Takes over resp's fd and stream. */
static enum MHD_Result send_resp(struct conn_req *cr, struct MHD_Connection *conn,
                                 struct sm_http_resp *resp)
{
    struct MHD_Response *r = NULL;
    switch (resp->kind) {
    case SM_HTTP_RESP_BUFFER: {
        size_t len = resp->body.len;
        char *data = sm_buf_detach(&resp->body, &len);
        r = MHD_create_response_from_buffer_with_free_callback(len, data, sm_free);
        if (r == NULL)
            sm_free(data);
        break;
    }
    case SM_HTTP_RESP_FILE:
        r = MHD_create_response_from_fd64(resp->file_bytes, resp->fd);
        if (r != NULL)
            resp->fd = -1; /* MHD closes it */
        break;
    case SM_HTTP_RESP_STREAM: {
        struct sm_http_stream *s = sm_xcalloc(1, sizeof(*s));
        s->srv = cr->srv;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        s->client_fd = ci != NULL ? ci->connect_fd : -1;
        s->fn = resp->stream_fn;
        s->ctx = resp->stream_ctx;
        s->free_ctx = resp->stream_free;
        sm_buf_init(&s->pending, STREAM_CHUNK_MAX_BYTES);
        resp->stream_free = NULL; /* s owns ctx now */
        resp->stream_ctx = NULL;
        pthread_mutex_lock(&cr->srv->stream_mu);
        cr->srv->n_streams++;
        pthread_mutex_unlock(&cr->srv->stream_mu);
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK_BYTES, stream_read, s,
                                              stream_free);
        if (r == NULL)
            stream_free(s);
        break;
    }
    }
    if (r == NULL) {
        sm__http_textf(cr->detail, sizeof(cr->detail), "cannot create the response");
        return MHD_NO;
    }
    if (resp->content_type[0] != '\0')
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    for (size_t i = 0; i < resp->n_headers; i++)
        MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
    if (resp->kind == SM_HTTP_RESP_STREAM)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    cr->status = resp->status;
    if (resp->log_detail[0] != '\0' && cr->detail[0] == '\0')
        sm__http_textf(cr->detail, sizeof(cr->detail), "%s", resp->log_detail);
    cr->stage = STAGE_DONE;
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_error(struct conn_req *cr, struct MHD_Connection *conn, int status,
                                  const char *allow, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static enum MHD_Result send_error(struct conn_req *cr, struct MHD_Connection *conn, int status,
                                  const char *allow, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct sm_http_resp resp;
    sm__http_resp_init(&resp);
    sm_http_error(&resp, status, "%s", msg);
    if (allow != NULL)
        sm_http_add_header(&resp, "Allow", allow);
    enum MHD_Result ok = send_resp(cr, conn, &resp);
    sm__http_resp_release(&resp);
    return ok;
}

/* -------------------------------------------------------------- requests */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)conn;
    struct conn_req *cr = sm_xcalloc(1, sizeof(*cr));
    cr->srv = cls;
    cr->start_us = monotonic_us();
    size_t n = strlen(uri) + 1;
    cr->raw = sm_xmalloc(n);
    memcpy(cr->raw, uri, n);
    sm_buf_init(&cr->body, cr->srv->max_body_bytes);
    return cr;
}

/* Headers are in: parse, route, check the announced body size. */
static enum MHD_Result begin(struct conn_req *cr, struct MHD_Connection *conn, const char *method)
{
    snprintf(cr->method_text, sizeof(cr->method_text), "%s", method);
    cr->method = sm_http_method_parse(method);
    if (cr->method == 0)
        return send_error(cr, conn, 501, NULL, "method '%s' is not supported", cr->method_text);

    struct sm_err err = SM_ERR_INIT;
    if (sm__http_target_parse(&cr->target, cr->raw, strlen(cr->raw), &err) != 0)
        return send_error(cr, conn, 400, NULL, "%s", err.msg);

    unsigned allowed = 0;
    cr->route = sm__http_router_match(cr->srv->router, cr->method, &cr->target, cr->params,
                                      &cr->n_params, &allowed);
    if (cr->route == NULL && allowed != 0) {
        char methods[96];
        sm__http_methods_text(allowed, methods, sizeof(methods));
        return send_error(cr, conn, 405, methods, "method %s is not allowed on '%s'; use %s",
                          cr->method_text, cr->target.path, methods);
    }
    if (cr->route == NULL)
        return send_error(cr, conn, 404, NULL, "no endpoint for %s '%s'", cr->method_text,
                          cr->target.path);
    if (cr->srv->authenticate && (cr->route->flags & SM_HTTP_ROUTE_PUBLIC) == 0) {
        /* Before the body is read: a request without a valid key costs no more than this. */
        const char *key = lookup_header(conn, "X-API-KEY");
        int rc = sm__auth_user(cr->srv, key, cr->user_id, &err);
        sm__http_textf(cr->detail, sizeof(cr->detail), "%s", err.msg);
        if (rc == SM_ENOTFOUND)
            return send_error(cr, conn, 401, NULL, SM_AUTH_MISSING_KEY);
        if (rc != 0)
            return send_error(cr, conn, rc == SM_EBUSY ? 503 : 500, NULL,
                              "cannot check the API key: the store failed; the server log has "
                              "the detail");
    }

    const char *length =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length != NULL) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(length, &end, 10);
        if (errno == 0 && end != length && n > cr->srv->max_body_bytes)
            return send_error(cr, conn, 413, NULL,
                              "request body of %llu bytes is larger than the limit of %zu bytes; "
                              "send less, or raise SEMATIC_SERVER_MAX_BODY_BYTES for the server",
                              n, cr->srv->max_body_bytes);
    }
    cr->stage = STAGE_BODY;
    return MHD_YES;
}

static enum MHD_Result dispatch(struct conn_req *cr, struct MHD_Connection *conn,
                                const char *method)
{
    struct sm_http_req req = {
        .method = cr->method == SM_HTTP_HEAD ? SM_HTTP_GET : cr->method,
        .is_head = cr->method == SM_HTTP_HEAD,
        .target = &cr->target,
        .n_params = cr->n_params,
        .user_id = cr->user_id[0] != '\0' ? cr->user_id : NULL,
        .body = cr->body.data != NULL ? cr->body.data : "",
        .body_len = cr->body.len,
        .server = cr->srv,
        .conn = conn,
        .header_fn = lookup_header,
    };
    (void)method;
    memcpy(req.params, cr->params, sizeof(req.params));
    struct sm_http_resp resp;
    sm__http_resp_init(&resp);
    int rc = cr->route->handler(&req, &resp);
    sm__server_store_return(cr->srv, req.store);

    if (rc != 0 && resp.status < 400) {
        sm__http_textf(resp.log_detail, sizeof(resp.log_detail), "handler failed: %s",
                       sm_err_name(rc));
        sm_http_error(&resp, 500, "internal error; the server log has the detail");
    } else if (rc == 0 && resp.status == 0) {
        sm__http_textf(resp.log_detail, sizeof(resp.log_detail), "handler set no response");
        sm_http_error(&resp, 500, "internal error; the server log has the detail");
    }
    if (resp.is_json) {
        struct sm_err err = SM_ERR_INIT;
        if (sm_jw_finish(&resp.jw, &err) != 0) {
            sm__http_textf(resp.log_detail, sizeof(resp.log_detail),
                           "cannot encode the response: %s", err.msg);
            sm_http_error(&resp, 500, "internal error; the server log has the detail");
        }
    }
    enum MHD_Result ok = send_resp(cr, conn, &resp);
    sm__http_resp_release(&resp);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    (void)version;
    struct conn_req *cr = *req_cls;
    if (cr == NULL) { /* MHD always calls on_uri first; this is a guard */
        cr = on_uri(cls, url, conn);
        *req_cls = cr;
    }
    switch (cr->stage) {
    case STAGE_NEW:
        return begin(cr, conn, method);
    case STAGE_BODY:
        if (*upload_data_size > 0) {
            if (!cr->is_too_big && sm_buf_add(&cr->body, upload_data, *upload_data_size) != 0)
                cr->is_too_big = true; /* the buffer is emptied; the rest is read and dropped */
            *upload_data_size = 0;
            return MHD_YES;
        }
        if (cr->is_too_big)
            return send_error(cr, conn, 413, NULL,
                              "request body is larger than the limit of %zu bytes; send less, or "
                              "raise SEMATIC_SERVER_MAX_BODY_BYTES for the server",
                              cr->srv->max_body_bytes);
        return dispatch(cr, conn, method);
    case STAGE_DONE:
        *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    struct sm_server *srv = cls;
    struct conn_req *cr = *req_cls;
    if (cr == NULL)
        return;
    *req_cls = NULL;
    char path[LOG_PATH_MAX];
    sm__http_sanitize(cr->target.raw_path != NULL ? cr->target.raw_path : cr->raw, path,
                      sizeof(path));
    char *q = strchr(path, '?');
    if (cr->target.raw_path == NULL && q != NULL)
        *q = '\0';
    char status[16];
    if (cr->status > 0)
        snprintf(status, sizeof(status), "%d", cr->status);
    else
        snprintf(status, sizeof(status), "-");
    const char *how = "";
    if (toe == MHD_REQUEST_TERMINATED_WITH_ERROR || toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT)
        how = " (connection closed early)";
    else if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
        how = " (timed out)";
    else if (toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN)
        how = " (server stopping)";
    log_line(srv, "%s %s %s %lldus%s%s%s", cr->method_text[0] != '\0' ? cr->method_text : "-", path,
             status, (long long)(monotonic_us() - cr->start_us), how,
             cr->detail[0] != '\0' ? " " : "", cr->detail);
    sm__http_target_release(&cr->target);
    sm_buf_release(&cr->body);
    sm_free(cr->raw);
    sm_free(cr);
}

/* ------------------------------------------------------------- lifecycle */

int sm_server_listen(const char *host, int port, int *fd_out, struct sm_err *err)
{
    *fd_out = -1;
    if (host == NULL)
        host = SM_SERVER_DEFAULT_HOST;
    if (port < 0 || port > 65535)
        return sm_errf(err, SM_EINVAL, "port %d is out of range; give a port from 1 to 65535",
                       port);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (strcmp(host, "localhost") == 0)
        host = SM_SERVER_DEFAULT_HOST;
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return sm_errf(err, SM_EINVAL,
                       "host '%s' is not an IPv4 address; give one such as 127.0.0.1", host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sm_errf(err, SM_EIO, "cannot create a socket: %s", strerror(errno));
    /* Lets a restarted server bind at once while old connections sit in TIME_WAIT; it never
     * lets two servers listen on one port. */
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int e = errno;
        close(fd);
        if (e == EADDRINUSE)
            return sm_errf(err, SM_EBUSY,
                           "port %d on %s is already in use by another program; stop that "
                           "program, or start on another port with 'sematic start --port PORT' "
                           "(or SEMATIC_SERVER_PORT)",
                           port, host);
        return sm_errf(err, SM_EIO, "cannot listen on %s:%d: %s", host, port, strerror(e));
    }
    if (listen(fd, 128) != 0) {
        int e = errno;
        close(fd);
        return sm_errf(err, SM_EIO, "cannot listen on %s:%d: %s", host, port, strerror(e));
    }
    *fd_out = fd;
    return 0;
}

static char *copy_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = sm_xmalloc(n);
    memcpy(c, s, n);
    return c;
}

/* The real path of ui_dir when it holds index.html, else NULL (logged). */
static char *find_ui_root(const struct sm_server *srv, const char *ui_dir)
{
    if (ui_dir == NULL || ui_dir[0] == '\0') {
        log_line(srv, "no dashboard build found: '/' shows how to build it");
        return NULL;
    }
    char *root = realpath(ui_dir, NULL);
    if (root == NULL) {
        log_line(srv, "dashboard directory '%s' cannot be used: %s; '/' shows how to build it",
                 ui_dir, strerror(errno));
        return NULL;
    }
    char index[4200];
    sm__http_textf(index, sizeof(index), "%s/index.html", root);
    if (access(index, R_OK) != 0) {
        log_line(srv, "dashboard directory '%s' has no index.html; '/' shows how to build it",
                 root);
        free(root);
        return NULL;
    }
    char *copy = copy_string(root);
    free(root); /* from realpath: the C library's allocator */
    return copy;
}

struct sm_server *sm_server_start(const struct sm_server_config *cfg, struct sm_err *err)
{
    int listen_fd = cfg->listen_fd;
    struct sm_server *srv = sm_xcalloc(1, sizeof(*srv));
    srv->log_fd = cfg->log_fd;
    srv->authenticate = cfg->authenticate;
    srv->count_cache = sm__count_cache_new();
    srv->stop_pipe[0] = srv->stop_pipe[1] = -1;
    srv->max_body_bytes =
        cfg->max_body_bytes > 0 ? cfg->max_body_bytes : SM_SERVER_DEFAULT_MAX_BODY_BYTES;
    pthread_mutex_init(&srv->pool_mu, NULL);
    pthread_mutex_init(&srv->stream_mu, NULL);
    pthread_cond_init(&srv->stream_done, NULL);
    if (cfg->home == NULL || cfg->home[0] == '\0') {
        sm_errf(err, SM_EINVAL, "the server needs a store home directory");
        goto fail;
    }
    srv->home = copy_string(cfg->home);

    unsigned skip = cfg->test_routes ? 0 : SM_HTTP_ROUTE_TEST_ONLY;
    if (sm__http_router_new(sm__server_routes, sm__server_n_routes, skip, &srv->router, err) != 0)
        goto fail;
    if (pipe2(srv->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        sm_errf(err, SM_EIO, "cannot create a pipe: %s", strerror(errno));
        goto fail;
    }
    /* Open the store once now: a store that cannot be opened stops the start, with its message. */
    struct sm_store *first = sm_store_open_sqlite(srv->home, SM_STORE_SYNC_NORMAL, err);
    if (first == NULL)
        goto fail;
    srv->idle[srv->n_idle++] = first;
    srv->ui_root = find_ui_root(srv, cfg->ui_dir);

    if (listen_fd < 0 && sm_server_listen(cfg->host, cfg->port, &listen_fd, err) != 0)
        goto fail;
    struct sockaddr_in addr;
    socklen_t addr_len = sizeof(addr);
    if (getsockname(listen_fd, (struct sockaddr *)&addr, &addr_len) == 0)
        srv->port = ntohs(addr.sin_port);

    unsigned limit = cfg->n_connections > 0 ? cfg->n_connections : SM_SERVER_DEFAULT_CONNECTIONS;
    srv->mhd = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
            MHD_USE_ERROR_LOG | MHD_USE_ITC,
        0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
        MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_CONNECTION_LIMIT, limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S, MHD_OPTION_END);
    if (srv->mhd == NULL) {
        sm_errf(err, SM_EIO,
                "cannot start the HTTP server on port %d (libmicrohttpd failed; "
                "its log line says why)",
                srv->port);
        goto fail;
    }
    log_line(srv, "serving %s on port %d (pid %d)%s", srv->home, srv->port, (int)getpid(),
             srv->authenticate ? ", API keys required (SEMATIC_AUTHENTICATE)" : "");
    return srv;

fail:
    /* MHD closes a socket it was given only once it has started. */
    if (listen_fd >= 0 && fcntl(listen_fd, F_GETFD) != -1)
        close(listen_fd);
    sm_server_stop(srv);
    return NULL;
}

int sm_server_port(const struct sm_server *srv)
{
    return srv->port;
}

bool sm_server_has_ui(const struct sm_server *srv)
{
    return srv->ui_root != NULL;
}

void sm_server_stop(struct sm_server *srv)
{
    if (srv == NULL)
        return;
    if (srv->stop_pipe[1] >= 0) {
        ssize_t w = write(srv->stop_pipe[1], "x", 1); /* wakes every waiting stream */
        (void)w;
    }
    if (srv->mhd != NULL) {
        drain_streams(srv);
        MHD_stop_daemon(srv->mhd);
        log_line(srv, "stopped");
    }
    for (size_t i = 0; i < srv->n_idle; i++)
        sm_store_close(srv->idle[i]);
    sm__http_router_free(srv->router);
    sm__count_cache_free(srv->count_cache);
    for (int i = 0; i < 2; i++)
        if (srv->stop_pipe[i] >= 0)
            close(srv->stop_pipe[i]);
    pthread_mutex_destroy(&srv->pool_mu);
    pthread_mutex_destroy(&srv->stream_mu);
    pthread_cond_destroy(&srv->stream_done);
    sm_free(srv->ui_root);
    sm_free(srv->home);
    sm_free(srv);
}
