/*
 * artifacts.c: GET /api/v1/artifacts (filtered, paged) and
 * GET /api/v1/artifacts/:id, artifact metadata in Sematic's shape
 * (sm__sj_write_artifact): id, type_serialization, json_summary, times.
 * The values themselves are not here: ours are read by id through the
 * store, Sematic's client's through the storage endpoints (storage.c).
 *
 * As Sematic's list_artifacts_endpoint: `limit` (20; -1 all), `order`
 * (desc on created_at), `filters` (JSON); the answer is {"content": [...]}
 * with no page fields. Unknown ids, malformed ones included, are 404
 * "No Artifact with id '...'", Sematic's words.
 */
#include <string.h>

#include "sematic/hash.h"

#include "api.h"
#include "handlers.h"
#include "internal.h"
#include "sematic_json.h"

#include "util/banned.h"

static int write_artifact(void *ctx, const struct sm_artifact_rec *a)
{
    sm__sj_write_artifact(ctx, a);
    return 0;
}

int sm__api_artifacts_list(struct sm_http_req *req, struct sm_http_resp *resp)
{
    int64_t limit;
    bool ascending;
    struct sm_err err = SM_ERR_INIT;
    if (sm__api_limit(req, resp, SM_API_DEFAULT_LIMIT, &limit) != 0 ||
        sm__api_order(req, resp, false, &ascending) != 0)
        return SM_EINVAL;
    struct sm_filter filter;
    int rc = sm__api_filters(req, resp, SM_ENTITY_ARTIFACTS, &filter);
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
    if (sm_store_query_artifacts(store, &q, write_artifact, w, NULL, &err) != 0) {
        rc = sm_http_store_error(resp, &err);
        goto out;
    }
    sm_jw_end_array(w);
    sm_jw_end_object(w);
out:
    sm_filter_release(&filter);
    return rc;
}

int sm__api_artifact_get(struct sm_http_req *req, struct sm_http_resp *resp)
{
    const char *id = sm_http_param(req, "id");
    char shown[96];
    sm__http_sanitize(id, shown, sizeof(shown));
    size_t len = strlen(id);
    if ((len != SM_SHA256_HEX_LEN && len != SM_SHA1_HEX_LEN) || !sm_is_hex(id, len))
        return sm_http_error(resp, 404, "No Artifact with id '%s'", shown);
    struct sm_err err = SM_ERR_INIT;
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL)
        return sm_http_store_error(resp, &err);
    struct sm_artifact_rec a;
    int rc = sm_store_get_artifact(store, id, &a, NULL, &err);
    if (rc == SM_ENOTFOUND)
        return sm_http_error(resp, 404, "No Artifact with id '%s'", shown);
    if (rc != 0)
        return sm_http_store_error(resp, &err);
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "content");
    sm__sj_write_artifact(w, &a);
    sm_jw_end_object(w);
    return 0;
}
