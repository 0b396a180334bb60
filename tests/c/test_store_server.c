/*
 * test_store_server.c: what the store keeps for the server (store.h):
 * artifacts written by Sematic's own client (40-hex ids, payload in
 * storage), storage objects and the names they refuse, notes, metric
 * points and their roll-ups, users and API keys, and the change feed
 * (events after a sequence number), whole pipelines in write order and
 * their compact graph (sm_store_list_pipeline, sm_store_read_dag).
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
#include "sematic/hash.h"
#include "sematic/json.h"
#include "sematic/store.h"
#include "test_store_fixture.h"

#include "util/banned.h"

static const char sha1_id[] = "0123456789abcdef0123456789abcdef01234567";

static void sematic_artifact(struct sm_artifact_rec *a, const char *id)
{
    memset(a, 0, sizeof(*a));
    snprintf(a->id, sizeof(a->id), "%s", id);
    a->type_json = "{\"type\": [\"builtin\", \"int\", {}], \"registry\": {}}";
    a->summary_json = "42";
    a->created_at = 123;
}

/* ------------------------------------------------------------ Sematic's artifacts */

static void test_store_server__a_40_hex_artifact_is_stored_without_payload(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_artifact_rec a;
    sematic_artifact(&a, sha1_id);
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_artifact(f->s, &a, NULL, 0, &err));
    /* A payload with it is refused, pointing at the storage object. */
    FAILS(SM_EINVAL, sm_store_put_artifact(f->s, &a, "42", 2, &err));
    HAS(err.msg, "keeps its payload in storage object 'artifacts/0123456789abcdef");
    sm_err_clear(&err);
    /* An edge may name it. */
    struct sm_edge_rec e;
    memset(&e, 0, sizeof(e));
    id_of(5, e.id);
    id_of(1, e.root_id);
    id_of(1, e.source_run_id);
    snprintf(e.artifact_id, sizeof(e.artifact_id), "%s", sha1_id);
    OK(sm_store_put_edge(f->s, &e, &err));
    /* Its bytes arrive as a storage object. */
    OK(sm_store_put_object(f->s, "artifacts", sha1_id, "42", 2, &err));
    OK(sm_store_commit(f->s, &err));

    struct sm_artifact_rec out;
    struct sm_buf payload = SM_BUF_INIT(1 << 20);
    OK(sm_store_get_artifact(f->s, sha1_id, &out, &payload, &err));
    assert_true(out.payload_in_storage);
    assert_int_equal(payload.len, 0);
    assert_int_equal(out.size_bytes, 0);
    assert_string_equal(out.summary_json, "42");
    assert_string_equal(out.blob_key, "");
    assert_int_equal(out.created_at, 123);
    OK(sm_store_get_object(f->s, "artifacts", sha1_id, &payload, &err));
    assert_string_equal(payload.data, "42");
    sm_buf_release(&payload);

    /* Ids of other lengths are still refused, naming both forms. */
    sematic_artifact(&a, "0123456789abcdef0123456789abcdef0123456"); /* 39 */
    OK(sm_store_begin(f->s, &err));
    FAILS(SM_EINVAL, sm_store_put_artifact(f->s, &a, NULL, 0, &err));
    HAS(err.msg, "expected 64 lower-case hex digits (SHA-256), or 40");
    sm_err_clear(&err);
    snprintf(e.artifact_id, sizeof(e.artifact_id), "%s", "abc");
    FAILS(SM_EINVAL, sm_store_put_edge(f->s, &e, &err));
    HAS(err.msg, "invalid edge artifact id 'abc'");
    sm_err_clear(&err);
    /* Our own 64-hex ids keep their hash check. */
    struct sm_artifact_rec ours;
    sematic_artifact(&ours, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    FAILS(SM_EINVAL, sm_store_put_artifact(f->s, &ours, "1", 1, &err));
    HAS(err.msg, "its id is not the SHA-256");
    sm_store_rollback(f->s);
}

/* ------------------------------------------------------------ storage objects */

