/*
 * blob.h: content-addressed bytes in a local directory.
 *
 * A blob's key is the SHA-256 of its bytes in hex (64 characters); it lives
 * at <dir>/<key[0:2]>/<key[2:]>. A blob becomes visible only complete: it is
 * written to a temporary file in the target directory and renamed into
 * place (git's object-file.c). Writing a key that exists already is a
 * success once the existing file's size matches.
 *
 * Durability is grouped (DESIGN principle 3): sm_blob_put() does not fsync;
 * sm_blob_sync() fsyncs every file written since the last sync, then their
 * directories, and must be called before the metadata transaction that
 * refers to them commits. Reading hashes the bytes and reports a mismatch
 * as SM_ECORRUPT, so a truncated or damaged blob is never returned.
 *
 * Threads: a struct sm_blobs is used by one thread at a time; several
 * processes may share one directory (renames are atomic).
 */
#ifndef SEMATIC_BLOB_H
#define SEMATIC_BLOB_H

#include <stdbool.h>
#include <stddef.h>

#include "sematic/buf.h"
#include "sematic/err.h"
#include "sematic/hash.h"

struct sm_blobs;

/*
 * Open (creating it and its parents when missing) the blob directory dir.
 * Returns an owned handle (free with sm_blobs_close()) or NULL with err set:
 * SM_EIO (cannot create or write the directory), SM_ENOSPC.
 */
struct sm_blobs *sm_blobs_open(const char *dir, struct sm_err *err);

/* Close the handle; pending (unsynced) files are synced first, errors ignored. Accepts NULL. */
void sm_blobs_close(struct sm_blobs *bs);

/* The directory, borrowed for the life of bs. */
const char *sm_blobs_dir(const struct sm_blobs *bs);

/*
 * Store len bytes; their key (hex SHA-256) is written to key_out.
 * Returns 0, SM_ENOSPC (message names the directory and says to free space
 * or set SEMATIC_HOME) or SM_EIO. On failure nothing partial is visible.
 */
int sm_blob_put(struct sm_blobs *bs, const void *data, size_t len,
                char key_out[SM_SHA256_HEX_LEN + 1], struct sm_err *err);

/* fsync the files written since the last sync, then their directories. Returns 0, SM_EIO, SM_ENOSPC. */
int sm_blob_sync(struct sm_blobs *bs, struct sm_err *err);

/*
 * Read blob `key` into out (appended), checking its hash.
 * Returns 0, SM_ENOTFOUND, SM_ECORRUPT (the bytes do not hash to key: the
 * message names the file and says to restore or delete it), SM_ETOOBIG
 * (larger than out's cap), SM_EIO, or SM_EINVAL (key is not 64 hex digits).
 */
int sm_blob_get(struct sm_blobs *bs, const char *key, struct sm_buf *out, struct sm_err *err);

/* true when blob key exists (no hash check). */
bool sm_blob_exists(struct sm_blobs *bs, const char *key);

/* Called by sm_blob_gc() for each blob; return true to keep it. */
typedef bool (*sm_blob_keep_fn)(void *ctx, const char *key);

/*
 * Delete every blob for which keep() returns false, and leftover temporary
 * files older than an hour. Counts and bytes removed go to *n_removed and
 * *bytes_removed (may be NULL). Returns 0 or SM_EIO.
 */
int sm_blob_gc(struct sm_blobs *bs, sm_blob_keep_fn keep, void *ctx, size_t *n_removed,
               size_t *bytes_removed, struct sm_err *err);

#endif
