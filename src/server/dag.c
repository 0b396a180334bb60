/*
 * dag.c: GET /api/v1/runs/:id/dag, the compact graph of the pipeline run
 * that holds run :id (ours, not Sematic's; ui/README.md "The graph
 * payload" is the contract):
 *
 *   {"root_id", "change_seq", "states": [...], "names": [...], "functions": [...],
 *    "runs": {"id": [...], "parent": [...], "name": [...], "function": [...], "state": [...]},
 *    "edges": [src, dst, src, dst, ...]}
 *
 * Runs are columns; parent, name, function and state are indexes (-1: no
 * parent); names and function paths are interned; edges are run index
 * pairs, each connected pair once, in the order first written.
 *
 * The handler reads everything (sm_store_read_dag: the change sequence,
 * the runs, the edges in one read transaction), then the body is streamed
 * from that in pieces of about PIECE_BYTES: 100,000 runs are about 6 MB
 * of JSON, never one buffer, and no store handle is held while it is sent.
 *
 * Invariant: every run comes after its parent. The store hands runs out in
 * the order they were first written, which is that order for every runner
 * (a child is made by its running parent); anything else (a client's graph
 * written children first, a parent in another pipeline) is put right by
 * order_parents_first(), which moves each run's ancestors before it and
 * cuts a parent cycle, which no store should hold, at the run found in it.
 *
 * Start reading at sm__api_run_dag().
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sematic/alloc.h"
#include "sematic/graph.h"
#include "sematic/hash.h"

#include "api.h"
#include "handlers.h"
#include "internal.h"

#include "util/banned.h"

/* Bytes of JSON one stream callback hands out, about. */
#define PIECE_BYTES ((size_t)256 << 10)
/* The head of the body (ids, states, names, functions) may be this big. */
#define HEAD_MAX_BYTES ((size_t)256 << 20)

/* Sematic's future states in the payload's fixed order (ui/README.md). */
static const enum sm_state state_order[] = {
    SM_STATE_CREATED, SM_STATE_SCHEDULED,     SM_STATE_RAN,      SM_STATE_RESOLVED,
    SM_STATE_FAILED,  SM_STATE_NESTED_FAILED, SM_STATE_CANCELED, SM_STATE_RETRYING,
};
#define N_STATES (sizeof(state_order) / sizeof(state_order[0]))
_Static_assert(N_STATES == SM_STATE_COUNT, "dag.c: every state has its place in the payload");

/* ------------------------------------------------------------ hash tables */

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = mix(h ^ w);
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    return mix(h ^ w);
}

/* Open addressing: slots hold index + 1 (0 is empty) into a caller's array of strings. */
struct table {
    uint32_t *slots;
    size_t mask; /* slots - 1; a power of two minus one */
    size_t n;
};

static void table_release(struct table *t)
{
    sm_free(t->slots);
    t->slots = NULL;
    t->mask = 0;
    t->n = 0;
}

static void table_grow(struct table *t, uint64_t (*hash_of)(const void *ctx, uint32_t i),
                       const void *ctx)
{
    size_t size = t->slots ? (t->mask + 1) * 2 : 1024;
    uint32_t *slots = sm_xcalloc(size, sizeof(*slots));
    for (size_t i = 0; t->slots != NULL && i <= t->mask; i++) {
        if (t->slots[i] == 0)
            continue;
        size_t k = hash_of(ctx, t->slots[i] - 1) & (size - 1);
        while (slots[k] != 0)
            k = (k + 1) & (size - 1);
        slots[k] = t->slots[i];
    }
    sm_free(t->slots);
    t->slots = slots;
    t->mask = size - 1;
}

/* ------------------------------------------------------------ interned strings */

struct strings {
    char **items;
    size_t *lens;
    size_t n, cap;
    struct table t;
    uint32_t last; /* the last one found: runs of one function come together */
};

static uint64_t string_hash(const void *ctx, uint32_t i)
{
    const struct strings *s = ctx;
    return hash_bytes(s->items[i], s->lens[i]);
}

