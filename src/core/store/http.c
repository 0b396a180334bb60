/*
 * http.c: the HTTP backend of the store (include/sematic/store.h): the
 * store of a `sematic start` server, reached through its private
 * /api/v1/store endpoints (src/server/store_api.c,
 * docs/internals/http_store.md), so a team's LocalRunners share one store.
 *
 * It is a faithful remote of the store interface, not a translation to
 * Sematic's JSON: records travel in the lossless form of rec_json.h, and
 * the server applies them with the same sm_store_* calls a local process
 * would make.
 *
 * Invariants.
 *  - A batch is built in memory: begin() opens it, each put_* encodes its
 *    operation (rec_json) and appends it to the request body, commit()
 *    POSTs the body to /api/v1/store/batch, which the server applies in one
 *    store batch (all or nothing). A batch whose body passes CHUNK_BYTES is
 *    cut into several requests at operation boundaries, each its own store
 *    batch, sent in order; as records are queued after what they refer to,
 *    the server's store is consistent after each one.
 *  - Requests that may not have reached the store (no connection, the
 *    connection dropped, 502/503/504) are retried with backoff. Puts are
 *    upserts, so a batch applied twice leaves the same records, except for
 *    log lines, which a retry after a lost answer can duplicate.
 *  - Reads outside or inside a batch go to the server: inside, they do not
 *    see the batch's own writes (nothing is sent before commit).
 *  - get_* leave their strings in h->doc, released by the next get_*;
 *    listings parse into a document of their own, so a callback may call
 *    the store again.
 *  - One CURL easy handle per store: the connection is kept alive between
 *    requests. A store is used by one thread at a time (store.h).
 *
 * Start reading at sm_store_open_http(), then http_commit() and perform().
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>

#include "sematic/alloc.h"
#include "sematic/hash.h"
#include "sematic/rec_json.h"
#include "sematic/store.h"

#include "util/banned.h"

/* A commit sends request bodies of about this size (a bigger operation goes alone). */
#define CHUNK_BYTES ((size_t)8 << 20)
/* Cap on one operation's JSON and on one response body. */
#define OP_MAX_BYTES ((size_t)1 << 30)
#define RESPONSE_MAX_BYTES ((size_t)1 << 30)
/* Retries of a request that may not have reached the store, the first after RETRY_FIRST_MS,
 * each wait twice the last: 0.1 + 0.2 + 0.4 + 0.8 + 1.6 s. */
#define N_RETRIES 5
#define RETRY_FIRST_MS 100
#define CONNECT_TIMEOUT_MS 10000
/* A transfer that moves no byte for this long is abandoned (a batch may wait up to 30 s for
 * the server's SQLite write lock, during which nothing moves). */
#define STALL_S 120
#define URL_MAX 2048

#define API "/api/v1/store"

struct http_store {
    struct sm_store base; /* base.home: the server's URL, as the store's "place" */
    char *url;            /* the base URL, without a trailing '/' */
    CURL *curl;
    struct curl_slist *headers;
    struct curl_slist *replay_headers; /* the same, with X-Sematic-Replay: 1 */
    char curl_msg[CURL_ERROR_SIZE];
    bool in_batch;
    struct sm_buf body;    /* the request being filled: {"ops":[op,op,... */
    size_t n_body_ops;     /* operations in body */
    struct sm_buf *sealed; /* finished request bodies, sent in order by commit */
    size_t n_sealed, cap_sealed;
    struct sm_buf op;     /* one operation's JSON, before it joins body */
    struct sm_buf target; /* the URL of the request being made */
    struct sm_buf resp;   /* the last response's body */
    bool resp_too_big;
    bool opening;           /* the first request: a server that is down is reported at once */
    struct sm_json_doc doc; /* the last get_*'s answer: its record's strings point here */
};

static struct http_store *to_http(struct sm_store *s)
{
    return (struct http_store *)s;
}

/* ------------------------------------------------------------ libcurl */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

/* curl_global_init() is not thread-safe in every libcurl: call it once, before any handle. */
static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    struct http_store *h = ctx;
    size_t n = size * nmemb;
    if (sm_buf_add(&h->resp, ptr, n) < 0) {
        h->resp_too_big = true;
        return 0; /* stops the transfer: CURLE_WRITE_ERROR */
    }
    return n;
}

/* The path and query of the request being made (for messages: the URL names the server). */
static const char *target_path(const struct http_store *h)
{
    size_t n = strlen(h->url);
    return h->target.data && h->target.len >= n ? h->target.data + n : "";
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* true for a failure after which the request may not have reached the store. */
static bool is_transient(CURLcode rc)
{
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR ||
           rc == CURLE_GOT_NOTHING;
}

/* SM_EIO naming the server and what to do, for a request that got no HTTP answer. */
static int transport_error(struct http_store *h, const char *method, CURLcode rc,
                           struct sm_err *err)
{
    /* The system's word for it ("Connection refused") when there is one: libcurl's own text
     * repeats the host and port, and the message must keep room for what to do. */
    long os_errno = 0;
    char os_text[128];
    curl_easy_getinfo(h->curl, CURLINFO_OS_ERRNO, &os_errno);
    const char *detail = h->curl_msg[0] ? h->curl_msg : curl_easy_strerror(rc);
    if (os_errno != 0 && rc != CURLE_OPERATION_TIMEDOUT)
        detail = strerror_r((int)os_errno, os_text, sizeof(os_text));
    if (h->resp_too_big)
        return sm_errf(err, SM_ETOOBIG,
                       "cannot read the answer of the Sematic server at '%.80s' to %s %.60s: it "
                       "is larger than %zu bytes",
                       h->url, method, target_path(h), (size_t)RESPONSE_MAX_BYTES);
    if (rc == CURLE_COULDNT_CONNECT)
        return sm_errf(err, SM_EIO,
                       "cannot reach the Sematic server at '%.80s' (SEMATIC_API_ADDRESS): %.60s; "
                       "start it with `sematic start` or unset SEMATIC_API_ADDRESS",
                       h->url, detail);
    if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_URL_MALFORMAT ||
        rc == CURLE_UNSUPPORTED_PROTOCOL)
        return sm_errf(err, SM_EIO,
                       "cannot reach the Sematic server at '%.80s': %.60s; fix "
                       "SEMATIC_API_ADDRESS (http://HOST:PORT) or unset it",
                       h->url, detail);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return sm_errf(err, SM_EIO,
                       "the Sematic server at '%.80s' did not answer %s %.40s in time; check "
                       "that it runs (`sematic start`) or unset SEMATIC_API_ADDRESS",
                       h->url, method, target_path(h));
    return sm_errf(err, SM_EIO,
                   "cannot talk to the Sematic server at '%.80s': %.60s; check that `sematic "
                   "start` runs there, or unset SEMATIC_API_ADDRESS",
                   h->url, detail);
}

