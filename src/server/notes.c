/*
 * notes.c: notes on runs, as Sematic's api/endpoints/notes.py serves them.
 *
 *   GET    /api/v1/notes?filters=&function_path=&order=  every matching note,
 *          oldest first; function_path keeps the notes whose pipeline's root
 *          run is of that function (the dashboard's pipeline page)
 *   POST   /api/v1/notes {"note": {"note", "run_id", "root_id"}}
 *          -> {"content": note}; the author is the authenticated user
 *   DELETE /api/v1/notes/:id -> {}
 *
 * A note is written as Sematic's Note with its `user` (the redacted user,
 * or null). Unlike Sematic, a note is refused (404) for a run that does not
 * exist and (400) with a root_id that is not its run's root, so the
 * dashboard never shows a note nobody can reach.
 */
#include <string.h>

#include "sematic/hash.h"
#include "sematic/store.h"

#include "api.h"
#include "handlers.h"
#include "internal.h"
#include "sematic_json.h"

#include "util/banned.h"

/* The longest note accepted (Sematic has no limit; a note is a comment, not a document). */
#define NOTE_MAX_BYTES ((size_t)1 << 20)

struct note_writer {
    struct sm_jw *w;
    struct sm_store *store;
    struct sm_err err; /* a failed user read */
};

static void key_time(struct sm_jw *w, const char *key, int64_t us)
{
    char text[40];
    sm_jw_keyz(w, key);
    if (us == 0) {
        sm_jw_null(w);
        return;
    }
    sm__sj_format_time(us, text);
    sm_jw_stringz(w, text);
}

int sm__api_write_note(struct sm_jw *w, struct sm_store *store, const struct sm_note_rec *n,
                       struct sm_err *err)
{
    /* The user is read last: that read may reuse the memory n's strings are in. */
    char user_id[SM_ID_HEX_LEN + 1] = "";
    bool has_user = n->user_id != NULL && strlen(n->user_id) == SM_ID_HEX_LEN;
    if (has_user)
        memcpy(user_id, n->user_id, sizeof(user_id));
    sm_jw_begin_object(w);
    key_time(w, "created_at", n->created_at);
    sm_jw_keyz(w, "id");
    sm_jw_stringz(w, n->id);
    sm_jw_keyz(w, "note");
    sm_jw_stringz(w, n->note);
    sm_jw_keyz(w, "root_id");
    sm_jw_stringz(w, n->root_id);
    sm_jw_keyz(w, "run_id");
    sm_jw_stringz(w, n->run_id);
    key_time(w, "updated_at", n->updated_at);
    sm_jw_keyz(w, "user");
    struct sm_user_rec user;
    int rc = has_user ? sm_store_get_user(store, user_id, &user, err) : SM_ENOTFOUND;
    if (rc == 0) {
        sm__api_write_user(w, &user);
    } else if (rc == SM_ENOTFOUND) {
        sm_err_clear(err); /* a deleted user: shown as none */
        sm_jw_null(w);
    } else {
        return rc;
    }
    sm_jw_keyz(w, "user_id");
    sm_jw_stringz(w, has_user ? user_id : NULL);
    sm_jw_end_object(w);
    return 0;
}

static int write_listed_note(void *ctx, const struct sm_note_rec *n)
{
    struct note_writer *nw = ctx;
    return sm__api_write_note(nw->w, nw->store, n, &nw->err);
}

/* The filters of the request, and function_path's condition when given, as one filter. */
static int notes_filter(const struct sm_http_req *req, struct sm_http_resp *resp,
                        struct sm_filter *f)
{
    int rc = sm__api_filters(req, resp, SM_ENTITY_NOTES, f);
    const char *function_path = sm_http_query(req, "function_path");
    if (rc != 0 || function_path == NULL)
        return rc;
    /* The request's filters parsed alone first, so their errors name their own places. */
    const char *given = f->root != NULL ? sm_http_query(req, "filters") : NULL;
    sm_filter_release(f);
    struct sm_buf text = SM_BUF_INIT(SM_FILTER_MAX_BYTES + 4096);
    if (given != NULL) {
        sm_buf_adds(&text, "{\"AND\":[");
        sm_buf_adds(&text, given);
        sm_buf_addc(&text, ',');
    }
    struct sm_buf eq = SM_BUF_INIT(8192);
    rc = sm__api_filter_eq(&eq, "root_run.function_path", function_path);
    sm_buf_add(&text, eq.data, eq.len);
    sm_buf_release(&eq);
    if (given != NULL)
        sm_buf_adds(&text, "]}");
    struct sm_err err = SM_ERR_INIT;
    if (rc != 0)
        sm_errf(&err, SM_EINVAL, "function_path is not valid UTF-8; send the function's path");
    else if (text.len == 0)
        sm_errf(&err, SM_EINVAL, "filters and function_path together are too long; send less");
    if (err.code == 0 && sm_filter_parse(f, SM_ENTITY_NOTES, text.data, text.len, &err) == 0)
        rc = 0;
    else
        rc = sm__api_bad_request(resp, &err);
    sm_buf_release(&text);
    return rc;
}

