/*
 * sqlite_server.c: the records the server adds, on the SQLite backend:
 * notes, metric points and their roll-ups, users and API keys, and the
 * objects of Sematic's storage endpoints (include/sematic/store.h).
 *
 * Invariants.
 *  - Writes happen inside a batch, as the engine's do, and fail it as they
 *    do (sm__sq_poison); a refusal for a reason of the caller's (a missing
 *    note, an email that another user has) does not spoil the batch.
 *  - An API key is never stored or logged: only its SHA-256, looked up by
 *    index and then compared once more in constant time.
 *  - Storage objects are content-addressed blobs (sm_blob_put) named by a
 *    (namespace, key) row, so equal uploads are stored once and the commit
 *    fsyncs them before the row that names them is visible.
 *
 * Start reading at sm__sq_put_note(), sm__sq_metric_series(),
 * sm__sq_find_user_by_api_key(), sm__sq_put_object().
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <sqlite3.h>

#include "sematic/alloc.h"
#include "sematic/blob.h"
#include "sematic/buf.h"
#include "sematic/hash.h"
#include "sematic/json.h"
#include "sematic/store.h"
#include "store/internal.h"
#include "store/sqlite_int.h"

#include "util/banned.h"

/* This file's cached statements, in aux slots 8 and up (sqlite_query.c has 0 to 7). */
enum {
    A_NOTE_PUT = 8,
    A_NOTE_GET,
    A_NOTE_DELETE,
    A_METRIC_PUT,
    A_METRIC_EXISTS,
    A_METRIC_NAMES,
    A_USER_EMAIL,
    A_USER_PUT,
    A_USER_KEY,
    A_USER_BY_ID,
    A_USER_BY_EMAIL,
    A_USER_BY_KEY,
    A_USERS,
    A_OBJECT_PUT,
    A_OBJECT_GET,
    A_BATCH_KEY_PUT,
    A_BATCH_KEYS_PRUNE,
    A_END
};
_Static_assert(A_END <= N_AUX_STMT, "sqlite_int.h: raise N_AUX_STMT");

#define USER_COLS                                                                                  \
    "id, email, first_name, last_name, avatar_url, created_at, updated_at, "                       \
    "api_key_hash IS NOT NULL"

static const char *const aux_sql[A_END] = {
    [A_NOTE_PUT] = "INSERT INTO notes (" NOTE_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                   "ON CONFLICT (id) DO UPDATE SET user = excluded.user, note = excluded.note, "
                   "run_id = excluded.run_id, root_id = excluded.root_id, created_at = "
                   "excluded.created_at, updated_at = excluded.updated_at, seq = excluded.seq",
    [A_NOTE_GET] = "SELECT " NOTE_COLS " FROM notes WHERE id = ?1",
    [A_NOTE_DELETE] = "DELETE FROM notes WHERE id = ?1",
    [A_METRIC_PUT] = "INSERT INTO metric_points (run_id, root_id, name, value, step, labels, ts, "
                     "seq, metric_type) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [A_METRIC_EXISTS] = "SELECT 1 FROM metric_points WHERE name = ?1 LIMIT 1",
    [A_METRIC_NAMES] = "SELECT DISTINCT name FROM metric_points ORDER BY name",
    [A_USER_EMAIL] = "SELECT id FROM users WHERE email = ?1",
    [A_USER_PUT] = "INSERT INTO users (id, email, first_name, last_name, avatar_url, created_at, "
                   "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO UPDATE "
                   "SET email = excluded.email, first_name = excluded.first_name, last_name = "
                   "excluded.last_name, avatar_url = excluded.avatar_url, updated_at = "
                   "excluded.updated_at",
    [A_USER_KEY] = "UPDATE users SET api_key_hash = ?2, updated_at = ?3 WHERE id = ?1",
    [A_USER_BY_ID] = "SELECT " USER_COLS ", api_key_hash FROM users WHERE id = ?1",
    [A_USER_BY_EMAIL] = "SELECT " USER_COLS ", api_key_hash FROM users WHERE email = ?1",
    [A_USER_BY_KEY] = "SELECT " USER_COLS ", api_key_hash FROM users WHERE api_key_hash = ?1",
    [A_USERS] = "SELECT " USER_COLS " FROM users ORDER BY created_at, id",
    [A_OBJECT_PUT] = "INSERT INTO storage_objects (namespace, key, blob_key, size_bytes, "
                     "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT "
                     "(namespace, key) DO UPDATE SET blob_key = excluded.blob_key, size_bytes = "
                     "excluded.size_bytes, updated_at = excluded.updated_at",
    [A_OBJECT_GET] = "SELECT blob_key, size_bytes FROM storage_objects WHERE namespace = ?1 AND "
                     "key = ?2",
    [A_BATCH_KEY_PUT] = "INSERT OR IGNORE INTO batch_keys (key, change_seq) VALUES (?1, ?2)",
    [A_BATCH_KEYS_PRUNE] = "DELETE FROM batch_keys WHERE id <= ?1",
};

