/*
 * err.c: error names and texts from SM_ERRNO_MAP, and the first-error-wins
 * message buffer (curl Curl_failf, git error()).
 *
 * Invariant: an err with code != 0 is never written again until
 * sm_err_clear(), so the innermost cause reaches the caller.
 */
#include <stdio.h>

#include "sematic/err.h"

#include "util/banned.h"

static const struct {
    int code;
    const char *name;
    const char *text;
} codes[] = {
#define SM__ERR_ROW(name, value, text) {SM_##name, "SM_" #name, text},
    SM_ERRNO_MAP(SM__ERR_ROW)
#undef SM__ERR_ROW
};

const char *sm_strerror(int code)
{
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i].code == code)
            return codes[i].text;
    return "unknown error";
}

const char *sm_err_name(int code)
{
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i].code == code)
            return codes[i].name;
    return "SM_EUNKNOWN";
}

int sm_errf(struct sm_err *err, int code, const char *fmt, ...)
{
    if (!err || err->code != 0)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        snprintf(err->msg, sizeof(err->msg), "%s", sm_strerror(code));
    return code;
}

void sm_err_clear(struct sm_err *err)
{
    if (!err)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}
