/*
 * test_store.c: the metadata store (include/sematic/store.h) through its
 * public calls, on the SQLite backend in a fresh temporary home per test:
 * every record type round trip, upserts, artifact dedup and blobs,
 * corruption, listings and filters, batches and change sequences,
 * pipeline statuses and cancellation, several handles and processes on
 * one home, migrations against the checked-in schema snapshot, bad homes,
 * and (as root, where a tmpfs can be mounted) a full disk.
 *
 * Tests reach the database file directly with sqlite3 only to tamper with
 * it or to count rows the API does not expose.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "sematic/blob.h"
#include "sematic/hash.h"
#include "sematic/json.h"
#include "sematic/store.h"
#include "store/internal.h"
#include "store/sqlite_int.h"
#include "test_store_fixture.h"

#include "util/banned.h"

/* ------------------------------------------------------------ helpers */

static void reopen(struct fixture *f)
{
    struct sm_err err = SM_ERR_INIT;
    sm_store_close(f->s);
    f->s = sm_store_open_sqlite(f->home, SM_STORE_SYNC_NORMAL, &err);
    if (!f->s)
        fail_msg("cannot reopen the store: %s", err.msg);
}

static void pipeline_init(struct sm_pipeline_rec *p, unsigned root, int status)
{
    memset(p, 0, sizeof(*p));
    id_of(root, p->root_id);
    p->status = status;
    p->kind = "LOCAL";
    p->created_at = 5;
    p->updated_at = 6;
}

static void artifact_id(const char *type, const char *payload, size_t len,
                        char out[SM_SHA256_HEX_LEN + 1])
{
    struct sm_sha256 h;
    uint8_t digest[SM_SHA256_LEN];
    sm_sha256_init(&h);
    sm_sha256_update(&h, type, strlen(type));
    sm_sha256_update(&h, "\n", 1);
    sm_sha256_update(&h, payload, len);
    sm_sha256_final(&h, digest);
    sm_hex(digest, SM_SHA256_LEN, out);
}

static void artifact_init(struct sm_artifact_rec *a, const char *type, const char *payload,
                          size_t len)
{
    memset(a, 0, sizeof(*a));
    artifact_id(type, payload, len, a->id);
    a->type_json = type;
    a->summary_json = "{\"repr\":\"x\"}";
    a->created_at = 77;
}

/* Run one SQL statement; copies the first column of its first row as text ("" for none). */
static void sql_text(const char *db_path, const char *sql, char *out, size_t size)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        fail_msg("cannot open '%s': %s", db_path, sqlite3_errmsg(db));
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("cannot prepare '%s': %s", sql, sqlite3_errmsg(db));
    int rc = sqlite3_step(s);
    const unsigned char *v = rc == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;
    snprintf(out, size, "%s", v ? (const char *)v : "");
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        fail_msg("cannot run '%s': %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* Collects ids of listed records, in order. */
struct ids {
    int n;
    char id[64][SM_SHA256_HEX_LEN + 1];
    int stop_after; /* return 99 once this many were seen (0: never) */
};

static int collect_run(void *ctx, const struct sm_run_rec *r)
{
    struct ids *ids = ctx;
    snprintf(ids->id[ids->n++], sizeof(ids->id[0]), "%s", r->id);
    return ids->stop_after && ids->n >= ids->stop_after ? 99 : 0;
}

static int collect_edge(void *ctx, const struct sm_edge_rec *e)
{
    struct ids *ids = ctx;
    snprintf(ids->id[ids->n++], sizeof(ids->id[0]), "%s", e->id);
    return 0;
}

static int collect_artifact(void *ctx, const struct sm_artifact_rec *a)
{
    struct ids *ids = ctx;
    snprintf(ids->id[ids->n++], sizeof(ids->id[0]), "%s", a->id);
    return 0;
}

/* The ids listed by q, as numbers (id_of()), into out; returns how many. */
static int list_numbers(struct sm_store *s, const struct sm_run_query *q, unsigned *out)
{
    struct sm_err err = SM_ERR_INIT;
    struct ids ids = {0};
    OK(sm_store_list_runs(s, q, collect_run, &ids, &err));
    for (int i = 0; i < ids.n; i++)
        out[i] = (unsigned)strtoul(ids.id[i], NULL, 16);
    return ids.n;
}

static void check_numbers(const unsigned *got, int n_got, const unsigned *want, int n_want,
                          int line)
{
    char g[256] = "", w[256] = "";
    size_t gl = 0, wl = 0;
    for (int i = 0; i < n_got && gl < sizeof(g) - 12; i++)
        gl += (size_t)snprintf(g + gl, sizeof(g) - gl, "%u ", got[i]);
    for (int i = 0; i < n_want && wl < sizeof(w) - 12; i++)
        wl += (size_t)snprintf(w + wl, sizeof(w) - wl, "%u ", want[i]);
    if (n_got != n_want || memcmp(got, want, sizeof(unsigned) * (size_t)n_got) != 0)
        fail_msg("line %d: listed [%s], expected [%s]", line, g, w);
}

#define EXPECT_LIST(s, q, ...)                                                                     \
    do {                                                                                           \
        static const unsigned want_[] = {__VA_ARGS__};                                             \
        unsigned got_[64];                                                                         \
        int n_ = list_numbers((s), (q), got_);                                                     \
        check_numbers(got_, n_, want_, (int)(sizeof(want_) / sizeof(want_[0])), __LINE__);         \
    } while (0)

#define EXPECT_NONE(s, q)                                                                          \
    do {                                                                                           \
        unsigned got_[64];                                                                         \
        int n_ = list_numbers((s), (q), got_);                                                     \
        check_numbers(got_, n_, got_, 0, __LINE__);                                                \
    } while (0)

static int count_files(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "find '%s' -type f | wc -l", dir);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    int n = -1;
    if (fscanf(p, "%d", &n) != 1)
        n = -1;
    pclose(p);
    return n;
}

static void blob_path(const struct fixture *f, const char *key, char *out, size_t size)
{
    snprintf(out, size, "%s/blobs/%.2s/%s", f->home, key, key + 2);
}

/* ------------------------------------------------------------ pure functions */

static void test_store__formats_times_as_iso_8601_utc_with_microseconds(void **state)
{
    (void)state;
    char text[40];
    sm_format_time_us(0, text);
    assert_string_equal(text, "1970-01-01T00:00:00.000000+00:00");
    sm_format_time_us(INT64_C(1700000000123456), text);
    assert_string_equal(text, "2023-11-14T22:13:20.123456+00:00");
    sm_format_time_us(-1, text);
    assert_string_equal(text, "1969-12-31T23:59:59.999999+00:00");
    int64_t before = sm_now_us();
    assert_true(before > INT64_C(1600000000000000));
    assert_true(sm_now_us() >= before);
}

static void test_store__pipeline_statuses_follow_api_2_4(void **state)
{
    (void)state;
    static const char *const names[] = {"CREATED", "SCHEDULED", "RUNNING",
                                        "FAILED",  "COMPLETE",  "CANCELED"};
    for (int i = 0; i < SM_PIPELINE_STATUS_COUNT; i++) {
        assert_string_equal(sm_pipeline_status_name((enum sm_pipeline_status)i), names[i]);
        assert_int_equal(sm_pipeline_status_parse(names[i]), i);
    }
    assert_string_equal(sm_pipeline_status_name((enum sm_pipeline_status)6), "UNKNOWN");
    assert_int_equal(sm_pipeline_status_parse("RESOLVED"), -1);
    assert_int_equal(sm_pipeline_status_parse(NULL), -1);

    /* API.md 2.4 written out again: row from (none first), column to. */
    enum { C, S, R, F, K, X };
    static const bool legal[7][6] = {
        /*           C  S  R  F  K  X */
        /* none */ {1, 1, 1, 1, 0, 1},
        /* C */ {1, 1, 0, 1, 0, 1},
        /* S */ {0, 1, 1, 1, 0, 1},
        /* R */ {0, 0, 1, 1, 1, 1},
        /* F */ {0, 0, 0, 1, 0, 0},
        /* K */ {0, 0, 0, 0, 1, 0},
        /* X */ {0, 0, 0, 0, 0, 1},
    };
    for (int from = -1; from < SM_PIPELINE_STATUS_COUNT; from++) {
        for (int to = 0; to < SM_PIPELINE_STATUS_COUNT; to++) {
            struct sm_err err = SM_ERR_INIT;
            int rc = sm_pipeline_check_transition(from, to, &err);
            if (legal[from + 1][to]) {
                if (rc != 0)
                    fail_msg("%d -> %d refused: %s", from, to, err.msg);
            } else {
                assert_int_equal(rc, SM_EINVALID_TRANSITION);
                HAS(err.msg, sm_pipeline_status_name((enum sm_pipeline_status)to));
            }
        }
    }
    struct sm_err err = SM_ERR_INIT;
    FAILS(SM_EINVALID_TRANSITION,
          sm_pipeline_check_transition(SM_PIPELINE_COMPLETE, SM_PIPELINE_RUNNING, &err));
    HAS(err.msg, "'COMPLETE' -> 'RUNNING'");
    sm_err_clear(&err);
    FAILS(SM_EINVALID_TRANSITION, sm_pipeline_check_transition(-1, 42, &err));
}

static void test_store__default_home_is_sematic_home_else_dot_sematic(void **state)
{
    (void)state;
    char *saved_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    char *saved_sh = getenv("SEMATIC_HOME") ? strdup(getenv("SEMATIC_HOME")) : NULL;
    char out[4096];
    struct sm_err err = SM_ERR_INIT;

    setenv("SEMATIC_HOME", "/srv/sematic", 1);
    OK(sm_store_default_home(out, sizeof(out), &err));
    assert_string_equal(out, "/srv/sematic");

    unsetenv("SEMATIC_HOME");
    setenv("HOME", "/home/ada", 1);
    OK(sm_store_default_home(out, sizeof(out), &err));
    assert_string_equal(out, "/home/ada/.sematic");

    FAILS(SM_EINVAL, sm_store_default_home(out, 8, &err));
    HAS(err.msg, "SEMATIC_HOME");
    sm_err_clear(&err);

    unsetenv("HOME");
    FAILS(SM_EINVAL, sm_store_default_home(out, sizeof(out), &err));
    HAS(err.msg, "SEMATIC_HOME");

    if (saved_home)
        setenv("HOME", saved_home, 1);
    if (saved_sh)
        setenv("SEMATIC_HOME", saved_sh, 1);
    free(saved_home);
    free(saved_sh);
}

