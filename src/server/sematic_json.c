/*
 * sematic_json.c: Sematic 0.41's JSON forms of runs, artifacts, edges and
 * resolutions, read into and written from the store's records. The
 * contracts are in sematic_json.h; start there.
 *
 * Readers go field by field through small typed getters (get_text,
 * get_id, get_time, ...) that know the record (`where`, the id once read)
 * and say what the field must be, so every message names the record, the
 * field, what came and what to send. Writers write keys in sorted order by
 * hand: Sematic's server answers through Flask's jsonify, which sorts
 * keys, and the real client and dashboard compare nothing else.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sematic/alloc.h"
#include "sematic/graph.h"
#include "sematic/hash.h"

#include "internal.h"
#include "sematic_json.h"

#include "util/banned.h"

/* ------------------------------------------------------------ the pool */

void sm__sj_pool_release(struct sm_sj_pool *pool)
{
    if (pool == NULL)
        return;
    for (size_t i = 0; i < pool->n; i++)
        sm_free(pool->items[i]);
    sm_free(pool->items);
    pool->items = NULL;
    pool->n = pool->cap = 0;
}

static char *pool_keep(struct sm_sj_pool *pool, char *s)
{
    if (pool->n == pool->cap) {
        pool->cap = pool->cap ? pool->cap * 2 : 16;
        pool->items = sm_xrealloc(pool->items, pool->cap * sizeof(*pool->items));
    }
    pool->items[pool->n++] = s;
    return s;
}

char *sm__sj_pool_strndup(struct sm_sj_pool *pool, const char *s, size_t len)
{
    char *copy = sm_xmalloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    return pool_keep(pool, copy);
}

static const char *pool_strdup_or_null(struct sm_sj_pool *pool, const char *s)
{
    return s ? sm__sj_pool_strndup(pool, s, strlen(s)) : NULL;
}

/* ------------------------------------------------------------ sorted JSON */

struct member_ref {
    const struct sm_json *m;
    size_t index;
};

static int compare_members(const void *a, const void *b)
{
    const struct member_ref *x = a, *y = b;
    size_t n = x->m->key_len < y->m->key_len ? x->m->key_len : y->m->key_len;
    int c = memcmp(x->m->key, y->m->key, n);
    if (c != 0)
        return c;
    if (x->m->key_len != y->m->key_len)
        return x->m->key_len < y->m->key_len ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index; /* stable for duplicates */
}

void sm__sj_write_sorted(struct sm_jw *w, const struct sm_json *v)
{
    switch (v->kind) {
    case SM_JSON_NULL:
        sm_jw_null(w);
        return;
    case SM_JSON_BOOL:
        sm_jw_bool(w, v->boolean);
        return;
    case SM_JSON_NUMBER:
        sm_jw_raw(w, v->str, v->len); /* the number's text, as it came */
        return;
    case SM_JSON_STRING:
        sm_jw_string(w, v->str, v->len);
        return;
    case SM_JSON_ARRAY:
        sm_jw_begin_array(w);
        for (size_t i = 0; i < v->n_items; i++)
            sm__sj_write_sorted(w, &v->items[i]);
        sm_jw_end_array(w);
        return;
    case SM_JSON_OBJECT: {
        struct member_ref stack_refs[16];
        struct member_ref *refs =
            v->n_items <= 16 ? stack_refs : sm_xmalloc(v->n_items * sizeof(*refs));
        for (size_t i = 0; i < v->n_items; i++)
            refs[i] = (struct member_ref){&v->items[i], i};
        qsort(refs, v->n_items, sizeof(*refs), compare_members);
        sm_jw_begin_object(w);
        for (size_t i = 0; i < v->n_items; i++) {
            sm_jw_key(w, refs[i].m->key, refs[i].m->key_len);
            sm__sj_write_sorted(w, refs[i].m);
        }
        sm_jw_end_object(w);
        if (refs != stack_refs)
            sm_free(refs);
        return;
    }
    }
}

const char *sm__sj_sorted_text(struct sm_sj_pool *pool, const struct sm_json *v)
{
    if (v == NULL || v->kind == SM_JSON_NULL)
        return NULL;
    struct sm_buf b = SM_BUF_INIT((size_t)1 << 30);
    struct sm_jw w;
    sm_jw_init(&w, &b);
    sm__sj_write_sorted(&w, v);
    /* A parsed document always writes back (valid UTF-8, bounded depth). */
    if (sm_jw_finish(&w, NULL) != 0 || b.data == NULL) {
        sm_buf_release(&b);
        return sm__sj_pool_strndup(pool, "null", 4);
    }
    size_t len;
    return pool_keep(pool, sm_buf_detach(&b, &len));
}

/* ------------------------------------------------------------ times */

