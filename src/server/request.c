/*
 * request.c: parsing a request target into decoded path segments and query
 * parameters, the rules for static file paths, and the small tables of HTTP
 * text (methods, reasons, content types). Pure functions: no MHD, no store, no globals, so the unit tests
 * and the fuzz target (fuzz/fuzz_http.c) call them directly.
 *
 * Start at sm__http_target_parse(). The rule that keeps the rest simple:
 * the path is split on '/' before decoding, and a decoded segment may not
 * hold '/', NUL, invalid UTF-8, or be "." or ".." (400). A decoded path
 * (segments joined by '/') therefore has exactly the segments the client
 * meant, and no value taken from it can climb out of a directory.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sematic/alloc.h"

#include "internal.h"

#include "util/banned.h"

/* How much of a client's input an error message quotes. */
#define QUOTE_MAX 48

enum sm_http_method sm_http_method_parse(const char *name)
{
    static const struct {
        const char *name;
        enum sm_http_method m;
    } methods[] = {
        {"GET", SM_HTTP_GET},         {"HEAD", SM_HTTP_HEAD},     {"POST", SM_HTTP_POST},
        {"PUT", SM_HTTP_PUT},         {"DELETE", SM_HTTP_DELETE}, {"PATCH", SM_HTTP_PATCH},
        {"OPTIONS", SM_HTTP_OPTIONS},
    };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(name, methods[i].name) == 0)
            return methods[i].m;
    return 0;
}

const char *sm_http_method_name(enum sm_http_method m)
{
    switch (m) {
    case SM_HTTP_GET:
        return "GET";
    case SM_HTTP_HEAD:
        return "HEAD";
    case SM_HTTP_POST:
        return "POST";
    case SM_HTTP_PUT:
        return "PUT";
    case SM_HTTP_DELETE:
        return "DELETE";
    case SM_HTTP_PATCH:
        return "PATCH";
    case SM_HTTP_OPTIONS:
        return "OPTIONS";
    default:
        return "?";
    }
}

/* ---------------------------------------------------------------- UTF-8 */

/* Length of the well-formed UTF-8 character at s (n bytes left), 0 when malformed. */
static size_t utf8_char_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlongs */
        if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F; /* nothing past U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

bool sm__http_is_utf8(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_char_len(p + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

void sm__http_sanitize(const char *s, char *out, size_t size)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), i = 0, o = 0;
    while (i < len) {
        size_t n = utf8_char_len(p + i, len - i);
        if (n == 0 || (n == 1 && (p[i] < 0x20 || p[i] == 0x7F))) {
            if (o + 1 >= size)
                break;
            out[o++] = '?';
            i += n == 0 ? 1 : n;
            continue;
        }
        if (o + n >= size)
            break;
        memcpy(out + o, p + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
}

/* ------------------------------------------------------------ decoding */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Decode %XX escapes (and '+' as a space when is_query) of in[0..n) into out
 * (room for n + 1 bytes), NUL-terminated; *out_len gets the length. `what`
 * names the part for messages; `at` is in's offset in the target.
 */
static int decode(const char *in, size_t n, bool is_query, char *out, size_t *out_len,
                  const char *what, size_t at, struct sm_err *err)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '%') {
            int hi = i + 1 < n ? hex_value(in[i + 1]) : -1;
            int lo = i + 2 < n ? hex_value(in[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                char quote[4] = {'%', 0, 0, 0};
                for (size_t k = 1; k < 3 && i + k < n; k++)
                    quote[k] = in[i + k];
                char shown[16];
                sm__http_sanitize(quote, shown, sizeof(shown));
                return sm_errf(err, SM_EINVAL,
                               "bad %%-escape '%s' at byte %zu of the %s; a '%%' must be followed "
                               "by two hex digits (write a literal '%%' as %%25)",
                               shown, at + i, what);
            }
            c = (char)(hi * 16 + lo);
            if (c == '\0')
                return sm_errf(err, SM_EINVAL,
                               "encoded NUL (%%00) at byte %zu of the %s is not allowed", at + i,
                               what);
            i += 2;
        } else if (c == '+' && is_query) {
            c = ' ';
        } else if (c == '\0') {
            return sm_errf(err, SM_EINVAL, "NUL byte at byte %zu of the %s is not allowed", at + i,
                           what);
        }
        out[o++] = c;
    }
    out[o] = '\0';
    *out_len = o;
    if (!sm__http_is_utf8(out, o))
        return sm_errf(err, SM_EINVAL,
                       "the %s is not valid UTF-8 after %%-decoding (near byte %zu); encode text "
                       "as UTF-8 before %%-escaping it",
                       what, at);
    return 0;
}