static void test_store_server__storage_objects_round_trip_and_replace(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    char big[10000];
    memset(big, 'x', sizeof(big));
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_object(f->s, "futures", "abc", big, sizeof(big), &err));
    OK(sm_store_put_object(f->s, "blobs", "same", big, sizeof(big), &err)); /* one blob */
    OK(sm_store_put_object(f->s, "blobs", "empty", NULL, 0, &err));
    OK(sm_store_commit(f->s, &err));
    struct sm_buf out = SM_BUF_INIT(1 << 20);
    OK(sm_store_get_object(f->s, "futures", "abc", &out, &err));
    assert_int_equal(out.len, sizeof(big));
    sm_buf_reset(&out);
    OK(sm_store_get_object(f->s, "blobs", "empty", &out, &err));
    assert_int_equal(out.len, 0);
    assert_int_equal(sql_value(f->db, "SELECT count(DISTINCT blob_key) FROM storage_objects"), 2);

    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_object(f->s, "futures", "abc", "new", 3, &err));
    OK(sm_store_commit(f->s, &err));
    sm_buf_reset(&out);
    OK(sm_store_get_object(f->s, "futures", "abc", &out, &err));
    assert_string_equal(out.data, "new");

    FAILS(SM_ENOTFOUND, sm_store_get_object(f->s, "futures", "nope", &out, &err));
    HAS(err.msg, "storage object 'futures/nope' not found");
    sm_err_clear(&err);
    /* Writes only in a batch. */
    FAILS(SM_ESTATE, sm_store_put_object(f->s, "futures", "x", "1", 1, &err));
    sm_err_clear(&err);

    /* gc keeps the blobs that objects name, and drops one no longer named. */
    size_t n_removed = 0, bytes = 0;
    OK(sm_store_gc_blobs(f->s, &n_removed, &bytes, &err));
    assert_int_equal(n_removed, 0); /* "x"*10000 is still blobs/same's */
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_object(f->s, "blobs", "same", "y", 1, &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_gc_blobs(f->s, &n_removed, &bytes, &err));
    assert_int_equal(n_removed, 1);
    assert_int_equal(bytes, sizeof(big));
    sm_buf_reset(&out);
    OK(sm_store_get_object(f->s, "futures", "abc", &out, &err));
    assert_string_equal(out.data, "new");
    sm_buf_release(&out);
}

static void test_store_server__storage_names_that_could_escape_are_refused(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct {
        const char *ns, *key, *want;
    } bad[] = {
        {"artifacts", "..", "starts with '.'"},
        {"artifacts", ".", "starts with '.'"},
        {"..", "x", "invalid storage namespace '..'"},
        {"artifacts", "../../etc/passwd", "starts with '.'"},
        {"artifacts", "a/../../b", "character '/' at byte 1"},
        {"artifacts", "a\\b", "character '\\' at byte 1"},
        {"artifacts", "a%2Fb", "character '%' at byte 1"},
        {"artifacts", "a b", "character ' ' at byte 1"},
        {"artifacts", "a\nb", "byte 0x0a at 1"},
        {"artifacts", "\xc3\xa9", "byte 0xc3 at 0"},
        {"", "x", "invalid storage namespace: empty"},
        {"artifacts", "", "invalid storage key: empty"},
        {"artifacts", NULL, "invalid storage key: empty"},
    };
    struct sm_buf out = SM_BUF_INIT(1 << 20);
    OK(sm_store_begin(f->s, &err));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = sm_store_put_object(f->s, bad[i].ns, bad[i].key, "1", 1, &err);
        if (rc != SM_EINVAL || !strstr(err.msg, bad[i].want))
            fail_msg("case %zu: put returned %s '%s', expected SM_EINVAL with '%s'", i,
                     sm_err_name(rc), err.msg, bad[i].want);
        sm_err_clear(&err);
        FAILS(SM_EINVAL, sm_store_get_object(f->s, bad[i].ns, bad[i].key, &out, &err));
        HAS(err.msg, bad[i].want);
        sm_err_clear(&err);
    }
    char long_key[SM_OBJECT_KEY_MAX + 2];
    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    FAILS(SM_EINVAL, sm_store_put_object(f->s, "blobs", long_key, "1", 1, &err));
    HAS(err.msg, "longer than 200 bytes");
    sm_err_clear(&err);
    long_key[SM_OBJECT_KEY_MAX] = '\0';
    OK(sm_store_put_object(f->s, "blobs", long_key, "1", 1, &err));
    OK(sm_store_put_object(f->s, "a-b_c.d", "Key-1.json", "1", 1, &err));
    /* The refusals did not spoil the batch. */
    OK(sm_store_commit(f->s, &err));
    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM storage_objects"), 2);
    sm_buf_release(&out);
}

/* ------------------------------------------------------------ notes */

static void note_init(struct sm_note_rec *n, unsigned id, unsigned run, unsigned root)
{
    memset(n, 0, sizeof(*n));
    id_of(id, n->id);
    id_of(run, n->run_id);
    id_of(root, n->root_id);
    n->note = "hello";
    n->user_id = "u1";
    n->created_at = 100 + id;
    n->updated_at = 200 + id;
}

