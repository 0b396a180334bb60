/*
 * api.h: what the read API's files share (runs_list.c, artifacts.c,
 * edges.c, notes.c, metrics.c, users.c, logs.c, auth.c; src/server only).
 *
 * The pure helpers (params.c) turn Sematic's query parameters into checked
 * values with messages that say what was wrong and how to write it
 * (STYLE 23); they know nothing of requests, so tests/c/test_server_params.c
 * calls them directly. The request-level helpers below them put a 400 in
 * the response themselves, as sm_http_query_int() does: a handler returns
 * the code they return.
 */
#ifndef SM_SERVER_API_H
#define SM_SERVER_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sematic/buf.h"
#include "sematic/err.h"
#include "sematic/filter.h"
#include "sematic/hash.h"
#include "sematic/json.h"
#include "sematic/store.h"

#include "http.h"

/* Sematic's page size when `limit` is not given (request_parameters.DEFAULT_LIMIT). */
#define SM_API_DEFAULT_LIMIT 20
/* The largest page one request may ask for (besides -1, all). */
#define SM_API_MAX_LIMIT 1000000

/* ----------------------------------------------------------- params.c (pure) */

/*
 * Sematic's `limit`: NULL (absent) gives dflt; else -1 (all) or an integer
 * from 1 to SM_API_MAX_LIMIT. Returns 0, or SM_EINVAL naming the value and
 * what is accepted.
 */
int sm__api_parse_limit(const char *text, int64_t dflt, int64_t *out, struct sm_err *err);

/* Sematic's `order`: "asc" or "desc"; NULL gives dflt_ascending. 0 or SM_EINVAL. */
int sm__api_parse_order(const char *text, bool dflt_ascending, bool *ascending, struct sm_err *err);

/*
 * Sematic's `fields` of GET /api/v1/runs: NULL, "" or "null" (every field:
 * *ids_only = false) or the JSON list ["id"] (*ids_only = true). 0, or
 * SM_EINVAL for bad JSON or any other list.
 */
int sm__api_parse_fields(const char *text, bool *ids_only, struct sm_err *err);

/*
 * A boolean setting as Python's strtobool reads it (Sematic's as_bool):
 * y, yes, t, true, on, 1 / n, no, f, false, off, 0, any case; "" is false.
 * 0, or SM_EINVAL naming the setting (`what`) and the accepted values.
 */
int sm__api_parse_bool_setting(const char *what, const char *text, bool *out, struct sm_err *err);

/*
 * A number of seconds since the epoch (Sematic's from_time / to_time:
 * Python's float()) into microseconds. 0, or SM_EINVAL naming `what`.
 */
int sm__api_parse_epoch_seconds(const char *what, const char *text, int64_t *out_us,
                                struct sm_err *err);

/* Append s to out as Python's urllib.parse.quote_plus writes it (a query value). */
void sm__api_url_quote(struct sm_buf *out, const char *s);

/*
 * Sematic's current_page_url / next_page_url: "http://HOST/PATH?limit=N",
 * with "&cursor=C" when cursor is neither NULL nor "". host NULL or "" is
 * "localhost". Appended to out.
 */
void sm__api_page_url(struct sm_buf *out, const char *host, const char *path, int64_t limit,
                      const char *cursor);

/*
 * Append the filter text {"<column>": {"eq": "<value>"}} to out (value NULL:
 * null). 0, or SM_EINVAL when value is not UTF-8 (out is then empty).
 */
int sm__api_filter_eq(struct sm_buf *out, const char *column, const char *value);

/*
 * Decode base64 text (the standard or the URL-safe alphabet, padding
 * optional) and append the bytes to out. 0, or SM_EINVAL (a character
 * outside the alphabet, a bad length) or SM_ETOOBIG (over out's cap).
 */
int sm__api_base64_decode(const char *text, struct sm_buf *out);

/* How a metric series is cut in time: GET /api/v1/metrics/:name's `rollup`. */
enum sm_api_rollup_kind {
    SM_API_ROLLUP_NONE = 0, /* one value per series */
    SM_API_ROLLUP_SECONDS,  /* buckets of at least `rollup` seconds */
    SM_API_ROLLUP_AUTO,     /* at most SM_API_MAX_SERIES_POINTS buckets */
};

/* Sematic's cap on the points of one series (_MAX_SERIES_POINTS). */
#define SM_API_MAX_SERIES_POINTS 300

struct sm_api_rollup {
    enum sm_api_rollup_kind kind;
    int64_t n_buckets;   /* for sm_metric_query: 1 for NONE */
    int64_t interval_us; /* each bucket's width (0 for NONE) */
};

/*
 * Read `rollup` (NULL: none; digits: seconds; "auto") for the range
 * [from_us, to_us), as Sematic sizes it: an interval of max(rollup,
 * ceil(range / 300 s)) seconds, so a series never has more than 300
 * points; auto takes ceil(range / 300 s) (at least 1 s). 0, or SM_EINVAL
 * naming the value and what is accepted.
 */
int sm__api_parse_rollup(const char *text, int64_t from_us, int64_t to_us,
                         struct sm_api_rollup *out, struct sm_err *err);

/* ------------------------------------------------- params.c: request level */

/*
 * The `filters` parameter of a listing, parsed for entity into f (release
 * with sm_filter_release() whatever the return). Absent or "" is no filter.
 * Returns 0, or SM_EINVAL after putting a 400 in resp: the filter's own
 * message, or (runs) that Sematic's garbage-collection pseudo-filters
 * `orphaned` / `orphaned_jobs` are not served here.
 */
