/*
 * json.c: the canonical JSON writer (struct sm_jw) and a small reader
 * (sm_json_parse) that builds a read-only DOM.
 *
 * Writer. Every value goes through begin_value(), which checks the sticky
 * error, places the comma and enforces "key, then value" inside objects.
 * The canonical forms are fixed by json.h (artifact ids hash this text):
 * strings escape only '"', '\\' and bytes < 0x20; doubles are the shortest
 * text that reads back as the same double, laid out as Python's repr()
 * lays it out (fixed notation for exponents -4..15, else d.ddde+XX), so
 * json.dumps(float) in Python and this writer agree. Doubles never depend on
 * the C locale: digits come from "%.*e" and are read back from a
 * "<digits>e<exp>" string that has no decimal point.
 *
 * Reader. Two passes over the text with the same recursive-descent code:
 * the first validates, reports the first error with its byte offset, and
 * counts nodes, bytes of string data and the children of every container;
 * the second builds the tree in one exactly-sized block (doc->mem), so a
 * document is one allocation and one sm_free(). Start at sm_json_parse().
 */
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sematic/alloc.h"
#include "sematic/json.h"

#include "util/banned.h"

/* ================================================================ writer */

static void fail(struct sm_jw *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record the sticky error; only the first one is kept. */
static void fail(struct sm_jw *w, int code, const char *fmt, ...)
{
    if (w->code)
        return;
    w->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
    va_end(ap);
}

/* Append bytes; a cap overflow becomes the sticky error. */
static void put(struct sm_jw *w, const void *p, size_t n)
{
    if (w->code)
        return;
    if (sm_buf_add(w->out, p, n) < 0)
        fail(w, SM_ETOOBIG, "JSON text is larger than its cap of %zu bytes", w->out->max_len);
}

static void putc_(struct sm_jw *w, char c)
{
    put(w, &c, 1);
}

void sm_jw_init(struct sm_jw *w, struct sm_buf *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
}

/* Before any value: comma, key discipline. Returns false when nothing may be written. */
static bool begin_value(struct sm_jw *w)
{
    if (w->code)
        return false;
    int d = w->depth;
    if (w->after_key) {
        w->after_key = 0;
        return true;
    }
    if (w->in_object[d]) {
        fail(w, SM_EINVAL, "a value inside an object needs a key first (sm_jw_key)");
        return false;
    }
    if (w->need_comma[d]) {
        if (d == 0) {
            fail(w, SM_EINVAL, "a JSON text holds one top-level value; a second one was written");
            return false;
        }
        putc_(w, ',');
    }
    w->need_comma[d] = 1;
    return !w->code;
}

static void begin(struct sm_jw *w, bool is_object)
{
    if (!begin_value(w))
        return;
    if (w->depth >= SM_JSON_MAX_DEPTH) {
        fail(w, SM_ETOOBIG, "JSON nesting is deeper than %d levels", SM_JSON_MAX_DEPTH);
        return;
    }
    w->depth++;
    w->need_comma[w->depth] = 0;
    w->in_object[w->depth] = is_object;
    putc_(w, is_object ? '{' : '[');
}

static void end(struct sm_jw *w, bool is_object)
{
    if (w->code)
        return;
    const char *what = is_object ? "object" : "array";
    if (w->depth == 0 || w->in_object[w->depth] != is_object) {
        fail(w, SM_EINVAL, "end of an %s with no %s open", what, what);
        return;
    }
    if (w->after_key) {
        fail(w, SM_EINVAL, "end of an object right after a key; the key's value is missing");
        return;
    }
    w->depth--;
    putc_(w, is_object ? '}' : ']');
}

void sm_jw_begin_object(struct sm_jw *w)
{
    begin(w, true);
}

void sm_jw_end_object(struct sm_jw *w)
{
    end(w, true);
}

void sm_jw_begin_array(struct sm_jw *w)
{
    begin(w, false);
}

void sm_jw_end_array(struct sm_jw *w)
{
    end(w, false);
}

/*
 * Length of the valid UTF-8 sequence at s (n bytes left), or 0 when it is
 * invalid: overlong forms, surrogates (U+D800..DFFF) and code points past
 * U+10FFFF are refused (RFC 3629).
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t k;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        k = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* past U+10FFFF */
    } else {
        return 0;
    }
    if (n < k || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return k;
}