static sqlite3_stmt *aux(struct sqlite_store *st, int slot, struct sm_err *err)
{
    return sm__sq_aux(st, slot, aux_sql[slot], err);
}

/* Bind with BIND(), step, reset: 0 or the translated failure. */
static int run_bound(struct sqlite_store *st, sqlite3_stmt *s, int brc, struct sm_err *err)
{
    if (brc == SQLITE_OK)
        return sm__sq_step_done(st, s, "write", err);
    int rc = sm__sq_fail(st, brc, "write", err);
    done(s);
    return rc;
}

/* A cached listing statement, or a fresh one (*owned) while a callback is still stepping it. */
static sqlite3_stmt *listing(struct sqlite_store *st, int slot, bool *owned, struct sm_err *err)
{
    *owned = false;
    sqlite3_stmt *s = aux(st, slot, err);
    if (s && sqlite3_stmt_busy(s)) {
        sqlite3_stmt *fresh = NULL;
        int rc = sqlite3_prepare_v2(st->db, aux_sql[slot], -1, &fresh, NULL);
        if (rc != SQLITE_OK) {
            st->prep_rc = sm__sq_fail(st, rc, "read", err);
            sqlite3_finalize(fresh);
            return NULL;
        }
        *owned = true;
        s = fresh;
    }
    return s;
}

static void listing_done(sqlite3_stmt *s, bool owned)
{
    if (owned)
        sqlite3_finalize(s);
    else
        done(s);
}

/* ------------------------------------------------------------ notes */

void sm__sq_note_from_row(struct texts *t, sqlite3_stmt *s, struct sm_note_rec *n)
{
    col_id(s, 0, n->id, sizeof(n->id));
    sm__sq_col_text(t, s, 1, &n->user_id);
    sm__sq_col_text(t, s, 2, &n->note);
    col_id(s, 3, n->run_id, sizeof(n->run_id));
    col_id(s, 4, n->root_id, sizeof(n->root_id));
    n->created_at = sqlite3_column_int64(s, 5);
    n->updated_at = sqlite3_column_int64(s, 6);
    n->seq = sqlite3_column_int64(s, 7);
}

static int note_event(struct sqlite_store *st, const char *id, const char *run_id,
                      const char *root_id, bool deleted, struct sm_err *err)
{
    char payload[160];
    snprintf(payload, sizeof(payload), "{\"run_id\":\"%s\",\"root_id\":\"%s\",\"deleted\":%s}",
             run_id, root_id, deleted ? "true" : "false");
    return sm__sq_put_event(st, st->batch_seq, "note", id, payload, err);
}

int sm__sq_put_note(struct sm_store *base, const struct sm_note_rec *n, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    if (!st->in_batch)
        return sm__sq_outside_batch(st, "write a note", err);
    sqlite3_stmt *s = aux(st, A_NOTE_PUT, err);
    if (!s)
        return sm__sq_poison(st, st->prep_rc, err);
    int brc = SQLITE_OK;
    BIND(sqlite3_bind_text(s, 1, n->id, -1, SQLITE_STATIC));
    BIND(bind_text(s, 2, n->user_id));
    BIND(sqlite3_bind_text(s, 3, n->note, -1, SQLITE_STATIC));
    BIND(sqlite3_bind_text(s, 4, n->run_id, -1, SQLITE_STATIC));
    BIND(sqlite3_bind_text(s, 5, n->root_id, -1, SQLITE_STATIC));
    BIND(sqlite3_bind_int64(s, 6, n->created_at));
    BIND(sqlite3_bind_int64(s, 7, n->updated_at));
    BIND(sqlite3_bind_int64(s, 8, st->batch_seq));
    int rc = run_bound(st, s, brc, err);
    if (!rc)
        rc = note_event(st, n->id, n->run_id, n->root_id, false, err);
    if (rc)
        return sm__sq_poison(st, rc, err);
    st->dirty = true;
    return 0;
}

