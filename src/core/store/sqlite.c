/*
 * sqlite.c: the embedded backend of the metadata store: SQLite in WAL mode
 * at <home>/sematic.db, payloads too big for a row in <home>/blobs
 * (include/sematic/store.h, docs/internals/store.md).
 *
 * Invariants.
 *  - Every statement is prepared once, on first use, and cached in
 *    struct sqlite_store (stmts[], and list_runs[] by query shape); after
 *    each use it is reset and its bindings cleared, so no statement holds
 *    a read transaction open between calls (an open one would keep WAL
 *    checkpoints from finishing while other processes write).
 *  - Writes happen only inside a batch: BEGIN IMMEDIATE takes the write
 *    lock (waiting up to the 30 s busy timeout for other processes), reads
 *    meta.change_seq, and every row written is stamped with that + 1. A
 *    commit writes the new change_seq back (when the batch wrote anything),
 *    fsyncs the batch's blobs, then COMMITs: a value is durable before the
 *    row saying it exists (DESIGN principle 3).
 *  - A write that fails underneath (I/O, full disk) poisons the batch:
 *    commit then rolls back and reports that first failure, so a batch is
 *    all or nothing even for a caller that ignored the error.
 *  - get_* copy the strings of the row into st->scratch and reset the
 *    statement at once; list_* hand callbacks pointers into the row being
 *    stepped, valid for the callback.
 *  - SQLite's errors are translated here and nowhere else (sm__sq_fail()).
 *
 * The server's calls live in sqlite_query.c (listings, events) and
 * sqlite_server.c (notes, metrics, users, storage objects); the three files
 * share the connection struct and the helpers below through sqlite_int.h.
 *
 * Start reading at sm_store_open_sqlite(), then sq_begin() / sq_put_run() /
 * sq_commit().
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "sematic/alloc.h"
#include "sematic/blob.h"
#include "sematic/hash.h"
#include "sematic/store.h"
#include "store/internal.h"
#include "store/sqlite_int.h"

#include "util/banned.h"

#define BUSY_TIMEOUT_MS 30000
/* Cap on the strings of one record returned by a get_* call. */
#define SCRATCH_MAX_BYTES ((size_t)1 << 30)

/* ------------------------------------------------------------ statements */

/* The columns of run_rows, in the order of bind_run()'s parameters. */
#define RUN_ROW_COLS                                                                               \
    "id, root_id, parent_id, nested_id, original_run_id, state, name, function_id, tags, "         \
    "cache_key, exception, external_exception, attempt, created_at, updated_at, started_at, "      \
    "ended_at, resolved_at, failed_at, seq"
#define PIPE_COLS                                                                                  \
    "root_id, status, kind, cache_namespace, user, git, settings, client_version, run_command, "   \
    "python, cwd, sys_path, driver_pid, driver_start, driver_host, created_at, updated_at, "       \
    "ended_at, seq"

/* INSERTs of one table, less their rows of "?"s: one row for S_*_PUT, PEND_ROWS for many. */
#define RUN_INSERT "INSERT INTO run_rows (" RUN_ROW_COLS ") VALUES "
#define RUN_UPSERT                                                                                 \
    "ON CONFLICT (id) DO UPDATE SET root_id = excluded.root_id, parent_id = "                      \
    "excluded.parent_id, nested_id = excluded.nested_id, original_run_id = "                       \
    "excluded.original_run_id, state = excluded.state, name = excluded.name, function_id = "       \
    "excluded.function_id, tags = excluded.tags, cache_key = excluded.cache_key, exception = "     \
    "excluded.exception, external_exception = excluded.external_exception, attempt = "             \
    "excluded.attempt, created_at = excluded.created_at, updated_at = excluded.updated_at, "       \
    "started_at = excluded.started_at, ended_at = excluded.ended_at, resolved_at = "               \
    "excluded.resolved_at, failed_at = excluded.failed_at, seq = excluded.seq"
#define RUN_N_COLS 20
#define EDGE_INSERT "INSERT INTO edges (" EDGE_COLS ") VALUES "
#define EDGE_UPSERT                                                                                \
    "ON CONFLICT (id) DO UPDATE SET root_id = excluded.root_id, source_run_id = "                  \
    "excluded.source_run_id, destination_run_id = excluded.destination_run_id, "                   \
    "destination_name = excluded.destination_name, artifact_id = excluded.artifact_id, "           \
    "parent_id = excluded.parent_id, created_at = excluded.created_at, updated_at = "              \
    "excluded.updated_at"
#define EDGE_N_COLS 9
#define ART_INSERT                                                                                 \
    "INSERT OR IGNORE INTO artifacts (id, type_json, summary_json, size_bytes, payload, "          \
    "blob_key, created_at) VALUES "
#define ART_N_COLS 7

/* The non-terminal run states that set_pipeline_status() cancels, as S_RUNS_CANCEL spells them. */
_Static_assert(SM_STATE_CREATED == 0 && SM_STATE_SCHEDULED == 1 && SM_STATE_RAN == 2 &&
                   SM_STATE_RETRYING == 6 && SM_STATE_CANCELED == 7,
               "S_RUNS_CANCEL names run states by number");

static const char *const sql_text[N_STMT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SEQ_GET] = "SELECT value FROM meta WHERE key = 'change_seq'",
    [S_SEQ_SET] = "UPDATE meta SET value = ?1 WHERE key = 'change_seq'",
    [S_FN_FIND] = "SELECT id FROM functions WHERE function_path = ?1 AND description IS ?2 AND "
                  "source_id IS ?3 AND resource_requirements IS ?4 AND retry_settings IS ?5 AND "
                  "is_inline = ?6 LIMIT 1",
    [S_FN_PUT] =
        "INSERT INTO functions (function_path, description, source_id, "
        "resource_requirements, retry_settings, is_inline) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_RUN_PUT] = RUN_INSERT "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
                             "?15, ?16, ?17, ?18, ?19, ?20) " RUN_UPSERT,
    /*
     * The common rewrite of a run (a new state, timestamps, exception) leaves the indexed
     * columns alone; SET-ing only the rest spares SQLite rewriting index entries. When an
     * indexed column differs, no row matches and S_RUN_PUT rewrites it all.
     */
    [S_RUN_UPDATE] =
        "UPDATE run_rows SET nested_id = ?4, original_run_id = ?5, state = ?6, function_id = ?8, "
        "tags = ?9, exception = ?11, external_exception = ?12, attempt = ?13, updated_at = ?15, "
        "started_at = ?16, ended_at = ?17, resolved_at = ?18, failed_at = ?19, seq = ?20 "
        "WHERE id = ?1 AND root_id IS ?2 AND parent_id IS ?3 AND name IS ?7 AND cache_key IS ?10 "
        "AND created_at IS ?14",
    [S_RUN_GET] = "SELECT " RUN_COLS " FROM runs WHERE id = ?1",
    [S_ART_EXISTS] = "SELECT 1 FROM artifacts WHERE id = ?1",
    [S_ART_PUT] = ART_INSERT "(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_ART_GET] = "SELECT " ART_COLS ", payload FROM artifacts WHERE id = ?1",
    [S_ART_KEEP] = "SELECT 1 FROM artifacts WHERE blob_key = ?1 UNION ALL "
                   "SELECT 1 FROM storage_objects WHERE blob_key = ?1 LIMIT 1",
    [S_ARTS_ROOT] = "SELECT " ART_COLS " FROM artifacts WHERE id IN (SELECT artifact_id FROM "
                    "edges WHERE root_id = ?1) ORDER BY created_at, id",
    [S_EDGE_PUT] = EDGE_INSERT "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) " EDGE_UPSERT,
    /* An edge's later writes only set its artifact (and name, parent, time): no index moves. */
    [S_EDGE_UPDATE] = "UPDATE edges SET destination_name = ?5, artifact_id = ?6, parent_id = ?7, "
                      "updated_at = ?9 WHERE id = ?1 AND root_id IS ?2 AND source_run_id IS ?3 "
                      "AND destination_run_id IS ?4 AND created_at IS ?8",
    [S_EDGES_ROOT] = "SELECT " EDGE_COLS " FROM edges WHERE root_id = ?1 ORDER BY created_at, id",
    [S_EDGES_RUN] = "SELECT " EDGE_COLS " FROM edges WHERE source_run_id = ?2 OR "
                    "destination_run_id = ?2 ORDER BY created_at, id",
    [S_EDGES_ROOT_RUN] = "SELECT " EDGE_COLS " FROM edges WHERE root_id = ?1 AND "
                         "(source_run_id = ?2 OR destination_run_id = ?2) ORDER BY created_at, id",
    [S_PIPE_PUT] =
        "INSERT INTO pipeline_runs (" PIPE_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
        "?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19) "
        "ON CONFLICT (root_id) DO UPDATE SET status = excluded.status, kind = excluded.kind, "
        "cache_namespace = excluded.cache_namespace, user = excluded.user, git = excluded.git, "
        "settings = excluded.settings, client_version = excluded.client_version, run_command = "
        "excluded.run_command, python = excluded.python, cwd = excluded.cwd, sys_path = "
        "excluded.sys_path, driver_pid = excluded.driver_pid, driver_start = "
        "excluded.driver_start, driver_host = excluded.driver_host, created_at = "
        "excluded.created_at, updated_at = excluded.updated_at, ended_at = excluded.ended_at, "
        "seq = excluded.seq",
    [S_PIPE_GET] = "SELECT " PIPE_COLS " FROM pipeline_runs WHERE root_id = ?1",
    [S_PIPE_STATUS] = "SELECT status FROM pipeline_runs WHERE root_id = ?1",
    [S_PIPE_SET_STATUS] = "UPDATE pipeline_runs SET status = ?2, updated_at = ?3, ended_at = "
                          "COALESCE(ended_at, ?4), seq = ?5 WHERE root_id = ?1",
    [S_RUNS_CANCEL] = "UPDATE run_rows SET state = 7, updated_at = ?2, failed_at = ?2, seq = ?3 "
                      "WHERE root_id = ?1 AND state IN (0, 1, 2, 6)",
    [S_EVENT_PUT] = "INSERT INTO events (seq, kind, subject_id, payload) VALUES (?1, ?2, ?3, ?4)",
    [S_SRC_PUT] = "INSERT OR IGNORE INTO sources (id, text) VALUES (?1, ?2)",
    [S_SRC_GET] = "SELECT text FROM sources WHERE id = ?1",
    [S_LOG_PUT] = "INSERT INTO logs (run_id, stream, ts, text) VALUES (?1, ?2, ?3, ?4)",
    [S_LOG_READ] = "SELECT id, run_id, stream, ts, text FROM logs WHERE run_id = ?1 AND id > ?2 "
                   "ORDER BY id LIMIT ?3",
};

/* The ids of the runs a batch wrote, listed in its events row; beyond this, NULL (all). */
#define BATCH_RUN_IDS_MAX_BYTES ((size_t)1 << 22)

static const struct sm_store_ops sqlite_ops;
static void fn_cache_clear(struct sqlite_store *st);
static void pend_drop(struct sqlite_store *st);

static char *dup_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = sm_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = sm_xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* ------------------------------------------------------------ errors */

/*
 * Translate a SQLite failure into an SM_E* code with a message naming the
 * store (STYLE 25). `what` completes "cannot <what> store '<path>'".
 * Call before resetting the statement, so sqlite3_errmsg() is its error.
 */
int sm__sq_fail(struct sqlite_store *st, int rc, const char *what, struct sm_err *err)
{
    int primary = rc & 0xff;
    if (primary == SQLITE_FULL ||
        (primary == SQLITE_IOERR && sqlite3_system_errno(st->db) == ENOSPC))
        return sm_errf(err, SM_ENOSPC,
                       "cannot write store '%s': no space left on device; free space there or "
                       "set SEMATIC_HOME to another directory",
                       st->base.home);
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
        return sm_errf(err, SM_EBUSY,
                       "cannot %s store '%s': another process kept it locked for more than %d s; "
                       "retry once that sematic command has finished",
                       what, st->db_path, BUSY_TIMEOUT_MS / 1000);
    if (primary == SQLITE_NOTADB)
        return sm_errf(err, SM_ECORRUPT,
                       "cannot %s store '%s': the file is not a SQLite database; move it away or "
                       "set SEMATIC_HOME to another directory",
                       what, st->db_path);
    if (primary == SQLITE_CORRUPT)
        return sm_errf(err, SM_ECORRUPT,
                       "cannot %s store '%s': %s; restore it from a backup or move it away", what,
                       st->db_path, sqlite3_errmsg(st->db));
    if (primary == SQLITE_NOMEM) {
        /* Our allocator aborts on out-of-memory; SQLite's own malloc failed. */
        return sm_errf(err, SM_ENOMEM, "cannot %s store '%s': out of memory", what, st->db_path);
    }
    return sm_errf(err, SM_EIO, "cannot %s store '%s': %s", what, st->db_path,
                   sqlite3_errmsg(st->db));
}