static void put_string(struct sm_jw *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t start_len = w->out->len;
    const unsigned char *p = (const unsigned char *)s;
    putc_(w, '"');
    size_t run = 0; /* start of the bytes not yet copied */
    for (size_t i = 0; i < len && !w->code;) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t k = utf8_len(p + i, len - i);
            if (k == 0) {
                /* Leave no half-written string behind in the output. */
                sm_buf_truncate(w->out, start_len);
                fail(w, SM_EINVAL, "invalid UTF-8 in a string at byte %zu (0x%02x)", i, c);
                return;
            }
            i += k;
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        put(w, s + run, i - run);
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        put(w, esc, n);
        i++;
        run = i;
    }
    put(w, s + run, len - run);
    putc_(w, '"');
}

void sm_jw_key(struct sm_jw *w, const char *key, size_t len)
{
    if (w->code)
        return;
    int d = w->depth;
    if (!w->in_object[d]) {
        fail(w, SM_EINVAL, "key '%.*s' outside an object", len > 40 ? 40 : (int)len, key);
        return;
    }
    if (w->after_key) {
        fail(w, SM_EINVAL, "key '%.*s' right after another key; a value must come between",
             len > 40 ? 40 : (int)len, key);
        return;
    }
    if (w->need_comma[d])
        putc_(w, ',');
    w->need_comma[d] = 1;
    put_string(w, key, len);
    putc_(w, ':');
    w->after_key = 1;
}

void sm_jw_keyz(struct sm_jw *w, const char *key)
{
    sm_jw_key(w, key, strlen(key));
}

void sm_jw_string(struct sm_jw *w, const char *s, size_t len)
{
    if (begin_value(w))
        put_string(w, s, len);
}

void sm_jw_stringz(struct sm_jw *w, const char *s)
{
    if (!s)
        sm_jw_null(w);
    else
        sm_jw_string(w, s, strlen(s));
}

void sm_jw_int(struct sm_jw *w, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
    if (begin_value(w))
        put(w, tmp, (size_t)n);
}

void sm_jw_int_text(struct sm_jw *w, const char *digits, size_t len)
{
    if (w->code)
        return;
    size_t i = len > 0 && digits[0] == '-' ? 1 : 0;
    bool ok = i < len && !(digits[i] == '0' && (len - i > 1 || i == 1));
    for (size_t j = i; ok && j < len; j++)
        ok = digits[j] >= '0' && digits[j] <= '9';
    if (!ok) {
        fail(w, SM_EINVAL,
             "invalid integer text '%.*s': expected decimal digits with an optional '-' and no "
             "leading zeros",
             len > 40 ? 40 : (int)len, digits);
        return;
    }
    if (begin_value(w))
        put(w, digits, len);
}

/*
 * The shortest digits of finite v > 0: at most 17 significant digits in
 * digits (NUL-terminated, no trailing zeros) and the decimal exponent of the
 * first one (v = d.ddd * 10^exp10).
 *
 * For each precision p the correctly rounded p-digit decimal is tried first;
 * when it does not read back as v, its neighbour on the other side of v is
 * tried too, because just above a power of two the interval of decimals
 * that round to v is lopsided and the nearest candidate can miss it while
 * the other one hits (David Gay's dtoa mode 0, which Python's repr uses,
 * finds those).
 */
