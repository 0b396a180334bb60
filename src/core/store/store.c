/*
 * store.c: the backend-independent half of the metadata store
 * (include/sematic/store.h).
 *
 * Every sm_store_* call checks its arguments here (ids are exactly 32 or 64
 * lower-case hex digits, required strings are present, enums are in range)
 * and then dispatches to the backend's struct sm_store_ops, so a backend
 * sees only well-formed input and reports only what went wrong underneath
 * it. Also here: the home directory, clocks and ISO-8601 text, the
 * pipeline-run status table (API.md 2.4), and the JSON form of each record
 * with Sematic's field names, which the server and `--json` output share.
 *
 * Start reading at sm_store_put_run(): check, then s->ops->put_run().
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sematic/filter.h"
#include "sematic/json.h"
#include "sematic/store.h"
#include "store/internal.h"

#include "util/banned.h"

/* ------------------------------------------------------------ argument checks */

bool sm__store_is_id(const char *s, size_t len)
{
    /* strnlen first: sm_is_hex() may read all len bytes of a shorter string. */
    return s && strnlen(s, len + 1) == len && sm_is_hex(s, len);
}

/* An id that may be "" (none). */
static bool is_id_or_empty(const char *s, size_t len)
{
    return s && (s[0] == '\0' || sm__store_is_id(s, len));
}

static int bad_id(struct sm_err *err, const char *what, const char *id, size_t len)
{
    if (!id)
        return sm_errf(err, SM_EINVAL, "invalid %s: NULL; pass %zu lower-case hex digits", what,
                       len);
    return sm_errf(err, SM_EINVAL, "invalid %s '%.80s': expected %zu lower-case hex digits", what,
                   id, len);
}

#define CHECK_ID(what, id, len)                                                                    \
    do {                                                                                           \
        if (!sm__store_is_id((id), (len)))                                                         \
            return bad_id(err, (what), (id), (len));                                               \
    } while (0)

#define CHECK_ID_OR_EMPTY(what, id, len)                                                           \
    do {                                                                                           \
        if (!is_id_or_empty((id), (len)))                                                          \
            return bad_id(err, (what), (id), (len));                                               \
    } while (0)

#define CHECK_PRESENT(what, p)                                                                     \
    do {                                                                                           \
        if (!(p))                                                                                  \
            return sm_errf(err, SM_EINVAL, "invalid %s: NULL where a value is required", (what));  \
    } while (0)

/* An artifact id: ours (64 hex, SHA-256) or Sematic's (40 hex, SHA-1). */
static bool is_artifact_id(const char *s)
{
    return sm__store_is_id(s, SM_SHA256_HEX_LEN) || sm__store_is_id(s, SM_SHA1_HEX_LEN);
}

static int bad_artifact_id(struct sm_err *err, const char *what, const char *id)
{
    if (!id)
        return sm_errf(err, SM_EINVAL,
                       "invalid %s: NULL; pass 64 (or Sematic's 40) lower-case "
                       "hex digits",
                       what);
    return sm_errf(err, SM_EINVAL,
                   "invalid %s '%.80s': expected 64 lower-case hex digits (SHA-256), or 40 for "
                   "an artifact of Sematic's client (SHA-1)",
                   what, id);
}

#define CHECK_ARTIFACT_ID(what, id)                                                                \
    do {                                                                                           \
        if (!is_artifact_id(id))                                                                   \
            return bad_artifact_id(err, (what), (id));                                             \
    } while (0)

static int check_store(const struct sm_store *s, struct sm_err *err)
{
    if (!s || !s->ops)
        return sm_errf(err, SM_EINVAL, "invalid store: NULL; open one with sm_store_open_sqlite()");
    return 0;
}

/* ------------------------------------------------------------ lifecycle and batches */

void sm_store_close(struct sm_store *s)
{
    if (s && s->ops)
        s->ops->close(s);
}

int sm_store_claim_batch_key(struct sm_store *s, const char *key, bool *seen, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_PRESENT("batch key result", seen);
    CHECK_ID("batch key", key, SM_ID_HEX_LEN);
    if (!s->ops->claim_batch_key)
        return sm_errf(err, SM_ESTATE,
                       "cannot claim a batch key on the store at '%.100s': the server's call",
                       s->home);
    return s->ops->claim_batch_key(s, key, seen, err);
}

int sm_store_sync(struct sm_store *s, struct sm_err *err)
{
    int rc = check_store(s, err);
    return rc || !s->ops->sync ? rc : s->ops->sync(s, err);
}

int sm_store_checkpoint(struct sm_store *s, struct sm_err *err)
{
    int rc = check_store(s, err);
    return rc || !s->ops->checkpoint ? rc : s->ops->checkpoint(s, err);
}

void sm_store_trim(struct sm_store *s, size_t keep_bytes)
{
    if (s && s->ops && s->ops->trim)
        s->ops->trim(s, keep_bytes);
}

void sm_store_interrupt(struct sm_store *s)
{
    if (s && s->ops && s->ops->interrupt)
        s->ops->interrupt(s);
}

int sm_store_begin(struct sm_store *s, struct sm_err *err)
{
    int rc = check_store(s, err);
    return rc ? rc : s->ops->begin(s, err);
}

int sm_store_commit(struct sm_store *s, struct sm_err *err)
{
    int rc = check_store(s, err);
    return rc ? rc : s->ops->commit(s, err);
}

void sm_store_rollback(struct sm_store *s)
{
    if (s && s->ops)
        s->ops->rollback(s);
}

