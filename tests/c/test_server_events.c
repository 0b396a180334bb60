/*
 * test_server_events.c: GET /api/v1/events without a socket: the pure
 * helpers of events_fmt.c (parameters, id lists, the text of an event, the
 * run memo), then the pump of events.c driven on a real store in a
 * temporary home: which events each kind of change becomes, filters,
 * where `id:` lines go, resuming from a sequence, log lines from the log
 * floor, and the bounds on what one pump call writes.
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
#include "sematic/json.h"
#include "sematic/store.h"
#include "test_store_fixture.h"

#include "events.h"

#include "util/banned.h"

/* ------------------------------------------------------------- parameters */

static void kinds_fail(const char *text, const char *want)
{
    struct sm_err err = SM_ERR_INIT;
    unsigned mask = 99;
    int rc = sm__events_parse_kinds(text, &mask, &err);
    if (rc != SM_EINVAL || strcmp(err.msg, want) != 0)
        fail_msg("kinds '%s': got %s '%s', expected SM_EINVAL '%s'", text, sm_err_name(rc), err.msg,
                 want);
    assert_int_equal(mask, 0);
}

static void test_server_events__kinds_name_the_kinds_and_refuse_anything_else(void **state)
{
    (void)state;
    struct sm_err err = SM_ERR_INIT;
    unsigned mask = 0;
    OK(sm__events_parse_kinds(NULL, &mask, &err));
    assert_int_equal(mask, SM_EVENTS_ALL);
    OK(sm__events_parse_kinds("runs", &mask, &err));
    assert_int_equal(mask, SM_EVENTS_RUNS);
    OK(sm__events_parse_kinds("runs,pipeline_status,logs,runs", &mask, &err));
    assert_int_equal(mask, SM_EVENTS_RUNS | SM_EVENTS_PIPELINE_STATUS | SM_EVENTS_LOGS);
    OK(sm__events_parse_kinds("pipelines,note,metrics,edges", &mask, &err));
    assert_int_equal(mask, SM_EVENTS_PIPELINE_STATUS | SM_EVENTS_NOTE | SM_EVENTS_METRICS |
                               SM_EVENTS_EDGES);

    kinds_fail("bogus", "unknown event kind 'bogus' in kinds: expected a comma-separated list of "
                        "runs, edges, pipeline_status, note, metrics, logs");
    kinds_fail("runs,Runs", "unknown event kind 'Runs' in kinds: expected a comma-separated list "
                            "of runs, edges, pipeline_status, note, metrics, logs");
    kinds_fail("runs, logs", "unknown event kind ' logs' in kinds: expected a comma-separated "
                             "list of runs, edges, pipeline_status, note, metrics, logs");
    kinds_fail("", "kinds is empty: expected a comma-separated list of runs, edges, "
                   "pipeline_status, note, metrics, logs, or no kinds parameter for all of them");
    kinds_fail("runs,,logs", "empty item in kinds 'runs,,logs': expected a comma-separated list "
                             "of runs, edges, pipeline_status, note, metrics, logs");
    kinds_fail("runs,", "empty item in kinds 'runs,': expected a comma-separated list of runs, "
                        "edges, pipeline_status, note, metrics, logs");
    /* A long value is quoted cut short; a control character is not echoed. */
    char long_kind[200];
    memset(long_kind, 'x', sizeof(long_kind) - 1);
    long_kind[sizeof(long_kind) - 1] = '\0';
    unsigned m;
    assert_int_equal(sm__events_parse_kinds(long_kind, &m, &err), SM_EINVAL);
    HAS(err.msg, "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'");
    sm_err_clear(&err);
    kinds_fail("a\nb", "unknown event kind 'a?b' in kinds: expected a comma-separated list of "
                       "runs, edges, pipeline_status, note, metrics, logs");

    assert_int_equal(sm__events_kind_of_store("runs"), SM_EVENTS_RUNS);
    assert_int_equal(sm__events_kind_of_store("pipelines"), SM_EVENTS_PIPELINE_STATUS);
    assert_int_equal(sm__events_kind_of_store("pipeline_status"), SM_EVENTS_PIPELINE_STATUS);
    assert_int_equal(sm__events_kind_of_store("note"), SM_EVENTS_NOTE);
    assert_int_equal(sm__events_kind_of_store("future_kind"), 0);
    assert_string_equal(sm__events_kind_name(SM_EVENTS_LOGS), "logs");
    assert_string_equal(sm__events_kind_name(SM_EVENTS_RUNS | SM_EVENTS_LOGS), "?");
}

static void seq_fails(const char *what, const char *text, const char *want)
{
    struct sm_err err = SM_ERR_INIT;
    int64_t v = 7;
    int rc = sm__events_parse_seq(what, text, &v, &err);
    if (rc != SM_EINVAL || strcmp(err.msg, want) != 0)
        fail_msg("%s '%s': got %s '%s', expected SM_EINVAL '%s'", what, text, sm_err_name(rc),
                 err.msg, want);
    assert_int_equal(v, 0);
}

