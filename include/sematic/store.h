/*
 * store.h: the metadata store (runs, artifacts, edges, pipeline runs, logs).
 *
 * One interface, several backends: SQLite in WAL mode at
 * $SEMATIC_HOME/sematic.db (sqlite.c, today), PostgreSQL and an HTTP client
 * later. The engine and the CLI only see struct sm_store and these calls;
 * each backend fills a struct sm_store_ops.
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
 * bumped once per committed batch), which the server turns into live events.
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
#include "sematic/graph.h"
#include "sematic/hash.h"
#include "sematic/json.h"

/* Payloads up to this size live in the artifact's row; larger ones in blobs/. */
#define SM_STORE_INLINE_MAX_BYTES 4096

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

/* A stored value. The payload is the canonical JSON encoding of the value. */
struct sm_artifact_rec {
    char id[SM_SHA256_HEX_LEN + 1];       /* SHA-256 of type_json "\n" payload */
    const char *type_json;                /* type serialization */
    const char *summary_json;             /* bounded summary for displays */
    int64_t size_bytes;                   /* payload size */
    char blob_key[SM_SHA256_HEX_LEN + 1]; /* "" when the payload is inline */
    int64_t created_at;
};

/* A data-flow edge (API.md 4.1). */
struct sm_edge_rec {
    char id[SM_ID_HEX_LEN + 1];
    char root_id[SM_ID_HEX_LEN + 1];
    char source_run_id[SM_ID_HEX_LEN + 1];      /* "" for none (a literal input) */
    char destination_run_id[SM_ID_HEX_LEN + 1]; /* "" for none (an output nobody consumed) */
    const char *destination_name;               /* parameter name, NULL for output edges */
    char artifact_id[SM_SHA256_HEX_LEN + 1];    /* "" until known */
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

typedef int (*sm_run_fn)(void *ctx, const struct sm_run_rec *run);
typedef int (*sm_edge_fn)(void *ctx, const struct sm_edge_rec *edge);
typedef int (*sm_artifact_fn)(void *ctx, const struct sm_artifact_rec *artifact);
typedef int (*sm_pipeline_fn)(void *ctx, const struct sm_pipeline_rec *pipeline);
typedef int (*sm_log_fn)(void *ctx, const struct sm_log_rec *line);

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
};

struct sm_store {
    const struct sm_store_ops *ops;
    char *home; /* owned: the directory the store lives in */
};

/* Durability of commits. */
enum sm_store_sync {
    SM_STORE_SYNC_FULL = 0,   /* fsync each commit: a power loss costs at most the last batch */
    SM_STORE_SYNC_NORMAL = 1, /* WAL without fsync per commit: survives any process kill */
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
 * The store's home directory: $SEMATIC_HOME, else ~/.sematic. Writes into out
 * (at least 4096 bytes). Returns 0 or SM_EINVAL (no HOME and no SEMATIC_HOME).
 */
int sm_store_default_home(char *out, size_t size, struct sm_err *err);

/* Close; an open batch is rolled back. Accepts NULL. */
void sm_store_close(struct sm_store *s);

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
 * once); a->blob_key is ignored on write. put_pipeline checks the status
 * transition against the stored one (SM_EINVALID_TRANSITION).
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
 * Reads (inside or outside a batch). get_*: 0 or SM_ENOTFOUND (message names
 * the id and says `sematic runs` lists what exists). list_*: call fn for each
 * record in order; a non-zero return from fn stops the listing and is
 * returned. get_artifact appends the payload to `payload` (may be NULL to
 * skip it) and checks blob hashes (SM_ECORRUPT).
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

/* The last committed change sequence number (0 for a new store). */
int64_t sm_store_change_seq(struct sm_store *s);

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

#endif
