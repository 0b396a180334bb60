/*
 * hash.h: SHA-256 (OpenSSL libcrypto) and hex ids.
 *
 * Artifact ids are SHA-256 in lower-case hex (64 characters); run and edge
 * ids are 32 lower-case hex characters of randomness (like uuid4().hex).
 * Threads: a context is used by one thread at a time; the functions are
 * otherwise thread-safe.
 */
#ifndef SEMATIC_HASH_H
#define SEMATIC_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "sematic/err.h"

#define SM_SHA256_LEN 32
#define SM_SHA256_HEX_LEN 64
#define SM_ID_HEX_LEN 32

struct sm_sha256 {
    void *ctx; /* OpenSSL EVP_MD_CTX, owned */
};

/* Start a digest. Aborts on OOM (like sm_xmalloc). */
void sm_sha256_init(struct sm_sha256 *h);
void sm_sha256_update(struct sm_sha256 *h, const void *data, size_t len);
/* Finish into out and release the context (h is then as before init). */
void sm_sha256_final(struct sm_sha256 *h, uint8_t out[SM_SHA256_LEN]);
/* Release a context that will not be finished. Accepts an unused one. */
void sm_sha256_release(struct sm_sha256 *h);

/* One-shot digest of len bytes. */
void sm_sha256(const void *data, size_t len, uint8_t out[SM_SHA256_LEN]);

/* Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void sm_hex(const uint8_t *bytes, size_t n, char *out);

/* true when s is exactly len lower-case hex digits. */
int sm_is_hex(const char *s, size_t len);

/*
 * A fresh id: 32 lower-case hex characters + NUL in the UUIDv7 layout: a
 * 48-bit millisecond timestamp, then 74 random bits from getrandom(2), so
 * ids sort by creation time (indexes on them stay compact). The random bits
 * come from a per-thread pool refilled 4 KiB at a time, so the common case
 * makes no system call. Returns 0 or SM_EIO.
 */
int sm_random_id(char out[SM_ID_HEX_LEN + 1], struct sm_err *err);

#endif
