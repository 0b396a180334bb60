/*
 * meta.c: the endpoints about the server itself (API.md section 5):
 * ping, versions, health (the store answers a read), env (the server
 * settings the dashboard reads), authenticate (whether API keys are required), and the
 * JSON 404 for unknown /api/ paths.
 */
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "internal.h"

#include "util/banned.h"

/* The Sematic release whose API this server speaks, and the oldest client it accepts. */
static const int server_version[3] = {0, 41, 0};
static const int min_client_version[3] = {0, 30, 0};

/* Server settings GET /api/v1/meta/env reports when set in the server's environment. */
static const char *const env_settings[] = {
    "GOOGLE_OAUTH_CLIENT_ID",
    "GRAFANA_PANEL_URL",
    "SEMATIC_RESOURCE_UPDATE_POLL_INTERVAL_SECONDS",
};

int sm__api_ping(struct sm_http_req *req, struct sm_http_resp *resp)
{
    (void)req;
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "status");
    sm_jw_stringz(w, "ok");
    sm_jw_end_object(w);
    return 0;
}

static void version_array(struct sm_jw *w, const int v[3])
{
    sm_jw_begin_array(w);
    for (int i = 0; i < 3; i++)
        sm_jw_int(w, v[i]);
    sm_jw_end_array(w);
}

int sm__api_meta_versions(struct sm_http_req *req, struct sm_http_resp *resp)
{
    (void)req;
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "server");
    version_array(w, server_version);
    sm_jw_keyz(w, "min_client_supported");
    version_array(w, min_client_version);
    sm_jw_end_object(w);
    return 0;
}

static int stop_at_first(void *ctx, const struct sm_run_rec *run)
{
    (void)ctx;
    (void)run;
    return 1;
}

int sm__api_meta_health(struct sm_http_req *req, struct sm_http_resp *resp)
{
    struct sm_err err = SM_ERR_INIT;
    bool db_ok = false;
    struct sm_store *store = sm_http_store(req, &err);
    if (store != NULL) {
        struct sm_run_query q = {.roots_only = true, .limit = 1};
        db_ok = sm_store_list_runs(store, &q, stop_at_first, NULL, &err) >= 0;
    }
    if (!db_ok)
        sm_http_log(req, "health: the store failed a read: %s", err.msg);
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "api");
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "healthy");
    sm_jw_bool(w, true);
    sm_jw_keyz(w, "message");
    sm_jw_stringz(w, "ok");
    sm_jw_end_object(w);
    sm_jw_keyz(w, "db");
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "healthy");
    sm_jw_bool(w, db_ok);
    sm_jw_keyz(w, "message");
    if (db_ok) {
        sm_jw_stringz(w, "ok");
    } else {
        char clean[256];
        sm__http_sanitize(err.msg[0] != '\0' ? err.msg : sm_strerror(err.code), clean,
                          sizeof(clean));
        sm_jw_stringz(w, clean);
    }
    sm_jw_end_object(w);
    sm_jw_end_object(w);
    return 0;
}

int sm__api_meta_env(struct sm_http_req *req, struct sm_http_resp *resp)
{
    (void)req;
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "env");
    sm_jw_begin_object(w);
    for (size_t i = 0; i < sizeof(env_settings) / sizeof(env_settings[0]); i++) {
        const char *value = getenv(env_settings[i]);
        if (value == NULL || !sm__http_is_utf8(value, strlen(value)))
            continue;
        sm_jw_keyz(w, env_settings[i]);
        sm_jw_stringz(w, value);
    }
    sm_jw_end_object(w);
    sm_jw_end_object(w);
    return 0;
}

/*
 * Whether the dashboard must send an API key (SEMATIC_AUTHENTICATE), and
 * the login providers configured. Sematic answers 400 when it authenticates
 * with no provider; here API keys from `sematic users create` are always
 * one, so the answer is 200 with the providers set (Google's client id).
 */
int sm__api_authenticate(struct sm_http_req *req, struct sm_http_resp *resp)
{
    bool on = sm_http_authenticates(req);
    const char *google = getenv("GOOGLE_OAUTH_CLIENT_ID");
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "authenticate");
    sm_jw_bool(w, on);
    sm_jw_keyz(w, "providers");
    sm_jw_begin_object(w);
    if (on && google != NULL && google[0] != '\0' && sm__http_is_utf8(google, strlen(google))) {
        sm_jw_keyz(w, "GOOGLE_OAUTH_CLIENT_ID");
        sm_jw_stringz(w, google);
    }
    sm_jw_end_object(w);
    sm_jw_end_object(w);
    return 0;
}

int sm__api_not_found(struct sm_http_req *req, struct sm_http_resp *resp)
{
    return sm_http_error(resp, 404, "no endpoint for %s '%s'; docs/server.md lists the API",
                         sm_http_method_name(req->is_head ? SM_HTTP_HEAD : req->method),
                         req->target->path);
}
