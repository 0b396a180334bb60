/*
 * test_server_params.c: the read API's pure helpers (src/server/params.c,
 * logs.c's cursor tokens, count_cache.c): Sematic's query parameters and
 * their messages, page URLs, metric rollups, base64, log cursors and the
 * listing count cache, without a socket.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sematic/filter.h"

#include "api.h"

#include "util/banned.h"

/* ------------------------------------------------------------- helpers */

static void assert_contains(const char *text, const char *want)
{
    if (strstr(text, want) == NULL)
        fail_msg("'%s' does not contain '%s'", text, want);
}

static void limit_fails(const char *text, const char *want)
{
    struct sm_err err = SM_ERR_INIT;
    int64_t v = 7;
    assert_int_equal(sm__api_parse_limit(text, 20, &v, &err), SM_EINVAL);
    assert_contains(err.msg, want);
    assert_int_equal(v, 7);
}

/* --------------------------------------------------------------- limit etc */

static void test_server_params__limit_is_positive_or_minus_one(void **state)
{
    (void)state;
    struct sm_err err = SM_ERR_INIT;
    int64_t v;
    assert_int_equal(sm__api_parse_limit(NULL, 20, &v, &err), 0);
    assert_int_equal(v, 20);
    assert_int_equal(sm__api_parse_limit("5", 20, &v, &err), 0);
    assert_int_equal(v, 5);
    assert_int_equal(sm__api_parse_limit("-1", 20, &v, &err), 0);
    assert_int_equal(v, -1);
    assert_int_equal(sm__api_parse_limit("1000000", 20, &v, &err), 0);
    limit_fails("0", "limit must be greater than 0 or -1, got '0'");
    limit_fails("-2", "got '-2'");
    limit_fails("", "got ''");
    limit_fails("ten", "got 'ten'");
    limit_fails("5x", "got '5x'");
    limit_fails("1000001", "from 1 to 1000000");
    limit_fails("99999999999999999999999", "or -1 for every row");
}

static void test_server_params__order_is_asc_or_desc(void **state)
{
    (void)state;
    struct sm_err err = SM_ERR_INIT;
    bool asc = false;
    assert_int_equal(sm__api_parse_order(NULL, true, &asc, &err), 0);
    assert_true(asc);
    assert_int_equal(sm__api_parse_order("desc", true, &asc, &err), 0);
    assert_false(asc);
    assert_int_equal(sm__api_parse_order("asc", false, &asc, &err), 0);
    assert_true(asc);
    assert_int_equal(sm__api_parse_order("ASC", false, &asc, &err), SM_EINVAL);
    assert_string_equal(err.msg,
                        "invalid value for 'order'; expected one of: ['asc', 'desc']; got: 'ASC'");
}

static void test_server_params__fields_are_all_or_ids(void **state)
{
    (void)state;
    struct sm_err err = SM_ERR_INIT;
    bool ids = true;
    assert_int_equal(sm__api_parse_fields(NULL, &ids, &err), 0);
    assert_false(ids);
    assert_int_equal(sm__api_parse_fields("null", &ids, &err), 0);
    assert_false(ids);
    assert_int_equal(sm__api_parse_fields("[\"id\"]", &ids, &err), 0);
    assert_true(ids);
    assert_int_equal(sm__api_parse_fields(" [ \"id\" ] ", &ids, &err), 0);
    assert_true(ids);
    assert_int_equal(sm__api_parse_fields("[\"id\",\"name\"]", &ids, &err), SM_EINVAL);
    assert_contains(err.msg, "'fields' must be either `None` or `['id']`");
    sm_err_clear(&err);
    assert_int_equal(sm__api_parse_fields("[id", &ids, &err), SM_EINVAL);
    assert_contains(err.msg, "Malformed include fields: '[id' is not JSON");
}

static void test_server_params__bool_settings_read_as_strtobool(void **state)
{
    (void)state;
    struct sm_err err = SM_ERR_INIT;
    bool on = true;
    const char *yes[] = {"1", "true", "True", "YES", "y", "t", "on"};
    const char *no[] = {"0", "false", "No", "n", "f", "off", ""};
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(sm__api_parse_bool_setting("X", yes[i], &on, &err), 0);
        assert_true(on);
        assert_int_equal(sm__api_parse_bool_setting("X", no[i], &on, &err), 0);
        assert_false(on);
    }
    assert_int_equal(sm__api_parse_bool_setting("X", NULL, &on, &err), 0);
    assert_false(on);
    assert_int_equal(sm__api_parse_bool_setting("SEMATIC_AUTHENTICATE", "maybe", &on, &err),
                     SM_EINVAL);
    assert_contains(err.msg, "SEMATIC_AUTHENTICATE must be a boolean, got 'maybe'");
}