int sm__sq_get_note(struct sm_store *base, const char *id, struct sm_note_rec *out,
                    struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    sqlite3_stmt *s = aux(st, A_NOTE_GET, err);
    if (!s)
        return st->prep_rc;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int out_rc = 0;
    if (rc == SQLITE_ROW) {
        struct texts t;
        sm__sq_texts_init(&t, st, true);
        sm__sq_note_from_row(&t, s, out);
        out_rc = sm__sq_texts_finish(&t, "note", id, err);
    } else if (rc == SQLITE_DONE) {
        out_rc = sm_errf(err, SM_ENOTFOUND, "note '%s' not found; list the notes of its run", id);
    } else {
        out_rc = sm__sq_fail(st, rc, "read", err);
    }
    done(s);
    return out_rc;
}

int sm__sq_delete_note(struct sm_store *base, const char *id, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    if (!st->in_batch)
        return sm__sq_outside_batch(st, "delete a note", err);
    struct sm_note_rec n;
    int rc = sm__sq_get_note(base, id, &n, err);
    if (rc == SM_ENOTFOUND)
        return rc; /* the caller's mistake: the batch goes on */
    if (rc)
        return sm__sq_poison(st, rc, err);
    char run_id[SM_ID_HEX_LEN + 1], root_id[SM_ID_HEX_LEN + 1];
    memcpy(run_id, n.run_id, sizeof(run_id));
    memcpy(root_id, n.root_id, sizeof(root_id));
    sqlite3_stmt *s = aux(st, A_NOTE_DELETE, err);
    if (!s)
        return sm__sq_poison(st, st->prep_rc, err);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    rc = sm__sq_step_done(st, s, "write", err);
    if (!rc)
        rc = note_event(st, id, run_id, root_id, true, err);
    if (rc)
        return sm__sq_poison(st, rc, err);
    st->dirty = true;
    return 0;
}

/* ------------------------------------------------------------ metrics */

int sm__sq_append_metrics(struct sm_store *base, const struct sm_metric_point *points, size_t n,
                          struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    if (!st->in_batch)
        return sm__sq_outside_batch(st, "append metric points", err);
    if (n == 0)
        return 0;
    sqlite3_stmt *s = aux(st, A_METRIC_PUT, err);
    if (!s)
        return sm__sq_poison(st, st->prep_rc, err);
    for (size_t i = 0; i < n; i++) {
        const struct sm_metric_point *m = &points[i];
        int brc = SQLITE_OK;
        BIND(bind_id(s, 1, m->run_id));
        BIND(bind_id(s, 2, m->root_id));
        BIND(sqlite3_bind_text(s, 3, m->name, -1, SQLITE_STATIC));
        BIND(sqlite3_bind_double(s, 4, m->value));
        BIND(m->step >= 0 ? sqlite3_bind_int64(s, 5, m->step) : sqlite3_bind_null(s, 5));
        BIND(bind_text(s, 6, m->labels_json));
        BIND(sqlite3_bind_int64(s, 7, m->ts));
        BIND(sqlite3_bind_int64(s, 8, st->batch_seq));
        BIND(sqlite3_bind_int(s, 9, m->metric_type));
        int rc = run_bound(st, s, brc, err);
        if (rc)
            return sm__sq_poison(st, rc, err);
        sm__sq_set_add(&st->batch_metrics, m->name, strlen(m->name));
    }
    st->dirty = true;
    return 0;
}

/* Append `$."<key>"` (a JSON path naming one label) to b; false for keys it cannot quote. */
static bool label_path(struct sm_buf *b, const char *key, size_t len)
{
    if (len == 0 || memchr(key, '"', len) || memchr(key, '\\', len))
        return false;
    return sm_buf_adds(b, "$.\"") == 0 && sm_buf_add(b, key, len) == 0 && sm_buf_adds(b, "\"") == 0;
}