/* The statement `id`, prepared on first use. NULL with err set on failure. */
sqlite3_stmt *sm__sq_stmt(struct sqlite_store *st, enum stmt_id id, struct sm_err *err)
{
    if (st->pend.total && !st->pend.writing && (st->prep_rc = sm__sq_flush_pending(st, err)))
        return NULL;
    if (!st->stmts[id]) {
        int rc = sqlite3_prepare_v3(st->db, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &st->stmts[id], NULL);
        if (rc != SQLITE_OK) {
            st->prep_rc = sm__sq_fail(st, rc, "read", err);
            sqlite3_finalize(st->stmts[id]);
            st->stmts[id] = NULL;
        }
    }
    return st->stmts[id];
}

sqlite3_stmt *sm__sq_aux(struct sqlite_store *st, int slot, const char *sql, struct sm_err *err)
{
    if (st->pend.total && !st->pend.writing && (st->prep_rc = sm__sq_flush_pending(st, err)))
        return NULL;
    if (!st->aux[slot]) {
        int rc =
            sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->aux[slot], NULL);
        if (rc != SQLITE_OK) {
            st->prep_rc = sm__sq_fail(st, rc, "read", err);
            sqlite3_finalize(st->aux[slot]);
            st->aux[slot] = NULL;
        }
    }
    return st->aux[slot];
}

/* Step a statement that returns no row; reset it either way. */
int sm__sq_step_done(struct sqlite_store *st, sqlite3_stmt *s, const char *what, struct sm_err *err)
{
    int rc = sqlite3_step(s);
    int out = 0;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        out = sm__sq_fail(st, rc, what, err);
    done(s);
    return out;
}

/* A write failed underneath: remember it so that commit rolls the batch back. */
int sm__sq_poison(struct sqlite_store *st, int code, const struct sm_err *err)
{
    if (st->in_batch && st->batch_err.code == 0) {
        if (err && err->code == code)
            st->batch_err = *err;
        else
            sm_errf(&st->batch_err, code, "cannot commit to store '%s': %s", st->db_path,
                    sm_strerror(code));
    }
    return code;
}

int sm__sq_outside_batch(struct sqlite_store *st, const char *what, struct sm_err *err)
{
    return sm_errf(err, SM_ESTATE,
                   "cannot %s in store '%s' outside a batch; call sm_store_begin() first", what,
                   st->db_path);
}

/* ------------------------------------------------------------ binding and reading */

void sm__sq_texts_init(struct texts *t, struct sqlite_store *st, bool copy)
{
    t->st = st;
    t->copy = copy;
    t->failed = false;
    t->n = 0;
    if (copy)
        sm_buf_reset(&st->scratch);
}

void sm__sq_col_text(struct texts *t, sqlite3_stmt *s, int col, const char **dst)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    *dst = (const char *)v;
    if (!v || !t->copy)
        return;
    if (t->n >= (int)(sizeof(t->off) / sizeof(t->off[0]))) {
        t->failed = true;
        return;
    }
    size_t off = t->st->scratch.len;
    if (sm_buf_add(&t->st->scratch, v, (size_t)sqlite3_column_bytes(s, col) + 1) != 0) {
        t->failed = true;
        return;
    }
    t->dst[t->n] = dst;
    t->off[t->n++] = off;
}

int sm__sq_texts_finish(struct texts *t, const char *what, const char *id, struct sm_err *err)
{
    if (t->failed)
        return sm_errf(err, SM_ETOOBIG, "cannot read %s '%s': its text is larger than %zu bytes",
                       what, id, t->st->scratch.max_len);
    for (int i = 0; i < t->n; i++)
        *t->dst[i] = t->st->scratch.data + t->off[i];
    return 0;
}

void sm__sq_run_from_row(struct texts *t, sqlite3_stmt *s, struct sm_run_rec *r)
{
    col_id(s, 0, r->id, sizeof(r->id));
    col_id(s, 1, r->root_id, sizeof(r->root_id));
    col_id(s, 2, r->parent_id, sizeof(r->parent_id));
    col_id(s, 3, r->nested_id, sizeof(r->nested_id));
    col_id(s, 4, r->original_run_id, sizeof(r->original_run_id));
    r->state = sqlite3_column_int(s, 5);
    sm__sq_col_text(t, s, 6, &r->name);
    sm__sq_col_text(t, s, 7, &r->function_path);
    sm__sq_col_text(t, s, 8, &r->description);
    sm__sq_col_text(t, s, 9, &r->source_id);
    sm__sq_col_text(t, s, 10, &r->tags_json);
    sm__sq_col_text(t, s, 11, &r->resource_requirements_json);
    sm__sq_col_text(t, s, 12, &r->retry_settings_json);
    sm__sq_col_text(t, s, 13, &r->cache_key);
    sm__sq_col_text(t, s, 14, &r->exception_json);
    sm__sq_col_text(t, s, 15, &r->external_exception_json);
    r->is_inline = sqlite3_column_int(s, 16) != 0;
    r->attempt = sqlite3_column_int(s, 17);
    r->created_at = sqlite3_column_int64(s, 18);
    r->updated_at = sqlite3_column_int64(s, 19);
    r->started_at = sqlite3_column_int64(s, 20);
    r->ended_at = sqlite3_column_int64(s, 21);
    r->resolved_at = sqlite3_column_int64(s, 22);
    r->failed_at = sqlite3_column_int64(s, 23);
    r->seq = sqlite3_column_int64(s, 24);
}

void sm__sq_artifact_from_row(struct texts *t, sqlite3_stmt *s, struct sm_artifact_rec *a)
{
    col_id(s, 0, a->id, sizeof(a->id));
    sm__sq_col_text(t, s, 1, &a->type_json);
    sm__sq_col_text(t, s, 2, &a->summary_json);
    a->size_bytes = sqlite3_column_int64(s, 3);
    col_id(s, 4, a->blob_key, sizeof(a->blob_key));
    a->created_at = sqlite3_column_int64(s, 5);
    a->payload_in_storage = strlen(a->id) == SM_SHA1_HEX_LEN;
}

void sm__sq_edge_from_row(struct texts *t, sqlite3_stmt *s, struct sm_edge_rec *e)
{
    col_id(s, 0, e->id, sizeof(e->id));
    col_id(s, 1, e->root_id, sizeof(e->root_id));
    col_id(s, 2, e->source_run_id, sizeof(e->source_run_id));
    col_id(s, 3, e->destination_run_id, sizeof(e->destination_run_id));
    sm__sq_col_text(t, s, 4, &e->destination_name);
    col_id(s, 5, e->artifact_id, sizeof(e->artifact_id));
    col_id(s, 6, e->parent_id, sizeof(e->parent_id));
    e->created_at = sqlite3_column_int64(s, 7);
    e->updated_at = sqlite3_column_int64(s, 8);
}

static void pipeline_from_row(struct texts *t, sqlite3_stmt *s, struct sm_pipeline_rec *p)
{
    col_id(s, 0, p->root_id, sizeof(p->root_id));
    const unsigned char *status = sqlite3_column_text(s, 1);
    p->status = sm_pipeline_status_parse((const char *)status);
    sm__sq_col_text(t, s, 2, &p->kind);
    sm__sq_col_text(t, s, 3, &p->cache_namespace);
    sm__sq_col_text(t, s, 4, &p->user);
    sm__sq_col_text(t, s, 5, &p->git_json);
    sm__sq_col_text(t, s, 6, &p->settings_json);
    sm__sq_col_text(t, s, 7, &p->client_version);
    sm__sq_col_text(t, s, 8, &p->run_command);
    sm__sq_col_text(t, s, 9, &p->python);
    sm__sq_col_text(t, s, 10, &p->cwd);
    sm__sq_col_text(t, s, 11, &p->sys_path_json);
    p->driver_pid = sqlite3_column_int64(s, 12);
    p->driver_start = sqlite3_column_int64(s, 13);
    sm__sq_col_text(t, s, 14, &p->driver_host);
    p->created_at = sqlite3_column_int64(s, 15);
    p->updated_at = sqlite3_column_int64(s, 16);
    p->ended_at = sqlite3_column_int64(s, 17);
    p->seq = sqlite3_column_int64(s, 18);
}

int sm__sq_not_found(struct sm_err *err, const char *what, const char *id)
{
    return sm_errf(err, SM_ENOTFOUND, "%s '%s' not found; `sematic runs` lists what exists", what,
                   id);
}

/* ------------------------------------------------------------ sets of what a batch touched */

void sm__sq_set_reset(struct sq_set *set)
{
    sm_buf_reset(&set->text);
    set->n = 0;
    set->last_off = 0;
    set->overflow = false;
}

void sm__sq_set_add(struct sq_set *set, const char *s, size_t len)
{
    if (set->overflow)
        return;
    const char *text = set->text.data;
    if (set->n > 0 && strlen(text + set->last_off) == len &&
        memcmp(text + set->last_off, s, len) == 0)
        return;
    for (size_t off = 0, i = 0; i < set->n; i++) {
        size_t n = strlen(text + off);
        if (n == len && memcmp(text + off, s, len) == 0) {
            set->last_off = off;
            return;
        }
        off += n + 1;
    }
    size_t off = set->text.len;
    if (set->n >= SQ_SET_MAX || sm_buf_add(&set->text, s, len) != 0 ||
        sm_buf_addc(&set->text, '\0') != 0) {
        set->overflow = true;
        return;
    }
    set->last_off = off;
    set->n++;
}

bool sm__sq_set_used(const struct sq_set *set)
{
    return set->n > 0 || set->overflow;
}

/* s as a JSON string (the characters that need it escaped). */
static int add_json_string(struct sm_buf *out, const char *s)
{
    int rc = sm_buf_addc(out, '"');
    for (; *s && rc == 0; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            rc = sm_buf_addf(out, "\\%c", c);
        else if (c < 0x20)
            rc = sm_buf_addf(out, "\\u%04x", c);
        else
            rc = sm_buf_addc(out, (char)c);
    }
    return rc ? rc : sm_buf_addc(out, '"');
}

int sm__sq_set_join(const struct sq_set *set, bool json, struct sm_buf *out)
{
    int rc = json ? sm_buf_addc(out, '[') : 0;
    const char *text = set->text.data;
    for (size_t off = 0, i = 0; i < set->n && rc == 0; i++) {
        if (i > 0)
            rc = sm_buf_addc(out, ',');
        if (rc == 0)
            rc = json ? add_json_string(out, text + off) : sm_buf_adds(out, text + off);
        off += strlen(text + off) + 1;
    }
    return rc ? rc : (json ? sm_buf_addc(out, ']') : 0);
}

/* ------------------------------------------------------------ batches */

/* Append one row to events (see the migration for the kinds). payload may be NULL. */
int sm__sq_put_event(struct sqlite_store *st, int64_t seq, const char *kind, const char *subject_id,
                     const char *payload, struct sm_err *err)
{
    sqlite3_stmt *s = sm__sq_stmt(st, S_EVENT_PUT, err);
    if (!s)
        return st->prep_rc;
    sqlite3_bind_int64(s, 1, seq);
    sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, subject_id, -1, SQLITE_STATIC);
    bind_text(s, 4, payload);
    return sm__sq_step_done(st, s, "write", err);
}

static int read_seq(struct sqlite_store *st, int64_t *out, struct sm_err *err)
{
    sqlite3_stmt *s = sm__sq_stmt(st, S_SEQ_GET, err);
    if (!s)
        return st->prep_rc;
    int rc = sqlite3_step(s);
    int out_rc = 0;
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    else if (rc == SQLITE_DONE)
        out_rc = sm_errf(err, SM_ECORRUPT,
                         "cannot read store '%s': its change sequence is missing from table "
                         "meta; restore it from a backup",
                         st->db_path);
    else
        out_rc = sm__sq_fail(st, rc, "read", err);
    done(s);
    return out_rc;
}

/* Roll back whatever transaction is open; errors are ignored (there is nothing left to undo). */
static void rollback_tx(struct sqlite_store *st)
{
    pend_drop(st);
    if (!sqlite3_get_autocommit(st->db)) {
        sqlite3_stmt *s = sm__sq_stmt(st, S_ROLLBACK, NULL);
        if (s)
            sm__sq_step_done(st, s, "roll back", NULL);
        else
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    }
    st->in_batch = false;
    /* The cache may name functions rows the rollback just undid. */
    fn_cache_clear(st);
}

