/*
 * test_store_query.c: the server's listings (sm_store_query_*) on the SQLite
 * backend: every filter operator and relationship against real rows,
 * search with LIKE's wildcards taken literally, keyset cursors across
 * pages of rows with equal created_at (while rows are added), group_by,
 * counts, bad queries, and the query plans of the dashboard's common
 * listings (which index serves them).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sematic/buf.h"
#include "sematic/filter.h"
#include "sematic/hash.h"
#include "sematic/store.h"
#include "store/internal.h"
#include "test_store_fixture.h"

#include "util/banned.h"

/* ------------------------------------------------------------ helpers */

/* Ids listed, as numbers (id_of()), in order. */
struct got {
    int n;
    unsigned num[128];
    int stop_after; /* return 77 once this many were seen (0: never) */
};

static unsigned number_of(const char *id)
{
    return (unsigned)strtoul(id, NULL, 16);
}

static int got_run(void *ctx, const struct sm_run_rec *r)
{
    struct got *g = ctx;
    if (g->n < 128)
        g->num[g->n++] = number_of(r->id);
    return g->stop_after && g->n >= g->stop_after ? 77 : 0;
}

static int got_edge(void *ctx, const struct sm_edge_rec *e)
{
    struct got *g = ctx;
    g->num[g->n++] = number_of(e->id);
    return 0;
}

static int got_note(void *ctx, const struct sm_note_rec *n)
{
    struct got *g = ctx;
    g->num[g->n++] = number_of(n->id);
    return 0;
}

static void check_got(const struct got *g, const unsigned *want, int n_want, int line)
{
    char gs[512] = "", ws[512] = "";
    size_t gl = 0, wl = 0;
    for (int i = 0; i < g->n && gl < sizeof(gs) - 12; i++)
        gl += (size_t)snprintf(gs + gl, sizeof(gs) - gl, "%u ", g->num[i]);
    for (int i = 0; i < n_want && wl < sizeof(ws) - 12; i++)
        wl += (size_t)snprintf(ws + wl, sizeof(ws) - wl, "%u ", want[i]);
    if (g->n != n_want ||
        (n_want > 0 && memcmp(g->num, want, sizeof(unsigned) * (size_t)n_want) != 0))
        fail_msg("line %d: listed [%s], expected [%s]", line, gs, ws);
}

/* The runs a filter (JSON) lists, newest first, against the expected numbers. */
static void expect_runs(struct sm_store *s, const char *json, const unsigned *want, int n_want,
                        int line)
{
    struct sm_err err = SM_ERR_INIT;
    struct sm_filter f;
    if (sm_filter_parse(&f, SM_ENTITY_RUNS, json, strlen(json), &err) != 0)
        fail_msg("line %d: cannot parse %s: %s", line, json, err.msg);
    struct sm_query q = {.filter = &f};
    struct got g = {0};
    int rc = sm_store_query_runs(s, &q, got_run, &g, NULL, &err);
    if (rc != 0)
        fail_msg("line %d: listing %s returned %s: %s", line, json, sm_err_name(rc), err.msg);
    sm_filter_release(&f);
    check_got(&g, want, n_want, line);
}

#define EXPECT_RUNS(s, json, ...)                                                                  \
    do {                                                                                           \
        static const unsigned want_[] = {__VA_ARGS__};                                             \
        expect_runs((s), (json), want_, (int)(sizeof(want_) / sizeof(want_[0])), __LINE__);        \
    } while (0)
#define EXPECT_NO_RUNS(s, json) expect_runs((s), (json), NULL, 0, __LINE__)

/*
 * Two pipelines. Root 1 (pipe.one, tags ["train", "gpu"]) has children 2
 * and 3 (2 nested in... no: 3's parent is 2); root 10 (pipe.two) has child 11.
 *
 *   id  root parent function   name     state      tags            created
 *   1   1    -      pipe.one   one      RESOLVED   [train, gpu]    1000001
 *   2   1    1      mod.a      a_step   RESOLVED   [gpu]           1000002
 *   3   1    2      mod.b      b%step   FAILED     []              1000003
 *   10  10   -      pipe.two   two      RAN        [eval]          1000010
 *   11  10   10     mod.a      a_step   CREATED    []              1000011
 */
