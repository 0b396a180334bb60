/*
 * rec_json.c: the lossless JSON form of the store's records
 * (include/sematic/rec_json.h), used by the HTTP store and the server's
 * /api/v1/store endpoints.
 *
 * Each record type is described once, by a table of its fields (name as in
 * the struct, kind, offset, size); one writer and one reader walk the
 * table, so the two directions cannot drift apart and a field added to a
 * struct is one row here. Reading is strict (every field exactly once, no
 * other key, each value of its kind), so a client and a server of
 * different versions fail with a message naming the field instead of
 * silently dropping it.
 *
 * Start reading at the tables (run_fields, ...), then write_fields() and
 * read_fields().
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sematic/rec_json.h"

#include "util/banned.h"

/* ------------------------------------------------------------ field tables */

enum field_kind {
    F_CHARS, /* char name[size]: a string of at most size - 1 bytes, no NUL */
    F_STR,   /* const char *: a string with no NUL, or null for NULL */
    F_TEXT,  /* const char * plus size_t at aux: a string that may hold NUL bytes */
    F_INT,   /* int */
    F_I32,   /* int32_t */
    F_I64,   /* int64_t */
    F_BOOL,  /* bool */
};

struct field {
    const char *name;
    enum field_kind kind;
    size_t off;
    size_t size; /* F_CHARS: the array's size */
    size_t aux;  /* F_TEXT: offset of the length */
};

#define FIELD(T, f, k)                                                                             \
    {                                                                                              \
#f, k, offsetof(T, f), sizeof(((T *)0)->f), 0                                              \
    }

static const struct field run_fields[] = {
    FIELD(struct sm_run_rec, id, F_CHARS),
    FIELD(struct sm_run_rec, root_id, F_CHARS),
    FIELD(struct sm_run_rec, parent_id, F_CHARS),
    FIELD(struct sm_run_rec, nested_id, F_CHARS),
    FIELD(struct sm_run_rec, original_run_id, F_CHARS),
    FIELD(struct sm_run_rec, state, F_INT),
    FIELD(struct sm_run_rec, name, F_STR),
    FIELD(struct sm_run_rec, function_path, F_STR),
    FIELD(struct sm_run_rec, description, F_STR),
    FIELD(struct sm_run_rec, source_id, F_STR),
    FIELD(struct sm_run_rec, tags_json, F_STR),
    FIELD(struct sm_run_rec, resource_requirements_json, F_STR),
    FIELD(struct sm_run_rec, retry_settings_json, F_STR),
    FIELD(struct sm_run_rec, cache_key, F_STR),
    FIELD(struct sm_run_rec, exception_json, F_STR),
    FIELD(struct sm_run_rec, external_exception_json, F_STR),
    FIELD(struct sm_run_rec, is_inline, F_BOOL),
    FIELD(struct sm_run_rec, attempt, F_I32),
    FIELD(struct sm_run_rec, created_at, F_I64),
    FIELD(struct sm_run_rec, updated_at, F_I64),
    FIELD(struct sm_run_rec, started_at, F_I64),
    FIELD(struct sm_run_rec, ended_at, F_I64),
    FIELD(struct sm_run_rec, resolved_at, F_I64),
    FIELD(struct sm_run_rec, failed_at, F_I64),
    FIELD(struct sm_run_rec, seq, F_I64),
    FIELD(struct sm_run_rec, is_new, F_BOOL),
};

static const struct field artifact_fields[] = {
    FIELD(struct sm_artifact_rec, id, F_CHARS),
    FIELD(struct sm_artifact_rec, type_json, F_STR),
    FIELD(struct sm_artifact_rec, summary_json, F_STR),
    FIELD(struct sm_artifact_rec, size_bytes, F_I64),
    FIELD(struct sm_artifact_rec, blob_key, F_CHARS),
    FIELD(struct sm_artifact_rec, created_at, F_I64),
    FIELD(struct sm_artifact_rec, payload_in_storage, F_BOOL),
};

static const struct field edge_fields[] = {
    FIELD(struct sm_edge_rec, id, F_CHARS),
    FIELD(struct sm_edge_rec, root_id, F_CHARS),
    FIELD(struct sm_edge_rec, source_run_id, F_CHARS),
    FIELD(struct sm_edge_rec, destination_run_id, F_CHARS),
    FIELD(struct sm_edge_rec, destination_name, F_STR),
    FIELD(struct sm_edge_rec, artifact_id, F_CHARS),
    FIELD(struct sm_edge_rec, parent_id, F_CHARS),
    FIELD(struct sm_edge_rec, created_at, F_I64),
    FIELD(struct sm_edge_rec, updated_at, F_I64),
    FIELD(struct sm_edge_rec, is_new, F_BOOL),
};

