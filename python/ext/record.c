/*
 * record.c: the LocalRunner's persistence (record.h), and _core.Store, the
 * read side the API client uses.
 *
 *   _core.Recorder  one per LocalRunner.run(): watches the engine's
 *                   transitions on one graph and records runs, artifacts,
 *                   edges and the pipeline run as Sematic's LocalRunner does
 *                   (its _populate_graph_from_future, replayed in C without
 *                   recursion), reuses cached and resumed outputs, and
 *                   queues every write for the flusher thread.
 *   flusher         a thread that takes the queued records in batches, at
 *                   most one batch per interval, and commits each in one
 *                   store transaction (blobs fsynced first).
 *   _core.Store     reads: runs, graphs, artifacts (decoded), logs.
 *
 * Start reading at sm__recorder_transition(). Invariants: a record is queued
 * after every record it refers to (artifacts before the edges and runs that
 * name them), the queue is FIFO and a batch is one transaction, so the store
 * never shows a RESOLVED run without its output. The flusher touches only
 * C data (no Python objects, no GIL).
 */
#include "record.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "sematic/hash.h"
#include "sematic/json.h"
#include "sematic/store.h"

#include "../../src/core/util/banned.h"

/* ------------------------------------------------------------- arenas */

/* Bump allocator for the strings of one batch; chunks never move. */
struct chunk {
    struct chunk *next;
    size_t used, cap;
    char data[];
};

struct arena {
    struct chunk *head;
    size_t bytes;
};

static char *arena_dup(struct arena *a, const char *s, size_t n)
{
    if (s == NULL)
        return NULL;
    if (a->head == NULL || a->head->cap - a->head->used < n + 1) {
        size_t cap = n + 1 > 65536 ? n + 1 : 65536;
        struct chunk *c = malloc(sizeof(*c) + cap);
        if (c == NULL) {
            fputs("sematic: out of memory queueing store records\n", stderr);
            abort();
        }
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    char *p = a->head->data + a->head->used;
    memcpy(p, s, n);
    p[n] = '\0';
    a->head->used += n + 1;
    a->bytes += n + 1;
    return p;
}

static const char *arena_dupz(struct arena *a, const char *s)
{
    return s ? arena_dup(a, s, strlen(s)) : NULL;
}

static void arena_release(struct arena *a)
{
    while (a->head != NULL) {
        struct chunk *c = a->head;
        a->head = c->next;
        free(c);
    }
    a->bytes = 0;
}

/* ------------------------------------------------------- queued records */

enum op_kind { OP_RUN, OP_EDGE, OP_ARTIFACT, OP_PIPELINE, OP_SOURCE, OP_LOG };

struct op {
    enum op_kind kind;
    union {
        struct sm_run_rec run;
        struct sm_edge_rec edge;
        struct {
            struct sm_artifact_rec a;
            const char *payload;
            size_t len;
        } art;
        struct sm_pipeline_rec pipe;
        struct {
            const char *text;
            size_t len;
        } src;
        struct sm_log_rec log;
    } u;
};

struct batch {
    struct op *ops;
    size_t n, cap;
    struct arena arena;
    uint64_t gen;
};

struct flusher {
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* to the flusher: work, force or stop */
    pthread_cond_t flushed; /* from the flusher: a batch was committed */
    struct batch batches[2];
    struct batch *filling, *spare; /* spare is NULL while the flusher writes it */
    uint64_t next_gen;
    uint64_t gen_taken;     /* the last batch the flusher took */
    uint64_t gen_committed; /* every batch up to this one is committed (or failed) */
    uint64_t gen_done;      /* ... and durable: synced by the syncer (or failed) */
    bool stop, force;
    int64_t interval_us;
    int64_t last_flush_us;
    struct sm_store *store; /* used by the flusher thread only, once started */
    int err_code;           /* first failure, sticky */
    char err_msg[256];
    int64_t n_batches, n_ops;
    /*
     * The store handle commits without fsync and never checkpoints (SM_STORE_SYNC_LATER), so
     * that neither holds the next batch up: the syncer thread fsyncs the WAL after commits
     * (sync "full") and only then counts their batches done; the checkpointer thread moves
     * the WAL into the database meanwhile, with a handle of its own.
     */
    pthread_t syncer, checkpointer;
    pthread_cond_t committed;    /* to the syncer: a batch was committed, or stop */
    pthread_cond_t ckpt_wake;    /* to the checkpointer: a batch was committed, or stop */
    bool fsync_commits;          /* sync "full" */
    bool ckpt_due, helpers_stop; /* helpers: the syncer and the checkpointer */
    struct sm_store *ckpt_store; /* the checkpointer's; NULL with the server's store */
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int write_op(struct sm_store *s, const struct op *o, struct sm_err *err)
{
    switch (o->kind) {
    case OP_RUN:
        return sm_store_put_run(s, &o->u.run, err);
    case OP_EDGE:
        return sm_store_put_edge(s, &o->u.edge, err);
    case OP_ARTIFACT:
        return sm_store_put_artifact(s, &o->u.art.a, o->u.art.payload, o->u.art.len, err);
    case OP_PIPELINE:
        return sm_store_put_pipeline(s, &o->u.pipe, err);
    case OP_SOURCE: {
        char id[SM_SHA256_HEX_LEN + 1];
        return sm_store_put_source(s, o->u.src.text, o->u.src.len, id, err);
    }
    case OP_LOG:
        return sm_store_append_log(s, &o->u.log, err);
    }
    return sm_errf(err, SM_EINVAL, "unknown queued record kind %d", (int)o->kind);
}

static int write_batch(struct flusher *fl, struct batch *b, struct sm_err *err)
{
    int rc = sm_store_begin(fl->store, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < b->n; i++) {
        rc = write_op(fl->store, &b->ops[i], err);
        if (rc < 0) {
            sm_store_rollback(fl->store);
            return rc;
        }
    }
    /* At most one committed batch waits for its fsync: a power loss costs at most that one
     * (DESIGN principle 3). The wait is short, the syncer having had this batch's writes'
     * time. */
    pthread_mutex_lock(&fl->mu);
    while (fl->gen_done < fl->gen_committed && fl->err_code == 0)
        pthread_cond_wait(&fl->flushed, &fl->mu);
    pthread_mutex_unlock(&fl->mu);
    return sm_store_commit(fl->store, err);
}

static void batch_reset(struct batch *b, uint64_t gen)
{
    b->n = 0;
    arena_release(&b->arena);
    b->gen = gen;
}

/* Keep the first failure of a writer thread (rc < 0), for the pipeline; call with fl->mu held. */
static void note_failure(struct flusher *fl, int rc, const struct sm_err *err)
{
    if (rc >= 0 || fl->err_code != 0)
        return;
    fl->err_code = rc;
    snprintf(fl->err_msg, sizeof(fl->err_msg), "%s", err->msg[0] ? err->msg : sm_strerror(rc));
}

static void *flusher_main(void *arg)
{
    struct flusher *fl = arg;
    pthread_mutex_lock(&fl->mu);
    for (;;) {
        while (!fl->stop && !fl->force &&
               (fl->filling->n == 0 || mono_us() - fl->last_flush_us < fl->interval_us)) {
            if (fl->filling->n == 0) {
                pthread_cond_wait(&fl->wake, &fl->mu);
            } else {
                int64_t due_us = fl->last_flush_us + fl->interval_us - mono_us();
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                int64_t ns = ts.tv_nsec + (due_us > 0 ? due_us : 0) * 1000;
                ts.tv_sec += ns / 1000000000;
                ts.tv_nsec = ns % 1000000000;
                pthread_cond_timedwait(&fl->wake, &fl->mu, &ts);
            }
        }
        if (fl->filling->n == 0) {
            fl->force = false;
            fl->gen_committed = fl->gen_taken;
            pthread_cond_signal(&fl->committed);
            if (fl->stop)
                break;
            continue;
        }
        struct batch *b = fl->filling;
        /* The interval runs from when a batch is taken: one that took longer is followed at
         * once, so the flusher never idles while records wait. */
        fl->last_flush_us = mono_us();
        fl->filling = fl->spare;
        fl->spare = NULL;
        batch_reset(fl->filling, ++fl->next_gen);
        fl->gen_taken = b->gen;
        fl->force = false;
        bool failed = fl->err_code != 0;
        pthread_mutex_unlock(&fl->mu);

        struct sm_err err = SM_ERR_INIT;
        int rc = failed ? 0 : write_batch(fl, b, &err);

        pthread_mutex_lock(&fl->mu);
        note_failure(fl, rc, &err);
        fl->n_batches++;
        fl->n_ops += (int64_t)b->n;
        fl->gen_committed = b->gen;
        fl->spare = b;
        pthread_cond_signal(&fl->committed);
        fl->ckpt_due = true;
        pthread_cond_signal(&fl->ckpt_wake);
    }
    pthread_mutex_unlock(&fl->mu);
    return NULL;
}

/* Make committed batches durable, then count them done; until stopped with nothing left. */
static void *syncer_main(void *arg)
{
    struct flusher *fl = arg;
    pthread_mutex_lock(&fl->mu);
    for (;;) {
        while (fl->gen_done >= fl->gen_committed && !fl->helpers_stop)
            pthread_cond_wait(&fl->committed, &fl->mu);
        if (fl->gen_done >= fl->gen_committed)
            break;
        uint64_t target = fl->gen_committed;
        pthread_mutex_unlock(&fl->mu);
        struct sm_err err = SM_ERR_INIT;
        int rc = fl->fsync_commits ? sm_store_sync(fl->store, &err) : 0;
        pthread_mutex_lock(&fl->mu);
        note_failure(fl, rc, &err);
        fl->gen_done = target;
        pthread_cond_broadcast(&fl->flushed);
    }
    pthread_mutex_unlock(&fl->mu);
    return NULL;
}

/* Checkpoint after commits, so that the WAL stops growing; until stopped. A failed checkpoint
 * loses nothing (the WAL keeps what it holds): the next one tries again. */
static void *checkpointer_main(void *arg)
{
    struct flusher *fl = arg;
    pthread_mutex_lock(&fl->mu);
    for (;;) {
        while (!fl->ckpt_due && !fl->helpers_stop)
            pthread_cond_wait(&fl->ckpt_wake, &fl->mu);
        if (fl->helpers_stop)
            break;
        fl->ckpt_due = false;
        pthread_mutex_unlock(&fl->mu);
        struct sm_err err = SM_ERR_INIT;
        (void)sm_store_checkpoint(fl->ckpt_store, &err);
        pthread_mutex_lock(&fl->mu);
    }
    pthread_mutex_unlock(&fl->mu);
    return NULL;
}

/* Start the flusher and its helpers; false when a thread cannot be made (none then runs). */
static bool flusher_start(struct flusher *fl)
{
    if (pthread_create(&fl->thread, NULL, flusher_main, fl) != 0)
        return false;
    if (pthread_create(&fl->syncer, NULL, syncer_main, fl) != 0) {
        fl->started = true; /* for flusher_stop() */
        pthread_mutex_lock(&fl->mu);
        fl->stop = true;
        pthread_cond_signal(&fl->wake);
        pthread_mutex_unlock(&fl->mu);
        pthread_join(fl->thread, NULL);
        fl->started = false;
        return false;
    }
    if (fl->ckpt_store != NULL &&
        pthread_create(&fl->checkpointer, NULL, checkpointer_main, fl) != 0) {
        sm_store_close(fl->ckpt_store); /* no checkpoints then: the WAL grows until closed */
        fl->ckpt_store = NULL;
    }
    fl->started = true;
    return true;
}

/* Append a record to the filling batch; call with fl->mu held. */
static struct op *queue_op(struct flusher *fl, enum op_kind kind)
{
    struct batch *b = fl->filling;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        struct op *p = realloc(b->ops, cap * sizeof(*p));
        if (p == NULL) {
            fputs("sematic: out of memory queueing store records\n", stderr);
            abort();
        }
        b->ops = p;
        b->cap = cap;
    }
    struct op *o = &b->ops[b->n++];
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    return o;
}

/* After queueing: wake the flusher when a batch is due, wait when too much is queued. */
static void queued(struct flusher *fl)
{
    if (!fl->started)
        return;
    if (fl->filling->arena.bytes > ((size_t)256 << 20) || fl->filling->n > 1000000) {
        /* Back-pressure: let the flusher catch up (the GIL is released by the caller's caller
         * only around drain; here the wait is short and bounded by one commit). */
        fl->force = true;
        pthread_cond_signal(&fl->wake);
        uint64_t target = fl->filling->gen;
        while (fl->gen_done < target && fl->err_code == 0)
            pthread_cond_wait(&fl->flushed, &fl->mu);
        return;
    }
    if (fl->filling->n == 1 || mono_us() - fl->last_flush_us >= fl->interval_us)
        pthread_cond_signal(&fl->wake);
}

/* Commit everything queued so far; the GIL is released while waiting. Returns 0 or the error. */
static int flusher_drain(struct flusher *fl)
{
    int rc = 0;
    Py_BEGIN_ALLOW_THREADS;
    pthread_mutex_lock(&fl->mu);
    if (fl->started) {
        uint64_t target = fl->filling->n ? fl->filling->gen : fl->gen_taken;
        fl->force = true;
        pthread_cond_signal(&fl->wake);
        while (fl->gen_done < target && fl->err_code == 0)
            pthread_cond_wait(&fl->flushed, &fl->mu);
    }
    rc = fl->err_code;
    pthread_mutex_unlock(&fl->mu);
    Py_END_ALLOW_THREADS;
    return rc;
}

static void flusher_stop(struct flusher *fl)
{
    if (!fl->started)
        return;
    Py_BEGIN_ALLOW_THREADS;
    pthread_mutex_lock(&fl->mu);
    fl->stop = true;
    pthread_cond_signal(&fl->wake);
    pthread_mutex_unlock(&fl->mu);
    pthread_join(fl->thread, NULL);
    /* The syncer syncs what the flusher committed last, then ends; a checkpoint going on is
     * cut short (the next writer of the store, or the next checkpoint, goes on with it). */
    pthread_mutex_lock(&fl->mu);
    fl->helpers_stop = true;
    pthread_cond_signal(&fl->committed);
    pthread_cond_signal(&fl->ckpt_wake);
    pthread_mutex_unlock(&fl->mu);
    if (fl->ckpt_store != NULL)
        sm_store_interrupt(fl->ckpt_store);
    pthread_join(fl->syncer, NULL);
    if (fl->ckpt_store != NULL)
        pthread_join(fl->checkpointer, NULL);
    Py_END_ALLOW_THREADS;
    fl->started = false;
}

/* ------------------------------------------------------------ recorder */

/* What is recorded once per function (Sematic's run fields that come from the function). */
struct fn_info {
    char *name, *path, *description, *tags_json, *resource_json, *retry_json;
    char source_id[SM_SHA256_HEX_LEN + 1];
    Py_ssize_t *sorted_params; /* parameter indexes in name order (for reuse digests) */
    bool is_inline, cache;
};

/* Per-run overrides from future.set(...), computed once when the run is first recorded. */
struct run_meta {
    char *name, *tags_json, *resource_json, *retry_json;
    bool is_inline;
};

struct rec_run {
    int32_t fn;           /* index into fns, -1 until recorded */
    int32_t in_edge_base; /* its input edges are edges[base .. base + n_params) */
    int32_t first_out;    /* edges whose source is this run: a list through next_by_source */
    int32_t artifact_out; /* index into arts, -1 until resolved */
    uint32_t walk_mark;   /* last walk that visited it */
    uint32_t op_gen;      /* batch generation of its queued record, for coalescing */
    uint32_t op_index;    /* index of that record in the batch */
    uint32_t first_gen;   /* batch generation of its first record (0: none yet) */
    bool populated, complete;
    bool pending; /* CREATED and not queued yet: see defer_created() */
    int32_t attempt;
    int64_t created_at, started_at, ended_at, resolved_at, failed_at;
    char *exception_json;  /* malloc'd */
    char *cache_key;       /* malloc'd */
    struct run_meta *meta; /* malloc'd, or NULL when the function's defaults apply */
    char original_run_id[SM_ID_HEX_LEN + 1];
};

struct rec_edge {
    char id[SM_ID_HEX_LEN + 1];
    int32_t source, dest, param, parent_edge, next_by_source, artifact;
    uint32_t op_gen, op_index;
    uint32_t first_gen; /* batch generation of its first record (0: none yet) */
    int64_t created_at;
};

struct recorder_obj {
    PyObject_HEAD
    struct flusher fl;
    struct sm_store *read_store; /* opened on first read, main thread only */
    char *home;
    enum sm_store_sync sync;
    PyObject *pipeline;        /* dict of pipeline run fields */
    PyObject *cache_namespace; /* str or NULL */
    PyObject *reuse;           /* dict digest -> (run id, artifact id), or NULL */
    PyObject *fn_index;        /* dict function -> int index into fns */
    PyObject *exc_metadata;    /* last hook result, kept only while copying */
    struct fn_info *fns;
    int32_t n_fns, cap_fns;
    struct rec_run *runs;
    int32_t cap_runs;
    struct rec_edge *edges;
    int32_t n_edges, cap_edges;
    char (*arts)[SM_SHA256_HEX_LEN + 1];
    int32_t n_arts, cap_arts;
    int32_t *art_slots; /* open addressing over arts, -1 empty */
    size_t cap_slots;
    int32_t *stack;
    int32_t n_stack, cap_stack;
    uint32_t walk;
    char root_id[SM_ID_HEX_LEN + 1];
    int32_t root;
    int pipeline_status; /* -1 before begin */
    int64_t pipeline_created_at;
    int64_t n_reused, n_encoded;
    struct graph_obj *graph; /* borrowed while running */
    /* The journal: outputs of runs that resolved since the last body started, written
     * (no fsync) before the next body runs, so a killed driver loses only the run in
     * flight; deleted once everything is committed. See docs/internals/record.md. */
    struct sm_buf journal;
    int journal_fd;      /* -1 until the first write */
    int32_t journal_run; /* the run whose output is being recorded for the journal, or -1 */
    /* Runs recorded CREATED but not queued yet (with the edges they own), so that a run
     * that moves on soon is written once: see defer_created(). */
    int32_t *pending;
    int32_t n_pending, cap_pending;
    int64_t pending_since_us;
};

#define REC(o) ((struct recorder_obj *)(o))

struct sm_recorder *sm__recorder_of(PyObject *obj)
{
    return (struct sm_recorder *)obj;
}

int sm__is_recorder(struct sm_py_state *st, PyObject *obj)
{
    return PyObject_TypeCheck(obj, st->recorder_type);
}

static struct sm_py_state *rec_state(struct recorder_obj *r)
{
    return sm_py_state_by_type(Py_TYPE(r));
}

static void *xgrow(void *p, int32_t *cap, size_t elem, int32_t need)
{
    if (need <= *cap)
        return p;
    int32_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    void *q = realloc(p, (size_t)c * elem);
    if (q == NULL) {
        fputs("sematic: out of memory recording runs\n", stderr);
        abort();
    }
    *cap = c;
    return q;
}

static char *xstrdup_or_null(const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p == NULL) {
        fputs("sematic: out of memory recording runs\n", stderr);
        abort();
    }
    memcpy(p, s, n + 1);
    return p;
}