static void put_pipelines(struct sm_store *s)
{
    struct sm_err err = SM_ERR_INIT;
    struct sm_run_rec r;
    OK(sm_store_begin(s, &err));
    run_init(&r, 1, 1, SM_STATE_RESOLVED);
    r.function_path = "pipe.one";
    r.name = "one";
    r.description = "The First pipeline";
    r.tags_json = "[\"train\", \"gpu\"]";
    r.cache_key = "k1";
    r.attempt = 1;
    OK(sm_store_put_run(s, &r, &err));
    run_init(&r, 2, 1, SM_STATE_RESOLVED);
    r.function_path = "mod.a";
    r.name = "a_step";
    r.tags_json = "[\"gpu\"]";
    r.started_at = 5;
    OK(sm_store_put_run(s, &r, &err));
    run_init(&r, 3, 1, SM_STATE_FAILED);
    id_of(2, r.parent_id);
    r.function_path = "mod.b";
    r.name = "b%step";
    r.is_inline = false;
    OK(sm_store_put_run(s, &r, &err));
    run_init(&r, 10, 10, SM_STATE_RAN);
    r.function_path = "pipe.two";
    r.name = "two";
    r.tags_json = "[\"eval\"]";
    OK(sm_store_put_run(s, &r, &err));
    run_init(&r, 11, 10, SM_STATE_CREATED);
    r.function_path = "mod.a";
    r.name = "a_step";
    OK(sm_store_put_run(s, &r, &err));

    struct sm_pipeline_rec p;
    memset(&p, 0, sizeof(p));
    id_of(1, p.root_id);
    p.status = SM_PIPELINE_RUNNING;
    p.kind = "LOCAL";
    OK(sm_store_put_pipeline(s, &p, &err));
    p.status = SM_PIPELINE_COMPLETE;
    OK(sm_store_put_pipeline(s, &p, &err));
    id_of(10, p.root_id);
    p.status = SM_PIPELINE_RUNNING;
    OK(sm_store_put_pipeline(s, &p, &err));
    OK(sm_store_commit(s, &err));
}

/* ------------------------------------------------------------ operators */

static void test_store_query__eq_on_text_ids_and_null(void **state)
{
    struct fixture *f = *state;
    put_pipelines(f->s);
    EXPECT_RUNS(f->s, "{}", 11, 10, 3, 2, 1);
    EXPECT_RUNS(f->s, "{\"parent_id\": {\"eq\": null}}", 10, 1);
    EXPECT_RUNS(f->s, "{\"parent_id\": {\"eq\": \"00000000000000000000000000000002\"}}", 3);
    EXPECT_RUNS(f->s, "{\"root_id\": {\"eq\": \"00000000000000000000000000000001\"}}", 3, 2, 1);
    EXPECT_RUNS(f->s, "{\"function_path\": {\"eq\": \"mod.a\"}}", 11, 2);
    EXPECT_RUNS(f->s, "{\"calculator_path\": {\"eq\": \"pipe.two\"}}", 10);
    EXPECT_RUNS(f->s, "{\"name\": {\"eq\": \"b%step\"}}", 3);
    EXPECT_RUNS(f->s, "{\"cache_key\": {\"eq\": \"k1\"}}", 1);
    EXPECT_RUNS(f->s, "{\"cache_key\": {\"eq\": null}}", 11, 10, 3, 2);
    EXPECT_RUNS(f->s, "{\"description\": {\"eq\": \"The First pipeline\"}}", 1);
    EXPECT_RUNS(f->s, "{\"nested_future_id\": {\"eq\": null}}", 11, 10, 3, 2, 1);
    EXPECT_NO_RUNS(f->s, "{\"id\": {\"eq\": \"nope\"}}");
}

static void test_store_query__typed_columns_compare_as_their_type(void **state)
{
    struct fixture *f = *state;
    put_pipelines(f->s);
    EXPECT_RUNS(f->s, "{\"future_state\": {\"eq\": \"RESOLVED\"}}", 2, 1);
    EXPECT_RUNS(f->s, "{\"future_state\": {\"in\": [\"FAILED\", \"CREATED\"]}}", 11, 3);
    /* Sematic's dashboard asks for RESOLVED and the retired SUCCEEDED together. */
    EXPECT_RUNS(f->s, "{\"future_state\": {\"in\": [\"RESOLVED\", \"SUCCEEDED\"]}}", 2, 1);
    EXPECT_NO_RUNS(f->s, "{\"future_state\": {\"eq\": \"SUCCEEDED\"}}");
    EXPECT_RUNS(f->s, "{\"created_at\": {\"eq\": \"1970-01-01T00:00:01.000010\"}}", 10);
    EXPECT_RUNS(f->s, "{\"started_at\": {\"eq\": null}}", 11, 10, 3, 1);
    EXPECT_RUNS(f->s, "{\"is_inline\": {\"eq\": false}}", 3);
    EXPECT_RUNS(f->s, "{\"attempt\": {\"eq\": 1}}", 1);
    /* Columns of Sematic's that this store never fills: null, always. */
    EXPECT_RUNS(f->s, "{\"user_id\": {\"eq\": null}}", 11, 10, 3, 2, 1);
    EXPECT_NO_RUNS(f->s, "{\"container_image_uri\": {\"eq\": \"img\"}}");
    EXPECT_NO_RUNS(f->s, "{\"organization_id\": {\"in\": [\"o\", null]}}");
}

static void test_store_query__in_lists_and_nulls_in_them(void **state)
{
    struct fixture *f = *state;
    put_pipelines(f->s);
    EXPECT_RUNS(f->s,
                "{\"id\": {\"in\": [\"00000000000000000000000000000003\", "
                "\"00000000000000000000000000000001\", \"00000000000000000000000000000099\"]}}",
                3, 1);
    EXPECT_NO_RUNS(f->s, "{\"id\": {\"in\": []}}");
    /* A null in a list matches nothing, as in SQL and Sematic; eq null is the way. */
    EXPECT_RUNS(f->s, "{\"cache_key\": {\"in\": [null, \"k1\"]}}", 1);
    EXPECT_NO_RUNS(f->s, "{\"parent_id\": {\"in\": [null]}}");
}