static const struct field pipeline_fields[] = {
    FIELD(struct sm_pipeline_rec, root_id, F_CHARS),
    FIELD(struct sm_pipeline_rec, status, F_INT),
    FIELD(struct sm_pipeline_rec, kind, F_STR),
    FIELD(struct sm_pipeline_rec, cache_namespace, F_STR),
    FIELD(struct sm_pipeline_rec, user, F_STR),
    FIELD(struct sm_pipeline_rec, git_json, F_STR),
    FIELD(struct sm_pipeline_rec, settings_json, F_STR),
    FIELD(struct sm_pipeline_rec, client_version, F_STR),
    FIELD(struct sm_pipeline_rec, run_command, F_STR),
    FIELD(struct sm_pipeline_rec, python, F_STR),
    FIELD(struct sm_pipeline_rec, cwd, F_STR),
    FIELD(struct sm_pipeline_rec, sys_path_json, F_STR),
    FIELD(struct sm_pipeline_rec, driver_pid, F_I64),
    FIELD(struct sm_pipeline_rec, driver_start, F_I64),
    FIELD(struct sm_pipeline_rec, driver_host, F_STR),
    FIELD(struct sm_pipeline_rec, created_at, F_I64),
    FIELD(struct sm_pipeline_rec, updated_at, F_I64),
    FIELD(struct sm_pipeline_rec, ended_at, F_I64),
    FIELD(struct sm_pipeline_rec, seq, F_I64),
};

static const struct field log_fields[] = {
    FIELD(struct sm_log_rec, id, F_I64),
    FIELD(struct sm_log_rec, run_id, F_CHARS),
    FIELD(struct sm_log_rec, stream, F_INT),
    FIELD(struct sm_log_rec, ts, F_I64),
    {"text", F_TEXT, offsetof(struct sm_log_rec, text), sizeof(const char *),
     offsetof(struct sm_log_rec, len)},
};

#define N_FIELDS(t) (sizeof(t) / sizeof((t)[0]))

/* read_fields() keeps the fields it has seen in one 64-bit mask. */
_Static_assert(N_FIELDS(run_fields) <= 64 && N_FIELDS(pipeline_fields) <= 64,
               "a record has more fields than read_fields()' mask holds");

/* ------------------------------------------------------------ writing */

static void write_fields(struct sm_jw *w, const void *rec, const struct field *fields, size_t n)
{
    const char *base = rec;
    sm_jw_begin_object(w);
    for (size_t i = 0; i < n; i++) {
        const struct field *f = &fields[i];
        const char *p = base + f->off;
        sm_jw_keyz(w, f->name);
        switch (f->kind) {
        case F_CHARS:
            sm_jw_string(w, p, strnlen(p, f->size));
            break;
        case F_STR:
            sm_jw_stringz(w, *(const char *const *)(const void *)p);
            break;
        case F_TEXT: {
            const char *text = *(const char *const *)(const void *)p;
            size_t len = *(const size_t *)(const void *)(base + f->aux);
            if (text == NULL)
                sm_jw_null(w);
            else
                sm_jw_string(w, text, len);
            break;
        }
        case F_INT:
            sm_jw_int(w, *(const int *)(const void *)p);
            break;
        case F_I32:
            sm_jw_int(w, *(const int32_t *)(const void *)p);
            break;
        case F_I64:
            sm_jw_int(w, *(const int64_t *)(const void *)p);
            break;
        case F_BOOL:
            sm_jw_bool(w, *(const bool *)(const void *)p);
            break;
        }
    }
    sm_jw_end_object(w);
}

void sm_rec_json_write_run(struct sm_jw *w, const struct sm_run_rec *r)
{
    write_fields(w, r, run_fields, N_FIELDS(run_fields));
}

void sm_rec_json_write_artifact(struct sm_jw *w, const struct sm_artifact_rec *a)
{
    write_fields(w, a, artifact_fields, N_FIELDS(artifact_fields));
}

void sm_rec_json_write_edge(struct sm_jw *w, const struct sm_edge_rec *e)
{
    write_fields(w, e, edge_fields, N_FIELDS(edge_fields));
}

