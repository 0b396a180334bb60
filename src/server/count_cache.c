/*
 * count_cache.c: the runs listing's after_cursor_count, computed once per
 * change of the store (api.h, struct sm_count_cache).
 *
 * Sematic's GET /api/v1/runs answers how many rows match from the cursor
 * on, which costs the store a pass over every matching row: 17 ms for
 * 100,000 runs on the 2-core VM, against 0.2 ms for the page itself. The
 * count only changes when something commits, and a LocalRunner commits a
 * few dozen times a second however fast it runs, so the server keeps each
 * count with the change sequence it was read at (sm_store_change_seq) and
 * reuses it while the sequence is the same. One request at a time computes
 * a listing's count; the others asking for it meanwhile wait for it, or
 * take the previous one (below), rather than pay the pass themselves: 16
 * connections each counting 300,000 runs while a LocalRunner writes served
 * 13 requests a second, this serves over 1,100.
 *
 * Freshness: a request reads the sequence before it asks, and a count read
 * at that sequence or a later one answers it; so a client that wrote and
 * then lists sees its write counted. The one exception is made for load:
 * while another request is computing a newer count of the same listing, a
 * request is answered with the last finished one at once instead of
 * waiting, which may lag by the batches committed during one count (tens
 * of milliseconds). Sematic's own count, a second query after the page's,
 * races with writers the same way.
 *
 * Threads: every call may come from any thread; one mutex guards the slots.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "sematic/alloc.h"

#include "api.h"

#include "util/banned.h"

#define N_SLOTS 64
/* Keys longer than this are not cached (a filter of 10,000 ids, say). */
#define KEY_MAX_BYTES 8192

struct slot {
    uint64_t hash;
    char *key; /* owned; NULL when the slot is empty */
    bool has_count;
    int64_t seq; /* the sequence `count` was read at (or after) */
    int64_t count;
    bool is_computing; /* a request claimed the slot and computes the count at computing_seq */
    int64_t computing_seq;
    uint64_t last_used;
};

struct sm_count_cache {
    pthread_mutex_t mu;
    pthread_cond_t done; /* broadcast when a computation ends */
    struct slot slots[N_SLOTS];
    uint64_t tick;
};

struct sm_count_cache *sm__count_cache_new(void)
{
    struct sm_count_cache *c = sm_xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->done, &attr);
    pthread_condattr_destroy(&attr);
    return c;
}

void sm__count_cache_free(struct sm_count_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < N_SLOTS; i++)
        sm_free(c->slots[i].key);
    pthread_cond_destroy(&c->done);
    pthread_mutex_destroy(&c->mu);
    sm_free(c);
}

/* FNV-1a: the slots are few, so this only saves most string compares. */
static uint64_t hash_key(const char *key)
{
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

static struct slot *find(struct sm_count_cache *c, uint64_t hash, const char *key)
{
    for (size_t i = 0; i < N_SLOTS; i++) {
        struct slot *s = &c->slots[i];
        if (s->key != NULL && s->hash == hash && strcmp(s->key, key) == 0)
            return s;
    }
    return NULL;
}

/* The least recently used slot nobody is computing in, or NULL when all are busy. */
static struct slot *victim(struct sm_count_cache *c)
{
    struct slot *best = NULL;
    for (size_t i = 0; i < N_SLOTS; i++) {
        struct slot *s = &c->slots[i];
        if (s->is_computing)
            continue;
        if (s->key == NULL)
            return s;
        if (best == NULL || s->last_used < best->last_used)
            best = s;
    }
    return best;
}

enum sm_count_lookup sm__count_cache_get(struct sm_count_cache *c, const char *key, int64_t seq,
                                         int wait_ms, int64_t *count)
{
    if (c == NULL || seq < 0 || strlen(key) > KEY_MAX_BYTES)
        return SM_COUNT_MISS;
    uint64_t hash = hash_key(key);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += wait_ms / 1000;
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    enum sm_count_lookup out = SM_COUNT_MISS;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        struct slot *s = find(c, hash, key);
        if (s != NULL && s->has_count && s->seq >= seq) {
            s->last_used = ++c->tick;
            *count = s->count;
            out = SM_COUNT_HIT;
            break;
        }
        if (s != NULL && s->is_computing) {
            if (s->has_count) {
                /* A newer count is being computed: the last one is as fresh as can be had
                 * without waiting for it (see the file's comment). */
                s->last_used = ++c->tick;
                *count = s->count;
                out = SM_COUNT_HIT;
                break;
            }
            if (pthread_cond_timedwait(&c->done, &c->mu, &deadline) == ETIMEDOUT)
                break;
            continue;
        }
        if (s == NULL) {
            s = victim(c);
            if (s == NULL)
                break;
            size_t len = strlen(key) + 1;
            sm_free(s->key);
            s->key = sm_xmalloc(len);
            memcpy(s->key, key, len);
            s->hash = hash;
            s->has_count = false;
        }
        s->computing_seq = seq;
        s->is_computing = true;
        s->last_used = ++c->tick;
        out = SM_COUNT_CLAIMED;
        break;
    }
    pthread_mutex_unlock(&c->mu);
    return out;
}

void sm__count_cache_put(struct sm_count_cache *c, const char *key, int64_t seq, int64_t count)
{
    if (c == NULL)
        return;
    uint64_t hash = hash_key(key);
    pthread_mutex_lock(&c->mu);
    struct slot *s = find(c, hash, key);
    if (s != NULL && s->is_computing && s->computing_seq == seq) {
        s->is_computing = false;
        if (count >= 0) {
            s->count = count;
            s->seq = seq;
            s->has_count = true;
        }
    }
    pthread_cond_broadcast(&c->done);
    pthread_mutex_unlock(&c->mu);
}