static void shortest_digits(double v, char digits[18], int *exp10)
{
    /*
     * Start at 15 digits for normal doubles: decimals of 15 digits are
     * farther apart than doubles, so at most one of them reads back as v,
     * and when one does, the shortest text is it without its trailing
     * zeros. Subnormals have fewer bits, so for them every length is tried.
     */
    int first = v >= DBL_MIN ? 15 : 1;
    for (int p = first; p <= 17; p++) {
        char tmp[40];
        snprintf(tmp, sizeof(tmp), "%.*e", p - 1, v);
        /* "d<point>ddde[+-]xx", where <point> depends on the locale: keep only the digits. */
        char d[18];
        int nd = 0;
        const char *q = tmp;
        for (; *q && *q != 'e'; q++)
            if (*q >= '0' && *q <= '9')
                d[nd++] = *q;
        d[nd] = '\0';
        int e = (int)strtol(q + 1, NULL, 10);
        for (int attempt = 0; attempt < 2; attempt++) {
            char back[48];
            snprintf(back, sizeof(back), "%se%d", d, e - (nd - 1));
            double r = strtod(back, NULL);
            if (r == v) {
                while (nd > 1 && d[nd - 1] == '0')
                    d[--nd] = '\0';
                memcpy(digits, d, (size_t)nd + 1);
                *exp10 = e;
                return;
            }
            if (attempt == 1)
                break;
            /* Step the last digit towards v, carrying or borrowing. */
            int i = nd - 1;
            if (r < v) {
                while (i >= 0 && d[i] == '9')
                    d[i--] = '0';
                if (i < 0) {
                    /* 99..9 + 1 = 100..0: one more power of ten. */
                    d[0] = '1';
                    e++;
                } else {
                    d[i]++;
                }
            } else {
                while (i >= 0 && d[i] == '0')
                    d[i--] = '9';
                if (i == 0 && d[0] == '1') {
                    /* Below 10^e the p-digit decimals are ten times closer: 9.99..9e(e-1). */
                    d[0] = '9';
                    e--;
                } else {
                    d[i]--;
                }
            }
        }
    }
    /* Unreachable: 17 significant digits always read back (IEEE 754). */
    snprintf(digits, 18, "0");
    *exp10 = 0;
}

size_t sm_json_format_double(double v, char out[32])
{
    if (isnan(v))
        return (size_t)snprintf(out, 32, "NaN");
    if (isinf(v))
        return (size_t)snprintf(out, 32, v < 0 ? "-Infinity" : "Infinity");
    size_t n = 0;
    if (signbit(v)) {
        out[n++] = '-';
        v = -v;
    }
    if (v == 0) {
        memcpy(out + n, "0.0", 4);
        return n + 3;
    }
    char d[18];
    int x;
    shortest_digits(v, d, &x);
    int nd = (int)strlen(d);
    if (x >= -4 && x < 16) {
        /* Fixed notation, as Python's repr() for 1e-4 <= |v| < 1e16. */
        if (x < 0) {
            out[n++] = '0';
            out[n++] = '.';
            for (int i = 0; i < -x - 1; i++)
                out[n++] = '0';
            memcpy(out + n, d, (size_t)nd);
            n += (size_t)nd;
        } else {
            for (int i = 0; i <= x; i++)
                out[n++] = i < nd ? d[i] : '0';
            out[n++] = '.';
            if (nd > x + 1) {
                memcpy(out + n, d + x + 1, (size_t)(nd - x - 1));
                n += (size_t)(nd - x - 1);
            } else {
                out[n++] = '0';
            }
        }
        out[n] = '\0';
        return n;
    }
    out[n++] = d[0];
    if (nd > 1) {
        out[n++] = '.';
        memcpy(out + n, d + 1, (size_t)nd - 1);
        n += (size_t)nd - 1;
    }
    n += (size_t)snprintf(out + n, 32 - n, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
    return n;
}

void sm_jw_double(struct sm_jw *w, double v)
{
    char tmp[32];
    size_t n = sm_json_format_double(v, tmp);
    if (!begin_value(w))
        return;
    if (isfinite(v)) {
        put(w, tmp, n);
    } else {
        putc_(w, '"');
        put(w, tmp, n);
        putc_(w, '"');
    }
}

void sm_jw_bool(struct sm_jw *w, bool v)
{
    if (begin_value(w))
        put(w, v ? "true" : "false", v ? 4 : 5);
}

void sm_jw_null(struct sm_jw *w)
{
    if (begin_value(w))
        put(w, "null", 4);
}

void sm_jw_raw(struct sm_jw *w, const char *json, size_t len)
{
    if (begin_value(w))
        put(w, json, len);
}

void sm_jw_base64(struct sm_jw *w, const void *data, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!begin_value(w))
        return;
    const unsigned char *p = data;
    putc_(w, '"');
    if (len / 3 >= ((size_t)-1 - 2) / 4 || sm_buf_reserve(w->out, (len + 2) / 3 * 4 + 1) < 0) {
        fail(w, SM_ETOOBIG, "JSON text is larger than its cap of %zu bytes", w->out->max_len);
        return;
    }
    for (size_t i = 0; i < len && !w->code; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        char q[4] = {alphabet[v >> 18], alphabet[(v >> 12) & 63],
                     i + 1 < len ? alphabet[(v >> 6) & 63] : '=',
                     i + 2 < len ? alphabet[v & 63] : '='};
        put(w, q, 4);
    }
    putc_(w, '"');
}

