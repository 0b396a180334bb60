/*
 * events.h: GET /api/v1/events, the server-sent events of the store's
 * change feed (events.c), and its pure helpers (events_fmt.c): what
 * events.c, tests/c/test_server_events.c and fuzz/fuzz_http.c share.
 * docs/server.md ("Live events") describes the stream as a client sees it.
 *
 * Two layers:
 *   - events_fmt.c (pure, fuzzed): the request's parameters (after /
 *     Last-Event-ID, kinds, root_id), the comma-separated id lists of the
 *     store's event rows, the text of one server-sent event, and the memo
 *     of runs a stream has seen (their root and how far their log lines
 *     were sent).
 *   - events.c: the handler, the directory watcher that wakes streams, and
 *     the pump that turns the store's `events` rows into server-sent events
 *     (sm__events_pump(), callable without HTTP: the C test drives it on a
 *     real store).
 *
 * Threads: every struct here belongs to one stream and is used by its
 * connection's thread only.
 */
#ifndef SM_SERVER_EVENTS_H
#define SM_SERVER_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sematic/buf.h"
#include "sematic/err.h"
#include "sematic/hash.h"
#include "sematic/store.h"

/* The kinds of event a stream sends, as bits (?kinds= selects some). */
enum sm_events_kind {
    SM_EVENTS_RUNS = 1 << 0,            /* runs: new runs and state changes */
    SM_EVENTS_EDGES = 1 << 1,           /* edges: a pipeline's edges changed */
    SM_EVENTS_PIPELINE_STATUS = 1 << 2, /* pipeline_status: a pipeline run's status */
    SM_EVENTS_NOTE = 1 << 3,            /* note: a note added or deleted */
    SM_EVENTS_METRICS = 1 << 4,         /* metrics: metric points appended */
    SM_EVENTS_LOGS = 1 << 5,            /* logs: log lines appended */
    SM_EVENTS_ALL = (1 << 6) - 1,
};

/* "runs", "edges", ... for one bit of enum sm_events_kind; "?" otherwise. */
const char *sm__events_kind_name(unsigned kind);

/*
 * The event kind a row of the store's change feed (struct sm_event_rec
 * kind) becomes: "runs" -> SM_EVENTS_RUNS, "pipelines" and
 * "pipeline_status" -> SM_EVENTS_PIPELINE_STATUS, ...; 0 for a kind this
 * server does not know (a newer store's), which streams skip.
 */
unsigned sm__events_kind_of_store(const char *store_kind);

/*
 * ?kinds=: a comma-separated list of kind names (runs, edges,
 * pipeline_status, note, metrics, logs; "pipelines" is taken for
 * pipeline_status) into *mask. Returns 0, or SM_EINVAL naming the unknown
 * or empty item and listing the names (text NULL gives SM_EVENTS_ALL).
 */
int sm__events_parse_kinds(const char *text, unsigned *mask, struct sm_err *err);

/*
 * A change sequence number sent by the client (`what`: "after" or
 * "Last-Event-ID"): decimal digits only, 0 to INT64_MAX. Returns 0, or
 * SM_EINVAL naming `what`, the value (cut short and cleaned) and what to send.
 */
int sm__events_parse_seq(const char *what, const char *text, int64_t *out, struct sm_err *err);

/* ?root_id=: a pipeline run's id, 32 lower-case hex digits, into out. 0 or SM_EINVAL. */
int sm__events_parse_root(const char *text, char out[SM_ID_HEX_LEN + 1], struct sm_err *err);

/*
 * The next well-formed run id (32 lower-case hex digits) of a
 * comma-separated list from *pos on, into out; *pos moves past it. Items
 * that are not ids are skipped (the store writes these lists; a reader
 * never trusts them to be JSON-safe). Returns false at the end of the list.
 */
bool sm__events_next_id(const char *list, size_t *pos, char out[SM_ID_HEX_LEN + 1]);