void sm_rec_json_write_pipeline(struct sm_jw *w, const struct sm_pipeline_rec *p)
{
    write_fields(w, p, pipeline_fields, N_FIELDS(pipeline_fields));
}

void sm_rec_json_write_log(struct sm_jw *w, const struct sm_log_rec *l)
{
    write_fields(w, l, log_fields, N_FIELDS(log_fields));
}

static const char *const op_names[SM_REC_OP_KIND_COUNT] = {
    [SM_REC_OP_RUN] = "run",           [SM_REC_OP_ARTIFACT] = "artifact", [SM_REC_OP_EDGE] = "edge",
    [SM_REC_OP_PIPELINE] = "pipeline", [SM_REC_OP_SOURCE] = "source",     [SM_REC_OP_LOG] = "log",
};

const char *sm_rec_op_kind_name(enum sm_rec_op_kind kind)
{
    return (unsigned)kind < SM_REC_OP_KIND_COUNT ? op_names[kind] : "unknown";
}

void sm_rec_json_write_op(struct sm_jw *w, const struct sm_rec_op *op)
{
    const char *name = sm_rec_op_kind_name(op->kind);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "op");
    sm_jw_stringz(w, name);
    switch (op->kind) {
    case SM_REC_OP_RUN:
        sm_jw_keyz(w, name);
        sm_rec_json_write_run(w, &op->u.run);
        break;
    case SM_REC_OP_ARTIFACT:
        sm_jw_keyz(w, name);
        sm_rec_json_write_artifact(w, &op->u.artifact.rec);
        sm_jw_keyz(w, "payload");
        sm_jw_base64(w, op->u.artifact.payload ? op->u.artifact.payload : "", op->u.artifact.len);
        break;
    case SM_REC_OP_EDGE:
        sm_jw_keyz(w, name);
        sm_rec_json_write_edge(w, &op->u.edge);
        break;
    case SM_REC_OP_PIPELINE:
        sm_jw_keyz(w, name);
        sm_rec_json_write_pipeline(w, &op->u.pipeline);
        break;
    case SM_REC_OP_SOURCE:
        sm_jw_keyz(w, "text");
        sm_jw_string(w, op->u.source.text ? op->u.source.text : "", op->u.source.len);
        break;
    case SM_REC_OP_LOG:
        sm_jw_keyz(w, name);
        sm_rec_json_write_log(w, &op->u.log);
        break;
    }
    sm_jw_end_object(w);
}

/* ------------------------------------------------------------ reading */

static const char *kind_text(const struct sm_json *v)
{
    switch (v->kind) {
    case SM_JSON_NULL:
        return "null";
    case SM_JSON_BOOL:
        return "a boolean";
    case SM_JSON_NUMBER:
        return "a number";
    case SM_JSON_STRING:
        return "a string";
    case SM_JSON_ARRAY:
        return "an array";
    case SM_JSON_OBJECT:
        return "an object";
    }
    return "a value";
}

static int wrong_type(const char *rec, const char *field, const char *expected,
                      const struct sm_json *v, struct sm_err *err)
{
    return sm_errf(err, SM_EINVAL, "invalid %s field '%s': expected %s, got %s", rec, field,
                   expected, kind_text(v));
}

/* The integer text of a JSON number into *out, within [min, max]. */
static int read_integer(const char *rec, const struct field *f, const struct sm_json *v,
                        int64_t min, int64_t max, int64_t *out, struct sm_err *err)
{
    if (v->kind != SM_JSON_NUMBER)
        return wrong_type(rec, f->name, "an integer", v, err);
    if (strpbrk(v->str, ".eE") != NULL)
        return sm_errf(err, SM_EINVAL, "invalid %s field '%s': expected an integer, got %.40s", rec,
                       f->name, v->str);
    errno = 0;
    char *end = NULL;
    long long x = strtoll(v->str, &end, 10);
    if (errno == ERANGE || end == v->str || *end != '\0' || x < min || x > max)
        return sm_errf(err, SM_EINVAL,
                       "invalid %s field '%s': %.40s is out of range (%" PRId64 " to %" PRId64 ")",
                       rec, f->name, v->str, min, max);
    *out = (int64_t)x;
    return 0;
}

