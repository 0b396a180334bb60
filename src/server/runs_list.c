/*
 * runs_list.c: GET /api/v1/runs (Sematic's run listing) and
 * GET /api/v1/runs/:id/metrics (a function's basic pipeline metrics).
 *
 * The listing is the dashboard's busiest call (its pipelines index and
 * every runs table), load-tested by bench/server_load.py, so it is one
 * store query (sm_store_query_runs: keyset pages, filters compiled to SQL,
 * the count in the same read) whose rows are written straight into the
 * response as they come: no list of runs is built, and a function's
 * source text is read once per page, not once per run, since the runs of
 * a page mostly share their function.
 *
 * Shapes are Sematic's (api/endpoints/runs.py): {"current_page_url",
 * "next_page_url", "limit", "next_cursor", "after_cursor_count",
 * "content"}; the page URLs carry only limit and cursor, as there. Where
 * we differ, deliberately: a last page has next_cursor null (Sematic
 * hands out a cursor to an empty page when limit is -1), cursors page in
 * the order asked for (Sematic compares them as if newest first), and
 * the garbage-collection pseudo-filters are a 400 (api.h).
 *
 * Start at sm__api_runs_list().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sematic/alloc.h"
#include "sematic/hash.h"

#include "api.h"
#include "handlers.h"
#include "internal.h"
#include "sematic_json.h"

#include "util/banned.h"

/* The largest source text a listing reads for a run (larger ones are left out: ""). */
#define SOURCE_MAX_BYTES ((size_t)16 << 20)
/* How long a request waits for another's computation of the count it needs. */
#define COUNT_WAIT_MS 5000
/* Longest group_by or search a request may send. */
#define TEXT_PARAM_MAX 1024

/* One page being written. */
struct page_writer {
    struct sm_jw *w;
    struct sm_store *store;
    bool ids_only;
    char source_id[SM_SHA256_HEX_LEN + 1]; /* the source text in `source`; "" when none */
    struct sm_buf source;
    struct sm_err err; /* a failed source read */
};

static int write_run(void *ctx, const struct sm_run_rec *r)
{
    struct page_writer *p = ctx;
    if (p->ids_only) {
        sm_jw_begin_object(p->w);
        sm_jw_keyz(p->w, "id");
        sm_jw_stringz(p->w, r->id);
        sm_jw_end_object(p->w);
        return 0;
    }
    const char *source = NULL;
    size_t source_len = 0;
    if (r->source_id != NULL && r->source_id[0] != '\0') {
        if (strcmp(p->source_id, r->source_id) != 0) {
            /* The listing's row stays valid: its statement is not stepped by this read. */
            sm_buf_reset(&p->source);
            p->source_id[0] = '\0';
            int rc = sm_store_get_source(p->store, r->source_id, &p->source, &p->err);
            if (rc == SM_ETOOBIG || rc == SM_ENOTFOUND) {
                sm_err_clear(&p->err); /* shown as "" rather than failing the page */
                sm_buf_reset(&p->source);
            } else if (rc != 0) {
                return rc;
            }
            snprintf(p->source_id, sizeof(p->source_id), "%s", r->source_id);
        }
        source = p->source.data;
        source_len = p->source.len;
    }
    sm__sj_write_run(p->w, r, source, source_len);
    return 0;
}

/*
 * What names a listing's count: every parameter that changes it, each as
 * "<length>:<text>" so no two listings share a key. Empty (no caching) when
 * it is over the buffer's cap.
 */
static void count_key(struct sm_buf *key, const struct sm_http_req *req, const struct sm_query *q)
{
    const char *filters = sm_http_query(req, "filters");
    const char *parts[] = {q->ascending ? "asc" : "desc", q->group_by, q->search, q->cursor,
                           filters};
    sm_buf_adds(key, "runs");
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        const char *part = parts[i] != NULL ? parts[i] : "";
        sm_buf_addf(key, "|%zu:", strlen(part));
        sm_buf_adds(key, part);
    }
}