/* ------------------------------------------------------------ writes */

int sm_store_put_run(struct sm_store *s, const struct sm_run_rec *r, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_PRESENT("run record", r);
    CHECK_ID("run id", r->id, SM_ID_HEX_LEN);
    CHECK_ID("root run id", r->root_id, SM_ID_HEX_LEN);
    CHECK_ID_OR_EMPTY("parent run id", r->parent_id, SM_ID_HEX_LEN);
    CHECK_ID_OR_EMPTY("nested run id", r->nested_id, SM_ID_HEX_LEN);
    CHECK_ID_OR_EMPTY("original run id", r->original_run_id, SM_ID_HEX_LEN);
    if (r->source_id)
        CHECK_ID("source id", r->source_id, SM_SHA256_HEX_LEN);
    if (r->state < 0 || r->state >= SM_STATE_COUNT)
        return sm_errf(err, SM_EINVAL, "invalid state %d of run '%s': expected 0 to %d", r->state,
                       r->id, SM_STATE_COUNT - 1);
    CHECK_PRESENT("run name", r->name);
    CHECK_PRESENT("run function path", r->function_path);
    CHECK_PRESENT("run tags (pass \"[]\" for none)", r->tags_json);
    return s->ops->put_run(s, r, err);
}

int sm_store_put_artifact(struct sm_store *s, const struct sm_artifact_rec *a, const char *payload,
                          size_t len, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_PRESENT("artifact record", a);
    CHECK_ARTIFACT_ID("artifact id", a->id);
    CHECK_PRESENT("artifact type", a->type_json);
    CHECK_PRESENT("artifact summary", a->summary_json);
    if (!payload && len > 0)
        return sm_errf(err, SM_EINVAL, "invalid payload of artifact '%s': NULL with length %zu",
                       a->id, len);
    if (len > 0 && sm__store_is_id(a->id, SM_SHA1_HEX_LEN))
        return sm_errf(err, SM_EINVAL,
                       "invalid payload of artifact '%s': an artifact with a 40-hex (Sematic) id "
                       "keeps its payload in storage object 'artifacts/%s'; store it with "
                       "sm_store_put_object() and pass no payload here",
                       a->id, a->id);
    return s->ops->put_artifact(s, a, payload ? payload : "", len, err);
}

int sm_store_put_edge(struct sm_store *s, const struct sm_edge_rec *e, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_PRESENT("edge record", e);
    CHECK_ID("edge id", e->id, SM_ID_HEX_LEN);
    CHECK_ID("edge root run id", e->root_id, SM_ID_HEX_LEN);
    CHECK_ID_OR_EMPTY("edge source run id", e->source_run_id, SM_ID_HEX_LEN);
    CHECK_ID_OR_EMPTY("edge destination run id", e->destination_run_id, SM_ID_HEX_LEN);
    if (e->artifact_id[0] && !is_artifact_id(e->artifact_id))
        return bad_artifact_id(err, "edge artifact id", e->artifact_id);
    CHECK_ID_OR_EMPTY("edge parent id", e->parent_id, SM_ID_HEX_LEN);
    return s->ops->put_edge(s, e, err);
}

int sm_store_put_pipeline(struct sm_store *s, const struct sm_pipeline_rec *p, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_PRESENT("pipeline run record", p);
    CHECK_ID("pipeline run root id", p->root_id, SM_ID_HEX_LEN);
    if (p->status < 0 || p->status >= SM_PIPELINE_STATUS_COUNT)
        return sm_errf(err, SM_EINVAL, "invalid status %d of pipeline run '%s': expected 0 to %d",
                       p->status, p->root_id, SM_PIPELINE_STATUS_COUNT - 1);
    CHECK_PRESENT("pipeline run kind", p->kind);
    return s->ops->put_pipeline(s, p, err);
}

int sm_store_put_source(struct sm_store *s, const char *text, size_t len,
                        char id_out[SM_SHA256_HEX_LEN + 1], struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    if (!text && len > 0)
        return sm_errf(err, SM_EINVAL, "invalid source text: NULL with length %zu", len);
    CHECK_PRESENT("source id output", id_out);
    return s->ops->put_source(s, text ? text : "", len, id_out, err);
}

int sm_store_append_log(struct sm_store *s, const struct sm_log_rec *line, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_PRESENT("log line", line);
    CHECK_ID("log run id", line->run_id, SM_ID_HEX_LEN);
    CHECK_PRESENT("log text", line->text);
    if (line->stream < 1 || line->stream > 3)
        return sm_errf(err, SM_EINVAL,
                       "invalid log stream %d of run '%s': expected 1 (stdout), 2 (stderr) or 3 "
                       "(logging)",
                       line->stream, line->run_id);
    return s->ops->append_log(s, line, err);
}

/* ------------------------------------------------------------ reads */

int sm_store_get_run(struct sm_store *s, const char *id, struct sm_run_rec *out, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_ID("run id", id, SM_ID_HEX_LEN);
    CHECK_PRESENT("run output", out);
    return s->ops->get_run(s, id, out, err);
}