static void test_server_events__sequence_numbers_are_digits_up_to_int64_max(void **state)
{
    (void)state;
    struct sm_err err = SM_ERR_INIT;
    int64_t v = -1;
    OK(sm__events_parse_seq("after", "0", &v, &err));
    assert_int_equal(v, 0);
    OK(sm__events_parse_seq("after", "0042", &v, &err));
    assert_int_equal(v, 42);
    OK(sm__events_parse_seq("after", "9223372036854775807", &v, &err));
    assert_true(v == INT64_MAX);
    const char *tail = "': expected a change sequence number (digits, 0 to "
                       "9223372036854775807), as sent in an event's 'id:' line";
    char want[256];
    const char *bad[] = {"abc",
                         "",
                         "-1",
                         "+1",
                         " 1",
                         "1 ",
                         "1.5",
                         "0x10",
                         "9223372036854775808",
                         "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(want, sizeof(want), "invalid after '%s%s", bad[i], tail);
        seq_fails("after", bad[i], want);
    }
    FAILS(SM_EINVAL, sm__events_parse_seq("after", "-", &v, &err));
    snprintf(want, sizeof(want), "invalid Last-Event-ID 'x%s", tail);
    seq_fails("Last-Event-ID", "x", want);
}

static void test_server_events__root_ids_are_32_lower_case_hex_digits(void **state)
{
    (void)state;
    struct sm_err err = SM_ERR_INIT;
    char root[SM_ID_HEX_LEN + 1];
    OK(sm__events_parse_root("0123456789abcdef0123456789abcdef", root, &err));
    assert_string_equal(root, "0123456789abcdef0123456789abcdef");
    const char *bad[] = {"", "xyz", "0123456789ABCDEF0123456789abcdef",
                         "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sm__events_parse_root(bad[i], root, &err), SM_EINVAL);
        char want[200];
        snprintf(want, sizeof(want),
                 "invalid root_id '%s': expected the id of a pipeline run (its root run), 32 "
                 "lower-case hex digits",
                 bad[i]);
        assert_string_equal(err.msg, want);
        assert_string_equal(root, "");
        sm_err_clear(&err);
    }
}

static void test_server_events__id_lists_give_the_well_formed_ids_only(void **state)
{
    (void)state;
    const char *list = "00000000000000000000000000000001,bogus,,"
                       "0000000000000000000000000000000A,\"x\":1,"
                       "00000000000000000000000000000002";
    char id[SM_ID_HEX_LEN + 1];
    size_t pos = 0;
    assert_true(sm__events_next_id(list, &pos, id));
    assert_string_equal(id, "00000000000000000000000000000001");
    assert_true(sm__events_next_id(list, &pos, id));
    assert_string_equal(id, "00000000000000000000000000000002");
    assert_false(sm__events_next_id(list, &pos, id));
    assert_int_equal(pos, strlen(list));
    assert_false(sm__events_next_id(list, &pos, id)); /* stays at the end */
    pos = 0;
    assert_false(sm__events_next_id("", &pos, id));
    assert_false(sm__events_next_id(NULL, &pos, id));
    pos = 0;
    assert_false(sm__events_next_id(",,,", &pos, id));
    assert_int_equal(pos, 3);
}

static void test_server_events__an_event_is_fields_then_a_blank_line(void **state)
{
    (void)state;
    struct sm_buf out = SM_BUF_INIT(1 << 20);
    assert_int_equal(sm__sse_event(&out, 42, "runs", "{\"a\":1}", 7), 0);
    assert_string_equal(out.data, "id: 42\nevent: runs\ndata: {\"a\":1}\n\n");
    sm_buf_reset(&out);
    assert_int_equal(sm__sse_event(&out, -1, "logs", "{}", 2), 0);
    assert_string_equal(out.data, "event: logs\ndata: {}\n\n");
    /* Line breaks in the data become data lines, which the client joins with '\n'. */
    sm_buf_reset(&out);
    assert_int_equal(sm__sse_event(&out, 0, "x", "a\nb\r\nc\rd\n", 9), 0);
    assert_string_equal(out.data,
                        "id: 0\nevent: x\ndata: a\ndata: b\ndata: c\ndata: d\ndata: \n\n");
    sm_buf_reset(&out);
    assert_int_equal(sm__sse_comment(&out, "keepalive"), 0);
    assert_string_equal(out.data, ": keepalive\n\n");
    sm_buf_reset(&out);
    assert_int_equal(sm__sse_comment(&out, "two\nlines"), 0);
    assert_string_equal(out.data, ": two\n: lines\n\n");
    sm_buf_release(&out);
    /* Over the buffer's cap: SM_ETOOBIG, and the buffer is left empty. */
    struct sm_buf small = SM_BUF_INIT(16);
    assert_int_equal(sm__sse_event(&small, 1, "runs", "{\"a\":12345678}", 14), SM_ETOOBIG);
    assert_int_equal(small.len, 0);
    sm_buf_release(&small);
}

