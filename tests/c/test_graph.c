/*
 * test_graph.c: the resolution engine through its public seam, driven by a
 * test executor written here (struct tx): each test gives it a body that
 * decides what each run reports, and it logs executions, transitions,
 * deadlines and wait() calls so the tests can assert them exactly.
 *
 * The 100,000-run tests check that nothing recurses and that the engine
 * stays linear; they print how long they took.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sematic/alloc.h"
#include "sematic/graph.h"

#include "util/banned.h"

#define LOG_CAP 512
#define BIG 100000

/* Short names for the tables below. */
#define C SM_STATE_CREATED
#define S SM_STATE_SCHEDULED
#define RA SM_STATE_RAN
#define RE SM_STATE_RESOLVED
#define F SM_STATE_FAILED
#define NF SM_STATE_NESTED_FAILED
#define RT SM_STATE_RETRYING
#define X SM_STATE_CANCELED

struct trans {
    int32_t run;
    enum sm_state from, to;
};

struct tx;
typedef int (*body_fn)(struct tx *t, int32_t run, const struct sm_deadline *dl);

/* The test executor. */
struct tx {
    struct sm_graph *g;
    body_fn body;
    int32_t executed[LOG_CAP];
    int32_t n_executed;
    struct sm_deadline dls[LOG_CAP]; /* per execution */
    struct trans trans[LOG_CAP];
    int32_t n_trans;
    int32_t fail_times[LOG_CAP]; /* per run: failures to report before succeeding */
    bool retryable;
    int32_t stop_transition_run;      /* on_transition returns 1 for this run ... */
    enum sm_state stop_transition_to; /* ... entering this state */
    int32_t stop_execute_run;         /* execute returns 1 for this run */
    int32_t nest_until;               /* nesting bodies: create runs while n_runs < this */
    int32_t fail_at;                  /* nesting bodies: the run that fails */
    int64_t timeout_each;             /* nesting bodies: timeout of each new run */
    int32_t pending[LOG_CAP];         /* async: runs executed but not yet reported */
    int32_t n_pending;
    int64_t wait_deadlines[LOG_CAP];
    int32_t n_waits;
    int64_t *clock;  /* fake clock, when the test uses one */
    int64_t step_ms; /* the body advances the fake clock by this much */
    int last_rc;
    struct sm_err err;
    int32_t scratch[16];
};

static int tx_execute(void *ctx, struct sm_graph *g, int32_t run, const struct sm_deadline *dl)
{
    struct tx *t = ctx;
    assert_ptr_equal(g, t->g);
    assert_int_equal(sm_graph_executing(g), run);
    assert_int_equal(sm_graph_state(g, run), S);
    if (t->n_executed < LOG_CAP) {
        t->executed[t->n_executed] = run;
        t->dls[t->n_executed] = *dl;
    }
    t->n_executed++;
    if (t->clock)
        *t->clock += t->step_ms;
    if (run == t->stop_execute_run)
        return 1;
    return t->body(t, run, dl);
}

static int tx_on_transition(void *ctx, struct sm_graph *g, int32_t run, enum sm_state from,
                            enum sm_state to)
{
    struct tx *t = ctx;
    assert_int_equal(sm_graph_state(g, run), to);
    if (t->n_trans < LOG_CAP)
        t->trans[t->n_trans] = (struct trans){run, from, to};
    t->n_trans++;
    return run == t->stop_transition_run && to == t->stop_transition_to;
}

static int tx_wait(void *ctx, struct sm_graph *g, int64_t deadline_ms)
{
    struct tx *t = ctx;
    assert_true(t->n_pending > 0);
    if (t->n_waits < LOG_CAP)
        t->wait_deadlines[t->n_waits] = deadline_ms;
    t->n_waits++;
    /* Report the oldest pending run. */
    int32_t run = t->pending[0];
    memmove(t->pending, t->pending + 1, (size_t)(t->n_pending - 1) * sizeof(int32_t));
    t->n_pending--;
    assert_int_equal(sm_graph_executing(g), -1);
    return sm_graph_report_value(g, run, &t->err);
}

/* Bodies. */

static int body_value(struct tx *t, int32_t run, const struct sm_deadline *dl)
{
    (void)dl;
    t->last_rc = sm_graph_report_value(t->g, run, &t->err);
    return 0;
}

static int body_fail_then_value(struct tx *t, int32_t run, const struct sm_deadline *dl)
{
    (void)dl;
    if (run < LOG_CAP && t->fail_times[run] > 0) {
        t->fail_times[run]--;
        t->last_rc = sm_graph_report_failure(t->g, run, t->retryable, &t->err);
    } else {
        t->last_rc = sm_graph_report_value(t->g, run, &t->err);
    }
    return 0;
}

/* Each run's body returns a new future as its nested future, until nest_until runs exist. */
static int body_nest(struct tx *t, int32_t run, const struct sm_deadline *dl)
{
    (void)dl;
    if (run == t->fail_at) {
        t->last_rc = sm_graph_report_failure(t->g, run, false, &t->err);
        assert_int_equal(t->last_rc, 0);
        return 0;
    }
    if (sm_graph_n_runs(t->g) >= t->nest_until) {
        t->last_rc = sm_graph_report_value(t->g, run, &t->err);
        assert_int_equal(t->last_rc, 0);
        return 0;
    }
    int32_t child = sm_graph_add_run(t->g, 0, &t->err);
    assert_int_equal(child, sm_graph_n_runs(t->g) - 1);
    if (t->timeout_each > 0)
        assert_int_equal(sm_graph_set_timeout_ms(t->g, child, t->timeout_each, &t->err), 0);
    t->last_rc = sm_graph_report_nested(t->g, run, child, &t->err);
    assert_int_equal(t->last_rc, 0);
    return 0;
}

static int body_async(struct tx *t, int32_t run, const struct sm_deadline *dl)
{
    (void)dl;
    assert_true(t->n_pending < LOG_CAP);
    t->pending[t->n_pending++] = run;
    return 0;
}

static struct sm_executor tx_executor(struct tx *t)
{
    return (struct sm_executor){t, tx_execute, tx_on_transition, NULL};
}

static int setup(void **state)
{
    struct tx *t = calloc(1, sizeof(*t));
    t->g = sm_graph_new();
    t->body = body_value;
    t->stop_transition_run = -1;
    t->stop_execute_run = -1;
    t->fail_at = -1;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct tx *t = *state;
    sm_graph_free(t->g);
    free(t);
    return 0;
}

static int64_t fake_now(void *ctx)
{
    return *(int64_t *)ctx;
}

static int32_t add(struct tx *t)
{
    struct sm_err err = SM_ERR_INIT;
    int32_t id = sm_graph_add_run(t->g, 0, &err);
    assert_int_equal(err.code, 0);
    return id;
}

static void input(struct tx *t, int32_t run, int32_t upstream)
{
    struct sm_err err = SM_ERR_INIT;
    int rc = sm_graph_add_input(t->g, run, upstream, &err);
    if (rc != 0)
        fail_msg("add_input(%d, %d): %s", run, upstream, err.msg);
}

static int run_root(struct tx *t, int32_t root, struct sm_err *err)
{
    struct sm_executor ex = tx_executor(t);
    return sm_graph_run(t->g, root, &ex, err);
}