int sm_store_list_runs(struct sm_store *s, const struct sm_run_query *q, sm_run_fn fn, void *ctx,
                       struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_PRESENT("run query", q);
    CHECK_PRESENT("run callback", fn);
    if (q->root_id)
        CHECK_ID("root run id", q->root_id, SM_ID_HEX_LEN);
    if (q->parent_id)
        CHECK_ID("parent run id", q->parent_id, SM_ID_HEX_LEN);
    if (q->limit < 0)
        return sm_errf(err, SM_EINVAL, "invalid run limit %lld: pass 0 for no limit or a count",
                       (long long)q->limit);
    if (q->state_mask >> SM_STATE_COUNT)
        return sm_errf(err, SM_EINVAL,
                       "invalid state mask 0x%x: only bits 0 to %d (1 << enum sm_state) exist",
                       q->state_mask, SM_STATE_COUNT - 1);
    return s->ops->list_runs(s, q, fn, ctx, err);
}

int sm_store_get_artifact(struct sm_store *s, const char *id, struct sm_artifact_rec *out,
                          struct sm_buf *payload, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_ARTIFACT_ID("artifact id", id);
    CHECK_PRESENT("artifact output", out);
    return s->ops->get_artifact(s, id, out, payload, err);
}

int sm_store_list_edges(struct sm_store *s, const char *root_id, const char *run_id, sm_edge_fn fn,
                        void *ctx, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    if (!root_id && !run_id)
        return sm_errf(err, SM_EINVAL,
                       "invalid edge listing: pass a root run id, a run id, or both");
    if (root_id)
        CHECK_ID("root run id", root_id, SM_ID_HEX_LEN);
    if (run_id)
        CHECK_ID("run id", run_id, SM_ID_HEX_LEN);
    CHECK_PRESENT("edge callback", fn);
    return s->ops->list_edges(s, root_id, run_id, fn, ctx, err);
}

int sm_store_list_pipeline(struct sm_store *s, enum sm_entity e, const char *root_id,
                           union sm_row_fn fn, void *ctx, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_ID("root run id", root_id, SM_ID_HEX_LEN);
    if (e != SM_ENTITY_RUNS && e != SM_ENTITY_EDGES && e != SM_ENTITY_ARTIFACTS)
        return sm_errf(err, SM_EINVAL,
                       "cannot list the %s of a pipeline: pass runs, edges or artifacts",
                       sm_entity_name(e));
    CHECK_PRESENT("pipeline callback", fn.run);
    return s->ops->list_pipeline(s, e, root_id, fn, ctx, err);
}

int sm_store_read_dag(struct sm_store *s, const char *root_id, int64_t *change_seq,
                      sm_dag_run_fn run_fn, sm_dag_edge_fn edge_fn, void *ctx, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_ID("root run id", root_id, SM_ID_HEX_LEN);
    CHECK_PRESENT("change sequence output", change_seq);
    CHECK_PRESENT("dag run callback", run_fn);
    CHECK_PRESENT("dag edge callback", edge_fn);
    return s->ops->read_dag(s, root_id, change_seq, run_fn, edge_fn, ctx, err);
}

int sm_store_list_artifacts(struct sm_store *s, const char *root_id, sm_artifact_fn fn, void *ctx,
                            struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_ID("root run id", root_id, SM_ID_HEX_LEN);
    CHECK_PRESENT("artifact callback", fn);
    return s->ops->list_artifacts(s, root_id, fn, ctx, err);
}

int sm_store_get_pipeline(struct sm_store *s, const char *root_id, struct sm_pipeline_rec *out,
                          struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_ID("pipeline run root id", root_id, SM_ID_HEX_LEN);
    CHECK_PRESENT("pipeline run output", out);
    return s->ops->get_pipeline(s, root_id, out, err);
}

int sm_store_get_source(struct sm_store *s, const char *id, struct sm_buf *out, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_ID("source id", id, SM_SHA256_HEX_LEN);
    CHECK_PRESENT("source output buffer", out);
    return s->ops->get_source(s, id, out, err);
}

int sm_store_read_logs(struct sm_store *s, const char *run_id, int64_t after_id, int64_t limit,
                       sm_log_fn fn, void *ctx, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_ID("log run id", run_id, SM_ID_HEX_LEN);
    CHECK_PRESENT("log callback", fn);
    if (limit < 0)
        return sm_errf(err, SM_EINVAL, "invalid log limit %lld: pass 0 for no limit or a count",
                       (long long)limit);
    return s->ops->read_logs(s, run_id, after_id, limit, fn, ctx, err);
}

int sm_store_set_pipeline_status(struct sm_store *s, const char *root_id, int status,
                                 struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_ID("pipeline run root id", root_id, SM_ID_HEX_LEN);
    if (status < 0 || status >= SM_PIPELINE_STATUS_COUNT)
        return sm_errf(err, SM_EINVAL, "invalid status %d of pipeline run '%s': expected 0 to %d",
                       status, root_id, SM_PIPELINE_STATUS_COUNT - 1);
    return s->ops->set_pipeline_status(s, root_id, status, err);
}

int sm_store_gc_blobs(struct sm_store *s, size_t *n_removed, size_t *bytes_removed,
                      struct sm_err *err)
{
    int rc = check_store(s, err);
    return rc ? rc : s->ops->gc_blobs(s, n_removed, bytes_removed, err);
}

int64_t sm_store_change_seq(struct sm_store *s)
{
    return s && s->ops ? s->ops->change_seq(s) : -1;
}

/* ------------------------------------------------------------ listings and the change feed */

