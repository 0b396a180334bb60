/*
 * fuzz_http.c: libFuzzer target over what the server does with a client's
 * bytes before any handler runs (src/server/request.c, router.c) and the
 * JSON reader request bodies go through. Built and run by `make fuzz`
 * (FUZZ_SECONDS, default 300) and, briefly, by `make test`; seeds in
 * fuzz/corpus/http.
 *
 * The first byte picks what the rest is fed to:
 *   0  a request target: parsed, routed (on a table like the server's),
 *      the "*path" value turned into a static file path, query values
 *      looked up and parsed as integers and booleans, and as the events
 *      stream's parameters, id lists and event data (events_fmt.c);
 *   1  a route pattern: compiled, then matched against fixed targets;
 *   2  a JSON document (sm_http_body_json, sm_json_parse);
 *   3  a Socket.IO polling payload (socketio_proto.c): split into Engine.IO
 *      packets, messages parsed as Socket.IO packets, namespaces looked up;
 * later parsers (run filters, ...) get the next values.
 *
 * Beyond "no crash, no sanitizer report", each mode checks the contracts
 * the rest of the server relies on, and aborts when one breaks: decoded
 * segments never hold '/' or NUL and are never "." or ".."; the decoded
 * path is "/" and the segments joined by '/'; a static path never starts
 * with '/', never holds "//" or a hidden segment; a matched row's
 * parameters are the pattern's; a parsed packet lies inside its payload,
 * its namespace starts with '/', holds no control character and fits.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sematic/alloc.h"

#include "events.h"
#include "internal.h"
#include "socketio.h"

#include "util/banned.h"

static int handler(struct sm_http_req *req, struct sm_http_resp *resp)
{
    (void)req;
    (void)resp;
    return 0;
}

static const struct sm_http_route table[] = {
    {SM_HTTP_GET, "/api/v1/ping", handler, 0},
    {SM_HTTP_GET, "/api/v1/runs/:id", handler, 0},
    {SM_HTTP_PUT, "/api/v1/runs/:id", handler, 0},
    {SM_HTTP_GET, "/api/v1/runs/:id/graph", handler, 0},
    {SM_HTTP_GET, "/api/v1/storage/:ns/*key", handler, 0},
    {SM_HTTP_POST, "/api/v1/_test/echo/:name/*rest", handler, SM_HTTP_ROUTE_TEST_ONLY},
    {SM_HTTP_GET, "/authenticate", handler, 0},
    {SM_HTTP_ANY, "/api/*rest", handler, SM_HTTP_ROUTE_FALLBACK},
    {SM_HTTP_GET, "/*path", handler, SM_HTTP_ROUTE_FALLBACK},
};

static const enum sm_http_method methods[] = {SM_HTTP_GET,    SM_HTTP_HEAD,   SM_HTTP_POST,
                                              SM_HTTP_PUT,    SM_HTTP_DELETE, SM_HTTP_PATCH,
                                              SM_HTTP_OPTIONS};

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_http: contract broken: %s (%s:%d)\n", #cond, __FILE__,           \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_target(const struct sm_http_target *t)
{
    CHECK(t->path[0] == '/');
    size_t at = 1;
    for (size_t i = 0; i < t->n_segments; i++) {
        const char *seg = t->segments[i];
        size_t n = strlen(seg);
        CHECK(strchr(seg, '/') == NULL);
        CHECK(strcmp(seg, ".") != 0 && strcmp(seg, "..") != 0);
        CHECK(sm__http_is_utf8(seg, n));
        if (i > 0) {
            CHECK(t->path[at] == '/');
            at++;
        }
        CHECK(t->seg_offsets[i] == at);
        CHECK(memcmp(t->path + at, seg, n) == 0);
        at += n;
    }
    CHECK(t->path[at] == '\0');
    for (size_t i = 0; i < t->n_query; i++) {
        CHECK(sm__http_is_utf8(t->query[i].name, strlen(t->query[i].name)));
        CHECK(sm__http_is_utf8(t->query[i].value, strlen(t->query[i].value)));
    }
    CHECK(t->n_query <= SM_HTTP_MAX_QUERY);
}

static void check_static(const char *rel)
{
    char out[SM_HTTP_STATIC_REL_MAX + 2];
    if (sm__http_static_relpath(rel, out, sizeof(out)) != 0)
        return;
    CHECK(out[0] != '/');
    CHECK(strstr(out, "//") == NULL);
    CHECK(strstr(out, "/.") == NULL && out[0] != '.');
    CHECK(strchr(out, '\\') == NULL);
    (void)sm__http_static_is_asset(out);
    (void)sm__http_content_type(out);
}

/*
 * A query value as GET /api/v1/events takes it (events_fmt.c): kinds,
 * after / Last-Event-ID, root_id; then as an id list, and as the data of an
 * event and a comment, whose text must stay one event (no blank line before
 * its end) with every line a field or a comment.
 */