static void test_store_query__contains_matches_whole_tags(void **state)
{
    struct fixture *f = *state;
    put_pipelines(f->s);
    EXPECT_RUNS(f->s, "{\"tags\": {\"contains\": \"gpu\"}}", 2, 1);
    EXPECT_RUNS(f->s, "{\"tags\": {\"contains\": \"eval\"}}", 10);
    EXPECT_NO_RUNS(f->s, "{\"tags\": {\"contains\": \"gp\"}}");
    EXPECT_NO_RUNS(f->s, "{\"tags\": {\"contains\": \"\\\"gpu\\\"\"}}");
    /* A run whose tags are not a JSON list is skipped, not an error. */
    sql_value(f->db, "UPDATE run_rows SET tags = 'not json' WHERE id = "
                     "'00000000000000000000000000000002'");
    EXPECT_RUNS(f->s, "{\"tags\": {\"contains\": \"gpu\"}}", 1);
}

static void test_store_query__and_or_combine_and_nest(void **state)
{
    struct fixture *f = *state;
    put_pipelines(f->s);
    EXPECT_RUNS(f->s,
                "{\"AND\": [{\"calculator_path\": {\"eq\": \"mod.a\"}}, {\"tags\": {\"contains\": "
                "\"gpu\"}}]}",
                2);
    EXPECT_RUNS(f->s,
                "{\"OR\": [{\"name\": {\"eq\": \"two\"}}, {\"future_state\": {\"eq\": "
                "\"FAILED\"}}]}",
                10, 3);
    EXPECT_RUNS(f->s,
                "{\"AND\": [{\"parent_id\": {\"eq\": null}}, {\"OR\": [{\"name\": {\"eq\": "
                "\"one\"}}, {\"name\": {\"eq\": \"nope\"}}]}]}",
                1);
    EXPECT_RUNS(f->s, "{\"AND\": []}", 11, 10, 3, 2, 1);
    EXPECT_NO_RUNS(f->s, "{\"OR\": []}");
}

static void test_store_query__relationships_filter_by_root_run_and_pipeline_run(void **state)
{
    struct fixture *f = *state;
    put_pipelines(f->s);
    EXPECT_RUNS(f->s, "{\"root_run.function_path\": {\"eq\": \"pipe.one\"}}", 3, 2, 1);
    EXPECT_RUNS(f->s, "{\"root_run.name\": {\"eq\": \"two\"}}", 11, 10);
    EXPECT_NO_RUNS(f->s, "{\"root_run.function_path\": {\"eq\": \"mod.a\"}}");
    EXPECT_RUNS(f->s, "{\"pipeline_run.status\": {\"eq\": \"RUNNING\"}}", 11, 10);
    EXPECT_RUNS(f->s, "{\"pipeline_run.kind\": {\"eq\": \"LOCAL\"}}", 11, 10, 3, 2, 1);
    EXPECT_NO_RUNS(f->s, "{\"pipeline_run.status\": {\"eq\": \"FAILED\"}}");
    EXPECT_RUNS(f->s,
                "{\"AND\": [{\"pipeline_run.status\": {\"eq\": \"COMPLETE\"}}, {\"future_state\": "
                "{\"eq\": \"FAILED\"}}]}",
                3);
}

/* ------------------------------------------------------------ search */

static void search(struct sm_store *s, const char *text, struct got *g)
{
    struct sm_err err = SM_ERR_INIT;
    struct sm_query q = {.search = text};
    g->n = 0;
    OK(sm_store_query_runs(s, &q, got_run, g, NULL, &err));
}

static void test_store_query__search_is_case_insensitive_and_takes_wildcards_literally(void **state)
{
    struct fixture *f = *state;
    put_pipelines(f->s);
    struct got g = {0};
    search(f->s, "FIRST", &g); /* description */
    check_got(&g, (unsigned[]){1}, 1, __LINE__);
    search(f->s, "Pipe.T", &g); /* function path */
    check_got(&g, (unsigned[]){10}, 1, __LINE__);
    search(f->s, "EVAL", &g); /* tags */
    check_got(&g, (unsigned[]){10}, 1, __LINE__);
    search(f->s, "0000000000000000000000000000000b", &g); /* id (11 is 0x...0b) */
    check_got(&g, (unsigned[]){11}, 1, __LINE__);
    /* '%' and '_' mean themselves: "b%step" only, and "a_step" but not "aXstep". */
    search(f->s, "%", &g);
    check_got(&g, (unsigned[]){3}, 1, __LINE__);
    search(f->s, "a_s", &g);
    check_got(&g, (unsigned[]){11, 2}, 2, __LINE__);
    search(f->s, "\\", &g);
    check_got(&g, NULL, 0, __LINE__);
    search(f->s, "", &g);
    check_got(&g, (unsigned[]){11, 10, 3, 2, 1}, 5, __LINE__);

    /* With a filter: both hold. */
    struct sm_err err = SM_ERR_INIT;
    struct sm_filter flt;
    const char *json = "{\"parent_id\": {\"eq\": null}}";
    OK(sm_filter_parse(&flt, SM_ENTITY_RUNS, json, strlen(json), &err));
    struct sm_query q = {.filter = &flt, .search = "pipe"};
    g.n = 0;
    OK(sm_store_query_runs(f->s, &q, got_run, &g, NULL, &err));
    check_got(&g, (unsigned[]){10, 1}, 2, __LINE__);
    sm_filter_release(&flt);
}

