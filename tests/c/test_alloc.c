/*
 * test_alloc.c: the replaceable allocator. Out of memory aborts with a
 * message, so those cases run in a forked child whose death the parent
 * checks (libuv runs every test that way).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sematic/alloc.h"
#include "sematic/err.h"

#include "util/banned.h"

static int n_malloc, n_realloc, n_calloc, n_free;

static void *count_malloc(size_t size)
{
    n_malloc++;
    return malloc(size);
}

static void *count_realloc(void *p, size_t size)
{
    n_realloc++;
    return realloc(p, size);
}

static void *count_calloc(size_t count, size_t size)
{
    n_calloc++;
    return calloc(count, size);
}

static void count_free(void *p)
{
    n_free++;
    free(p);
}

static void *null_malloc(size_t size)
{
    (void)size;
    return NULL;
}

static void *null_realloc(void *p, size_t size)
{
    (void)p;
    (void)size;
    return NULL;
}

static void *null_calloc(size_t count, size_t size)
{
    (void)count;
    (void)size;
    return NULL;
}

static int restore(void **state)
{
    (void)state;
    return sm_replace_allocator(NULL, NULL, NULL, NULL);
}

static void test_alloc__every_call_goes_through_the_replaced_allocator(void **state)
{
    (void)state;
    n_malloc = n_realloc = n_calloc = n_free = 0;
    assert_int_equal(sm_replace_allocator(count_malloc, count_realloc, count_calloc, count_free),
                     0);
    char *p = sm_xmalloc(8);
    p = sm_xrealloc(p, 64);
    int *z = sm_xcalloc(4, sizeof(int));
    assert_int_equal(z[0] | z[1] | z[2] | z[3], 0);
    sm_free(p);
    sm_free(z);
    sm_free(NULL);
    assert_int_equal(n_malloc, 1);
    assert_int_equal(n_realloc, 1);
    assert_int_equal(n_calloc, 1);
    assert_int_equal(n_free, 2);
}

static void test_alloc__a_partial_replacement_is_refused(void **state)
{
    (void)state;
    assert_int_equal(sm_replace_allocator(count_malloc, NULL, count_calloc, count_free), SM_EINVAL);
    n_malloc = 0;
    sm_free(sm_xmalloc(1));
    assert_int_equal(n_malloc, 0);
}

static void test_alloc__zero_sizes_still_return_a_block(void **state)
{
    (void)state;
    void *a = sm_xmalloc(0);
    void *b = sm_xcalloc(0, 16);
    void *c = sm_xrealloc(NULL, 0);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    sm_free(a);
    sm_free(b);
    sm_free(c);
}

/* Run fn in a child with stderr captured; return what it printed and how it ended. */
static void run_in_child(void (*fn)(void), char *out, size_t out_size, int *status)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t got;
    while (n + 1 < out_size && (got = read(fds[0], out + n, out_size - 1 - n)) > 0)
        n += (size_t)got;
    out[n] = '\0';
    close(fds[0]);
    assert_int_equal(waitpid(pid, status, 0), pid);
}

static void oom_in_malloc(void)
{
    sm_replace_allocator(null_malloc, null_realloc, null_calloc, free);
    void *p = sm_xmalloc(1234);
    free(p);
}

static void overflow_in_calloc(void)
{
    void *p = sm_xcalloc(SIZE_MAX / 2, 4);
    free(p);
}

static void test_alloc__out_of_memory_aborts_with_a_message(void **state)
{
    (void)state;
    char out[4096];
    int status;
    run_in_child(oom_in_malloc, out, sizeof(out), &status);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(out, "sematic: out of memory allocating 1234 bytes\n"));
}

static void test_alloc__calloc_overflow_aborts_instead_of_wrapping(void **state)
{
    (void)state;
    char out[4096];
    int status;
    run_in_child(overflow_in_calloc, out, sizeof(out), &status);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(out, "sematic: out of memory allocating"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_alloc__every_call_goes_through_the_replaced_allocator,
                                  restore),
        cmocka_unit_test_teardown(test_alloc__a_partial_replacement_is_refused, restore),
        cmocka_unit_test(test_alloc__zero_sizes_still_return_a_block),
        cmocka_unit_test(test_alloc__out_of_memory_aborts_with_a_message),
        cmocka_unit_test(test_alloc__calloc_overflow_aborts_instead_of_wrapping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