static void assert_trans(const struct tx *t, int32_t i, int32_t run, enum sm_state from,
                         enum sm_state to)
{
    assert_true(i < t->n_trans);
    if (t->trans[i].run != run || t->trans[i].from != from || t->trans[i].to != to)
        fail_msg("transition %d: got run %d %s -> %s, want run %d %s -> %s", i, t->trans[i].run,
                 sm_state_name(t->trans[i].from), sm_state_name(t->trans[i].to), run,
                 sm_state_name(from), sm_state_name(to));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- building the graph ------------------------------------------------- */

static void test_graph__a_new_graph_is_empty(void **state)
{
    struct tx *t = *state;
    assert_int_equal(sm_graph_n_runs(t->g), 0);
    assert_false(sm_graph_has_run(t->g, 0));
    assert_int_equal(sm_graph_executing(t->g), -1);
}

static void test_graph__runs_get_sequential_ids_and_start_created(void **state)
{
    struct tx *t = *state;
    for (int32_t i = 0; i < 3; i++)
        assert_int_equal(add(t), i);
    assert_int_equal(sm_graph_n_runs(t->g), 3);
    for (int32_t i = 0; i < 3; i++) {
        assert_true(sm_graph_has_run(t->g, i));
        assert_int_equal(sm_graph_state(t->g, i), C);
        assert_int_equal(sm_graph_parent(t->g, i), -1);
        assert_int_equal(sm_graph_nested(t->g, i), -1);
        assert_int_equal(sm_graph_creator(t->g, i), -1);
        assert_int_equal(sm_graph_attempt(t->g, i), 0);
        assert_int_equal(sm_graph_retries(t->g, i), 0);
        assert_int_equal(sm_graph_timeout_ms(t->g, i), 0);
        assert_int_equal(sm_graph_n_inputs(t->g, i), 0);
    }
    assert_false(sm_graph_has_run(t->g, 3));
    assert_false(sm_graph_has_run(t->g, -1));
}

static void test_graph__unknown_run_flags_are_refused(void **state)
{
    struct tx *t = *state;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm_graph_add_run(t->g, 1u << 5, &err), -1);
    assert_int_equal(err.code, SM_EINVAL);
    assert_string_equal(err.msg, "cannot add a run with flags 0x20: unknown flag bits 0x20");
    assert_int_equal(sm_graph_n_runs(t->g), 0);
}

static void test_graph__unknown_ids_are_reported_with_the_number_of_runs(void **state)
{
    struct tx *t = *state;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm_graph_set_retries(t->g, 0, 1, &err), SM_ENOTFOUND);
    assert_string_equal(err.msg, "run 0 not found: the graph has no runs");
    add(t);
    add(t);
    add(t);
    const char *want = "run 7 not found: the graph has 3 runs (ids 0 to 2)";
    sm_err_clear(&err);
    assert_int_equal(sm_graph_add_input(t->g, 7, 0, &err), SM_ENOTFOUND);
    assert_string_equal(err.msg, want);
    sm_err_clear(&err);
    assert_int_equal(sm_graph_add_input(t->g, 0, 7, &err), SM_ENOTFOUND);
    assert_string_equal(err.msg, want);
    sm_err_clear(&err);
    assert_int_equal(sm_graph_set_retries(t->g, 7, 1, &err), SM_ENOTFOUND);
    assert_string_equal(err.msg, want);
    sm_err_clear(&err);
    assert_int_equal(sm_graph_set_timeout_ms(t->g, 7, 1, &err), SM_ENOTFOUND);
    assert_string_equal(err.msg, want);
    sm_err_clear(&err);
    assert_int_equal(sm_graph_report_value(t->g, 7, &err), SM_ENOTFOUND);
    assert_string_equal(err.msg, want);
    sm_err_clear(&err);
    assert_int_equal(sm_graph_report_nested(t->g, 7, 0, &err), SM_ENOTFOUND);
    assert_string_equal(err.msg, want);
    sm_err_clear(&err);
    assert_int_equal(sm_graph_report_failure(t->g, 7, true, &err), SM_ENOTFOUND);
    assert_string_equal(err.msg, want);
    sm_err_clear(&err);
    assert_int_equal(run_root(t, 7, &err), SM_ENOTFOUND);
    assert_string_equal(err.msg, want);
    sm_err_clear(&err);
    assert_int_equal(sm_graph_run(t->g, -1, NULL, &err), SM_ENOTFOUND);
    assert_string_equal(err.msg, "run -1 not found: the graph has 3 runs (ids 0 to 2)");
    /* Accessors answer harmlessly outside their precondition. */
    assert_int_equal(sm_graph_state(t->g, 7), SM_STATE_COUNT);
    assert_int_equal(sm_graph_parent(t->g, 7), -1);
    assert_int_equal(sm_graph_input(t->g, 7, 0), -1);
    assert_int_equal(sm_graph_n_inputs(t->g, -2), 0);
    assert_int_equal(sm_graph_timeout_ms(t->g, 9), 0);
}

static void test_graph__inputs_are_kept_in_declaration_order(void **state)
{
    struct tx *t = *state;
    int32_t a = add(t), b = add(t), c = add(t), d = add(t), e = add(t);
    /* d's inputs are declared in one go; e's interleaved with another run's. */
    input(t, d, c);
    input(t, d, a);
    input(t, d, b);
    input(t, e, a);
    input(t, c, b);
    input(t, e, c);
    input(t, e, a);
    assert_int_equal(sm_graph_n_inputs(t->g, d), 3);
    assert_int_equal(sm_graph_input(t->g, d, 0), c);
    assert_int_equal(sm_graph_input(t->g, d, 1), a);
    assert_int_equal(sm_graph_input(t->g, d, 2), b);
    assert_int_equal(sm_graph_input(t->g, d, 3), -1);
    assert_int_equal(sm_graph_input(t->g, d, -1), -1);
    assert_int_equal(sm_graph_n_inputs(t->g, e), 3);
    assert_int_equal(sm_graph_input(t->g, e, 0), a);
    assert_int_equal(sm_graph_input(t->g, e, 1), c);
    assert_int_equal(sm_graph_input(t->g, e, 2), a);
    assert_int_equal(sm_graph_n_inputs(t->g, c), 1);
    assert_int_equal(sm_graph_input(t->g, c, 0), b);
}

static void test_graph__an_input_on_itself_or_on_a_started_run_is_refused(void **state)
{
    struct tx *t = *state;
    int32_t a = add(t), b = add(t);
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm_graph_add_input(t->g, a, a, &err), SM_EINVAL);
    assert_string_equal(err.msg, "cannot make run 0 an input of itself; a run would wait forever");
    assert_int_equal(run_root(t, a, NULL), 0);
    sm_err_clear(&err);
    assert_int_equal(sm_graph_add_input(t->g, a, b, &err), SM_ESTATE);
    assert_string_equal(err.msg, "cannot add an input to run 0: it is already 'RESOLVED'; inputs "
                                 "are declared when the run is created, before it is resolved");
    /* An input on a RESOLVED upstream is fine and already satisfied. */
    int32_t c = add(t);
    input(t, c, a);
    assert_int_equal(run_root(t, c, NULL), 0);
    assert_int_equal(sm_graph_state(t->g, c), RE);
}

