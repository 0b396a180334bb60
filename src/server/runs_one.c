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
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "sematic/alloc.h"
#include "sematic/hash.h"

#include "handlers.h"
#include "internal.h"
#include "sematic_json.h"

#include "util/banned.h"

/* Source texts kept per graph request (distinct functions of one pipeline: few). */
#define SOURCE_CACHE_SLOTS 1024
/* The largest source text the server reads for a run. */
#define SOURCE_MAX_BYTES ((size_t)16 << 20)

/* Sematic's 404 for a run id that names no run (malformed ids included, as there). */
static int no_such_run(struct sm_http_resp *resp, const char *id)
{
    char shown[96];
    sm__http_sanitize(id, shown, sizeof(shown));
    return sm_http_error(resp, 404, "No runs with id '%s'", shown);
}

/* Read run `id` (copied into pool). 0; else a response is in resp (404, or the store's error). */
static int read_run(struct sm_http_req *req, struct sm_http_resp *resp, const char *id,
                    struct sm_sj_pool *pool, struct sm_run_rec *out, bool *done)
{
    struct sm_err err = SM_ERR_INIT;
    *done = true;
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL)
        return sm_http_store_error(resp, &err);
    if (strlen(id) != SM_ID_HEX_LEN || !sm_is_hex(id, SM_ID_HEX_LEN))
        return no_such_run(resp, id);
    struct sm_run_rec run;
    int rc = sm_store_get_run(store, id, &run, &err);
    if (rc == SM_ENOTFOUND)
        return no_such_run(resp, id);
    if (rc != 0)
        return sm_http_store_error(resp, &err);
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
    struct sm_jw *w;
    struct source_slot *sources; /* SOURCE_CACHE_SLOTS, direct-mapped by the id's first digits */
    struct sm_buf scratch;
    struct sm_err err;
    /* root=0: the run's edges, copied, and the artifact ids they name */
    struct sm_edge_rec *edges;
    char **edge_names;
    size_t n_edges, cap_edges;
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
        s->len = g->scratch.len;
        s->text = sm_xmalloc(s->len + 1);
        memcpy(s->text, g->scratch.data ? g->scratch.data : "", s->len);
        s->text[s->len] = '\0';
        memcpy(s->id, key, sizeof(s->id));
    }
    *text = s->text;
    *len = s->len;
    return 0;
}

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
    sm__sj_write_run(g->w, r, text, len);
    return g->w->code; /* stop at the writer's first error (the response is too big) */
}

static int write_artifact_row(void *ctx, const struct sm_artifact_rec *a)
{
    struct graph_out *g = ctx;
    sm__sj_write_artifact(g->w, a);
    return g->w->code;
}

static int write_edge_row(void *ctx, const struct sm_edge_rec *e)
{
    struct graph_out *g = ctx;
    sm__sj_write_edge(g->w, e);
    return g->w->code;
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
 * One JSON array of a pipeline's graph (its edges, or its runs) made on a
 * thread of its own with a store handle of its own, while the request's
 * thread writes the artifacts: the three listings are independent reads
 * (WAL readers do not block each other), and on a big pipeline each costs
 * a few hundred milliseconds of SQLite.
 */
struct part {
    struct sm_server *srv;
    const char *root;
    bool is_runs; /* else the edges */
    pthread_t thread;
    bool is_started;
    struct sm_buf out; /* the array's text */
    int rc;
    struct sm_err err;
};

static int list_part(struct graph_out *g, bool is_runs, const char *root)
{
    sm_jw_begin_array(g->w);
    int rc;
    if (is_runs) {
        struct sm_run_query q = {.root_id = root, .oldest_first = true};
        rc = sm_store_list_runs(g->store, &q, write_run_row, g, &g->err);
    } else {
        rc = sm_store_list_edges(g->store, root, NULL, write_edge_row, g, &g->err);
    }
    sm_jw_end_array(g->w);
    return rc;
}

static void *part_main(void *arg)
{
    struct part *p = arg;
    struct sm_jw w;
    sm_jw_init(&w, &p->out);
    struct graph_out g = {.w = &w, .scratch = SM_BUF_INIT(SOURCE_MAX_BYTES), .err = SM_ERR_INIT};
    g.store = sm__server_store_borrow(p->srv, &g.err);
    if (g.store == NULL) {
        p->rc = g.err.code ? g.err.code : SM_EIO;
    } else {
        g.sources = p->is_runs ? sm_xcalloc(SOURCE_CACHE_SLOTS, sizeof(*g.sources)) : NULL;
        p->rc = list_part(&g, p->is_runs, p->root);
        if (p->rc == 0)
            p->rc = sm_jw_finish(&w, &g.err);
        sm__server_store_return(p->srv, g.store);
    }
    p->err = g.err;
    graph_out_release(&g);
    return NULL;
}

/* The part's array into the response: from its thread, or made here when none could start. */
static int take_part(struct graph_out *g, struct part *p)
{
    if (p->is_started) {
        pthread_join(p->thread, NULL);
        if (p->rc != 0) {
            sm_errf(&g->err, p->rc, "%s", p->err.msg);
            return p->rc;
        }
        sm_jw_raw(g->w, p->out.data, p->out.len);
        return 0;
    }
    return list_part(g, p->is_runs, p->root);
}

/* Pipeline `root`: artifacts, edges, run_id, runs (Sematic's keys, sorted). */
static int write_root_graph(struct graph_out *g, struct sm_server *srv, const char *root,
                            const char *run_id)
{
    struct part parts[2] = {
        {.srv = srv, .root = root, .is_runs = false, .err = SM_ERR_INIT},
        {.srv = srv, .root = root, .is_runs = true, .err = SM_ERR_INIT},
    };
    for (size_t i = 0; i < 2; i++) {
        sm_buf_init(&parts[i].out, SM_HTTP_MAX_RESPONSE_BYTES);
        /* Without a server (unit tests) or a thread, the parts are made in turn below. */
        parts[i].is_started =
            srv != NULL && pthread_create(&parts[i].thread, NULL, part_main, &parts[i]) == 0;
    }
    struct sm_jw *w = g->w;
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "artifacts");
    sm_jw_begin_array(w);
    int rc = sm_store_list_artifacts(g->store, root, write_artifact_row, g, &g->err);
    sm_jw_end_array(w);
    sm_jw_keyz(w, "edges");
    int edges_rc = take_part(g, &parts[0]);
    sm_jw_keyz(w, "run_id");
    sm_jw_stringz(w, run_id);
    sm_jw_keyz(w, "runs");
    int runs_rc = take_part(g, &parts[1]);
    sm_jw_end_object(w);
    for (size_t i = 0; i < 2; i++)
        sm_buf_release(&parts[i].out);
    return rc ? rc : edges_rc ? edges_rc : runs_rc;
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
    struct graph_out g = {.scratch = SM_BUF_INIT(SOURCE_MAX_BYTES), .err = SM_ERR_INIT};
    g.store = sm_http_store(req, &g.err);
    g.sources = sm_xcalloc(SOURCE_CACHE_SLOTS, sizeof(*g.sources));
    g.w = sm_http_json(resp, 200);
    rc = whole ? write_root_graph(&g, req->server, run.root_id, run.id) : write_run_graph(&g, &run);
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