static void test_server_events__the_run_memo_keeps_the_runs_looked_up_last(void **state)
{
    (void)state;
    struct sm__run_memo m = {0};
    char id[SM_ID_HEX_LEN + 1];
    assert_null(sm__run_memo_get(&m, "00000000000000000000000000000001"));
    /* Fill the young generation, keeping run 0 in use. */
    for (unsigned i = 0; i < SM_EVENTS_MEMO_GEN; i++) {
        id_of(i, id);
        struct sm__run_info *info = sm__run_memo_put(&m, id, 7);
        assert_int_equal(info->log_after, 7);
        snprintf(info->root_id, sizeof(info->root_id), "%s", id);
        info->log_after = i;
    }
    assert_int_equal(m.n_young, SM_EVENTS_MEMO_GEN);
    id_of(5, id);
    assert_int_equal(sm__run_memo_put(&m, id, 0)->log_after, 5); /* found: not remade */
    /* The next new run starts a generation; the full one becomes old, still found. */
    id_of(SM_EVENTS_MEMO_GEN, id);
    sm__run_memo_put(&m, id, 0);
    assert_int_equal(m.n_young, 1);
    assert_int_equal(m.n_old, SM_EVENTS_MEMO_GEN);
    id_of(3, id);
    struct sm__run_info *got = sm__run_memo_get(&m, id);
    assert_non_null(got);
    assert_string_equal(got->root_id, id);
    assert_int_equal(got->log_after, 3);
    /* Looking up an old run with put moves it (with what it knew) to the young generation. */
    assert_int_equal(sm__run_memo_put(&m, id, 0)->log_after, 3);
    assert_int_equal(m.n_young, 2);
    /* Another generation later, the old runs not moved are forgotten; the moved one is kept. */
    for (unsigned i = 0; i < SM_EVENTS_MEMO_GEN; i++) {
        id_of(100000 + i, id);
        sm__run_memo_put(&m, id, 0);
    }
    id_of(4, id);
    assert_null(sm__run_memo_get(&m, id));
    id_of(3, id);
    assert_non_null(sm__run_memo_get(&m, id));
    sm__run_memo_release(&m);
    assert_null(m.young);
    assert_null(m.old);
}

/* ------------------------------------------------------------- the pump on a store */

/* One event of a pump's output. */
struct event {
    int64_t id; /* -1 when it carries none */
    char kind[32];
    char *data; /* owned */
};

struct events {
    struct event *v;
    size_t n;
    size_t n_comments;
};

static void events_release(struct events *es)
{
    for (size_t i = 0; i < es->n; i++)
        free(es->v[i].data);
    free(es->v);
    memset(es, 0, sizeof(*es));
}

/* Parse SSE text (whole events only, as the pump writes them) into es (appending). */
static void parse_events(const char *text, struct events *es)
{
    struct event cur = {.id = -1};
    bool has_field = false;
    for (const char *p = text; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        if (nl == NULL)
            fail_msg("an event without its final newline: '%s'", p);
        size_t len = (size_t)(nl - p);
        if (len == 0) {
            if (!has_field)
                fail_msg("an empty event block in '%s'", text);
            if (cur.data != NULL) {
                es->v = realloc(es->v, (es->n + 1) * sizeof(*es->v));
                es->v[es->n++] = cur;
            } else {
                es->n_comments++;
            }
            cur = (struct event){.id = -1};
            has_field = false;
        } else if (p[0] == ':') {
            has_field = true;
        } else if (strncmp(p, "id: ", 4) == 0) {
            cur.id = strtoll(p + 4, NULL, 10);
            has_field = true;
        } else if (strncmp(p, "event: ", 7) == 0) {
            snprintf(cur.kind, sizeof(cur.kind), "%.*s", (int)(len - 7), p + 7);
            has_field = true;
        } else if (strncmp(p, "data: ", 6) == 0) {
            if (cur.data != NULL)
                fail_msg("two data lines in one event: JSON data is one line");
            cur.data = strndup(p + 6, len - 6);
            has_field = true;
        } else {
            fail_msg("an unknown line '%.*s'", (int)len, p);
        }
        p = nl + 1;
    }
    if (has_field)
        fail_msg("the text ends inside an event: '%s'", text);
}

/* Pump ev until nothing is pending, parsing what it writes into es. Returns the pump calls. */
static int pump_all(struct sm__events *ev, struct sm_store *s, struct events *es)
{
    struct sm_err err = SM_ERR_INIT;
    struct sm_buf out = SM_BUF_INIT((size_t)16 << 20);
    int calls = 0;
    bool check = true;
    do {
        sm_buf_reset(&out);
        OK(sm__events_pump(ev, s, check, &out, &err));
        check = false;
        calls++;
        if (out.len > SM_EVENTS_CHUNK_BYTES + ((size_t)4 << 20))
            fail_msg("one pump call wrote %zu bytes", out.len);
        if (out.len > 0)
            parse_events(out.data, es);
    } while (sm__events_pending(ev) && calls < 10000);
    sm_buf_release(&out);
    return calls;
}

static struct sm_json_doc data_of(const struct event *e)
{
    struct sm_json_doc doc = {0};
    struct sm_err err = SM_ERR_INIT;
    if (sm_json_parse(&doc, e->data, strlen(e->data), &err) != 0)
        fail_msg("event data is not JSON (%s): %s", err.msg, e->data);
    return doc;
}

static const char *str_at(const struct sm_json *v, const char *key)
{
    const struct sm_json *m = sm_json_get(v, key);
    if (m == NULL || m->kind != SM_JSON_STRING)
        fail_msg("no string '%s'", key);
    return m->str;
}

