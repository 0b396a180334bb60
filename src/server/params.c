/*
 * params.c: Sematic's query parameters of the read API (api.h), checked.
 *
 * The first half is pure (text in, value or message out) and unit-tested
 * in tests/c/test_server_params.c; the second half reads a request's
 * parameters with those and puts the 400 in the response. Messages quote
 * the client's text through sm__http_sanitize(), so they are always valid
 * UTF-8 on one line, and say what would have been accepted.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sematic/json.h"

#include "api.h"
#include "internal.h"
#include "server.h"

#include "util/banned.h"

/* How much of a client's text a message quotes. */
#define SHOWN_MAX 64

int sm__api_parse_limit(const char *text, int64_t dflt, int64_t *out, struct sm_err *err)
{
    if (text == NULL) {
        *out = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || errno != 0 || (v != -1 && v < 1) ||
        v > SM_API_MAX_LIMIT) {
        char shown[SHOWN_MAX];
        sm__http_sanitize(text, shown, sizeof(shown));
        return sm_errf(err, SM_EINVAL,
                       "limit must be greater than 0 or -1, got '%s'; give a page size from 1 to "
                       "%d, or -1 for every row",
                       shown, SM_API_MAX_LIMIT);
    }
    *out = v;
    return 0;
}

int sm__api_parse_order(const char *text, bool dflt_ascending, bool *ascending, struct sm_err *err)
{
    if (text == NULL) {
        *ascending = dflt_ascending;
        return 0;
    }
    if (strcmp(text, "asc") == 0 || strcmp(text, "desc") == 0) {
        *ascending = text[0] == 'a';
        return 0;
    }
    char shown[SHOWN_MAX];
    sm__http_sanitize(text, shown, sizeof(shown));
    return sm_errf(err, SM_EINVAL,
                   "invalid value for 'order'; expected one of: ['asc', 'desc']; got: '%s'", shown);
}

int sm__api_parse_fields(const char *text, bool *ids_only, struct sm_err *err)
{
    *ids_only = false;
    if (text == NULL || text[0] == '\0')
        return 0;
    struct sm_json_doc doc = {0};
    struct sm_err jerr = SM_ERR_INIT;
    char shown[SHOWN_MAX];
    sm__http_sanitize(text, shown, sizeof(shown));
    if (sm_json_parse(&doc, text, strlen(text), &jerr) != 0)
        return sm_errf(err, SM_EINVAL,
                       "Malformed include fields: '%s' is not JSON (%s); send fields=[\"id\"] or "
                       "leave it out",
                       shown, jerr.msg);
    const struct sm_json *v = doc.root;
    int rc = 0;
    if (v->kind == SM_JSON_NULL) {
        *ids_only = false;
    } else if (v->kind == SM_JSON_ARRAY && v->n_items == 1 && v->items[0].kind == SM_JSON_STRING &&
               strcmp(v->items[0].str, "id") == 0) {
        *ids_only = true;
    } else {
        rc = sm_errf(err, SM_EINVAL,
                     "'fields' must be either `None` or `['id']`, got '%s'; send fields=[\"id\"] "
                     "for ids only, or leave it out for whole runs",
                     shown);
    }
    sm_json_doc_release(&doc);
    return rc;
}

int sm__api_parse_bool_setting(const char *what, const char *text, bool *out, struct sm_err *err)
{
    static const char *const yes[] = {"y", "yes", "t", "true", "on", "1"};
    static const char *const no[] = {"n", "no", "f", "false", "off", "0"};
    *out = false;
    if (text == NULL || text[0] == '\0')
        return 0;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0)
            return 0;
    }
    char shown[SHOWN_MAX];
    sm__http_sanitize(text, shown, sizeof(shown));
    return sm_errf(err, SM_EINVAL,
                   "%s must be a boolean, got '%s'; use 1, true or yes to turn it "
                   "on, 0, false or no (or leave it unset) to turn it off",
                   what, shown);
}

int sm_server_bool_setting(const char *name, bool *out, struct sm_err *err)
{
    return sm__api_parse_bool_setting(name, getenv(name), out, err);
}