/*
 * One request: method ("GET" or "POST") on h->target (the full URL), with
 * body (NULL for none). The answer's body goes to h->resp and its status to
 * *status. Retried when it may not have reached the store (but not a failure to connect while
 * opening: a server that is down is reported at once). Returns 0 once an
 * HTTP answer came back (any status), SM_EIO (no answer), SM_ETOOBIG.
 */
static int perform(struct http_store *h, const char *method, const struct sm_buf *body,
                   long *status, struct sm_err *err)
{
    CURL *c = h->curl;
    curl_easy_setopt(c, CURLOPT_URL, h->target.data);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data ? body->data : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    long wait_ms = RETRY_FIRST_MS;
    bool replay = false;
    for (int attempt = 0;; attempt++) {
        /* A request sent again says so: the server then skips the pipeline status changes a
         * first delivery may already have made (store_api.c). */
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, replay ? h->replay_headers : h->headers);
        sm_buf_reset(&h->resp);
        h->resp_too_big = false;
        h->curl_msg[0] = '\0';
        CURLcode rc = curl_easy_perform(c);
        *status = 0;
        if (rc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        bool retry = rc == CURLE_OK ? (*status == 502 || *status == 503 || *status == 504)
                                    : is_transient(rc) && !h->opening;
        if (!retry || attempt == N_RETRIES) {
            if (rc != CURLE_OK)
                return transport_error(h, method, rc, err);
            /* The body is NUL-terminated for the JSON reader's messages. */
            if (sm_buf_add(&h->resp, "", 0) < 0)
                return sm_errf(err, SM_ETOOBIG, "the answer of '%.100s' is too large", h->url);
            return 0;
        }
        /* Every later attempt is a replay: even a failure to connect may follow a delivery the
         * server applied, because libcurl itself sends a request again on a fresh connection
         * when a reused one dies without an answer, and reports only how that second try
         * ended. 503 (busy) is the one answer that says nothing was applied, and marking its
         * retry costs nothing: a replay only skips pipeline status changes the store refuses. */
        replay = true;
        sleep_ms(wait_ms);
        wait_ms *= 2;
    }
}