static void test_store__records_become_json_with_sematic_field_names(void **state)
{
    (void)state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_buf b = SM_BUF_INIT(1 << 16);
    struct sm_jw w;

    struct sm_edge_rec e = {0};
    id_of(1, e.id);
    id_of(2, e.root_id);
    id_of(3, e.source_run_id);
    e.destination_name = "x";
    e.created_at = 1;
    sm_jw_init(&w, &b);
    sm_edge_rec_to_json(&e, &w);
    OK(sm_jw_finish(&w, &err));
    assert_string_equal(b.data, "{\"id\":\"00000000000000000000000000000001\","
                                "\"source_run_id\":\"00000000000000000000000000000003\","
                                "\"destination_run_id\":null,\"destination_name\":\"x\","
                                "\"artifact_id\":null,\"parent_id\":null,"
                                "\"created_at\":\"1970-01-01T00:00:00.000001+00:00\","
                                "\"updated_at\":null}");

    sm_buf_reset(&b);
    struct sm_artifact_rec a;
    artifact_init(&a, "{\"type\":1}", "42", 2);
    sm_jw_init(&w, &b);
    sm_artifact_rec_to_json(&a, &w);
    OK(sm_jw_finish(&w, &err));
    HAS(b.data, "\"type_serialization\":{\"type\":1},\"json_summary\":{\"repr\":\"x\"}");
    HAS(b.data, "\"size_bytes\":0,\"blob_key\":null");

    sm_buf_reset(&b);
    struct sm_run_rec r;
    run_init(&r, 7, 1, SM_STATE_RESOLVED);
    r.tags_json = "[\"a\",\"b\"]";
    r.exception_json = "{\"repr\":\"boom\"}";
    r.started_at = INT64_C(1700000000123456);
    sm_jw_init(&w, &b);
    sm_run_rec_to_json(&r, &w);
    OK(sm_jw_finish(&w, &err));
    HAS(b.data, "{\"id\":\"00000000000000000000000000000007\",\"original_run_id\":null,"
                "\"future_state\":\"RESOLVED\",\"name\":\"step\",\"function_path\":\"mod.step\"");
    HAS(b.data, "\"tags\":[\"a\",\"b\"]");
    HAS(b.data, "\"exception_metadata\":{\"repr\":\"boom\"}");
    HAS(b.data, "\"external_exception_metadata\":null");
    HAS(b.data, "\"is_inline\":true,\"attempt\":0");
    HAS(b.data, "\"started_at\":\"2023-11-14T22:13:20.123456+00:00\",\"ended_at\":null");

    sm_buf_reset(&b);
    struct sm_pipeline_rec p;
    pipeline_init(&p, 1, SM_PIPELINE_RUNNING);
    p.git_json = "{\"branch\":\"main\"}";
    p.driver_pid = 4242;
    sm_jw_init(&w, &b);
    sm_pipeline_rec_to_json(&p, &w);
    OK(sm_jw_finish(&w, &err));
    HAS(b.data, "{\"root_id\":\"00000000000000000000000000000001\",\"status\":\"RUNNING\","
                "\"kind\":\"LOCAL\"");
    HAS(b.data, "\"git_info\":{\"branch\":\"main\"},\"settings_env_vars\":null");
    HAS(b.data, "\"driver_pid\":4242");
    sm_buf_release(&b);
}

/* ------------------------------------------------------------ opening and migrations */

static void test_store__a_fresh_home_is_migrated_once(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(sm__store_sqlite_n_migrated(f->s), (int)sm__store_n_migrations);
    assert_int_equal(sm_store_change_seq(f->s), 0);
    assert_string_equal(f->s->home, f->home);
    reopen(f);
    assert_int_equal(sm__store_sqlite_n_migrated(f->s), 0);
    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM schema_migrations"),
                     (int64_t)sm__store_n_migrations);
}

static void test_store__a_fresh_migrate_matches_the_schema_snapshot(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_buf b = SM_BUF_INIT(1 << 20);
    OK(sm__store_dump_schema(f->db, &b, &err));
    if (strcmp(b.data, sm__store_schema_snapshot) != 0)
        fail_msg("the migrated schema differs from src/core/store/schema.sql; regenerate it with "
                 "embed_migrations.py --schema.\n--- migrated:\n%s\n--- snapshot:\n%s",
                 b.data, sm__store_schema_snapshot);
    sm_buf_release(&b);
}

static void test_store__down_then_up_again_gives_the_same_schema(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_run_rec r;
    run_init(&r, 1, 1, SM_STATE_CREATED);
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_run(f->s, &r, &err));
    OK(sm_store_commit(f->s, &err));
    sm_store_close(f->s);
    f->s = NULL;

    OK(sm__store_migrate_down(f->db, "000", &err));
    struct sm_buf b = SM_BUF_INIT(1 << 20);
    OK(sm__store_dump_schema(f->db, &b, &err));
    assert_string_equal(b.data, "CREATE TABLE schema_migrations (version TEXT PRIMARY KEY);\n"
                                "-- versions:\n");

    f->s = sm_store_open_sqlite(f->home, SM_STORE_SYNC_NORMAL, &err);
    assert_non_null(f->s);
    assert_int_equal(sm__store_sqlite_n_migrated(f->s), (int)sm__store_n_migrations);
    sm_buf_reset(&b);
    OK(sm__store_dump_schema(f->db, &b, &err));
    assert_string_equal(b.data, sm__store_schema_snapshot);
    sm_buf_release(&b);
    struct sm_run_rec got;
    FAILS(SM_ENOTFOUND, sm_store_get_run(f->s, r.id, &got, &err));
}

static void test_store__a_newer_schema_is_refused_with_upgrade_advice(void **state)
{
    struct fixture *f = *state;
    sm_store_close(f->s);
    f->s = NULL;
    sql_value(f->db, "INSERT INTO schema_migrations (version) VALUES ('999')");
    struct sm_err err = SM_ERR_INIT;
    assert_null(sm_store_open_sqlite(f->home, SM_STORE_SYNC_NORMAL, &err));
    assert_int_equal(err.code, SM_ECORRUPT);
    HAS(err.msg, f->db);
    HAS(err.msg, "newer sematic (schema version 999); upgrade sematic");
}

static void test_store__a_file_that_is_not_a_database_is_refused(void **state)
{
    struct fixture *f = *state;
    sm_store_close(f->s);
    f->s = NULL;
    FILE *fp = fopen(f->db, "w");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("this is not a database, just some text\n", fp);
    fclose(fp);
    char wal[256];
    snprintf(wal, sizeof(wal), "%s-wal", f->db);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", f->db);
    unlink(wal);
    struct sm_err err = SM_ERR_INIT;
    assert_null(sm_store_open_sqlite(f->home, SM_STORE_SYNC_NORMAL, &err));
    assert_int_equal(err.code, SM_ECORRUPT);
    HAS(err.msg, f->db);
    HAS(err.msg, "not a SQLite database");
}

static void test_store__a_store_missing_a_table_of_the_schema_is_refused(void **state)
{
    /* What a development build's store looks like after its first migration changed. */
    struct fixture *f = *state;
    sm_store_close(f->s);
    f->s = NULL;
    sql_value(f->db, "DROP TABLE functions");
    struct sm_err err = SM_ERR_INIT;
    assert_null(sm_store_open_sqlite(f->home, SM_STORE_SYNC_NORMAL, &err));
    assert_int_equal(err.code, SM_ECORRUPT);
    HAS(err.msg, f->db);
    HAS(err.msg, "table 'functions' is missing");
    HAS(err.msg, "SEMATIC_HOME");
}

static void test_store__a_home_that_is_a_file_is_an_io_error_naming_it(void **state)
{
    struct fixture *f = *state;
    char path[256];
    snprintf(path, sizeof(path), "%s/plain-file", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    struct sm_err err = SM_ERR_INIT;
    assert_null(sm_store_open_sqlite(path, SM_STORE_SYNC_FULL, &err));
    assert_int_equal(err.code, SM_EIO);
    HAS(err.msg, path);

    /* Below a file, too: mkdir -p cannot create it. */
    char below[300];
    snprintf(below, sizeof(below), "%s/sub/home", path);
    sm_err_clear(&err);
    assert_null(sm_store_open_sqlite(below, SM_STORE_SYNC_FULL, &err));
    assert_int_equal(err.code, SM_EIO);
    HAS(err.msg, below);

    sm_err_clear(&err);
    assert_null(sm_store_open_sqlite("", SM_STORE_SYNC_FULL, &err));
    assert_int_equal(err.code, SM_EINVAL);
}

static void test_store__nested_homes_are_created(void **state)
{
    struct fixture *f = *state;
    char path[256];
    snprintf(path, sizeof(path), "%s/a/b/c", f->dir);
    struct sm_err err = SM_ERR_INIT;
    struct sm_store *s = sm_store_open_sqlite(path, SM_STORE_SYNC_FULL, &err);
    if (!s)
        fail_msg("open: %s", err.msg);
    sm_store_close(s);
    sm_store_close(NULL);
}

/* ------------------------------------------------------------ runs */

static void test_store__a_run_round_trips_every_field(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    char src_id[SM_SHA256_HEX_LEN + 1];
    struct sm_run_rec r;
    run_init(&r, 2, 1, SM_STATE_RESOLVED);
    id_of(9, r.nested_id);
    id_of(8, r.original_run_id);
    r.description = "Add two numbers.";
    r.tags_json = "[\"x\"]";
    r.resource_requirements_json = "{\"cpu\":1}";
    r.retry_settings_json = "{\"retries\":3}";
    r.cache_key = "abc_ns";
    r.exception_json = "{\"repr\":\"e\"}";
    r.external_exception_json = "{\"repr\":\"x\"}";
    r.is_inline = false;
    r.attempt = 2;
    r.started_at = 11;
    r.ended_at = 12;
    r.resolved_at = 13;
    r.failed_at = 14;

    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_source(f->s, "def add(a, b):\n    return a + b\n", 32, src_id, &err));
    r.source_id = src_id;
    OK(sm_store_put_run(f->s, &r, &err));
    OK(sm_store_commit(f->s, &err));

    struct sm_run_rec g;
    memset(&g, 0xAB, sizeof(g));
    OK(sm_store_get_run(f->s, r.id, &g, &err));
    assert_string_equal(g.id, r.id);
    assert_string_equal(g.root_id, r.root_id);
    assert_string_equal(g.parent_id, r.parent_id);
    assert_string_equal(g.nested_id, r.nested_id);
    assert_string_equal(g.original_run_id, r.original_run_id);
    assert_int_equal(g.state, SM_STATE_RESOLVED);
    assert_string_equal(g.name, "step");
    assert_string_equal(g.function_path, "mod.step");
    assert_string_equal(g.description, r.description);
    assert_string_equal(g.source_id, src_id);
    assert_string_equal(g.tags_json, "[\"x\"]");
    assert_string_equal(g.resource_requirements_json, r.resource_requirements_json);
    assert_string_equal(g.retry_settings_json, r.retry_settings_json);
    assert_string_equal(g.cache_key, "abc_ns");
    assert_string_equal(g.exception_json, r.exception_json);
    assert_string_equal(g.external_exception_json, r.external_exception_json);
    assert_false(g.is_inline);
    assert_int_equal(g.attempt, 2);
    assert_int_equal(g.created_at, r.created_at);
    assert_int_equal(g.updated_at, r.updated_at);
    assert_int_equal(g.started_at, 11);
    assert_int_equal(g.ended_at, 12);
    assert_int_equal(g.resolved_at, 13);
    assert_int_equal(g.failed_at, 14);
    assert_int_equal(g.seq, 1);

    struct sm_buf src = SM_BUF_INIT(1 << 20);
    OK(sm_store_get_source(f->s, src_id, &src, &err));
    assert_string_equal(src.data, "def add(a, b):\n    return a + b\n");
    sm_buf_release(&src);

    /* The strings stay valid across a get of another kind, until the next get_run. */
    struct sm_run_rec root;
    run_init(&root, 1, 1, SM_STATE_RAN);
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_run(f->s, &root, &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_get_run(f->s, root.id, &g, &err));
    assert_string_equal(g.parent_id, "");
    assert_string_equal(g.nested_id, "");
    assert_null(g.description);
    assert_null(g.cache_key);
    assert_int_equal(g.started_at, 0);
    assert_int_equal(g.seq, 2);

    FAILS(SM_ENOTFOUND, sm_store_get_run(f->s, "0123456789abcdef0123456789abcdef", &g, &err));
    HAS(err.msg, "run '0123456789abcdef0123456789abcdef' not found");
    HAS(err.msg, "sematic runs");
}

