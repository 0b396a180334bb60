/*
 * events_fmt.c: the pure parts of GET /api/v1/events (events.h): the
 * request's parameters, the id lists of the store's change feed, the text
 * of a server-sent event, and the memo of runs a stream has seen. No I/O,
 * no store: tests/c/test_server_events.c calls these directly and
 * fuzz/fuzz_http.c feeds them arbitrary bytes.
 *
 * Server-sent events (the WHATWG HTML standard, "Server-sent events"): an
 * event is lines "field: value" ended by a blank line; a line starting
 * with ':' is a comment. A data value may not hold a line break, so data
 * with one is sent as several "data:" lines, which the client joins with
 * '\n'. Our data is always one line of JSON (the writer escapes control
 * characters), but sm__sse_event() does not rely on it.
 */
#include <stdio.h>
#include <string.h>

#include "sematic/alloc.h"

#include "events.h"
#include "internal.h"

#include "util/banned.h"

/* The names of the kinds, by bit, in the order of enum sm_events_kind. */
static const char *const kind_names[] = {"runs", "edges",   "pipeline_status",
                                         "note", "metrics", "logs"};
_Static_assert(sizeof(kind_names) / sizeof(kind_names[0]) == 6, "a name per kind bit");

#define KIND_LIST "runs, edges, pipeline_status, note, metrics, logs"

/* How much of a client's value an error message quotes. */
#define QUOTE_MAX 64

/* Exactly len lower-case hex digits (hash.c has one, but the fuzz target links no libcrypto). */
static bool is_lower_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

const char *sm__events_kind_name(unsigned kind)
{
    for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
        if (kind == 1u << i)
            return kind_names[i];
    return "?";
}

static unsigned kind_of_name(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
        if (strlen(kind_names[i]) == len && memcmp(kind_names[i], name, len) == 0)
            return 1u << i;
    /* The store's own name for put_pipeline's rows: both mean "a status changed". */
    if (len == 9 && memcmp(name, "pipelines", 9) == 0)
        return SM_EVENTS_PIPELINE_STATUS;
    return 0;
}

unsigned sm__events_kind_of_store(const char *store_kind)
{
    return store_kind != NULL ? kind_of_name(store_kind, strlen(store_kind)) : 0;
}

/* A client's value for an error message: at most QUOTE_MAX bytes, cleaned, "..." when cut. */
static void quote(const char *text, size_t len, char out[QUOTE_MAX + 8])
{
    char raw[QUOTE_MAX + 1];
    size_t n = len < QUOTE_MAX ? len : QUOTE_MAX;
    memcpy(raw, text, n);
    raw[n] = '\0';
    sm__http_sanitize(raw, out, QUOTE_MAX + 1);
    if (len > QUOTE_MAX)
        memcpy(out + strlen(out), "...", 4);
}

int sm__events_parse_kinds(const char *text, unsigned *mask, struct sm_err *err)
{
    *mask = 0;
    if (text == NULL) {
        *mask = SM_EVENTS_ALL;
        return 0;
    }
    char q[QUOTE_MAX + 8];
    if (text[0] == '\0')
        return sm_errf(err, SM_EINVAL,
                       "kinds is empty: expected a comma-separated list of " KIND_LIST
                       ", or no kinds parameter for all of them");
    for (const char *p = text;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (len == 0) {
            quote(text, strlen(text), q);
            *mask = 0;
            return sm_errf(
                err, SM_EINVAL,
                "empty item in kinds '%s': expected a comma-separated list of " KIND_LIST, q);
        }
        unsigned k = kind_of_name(p, len);
        if (k == 0) {
            quote(p, len, q);
            *mask = 0;
            return sm_errf(err, SM_EINVAL,
                           "unknown event kind '%s' in kinds: expected a comma-separated list of "
                           "" KIND_LIST,
                           q);
        }
        *mask |= k;
        if (comma == NULL)
            return 0;
        p = comma + 1;
    }
}

int sm__events_parse_seq(const char *what, const char *text, int64_t *out, struct sm_err *err)
{
    *out = 0;
    size_t len = strlen(text);
    uint64_t v = 0;
    bool ok = len > 0 && len <= 19;
    for (size_t i = 0; ok && i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            ok = false;
        else
            v = v * 10 + (uint64_t)(text[i] - '0');
    }
    if (ok && v <= (uint64_t)INT64_MAX) {
        *out = (int64_t)v;
        return 0;
    }
    char q[QUOTE_MAX + 8];
    quote(text, len, q);
    return sm_errf(err, SM_EINVAL,
                   "invalid %s '%s': expected a change sequence number (digits, 0 to %lld), as "
                   "sent in an event's 'id:' line",
                   what, q, (long long)INT64_MAX);
}

int sm__events_parse_root(const char *text, char out[SM_ID_HEX_LEN + 1], struct sm_err *err)
{
    size_t len = strlen(text);
    if (len == SM_ID_HEX_LEN && is_lower_hex(text, len)) {
        memcpy(out, text, SM_ID_HEX_LEN + 1);
        return 0;
    }
    out[0] = '\0';
    char q[QUOTE_MAX + 8];
    quote(text, len, q);
    return sm_errf(err, SM_EINVAL,
                   "invalid root_id '%s': expected the id of a pipeline run (its root run), 32 "
                   "lower-case hex digits",
                   q);
}

