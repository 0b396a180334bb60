/*
 * test_store_filter.c: Sematic's filter language parsed into a checked tree
 * (include/sematic/filter.h), and ISO-8601 times (sm_parse_time_us):
 * every operator and relationship, values converted by column type, and
 * every kind of bad filter refused with a message that names the problem,
 * where it is and how to write it (cases are data: input, expected text).
 * Pure functions: no store is opened.
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

#include "sematic/alloc.h"
#include "sematic/buf.h"
#include "sematic/filter.h"
#include "sematic/graph.h"
#include "sematic/store.h"

#include "util/banned.h"

static struct sm_filter parse_ok(enum sm_entity e, const char *json, int line)
{
    struct sm_filter f;
    struct sm_err err = SM_ERR_INIT;
    int rc = sm_filter_parse(&f, e, json, strlen(json), &err);
    if (rc != 0)
        fail_msg("line %d: parsing %s returned %s: %s", line, json, sm_err_name(rc), err.msg);
    return f;
}
#define PARSE(e, json) parse_ok((e), (json), __LINE__)

/* ------------------------------------------------------------ what parses */

static void test_store_filter__empty_text_and_empty_object_match_everything(void **state)
{
    (void)state;
    const char *inputs[] = {"", "  \n", "{}", " { } "};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct sm_filter f = PARSE(SM_ENTITY_RUNS, inputs[i]);
        assert_null(f.root);
        assert_int_equal(f.entity, SM_ENTITY_RUNS);
        sm_filter_release(&f);
    }
    /* NULL text with length 0 is no filter too. */
    struct sm_filter f;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm_filter_parse(&f, SM_ENTITY_NOTES, NULL, 0, &err), 0);
    assert_null(f.root);
    sm_filter_release(&f);
    sm_filter_release(NULL);
}

static void test_store_filter__eq_keeps_text_and_null(void **state)
{
    (void)state;
    struct sm_filter f = PARSE(SM_ENTITY_RUNS, "{\"parent_id\": {\"eq\": null}}");
    assert_non_null(f.root);
    assert_int_equal(f.root->op, SM_FILTER_EQ);
    assert_int_equal(f.root->rel, SM_FILTER_SELF);
    assert_int_equal(f.root->entity, SM_ENTITY_RUNS);
    assert_int_equal(f.root->column, SM_RUN_PARENT_ID);
    assert_int_equal(f.root->n_values, 1);
    assert_true(f.root->values[0].is_null);
    sm_filter_release(&f);

    f = PARSE(SM_ENTITY_RUNS, "{\"calculator_path\": {\"eq\": \"a.b\"}}");
    assert_int_equal(f.root->column, SM_RUN_FUNCTION_PATH); /* Sematic's older name */
    assert_false(f.root->values[0].is_null);
    assert_string_equal(f.root->values[0].text, "a.b");
    assert_int_equal(f.root->values[0].len, 3);
    sm_filter_release(&f);
}

static void test_store_filter__values_take_their_columns_types(void **state)
{
    (void)state;
    struct sm_filter f = PARSE(SM_ENTITY_RUNS, "{\"future_state\": {\"in\": [\"RESOLVED\", "
                                               "\"NESTED_FAILED\", null]}}");
    assert_int_equal(f.root->op, SM_FILTER_IN);
    assert_int_equal(f.root->n_values, 3);
    assert_int_equal(f.root->values[0].num, SM_STATE_RESOLVED);
    assert_int_equal(f.root->values[1].num, SM_STATE_NESTED_FAILED);
    assert_true(f.root->values[2].is_null);
    assert_int_equal(f.n_values, 3);
    sm_filter_release(&f);

    f = PARSE(SM_ENTITY_RUNS, "{\"created_at\": {\"eq\": \"1970-01-01T00:00:01.5\"}}");
    assert_int_equal(f.root->values[0].num, 1500000);
    sm_filter_release(&f);

    f = PARSE(SM_ENTITY_RUNS, "{\"attempt\": {\"eq\": 2}}");
    assert_int_equal(f.root->values[0].num, 2);
    sm_filter_release(&f);

    f = PARSE(SM_ENTITY_RUNS, "{\"is_inline\": {\"eq\": false}}");
    assert_int_equal(f.root->values[0].num, 0);
    sm_filter_release(&f);

    f = PARSE(SM_ENTITY_RUNS, "{\"tags\": {\"contains\": \"x\"}}");
    assert_int_equal(f.root->op, SM_FILTER_CONTAINS);
    assert_string_equal(f.root->values[0].text, "x");
    sm_filter_release(&f);

    f = PARSE(SM_ENTITY_RUNS, "{\"id\": {\"in\": []}}");
    assert_int_equal(f.root->n_values, 0);
    sm_filter_release(&f);
}