/* A text parameter, "" treated as absent (Sematic's _none_if_empty). */
static const char *text_param(const struct sm_http_req *req, const char *name)
{
    const char *v = sm_http_query(req, name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

int sm__api_runs_list(struct sm_http_req *req, struct sm_http_resp *resp)
{
    int64_t limit;
    bool ascending, ids_only;
    struct sm_err err = SM_ERR_INIT;
    if (sm__api_limit(req, resp, SM_API_DEFAULT_LIMIT, &limit) != 0 ||
        sm__api_order(req, resp, false, &ascending) != 0)
        return SM_EINVAL;
    if (sm__api_parse_fields(sm_http_query(req, "fields"), &ids_only, &err) != 0)
        return sm__api_bad_request(resp, &err);
    const char *group_by = text_param(req, "group_by");
    if (group_by != NULL && sm_filter_column_find(SM_ENTITY_RUNS, group_by) < 0) {
        char shown[96];
        sm__http_sanitize(group_by, shown, sizeof(shown));
        return sm_http_error(resp, 400,
                             "Unsupported group_by value '%s'; group by a column of runs, such "
                             "as function_path",
                             shown);
    }
    const char *search = sm_http_query(req, "search");
    if (search != NULL && strlen(search) > TEXT_PARAM_MAX)
        return sm_http_error(resp, 400, "search is longer than %d bytes; search for less",
                             TEXT_PARAM_MAX);
    const char *cursor = text_param(req, "cursor");

    struct sm_filter filter;
    int rc = sm__api_filters(req, resp, SM_ENTITY_RUNS, &filter);
    if (rc != 0)
        goto out_filter;
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL) {
        rc = sm_http_store_error(resp, &err);
        goto out_filter;
    }

    struct sm_query q = {
        .filter = filter.root != NULL ? &filter : NULL,
        .search = search,
        .group_by = group_by,
        .cursor = cursor,
        .limit = limit,
        .ascending = ascending,
    };
    /* The count is the costly part: one per change of the store (count_cache.c). */
    struct sm_count_cache *cache = sm__server_count_cache(req->server);
    struct sm_buf key = SM_BUF_INIT(1 << 20);
    count_key(&key, req, &q);
    int64_t seq = key.len > 0 ? sm_store_change_seq(store) : -1;
    int64_t count = -1;
    enum sm_count_lookup lookup =
        sm__count_cache_get(cache, key.data != NULL ? key.data : "", seq, COUNT_WAIT_MS, &count);
    q.count = lookup != SM_COUNT_HIT;
    struct page_writer p = {.store = store, .ids_only = ids_only, .err = SM_ERR_INIT};
    sm_buf_init(&p.source, SOURCE_MAX_BYTES);
    /* The Host header goes into the page URLs: made safe for JSON, as the client's text. */
    char host[256];
    sm__http_sanitize(sm_http_header(req, "Host") != NULL ? sm_http_header(req, "Host") : "", host,
                      sizeof(host));
    const char *path = req->target->raw_path;

    p.w = sm_http_json(resp, 200);
    sm_jw_begin_object(p.w);
    struct sm_buf url = SM_BUF_INIT(8192);
    sm__api_page_url(&url, host, path, limit, cursor);
    sm_jw_keyz(p.w, "current_page_url");
    sm_jw_string(p.w, url.data, url.len);
    sm_jw_keyz(p.w, "limit");
    sm_jw_int(p.w, limit);
    sm_jw_keyz(p.w, "content");
    sm_jw_begin_array(p.w);
    struct sm_page page;
    rc = sm_store_query_runs(store, &q, write_run, &p, &page, &err);
    if (rc == 0 && q.count)
        count = page.after_cursor_count;
    if (lookup == SM_COUNT_CLAIMED)
        sm__count_cache_put(cache, key.data, seq, rc == 0 ? count : -1);
    sm_buf_release(&key);
    if (rc == 0) {
        sm_jw_end_array(p.w);
        bool has_next = page.next_cursor[0] != '\0';
        sm_jw_keyz(p.w, "next_cursor");
        sm_jw_stringz(p.w, has_next ? page.next_cursor : NULL);
        sm_jw_keyz(p.w, "next_page_url");
        if (has_next) {
            sm_buf_reset(&url);
            sm__api_page_url(&url, host, path, limit, page.next_cursor);
            sm_jw_string(p.w, url.data, url.len);
        } else {
            sm_jw_null(p.w);
        }
        sm_jw_keyz(p.w, "after_cursor_count");
        sm_jw_int(p.w, count);
        sm_jw_end_object(p.w);
    } else {
        /* The page was half written: the error replaces it. */
        rc = sm_http_store_error(resp, p.err.code != 0 ? &p.err : &err);
    }
    sm_buf_release(&url);
    sm_buf_release(&p.source);
out_filter:
    sm_filter_release(&filter);
    return rc;
}

/* ----------------------------------------------- GET /api/v1/runs/:id/metrics */

/* One function's runtimes among a pipeline's runs. */
struct runtime {
    char *path; /* owned */
    double sum_s;
    int64_t n; /* runs with both started_at and resolved_at */
};

struct metrics {
    int64_t count_by_state[SM_STATE_COUNT];
    struct runtime *runtimes;
    size_t n_runtimes, cap_runtimes;
    size_t last; /* the entry found last: a pipeline's runs come in runs of one function */
};

/* The most distinct functions one pipeline's runtimes are kept for. */
#define MAX_FUNCTIONS 100000

static int count_state(void *ctx, const struct sm_run_rec *r)
{
    struct metrics *m = ctx;
    if (r->state >= 0 && r->state < SM_STATE_COUNT)
        m->count_by_state[r->state]++;
    return 0;
}

static int add_runtime(void *ctx, const struct sm_run_rec *r)
{
    struct metrics *m = ctx;
    const char *path = r->function_path != NULL ? r->function_path : "";
    struct runtime *e = NULL;
    if (m->last < m->n_runtimes && strcmp(m->runtimes[m->last].path, path) == 0) {
        e = &m->runtimes[m->last];
    } else {
        for (size_t i = 0; i < m->n_runtimes && e == NULL; i++)
            if (strcmp(m->runtimes[i].path, path) == 0) {
                e = &m->runtimes[i];
                m->last = i;
            }
    }
    if (e == NULL) {
        if (m->n_runtimes == MAX_FUNCTIONS)
            return 0; /* past the cap, later functions go unreported */
        if (m->n_runtimes == m->cap_runtimes) {
            m->cap_runtimes = m->cap_runtimes > 0 ? m->cap_runtimes * 2 : 16;
            m->runtimes = sm_xrealloc(m->runtimes, m->cap_runtimes * sizeof(*m->runtimes));
        }
        size_t len = strlen(path) + 1;
        e = &m->runtimes[m->n_runtimes];
        *e = (struct runtime){.path = sm_xmalloc(len)};
        memcpy(e->path, path, len);
        m->last = m->n_runtimes++;
    }
    if (r->started_at != 0 && r->resolved_at != 0) {
        e->sum_s += (double)(r->resolved_at - r->started_at) / 1e6;
        e->n++;
    }
    return 0;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct runtime *)a)->path, ((const struct runtime *)b)->path);
}

