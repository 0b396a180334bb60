/*
 * runs_one.c: one run and its graph, in Sematic's shapes (sematic_json.h).
 *
 *   GET /api/v1/runs/:id                      {"content": run}
 *   GET /api/v1/runs/:id/graph?root=0|1       {"artifacts", "edges", "run_id", "runs"}
 *   GET /api/v1/runs/:id/external_resources   {"content": []}
 *
 * The graph of a whole pipeline (root=1) is written straight from the
 * store's listings into the response's JSON writer, one row at a time:
 * nothing is collected first, so a pipeline of 100,000 runs costs three
 * queries (artifacts, edges, runs of the root) and one pass over their
 * rows. A run's source code is a separate row shared by the runs of one
 * function; a small cache keeps those read, so each is read once.
 *
 * Unlike Sematic, root=1 serves the pipeline of the run's root for any of
 * its runs (Sematic answers an empty graph unless the id is a root's), and
 * an unknown run is a 404 rather than an empty graph.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sematic/alloc.h"
#include "sematic/hash.h"

#include "api.h"
#include "handlers.h"
#include "internal.h"
#include "sematic_json.h"

#include "util/banned.h"

/* Source texts kept per graph request (distinct functions of one pipeline: few). */
#define SOURCE_CACHE_SLOTS 1024
/* The largest source text the server reads for a run. */
#define SOURCE_MAX_BYTES ((size_t)16 << 20)

/* Read run `id` (copied into pool). 0; else a response is in resp (404, or the store's error). */
static int read_run(struct sm_http_req *req, struct sm_http_resp *resp, const char *id,
                    struct sm_sj_pool *pool, struct sm_run_rec *out, bool *done)
{
    struct sm_err err = SM_ERR_INIT;
    *done = true;
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL)
        return sm_http_store_error(resp, &err);
    struct sm_run_rec run;
    if (sm__api_get_run(store, resp, id, &run) != 0)
        return 0; /* the 404 or the store's error is in resp */
    sm__sj_run_copy(pool, out, &run);
    *done = false;
    return 0;
}

int sm__api_run_get(struct sm_http_req *req, struct sm_http_resp *resp)
{
    struct sm_sj_pool pool = {0};
    struct sm_run_rec run;
    bool done;
    int rc = read_run(req, resp, sm_http_param(req, "id"), &pool, &run, &done);
    if (done) {
        sm__sj_pool_release(&pool);
        return rc;
    }
    struct sm_buf source = SM_BUF_INIT(SOURCE_MAX_BYTES);
    struct sm_err err = SM_ERR_INIT;
    if (run.source_id != NULL &&
        sm_store_get_source(sm_http_store(req, &err), run.source_id, &source, &err) != 0) {
        rc = sm_http_store_error(resp, &err);
    } else {
        struct sm_jw *w = sm_http_json(resp, 200);
        sm_jw_begin_object(w);
        sm_jw_keyz(w, "content");
        sm__sj_write_run(w, &run, source.data, source.len);
        sm_jw_end_object(w);
    }
    sm_buf_release(&source);
    sm__sj_pool_release(&pool);
    return rc;
}

/* ------------------------------------------------------------ graphs */

struct source_slot {
    char id[SM_SHA256_HEX_LEN + 1]; /* "" when empty */
    char *text;
    size_t len;
};

struct graph_out {
    struct sm_store *store;
    bool is_encoded; /* the source cache holds JSON strings (sm__sj_encode_text) */
    struct sm_jw *w;
    struct source_slot *sources; /* SOURCE_CACHE_SLOTS, direct-mapped by the id's first digits */
    struct sm_buf scratch;
    struct sm_err err;
    /* root=0: the run's edges, copied, and the artifact ids they name */
    struct sm_edge_rec *edges;
    char **edge_names;
    size_t n_edges, cap_edges;
    struct part *part; /* root=1: the part this writes, whose chunks it queues */
};

