/*
 * test_err.c: the error table (sm_strerror, sm_err_name) and the
 * first-error-wins buffer (sm_errf, sm_err_clear).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sematic/err.h"

#include "util/banned.h"

static void test_err__every_code_has_a_name_and_a_text(void **state)
{
    (void)state;
#define CHECK(name, value, text)                                                                   \
    assert_int_equal(SM_##name, value);                                                            \
    assert_string_equal(sm_err_name(value), "SM_" #name);                                          \
    assert_string_equal(sm_strerror(value), text);
    SM_ERRNO_MAP(CHECK)
#undef CHECK
    assert_string_equal(sm_strerror(SM_EINVALID_TRANSITION), "invalid run state transition");
    assert_string_equal(sm_err_name(SM_ECALLBACK), "SM_ECALLBACK");
}

static void test_err__unknown_codes_get_stable_placeholders(void **state)
{
    (void)state;
    assert_string_equal(sm_strerror(0), "unknown error");
    assert_string_equal(sm_strerror(-1000), "unknown error");
    assert_string_equal(sm_strerror(5), "unknown error");
    assert_string_equal(sm_err_name(0), "SM_EUNKNOWN");
    assert_string_equal(sm_err_name(-1000), "SM_EUNKNOWN");
}

static void test_err__errf_formats_the_message_and_returns_the_code(void **state)
{
    (void)state;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm_errf(&err, SM_ENOTFOUND, "run %d not found: the graph has %d runs", 7, 3),
                     SM_ENOTFOUND);
    assert_int_equal(err.code, SM_ENOTFOUND);
    assert_string_equal(err.msg, "run 7 not found: the graph has 3 runs");
}

static void test_err__the_first_error_wins(void **state)
{
    (void)state;
    struct sm_err err = SM_ERR_INIT;
    sm_errf(&err, SM_EIO, "cannot write 'a': disk full");
    assert_int_equal(sm_errf(&err, SM_ECALLBACK, "outer failure"), SM_ECALLBACK);
    assert_int_equal(err.code, SM_EIO);
    assert_string_equal(err.msg, "cannot write 'a': disk full");
}

static void test_err__a_null_err_only_returns_the_code(void **state)
{
    (void)state;
    assert_int_equal(sm_errf(NULL, SM_EINVAL, "ignored %d", 1), SM_EINVAL);
    sm_err_clear(NULL);
}

static void test_err__clear_makes_the_err_reusable(void **state)
{
    (void)state;
    struct sm_err err = SM_ERR_INIT;
    sm_errf(&err, SM_EIO, "first");
    sm_err_clear(&err);
    assert_int_equal(err.code, 0);
    assert_string_equal(err.msg, "");
    sm_errf(&err, SM_EINVAL, "second");
    assert_int_equal(err.code, SM_EINVAL);
    assert_string_equal(err.msg, "second");
}

static void test_err__long_messages_are_truncated_and_terminated(void **state)
{
    (void)state;
    char big[600];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct sm_err err = SM_ERR_INIT;
    sm_errf(&err, SM_ETOOBIG, "value '%s' too big", big);
    assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
    assert_memory_equal(err.msg, "value 'xxx", 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err__every_code_has_a_name_and_a_text),
        cmocka_unit_test(test_err__unknown_codes_get_stable_placeholders),
        cmocka_unit_test(test_err__errf_formats_the_message_and_returns_the_code),
        cmocka_unit_test(test_err__the_first_error_wins),
        cmocka_unit_test(test_err__a_null_err_only_returns_the_code),
        cmocka_unit_test(test_err__clear_makes_the_err_reusable),
        cmocka_unit_test(test_err__long_messages_are_truncated_and_terminated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