/* A statement's SQL and the texts it binds (all text), built from a labels filter. */
struct msql {
    struct sm_buf sql;
    struct sm_buf texts; /* bound texts, NUL-separated, in order */
    size_t n;
    int first; /* the number of the first text's parameter (fixed ones come before) */
    int rc;
};

static void msql_add(struct msql *m, const char *sql)
{
    if (!m->rc)
        m->rc = sm_buf_adds(&m->sql, sql);
}

/* Add a bound text (len bytes) and its numbered parameter to the SQL. */
static void msql_bind(struct msql *m, const char *text, size_t len)
{
    if (!m->rc)
        m->rc = sm_buf_addf(&m->sql, "?%d", m->first + (int)m->n);
    if (!m->rc)
        m->rc = sm_buf_add(&m->texts, text, len);
    if (!m->rc)
        m->rc = sm_buf_addc(&m->texts, '\0');
    m->n++;
}

/* Each label condition of labels_json as " AND ..." (see struct sm_metric_query). */
static int compile_labels(struct msql *m, const char *labels_json, struct sm_err *err)
{
    if (!labels_json)
        return 0;
    struct sm_json_doc doc;
    int rc = sm_json_parse(&doc, labels_json, strlen(labels_json), err);
    if (rc)
        return sm_errf(err, SM_EINVAL, "invalid metric labels");
    const struct sm_json *root = doc.root;
    struct sm_buf path = SM_BUF_INIT(4096);
    for (size_t i = 0; i < root->n_items && !rc; i++) {
        const struct sm_json *v = &root->items[i];
        if (strcmp(v->key, "root") == 0 && v->kind == SM_JSON_BOOL) {
            msql_add(m, v->boolean ? " AND json_extract(labels, '$.run_id') = "
                                     "json_extract(labels, '$.root_id')"
                                   : " AND json_extract(labels, '$.run_id') != "
                                     "json_extract(labels, '$.root_id')");
            continue;
        }
        sm_buf_reset(&path);
        if (!label_path(&path, v->key, v->key_len)) {
            rc = sm_errf(err, SM_EINVAL,
                         "invalid metric label '%.60s': a label name may not be empty or hold "
                         "'\"' or '\\'",
                         v->key);
            break;
        }
        if (v->kind == SM_JSON_ARRAY || v->kind == SM_JSON_OBJECT) {
            rc = sm_errf(err, SM_EINVAL,
                         "invalid metric label '%.60s': compared with a list or object; compare "
                         "it with a string",
                         v->key);
            break;
        }
        msql_add(m, " AND CAST(json_extract(labels, ");
        msql_bind(m, path.data, path.len);
        if (v->kind == SM_JSON_NULL) {
            msql_add(m, ") AS TEXT) IS NULL");
            continue;
        }
        msql_add(m, ") AS TEXT) = ");
        if (v->kind == SM_JSON_BOOL)
            msql_bind(m, v->boolean ? "True" : "False", v->boolean ? 4 : 5); /* Python's str() */
        else
            msql_bind(m, v->str, v->len); /* a string, or a number's text */
    }
    sm_buf_release(&path);
    sm_json_doc_release(&doc);
    return rc;
}

/* Prepare m's SQL and bind copies of its texts (m is released before the statement runs). */
static int msql_prepare(struct sqlite_store *st, struct msql *m, sqlite3_stmt **out,
                        struct sm_err *err)
{
    *out = NULL;
    if (m->rc)
        return sm_errf(err, SM_ETOOBIG, "cannot read metrics: the label filter is too long");
    int rc = sm__sq_flush_pending(st, err);
    if (rc)
        return rc;
    rc = sqlite3_prepare_v2(st->db, m->sql.data, (int)m->sql.len, out, NULL);
    if (rc != SQLITE_OK) {
        rc = sm__sq_fail(st, rc, "read", err);
        sqlite3_finalize(*out);
        *out = NULL;
        return rc;
    }
    const char *text = m->texts.data;
    for (size_t i = 0, off = 0; i < m->n; i++) {
        sqlite3_bind_text(*out, m->first + (int)i, text + off, -1, SQLITE_TRANSIENT);
        off += strlen(text + off) + 1;
    }
    return 0;
}

static void msql_init(struct msql *m, int first)
{
    memset(m, 0, sizeof(*m));
    m->first = first;
    sm_buf_init(&m->sql, 1 << 20);
    sm_buf_init(&m->texts, 1 << 20);
}