static int begin_tx(struct sqlite_store *st, struct sm_err *err)
{
    sqlite3_stmt *s = sm__sq_stmt(st, S_BEGIN, err);
    if (!s)
        return st->prep_rc;
    return sm__sq_step_done(st, s, "lock", err);
}

static int sq_begin(struct sm_store *base, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    if (st->in_batch)
        return sm_errf(err, SM_ESTATE,
                       "cannot begin a batch on store '%s': one is open already; commit or roll "
                       "it back first",
                       st->db_path);
    int rc = begin_tx(st, err);
    if (rc)
        return rc;
    int64_t seq = 0;
    rc = read_seq(st, &seq, err);
    if (rc) {
        rollback_tx(st);
        return rc;
    }
    st->in_batch = true;
    st->dirty = false;
    st->batch_seq = seq + 1;
    sm_buf_reset(&st->batch_runs);
    st->batch_runs_overflow = false;
    sm__sq_set_reset(&st->batch_edge_roots);
    sm__sq_set_reset(&st->batch_pipelines);
    sm__sq_set_reset(&st->batch_log_runs);
    sm__sq_set_reset(&st->batch_metrics);
    sm_err_clear(&st->batch_err);
    return 0;
}

/* The events row of one set the open batch filled (none when it is empty). */
static int put_set_event(struct sqlite_store *st, const char *kind, const struct sq_set *set,
                         bool json, struct sm_err *err)
{
    if (!sm__sq_set_used(set))
        return 0;
    struct sm_buf payload = SM_BUF_INIT(SQ_SET_MAX_BYTES * 2);
    bool listed = !set->overflow && sm__sq_set_join(set, json, &payload) == 0 &&
                  sm_buf_addc(&payload, '\0') == 0;
    int rc = sm__sq_put_event(st, st->batch_seq, kind, "", listed ? payload.data : NULL, err);
    sm_buf_release(&payload);
    return rc;
}

static int sq_commit(struct sm_store *base, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    if (!st->in_batch)
        return sm_errf(err, SM_ESTATE,
                       "cannot commit to store '%s': no batch is open; call sm_store_begin() "
                       "first",
                       st->db_path);
    int rc = 0;
    sqlite3_stmt *s;
    if (st->batch_err.code) {
        rc = sm_errf(err, st->batch_err.code, "%s", st->batch_err.msg);
        goto fail_rollback;
    }
    if (st->dirty) {
        s = sm__sq_stmt(st, S_SEQ_SET, err);
        if (!s) {
            rc = st->prep_rc;
            goto fail_rollback;
        }
        sqlite3_bind_int64(s, 1, st->batch_seq);
        rc = sm__sq_step_done(st, s, "write", err);
        if (rc)
            goto fail_rollback;
    }
    if (st->batch_runs.len || st->batch_runs_overflow) {
        if (sm_buf_addc(&st->batch_runs, '\0') != 0)
            st->batch_runs_overflow = true;
        rc = sm__sq_put_event(st, st->batch_seq, "runs", "",
                              st->batch_runs_overflow ? NULL : st->batch_runs.data, err);
        if (rc)
            goto fail_rollback;
    }
    rc = put_set_event(st, "edges", &st->batch_edge_roots, false, err);
    rc = rc ? rc : put_set_event(st, "pipelines", &st->batch_pipelines, false, err);
    rc = rc ? rc : put_set_event(st, "logs", &st->batch_log_runs, false, err);
    rc = rc ? rc : put_set_event(st, "metrics", &st->batch_metrics, true, err);
    if (rc)
        goto fail_rollback;
    /* The batch's blobs reach the disk before the rows that refer to them. */
    rc = sm_blob_sync(st->blobs, err);
    if (rc)
        goto fail_rollback;
    s = sm__sq_stmt(st, S_COMMIT, err);
    if (!s) {
        rc = st->prep_rc;
        goto fail_rollback;
    }
    rc = sm__sq_step_done(st, s, "commit to", err);
    if (rc)
        goto fail_rollback;
    st->in_batch = false;
    return 0;

fail_rollback:
    rollback_tx(st);
    return rc;
}

static void sq_rollback(struct sm_store *base)
{
    struct sqlite_store *st = to_sq(base);
    if (st->in_batch)
        rollback_tx(st);
}

/* ------------------------------------------------------------ writes */

/* Bind a run to S_RUN_PUT or S_RUN_UPDATE (the same parameter numbers), or to row `base`
 * / RUN_N_COLS of the many-rows INSERT. */
static int bind_run(sqlite3_stmt *s, int base, const struct sm_run_rec *r, int64_t function_id,
                    int64_t seq)
{
    int brc = SQLITE_OK;
    BIND(sqlite3_bind_text(s, base + 1, r->id, -1, SQLITE_STATIC));
    BIND(sqlite3_bind_text(s, base + 2, r->root_id, -1, SQLITE_STATIC));
    BIND(bind_id(s, base + 3, r->parent_id));
    BIND(bind_id(s, base + 4, r->nested_id));
    BIND(bind_id(s, base + 5, r->original_run_id));
    BIND(sqlite3_bind_int(s, base + 6, r->state));
    BIND(bind_text(s, base + 7, r->name));
    BIND(sqlite3_bind_int64(s, base + 8, function_id));
    BIND(bind_text(s, base + 9, r->tags_json));
    BIND(bind_text(s, base + 10, r->cache_key));
    BIND(bind_text(s, base + 11, r->exception_json));
    BIND(bind_text(s, base + 12, r->external_exception_json));
    BIND(sqlite3_bind_int(s, base + 13, r->attempt));
    BIND(sqlite3_bind_int64(s, base + 14, r->created_at));
    BIND(sqlite3_bind_int64(s, base + 15, r->updated_at));
    BIND(bind_time(s, base + 16, r->started_at));
    BIND(bind_time(s, base + 17, r->ended_at));
    BIND(bind_time(s, base + 18, r->resolved_at));
    BIND(bind_time(s, base + 19, r->failed_at));
    BIND(sqlite3_bind_int64(s, base + 20, seq));
    return brc;
}

/* Bind with bind(), step, reset: 0 or the translated failure. */
static int run_stmt(struct sqlite_store *st, sqlite3_stmt *s, int brc, struct sm_err *err)
{
    if (brc == SQLITE_OK)
        return sm__sq_step_done(st, s, "write", err);
    int rc = sm__sq_fail(st, brc, "write", err);
    done(s);
    return rc;
}

/* The fields of a run that its functions row holds, as one string (NULL and "" differ). */
static int fn_key(struct sm_buf *b, const struct sm_run_rec *r)
{
    const char *fields[] = {r->function_path, r->description, r->source_id,
                            r->resource_requirements_json, r->retry_settings_json};
    sm_buf_reset(b);
    int rc = sm_buf_addc(b, r->is_inline ? 'i' : 's');
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]) && rc == 0; i++) {
        if (!fields[i]) {
            rc = sm_buf_addc(b, '\x01');
            continue;
        }
        rc = sm_buf_addc(b, '\x02');
        rc = rc ? rc : sm_buf_add(b, fields[i], strlen(fields[i]) + 1);
    }
    return rc;
}

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211ULL;
    return h;
}

static void fn_cache_clear(struct sqlite_store *st)
{
    for (int i = 0; i < FN_CACHE_SLOTS; i++) {
        sm_free(st->fn_cache[i].key);
        st->fn_cache[i] = (struct fn_slot){0};
    }
}

/* Bind the functions-row fields of r as S_FN_FIND and S_FN_PUT number them. */
static int bind_function(sqlite3_stmt *s, const struct sm_run_rec *r)
{
    int brc = SQLITE_OK;
    BIND(bind_text(s, 1, r->function_path));
    BIND(bind_text(s, 2, r->description));
    BIND(bind_text(s, 3, r->source_id));
    BIND(bind_text(s, 4, r->resource_requirements_json));
    BIND(bind_text(s, 5, r->retry_settings_json));
    BIND(sqlite3_bind_int(s, 6, r->is_inline ? 1 : 0));
    return brc;
}

/* The id of r's functions row, found (cache, then SQLite) or written. */
static int function_id(struct sqlite_store *st, const struct sm_run_rec *r, int64_t *id,
                       struct sm_err *err)
{
    if (fn_key(&st->fn_key, r) != 0)
        return sm_errf(err, SM_ETOOBIG,
                       "cannot write run '%s': its function's fields are larger "
                       "than %zu bytes",
                       r->id, st->fn_key.max_len);
    uint64_t h = fnv1a(st->fn_key.data, st->fn_key.len);
    struct fn_slot *slot = &st->fn_cache[h % FN_CACHE_SLOTS];
    if (slot->key && slot->hash == h && slot->key_len == st->fn_key.len &&
        memcmp(slot->key, st->fn_key.data, slot->key_len) == 0) {
        *id = slot->id;
        return 0;
    }

    sqlite3_stmt *s = sm__sq_stmt(st, S_FN_FIND, err);
    if (!s)
        return st->prep_rc;
    int brc = bind_function(s, r);
    int rc = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    bool found = rc == SQLITE_ROW;
    if (found)
        *id = sqlite3_column_int64(s, 0);
    else if (rc != SQLITE_DONE) {
        int out = sm__sq_fail(st, rc, "read", err);
        done(s);
        return out;
    }
    done(s);
    if (!found) {
        s = sm__sq_stmt(st, S_FN_PUT, err);
        if (!s)
            return st->prep_rc;
        rc = run_stmt(st, s, bind_function(s, r), err);
        if (rc)
            return rc;
        *id = sqlite3_last_insert_rowid(st->db);
    }

    sm_free(slot->key);
    slot->key = sm_xmalloc(st->fn_key.len);
    memcpy(slot->key, st->fn_key.data, st->fn_key.len);
    slot->key_len = st->fn_key.len;
    slot->hash = h;
    slot->id = *id;
    return 0;
}

/* Remember that the open batch wrote run `id`, for its events row. */
static void note_batch_run(struct sqlite_store *st, const char *id)
{
    if (st->batch_runs_overflow)
        return;
    if ((st->batch_runs.len && sm_buf_addc(&st->batch_runs, ',') != 0) ||
        sm_buf_adds(&st->batch_runs, id) != 0)
        st->batch_runs_overflow = true;
}

/* Bind an edge to S_EDGE_PUT or S_EDGE_UPDATE, or to row `base` / EDGE_N_COLS of many. */
static int bind_edge(sqlite3_stmt *s, int base, const struct sm_edge_rec *e)
{
    int brc = SQLITE_OK;
    BIND(sqlite3_bind_text(s, base + 1, e->id, -1, SQLITE_STATIC));
    BIND(sqlite3_bind_text(s, base + 2, e->root_id, -1, SQLITE_STATIC));
    BIND(bind_id(s, base + 3, e->source_run_id));
    BIND(bind_id(s, base + 4, e->destination_run_id));
    BIND(bind_text(s, base + 5, e->destination_name));
    BIND(bind_id(s, base + 6, e->artifact_id));
    BIND(bind_id(s, base + 7, e->parent_id));
    BIND(sqlite3_bind_int64(s, base + 8, e->created_at));
    BIND(sqlite3_bind_int64(s, base + 9, e->updated_at));
    return brc;
}

/* Bind an artifact to S_ART_PUT, or to row `base` / ART_N_COLS of many: the payload inline,
 * or blob `key` ("" for none); neither for one in storage (payload NULL). */
static int bind_artifact(sqlite3_stmt *s, int base, const struct sm_artifact_rec *a,
                         const char *payload, size_t len, const char *key)
{
    int brc = SQLITE_OK;
    BIND(sqlite3_bind_text(s, base + 1, a->id, -1, SQLITE_STATIC));
    BIND(sqlite3_bind_text(s, base + 2, a->type_json, -1, SQLITE_STATIC));
    BIND(sqlite3_bind_text(s, base + 3, a->summary_json, -1, SQLITE_STATIC));
    BIND(sqlite3_bind_int64(s, base + 4, (int64_t)len));
    if (payload && !key[0])
        BIND(sqlite3_bind_blob(s, base + 5, payload, (int)len, SQLITE_STATIC));
    else
        BIND(sqlite3_bind_null(s, base + 5));
    BIND(bind_id(s, base + 6, key));
    BIND(sqlite3_bind_int64(s, base + 7, a->created_at));
    return brc;
}

/* ------------------------------------------------------------ rows written many at a time */

