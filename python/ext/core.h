/*
 * core.h: what the files of the sematic._core extension share: the module
 * definition and the module state every heap type reaches through
 * PyType_GetModuleByDef(). The extension is glue (STYLE 50): argument
 * conversion, type checking, error translation and the executor callbacks
 * that let the C engine (include/sematic/graph.h) call user functions.
 *
 * Files, in reading order:
 *   module.c  module definition, state, the exception hierarchy (from
 *             SM_ERRNO_MAP), multi-phase init
 *   types.c   annotations compiled into type descriptors (_core.Type);
 *             casting and can-cast checks with Sematic's messages
 *   codec.c   values <-> canonical JSON payloads, artifact ids, summaries
 *   engine.c  _core.Graph, _core.FutureBase, _core.FunctionBase and
 *             _core.run(): the seam between @sematic.func, futures and the
 *             C engine (the inline executor)
 *   record.c  LocalRunner's recorder (_core.Recorder, its flusher thread and
 *             journal) and _core.Store, the read side
 */
#ifndef SM_PY_CORE_H
#define SM_PY_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#include "codec.h"
#include "types.h"

extern PyModuleDef sm_core_module_def;

/*
 * A run whose body executes now, on the C stack of the thread running it.
 * Each thread sees its own innermost frame (a thread-specific key); all
 * frames of the process are also linked, so that a helper thread started by
 * a body finds that body when it is the only one running (as Sematic's
 * context() does).
 */
struct sm_exec_frame {
    PyObject *graph; /* borrowed: a _core.Graph */
    int32_t run;
    struct sm_exec_frame *prev_in_thread;
    struct sm_exec_frame *prev_all, *next_all;
};

struct sm_py_state {
    PyObject *error_base;        /* _core.SematicError, base of one class per SM_E* code */
    PyObject *error_by_code;     /* dict: int code -> exception class */
    struct sm_types_state types; /* owned by types.c */
    struct sm_codec_state codec; /* owned by codec.c */

    PyTypeObject *graph_type;         /* _core.Graph */
    PyTypeObject *future_type;        /* _core.FutureBase */
    PyTypeObject *function_type;      /* _core.FunctionBase */
    PyObject *future_class;           /* sematic.future.Future, registered by the package */
    PyObject *hooks;                  /* sematic._hooks: the Python helpers of error paths */
    PyObject *states;                 /* tuple of FutureState members indexed by enum sm_state */
    PyObject *missing;                /* sentinel: a parameter without default */
    PyObject *upstream;               /* marker of a stored argument that was a future */
    Py_tss_t executing_key;           /* this thread's innermost struct sm_exec_frame */
    struct sm_exec_frame *all_frames; /* every executing frame of the process */
    int n_frames;
    int64_t ms_per_minute;       /* 60000; tests shrink it to exercise timeouts */
    PyTypeObject *recorder_type; /* _core.Recorder (record.c) */
    PyTypeObject *store_type;    /* _core.Store (record.c) */
};

/* Borrowed module state of the module `m`. */
static inline struct sm_py_state *sm_py_state_of(PyObject *m)
{
    return (struct sm_py_state *)PyModule_GetState(m);
}

/* Borrowed module state reached from one of the module's heap types; NULL + exception on failure. */
static inline struct sm_py_state *sm_py_state_by_type(PyTypeObject *tp)
{
    PyObject *m = PyType_GetModuleByDef(tp, &sm_core_module_def);
    return m ? sm_py_state_of(m) : NULL;
}

/* Raise the _core exception class of an SM_E* code with msg. Returns NULL. */
PyObject *sm_py_raise(struct sm_py_state *st, int code, const char *msg);

/* engine.c entry points used by module.c. Return 0, or -1 with an exception set. */
int sm_engine_exec(PyObject *module, struct sm_py_state *st);
int sm_engine_traverse(struct sm_py_state *st, visitproc visit, void *arg);
void sm_engine_clear(struct sm_py_state *st);

/* record.c entry point used by module.c (types are cleared by the module's clear). */
int sm_record_exec(PyObject *module, struct sm_py_state *st);

#endif
