/*
 * store_api.c: the server side of the HTTP store (src/core/store/http.c):
 * private endpoints under /api/v1/store through which our SDK, with
 * SEMATIC_API_ADDRESS set, uses this server's store as if it were its own.
 * They are not part of Sematic's API (docs/server.md, "Our SDK's store
 * API"; the protocol is docs/internals/http_store.md).
 *
 * Records travel in the lossless JSON of rec_json.h and each endpoint is
 * one sm_store_* call (or, for POST /api/v1/store/batch, one store batch),
 * so a remote LocalRunner writes exactly what a local one would.
 *
 * Errors are {"error": message, "code": "SM_E..."}: the store's own message
 * and code for what the caller can fix (400 SM_EINVAL, 404 SM_ENOTFOUND,
 * 409 SM_EINVALID_TRANSITION / SM_ESTATE, 413 SM_ETOOBIG), a fixed message
 * for 503 (busy) and 507 (no space), and for anything else a 500 whose
 * detail goes to the server log only. The client maps "code" back.
 *
 * Start reading at sm__store_api_batch().
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sematic/rec_json.h"

#include "handlers.h"
#include "internal.h"

#include "util/banned.h"

/* Cap on a payload or source read into memory for an answer (the answer's own cap is 1 GiB). */
#define READ_MAX_BYTES ((size_t)1 << 30)

/* ------------------------------------------------------------ errors */

/* {"error": message, "code": name} with this status. Returns 0. */
static int api_error(struct sm_http_resp *resp, int status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int api_error(struct sm_http_resp *resp, int status, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char clean[512];
    sm__http_sanitize(msg, clean, sizeof(clean));
    struct sm_jw *w = sm_http_json(resp, status);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "error");
    sm_jw_stringz(w, clean);
    sm_jw_keyz(w, "code");
    sm_jw_stringz(w, sm_err_name(code));
    sm_jw_end_object(w);
    return 0;
}

/*
 * The answer to a failed store call; `prefix` ("op 3 (run): ", or "") goes
 * before the store's message. Returns 0.
 */
static int store_fail(struct sm_http_resp *resp, const char *prefix, const struct sm_err *err)
{
    const char *msg = err->msg[0] != '\0' ? err->msg : sm_strerror(err->code);
    switch (err->code) {
    case SM_EINVAL:
        return api_error(resp, 400, err->code, "%s%s", prefix, msg);
    case SM_ENOTFOUND:
        return api_error(resp, 404, err->code, "%s%s", prefix, msg);
    case SM_EINVALID_TRANSITION:
    case SM_ESTATE:
        return api_error(resp, 409, err->code, "%s%s", prefix, msg);
    case SM_ETOOBIG:
        return api_error(resp, 413, err->code, "%s%s", prefix, msg);
    case SM_EBUSY:
        sm__http_textf(resp->log_detail, sizeof(resp->log_detail), "%s", msg);
        return api_error(resp, 503, err->code,
                         "the server's store is busy (another process held its write lock past "
                         "the busy timeout); try again");
    case SM_ENOSPC:
        sm__http_textf(resp->log_detail, sizeof(resp->log_detail), "%s", msg);
        return api_error(resp, 507, err->code,
                         "the server's store has no space left on its device; free space on "
                         "the server host");
    default:
        sm__http_textf(resp->log_detail, sizeof(resp->log_detail), "%s%s: %.200s", prefix,
                       sm_err_name(err->code), msg);
        return api_error(resp, 500, err->code,
                         "internal error in the server's store; the server log "
                         "($SEMATIC_HOME/logs/server.log) has the detail");
    }
}

/* 400 for a query parameter this endpoint does not take (a misspelled filter must not list
 * everything). names ends with NULL. Returns 0 when every parameter is known, else SM_EINVAL. */
