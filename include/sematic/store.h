/*
 * store.h: the metadata store (runs, artifacts, edges, pipeline runs, logs).
 *
 * One interface, several backends: SQLite in WAL mode at
 * $SEMATIC_HOME/sematic.db (sqlite.c), the store of a `sematic start` server
 * over HTTP (http.c, SEMATIC_API_ADDRESS), PostgreSQL later. The engine and
 * the CLI only see struct sm_store and these calls; each backend fills a
 * struct sm_store_ops.
 *
 * Writes happen inside a batch: sm_store_begin(), any number of put/append
 * calls, sm_store_commit(). The commit first fsyncs the blobs written in the
 * batch (sm_blob_sync), then commits one transaction, so a value is durable
 * before the run that produced it is marked RESOLVED (DESIGN principle 3).
 * Several processes may write one store at once; a batch waits for another
 * process's batch (busy timeout, 30 s) instead of failing.
 *
 * Records: strings in the rec structs are NUL-terminated UTF-8. On writes
 * they are borrowed for the call; on reads they point into the store and
 * stay valid until the next call on the same store (copy what you keep).
 * NULL means "no value" (SQL NULL); timestamps are microseconds since the
 * Unix epoch, 0 meaning none.
 *
 * Every change is stamped with the store's change sequence (a counter
 * bumped once per committed batch), which the server turns into live events
 * (sm_store_list_events).
 *
 * The server's calls sit in the second half: listings with Sematic's
 * filters (sm_store_query_*, include/sematic/filter.h), the change feed,
 * notes, metrics, users and API keys, storage objects.
 *
 * Threads: a struct sm_store is used by one thread at a time.
 */
#ifndef SEMATIC_STORE_H
#define SEMATIC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sematic/blob.h"
#include "sematic/buf.h"
#include "sematic/err.h"
#include "sematic/filter.h"
#include "sematic/graph.h"
#include "sematic/hash.h"
#include "sematic/json.h"

/* Payloads up to this size live in the artifact's row; larger ones in blobs/. */
#define SM_STORE_INLINE_MAX_BYTES 4096

/* Sematic's own artifact ids: SHA-1 over its serialization, 40 lower-case hex digits. */
#define SM_SHA1_HEX_LEN 40

/* One execution of one function (Sematic's Run). */
struct sm_run_rec {
    char id[SM_ID_HEX_LEN + 1];
    char root_id[SM_ID_HEX_LEN + 1];
    char parent_id[SM_ID_HEX_LEN + 1];       /* "" for none */
    char nested_id[SM_ID_HEX_LEN + 1];       /* "" for none */
    char original_run_id[SM_ID_HEX_LEN + 1]; /* "" for none: set on cache hits and clones */
    int state;                               /* enum sm_state */
    const char *name;
    const char *function_path; /* module.qualname */
    const char *description;   /* docstring, may be NULL */
    const char *source_id;     /* 64-hex key into sources (sm_store_put_source), may be NULL */
    const char *tags_json;     /* JSON array of strings, never NULL on write ("[]") */
    const char *resource_requirements_json; /* may be NULL */
    const char *retry_settings_json;        /* may be NULL */
    const char *cache_key;                  /* may be NULL */
    const char *exception_json;             /* {"repr","name","module","ancestors"}, may be NULL */
    const char *external_exception_json;
    bool is_inline;  /* false for standalone functions */
    int32_t attempt; /* retries so far */
    int64_t created_at, updated_at, started_at, ended_at, resolved_at, failed_at;
    int64_t seq; /* change sequence of the last write (read only) */
    /* Write hint: no earlier put of this id, so the backend inserts without looking for a
     * row to update first. A wrong hint costs time, never correctness. */
    bool is_new;
};

/*
 * A stored value. The payload is the canonical JSON encoding of the value.
 * Two kinds of id: ours (64 hex, SHA-256 of type_json "\n" payload, checked on
 * write and read) and those of artifacts written by Sematic's own client
 * through the server (40 hex, SHA-1 over Sematic's serialization): those carry
 * no payload here; Sematic uploads it separately, as storage object
 * ("artifacts", id) (sm_store_put_object), and reads say payload_in_storage.
 */
struct sm_artifact_rec {
    char id[SM_SHA256_HEX_LEN + 1];       /* 64 hex (ours) or 40 hex (Sematic's) */
    const char *type_json;                /* type serialization */
    const char *summary_json;             /* bounded summary for displays */
    int64_t size_bytes;                   /* payload size (0 when payload_in_storage) */
    char blob_key[SM_SHA256_HEX_LEN + 1]; /* "" when the payload is inline */
    int64_t created_at;
    bool payload_in_storage; /* read only: a 40-hex id, payload in storage object artifacts/<id> */
};

/* A data-flow edge (API.md 4.1). */
struct sm_edge_rec {
    char id[SM_ID_HEX_LEN + 1];
    char root_id[SM_ID_HEX_LEN + 1];
    char source_run_id[SM_ID_HEX_LEN + 1];      /* "" for none (a literal input) */
    char destination_run_id[SM_ID_HEX_LEN + 1]; /* "" for none (an output nobody consumed) */
    const char *destination_name;               /* parameter name, NULL for output edges */
    char artifact_id[SM_SHA256_HEX_LEN + 1];    /* "" until known; 64 or 40 hex */
    char parent_id[SM_ID_HEX_LEN + 1];          /* "" for none */
    int64_t created_at, updated_at;
    bool is_new; /* write hint, as in struct sm_run_rec */
};