static void msql_release(struct msql *m)
{
    sm_buf_release(&m->sql);
    sm_buf_release(&m->texts);
}

int sm__sq_list_metric_names(struct sm_store *base, const char *labels_json, sm_name_fn fn,
                             void *ctx, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    sqlite3_stmt *s = NULL;
    bool owned = false;
    int rc;
    if (!labels_json) {
        s = listing(st, A_METRIC_NAMES, &owned, err);
        if (!s)
            return st->prep_rc;
    } else {
        struct msql m;
        msql_init(&m, 1);
        msql_add(&m, "SELECT DISTINCT name FROM metric_points WHERE 1");
        rc = compile_labels(&m, labels_json, err);
        msql_add(&m, " ORDER BY name");
        rc = rc ? rc : msql_prepare(st, &m, &s, err);
        msql_release(&m);
        if (rc)
            return rc;
        owned = true;
    }
    int out = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *name = sqlite3_column_text(s, 0);
        out = fn(ctx, name ? (const char *)name : "");
        if (out)
            break;
    }
    if (!out && rc != SQLITE_DONE && rc != SQLITE_ROW)
        out = sm__sq_fail(st, rc, "read", err);
    listing_done(s, owned);
    return out;
}

static int metric_exists(struct sqlite_store *st, const char *name, struct sm_err *err)
{
    sqlite3_stmt *s = aux(st, A_METRIC_EXISTS, err);
    if (!s)
        return st->prep_rc;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int out = 0;
    if (rc == SQLITE_DONE)
        out =
            sm_errf(err, SM_ENOTFOUND,
                    "no metric named '%.80s' was found; GET /api/v1/metrics lists the names", name);
    else if (rc != SQLITE_ROW)
        out = sm__sq_fail(st, rc, "read", err);
    done(s);
    return out;
}

int sm__sq_metric_series(struct sm_store *base, const struct sm_metric_query *q, sm_bucket_fn fn,
                         void *ctx, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    int rc = metric_exists(st, q->name, err);
    if (rc)
        return rc;
    /* Buckets of equal width from from_us; the last may reach past to_us. */
    int64_t n = q->n_buckets > 1 ? q->n_buckets : 1;
    int64_t range = q->to_us - q->from_us;
    int64_t width = range / n + (range % n ? 1 : 0);
    if (width < 1)
        width = 1;

    struct msql m;
    msql_init(&m, 5);
    msql_add(&m, "SELECT (ts - ?1) / ?2 AS bucket, ");
    if (q->group_by) {
        struct sm_buf path = SM_BUF_INIT(256);
        bool ok = label_path(&path, q->group_by, strlen(q->group_by));
        msql_add(&m, "CAST(json_extract(labels, ");
        msql_bind(&m, ok ? path.data : "$.\"\"", ok ? path.len : 5);
        msql_add(&m, ") AS TEXT)");
        sm_buf_release(&path);
    } else {
        msql_add(&m, "NULL");
    }
    msql_add(&m, " AS grp, count(*), sum(value), min(value), max(value), min(metric_type) "
                 "FROM metric_points WHERE name = ?3 AND ts >= ?1 AND ts < ?4");
    rc = compile_labels(&m, q->labels_json, err);
    msql_add(&m, " GROUP BY grp, bucket ORDER BY grp, bucket");
    sqlite3_stmt *s = NULL;
    rc = rc ? rc : msql_prepare(st, &m, &s, err);
    msql_release(&m);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, q->from_us);
    sqlite3_bind_int64(s, 2, width);
    sqlite3_bind_text(s, 3, q->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, q->to_us);
    int out = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct sm_metric_bucket b;
        b.start_us = q->from_us + sqlite3_column_int64(s, 0) * width;
        b.group = (const char *)sqlite3_column_text(s, 1);
        b.count = sqlite3_column_int64(s, 2);
        b.sum = sqlite3_column_double(s, 3);
        b.min = sqlite3_column_double(s, 4);
        b.max = sqlite3_column_double(s, 5);
        b.metric_type = sqlite3_column_int(s, 6);
        b.avg = b.count ? b.sum / (double)b.count : 0.0;
        out = fn(ctx, &b);
        if (out)
            break;
    }
    if (!out && rc != SQLITE_DONE && rc != SQLITE_ROW)
        out = sm__sq_fail(st, rc, "read", err);
    sqlite3_finalize(s);
    return out;
}