static uint32_t intern(struct strings *s, const char *text)
{
    size_t len = strlen(text);
    if (s->n > 0 && s->lens[s->last] == len && memcmp(s->items[s->last], text, len) == 0)
        return s->last;
    if ((s->n + 1) * 2 > s->t.mask + 1)
        table_grow(&s->t, string_hash, s);
    uint64_t h = hash_bytes(text, len);
    size_t k = h & s->t.mask;
    for (; s->t.slots[k] != 0; k = (k + 1) & s->t.mask) {
        uint32_t i = s->t.slots[k] - 1;
        if (s->lens[i] == len && memcmp(s->items[i], text, len) == 0)
            return s->last = i;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->items = sm_xrealloc(s->items, s->cap * sizeof(*s->items));
        s->lens = sm_xrealloc(s->lens, s->cap * sizeof(*s->lens));
    }
    s->items[s->n] = sm_xmalloc(len + 1);
    memcpy(s->items[s->n], text, len + 1);
    s->lens[s->n] = len;
    s->t.slots[k] = (uint32_t)s->n + 1;
    return s->last = (uint32_t)s->n++;
}

static void strings_release(struct strings *s)
{
    for (size_t i = 0; i < s->n; i++)
        sm_free(s->items[i]);
    sm_free(s->items);
    sm_free(s->lens);
    table_release(&s->t);
}

/* ------------------------------------------------------------ the graph read */

/* A one-entry memo in front of find_run(): children of one parent, and the edges into one
 * run (a fan-out's list), come one after the other. */
struct memo {
    char id[SM_ID_HEX_LEN + 1];
    int32_t index;
};

struct dag {
    char root_id[SM_ID_HEX_LEN + 1];
    int64_t change_seq;
    /* Runs, as read (then ordered parents first). */
    char (*ids)[SM_ID_HEX_LEN + 1];
    char (*parent_ids)[SM_ID_HEX_LEN + 1]; /* "" for none; freed once parents are indexes */
    int32_t *parent;
    uint32_t *name, *function;
    uint8_t *state; /* index into state_order */
    size_t n, cap;
    struct table by_id; /* run id -> index */
    struct memo memo_source, memo_destination;
    struct strings names, functions;
    /* Edges: run index pairs, as read, then each pair once. */
    uint32_t *edges;
    size_t n_edges, cap_edges; /* pairs */
    struct sm_err err;
    /* Sending. */
    struct sm_buf head; /* everything before the runs' columns */
    int stage;
    size_t pos;
};

static uint64_t id_hash(const void *ctx, uint32_t i)
{
    const struct dag *d = ctx;
    return hash_bytes(d->ids[i], SM_ID_HEX_LEN);
}

/* The index of run id, or -1. */
static int32_t find_run(const struct dag *d, const char *id)
{
    if (d->by_id.slots == NULL || strnlen(id, SM_ID_HEX_LEN + 1) != SM_ID_HEX_LEN)
        return -1;
    for (size_t k = hash_bytes(id, SM_ID_HEX_LEN) & d->by_id.mask; d->by_id.slots[k] != 0;
         k = (k + 1) & d->by_id.mask) {
        uint32_t i = d->by_id.slots[k] - 1;
        if (memcmp(d->ids[i], id, SM_ID_HEX_LEN) == 0)
            return (int32_t)i;
    }
    return -1;
}

static int32_t find_run_memo(const struct dag *d, struct memo *m, const char *id)
{
    if (strnlen(id, SM_ID_HEX_LEN + 1) != SM_ID_HEX_LEN)
        return -1;
    if (memcmp(m->id, id, SM_ID_HEX_LEN + 1) == 0)
        return m->index;
    int32_t i = find_run(d, id);
    if (i >= 0) {
        memcpy(m->id, id, SM_ID_HEX_LEN + 1);
        m->index = i;
    }
    return i;
}

static void dag_free(void *ctx)
{
    struct dag *d = ctx;
    if (d == NULL)
        return;
    sm_free(d->ids);
    sm_free(d->parent_ids);
    sm_free(d->parent);
    sm_free(d->name);
    sm_free(d->function);
    sm_free(d->state);
    table_release(&d->by_id);
    strings_release(&d->names);
    strings_release(&d->functions);
    sm_free(d->edges);
    sm_buf_release(&d->head);
    sm_free(d);
}

static int state_index(enum sm_state s)
{
    for (size_t i = 0; i < N_STATES; i++)
        if (state_order[i] == s)
            return (int)i;
    return -1;
}

static int bad_id(struct dag *d, const char *id)
{
    return sm_errf(&d->err, SM_ECORRUPT,
                   "run '%.40s' of pipeline '%s' has a malformed or repeated id", id, d->root_id);
}