/* Pipeline run statuses (API.md 2.4), stored as text. */
enum sm_pipeline_status {
    SM_PIPELINE_CREATED = 0,
    SM_PIPELINE_SCHEDULED = 1,
    SM_PIPELINE_RUNNING = 2,
    SM_PIPELINE_FAILED = 3,
    SM_PIPELINE_COMPLETE = 4,
    SM_PIPELINE_CANCELED = 5,
};
#define SM_PIPELINE_STATUS_COUNT 6
const char *sm_pipeline_status_name(enum sm_pipeline_status s); /* "COMPLETE"; "UNKNOWN" */
int sm_pipeline_status_parse(const char *name);                 /* -1 when unknown */
/* API.md 2.4: returns 0 or SM_EINVALID_TRANSITION naming both statuses. from -1 means none. */
int sm_pipeline_check_transition(int from, int to, struct sm_err *err);

/* Sematic's "resolution": one execution of a whole pipeline. */
struct sm_pipeline_rec {
    char root_id[SM_ID_HEX_LEN + 1];
    int status;       /* enum sm_pipeline_status */
    const char *kind; /* "LOCAL", "SILENT", "CLUSTER" */
    const char *cache_namespace;
    const char *user;          /* may be NULL */
    const char *git_json;      /* {"remote","branch","commit","dirty"}, may be NULL */
    const char *settings_json; /* may be NULL */
    const char *client_version;
    const char *run_command;   /* argv joined, for display */
    const char *python;        /* interpreter that ran the driver (for `sematic rerun`) */
    const char *cwd;           /* its working directory */
    const char *sys_path_json; /* its sys.path, JSON array */
    int64_t driver_pid;        /* 0 when none */
    int64_t driver_start;      /* /proc start time of that pid (so a reused pid is not signalled) */
    const char *driver_host;
    int64_t created_at, updated_at, ended_at;
    int64_t seq;
};

/* A captured log line. */
struct sm_log_rec {
    int64_t id; /* increasing per store; read only */
    char run_id[SM_ID_HEX_LEN + 1];
    int stream; /* 1 stdout, 2 stderr, 3 logging */
    int64_t ts;
    const char *text; /* one line, without its newline */
    size_t len;
};

/* Run listing filters; zero-initialise, then set what you need. */
struct sm_run_query {
    const char *root_id;       /* runs of one pipeline run */
    const char *parent_id;     /* children of one run */
    const char *function_path; /* exact */
    const char *name;          /* exact */
    const char *tag;           /* runs whose tags contain this string */
    const char *cache_key;     /* exact */
    const char *search;        /* substring of id, name, function path or tags */
    unsigned state_mask;       /* bit (1 << enum sm_state); 0 for all */
    bool roots_only;           /* id = root_id */
    bool oldest_first;         /* default: newest first (created_at desc) */
    int64_t limit;             /* 0 for no limit */
};

/* A note on a run (Sematic's Note). */
struct sm_note_rec {
    char id[SM_ID_HEX_LEN + 1];
    const char *user_id; /* may be NULL */
    const char *note;
    char run_id[SM_ID_HEX_LEN + 1];
    char root_id[SM_ID_HEX_LEN + 1];
    int64_t created_at, updated_at;
    int64_t seq; /* read only */
};

/*
 * A user of the server (Sematic's User). The API key is never stored, only
 * its SHA-256; sm_store_new_api_key() hands the key out once.
 */
struct sm_user_rec {
    char id[SM_ID_HEX_LEN + 1];
    const char *email;
    const char *first_name; /* may be NULL */
    const char *last_name;  /* may be NULL */
    const char *avatar_url; /* may be NULL */
    int64_t created_at, updated_at;
    bool has_api_key; /* read only */
};

/* Length of an API key: 32 random bytes, base64url without padding. */
#define SM_API_KEY_LEN 43

/* Sematic's metric types (MetricType): how a series aggregates. */
enum sm_metric_type {
    SM_METRIC_COUNT = 0, /* by sum */
    SM_METRIC_GAUGE = 1, /* by average */
};

/* One metric value. */
struct sm_metric_point {
    const char *name;
    double value;
    int metric_type;                 /* enum sm_metric_type */
    const char *labels_json;         /* JSON object of labels ({"run_id": "..."}), NULL for none */
    char run_id[SM_ID_HEX_LEN + 1];  /* "" for none */
    char root_id[SM_ID_HEX_LEN + 1]; /* "" for none */
    int64_t step;                    /* -1 for none */
    int64_t ts;                      /* when the value was measured, microseconds */
};

/* What to read of one metric: sm_store_metric_series(). Zero-initialise, then set. */
struct sm_metric_query {
    const char *name;
    const char *labels_json; /* JSON object: points whose labels hold each pair; NULL: all.
                               * A string value compares as text, null means absent, and the
                               * key "root" with true/false keeps points whose labels' run_id
                               * equals / differs from their root_id (as Sematic does). */
    const char *group_by;    /* a label name: one series per value of it; NULL: one series */
    int64_t from_us, to_us;  /* points with from_us <= ts < to_us */
    int64_t n_buckets;       /* split [from_us, to_us) into this many equal buckets; 0 or 1:
                               * one bucket (one value per series) */
};