static void test_store_server__notes_are_put_read_and_deleted(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_note_rec n, out;
    note_init(&n, 7, 2, 1);
    FAILS(SM_ESTATE, sm_store_put_note(f->s, &n, &err));
    sm_err_clear(&err);
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_note(f->s, &n, &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_get_note(f->s, n.id, &out, &err));
    assert_string_equal(out.note, "hello");
    assert_string_equal(out.user_id, "u1");
    assert_string_equal(out.run_id, n.run_id);
    assert_string_equal(out.root_id, n.root_id);
    assert_int_equal(out.created_at, 107);
    assert_int_equal(out.seq, 1);

    /* Put again replaces; JSON has Sematic's names. */
    n.note = "edited";
    n.user_id = NULL;
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_note(f->s, &n, &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_get_note(f->s, n.id, &out, &err));
    struct sm_buf b = SM_BUF_INIT(4096);
    struct sm_jw w;
    sm_jw_init(&w, &b);
    sm_note_rec_to_json(&out, &w);
    OK(sm_jw_finish(&w, &err));
    assert_string_equal(b.data,
                        "{\"id\":\"00000000000000000000000000000007\",\"user_id\":null,"
                        "\"note\":\"edited\",\"run_id\":\"00000000000000000000000000000002\","
                        "\"root_id\":\"00000000000000000000000000000001\",\"created_at\":"
                        "\"1970-01-01T00:00:00.000107+00:00\",\"updated_at\":"
                        "\"1970-01-01T00:00:00.000207+00:00\"}");
    sm_buf_release(&b);

    /* Deleting a missing note is ENOTFOUND and leaves the batch good. */
    char missing[SM_ID_HEX_LEN + 1];
    id_of(99, missing);
    OK(sm_store_begin(f->s, &err));
    FAILS(SM_ENOTFOUND, sm_store_delete_note(f->s, missing, &err));
    HAS(err.msg, "note '00000000000000000000000000000063' not found");
    sm_err_clear(&err);
    OK(sm_store_delete_note(f->s, n.id, &err));
    OK(sm_store_commit(f->s, &err));
    FAILS(SM_ENOTFOUND, sm_store_get_note(f->s, n.id, &out, &err));
    sm_err_clear(&err);

    /* Bad arguments. */
    OK(sm_store_begin(f->s, &err));
    n.note = NULL;
    FAILS(SM_EINVAL, sm_store_put_note(f->s, &n, &err));
    HAS(err.msg, "invalid note text: NULL");
    sm_err_clear(&err);
    note_init(&n, 8, 2, 1);
    snprintf(n.run_id, sizeof(n.run_id), "%s", "xyz");
    FAILS(SM_EINVAL, sm_store_put_note(f->s, &n, &err));
    HAS(err.msg, "invalid note run id 'xyz'");
    sm_store_rollback(f->s);
}

/* ------------------------------------------------------------ metrics */

static void point(struct sm_metric_point *m, const char *name, double value, int64_t ts,
                  const char *labels)
{
    memset(m, 0, sizeof(*m));
    m->name = name;
    m->value = value;
    m->metric_type = SM_METRIC_GAUGE;
    m->labels_json = labels;
    m->step = -1;
    m->ts = ts;
}

struct buckets {
    int n;
    struct sm_metric_bucket b[16];
    char group[16][32];
};

static int got_bucket(void *ctx, const struct sm_metric_bucket *b)
{
    struct buckets *g = ctx;
    g->b[g->n] = *b;
    snprintf(g->group[g->n], sizeof(g->group[0]), "%s", b->group ? b->group : "(null)");
    g->b[g->n].group = NULL;
    g->n++;
    return 0;
}

struct names {
    int n;
    char name[8][32];
};

static int got_name(void *ctx, const char *name)
{
    struct names *g = ctx;
    snprintf(g->name[g->n++], sizeof(g->name[0]), "%s", name);
    return 0;
}

