/*
 * graph.c: the resolution engine (include/sematic/graph.h).
 *
 * Layout. Runs live in one vector indexed by id (struct run, 64 bytes);
 * data-flow edges in another (struct edge, 16 bytes), threaded into two
 * intrusive singly-linked lists: each upstream's out-list (first_out /
 * next_out, newest first) and each run's in-list (last_in / next_in, kept
 * circular so that appending is O(1) and the first input is
 * edges[last_in].next_in). Timeouts are rare, so they and the deadline
 * cache live in a side table (struct timer) that only timed runs and their
 * descendants use.
 *
 * One link field, three lists. A run is in at most one of: the FIFO ready
 * queue (CREATED or RETRYING), the in-flight array (SCHEDULED: link is its
 * index there), the waiter list of its nested future (RAN: link is the next
 * run waiting on the same nested future). States only move forward, so the
 * three never overlap.
 *
 * Invariants.
 *  - Every state write goes through set_state(), which asks
 *    sm_state_check_transition() first and calls on_transition after.
 *  - n_waiting = number of input edges whose upstream is not RESOLVED.
 *  - A run is in the ready queue at most once: it is queued when it becomes
 *    active with n_waiting == 0, when n_waiting drops to 0 while it is
 *    active, or when it goes RETRYING, and those exclude each other.
 *  - Parent chains are acyclic: a parent is given only to a run that is
 *    being activated (its would-be parent is already active, so cannot be
 *    below it), or to an active parentless nested future after checking
 *    that it is not an ancestor of the run returning it.
 *  - Nothing recurses: walks use g->walk (breadth-first queue) and
 *    g->work (stack), which grow once and are reused, so once the vectors
 *    have grown a state change allocates nothing.
 *
 * Start reading at sm_graph_run(), then report_value / resolve().
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sematic/alloc.h"
#include "sematic/graph.h"

#include "util/banned.h"

#define NONE (-1)

enum run_bits {
    RUN_ACTIVE = 1 << 0,       /* in a resolution: activated by sm_graph_run or report_nested */
    RUN_INPUTS_SPLIT = 1 << 1, /* input edges are not contiguous in g->edges */
};

struct run {
    uint8_t state; /* enum sm_state */
    uint8_t flags; /* enum sm_run_flags */
    uint8_t bits;  /* enum run_bits */
    uint8_t unused_;
    int32_t parent;
    int32_t nested;
    int32_t creator;
    int32_t attempt;
    int32_t retries;
    int32_t n_waiting; /* inputs whose upstream is not RESOLVED */
    int32_t n_inputs;
    int32_t last_in;       /* last input edge; the in-list is circular */
    int32_t first_out;     /* newest edge whose upstream is this run */
    int32_t first_waiter;  /* first RAN run whose nested future this is */
    int32_t link;          /* ready queue / in-flight index / waiter list, by state */
    uint32_t mark;         /* == g->epoch when visited by the current walk */
    int32_t first_created; /* newest run created by this run's current attempt */
    int32_t next_created;  /* next older run created by the same creator */
    int32_t timer;         /* index in g->timers, or NONE */
};

_Static_assert(sizeof(struct run) <= 64, "a run fits in one cache line (DESIGN: 100,000 runs)");

struct edge {
    int32_t from; /* upstream */
    int32_t to;   /* the run that takes from's output as an input */
    int32_t next_out;
    int32_t next_in;
};

_Static_assert(sizeof(struct edge) == 16, "an input edge costs 16 bytes");

struct timer {
    int64_t timeout_ms;      /* 0: none */
    int64_t scheduled_at_ms; /* when the run last entered SCHEDULED */
    int64_t deadline_ms;     /* absolute: tightest over the run and its ancestors */
    int32_t limiting_run;    /* the run that gives deadline_ms, or NONE (no deadline) */
    int32_t run;
};

struct sm_graph {
    struct run *runs;
    int32_t n_runs, runs_cap;
    struct edge *edges;
    int32_t n_edges, edges_cap;
    struct timer *timers;
    int32_t n_timers, timers_cap;
    int32_t *inflight; /* SCHEDULED runs; runs[id].link is the index */
    int32_t n_inflight, inflight_cap;
    int32_t *walk; /* breadth-first queue of activate() and sm_graph_find_unused() */
    int32_t walk_cap;
    int32_t *work; /* stack of resolve() */
    int32_t work_cap;
    int32_t ready_head, ready_tail;
    int32_t executing;
    uint32_t epoch;
    bool in_run;      /* inside sm_graph_run() */
    bool has_failure; /* a run went FAILED or NESTED_FAILED during this sm_graph_run() */
    bool cb_failed;   /* a callback asked to stop during this sm_graph_run() */
    const struct sm_executor *ex; /* during sm_graph_run() and sm_graph_cancel(), else NULL */
    sm_clock_fn clock;
    void *clock_ctx;
    struct sm_err cb_err; /* the first callback failure, for sm_graph_run()'s caller */
};