static int check_query(enum sm_entity e, const struct sm_query *q, struct sm_err *err)
{
    CHECK_PRESENT("query", q);
    if (q->filter && q->filter->entity != e)
        return sm_errf(err, SM_EINVAL,
                       "invalid filter: it was parsed for %s, not %s; parse it with "
                       "sm_filter_parse(..., SM_ENTITY_%s, ...)",
                       sm_entity_name(q->filter->entity), sm_entity_name(e),
                       e == SM_ENTITY_RUNS        ? "RUNS"
                       : e == SM_ENTITY_ARTIFACTS ? "ARTIFACTS"
                       : e == SM_ENTITY_EDGES     ? "EDGES"
                                                  : "NOTES");
    if (q->search && e != SM_ENTITY_RUNS)
        return sm_errf(err, SM_EINVAL,
                       "invalid search of %s: only runs can be searched; use a "
                       "filter instead",
                       sm_entity_name(e));
    if (q->group_by && sm_filter_column_find(e, q->group_by) < 0)
        return sm_errf(err, SM_EINVAL,
                       "invalid group_by '%.60s': %s have no such column; group by one of their "
                       "columns, such as function_path for runs",
                       q->group_by, sm_entity_name(e));
    if (q->group_by &&
        sm_filter_column_type(e, sm_filter_column_find(e, q->group_by)) == SM_COLUMN_ABSENT)
        return sm_errf(err, SM_EINVAL,
                       "invalid group_by '%.60s': this store does not keep that column of %s, so "
                       "every row would be one group; group by another column",
                       q->group_by, sm_entity_name(e));
    if (q->limit < -1)
        return sm_errf(err, SM_EINVAL,
                       "invalid limit %lld: pass a count of rows, or -1 (or 0) for all",
                       (long long)q->limit);
    return 0;
}

static int query(struct sm_store *s, enum sm_entity e, const struct sm_query *q, union sm_row_fn fn,
                 bool has_fn, void *ctx, struct sm_page *page, struct sm_err *err)
{
    if (page) {
        page->n_rows = 0;
        page->after_cursor_count = -1;
        page->next_cursor[0] = '\0';
    }
    int rc = check_store(s, err);
    if (rc)
        return rc;
    rc = check_query(e, q, err);
    if (rc)
        return rc;
    if (!has_fn)
        return sm_errf(err, SM_EINVAL, "invalid %s callback: NULL", sm_entity_name(e));
    return s->ops->query(s, e, q, fn, ctx, page, err);
}

int sm_store_query_runs(struct sm_store *s, const struct sm_query *q, sm_run_fn fn, void *ctx,
                        struct sm_page *page, struct sm_err *err)
{
    union sm_row_fn u = {.run = fn};
    return query(s, SM_ENTITY_RUNS, q, u, fn != NULL, ctx, page, err);
}

int sm_store_query_artifacts(struct sm_store *s, const struct sm_query *q, sm_artifact_fn fn,
                             void *ctx, struct sm_page *page, struct sm_err *err)
{
    union sm_row_fn u = {.artifact = fn};
    return query(s, SM_ENTITY_ARTIFACTS, q, u, fn != NULL, ctx, page, err);
}

int sm_store_query_edges(struct sm_store *s, const struct sm_query *q, sm_edge_fn fn, void *ctx,
                         struct sm_page *page, struct sm_err *err)
{
    union sm_row_fn u = {.edge = fn};
    return query(s, SM_ENTITY_EDGES, q, u, fn != NULL, ctx, page, err);
}

int sm_store_query_notes(struct sm_store *s, const struct sm_query *q, sm_note_fn fn, void *ctx,
                         struct sm_page *page, struct sm_err *err)
{
    union sm_row_fn u = {.note = fn};
    return query(s, SM_ENTITY_NOTES, q, u, fn != NULL, ctx, page, err);
}

int sm_store_list_events(struct sm_store *s, int64_t after_seq, int64_t limit, sm_event_fn fn,
                         void *ctx, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_PRESENT("event callback", fn);
    if (after_seq < 0 || limit < 0)
        return sm_errf(err, SM_EINVAL,
                       "invalid event listing after %lld, limit %lld: pass a sequence number "
                       "seen before (0 for all) and a limit (0 for no limit)",
                       (long long)after_seq, (long long)limit);
    return s->ops->list_events(s, after_seq, limit, fn, ctx, err);
}

const char *sm_store_watch_path(struct sm_store *s)
{
    return s && s->ops ? s->ops->watch_path(s) : NULL;
}

/* ------------------------------------------------------------ notes */

int sm_store_put_note(struct sm_store *s, const struct sm_note_rec *n, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_PRESENT("note record", n);
    CHECK_ID("note id", n->id, SM_ID_HEX_LEN);
    CHECK_ID("note run id", n->run_id, SM_ID_HEX_LEN);
    CHECK_ID("note root run id", n->root_id, SM_ID_HEX_LEN);
    CHECK_PRESENT("note text", n->note);
    return s->ops->put_note(s, n, err);
}

int sm_store_delete_note(struct sm_store *s, const char *id, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_ID("note id", id, SM_ID_HEX_LEN);
    return s->ops->delete_note(s, id, err);
}

int sm_store_get_note(struct sm_store *s, const char *id, struct sm_note_rec *out,
                      struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_ID("note id", id, SM_ID_HEX_LEN);
    CHECK_PRESENT("note output", out);
    return s->ops->get_note(s, id, out, err);
}

/* ------------------------------------------------------------ metrics */