/* One bucket of a metric series. */
struct sm_metric_bucket {
    int64_t start_us;  /* the bucket's first microsecond */
    const char *group; /* the group_by label's value (NULL when absent or not grouping) */
    int metric_type;   /* of the bucket's first point (enum sm_metric_type) */
    int64_t count;
    double sum, avg, min, max;
};

/* A row of the change feed (sm_store_list_events). */
struct sm_event_rec {
    int64_t seq;            /* change sequence of the batch that wrote it */
    const char *kind;       /* "runs", "edges", "pipelines", "pipeline_status", "note",
                             * "metrics", "logs" (see sm_store_list_events) */
    const char *subject_id; /* "" when the payload says what changed */
    const char *payload;    /* may be NULL */
};

typedef int (*sm_run_fn)(void *ctx, const struct sm_run_rec *run);
typedef int (*sm_edge_fn)(void *ctx, const struct sm_edge_rec *edge);
typedef int (*sm_artifact_fn)(void *ctx, const struct sm_artifact_rec *artifact);
typedef int (*sm_pipeline_fn)(void *ctx, const struct sm_pipeline_rec *pipeline);
typedef int (*sm_log_fn)(void *ctx, const struct sm_log_rec *line);
typedef int (*sm_note_fn)(void *ctx, const struct sm_note_rec *note);
typedef int (*sm_user_fn)(void *ctx, const struct sm_user_rec *user);
typedef int (*sm_name_fn)(void *ctx, const char *name);
typedef int (*sm_bucket_fn)(void *ctx, const struct sm_metric_bucket *bucket);
typedef int (*sm_event_fn)(void *ctx, const struct sm_event_rec *event);

/* The callback of a listing, by the kind of record listed. */
union sm_row_fn {
    sm_run_fn run;
    sm_artifact_fn artifact;
    sm_edge_fn edge;
    sm_note_fn note;
};

/* A run of a pipeline's compact graph (sm_store_read_dag). */
struct sm_dag_run {
    const char *id;        /* 32 hex */
    const char *parent_id; /* NULL for none */
    const char *name;
    const char *function_path;
    int state; /* enum sm_state */
};

typedef int (*sm_dag_run_fn)(void *ctx, const struct sm_dag_run *run);
typedef int (*sm_dag_edge_fn)(void *ctx, const char *source_run_id, const char *destination_run_id);

/* The longest cursor a listing hands out, with its NUL. */
#define SM_CURSOR_MAX 128

/*
 * A listing of runs, artifacts, edges or notes (GET /api/v1/runs and
 * friends). Zero-initialise, then set what you need: the zero query lists
 * everything, newest first.
 */
struct sm_query {
    const struct sm_filter *filter; /* NULL: no filter; else parsed for this listing's entity */
    const char *search;   /* runs only: case-insensitive substring of the name, function path,
                           * description, id or tags (Sematic's ILIKE; '%' and '_' are literal) */
    const char *group_by; /* a column name (sm_filter_column_find): keep only the newest row
                           * (created_at, then id) of each value, after filter and search */
    const char *cursor;   /* the next_cursor of the previous page; NULL or "" for the first */
    int64_t limit;        /* rows per page; 0 or -1: all */
    bool ascending;       /* oldest first; default newest first (by created_at, then id) */
    bool count;           /* also count the rows from the cursor on (page->after_cursor_count);
                           * costs a pass over every matching row */
};

/* What a listing says besides its rows. */
struct sm_page {
    int64_t n_rows;                  /* rows handed to the callback */
    int64_t after_cursor_count;      /* rows matching from the cursor on, this page included;
                                 * -1 unless query.count */
    char next_cursor[SM_CURSOR_MAX]; /* "" when this page is the last */
};

struct sm_store;