/*
 * A new run or edge (put with is_new) or an artifact with its payload inline is not inserted
 * by a statement of its own: it waits in st->pend until PEND_ROWS rows of its table wait, and
 * one multi-row INSERT writes them (a run row: 7.7 us alone, 5.2 us as one of 32). No
 * statement can tell: the rows wait only while the batch runs no other statement, because
 * the statement getters (sm__sq_stmt(), sm__sq_aux()) write them first, and so does commit
 * (fewer than PEND_ROWS go one by one). A rollback drops them. A failure writing them poisons
 * the batch like the failure of any write.
 */

static const char *const pend_insert[N_PEND] = {RUN_INSERT, EDGE_INSERT, ART_INSERT};
static const char *const pend_conflict[N_PEND] = {RUN_UPSERT, EDGE_UPSERT, ""};
static const int pend_cols[N_PEND] = {RUN_N_COLS, EDGE_N_COLS, ART_N_COLS};
static const enum stmt_id pend_one[N_PEND] = {S_RUN_PUT, S_EDGE_PUT, S_ART_PUT};
static const char *const pend_what[N_PEND] = {"run", "edge", "artifact"};

#define NO_STR SIZE_MAX

/* The INSERT of PEND_ROWS rows of table t, prepared on first use; NULL with err set. */
static sqlite3_stmt *pend_many_stmt(struct sqlite_store *st, enum pend_table t, struct sm_err *err)
{
    if (st->pend.many[t])
        return st->pend.many[t];
    struct sm_buf sql = SM_BUF_INIT((size_t)1 << 16);
    int rc = sm_buf_adds(&sql, pend_insert[t]);
    for (int i = 0; i < PEND_ROWS && rc == 0; i++) {
        rc = sm_buf_adds(&sql, i ? ", (" : "(");
        for (int c = 0; c < pend_cols[t] && rc == 0; c++)
            rc = sm_buf_adds(&sql, c ? ", ?" : "?");
        rc = rc ? rc : sm_buf_addc(&sql, ')');
    }
    rc = rc ? rc : sm_buf_addc(&sql, ' ');
    rc = rc ? rc : sm_buf_adds(&sql, pend_conflict[t]);
    rc = rc ? rc : sm_buf_addc(&sql, '\0');
    if (rc) {
        st->prep_rc = sm_errf(err, rc,
                              "cannot write store '%s': the INSERT of %d rows does not "
                              "fit in %zu bytes",
                              st->db_path, PEND_ROWS, sql.max_len);
    } else {
        rc = sqlite3_prepare_v3(st->db, sql.data, -1, SQLITE_PREPARE_PERSISTENT, &st->pend.many[t],
                                NULL);
        if (rc != SQLITE_OK) {
            st->prep_rc = sm__sq_fail(st, rc, "write", err);
            sqlite3_finalize(st->pend.many[t]);
            st->pend.many[t] = NULL;
        }
    }
    sm_buf_release(&sql);
    return st->pend.many[t];
}

static void pend_drop(struct sqlite_store *st)
{
    for (int t = 0; t < N_PEND; t++) {
        st->pend.n[t] = 0;
        sm_buf_reset(&st->pend.text[t]);
    }
    st->pend.total = 0;
}

/* Copy s (len bytes and a NUL) into the strings of table t: its offset, or NO_STR for NULL. */
static size_t pend_str(struct sqlite_store *st, enum pend_table t, const char *s, size_t len,
                       int *rc)
{
    if (!s)
        return NO_STR;
    size_t off = st->pend.text[t].len;
    *rc = *rc ? *rc : sm_buf_add(&st->pend.text[t], s, len);
    *rc = *rc ? *rc : sm_buf_addc(&st->pend.text[t], '\0');
    return off;
}

static const char *pend_ptr(const struct sqlite_store *st, enum pend_table t, size_t off)
{
    return off == NO_STR ? NULL : st->pend.text[t].data + off;
}

/* Point the strings of a waiting row into the (no longer growing) text of its table. */
static void pend_fix(const struct sqlite_store *st, enum pend_table t, struct pend_row *row)
{
    const size_t *o = row->str_off;
    switch (t) {
    case PEND_RUNS:
        row->u.run.name = pend_ptr(st, t, o[0]);
        row->u.run.tags_json = pend_ptr(st, t, o[1]);
        row->u.run.cache_key = pend_ptr(st, t, o[2]);
        row->u.run.exception_json = pend_ptr(st, t, o[3]);
        row->u.run.external_exception_json = pend_ptr(st, t, o[4]);
        break;
    case PEND_EDGES:
        row->u.edge.destination_name = pend_ptr(st, t, o[0]);
        break;
    case PEND_ARTIFACTS:
        row->u.art.type_json = pend_ptr(st, t, o[0]);
        row->u.art.summary_json = pend_ptr(st, t, o[1]);
        break;
    case N_PEND:
        break;
    }
}

static int pend_bind(struct sqlite_store *st, sqlite3_stmt *s, int base, enum pend_table t,
                     const struct pend_row *row)
{
    switch (t) {
    case PEND_RUNS:
        return bind_run(s, base, &row->u.run, row->function_id, st->batch_seq);
    case PEND_EDGES:
        return bind_edge(s, base, &row->u.edge);
    case PEND_ARTIFACTS:
    case N_PEND:
        break;
    }
    return bind_artifact(s, base, &row->u.art, pend_ptr(st, t, row->str_off[2]), row->payload_len,
                         "");
}

/* Insert the rows of table t that wait: PEND_ROWS by one statement, fewer one by one. */
static int pend_write(struct sqlite_store *st, enum pend_table t, struct sm_err *err)
{
    struct pending *p = &st->pend;
    int n = p->n[t];
    if (n == 0)
        return 0;
    bool was_writing = p->writing;
    p->writing = true;
    for (int i = 0; i < n; i++)
        pend_fix(st, t, &p->rows[t][i]);
    int rc = 0;
    if (n == PEND_ROWS) {
        sqlite3_stmt *s = pend_many_stmt(st, t, err);
        int brc = SQLITE_OK;
        for (int i = 0; s && i < n; i++)
            BIND(pend_bind(st, s, i * pend_cols[t], t, &p->rows[t][i]));
        rc = s ? run_stmt(st, s, brc, err) : st->prep_rc;
    } else {
        for (int i = 0; i < n && rc == 0; i++) {
            sqlite3_stmt *s = sm__sq_stmt(st, pend_one[t], err);
            rc = s ? run_stmt(st, s, pend_bind(st, s, 0, t, &p->rows[t][i]), err) : st->prep_rc;
        }
    }
    p->total -= n;
    p->n[t] = 0;
    sm_buf_reset(&p->text[t]);
    p->writing = was_writing;
    return rc ? sm__sq_poison(st, rc, err) : 0;
}

int sm__sq_flush_pending(struct sqlite_store *st, struct sm_err *err)
{
    if (st->pend.total == 0 || st->pend.writing)
        return 0;
    for (int t = 0; t < N_PEND; t++) {
        int rc = pend_write(st, (enum pend_table)t, err);
        if (rc) {
            pend_drop(st);
            return rc;
        }
    }
    return 0;
}

/* Queue a row of table t whose strings are strs[0..n_strs) (payload last, len bytes, for an
 * artifact); write the table's rows once PEND_ROWS wait. */
static int pend_add(struct sqlite_store *st, enum pend_table t, struct pend_row *row,
                    const char *const *strs, int n_strs, const char *id, struct sm_err *err)
{
    int rc = 0;
    for (int i = 0; i < n_strs; i++) {
        size_t len =
            t == PEND_ARTIFACTS && i == 2 ? row->payload_len : (strs[i] ? strlen(strs[i]) : 0);
        row->str_off[i] = pend_str(st, t, strs[i], len, &rc);
    }
    if (rc)
        return sm__sq_poison(st,
                             sm_errf(err, rc,
                                     "cannot write %s '%s' to store '%s': the text "
                                     "of the rows waiting is larger than %zu bytes",
                                     pend_what[t], id, st->db_path, st->pend.text[t].max_len),
                             err);
    st->pend.n[t]++;
    st->pend.total++;
    st->dirty = true;
    return st->pend.n[t] == PEND_ROWS ? pend_write(st, t, err) : 0;
}

static int pend_add_run(struct sqlite_store *st, const struct sm_run_rec *r, int64_t fn,
                        struct sm_err *err)
{
    struct pend_row *row = &st->pend.rows[PEND_RUNS][st->pend.n[PEND_RUNS]];
    row->u.run = *r;
    /* The function's fields are in its functions row (fn): none of them is bound. */
    row->u.run.function_path = row->u.run.description = row->u.run.source_id = NULL;
    row->u.run.resource_requirements_json = row->u.run.retry_settings_json = NULL;
    row->function_id = fn;
    const char *strs[] = {r->name, r->tags_json, r->cache_key, r->exception_json,
                          r->external_exception_json};
    _Static_assert(sizeof(strs) / sizeof(strs[0]) <= PEND_STRS, "raise PEND_STRS");
    return pend_add(st, PEND_RUNS, row, strs, 5, r->id, err);
}

static int pend_add_edge(struct sqlite_store *st, const struct sm_edge_rec *e, struct sm_err *err)
{
    struct pend_row *row = &st->pend.rows[PEND_EDGES][st->pend.n[PEND_EDGES]];
    row->u.edge = *e;
    const char *strs[] = {e->destination_name};
    return pend_add(st, PEND_EDGES, row, strs, 1, e->id, err);
}

static int pend_add_artifact(struct sqlite_store *st, const struct sm_artifact_rec *a,
                             const char *payload, size_t len, struct sm_err *err)
{
    struct pend_row *row = &st->pend.rows[PEND_ARTIFACTS][st->pend.n[PEND_ARTIFACTS]];
    row->u.art = *a;
    row->payload_len = len;
    const char *strs[] = {a->type_json, a->summary_json, payload};
    return pend_add(st, PEND_ARTIFACTS, row, strs, 3, a->id, err);
}

static int sq_put_run(struct sm_store *base, const struct sm_run_rec *r, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    if (!st->in_batch)
        return sm__sq_outside_batch(st, "write a run", err);
    int64_t fn = 0;
    int rc = function_id(st, r, &fn, err);
    if (rc)
        return sm__sq_poison(st, rc, err);
    if (r->is_new) {
        rc = pend_add_run(st, r, fn, err);
        if (rc)
            return rc;
    } else {
        sqlite3_stmt *s = sm__sq_stmt(st, S_RUN_UPDATE, err);
        if (!s)
            return sm__sq_poison(st, st->prep_rc, err);
        rc = run_stmt(st, s, bind_run(s, 0, r, fn, st->batch_seq), err);
        if (rc)
            return sm__sq_poison(st, rc, err);
        if (sqlite3_changes(st->db) == 0) {
            /* A run written by another batch, or whose indexed columns changed. */
            s = sm__sq_stmt(st, S_RUN_PUT, err);
            if (!s)
                return sm__sq_poison(st, st->prep_rc, err);
            rc = run_stmt(st, s, bind_run(s, 0, r, fn, st->batch_seq), err);
            if (rc)
                return sm__sq_poison(st, rc, err);
        }
    }
    note_batch_run(st, r->id);
    st->dirty = true;
    return 0;
}

/* SHA-256 of type_json "\n" payload in hex: what an artifact's id must be. */
static void artifact_digest(const char *type_json, const char *payload, size_t len,
                            char hex[SM_SHA256_HEX_LEN + 1])
{
    struct sm_sha256 h;
    uint8_t digest[SM_SHA256_LEN];
    sm_sha256_init(&h);
    sm_sha256_update(&h, type_json, strlen(type_json));
    sm_sha256_update(&h, "\n", 1);
    sm_sha256_update(&h, payload, len);
    sm_sha256_final(&h, digest);
    sm_hex(digest, SM_SHA256_LEN, hex);
}