/* Year, month, day of a day count from 1970-01-01 (proleptic Gregorian; no gmtime call). */
static void civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    days += 719468; /* from 0000-03-01, so leap days come last in a year */
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;                                   /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* "00" to "99": two digits per division (a graph of 100,000 runs writes a million times). */
static const char digit_pairs[] = "00010203040506070809101112131415161718192021222324252627282930"
                                  "31323334353637383940414243444546474849505152535455565758596061"
                                  "6263646566676869707172737475767778798081828384858687888990919293"
                                  "949596979899";

static char *put_digits(char *p, int64_t v, int n)
{
    int i = n;
    while (i >= 2) {
        memcpy(p + i - 2, digit_pairs + 2 * (v % 100), 2);
        v /= 100;
        i -= 2;
    }
    if (i == 1)
        p[0] = (char)('0' + v % 10);
    return p + n;
}

/* The text of sm__sj_format_time into out (at least 40 bytes); returns its length. */
static size_t format_time(int64_t us, char *out)
{
    int64_t secs = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days -= 1;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) { /* no such times are stored; keep the text well-formed anyway */
        y = y < 0 ? 0 : 9999;
    }
    char *p = out;
    p = put_digits(p, y, 4);
    *p++ = '-';
    p = put_digits(p, m, 2);
    *p++ = '-';
    p = put_digits(p, d, 2);
    *p++ = 'T';
    p = put_digits(p, sod / 3600, 2);
    *p++ = ':';
    p = put_digits(p, sod / 60 % 60, 2);
    *p++ = ':';
    p = put_digits(p, sod % 60, 2);
    if (frac != 0) {
        *p++ = '.';
        p = put_digits(p, frac, 6);
    }
    memcpy(p, "+00:00", 7);
    return (size_t)(p - out) + 6;
}

void sm__sj_format_time(int64_t us, char out[40])
{
    format_time(us, out);
}

/* ------------------------------------------------------------ descriptions */

/* What Python's str.strip() removes, in ASCII (and the separators \x1c-\x1f it also counts). */
static bool is_py_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f');
}

const char *sm__sj_strip_description(struct sm_sj_pool *pool, const char *text)
{
    if (text == NULL)
        return NULL;
    size_t start = 0, end = strlen(text);
    while (start < end && is_py_space(text[start]))
        start++;
    while (end > start && is_py_space(text[end - 1]))
        end--;
    char *out = sm__sj_pool_strndup(pool, text + start, end - start);
    /* re.sub(r"\n( {4}|\t)", "\n", ...): left to right, matches do not overlap. */
    size_t n = 0;
    for (size_t i = 0; out[i] != '\0';) {
        out[n++] = out[i];
        if (out[i] == '\n') {
            if (strncmp(out + i + 1, "    ", 4) == 0)
                i += 5;
            else if (out[i + 1] == '\t')
                i += 2;
            else
                i += 1;
        } else {
            i++;
        }
    }
    out[n] = '\0';
    return out;
}

/* ------------------------------------------------------------ readers */

/* Where a field is: the record ("graph.runs[3]") and its id once read. */
struct rec_ctx {
    const char *where;
    const char *kind; /* "run", "artifact", "edge", "resolution" */
    const char *id;   /* NULL until read */
    const struct sm_json *obj;
    struct sm_sj_pool *pool;
    struct sm_err *err;
};

static const char *kind_name(enum sm_json_kind k)
{
    switch (k) {
    case SM_JSON_NULL:
        return "null";
    case SM_JSON_BOOL:
        return "a boolean";
    case SM_JSON_NUMBER:
        return "a number";
    case SM_JSON_STRING:
        return "a string";
    case SM_JSON_ARRAY:
        return "a list";
    case SM_JSON_OBJECT:
        return "an object";
    }
    return "?";
}

/* "graph.runs[3] (run '5983...')" or "graph.runs[3]". */
static void rec_name(const struct rec_ctx *c, char *out, size_t size)
{
    if (c->id != NULL)
        snprintf(out, size, "%s (%s '%.64s')", c->where, c->kind, c->id);
    else
        snprintf(out, size, "%s", c->where);
}