/* The recorder's entry for run `i`, growing the array as the graph grows. */
static struct rec_run *rrun(struct recorder_obj *r, int32_t i)
{
    if (i >= r->cap_runs) {
        int32_t old = r->cap_runs;
        r->runs = xgrow(r->runs, &r->cap_runs, sizeof(*r->runs), i + 1);
        for (int32_t k = old; k < r->cap_runs; k++) {
            struct rec_run *x = &r->runs[k];
            memset(x, 0, sizeof(*x));
            x->fn = -1;
            x->in_edge_base = -1;
            x->first_out = -1;
            x->artifact_out = -1;
            x->op_gen = UINT32_MAX;
        }
    }
    return &r->runs[i];
}

/* ----------------------------------------------------------- artifacts */

static uint64_t hex_hash(const char *id)
{
    uint64_t h = 0;
    for (int i = 0; i < 16; i++) {
        char c = id[i];
        h = h << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    return h;
}

/* Index of artifact id in arts, adding it when new (*is_new set). */
static int32_t intern_artifact(struct recorder_obj *r, const char *id, bool *is_new)
{
    if ((size_t)r->n_arts * 2 >= r->cap_slots) {
        size_t cap = r->cap_slots ? r->cap_slots * 2 : 1024;
        int32_t *slots = malloc(cap * sizeof(*slots));
        if (slots == NULL) {
            fputs("sematic: out of memory recording artifacts\n", stderr);
            abort();
        }
        memset(slots, 0xff, cap * sizeof(*slots));
        for (int32_t k = 0; k < r->n_arts; k++) {
            size_t j = hex_hash(r->arts[k]) & (cap - 1);
            while (slots[j] >= 0)
                j = (j + 1) & (cap - 1);
            slots[j] = k;
        }
        free(r->art_slots);
        r->art_slots = slots;
        r->cap_slots = cap;
    }
    size_t j = hex_hash(id) & (r->cap_slots - 1);
    while (r->art_slots[j] >= 0) {
        if (memcmp(r->arts[r->art_slots[j]], id, SM_SHA256_HEX_LEN) == 0) {
            *is_new = false;
            return r->art_slots[j];
        }
        j = (j + 1) & (r->cap_slots - 1);
    }
    r->arts = xgrow(r->arts, &r->cap_arts, sizeof(*r->arts), r->n_arts + 1);
    memcpy(r->arts[r->n_arts], id, SM_SHA256_HEX_LEN);
    r->arts[r->n_arts][SM_SHA256_HEX_LEN] = '\0';
    r->art_slots[j] = r->n_arts;
    *is_new = true;
    return r->n_arts++;
}

/* Encode value under type, queue the artifact when new; its index, or -1 with an exception. */
static void journal_output(struct recorder_obj *r, int32_t run, const struct sm_encoded *enc);

static int32_t record_value_for(struct recorder_obj *r, PyObject *type, PyObject *value,
                                int32_t journal_run)
{
    struct sm_py_state *st = rec_state(r);
    struct sm_encoded enc;
    sm_encoded_init(&enc);
    if (sm_codec_encode(st, type, value, &enc) < 0) {
        sm_encoded_release(&enc);
        return -1;
    }
    r->n_encoded++;
    bool is_new;
    int32_t k = intern_artifact(r, enc.id, &is_new);
    if (is_new) {
        struct flusher *fl = &r->fl;
        pthread_mutex_lock(&fl->mu);
        struct op *o = queue_op(fl, OP_ARTIFACT);
        struct arena *a = &fl->filling->arena;
        memcpy(o->u.art.a.id, enc.id, sizeof(o->u.art.a.id));
        o->u.art.a.type_json =
            arena_dup(a, enc.type_json.data ? enc.type_json.data : "", enc.type_json.len);
        o->u.art.a.summary_json = arena_dup(
            a, enc.summary_json.data ? enc.summary_json.data : "null", enc.summary_json.len);
        o->u.art.a.size_bytes = (int64_t)enc.value_json.len;
        o->u.art.a.created_at = sm_now_us();
        o->u.art.payload =
            arena_dup(a, enc.value_json.data ? enc.value_json.data : "", enc.value_json.len);
        o->u.art.len = enc.value_json.len;
        queued(fl);
        pthread_mutex_unlock(&fl->mu);
    }
    if (journal_run >= 0)
        journal_output(r, journal_run, &enc);
    sm_encoded_release(&enc);
    return k;
}

static int32_t record_value(struct recorder_obj *r, PyObject *type, PyObject *value)
{
    return record_value_for(r, type, value, -1);
}

/* ------------------------------------------------------------ functions */

static char *utf8_dup(PyObject *o)
{
    if (o == NULL || o == Py_None)
        return NULL;
    const char *s = PyUnicode_AsUTF8(o);
    return s ? xstrdup_or_null(s) : NULL;
}

static PyObject *params_of(PyObject *function)
{
    return ((struct func_obj *)function)->params;
}

static int compare_names(const void *a, const void *b, void *ctx)
{
    PyObject *params = ctx;
    const char *x = PyUnicode_AsUTF8(PyTuple_GET_ITEM(params, *(const Py_ssize_t *)a));
    const char *y = PyUnicode_AsUTF8(PyTuple_GET_ITEM(params, *(const Py_ssize_t *)b));
    return strcmp(x ? x : "", y ? y : "");
}

/* Index of fn's info, computing it (through sematic._hooks) on first sight; -1 with exception. */
static int32_t fn_info_of(struct recorder_obj *r, PyObject *function)
{
    PyObject *idx = PyDict_GetItemWithError(r->fn_index, function);
    if (idx != NULL)
        return (int32_t)PyLong_AsLong(idx);
    if (PyErr_Occurred())
        return -1;
    struct sm_py_state *st = rec_state(r);
    /* (name, description, source, is_inline, tags_json, resource_json, retry_json, cache,
     * recorded function path) */
    PyObject *args[] = {function};
    PyObject *m = sm__call_hook(st, "function_metadata", args, 1);
    if (m == NULL)
        return -1;
    if (!PyTuple_Check(m) || PyTuple_GET_SIZE(m) != 9) {
        Py_DECREF(m);
        PyErr_SetString(PyExc_RuntimeError, "sematic._hooks.function_metadata broke its contract");
        return -1;
    }
    r->fns = xgrow(r->fns, &r->cap_fns, sizeof(*r->fns), r->n_fns + 1);
    struct fn_info *fi = &r->fns[r->n_fns];
    memset(fi, 0, sizeof(*fi));
    fi->name = utf8_dup(PyTuple_GET_ITEM(m, 0));
    fi->path = utf8_dup(PyTuple_GET_ITEM(m, 8));
    fi->description = utf8_dup(PyTuple_GET_ITEM(m, 1));
    fi->is_inline = PyObject_IsTrue(PyTuple_GET_ITEM(m, 3)) > 0;
    fi->tags_json = utf8_dup(PyTuple_GET_ITEM(m, 4));
    fi->resource_json = utf8_dup(PyTuple_GET_ITEM(m, 5));
    fi->retry_json = utf8_dup(PyTuple_GET_ITEM(m, 6));
    fi->cache = PyObject_IsTrue(PyTuple_GET_ITEM(m, 7)) > 0;
    PyObject *params = params_of(function);
    Py_ssize_t np = PyTuple_GET_SIZE(params);
    fi->sorted_params = malloc(((size_t)np + 1) * sizeof(Py_ssize_t));
    if (fi->sorted_params == NULL) {
        Py_DECREF(m);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < np; i++)
        fi->sorted_params[i] = i;
    qsort_r(fi->sorted_params, (size_t)np, sizeof(Py_ssize_t), compare_names, params);

    PyObject *source = PyTuple_GET_ITEM(m, 2);
    if (source != Py_None) {
        Py_ssize_t n;
        const char *text = PyUnicode_AsUTF8AndSize(source, &n);
        if (text == NULL) {
            Py_DECREF(m);
            return -1;
        }
        uint8_t digest[SM_SHA256_LEN];
        sm_sha256(text, (size_t)n, digest);
        sm_hex(digest, SM_SHA256_LEN, fi->source_id);
        struct flusher *fl = &r->fl;
        pthread_mutex_lock(&fl->mu);
        struct op *o = queue_op(fl, OP_SOURCE);
        o->u.src.text = arena_dup(&fl->filling->arena, text, (size_t)n);
        o->u.src.len = (size_t)n;
        queued(fl);
        pthread_mutex_unlock(&fl->mu);
    }
    Py_DECREF(m);
    if (fi->name == NULL || fi->path == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "a Sematic function without a name or path");
        return -1;
    }
    PyObject *v = PyLong_FromLong(r->n_fns);
    if (v == NULL || PyDict_SetItem(r->fn_index, function, v) < 0) {
        Py_XDECREF(v);
        return -1;
    }
    Py_DECREF(v);
    return r->n_fns++;
}