static int on_run(void *ctx, const struct sm_dag_run *r)
{
    struct dag *d = ctx;
    if (strnlen(r->id, SM_ID_HEX_LEN + 1) != SM_ID_HEX_LEN)
        return bad_id(d, r->id);
    int state = state_index((enum sm_state)r->state);
    if (state < 0)
        return sm_errf(&d->err, SM_ECORRUPT, "run '%s' has no known state (%d)", r->id, r->state);
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 256;
        d->ids = sm_xrealloc(d->ids, d->cap * sizeof(*d->ids));
        d->parent_ids = sm_xrealloc(d->parent_ids, d->cap * sizeof(*d->parent_ids));
        d->name = sm_xrealloc(d->name, d->cap * sizeof(*d->name));
        d->function = sm_xrealloc(d->function, d->cap * sizeof(*d->function));
        d->state = sm_xrealloc(d->state, d->cap * sizeof(*d->state));
    }
    size_t i = d->n++;
    memcpy(d->ids[i], r->id, SM_ID_HEX_LEN + 1);
    size_t plen = r->parent_id != NULL ? strnlen(r->parent_id, SM_ID_HEX_LEN + 1) : 0;
    if (plen == SM_ID_HEX_LEN)
        memcpy(d->parent_ids[i], r->parent_id, SM_ID_HEX_LEN + 1);
    else
        d->parent_ids[i][0] = '\0';
    d->name[i] = intern(&d->names, r->name);
    d->function[i] = intern(&d->functions, r->function_path);
    d->state[i] = (uint8_t)state;
    if ((d->n + 1) * 2 > d->by_id.mask + 1)
        table_grow(&d->by_id, id_hash, d);
    size_t k = hash_bytes(r->id, SM_ID_HEX_LEN) & d->by_id.mask;
    for (; d->by_id.slots[k] != 0; k = (k + 1) & d->by_id.mask)
        if (memcmp(d->ids[d->by_id.slots[k] - 1], r->id, SM_ID_HEX_LEN) == 0)
            return bad_id(d, r->id); /* the store's primary key makes this impossible */
    d->by_id.slots[k] = (uint32_t)i + 1;
    return 0;
}

static int on_edge(void *ctx, const char *source, const char *destination)
{
    struct dag *d = ctx;
    int32_t a = find_run_memo(d, &d->memo_source, source);
    int32_t b = find_run_memo(d, &d->memo_destination, destination);
    if (a < 0 || b < 0) /* a run of another pipeline: not in this graph */
        return 0;
    if (d->n_edges == d->cap_edges) {
        d->cap_edges = d->cap_edges ? d->cap_edges * 2 : 256;
        d->edges = sm_xrealloc(d->edges, d->cap_edges * 2 * sizeof(*d->edges));
    }
    d->edges[2 * d->n_edges] = (uint32_t)a;
    d->edges[2 * d->n_edges + 1] = (uint32_t)b;
    d->n_edges++;
    return 0;
}

/* Permute run i to place pos[i]: every column, the id table, the edges. */
static void permute(struct dag *d, const uint32_t *pos)
{
    size_t n = d->n;
    char(*ids)[SM_ID_HEX_LEN + 1] = sm_xmalloc((n ? n : 1) * sizeof(*ids));
    int32_t *parent = sm_xmalloc((n ? n : 1) * sizeof(*parent));
    uint32_t *name = sm_xmalloc((n ? n : 1) * sizeof(*name));
    uint32_t *function = sm_xmalloc((n ? n : 1) * sizeof(*function));
    uint8_t *state = sm_xmalloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        uint32_t p = pos[i];
        memcpy(ids[p], d->ids[i], sizeof(ids[p]));
        parent[p] = d->parent[i] >= 0 ? (int32_t)pos[d->parent[i]] : -1;
        name[p] = d->name[i];
        function[p] = d->function[i];
        state[p] = d->state[i];
    }
    sm_free(d->ids);
    sm_free(d->parent);
    sm_free(d->name);
    sm_free(d->function);
    sm_free(d->state);
    d->ids = ids;
    d->parent = parent;
    d->name = name;
    d->function = function;
    d->state = state;
    for (size_t k = 0; k <= d->by_id.mask && d->by_id.slots != NULL; k++)
        if (d->by_id.slots[k] != 0)
            d->by_id.slots[k] = pos[d->by_id.slots[k] - 1] + 1;
    for (size_t e = 0; e < 2 * d->n_edges; e++)
        d->edges[e] = pos[d->edges[e]];
}