static void commit_runs(struct sm_store *s, const unsigned *ids, size_t n, unsigned root, int state)
{
    struct sm_err err = SM_ERR_INIT;
    OK(sm_store_begin(s, &err));
    for (size_t i = 0; i < n; i++) {
        struct sm_run_rec r;
        run_init(&r, ids[i], root, state);
        OK(sm_store_put_run(s, &r, &err));
    }
    OK(sm_store_commit(s, &err));
}

static void put_pipeline(struct sm_store *s, unsigned root, int status)
{
    struct sm_err err = SM_ERR_INIT;
    struct sm_pipeline_rec p;
    memset(&p, 0, sizeof(p));
    id_of(root, p.root_id);
    p.status = status;
    p.kind = "LOCAL";
    OK(sm_store_put_pipeline(s, &p, &err));
}

static void append_lines(struct sm_store *s, unsigned run, int from, int to)
{
    struct sm_err err = SM_ERR_INIT;
    for (int i = from; i <= to; i++) {
        char text[32];
        snprintf(text, sizeof(text), "line %d", i);
        struct sm_log_rec line = {.stream = 1, .ts = 1000 + i, .text = text, .len = strlen(text)};
        id_of(run, line.run_id);
        OK(sm_store_append_log(s, &line, &err));
    }
}

static void test_server_events__a_run_is_sent_with_the_sequence_that_last_wrote_it(void **state)
{
    struct fixture *f = *state;
    unsigned ab[] = {1, 2}, a[] = {1};
    commit_runs(f->s, ab, 2, 1, SM_STATE_CREATED); /* seq 1 */
    commit_runs(f->s, a, 1, 1, SM_STATE_RESOLVED); /* seq 2 */
    struct sm__events *ev = sm__events_new(SM_EVENTS_ALL, NULL, 0);
    struct events es = {0};
    pump_all(ev, f->s, &es);
    assert_int_equal(es.n, 2);
    /* Seq 1 wrote both; run 1 was rewritten by seq 2, so seq 1 sends run 2 only. */
    assert_string_equal(es.v[0].kind, "runs");
    assert_int_equal(es.v[0].id, 1);
    struct sm_json_doc d = data_of(&es.v[0]);
    const struct sm_json *runs = sm_json_get(d.root, "runs");
    assert_int_equal(runs->n_items, 1);
    assert_string_equal(str_at(&runs->items[0], "id"), "00000000000000000000000000000002");
    assert_string_equal(str_at(&runs->items[0], "future_state"), "CREATED");
    assert_string_equal(str_at(&runs->items[0], "root_id"), "00000000000000000000000000000001");
    assert_string_equal(str_at(&runs->items[0], "parent_id"), "00000000000000000000000000000001");
    assert_string_equal(str_at(&runs->items[0], "name"), "step");
    assert_string_equal(str_at(&runs->items[0], "function_path"), "mod.step");
    assert_string_equal(str_at(&runs->items[0], "created_at"), "1970-01-01T00:00:01.000002+00:00");
    sm_json_doc_release(&d);
    d = data_of(&es.v[1]);
    runs = sm_json_get(d.root, "runs");
    assert_int_equal(runs->n_items, 1);
    assert_string_equal(str_at(&runs->items[0], "id"), "00000000000000000000000000000001");
    assert_string_equal(str_at(&runs->items[0], "future_state"), "RESOLVED");
    assert_int_equal(sm_json_get(&runs->items[0], "parent_id")->kind, SM_JSON_NULL);
    sm_json_doc_release(&d);
    assert_int_equal(es.v[1].id, 2);
    assert_int_equal(sm__events_position(ev), 2);
    events_release(&es);

    /* Nothing new: a check writes nothing. */
    struct sm_err err = SM_ERR_INIT;
    struct sm_buf out = SM_BUF_INIT(1 << 20);
    OK(sm__events_pump(ev, f->s, true, &out, &err));
    assert_int_equal(out.len, 0);
    /* A batch that writes no event row (an artifact) moves the position along. */
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_source(f->s, "x", 1, (char[SM_SHA256_HEX_LEN + 1]){0}, &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm__events_pump(ev, f->s, true, &out, &err));
    assert_int_equal(out.len, 0);
    assert_int_equal(sm__events_position(ev), 3);
    assert_false(sm__events_pending(ev));
    sm_buf_release(&out);
    sm__events_free(ev);
}

static void test_server_events__text_that_is_not_utf8_is_sent_cleaned(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_run_rec r;
    run_init(&r, 1, 1, SM_STATE_RAN);
    r.name = "bad\xff name";
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_run(f->s, &r, &err));
    struct sm_log_rec line = {.stream = 2, .ts = 1, .text = "caf\xe9", .len = 4};
    id_of(1, line.run_id);
    OK(sm_store_append_log(f->s, &line, &err));
    OK(sm_store_commit(f->s, &err));
    struct sm__events *ev = sm__events_new(SM_EVENTS_ALL, NULL, 0);
    struct events es = {0};
    pump_all(ev, f->s, &es);
    assert_int_equal(es.n, 2);
    HAS(es.v[0].data, "\"name\":\"bad? name\"");
    HAS(es.v[1].data, "\"stream\":\"stderr\",\"ts\":\"1970-01-01T00:00:00.000001+00:00\","
                      "\"text\":\"caf?\"");
    events_release(&es);
    sm__events_free(ev);
}