int sm__api_filters(const struct sm_http_req *req, struct sm_http_resp *resp, enum sm_entity e,
                    struct sm_filter *f);

/* limit and order as above; on a bad value a 400 naming it is in resp (SM_EINVAL). */
int sm__api_limit(const struct sm_http_req *req, struct sm_http_resp *resp, int64_t dflt,
                  int64_t *out);
int sm__api_order(const struct sm_http_req *req, struct sm_http_resp *resp, bool dflt_ascending,
                  bool *ascending);

/* A 400 with err's message (the client's mistake); returns SM_EINVAL for the handler. */
int sm__api_bad_request(struct sm_http_resp *resp, const struct sm_err *err);

/*
 * Run `id` of store into *out (its strings valid until the store's next
 * read). 0; SM_ENOTFOUND with Sematic's 404 `No runs with id '...'` in resp
 * (also for an id that is not 32 hex digits); another code with the store's
 * error in resp.
 */
int sm__api_get_run(struct sm_store *store, struct sm_http_resp *resp, const char *id,
                    struct sm_run_rec *out);

/* ----------------------------------------------------------- count_cache.c */

/*
 * Counts of listings (after_cursor_count) kept per change sequence of the
 * store, shared by the server's threads (one per server: server.c makes it,
 * sm__server_count_cache() lends it). Keys name a listing: its entity,
 * filters, search, group_by, cursor and order.
 */
struct sm_count_cache;

struct sm_count_cache *sm__count_cache_new(void);
/* Accepts NULL. No request may be using it. */
void sm__count_cache_free(struct sm_count_cache *c);

enum sm_count_lookup {
    SM_COUNT_HIT = 0,     /* *count is the count of key at seq */
    SM_COUNT_CLAIMED = 1, /* none: compute it, then sm__count_cache_put() (even on failure) */
    SM_COUNT_MISS = 2,    /* none, and do not put: compute it uncached */
};

/*
 * The count of key read at change sequence seq or later (a hit); while
 * another request computes a newer one, the last finished count (a hit, see
 * count_cache.c); when there is none yet, wait for that computation up to
 * wait_ms. Otherwise the caller claims the computation. c may be NULL (a
 * miss).
 */
enum sm_count_lookup sm__count_cache_get(struct sm_count_cache *c, const char *key, int64_t seq,
                                         int wait_ms, int64_t *count);

/* End a claim: the count of key at seq, or -1 when computing it failed. */
void sm__count_cache_put(struct sm_count_cache *c, const char *key, int64_t seq, int64_t count);

/* ------------------------------------------------------------------ logs.c */

/* The most filter strings one log request may carry. */
#define SM_LOG_MAX_FILTERS 16

/*
 * Where a traversal of a run's log lines stopped (Sematic's log_reader
 * Cursor; its token is base64 of its JSON). `index` is a line id: going
 * forward, the first line not yet read (lines with id >= index follow);
 * going back, the earliest line read (lines with id < index precede).
 */
struct sm_log_cursor {
    bool has_key; /* false: nothing found yet (Sematic's source_log_key null) */
    int64_t index;
    const char *filters[SM_LOG_MAX_FILTERS]; /* borrowed (decode: into the cursor's doc) */
    size_t n_filters;
    char run_id[SM_ID_HEX_LEN + 1];
    bool had_lines; /* the traversal it continues found lines */
    bool reverse;
    struct sm_json_doc doc; /* decode only: release with sm_json_doc_release() */
};

/* The token of c (base64 of its JSON), appended to out. */
void sm__log_cursor_encode(const struct sm_log_cursor *c, struct sm_buf *out);

/*
 * Read a token into c (zeroed first; release c->doc whatever the return).
 * `what` names the parameter in messages. 0, or SM_EINVAL saying what is
 * wrong with it.
 */
int sm__log_cursor_decode(const char *what, const char *token, struct sm_log_cursor *c,
                          struct sm_err *err);

/* ----------------------------------------------------------------- users.c */

/*
 * A user as Sematic's API shows one (User.to_json_encodable(redact=True)):
 * avatar_url, created_at, first_name, id, last_name, updated_at; no email,
 * no key.
 */
void sm__api_write_user(struct sm_jw *w, const struct sm_user_rec *u);

/* ----------------------------------------------------------------- notes.c */

/*
 * A note as Sematic's API shows one, keys sorted as Flask writes them, with
 * its author (`user`, read from the store; null when none or deleted). 0, or
 * the store's error (in err) reading the user.
 */
int sm__api_write_note(struct sm_jw *w, struct sm_store *store, const struct sm_note_rec *n,
                       struct sm_err *err);

/* ------------------------------------------------------------------ auth.c */

/*
 * The user whose API key is `key` (the X-API-KEY header; NULL when absent),
 * for the server core when it authenticates (SEMATIC_AUTHENTICATE). Fills
 * user_id. Returns 0; SM_ENOTFOUND when the key is absent or no user's (the
 * message, for the log, says which); or the store's error (SM_EBUSY, SM_EIO).
 */
int sm__auth_user(struct sm_server *srv, const char *key, char user_id[SM_ID_HEX_LEN + 1],
                  struct sm_err *err);

/* What a client is told when its request carries no valid key: Sematic's words. */
#define SM_AUTH_MISSING_KEY "Missing API key"

#endif