static int field_errf(const struct rec_ctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int field_errf(const struct rec_ctx *c, const char *field, const char *fmt, ...)
{
    char name[160], why[320];
    rec_name(c, name, sizeof(name));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return sm_errf(c->err, SM_EINVAL, "invalid %s: '%s' %s", name, field, why);
}

/* Quote a client's string for a message: the first 40 bytes, cut on a character boundary. */
static void quote(const struct sm_json *v, char out[48])
{
    size_t n = v->len < 40 ? v->len : 40;
    while (n > 0 && n < v->len && ((unsigned char)v->str[n] & 0xC0) == 0x80)
        n--;
    snprintf(out, 48, "%.*s%s", (int)n, v->str, n < v->len ? "..." : "");
}

/* Member `field`, NULL when absent or null; a required one missing is an error. */
static int get_member(const struct rec_ctx *c, const char *field, bool required,
                      const struct sm_json **out)
{
    const struct sm_json *v = sm_json_get(c->obj, field);
    *out = v && v->kind != SM_JSON_NULL ? v : NULL;
    if (*out == NULL && required)
        return field_errf(c, field, "is %s; every %s needs one", v ? "null" : "missing", c->kind);
    return 0;
}

/* A text field (NULL when null or absent), with no NUL inside. */
static int get_text(const struct rec_ctx *c, const char *field, bool required, const char **out)
{
    const struct sm_json *v;
    int rc = get_member(c, field, required, &v);
    *out = NULL;
    if (rc != 0 || v == NULL)
        return rc;
    if (v->kind != SM_JSON_STRING)
        return field_errf(c, field, "must be a string or null, got %s", kind_name(v->kind));
    if (strlen(v->str) != v->len)
        return field_errf(c, field, "must not contain NUL characters ('\\u0000')");
    *out = v->str;
    return 0;
}

/* An id of len hex digits into out ("" when null or absent). */
static int get_id(const struct rec_ctx *c, const char *field, bool required, size_t len,
                  const char *what, char *out)
{
    const char *text;
    out[0] = '\0';
    int rc = get_text(c, field, required, &text);
    if (rc != 0 || text == NULL)
        return rc;
    if (strlen(text) != len || !sm_is_hex(text, len)) {
        char shown[48];
        quote(sm_json_get(c->obj, field), shown);
        return field_errf(c, field, "must be %zu lower-case hex digits (%s), got '%s'", len, what,
                          shown);
    }
    memcpy(out, text, len + 1);
    return 0;
}

/* An artifact id: Sematic's 40 hex or ours, 64. */
static int get_artifact_id(const struct rec_ctx *c, const char *field, bool required,
                           char out[SM_SHA256_HEX_LEN + 1])
{
    const char *text;
    out[0] = '\0';
    int rc = get_text(c, field, required, &text);
    if (rc != 0 || text == NULL)
        return rc;
    size_t n = strlen(text);
    if ((n != SM_SHA1_HEX_LEN && n != SM_SHA256_HEX_LEN) || !sm_is_hex(text, n)) {
        char shown[48];
        quote(sm_json_get(c->obj, field), shown);
        return field_errf(c, field,
                          "must be an artifact id: 40 lower-case hex digits (Sematic's SHA-1) or "
                          "64 (ours, SHA-256), got '%s'",
                          shown);
    }
    memcpy(out, text, n + 1);
    return 0;
}

/* A time (ISO-8601 text) in microseconds; dflt when null or absent. */
static int get_time(const struct rec_ctx *c, const char *field, int64_t dflt, int64_t *out)
{
    const char *text;
    *out = dflt;
    int rc = get_text(c, field, false, &text);
    if (rc != 0 || text == NULL)
        return rc;
    struct sm_err terr = SM_ERR_INIT;
    if (sm_parse_time_us(text, strlen(text), out, &terr) != 0) {
        char shown[48];
        quote(sm_json_get(c->obj, field), shown);
        return field_errf(c, field,
                          "must be an ISO-8601 time such as '2026-11-23T00:20:47.747800+00:00', "
                          "got '%s'",
                          shown);
    }
    if (*out == 0)
        *out = 1; /* 0 means "none" in the store; the epoch itself is one microsecond off */
    return 0;
}

/* A JSON field kept as sorted text: an object (objects_only) or any value; NULL when null. */
static int get_json_text(const struct rec_ctx *c, const char *field, bool objects_only,
                         const char **out)
{
    const struct sm_json *v;
    *out = NULL;
    int rc = get_member(c, field, false, &v);
    if (rc != 0 || v == NULL)
        return rc;
    if (objects_only && v->kind != SM_JSON_OBJECT)
        return field_errf(c, field, "must be an object or null, got %s", kind_name(v->kind));
    *out = sm__sj_sorted_text(c->pool, v);
    return 0;
}

static int get_tags(const struct rec_ctx *c, const char **out)
{
    const struct sm_json *v;
    *out = "[]";
    int rc = get_member(c, "tags", false, &v);
    if (rc != 0 || v == NULL)
        return rc;
    if (v->kind != SM_JSON_ARRAY)
        return field_errf(c, "tags", "must be a list of strings, got %s", kind_name(v->kind));
    for (size_t i = 0; i < v->n_items; i++) {
        if (v->items[i].kind != SM_JSON_STRING)
            return field_errf(c, "tags", "must be a list of strings, but item %zu is %s", i,
                              kind_name(v->items[i].kind));
    }
    *out = sm__sj_sorted_text(c->pool, v);
    return 0;
}

static int check_object(const struct sm_json *v, const char *where, const char *kind,
                        struct sm_err *err)
{
    if (v == NULL || v->kind != SM_JSON_OBJECT)
        return sm_errf(err, SM_EINVAL, "invalid %s: a %s must be a JSON object, got %s", where,
                       kind, v ? kind_name(v->kind) : "nothing");
    return 0;
}

/* The state of its name, or -1. */
static int state_parse(const char *name)
{
    for (int s = 0; s < SM_STATE_COUNT; s++)
        if (strcmp(name, sm_state_name((enum sm_state)s)) == 0)
            return s;
    return -1;
}

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int try_rc_ = (expr);                                                                      \
        if (try_rc_ != 0)                                                                          \
            return try_rc_;                                                                        \
    } while (0)

