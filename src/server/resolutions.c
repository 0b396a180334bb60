/*
 * resolutions.c: pipeline runs ("resolutions" in Sematic's API) for
 * Sematic's client, in Sematic's shapes (sematic_json.h):
 *
 *   GET /api/v1/resolutions/:id                      {"content": resolution}
 *   PUT /api/v1/resolutions/:id  {"resolution": {}}  {}    create or update
 *   PUT /api/v1/resolutions/:id/cancel               {"content": resolution}
 *   GET /api/v1/resolutions/:id/external_resources   {"external_resources": []}
 *
 * PUT follows Sematic's put_resolution_endpoint: the payload's root_id is
 * the path's; the root run exists and has no parent; a new resolution
 * starts in a status API.md 2.4 allows from none (not COMPLETE) and, unless
 * LOCAL, names a container image; an existing one changes only its status,
 * along an allowed transition (sm_pipeline_check_transition), every other
 * field we keep must come back unchanged (settings_env_vars excepted:
 * redacted on read, so what a client sends back is ignored); a terminal
 * status cancels the runs still going. The store does that last part for
 * FAILED and CANCELED in the transaction that sets the status
 * (sm_store_set_pipeline_status); Sematic does it for COMPLETE too, which
 * we do in a second batch.
 *
 * Cancel is idempotent: an already CANCELED resolution answers 200; another
 * terminal one a 400. The store records the change as a "pipeline_status"
 * event; the socket.io sessions of /pipeline (socketio.c) follow that feed
 * and send Sematic's `cancel` event, so a LocalRunner of the real client
 * stops, whoever cancelled: this endpoint or `sematic cancel`.
 */
#include <stdio.h>
#include <string.h>

#include "sematic/alloc.h"
#include "sematic/hash.h"

#include "handlers.h"
#include "internal.h"
#include "sematic_json.h"
#include "socketio.h"

#include "util/banned.h"

static bool is_run_id(const char *id)
{
    return id != NULL && strlen(id) == SM_ID_HEX_LEN && sm_is_hex(id, SM_ID_HEX_LEN);
}

static int no_such_resolution(struct sm_http_resp *resp, const char *id)
{
    char shown[96];
    sm__http_sanitize(id, shown, sizeof(shown));
    return sm_http_error(resp, 404, "No resolutions with id '%s'", shown);
}

/* The stored pipeline run of id, copied: 0, SM_ENOTFOUND, or another store error in err. */
static int read_pipeline(struct sm_store *store, const char *id, struct sm_sj_pool *pool,
                         struct sm_pipeline_rec *out, struct sm_err *err)
{
    if (!is_run_id(id))
        return SM_ENOTFOUND;
    struct sm_pipeline_rec p;
    int rc = sm_store_get_pipeline(store, id, &p, err);
    if (rc == 0)
        sm__sj_pipeline_copy(pool, out, &p);
    return rc;
}

/* {"content": resolution}, with its user when it names one. */
static int answer_resolution(struct sm_store *store, struct sm_http_resp *resp,
                             const struct sm_pipeline_rec *p)
{
    struct sm_user_rec user;
    struct sm_err err = SM_ERR_INIT;
    bool has_user = is_run_id(p->user) && sm_store_get_user(store, p->user, &user, &err) == 0;
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "content");
    sm__sj_write_resolution(w, p, has_user ? &user : NULL);
    sm_jw_end_object(w);
    return 0;
}

int sm__api_resolution_get(struct sm_http_req *req, struct sm_http_resp *resp)
{
    const char *id = sm_http_param(req, "id");
    struct sm_err err = SM_ERR_INIT;
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL)
        return sm_http_store_error(resp, &err);
    struct sm_sj_pool pool = {0};
    struct sm_pipeline_rec p;
    int rc = read_pipeline(store, id, &pool, &p, &err);
    if (rc == SM_ENOTFOUND)
        rc = no_such_resolution(resp, id);
    else if (rc != 0)
        rc = sm_http_store_error(resp, &err);
    else
        rc = answer_resolution(store, resp, &p);
    sm__sj_pool_release(&pool);
    return rc;
}

/* A failed status change: a bad transition is the client's 400, anything else the store's. */
static int status_error(struct sm_http_resp *resp, const struct sm_err *err)
{
    if (err->code == SM_EINVALID_TRANSITION)
        return sm_http_error(resp, 400, "%s", err->msg);
    return sm_http_store_error(resp, err);
}

static bool text_equal(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The first field we keep that differs between the stored and the sent resolution, or NULL. */
static const char *changed_field(const struct sm_pipeline_rec *was,
                                 const struct sm_pipeline_rec *now, const char **old_value,
                                 const char **new_value)
{
    static const char *const names[] = {
        "kind", "git_info_json", "client_version", "cache_namespace", "run_command", "user_id"};
    const char *olds[] = {was->kind,           was->git_json,
                          was->client_version, was->cache_namespace,
                          was->run_command,    was->user};
    const char *news[] = {now->kind,           now->git_json,
                          now->client_version, now->cache_namespace,
                          now->run_command,    now->user};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!text_equal(olds[i], news[i])) {
            *old_value = olds[i] ? olds[i] : "None";
            *new_value = news[i] ? news[i] : "None";
            return names[i];
        }
    }
    return NULL;
}

