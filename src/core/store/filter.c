/*
 * filter.c: Sematic's listing filters parsed into a checked tree
 * (include/sematic/filter.h).
 *
 * sm_filter_parse() reads the JSON text with the project's reader
 * (sm_json_parse), then walks it once, building nodes from a fixed pool of
 * SM_FILTER_MAX_NODES (an AND's operands take consecutive slots, so a node's
 * children are an array) and checking each value against its column's type:
 * names of states and statuses become their enum values, times become
 * microseconds, text keeps pointing into the parsed document, which the
 * filter owns. Whatever is wrong is reported once, with the path of the
 * offending part ("at AND[1].OR[0]") and how to write it instead.
 *
 * The column tables below are the one list of what each entity can be
 * filtered on; backends map each column enum to their own expression.
 * Start reading at sm_filter_parse(), then parse_node().
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sematic/alloc.h"
#include "sematic/filter.h"
#include "sematic/graph.h"
#include "sematic/json.h"
#include "sematic/store.h"

#include "util/banned.h"

/* ------------------------------------------------------------ columns */

struct column {
    const char *name;  /* Sematic's */
    const char *alias; /* another accepted name, or NULL */
    enum sm_column_type type;
};

static const struct column run_columns[SM_RUN_COLUMN_COUNT] = {
    [SM_RUN_ID] = {"id", NULL, SM_COLUMN_TEXT},
    [SM_RUN_ORIGINAL_RUN_ID] = {"original_run_id", NULL, SM_COLUMN_TEXT},
    [SM_RUN_FUTURE_STATE] = {"future_state", NULL, SM_COLUMN_STATE},
    [SM_RUN_NAME] = {"name", NULL, SM_COLUMN_TEXT},
    [SM_RUN_FUNCTION_PATH] = {"function_path", "calculator_path", SM_COLUMN_TEXT},
    [SM_RUN_PARENT_ID] = {"parent_id", NULL, SM_COLUMN_TEXT},
    [SM_RUN_ROOT_ID] = {"root_id", NULL, SM_COLUMN_TEXT},
    [SM_RUN_DESCRIPTION] = {"description", NULL, SM_COLUMN_TEXT},
    [SM_RUN_TAGS] = {"tags", NULL, SM_COLUMN_TAGS},
    [SM_RUN_NESTED_FUTURE_ID] = {"nested_future_id", "nested_id", SM_COLUMN_TEXT},
    [SM_RUN_CACHE_KEY] = {"cache_key", NULL, SM_COLUMN_TEXT},
    [SM_RUN_CREATED_AT] = {"created_at", NULL, SM_COLUMN_TIME},
    [SM_RUN_UPDATED_AT] = {"updated_at", NULL, SM_COLUMN_TIME},
    [SM_RUN_STARTED_AT] = {"started_at", NULL, SM_COLUMN_TIME},
    [SM_RUN_ENDED_AT] = {"ended_at", NULL, SM_COLUMN_TIME},
    [SM_RUN_RESOLVED_AT] = {"resolved_at", NULL, SM_COLUMN_TIME},
    [SM_RUN_FAILED_AT] = {"failed_at", NULL, SM_COLUMN_TIME},
    [SM_RUN_IS_INLINE] = {"is_inline", NULL, SM_COLUMN_BOOL},
    [SM_RUN_ATTEMPT] = {"attempt", NULL, SM_COLUMN_INT},
    [SM_RUN_CONTAINER_IMAGE_URI] = {"container_image_uri", NULL, SM_COLUMN_ABSENT},
    [SM_RUN_USER_ID] = {"user_id", NULL, SM_COLUMN_ABSENT},
    [SM_RUN_ORGANIZATION_ID] = {"organization_id", NULL, SM_COLUMN_ABSENT},
};

