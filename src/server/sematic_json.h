/*
 * sematic_json.h: Sematic 0.41's JSON forms of runs, artifacts, edges and
 * resolutions (pipeline runs), read into and written from the store's
 * records (store.h). What the real Sematic client sends to PUT
 * /api/v1/graph and PUT /api/v1/resolutions/:id comes in through the
 * *_from_json readers; what GET /api/v1/runs/:id, .../graph and
 * /api/v1/resolutions/:id answer goes out through the writers, in the
 * shape Sematic's server gives (Flask's jsonify: every object's keys
 * sorted, times as Python's isoformat() of a UTC datetime, fields the
 * store does not keep written as null).
 *
 * The store's own sm_run_rec_to_json() and friends are our CLI's form
 * (source_code_id, is_inline, attempt, ...); the server speaks Sematic's.
 *
 * Pure: no server, no store calls. Readers check every field and fail with
 * SM_EINVAL and a message naming the record (`where`, e.g.
 * "graph.runs[3]"), its id when known, the field and what it must be.
 * Strings they make (tags and JSON texts, a stripped description) live in a
 * struct sm_sj_pool; the others point into the parsed document. Both must
 * outlive the records.
 */
#ifndef SM_SERVER_SEMATIC_JSON_H
#define SM_SERVER_SEMATIC_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sematic/err.h"
#include "sematic/json.h"
#include "sematic/store.h"

/* Strings made while reading records, freed together. Zero-initialise. */
struct sm_sj_pool {
    char **items;
    size_t n, cap;
};

/* Free every string of the pool; it is then empty and reusable. Accepts NULL. */
void sm__sj_pool_release(struct sm_sj_pool *pool);

/* A copy of s (len bytes, NUL added) owned by the pool. */
char *sm__sj_pool_strndup(struct sm_sj_pool *pool, const char *s, size_t len);

/*
 * Write a parsed value as compact JSON with every object's keys sorted (by
 * their UTF-8 bytes, which is Python's order of code points): the form
 * Sematic's server stores JSON columns in and answers with. Numbers keep
 * their text. Duplicate keys are written as they come.
 */
void sm__sj_write_sorted(struct sm_jw *w, const struct sm_json *v);

/* The same as text owned by the pool; NULL for a JSON null (SQL NULL). */
const char *sm__sj_sorted_text(struct sm_sj_pool *pool, const struct sm_json *v);

/*
 * Python's datetime.isoformat() of UTC time us (microseconds since the
 * epoch) with "+00:00": "2026-11-23T00:20:47.747800+00:00", and no fraction
 * when the microseconds are 0 ("2026-11-23T00:20:47+00:00").
 */
void sm__sj_format_time(int64_t us, char out[40]);

/*
 * Sematic's Run.description validator: surrounding whitespace removed, then
 * one level of indentation ("\n" followed by four spaces or a tab) taken
 * off every line. Into the pool; NULL stays NULL.
 */
const char *sm__sj_strip_description(struct sm_sj_pool *pool, const char *text);

/* A run as Sematic's client sends it. */
struct sm_sj_run {
    struct sm_run_rec rec;   /* source_id is left NULL: the caller stores source_code first */
    const char *source_code; /* may be NULL (a run from a client that sends none) */
    size_t source_len;
};

/*
 * Read one element of graph.runs (Sematic's Run.to_json_encodable()):
 * id, root_id (32 hex), future_state (a state name), function_path (text)
 * are required; name, parent_id, nested_future_id, original_run_id,
 * description, tags (a list of strings), source_code, cache_key,
 * exception_metadata_json and external_exception_metadata_json (objects),
 * resource_requirements_json (any JSON), the times (ISO-8601 text) may be
 * null or absent; container_image_uri, user_id, organization_id are
 * checked to be text or null and not kept. created_at and updated_at
 * default to now_us. Unknown keys are ignored, as Sematic does. Returns 0
 * or SM_EINVAL naming where, the field, and what it must be.
 */
int sm__sj_run_from_json(const struct sm_json *v, const char *where, int64_t now_us,
                         struct sm_sj_pool *pool, struct sm_sj_run *out, struct sm_err *err);

/*
 * Read one element of graph.artifacts: id (40 hex from Sematic's client,
 * or one of ours, 64 hex), type_serialization (an object), json_summary
 * (any JSON, null included), created_at. Texts are stored sorted
 * (sm__sj_sorted_text), so an artifact sent twice compares equal.
 */