static void check_events_value(const char *value)
{
    struct sm_err err = SM_ERR_INIT;
    unsigned mask = 0;
    if (sm__events_parse_kinds(value, &mask, &err) == 0)
        CHECK(mask != 0 && (mask & ~(unsigned)SM_EVENTS_ALL) == 0);
    else
        CHECK(mask == 0 && err.code == SM_EINVAL && sm__http_is_utf8(err.msg, strlen(err.msg)));
    sm_err_clear(&err);
    int64_t seq = -1;
    if (sm__events_parse_seq("after", value, &seq, &err) == 0) {
        const char *digits = value;
        while (digits[0] == '0' && digits[1] != '\0')
            digits++;
        char text[32];
        snprintf(text, sizeof(text), "%lld", (long long)seq);
        CHECK(seq >= 0 && strcmp(text, digits) == 0);
    } else {
        CHECK(seq == 0 && err.code == SM_EINVAL && sm__http_is_utf8(err.msg, strlen(err.msg)));
    }
    sm_err_clear(&err);
    char root[SM_ID_HEX_LEN + 1];
    if (sm__events_parse_root(value, root, &err) == 0)
        CHECK(strcmp(root, value) == 0);
    sm_err_clear(&err);
    char id[SM_ID_HEX_LEN + 1];
    size_t pos = 0, before = 0, len = strlen(value);
    while (sm__events_next_id(value, &pos, id)) {
        CHECK(pos > before && pos <= len && strlen(id) == SM_ID_HEX_LEN);
        before = pos;
    }
    CHECK(pos == len);
    struct sm_buf out = SM_BUF_INIT(1 << 20);
    CHECK(sm__sse_event(&out, seq, "runs", value, len) == 0);
    CHECK(sm__sse_comment(&out, value) == 0);
    const char *end = strstr(out.data, "\n\n");
    CHECK(end != NULL && (size_t)(end - out.data) + 2 <= out.len);
    CHECK(strstr(end + 2, "\n\n") == out.data + out.len - 2); /* two blocks, no more */
    for (const char *line = out.data; line < out.data + out.len;) {
        const char *nl = strchr(line, '\n');
        CHECK(nl != NULL && memchr(line, '\r', (size_t)(nl - line)) == NULL);
        CHECK(nl == line || line[0] == ':' || strncmp(line, "id: ", 4) == 0 ||
              strncmp(line, "event: ", 7) == 0 || strncmp(line, "data: ", 6) == 0);
        line = nl + 1;
    }
    sm_buf_release(&out);
}

static void fuzz_target(const struct sm_http_router *router, const char *data, size_t size)
{
    struct sm_http_target t;
    struct sm_err err = SM_ERR_INIT;
    if (sm__http_target_parse(&t, data, size, &err) != 0) {
        CHECK(t.mem == NULL && err.code == SM_EINVAL && err.msg[0] != '\0');
        char clean[300];
        sm__http_sanitize(err.msg, clean, sizeof(clean)); /* as the error response does */
        CHECK(sm__http_is_utf8(clean, strlen(clean)));
        return;
    }
    check_target(&t);
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        struct sm_http_kv params[SM_HTTP_MAX_PARAMS];
        size_t n_params = 0;
        unsigned allowed = 0;
        const struct sm_http_route *row =
            sm__http_router_match(router, methods[i], &t, params, &n_params, &allowed);
        if (row == NULL) {
            char text[96];
            sm__http_methods_text(allowed, text, sizeof(text));
            continue;
        }
        CHECK(allowed == 0);
        CHECK(n_params <= SM_HTTP_MAX_PARAMS);
        for (size_t k = 0; k < n_params; k++) {
            CHECK(params[k].name != NULL && params[k].value != NULL);
            CHECK(strstr(row->pattern, params[k].name) != NULL);
        }
        if (row->handler == handler && strcmp(row->pattern, "/*path") == 0)
            check_static(params[0].value);
    }
    struct sm_http_req req = {.method = SM_HTTP_GET, .target = &t};
    struct sm_http_resp resp;
    sm__http_resp_init(&resp);
    for (size_t i = 0; i < t.n_query && i < 8; i++) {
        int64_t v;
        bool b;
        (void)sm_http_query_int(&req, &resp, t.query[i].name, 0, -1000, 1000, &v);
        (void)sm_http_query_bool(&req, &resp, t.query[i].name, false, &b);
        check_events_value(t.query[i].value);
    }
    if (resp.is_json) {
        struct sm_err jerr = SM_ERR_INIT;
        CHECK(sm_jw_finish(&resp.jw, &jerr) == 0); /* error bodies always encode */
    }
    sm__http_resp_release(&resp);
    sm__http_target_release(&t);
}