int sm__api_parse_epoch_seconds(const char *what, const char *text, int64_t *out_us,
                                struct sm_err *err)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    /* Ten thousand years either way: beyond that a time is a mistake, and the product fits. */
    if (text[0] == '\0' || *end != '\0' || errno != 0 || !isfinite(v) || v > 3.2e11 ||
        v < -3.2e11) {
        char shown[SHOWN_MAX];
        sm__http_sanitize(text, shown, sizeof(shown));
        return sm_errf(err, SM_EINVAL,
                       "invalid value for '%s': expected seconds since 1970-01-01 UTC such as "
                       "1700000000 or 1700000000.5, got '%s'",
                       what, shown);
    }
    double us = v * 1e6;
    *out_us = (int64_t)(us >= 0 ? us + 0.5 : us - 0.5);
    return 0;
}

void sm__api_url_quote(struct sm_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '.' || c == '-' || c == '~') {
            sm_buf_addc(out, (char)c);
        } else if (c == ' ') {
            sm_buf_addc(out, '+');
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            sm_buf_add(out, esc, 3);
        }
    }
}

void sm__api_page_url(struct sm_buf *out, const char *host, const char *path, int64_t limit,
                      const char *cursor)
{
    sm_buf_adds(out, "http://");
    sm_buf_adds(out, host != NULL && host[0] != '\0' ? host : "localhost");
    sm_buf_adds(out, path);
    sm_buf_addf(out, "?limit=%lld", (long long)limit);
    if (cursor != NULL && cursor[0] != '\0') {
        sm_buf_adds(out, "&cursor=");
        sm__api_url_quote(out, cursor);
    }
}

int sm__api_filter_eq(struct sm_buf *out, const char *column, const char *value)
{
    struct sm_jw w;
    sm_jw_init(&w, out);
    sm_jw_begin_object(&w);
    sm_jw_keyz(&w, column);
    sm_jw_begin_object(&w);
    sm_jw_keyz(&w, "eq");
    sm_jw_stringz(&w, value);
    sm_jw_end_object(&w);
    sm_jw_end_object(&w);
    if (sm_jw_finish(&w, NULL) != 0) {
        sm_buf_reset(out);
        return SM_EINVAL;
    }
    return 0;
}

/* The value of a base64 digit of either alphabet, or -1. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int sm__api_base64_decode(const char *text, struct sm_buf *out)
{
    size_t len = strlen(text);
    while (len > 0 && text[len - 1] == '=')
        len--;
    if (strlen(text) - len > 2 || len % 4 == 1)
        return SM_EINVAL;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)text[i]);
        if (v < 0)
            return SM_EINVAL;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (sm_buf_addc(out, (char)((acc >> bits) & 0xff)) != 0)
                return SM_ETOOBIG;
        }
    }
    return 0;
}

int sm__api_parse_rollup(const char *text, int64_t from_us, int64_t to_us,
                         struct sm_api_rollup *out, struct sm_err *err)
{
    *out = (struct sm_api_rollup){.kind = SM_API_ROLLUP_NONE, .n_buckets = 1, .interval_us = 0};
    if (text == NULL)
        return 0;
    int64_t seconds = 0;
    if (strcmp(text, "auto") == 0) {
        out->kind = SM_API_ROLLUP_AUTO;
    } else {
        bool digits = text[0] != '\0' && strlen(text) <= 12;
        for (const char *p = text; digits && *p != '\0'; p++)
            digits = *p >= '0' && *p <= '9';
        if (!digits) {
            char shown[SHOWN_MAX];
            sm__http_sanitize(text, shown, sizeof(shown));
            return sm_errf(err, SM_EINVAL,
                           "Incorrect value for rollup. Expected an integer or 'auto', got '%s'; "
                           "give a bucket width in seconds (rollup=3600) or rollup=auto",
                           shown);
        }
        seconds = strtoll(text, NULL, 10);
        out->kind = SM_API_ROLLUP_SECONDS;
    }
    int64_t range_us = to_us > from_us ? to_us - from_us : 0;
    /* Sematic's interval: whole seconds, at least range / 300 so a series has <= 300 points. */
    int64_t range_s = range_us / 1000000 + (range_us % 1000000 != 0);
    int64_t min_s = range_s / SM_API_MAX_SERIES_POINTS + (range_s % SM_API_MAX_SERIES_POINTS != 0);
    int64_t interval_s = seconds > min_s ? seconds : min_s;
    if (interval_s < 1)
        interval_s = 1;
    out->interval_us = interval_s * 1000000;
    out->n_buckets = range_us / out->interval_us + (range_us % out->interval_us != 0);
    if (out->n_buckets < 1)
        out->n_buckets = 1;
    return 0;
}