int sm__sj_artifact_from_json(const struct sm_json *v, const char *where, int64_t now_us,
                              struct sm_sj_pool *pool, struct sm_artifact_rec *out,
                              struct sm_err *err);

/*
 * Read one element of graph.edges: id (32 hex) required; source_run_id,
 * destination_run_id, parent_id (32 hex or null), destination_name,
 * source_name (text or null; source_name is not kept, Sematic never sets
 * it), artifact_id (40 or 64 hex, or null), times. out->root_id is left
 * "": the caller finds it from the runs the edge joins.
 */
int sm__sj_edge_from_json(const struct sm_json *v, const char *where, int64_t now_us,
                          struct sm_sj_pool *pool, struct sm_edge_rec *out, struct sm_err *err);

/* A resolution (pipeline run) as Sematic's client sends it. */
struct sm_sj_resolution {
    struct sm_pipeline_rec rec;   /* user is the user_id */
    bool has_container_image_uri; /* needed by a resolution that is not LOCAL */
};

/*
 * Read the "resolution" object of PUT /api/v1/resolutions/:id: root_id (32
 * hex), status (CREATED ... CANCELED), kind (LOCAL, KUBERNETES; our own
 * SILENT and CLUSTER too) required; git_info_json (object), settings_env_vars
 * (object of strings), client_version, cache_namespace, run_command,
 * user_id (text) may be null. container_image_uri(s), build_config,
 * resource_requirements_json and organization_id are checked and not kept.
 */
int sm__sj_resolution_from_json(const struct sm_json *v, const char *where, struct sm_sj_pool *pool,
                                struct sm_sj_resolution *out, struct sm_err *err);

/*
 * Sematic's Run payload (GET /api/v1/runs/:id "content", an element of a
 * graph's "runs"), keys sorted: cache_key, container_image_uri (null),
 * created_at, description, ended_at, exception_metadata_json,
 * external_exception_metadata_json, failed_at, function_path, future_state,
 * id, name, nested_future_id, organization_id (null), original_run_id,
 * parent_id, resolved_at, resource_requirements_json, root_id, source_code
 * (source, len bytes; "" when NULL), started_at, tags, updated_at, user
 * (null), user_id (null).
 */
void sm__sj_write_run(struct sm_jw *w, const struct sm_run_rec *r, const char *source,
                      size_t source_len);
/* The same, with the source already a JSON string (sm__sj_encode_text: quotes included), so a
 * text shared by many runs is escaped once. */
void sm__sj_write_run_encoded(struct sm_jw *w, const struct sm_run_rec *r, const char *source_json,
                              size_t len);
/* Append text (len bytes) to out as the JSON string sm__sj_write_run writes. 0 or SM_ETOOBIG. */
int sm__sj_encode_text(const char *s, size_t len, struct sm_buf *out);

/* Sematic's Artifact: created_at, id, json_summary, organization_id, type_serialization,
 * updated_at (the store keeps one time: created_at). */
void sm__sj_write_artifact(struct sm_jw *w, const struct sm_artifact_rec *a);

/* Sematic's Edge: artifact_id, created_at, destination_name, destination_run_id, id,
 * parent_id, source_name (null), source_run_id, updated_at. */
void sm__sj_write_edge(struct sm_jw *w, const struct sm_edge_rec *e);

/*
 * Sematic's Resolution payload: build_config, cache_namespace,
 * client_version, container_image_uri, container_image_uris, git_info_json,
 * kind, organization_id, resource_requirements_json, root_id, run_command,
 * status, user, user_id. settings_env_vars is left out, as Sematic redacts
 * it on read. user_id is p->user when it is a user's id (32 hex), else
 * null; `user` is the user's redacted record when the caller found one
 * (user may be NULL).
 */
void sm__sj_write_resolution(struct sm_jw *w, const struct sm_pipeline_rec *p,
                             const struct sm_user_rec *user);

/* Deep copies of records read from the store (valid only until the next store call). */
void sm__sj_run_copy(struct sm_sj_pool *pool, struct sm_run_rec *dst, const struct sm_run_rec *src);
void sm__sj_pipeline_copy(struct sm_sj_pool *pool, struct sm_pipeline_rec *dst,
                          const struct sm_pipeline_rec *src);

#endif
