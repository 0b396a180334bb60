/*
 * graph.c: PUT /api/v1/graph, how Sematic's client records what it ran:
 *
 *     {"graph": {"runs": [...], "artifacts": [...], "edges": [...]}}  ->  {}
 *
 * Every record is read and checked first (sematic_json.c), so a bad one is a
 * 400 naming it before the store is touched; then they are written in one
 * batch (sm_store_begin ... commit), rolled back whole if the store refuses
 * one, so a request either records everything or nothing.
 *
 * What Sematic's server does, and so do we: runs and edges are upserted by
 * id with no check of the state transition (save_graph merges them; a
 * LocalRunner re-sends runs the server has already cancelled, in their
 * older state, while it cleans up); an artifact that exists must be sent
 * again unchanged (Artifact.assert_matches; Sematic answers 500, we 400).
 * What we add: an edge carries its pipeline's root id in the store, taken
 * from the runs it joins (in this request, else already stored); artifacts
 * with our own 64-hex ids are never created here (they carry a payload this
 * API does not send) and, when they exist, are left as they are.
 */
#include <stdio.h>
#include <string.h>

#include "sematic/alloc.h"

#include "handlers.h"
#include "sematic_json.h"

#include "util/banned.h"

/* The three lists of the body, read. */
struct graph_in {
    struct sm_sj_run *runs;
    size_t n_runs;
    struct sm_artifact_rec *artifacts;
    bool *skip_artifact; /* exists already: nothing to write */
    size_t n_artifacts;
    struct sm_edge_rec *edges;
    size_t n_edges;
    /* runs by id: indices into runs + 1 (0: empty slot), open addressing */
    uint32_t *index;
    size_t index_mask;
    struct sm_sj_pool pool;
};

static void graph_in_release(struct graph_in *g)
{
    sm_free(g->runs);
    sm_free(g->artifacts);
    sm_free(g->skip_artifact);
    sm_free(g->edges);
    sm_free(g->index);
    sm__sj_pool_release(&g->pool);
}

static uint64_t id_hash(const char *id)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *c = id; *c; c++)
        h = (h ^ (uint8_t)*c) * 1099511628211ULL;
    return h;
}

static void index_runs(struct graph_in *g)
{
    size_t size = 16;
    while (size < g->n_runs * 2)
        size *= 2;
    g->index = sm_xcalloc(size, sizeof(*g->index));
    g->index_mask = size - 1;
    for (size_t i = 0; i < g->n_runs; i++) {
        size_t at = id_hash(g->runs[i].rec.id) & g->index_mask;
        while (g->index[at] != 0 && strcmp(g->runs[g->index[at] - 1].rec.id, g->runs[i].rec.id))
            at = (at + 1) & g->index_mask;
        g->index[at] = (uint32_t)(i + 1); /* a later copy of the same run wins, as it is written */
    }
}

/* The run of this request with this id, or NULL. */
static const struct sm_run_rec *find_run(const struct graph_in *g, const char *id)
{
    size_t at = id_hash(id) & g->index_mask;
    while (g->index[at] != 0) {
        const struct sm_run_rec *r = &g->runs[g->index[at] - 1].rec;
        if (strcmp(r->id, id) == 0)
            return r;
        at = (at + 1) & g->index_mask;
    }
    return NULL;
}

/* The list `name` of the graph object: an array, else a 400. */
static int get_list(struct sm_http_resp *resp, const struct sm_json *graph, const char *name,
                    const struct sm_json **out)
{
    *out = sm_json_get(graph, name);
    if (*out == NULL)
        return sm_http_error(resp, 400,
                             "invalid graph: 'graph.%s' is missing; send {\"graph\": {\"runs\": "
                             "[...], \"artifacts\": [...], \"edges\": [...]}} (lists may be empty)",
                             name),
               SM_EINVAL;
    if ((*out)->kind != SM_JSON_ARRAY)
        return sm_http_error(resp, 400, "invalid graph: 'graph.%s' must be a list", name),
               SM_EINVAL;
    return 0;
}

