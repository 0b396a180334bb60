/*
 * filter.h: Sematic's listing filters (the `filters` parameter of
 * GET /api/v1/runs, /artifacts, /edges, /notes), parsed into a checked tree
 * that a store backend compiles into its own query language.
 *
 * The language (API.md section 5), as JSON text:
 *
 *     {}                                        everything
 *     {"parent_id": {"eq": null}}               a column compared with a value
 *     {"id": {"in": ["ab..", "cd.."]}}          ... with any of a list of values
 *     {"tags": {"contains": "x"}}               a JSON-list column holding an element
 *     {"AND": [filter, ...]}, {"OR": [...]}     all / any of several filters (nestable)
 *     {"root_run.function_path": {"eq": "a.b"}} a column of the row's root run (eq only)
 *     {"pipeline_run.status": {"eq": "FAILED"}} ... of its pipeline run (eq only)
 *
 * Columns are Sematic's names for each kind of record (sm_filter_column_name()
 * lists them); values are checked against the column's type when parsed, so a
 * compiled query never meets a surprise: run states and pipeline statuses by
 * name ("RESOLVED"; the retired "SUCCEEDED" that Sematic's dashboard still
 * sends matches no run), times as ISO-8601 text in UTC ("2024-05-01T12:00:00",
 * optionally with microseconds and "Z" or "+00:00"), and null meaning "no
 * value" (eq null is IS NULL; a null inside an `in` list matches nothing, as in SQL
 * and Sematic).
 * Every bad input is SM_EINVAL with a message that names what is wrong, where
 * in the filter ("at AND[1]"), and how to write it instead.
 *
 * Threads: a parsed struct sm_filter is read-only and may be shared.
 */
#ifndef SEMATIC_FILTER_H
#define SEMATIC_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sematic/err.h"

/* Caps on what one filter may hold (SM_EINVAL beyond them). */
#define SM_FILTER_MAX_BYTES ((size_t)1 << 20) /* JSON text */
#define SM_FILTER_MAX_DEPTH 16                /* AND/OR nesting */
#define SM_FILTER_MAX_NODES 256               /* comparisons + AND/OR */
#define SM_FILTER_MAX_VALUES 10000            /* values in all `in` lists together */

/* The kinds of record a listing returns (and that relationship filters reach). */
enum sm_entity {
    SM_ENTITY_RUNS = 0,
    SM_ENTITY_ARTIFACTS = 1,
    SM_ENTITY_EDGES = 2,
    SM_ENTITY_NOTES = 3,
    SM_ENTITY_PIPELINE_RUNS = 4, /* only through "pipeline_run." */
};
#define SM_ENTITY_COUNT 5

/* "runs", "artifacts", "edges", "notes", "pipeline runs"; "unknown" otherwise. */
const char *sm_entity_name(enum sm_entity e);

/* How a column's values are written and compared. */
enum sm_column_type {
    SM_COLUMN_TEXT,   /* a string, or null */
    SM_COLUMN_STATE,  /* a run state name ("RESOLVED"), held as enum sm_state */
    SM_COLUMN_STATUS, /* a pipeline-run status name ("COMPLETE"), enum sm_pipeline_status */
    SM_COLUMN_TIME,   /* ISO-8601 UTC text, held as microseconds since the epoch */
    SM_COLUMN_INT,    /* an integral number */
    SM_COLUMN_BOOL,   /* true or false */
    SM_COLUMN_TAGS,   /* a JSON list of strings: `contains` only */
    SM_COLUMN_ABSENT, /* a column of Sematic's that this store never fills: always null */
};

/* Columns of each entity, in the order of sm_filter_column_name(). Backends index by these. */
enum sm_run_column {
    SM_RUN_ID,
    SM_RUN_ORIGINAL_RUN_ID,
    SM_RUN_FUTURE_STATE,
    SM_RUN_NAME,
    SM_RUN_FUNCTION_PATH, /* also "calculator_path", Sematic's older name */
    SM_RUN_PARENT_ID,
    SM_RUN_ROOT_ID,
    SM_RUN_DESCRIPTION,
    SM_RUN_TAGS,
    SM_RUN_NESTED_FUTURE_ID, /* also "nested_id" */
    SM_RUN_CACHE_KEY,
    SM_RUN_CREATED_AT,
    SM_RUN_UPDATED_AT,
    SM_RUN_STARTED_AT,
    SM_RUN_ENDED_AT,
    SM_RUN_RESOLVED_AT,
    SM_RUN_FAILED_AT,
    SM_RUN_IS_INLINE,
    SM_RUN_ATTEMPT,
    SM_RUN_CONTAINER_IMAGE_URI, /* absent */
    SM_RUN_USER_ID,             /* absent */
    SM_RUN_ORGANIZATION_ID,     /* absent */
    SM_RUN_COLUMN_COUNT
};

enum sm_artifact_column {
    SM_ARTIFACT_ID,
    SM_ARTIFACT_TYPE_SERIALIZATION,
    SM_ARTIFACT_JSON_SUMMARY,
    SM_ARTIFACT_CREATED_AT,
    SM_ARTIFACT_UPDATED_AT,      /* artifacts never change: the same as created_at */
    SM_ARTIFACT_ORGANIZATION_ID, /* absent */
    SM_ARTIFACT_COLUMN_COUNT
};