static void graph_out_release(struct graph_out *g)
{
    if (g->sources != NULL)
        for (size_t i = 0; i < SOURCE_CACHE_SLOTS; i++)
            sm_free(g->sources[i].text);
    sm_free(g->sources);
    sm_buf_release(&g->scratch);
    for (size_t i = 0; i < g->n_edges; i++)
        sm_free(g->edge_names[i]);
    sm_free(g->edges);
    sm_free(g->edge_names);
}

/* The source text of id into *text and *len (borrowed until the next call). 0, or an error. */
static int source_text(struct graph_out *g, const char *id, const char **text, size_t *len)
{
    size_t slot = 0;
    for (int i = 0; i < 8; i++) /* ids are hex digests: their first digits are uniform */
        slot = slot * 16 + (size_t)(id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
    struct source_slot *s = &g->sources[slot % SOURCE_CACHE_SLOTS];
    if (strcmp(s->id, id) != 0) {
        sm_buf_reset(&g->scratch);
        char key[SM_SHA256_HEX_LEN + 1];
        snprintf(key, sizeof(key), "%s", id); /* the run's strings may not outlive the read */
        int rc = sm_store_get_source(g->store, key, &g->scratch, &g->err);
        if (rc != 0)
            return rc;
        sm_free(s->text);
        if (g->is_encoded) {
            struct sm_buf json = SM_BUF_INIT(SOURCE_MAX_BYTES * 6 + 2);
            rc = sm__sj_encode_text(g->scratch.data ? g->scratch.data : "", g->scratch.len, &json);
            if (rc != 0) {
                sm_buf_release(&json);
                s->text = NULL;
                s->id[0] = '\0';
                return sm_errf(&g->err, rc, "the source text '%.16s...' is too big", key);
            }
            s->len = json.len;
            s->text = sm_buf_detach(&json, NULL);
        } else {
            s->len = g->scratch.len;
            s->text = sm_xmalloc(s->len + 1);
            memcpy(s->text, g->scratch.data ? g->scratch.data : "", s->len);
            s->text[s->len] = '\0';
        }
        memcpy(s->id, key, sizeof(s->id));
    }
    *text = s->text;
    *len = s->len;
    return 0;
}

static int row_written(struct graph_out *g);

static int write_run_row(void *ctx, const struct sm_run_rec *r)
{
    struct graph_out *g = ctx;
    const char *text = NULL;
    size_t len = 0;
    if (r->source_id != NULL && strlen(r->source_id) == SM_SHA256_HEX_LEN) {
        int rc = source_text(g, r->source_id, &text, &len);
        if (rc != 0)
            return rc;
    }
    if (g->is_encoded && text != NULL)
        sm__sj_write_run_encoded(g->w, r, text, len);
    else
        sm__sj_write_run(g->w, r, text, len);
    return row_written(g);
}

static int write_artifact_row(void *ctx, const struct sm_artifact_rec *a)
{
    struct graph_out *g = ctx;
    sm__sj_write_artifact(g->w, a);
    return row_written(g);
}

static int write_edge_row(void *ctx, const struct sm_edge_rec *e)
{
    struct graph_out *g = ctx;
    sm__sj_write_edge(g->w, e);
    return row_written(g);
}

static int keep_edge(void *ctx, const struct sm_edge_rec *e)
{
    struct graph_out *g = ctx;
    if (g->n_edges == g->cap_edges) {
        g->cap_edges = g->cap_edges ? g->cap_edges * 2 : 16;
        g->edges = sm_xrealloc(g->edges, g->cap_edges * sizeof(*g->edges));
        g->edge_names = sm_xrealloc(g->edge_names, g->cap_edges * sizeof(*g->edge_names));
    }
    g->edges[g->n_edges] = *e;
    g->edge_names[g->n_edges] = NULL;
    if (e->destination_name != NULL) {
        size_t n = strlen(e->destination_name);
        g->edge_names[g->n_edges] = sm_xmalloc(n + 1);
        memcpy(g->edge_names[g->n_edges], e->destination_name, n + 1);
    }
    g->edges[g->n_edges].destination_name = g->edge_names[g->n_edges];
    g->n_edges++;
    return 0;
}

/*
 * The graph of a whole pipeline (root=1) is streamed: three threads, each
 * with a store handle of its own, write the artifacts, the edges and the
 * runs (independent reads: WAL readers do not block each other) into
 * queues of chunks of about CHUNK_BYTES, and the response's stream callback
 * hands the chunks out in body order as they come, so sending starts with
 * the first chunk and no buffer ever holds the whole body (180 MB for
 * 100,000 runs). A part that is QUEUE_MAX_BYTES ahead of the sending waits
 * (its read transaction stays open meanwhile: writers go on, a WAL
 * checkpoint waits). A store failure after the 200 went out can only cut
 * the body short; the log says why.
 */
#define CHUNK_BYTES ((size_t)256 << 10)
#define QUEUE_MAX_BYTES ((size_t)128 << 20)
/* How often a stream callback waiting for a part looks whether the client or the server left. */
#define PART_WAIT_MS 100
/* Sent chunk buffers kept for reuse. */
#define SPARE_BUFS 64

enum { PART_ARTIFACTS, PART_EDGES, PART_RUNS, N_PARTS };

struct chunk {
    struct chunk *next;
    struct sm_buf buf;
};

struct graph_stream;

struct part {
    struct graph_stream *gs;
    enum sm_entity e;
    pthread_t thread;
    bool is_started;
    /* Under gs->mu. */
    struct chunk *head, *tail;
    size_t queued_bytes;
    bool is_done;
    int rc;
    struct sm_err err;
    /* The producer's own. */
    struct sm_buf cur;
    struct sm_jw w;
};

struct graph_stream {
    struct sm_server *srv;
    char root[SM_ID_HEX_LEN + 1];
    char run_id[SM_ID_HEX_LEN + 1];
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a chunk was queued or taken, a part ended, or the stream was dropped */
    bool is_abandoned; /* the response ended: producers stop */
    struct part parts[N_PARTS];
    /* Chunk buffers sent already, for the producers to fill again (under mu): fresh memory
     * for each of 700 chunks cost page faults and arena growth, a tenth of the CPU. */
    struct sm_buf spare[SPARE_BUFS];
    size_t n_spare;
    int stage;      /* the part being sent; N_PARTS: the closing brace */
    bool is_opened; /* the body's first bytes were handed out */
};

/* Queue the producer's current chunk; wait while the queue is full. 0, or SM_ECALLBACK when the
 * response was dropped (the listing stops). */
static int part_push(struct part *p, bool force)
{
    if (!force && p->cur.len < CHUNK_BYTES)
        return 0;
    struct graph_stream *gs = p->gs;
    struct chunk *c = sm_xcalloc(1, sizeof(*c));
    c->buf = p->cur; /* the writer keeps writing into p->cur, now empty */
    sm_buf_init(&p->cur, p->cur.max_len);
    pthread_mutex_lock(&gs->mu);
    if (!force && gs->n_spare > 0) {
        size_t cap = p->cur.max_len;
        p->cur = gs->spare[--gs->n_spare];
        p->cur.max_len = cap;
    }
    if (p->tail != NULL)
        p->tail->next = c;
    else
        p->head = c;
    p->tail = c;
    p->queued_bytes += c->buf.len;
    pthread_cond_broadcast(&gs->cv);
    while (p->queued_bytes > QUEUE_MAX_BYTES && !gs->is_abandoned)
        pthread_cond_wait(&gs->cv, &gs->mu);
    int rc = gs->is_abandoned ? SM_ECALLBACK : 0;
    pthread_mutex_unlock(&gs->mu);
    /* Room for a whole chunk at once: growing it by doubling copied each byte twice. */
    if (!force)
        sm_buf_reserve(&p->cur, CHUNK_BYTES + (CHUNK_BYTES >> 2));
    return rc;
}

/* After each row: stop at the writer's first error (the response is too big), else maybe push. */
static int row_written(struct graph_out *g)
{
    if (g->w->code != 0)
        return g->w->code;
    return g->part != NULL ? part_push(g->part, false) : 0;
}

static void *part_main(void *arg)
{
    struct part *p = arg;
    /* Named, so that top and perf tell the parts apart. */
    pthread_setname_np(pthread_self(), p->e == SM_ENTITY_RUNS    ? "graph-runs"
                                       : p->e == SM_ENTITY_EDGES ? "graph-edges"
                                                                 : "graph-artifacts");
    struct graph_stream *gs = p->gs;
    struct graph_out g = {
        .w = &p->w, .scratch = SM_BUF_INIT(SOURCE_MAX_BYTES), .err = SM_ERR_INIT, .part = p};
    int rc;
    g.store = sm__server_store_borrow(gs->srv, &g.err);
    if (g.store == NULL) {
        rc = g.err.code ? g.err.code : SM_EIO;
    } else {
        if (p->e == SM_ENTITY_RUNS) {
            g.sources = sm_xcalloc(SOURCE_CACHE_SLOTS, sizeof(*g.sources));
            g.is_encoded = true;
        }
        union sm_row_fn fn;
        if (p->e == SM_ENTITY_RUNS)
            fn.run = write_run_row;
        else if (p->e == SM_ENTITY_EDGES)
            fn.edge = write_edge_row;
        else
            fn.artifact = write_artifact_row;
        sm_jw_begin_array(&p->w);
        rc = sm_store_list_pipeline(g.store, p->e, gs->root, fn, &g, &g.err);
        sm_jw_end_array(&p->w);
        if (rc == 0)
            rc = sm_jw_finish(&p->w, &g.err);
        sm__server_store_return(gs->srv, g.store);
    }
    if (rc == 0)
        rc = part_push(p, true);
    pthread_mutex_lock(&gs->mu);
    p->is_done = true;
    p->rc = rc;
    p->err = g.err;
    pthread_cond_broadcast(&gs->cv);
    pthread_mutex_unlock(&gs->mu);
    graph_out_release(&g);
    return NULL;
}

static void graph_stream_free(void *ctx)
{
    struct graph_stream *gs = ctx;
    pthread_mutex_lock(&gs->mu);
    gs->is_abandoned = true;
    pthread_cond_broadcast(&gs->cv);
    pthread_mutex_unlock(&gs->mu);
    for (int i = 0; i < N_PARTS; i++) {
        struct part *p = &gs->parts[i];
        if (p->is_started)
            pthread_join(p->thread, NULL);
        while (p->head != NULL) {
            struct chunk *c = p->head;
            p->head = c->next;
            sm_buf_release(&c->buf);
            sm_free(c);
        }
        sm_buf_release(&p->cur);
    }
    for (size_t i = 0; i < gs->n_spare; i++)
        sm_buf_release(&gs->spare[i]);
    pthread_cond_destroy(&gs->cv);
    pthread_mutex_destroy(&gs->mu);
    sm_free(gs);
    /* The part threads allocated in arenas of their own, which glibc keeps once freed: give
     * the pages back, or a server that served one 100,000-run graph stays 300 MiB big. */
    malloc_trim(0);
}

static const char *const part_keys[N_PARTS] = {"{\"artifacts\":", ",\"edges\":", NULL};

/* The stream callback: the parts' chunks in body order, as their threads make them. */
static int graph_stream_next(void *ctx, struct sm_http_stream *s, struct sm_buf *out)
{
    struct graph_stream *gs = ctx;
    if (!gs->is_opened) {
        gs->is_opened = true;
        sm_buf_adds(out, part_keys[0]);
    }
    if (gs->stage == N_PARTS) {
        sm_buf_addc(out, '}');
        return SM_HTTP_STREAM_END;
    }
    struct part *p = &gs->parts[gs->stage];
    pthread_mutex_lock(&gs->mu);
    while (p->head == NULL && !p->is_done) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += PART_WAIT_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&gs->cv, &gs->mu, &until);
        if (p->head == NULL && !p->is_done) {
            pthread_mutex_unlock(&gs->mu);
            if (sm_http_stream_wait(s, -1, 0) == SM_HTTP_WAIT_CLOSED)
                return SM_ECALLBACK;
            pthread_mutex_lock(&gs->mu);
        }
    }
    struct chunk *c = p->head;
    if (c != NULL) {
        p->head = c->next;
        if (p->head == NULL)
            p->tail = NULL;
        p->queued_bytes -= c->buf.len;
        pthread_cond_broadcast(&gs->cv);
    }
    bool is_last = c == NULL || (p->head == NULL && p->is_done);
    int rc = c == NULL ? p->rc : 0;
    struct sm_err err = p->err;
    pthread_mutex_unlock(&gs->mu);
    if (rc != 0) {
        sm__server_log(gs->srv, "graph of pipeline '%s' cut short: %s (%s)", gs->root,
                       err.msg[0] ? err.msg : sm_strerror(rc), sm_err_name(rc));
        return rc;
    }
    if (c != NULL) {
        if (out->len == 0 && c->buf.len <= out->max_len) {
            /* Hand the chunk's memory over rather than copy it; the buffer sent last goes
             * back to the producers. */
            size_t cap = out->max_len;
            struct sm_buf sent = *out;
            *out = c->buf;
            out->max_len = cap;
            pthread_mutex_lock(&gs->mu);
            if (sent.data != NULL && sent.alloc >= CHUNK_BYTES && gs->n_spare < SPARE_BUFS) {
                sm_buf_reset(&sent);
                gs->spare[gs->n_spare++] = sent;
                sent.data = NULL;
            }
            pthread_mutex_unlock(&gs->mu);
            sm_buf_release(&sent);
        } else {
            sm_buf_add(out, c->buf.data, c->buf.len);
            sm_buf_release(&c->buf);
        }
        sm_free(c);
    }
    if (is_last) {
        gs->stage++;
        if (gs->stage == PART_RUNS) {
            sm_buf_adds(out, ",\"run_id\":\"");
            sm_buf_adds(out, gs->run_id);
            sm_buf_adds(out, "\",\"runs\":");
        } else if (gs->stage < N_PARTS) {
            sm_buf_adds(out, part_keys[gs->stage]);
        }
    }
    return SM_HTTP_STREAM_MORE;
}