int sm__api_notes_list(struct sm_http_req *req, struct sm_http_resp *resp)
{
    bool ascending;
    struct sm_err err = SM_ERR_INIT;
    if (sm__api_order(req, resp, true, &ascending) != 0)
        return SM_EINVAL;
    struct sm_filter filter;
    int rc = notes_filter(req, resp, &filter);
    if (rc != 0)
        goto out;
    struct note_writer nw = {.store = sm_http_store(req, &err), .err = SM_ERR_INIT};
    if (nw.store == NULL) {
        rc = sm_http_store_error(resp, &err);
        goto out;
    }
    struct sm_query q = {
        .filter = filter.root != NULL ? &filter : NULL,
        .limit = -1,
        .ascending = ascending,
    };
    nw.w = sm_http_json(resp, 200);
    sm_jw_begin_object(nw.w);
    sm_jw_keyz(nw.w, "content");
    sm_jw_begin_array(nw.w);
    if (sm_store_query_notes(nw.store, &q, write_listed_note, &nw, NULL, &err) != 0) {
        rc = sm_http_store_error(resp, nw.err.code != 0 ? &nw.err : &err);
        goto out;
    }
    sm_jw_end_array(nw.w);
    sm_jw_end_object(nw.w);
out:
    sm_filter_release(&filter);
    return rc;
}

/* A 32-hex id field of the posted note into out; false (message in err) when absent or wrong. */
static bool id_field(const struct sm_json *note, const char *name, bool required,
                     char out[SM_ID_HEX_LEN + 1], struct sm_err *err)
{
    const struct sm_json *v = sm_json_get(note, name);
    out[0] = '\0';
    if ((v == NULL || v->kind == SM_JSON_NULL) && !required)
        return true;
    if (v == NULL || v->kind != SM_JSON_STRING || v->len != SM_ID_HEX_LEN ||
        !sm_is_hex(v->str, SM_ID_HEX_LEN)) {
        sm_errf(err, SM_EINVAL,
                "Note failed to create: '%s' must be a run id (32 lower-case hex digits)", name);
        return false;
    }
    memcpy(out, v->str, SM_ID_HEX_LEN + 1);
    return true;
}

int sm__api_note_post(struct sm_http_req *req, struct sm_http_resp *resp)
{
    struct sm_json_doc doc = {0};
    struct sm_err err = SM_ERR_INIT;
    int rc = sm_http_body_json(req, resp, &doc);
    if (rc != 0)
        goto out;
    const struct sm_json *note = sm_json_get(doc.root, "note");
    if (note == NULL || note->kind != SM_JSON_OBJECT) {
        rc = sm_http_error(resp, 400,
                           "Malformed payload: send {\"note\": {\"note\": TEXT, \"run_id\": ID, "
                           "\"root_id\": ID}}");
        goto out;
    }
    struct sm_note_rec n = {.user_id = req->user_id};
    const struct sm_json *text = sm_json_get(note, "note");
    if (text == NULL || text->kind != SM_JSON_STRING) {
        sm_errf(&err, SM_EINVAL, "Note failed to create: 'note' must be the note's text");
    } else if (text->len > NOTE_MAX_BYTES) {
        sm_errf(&err, SM_EINVAL, "Note failed to create: the note is longer than %zu bytes",
                NOTE_MAX_BYTES);
    } else if (id_field(note, "run_id", true, n.run_id, &err) &&
               id_field(note, "root_id", true, n.root_id, &err) &&
               id_field(note, "id", false, n.id, &err) && n.id[0] == '\0') {
        sm_random_id(n.id, &err);
    }
    if (err.code != 0) {
        rc = sm__api_bad_request(resp, &err);
        goto out;
    }
    n.note = text->str;

    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL) {
        rc = sm_http_store_error(resp, &err);
        goto out;
    }
    struct sm_run_rec run;
    rc = sm_store_get_run(store, n.run_id, &run, &err);
    if (rc == SM_ENOTFOUND) {
        rc = sm_http_error(resp, 404, "No runs with id '%s'", n.run_id);
        goto out;
    }
    if (rc != 0) {
        rc = sm_http_store_error(resp, &err);
        goto out;
    }
    if (strcmp(run.root_id, n.root_id) != 0) {
        rc = sm_http_error(resp, 400,
                           "Note failed to create: root_id '%s' is not the pipeline run of run "
                           "'%s'; its root_id is '%s'",
                           n.root_id, n.run_id, run.root_id);
        goto out;
    }
    n.created_at = n.updated_at = sm_now_us();
    if (sm_store_begin(store, &err) != 0 || sm_store_put_note(store, &n, &err) != 0 ||
        sm_store_commit(store, &err) != 0) {
        sm_store_rollback(store);
        rc = sm_http_store_error(resp, &err);
        goto out;
    }
    struct note_writer nw = {.w = sm_http_json(resp, 200), .store = store, .err = SM_ERR_INIT};
    sm_jw_begin_object(nw.w);
    sm_jw_keyz(nw.w, "content");
    rc = sm__api_write_note(nw.w, nw.store, &n, &nw.err);
    sm_jw_end_object(nw.w);
    if (rc != 0)
        rc = sm_http_store_error(resp, &nw.err);
out:
    sm_json_doc_release(&doc);
    return rc;
}

int sm__api_note_delete(struct sm_http_req *req, struct sm_http_resp *resp)
{
    const char *id = sm_http_param(req, "id");
    char shown[96];
    sm__http_sanitize(id, shown, sizeof(shown));
    if (strlen(id) != SM_ID_HEX_LEN || !sm_is_hex(id, SM_ID_HEX_LEN))
        return sm_http_error(resp, 404, "No such note: %s", shown);
    struct sm_err err = SM_ERR_INIT;
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL)
        return sm_http_store_error(resp, &err);
    if (sm_store_begin(store, &err) != 0)
        return sm_http_store_error(resp, &err);
    int rc = sm_store_delete_note(store, id, &err);
    if (rc == SM_ENOTFOUND) {
        sm_store_rollback(store);
        return sm_http_error(resp, 404, "No such note: %s", shown);
    }
    if (rc != 0 || sm_store_commit(store, &err) != 0) {
        sm_store_rollback(store);
        return sm_http_store_error(resp, &err);
    }
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_end_object(w);
    return 0;
}