/* What a backend implements. Each function has the contract of the sm_store_* call of its name. */
struct sm_store_ops {
    void (*close)(struct sm_store *s);
    int (*begin)(struct sm_store *s, struct sm_err *err);
    int (*commit)(struct sm_store *s, struct sm_err *err);
    void (*rollback)(struct sm_store *s);
    int (*put_run)(struct sm_store *s, const struct sm_run_rec *r, struct sm_err *err);
    int (*put_artifact)(struct sm_store *s, const struct sm_artifact_rec *a, const char *payload,
                        size_t len, struct sm_err *err);
    int (*put_edge)(struct sm_store *s, const struct sm_edge_rec *e, struct sm_err *err);
    int (*put_pipeline)(struct sm_store *s, const struct sm_pipeline_rec *p, struct sm_err *err);
    int (*put_source)(struct sm_store *s, const char *text, size_t len,
                      char id_out[SM_SHA256_HEX_LEN + 1], struct sm_err *err);
    int (*append_log)(struct sm_store *s, const struct sm_log_rec *line, struct sm_err *err);
    int (*get_run)(struct sm_store *s, const char *id, struct sm_run_rec *out, struct sm_err *err);
    int (*list_runs)(struct sm_store *s, const struct sm_run_query *q, sm_run_fn fn, void *ctx,
                     struct sm_err *err);
    int (*get_artifact)(struct sm_store *s, const char *id, struct sm_artifact_rec *out,
                        struct sm_buf *payload, struct sm_err *err);
    int (*list_edges)(struct sm_store *s, const char *root_id, const char *run_id, sm_edge_fn fn,
                      void *ctx, struct sm_err *err);
    int (*list_artifacts)(struct sm_store *s, const char *root_id, sm_artifact_fn fn, void *ctx,
                          struct sm_err *err);
    int (*get_pipeline)(struct sm_store *s, const char *root_id, struct sm_pipeline_rec *out,
                        struct sm_err *err);
    int (*get_source)(struct sm_store *s, const char *id, struct sm_buf *out, struct sm_err *err);
    int (*read_logs)(struct sm_store *s, const char *run_id, int64_t after_id, int64_t limit,
                     sm_log_fn fn, void *ctx, struct sm_err *err);
    int (*set_pipeline_status)(struct sm_store *s, const char *root_id, int status,
                               struct sm_err *err);
    int (*gc_blobs)(struct sm_store *s, size_t *n_removed, size_t *bytes_removed,
                    struct sm_err *err);
    int64_t (*change_seq)(struct sm_store *s);
    int (*query)(struct sm_store *s, enum sm_entity e, const struct sm_query *q, union sm_row_fn fn,
                 void *ctx, struct sm_page *page, struct sm_err *err);
    int (*list_events)(struct sm_store *s, int64_t after_seq, int64_t limit, sm_event_fn fn,
                       void *ctx, struct sm_err *err);
    int (*put_note)(struct sm_store *s, const struct sm_note_rec *n, struct sm_err *err);
    int (*delete_note)(struct sm_store *s, const char *id, struct sm_err *err);
    int (*get_note)(struct sm_store *s, const char *id, struct sm_note_rec *out,
                    struct sm_err *err);
    int (*append_metrics)(struct sm_store *s, const struct sm_metric_point *points, size_t n,
                          struct sm_err *err);
    int (*list_metric_names)(struct sm_store *s, const char *labels_json, sm_name_fn fn, void *ctx,
                             struct sm_err *err);
    int (*metric_series)(struct sm_store *s, const struct sm_metric_query *q, sm_bucket_fn fn,
                         void *ctx, struct sm_err *err);
    int (*put_user)(struct sm_store *s, const struct sm_user_rec *u, struct sm_err *err);
    int (*new_api_key)(struct sm_store *s, const char *user_id, char key_out[SM_API_KEY_LEN + 1],
                       struct sm_err *err);
    int (*get_user)(struct sm_store *s, const char *id, const char *email, struct sm_user_rec *out,
                    struct sm_err *err);
    int (*find_user_by_api_key)(struct sm_store *s, const char *key, struct sm_user_rec *out,
                                struct sm_err *err);
    int (*list_users)(struct sm_store *s, sm_user_fn fn, void *ctx, struct sm_err *err);
    int (*put_object)(struct sm_store *s, const char *ns, const char *key, const void *data,
                      size_t len, struct sm_err *err);
    int (*get_object)(struct sm_store *s, const char *ns, const char *key, struct sm_buf *out,
                      struct sm_err *err);
    const char *(*watch_path)(struct sm_store *s);
    int (*list_pipeline)(struct sm_store *s, enum sm_entity e, const char *root_id,
                         union sm_row_fn fn, void *ctx, struct sm_err *err);
    int (*read_dag)(struct sm_store *s, const char *root_id, int64_t *change_seq,
                    sm_dag_run_fn run_fn, sm_dag_edge_fn edge_fn, void *ctx, struct sm_err *err);
    /* May be NULL (the three calls then do nothing): a backend whose commits are durable. */
    int (*sync)(struct sm_store *s, struct sm_err *err);
    int (*checkpoint)(struct sm_store *s, struct sm_err *err);
    void (*interrupt)(struct sm_store *s);
    int (*claim_batch_key)(struct sm_store *s, const char *key, bool *seen, struct sm_err *err);
    void (*trim)(struct sm_store *s, size_t keep_bytes); /* may be NULL: nothing cached */
};

struct sm_store {
    const struct sm_store_ops *ops;
    char *home; /* owned: the directory the store lives in */
};

/* Durability of commits. */
enum sm_store_sync {
    SM_STORE_SYNC_FULL = 0,   /* fsync each commit: a power loss costs at most the last batch */
    SM_STORE_SYNC_NORMAL = 1, /* WAL without fsync per commit: survives any process kill */
    /*
     * As NORMAL, and the handle leaves moving the WAL into the database to another one
     * (sm_store_checkpoint()): no checkpoint after its commits until the WAL passes 256 MiB,
     * none on close. For a writer that makes its commits durable with sm_store_sync() from
     * another thread, so that neither fsync nor checkpoint holds its batches up: LocalRunner's
     * flusher.
     */
    SM_STORE_SYNC_LATER = 2,
};

/*
 * Open (creating and migrating as needed) the embedded store in directory
 * home: home/sematic.db and home/blobs/. Returns an owned store (close with
 * sm_store_close()) or NULL with err set: SM_EIO (cannot create home or open
 * the database; the message names the path), SM_ENOSPC, SM_ECORRUPT (not a
 * database, or a schema newer than this program: the message says to upgrade
 * sematic), SM_EBUSY (locked for more than the busy timeout).
 */
struct sm_store *sm_store_open_sqlite(const char *home, enum sm_store_sync sync,
                                      struct sm_err *err);