/* Pipeline `root` as Sematic's graph (artifacts, edges, run_id, runs: sorted keys), streamed. */
static int stream_root_graph(struct sm_http_resp *resp, struct sm_server *srv, const char *root,
                             const char *run_id)
{
    struct graph_stream *gs = sm_xcalloc(1, sizeof(*gs));
    gs->srv = srv;
    snprintf(gs->root, sizeof(gs->root), "%s", root);
    snprintf(gs->run_id, sizeof(gs->run_id), "%s", run_id);
    pthread_mutex_init(&gs->mu, NULL);
    pthread_cond_init(&gs->cv, NULL);
    static const enum sm_entity kinds[N_PARTS] = {SM_ENTITY_ARTIFACTS, SM_ENTITY_EDGES,
                                                  SM_ENTITY_RUNS};
    for (int i = 0; i < N_PARTS; i++) {
        struct part *p = &gs->parts[i];
        p->gs = gs;
        p->e = kinds[i];
        p->err = (struct sm_err)SM_ERR_INIT;
        sm_buf_init(&p->cur, SM_HTTP_MAX_RESPONSE_BYTES);
        sm_buf_reserve(&p->cur, CHUNK_BYTES + (CHUNK_BYTES >> 2));
        sm_jw_init(&p->w, &p->cur);
    }
    for (int i = 0; i < N_PARTS; i++) {
        struct part *p = &gs->parts[i];
        p->is_started = pthread_create(&p->thread, NULL, part_main, p) == 0;
        if (!p->is_started) {
            graph_stream_free(gs);
            return SM_EIO;
        }
    }
    return sm_http_stream(resp, 200, "application/json", graph_stream_next, gs, graph_stream_free);
}

