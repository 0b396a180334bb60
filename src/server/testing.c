/*
 * testing.c: endpoints that exist for the tests only (route rows flagged
 * SM_HTTP_ROUTE_TEST_ONLY, served when the server runs with
 * SEMATIC_SERVER_TEST_ROUTES=1). They drive what no real endpoint drives
 * yet: request bodies, path and query parameters, a streaming response
 * that blocks between chunks, and a handler that fails.
 */
#include <stdio.h>
#include <string.h>

#include "sematic/alloc.h"

#include "handlers.h"
#include "internal.h"

#include "util/banned.h"

/* POST /api/v1/_test/echo/:name/...: what the server made of the request (the "*rest" row). */
int sm__test_echo(struct sm_http_req *req, struct sm_http_resp *resp)
{
    struct sm_json_doc doc = {0};
    bool want_json = false;
    int rc = sm_http_query_bool(req, resp, "json", false, &want_json);
    if (rc != 0)
        return rc;
    if (want_json && (rc = sm_http_body_json(req, resp, &doc)) != 0)
        return rc;
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "params");
    sm_jw_begin_object(w);
    for (size_t i = 0; i < req->n_params; i++) {
        sm_jw_keyz(w, req->params[i].name);
        sm_jw_stringz(w, req->params[i].value);
    }
    sm_jw_end_object(w);
    sm_jw_keyz(w, "query");
    sm_jw_begin_array(w);
    for (size_t i = 0; i < req->target->n_query; i++) {
        sm_jw_begin_array(w);
        sm_jw_stringz(w, req->target->query[i].name);
        sm_jw_stringz(w, req->target->query[i].value);
        sm_jw_end_array(w);
    }
    sm_jw_end_array(w);
    sm_jw_keyz(w, "path");
    sm_jw_stringz(w, req->target->path);
    sm_jw_keyz(w, "body_bytes");
    sm_jw_int(w, (int64_t)req->body_len);
    sm_jw_keyz(w, "content_type");
    sm_jw_stringz(w, sm_http_header(req, "content-type"));
    if (want_json) {
        sm_jw_keyz(w, "json_kind");
        sm_jw_int(w, (int64_t)doc.root->kind);
    }
    sm_jw_end_object(w);
    sm_json_doc_release(&doc);
    return 0;
}

struct ticks {
    int64_t count;       /* events to send; 0: until the client leaves or the server stops */
    int64_t interval_ms; /* wait before each event after the first */
    int64_t sent;
};

static int ticks_next(void *ctx, struct sm_http_stream *s, struct sm_buf *out)
{
    struct ticks *t = ctx;
    if (t->count > 0 && t->sent >= t->count)
        return SM_HTTP_STREAM_END;
    if (t->sent > 0) {
        enum sm_http_wait w = sm_http_stream_wait(s, -1, (int)t->interval_ms);
        if (w == SM_HTTP_WAIT_CLOSED)
            return SM_HTTP_STREAM_END;
    }
    sm_buf_addf(out, "id: %lld\nevent: tick\ndata: {\"n\":%lld}\n\n", (long long)t->sent,
                (long long)t->sent);
    t->sent++;
    return t->count > 0 && t->sent >= t->count ? SM_HTTP_STREAM_END : SM_HTTP_STREAM_MORE;
}

/* GET /api/v1/_test/ticks?count=N&interval_ms=M: server-sent events, N of them, M ms apart. */
int sm__test_ticks(struct sm_http_req *req, struct sm_http_resp *resp)
{
    int64_t count, interval_ms;
    int rc = sm_http_query_int(req, resp, "count", 3, 0, 1000000, &count);
    if (rc == 0)
        rc = sm_http_query_int(req, resp, "interval_ms", 10, 0, 60000, &interval_ms);
    if (rc != 0)
        return rc;
    struct ticks *t = sm_xcalloc(1, sizeof(*t));
    t->count = count;
    t->interval_ms = interval_ms;
    return sm_http_stream(resp, 200, "text/event-stream", ticks_next, t, sm_free);
}

/* GET /api/v1/_test/fail: a handler that fails without a response (the client sees a bare 500). */
int sm__test_fail(struct sm_http_req *req, struct sm_http_resp *resp)
{
    (void)resp;
    sm_http_log(req, "failing on purpose (secret detail 1234)");
    return SM_EIO;
}