/* Whether text is a JSON object (labels). */
static int check_labels(const char *what, const char *json, struct sm_err *err)
{
    if (!json)
        return 0;
    struct sm_json_doc doc;
    struct sm_err json_err = SM_ERR_INIT;
    int rc = sm_json_parse(&doc, json, strlen(json), &json_err);
    bool ok = rc == 0 && doc.root->kind == SM_JSON_OBJECT;
    sm_json_doc_release(&doc);
    if (rc)
        return sm_errf(err, SM_EINVAL,
                       "invalid %s: %s; pass a JSON object such as "
                       "{\"run_id\": \"...\"}",
                       what, json_err.msg);
    if (!ok)
        return sm_errf(err, SM_EINVAL,
                       "invalid %s '%.60s': not a JSON object; pass one such as {\"run_id\": "
                       "\"...\"}",
                       what, json);
    return 0;
}

int sm_store_append_metrics(struct sm_store *s, const struct sm_metric_point *points, size_t n,
                            struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    if (n > 0)
        CHECK_PRESENT("metric points", points);
    for (size_t i = 0; i < n; i++) {
        const struct sm_metric_point *m = &points[i];
        if (!m->name || !m->name[0])
            return sm_errf(err, SM_EINVAL, "invalid metric point %zu: no name; name it", i);
        if (m->metric_type != SM_METRIC_COUNT && m->metric_type != SM_METRIC_GAUGE)
            return sm_errf(err, SM_EINVAL,
                           "invalid metric point %zu ('%.60s'): type %d; pass 0 (COUNT) or 1 "
                           "(GAUGE)",
                           i, m->name, m->metric_type);
        CHECK_ID_OR_EMPTY("metric run id", m->run_id, SM_ID_HEX_LEN);
        CHECK_ID_OR_EMPTY("metric root run id", m->root_id, SM_ID_HEX_LEN);
        rc = check_labels("metric labels", m->labels_json, err);
        if (rc)
            return rc;
    }
    return s->ops->append_metrics(s, points, n, err);
}

int sm_store_list_metric_names(struct sm_store *s, const char *labels_json, sm_name_fn fn,
                               void *ctx, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_PRESENT("metric name callback", fn);
    rc = check_labels("metric label filter", labels_json, err);
    return rc ? rc : s->ops->list_metric_names(s, labels_json, fn, ctx, err);
}

/* A label name usable in a JSON path: letters, digits, '_', '-' and '.'. */
static bool is_label_name(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return n > 0 && n <= 64;
}

int sm_store_metric_series(struct sm_store *s, const struct sm_metric_query *q, sm_bucket_fn fn,
                           void *ctx, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_PRESENT("metric query", q);
    CHECK_PRESENT("metric bucket callback", fn);
    if (!q->name || !q->name[0])
        return sm_errf(err, SM_EINVAL, "invalid metric query: no name; name the metric");
    if (q->from_us > q->to_us)
        return sm_errf(err, SM_EINVAL,
                       "invalid metric query of '%.60s': from %lld is after to %lld; swap them",
                       q->name, (long long)q->from_us, (long long)q->to_us);
    if (q->from_us < 0 && q->to_us > INT64_MAX + q->from_us)
        return sm_errf(err, SM_EINVAL,
                       "invalid metric query of '%.60s': from %lld to %lld is wider than the "
                       "clock; pass times since 1970 in microseconds",
                       q->name, (long long)q->from_us, (long long)q->to_us);
    if (q->n_buckets < 0 || q->n_buckets > 100000)
        return sm_errf(err, SM_EINVAL,
                       "invalid metric query of '%.60s': %lld buckets; pass 0 or 1 for one, or "
                       "up to 100000",
                       q->name, (long long)q->n_buckets);
    if (q->group_by && !is_label_name(q->group_by))
        return sm_errf(err, SM_EINVAL,
                       "invalid metric group_by '%.60s': a label name is 1 to 64 letters, "
                       "digits, '_' or '-'",
                       q->group_by);
    rc = check_labels("metric label filter", q->labels_json, err);
    return rc ? rc : s->ops->metric_series(s, q, fn, ctx, err);
}

/* ------------------------------------------------------------ users */

int sm_store_put_user(struct sm_store *s, const struct sm_user_rec *u, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_PRESENT("user record", u);
    CHECK_ID("user id", u->id, SM_ID_HEX_LEN);
    if (!u->email || !strchr(u->email, '@'))
        return sm_errf(err, SM_EINVAL,
                       "invalid email '%.80s' of user '%s': expected an address "
                       "with '@'",
                       u->email ? u->email : "(null)", u->id);
    return s->ops->put_user(s, u, err);
}

int sm_store_new_api_key(struct sm_store *s, const char *user_id, char key_out[SM_API_KEY_LEN + 1],
                         struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_ID("user id", user_id, SM_ID_HEX_LEN);
    CHECK_PRESENT("API key output", key_out);
    return s->ops->new_api_key(s, user_id, key_out, err);
}

int sm_store_get_user(struct sm_store *s, const char *id, struct sm_user_rec *out,
                      struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_ID("user id", id, SM_ID_HEX_LEN);
    CHECK_PRESENT("user output", out);
    return s->ops->get_user(s, id, NULL, out, err);
}

int sm_store_find_user_by_email(struct sm_store *s, const char *email, struct sm_user_rec *out,
                                struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_PRESENT("email", email);
    CHECK_PRESENT("user output", out);
    return s->ops->get_user(s, NULL, email, out, err);
}

