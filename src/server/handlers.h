/*
 * handlers.h: every endpoint handler of the server, one block per file.
 * routes.c puts them in the route table; docs/server.md says how to add one.
 */
#ifndef SM_SERVER_HANDLERS_H
#define SM_SERVER_HANDLERS_H

#include "http.h"

/* meta.c: liveness, versions, health, settings, authentication. */
int sm__api_ping(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_meta_versions(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_meta_health(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_meta_env(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_authenticate(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_not_found(struct sm_http_req *req, struct sm_http_resp *resp);

/* graph.c: what Sematic's client ran (runs, artifacts, edges), in one batch. */
int sm__api_graph_put(struct sm_http_req *req, struct sm_http_resp *resp);

/* runs_one.c: one run, its graph, its external resources, in Sematic's shapes. */
int sm__api_run_get(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_run_graph(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_run_external_resources(struct sm_http_req *req, struct sm_http_resp *resp);

/* dag.c: the compact graph of a run's pipeline, for the dashboard (ours, not Sematic's). */
int sm__api_run_dag(struct sm_http_req *req, struct sm_http_resp *resp);

/* resolutions.c: pipeline runs ("resolutions") for Sematic's client. */
int sm__api_resolution_get(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_resolution_put(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_resolution_cancel(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_resolution_external_resources(struct sm_http_req *req, struct sm_http_resp *resp);

/* rerun.c: the dashboard's "rerun from here": `sematic rerun` started detached (ours). */
int sm__api_resolution_rerun(struct sm_http_req *req, struct sm_http_resp *resp);

/* storage.c: Sematic's storage objects (location, data, local). */
int sm__api_storage_location(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_storage_data(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_storage_put(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_storage_get(struct sm_http_req *req, struct sm_http_resp *resp);

/* socketio.c: Socket.IO over long-polling, and Sematic's event broadcasts. */
int sm__sio_get(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__sio_post(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_events_post(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__test_sio_session(struct sm_http_req *req, struct sm_http_resp *resp); /* test-only */

/* static.c: the dashboard's files, with index.html for the SPA's routes. */
int sm__static_file(struct sm_http_req *req, struct sm_http_resp *resp);

/* store_api.c: the HTTP store's protocol (our SDK with SEMATIC_API_ADDRESS), under /api/v1/store. */
int sm__store_api_batch(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__store_api_change_seq(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__store_api_runs(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__store_api_run(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__store_api_artifacts(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__store_api_artifact(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__store_api_edges(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__store_api_pipeline(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__store_api_pipeline_status(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__store_api_source(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__store_api_logs(struct sm_http_req *req, struct sm_http_resp *resp);

/* runs_list.c: the runs listing (filters, search, pages) and a function's basic metrics. */
int sm__api_runs_list(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_run_metrics(struct sm_http_req *req, struct sm_http_resp *resp);

/* logs.c: a run's captured log lines, in pages, as Sematic's log reader answers. */
int sm__api_run_logs(struct sm_http_req *req, struct sm_http_resp *resp);

/* artifacts.c, edges.c: artifact metadata and lineage edges, filtered. */
int sm__api_artifacts_list(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_artifact_get(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_edges_list(struct sm_http_req *req, struct sm_http_resp *resp);

/* notes.c: notes on runs (list, add, delete). */
int sm__api_notes_list(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_note_post(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_note_delete(struct sm_http_req *req, struct sm_http_resp *resp);

/* metrics.c: custom and system metric points (append, names, series). */
int sm__api_metrics_post(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_metric_names(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_metric_series(struct sm_http_req *req, struct sm_http_resp *resp);

/* users.c: users (keys and emails redacted), organizations and memberships (none). */
int sm__api_users_list(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_organizations_list(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__api_organizations_users_list(struct sm_http_req *req, struct sm_http_resp *resp);

/* events.c: GET /api/v1/events, the store's change feed as server-sent events. */
int sm__api_events(struct sm_http_req *req, struct sm_http_resp *resp);

/* testing.c: rows served only with SEMATIC_SERVER_TEST_ROUTES=1. */
int sm__test_echo(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__test_ticks(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__test_fail(struct sm_http_req *req, struct sm_http_resp *resp);

#endif