static int sq_put_artifact(struct sm_store *base, const struct sm_artifact_rec *a,
                           const char *payload, size_t len, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    if (!st->in_batch)
        return sm__sq_outside_batch(st, "write an artifact", err);
    sqlite3_stmt *s;
    int rc;
    /* Sematic's own artifact (a 40-hex SHA-1 id): its payload is a storage object. */
    bool in_storage = strlen(a->id) == SM_SHA1_HEX_LEN;
    if (len > SM_STORE_INLINE_MAX_BYTES && !in_storage) {
        /* Look before writing a blob; a small payload goes straight to INSERT OR IGNORE. */
        s = sm__sq_stmt(st, S_ART_EXISTS, err);
        if (!s)
            return sm__sq_poison(st, st->prep_rc, err);
        sqlite3_bind_text(s, 1, a->id, -1, SQLITE_STATIC);
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            rc = sm__sq_fail(st, rc, "read", err);
            done(s);
            return sm__sq_poison(st, rc, err);
        }
        done(s);
        if (rc == SQLITE_ROW)
            return 0; /* equal values are stored once */
    }

    /* A row whose id does not match its content would read back as corrupted forever. */
    char digest[SM_SHA256_HEX_LEN + 1];
    if (!in_storage)
        artifact_digest(a->type_json, payload, len, digest);
    if (!in_storage && strcmp(digest, a->id) != 0)
        return sm_errf(err, SM_EINVAL,
                       "cannot store artifact '%s': its id is not the SHA-256 of its type, "
                       "\"\\n\" and its payload ('%s'); compute the id from what is stored",
                       a->id, digest);

    char key[SM_SHA256_HEX_LEN + 1] = "";
    if (len > SM_STORE_INLINE_MAX_BYTES) {
        rc = sm_blob_put(st->blobs, payload, len, key, err);
        if (rc)
            return sm__sq_poison(st, rc, err);
    }
    if (!key[0] && !in_storage)
        return pend_add_artifact(st, a, payload, len, err);
    s = sm__sq_stmt(st, S_ART_PUT, err);
    if (!s)
        return sm__sq_poison(st, st->prep_rc, err);
    rc = run_stmt(st, s, bind_artifact(s, 0, a, in_storage ? NULL : payload, len, key), err);
    if (rc)
        return sm__sq_poison(st, rc, err);
    st->dirty = true;
    return 0;
}

static int sq_put_edge(struct sm_store *base, const struct sm_edge_rec *e, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    if (!st->in_batch)
        return sm__sq_outside_batch(st, "write an edge", err);
    if (e->is_new) {
        int rc = pend_add_edge(st, e, err);
        if (rc)
            return rc;
    }
    for (int pass = 0; pass < 2 && !e->is_new; pass++) {
        /* Pass 0: the cheap update of an existing edge; pass 1: the upsert. */
        sqlite3_stmt *s = sm__sq_stmt(st, pass == 0 ? S_EDGE_UPDATE : S_EDGE_PUT, err);
        if (!s)
            return sm__sq_poison(st, st->prep_rc, err);
        int rc = run_stmt(st, s, bind_edge(s, 0, e), err);
        if (rc)
            return sm__sq_poison(st, rc, err);
        if (pass == 0 && sqlite3_changes(st->db) > 0)
            break;
    }
    sm__sq_set_add(&st->batch_edge_roots, e->root_id, SM_ID_HEX_LEN);
    st->dirty = true;
    return 0;
}

/* The stored status of pipeline run root_id into *status (-1 when there is none). */
static int stored_status(struct sqlite_store *st, const char *root_id, int *status,
                         struct sm_err *err)
{
    sqlite3_stmt *s = sm__sq_stmt(st, S_PIPE_STATUS, err);
    if (!s)
        return st->prep_rc;
    sqlite3_bind_text(s, 1, root_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int out = 0;
    *status = -1;
    if (rc == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        *status = sm_pipeline_status_parse(name);
        if (*status < 0)
            out = sm_errf(err, SM_ECORRUPT,
                          "cannot read pipeline run '%s' in store '%s': unknown status '%s'; "
                          "restore the store from a backup",
                          root_id, st->db_path, name ? name : "(null)");
    } else if (rc != SQLITE_DONE) {
        out = sm__sq_fail(st, rc, "read", err);
    }
    done(s);
    return out;
}

static int sq_put_pipeline(struct sm_store *base, const struct sm_pipeline_rec *p,
                           struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    if (!st->in_batch)
        return sm__sq_outside_batch(st, "write a pipeline run", err);
    int from;
    int rc = stored_status(st, p->root_id, &from, err);
    if (rc)
        return rc == SM_ECORRUPT ? rc : sm__sq_poison(st, rc, err);
    rc = sm_pipeline_check_transition(from, p->status, err);
    if (rc)
        return rc;
    sqlite3_stmt *s = sm__sq_stmt(st, S_PIPE_PUT, err);
    if (!s)
        return sm__sq_poison(st, st->prep_rc, err);
    int brc = SQLITE_OK;
    BIND(sqlite3_bind_text(s, 1, p->root_id, -1, SQLITE_STATIC));
    BIND(bind_text(s, 2, sm_pipeline_status_name((enum sm_pipeline_status)p->status)));
    BIND(bind_text(s, 3, p->kind));
    BIND(bind_text(s, 4, p->cache_namespace));
    BIND(bind_text(s, 5, p->user));
    BIND(bind_text(s, 6, p->git_json));
    BIND(bind_text(s, 7, p->settings_json));
    BIND(bind_text(s, 8, p->client_version));
    BIND(bind_text(s, 9, p->run_command));
    BIND(bind_text(s, 10, p->python));
    BIND(bind_text(s, 11, p->cwd));
    BIND(bind_text(s, 12, p->sys_path_json));
    BIND(bind_time(s, 13, p->driver_pid));
    BIND(bind_time(s, 14, p->driver_start));
    BIND(bind_text(s, 15, p->driver_host));
    BIND(sqlite3_bind_int64(s, 16, p->created_at));
    BIND(sqlite3_bind_int64(s, 17, p->updated_at));
    BIND(bind_time(s, 18, p->ended_at));
    BIND(sqlite3_bind_int64(s, 19, st->batch_seq));
    rc = brc != SQLITE_OK ? sm__sq_fail(st, brc, "write", err)
                          : sm__sq_step_done(st, s, "write", err);
    if (brc != SQLITE_OK)
        done(s);
    if (rc)
        return sm__sq_poison(st, rc, err);
    sm__sq_set_add(&st->batch_pipelines, p->root_id, SM_ID_HEX_LEN);
    st->dirty = true;
    return 0;
}

static int sq_put_source(struct sm_store *base, const char *text, size_t len,
                         char id_out[SM_SHA256_HEX_LEN + 1], struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    if (!st->in_batch)
        return sm__sq_outside_batch(st, "write a source", err);
    if (len > INT_MAX)
        return sm_errf(err, SM_ETOOBIG, "cannot store a source of %zu bytes: at most %d", len,
                       INT_MAX);
    uint8_t digest[SM_SHA256_LEN];
    sm_sha256(text, len, digest);
    sm_hex(digest, SM_SHA256_LEN, id_out);
    sqlite3_stmt *s = sm__sq_stmt(st, S_SRC_PUT, err);
    if (!s)
        return sm__sq_poison(st, st->prep_rc, err);
    int brc = SQLITE_OK;
    BIND(sqlite3_bind_text(s, 1, id_out, SM_SHA256_HEX_LEN, SQLITE_STATIC));
    BIND(sqlite3_bind_text(s, 2, text, (int)len, SQLITE_STATIC));
    int rc = brc != SQLITE_OK ? sm__sq_fail(st, brc, "write", err)
                              : sm__sq_step_done(st, s, "write", err);
    if (brc != SQLITE_OK)
        done(s);
    if (rc)
        return sm__sq_poison(st, rc, err);
    st->dirty = true;
    return 0;
}

static int sq_append_log(struct sm_store *base, const struct sm_log_rec *line, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    if (!st->in_batch)
        return sm__sq_outside_batch(st, "append a log line", err);
    sqlite3_stmt *s = sm__sq_stmt(st, S_LOG_PUT, err);
    if (!s)
        return sm__sq_poison(st, st->prep_rc, err);
    size_t len = line->len ? line->len : strlen(line->text);
    if (len > INT_MAX)
        return sm_errf(err, SM_ETOOBIG, "cannot store a log line of %zu bytes: at most %d", len,
                       INT_MAX);
    int brc = SQLITE_OK;
    BIND(sqlite3_bind_text(s, 1, line->run_id, -1, SQLITE_STATIC));
    BIND(sqlite3_bind_int(s, 2, line->stream));
    BIND(sqlite3_bind_int64(s, 3, line->ts));
    BIND(sqlite3_bind_text(s, 4, line->text, (int)len, SQLITE_STATIC));
    int rc = brc != SQLITE_OK ? sm__sq_fail(st, brc, "write", err)
                              : sm__sq_step_done(st, s, "write", err);
    if (brc != SQLITE_OK)
        done(s);
    if (rc)
        return sm__sq_poison(st, rc, err);
    sm__sq_set_add(&st->batch_log_runs, line->run_id, SM_ID_HEX_LEN);
    st->dirty = true;
    return 0;
}

/* ------------------------------------------------------------ reads */

static int sq_get_run(struct sm_store *base, const char *id, struct sm_run_rec *out,
                      struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    sqlite3_stmt *s = sm__sq_stmt(st, S_RUN_GET, err);
    if (!s)
        return st->prep_rc;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int out_rc = 0;
    if (rc == SQLITE_ROW) {
        struct texts t;
        sm__sq_texts_init(&t, st, true);
        sm__sq_run_from_row(&t, s, out);
        out_rc = sm__sq_texts_finish(&t, "run", id, err);
    } else if (rc == SQLITE_DONE) {
        out_rc = sm__sq_not_found(err, "run", id);
    } else {
        out_rc = sm__sq_fail(st, rc, "read", err);
    }
    done(s);
    return out_rc;
}

/* Append `text` to b, each LIKE wildcard and the escape character escaped with '\'. */
int sm__sq_like_pattern(struct sm_buf *b, const char *text)
{
    int rc = sm_buf_addc(b, '%');
    for (const char *c = text; *c && rc == 0; c++) {
        if (*c == '%' || *c == '_' || *c == '\\')
            rc = sm_buf_addc(b, '\\');
        if (rc == 0)
            rc = sm_buf_addc(b, *c);
    }
    return rc ? rc : sm_buf_addc(b, '%');
}

static unsigned query_shape(const struct sm_run_query *q)
{
    unsigned shape = 0;
    shape |= q->root_id ? Q_ROOT : 0;
    shape |= q->parent_id ? Q_PARENT : 0;
    shape |= q->function_path ? Q_FUNCTION_PATH : 0;
    shape |= q->name ? Q_NAME : 0;
    shape |= q->tag ? Q_TAG : 0;
    shape |= q->cache_key ? Q_CACHE_KEY : 0;
    shape |= q->search ? Q_SEARCH : 0;
    shape |= q->state_mask ? Q_STATES : 0;
    shape |= q->roots_only ? Q_ROOTS_ONLY : 0;
    shape |= q->oldest_first ? Q_OLDEST_FIRST : 0;
    return shape;
}

/* The SQL of one query shape; values are always bound, never pasted in. */
static int query_sql(unsigned shape, struct sm_buf *b)
{
    int rc = sm_buf_adds(b, "SELECT " RUN_COLS " FROM runs WHERE 1");
    if (shape & Q_ROOT)
        rc = rc ? rc : sm_buf_adds(b, " AND root_id = :root");
    if (shape & Q_PARENT)
        rc = rc ? rc : sm_buf_adds(b, " AND parent_id = :parent");
    if (shape & Q_FUNCTION_PATH)
        rc = rc ? rc : sm_buf_adds(b, " AND function_path = :function_path");
    if (shape & Q_NAME)
        rc = rc ? rc : sm_buf_adds(b, " AND name = :name");
    if (shape & Q_TAG)
        /* CASE guards json_each(), which fails the whole query on a malformed array. */
        rc = rc ? rc
                : sm_buf_adds(b, " AND CASE WHEN json_valid(tags) THEN EXISTS (SELECT 1 FROM "
                                 "json_each(runs.tags) WHERE value = :tag) ELSE 0 END");
    if (shape & Q_CACHE_KEY)
        rc = rc ? rc : sm_buf_adds(b, " AND cache_key = :cache_key");
    if (shape & Q_SEARCH)
        rc = rc ? rc
                : sm_buf_adds(b, " AND (id LIKE :search ESCAPE '\\' OR name LIKE :search ESCAPE "
                                 "'\\' OR function_path LIKE :search ESCAPE '\\' OR tags LIKE "
                                 ":search ESCAPE '\\')");
    if (shape & Q_STATES)
        rc = rc ? rc : sm_buf_adds(b, " AND (:states >> state) & 1");
    if (shape & Q_ROOTS_ONLY)
        rc = rc ? rc : sm_buf_adds(b, " AND id = root_id");
    if (shape & Q_OLDEST_FIRST)
        rc = rc ? rc : sm_buf_adds(b, " ORDER BY created_at ASC, id ASC");
    else
        rc = rc ? rc : sm_buf_adds(b, " ORDER BY created_at DESC, id DESC");
    return rc ? rc : sm_buf_adds(b, " LIMIT :limit");
}

static int bind_named_text(sqlite3_stmt *s, const char *name, const char *v,
                           sqlite3_destructor_type d)
{
    int i = sqlite3_bind_parameter_index(s, name);
    return i ? sqlite3_bind_text(s, i, v, -1, d) : SQLITE_OK;
}

static int sq_list_runs(struct sm_store *base, const struct sm_run_query *q, sm_run_fn fn,
                        void *ctx, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    int frc = sm__sq_flush_pending(st, err);
    if (frc)
        return frc;
    unsigned shape = query_shape(q);
    sqlite3_stmt *s = st->list_runs[shape];
    bool owned = false;
    /* A callback listing the same shape again gets a statement of its own. */
    if (!s || sqlite3_stmt_busy(s)) {
        struct sm_buf sql = SM_BUF_INIT(1 << 16);
        int rc = query_sql(shape, &sql);
        if (rc) {
            sm_buf_release(&sql);
            return sm_errf(err, rc, "cannot list runs: the query is too long");
        }
        owned = s != NULL;
        rc = sqlite3_prepare_v3(st->db, sql.data, (int)sql.len,
                                owned ? 0 : SQLITE_PREPARE_PERSISTENT, &s, NULL);
        sm_buf_release(&sql);
        if (rc != SQLITE_OK) {
            sqlite3_finalize(s);
            return sm__sq_fail(st, rc, "read", err);
        }
        if (!owned)
            st->list_runs[shape] = s;
    }

    struct sm_buf pattern = SM_BUF_INIT(1 << 20);
    int brc = SQLITE_OK;
    BIND(bind_named_text(s, ":root", q->root_id, SQLITE_STATIC));
    BIND(bind_named_text(s, ":parent", q->parent_id, SQLITE_STATIC));
    BIND(bind_named_text(s, ":function_path", q->function_path, SQLITE_STATIC));
    BIND(bind_named_text(s, ":name", q->name, SQLITE_STATIC));
    BIND(bind_named_text(s, ":tag", q->tag, SQLITE_STATIC));
    BIND(bind_named_text(s, ":cache_key", q->cache_key, SQLITE_STATIC));
    if (q->search) {
        if (sm__sq_like_pattern(&pattern, q->search) != 0)
            brc = SQLITE_TOOBIG;
        else
            BIND(bind_named_text(s, ":search", pattern.data, SQLITE_STATIC));
    }
    if (q->state_mask)
        BIND(sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":states"), q->state_mask));
    BIND(sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":limit"),
                            q->limit > 0 ? q->limit : -1));

    int out = 0;
    if (brc != SQLITE_OK) {
        out = brc == SQLITE_TOOBIG
                  ? sm_errf(err, SM_ETOOBIG, "cannot list runs: the search text is too long")
                  : sm__sq_fail(st, brc, "read", err);
    } else {
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            struct sm_run_rec r;
            struct texts t;
            sm__sq_texts_init(&t, st, false);
            sm__sq_run_from_row(&t, s, &r);
            out = fn(ctx, &r);
            if (out)
                break;
        }
        if (!out && rc != SQLITE_DONE)
            out = sm__sq_fail(st, rc, "read", err);
    }
    if (owned)
        sqlite3_finalize(s);
    else
        done(s);
    sm_buf_release(&pattern);
    return out;
}