int sm_store_find_user_by_api_key(struct sm_store *s, const char *key, struct sm_user_rec *out,
                                  struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_PRESENT("API key", key);
    CHECK_PRESENT("user output", out);
    return s->ops->find_user_by_api_key(s, key, out, err);
}

int sm_store_list_users(struct sm_store *s, sm_user_fn fn, void *ctx, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    CHECK_PRESENT("user callback", fn);
    return s->ops->list_users(s, fn, ctx, err);
}

/* ------------------------------------------------------------ storage objects */

int sm_store_check_object_name(const char *what, const char *name, size_t max_len,
                               struct sm_err *err)
{
    if (!what)
        what = "name";
    if (!name || !name[0])
        return sm_errf(err, SM_EINVAL,
                       "invalid storage %s: empty; pass 1 to %zu letters, digits, "
                       "'.', '_' or '-'",
                       what, max_len);
    size_t n = strnlen(name, max_len + 1);
    if (n > max_len)
        return sm_errf(err, SM_EINVAL, "invalid storage %s '%.40s...': longer than %zu bytes", what,
                       name, max_len);
    if (name[0] == '.')
        return sm_errf(err, SM_EINVAL,
                       "invalid storage %s '%.80s': it starts with '.' (so '.' and '..' cannot "
                       "climb out); start it with a letter or digit",
                       what, name);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '_' || c == '-')
            continue;
        if (c >= 0x20 && c < 0x7f)
            return sm_errf(err, SM_EINVAL,
                           "invalid storage %s '%.80s': character '%c' at byte %zu; use only "
                           "letters, digits, '.', '_' and '-'",
                           what, name, c, i);
        return sm_errf(err, SM_EINVAL,
                       "invalid storage %s: byte 0x%02x at %zu; use only letters, digits, '.', "
                       "'_' and '-'",
                       what, c, i);
    }
    return 0;
}

static int check_object(const char *ns, const char *key, struct sm_err *err)
{
    int rc = sm_store_check_object_name("namespace", ns, SM_OBJECT_NAMESPACE_MAX, err);
    return rc ? rc : sm_store_check_object_name("key", key, SM_OBJECT_KEY_MAX, err);
}

int sm_store_put_object(struct sm_store *s, const char *ns, const char *key, const void *data,
                        size_t len, struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    rc = check_object(ns, key, err);
    if (rc)
        return rc;
    if (!data && len > 0)
        return sm_errf(err, SM_EINVAL, "invalid storage object '%s/%s': NULL data with length %zu",
                       ns, key, len);
    return s->ops->put_object(s, ns, key, data ? data : "", len, err);
}

int sm_store_get_object(struct sm_store *s, const char *ns, const char *key, struct sm_buf *out,
                        struct sm_err *err)
{
    int rc = check_store(s, err);
    if (rc)
        return rc;
    rc = check_object(ns, key, err);
    if (rc)
        return rc;
    CHECK_PRESENT("storage object output buffer", out);
    return s->ops->get_object(s, ns, key, out, err);
}

/* ------------------------------------------------------------ home, clocks */

int sm_store_default_home(char *out, size_t size, struct sm_err *err)
{
    if (!out || size == 0)
        return sm_errf(err, SM_EINVAL, "invalid home buffer: NULL or empty");
    const char *env = getenv("SEMATIC_HOME");
    int n;
    if (env && env[0]) {
        n = snprintf(out, size, "%s", env);
    } else {
        const char *home = getenv("HOME");
        if (!home || !home[0]) {
            out[0] = '\0';
            return sm_errf(err, SM_EINVAL,
                           "cannot find the store: neither SEMATIC_HOME nor HOME is set; set "
                           "SEMATIC_HOME to the directory to keep pipelines in");
        }
        n = snprintf(out, size, "%s/.sematic", home);
    }
    if (n < 0 || (size_t)n >= size) {
        out[0] = '\0';
        return sm_errf(err, SM_EINVAL,
                       "cannot use the store's home: its path is longer than %zu bytes; set "
                       "SEMATIC_HOME to a shorter path",
                       size - 1);
    }
    return 0;
}

int64_t sm_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void sm_format_time_us(int64_t us, char out[40])
{
    /* Floor division, so times before 1970 get a positive fraction. */
    int64_t secs = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, 40, "%s", "1970-01-01T00:00:00.000000+00:00");
        return;
    }
    /* Wide enough for any int the compiler imagines; real dates need 32 bytes. */
    char text[128];
    snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
    size_t n = strnlen(text, 39);
    memcpy(out, text, n);
    out[n] = '\0';
}

/* Days from 1970-01-01 to year-month-day in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool leap_year(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* n decimal digits at text[*at] into *out; false when they are not all digits. */
static bool take_digits(const char *text, size_t len, size_t *at, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*at)++) {
        if (*at >= len || text[*at] < '0' || text[*at] > '9')
            return false;
        v = v * 10 + (text[*at] - '0');
    }
    *out = v;
    return true;
}

