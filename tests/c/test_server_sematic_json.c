/*
 * test_server_sematic_json.c: Sematic's JSON forms of runs, artifacts,
 * edges and resolutions (src/server/sematic_json.c): what the real client
 * sends (records from a recorded trace of Sematic 0.41's LocalRunner) reads
 * into the store's records, bad records are refused naming the record, the
 * field and what it must be, and what we write back has Sematic's keys, in
 * Sematic's (sorted) order, with its time format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sematic/graph.h"

#include "sematic_json.h"

#include "util/banned.h"

#define NOW_US 1795393247000000LL

/* A run as Sematic 0.41's client sent it (trace of PUT /api/v1/graph), with a hole for one
 * field's text: FIELD(name) gives the default. */
static const char *const run_fields[][2] = {
    {"id", "\"5983617194cb4fc1acd06ba2f44e9018\""},
    {"original_run_id", "null"},
    {"future_state", "\"CREATED\""},
    {"name", "\"ok\""},
    {"function_path", "\"__main__.pipeline\""},
    {"parent_id", "null"},
    {"root_id", "\"5983617194cb4fc1acd06ba2f44e9018\""},
    {"description", "null"},
    {"tags", "[\"trace\"]"},
    {"source_code",
     "\"@sematic.func\\ndef pipeline(a: int, b: int) -> Summary:\\n    return 1\\n\""},
    {"nested_future_id", "null"},
    {"exception_metadata_json", "null"},
    {"external_exception_metadata_json", "null"},
    {"container_image_uri", "null"},
    {"created_at", "\"2026-11-23T00:20:47.747800+00:00\""},
    {"updated_at", "\"2026-11-23T00:20:47.747804+00:00\""},
    {"started_at", "null"},
    {"ended_at", "null"},
    {"resolved_at", "null"},
    {"failed_at", "null"},
    {"resource_requirements_json", "null"},
    {"cache_key", "null"},
    {"user_id", "null"},
    {"organization_id", "null"},
};
#define N_RUN_FIELDS (sizeof(run_fields) / sizeof(run_fields[0]))

/* The run's JSON with field `name` replaced by `value` (NULL: left out). */
static void run_json(struct sm_buf *b, const char *name, const char *value)
{
    sm_buf_reset(b);
    sm_buf_adds(b, "{");
    bool first = true;
    for (size_t i = 0; i < N_RUN_FIELDS; i++) {
        const char *v = run_fields[i][1];
        if (name != NULL && strcmp(run_fields[i][0], name) == 0) {
            if (value == NULL)
                continue;
            v = value;
        }
        sm_buf_addf(b, "%s\"%s\":%s", first ? "" : ",", run_fields[i][0], v);
        first = false;
    }
    sm_buf_adds(b, "}");
}

static void parse(struct sm_json_doc *doc, const char *text)
{
    struct sm_err err = SM_ERR_INIT;
    if (sm_json_parse(doc, text, strlen(text), &err) != 0)
        fail_msg("bad test JSON '%s': %s", text, err.msg);
}

static void test_server_sematic_json__a_run_from_sematics_client_reads_whole(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(1 << 20);
    run_json(&b, NULL, NULL);
    struct sm_json_doc doc = {0};
    parse(&doc, b.data);
    struct sm_sj_pool pool = {0};
    struct sm_sj_run run;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm__sj_run_from_json(doc.root, "graph.runs[0]", NOW_US, &pool, &run, &err), 0);
    assert_string_equal(run.rec.id, "5983617194cb4fc1acd06ba2f44e9018");
    assert_string_equal(run.rec.root_id, run.rec.id);
    assert_string_equal(run.rec.parent_id, "");
    assert_int_equal(run.rec.state, SM_STATE_CREATED);
    assert_string_equal(run.rec.name, "ok");
    assert_string_equal(run.rec.function_path, "__main__.pipeline");
    assert_null(run.rec.description);
    assert_string_equal(run.rec.tags_json, "[\"trace\"]");
    assert_int_equal(run.source_len, strlen(run.source_code));
    assert_non_null(strstr(run.source_code, "def pipeline("));
    assert_int_equal(run.rec.created_at, 1795393247747800LL);
    assert_int_equal(run.rec.updated_at, 1795393247747804LL);
    assert_int_equal(run.rec.started_at, 0);
    assert_null(run.rec.exception_json);

    /* and it writes back in Sematic's shape, keys sorted */
    struct sm_buf out = SM_BUF_INIT(1 << 20);
    struct sm_jw w;
    sm_jw_init(&w, &out);
    sm__sj_write_run(&w, &run.rec, run.source_code, run.source_len);
    assert_int_equal(sm_jw_finish(&w, &err), 0);
    assert_string_equal(
        out.data,
        "{\"cache_key\":null,\"container_image_uri\":null,\"created_at\":\"2026-11-23T00:20:47."
        "747800+00:00\",\"description\":null,\"ended_at\":null,\"exception_metadata_json\":null,"
        "\"external_exception_metadata_json\":null,\"failed_at\":null,\"function_path\":\"__main_"
        "_.pipeline\",\"future_state\":\"CREATED\",\"id\":\"5983617194cb4fc1acd06ba2f44e9018\","
        "\"name\":\"ok\",\"nested_future_id\":null,\"organization_id\":null,\"original_run_id\":"
        "null,\"parent_id\":null,\"resolved_at\":null,\"resource_requirements_json\":null,\"root_"
        "id\":\"5983617194cb4fc1acd06ba2f44e9018\",\"source_code\":\"@sematic.func\\ndef "
        "pipeline(a: int, b: int) -> Summary:\\n    return 1\\n\",\"started_at\":null,\"tags\":["
        "\"trace\"],\"updated_at\":\"2026-11-23T00:20:47.747804+00:00\",\"user\":null,\"user_id\""
        ":null}");
    sm_buf_release(&out);
    sm__sj_pool_release(&pool);
    sm_json_doc_release(&doc);
    sm_buf_release(&b);
}