static bool is_terminal(int status)
{
    return status == SM_PIPELINE_COMPLETE || status == SM_PIPELINE_FAILED ||
           status == SM_PIPELINE_CANCELED;
}

/* Runs of a pipeline that are still going, copied (the listing's strings are borrowed). */
struct going {
    struct sm_sj_pool pool;
    struct sm_run_rec *runs;
    size_t n, cap;
};

static int keep_going_run(void *ctx, const struct sm_run_rec *r)
{
    struct going *g = ctx;
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 16;
        g->runs = sm_xrealloc(g->runs, g->cap * sizeof(*g->runs));
    }
    sm__sj_run_copy(&g->pool, &g->runs[g->n++], r);
    return 0;
}

/*
 * Inside an open batch: every run of root that is not terminal becomes
 * CANCELED, failed now (Sematic's _cancel_non_terminal_runs).
 */
static int cancel_going_runs(struct sm_store *store, const char *root, struct sm_err *err)
{
    struct going g = {0};
    unsigned going_states = (1u << SM_STATE_CREATED) | (1u << SM_STATE_SCHEDULED) |
                            (1u << SM_STATE_RAN) | (1u << SM_STATE_RETRYING);
    struct sm_run_query q = {.root_id = root, .state_mask = going_states};
    int rc = sm_store_list_runs(store, &q, keep_going_run, &g, err);
    int64_t now = sm_now_us();
    for (size_t i = 0; i < g.n && rc == 0; i++) {
        g.runs[i].state = SM_STATE_CANCELED;
        g.runs[i].failed_at = now;
        g.runs[i].updated_at = now;
        rc = sm_store_put_run(store, &g.runs[i], err);
    }
    sm_free(g.runs);
    sm__sj_pool_release(&g.pool);
    return rc;
}

/* A new pipeline run, and for a terminal first status its runs cancelled, in one batch. */
static int create_pipeline(struct sm_store *store, struct sm_pipeline_rec *p, struct sm_err *err)
{
    p->created_at = p->updated_at = sm_now_us();
    p->ended_at = is_terminal(p->status) ? p->created_at : 0;
    int rc = sm_store_begin(store, err);
    if (rc != 0)
        return rc;
    rc = sm_store_put_pipeline(store, p, err);
    if (rc == 0 && is_terminal(p->status))
        rc = cancel_going_runs(store, p->root_id, err);
    if (rc == 0)
        rc = sm_store_commit(store, err);
    if (rc != 0)
        sm_store_rollback(store);
    return rc;
}

/* COMPLETE: the store's status change leaves runs alone; Sematic cancels what is left. */
static int cancel_after_complete(struct sm_store *store, const char *root, struct sm_err *err)
{
    int rc = sm_store_begin(store, err);
    if (rc != 0)
        return rc;
    rc = cancel_going_runs(store, root, err);
    if (rc == 0)
        rc = sm_store_commit(store, err);
    if (rc != 0)
        sm_store_rollback(store);
    return rc;
}

/* The checks of Sematic's put_resolution_endpoint on the root run. 0, or a 400 in resp. */
static int check_root_run(struct sm_store *store, struct sm_http_resp *resp, const char *id,
                          bool *done)
{
    struct sm_run_rec run;
    struct sm_err err = SM_ERR_INIT;
    *done = true;
    int rc = sm_store_get_run(store, id, &run, &err);
    if (rc == SM_ENOTFOUND)
        return sm_http_error(resp, 400,
                             "Resolutions can only be created when there is an existing run they "
                             "are resolving, but there is no run with id %s; PUT "
                             "/api/v1/graph with the root run first",
                             id);
    if (rc != 0)
        return sm_http_store_error(resp, &err);
    if (run.parent_id[0] != '\0')
        return sm_http_error(resp, 400,
                             "Resolutions can only be created for root runs, but the run %s has "
                             "parent %s",
                             run.id, run.parent_id);
    *done = false;
    return 0;
}