/* Per-run overrides when the future's properties were materialised (future.set()). */
static int run_meta_of(struct recorder_obj *r, struct graph_obj *go, int32_t run,
                       struct rec_run *rr)
{
    if (go->runs[run].props == NULL || rr->meta != NULL)
        return 0;
    struct sm_py_state *st = rec_state(r);
    PyObject *f = sm__graph_handle(st, (PyObject *)go, run);
    if (f == NULL)
        return -1;
    PyObject *args[] = {f};
    /* (name, is_inline, tags_json, resource_json, retry_json) */
    PyObject *m = sm__call_hook(st, "future_metadata", args, 1);
    Py_DECREF(f);
    if (m == NULL)
        return -1;
    if (!PyTuple_Check(m) || PyTuple_GET_SIZE(m) != 5) {
        Py_DECREF(m);
        PyErr_SetString(PyExc_RuntimeError, "sematic._hooks.future_metadata broke its contract");
        return -1;
    }
    struct run_meta *meta = calloc(1, sizeof(*meta));
    if (meta == NULL) {
        Py_DECREF(m);
        PyErr_NoMemory();
        return -1;
    }
    meta->name = utf8_dup(PyTuple_GET_ITEM(m, 0));
    meta->is_inline = PyObject_IsTrue(PyTuple_GET_ITEM(m, 1)) > 0;
    meta->tags_json = utf8_dup(PyTuple_GET_ITEM(m, 2));
    meta->resource_json = utf8_dup(PyTuple_GET_ITEM(m, 3));
    meta->retry_json = utf8_dup(PyTuple_GET_ITEM(m, 4));
    Py_DECREF(m);
    rr->meta = meta;
    return PyErr_Occurred() ? -1 : 0;
}

/* ----------------------------------------------------------- queueing */

static void hex_or_empty(const struct graph_obj *go, int32_t run, char out[SM_ID_HEX_LEN + 1])
{
    if (run < 0)
        out[0] = '\0';
    else
        sm__run_id_hex(go, run, out);
}

static void queue_edge(struct recorder_obj *r, int32_t e);

/* Queue the current record of `run`, replacing its record still waiting in the same batch. */
static void queue_run(struct recorder_obj *r, struct graph_obj *go, int32_t run)
{
    struct rec_run *rr = &r->runs[run];
    struct fn_info *fi = &r->fns[rr->fn];
    struct flusher *fl = &r->fl;
    pthread_mutex_lock(&fl->mu);
    struct op *o;
    if (rr->op_gen == (uint32_t)fl->filling->gen && rr->op_index < fl->filling->n &&
        fl->filling->ops[rr->op_index].kind == OP_RUN)
        o = &fl->filling->ops[rr->op_index];
    else {
        o = queue_op(fl, OP_RUN);
        rr->op_gen = (uint32_t)fl->filling->gen;
        rr->op_index = (uint32_t)(fl->filling->n - 1);
    }
    struct arena *a = &fl->filling->arena;
    struct sm_run_rec *x = &o->u.run;
    if (rr->first_gen == 0)
        rr->first_gen = (uint32_t)fl->filling->gen;
    x->is_new = rr->first_gen == (uint32_t)fl->filling->gen;
    sm__run_id_hex(go, run, x->id);
    memcpy(x->root_id, r->root_id, sizeof(x->root_id));
    hex_or_empty(go, sm_graph_parent(go->g, run), x->parent_id);
    hex_or_empty(go, sm_graph_nested(go->g, run), x->nested_id);
    memcpy(x->original_run_id, rr->original_run_id, sizeof(x->original_run_id));
    x->state = (int)sm_graph_state(go->g, run);
    struct run_meta *meta = rr->meta;
    x->name = meta && meta->name ? meta->name : fi->name;
    x->function_path = fi->path;
    x->description = fi->description;
    x->source_id = fi->source_id[0] ? fi->source_id : NULL;
    x->tags_json =
        meta && meta->tags_json ? meta->tags_json : (fi->tags_json ? fi->tags_json : "[]");
    x->resource_requirements_json = meta ? meta->resource_json : fi->resource_json;
    x->retry_settings_json = meta ? meta->retry_json : fi->retry_json;
    x->cache_key = arena_dupz(a, rr->cache_key);
    x->exception_json = arena_dupz(a, rr->exception_json);
    x->external_exception_json = NULL;
    x->is_inline = meta ? meta->is_inline : fi->is_inline;
    x->attempt = rr->attempt;
    x->created_at = rr->created_at;
    x->updated_at = sm_now_us();
    x->started_at = rr->started_at;
    x->ended_at = rr->ended_at;
    x->resolved_at = rr->resolved_at;
    x->failed_at = rr->failed_at;
    queued(fl);
    pthread_mutex_unlock(&fl->mu);
    if (rr->pending) {
        /* Its first record: the edges it owns go with it (see defer_created()). */
        rr->pending = false;
        Py_ssize_t np = PyTuple_GET_SIZE(((struct func_obj *)go->runs[run].function)->params);
        for (Py_ssize_t i = 0; i < np; i++)
            if (r->edges[rr->in_edge_base + (int32_t)i].first_gen == 0)
                queue_edge(r, rr->in_edge_base + (int32_t)i);
        for (int32_t e = rr->first_out; e >= 0; e = r->edges[e].next_by_source)
            if (r->edges[e].dest < 0 && r->edges[e].first_gen == 0)
                queue_edge(r, e);
    }
}

static void queue_edge(struct recorder_obj *r, int32_t e)
{
    struct rec_edge *ed = &r->edges[e];
    struct graph_obj *go = r->graph;
    struct flusher *fl = &r->fl;
    pthread_mutex_lock(&fl->mu);
    struct op *o;
    if (ed->op_gen == (uint32_t)fl->filling->gen && ed->op_index < fl->filling->n &&
        fl->filling->ops[ed->op_index].kind == OP_EDGE)
        o = &fl->filling->ops[ed->op_index];
    else {
        o = queue_op(fl, OP_EDGE);
        ed->op_gen = (uint32_t)fl->filling->gen;
        ed->op_index = (uint32_t)(fl->filling->n - 1);
    }
    struct sm_edge_rec *x = &o->u.edge;
    if (ed->first_gen == 0)
        ed->first_gen = (uint32_t)fl->filling->gen;
    x->is_new = ed->first_gen == (uint32_t)fl->filling->gen;
    memcpy(x->id, ed->id, sizeof(x->id));
    memcpy(x->root_id, r->root_id, sizeof(x->root_id));
    hex_or_empty(go, ed->source, x->source_run_id);
    hex_or_empty(go, ed->dest, x->destination_run_id);
    x->destination_name =
        ed->dest >= 0
            ? PyUnicode_AsUTF8(PyTuple_GET_ITEM(params_of(go->runs[ed->dest].function), ed->param))
            : NULL;
    if (ed->artifact >= 0)
        memcpy(x->artifact_id, r->arts[ed->artifact], sizeof(x->artifact_id));
    else
        x->artifact_id[0] = '\0';
    if (ed->parent_edge >= 0)
        memcpy(x->parent_id, r->edges[ed->parent_edge].id, sizeof(x->parent_id));
    else
        x->parent_id[0] = '\0';
    x->created_at = ed->created_at;
    x->updated_at = sm_now_us();
    queued(fl);
    pthread_mutex_unlock(&fl->mu);
}

/* A new edge; its index, or -1 with an exception. */
static int32_t new_edge(struct recorder_obj *r, int32_t source, int32_t dest, int32_t param,
                        int32_t parent_edge)
{
    r->edges = xgrow(r->edges, &r->cap_edges, sizeof(*r->edges), r->n_edges + 1);
    struct rec_edge *e = &r->edges[r->n_edges];
    sm__edge_id_hex(r->graph, r->n_edges, e->id);
    e->source = source;
    e->dest = dest;
    e->param = param;
    e->parent_edge = parent_edge;
    e->artifact = -1;
    e->op_gen = UINT32_MAX;
    e->op_index = 0;
    e->first_gen = 0;
    e->created_at = sm_now_us();
    e->next_by_source = -1;
    if (source >= 0) {
        struct rec_run *s = rrun(r, source);
        e->next_by_source = s->first_out;
        s->first_out = r->n_edges;
    }
    return r->n_edges++;
}

