/*
 * json.h: canonical JSON writing and a small JSON reader.
 *
 * The writer produces compact JSON with no whitespace; commas and nesting
 * are handled by the writer, so callers only say what comes next. It keeps a
 * sticky error (SQLite's mallocFailed, STYLE 26): after the first failure
 * (buffer cap reached, nesting too deep, key outside an object) every call is
 * a no-op and sm_jw_finish() reports the first error.
 *
 * Canonical forms (the artifact id is a hash of this text, so they never change):
 * - strings: UTF-8 as given; escaped are only '"', '\\', and bytes < 0x20
 *   (as \b \f \n \r \t, else \u00XX lower-case hex); invalid UTF-8 is an
 *   error (SM_EINVAL) naming the byte offset;
 * - doubles: the shortest text that reads back as the same double (%.17g
 *   at most), always with a '.' or an exponent ("1.0", "1e+100", "-0.0");
 *   NaN and infinities are the strings "NaN", "Infinity", "-Infinity";
 * - integers: decimal with no leading zeros; sm_jw_int_text() takes the
 *   decimal text of an integer of any size (Python ints).
 *
 * Threads: a writer is used by one thread at a time.
 */
#ifndef SEMATIC_JSON_H
#define SEMATIC_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sematic/buf.h"
#include "sematic/err.h"

#define SM_JSON_MAX_DEPTH 256

struct sm_jw {
    struct sm_buf *out; /* borrowed; the writer appends to it */
    int code;           /* first error, 0 while none */
    char msg[128];      /* its message */
    int depth;          /* open containers */
    unsigned char need_comma[SM_JSON_MAX_DEPTH + 1];
    unsigned char in_object[SM_JSON_MAX_DEPTH + 1];
    unsigned char after_key; /* a key was written, its value comes next */
};

/* Start writing into out (appending to what it holds). */
void sm_jw_init(struct sm_jw *w, struct sm_buf *out);

void sm_jw_begin_object(struct sm_jw *w);
void sm_jw_end_object(struct sm_jw *w);
void sm_jw_begin_array(struct sm_jw *w);
void sm_jw_end_array(struct sm_jw *w);
/* An object key (inside an object, before its value). */
void sm_jw_key(struct sm_jw *w, const char *key, size_t len);
void sm_jw_keyz(struct sm_jw *w, const char *key); /* NUL-terminated */
void sm_jw_string(struct sm_jw *w, const char *s, size_t len);
void sm_jw_stringz(struct sm_jw *w, const char *s); /* NUL-terminated; NULL writes null */
void sm_jw_int(struct sm_jw *w, int64_t v);
/* Decimal text of an integer ("-123", any length): checked, written as a number. */
void sm_jw_int_text(struct sm_jw *w, const char *digits, size_t len);
void sm_jw_double(struct sm_jw *w, double v);
void sm_jw_bool(struct sm_jw *w, bool v);
void sm_jw_null(struct sm_jw *w);
/* Already-encoded JSON text, copied as is (the caller vouches for it). */
void sm_jw_raw(struct sm_jw *w, const char *json, size_t len);
/* Bytes as a base64 string (RFC 4648, with padding). */
void sm_jw_base64(struct sm_jw *w, const void *data, size_t len);

/*
 * Check that every container was closed and report the first error.
 * Returns 0, or the sticky error's code with its message copied into err.
 */
int sm_jw_finish(struct sm_jw *w, struct sm_err *err);

/* Shortest round-trip text of a finite double into out (>= 32 bytes); returns its length. */
size_t sm_json_format_double(double v, char out[32]);

/* -------------------------------------------------------------- reading */

enum sm_json_kind {
    SM_JSON_NULL,
    SM_JSON_BOOL,
    SM_JSON_NUMBER,
    SM_JSON_STRING,
    SM_JSON_ARRAY,
    SM_JSON_OBJECT,
};

/*
 * A parsed JSON value. Arrays and objects hold children in `items`
 * (n_items of them); object members carry their key in `key`. Strings are
 * unescaped, NUL-terminated UTF-8 (`str`, `len`); numbers keep their text in
 * `str` (so big integers survive) and their double value in `num`.
 */
struct sm_json {
    enum sm_json_kind kind;
    bool boolean;
    double num;
    const char *str;
    size_t len;
    const char *key;
    size_t key_len;
    struct sm_json *items;
    size_t n_items;
};

/* A parsed document. Release with sm_json_doc_release(). */
struct sm_json_doc {
    struct sm_json *root; /* NULL until parsed */
    void *mem;            /* internal */
};

/*
 * Parse text (len bytes, need not be NUL-terminated) into doc.
 * Returns 0, or SM_EINVAL with a message naming the byte offset and what was
 * expected there, or SM_ETOOBIG when nesting is deeper than SM_JSON_MAX_DEPTH.
 * On failure doc holds nothing (release is still allowed).
 */
int sm_json_parse(struct sm_json_doc *doc, const char *text, size_t len, struct sm_err *err);

void sm_json_doc_release(struct sm_json_doc *doc);

/* Member `key` of an object, or NULL when absent or v is not an object. Borrowed from v's doc. */
const struct sm_json *sm_json_get(const struct sm_json *v, const char *key);

#endif