static void test_server_params__epoch_seconds_become_microseconds(void **state)
{
    (void)state;
    struct sm_err err = SM_ERR_INIT;
    int64_t us;
    assert_int_equal(sm__api_parse_epoch_seconds("t", "1700000000.5", &us, &err), 0);
    assert_int_equal(us, 1700000000500000LL);
    assert_int_equal(sm__api_parse_epoch_seconds("t", "0", &us, &err), 0);
    assert_int_equal(us, 0);
    assert_int_equal(sm__api_parse_epoch_seconds("t", "-1.25", &us, &err), 0);
    assert_int_equal(us, -1250000);
    assert_int_equal(sm__api_parse_epoch_seconds("from_time", "yesterday", &us, &err), SM_EINVAL);
    assert_contains(err.msg, "invalid value for 'from_time'");
    assert_contains(err.msg, "got 'yesterday'");
    sm_err_clear(&err);
    assert_int_equal(sm__api_parse_epoch_seconds("t", "nan", &us, &err), SM_EINVAL);
    sm_err_clear(&err);
    assert_int_equal(sm__api_parse_epoch_seconds("t", "1e300", &us, &err), SM_EINVAL);
}

/* --------------------------------------------------------------- URLs */

static void test_server_params__urls_quote_as_python_quote_plus(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(4096);
    sm__api_url_quote(&b, "a-b_c.d~e f=g/h+i%\xc3\xa9");
    assert_string_equal(b.data, "a-b_c.d~e+f%3Dg%2Fh%2Bi%25%C3%A9");
    sm_buf_reset(&b);
    sm__api_page_url(&b, "127.0.0.1:5001", "/api/v1/runs", 20, NULL);
    assert_string_equal(b.data, "http://127.0.0.1:5001/api/v1/runs?limit=20");
    sm_buf_reset(&b);
    sm__api_page_url(&b, NULL, "/api/v1/runs", -1, "MjAy_NA==");
    assert_string_equal(b.data, "http://localhost/api/v1/runs?limit=-1&cursor=MjAy_NA%3D%3D");
    sm_buf_release(&b);
}

static void test_server_params__filter_eq_writes_a_filter_the_parser_reads(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(4096);
    assert_int_equal(sm__api_filter_eq(&b, "root_run.function_path", "a.\"b\""), 0);
    assert_string_equal(b.data, "{\"root_run.function_path\":{\"eq\":\"a.\\\"b\\\"\"}}");
    struct sm_filter f;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm_filter_parse(&f, SM_ENTITY_NOTES, b.data, b.len, &err), 0);
    assert_non_null(f.root);
    sm_filter_release(&f);
    sm_buf_reset(&b);
    assert_int_equal(sm__api_filter_eq(&b, "name", "bad \xff"), SM_EINVAL);
    assert_int_equal(b.len, 0);
    sm_buf_release(&b);
}

/* --------------------------------------------------------------- rollups */

static void test_server_params__rollups_size_buckets_as_sematic(void **state)
{
    (void)state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_api_rollup r;
    const int64_t s = 1000000;
    assert_int_equal(sm__api_parse_rollup(NULL, 0, 3600 * s, &r, &err), 0);
    assert_int_equal(r.kind, SM_API_ROLLUP_NONE);
    assert_int_equal(r.n_buckets, 1);
    /* An hour by minutes: 60 buckets (the 300-point floor is 12 s). */
    assert_int_equal(sm__api_parse_rollup("60", 0, 3600 * s, &r, &err), 0);
    assert_int_equal(r.kind, SM_API_ROLLUP_SECONDS);
    assert_int_equal(r.interval_us, 60 * s);
    assert_int_equal(r.n_buckets, 60);
    /* A day by seconds would be 86,400 points: capped at 300 (288 s each). */
    assert_int_equal(sm__api_parse_rollup("1", 0, 86400 * s, &r, &err), 0);
    assert_int_equal(r.interval_us, 288 * s);
    assert_int_equal(r.n_buckets, 300);
    assert_int_equal(sm__api_parse_rollup("auto", 0, 86400 * s, &r, &err), 0);
    assert_int_equal(r.kind, SM_API_ROLLUP_AUTO);
    assert_int_equal(r.n_buckets, 300);
    /* An empty range is one bucket. */
    assert_int_equal(sm__api_parse_rollup("auto", 5 * s, 5 * s, &r, &err), 0);
    assert_int_equal(r.n_buckets, 1);
    assert_int_equal(sm__api_parse_rollup("0", 0, 10 * s, &r, &err), 0);
    assert_int_equal(r.interval_us, s);
    assert_int_equal(r.n_buckets, 10);
    assert_int_equal(sm__api_parse_rollup("-5", 0, 10 * s, &r, &err), SM_EINVAL);
    assert_contains(err.msg, "Expected an integer or 'auto', got '-5'");
    sm_err_clear(&err);
    assert_int_equal(sm__api_parse_rollup("hourly", 0, 10 * s, &r, &err), SM_EINVAL);
}