static void test_store_server__metric_series_roll_up_into_buckets(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    /* loss: 1, 3 in [0, 10); 5 in [10, 20); 7 at 35 (bucket 3); acc on another label. */
    struct sm_metric_point pts[6];
    point(&pts[0], "loss", 1, 0, "{\"run_id\": \"r1\", \"root_id\": \"r1\"}");
    point(&pts[1], "loss", 3, 9, "{\"run_id\": \"r2\", \"root_id\": \"r1\"}");
    point(&pts[2], "loss", 5, 10, "{\"run_id\": \"r2\", \"root_id\": \"r1\"}");
    point(&pts[3], "loss", 7, 35, NULL);
    point(&pts[4], "acc", 0.5, 1, "{\"run_id\": \"r3\", \"n\": 2}");
    point(&pts[5], "loss", 100, 40, NULL); /* at to_us: outside */
    id_of(1, pts[0].run_id);
    pts[0].step = 3;
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_append_metrics(f->s, pts, 6, &err));
    OK(sm_store_append_metrics(f->s, pts, 0, &err));
    OK(sm_store_commit(f->s, &err));

    struct sm_metric_query q = {.name = "loss", .from_us = 0, .to_us = 40, .n_buckets = 4};
    struct buckets g = {0};
    OK(sm_store_metric_series(f->s, &q, got_bucket, &g, &err));
    assert_int_equal(g.n, 3);
    assert_int_equal(g.b[0].start_us, 0);
    assert_int_equal(g.b[0].count, 2);
    assert_true(g.b[0].avg == 2.0 && g.b[0].sum == 4.0 && g.b[0].min == 1.0 && g.b[0].max == 3.0);
    assert_int_equal(g.b[0].metric_type, SM_METRIC_GAUGE);
    assert_int_equal(g.b[1].start_us, 10);
    assert_true(g.b[1].avg == 5.0);
    assert_int_equal(g.b[2].start_us, 30);
    assert_true(g.b[2].max == 7.0);

    /* One bucket: one value for the range. */
    q.n_buckets = 0;
    g.n = 0;
    OK(sm_store_metric_series(f->s, &q, got_bucket, &g, &err));
    assert_int_equal(g.n, 1);
    assert_int_equal(g.b[0].count, 4);
    assert_true(g.b[0].avg == 4.0);

    /* By label, and filtered by labels (Sematic's "root": run_id == root_id). */
    q.group_by = "run_id";
    g.n = 0;
    OK(sm_store_metric_series(f->s, &q, got_bucket, &g, &err));
    assert_int_equal(g.n, 3);
    assert_string_equal(g.group[0], "(null)");
    assert_string_equal(g.group[1], "r1");
    assert_string_equal(g.group[2], "r2");
    assert_int_equal(g.b[2].count, 2);
    q.group_by = NULL;
    q.labels_json = "{\"root\": true}";
    g.n = 0;
    OK(sm_store_metric_series(f->s, &q, got_bucket, &g, &err));
    assert_int_equal(g.n, 1);
    assert_true(g.b[0].sum == 1.0);
    q.labels_json = "{\"run_id\": \"r2\"}";
    g.n = 0;
    OK(sm_store_metric_series(f->s, &q, got_bucket, &g, &err));
    assert_int_equal(g.n, 1);
    assert_true(g.b[0].sum == 8.0);
    q.labels_json = "{\"run_id\": null}";
    g.n = 0;
    OK(sm_store_metric_series(f->s, &q, got_bucket, &g, &err));
    assert_true(g.b[0].sum == 7.0);

    /* Names, all and by label (numbers compare as their text). */
    struct names names = {0};
    OK(sm_store_list_metric_names(f->s, NULL, got_name, &names, &err));
    assert_int_equal(names.n, 2);
    assert_string_equal(names.name[0], "acc");
    assert_string_equal(names.name[1], "loss");
    names.n = 0;
    OK(sm_store_list_metric_names(f->s, "{\"n\": 2}", got_name, &names, &err));
    assert_int_equal(names.n, 1);
    assert_string_equal(names.name[0], "acc");
    names.n = 0;
    OK(sm_store_list_metric_names(f->s, "{\"run_id\": \"nobody\"}", got_name, &names, &err));
    assert_int_equal(names.n, 0);

    /* Sematic's 404, and bad queries. */
    q.name = "nope";
    q.labels_json = NULL;
    FAILS(SM_ENOTFOUND, sm_store_metric_series(f->s, &q, got_bucket, &g, &err));
    HAS(err.msg, "no metric named 'nope'");
    sm_err_clear(&err);
    q.name = "loss";
    q.from_us = 50;
    FAILS(SM_EINVAL, sm_store_metric_series(f->s, &q, got_bucket, &g, &err));
    HAS(err.msg, "from 50 is after to 40");
    sm_err_clear(&err);
    q.from_us = 0;
    q.group_by = "a\"b";
    FAILS(SM_EINVAL, sm_store_metric_series(f->s, &q, got_bucket, &g, &err));
    HAS(err.msg, "invalid metric group_by");
    sm_err_clear(&err);
    q.group_by = NULL;
    q.labels_json = "[1]";
    FAILS(SM_EINVAL, sm_store_metric_series(f->s, &q, got_bucket, &g, &err));
    HAS(err.msg, "not a JSON object");
    sm_err_clear(&err);
    OK(sm_store_begin(f->s, &err));
    point(&pts[0], "", 1, 0, NULL);
    FAILS(SM_EINVAL, sm_store_append_metrics(f->s, pts, 1, &err));
    HAS(err.msg, "invalid metric point 0: no name");
    sm_err_clear(&err);
    point(&pts[0], "x", 1, 0, "{bad");
    FAILS(SM_EINVAL, sm_store_append_metrics(f->s, pts, 1, &err));
    HAS(err.msg, "invalid metric labels");
    sm_err_clear(&err);
    point(&pts[0], "x", 1, 0, NULL);
    pts[0].metric_type = 7;
    FAILS(SM_EINVAL, sm_store_append_metrics(f->s, pts, 1, &err));
    HAS(err.msg, "pass 0 (COUNT) or 1 (GAUGE)");
    sm_store_rollback(f->s);
}

/* ------------------------------------------------------------ users */

static void user_init(struct sm_user_rec *u, unsigned id, const char *email)
{
    memset(u, 0, sizeof(*u));
    id_of(id, u->id);
    u->email = email;
    u->first_name = "Ada";
    u->created_at = 10 + id;
    u->updated_at = 20 + id;
}

static int count_user(void *ctx, const struct sm_user_rec *u)
{
    int *n = ctx;
    assert_non_null(u->email);
    (*n)++;
    return 0;
}