static void test_server_sematic_json__run_fields_keep_sematics_json_and_defaults(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(1 << 20);
    struct sm_json_doc doc = {0};
    struct sm_sj_pool pool = {0};
    struct sm_sj_run run;
    struct sm_err err = SM_ERR_INIT;
    /* exception metadata is kept as JSON with sorted keys; missing times default to now */
    run_json(&b, "exception_metadata_json",
             "{\"repr\":\"ValueError('bad')\",\"name\":\"ValueError\",\"module\":\"builtins\","
             "\"ancestors\":[\"builtins.Exception\"]}");
    parse(&doc, b.data);
    sm_json_doc_release(&doc);
    run_json(&b, "created_at", NULL);
    parse(&doc, b.data);
    assert_int_equal(sm__sj_run_from_json(doc.root, "r", NOW_US, &pool, &run, &err), 0);
    assert_int_equal(run.rec.created_at, NOW_US);
    sm_json_doc_release(&doc);

    run_json(&b, "exception_metadata_json",
             "{\"repr\":\"ValueError('bad')\",\"name\":\"ValueError\",\"module\":\"builtins\","
             "\"ancestors\":[\"builtins.Exception\"]}");
    parse(&doc, b.data);
    assert_int_equal(sm__sj_run_from_json(doc.root, "r", NOW_US, &pool, &run, &err), 0);
    assert_string_equal(run.rec.exception_json,
                        "{\"ancestors\":[\"builtins.Exception\"],\"module\":\"builtins\",\"name\":"
                        "\"ValueError\",\"repr\":\"ValueError('bad')\"}");
    sm_json_doc_release(&doc);

    /* the description is stripped and dedented one level, as Sematic's validator does */
    run_json(&b, "description", "\"\\n    Adds.\\n\\n    Twice:\\n        indented\\n    \"");
    parse(&doc, b.data);
    assert_int_equal(sm__sj_run_from_json(doc.root, "r", NOW_US, &pool, &run, &err), 0);
    assert_string_equal(run.rec.description, "Adds.\n\nTwice:\n    indented");
    sm_json_doc_release(&doc);

    sm__sj_pool_release(&pool);
    sm_buf_release(&b);
}

/* The run with field `name` set to `value` must be refused with a message holding `want`. */
static void expect_run_error(const char *name, const char *value, const char *want)
{
    struct sm_buf b = SM_BUF_INIT(1 << 20);
    run_json(&b, name, value);
    struct sm_json_doc doc = {0};
    parse(&doc, b.data);
    struct sm_sj_pool pool = {0};
    struct sm_sj_run run;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm__sj_run_from_json(doc.root, "graph.runs[2]", NOW_US, &pool, &run, &err),
                     SM_EINVAL);
    if (strstr(err.msg, want) == NULL)
        fail_msg("%s=%s: message '%s' lacks '%s'", name, value ? value : "(absent)", err.msg, want);
    sm__sj_pool_release(&pool);
    sm_json_doc_release(&doc);
    sm_buf_release(&b);
}