/* --------------------------------------------------------------- base64, cursors */

static void test_server_params__base64_reads_both_alphabets(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(64);
    assert_int_equal(sm__api_base64_decode("aGVsbG8=", &b), 0);
    assert_string_equal(b.data, "hello");
    sm_buf_reset(&b);
    assert_int_equal(sm__api_base64_decode("aGVsbG8", &b), 0);
    assert_string_equal(b.data, "hello");
    sm_buf_reset(&b);
    assert_int_equal(sm__api_base64_decode("-_-_", &b), 0);
    assert_int_equal(b.len, 3);
    assert_int_equal((unsigned char)b.data[0], 0xfb);
    sm_buf_reset(&b);
    assert_int_equal(sm__api_base64_decode("a", &b), SM_EINVAL);
    assert_int_equal(sm__api_base64_decode("a$==", &b), SM_EINVAL);
    assert_int_equal(sm__api_base64_decode("aGVs===", &b), SM_EINVAL);
    sm_buf_release(&b);
}

static void test_server_params__log_cursors_round_trip(void **state)
{
    (void)state;
    struct sm_log_cursor c = {
        .has_key = true,
        .index = 42,
        .filters = {"error", "\"quoted\""},
        .n_filters = 2,
        .run_id = "0123456789abcdef0123456789abcdef",
        .had_lines = true,
        .reverse = true,
    };
    struct sm_buf token = SM_BUF_INIT(1 << 16);
    sm__log_cursor_encode(&c, &token);
    assert_true(token.len > 0);
    struct sm_log_cursor d;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm__log_cursor_decode("forward_cursor_token", token.data, &d, &err), 0);
    assert_true(d.has_key);
    assert_int_equal(d.index, 42);
    assert_int_equal(d.n_filters, 2);
    assert_string_equal(d.filters[1], "\"quoted\"");
    assert_string_equal(d.run_id, c.run_id);
    assert_true(d.had_lines);
    assert_true(d.reverse);
    sm_json_doc_release(&d.doc);

    /* Sematic's own token for "nothing found yet" reads too (its JSON has spaces). */
    const char *sematic = "eyJzb3VyY2VfbG9nX2tleSI6IG51bGwsICJzb3VyY2VfZmlsZV9saW5lX2luZGV4Ijog"
                          "LTEsICJmaWx0ZXJfc3RyaW5ncyI6IFtdLCAicnVuX2lkIjogIjAxMjM0NTY3ODlhYmNk"
                          "ZWYwMTIzNDU2Nzg5YWJjZGVmIiwgInRyYXZlcnNhbF9oYWRfbGluZXMiOiBmYWxzZSwg"
                          "InJldmVyc2UiOiBmYWxzZX0=";
    assert_int_equal(sm__log_cursor_decode("forward_cursor_token", sematic, &d, &err), 0);
    assert_false(d.has_key);
    assert_int_equal(d.index, -1);
    assert_int_equal(d.n_filters, 0);
    sm_json_doc_release(&d.doc);

    assert_int_equal(sm__log_cursor_decode("reverse_cursor_token", "!!", &d, &err), SM_EINVAL);
    assert_contains(err.msg, "invalid value for 'reverse_cursor_token'");
    sm_json_doc_release(&d.doc);
    sm_err_clear(&err);
    /* Valid base64 of JSON that is not a cursor. */
    assert_int_equal(sm__log_cursor_decode("forward_cursor_token", "e30=", &d, &err), SM_EINVAL);
    assert_contains(err.msg, "lacks a field");
    sm_json_doc_release(&d.doc);
    sm_buf_release(&token);
}

/* --------------------------------------------------------------- count cache */

