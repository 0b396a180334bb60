/*
 * storage.c: Sematic's storage endpoints (API.md 4.2), over the store's
 * storage objects (sm_store_put_object / sm_store_get_object): the bytes
 * Sematic's client uploads for its artifacts ("artifacts/<sha1>"), blobs
 * and futures, kept in the store's content-addressed blob directory.
 *
 *   GET /api/v1/storage/:ns/:key/location?origin=URL
 *       {"request_headers": {"Content-Type": "application/octet-stream"},
 *        "url": "<origin, else this server>/api/v1/storage/<ns>/<key>/local"}
 *       (with the caller's X-API-KEY among the headers when the server
 *       authenticates, as Sematic's LocalStorage does: the upload needs it)
 *   PUT /api/v1/storage/:ns/:key/local     the body is the object  -> {}
 *   GET /api/v1/storage/:ns/:key/local     the object's bytes (404 when none)
 *   GET /api/v1/storage/:ns/:key/data      302 to .../local
 *
 * Namespaces and keys come from the client: the store checks them
 * (sm_store_check_object_name: letters, digits, '.', '_', '-', not starting
 * with '.'), and the router has already refused "..", encoded '/' and NUL,
 * so a key never names a path; a bad one is a 400 naming it. The origin is
 * echoed into a URL and a Location header, so it must look like one:
 * http(s)://, no control characters.
 */
#include <stdio.h>
#include <string.h>

#include "handlers.h"
#include "internal.h"
#include "server.h"

#include "util/banned.h"

/* The largest object GET .../local serves (what fits a response). */
#define OBJECT_MAX_BYTES SM_HTTP_MAX_RESPONSE_BYTES

/* Check the path's namespace and key. 0, or a 400 in resp and *done. */
static int check_names(struct sm_http_req *req, struct sm_http_resp *resp, const char **ns,
                       const char **key, bool *done)
{
    struct sm_err err = SM_ERR_INIT;
    *ns = sm_http_param(req, "ns");
    *key = sm_http_param(req, "key");
    *done = true;
    if (sm_store_check_object_name("storage namespace", *ns, SM_OBJECT_NAMESPACE_MAX, &err) != 0 ||
        sm_store_check_object_name("storage key", *key, SM_OBJECT_KEY_MAX, &err) != 0)
        return sm_http_error(resp, 400, "%s", err.msg);
    *done = false;
    return 0;
}

/* Where .../local is: the origin the client gave, else this server. 0, or a 400 and *done. */
static int base_url(struct sm_http_req *req, struct sm_http_resp *resp, char *out, size_t size,
                    bool *done)
{
    *done = true;
    const char *origin = sm_http_query(req, "origin");
    if (origin != NULL) {
        bool scheme_ok = strncmp(origin, "http://", 7) == 0 || strncmp(origin, "https://", 8) == 0;
        bool clean = true;
        for (const char *c = origin; *c; c++)
            clean = clean && (unsigned char)*c >= 0x20 && *c != 0x7f;
        if (!scheme_ok || !clean || strlen(origin) >= size - 256) {
            char shown[96];
            sm__http_sanitize(origin, shown, sizeof(shown));
            return sm_http_error(resp, 400,
                                 "query parameter 'origin' must be the server's URL "
                                 "(http://host:port), got '%s'",
                                 shown);
        }
        snprintf(out, size, "%s", origin);
        size_t n = strlen(out);
        if (n > 0 && out[n - 1] == '/')
            out[n - 1] = '\0';
    } else {
        const char *host = sm_http_header(req, "Host");
        bool host_ok = host != NULL && host[0] != '\0' && strlen(host) < 200;
        for (const char *c = host_ok ? host : ""; *c && host_ok; c++)
            host_ok = (unsigned char)*c > 0x20 && *c != 0x7f && *c != '/';
        if (host_ok)
            snprintf(out, size, "http://%s", host);
        else
            snprintf(out, size, "http://127.0.0.1:%d",
                     req->server ? sm_server_port(req->server) : SM_SERVER_DEFAULT_PORT);
    }
    *done = false;
    return 0;
}

int sm__api_storage_location(struct sm_http_req *req, struct sm_http_resp *resp)
{
    const char *ns, *key;
    bool done;
    char base[1024];
    int rc = check_names(req, resp, &ns, &key, &done);
    if (!done)
        rc = base_url(req, resp, base, sizeof(base), &done);
    if (done)
        return rc;
    char url[1600];
    snprintf(url, sizeof(url), "%s/api/v1/storage/%s/%s/local", base, ns, key);
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "request_headers");
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "Content-Type");
    sm_jw_stringz(w, "application/octet-stream");
    const char *key_header = sm_http_header(req, "X-API-KEY");
    if (req->user_id != NULL && key_header != NULL) { /* checked: it is this user's key */
        sm_jw_keyz(w, "X-API-KEY");
        sm_jw_stringz(w, key_header);
    }
    sm_jw_end_object(w);
    sm_jw_keyz(w, "url");
    sm_jw_stringz(w, url);
    sm_jw_end_object(w);
    return 0;
}

int sm__api_storage_data(struct sm_http_req *req, struct sm_http_resp *resp)
{
    const char *ns, *key;
    bool done;
    char base[1024];
    int rc = check_names(req, resp, &ns, &key, &done);
    if (!done)
        rc = base_url(req, resp, base, sizeof(base), &done);
    if (done)
        return rc;
    char url[1600];
    snprintf(url, sizeof(url), "%s/api/v1/storage/%s/%s/local", base, ns, key);
    sm_http_bytes(resp, 302, "text/plain; charset=utf-8", "", 0);
    sm_http_add_header(resp, "Location", url);
    return 0;
}

int sm__api_storage_put(struct sm_http_req *req, struct sm_http_resp *resp)
{
    const char *ns, *key;
    bool done;
    int rc = check_names(req, resp, &ns, &key, &done);
    if (done)
        return rc;
    struct sm_err err = SM_ERR_INIT;
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL)
        return sm_http_store_error(resp, &err);
    rc = sm_store_begin(store, &err);
    if (rc == 0)
        rc = sm_store_put_object(store, ns, key, req->body, req->body_len, &err);
    if (rc == 0)
        rc = sm_store_commit(store, &err);
    if (rc != 0) {
        sm_store_rollback(store);
        return sm_http_store_error(resp, &err);
    }
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_end_object(w);
    return 0;
}

int sm__api_storage_get(struct sm_http_req *req, struct sm_http_resp *resp)
{
    const char *ns, *key;
    bool done;
    int rc = check_names(req, resp, &ns, &key, &done);
    if (done)
        return rc;
    struct sm_err err = SM_ERR_INIT;
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL)
        return sm_http_store_error(resp, &err);
    struct sm_buf data = SM_BUF_INIT(OBJECT_MAX_BYTES);
    rc = sm_store_get_object(store, ns, key, &data, &err);
    if (rc == SM_ENOTFOUND)
        rc = sm_http_error(resp, 404, "No such namespace or key: %s %s", ns, key);
    else if (rc != 0)
        rc = sm_http_store_error(resp, &err);
    else {
        rc = sm_http_bytes(resp, 200, "application/octet-stream", data.data ? data.data : "",
                           data.len);
        sm_http_add_header(resp, "Cache-Control", "max-age=31536000, immutable, private");
    }
    sm_buf_release(&data);
    return rc;
}