static void test_server_events__a_big_batch_is_several_events_and_one_id(void **state)
{
    struct fixture *f = *state;
    unsigned ids[600];
    for (unsigned i = 0; i < 600; i++)
        ids[i] = 10 + i;
    commit_runs(f->s, ids, 600, 10, SM_STATE_SCHEDULED);
    struct sm__events *ev = sm__events_new(SM_EVENTS_RUNS, NULL, 0);
    struct events es = {0};
    pump_all(ev, f->s, &es);
    assert_int_equal(es.n, 3);
    size_t want[] = {SM_EVENTS_RUNS_PER_EVENT, SM_EVENTS_RUNS_PER_EVENT,
                     600 - 2 * SM_EVENTS_RUNS_PER_EVENT};
    for (size_t i = 0; i < 3; i++) {
        struct sm_json_doc d = data_of(&es.v[i]);
        assert_int_equal(sm_json_get(d.root, "runs")->n_items, want[i]);
        sm_json_doc_release(&d);
        /* Only the last event of the sequence carries its id: a client cut off in the
         * middle resumes before it and gets the whole sequence again. */
        assert_int_equal(es.v[i].id, i == 2 ? 1 : -1);
    }
    events_release(&es);
    sm__events_free(ev);
}

static void test_server_events__root_id_and_kinds_filter_what_is_sent(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    unsigned one[] = {1, 2}, other[] = {7, 8};
    OK(sm_store_begin(f->s, &err));
    put_pipeline(f->s, 1, SM_PIPELINE_RUNNING);
    put_pipeline(f->s, 7, SM_PIPELINE_RUNNING);
    OK(sm_store_commit(f->s, &err));
    commit_runs(f->s, one, 2, 1, SM_STATE_SCHEDULED);
    commit_runs(f->s, other, 2, 7, SM_STATE_SCHEDULED);
    OK(sm_store_begin(f->s, &err));
    struct sm_edge_rec e;
    memset(&e, 0, sizeof(e));
    id_of(50, e.id);
    id_of(7, e.root_id);
    id_of(8, e.source_run_id);
    OK(sm_store_put_edge(f->s, &e, &err));
    id_of(51, e.id);
    id_of(1, e.root_id);
    id_of(2, e.source_run_id);
    OK(sm_store_put_edge(f->s, &e, &err));
    append_lines(f->s, 8, 1, 2);
    append_lines(f->s, 2, 1, 1);
    OK(sm_store_commit(f->s, &err));

    char root[SM_ID_HEX_LEN + 1];
    id_of(7, root);
    struct sm__events *ev = sm__events_new(SM_EVENTS_ALL, root, 0);
    OK(sm__events_find_log_floor(ev, f->s, &err));
    struct events es = {0};
    pump_all(ev, f->s, &es);
    const char *kinds[] = {"pipeline_status", "runs", "edges", "logs"};
    assert_int_equal(es.n, 4);
    for (size_t i = 0; i < es.n; i++) {
        assert_string_equal(es.v[i].kind, kinds[i]);
        if (strcmp(es.v[i].kind, "runs") != 0)
            assert_non_null(strstr(es.v[i].data, root));
        assert_null(strstr(es.v[i].data, "00000000000000000000000000000001"));
    }
    assert_string_equal(es.v[2].data, "{\"root_ids\":[\"00000000000000000000000000000007\"]}");
    struct sm_json_doc d = data_of(&es.v[1]);
    const struct sm_json *runs = sm_json_get(d.root, "runs");
    assert_int_equal(runs->n_items, 2);
    assert_string_equal(str_at(&runs->items[0], "root_id"), root);
    sm_json_doc_release(&d);
    d = data_of(&es.v[3]);
    assert_string_equal(str_at(d.root, "run_id"), "00000000000000000000000000000008");
    assert_int_equal(sm_json_get(d.root, "lines")->n_items, 2);
    sm_json_doc_release(&d);
    events_release(&es);
    sm__events_free(ev);

    /* Kinds: only pipeline statuses, of both pipelines. */
    ev = sm__events_new(SM_EVENTS_PIPELINE_STATUS, NULL, 0);
    pump_all(ev, f->s, &es);
    assert_int_equal(es.n, 2);
    for (size_t i = 0; i < es.n; i++) {
        assert_string_equal(es.v[i].kind, "pipeline_status");
        d = data_of(&es.v[i]);
        assert_string_equal(str_at(d.root, "status"), "RUNNING");
        sm_json_doc_release(&d);
    }
    /* Their sequence carries no other event, so its id goes on the last of the two. */
    assert_int_equal(es.v[0].id, -1);
    assert_int_equal(es.v[1].id, 1);
    events_release(&es);
    sm__events_free(ev);
}