static int check_params(const struct sm_http_req *req, struct sm_http_resp *resp,
                        const char *const *names)
{
    for (size_t i = 0; i < req->target->n_query; i++) {
        const char *name = req->target->query[i].name;
        size_t k = 0;
        while (names[k] != NULL && strcmp(names[k], name) != 0)
            k++;
        if (names[k] != NULL)
            continue;
        char known[256] = "";
        size_t n = 0;
        for (k = 0; names[k] != NULL && n < sizeof(known); k++)
            n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s", k ? ", " : "", names[k]);
        api_error(resp, 400, SM_EINVAL, "unknown query parameter '%.60s' of %s; it takes %s", name,
                  req->target->raw_path, known[0] ? known : "none");
        return SM_EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------------ the batch */

/* Put one operation into the store (inside the open batch). */
static int apply_op(struct sm_store *store, const struct sm_rec_op *op, struct sm_err *err)
{
    char id[SM_SHA256_HEX_LEN + 1];
    switch (op->kind) {
    case SM_REC_OP_RUN:
        return sm_store_put_run(store, &op->u.run, err);
    case SM_REC_OP_ARTIFACT:
        return sm_store_put_artifact(store, &op->u.artifact.rec, op->u.artifact.payload,
                                     op->u.artifact.len, err);
    case SM_REC_OP_EDGE:
        return sm_store_put_edge(store, &op->u.edge, err);
    case SM_REC_OP_PIPELINE:
        return sm_store_put_pipeline(store, &op->u.pipeline, err);
    case SM_REC_OP_SOURCE:
        return sm_store_put_source(store, op->u.source.text, op->u.source.len, id, err);
    case SM_REC_OP_LOG:
        return sm_store_append_log(store, &op->u.log, err);
    }
    return sm_errf(err, SM_EINVAL, "unknown operation kind %d", (int)op->kind);
}

/*
 * POST /api/v1/store/batch {"key": KEY, "ops": [operation, ...]} (rec_json.h):
 * every operation in one store batch, all or nothing. 200 {"n_ops",
 * "n_skipped", "change_seq"}; a bad operation or one the store refuses is a
 * 4xx naming its index, and nothing is written.
 *
 * KEY (optional, 32 lower-case hex digits) names the batch: one that arrives
 * again under a key already applied is not applied again (all its operations
 * count as skipped), so a retry after a lost answer appends no log line twice.
 *
 * With "X-Sematic-Replay: 1" the client says it sends the batch again after
 * a delivery that may have been applied (the answer was lost). Puts are
 * upserts, so applying it twice is harmless, except for pipeline statuses:
 * a batch that moved a pipeline run from SCHEDULED to RUNNING would now go
 * back. So in a replay a pipeline operation whose status change the store
 * refuses is skipped (counted in n_skipped) instead of failing the batch.
 */
int sm__store_api_batch(struct sm_http_req *req, struct sm_http_resp *resp)
{
    struct sm_json_doc doc = {0};
    int rc = sm_http_body_json(req, resp, &doc);
    if (rc != 0)
        return rc;
    const struct sm_json *ops = NULL, *key = NULL;
    if (doc.root->kind == SM_JSON_OBJECT) {
        ops = sm_json_get(doc.root, "ops");
        key = sm_json_get(doc.root, "key");
    }
    if (ops == NULL || ops->kind != SM_JSON_ARRAY || doc.root->n_items != (key != NULL ? 2u : 1u) ||
        (key != NULL && key->kind != SM_JSON_STRING)) {
        sm_json_doc_release(&doc);
        return api_error(resp, 400, SM_EINVAL,
                         "invalid batch: expected {\"key\": \"32 hex digits\", \"ops\": "
                         "[operation, ...]} (the key may be left out) and no other key "
                         "(docs/internals/http_store.md)");
    }
    struct sm_err err = SM_ERR_INIT;
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL) {
        sm_json_doc_release(&doc);
        return store_fail(resp, "", &err);
    }
    if (sm_store_begin(store, &err) != 0) {
        sm_json_doc_release(&doc);
        return store_fail(resp, "", &err);
    }
    const char *replay_header = sm_http_header(req, "X-Sematic-Replay");
    bool replay = replay_header != NULL && strcmp(replay_header, "1") == 0;
    size_t n_skipped = 0;
    bool seen = false;
    if (key != NULL && sm_store_claim_batch_key(store, key->str, &seen, &err) != 0) {
        sm_store_rollback(store);
        sm_json_doc_release(&doc);
        return store_fail(resp, "key: ", &err);
    }
    if (seen) {
        /* Applied when it came first: answer as then, writing nothing. */
        sm_store_rollback(store);
        sm_http_log(req, "batch '%s' applied already: skipped", key->str);
        n_skipped = ops->n_items;
    }
    struct sm_buf payload = SM_BUF_INIT(READ_MAX_BYTES);
    for (size_t i = 0; i < ops->n_items && !seen; i++) {
        struct sm_rec_op op;
        char prefix[80];
        if (sm_rec_json_read_op(&ops->items[i], &op, &payload, &err) != 0) {
            snprintf(prefix, sizeof(prefix), "op %zu: ", i);
            goto fail_op;
        }
        int rc_op = apply_op(store, &op, &err);
        if (rc_op == SM_EINVALID_TRANSITION && replay && op.kind == SM_REC_OP_PIPELINE) {
            sm_http_log(req, "replayed batch: op %zu skipped: %s", i, err.msg);
            sm_err_clear(&err);
            n_skipped++;
            continue;
        }
        if (rc_op != 0) {
            snprintf(prefix, sizeof(prefix), "op %zu (%s): ", i, sm_rec_op_kind_name(op.kind));
            goto fail_op;
        }
        continue;
    fail_op:
        sm_store_rollback(store);
        sm_buf_release(&payload);
        sm_json_doc_release(&doc);
        return store_fail(resp, prefix, &err);
    }
    sm_buf_release(&payload);
    size_t n_ops = ops->n_items;
    sm_json_doc_release(&doc);
    if (!seen && sm_store_commit(store, &err) != 0)
        return store_fail(resp, "", &err);
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "n_ops");
    sm_jw_int(w, (int64_t)n_ops);
    sm_jw_keyz(w, "n_skipped");
    sm_jw_int(w, (int64_t)n_skipped);
    sm_jw_keyz(w, "change_seq");
    sm_jw_int(w, sm_store_change_seq(store));
    sm_jw_end_object(w);
    return 0;
}