int sm__sj_run_from_json(const struct sm_json *v, const char *where, int64_t now_us,
                         struct sm_sj_pool *pool, struct sm_sj_run *out, struct sm_err *err)
{
    memset(out, 0, sizeof(*out));
    TRY(check_object(v, where, "run", err));
    struct rec_ctx c = {where, "run", NULL, v, pool, err};
    struct sm_run_rec *r = &out->rec;
    TRY(get_id(&c, "id", true, SM_ID_HEX_LEN, "a run id", r->id));
    c.id = r->id;
    TRY(get_id(&c, "root_id", true, SM_ID_HEX_LEN, "the root run's id", r->root_id));
    TRY(get_id(&c, "parent_id", false, SM_ID_HEX_LEN, "the parent run's id", r->parent_id));
    TRY(get_id(&c, "nested_future_id", false, SM_ID_HEX_LEN, "a future id", r->nested_id));
    TRY(get_id(&c, "original_run_id", false, SM_ID_HEX_LEN, "a run id", r->original_run_id));

    const char *state;
    TRY(get_text(&c, "future_state", true, &state));
    r->state = state_parse(state);
    if (r->state < 0) {
        char shown[48];
        quote(sm_json_get(v, "future_state"), shown);
        return field_errf(&c, "future_state",
                          "must be one of CREATED, SCHEDULED, RAN, RESOLVED, FAILED, "
                          "NESTED_FAILED, RETRYING, CANCELED, got '%s'",
                          shown);
    }
    TRY(get_text(&c, "function_path", true, &r->function_path));
    if (r->function_path[0] == '\0')
        return field_errf(&c, "function_path", "is empty; send the function's module.qualname");
    TRY(get_text(&c, "name", false, &r->name));
    if (r->name == NULL)
        r->name = "";
    const char *description;
    TRY(get_text(&c, "description", false, &description));
    r->description = sm__sj_strip_description(pool, description);
    TRY(get_tags(&c, &r->tags_json));

    const struct sm_json *src;
    TRY(get_member(&c, "source_code", false, &src));
    if (src != NULL) {
        if (src->kind != SM_JSON_STRING)
            return field_errf(&c, "source_code", "must be a string or null, got %s",
                              kind_name(src->kind));
        out->source_code = src->str;
        out->source_len = src->len;
    }
    TRY(get_text(&c, "cache_key", false, &r->cache_key));
    TRY(get_json_text(&c, "exception_metadata_json", true, &r->exception_json));
    TRY(get_json_text(&c, "external_exception_metadata_json", true, &r->external_exception_json));
    TRY(get_json_text(&c, "resource_requirements_json", false, &r->resource_requirements_json));
    const char *ignored;
    TRY(get_text(&c, "container_image_uri", false, &ignored));
    TRY(get_text(&c, "user_id", false, &ignored));
    TRY(get_text(&c, "organization_id", false, &ignored));

    TRY(get_time(&c, "created_at", now_us, &r->created_at));
    TRY(get_time(&c, "updated_at", now_us, &r->updated_at));
    TRY(get_time(&c, "started_at", 0, &r->started_at));
    TRY(get_time(&c, "ended_at", 0, &r->ended_at));
    TRY(get_time(&c, "resolved_at", 0, &r->resolved_at));
    TRY(get_time(&c, "failed_at", 0, &r->failed_at));
    r->is_inline = true; /* Sematic's runs do not say; standalone ones carry resources */
    return 0;
}

int sm__sj_artifact_from_json(const struct sm_json *v, const char *where, int64_t now_us,
                              struct sm_sj_pool *pool, struct sm_artifact_rec *out,
                              struct sm_err *err)
{
    memset(out, 0, sizeof(*out));
    TRY(check_object(v, where, "artifact", err));
    struct rec_ctx c = {where, "artifact", NULL, v, pool, err};
    TRY(get_artifact_id(&c, "id", true, out->id));
    c.id = out->id;
    const struct sm_json *type;
    TRY(get_member(&c, "type_serialization", true, &type));
    if (type->kind != SM_JSON_OBJECT)
        return field_errf(&c, "type_serialization", "must be an object, got %s",
                          kind_name(type->kind));
    out->type_json = sm__sj_sorted_text(pool, type);
    if (sm_json_get(v, "json_summary") == NULL)
        return field_errf(&c, "json_summary",
                          "is missing; every artifact needs its summary (null is allowed)");
    const struct sm_json *summary = sm_json_get(v, "json_summary");
    out->summary_json = summary->kind == SM_JSON_NULL ? "null" : sm__sj_sorted_text(pool, summary);
    TRY(get_time(&c, "created_at", now_us, &out->created_at));
    int64_t ignored_time;
    TRY(get_time(&c, "updated_at", now_us, &ignored_time));
    const char *ignored;
    TRY(get_text(&c, "organization_id", false, &ignored));
    return 0;
}

