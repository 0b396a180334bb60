/*
 * sqlite_graph.c: whole pipelines on the SQLite backend, as the server reads
 * them: every run, edge or artifact of one pipeline run in the order the
 * store holds them (sm_store_list_pipeline), and a pipeline's compact graph
 * with the change sequence it was read at (sm_store_read_dag).
 *
 * Invariants.
 *  - No sort. runs_root_id and edges_root_id index (root_id, rowid), so the
 *    rows of one pipeline come out of the index in rowid order, the order
 *    they were first written (an upsert keeps its row's rowid): ORDER BY
 *    rowid costs nothing, where ORDER BY created_at sorted 100,000 runs and
 *    200,000 edges, whole rows, for every graph served.
 *  - sm_store_read_dag() reads the change sequence, the runs and the edges
 *    in one read transaction (or inside the open batch), so the sequence
 *    is exactly the state the rows show.
 *  - This file's cached statements use aux slots 32 and up (sqlite_query.c
 *    has 0 to 7, sqlite_server.c 8 to 31).
 *
 *  - Artifacts come each once: looked up in the order the pipeline's edges
 *    first name them, or in table order when a pass over the table is cheaper.
 *
 * Start reading at sm__sq_read_dag().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "sematic/alloc.h"
#include "sematic/store.h"
#include "store/sqlite_int.h"

#include "util/banned.h"

enum {
    A_PIPE_RUNS = 32,
    A_PIPE_EDGES,
    A_PIPE_ARTS,
    A_PIPE_ART_GET,
    A_PIPE_ART_COUNT,
    A_PIPE_ART_ALL,
    A_DAG_BEGIN,
    A_DAG_END,
    A_DAG_SEQ,
    A_DAG_RUNS,
    A_DAG_EDGES,
    A_GRAPH_END
};
_Static_assert(A_GRAPH_END <= N_AUX_STMT, "sqlite_int.h: raise N_AUX_STMT");

static const char pipe_runs_sql[] =
    "SELECT r.id, r.root_id, r.parent_id, r.nested_id, r.original_run_id, r.state, r.name, "
    "f.function_path, f.description, f.source_id, r.tags, f.resource_requirements, "
    "f.retry_settings, r.cache_key, r.exception, r.external_exception, f.is_inline, r.attempt, "
    "r.created_at, r.updated_at, r.started_at, r.ended_at, r.resolved_at, r.failed_at, r.seq "
    "FROM run_rows r JOIN functions f ON f.id = r.function_id WHERE r.root_id = ?1 "
    "ORDER BY r.rowid";
static const char pipe_edges_sql[] =
    "SELECT " EDGE_COLS " FROM edges WHERE root_id = ?1 ORDER BY rowid";
/*
 * Artifacts: the edges' artifact ids in write order, each new one looked up by id. SQL's
 * "id IN (SELECT artifact_id ...)" builds a b-tree of 200,000 ids first (0.7 s for a
 * 100,000-run pipeline); a hash set of the ids seen costs a few milliseconds.
 */
static const char pipe_art_ids_sql[] = "SELECT artifact_id FROM edges WHERE root_id = ?1 AND "
                                       "artifact_id IS NOT NULL ORDER BY rowid";
static const char pipe_art_get_sql[] = "SELECT " ART_COLS " FROM artifacts WHERE id = ?1";
/* An upper bound of the store's artifacts, at the cost of one descent of the table. */
static const char pipe_art_count_sql[] = "SELECT coalesce(max(rowid), 0) FROM artifacts";
static const char pipe_art_all_sql[] = "SELECT " ART_COLS " FROM artifacts";
static const char dag_seq_sql[] = "SELECT value FROM meta WHERE key = 'change_seq'";
static const char dag_runs_sql[] =
    "SELECT r.id, r.parent_id, r.name, f.function_path, r.state "
    "FROM run_rows r JOIN functions f ON f.id = r.function_id WHERE r.root_id = ?1 "
    "ORDER BY r.rowid";
static const char dag_edges_sql[] =
    "SELECT source_run_id, destination_run_id FROM edges WHERE root_id = ?1 AND "
    "source_run_id IS NOT NULL AND destination_run_id IS NOT NULL ORDER BY rowid";