/* Set h->target to the server's URL followed by the text of fmt. */
static int set_target(struct http_store *h, struct sm_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_target(struct http_store *h, struct sm_err *err, const char *fmt, ...)
{
    sm_buf_reset(&h->target);
    va_list ap;
    va_start(ap, fmt);
    int rc = sm_buf_adds(&h->target, h->url);
    if (rc == 0)
        rc = sm_buf_vaddf(&h->target, fmt, ap);
    va_end(ap);
    if (rc < 0)
        return sm_errf(err, SM_ETOOBIG, "cannot build a request to '%.100s': the URL is too long",
                       h->url);
    return 0;
}

/* Append "&name=<value, escaped>" (or '?' first) to h->target; value NULL adds nothing. */
static int add_param(struct http_store *h, const char *name, const char *value, struct sm_err *err)
{
    if (value == NULL)
        return 0;
    char *esc = curl_easy_escape(h->curl, value, 0);
    if (esc == NULL)
        return sm_errf(err, SM_ENOMEM, "cannot escape the value of query parameter '%s'", name);
    int rc = sm_buf_addf(&h->target, "%c%s=%s", strchr(h->target.data, '?') ? '&' : '?', name, esc);
    curl_free(esc);
    if (rc < 0)
        return sm_errf(err, SM_ETOOBIG, "cannot build a request to '%.100s': the URL is too long",
                       h->url);
    return 0;
}

static int add_param_int(struct http_store *h, const char *name, int64_t v, struct sm_err *err)
{
    char text[32];
    snprintf(text, sizeof(text), "%" PRId64, v);
    return add_param(h, name, text, err);
}

/* An SM_E* code from its name ("SM_ENOTFOUND"), or 0. */
static int code_of_name(const char *name)
{
    for (int code = -1; code >= -64; code--) {
        const char *n = sm_err_name(code);
        if (strcmp(n, "SM_EUNKNOWN") == 0)
            break;
        if (strcmp(n, name) == 0)
            return code;
    }
    return 0;
}

/*
 * The error of a non-2xx answer: the server's {"error", "code"} when it sent
 * them (the store's own message and code, as the embedded store would give
 * them), else a code from the status.
 */
static int answer_error(struct http_store *h, const char *method, long status, size_t sent_bytes,
                        struct sm_err *err)
{
    struct sm_json_doc doc = {0};
    struct sm_err perr = SM_ERR_INIT;
    const char *msg = NULL;
    int code = 0;
    if (sm_json_parse(&doc, h->resp.data, h->resp.len, &perr) == 0 &&
        doc.root->kind == SM_JSON_OBJECT) {
        const struct sm_json *m = sm_json_get(doc.root, "error");
        const struct sm_json *c = sm_json_get(doc.root, "code");
        if (m != NULL && m->kind == SM_JSON_STRING)
            msg = m->str;
        if (c != NULL && c->kind == SM_JSON_STRING)
            code = code_of_name(c->str);
    }
    if (code == 0)
        code = status == 400   ? SM_EINVAL
               : status == 404 ? SM_ENOTFOUND
               : status == 409 ? SM_ESTATE
               : status == 413 ? SM_ETOOBIG
               : status == 503 ? SM_EBUSY
               : status == 507 ? SM_ENOSPC
                               : SM_EIO;
    int rc;
    if (status == 401 || status == 403)
        rc = sm_errf(err, SM_EINVAL,
                     "the Sematic server at '%.80s' wants an API key (%ld: %.40s): set "
                     "SEMATIC_API_KEY to yours (`sematic users create EMAIL` on the server host "
                     "makes one)",
                     h->url, status, msg ? msg : "refused");
    else if (status == 413)
        rc = sm_errf(err, SM_ETOOBIG,
                     "the Sematic server at '%.60s' refused a request of %zu bytes as too large "
                     "(its SEMATIC_SERVER_MAX_BODY_BYTES, 64 MiB by default, takes values up to "
                     "about 3/4 of it): raise that on the server, or unset SEMATIC_API_ADDRESS",
                     h->url, sent_bytes);
    else if (msg != NULL && status < 500)
        rc = sm_errf(err, code, "%s", msg);
    else if (msg != NULL)
        rc = sm_errf(err, code, "the Sematic server at '%.80s' failed: %.140s", h->url, msg);
    else
        rc = sm_errf(err, code,
                     "the Sematic server at '%.60s' answered %ld to %s %.40s: %.50s; is "
                     "SEMATIC_API_ADDRESS a `sematic start` server of this version?",
                     h->url, status, method, target_path(h), h->resp.data ? h->resp.data : "");
    sm_json_doc_release(&doc);
    return rc;
}

/*
 * A request whose 2xx answer is a JSON object, parsed into *doc (the
 * caller releases it); any other answer is its error (answer_error()).
 */
static int call(struct http_store *h, const char *method, const struct sm_buf *body,
                struct sm_json_doc *doc, struct sm_err *err)
{
    long status;
    int rc = perform(h, method, body, &status, err);
    if (rc != 0)
        return rc;
    if (status < 200 || status > 299)
        return answer_error(h, method, status, body ? body->len : 0, err);
    struct sm_err perr = SM_ERR_INIT;
    if (sm_json_parse(doc, h->resp.data, h->resp.len, &perr) != 0 ||
        doc->root->kind != SM_JSON_OBJECT) {
        sm_json_doc_release(doc);
        return sm_errf(err, SM_EIO,
                       "the answer of '%.60s' to %s %.40s is not a JSON object (%.50s); is "
                       "SEMATIC_API_ADDRESS a `sematic start` server of this version?",
                       h->url, method, target_path(h), perr.msg[0] ? perr.msg : h->resp.data);
    }
    return 0;
}

/* SM_EIO for an answer whose content is not what the protocol says (rec_json's message). */
static int bad_answer(struct http_store *h, const struct sm_err *detail, struct sm_err *err)
{
    return sm_errf(err, SM_EIO,
                   "malformed answer from '%.60s': %.120s; use the same version of sematic on "
                   "both sides",
                   h->url, detail->msg);
}

/* Member `key` of the answer, an array, or SM_EIO. */
static int answer_array(struct http_store *h, const struct sm_json_doc *doc, const char *key,
                        const struct sm_json **out, struct sm_err *err)
{
    *out = sm_json_get(doc->root, key);
    if (*out != NULL && (*out)->kind == SM_JSON_ARRAY)
        return 0;
    struct sm_err detail = SM_ERR_INIT;
    sm_errf(&detail, SM_EIO, "no array '%s' in it", key);
    return bad_answer(h, &detail, err);
}

/* ------------------------------------------------------------ batches */

static void sealed_release(struct http_store *h)
{
    for (size_t i = 0; i < h->n_sealed; i++)
        sm_buf_release(&h->sealed[i]);
    h->n_sealed = 0;
}

static void batch_reset(struct http_store *h)
{
    h->in_batch = false;
    sm_buf_reset(&h->body);
    h->n_body_ops = 0;
    sealed_release(h);
}

/* Close the body being filled and queue it for commit; the next operation starts a new one. */
static void seal(struct http_store *h)
{
    if (h->n_sealed == h->cap_sealed) {
        h->cap_sealed = h->cap_sealed ? h->cap_sealed * 2 : 4;
        h->sealed = sm_xrealloc(h->sealed, h->cap_sealed * sizeof(*h->sealed));
    }
    /* Cannot fail: the cap of body leaves room for the closing brackets. */
    sm_buf_add(&h->body, "]}", 2);
    h->sealed[h->n_sealed++] = h->body;
    sm_buf_init(&h->body, h->body.max_len);
    h->n_body_ops = 0;
}

static int http_begin(struct sm_store *s, struct sm_err *err)
{
    struct http_store *h = to_http(s);
    if (h->in_batch)
        return sm_errf(err, SM_ESTATE,
                       "cannot begin a batch on the store at '%.100s': one is open already; commit "
                       "or roll it back first",
                       h->url);
    batch_reset(h);
    h->in_batch = true;
    return 0;
}

static void http_rollback(struct sm_store *s)
{
    batch_reset(to_http(s));
}

/* Encode op and add it to the batch (not sent before commit). */
static int add_op(struct http_store *h, const struct sm_rec_op *op, struct sm_err *err)
{
    const char *kind = sm_rec_op_kind_name(op->kind);
    if (!h->in_batch)
        return sm_errf(err, SM_ESTATE,
                       "cannot put a %s into the store at '%.100s' outside a batch; call "
                       "sm_store_begin() first",
                       kind, h->url);
    sm_buf_reset(&h->op);
    struct sm_jw w;
    sm_jw_init(&w, &h->op);
    sm_rec_json_write_op(&w, op);
    struct sm_err detail = SM_ERR_INIT;
    if (sm_jw_finish(&w, &detail) != 0)
        return sm_errf(err, detail.code, "cannot send a %s to the Sematic server at '%.100s': %s",
                       kind, h->url, detail.msg);
    if (h->n_body_ops > 0 && h->body.len + 1 + h->op.len + 2 > CHUNK_BYTES)
        seal(h);
    /* Cannot fail: body holds at most CHUNK_BYTES before this operation, which fits its cap. */
    if (h->n_body_ops == 0) {
        /* A key of its own, sent again with it on a retry: the server applies a key once
         * (store_api.c). Without randomness to make one, the body goes without. */
        char key[SM_ID_HEX_LEN + 1];
        struct sm_err key_err = SM_ERR_INIT;
        if (sm_random_id(key, &key_err) == 0)
            sm_buf_addf(&h->body, "{\"key\":\"%s\",\"ops\":[", key);
        else
            sm_buf_adds(&h->body, "{\"ops\":[");
    } else
        sm_buf_addc(&h->body, ',');
    sm_buf_add(&h->body, h->op.data, h->op.len);
    h->n_body_ops++;
    return 0;
}

static int http_put_run(struct sm_store *s, const struct sm_run_rec *r, struct sm_err *err)
{
    struct sm_rec_op op = {.kind = SM_REC_OP_RUN};
    op.u.run = *r;
    op.u.run.seq = 0; /* read only: callers need not set it */
    return add_op(to_http(s), &op, err);
}

static int http_put_artifact(struct sm_store *s, const struct sm_artifact_rec *a,
                             const char *payload, size_t len, struct sm_err *err)
{
    struct sm_rec_op op = {.kind = SM_REC_OP_ARTIFACT};
    op.u.artifact.rec = *a;
    op.u.artifact.rec.blob_key[0] = '\0'; /* ignored on write */
    op.u.artifact.rec.payload_in_storage = false;
    op.u.artifact.payload = payload;
    op.u.artifact.len = len;
    return add_op(to_http(s), &op, err);
}

static int http_put_edge(struct sm_store *s, const struct sm_edge_rec *e, struct sm_err *err)
{
    struct sm_rec_op op = {.kind = SM_REC_OP_EDGE};
    op.u.edge = *e;
    return add_op(to_http(s), &op, err);
}

static int http_put_pipeline(struct sm_store *s, const struct sm_pipeline_rec *p,
                             struct sm_err *err)
{
    struct sm_rec_op op = {.kind = SM_REC_OP_PIPELINE};
    op.u.pipeline = *p;
    op.u.pipeline.seq = 0;
    return add_op(to_http(s), &op, err);
}

static int http_put_source(struct sm_store *s, const char *text, size_t len,
                           char id_out[SM_SHA256_HEX_LEN + 1], struct sm_err *err)
{
    struct sm_rec_op op = {.kind = SM_REC_OP_SOURCE};
    op.u.source.text = text;
    op.u.source.len = len;
    int rc = add_op(to_http(s), &op, err);
    if (rc == 0) {
        /* The id is the text's SHA-256, as every backend computes it. */
        uint8_t d[SM_SHA256_LEN];
        sm_sha256(text, len, d);
        sm_hex(d, SM_SHA256_LEN, id_out);
    }
    return rc;
}

static int http_append_log(struct sm_store *s, const struct sm_log_rec *line, struct sm_err *err)
{
    struct sm_rec_op op = {.kind = SM_REC_OP_LOG};
    op.u.log = *line;
    op.u.log.id = 0;
    return add_op(to_http(s), &op, err);
}

/* POST one sealed body; the server applies it as one store batch. */
static int send_batch(struct http_store *h, const struct sm_buf *body, struct sm_err *err)
{
    int rc = set_target(h, err, API "/batch");
    struct sm_json_doc doc = {0};
    if (rc == 0)
        rc = call(h, "POST", body, &doc, err);
    if (rc == 0) {
        const struct sm_json *seq = sm_json_get(doc.root, "change_seq");
        if (seq == NULL || seq->kind != SM_JSON_NUMBER) {
            struct sm_err detail = SM_ERR_INIT;
            sm_errf(&detail, SM_EIO, "no change_seq in it");
            rc = bad_answer(h, &detail, err);
        }
    }
    sm_json_doc_release(&doc);
    return rc;
}

static int http_commit(struct sm_store *s, struct sm_err *err)
{
    struct http_store *h = to_http(s);
    if (!h->in_batch)
        return sm_errf(err, SM_ESTATE,
                       "cannot commit to the store at '%.100s': no batch is open; call "
                       "sm_store_begin() first",
                       h->url);
    if (h->n_body_ops > 0)
        seal(h);
    int rc = 0;
    for (size_t i = 0; i < h->n_sealed && rc == 0; i++)
        rc = send_batch(h, &h->sealed[i], err);
    batch_reset(h);
    return rc;
}

/* ------------------------------------------------------------ reads */

static int http_get_run(struct sm_store *s, const char *id, struct sm_run_rec *out,
                        struct sm_err *err)
{
    struct http_store *h = to_http(s);
    sm_json_doc_release(&h->doc);
    int rc = set_target(h, err, API "/runs/%s", id);
    if (rc == 0)
        rc = call(h, "GET", NULL, &h->doc, err);
    if (rc != 0)
        return rc;
    struct sm_err detail = SM_ERR_INIT;
    if (sm_rec_json_read_run(sm_json_get(h->doc.root, "run"), out, &detail) != 0)
        return bad_answer(h, &detail, err);
    return 0;
}

static int http_list_runs(struct sm_store *s, const struct sm_run_query *q, sm_run_fn fn, void *ctx,
                          struct sm_err *err)
{
    struct http_store *h = to_http(s);
    int rc = set_target(h, err, API "/runs");
    const char *names[] = {"root_id", "parent_id", "function_path", "name",
                           "tag",     "cache_key", "search"};
    const char *values[] = {q->root_id, q->parent_id, q->function_path, q->name,
                            q->tag,     q->cache_key, q->search};
    for (size_t i = 0; rc == 0 && i < sizeof(names) / sizeof(names[0]); i++)
        rc = add_param(h, names[i], values[i], err);
    if (rc == 0 && q->state_mask != 0)
        rc = add_param_int(h, "state_mask", q->state_mask, err);
    if (rc == 0 && q->roots_only)
        rc = add_param(h, "roots_only", "true", err);
    if (rc == 0 && q->oldest_first)
        rc = add_param(h, "oldest_first", "true", err);
    if (rc == 0 && q->limit > 0)
        rc = add_param_int(h, "limit", q->limit, err);
    struct sm_json_doc doc = {0};
    if (rc == 0)
        rc = call(h, "GET", NULL, &doc, err);
    const struct sm_json *runs = NULL;
    if (rc == 0)
        rc = answer_array(h, &doc, "runs", &runs, err);
    for (size_t i = 0; rc == 0 && i < runs->n_items; i++) {
        struct sm_run_rec r;
        struct sm_err detail = SM_ERR_INIT;
        if (sm_rec_json_read_run(&runs->items[i], &r, &detail) != 0)
            rc = bad_answer(h, &detail, err);
        else
            rc = fn(ctx, &r);
    }
    sm_json_doc_release(&doc);
    return rc;
}

static int http_get_artifact(struct sm_store *s, const char *id, struct sm_artifact_rec *out,
                             struct sm_buf *payload, struct sm_err *err)
{
    struct http_store *h = to_http(s);
    sm_json_doc_release(&h->doc);
    int rc = set_target(h, err, API "/artifacts/%s?payload=%s", id, payload ? "true" : "false");
    if (rc == 0)
        rc = call(h, "GET", NULL, &h->doc, err);
    if (rc != 0)
        return rc;
    struct sm_err detail = SM_ERR_INIT;
    if (sm_rec_json_read_artifact(sm_json_get(h->doc.root, "artifact"), out, &detail) != 0)
        return bad_answer(h, &detail, err);
    if (payload == NULL)
        return 0;
    rc = sm_rec_json_read_base64(sm_json_get(h->doc.root, "payload"), "artifact payload", payload,
                                 &detail);
    if (rc == SM_ETOOBIG)
        return sm_errf(err, SM_ETOOBIG, "cannot read artifact '%s' from '%.100s': %s", id, h->url,
                       detail.msg);
    if (rc != 0)
        return bad_answer(h, &detail, err);
    return 0;
}

static int http_list_edges(struct sm_store *s, const char *root_id, const char *run_id,
                           sm_edge_fn fn, void *ctx, struct sm_err *err)
{
    struct http_store *h = to_http(s);
    int rc = set_target(h, err, API "/edges");
    if (rc == 0)
        rc = add_param(h, "root_id", root_id, err);
    if (rc == 0)
        rc = add_param(h, "run_id", run_id, err);
    struct sm_json_doc doc = {0};
    if (rc == 0)
        rc = call(h, "GET", NULL, &doc, err);
    const struct sm_json *edges = NULL;
    if (rc == 0)
        rc = answer_array(h, &doc, "edges", &edges, err);
    for (size_t i = 0; rc == 0 && i < edges->n_items; i++) {
        struct sm_edge_rec e;
        struct sm_err detail = SM_ERR_INIT;
        if (sm_rec_json_read_edge(&edges->items[i], &e, &detail) != 0)
            rc = bad_answer(h, &detail, err);
        else
            rc = fn(ctx, &e);
    }
    sm_json_doc_release(&doc);
    return rc;
}

static int http_list_artifacts(struct sm_store *s, const char *root_id, sm_artifact_fn fn,
                               void *ctx, struct sm_err *err)
{
    struct http_store *h = to_http(s);
    int rc = set_target(h, err, API "/artifacts");
    if (rc == 0)
        rc = add_param(h, "root_id", root_id, err);
    struct sm_json_doc doc = {0};
    if (rc == 0)
        rc = call(h, "GET", NULL, &doc, err);
    const struct sm_json *arts = NULL;
    if (rc == 0)
        rc = answer_array(h, &doc, "artifacts", &arts, err);
    for (size_t i = 0; rc == 0 && i < arts->n_items; i++) {
        struct sm_artifact_rec a;
        struct sm_err detail = SM_ERR_INIT;
        if (sm_rec_json_read_artifact(&arts->items[i], &a, &detail) != 0)
            rc = bad_answer(h, &detail, err);
        else
            rc = fn(ctx, &a);
    }
    sm_json_doc_release(&doc);
    return rc;
}

static int http_get_pipeline(struct sm_store *s, const char *root_id, struct sm_pipeline_rec *out,
                             struct sm_err *err)
{
    struct http_store *h = to_http(s);
    sm_json_doc_release(&h->doc);
    int rc = set_target(h, err, API "/pipelines/%s", root_id);
    if (rc == 0)
        rc = call(h, "GET", NULL, &h->doc, err);
    if (rc != 0)
        return rc;
    struct sm_err detail = SM_ERR_INIT;
    if (sm_rec_json_read_pipeline(sm_json_get(h->doc.root, "pipeline"), out, &detail) != 0)
        return bad_answer(h, &detail, err);
    return 0;
}

static int http_get_source(struct sm_store *s, const char *id, struct sm_buf *out,
                           struct sm_err *err)
{
    struct http_store *h = to_http(s);
    int rc = set_target(h, err, API "/sources/%s", id);
    struct sm_json_doc doc = {0};
    if (rc == 0)
        rc = call(h, "GET", NULL, &doc, err);
    if (rc == 0) {
        const struct sm_json *text = sm_json_get(doc.root, "text");
        if (text == NULL || text->kind != SM_JSON_STRING) {
            struct sm_err detail = SM_ERR_INIT;
            sm_errf(&detail, SM_EIO, "no string 'text' in it");
            rc = bad_answer(h, &detail, err);
        } else if (sm_buf_add(out, text->str, text->len) < 0) {
            rc = sm_errf(err, SM_ETOOBIG,
                         "cannot read source '%s': %zu bytes are over the buffer's cap of %zu", id,
                         text->len, out->max_len);
        }
    }
    sm_json_doc_release(&doc);
    return rc;
}

static int http_read_logs(struct sm_store *s, const char *run_id, int64_t after_id, int64_t limit,
                          sm_log_fn fn, void *ctx, struct sm_err *err)
{
    struct http_store *h = to_http(s);
    int rc = set_target(h, err, API "/logs/%s", run_id);
    if (rc == 0)
        rc = add_param_int(h, "after_id", after_id, err);
    if (rc == 0 && limit > 0)
        rc = add_param_int(h, "limit", limit, err);
    struct sm_json_doc doc = {0};
    if (rc == 0)
        rc = call(h, "GET", NULL, &doc, err);
    const struct sm_json *lines = NULL;
    if (rc == 0)
        rc = answer_array(h, &doc, "logs", &lines, err);
    for (size_t i = 0; rc == 0 && i < lines->n_items; i++) {
        struct sm_log_rec l;
        struct sm_err detail = SM_ERR_INIT;
        if (sm_rec_json_read_log(&lines->items[i], &l, &detail) != 0)
            rc = bad_answer(h, &detail, err);
        else
            rc = fn(ctx, &l);
    }
    sm_json_doc_release(&doc);
    return rc;
}

static int http_set_pipeline_status(struct sm_store *s, const char *root_id, int status,
                                    struct sm_err *err)
{
    struct http_store *h = to_http(s);
    if (h->in_batch)
        return sm_errf(err, SM_ESTATE,
                       "cannot set the status of pipeline run '%s' inside a batch; commit the "
                       "batch first",
                       root_id);
    int rc = set_target(h, err, API "/pipelines/%s/status", root_id);
    struct sm_buf body = SM_BUF_INIT(64);
    sm_buf_addf(&body, "{\"status\":%d}", status);
    struct sm_json_doc doc = {0};
    if (rc == 0)
        rc = call(h, "POST", &body, &doc, err);
    sm_json_doc_release(&doc);
    sm_buf_release(&body);
    return rc;
}

static int64_t http_change_seq(struct sm_store *s)
{
    struct http_store *h = to_http(s);
    struct sm_err err = SM_ERR_INIT;
    struct sm_json_doc doc = {0};
    int64_t seq = -1;
    if (set_target(h, &err, API "/change_seq") == 0 && call(h, "GET", NULL, &doc, &err) == 0) {
        const struct sm_json *v = sm_json_get(doc.root, "change_seq");
        if (v != NULL && v->kind == SM_JSON_NUMBER && strpbrk(v->str, ".eE") == NULL)
            seq = strtoll(v->str, NULL, 10);
    }
    sm_json_doc_release(&doc);
    return seq;
}

/* ------------------------------------------------------------ what runs on the server only */

static int server_only(struct sm_store *s, const char *what, struct sm_err *err)
{
    return sm_errf(err, SM_ESTATE,
                   "cannot %s through the Sematic server at '%.60s': the HTTP store "
                   "(SEMATIC_API_ADDRESS) serves the engine's records only; do it on the "
                   "server host, with SEMATIC_API_ADDRESS unset",
                   what, to_http(s)->url);
}

static int http_gc_blobs(struct sm_store *s, size_t *n_removed, size_t *bytes_removed,
                         struct sm_err *err)
{
    *n_removed = 0;
    *bytes_removed = 0;
    return sm_errf(err, SM_ESTATE,
                   "cannot collect blobs through the Sematic server at '%.100s': they live on "
                   "the server host; run `sematic gc` there, with SEMATIC_API_ADDRESS unset",
                   to_http(s)->url);
}

static int http_query(struct sm_store *s, enum sm_entity e, const struct sm_query *q,
                      union sm_row_fn fn, void *ctx, struct sm_page *page, struct sm_err *err)
{
    (void)e, (void)q, (void)fn, (void)ctx, (void)page;
    return server_only(s, "run a filtered listing", err);
}

static int http_list_events(struct sm_store *s, int64_t after_seq, int64_t limit, sm_event_fn fn,
                            void *ctx, struct sm_err *err)
{
    (void)after_seq, (void)limit, (void)fn, (void)ctx;
    return server_only(s, "read the change feed", err);
}

static int http_put_note(struct sm_store *s, const struct sm_note_rec *n, struct sm_err *err)
{
    (void)n;
    return server_only(s, "put a note", err);
}

static int http_delete_note(struct sm_store *s, const char *id, struct sm_err *err)
{
    (void)id;
    return server_only(s, "delete a note", err);
}

static int http_get_note(struct sm_store *s, const char *id, struct sm_note_rec *out,
                         struct sm_err *err)
{
    (void)id, (void)out;
    return server_only(s, "read a note", err);
}

static int http_append_metrics(struct sm_store *s, const struct sm_metric_point *points, size_t n,
                               struct sm_err *err)
{
    (void)points, (void)n;
    return server_only(s, "append metric points", err);
}

static int http_list_metric_names(struct sm_store *s, const char *labels_json, sm_name_fn fn,
                                  void *ctx, struct sm_err *err)
{
    (void)labels_json, (void)fn, (void)ctx;
    return server_only(s, "list metrics", err);
}

static int http_metric_series(struct sm_store *s, const struct sm_metric_query *q, sm_bucket_fn fn,
                              void *ctx, struct sm_err *err)
{
    (void)q, (void)fn, (void)ctx;
    return server_only(s, "read a metric series", err);
}

static int http_put_user(struct sm_store *s, const struct sm_user_rec *u, struct sm_err *err)
{
    (void)u;
    return server_only(s, "put a user", err);
}

static int http_new_api_key(struct sm_store *s, const char *user_id,
                            char key_out[SM_API_KEY_LEN + 1], struct sm_err *err)
{
    (void)user_id;
    key_out[0] = '\0';
    return server_only(s, "make an API key", err);
}

static int http_get_user(struct sm_store *s, const char *id, const char *email,
                         struct sm_user_rec *out, struct sm_err *err)
{
    (void)id, (void)email, (void)out;
    return server_only(s, "read a user", err);
}

static int http_find_user_by_api_key(struct sm_store *s, const char *key, struct sm_user_rec *out,
                                     struct sm_err *err)
{
    (void)key, (void)out;
    return server_only(s, "look up an API key", err);
}

static int http_list_users(struct sm_store *s, sm_user_fn fn, void *ctx, struct sm_err *err)
{
    (void)fn, (void)ctx;
    return server_only(s, "list users", err);
}

static int http_put_object(struct sm_store *s, const char *ns, const char *key, const void *data,
                           size_t len, struct sm_err *err)
{
    (void)ns, (void)key, (void)data, (void)len;
    return server_only(s, "put a storage object", err);
}

static int http_get_object(struct sm_store *s, const char *ns, const char *key, struct sm_buf *out,
                           struct sm_err *err)
{
    (void)ns, (void)key, (void)out;
    return server_only(s, "read a storage object", err);
}

static int http_list_pipeline(struct sm_store *s, enum sm_entity e, const char *root_id,
                              union sm_row_fn fn, void *ctx, struct sm_err *err)
{
    (void)e, (void)root_id, (void)fn, (void)ctx;
    return server_only(s, "list a whole pipeline", err);
}

static int http_read_dag(struct sm_store *s, const char *root_id, int64_t *change_seq,
                         sm_dag_run_fn run_fn, sm_dag_edge_fn edge_fn, void *ctx,
                         struct sm_err *err)
{
    (void)root_id, (void)change_seq, (void)run_fn, (void)edge_fn, (void)ctx;
    return server_only(s, "read a pipeline's graph", err);
}

/* No local file changes when the server's store does: watchers fall back to their timeout. */
static const char *http_watch_path(struct sm_store *s)
{
    (void)s;
    return NULL;
}

/* ------------------------------------------------------------ open and close */

static void http_close(struct sm_store *s)
{
    struct http_store *h = to_http(s);
    batch_reset(h);
    sm_free(h->sealed);
    sm_buf_release(&h->body);
    sm_buf_release(&h->op);
    sm_buf_release(&h->target);
    sm_buf_release(&h->resp);
    sm_json_doc_release(&h->doc);
    if (h->curl != NULL)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers);
    curl_slist_free_all(h->replay_headers);
    sm_free(h->url);
    sm_free(h->base.home);
    sm_free(h);
}

