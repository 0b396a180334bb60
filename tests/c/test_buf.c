/*
 * test_buf.c: the bounded growable buffer: appends, the cap (SM_ETOOBIG
 * leaves the buffer empty and reusable), formatting, truncate and detach.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sematic/alloc.h"
#include "sematic/buf.h"

#include "util/banned.h"

static void test_buf__a_new_buffer_is_empty_and_holds_no_memory(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(100);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.alloc, 0);
    assert_int_equal(b.max_len, 100);
    struct sm_buf c;
    sm_buf_init(&c, 7);
    assert_null(c.data);
    assert_int_equal(c.max_len, 7);
    sm_buf_release(&b);
    sm_buf_release(&c);
    sm_buf_release(NULL);
}

static void test_buf__adds_append_and_keep_a_trailing_nul(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(1 << 20);
    assert_int_equal(sm_buf_add(&b, "abc", 3), 0);
    assert_int_equal(sm_buf_adds(&b, "def"), 0);
    assert_int_equal(sm_buf_addc(&b, 'g'), 0);
    assert_int_equal(b.len, 7);
    assert_string_equal(b.data, "abcdefg");
    assert_int_equal(b.data[b.len], '\0');
    sm_buf_release(&b);
}

static void test_buf__an_empty_add_still_gives_a_terminated_string(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(10);
    assert_int_equal(sm_buf_add(&b, "", 0), 0);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    sm_buf_release(&b);
}

static void test_buf__embedded_nul_bytes_are_kept(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(10);
    assert_int_equal(sm_buf_add(&b, "a\0b", 3), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b\0", 4);
    sm_buf_release(&b);
}

static void test_buf__growth_keeps_the_contents(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(1 << 20);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(sm_buf_addc(&b, (char)('a' + i % 26)), 0);
    assert_int_equal(b.len, 10000);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(b.data[i], 'a' + i % 26);
    assert_true(b.alloc > b.len);
    sm_buf_release(&b);
}

static void test_buf__filling_exactly_to_the_cap_succeeds(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(5);
    assert_int_equal(sm_buf_add(&b, "12345", 5), 0);
    assert_string_equal(b.data, "12345");
    assert_true(b.alloc <= 6);
    sm_buf_release(&b);
}

static void test_buf__growing_past_the_cap_empties_the_buffer(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(5);
    assert_int_equal(sm_buf_add(&b, "123", 3), 0);
    assert_int_equal(sm_buf_add(&b, "456", 3), SM_ETOOBIG);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.alloc, 0);
    assert_int_equal(b.max_len, 5);
    /* Reusable, with the same cap. */
    assert_int_equal(sm_buf_adds(&b, "ok"), 0);
    assert_string_equal(b.data, "ok");
    assert_int_equal(sm_buf_addc(&b, 'x'), 0);
    assert_int_equal(sm_buf_adds(&b, "xyz"), SM_ETOOBIG);
    assert_int_equal(b.len, 0);
    sm_buf_release(&b);
}

static void test_buf__every_append_function_honours_the_cap(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(0);
    assert_int_equal(sm_buf_addc(&b, 'x'), SM_ETOOBIG);
    assert_int_equal(sm_buf_adds(&b, "x"), SM_ETOOBIG);
    assert_int_equal(sm_buf_addf(&b, "%d", 1), SM_ETOOBIG);
    assert_int_equal(sm_buf_reserve(&b, 1), SM_ETOOBIG);
    assert_int_equal(sm_buf_add(&b, "", 0), 0);
    assert_string_equal(b.data, "");
    sm_buf_release(&b);
}

static void test_buf__sizes_that_would_overflow_are_too_big(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT((size_t)-1);
    assert_int_equal(sm_buf_adds(&b, "abc"), 0);
    assert_int_equal(sm_buf_reserve(&b, (size_t)-1), SM_ETOOBIG);
    assert_int_equal(b.len, 0);
    /* len + n fits the cap exactly but leaves no room for the NUL. */
    assert_int_equal(sm_buf_adds(&b, "abc"), 0);
    assert_int_equal(sm_buf_reserve(&b, (size_t)-1 - 3), SM_ETOOBIG);
    assert_int_equal(b.len, 0);
    sm_buf_release(&b);
}