/* ------------------------------------------------------------- populate */

/* The artifact of input `i` of `run` once it is concrete; -2 when not yet, -1 on error. */
static int32_t input_artifact(struct recorder_obj *r, struct graph_obj *go, int32_t run,
                              Py_ssize_t i, int32_t source)
{
    struct sm_py_state *st = rec_state(r);
    struct run_py *py = &go->runs[run];
    struct func_obj *fn = (struct func_obj *)py->function;
    PyObject *type = PyTuple_GET_ITEM(fn->in_types, i);
    PyObject *arg = PyTuple_GET_ITEM(py->args, i);
    if (arg != st->upstream)
        return record_value(r, type, arg);
    struct rec_run *up = rrun(r, source);
    if (sm_graph_state(go->g, source) == SM_STATE_RESOLVED) {
        struct func_obj *ufn = (struct func_obj *)go->runs[source].function;
        if (up->artifact_out < 0 && ufn->out_type == type) {
            PyObject *v = go->runs[source].value ? go->runs[source].value : Py_None;
            up->artifact_out = record_value(r, type, v);
            if (up->artifact_out < 0)
                return -1;
        }
        if (up->artifact_out >= 0)
            return up->artifact_out;
    }
    if (py->resolved == NULL)
        return -2;
    return record_value(r, type, PyTuple_GET_ITEM(py->resolved, i));
}

/*
 * A run first recorded CREATED (a nested graph populated when its parent RAN) is not queued
 * at once: most runs move on (SCHEDULED, RESOLVED) soon, and their next record then writes
 * the run and its edges once instead of twice. Runs still CREATED after PENDING_MAX_US are
 * queued as they are (flush_pending()), so a live view shows the whole graph within that.
 * Measured: about 5 rows written per step of a chain before, 3 after.
 */
#define PENDING_MAX_US 1000000

static int defer_created(struct recorder_obj *r, int32_t run)
{
    if (r->n_pending == 0)
        r->pending_since_us = mono_us();
    r->pending = xgrow(r->pending, &r->cap_pending, sizeof(*r->pending), r->n_pending + 1);
    r->pending[r->n_pending++] = run;
    r->runs[run].pending = true;
    return 0;
}

/* Queue edge e unless the run that owns it (its destination, else its source) is pending. */
static void queue_owned_edge(struct recorder_obj *r, int32_t e)
{
    int32_t owner = r->edges[e].dest >= 0 ? r->edges[e].dest : r->edges[e].source;
    if (owner >= 0 && r->runs[owner].pending)
        return;
    queue_edge(r, e);
}

/* Queue every pending run (and its edges) as it is now. */
static void flush_pending(struct recorder_obj *r, struct graph_obj *go)
{
    for (int32_t i = 0; i < r->n_pending; i++)
        if (r->runs[r->pending[i]].pending)
            queue_run(r, go, r->pending[i]);
    r->n_pending = 0;
}

/* Flush pending runs that waited long enough. */
static void flush_pending_if_due(struct recorder_obj *r, struct graph_obj *go)
{
    if (r->n_pending > 0 && mono_us() - r->pending_since_us >= PENDING_MAX_US)
        flush_pending(r, go);
}

/* Sematic's _populate_graph_from_future for one run, without the walk upstream. */
static int populate_one(struct recorder_obj *r, struct graph_obj *go, int32_t run)
{
    struct sm_py_state *st = rec_state(r);
    struct rec_run *rr = rrun(r, run);
    struct run_py *py = &go->runs[run];
    PyObject *params = params_of(py->function);
    Py_ssize_t np = PyTuple_GET_SIZE(params);
    int32_t parent = sm_graph_parent(go->g, run);
    bool created = false;

    if (!rr->populated) {
        rr->fn = fn_info_of(r, py->function);
        if (rr->fn < 0 || run_meta_of(r, go, run, rr) < 0)
            return -1;
        rr->populated = true;
        rr->created_at = sm_now_us();
        created = true;
        if (sm_graph_state(go->g, run) == SM_STATE_CREATED && defer_created(r, run) < 0)
            return -1;
        /* Input edges: source = the upstream run or none; parent = the parent's input edge
         * when the value is the very object the parent received (Sematic's `is`). */
        rr->in_edge_base = r->n_edges;
        int32_t k = 0;
        for (Py_ssize_t i = 0; i < np; i++) {
            PyObject *arg = PyTuple_GET_ITEM(py->args, i);
            int32_t source = arg == st->upstream ? sm_graph_input(go->g, run, k++) : -1;
            int32_t parent_edge = -1;
            if (source < 0 && parent >= 0 && go->runs[parent].resolved != NULL &&
                r->runs[parent].in_edge_base >= 0) {
                PyObject *pres = go->runs[parent].resolved;
                for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(pres); j++)
                    if (PyTuple_GET_ITEM(pres, j) == arg)
                        parent_edge = r->runs[parent].in_edge_base + (int32_t)j;
            }
            if (new_edge(r, source, run, (int32_t)i, parent_edge) < 0)
                return -1;
        }
        rr = &r->runs[run]; /* new_edge may have grown runs */
    }
    for (Py_ssize_t i = 0; i < np; i++) {
        int32_t e = rr->in_edge_base + (int32_t)i;
        if (r->edges[e].artifact < 0) {
            int32_t a = input_artifact(r, go, run, i, r->edges[e].source);
            if (a == -1)
                return -1;
            rr = &r->runs[run];
            if (a >= 0)
                r->edges[e].artifact = a;
        }
        if (created || r->edges[e].artifact >= 0)
            queue_owned_edge(r, e);
    }

    /* Output edges. */
    int32_t art = -1;
    if (sm_graph_state(go->g, run) == SM_STATE_RESOLVED) {
        if (rr->artifact_out < 0) {
            struct func_obj *fn = (struct func_obj *)py->function;
            int32_t a = record_value_for(r, fn->out_type, py->value ? py->value : Py_None,
                                         r->journal_run == run ? run : -1);
            if (a < 0)
                return -1;
            rr = &r->runs[run];
            rr->artifact_out = a;
        }
        art = rr->artifact_out;
    }
    if (rr->first_out < 0) {
        int32_t first_parent_out = -1;
        if (parent >= 0 && sm_graph_nested(go->g, parent) == run)
            first_parent_out = rrun(r, parent)->first_out;
        if (first_parent_out < 0) {
            int32_t e = new_edge(r, run, -1, -1, -1);
            if (e < 0)
                return -1;
            r->edges[e].artifact = art;
            queue_owned_edge(r, e);
        } else {
            for (int32_t pe = first_parent_out; pe >= 0; pe = r->edges[pe].next_by_source) {
                int32_t e = new_edge(r, run, -1, -1, pe);
                if (e < 0)
                    return -1;
                r->edges[e].artifact = art;
                queue_owned_edge(r, e);
            }
        }
        rr = &r->runs[run];
    } else if (art >= 0) {
        for (int32_t e = rr->first_out; e >= 0; e = r->edges[e].next_by_source)
            if (r->edges[e].artifact < 0) {
                r->edges[e].artifact = art;
                queue_owned_edge(r, e);
            }
    }
    if (created && !rr->pending)
        queue_run(r, go, run);
    if (art >= 0) {
        bool complete = true;
        for (Py_ssize_t i = 0; i < np && complete; i++)
            complete = r->edges[rr->in_edge_base + (int32_t)i].artifact >= 0;
        rr->complete = complete;
    }
    return 0;
}

/* Populate `run` then, depth first in argument order, every run upstream of it (once). */
static int populate(struct recorder_obj *r, struct graph_obj *go, int32_t run)
{
    r->walk++;
    r->n_stack = 0;
    r->stack = xgrow(r->stack, &r->cap_stack, sizeof(*r->stack), 1);
    r->stack[r->n_stack++] = run;
    while (r->n_stack > 0) {
        int32_t x = r->stack[--r->n_stack];
        struct rec_run *rx = rrun(r, x);
        if (rx->walk_mark == r->walk || rx->complete)
            continue;
        rx->walk_mark = r->walk;
        if (populate_one(r, go, x) < 0)
            return -1;
        int32_t n = sm_graph_n_inputs(go->g, x);
        r->stack = xgrow(r->stack, &r->cap_stack, sizeof(*r->stack), r->n_stack + n);
        for (int32_t k = n - 1; k >= 0; k--)
            r->stack[r->n_stack++] = sm_graph_input(go->g, x, k);
    }
    return 0;
}

/* ------------------------------------------------------- engine hooks */

static int check_flusher(struct recorder_obj *r)
{
    struct flusher *fl = &r->fl;
    pthread_mutex_lock(&fl->mu);
    int code = fl->err_code;
    char msg[256];
    if (code)
        memcpy(msg, fl->err_msg, sizeof(msg));
    pthread_mutex_unlock(&fl->mu);
    if (code == 0)
        return 0;
    sm_py_raise(rec_state(r), code, msg);
    return -1;
}

static int exception_json(struct recorder_obj *r, struct graph_obj *go, int32_t run,
                          struct rec_run *rr)
{
    struct sm_py_state *st = rec_state(r);
    PyObject *exc = go->runs[run].exception ? go->runs[run].exception : Py_None;
    PyObject *args[] = {exc};
    PyObject *j = sm__call_hook(st, "exception_metadata", args, 1);
    if (j == NULL)
        return -1;
    const char *s = PyUnicode_AsUTF8(j);
    if (s == NULL) {
        Py_DECREF(j);
        return -1;
    }
    free(rr->exception_json);
    rr->exception_json = xstrdup_or_null(s);
    Py_DECREF(j);
    return 0;
}

int sm__recorder_transition(struct sm_recorder *rec, struct graph_obj *go, int32_t run,
                            enum sm_state from, enum sm_state to)
{
    struct recorder_obj *r = (struct recorder_obj *)rec;
    if (check_flusher(r) < 0)
        return -1;
    flush_pending_if_due(r, go);
    int64_t now = sm_now_us();
    struct rec_run *rr = rrun(r, run);
    switch (to) {
    case SM_STATE_SCHEDULED:
        if (populate(r, go, run) < 0)
            return -1;
        rr = &r->runs[run];
        rr->started_at = now;
        rr->attempt = sm_graph_attempt(go->g, run);
        break;
    case SM_STATE_RAN:
        rr->ended_at = now;
        if (sm_graph_nested(go->g, run) >= 0 && populate(r, go, sm_graph_nested(go->g, run)) < 0)
            return -1;
        break;
    case SM_STATE_RESOLVED:
        rr->resolved_at = now;
        /* A body that produced its value (not a reuse, not a nested future): journal it. */
        if (from == SM_STATE_SCHEDULED && !rr->original_run_id[0] &&
            ((struct func_obj *)go->runs[run].function)->op == 0)
            r->journal_run = run;
        int rc = populate(r, go, run);
        r->journal_run = -1;
        if (rc < 0)
            return -1;
        break;
    case SM_STATE_FAILED:
        rr->failed_at = now;
        if (exception_json(r, go, run, rr) < 0)
            return -1;
        break;
    case SM_STATE_NESTED_FAILED:
        rr->failed_at = now;
        free(rr->exception_json);
        rr->exception_json =
            xstrdup_or_null("{\"ancestors\":[],\"module\":\"builtins\",\"name\":\"Exception\","
                            "\"repr\":\"Failed because the child run failed\"}");
        break;
    case SM_STATE_RETRYING:
        rr->attempt = sm_graph_attempt(go->g, run);
        break;
    case SM_STATE_CANCELED: {
        /* Cancelled by the cleanup after a failure (the root has failed): as Sematic's
         * LocalRunner (_move_runs_to_terminal_state), a failure time and the reason. A
         * cancellation (signal, `sematic cancel`) leaves both unset, as it does. */
        int root_state = sm_graph_state(go->g, r->root);
        if (root_state != SM_STATE_FAILED && root_state != SM_STATE_NESTED_FAILED)
            break;
        rr->failed_at = now;
        if (rr->exception_json == NULL)
            rr->exception_json = xstrdup_or_null(
                "{\"ancestors\":[],\"module\":\"builtins\",\"name\":\"Exception\","
                "\"repr\":\"Marked as failed because the rest of the graph failed.\"}");
        break;
    }
    default:
        break;
    }
    rr = &r->runs[run];
    if (!rr->populated)
        return 0; /* never scheduled nor seen upstream of a scheduled run: as Sematic */
    queue_run(r, go, run);
    return 0;
}