static void test_store_server__api_keys_are_shown_once_and_found_by_hash(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_user_rec u, out;
    char key[SM_API_KEY_LEN + 1], key2[SM_API_KEY_LEN + 1];
    user_init(&u, 1, "ada@example.com");
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_user(f->s, &u, &err));
    OK(sm_store_new_api_key(f->s, u.id, key, &err));
    OK(sm_store_commit(f->s, &err));
    assert_int_equal(strlen(key), SM_API_KEY_LEN);
    assert_int_equal(
        strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        SM_API_KEY_LEN);

    OK(sm_store_find_user_by_api_key(f->s, key, &out, &err));
    assert_string_equal(out.id, u.id);
    assert_string_equal(out.email, "ada@example.com");
    assert_true(out.has_api_key);
    /* The key itself is nowhere in the database. */
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM users WHERE api_key_hash = '%s' OR email = '%s'", key, key);
    assert_int_equal(sql_value(f->db, sql), 0);

    /* Wrong, truncated or foreign keys are not found. */
    char wrong[SM_API_KEY_LEN + 1];
    memcpy(wrong, key, sizeof(wrong));
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
    const char *bad[] = {wrong, "", "short", "' OR 1=1 --"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        FAILS(SM_ENOTFOUND, sm_store_find_user_by_api_key(f->s, bad[i], &out, &err));
        HAS(err.msg, "unknown API key");
        sm_err_clear(&err);
    }

    /* A new key replaces the old one. */
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_new_api_key(f->s, u.id, key2, &err));
    OK(sm_store_commit(f->s, &err));
    assert_string_not_equal(key, key2);
    FAILS(SM_ENOTFOUND, sm_store_find_user_by_api_key(f->s, key, &out, &err));
    sm_err_clear(&err);
    OK(sm_store_find_user_by_api_key(f->s, key2, &out, &err));

    /* Profile updates keep the key and the creation time. */
    u.first_name = "Augusta";
    u.created_at = 999;
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_user(f->s, &u, &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_get_user(f->s, u.id, &out, &err));
    assert_string_equal(out.first_name, "Augusta");
    assert_int_equal(out.created_at, 11);
    assert_true(out.has_api_key);
    OK(sm_store_find_user_by_email(f->s, "ada@example.com", &out, &err));
    assert_string_equal(out.id, u.id);
    struct sm_buf b = SM_BUF_INIT(4096);
    struct sm_jw w;
    sm_jw_init(&w, &b);
    sm_user_rec_to_json(&out, &w);
    OK(sm_jw_finish(&w, &err));
    assert_null(strstr(b.data, "email"));
    assert_null(strstr(b.data, "key"));
    HAS(b.data, "\"first_name\":\"Augusta\"");
    sm_buf_release(&b);

    /* Another user may not take the email; a key for nobody is ENOTFOUND. */
    struct sm_user_rec v;
    user_init(&v, 2, "ada@example.com");
    OK(sm_store_begin(f->s, &err));
    FAILS(SM_EINVAL, sm_store_put_user(f->s, &v, &err));
    HAS(err.msg, "another user has email 'ada@example.com'");
    sm_err_clear(&err);
    v.email = "bob@example.com";
    OK(sm_store_put_user(f->s, &v, &err));
    char nobody[SM_ID_HEX_LEN + 1];
    id_of(3, nobody);
    FAILS(SM_ENOTFOUND, sm_store_new_api_key(f->s, nobody, key, &err));
    HAS(err.msg, "no such user");
    assert_string_equal(key, "");
    sm_err_clear(&err);
    v.email = "no-at-sign";
    FAILS(SM_EINVAL, sm_store_put_user(f->s, &v, &err));
    sm_err_clear(&err);
    OK(sm_store_commit(f->s, &err));

    int n = 0;
    OK(sm_store_list_users(f->s, count_user, &n, &err));
    assert_int_equal(n, 2);
    FAILS(SM_ENOTFOUND, sm_store_get_user(f->s, nobody, &out, &err));
    sm_err_clear(&err);
    FAILS(SM_ENOTFOUND, sm_store_find_user_by_email(f->s, "who@example.com", &out, &err));
}

/* ------------------------------------------------------------ the change feed */

struct events {
    int n;
    int64_t seq[64];
    char kind[64][24];
    char subject[64][40];
    char payload[64][200];
};

static int got_event(void *ctx, const struct sm_event_rec *ev)
{
    struct events *g = ctx;
    g->seq[g->n] = ev->seq;
    snprintf(g->kind[g->n], sizeof(g->kind[0]), "%s", ev->kind);
    snprintf(g->subject[g->n], sizeof(g->subject[0]), "%s", ev->subject_id);
    snprintf(g->payload[g->n], sizeof(g->payload[0]), "%s", ev->payload ? ev->payload : "NULL");
    g->n++;
    return 0;
}