static void test_buf__reserve_makes_room_without_changing_len(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(1000);
    assert_int_equal(sm_buf_reserve(&b, 500), 0);
    assert_int_equal(b.len, 0);
    assert_true(b.alloc >= 501);
    assert_string_equal(b.data, "");
    char *before = b.data;
    assert_int_equal(sm_buf_add(&b, before, 0), 0);
    for (int i = 0; i < 500; i++)
        assert_int_equal(sm_buf_addc(&b, 'z'), 0);
    assert_ptr_equal(b.data, before);
    sm_buf_release(&b);
}

static void test_buf__addf_formats_and_grows(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(1 << 20);
    assert_int_equal(sm_buf_addf(&b, "run %d of %s", 7, "pipeline"), 0);
    assert_string_equal(b.data, "run 7 of pipeline");
    char big[300];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(sm_buf_addf(&b, "[%s]", big), 0);
    assert_int_equal(b.len, 17 + 2 + 299);
    assert_int_equal(b.data[17], '[');
    assert_int_equal(b.data[b.len - 1], ']');
    assert_int_equal(b.data[b.len], '\0');
    sm_buf_release(&b);
}

static void test_buf__addf_past_the_cap_empties_the_buffer(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(10);
    assert_int_equal(sm_buf_adds(&b, "abc"), 0);
    assert_int_equal(sm_buf_addf(&b, "%s", "12345678"), SM_ETOOBIG);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(sm_buf_addf(&b, "%d", 42), 0);
    assert_string_equal(b.data, "42");
    sm_buf_release(&b);
}

static void test_buf__reset_keeps_the_memory(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(100);
    assert_int_equal(sm_buf_adds(&b, "hello"), 0);
    char *p = b.data;
    sm_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, p);
    assert_string_equal(b.data, "");
    assert_int_equal(sm_buf_adds(&b, "x"), 0);
    assert_string_equal(b.data, "x");
    sm_buf_release(&b);
    struct sm_buf empty = SM_BUF_INIT(1);
    sm_buf_reset(&empty);
    assert_null(empty.data);
}

static void test_buf__truncate_shortens_and_terminates(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(100);
    assert_int_equal(sm_buf_adds(&b, "abcdef"), 0);
    sm_buf_truncate(&b, 2);
    assert_int_equal(b.len, 2);
    assert_string_equal(b.data, "ab");
    sm_buf_truncate(&b, 2);
    assert_string_equal(b.data, "ab");
    sm_buf_truncate(&b, 0);
    assert_string_equal(b.data, "");
    sm_buf_release(&b);
}

static void test_buf__detach_hands_over_the_contents(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(100);
    assert_int_equal(sm_buf_adds(&b, "owned"), 0);
    size_t n = 0;
    char *s = sm_buf_detach(&b, &n);
    assert_int_equal(n, 5);
    assert_string_equal(s, "owned");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max_len, 100);
    sm_free(s);
}

static void test_buf__detach_of_an_empty_buffer_gives_an_empty_string(void **state)
{
    (void)state;
    struct sm_buf b = SM_BUF_INIT(100);
    size_t n = 99;
    char *s = sm_buf_detach(&b, &n);
    assert_non_null(s);
    assert_int_equal(n, 0);
    assert_string_equal(s, "");
    sm_free(s);
    s = sm_buf_detach(&b, NULL);
    assert_string_equal(s, "");
    sm_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf__a_new_buffer_is_empty_and_holds_no_memory),
        cmocka_unit_test(test_buf__adds_append_and_keep_a_trailing_nul),
        cmocka_unit_test(test_buf__an_empty_add_still_gives_a_terminated_string),
        cmocka_unit_test(test_buf__embedded_nul_bytes_are_kept),
        cmocka_unit_test(test_buf__growth_keeps_the_contents),
        cmocka_unit_test(test_buf__filling_exactly_to_the_cap_succeeds),
        cmocka_unit_test(test_buf__growing_past_the_cap_empties_the_buffer),
        cmocka_unit_test(test_buf__every_append_function_honours_the_cap),
        cmocka_unit_test(test_buf__sizes_that_would_overflow_are_too_big),
        cmocka_unit_test(test_buf__reserve_makes_room_without_changing_len),
        cmocka_unit_test(test_buf__addf_formats_and_grows),
        cmocka_unit_test(test_buf__addf_past_the_cap_empties_the_buffer),
        cmocka_unit_test(test_buf__reset_keeps_the_memory),
        cmocka_unit_test(test_buf__truncate_shortens_and_terminates),
        cmocka_unit_test(test_buf__detach_hands_over_the_contents),
        cmocka_unit_test(test_buf__detach_of_an_empty_buffer_gives_an_empty_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