/*
 * Open the store of the `sematic start` server at url ("http://HOST:PORT",
 * SEMATIC_API_ADDRESS) through its /api/v1/store endpoints (http.c,
 * docs/internals/http_store.md); SEMATIC_API_KEY, when set, is sent as
 * X-API-KEY. Asks the server once before returning. A batch is sent by
 * sm_store_commit(); reads do not see the open batch's writes. gc_blobs and
 * the server's own calls (listings with filters, the change feed, notes,
 * metrics, users, storage objects) fail with SM_ESTATE, and watch_path is
 * NULL. s->home is the URL. Returns an owned store or NULL with err set:
 * SM_EINVAL (not an http(s) URL), SM_EIO (no answer: the message says to
 * start the server or unset SEMATIC_API_ADDRESS; or not our server).
 */
struct sm_store *sm_store_open_http(const char *url, struct sm_err *err);

/*
 * The store a program of the SDK uses: the server's (sm_store_open_http)
 * when SEMATIC_API_ADDRESS is set and not empty, else the embedded one at
 * home (sm_store_open_sqlite; sync applies to it only). With the server's,
 * home is still made (mkdir -p, best effort): settings and LocalRunner's
 * journal stay there. Errors as theirs.
 */
struct sm_store *sm_store_open_default(const char *home, enum sm_store_sync sync,
                                       struct sm_err *err);

/*
 * The store's home directory: $SEMATIC_HOME, else ~/.sematic. Writes into out
 * (at least 4096 bytes). Returns 0 or SM_EINVAL (no HOME and no SEMATIC_HOME).
 */
int sm_store_default_home(char *out, size_t size, struct sm_err *err);

/* Close; an open batch is rolled back. Accepts NULL. */
void sm_store_close(struct sm_store *s);

/*
 * Make every batch committed through s so far durable (fsync of the SQLite WAL): what a
 * SM_STORE_SYNC_LATER handle's commits lack. Unlike every other call, it may run on another
 * thread while s's own thread runs batches. 0, or SM_EIO naming the file. The server's store:
 * nothing to do.
 */
int sm_store_sync(struct sm_store *s, struct sm_err *err);

/*
 * Copy what the WAL holds into the database file as far as no reader needs it (a passive
 * checkpoint, fsynced as the handle's sync mode says), so that the WAL stops growing; for a
 * thread of its own with a handle of its own while another handle writes with
 * SM_STORE_SYNC_LATER. 0 (also when sm_store_interrupt() stopped it: what it copied stays),
 * SM_EBUSY, or SM_EIO. The server's store: nothing to do.
 */
int sm_store_checkpoint(struct sm_store *s, struct sm_err *err);

/*
 * Give back the memory s keeps for what it read (SQLite's page cache) when it holds more than
 * keep_bytes: for a handle that goes idle after a large read (the server's pool). Reads then
 * find the pages in the OS's cache instead.
 */
void sm_store_trim(struct sm_store *s, size_t keep_bytes);

/* Stop a sm_store_checkpoint() running on s in another thread, soon, and for good: later
 * checkpoints on s may stop at once too (SQLite 3.40 keeps the flag). Any thread. */
void sm_store_interrupt(struct sm_store *s);

/* Batches. begin: SM_ESTATE when one is open, SM_EBUSY, SM_EIO. commit: SM_ESTATE when none is
 * open, SM_EIO, SM_ENOSPC (the batch is rolled back and the store stays readable). */
int sm_store_begin(struct sm_store *s, struct sm_err *err);
int sm_store_commit(struct sm_store *s, struct sm_err *err);
void sm_store_rollback(struct sm_store *s);

/*
 * Writes (inside a batch, else SM_ESTATE). put_run, put_edge and
 * put_pipeline insert or replace the whole record by id. put_artifact stores
 * the payload (inline when <= SM_STORE_INLINE_MAX_BYTES, else as a blob whose
 * key it records) unless the id exists already (equal values are stored
 * once); a->blob_key is ignored on write. A 64-hex id must be the SHA-256 of
 * type_json "\n" payload (SM_EINVAL otherwise); a 40-hex id (an artifact of
 * Sematic's client, through PUT /api/v1/graph) is stored with no payload
 * (pass NULL, 0; SM_EINVAL for a payload) and no check: its bytes are
 * storage object ("artifacts", id). put_edge takes either kind of artifact
 * id. put_pipeline checks the status transition against the stored one
 * (SM_EINVALID_TRANSITION).
 */
int sm_store_put_run(struct sm_store *s, const struct sm_run_rec *r, struct sm_err *err);
int sm_store_put_artifact(struct sm_store *s, const struct sm_artifact_rec *a, const char *payload,
                          size_t len, struct sm_err *err);
int sm_store_put_edge(struct sm_store *s, const struct sm_edge_rec *e, struct sm_err *err);
int sm_store_put_pipeline(struct sm_store *s, const struct sm_pipeline_rec *p, struct sm_err *err);
/* Store a source text once; its id (hex SHA-256 of the text) goes to id_out. */
int sm_store_put_source(struct sm_store *s, const char *text, size_t len,
                        char id_out[SM_SHA256_HEX_LEN + 1], struct sm_err *err);
int sm_store_append_log(struct sm_store *s, const struct sm_log_rec *line, struct sm_err *err);

