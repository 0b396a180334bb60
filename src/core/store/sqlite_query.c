/*
 * sqlite_query.c: the server's listings on the SQLite backend: a parsed
 * filter (include/sematic/filter.h) compiled into SQL, search, keyset
 * cursors, group_by, counts; and the change feed (events).
 *
 * Invariants.
 *  - Values are always bound, never pasted into SQL: the SQL text holds only
 *    column names from the whitelist below (one per filter column) and
 *    operators; a value becomes a '?' and an entry of struct sqlb's binds.
 *  - Runs are read through the `runs` view (run_rows joined with functions).
 *    `parent_id eq null` compiles to `id = root_id AND parent_id IS NULL`, so
 *    that the partial index runs_roots (created_at WHERE id = root_id) serves
 *    the dashboard's "pipeline runs, newest first" in index order.
 *  - Pages are keyset pages on (created_at, id): a cursor names the last row
 *    handed out and the next page starts after it, so rows added meanwhile
 *    neither repeat nor vanish, and no OFFSET walks over skipped rows.
 *  - A listing's statements are prepared for the call and finalized before
 *    it returns (their shapes vary too much to cache); no read transaction
 *    outlives the call.
 *
 * Start reading at sm__sq_query(), then compile_node().
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "sematic/alloc.h"
#include "sematic/buf.h"
#include "sematic/filter.h"
#include "sematic/hash.h"
#include "sematic/store.h"
#include "store/internal.h"
#include "store/sqlite_int.h"

#include "util/banned.h"

/* Cap on the SQL text of one listing. */
#define SQL_MAX_BYTES ((size_t)1 << 22)

/* ------------------------------------------------------------ columns, as SQL */

/* Each filter column's expression in SQL ("NULL" for the columns never filled), by entity. */
static const char *const run_sql[SM_RUN_COLUMN_COUNT] = {
    [SM_RUN_ID] = "id",
    [SM_RUN_ORIGINAL_RUN_ID] = "original_run_id",
    [SM_RUN_FUTURE_STATE] = "state",
    [SM_RUN_NAME] = "name",
    [SM_RUN_FUNCTION_PATH] = "function_path",
    [SM_RUN_PARENT_ID] = "parent_id",
    [SM_RUN_ROOT_ID] = "root_id",
    [SM_RUN_DESCRIPTION] = "description",
    [SM_RUN_TAGS] = "tags",
    [SM_RUN_NESTED_FUTURE_ID] = "nested_id",
    [SM_RUN_CACHE_KEY] = "cache_key",
    [SM_RUN_CREATED_AT] = "created_at",
    [SM_RUN_UPDATED_AT] = "updated_at",
    [SM_RUN_STARTED_AT] = "started_at",
    [SM_RUN_ENDED_AT] = "ended_at",
    [SM_RUN_RESOLVED_AT] = "resolved_at",
    [SM_RUN_FAILED_AT] = "failed_at",
    [SM_RUN_IS_INLINE] = "is_inline",
    [SM_RUN_ATTEMPT] = "attempt",
    [SM_RUN_CONTAINER_IMAGE_URI] = NULL,
    [SM_RUN_USER_ID] = NULL,
    [SM_RUN_ORGANIZATION_ID] = NULL,
};

static const char *const artifact_sql[SM_ARTIFACT_COLUMN_COUNT] = {
    [SM_ARTIFACT_ID] = "id",
    [SM_ARTIFACT_TYPE_SERIALIZATION] = "type_json",
    [SM_ARTIFACT_JSON_SUMMARY] = "summary_json",
    [SM_ARTIFACT_CREATED_AT] = "created_at",
    [SM_ARTIFACT_UPDATED_AT] = "created_at",
    [SM_ARTIFACT_ORGANIZATION_ID] = NULL,
};

static const char *const edge_sql[SM_EDGE_COLUMN_COUNT] = {
    [SM_EDGE_ID] = "id",
    [SM_EDGE_ROOT_ID] = "root_id",
    [SM_EDGE_SOURCE_RUN_ID] = "source_run_id",
    [SM_EDGE_SOURCE_NAME] = NULL,
    [SM_EDGE_DESTINATION_RUN_ID] = "destination_run_id",
    [SM_EDGE_DESTINATION_NAME] = "destination_name",
    [SM_EDGE_ARTIFACT_ID] = "artifact_id",
    [SM_EDGE_PARENT_ID] = "parent_id",
    [SM_EDGE_CREATED_AT] = "created_at",
    [SM_EDGE_UPDATED_AT] = "updated_at",
};