int sm_jw_finish(struct sm_jw *w, struct sm_err *err)
{
    if (!w->code && w->after_key)
        fail(w, SM_EINVAL, "JSON text ends right after a key; the key's value is missing");
    if (!w->code && w->depth > 0)
        fail(w, SM_EINVAL, "JSON text ends with %d container%s still open", w->depth,
             w->depth == 1 ? "" : "s");
    if (w->code)
        return sm_errf(err, w->code, "%s", w->msg);
    return 0;
}

/* ================================================================ reader */

struct parser {
    const char *s;
    size_t len;
    size_t pos;
    struct sm_err *err;
    int code;
    int depth;
    bool build; /* second pass: write the tree */
    /* First pass: totals, and the children of each container in the order they open. */
    size_t n_nodes;
    size_t n_bytes;
    size_t *counts;
    size_t n_counts, counts_cap;
    /* Second pass. */
    size_t i_count;
    struct sm_json *nodes;
    size_t next_node;
    char *bytes;
    size_t next_byte;
    locale_t c_locale;
};

static int perr(struct parser *p, size_t at, const char *what)
{
    if (!p->code)
        p->code = sm_errf(p->err, SM_EINVAL, "invalid JSON at byte %zu: %s", at, what);
    return p->code;
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static char *take_bytes(struct parser *p, size_t n)
{
    char *b = p->bytes + p->next_byte;
    p->next_byte += n;
    return b;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *dst, unsigned cp)
{
    unsigned char *d = (unsigned char *)dst;
    if (cp < 0x80) {
        if (d)
            d[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        if (d) {
            d[0] = (unsigned char)(0xC0 | (cp >> 6));
            d[1] = (unsigned char)(0x80 | (cp & 63));
        }
        return 2;
    }
    if (cp < 0x10000) {
        if (d) {
            d[0] = (unsigned char)(0xE0 | (cp >> 12));
            d[1] = (unsigned char)(0x80 | ((cp >> 6) & 63));
            d[2] = (unsigned char)(0x80 | (cp & 63));
        }
        return 3;
    }
    if (d) {
        d[0] = (unsigned char)(0xF0 | (cp >> 18));
        d[1] = (unsigned char)(0x80 | ((cp >> 12) & 63));
        d[2] = (unsigned char)(0x80 | ((cp >> 6) & 63));
        d[3] = (unsigned char)(0x80 | (cp & 63));
    }
    return 4;
}

/*
 * A string at p->pos (which holds '"'). Writes the unescaped bytes to dst
 * when building (dst has room: the first pass measured it) and returns
 * their count in *out_len.
 */
static int parse_string(struct parser *p, char *dst, size_t *out_len)
{
    size_t start = p->pos++;
    size_t n = 0;
    const char *s = p->s;
    for (;;) {
        if (p->pos >= p->len)
            return perr(p, start, "unterminated string");
        unsigned char c = (unsigned char)s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return perr(p, p->pos, "control character in a string; escape it");
        if (c >= 0x80) {
            size_t k = utf8_len((const unsigned char *)s + p->pos, p->len - p->pos);
            if (k == 0)
                return perr(p, p->pos, "invalid UTF-8 in a string");
            if (dst)
                memcpy(dst + n, s + p->pos, k);
            n += k;
            p->pos += k;
            continue;
        }
        if (c != '\\') {
            if (dst)
                dst[n] = (char)c;
            n++;
            p->pos++;
            continue;
        }
        size_t esc = p->pos;
        if (p->pos + 1 >= p->len)
            return perr(p, start, "unterminated string");
        char e = s[p->pos + 1];
        p->pos += 2;
        char out;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            out = e;
            break;
        case 'b':
            out = '\b';
            break;
        case 'f':
            out = '\f';
            break;
        case 'n':
            out = '\n';
            break;
        case 'r':
            out = '\r';
            break;
        case 't':
            out = '\t';
            break;
        case 'u': {
            unsigned cp;
            if (p->len - p->pos < 4 || hex4(s + p->pos, &cp) < 0)
                return perr(p, esc, "expected 4 hex digits after '\\u'");
            p->pos += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return perr(p, esc, "lone low surrogate in a '\\u' escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (p->len - p->pos < 6 || s[p->pos] != '\\' || s[p->pos + 1] != 'u' ||
                    hex4(s + p->pos + 2, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
                    return perr(p, esc,
                                "high surrogate in a '\\u' escape not followed by a low one");
                p->pos += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            n += put_utf8(dst ? dst + n : NULL, cp);
            continue;
        }
        default:
            return perr(p, esc,
                        "invalid escape; expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u");
        }
        if (dst)
            dst[n] = out;
        n++;
    }
    if (dst)
        dst[n] = '\0';
    *out_len = n;
    return 0;
}

static int parse_number(struct parser *p, struct sm_json *v)
{
    const char *s = p->s;
    size_t start = p->pos, i = p->pos;
    if (i < p->len && s[i] == '-')
        i++;
    if (i >= p->len || s[i] < '0' || s[i] > '9')
        return perr(p, i, "expected a digit");
    if (s[i] == '0') {
        i++;
        if (i < p->len && s[i] >= '0' && s[i] <= '9')
            return perr(p, i, "leading zeros are not allowed in a number");
    } else {
        while (i < p->len && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < p->len && s[i] == '.') {
        i++;
        if (i >= p->len || s[i] < '0' || s[i] > '9')
            return perr(p, i, "expected a digit after the decimal point");
        while (i < p->len && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= p->len || s[i] < '0' || s[i] > '9')
            return perr(p, i, "expected a digit in the exponent");
        while (i < p->len && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    size_t n = i - start;
    p->pos = i;
    if (!p->build) {
        p->n_bytes += n + 1;
        return 0;
    }
    char *t = take_bytes(p, n + 1);
    memcpy(t, s + start, n);
    t[n] = '\0';
    v->kind = SM_JSON_NUMBER;
    v->str = t;
    v->len = n;
    /* strtod_l: the text is JSON's, whatever LC_NUMERIC the host program set. */
    v->num = strtod_l(t, NULL, p->c_locale);
    return 0;
}

static bool match_word(struct parser *p, const char *word, size_t n)
{
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return false;
    p->pos += n;
    return true;
}

static int parse_value(struct parser *p, struct sm_json *v);

/* Children of the container that opens at p->pos; is_object picks '{' or '['. */
static int parse_container(struct parser *p, struct sm_json *v, bool is_object)
{
    size_t open_at = p->pos;
    if (p->depth >= SM_JSON_MAX_DEPTH) {
        if (!p->code)
            p->code =
                sm_errf(p->err, SM_ETOOBIG, "JSON nesting is deeper than %d levels at byte %zu",
                        SM_JSON_MAX_DEPTH, open_at);
        return p->code;
    }
    p->depth++;
    p->pos++;
    char close = is_object ? '}' : ']';
    size_t my_count = 0, n = 0;
    struct sm_json *items = NULL;
    struct sm_json scratch;
    if (p->build) {
        my_count = p->counts[p->i_count++];
        items = p->nodes + p->next_node;
        p->next_node += my_count;
    } else {
        /* Reserve this container's slot in counts; fill it on the way out. */
        if (p->n_counts == p->counts_cap) {
            p->counts_cap = p->counts_cap ? p->counts_cap * 2 : 16;
            p->counts = sm_xrealloc(p->counts, p->counts_cap * sizeof(*p->counts));
        }
        my_count = p->n_counts++;
    }
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
    } else {
        for (;;) {
            struct sm_json *child = p->build ? &items[n] : &scratch;
            memset(child, 0, sizeof(*child));
            skip_ws(p);
            if (is_object) {
                if (p->pos >= p->len || p->s[p->pos] != '"')
                    return perr(p, p->pos,
                                n == 0 ? "expected a string key or '}' in an object"
                                       : "expected a string key after ',' in an object");
                size_t klen;
                char *kdst = NULL;
                if (p->build) {
                    /* The first pass measured the key: it ends before the ':'. */
                    kdst = p->bytes + p->next_byte;
                }
                if (parse_string(p, kdst, &klen) < 0)
                    return p->code;
                if (p->build) {
                    p->next_byte += klen + 1;
                    child->key = kdst;
                    child->key_len = klen;
                } else {
                    p->n_bytes += klen + 1;
                }
                skip_ws(p);
                if (p->pos >= p->len || p->s[p->pos] != ':')
                    return perr(p, p->pos, "expected ':' after an object key");
                p->pos++;
            }
            if (parse_value(p, child) < 0)
                return p->code;
            n++;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (p->pos < p->len && p->s[p->pos] == close) {
                p->pos++;
                break;
            }
            return perr(p, p->pos,
                        is_object ? "expected ',' or '}' after an object member"
                                  : "expected ',' or ']' after an array element");
        }
    }
    p->depth--;
    if (p->build) {
        v->items = items;
        v->n_items = n;
    } else {
        p->counts[my_count] = n;
        p->n_nodes += n;
    }
    v->kind = is_object ? SM_JSON_OBJECT : SM_JSON_ARRAY;
    return 0;
}

static int parse_value(struct parser *p, struct sm_json *v)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return perr(p, p->pos, "expected a value");
    char c = p->s[p->pos];
    switch (c) {
    case '{':
        return parse_container(p, v, true);
    case '[':
        return parse_container(p, v, false);
    case '"': {
        char *dst = p->build ? p->bytes + p->next_byte : NULL;
        size_t n;
        if (parse_string(p, dst, &n) < 0)
            return p->code;
        if (p->build) {
            p->next_byte += n + 1;
            v->kind = SM_JSON_STRING;
            v->str = dst;
            v->len = n;
        } else {
            p->n_bytes += n + 1;
        }
        return 0;
    }
    case 't':
    case 'f':
    case 'n':
        if (match_word(p, "true", 4) || match_word(p, "false", 5)) {
            v->kind = SM_JSON_BOOL;
            v->boolean = c == 't';
            return 0;
        }
        if (match_word(p, "null", 4)) {
            v->kind = SM_JSON_NULL;
            return 0;
        }
        return perr(p, p->pos, "expected a value");
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return parse_number(p, v);
        return perr(p, p->pos, "expected a value");
    }
}

int sm_json_parse(struct sm_json_doc *doc, const char *text, size_t len, struct sm_err *err)
{
    doc->root = NULL;
    doc->mem = NULL;
    struct parser p = {.s = text, .len = len, .err = err, .n_nodes = 1};
    struct sm_json scratch = {0};
    if (parse_value(&p, &scratch) < 0)
        goto fail_parse;
    skip_ws(&p);
    if (p.pos < len) {
        perr(&p, p.pos, "expected the end of the text after the value");
        goto fail_parse;
    }

    /* Second pass into one block: nodes first (aligned), string bytes after. */
    size_t node_bytes = p.n_nodes * sizeof(struct sm_json);
    char *mem = sm_xmalloc(node_bytes + p.n_bytes);
    p.nodes = (struct sm_json *)(void *)mem;
    p.bytes = mem + node_bytes;
    p.build = true;
    p.pos = 0;
    p.depth = 0;
    p.next_node = 1;
    p.c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (p.c_locale == (locale_t)0) {
        sm_free(mem);
        p.code = sm_errf(err, SM_ENOMEM, "cannot parse JSON: no C locale for numbers");
        goto fail_parse;
    }
    memset(p.nodes, 0, sizeof(*p.nodes));
    int rc = parse_value(&p, p.nodes);
    freelocale(p.c_locale);
    /* The first pass accepted this text, so the second cannot fail. */
    if (rc < 0) {
        sm_free(mem);
        goto fail_parse;
    }
    sm_free(p.counts);
    doc->root = p.nodes;
    doc->mem = mem;
    return 0;

fail_parse:
    sm_free(p.counts);
    return p.code;
}

void sm_json_doc_release(struct sm_json_doc *doc)
{
    if (!doc)
        return;
    sm_free(doc->mem);
    doc->mem = NULL;
    doc->root = NULL;
}

const struct sm_json *sm_json_get(const struct sm_json *v, const char *key)
{
    if (!v || v->kind != SM_JSON_OBJECT)
        return NULL;
    size_t n = strlen(key);
    /* The last duplicate wins, as in Python's json.loads. */
    for (size_t i = v->n_items; i-- > 0;) {
        const struct sm_json *m = &v->items[i];
        if (m->key_len == n && memcmp(m->key, key, n) == 0)
            return m;
    }
    return NULL;
}
