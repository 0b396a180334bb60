/*
 * events.c: GET /api/v1/events, the store's change feed as server-sent
 * events (docs/server.md, "Live events"; the pure helpers are in
 * events_fmt.c, the shared declarations in events.h).
 *
 *   handler    checks the parameters (400s) and the number of open streams
 *              (503), subscribes the stream to the watcher, fixes where it
 *              starts (Last-Event-ID, else after=, else the store's change
 *              sequence now) and where its log lines start (the log floor);
 *   callback   (stream_next) blocks in sm_http_stream_wait() on its
 *              eventfd until the watcher says the store changed, the
 *              keepalive is due, the client leaves or the server stops;
 *              then borrows a store handle for that one call and pumps;
 *   pump       (sm__events_pump) reads the change sequence, lists the
 *              `events` rows after the last one handled (all of them: a
 *              burst of commits is one pass), reads what each names (the
 *              runs of a batch by id list, pipeline runs, notes, the log
 *              lines after the last one sent per run) and writes events, a
 *              bounded amount per call, so a huge batch streams in pieces.
 *
 * The watcher: one inotify instance on the store's directory and one
 * thread, for all streams, since Linux allows 128 inotify instances per
 * user by default (fs.inotify.max_user_instances), fewer than the streams
 * a server serves. On a write to sematic.db-wal or sematic.db it reads the
 * change sequence with a store handle of its own and, when it grew, writes
 * to the eventfd of every subscribed stream (at most once per
 * BROADCAST_MIN_MS: commits in between are coalesced). A wake-up may come
 * before its commit is visible (the WAL is written first, then its index in
 * sematic.db-shm, which mmap writes do not report), so it looks again 5,
 * 10, 20, ... 640 ms later (settling). It runs while a stream is
 * subscribed. Without inotify, streams look every NO_WATCH_CHECK_MS.
 *
 * Exactness: the events of one change sequence are written in order and
 * only the last carries `id: <seq>`, so a client that reconnects with
 * Last-Event-ID gets every sequence after it whole, and none before. A
 * record is read when it is sent, and sent with the sequence that last
 * wrote it (a run rewritten by a later batch goes with that batch, once).
 * Log lines carry their ids; see sm__events_find_log_floor() for where a
 * stream's lines start.
 *
 * State: the open streams and the watcher are process globals (`hub`), as
 * socketio.c's sessions are, because struct sm_server, which every other
 * piece of state hangs off (STYLE 31), is server.c's; moving them there is
 * a field and a call at stop.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "sematic/alloc.h"
#include "sematic/filter.h"
#include "sematic/graph.h"
#include "sematic/json.h"

#include "api.h"
#include "events.h"
#include "handlers.h"
#include "internal.h"

#include "util/banned.h"

/* Streams open at once, unless SEMATIC_SERVER_EVENTS_MAX_STREAMS says otherwise. */
#define DEFAULT_MAX_STREAMS 256
/* A comment line after this long without a byte, unless SEMATIC_SERVER_EVENTS_KEEPALIVE_MS. */
#define DEFAULT_KEEPALIVE_MS 15000
/* The client's reconnection delay (the `retry:` field). */
#define RETRY_MS 3000
/* Settling after a wake-up: look again after 5 ms, doubling up to 640 ms. */
#define SETTLE_FIRST_MS 5
#define SETTLE_LAST_MS 640
/* The watcher wakes the streams at most this often (commits in between are coalesced). */
#define BROADCAST_MIN_MS 10
/* Without the watcher, a stream looks for changes this often. */
#define NO_WATCH_CHECK_MS 1000
/* Rows listed per read of the change feed (a batch's rows always come together). */
#define LIST_ROWS 256
/* Payload bytes read ahead of what was sent; more rows wait for the next read. */
#define QUEUE_PAYLOAD_BYTES ((size_t)8 << 20)
/* A pipeline's canceled runs are read this many at a time. */
#define CANCELED_PAGE 4096
/* Log text one `logs` event carries at most. */
#define LOG_EVENT_BYTES ((size_t)1 << 20)
/* Cap on one event's JSON (a page of canceled runs is the largest). */
#define EVENT_JSON_BYTES ((size_t)8 << 20)
/* Finding the log floor: how far back to look, and how much to read forward. */
#define FLOOR_BACK_SEQS ((int64_t)1 << 20)
#define FLOOR_ROWS 8
#define FLOOR_CANDIDATES 512
#define FLOOR_FORWARD_ROWS 100000
#define FLOOR_ROUNDS 8

/* ------------------------------------------------------------ the feed rows */

/* The store's row kinds (struct sm_event_rec kind). */
enum row_kind {
    ROW_RUNS,
    ROW_EDGES,
    ROW_PIPELINES,
    ROW_PIPELINE_STATUS,
    ROW_NOTE,
    ROW_METRICS,
    ROW_LOGS,
    ROW_OTHER,
};

static enum row_kind row_kind_of(const char *kind)
{
    static const char *const names[] = {"runs", "edges",   "pipelines", "pipeline_status",
                                        "note", "metrics", "logs"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(kind, names[i]) == 0)
            return (enum row_kind)i;
    return ROW_OTHER;
}

/* A row of the change feed, copied, with how far its events were written. */
struct row {
    int64_t seq;
    enum row_kind kind;
    char *subject; /* owned */
    char *payload; /* owned; NULL: "too many to list" */
    size_t pos;    /* next id of the payload's list */
    int stage;     /* pipeline_status: 0 its canceled runs, 1 its status */
    char cursor[SM_CURSOR_MAX];
};

struct sm__events {
    unsigned kinds;
    bool has_root;
    char root_id[SM_ID_HEX_LEN + 1];
    int64_t listed;    /* rows with seq <= listed were read (queued or skipped) */
    int64_t known_seq; /* the change sequence last read */
    int64_t position;  /* the last sequence whose events were all written */
    struct row *rows;
    size_t head, n, cap;
    size_t queued_bytes;
    struct sm_buf held; /* the last event of the sequence being written, not yet out */
    struct sm__run_memo memo;
    int64_t log_floor;
    struct sm_buf json; /* scratch for one event's data */
};

struct sm__events *sm__events_new(unsigned kinds, const char *root_id, int64_t after)
{
    struct sm__events *ev = sm_xcalloc(1, sizeof(*ev));
    ev->kinds = kinds;
    if (root_id != NULL) {
        ev->has_root = true;
        snprintf(ev->root_id, sizeof(ev->root_id), "%s", root_id);
    }
    ev->listed = ev->known_seq = ev->position = after;
    sm_buf_init(&ev->held, EVENT_JSON_BYTES + 4096);
    sm_buf_init(&ev->json, EVENT_JSON_BYTES);
    return ev;
}

static void row_release(struct row *r)
{
    sm_free(r->subject);
    sm_free(r->payload);
    r->subject = r->payload = NULL;
}

void sm__events_free(struct sm__events *ev)
{
    if (ev == NULL)
        return;
    for (size_t i = ev->head; i < ev->n; i++)
        row_release(&ev->rows[i]);
    sm_free(ev->rows);
    sm_buf_release(&ev->held);
    sm_buf_release(&ev->json);
    sm__run_memo_release(&ev->memo);
    sm_free(ev);
}

bool sm__events_pending(const struct sm__events *ev)
{
    return ev->head < ev->n || ev->listed < ev->known_seq;
}

int64_t sm__events_position(const struct sm__events *ev)
{
    return ev->position;
}

int64_t sm__events_log_floor(const struct sm__events *ev)
{
    return ev->log_floor;
}