static const char *const note_sql[SM_NOTE_COLUMN_COUNT] = {
    [SM_NOTE_ID] = "id",
    [SM_NOTE_USER_ID] = "user",
    [SM_NOTE_NOTE] = "note",
    [SM_NOTE_RUN_ID] = "run_id",
    [SM_NOTE_ROOT_ID] = "root_id",
    [SM_NOTE_CREATED_AT] = "created_at",
    [SM_NOTE_UPDATED_AT] = "updated_at",
};

static const char *const pipeline_sql[SM_PIPELINE_COLUMN_COUNT] = {
    [SM_PIPELINE_ROOT_ID] = "root_id",
    [SM_PIPELINE_STATUS] = "status",
    [SM_PIPELINE_KIND] = "kind",
    [SM_PIPELINE_CACHE_NAMESPACE] = "cache_namespace",
    [SM_PIPELINE_CLIENT_VERSION] = "client_version",
    [SM_PIPELINE_RUN_COMMAND] = "run_command",
    [SM_PIPELINE_USER_ID] = "user",
    [SM_PIPELINE_GIT_INFO_JSON] = "git",
    [SM_PIPELINE_CREATED_AT] = "created_at",
    [SM_PIPELINE_UPDATED_AT] = "updated_at",
    [SM_PIPELINE_ENDED_AT] = "ended_at",
    [SM_PIPELINE_CONTAINER_IMAGE_URI] = NULL,
    [SM_PIPELINE_ORGANIZATION_ID] = NULL,
};

static const struct {
    const char *table; /* what to read rows from */
    const char *cols;  /* the columns the row reader expects, in order */
    const char *const *sql;
} entity_sql[SM_ENTITY_COUNT] = {
    [SM_ENTITY_RUNS] = {"runs", RUN_COLS, run_sql},
    [SM_ENTITY_ARTIFACTS] = {"artifacts", ART_COLS, artifact_sql},
    [SM_ENTITY_EDGES] = {"edges", EDGE_COLS, edge_sql},
    [SM_ENTITY_NOTES] = {"notes", NOTE_COLS, note_sql},
    [SM_ENTITY_PIPELINE_RUNS] = {"pipeline_runs", NULL, pipeline_sql},
};

/* ------------------------------------------------------------ building SQL */

enum bind_kind { B_TEXT, B_INT };

struct bind {
    enum bind_kind kind;
    const char *text; /* borrowed from the filter or the query */
    size_t len;
    int64_t num;
};

/* SQL text and its bound values, with a sticky error (STYLE 26). */
struct sqlb {
    struct sm_buf sql;
    struct bind *binds;
    size_t n_binds, cap_binds;
    int rc;
};

static void sqlb_init(struct sqlb *b)
{
    memset(b, 0, sizeof(*b));
    sm_buf_init(&b->sql, SQL_MAX_BYTES);
}

static void sqlb_release(struct sqlb *b)
{
    sm_buf_release(&b->sql);
    sm_free(b->binds);
    b->binds = NULL;
}

static void add(struct sqlb *b, const char *text)
{
    if (!b->rc)
        b->rc = sm_buf_adds(&b->sql, text);
}

/* "<alias>.<column>" */
static void add_col(struct sqlb *b, const char *alias, const char *column)
{
    add(b, alias);
    add(b, ".");
    add(b, column);
}

static void push_bind(struct sqlb *b, struct bind v)
{
    if (b->rc)
        return;
    if (b->n_binds == b->cap_binds) {
        b->cap_binds = b->cap_binds ? b->cap_binds * 2 : 16;
        b->binds = sm_xrealloc(b->binds, b->cap_binds * sizeof(*b->binds));
    }
    b->binds[b->n_binds++] = v;
    add(b, "?");
}

static void bind_text_value(struct sqlb *b, const char *text, size_t len)
{
    push_bind(b, (struct bind){.kind = B_TEXT, .text = text, .len = len});
}

static void bind_int_value(struct sqlb *b, int64_t v)
{
    push_bind(b, (struct bind){.kind = B_INT, .num = v});
}

