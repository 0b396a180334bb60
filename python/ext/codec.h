/*
 * codec.h: the value codec of sematic._core: a value of a compiled type
 * (_core.Type) becomes three canonical JSON texts and a content id, and the
 * stored texts become the value again. The formats are a contract (the
 * artifact id hashes them); docs/internals/codec.md describes them.
 *
 *     struct sm_encoded e;
 *     sm_encoded_init(&e);
 *     if (sm_codec_encode(st, type, value, &e) < 0) ... exception set ...
 *     ... e.id, e.type_json.data, e.value_json.data, e.summary_json.data ...
 *     sm_encoded_release(&e);
 *
 * Threads: every function needs the GIL. Encoding may release it while
 * hashing a large value (the buffers of `out` are then touched by this
 * thread only), and it may run Python code (pickle, isoformat, repr), so
 * other threads can run meanwhile; nothing here is shared between calls but
 * the caches of the module state and of each Type.
 */
#ifndef SM_PY_CODEC_H
#define SM_PY_CODEC_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "sematic/buf.h"
#include "sematic/hash.h"

struct sm_py_state;

/* Caps of the buffers of struct sm_encoded (growing past one fails with SematicError SM_ETOOBIG). */
#define SM_CODEC_TYPE_MAX_BYTES ((size_t)16 << 20)
#define SM_CODEC_VALUE_MAX_BYTES ((size_t)1 << 30)
#define SM_CODEC_SUMMARY_MAX_BYTES ((size_t)1 << 20)
/* Lists, sets and dicts stop adding element summaries once the summary is this long. */
#define SM_CODEC_SUMMARY_SOFT_BYTES ((size_t)128 << 10)

struct sm_encoded;

/* What codec.c keeps in the module state; every PyObject * is a strong reference. */
struct sm_codec_state {
    PyObject *type_cache; /* dict: type_json (bytes) -> _core.Type, filled by decoding */
    PyObject *noinit;     /* dict: dataclass -> tuple of its init=False field names */
    /* pickle.dumps and pickle.loads, imported when a value first needs them */
    PyObject *pickle_dumps, *pickle_loads;
    /* interned names */
    PyObject *str_isoformat, *str_fromisoformat, *str_tzinfo, *str_fold, *str_dict, *str_bases;
    PyObject *str_module, *str_name, *str_name_member, *str_member_map, *str_init;
    PyObject *str_dataclass_fields;
    struct sm_encoded *spare; /* owned: the buffers _core.encode reuses; NULL while in use */
};

struct sm_encoded {
    struct sm_buf type_json;        /* type serialization (Sematic's format, keys sorted) */
    struct sm_buf value_json;       /* canonical encoding of the value: the stored payload */
    struct sm_buf summary_json;     /* bounded summary for displays (SM_CODEC_SUMMARY_MAX_BYTES) */
    char id[SM_SHA256_HEX_LEN + 1]; /* hex SHA-256 of type_json + "\n" + value_json */
};

/* Initialise out (caller's memory): empty buffers with the caps above, id "". */
void sm_encoded_init(struct sm_encoded *out);

/* Free the buffers of out; it is then as after sm_encoded_init(). Accepts NULL. */
void sm_encoded_release(struct sm_encoded *out);

/*
 * Encode `value` (borrowed, already cast to `type`, a _core.Type) into out,
 * replacing what it held (its memory is reused). A top-level Union is
 * narrowed to the member the value matched: out->type_json is that member's
 * serialization. Returns 0, or -1 with a Python exception: TypeError "cannot
 * store a value of type 'X' at [3].name: it is not picklable (...); ..." for
 * a value that needs the pickle fallback and cannot be pickled, SematicError
 * SM_ETOOBIG when a buffer cap is reached, RecursionError for values nested
 * too deep, or whatever user code raised (__reduce__, isoformat, __repr__).
 * On failure out holds nothing useful but can be reused or released.
 */
int sm_codec_encode(struct sm_py_state *st, PyObject *type, PyObject *value,
                    struct sm_encoded *out);

/*
 * Decode a stored payload: type_json as written by sm_codec_encode (or by
 * Sematic), value_json its value. New reference, or NULL with an exception:
 * ImportError "cannot decode artifact: type 'm.C' cannot be imported (...);
 * run from the project that defines it", ValueError "cannot decode artifact:
 * expected ... at <path>, got ..." for a malformed payload, or what the
 * reconstruction raised (a dataclass constructor, pickle.loads).
 */
PyObject *sm_codec_decode(struct sm_py_state *st, const char *type_json, size_t type_len,
                          const char *value_json, size_t value_len);

/*
 * The type serialization of `type` (a _core.Type), computed once and kept
 * on the Type: borrowed bytes object, or NULL with an exception.
 */
PyObject *sm_codec_type_json(struct sm_py_state *st, PyObject *type);

/*
 * Module exec: add encode, decode, type_serialization and decode_type to
 * `module` and fill cs. 0, or -1 with an exception (fields set so far are
 * released by sm_codec_clear).
 */
int sm_codec_exec(PyObject *module, struct sm_codec_state *cs);
int sm_codec_traverse(struct sm_codec_state *cs, visitproc visit, void *arg);
void sm_codec_clear(struct sm_codec_state *cs);

#endif