int sm__sj_edge_from_json(const struct sm_json *v, const char *where, int64_t now_us,
                          struct sm_sj_pool *pool, struct sm_edge_rec *out, struct sm_err *err)
{
    memset(out, 0, sizeof(*out));
    TRY(check_object(v, where, "edge", err));
    struct rec_ctx c = {where, "edge", NULL, v, pool, err};
    TRY(get_id(&c, "id", true, SM_ID_HEX_LEN, "an edge id", out->id));
    c.id = out->id;
    TRY(get_id(&c, "source_run_id", false, SM_ID_HEX_LEN, "a run id", out->source_run_id));
    TRY(get_id(&c, "destination_run_id", false, SM_ID_HEX_LEN, "a run id",
               out->destination_run_id));
    TRY(get_id(&c, "parent_id", false, SM_ID_HEX_LEN, "an edge id", out->parent_id));
    TRY(get_artifact_id(&c, "artifact_id", false, out->artifact_id));
    TRY(get_text(&c, "destination_name", false, &out->destination_name));
    const char *ignored;
    TRY(get_text(&c, "source_name", false, &ignored));
    if (!out->source_run_id[0] && !out->destination_run_id[0])
        return field_errf(&c, "source_run_id",
                          "and 'destination_run_id' are both null; an edge joins at least one run");
    TRY(get_time(&c, "created_at", now_us, &out->created_at));
    TRY(get_time(&c, "updated_at", now_us, &out->updated_at));
    return 0;
}

/* Text or null, checked and dropped (fields the store does not keep). */
static int check_ignored_text(const struct rec_ctx *c, const char *field)
{
    const char *ignored;
    return get_text(c, field, false, &ignored);
}

int sm__sj_resolution_from_json(const struct sm_json *v, const char *where, struct sm_sj_pool *pool,
                                struct sm_sj_resolution *out, struct sm_err *err)
{
    memset(out, 0, sizeof(*out));
    TRY(check_object(v, where, "resolution", err));
    struct rec_ctx c = {where, "resolution", NULL, v, pool, err};
    struct sm_pipeline_rec *p = &out->rec;
    TRY(get_id(&c, "root_id", true, SM_ID_HEX_LEN, "the root run's id", p->root_id));
    c.id = p->root_id;
    const char *status;
    TRY(get_text(&c, "status", true, &status));
    p->status = sm_pipeline_status_parse(status);
    if (p->status < 0) {
        char shown[48];
        quote(sm_json_get(v, "status"), shown);
        return field_errf(&c, "status",
                          "must be one of CREATED, SCHEDULED, RUNNING, FAILED, COMPLETE, "
                          "CANCELED, got '%s'",
                          shown);
    }
    TRY(get_text(&c, "kind", true, &p->kind));
    if (strcmp(p->kind, "LOCAL") != 0 && strcmp(p->kind, "KUBERNETES") != 0 &&
        strcmp(p->kind, "SILENT") != 0 && strcmp(p->kind, "CLUSTER") != 0) {
        char shown[48];
        quote(sm_json_get(v, "kind"), shown);
        return field_errf(&c, "kind", "must be LOCAL or KUBERNETES, got '%s'", shown);
    }
    TRY(get_json_text(&c, "git_info_json", true, &p->git_json));

    const struct sm_json *env;
    TRY(get_member(&c, "settings_env_vars", false, &env));
    if (env != NULL) {
        if (env->kind != SM_JSON_OBJECT)
            return field_errf(&c, "settings_env_vars",
                              "must be an object of strings or null, got %s", kind_name(env->kind));
        for (size_t i = 0; i < env->n_items; i++)
            if (env->items[i].kind != SM_JSON_STRING)
                return field_errf(&c, "settings_env_vars",
                                  "must be an object of strings, but the value of '%.40s' is %s",
                                  env->items[i].key, kind_name(env->items[i].kind));
        p->settings_json = sm__sj_sorted_text(pool, env);
    }
    TRY(get_text(&c, "client_version", false, &p->client_version));
    TRY(get_text(&c, "cache_namespace", false, &p->cache_namespace));
    TRY(get_text(&c, "run_command", false, &p->run_command));
    TRY(get_text(&c, "user_id", false, &p->user));