static void test_store_filter__and_or_nest_with_children_in_order(void **state)
{
    (void)state;
    struct sm_filter f = PARSE(
        SM_ENTITY_RUNS, "{\"AND\": [{\"calculator_path\": {\"eq\": \"a.b\"}}, {\"OR\": "
                        "[{\"tags\": {\"contains\": \"x\"}}, {\"name\": {\"eq\": \"n\"}}]}]}");
    const struct sm_filter_node *n = f.root;
    assert_int_equal(n->op, SM_FILTER_AND);
    assert_int_equal(n->n_children, 2);
    assert_int_equal(n->children[0].op, SM_FILTER_EQ);
    assert_int_equal(n->children[0].column, SM_RUN_FUNCTION_PATH);
    assert_int_equal(n->children[1].op, SM_FILTER_OR);
    assert_int_equal(n->children[1].n_children, 2);
    assert_int_equal(n->children[1].children[0].op, SM_FILTER_CONTAINS);
    assert_int_equal(n->children[1].children[1].column, SM_RUN_NAME);
    assert_int_equal(f.n_nodes, 5);
    sm_filter_release(&f);

    f = PARSE(SM_ENTITY_EDGES, "{\"OR\": []}");
    assert_int_equal(f.root->op, SM_FILTER_OR);
    assert_int_equal(f.root->n_children, 0);
    sm_filter_release(&f);
}

static void test_store_filter__relationships_reach_the_root_run_and_pipeline_run(void **state)
{
    (void)state;
    struct sm_filter f = PARSE(SM_ENTITY_RUNS, "{\"root_run.function_path\": {\"eq\": \"p.q\"}}");
    assert_int_equal(f.root->rel, SM_FILTER_ROOT_RUN);
    assert_int_equal(f.root->entity, SM_ENTITY_RUNS);
    assert_int_equal(f.root->column, SM_RUN_FUNCTION_PATH);
    sm_filter_release(&f);

    f = PARSE(SM_ENTITY_NOTES, "{\"pipeline_run.status\": {\"eq\": \"COMPLETE\"}}");
    assert_int_equal(f.root->rel, SM_FILTER_PIPELINE_RUN);
    assert_int_equal(f.root->entity, SM_ENTITY_PIPELINE_RUNS);
    assert_int_equal(f.root->column, SM_PIPELINE_STATUS);
    assert_int_equal(f.root->values[0].num, SM_PIPELINE_COMPLETE);
    sm_filter_release(&f);
}

static void test_store_filter__columns_are_listed_and_found_by_name(void **state)
{
    (void)state;
    assert_int_equal(sm_filter_n_columns(SM_ENTITY_RUNS), SM_RUN_COLUMN_COUNT);
    assert_int_equal(sm_filter_n_columns(SM_ENTITY_NOTES), SM_NOTE_COLUMN_COUNT);
    for (int e = 0; e < SM_ENTITY_COUNT; e++)
        for (int c = 0; c < sm_filter_n_columns((enum sm_entity)e); c++) {
            const char *name = sm_filter_column_name((enum sm_entity)e, c);
            assert_non_null(name);
            assert_int_equal(sm_filter_column_find((enum sm_entity)e, name), c);
        }
    assert_int_equal(sm_filter_column_find(SM_ENTITY_RUNS, "nested_id"), SM_RUN_NESTED_FUTURE_ID);
    assert_int_equal(sm_filter_column_find(SM_ENTITY_RUNS, "nope"), -1);
    assert_int_equal(sm_filter_column_find(SM_ENTITY_RUNS, NULL), -1);
    assert_null(sm_filter_column_name(SM_ENTITY_RUNS, SM_RUN_COLUMN_COUNT));
    assert_int_equal(sm_filter_column_type(SM_ENTITY_RUNS, SM_RUN_TAGS), SM_COLUMN_TAGS);
    assert_int_equal(sm_filter_column_type(SM_ENTITY_EDGES, SM_EDGE_SOURCE_NAME), SM_COLUMN_ABSENT);
    assert_string_equal(sm_entity_name(SM_ENTITY_ARTIFACTS), "artifacts");
    assert_string_equal(sm_entity_name((enum sm_entity)99), "unknown");
}

/* ------------------------------------------------------------ what is refused, and how */

struct bad_case {
    int id;
    enum sm_entity entity;
    const char *json;
    const char *want[3]; /* parts the message must contain */
};

