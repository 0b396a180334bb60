/*
 * test_hash.c: SHA-256 known vectors (FIPS 180-2), streaming equals
 * one-shot, hex helpers, and random ids (format, uniqueness, pool refills,
 * threads and forked children).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sematic/hash.h"

#include "util/banned.h"

static void hex_of(const void *data, size_t len, char out[SM_SHA256_HEX_LEN + 1])
{
    uint8_t d[SM_SHA256_LEN];
    sm_sha256(data, len, d);
    sm_hex(d, sizeof(d), out);
}

static void test_hash__sha256_matches_the_known_vectors(void **state)
{
    (void)state;
    char hex[SM_SHA256_HEX_LEN + 1];
    hex_of("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(two_blocks, strlen(two_blocks), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_hash__streaming_equals_one_shot(void **state)
{
    (void)state;
    /* One million 'a' (FIPS 180-2 vector), fed in uneven pieces. */
    size_t n = 1000000;
    char *a = malloc(n);
    assert_non_null(a);
    memset(a, 'a', n);
    struct sm_sha256 h;
    sm_sha256_init(&h);
    size_t done = 0, step = 1;
    while (done < n) {
        size_t k = step < n - done ? step : n - done;
        sm_sha256_update(&h, a + done, k);
        done += k;
        step = step * 3 + 1;
    }
    sm_sha256_update(&h, a, 0);
    uint8_t d[SM_SHA256_LEN];
    sm_sha256_final(&h, d);
    assert_null(h.ctx);
    char hex[SM_SHA256_HEX_LEN + 1];
    sm_hex(d, sizeof(d), hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    char one[SM_SHA256_HEX_LEN + 1];
    hex_of(a, n, one);
    assert_string_equal(one, hex);
    free(a);
}

static void test_hash__release_frees_an_unfinished_context(void **state)
{
    (void)state;
    struct sm_sha256 h;
    sm_sha256_init(&h);
    sm_sha256_update(&h, "x", 1);
    sm_sha256_release(&h);
    assert_null(h.ctx);
    sm_sha256_release(&h);
    struct sm_sha256 unused = {NULL};
    sm_sha256_release(&unused);
    sm_sha256_release(NULL);
}

static void test_hash__hex_is_lower_case_and_terminated(void **state)
{
    (void)state;
    const uint8_t bytes[] = {0x00, 0x0f, 0xa5, 0xff};
    char out[9];
    memset(out, 'X', sizeof(out));
    sm_hex(bytes, sizeof(bytes), out);
    assert_string_equal(out, "000fa5ff");
    sm_hex(bytes, 0, out);
    assert_string_equal(out, "");
}

static void test_hash__is_hex_accepts_only_lower_case_hex_of_the_length(void **state)
{
    (void)state;
    assert_true(sm_is_hex("0123456789abcdef", 16));
    assert_true(sm_is_hex("", 0));
    assert_true(sm_is_hex("abcXYZ", 3));
    assert_false(sm_is_hex("ABCDEF", 6));
    assert_false(sm_is_hex("abcg", 4));
    assert_false(sm_is_hex("ab c", 4));
    assert_false(sm_is_hex("ab", 3));
    assert_false(sm_is_hex(NULL, 0));
}

static int compare_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_hash__random_ids_are_32_hex_digits_and_unique(void **state)
{
    (void)state;
    /* More than one pool's worth (4096 / 16 = 256 ids), to cross refills. */
    enum { N = 2000 };
    static char ids[N][SM_ID_HEX_LEN + 1];
    for (int i = 0; i < N; i++) {
        struct sm_err err = SM_ERR_INIT;
        assert_int_equal(sm_random_id(ids[i], &err), 0);
        assert_int_equal(strlen(ids[i]), SM_ID_HEX_LEN);
        assert_true(sm_is_hex(ids[i], SM_ID_HEX_LEN));
    }
    qsort(ids, N, sizeof(ids[0]), compare_ids);
    for (int i = 1; i < N; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0)
            fail_msg("duplicate id %s", ids[i]);
}

static void *id_in_thread(void *arg)
{
    char *out = arg;
    if (sm_random_id(out, NULL) != 0)
        out[0] = '\0';
    return NULL;
}

static void test_hash__threads_draw_different_ids(void **state)
{
    (void)state;
    char a[SM_ID_HEX_LEN + 1], b[SM_ID_HEX_LEN + 1], mine[SM_ID_HEX_LEN + 1];
    assert_int_equal(sm_random_id(mine, NULL), 0);
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, id_in_thread, a), 0);
    assert_int_equal(pthread_create(&tb, NULL, id_in_thread, b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(strlen(a), SM_ID_HEX_LEN);
    assert_int_equal(strlen(b), SM_ID_HEX_LEN);
    assert_string_not_equal(a, b);
    assert_string_not_equal(a, mine);
    assert_string_not_equal(b, mine);
}

static void test_hash__a_forked_child_does_not_repeat_its_parents_ids(void **state)
{
    (void)state;
    char first[SM_ID_HEX_LEN + 1];
    assert_int_equal(sm_random_id(first, NULL), 0); /* the pool is now full */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char id[SM_ID_HEX_LEN + 1];
        int ok = sm_random_id(id, NULL) == 0 &&
                 write(fds[1], id, SM_ID_HEX_LEN) == (ssize_t)SM_ID_HEX_LEN;
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    char child[SM_ID_HEX_LEN + 1] = {0};
    ssize_t n = read(fds[0], child, SM_ID_HEX_LEN);
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(n, SM_ID_HEX_LEN);
    char parent[SM_ID_HEX_LEN + 1];
    assert_int_equal(sm_random_id(parent, NULL), 0);
    assert_string_not_equal(child, parent);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash__sha256_matches_the_known_vectors),
        cmocka_unit_test(test_hash__streaming_equals_one_shot),
        cmocka_unit_test(test_hash__release_frees_an_unfinished_context),
        cmocka_unit_test(test_hash__hex_is_lower_case_and_terminated),
        cmocka_unit_test(test_hash__is_hex_accepts_only_lower_case_hex_of_the_length),
        cmocka_unit_test(test_hash__random_ids_are_32_hex_digits_and_unique),
        cmocka_unit_test(test_hash__threads_draw_different_ids),
        cmocka_unit_test(test_hash__a_forked_child_does_not_repeat_its_parents_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
