/*
 * response.c: the helpers handlers use (http.h): reading path, query and
 * body parameters with 400s that name what was wrong, and filling a
 * struct sm_http_resp (JSON bodies through the canonical writer, errors,
 * bytes, files, streams). Nothing here knows MHD; server.c turns the
 * finished struct sm_http_resp into an MHD response.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sematic/alloc.h"

#include "internal.h"

#include "util/banned.h"

/* ------------------------------------------------------------- requests */

const char *sm_http_param(const struct sm_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->n_params; i++)
        if (strcmp(req->params[i].name, name) == 0)
            return req->params[i].value;
    return NULL;
}

const char *sm_http_query(const struct sm_http_req *req, const char *name)
{
    if (req->target == NULL)
        return NULL;
    for (size_t i = 0; i < req->target->n_query; i++)
        if (strcmp(req->target->query[i].name, name) == 0)
            return req->target->query[i].value;
    return NULL;
}

int sm_http_query_int(const struct sm_http_req *req, struct sm_http_resp *resp, const char *name,
                      int64_t dflt, int64_t min, int64_t max, int64_t *out)
{
    const char *text = sm_http_query(req, name);
    if (text == NULL) {
        *out = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
        char shown[64];
        sm__http_sanitize(text, shown, sizeof(shown));
        sm_http_error(resp, 400,
                      "query parameter '%s' must be an integer from %lld to %lld, got '%s'", name,
                      (long long)min, (long long)max, shown);
        return SM_EINVAL;
    }
    *out = v;
    return 0;
}