/* The digest that identifies "the same function, code and inputs" (cache keys, resume). */
static void reuse_digest(const char *path, const char *source_id, PyObject *params,
                         const Py_ssize_t *order, const char *const *artifact_ids,
                         char out[SM_SHA256_HEX_LEN + 1])
{
    struct sm_sha256 h;
    sm_sha256_init(&h);
    sm_sha256_update(&h, path, strlen(path));
    sm_sha256_update(&h, "\n", 1);
    sm_sha256_update(&h, source_id, strlen(source_id));
    sm_sha256_update(&h, "\n", 1);
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(params); k++) {
        Py_ssize_t i = order[k];
        const char *name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(params, i));
        sm_sha256_update(&h, name ? name : "", name ? strlen(name) : 0);
        sm_sha256_update(&h, "=", 1);
        sm_sha256_update(&h, artifact_ids[i], strlen(artifact_ids[i]));
        sm_sha256_update(&h, "\n", 1);
    }
    uint8_t d[SM_SHA256_LEN];
    sm_sha256_final(&h, d);
    sm_hex(d, SM_SHA256_LEN, out);
}

/* The reuse digest of `run` (40 hex) into out: 0, 1 when an input has no artifact yet, -1
 * with an exception. */
static int run_digest(struct recorder_obj *r, struct graph_obj *go, int32_t run,
                      char out[SM_SHA256_HEX_LEN + 1])
{
    struct rec_run *rr = &r->runs[run];
    struct fn_info *fi = &r->fns[rr->fn];
    PyObject *params = ((struct func_obj *)go->runs[run].function)->params;
    Py_ssize_t np = PyTuple_GET_SIZE(params);
    const char **ids = malloc(((size_t)np + 1) * sizeof(*ids));
    if (ids == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < np; i++) {
        int32_t a = r->edges[rr->in_edge_base + (int32_t)i].artifact;
        if (a < 0) {
            free(ids);
            return 1;
        }
        ids[i] = r->arts[a];
    }
    reuse_digest(fi->path, fi->source_id, params, fi->sorted_params, ids, out);
    free(ids);
    out[40] = '\0';
    return 0;
}

/* Append the output of `run` to the journal buffer (written before the next body runs). */
static void journal_output(struct recorder_obj *r, int32_t run, const struct sm_encoded *enc)
{
    struct graph_obj *go = r->graph;
    char digest[SM_SHA256_HEX_LEN + 1];
    if (go == NULL || r->runs[run].fn < 0 || !r->fns[r->runs[run].fn].source_id[0] ||
        run_digest(r, go, run, digest) != 0) {
        PyErr_Clear();
        return; /* without a digest the run cannot be reused: nothing to journal */
    }
    char id[SM_ID_HEX_LEN + 1];
    sm__run_id_hex(go, run, id);
    struct sm_buf *j = &r->journal;
    if (sm_buf_addf(j, "J %s %s %s %zu %zu %zu\n", id, digest, enc->id, enc->type_json.len,
                    enc->value_json.len, enc->summary_json.len) < 0 ||
        sm_buf_add(j, enc->type_json.data ? enc->type_json.data : "", enc->type_json.len) < 0 ||
        sm_buf_add(j, enc->value_json.data ? enc->value_json.data : "", enc->value_json.len) < 0 ||
        sm_buf_add(j, enc->summary_json.data ? enc->summary_json.data : "", enc->summary_json.len) <
            0 ||
        sm_buf_addc(j, '\n') < 0)
        sm_buf_reset(j); /* too big for the journal: the batch commit covers it */
}

static void journal_path(struct recorder_obj *r, char *out, size_t size)
{
    snprintf(out, size, "%s/journal/%s.log", r->home, r->root_id);
}