/* Cached statement `slot`, or a fresh one (*owned) when a callback is still stepping it. */
static sqlite3_stmt *stmt(struct sqlite_store *st, int slot, const char *sql, bool *owned,
                          struct sm_err *err)
{
    *owned = false;
    sqlite3_stmt *s = sm__sq_aux(st, slot, sql, err);
    if (s != NULL && sqlite3_stmt_busy(s)) {
        sqlite3_stmt *fresh = NULL;
        int rc = sqlite3_prepare_v2(st->db, sql, -1, &fresh, NULL);
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

static void stmt_done(sqlite3_stmt *s, bool owned)
{
    if (owned)
        sqlite3_finalize(s);
    else
        done(s);
}

/*
 * A set of artifact ids, in the order added: the ids in an array, and a table of 64-bit
 * slots (a 32-bit hash tag above the index + 1; 0 is empty) small enough to stay in cache,
 * so a probe touches an id only when its tag matches.
 */
struct id_set {
    char (*ids)[SM_SHA256_HEX_LEN + 1];
    size_t n, cap;
    uint64_t *slots;
    size_t mask;
};

static uint64_t id_hash(const char *id, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ len;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = 0;
        memcpy(&w, id + i, len - i < 8 ? len - i : 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    return h;
}

static void id_set_release(struct id_set *set)
{
    sm_free(set->ids);
    sm_free(set->slots);
}

/* The slot of id (len bytes), or of the empty slot where it would go; *found says which. */
static size_t id_set_probe(const struct id_set *set, const char *id, size_t len, uint64_t h,
                           bool *found)
{
    uint64_t tag = h >> 32 << 32;
    size_t k = h & set->mask;
    for (; set->slots[k] != 0; k = (k + 1) & set->mask) {
        uint64_t v = set->slots[k];
        if ((v >> 32 << 32) != tag)
            continue;
        const char *have = set->ids[(uint32_t)v - 1];
        if (strncmp(have, id, len) == 0 && have[len] == '\0') {
            *found = true;
            return k;
        }
    }
    *found = false;
    return k;
}

static bool id_set_has(const struct id_set *set, const char *id, size_t len)
{
    bool found = false;
    if (set->slots != NULL)
        id_set_probe(set, id, len, id_hash(id, len), &found);
    return found;
}

/* Add id (len bytes, 1 to 64) unless it is there. */
static void id_set_add(struct id_set *set, const char *id, size_t len)
{
    if ((set->n + 1) * 2 > (set->slots ? set->mask + 1 : 0)) {
        size_t size = set->slots ? (set->mask + 1) * 2 : 1024;
        uint64_t *slots = sm_xcalloc(size, sizeof(*slots));
        for (size_t i = 0; i < set->n; i++) {
            uint64_t h = id_hash(set->ids[i], strlen(set->ids[i]));
            size_t k = h & (size - 1);
            while (slots[k] != 0)
                k = (k + 1) & (size - 1);
            slots[k] = (h >> 32 << 32) | (uint64_t)(i + 1);
        }
        sm_free(set->slots);
        set->slots = slots;
        set->mask = size - 1;
    }
    uint64_t h = id_hash(id, len);
    bool found;
    size_t k = id_set_probe(set, id, len, h, &found);
    if (found)
        return;
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 256;
        set->ids = sm_xrealloc(set->ids, set->cap * sizeof(*set->ids));
    }
    memcpy(set->ids[set->n], id, len);
    set->ids[set->n][len] = '\0';
    set->slots[k] = (h >> 32 << 32) | (uint64_t)(++set->n);
}

static int deliver_artifact(struct sqlite_store *st, sqlite3_stmt *s, sm_artifact_fn fn, void *ctx)
{
    struct texts t;
    sm__sq_texts_init(&t, st, false);
    struct sm_artifact_rec a;
    sm__sq_artifact_from_row(&t, s, &a);
    return fn(ctx, &a);
}

/*
 * The artifacts of a pipeline's edges, each once. Their ids first (a hash set), then either a
 * lookup of each by id, in the order the edges name them, or, when they are a quarter or
 * more of the store's artifacts, one pass over the table keeping those in the set: a lookup
 * through the text primary key costs about ten rows of a pass (2.5 us against 0.2 us).
 */
static int list_pipeline_artifacts(struct sqlite_store *st, sqlite3_stmt *ids, sm_artifact_fn fn,
                                   void *ctx, struct sm_err *err)
{
    struct id_set set = {0};
    int out = 0, rc;
    while ((rc = sqlite3_step(ids)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(ids, 0);
        size_t len = (size_t)sqlite3_column_bytes(ids, 0);
        if (id != NULL && len > 0 && len <= SM_SHA256_HEX_LEN)
            id_set_add(&set, id, len);
    }
    if (rc != SQLITE_DONE)
        out = sm__sq_fail(st, rc, "read", err);
    int64_t n_stored = 0;
    bool owned;
    sqlite3_stmt *s = NULL;
    if (!out && set.n > 0) {
        s = stmt(st, A_PIPE_ART_COUNT, pipe_art_count_sql, &owned, err);
        if (s == NULL)
            out = st->prep_rc;
        else if ((rc = sqlite3_step(s)) == SQLITE_ROW)
            n_stored = sqlite3_column_int64(s, 0);
        else
            out = sm__sq_fail(st, rc, "read", err);
        if (s != NULL)
            stmt_done(s, owned);
    }
    if (!out && set.n > 0 && (int64_t)set.n * 4 >= n_stored) {
        s = stmt(st, A_PIPE_ART_ALL, pipe_art_all_sql, &owned, err);
        if (s == NULL) {
            out = st->prep_rc;
        } else {
            while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                const char *id = (const char *)sqlite3_column_text(s, 0);
                size_t len = (size_t)sqlite3_column_bytes(s, 0);
                if (id != NULL && id_set_has(&set, id, len) &&
                    (out = deliver_artifact(st, s, fn, ctx)) != 0)
                    break;
            }
            if (!out && rc != SQLITE_DONE)
                out = sm__sq_fail(st, rc, "read", err);
            stmt_done(s, owned);
        }
    } else if (!out && set.n > 0) {
        s = stmt(st, A_PIPE_ART_GET, pipe_art_get_sql, &owned, err);
        if (s == NULL)
            out = st->prep_rc;
        for (size_t i = 0; s != NULL && i < set.n && !out; i++) {
            sqlite3_bind_text(s, 1, set.ids[i], -1, SQLITE_STATIC);
            rc = sqlite3_step(s);
            if (rc == SQLITE_ROW)
                out = deliver_artifact(st, s, fn, ctx);
            else if (rc != SQLITE_DONE) /* DONE: an edge may name an artifact not yet written */
                out = sm__sq_fail(st, rc, "read", err);
            sqlite3_reset(s);
        }
        if (s != NULL)
            stmt_done(s, owned);
    }
    id_set_release(&set);
    return out;
}

int sm__sq_list_pipeline(struct sm_store *base, enum sm_entity e, const char *root_id,
                         union sm_row_fn fn, void *ctx, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    int slot = e == SM_ENTITY_RUNS    ? A_PIPE_RUNS
               : e == SM_ENTITY_EDGES ? A_PIPE_EDGES
                                      : A_PIPE_ARTS;
    const char *sql = e == SM_ENTITY_RUNS    ? pipe_runs_sql
                      : e == SM_ENTITY_EDGES ? pipe_edges_sql
                                             : pipe_art_ids_sql;
    bool owned;
    sqlite3_stmt *s = stmt(st, slot, sql, &owned, err);
    if (s == NULL)
        return st->prep_rc;
    sqlite3_bind_text(s, 1, root_id, -1, SQLITE_STATIC);
    if (e == SM_ENTITY_ARTIFACTS) {
        int out = list_pipeline_artifacts(st, s, fn.artifact, ctx, err);
        stmt_done(s, owned);
        return out;
    }
    int out = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct texts t;
        sm__sq_texts_init(&t, st, false);
        if (e == SM_ENTITY_RUNS) {
            struct sm_run_rec r;
            sm__sq_run_from_row(&t, s, &r);
            out = fn.run(ctx, &r);
        } else {
            struct sm_edge_rec ed;
            sm__sq_edge_from_row(&t, s, &ed);
            out = fn.edge(ctx, &ed);
        }
        if (out)
            break;
    }
    if (!out && rc != SQLITE_DONE)
        out = sm__sq_fail(st, rc, "read", err);
    stmt_done(s, owned);
    return out;
}

/* Step s (bound) to its end, handing each row to row(). */
static int each_row(struct sqlite_store *st, sqlite3_stmt *s,
                    int (*row)(sqlite3_stmt *s, void *arg), void *arg, struct sm_err *err)
{
    int out = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        out = row(s, arg);
        if (out)
            break;
    }
    if (!out && rc != SQLITE_DONE)
        out = sm__sq_fail(st, rc, "read", err);
    return out;
}

