/*
 * test_rec_json.c: the lossless JSON form of the store's records
 * (include/sematic/rec_json.h): every record and operation round-trips
 * (read(write(r)) equals r field for field, and writes the same text
 * again), and every kind of bad input is SM_EINVAL (SM_ETOOBIG for a
 * payload over its cap) with a message naming the record and the field.
 *
 * Bad inputs are data: a valid record's text with one substring replaced
 * (bad_cases[]), so each case says exactly what is wrong with it.
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
#include "sematic/rec_json.h"

#include "util/banned.h"

/* ------------------------------------------------------------- helpers */

static const char RUN_ID[] = "0123456789abcdef0123456789abcdef";
static const char ROOT_ID[] = "fedcba9876543210fedcba9876543210";
static const char ART_ID[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/* Text of what write() writes for rec (caller frees). */
static char *written(void (*write)(struct sm_jw *, const void *), const void *rec)
{
    struct sm_buf b = SM_BUF_INIT(1 << 20);
    struct sm_jw w;
    struct sm_err err = SM_ERR_INIT;
    sm_jw_init(&w, &b);
    write(&w, rec);
    if (sm_jw_finish(&w, &err) != 0)
        fail_msg("unexpected writer error %s: %s", sm_err_name(err.code), err.msg);
    size_t len;
    return sm_buf_detach(&b, &len);
}

/* The writers, with the record as a void pointer for written(). */
static void w_run(struct sm_jw *w, const void *r)
{
    sm_rec_json_write_run(w, r);
}
static void w_artifact(struct sm_jw *w, const void *a)
{
    sm_rec_json_write_artifact(w, a);
}
static void w_edge(struct sm_jw *w, const void *e)
{
    sm_rec_json_write_edge(w, e);
}
static void w_pipeline(struct sm_jw *w, const void *p)
{
    sm_rec_json_write_pipeline(w, p);
}
static void w_log(struct sm_jw *w, const void *l)
{
    sm_rec_json_write_log(w, l);
}
static void w_op(struct sm_jw *w, const void *op)
{
    sm_rec_json_write_op(w, op);
}

static void parse(struct sm_json_doc *doc, const char *text)
{
    struct sm_err err = SM_ERR_INIT;
    if (sm_json_parse(doc, text, strlen(text), &err) != 0)
        fail_msg("cannot parse %s: %s", text, err.msg);
}

static struct sm_run_rec full_run(void)
{
    struct sm_run_rec r;
    memset(&r, 0, sizeof(r));
    memcpy(r.id, RUN_ID, sizeof(r.id));
    memcpy(r.root_id, ROOT_ID, sizeof(r.root_id));
    memcpy(r.parent_id, ROOT_ID, sizeof(r.parent_id));
    /* nested_id stays "" (none); original_run_id is set */
    memcpy(r.original_run_id, RUN_ID, sizeof(r.original_run_id));
    r.state = 5;
    r.name = "step \"quoted\" \xc3\xa9\xe2\x82\xac\n\ttab";
    r.function_path = "pkg.mod.step";
    r.description = NULL;
    r.source_id = ART_ID;
    r.tags_json = "[\"a\",\"b\"]";
    r.resource_requirements_json = "";
    r.retry_settings_json = "{\"retries\":3}";
    r.cache_key = NULL;
    r.exception_json = "{\"repr\":\"ValueError('x')\"}";
    r.external_exception_json = NULL;
    r.is_inline = true;
    r.attempt = INT32_MAX;
    r.created_at = 1795341600123456;
    r.updated_at = INT64_MAX;
    r.started_at = INT64_MIN;
    r.ended_at = -1;
    r.resolved_at = 0;
    r.failed_at = 9007199254740993; /* 2^53 + 1: not a double */
    r.seq = 42;
    r.is_new = false;
    return r;
}

/* ------------------------------------------------------------- round trips */

static void test_rec_json__a_run_round_trips_field_for_field(void **state)
{
    (void)state;
    struct sm_run_rec r = full_run();
    char *text = written(w_run, &r);
    struct sm_json_doc doc;
    parse(&doc, text);
    struct sm_run_rec back;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm_rec_json_read_run(doc.root, &back, &err), 0);
    assert_string_equal(back.id, r.id);
    assert_string_equal(back.root_id, r.root_id);
    assert_string_equal(back.parent_id, r.parent_id);
    assert_string_equal(back.nested_id, "");
    assert_string_equal(back.original_run_id, r.original_run_id);
    assert_int_equal(back.state, 5);
    assert_string_equal(back.name, r.name);
    assert_string_equal(back.function_path, r.function_path);
    assert_null(back.description);
    assert_string_equal(back.source_id, ART_ID);
    assert_string_equal(back.tags_json, r.tags_json);
    assert_string_equal(back.resource_requirements_json, ""); /* "" is not NULL */
    assert_string_equal(back.retry_settings_json, r.retry_settings_json);
    assert_null(back.cache_key);
    assert_string_equal(back.exception_json, r.exception_json);
    assert_null(back.external_exception_json);
    assert_true(back.is_inline);
    assert_int_equal(back.attempt, INT32_MAX);
    assert_int_equal(back.created_at, r.created_at);
    assert_int_equal(back.updated_at, INT64_MAX);
    assert_int_equal(back.started_at, INT64_MIN);
    assert_int_equal(back.ended_at, -1);
    assert_int_equal(back.resolved_at, 0);
    assert_int_equal(back.failed_at, 9007199254740993);
    assert_int_equal(back.seq, 42);
    assert_false(back.is_new);
    char *again = written(w_run, &back);
    assert_string_equal(again, text);
    sm_free(again);
    sm_json_doc_release(&doc);
    sm_free(text);
}