static bool root_wanted(const struct sm__events *ev, const char *root_id)
{
    return !ev->has_root || (root_id != NULL && strcmp(root_id, ev->root_id) == 0);
}

/* Whether a row of this kind can produce an event this stream wants. */
static bool row_wanted(const struct sm__events *ev, enum row_kind k, const char *subject)
{
    switch (k) {
    case ROW_RUNS:
        return (ev->kinds & SM_EVENTS_RUNS) != 0;
    case ROW_EDGES:
        return (ev->kinds & SM_EVENTS_EDGES) != 0;
    case ROW_PIPELINES:
        return (ev->kinds & SM_EVENTS_PIPELINE_STATUS) != 0;
    case ROW_PIPELINE_STATUS:
        return (ev->kinds & (SM_EVENTS_PIPELINE_STATUS | SM_EVENTS_RUNS)) != 0 &&
               root_wanted(ev, subject);
    case ROW_NOTE:
        return (ev->kinds & SM_EVENTS_NOTE) != 0;
    case ROW_METRICS:
        return (ev->kinds & SM_EVENTS_METRICS) != 0;
    case ROW_LOGS:
        return (ev->kinds & SM_EVENTS_LOGS) != 0;
    case ROW_OTHER:
        break;
    }
    return false;
}

/* ------------------------------------------------------------ listing rows */

struct list_ctx {
    struct sm__events *ev;
    int64_t last_seq; /* of the last row seen */
    size_t n_rows;
};

static char *dup_or_null(const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s);
    char *d = sm_xmalloc(n + 1);
    memcpy(d, s, n + 1);
    return d;
}

static int on_listed(void *ctx, const struct sm_event_rec *e)
{
    struct list_ctx *lc = ctx;
    struct sm__events *ev = lc->ev;
    /* Stop between two sequences once enough is queued; never inside one. */
    if (e->seq != lc->last_seq && ev->queued_bytes > QUEUE_PAYLOAD_BYTES)
        return 1;
    lc->last_seq = e->seq;
    lc->n_rows++;
    enum row_kind k = row_kind_of(e->kind);
    if (!row_wanted(ev, k, e->subject_id))
        return 0;
    if (ev->n == ev->cap) {
        ev->cap = ev->cap ? 2 * ev->cap : 64;
        ev->rows = sm_xrealloc(ev->rows, ev->cap * sizeof(*ev->rows));
    }
    struct row *r = &ev->rows[ev->n++];
    *r = (struct row){.seq = e->seq, .kind = k};
    r->subject = dup_or_null(e->subject_id);
    r->payload = dup_or_null(e->payload);
    ev->queued_bytes += (e->payload ? strlen(e->payload) : 0) + 64;
    return 0;
}

/* Read the feed's rows after ev->listed into the queue (complete sequences only). */
static int list_more(struct sm__events *ev, struct sm_store *store, struct sm_err *err)
{
    if (ev->head == ev->n) {
        ev->head = ev->n = 0;
        ev->queued_bytes = 0;
    }
    struct list_ctx lc = {.ev = ev, .last_seq = -1};
    int rc = sm_store_list_events(store, ev->listed, LIST_ROWS, on_listed, &lc, err);
    if (rc < 0)
        return rc;
    if (rc == 0 && lc.n_rows == 0) {
        /* Nothing after listed: the sequences up to known_seq wrote no rows (artifacts). */
        if (ev->known_seq > ev->listed)
            ev->listed = ev->known_seq;
        return 0;
    }
    if (lc.last_seq > ev->listed)
        ev->listed = lc.last_seq;
    if (ev->listed > ev->known_seq)
        ev->known_seq = ev->listed;
    return 0;
}

/* ------------------------------------------------------------ writing events */

/* The held event goes out without an id: another event of its sequence follows. */
static int flush_held(struct sm__events *ev, struct sm_buf *out, int64_t seq)
{
    if (ev->held.len == 0)
        return 0;
    int rc = seq >= 0 ? sm_buf_addf(out, "id: %lld\n", (long long)seq) : 0;
    rc = rc ? rc : sm_buf_add(out, ev->held.data, ev->held.len);
    sm_buf_reset(&ev->held);
    return rc;
}

/* One event with the JSON in ev->json, held back until the next one shows whether it is last. */
static int emit(struct sm__events *ev, struct sm_buf *out, unsigned kind, struct sm_jw *w,
                struct sm_err *err)
{
    struct sm_err jerr = SM_ERR_INIT;
    if (sm_jw_finish(w, &jerr) != 0) {
        /* A record that cannot be written as JSON (or past the cap) is left out with a
         * comment, rather than ending the stream: the client would reconnect into it. */
        char note[320];
        sm__http_textf(note, sizeof(note), "left out an event of kind %s: %s",
                       sm__events_kind_name(kind), jerr.msg);
        sm_buf_reset(&ev->json);
        return sm__sse_comment(out, note) == 0 ? 0 : sm_errf(err, SM_ETOOBIG, "%s", note);
    }
    int rc = flush_held(ev, out, -1);
    rc = rc ? rc
            : sm__sse_event(&ev->held, -1, sm__events_kind_name(kind), ev->json.data, ev->json.len);
    sm_buf_reset(&ev->json);
    if (rc)
        return sm_errf(err, rc, "cannot send an event of kind %s: %s", sm__events_kind_name(kind),
                       sm_strerror(rc));
    return 0;
}

/* The sequence's events are all written: its last one goes out with `id: <seq>`. */
static int end_seq(struct sm__events *ev, struct sm_buf *out, int64_t seq, struct sm_err *err)
{
    int rc = flush_held(ev, out, seq);
    if (rc)
        return sm_errf(err, rc, "cannot send the events of change %lld: %s", (long long)seq,
                       sm_strerror(rc));
    ev->position = seq;
    return 0;
}

static void begin_json(struct sm__events *ev, struct sm_jw *w)
{
    sm_buf_reset(&ev->json);
    sm_jw_init(w, &ev->json);
    sm_jw_begin_object(w);
}

/* {"reload": true}: the row said "too many to list"; the client reads the whole kind again. */
static int emit_reload(struct sm__events *ev, struct sm_buf *out, unsigned kind, struct sm_err *err)
{
    struct sm_jw w;
    begin_json(ev, &w);
    sm_jw_keyz(&w, "reload");
    sm_jw_bool(&w, true);
    sm_jw_end_object(&w);
    return emit(ev, out, kind, &w, err);
}

