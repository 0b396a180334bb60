/*
 * metrics.c: custom and system metrics, as Sematic's api/endpoints/metrics.py.
 *
 *   POST /api/v1/metrics {"metric_points": [{"name", "value", "metric_type"
 *        (0 COUNT, 1 GAUGE), "labels" {..}, "metric_time" (epoch seconds)}]}
 *        -> {}; with a user (authentication on) labels.user_id is theirs
 *   GET  /api/v1/metrics?labels={..}  -> {"content": [names]}
 *   GET  /api/v1/metrics/:name?labels=&from_time=&to_time=&group_by=&rollup=
 *        -> {"content": {"metric_name", "metric_type", "columns", "series"}}
 *
 * A series is Sematic's MetricSeries: each element is [value, [label
 * values...]] in the order of `columns`: "timestamp" (a bucket's start,
 * whole epoch seconds, as text) when rolled up, and the group_by label
 * (its value as text, "None" when a point lacks it). A COUNT's value is
 * the sum of its points, a GAUGE's their average. Buckets come from the
 * store (sm_store_metric_series), sized as Sematic sizes them (api.h,
 * sm__api_parse_rollup), but they start at from_time rather than at a
 * multiple of their width, and `auto` always buckets. group_by takes one
 * label here (Sematic takes a comma-separated list).
 */
#include <stdio.h>
#include <string.h>

#include "sematic/alloc.h"
#include "sematic/hash.h"
#include "sematic/store.h"

#include "api.h"
#include "handlers.h"
#include "internal.h"
#include "sematic_json.h"

#include "util/banned.h"

/* The most points one POST may carry. */
#define MAX_POINTS 100000
/* Room for the labels of one POST's points, as JSON text. */
#define LABELS_MAX_BYTES ((size_t)64 << 20)

/* Sematic's GroupBy values. */
static const char *const group_bys[] = {"run_id", "function_path", "root_id", "root_function_path"};
#define N_GROUP_BYS (sizeof(group_bys) / sizeof(group_bys[0]))

/* Labels of point i as JSON (the user's id set when there is one) appended to out. */
static void write_labels(struct sm_buf *out, const struct sm_json *labels, const char *user_id)
{
    struct sm_jw w;
    sm_jw_init(&w, out);
    sm_jw_begin_object(&w);
    for (size_t i = 0; labels != NULL && i < labels->n_items; i++) {
        const struct sm_json *m = &labels->items[i];
        if (user_id != NULL && strcmp(m->key, "user_id") == 0)
            continue;
        sm_jw_key(&w, m->key, m->key_len);
        sm__sj_write_sorted(&w, m);
    }
    if (user_id != NULL) {
        sm_jw_keyz(&w, "user_id");
        sm_jw_stringz(&w, user_id);
    }
    sm_jw_end_object(&w);
}

/* A 32-hex label (run_id, root_id) into out; "" when absent or not an id. */
static void id_label(const struct sm_json *labels, const char *name, char out[SM_ID_HEX_LEN + 1])
{
    const struct sm_json *v = sm_json_get(labels, name);
    out[0] = '\0';
    if (v != NULL && v->kind == SM_JSON_STRING && v->len == SM_ID_HEX_LEN &&
        sm_is_hex(v->str, SM_ID_HEX_LEN))
        memcpy(out, v->str, SM_ID_HEX_LEN + 1);
}

/* Read point `i` of the body into p (labels' text offset into texts). 0 or SM_EINVAL. */
static int read_point(const struct sm_json *v, size_t i, const char *user_id,
                      struct sm_metric_point *p, struct sm_buf *texts, size_t *labels_off,
                      struct sm_err *err)
{
    if (v->kind != SM_JSON_OBJECT)
        return sm_errf(err, SM_EINVAL, "metric_points[%zu] must be an object", i);
    const struct sm_json *name = sm_json_get(v, "name");
    const struct sm_json *value = sm_json_get(v, "value");
    const struct sm_json *type = sm_json_get(v, "metric_type");
    const struct sm_json *labels = sm_json_get(v, "labels");
    const struct sm_json *when = sm_json_get(v, "metric_time");
    if (name == NULL || name->kind != SM_JSON_STRING || name->len == 0)
        return sm_errf(err, SM_EINVAL, "metric_points[%zu]: 'name' must be a non-empty string", i);
    if (value == NULL || value->kind != SM_JSON_NUMBER)
        return sm_errf(err, SM_EINVAL, "metric_points[%zu]: 'value' must be a number", i);
    if (type == NULL || type->kind != SM_JSON_NUMBER || (type->num != 0 && type->num != 1))
        return sm_errf(err, SM_EINVAL,
                       "metric_points[%zu]: 'metric_type' must be 0 (COUNT) or 1 (GAUGE)", i);
    if (labels != NULL && labels->kind != SM_JSON_OBJECT && labels->kind != SM_JSON_NULL)
        return sm_errf(err, SM_EINVAL, "metric_points[%zu]: 'labels' must be an object", i);
    if (labels != NULL && labels->kind == SM_JSON_NULL)
        labels = NULL;
    if (when == NULL || when->kind != SM_JSON_NUMBER)
        return sm_errf(err, SM_EINVAL,
                       "metric_points[%zu]: 'metric_time' must be seconds since the epoch", i);
    int64_t ts;
    if (sm__api_parse_epoch_seconds("metric_time", when->str, &ts, err) != 0)
        return SM_EINVAL;
    *p = (struct sm_metric_point){
        .name = name->str,
        .value = value->num,
        .metric_type = type->num == 0 ? SM_METRIC_COUNT : SM_METRIC_GAUGE,
        .step = -1,
        .ts = ts,
    };
    id_label(labels, "run_id", p->run_id);
    id_label(labels, "root_id", p->root_id);
    *labels_off = texts->len;
    write_labels(texts, labels, user_id);
    if (sm_buf_addc(texts, '\0') != 0)
        return sm_errf(err, SM_ETOOBIG, "the labels of metric_points are larger than %zu bytes",
                       LABELS_MAX_BYTES);
    return 0;
}