static void test_server_sematic_json__bad_runs_name_the_record_the_field_and_the_fix(void **state)
{
    (void)state;
    expect_run_error("id", "\"xyz\"",
                     "invalid graph.runs[2]: 'id' must be 32 lower-case hex digits (a run id), "
                     "got 'xyz'");
    expect_run_error("id", NULL, "invalid graph.runs[2]: 'id' is missing; every run needs one");
    expect_run_error("id", "null", "'id' is null; every run needs one");
    expect_run_error("id", "5", "'id' must be a string or null, got a number");
    expect_run_error("future_state", "\"DONE\"",
                     "invalid graph.runs[2] (run '5983617194cb4fc1acd06ba2f44e9018'): "
                     "'future_state' must be one of CREATED, SCHEDULED, RAN, RESOLVED, FAILED, "
                     "NESTED_FAILED, RETRYING, CANCELED, got 'DONE'");
    expect_run_error("root_id", NULL, "'root_id' is missing");
    expect_run_error("parent_id", "\"5983617194CB4FC1ACD06BA2F44E9018\"",
                     "'parent_id' must be 32 lower-case hex digits");
    expect_run_error("function_path", "\"\"", "'function_path' is empty");
    expect_run_error("created_at", "\"yesterday\"",
                     "'created_at' must be an ISO-8601 time such as");
    expect_run_error("started_at", "12", "'started_at' must be a string or null, got a number");
    expect_run_error("tags", "\"a\"", "'tags' must be a list of strings, got a string");
    expect_run_error("tags", "[\"a\",1]",
                     "'tags' must be a list of strings, but item 1 is a "
                     "number");
    expect_run_error("exception_metadata_json", "[]",
                     "'exception_metadata_json' must be an object or null, got a list");
    expect_run_error("source_code", "{}", "'source_code' must be a string or null, got an object");
    expect_run_error("name", "\"a\\u0000b\"", "'name' must not contain NUL characters");
    expect_run_error("user_id", "true", "'user_id' must be a string or null, got a boolean");

    struct sm_json_doc doc = {0};
    parse(&doc, "[1]");
    struct sm_sj_pool pool = {0};
    struct sm_sj_run run;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm__sj_run_from_json(doc.root, "graph.runs[0]", 0, &pool, &run, &err),
                     SM_EINVAL);
    assert_string_equal(err.msg, "invalid graph.runs[0]: a run must be a JSON object, got a list");
    sm_json_doc_release(&doc);
}