static void key_id(struct sm_jw *w, const char *key, const char *id)
{
    sm_jw_keyz(w, key);
    if (id != NULL && id[0] != '\0')
        sm_jw_stringz(w, id);
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

/* Text that may not be UTF-8 (a worker's raw output), as a JSON string. */
static void text_value(struct sm_jw *w, const char *s, size_t len)
{
    if (s == NULL) {
        sm_jw_null(w);
        return;
    }
    if (sm__http_is_utf8(s, len)) {
        sm_jw_string(w, s, len);
        return;
    }
    char *clean = sm_xmalloc(len + 1);
    sm__http_sanitize(s, clean, len + 1);
    sm_jw_stringz(w, clean);
    sm_free(clean);
}

/* What a dashboard needs to draw or recolour a run's node. */
static void run_json(struct sm_jw *w, const struct sm_run_rec *r)
{
    sm_jw_begin_object(w);
    key_id(w, "id", r->id);
    key_id(w, "root_id", r->root_id);
    key_id(w, "parent_id", r->parent_id);
    key_id(w, "original_run_id", r->original_run_id);
    sm_jw_keyz(w, "name");
    text_value(w, r->name, r->name != NULL ? strlen(r->name) : 0);
    sm_jw_keyz(w, "function_path");
    text_value(w, r->function_path, r->function_path != NULL ? strlen(r->function_path) : 0);
    sm_jw_keyz(w, "future_state");
    sm_jw_stringz(w, sm_state_name((enum sm_state)r->state));
    key_time(w, "created_at", r->created_at);
    key_time(w, "updated_at", r->updated_at);
    key_time(w, "started_at", r->started_at);
    key_time(w, "ended_at", r->ended_at);
    key_time(w, "resolved_at", r->resolved_at);
    key_time(w, "failed_at", r->failed_at);
    sm_jw_end_object(w);
}

/* ------------------------------------------------------------ runs */

struct runs_ctx {
    struct sm_jw *w;
    int64_t seq; /* keep the runs last written by this sequence */
    size_t n;
};

static int on_run(void *ctx, const struct sm_run_rec *r)
{
    struct runs_ctx *rc = ctx;
    /* A later batch rewrote it: that batch's event sends it, as it is now. */
    if (r->seq != rc->seq)
        return 0;
    run_json(rc->w, r);
    rc->n++;
    return 0;
}

/* Query runs with a filter (JSON text) into a `runs` event (sent when it holds any). */
static int query_runs_event(struct sm__events *ev, struct sm_store *store, struct sm_buf *out,
                            const char *filter_json, size_t filter_len, int64_t seq,
                            const char *cursor, int64_t limit, struct sm_page *page,
                            struct sm_err *err)
{
    struct sm_filter f;
    int rc = sm_filter_parse(&f, SM_ENTITY_RUNS, filter_json, filter_len, err);
    if (rc)
        return rc;
    struct sm_jw w;
    begin_json(ev, &w);
    sm_jw_keyz(&w, "runs");
    sm_jw_begin_array(&w);
    struct runs_ctx rctx = {.w = &w, .seq = seq};
    struct sm_query q = {.filter = &f, .cursor = cursor, .limit = limit, .ascending = true};
    rc = sm_store_query_runs(store, &q, on_run, &rctx, page, err);
    sm_filter_release(&f);
    if (rc)
        return rc;
    sm_jw_end_array(&w);
    sm_jw_end_object(&w);
    if (rctx.n == 0) {
        sm_buf_reset(&ev->json);
        return 0;
    }
    return emit(ev, out, SM_EVENTS_RUNS, &w, err);
}

/* A `runs` row: the next SM_EVENTS_RUNS_PER_EVENT runs of its id list, in one read. */
static int step_runs(struct sm__events *ev, struct sm_store *store, struct row *r,
                     struct sm_buf *out, bool *done, struct sm_err *err)
{
    if (r->payload == NULL) {
        *done = true;
        return emit_reload(ev, out, SM_EVENTS_RUNS, err);
    }
    struct sm_buf filter = SM_BUF_INIT((size_t)1 << 20);
    if (ev->has_root)
        sm_buf_addf(&filter, "{\"AND\":[{\"root_id\":{\"eq\":\"%s\"}},", ev->root_id);
    sm_buf_adds(&filter, "{\"id\":{\"in\":[");
    char id[SM_ID_HEX_LEN + 1];
    size_t n = 0;
    while (n < SM_EVENTS_RUNS_PER_EVENT && sm__events_next_id(r->payload, &r->pos, id))
        sm_buf_addf(&filter, "%s\"%s\"", n++ > 0 ? "," : "", id);
    sm_buf_adds(&filter, ev->has_root ? "]}}]}" : "]}}");
    *done = r->payload[r->pos] == '\0';
    int rc = n == 0 ? 0
                    : query_runs_event(ev, store, out, filter.data, filter.len, r->seq, NULL, 0,
                                       NULL, err);
    sm_buf_release(&filter);
    return rc;
}

/* ------------------------------------------------------------ pipeline runs */

/* The pipeline run as it is now, when this sequence was its last write. */
static int pipeline_event(struct sm__events *ev, struct sm_store *store, struct sm_buf *out,
                          const char *root_id, int64_t seq, struct sm_err *err)
{
    struct sm_pipeline_rec p;
    struct sm_err gerr = SM_ERR_INIT;
    int rc = sm_store_get_pipeline(store, root_id, &p, &gerr);
    if (rc == SM_ENOTFOUND)
        return 0;
    if (rc)
        return sm_errf(err, rc, "%s", gerr.msg);
    if (p.seq != seq)
        return 0; /* rewritten by a later batch, whose event sends it */
    struct sm_jw w;
    begin_json(ev, &w);
    key_id(&w, "root_id", p.root_id);
    sm_jw_keyz(&w, "status");
    sm_jw_stringz(&w, sm_pipeline_status_name((enum sm_pipeline_status)p.status));
    key_time(&w, "created_at", p.created_at);
    key_time(&w, "updated_at", p.updated_at);
    key_time(&w, "ended_at", p.ended_at);
    sm_jw_end_object(&w);
    return emit(ev, out, SM_EVENTS_PIPELINE_STATUS, &w, err);
}

/* A `pipelines` row (put_pipeline): the status of each pipeline run it names. */
static int step_pipelines(struct sm__events *ev, struct sm_store *store, struct row *r,
                          struct sm_buf *out, bool *done, struct sm_err *err)
{
    *done = true;
    if (r->payload == NULL)
        return emit_reload(ev, out, SM_EVENTS_PIPELINE_STATUS, err);
    char id[SM_ID_HEX_LEN + 1];
    while (sm__events_next_id(r->payload, &r->pos, id)) {
        if (!root_wanted(ev, id))
            continue;
        int rc = pipeline_event(ev, store, out, id, r->seq, err);
        if (rc)
            return rc;
    }
    return 0;
}

/*
 * A `pipeline_status` row (sm_store_set_pipeline_status: a cancel, or a
 * failure noticed by `sematic cancel`): for FAILED and CANCELED, first the
 * runs it canceled (stamped with its sequence, named by no `runs` row),
 * a page at a time; then the status.
 */
static int step_pipeline_status(struct sm__events *ev, struct sm_store *store, struct row *r,
                                struct sm_buf *out, bool *done, struct sm_err *err)
{
    const char *root = r->subject;
    *done = true;
    if (root == NULL || strlen(root) != SM_ID_HEX_LEN || !sm_is_hex(root, SM_ID_HEX_LEN))
        return 0;
    bool cancels = r->payload != NULL && (strstr(r->payload, "\"CANCELED\"") != NULL ||
                                          strstr(r->payload, "\"FAILED\"") != NULL);
    if (r->stage == 0 && cancels && (ev->kinds & SM_EVENTS_RUNS) != 0) {
        char filter[160];
        snprintf(
            filter, sizeof(filter),
            "{\"AND\":[{\"root_id\":{\"eq\":\"%s\"}},{\"future_state\":{\"eq\":\"CANCELED\"}}]}",
            root);
        struct sm_page page;
        int rc = query_runs_event(ev, store, out, filter, strlen(filter), r->seq, r->cursor,
                                  CANCELED_PAGE, &page, err);
        if (rc)
            return rc;
        snprintf(r->cursor, sizeof(r->cursor), "%s", page.next_cursor);
        if (r->cursor[0] != '\0') {
            *done = false;
            return 0;
        }
    }
    r->stage = 1;
    if ((ev->kinds & SM_EVENTS_PIPELINE_STATUS) == 0)
        return 0;
    return pipeline_event(ev, store, out, root, r->seq, err);
}

/* ------------------------------------------------------------ edges, notes, metrics */

/* An `edges` row: the pipeline runs whose edges changed (the client reads their graphs). */
static int step_edges(struct sm__events *ev, struct sm_buf *out, struct row *r, bool *done,
                      struct sm_err *err)
{
    *done = true;
    if (r->payload == NULL)
        return emit_reload(ev, out, SM_EVENTS_EDGES, err);
    struct sm_jw w;
    begin_json(ev, &w);
    sm_jw_keyz(&w, "root_ids");
    sm_jw_begin_array(&w);
    char id[SM_ID_HEX_LEN + 1];
    size_t n = 0;
    while (sm__events_next_id(r->payload, &r->pos, id)) {
        if (root_wanted(ev, id)) {
            sm_jw_stringz(&w, id);
            n++;
        }
    }
    sm_jw_end_array(&w);
    sm_jw_end_object(&w);
    if (n == 0) {
        sm_buf_reset(&ev->json);
        return 0;
    }
    return emit(ev, out, SM_EVENTS_EDGES, &w, err);
}

static const char *json_str(const struct sm_json *v, const char *key)
{
    const struct sm_json *m = sm_json_get(v, key);
    return m != NULL && m->kind == SM_JSON_STRING ? m->str : NULL;
}

/* A `note` row: the note (its text, unless it was deleted). */
static int step_note(struct sm__events *ev, struct sm_store *store, struct row *r,
                     struct sm_buf *out, bool *done, struct sm_err *err)
{
    *done = true;
    const char *id = r->subject;
    if (id == NULL || strlen(id) != SM_ID_HEX_LEN || !sm_is_hex(id, SM_ID_HEX_LEN) ||
        r->payload == NULL)
        return 0;
    struct sm_json_doc doc = {0};
    struct sm_err perr = SM_ERR_INIT;
    if (sm_json_parse(&doc, r->payload, strlen(r->payload), &perr) != 0 ||
        doc.root->kind != SM_JSON_OBJECT) {
        sm_json_doc_release(&doc);
        return 0; /* not a row this server understands */
    }
    const char *run_id = json_str(doc.root, "run_id");
    const char *root_id = json_str(doc.root, "root_id");
    const struct sm_json *deleted = sm_json_get(doc.root, "deleted");
    bool is_deleted = deleted != NULL && deleted->kind == SM_JSON_BOOL && deleted->boolean;
    int rc = 0;
    if (root_wanted(ev, root_id)) {
        struct sm_jw w;
        begin_json(ev, &w);
        key_id(&w, "id", id);
        sm_jw_keyz(&w, "run_id");
        sm_jw_stringz(&w, run_id);
        sm_jw_keyz(&w, "root_id");
        sm_jw_stringz(&w, root_id);
        sm_jw_keyz(&w, "deleted");
        sm_jw_bool(&w, is_deleted);
        sm_jw_keyz(&w, "note");
        struct sm_note_rec note;
        struct sm_err gerr = SM_ERR_INIT;
        int grc = is_deleted ? SM_ENOTFOUND : sm_store_get_note(store, id, &note, &gerr);
        if (grc == 0) {
            /* Sematic's note, as GET /api/v1/notes shows it: with its author. */
            grc = sm__api_write_note(&w, store, &note, &gerr);
        } else if (grc == SM_ENOTFOUND) {
            sm_jw_null(&w); /* deleted, or deleted since */
            grc = 0;
        }
        if (grc != 0)
            rc = sm_errf(err, grc, "%s", gerr.msg);
        sm_jw_end_object(&w);
        rc = rc ? rc : emit(ev, out, SM_EVENTS_NOTE, &w, err);
    }
    sm_json_doc_release(&doc);
    return rc;
}

struct names_ctx {
    const struct sm_json *batch; /* the row's names */
    struct sm_jw *w;
    size_t n;
};

static int on_root_metric_name(void *ctx, const char *name)
{
    struct names_ctx *nc = ctx;
    for (size_t i = 0; i < nc->batch->n_items; i++) {
        const struct sm_json *v = &nc->batch->items[i];
        if (v->kind == SM_JSON_STRING && strcmp(v->str, name) == 0) {
            sm_jw_stringz(nc->w, name);
            nc->n++;
            break;
        }
    }
    return 0;
}

/*
 * A `metrics` row: the names of the metrics that got points. Under
 * ?root_id=, the names the pipeline has points of (labels "root_id"), so a
 * name two pipelines share may show up when only the other one grew.
 */
static int step_metrics(struct sm__events *ev, struct sm_store *store, struct row *r,
                        struct sm_buf *out, bool *done, struct sm_err *err)
{
    *done = true;
    if (r->payload == NULL)
        return emit_reload(ev, out, SM_EVENTS_METRICS, err);
    struct sm_json_doc doc = {0};
    struct sm_err perr = SM_ERR_INIT;
    if (sm_json_parse(&doc, r->payload, strlen(r->payload), &perr) != 0 ||
        doc.root->kind != SM_JSON_ARRAY) {
        sm_json_doc_release(&doc);
        return 0;
    }
    struct sm_jw w;
    begin_json(ev, &w);
    sm_jw_keyz(&w, "names");
    sm_jw_begin_array(&w);
    struct names_ctx nc = {.batch = doc.root, .w = &w};
    int rc = 0;
    if (ev->has_root) {
        char labels[64];
        snprintf(labels, sizeof(labels), "{\"root_id\":\"%s\"}", ev->root_id);
        rc = sm_store_list_metric_names(store, labels, on_root_metric_name, &nc, err);
    } else {
        for (size_t i = 0; i < doc.root->n_items; i++) {
            if (doc.root->items[i].kind == SM_JSON_STRING) {
                text_value(&w, doc.root->items[i].str, doc.root->items[i].len);
                nc.n++;
            }
        }
    }
    sm_jw_end_array(&w);
    sm_jw_end_object(&w);
    if (rc == 0 && nc.n > 0)
        rc = emit(ev, out, SM_EVENTS_METRICS, &w, err);
    else
        sm_buf_reset(&ev->json);
    sm_json_doc_release(&doc);
    return rc;
}

/* ------------------------------------------------------------ log lines */

static const char *stream_name(int stream)
{
    switch (stream) {
    case 1:
        return "stdout";
    case 2:
        return "stderr";
    case 3:
        return "logging";
    default:
        return "other";
    }
}

struct lines_ctx {
    struct sm_jw *w;
    int64_t last_id;
    size_t n, bytes;
    bool is_full;
};

static int on_line(void *ctx, const struct sm_log_rec *line)
{
    struct lines_ctx *lc = ctx;
    if (lc->bytes + line->len > LOG_EVENT_BYTES && lc->n > 0) {
        lc->is_full = true;
        return 1; /* the rest goes with the run's next event */
    }
    sm_jw_begin_object(lc->w);
    sm_jw_keyz(lc->w, "id");
    sm_jw_int(lc->w, line->id);
    sm_jw_keyz(lc->w, "stream");
    sm_jw_stringz(lc->w, stream_name(line->stream));
    key_time(lc->w, "ts", line->ts);
    sm_jw_keyz(lc->w, "text");
    text_value(lc->w, line->text, line->len);
    sm_jw_end_object(lc->w);
    lc->last_id = line->id;
    lc->bytes += line->len;
    lc->n++;
    return 0;
}

/*
 * A `logs` row: for the next run it names, the lines after the last one
 * sent (at most SM_EVENTS_LOG_LINES_MAX and LOG_EVENT_BYTES; "more": true
 * when more were there: they come with the run's next event, or from the
 * logs endpoint). A run first seen starts after the log floor.
 */
static int step_logs(struct sm__events *ev, struct sm_store *store, struct row *r,
                     struct sm_buf *out, bool *done, struct sm_err *err)
{
    if (r->payload == NULL) {
        *done = true;
        return emit_reload(ev, out, SM_EVENTS_LOGS, err);
    }
    char run_id[SM_ID_HEX_LEN + 1];
    if (!sm__events_next_id(r->payload, &r->pos, run_id)) {
        *done = true;
        return 0;
    }
    *done = r->payload[r->pos] == '\0';
    struct sm__run_info *info = sm__run_memo_get(&ev->memo, run_id);
    if (info == NULL) {
        struct sm_run_rec run;
        struct sm_err gerr = SM_ERR_INIT;
        int rc = sm_store_get_run(store, run_id, &run, &gerr);
        if (rc != 0 && rc != SM_ENOTFOUND)
            return sm_errf(err, rc, "%s", gerr.msg);
        if (rc == SM_ENOTFOUND && ev->has_root)
            return 0; /* no run (yet): its pipeline is unknown */
        info = sm__run_memo_put(&ev->memo, run_id, ev->log_floor);
        if (rc == 0)
            snprintf(info->root_id, sizeof(info->root_id), "%s", run.root_id);
    }
    if (!root_wanted(ev, info->root_id))
        return 0;
    struct sm_jw w;
    begin_json(ev, &w);
    key_id(&w, "run_id", run_id);
    key_id(&w, "root_id", info->root_id);
    sm_jw_keyz(&w, "lines");
    sm_jw_begin_array(&w);
    struct lines_ctx lc = {.w = &w, .last_id = info->log_after};
    int rc = sm_store_read_logs(store, run_id, info->log_after, SM_EVENTS_LOG_LINES_MAX, on_line,
                                &lc, err);
    if (rc < 0)
        return rc;
    sm_jw_end_array(&w);
    sm_jw_keyz(&w, "more");
    sm_jw_bool(&w, lc.is_full || lc.n == SM_EVENTS_LOG_LINES_MAX);
    sm_jw_end_object(&w);
    if (lc.n == 0) {
        sm_buf_reset(&ev->json); /* sent already, with an earlier event of this run */
        return 0;
    }
    info->log_after = lc.last_id;
    return emit(ev, out, SM_EVENTS_LOGS, &w, err);
}

/* ------------------------------------------------------------ the pump */

static int step_row(struct sm__events *ev, struct sm_store *store, struct row *r,
                    struct sm_buf *out, bool *done, struct sm_err *err)
{
    switch (r->kind) {
    case ROW_RUNS:
        return step_runs(ev, store, r, out, done, err);
    case ROW_EDGES:
        return step_edges(ev, out, r, done, err);
    case ROW_PIPELINES:
        return step_pipelines(ev, store, r, out, done, err);
    case ROW_PIPELINE_STATUS:
        return step_pipeline_status(ev, store, r, out, done, err);
    case ROW_NOTE:
        return step_note(ev, store, r, out, done, err);
    case ROW_METRICS:
        return step_metrics(ev, store, r, out, done, err);
    case ROW_LOGS:
        return step_logs(ev, store, r, out, done, err);
    case ROW_OTHER:
        break;
    }
    *done = true;
    return 0;
}

int sm__events_pump(struct sm__events *ev, struct sm_store *store, bool check, struct sm_buf *out,
                    struct sm_err *err)
{
    if (check) {
        int64_t seq = sm_store_change_seq(store);
        if (seq < 0)
            return sm_errf(err, SM_EIO, "cannot read the change sequence of store '%s'",
                           store->home);
        if (seq > ev->known_seq)
            ev->known_seq = seq;
    }
    for (;;) {
        if (ev->head == ev->n && ev->listed < ev->known_seq) {
            int64_t before = ev->listed;
            int rc = list_more(ev, store, err);
            if (rc)
                return rc;
            if (ev->listed == before)
                break; /* nothing more can be read now */
            if (ev->head == ev->n && out->len >= SM_EVENTS_CHUNK_BYTES)
                break;
            continue; /* the rows read may all have been skipped: read on */
        }
        if (ev->head == ev->n || out->len >= SM_EVENTS_CHUNK_BYTES)
            break;
        struct row *r = &ev->rows[ev->head];
        bool done = false;
        int rc = step_row(ev, store, r, out, &done, err);
        if (rc)
            return rc < 0 ? rc : SM_EIO;
        if (!done)
            continue;
        int64_t seq = r->seq;
        row_release(r);
        ev->head++;
        /* The queue holds whole sequences: this was its last row when the next differs. */
        if (ev->head == ev->n || ev->rows[ev->head].seq != seq) {
            rc = end_seq(ev, out, seq, err);
            if (rc)
                return rc;
        }
    }
    if (ev->head == ev->n && ev->position < ev->listed)
        ev->position = ev->listed; /* the sequences after position had nothing for us */
    return 0;
}

/* ------------------------------------------------------------ the log floor */

/*
 * Log lines have no sequence, but their ids grow with every commit (the
 * store never deletes a line), so "the lines committed at or before
 * sequence S" are the lines with id <= G(S) for one number G(S): the
 * largest id among the lines of the last batch at or before S that wrote
 * any. That batch's `logs` row names its runs; a run's largest line id,
 * read now, is still what it was at S unless the run wrote lines after S,
 * which a later `logs` row would say. So:
 *
 *   candidates: the runs of the last FLOOR_ROWS `logs` rows at or before S;
 *   excluded:   those named again by a `logs` row after S (read up to the
 *               change sequence now; a row naming too many runs to list
 *               excludes them all);
 *   floor:      the largest line id of a candidate not excluded (a lower
 *               bound of G(S), equal to it unless every run of the last
 *               batch wrote again), checked again after reading the ids in
 *               case a commit came meanwhile.
 *
 * With no candidate the floor is 0: runs first seen are sent from their
 * first line, which repeats lines but never skips one.
 */
struct floor_ctx {
    int64_t upto;        /* back scan: rows with seq <= upto */
    char **rows;         /* back scan: payloads of the last FLOOR_ROWS logs rows (ring) */
    size_t n_rows, next; /* ring fill and next slot */
    char (*cands)[SM_ID_HEX_LEN + 1];
    bool *excluded;
    size_t n_cands;
    size_t n_read;        /* forward scan: rows read */
    bool is_all_excluded; /* forward scan: a row too big to list, or too many rows */
};

static int on_floor_back(void *ctx, const struct sm_event_rec *e)
{
    struct floor_ctx *fc = ctx;
    if (e->seq > fc->upto)
        return 1;
    if (strcmp(e->kind, "logs") != 0 || e->payload == NULL)
        return 0;
    sm_free(fc->rows[fc->next]);
    fc->rows[fc->next] = dup_or_null(e->payload);
    fc->next = (fc->next + 1) % FLOOR_ROWS;
    if (fc->n_rows < FLOOR_ROWS)
        fc->n_rows++;
    return 0;
}

static int on_floor_forward(void *ctx, const struct sm_event_rec *e)
{
    struct floor_ctx *fc = ctx;
    if (++fc->n_read > FLOOR_FORWARD_ROWS) {
        fc->is_all_excluded = true;
        return 1;
    }
    if (strcmp(e->kind, "logs") != 0)
        return 0;
    if (e->payload == NULL) {
        fc->is_all_excluded = true;
        return 1;
    }
    char id[SM_ID_HEX_LEN + 1];
    size_t pos = 0;
    while (sm__events_next_id(e->payload, &pos, id))
        for (size_t i = 0; i < fc->n_cands; i++)
            if (strcmp(fc->cands[i], id) == 0)
                fc->excluded[i] = true;
    return 0;
}

static int on_first_line(void *ctx, const struct sm_log_rec *line)
{
    *(int64_t *)ctx = line->id;
    return 1;
}

/* The id of run's first line with id > after, or -1 when there is none. */
static int next_line(struct sm_store *store, const char *run, int64_t after, int64_t *id,
                     struct sm_err *err)
{
    *id = -1;
    int rc = sm_store_read_logs(store, run, after, 1, on_first_line, id, err);
    return rc < 0 ? rc : 0;
}

/* The largest line id of run (0 when it has none): galloping, then bisecting, O(log id) reads. */
static int last_line(struct sm_store *store, const char *run, int64_t *out, struct sm_err *err)
{
    int64_t lo, n;
    int rc = next_line(store, run, 0, &lo, err);
    if (rc || lo < 0) {
        *out = 0;
        return rc;
    }
    int64_t step = 1, hi;
    for (;;) { /* lo is a line; find hi with no line at or above it */
        if (lo > INT64_MAX - step) {
            hi = INT64_MAX;
            break;
        }
        if ((rc = next_line(store, run, lo + step - 1, &n, err)) != 0)
            return rc;
        if (n < 0) {
            hi = lo + step - 1;
            break;
        }
        lo = n;
        step = step < INT64_MAX / 2 ? step * 2 : step;
    }
    while (lo < hi) { /* lo is a line, none is above hi */
        int64_t mid = lo + (hi - lo + 1) / 2;
        if ((rc = next_line(store, run, mid - 1, &n, err)) != 0)
            return rc;
        if (n < 0)
            hi = mid - 1;
        else
            lo = n;
    }
    *out = lo;
    return 0;
}

static int compute_floor(struct sm__events *ev, struct sm_store *store, struct floor_ctx *fc,
                         struct sm_err *err)
{
    int64_t start = ev->listed;
    /* The last logs rows at or before start, looking further back until some are found. */
    for (int64_t window = 64;; window *= 8) {
        int64_t from = start > window ? start - window : 0;
        for (size_t i = 0; i < FLOOR_ROWS; i++) {
            sm_free(fc->rows[i]);
            fc->rows[i] = NULL;
        }
        fc->n_rows = fc->next = 0;
        fc->upto = start;
        int rc = sm_store_list_events(store, from, 0, on_floor_back, fc, err);
        if (rc < 0)
            return rc;
        if (fc->n_rows > 0 || from == 0)
            break;
        if (window >= FLOOR_BACK_SEQS)
            return 0; /* none found near enough: floor 0 */
    }
    if (fc->n_rows == 0)
        return 0; /* no line was ever committed up to start: 0 is exact */
    for (size_t i = 0; i < FLOOR_ROWS; i++) {
        char id[SM_ID_HEX_LEN + 1];
        size_t pos = 0;
        while (fc->rows[i] != NULL && fc->n_cands < FLOOR_CANDIDATES &&
               sm__events_next_id(fc->rows[i], &pos, id)) {
            bool seen = false;
            for (size_t k = 0; k < fc->n_cands && !seen; k++)
                seen = strcmp(fc->cands[k], id) == 0;
            if (!seen)
                memcpy(fc->cands[fc->n_cands++], id, sizeof(id));
        }
    }
    /* Exclude the runs that wrote lines after start, up to a change sequence read first. */
    int64_t upto = start;
    for (int round = 0; round < FLOOR_ROUNDS; round++) {
        int64_t now = sm_store_change_seq(store);
        if (now < 0)
            return sm_errf(err, SM_EIO, "cannot read the change sequence of store '%s'",
                           store->home);
        if (round > 0 && now == upto)
            return 0; /* nothing was committed while the ids were read: the floor holds */
        fc->n_read = 0;
        int rc = sm_store_list_events(store, upto, 0, on_floor_forward, fc, err);
        if (rc < 0)
            return rc;
        if (fc->is_all_excluded) {
            ev->log_floor = 0;
            return 0;
        }
        upto = now;
        int64_t floor = 0;
        for (size_t i = 0; i < fc->n_cands; i++) {
            int64_t last = 0;
            if (!fc->excluded[i] && (rc = last_line(store, fc->cands[i], &last, err)) != 0)
                return rc;
            if (last > floor)
                floor = last;
        }
        ev->log_floor = floor;
    }
    ev->log_floor = 0; /* commits kept coming: take the safe floor */
    return 0;
}

int sm__events_find_log_floor(struct sm__events *ev, struct sm_store *store, struct sm_err *err)
{
    struct floor_ctx fc = {0};
    fc.rows = sm_xcalloc(FLOOR_ROWS, sizeof(*fc.rows));
    fc.cands = sm_xcalloc(FLOOR_CANDIDATES, sizeof(*fc.cands));
    fc.excluded = sm_xcalloc(FLOOR_CANDIDATES, sizeof(*fc.excluded));
    ev->log_floor = 0;
    int rc = compute_floor(ev, store, &fc, err);
    if (rc)
        ev->log_floor = 0;
    for (size_t i = 0; i < FLOOR_ROWS; i++)
        sm_free(fc.rows[i]);
    sm_free(fc.rows);
    sm_free(fc.cands);
    sm_free(fc.excluded);
    return rc;
}

/* ------------------------------------------------------------ the watcher */

/* A stream subscribed to the watcher: its eventfd is written when the store changed. */
struct sub {
    struct sub *prev, *next;
    int efd;
};

struct watcher_args {
    int ifd, stop_efd;
    struct sm_store *store; /* the watcher's own handle, NULL when it could not be opened */
    int64_t seen;           /* the change sequence when the watch began */
};

static struct {
    pthread_mutex_t mu;
    size_t n_streams; /* open streams, for the cap */
    struct sub *subs;
    bool is_running;
    pthread_t thread;
    int ifd, stop_efd;
    char dir[PATH_MAX];
} hub = {.mu = PTHREAD_MUTEX_INITIALIZER, .ifd = -1, .stop_efd = -1};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Read the pending inotify events; true when one concerns the database. */
static bool drain_inotify(int fd)
{
    bool relevant = false;
    for (;;) {
        _Alignas(struct inotify_event) char buf[4096];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            return relevant; /* EAGAIN: drained */
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *e = (const struct inotify_event *)(void *)p;
            if ((e->mask & IN_Q_OVERFLOW) != 0 ||
                (e->len > 0 &&
                 (strcmp(e->name, "sematic.db-wal") == 0 || strcmp(e->name, "sematic.db") == 0)))
                relevant = true;
            p += sizeof(*e) + e->len;
        }
    }
}

