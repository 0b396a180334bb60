/*
 * blob.c: content-addressed files under one directory, <dir>/<ab>/<cdef…>,
 * where abcdef… is the hex SHA-256 of the bytes (git's object store).
 *
 * Invariants:
 * - a file at a key's path is complete: it is written to <dir>/<ab>/.tmp-<id>
 *   (O_EXCL, so concurrent writers never share a temp file) and renamed into
 *   place; every failure path unlinks the temp file;
 * - pending[] holds an open descriptor for every file written (or found
 *   already there) since the last sm_blob_sync(), and dirty[] the fan-out
 *   directories whose entries changed, so a sync is "fsync each file, then
 *   each directory, then the top directory if a fan-out one was created";
 * - all paths are relative to dir_fd, so the directory name's length never
 *   matters and a renamed parent cannot redirect writes.
 * Start at sm_blob_put(); sm_blob_sync() is the durability point.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sematic/alloc.h"
#include "sematic/blob.h"

#include "util/banned.h"

/* Past this many pending files sm_blob_put() syncs by itself, to bound open descriptors. */
#define MAX_PENDING 256
/* Temporary files older than this are leftovers of a killed writer. */
#define TMP_MAX_AGE_S 3600
/* "ab/" + 62 hex digits + NUL. */
#define REL_LEN (3 + SM_SHA256_HEX_LEN - 2 + 1)
/* "ab/.tmp-" + 32 hex digits + NUL. */
#define TMP_REL_LEN (8 + SM_ID_HEX_LEN + 1)

struct sm_blobs {
    char *dir; /* as given to sm_blobs_open(), for messages */
    int dir_fd;
    int *pending;
    size_t n_pending, pending_cap;
    unsigned char dirty[256 / 8]; /* fan-out directories to fsync, by first byte of key */
    bool top_dirty;               /* a fan-out directory was created */
};

static const char *errno_text(int e, char *buf, size_t n)
{
    return strerror_r(e, buf, n);
}

static bool is_nospace(int e)
{
    return e == ENOSPC || e == EDQUOT;
}

static const char *nospace_text(int e)
{
    return e == EDQUOT ? "disk quota exceeded" : "no space left on device";
}

/* A failed step of storing key: SM_ENOSPC with the advice, or SM_EIO naming the path. */
static int put_fail(struct sm_blobs *bs, struct sm_err *err, const char *key, const char *verb,
                    const char *rel, int e)
{
    if (is_nospace(e))
        return sm_errf(err, SM_ENOSPC,
                       "cannot store blob '%.12s…' in '%s': %s; free space there or set "
                       "SEMATIC_HOME to another directory",
                       key, bs->dir, nospace_text(e));
    char buf[128];
    return sm_errf(err, SM_EIO, "cannot store blob '%.12s…': cannot %s '%s/%s': %s", key, verb,
                   bs->dir, rel, errno_text(e, buf, sizeof(buf)));
}

static bool valid_key(const char *key)
{
    return key && strnlen(key, SM_SHA256_HEX_LEN + 1) == SM_SHA256_HEX_LEN &&
           sm_is_hex(key, SM_SHA256_HEX_LEN);
}

static void rel_path(const char *key, char rel[REL_LEN])
{
    snprintf(rel, REL_LEN, "%.2s/%s", key, key + 2);
}