static const struct column artifact_columns[SM_ARTIFACT_COLUMN_COUNT] = {
    [SM_ARTIFACT_ID] = {"id", NULL, SM_COLUMN_TEXT},
    [SM_ARTIFACT_TYPE_SERIALIZATION] = {"type_serialization", NULL, SM_COLUMN_TEXT},
    [SM_ARTIFACT_JSON_SUMMARY] = {"json_summary", NULL, SM_COLUMN_TEXT},
    [SM_ARTIFACT_CREATED_AT] = {"created_at", NULL, SM_COLUMN_TIME},
    [SM_ARTIFACT_UPDATED_AT] = {"updated_at", NULL, SM_COLUMN_TIME},
    [SM_ARTIFACT_ORGANIZATION_ID] = {"organization_id", NULL, SM_COLUMN_ABSENT},
};

static const struct column edge_columns[SM_EDGE_COLUMN_COUNT] = {
    [SM_EDGE_ID] = {"id", NULL, SM_COLUMN_TEXT},
    [SM_EDGE_ROOT_ID] = {"root_id", NULL, SM_COLUMN_TEXT},
    [SM_EDGE_SOURCE_RUN_ID] = {"source_run_id", NULL, SM_COLUMN_TEXT},
    [SM_EDGE_SOURCE_NAME] = {"source_name", NULL, SM_COLUMN_ABSENT},
    [SM_EDGE_DESTINATION_RUN_ID] = {"destination_run_id", NULL, SM_COLUMN_TEXT},
    [SM_EDGE_DESTINATION_NAME] = {"destination_name", NULL, SM_COLUMN_TEXT},
    [SM_EDGE_ARTIFACT_ID] = {"artifact_id", NULL, SM_COLUMN_TEXT},
    [SM_EDGE_PARENT_ID] = {"parent_id", NULL, SM_COLUMN_TEXT},
    [SM_EDGE_CREATED_AT] = {"created_at", NULL, SM_COLUMN_TIME},
    [SM_EDGE_UPDATED_AT] = {"updated_at", NULL, SM_COLUMN_TIME},
};

static const struct column note_columns[SM_NOTE_COLUMN_COUNT] = {
    [SM_NOTE_ID] = {"id", NULL, SM_COLUMN_TEXT},
    [SM_NOTE_USER_ID] = {"user_id", NULL, SM_COLUMN_TEXT},
    [SM_NOTE_NOTE] = {"note", NULL, SM_COLUMN_TEXT},
    [SM_NOTE_RUN_ID] = {"run_id", NULL, SM_COLUMN_TEXT},
    [SM_NOTE_ROOT_ID] = {"root_id", NULL, SM_COLUMN_TEXT},
    [SM_NOTE_CREATED_AT] = {"created_at", NULL, SM_COLUMN_TIME},
    [SM_NOTE_UPDATED_AT] = {"updated_at", NULL, SM_COLUMN_TIME},
};

static const struct column pipeline_columns[SM_PIPELINE_COLUMN_COUNT] = {
    [SM_PIPELINE_ROOT_ID] = {"root_id", NULL, SM_COLUMN_TEXT},
    [SM_PIPELINE_STATUS] = {"status", NULL, SM_COLUMN_STATUS},
    [SM_PIPELINE_KIND] = {"kind", NULL, SM_COLUMN_TEXT},
    [SM_PIPELINE_CACHE_NAMESPACE] = {"cache_namespace", NULL, SM_COLUMN_TEXT},
    [SM_PIPELINE_CLIENT_VERSION] = {"client_version", NULL, SM_COLUMN_TEXT},
    [SM_PIPELINE_RUN_COMMAND] = {"run_command", NULL, SM_COLUMN_TEXT},
    [SM_PIPELINE_USER_ID] = {"user_id", NULL, SM_COLUMN_TEXT},
    [SM_PIPELINE_GIT_INFO_JSON] = {"git_info_json", NULL, SM_COLUMN_TEXT},
    [SM_PIPELINE_CREATED_AT] = {"created_at", NULL, SM_COLUMN_TIME},
    [SM_PIPELINE_UPDATED_AT] = {"updated_at", NULL, SM_COLUMN_TIME},
    [SM_PIPELINE_ENDED_AT] = {"ended_at", NULL, SM_COLUMN_TIME},
    [SM_PIPELINE_CONTAINER_IMAGE_URI] = {"container_image_uri", NULL, SM_COLUMN_ABSENT},
    [SM_PIPELINE_ORGANIZATION_ID] = {"organization_id", NULL, SM_COLUMN_ABSENT},
};

