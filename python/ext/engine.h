/*
 * engine.h: the objects of engine.c that record.c (the LocalRunner's
 * persistence) also reads: the Python half of each run, graphs, functions
 * and futures. Everything here needs the GIL.
 */
#ifndef SM_PY_ENGINE_H
#define SM_PY_ENGINE_H

#include "core.h"

#include <stdbool.h>

#include "sematic/graph.h"

struct sm_recorder;

enum func_op {
    OP_CALL = 0,       /* call the user's function with the resolved arguments */
    OP_MAKE_LIST = 1,  /* build a list of the resolved arguments (_make_list) */
    OP_MAKE_TUPLE = 2, /* build a tuple of them (_make_tuple) */
    OP_GETITEM = 3,    /* container[key] (_getitem) */
};

/* The Python half of a run, owned by its graph (strong references unless noted). */
struct run_py {
    PyObject *function;  /* a FunctionBase */
    PyObject *args;      /* tuple aligned with params; st->upstream where a future was passed */
    PyObject *resolved;  /* tuple of concrete values once executed, or NULL */
    PyObject *value;     /* NULL until resolved */
    PyObject *props;     /* FutureProperties, created lazily by Python */
    PyObject *exception; /* what the last failed attempt raised, or NULL */
    PyObject *handle;    /* borrowed: the live Future of this run, or NULL */
};

struct graph_obj {
    PyObject_HEAD
    struct sm_graph *g;
    struct run_py *runs; /* indexed by run id */
    int32_t n_runs;
    int32_t cap_runs;
    uint64_t id_seed;   /* makes future ids unique across graphs */
    uint64_t id_ms;     /* creation time (ms, 48 bits): the front of its run ids */
    PyObject *runner;   /* the runner executing this graph, or NULL */
    int32_t root;       /* the root being run, or -1 */
    int32_t failed_run; /* the first run that went FAILED during a run, or -1 */
    bool is_running;
    struct sm_recorder *recorder; /* borrowed while a LocalRunner runs this graph, else NULL */
};

struct func_obj {
    PyObject_HEAD
    PyObject *dict;
    PyObject *body;     /* what executes: the user's function, or a mock */
    PyObject *params;   /* tuple of str */
    PyObject *defaults; /* tuple aligned with params; st->missing where none */
    PyObject *in_types; /* tuple of _core.Type aligned with params */
    PyObject *out_type; /* _core.Type */
    PyObject *fqpn;     /* "module.name" */
    PyObject *retry_settings;
    Py_ssize_t n_positional; /* params that may be passed by position */
    int op;
    int32_t retries;
    int64_t timeout_mins; /* 0: none */
    bool is_exempt_unused;
};

/* A Future: a handle onto run `run` of `graph`. Not GC-tracked: it refers to its graph only. */
struct future_obj {
    PyObject_HEAD
    PyObject *graph; /* _core.Graph */
    int32_t run;
};

#define GRAPH(o) ((struct graph_obj *)(o))
#define FUNC(o) ((struct func_obj *)(o))
#define FUT(o) ((struct future_obj *)(o))

/* The Python half of the run a future designates. */
static inline struct run_py *RUNPY(PyObject *future)
{
    return &GRAPH(FUT(future)->graph)->runs[FUT(future)->run];
}

static inline bool is_future(struct sm_py_state *st, PyObject *o)
{
    return PyObject_TypeCheck(o, st->future_type);
}

/* New reference: getattr(st->hooks, name)(*args), or NULL with an exception. */
PyObject *sm__call_hook(struct sm_py_state *st, const char *name, PyObject *const *args, size_t n);

/* New reference to the Future of `run` of `graph`, or NULL with an exception. */
PyObject *sm__graph_handle(struct sm_py_state *st, PyObject *graph, int32_t run);

/* Raise the exception of err (unless one is set already). Returns NULL. */
PyObject *sm__raise_err(struct sm_py_state *st, const struct sm_err *err);

/* Write the 32-hex id of `run` of graph `go` (its future id) into out (33 bytes). */
void sm__run_id_hex(const struct graph_obj *go, int32_t run, char out[33]);
/* The id of the graph's edge number `edge` (record.c): increasing with it, so a run's input
 * edges, made in parameter order, list in that order. */
void sm__edge_id_hex(const struct graph_obj *go, int32_t edge, char out[33]);

#endif