static void test_store__put_run_replaces_the_whole_record(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_run_rec r;
    run_init(&r, 2, 1, SM_STATE_CREATED);
    r.cache_key = "k";
    r.description = "first";
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_run(f->s, &r, &err));
    r.state = SM_STATE_SCHEDULED;
    r.description = NULL;
    r.cache_key = NULL;
    r.started_at = 99;
    OK(sm_store_put_run(f->s, &r, &err));
    OK(sm_store_commit(f->s, &err));
    struct sm_run_rec g;
    OK(sm_store_get_run(f->s, r.id, &g, &err));
    assert_int_equal(g.state, SM_STATE_SCHEDULED);
    assert_null(g.description);
    assert_null(g.cache_key);
    assert_int_equal(g.started_at, 99);

    /* Only unindexed columns change (the fast path), then an indexed one (the parent, set late). */
    OK(sm_store_begin(f->s, &err));
    r.state = SM_STATE_RESOLVED;
    r.exception_json = "{\"repr\":\"late\"}";
    OK(sm_store_put_run(f->s, &r, &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_get_run(f->s, r.id, &g, &err));
    assert_int_equal(g.state, SM_STATE_RESOLVED);
    assert_string_equal(g.exception_json, r.exception_json);
    assert_string_equal(g.parent_id, r.parent_id);
    assert_int_equal(g.seq, 2);
    OK(sm_store_begin(f->s, &err));
    id_of(7, r.parent_id);
    r.name = "renamed";
    OK(sm_store_put_run(f->s, &r, &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_get_run(f->s, r.id, &g, &err));
    assert_string_equal(g.parent_id, "00000000000000000000000000000007");
    assert_string_equal(g.name, "renamed");
    assert_int_equal(g.seq, 3);
    struct sm_run_query q = {.parent_id = r.parent_id};
    EXPECT_LIST(f->s, &q, 2);
    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM runs"), 1);
}

struct edge_count {
    int n;
    char last_artifact[SM_SHA256_HEX_LEN + 1];
};

static int count_edges(void *ctx, const struct sm_edge_rec *e)
{
    struct edge_count *c = ctx;
    c->n++;
    snprintf(c->last_artifact, sizeof(c->last_artifact), "%s", e->artifact_id);
    return 0;
}

/* The is_new hint only skips a lookup: a wrong hint either way still stores the record. */
static void test_store__the_is_new_write_hint_never_changes_what_is_stored(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_run_rec r, g;
    run_init(&r, 3, 3, SM_STATE_CREATED);
    r.is_new = false; /* wrong: the run is new */
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_run(f->s, &r, &err));
    r.is_new = true; /* wrong: it exists now */
    r.state = SM_STATE_RESOLVED;
    r.resolved_at = 7;
    OK(sm_store_put_run(f->s, &r, &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_get_run(f->s, r.id, &g, &err));
    assert_int_equal(g.state, SM_STATE_RESOLVED);
    assert_int_equal(g.resolved_at, 7);

    struct sm_edge_rec e;
    memset(&e, 0, sizeof(e));
    id_of(200, e.id);
    id_of(3, e.root_id);
    id_of(3, e.source_run_id);
    e.created_at = 1;
    e.updated_at = 1;
    e.is_new = false; /* wrong */
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_edge(f->s, &e, &err));
    memset(e.artifact_id, 'a', SM_SHA256_HEX_LEN);
    e.artifact_id[SM_SHA256_HEX_LEN] = '\0';
    e.is_new = true; /* wrong */
    OK(sm_store_put_edge(f->s, &e, &err));
    e.is_new = false; /* right: a later write moves no index (source changes: falls back) */
    id_of(4, e.source_run_id);
    OK(sm_store_put_edge(f->s, &e, &err));
    OK(sm_store_commit(f->s, &err));
    struct edge_count c = {0};
    OK(sm_store_list_edges(f->s, NULL, e.source_run_id, count_edges, &c, &err));
    assert_int_equal(c.n, 1);
    assert_string_equal(c.last_artifact, e.artifact_id);
}

/* More new rows than one multi-row INSERT takes (PEND_ROWS, 128), and a remainder. */
#define MANY_ROWS 300

static int count_run(void *ctx, const struct sm_run_rec *r)
{
    (void)r;
    (*(int *)ctx)++;
    return 0;
}

static void test_store__new_rows_written_many_at_a_time_are_seen_by_every_read(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_run_rec r, g;
    struct sm_edge_rec e;
    struct sm_artifact_rec a, ga;
    char payload[32], name[32];
    struct sm_buf b = SM_BUF_INIT(1 << 20);
    OK(sm_store_begin(f->s, &err));
    for (unsigned i = 1; i <= MANY_ROWS; i++) {
        run_init(&r, i, 1, SM_STATE_RESOLVED);
        snprintf(name, sizeof(name), "step%u", i);
        r.name = name;
        r.is_new = true;
        OK(sm_store_put_run(f->s, &r, &err));
        snprintf(payload, sizeof(payload), "%u", i);
        artifact_init(&a, "{\"type\":\"int\"}", payload, strlen(payload));
        OK(sm_store_put_artifact(f->s, &a, payload, strlen(payload), &err));
        memset(&e, 0, sizeof(e));
        id_of(100000 + i, e.id);
        id_of(1, e.root_id);
        id_of(i, e.source_run_id);
        e.destination_name = name;
        memcpy(e.artifact_id, a.id, sizeof(e.artifact_id));
        e.created_at = e.updated_at = i;
        e.is_new = true;
        OK(sm_store_put_edge(f->s, &e, &err));
        if (i % 97 == 0) {
            /* Inside the batch, what was just put reads back whole. */
            OK(sm_store_get_run(f->s, r.id, &g, &err));
            assert_string_equal(g.name, name);
            sm_buf_reset(&b);
            OK(sm_store_get_artifact(f->s, a.id, &ga, &b, &err));
            assert_memory_equal(b.data, payload, strlen(payload));
            int n = 0;
            struct sm_run_query q = {.root_id = r.root_id};
            OK(sm_store_list_runs(f->s, &q, count_run, &n, &err));
            assert_int_equal(n, (int)i);
        }
    }
    OK(sm_store_commit(f->s, &err));
    sm_buf_release(&b);
    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM run_rows"), MANY_ROWS);
    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM edges"), MANY_ROWS);
    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM artifacts"), MANY_ROWS);
    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM run_rows r JOIN edges e ON "
                                      "e.source_run_id = r.id AND e.destination_name = r.name"),
                     MANY_ROWS);
    run_init(&r, MANY_ROWS, 1, SM_STATE_RESOLVED);
    OK(sm_store_get_run(f->s, r.id, &g, &err));
    assert_string_equal(g.name, "step300");
    assert_int_equal(g.state, SM_STATE_RESOLVED);
}

static void test_store__a_rollback_drops_the_new_rows_still_waiting(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_run_rec r;
    OK(sm_store_begin(f->s, &err));
    for (unsigned i = 1; i <= MANY_ROWS; i++) {
        run_init(&r, i, 1, SM_STATE_CREATED);
        r.is_new = true;
        OK(sm_store_put_run(f->s, &r, &err));
    }
    sm_store_rollback(f->s);
    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM run_rows"), 0);
    /* The next batch starts with nothing waiting. */
    OK(sm_store_begin(f->s, &err));
    run_init(&r, 7, 1, SM_STATE_CREATED);
    r.is_new = true;
    OK(sm_store_put_run(f->s, &r, &err));
    OK(sm_store_commit(f->s, &err));
    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM run_rows"), 1);
}

static int64_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

static void test_store__a_sync_later_writer_leaves_sync_and_checkpoint_to_others(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    char home[256], db[300], wal[300];
    snprintf(home, sizeof(home), "%s/later", f->dir);
    snprintf(db, sizeof(db), "%s/sematic.db", home);
    snprintf(wal, sizeof(wal), "%s/sematic.db-wal", home);
    struct sm_store *w = sm_store_open_sqlite(home, SM_STORE_SYNC_LATER, &err);
    if (!w)
        fail_msg("open: %s", err.msg);
    struct sm_store *c = sm_store_open_sqlite(home, SM_STORE_SYNC_LATER, &err);
    if (!c)
        fail_msg("open: %s", err.msg);
    OK(sm_store_sync(w, &err)); /* nothing committed yet: nothing to do */
    int64_t db_before = file_size(db);
    struct sm_run_rec r;
    OK(sm_store_begin(w, &err));
    for (unsigned i = 1; i <= MANY_ROWS; i++) {
        run_init(&r, i, 1, SM_STATE_RESOLVED);
        r.is_new = true;
        OK(sm_store_put_run(w, &r, &err));
    }
    OK(sm_store_commit(w, &err));
    OK(sm_store_sync(w, &err));
    /* The writer moved nothing into the database file: the rows are in the WAL only... */
    assert_int_equal(file_size(db), db_before);
    assert_true(file_size(wal) > 0);
    /* ... where another handle reads them, and its checkpoint copies them over. */
    struct sm_run_rec g;
    run_init(&r, MANY_ROWS, 1, SM_STATE_RESOLVED);
    OK(sm_store_get_run(c, r.id, &g, &err));
    assert_int_equal(g.state, SM_STATE_RESOLVED);
    OK(sm_store_checkpoint(c, &err));
    assert_true(file_size(db) > db_before);
    /* Closing checkpoints nothing more: the WAL stays for the next writer, readable. */
    sm_store_close(c);
    sm_store_close(w);
    assert_true(file_size(wal) > 0);
    assert_int_equal(sql_value(db, "SELECT count(*) FROM run_rows"), MANY_ROWS);
}

static void test_store__a_batch_key_is_claimed_once_and_a_rollback_frees_it(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    const char *key = "0123456789abcdef0123456789abcdef";
    bool seen = true;
    FAILS(SM_ESTATE, sm_store_claim_batch_key(f->s, key, &seen, &err));
    OK(sm_store_begin(f->s, &err));
    FAILS(SM_EINVAL,
          sm_store_claim_batch_key(f->s, "0123456789ABCDEF0123456789ABCDEF", &seen, &err));
    HAS(err.msg, "batch key");
    OK(sm_store_claim_batch_key(f->s, key, &seen, &err));
    assert_false(seen);
    sm_store_rollback(f->s); /* the batch did not happen: its key is free again */
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_claim_batch_key(f->s, key, &seen, &err));
    assert_false(seen);
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_claim_batch_key(f->s, key, &seen, &err));
    assert_true(seen);
    sm_store_rollback(f->s);
    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM batch_keys"), 1);
}

static int cache_used(struct sm_store *s)
{
    int used = 0, highwater = 0;
    sqlite3_db_status(to_sq(s)->db, SQLITE_DBSTATUS_CACHE_USED, &used, &highwater, 0);
    return used;
}