/*
 * Record that the open batch applies what a client sent under key (32 lower-case hex digits,
 * unique per batch the client makes). *seen says the key was recorded already: that batch was
 * applied before (the client sent it again after an answer got lost), and the caller rolls
 * this one back instead. SM_EINVAL (a bad key), SM_ESTATE (no batch open; the HTTP store:
 * the server's call), SM_EIO.
 */
int sm_store_claim_batch_key(struct sm_store *s, const char *key, bool *seen, struct sm_err *err);

/*
 * Reads (inside or outside a batch). get_*: 0 or SM_ENOTFOUND (message names
 * the id and says `sematic runs` lists what exists). list_*: call fn for each
 * record in order; a non-zero return from fn stops the listing and is
 * returned. get_artifact appends the payload to `payload` (may be NULL to
 * skip it) and checks blob hashes (SM_ECORRUPT); for a 40-hex id it sets
 * out->payload_in_storage and appends nothing.
 * list_edges: edges of pipeline run root_id, or (root_id NULL) edges whose
 * source or destination is run_id. list_artifacts: artifacts on the edges
 * of pipeline run root_id.
 */
int sm_store_get_run(struct sm_store *s, const char *id, struct sm_run_rec *out,
                     struct sm_err *err);
int sm_store_list_runs(struct sm_store *s, const struct sm_run_query *q, sm_run_fn fn, void *ctx,
                       struct sm_err *err);
int sm_store_get_artifact(struct sm_store *s, const char *id, struct sm_artifact_rec *out,
                          struct sm_buf *payload, struct sm_err *err);
int sm_store_list_edges(struct sm_store *s, const char *root_id, const char *run_id, sm_edge_fn fn,
                        void *ctx, struct sm_err *err);
int sm_store_list_artifacts(struct sm_store *s, const char *root_id, sm_artifact_fn fn, void *ctx,
                            struct sm_err *err);
int sm_store_get_pipeline(struct sm_store *s, const char *root_id, struct sm_pipeline_rec *out,
                          struct sm_err *err);
int sm_store_get_source(struct sm_store *s, const char *id, struct sm_buf *out, struct sm_err *err);
/* Log lines of run_id with id > after_id, oldest first, at most limit (0: all). */
int sm_store_read_logs(struct sm_store *s, const char *run_id, int64_t after_id, int64_t limit,
                       sm_log_fn fn, void *ctx, struct sm_err *err);

/*
 * Outside a batch: in one transaction, set the pipeline run's status (checked
 * transition) and, for FAILED and CANCELED, move every non-terminal run of it
 * to CANCELED (used by `sematic cancel` when the driver is gone).
 */
int sm_store_set_pipeline_status(struct sm_store *s, const char *root_id, int status,
                                 struct sm_err *err);

/* Outside a batch: delete blobs no artifact refers to. */
int sm_store_gc_blobs(struct sm_store *s, size_t *n_removed, size_t *bytes_removed,
                      struct sm_err *err);

/*
 * The last committed change sequence number (0 for a new store); -1 when the
 * store cannot be read. Cheap (one row of a one-row table): the server's
 * "has anything changed since N" is sm_store_change_seq(s) > N.
 */
int64_t sm_store_change_seq(struct sm_store *s);

/* ------------------------------------------------------------ listings (the server's) */

/*
 * List runs, artifacts, edges or notes matching q, calling fn for each row of
 * the page in order (by created_at, then id; q->ascending or newest first),
 * then fill *page (may be NULL). Paging is by keyset, not offset: pass
 * page->next_cursor back as q->cursor for the next page, which then starts
 * after that row even while writers add rows. The cursor is opaque text (for
 * the curious: base64url of "<created_at as 'YYYY-MM-DD HH:MM:SS.ffffff'>_<id>",
 * Sematic's format); it is "" once no row follows.
 * Each call is one read transaction, over when it returns: no read lock is
 * held between calls, so a writer (a LocalRunner) never waits on a listing
 * and WAL checkpoints go on.
 * Returns 0, a non-zero value returned by fn (the listing stops), or
 * SM_EINVAL (a filter parsed for another entity, search on other records than
 * runs, an unknown group_by column, a bad cursor, limit below -1; the
 * message says which), SM_EIO, SM_ECORRUPT, SM_EBUSY.
 * Row strings are valid during the callback; callbacks may call the store.
 */
int sm_store_query_runs(struct sm_store *s, const struct sm_query *q, sm_run_fn fn, void *ctx,
                        struct sm_page *page, struct sm_err *err);
int sm_store_query_artifacts(struct sm_store *s, const struct sm_query *q, sm_artifact_fn fn,
                             void *ctx, struct sm_page *page, struct sm_err *err);
int sm_store_query_edges(struct sm_store *s, const struct sm_query *q, sm_edge_fn fn, void *ctx,
                         struct sm_page *page, struct sm_err *err);
int sm_store_query_notes(struct sm_store *s, const struct sm_query *q, sm_note_fn fn, void *ctx,
                         struct sm_page *page, struct sm_err *err);

/* ------------------------------------------------------------ whole pipelines */