/* ------------------------------------------------------------- targets */

void sm__http_target_release(struct sm_http_target *t)
{
    sm_free(t->mem);
    sm_free((void *)t->segments);
    sm_free(t->seg_offsets);
    sm_free(t->query);
    memset(t, 0, sizeof(*t));
}

static size_t count_char(const char *s, size_t n, char c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == c;
    return k;
}

static int parse_path(struct sm_http_target *t, const char *raw, size_t n, char **cursor,
                      struct sm_err *err)
{
    /* The decoded path: "/" then the segments; never longer than the raw path. */
    char *path = *cursor;
    *cursor += n + 1;
    size_t path_len = 0;
    path[path_len++] = '/';
    path[path_len] = '\0';
    t->path = path;
    if (n == 1)
        return 0; /* "/": no segments */

    size_t max_segments = count_char(raw + 1, n - 1, '/') + 1;
    t->segments = sm_xcalloc(max_segments, sizeof(*t->segments));
    t->seg_offsets = sm_xcalloc(max_segments, sizeof(*t->seg_offsets));
    size_t start = 1;
    for (;;) {
        const char *slash = memchr(raw + start, '/', n - start);
        size_t end = slash != NULL ? (size_t)(slash - raw) : n;
        char *seg = *cursor;
        size_t seg_len;
        int rc = decode(raw + start, end - start, false, seg, &seg_len, "path", start, err);
        if (rc != 0)
            return rc;
        *cursor += seg_len + 1;
        size_t index = t->n_segments;
        if (memchr(seg, '/', seg_len) != NULL)
            return sm_errf(err, SM_EINVAL,
                           "path segment %zu holds an encoded '/' (%%2F), which is not allowed; "
                           "send '/' unencoded",
                           index + 1);
        if (strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0)
            return sm_errf(err, SM_EINVAL,
                           "path segment %zu is '%s', which is not allowed; send the path "
                           "without '.' and '..' segments",
                           index + 1, seg);
        if (index > 0)
            path[path_len++] = '/';
        t->seg_offsets[index] = path_len;
        memcpy(path + path_len, seg, seg_len);
        path_len += seg_len;
        path[path_len] = '\0';
        t->segments[index] = seg;
        t->n_segments++;
        if (slash == NULL)
            return 0;
        start = end + 1;
    }
}

static int parse_query(struct sm_http_target *t, const char *raw, size_t n, size_t at,
                       char **cursor, struct sm_err *err)
{
    size_t max_params = count_char(raw, n, '&') + 1;
    if (max_params > SM_HTTP_MAX_QUERY) {
        /* Count the non-empty pieces before refusing: "a=1&&&&" is 1 parameter. */
        size_t real = 0;
        for (size_t i = 0; i < n; i++)
            real += raw[i] != '&' && (i == 0 || raw[i - 1] == '&');
        if (real > SM_HTTP_MAX_QUERY)
            return sm_errf(err, SM_EINVAL,
                           "the query string has %zu parameters, more than the %d allowed", real,
                           SM_HTTP_MAX_QUERY);
        max_params = real > 0 ? real : 1;
    }
    t->query = sm_xcalloc(max_params, sizeof(*t->query));
    size_t start = 0;
    while (start < n) {
        const char *amp = memchr(raw + start, '&', n - start);
        size_t end = amp != NULL ? (size_t)(amp - raw) : n;
        if (end > start) {
            const char *eq = memchr(raw + start, '=', end - start);
            size_t key_end = eq != NULL ? (size_t)(eq - raw) : end;
            char *key = *cursor;
            size_t key_len, value_len;
            int rc = decode(raw + start, key_end - start, true, key, &key_len, "query string",
                            at + start, err);
            if (rc != 0)
                return rc;
            *cursor += key_len + 1;
            char *value = *cursor;
            if (eq != NULL) {
                rc = decode(eq + 1, end - key_end - 1, true, value, &value_len, "query string",
                            at + key_end + 1, err);
                if (rc != 0)
                    return rc;
            } else {
                value[0] = '\0';
                value_len = 0;
            }
            *cursor += value_len + 1;
            t->query[t->n_query].name = key;
            t->query[t->n_query].value = value;
            t->n_query++;
        }
        start = end + 1;
    }
    return 0;
}