static void broadcast(void)
{
    uint64_t one = 1;
    pthread_mutex_lock(&hub.mu);
    for (struct sub *s = hub.subs; s != NULL; s = s->next) {
        ssize_t w = write(s->efd, &one, sizeof(one));
        (void)w; /* EAGAIN: the counter is full, so the stream is awake anyway */
    }
    pthread_mutex_unlock(&hub.mu);
}

/*
 * The watcher's thread: waits on inotify; after a write to the database,
 * reads the change sequence with a store handle of its own (one read of a
 * one-row table) now and again while settling, and wakes the streams when
 * it grew, at most once per BROADCAST_MIN_MS, so a runner committing every
 * few milliseconds costs each stream one pass per window, not per commit.
 * Without a store handle it wakes the streams on every relevant event and
 * they look for themselves.
 */
static void *watcher_main(void *arg)
{
    struct watcher_args *a = arg;
    struct sm_store *store = a->store;
    int64_t seen = a->seen;
    int settle_ms = 0;
    int64_t settle_due = 0, last_broadcast = 0;
    bool is_owed = false;
    for (;;) {
        int64_t now = mono_us(), wake_at = INT64_MAX;
        if (is_owed)
            wake_at = last_broadcast + BROADCAST_MIN_MS * 1000;
        if (settle_ms > 0 && settle_due < wake_at)
            wake_at = settle_due;
        int timeout_ms = wake_at == INT64_MAX ? -1
                         : wake_at <= now     ? 0
                                              : (int)((wake_at - now + 999) / 1000);
        struct pollfd pfd[2] = {{.fd = a->stop_efd, .events = POLLIN},
                                {.fd = a->ifd, .events = POLLIN}};
        int rc = poll(pfd, 2, timeout_ms);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0 || pfd[0].revents != 0)
            break;
        now = mono_us();
        bool look = false;
        if (pfd[1].revents != 0 && drain_inotify(a->ifd)) {
            look = true;
            settle_ms = SETTLE_FIRST_MS;
            settle_due = now + SETTLE_FIRST_MS * 1000;
        } else if (settle_ms > 0 && now >= settle_due) {
            look = true;
            settle_ms *= 2;
            if (settle_ms > SETTLE_LAST_MS)
                settle_ms = 0;
            else
                settle_due = now + (int64_t)settle_ms * 1000;
        }
        if (look && store == NULL) {
            is_owed = true;
        } else if (look) {
            int64_t seq = sm_store_change_seq(store);
            if (seq < 0 || seq > seen) { /* unreadable: let the streams find out */
                seen = seq < 0 ? seen : seq;
                is_owed = true;
            }
        }
        if (is_owed && now >= last_broadcast + BROADCAST_MIN_MS * 1000) {
            broadcast();
            last_broadcast = now;
            is_owed = false;
        }
    }
    sm_store_close(store);
    sm_free(a);
    return NULL;
}

