/*
 * sqlite_int.h: what the files of the SQLite backend share (SQLite's
 * btreeInt.h next to btree.h): the connection struct and the helpers that
 * bind, step, read rows and translate errors. Never included outside
 * src/core/store/sqlite*.c.
 *
 *   sqlite.c         open, migrate, batches, the engine's records (runs,
 *                    artifacts, edges, pipeline runs, sources, logs)
 *   sqlite_query.c   filters compiled to SQL, the server's listings, events
 *   sqlite_server.c  notes, metrics, users and API keys, storage objects
 *   sqlite_graph.c   whole pipelines: listings in write order, the compact graph
 */
#ifndef SM_STORE_SQLITE_INT_H
#define SM_STORE_SQLITE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "sematic/blob.h"
#include "sematic/buf.h"
#include "sematic/err.h"
#include "sematic/store.h"

/* Columns of the `runs` view, in the order of sm__sq_run_from_row(). */
#define RUN_COLS                                                                                   \
    "id, root_id, parent_id, nested_id, original_run_id, state, name, function_path, "             \
    "description, source_id, tags, resource_requirements, retry_settings, cache_key, exception, "  \
    "external_exception, is_inline, attempt, created_at, updated_at, started_at, ended_at, "       \
    "resolved_at, failed_at, seq"
#define EDGE_COLS                                                                                  \
    "id, root_id, source_run_id, destination_run_id, destination_name, artifact_id, parent_id, "   \
    "created_at, updated_at"
#define ART_COLS "id, type_json, summary_json, size_bytes, blob_key, created_at"
#define NOTE_COLS "id, user, note, run_id, root_id, created_at, updated_at, seq"

/* The statements of sqlite.c (its sql_text[] spells them). */
enum stmt_id {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_SEQ_GET,
    S_SEQ_SET,
    S_FN_FIND,
    S_FN_PUT,
    S_RUN_PUT,
    S_RUN_UPDATE,
    S_RUN_GET,
    S_ART_EXISTS,
    S_ART_PUT,
    S_ART_GET,
    S_ART_KEEP,
    S_ARTS_ROOT,
    S_EDGE_PUT,
    S_EDGE_UPDATE,
    S_EDGES_ROOT,
    S_EDGES_RUN,
    S_EDGES_ROOT_RUN,
    S_PIPE_PUT,
    S_PIPE_GET,
    S_PIPE_STATUS,
    S_PIPE_SET_STATUS,
    S_RUNS_CANCEL,
    S_EVENT_PUT,
    S_SRC_PUT,
    S_SRC_GET,
    S_LOG_PUT,
    S_LOG_READ,
    N_STMT
};

/* Room for the cached statements of sqlite_query.c and sqlite_server.c. */
#define N_AUX_STMT 48

/* sm_store_list_runs() statements are cached by which filters the query uses. */
enum query_shape_bits {
    Q_ROOT = 1 << 0,
    Q_PARENT = 1 << 1,
    Q_FUNCTION_PATH = 1 << 2,
    Q_NAME = 1 << 3,
    Q_TAG = 1 << 4,
    Q_CACHE_KEY = 1 << 5,
    Q_SEARCH = 1 << 6,
    Q_STATES = 1 << 7,
    Q_ROOTS_ONLY = 1 << 8,
    Q_OLDEST_FIRST = 1 << 9,
    N_QUERY_SHAPES = 1 << 10,
};

/*
 * The functions rows this connection found or wrote, so that put_run() does not ask SQLite
 * each time: direct-mapped by a hash of the row's fields (fn_key()). Rows of functions are
 * never deleted, so an entry stays true, except one written by a batch that then rolls back:
 * a rollback empties the cache.
 */
#define FN_CACHE_SLOTS 64
struct fn_slot {
    uint64_t hash;
    char *key; /* fn_key() of the row; NULL for an empty slot */
    size_t key_len;
    int64_t id;
};

/*
 * Distinct strings one batch touched (the root ids of its edges, the runs of its log
 * lines, ...), listed in its events rows; past SQ_SET_MAX of them, or SQ_SET_MAX_BYTES, the
 * set overflows and its event says "everything" (payload NULL). Items are NUL-separated in
 * text; the last one added is checked first, as writes of one batch come in runs.
 */
#define SQ_SET_MAX 64
#define SQ_SET_MAX_BYTES ((size_t)1 << 16)
struct sq_set {
    struct sm_buf text;
    size_t n;
    size_t last_off; /* offset of the last item added */
    bool overflow;
};

void sm__sq_set_reset(struct sq_set *set);
/* Add s (len bytes) unless the set holds it; sets overflow instead of growing too far. */
void sm__sq_set_add(struct sq_set *set, const char *s, size_t len);
/* Whether the batch added anything to the set. */
bool sm__sq_set_used(const struct sq_set *set);
/* The items comma-separated (json false) or as a JSON array of strings (json true) into out. */
int sm__sq_set_join(const struct sq_set *set, bool json, struct sm_buf *out);