int sm__http_target_parse(struct sm_http_target *t, const char *raw, size_t len, struct sm_err *err)
{
    memset(t, 0, sizeof(*t));
    if (len == 0 || raw[0] != '/') {
        char shown[QUOTE_MAX];
        char head[QUOTE_MAX];
        size_t k = len < sizeof(head) - 1 ? len : sizeof(head) - 1;
        memcpy(head, raw, k);
        head[k] = '\0';
        sm__http_sanitize(head, shown, sizeof(shown));
        return sm_errf(err, SM_EINVAL,
                       "request target '%s' must be a path starting with '/' (origin form)", shown);
    }
    const char *q = memchr(raw, '?', len);
    size_t path_n = q != NULL ? (size_t)(q - raw) : len;
    size_t query_n = q != NULL ? len - path_n - 1 : 0;

    /*
     * One block for every string: the raw copies (len + 2), the decoded path
     * (path_n + 1), the segments (at most path_n + 1 with their NULs), and the
     * query's names and values (at most query_n plus two NULs per piece).
     */
    size_t pieces = count_char(raw + path_n, len - path_n, '&') + 1;
    size_t size = (len + 2) + (path_n + 1) + (path_n + 1) + query_n + 2 * pieces + 2;
    t->mem = sm_xmalloc(size);
    char *cursor = t->mem;
    char *raw_path = cursor;
    memcpy(raw_path, raw, path_n);
    raw_path[path_n] = '\0';
    cursor += path_n + 1;
    char *raw_query = cursor;
    memcpy(raw_query, raw + path_n + (q != NULL), query_n);
    raw_query[query_n] = '\0';
    cursor += query_n + 1;
    t->raw_path = raw_path;
    t->raw_query = raw_query;

    int rc = parse_path(t, raw_path, path_n, &cursor, err);
    if (rc == 0)
        rc = parse_query(t, raw_query, query_n, path_n + 1, &cursor, err);
    if (rc != 0) {
        sm__http_target_release(t);
        return rc;
    }
    return 0;
}

void sm__http_textf(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, size, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------- static paths */

int sm__http_static_relpath(const char *rel, char *out, size_t size)
{
    size_t len = strlen(rel);
    if (len > SM_HTTP_STATIC_REL_MAX || len + 1 > size)
        return SM_ENOTFOUND;
    if (len > 0 && rel[len - 1] == '/')
        len--; /* "runs/" is the directory (or SPA route) "runs" */
    size_t start = 0;
    while (start < len) {
        const char *slash = memchr(rel + start, '/', len - start);
        size_t end = slash != NULL ? (size_t)(slash - rel) : len;
        if (end == start || rel[start] == '.')
            return SM_ENOTFOUND; /* empty ("a//b", "/etc") or hidden (".env", "..") */
        if (memchr(rel + start, '\\', end - start) != NULL)
            return SM_ENOTFOUND;
        start = end + 1;
    }
    memcpy(out, rel, len);
    out[len] = '\0';
    return 0;
}

bool sm__http_static_is_asset(const char *rel)
{
    /* Pipeline routes hold function paths ("/pipelines/my.module.pipeline"): only an extension
     * of a file type the dashboard ships makes a path an asset. */
    return strcmp(sm__http_content_type(rel), "application/octet-stream") != 0;
}

/* --------------------------------------------------------- HTTP tables */

const char *sm__http_content_type(const char *name)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".webp", "image/webp"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".woff", "font/woff"},
        {".ttf", "font/ttf"},
        {".txt", "text/plain; charset=utf-8"},
        {".wasm", "application/wasm"},
    };
    const char *slash = strrchr(name, '/');
    const char *base = slash != NULL ? slash + 1 : name;
    const char *dot = strrchr(base, '.');
    if (dot != NULL) {
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (strcasecmp(dot, types[i].ext) == 0)
                return types[i].type;
    }
    return "application/octet-stream";
}

const char *sm__http_status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "";
    }
}