/* One run, the edges that start or end at it, and their artifacts (each once). */
static int write_run_graph(struct graph_out *g, const struct sm_run_rec *run)
{
    int rc = sm_store_list_edges(g->store, NULL, run->id, keep_edge, g, &g->err);
    if (rc != 0)
        return rc;
    struct sm_jw *w = g->w;
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "artifacts");
    sm_jw_begin_array(w);
    for (size_t i = 0; i < g->n_edges && rc == 0; i++) {
        const char *id = g->edges[i].artifact_id;
        bool seen = id[0] == '\0';
        for (size_t k = 0; k < i && !seen; k++) /* a run has few edges */
            seen = strcmp(g->edges[k].artifact_id, id) == 0;
        if (seen)
            continue;
        struct sm_artifact_rec a;
        struct sm_err aerr = SM_ERR_INIT;
        int arc = sm_store_get_artifact(g->store, id, &a, NULL, &aerr);
        if (arc == 0)
            sm__sj_write_artifact(w, &a);
        else if (arc != SM_ENOTFOUND) /* an edge may name an artifact not yet written */
            rc = sm_errf(&g->err, arc, "%s", aerr.msg);
    }
    sm_jw_end_array(w);
    sm_jw_keyz(w, "edges");
    sm_jw_begin_array(w);
    for (size_t i = 0; i < g->n_edges; i++)
        sm__sj_write_edge(w, &g->edges[i]);
    sm_jw_end_array(w);
    sm_jw_keyz(w, "run_id");
    sm_jw_stringz(w, run->id);
    sm_jw_keyz(w, "runs");
    sm_jw_begin_array(w);
    if (rc == 0)
        rc = write_run_row(g, run);
    sm_jw_end_array(w);
    sm_jw_end_object(w);
    return rc;
}