/* ------------------------------------------------------------ pages */

/* n runs of root 1000 (ids 1001...), all created at the same microsecond. */
static void put_same_time_runs(struct sm_store *s, unsigned first, int n, int64_t created_at)
{
    struct sm_err err = SM_ERR_INIT;
    OK(sm_store_begin(s, &err));
    for (int i = 0; i < n; i++) {
        struct sm_run_rec r;
        run_init(&r, first + (unsigned)i, 1000, SM_STATE_CREATED);
        r.created_at = created_at;
        OK(sm_store_put_run(s, &r, &err));
    }
    OK(sm_store_commit(s, &err));
}

static void test_store_query__cursors_page_through_rows_with_equal_times(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    put_same_time_runs(f->s, 1001, 7, 500);
    for (int asc = 0; asc < 2; asc++) {
        struct sm_query q = {.limit = 3, .ascending = asc, .count = true};
        struct sm_page page;
        struct got g = {0};
        int64_t counts[3], rows[3];
        char cursor[SM_CURSOR_MAX] = "";
        int pages = 0;
        do {
            q.cursor = cursor;
            OK(sm_store_query_runs(f->s, &q, got_run, &g, &page, &err));
            counts[pages] = page.after_cursor_count;
            rows[pages] = page.n_rows;
            pages++;
            snprintf(cursor, sizeof(cursor), "%s", page.next_cursor);
        } while (cursor[0] && pages < 3);
        assert_int_equal(pages, 3);
        assert_string_equal(cursor, "");
        /* Sematic's after_cursor_count: the rows from the cursor on, this page included. */
        assert_int_equal(counts[0], 7);
        assert_int_equal(counts[1], 4);
        assert_int_equal(counts[2], 1);
        assert_int_equal(rows[0], 3);
        assert_int_equal(rows[2], 1);
        if (asc)
            check_got(&g, (unsigned[]){1001, 1002, 1003, 1004, 1005, 1006, 1007}, 7, __LINE__);
        else
            check_got(&g, (unsigned[]){1007, 1006, 1005, 1004, 1003, 1002, 1001}, 7, __LINE__);
    }
}

static void test_store_query__a_page_boundary_survives_writes_between_pages(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    put_same_time_runs(f->s, 1001, 4, 500);
    struct sm_query q = {.limit = 2};
    struct sm_page page;
    struct got g = {0};
    OK(sm_store_query_runs(f->s, &q, got_run, &g, &page, &err));
    check_got(&g, (unsigned[]){1004, 1003}, 2, __LINE__);
    assert_int_equal(page.after_cursor_count, -1); /* not asked for */
    char cursor[SM_CURSOR_MAX];
    snprintf(cursor, sizeof(cursor), "%s", page.next_cursor);
    assert_true(cursor[0] != '\0');

    /* Newer rows, and one at the same time sorting before the cursor: neither shows up on
     * the next page, and nothing repeats or goes missing (OFFSET paging would shift). */
    put_same_time_runs(f->s, 2001, 3, 900);
    put_same_time_runs(f->s, 1000, 1, 500);
    q.cursor = cursor;
    g.n = 0;
    OK(sm_store_query_runs(f->s, &q, got_run, &g, &page, &err));
    check_got(&g, (unsigned[]){1002, 1001}, 2, __LINE__);
    q.cursor = page.next_cursor;
    g.n = 0;
    char next[SM_CURSOR_MAX];
    snprintf(next, sizeof(next), "%s", page.next_cursor);
    q.cursor = next;
    OK(sm_store_query_runs(f->s, &q, got_run, &g, &page, &err));
    check_got(&g, (unsigned[]){1000}, 1, __LINE__);
    assert_string_equal(page.next_cursor, "");
}