static unsigned fanout_index(const char *key)
{
    unsigned v = 0;
    for (int i = 0; i < 2; i++) {
        char c = key[i];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    return v;
}

/* fsync an open directory relative to dir_fd ("." for the top). Returns 0 or an errno. */
static int sync_dir(int dir_fd, const char *rel)
{
    int fd = openat(dir_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int e = fsync(fd) < 0 ? errno : 0;
    close(fd);
    return e;
}

/*
 * mkdir -p path. The parent of every directory created is fsynced, so the
 * new directory survives a power loss. Returns 0 or sets err.
 */
static int make_dirs(const char *path, struct sm_err *err)
{
    size_t n = strlen(path);
    char *p = sm_xmalloc(n + 1);
    memcpy(p, path, n + 1);
    int rc = 0;
    char buf[128];
    for (size_t i = 1; i <= n && rc == 0; i++) {
        if (i < n && p[i] != '/')
            continue;
        char saved = p[i];
        p[i] = '\0';
        if (mkdir(p, 0777) == 0) {
            /* The entry lives in the parent: make it durable there. */
            char *slash = strrchr(p, '/');
            const char *parent = slash == p ? "/" : slash ? p : ".";
            if (slash && slash != p)
                *slash = '\0';
            int e = sync_dir(AT_FDCWD, parent);
            if (slash && slash != p)
                *slash = '/';
            if (e != 0 && e != EINVAL)
                rc = sm_errf(err, is_nospace(e) ? SM_ENOSPC : SM_EIO,
                             "cannot create blob directory '%s': cannot sync its parent: %s", path,
                             errno_text(e, buf, sizeof(buf)));
        } else if (errno != EEXIST) {
            int e = errno;
            rc = is_nospace(e)
                     ? sm_errf(err, SM_ENOSPC,
                               "cannot create blob directory '%s': %s; free space there or set "
                               "SEMATIC_HOME to another directory",
                               path, nospace_text(e))
                     : sm_errf(err, SM_EIO, "cannot create blob directory '%s': %s", path,
                               errno_text(e, buf, sizeof(buf)));
        }
        p[i] = saved;
    }
    sm_free(p);
    return rc;
}

struct sm_blobs *sm_blobs_open(const char *dir, struct sm_err *err)
{
    char buf[128];
    if (!dir || !dir[0]) {
        sm_errf(err, SM_EIO, "cannot open blob directory '': the path is empty");
        return NULL;
    }
    if (make_dirs(dir, err) < 0)
        return NULL;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        sm_errf(err, SM_EIO, "cannot open blob directory '%s': %s", dir,
                errno_text(errno, buf, sizeof(buf)));
        return NULL;
    }
    if (faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
        sm_errf(err, SM_EIO,
                "cannot write to blob directory '%s': %s; fix its permissions or set "
                "SEMATIC_HOME to another directory",
                dir, errno_text(errno, buf, sizeof(buf)));
        close(fd);
        return NULL;
    }
    struct sm_blobs *bs = sm_xcalloc(1, sizeof(*bs));
    size_t n = strlen(dir);
    bs->dir = sm_xmalloc(n + 1);
    memcpy(bs->dir, dir, n + 1);
    bs->dir_fd = fd;
    return bs;
}

void sm_blobs_close(struct sm_blobs *bs)
{
    if (!bs)
        return;
    sm_blob_sync(bs, NULL);
    close(bs->dir_fd);
    sm_free(bs->pending);
    sm_free(bs->dir);
    sm_free(bs);
}

const char *sm_blobs_dir(const struct sm_blobs *bs)
{
    return bs->dir;
}

static void add_pending(struct sm_blobs *bs, int fd, const char *key)
{
    if (bs->n_pending == bs->pending_cap) {
        bs->pending_cap = bs->pending_cap ? bs->pending_cap * 2 : 16;
        bs->pending = sm_xrealloc(bs->pending, bs->pending_cap * sizeof(*bs->pending));
    }
    bs->pending[bs->n_pending++] = fd;
    unsigned i = fanout_index(key);
    bs->dirty[i / 8] |= (unsigned char)(1u << (i % 8));
}

/* Write all n bytes, through short writes and signals. Returns 0 or an errno. */
static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (w == 0)
            return EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int sm_blob_put(struct sm_blobs *bs, const void *data, size_t len,
                char key_out[SM_SHA256_HEX_LEN + 1], struct sm_err *err)
{
    uint8_t digest[SM_SHA256_LEN];
    sm_sha256(data, len, digest);
    char key[SM_SHA256_HEX_LEN + 1];
    sm_hex(digest, sizeof(digest), key);
    char rel[REL_LEN];
    rel_path(key, rel);

    /*
     * Already there with the right size: another put (maybe another
     * process's) wrote it. It joins the pending files anyway, because its
     * writer may not have synced it yet. A wrong size is a damaged file,
     * which the rename below replaces.
     */
    struct stat st;
    if (fstatat(bs->dir_fd, rel, &st, 0) == 0 && S_ISREG(st.st_mode) &&
        (unsigned long long)st.st_size == (unsigned long long)len) {
        int fd = openat(bs->dir_fd, rel, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            add_pending(bs, fd, key);
            goto done;
        }
    }

    char fanout[3] = {key[0], key[1], '\0'};
    if (mkdirat(bs->dir_fd, fanout, 0777) == 0)
        bs->top_dirty = true;
    else if (errno != EEXIST)
        return put_fail(bs, err, key, "create directory", fanout, errno);

    char id[SM_ID_HEX_LEN + 1];
    int rc = sm_random_id(id, err);
    if (rc < 0)
        return rc;
    char tmp[TMP_REL_LEN];
    snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", fanout, id);
    int fd = openat(bs->dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0)
        return put_fail(bs, err, key, "create", tmp, errno);
    int e = write_all(fd, data, len);
    if (e != 0) {
        rc = put_fail(bs, err, key, "write", tmp, e);
        goto fail_tmp;
    }
    if (renameat(bs->dir_fd, tmp, bs->dir_fd, rel) < 0) {
        rc = put_fail(bs, err, key, "rename into place", tmp, errno);
        goto fail_tmp;
    }
    add_pending(bs, fd, key);

done:
    memcpy(key_out, key, sizeof(key));
    if (bs->n_pending > MAX_PENDING)
        return sm_blob_sync(bs, err);
    return 0;

fail_tmp:
    close(fd);
    unlinkat(bs->dir_fd, tmp, 0);
    return rc;
}

int sm_blob_sync(struct sm_blobs *bs, struct sm_err *err)
{
    int first = 0;         /* first errno */
    const char *what = ""; /* what it failed on */
    for (size_t i = 0; i < bs->n_pending; i++) {
        if (fsync(bs->pending[i]) < 0 && !first) {
            first = errno;
            what = "a blob file";
        }
        close(bs->pending[i]);
    }
    /*
     * The descriptors are closed even after a failure: after a failed
     * fsync the kernel may have dropped the dirty pages, so a retry could
     * report success for data that is gone (PostgreSQL's fsync lesson).
     * The caller must not commit what refers to this batch.
     */
    bs->n_pending = 0;
    for (unsigned i = 0; i < 256; i++) {
        if (!(bs->dirty[i / 8] & (1u << (i % 8))))
            continue;
        char fanout[3];
        snprintf(fanout, sizeof(fanout), "%02x", i);
        int e = sync_dir(bs->dir_fd, fanout);
        if (e && !first) {
            first = e;
            what = "a fan-out directory";
        }
    }
    memset(bs->dirty, 0, sizeof(bs->dirty));
    if (bs->top_dirty) {
        if (fsync(bs->dir_fd) < 0 && !first) {
            first = errno;
            what = "the directory";
        }
        bs->top_dirty = false;
    }
    if (!first)
        return 0;
    if (is_nospace(first))
        return sm_errf(err, SM_ENOSPC,
                       "cannot sync blobs in '%s': %s; free space there or set SEMATIC_HOME to "
                       "another directory",
                       bs->dir, nospace_text(first));
    char buf[128];
    return sm_errf(err, SM_EIO, "cannot sync blobs in '%s': fsync of %s failed: %s", bs->dir, what,
                   errno_text(first, buf, sizeof(buf)));
}

int sm_blob_get(struct sm_blobs *bs, const char *key, struct sm_buf *out, struct sm_err *err)
{
    char buf[128];
    if (!valid_key(key))
        return sm_errf(err, SM_EINVAL,
                       "invalid blob key '%.70s': expected 64 lower-case hex digits",
                       key ? key : "(null)");
    char rel[REL_LEN];
    rel_path(key, rel);
    int fd = openat(bs->dir_fd, rel, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return sm_errf(err, SM_ENOTFOUND, "blob '%.12s…' not found in '%s'", key, bs->dir);
        return sm_errf(err, SM_EIO, "cannot read blob '%s/%s': %s", bs->dir, rel,
                       errno_text(errno, buf, sizeof(buf)));
    }
    int rc;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = sm_errf(err, SM_EIO, "cannot read blob '%s/%s': %s", bs->dir, rel,
                     errno_text(errno, buf, sizeof(buf)));
        goto fail_fd;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = sm_errf(err, SM_ECORRUPT,
                     "blob '%s/%s' is corrupted: it is not a regular file; delete it and rerun "
                     "the pipeline that produced it",
                     bs->dir, rel);
        goto fail_fd;
    }
    size_t size = (size_t)st.st_size;
    if ((unsigned long long)st.st_size > out->max_len - out->len) {
        rc = sm_errf(err, SM_ETOOBIG,
                     "blob '%.12s…' is %llu bytes, more than the %zu bytes left under the "
                     "buffer's cap",
                     key, (unsigned long long)st.st_size, out->max_len - out->len);
        sm_buf_release(out);
        goto fail_fd;
    }
    rc = sm_buf_reserve(out, size);
    if (rc < 0)
        goto fail_fd;
    size_t got = 0;
    char *dst = out->data + out->len;
    while (got < size) {
        ssize_t r = read(fd, dst + got, size - got);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = sm_errf(err, SM_EIO, "cannot read blob '%s/%s': %s", bs->dir, rel,
                         errno_text(errno, buf, sizeof(buf)));
            out->data[out->len] = '\0';
            goto fail_fd;
        }
        if (r == 0)
            break; /* shorter than fstat said: the hash check below refuses it */
        got += (size_t)r;
    }
    close(fd);
    uint8_t digest[SM_SHA256_LEN];
    sm_sha256(dst, got, digest);
    char actual[SM_SHA256_HEX_LEN + 1];
    sm_hex(digest, sizeof(digest), actual);
    if (memcmp(actual, key, SM_SHA256_HEX_LEN) != 0) {
        out->data[out->len] = '\0';
        return sm_errf(err, SM_ECORRUPT,
                       "blob '%s/%s' is corrupted: its content hashes to %.12s…; restore it from "
                       "a backup or delete it and rerun the pipeline that produced it",
                       bs->dir, rel, actual);
    }
    out->len += got;
    out->data[out->len] = '\0';
    return 0;