static void test_store__trim_gives_back_the_page_cache_past_what_it_keeps(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_run_rec r;
    OK(sm_store_begin(f->s, &err));
    for (unsigned i = 1; i <= 3000; i++) {
        run_init(&r, i, 1, SM_STATE_RESOLVED);
        r.is_new = true;
        OK(sm_store_put_run(f->s, &r, &err));
    }
    OK(sm_store_commit(f->s, &err));
    int n = 0;
    struct sm_run_query q = {.root_id = r.root_id};
    OK(sm_store_list_runs(f->s, &q, count_run, &n, &err));
    assert_int_equal(n, 3000);
    int full = cache_used(f->s);
    assert_true(full > 256 * 1024);
    sm_store_trim(f->s, (size_t)full); /* within what it keeps: nothing changes */
    assert_int_equal(cache_used(f->s), full);
    sm_store_trim(f->s, 64 * 1024);
    assert_true(cache_used(f->s) < full / 4);
    /* Reads go on, from the OS's cache. */
    n = 0;
    OK(sm_store_list_runs(f->s, &q, count_run, &n, &err));
    assert_int_equal(n, 3000);
}

static void test_store__bad_arguments_are_invalid_with_a_clear_message(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_run_rec r, g;
    OK(sm_store_begin(f->s, &err));

    run_init(&r, 2, 1, SM_STATE_CREATED);
    snprintf(r.id, sizeof(r.id), "%s", "not-hex");
    FAILS(SM_EINVAL, sm_store_put_run(f->s, &r, &err));
    HAS(err.msg, "invalid run id 'not-hex': expected 32 lower-case hex digits");
    sm_err_clear(&err);

    run_init(&r, 2, 1, SM_STATE_CREATED);
    snprintf(r.parent_id, sizeof(r.parent_id), "%s", "ABCDEF00000000000000000000000000");
    FAILS(SM_EINVAL, sm_store_put_run(f->s, &r, &err));
    HAS(err.msg, "parent run id");
    sm_err_clear(&err);

    run_init(&r, 2, 1, 42);
    FAILS(SM_EINVAL, sm_store_put_run(f->s, &r, &err));
    HAS(err.msg, "invalid state 42");
    sm_err_clear(&err);

    run_init(&r, 2, 1, SM_STATE_CREATED);
    r.tags_json = NULL;
    FAILS(SM_EINVAL, sm_store_put_run(f->s, &r, &err));
    HAS(err.msg, "tags");
    sm_err_clear(&err);

    FAILS(SM_EINVAL, sm_store_get_run(f->s, NULL, &g, &err));
    HAS(err.msg, "invalid run id: NULL");
    sm_err_clear(&err);
    FAILS(SM_EINVAL, sm_store_get_run(f->s, "00000000000000000000000000000001x", &g, &err));
    sm_err_clear(&err);
    FAILS(SM_EINVAL,
          sm_store_get_artifact(f->s, "00000000000000000000000000000001", NULL, NULL, &err));
    HAS(err.msg, "64 lower-case hex digits");
    sm_err_clear(&err);
    FAILS(SM_EINVAL, sm_store_list_edges(f->s, NULL, NULL, collect_edge, NULL, &err));
    sm_err_clear(&err);
    struct sm_run_query q = {.limit = -1};
    FAILS(SM_EINVAL, sm_store_list_runs(f->s, &q, collect_run, NULL, &err));
    sm_err_clear(&err);
    struct sm_log_rec line = {.stream = 4, .text = "x"};
    id_of(1, line.run_id);
    FAILS(SM_EINVAL, sm_store_append_log(f->s, &line, &err));
    sm_err_clear(&err);
    FAILS(SM_EINVAL, sm_store_begin(NULL, &err));
    sm_err_clear(&err);
    sm_store_rollback(f->s);
    assert_int_equal(sm_store_change_seq(f->s), 0);
    assert_int_equal(sm_store_change_seq(NULL), -1);
}

/* ------------------------------------------------------------ batches */

static void test_store__writes_outside_a_batch_are_refused(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_run_rec r;
    run_init(&r, 1, 1, SM_STATE_CREATED);
    struct sm_artifact_rec a;
    artifact_init(&a, "{}", "1", 1);
    struct sm_edge_rec e = {0};
    id_of(5, e.id);
    id_of(1, e.root_id);
    struct sm_pipeline_rec p;
    pipeline_init(&p, 1, SM_PIPELINE_CREATED);
    struct sm_log_rec line = {.stream = 1, .text = "hello"};
    id_of(1, line.run_id);
    char src[SM_SHA256_HEX_LEN + 1];

    FAILS(SM_ESTATE, sm_store_put_run(f->s, &r, &err));
    HAS(err.msg, "outside a batch; call sm_store_begin() first");
    sm_err_clear(&err);
    FAILS(SM_ESTATE, sm_store_put_artifact(f->s, &a, "1", 1, &err));
    sm_err_clear(&err);
    FAILS(SM_ESTATE, sm_store_put_edge(f->s, &e, &err));
    sm_err_clear(&err);
    FAILS(SM_ESTATE, sm_store_put_pipeline(f->s, &p, &err));
    sm_err_clear(&err);
    FAILS(SM_ESTATE, sm_store_put_source(f->s, "x", 1, src, &err));
    sm_err_clear(&err);
    FAILS(SM_ESTATE, sm_store_append_log(f->s, &line, &err));
    sm_err_clear(&err);
    FAILS(SM_ESTATE, sm_store_commit(f->s, &err));
    HAS(err.msg, "no batch is open");
    sm_err_clear(&err);

    OK(sm_store_begin(f->s, &err));
    FAILS(SM_ESTATE, sm_store_begin(f->s, &err));
    HAS(err.msg, "one is open already");
    sm_err_clear(&err);
    FAILS(SM_ESTATE, sm_store_set_pipeline_status(f->s, p.root_id, SM_PIPELINE_CANCELED, &err));
    sm_err_clear(&err);
    FAILS(SM_ESTATE, sm_store_gc_blobs(f->s, NULL, NULL, &err));
    sm_err_clear(&err);
    sm_store_rollback(f->s);
    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM runs"), 0);
}

static void test_store__change_seq_grows_once_per_commit_that_writes(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_run_rec r, g;
    assert_int_equal(sm_store_change_seq(f->s), 0);
    for (unsigned i = 1; i <= 3; i++) {
        OK(sm_store_begin(f->s, &err));
        run_init(&r, i, 1, SM_STATE_CREATED);
        OK(sm_store_put_run(f->s, &r, &err));
        run_init(&r, 100 + i, 1, SM_STATE_CREATED);
        OK(sm_store_put_run(f->s, &r, &err));
        /* Uncommitted: the sequence others see is still the last commit's. */
        assert_int_equal(sm_store_change_seq(f->s), i - 1);
        OK(sm_store_commit(f->s, &err));
        assert_int_equal(sm_store_change_seq(f->s), i);
        OK(sm_store_get_run(f->s, r.id, &g, &err));
        assert_int_equal(g.seq, i);
    }
    /* An empty batch and a rolled-back one change nothing. */
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_begin(f->s, &err));
    run_init(&r, 50, 1, SM_STATE_CREATED);
    OK(sm_store_put_run(f->s, &r, &err));
    OK(sm_store_get_run(f->s, r.id, &g, &err)); /* a batch reads its own writes */
    sm_store_rollback(f->s);
    assert_int_equal(sm_store_change_seq(f->s), 3);
    FAILS(SM_ENOTFOUND, sm_store_get_run(f->s, r.id, &g, &err));
    sm_err_clear(&err);

    /* Closing with an open batch rolls it back. */
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_run(f->s, &r, &err));
    reopen(f);
    FAILS(SM_ENOTFOUND, sm_store_get_run(f->s, r.id, &g, &err));
    assert_int_equal(sm_store_change_seq(f->s), 3);
}

static void test_store__runs_of_one_function_share_its_functions_row(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_run_rec r, g;
    OK(sm_store_begin(f->s, &err));
    for (unsigned i = 1; i <= 3; i++) {
        run_init(&r, i, 1, SM_STATE_CREATED);
        r.description = "Adds.";
        OK(sm_store_put_run(f->s, &r, &err));
    }
    run_init(&r, 4, 1, SM_STATE_CREATED);
    r.description = "Adds, documented otherwise.";
    r.retry_settings_json = "{\"retries\":2}";
    OK(sm_store_put_run(f->s, &r, &err));
    OK(sm_store_commit(f->s, &err));
    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM functions"), 2);
    OK(sm_store_get_run(f->s, "00000000000000000000000000000002", &g, &err));
    assert_string_equal(g.description, "Adds.");
    assert_null(g.retry_settings_json);
    OK(sm_store_get_run(f->s, "00000000000000000000000000000004", &g, &err));
    assert_string_equal(g.description, "Adds, documented otherwise.");
    assert_string_equal(g.retry_settings_json, "{\"retries\":2}");

    /* A functions row written by a rolled-back batch is gone: the next batch writes it again
     * instead of naming the undone row. */
    OK(sm_store_begin(f->s, &err));
    run_init(&r, 5, 1, SM_STATE_CREATED);
    r.function_path = "mod.other";
    OK(sm_store_put_run(f->s, &r, &err));
    sm_store_rollback(f->s);
    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM functions"), 2);
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_run(f->s, &r, &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_get_run(f->s, r.id, &g, &err));
    assert_string_equal(g.function_path, "mod.other");
    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM functions"), 3);

    /* Another handle finds the rows this one wrote rather than adding copies. */
    reopen(f);
    OK(sm_store_begin(f->s, &err));
    run_init(&r, 6, 1, SM_STATE_CREATED);
    r.function_path = "mod.other";
    OK(sm_store_put_run(f->s, &r, &err));
    OK(sm_store_commit(f->s, &err));
    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM functions"), 3);
}

static void test_store__each_batch_that_writes_runs_lists_them_in_events(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_run_rec r;
    char text[256];
    OK(sm_store_begin(f->s, &err));
    run_init(&r, 1, 1, SM_STATE_CREATED);
    OK(sm_store_put_run(f->s, &r, &err));
    run_init(&r, 2, 1, SM_STATE_CREATED);
    OK(sm_store_put_run(f->s, &r, &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_begin(f->s, &err));
    r.state = SM_STATE_SCHEDULED;
    OK(sm_store_put_run(f->s, &r, &err));
    OK(sm_store_commit(f->s, &err));
    /* A batch without runs adds no row. */
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_source(f->s, "x", 1, text, &err));
    OK(sm_store_commit(f->s, &err));

    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM events WHERE kind = 'runs'"), 2);
    sql_text(f->db, "SELECT payload FROM events WHERE kind = 'runs' AND seq = 1", text,
             sizeof(text));
    assert_string_equal(text, "00000000000000000000000000000001,00000000000000000000000000000002");
    sql_text(f->db, "SELECT payload FROM events WHERE kind = 'runs' AND seq = 2", text,
             sizeof(text));
    assert_string_equal(text, "00000000000000000000000000000002");
}

/* ------------------------------------------------------------ artifacts */