/* ------------------------------------------------------------ users and API keys */

static void user_from_row(struct texts *t, sqlite3_stmt *s, struct sm_user_rec *u)
{
    col_id(s, 0, u->id, sizeof(u->id));
    sm__sq_col_text(t, s, 1, &u->email);
    sm__sq_col_text(t, s, 2, &u->first_name);
    sm__sq_col_text(t, s, 3, &u->last_name);
    sm__sq_col_text(t, s, 4, &u->avatar_url);
    u->created_at = sqlite3_column_int64(s, 5);
    u->updated_at = sqlite3_column_int64(s, 6);
    u->has_api_key = sqlite3_column_int(s, 7) != 0;
}

int sm__sq_put_user(struct sm_store *base, const struct sm_user_rec *u, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    if (!st->in_batch)
        return sm__sq_outside_batch(st, "write a user", err);
    /* Emails are unique: say so rather than let the constraint fail the batch. */
    sqlite3_stmt *s = aux(st, A_USER_EMAIL, err);
    if (!s)
        return sm__sq_poison(st, st->prep_rc, err);
    sqlite3_bind_text(s, 1, u->email, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    bool taken = false;
    if (rc == SQLITE_ROW) {
        const unsigned char *id = sqlite3_column_text(s, 0);
        taken = !id || strcmp((const char *)id, u->id) != 0;
    } else if (rc != SQLITE_DONE) {
        rc = sm__sq_fail(st, rc, "read", err);
        done(s);
        return sm__sq_poison(st, rc, err);
    }
    done(s);
    if (taken)
        return sm_errf(err, SM_EINVAL,
                       "cannot store user '%s': another user has email '%.80s'; update that "
                       "user instead",
                       u->id, u->email);
    s = aux(st, A_USER_PUT, err);
    if (!s)
        return sm__sq_poison(st, st->prep_rc, err);
    int brc = SQLITE_OK;
    BIND(sqlite3_bind_text(s, 1, u->id, -1, SQLITE_STATIC));
    BIND(sqlite3_bind_text(s, 2, u->email, -1, SQLITE_STATIC));
    BIND(bind_text(s, 3, u->first_name));
    BIND(bind_text(s, 4, u->last_name));
    BIND(bind_text(s, 5, u->avatar_url));
    BIND(sqlite3_bind_int64(s, 6, u->created_at));
    BIND(sqlite3_bind_int64(s, 7, u->updated_at));
    rc = run_bound(st, s, brc, err);
    if (rc)
        return sm__sq_poison(st, rc, err);
    st->dirty = true;
    return 0;
}

/* Hex SHA-256 of an API key: what the users table holds. */
static void key_hash(const char *key, size_t len, char hex[SM_SHA256_HEX_LEN + 1])
{
    uint8_t digest[SM_SHA256_LEN];
    sm_sha256(key, len, digest);
    sm_hex(digest, SM_SHA256_LEN, hex);
}

static const char key_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int sm__sq_new_api_key(struct sm_store *base, const char *user_id, char key_out[SM_API_KEY_LEN + 1],
                       struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    key_out[0] = '\0';
    if (!st->in_batch)
        return sm__sq_outside_batch(st, "make an API key", err);
    /* 32 bytes from the kernel's CSPRNG, as base64url without padding (43 characters). */
    uint8_t bytes[33] = {0};
    size_t got = 0;
    while (got < 32) {
        ssize_t n = getrandom(bytes + got, 32 - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            char buf[128];
            const char *why = strerror_r(errno, buf, sizeof(buf));
            return sm_errf(err, SM_EIO, "cannot make an API key: getrandom failed: %s", why);
        }
        got += (size_t)n;
    }
    char key[SM_API_KEY_LEN + 1];
    size_t o = 0;
    for (size_t i = 0; i < 32; i += 3) {
        uint32_t v = (uint32_t)bytes[i] << 16 | (uint32_t)bytes[i + 1] << 8 |
                     (i + 2 < 32 ? bytes[i + 2] : 0);
        key[o++] = key_alphabet[(v >> 18) & 63];
        key[o++] = key_alphabet[(v >> 12) & 63];
        key[o++] = key_alphabet[(v >> 6) & 63];
        if (i + 2 < 32)
            key[o++] = key_alphabet[v & 63];
    }
    key[o] = '\0';
    char hash[SM_SHA256_HEX_LEN + 1];
    key_hash(key, o, hash);

    sqlite3_stmt *s = aux(st, A_USER_KEY, err);
    if (!s)
        return sm__sq_poison(st, st->prep_rc, err);
    int brc = SQLITE_OK;
    BIND(sqlite3_bind_text(s, 1, user_id, -1, SQLITE_STATIC));
    BIND(sqlite3_bind_text(s, 2, hash, -1, SQLITE_STATIC));
    BIND(sqlite3_bind_int64(s, 3, sm_now_us()));
    int rc = run_bound(st, s, brc, err);
    if (rc)
        return sm__sq_poison(st, rc, err);
    if (sqlite3_changes(st->db) == 0)
        return sm_errf(err, SM_ENOTFOUND,
                       "cannot make an API key for user '%s': no such user; store the user "
                       "first (sm_store_put_user)",
                       user_id);
    memcpy(key_out, key, o + 1);
    memset(key, 0, sizeof(key));
    st->dirty = true;
    return 0;
}

/* Read one user row from statement s (id, email or key hash bound) into out. */
static int read_user(struct sqlite_store *st, sqlite3_stmt *s, const char *what,
                     const char *expect_hash, struct sm_user_rec *out, struct sm_err *err)
{
    int rc = sqlite3_step(s);
    int out_rc = 0;
    if (rc == SQLITE_ROW) {
        /* The index found the row by hash; compare again without an early exit. */
        if (expect_hash) {
            const unsigned char *stored = sqlite3_column_text(s, 8);
            unsigned diff = stored ? 0 : 1;
            for (size_t i = 0; stored && i < SM_SHA256_HEX_LEN; i++)
                diff |= (unsigned)(stored[i] ^ (unsigned char)expect_hash[i]);
            if (diff) {
                done(s);
                return sm_errf(err, SM_ENOTFOUND, "unknown API key; pass the key of a user");
            }
        }
        struct texts t;
        sm__sq_texts_init(&t, st, true);
        user_from_row(&t, s, out);
        out_rc = sm__sq_texts_finish(&t, "user", out->id, err);
    } else if (rc == SQLITE_DONE) {
        out_rc = expect_hash ? sm_errf(err, SM_ENOTFOUND, "unknown API key; pass the key of a user")
                             : sm_errf(err, SM_ENOTFOUND, "user %s not found", what);
    } else {
        out_rc = sm__sq_fail(st, rc, "read", err);
    }
    done(s);
    return out_rc;
}

int sm__sq_get_user(struct sm_store *base, const char *id, const char *email,
                    struct sm_user_rec *out, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    sqlite3_stmt *s = aux(st, id ? A_USER_BY_ID : A_USER_BY_EMAIL, err);
    if (!s)
        return st->prep_rc;
    sqlite3_bind_text(s, 1, id ? id : email, -1, SQLITE_STATIC);
    char what[140];
    snprintf(what, sizeof(what), "%s '%.100s'", id ? "with id" : "with email", id ? id : email);
    return read_user(st, s, what, NULL, out, err);
}

int sm__sq_find_user_by_api_key(struct sm_store *base, const char *key, struct sm_user_rec *out,
                                struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    size_t len = strnlen(key, SM_API_KEY_LEN + 1);
    if (len != SM_API_KEY_LEN || strspn(key, key_alphabet) != len)
        return sm_errf(err, SM_ENOTFOUND, "unknown API key; pass the key of a user");
    char hash[SM_SHA256_HEX_LEN + 1];
    key_hash(key, len, hash);
    sqlite3_stmt *s = aux(st, A_USER_BY_KEY, err);
    if (!s)
        return st->prep_rc;
    sqlite3_bind_text(s, 1, hash, -1, SQLITE_TRANSIENT);
    return read_user(st, s, "", hash, out, err);
}

int sm__sq_list_users(struct sm_store *base, sm_user_fn fn, void *ctx, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    bool owned;
    sqlite3_stmt *s = listing(st, A_USERS, &owned, err);
    if (!s)
        return st->prep_rc;
    int out = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct sm_user_rec u;
        struct texts t;
        sm__sq_texts_init(&t, st, false);
        user_from_row(&t, s, &u);
        out = fn(ctx, &u);
        if (out)
            break;
    }
    if (!out && rc != SQLITE_DONE && rc != SQLITE_ROW)
        out = sm__sq_fail(st, rc, "read", err);
    listing_done(s, owned);
    return out;
}