static void test_server_events__a_cancel_sends_the_canceled_runs_then_the_status(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    OK(sm_store_begin(f->s, &err));
    put_pipeline(f->s, 1, SM_PIPELINE_RUNNING);
    OK(sm_store_commit(f->s, &err));
    unsigned running[] = {1, 2, 3}, done[] = {4};
    commit_runs(f->s, running, 3, 1, SM_STATE_SCHEDULED);
    commit_runs(f->s, done, 1, 1, SM_STATE_RESOLVED);
    int64_t before = sm_store_change_seq(f->s);
    OK(sm_store_set_pipeline_status(f->s, "00000000000000000000000000000001", SM_PIPELINE_CANCELED,
                                    &err));
    struct sm__events *ev =
        sm__events_new(SM_EVENTS_RUNS | SM_EVENTS_PIPELINE_STATUS, NULL, before);
    struct events es = {0};
    pump_all(ev, f->s, &es);
    assert_int_equal(es.n, 2);
    assert_string_equal(es.v[0].kind, "runs");
    struct sm_json_doc d = data_of(&es.v[0]);
    const struct sm_json *runs = sm_json_get(d.root, "runs");
    assert_int_equal(runs->n_items, 3); /* not run 4: it had resolved */
    for (size_t i = 0; i < runs->n_items; i++)
        assert_string_equal(str_at(&runs->items[i], "future_state"), "CANCELED");
    sm_json_doc_release(&d);
    assert_string_equal(es.v[1].kind, "pipeline_status");
    d = data_of(&es.v[1]);
    assert_string_equal(str_at(d.root, "status"), "CANCELED");
    assert_non_null(str_at(d.root, "ended_at"));
    sm_json_doc_release(&d);
    assert_int_equal(es.v[1].id, before + 1);
    events_release(&es);
    sm__events_free(ev);
}

static void test_server_events__notes_and_metrics_are_sent(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_note_rec n;
    memset(&n, 0, sizeof(n));
    id_of(90, n.id);
    id_of(2, n.run_id);
    id_of(1, n.root_id);
    n.note = "looks \"good\"";
    n.created_at = n.updated_at = 5000000;
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_note(f->s, &n, &err));
    struct sm_metric_point pts[2];
    memset(pts, 0, sizeof(pts));
    pts[0] = (struct sm_metric_point){.name = "loss", .value = 1, .step = -1, .ts = 1};
    pts[1] = (struct sm_metric_point){.name = "acc", .value = 1, .step = -1, .ts = 1};
    pts[0].labels_json = "{\"root_id\":\"00000000000000000000000000000001\"}";
    OK(sm_store_append_metrics(f->s, pts, 2, &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_delete_note(f->s, n.id, &err));
    OK(sm_store_commit(f->s, &err));

    struct sm__events *ev = sm__events_new(SM_EVENTS_ALL, NULL, 0);
    struct events es = {0};
    pump_all(ev, f->s, &es);
    assert_int_equal(es.n, 3);
    assert_string_equal(es.v[0].kind, "note");
    /* Read when sent: the note was deleted since, so no text comes with its first event. */
    assert_string_equal(es.v[0].data, "{\"id\":\"0000000000000000000000000000005a\","
                                      "\"run_id\":\"00000000000000000000000000000002\","
                                      "\"root_id\":\"00000000000000000000000000000001\","
                                      "\"deleted\":false,\"note\":null}");
    assert_string_equal(es.v[1].kind, "metrics");
    assert_string_equal(es.v[1].data, "{\"names\":[\"loss\",\"acc\"]}");
    assert_string_equal(es.v[2].kind, "note");
    HAS(es.v[2].data, "\"deleted\":true,\"note\":null}");
    events_release(&es);
    sm__events_free(ev);

    /* Under a root, the metric names that pipeline has points of. */
    ev = sm__events_new(SM_EVENTS_METRICS, "00000000000000000000000000000001", 0);
    pump_all(ev, f->s, &es);
    assert_int_equal(es.n, 1);
    assert_string_equal(es.v[0].data, "{\"names\":[\"loss\"]}");
    events_release(&es);
    sm__events_free(ev);

    /* A note still there is sent with its text. */
    OK(sm_store_begin(f->s, &err));
    id_of(91, n.id);
    OK(sm_store_put_note(f->s, &n, &err));
    OK(sm_store_commit(f->s, &err));
    ev = sm__events_new(SM_EVENTS_NOTE, NULL, sm_store_change_seq(f->s) - 1);
    pump_all(ev, f->s, &es);
    assert_int_equal(es.n, 1);
    /* Sematic's note, as GET /api/v1/notes shows it (sorted keys, its author: none here). */
    HAS(es.v[0].data, "\"deleted\":false,\"note\":{\"created_at\":\"1970-01-01T00:00:05+00:00\","
                      "\"id\":\"0000000000000000000000000000005b\",\"note\":\"looks "
                      "\\\"good\\\"\"");
    HAS(es.v[0].data, "\"user\":null,\"user_id\":null}}");
    events_release(&es);
    sm__events_free(ev);
}