static const struct bad_case bad_cases[] = {
    {1, SM_ENTITY_RUNS, "{\"id\": ", {"invalid filters: invalid JSON at byte", "pass JSON"}},
    {2, SM_ENTITY_RUNS, "[1, 2]", {"invalid filters: a filter is an object", "not a list"}},
    {3, SM_ENTITY_RUNS, "\"id\"", {"not a string"}},
    {4,
     SM_ENTITY_RUNS,
     "{\"foo\": {\"eq\": 1}}",
     {"unknown column 'foo' of runs", "use one of: id, original_run_id, future_state"}},
    {5,
     SM_ENTITY_ARTIFACTS,
     "{\"parent_id\": {\"eq\": null}}",
     {"unknown column 'parent_id' of artifacts", "id, type_serialization"}},
    {6,
     SM_ENTITY_RUNS,
     "{\"id\": {\"gt\": \"a\"}}",
     {"unknown operator 'gt' on 'id'", "use eq, in or contains"}},
    {7,
     SM_ENTITY_RUNS,
     "{\"id\": {\"in\": \"abc\"}}",
     {"'in' on 'id' takes a list of values, not a string", "{\"in\": [\"a\", \"b\"]}"}},
    {8,
     SM_ENTITY_RUNS,
     "{\"name\": {\"contains\": \"x\"}}",
     {"'contains' works only on tags, not on 'name'", "use eq or in"}},
    {9,
     SM_ENTITY_RUNS,
     "{\"tags\": {\"eq\": \"x\"}}",
     {"compare 'tags' with {\"contains\": \"a tag\"}, not eq"}},
    {10,
     SM_ENTITY_RUNS,
     "{\"root_run.function_path\": {\"in\": [\"a\"]}}",
     {"relationship column 'root_run.function_path' takes only eq, not in"}},
    {11,
     SM_ENTITY_RUNS,
     "{\"parent_run.id\": {\"eq\": \"a\"}}",
     {"unknown relationship 'parent_run' in 'parent_run.id'", "root_run.<column>"}},
    {12,
     SM_ENTITY_ARTIFACTS,
     "{\"root_run.id\": {\"eq\": \"a\"}}",
     {"artifacts have no root run, so 'root_run.id' cannot apply"}},
    {13,
     SM_ENTITY_RUNS,
     "{\"pipeline_run.colour\": {\"eq\": \"a\"}}",
     {"unknown column 'colour' of pipeline runs", "status"}},
    {14,
     SM_ENTITY_RUNS,
     "{\"future_state\": {\"eq\": \"DONE\"}}",
     {"unknown run state 'DONE' for 'future_state'", "use one of CREATED, SCHEDULED"}},
    {15,
     SM_ENTITY_RUNS,
     "{\"pipeline_run.status\": {\"eq\": \"RESOLVED\"}}",
     {"unknown pipeline run status 'RESOLVED'", "COMPLETE"}},
    {16,
     SM_ENTITY_RUNS,
     "{\"created_at\": {\"eq\": 5}}",
     {"'created_at' is a time", "ISO-8601", "not a number"}},
    {17,
     SM_ENTITY_RUNS,
     "{\"created_at\": {\"eq\": \"yesterday\"}}",
     {"'created_at' is a time", "not a string 'yesterday'"}},
    {18,
     SM_ENTITY_RUNS,
     "{\"name\": {\"eq\": 5}}",
     {"'name' holds text; compare it with a string or null, not a number"}},
    {19,
     SM_ENTITY_RUNS,
     "{\"name\": {\"eq\": [\"a\"]}}",
     {"'name' is compared with a list", "{\"in\": [...]}"}},
    {20, SM_ENTITY_RUNS, "{\"attempt\": {\"eq\": 1.5}}", {"'attempt' holds whole numbers"}},
    {21,
     SM_ENTITY_RUNS,
     "{\"is_inline\": {\"eq\": 1}}",
     {"'is_inline' is true or false; compare it with a boolean, not a number"}},
    {22, SM_ENTITY_RUNS, "{\"id\": {}}", {"the condition on 'id' is empty", "{\"eq\": value}"}},
    {23,
     SM_ENTITY_RUNS,
     "{\"id\": {\"eq\": \"a\", \"in\": [\"b\"]}}",
     {"the condition on 'id' has 2 operators", "{\"AND\": [...]}"}},
    {24,
     SM_ENTITY_RUNS,
     "{\"id\": \"a\"}",
     {"the condition on 'id' is a string", "{\"id\": {\"eq\": value}}"}},
    {25,
     SM_ENTITY_RUNS,
     "{\"id\": {\"eq\": \"a\"}, \"name\": {\"eq\": \"b\"}}",
     {"a filter holds one condition, this one has 2 ('id', 'name'", "{\"AND\""}},
    {26,
     SM_ENTITY_RUNS,
     "{\"AND\": {\"id\": {\"eq\": \"a\"}}}",
     {"'AND' takes a list of filters, not an object"}},
    {27,
     SM_ENTITY_RUNS,
     "{\"AND\": [{\"id\": {\"eq\": \"a\"}}, {\"nope\": {\"eq\": 1}}]}",
     {"invalid filters at AND[1]: unknown column 'nope'"}},
    {28,
     SM_ENTITY_RUNS,
     "{\"OR\": [{\"AND\": [{\"id\": {\"eq\": 3}}]}]}",
     {"invalid filters at OR[0].AND[0]: 'id' holds text"}},
    {29,
     SM_ENTITY_RUNS,
     "{\"AND\": [{}]}",
     {"at AND[0]: an empty filter {} inside AND or OR", "drop it"}},
    {30, SM_ENTITY_RUNS, "{\"and\": []}", {"unknown column 'and'", "write 'AND' in capitals"}},
    {31, SM_ENTITY_RUNS, "{\"tags\": {\"contains\": null}}", {"'tags' contains strings, not null"}},
    {32,
     SM_ENTITY_RUNS,
     "{\"id\": {\"eq\": \"a\"}} x",
     {"invalid JSON at byte", "expected the end of the text"}},
};