static void test_server_params__count_cache_reuses_a_count_until_the_store_changes(void **state)
{
    (void)state;
    struct sm_count_cache *c = sm__count_cache_new();
    int64_t n = -7;
    assert_int_equal(sm__count_cache_get(NULL, "k", 1, 0, &n), SM_COUNT_MISS);
    assert_int_equal(sm__count_cache_get(c, "k", -1, 0, &n), SM_COUNT_MISS);
    assert_int_equal(sm__count_cache_get(c, "k", 5, 0, &n), SM_COUNT_CLAIMED);
    sm__count_cache_put(c, "k", 5, 100);
    assert_int_equal(sm__count_cache_get(c, "k", 5, 0, &n), SM_COUNT_HIT);
    assert_int_equal(n, 100);
    /* An older sequence is answered by a newer count; a newer one needs a new count. */
    assert_int_equal(sm__count_cache_get(c, "k", 4, 0, &n), SM_COUNT_HIT);
    assert_int_equal(sm__count_cache_get(c, "other", 5, 0, &n), SM_COUNT_CLAIMED);
    sm__count_cache_put(c, "other", 5, -1); /* failed: nothing kept */
    assert_int_equal(sm__count_cache_get(c, "k", 6, 0, &n), SM_COUNT_CLAIMED);
    /* While that count is computed, the previous one answers at once. */
    n = -7;
    assert_int_equal(sm__count_cache_get(c, "k", 6, 0, &n), SM_COUNT_HIT);
    assert_int_equal(n, 100);
    sm__count_cache_put(c, "k", 6, 101);
    assert_int_equal(sm__count_cache_get(c, "k", 6, 0, &n), SM_COUNT_HIT);
    assert_int_equal(n, 101);
    /* The failed one is claimed again; a computation nobody finishes times out to a miss. */
    assert_int_equal(sm__count_cache_get(c, "other", 5, 0, &n), SM_COUNT_CLAIMED);
    assert_int_equal(sm__count_cache_get(c, "other", 5, 10, &n), SM_COUNT_MISS);
    sm__count_cache_put(c, "other", 5, 3);
    /* Many keys: the least recently used give way, none is lost while claimed. */
    char key[32];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        assert_int_equal(sm__count_cache_get(c, key, 1, 0, &n), SM_COUNT_CLAIMED);
        sm__count_cache_put(c, key, 1, i);
    }
    assert_int_equal(sm__count_cache_get(c, "key-199", 1, 0, &n), SM_COUNT_HIT);
    assert_int_equal(n, 199);
    sm__count_cache_free(c);
    sm__count_cache_free(NULL);
}

struct waiter {
    struct sm_count_cache *c;
    enum sm_count_lookup got;
    int64_t n;
};

static void *wait_for_count(void *arg)
{
    struct waiter *w = arg;
    w->got = sm__count_cache_get(w->c, "k", 9, 10000, &w->n);
    return NULL;
}

static void test_server_params__count_cache_waiters_share_one_computation(void **state)
{
    (void)state;
    struct sm_count_cache *c = sm__count_cache_new();
    int64_t n;
    assert_int_equal(sm__count_cache_get(c, "k", 9, 0, &n), SM_COUNT_CLAIMED);
    struct waiter w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct waiter){.c = c, .got = SM_COUNT_MISS, .n = -1};
        assert_int_equal(pthread_create(&t[i], NULL, wait_for_count, &w[i]), 0);
    }
    /* Whether they are already waiting or not, each gets the count put here. */
    sm__count_cache_put(c, "k", 9, 77);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].got, SM_COUNT_HIT);
        assert_int_equal(w[i].n, 77);
    }
    sm__count_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_params__limit_is_positive_or_minus_one),
        cmocka_unit_test(test_server_params__order_is_asc_or_desc),
        cmocka_unit_test(test_server_params__fields_are_all_or_ids),
        cmocka_unit_test(test_server_params__bool_settings_read_as_strtobool),
        cmocka_unit_test(test_server_params__epoch_seconds_become_microseconds),
        cmocka_unit_test(test_server_params__urls_quote_as_python_quote_plus),
        cmocka_unit_test(test_server_params__filter_eq_writes_a_filter_the_parser_reads),
        cmocka_unit_test(test_server_params__rollups_size_buckets_as_sematic),
        cmocka_unit_test(test_server_params__base64_reads_both_alphabets),
        cmocka_unit_test(test_server_params__log_cursors_round_trip),
        cmocka_unit_test(test_server_params__count_cache_reuses_a_count_until_the_store_changes),
        cmocka_unit_test(test_server_params__count_cache_waiters_share_one_computation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