static const struct {
    const char *name;
    const struct column *columns;
    int n;
    bool has_root; /* rows name a root run: root_run. and pipeline_run. apply */
} entities[SM_ENTITY_COUNT] = {
    [SM_ENTITY_RUNS] = {"runs", run_columns, SM_RUN_COLUMN_COUNT, true},
    [SM_ENTITY_ARTIFACTS] = {"artifacts", artifact_columns, SM_ARTIFACT_COLUMN_COUNT, false},
    [SM_ENTITY_EDGES] = {"edges", edge_columns, SM_EDGE_COLUMN_COUNT, true},
    [SM_ENTITY_NOTES] = {"notes", note_columns, SM_NOTE_COLUMN_COUNT, true},
    [SM_ENTITY_PIPELINE_RUNS] = {"pipeline runs", pipeline_columns, SM_PIPELINE_COLUMN_COUNT,
                                 false},
};

static bool entity_ok(enum sm_entity e)
{
    return (unsigned)e < SM_ENTITY_COUNT;
}

const char *sm_entity_name(enum sm_entity e)
{
    return entity_ok(e) ? entities[e].name : "unknown";
}

int sm_filter_n_columns(enum sm_entity e)
{
    return entity_ok(e) ? entities[e].n : 0;
}

const char *sm_filter_column_name(enum sm_entity e, int column)
{
    if (!entity_ok(e) || column < 0 || column >= entities[e].n)
        return NULL;
    return entities[e].columns[column].name;
}

enum sm_column_type sm_filter_column_type(enum sm_entity e, int column)
{
    if (!entity_ok(e) || column < 0 || column >= entities[e].n)
        return SM_COLUMN_ABSENT;
    return entities[e].columns[column].type;
}

static int find_column(enum sm_entity e, const char *name, size_t len)
{
    if (!entity_ok(e) || !name)
        return -1;
    for (int i = 0; i < entities[e].n; i++) {
        const struct column *c = &entities[e].columns[i];
        if ((strlen(c->name) == len && memcmp(c->name, name, len) == 0) ||
            (c->alias && strlen(c->alias) == len && memcmp(c->alias, name, len) == 0))
            return i;
    }
    return -1;
}

int sm_filter_column_find(enum sm_entity e, const char *name)
{
    return name ? find_column(e, name, strlen(name)) : -1;
}

/* "id, original_run_id, ..." into out: the columns worth filtering on (not the absent ones). */
static void column_list(enum sm_entity e, char *out, size_t size)
{
    size_t at = 0;
    out[0] = '\0';
    for (int i = 0; i < entities[e].n && at + 1 < size; i++) {
        if (entities[e].columns[i].type == SM_COLUMN_ABSENT)
            continue;
        int n = snprintf(out + at, size - at, "%s%s", at ? ", " : "", entities[e].columns[i].name);
        if (n < 0)
            break;
        at += (size_t)n;
    }
}

/* ------------------------------------------------------------ parsing */

/* Values of one comparison, chained so that release can free them. */
struct value_block {
    struct value_block *next;
    struct sm_filter_value values[]; /* flexible array member */
};

struct filter_mem {
    struct sm_json_doc doc;
    struct value_block *blocks;
    size_t n_nodes;
    struct sm_filter_node nodes[SM_FILTER_MAX_NODES];
};

struct parser {
    struct filter_mem *mem;
    enum sm_entity entity;
    size_t n_values;
    struct sm_err *err;
    char path[160]; /* where we are: "AND[1].OR[0]"; "" at the top */
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
    return "a value";
}

/* SM_EINVAL "invalid filters[ at <path>]: <what>". */
static int bad(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct parser *p, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (p->path[0])
        return sm_errf(p->err, SM_EINVAL, "invalid filters at %s: %s", p->path, what);
    return sm_errf(p->err, SM_EINVAL, "invalid filters: %s", what);
}