/* Start the watcher on the store in dir (hub.mu held). 0, or an errno value. */
static int watcher_start(const char *dir)
{
    int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ifd < 0)
        return errno;
    if (inotify_add_watch(ifd, dir, IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO) < 0) {
        int e = errno;
        close(ifd);
        return e;
    }
    int stop_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (stop_efd < 0) {
        int e = errno;
        close(ifd);
        return e;
    }
    struct watcher_args *a = sm_xcalloc(1, sizeof(*a));
    a->ifd = ifd;
    a->stop_efd = stop_efd;
    /* The sequence is read after the watch is set, before the thread runs: a commit after
     * it wakes the watcher, one before it is in what the subscribing stream reads next. */
    struct sm_err err = SM_ERR_INIT;
    a->store = sm_store_open_sqlite(dir, SM_STORE_SYNC_NORMAL, &err);
    a->seen = a->store != NULL ? sm_store_change_seq(a->store) : -1;
    int e = pthread_create(&hub.thread, NULL, watcher_main, a);
    if (e != 0) {
        sm_store_close(a->store);
        sm_free(a);
        close(ifd);
        close(stop_efd);
        return e;
    }
    hub.is_running = true;
    hub.ifd = ifd;
    hub.stop_efd = stop_efd;
    snprintf(hub.dir, sizeof(hub.dir), "%s", dir);
    return 0;
}