static void test_graph__retries_and_timeouts_are_validated(void **state)
{
    struct tx *t = *state;
    int32_t a = add(t);
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm_graph_set_retries(t->g, a, -1, &err), SM_EINVAL);
    assert_string_equal(err.msg, "cannot set retries of run 0 to -1: the retry budget must be 0 "
                                 "or more");
    sm_err_clear(&err);
    assert_int_equal(sm_graph_set_timeout_ms(t->g, a, -5, &err), SM_EINVAL);
    assert_string_equal(err.msg, "cannot set the timeout of run 0 to -5 ms: use a positive number "
                                 "of ms, or 0 for none");
    assert_int_equal(sm_graph_set_retries(t->g, a, 3, NULL), 0);
    assert_int_equal(sm_graph_set_timeout_ms(t->g, a, 0, NULL), 0);
    assert_int_equal(sm_graph_timeout_ms(t->g, a), 0);
    assert_int_equal(sm_graph_set_timeout_ms(t->g, a, 1500, NULL), 0);
    assert_int_equal(sm_graph_retries(t->g, a), 3);
    assert_int_equal(sm_graph_timeout_ms(t->g, a), 1500);
    assert_int_equal(sm_graph_set_timeout_ms(t->g, a, 0, NULL), 0);
    assert_int_equal(sm_graph_timeout_ms(t->g, a), 0);
}

static void test_graph__the_clock_is_replaceable(void **state)
{
    struct tx *t = *state;
    int64_t a = sm_graph_now_ms(t->g), b = sm_graph_now_ms(t->g);
    assert_true(b >= a);
    int64_t fake = 12345;
    sm_graph_set_clock(t->g, fake_now, &fake);
    assert_int_equal(sm_graph_now_ms(t->g), 12345);
    sm_graph_set_clock(t->g, NULL, NULL);
    assert_true(sm_graph_now_ms(t->g) >= b);
}

/* --- resolving ----------------------------------------------------------- */

static void test_graph__a_single_run_goes_scheduled_then_resolved(void **state)
{
    struct tx *t = *state;
    int32_t a = add(t);
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(run_root(t, a, &err), 0);
    assert_int_equal(err.code, 0);
    assert_int_equal(sm_graph_state(t->g, a), RE);
    assert_int_equal(t->n_executed, 1);
    assert_int_equal(t->n_trans, 2);
    assert_trans(t, 0, a, C, S);
    assert_trans(t, 1, a, S, RE);
    assert_int_equal(t->dls[0].remaining_ms, INT64_MAX);
    assert_int_equal(t->dls[0].limiting_run, -1);
    assert_int_equal(sm_graph_executing(t->g), -1);
}

static void test_graph__a_chain_runs_in_dependency_order(void **state)
{
    struct tx *t = *state;
    int32_t r[5];
    for (int i = 0; i < 5; i++) {
        r[i] = add(t);
        if (i > 0)
            input(t, r[i], r[i - 1]);
    }
    assert_int_equal(run_root(t, r[4], NULL), 0);
    assert_int_equal(t->n_executed, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(t->executed[i], r[i]);
        assert_int_equal(sm_graph_state(t->g, r[i]), RE);
    }
}

static void test_graph__fan_out_and_fan_in_execute_each_run_once(void **state)
{
    struct tx *t = *state;
    /* src -> {m1, m2, m3} -> sink, and sink also takes src directly. */
    int32_t src = add(t), m1 = add(t), m2 = add(t), m3 = add(t), sink = add(t);
    input(t, m1, src);
    input(t, m2, src);
    input(t, m3, src);
    input(t, sink, m1);
    input(t, sink, m2);
    input(t, sink, m3);
    input(t, sink, src);
    assert_int_equal(run_root(t, sink, NULL), 0);
    assert_int_equal(t->n_executed, 5);
    assert_int_equal(t->executed[0], src);
    assert_int_equal(t->executed[4], sink);
    int seen[5] = {0};
    for (int i = 0; i < 5; i++)
        seen[t->executed[i]]++;
    for (int i = 0; i < 5; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(sm_graph_state(t->g, sink), RE);
}

static void test_graph__only_the_upstream_closure_of_the_root_runs(void **state)
{
    struct tx *t = *state;
    int32_t a = add(t), b = add(t), unrelated = add(t), downstream = add(t);
    input(t, b, a);
    input(t, downstream, b);
    assert_int_equal(run_root(t, b, NULL), 0);
    assert_int_equal(t->n_executed, 2);
    assert_int_equal(sm_graph_state(t->g, unrelated), C);
    assert_int_equal(sm_graph_state(t->g, downstream), C);
    /* A later resolution reuses what is RESOLVED. */
    t->n_executed = 0;
    assert_int_equal(run_root(t, downstream, NULL), 0);
    assert_int_equal(t->n_executed, 1);
    assert_int_equal(t->executed[0], downstream);
}

static void test_graph__a_terminal_root_returns_at_once(void **state)
{
    struct tx *t = *state;
    int32_t a = add(t);
    assert_int_equal(run_root(t, a, NULL), 0);
    t->n_executed = t->n_trans = 0;
    assert_int_equal(run_root(t, a, NULL), 0);
    assert_int_equal(t->n_executed, 0);
    assert_int_equal(t->n_trans, 0);
}

static void test_graph__an_executor_without_execute_is_refused(void **state)
{
    struct tx *t = *state;
    int32_t a = add(t);
    struct sm_executor ex = {t, NULL, NULL, NULL};
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm_graph_run(t->g, a, &ex, &err), SM_EINVAL);
    assert_string_equal(err.msg, "cannot resolve run 0: the executor has no execute() callback");
    assert_int_equal(sm_graph_state(t->g, a), C);
}

/* Run 0's body: x = add(); y = add(x input); return y. */
static int body_nest_two(struct tx *t, int32_t run, const struct sm_deadline *dl)
{
    (void)dl;
    if (run != 0)
        return body_value(t, run, dl);
    int32_t x = add(t), y = add(t);
    input(t, y, x);
    assert_int_equal(sm_graph_creator(t->g, x), 0);
    t->last_rc = sm_graph_report_nested(t->g, run, y, &t->err);
    assert_int_equal(t->last_rc, 0);
    assert_int_equal(sm_graph_state(t->g, run), RA);
    return 0;
}

static void test_graph__a_nested_future_resolves_its_parent(void **state)
{
    struct tx *t = *state;
    t->body = body_nest_two;
    int32_t root = add(t);
    assert_int_equal(run_root(t, root, NULL), 0);
    assert_int_equal(sm_graph_state(t->g, root), RE);
    assert_int_equal(sm_graph_nested(t->g, root), 2);
    for (int32_t id = 1; id <= 2; id++) {
        assert_int_equal(sm_graph_state(t->g, id), RE);
        assert_int_equal(sm_graph_parent(t->g, id), root);
        assert_int_equal(sm_graph_creator(t->g, id), root);
    }
    assert_int_equal(sm_graph_parent(t->g, root), -1);
    /* scheduled -> ran, then children, then resolved (API.md 2.4 hook order). */
    assert_int_equal(t->n_trans, 7);
    assert_trans(t, 0, 0, C, S);
    assert_trans(t, 1, 0, S, RA);
    assert_trans(t, 2, 1, C, S);
    assert_trans(t, 3, 1, S, RE);
    assert_trans(t, 4, 2, C, S);
    assert_trans(t, 5, 2, S, RE);
    assert_trans(t, 6, 0, RA, RE);
}