static void test_server_sematic_json__artifacts_and_edges_read_and_write_back(void **state)
{
    (void)state;
    struct sm_json_doc doc = {0};
    struct sm_sj_pool pool = {0};
    struct sm_err err = SM_ERR_INIT;
    parse(&doc, "{\"id\": \"df56adbd1d6d197be682be18f527e8b4f311f9ae\", \"json_summary\": 1, "
                "\"type_serialization\": {\"type\": [\"builtin\", \"int\", {}], \"registry\": "
                "{\"int\": []}}, \"created_at\": \"2026-11-23T00:20:47+00:00\", "
                "\"updated_at\": \"2026-11-23T00:20:47.778165+00:00\", \"organization_id\": null}");
    struct sm_artifact_rec a;
    assert_int_equal(
        sm__sj_artifact_from_json(doc.root, "graph.artifacts[0]", NOW_US, &pool, &a, &err), 0);
    assert_string_equal(a.type_json,
                        "{\"registry\":{\"int\":[]},\"type\":[\"builtin\",\"int\",{}]}");
    assert_string_equal(a.summary_json, "1");
    struct sm_buf out = SM_BUF_INIT(1 << 20);
    struct sm_jw w;
    sm_jw_init(&w, &out);
    sm__sj_write_artifact(&w, &a);
    assert_int_equal(sm_jw_finish(&w, &err), 0);
    assert_string_equal(out.data,
                        "{\"created_at\":\"2026-11-23T00:20:47+00:00\",\"id\":\"df56adbd1d6d197be6"
                        "82be18f527e8b4f311f9ae\",\"json_summary\":1,\"organization_id\":null,"
                        "\"type_serialization\":{\"registry\":{\"int\":[]},\"type\":[\"builtin\","
                        "\"int\",{}]},\"updated_at\":\"2026-11-23T00:20:47+00:00\"}");
    sm_json_doc_release(&doc);

    parse(&doc, "{\"id\": \"dcca9708229747ac845dd29371edcf93\", \"source_run_id\": "
                "\"5983617194cb4fc1acd06ba2f44e9018\", \"source_name\": null, "
                "\"destination_run_id\": null, \"destination_name\": null, \"artifact_id\": null, "
                "\"parent_id\": null, \"created_at\": \"2026-11-23T00:20:47.833369+00:00\", "
                "\"updated_at\": \"2026-11-23T00:20:47.833370+00:00\"}");
    struct sm_edge_rec e;
    assert_int_equal(sm__sj_edge_from_json(doc.root, "graph.edges[0]", NOW_US, &pool, &e, &err), 0);
    assert_string_equal(e.source_run_id, "5983617194cb4fc1acd06ba2f44e9018");
    assert_string_equal(e.destination_run_id, "");
    assert_string_equal(e.artifact_id, "");
    assert_string_equal(e.root_id, "");
    sm_buf_reset(&out);
    sm_jw_init(&w, &out);
    sm__sj_write_edge(&w, &e);
    assert_int_equal(sm_jw_finish(&w, &err), 0);
    assert_string_equal(out.data,
                        "{\"artifact_id\":null,\"created_at\":\"2026-11-23T00:20:47.833369+00:00\","
                        "\"destination_name\":null,\"destination_run_id\":null,\"id\":\"dcca97082"
                        "29747ac845dd29371edcf93\",\"parent_id\":null,\"source_name\":null,"
                        "\"source_run_id\":\"5983617194cb4fc1acd06ba2f44e9018\",\"updated_at\":"
                        "\"2026-11-23T00:20:47.833370+00:00\"}");
    sm_json_doc_release(&doc);

    /* bad ones */
    parse(&doc, "{\"id\": \"abc\", \"json_summary\": 1, \"type_serialization\": {}}");
    assert_int_equal(sm__sj_artifact_from_json(doc.root, "graph.artifacts[1]", 0, &pool, &a, &err),
                     SM_EINVAL);
    assert_non_null(strstr(err.msg, "'id' must be an artifact id: 40 lower-case hex digits"));
    sm_json_doc_release(&doc);
    sm_err_clear(&err);
    parse(&doc, "{\"id\": \"df56adbd1d6d197be682be18f527e8b4f311f9ae\", \"type_serialization\": "
                "{}}");
    assert_int_equal(sm__sj_artifact_from_json(doc.root, "graph.artifacts[1]", 0, &pool, &a, &err),
                     SM_EINVAL);
    assert_non_null(strstr(err.msg, "'json_summary' is missing"));
    sm_json_doc_release(&doc);
    sm_err_clear(&err);
    parse(&doc, "{\"id\": \"dcca9708229747ac845dd29371edcf93\"}");
    assert_int_equal(sm__sj_edge_from_json(doc.root, "graph.edges[3]", 0, &pool, &e, &err),
                     SM_EINVAL);
    assert_non_null(strstr(err.msg, "both null; an edge joins at least one run"));
    sm_json_doc_release(&doc);

    sm_buf_release(&out);
    sm__sj_pool_release(&pool);
}