static void test_store__small_artifacts_live_in_the_row(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_artifact_rec a, g;
    const char *payload = "[1,2,3]";
    artifact_init(&a, "{\"type\":\"list\"}", payload, strlen(payload));
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_artifact(f->s, &a, payload, strlen(payload), &err));
    OK(sm_store_put_artifact(f->s, &a, payload, strlen(payload), &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_artifact(f->s, &a, payload, strlen(payload), &err));
    OK(sm_store_commit(f->s, &err));
    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM artifacts"), 1);

    struct sm_buf b = SM_BUF_INIT(1 << 20);
    OK(sm_store_get_artifact(f->s, a.id, &g, &b, &err));
    assert_string_equal(g.id, a.id);
    assert_string_equal(g.type_json, a.type_json);
    assert_string_equal(g.summary_json, a.summary_json);
    assert_int_equal(g.size_bytes, 7);
    assert_string_equal(g.blob_key, "");
    assert_int_equal(g.created_at, 77);
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.data, payload, 7);

    /* Without a buffer only the record is read. */
    OK(sm_store_get_artifact(f->s, a.id, &g, NULL, &err));
    assert_string_equal(g.type_json, a.type_json);

    /* An empty payload is a value too. */
    struct sm_artifact_rec empty;
    artifact_init(&empty, "{\"type\":\"str\"}", "", 0);
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_artifact(f->s, &empty, NULL, 0, &err));
    OK(sm_store_commit(f->s, &err));
    sm_buf_reset(&b);
    OK(sm_store_get_artifact(f->s, empty.id, &g, &b, &err));
    assert_int_equal(b.len, 0);
    assert_int_equal(g.size_bytes, 0);

    char missing[SM_SHA256_HEX_LEN + 1];
    artifact_id("{}", "nothing", 7, missing);
    FAILS(SM_ENOTFOUND, sm_store_get_artifact(f->s, missing, &g, &b, &err));
    HAS(err.msg, missing);
    sm_buf_release(&b);
}

static void test_store__an_artifact_whose_id_does_not_match_is_refused(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_artifact_rec a;
    artifact_init(&a, "{}", "1", 1);
    OK(sm_store_begin(f->s, &err));
    FAILS(SM_EINVAL, sm_store_put_artifact(f->s, &a, "2", 1, &err));
    HAS(err.msg, a.id);
    sm_err_clear(&err);
    /* A refused argument does not spoil the batch. */
    OK(sm_store_put_artifact(f->s, &a, "1", 1, &err));
    OK(sm_store_commit(f->s, &err));
    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM artifacts"), 1);
}

static void test_store__large_artifacts_go_to_one_blob_and_back(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    size_t len = SM_STORE_INLINE_MAX_BYTES + 1;
    char *payload = malloc(len);
    assert_non_null(payload);
    for (size_t i = 0; i < len; i++)
        payload[i] = (char)('a' + i % 26);
    struct sm_artifact_rec a, g;
    artifact_init(&a, "{\"type\":\"str\"}", payload, len);
    char blobs[256];
    snprintf(blobs, sizeof(blobs), "%s/blobs", f->home);
    int before = count_files(blobs);

    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_artifact(f->s, &a, payload, len, &err));
    OK(sm_store_put_artifact(f->s, &a, payload, len, &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_artifact(f->s, &a, payload, len, &err));
    OK(sm_store_commit(f->s, &err));
    assert_int_equal(count_files(blobs), before + 1);
    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM artifacts WHERE payload IS NULL AND "
                                      "blob_key IS NOT NULL"),
                     1);

    struct sm_buf b = SM_BUF_INIT(1 << 20);
    sm_buf_add(&b, "prefix", 6);
    OK(sm_store_get_artifact(f->s, a.id, &g, &b, &err));
    assert_int_equal(g.size_bytes, (int64_t)len);
    assert_int_equal(strlen(g.blob_key), SM_SHA256_HEX_LEN);
    assert_int_equal(b.len, 6 + len);
    assert_memory_equal(b.data, "prefix", 6);
    assert_memory_equal(b.data + 6, payload, len);

    /* A payload of exactly the limit stays inline. */
    struct sm_artifact_rec edge_case;
    artifact_init(&edge_case, "{\"type\":\"str\"}", payload, SM_STORE_INLINE_MAX_BYTES);
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_artifact(f->s, &edge_case, payload, SM_STORE_INLINE_MAX_BYTES, &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_get_artifact(f->s, edge_case.id, &g, NULL, &err));
    assert_string_equal(g.blob_key, "");
    assert_int_equal(count_files(blobs), before + 1);

    /* A buffer too small for the payload. */
    struct sm_buf small = SM_BUF_INIT(100);
    FAILS(SM_ETOOBIG, sm_store_get_artifact(f->s, a.id, &g, &small, &err));
    sm_buf_release(&small);
    sm_buf_release(&b);
    free(payload);
}

static void test_store__a_damaged_or_missing_blob_is_corrupt(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    size_t len = 10000;
    char *payload = malloc(len);
    assert_non_null(payload);
    memset(payload, 'z', len);
    struct sm_artifact_rec a, g;
    artifact_init(&a, "{\"type\":\"bytes\"}", payload, len);
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_artifact(f->s, &a, payload, len, &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_get_artifact(f->s, a.id, &g, NULL, &err));
    char path[512];
    blob_path(f, g.blob_key, path, sizeof(path));

    /* Same size, one byte changed. */
    int fd = open(path, O_WRONLY);
    if (fd < 0) {
        chmod(path, 0644);
        fd = open(path, O_WRONLY);
    }
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "Z", 1, 5000), 1);
    close(fd);
    struct sm_buf b = SM_BUF_INIT(1 << 20);
    FAILS(SM_ECORRUPT, sm_store_get_artifact(f->s, a.id, &g, &b, &err));
    assert_int_equal(b.len, 0);
    sm_err_clear(&err);

    unlink(path);
    FAILS(SM_ECORRUPT, sm_store_get_artifact(f->s, a.id, &g, &b, &err));
    HAS(err.msg, "missing");
    HAS(err.msg, a.id);
    sm_buf_release(&b);
    free(payload);
}

static void test_store__a_tampered_inline_payload_is_corrupt(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_artifact_rec a, g;
    artifact_init(&a, "{\"type\":\"int\"}", "42", 2);
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_artifact(f->s, &a, "42", 2, &err));
    OK(sm_store_commit(f->s, &err));
    sql_value(f->db, "UPDATE artifacts SET payload = CAST('43' AS BLOB)");
    struct sm_buf b = SM_BUF_INIT(1 << 20);
    sm_buf_add(&b, "keep", 4);
    FAILS(SM_ECORRUPT, sm_store_get_artifact(f->s, a.id, &g, &b, &err));
    HAS(err.msg, "artifact '");
    HAS(err.msg, "' is corrupted");
    assert_int_equal(b.len, 4); /* what the caller had is left alone */
    sm_err_clear(&err);

    /* A changed type is caught the same way. */
    sql_value(f->db, "UPDATE artifacts SET payload = CAST('42' AS BLOB), type_json = '{}'");
    FAILS(SM_ECORRUPT, sm_store_get_artifact(f->s, a.id, &g, &b, &err));
    sm_buf_release(&b);
}

static void test_store__gc_removes_only_unreferenced_blobs(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    size_t len = 5000;
    char *payload = malloc(len);
    assert_non_null(payload);
    memset(payload, 'q', len);
    struct sm_artifact_rec a, g;
    artifact_init(&a, "{\"type\":\"bytes\"}", payload, len);
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_artifact(f->s, &a, payload, len, &err));
    OK(sm_store_commit(f->s, &err));

    /* A blob from a batch that never committed. */
    memset(payload, 'r', len);
    struct sm_artifact_rec orphan;
    artifact_init(&orphan, "{\"type\":\"bytes\"}", payload, len);
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_artifact(f->s, &orphan, payload, len, &err));
    sm_store_rollback(f->s);

    char blobs[256];
    snprintf(blobs, sizeof(blobs), "%s/blobs", f->home);
    assert_int_equal(count_files(blobs), 2);
    size_t n = 0, bytes = 0;
    OK(sm_store_gc_blobs(f->s, &n, &bytes, &err));
    assert_int_equal(n, 1);
    assert_int_equal(bytes, len);
    assert_int_equal(count_files(blobs), 1);
    struct sm_buf b = SM_BUF_INIT(1 << 20);
    OK(sm_store_get_artifact(f->s, a.id, &g, &b, &err));
    assert_int_equal(b.len, len);
    sm_buf_release(&b);
    free(payload);
}

/* ------------------------------------------------------------ listings */

/*
 * Two pipelines: root 1 with children 2, 3 (3 has child 4), root 10 with
 * child 11. created_at grows with the number, so newest first is by
 * descending number.
 */
static void put_two_pipelines(struct fixture *f)
{
    struct sm_err err = SM_ERR_INIT;
    struct sm_run_rec r;
    OK(sm_store_begin(f->s, &err));
    run_init(&r, 1, 1, SM_STATE_RAN);
    r.name = "pipeline";
    r.function_path = "examples.pipeline";
    r.tags_json = "[\"nightly\",\"100%_done\"]";
    OK(sm_store_put_run(f->s, &r, &err));
    run_init(&r, 2, 1, SM_STATE_RESOLVED);
    r.name = "add";
    r.function_path = "examples.add";
    r.cache_key = "k1_ns";
    OK(sm_store_put_run(f->s, &r, &err));
    run_init(&r, 3, 1, SM_STATE_SCHEDULED);
    r.name = "train";
    r.function_path = "examples.train";
    r.tags_json = "[\"gpu\"]";
    OK(sm_store_put_run(f->s, &r, &err));
    run_init(&r, 4, 1, SM_STATE_CREATED);
    id_of(3, r.parent_id);
    r.name = "add";
    r.function_path = "examples.add";
    r.cache_key = "k1_ns";
    OK(sm_store_put_run(f->s, &r, &err));
    run_init(&r, 10, 10, SM_STATE_FAILED);
    r.name = "pipeline";
    r.function_path = "examples.pipeline";
    r.tags_json = "not json";
    OK(sm_store_put_run(f->s, &r, &err));
    run_init(&r, 11, 10, SM_STATE_FAILED);
    r.name = "add";
    r.function_path = "examples.add";
    r.tags_json = "[\"gpu\",\"nightly\"]";
    OK(sm_store_put_run(f->s, &r, &err));
    OK(sm_store_commit(f->s, &err));
}