static int read_field(const char *rec, const struct field *f, const struct sm_json *v, void *out,
                      struct sm_err *err)
{
    char *p = (char *)out + f->off;
    int64_t x;
    int rc;
    switch (f->kind) {
    case F_CHARS:
        if (v->kind != SM_JSON_STRING)
            return wrong_type(rec, f->name, "a string (\"\" for none)", v, err);
        if (v->len >= f->size)
            return sm_errf(err, SM_EINVAL,
                           "invalid %s field '%s': %zu bytes, at most %zu fit (\"%.80s\")", rec,
                           f->name, v->len, f->size - 1, v->str);
        if (memchr(v->str, '\0', v->len) != NULL)
            return sm_errf(err, SM_EINVAL, "invalid %s field '%s': it holds a NUL byte", rec,
                           f->name);
        memcpy(p, v->str, v->len + 1);
        return 0;
    case F_STR:
        if (v->kind == SM_JSON_NULL) {
            *(const char **)(void *)p = NULL;
            return 0;
        }
        if (v->kind != SM_JSON_STRING)
            return wrong_type(rec, f->name, "a string or null", v, err);
        if (memchr(v->str, '\0', v->len) != NULL)
            return sm_errf(err, SM_EINVAL, "invalid %s field '%s': it holds a NUL byte", rec,
                           f->name);
        *(const char **)(void *)p = v->str;
        return 0;
    case F_TEXT:
        if (v->kind == SM_JSON_NULL) {
            *(const char **)(void *)p = NULL;
            *(size_t *)(void *)((char *)out + f->aux) = 0;
            return 0;
        }
        if (v->kind != SM_JSON_STRING)
            return wrong_type(rec, f->name, "a string", v, err);
        *(const char **)(void *)p = v->str;
        *(size_t *)(void *)((char *)out + f->aux) = v->len;
        return 0;
    case F_INT:
        rc = read_integer(rec, f, v, INT_MIN, INT_MAX, &x, err);
        if (rc == 0)
            *(int *)(void *)p = (int)x;
        return rc;
    case F_I32:
        rc = read_integer(rec, f, v, INT32_MIN, INT32_MAX, &x, err);
        if (rc == 0)
            *(int32_t *)(void *)p = (int32_t)x;
        return rc;
    case F_I64:
        rc = read_integer(rec, f, v, INT64_MIN, INT64_MAX, &x, err);
        if (rc == 0)
            *(int64_t *)(void *)p = x;
        return rc;
    case F_BOOL:
        if (v->kind != SM_JSON_BOOL)
            return wrong_type(rec, f->name, "true or false", v, err);
        *(bool *)(void *)p = v->boolean;
        return 0;
    }
    return sm_errf(err, SM_EINVAL, "invalid %s field '%s': unknown field kind", rec, f->name);
}

/* true when member m's key is exactly key (a key may hold "\u0000": compare lengths too). */
static bool key_is(const struct sm_json *m, const char *key)
{
    return m->key_len == strlen(key) && memcmp(m->key, key, m->key_len) == 0;
}

static int read_fields(const char *rec, const struct sm_json *v, void *out, size_t out_size,
                       const struct field *fields, size_t n, struct sm_err *err)
{
    memset(out, 0, out_size);
    if (v == NULL || v->kind != SM_JSON_OBJECT)
        return sm_errf(err, SM_EINVAL, "invalid %s: expected a JSON object, got %s", rec,
                       v ? kind_text(v) : "nothing");
    uint64_t seen = 0;
    for (size_t i = 0; i < v->n_items; i++) {
        const struct sm_json *m = &v->items[i];
        /* Writers put the fields in table order: try the member's own position first. */
        size_t k = i < n && key_is(m, fields[i].name) ? i : 0;
        while (k < n && !key_is(m, fields[k].name))
            k++;
        if (k == n)
            return sm_errf(err, SM_EINVAL,
                           "invalid %s: unknown field '%.60s'; the client and the server must "
                           "be the same version of sematic",
                           rec, m->key);
        if (seen & ((uint64_t)1 << k))
            return sm_errf(err, SM_EINVAL, "invalid %s: field '%s' appears twice", rec,
                           fields[k].name);
        seen |= (uint64_t)1 << k;
        int rc = read_field(rec, &fields[k], m, out, err);
        if (rc < 0)
            return rc;
    }
    for (size_t k = 0; k < n; k++)
        if (!(seen & ((uint64_t)1 << k)))
            return sm_errf(err, SM_EINVAL,
                           "invalid %s: field '%s' is missing; every field of the record is "
                           "required (include/sematic/rec_json.h)",
                           rec, fields[k].name);
    return 0;
}