static void test_rec_json__artifact_edge_pipeline_and_log_round_trip(void **state)
{
    (void)state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_json_doc doc;

    struct sm_artifact_rec a = {.type_json = "{\"type\":\"int\"}",
                                .summary_json = "3",
                                .size_bytes = 1,
                                .created_at = 7,
                                .payload_in_storage = true};
    memcpy(a.id, ART_ID, sizeof(a.id));
    memcpy(a.blob_key, ART_ID, sizeof(a.blob_key));
    char *text = written(w_artifact, &a);
    parse(&doc, text);
    struct sm_artifact_rec a2;
    assert_int_equal(sm_rec_json_read_artifact(doc.root, &a2, &err), 0);
    assert_string_equal(a2.id, ART_ID);
    assert_string_equal(a2.type_json, a.type_json);
    assert_string_equal(a2.summary_json, "3");
    assert_int_equal(a2.size_bytes, 1);
    assert_string_equal(a2.blob_key, ART_ID);
    assert_int_equal(a2.created_at, 7);
    assert_true(a2.payload_in_storage);
    char *again = written(w_artifact, &a2);
    assert_string_equal(again, text);
    sm_free(again);
    sm_free(text);
    sm_json_doc_release(&doc);

    struct sm_edge_rec e = {
        .destination_name = NULL, .created_at = 1, .updated_at = 2, .is_new = true};
    memcpy(e.id, RUN_ID, sizeof(e.id));
    memcpy(e.root_id, ROOT_ID, sizeof(e.root_id));
    memcpy(e.source_run_id, RUN_ID, sizeof(e.source_run_id));
    memcpy(e.artifact_id, "0123456789012345678901234567890123456789", 41); /* Sematic's 40 */
    text = written(w_edge, &e);
    parse(&doc, text);
    struct sm_edge_rec e2;
    assert_int_equal(sm_rec_json_read_edge(doc.root, &e2, &err), 0);
    assert_string_equal(e2.source_run_id, RUN_ID);
    assert_string_equal(e2.destination_run_id, "");
    assert_null(e2.destination_name);
    assert_string_equal(e2.artifact_id, e.artifact_id);
    assert_string_equal(e2.parent_id, "");
    assert_true(e2.is_new);
    again = written(w_edge, &e2);
    assert_string_equal(again, text);
    sm_free(again);
    sm_free(text);
    sm_json_doc_release(&doc);

    struct sm_pipeline_rec p = {.status = 4,
                                .kind = "LOCAL",
                                .cache_namespace = NULL,
                                .user = "me@example.com",
                                .git_json = NULL,
                                .settings_json = "{}",
                                .client_version = "0.41.0",
                                .run_command = "python -m x",
                                .python = "/usr/bin/python3",
                                .cwd = "/tmp/\xe2\x98\x83",
                                .sys_path_json = "[\"\"]",
                                .driver_pid = 4242,
                                .driver_start = 123456789,
                                .driver_host = "host",
                                .created_at = 1,
                                .updated_at = 2,
                                .ended_at = 3,
                                .seq = 9};
    memcpy(p.root_id, ROOT_ID, sizeof(p.root_id));
    text = written(w_pipeline, &p);
    parse(&doc, text);
    struct sm_pipeline_rec p2;
    assert_int_equal(sm_rec_json_read_pipeline(doc.root, &p2, &err), 0);
    assert_string_equal(p2.root_id, ROOT_ID);
    assert_int_equal(p2.status, 4);
    assert_null(p2.cache_namespace);
    assert_null(p2.git_json);
    assert_string_equal(p2.cwd, p.cwd);
    assert_int_equal(p2.driver_pid, 4242);
    assert_int_equal(p2.driver_start, 123456789);
    assert_int_equal(p2.seq, 9);
    again = written(w_pipeline, &p2);
    assert_string_equal(again, text);
    sm_free(again);
    sm_free(text);
    sm_json_doc_release(&doc);

    /* A log line may hold NUL bytes and control characters: its length travels with it. */
    static const char line[] = "a\0b\x01\x7f\xc3\xa9";
    struct sm_log_rec l = {.id = 17, .stream = 3, .ts = 99, .text = line, .len = sizeof(line) - 1};
    memcpy(l.run_id, RUN_ID, sizeof(l.run_id));
    text = written(w_log, &l);
    parse(&doc, text);
    struct sm_log_rec l2;
    assert_int_equal(sm_rec_json_read_log(doc.root, &l2, &err), 0);
    assert_int_equal(l2.id, 17);
    assert_string_equal(l2.run_id, RUN_ID);
    assert_int_equal(l2.stream, 3);
    assert_int_equal(l2.ts, 99);
    assert_int_equal(l2.len, sizeof(line) - 1);
    assert_memory_equal(l2.text, line, sizeof(line) - 1);
    again = written(w_log, &l2);
    assert_string_equal(again, text);
    sm_free(again);
    sm_free(text);
    sm_json_doc_release(&doc);
}