/* Run 1 returns run 0, which is already RESOLVED. */
static int body_return_resolved(struct tx *t, int32_t run, const struct sm_deadline *dl)
{
    if (run != 1)
        return body_value(t, run, dl);
    t->last_rc = sm_graph_report_nested(t->g, run, 0, &t->err);
    return 0;
}

static void test_graph__a_resolved_nested_future_resolves_the_run_at_once(void **state)
{
    struct tx *t = *state;
    int32_t a = add(t), b = add(t);
    assert_int_equal(run_root(t, a, NULL), 0);
    t->body = body_return_resolved;
    t->n_trans = 0;
    assert_int_equal(run_root(t, b, NULL), 0);
    assert_int_equal(t->last_rc, 0);
    assert_int_equal(sm_graph_state(t->g, b), RE);
    assert_int_equal(t->n_trans, 3);
    assert_trans(t, 1, b, S, RA);
    assert_trans(t, 2, b, RA, RE);
}

static int body_fail_zero_first(struct tx *t, int32_t run, const struct sm_deadline *dl)
{
    (void)dl;
    t->last_rc = sm_graph_report_failure(t->g, run, false, &t->err);
    return 0;
}

/* Root 1 returns run 0, which failed in an earlier resolution. */
static int body_return_failed(struct tx *t, int32_t run, const struct sm_deadline *dl)
{
    if (run == 0)
        return body_fail_zero_first(t, run, dl);
    t->last_rc = sm_graph_report_nested(t->g, run, 0, &t->err);
    return 0;
}

static void test_graph__a_failed_nested_future_fails_the_run_at_once(void **state)
{
    struct tx *t = *state;
    t->body = body_return_failed;
    int32_t a = add(t), b = add(t);
    assert_int_equal(run_root(t, a, NULL), 0);
    assert_int_equal(sm_graph_state(t->g, a), F);
    t->n_trans = 0;
    assert_int_equal(run_root(t, b, NULL), 0);
    assert_int_equal(t->last_rc, 0);
    assert_int_equal(sm_graph_state(t->g, b), NF);
    assert_int_equal(t->n_trans, 3);
    assert_trans(t, 1, b, S, RA);
    assert_trans(t, 2, b, RA, NF);
}

/* Root 0 returns nested 1; run 1's body returns run 0, its own ancestor. */
static int body_return_ancestor(struct tx *t, int32_t run, const struct sm_deadline *dl)
{
    (void)dl;
    int32_t nested = run == 0 ? add(t) : 0;
    t->last_rc = sm_graph_report_nested(t->g, run, nested, &t->err);
    return 0;
}

static void test_graph__returning_an_ancestor_deadlocks_instead_of_looping(void **state)
{
    struct tx *t = *state;
    t->body = body_return_ancestor;
    int32_t root = add(t);
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(run_root(t, root, &err), SM_EDEADLOCK);
    assert_string_equal(err.msg, "graph cannot make progress resolving run 0: it is 'RAN' and no "
                                 "run is ready or in flight");
    assert_int_equal(sm_graph_parent(t->g, root), -1);
    assert_int_equal(sm_graph_parent(t->g, 1), root);
    assert_int_equal(sm_graph_state(t->g, 1), RA);
}

static void test_graph__report_nested_refuses_itself_and_unknown_runs(void **state)
{
    struct tx *t = *state;
    int32_t a = add(t);
    t->stop_execute_run = -1;
    /* Drive by hand: schedule through a body that reports nothing, then report. */
    t->body = body_async;
    struct sm_executor ex = {t, tx_execute, tx_on_transition, NULL};
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm_graph_run(t->g, a, &ex, &err), SM_EDEADLOCK);
    assert_string_equal(err.msg, "graph cannot make progress resolving run 0: run 0 is "
                                 "'SCHEDULED' but was not reported, and the executor has no "
                                 "wait(); an inline executor must report before execute() "
                                 "returns");
    sm_err_clear(&err);
    assert_int_equal(sm_graph_report_nested(t->g, a, a, &err), SM_EINVAL);
    assert_string_equal(err.msg, "run 0 cannot return itself as its nested future; it would wait "
                                 "on itself forever");
    sm_err_clear(&err);
    assert_int_equal(sm_graph_report_nested(t->g, a, 5, &err), SM_ENOTFOUND);
    assert_string_equal(err.msg, "run 5 not found: the graph has 1 runs (ids 0 to 0)");
    assert_int_equal(sm_graph_state(t->g, a), S);
    /* Outside sm_graph_run() a report still applies, with no callbacks. */
    t->n_trans = 0;
    assert_int_equal(sm_graph_report_value(t->g, a, NULL), 0);
    assert_int_equal(sm_graph_state(t->g, a), RE);
    assert_int_equal(t->n_trans, 0);
}

static void test_graph__reports_on_runs_not_in_flight_are_invalid_transitions(void **state)
{
    struct tx *t = *state;
    int32_t a = add(t), b = add(t);
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm_graph_report_value(t->g, a, &err), SM_EINVALID_TRANSITION);
    assert_string_equal(err.msg, "invalid run state transition for run 0: 'CREATED' -> "
                                 "'RESOLVED'; an executor reports only on a run that is "
                                 "'SCHEDULED' (see API.md 2.4)");
    assert_int_equal(run_root(t, a, NULL), 0);
    sm_err_clear(&err);
    assert_int_equal(sm_graph_report_nested(t->g, a, b, &err), SM_EINVALID_TRANSITION);
    assert_string_equal(err.msg, "invalid run state transition for run 0: 'RESOLVED' -> 'RAN'; "
                                 "an executor reports only on a run that is 'SCHEDULED' (see "
                                 "API.md 2.4)");
    sm_err_clear(&err);
    assert_int_equal(sm_graph_report_failure(t->g, a, false, &err), SM_EINVALID_TRANSITION);
    assert_string_equal(err.msg, "invalid run state transition for run 0: 'RESOLVED' -> "
                                 "'FAILED'; an executor reports only on a run that is "
                                 "'SCHEDULED' (see API.md 2.4)");
    assert_int_equal(sm_graph_state(t->g, a), RE);
    assert_int_equal(sm_graph_state(t->g, b), C);
}

static void test_graph__a_failed_run_never_takes_the_legacy_failed_to_retrying(void **state)
{
    struct tx *t = *state;
    t->body = body_fail_then_value;
    t->fail_times[0] = 1;
    t->retryable = false;
    int32_t a = add(t);
    assert_int_equal(sm_graph_set_retries(t->g, a, 0, NULL), 0);
    assert_int_equal(run_root(t, a, NULL), 0);
    assert_int_equal(sm_graph_state(t->g, a), F);
    /* Budget added later still does not revive it: FAILED -> RETRYING is legal but unused. */
    assert_int_equal(sm_graph_set_retries(t->g, a, 5, NULL), 0);
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm_graph_report_failure(t->g, a, true, &err), SM_EINVALID_TRANSITION);
    assert_string_equal(err.msg, "invalid run state transition for run 0: 'FAILED' -> "
                                 "'RETRYING'; an executor reports only on a run that is "
                                 "'SCHEDULED' (see API.md 2.4)");
    assert_int_equal(sm_graph_state(t->g, a), F);
}

/* --- retries and failures ------------------------------------------------ */