static int put_resolution(struct sm_http_req *req, struct sm_http_resp *resp,
                          const struct sm_json *root, struct sm_sj_pool *pool)
{
    const char *id = sm_http_param(req, "id");
    const struct sm_json *body = sm_json_get(root, "resolution");
    if (body == NULL)
        return sm_http_error(resp, 400,
                             "invalid resolution: the body must be {\"resolution\": {...}}; "
                             "'resolution' is missing");
    struct sm_sj_resolution in;
    struct sm_err err = SM_ERR_INIT;
    if (sm__sj_resolution_from_json(body, "resolution", pool, &in, &err) != 0)
        return sm_http_error(resp, 400, "%s", err.msg);
    if (strcmp(in.rec.root_id, id) != 0) {
        char shown[96];
        sm__http_sanitize(id, shown, sizeof(shown));
        return sm_http_error(resp, 400,
                             "Id of resolution in the payload (%s) does not match the one from "
                             "the endpoint called (%s)",
                             in.rec.root_id, shown);
    }
    /* Whoever sends it owns it (Sematic's _update_resolution_user): the authenticated user,
     * or none when the server does not authenticate. */
    in.rec.user = req->user_id;
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL)
        return sm_http_store_error(resp, &err);
    bool done;
    int rc = check_root_run(store, resp, id, &done);
    if (done)
        return rc;

    struct sm_pipeline_rec was;
    rc = read_pipeline(store, id, pool, &was, &err);
    if (rc != 0 && rc != SM_ENOTFOUND)
        return sm_http_store_error(resp, &err);
    if (rc == SM_ENOTFOUND) {
        if (strcmp(in.rec.kind, "LOCAL") != 0 && !in.has_container_image_uri)
            return sm_http_error(resp, 400,
                                 "Non-local resolution %s must have a docker URI; set "
                                 "container_image_uri",
                                 id);
        if (sm_pipeline_check_transition(-1, in.rec.status, &err) != 0)
            return sm_http_error(resp, 400,
                                 "New resolution %s can't begin in the %s state; start it as "
                                 "CREATED, SCHEDULED or RUNNING",
                                 id, sm_pipeline_status_name(in.rec.status));
        if (create_pipeline(store, &in.rec, &err) != 0)
            return status_error(resp, &err);
    } else {
        const char *old_value, *new_value;
        const char *field = changed_field(&was, &in.rec, &old_value, &new_value);
        if (field != NULL)
            return sm_http_error(resp, 400,
                                 "Cannot update %s of resolution %s after it has been created. "
                                 "Original value: '%.120s', new value: '%.120s' (will not be "
                                 "used); only the status of a resolution changes",
                                 field, id, old_value, new_value);
        if (in.rec.status != was.status) {
            if (sm_store_set_pipeline_status(store, id, in.rec.status, &err) != 0)
                return status_error(resp, &err);
            if (in.rec.status == SM_PIPELINE_COMPLETE &&
                cancel_after_complete(store, id, &err) != 0)
                return sm_http_store_error(resp, &err);
        }
    }
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_end_object(w);
    return 0;
}

int sm__api_resolution_put(struct sm_http_req *req, struct sm_http_resp *resp)
{
    struct sm_json_doc doc = {0};
    struct sm_sj_pool pool = {0};
    int rc = sm_http_body_json(req, resp, &doc);
    if (rc == 0)
        rc = put_resolution(req, resp, doc.root, &pool);
    sm__sj_pool_release(&pool);
    sm_json_doc_release(&doc);
    return rc;
}

int sm__api_resolution_cancel(struct sm_http_req *req, struct sm_http_resp *resp)
{
    const char *id = sm_http_param(req, "id");
    struct sm_err err = SM_ERR_INIT;
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL)
        return sm_http_store_error(resp, &err);
    struct sm_sj_pool pool = {0};
    struct sm_pipeline_rec p;
    int rc = read_pipeline(store, id, &pool, &p, &err);
    if (rc == SM_ENOTFOUND) {
        rc = no_such_resolution(resp, id);
    } else if (rc != 0) {
        rc = sm_http_store_error(resp, &err);
    } else if (p.status == SM_PIPELINE_CANCELED) {
        rc = answer_resolution(store, resp, &p);
    } else if (is_terminal(p.status)) {
        rc = sm_http_error(resp, 400,
                           "Resolution cannot be canceled. Current state: %s; only a pipeline run "
                           "that has not finished can be",
                           sm_pipeline_status_name(p.status));
    } else if (sm_store_set_pipeline_status(store, id, SM_PIPELINE_CANCELED, &err) != 0) {
        rc = status_error(resp, &err);
    } else {
        /* As Sematic: the dashboard's graph view reloads (the cancel itself reaches /pipeline
         * sessions through the change feed, see socketio.c). */
        char data[64];
        snprintf(data, sizeof(data), "{\"run_id\":\"%s\"}", id);
        sm__sio_broadcast("/graph", "update", data, strlen(data));
        sm__sj_pool_release(&pool);
        rc = read_pipeline(store, id, &pool, &p, &err);
        rc = rc != 0 ? sm_http_store_error(resp, &err) : answer_resolution(store, resp, &p);
    }
    sm__sj_pool_release(&pool);
    return rc;
}

int sm__api_resolution_external_resources(struct sm_http_req *req, struct sm_http_resp *resp)
{
    (void)req;
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "external_resources");
    sm_jw_begin_array(w);
    sm_jw_end_array(w);
    sm_jw_end_object(w);
    return 0;
}