struct dag_call {
    sm_dag_run_fn run_fn;
    sm_dag_edge_fn edge_fn;
    void *ctx;
};

static const char *text_or_empty(sqlite3_stmt *s, int col)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    return v ? (const char *)v : "";
}

static int dag_run_row(sqlite3_stmt *s, void *arg)
{
    const struct dag_call *c = arg;
    const unsigned char *parent = sqlite3_column_text(s, 1);
    struct sm_dag_run r = {
        .id = text_or_empty(s, 0),
        .parent_id = parent != NULL && parent[0] != '\0' ? (const char *)parent : NULL,
        .name = text_or_empty(s, 2),
        .function_path = text_or_empty(s, 3),
        .state = sqlite3_column_int(s, 4),
    };
    return c->run_fn(c->ctx, &r);
}

static int dag_edge_row(sqlite3_stmt *s, void *arg)
{
    const struct dag_call *c = arg;
    return c->edge_fn(c->ctx, text_or_empty(s, 0), text_or_empty(s, 1));
}

/* The statements of the transaction, each run once, in order. */
static int dag_read(struct sqlite_store *st, const char *root_id, int64_t *change_seq,
                    struct dag_call *c, struct sm_err *err)
{
    bool owned;
    sqlite3_stmt *s = stmt(st, A_DAG_SEQ, dag_seq_sql, &owned, err);
    if (s == NULL)
        return st->prep_rc;
    int rc = sqlite3_step(s);
    int out = 0;
    if (rc == SQLITE_ROW)
        *change_seq = sqlite3_column_int64(s, 0);
    else if (rc == SQLITE_DONE)
        out = sm_errf(err, SM_ECORRUPT,
                      "cannot read store '%s': its change sequence is missing from table meta; "
                      "restore it from a backup",
                      st->db_path);
    else
        out = sm__sq_fail(st, rc, "read", err);
    stmt_done(s, owned);
    if (out)
        return out;