static void test_graph__a_retryable_failure_within_budget_runs_again(void **state)
{
    struct tx *t = *state;
    t->body = body_fail_then_value;
    t->retryable = true;
    int32_t up = add(t), a = add(t);
    input(t, a, up);
    t->fail_times[a] = 2;
    assert_int_equal(sm_graph_set_retries(t->g, a, 2, NULL), 0);
    assert_int_equal(run_root(t, a, NULL), 0);
    assert_int_equal(sm_graph_state(t->g, a), RE);
    assert_int_equal(sm_graph_attempt(t->g, a), 2);
    assert_int_equal(t->n_executed, 4);
    assert_int_equal(t->n_trans, 2 + 6);
    assert_trans(t, 2, a, C, S);
    assert_trans(t, 3, a, S, RT);
    assert_trans(t, 4, a, RT, S);
    assert_trans(t, 5, a, S, RT);
    assert_trans(t, 6, a, RT, S);
    assert_trans(t, 7, a, S, RE);
}

static void test_graph__an_exhausted_retry_budget_fails_and_cancels_the_rest(void **state)
{
    struct tx *t = *state;
    t->body = body_fail_then_value;
    t->retryable = true;
    /* a and b both feed c; a fails for good before b runs. */
    int32_t a = add(t), b = add(t), c = add(t);
    input(t, c, a);
    input(t, c, b);
    t->fail_times[a] = 5;
    assert_int_equal(sm_graph_set_retries(t->g, a, 1, NULL), 0);
    assert_int_equal(run_root(t, c, NULL), 0);
    assert_int_equal(sm_graph_attempt(t->g, a), 1);
    assert_int_equal(sm_graph_state(t->g, a), F);
    assert_int_equal(sm_graph_state(t->g, c), F);
    /* b was queued behind a's retry: a, b, a again; b resolved. */
    assert_int_equal(t->n_executed, 3);
    assert_int_equal(sm_graph_state(t->g, b), RE);
}

static void test_graph__a_non_retryable_failure_ignores_the_budget(void **state)
{
    struct tx *t = *state;
    t->body = body_fail_then_value;
    t->retryable = false;
    int32_t a = add(t);
    t->fail_times[a] = 1;
    assert_int_equal(sm_graph_set_retries(t->g, a, 3, NULL), 0);
    assert_int_equal(run_root(t, a, NULL), 0);
    assert_int_equal(sm_graph_state(t->g, a), F);
    assert_int_equal(sm_graph_attempt(t->g, a), 0);
    assert_int_equal(t->n_trans, 2);
    assert_trans(t, 1, a, S, F);
}

/*
 * Root 0's body returns nested 1, whose inputs 2 and 3 it also creates;
 * run 2's body returns nested 4; run 4 fails while 1 still waits on 3's
 * sibling branch.
 */
static int body_deep_failure(struct tx *t, int32_t run, const struct sm_deadline *dl)
{
    switch (run) {
    case 0: {
        int32_t n = add(t), in1 = add(t), in2 = add(t);
        input(t, n, in1);
        input(t, n, in2);
        t->last_rc = sm_graph_report_nested(t->g, run, n, &t->err);
        return 0;
    }
    case 2: {
        int32_t n = add(t);
        t->last_rc = sm_graph_report_nested(t->g, run, n, &t->err);
        return 0;
    }
    case 4:
        t->last_rc = sm_graph_report_failure(t->g, run, true, &t->err);
        return 0;
    default:
        return body_value(t, run, dl);
    }
}

static void test_graph__a_failure_fails_ancestors_child_first_and_cancels_the_rest(void **state)
{
    struct tx *t = *state;
    t->body = body_deep_failure;
    int32_t root = add(t);
    assert_int_equal(run_root(t, root, NULL), 0);
    assert_int_equal(t->last_rc, 0);
    assert_int_equal(sm_graph_parent(t->g, 4), 2);
    assert_int_equal(sm_graph_parent(t->g, 2), 0);
    assert_int_equal(sm_graph_parent(t->g, 3), 0);
    assert_int_equal(sm_graph_state(t->g, 4), F);
    assert_int_equal(sm_graph_state(t->g, 2), NF);
    assert_int_equal(sm_graph_state(t->g, 0), NF);
    assert_int_equal(sm_graph_state(t->g, 3), RE);
    assert_int_equal(sm_graph_state(t->g, 1), X);
    int32_t n = t->n_trans;
    assert_trans(t, n - 4, 4, S, F);
    assert_trans(t, n - 3, 2, RA, NF);
    assert_trans(t, n - 2, 0, RA, NF);
    assert_trans(t, n - 1, 1, C, X);
}

/* Two inputs of the root: 0 fails; 1 is still queued and gets canceled. */
static int body_fail_zero(struct tx *t, int32_t run, const struct sm_deadline *dl)
{
    if (run == 0) {
        t->last_rc = sm_graph_report_failure(t->g, run, false, &t->err);
        return 0;
    }
    return body_value(t, run, dl);
}

static void test_graph__an_upstream_failure_fails_the_root_and_cancels_by_id(void **state)
{
    struct tx *t = *state;
    t->body = body_fail_zero;
    int32_t a = add(t), b = add(t), c = add(t), root = add(t);
    input(t, root, a);
    input(t, root, b);
    input(t, root, c);
    assert_int_equal(run_root(t, root, NULL), 0);
    assert_int_equal(sm_graph_state(t->g, a), F);
    assert_int_equal(sm_graph_state(t->g, root), F);
    assert_int_equal(sm_graph_state(t->g, b), X);
    assert_int_equal(sm_graph_state(t->g, c), X);
    assert_int_equal(t->n_executed, 1);
    assert_int_equal(t->n_trans, 5);
    assert_trans(t, 1, a, S, F);
    assert_trans(t, 2, root, C, F);
    assert_trans(t, 3, b, C, X);
    assert_trans(t, 4, c, C, X);
}

static void test_graph__cancel_ends_every_active_run_in_id_order(void **state)
{
    struct tx *t = *state;
    t->body = body_async;
    int32_t a = add(t), b = add(t), c = add(t), idle = add(t);
    input(t, c, a);
    input(t, c, b);
    struct sm_executor ex = tx_executor(t);
    assert_int_equal(sm_graph_run(t->g, c, &ex, NULL), SM_EDEADLOCK);
    assert_int_equal(sm_graph_state(t->g, a), S);
    assert_int_equal(sm_graph_state(t->g, b), S);
    t->n_trans = 0;
    assert_int_equal(sm_graph_cancel(t->g, &ex, NULL), 0);
    assert_int_equal(t->n_trans, 3);
    assert_trans(t, 0, a, S, X);
    assert_trans(t, 1, b, S, X);
    assert_trans(t, 2, c, C, X);
    assert_int_equal(sm_graph_state(t->g, idle), C);
    /* Canceling again changes nothing; without an executor nothing is told. */
    assert_int_equal(sm_graph_cancel(t->g, NULL, NULL), 0);
    assert_int_equal(t->n_trans, 3);
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm_graph_report_value(t->g, a, &err), SM_EINVALID_TRANSITION);
}

/* --- callbacks ---------------------------------------------------------- */