static void test_store_server__events_list_every_change_after_a_sequence(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm_store_change_seq(f->s), 0);
    const char *watch = sm_store_watch_path(f->s);
    assert_non_null(watch);
    HAS(watch, "/home/sematic.db-wal");

    /* seq 1: runs, edges (two of root 1, one of root 10), a pipeline run, logs, metrics. */
    struct sm_run_rec r;
    OK(sm_store_begin(f->s, &err));
    run_init(&r, 1, 1, SM_STATE_CREATED);
    OK(sm_store_put_run(f->s, &r, &err));
    struct sm_edge_rec e;
    memset(&e, 0, sizeof(e));
    id_of(1, e.root_id);
    id_of(50, e.id);
    OK(sm_store_put_edge(f->s, &e, &err));
    id_of(51, e.id);
    OK(sm_store_put_edge(f->s, &e, &err));
    id_of(10, e.root_id);
    id_of(52, e.id);
    OK(sm_store_put_edge(f->s, &e, &err));
    struct sm_pipeline_rec p;
    memset(&p, 0, sizeof(p));
    id_of(1, p.root_id);
    p.status = SM_PIPELINE_RUNNING;
    p.kind = "LOCAL";
    OK(sm_store_put_pipeline(f->s, &p, &err));
    struct sm_log_rec line = {0};
    id_of(1, line.run_id);
    line.stream = 1;
    line.text = "hi";
    OK(sm_store_append_log(f->s, &line, &err));
    OK(sm_store_append_log(f->s, &line, &err));
    struct sm_metric_point m[2];
    point(&m[0], "loss", 1, 1, NULL);
    point(&m[1], "a \"quoted\" name", 1, 1, NULL);
    OK(sm_store_append_metrics(f->s, m, 2, &err));
    OK(sm_store_commit(f->s, &err));
    /* seq 2: a note; seq 3: a status change; seq 4: an artifact only (no event). */
    struct sm_note_rec n;
    note_init(&n, 9, 1, 1);
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_note(f->s, &n, &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_set_pipeline_status(f->s, p.root_id, SM_PIPELINE_CANCELED, &err));
    struct sm_artifact_rec a;
    sematic_artifact(&a, sha1_id);
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_artifact(f->s, &a, NULL, 0, &err));
    OK(sm_store_commit(f->s, &err));
    assert_int_equal(sm_store_change_seq(f->s), 4);

    struct events g = {0};
    OK(sm_store_list_events(f->s, 0, 0, got_event, &g, &err));
    assert_int_equal(g.n, 7);
    const char *kinds[] = {"runs",    "edges", "pipelines",      "logs",
                           "metrics", "note",  "pipeline_status"};
    const int64_t seqs[] = {1, 1, 1, 1, 1, 2, 3};
    for (int i = 0; i < 7; i++) {
        assert_string_equal(g.kind[i], kinds[i]);
        assert_int_equal(g.seq[i], seqs[i]);
    }
    assert_string_equal(g.payload[0], "00000000000000000000000000000001");
    assert_string_equal(g.payload[1],
                        "00000000000000000000000000000001,0000000000000000000000000000000a");
    assert_string_equal(g.payload[2], "00000000000000000000000000000001");
    assert_string_equal(g.payload[3], "00000000000000000000000000000001");
    assert_string_equal(g.payload[4], "[\"loss\",\"a \\\"quoted\\\" name\"]");
    assert_string_equal(g.subject[5], "00000000000000000000000000000009");
    assert_string_equal(g.payload[5],
                        "{\"run_id\":\"00000000000000000000000000000001\",\"root_id\":"
                        "\"00000000000000000000000000000001\",\"deleted\":false}");
    assert_string_equal(g.payload[6], "{\"status\":\"CANCELED\"}");

    /* After a sequence; a limit never splits one sequence's rows. */
    g.n = 0;
    OK(sm_store_list_events(f->s, 1, 0, got_event, &g, &err));
    assert_int_equal(g.n, 2);
    g.n = 0;
    OK(sm_store_list_events(f->s, 0, 2, got_event, &g, &err));
    assert_int_equal(g.n, 5); /* all of seq 1 */
    g.n = 0;
    OK(sm_store_list_events(f->s, 1, 1, got_event, &g, &err));
    assert_int_equal(g.n, 1);
    assert_int_equal(g.seq[0], 2);
    g.n = 0;
    OK(sm_store_list_events(f->s, 3, 5, got_event, &g, &err));
    assert_int_equal(g.n, 0);

    /* Deleting the note is an event too; a rolled-back batch leaves none. */
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_delete_note(f->s, n.id, &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_note(f->s, &n, &err));
    sm_store_rollback(f->s);
    g.n = 0;
    OK(sm_store_list_events(f->s, 4, 0, got_event, &g, &err));
    assert_int_equal(g.n, 1);
    assert_int_equal(g.seq[0], 5);
    HAS(g.payload[0], "\"deleted\":true");

    FAILS(SM_EINVAL, sm_store_list_events(f->s, -1, 0, got_event, &g, &err));
    sm_err_clear(&err);
    FAILS(SM_EINVAL, sm_store_list_events(f->s, 0, 0, NULL, &g, &err));
}

static void test_store_server__a_batch_touching_many_roots_says_so_with_null(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    OK(sm_store_begin(f->s, &err));
    for (unsigned i = 0; i < 70; i++) {
        struct sm_log_rec line = {0};
        id_of(100 + i, line.run_id);
        line.stream = 2;
        line.text = "x";
        OK(sm_store_append_log(f->s, &line, &err));
    }
    OK(sm_store_commit(f->s, &err));
    struct events g = {0};
    OK(sm_store_list_events(f->s, 0, 0, got_event, &g, &err));
    assert_int_equal(g.n, 1);
    assert_string_equal(g.kind[0], "logs");
    assert_string_equal(g.payload[0], "NULL");
}