/*
 * Every run (e = SM_ENTITY_RUNS, fn.run), edge (SM_ENTITY_EDGES, fn.edge) or
 * artifact on its edges (SM_ENTITY_ARTIFACTS, fn.artifact) of pipeline run
 * root_id, in the order the store holds them: runs and edges in the order
 * they were first written, artifacts by id. Nothing is sorted, so this is
 * the cheapest way to read a whole pipeline (GET /api/v1/runs/:id/graph?root=1
 * reads 100,000 runs so). Each call is one read transaction. Row strings are
 * valid during the callback; callbacks may call the store.
 * Returns 0, fn's non-zero value, SM_EINVAL (root_id, another entity),
 * SM_EIO, SM_EBUSY, SM_ESTATE (the HTTP store: the server's call).
 */
int sm_store_list_pipeline(struct sm_store *s, enum sm_entity e, const char *root_id,
                           union sm_row_fn fn, void *ctx, struct sm_err *err);

/*
 * The structure of pipeline run root_id, read in one read transaction (or
 * in the open batch): the store's change sequence into *change_seq, then
 * each run of the pipeline (run_fn) in the order first written, then each
 * edge of it whose source and destination runs are both set (edge_fn, as
 * written; duplicates are not removed). The rows are exactly the state at
 * *change_seq, so a reader that then follows the change feed after it
 * (sm_store_list_events) misses nothing. An unknown root_id has no runs
 * (not an error). Strings are valid during the callback.
 * Returns 0, a callback's non-zero value, SM_EINVAL (root_id, a NULL
 * argument), SM_EIO, SM_EBUSY, SM_ECORRUPT, SM_ESTATE (the HTTP store).
 */
int sm_store_read_dag(struct sm_store *s, const char *root_id, int64_t *change_seq,
                      sm_dag_run_fn run_fn, sm_dag_edge_fn edge_fn, void *ctx, struct sm_err *err);

/* ------------------------------------------------------------ the change feed */

/*
 * Call fn for each change recorded after sequence after_seq, oldest first
 * (by seq, then in the order written). At most `limit` rows (0: all), except
 * that the rows of one sequence are never split across calls: resume with
 * after_seq = the last row's seq. Kinds (payload NULL means "too many to
 * list: re-read everything of this kind"):
 *   runs             a batch wrote runs; payload: their ids, comma-separated
 *   edges            a batch wrote edges; payload: their root run ids, distinct, comma-separated
 *   pipelines        a batch wrote pipeline runs (put_pipeline); payload: root ids, as above
 *   pipeline_status  sm_store_set_pipeline_status(); subject: the root id,
 *                    payload {"status":"CANCELED"} (its runs may have been canceled with it)
 *   note             a note was put or deleted; subject: the note id, payload
 *                    {"run_id":"..","root_id":"..","deleted":false}
 *   metrics          a batch appended metric points; payload: a JSON array of
 *                    their distinct names
 *   logs             a batch appended log lines; payload: their run ids, distinct,
 *                    comma-separated; read the lines with sm_store_read_logs(run,
 *                    after the last line id you have)
 * Artifacts (immutable, reached through edges), sources, storage objects and
 * users write no events, though their batches still advance change_seq.
 * Returns 0, fn's non-zero value, SM_EINVAL (after_seq or limit negative), SM_EIO.
 */
int sm_store_list_events(struct sm_store *s, int64_t after_seq, int64_t limit, sm_event_fn fn,
                         void *ctx, struct sm_err *err);

/*
 * The file that changes whenever any process commits to the store:
 * <home>/sematic.db-wal. To wait for changes without polling, watch its
 * directory with inotify (IN_MODIFY | IN_CREATE | IN_MOVED_TO) and wake on
 * events naming this file or sematic.db (a checkpoint may reset the WAL),
 * then compare sm_store_change_seq() with the last sequence seen. (Watching
 * the file itself misses a WAL that is deleted and recreated when the last
 * connection closes.) Borrowed; valid until sm_store_close().
 */
const char *sm_store_watch_path(struct sm_store *s);

/* ------------------------------------------------------------ notes */

/*
 * Inside a batch: insert or replace note n by id (the run and root ids are not
 * checked against runs), and add a "note" event.
 */
int sm_store_put_note(struct sm_store *s, const struct sm_note_rec *n, struct sm_err *err);
/* Inside a batch: delete note `id` and add a "note" event. SM_ENOTFOUND when there is none
 * (the batch is not spoiled). */
int sm_store_delete_note(struct sm_store *s, const char *id, struct sm_err *err);
/* One note; strings valid until the next call on s. SM_ENOTFOUND. */
int sm_store_get_note(struct sm_store *s, const char *id, struct sm_note_rec *out,
                      struct sm_err *err);

/* ------------------------------------------------------------ metrics */

/*
 * Inside a batch: append n points (n may be 0) and add one "metrics" event
 * per batch. Names are non-empty text; labels_json, when given, must be a
 * JSON object (SM_EINVAL naming the point otherwise).
 */
int sm_store_append_metrics(struct sm_store *s, const struct sm_metric_point *points, size_t n,
                            struct sm_err *err);
/*
 * Call fn with each distinct metric name, in order, of the points whose
 * labels match labels_json (as in struct sm_metric_query; NULL: all).
 */
int sm_store_list_metric_names(struct sm_store *s, const char *labels_json, sm_name_fn fn,
                               void *ctx, struct sm_err *err);