/* ------------------------------------------------------------ storage objects */

int sm__sq_put_object(struct sm_store *base, const char *ns, const char *key, const void *data,
                      size_t len, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    if (!st->in_batch)
        return sm__sq_outside_batch(st, "write a storage object", err);
    char blob_key[SM_SHA256_HEX_LEN + 1];
    int rc = sm_blob_put(st->blobs, data, len, blob_key, err);
    if (rc)
        return sm__sq_poison(st, rc, err);
    sqlite3_stmt *s = aux(st, A_OBJECT_PUT, err);
    if (!s)
        return sm__sq_poison(st, st->prep_rc, err);
    int brc = SQLITE_OK;
    BIND(sqlite3_bind_text(s, 1, ns, -1, SQLITE_STATIC));
    BIND(sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC));
    BIND(sqlite3_bind_text(s, 3, blob_key, -1, SQLITE_STATIC));
    BIND(sqlite3_bind_int64(s, 4, (int64_t)len));
    BIND(sqlite3_bind_int64(s, 5, sm_now_us()));
    rc = run_bound(st, s, brc, err);
    if (rc)
        return sm__sq_poison(st, rc, err);
    st->dirty = true;
    return 0;
}

int sm__sq_get_object(struct sm_store *base, const char *ns, const char *key, struct sm_buf *out,
                      struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    sqlite3_stmt *s = aux(st, A_OBJECT_GET, err);
    if (!s)
        return st->prep_rc;
    sqlite3_bind_text(s, 1, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    char blob_key[SM_SHA256_HEX_LEN + 1] = "";
    if (rc == SQLITE_ROW)
        col_id(s, 0, blob_key, sizeof(blob_key));
    int out_rc = 0;
    if (rc == SQLITE_DONE)
        out_rc = sm_errf(err, SM_ENOTFOUND,
                         "storage object '%s/%s' not found; upload it first (PUT "
                         "/api/v1/storage/%s/%s/local)",
                         ns, key, ns, key);
    else if (rc != SQLITE_ROW)
        out_rc = sm__sq_fail(st, rc, "read", err);
    done(s);
    if (out_rc)
        return out_rc;
    struct sm_err blob_err = SM_ERR_INIT;
    rc = sm_blob_get(st->blobs, blob_key, out, &blob_err);
    if (rc == SM_ENOTFOUND)
        return sm_errf(err, SM_ECORRUPT,
                       "storage object '%s/%s' is corrupted: its blob '%s' is missing from '%s'; "
                       "upload it again",
                       ns, key, blob_key, sm_blobs_dir(st->blobs));
    if (rc)
        return sm_errf(err, rc, "%s", blob_err.msg);
    return 0;
}

/* The newest keys kept: a client retries a batch within seconds, never 100,000 batches later. */
#define BATCH_KEYS_KEPT 100000

int sm__sq_claim_batch_key(struct sm_store *base, const char *key, bool *seen, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    if (!st->in_batch)
        return sm__sq_outside_batch(st, "claim a batch key", err);
    sqlite3_stmt *s = aux(st, A_BATCH_KEY_PUT, err);
    if (!s)
        return sm__sq_poison(st, st->prep_rc, err);
    int brc = SQLITE_OK;
    BIND(sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC));
    BIND(sqlite3_bind_int64(s, 2, st->batch_seq));
    int rc = run_bound(st, s, brc, err);
    if (rc)
        return sm__sq_poison(st, rc, err);
    *seen = sqlite3_changes(st->db) == 0;
    if (*seen)
        return 0;
    st->dirty = true;
    int64_t newest = sqlite3_last_insert_rowid(st->db);
    if (newest <= BATCH_KEYS_KEPT)
        return 0;
    s = aux(st, A_BATCH_KEYS_PRUNE, err);
    if (!s)
        return sm__sq_poison(st, st->prep_rc, err);
    sqlite3_bind_int64(s, 1, newest - BATCH_KEYS_KEPT);
    rc = sm__sq_step_done(st, s, "write", err);
    return rc ? sm__sq_poison(st, rc, err) : 0;
}
