/*
 * logs.c: GET /api/v1/runs/:id/logs, a run's captured lines in pages, as
 * Sematic's log reader (sematic/log_reader.py, load_log_lines) answers:
 *
 *   {"content": {"lines", "line_ids", "can_continue_forward",
 *    "can_continue_backward", "forward_cursor_token", "reverse_cursor_token",
 *    "log_info_message"}}
 *
 * Parameters: forward_cursor_token / reverse_cursor_token (continue a
 * traversal), max_lines (100), filter_string or filter_strings (repeat
 * it: only lines holding every string), reverse (read from the end
 * backwards; lines still come oldest first).
 *
 * Sematic reads log files from its storage; here every line is a row of
 * the store (sm_store_read_logs, oldest first, by line id), so a cursor is
 * a line id: the "source_file_line_index" of Sematic's cursor, with one
 * source. The rules of what may continue are Sematic's
 * (get_log_lines_from_line_stream, ported below in page()), with two
 * deliberate differences: a run still running whose lines match nothing
 * yet keeps a forward cursor (so the dashboard keeps polling), and every
 * run's lines are served, inline ones included (Sematic has none for
 * inline runs of a local pipeline). A run that reused a cached result
 * shows its original run's lines, as there.
 *
 * Start at sm__api_run_logs().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sematic/alloc.h"
#include "sematic/hash.h"
#include "sematic/store.h"

#include "api.h"
#include "handlers.h"
#include "internal.h"

#include "util/banned.h"

#define DEFAULT_MAX_LINES 100
#define MAX_MAX_LINES 100000
/* The longest filter string, and the most bytes of lines one page carries. */
#define FILTER_MAX_BYTES 1024
#define PAGE_MAX_BYTES ((size_t)256 << 20)
/* The longest cursor token read. */
#define TOKEN_MAX_BYTES 65536

/* ------------------------------------------------------------------ cursors */

void sm__log_cursor_encode(const struct sm_log_cursor *c, struct sm_buf *out)
{
    struct sm_buf json = SM_BUF_INIT(TOKEN_MAX_BYTES);
    struct sm_jw w;
    sm_jw_init(&w, &json);
    sm_jw_begin_object(&w);
    sm_jw_keyz(&w, "source_log_key");
    sm_jw_stringz(&w, c->has_key ? "store" : NULL);
    sm_jw_keyz(&w, "source_file_line_index");
    sm_jw_int(&w, c->index);
    sm_jw_keyz(&w, "filter_strings");
    sm_jw_begin_array(&w);
    for (size_t i = 0; i < c->n_filters; i++)
        sm_jw_stringz(&w, c->filters[i]);
    sm_jw_end_array(&w);
    sm_jw_keyz(&w, "run_id");
    sm_jw_stringz(&w, c->run_id);
    sm_jw_keyz(&w, "traversal_had_lines");
    sm_jw_bool(&w, c->had_lines);
    sm_jw_keyz(&w, "reverse");
    sm_jw_bool(&w, c->reverse);
    sm_jw_end_object(&w);
    /* Sematic's tokens are standard base64 with padding (Python's b64encode). */
    struct sm_buf quoted = SM_BUF_INIT(2 * TOKEN_MAX_BYTES);
    struct sm_jw q;
    sm_jw_init(&q, &quoted);
    sm_jw_base64(&q, json.data, json.len);
    if (sm_jw_finish(&w, NULL) == 0 && sm_jw_finish(&q, NULL) == 0 && quoted.len >= 2)
        sm_buf_add(out, quoted.data + 1, quoted.len - 2); /* without the quotes */
    sm_buf_release(&quoted);
    sm_buf_release(&json);
}

/* A member of the cursor's JSON of the given kind, or NULL. */
static const struct sm_json *member(const struct sm_json *v, const char *key,
                                    enum sm_json_kind kind)
{
    const struct sm_json *m = sm_json_get(v, key);
    return m != NULL && m->kind == kind ? m : NULL;
}

