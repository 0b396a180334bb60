/*
 * buf.h: a growable byte buffer with a hard cap (curl's dynbuf, git's strbuf).
 *
 *     struct sm_buf b = SM_BUF_INIT(1 << 20);
 *     sm_buf_add(&b, "abc", 3);
 *     ... b.data is NUL-terminated, b.len bytes long ...
 *     sm_buf_release(&b);
 *
 * Growing past the cap fails with SM_ETOOBIG and leaves the buffer empty and
 * reusable. data is always NUL-terminated after a successful add (the NUL is
 * not counted in len). Aborts on out-of-memory (sm_xrealloc).
 * Threads: a buffer is used by one thread at a time.
 */
#ifndef SEMATIC_BUF_H
#define SEMATIC_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "sematic/err.h"

struct sm_buf {
    char *data;     /* NULL until the first add; owned by the buffer */
    size_t len;     /* bytes used, not counting the trailing NUL */
    size_t alloc;   /* bytes allocated */
    size_t max_len; /* cap on len */
};

/* clang-format off */
#define SM_BUF_INIT(cap) {NULL, 0, 0, (cap)}
/* clang-format on */

/* Initialise b (caller's memory) with a cap of max_len bytes. */
void sm_buf_init(struct sm_buf *b, size_t max_len);

/* Free the contents; b is then as after sm_buf_init() with the same cap. Accepts NULL. */
void sm_buf_release(struct sm_buf *b);

/* Forget the contents but keep the memory, for reuse. */
void sm_buf_reset(struct sm_buf *b);

/* Make room for n more bytes. Returns 0 or SM_ETOOBIG (buffer emptied). */
int sm_buf_reserve(struct sm_buf *b, size_t n);

/* Append n bytes. Returns 0 or SM_ETOOBIG (buffer emptied). */
int sm_buf_add(struct sm_buf *b, const void *data, size_t n);

/* Append a NUL-terminated string. Returns 0 or SM_ETOOBIG (buffer emptied). */
int sm_buf_adds(struct sm_buf *b, const char *s);

/* Append one byte. Returns 0 or SM_ETOOBIG (buffer emptied). */
int sm_buf_addc(struct sm_buf *b, char c);

/* Append printf-formatted text. Returns 0, SM_ETOOBIG (buffer emptied) or SM_EINVAL. */
int sm_buf_addf(struct sm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sm_buf_vaddf(struct sm_buf *b, const char *fmt, va_list ap);

/* Shrink to n bytes (n <= len). */
void sm_buf_truncate(struct sm_buf *b, size_t n);

/* Hand the contents to the caller (free with sm_free(); never NULL, "" when empty); b is reset. */
char *sm_buf_detach(struct sm_buf *b, size_t *len);

#endif