static void test_store_query__cursors_are_sematics_base64_of_time_and_id(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    put_same_time_runs(f->s, 1001, 2, 1709209800123456);
    struct sm_query q = {.limit = 1};
    struct sm_page page;
    struct got g = {0};
    OK(sm_store_query_runs(f->s, &q, got_run, &g, &page, &err));
    /* base64url("2024-02-29 12:30:00.123456_000000000000000000000000000003ea") */
    assert_string_equal(page.next_cursor, "MjAyNC0wMi0yOSAxMjozMDowMC4xMjM0NTZfMDAwMDAwMDAwMDAwMDAw"
                                          "MDAwMDAwMDAwMDAwMDAzZWE=");
    /* Python's str(datetime) drops ".000000": such cursors read too. */
    q.cursor = "MjAyNC0wMi0yOSAxMjozMDowMF8wMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDNlYQ==";
    g.n = 0;
    OK(sm_store_query_runs(f->s, &q, got_run, &g, &page, &err));
    check_got(&g, NULL, 0, __LINE__); /* both runs are after 12:30:00.000000 */

    const char *bad[] = {"!!!", "bm90IGEgY3Vyc29y", /* "not a cursor" */
                         "MjAyNC0wMi0yOV94eXo=" /* "2024-02-29_xyz" */};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        q.cursor = bad[i];
        FAILS(SM_EINVAL, sm_store_query_runs(f->s, &q, got_run, &g, &page, &err));
        HAS(err.msg, "invalid cursor");
        HAS(err.msg, "drop it to start from the first page");
        sm_err_clear(&err);
    }
}

static void test_store_query__limits_count_and_stop(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    put_pipelines(f->s);
    struct sm_page page;
    struct got g = {0};
    for (int64_t limit = -1; limit <= 0; limit++) {
        struct sm_query q = {.limit = limit, .count = true};
        g.n = 0;
        OK(sm_store_query_runs(f->s, &q, got_run, &g, &page, &err));
        assert_int_equal(g.n, 5);
        assert_int_equal(page.n_rows, 5);
        assert_int_equal(page.after_cursor_count, 5);
        assert_string_equal(page.next_cursor, "");
    }
    /* Exactly a page's worth: no next page. */
    struct sm_query q = {.limit = 5};
    g.n = 0;
    OK(sm_store_query_runs(f->s, &q, got_run, &g, &page, &err));
    assert_string_equal(page.next_cursor, "");
    /* A callback's non-zero value stops the listing and is returned. */
    g.n = 0;
    g.stop_after = 2;
    q.limit = 0;
    assert_int_equal(sm_store_query_runs(f->s, &q, got_run, &g, &page, &err), 77);
    assert_int_equal(g.n, 2);
    /* Without a page it works the same. */
    g.n = 0;
    g.stop_after = 0;
    OK(sm_store_query_runs(f->s, &q, got_run, &g, NULL, &err));
    assert_int_equal(g.n, 5);
}

static void test_store_query__group_by_keeps_the_newest_row_of_each_value(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    put_pipelines(f->s);
    /* Another run of pipe.one, later: the pipelines index shows it, not root 1. */
    struct sm_run_rec r;
    OK(sm_store_begin(f->s, &err));
    run_init(&r, 20, 20, SM_STATE_CREATED);
    r.function_path = "pipe.one";
    r.name = "one";
    OK(sm_store_put_run(f->s, &r, &err));
    OK(sm_store_commit(f->s, &err));

    struct sm_filter flt;
    const char *json = "{\"parent_id\": {\"eq\": null}}";
    OK(sm_filter_parse(&flt, SM_ENTITY_RUNS, json, strlen(json), &err));
    struct sm_query q = {.filter = &flt, .group_by = "function_path", .count = true};
    struct sm_page page;
    struct got g = {0};
    OK(sm_store_query_runs(f->s, &q, got_run, &g, &page, &err));
    check_got(&g, (unsigned[]){20, 10}, 2, __LINE__);
    assert_int_equal(page.after_cursor_count, 2);
    /* Pages of groups. */
    q.limit = 1;
    g.n = 0;
    OK(sm_store_query_runs(f->s, &q, got_run, &g, &page, &err));
    char cursor[SM_CURSOR_MAX];
    snprintf(cursor, sizeof(cursor), "%s", page.next_cursor);
    q.cursor = cursor;
    OK(sm_store_query_runs(f->s, &q, got_run, &g, &page, &err));
    check_got(&g, (unsigned[]){20, 10}, 2, __LINE__);
    assert_int_equal(page.after_cursor_count, 1);
    sm_filter_release(&flt);

    /* Without a filter, function paths of children group too; ties broken by id. */
    struct sm_query all = {.group_by = "calculator_path"};
    g.n = 0;
    OK(sm_store_query_runs(f->s, &all, got_run, &g, NULL, &err));
    check_got(&g, (unsigned[]){20, 11, 10, 3}, 4, __LINE__);
}