/*
 * Parents to indexes, then (only when some run comes before its parent) reorder: each run's
 * not yet placed ancestors are placed before it, oldest first, keeping the read order
 * otherwise. A parent cycle is cut where the walk finds it.
 */
static void order_parents_first(struct dag *d)
{
    size_t n = d->n;
    d->parent = sm_xmalloc((n ? n : 1) * sizeof(*d->parent));
    bool is_ordered = true;
    struct memo memo = {"", -1};
    for (size_t i = 0; i < n; i++) {
        d->parent[i] = d->parent_ids[i][0] ? find_run_memo(d, &memo, d->parent_ids[i]) : -1;
        if (d->parent[i] == (int32_t)i)
            d->parent[i] = -1;
        is_ordered = is_ordered && d->parent[i] < (int32_t)i;
    }
    sm_free(d->parent_ids);
    d->parent_ids = NULL;
    if (is_ordered)
        return;
    uint32_t *pos = sm_xmalloc(n * sizeof(*pos));
    uint32_t *stack = sm_xmalloc(n * sizeof(*stack));
    uint8_t *mark = sm_xcalloc(n, 1); /* 0 new, 1 on the walk, 2 placed */
    uint32_t next = 0;
    for (size_t i = 0; i < n; i++) {
        size_t depth = 0;
        int32_t j = (int32_t)i;
        while (j >= 0 && mark[j] == 0) {
            mark[j] = 1;
            stack[depth++] = (uint32_t)j;
            j = d->parent[j];
        }
        if (j >= 0 && mark[j] == 1) /* a cycle: the oldest run of this walk loses its parent */
            d->parent[stack[depth - 1]] = -1;
        while (depth > 0) {
            uint32_t k = stack[--depth];
            mark[k] = 2;
            pos[k] = next++;
        }
    }
    permute(d, pos);
    sm_free(mark);
    sm_free(stack);
    sm_free(pos);
}

static uint64_t edge_hash(uint32_t a, uint32_t b)
{
    return mix(((uint64_t)a << 32) | b);
}

/* Keep each (source, destination) pair once, the first. */
static void dedup_edges(struct dag *d)
{
    if (d->n_edges < 2)
        return;
    size_t size = 1024;
    while (size < d->n_edges * 2)
        size *= 2;
    uint32_t *slots = sm_xcalloc(size, sizeof(*slots)); /* pair index + 1 */
    size_t kept = 0;
    for (size_t e = 0; e < d->n_edges; e++) {
        uint32_t a = d->edges[2 * e], b = d->edges[2 * e + 1];
        size_t k = edge_hash(a, b) & (size - 1);
        bool seen = false;
        for (; slots[k] != 0; k = (k + 1) & (size - 1)) {
            uint32_t o = slots[k] - 1;
            if (d->edges[2 * o] == a && d->edges[2 * o + 1] == b) {
                seen = true;
                break;
            }
        }
        if (seen)
            continue;
        d->edges[2 * kept] = a;
        d->edges[2 * kept + 1] = b;
        slots[k] = (uint32_t)kept + 1;
        kept++;
    }
    d->n_edges = kept;
    sm_free(slots);
}

/* ------------------------------------------------------------ the body */

static void add_strings(struct sm_jw *w, const struct strings *s)
{
    sm_jw_begin_array(w);
    for (size_t i = 0; i < s->n; i++)
        sm_jw_string(w, s->items[i], s->lens[i]);
    sm_jw_end_array(w);
}

/* root_id, change_seq, states, names, functions, and the runs' opening: into d->head. */
static int make_head(struct dag *d)
{
    sm_buf_init(&d->head, HEAD_MAX_BYTES);
    struct sm_jw w;
    sm_jw_init(&w, &d->head);
    sm_jw_begin_object(&w);
    sm_jw_keyz(&w, "root_id");
    sm_jw_stringz(&w, d->root_id);
    sm_jw_keyz(&w, "change_seq");
    sm_jw_int(&w, d->change_seq);
    sm_jw_keyz(&w, "states");
    sm_jw_begin_array(&w);
    for (size_t i = 0; i < N_STATES; i++)
        sm_jw_stringz(&w, sm_state_name(state_order[i]));
    sm_jw_end_array(&w);
    sm_jw_keyz(&w, "names");
    add_strings(&w, &d->names);
    sm_jw_keyz(&w, "functions");
    add_strings(&w, &d->functions);
    sm_jw_end_object(&w);
    int rc = sm_jw_finish(&w, &d->err);
    if (rc == 0) {
        sm_buf_truncate(&d->head, d->head.len - 1); /* the runs and edges follow */
        rc = sm_buf_adds(&d->head, ",\"runs\":{");
    }
    return rc;
}