/*
 * Subscribe sub to changes of the store in dir (sub->efd set by the caller).
 * Returns true when the watcher covers it; false (with why in reason) when
 * the stream must look by itself.
 */
static bool subscribe(struct sub *sub, const char *dir, char *reason, size_t size)
{
    pthread_mutex_lock(&hub.mu);
    int e = hub.is_running ? 0 : watcher_start(dir);
    bool is_watched = e == 0 && strcmp(hub.dir, dir) == 0;
    if (e != 0)
        sm__http_textf(reason, size, "cannot watch '%s' with inotify: %s", dir, strerror(e));
    else if (!is_watched)
        sm__http_textf(reason, size, "the watcher follows '%s', not '%s'", hub.dir, dir);
    sub->prev = NULL;
    sub->next = hub.subs;
    if (hub.subs != NULL)
        hub.subs->prev = sub;
    hub.subs = sub;
    pthread_mutex_unlock(&hub.mu);
    return is_watched;
}

/* Unsubscribe; the last stream to leave stops the watcher (and waits for its thread). */
static void unsubscribe(struct sub *sub)
{
    pthread_mutex_lock(&hub.mu);
    if (sub->prev != NULL)
        sub->prev->next = sub->next;
    else
        hub.subs = sub->next;
    if (sub->next != NULL)
        sub->next->prev = sub->prev;
    bool stop = hub.subs == NULL && hub.is_running;
    pthread_t thread = hub.thread;
    int ifd = hub.ifd, stop_efd = hub.stop_efd;
    if (stop) {
        hub.is_running = false;
        hub.ifd = hub.stop_efd = -1;
        hub.dir[0] = '\0';
    }
    pthread_mutex_unlock(&hub.mu);
    if (!stop)
        return;
    uint64_t one = 1;
    ssize_t w = write(stop_efd, &one, sizeof(one));
    (void)w;
    pthread_join(thread, NULL);
    close(ifd);
    close(stop_efd);
}