int sm_parse_time_us(const char *text, size_t len, int64_t *out, struct sm_err *err)
{
    static const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!text || !out)
        return sm_errf(err, SM_EINVAL, "invalid time: NULL; pass ISO-8601 text");
    size_t at = 0;
    int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, off = 0;
    bool ok = take_digits(text, len, &at, 4, &y) && at < len && text[at++] == '-' &&
              take_digits(text, len, &at, 2, &mo) && at < len && text[at++] == '-' &&
              take_digits(text, len, &at, 2, &d);
    if (ok && at < len && (text[at] == 'T' || text[at] == 't' || text[at] == ' ')) {
        at++;
        ok = take_digits(text, len, &at, 2, &h) && at < len && text[at++] == ':' &&
             take_digits(text, len, &at, 2, &mi);
        if (ok && at < len && text[at] == ':') {
            at++;
            ok = take_digits(text, len, &at, 2, &sec);
            if (ok && at < len && (text[at] == '.' || text[at] == ',')) {
                at++;
                int n = 0;
                while (at < len && text[at] >= '0' && text[at] <= '9') {
                    if (n < 6) {
                        frac = frac * 10 + (text[at] - '0');
                        n++;
                    }
                    at++;
                }
                ok = n > 0;
                for (; n < 6; n++)
                    frac *= 10;
            }
        }
        if (ok && at < len && (text[at] == 'Z' || text[at] == 'z')) {
            at++;
        } else if (ok && at < len && (text[at] == '+' || text[at] == '-')) {
            int sign = text[at++] == '-' ? -1 : 1, oh, om;
            ok = take_digits(text, len, &at, 2, &oh) && at < len && text[at++] == ':' &&
                 take_digits(text, len, &at, 2, &om) && oh < 24 && om < 60;
            off = sign * (oh * 60 + om);
        }
    }
    ok = ok && at == len && mo >= 1 && mo <= 12 && d >= 1 && h < 24 && mi < 60 && sec < 60;
    if (ok)
        ok = d <= month_days[mo - 1] + (mo == 2 && leap_year(y) ? 1 : 0);
    if (!ok)
        return sm_errf(err, SM_EINVAL,
                       "invalid time '%.*s': expected ISO-8601 UTC text such as "
                       "'2024-05-01T12:00:00.000000' (a 'Z' or '+00:00' may follow)",
                       (int)(len > 60 ? 60 : len), text);
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off * 60;
    *out = secs * 1000000 + frac;
    return 0;
}

/* ------------------------------------------------------------ pipeline-run statuses */

static const char *const status_names[SM_PIPELINE_STATUS_COUNT] = {
    [SM_PIPELINE_CREATED] = "CREATED",   [SM_PIPELINE_SCHEDULED] = "SCHEDULED",
    [SM_PIPELINE_RUNNING] = "RUNNING",   [SM_PIPELINE_FAILED] = "FAILED",
    [SM_PIPELINE_COMPLETE] = "COMPLETE", [SM_PIPELINE_CANCELED] = "CANCELED",
};

#define PTO(s) (1u << (s))

/* status_allowed[from] has bit `to` set when from -> to is legal (API.md 2.4). */
static const uint8_t status_allowed[SM_PIPELINE_STATUS_COUNT] = {
    [SM_PIPELINE_CREATED] =
        PTO(SM_PIPELINE_SCHEDULED) | PTO(SM_PIPELINE_FAILED) | PTO(SM_PIPELINE_CANCELED),
    [SM_PIPELINE_SCHEDULED] =
        PTO(SM_PIPELINE_RUNNING) | PTO(SM_PIPELINE_FAILED) | PTO(SM_PIPELINE_CANCELED),
    [SM_PIPELINE_RUNNING] =
        PTO(SM_PIPELINE_COMPLETE) | PTO(SM_PIPELINE_FAILED) | PTO(SM_PIPELINE_CANCELED),
    [SM_PIPELINE_FAILED] = 0,
    [SM_PIPELINE_COMPLETE] = 0,
    [SM_PIPELINE_CANCELED] = 0,
};

/* What a new pipeline run may start as. */
static const uint8_t status_initial = PTO(SM_PIPELINE_CREATED) | PTO(SM_PIPELINE_SCHEDULED) |
                                      PTO(SM_PIPELINE_RUNNING) | PTO(SM_PIPELINE_FAILED) |
                                      PTO(SM_PIPELINE_CANCELED);

const char *sm_pipeline_status_name(enum sm_pipeline_status s)
{
    return (unsigned)s < SM_PIPELINE_STATUS_COUNT ? status_names[s] : "UNKNOWN";
}

int sm_pipeline_status_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < SM_PIPELINE_STATUS_COUNT; i++)
        if (strcmp(name, status_names[i]) == 0)
            return i;
    return -1;
}

int sm_pipeline_check_transition(int from, int to, struct sm_err *err)
{
    bool to_ok = to >= 0 && to < SM_PIPELINE_STATUS_COUNT;
    if (to_ok && from == -1 && (status_initial & PTO(to)))
        return 0;
    if (to_ok && from >= 0 && from < SM_PIPELINE_STATUS_COUNT &&
        (from == to || (status_allowed[from] & PTO(to))))
        return 0;
    return sm_errf(err, SM_EINVALID_TRANSITION,
                   "invalid pipeline run status transition: '%s' -> '%s'; a pipeline run's status "
                   "only moves forward (see API.md 2.4)",
                   from == -1 ? "none" : sm_pipeline_status_name((enum sm_pipeline_status)from),
                   sm_pipeline_status_name((enum sm_pipeline_status)to));
}

/* ------------------------------------------------------------ JSON forms */

static void key_string(struct sm_jw *w, const char *key, const char *s)
{
    sm_jw_keyz(w, key);
    sm_jw_stringz(w, s); /* NULL writes null */
}

/* A fixed-size id field: "" means none. */
static void key_id(struct sm_jw *w, const char *key, const char *id)
{
    sm_jw_keyz(w, key);
    if (id && id[0])
        sm_jw_stringz(w, id);
    else
        sm_jw_null(w);
}