int sm__api_metrics_post(struct sm_http_req *req, struct sm_http_resp *resp)
{
    struct sm_json_doc doc = {0};
    struct sm_err err = SM_ERR_INIT;
    struct sm_buf texts = SM_BUF_INIT(LABELS_MAX_BYTES);
    struct sm_metric_point *points = NULL;
    size_t *offsets = NULL;
    int rc = sm_http_body_json(req, resp, &doc);
    if (rc != 0)
        goto out;
    const struct sm_json *list = sm_json_get(doc.root, "metric_points");
    if (doc.root->kind != SM_JSON_OBJECT ||
        (list != NULL && list->kind != SM_JSON_ARRAY && list->kind != SM_JSON_NULL)) {
        rc = sm_http_error(resp, 400,
                           "Malformed payload: send {\"metric_points\": [{\"name\", \"value\", "
                           "\"metric_type\", \"labels\", \"metric_time\"}, ...]}");
        goto out;
    }
    size_t n = list != NULL && list->kind == SM_JSON_ARRAY ? list->n_items : 0;
    if (n > MAX_POINTS) {
        rc = sm_http_error(resp, 400,
                           "%zu metric points in one request is more than %d; send "
                           "them in several",
                           n, MAX_POINTS);
        goto out;
    }
    points = sm_xcalloc(n > 0 ? n : 1, sizeof(*points));
    offsets = sm_xcalloc(n > 0 ? n : 1, sizeof(*offsets));
    for (size_t i = 0; i < n; i++) {
        if (read_point(&list->items[i], i, req->user_id, &points[i], &texts, &offsets[i], &err) !=
            0) {
            rc = sm__api_bad_request(resp, &err);
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) /* texts has stopped moving */
        points[i].labels_json = texts.data + offsets[i];

    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL) {
        rc = sm_http_store_error(resp, &err);
        goto out;
    }
    if (sm_store_begin(store, &err) != 0 || sm_store_append_metrics(store, points, n, &err) != 0 ||
        sm_store_commit(store, &err) != 0) {
        sm_store_rollback(store);
        rc = sm_http_store_error(resp, &err);
        goto out;
    }
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_end_object(w);
out:
    sm_free(points);
    sm_free(offsets);
    sm_buf_release(&texts);
    sm_json_doc_release(&doc);
    return rc;
}

/* The labels parameter: NULL when absent; a 400 in resp (SM_EINVAL) when not a JSON object. */
static int labels_param(const struct sm_http_req *req, struct sm_http_resp *resp, const char **out)
{
    const char *text = sm_http_query(req, "labels");
    *out = NULL;
    if (text == NULL || text[0] == '\0')
        return 0;
    struct sm_json_doc doc = {0};
    struct sm_err err = SM_ERR_INIT;
    int rc = sm_json_parse(&doc, text, strlen(text), &err);
    bool is_object = rc == 0 && doc.root->kind == SM_JSON_OBJECT;
    sm_json_doc_release(&doc);
    if (rc != 0) {
        sm_http_error(resp, 400,
                      "Unable to deserialize labels: %s; send a JSON object such as "
                      "{\"function_path\": \"my.pipeline\"}",
                      err.msg);
        return SM_EINVAL;
    }
    if (!is_object) {
        sm_http_error(resp, 400,
                      "labels must be a JSON object such as {\"function_path\": "
                      "\"my.pipeline\"}");
        return SM_EINVAL;
    }
    *out = text;
    return 0;
}

static int write_name(void *ctx, const char *name)
{
    sm_jw_stringz(ctx, name);
    return 0;
}

int sm__api_metric_names(struct sm_http_req *req, struct sm_http_resp *resp)
{
    const char *labels;
    if (labels_param(req, resp, &labels) != 0)
        return SM_EINVAL;
    struct sm_err err = SM_ERR_INIT;
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL)
        return sm_http_store_error(resp, &err);
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "content");
    sm_jw_begin_array(w);
    if (sm_store_list_metric_names(store, labels, write_name, w, &err) != 0)
        return sm_http_store_error(resp, &err);
    sm_jw_end_array(w);
    sm_jw_end_object(w);
    return 0;
}