/* Verify that type_json "\n" payload hashes to the artifact's id. */
static int check_artifact(const struct sm_artifact_rec *a, const char *payload, size_t len,
                          struct sm_err *err)
{
    char digest[SM_SHA256_HEX_LEN + 1];
    artifact_digest(a->type_json, payload, len, digest);
    if (strcmp(digest, a->id) == 0)
        return 0;
    return sm_errf(err, SM_ECORRUPT,
                   "artifact '%s' is corrupted: its stored type and payload hash to '%.16s...'; "
                   "restore the store from a backup, or delete the artifact and rerun the "
                   "pipeline",
                   a->id, digest);
}

static int sq_get_artifact(struct sm_store *base, const char *id, struct sm_artifact_rec *out,
                           struct sm_buf *payload, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    sqlite3_stmt *s = sm__sq_stmt(st, S_ART_GET, err);
    if (!s)
        return st->prep_rc;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? sm__sq_not_found(err, "artifact", id)
                               : sm__sq_fail(st, rc, "read", err);
        done(s);
        return rc;
    }
    struct texts t;
    sm__sq_texts_init(&t, st, true);
    sm__sq_artifact_from_row(&t, s, out);
    rc = sm__sq_texts_finish(&t, "artifact", id, err);
    size_t start = payload ? payload->len : 0;
    if (!rc && payload && !out->blob_key[0]) {
        const void *bytes = sqlite3_column_blob(s, 6);
        size_t n = (size_t)sqlite3_column_bytes(s, 6);
        if (n && sm_buf_add(payload, bytes, n) != 0)
            rc = sm_errf(err, SM_ETOOBIG,
                         "cannot read artifact '%s': its payload (%zu bytes) is larger than the "
                         "buffer's cap (%zu bytes)",
                         id, n, payload->max_len);
    }
    done(s);
    if (rc || !payload || out->payload_in_storage)
        return rc;
    if (out->blob_key[0]) {
        struct sm_err blob_err = SM_ERR_INIT;
        rc = sm_blob_get(st->blobs, out->blob_key, payload, &blob_err);
        if (rc == SM_ENOTFOUND)
            return sm_errf(err, SM_ECORRUPT,
                           "artifact '%s' is corrupted: its blob '%s' is missing from '%s'; "
                           "restore it from a backup, or delete the artifact and rerun the "
                           "pipeline",
                           id, out->blob_key, sm_blobs_dir(st->blobs));
        if (rc)
            return sm_errf(err, rc, "%s", blob_err.msg);
    }
    rc = check_artifact(out, payload->data ? payload->data + start : "", payload->len - start, err);
    if (rc)
        sm_buf_truncate(payload, start);
    return rc;
}

static int list_edges_with(struct sqlite_store *st, sqlite3_stmt *s, sm_edge_fn fn, void *ctx,
                           struct sm_err *err)
{
    int out = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct sm_edge_rec e;
        struct texts t;
        sm__sq_texts_init(&t, st, false);
        sm__sq_edge_from_row(&t, s, &e);
        out = fn(ctx, &e);
        if (out)
            break;
    }
    if (!out && rc != SQLITE_DONE)
        out = sm__sq_fail(st, rc, "read", err);
    done(s);
    return out;
}

/* A cached listing statement, or a fresh one (*owned) when a callback is still stepping it. */
static sqlite3_stmt *listing_stmt(struct sqlite_store *st, enum stmt_id id, bool *owned,
                                  struct sm_err *err)
{
    *owned = false;
    sqlite3_stmt *s = sm__sq_stmt(st, id, err);
    if (s && sqlite3_stmt_busy(s)) {
        sqlite3_stmt *fresh = NULL;
        int rc = sqlite3_prepare_v2(st->db, sql_text[id], -1, &fresh, NULL);
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
}

static int sq_list_edges(struct sm_store *base, const char *root_id, const char *run_id,
                         sm_edge_fn fn, void *ctx, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    enum stmt_id id = root_id ? (run_id ? S_EDGES_ROOT_RUN : S_EDGES_ROOT) : S_EDGES_RUN;
    bool owned;
    sqlite3_stmt *s = listing_stmt(st, id, &owned, err);
    if (!s)
        return st->prep_rc;
    if (root_id)
        sqlite3_bind_text(s, 1, root_id, -1, SQLITE_STATIC);
    if (run_id)
        sqlite3_bind_text(s, 2, run_id, -1, SQLITE_STATIC);
    int rc = list_edges_with(st, s, fn, ctx, err);
    listing_done(s, owned);
    return rc;
}

static int sq_list_artifacts(struct sm_store *base, const char *root_id, sm_artifact_fn fn,
                             void *ctx, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    bool owned;
    sqlite3_stmt *s = listing_stmt(st, S_ARTS_ROOT, &owned, err);
    if (!s)
        return st->prep_rc;
    sqlite3_bind_text(s, 1, root_id, -1, SQLITE_STATIC);
    int out = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct sm_artifact_rec a;
        struct texts t;
        sm__sq_texts_init(&t, st, false);
        sm__sq_artifact_from_row(&t, s, &a);
        out = fn(ctx, &a);
        if (out)
            break;
    }
    if (!out && rc != SQLITE_DONE)
        out = sm__sq_fail(st, rc, "read", err);
    done(s);
    listing_done(s, owned);
    return out;
}

static int sq_get_pipeline(struct sm_store *base, const char *root_id, struct sm_pipeline_rec *out,
                           struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    sqlite3_stmt *s = sm__sq_stmt(st, S_PIPE_GET, err);
    if (!s)
        return st->prep_rc;
    sqlite3_bind_text(s, 1, root_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int out_rc = 0;
    if (rc == SQLITE_ROW) {
        struct texts t;
        sm__sq_texts_init(&t, st, true);
        pipeline_from_row(&t, s, out);
        out_rc = sm__sq_texts_finish(&t, "pipeline run", root_id, err);
        if (!out_rc && out->status < 0)
            out_rc = sm_errf(err, SM_ECORRUPT,
                             "cannot read pipeline run '%s' in store '%s': unknown status '%s'; "
                             "restore the store from a backup",
                             root_id, st->db_path, (const char *)sqlite3_column_text(s, 1));
    } else if (rc == SQLITE_DONE) {
        out_rc = sm__sq_not_found(err, "pipeline run", root_id);
    } else {
        out_rc = sm__sq_fail(st, rc, "read", err);
    }
    done(s);
    return out_rc;
}

static int sq_get_source(struct sm_store *base, const char *id, struct sm_buf *out,
                         struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    sqlite3_stmt *s = sm__sq_stmt(st, S_SRC_GET, err);
    if (!s)
        return st->prep_rc;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int out_rc = 0;
    if (rc == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(s, 0);
        size_t n = (size_t)sqlite3_column_bytes(s, 0);
        if (sm_buf_add(out, text ? (const char *)text : "", n) != 0)
            out_rc = sm_errf(err, SM_ETOOBIG,
                             "cannot read source '%s': it is larger (%zu bytes) than the "
                             "buffer's cap (%zu bytes)",
                             id, n, out->max_len);
    } else if (rc == SQLITE_DONE) {
        out_rc = sm__sq_not_found(err, "source", id);
    } else {
        out_rc = sm__sq_fail(st, rc, "read", err);
    }
    done(s);
    return out_rc;
}

static int sq_read_logs(struct sm_store *base, const char *run_id, int64_t after_id, int64_t limit,
                        sm_log_fn fn, void *ctx, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    bool owned;
    sqlite3_stmt *s = listing_stmt(st, S_LOG_READ, &owned, err);
    if (!s)
        return st->prep_rc;
    sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, after_id);
    sqlite3_bind_int64(s, 3, limit > 0 ? limit : -1);
    int out = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct sm_log_rec line;
        line.id = sqlite3_column_int64(s, 0);
        col_id(s, 1, line.run_id, sizeof(line.run_id));
        line.stream = sqlite3_column_int(s, 2);
        line.ts = sqlite3_column_int64(s, 3);
        const unsigned char *text = sqlite3_column_text(s, 4);
        line.text = text ? (const char *)text : "";
        line.len = (size_t)sqlite3_column_bytes(s, 4);
        out = fn(ctx, &line);
        if (out)
            break;
    }
    if (!out && rc != SQLITE_DONE)
        out = sm__sq_fail(st, rc, "read", err);
    done(s);
    listing_done(s, owned);
    return out;
}

/* ------------------------------------------------------------ maintenance */

