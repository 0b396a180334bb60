/*
 * test_state.c: state names, terminal predicates and the transition table,
 * checked exhaustively (all 8 x 8 pairs) against API.md 2.4 written out
 * again here, independently of src/core/graph/state.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "sematic/graph.h"

#include "util/banned.h"

/* Short names for the tables below. */
#define C SM_STATE_CREATED
#define S SM_STATE_SCHEDULED
#define RA SM_STATE_RAN
#define RE SM_STATE_RESOLVED
#define F SM_STATE_FAILED
#define NF SM_STATE_NESTED_FAILED
#define RT SM_STATE_RETRYING
#define X SM_STATE_CANCELED

/* API.md 2.4, row = from, column = to. */
static const bool legal[SM_STATE_COUNT][SM_STATE_COUNT] = {
    /*          C  S  RA RE F  NF RT X */
    [C] = {0, 1, 0, 0, 1, 0, 0, 1},  [S] = {0, 0, 1, 1, 1, 0, 1, 1},
    [RA] = {0, 0, 0, 1, 0, 1, 0, 1}, [RE] = {0, 0, 0, 0, 0, 0, 0, 0},
    [F] = {0, 0, 0, 0, 0, 0, 1, 0},  [NF] = {0, 0, 0, 0, 0, 0, 0, 0},
    [RT] = {0, 1, 0, 0, 1, 0, 0, 1}, [X] = {0, 0, 0, 0, 0, 0, 0, 0},
};

static void test_state__names_are_the_sematic_names(void **state)
{
    (void)state;
    static const char *const want[SM_STATE_COUNT] = {
        "CREATED", "SCHEDULED",     "RAN",      "RESOLVED",
        "FAILED",  "NESTED_FAILED", "RETRYING", "CANCELED",
    };
    for (int s = 0; s < SM_STATE_COUNT; s++)
        assert_string_equal(sm_state_name((enum sm_state)s), want[s]);
    assert_string_equal(sm_state_name((enum sm_state)SM_STATE_COUNT), "UNKNOWN");
    assert_string_equal(sm_state_name((enum sm_state) - 1), "UNKNOWN");
}

static void test_state__terminal_and_failed_predicates_follow_api_2_4(void **state)
{
    (void)state;
    for (int s = 0; s < SM_STATE_COUNT; s++) {
        bool terminal = s == RE || s == F || s == NF || s == X;
        bool failed = s == F || s == NF;
        assert_int_equal(sm_state_is_terminal((enum sm_state)s), terminal);
        assert_int_equal(sm_state_is_failed((enum sm_state)s), failed);
    }
    assert_false(sm_state_is_terminal((enum sm_state)42));
    assert_false(sm_state_is_failed((enum sm_state)42));
}

static void test_state__every_legal_transition_is_allowed(void **state)
{
    (void)state;
    int n_legal = 0;
    for (int from = 0; from < SM_STATE_COUNT; from++)
        for (int to = 0; to < SM_STATE_COUNT; to++) {
            if (!legal[from][to])
                continue;
            struct sm_err err = SM_ERR_INIT;
            int rc = sm_state_check_transition((enum sm_state)from, (enum sm_state)to, &err);
            if (rc != 0)
                fail_msg("%s -> %s refused: %s", sm_state_name((enum sm_state)from),
                         sm_state_name((enum sm_state)to), err.msg);
            assert_int_equal(err.code, 0);
            n_legal++;
        }
    assert_int_equal(n_legal, 15);
}

static void test_state__every_illegal_transition_is_refused_with_both_names(void **state)
{
    (void)state;
    int n_illegal = 0;
    for (int from = 0; from < SM_STATE_COUNT; from++)
        for (int to = 0; to < SM_STATE_COUNT; to++) {
            if (legal[from][to])
                continue;
            struct sm_err err = SM_ERR_INIT;
            int rc = sm_state_check_transition((enum sm_state)from, (enum sm_state)to, &err);
            if (rc != SM_EINVALID_TRANSITION)
                fail_msg("%s -> %s allowed (rc %d)", sm_state_name((enum sm_state)from),
                         sm_state_name((enum sm_state)to), rc);
            char want[256];
            snprintf(want, sizeof(want),
                     "invalid run state transition: '%s' -> '%s'; a run's state only moves "
                     "forward (see API.md 2.4)",
                     sm_state_name((enum sm_state)from), sm_state_name((enum sm_state)to));
            assert_string_equal(err.msg, want);
            assert_int_equal(err.code, SM_EINVALID_TRANSITION);
            n_illegal++;
        }
    assert_int_equal(n_illegal, 64 - 15);
}

static void test_state__out_of_range_states_are_refused(void **state)
{
    (void)state;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm_state_check_transition((enum sm_state)9, S, &err), SM_EINVALID_TRANSITION);
    assert_string_equal(err.msg, "invalid run state transition: 'UNKNOWN' -> 'SCHEDULED'; a run's "
                                 "state only moves forward (see API.md 2.4)");
    assert_int_equal(sm_state_check_transition(C, (enum sm_state) - 3, NULL),
                     SM_EINVALID_TRANSITION);
}

static void test_state__a_null_err_still_gets_the_code(void **state)
{
    (void)state;
    assert_int_equal(sm_state_check_transition(RE, S, NULL), SM_EINVALID_TRANSITION);
    assert_int_equal(sm_state_check_transition(C, S, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state__names_are_the_sematic_names),
        cmocka_unit_test(test_state__terminal_and_failed_predicates_follow_api_2_4),
        cmocka_unit_test(test_state__every_legal_transition_is_allowed),
        cmocka_unit_test(test_state__every_illegal_transition_is_refused_with_both_names),
        cmocka_unit_test(test_state__out_of_range_states_are_refused),
        cmocka_unit_test(test_state__a_null_err_still_gets_the_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