static struct sm_filter_node *take_nodes(struct parser *p, size_t n)
{
    if (n > SM_FILTER_MAX_NODES - p->mem->n_nodes) {
        bad(p,
            "more than %d conditions; split the listing into several requests or use 'in' "
            "with a list of values",
            SM_FILTER_MAX_NODES);
        return NULL;
    }
    struct sm_filter_node *nodes = &p->mem->nodes[p->mem->n_nodes];
    p->mem->n_nodes += n;
    memset(nodes, 0, n * sizeof(*nodes));
    return nodes;
}

static struct sm_filter_value *take_values(struct parser *p, size_t n)
{
    if (n > SM_FILTER_MAX_VALUES - p->n_values) {
        bad(p, "more than %d values in all; list fewer ids per request", SM_FILTER_MAX_VALUES);
        return NULL;
    }
    p->n_values += n;
    struct value_block *b = sm_xcalloc(1, sizeof(*b) + (n ? n : 1) * sizeof(b->values[0]));
    b->next = p->mem->blocks;
    p->mem->blocks = b;
    return b->values;
}

/* The name of a state or status, or -1. */
static int state_by_name(const char *name)
{
    for (int i = 0; i < SM_STATE_COUNT; i++)
        if (strcmp(name, sm_state_name((enum sm_state)i)) == 0)
            return i;
    return -1;
}

static void state_list(bool statuses, char *out, size_t size)
{
    size_t at = 0;
    int n_names = statuses ? SM_PIPELINE_STATUS_COUNT : SM_STATE_COUNT;
    out[0] = '\0';
    for (int i = 0; i < n_names && at + 1 < size; i++) {
        const char *name = statuses ? sm_pipeline_status_name((enum sm_pipeline_status)i)
                                    : sm_state_name((enum sm_state)i);
        int n = snprintf(out + at, size - at, "%s%s", i ? ", " : "", name);
        if (n < 0)
            break;
        at += (size_t)n;
    }
}

/* Convert v, a value compared with column `name` of type `type`, into *out. */
static int convert_value(struct parser *p, const struct sm_json *v, const char *name,
                         enum sm_column_type type, struct sm_filter_value *out)
{
    memset(out, 0, sizeof(*out));
    if (v->kind == SM_JSON_ARRAY || v->kind == SM_JSON_OBJECT)
        return bad(p,
                   "'%s' is compared with %s; compare it with one string, number, boolean or "
                   "null (for several values use {\"in\": [...]})",
                   name, kind_name(v->kind));
    if (v->kind == SM_JSON_NULL) {
        if (type == SM_COLUMN_TAGS)
            return bad(p, "'tags' contains strings, not null; write {\"contains\": \"a tag\"}");
        out->is_null = true;
        return 0;
    }
    char names[160];
    switch (type) {
    case SM_COLUMN_TEXT:
    case SM_COLUMN_TAGS:
        if (v->kind != SM_JSON_STRING)
            return bad(p, "'%s' holds text; compare it with a string or null, not %s", name,
                       kind_name(v->kind));
        out->text = v->str;
        out->len = v->len;
        return 0;
    case SM_COLUMN_STATE:
    case SM_COLUMN_STATUS: {
        bool status = type == SM_COLUMN_STATUS;
        int k = v->kind == SM_JSON_STRING
                    ? (status ? sm_pipeline_status_parse(v->str) : state_by_name(v->str))
                    : -1;
        if (!status && k < 0 && v->kind == SM_JSON_STRING && strcmp(v->str, "SUCCEEDED") == 0) {
            /* Sematic's dashboard still asks for this retired name alongside RESOLVED; no
             * run has it, here or in Sematic: a value that matches nothing. */
            out->num = -1;
            return 0;
        }
        if (k < 0) {
            state_list(status, names, sizeof(names));
            if (v->kind != SM_JSON_STRING)
                return bad(p, "'%s' is compared with %s; use a %s name: %s", name,
                           kind_name(v->kind), status ? "status" : "state", names);
            return bad(p, "unknown %s '%.40s' for '%s'; use one of %s",
                       status ? "pipeline run status" : "run state", v->str, name, names);
        }
        out->num = k;
        return 0;
    }
    case SM_COLUMN_TIME: {
        struct sm_err time_err = SM_ERR_INIT;
        if (v->kind != SM_JSON_STRING ||
            sm_parse_time_us(v->str, v->len, &out->num, &time_err) != 0)
            return bad(p,
                       "'%s' is a time; write it as ISO-8601 text in UTC such as "
                       "\"2024-05-01T12:00:00.000000\", not %s%s%.40s%s",
                       name, kind_name(v->kind), v->kind == SM_JSON_STRING ? " '" : "",
                       v->kind == SM_JSON_STRING ? v->str : "",
                       v->kind == SM_JSON_STRING ? "'" : "");
        return 0;
    }
    case SM_COLUMN_INT:
        if (v->kind != SM_JSON_NUMBER || v->num != floor(v->num) || fabs(v->num) > 9.0e15)
            return bad(p, "'%s' holds whole numbers; compare it with one, not %s%s%.40s", name,
                       kind_name(v->kind), v->kind == SM_JSON_NUMBER ? " " : "",
                       v->kind == SM_JSON_NUMBER ? v->str : "");
        out->num = (int64_t)v->num;
        return 0;
    case SM_COLUMN_BOOL:
        if (v->kind != SM_JSON_BOOL)
            return bad(p, "'%s' is true or false; compare it with a boolean, not %s", name,
                       kind_name(v->kind));
        out->num = v->boolean ? 1 : 0;
        return 0;
    case SM_COLUMN_ABSENT:
        /* Never filled here: any scalar is fine, and only null will match. */
        if (v->kind == SM_JSON_STRING) {
            out->text = v->str;
            out->len = v->len;
        }
        return 0;
    }
    return bad(p, "'%s' has a type this build does not know", name);
}