static void test_rec_json__every_operation_round_trips_with_binary_payloads(void **state)
{
    (void)state;
    unsigned char bytes[256 + 2];
    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (unsigned char)(i * 7 + 3);
    struct sm_run_rec run = full_run();
    struct sm_rec_op ops[8];
    memset(ops, 0, sizeof(ops));
    ops[0].kind = SM_REC_OP_RUN;
    ops[0].u.run = run;
    for (int k = 1; k <= 3; k++) {
        /* payloads of 258, 257 and 256 bytes: base64 with "", "=" and "==" padding */
        ops[k].kind = SM_REC_OP_ARTIFACT;
        memcpy(ops[k].u.artifact.rec.id, ART_ID, sizeof(ART_ID));
        ops[k].u.artifact.rec.type_json = "{}";
        ops[k].u.artifact.rec.summary_json = "null";
        ops[k].u.artifact.payload = (const char *)bytes;
        ops[k].u.artifact.len = sizeof(bytes) - (size_t)(k - 1);
    }
    ops[4].kind = SM_REC_OP_ARTIFACT; /* an empty payload (Sematic's 40-hex artifacts) */
    memcpy(ops[4].u.artifact.rec.id, ART_ID, sizeof(ART_ID));
    ops[4].u.artifact.rec.type_json = "{}";
    ops[4].u.artifact.rec.summary_json = "{}";
    ops[5].kind = SM_REC_OP_SOURCE;
    ops[5].u.source.text = "def f():\n    return \"\\u00e9\"\n";
    ops[5].u.source.len = strlen(ops[5].u.source.text);
    ops[6].kind = SM_REC_OP_PIPELINE;
    memcpy(ops[6].u.pipeline.root_id, ROOT_ID, sizeof(ROOT_ID));
    ops[6].u.pipeline.kind = "LOCAL";
    ops[7].kind = SM_REC_OP_LOG;
    memcpy(ops[7].u.log.run_id, RUN_ID, sizeof(RUN_ID));
    ops[7].u.log.stream = 1;
    ops[7].u.log.text = "hello";
    ops[7].u.log.len = 5;

    struct sm_buf payload = SM_BUF_INIT(1 << 20);
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        char *text = written(w_op, &ops[i]);
        struct sm_json_doc doc;
        parse(&doc, text);
        struct sm_rec_op back;
        struct sm_err err = SM_ERR_INIT;
        if (sm_rec_json_read_op(doc.root, &back, &payload, &err) != 0)
            fail_msg("op %zu (%s): %s", i, text, err.msg);
        assert_int_equal(back.kind, ops[i].kind);
        if (back.kind == SM_REC_OP_ARTIFACT) {
            assert_int_equal(back.u.artifact.len, ops[i].u.artifact.len);
            if (back.u.artifact.len > 0)
                assert_memory_equal(back.u.artifact.payload, ops[i].u.artifact.payload,
                                    back.u.artifact.len);
        }
        if (back.kind == SM_REC_OP_SOURCE) {
            assert_int_equal(back.u.source.len, ops[i].u.source.len);
            assert_memory_equal(back.u.source.text, ops[i].u.source.text, back.u.source.len);
        }
        char *again = written(w_op, &back);
        assert_string_equal(again, text);
        sm_free(again);
        sm_free(text);
        sm_json_doc_release(&doc);
    }
    sm_buf_release(&payload);
    assert_string_equal(sm_rec_op_kind_name(SM_REC_OP_LOG), "log");
    assert_string_equal(sm_rec_op_kind_name((enum sm_rec_op_kind)99), "unknown");
}

