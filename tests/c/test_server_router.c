/*
 * test_server_router.c: the server's request parsing and routing
 * (src/server/request.c, router.c), the static-file path rules (static.c)
 * and the response helpers (response.c), without a socket: what every
 * request goes through before a handler runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sematic/alloc.h"

#include "internal.h"

#include "util/banned.h"

/* ------------------------------------------------------------- helpers */

static int handler_a(struct sm_http_req *req, struct sm_http_resp *resp)
{
    (void)req;
    (void)resp;
    return 0;
}

static int handler_b(struct sm_http_req *req, struct sm_http_resp *resp)
{
    (void)req;
    (void)resp;
    return 1;
}

static const struct sm_http_route table[] = {
    {SM_HTTP_GET, "/api/v1/ping", handler_a, 0},
    {SM_HTTP_GET, "/api/v1/runs/:id", handler_a, 0},
    {SM_HTTP_PUT, "/api/v1/runs/:id", handler_b, 0},
    {SM_HTTP_GET, "/api/v1/runs/:id/graph", handler_b, 0},
    {SM_HTTP_GET, "/api/v1/storage/:ns/*key", handler_a, 0},
    {SM_HTTP_GET, "/api/v1/_test/only", handler_a, SM_HTTP_ROUTE_TEST_ONLY},
    {SM_HTTP_GET, "/", handler_b, 0},
    {SM_HTTP_ANY, "/api/*rest", handler_b, SM_HTTP_ROUTE_FALLBACK},
    {SM_HTTP_GET, "/*path", handler_a, SM_HTTP_ROUTE_FALLBACK},
};
#define N_TABLE (sizeof(table) / sizeof(table[0]))

static void parse_ok(struct sm_http_target *t, const char *raw)
{
    struct sm_err err = SM_ERR_INIT;
    int rc = sm__http_target_parse(t, raw, strlen(raw), &err);
    if (rc != 0)
        fail_msg("parsing '%s' failed: %s", raw, err.msg);
}

/* Parse raw, expect SM_EINVAL with a message containing `want`. */
static void parse_fails(const char *raw, const char *want)
{
    struct sm_http_target t;
    struct sm_err err = SM_ERR_INIT;
    int rc = sm__http_target_parse(&t, raw, strlen(raw), &err);
    if (rc != SM_EINVAL)
        fail_msg("parsing '%s' returned %d, expected SM_EINVAL", raw, rc);
    if (strstr(err.msg, want) == NULL)
        fail_msg("parsing '%s': message '%s' does not contain '%s'", raw, err.msg, want);
    assert_null(t.mem);
    sm__http_target_release(&t);
}

struct match {
    const struct sm_http_route *route;
    struct sm_http_kv params[SM_HTTP_MAX_PARAMS];
    size_t n_params;
    unsigned allowed;
};

static void match(const struct sm_http_router *r, enum sm_http_method m, const char *raw,
                  struct match *out, struct sm_http_target *t)
{
    parse_ok(t, raw);
    out->route = sm__http_router_match(r, m, t, out->params, &out->n_params, &out->allowed);
}

static struct sm_http_router *router(unsigned skip)
{
    struct sm_http_router *r = NULL;
    struct sm_err err = SM_ERR_INIT;
    int rc = sm__http_router_new(table, N_TABLE, skip, &r, &err);
    if (rc != 0)
        fail_msg("router: %s", err.msg);
    return r;
}

/* ------------------------------------------------------------- targets */

static void test_server_router__a_path_splits_into_decoded_segments(void **state)
{
    (void)state;
    struct sm_http_target t;
    parse_ok(&t, "/api/v1/runs/ab%20c/graph");
    assert_int_equal(t.n_segments, 5);
    assert_string_equal(t.segments[0], "api");
    assert_string_equal(t.segments[3], "ab c");
    assert_string_equal(t.segments[4], "graph");
    assert_string_equal(t.path, "/api/v1/runs/ab c/graph");
    assert_string_equal(t.raw_path, "/api/v1/runs/ab%20c/graph");
    assert_string_equal(t.path + t.seg_offsets[3], "ab c/graph");
    assert_int_equal(t.n_query, 0);
    assert_string_equal(t.raw_query, "");
    sm__http_target_release(&t);
}