int sm__log_cursor_decode(const char *what, const char *token, struct sm_log_cursor *c,
                          struct sm_err *err)
{
    memset(c, 0, sizeof(*c));
    struct sm_buf json = SM_BUF_INIT(TOKEN_MAX_BYTES);
    struct sm_err jerr = SM_ERR_INIT;
    int rc = 0;
    if (strlen(token) > TOKEN_MAX_BYTES || sm__api_base64_decode(token, &json) != 0 ||
        sm_json_parse(&c->doc, json.data != NULL ? json.data : "", json.len, &jerr) != 0) {
        rc = sm_errf(err, SM_EINVAL,
                     "invalid value for '%s': not a cursor token of this server; pass back the "
                     "token a previous page gave, or leave it out to start over",
                     what);
        goto out;
    }
    const struct sm_json *v = c->doc.root;
    const struct sm_json *key = sm_json_get(v, "source_log_key");
    const struct sm_json *index = member(v, "source_file_line_index", SM_JSON_NUMBER);
    const struct sm_json *filters = member(v, "filter_strings", SM_JSON_ARRAY);
    const struct sm_json *run_id = member(v, "run_id", SM_JSON_STRING);
    const struct sm_json *had = member(v, "traversal_had_lines", SM_JSON_BOOL);
    const struct sm_json *reverse = member(v, "reverse", SM_JSON_BOOL);
    char *end = NULL;
    long long n = index != NULL ? strtoll(index->str, &end, 10) : 0;
    bool ok = key != NULL && (key->kind == SM_JSON_NULL || key->kind == SM_JSON_STRING) &&
              index != NULL && end != NULL && *end == '\0' && filters != NULL &&
              filters->n_items <= SM_LOG_MAX_FILTERS && run_id != NULL &&
              run_id->len == SM_ID_HEX_LEN && had != NULL && reverse != NULL;
    for (size_t i = 0; ok && i < filters->n_items; i++)
        ok = filters->items[i].kind == SM_JSON_STRING;
    if (!ok) {
        rc = sm_errf(err, SM_EINVAL,
                     "invalid value for '%s': the cursor token lacks a field or has one of the "
                     "wrong type; pass back the token a previous page gave",
                     what);
        goto out;
    }
    c->has_key = key->kind == SM_JSON_STRING;
    c->index = n;
    c->n_filters = filters->n_items;
    for (size_t i = 0; i < c->n_filters; i++)
        c->filters[i] = filters->items[i].str;
    memcpy(c->run_id, run_id->str, SM_ID_HEX_LEN + 1);
    c->had_lines = had->boolean;
    c->reverse = reverse->boolean;
out:
    sm_buf_release(&json);
    return rc;
}

/* --------------------------------------------------------------- the reader */

/* The request, once read. */
struct log_request {
    char run_id[SM_ID_HEX_LEN + 1]; /* whose lines: the run, or the run it reused */
    const char *filters[SM_LOG_MAX_FILTERS];
    size_t n_filters;
    int64_t max_lines;
    bool reverse;
    bool still_running;
    int state; /* enum sm_state of the run whose lines are read */
};

/* One line kept for the page. */
struct kept {
    int64_t id;
    size_t off, len; /* in page.text */
};

struct page {
    const struct log_request *rq;
    int64_t before_id; /* reverse: only lines with id < before_id */
    int64_t skip;      /* reverse, second pass: matching lines to pass over first */
    int64_t n_matched; /* matching lines seen */
    struct kept *lines;
    size_t n_lines;
    struct sm_buf text;
    int rc; /* a failed append */
};

static bool matches(const struct log_request *rq, const struct sm_log_rec *line)
{
    for (size_t i = 0; i < rq->n_filters; i++)
        if (memmem(line->text, line->len, rq->filters[i], strlen(rq->filters[i])) == NULL)
            return false;
    return true;
}

static int keep(struct page *p, const struct sm_log_rec *line)
{
    size_t off = p->text.len;
    if (sm_buf_add(&p->text, line->text, line->len) != 0) {
        p->rc = SM_ETOOBIG;
        return 1;
    }
    p->lines[p->n_lines++] = (struct kept){.id = line->id, .off = off, .len = line->len};
    return p->n_lines >= (size_t)p->rq->max_lines ? 1 : 0;
}

/* Forward: every matching line, until max_lines. */
static int take_forward(void *ctx, const struct sm_log_rec *line)
{
    struct page *p = ctx;
    return matches(p->rq, line) ? keep(p, line) : 0;
}

/* Reverse, first pass: count the matching lines before before_id. */
static int count_before(void *ctx, const struct sm_log_rec *line)
{
    struct page *p = ctx;
    if (line->id >= p->before_id)
        return 1;
    if (matches(p->rq, line))
        p->n_matched++;
    return 0;
}

/* Reverse, second pass: keep the last max_lines matching lines before before_id. */
static int take_last(void *ctx, const struct sm_log_rec *line)
{
    struct page *p = ctx;
    if (line->id >= p->before_id)
        return 1;
    if (!matches(p->rq, line))
        return 0;
    if (p->skip > 0) {
        p->skip--;
        return 0;
    }
    return keep(p, line);
}

static int has_any_line(void *ctx, const struct sm_log_rec *line)
{
    (void)line;
    *(bool *)ctx = true;
    return 1;
}