static void test_rec_json__a_string_that_is_not_utf8_fails_the_writer(void **state)
{
    (void)state;
    struct sm_run_rec r = full_run();
    r.name = "bad \xff byte";
    struct sm_buf b = SM_BUF_INIT(1 << 20);
    struct sm_jw w;
    struct sm_err err = SM_ERR_INIT;
    sm_jw_init(&w, &b);
    sm_rec_json_write_run(&w, &r);
    assert_int_equal(sm_jw_finish(&w, &err), SM_EINVAL);
    sm_buf_release(&b);
}

/* ------------------------------------------------------------- bad records */

enum rec_kind { K_RUN, K_ARTIFACT, K_EDGE, K_PIPELINE, K_LOG, K_OP };

/* One bad input: the valid text of kind with `from` replaced by `to`, and the error it gives. */
struct bad_case {
    int id;
    enum rec_kind kind;
    const char *from, *to;
    int code;
    const char *msg; /* a substring of the message */
};

static const struct bad_case bad_cases[] = {
    /* not an object */
    {1, K_RUN, NULL, "[1]", SM_EINVAL, "invalid run: expected a JSON object, got an array"},
    {2, K_LOG, NULL, "\"x\"", SM_EINVAL, "invalid log line: expected a JSON object, got a string"},
    /* missing, unknown and repeated fields */
    {10, K_RUN, "\"seq\":42,", "", SM_EINVAL, "invalid run: field 'seq' is missing"},
    {11, K_ARTIFACT, "\"created_at\":7,", "", SM_EINVAL,
     "invalid artifact: field 'created_at' is missing"},
    {12, K_EDGE, "{\"id\"", "{\"colour\":1,\"id\"", SM_EINVAL,
     "invalid edge: unknown field 'colour'; the client and the server must be the same version"},
    {13, K_PIPELINE, "\"seq\":9", "\"seq\":9,\"seq\":9", SM_EINVAL,
     "invalid pipeline run: field 'seq' appears twice"},
    {14, K_RUN, "\"state\"", "\"state\\u0000\"", SM_EINVAL, "invalid run: unknown field 'state'"},
    /* char-array ids */
    {20, K_RUN, "\"nested_id\":\"\"", "\"nested_id\":null", SM_EINVAL,
     "invalid run field 'nested_id': expected a string (\"\" for none), got null"},
    {21, K_RUN, "\"id\":\"0123456789abcdef0123456789abcdef\"",
     "\"id\":\"0123456789abcdef0123456789abcdef0\"", SM_EINVAL,
     "invalid run field 'id': 33 bytes, at most 32 fit"},
    {22, K_EDGE, "\"parent_id\":\"\"", "\"parent_id\":\"a\\u0000b\"", SM_EINVAL,
     "invalid edge field 'parent_id': it holds a NUL byte"},
    {23, K_ARTIFACT, "\"blob_key\":\"", "\"blob_key\":7,\"x\":\"", SM_EINVAL,
     "invalid artifact field 'blob_key': expected a string (\"\" for none), got a number"},
    /* strings */
    {30, K_RUN, "\"function_path\":\"pkg.mod.step\"", "\"function_path\":1", SM_EINVAL,
     "invalid run field 'function_path': expected a string or null, got a number"},
    {31, K_PIPELINE, "\"kind\":\"LOCAL\"", "\"kind\":\"LO\\u0000CAL\"", SM_EINVAL,
     "invalid pipeline run field 'kind': it holds a NUL byte"},
    {32, K_PIPELINE, "\"user\":\"me@example.com\"", "\"user\":{}", SM_EINVAL,
     "invalid pipeline run field 'user': expected a string or null, got an object"},
    {33, K_LOG, "\"text\":\"", "\"text\":[],\"x\":\"", SM_EINVAL,
     "invalid log line field 'text': expected a string, got an array"},
    /* integers */
    {40, K_RUN, "\"state\":5", "\"state\":\"5\"", SM_EINVAL,
     "invalid run field 'state': expected an integer, got a string"},
    {41, K_RUN, "\"state\":5", "\"state\":5.0", SM_EINVAL,
     "invalid run field 'state': expected an integer, got 5.0"},
    {42, K_RUN, "\"state\":5", "\"state\":1e2", SM_EINVAL,
     "invalid run field 'state': expected an integer, got 1e2"},
    {43, K_RUN, "\"state\":5", "\"state\":2147483648", SM_EINVAL,
     "invalid run field 'state': 2147483648 is out of range (-2147483648 to 2147483647)"},
    {44, K_RUN, "\"attempt\":2147483647", "\"attempt\":-2147483649", SM_EINVAL,
     "invalid run field 'attempt': -2147483649 is out of range"},
    {45, K_RUN, "\"seq\":42", "\"seq\":9223372036854775808", SM_EINVAL,
     "invalid run field 'seq': 9223372036854775808 is out of range"},
    {46, K_LOG, "\"ts\":99", "\"ts\":true", SM_EINVAL,
     "invalid log line field 'ts': expected an integer, got a boolean"},
    {47, K_ARTIFACT, "\"size_bytes\":1", "\"size_bytes\":null", SM_EINVAL,
     "invalid artifact field 'size_bytes': expected an integer, got null"},
    /* booleans */
    {50, K_RUN, "\"is_inline\":true", "\"is_inline\":1", SM_EINVAL,
     "invalid run field 'is_inline': expected true or false, got a number"},
    {51, K_EDGE, "\"is_new\":true", "\"is_new\":\"true\"", SM_EINVAL,
     "invalid edge field 'is_new': expected true or false, got a string"},
    /* operations */
    {60, K_OP, NULL, "[]", SM_EINVAL, "invalid operation: expected a JSON object, got an array"},
    {61, K_OP, "\"op\":\"artifact\",", "", SM_EINVAL, "invalid operation: key 'op' is missing"},
    {62, K_OP, "\"op\":\"artifact\"", "\"op\":3", SM_EINVAL,
     "invalid operation: key 'op' is a number"},
    {63, K_OP, "\"op\":\"artifact\"", "\"op\":\"delete\"", SM_EINVAL,
     "invalid operation 'delete': expected one of"},
    {64, K_OP, "\"op\":\"artifact\"", "\"op\":\"run\"", SM_EINVAL,
     "invalid run operation: unknown key 'artifact'; it takes \"op\", \"run\""},
    {65, K_OP, ",\"payload\":\"", ",\"extra\":1,\"payload\":\"", SM_EINVAL,
     "invalid artifact operation: unknown key 'extra'; it takes \"op\", \"artifact\" and "
     "\"payload\""},
    {66, K_OP, ",\"payload\":\"AAEC\"", "", SM_EINVAL,
     "invalid artifact operation: key 'payload' is missing"},
    {67, K_OP, "{\"op\":\"artifact\",", "{\"op\":\"artifact\",\"op\":\"artifact\",", SM_EINVAL,
     "invalid artifact operation: key 'op' appears twice"},
    {68, K_OP, "\"op\":\"artifact\",\"artifact\":{", "\"op\":\"artifact\",\"artifact\":{\"x\":0,",
     SM_EINVAL, "invalid artifact: unknown field 'x'"},
    {69, K_OP, NULL, "{\"op\":\"source\",\"text\":7}", SM_EINVAL,
     "invalid source field 'text': expected a string, got a number"},
    {80, K_OP, NULL, "{\"op\":\"log\"}", SM_EINVAL, "invalid log operation: key 'log' is missing"},
    {81, K_OP, NULL, "{\"op\":\"source\",\"text\":\"\",\"run\":{}}", SM_EINVAL,
     "invalid source operation: unknown key 'run'; it takes \"op\", \"text\""},
    {82, K_OP, NULL, "{\"op\":\"edge\",\"edge\":[]}", SM_EINVAL,
     "invalid edge: expected a JSON object, got an array"},
    /* base64 payloads */
    {70, K_OP, "\"AAEC\"", "\"AAE\"", SM_EINVAL,
     "invalid artifact payload: 3 base64 characters, not a multiple of 4"},
    {71, K_OP, "\"AAEC\"", "\"AA!C\"", SM_EINVAL,
     "invalid artifact payload: character 2 (byte 0x21) is not base64"},
    {72, K_OP, "\"AAEC\"", "\"A=EC\"", SM_EINVAL,
     "invalid artifact payload: character 1 (byte 0x3d) is not base64"},
    {73, K_OP, "\"AAEC\"", "\"AAE=AAEC\"", SM_EINVAL,
     "invalid artifact payload: character 3 (byte 0x3d) is not base64"},
    {74, K_OP, "\"AAEC\"", "\"AAF=\"", SM_EINVAL,
     "invalid artifact payload: the last group 'AAF=' has non-zero padding bits"},
    {75, K_OP, "\"AAEC\"", "\"AB==\"", SM_EINVAL,
     "invalid artifact payload: the last group 'AB==' has non-zero padding bits"},
    {76, K_OP, "\"AAEC\"", "\"A===\"", SM_EINVAL,
     "invalid artifact payload: character 1 (byte 0x3d) is not base64"},
    {77, K_OP, "\"AAEC\"", "\"AA=A\"", SM_EINVAL,
     "invalid artifact payload: character 2 (byte 0x3d) is not base64"},
    {78, K_OP, "\"AAEC\"", "null", SM_EINVAL,
     "invalid artifact payload: expected a base64 string, got null"},
    {79, K_OP, "\"AAEC\"", "\"AAEC\\n\"", SM_EINVAL,
     "invalid artifact payload: 5 base64 characters, not a multiple of 4"},
};

