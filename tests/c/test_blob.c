/*
 * test_blob.c: the content-addressed blob directory: put/get/exists, dedup,
 * grouped sync, gc, damaged files (SM_ECORRUPT), and I/O faults: a path
 * under a regular file, a read-only directory (as non-root), and a full
 * disk (a 64 KiB tmpfs, only where the test may mount one).
 *
 * Each test gets a fresh directory under $TMPDIR (or /tmp), removed after.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sematic/blob.h"

#include "util/banned.h"

/* SHA-256("hello world"), from sha256sum. */
#define HELLO_KEY "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"

struct fixture {
    char root[256]; /* the test's private directory */
    char dir[300];  /* root/blobs */
    struct sm_blobs *bs;
};

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    chmod(path, 0700);
    return remove(path);
}

static void remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");
    snprintf(f->root, sizeof(f->root), "%s/sm-blob-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/blobs", f->root);
    struct sm_err err = SM_ERR_INIT;
    f->bs = sm_blobs_open(f->dir, &err);
    if (!f->bs) {
        print_error("sm_blobs_open: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sm_blobs_close(f->bs);
    remove_tree(f->root);
    free(f);
    return 0;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Entries of dir/<fanout> whose names start with prefix ("" for all). */
static int count_files(const struct fixture *f, const char *fanout, const char *prefix)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/%s", f->dir, fanout);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

/* err->msg equals want as sm_errf() stores it: cut at 255 bytes. */
static void assert_msg(const struct sm_err *err, const char *want)
{
    char cut[sizeof(err->msg)];
    size_t n = strlen(want);
    if (n > sizeof(cut) - 1)
        n = sizeof(cut) - 1;
    memcpy(cut, want, n);
    cut[n] = '\0';
    assert_string_equal(err->msg, cut);
}

static void blob_path(const struct fixture *f, const char *key, char *out, size_t n)
{
    snprintf(out, n, "%s/%.2s/%s", f->dir, key, key + 2);
}

static void overwrite_file(const char *path, const char *data, size_t len)
{
    chmod(path, 0644);
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void test_blob__put_stores_the_bytes_under_their_sha256(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    char key[SM_SHA256_HEX_LEN + 1];
    assert_int_equal(sm_blob_put(f->bs, "hello world", 11, key, &err), 0);
    assert_string_equal(key, HELLO_KEY);
    char path[400];
    blob_path(f, key, path, sizeof(path));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 11);
    assert_true(sm_blob_exists(f->bs, key));
    assert_string_equal(sm_blobs_dir(f->bs), f->dir);
    assert_int_equal(count_files(f, "b9", ".tmp-"), 0);
}

static void test_blob__get_appends_the_checked_bytes(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    char key[SM_SHA256_HEX_LEN + 1];
    assert_int_equal(sm_blob_put(f->bs, "hello world", 11, key, &err), 0);
    struct sm_buf out = SM_BUF_INIT(1 << 20);
    sm_buf_adds(&out, ">");
    assert_int_equal(sm_blob_get(f->bs, key, &out, &err), 0);
    assert_string_equal(out.data, ">hello world");
    assert_int_equal(out.len, 12);
    sm_buf_release(&out);
}

static void test_blob__empty_and_binary_blobs_round_trip(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    char key[SM_SHA256_HEX_LEN + 1];
    assert_int_equal(sm_blob_put(f->bs, "", 0, key, &err), 0);
    assert_string_equal(key, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    struct sm_buf out = SM_BUF_INIT(1 << 20);
    assert_int_equal(sm_blob_get(f->bs, key, &out, &err), 0);
    assert_int_equal(out.len, 0);
    assert_string_equal(out.data, "");

    size_t n = 300000;
    unsigned char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (unsigned char)(i * 7 + (i >> 9));
    assert_int_equal(sm_blob_put(f->bs, big, n, key, &err), 0);
    sm_buf_reset(&out);
    assert_int_equal(sm_blob_get(f->bs, key, &out, &err), 0);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, big, n);
    free(big);
    sm_buf_release(&out);
}

static void test_blob__putting_the_same_bytes_twice_stores_one_file(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    char k1[SM_SHA256_HEX_LEN + 1], k2[SM_SHA256_HEX_LEN + 1];
    assert_int_equal(sm_blob_put(f->bs, "hello world", 11, k1, &err), 0);
    char path[400];
    blob_path(f, k1, path, sizeof(path));
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    assert_int_equal(sm_blob_put(f->bs, "hello world", 11, k2, &err), 0);
    assert_string_equal(k1, k2);
    assert_int_equal(stat(path, &after), 0);
    /* The first file was kept, not replaced. */
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(count_files(f, "b9", ""), 1);
    assert_int_equal(sm_blob_sync(f->bs, &err), 0);
}

static void test_blob__missing_blobs_are_not_found(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    struct sm_buf out = SM_BUF_INIT(100);
    assert_false(sm_blob_exists(f->bs, HELLO_KEY));
    assert_int_equal(sm_blob_get(f->bs, HELLO_KEY, &out, &err), SM_ENOTFOUND);
    char msg[1024];
    snprintf(msg, sizeof(msg), "blob 'b94d27b9934d…' not found in '%s'", f->dir);
    assert_msg(&err, msg);
    sm_buf_release(&out);
}

static void test_blob__keys_that_are_not_64_hex_digits_are_invalid(void **state)
{
    struct fixture *f = *state;
    static const char *bad[] = {
        "",
        "abc",
        HELLO_KEY "0",
        "B94D27B9934D3E08A52E52D7DA7DABFAC484EFE37A5380EE9088F7ACE2EFCDE9",
        "../../../../etc/passwd0000000000000000000000000000000000000000000",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sm_err err = SM_ERR_INIT;
        struct sm_buf out = SM_BUF_INIT(100);
        assert_int_equal(sm_blob_get(f->bs, bad[i], &out, &err), SM_EINVAL);
        char msg[1024];
        snprintf(msg, sizeof(msg), "invalid blob key '%.70s': expected 64 lower-case hex digits",
                 bad[i]);
        assert_msg(&err, msg);
        assert_false(sm_blob_exists(f->bs, bad[i]));
    }
    assert_false(sm_blob_exists(f->bs, NULL));
}

static void test_blob__a_blob_larger_than_the_buffer_cap_is_too_big(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    char key[SM_SHA256_HEX_LEN + 1];
    assert_int_equal(sm_blob_put(f->bs, "hello world", 11, key, &err), 0);
    struct sm_buf out = SM_BUF_INIT(12);
    sm_buf_adds(&out, "xx");
    assert_int_equal(sm_blob_get(f->bs, key, &out, &err), SM_ETOOBIG);
    assert_string_equal(err.msg,
                        "blob 'b94d27b9934d…' is 11 bytes, more than the 10 bytes left under the "
                        "buffer's cap");
    assert_int_equal(out.len, 0);
    assert_int_equal(sm_blob_get(f->bs, key, &out, NULL), 0);
    assert_string_equal(out.data, "hello world");
    sm_buf_release(&out);
}

static void expect_corrupt(struct fixture *f, const char *key, const char *content_key)
{
    struct sm_err err = SM_ERR_INIT;
    struct sm_buf out = SM_BUF_INIT(1 << 20);
    sm_buf_adds(&out, "keep");
    assert_int_equal(sm_blob_get(f->bs, key, &out, &err), SM_ECORRUPT);
    char msg[1024];
    snprintf(msg, sizeof(msg),
             "blob '%s/%.2s/%s' is corrupted: its content hashes to %.12s…; restore it from a "
             "backup or delete it and rerun the pipeline that produced it",
             f->dir, key, key + 2, content_key);
    assert_msg(&err, msg);
    /* Nothing of the damaged bytes reaches the caller. */
    assert_string_equal(out.data, "keep");
    sm_buf_release(&out);
}

static void test_blob__a_damaged_blob_is_corrupt(void **state)
{
    struct fixture *f = *state;
    char key[SM_SHA256_HEX_LEN + 1];
    assert_int_equal(sm_blob_put(f->bs, "hello world", 11, key, NULL), 0);
    char path[400];
    blob_path(f, key, path, sizeof(path));
    overwrite_file(path, "hello World", 11);
    /* sha256("hello World") */
    expect_corrupt(f, key, "db4067cec62c58bf8b2f8982071e77c082da9e00924bf3631f3b024fa54e7d7e");
}

static void test_blob__a_truncated_blob_is_corrupt(void **state)
{
    struct fixture *f = *state;
    char key[SM_SHA256_HEX_LEN + 1];
    assert_int_equal(sm_blob_put(f->bs, "hello world", 11, key, NULL), 0);
    char path[400];
    blob_path(f, key, path, sizeof(path));
    chmod(path, 0644);
    assert_int_equal(truncate(path, 5), 0);
    /* sha256("hello") */
    expect_corrupt(f, key, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    /* Putting the bytes again replaces the damaged file. */
    char again[SM_SHA256_HEX_LEN + 1];
    assert_int_equal(sm_blob_put(f->bs, "hello world", 11, again, NULL), 0);
    struct sm_buf out = SM_BUF_INIT(100);
    assert_int_equal(sm_blob_get(f->bs, key, &out, NULL), 0);
    assert_string_equal(out.data, "hello world");
    sm_buf_release(&out);
}

static void test_blob__sync_releases_every_pending_file(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    int base = count_fds();
    char key[SM_SHA256_HEX_LEN + 1];
    for (int i = 0; i < 50; i++) {
        char data[32];
        int n = snprintf(data, sizeof(data), "blob %d", i);
        assert_int_equal(sm_blob_put(f->bs, data, (size_t)n, key, &err), 0);
    }
    assert_true(count_fds() >= base + 50);
    assert_int_equal(sm_blob_sync(f->bs, &err), 0);
    assert_int_equal(count_fds(), base);
    assert_int_equal(sm_blob_sync(f->bs, &err), 0);
}

static void test_blob__put_syncs_by_itself_past_256_pending_files(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    int base = count_fds();
    char key[SM_SHA256_HEX_LEN + 1];
    for (int i = 0; i < 300; i++) {
        char data[32];
        int n = snprintf(data, sizeof(data), "many %d", i);
        assert_int_equal(sm_blob_put(f->bs, data, (size_t)n, key, &err), 0);
        if (count_fds() > base + 257)
            fail_msg("%d descriptors open after %d puts", count_fds() - base, i + 1);
    }
    assert_int_equal(sm_blob_sync(f->bs, &err), 0);
}

static void test_blob__a_reopened_directory_serves_the_same_blobs(void **state)
{
    struct fixture *f = *state;
    char key[SM_SHA256_HEX_LEN + 1];
    assert_int_equal(sm_blob_put(f->bs, "persist", 7, key, NULL), 0);
    sm_blobs_close(f->bs);
    struct sm_err err = SM_ERR_INIT;
    f->bs = sm_blobs_open(f->dir, &err);
    assert_non_null(f->bs);
    struct sm_buf out = SM_BUF_INIT(100);
    assert_int_equal(sm_blob_get(f->bs, key, &out, &err), 0);
    assert_string_equal(out.data, "persist");
    sm_buf_release(&out);
    sm_blobs_close(NULL);
}

struct keep_set {
    const char *key;
    int n_calls;
};

static bool keep_one(void *ctx, const char *key)
{
    struct keep_set *k = ctx;
    k->n_calls++;
    return strcmp(key, k->key) == 0;
}

static void set_age(const char *path, time_t age_s)
{
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= age_s;
    ts[1] = ts[0];
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void test_blob__gc_deletes_unkept_blobs_and_stale_temp_files(void **state)
{
    struct fixture *f = *state;
    struct sm_err err = SM_ERR_INIT;
    char kept[SM_SHA256_HEX_LEN + 1], gone1[SM_SHA256_HEX_LEN + 1], gone2[SM_SHA256_HEX_LEN + 1];
    assert_int_equal(sm_blob_put(f->bs, "hello world", 11, kept, &err), 0);
    assert_int_equal(sm_blob_put(f->bs, "abc", 3, gone1, &err), 0);
    assert_int_equal(sm_blob_put(f->bs, "defg", 4, gone2, &err), 0);
    assert_int_equal(sm_blob_sync(f->bs, &err), 0);
    /* A killed writer's temp file, two hours old, and a live writer's. */
    char stale[400], fresh[400], other[400];
    snprintf(stale, sizeof(stale), "%s/b9/.tmp-0123456789abcdef0123456789abcdef", f->dir);
    snprintf(fresh, sizeof(fresh), "%s/b9/.tmp-fedcba9876543210fedcba9876543210", f->dir);
    snprintf(other, sizeof(other), "%s/b9/README", f->dir);
    FILE *fp = fopen(stale, "w");
    fputs("12345", fp);
    fclose(fp);
    set_age(stale, 7200);
    fp = fopen(fresh, "w");
    fclose(fp);
    fp = fopen(other, "w");
    fclose(fp);

    struct keep_set k = {kept, 0};
    size_t n = 99, bytes = 99;
    assert_int_equal(sm_blob_gc(f->bs, keep_one, &k, &n, &bytes, &err), 0);
    assert_int_equal(k.n_calls, 3);
    assert_int_equal(n, 3);
    assert_int_equal(bytes, 3 + 4 + 5);
    assert_true(sm_blob_exists(f->bs, kept));
    assert_false(sm_blob_exists(f->bs, gone1));
    assert_false(sm_blob_exists(f->bs, gone2));
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(access(fresh, F_OK), 0);
    assert_int_equal(access(other, F_OK), 0);

    /* Nothing left to remove; the counters may be NULL. */
    assert_int_equal(sm_blob_gc(f->bs, keep_one, &k, NULL, NULL, &err), 0);
    assert_int_equal(sm_blob_gc(f->bs, keep_one, &k, &n, &bytes, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(bytes, 0);
}

static void test_blob__a_directory_under_a_regular_file_cannot_be_opened(void **state)
{
    struct fixture *f = *state;
    char file[400], dir[450];
    snprintf(file, sizeof(file), "%s/plain-file", f->root);
    FILE *fp = fopen(file, "w");
    fclose(fp);
    snprintf(dir, sizeof(dir), "%s/blobs", file);
    struct sm_err err = SM_ERR_INIT;
    assert_null(sm_blobs_open(dir, &err));
    assert_int_equal(err.code, SM_EIO);
    char msg[1024];
    snprintf(msg, sizeof(msg), "cannot create blob directory '%s': Not a directory", dir);
    assert_msg(&err, msg);
}

static void test_blob__a_put_that_cannot_write_fails_cleanly(void **state)
{
    struct fixture *f = *state;
    /* A regular file where the fan-out directory 'b9' should be: works as root too. */
    char path[400];
    snprintf(path, sizeof(path), "%s/b9", f->dir);
    FILE *fp = fopen(path, "w");
    fclose(fp);
    struct sm_err err = SM_ERR_INIT;
    char key[SM_SHA256_HEX_LEN + 1] = "";
    assert_int_equal(sm_blob_put(f->bs, "hello world", 11, key, &err), SM_EIO);
    char want[400];
    snprintf(want, sizeof(want), "cannot store blob 'b94d27b9934d…': cannot create '%s/b9/.tmp-",
             f->dir);
    assert_memory_equal(err.msg, want, strlen(want));
    assert_non_null(strstr(err.msg, "': Not a directory"));
    assert_false(sm_blob_exists(f->bs, HELLO_KEY));
    assert_string_equal(key, "");
}

static void test_blob__a_read_only_directory_is_an_io_error(void **state)
{
    struct fixture *f = *state;
    if (geteuid() == 0)
        skip(); /* root writes through permissions; the test above covers root */
    assert_int_equal(chmod(f->dir, 0555), 0);
    struct sm_err err = SM_ERR_INIT;
    char key[SM_SHA256_HEX_LEN + 1];
    assert_int_equal(sm_blob_put(f->bs, "hello world", 11, key, &err), SM_EIO);
    char msg[1024];
    snprintf(msg, sizeof(msg),
             "cannot store blob 'b94d27b9934d…': cannot create directory '%s/b9': Permission "
             "denied",
             f->dir);
    assert_msg(&err, msg);
    sm_err_clear(&err);
    assert_null(sm_blobs_open(f->dir, &err));
    snprintf(msg, sizeof(msg),
             "cannot write to blob directory '%s': Permission denied; fix its permissions or set "
             "SEMATIC_HOME to another directory",
             f->dir);
    assert_msg(&err, msg);
    chmod(f->dir, 0755);
}

static void test_blob__a_full_disk_is_no_space_and_leaves_nothing_partial(void **state)
{
    struct fixture *f = *state;
    char mnt[400];
    snprintf(mnt, sizeof(mnt), "%s/small", f->root);
    assert_int_equal(mkdir(mnt, 0755), 0);
    if (geteuid() != 0 || mount("tmpfs", mnt, "tmpfs", 0, "size=64k") != 0)
        skip(); /* needs root and CAP_SYS_ADMIN */
    char dir[450];
    snprintf(dir, sizeof(dir), "%s/blobs", mnt);
    struct sm_err err = SM_ERR_INIT;
    struct sm_blobs *bs = sm_blobs_open(dir, &err);
    if (!bs) {
        umount(mnt);
        fail_msg("sm_blobs_open: %s", err.msg);
    }
    size_t n = 256 * 1024;
    char *big = malloc(n);
    memset(big, 'x', n);
    char key[SM_SHA256_HEX_LEN + 1];
    int rc = sm_blob_put(bs, big, n, key, &err);
    uint8_t digest[SM_SHA256_LEN];
    char want_key[SM_SHA256_HEX_LEN + 1];
    sm_sha256(big, n, digest);
    sm_hex(digest, sizeof(digest), want_key);
    char msg[1024];
    snprintf(msg, sizeof(msg),
             "cannot store blob '%.12s…' in '%s': no space left on device; free space there or "
             "set SEMATIC_HOME to another directory",
             want_key, dir);
    /* Nothing partial: no temp file and no blob in any fan-out directory. */
    int leftovers = 0;
    DIR *top = opendir(dir);
    struct dirent *e;
    while (top && (e = readdir(top))) {
        if (e->d_name[0] == '.')
            continue;
        char sub[1024];
        snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
        DIR *d = opendir(sub);
        struct dirent *g;
        while (d && (g = readdir(d)))
            if (strcmp(g->d_name, ".") && strcmp(g->d_name, ".."))
                leftovers++;
        if (d)
            closedir(d);
    }
    if (top)
        closedir(top);
    /* The space is usable again: a small blob fits. */
    struct sm_err err2 = SM_ERR_INIT;
    int rc2 = sm_blob_put(bs, "small", 5, key, &err2);
    int rc3 = sm_blob_sync(bs, &err2);
    sm_blobs_close(bs);
    free(big);
    int unmounted = umount(mnt);
    assert_int_equal(rc, SM_ENOSPC);
    assert_int_equal(err.code, SM_ENOSPC);
    assert_msg(&err, msg);
    assert_int_equal(leftovers, 0);
    assert_int_equal(rc2, 0);
    assert_int_equal(rc3, 0);
    assert_int_equal(unmounted, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_blob__put_stores_the_bytes_under_their_sha256),
        T(test_blob__get_appends_the_checked_bytes),
        T(test_blob__empty_and_binary_blobs_round_trip),
        T(test_blob__putting_the_same_bytes_twice_stores_one_file),
        T(test_blob__missing_blobs_are_not_found),
        T(test_blob__keys_that_are_not_64_hex_digits_are_invalid),
        T(test_blob__a_blob_larger_than_the_buffer_cap_is_too_big),
        T(test_blob__a_damaged_blob_is_corrupt),
        T(test_blob__a_truncated_blob_is_corrupt),
        T(test_blob__sync_releases_every_pending_file),
        T(test_blob__put_syncs_by_itself_past_256_pending_files),
        T(test_blob__a_reopened_directory_serves_the_same_blobs),
        T(test_blob__gc_deletes_unkept_blobs_and_stale_temp_files),
        T(test_blob__a_directory_under_a_regular_file_cannot_be_opened),
        T(test_blob__a_put_that_cannot_write_fails_cleanly),
        T(test_blob__a_read_only_directory_is_an_io_error),
        T(test_blob__a_full_disk_is_no_space_and_leaves_nothing_partial),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
