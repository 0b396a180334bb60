/*
 * err.h: error codes and the first-error-wins message buffer of libsematic.
 *
 * Action functions return 0 on success or a negative SM_E* code; the detail
 * travels in a caller-supplied struct sm_err whose first message wins, so the
 * root cause survives the unwinding (curl's Curl_failf, git's error()).
 * The code table below is the single source for sm_strerror(), sm_err_name()
 * and the Python exception mapping in python/ext.
 */
#ifndef SEMATIC_ERR_H
#define SEMATIC_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* X(name, value, text): every error code libsematic can return. */
#define SM_ERRNO_MAP(X)                                                                            \
    X(EINVAL, -1, "invalid argument")                                                              \
    X(ENOMEM, -2, "out of memory")                                                                 \
    X(ETOOBIG, -3, "value too big")                                                                \
    X(ENOTFOUND, -4, "not found")                                                                  \
    X(EINVALID_TRANSITION, -5, "invalid run state transition")                                     \
    X(ESTATE, -6, "operation not allowed in the current state")                                    \
    X(EDEADLOCK, -7, "graph cannot make progress")                                                 \
    X(EIO, -8, "input/output error")                                                               \
    X(ECALLBACK, -9, "callback failed")                                                            \
    X(ECORRUPT, -10, "stored data is corrupted")                                                   \
    X(ENOSPC, -11, "no space left on device")                                                      \
    X(EBUSY, -12, "resource busy")

enum sm_errno {
#define SM__ERR_ENUM(name, value, text) SM_##name = value,
    SM_ERRNO_MAP(SM__ERR_ENUM)
#undef SM__ERR_ENUM
};

/* Detail of a failure. msg is empty until the first sm_errf(). */
struct sm_err {
    int code;
    char msg[256];
};

/* clang-format off */
#define SM_ERR_INIT {0, {0}}
/* clang-format on */

/* Stable text of a code ("invalid run state transition"); "unknown error" otherwise. */
const char *sm_strerror(int code);

/* Stable name of a code ("SM_EINVALID_TRANSITION"); "SM_EUNKNOWN" otherwise. */
const char *sm_err_name(int code);

/*
 * Record a failure in err (which may be NULL) and return code.
 * The first call on an err wins: later calls leave code and message alone,
 * so the innermost cause is the one reported.
 */
int sm_errf(struct sm_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Forget a recorded failure so err can be reused. */
void sm_err_clear(struct sm_err *err);

#endif