int sm__recorder_before_body(struct sm_recorder *rec)
{
    struct recorder_obj *r = (struct recorder_obj *)rec;
    if (r->graph != NULL)
        flush_pending_if_due(r, r->graph);
    struct sm_buf *j = &r->journal;
    if (j->len == 0)
        return 0;
    char path[4200];
    if (r->journal_fd < 0) {
        char dir[4200];
        snprintf(dir, sizeof(dir), "%s/journal", r->home);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
            goto fail;
        journal_path(r, path, sizeof(path));
        r->journal_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (r->journal_fd < 0)
            goto fail;
    }
    size_t off = 0;
    while (off < j->len) {
        ssize_t n = write(r->journal_fd, j->data + off, j->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        off += (size_t)n;
    }
    sm_buf_reset(j);
    return 0;
fail:;
    int e = errno;
    sm_buf_reset(j);
    char msg[512];
    snprintf(msg, sizeof(msg), "cannot write the journal in '%s/journal': %s; %s", r->home,
             strerror(e),
             e == ENOSPC ? "free space there or set SEMATIC_HOME to another directory"
                         : "check the directory's permissions");
    sm_py_raise(rec_state(r), e == ENOSPC ? SM_ENOSPC : SM_EIO, msg);
    return -1;
}

/* Everything is committed: the journal is no longer needed. */
static void journal_remove(struct recorder_obj *r)
{
    if (r->journal_fd >= 0) {
        close(r->journal_fd);
        r->journal_fd = -1;
        char path[4200];
        journal_path(r, path, sizeof(path));
        unlink(path);
    }
    sm_buf_reset(&r->journal);
}

static struct sm_store *read_store(struct recorder_obj *r)
{
    if (r->read_store == NULL) {
        struct sm_err err = SM_ERR_INIT;
        struct sm_store *s = sm_store_open_default(r->home, SM_STORE_SYNC_LATER, &err);
        if (s == NULL) {
            sm__raise_err(rec_state(r), &err);
            return NULL;
        }
        r->read_store = s;
    }
    return r->read_store;
}

struct first_run {
    char id[SM_ID_HEX_LEN + 1];
    bool found;
};

static int take_first_run(void *ctx, const struct sm_run_rec *run)
{
    struct first_run *f = ctx;
    memcpy(f->id, run->id, sizeof(f->id));
    f->found = true;
    return 1;
}

struct out_artifact {
    const char *run_id;
    char artifact[SM_SHA256_HEX_LEN + 1];
};

static int take_output_artifact(void *ctx, const struct sm_edge_rec *e)
{
    struct out_artifact *o = ctx;
    if (strcmp(e->source_run_id, o->run_id) == 0 && e->artifact_id[0]) {
        memcpy(o->artifact, e->artifact_id, sizeof(o->artifact));
        return 1;
    }
    return 0;
}

/* New reference to the decoded value of a stored artifact, or NULL with an exception. */
static PyObject *load_artifact(struct sm_py_state *st, struct sm_store *s, const char *id)
{
    struct sm_err err = SM_ERR_INIT;
    struct sm_artifact_rec a;
    struct sm_buf payload = SM_BUF_INIT((size_t)1 << 34);
    PyObject *value = NULL;
    if (sm_store_get_artifact(s, id, &a, &payload, &err) < 0) {
        sm__raise_err(st, &err);
        goto done;
    }
    value = sm_codec_decode(st, a.type_json, strlen(a.type_json), payload.data ? payload.data : "",
                            payload.len);
done:
    sm_buf_release(&payload);
    return value;
}

int sm__recorder_try_reuse(struct sm_recorder *rec, struct graph_obj *go, int32_t run)
{
    struct recorder_obj *r = (struct recorder_obj *)rec;
    struct rec_run *rr = rrun(r, run);
    if (!rr->populated || rr->fn < 0)
        return 0;
    struct fn_info *fi = &r->fns[rr->fn];
    bool caching = fi->cache && r->cache_namespace != NULL;
    if (r->reuse == NULL && !caching)
        return 0;
    struct func_obj *fn = (struct func_obj *)go->runs[run].function;
    if (fn->op != 0)
        return 0; /* helpers (_make_list, _getitem) are cheaper to run than to look up */
    char digest[SM_SHA256_HEX_LEN + 1];
    int d = run_digest(r, go, run, digest);
    if (d != 0)
        return d < 0 ? -1 : 0;

    struct sm_py_state *st = rec_state(r);
    char old_run[SM_ID_HEX_LEN + 1] = "";
    char artifact[SM_SHA256_HEX_LEN + 1] = "";
    if (caching) {
        const char *ns = PyUnicode_AsUTF8(r->cache_namespace);
        if (ns == NULL)
            return -1;
        size_t n = strlen(digest) + 1 + strlen(ns) + 1;
        free(rr->cache_key);
        rr->cache_key = malloc(n);
        if (rr->cache_key == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        snprintf(rr->cache_key, n, "%s_%s", digest, ns);
    }
    if (r->reuse != NULL) {
        PyObject *hit = PyDict_GetItemString(r->reuse, digest);
        if (hit != NULL && PyTuple_Check(hit) && PyTuple_GET_SIZE(hit) == 2) {
            const char *a = PyUnicode_AsUTF8(PyTuple_GET_ITEM(hit, 0));
            const char *b = PyUnicode_AsUTF8(PyTuple_GET_ITEM(hit, 1));
            if (a == NULL || b == NULL)
                return -1;
            snprintf(old_run, sizeof(old_run), "%s", a);
            snprintf(artifact, sizeof(artifact), "%s", b);
        }
    }
    if (!artifact[0] && caching) {
        struct sm_store *s = read_store(r);
        if (s == NULL)
            return -1;
        struct sm_run_query q = {0};
        q.cache_key = rr->cache_key;
        q.state_mask = 1u << SM_STATE_RESOLVED;
        q.oldest_first = true;
        q.limit = 1;
        struct first_run first = {.found = false};
        struct sm_err err = SM_ERR_INIT;
        int rc = sm_store_list_runs(s, &q, take_first_run, &first, &err);
        if (rc < 0) {
            PyErr_WarnFormat(PyExc_RuntimeWarning, 1, "cache lookup failed, executing '%s': %s",
                             fi->path, err.msg);
            return PyErr_Occurred() ? -1 : 0;
        }
        if (first.found) {
            struct out_artifact out = {.run_id = first.id, .artifact = ""};
            sm_err_clear(&err);
            if (sm_store_list_edges(s, NULL, first.id, take_output_artifact, &out, &err) < 0)
                return 0;
            if (out.artifact[0]) {
                memcpy(old_run, first.id, sizeof(old_run));
                memcpy(artifact, out.artifact, sizeof(artifact));
            }
        }
    }
    if (!artifact[0])
        return 0;
    struct sm_store *s = read_store(r);
    if (s == NULL)
        return -1;
    PyObject *value = load_artifact(st, s, artifact);
    if (value == NULL)
        return -1;
    Py_XSETREF(go->runs[run].value, value);
    bool is_new;
    rr = &r->runs[run];
    rr->artifact_out = intern_artifact(r, artifact, &is_new);
    memcpy(rr->original_run_id, old_run, sizeof(rr->original_run_id));
    r->n_reused++;
    {
        /* Journal the reuse too (no payload: the artifact is stored), so that resuming this
         * pipeline run again does not depend on its batch having been committed. */
        char id[SM_ID_HEX_LEN + 1];
        sm__run_id_hex(go, run, id);
        if (sm_buf_addf(&r->journal, "J %s %s %s 0 0 0\n\n", id, digest, artifact) < 0)
            sm_buf_reset(&r->journal);
    }
    struct sm_err err = SM_ERR_INIT;
    if (sm_graph_report_value(go->g, run, &err) < 0) {
        sm__raise_err(st, &err);
        return -1;
    }
    return 1;
}

/* Copy field `key` of the pipeline dict into the arena: a string, or NULL when absent/None. */
static const char *pipeline_str(struct recorder_obj *r, struct arena *a, const char *key)
{
    PyObject *v = PyDict_GetItemString(r->pipeline, key);
    if (v == NULL || v == Py_None || !PyUnicode_Check(v))
        return NULL;
    const char *s = PyUnicode_AsUTF8(v);
    if (s == NULL) {
        PyErr_Clear();
        return NULL;
    }
    return arena_dupz(a, s);
}

static int64_t pipeline_int(struct recorder_obj *r, const char *key)
{
    PyObject *v = PyDict_GetItemString(r->pipeline, key);
    if (v == NULL || !PyLong_Check(v))
        return 0;
    int64_t x = PyLong_AsLongLong(v);
    if (x == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return x;
}

static void queue_pipeline(struct recorder_obj *r, int status)
{
    struct flusher *fl = &r->fl;
    pthread_mutex_lock(&fl->mu);
    struct op *o = queue_op(fl, OP_PIPELINE);
    struct arena *a = &fl->filling->arena;
    struct sm_pipeline_rec *p = &o->u.pipe;
    memcpy(p->root_id, r->root_id, sizeof(p->root_id));
    p->status = status;
    p->kind = pipeline_str(r, a, "kind");
    if (p->kind == NULL)
        p->kind = "LOCAL";
    p->cache_namespace =
        r->cache_namespace ? arena_dupz(a, PyUnicode_AsUTF8(r->cache_namespace)) : NULL;
    p->user = pipeline_str(r, a, "user");
    p->git_json = pipeline_str(r, a, "git_json");
    p->settings_json = pipeline_str(r, a, "settings_json");
    p->client_version = pipeline_str(r, a, "client_version");
    p->run_command = pipeline_str(r, a, "run_command");
    p->python = pipeline_str(r, a, "python");
    p->cwd = pipeline_str(r, a, "cwd");
    p->sys_path_json = pipeline_str(r, a, "sys_path_json");
    p->driver_host = pipeline_str(r, a, "driver_host");
    p->driver_pid = pipeline_int(r, "driver_pid");
    p->driver_start = pipeline_int(r, "driver_start");
    p->created_at = r->pipeline_created_at;
    p->updated_at = sm_now_us();
    bool terminal = status == SM_PIPELINE_COMPLETE || status == SM_PIPELINE_FAILED ||
                    status == SM_PIPELINE_CANCELED;
    p->ended_at = terminal ? p->updated_at : 0;
    queued(fl);
    pthread_mutex_unlock(&fl->mu);
    r->pipeline_status = status;
}

int sm__recorder_begin(PyObject *recorder, struct graph_obj *go, int32_t root)
{
    struct recorder_obj *r = REC(recorder);
    if (r->graph != NULL || r->pipeline_status >= 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "this LocalRunner has run a pipeline already; create a new LocalRunner "
                        "for each run, as Sematic requires");
        return -1;
    }
    r->graph = go;
    r->root = root;
    sm__run_id_hex(go, root, r->root_id);
    r->pipeline_created_at = sm_now_us();
    if (!r->fl.started) {
        /* The first batch (the pipeline run and its root) is due at once. */
        r->fl.last_flush_us = mono_us() - r->fl.interval_us;
        if (!flusher_start(&r->fl)) {
            PyErr_SetString(PyExc_RuntimeError, "cannot start the store's flusher thread");
            return -1;
        }
    }
    queue_pipeline(r, SM_PIPELINE_SCHEDULED);
    queue_pipeline(r, SM_PIPELINE_RUNNING);
    return 0;
}

int sm__recorder_end(struct sm_recorder *rec, struct graph_obj *go, int status)
{
    struct recorder_obj *r = (struct recorder_obj *)rec;
    PyObject *pending = NULL;
    if (PyErr_Occurred()) {
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        PyErr_NormalizeException(&t, &v, &tb);
        if (tb != NULL && v != NULL)
            PyException_SetTraceback(v, tb);
        Py_XDECREF(t);
        Py_XDECREF(tb);
        pending = v;
    }
    flush_pending(r, go);
    queue_pipeline(r, status);
    int rc = flusher_drain(&r->fl);
    if (rc == 0)
        journal_remove(r);
    r->graph = NULL;
    if (pending != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(pending), pending);
        Py_DECREF(pending);
        return -1;
    }
    if (rc != 0)
        return check_flusher(r);
    return 0;
}

/* --------------------------------------------------- _core.Recorder */

static void fn_info_release(struct fn_info *fi)
{
    free(fi->name);
    free(fi->path);
    free(fi->description);
    free(fi->tags_json);
    free(fi->resource_json);
    free(fi->retry_json);
    free(fi->sorted_params);
}

static void recorder_release(struct recorder_obj *r)
{
    flusher_stop(&r->fl);
    if (r->fl.store != NULL) {
        sm_store_close(r->fl.store);
        r->fl.store = NULL;
    }
    sm_store_close(r->fl.ckpt_store);
    r->fl.ckpt_store = NULL;
    if (r->read_store != NULL) {
        sm_store_close(r->read_store);
        r->read_store = NULL;
    }
    for (int i = 0; i < 2; i++) {
        arena_release(&r->fl.batches[i].arena);
        free(r->fl.batches[i].ops);
        r->fl.batches[i].ops = NULL;
        r->fl.batches[i].n = r->fl.batches[i].cap = 0;
    }
    for (int32_t i = 0; i < r->n_fns; i++)
        fn_info_release(&r->fns[i]);
    free(r->fns);
    r->fns = NULL;
    r->n_fns = r->cap_fns = 0;
    for (int32_t i = 0; i < r->cap_runs; i++) {
        free(r->runs[i].exception_json);
        free(r->runs[i].cache_key);
        if (r->runs[i].meta) {
            free(r->runs[i].meta->name);
            free(r->runs[i].meta->tags_json);
            free(r->runs[i].meta->resource_json);
            free(r->runs[i].meta->retry_json);
            free(r->runs[i].meta);
        }
    }
    free(r->runs);
    r->runs = NULL;
    r->cap_runs = 0;
    free(r->edges);
    r->edges = NULL;
    r->n_edges = r->cap_edges = 0;
    free(r->arts);
    r->arts = NULL;
    r->n_arts = r->cap_arts = 0;
    free(r->art_slots);
    r->art_slots = NULL;
    r->cap_slots = 0;
    free(r->stack);
    r->stack = NULL;
    free(r->pending);
    r->pending = NULL;
    r->n_pending = r->cap_pending = 0;
    r->n_stack = r->cap_stack = 0;
    if (r->journal_fd >= 0)
        close(r->journal_fd);
    r->journal_fd = -1;
    sm_buf_release(&r->journal);
    free(r->home);
    r->home = NULL;
}

static void recorder_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    struct recorder_obj *r = REC(self);
    PyObject_GC_UnTrack(self);
    recorder_release(r);
    pthread_mutex_destroy(&r->fl.mu);
    pthread_cond_destroy(&r->fl.wake);
    pthread_cond_destroy(&r->fl.flushed);
    pthread_cond_destroy(&r->fl.committed);
    pthread_cond_destroy(&r->fl.ckpt_wake);
    Py_CLEAR(r->pipeline);
    Py_CLEAR(r->cache_namespace);
    Py_CLEAR(r->reuse);
    Py_CLEAR(r->fn_index);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static int recorder_traverse(PyObject *self, visitproc visit, void *arg)
{
    struct recorder_obj *r = REC(self);
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(r->pipeline);
    Py_VISIT(r->cache_namespace);
    Py_VISIT(r->reuse);
    Py_VISIT(r->fn_index);
    return 0;
}

static int recorder_clear(PyObject *self)
{
    struct recorder_obj *r = REC(self);
    Py_CLEAR(r->pipeline);
    Py_CLEAR(r->cache_namespace);
    Py_CLEAR(r->reuse);
    Py_CLEAR(r->fn_index);
    return 0;
}

/*
 * _core.Recorder(home, pipeline, *, sync="full", interval_ms=5.0, cache_namespace=None,
 *                reuse=None)
 * Opens (creating and migrating) the store at home.
 */
static PyObject *recorder_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static const char *const kwlist[] = {
        "home", "pipeline", "sync", "interval_ms", "cache_namespace", "reuse", NULL};
    const char *home = NULL, *sync = "full";
    PyObject *pipeline = NULL, *ns = Py_None, *reuse = Py_None;
    double interval_ms = 5.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "sO!|$sdOO", (char **)kwlist, &home,
                                     &PyDict_Type, &pipeline, &sync, &interval_ms, &ns, &reuse))
        return NULL;
    struct sm_py_state *st = sm_py_state_by_type(tp);
    if (st == NULL)
        return NULL;
    enum sm_store_sync mode;
    if (strcmp(sync, "full") == 0)
        mode = SM_STORE_SYNC_FULL;
    else if (strcmp(sync, "normal") == 0)
        mode = SM_STORE_SYNC_NORMAL;
    else {
        PyErr_Format(PyExc_ValueError,
                     "invalid SEMATIC_SYNC '%s': use 'full' (a power loss costs at most the "
                     "last batch) or 'normal' (survives any process kill)",
                     sync);
        return NULL;
    }
    if (interval_ms < 0) {
        PyErr_SetString(PyExc_ValueError, "interval_ms must be >= 0");
        return NULL;
    }
    if (ns != Py_None && !PyUnicode_Check(ns)) {
        PyErr_SetString(PyExc_TypeError, "cache_namespace must be a str or None");
        return NULL;
    }
    if (reuse != Py_None && !PyDict_Check(reuse)) {
        PyErr_SetString(PyExc_TypeError, "reuse must be a dict or None");
        return NULL;
    }
    struct recorder_obj *r = (struct recorder_obj *)tp->tp_alloc(tp, 0);
    if (r == NULL)
        return NULL;
    pthread_mutex_init(&r->fl.mu, NULL);
    pthread_cond_init(&r->fl.wake, NULL);
    pthread_cond_init(&r->fl.flushed, NULL);
    pthread_cond_init(&r->fl.committed, NULL);
    pthread_cond_init(&r->fl.ckpt_wake, NULL);
    r->fl.fsync_commits = mode == SM_STORE_SYNC_FULL;
    r->fl.filling = &r->fl.batches[0];
    r->fl.spare = &r->fl.batches[1];
    r->fl.next_gen = 1;
    r->fl.filling->gen = 1;
    r->fl.interval_us = (int64_t)(interval_ms * 1000.0);
    r->pipeline = Py_NewRef(pipeline);
    r->cache_namespace = ns == Py_None ? NULL : Py_NewRef(ns);
    r->reuse = reuse == Py_None ? NULL : Py_NewRef(reuse);
    r->fn_index = PyDict_New();
    r->root = -1;
    r->pipeline_status = -1;
    sm_buf_init(&r->journal, (size_t)64 << 20);
    r->journal_fd = -1;
    r->journal_run = -1;
    r->sync = mode;
    r->home = xstrdup_or_null(home);
    if (r->fn_index == NULL)
        goto error;
    struct sm_err err = SM_ERR_INIT;
    struct sm_store *s;
    Py_BEGIN_ALLOW_THREADS;
    s = sm_store_open_default(home, SM_STORE_SYNC_LATER, &err);
    /* The embedded store (the one with a file to watch) has a WAL to checkpoint. */
    if (s != NULL && sm_store_watch_path(s) != NULL)
        r->fl.ckpt_store = sm_store_open_sqlite(home, SM_STORE_SYNC_LATER, &err);
    Py_END_ALLOW_THREADS;
    if (s == NULL || (sm_store_watch_path(s) != NULL && r->fl.ckpt_store == NULL)) {
        sm_store_close(s);
        sm__raise_err(st, &err);
        goto error;
    }
    r->fl.store = s;
    return (PyObject *)r;
error:
    Py_DECREF(r);
    return NULL;
}