/* The valid text of a record of this kind (caller frees). */
static char *valid_text(enum rec_kind kind)
{
    struct sm_run_rec r = full_run();
    struct sm_artifact_rec a = {
        .type_json = "{}", .summary_json = "3", .size_bytes = 1, .created_at = 7};
    memcpy(a.id, ART_ID, sizeof(a.id));
    struct sm_edge_rec e = {.is_new = true};
    memcpy(e.id, RUN_ID, sizeof(e.id));
    struct sm_pipeline_rec p = {.kind = "LOCAL", .user = "me@example.com", .seq = 9};
    memcpy(p.root_id, ROOT_ID, sizeof(p.root_id));
    struct sm_log_rec l = {.stream = 1, .ts = 99, .text = "x", .len = 1};
    memcpy(l.run_id, RUN_ID, sizeof(l.run_id));
    struct sm_rec_op op = {.kind = SM_REC_OP_ARTIFACT};
    op.u.artifact.rec = a;
    op.u.artifact.payload = "\x00\x01\x02";
    op.u.artifact.len = 3;
    switch (kind) {
    case K_RUN:
        return written(w_run, &r);
    case K_ARTIFACT:
        return written(w_artifact, &a);
    case K_EDGE:
        return written(w_edge, &e);
    case K_PIPELINE:
        return written(w_pipeline, &p);
    case K_LOG:
        return written(w_log, &l);
    case K_OP:
        return written(w_op, &op);
    }
    return NULL;
}