static void test_store__list_runs_filters_orders_and_limits(void **state)
{
    struct fixture *f = *state;
    put_two_pipelines(f);
    char root1[33], root10[33], run3[33];
    id_of(1, root1);
    id_of(10, root10);
    id_of(3, run3);

    struct sm_run_query q = {0};
    EXPECT_LIST(f->s, &q, 11, 10, 4, 3, 2, 1);
    q.oldest_first = true;
    EXPECT_LIST(f->s, &q, 1, 2, 3, 4, 10, 11);
    q.limit = 2;
    EXPECT_LIST(f->s, &q, 1, 2);

    memset(&q, 0, sizeof(q));
    q.root_id = root1;
    EXPECT_LIST(f->s, &q, 4, 3, 2, 1);
    q.root_id = root10;
    EXPECT_LIST(f->s, &q, 11, 10);

    memset(&q, 0, sizeof(q));
    q.parent_id = root1;
    EXPECT_LIST(f->s, &q, 3, 2);
    q.parent_id = run3;
    EXPECT_LIST(f->s, &q, 4);

    memset(&q, 0, sizeof(q));
    q.roots_only = true;
    EXPECT_LIST(f->s, &q, 10, 1);

    memset(&q, 0, sizeof(q));
    q.function_path = "examples.add";
    EXPECT_LIST(f->s, &q, 11, 4, 2);
    q.root_id = root1;
    EXPECT_LIST(f->s, &q, 4, 2);

    memset(&q, 0, sizeof(q));
    q.name = "train";
    EXPECT_LIST(f->s, &q, 3);

    memset(&q, 0, sizeof(q));
    q.tag = "gpu";
    EXPECT_LIST(f->s, &q, 11, 3);
    q.tag = "nightly";
    EXPECT_LIST(f->s, &q, 11, 1);
    q.tag = "night"; /* whole tags only */
    EXPECT_NONE(f->s, &q);

    memset(&q, 0, sizeof(q));
    q.cache_key = "k1_ns";
    q.state_mask = 1u << SM_STATE_RESOLVED;
    q.oldest_first = true;
    q.limit = 1;
    EXPECT_LIST(f->s, &q, 2);

    memset(&q, 0, sizeof(q));
    q.state_mask = (1u << SM_STATE_FAILED) | (1u << SM_STATE_CREATED);
    EXPECT_LIST(f->s, &q, 11, 10, 4);

    memset(&q, 0, sizeof(q));
    q.search = "TRAIN"; /* case-insensitive, in the name and function path */
    EXPECT_LIST(f->s, &q, 3);
    q.search = "0000000b"; /* in the id */
    EXPECT_LIST(f->s, &q, 11);
    q.search = "100%"; /* wildcards are literal */
    EXPECT_LIST(f->s, &q, 1);
    q.search = "%";
    EXPECT_LIST(f->s, &q, 1);
    q.search = "%_d";
    EXPECT_LIST(f->s, &q, 1);
    q.search = "0_d"; /* '_' matches only itself */
    EXPECT_NONE(f->s, &q);
    q.search = "nomatch";
    EXPECT_NONE(f->s, &q);
}

static int list_inner(void *ctx, const struct sm_run_rec *r)
{
    struct fixture *f = ctx;
    struct sm_err err = SM_ERR_INIT;
    /* The same query shape again, from inside the callback. */
    struct sm_run_query q = {.root_id = r->root_id};
    struct ids ids = {0};
    int rc = sm_store_list_runs(f->s, &q, collect_run, &ids, &err);
    if (rc != 0 || ids.n != 4)
        return 7;
    struct sm_run_rec g;
    return sm_store_get_run(f->s, r->id, &g, &err);
}

static void test_store__a_listing_stops_when_the_callback_says_so(void **state)
{
    struct fixture *f = *state;
    put_two_pipelines(f);
    struct sm_err err = SM_ERR_INIT;
    struct sm_run_query q = {0};
    struct ids ids = {.stop_after = 2};
    assert_int_equal(sm_store_list_runs(f->s, &q, collect_run, &ids, &err), 99);
    assert_int_equal(ids.n, 2);
    assert_int_equal(err.code, 0);

    /* Callbacks may use the store, even for the same listing. */
    char root1[33];
    id_of(1, root1);
    q.root_id = root1;
    OK(sm_store_list_runs(f->s, &q, list_inner, f, &err));
    /* And the cached statement still works afterwards. */
    ids.n = 0;
    ids.stop_after = 0;
    OK(sm_store_list_runs(f->s, &q, collect_run, &ids, &err));
    assert_int_equal(ids.n, 4);
}

static void test_store__edges_and_artifacts_list_by_pipeline_and_by_run(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_artifact_rec a1, a2;
    artifact_init(&a1, "{\"type\":\"int\"}", "1", 1);
    artifact_init(&a2, "{\"type\":\"int\"}", "2", 1);
    a2.created_at = 78;

    /* add(1, 1) -> 2, root 1 (one run, 3 edges sharing artifact 1 twice); root 10: unrelated. */
    struct sm_edge_rec e[4];
    memset(e, 0, sizeof(e));
    for (unsigned i = 0; i < 4; i++) {
        id_of(100 + i, e[i].id);
        id_of(1, e[i].root_id);
        e[i].created_at = 10 + i;
        e[i].updated_at = 20 + i;
    }
    id_of(1, e[0].destination_run_id);
    e[0].destination_name = "a";
    snprintf(e[0].artifact_id, sizeof(e[0].artifact_id), "%s", a1.id);
    id_of(1, e[1].destination_run_id);
    e[1].destination_name = "b";
    snprintf(e[1].artifact_id, sizeof(e[1].artifact_id), "%s", a1.id);
    id_of(1, e[2].source_run_id);
    snprintf(e[2].artifact_id, sizeof(e[2].artifact_id), "%s", a2.id);
    id_of(10, e[3].root_id);
    id_of(10, e[3].source_run_id);
    id_of(101, e[3].parent_id);

    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_artifact(f->s, &a1, "1", 1, &err));
    OK(sm_store_put_artifact(f->s, &a2, "2", 1, &err));
    for (int i = 0; i < 4; i++)
        OK(sm_store_put_edge(f->s, &e[i], &err));
    /* Upsert: the output edge learns its artifact late. */
    e[2].artifact_id[0] = '\0';
    OK(sm_store_put_edge(f->s, &e[2], &err));
    snprintf(e[2].artifact_id, sizeof(e[2].artifact_id), "%s", a2.id);
    e[2].updated_at = 99;
    OK(sm_store_put_edge(f->s, &e[2], &err));
    OK(sm_store_commit(f->s, &err));
    assert_int_equal(sql_value(f->db, "SELECT count(*) FROM edges"), 4);

    char root1[33], root10[33], run1[33], run10[33];
    id_of(1, root1);
    id_of(10, root10);
    id_of(1, run1);
    id_of(10, run10);
    struct ids ids = {0};
    OK(sm_store_list_edges(f->s, root1, NULL, collect_edge, &ids, &err));
    assert_int_equal(ids.n, 3);
    assert_string_equal(ids.id[0], e[0].id);
    assert_string_equal(ids.id[2], e[2].id);

    memset(&ids, 0, sizeof(ids));
    OK(sm_store_list_edges(f->s, NULL, run10, collect_edge, &ids, &err));
    assert_int_equal(ids.n, 1);
    assert_string_equal(ids.id[0], e[3].id);

    memset(&ids, 0, sizeof(ids));
    OK(sm_store_list_edges(f->s, NULL, run1, collect_edge, &ids, &err));
    assert_int_equal(ids.n, 3);
    memset(&ids, 0, sizeof(ids));
    OK(sm_store_list_edges(f->s, root10, run1, collect_edge, &ids, &err));
    assert_int_equal(ids.n, 0);

    memset(&ids, 0, sizeof(ids));
    OK(sm_store_list_artifacts(f->s, root1, collect_artifact, &ids, &err));
    assert_int_equal(ids.n, 2); /* a1 once, though two edges carry it */
    assert_string_equal(ids.id[0], a1.id);
    assert_string_equal(ids.id[1], a2.id);
    memset(&ids, 0, sizeof(ids));
    OK(sm_store_list_artifacts(f->s, root10, collect_artifact, &ids, &err));
    assert_int_equal(ids.n, 0);
}

static int check_edge_fields(void *ctx, const struct sm_edge_rec *e)
{
    int *n = ctx;
    (*n)++;
    if (strcmp(e->id, "00000000000000000000000000000066") == 0) {
        /* e[2] of the test above: no destination, a source, the late artifact. */
        if (e->destination_run_id[0] || e->destination_name || e->parent_id[0] ||
            e->updated_at != 99 || strlen(e->artifact_id) != SM_SHA256_HEX_LEN)
            return 5;
    }
    return 0;
}

static void test_store__edge_fields_round_trip(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_edge_rec e = {0};
    id_of(0x66, e.id);
    id_of(1, e.root_id);
    id_of(1, e.source_run_id);
    artifact_id("{}", "", 0, e.artifact_id);
    e.created_at = 1;
    e.updated_at = 99;
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_edge(f->s, &e, &err));
    OK(sm_store_commit(f->s, &err));
    int n = 0;
    OK(sm_store_list_edges(f->s, e.root_id, NULL, check_edge_fields, &n, &err));
    assert_int_equal(n, 1);
}

/* ------------------------------------------------------------ logs */

struct log_page {
    int n;
    int64_t last_id;
    char text[16][32];
};

static int collect_log(void *ctx, const struct sm_log_rec *line)
{
    struct log_page *p = ctx;
    snprintf(p->text[p->n++], sizeof(p->text[0]), "%.*s", (int)line->len, line->text);
    p->last_id = line->id;
    return 0;
}

static void test_store__logs_page_by_id(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    OK(sm_store_begin(f->s, &err));
    for (int i = 0; i < 10; i++) {
        char text[32];
        int n = snprintf(text, sizeof(text), "line %d", i);
        struct sm_log_rec line = {.stream = 1 + i % 3, .ts = i, .text = text, .len = (size_t)n};
        id_of(i % 2 ? 2 : 1, line.run_id);
        OK(sm_store_append_log(f->s, &line, &err));
    }
    OK(sm_store_commit(f->s, &err));

    char run1[33];
    id_of(1, run1);
    struct log_page p = {0};
    OK(sm_store_read_logs(f->s, run1, 0, 2, collect_log, &p, &err));
    assert_int_equal(p.n, 2);
    assert_string_equal(p.text[0], "line 0");
    assert_string_equal(p.text[1], "line 2");
    int64_t after = p.last_id;
    memset(&p, 0, sizeof(p));
    OK(sm_store_read_logs(f->s, run1, after, 0, collect_log, &p, &err));
    assert_int_equal(p.n, 3);
    assert_string_equal(p.text[0], "line 4");
    assert_string_equal(p.text[2], "line 8");
    after = p.last_id;
    memset(&p, 0, sizeof(p));
    OK(sm_store_read_logs(f->s, run1, after, 0, collect_log, &p, &err));
    assert_int_equal(p.n, 0);
}

/* ------------------------------------------------------------ pipeline runs */