static void test_server_router__the_root_has_no_segments_and_a_trailing_slash_one_empty(void **s)
{
    (void)s;
    struct sm_http_target t;
    parse_ok(&t, "/");
    assert_int_equal(t.n_segments, 0);
    assert_string_equal(t.path, "/");
    sm__http_target_release(&t);
    parse_ok(&t, "/runs/");
    assert_int_equal(t.n_segments, 2);
    assert_string_equal(t.segments[1], "");
    assert_string_equal(t.path, "/runs/");
    sm__http_target_release(&t);
    parse_ok(&t, "//etc/passwd");
    assert_int_equal(t.n_segments, 3);
    assert_string_equal(t.segments[0], "");
    sm__http_target_release(&t);
}

static void test_server_router__query_parameters_are_decoded_plus_as_space(void **state)
{
    (void)state;
    struct sm_http_target t;
    parse_ok(&t, "/x?a=1+2&&b=%C3%A9%2B&flag&=v&c=x=y");
    assert_int_equal(t.n_query, 5);
    assert_string_equal(t.query[0].name, "a");
    assert_string_equal(t.query[0].value, "1 2");
    assert_string_equal(t.query[1].name, "b");
    assert_string_equal(t.query[1].value, "\xc3\xa9+");
    assert_string_equal(t.query[2].name, "flag");
    assert_string_equal(t.query[2].value, "");
    assert_string_equal(t.query[3].name, "");
    assert_string_equal(t.query[3].value, "v");
    assert_string_equal(t.query[4].name, "c");
    assert_string_equal(t.query[4].value, "x=y");
    assert_string_equal(t.raw_query, "a=1+2&&b=%C3%A9%2B&flag&=v&c=x=y");
    sm__http_target_release(&t);
    /* '+' stays a '+' in the path. */
    parse_ok(&t, "/a+b?");
    assert_string_equal(t.segments[0], "a+b");
    assert_int_equal(t.n_query, 0);
    sm__http_target_release(&t);
}

static void test_server_router__bad_targets_are_refused_naming_the_problem(void **state)
{
    (void)state;
    parse_fails("/x?a=%zz", "bad %-escape '%zz' at byte 5 of the query string");
    parse_fails("/x?a=%4", "bad %-escape '%4' at byte 5 of the query string");
    parse_fails("/x%", "bad %-escape '%' at byte 2 of the path");
    parse_fails("/x?a=%00", "encoded NUL (%00) at byte 5 of the query string");
    parse_fails("/x%00y", "encoded NUL");
    parse_fails("/x?a=%ff", "not valid UTF-8");
    parse_fails("/%C0%AF", "not valid UTF-8"); /* an overlong '/' */
    parse_fails("/a%2Fb", "encoded '/' (%2F)");
    parse_fails("/a/%2e%2E/b", "path segment 2 is '..'");
    parse_fails("/a/../b", "path segment 2 is '..'");
    parse_fails("/./b", "path segment 1 is '.'");
    parse_fails("api/v1", "must be a path starting with '/'");
    parse_fails("", "must be a path starting with '/'");
    parse_fails("http://host/x", "must be a path starting with '/'");
    const char nul[] = {'/', 'a', '\0', 'b'};
    struct sm_http_target t;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm__http_target_parse(&t, nul, sizeof(nul), &err), SM_EINVAL);
    assert_non_null(strstr(err.msg, "NUL byte at byte 2 of the path"));
}

static void test_server_router__more_query_parameters_than_allowed_are_refused(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(1 << 20);
    sm_buf_adds(&b, "/x?");
    for (int i = 0; i < SM_HTTP_MAX_QUERY; i++)
        sm_buf_addf(&b, "p%d=1&&", i);
    struct sm_http_target t;
    parse_ok(&t, b.data); /* exactly the limit, with empty pieces between: fine */
    assert_int_equal(t.n_query, SM_HTTP_MAX_QUERY);
    sm__http_target_release(&t);
    sm_buf_adds(&b, "one=more");
    parse_fails(b.data, "257 parameters, more than the 256 allowed");
    sm_buf_release(&b);
}