/* ------------------------------------------------------------ whole pipelines */

struct seen {
    char ids[16][SM_SHA256_HEX_LEN + 1];
    char other[16][SM_ID_HEX_LEN + 1]; /* a run's parent, an edge's destination */
    char names[16][16];
    int states[16];
    int n;
};

static int seen_run(void *ctx, const struct sm_run_rec *r)
{
    struct seen *s = ctx;
    snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", r->id);
    snprintf(s->other[s->n++], sizeof(s->other[0]), "%s", r->parent_id);
    return 0;
}

static int seen_edge(void *ctx, const struct sm_edge_rec *e)
{
    struct seen *s = ctx;
    snprintf(s->ids[s->n++], sizeof(s->ids[0]), "%s", e->id);
    return 0;
}

static int seen_artifact(void *ctx, const struct sm_artifact_rec *a)
{
    struct seen *s = ctx;
    snprintf(s->ids[s->n++], sizeof(s->ids[0]), "%s", a->id);
    return 0;
}

static int seen_dag_run(void *ctx, const struct sm_dag_run *r)
{
    struct seen *s = ctx;
    snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", r->id);
    snprintf(s->other[s->n], sizeof(s->other[0]), "%s", r->parent_id ? r->parent_id : "-");
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s|%s", r->name, r->function_path);
    s->states[s->n++] = r->state;
    return 0;
}

static int seen_dag_edge(void *ctx, const char *source, const char *destination)
{
    struct seen *s = ctx;
    snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", source);
    snprintf(s->other[s->n++], sizeof(s->other[0]), "%s", destination);
    return 0;
}

/* Pipeline 1: runs 3 (child of 2), 2 and 1 written in that order; edges 3->2 twice, an input of
 * 3, an output of 2; one edge of pipeline 10. Artifacts sha1_id and a second one. */
static void put_children_first(struct fixture *f, char art2[SM_SHA1_HEX_LEN + 1])
{
    struct sm_err err = SM_ERR_INIT;
    snprintf(art2, SM_SHA1_HEX_LEN + 1, "%s", "fedcba9876543210fedcba9876543210fedcba98");
    OK(sm_store_begin(f->s, &err));
    struct sm_artifact_rec a;
    sematic_artifact(&a, sha1_id);
    OK(sm_store_put_artifact(f->s, &a, NULL, 0, &err));
    sematic_artifact(&a, art2);
    OK(sm_store_put_artifact(f->s, &a, NULL, 0, &err));
    struct sm_run_rec r;
    run_init(&r, 3, 1, SM_STATE_FAILED);
    id_of(2, r.parent_id);
    r.name = "leaf";
    OK(sm_store_put_run(f->s, &r, &err));
    run_init(&r, 2, 1, SM_STATE_NESTED_FAILED);
    OK(sm_store_put_run(f->s, &r, &err));
    run_init(&r, 1, 1, SM_STATE_NESTED_FAILED);
    OK(sm_store_put_run(f->s, &r, &err));
    static const struct {
        unsigned id, root, source, destination;
        int art;
    } edges[] = {{101, 1, 3, 2, 1},
                 {102, 1, 3, 2, 1},
                 {103, 1, 0, 3, 2},
                 {104, 1, 2, 0, 1},
                 {105, 10, 3, 2, 1}};
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        struct sm_edge_rec e;
        memset(&e, 0, sizeof(e));
        id_of(edges[i].id, e.id);
        id_of(edges[i].root, e.root_id);
        if (edges[i].source)
            id_of(edges[i].source, e.source_run_id);
        if (edges[i].destination)
            id_of(edges[i].destination, e.destination_run_id);
        snprintf(e.artifact_id, sizeof(e.artifact_id), "%s", edges[i].art == 1 ? sha1_id : art2);
        e.created_at = 100 - (int64_t)i; /* newest first: write order is not time order */
        OK(sm_store_put_edge(f->s, &e, &err));
    }
    OK(sm_store_commit(f->s, &err));
    /* A rewrite keeps a run's place. */
    OK(sm_store_begin(f->s, &err));
    run_init(&r, 3, 1, SM_STATE_FAILED);
    id_of(2, r.parent_id);
    r.name = "leaf";
    r.updated_at = 5000000;
    OK(sm_store_put_run(f->s, &r, &err));
    OK(sm_store_commit(f->s, &err));
}