/*
 * New rows waiting to be inserted PEND_ROWS at a time by one multi-row INSERT (see
 * sqlite.c, "rows written many at a time"). Their strings are copied into text[table];
 * the records' string pointers are set from the offsets when the rows are written.
 */
#define PEND_ROWS 128
enum pend_table { PEND_RUNS, PEND_EDGES, PEND_ARTIFACTS, N_PEND };
#define PEND_STRS 5 /* most strings of one record: a run's */
struct pend_row {
    union {
        struct sm_run_rec run;
        struct sm_edge_rec edge;
        struct sm_artifact_rec art;
    } u;
    int64_t function_id; /* runs */
    size_t payload_len;  /* artifacts */
    size_t str_off[PEND_STRS];
};
struct pending {
    struct pend_row rows[N_PEND][PEND_ROWS];
    int n[N_PEND];
    int total;
    struct sm_buf text[N_PEND];
    bool writing; /* pend_write_all() is running: the statement getters leave the rows be */
    sqlite3_stmt *many[N_PEND];
};

struct sqlite_store {
    struct sm_store base; /* first: the struct sm_store * handed out points here */
    sqlite3 *db;
    struct sm_blobs *blobs;
    char *db_path;
    char *wal_path;
    int wal_fd; /* sm_store_sync()'s own descriptor of the WAL, -1 until its first call */
    bool in_batch;
    bool dirty;               /* the open batch wrote something */
    int64_t batch_seq;        /* change sequence stamped by the open batch */
    struct sm_err batch_err;  /* first failure underneath a write of the open batch */
    int n_migrated;           /* migrations applied by this open */
    int prep_rc;              /* code of the last failure to prepare a statement */
    struct sm_buf scratch;    /* strings of the record of the last get_* call */
    struct sm_buf batch_runs; /* ids of the runs the open batch wrote, comma-separated */
    bool batch_runs_overflow; /* ... more than fit in batch_runs */
    /* What else the open batch touched, for its events rows. */
    struct sq_set batch_edge_roots, batch_pipelines, batch_log_runs, batch_metrics;
    struct sm_buf fn_key; /* fn_key() of the run being put */
    struct fn_slot fn_cache[FN_CACHE_SLOTS];
    sqlite3_stmt *stmts[N_STMT];
    sqlite3_stmt *aux[N_AUX_STMT];
    sqlite3_stmt *list_runs[N_QUERY_SHAPES];
    struct pending pend;
};

static inline struct sqlite_store *to_sq(struct sm_store *s)
{
    return (struct sqlite_store *)s;
}

/*
 * Translate a SQLite failure into an SM_E* code with a message naming the
 * store (STYLE 25). `what` completes "cannot <what> store '<path>'".
 * Call before resetting the statement, so sqlite3_errmsg() is its error.
 */
int sm__sq_fail(struct sqlite_store *st, int rc, const char *what, struct sm_err *err);

/* Statement `id` of sqlite.c, prepared on first use. NULL with err (and st->prep_rc) set. */
sqlite3_stmt *sm__sq_stmt(struct sqlite_store *st, enum stmt_id id, struct sm_err *err);
/* Statement st->aux[slot] (slot < N_AUX_STMT) of text sql, prepared on first use; as above. */
sqlite3_stmt *sm__sq_aux(struct sqlite_store *st, int slot, const char *sql, struct sm_err *err);

/* Reset a statement and clear its bindings, so it holds no read transaction open. */
static inline void done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Insert the new rows still waiting (st->pend): 0, or the failure (which poisons the batch).
 * The statement getters above call it, so only statements prepared elsewhere need to. */
int sm__sq_flush_pending(struct sqlite_store *st, struct sm_err *err);

/* Step a statement that returns no row; reset it either way. */
int sm__sq_step_done(struct sqlite_store *st, sqlite3_stmt *s, const char *what,
                     struct sm_err *err);
/* A write failed underneath: remember it so that commit rolls the batch back. Returns code. */
int sm__sq_poison(struct sqlite_store *st, int code, const struct sm_err *err);
/* SM_ESTATE: "cannot <what> in store ... outside a batch". */
int sm__sq_outside_batch(struct sqlite_store *st, const char *what, struct sm_err *err);
/* SM_ENOTFOUND: "<what> '<id>' not found". */
int sm__sq_not_found(struct sm_err *err, const char *what, const char *id);
/* Append one row to events (see the migrations for the kinds). payload may be NULL. */
int sm__sq_put_event(struct sqlite_store *st, int64_t seq, const char *kind, const char *subject_id,
                     const char *payload, struct sm_err *err);
/* Append `text` to b as a LIKE pattern matching it anywhere, escaping '%', '_' and '\'. */
int sm__sq_like_pattern(struct sm_buf *b, const char *text);

/* First non-OK result of a series of sqlite3_bind_* calls, into a local `brc`. */
#define BIND(call)                                                                                 \
    do {                                                                                           \
        int b_ = (call);                                                                           \
        if (b_ != SQLITE_OK && brc == SQLITE_OK)                                                   \
            brc = b_;                                                                              \
    } while (0)