int sm_rec_json_read_run(const struct sm_json *v, struct sm_run_rec *out, struct sm_err *err)
{
    return read_fields("run", v, out, sizeof(*out), run_fields, N_FIELDS(run_fields), err);
}

int sm_rec_json_read_artifact(const struct sm_json *v, struct sm_artifact_rec *out,
                              struct sm_err *err)
{
    return read_fields("artifact", v, out, sizeof(*out), artifact_fields, N_FIELDS(artifact_fields),
                       err);
}

int sm_rec_json_read_edge(const struct sm_json *v, struct sm_edge_rec *out, struct sm_err *err)
{
    return read_fields("edge", v, out, sizeof(*out), edge_fields, N_FIELDS(edge_fields), err);
}

int sm_rec_json_read_pipeline(const struct sm_json *v, struct sm_pipeline_rec *out,
                              struct sm_err *err)
{
    return read_fields("pipeline run", v, out, sizeof(*out), pipeline_fields,
                       N_FIELDS(pipeline_fields), err);
}

int sm_rec_json_read_log(const struct sm_json *v, struct sm_log_rec *out, struct sm_err *err)
{
    return read_fields("log line", v, out, sizeof(*out), log_fields, N_FIELDS(log_fields), err);
}

/* ------------------------------------------------------------ base64 */

/* The value of base64 character c, or -1. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int sm_rec_json_read_base64(const struct sm_json *v, const char *what, struct sm_buf *out,
                            struct sm_err *err)
{
    if (v == NULL || v->kind != SM_JSON_STRING)
        return sm_errf(err, SM_EINVAL, "invalid %s: expected a base64 string, got %s", what,
                       v ? kind_text(v) : "nothing");
    const unsigned char *s = (const unsigned char *)v->str;
    size_t n = v->len;
    if (n % 4 != 0)
        return sm_errf(err, SM_EINVAL,
                       "invalid %s: %zu base64 characters, not a multiple of 4; send padded "
                       "base64 (RFC 4648)",
                       what, n);
    if (sm_buf_reserve(out, n / 4 * 3) < 0)
        return sm_errf(err, SM_ETOOBIG, "invalid %s: %zu bytes are over the cap of %zu bytes", what,
                       n / 4 * 3, out->max_len);
    for (size_t i = 0; i < n; i += 4) {
        int q[4];
        size_t n_pad = 0;
        for (size_t k = 0; k < 4; k++) {
            unsigned char c = s[i + k];
            if (c == '=' && i + 4 == n && k >= 2 && (k == 3 || s[i + 3] == '=')) {
                q[k] = 0;
                n_pad++;
                continue;
            }
            q[k] = b64_value(c);
            if (q[k] < 0 || n_pad > 0)
                return sm_errf(err, SM_EINVAL,
                               "invalid %s: character %zu (byte 0x%02x) is not base64; send "
                               "standard padded base64 (RFC 4648)",
                               what, i + k, c);
        }
        unsigned x =
            (unsigned)q[0] << 18 | (unsigned)q[1] << 12 | (unsigned)q[2] << 6 | (unsigned)q[3];
        /* Canonical form only: the bits that padding leaves over must be zero. */
        if ((n_pad == 1 && (x & 0xff) != 0) || (n_pad == 2 && (x & 0xffff) != 0))
            return sm_errf(err, SM_EINVAL,
                           "invalid %s: the last group '%.4s' has non-zero padding bits; send "
                           "canonical base64 (RFC 4648)",
                           what, (const char *)s + i);
        char bytes[3] = {(char)(x >> 16), (char)(x >> 8), (char)x};
        sm_buf_add(out, bytes, 3 - n_pad); /* reserved above: cannot fail */
    }
    return 0;
}

/* ------------------------------------------------------------ operations */

/*
 * The members `key` (and `extra`, when not NULL) of operation object v, each
 * required; SM_EINVAL for any other key, or a key given twice.
 */