static void test_graph__a_failing_execute_stops_the_run_and_leaves_states(void **state)
{
    struct tx *t = *state;
    int32_t a = add(t), b = add(t);
    input(t, b, a);
    t->stop_execute_run = b;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(run_root(t, b, &err), SM_ECALLBACK);
    assert_string_equal(err.msg, "callback failed: execute returned 1 for run 1");
    assert_int_equal(sm_graph_state(t->g, a), RE);
    assert_int_equal(sm_graph_state(t->g, b), S);
    assert_int_equal(sm_graph_executing(t->g), -1);
    struct sm_executor ex = tx_executor(t);
    assert_int_equal(sm_graph_cancel(t->g, &ex, NULL), 0);
    assert_int_equal(sm_graph_state(t->g, b), X);
}

static void test_graph__a_failing_on_transition_stops_the_run_with_its_message(void **state)
{
    struct tx *t = *state;
    int32_t a = add(t), b = add(t), c = add(t);
    input(t, b, a);
    input(t, c, b);
    t->stop_transition_run = b;
    t->stop_transition_to = RE;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(run_root(t, c, &err), SM_ECALLBACK);
    assert_string_equal(err.msg, "callback failed: on_transition returned 1 for run 1 "
                                 "('SCHEDULED' -> 'RESOLVED')");
    /* The report saw the same failure. */
    assert_int_equal(t->last_rc, SM_ECALLBACK);
    assert_string_equal(t->err.msg, err.msg);
    assert_int_equal(sm_graph_state(t->g, b), RE);
    assert_int_equal(sm_graph_state(t->g, c), C);
    /* The write was kept consistent: resuming resolves c. */
    t->stop_transition_run = -1;
    assert_int_equal(run_root(t, c, NULL), 0);
    assert_int_equal(sm_graph_state(t->g, c), RE);
}

static void test_graph__on_transition_failing_on_schedule_stops_before_execute(void **state)
{
    struct tx *t = *state;
    int32_t a = add(t);
    t->stop_transition_run = a;
    t->stop_transition_to = S;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(run_root(t, a, &err), SM_ECALLBACK);
    assert_string_equal(err.msg, "callback failed: on_transition returned 1 for run 0 "
                                 "('CREATED' -> 'SCHEDULED')");
    assert_int_equal(t->n_executed, 0);
    assert_int_equal(sm_graph_state(t->g, a), S);
}

static int body_reenter(struct tx *t, int32_t run, const struct sm_deadline *dl)
{
    struct sm_err err = SM_ERR_INIT;
    int rc = run_root(t, run, &err);
    assert_int_equal(rc, SM_ESTATE);
    assert_string_equal(err.msg, "cannot resolve run 0 from inside run 0: sm_graph_run() is not "
                                 "re-entrant; return the future from the body instead");
    return body_value(t, run, dl);
}

static void test_graph__a_re_entrant_run_is_refused(void **state)
{
    struct tx *t = *state;
    t->body = body_reenter;
    int32_t a = add(t);
    assert_int_equal(run_root(t, a, NULL), 0);
    assert_int_equal(sm_graph_state(t->g, a), RE);
}

static void test_graph__a_cycle_of_inputs_is_a_deadlock_naming_a_stuck_run(void **state)
{
    struct tx *t = *state;
    int32_t a = add(t), b = add(t), root = add(t);
    input(t, a, b);
    input(t, b, a);
    input(t, root, a);
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(run_root(t, root, &err), SM_EDEADLOCK);
    assert_string_equal(err.msg, "graph cannot make progress resolving run 2: no run is ready or "
                                 "in flight, and run 0 waits on input run 1, which is 'CREATED'; "
                                 "look for a cycle of inputs or an input that was canceled");
    assert_int_equal(t->n_executed, 0);
}

/* --- asynchronous executors and deadlines -------------------------------- */

static void test_graph__an_async_executor_is_waited_on_with_the_earliest_deadline(void **state)
{
    struct tx *t = *state;
    int64_t clock = 0;
    sm_graph_set_clock(t->g, fake_now, &clock);
    t->body = body_async;
    int32_t a = add(t), b = add(t), c = add(t);
    input(t, c, a);
    input(t, c, b);
    assert_int_equal(sm_graph_set_timeout_ms(t->g, a, 5000, NULL), 0);
    assert_int_equal(sm_graph_set_timeout_ms(t->g, b, 3000, NULL), 0);
    struct sm_executor ex = {t, tx_execute, tx_on_transition, tx_wait};
    assert_int_equal(sm_graph_run(t->g, c, &ex, NULL), 0);
    assert_int_equal(sm_graph_state(t->g, c), RE);
    /* a and b in flight together; the first wait honours b's 3 s, the second a's 5 s. */
    assert_int_equal(t->n_executed, 3);
    assert_int_equal(t->n_waits, 3);
    assert_int_equal(t->wait_deadlines[0], 3000);
    assert_int_equal(t->wait_deadlines[1], 3000);
    assert_int_equal(t->wait_deadlines[2], INT64_MAX);
}

static void test_graph__without_timeouts_wait_gets_no_deadline(void **state)
{
    struct tx *t = *state;
    t->body = body_async;
    int32_t a = add(t);
    struct sm_executor ex = {t, tx_execute, tx_on_transition, tx_wait};
    assert_int_equal(sm_graph_run(t->g, a, &ex, NULL), 0);
    assert_int_equal(t->n_waits, 1);
    assert_int_equal(t->wait_deadlines[0], INT64_MAX);
}

/* Nesting bodies with timeouts chosen per new run: 0 -> 1 -> 2 -> 3. */
static int body_timed_nest(struct tx *t, int32_t run, const struct sm_deadline *dl)
{
    (void)dl;
    static const int64_t child_timeout[] = {5000, 500, 0};
    if (run >= 3)
        return body_value(t, run, dl);
    int32_t child = add(t);
    assert_int_equal(sm_graph_set_timeout_ms(t->g, child, child_timeout[run], NULL), 0);
    t->last_rc = sm_graph_report_nested(t->g, run, child, &t->err);
    return 0;
}

static void test_graph__the_deadline_is_the_tightest_along_the_parent_chain(void **state)
{
    struct tx *t = *state;
    int64_t clock = 0;
    sm_graph_set_clock(t->g, fake_now, &clock);
    t->clock = &clock;
    t->step_ms = 100; /* each execution starts 100 ms after the previous */
    t->body = body_timed_nest;
    int32_t root = add(t);
    assert_int_equal(sm_graph_set_timeout_ms(t->g, root, 1000, NULL), 0);
    assert_int_equal(run_root(t, root, NULL), 0);
    assert_int_equal(t->n_executed, 4);
    /* Run 0 at t=0: its own 1000. */
    assert_int_equal(t->dls[0].remaining_ms, 1000);
    assert_int_equal(t->dls[0].limiting_run, 0);
    /* Run 1 at t=100 (5000 own): the root's 900 is tighter. */
    assert_int_equal(t->dls[1].remaining_ms, 900);
    assert_int_equal(t->dls[1].limiting_run, 0);
    /* Run 2 at t=200 (500 own): its own. */
    assert_int_equal(t->dls[2].remaining_ms, 500);
    assert_int_equal(t->dls[2].limiting_run, 2);
    /* Run 3 at t=300, no timeout: run 2's, 400 left. */
    assert_int_equal(t->dls[3].remaining_ms, 400);
    assert_int_equal(t->dls[3].limiting_run, 2);
}

/* Run 1 (the root) returns run 0, made earlier with the same timeout. */
static int body_return_older(struct tx *t, int32_t run, const struct sm_deadline *dl)
{
    if (run != 1)
        return body_value(t, run, dl);
    t->last_rc = sm_graph_report_nested(t->g, run, 0, &t->err);
    return 0;
}

