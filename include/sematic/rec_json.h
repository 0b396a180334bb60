/*
 * rec_json.h: a lossless JSON form of the store's records, both ways.
 *
 * The HTTP store (src/core/store/http.c) and the server side of its
 * protocol (src/server/store_api.c) send the records of store.h as JSON.
 * Unlike the Sematic-shaped JSON of sm_run_rec_to_json() (names renamed,
 * times as text, ids of "none" as null), this form is the C struct itself:
 *
 *   - one key per struct field, named as the field ("state", "is_inline",
 *     "tags_json"), every field present, no other key;
 *   - char-array ids as strings ("" stays "", the store's "none");
 *   - const char * fields as strings, or null for NULL;
 *   - integers (enums, timestamps in microseconds, counts) as JSON
 *     integers; booleans as true/false;
 *   - a log line's text (text, len) as a string that may hold "\u0000".
 *
 * So write(read(write(r))) == write(r), and a record read back equals the
 * one written, field for field (tests/c/test_rec_json.c). Artifact payloads
 * are bytes, not text: a batch operation carries them base64-encoded
 * (RFC 4648, with padding), as sm_jw_base64() writes them.
 *
 * Reading is strict: a missing, unknown or repeated key, a value of the
 * wrong type, a string too long for its char array or holding a NUL byte
 * (except a log text), a number that is not an integer or does not fit the
 * field, or bad base64 is SM_EINVAL with a message naming the record and
 * the field. Ids are not checked here beyond their length: the store checks
 * them (store.c) when the record is put.
 *
 * Threads: no shared state; any thread may call any function.
 */
#ifndef SEMATIC_REC_JSON_H
#define SEMATIC_REC_JSON_H

#include <stddef.h>

#include "sematic/buf.h"
#include "sematic/err.h"
#include "sematic/json.h"
#include "sematic/store.h"

/* What one operation of a batch puts (sm_store_put_* and sm_store_append_log). */
enum sm_rec_op_kind {
    SM_REC_OP_RUN = 0,
    SM_REC_OP_ARTIFACT = 1,
    SM_REC_OP_EDGE = 2,
    SM_REC_OP_PIPELINE = 3,
    SM_REC_OP_SOURCE = 4,
    SM_REC_OP_LOG = 5,
};
#define SM_REC_OP_KIND_COUNT 6

/* "run", "artifact", "edge", "pipeline", "source", "log"; "unknown" otherwise. */
const char *sm_rec_op_kind_name(enum sm_rec_op_kind kind);

/*
 * One operation of a batch. Its JSON form is an object whose "op" names the
 * kind and whose other key, named as the kind, holds the record:
 *
 *   {"op":"run","run":{...}}                 sm_store_put_run
 *   {"op":"artifact","artifact":{...},"payload":"<base64>"}
 *                                            sm_store_put_artifact
 *   {"op":"edge","edge":{...}}               sm_store_put_edge
 *   {"op":"pipeline","pipeline":{...}}       sm_store_put_pipeline
 *   {"op":"source","text":"..."}             sm_store_put_source
 *   {"op":"log","log":{...}}                 sm_store_append_log
 */
struct sm_rec_op {
    enum sm_rec_op_kind kind;
    union {
        struct sm_run_rec run;
        struct {
            struct sm_artifact_rec rec;
            const char *payload; /* len bytes (may hold NUL bytes); "" when len is 0 */
            size_t len;
        } artifact;
        struct sm_edge_rec edge;
        struct sm_pipeline_rec pipeline;
        struct {
            const char *text;
            size_t len;
        } source;
        struct sm_log_rec log;
    } u;
};

/*
 * Write a record as one JSON object (the writer's sticky error reports a
 * string that is not UTF-8, naming its byte offset, or a full buffer).
 * The record is borrowed for the call.
 */
void sm_rec_json_write_run(struct sm_jw *w, const struct sm_run_rec *r);
void sm_rec_json_write_artifact(struct sm_jw *w, const struct sm_artifact_rec *a);
void sm_rec_json_write_edge(struct sm_jw *w, const struct sm_edge_rec *e);
void sm_rec_json_write_pipeline(struct sm_jw *w, const struct sm_pipeline_rec *p);
void sm_rec_json_write_log(struct sm_jw *w, const struct sm_log_rec *l);
/* An operation in the form above; an artifact's payload is base64-encoded. */
void sm_rec_json_write_op(struct sm_jw *w, const struct sm_rec_op *op);

/*
 * Read a record from v (a parsed JSON object) into *out, which is zeroed
 * first. Strings of *out point into v's document (borrowed: valid until
 * sm_json_doc_release()). Returns 0 or SM_EINVAL, the message naming the
 * record ("run") and the field.
 */
int sm_rec_json_read_run(const struct sm_json *v, struct sm_run_rec *out, struct sm_err *err);
int sm_rec_json_read_artifact(const struct sm_json *v, struct sm_artifact_rec *out,
                              struct sm_err *err);
int sm_rec_json_read_edge(const struct sm_json *v, struct sm_edge_rec *out, struct sm_err *err);
int sm_rec_json_read_pipeline(const struct sm_json *v, struct sm_pipeline_rec *out,
                              struct sm_err *err);
int sm_rec_json_read_log(const struct sm_json *v, struct sm_log_rec *out, struct sm_err *err);

/*
 * Read an operation. An artifact's payload is decoded into `payload`
 * (reset first; op->u.artifact.payload then points into it, valid until
 * the buffer's next change), everything else is borrowed from v's
 * document. Returns 0, SM_EINVAL (the message names the kind and the
 * field), or SM_ETOOBIG (the payload is over payload's cap).
 */
int sm_rec_json_read_op(const struct sm_json *v, struct sm_rec_op *op, struct sm_buf *payload,
                        struct sm_err *err);

/*
 * Decode the base64 string v (RFC 4648 standard alphabet, with padding, no
 * whitespace, zero padding bits) and append the bytes to out. `what` names
 * the value in messages ("artifact payload"). Returns 0, SM_EINVAL (not a
 * string, or the offset of the first bad character), or SM_ETOOBIG.
 */
int sm_rec_json_read_base64(const struct sm_json *v, const char *what, struct sm_buf *out,
                            struct sm_err *err);

#endif