/* Take a stream slot; false when max_streams are open. */
static bool slot_take(size_t max_streams, size_t *n_open)
{
    pthread_mutex_lock(&hub.mu);
    *n_open = hub.n_streams;
    bool ok = hub.n_streams < max_streams;
    if (ok)
        hub.n_streams++;
    pthread_mutex_unlock(&hub.mu);
    return ok;
}

static void slot_give(void)
{
    pthread_mutex_lock(&hub.mu);
    hub.n_streams--;
    pthread_mutex_unlock(&hub.mu);
}

/* ------------------------------------------------------------ the stream */

struct stream {
    struct sm__events *ev;
    struct sub sub;
    bool is_subscribed, is_watched, has_slot;
    bool is_started, is_check_due;
    int64_t start_seq, asked_after; /* asked_after -1: "from now" */
    int keepalive_ms;
    int64_t last_sent_us, blind_due_us;
};

static void stream_free(void *ctx)
{
    struct stream *st = ctx;
    if (st->is_subscribed)
        unsubscribe(&st->sub);
    if (st->sub.efd >= 0)
        close(st->sub.efd);
    if (st->has_slot)
        slot_give();
    sm__events_free(st->ev);
    sm_free(st);
}

/* The first bytes: the reconnection delay, and where the stream starts. */
static void stream_start(struct stream *st, struct sm_buf *out)
{
    sm_buf_addf(out, "retry: %d\n", RETRY_MS);
    if (st->asked_after > st->start_seq) {
        char note[160];
        sm__http_textf(note, sizeof(note),
                       "after %lld is past the store's last change %lld: starting from there",
                       (long long)st->asked_after, (long long)st->start_seq);
        sm__sse_comment(out, note);
    }
    char data[64];
    sm__http_textf(data, sizeof(data), "{\"after\":%lld}", (long long)st->start_seq);
    sm__sse_event(out, st->start_seq, "start", data, strlen(data));
}

/*
 * Block until there may be something to do: the watcher's word, the
 * keepalive timer, or (without the watcher) the next blind look. Returns
 * SM_HTTP_STREAM_END when the client left or the server stops.
 */