static void test_graph__equal_deadlines_are_limited_by_the_lower_id(void **state)
{
    struct tx *t = *state;
    int64_t clock = 0;
    sm_graph_set_clock(t->g, fake_now, &clock);
    t->body = body_return_older;
    int32_t older = add(t), root = add(t);
    assert_int_equal(sm_graph_set_timeout_ms(t->g, older, 50, NULL), 0);
    assert_int_equal(sm_graph_set_timeout_ms(t->g, root, 50, NULL), 0);
    assert_int_equal(run_root(t, root, NULL), 0);
    assert_int_equal(sm_graph_parent(t->g, older), root);
    assert_int_equal(t->dls[1].remaining_ms, 50);
    assert_int_equal(t->dls[1].limiting_run, older);
}

static void test_graph__a_retry_restarts_the_timeout(void **state)
{
    struct tx *t = *state;
    int64_t clock = 0;
    sm_graph_set_clock(t->g, fake_now, &clock);
    t->clock = &clock;
    t->step_ms = 300;
    t->body = body_fail_then_value;
    t->retryable = true;
    int32_t a = add(t);
    t->fail_times[a] = 1;
    assert_int_equal(sm_graph_set_retries(t->g, a, 1, NULL), 0);
    assert_int_equal(sm_graph_set_timeout_ms(t->g, a, 1000, NULL), 0);
    assert_int_equal(run_root(t, a, NULL), 0);
    assert_int_equal(t->n_executed, 2);
    assert_int_equal(t->dls[0].remaining_ms, 1000);
    assert_int_equal(t->dls[1].remaining_ms, 1000);
    assert_int_equal(t->dls[1].limiting_run, a);
}

/* --- unused futures ------------------------------------------------------ */

/* Root 0's body: a=1, b=2, c=3(a), exempt=4; returns c. */
static int body_unused(struct tx *t, int32_t run, const struct sm_deadline *dl)
{
    if (run != 0)
        return body_value(t, run, dl);
    int32_t a = add(t), b = add(t), c = add(t);
    int32_t ex = sm_graph_add_run(t->g, SM_RUN_EXEMPT_UNUSED, NULL);
    (void)b;
    input(t, c, a);
    t->scratch[0] = sm_graph_find_unused(t->g, run, c);
    t->scratch[1] = sm_graph_find_unused(t->g, run, -1);
    t->scratch[2] = sm_graph_find_unused(t->g, run, ex);
    t->scratch[3] = sm_graph_find_unused(t->g, run, 99); /* not a run: like -1 */
    t->last_rc = sm_graph_report_nested(t->g, run, c, &t->err);
    return 0;
}

static void test_graph__find_unused_names_the_first_future_the_result_ignores(void **state)
{
    struct tx *t = *state;
    t->body = body_unused;
    int32_t root = add(t);
    assert_int_equal(run_root(t, root, NULL), 0);
    assert_int_equal(t->scratch[0], 2);
    assert_int_equal(t->scratch[1], 1);
    assert_int_equal(t->scratch[2], 1);
    assert_int_equal(t->scratch[3], 1);
    assert_int_equal(sm_graph_state(t->g, 2), C); /* never executed */
    assert_int_equal(sm_graph_state(t->g, 4), C);
    assert_int_equal(sm_graph_state(t->g, 3), RE);
    /* A run that created nothing, or a bad id, has no unused future. */
    assert_int_equal(sm_graph_find_unused(t->g, 3, -1), -1);
    assert_int_equal(sm_graph_find_unused(t->g, 42, -1), -1);
}

/* Root 0: c = h(a, b) where b = g(a): all used; only an exempt helper is left. */
static int body_all_used(struct tx *t, int32_t run, const struct sm_deadline *dl)
{
    if (run != 0)
        return body_value(t, run, dl);
    int32_t helper = sm_graph_add_run(t->g, SM_RUN_EXEMPT_UNUSED, NULL);
    int32_t a = add(t), b = add(t), c = add(t);
    (void)helper;
    input(t, b, a);
    input(t, c, a);
    input(t, c, b);
    t->scratch[0] = sm_graph_find_unused(t->g, run, c);
    t->scratch[1] = sm_graph_find_unused(t->g, run, -1);
    t->last_rc = sm_graph_report_nested(t->g, run, c, &t->err);
    return 0;
}

static void test_graph__find_unused_skips_exempt_runs_and_returns_minus_one(void **state)
{
    struct tx *t = *state;
    t->body = body_all_used;
    int32_t root = add(t);
    assert_int_equal(run_root(t, root, NULL), 0);
    assert_int_equal(t->scratch[0], -1);
    assert_int_equal(t->scratch[1], 2);
}

/* Root 0 fails retryably on its first attempt after creating run 1; then creates run 2. */
static int body_unused_after_retry(struct tx *t, int32_t run, const struct sm_deadline *dl)
{
    if (run != 0)
        return body_value(t, run, dl);
    add(t);
    if (sm_graph_attempt(t->g, run) == 0) {
        t->last_rc = sm_graph_report_failure(t->g, run, true, &t->err);
        return 0;
    }
    t->scratch[0] = sm_graph_find_unused(t->g, run, -1);
    t->last_rc = sm_graph_report_value(t->g, run, &t->err);
    return 0;
}

static void test_graph__find_unused_forgets_futures_of_failed_attempts(void **state)
{
    struct tx *t = *state;
    t->body = body_unused_after_retry;
    int32_t root = add(t);
    assert_int_equal(sm_graph_set_retries(t->g, root, 1, NULL), 0);
    assert_int_equal(run_root(t, root, NULL), 0);
    assert_int_equal(sm_graph_state(t->g, root), RE);
    assert_int_equal(t->scratch[0], 2);
    assert_int_equal(sm_graph_creator(t->g, 1), root);
}

/* --- scale ---------------------------------------------------------------- */

static void test_graph__a_100000_long_chain_resolves_without_recursion(void **state)
{
    struct tx *t = *state;
    for (int32_t i = 0; i < BIG; i++) {
        add(t);
        if (i > 0)
            input(t, i, i - 1);
    }
    double t0 = now_s();
    assert_int_equal(run_root(t, BIG - 1, NULL), 0);
    double dt = now_s() - t0;
    assert_int_equal(t->n_executed, BIG);
    assert_int_equal(t->n_trans, 2 * BIG);
    for (int32_t i = 0; i < BIG; i++)
        assert_int_equal(sm_graph_state(t->g, i), RE);
    print_message("100,000-run chain: %.1f ms (%.0f ns per run)\n", dt * 1e3, dt * 1e9 / BIG);
}

static void test_graph__a_100000_deep_nesting_resolves_without_recursion(void **state)
{
    struct tx *t = *state;
    t->body = body_nest;
    t->nest_until = BIG;
    int32_t root = add(t);
    double t0 = now_s();
    assert_int_equal(run_root(t, root, NULL), 0);
    double dt = now_s() - t0;
    assert_int_equal(sm_graph_n_runs(t->g), BIG);
    assert_int_equal(t->n_executed, BIG);
    /* Every run: C->S, then S->RA (all but the last) and RA->RE or S->RE. */
    assert_int_equal(t->n_trans, 3 * BIG - 1);
    for (int32_t i = 0; i < BIG; i++) {
        assert_int_equal(sm_graph_state(t->g, i), RE);
        assert_int_equal(sm_graph_parent(t->g, i), i - 1);
    }
    print_message("100,000-deep nesting: %.1f ms (%.0f ns per run)\n", dt * 1e3, dt * 1e9 / BIG);
}