/* ------------------------------------------------------------ request level */

int sm__api_bad_request(struct sm_http_resp *resp, const struct sm_err *err)
{
    sm_http_error(resp, 400, "%s", err->msg[0] != '\0' ? err->msg : sm_strerror(err->code));
    return SM_EINVAL;
}

int sm__api_get_run(struct sm_store *store, struct sm_http_resp *resp, const char *id,
                    struct sm_run_rec *out)
{
    int rc = SM_ENOTFOUND;
    struct sm_err err = SM_ERR_INIT;
    if (strlen(id) == SM_ID_HEX_LEN && sm_is_hex(id, SM_ID_HEX_LEN))
        rc = sm_store_get_run(store, id, out, &err);
    if (rc == SM_ENOTFOUND) {
        char shown[96];
        sm__http_sanitize(id, shown, sizeof(shown));
        sm_http_error(resp, 404, "No runs with id '%s'", shown);
    } else if (rc != 0) {
        sm_http_store_error(resp, &err);
    }
    return rc;
}

int sm__api_limit(const struct sm_http_req *req, struct sm_http_resp *resp, int64_t dflt,
                  int64_t *out)
{
    struct sm_err err = SM_ERR_INIT;
    if (sm__api_parse_limit(sm_http_query(req, "limit"), dflt, out, &err) != 0)
        return sm__api_bad_request(resp, &err);
    return 0;
}

int sm__api_order(const struct sm_http_req *req, struct sm_http_resp *resp, bool dflt_ascending,
                  bool *ascending)
{
    struct sm_err err = SM_ERR_INIT;
    if (sm__api_parse_order(sm_http_query(req, "order"), dflt_ascending, ascending, &err) != 0)
        return sm__api_bad_request(resp, &err);
    return 0;
}

/* The name of a Sematic garbage-collection pseudo-filter a filter text uses at its top level
 * ({"orphaned": ..} or {"AND"/"OR": [{"orphaned": ..}, ..]}), or NULL. */
static const char *gc_filter_name(const char *text)
{
    static const char *const names[] = {"orphaned", "orphaned_jobs"};
    struct sm_json_doc doc = {0};
    if (sm_json_parse(&doc, text, strlen(text), NULL) != 0)
        return NULL;
    const char *found = NULL;
    const struct sm_json *v = doc.root;
    if (v->kind == SM_JSON_OBJECT && v->n_items == 1) {
        const struct sm_json *terms = v;
        size_t n = 1;
        if (strcmp(v->items[0].key, "AND") == 0 || strcmp(v->items[0].key, "OR") == 0) {
            terms = v->items[0].kind == SM_JSON_ARRAY ? v->items[0].items : NULL;
            n = terms != NULL ? v->items[0].n_items : 0;
        }
        for (size_t i = 0; i < n && found == NULL; i++) {
            const struct sm_json *t = &terms[i];
            if (terms != v && (t->kind != SM_JSON_OBJECT || t->n_items != 1))
                continue;
            const char *key = t->items[0].key;
            for (size_t k = 0; k < 2; k++)
                if (strcmp(key, names[k]) == 0)
                    found = names[k];
        }
    }
    sm_json_doc_release(&doc);
    return found;
}

int sm__api_filters(const struct sm_http_req *req, struct sm_http_resp *resp, enum sm_entity e,
                    struct sm_filter *f)
{
    memset(f, 0, sizeof(*f));
    const char *text = sm_http_query(req, "filters");
    if (text == NULL || text[0] == '\0')
        return 0;
    struct sm_err err = SM_ERR_INIT;
    if (sm_filter_parse(f, e, text, strlen(text), &err) == 0)
        return 0;
    const char *gc = e == SM_ENTITY_RUNS ? gc_filter_name(text) : NULL;
    if (gc != NULL) {
        sm_http_error(resp, 400,
                      "the garbage-collection filter '%s' is not supported by this server: it "
                      "runs no Kubernetes jobs to orphan; 'sematic gc' cleans the local store",
                      gc);
        return SM_EINVAL;
    }
    return sm__api_bad_request(resp, &err);
}
