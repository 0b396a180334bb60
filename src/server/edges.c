/*
 * edges.c: GET /api/v1/edges, lineage edges in Sematic's shape
 * (sm__sj_write_edge), as Sematic's list_edges_endpoint: `limit` (20; -1
 * all), `order` (desc on created_at), `filters` (JSON: the dashboard asks
 * for the edges of a set of runs with an OR of source_run_id and
 * destination_run_id `in` lists, which the store serves from its two
 * indexes). The answer is {"content": [...]}.
 */
#include "api.h"
#include "handlers.h"
#include "sematic_json.h"

#include "util/banned.h"

static int write_edge(void *ctx, const struct sm_edge_rec *e)
{
    sm__sj_write_edge(ctx, e);
    return 0;
}

int sm__api_edges_list(struct sm_http_req *req, struct sm_http_resp *resp)
{
    int64_t limit;
    bool ascending;
    struct sm_err err = SM_ERR_INIT;
    if (sm__api_limit(req, resp, SM_API_DEFAULT_LIMIT, &limit) != 0 ||
        sm__api_order(req, resp, false, &ascending) != 0)
        return SM_EINVAL;
    struct sm_filter filter;
    int rc = sm__api_filters(req, resp, SM_ENTITY_EDGES, &filter);
    if (rc != 0)
        goto out;
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL) {
        rc = sm_http_store_error(resp, &err);
        goto out;
    }
    struct sm_query q = {
        .filter = filter.root != NULL ? &filter : NULL,
        .limit = limit,
        .ascending = ascending,
    };
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "content");
    sm_jw_begin_array(w);
    if (sm_store_query_edges(store, &q, write_edge, w, NULL, &err) != 0) {
        rc = sm_http_store_error(resp, &err);
        goto out;
    }
    sm_jw_end_array(w);
    sm_jw_end_object(w);
out:
    sm_filter_release(&filter);
    return rc;
}