static int op_members(const struct sm_json *v, const char *kind, const char *key, const char *extra,
                      const struct sm_json **value, const struct sm_json **extra_value,
                      struct sm_err *err)
{
    const struct sm_json *op = NULL;
    *value = NULL;
    if (extra_value)
        *extra_value = NULL;
    for (size_t i = 0; i < v->n_items; i++) {
        const struct sm_json *m = &v->items[i];
        const struct sm_json **slot = NULL;
        if (key_is(m, "op"))
            slot = &op;
        else if (key_is(m, key))
            slot = value;
        else if (extra && key_is(m, extra))
            slot = extra_value;
        if (slot == NULL)
            return sm_errf(
                err, SM_EINVAL,
                "invalid %s operation: unknown key '%.60s'; it takes \"op\", \"%s\"%s%s%s", kind,
                m->key, key, extra ? " and \"" : "", extra ? extra : "", extra ? "\"" : "");
        if (*slot != NULL)
            return sm_errf(err, SM_EINVAL, "invalid %s operation: key '%s' appears twice", kind,
                           m->key);
        *slot = m;
    }
    if (*value == NULL)
        return sm_errf(err, SM_EINVAL, "invalid %s operation: key '%s' is missing", kind, key);
    if (extra && *extra_value == NULL)
        return sm_errf(err, SM_EINVAL, "invalid %s operation: key '%s' is missing", kind, extra);
    return 0;
}

int sm_rec_json_read_op(const struct sm_json *v, struct sm_rec_op *op, struct sm_buf *payload,
                        struct sm_err *err)
{
    memset(op, 0, sizeof(*op));
    if (v == NULL || v->kind != SM_JSON_OBJECT)
        return sm_errf(err, SM_EINVAL, "invalid operation: expected a JSON object, got %s",
                       v ? kind_text(v) : "nothing");
    const struct sm_json *kind = sm_json_get(v, "op");
    if (kind == NULL || kind->kind != SM_JSON_STRING)
        return sm_errf(err, SM_EINVAL,
                       "invalid operation: key 'op' is %s; expected one of \"run\", "
                       "\"artifact\", \"edge\", \"pipeline\", \"source\", \"log\"",
                       kind ? kind_text(kind) : "missing");
    int k = 0;
    while (k < SM_REC_OP_KIND_COUNT && strcmp(op_names[k], kind->str) != 0)
        k++;
    if (k == SM_REC_OP_KIND_COUNT)
        return sm_errf(err, SM_EINVAL,
                       "invalid operation '%.60s': expected one of \"run\", \"artifact\", "
                       "\"edge\", \"pipeline\", \"source\", \"log\"",
                       kind->str);
    op->kind = (enum sm_rec_op_kind)k;
    const char *name = op_names[k];
    const struct sm_json *rec, *extra;
    int rc;
    switch (op->kind) {
    case SM_REC_OP_RUN:
        rc = op_members(v, name, name, NULL, &rec, NULL, err);
        return rc ? rc : sm_rec_json_read_run(rec, &op->u.run, err);
    case SM_REC_OP_ARTIFACT:
        rc = op_members(v, name, name, "payload", &rec, &extra, err);
        if (rc == 0)
            rc = sm_rec_json_read_artifact(rec, &op->u.artifact.rec, err);
        if (rc != 0)
            return rc;
        sm_buf_reset(payload);
        rc = sm_rec_json_read_base64(extra, "artifact payload", payload, err);
        if (rc != 0)
            return rc;
        op->u.artifact.payload = payload->data ? payload->data : "";
        op->u.artifact.len = payload->len;
        return 0;
    case SM_REC_OP_EDGE:
        rc = op_members(v, name, name, NULL, &rec, NULL, err);
        return rc ? rc : sm_rec_json_read_edge(rec, &op->u.edge, err);
    case SM_REC_OP_PIPELINE:
        rc = op_members(v, name, name, NULL, &rec, NULL, err);
        return rc ? rc : sm_rec_json_read_pipeline(rec, &op->u.pipeline, err);
    case SM_REC_OP_SOURCE:
        rc = op_members(v, name, "text", NULL, &rec, NULL, err);
        if (rc != 0)
            return rc;
        if (rec->kind != SM_JSON_STRING)
            return wrong_type("source", "text", "a string", rec, err);
        op->u.source.text = rec->str;
        op->u.source.len = rec->len;
        return 0;
    case SM_REC_OP_LOG:
        rc = op_members(v, name, name, NULL, &rec, NULL, err);
        return rc ? rc : sm_rec_json_read_log(rec, &op->u.log, err);
    }
    return sm_errf(err, SM_EINVAL, "invalid operation '%s'", name);
}