/* One (non-null) value of column type `type`, as a bound parameter. */
static void bind_value(struct sqlb *b, enum sm_column_type type, const struct sm_filter_value *v)
{
    switch (type) {
    case SM_COLUMN_TEXT:
    case SM_COLUMN_TAGS:
    case SM_COLUMN_ABSENT:
        bind_text_value(b, v->text ? v->text : "", v->text ? v->len : 0);
        return;
    case SM_COLUMN_STATUS: {
        /* pipeline_runs.status holds the name. */
        const char *name = sm_pipeline_status_name((enum sm_pipeline_status)v->num);
        bind_text_value(b, name, strlen(name));
        return;
    }
    case SM_COLUMN_STATE:
    case SM_COLUMN_TIME:
    case SM_COLUMN_INT:
    case SM_COLUMN_BOOL:
        bind_int_value(b, v->num);
        return;
    }
}

/* A comparison of one column of the row named `alias` (of entity e). */
static void compile_compare(struct sqlb *b, const struct sm_filter_node *n, const char *alias)
{
    enum sm_column_type type = sm_filter_column_type(n->entity, n->column);
    const char *col = entity_sql[n->entity].sql[n->column];
    if (!col || type == SM_COLUMN_ABSENT) {
        /* Never filled: only "eq null" holds. */
        add(b, n->op == SM_FILTER_EQ && n->values[0].is_null ? "1" : "0");
        return;
    }
    if (n->op == SM_FILTER_CONTAINS) {
        /* CASE guards json_each(), which fails the whole query on a malformed list. */
        add(b, "(CASE WHEN json_valid(");
        add_col(b, alias, col);
        add(b, ") THEN EXISTS (SELECT 1 FROM json_each(");
        add_col(b, alias, col);
        add(b, ") WHERE value = ");
        bind_value(b, type, &n->values[0]);
        add(b, ") ELSE 0 END)");
        return;
    }
    if (n->op == SM_FILTER_EQ && n->values[0].is_null) {
        if (n->entity == SM_ENTITY_RUNS && n->column == SM_RUN_PARENT_ID) {
            /*
             * A run without a parent is a root: say so, so that the partial indexes on roots
             * (runs_roots by created_at, runs_root_functions) apply. The unary '+' keeps
             * SQLite from reading runs_parent_id for the NULLs instead, which would sort
             * every root to hand out a page of them.
             */
            add(b, "(");
            add_col(b, alias, "id");
            add(b, " = ");
            add_col(b, alias, "root_id");
            add(b, " AND +");
            add_col(b, alias, col);
            add(b, " IS NULL)");
            return;
        }
        add_col(b, alias, col);
        add(b, " IS NULL");
        return;
    }
    if (n->op == SM_FILTER_EQ) {
        add_col(b, alias, col);
        add(b, " = ");
        bind_value(b, type, &n->values[0]);
        return;
    }
    /* IN: a null in the list matches nothing, as in SQL (and Sematic). */
    size_t n_listed = 0;
    for (size_t i = 0; i < n->n_values; i++) {
        if (n->values[i].is_null)
            continue;
        if (n_listed++ == 0) {
            add_col(b, alias, col);
            add(b, " IN (");
        } else {
            add(b, ", ");
        }
        bind_value(b, type, &n->values[i]);
    }
    add(b, n_listed ? ")" : "0");
}

static void compile_node(struct sqlb *b, const struct sm_filter_node *n)
{
    switch (n->op) {
    case SM_FILTER_AND:
    case SM_FILTER_OR:
        if (n->n_children == 0) {
            add(b, n->op == SM_FILTER_AND ? "1" : "0");
            return;
        }
        add(b, "(");
        for (size_t i = 0; i < n->n_children; i++) {
            if (i > 0)
                add(b, n->op == SM_FILTER_AND ? " AND " : " OR ");
            compile_node(b, &n->children[i]);
        }
        add(b, ")");
        return;
    case SM_FILTER_EQ:
    case SM_FILTER_IN:
    case SM_FILTER_CONTAINS:
        break;
    }
    switch (n->rel) {
    case SM_FILTER_SELF:
        compile_compare(b, n, "t");
        return;
    case SM_FILTER_ROOT_RUN:
        /* Root runs by their own partial indexes, then the row's root_id index. */
        add(b, "t.root_id IN (SELECT r.id FROM runs r WHERE r.id = r.root_id AND ");
        compile_compare(b, n, "r");
        add(b, ")");
        return;
    case SM_FILTER_PIPELINE_RUN:
        add(b, "t.root_id IN (SELECT p.root_id FROM pipeline_runs p WHERE ");
        compile_compare(b, n, "p");
        add(b, ")");
        return;
    }
}