static void test_server_router__utf8_checks_and_sanitizing(void **state)
{
    (void)state;
    assert_true(sm__http_is_utf8("", 0));
    assert_true(sm__http_is_utf8("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 12));
    assert_false(sm__http_is_utf8("\xed\xa0\x80", 3));     /* a surrogate */
    assert_false(sm__http_is_utf8("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    assert_false(sm__http_is_utf8("\xe2\x82", 2));         /* cut short */
    char out[16];
    sm__http_sanitize("a\xff\nb\xc3\xa9", out, sizeof(out));
    assert_string_equal(out, "a??b\xc3\xa9");
    sm__http_sanitize("abcdef\xc3\xa9", out, 8); /* never cuts a character in two */
    assert_string_equal(out, "abcdef");
}

/* -------------------------------------------------------------- router */

static void test_server_router__rows_match_literals_and_parameters(void **state)
{
    (void)state;
    struct sm_http_router *r = router(0);
    struct sm_http_target t;
    struct match m;

    match(r, SM_HTTP_GET, "/api/v1/ping", &m, &t);
    assert_ptr_equal(m.route, &table[0]);
    assert_int_equal(m.n_params, 0);
    sm__http_target_release(&t);

    match(r, SM_HTTP_GET, "/api/v1/runs/abc123", &m, &t);
    assert_ptr_equal(m.route, &table[1]);
    assert_int_equal(m.n_params, 1);
    assert_string_equal(m.params[0].name, "id");
    assert_string_equal(m.params[0].value, "abc123");
    sm__http_target_release(&t);

    match(r, SM_HTTP_PUT, "/api/v1/runs/abc123", &m, &t);
    assert_ptr_equal(m.route, &table[2]);
    sm__http_target_release(&t);

    match(r, SM_HTTP_GET, "/api/v1/runs/a%20b/graph?root=1", &m, &t);
    assert_ptr_equal(m.route, &table[3]);
    assert_string_equal(m.params[0].value, "a b");
    sm__http_target_release(&t);

    match(r, SM_HTTP_HEAD, "/api/v1/ping", &m, &t); /* HEAD is served by GET rows */
    assert_ptr_equal(m.route, &table[0]);
    sm__http_target_release(&t);

    match(r, SM_HTTP_GET, "/", &m, &t);
    assert_ptr_equal(m.route, &table[6]);
    sm__http_target_release(&t);
    sm__http_router_free(r);
}

static void test_server_router__a_rest_parameter_takes_the_remaining_path(void **state)
{
    (void)state;
    struct sm_http_router *r = router(0);
    struct sm_http_target t;
    struct match m;
    match(r, SM_HTTP_GET, "/api/v1/storage/artifacts/ab/cd%20e", &m, &t);
    assert_ptr_equal(m.route, &table[4]);
    assert_int_equal(m.n_params, 2);
    assert_string_equal(m.params[0].name, "ns");
    assert_string_equal(m.params[0].value, "artifacts");
    assert_string_equal(m.params[1].name, "key");
    assert_string_equal(m.params[1].value, "ab/cd e");
    sm__http_target_release(&t);
    match(r, SM_HTTP_GET, "/api/v1/storage/artifacts", &m, &t); /* the rest may be empty */
    assert_ptr_equal(m.route, &table[4]);
    assert_string_equal(m.params[1].value, "");
    sm__http_target_release(&t);
    /* A ":name" never matches an empty segment. */
    match(r, SM_HTTP_GET, "/api/v1/runs//graph", &m, &t);
    assert_ptr_equal(m.route, &table[7]);
    sm__http_target_release(&t);
    sm__http_router_free(r);
}

static void test_server_router__a_wrong_method_is_405_with_the_allowed_ones(void **state)
{
    (void)state;
    struct sm_http_router *r = router(0);
    struct sm_http_target t;
    struct match m;
    match(r, SM_HTTP_DELETE, "/api/v1/runs/abc", &m, &t);
    assert_null(m.route);
    assert_int_equal(m.allowed, SM_HTTP_GET | SM_HTTP_HEAD | SM_HTTP_PUT);
    char text[64];
    sm__http_methods_text(m.allowed, text, sizeof(text));
    assert_string_equal(text, "GET, HEAD, PUT");
    sm__http_target_release(&t);
    /* The /api fallback answers any method, but only when no real row knows the path. */
    match(r, SM_HTTP_POST, "/api/v1/ping", &m, &t);
    assert_null(m.route);
    assert_int_equal(m.allowed, SM_HTTP_GET | SM_HTTP_HEAD);
    sm__http_target_release(&t);
    match(r, SM_HTTP_POST, "/api/v1/nope", &m, &t);
    assert_ptr_equal(m.route, &table[7]);
    assert_string_equal(m.params[0].value, "v1/nope");
    sm__http_target_release(&t);
    /* The static fallback is GET only: a POST elsewhere is a 405. */
    match(r, SM_HTTP_POST, "/index.html", &m, &t);
    assert_null(m.route);
    assert_int_equal(m.allowed, SM_HTTP_GET | SM_HTTP_HEAD);
    sm__http_target_release(&t);
    match(r, SM_HTTP_GET, "/runs/abc", &m, &t);
    assert_ptr_equal(m.route, &table[8]);
    assert_string_equal(m.params[0].value, "runs/abc");
    sm__http_target_release(&t);
    sm__http_router_free(r);
}

static void test_server_router__an_unknown_path_without_fallbacks_is_404(void **state)
{
    (void)state;
    struct sm_http_router *r = NULL;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm__http_router_new(table, 4, 0, &r, &err), 0);
    struct sm_http_target t;
    struct match m;
    match(r, SM_HTTP_GET, "/api/v1/nope", &m, &t);
    assert_null(m.route);
    assert_int_equal(m.allowed, 0);
    sm__http_target_release(&t);
    match(r, SM_HTTP_GET, "/api/v1/ping/", &m, &t); /* a trailing slash is another path */
    assert_null(m.route);
    sm__http_target_release(&t);
    sm__http_router_free(r);
}

static void test_server_router__test_only_rows_are_left_out_unless_asked(void **state)
{
    (void)state;
    struct sm_http_target t;
    struct match m;
    struct sm_http_router *r = router(SM_HTTP_ROUTE_TEST_ONLY);
    match(r, SM_HTTP_GET, "/api/v1/_test/only", &m, &t);
    assert_ptr_equal(m.route, &table[7]); /* the /api fallback's 404 */
    sm__http_target_release(&t);
    sm__http_router_free(r);
    r = router(0);
    match(r, SM_HTTP_GET, "/api/v1/_test/only", &m, &t);
    assert_ptr_equal(m.route, &table[5]);
    sm__http_target_release(&t);
    sm__http_router_free(r);
}

static void router_fails(const char *pattern, enum sm_http_method method, const char *want)
{
    struct sm_http_route rows[] = {
        {SM_HTTP_GET, "/ok", handler_a, 0},
        {method, pattern, handler_a, 0},
    };
    struct sm_http_router *r = (struct sm_http_router *)1;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm__http_router_new(rows, 2, 0, &r, &err), SM_EINVAL);
    assert_null(r);
    if (strstr(err.msg, want) == NULL)
        fail_msg("pattern '%s': message '%s' does not contain '%s'", pattern ? pattern : "(null)",
                 err.msg, want);
}

static void test_server_router__malformed_patterns_are_refused_naming_the_row(void **state)
{
    (void)state;
    router_fails("api/x", SM_HTTP_GET, "route 1: pattern 'api/x' must start with '/'");
    router_fails(NULL, SM_HTTP_GET, "must start with '/'");
    router_fails("/a//b", SM_HTTP_GET, "has an empty segment");
    router_fails("/a/", SM_HTTP_GET, "has an empty segment");
    router_fails("/a/:", SM_HTTP_GET, "has a parameter with no name");
    router_fails("/a/*rest/b", SM_HTTP_GET, "has '*rest' before its last segment");
    router_fails("/:id/x/:id", SM_HTTP_GET, "names parameter 'id' twice");
    router_fails("/:a/:b/:c/:d/:e/:f/:g/:h/:i", SM_HTTP_GET, "more than 8 parameters");
    router_fails("/x", 0, "no method or no handler");
}

/* -------------------------------------------------------------- static */

static void static_ok(const char *rel, const char *want)
{
    char out[64];
    int rc = sm__http_static_relpath(rel, out, sizeof(out));
    if (rc != 0)
        fail_msg("relpath '%s' refused (%d), expected '%s'", rel, rc, want);
    assert_string_equal(out, want);
}

static void static_refused(const char *rel)
{
    char out[64];
    int rc = sm__http_static_relpath(rel, out, sizeof(out));
    if (rc != SM_ENOTFOUND)
        fail_msg("relpath '%s' gave %d ('%s'), expected SM_ENOTFOUND", rel, rc, rc == 0 ? out : "");
}

static void test_server_router__static_paths_stay_inside_the_ui_directory(void **state)
{
    (void)state;
    static_ok("", "");
    static_ok("index.html", "index.html");
    static_ok("assets/app.js", "assets/app.js");
    static_ok("runs/", "runs");
    static_refused("/etc/passwd"); /* from "//etc/passwd" */
    static_refused("a//b");
    static_refused(".env");
    static_refused("a/.git/config");
    static_refused("..");
    static_refused("a\\..\\b");
    char longer[100];
    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    static_refused(longer); /* longer than the caller's buffer */
    assert_true(sm__http_static_is_asset("assets/app.js"));
    assert_true(sm__http_static_is_asset("favicon.ico"));
    assert_false(sm__http_static_is_asset("runs/abc"));
    assert_false(sm__http_static_is_asset("v1.2/runs"));
    assert_false(sm__http_static_is_asset("pipelines/my.module.pipeline"));
}

static void test_server_router__content_types_follow_the_extension(void **state)
{
    (void)state;
    assert_string_equal(sm__http_content_type("index.html"), "text/html; charset=utf-8");
    assert_string_equal(sm__http_content_type("a/b/app.JS"), "text/javascript; charset=utf-8");
    assert_string_equal(sm__http_content_type("x.css"), "text/css; charset=utf-8");
    assert_string_equal(sm__http_content_type("logo.svg"), "image/svg+xml");
    assert_string_equal(sm__http_content_type("logo.png"), "image/png");
    assert_string_equal(sm__http_content_type("data.json"), "application/json");
    assert_string_equal(sm__http_content_type("app.js.map"), "application/json");
    assert_string_equal(sm__http_content_type("font.woff2"), "font/woff2");
    assert_string_equal(sm__http_content_type("v1.2/README"), "application/octet-stream");
    assert_string_equal(sm__http_content_type("noext"), "application/octet-stream");
}

/* ----------------------------------------------------------- responses */

static void test_server_router__errors_are_json_with_the_message(void **state)
{
    (void)state;
    struct sm_http_resp resp;
    sm__http_resp_init(&resp);
    assert_int_equal(sm_http_error(&resp, 404, "no run '%s'", "a\"b\xff"), 0);
    assert_int_equal(resp.status, 404);
    assert_string_equal(resp.content_type, "application/json");
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm_jw_finish(&resp.jw, &err), 0);
    assert_string_equal(resp.body.data, "{\"error\":\"no run 'a\\\"b?'\"}");
    sm__http_resp_release(&resp);
}

static void test_server_router__store_errors_map_to_statuses_without_leaking(void **state)
{
    (void)state;
    struct sm_http_resp resp;
    struct sm_err err = SM_ERR_INIT;
    sm__http_resp_init(&resp);
    sm_errf(&err, SM_ENOTFOUND, "no run 'abc'");
    sm_http_store_error(&resp, &err);
    assert_int_equal(resp.status, 404);
    assert_string_equal(resp.body.data, "{\"error\":\"no run 'abc'\"}");
    sm__http_resp_release(&resp);

    sm__http_resp_init(&resp);
    sm_err_clear(&err);
    sm_errf(&err, SM_EIO, "cannot read '/secret/path/sematic.db': disk I/O error");
    sm_http_store_error(&resp, &err);
    assert_int_equal(resp.status, 500);
    assert_null(strstr(resp.body.data, "secret"));
    assert_non_null(strstr(resp.log_detail, "/secret/path/sematic.db"));
    sm__http_resp_release(&resp);
}

static void test_server_router__query_helpers_check_values_with_400s(void **state)
{
    (void)state;
    struct sm_http_target t;
    parse_ok(&t, "/x?limit=20&bad=2x&big=99999&yes=TRUE&no=0&maybe=perhaps");
    struct sm_http_req req = {.method = SM_HTTP_GET, .target = &t};
    struct sm_http_resp resp;
    sm__http_resp_init(&resp);
    int64_t v = 0;
    assert_int_equal(sm_http_query_int(&req, &resp, "limit", 5, -1, 1000, &v), 0);
    assert_int_equal(v, 20);
    assert_int_equal(sm_http_query_int(&req, &resp, "absent", 5, -1, 1000, &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(resp.status, 0);
    assert_int_equal(sm_http_query_int(&req, &resp, "bad", 5, -1, 1000, &v), SM_EINVAL);
    assert_int_equal(resp.status, 400);
    assert_string_equal(resp.body.data, "{\"error\":\"query parameter 'bad' must be an integer "
                                        "from -1 to 1000, got '2x'\"}");
    assert_int_equal(sm_http_query_int(&req, &resp, "big", 5, -1, 1000, &v), SM_EINVAL);
    bool b = false;
    assert_int_equal(sm_http_query_bool(&req, &resp, "yes", false, &b), 0);
    assert_true(b);
    assert_int_equal(sm_http_query_bool(&req, &resp, "no", true, &b), 0);
    assert_false(b);
    assert_int_equal(sm_http_query_bool(&req, &resp, "maybe", true, &b), SM_EINVAL);
    assert_non_null(strstr(resp.body.data, "'maybe' must be true or false"));
    assert_null(sm_http_query(&req, "absent"));
    assert_string_equal(sm_http_query(&req, "limit"), "20");
    assert_null(sm_http_header(&req, "Host")); /* no connection: no headers */
    sm__http_resp_release(&resp);
    sm__http_target_release(&t);
}

static void test_server_router__body_json_reports_where_it_is_wrong(void **state)
{
    (void)state;
    struct sm_http_req req = {.method = SM_HTTP_POST, .body = "{\"a\": [1, }", .body_len = 11};
    struct sm_http_resp resp;
    sm__http_resp_init(&resp);
    struct sm_json_doc doc = {0};
    assert_int_equal(sm_http_body_json(&req, &resp, &doc), SM_EINVAL);
    assert_int_equal(resp.status, 400);
    assert_non_null(strstr(resp.body.data, "the request body is not valid JSON"));
    sm_json_doc_release(&doc);
    req.body = "{\"a\": 1}";
    req.body_len = 8;
    assert_int_equal(sm_http_body_json(&req, &resp, &doc), 0);
    assert_int_equal(doc.root->kind, SM_JSON_OBJECT);
    sm_json_doc_release(&doc);
    sm__http_resp_release(&resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_router__a_path_splits_into_decoded_segments),
        cmocka_unit_test(
            test_server_router__the_root_has_no_segments_and_a_trailing_slash_one_empty),
        cmocka_unit_test(test_server_router__query_parameters_are_decoded_plus_as_space),
        cmocka_unit_test(test_server_router__bad_targets_are_refused_naming_the_problem),
        cmocka_unit_test(test_server_router__more_query_parameters_than_allowed_are_refused),
        cmocka_unit_test(test_server_router__utf8_checks_and_sanitizing),
        cmocka_unit_test(test_server_router__rows_match_literals_and_parameters),
        cmocka_unit_test(test_server_router__a_rest_parameter_takes_the_remaining_path),
        cmocka_unit_test(test_server_router__a_wrong_method_is_405_with_the_allowed_ones),
        cmocka_unit_test(test_server_router__an_unknown_path_without_fallbacks_is_404),
        cmocka_unit_test(test_server_router__test_only_rows_are_left_out_unless_asked),
        cmocka_unit_test(test_server_router__malformed_patterns_are_refused_naming_the_row),
        cmocka_unit_test(test_server_router__static_paths_stay_inside_the_ui_directory),
        cmocka_unit_test(test_server_router__content_types_follow_the_extension),
        cmocka_unit_test(test_server_router__errors_are_json_with_the_message),
        cmocka_unit_test(test_server_router__store_errors_map_to_statuses_without_leaking),
        cmocka_unit_test(test_server_router__query_helpers_check_values_with_400s),
        cmocka_unit_test(test_server_router__body_json_reports_where_it_is_wrong),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