/* The ids of the lines of the logs events in es, in order, into ids (returns how many). */
static size_t line_ids(const struct events *es, const char *run, int64_t *ids, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < es->n; i++) {
        if (strcmp(es->v[i].kind, "logs") != 0)
            continue;
        struct sm_json_doc d = data_of(&es->v[i]);
        if (strcmp(str_at(d.root, "run_id"), run) == 0) {
            const struct sm_json *lines = sm_json_get(d.root, "lines");
            for (size_t k = 0; k < lines->n_items && n < max; k++)
                ids[n++] = (int64_t)sm_json_get(&lines->items[k], "id")->num;
        }
        sm_json_doc_release(&d);
    }
    return n;
}

static void test_server_events__log_lines_start_after_the_floor_and_go_once(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    char r1[SM_ID_HEX_LEN + 1], r2[SM_ID_HEX_LEN + 1], r3[SM_ID_HEX_LEN + 1];
    id_of(1, r1);
    id_of(2, r2);
    id_of(3, r3);
    unsigned runs[] = {1, 2, 3};
    commit_runs(f->s, runs, 3, 1, SM_STATE_SCHEDULED);
    OK(sm_store_begin(f->s, &err));
    append_lines(f->s, 1, 1, 3); /* ids 1-3 */
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_begin(f->s, &err));
    append_lines(f->s, 2, 1, 2); /* ids 4-5 */
    OK(sm_store_commit(f->s, &err));

    /* A stream from now: no line committed so far is sent. */
    int64_t now = sm_store_change_seq(f->s);
    struct sm__events *ev = sm__events_new(SM_EVENTS_LOGS, NULL, now);
    OK(sm__events_find_log_floor(ev, f->s, &err));
    assert_int_equal(sm__events_log_floor(ev), 5);
    OK(sm_store_begin(f->s, &err));
    append_lines(f->s, 1, 4, 4); /* id 6 */
    append_lines(f->s, 3, 1, 2); /* ids 7-8 */
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_begin(f->s, &err));
    append_lines(f->s, 1, 5, 5); /* id 9 */
    OK(sm_store_commit(f->s, &err));
    /* Line ids grow with every commit: the premise of the floor. */
    assert_int_equal(sql_value(f->db, "SELECT max(id) FROM logs"), 9);
    struct events es = {0};
    pump_all(ev, f->s, &es);
    int64_t ids[16];
    /* Run 1's lines 6 and 9 may come together (read when its first event is sent): each once. */
    assert_int_equal(line_ids(&es, r1, ids, 16), 2);
    assert_int_equal(ids[0], 6);
    assert_int_equal(ids[1], 9);
    assert_int_equal(line_ids(&es, r3, ids, 16), 2);
    assert_int_equal(ids[0], 7);
    assert_int_equal(line_ids(&es, r2, ids, 16), 0);
    events_release(&es);
    sm__events_free(ev);

    /* Resuming after `now`: run 1 wrote again since, so the floor comes from run 2 (5). */
    ev = sm__events_new(SM_EVENTS_LOGS, NULL, now);
    OK(sm__events_find_log_floor(ev, f->s, &err));
    assert_int_equal(sm__events_log_floor(ev), 5);
    sm__events_free(ev);
    /* Resuming after the batch of line 6 (run 1 and 3): run 1 wrote again, run 3 did not. */
    ev = sm__events_new(SM_EVENTS_LOGS, NULL, now + 1);
    OK(sm__events_find_log_floor(ev, f->s, &err));
    assert_int_equal(sm__events_log_floor(ev), 8);
    pump_all(ev, f->s, &es);
    assert_int_equal(line_ids(&es, r1, ids, 16), 1);
    assert_int_equal(ids[0], 9);
    events_release(&es);
    sm__events_free(ev);
    /* From the start: every line, each once. */
    ev = sm__events_new(SM_EVENTS_LOGS, NULL, 0);
    OK(sm__events_find_log_floor(ev, f->s, &err));
    assert_int_equal(sm__events_log_floor(ev), 0);
    pump_all(ev, f->s, &es);
    assert_int_equal(line_ids(&es, r1, ids, 16), 5);
    assert_int_equal(line_ids(&es, r2, ids, 16), 2);
    assert_int_equal(line_ids(&es, r3, ids, 16), 2);
    events_release(&es);
    sm__events_free(ev);
}

static void test_server_events__a_logs_event_holds_at_most_1000_lines(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    unsigned runs[] = {1};
    commit_runs(f->s, runs, 1, 1, SM_STATE_SCHEDULED);
    OK(sm_store_begin(f->s, &err));
    append_lines(f->s, 1, 1, 1500);
    OK(sm_store_commit(f->s, &err));
    struct sm__events *ev = sm__events_new(SM_EVENTS_LOGS, NULL, 0);
    struct events es = {0};
    pump_all(ev, f->s, &es);
    assert_int_equal(es.n, 1);
    struct sm_json_doc d = data_of(&es.v[0]);
    assert_int_equal(sm_json_get(d.root, "lines")->n_items, SM_EVENTS_LOG_LINES_MAX);
    assert_true(sm_json_get(d.root, "more")->boolean);
    sm_json_doc_release(&d);
    events_release(&es);
    /* The run's next batch sends the rest, from where the first event stopped. */
    OK(sm_store_begin(f->s, &err));
    append_lines(f->s, 1, 1501, 1501);
    OK(sm_store_commit(f->s, &err));
    pump_all(ev, f->s, &es);
    assert_int_equal(es.n, 1);
    d = data_of(&es.v[0]);
    const struct sm_json *lines = sm_json_get(d.root, "lines");
    assert_int_equal(lines->n_items, 501);
    assert_int_equal((int64_t)sm_json_get(&lines->items[0], "id")->num, 1001);
    assert_false(sm_json_get(d.root, "more")->boolean);
    sm_json_doc_release(&d);
    events_release(&es);
    sm__events_free(ev);
}