/* ------------------------------------------------------------ reads */

/* This request's store, or NULL after putting the error in resp. */
static struct sm_store *store_or_fail(struct sm_http_req *req, struct sm_http_resp *resp)
{
    struct sm_err err = SM_ERR_INIT;
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL)
        store_fail(resp, "", &err);
    return store;
}

/* GET /api/v1/store/change_seq: {"change_seq": N}. */
int sm__store_api_change_seq(struct sm_http_req *req, struct sm_http_resp *resp)
{
    static const char *const params[] = {NULL};
    if (check_params(req, resp, params) != 0)
        return SM_EINVAL;
    struct sm_store *store = store_or_fail(req, resp);
    if (store == NULL)
        return 0;
    int64_t seq = sm_store_change_seq(store);
    if (seq < 0) {
        struct sm_err err = SM_ERR_INIT;
        sm_errf(&err, SM_EIO, "cannot read the store's change sequence");
        return store_fail(resp, "", &err);
    }
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "change_seq");
    sm_jw_int(w, seq);
    sm_jw_end_object(w);
    return 0;
}

/* is_new is a write hint that reads leave unset: it is sent as false. */
static int write_run(void *ctx, const struct sm_run_rec *run)
{
    struct sm_run_rec r = *run;
    r.is_new = false;
    sm_rec_json_write_run(ctx, &r);
    return 0;
}

static int write_edge(void *ctx, const struct sm_edge_rec *e)
{
    struct sm_edge_rec copy = *e;
    copy.is_new = false;
    sm_rec_json_write_edge(ctx, &copy);
    return 0;
}

/* GET /api/v1/store/runs/:id: {"run": record}. */
int sm__store_api_run(struct sm_http_req *req, struct sm_http_resp *resp)
{
    static const char *const params[] = {NULL};
    if (check_params(req, resp, params) != 0)
        return SM_EINVAL;
    struct sm_store *store = store_or_fail(req, resp);
    if (store == NULL)
        return 0;
    struct sm_err err = SM_ERR_INIT;
    struct sm_run_rec run;
    if (sm_store_get_run(store, sm_http_param(req, "id"), &run, &err) != 0)
        return store_fail(resp, "", &err);
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "run");
    write_run(w, &run);
    sm_jw_end_object(w);
    return 0;
}

static int write_artifact(void *ctx, const struct sm_artifact_rec *a)
{
    sm_rec_json_write_artifact(ctx, a);
    return 0;
}

static int write_log(void *ctx, const struct sm_log_rec *l)
{
    sm_rec_json_write_log(ctx, l);
    return 0;
}

/*
 * GET /api/v1/store/runs?root_id=&parent_id=&function_path=&name=&tag=&cache_key=&search=
 * &state_mask=&roots_only=&oldest_first=&limit=: sm_store_list_runs() with struct
 * sm_run_query's fields; {"runs": [record, ...]}.
 */