static void test_store_filter__every_bad_filter_is_invalid_naming_the_problem(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        struct sm_filter f;
        struct sm_err err = SM_ERR_INIT;
        int rc = sm_filter_parse(&f, c->entity, c->json, strlen(c->json), &err);
        if (rc != SM_EINVAL)
            fail_msg("case %d (%s): returned %s (%s), expected SM_EINVAL", c->id, c->json,
                     sm_err_name(rc), err.msg);
        assert_null(f.root);
        assert_null(f.mem);
        for (int k = 0; k < 3 && c->want[k]; k++)
            if (!strstr(err.msg, c->want[k]))
                fail_msg("case %d (%s): message '%s' does not contain '%s'", c->id, c->json,
                         err.msg, c->want[k]);
        sm_filter_release(&f);
    }
}

/* {"AND": [{"AND": [... {"id": {"eq": "a"}} ...]}]} nested `depth` times. */
static char *nested_and(int depth)
{
    struct sm_buf b = SM_BUF_INIT(1 << 20);
    for (int i = 0; i < depth; i++)
        assert_int_equal(sm_buf_adds(&b, "{\"AND\": ["), 0);
    assert_int_equal(sm_buf_adds(&b, "{\"id\": {\"eq\": \"a\"}}"), 0);
    for (int i = 0; i < depth; i++)
        assert_int_equal(sm_buf_adds(&b, "]}"), 0);
    return sm_buf_detach(&b, NULL);
}