/* close(): commit what is queued, stop the flusher, close the store; raises a store error. */
static PyObject *recorder_close(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    struct recorder_obj *r = REC(self);
    int rc = flusher_drain(&r->fl);
    int err = rc ? check_flusher(r) : 0;
    flusher_stop(&r->fl);
    if (r->journal_fd >= 0) {
        /* A journal still here (the pipeline did not end cleanly) stays for a resume. */
        close(r->journal_fd);
        r->journal_fd = -1;
    }
    if (r->fl.store != NULL) {
        sm_store_close(r->fl.store);
        r->fl.store = NULL;
    }
    sm_store_close(r->fl.ckpt_store);
    r->fl.ckpt_store = NULL;
    if (r->read_store != NULL) {
        sm_store_close(r->read_store);
        r->read_store = NULL;
    }
    if (err < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *recorder_flush(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    struct recorder_obj *r = REC(self);
    if (r->graph != NULL)
        flush_pending(r, r->graph);
    if (flusher_drain(&r->fl) != 0 && check_flusher(r) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* stats() -> dict: batches committed, records written, values encoded, runs reused. */
static PyObject *recorder_stats(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    struct recorder_obj *r = REC(self);
    pthread_mutex_lock(&r->fl.mu);
    long long batches = r->fl.n_batches, ops = r->fl.n_ops;
    pthread_mutex_unlock(&r->fl.mu);
    return Py_BuildValue("{sLsLsLsLsisi}", "batches", batches, "records", ops, "encoded",
                         (long long)r->n_encoded, "reused", (long long)r->n_reused, "edges",
                         r->n_edges, "artifacts", r->n_arts);
}

/* root_id: the pipeline run's root id once begun, else None. */
static PyObject *recorder_get_root_id(PyObject *self, void *Py_UNUSED(closure))
{
    struct recorder_obj *r = REC(self);
    if (!r->root_id[0])
        Py_RETURN_NONE;
    return PyUnicode_FromString(r->root_id);
}

/* log(run_id, stream, text): queue one captured log line. */
static PyObject *recorder_log(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct recorder_obj *r = REC(self);
    if (nargs != 3 || !PyUnicode_Check(args[0]) || !PyLong_Check(args[1]) ||
        !PyUnicode_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "log(run_id: str, stream: int, text: str)");
        return NULL;
    }
    Py_ssize_t id_len, n;
    const char *id = PyUnicode_AsUTF8AndSize(args[0], &id_len);
    const char *text = PyUnicode_AsUTF8AndSize(args[2], &n);
    if (id == NULL || text == NULL)
        return NULL;
    if (id_len != SM_ID_HEX_LEN) {
        PyErr_Format(PyExc_ValueError, "invalid run id '%s'", id);
        return NULL;
    }
    long stream = PyLong_AsLong(args[1]);
    struct flusher *fl = &r->fl;
    pthread_mutex_lock(&fl->mu);
    struct op *o = queue_op(fl, OP_LOG);
    memcpy(o->u.log.run_id, id, SM_ID_HEX_LEN + 1);
    o->u.log.stream = (int)stream;
    o->u.log.ts = sm_now_us();
    o->u.log.text = arena_dup(&fl->filling->arena, text, (size_t)n);
    o->u.log.len = (size_t)n;
    queued(fl);
    pthread_mutex_unlock(&fl->mu);
    Py_RETURN_NONE;
}

static PyMethodDef recorder_methods[] = {
    {"close", recorder_close, METH_NOARGS, "Commit what is queued and close the store."},
    {"flush", recorder_flush, METH_NOARGS, "Commit what is queued (waits)."},
    {"stats", recorder_stats, METH_NOARGS, "Counters of the recorder."},
    {"log", (PyCFunction)(void (*)(void))recorder_log, METH_FASTCALL,
     "log(run_id, stream, text): queue a captured log line."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef recorder_getset[] = {
    {"root_id", recorder_get_root_id, NULL, "The root run id once the run began.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot recorder_slots[] = {
    {Py_tp_doc, (void *)"Records one LocalRunner.run() into the store at home."},
    {Py_tp_new, recorder_new},
    {Py_tp_dealloc, recorder_dealloc},
    {Py_tp_traverse, recorder_traverse},
    {Py_tp_clear, recorder_clear},
    {Py_tp_methods, recorder_methods},
    {Py_tp_getset, recorder_getset},
    {0, NULL},
};

static PyType_Spec recorder_spec = {
    .name = "sematic._core.Recorder",
    .basicsize = sizeof(struct recorder_obj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = recorder_slots,
};

/* ------------------------------------------------------- _core.Store */

struct store_obj {
    PyObject_HEAD
    struct sm_store *s;
};

#define STORE(o) ((struct store_obj *)(o))

static struct sm_store *store_of(PyObject *self)
{
    struct sm_store *s = STORE(self)->s;
    if (s == NULL)
        PyErr_SetString(PyExc_ValueError, "the store is closed");
    return s;
}

/* The state, the open store and the one str argument of a _core.Store method: 0, or -1 with
 * an exception (TypeError naming `usage` for a bad argument). */
static int store_args(PyObject *self, PyObject *arg, const char *usage, struct sm_py_state **st,
                      struct sm_store **s, const char **text)
{
    *st = sm_py_state_by_type(Py_TYPE(self));
    *s = *st ? store_of(self) : NULL;
    *text = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
    if (*s != NULL && *text != NULL)
        return 0;
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, usage);
    return -1;
}

/* _core.Store(home): the store at home, for reading (and sematic cancel); the server's store
 * instead when SEMATIC_API_ADDRESS is set (sm_store_open_default). */
static PyObject *store_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static const char *const kwlist[] = {"home", NULL};
    const char *home;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "s", (char **)kwlist, &home))
        return NULL;
    struct sm_py_state *st = sm_py_state_by_type(tp);
    if (st == NULL)
        return NULL;
    struct sm_err err = SM_ERR_INIT;
    struct sm_store *s;
    Py_BEGIN_ALLOW_THREADS;
    s = sm_store_open_default(home, SM_STORE_SYNC_NORMAL, &err);
    Py_END_ALLOW_THREADS;
    if (s == NULL)
        return sm__raise_err(st, &err);
    struct store_obj *o = (struct store_obj *)tp->tp_alloc(tp, 0);
    if (o == NULL) {
        sm_store_close(s);
        return NULL;
    }
    o->s = s;
    return (PyObject *)o;
}

static void store_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    sm_store_close(STORE(self)->s);
    STORE(self)->s = NULL;
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *store_close(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    sm_store_close(STORE(self)->s);
    STORE(self)->s = NULL;
    Py_RETURN_NONE;
}

/* A JSON array being written by a listing callback. */
struct json_list {
    struct sm_jw w;
};

static int json_run(void *ctx, const struct sm_run_rec *run)
{
    sm_run_rec_to_json(run, &((struct json_list *)ctx)->w);
    return 0;
}

static int json_edge(void *ctx, const struct sm_edge_rec *e)
{
    sm_edge_rec_to_json(e, &((struct json_list *)ctx)->w);
    return 0;
}

static int json_artifact(void *ctx, const struct sm_artifact_rec *a)
{
    sm_artifact_rec_to_json(a, &((struct json_list *)ctx)->w);
    return 0;
}

/* New reference to the JSON text in b, or NULL; releases b. */
static PyObject *finish_json(struct sm_py_state *st, struct sm_jw *w, struct sm_buf *b, int rc,
                             struct sm_err *err)
{
    PyObject *out = NULL;
    if (rc == 0)
        rc = sm_jw_finish(w, err);
    if (rc < 0)
        sm__raise_err(st, err);
    else
        out = PyUnicode_FromStringAndSize(b->data ? b->data : "", (Py_ssize_t)b->len);
    sm_buf_release(b);
    return out;
}

/* get_run(id) -> JSON text of the run. */
static PyObject *store_get_run(PyObject *self, PyObject *arg)
{
    struct sm_py_state *st;
    struct sm_store *s;
    const char *id;
    if (store_args(self, arg, "get_run(id: str)", &st, &s, &id) < 0)
        return NULL;
    struct sm_err err = SM_ERR_INIT;
    struct sm_run_rec run;
    struct sm_buf b = SM_BUF_INIT((size_t)1 << 30);
    struct sm_jw w;
    sm_jw_init(&w, &b);
    int rc = sm_store_get_run(s, id, &run, &err);
    if (rc == 0)
        sm_run_rec_to_json(&run, &w);
    return finish_json(st, &w, &b, rc, &err);
}

static const char *opt_str(PyObject *kwargs, const char *key)
{
    PyObject *v = kwargs ? PyDict_GetItemString(kwargs, key) : NULL;
    if (v == NULL || v == Py_None)
        return NULL;
    return PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : NULL;
}

/*
 * list_runs(*, root_id, parent_id, function_path, name, tag, cache_key, search, states
 *           (list of names), roots_only, oldest_first, limit) -> JSON array text.
 */
static PyObject *store_list_runs(PyObject *self, PyObject *args, PyObject *kwargs)
{
    struct sm_py_state *st = sm_py_state_by_type(Py_TYPE(self));
    struct sm_store *s = store_of(self);
    if (s == NULL || st == NULL)
        return NULL;
    if (PyTuple_GET_SIZE(args) != 0) {
        PyErr_SetString(PyExc_TypeError, "list_runs() takes keyword arguments only");
        return NULL;
    }
    struct sm_run_query q = {0};
    q.root_id = opt_str(kwargs, "root_id");
    q.parent_id = opt_str(kwargs, "parent_id");
    q.function_path = opt_str(kwargs, "function_path");
    q.name = opt_str(kwargs, "name");
    q.tag = opt_str(kwargs, "tag");
    q.cache_key = opt_str(kwargs, "cache_key");
    q.search = opt_str(kwargs, "search");
    PyObject *v;
    if (kwargs && (v = PyDict_GetItemString(kwargs, "states")) != NULL && v != Py_None) {
        PyObject *seq = PySequence_Fast(v, "states must be a list of state names");
        if (seq == NULL)
            return NULL;
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
            const char *name = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(seq, i));
            int k = -1;
            for (int x = 0; name && x < SM_STATE_COUNT; x++)
                if (strcmp(sm_state_name(x), name) == 0)
                    k = x;
            if (k < 0) {
                Py_DECREF(seq);
                if (!PyErr_Occurred())
                    PyErr_Format(PyExc_ValueError, "unknown run state '%s'", name);
                return NULL;
            }
            q.state_mask |= 1u << k;
        }
        Py_DECREF(seq);
    }
    if (kwargs && (v = PyDict_GetItemString(kwargs, "roots_only")) != NULL)
        q.roots_only = PyObject_IsTrue(v) > 0;
    if (kwargs && (v = PyDict_GetItemString(kwargs, "oldest_first")) != NULL)
        q.oldest_first = PyObject_IsTrue(v) > 0;
    if (kwargs && (v = PyDict_GetItemString(kwargs, "limit")) != NULL && v != Py_None) {
        q.limit = PyLong_AsLongLong(v);
        if (q.limit == -1 && PyErr_Occurred())
            return NULL;
    }
    if (PyErr_Occurred())
        return NULL;
    struct sm_err err = SM_ERR_INIT;
    struct sm_buf b = SM_BUF_INIT((size_t)1 << 32);
    struct json_list jl;
    sm_jw_init(&jl.w, &b);
    sm_jw_begin_array(&jl.w);
    int rc = sm_store_list_runs(s, &q, json_run, &jl, &err);
    sm_jw_end_array(&jl.w);
    return finish_json(st, &jl.w, &b, rc, &err);
}

/* graph(root_id=None, run_id=None) -> JSON {"runs", "edges", "artifacts"} of a pipeline run. */
static PyObject *store_graph(PyObject *self, PyObject *arg)
{
    struct sm_py_state *st;
    struct sm_store *s;
    const char *root;
    if (store_args(self, arg, "graph(root_id: str)", &st, &s, &root) < 0)
        return NULL;
    struct sm_err err = SM_ERR_INIT;
    struct sm_buf b = SM_BUF_INIT((size_t)1 << 34);
    struct json_list jl;
    sm_jw_init(&jl.w, &b);
    sm_jw_begin_object(&jl.w);
    struct sm_run_query q = {0};
    q.root_id = root;
    q.oldest_first = true;
    sm_jw_keyz(&jl.w, "runs");
    sm_jw_begin_array(&jl.w);
    int rc = sm_store_list_runs(s, &q, json_run, &jl, &err);
    sm_jw_end_array(&jl.w);
    sm_jw_keyz(&jl.w, "edges");
    sm_jw_begin_array(&jl.w);
    if (rc == 0)
        rc = sm_store_list_edges(s, root, NULL, json_edge, &jl, &err);
    sm_jw_end_array(&jl.w);
    sm_jw_keyz(&jl.w, "artifacts");
    sm_jw_begin_array(&jl.w);
    if (rc == 0)
        rc = sm_store_list_artifacts(s, root, json_artifact, &jl, &err);
    sm_jw_end_array(&jl.w);
    sm_jw_end_object(&jl.w);
    return finish_json(st, &jl.w, &b, rc, &err);
}

/* edges_of_run(run_id) -> JSON array of edges whose source or destination is the run. */
static PyObject *store_edges_of_run(PyObject *self, PyObject *arg)
{
    struct sm_py_state *st;
    struct sm_store *s;
    const char *run;
    if (store_args(self, arg, "edges_of_run(run_id: str)", &st, &s, &run) < 0)
        return NULL;
    struct sm_err err = SM_ERR_INIT;
    struct sm_buf b = SM_BUF_INIT((size_t)1 << 30);
    struct json_list jl;
    sm_jw_init(&jl.w, &b);
    sm_jw_begin_array(&jl.w);
    int rc = sm_store_list_edges(s, NULL, run, json_edge, &jl, &err);
    sm_jw_end_array(&jl.w);
    return finish_json(st, &jl.w, &b, rc, &err);
}

/* artifact(id) -> JSON text of the artifact's record (its payload is checked). */
static PyObject *store_artifact(PyObject *self, PyObject *arg)
{
    struct sm_py_state *st;
    struct sm_store *s;
    const char *id;
    if (store_args(self, arg, "artifact(id: str)", &st, &s, &id) < 0)
        return NULL;
    struct sm_err err = SM_ERR_INIT;
    struct sm_artifact_rec a;
    struct sm_buf payload = SM_BUF_INIT((size_t)1 << 34);
    struct sm_buf b = SM_BUF_INIT((size_t)1 << 30);
    struct sm_jw w;
    sm_jw_init(&w, &b);
    int rc = sm_store_get_artifact(s, id, &a, &payload, &err);
    if (rc == 0)
        sm_artifact_rec_to_json(&a, &w);
    sm_buf_release(&payload);
    return finish_json(st, &w, &b, rc, &err);
}

/* artifact_value(id) -> the decoded value. */
static PyObject *store_artifact_value(PyObject *self, PyObject *arg)
{
    struct sm_py_state *st;
    struct sm_store *s;
    const char *id;
    if (store_args(self, arg, "artifact_value(id: str)", &st, &s, &id) < 0)
        return NULL;
    return load_artifact(st, s, id);
}

/* pipeline(root_id) -> JSON text of the pipeline run. */
static PyObject *store_pipeline(PyObject *self, PyObject *arg)
{
    struct sm_py_state *st;
    struct sm_store *s;
    const char *id;
    if (store_args(self, arg, "pipeline(root_id: str)", &st, &s, &id) < 0)
        return NULL;
    struct sm_err err = SM_ERR_INIT;
    struct sm_pipeline_rec p;
    struct sm_buf b = SM_BUF_INIT((size_t)1 << 30);
    struct sm_jw w;
    sm_jw_init(&w, &b);
    int rc = sm_store_get_pipeline(s, id, &p, &err);
    if (rc == 0)
        sm_pipeline_rec_to_json(&p, &w);
    return finish_json(st, &w, &b, rc, &err);
}

static int collect_log(void *ctx, const struct sm_log_rec *line)
{
    PyObject *t = Py_BuildValue("(Lis#)", (long long)line->id, line->stream, line->text,
                                (Py_ssize_t)line->len);
    if (t == NULL)
        return -1;
    int rc = PyList_Append((PyObject *)ctx, t);
    Py_DECREF(t);
    return rc < 0 ? -1 : 0;
}

/* logs(run_id, after_id=0, limit=0) -> [(id, stream, text), ...]. */
static PyObject *store_logs(PyObject *self, PyObject *args)
{
    struct sm_py_state *st = sm_py_state_by_type(Py_TYPE(self));
    struct sm_store *s = store_of(self);
    const char *run;
    long long after = 0, limit = 0;
    if (s == NULL || st == NULL || !PyArg_ParseTuple(args, "s|LL", &run, &after, &limit))
        return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    struct sm_err err = SM_ERR_INIT;
    int rc = sm_store_read_logs(s, run, after, limit, collect_log, out, &err);
    if (rc < 0) {
        Py_DECREF(out);
        if (!PyErr_Occurred())
            sm__raise_err(st, &err);
        return NULL;
    }
    return out;
}

/* set_pipeline_status(root_id, status_name): a checked transition (cancels runs for
 * FAILED/CANCELED). */
static PyObject *store_set_pipeline_status(PyObject *self, PyObject *args)
{
    struct sm_py_state *st = sm_py_state_by_type(Py_TYPE(self));
    struct sm_store *s = store_of(self);
    const char *root, *status;
    if (s == NULL || st == NULL || !PyArg_ParseTuple(args, "ss", &root, &status))
        return NULL;
    int k = sm_pipeline_status_parse(status);
    if (k < 0) {
        PyErr_Format(PyExc_ValueError, "unknown pipeline run status '%s'", status);
        return NULL;
    }
    struct sm_err err = SM_ERR_INIT;
    if (sm_store_set_pipeline_status(s, root, k, &err) < 0)
        return sm__raise_err(st, &err);
    Py_RETURN_NONE;
}

/* put_artifact(id, type_json, summary_json, payload): store a value (journal replay). The id
 * must be the hash of type_json + "\n" + payload. */
static PyObject *store_put_artifact(PyObject *self, PyObject *args)
{
    struct sm_py_state *st = sm_py_state_by_type(Py_TYPE(self));
    struct sm_store *s = store_of(self);
    const char *id, *type_json, *summary, *payload;
    Py_ssize_t id_len, n;
    if (s == NULL || st == NULL ||
        !PyArg_ParseTuple(args, "s#sss#", &id, &id_len, &type_json, &summary, &payload, &n))
        return NULL;
    struct sm_sha256 h;
    uint8_t d[SM_SHA256_LEN];
    char hex[SM_SHA256_HEX_LEN + 1];
    sm_sha256_init(&h);
    sm_sha256_update(&h, type_json, strlen(type_json));
    sm_sha256_update(&h, "\n", 1);
    sm_sha256_update(&h, payload, (size_t)n);
    sm_sha256_final(&h, d);
    sm_hex(d, SM_SHA256_LEN, hex);
    if (id_len != SM_SHA256_HEX_LEN || memcmp(hex, id, SM_SHA256_HEX_LEN) != 0) {
        PyErr_Format(PyExc_ValueError,
                     "artifact '%s' does not match its content (it hashes to %.12s...); "
                     "it was not stored",
                     id, hex);
        return NULL;
    }
    struct sm_artifact_rec a;
    memset(&a, 0, sizeof(a));
    memcpy(a.id, id, SM_SHA256_HEX_LEN + 1);
    a.type_json = type_json;
    a.summary_json = summary;
    a.size_bytes = n;
    a.created_at = sm_now_us();
    struct sm_err err = SM_ERR_INIT;
    int rc = sm_store_begin(s, &err);
    if (rc == 0 && (rc = sm_store_put_artifact(s, &a, payload, (size_t)n, &err)) == 0)
        rc = sm_store_commit(s, &err);
    else if (rc != 0)
        sm_store_rollback(s);
    if (rc < 0)
        return sm__raise_err(st, &err);
    Py_RETURN_NONE;
}

/* reuse_digest(function_path, source_id, {param: artifact_id}) -> 40-hex digest. */
static PyObject *core_reuse_digest(PyObject *Py_UNUSED(module), PyObject *args)
{
    const char *path, *source;
    PyObject *inputs;
    if (!PyArg_ParseTuple(args, "ssO!", &path, &source, &PyDict_Type, &inputs))
        return NULL;
    PyObject *names = PyDict_Keys(inputs);
    if (names == NULL)
        return NULL;
    if (PyList_Sort(names) < 0) {
        Py_DECREF(names);
        return NULL;
    }
    PyObject *params = PyList_AsTuple(names);
    Py_DECREF(names);
    if (params == NULL)
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(params);
    Py_ssize_t *order = malloc(((size_t)n + 1) * sizeof(*order));
    const char **ids = malloc(((size_t)n + 1) * sizeof(*ids));
    if (order == NULL || ids == NULL) {
        free(order);
        free(ids);
        Py_DECREF(params);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        order[i] = i;
        PyObject *v = PyDict_GetItem(inputs, PyTuple_GET_ITEM(params, i));
        ids[i] = v && PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : NULL;
        if (ids[i] == NULL) {
            free(order);
            free(ids);
            Py_DECREF(params);
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "artifact ids must be str");
            return NULL;
        }
    }
    char digest[SM_SHA256_HEX_LEN + 1];
    reuse_digest(path, source, params, order, ids, digest);
    free(order);
    free(ids);
    Py_DECREF(params);
    return PyUnicode_FromStringAndSize(digest, 40);
}