/* Sematic's search: ILIKE over name, function path, description, id and tags. */
static void compile_search(struct sqlb *b, const char *pattern)
{
    static const char *const cols[] = {"name", "function_path", "description", "id", "tags"};
    add(b, "(");
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
        if (i > 0)
            add(b, " OR ");
        add_col(b, "t", cols[i]);
        add(b, " LIKE ");
        bind_text_value(b, pattern, strlen(pattern));
        add(b, " ESCAPE '\\'");
    }
    add(b, ")");
}

/* ------------------------------------------------------------ cursors */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static bool b64_encode(const unsigned char *in, size_t n, char *out, size_t size)
{
    size_t need = (n + 2) / 3 * 4 + 1;
    if (need > size)
        return false;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64url[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64url[v & 63] : '=';
    }
    out[o] = '\0';
    return true;
}

static int b64_value(char c)
{
    if (c == '+')
        return 62; /* the standard alphabet, too */
    if (c == '/')
        return 63;
    const char *p = strchr(b64url, c);
    return c && p ? (int)(p - b64url) : -1;
}

/* Decode base64 (url-safe or standard, padding optional) into out; false when malformed. */
static bool b64_decode(const char *in, char *out, size_t size, size_t *n_out)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    size_t i = 0;
    for (; in[i] && in[i] != '='; i++) {
        int v = b64_value(in[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= size)
                return false;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    while (in[i] == '=')
        i++;
    if (in[i] || bits >= 6)
        return false;
    out[o] = '\0';
    *n_out = o;
    return true;
}

/* The cursor of a row: base64url of "<created_at, Sematic's str(datetime) form>_<id>". */
static void make_cursor(int64_t created_at, const char *id, char out[SM_CURSOR_MAX])
{
    char iso[40], text[SM_CURSOR_MAX];
    sm_format_time_us(created_at, iso);
    /* "2024-05-01T12:00:00.123456+00:00" -> "2024-05-01 12:00:00.123456" */
    bool four_digit_year = strlen(iso) == 32;
    int n;
    if (four_digit_year) {
        iso[10] = ' ';
        iso[26] = '\0';
        n = snprintf(text, sizeof(text), "%s_%s", iso, id);
    } else {
        n = snprintf(text, sizeof(text), "%" PRId64 "_%s", created_at, id);
    }
    if (n < 0 || (size_t)n >= sizeof(text) ||
        !b64_encode((const unsigned char *)text, (size_t)n, out, SM_CURSOR_MAX))
        out[0] = '\0';
}

static bool is_row_id(const char *s)
{
    return sm__store_is_id(s, SM_ID_HEX_LEN) || sm__store_is_id(s, SM_SHA1_HEX_LEN) ||
           sm__store_is_id(s, SM_SHA256_HEX_LEN);
}

static int read_cursor(const char *cursor, int64_t *created_at, char id[SM_SHA256_HEX_LEN + 1],
                       struct sm_err *err)
{
    char text[SM_CURSOR_MAX];
    size_t n = 0;
    bool ok = strlen(cursor) < SM_CURSOR_MAX && b64_decode(cursor, text, sizeof(text), &n) &&
              strlen(text) == n;
    char *sep = ok ? strrchr(text, '_') : NULL;
    ok = sep && is_row_id(sep + 1);
    if (ok) {
        *sep = '\0';
        snprintf(id, SM_SHA256_HEX_LEN + 1, "%s", sep + 1);
        char *end = NULL;
        long long us = strtoll(text, &end, 10);
        if (text[0] && end && *end == '\0') {
            *created_at = us;
        } else {
            ok = sm_parse_time_us(text, strlen(text), created_at, NULL) == 0;
        }
    }
    if (!ok)
        return sm_errf(err, SM_EINVAL,
                       "invalid cursor '%.60s': not one this server handed out as next_cursor; "
                       "drop it to start from the first page",
                       cursor);
    return 0;
}

/* ------------------------------------------------------------ listings */

/* The FROM and WHERE of a listing (grouped when q->group_by), into b. */
static void compile_from_where(struct sqlb *b, enum sm_entity e, const struct sm_query *q,
                               const char *pattern, bool has_cursor, int64_t cursor_at,
                               const char *cursor_id)
{
    const char *table = entity_sql[e].table;
    if (q->group_by) {
        int gcol = sm_filter_column_find(e, q->group_by);
        add(b, " FROM (SELECT t.*, row_number() OVER (PARTITION BY ");
        add_col(b, "t", entity_sql[e].sql[gcol]);
        add(b, " ORDER BY t.created_at DESC, t.id DESC) AS group_rank FROM ");
    } else {
        add(b, " FROM ");
    }
    add(b, table);
    add(b, " t WHERE 1");
    if (q->filter && q->filter->root) {
        add(b, " AND ");
        compile_node(b, q->filter->root);
    }
    if (pattern) {
        add(b, " AND ");
        compile_search(b, pattern);
    }
    if (q->group_by)
        add(b, ") t WHERE t.group_rank = 1");
    if (has_cursor) {
        /* (created_at, id) after the cursor's, written so an index on created_at bounds it. */
        const char *cmp = q->ascending ? ">" : "<";
        add(b, " AND t.created_at ");
        add(b, q->ascending ? ">=" : "<=");
        add(b, " ");
        bind_int_value(b, cursor_at);
        add(b, " AND (t.created_at ");
        add(b, cmp);
        add(b, " ");
        bind_int_value(b, cursor_at);
        add(b, " OR t.id ");
        add(b, cmp);
        add(b, " ");
        bind_text_value(b, cursor_id, strlen(cursor_id));
        add(b, ")");
    }
}

static int prepare(struct sqlite_store *st, const struct sqlb *b, sqlite3_stmt **out,
                   struct sm_err *err)
{
    *out = NULL;
    if (b->rc)
        return sm_errf(err, SM_ETOOBIG,
                       "cannot list from store '%s': the query is longer than %zu bytes; use a "
                       "smaller filter",
                       st->db_path, SQL_MAX_BYTES);
    int rc = sm__sq_flush_pending(st, err);
    if (rc)
        return rc;
    rc = sqlite3_prepare_v2(st->db, b->sql.data, (int)b->sql.len, out, NULL);
    if (rc != SQLITE_OK) {
        rc = sm__sq_fail(st, rc, "read", err);
        sqlite3_finalize(*out);
        *out = NULL;
        return rc;
    }
    int brc = SQLITE_OK;
    for (size_t i = 0; i < b->n_binds; i++) {
        const struct bind *v = &b->binds[i];
        if (v->kind == B_TEXT)
            BIND(sqlite3_bind_text(*out, (int)i + 1, v->text, (int)v->len, SQLITE_STATIC));
        else
            BIND(sqlite3_bind_int64(*out, (int)i + 1, v->num));
    }
    if (brc != SQLITE_OK) {
        rc = sm__sq_fail(st, brc, "read", err);
        sqlite3_finalize(*out);
        *out = NULL;
        return rc;
    }
    return 0;
}

/* The created_at and id of a row just read, for the cursor. */
struct row_key {
    int64_t created_at;
    char id[SM_SHA256_HEX_LEN + 1];
};

/* Read the current row as a record of kind e and hand it to fn. */
static int deliver(struct sqlite_store *st, enum sm_entity e, sqlite3_stmt *s, union sm_row_fn fn,
                   void *ctx, struct row_key *key)
{
    struct texts t;
    sm__sq_texts_init(&t, st, false);
    switch (e) {
    case SM_ENTITY_RUNS: {
        struct sm_run_rec r;
        sm__sq_run_from_row(&t, s, &r);
        key->created_at = r.created_at;
        snprintf(key->id, sizeof(key->id), "%s", r.id);
        return fn.run(ctx, &r);
    }
    case SM_ENTITY_ARTIFACTS: {
        struct sm_artifact_rec a;
        sm__sq_artifact_from_row(&t, s, &a);
        key->created_at = a.created_at;
        snprintf(key->id, sizeof(key->id), "%s", a.id);
        return fn.artifact(ctx, &a);
    }
    case SM_ENTITY_EDGES: {
        struct sm_edge_rec ed;
        sm__sq_edge_from_row(&t, s, &ed);
        key->created_at = ed.created_at;
        snprintf(key->id, sizeof(key->id), "%s", ed.id);
        return fn.edge(ctx, &ed);
    }
    case SM_ENTITY_NOTES: {
        struct sm_note_rec n;
        sm__sq_note_from_row(&t, s, &n);
        key->created_at = n.created_at;
        snprintf(key->id, sizeof(key->id), "%s", n.id);
        return fn.note(ctx, &n);
    }
    case SM_ENTITY_PIPELINE_RUNS:
        break;
    }
    return 0;
}

/* What a listing's SQL is made of, once its query has been read. */
struct listing {
    enum sm_entity e;
    const struct sm_query *q;
    bool has_cursor;
    int64_t cursor_at;
    char cursor_id[SM_SHA256_HEX_LEN + 1];
    struct sm_buf pattern; /* the search as a LIKE pattern */
    const char *pat;       /* pattern.data, or NULL without a search */
    int64_t limit;         /* -1: all */
};

static int listing_init(struct listing *l, enum sm_entity e, const struct sm_query *q,
                        struct sm_err *err)
{
    memset(l, 0, sizeof(*l));
    sm_buf_init(&l->pattern, 1 << 20);
    l->e = e;
    l->q = q;
    l->limit = q->limit > 0 && q->limit < INT64_MAX ? q->limit : -1; /* limit + 1 is asked for */
    if (e == SM_ENTITY_PIPELINE_RUNS || !entity_sql[e].cols)
        return sm_errf(err, SM_EINVAL, "cannot list %s with a query; use sm_store_get_pipeline()",
                       sm_entity_name(e));
    l->has_cursor = q->cursor && q->cursor[0];
    if (l->has_cursor) {
        int rc = read_cursor(q->cursor, &l->cursor_at, l->cursor_id, err);
        if (rc)
            return rc;
    }
    if (q->search) {
        if (sm__sq_like_pattern(&l->pattern, q->search) != 0)
            return sm_errf(err, SM_ETOOBIG,
                           "cannot search runs: the search text is longer than 1 MiB");
        l->pat = l->pattern.data;
    }
    return 0;
}

static void listing_release(struct listing *l)
{
    sm_buf_release(&l->pattern);
}

/* The page's statement: one row more than asked, to know whether another page follows. */
static int prepare_page(struct sqlite_store *st, const struct listing *l, const char *prefix,
                        sqlite3_stmt **s, struct sm_err *err)
{
    struct sqlb b;
    sqlb_init(&b);
    add(&b, prefix);
    add(&b, "SELECT ");
    add(&b, entity_sql[l->e].cols);
    compile_from_where(&b, l->e, l->q, l->pat, l->has_cursor, l->cursor_at, l->cursor_id);
    add(&b, l->q->ascending ? " ORDER BY t.created_at ASC, t.id ASC LIMIT "
                            : " ORDER BY t.created_at DESC, t.id DESC LIMIT ");
    bind_int_value(&b, l->limit > 0 ? l->limit + 1 : -1);
    int rc = prepare(st, &b, s, err);
    sqlb_release(&b);
    return rc;
}

int sm__store_explain(struct sm_store *base, enum sm_entity e, const struct sm_query *q,
                      struct sm_buf *plan, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    struct listing l;
    int rc = listing_init(&l, e, q, err);
    sqlite3_stmt *s = NULL;
    if (!rc)
        rc = prepare_page(st, &l, "EXPLAIN QUERY PLAN ", &s, err);
    int brc = 0;
    while (!rc && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *detail = sqlite3_column_text(s, 3);
        brc = brc ? brc : sm_buf_adds(plan, detail ? (const char *)detail : "");
        brc = brc ? brc : sm_buf_addc(plan, '\n');
        rc = 0;
    }
    if (rc == SQLITE_DONE)
        rc = brc ? sm_errf(err, brc, "cannot explain: the plan is too long") : 0;
    else if (rc > 0)
        rc = sm__sq_fail(st, rc, "read", err);
    sqlite3_finalize(s);
    listing_release(&l);
    return rc;
}

int sm__sq_query(struct sm_store *base, enum sm_entity e, const struct sm_query *q,
                 union sm_row_fn fn, void *ctx, struct sm_page *page, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    struct listing l;
    int out = listing_init(&l, e, q, err);
    sqlite3_stmt *s = NULL;
    if (!out)
        out = prepare_page(st, &l, "", &s, err);
    if (out) {
        listing_release(&l);
        return out;
    }
    int64_t limit = l.limit;
    int64_t n_rows = 0;
    bool more = false;
    struct row_key last = {0, ""};
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (limit > 0 && n_rows == limit) {
            more = true;
            break;
        }
        n_rows++;
        out = deliver(st, e, s, fn, ctx, &last);
        if (out)
            break;
    }
    if (!out && rc != SQLITE_DONE && rc != SQLITE_ROW)
        out = sm__sq_fail(st, rc, "read", err);
    sqlite3_finalize(s);

    if (page && !out) {
        page->n_rows = n_rows;
        page->after_cursor_count = -1;
        page->next_cursor[0] = '\0';
        if (more && n_rows > 0)
            make_cursor(last.created_at, last.id, page->next_cursor);
    }
    if (page && !out && q->count) {
        struct sqlb b;
        sqlb_init(&b);
        add(&b, "SELECT count(*)");
        compile_from_where(&b, e, q, l.pat, l.has_cursor, l.cursor_at, l.cursor_id);
        out = prepare(st, &b, &s, err);
        sqlb_release(&b);
        if (!out) {
            rc = sqlite3_step(s);
            if (rc == SQLITE_ROW)
                page->after_cursor_count = sqlite3_column_int64(s, 0);
            else
                out = sm__sq_fail(st, rc, "read", err);
            sqlite3_finalize(s);
        }
    }
    listing_release(&l);
    return out;
}