int sm_http_query_bool(const struct sm_http_req *req, struct sm_http_resp *resp, const char *name,
                       bool dflt, bool *out)
{
    const char *text = sm_http_query(req, name);
    if (text == NULL) {
        *out = dflt;
        return 0;
    }
    static const char *const yes[] = {"1", "true", "yes"};
    static const char *const no[] = {"0", "false", "no"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    char shown[64];
    sm__http_sanitize(text, shown, sizeof(shown));
    sm_http_error(resp, 400, "query parameter '%s' must be true or false (or 1 or 0), got '%s'",
                  name, shown);
    return SM_EINVAL;
}

const char *sm_http_header(const struct sm_http_req *req, const char *name)
{
    if (req->header_fn == NULL)
        return NULL;
    return req->header_fn(req->conn, name);
}

int sm_http_body_json(const struct sm_http_req *req, struct sm_http_resp *resp,
                      struct sm_json_doc *doc)
{
    struct sm_err err = SM_ERR_INIT;
    if (req->body_len == 0) {
        sm_http_error(resp, 400, "the request body is empty; send a JSON document");
        return SM_EINVAL;
    }
    if (sm_json_parse(doc, req->body, req->body_len, &err) != 0) {
        sm_http_error(resp, 400, "the request body is not valid JSON: %s", err.msg);
        return SM_EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------------ responses */

void sm__http_resp_init(struct sm_http_resp *resp)
{
    memset(resp, 0, sizeof(*resp));
    sm_buf_init(&resp->body, SM_HTTP_MAX_RESPONSE_BYTES);
    resp->fd = -1;
}

/* Drop the body, the file and the stream; keep the headers. */
static void drop_body(struct sm_http_resp *resp)
{
    sm_buf_release(&resp->body);
    resp->is_json = false;
    if (resp->fd >= 0)
        close(resp->fd);
    resp->fd = -1;
    resp->file_bytes = 0;
    if (resp->stream_free != NULL)
        resp->stream_free(resp->stream_ctx);
    resp->stream_fn = NULL;
    resp->stream_ctx = NULL;
    resp->stream_free = NULL;
    resp->kind = SM_HTTP_RESP_BUFFER;
}

void sm__http_resp_release(struct sm_http_resp *resp)
{
    drop_body(resp);
    for (size_t i = 0; i < resp->n_headers; i++) {
        sm_free(resp->headers[i].name);
        sm_free(resp->headers[i].value);
    }
    sm_free(resp->headers);
    resp->headers = NULL;
    resp->n_headers = resp->cap_headers = 0;
}

static void set_type(struct sm_http_resp *resp, const char *content_type)
{
    snprintf(resp->content_type, sizeof(resp->content_type), "%s", content_type);
}

struct sm_jw *sm_http_json(struct sm_http_resp *resp, int status)
{
    drop_body(resp);
    resp->status = status;
    set_type(resp, "application/json");
    resp->is_json = true;
    sm_jw_init(&resp->jw, &resp->body);
    return &resp->jw;
}

int sm_http_error(struct sm_http_resp *resp, int status, const char *fmt, ...)
{
    char msg[512], clean[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sm__http_sanitize(msg, clean, sizeof(clean));
    struct sm_jw *w = sm_http_json(resp, status);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "error");
    sm_jw_stringz(w, clean);
    sm_jw_end_object(w);
    return 0;
}

int sm_http_store_error(struct sm_http_resp *resp, const struct sm_err *err)
{
    const char *msg = err->msg[0] != '\0' ? err->msg : sm_strerror(err->code);
    switch (err->code) {
    case SM_ENOTFOUND:
        return sm_http_error(resp, 404, "%s", msg);
    case SM_EINVAL:
        return sm_http_error(resp, 400, "%s", msg);
    case SM_EBUSY:
        sm__http_textf(resp->log_detail, sizeof(resp->log_detail), "%s", msg);
        return sm_http_error(resp, 503,
                             "the store is busy (another process holds its write lock); try "
                             "again");
    default:
        sm__http_textf(resp->log_detail, sizeof(resp->log_detail), "%s: %.200s",
                       sm_err_name(err->code), msg);
        return sm_http_error(resp, 500,
                             "internal error reading the store; the server log "
                             "($SEMATIC_HOME/logs/server.log) has the detail");
    }
}

int sm_http_bytes(struct sm_http_resp *resp, int status, const char *content_type, const void *data,
                  size_t len)
{
    drop_body(resp);
    resp->status = status;
    set_type(resp, content_type);
    if (sm_buf_add(&resp->body, data, len) != 0) {
        sm__http_textf(resp->log_detail, sizeof(resp->log_detail),
                       "response of %zu bytes is too big", len);
        return sm_http_error(resp, 500, "internal error: the response is too big");
    }
    return 0;
}

void sm_http_add_header(struct sm_http_resp *resp, const char *name, const char *value)
{
    if (resp->n_headers == resp->cap_headers) {
        resp->cap_headers = resp->cap_headers > 0 ? resp->cap_headers * 2 : 4;
        resp->headers = sm_xrealloc(resp->headers, resp->cap_headers * sizeof(*resp->headers));
    }
    struct sm_http_header *h = &resp->headers[resp->n_headers++];
    size_t n = strlen(name) + 1, v = strlen(value) + 1;
    h->name = sm_xmalloc(n);
    memcpy(h->name, name, n);
    h->value = sm_xmalloc(v);
    memcpy(h->value, value, v);
}

int sm_http_file(struct sm_http_resp *resp, int status, const char *content_type, int fd,
                 uint64_t size)
{
    drop_body(resp);
    resp->status = status;
    set_type(resp, content_type);
    resp->kind = SM_HTTP_RESP_FILE;
    resp->fd = fd;
    resp->file_bytes = size;
    return 0;
}

int sm_http_stream(struct sm_http_resp *resp, int status, const char *content_type,
                   sm_http_stream_fn fn, void *ctx, sm_http_free_fn free_ctx)
{
    drop_body(resp);
    resp->status = status;
    set_type(resp, content_type);
    resp->kind = SM_HTTP_RESP_STREAM;
    resp->stream_fn = fn;
    resp->stream_ctx = ctx;
    resp->stream_free = free_ctx;
    return 0;
}