int sm__store_api_runs(struct sm_http_req *req, struct sm_http_resp *resp)
{
    static const char *const params[] = {
        "root_id", "parent_id",  "function_path", "name",         "tag",   "cache_key",
        "search",  "state_mask", "roots_only",    "oldest_first", "limit", NULL};
    if (check_params(req, resp, params) != 0)
        return SM_EINVAL;
    struct sm_run_query q = {0};
    q.root_id = sm_http_query(req, "root_id");
    q.parent_id = sm_http_query(req, "parent_id");
    q.function_path = sm_http_query(req, "function_path");
    q.name = sm_http_query(req, "name");
    q.tag = sm_http_query(req, "tag");
    q.cache_key = sm_http_query(req, "cache_key");
    q.search = sm_http_query(req, "search");
    int64_t mask, limit;
    int rc = sm_http_query_int(req, resp, "state_mask", 0, 0, (1 << SM_STATE_COUNT) - 1, &mask);
    if (rc == 0)
        rc = sm_http_query_int(req, resp, "limit", 0, 0, INT64_MAX, &limit);
    if (rc == 0)
        rc = sm_http_query_bool(req, resp, "roots_only", false, &q.roots_only);
    if (rc == 0)
        rc = sm_http_query_bool(req, resp, "oldest_first", false, &q.oldest_first);
    if (rc != 0)
        return rc;
    q.state_mask = (unsigned)mask;
    q.limit = limit;
    struct sm_store *store = store_or_fail(req, resp);
    if (store == NULL)
        return 0;
    struct sm_err err = SM_ERR_INIT;
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "runs");
    sm_jw_begin_array(w);
    if (sm_store_list_runs(store, &q, write_run, w, &err) != 0)
        return store_fail(resp, "", &err);
    sm_jw_end_array(w);
    sm_jw_end_object(w);
    return 0;
}

/* GET /api/v1/store/artifacts/:id?payload=true: {"artifact": record, "payload": base64}
 * ("payload" only when asked for). */
int sm__store_api_artifact(struct sm_http_req *req, struct sm_http_resp *resp)
{
    static const char *const params[] = {"payload", NULL};
    bool want_payload;
    if (check_params(req, resp, params) != 0)
        return SM_EINVAL;
    int rc = sm_http_query_bool(req, resp, "payload", false, &want_payload);
    if (rc != 0)
        return rc;
    struct sm_store *store = store_or_fail(req, resp);
    if (store == NULL)
        return 0;
    struct sm_err err = SM_ERR_INIT;
    struct sm_artifact_rec a;
    struct sm_buf payload = SM_BUF_INIT(READ_MAX_BYTES);
    if (sm_store_get_artifact(store, sm_http_param(req, "id"), &a, want_payload ? &payload : NULL,
                              &err) != 0) {
        sm_buf_release(&payload);
        return store_fail(resp, "", &err);
    }
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "artifact");
    sm_rec_json_write_artifact(w, &a);
    if (want_payload) {
        sm_jw_keyz(w, "payload");
        sm_jw_base64(w, payload.data ? payload.data : "", payload.len);
    }
    sm_jw_end_object(w);
    sm_buf_release(&payload);
    return 0;
}

/* GET /api/v1/store/artifacts?root_id=: sm_store_list_artifacts(); {"artifacts": [...]}. */
int sm__store_api_artifacts(struct sm_http_req *req, struct sm_http_resp *resp)
{
    static const char *const params[] = {"root_id", NULL};
    if (check_params(req, resp, params) != 0)
        return SM_EINVAL;
    struct sm_store *store = store_or_fail(req, resp);
    if (store == NULL)
        return 0;
    struct sm_err err = SM_ERR_INIT;
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "artifacts");
    sm_jw_begin_array(w);
    if (sm_store_list_artifacts(store, sm_http_query(req, "root_id"), write_artifact, w, &err) != 0)
        return store_fail(resp, "", &err);
    sm_jw_end_array(w);
    sm_jw_end_object(w);
    return 0;
}

/* GET /api/v1/store/edges?root_id=&run_id=: sm_store_list_edges(); {"edges": [...]}. */
int sm__store_api_edges(struct sm_http_req *req, struct sm_http_resp *resp)
{
    static const char *const params[] = {"root_id", "run_id", NULL};
    if (check_params(req, resp, params) != 0)
        return SM_EINVAL;
    struct sm_store *store = store_or_fail(req, resp);
    if (store == NULL)
        return 0;
    struct sm_err err = SM_ERR_INIT;
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "edges");
    sm_jw_begin_array(w);
    if (sm_store_list_edges(store, sm_http_query(req, "root_id"), sm_http_query(req, "run_id"),
                            write_edge, w, &err) != 0)
        return store_fail(resp, "", &err);
    sm_jw_end_array(w);
    sm_jw_end_object(w);
    return 0;
}