static void test_store__pipeline_runs_round_trip_and_check_transitions(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_pipeline_rec p, g;
    pipeline_init(&p, 1, SM_PIPELINE_SCHEDULED);
    p.cache_namespace = "ns";
    p.user = "ada";
    p.git_json = "{\"commit\":\"abc\"}";
    p.settings_json = "{}";
    p.client_version = "0.41.0";
    p.run_command = "python pipe.py";
    p.python = "/usr/bin/python3";
    p.cwd = "/work";
    p.sys_path_json = "[\"/work\"]";
    p.driver_pid = 123;
    p.driver_start = 456;
    p.driver_host = "box";
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_pipeline(f->s, &p, &err));
    OK(sm_store_commit(f->s, &err));

    OK(sm_store_get_pipeline(f->s, p.root_id, &g, &err));
    assert_string_equal(g.root_id, p.root_id);
    assert_int_equal(g.status, SM_PIPELINE_SCHEDULED);
    assert_string_equal(g.kind, "LOCAL");
    assert_string_equal(g.cache_namespace, "ns");
    assert_string_equal(g.user, "ada");
    assert_string_equal(g.git_json, p.git_json);
    assert_string_equal(g.settings_json, "{}");
    assert_string_equal(g.client_version, "0.41.0");
    assert_string_equal(g.run_command, p.run_command);
    assert_string_equal(g.python, p.python);
    assert_string_equal(g.cwd, "/work");
    assert_string_equal(g.sys_path_json, p.sys_path_json);
    assert_int_equal(g.driver_pid, 123);
    assert_int_equal(g.driver_start, 456);
    assert_string_equal(g.driver_host, "box");
    assert_int_equal(g.created_at, 5);
    assert_int_equal(g.updated_at, 6);
    assert_int_equal(g.ended_at, 0);
    assert_int_equal(g.seq, 1);

    /* Forward, the same status again, then an illegal step back that changes nothing. */
    OK(sm_store_begin(f->s, &err));
    p.status = SM_PIPELINE_RUNNING;
    OK(sm_store_put_pipeline(f->s, &p, &err));
    OK(sm_store_put_pipeline(f->s, &p, &err));
    p.status = SM_PIPELINE_COMPLETE;
    p.ended_at = 7;
    OK(sm_store_put_pipeline(f->s, &p, &err));
    OK(sm_store_commit(f->s, &err));
    int64_t seq = sm_store_change_seq(f->s);

    OK(sm_store_begin(f->s, &err));
    p.status = SM_PIPELINE_RUNNING;
    p.user = "mallory";
    FAILS(SM_EINVALID_TRANSITION, sm_store_put_pipeline(f->s, &p, &err));
    HAS(err.msg, "'COMPLETE' -> 'RUNNING'");
    sm_err_clear(&err);
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_get_pipeline(f->s, p.root_id, &g, &err));
    assert_int_equal(g.status, SM_PIPELINE_COMPLETE);
    assert_string_equal(g.user, "ada");
    assert_int_equal(g.ended_at, 7);
    assert_int_equal(sm_store_change_seq(f->s), seq);

    /* A new pipeline run may not start COMPLETE. */
    struct sm_pipeline_rec q;
    pipeline_init(&q, 2, SM_PIPELINE_COMPLETE);
    OK(sm_store_begin(f->s, &err));
    FAILS(SM_EINVALID_TRANSITION, sm_store_put_pipeline(f->s, &q, &err));
    HAS(err.msg, "'none' -> 'COMPLETE'");
    sm_err_clear(&err);
    sm_store_rollback(f->s);
    FAILS(SM_ENOTFOUND, sm_store_get_pipeline(f->s, q.root_id, &g, &err));
}

static void test_store__cancelling_a_pipeline_cancels_its_unfinished_runs(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_pipeline_rec p, g;
    struct sm_run_rec r;
    pipeline_init(&p, 1, SM_PIPELINE_RUNNING);
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_pipeline(f->s, &p, &err));
    /* Root 1 has one run in every state (ids 1..8 hold state id-1); root 20 is another pipeline. */
    for (unsigned i = 1; i <= SM_STATE_COUNT; i++) {
        run_init(&r, i, 1, (int)(i - 1));
        OK(sm_store_put_run(f->s, &r, &err));
    }
    run_init(&r, 20, 20, SM_STATE_SCHEDULED);
    OK(sm_store_put_run(f->s, &r, &err));
    OK(sm_store_commit(f->s, &err));
    int64_t seq = sm_store_change_seq(f->s);

    int64_t before = sm_now_us();
    OK(sm_store_set_pipeline_status(f->s, p.root_id, SM_PIPELINE_CANCELED, &err));
    assert_int_equal(sm_store_change_seq(f->s), seq + 1);
    OK(sm_store_get_pipeline(f->s, p.root_id, &g, &err));
    assert_int_equal(g.status, SM_PIPELINE_CANCELED);
    assert_true(g.ended_at >= before);
    assert_int_equal(g.seq, seq + 1);

    static const int after[SM_STATE_COUNT] = {
        [SM_STATE_CREATED] = SM_STATE_CANCELED,  [SM_STATE_SCHEDULED] = SM_STATE_CANCELED,
        [SM_STATE_RAN] = SM_STATE_CANCELED,      [SM_STATE_RESOLVED] = SM_STATE_RESOLVED,
        [SM_STATE_FAILED] = SM_STATE_FAILED,     [SM_STATE_NESTED_FAILED] = SM_STATE_NESTED_FAILED,
        [SM_STATE_RETRYING] = SM_STATE_CANCELED, [SM_STATE_CANCELED] = SM_STATE_CANCELED,
    };
    for (unsigned i = 1; i <= SM_STATE_COUNT; i++) {
        char id[33];
        id_of(i, id);
        OK(sm_store_get_run(f->s, id, &r, &err));
        if (r.state != after[i - 1])
            fail_msg("run in state %s became %s", sm_state_name((enum sm_state)(i - 1)),
                     sm_state_name((enum sm_state)r.state));
        bool moved = after[i - 1] != (int)(i - 1);
        assert_int_equal(r.seq, moved ? seq + 1 : seq);
        if (moved) {
            assert_true(r.updated_at >= before);
            assert_true(r.failed_at >= before); /* as Sematic's server stamps a cancelled run */
        }
    }
    char other[33];
    id_of(20, other);
    OK(sm_store_get_run(f->s, other, &r, &err));
    assert_int_equal(r.state, SM_STATE_SCHEDULED);
    assert_int_equal(sql_value(f->db,
                               "SELECT count(*) FROM events WHERE kind = "
                               "'pipeline_status' AND payload = '{\"status\":\"CANCELED\"}'"),
                     1);

    /* Again: a no-op. Then an illegal move: an error, and nothing changes. */
    OK(sm_store_set_pipeline_status(f->s, p.root_id, SM_PIPELINE_CANCELED, &err));
    assert_int_equal(sm_store_change_seq(f->s), seq + 1);
    FAILS(SM_EINVALID_TRANSITION,
          sm_store_set_pipeline_status(f->s, p.root_id, SM_PIPELINE_RUNNING, &err));
    sm_err_clear(&err);
    OK(sm_store_get_pipeline(f->s, p.root_id, &g, &err));
    assert_int_equal(g.status, SM_PIPELINE_CANCELED);
    assert_int_equal(sm_store_change_seq(f->s), seq + 1);

    char unknown[33];
    id_of(77, unknown);
    FAILS(SM_ENOTFOUND, sm_store_set_pipeline_status(f->s, unknown, SM_PIPELINE_FAILED, &err));
    sm_err_clear(&err);
    /* The store is usable for batches afterwards. */
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_commit(f->s, &err));
}

static void test_store__completing_a_pipeline_leaves_its_runs_alone(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_pipeline_rec p;
    struct sm_run_rec r;
    pipeline_init(&p, 1, SM_PIPELINE_RUNNING);
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_pipeline(f->s, &p, &err));
    run_init(&r, 2, 1, SM_STATE_SCHEDULED);
    OK(sm_store_put_run(f->s, &r, &err));
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_set_pipeline_status(f->s, p.root_id, SM_PIPELINE_COMPLETE, &err));
    OK(sm_store_get_run(f->s, r.id, &r, &err));
    assert_int_equal(r.state, SM_STATE_SCHEDULED);
}

/* ------------------------------------------------------------ several handles */

static void test_store__a_second_handle_sees_the_first_ones_commits(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_store *b = sm_store_open_sqlite(f->home, SM_STORE_SYNC_FULL, &err);
    if (!b)
        fail_msg("open: %s", err.msg);
    assert_int_equal(sm__store_sqlite_n_migrated(b), 0);
    struct sm_run_rec r, g;
    run_init(&r, 1, 1, SM_STATE_CREATED);
    assert_int_equal(sm_store_get_run(b, r.id, &g, &err), SM_ENOTFOUND);
    sm_err_clear(&err);
    OK(sm_store_begin(f->s, &err));
    OK(sm_store_put_run(f->s, &r, &err));
    /* Not yet visible to the other handle. */
    assert_int_equal(sm_store_get_run(b, r.id, &g, &err), SM_ENOTFOUND);
    sm_err_clear(&err);
    OK(sm_store_commit(f->s, &err));
    OK(sm_store_get_run(b, r.id, &g, &err));
    assert_int_equal(sm_store_change_seq(b), 1);

    /* And the other way round. */
    OK(sm_store_begin(b, &err));
    r.state = SM_STATE_SCHEDULED;
    OK(sm_store_put_run(b, &r, &err));
    OK(sm_store_commit(b, &err));
    OK(sm_store_get_run(f->s, r.id, &g, &err));
    assert_int_equal(g.state, SM_STATE_SCHEDULED);
    assert_int_equal(sm_store_change_seq(f->s), 2);
    sm_store_close(b);
}

static double elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void test_store__a_batch_waits_for_another_processes_batch(void **state)
{
    struct fixture *f = *state;
    /* Neither process may use a connection opened before fork(). */
    sm_store_close(f->s);
    f->s = NULL;
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        struct sm_err err = SM_ERR_INIT;
        struct sm_store *s = sm_store_open_sqlite(f->home, SM_STORE_SYNC_NORMAL, &err);
        if (!s || sm_store_begin(s, &err) != 0)
            _exit(2);
        struct sm_run_rec r;
        run_init(&r, 42, 42, SM_STATE_CREATED);
        if (sm_store_put_run(s, &r, &err) != 0)
            _exit(3);
        if (write(ready[1], "x", 1) != 1)
            _exit(4);
        /* Hold the write lock for a while: the parent's begin must wait, not fail. */
        struct timespec hold = {0, 300 * 1000 * 1000};
        nanosleep(&hold, NULL);
        if (sm_store_commit(s, &err) != 0)
            _exit(5);
        sm_store_close(s);
        _exit(0);
    }
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);

    struct sm_err err = SM_ERR_INIT;
    f->s = sm_store_open_sqlite(f->home, SM_STORE_SYNC_NORMAL, &err);
    if (!f->s)
        fail_msg("open while another process holds a batch: %s", err.msg);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    OK(sm_store_begin(f->s, &err));
    double waited = elapsed_ms(&t0);
    struct sm_run_rec r;
    OK(sm_store_get_run(f->s, "0000000000000000000000000000002a", &r, &err));
    assert_int_equal(r.seq, 1);
    run_init(&r, 43, 43, SM_STATE_CREATED);
    OK(sm_store_put_run(f->s, &r, &err));
    OK(sm_store_commit(f->s, &err));
    assert_int_equal(sm_store_change_seq(f->s), 2);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* Holding the lock, the child's batch is visible as soon as begin returns: begin waited. */
    printf("# begin waited %.1f ms for the other process's batch\n", waited);
}

/* ------------------------------------------------------------ full disk */

enum { FULL_MAX_BATCHES = 2000, FULL_PER_BATCH = 3 };

/*
 * One batch of FULL_PER_BATCH distinct inline artifacts (1500 bytes) and run number batch + 1,
 * committed. Their ids go to ids. Returns 0 or the first failure (the batch rolled back).
 */
