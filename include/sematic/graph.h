/*
 * graph.h: the resolution engine of libsematic.
 *
 * A graph holds runs (one per future) in a vector addressed by integer ids,
 * the data-flow edges between them, and the ready queue. sm_graph_run()
 * resolves a root run: it activates the root and everything it depends on,
 * hands each ready run to an executor, and applies what the executor
 * reports (a value, a nested future, a failure) through the state machine of
 * API.md section 2.4, checked in one place: sm_state_check_transition().
 *
 * The engine never holds user values: the executor (the Python extension,
 * the worker pool, Slurm) keeps them, keyed by run id, and learns of every
 * state change through on_transition. It never polls: an inline executor
 * reports before execute() returns; an asynchronous one reports later and
 * the engine blocks in wait() until it does.
 *
 * Threads: a graph is used by one thread at a time.
 */
#ifndef SEMATIC_GRAPH_H
#define SEMATIC_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "sematic/err.h"

/* Run states, API.md section 2.4. Values are stable (stored later). */
enum sm_state {
    SM_STATE_CREATED = 0,
    SM_STATE_SCHEDULED = 1,
    SM_STATE_RAN = 2,
    SM_STATE_RESOLVED = 3,
    SM_STATE_FAILED = 4,
    SM_STATE_NESTED_FAILED = 5,
    SM_STATE_RETRYING = 6,
    SM_STATE_CANCELED = 7,
};
#define SM_STATE_COUNT 8

/* "CREATED", "SCHEDULED", ...; "UNKNOWN" for a value out of range. */
const char *sm_state_name(enum sm_state s);

/* RESOLVED, FAILED, NESTED_FAILED or CANCELED. */
bool sm_state_is_terminal(enum sm_state s);

/* FAILED or NESTED_FAILED. */
bool sm_state_is_failed(enum sm_state s);

/*
 * The one place that decides whether a run may go from `from` to `to`.
 * Returns 0, or SM_EINVALID_TRANSITION with a message naming both states.
 */
int sm_state_check_transition(enum sm_state from, enum sm_state to, struct sm_err *err);

/* Run flags, set at creation. */
enum sm_run_flags {
    /* A _getitem helper: never reported as an unused future (API.md 2.1.5). */
    SM_RUN_EXEMPT_UNUSED = 1 << 0,
};

struct sm_graph;

/* Milliseconds on some monotonic clock; replaceable so tests control time. */
typedef int64_t (*sm_clock_fn)(void *ctx);

/* Where the deadline of a run comes from, computed when it is executed. */
struct sm_deadline {
    int64_t remaining_ms; /* INT64_MAX when no timeout applies; may be <= 0 */
    int32_t limiting_run; /* the run whose timeout binds (itself or an ancestor), or -1 */
};

struct sm_executor {
    void *ctx;
    /*
     * Execute `run`, whose inputs are all RESOLVED and which is now SCHEDULED.
     * An inline executor calls exactly one sm_graph_report_*() before
     * returning; an asynchronous one may report later, from wait().
     * Return 0, or non-zero to stop sm_graph_run() with SM_ECALLBACK.
     */
    int (*execute)(void *ctx, struct sm_graph *g, int32_t run, const struct sm_deadline *dl);
    /*
     * Called after every state change has been applied. May be NULL.
     * Return non-zero to stop sm_graph_run() with SM_ECALLBACK.
     * It may read the graph but must not report, run or cancel from here.
     */
    int (*on_transition)(void *ctx, struct sm_graph *g, int32_t run, enum sm_state from,
                         enum sm_state to);
    /*
     * Block until at least one run in flight has been reported, or until
     * deadline_ms (on the graph's clock; INT64_MAX for none). May be NULL for
     * executors that always report inline. Return non-zero to stop.
     * deadline_ms is the earliest deadline among runs in flight; the engine
     * enforces no timeout itself, so once it has passed, wait() reports the
     * late run (a failure) or returns non-zero, else it is simply called again.
     */
    int (*wait)(void *ctx, struct sm_graph *g, int64_t deadline_ms);
};

/* A new empty graph. Caller owns; free with sm_graph_free(). Aborts on OOM. */
struct sm_graph *sm_graph_new(void);

/* Free g and everything in it. Accepts NULL. */
void sm_graph_free(struct sm_graph *g);

/* Replace the clock (default: CLOCK_MONOTONIC in ms). */
void sm_graph_set_clock(struct sm_graph *g, sm_clock_fn now_ms, void *ctx);

/* The graph's clock, in ms. */
int64_t sm_graph_now_ms(const struct sm_graph *g);

/*
 * Add a run in state CREATED and return its id (ids count from 0), or -1
 * with err set: SM_EINVAL for unknown flag bits, SM_ETOOBIG past INT32_MAX
 * runs. flags is a mask of enum sm_run_flags. The run executing at
 * this moment (sm_graph_executing()) is recorded as its creator, for the
 * unused-future check.
 */
int32_t sm_graph_add_run(struct sm_graph *g, unsigned flags, struct sm_err *err);

/*
 * Declare that an input of `run` is the output of `upstream`: `run` becomes
 * ready only once `upstream` is RESOLVED. Both must exist and `run` must
 * still be CREATED and not yet part of a resolution (activated by
 * sm_graph_run() or as a nested future). Returns 0, SM_ENOTFOUND,
 * SM_ESTATE, SM_EINVAL (run == upstream) or SM_ETOOBIG (INT32_MAX edges).
 */
int sm_graph_add_input(struct sm_graph *g, int32_t run, int32_t upstream, struct sm_err *err);