/* Read and check every record; a 400 in resp on the first bad one. */
static int read_graph(struct sm_http_resp *resp, const struct sm_json *root, struct graph_in *g)
{
    const struct sm_json *graph = sm_json_get(root, "graph");
    if (graph == NULL || graph->kind != SM_JSON_OBJECT)
        return sm_http_error(resp, 400,
                             "invalid graph: the body must be {\"graph\": {\"runs\": [...], "
                             "\"artifacts\": [...], \"edges\": [...]}}; 'graph' is %s",
                             graph == NULL ? "missing" : "not an object"),
               SM_EINVAL;
    const struct sm_json *runs, *artifacts, *edges;
    int rc;
    if ((rc = get_list(resp, graph, "runs", &runs)) != 0 ||
        (rc = get_list(resp, graph, "artifacts", &artifacts)) != 0 ||
        (rc = get_list(resp, graph, "edges", &edges)) != 0)
        return rc;

    int64_t now = sm_now_us();
    struct sm_err err = SM_ERR_INIT;
    char where[64];
    g->runs = sm_xcalloc(runs->n_items + 1, sizeof(*g->runs));
    for (size_t i = 0; i < runs->n_items; i++, g->n_runs++) {
        snprintf(where, sizeof(where), "graph.runs[%zu]", i);
        if (sm__sj_run_from_json(&runs->items[i], where, now, &g->pool, &g->runs[i], &err) != 0)
            return sm_http_error(resp, 400, "%s", err.msg), SM_EINVAL;
    }
    g->artifacts = sm_xcalloc(artifacts->n_items + 1, sizeof(*g->artifacts));
    g->skip_artifact = sm_xcalloc(artifacts->n_items + 1, sizeof(*g->skip_artifact));
    for (size_t i = 0; i < artifacts->n_items; i++, g->n_artifacts++) {
        snprintf(where, sizeof(where), "graph.artifacts[%zu]", i);
        if (sm__sj_artifact_from_json(&artifacts->items[i], where, now, &g->pool, &g->artifacts[i],
                                      &err) != 0)
            return sm_http_error(resp, 400, "%s", err.msg), SM_EINVAL;
    }
    g->edges = sm_xcalloc(edges->n_items + 1, sizeof(*g->edges));
    for (size_t i = 0; i < edges->n_items; i++, g->n_edges++) {
        snprintf(where, sizeof(where), "graph.edges[%zu]", i);
        if (sm__sj_edge_from_json(&edges->items[i], where, now, &g->pool, &g->edges[i], &err) != 0)
            return sm_http_error(resp, 400, "%s", err.msg), SM_EINVAL;
    }
    index_runs(g);
    return 0;
}

/* The root of run `id`: from this request, else from the store. 0, SM_ENOTFOUND, or an error. */
static int root_of(struct sm_store *store, const struct graph_in *g, const char *id,
                   char root[SM_ID_HEX_LEN + 1], struct sm_err *err)
{
    const struct sm_run_rec *r = find_run(g, id);
    if (r != NULL) {
        memcpy(root, r->root_id, SM_ID_HEX_LEN + 1);
        return 0;
    }
    struct sm_run_rec stored;
    struct sm_err lookup = SM_ERR_INIT;
    int rc = sm_store_get_run(store, id, &stored, &lookup);
    if (rc == 0)
        memcpy(root, stored.root_id, SM_ID_HEX_LEN + 1);
    else if (rc != SM_ENOTFOUND)
        sm_errf(err, rc, "%s", lookup.msg);
    return rc;
}

/* Give every edge its root; a 400 naming an edge whose runs are nowhere. */
static int find_edge_roots(struct sm_http_resp *resp, struct sm_store *store, struct graph_in *g)
{
    for (size_t i = 0; i < g->n_edges; i++) {
        struct sm_edge_rec *e = &g->edges[i];
        struct sm_err err = SM_ERR_INIT;
        int rc = SM_ENOTFOUND;
        if (e->destination_run_id[0])
            rc = root_of(store, g, e->destination_run_id, e->root_id, &err);
        if (rc == SM_ENOTFOUND && e->source_run_id[0])
            rc = root_of(store, g, e->source_run_id, e->root_id, &err);
        if (rc == SM_ENOTFOUND)
            return sm_http_error(resp, 400,
                                 "invalid graph.edges[%zu] (edge '%s'): it joins no run of this "
                                 "graph or the store (source '%s', destination '%s'); send the "
                                 "runs with their edges",
                                 i, e->id, e->source_run_id[0] ? e->source_run_id : "null",
                                 e->destination_run_id[0] ? e->destination_run_id : "null"),
                   SM_EINVAL;
        if (rc != 0)
            return sm_http_store_error(resp, &err), rc;
    }
    return 0;
}