static void fuzz_pattern(const char *data, size_t size)
{
    char *pattern = sm_xmalloc(size + 1);
    memcpy(pattern, data, size);
    pattern[size] = '\0';
    struct sm_http_route rows[] = {
        {SM_HTTP_GET, pattern, handler, 0},
        {SM_HTTP_ANY, "/*rest", handler, SM_HTTP_ROUTE_FALLBACK},
    };
    struct sm_http_router *r = NULL;
    struct sm_err err = SM_ERR_INIT;
    if (sm__http_router_new(rows, 2, 0, &r, &err) == 0) {
        static const char *const targets[] = {
            "/", "/a", "/a/b", "/api/v1/runs/x/graph", "/x/y/z/w/v/u/t/s/r", "/a//b/", "/%41?x=1"};
        for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
            struct sm_http_target t;
            if (sm__http_target_parse(&t, targets[i], strlen(targets[i]), &err) != 0)
                abort();
            struct sm_http_kv params[SM_HTTP_MAX_PARAMS];
            size_t n_params;
            unsigned allowed;
            const struct sm_http_route *row =
                sm__http_router_match(r, SM_HTTP_GET, &t, params, &n_params, &allowed);
            CHECK(row != NULL); /* the fallback catches whatever the pattern does not */
            sm__http_target_release(&t);
        }
        sm__http_router_free(r);
    } else {
        CHECK(r == NULL && err.msg[0] != '\0');
    }
    sm_free(pattern);
}

static void fuzz_json(const char *data, size_t size)
{
    struct sm_http_req req = {.method = SM_HTTP_POST, .body = data, .body_len = size};
    struct sm_http_resp resp;
    sm__http_resp_init(&resp);
    struct sm_json_doc doc = {0};
    if (sm_http_body_json(&req, &resp, &doc) == 0)
        CHECK(doc.root != NULL);
    else
        CHECK(resp.status == 400);
    sm_json_doc_release(&doc);
    sm__http_resp_release(&resp);
}

static void fuzz_socketio(const char *data, size_t size)
{
    size_t at = 0, n_packets = 0;
    for (;;) {
        struct sm_eio_packet p;
        struct sm_err err = SM_ERR_INIT;
        size_t before = at;
        int rc = sm__eio_next_packet(data, size, &at, &p, &err);
        if (rc < 0) {
            CHECK(rc == SM_EINVAL && err.msg[0] != '\0');
            return;
        }
        if (rc == 0)
            break;
        CHECK(at > before && at <= size && ++n_packets <= size);
        CHECK(p.data >= data + before && p.data + p.len <= data + at);
        CHECK(p.type >= SM_EIO_OPEN && p.type <= SM_EIO_NOOP);
        if (p.type != SM_EIO_MESSAGE || p.is_binary)
            continue;
        struct sm_sio_packet m;
        if (sm__sio_packet_parse(p.data, p.len, &m, &err) != 0) {
            CHECK(err.msg[0] != '\0');
            continue;
        }
        size_t nsp_len = strlen(m.nsp);
        CHECK(m.nsp[0] == '/' && nsp_len <= SM_SIO_NSP_MAX);
        for (size_t i = 0; i < nsp_len; i++)
            CHECK((unsigned char)m.nsp[i] >= 0x20 && m.nsp[i] != 0x7f && m.nsp[i] != ',');
        CHECK(m.ack_id >= -1 && m.ack_id < ((int64_t)1 << 53));
        CHECK(m.data >= p.data && m.data + m.len == p.data + p.len);
        int index = sm__sio_nsp_index(m.nsp);
        CHECK(index == -1 || strcmp(sm__sio_nsp_name(index), m.nsp) == 0);
        /* The namespace may be echoed back (a connect error): it must be clean text. */
        CHECK(sm__http_is_utf8(m.nsp, nsp_len));
        struct sm_buf out = SM_BUF_INIT(1 << 16);
        CHECK(sm__sio_connect_error_packet(&out, m.nsp, "Invalid namespace") == 0);
        sm_buf_release(&out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sm_http_router *router;
    if (router == NULL) {
        struct sm_err err = SM_ERR_INIT;
        if (sm__http_router_new(table, sizeof(table) / sizeof(table[0]), 0, &router, &err) != 0)
            abort();
    }
    if (size == 0)
        return 0;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0:
        fuzz_target(router, rest, n);
        break;
    case 1:
        fuzz_pattern(rest, n);
        break;
    case 2:
        fuzz_json(rest, n);
        break;
    default:
        fuzz_socketio(rest, n);
        break;
    }
    return 0;
}