static inline int bind_text(sqlite3_stmt *s, int i, const char *text)
{
    return text ? sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

/* A fixed-size id: "" is stored as NULL. */
static inline int bind_id(sqlite3_stmt *s, int i, const char *id)
{
    return id[0] ? sqlite3_bind_text(s, i, id, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

/* An optional timestamp: 0 is stored as NULL. */
static inline int bind_time(sqlite3_stmt *s, int i, int64_t us)
{
    return us ? sqlite3_bind_int64(s, i, us) : sqlite3_bind_null(s, i);
}

/* An id column into dst (size bytes, NUL-terminated, cut to fit). A copy, not snprintf: a
 * graph of 100,000 runs reads a million ids, and vfprintf was 5% of serving it. */
static inline void col_id(sqlite3_stmt *s, int col, char *dst, size_t size)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    size_t n = v ? strnlen((const char *)v, size - 1) : 0;
    if (n > 0)
        memcpy(dst, v, n);
    dst[n] = '\0';
}

/*
 * Strings of one row: either pointers into the row (valid while it is the
 * current row) or, with copy, copies in st->scratch whose addresses are
 * fixed once every column has been added (the buffer may move meanwhile).
 */
struct texts {
    struct sqlite_store *st;
    bool copy;
    bool failed;
    int n;
    const char **dst[24];
    size_t off[24];
};

void sm__sq_texts_init(struct texts *t, struct sqlite_store *st, bool copy);
void sm__sq_col_text(struct texts *t, sqlite3_stmt *s, int col, const char **dst);
/* Fix the copied strings' addresses; SM_ETOOBIG naming `what` '<id>' when they did not fit. */
int sm__sq_texts_finish(struct texts *t, const char *what, const char *id, struct sm_err *err);

/* Records from the columns RUN_COLS, ART_COLS, EDGE_COLS, NOTE_COLS (from column 0). */
void sm__sq_run_from_row(struct texts *t, sqlite3_stmt *s, struct sm_run_rec *r);
void sm__sq_artifact_from_row(struct texts *t, sqlite3_stmt *s, struct sm_artifact_rec *a);
void sm__sq_edge_from_row(struct texts *t, sqlite3_stmt *s, struct sm_edge_rec *e);
void sm__sq_note_from_row(struct texts *t, sqlite3_stmt *s, struct sm_note_rec *n);

/* The ops of sqlite_query.c. */
int sm__sq_query(struct sm_store *s, enum sm_entity e, const struct sm_query *q, union sm_row_fn fn,
                 void *ctx, struct sm_page *page, struct sm_err *err);
int sm__sq_list_events(struct sm_store *s, int64_t after_seq, int64_t limit, sm_event_fn fn,
                       void *ctx, struct sm_err *err);

/* The ops of sqlite_graph.c. */
int sm__sq_list_pipeline(struct sm_store *s, enum sm_entity e, const char *root_id,
                         union sm_row_fn fn, void *ctx, struct sm_err *err);
int sm__sq_read_dag(struct sm_store *s, const char *root_id, int64_t *change_seq,
                    sm_dag_run_fn run_fn, sm_dag_edge_fn edge_fn, void *ctx, struct sm_err *err);

/* The ops of sqlite_server.c. */
int sm__sq_put_note(struct sm_store *s, const struct sm_note_rec *n, struct sm_err *err);
int sm__sq_delete_note(struct sm_store *s, const char *id, struct sm_err *err);
int sm__sq_get_note(struct sm_store *s, const char *id, struct sm_note_rec *out,
                    struct sm_err *err);
int sm__sq_append_metrics(struct sm_store *s, const struct sm_metric_point *points, size_t n,
                          struct sm_err *err);
int sm__sq_list_metric_names(struct sm_store *s, const char *labels_json, sm_name_fn fn, void *ctx,
                             struct sm_err *err);
int sm__sq_metric_series(struct sm_store *s, const struct sm_metric_query *q, sm_bucket_fn fn,
                         void *ctx, struct sm_err *err);
int sm__sq_put_user(struct sm_store *s, const struct sm_user_rec *u, struct sm_err *err);
int sm__sq_new_api_key(struct sm_store *s, const char *user_id, char key_out[SM_API_KEY_LEN + 1],
                       struct sm_err *err);
int sm__sq_get_user(struct sm_store *s, const char *id, const char *email, struct sm_user_rec *out,
                    struct sm_err *err);
int sm__sq_find_user_by_api_key(struct sm_store *s, const char *key, struct sm_user_rec *out,
                                struct sm_err *err);
int sm__sq_list_users(struct sm_store *s, sm_user_fn fn, void *ctx, struct sm_err *err);
int sm__sq_put_object(struct sm_store *s, const char *ns, const char *key, const void *data,
                      size_t len, struct sm_err *err);
int sm__sq_get_object(struct sm_store *s, const char *ns, const char *key, struct sm_buf *out,
                      struct sm_err *err);
int sm__sq_claim_batch_key(struct sm_store *s, const char *key, bool *seen, struct sm_err *err);

#endif