/* Append ".<piece>" (or "<piece>" at the top) to the path; returns the old length. */
static size_t path_push(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static size_t path_push(struct parser *p, const char *fmt, ...)
{
    size_t at = strlen(p->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->path + at, sizeof(p->path) - at, fmt, ap);
    va_end(ap);
    return at;
}

static void path_pop(struct parser *p, size_t at)
{
    p->path[at] = '\0';
}

static int parse_node(struct parser *p, const struct sm_json *v, int depth,
                      struct sm_filter_node *node);

static int parse_bool_op(struct parser *p, const struct sm_json *member, bool is_and, int depth,
                         struct sm_filter_node *node)
{
    const char *op = is_and ? "AND" : "OR";
    const struct sm_json *list = member;
    if (list->kind != SM_JSON_ARRAY)
        return bad(p, "'%s' takes a list of filters, not %s; write {\"%s\": [{...}, {...}]}", op,
                   kind_name(list->kind), op);
    if (depth >= SM_FILTER_MAX_DEPTH)
        return bad(p, "AND and OR nest deeper than %d levels; write the filter flatter",
                   SM_FILTER_MAX_DEPTH);
    node->op = is_and ? SM_FILTER_AND : SM_FILTER_OR;
    struct sm_filter_node *kids = take_nodes(p, list->n_items);
    if (!kids)
        return SM_EINVAL;
    node->children = kids;
    node->n_children = list->n_items;
    for (size_t i = 0; i < list->n_items; i++) {
        size_t at = path_push(p, "%s%s[%zu]", p->path[0] ? "." : "", op, i);
        int rc = parse_node(p, &list->items[i], depth + 1, &kids[i]);
        path_pop(p, at);
        if (rc)
            return rc;
    }
    return 0;
}

/* A column condition: member is {"<column>": {"<op>": value}}. */
static int parse_condition(struct parser *p, const struct sm_json *member,
                           struct sm_filter_node *node)
{
    const char *key = member->key;
    size_t key_len = member->key_len;
    enum sm_entity target = p->entity;
    enum sm_filter_rel rel = SM_FILTER_SELF;
    const char *col_name = key;
    size_t col_len = key_len;
    const char *dot = memchr(key, '.', key_len);
    char cols[320];

    if (dot) {
        size_t rel_len = (size_t)(dot - key);
        if (rel_len == 8 && memcmp(key, "root_run", 8) == 0) {
            rel = SM_FILTER_ROOT_RUN;
            target = SM_ENTITY_RUNS;
        } else if (rel_len == 12 && memcmp(key, "pipeline_run", 12) == 0) {
            rel = SM_FILTER_PIPELINE_RUN;
            target = SM_ENTITY_PIPELINE_RUNS;
        } else {
            return bad(p,
                       "unknown relationship '%.*s' in '%.80s'; use root_run.<column> or "
                       "pipeline_run.<column>",
                       (int)(rel_len > 40 ? 40 : rel_len), key, key);
        }
        if (!entities[p->entity].has_root)
            return bad(p,
                       "%s have no root run, so '%.80s' cannot apply; filter on their own "
                       "columns",
                       entities[p->entity].name, key);
        col_name = dot + 1;
        col_len = key_len - rel_len - 1;
    }
    int column = find_column(target, col_name, col_len);
    if (column < 0) {
        if ((key_len == 3 && strncasecmp(key, "and", 3) == 0) ||
            (key_len == 2 && strncasecmp(key, "or", 2) == 0))
            return bad(p, "unknown column '%s'; to combine filters write '%s' in capitals", key,
                       key_len == 3 ? "AND" : "OR");
        column_list(target, cols, sizeof(cols));
        return bad(p, "unknown column '%.60s' of %s; use one of: %s", col_name,
                   entities[target].name, cols);
    }
    const struct column *c = &entities[target].columns[column];

    const struct sm_json *cond = member;
    if (cond->kind != SM_JSON_OBJECT)
        return bad(p,
                   "the condition on '%.80s' is %s; write an object such as {\"%.80s\": "
                   "{\"eq\": value}}",
                   key, kind_name(cond->kind), key);
    if (cond->n_items == 0)
        return bad(p,
                   "the condition on '%.80s' is empty; write {\"eq\": value}, {\"in\": "
                   "[values]} or {\"contains\": value}",
                   key);
    if (cond->n_items > 1)
        return bad(p,
                   "the condition on '%.80s' has %zu operators ('%.20s', '%.20s'...); write one "
                   "per condition and combine conditions with {\"AND\": [...]}",
                   key, cond->n_items, cond->items[0].key, cond->items[1].key);
    const struct sm_json *opv = &cond->items[0];
    const char *op = opv->key;
    node->rel = rel;
    node->entity = target;
    node->column = column;
    if (strcmp(op, "eq") == 0) {
        node->op = SM_FILTER_EQ;
    } else if (strcmp(op, "in") == 0) {
        node->op = SM_FILTER_IN;
    } else if (strcmp(op, "contains") == 0) {
        node->op = SM_FILTER_CONTAINS;
    } else {
        return bad(p, "unknown operator '%.40s' on '%.80s'; use eq, in or contains", op, key);
    }
    if (rel != SM_FILTER_SELF && node->op != SM_FILTER_EQ)
        return bad(p,
                   "relationship column '%.80s' takes only eq, not %s (as in Sematic); filter "
                   "the listing's own columns with in or contains",
                   key, op);
    if (node->op == SM_FILTER_CONTAINS && c->type != SM_COLUMN_TAGS)
        return bad(p, "'contains' works only on tags, not on '%s'; use eq or in", c->name);
    if (node->op != SM_FILTER_CONTAINS && c->type == SM_COLUMN_TAGS)
        return bad(p, "compare '%s' with {\"contains\": \"a tag\"}, not %s", c->name, op);

    if (node->op == SM_FILTER_IN) {
        if (opv->kind != SM_JSON_ARRAY)
            return bad(p,
                       "'in' on '%.80s' takes a list of values, not %s; write {\"in\": [\"a\", "
                       "\"b\"]}",
                       key, kind_name(opv->kind));
        struct sm_filter_value *values = take_values(p, opv->n_items);
        if (!values)
            return SM_EINVAL;
        node->values = values;
        node->n_values = opv->n_items;
        for (size_t i = 0; i < opv->n_items; i++) {
            int rc = convert_value(p, &opv->items[i], c->name, c->type, &values[i]);
            if (rc)
                return rc;
        }
        return 0;
    }
    struct sm_filter_value *value = take_values(p, 1);
    if (!value)
        return SM_EINVAL;
    node->values = value;
    node->n_values = 1;
    return convert_value(p, opv, c->name, c->type, value);
}

static int parse_node(struct parser *p, const struct sm_json *v, int depth,
                      struct sm_filter_node *node)
{
    if (v->kind != SM_JSON_OBJECT)
        return bad(p, "a filter is an object such as {\"id\": {\"eq\": \"...\"}}, not %s",
                   kind_name(v->kind));
    if (v->n_items == 0)
        return bad(p, "an empty filter {} inside AND or OR; drop it or write a condition");
    if (v->n_items > 1)
        return bad(p,
                   "a filter holds one condition, this one has %zu ('%.40s', '%.40s'...); "
                   "combine conditions with {\"AND\": [{...}, {...}]}",
                   v->n_items, v->items[0].key, v->items[1].key);
    const struct sm_json *m = &v->items[0];
    if (strcmp(m->key, "AND") == 0 || strcmp(m->key, "OR") == 0)
        return parse_bool_op(p, m, m->key[0] == 'A', depth, node);
    return parse_condition(p, m, node);
}

int sm_filter_parse(struct sm_filter *f, enum sm_entity entity, const char *json, size_t len,
                    struct sm_err *err)
{
    if (!f)
        return sm_errf(err, SM_EINVAL, "invalid filter output: NULL");
    memset(f, 0, sizeof(*f));
    f->entity = entity;
    if (!entity_ok(entity))
        return sm_errf(err, SM_EINVAL, "invalid filter entity %d: expected 0 to %d", (int)entity,
                       SM_ENTITY_COUNT - 1);
    if (!json && len > 0)
        return sm_errf(err, SM_EINVAL, "invalid filters: NULL text with length %zu", len);
    if (len > SM_FILTER_MAX_BYTES)
        return sm_errf(err, SM_EINVAL,
                       "invalid filters: %zu bytes of JSON, more than %zu; list fewer values per "
                       "request",
                       len, SM_FILTER_MAX_BYTES);
    /* Whitespace only is no filter, as an empty parameter is. */
    size_t i = 0;
    while (i < len && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r'))
        i++;
    if (i == len)
        return 0;

    struct filter_mem *mem = sm_xcalloc(1, sizeof(*mem));
    struct sm_err json_err = SM_ERR_INIT;
    if (sm_json_parse(&mem->doc, json, len, &json_err) != 0) {
        sm_free(mem);
        return sm_errf(err, SM_EINVAL,
                       "invalid filters: %s; pass JSON such as {\"parent_id\": {\"eq\": null}}",
                       json_err.msg);
    }
    struct parser p = {.mem = mem, .entity = entity, .err = err};
    const struct sm_json *root = mem->doc.root;
    int rc = 0;
    if (root->kind == SM_JSON_OBJECT && root->n_items == 0) {
        /* {}: everything. */
    } else {
        struct sm_filter_node *node = take_nodes(&p, 1);
        rc = node ? parse_node(&p, root, 0, node) : SM_EINVAL;
        if (!rc)
            f->root = node;
    }
    f->mem = mem;
    f->n_nodes = mem->n_nodes;
    f->n_values = p.n_values;
    if (rc) {
        sm_filter_release(f);
        f->entity = entity;
    }
    return rc;
}

void sm_filter_release(struct sm_filter *f)
{
    if (!f)
        return;
    struct filter_mem *mem = f->mem;
    if (mem) {
        for (struct value_block *b = mem->blocks; b;) {
            struct value_block *next = b->next;
            sm_free(b);
            b = next;
        }
        sm_json_doc_release(&mem->doc);
        sm_free(mem);
    }
    memset(f, 0, sizeof(*f));
}