static void test_store_query__bad_queries_are_invalid_with_a_clear_message(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct got g = {0};
    struct sm_page page;
    struct sm_filter flt;
    OK(sm_filter_parse(&flt, SM_ENTITY_EDGES, "{}", 2, &err));
    struct sm_query q = {.filter = &flt};
    FAILS(SM_EINVAL, sm_store_query_runs(f->s, &q, got_run, &g, &page, &err));
    HAS(err.msg, "it was parsed for edges, not runs");
    HAS(err.msg, "SM_ENTITY_RUNS");
    sm_err_clear(&err);
    sm_filter_release(&flt);

    struct sm_query qs = {.search = "x"};
    FAILS(SM_EINVAL, sm_store_query_edges(f->s, &qs, got_edge, &g, &page, &err));
    HAS(err.msg, "only runs can be searched");
    sm_err_clear(&err);

    struct sm_query qg = {.group_by = "colour"};
    FAILS(SM_EINVAL, sm_store_query_runs(f->s, &qg, got_run, &g, &page, &err));
    HAS(err.msg, "invalid group_by 'colour': runs have no such column");
    sm_err_clear(&err);
    qg.group_by = "user_id";
    FAILS(SM_EINVAL, sm_store_query_runs(f->s, &qg, got_run, &g, &page, &err));
    HAS(err.msg, "this store does not keep that column");
    sm_err_clear(&err);

    struct sm_query ql = {.limit = -2};
    FAILS(SM_EINVAL, sm_store_query_runs(f->s, &ql, got_run, &g, &page, &err));
    HAS(err.msg, "invalid limit -2");
    sm_err_clear(&err);

    struct sm_query q0 = {0};
    FAILS(SM_EINVAL, sm_store_query_runs(f->s, &q0, NULL, &g, &page, &err));
    sm_err_clear(&err);
    FAILS(SM_EINVAL, sm_store_query_runs(f->s, NULL, got_run, &g, &page, &err));
    assert_int_equal(page.n_rows, 0);
    assert_int_equal(page.after_cursor_count, -1);
}

static void test_store_query__listings_neither_wait_for_writers_nor_hold_readers(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    put_pipelines(f->s);
    /* Another handle (a LocalRunner) is in the middle of a batch. */
    struct sm_store *writer = sm_store_open_sqlite(f->home, SM_STORE_SYNC_NORMAL, &err);
    assert_non_null(writer);
    OK(sm_store_begin(writer, &err));
    struct sm_run_rec r;
    run_init(&r, 30, 30, SM_STATE_CREATED);
    OK(sm_store_put_run(writer, &r, &err));
    /* The listing runs at once and sees the committed rows only. */
    struct sm_query q = {.count = true};
    struct sm_page page;
    struct got g = {0};
    OK(sm_store_query_runs(f->s, &q, got_run, &g, &page, &err));
    check_got(&g, (unsigned[]){11, 10, 3, 2, 1}, 5, __LINE__);
    /* A listing stopped early by its callback leaves no read transaction behind either. */
    g.n = 0;
    g.stop_after = 1;
    assert_int_equal(sm_store_query_runs(f->s, &q, got_run, &g, &page, &err), 77);
    OK(sm_store_commit(writer, &err));
    sm_store_close(writer);
    /* So a checkpoint can copy the whole WAL back and truncate it: no reader pins it. */
    assert_int_equal(sql_value(f->db, "PRAGMA wal_checkpoint(TRUNCATE)"), 0);
    g.n = 0;
    g.stop_after = 0;
    OK(sm_store_query_runs(f->s, &q, got_run, &g, &page, &err));
    assert_int_equal(g.n, 6);
}

/* ------------------------------------------------------------ other records */

static void test_store_query__edges_artifacts_and_notes_list_by_filter(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    put_pipelines(f->s);
    OK(sm_store_begin(f->s, &err));
    /* Edges 101: literal -> run 2; 102: run 2 -> run 3; 103: run 11's output. */
    struct sm_edge_rec e;
    memset(&e, 0, sizeof(e));
    id_of(101, e.id);
    id_of(1, e.root_id);
    id_of(2, e.destination_run_id);
    e.destination_name = "x";
    e.created_at = 1;
    OK(sm_store_put_edge(f->s, &e, &err));
    id_of(102, e.id);
    id_of(2, e.source_run_id);
    id_of(3, e.destination_run_id);
    e.created_at = 2;
    OK(sm_store_put_edge(f->s, &e, &err));
    memset(&e, 0, sizeof(e));
    id_of(103, e.id);
    id_of(10, e.root_id);
    id_of(11, e.source_run_id);
    e.created_at = 3;
    snprintf(e.artifact_id, sizeof(e.artifact_id), "%s",
             "0123456789abcdef0123456789abcdef01234567");
    OK(sm_store_put_edge(f->s, &e, &err));
    /* Notes 201 on run 2, 202 on run 11. */
    struct sm_note_rec n;
    memset(&n, 0, sizeof(n));
    id_of(201, n.id);
    id_of(2, n.run_id);
    id_of(1, n.root_id);
    n.note = "looks good";
    n.created_at = 10;
    OK(sm_store_put_note(f->s, &n, &err));
    id_of(202, n.id);
    id_of(11, n.run_id);
    id_of(10, n.root_id);
    n.created_at = 11;
    OK(sm_store_put_note(f->s, &n, &err));
    OK(sm_store_commit(f->s, &err));

    /* The dashboard's graph fetch: edges touching a set of runs. */
    struct sm_filter flt;
    const char *json = "{\"OR\": [{\"source_run_id\": {\"in\": "
                       "[\"00000000000000000000000000000002\"]}}, {\"destination_run_id\": "
                       "{\"in\": [\"00000000000000000000000000000002\"]}}]}";
    OK(sm_filter_parse(&flt, SM_ENTITY_EDGES, json, strlen(json), &err));
    struct sm_query q = {.filter = &flt, .ascending = true};
    struct got g = {0};
    OK(sm_store_query_edges(f->s, &q, got_edge, &g, NULL, &err));
    check_got(&g, (unsigned[]){101, 102}, 2, __LINE__);
    sm_filter_release(&flt);
    json = "{\"artifact_id\": {\"eq\": \"0123456789abcdef0123456789abcdef01234567\"}}";
    OK(sm_filter_parse(&flt, SM_ENTITY_EDGES, json, strlen(json), &err));
    g.n = 0;
    OK(sm_store_query_edges(f->s, &q, got_edge, &g, NULL, &err));
    check_got(&g, (unsigned[]){103}, 1, __LINE__);
    sm_filter_release(&flt);

    /* Notes of a pipeline by its function path (Sematic's ?function_path=). */
    json = "{\"root_run.function_path\": {\"eq\": \"pipe.two\"}}";
    OK(sm_filter_parse(&flt, SM_ENTITY_NOTES, json, strlen(json), &err));
    struct sm_query qn = {.filter = &flt, .ascending = true};
    g.n = 0;
    OK(sm_store_query_notes(f->s, &qn, got_note, &g, NULL, &err));
    check_got(&g, (unsigned[]){202}, 1, __LINE__);
    sm_filter_release(&flt);
    struct sm_query all_notes = {.ascending = true};
    g.n = 0;
    OK(sm_store_query_notes(f->s, &all_notes, got_note, &g, NULL, &err));
    check_got(&g, (unsigned[]){201, 202}, 2, __LINE__);
}