struct series_writer {
    struct sm_jw *w;
    enum sm_api_rollup_kind rollup;
    bool grouped;
    int metric_type; /* of the last bucket; -1 while none */
};

static int write_bucket(void *ctx, const struct sm_metric_bucket *b)
{
    struct series_writer *s = ctx;
    struct sm_jw *w = s->w;
    char stamp[32];
    int64_t seconds =
        b->start_us >= 0 ? b->start_us / 1000000 : -((-b->start_us + 999999) / 1000000);
    snprintf(stamp, sizeof(stamp), "%lld", (long long)seconds);
    const char *group = b->group != NULL ? b->group : "None"; /* Python's str(None) */
    s->metric_type = b->metric_type;
    sm_jw_begin_array(w);
    sm_jw_double(w, b->metric_type == SM_METRIC_GAUGE ? b->avg : b->sum);
    sm_jw_begin_array(w);
    if (s->rollup == SM_API_ROLLUP_SECONDS)
        sm_jw_stringz(w, stamp);
    if (s->grouped)
        sm_jw_stringz(w, group);
    if (s->rollup == SM_API_ROLLUP_AUTO)
        sm_jw_stringz(w, stamp);
    sm_jw_end_array(w);
    sm_jw_end_array(w);
    return 0;
}

int sm__api_metric_series(struct sm_http_req *req, struct sm_http_resp *resp)
{
    struct sm_err err = SM_ERR_INIT;
    const char *name = sm_http_param(req, "name");
    const char *labels;
    if (labels_param(req, resp, &labels) != 0)
        return SM_EINVAL;
    int64_t from_us = 0, to_us = sm_now_us();
    const char *from = sm_http_query(req, "from_time"), *to = sm_http_query(req, "to_time");
    if ((from != NULL && sm__api_parse_epoch_seconds("from_time", from, &from_us, &err) != 0) ||
        (to != NULL && sm__api_parse_epoch_seconds("to_time", to, &to_us, &err) != 0))
        return sm__api_bad_request(resp, &err);
    if (from_us > to_us)
        return sm_http_error(resp, 400,
                             "from_time is after to_time; give a from_time at or before to_time");
    struct sm_api_rollup rollup;
    if (sm__api_parse_rollup(sm_http_query(req, "rollup"), from_us, to_us, &rollup, &err) != 0)
        return sm__api_bad_request(resp, &err);
    const char *group_by = sm_http_query(req, "group_by");
    if (group_by != NULL && group_by[0] == '\0')
        group_by = NULL;
    if (group_by != NULL) {
        bool known = false;
        for (size_t i = 0; i < N_GROUP_BYS; i++)
            known = known || strcmp(group_by, group_bys[i]) == 0;
        if (!known) {
            char shown[96];
            sm__http_sanitize(group_by, shown, sizeof(shown));
            return sm_http_error(resp, 400,
                                 "Unrecognized group_by '%s'. Options are: run_id, "
                                 "function_path, root_id, root_function_path (one at a time)",
                                 shown);
        }
    }

    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL)
        return sm_http_store_error(resp, &err);
    struct sm_metric_query q = {
        .name = name,
        .labels_json = labels,
        .group_by = group_by,
        .from_us = from_us,
        .to_us = to_us,
        .n_buckets = rollup.n_buckets,
    };
    struct series_writer s = {
        .w = sm_http_json(resp, 200),
        .rollup = rollup.kind,
        .grouped = group_by != NULL,
        .metric_type = -1,
    };
    struct sm_jw *w = s.w;
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "content");
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "columns");
    sm_jw_begin_array(w);
    if (rollup.kind == SM_API_ROLLUP_SECONDS)
        sm_jw_stringz(w, "timestamp");
    if (group_by != NULL)
        sm_jw_stringz(w, group_by);
    if (rollup.kind == SM_API_ROLLUP_AUTO)
        sm_jw_stringz(w, "timestamp");
    sm_jw_end_array(w);
    sm_jw_keyz(w, "metric_name");
    sm_jw_stringz(w, name);
    sm_jw_keyz(w, "series");
    sm_jw_begin_array(w);
    int rc = sm_store_metric_series(store, &q, write_bucket, &s, &err);
    if (rc == SM_ENOTFOUND) {
        char shown[160];
        sm__http_sanitize(name, shown, sizeof(shown));
        return sm_http_error(resp, 404,
                             "No metric named '%s' was found; GET /api/v1/metrics lists the names",
                             shown);
    }
    if (rc != 0)
        return sm_http_store_error(resp, &err);
    sm_jw_end_array(w);
    sm_jw_keyz(w, "metric_type");
    sm_jw_stringz(w, s.metric_type == SM_METRIC_GAUGE   ? "GAUGE"
                     : s.metric_type == SM_METRIC_COUNT ? "COUNT"
                                                        : NULL);
    sm_jw_end_object(w);
    sm_jw_end_object(w);
    return 0;
}