static const struct sm_store_ops http_ops = {
    .close = http_close,
    .begin = http_begin,
    .commit = http_commit,
    .rollback = http_rollback,
    .put_run = http_put_run,
    .put_artifact = http_put_artifact,
    .put_edge = http_put_edge,
    .put_pipeline = http_put_pipeline,
    .put_source = http_put_source,
    .append_log = http_append_log,
    .get_run = http_get_run,
    .list_runs = http_list_runs,
    .get_artifact = http_get_artifact,
    .list_edges = http_list_edges,
    .list_artifacts = http_list_artifacts,
    .get_pipeline = http_get_pipeline,
    .get_source = http_get_source,
    .read_logs = http_read_logs,
    .set_pipeline_status = http_set_pipeline_status,
    .gc_blobs = http_gc_blobs,
    .change_seq = http_change_seq,
    .query = http_query,
    .list_events = http_list_events,
    .put_note = http_put_note,
    .delete_note = http_delete_note,
    .get_note = http_get_note,
    .append_metrics = http_append_metrics,
    .list_metric_names = http_list_metric_names,
    .metric_series = http_metric_series,
    .put_user = http_put_user,
    .new_api_key = http_new_api_key,
    .get_user = http_get_user,
    .find_user_by_api_key = http_find_user_by_api_key,
    .list_users = http_list_users,
    .put_object = http_put_object,
    .get_object = http_get_object,
    .watch_path = http_watch_path,
    .list_pipeline = http_list_pipeline,
    .read_dag = http_read_dag,
};