bool sm__events_next_id(const char *list, size_t *pos, char out[SM_ID_HEX_LEN + 1])
{
    if (list == NULL)
        return false;
    const char *p = list + *pos;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        const char *item = p;
        p += len + (comma != NULL ? 1 : 0);
        if (len == SM_ID_HEX_LEN && is_lower_hex(item, len)) {
            memcpy(out, item, SM_ID_HEX_LEN);
            out[SM_ID_HEX_LEN] = '\0';
            *pos = (size_t)(p - list);
            return true;
        }
    }
    *pos = (size_t)(p - list);
    return false;
}

/* Append "<field>: <value>\n" for each line of data[0..len) (at least one line). */
static int add_lines(struct sm_buf *out, const char *field, const char *data, size_t len)
{
    int rc = 0;
    size_t at = 0;
    do {
        size_t end = at;
        while (end < len && data[end] != '\n' && data[end] != '\r')
            end++;
        rc = rc ? rc : sm_buf_adds(out, field);
        rc = rc ? rc : sm_buf_add(out, data + at, end - at);
        rc = rc ? rc : sm_buf_addc(out, '\n');
        if (end < len && data[end] == '\r' && end + 1 < len && data[end + 1] == '\n')
            end++;
        at = end + 1;
    } while (rc == 0 && at <= len);
    return rc;
}

int sm__sse_event(struct sm_buf *out, int64_t seq, const char *event, const char *data, size_t len)
{
    int rc = 0;
    if (seq >= 0)
        rc = sm_buf_addf(out, "id: %lld\n", (long long)seq);
    rc = rc ? rc : sm_buf_addf(out, "event: %s\n", event);
    rc = rc ? rc : add_lines(out, "data: ", data, len);
    return rc ? rc : sm_buf_addc(out, '\n');
}

int sm__sse_comment(struct sm_buf *out, const char *text)
{
    int rc = add_lines(out, ": ", text, strlen(text));
    return rc ? rc : sm_buf_addc(out, '\n');
}

/* ------------------------------------------------------------- the run memo */

struct sm__memo_slot {
    uint8_t id[SM_ID_HEX_LEN / 2];
    bool is_used;
    struct sm__run_info info;
};

/* Slots per generation: twice the entries, so probes stay short. */
#define MEMO_SLOTS (2 * SM_EVENTS_MEMO_GEN)
_Static_assert((MEMO_SLOTS & (MEMO_SLOTS - 1)) == 0, "a power of two: the hash is masked");

static int hex_value(char c)
{
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

static void id_bytes(const char *hex, uint8_t out[SM_ID_HEX_LEN / 2])
{
    for (size_t i = 0; i < SM_ID_HEX_LEN / 2; i++)
        out[i] = (uint8_t)(hex_value(hex[2 * i]) << 4 | hex_value(hex[2 * i + 1]));
}

/* Ids of UUIDv7 layout share their leading (time) bytes: mix all of them. */
static size_t id_hash(const uint8_t id[SM_ID_HEX_LEN / 2])
{
    uint64_t a, b;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;
    return (size_t)(h ^ (h >> 31));
}

/* The slot holding id in table t, or the empty slot where it would go. */
static struct sm__memo_slot *probe(struct sm__memo_slot *t, const uint8_t id[SM_ID_HEX_LEN / 2])
{
    size_t i = id_hash(id) & (MEMO_SLOTS - 1);
    while (t[i].is_used && memcmp(t[i].id, id, sizeof(t[i].id)) != 0)
        i = (i + 1) & (MEMO_SLOTS - 1);
    return &t[i];
}

struct sm__run_info *sm__run_memo_get(struct sm__run_memo *m, const char *run_id)
{
    uint8_t id[SM_ID_HEX_LEN / 2];
    id_bytes(run_id, id);
    struct sm__memo_slot *t[2] = {m->young, m->old};
    for (size_t k = 0; k < 2; k++) {
        if (t[k] == NULL)
            continue;
        struct sm__memo_slot *slot = probe(t[k], id);
        if (slot->is_used)
            return &slot->info;
    }
    return NULL;
}

struct sm__run_info *sm__run_memo_put(struct sm__run_memo *m, const char *run_id, int64_t log_after)
{
    uint8_t id[SM_ID_HEX_LEN / 2];
    id_bytes(run_id, id);
    struct sm__run_info info = {.root_id = "", .log_after = log_after};
    if (m->young != NULL) {
        struct sm__memo_slot *slot = probe(m->young, id);
        if (slot->is_used)
            return &slot->info;
    }
    if (m->old != NULL) {
        struct sm__memo_slot *slot = probe(m->old, id);
        if (slot->is_used)
            info = slot->info; /* moves to the young generation below */
    }
    if (m->young == NULL || m->n_young >= SM_EVENTS_MEMO_GEN) {
        sm_free(m->old);
        m->old = m->young;
        m->n_old = m->n_young;
        m->young = sm_xcalloc(MEMO_SLOTS, sizeof(*m->young));
        m->n_young = 0;
    }
    struct sm__memo_slot *slot = probe(m->young, id);
    memcpy(slot->id, id, sizeof(slot->id));
    slot->is_used = true;
    slot->info = info;
    m->n_young++;
    return &slot->info;
}

void sm__run_memo_release(struct sm__run_memo *m)
{
    sm_free(m->young);
    sm_free(m->old);
    *m = (struct sm__run_memo){0};
}