static int fill_one_batch(struct sm_store *s, int batch, char ids[][SM_SHA256_HEX_LEN + 1],
                          struct sm_err *err)
{
    char payload[1500];
    int rc = sm_store_begin(s, err);
    for (int i = 0; i < FULL_PER_BATCH && rc == 0; i++) {
        memset(payload, 'a' + i, sizeof(payload));
        snprintf(payload, 32, "%d.%d", batch, i);
        struct sm_artifact_rec a;
        artifact_init(&a, "{\"type\":\"str\"}", payload, sizeof(payload));
        memcpy(ids[i], a.id, sizeof(a.id));
        rc = sm_store_put_artifact(s, &a, payload, sizeof(payload), err);
    }
    if (rc == 0) {
        struct sm_run_rec r;
        run_init(&r, (unsigned)batch + 1, 1, SM_STATE_RESOLVED);
        rc = sm_store_put_run(s, &r, err);
    }
    if (rc == 0)
        return sm_store_commit(s, err);
    sm_store_rollback(s);
    return rc;
}

static void test_store__a_full_disk_fails_the_commit_and_loses_nothing_committed(void **state)
{
    struct fixture *f = *state;
    if (geteuid() != 0)
        skip();
    char mnt[256];
    snprintf(mnt, sizeof(mnt), "%s/small", f->dir);
    assert_int_equal(mkdir(mnt, 0755), 0);
    /* 1 MiB: the empty schema alone takes ~160 KiB twice over (file and WAL). */
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") != 0) {
        rmdir(mnt);
        skip();
    }
    char home[300];
    snprintf(home, sizeof(home), "%s/home", mnt);
    struct sm_err err = SM_ERR_INIT;
    struct sm_store *s = sm_store_open_sqlite(home, SM_STORE_SYNC_FULL, &err);
    if (!s) {
        umount2(mnt, MNT_DETACH);
        fail_msg("open on tmpfs: %s", err.msg);
    }

    /* Inline values until SQLite itself runs out of room. */
    static char ids[FULL_MAX_BATCHES * FULL_PER_BATCH][SM_SHA256_HEX_LEN + 1];
    int n_committed = 0, failed_rc = 0;
    while (n_committed < FULL_MAX_BATCHES) {
        failed_rc = fill_one_batch(s, n_committed, &ids[n_committed * FULL_PER_BATCH], &err);
        if (failed_rc)
            break;
        n_committed++;
    }
    int code = err.code;
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", err.msg);
    sm_err_clear(&err);
    printf("# full disk after %d batches: %s: %s\n", n_committed, sm_err_name(code), msg);

    /* The store stays readable and writable on the same handle. */
    struct sm_run_rec r;
    int read_rc =
        n_committed ? sm_store_get_run(s, "00000000000000000000000000000001", &r, &err) : 0;
    sm_err_clear(&err);

    /* A blob that does not fit: the put fails, and a commit anyway rolls the batch back. */
    static char big[65536];
    memset(big, 'b', sizeof(big));
    struct sm_artifact_rec a;
    artifact_init(&a, "{\"type\":\"bytes\"}", big, sizeof(big));
    int blob_rc = sm_store_begin(s, &err);
    if (blob_rc == 0)
        blob_rc = sm_store_put_artifact(s, &a, big, sizeof(big), &err);
    char blob_msg[256];
    snprintf(blob_msg, sizeof(blob_msg), "%s", err.msg);
    sm_err_clear(&err);
    struct sm_run_rec late;
    run_init(&late, 9999, 1, SM_STATE_RESOLVED);
    int late_put_rc = blob_rc == SM_ENOSPC ? sm_store_put_run(s, &late, &err) : 0;
    sm_err_clear(&err);
    int poisoned_rc = blob_rc == SM_ENOSPC ? sm_store_commit(s, &err) : 0;
    sm_err_clear(&err);
    sm_store_close(s);
    s = NULL;

    /* Reopen (still full) and check every committed row. */
    int bad = 0;
    char bad_msg[256] = "";
    s = sm_store_open_sqlite(home, SM_STORE_SYNC_FULL, &err);
    if (s) {
        struct sm_buf b = SM_BUF_INIT(1 << 20);
        for (int i = 0; i < n_committed * FULL_PER_BATCH && !bad; i++) {
            struct sm_artifact_rec got;
            sm_buf_reset(&b);
            if (sm_store_get_artifact(s, ids[i], &got, &b, &err) != 0) {
                bad = i + 1;
                snprintf(bad_msg, sizeof(bad_msg), "%s", err.msg);
            }
        }
        for (int i = 0; i < n_committed && !bad; i++) {
            char id[33];
            id_of((unsigned)i + 1, id);
            if (sm_store_get_run(s, id, &r, &err) != 0) {
                bad = -(i + 1);
                snprintf(bad_msg, sizeof(bad_msg), "%s", err.msg);
            }
        }
        /* The failed batches left nothing behind. */
        char failed_id[33];
        id_of((unsigned)n_committed + 1, failed_id);
        if (!bad && (sm_store_get_run(s, failed_id, &r, &err) != SM_ENOTFOUND ||
                     sm_store_get_run(s, late.id, &r, &err) != SM_ENOTFOUND)) {
            bad = -1000;
            snprintf(bad_msg, sizeof(bad_msg), "a run of a failed batch was stored");
        }
        sm_err_clear(&err);
        sm_buf_release(&b);
        sm_store_close(s);
    } else {
        snprintf(bad_msg, sizeof(bad_msg), "reopen: %.200s", err.msg);
        bad = 1;
    }
    umount2(mnt, MNT_DETACH);
    rmdir(mnt);

    if (!failed_rc)
        fail_msg("%d batches fitted on a 1 MiB disk", n_committed);
    assert_true(n_committed > 0);
    if (failed_rc != SM_ENOSPC || code != SM_ENOSPC)
        fail_msg("a full disk gave %s: %s", sm_err_name(failed_rc), msg);
    check_has(msg, home, __LINE__);
    check_has(msg, "no space left on device", __LINE__);
    if (read_rc)
        fail_msg("after the failed commit the store is not readable: %s", sm_err_name(read_rc));
    if (blob_rc != SM_ENOSPC)
        fail_msg("a blob on a full disk gave %s: %s", sm_err_name(blob_rc), blob_msg);
    check_has(blob_msg, home, __LINE__);
    if (late_put_rc != 0)
        fail_msg("a put after a failed one gave %s", sm_err_name(late_put_rc));
    if (poisoned_rc != SM_ENOSPC)
        fail_msg("committing a batch whose blob failed gave %s", sm_err_name(poisoned_rc));
    if (bad)
        fail_msg("after reopening, committed record %d is lost: %s", bad, bad_msg);
}

/* ------------------------------------------------------------ speed (printed, not asserted) */

static void test_store__puts_in_batches_are_fast(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    const char *n_env = getenv("SM_STORE_BENCH_N");
    int n = n_env ? (int)strtol(n_env, NULL, 10) : 2000;
    int per_batch = 1000;
    for (int mode = 0; mode < 2; mode++) {
        enum sm_store_sync sync = mode == 0 ? SM_STORE_SYNC_FULL : SM_STORE_SYNC_NORMAL;
        char home[256];
        snprintf(home, sizeof(home), "%s/bench%d", f->dir, mode);
        struct sm_store *s = sm_store_open_sqlite(home, sync, &err);
        if (!s)
            fail_msg("open: %s", err.msg);
        double put_ms = 0, commit_ms = 0;
        int batches = 0;
        struct sm_run_rec r;
        run_init(&r, 1, 1, SM_STATE_CREATED);
        r.tags_json = "[\"bench\"]";
        r.exception_json = NULL;
        for (int i = 0; i < n; i += per_batch) {
            struct timespec t0;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            OK(sm_store_begin(s, &err));
            for (int j = i; j < i + per_batch && j < n; j++) {
                snprintf(r.id, sizeof(r.id), "%032x", (unsigned)j + 1);
                r.created_at = j;
                OK(sm_store_put_run(s, &r, &err));
            }
            put_ms += elapsed_ms(&t0);
            clock_gettime(CLOCK_MONOTONIC, &t0);
            OK(sm_store_commit(s, &err));
            commit_ms += elapsed_ms(&t0);
            batches++;
        }
        printf("# store: %d put_run in batches of %d, sync %s: %.2f us per put (begin included), "
               "%.3f ms per commit\n",
               n, per_batch, mode == 0 ? "FULL" : "NORMAL", put_ms * 1e3 / n, commit_ms / batches);
        sm_store_close(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store__formats_times_as_iso_8601_utc_with_microseconds),
        cmocka_unit_test(test_store__pipeline_statuses_follow_api_2_4),
        cmocka_unit_test(test_store__default_home_is_sematic_home_else_dot_sematic),
        cmocka_unit_test(test_store__records_become_json_with_sematic_field_names),
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_store__a_fresh_home_is_migrated_once),
        T(test_store__a_fresh_migrate_matches_the_schema_snapshot),
        T(test_store__down_then_up_again_gives_the_same_schema),
        T(test_store__a_newer_schema_is_refused_with_upgrade_advice),
        T(test_store__a_file_that_is_not_a_database_is_refused),
        T(test_store__a_store_missing_a_table_of_the_schema_is_refused),
        T(test_store__a_home_that_is_a_file_is_an_io_error_naming_it),
        T(test_store__nested_homes_are_created),
        T(test_store__a_run_round_trips_every_field),
        T(test_store__put_run_replaces_the_whole_record),
        T(test_store__the_is_new_write_hint_never_changes_what_is_stored),
        T(test_store__new_rows_written_many_at_a_time_are_seen_by_every_read),
        T(test_store__a_rollback_drops_the_new_rows_still_waiting),
        T(test_store__a_sync_later_writer_leaves_sync_and_checkpoint_to_others),
        T(test_store__a_batch_key_is_claimed_once_and_a_rollback_frees_it),
        T(test_store__trim_gives_back_the_page_cache_past_what_it_keeps),
        T(test_store__bad_arguments_are_invalid_with_a_clear_message),
        T(test_store__writes_outside_a_batch_are_refused),
        T(test_store__change_seq_grows_once_per_commit_that_writes),
        T(test_store__runs_of_one_function_share_its_functions_row),
        T(test_store__each_batch_that_writes_runs_lists_them_in_events),
        T(test_store__small_artifacts_live_in_the_row),
        T(test_store__an_artifact_whose_id_does_not_match_is_refused),
        T(test_store__large_artifacts_go_to_one_blob_and_back),
        T(test_store__a_damaged_or_missing_blob_is_corrupt),
        T(test_store__a_tampered_inline_payload_is_corrupt),
        T(test_store__gc_removes_only_unreferenced_blobs),
        T(test_store__list_runs_filters_orders_and_limits),
        T(test_store__a_listing_stops_when_the_callback_says_so),
        T(test_store__edges_and_artifacts_list_by_pipeline_and_by_run),
        T(test_store__edge_fields_round_trip),
        T(test_store__logs_page_by_id),
        T(test_store__pipeline_runs_round_trip_and_check_transitions),
        T(test_store__cancelling_a_pipeline_cancels_its_unfinished_runs),
        T(test_store__completing_a_pipeline_leaves_its_runs_alone),
        T(test_store__a_second_handle_sees_the_first_ones_commits),
        T(test_store__a_batch_waits_for_another_processes_batch),
        T(test_store__a_full_disk_fails_the_commit_and_loses_nothing_committed),
        T(test_store__puts_in_batches_are_fast),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