static int sq_set_pipeline_status(struct sm_store *base, const char *root_id, int status,
                                  struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    if (st->in_batch)
        return sm_errf(err, SM_ESTATE,
                       "cannot set the status of pipeline run '%s' inside a batch; commit the "
                       "batch first",
                       root_id);
    int rc = begin_tx(st, err);
    if (rc)
        return rc;
    int64_t seq = 0;
    int from = -1;
    rc = read_seq(st, &seq, err);
    if (!rc)
        rc = stored_status(st, root_id, &from, err);
    if (!rc && from < 0)
        rc = sm__sq_not_found(err, "pipeline run", root_id);
    if (!rc)
        rc = sm_pipeline_check_transition(from, status, err);
    if (rc || from == status)
        goto out_rollback; /* an error, or nothing to change */

    seq += 1;
    int64_t now = sm_now_us();
    bool ends = status == SM_PIPELINE_COMPLETE || status == SM_PIPELINE_FAILED ||
                status == SM_PIPELINE_CANCELED;
    const char *name = sm_pipeline_status_name((enum sm_pipeline_status)status);

    sqlite3_stmt *s = sm__sq_stmt(st, S_PIPE_SET_STATUS, err);
    if (!s) {
        rc = st->prep_rc;
        goto out_rollback;
    }
    sqlite3_bind_text(s, 1, root_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, now);
    bind_time(s, 4, ends ? now : 0);
    sqlite3_bind_int64(s, 5, seq);
    rc = sm__sq_step_done(st, s, "write", err);
    if (rc)
        goto out_rollback;

    if (status == SM_PIPELINE_FAILED || status == SM_PIPELINE_CANCELED) {
        s = sm__sq_stmt(st, S_RUNS_CANCEL, err);
        if (!s) {
            rc = st->prep_rc;
            goto out_rollback;
        }
        sqlite3_bind_text(s, 1, root_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, now);
        sqlite3_bind_int64(s, 3, seq);
        rc = sm__sq_step_done(st, s, "write", err);
        if (rc)
            goto out_rollback;
    }

    char payload[64];
    snprintf(payload, sizeof(payload), "{\"status\":\"%s\"}", name);
    rc = sm__sq_put_event(st, seq, "pipeline_status", root_id, payload, err);
    if (rc)
        goto out_rollback;

    s = sm__sq_stmt(st, S_SEQ_SET, err);
    if (!s) {
        rc = st->prep_rc;
        goto out_rollback;
    }
    sqlite3_bind_int64(s, 1, seq);
    rc = sm__sq_step_done(st, s, "write", err);
    if (rc)
        goto out_rollback;
    s = sm__sq_stmt(st, S_COMMIT, err);
    if (!s) {
        rc = st->prep_rc;
        goto out_rollback;
    }
    rc = sm__sq_step_done(st, s, "commit to", err);
    if (rc)
        goto out_rollback;
    return 0;

out_rollback:
    rollback_tx(st);
    return rc;
}

struct keep_ctx {
    struct sqlite_store *st;
    sqlite3_stmt *s;
    int rc;
    struct sm_err err;
};

/* Keep a blob that an artifact refers to; on a read error keep it too, and remember the error. */
static bool keep_blob(void *ctx, const char *key)
{
    struct keep_ctx *k = ctx;
    if (k->rc)
        return true;
    sqlite3_bind_text(k->s, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(k->s);
    bool keep = true;
    if (rc == SQLITE_DONE)
        keep = false;
    else if (rc != SQLITE_ROW)
        k->rc = sm__sq_fail(k->st, rc, "read", &k->err);
    done(k->s);
    return keep;
}

static int sq_gc_blobs(struct sm_store *base, size_t *n_removed, size_t *bytes_removed,
                       struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    if (n_removed)
        *n_removed = 0;
    if (bytes_removed)
        *bytes_removed = 0;
    if (st->in_batch)
        return sm_errf(err, SM_ESTATE,
                       "cannot collect blobs of store '%s' inside a batch; commit the batch first",
                       st->db_path);
    struct keep_ctx k = {st, sm__sq_stmt(st, S_ART_KEEP, err), 0, SM_ERR_INIT};
    if (!k.s)
        return st->prep_rc;
    /*
     * Blobs are written only inside batches, which hold the write lock. Holding it here means
     * no other process has written a blob whose artifact row is not yet committed.
     */
    int rc = begin_tx(st, err);
    if (rc)
        return rc;
    rc = sm_blob_gc(st->blobs, keep_blob, &k, n_removed, bytes_removed, err);
    rollback_tx(st);
    if (!rc && k.rc)
        rc = sm_errf(err, k.rc, "%s", k.err.msg);
    return rc;
}

static const char *sq_watch_path(struct sm_store *base)
{
    return to_sq(base)->wal_path;
}

static int64_t sq_change_seq(struct sm_store *base)
{
    int64_t seq = -1;
    if (read_seq(to_sq(base), &seq, NULL) != 0)
        return -1;
    return seq;
}

/* ------------------------------------------------------------ open, migrate, close */

/* mkdir -p: create dir and its parents; the message names what could not be created. */
static int make_dirs(const char *dir, struct sm_err *err)
{
    size_t n = strlen(dir);
    char *path = sm_xmalloc(n + 1);
    memcpy(path, dir, n + 1);
    int rc = 0;
    for (size_t i = 1; i <= n && rc == 0; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            char buf[128];
            const char *why = strerror_r(e, buf, sizeof(buf));
            rc = sm_errf(err, e == ENOSPC ? SM_ENOSPC : SM_EIO,
                         "cannot create store directory '%s': %s; check '%s' or set SEMATIC_HOME "
                         "to another directory",
                         dir, why, path);
        }
        path[i] = c;
    }
    sm_free(path);
    if (rc)
        return rc;
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return sm_errf(err, SM_EIO,
                       "cannot open store '%s': it exists and is not a directory; move it away or "
                       "set SEMATIC_HOME to another directory",
                       dir);
    return 0;
}

static long version_number(const char *v)
{
    char *end;
    errno = 0;
    long n = v ? strtol(v, &end, 10) : -1;
    if (!v || errno || end == v || *end)
        return -1;
    return n;
}

/*
 * Which known migrations are applied (applied[i]), whether the table of
 * versions exists, and SM_ECORRUPT for a version this program does not know.
 */
static int scan_versions(struct sqlite_store *st, bool *applied, bool *has_table,
                         struct sm_err *err)
{
    for (size_t i = 0; i < sm__store_n_migrations; i++)
        applied[i] = false;
    *has_table = false;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db,
                                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name "
                                "= 'schema_migrations'",
                                -1, &s, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            *has_table = sqlite3_column_int(s, 0) > 0;
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(s);
    s = NULL;
    if (rc != SQLITE_OK)
        return sm__sq_fail(st, rc, "open", err);
    if (!*has_table)
        return 0;

    long newest_known = version_number(sm__store_migrations[sm__store_n_migrations - 1].version);
    int out = 0;
    rc = sqlite3_prepare_v2(st->db, "SELECT version FROM schema_migrations", -1, &s, NULL);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
            break;
        const char *v = (const char *)sqlite3_column_text(s, 0);
        size_t i = 0;
        while (i < sm__store_n_migrations && strcmp(sm__store_migrations[i].version, v) != 0)
            i++;
        if (i < sm__store_n_migrations) {
            applied[i] = true;
            continue;
        }
        long n = version_number(v);
        if (n > newest_known)
            out = sm_errf(err, SM_ECORRUPT,
                          "store '%s' was written by a newer sematic (schema version %s); "
                          "upgrade sematic",
                          st->db_path, v);
        else
            out = sm_errf(err, SM_ECORRUPT,
                          "store '%s' has schema version '%s', which this sematic does not know; "
                          "restore it from a backup or upgrade sematic",
                          st->db_path, v ? v : "(null)");
        rc = SQLITE_DONE;
        break;
    }
    if (!out && rc != SQLITE_DONE)
        out = sm__sq_fail(st, rc, "open", err);
    sqlite3_finalize(s);
    return out;
}

static bool all_applied(const bool *applied)
{
    for (size_t i = 0; i < sm__store_n_migrations; i++)
        if (!applied[i])
            return false;
    return true;
}

/* Bring the schema up to date, in one transaction; opening an up-to-date store takes no lock. */
static int migrate(struct sqlite_store *st, struct sm_err *err)
{
    bool *applied = sm_xcalloc(sm__store_n_migrations, sizeof(bool));
    bool has_table;
    int rc = scan_versions(st, applied, &has_table, err);
    if (rc || all_applied(applied))
        goto out;

    /* Another process may be migrating too: take the write lock, then look again. */
    rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = sm__sq_fail(st, rc, "lock", err);
        goto out;
    }
    rc = sqlite3_exec(st->db, sm__store_migrations_table_sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = sm__sq_fail(st, rc, "migrate", err);
        goto out_rollback;
    }
    rc = scan_versions(st, applied, &has_table, err);
    if (rc)
        goto out_rollback;
    for (size_t i = 0; i < sm__store_n_migrations; i++) {
        if (applied[i])
            continue;
        rc = sqlite3_exec(st->db, sm__store_migrations[i].up_sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            rc = sm__sq_fail(st, rc, "migrate", err);
            goto out_rollback;
        }
        sqlite3_stmt *s = NULL;
        rc = sqlite3_prepare_v2(st->db, "INSERT INTO schema_migrations (version) VALUES (?1)", -1,
                                &s, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(s, 1, sm__store_migrations[i].version, -1, SQLITE_STATIC);
            rc = sqlite3_step(s);
            rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        }
        if (rc != SQLITE_OK)
            rc = sm__sq_fail(st, rc, "migrate", err);
        sqlite3_finalize(s);
        if (rc)
            goto out_rollback;
        st->n_migrated++;
    }
    rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = sm__sq_fail(st, rc, "migrate", err);
        goto out_rollback;
    }
    goto out;

out_rollback:
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    st->n_migrated = 0;
out:
    sm_free(applied);
    return rc;
}

/*
 * Every table of this version's schema (its snapshot, compiled in) is there. A store made by a
 * development build whose first migration differed lacks some, which surfaced only at the first
 * write ("no such table: functions"): say so when it opens, with what to do.
 */