/* The JSON answer; tokens NULL for none. */
static void write_result(struct sm_http_resp *resp, const struct page *p, bool can_forward,
                         bool can_backward, const char *forward_token, const char *reverse_token,
                         const char *message)
{
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "content");
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "can_continue_backward");
    sm_jw_bool(w, can_backward);
    sm_jw_keyz(w, "can_continue_forward");
    sm_jw_bool(w, can_forward);
    sm_jw_keyz(w, "forward_cursor_token");
    sm_jw_stringz(w, forward_token);
    sm_jw_keyz(w, "line_ids");
    sm_jw_begin_array(w);
    for (size_t i = 0; p != NULL && i < p->n_lines; i++)
        sm_jw_int(w, p->lines[i].id);
    sm_jw_end_array(w);
    sm_jw_keyz(w, "lines");
    sm_jw_begin_array(w);
    for (size_t i = 0; p != NULL && i < p->n_lines; i++)
        sm_jw_string(w, p->text.data + p->lines[i].off, p->lines[i].len);
    sm_jw_end_array(w);
    sm_jw_keyz(w, "log_info_message");
    sm_jw_stringz(w, message);
    sm_jw_keyz(w, "reverse_cursor_token");
    sm_jw_stringz(w, reverse_token);
    sm_jw_end_object(w);
    sm_jw_end_object(w);
}

/* A cursor of this request at (has_key, index). */
static void cursor_at(const struct log_request *rq, bool has_key, int64_t index, bool had_lines,
                      bool reverse, struct sm_log_cursor *c)
{
    memset(c, 0, sizeof(*c));
    c->has_key = has_key;
    c->index = index;
    for (size_t i = 0; i < rq->n_filters; i++)
        c->filters[i] = rq->filters[i];
    c->n_filters = rq->n_filters;
    memcpy(c->run_id, rq->run_id, sizeof(c->run_id));
    c->had_lines = had_lines;
    c->reverse = reverse;
}

/* Sematic's Cursor.nothing_found: no key, before the first line (forward) or after the last. */
static void nothing_found(const struct log_request *rq, bool reverse, struct sm_log_cursor *c)
{
    cursor_at(rq, false, reverse ? INT64_MAX : -1, false, reverse, c);
}

/* Whether cursor c continues this request's traversal (Sematic's _assert_valid_cursor). */
static int check_cursor(const struct log_request *rq, const char *what,
                        const struct sm_log_cursor *c, struct sm_err *err)
{
    if (strcmp(c->run_id, rq->run_id) != 0)
        return sm_errf(err, SM_EINVAL,
                       "Tried to continue a log search of %s using a %s from %s; start over "
                       "without it",
                       rq->run_id, what, c->run_id);
    bool same = true;
    for (size_t i = 0; same && i < c->n_filters; i++) {
        bool found = false;
        for (size_t j = 0; !found && j < rq->n_filters; j++)
            found = strcmp(c->filters[i], rq->filters[j]) == 0;
        same = found;
    }
    for (size_t j = 0; same && j < rq->n_filters; j++) {
        bool found = false;
        for (size_t i = 0; !found && i < c->n_filters; i++)
            found = strcmp(c->filters[i], rq->filters[j]) == 0;
        same = found;
    }
    if (!same)
        return sm_errf(err, SM_EINVAL,
                       "Tried to continue a log search of %s using a different set of filters "
                       "than were used in the cursor; send the same filter strings, or start over",
                       rq->run_id);
    return 0;
}

/* Read the request's parameters into rq (filters borrowed from req). 0 or a 400 in resp. */
static int read_params(const struct sm_http_req *req, struct sm_http_resp *resp,
                       struct log_request *rq)
{
    if (sm_http_query_int(req, resp, "max_lines", DEFAULT_MAX_LINES, 1, MAX_MAX_LINES,
                          &rq->max_lines) != 0 ||
        sm_http_query_bool(req, resp, "reverse", false, &rq->reverse) != 0)
        return SM_EINVAL;
    const struct sm_http_target *t = req->target;
    for (size_t i = 0; i < t->n_query; i++) {
        if (strcmp(t->query[i].name, "filter_string") != 0 &&
            strcmp(t->query[i].name, "filter_strings") != 0)
            continue;
        if (rq->n_filters == SM_LOG_MAX_FILTERS) {
            sm_http_error(resp, 400, "more than %d filter strings; send fewer", SM_LOG_MAX_FILTERS);
            return SM_EINVAL;
        }
        if (strlen(t->query[i].value) > FILTER_MAX_BYTES) {
            sm_http_error(resp, 400, "a filter string is longer than %d bytes; send a shorter one",
                          FILTER_MAX_BYTES);
            return SM_EINVAL;
        }
        rq->filters[rq->n_filters++] = t->query[i].value;
    }
    return 0;
}