/* --- vectors ---------------------------------------------------------- */

/* Grow p (cap elements of elem_bytes) to hold at least need elements. */
static void *grow(void *p, int32_t *cap, int64_t need, size_t elem_bytes)
{
    if (need <= *cap)
        return p;
    int64_t c = *cap > 0 ? *cap : 16;
    while (c < need)
        c *= 2;
    if (c > INT32_MAX)
        c = INT32_MAX;
    *cap = (int32_t)c;
    return sm_xrealloc(p, (size_t)c * elem_bytes);
}

#define RESERVE(g, vec, need)                                                                      \
    ((g)->vec = grow((g)->vec, &(g)->vec##_cap, (need), sizeof(*(g)->vec)))

/* --- small helpers ------------------------------------------------------ */

static const char *state_name(const struct run *r)
{
    return sm_state_name((enum sm_state)r->state);
}

static int check_id(const struct sm_graph *g, int32_t run, struct sm_err *err)
{
    if (run >= 0 && run < g->n_runs)
        return 0;
    if (g->n_runs == 0)
        return sm_errf(err, SM_ENOTFOUND, "run %" PRId32 " not found: the graph has no runs", run);
    return sm_errf(err, SM_ENOTFOUND,
                   "run %" PRId32 " not found: the graph has %" PRId32 " runs (ids 0 to %" PRId32
                   ")",
                   run, g->n_runs, g->n_runs - 1);
}

static int64_t monotonic_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t add_saturating(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    return a + b;
}

static void enqueue(struct sm_graph *g, int32_t id)
{
    g->runs[id].link = NONE;
    if (g->ready_tail == NONE)
        g->ready_head = id;
    else
        g->runs[g->ready_tail].link = id;
    g->ready_tail = id;
}

static int32_t dequeue(struct sm_graph *g)
{
    int32_t id = g->ready_head;
    if (id == NONE)
        return NONE;
    g->ready_head = g->runs[id].link;
    if (g->ready_head == NONE)
        g->ready_tail = NONE;
    g->runs[id].link = NONE;
    return id;
}

static void inflight_add(struct sm_graph *g, int32_t id)
{
    RESERVE(g, inflight, (int64_t)g->n_inflight + 1);
    g->runs[id].link = g->n_inflight;
    g->inflight[g->n_inflight++] = id;
}

static void inflight_remove(struct sm_graph *g, int32_t id)
{
    int32_t i = g->runs[id].link;
    int32_t last = g->inflight[--g->n_inflight];
    g->inflight[i] = last;
    g->runs[last].link = i;
    g->runs[id].link = NONE;
}

static uint32_t next_epoch(struct sm_graph *g)
{
    if (++g->epoch == 0) {
        /* Wrapped after 2^32 walks: forget every old mark once. */
        for (int32_t i = 0; i < g->n_runs; i++)
            g->runs[i].mark = 0;
        g->epoch = 1;
    }
    return g->epoch;
}

static int32_t new_timer(struct sm_graph *g, int32_t id)
{
    RESERVE(g, timers, (int64_t)g->n_timers + 1);
    int32_t t = g->n_timers++;
    g->timers[t] = (struct timer){0, 0, INT64_MAX, NONE, id};
    g->runs[id].timer = t;
    return t;
}

/* --- callbacks and the one state write --------------------------------- */

/* A callback asked to stop: remember why for sm_graph_run() and report it. */
__attribute__((format(printf, 3, 4))) static int
fail_callback(struct sm_graph *g, struct sm_err *err, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    g->cb_failed = true;
    sm_errf(&g->cb_err, SM_ECALLBACK, "callback failed: %s", msg);
    return sm_errf(err, SM_ECALLBACK, "callback failed: %s", msg);
}

/*
 * The only function that writes a run's state. Checks the transition
 * table, writes, keeps the in-flight array in step, then tells the
 * executor. Returns SM_EINVALID_TRANSITION (nothing written) or
 * SM_ECALLBACK (written; the caller finishes its bookkeeping and stops).
 * on_transition may add runs, so callers re-read g->runs afterwards.
 */
static int set_state(struct sm_graph *g, int32_t id, enum sm_state to, struct sm_err *err)
{
    struct run *r = &g->runs[id];
    enum sm_state from = (enum sm_state)r->state;
    if (sm_state_check_transition(from, to, NULL) != 0)
        return sm_errf(err, SM_EINVALID_TRANSITION,
                       "invalid run state transition for run %" PRId32
                       ": '%s' -> '%s'; a run's state only moves forward (see API.md 2.4)",
                       id, sm_state_name(from), sm_state_name(to));
    if (from == SM_STATE_SCHEDULED)
        inflight_remove(g, id);
    r->state = (uint8_t)to;
    if (to == SM_STATE_SCHEDULED)
        inflight_add(g, id);
    if (sm_state_is_failed(to))
        g->has_failure = true;
    const struct sm_executor *ex = g->ex;
    if (ex && ex->on_transition) {
        int rc = ex->on_transition(ex->ctx, g, id, from, to);
        if (rc != 0)
            return fail_callback(g, err,
                                 "on_transition returned %d for run %" PRId32 " ('%s' -> '%s')", rc,
                                 id, sm_state_name(from), sm_state_name(to));
    }
    return 0;
}

/* --- walks --------------------------------------------------------------- */

/* Activate id if it is new to the resolution; returns whether it was. */
static bool visit(struct sm_graph *g, int32_t id, int32_t parent)
{
    struct run *r = &g->runs[id];
    if ((r->bits & RUN_ACTIVE) || r->state == SM_STATE_RESOLVED)
        return false;
    r->bits |= RUN_ACTIVE;
    if (r->parent == NONE)
        r->parent = parent;
    if (r->state == SM_STATE_CREATED && r->n_waiting == 0)
        enqueue(g, id);
    return true;
}

/*
 * Activate start and its upstream closure, breadth first, so the ready
 * queue holds them in discovery order (API.md 2.1.4). Runs that get
 * activated now and have no parent get `parent` (API.md 2.1.1: upstream
 * futures inherit the enqueuing future's parent). Already active and
 * RESOLVED runs stop the walk.
 */
static void activate(struct sm_graph *g, int32_t start, int32_t parent)
{
    if (!visit(g, start, parent))
        return;
    int32_t head = 0, n = 0;
    RESERVE(g, walk, 1);
    g->walk[n++] = start;
    while (head < n) {
        int32_t id = g->walk[head++];
        if (head == n)
            head = n = 0; /* keep a chain's queue at one slot */
        int32_t last = g->runs[id].last_in;
        if (last == NONE)
            continue;
        int32_t first = g->edges[last].next_in, e = first;
        do {
            int32_t up = g->edges[e].from;
            if (visit(g, up, parent)) {
                RESERVE(g, walk, (int64_t)n + 1);
                g->walk[n++] = up;
            }
            e = g->edges[e].next_in;
        } while (e != first);
    }
}

/*
 * id (SCHEDULED, or RAN with its nested future resolved) goes RESOLVED;
 * its dependents lose one unresolved input, and the RAN runs waiting on it
 * as their nested future resolve in turn, iteratively.
 */
static int resolve(struct sm_graph *g, int32_t id, struct sm_err *err)
{
    int32_t n = 0;
    RESERVE(g, work, 1);
    g->work[n++] = id;
    while (n > 0) {
        int32_t x = g->work[--n];
        int rc = set_state(g, x, SM_STATE_RESOLVED, err);
        if (rc != 0 && rc != SM_ECALLBACK)
            return rc;
        /* Written, even if a callback failed: keep n_waiting true to the states. */
        for (int32_t e = g->runs[x].first_out; e != NONE; e = g->edges[e].next_out) {
            struct run *t = &g->runs[g->edges[e].to];
            t->n_waiting--;
            if ((t->bits & RUN_ACTIVE) && t->state == SM_STATE_CREATED && t->n_waiting == 0)
                enqueue(g, g->edges[e].to);
        }
        if (rc != 0)
            return rc;
        for (int32_t w = g->runs[x].first_waiter; w != NONE; w = g->runs[w].link) {
            if (g->runs[w].state != SM_STATE_RAN)
                continue;
            RESERVE(g, work, (int64_t)n + 1);
            g->work[n++] = w;
        }
    }
    return 0;
}

/* Every RAN ancestor of id goes NESTED_FAILED, child first. */
static int fail_ancestors(struct sm_graph *g, int32_t id, struct sm_err *err)
{
    for (int32_t p = g->runs[id].parent; p != NONE; p = g->runs[p].parent) {
        if (g->runs[p].state != SM_STATE_RAN)
            continue;
        int rc = set_state(g, p, SM_STATE_NESTED_FAILED, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static bool is_ancestor_or_self(const struct sm_graph *g, int32_t candidate, int32_t id)
{
    for (int32_t x = id; x != NONE; x = g->runs[x].parent)
        if (x == candidate)
            return true;
    return false;
}

static int cancel_active(struct sm_graph *g, struct sm_err *err)
{
    for (int32_t id = 0; id < g->n_runs; id++) {
        const struct run *r = &g->runs[id];
        if (!(r->bits & RUN_ACTIVE) || sm_state_is_terminal((enum sm_state)r->state))
            continue;
        int rc = set_state(g, id, SM_STATE_CANCELED, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* --- lifecycle and setup ------------------------------------------------- */

struct sm_graph *sm_graph_new(void)
{
    struct sm_graph *g = sm_xcalloc(1, sizeof(*g));
    g->ready_head = g->ready_tail = NONE;
    g->executing = NONE;
    g->clock = monotonic_ms;
    return g;
}

void sm_graph_free(struct sm_graph *g)
{
    if (!g)
        return;
    sm_free(g->runs);
    sm_free(g->edges);
    sm_free(g->timers);
    sm_free(g->inflight);
    sm_free(g->walk);
    sm_free(g->work);
    sm_free(g);
}

void sm_graph_set_clock(struct sm_graph *g, sm_clock_fn now_ms, void *ctx)
{
    g->clock = now_ms ? now_ms : monotonic_ms;
    g->clock_ctx = now_ms ? ctx : NULL;
}

int64_t sm_graph_now_ms(const struct sm_graph *g)
{
    return g->clock(g->clock_ctx);
}

int32_t sm_graph_add_run(struct sm_graph *g, unsigned flags, struct sm_err *err)
{
    if (flags & ~(unsigned)SM_RUN_EXEMPT_UNUSED) {
        sm_errf(err, SM_EINVAL, "cannot add a run with flags 0x%x: unknown flag bits 0x%x", flags,
                flags & ~(unsigned)SM_RUN_EXEMPT_UNUSED);
        return NONE;
    }
    if (g->n_runs == INT32_MAX) {
        sm_errf(err, SM_ETOOBIG, "cannot add a run: the graph already holds %" PRId32 " runs",
                g->n_runs);
        return NONE;
    }
    RESERVE(g, runs, (int64_t)g->n_runs + 1);
    int32_t id = g->n_runs++;
    int32_t creator = g->executing;
    g->runs[id] = (struct run){
        .state = SM_STATE_CREATED,
        .flags = (uint8_t)flags,
        .parent = NONE,
        .nested = NONE,
        .creator = creator,
        .last_in = NONE,
        .first_out = NONE,
        .first_waiter = NONE,
        .link = NONE,
        .first_created = NONE,
        .next_created = NONE,
        .timer = NONE,
    };
    if (creator != NONE) {
        g->runs[id].next_created = g->runs[creator].first_created;
        g->runs[creator].first_created = id;
    }
    return id;
}

int sm_graph_add_input(struct sm_graph *g, int32_t run, int32_t upstream, struct sm_err *err)
{
    int rc = check_id(g, run, err);
    if (rc == 0)
        rc = check_id(g, upstream, err);
    if (rc != 0)
        return rc;
    if (run == upstream)
        return sm_errf(err, SM_EINVAL,
                       "cannot make run %" PRId32 " an input of itself; a run would wait forever",
                       run);
    struct run *r = &g->runs[run];
    if (r->state != SM_STATE_CREATED)
        return sm_errf(err, SM_ESTATE,
                       "cannot add an input to run %" PRId32 ": it is already '%s'; inputs are "
                       "declared when the run is created, before it is resolved",
                       run, state_name(r));
    if (r->bits & RUN_ACTIVE)
        return sm_errf(err, SM_ESTATE,
                       "cannot add an input to run %" PRId32 ": it is already being resolved; "
                       "inputs are declared when the run is created, before it is resolved",
                       run);
    if (g->n_edges == INT32_MAX)
        return sm_errf(err, SM_ETOOBIG,
                       "cannot add an input to run %" PRId32 ": the graph already holds %" PRId32
                       " edges",
                       run, g->n_edges);
    RESERVE(g, edges, (int64_t)g->n_edges + 1);
    int32_t e = g->n_edges++;
    struct run *up = &g->runs[upstream];
    struct edge *ed = &g->edges[e];
    ed->from = upstream;
    ed->to = run;
    ed->next_out = up->first_out;
    up->first_out = e;
    if (r->last_in == NONE) {
        ed->next_in = e;
    } else {
        if (r->last_in != e - 1)
            r->bits |= RUN_INPUTS_SPLIT;
        ed->next_in = g->edges[r->last_in].next_in;
        g->edges[r->last_in].next_in = e;
    }
    r->last_in = e;
    r->n_inputs++;
    if (up->state != SM_STATE_RESOLVED)
        r->n_waiting++;
    return 0;
}

int sm_graph_set_retries(struct sm_graph *g, int32_t run, int32_t retries, struct sm_err *err)
{
    int rc = check_id(g, run, err);
    if (rc != 0)
        return rc;
    if (retries < 0)
        return sm_errf(err, SM_EINVAL,
                       "cannot set retries of run %" PRId32 " to %" PRId32
                       ": the retry budget must be 0 or more",
                       run, retries);
    g->runs[run].retries = retries;
    return 0;
}

int sm_graph_set_timeout_ms(struct sm_graph *g, int32_t run, int64_t timeout_ms, struct sm_err *err)
{
    int rc = check_id(g, run, err);
    if (rc != 0)
        return rc;
    if (timeout_ms < 0)
        return sm_errf(err, SM_EINVAL,
                       "cannot set the timeout of run %" PRId32 " to %" PRId64
                       " ms: use a positive number of ms, or 0 for none",
                       run, timeout_ms);
    int32_t t = g->runs[run].timer;
    if (t == NONE) {
        if (timeout_ms == 0)
            return 0;
        t = new_timer(g, run);
    }
    g->timers[t].timeout_ms = timeout_ms;
    return 0;
}

/* --- accessors ----------------------------------------------------------- */

int32_t sm_graph_n_runs(const struct sm_graph *g)
{
    return g->n_runs;
}

bool sm_graph_has_run(const struct sm_graph *g, int32_t run)
{
    return run >= 0 && run < g->n_runs;
}

/* Invalid ids break the accessors' precondition; they get a harmless answer, never a crash. */
#define GET(g, run, field, bad) (sm_graph_has_run((g), (run)) ? (g)->runs[(run)].field : (bad))

enum sm_state sm_graph_state(const struct sm_graph *g, int32_t run)
{
    return (enum sm_state)GET(g, run, state, SM_STATE_COUNT);
}

int32_t sm_graph_parent(const struct sm_graph *g, int32_t run)
{
    return GET(g, run, parent, NONE);
}

int32_t sm_graph_nested(const struct sm_graph *g, int32_t run)
{
    return GET(g, run, nested, NONE);
}

int32_t sm_graph_creator(const struct sm_graph *g, int32_t run)
{
    return GET(g, run, creator, NONE);
}

int32_t sm_graph_attempt(const struct sm_graph *g, int32_t run)
{
    return GET(g, run, attempt, NONE);
}

int32_t sm_graph_retries(const struct sm_graph *g, int32_t run)
{
    return GET(g, run, retries, NONE);
}

int64_t sm_graph_timeout_ms(const struct sm_graph *g, int32_t run)
{
    int32_t t = GET(g, run, timer, NONE);
    return t == NONE ? 0 : g->timers[t].timeout_ms;
}

int32_t sm_graph_n_inputs(const struct sm_graph *g, int32_t run)
{
    return GET(g, run, n_inputs, 0);
}

int32_t sm_graph_input(const struct sm_graph *g, int32_t run, int32_t i)
{
    if (!sm_graph_has_run(g, run) || i < 0 || i >= g->runs[run].n_inputs)
        return NONE;
    const struct run *r = &g->runs[run];
    int32_t first = g->edges[r->last_in].next_in;
    if (!(r->bits & RUN_INPUTS_SPLIT))
        return g->edges[first + i].from; /* declared in one go: O(1) */
    int32_t e = first;
    while (i-- > 0)
        e = g->edges[e].next_in;
    return g->edges[e].from;
}

int32_t sm_graph_executing(const struct sm_graph *g)
{
    return g->executing;
}

/* --- deadlines ----------------------------------------------------------- */

/*
 * id enters SCHEDULED now: record the time and compute its deadline, the
 * tightest over itself and its parent chain. The parent's timer caches the
 * tightest deadline of the parent's own chain (computed when the parent was
 * scheduled), so this is O(1) however deep the nesting.
 */
static void start_deadline(struct sm_graph *g, int32_t id, struct sm_deadline *dl)
{
    dl->remaining_ms = INT64_MAX;
    dl->limiting_run = NONE;
    if (g->n_timers == 0)
        return;
    int64_t now = sm_graph_now_ms(g);
    int64_t at = INT64_MAX;
    int32_t limiting = NONE;
    int32_t t = g->runs[id].timer;
    if (t != NONE && g->timers[t].timeout_ms > 0) {
        at = add_saturating(now, g->timers[t].timeout_ms);
        limiting = id;
    }
    int32_t p = g->runs[id].parent;
    if (p != NONE && g->runs[p].timer != NONE &&
        (g->runs[p].state == SM_STATE_SCHEDULED || g->runs[p].state == SM_STATE_RAN)) {
        const struct timer *pt = &g->timers[g->runs[p].timer];
        if (pt->limiting_run != NONE && (limiting == NONE || pt->deadline_ms < at ||
                                         (pt->deadline_ms == at && pt->limiting_run < limiting))) {
            at = pt->deadline_ms;
            limiting = pt->limiting_run;
        }
    }
    if (t == NONE) {
        if (limiting == NONE)
            return;
        t = new_timer(g, id);
    }
    struct timer *tm = &g->timers[t];
    tm->scheduled_at_ms = now;
    tm->deadline_ms = at;
    tm->limiting_run = limiting;
    if (limiting != NONE) {
        dl->remaining_ms = at - now;
        dl->limiting_run = limiting;
    }
}

/* The earliest absolute deadline among runs in flight, or INT64_MAX. */
static int64_t earliest_deadline(const struct sm_graph *g)
{
    int64_t at = INT64_MAX;
    if (g->n_timers == 0)
        return at;
    for (int32_t i = 0; i < g->n_inflight; i++) {
        int32_t t = g->runs[g->inflight[i]].timer;
        if (t != NONE && g->timers[t].limiting_run != NONE && g->timers[t].deadline_ms < at)
            at = g->timers[t].deadline_ms;
    }
    return at;
}

/* --- the loop -------------------------------------------------------- */

static int deadlock(const struct sm_graph *g, int32_t root, struct sm_err *err)
{
    if (g->n_inflight > 0)
        return sm_errf(err, SM_EDEADLOCK,
                       "graph cannot make progress resolving run %" PRId32 ": run %" PRId32
                       " is 'SCHEDULED' but was not reported, and the executor has no wait(); "
                       "an inline executor must report before execute() returns",
                       root, g->inflight[0]);
    for (int32_t id = 0; id < g->n_runs; id++) {
        const struct run *r = &g->runs[id];
        if (!(r->bits & RUN_ACTIVE) || r->n_waiting == 0 ||
            sm_state_is_terminal((enum sm_state)r->state))
            continue;
        int32_t first = g->edges[r->last_in].next_in, e = first;
        do {
            const struct run *up = &g->runs[g->edges[e].from];
            if (up->state != SM_STATE_RESOLVED)
                return sm_errf(err, SM_EDEADLOCK,
                               "graph cannot make progress resolving run %" PRId32
                               ": no run is ready or in flight, and run %" PRId32
                               " waits on input run %" PRId32
                               ", which is '%s'; look for a cycle of inputs or an input that was "
                               "canceled",
                               root, id, g->edges[e].from, state_name(up));
            e = g->edges[e].next_in;
        } while (e != first);
    }
    return sm_errf(err, SM_EDEADLOCK,
                   "graph cannot make progress resolving run %" PRId32
                   ": it is '%s' and no run is ready or in flight",
                   root, state_name(&g->runs[root]));
}

/* Stop sm_graph_run() because a callback failed, with the callback's own message. */
static int stopped_by_callback(struct sm_graph *g, struct sm_err *err)
{
    return sm_errf(err, SM_ECALLBACK, "%s", g->cb_err.msg);
}

/*
 * A run failed for good, but the failure did not reach the root through its
 * parent chain (an upstream of the root failed, say): the pipeline fails
 * anyway (API.md 2.4, "the root becomes FAILED instead if it is not
 * terminal").
 */
static int fail_root(struct sm_graph *g, int32_t root, struct sm_err *err)
{
    enum sm_state s = (enum sm_state)g->runs[root].state;
    return set_state(g, root, s == SM_STATE_RAN ? SM_STATE_NESTED_FAILED : SM_STATE_FAILED, err);
}

static int run_loop(struct sm_graph *g, int32_t root, const struct sm_executor *ex,
                    struct sm_err *err)
{
    for (;;) {
        if (g->has_failure && !sm_state_is_terminal((enum sm_state)g->runs[root].state)) {
            int rc = fail_root(g, root, err);
            if (rc != 0)
                return rc;
        }
        if (sm_state_is_terminal((enum sm_state)g->runs[root].state))
            break;
        int32_t id = dequeue(g);
        if (id != NONE) {
            const struct run *r = &g->runs[id];
            /* Skip entries that went stale (a run canceled while queued). */
            if ((r->state != SM_STATE_CREATED && r->state != SM_STATE_RETRYING) || r->n_waiting > 0)
                continue;
            int rc = set_state(g, id, SM_STATE_SCHEDULED, err);
            if (rc != 0)
                return rc;
            struct sm_deadline dl;
            start_deadline(g, id, &dl);
            g->executing = id;
            rc = ex->execute(ex->ctx, g, id, &dl);
            g->executing = NONE;
            if (g->cb_failed)
                return stopped_by_callback(g, err);
            if (rc != 0)
                return fail_callback(g, err, "execute returned %d for run %" PRId32, rc, id);
            continue;
        }
        if (g->n_inflight > 0 && ex->wait) {
            int32_t n_inflight = g->n_inflight;
            int rc = ex->wait(ex->ctx, g, earliest_deadline(g));
            if (g->cb_failed)
                return stopped_by_callback(g, err);
            if (rc != 0)
                return fail_callback(g, err, "wait returned %d with %" PRId32 " runs in flight", rc,
                                     n_inflight);
            continue;
        }
        return deadlock(g, root, err);
    }
    if (sm_state_is_failed((enum sm_state)g->runs[root].state))
        return cancel_active(g, err);
    return 0;
}

int sm_graph_run(struct sm_graph *g, int32_t root, const struct sm_executor *ex, struct sm_err *err)
{
    if (g->executing != NONE)
        return sm_errf(err, SM_ESTATE,
                       "cannot resolve run %" PRId32 " from inside run %" PRId32
                       ": sm_graph_run() is not re-entrant; return the future from the body "
                       "instead",
                       root, g->executing);
    if (g->in_run)
        return sm_errf(err, SM_ESTATE,
                       "cannot resolve run %" PRId32
                       " while another resolution of this graph is in progress",
                       root);
    int rc = check_id(g, root, err);
    if (rc != 0)
        return rc;
    if (!ex || !ex->execute)
        return sm_errf(err, SM_EINVAL,
                       "cannot resolve run %" PRId32 ": the executor has no execute() callback",
                       root);
    if (sm_state_is_terminal((enum sm_state)g->runs[root].state))
        return 0;
    g->ex = ex;
    g->in_run = true;
    g->has_failure = false;
    g->cb_failed = false;
    sm_err_clear(&g->cb_err);
    activate(g, root, NONE);
    rc = run_loop(g, root, ex, err);
    g->ex = NULL;
    g->in_run = false;
    return rc;
}

int sm_graph_cancel(struct sm_graph *g, const struct sm_executor *ex, struct sm_err *err)
{
    const struct sm_executor *saved = g->ex;
    g->ex = ex;
    int rc = cancel_active(g, err);
    g->ex = saved;
    return rc;
}

/* --- executor reports ---------------------------------------------------- */

/* Reports apply only to runs in flight; the table alone would let RAN -> RESOLVED through. */
static int check_reportable(const struct sm_graph *g, int32_t run, enum sm_state to,
                            struct sm_err *err)
{
    int rc = check_id(g, run, err);
    if (rc != 0)
        return rc;
    if (g->runs[run].state == SM_STATE_SCHEDULED)
        return 0;
    return sm_errf(err, SM_EINVALID_TRANSITION,
                   "invalid run state transition for run %" PRId32
                   ": '%s' -> '%s'; an executor reports only on a run that is 'SCHEDULED' "
                   "(see API.md 2.4)",
                   run, state_name(&g->runs[run]), sm_state_name(to));
}

int sm_graph_report_value(struct sm_graph *g, int32_t run, struct sm_err *err)
{
    int rc = check_reportable(g, run, SM_STATE_RESOLVED, err);
    if (rc != 0)
        return rc;
    return resolve(g, run, err);
}

int sm_graph_report_nested(struct sm_graph *g, int32_t run, int32_t nested, struct sm_err *err)
{
    int rc = check_reportable(g, run, SM_STATE_RAN, err);
    if (rc == 0)
        rc = check_id(g, nested, err);
    if (rc != 0)
        return rc;
    if (nested == run)
        return sm_errf(err, SM_EINVAL,
                       "run %" PRId32 " cannot return itself as its nested future; it would "
                       "wait on itself forever",
                       run);
    /* The nested graph is linked and activated before the transition is reported, so
     * on_transition(RAN) sees the nested run and its parents (the recorder persists them). */
    g->runs[run].nested = nested;
    struct run *n = &g->runs[nested];
    if (n->parent == NONE && (n->bits & RUN_ACTIVE) && !is_ancestor_or_self(g, nested, run))
        n->parent = run;
    activate(g, nested, run);
    rc = set_state(g, run, SM_STATE_RAN, err);
    if (rc != 0 && rc != SM_ECALLBACK)
        return rc;
    enum sm_state ns = (enum sm_state)g->runs[nested].state;
    if (!sm_state_is_terminal(ns)) {
        g->runs[run].link = g->runs[nested].first_waiter;
        g->runs[nested].first_waiter = run;
        return rc;
    }
    if (rc != 0)
        return rc; /* on_transition asked to stop: no further state change */
    if (ns == SM_STATE_RESOLVED)
        return resolve(g, run, err);
    /* It failed or was canceled earlier: it will never resolve, so neither will run. */
    rc = set_state(g, run, SM_STATE_NESTED_FAILED, err);
    return rc != 0 ? rc : fail_ancestors(g, run, err);
}

int sm_graph_report_failure(struct sm_graph *g, int32_t run, bool retryable, struct sm_err *err)
{
    int rc = check_id(g, run, err);
    if (rc != 0)
        return rc;
    struct run *r = &g->runs[run];
    if (retryable && r->attempt < r->retries) {
        rc = check_reportable(g, run, SM_STATE_RETRYING, err);
        if (rc != 0)
            return rc;
        rc = set_state(g, run, SM_STATE_RETRYING, err);
        if (rc != 0 && rc != SM_ECALLBACK)
            return rc;
        r = &g->runs[run];
        r->attempt++;
        /* Futures made by the failed attempt are dropped, not reported unused later. */
        r->first_created = NONE;
        enqueue(g, run);
        return rc;
    }
    rc = check_reportable(g, run, SM_STATE_FAILED, err);
    if (rc == 0)
        rc = set_state(g, run, SM_STATE_FAILED, err);
    if (rc != 0)
        return rc;
    return fail_ancestors(g, run, err);
}

/* --- unused futures ------------------------------------------------------ */

int32_t sm_graph_find_unused(struct sm_graph *g, int32_t run, int32_t result)
{
    if (!sm_graph_has_run(g, run))
        return NONE;
    uint32_t epoch = next_epoch(g);
    if (sm_graph_has_run(g, result)) {
        /* Mark what result depends on, descending only into runs this body created. */
        int32_t head = 0, n = 0;
        RESERVE(g, walk, 1);
        g->runs[result].mark = epoch;
        g->walk[n++] = result;
        while (head < n) {
            int32_t id = g->walk[head++];
            if (head == n)
                head = n = 0;
            const struct run *r = &g->runs[id];
            if (r->creator != run || r->last_in == NONE)
                continue;
            int32_t first = g->edges[r->last_in].next_in, e = first;
            do {
                int32_t up = g->edges[e].from;
                if (g->runs[up].mark != epoch) {
                    g->runs[up].mark = epoch;
                    RESERVE(g, walk, (int64_t)n + 1);
                    g->walk[n++] = up;
                }
                e = g->edges[e].next_in;
            } while (e != first);
        }
    }
    /* The created list runs newest first: the last match is the first created. */
    int32_t found = NONE;
    for (int32_t c = g->runs[run].first_created; c != NONE; c = g->runs[c].next_created) {
        const struct run *r = &g->runs[c];
        if (r->mark != epoch && !(r->flags & SM_RUN_EXEMPT_UNUSED))
            found = c;
    }
    return found;
}