static char *dup_n(const char *s, size_t n)
{
    char *d = sm_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* Append a header line to *list; false when libcurl is out of memory (*list is kept). */
static bool add_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *l = curl_slist_append(*list, line);
    if (l != NULL)
        *list = l;
    return l != NULL;
}

/* Check url ("http://HOST:PORT[/prefix]"); its length without trailing slashes into *len. */
static int check_url(const char *url, size_t *len, struct sm_err *err)
{
    if (url == NULL)
        return sm_errf(err, SM_EINVAL,
                       "invalid server address: NULL; pass http://HOST:PORT (SEMATIC_API_ADDRESS)");
    size_t n = strnlen(url, URL_MAX + 1);
    if (n > URL_MAX)
        return sm_errf(err, SM_EINVAL,
                       "invalid SEMATIC_API_ADDRESS '%.60s...': longer than %d bytes", url,
                       URL_MAX);
    size_t scheme = strncmp(url, "http://", 7) == 0 ? 7 : strncmp(url, "https://", 8) == 0 ? 8 : 0;
    while (n > scheme && url[n - 1] == '/')
        n--;
    if (scheme == 0 || n == scheme || strchr(url, '?') || strchr(url, '#') ||
        strpbrk(url, " \t\r\n"))
        return sm_errf(err, SM_EINVAL,
                       "invalid SEMATIC_API_ADDRESS '%.100s': expected the URL of a `sematic "
                       "start` server, http://HOST:PORT (for example http://127.0.0.1:5001)",
                       url);
    *len = n;
    return 0;
}