    const char *image;
    TRY(get_text(&c, "container_image_uri", false, &image));
    out->has_container_image_uri = image != NULL;
    const struct sm_json *uris;
    TRY(get_member(&c, "container_image_uris", false, &uris));
    if (uris != NULL && uris->kind != SM_JSON_OBJECT)
        return field_errf(&c, "container_image_uris", "must be an object or null, got %s",
                          kind_name(uris->kind));
    TRY(check_ignored_text(&c, "build_config"));
    TRY(check_ignored_text(&c, "organization_id"));
    const char *ignored;
    TRY(get_json_text(&c, "resource_requirements_json", false, &ignored));
    return 0;
}

/* ------------------------------------------------------------ writers */

/*
 * Records are written as one piece of JSON text each by the small appenders
 * below, straight into the caller's writer's buffer once sm_jw_raw() has
 * placed the comma: a graph holds hundreds of thousands of records, and the
 * general writer's per-key and per-byte bookkeeping was most of the time of
 * GET .../graph (and a row buffer copied into the writer's, 180 MB for
 * 100,000 runs, a tenth of what was left). Keys are literals in sorted
 * order; ids are hex and times digits, so only texts are escaped.
 */
struct row {
    struct sm_buf *b;  /* the writer's buffer, or own */
    struct sm_buf own; /* sm__sj_encode_text's */
    bool failed;       /* out of room: the writer's sticky error says so at row_finish() */
};

#define ROW_MAX_BYTES ((size_t)1 << 30)

/* A row of its own (sm__sj_encode_text). */
static void row_init(struct row *r)
{
    sm_buf_init(&r->own, ROW_MAX_BYTES);
    r->b = &r->own;
    r->failed = sm_buf_reserve(r->b, 2048) != 0;
}

/* A record written into w's output, after the comma w places. */
static void row_init_into(struct row *r, struct sm_jw *w)
{
    sm_buf_init(&r->own, 0);
    sm_jw_raw(w, "", 0);
    r->b = w->out;
    r->failed = w->code != 0 || sm_buf_reserve(r->b, 2048) != 0;
}

static void put(struct row *r, const char *s, size_t n)
{
    struct sm_buf *b = r->b;
    /* Room already (len + n + 1 <= alloc, within the cap): most of ~50 pieces a record. */
    if (!r->failed && n < b->alloc - b->len && n <= b->max_len - b->len) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
        return;
    }
    if (!r->failed && sm_buf_add(b, s, n) != 0)
        r->failed = true;
}

#define PUT_LIT(r, lit) put((r), (lit), sizeof(lit) - 1)

/* ,"key": (the first key of an object has no comma: the literal says so) */
#define KEY(r, lit) PUT_LIT((r), lit)

static void put_null(struct row *r)
{
    PUT_LIT(r, "null");
}

static void put_id(struct row *r, const char *id)
{
    if (id == NULL || id[0] == '\0') {
        put_null(r);
        return;
    }
    put(r, "\"", 1);
    put(r, id, strlen(id));
    put(r, "\"", 1);
}

static void put_time(struct row *r, int64_t us)
{
    if (us == 0) {
        put_null(r);
        return;
    }
    char text[48];
    text[0] = '"';
    size_t n = format_time(us, text + 1);
    text[n + 1] = '"';
    put(r, text, n + 2);
}

/* A JSON string of s (len bytes). Invalid UTF-8 (never stored by our writers) is sanitized. */
static void put_text_len(struct row *r, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    bool has_high = false;
    for (size_t i = 0; i < len && !has_high; i++)
        has_high = p[i] >= 0x80;
    char *clean = NULL;
    if (has_high && !sm__http_is_utf8(s, len)) {
        clean = sm_xmalloc(len + 1);
        char *tmp = sm_xmalloc(len + 1);
        memcpy(tmp, s, len);
        tmp[len] = '\0';
        sm__http_sanitize(tmp, clean, len + 1);
        sm_free(tmp);
        s = clean;
        len = strlen(clean);
        p = (const unsigned char *)s;
    }
    put(r, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(r, s + run, i - run);
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        put(r, esc, n);
        run = i + 1;
    }
    put(r, s + run, len - run);
    put(r, "\"", 1);
    sm_free(clean);
}

static void put_text(struct row *r, const char *s)
{
    if (s == NULL)
        put_null(r);
    else
        put_text_len(r, s, strlen(s));
}

/* Stored JSON text (ours: valid, compact), as it is; null for NULL. */
static void put_raw(struct row *r, const char *json)
{
    if (json == NULL)
        put_null(r);
    else
        put(r, json, strlen(json));
}

/*
 * Stored JSON text re-written with sorted keys (objects our own runner wrote
 * may be in another order); as it is when it is no object or does not parse.
 */