/* The ids of artifacts, for a listing that checks payload_in_storage too. */
struct art_got {
    int n;
    char id[8][SM_SHA256_HEX_LEN + 1];
    bool in_storage[8];
};

static int got_artifact(void *ctx, const struct sm_artifact_rec *a)
{
    struct art_got *g = ctx;
    snprintf(g->id[g->n], sizeof(g->id[0]), "%s", a->id);
    g->in_storage[g->n++] = a->payload_in_storage;
    return 0;
}

static void test_store_query__artifacts_list_by_id_whichever_kind_of_id(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    const char *sha1 = "89abcdef0123456789abcdef0123456789abcdef";
    struct sm_artifact_rec a;
    memset(&a, 0, sizeof(a));
    snprintf(a.id, sizeof(a.id), "%s", sha1);
    a.type_json = "{\"type\": [\"builtin\", \"int\", {}]}";
    a.summary_json = "42";
    a.created_at = 7;
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_artifact(f->s, &a, NULL, 0, &err));
    /* One of ours: id = SHA-256 of type "\n" payload. */
    struct sm_artifact_rec b;
    memset(&b, 0, sizeof(b));
    uint8_t digest[SM_SHA256_LEN];
    sm_sha256("t\n1", 3, digest);
    sm_hex(digest, SM_SHA256_LEN, b.id);
    b.type_json = "t";
    b.summary_json = "1";
    b.created_at = 8;
    OK(sm_store_put_artifact(f->s, &b, "1", 1, &err));
    OK(sm_store_commit(f->s, &err));

    char json[256];
    snprintf(json, sizeof(json), "{\"id\": {\"in\": [\"%s\", \"%s\"]}}", sha1, b.id);
    struct sm_filter flt;
    OK(sm_filter_parse(&flt, SM_ENTITY_ARTIFACTS, json, strlen(json), &err));
    struct sm_query q = {.filter = &flt, .limit = 1, .count = true};
    struct sm_page page;
    struct art_got g = {0};
    OK(sm_store_query_artifacts(f->s, &q, got_artifact, &g, &page, &err));
    assert_int_equal(g.n, 1);
    assert_string_equal(g.id[0], b.id);
    assert_false(g.in_storage[0]);
    assert_int_equal(page.after_cursor_count, 2);
    /* The cursor of a 64-hex id works (and of a 40-hex one below). */
    char cursor[SM_CURSOR_MAX];
    snprintf(cursor, sizeof(cursor), "%s", page.next_cursor);
    q.cursor = cursor;
    OK(sm_store_query_artifacts(f->s, &q, got_artifact, &g, &page, &err));
    assert_int_equal(g.n, 2);
    assert_string_equal(g.id[1], sha1);
    assert_true(g.in_storage[1]);
    sm_filter_release(&flt);
}

/* ------------------------------------------------------------ query plans */