static int check_tables(struct sqlite_store *st, struct sm_err *err)
{
    static const char create[] = "CREATE TABLE ";
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(
        st->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1, &s, NULL);
    if (rc != SQLITE_OK) {
        rc = sm__sq_fail(st, rc, "open", err);
        sqlite3_finalize(s);
        return rc;
    }
    int out = 0;
    for (const char *p = strstr(sm__store_schema_snapshot, create); out == 0 && p != NULL;
         p = strstr(p, create)) {
        p += sizeof(create) - 1;
        int n = (int)strcspn(p, " (\n");
        sqlite3_bind_text(s, 1, p, n, SQLITE_STATIC);
        rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            out = sm_errf(err, SM_ECORRUPT,
                          "cannot open store '%s': its table '%.*s' is missing, so an older "
                          "development build of sematic made it; move it away or set "
                          "SEMATIC_HOME to another directory",
                          st->db_path, n, p);
        else if (rc != SQLITE_ROW)
            out = sm__sq_fail(st, rc, "open", err);
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    return out;
}

static void sq_close(struct sm_store *base)
{
    struct sqlite_store *st = to_sq(base);
    if (st->in_batch)
        rollback_tx(st);
    for (int i = 0; i < N_STMT; i++)
        sqlite3_finalize(st->stmts[i]);
    for (int i = 0; i < N_AUX_STMT; i++)
        sqlite3_finalize(st->aux[i]);
    for (int i = 0; i < N_QUERY_SHAPES; i++)
        sqlite3_finalize(st->list_runs[i]);
    for (int t = 0; t < N_PEND; t++) {
        sqlite3_finalize(st->pend.many[t]);
        sm_buf_release(&st->pend.text[t]);
    }
    sqlite3_close_v2(st->db);
    sm_blobs_close(st->blobs);
    sm_buf_release(&st->scratch);
    sm_buf_release(&st->batch_runs);
    sm_buf_release(&st->batch_edge_roots.text);
    sm_buf_release(&st->batch_pipelines.text);
    sm_buf_release(&st->batch_log_runs.text);
    sm_buf_release(&st->batch_metrics.text);
    sm_buf_release(&st->fn_key);
    fn_cache_clear(st);
    sm_free(st->db_path);
    sm_free(st->wal_path);
    if (st->wal_fd >= 0)
        close(st->wal_fd);
    sm_free(st->base.home);
    sm_free(st);
}

/*
 * SQLite's memory statistics (on by default) take a global mutex around every malloc and free
 * it makes: a fifth of the time of an INSERT here (measured: 9.3 -> 7.7 us a run row). Nothing
 * reads them, so they are turned off once, before the first connection of the process. When
 * something else in the process started SQLite first (Python's sqlite3 module), the call fails
 * with SQLITE_MISUSE and the statistics stay: slower, not wrong.
 */
static void configure_sqlite(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static pthread_once_t configure_once = PTHREAD_ONCE_INIT;

static int open_db(struct sqlite_store *st, enum sm_store_sync sync, struct sm_err *err)
{
    pthread_once(&configure_once, configure_sqlite);
    int rc =
        sqlite3_open_v2(st->db_path, &st->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (!st->db)
            return sm_errf(err, SM_ENOMEM, "cannot open store '%s': out of memory", st->db_path);
        return sm__sq_fail(st, rc, "open", err);
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    /* The first statement reads the file's header: a file that is not a database fails here. */
    rc = sqlite3_exec(st->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(st->db,
                          sync == SM_STORE_SYNC_FULL ? "PRAGMA synchronous = FULL"
                                                     : "PRAGMA synchronous = NORMAL",
                          NULL, NULL, NULL);
    /* SYNC_LATER: the WAL is fsynced by sm_store_sync() and checkpointed by another handle;
     * this one checkpoints only past 256 MiB of WAL (65,536 pages of 4 KiB), a backstop for
     * when the other falls behind. */
    if (rc == SQLITE_OK && sync == SM_STORE_SYNC_LATER)
        rc = sqlite3_exec(st->db, "PRAGMA wal_autocheckpoint = 65536", NULL, NULL, NULL);
    /*
     * No handle checkpoints when it closes: the last one to close would copy what the WAL
     * holds into the database first (and fsync it), so the first `sematic runs` after a
     * 100,000-step pipeline took 0.9 s instead of 13 ms. Writers copy it as they commit (the
     * autocheckpoint, LocalRunner's checkpointer); the WAL file stays, and shrinks back to
     * 64 MiB when a writer starts it over.
     */
    if (rc == SQLITE_OK)
        rc = sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(st->db, "PRAGMA journal_size_limit = 67108864", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(st->db, "PRAGMA foreign_keys = OFF", NULL, NULL, NULL);
    /* A batch of a big pipeline touches many index pages: 64 MiB of page cache (the
     * default is 2 MiB) keeps them in memory instead of re-reading them with pread. */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(st->db, "PRAGMA cache_size = -65536", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sm__sq_fail(st, rc, "open", err);
    return 0;
}

struct sm_store *sm_store_open_sqlite(const char *home, enum sm_store_sync sync, struct sm_err *err)
{
    if (!home || !home[0]) {
        sm_errf(err, SM_EINVAL, "invalid store home: empty; pass a directory");
        return NULL;
    }
    if (sync != SM_STORE_SYNC_FULL && sync != SM_STORE_SYNC_NORMAL && sync != SM_STORE_SYNC_LATER) {
        sm_errf(err, SM_EINVAL,
                "invalid store sync mode %d: pass SM_STORE_SYNC_FULL, _NORMAL or _LATER",
                (int)sync);
        return NULL;
    }
    if (make_dirs(home, err) != 0)
        return NULL;

    struct sqlite_store *st = sm_xcalloc(1, sizeof(*st));
    st->base.ops = &sqlite_ops;
    st->base.home = dup_string(home);
    st->db_path = join_path(home, "sematic.db");
    st->wal_path = join_path(home, "sematic.db-wal");
    st->wal_fd = -1;
    sm_buf_init(&st->scratch, SCRATCH_MAX_BYTES);
    sm_buf_init(&st->batch_runs, BATCH_RUN_IDS_MAX_BYTES);
    sm_buf_init(&st->batch_edge_roots.text, SQ_SET_MAX_BYTES);
    sm_buf_init(&st->batch_pipelines.text, SQ_SET_MAX_BYTES);
    sm_buf_init(&st->batch_log_runs.text, SQ_SET_MAX_BYTES);
    sm_buf_init(&st->batch_metrics.text, SQ_SET_MAX_BYTES);
    sm_buf_init(&st->fn_key, SCRATCH_MAX_BYTES);
    for (int t = 0; t < N_PEND; t++)
        sm_buf_init(&st->pend.text[t], SCRATCH_MAX_BYTES);

    /*
     * SQLite reports SQLITE_BUSY at once, without its busy handler, when another connection
     * is switching the file to WAL or migrating it (two LocalRunners opening a fresh store
     * together): start again from a fresh handle until the busy timeout has passed.
     */
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct sm_err try_err = SM_ERR_INIT;
        if (open_db(st, sync, &try_err) == 0 && migrate(st, &try_err) == 0 &&
            check_tables(st, &try_err) == 0)
            break;
        clock_gettime(CLOCK_MONOTONIC, &t);
        int64_t waited_ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (try_err.code != SM_EBUSY || waited_ms >= BUSY_TIMEOUT_MS) {
            sm_errf(err, try_err.code ? try_err.code : SM_EIO, "%s", try_err.msg);
            goto fail_close;
        }
        sqlite3_close_v2(st->db);
        st->db = NULL;
        struct timespec pause = {0, 10 * 1000000};
        nanosleep(&pause, NULL);
    }
    char *blob_dir = join_path(home, "blobs");
    st->blobs = sm_blobs_open(blob_dir, err);
    sm_free(blob_dir);
    if (!st->blobs)
        goto fail_close;
    return &st->base;

fail_close:
    sq_close(&st->base);
    return NULL;
}

int sm__store_sqlite_n_migrated(const struct sm_store *s)
{
    if (!s || s->ops != &sqlite_ops)
        return -1;
    return ((const struct sqlite_store *)s)->n_migrated;
}

/* ------------------------------------------------------------ schema tools (tests, `sematic`) */

/* A bare handle on db_path for the schema tools: no migration, no blobs. */
static int open_bare(struct sqlite_store *st, const char *db_path, struct sm_err *err)
{
    memset(st, 0, sizeof(*st));
    st->db_path = (char *)db_path;
    st->base.home = (char *)db_path;
    pthread_once(&configure_once, configure_sqlite);
    int rc = sqlite3_open_v2(db_path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = st->db ? sm__sq_fail(st, rc, "open", err)
                    : sm_errf(err, SM_ENOMEM, "cannot open store '%s': out of memory", db_path);
        sqlite3_close_v2(st->db);
        st->db = NULL;
        return rc;
    }
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    return 0;
}

int sm__store_dump_schema(const char *db_path, struct sm_buf *out, struct sm_err *err)
{
    struct sqlite_store st;
    int rc = open_bare(&st, db_path, err);
    if (rc)
        return rc;
    sqlite3_stmt *s = NULL;
    int brc = 0;
    rc = sqlite3_prepare_v2(st.db,
                            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT "
                            "LIKE 'sqlite_%' ORDER BY tbl_name, type DESC, name",
                            -1, &s, NULL);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
            break;
        brc = brc ? brc : sm_buf_adds(out, (const char *)sqlite3_column_text(s, 0));
        brc = brc ? brc : sm_buf_adds(out, ";\n");
    }
    sqlite3_finalize(s);
    s = NULL;
    brc = brc ? brc : sm_buf_adds(out, "-- versions:");
    if (rc == SQLITE_DONE)
        rc = sqlite3_prepare_v2(st.db, "SELECT version FROM schema_migrations ORDER BY version", -1,
                                &s, NULL);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
            break;
        brc = brc ? brc : sm_buf_addc(out, ' ');
        brc = brc ? brc : sm_buf_adds(out, (const char *)sqlite3_column_text(s, 0));
    }
    brc = brc ? brc : sm_buf_addc(out, '\n');
    int out_rc = 0;
    if (rc != SQLITE_DONE)
        out_rc = sm__sq_fail(&st, rc, "read", err);
    else if (brc)
        out_rc = sm_errf(err, brc, "cannot dump the schema of '%s': it is too long", db_path);
    sqlite3_finalize(s);
    sqlite3_close_v2(st.db);
    return out_rc;
}

int sm__store_migrate_down(const char *db_path, const char *to, struct sm_err *err)
{
    struct sqlite_store st;
    int rc = open_bare(&st, db_path, err);
    if (rc)
        return rc;
    long floor = version_number(to);
    bool *applied = sm_xcalloc(sm__store_n_migrations, sizeof(bool));
    bool has_table;
    rc = sqlite3_exec(st.db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = sm__sq_fail(&st, rc, "lock", err);
        goto out;
    }
    rc = scan_versions(&st, applied, &has_table, err);
    for (size_t i = sm__store_n_migrations; rc == 0 && i-- > 0;) {
        const struct sm__migration *m = &sm__store_migrations[i];
        if (!applied[i] || version_number(m->version) <= floor)
            continue;
        rc = sqlite3_exec(st.db, m->down_sql, NULL, NULL, NULL);
        sqlite3_stmt *s = NULL;
        if (rc == SQLITE_OK)
            rc = sqlite3_prepare_v2(st.db, "DELETE FROM schema_migrations WHERE version = ?1", -1,
                                    &s, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(s, 1, m->version, -1, SQLITE_STATIC);
            rc = sqlite3_step(s);
            rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        }
        if (rc != SQLITE_OK)
            rc = sm__sq_fail(&st, rc, "migrate", err);
        sqlite3_finalize(s);
    }
    if (rc == 0) {
        rc = sqlite3_exec(st.db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            rc = sm__sq_fail(&st, rc, "migrate", err);
    }
out:
    if (rc && !sqlite3_get_autocommit(st.db))
        sqlite3_exec(st.db, "ROLLBACK", NULL, NULL, NULL);
    sm_free(applied);
    sqlite3_close_v2(st.db);
    return rc;
}

/* ------------------------------------------------------------ the table */

/*
 * Durability of a SYNC_LATER handle's commits, from another thread: fdatasync of the WAL
 * through a descriptor of our own (the connection is not to be touched from two threads).
 * The WAL file stays the same while this handle's connection is open: SQLite deletes it only
 * when the last connection closes.
 */
static int sq_sync(struct sm_store *base, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    if (st->wal_fd < 0) {
        st->wal_fd = open(st->wal_path, O_RDONLY | O_CLOEXEC);
        if (st->wal_fd < 0 && errno == ENOENT)
            return 0; /* nothing committed yet */
        if (st->wal_fd < 0)
            return sm_errf(err, SM_EIO, "cannot open store WAL '%s' to sync it: %s", st->wal_path,
                           strerror(errno));
    }
    if (fdatasync(st->wal_fd) != 0)
        return sm_errf(err, errno == ENOSPC ? SM_ENOSPC : SM_EIO,
                       "cannot sync store WAL '%s': %s; what the last batches wrote may be lost "
                       "on a power failure",
                       st->wal_path, strerror(errno));
    return 0;
}

static int sq_checkpoint(struct sm_store *base, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    int rc = sqlite3_wal_checkpoint_v2(st->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    /* Interrupted: what it copied stays. Busy: another connection is checkpointing. */
    if (rc == SQLITE_OK || rc == SQLITE_INTERRUPT || (rc & 0xff) == SQLITE_BUSY)
        return 0;
    return sm__sq_fail(st, rc, "checkpoint", err);
}

static void sq_interrupt(struct sm_store *base)
{
    sqlite3_interrupt(to_sq(base)->db);
}

static void sq_trim(struct sm_store *base, size_t keep_bytes)
{
    struct sqlite_store *st = to_sq(base);
    int used = 0, highwater = 0;
    if (sqlite3_db_status(st->db, SQLITE_DBSTATUS_CACHE_USED, &used, &highwater, 0) == SQLITE_OK &&
        (size_t)used > keep_bytes)
        sqlite3_db_release_memory(st->db);
}

static const struct sm_store_ops sqlite_ops = {
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .put_run = sq_put_run,
    .put_artifact = sq_put_artifact,
    .put_edge = sq_put_edge,
    .put_pipeline = sq_put_pipeline,
    .put_source = sq_put_source,
    .append_log = sq_append_log,
    .get_run = sq_get_run,
    .list_runs = sq_list_runs,
    .get_artifact = sq_get_artifact,
    .list_edges = sq_list_edges,
    .list_artifacts = sq_list_artifacts,
    .get_pipeline = sq_get_pipeline,
    .get_source = sq_get_source,
    .read_logs = sq_read_logs,
    .set_pipeline_status = sq_set_pipeline_status,
    .gc_blobs = sq_gc_blobs,
    .change_seq = sq_change_seq,
    .query = sm__sq_query,
    .list_events = sm__sq_list_events,
    .put_note = sm__sq_put_note,
    .delete_note = sm__sq_delete_note,
    .get_note = sm__sq_get_note,
    .append_metrics = sm__sq_append_metrics,
    .list_metric_names = sm__sq_list_metric_names,
    .metric_series = sm__sq_metric_series,
    .put_user = sm__sq_put_user,
    .new_api_key = sm__sq_new_api_key,
    .get_user = sm__sq_get_user,
    .find_user_by_api_key = sm__sq_find_user_by_api_key,
    .list_users = sm__sq_list_users,
    .put_object = sm__sq_put_object,
    .get_object = sm__sq_get_object,
    .watch_path = sq_watch_path,
    .list_pipeline = sm__sq_list_pipeline,
    .read_dag = sm__sq_read_dag,
    .sync = sq_sync,
    .checkpoint = sq_checkpoint,
    .interrupt = sq_interrupt,
    .claim_batch_key = sm__sq_claim_batch_key,
    .trim = sq_trim,
};