static void test_server_sematic_json__resolutions_read_check_and_redact(void **state)
{
    (void)state;
    struct sm_json_doc doc = {0};
    struct sm_sj_pool pool = {0};
    struct sm_err err = SM_ERR_INIT;
    parse(&doc,
          "{\"root_id\": \"5983617194cb4fc1acd06ba2f44e9018\", \"status\": \"SCHEDULED\", "
          "\"kind\": \"LOCAL\", \"git_info_json\": {\"remote\": \"r\", \"branch\": \"b\", "
          "\"commit\": \"c\", \"dirty\": false}, \"settings_env_vars\": "
          "{\"SEMATIC_API_ADDRESS\": \"http://127.0.0.1:1\"}, \"container_image_uris\": null, "
          "\"container_image_uri\": null, \"client_version\": \"0.41.0\", "
          "\"cache_namespace\": null, \"run_command\": null, \"build_config\": null, "
          "\"resource_requirements_json\": null, \"user_id\": null, "
          "\"organization_id\": null}");
    struct sm_sj_resolution r;
    assert_int_equal(sm__sj_resolution_from_json(doc.root, "resolution", &pool, &r, &err), 0);
    assert_int_equal(r.rec.status, SM_PIPELINE_SCHEDULED);
    assert_string_equal(r.rec.kind, "LOCAL");
    assert_string_equal(r.rec.git_json,
                        "{\"branch\":\"b\",\"commit\":\"c\",\"dirty\":false,\"remote\":\"r\"}");
    assert_string_equal(r.rec.settings_json, "{\"SEMATIC_API_ADDRESS\":\"http://127.0.0.1:1\"}");
    assert_false(r.has_container_image_uri);

    struct sm_buf out = SM_BUF_INIT(1 << 20);
    struct sm_jw w;
    sm_jw_init(&w, &out);
    sm__sj_write_resolution(&w, &r.rec, NULL);
    assert_int_equal(sm_jw_finish(&w, &err), 0);
    assert_string_equal(out.data,
                        "{\"build_config\":null,\"cache_namespace\":null,\"client_version\":"
                        "\"0.41.0\",\"container_image_uri\":null,\"container_image_uris\":null,"
                        "\"git_info_json\":{\"branch\":\"b\",\"commit\":\"c\",\"dirty\":false,"
                        "\"remote\":\"r\"},\"kind\":\"LOCAL\",\"organization_id\":null,"
                        "\"resource_requirements_json\":null,\"root_id\":\"5983617194cb4fc1acd06"
                        "ba2f44e9018\",\"run_command\":null,\"status\":\"SCHEDULED\",\"user\":"
                        "null,\"user_id\":null}");
    sm_json_doc_release(&doc);

    static const char *const bad[][2] = {
        {"{\"root_id\": \"5983617194cb4fc1acd06ba2f44e9018\", \"status\": \"DONE\", \"kind\": "
         "\"LOCAL\"}",
         "'status' must be one of CREATED, SCHEDULED, RUNNING, FAILED, COMPLETE, CANCELED, got "
         "'DONE'"},
        {"{\"root_id\": \"5983617194cb4fc1acd06ba2f44e9018\", \"status\": \"RUNNING\", \"kind\": "
         "\"MOON\"}",
         "'kind' must be LOCAL or KUBERNETES, got 'MOON'"},
        {"{\"root_id\": \"5983617194cb4fc1acd06ba2f44e9018\", \"status\": \"RUNNING\", \"kind\": "
         "\"LOCAL\", \"settings_env_vars\": {\"A\": 1}}",
         "'settings_env_vars' must be an object of strings, but the value of 'A' is a number"},
        {"{\"status\": \"RUNNING\", \"kind\": \"LOCAL\"}", "'root_id' is missing"},
        {"{\"root_id\": \"5983617194cb4fc1acd06ba2f44e9018\", \"kind\": \"LOCAL\"}",
         "'status' is missing"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parse(&doc, bad[i][0]);
        sm_err_clear(&err);
        assert_int_equal(sm__sj_resolution_from_json(doc.root, "resolution", &pool, &r, &err),
                         SM_EINVAL);
        if (strstr(err.msg, bad[i][1]) == NULL)
            fail_msg("case %zu: message '%s' lacks '%s'", i, err.msg, bad[i][1]);
        sm_json_doc_release(&doc);
    }
    sm_buf_release(&out);
    sm__sj_pool_release(&pool);
}

static void test_server_sematic_json__times_are_pythons_isoformat(void **state)
{
    (void)state;
    char text[40];
    sm__sj_format_time(1795393247747800LL, text);
    assert_string_equal(text, "2026-11-23T00:20:47.747800+00:00");
    sm__sj_format_time(1795393247000000LL, text);
    assert_string_equal(text, "2026-11-23T00:20:47+00:00"); /* no fraction when it is 0 */
    sm__sj_format_time(1, text);
    assert_string_equal(text, "1970-01-01T00:00:00.000001+00:00");
}

static void test_server_sematic_json__sorted_writing_sorts_every_level(void **state)
{
    (void)state;
    struct sm_json_doc doc = {0};
    parse(&doc, "{\"b\": [{\"z\": 1, \"a\": 2.50}], \"a\": {\"\\u00e9\": true, \"e\": null}, "
                "\"ab\": \"x\"}");
    struct sm_sj_pool pool = {0};
    assert_string_equal(sm__sj_sorted_text(&pool, doc.root),
                        "{\"a\":{\"e\":null,\"\xc3\xa9\":true},\"ab\":\"x\",\"b\":[{\"a\":2.50,"
                        "\"z\":1}]}");
    sm_json_doc_release(&doc);
    parse(&doc, "null");
    assert_null(sm__sj_sorted_text(&pool, doc.root));
    sm_json_doc_release(&doc);
    sm__sj_pool_release(&pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_sematic_json__a_run_from_sematics_client_reads_whole),
        cmocka_unit_test(test_server_sematic_json__run_fields_keep_sematics_json_and_defaults),
        cmocka_unit_test(test_server_sematic_json__bad_runs_name_the_record_the_field_and_the_fix),
        cmocka_unit_test(test_server_sematic_json__artifacts_and_edges_read_and_write_back),
        cmocka_unit_test(test_server_sematic_json__resolutions_read_check_and_redact),
        cmocka_unit_test(test_server_sematic_json__times_are_pythons_isoformat),
        cmocka_unit_test(test_server_sematic_json__sorted_writing_sorts_every_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