/* Retry budget: attempts after the first. Returns 0, SM_ENOTFOUND or SM_EINVAL (< 0). */
int sm_graph_set_retries(struct sm_graph *g, int32_t run, int32_t retries, struct sm_err *err);

/*
 * Timeout measured from entering SCHEDULED; 0 for none. Returns 0, SM_ENOTFOUND or SM_EINVAL.
 * It is read when the run (or, for its nested descendants, it) enters SCHEDULED: set it before.
 */
int sm_graph_set_timeout_ms(struct sm_graph *g, int32_t run, int64_t timeout_ms,
                            struct sm_err *err);

/*
 * Read-only accessors. Ids must be valid (0 <= id < sm_graph_n_runs()); an
 * invalid id gets a harmless answer (-1, 0, or SM_STATE_COUNT for the state).
 */
int32_t sm_graph_n_runs(const struct sm_graph *g);
bool sm_graph_has_run(const struct sm_graph *g, int32_t run);
enum sm_state sm_graph_state(const struct sm_graph *g, int32_t run);
int32_t sm_graph_parent(const struct sm_graph *g, int32_t run);  /* -1 for none */
int32_t sm_graph_nested(const struct sm_graph *g, int32_t run);  /* -1 for none */
int32_t sm_graph_creator(const struct sm_graph *g, int32_t run); /* -1: created outside a run */
int32_t sm_graph_attempt(const struct sm_graph *g, int32_t run); /* 0 on the first attempt */
int32_t sm_graph_retries(const struct sm_graph *g, int32_t run);
int64_t sm_graph_timeout_ms(const struct sm_graph *g, int32_t run);
int32_t sm_graph_n_inputs(const struct sm_graph *g, int32_t run);
/*
 * The i-th declared upstream of run, in declaration order; -1 out of range. O(1) when the
 * run's inputs were declared one after the other (as a call binds them), else O(i).
 */
int32_t sm_graph_input(const struct sm_graph *g, int32_t run, int32_t i);

/* The run whose body is executing now (inline executors), or -1. */
int32_t sm_graph_executing(const struct sm_graph *g);

/*
 * Resolve `root`: activate it and its upstream closure, execute ready runs
 * through ex until root is terminal, then cancel every active run that is
 * not terminal. Returns 0 once root is terminal (its state tells success or
 * failure), SM_ECALLBACK when a callback asked to stop (runs keep their
 * states; call sm_graph_cancel() to end them), SM_EDEADLOCK when nothing is
 * ready or in flight but root is not terminal, SM_ESTATE when called
 * re-entrantly (from inside a run, or from wait()), SM_ENOTFOUND for an
 * unknown root, SM_EINVAL when ex has no execute.
 *
 * A run that fails for good fails the pipeline (API.md 2.4): its RAN
 * ancestors go NESTED_FAILED, and if that does not reach the root (an
 * upstream of the root failed) the root goes FAILED (NESTED_FAILED if RAN).
 * ex is borrowed for the duration of the call.
 */
int sm_graph_run(struct sm_graph *g, int32_t root, const struct sm_executor *ex,
                 struct sm_err *err);

/*
 * Executor reports. Each applies to a run in SCHEDULED state and returns 0,
 * SM_ENOTFOUND, SM_EINVALID_TRANSITION, or SM_ECALLBACK when on_transition
 * failed.
 *
 * report_value: the body produced a concrete value: RESOLVED, and dependents
 * whose inputs are now all resolved become ready; a RAN run waiting on it as
 * its nested future resolves too (and so on up).
 *
 * report_nested: the body returned future `nested`: the run becomes RAN,
 * nested and its unresolved upstream closure are activated with this run as
 * their parent (where they have none yet), and the run resolves when nested
 * does: at once if it is already RESOLVED; it goes NESTED_FAILED if nested
 * already failed or was canceled. SM_EINVAL when nested == run.
 *
 * report_failure: the body failed. When `retryable` and the run has retry
 * budget left it goes RETRYING, its attempt count grows and it is queued
 * again; otherwise it goes FAILED, its ancestors NESTED_FAILED, and the
 * rest of the active graph CANCELED (when sm_graph_run() sees the root
 * failed). A retried run forgets the futures its failed attempt created, for
 * sm_graph_find_unused().
 *
 * Reports may also come outside sm_graph_run() (an asynchronous executor
 * after SM_ECALLBACK); then no on_transition is called.
 */
int sm_graph_report_value(struct sm_graph *g, int32_t run, struct sm_err *err);
int sm_graph_report_nested(struct sm_graph *g, int32_t run, int32_t nested, struct sm_err *err);
int sm_graph_report_failure(struct sm_graph *g, int32_t run, bool retryable, struct sm_err *err);

/*
 * The unused-future check of API.md 2.1.5: the first run (in creation order)
 * created by `run`'s body that `result` (a run id, or -1 when the body
 * returned a concrete value) does not depend on, transitively through
 * inputs, skipping runs flagged SM_RUN_EXEMPT_UNUSED. -1 when there is none,
 * or when run is not a run; a result that is not a run counts as -1.
 */
int32_t sm_graph_find_unused(struct sm_graph *g, int32_t run, int32_t result);

/*
 * Cancel every active run that is not terminal (cancellation by signal or
 * by the user), in id order, telling ex (may be NULL) of each change.
 * Returns 0 or SM_ECALLBACK.
 */
int sm_graph_cancel(struct sm_graph *g, const struct sm_executor *ex, struct sm_err *err);

#endif