/* GET /api/v1/store/pipelines/:root_id: {"pipeline": record}. */
int sm__store_api_pipeline(struct sm_http_req *req, struct sm_http_resp *resp)
{
    static const char *const params[] = {NULL};
    if (check_params(req, resp, params) != 0)
        return SM_EINVAL;
    struct sm_store *store = store_or_fail(req, resp);
    if (store == NULL)
        return 0;
    struct sm_err err = SM_ERR_INIT;
    struct sm_pipeline_rec p;
    if (sm_store_get_pipeline(store, sm_http_param(req, "root_id"), &p, &err) != 0)
        return store_fail(resp, "", &err);
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "pipeline");
    sm_rec_json_write_pipeline(w, &p);
    sm_jw_end_object(w);
    return 0;
}

/*
 * POST /api/v1/store/pipelines/:root_id/status {"status": N} (enum
 * sm_pipeline_status): sm_store_set_pipeline_status(); {"change_seq": N}.
 */
int sm__store_api_pipeline_status(struct sm_http_req *req, struct sm_http_resp *resp)
{
    struct sm_json_doc doc = {0};
    int rc = sm_http_body_json(req, resp, &doc);
    if (rc != 0)
        return rc;
    const struct sm_json *v = NULL;
    if (doc.root->kind == SM_JSON_OBJECT && doc.root->n_items == 1)
        v = sm_json_get(doc.root, "status");
    int64_t status = -1;
    if (v != NULL && v->kind == SM_JSON_NUMBER && strpbrk(v->str, ".eE") == NULL && v->len < 4)
        status = v->num >= 0 && v->num < SM_PIPELINE_STATUS_COUNT ? (int64_t)v->num : -1;
    sm_json_doc_release(&doc);
    if (status < 0)
        return api_error(resp, 400, SM_EINVAL,
                         "invalid status change: expected {\"status\": N} with N from 0 to %d "
                         "(enum sm_pipeline_status) and no other key",
                         SM_PIPELINE_STATUS_COUNT - 1);
    struct sm_store *store = store_or_fail(req, resp);
    if (store == NULL)
        return 0;
    struct sm_err err = SM_ERR_INIT;
    if (sm_store_set_pipeline_status(store, sm_http_param(req, "root_id"), (int)status, &err) != 0)
        return store_fail(resp, "", &err);
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "change_seq");
    sm_jw_int(w, sm_store_change_seq(store));
    sm_jw_end_object(w);
    return 0;
}

/* GET /api/v1/store/sources/:id: {"text": source}. */
int sm__store_api_source(struct sm_http_req *req, struct sm_http_resp *resp)
{
    static const char *const params[] = {NULL};
    if (check_params(req, resp, params) != 0)
        return SM_EINVAL;
    struct sm_store *store = store_or_fail(req, resp);
    if (store == NULL)
        return 0;
    struct sm_err err = SM_ERR_INIT;
    struct sm_buf text = SM_BUF_INIT(READ_MAX_BYTES);
    if (sm_store_get_source(store, sm_http_param(req, "id"), &text, &err) != 0) {
        sm_buf_release(&text);
        return store_fail(resp, "", &err);
    }
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "text");
    sm_jw_string(w, text.data ? text.data : "", text.len);
    sm_jw_end_object(w);
    sm_buf_release(&text);
    return 0;
}

/* GET /api/v1/store/logs/:run_id?after_id=&limit=: sm_store_read_logs(); {"logs": [...]}. */
int sm__store_api_logs(struct sm_http_req *req, struct sm_http_resp *resp)
{
    static const char *const params[] = {"after_id", "limit", NULL};
    if (check_params(req, resp, params) != 0)
        return SM_EINVAL;
    int64_t after, limit;
    int rc = sm_http_query_int(req, resp, "after_id", 0, INT64_MIN, INT64_MAX, &after);
    if (rc == 0)
        rc = sm_http_query_int(req, resp, "limit", 0, 0, INT64_MAX, &limit);
    if (rc != 0)
        return rc;
    struct sm_store *store = store_or_fail(req, resp);
    if (store == NULL)
        return 0;
    struct sm_err err = SM_ERR_INIT;
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "logs");
    sm_jw_begin_array(w);
    if (sm_store_read_logs(store, sm_http_param(req, "run_id"), after, limit, write_log, w, &err) !=
        0)
        return store_fail(resp, "", &err);
    sm_jw_end_array(w);
    sm_jw_end_object(w);
    return 0;
}