/* Everything an events stream from `after` sends, as text (whole events). */
static char *stream_text(struct sm_store *s, int64_t after)
{
    struct sm_err err = SM_ERR_INIT;
    struct sm__events *ev = sm__events_new(SM_EVENTS_ALL, NULL, after);
    OK(sm__events_find_log_floor(ev, s, &err));
    struct sm_buf all = SM_BUF_INIT((size_t)64 << 20), out = SM_BUF_INIT((size_t)16 << 20);
    bool check = true;
    do {
        sm_buf_reset(&out);
        OK(sm__events_pump(ev, s, check, &out, &err));
        check = false;
        if (out.len > 0)
            sm_buf_add(&all, out.data, out.len);
    } while (sm__events_pending(ev));
    sm__events_free(ev);
    sm_buf_release(&out);
    size_t len;
    return sm_buf_detach(&all, &len);
}

static void test_server_events__resuming_after_an_id_gives_exactly_what_followed(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    OK(sm_store_begin(f->s, &err));
    put_pipeline(f->s, 1, SM_PIPELINE_RUNNING);
    OK(sm_store_commit(f->s, &err));
    for (unsigned k = 0; k < 20; k++) {
        unsigned ids[3] = {2 + 3 * k, 3 + 3 * k, 4 + 3 * k};
        commit_runs(f->s, ids, 3, 1, (int)(k % 3));
        OK(sm_store_begin(f->s, &err));
        append_lines(f->s, ids[k % 3], (int)k, (int)k + 2);
        OK(sm_store_commit(f->s, &err));
    }
    OK(sm_store_begin(f->s, &err));
    put_pipeline(f->s, 1, SM_PIPELINE_COMPLETE);
    OK(sm_store_commit(f->s, &err));
    int64_t last = sm_store_change_seq(f->s);
    char *full = stream_text(f->s, 0);
    /* For every id the full stream sent, a stream resumed there sends exactly the rest. */
    int n_ids = 0;
    for (int64_t id = 1; id <= last; id++) {
        char line[32];
        snprintf(line, sizeof(line), "id: %lld\n", (long long)id);
        const char *at = strstr(full, line);
        if (at == NULL)
            continue;
        const char *block_end = strstr(at, "\n\n");
        assert_non_null(block_end);
        char *rest = stream_text(f->s, id);
        if (strcmp(rest, block_end + 2) != 0)
            fail_msg("resuming after %lld sent:\n%s\nexpected:\n%s", (long long)id, rest,
                     block_end + 2);
        free(rest);
        n_ids++;
    }
    assert_true(n_ids >= 40); /* not seq 1: its pipeline status was rewritten at the end */
    free(full);
}

static void test_server_events__a_pump_call_writes_a_bounded_amount(void **state)
{
    struct fixture *f = *state;
    /* 40 batches of 256 runs: about 5 MB of events. */
    for (unsigned b = 0; b < 40; b++) {
        unsigned ids[256];
        for (unsigned i = 0; i < 256; i++)
            ids[i] = 1000 + 256 * b + i;
        commit_runs(f->s, ids, 256, 1000, SM_STATE_CREATED);
    }
    struct sm__events *ev = sm__events_new(SM_EVENTS_ALL, NULL, 0);
    struct events es = {0};
    int calls = pump_all(ev, f->s, &es); /* fails when one call writes too much */
    assert_true(calls > 10);
    assert_int_equal(es.n, 40);
    assert_int_equal(sm__events_position(ev), 40);
    events_release(&es);
    sm__events_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_events__kinds_name_the_kinds_and_refuse_anything_else),
        cmocka_unit_test(test_server_events__sequence_numbers_are_digits_up_to_int64_max),
        cmocka_unit_test(test_server_events__root_ids_are_32_lower_case_hex_digits),
        cmocka_unit_test(test_server_events__id_lists_give_the_well_formed_ids_only),
        cmocka_unit_test(test_server_events__an_event_is_fields_then_a_blank_line),
        cmocka_unit_test(test_server_events__the_run_memo_keeps_the_runs_looked_up_last),
        cmocka_unit_test_setup_teardown(
            test_server_events__a_run_is_sent_with_the_sequence_that_last_wrote_it, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_server_events__text_that_is_not_utf8_is_sent_cleaned,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_server_events__a_big_batch_is_several_events_and_one_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_events__root_id_and_kinds_filter_what_is_sent,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_server_events__a_cancel_sends_the_canceled_runs_then_the_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_events__notes_and_metrics_are_sent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_server_events__log_lines_start_after_the_floor_and_go_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_events__a_logs_event_holds_at_most_1000_lines,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_server_events__resuming_after_an_id_gives_exactly_what_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_events__a_pump_call_writes_a_bounded_amount,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