/* A cursor parameter, "" being none. */
static const char *token_param(const struct sm_http_req *req, const char *name)
{
    const char *v = sm_http_query(req, name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/*
 * Read one page from cursor `from` and answer, as Sematic's
 * get_log_lines_from_line_stream and load_log_lines' last step.
 */
static int page(struct sm_http_resp *resp, struct sm_store *store, const struct log_request *rq,
                const struct sm_log_cursor *from, bool is_initial_pull, const char *default_message)
{
    struct sm_err err = SM_ERR_INIT;
    struct page p = {.rq = rq};
    p.lines = sm_xcalloc((size_t)rq->max_lines, sizeof(*p.lines));
    sm_buf_init(&p.text, PAGE_MAX_BYTES);
    int rc;
    if (!rq->reverse) {
        int64_t after = from->index > 0 ? from->index - 1 : 0;
        rc = sm_store_read_logs(store, rq->run_id, after, 0, take_forward, &p, &err);
    } else {
        p.before_id = from->index;
        rc = sm_store_read_logs(store, rq->run_id, 0, 0, count_before, &p, &err);
        if (rc >= 0) {
            p.skip = p.n_matched > rq->max_lines ? p.n_matched - rq->max_lines : 0;
            rc = sm_store_read_logs(store, rq->run_id, 0, 0, take_last, &p, &err);
        }
    }
    if (rc < 0 || p.rc != 0) {
        if (p.rc != 0)
            sm_http_error(resp, 500,
                          "the log page is larger than %zu bytes; ask for fewer lines (max_lines)",
                          PAGE_MAX_BYTES);
        else
            sm_http_store_error(resp, &err);
        goto out;
    }

    /* Lines are in time order here; Sematic's variables name time order too. */
    bool found = p.n_lines > 0;
    int64_t earliest = found ? p.lines[0].id : 0, latest = found ? p.lines[p.n_lines - 1].id : 0;
    bool fwd_key = found, rev_key = found;
    int64_t fwd_index = latest + 1, rev_index = earliest;
    if (!found && !rq->reverse) { /* may still go back from where this started */
        rev_key = from->has_key;
        rev_index = from->index;
    }
    if (!found && rq->reverse) {
        fwd_key = from->has_key;
        fwd_index = from->index;
    }
    if (rq->still_running && !fwd_key && !rq->reverse) {
        /* More may come: keep the place. Sematic drops it when nothing was ever found, which
         * ends the dashboard's polling of a run that has printed nothing yet. */
        fwd_key = true;
        fwd_index = from->index;
    }
    bool full = p.n_lines == (size_t)rq->max_lines;
    bool had = from->had_lines || found;
    struct sm_buf fwd_token = SM_BUF_INIT(4 * TOKEN_MAX_BYTES);
    struct sm_buf rev_token = SM_BUF_INIT(4 * TOKEN_MAX_BYTES);
    struct sm_log_cursor c;
    if (fwd_key && (rq->reverse || full || rq->still_running)) {
        cursor_at(rq, true, fwd_index, had, false, &c);
        sm__log_cursor_encode(&c, &fwd_token);
    }
    if (rev_key && (!rq->reverse || full)) {
        cursor_at(rq, true, rev_index, had, true, &c);
        sm__log_cursor_encode(&c, &rev_token);
    }
    bool can_forward = fwd_token.len > 0, can_backward = rev_token.len > 0;
    if (is_initial_pull) {
        if (rq->reverse)
            can_forward = !sm_state_is_terminal((enum sm_state)rq->state);
        else
            can_backward = false;
    }
    write_result(resp, &p, can_forward, can_backward, fwd_token.len > 0 ? fwd_token.data : NULL,
                 rev_token.len > 0 ? rev_token.data : NULL,
                 found ? default_message : "No matching log lines.");
    sm_buf_release(&fwd_token);
    sm_buf_release(&rev_token);
out:
    sm_free(p.lines);
    sm_buf_release(&p.text);
    return 0;
}

/* An answer with no lines: can go forward (with this token) or not, and why. */
static int no_lines(struct sm_http_resp *resp, const struct sm_log_cursor *forward,
                    const char *message)
{
    struct sm_buf token = SM_BUF_INIT(4 * TOKEN_MAX_BYTES);
    if (forward != NULL)
        sm__log_cursor_encode(forward, &token);
    write_result(resp, NULL, forward != NULL, false, forward != NULL ? token.data : NULL, NULL,
                 message);
    sm_buf_release(&token);
    return 0;
}

int sm__api_run_logs(struct sm_http_req *req, struct sm_http_resp *resp)
{
    struct sm_err err = SM_ERR_INIT;
    const char *id = sm_http_param(req, "id");
    char shown[96];
    sm__http_sanitize(id, shown, sizeof(shown));
    if (strlen(id) != SM_ID_HEX_LEN || !sm_is_hex(id, SM_ID_HEX_LEN))
        return sm_http_error(resp, 404, "No runs with id '%s'", shown);
    struct log_request rq = {0};
    if (read_params(req, resp, &rq) != 0)
        return SM_EINVAL;
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL)
        return sm_http_store_error(resp, &err);
    struct sm_run_rec run;
    int rc = sm_store_get_run(store, id, &run, &err);
    if (rc == SM_ENOTFOUND)
        return sm_http_error(resp, 404, "No runs with id '%s'", shown);
    if (rc != 0)
        return sm_http_store_error(resp, &err);
    memcpy(rq.run_id, run.id, sizeof(rq.run_id));
    char root_id[SM_ID_HEX_LEN + 1];
    memcpy(root_id, run.root_id, sizeof(root_id));
    rq.state = run.state;

    /* A run that reused another's result has no lines of its own: show the original's. */
    char message[128] = "";
    const char *default_message = NULL;
    if (run.original_run_id[0] != '\0') {
        char original[SM_ID_HEX_LEN + 1];
        memcpy(original, run.original_run_id, sizeof(original));
        rc = sm_store_get_run(store, original, &run, &err);
        if (rc == 0) {
            memcpy(rq.run_id, original, sizeof(rq.run_id));
            rq.state = run.state;
            snprintf(message, sizeof(message), "Run logs sourced from original run %s.", original);
            default_message = message;
        } else if (rc != SM_ENOTFOUND) {
            return sm_http_store_error(resp, &err);
        }
        sm_err_clear(&err);
    }
    rq.still_running = !sm_state_is_terminal((enum sm_state)rq.state) && rq.state != SM_STATE_RAN;

    struct sm_log_cursor forward = {0}, reverse = {0};
    const char *forward_token = token_param(req, "forward_cursor_token");
    const char *reverse_token = token_param(req, "reverse_cursor_token");
    if (forward_token != NULL)
        rc = sm__log_cursor_decode("forward_cursor_token", forward_token, &forward, &err);
    else
        nothing_found(&rq, false, &forward);
    if (rc == 0 && reverse_token != NULL)
        rc = sm__log_cursor_decode("reverse_cursor_token", reverse_token, &reverse, &err);
    else if (rc == 0)
        nothing_found(&rq, true, &reverse);
    if (rc == 0)
        rc = check_cursor(&rq, "forward cursor", &forward, &err);
    if (rc == 0)
        rc = check_cursor(&rq, "reverse cursor", &reverse, &err);
    if (rc != 0) {
        rc = sm__api_bad_request(resp, &err);
        goto out;
    }

    struct sm_pipeline_rec pipeline;
    struct sm_err perr = SM_ERR_INIT;
    rc = sm_store_get_pipeline(store, root_id, &pipeline, &perr);
    if (rc != 0 && rc != SM_ENOTFOUND) {
        rc = sm_http_store_error(resp, &perr);
        goto out;
    }
    if (rc == 0 &&
        (pipeline.status == SM_PIPELINE_CREATED || pipeline.status == SM_PIPELINE_SCHEDULED)) {
        rc = no_lines(resp, &forward, "Resolution has not started yet.");
        goto out;
    }
    if (rq.state == SM_STATE_CREATED) {
        rc = no_lines(resp, &forward, "The run has not yet started executing.");
        goto out;
    }
    bool any = false;
    rc = sm_store_read_logs(store, rq.run_id, 0, 1, has_any_line, &any, &err);
    if (rc < 0) {
        rc = sm_http_store_error(resp, &err);
        goto out;
    }
    if (!any) {
        struct sm_log_cursor start;
        nothing_found(&rq, false, &start);
        rc = no_lines(resp, rq.still_running ? &start : NULL,
                      rq.still_running ? "No log lines yet: the run has printed nothing so far."
                                       : "No log lines: the run printed nothing.");
        goto out;
    }
    rc = page(resp, store, &rq, rq.reverse ? &reverse : &forward,
              forward_token == NULL && reverse_token == NULL, default_message);
out:
    sm_json_doc_release(&forward.doc);
    sm_json_doc_release(&reverse.doc);
    return rc;
}