/* Every run matching the filter text `json`, handed to fn. */
static int each_run(struct sm_store *store, const char *json, size_t len, sm_run_fn fn, void *ctx,
                    struct sm_err *err)
{
    struct sm_filter f;
    int rc = sm_filter_parse(&f, SM_ENTITY_RUNS, json, len, err);
    if (rc == 0) {
        struct sm_query q = {.filter = &f, .limit = -1, .ascending = true};
        rc = sm_store_query_runs(store, &q, fn, ctx, NULL, err);
    }
    sm_filter_release(&f);
    return rc;
}

/*
 * Sematic's get_basic_pipeline_metrics for the run's function: how many
 * runs of that function are in each state, how many in all, and for each
 * function run inside pipelines of that function, its average runtime
 * (resolved_at - started_at, seconds; null when none of its runs has
 * both). Keys come sorted, as Flask writes them.
 */
int sm__api_run_metrics(struct sm_http_req *req, struct sm_http_resp *resp)
{
    struct sm_err err = SM_ERR_INIT;
    const char *id = sm_http_param(req, "id");
    char shown[96];
    sm__http_sanitize(id, shown, sizeof(shown));
    if (strlen(id) != SM_ID_HEX_LEN || !sm_is_hex(id, SM_ID_HEX_LEN))
        return sm_http_error(resp, 404, "No runs with id '%s'", shown);
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL)
        return sm_http_store_error(resp, &err);
    struct sm_run_rec run;
    int rc = sm_store_get_run(store, id, &run, &err);
    if (rc == SM_ENOTFOUND)
        return sm_http_error(resp, 404, "No runs with id '%s'", shown);
    if (rc != 0)
        return sm_http_store_error(resp, &err);

    struct metrics m = {0};
    struct sm_buf by_function = SM_BUF_INIT(1 << 20), by_root = SM_BUF_INIT(1 << 20);
    /* run's strings are the store's until the next call: the filters hold copies now. */
    if (sm__api_filter_eq(&by_function, "function_path", run.function_path) != 0 ||
        sm__api_filter_eq(&by_root, "root_run.function_path", run.function_path) != 0)
        rc = sm_errf(&err, SM_ECORRUPT, "run '%s' has a function path that is not UTF-8", id);
    if (rc == 0)
        rc = each_run(store, by_function.data, by_function.len, count_state, &m, &err);
    if (rc == 0)
        rc = each_run(store, by_root.data, by_root.len, add_runtime, &m, &err);
    sm_buf_release(&by_function);
    sm_buf_release(&by_root);
    if (rc != 0) {
        sm_http_store_error(resp, &err);
        goto out;
    }

    /* Python sorts the states by name. */
    int order[SM_STATE_COUNT];
    for (int i = 0; i < SM_STATE_COUNT; i++) {
        int j = i;
        for (; j > 0 && strcmp(sm_state_name((enum sm_state)order[j - 1]),
                               sm_state_name((enum sm_state)i)) > 0;
             j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    if (m.n_runtimes > 1)
        qsort(m.runtimes, m.n_runtimes, sizeof(*m.runtimes), by_path);

    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "content");
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "avg_runtime_children");
    sm_jw_begin_object(w);
    for (size_t i = 0; i < m.n_runtimes; i++) {
        sm_jw_keyz(w, m.runtimes[i].path);
        if (m.runtimes[i].n > 0)
            sm_jw_double(w, m.runtimes[i].sum_s / (double)m.runtimes[i].n);
        else
            sm_jw_null(w);
    }
    sm_jw_end_object(w);
    sm_jw_keyz(w, "count_by_state");
    sm_jw_begin_object(w);
    int64_t total = 0;
    for (int i = 0; i < SM_STATE_COUNT; i++) {
        int64_t n = m.count_by_state[order[i]];
        total += n;
        if (n == 0)
            continue;
        sm_jw_keyz(w, sm_state_name((enum sm_state)order[i]));
        sm_jw_int(w, n);
    }
    sm_jw_end_object(w);
    sm_jw_keyz(w, "total_count");
    sm_jw_int(w, total);
    sm_jw_end_object(w);
    sm_jw_end_object(w);
out:
    for (size_t i = 0; i < m.n_runtimes; i++)
        sm_free(m.runtimes[i].path);
    sm_free(m.runtimes);
    return 0;
}