/* Stored JSON text, written as is. */
static void key_raw(struct sm_jw *w, const char *key, const char *json)
{
    sm_jw_keyz(w, key);
    if (json)
        sm_jw_raw(w, json, strlen(json));
    else
        sm_jw_null(w);
}

static void key_time(struct sm_jw *w, const char *key, int64_t us)
{
    sm_jw_keyz(w, key);
    if (us == 0) {
        sm_jw_null(w);
        return;
    }
    char text[40];
    sm_format_time_us(us, text);
    sm_jw_stringz(w, text);
}

void sm_run_rec_to_json(const struct sm_run_rec *r, struct sm_jw *w)
{
    sm_jw_begin_object(w);
    key_id(w, "id", r->id);
    key_id(w, "original_run_id", r->original_run_id);
    key_string(w, "future_state", sm_state_name((enum sm_state)r->state));
    key_string(w, "name", r->name);
    key_string(w, "function_path", r->function_path);
    key_id(w, "parent_id", r->parent_id);
    key_id(w, "root_id", r->root_id);
    key_string(w, "description", r->description);
    key_raw(w, "tags", r->tags_json ? r->tags_json : "[]");
    key_string(w, "source_code_id", r->source_id);
    key_id(w, "nested_future_id", r->nested_id);
    key_raw(w, "exception_metadata", r->exception_json);
    key_raw(w, "external_exception_metadata", r->external_exception_json);
    key_raw(w, "resource_requirements", r->resource_requirements_json);
    key_raw(w, "retry_settings", r->retry_settings_json);
    key_string(w, "cache_key", r->cache_key);
    sm_jw_keyz(w, "is_inline");
    sm_jw_bool(w, r->is_inline);
    sm_jw_keyz(w, "attempt");
    sm_jw_int(w, r->attempt);
    key_time(w, "created_at", r->created_at);
    key_time(w, "updated_at", r->updated_at);
    key_time(w, "started_at", r->started_at);
    key_time(w, "ended_at", r->ended_at);
    key_time(w, "resolved_at", r->resolved_at);
    key_time(w, "failed_at", r->failed_at);
    sm_jw_end_object(w);
}

void sm_artifact_rec_to_json(const struct sm_artifact_rec *a, struct sm_jw *w)
{
    sm_jw_begin_object(w);
    key_id(w, "id", a->id);
    key_raw(w, "type_serialization", a->type_json);
    key_raw(w, "json_summary", a->summary_json);
    sm_jw_keyz(w, "size_bytes");
    sm_jw_int(w, a->size_bytes);
    key_id(w, "blob_key", a->blob_key);
    key_time(w, "created_at", a->created_at);
    sm_jw_end_object(w);
}

void sm_edge_rec_to_json(const struct sm_edge_rec *e, struct sm_jw *w)
{
    sm_jw_begin_object(w);
    key_id(w, "id", e->id);
    key_id(w, "source_run_id", e->source_run_id);
    key_id(w, "destination_run_id", e->destination_run_id);
    key_string(w, "destination_name", e->destination_name);
    key_id(w, "artifact_id", e->artifact_id);
    key_id(w, "parent_id", e->parent_id);
    key_time(w, "created_at", e->created_at);
    key_time(w, "updated_at", e->updated_at);
    sm_jw_end_object(w);
}

void sm_note_rec_to_json(const struct sm_note_rec *n, struct sm_jw *w)
{
    sm_jw_begin_object(w);
    key_id(w, "id", n->id);
    key_string(w, "user_id", n->user_id);
    key_string(w, "note", n->note);
    key_id(w, "run_id", n->run_id);
    key_id(w, "root_id", n->root_id);
    key_time(w, "created_at", n->created_at);
    key_time(w, "updated_at", n->updated_at);
    sm_jw_end_object(w);
}

void sm_user_rec_to_json(const struct sm_user_rec *u, struct sm_jw *w)
{
    sm_jw_begin_object(w);
    key_id(w, "id", u->id);
    key_string(w, "first_name", u->first_name);
    key_string(w, "last_name", u->last_name);
    key_string(w, "avatar_url", u->avatar_url);
    key_time(w, "created_at", u->created_at);
    key_time(w, "updated_at", u->updated_at);
    sm_jw_end_object(w);
}

void sm_pipeline_rec_to_json(const struct sm_pipeline_rec *p, struct sm_jw *w)
{
    sm_jw_begin_object(w);
    key_id(w, "root_id", p->root_id);
    key_string(w, "status", sm_pipeline_status_name((enum sm_pipeline_status)p->status));
    key_string(w, "kind", p->kind);
    key_string(w, "cache_namespace", p->cache_namespace);
    key_string(w, "user", p->user);
    key_raw(w, "git_info", p->git_json);
    key_raw(w, "settings_env_vars", p->settings_json);
    key_string(w, "client_version", p->client_version);
    key_string(w, "run_command", p->run_command);
    key_string(w, "python", p->python);
    key_string(w, "cwd", p->cwd);
    sm_jw_keyz(w, "driver_pid");
    if (p->driver_pid)
        sm_jw_int(w, p->driver_pid);
    else
        sm_jw_null(w);
    key_string(w, "driver_host", p->driver_host);
    key_time(w, "created_at", p->created_at);
    key_time(w, "updated_at", p->updated_at);
    key_time(w, "ended_at", p->ended_at);
    sm_jw_end_object(w);
}