static void test_store_server__a_whole_pipeline_is_listed_in_write_order(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    char art2[SM_SHA1_HEX_LEN + 1], id[SM_ID_HEX_LEN + 1], root[SM_ID_HEX_LEN + 1];
    put_children_first(f, art2);
    id_of(1, root);

    struct seen s = {0};
    OK(sm_store_list_pipeline(f->s, SM_ENTITY_RUNS, root, (union sm_row_fn){.run = seen_run}, &s,
                              &err));
    assert_int_equal(s.n, 3);
    unsigned want_runs[] = {3, 2, 1};
    for (int i = 0; i < 3; i++) {
        id_of(want_runs[i], id);
        assert_string_equal(s.ids[i], id);
    }
    id_of(2, id);
    assert_string_equal(s.other[0], id);

    memset(&s, 0, sizeof(s));
    OK(sm_store_list_pipeline(f->s, SM_ENTITY_EDGES, root, (union sm_row_fn){.edge = seen_edge}, &s,
                              &err));
    assert_int_equal(s.n, 4);
    for (int i = 0; i < 4; i++) {
        id_of(101 + (unsigned)i, id);
        assert_string_equal(s.ids[i], id);
    }

    memset(&s, 0, sizeof(s));
    OK(sm_store_list_pipeline(f->s, SM_ENTITY_ARTIFACTS, root,
                              (union sm_row_fn){.artifact = seen_artifact}, &s, &err));
    assert_int_equal(s.n, 2); /* each once, in the order the edges name them */
    assert_string_equal(s.ids[0], sha1_id);
    assert_string_equal(s.ids[1], art2);

    /* With many other artifacts in the store, each is looked up instead of a pass over all:
     * the same two, in the order the edges name them. */
    OK(sm_store_begin(f->s, &err));
    for (unsigned i = 0; i < 20; i++) {
        char other[SM_SHA1_HEX_LEN + 1];
        snprintf(other, sizeof(other), "%040x", 1000 + i);
        struct sm_artifact_rec a;
        sematic_artifact(&a, other);
        OK(sm_store_put_artifact(f->s, &a, NULL, 0, &err));
    }
    OK(sm_store_commit(f->s, &err));
    memset(&s, 0, sizeof(s));
    OK(sm_store_list_pipeline(f->s, SM_ENTITY_ARTIFACTS, root,
                              (union sm_row_fn){.artifact = seen_artifact}, &s, &err));
    assert_int_equal(s.n, 2);
    assert_string_equal(s.ids[0], sha1_id);
    assert_string_equal(s.ids[1], art2);

    FAILS(SM_EINVAL, sm_store_list_pipeline(f->s, SM_ENTITY_NOTES, root,
                                            (union sm_row_fn){.run = seen_run}, &s, &err));
    HAS(err.msg, "pass runs, edges or artifacts");
    sm_err_clear(&err);
    FAILS(SM_EINVAL, sm_store_list_pipeline(f->s, SM_ENTITY_RUNS, "nope",
                                            (union sm_row_fn){.run = seen_run}, &s, &err));
}

static void test_store_server__a_dag_is_read_with_its_change_seq(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    char art2[SM_SHA1_HEX_LEN + 1], id[SM_ID_HEX_LEN + 1], root[SM_ID_HEX_LEN + 1];
    put_children_first(f, art2);
    id_of(1, root);

    struct seen s = {0};
    int64_t seq = -1;
    OK(sm_store_read_dag(f->s, root, &seq, seen_dag_run, seen_dag_edge, &s, &err));
    assert_int_equal(seq, sm_store_change_seq(f->s));
    assert_int_equal(s.n, 3 + 2); /* three runs, then the two edges 3 -> 2 */
    id_of(3, id);
    assert_string_equal(s.ids[0], id);
    assert_string_equal(s.names[0], "leaf|mod.step");
    assert_int_equal(s.states[0], SM_STATE_FAILED);
    assert_string_equal(s.other[2], "-"); /* the root has no parent */
    for (int i = 3; i < 5; i++) {
        id_of(3, id);
        assert_string_equal(s.ids[i], id);
        id_of(2, id);
        assert_string_equal(s.other[i], id);
    }

    /* Inside a batch, the batch's transaction holds the reads. */
    OK(sm_store_begin(f->s, &err));
    memset(&s, 0, sizeof(s));
    OK(sm_store_read_dag(f->s, root, &seq, seen_dag_run, seen_dag_edge, &s, &err));
    assert_int_equal(s.n, 5);
    sm_store_rollback(f->s);

    /* An unknown pipeline has nothing; bad arguments are refused. */
    memset(&s, 0, sizeof(s));
    id_of(77, id);
    OK(sm_store_read_dag(f->s, id, &seq, seen_dag_run, seen_dag_edge, &s, &err));
    assert_int_equal(s.n, 0);
    FAILS(SM_EINVAL, sm_store_read_dag(f->s, "x", &seq, seen_dag_run, seen_dag_edge, &s, &err));
    sm_err_clear(&err);
    FAILS(SM_EINVAL, sm_store_read_dag(f->s, root, NULL, seen_dag_run, seen_dag_edge, &s, &err));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_store_server__a_40_hex_artifact_is_stored_without_payload),
        T(test_store_server__storage_objects_round_trip_and_replace),
        T(test_store_server__storage_names_that_could_escape_are_refused),
        T(test_store_server__notes_are_put_read_and_deleted),
        T(test_store_server__metric_series_roll_up_into_buckets),
        T(test_store_server__api_keys_are_shown_once_and_found_by_hash),
        T(test_store_server__events_list_every_change_after_a_sequence),
        T(test_store_server__a_batch_touching_many_roots_says_so_with_null),
        T(test_store_server__a_whole_pipeline_is_listed_in_write_order),
        T(test_store_server__a_dag_is_read_with_its_change_seq),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