/*
 * Roll metric q->name up into buckets: fn gets each non-empty bucket, by
 * group then start time. Returns 0, fn's value, SM_ENOTFOUND (no point has
 * that name, at any time: Sematic's 404), SM_EINVAL (from_us > to_us,
 * n_buckets negative or above 100,000, labels not a JSON object, a bad
 * group_by label name).
 */
int sm_store_metric_series(struct sm_store *s, const struct sm_metric_query *q, sm_bucket_fn fn,
                           void *ctx, struct sm_err *err);

/* ------------------------------------------------------------ users and API keys */

/*
 * Inside a batch: insert or update user u's profile by id (email, names,
 * avatar, times); the API key is kept. SM_EINVAL when another user has that
 * email (emails are unique).
 */
int sm_store_put_user(struct sm_store *s, const struct sm_user_rec *u, struct sm_err *err);
/*
 * Inside a batch: make user_id a fresh random API key (32 bytes from
 * getrandom(2), base64url, SM_API_KEY_LEN characters) into key_out,
 * replacing any earlier key. Only its SHA-256 is stored: this is the one time
 * the key can be read. SM_ENOTFOUND (no such user), SM_EIO (no randomness).
 */
int sm_store_new_api_key(struct sm_store *s, const char *user_id, char key_out[SM_API_KEY_LEN + 1],
                         struct sm_err *err);
/* A user by id; strings valid until the next call on s. SM_ENOTFOUND. */
int sm_store_get_user(struct sm_store *s, const char *id, struct sm_user_rec *out,
                      struct sm_err *err);
/* A user by email. SM_ENOTFOUND. */
int sm_store_find_user_by_email(struct sm_store *s, const char *email, struct sm_user_rec *out,
                                struct sm_err *err);
/*
 * The user whose API key is `key` (X-API-KEY): the key is hashed, the row
 * found by its hash, and the hashes compared again in constant time.
 * SM_ENOTFOUND for an unknown key (and for text that cannot be a key).
 */
int sm_store_find_user_by_api_key(struct sm_store *s, const char *key, struct sm_user_rec *out,
                                  struct sm_err *err);
/* Every user, oldest first (no keys: only has_api_key). */
int sm_store_list_users(struct sm_store *s, sm_user_fn fn, void *ctx, struct sm_err *err);

/* ------------------------------------------------------------ storage objects */

/* Longest namespace and key of a storage object, in bytes. */
#define SM_OBJECT_NAMESPACE_MAX 64
#define SM_OBJECT_KEY_MAX 200

/*
 * Check a storage namespace or key from outside (an HTTP path segment):
 * 1 to SM_OBJECT_NAMESPACE_MAX / SM_OBJECT_KEY_MAX bytes of letters, digits,
 * '.', '_' and '-', not starting with '.' (so no "." or ".."), no '/'.
 * Returns 0 or SM_EINVAL naming the offending character and saying what is allowed.
 */
int sm_store_check_object_name(const char *what, const char *name, size_t max_len,
                               struct sm_err *err);

/*
 * Inside a batch: store len bytes as object (ns, key) (Sematic's storage
 * endpoints, PUT /api/v1/storage/<ns>/<key>/local), replacing an earlier
 * one. The bytes go to the content-addressed blob directory (equal contents
 * are stored once) and are fsynced by the commit. SM_EINVAL (bad ns or key),
 * SM_ENOSPC, SM_EIO.
 */
int sm_store_put_object(struct sm_store *s, const char *ns, const char *key, const void *data,
                        size_t len, struct sm_err *err);
/* Append object (ns, key)'s bytes to out (hash checked). SM_EINVAL, SM_ENOTFOUND, SM_ECORRUPT,
 * SM_ETOOBIG (larger than out's cap). */
int sm_store_get_object(struct sm_store *s, const char *ns, const char *key, struct sm_buf *out,
                        struct sm_err *err);

/* Current time in microseconds since the epoch (CLOCK_REALTIME). */
int64_t sm_now_us(void);

/* ISO-8601 UTC text of a timestamp ("2026-11-22T10:04:05.123456+00:00") into out (>= 40 bytes). */
void sm_format_time_us(int64_t us, char out[40]);

/*
 * Read ISO-8601 UTC text (len bytes): "YYYY-MM-DD", then 'T' or ' ' and
 * "HH:MM[:SS[.f...]]" (up to 6 fraction digits count; more are dropped), then
 * nothing, "Z", "+00:00" or "-00:00" (other offsets are applied). The forms
 * sm_format_time_us() and Python's datetime.isoformat() and str() write.
 * Returns 0 with *out in microseconds, or SM_EINVAL naming the text.
 */
int sm_parse_time_us(const char *text, size_t len, int64_t *out, struct sm_err *err);

/* JSON object of a record, Sematic's field names (the API and the CLI's --json use it). */
void sm_run_rec_to_json(const struct sm_run_rec *r, struct sm_jw *w);
void sm_artifact_rec_to_json(const struct sm_artifact_rec *a, struct sm_jw *w);
void sm_edge_rec_to_json(const struct sm_edge_rec *e, struct sm_jw *w);
void sm_pipeline_rec_to_json(const struct sm_pipeline_rec *p, struct sm_jw *w);
void sm_note_rec_to_json(const struct sm_note_rec *n, struct sm_jw *w);
/* Sematic's redacted form: no email, no key. */
void sm_user_rec_to_json(const struct sm_user_rec *u, struct sm_jw *w);

#endif