/* Ask the server for its change sequence: it answers, and serves this protocol. */
static int probe(struct http_store *h, struct sm_err *err)
{
    long status;
    int rc = set_target(h, err, API "/change_seq");
    if (rc == 0)
        rc = perform(h, "GET", NULL, &status, err);
    if (rc != 0)
        return rc;
    if (status == 401 || status == 403)
        return answer_error(h, "GET", status, 0, err);
    struct sm_json_doc doc = {0};
    struct sm_err perr = SM_ERR_INIT;
    const struct sm_json *seq = NULL;
    if (status == 200 && sm_json_parse(&doc, h->resp.data, h->resp.len, &perr) == 0 &&
        doc.root->kind == SM_JSON_OBJECT)
        seq = sm_json_get(doc.root, "change_seq");
    bool ok = seq != NULL && seq->kind == SM_JSON_NUMBER;
    sm_json_doc_release(&doc);
    if (ok)
        return 0;
    if (status == 503 || status == 507 || (status >= 500 && h->resp.data[0] == '{'))
        return answer_error(h, "GET", status, 0, err);
    return sm_errf(err, SM_EIO,
                   "the server at '%.80s' does not serve our store API (GET "
                   "/api/v1/store/change_seq: %ld); point SEMATIC_API_ADDRESS at a `sematic "
                   "start` of this version, or unset it",
                   h->url, status);
}