/*
 * Append one server-sent event to out: "id: <seq>\n" when seq >= 0, then
 * "event: <event>\n", then the data as "data: " lines (split at "\r\n",
 * '\r' and '\n', as a client rejoins them), then a blank line. event must
 * be a fixed name without line breaks. Returns 0 or SM_ETOOBIG (out's cap;
 * out is then empty, as sm_buf leaves it).
 */
int sm__sse_event(struct sm_buf *out, int64_t seq, const char *event, const char *data, size_t len);

/* Append a comment block (": text\n\n", one ": " line per line of text). 0 or SM_ETOOBIG. */
int sm__sse_comment(struct sm_buf *out, const char *text);

/* ---------------------------------------------------------- the run memo */

/* What a stream remembers of one run. */
struct sm__run_info {
    char root_id[SM_ID_HEX_LEN + 1]; /* its pipeline run */
    int64_t log_after;               /* the id of its last log line sent (or known old) */
};

/* Runs remembered per generation; two generations are kept (see below). */
#define SM_EVENTS_MEMO_GEN 1024

/*
 * The runs a stream has seen, by id: an open-addressing table per
 * generation; when the young one fills, the old one is dropped and the
 * young one becomes old, so memory stays bounded (two generations of
 * SM_EVENTS_MEMO_GEN runs, about 200 KB, allocated on first use) and the
 * runs that were looked up last are the ones kept. Zero-initialise.
 */
struct sm__run_memo {
    struct sm__memo_slot *young, *old;
    size_t n_young, n_old;
};

/* The run's entry, or NULL when it is not remembered. Valid until the next put. */
struct sm__run_info *sm__run_memo_get(struct sm__run_memo *m, const char *run_id);

/*
 * The run's entry, made (root_id "" and log_after `log_after`) when not
 * remembered; one found in the old generation moves to the young one.
 * Valid until the next put. run_id must be 32 lower-case hex digits.
 */
struct sm__run_info *sm__run_memo_put(struct sm__run_memo *m, const char *run_id,
                                      int64_t log_after);

/* Free the tables; m is then empty. */
void sm__run_memo_release(struct sm__run_memo *m);

/* ------------------------------------------------------- events.c: the pump */

/* Log lines one `logs` event carries at most ("more": true when more were there). */
#define SM_EVENTS_LOG_LINES_MAX 1000
/* Runs one `runs` event carries at most (a batch of more becomes several events). */
#define SM_EVENTS_RUNS_PER_EVENT 256
/* A pump call stops adding events once out holds this much (the next call goes on). */
#define SM_EVENTS_CHUNK_BYTES ((size_t)256 << 10)

struct sm__events;

/*
 * A stream's state: its filters (kinds: enum sm_events_kind bits; root_id
 * NULL for every pipeline), where it is in the change feed (it sends what
 * comes after change sequence `after`), the rows read and not yet sent, the
 * run memo. Owned; free with sm__events_free().
 */
struct sm__events *sm__events_new(unsigned kinds, const char *root_id, int64_t after);
void sm__events_free(struct sm__events *ev);

/*
 * Decide where log lines start (called once, before the first pump, when
 * `logs` events are wanted): lines with an id at or below the floor it
 * finds were committed at or before `after`, so a run first seen later is
 * sent only its newer lines. 0 or the store's error.
 */
int sm__events_find_log_floor(struct sm__events *ev, struct sm_store *store, struct sm_err *err);

/*
 * Append to out the events of the changes committed after the last one
 * handled, up to about SM_EVENTS_CHUNK_BYTES (rows left over stay queued:
 * call again). With check false only queued rows are sent (the store's
 * change sequence is not read). Returns 0 or the store's error (the
 * stream then ends and the client reconnects with Last-Event-ID).
 */
int sm__events_pump(struct sm__events *ev, struct sm_store *store, bool check, struct sm_buf *out,
                    struct sm_err *err);

/* true while rows read from the store are waiting to be sent. */
bool sm__events_pending(const struct sm__events *ev);

/* The last change sequence handled (what a reconnecting client would send). */
int64_t sm__events_position(const struct sm__events *ev);

/* The lowest log line id sent to runs first seen (sm__events_find_log_floor). */
int64_t sm__events_log_floor(const struct sm__events *ev);

#endif
