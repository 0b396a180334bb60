/*
 * users.c: GET /api/v1/users, /api/v1/organizations and
 * /api/v1/organizations_users, as Sematic lists them ({"content": [...]}).
 *
 * Users come from `sematic users create` (src/cli/users.c). Sematic
 * redacts a user's email and API key in every answer but its login; this
 * server never has the key (only its hash) and redacts the email the same
 * way. Organizations are Sematic's multi-tenant feature, which this server
 * does not have: both listings are empty, in Sematic's shape.
 */
#include "sematic/store.h"

#include "api.h"
#include "handlers.h"
#include "sematic_json.h"

#include "util/banned.h"

static void key_text(struct sm_jw *w, const char *key, const char *value)
{
    sm_jw_keyz(w, key);
    sm_jw_stringz(w, value); /* NULL writes null */
}

static void key_time(struct sm_jw *w, const char *key, int64_t us)
{
    sm_jw_keyz(w, key);
    if (us == 0) {
        sm_jw_null(w);
        return;
    }
    char text[40];
    sm__sj_format_time(us, text);
    sm_jw_stringz(w, text);
}

void sm__api_write_user(struct sm_jw *w, const struct sm_user_rec *u)
{
    sm_jw_begin_object(w);
    key_text(w, "avatar_url", u->avatar_url);
    key_time(w, "created_at", u->created_at);
    key_text(w, "first_name", u->first_name);
    key_text(w, "id", u->id);
    key_text(w, "last_name", u->last_name);
    key_time(w, "updated_at", u->updated_at);
    sm_jw_end_object(w);
}

static int write_user(void *ctx, const struct sm_user_rec *u)
{
    sm__api_write_user(ctx, u);
    return 0;
}

int sm__api_users_list(struct sm_http_req *req, struct sm_http_resp *resp)
{
    struct sm_err err = SM_ERR_INIT;
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL)
        return sm_http_store_error(resp, &err);
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "content");
    sm_jw_begin_array(w);
    if (sm_store_list_users(store, write_user, w, &err) != 0)
        return sm_http_store_error(resp, &err);
    sm_jw_end_array(w);
    sm_jw_end_object(w);
    return 0;
}

static int empty_content(struct sm_http_resp *resp)
{
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "content");
    sm_jw_begin_array(w);
    sm_jw_end_array(w);
    sm_jw_end_object(w);
    return 0;
}

int sm__api_organizations_list(struct sm_http_req *req, struct sm_http_resp *resp)
{
    (void)req;
    return empty_content(resp);
}

/* Sematic reads limit and order here (and filters, on columns we have none of): bad ones are
 * still a 400, so a client's mistake is not hidden by the empty answer. */
int sm__api_organizations_users_list(struct sm_http_req *req, struct sm_http_resp *resp)
{
    int64_t limit;
    bool ascending;
    if (sm__api_limit(req, resp, SM_API_DEFAULT_LIMIT, &limit) != 0 ||
        sm__api_order(req, resp, false, &ascending) != 0)
        return SM_EINVAL;
    return empty_content(resp);
}