static void test_graph__a_failure_100000_deep_fails_every_ancestor(void **state)
{
    struct tx *t = *state;
    t->body = body_nest;
    t->nest_until = BIG;
    t->fail_at = BIG - 1;
    int32_t root = add(t);
    double t0 = now_s();
    assert_int_equal(run_root(t, root, NULL), 0);
    double dt = now_s() - t0;
    assert_int_equal(sm_graph_state(t->g, BIG - 1), F);
    for (int32_t i = 0; i < BIG - 1; i++)
        assert_int_equal(sm_graph_state(t->g, i), NF);
    print_message("100,000-deep failure: %.1f ms\n", dt * 1e3);
}

static void test_graph__deadlines_100000_deep_cost_constant_time_per_run(void **state)
{
    struct tx *t = *state;
    int64_t clock = 0;
    sm_graph_set_clock(t->g, fake_now, &clock);
    t->clock = &clock;
    t->step_ms = 1;
    t->body = body_nest;
    t->nest_until = BIG;
    t->timeout_each = 10 * (int64_t)BIG;
    int32_t root = add(t);
    assert_int_equal(sm_graph_set_timeout_ms(t->g, root, 5 * (int64_t)BIG, NULL), 0);
    double t0 = now_s();
    assert_int_equal(run_root(t, root, NULL), 0);
    double dt = now_s() - t0;
    assert_int_equal(sm_graph_state(t->g, root), RE);
    /* The root's timeout binds all the way down: the 511th run starts at t=510. */
    assert_int_equal(t->dls[LOG_CAP - 1].limiting_run, 0);
    assert_int_equal(t->dls[LOG_CAP - 1].remaining_ms, 5 * (int64_t)BIG - (LOG_CAP - 1));
    print_message("100,000-deep nesting with timeouts: %.1f ms\n", dt * 1e3);
}

/* --- allocation ------------------------------------------------------------ */

static long n_allocs;

static void *count_malloc(size_t size)
{
    n_allocs++;
    return malloc(size);
}

static void *count_realloc(void *p, size_t size)
{
    n_allocs++;
    return realloc(p, size);
}

static void *count_calloc(size_t count, size_t size)
{
    n_allocs++;
    return calloc(count, size);
}

static void test_graph__state_changes_allocate_nothing_once_vectors_have_grown(void **state)
{
    (void)state;
    assert_int_equal(sm_replace_allocator(count_malloc, count_realloc, count_calloc, free), 0);
    struct tx *t = calloc(1, sizeof(*t));
    t->g = sm_graph_new();
    t->body = body_fail_then_value;
    t->retryable = true;
    t->stop_transition_run = t->stop_execute_run = t->fail_at = -1;
    /* Two identical fan-in graphs: 100 sources, one retrying once, feeding one sink. */
    int32_t sinks[2];
    for (int k = 0; k < 2; k++) {
        int32_t first = sm_graph_n_runs(t->g);
        for (int i = 0; i < 100; i++)
            add(t);
        sinks[k] = add(t);
        for (int i = 0; i < 100; i++)
            input(t, sinks[k], first + i);
        t->fail_times[first + 7] = 1;
        assert_int_equal(sm_graph_set_retries(t->g, first + 7, 1, NULL), 0);
    }
    assert_int_equal(run_root(t, sinks[0], NULL), 0);
    long before = n_allocs;
    assert_int_equal(run_root(t, sinks[1], NULL), 0);
    long during = n_allocs - before;
    assert_int_equal(sm_graph_state(t->g, sinks[1]), RE);
    assert_int_equal(t->n_executed, 2 * 102);
    sm_graph_free(t->g);
    free(t);
    assert_int_equal(sm_replace_allocator(NULL, NULL, NULL, NULL), 0);
    assert_int_equal(during, 0);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_graph__a_new_graph_is_empty),
        T(test_graph__runs_get_sequential_ids_and_start_created),
        T(test_graph__unknown_run_flags_are_refused),
        T(test_graph__unknown_ids_are_reported_with_the_number_of_runs),
        T(test_graph__inputs_are_kept_in_declaration_order),
        T(test_graph__an_input_on_itself_or_on_a_started_run_is_refused),
        T(test_graph__retries_and_timeouts_are_validated),
        T(test_graph__the_clock_is_replaceable),
        T(test_graph__a_single_run_goes_scheduled_then_resolved),
        T(test_graph__a_chain_runs_in_dependency_order),
        T(test_graph__fan_out_and_fan_in_execute_each_run_once),
        T(test_graph__only_the_upstream_closure_of_the_root_runs),
        T(test_graph__a_terminal_root_returns_at_once),
        T(test_graph__an_executor_without_execute_is_refused),
        T(test_graph__a_nested_future_resolves_its_parent),
        T(test_graph__a_resolved_nested_future_resolves_the_run_at_once),
        T(test_graph__a_failed_nested_future_fails_the_run_at_once),
        T(test_graph__returning_an_ancestor_deadlocks_instead_of_looping),
        T(test_graph__report_nested_refuses_itself_and_unknown_runs),
        T(test_graph__reports_on_runs_not_in_flight_are_invalid_transitions),
        T(test_graph__a_failed_run_never_takes_the_legacy_failed_to_retrying),
        T(test_graph__a_retryable_failure_within_budget_runs_again),
        T(test_graph__an_exhausted_retry_budget_fails_and_cancels_the_rest),
        T(test_graph__a_non_retryable_failure_ignores_the_budget),
        T(test_graph__a_failure_fails_ancestors_child_first_and_cancels_the_rest),
        T(test_graph__an_upstream_failure_fails_the_root_and_cancels_by_id),
        T(test_graph__cancel_ends_every_active_run_in_id_order),
        T(test_graph__a_failing_execute_stops_the_run_and_leaves_states),
        T(test_graph__a_failing_on_transition_stops_the_run_with_its_message),
        T(test_graph__on_transition_failing_on_schedule_stops_before_execute),
        T(test_graph__a_re_entrant_run_is_refused),
        T(test_graph__a_cycle_of_inputs_is_a_deadlock_naming_a_stuck_run),
        T(test_graph__an_async_executor_is_waited_on_with_the_earliest_deadline),
        T(test_graph__without_timeouts_wait_gets_no_deadline),
        T(test_graph__the_deadline_is_the_tightest_along_the_parent_chain),
        T(test_graph__equal_deadlines_are_limited_by_the_lower_id),
        T(test_graph__a_retry_restarts_the_timeout),
        T(test_graph__find_unused_names_the_first_future_the_result_ignores),
        T(test_graph__find_unused_skips_exempt_runs_and_returns_minus_one),
        T(test_graph__find_unused_forgets_futures_of_failed_attempts),
        T(test_graph__a_100000_long_chain_resolves_without_recursion),
        T(test_graph__a_100000_deep_nesting_resolves_without_recursion),
        T(test_graph__a_failure_100000_deep_fails_every_ancestor),
        T(test_graph__deadlines_100000_deep_cost_constant_time_per_run),
        cmocka_unit_test(test_graph__state_changes_allocate_nothing_once_vectors_have_grown),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