static int stream_wait(struct stream *st, struct sm_http_stream *s, struct sm_buf *out)
{
    int64_t now = mono_us();
    int64_t keepalive_at = st->last_sent_us + (int64_t)st->keepalive_ms * 1000;
    int64_t wake_at = keepalive_at;
    if (!st->is_watched && st->blind_due_us < wake_at)
        wake_at = st->blind_due_us;
    int64_t left_us = wake_at - now;
    int timeout_ms = left_us > 0 ? (int)((left_us + 999) / 1000) : 0;
    enum sm_http_wait w = sm_http_stream_wait(s, st->is_watched ? st->sub.efd : -1, timeout_ms);
    if (w == SM_HTTP_WAIT_CLOSED)
        return SM_HTTP_STREAM_END;
    now = mono_us();
    if (w == SM_HTTP_WAIT_READY) {
        uint64_t count;
        ssize_t r = read(st->sub.efd, &count, sizeof(count));
        (void)r;
        st->is_check_due = true;
        return SM_HTTP_STREAM_MORE;
    }
    if (!st->is_watched && now >= st->blind_due_us) {
        st->is_check_due = true;
        st->blind_due_us = now + NO_WATCH_CHECK_MS * 1000;
    }
    if (now >= keepalive_at) {
        sm__sse_comment(out, "keepalive");
        st->is_check_due = true; /* cheap, and covers a commit no wake-up reported */
    }
    return SM_HTTP_STREAM_MORE;
}

static int stream_next(void *ctx, struct sm_http_stream *s, struct sm_buf *out)
{
    struct stream *st = ctx;
    if (!st->is_started) {
        st->is_started = true;
        stream_start(st, out);
        st->is_check_due = true; /* what was committed since the handler read the sequence */
        st->last_sent_us = mono_us();
        return SM_HTTP_STREAM_MORE;
    }
    if (!st->is_check_due && !sm__events_pending(st->ev)) {
        int rc = stream_wait(st, s, out);
        if (rc != SM_HTTP_STREAM_MORE)
            return rc;
    }
    if (st->is_check_due || sm__events_pending(st->ev)) {
        struct sm_err err = SM_ERR_INIT;
        struct sm_store *store = sm_http_stream_store(s, &err);
        if (store == NULL)
            return err.code < 0 ? err.code : SM_EIO;
        int rc = sm__events_pump(st->ev, store, st->is_check_due, out, &err);
        st->is_check_due = false;
        if (rc)
            return rc < 0 ? rc : SM_EIO;
    }
    if (out->len > 0)
        st->last_sent_us = mono_us();
    return SM_HTTP_STREAM_MORE;
}

/* ------------------------------------------------------------ the handler */

/* A positive integer setting from the environment, or dflt (logging why) when unset or bad. */
static int64_t int_setting(struct sm_http_req *req, const char *name, int64_t dflt, int64_t min,
                           int64_t max)
{
    const char *text = getenv(name);
    if (text == NULL || text[0] == '\0')
        return dflt;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno == 0 && end != text && *end == '\0' && v >= min && v <= max)
        return v;
    sm_http_log(req, "ignoring %s='%.40s': expected a whole number from %lld to %lld; using %lld",
                name, text, (long long)min, (long long)max, (long long)dflt);
    return dflt;
}

/* GET /api/v1/events: the store's changes as server-sent events (docs/server.md). */
int sm__api_events(struct sm_http_req *req, struct sm_http_resp *resp)
{
    struct sm_err err = SM_ERR_INIT;
    unsigned kinds;
    if (sm__events_parse_kinds(sm_http_query(req, "kinds"), &kinds, &err) != 0)
        return sm_http_error(resp, 400, "%s", err.msg);
    char root[SM_ID_HEX_LEN + 1];
    const char *root_text = sm_http_query(req, "root_id");
    if (root_text != NULL && sm__events_parse_root(root_text, root, &err) != 0)
        return sm_http_error(resp, 400, "%s", err.msg);
    /* A reconnecting browser sends Last-Event-ID with the first URL: the header is newer. */
    int64_t after = -1;
    const char *last_id = sm_http_header(req, "Last-Event-ID");
    const char *after_text = sm_http_query(req, "after");
    if (last_id != NULL && last_id[0] != '\0') {
        if (sm__events_parse_seq("Last-Event-ID", last_id, &after, &err) != 0)
            return sm_http_error(resp, 400, "%s", err.msg);
    } else if (after_text != NULL) {
        if (sm__events_parse_seq("after", after_text, &after, &err) != 0)
            return sm_http_error(resp, 400, "%s", err.msg);
    }
    if (req->is_head)
        return sm_http_bytes(resp, 200, "text/event-stream", "", 0);

    size_t max_streams =
        (size_t)int_setting(req, "SEMATIC_SERVER_EVENTS_MAX_STREAMS", DEFAULT_MAX_STREAMS, 1, 4096);
    size_t n_open;
    if (!slot_take(max_streams, &n_open)) {
        sm_http_add_header(resp, "Retry-After", "5");
        return sm_http_error(resp, 503,
                             "too many event streams: %zu are open, the most this server serves "
                             "at once (SEMATIC_SERVER_EVENTS_MAX_STREAMS, default %d); close "
                             "one (each dashboard tab holds one) and retry",
                             n_open, DEFAULT_MAX_STREAMS);
    }
    struct stream *st = sm_xcalloc(1, sizeof(*st));
    st->has_slot = true;
    st->sub.efd = -1;
    st->asked_after = after;
    st->keepalive_ms = (int)int_setting(req, "SEMATIC_SERVER_EVENTS_KEEPALIVE_MS",
                                        DEFAULT_KEEPALIVE_MS, 10, 3600 * 1000);

    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL) {
        stream_free(st);
        return sm_http_store_error(resp, &err);
    }
    /* Subscribe before reading the sequence, so no commit after it goes unnoticed. */
    const char *watch = sm_store_watch_path(store);
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", watch != NULL ? watch : "");
    char *slash = strrchr(dir, '/');
    st->sub.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (slash != NULL && st->sub.efd >= 0) {
        *slash = '\0';
        char reason[PATH_MAX + 128];
        st->is_subscribed = true;
        st->is_watched = subscribe(&st->sub, dir, reason, sizeof(reason));
        if (!st->is_watched)
            sm_http_log(req, "%s; this event stream looks for changes every %d ms", reason,
                        NO_WATCH_CHECK_MS);
    } else {
        sm_http_log(req, "cannot wait for store changes (%s); this event stream looks every %d ms",
                    st->sub.efd < 0 ? strerror(errno) : "the store names no file to watch",
                    NO_WATCH_CHECK_MS);
    }
    st->blind_due_us = mono_us() + NO_WATCH_CHECK_MS * 1000;

    int64_t now_seq = sm_store_change_seq(store);
    if (now_seq < 0) {
        stream_free(st);
        sm_errf(&err, SM_EIO, "cannot read the change sequence of store '%s'", store->home);
        return sm_http_store_error(resp, &err);
    }
    st->start_seq = after >= 0 && after < now_seq ? after : now_seq;
    st->ev = sm__events_new(kinds, root_text != NULL ? root : NULL, st->start_seq);
    if ((kinds & SM_EVENTS_LOGS) != 0 && sm__events_find_log_floor(st->ev, store, &err) != 0) {
        stream_free(st);
        return sm_http_store_error(resp, &err);
    }
    sm_http_add_header(resp, "Cache-Control", "no-cache");
    sm_http_add_header(resp, "X-Accel-Buffering", "no"); /* proxies: pass events on at once */
    return sm_http_stream(resp, 200, "text/event-stream", stream_next, st, stream_free);
}
