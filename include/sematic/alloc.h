/*
 * alloc.h: the allocator of libsematic.
 *
 * Every allocation in libsematic goes through sm_xmalloc() and friends.
 * Running out of memory is not a user error in a long-running driver or
 * server, so these never return NULL: they print one line to stderr and
 * abort() (STYLE 17; Redis zmalloc_default_oom). The functions underneath
 * are replaceable, so tests can count allocations or fail the Nth one
 * (libuv uv_replace_allocator).
 *
 * Threads: the allocator functions may be called from any thread;
 * sm_replace_allocator() must be called before any other libsematic call
 * or when no libsematic object is alive, since memory must be freed by the
 * allocator that allocated it.
 */
#ifndef SEMATIC_ALLOC_H
#define SEMATIC_ALLOC_H

#include <stddef.h>

typedef void *(*sm_malloc_fn)(size_t size);
typedef void *(*sm_realloc_fn)(void *ptr, size_t size);
typedef void *(*sm_calloc_fn)(size_t count, size_t size);
typedef void (*sm_free_fn)(void *ptr);

/*
 * Replace the functions underneath sm_xmalloc(), sm_xrealloc(), sm_xcalloc()
 * and sm_free(). They must behave as the C library's (malloc(0) may return
 * NULL or a unique pointer). Pass all four NULL to restore the C library's.
 * Returns 0, or SM_EINVAL when some but not all are NULL (nothing changes).
 * The allocator is process-wide: the one exception to STYLE 31, as in libuv.
 */
int sm_replace_allocator(sm_malloc_fn malloc_fn, sm_realloc_fn realloc_fn, sm_calloc_fn calloc_fn,
                         sm_free_fn free_fn);

/* size bytes (at least 1), uninitialised. Caller owns; free with sm_free(). Aborts on OOM. */
void *sm_xmalloc(size_t size) __attribute__((warn_unused_result));

/* count * size zeroed bytes (at least 1); aborts on OOM and on overflow of count * size. */
void *sm_xcalloc(size_t count, size_t size) __attribute__((warn_unused_result));

/*
 * Resize ptr (may be NULL) to size bytes (at least 1); the contents up to the
 * smaller size are kept. Returns the new block, which the caller owns; ptr is
 * no longer valid. Aborts on OOM.
 */
void *sm_xrealloc(void *ptr, size_t size) __attribute__((warn_unused_result));

/* Free a block from sm_xmalloc/sm_xcalloc/sm_xrealloc. Accepts NULL. */
void sm_free(void *ptr);

#endif