static void test_store_filter__depth_nodes_and_values_are_capped(void **state)
{
    (void)state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_filter f;

    char *ok = nested_and(SM_FILTER_MAX_DEPTH);
    assert_int_equal(sm_filter_parse(&f, SM_ENTITY_RUNS, ok, strlen(ok), &err), 0);
    sm_filter_release(&f);
    sm_free(ok);
    char *deep = nested_and(SM_FILTER_MAX_DEPTH + 1);
    assert_int_equal(sm_filter_parse(&f, SM_ENTITY_RUNS, deep, strlen(deep), &err), SM_EINVAL);
    assert_non_null(strstr(err.msg, "AND and OR nest deeper than 16 levels"));
    sm_free(deep);
    /* Deeper than the JSON reader itself allows is refused as invalid, too. */
    sm_err_clear(&err);
    deep = nested_and(400);
    assert_int_equal(sm_filter_parse(&f, SM_ENTITY_RUNS, deep, strlen(deep), &err), SM_EINVAL);
    assert_non_null(strstr(err.msg, "invalid filters: "));
    sm_free(deep);

    /* 300 conditions in one OR: more than SM_FILTER_MAX_NODES. */
    struct sm_buf b = SM_BUF_INIT(1 << 22);
    assert_int_equal(sm_buf_adds(&b, "{\"OR\": ["), 0);
    for (int i = 0; i < 300; i++)
        assert_int_equal(sm_buf_addf(&b, "%s{\"id\": {\"eq\": \"%d\"}}", i ? "," : "", i), 0);
    assert_int_equal(sm_buf_adds(&b, "]}"), 0);
    sm_err_clear(&err);
    assert_int_equal(sm_filter_parse(&f, SM_ENTITY_RUNS, b.data, b.len, &err), SM_EINVAL);
    assert_non_null(strstr(err.msg, "more than 256 conditions"));

    /* 10,001 values in one `in`; 10,000 are fine. */
    for (int n = SM_FILTER_MAX_VALUES; n <= SM_FILTER_MAX_VALUES + 1; n++) {
        sm_buf_reset(&b);
        assert_int_equal(sm_buf_adds(&b, "{\"id\": {\"in\": ["), 0);
        for (int i = 0; i < n; i++)
            assert_int_equal(sm_buf_addf(&b, "%s\"%d\"", i ? "," : "", i), 0);
        assert_int_equal(sm_buf_adds(&b, "]}}"), 0);
        sm_err_clear(&err);
        int rc = sm_filter_parse(&f, SM_ENTITY_RUNS, b.data, b.len, &err);
        if (n == SM_FILTER_MAX_VALUES) {
            assert_int_equal(rc, 0);
            assert_int_equal(f.root->n_values, n);
            sm_filter_release(&f);
        } else {
            assert_int_equal(rc, SM_EINVAL);
            assert_non_null(strstr(err.msg, "more than 10000 values"));
        }
    }
    sm_buf_release(&b);

    /* Text past SM_FILTER_MAX_BYTES is refused before it is read. */
    sm_err_clear(&err);
    assert_int_equal(sm_filter_parse(&f, SM_ENTITY_RUNS, "{}", SM_FILTER_MAX_BYTES + 1, &err),
                     SM_EINVAL);
    assert_non_null(strstr(err.msg, "more than 1048576"));
}

/* ------------------------------------------------------------ times */

static void test_store_filter__iso_times_parse_in_every_form_python_writes(void **state)
{
    (void)state;
    struct {
        const char *text;
        int64_t us;
    } good[] = {
        {"1970-01-01", 0},
        {"1970-01-01T00:00:01", 1000000},
        {"1970-01-01 00:00:01.5", 1500000},
        {"1970-01-01T00:00:00.000001Z", 1},
        {"1970-01-01T00:00:00.1234569", 123456}, /* beyond microseconds: dropped */
        {"2024-02-29T12:30:00+00:00", 1709209800000000},
        {"2024-02-29T13:30:00+01:00", 1709209800000000},
        {"2024-02-29T12:30", 1709209800000000},
        {"1969-12-31T23:59:59.999999", -1},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct sm_err err = SM_ERR_INIT;
        int64_t us = 42;
        int rc = sm_parse_time_us(good[i].text, strlen(good[i].text), &us, &err);
        if (rc != 0 || us != good[i].us)
            fail_msg("'%s': rc %d (%s), %lld us, expected %lld", good[i].text, rc, err.msg,
                     (long long)us, (long long)good[i].us);
    }
    /* What sm_format_time_us() writes reads back. */
    char text[40];
    sm_format_time_us(1709209800123456, text);
    int64_t us = 0;
    assert_int_equal(sm_parse_time_us(text, strlen(text), &us, NULL), 0);
    assert_int_equal(us, 1709209800123456);

    const char *bad[] = {"",
                         "2024",
                         "2024-13-01",
                         "2023-02-29",
                         "2024-01-01T24:00",
                         "2024-01-01T12:00:00.",
                         "2024-01-01X12:00",
                         "2024-01-01T12:00:00+5",
                         "2024-01-01T12:00:00 junk"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sm_err err = SM_ERR_INIT;
        assert_int_equal(sm_parse_time_us(bad[i], strlen(bad[i]), &us, &err), SM_EINVAL);
        assert_non_null(strstr(err.msg, "expected ISO-8601 UTC text"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_filter__empty_text_and_empty_object_match_everything),
        cmocka_unit_test(test_store_filter__eq_keeps_text_and_null),
        cmocka_unit_test(test_store_filter__values_take_their_columns_types),
        cmocka_unit_test(test_store_filter__and_or_nest_with_children_in_order),
        cmocka_unit_test(test_store_filter__relationships_reach_the_root_run_and_pipeline_run),
        cmocka_unit_test(test_store_filter__columns_are_listed_and_found_by_name),
        cmocka_unit_test(test_store_filter__every_bad_filter_is_invalid_naming_the_problem),
        cmocka_unit_test(test_store_filter__depth_nodes_and_values_are_capped),
        cmocka_unit_test(test_store_filter__iso_times_parse_in_every_form_python_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