enum sm_edge_column {
    SM_EDGE_ID,
    SM_EDGE_ROOT_ID,
    SM_EDGE_SOURCE_RUN_ID,
    SM_EDGE_SOURCE_NAME, /* absent */
    SM_EDGE_DESTINATION_RUN_ID,
    SM_EDGE_DESTINATION_NAME,
    SM_EDGE_ARTIFACT_ID,
    SM_EDGE_PARENT_ID,
    SM_EDGE_CREATED_AT,
    SM_EDGE_UPDATED_AT,
    SM_EDGE_COLUMN_COUNT
};

enum sm_note_column {
    SM_NOTE_ID,
    SM_NOTE_USER_ID,
    SM_NOTE_NOTE,
    SM_NOTE_RUN_ID,
    SM_NOTE_ROOT_ID,
    SM_NOTE_CREATED_AT,
    SM_NOTE_UPDATED_AT,
    SM_NOTE_COLUMN_COUNT
};

enum sm_pipeline_column {
    SM_PIPELINE_ROOT_ID,
    SM_PIPELINE_STATUS,
    SM_PIPELINE_KIND,
    SM_PIPELINE_CACHE_NAMESPACE,
    SM_PIPELINE_CLIENT_VERSION,
    SM_PIPELINE_RUN_COMMAND,
    SM_PIPELINE_USER_ID,
    SM_PIPELINE_GIT_INFO_JSON,
    SM_PIPELINE_CREATED_AT,
    SM_PIPELINE_UPDATED_AT,
    SM_PIPELINE_ENDED_AT,
    SM_PIPELINE_CONTAINER_IMAGE_URI, /* absent */
    SM_PIPELINE_ORGANIZATION_ID,     /* absent */
    SM_PIPELINE_COLUMN_COUNT
};

/* Columns of entity e: how many, each one's name and type. */
int sm_filter_n_columns(enum sm_entity e);
const char *sm_filter_column_name(enum sm_entity e, int column); /* NULL out of range */
enum sm_column_type sm_filter_column_type(enum sm_entity e, int column);
/* The column of e named `name` (or one of its aliases), or -1. */
int sm_filter_column_find(enum sm_entity e, const char *name);

enum sm_filter_op {
    SM_FILTER_AND,
    SM_FILTER_OR,
    SM_FILTER_EQ,
    SM_FILTER_IN,
    SM_FILTER_CONTAINS,
};

/* Which row a comparison looks at. */
enum sm_filter_rel {
    SM_FILTER_SELF,         /* the listed row */
    SM_FILTER_ROOT_RUN,     /* "root_run.": the run whose id is the row's root_id */
    SM_FILTER_PIPELINE_RUN, /* "pipeline_run.": the pipeline run of the row's root_id */
};

/* A value of a comparison, converted to its column's type. */
struct sm_filter_value {
    bool is_null;
    const char *text; /* TEXT and TAGS: the string (NUL-terminated); NULL otherwise */
    size_t len;
    int64_t num; /* STATE/STATUS: the enum value; TIME: microseconds; INT; BOOL: 0 or 1 */
};

struct sm_filter_node {
    enum sm_filter_op op;
    /* AND, OR: the operands (n_children may be 0: AND matches all, OR none). */
    const struct sm_filter_node *children;
    size_t n_children;
    /* EQ, IN, CONTAINS. */
    enum sm_filter_rel rel;
    enum sm_entity entity; /* whose column: the listing's, or runs / pipeline runs through rel */
    int column;            /* enum sm_<entity>_column */
    const struct sm_filter_value *values; /* EQ, CONTAINS: one; IN: n_values (may be 0) */
    size_t n_values;
};

/* A parsed filter. Release with sm_filter_release(). */
struct sm_filter {
    enum sm_entity entity;             /* what it filters */
    const struct sm_filter_node *root; /* NULL: everything ({} or an empty text) */
    size_t n_nodes, n_values;
    void *mem; /* internal */
};

/*
 * Parse the JSON text of a filter on records of kind `entity` (len bytes,
 * need not be NUL-terminated; len 0 means no filter). Returns 0, or SM_EINVAL
 * with a message naming the problem (bad JSON, an unknown operator or column,
 * a value of the wrong type, a non-list for `in`, an operator other than eq on
 * a relationship, nesting deeper than SM_FILTER_MAX_DEPTH, more than
 * SM_FILTER_MAX_NODES comparisons or SM_FILTER_MAX_VALUES values) and the
 * fix. On failure f holds nothing (releasing it is still allowed).
 * f's strings point into memory it owns; release frees them.
 */
int sm_filter_parse(struct sm_filter *f, enum sm_entity entity, const char *json, size_t len,
                    struct sm_err *err);

/* Free what sm_filter_parse() allocated; f is then empty. Accepts NULL and an empty filter. */
void sm_filter_release(struct sm_filter *f);

#endif