static void put_json_sorted(struct row *r, const char *json)
{
    if (json == NULL || json[0] != '{') {
        put_raw(r, json);
        return;
    }
    struct sm_json_doc doc = {0};
    if (r->failed || sm_json_parse(&doc, json, strlen(json), NULL) != 0) {
        put_raw(r, json);
        return;
    }
    struct sm_jw w;
    sm_jw_init(&w, r->b);
    sm__sj_write_sorted(&w, doc.root);
    if (sm_jw_finish(&w, NULL) != 0)
        r->failed = true;
    sm_json_doc_release(&doc);
}

/* The record is in w's output; a failure to fit becomes w's sticky error (json.h). */
static void row_finish(struct row *r, struct sm_jw *w)
{
    if (r->failed && w->code == 0) {
        w->code = SM_ETOOBIG;
        snprintf(w->msg, sizeof(w->msg), "JSON text is larger than its cap of %zu bytes",
                 w->out->max_len);
    }
}

static void write_run(struct sm_jw *w, const struct sm_run_rec *r, const char *source,
                      size_t source_len, bool is_encoded);

void sm__sj_write_run(struct sm_jw *w, const struct sm_run_rec *r, const char *source,
                      size_t source_len)
{
    write_run(w, r, source, source_len, false);
}

void sm__sj_write_run_encoded(struct sm_jw *w, const struct sm_run_rec *r, const char *source_json,
                              size_t len)
{
    write_run(w, r, source_json, len, true);
}

int sm__sj_encode_text(const char *s, size_t len, struct sm_buf *out)
{
    struct row o;
    row_init(&o);
    put_text_len(&o, s, len);
    int rc = o.failed ? SM_ETOOBIG : sm_buf_add(out, o.own.data, o.own.len);
    sm_buf_release(&o.own);
    return rc;
}

static void write_run(struct sm_jw *w, const struct sm_run_rec *r, const char *source,
                      size_t source_len, bool is_encoded)
{
    struct row o;
    row_init_into(&o, w);
    KEY(&o, "{\"cache_key\":");
    put_text(&o, r->cache_key);
    KEY(&o, ",\"container_image_uri\":null,\"created_at\":");
    put_time(&o, r->created_at);
    KEY(&o, ",\"description\":");
    put_text(&o, r->description);
    KEY(&o, ",\"ended_at\":");
    put_time(&o, r->ended_at);
    KEY(&o, ",\"exception_metadata_json\":");
    put_json_sorted(&o, r->exception_json);
    KEY(&o, ",\"external_exception_metadata_json\":");
    put_json_sorted(&o, r->external_exception_json);
    KEY(&o, ",\"failed_at\":");
    put_time(&o, r->failed_at);
    KEY(&o, ",\"function_path\":");
    put_text(&o, r->function_path);
    KEY(&o, ",\"future_state\":\"");
    const char *state = sm_state_name((enum sm_state)r->state);
    put(&o, state, strlen(state));
    KEY(&o, "\",\"id\":");
    put_id(&o, r->id);
    KEY(&o, ",\"name\":");
    put_text(&o, r->name);
    KEY(&o, ",\"nested_future_id\":");
    put_id(&o, r->nested_id);
    KEY(&o, ",\"organization_id\":null,\"original_run_id\":");
    put_id(&o, r->original_run_id);
    KEY(&o, ",\"parent_id\":");
    put_id(&o, r->parent_id);
    KEY(&o, ",\"resolved_at\":");
    put_time(&o, r->resolved_at);
    KEY(&o, ",\"resource_requirements_json\":");
    put_json_sorted(&o, r->resource_requirements_json);
    KEY(&o, ",\"root_id\":");
    put_id(&o, r->root_id);
    KEY(&o, ",\"source_code\":");
    if (is_encoded)
        put(&o, source, source_len);
    else
        put_text_len(&o, source ? source : "", source ? source_len : 0);
    KEY(&o, ",\"started_at\":");
    put_time(&o, r->started_at);
    KEY(&o, ",\"tags\":");
    put_raw(&o, r->tags_json ? r->tags_json : "[]");
    KEY(&o, ",\"updated_at\":");
    put_time(&o, r->updated_at);
    KEY(&o, ",\"user\":null,\"user_id\":null}");
    row_finish(&o, w);
}

void sm__sj_write_artifact(struct sm_jw *w, const struct sm_artifact_rec *a)
{
    struct row o;
    row_init_into(&o, w);
    KEY(&o, "{\"created_at\":");
    put_time(&o, a->created_at);
    KEY(&o, ",\"id\":");
    put_id(&o, a->id);
    KEY(&o, ",\"json_summary\":");
    put_raw(&o, a->summary_json ? a->summary_json : "null");
    KEY(&o, ",\"organization_id\":null,\"type_serialization\":");
    put_raw(&o, a->type_json);
    KEY(&o, ",\"updated_at\":"); /* the store keeps one time */
    put_time(&o, a->created_at);
    KEY(&o, "}");
    row_finish(&o, w);
}