    s = stmt(st, A_DAG_RUNS, dag_runs_sql, &owned, err);
    if (s == NULL)
        return st->prep_rc;
    sqlite3_bind_text(s, 1, root_id, -1, SQLITE_STATIC);
    out = each_row(st, s, dag_run_row, c, err);
    stmt_done(s, owned);
    if (out)
        return out;

    s = stmt(st, A_DAG_EDGES, dag_edges_sql, &owned, err);
    if (s == NULL)
        return st->prep_rc;
    sqlite3_bind_text(s, 1, root_id, -1, SQLITE_STATIC);
    out = each_row(st, s, dag_edge_row, c, err);
    stmt_done(s, owned);
    return out;
}

int sm__sq_read_dag(struct sm_store *base, const char *root_id, int64_t *change_seq,
                    sm_dag_run_fn run_fn, sm_dag_edge_fn edge_fn, void *ctx, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    struct dag_call c = {run_fn, edge_fn, ctx};
    /* Inside a batch the batch's transaction holds every read together already. */
    bool own_tx = !st->in_batch && sqlite3_get_autocommit(st->db);
    if (own_tx) {
        sqlite3_stmt *b = sm__sq_aux(st, A_DAG_BEGIN, "BEGIN DEFERRED", err);
        if (b == NULL)
            return st->prep_rc;
        int rc = sm__sq_step_done(st, b, "read", err);
        if (rc)
            return rc;
    }
    int out = dag_read(st, root_id, change_seq, &c, err);
    if (own_tx) {
        /* A read transaction: COMMIT only ends it; nothing was written. */
        struct sm_err end_err = SM_ERR_INIT;
        sqlite3_stmt *e = sm__sq_aux(st, A_DAG_END, "COMMIT", &end_err);
        int rc = e != NULL ? sm__sq_step_done(st, e, "read", &end_err) : st->prep_rc;
        if (rc && !sqlite3_get_autocommit(st->db))
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        if (rc && !out)
            out = sm_errf(err, rc, "%s", end_err.msg);
    }
    return out;
}