static PyMethodDef store_methods[] = {
    {"close", store_close, METH_NOARGS, "Close the store."},
    {"get_run", store_get_run, METH_O, "get_run(id) -> JSON text."},
    {"list_runs", (PyCFunction)(void (*)(void))store_list_runs, METH_VARARGS | METH_KEYWORDS,
     "list_runs(**filters) -> JSON array text."},
    {"graph", store_graph, METH_O, "graph(root_id) -> JSON {runs, edges, artifacts}."},
    {"edges_of_run", store_edges_of_run, METH_O, "edges_of_run(run_id) -> JSON array text."},
    {"artifact", store_artifact, METH_O, "artifact(id) -> JSON text (payload checked)."},
    {"artifact_value", store_artifact_value, METH_O, "artifact_value(id) -> decoded value."},
    {"pipeline", store_pipeline, METH_O, "pipeline(root_id) -> JSON text."},
    {"logs", store_logs, METH_VARARGS, "logs(run_id, after_id=0, limit=0) -> list."},
    {"put_artifact", store_put_artifact, METH_VARARGS,
     "put_artifact(id, type_json, summary_json, payload): store a checked value."},
    {"set_pipeline_status", store_set_pipeline_status, METH_VARARGS,
     "set_pipeline_status(root_id, status)."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot store_slots[] = {
    {Py_tp_doc, (void *)"Read access to the embedded store at home."},
    {Py_tp_new, store_new},
    {Py_tp_dealloc, store_dealloc},
    {Py_tp_methods, store_methods},
    {0, NULL},
};

static PyType_Spec store_spec = {
    .name = "sematic._core.Store",
    .basicsize = sizeof(struct store_obj),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = store_slots,
};

/* default_home() -> $SEMATIC_HOME or ~/.sematic. */
static PyObject *core_default_home(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    char home[4096];
    struct sm_err err = SM_ERR_INIT;
    if (sm_store_default_home(home, sizeof(home), &err) < 0)
        return sm__raise_err(sm_py_state_of(module), &err);
    return PyUnicode_FromString(home);
}

static PyMethodDef record_functions[] = {
    {"reuse_digest", core_reuse_digest, METH_VARARGS,
     "reuse_digest(function_path, source_id, {param: artifact_id}) -> 40-hex digest."},
    {"default_home", core_default_home, METH_NOARGS, "The store's home directory."},
    {NULL, NULL, 0, NULL},
};

int sm_record_exec(PyObject *module, struct sm_py_state *st)
{
    st->recorder_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &recorder_spec, NULL);
    if (st->recorder_type == NULL || PyModule_AddType(module, st->recorder_type) < 0)
        return -1;
    st->store_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &store_spec, NULL);
    if (st->store_type == NULL || PyModule_AddType(module, st->store_type) < 0)
        return -1;
    return PyModule_AddFunctions(module, record_functions);
}