fail_fd:
    close(fd);
    return rc;
}

bool sm_blob_exists(struct sm_blobs *bs, const char *key)
{
    if (!valid_key(key))
        return false;
    char rel[REL_LEN];
    rel_path(key, rel);
    struct stat st;
    return fstatat(bs->dir_fd, rel, &st, 0) == 0 && S_ISREG(st.st_mode);
}

static bool is_hex_name(const char *name, size_t n)
{
    return strlen(name) == n && sm_is_hex(name, n);
}

/* Remove name in dir_fd, counting it. ENOENT (a concurrent gc) is not an error. */
static int remove_file(int dir_fd, const char *name, off_t size, size_t *n_removed,
                       size_t *bytes_removed)
{
    if (unlinkat(dir_fd, name, 0) < 0)
        return errno == ENOENT ? 0 : errno;
    (*n_removed)++;
    *bytes_removed += (size_t)size;
    return 0;
}

int sm_blob_gc(struct sm_blobs *bs, sm_blob_keep_fn keep, void *ctx, size_t *n_removed,
               size_t *bytes_removed, struct sm_err *err)
{
    char buf[128];
    size_t n = 0, bytes = 0;
    int rc = 0;
    time_t now = time(NULL);
    int top_fd = openat(bs->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *top = top_fd >= 0 ? fdopendir(top_fd) : NULL;
    if (!top) {
        rc = sm_errf(err, SM_EIO, "cannot collect blobs in '%s': %s", bs->dir,
                     errno_text(errno, buf, sizeof(buf)));
        if (top_fd >= 0)
            close(top_fd);
        goto out;
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(top);
        if (!de) {
            if (errno)
                rc = sm_errf(err, SM_EIO, "cannot list blob directory '%s': %s", bs->dir,
                             errno_text(errno, buf, sizeof(buf)));
            break;
        }
        if (!is_hex_name(de->d_name, 2))
            continue;
        char fanout[3];
        memcpy(fanout, de->d_name, 3);
        int sub_fd = openat(bs->dir_fd, fanout, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub_fd < 0) {
            if (errno == ENOTDIR || errno == ELOOP || errno == ENOENT)
                continue; /* not ours */
            rc = sm_errf(err, SM_EIO, "cannot collect blobs in '%s/%s': %s", bs->dir, fanout,
                         errno_text(errno, buf, sizeof(buf)));
            break;
        }
        DIR *sub = fdopendir(sub_fd);
        if (!sub) {
            rc = sm_errf(err, SM_EIO, "cannot collect blobs in '%s/%s': %s", bs->dir, fanout,
                         errno_text(errno, buf, sizeof(buf)));
            close(sub_fd);
            break;
        }
        for (;;) {
            errno = 0;
            struct dirent *e = readdir(sub);
            if (!e) {
                if (errno)
                    rc = sm_errf(err, SM_EIO, "cannot list blob directory '%s/%s': %s", bs->dir,
                                 fanout, errno_text(errno, buf, sizeof(buf)));
                break;
            }
            const char *name = e->d_name;
            bool is_tmp = strncmp(name, ".tmp-", 5) == 0;
            bool is_blob = is_hex_name(name, SM_SHA256_HEX_LEN - 2);
            if (!is_tmp && !is_blob)
                continue;
            struct stat st;
            if (fstatat(sub_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                continue;
            if (is_tmp) {
                if (now - st.st_mtime <= TMP_MAX_AGE_S)
                    continue; /* maybe a live writer's */
            } else {
                char key[SM_SHA256_HEX_LEN + 1];
                snprintf(key, sizeof(key), "%s%s", fanout, name);
                if (keep(ctx, key))
                    continue;
            }
            int eno = remove_file(sub_fd, name, st.st_size, &n, &bytes);
            if (eno) {
                rc = sm_errf(err, SM_EIO, "cannot delete '%s/%s/%s': %s", bs->dir, fanout, name,
                             errno_text(eno, buf, sizeof(buf)));
                break;
            }
        }
        closedir(sub);
        if (rc < 0)
            break;
    }
    closedir(top);
out:
    if (n_removed)
        *n_removed = n;
    if (bytes_removed)
        *bytes_removed = bytes;
    return rc;
}
