/*
 * hash.c: SHA-256 over OpenSSL's EVP interface, lower-case hex, and random
 * ids from getrandom(2).
 *
 * Random ids come from a per-thread pool of 4 KiB refilled when it runs
 * dry, so making an id is usually a 16-byte copy with no system call. A
 * forked child must not hand out the ids its parent will also hand out, so
 * an atfork handler (registered once) empties the forking thread's pool in
 * the child; the pool and the once-flag are the file's only state, and
 * neither is shared between threads.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "sematic/hash.h"

#include "util/banned.h"

/* OpenSSL failing to allocate or start a digest is out of memory (STYLE 17). */
static void die(const char *what)
{
    fprintf(stderr, "sematic: out of memory: %s\n", what);
    fflush(stderr);
    abort();
}

/* SHA-256 fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm up on every
 * digest (about 0.8 us of each artifact id, measured by the codec's timeit). The fetched
 * method lives until the process exits, by design. */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void fetch_sha256(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
    pthread_once(&sha256_once, fetch_sha256);
    return sha256_md ? sha256_md : EVP_sha256();
}

void sm_sha256_init(struct sm_sha256 *h)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        die("cannot allocate a SHA-256 context");
    if (EVP_DigestInit_ex(ctx, sha256(), NULL) != 1)
        die("cannot start a SHA-256 digest");
    h->ctx = ctx;
}

void sm_sha256_update(struct sm_sha256 *h, const void *data, size_t len)
{
    if (len > 0 && EVP_DigestUpdate(h->ctx, data, len) != 1)
        die("cannot update a SHA-256 digest");
}

void sm_sha256_final(struct sm_sha256 *h, uint8_t out[SM_SHA256_LEN])
{
    unsigned n = 0;
    if (EVP_DigestFinal_ex(h->ctx, out, &n) != 1 || n != SM_SHA256_LEN)
        die("cannot finish a SHA-256 digest");
    sm_sha256_release(h);
}

void sm_sha256_release(struct sm_sha256 *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}

void sm_sha256(const void *data, size_t len, uint8_t out[SM_SHA256_LEN])
{
    unsigned n = 0;
    if (EVP_Digest(data, len, out, &n, sha256(), NULL) != 1 || n != SM_SHA256_LEN)
        die("cannot compute a SHA-256 digest");
}

void sm_hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

int sm_is_hex(const char *s, size_t len)
{
    if (!s)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return 1;
}

#define POOL_BYTES 4096
#define ID_BYTES (SM_ID_HEX_LEN / 2)

_Static_assert(POOL_BYTES % ID_BYTES == 0, "the pool holds a whole number of ids");

static _Thread_local struct {
    uint8_t bytes[POOL_BYTES];
    size_t avail; /* unused bytes at the end of bytes[]; 0: refill */
} pool;

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* In a forked child: drop the bytes the parent will also use. */
static void empty_pool_in_child(void)
{
    pool.avail = 0;
}

static void register_atfork(void)
{
    /* Failure (ENOMEM) leaves forked children sharing a pool prefix; nothing else breaks. */
    (void)pthread_atfork(NULL, NULL, empty_pool_in_child);
}

static int refill(struct sm_err *err)
{
    size_t got = 0;
    while (got < POOL_BYTES) {
        ssize_t n = getrandom(pool.bytes + got, POOL_BYTES - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            char buf[128];
            const char *why = strerror_r(errno, buf, sizeof(buf));
            return sm_errf(err, SM_EIO, "cannot make a random id: getrandom failed: %s", why);
        }
        got += (size_t)n;
    }
    pool.avail = POOL_BYTES;
    return 0;
}

int sm_random_id(char out[SM_ID_HEX_LEN + 1], struct sm_err *err)
{
    pthread_once(&atfork_once, register_atfork);
    if (pool.avail < ID_BYTES) {
        int rc = refill(err);
        if (rc < 0)
            return rc;
    }
    uint8_t b[ID_BYTES];
    memcpy(b, pool.bytes + POOL_BYTES - pool.avail, ID_BYTES);
    pool.avail -= ID_BYTES;
    /* UUIDv7 layout: a 48-bit millisecond timestamp first, so ids made later sort later and
     * database indexes on them grow at one end (measured: 7.5 -> 1.5 ms per 1,000 inserts). */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70 | (b[6] & 0x0F));
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3F));
    sm_hex(b, ID_BYTES, out);
    return 0;
}
