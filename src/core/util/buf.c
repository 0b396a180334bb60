/*
 * buf.c: the bounded growable buffer (curl's dynbuf, git's strbuf).
 *
 * Invariants, true between calls:
 * - len <= max_len, and len < alloc whenever data != NULL;
 * - data is NULL or data[len] == '\0' (the NUL is never counted in len);
 * - a request that would take len past max_len frees the memory and leaves
 *   the buffer as after sm_buf_init() with the same cap (empty, reusable).
 * Start with sm_buf_reserve(): every add goes through it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <assert.h>
#include <stdbool.h>

#include "sematic/alloc.h"
#include "sematic/buf.h"

#include "util/banned.h"

/* The first allocation; small strings fit without a second one. */
#define MIN_ALLOC 64

void sm_buf_init(struct sm_buf *b, size_t max_len)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->max_len = max_len;
}

void sm_buf_release(struct sm_buf *b)
{
    if (!b)
        return;
    sm_free(b->data);
    sm_buf_init(b, b->max_len);
}

void sm_buf_reset(struct sm_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

int sm_buf_reserve(struct sm_buf *b, size_t n)
{
    if (n > b->max_len - b->len) {
        sm_buf_release(b);
        return SM_ETOOBIG;
    }
    size_t need = b->len + n + 1;
    if (need == 0) { /* only with a cap of SIZE_MAX: no room for the NUL */
        sm_buf_release(b);
        return SM_ETOOBIG;
    }
    if (need <= b->alloc)
        return 0;
    size_t a = b->alloc ? b->alloc : MIN_ALLOC;
    while (a < need && a <= (size_t)-1 / 2)
        a *= 2;
    if (a < need)
        a = need;
    /* Never hold more than the cap can use. */
    if (b->max_len < (size_t)-1 && a > b->max_len + 1)
        a = b->max_len + 1;
    bool was_empty = b->data == NULL;
    b->data = sm_xrealloc(b->data, a);
    b->alloc = a;
    if (was_empty)
        b->data[0] = '\0';
    return 0;
}

int sm_buf_add(struct sm_buf *b, const void *data, size_t n)
{
    int rc = sm_buf_reserve(b, n);
    if (rc < 0)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int sm_buf_adds(struct sm_buf *b, const char *s)
{
    return sm_buf_add(b, s, strlen(s));
}

int sm_buf_addc(struct sm_buf *b, char c)
{
    return sm_buf_add(b, &c, 1);
}

int sm_buf_vaddf(struct sm_buf *b, const char *fmt, va_list ap)
{
    /* Try in the spare room first; most formats fit without growing. */
    size_t room = b->data ? b->alloc - b->len : 0;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        if (b->data)
            b->data[b->len] = '\0';
        return SM_EINVAL;
    }
    if ((size_t)n < room) {
        b->len += (size_t)n;
        return 0;
    }
    if (b->data)
        b->data[b->len] = '\0';
    int rc = sm_buf_reserve(b, (size_t)n);
    if (rc < 0)
        return rc;
    va_copy(ap2, ap);
    int m = vsnprintf(b->data + b->len, b->alloc - b->len, fmt, ap2);
    va_end(ap2);
    if (m != n) {
        /* Only a format whose output changes between two calls gets here. */
        b->data[b->len] = '\0';
        return SM_EINVAL;
    }
    b->len += (size_t)n;
    return 0;
}

int sm_buf_addf(struct sm_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sm_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void sm_buf_truncate(struct sm_buf *b, size_t n)
{
    assert(n <= b->len && "sm_buf_truncate() only shrinks");
    if (n > b->len)
        return;
    b->len = n;
    if (b->data)
        b->data[n] = '\0';
}

char *sm_buf_detach(struct sm_buf *b, size_t *len)
{
    char *p = b->data;
    size_t n = b->len;
    if (!p) {
        p = sm_xmalloc(1);
        p[0] = '\0';
        n = 0;
    }
    if (len)
        *len = n;
    sm_buf_init(b, b->max_len);
    return p;
}
