/*
 * alloc.c: sm_xmalloc() and friends over a replaceable allocator.
 *
 * Invariant: the four function pointers are either all the C library's or
 * all the caller's. Sizes of 0 are raised to 1, so a NULL result always
 * means out of memory and never "nothing was asked for".
 */
#include <stdio.h>
#include <stdlib.h>

#include "sematic/alloc.h"
#include "sematic/err.h"

#include "util/banned.h"

static struct {
    sm_malloc_fn malloc_fn;
    sm_realloc_fn realloc_fn;
    sm_calloc_fn calloc_fn;
    sm_free_fn free_fn;
} allocator = {malloc, realloc, calloc, free};

int sm_replace_allocator(sm_malloc_fn malloc_fn, sm_realloc_fn realloc_fn, sm_calloc_fn calloc_fn,
                         sm_free_fn free_fn)
{
    if (!malloc_fn && !realloc_fn && !calloc_fn && !free_fn) {
        allocator.malloc_fn = malloc;
        allocator.realloc_fn = realloc;
        allocator.calloc_fn = calloc;
        allocator.free_fn = free;
        return 0;
    }
    if (!malloc_fn || !realloc_fn || !calloc_fn || !free_fn)
        return SM_EINVAL;
    allocator.malloc_fn = malloc_fn;
    allocator.realloc_fn = realloc_fn;
    allocator.calloc_fn = calloc_fn;
    allocator.free_fn = free_fn;
    return 0;
}

/* Out of memory is fatal (STYLE 17): say how much was asked for, then abort. */
static void oom(size_t size)
{
    fprintf(stderr, "sematic: out of memory allocating %zu bytes\n", size);
    fflush(stderr);
    abort();
}

void *sm_xmalloc(size_t size)
{
    if (size == 0)
        size = 1;
    void *p = allocator.malloc_fn(size);
    if (!p)
        oom(size);
    return p;
}

void *sm_xcalloc(size_t count, size_t size)
{
    if (count == 0 || size == 0)
        count = size = 1;
    if (count > (size_t)-1 / size)
        oom((size_t)-1);
    void *p = allocator.calloc_fn(count, size);
    if (!p)
        oom(count * size);
    return p;
}

void *sm_xrealloc(void *ptr, size_t size)
{
    if (size == 0)
        size = 1;
    void *p = allocator.realloc_fn(ptr, size);
    if (!p)
        oom(size);
    return p;
}

void sm_free(void *ptr)
{
    if (ptr)
        allocator.free_fn(ptr);
}