/* ------------------------------------------------------------ the change feed */

enum {
    AUX_EVENTS = 0,
    AUX_EVENTS_LIMIT = 1,
};
_Static_assert(AUX_EVENTS_LIMIT < 8, "sqlite_query.c uses aux slots 0 to 7");

/*
 * With a limit, the bound is the seq of the limit-th row from after_seq on, and every row of
 * that seq comes too: a batch's rows are never split across calls.
 */
static const char events_sql[] = "SELECT seq, kind, subject_id, payload FROM events "
                                 "WHERE seq > ?1 ORDER BY seq, rowid";
static const char events_limit_sql[] =
    "SELECT seq, kind, subject_id, payload FROM events WHERE seq > ?1 AND seq <= "
    "coalesce((SELECT seq FROM events WHERE seq > ?1 ORDER BY seq LIMIT 1 OFFSET ?2), "
    "9223372036854775807) ORDER BY seq, rowid";

int sm__sq_list_events(struct sm_store *base, int64_t after_seq, int64_t limit, sm_event_fn fn,
                       void *ctx, struct sm_err *err)
{
    struct sqlite_store *st = to_sq(base);
    int slot = limit > 0 ? AUX_EVENTS_LIMIT : AUX_EVENTS;
    sqlite3_stmt *s = sm__sq_aux(st, slot, limit > 0 ? events_limit_sql : events_sql, err);
    if (!s)
        return st->prep_rc;
    bool owned = false;
    if (sqlite3_stmt_busy(s)) {
        /* A callback listing events again gets a statement of its own. */
        sqlite3_stmt *fresh = NULL;
        int rc = sqlite3_prepare_v2(st->db, sqlite3_sql(s), -1, &fresh, NULL);
        if (rc != SQLITE_OK) {
            rc = sm__sq_fail(st, rc, "read", err);
            sqlite3_finalize(fresh);
            return rc;
        }
        s = fresh;
        owned = true;
    }
    sqlite3_bind_int64(s, 1, after_seq);
    if (limit > 0)
        sqlite3_bind_int64(s, 2, limit - 1);
    int out = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct sm_event_rec ev;
        ev.seq = sqlite3_column_int64(s, 0);
        const unsigned char *kind = sqlite3_column_text(s, 1);
        const unsigned char *subject = sqlite3_column_text(s, 2);
        ev.kind = kind ? (const char *)kind : "";
        ev.subject_id = subject ? (const char *)subject : "";
        ev.payload = (const char *)sqlite3_column_text(s, 3);
        out = fn(ctx, &ev);
        if (out)
            break;
    }
    if (!out && rc != SQLITE_DONE && rc != SQLITE_ROW)
        out = sm__sq_fail(st, rc, "read", err);
    if (owned)
        sqlite3_finalize(s);
    else
        done(s);
    return out;
}