/* text with the first `from` replaced by `to` (from NULL: the whole text is `to`). */
static char *replaced(const char *text, const char *from, const char *to, int id)
{
    struct sm_buf b = SM_BUF_INIT(1 << 20);
    if (from == NULL) {
        sm_buf_adds(&b, to);
    } else {
        const char *at = strstr(text, from);
        if (at == NULL)
            fail_msg("case %d: '%s' is not in %s", id, from, text);
        sm_buf_add(&b, text, (size_t)(at - text));
        sm_buf_adds(&b, to);
        sm_buf_adds(&b, at + strlen(from));
    }
    size_t len;
    return sm_buf_detach(&b, &len);
}

static int read_kind(enum rec_kind kind, const struct sm_json *v, struct sm_buf *payload,
                     struct sm_err *err)
{
    union {
        struct sm_run_rec r;
        struct sm_artifact_rec a;
        struct sm_edge_rec e;
        struct sm_pipeline_rec p;
        struct sm_log_rec l;
        struct sm_rec_op op;
    } out;
    switch (kind) {
    case K_RUN:
        return sm_rec_json_read_run(v, &out.r, err);
    case K_ARTIFACT:
        return sm_rec_json_read_artifact(v, &out.a, err);
    case K_EDGE:
        return sm_rec_json_read_edge(v, &out.e, err);
    case K_PIPELINE:
        return sm_rec_json_read_pipeline(v, &out.p, err);
    case K_LOG:
        return sm_rec_json_read_log(v, &out.l, err);
    case K_OP:
        return sm_rec_json_read_op(v, &out.op, payload, err);
    }
    return 0;
}