static char *put_int(char *p, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *p++ = '-';
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

/* The body's sections after the head, in order. */
enum {
    SEC_HEAD,
    SEC_ID,
    SEC_PARENT,
    SEC_NAME,
    SEC_FUNCTION,
    SEC_STATE,
    SEC_EDGES,
    SEC_END,
};

static const char *const sec_open[] = {
    [SEC_ID] = "\"id\":[",         [SEC_PARENT] = "],\"parent\":[",
    [SEC_NAME] = "],\"name\":[",   [SEC_FUNCTION] = "],\"function\":[",
    [SEC_STATE] = "],\"state\":[", [SEC_EDGES] = "]},\"edges\":[",
};

/* Element i of section sec at p (room for 48 bytes), with its leading comma. */
static char *put_item(const struct dag *d, int sec, size_t i, char *p)
{
    if (i > 0)
        *p++ = ',';
    switch (sec) {
    case SEC_ID:
        *p++ = '"';
        memcpy(p, d->ids[i], SM_ID_HEX_LEN);
        p += SM_ID_HEX_LEN;
        *p++ = '"';
        return p;
    case SEC_PARENT:
        return put_int(p, d->parent[i]);
    case SEC_NAME:
        return put_int(p, d->name[i]);
    case SEC_FUNCTION:
        return put_int(p, d->function[i]);
    case SEC_STATE:
        return put_int(p, d->state[i]);
    default: /* SEC_EDGES: index i of the flat pair list */
        return put_int(p, d->edges[i]);
    }
}

static int dag_next(void *ctx, struct sm_http_stream *s, struct sm_buf *out)
{
    (void)s;
    struct dag *d = ctx;
    if (d->stage == SEC_HEAD) {
        int rc = sm_buf_add(out, d->head.data, d->head.len);
        sm_buf_release(&d->head);
        d->stage = SEC_ID;
        d->pos = 0;
        return rc ? rc : sm_buf_adds(out, sec_open[SEC_ID]);
    }
    if (d->stage == SEC_END)
        return SM_HTTP_STREAM_END;
    int rc = sm_buf_reserve(out, PIECE_BYTES + 64);
    if (rc)
        return rc;
    size_t count = d->stage == SEC_EDGES ? 2 * d->n_edges : d->n;
    char *p = out->data + out->len;
    char *end = out->data + out->len + PIECE_BYTES;
    while (d->pos < count && p < end)
        p = put_item(d, d->stage, d->pos++, p);
    out->len = (size_t)(p - out->data);
    out->data[out->len] = '\0';
    if (d->pos == count) {
        d->stage++;
        d->pos = 0;
        rc = sm_buf_adds(out, d->stage == SEC_END ? "]}" : sec_open[d->stage]);
        if (rc)
            return rc;
    }
    return SM_HTTP_STREAM_MORE;
}

/* ------------------------------------------------------------ the handler */

int sm__api_run_dag(struct sm_http_req *req, struct sm_http_resp *resp)
{
    const char *id = sm_http_param(req, "id");
    struct sm_err err = SM_ERR_INIT;
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL)
        return sm_http_store_error(resp, &err);
    struct sm_run_rec run;
    int rc = sm__api_get_run(store, resp, id, &run);
    if (rc != 0)
        return 0; /* the 404 or the store's error is in resp */

    struct dag *d = sm_xcalloc(1, sizeof(*d));
    d->err = (struct sm_err)SM_ERR_INIT;
    memcpy(d->root_id, run.root_id, sizeof(d->root_id));
    rc = sm_store_read_dag(store, d->root_id, &d->change_seq, on_run, on_edge, d, &d->err);
    if (rc != 0) {
        rc = sm_http_store_error(resp, &d->err);
        dag_free(d);
        return rc;
    }
    order_parents_first(d);
    dedup_edges(d);
    rc = make_head(d);
    if (rc != 0) { /* a name that is no JSON text: the store's fault, a 500 */
        sm_http_log(req, "cannot write the graph of '%s': %s", d->root_id, d->err.msg);
        dag_free(d);
        return rc;
    }
    return sm_http_stream(resp, 200, "application/json", dag_next, d, dag_free);
}