struct sm_store *sm_store_open_http(const char *url, struct sm_err *err)
{
    size_t url_len = 0;
    if (check_url(url, &url_len, err) != 0)
        return NULL;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        sm_errf(err, SM_EIO, "cannot initialise libcurl: %s", curl_easy_strerror(curl_init_rc));
        return NULL;
    }
    struct http_store *h = sm_xcalloc(1, sizeof(*h));
    h->base.ops = &http_ops;
    h->url = dup_n(url, url_len);
    h->base.home = dup_n(url, url_len);
    sm_buf_init(&h->body, OP_MAX_BYTES + CHUNK_BYTES + 64);
    sm_buf_init(&h->op, OP_MAX_BYTES);
    sm_buf_init(&h->target, URL_MAX + 16384);
    sm_buf_init(&h->resp, RESPONSE_MAX_BYTES);
    h->curl = curl_easy_init();
    if (h->curl == NULL) {
        sm_errf(err, SM_ENOMEM, "cannot open the store at '%.100s': curl_easy_init() failed",
                h->url);
        goto fail;
    }
    struct sm_buf key_line = SM_BUF_INIT(4096);
    const char *key = getenv("SEMATIC_API_KEY");
    if (key != NULL && key[0] != '\0' &&
        (sm_buf_addf(&key_line, "X-API-KEY: %s", key) < 0 || strpbrk(key, "\r\n") != NULL)) {
        sm_buf_release(&key_line);
        sm_errf(err, SM_EINVAL,
                "invalid SEMATIC_API_KEY: it holds a line break or is over 4 KiB; set it to your "
                "API key");
        goto fail;
    }
    /* libcurl sends "Expect: 100-continue" before bodies over 1 MiB, so a body over the
     * server's limit is refused (413) before it is sent, not cut off while it is. */
    const char *lines[] = {"Content-Type: application/json", key_line.len ? key_line.data : NULL};
    bool ok = true;
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]) && ok; i++)
        ok = lines[i] == NULL ||
             (add_header(&h->headers, lines[i]) && add_header(&h->replay_headers, lines[i]));
    ok = ok && add_header(&h->replay_headers, "X-Sematic-Replay: 1");
    sm_buf_release(&key_line);
    if (!ok) {
        sm_errf(err, SM_ENOMEM, "cannot open the store at '%.100s': out of memory", h->url);
        goto fail;
    }
    CURL *c = h->curl;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->curl_msg);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)STALL_S);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "sematic-c store client");
    h->opening = true;
    if (probe(h, err) != 0)
        goto fail;
    h->opening = false;
    return &h->base;
fail:
    http_close(&h->base);
    return NULL;
}

/* mkdir -p home, ignoring failures. */
static void make_dirs(const char *home)
{
    if (home == NULL || home[0] == '\0' || strlen(home) >= URL_MAX * 2)
        return;
    char path[URL_MAX * 2];
    snprintf(path, sizeof(path), "%s", home);
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            (void)mkdir(path, 0777);
            *p = c;
            if (c == '\0')
                break;
        }
    }
}

struct sm_store *sm_store_open_default(const char *home, enum sm_store_sync sync,
                                       struct sm_err *err)
{
    const char *address = getenv("SEMATIC_API_ADDRESS");
    if (address == NULL || address[0] == '\0')
        return sm_store_open_sqlite(home, sync, err);
    /* The home stays this machine's (settings, a LocalRunner's journal): make it as the
     * embedded store would. Best effort: whoever writes there reports what fails. */
    make_dirs(home);
    return sm_store_open_http(address, err);
}