static void expect_plan(struct sm_store *s, enum sm_entity e, const char *json,
                        const char *group_by, const char *want, const char *not_want, int line)
{
    struct sm_err err = SM_ERR_INIT;
    struct sm_filter flt;
    if (sm_filter_parse(&flt, e, json, strlen(json), &err) != 0)
        fail_msg("line %d: %s", line, err.msg);
    struct sm_query q = {.filter = &flt, .limit = 20, .group_by = group_by};
    struct sm_buf plan = SM_BUF_INIT(1 << 16);
    if (sm__store_explain(s, e, &q, &plan, &err) != 0)
        fail_msg("line %d: explain: %s", line, err.msg);
    if (!strstr(plan.data, want))
        fail_msg("line %d: the plan of %s does not use '%s':\n%s", line, json, want, plan.data);
    /* not_want is a whole line: "SCAN r" (every row) but not "SCAN r USING INDEX ...". */
    char whole[64];
    snprintf(whole, sizeof(whole), "\n%s\n", not_want ? not_want : "");
    struct sm_buf lines = SM_BUF_INIT(1 << 16);
    assert_int_equal(sm_buf_addf(&lines, "\n%s", plan.data), 0);
    if (not_want && strstr(lines.data, whole))
        fail_msg("line %d: the plan of %s reads every row ('%s'):\n%s", line, json, not_want,
                 plan.data);
    sm_buf_release(&lines);
    printf("# %s\n%s", json, plan.data);
    sm_buf_release(&plan);
    sm_filter_release(&flt);
}

static void test_store_query__the_dashboards_listings_use_indexes(void **state)
{
    struct fixture *f = *state;
    put_pipelines(f->s);
    /* ANALYZE-less, as a fresh store is: the plans must not depend on statistics. */
    expect_plan(f->s, SM_ENTITY_RUNS, "{\"parent_id\": {\"eq\": null}}", NULL,
                "USING INDEX runs_roots", "SCAN r", __LINE__);
    expect_plan(f->s, SM_ENTITY_RUNS,
                "{\"root_id\": {\"eq\": \"00000000000000000000000000000001\"}}", NULL,
                "USING INDEX runs_root_id (root_id=?)", "SCAN r", __LINE__);
    expect_plan(f->s, SM_ENTITY_RUNS,
                "{\"parent_id\": {\"eq\": \"00000000000000000000000000000001\"}}", NULL,
                "USING INDEX runs_parent_id (parent_id=?)", "SCAN r", __LINE__);
    expect_plan(f->s, SM_ENTITY_RUNS,
                "{\"id\": {\"in\": [\"00000000000000000000000000000001\", "
                "\"00000000000000000000000000000002\"]}}",
                NULL, "USING INDEX sqlite_autoindex_run_rows_1 (id=?)", "SCAN r", __LINE__);
    expect_plan(f->s, SM_ENTITY_RUNS,
                "{\"AND\": [{\"function_path\": {\"eq\": \"pipe.one\"}}, {\"parent_id\": {\"eq\": "
                "null}}]}",
                NULL, "USING INDEX", "SCAN r", __LINE__);
    expect_plan(f->s, SM_ENTITY_RUNS, "{\"root_run.function_path\": {\"eq\": \"pipe.one\"}}", NULL,
                "USING INDEX runs_root_id (root_id=?)", "SCAN r", __LINE__);
    /* Grouping reads every root (by one of the partial indexes on roots), never every run. */
    expect_plan(f->s, SM_ENTITY_RUNS, "{\"parent_id\": {\"eq\": null}}", "function_path",
                "SCAN r USING INDEX runs_root", "SCAN r", __LINE__);
    expect_plan(f->s, SM_ENTITY_EDGES,
                "{\"OR\": [{\"source_run_id\": {\"in\": [\"00000000000000000000000000000002\"]}}, "
                "{\"destination_run_id\": {\"in\": [\"00000000000000000000000000000002\"]}}]}",
                NULL, "USING INDEX edges_destination", "SCAN t", __LINE__);
    expect_plan(f->s, SM_ENTITY_NOTES,
                "{\"root_id\": {\"eq\": \"00000000000000000000000000000001\"}}", NULL,
                "USING INDEX notes_root_id", "SCAN t", __LINE__);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_store_query__eq_on_text_ids_and_null),
        T(test_store_query__typed_columns_compare_as_their_type),
        T(test_store_query__in_lists_and_nulls_in_them),
        T(test_store_query__contains_matches_whole_tags),
        T(test_store_query__and_or_combine_and_nest),
        T(test_store_query__relationships_filter_by_root_run_and_pipeline_run),
        T(test_store_query__search_is_case_insensitive_and_takes_wildcards_literally),
        T(test_store_query__cursors_page_through_rows_with_equal_times),
        T(test_store_query__a_page_boundary_survives_writes_between_pages),
        T(test_store_query__cursors_are_sematics_base64_of_time_and_id),
        T(test_store_query__limits_count_and_stop),
        T(test_store_query__group_by_keeps_the_newest_row_of_each_value),
        T(test_store_query__bad_queries_are_invalid_with_a_clear_message),
        T(test_store_query__listings_neither_wait_for_writers_nor_hold_readers),
        T(test_store_query__edges_artifacts_and_notes_list_by_filter),
        T(test_store_query__artifacts_list_by_id_whichever_kind_of_id),
        T(test_store_query__the_dashboards_listings_use_indexes),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