/*
 * Artifacts that exist are left alone, but one of Sematic's must come back
 * unchanged (its id is the hash of its value: a change is a client bug);
 * one of ours that does not exist cannot be made here.
 */
static int check_artifacts(struct sm_http_resp *resp, struct sm_store *store, struct graph_in *g)
{
    for (size_t i = 0; i < g->n_artifacts; i++) {
        const struct sm_artifact_rec *a = &g->artifacts[i];
        struct sm_artifact_rec stored;
        struct sm_err err = SM_ERR_INIT;
        int rc = sm_store_get_artifact(store, a->id, &stored, NULL, &err);
        bool is_ours = strlen(a->id) == SM_SHA256_HEX_LEN;
        if (rc == SM_ENOTFOUND && is_ours)
            return sm_http_error(resp, 400,
                                 "invalid graph.artifacts[%zu] (artifact '%s'): no such artifact, "
                                 "and one with a 64-hex id (SHA-256, made by our own runner) "
                                 "cannot be created through this API, which carries no payload; "
                                 "Sematic's client sends 40-hex ids",
                                 i, a->id),
                   SM_EINVAL;
        if (rc == SM_ENOTFOUND)
            continue;
        if (rc != 0)
            return sm_http_store_error(resp, &err), rc;
        g->skip_artifact[i] = true;
        if (is_ours)
            continue;
        const char *field = strcmp(stored.type_json, a->type_json) != 0 ? "type_serialization"
                            : strcmp(stored.summary_json, a->summary_json) != 0 ? "json_summary"
                                                                                : NULL;
        if (field != NULL)
            return sm_http_error(resp, 400,
                                 "invalid graph.artifacts[%zu] (artifact '%s'): its '%s' differs "
                                 "from the stored one; an artifact id names one value, so send it "
                                 "unchanged or compute a new id",
                                 i, a->id, field),
                   SM_EINVAL;
    }
    return 0;
}

/* Write everything in one batch; rolled back whole on any failure. */
static int write_graph(struct sm_store *store, struct graph_in *g, struct sm_err *err)
{
    int rc = sm_store_begin(store, err);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < g->n_runs && rc == 0; i++) {
        struct sm_sj_run *run = &g->runs[i];
        char source_id[SM_SHA256_HEX_LEN + 1];
        if (run->source_code != NULL) {
            rc = sm_store_put_source(store, run->source_code, run->source_len, source_id, err);
            run->rec.source_id = source_id;
        }
        if (rc == 0)
            rc = sm_store_put_run(store, &run->rec, err);
        run->rec.source_id = NULL;
    }
    for (size_t i = 0; i < g->n_artifacts && rc == 0; i++)
        if (!g->skip_artifact[i])
            rc = sm_store_put_artifact(store, &g->artifacts[i], NULL, 0, err);
    for (size_t i = 0; i < g->n_edges && rc == 0; i++)
        rc = sm_store_put_edge(store, &g->edges[i], err);
    if (rc == 0)
        rc = sm_store_commit(store, err);
    if (rc != 0)
        sm_store_rollback(store);
    return rc;
}

int sm__api_graph_put(struct sm_http_req *req, struct sm_http_resp *resp)
{
    struct sm_json_doc doc = {0};
    struct graph_in g = {0};
    struct sm_err err = SM_ERR_INIT;
    int rc = sm_http_body_json(req, resp, &doc);
    if (rc != 0)
        goto out;
    if ((rc = read_graph(resp, doc.root, &g)) != 0)
        goto out;
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL) {
        rc = sm_http_store_error(resp, &err);
        goto out;
    }
    if ((rc = find_edge_roots(resp, store, &g)) != 0 ||
        (rc = check_artifacts(resp, store, &g)) != 0)
        goto out;
    if (write_graph(store, &g, &err) != 0) {
        rc = sm_http_store_error(resp, &err); /* SM_EINVAL: 400 with the store's message */
        goto out;
    }
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_end_object(w);
out:
    graph_in_release(&g);
    sm_json_doc_release(&doc);
    return rc;
}
