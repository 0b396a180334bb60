/*
 * routes.c: the route table, every endpoint of the server in one place.
 *
 * A row is {method, pattern, handler, flags}; http.h says what patterns
 * may hold and how a row is chosen, docs/server.md how to add one. Rows
 * are matched in this order, the SM_HTTP_ROUTE_FALLBACK rows only when no
 * other pattern matches the path: keep those last.
 */
#include <stddef.h>

#include "handlers.h"
#include "internal.h"

#include "util/banned.h"

const struct sm_http_route sm__server_routes[] = {
    /* meta.c */
    {SM_HTTP_GET, "/api/v1/ping", sm__api_ping, SM_HTTP_ROUTE_PUBLIC},
    {SM_HTTP_GET, "/api/v1/meta/versions", sm__api_meta_versions, SM_HTTP_ROUTE_PUBLIC},
    {SM_HTTP_GET, "/api/v1/meta/health", sm__api_meta_health, SM_HTTP_ROUTE_PUBLIC},
    {SM_HTTP_GET, "/api/v1/meta/env", sm__api_meta_env, 0},
    {SM_HTTP_GET, "/authenticate", sm__api_authenticate, SM_HTTP_ROUTE_PUBLIC},

    /* graph.c, runs_one.c, resolutions.c: what Sematic's client records and reads */
    {SM_HTTP_PUT, "/api/v1/graph", sm__api_graph_put, 0},
    {SM_HTTP_GET, "/api/v1/runs/:id", sm__api_run_get, 0},
    {SM_HTTP_GET, "/api/v1/runs/:id/graph", sm__api_run_graph, 0},
    {SM_HTTP_GET, "/api/v1/runs/:id/dag", sm__api_run_dag, 0}, /* dag.c: ours, the dashboard's */
    {SM_HTTP_GET, "/api/v1/runs/:id/external_resources", sm__api_run_external_resources, 0},
    {SM_HTTP_GET, "/api/v1/resolutions/:id", sm__api_resolution_get, 0},
    {SM_HTTP_PUT, "/api/v1/resolutions/:id", sm__api_resolution_put, 0},
    {SM_HTTP_PUT, "/api/v1/resolutions/:id/cancel", sm__api_resolution_cancel, 0},
    {SM_HTTP_POST, "/api/v1/resolutions/:id/rerun", sm__api_resolution_rerun, 0}, /* rerun.c */
    {SM_HTTP_GET, "/api/v1/resolutions/:id/external_resources",
     sm__api_resolution_external_resources, 0},

    /* storage.c: Sematic's storage objects */
    {SM_HTTP_GET, "/api/v1/storage/:ns/:key/location", sm__api_storage_location, 0},
    {SM_HTTP_GET, "/api/v1/storage/:ns/:key/data", sm__api_storage_data, 0},
    {SM_HTTP_PUT, "/api/v1/storage/:ns/:key/local", sm__api_storage_put, 0},
    {SM_HTTP_GET, "/api/v1/storage/:ns/:key/local", sm__api_storage_get, 0},

    /* socketio.c: Socket.IO (long-polling) and the events Sematic's runners post */
    {SM_HTTP_POST, "/api/v1/events/:namespace/:event", sm__api_events_post, 0},
    /* Public, as Sematic's Socket.IO server: python-socketio sends no X-API-KEY. */
    {SM_HTTP_GET, "/socket.io/*rest", sm__sio_get, SM_HTTP_ROUTE_PUBLIC},
    {SM_HTTP_POST, "/socket.io/*rest", sm__sio_post, SM_HTTP_ROUTE_PUBLIC},
    {SM_HTTP_GET, "/api/v1/_test/socketio/:sid", sm__test_sio_session, SM_HTTP_ROUTE_TEST_ONLY},

    /* store_api.c: our SDK's remote store (SEMATIC_API_ADDRESS); not Sematic's API */
    {SM_HTTP_POST, "/api/v1/store/batch", sm__store_api_batch, 0},
    {SM_HTTP_GET, "/api/v1/store/change_seq", sm__store_api_change_seq, 0},
    {SM_HTTP_GET, "/api/v1/store/runs", sm__store_api_runs, 0},
    {SM_HTTP_GET, "/api/v1/store/runs/:id", sm__store_api_run, 0},
    {SM_HTTP_GET, "/api/v1/store/artifacts", sm__store_api_artifacts, 0},
    {SM_HTTP_GET, "/api/v1/store/artifacts/:id", sm__store_api_artifact, 0},
    {SM_HTTP_GET, "/api/v1/store/edges", sm__store_api_edges, 0},
    {SM_HTTP_GET, "/api/v1/store/pipelines/:root_id", sm__store_api_pipeline, 0},
    {SM_HTTP_POST, "/api/v1/store/pipelines/:root_id/status", sm__store_api_pipeline_status, 0},
    {SM_HTTP_GET, "/api/v1/store/sources/:id", sm__store_api_source, 0},
    {SM_HTTP_GET, "/api/v1/store/logs/:run_id", sm__store_api_logs, 0},

    /* events.c: the store's changes as server-sent events */
    {SM_HTTP_GET, "/api/v1/events", sm__api_events, 0},

    /* testing.c: only with SEMATIC_SERVER_TEST_ROUTES=1 */
    {SM_HTTP_POST, "/api/v1/_test/echo/:name/*rest", sm__test_echo, SM_HTTP_ROUTE_TEST_ONLY},
    {SM_HTTP_GET, "/api/v1/_test/ticks", sm__test_ticks, SM_HTTP_ROUTE_TEST_ONLY},
    {SM_HTTP_GET, "/api/v1/_test/fail", sm__test_fail, SM_HTTP_ROUTE_TEST_ONLY},

    /* runs_list.c, logs.c, artifacts.c, edges.c, notes.c, metrics.c, users.c: the read API */
    {SM_HTTP_GET, "/api/v1/runs", sm__api_runs_list, 0},
    {SM_HTTP_GET, "/api/v1/runs/:id/metrics", sm__api_run_metrics, 0},
    {SM_HTTP_GET, "/api/v1/runs/:id/logs", sm__api_run_logs, 0},
    {SM_HTTP_GET, "/api/v1/artifacts", sm__api_artifacts_list, 0},
    {SM_HTTP_GET, "/api/v1/artifacts/:id", sm__api_artifact_get, 0},
    {SM_HTTP_GET, "/api/v1/edges", sm__api_edges_list, 0},
    {SM_HTTP_GET, "/api/v1/notes", sm__api_notes_list, 0},
    {SM_HTTP_POST, "/api/v1/notes", sm__api_note_post, 0},
    {SM_HTTP_DELETE, "/api/v1/notes/:id", sm__api_note_delete, 0},
    {SM_HTTP_POST, "/api/v1/metrics", sm__api_metrics_post, 0},
    {SM_HTTP_GET, "/api/v1/metrics", sm__api_metric_names, 0},
    {SM_HTTP_GET, "/api/v1/metrics/:name", sm__api_metric_series, 0},
    {SM_HTTP_GET, "/api/v1/users", sm__api_users_list, 0},
    {SM_HTTP_GET, "/api/v1/organizations", sm__api_organizations_list, 0},
    {SM_HTTP_GET, "/api/v1/organizations_users", sm__api_organizations_users_list, 0},

    /* Fallbacks, last: an unknown /api/ path is a JSON 404; anything else is the dashboard.
     * Both are public: a 404 tells nothing, and the dashboard's files are what logs in. */
    {SM_HTTP_ANY, "/api/*rest", sm__api_not_found, SM_HTTP_ROUTE_FALLBACK | SM_HTTP_ROUTE_PUBLIC},
    {SM_HTTP_GET, "/*path", sm__static_file, SM_HTTP_ROUTE_FALLBACK | SM_HTTP_ROUTE_PUBLIC},
};

const size_t sm__server_n_routes = sizeof(sm__server_routes) / sizeof(sm__server_routes[0]);