static void test_rec_json__every_bad_input_names_the_record_and_the_field(void **state)
{
    (void)state;
    struct sm_buf payload = SM_BUF_INIT(1 << 20);
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        char *valid = valid_text(c->kind);
        /* The unchanged text is valid: each case's error comes from its one change. */
        struct sm_json_doc doc;
        parse(&doc, valid);
        struct sm_err err = SM_ERR_INIT;
        if (read_kind(c->kind, doc.root, &payload, &err) != 0)
            fail_msg("case %d: the valid text fails: %s", c->id, err.msg);
        sm_json_doc_release(&doc);

        char *text = replaced(valid, c->from, c->to, c->id);
        parse(&doc, text);
        sm_err_clear(&err);
        int rc = read_kind(c->kind, doc.root, &payload, &err);
        if (rc != c->code || strstr(err.msg, c->msg) == NULL)
            fail_msg("case %d: %s\n  got %s: '%s'\n  want %s: '...%s...'", c->id, text,
                     sm_err_name(rc), err.msg, sm_err_name(c->code), c->msg);
        sm_json_doc_release(&doc);
        sm_free(text);
        sm_free(valid);
    }
    sm_buf_release(&payload);
}

static void test_rec_json__a_payload_over_the_buffers_cap_is_too_big(void **state)
{
    (void)state;
    struct sm_json_doc doc;
    parse(&doc, "\"AAECAwQF\"");
    struct sm_buf small = SM_BUF_INIT(4);
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm_rec_json_read_base64(doc.root, "artifact payload", &small, &err),
                     SM_ETOOBIG);
    assert_non_null(strstr(err.msg, "invalid artifact payload: 6 bytes are over the cap of 4"));
    sm_buf_release(&small);
    sm_json_doc_release(&doc);
}

static void test_rec_json__base64_appends_to_what_the_buffer_holds(void **state)
{
    (void)state;
    struct sm_json_doc doc;
    parse(&doc, "\"aGVsbG8=\"");
    struct sm_buf b = SM_BUF_INIT(64);
    struct sm_err err = SM_ERR_INIT;
    sm_buf_adds(&b, ">");
    assert_int_equal(sm_rec_json_read_base64(doc.root, "x", &b, &err), 0);
    assert_string_equal(b.data, ">hello");
    sm_json_doc_release(&doc);
    parse(&doc, "\"\"");
    assert_int_equal(sm_rec_json_read_base64(doc.root, "x", &b, &err), 0);
    assert_string_equal(b.data, ">hello");
    sm_json_doc_release(&doc);
    sm_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rec_json__a_run_round_trips_field_for_field),
        cmocka_unit_test(test_rec_json__artifact_edge_pipeline_and_log_round_trip),
        cmocka_unit_test(test_rec_json__every_operation_round_trips_with_binary_payloads),
        cmocka_unit_test(test_rec_json__a_string_that_is_not_utf8_fails_the_writer),
        cmocka_unit_test(test_rec_json__every_bad_input_names_the_record_and_the_field),
        cmocka_unit_test(test_rec_json__a_payload_over_the_buffers_cap_is_too_big),
        cmocka_unit_test(test_rec_json__base64_appends_to_what_the_buffer_holds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
