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

/* testing.c: rows served only with SEMATIC_SERVER_TEST_ROUTES=1. */
int sm__test_echo(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__test_ticks(struct sm_http_req *req, struct sm_http_resp *resp);
int sm__test_fail(struct sm_http_req *req, struct sm_http_resp *resp);

#endif