int sm__api_run_graph(struct sm_http_req *req, struct sm_http_resp *resp)
{
    bool whole = false;
    int rc = sm_http_query_bool(req, resp, "root", false, &whole);
    if (rc != 0)
        return rc;
    struct sm_sj_pool pool = {0};
    struct sm_run_rec run;
    bool done;
    rc = read_run(req, resp, sm_http_param(req, "id"), &pool, &run, &done);
    if (done) {
        sm__sj_pool_release(&pool);
        return rc;
    }
    if (whole) {
        rc = stream_root_graph(resp, req->server, run.root_id, run.id);
        sm__sj_pool_release(&pool);
        return rc;
    }
    struct graph_out g = {.scratch = SM_BUF_INIT(SOURCE_MAX_BYTES), .err = SM_ERR_INIT};
    g.store = sm_http_store(req, &g.err);
    g.sources = sm_xcalloc(SOURCE_CACHE_SLOTS, sizeof(*g.sources));
    g.w = sm_http_json(resp, 200);
    rc = write_run_graph(&g, &run);
    if (rc != 0 && g.w->code == 0) /* the store failed (not the writer: that is a 500 anyway) */
        rc = sm_http_store_error(resp, &g.err);
    graph_out_release(&g);
    sm__sj_pool_release(&pool);
    return rc;
}

int sm__api_run_external_resources(struct sm_http_req *req, struct sm_http_resp *resp)
{
    (void)req;
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "content");
    sm_jw_begin_array(w);
    sm_jw_end_array(w);
    sm_jw_end_object(w);
    return 0;
}