void sm__sj_write_edge(struct sm_jw *w, const struct sm_edge_rec *e)
{
    struct row o;
    row_init_into(&o, w);
    KEY(&o, "{\"artifact_id\":");
    put_id(&o, e->artifact_id);
    KEY(&o, ",\"created_at\":");
    put_time(&o, e->created_at);
    KEY(&o, ",\"destination_name\":");
    put_text(&o, e->destination_name);
    KEY(&o, ",\"destination_run_id\":");
    put_id(&o, e->destination_run_id);
    KEY(&o, ",\"id\":");
    put_id(&o, e->id);
    KEY(&o, ",\"parent_id\":");
    put_id(&o, e->parent_id);
    KEY(&o, ",\"source_name\":null,\"source_run_id\":");
    put_id(&o, e->source_run_id);
    KEY(&o, ",\"updated_at\":");
    put_time(&o, e->updated_at);
    KEY(&o, "}");
    row_finish(&o, w);
}

void sm__sj_write_resolution(struct sm_jw *w, const struct sm_pipeline_rec *p,
                             const struct sm_user_rec *user)
{
    bool user_is_id =
        p->user != NULL && strlen(p->user) == SM_ID_HEX_LEN && sm_is_hex(p->user, SM_ID_HEX_LEN);
    struct row o;
    row_init_into(&o, w);
    KEY(&o, "{\"build_config\":null,\"cache_namespace\":");
    put_text(&o, p->cache_namespace);
    KEY(&o, ",\"client_version\":");
    put_text(&o, p->client_version);
    KEY(&o, ",\"container_image_uri\":null,\"container_image_uris\":null,\"git_info_json\":");
    put_json_sorted(&o, p->git_json);
    KEY(&o, ",\"kind\":");
    put_text(&o, p->kind);
    KEY(&o, ",\"organization_id\":null,\"resource_requirements_json\":null,\"root_id\":");
    put_id(&o, p->root_id);
    KEY(&o, ",\"run_command\":");
    put_text(&o, p->run_command);
    KEY(&o, ",\"status\":");
    put_text(&o, sm_pipeline_status_name((enum sm_pipeline_status)p->status));
    KEY(&o, ",\"user\":");
    if (user != NULL && !o.failed) {
        struct sm_jw uw;
        sm_jw_init(&uw, o.b);
        sm_user_rec_to_json(user, &uw);
        if (sm_jw_finish(&uw, NULL) != 0)
            o.failed = true;
    } else {
        put_null(&o);
    }
    KEY(&o, ",\"user_id\":");
    put_text(&o, user_is_id ? p->user : NULL);
    KEY(&o, "}");
    row_finish(&o, w);
}

/* ------------------------------------------------------------ copies */

void sm__sj_run_copy(struct sm_sj_pool *pool, struct sm_run_rec *dst, const struct sm_run_rec *src)
{
    *dst = *src;
    dst->name = pool_strdup_or_null(pool, src->name);
    dst->function_path = pool_strdup_or_null(pool, src->function_path);
    dst->description = pool_strdup_or_null(pool, src->description);
    dst->source_id = pool_strdup_or_null(pool, src->source_id);
    dst->tags_json = pool_strdup_or_null(pool, src->tags_json);
    dst->resource_requirements_json = pool_strdup_or_null(pool, src->resource_requirements_json);
    dst->retry_settings_json = pool_strdup_or_null(pool, src->retry_settings_json);
    dst->cache_key = pool_strdup_or_null(pool, src->cache_key);
    dst->exception_json = pool_strdup_or_null(pool, src->exception_json);
    dst->external_exception_json = pool_strdup_or_null(pool, src->external_exception_json);
}

void sm__sj_pipeline_copy(struct sm_sj_pool *pool, struct sm_pipeline_rec *dst,
                          const struct sm_pipeline_rec *src)
{
    *dst = *src;
    dst->kind = pool_strdup_or_null(pool, src->kind);
    dst->cache_namespace = pool_strdup_or_null(pool, src->cache_namespace);
    dst->user = pool_strdup_or_null(pool, src->user);
    dst->git_json = pool_strdup_or_null(pool, src->git_json);
    dst->settings_json = pool_strdup_or_null(pool, src->settings_json);
    dst->client_version = pool_strdup_or_null(pool, src->client_version);
    dst->run_command = pool_strdup_or_null(pool, src->run_command);
    dst->python = pool_strdup_or_null(pool, src->python);
    dst->cwd = pool_strdup_or_null(pool, src->cwd);
    dst->sys_path_json = pool_strdup_or_null(pool, src->sys_path_json);
    dst->driver_host = pool_strdup_or_null(pool, src->driver_host);
}
