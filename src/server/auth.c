/*
 * auth.c: who is asking, when the server authenticates (SEMATIC_AUTHENTICATE).
 *
 * The check is made in one place: server.c, once a request's headers are
 * in and its route is known, calls sm__auth_user() for every route not
 * flagged SM_HTTP_ROUTE_PUBLIC, and answers 401 {"error": "Missing API
 * key"} (Sematic's words, whether the key is absent or wrong) before any
 * body byte is read or any handler runs. Handlers see the user's id in
 * req->user_id. Keys are made by `sematic users create` (src/cli/users.c);
 * the store keeps only their SHA-256 and compares in constant time
 * (sm_store_find_user_by_api_key).
 */
#include <string.h>

#include "sematic/store.h"

#include "api.h"
#include "internal.h"

#include "util/banned.h"

int sm__auth_user(struct sm_server *srv, const char *key, char user_id[SM_ID_HEX_LEN + 1],
                  struct sm_err *err)
{
    user_id[0] = '\0';
    if (key == NULL || key[0] == '\0')
        return sm_errf(err, SM_ENOTFOUND, "no X-API-KEY header");
    struct sm_store *store = sm__server_store_borrow(srv, err);
    if (store == NULL)
        return err->code != 0 ? err->code : SM_EIO;
    struct sm_user_rec user;
    struct sm_err ferr = SM_ERR_INIT;
    int rc = sm_store_find_user_by_api_key(store, key, &user, &ferr);
    if (rc == 0)
        memcpy(user_id, user.id, SM_ID_HEX_LEN + 1);
    sm__server_store_return(srv, store);
    if (rc == SM_ENOTFOUND)
        return sm_errf(err, SM_ENOTFOUND, "X-API-KEY is no user's key");
    if (rc != 0)
        return sm_errf(err, rc, "%s", ferr.msg);
    return 0;
}
