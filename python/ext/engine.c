/*
 * engine.c: the seam between the Python API and the C engine.
 *
 *   _core.FunctionBase  the C half of sematic.function.Function: compiled
 *                       parameter list, defaults, type descriptors and
 *                       settings; calling it binds and casts the arguments
 *                       and adds a run to a graph (tp_call below).
 *   _core.FutureBase    the C half of sematic.future.Future: a handle onto
 *                       one run of a graph (graph + run id) plus the Python
 *                       values the engine never holds (arguments, value).
 *   _core.Graph         owns one struct sm_graph and the futures of its runs,
 *                       indexed by run id.
 *   _core.run()         the inline executor: sm_graph_run() calls back into
 *                       exec_run() for each ready run, which calls the user's
 *                       function and reports a value, a nested future or a
 *                       failure. States, queueing, retries, timeouts and
 *                       failure propagation are decided in src/core/graph.
 *
 * Error paths that need rich Python (building FunctionError chains, timeout
 * messages, converting lists of futures) call helpers of sematic._hooks,
 * registered once by the package; hot paths never do.
 *
 * Ownership: a graph owns the Python half of each of its runs (struct
 * run_py: function, arguments, value, ...). A Future is only a handle,
 * (graph, run id), holding its graph; the graph keeps a borrowed pointer to
 * the live handle of each run so that identity holds while anyone holds it,
 * and makes a new one on demand otherwise. Arguments that are futures are
 * stored as the `upstream` marker (their run ids are the engine's input
 * list), so no reference cycle runs through handles and futures need no
 * cycle collection (measured: GC was 0.45 us of 1.76 us per chained step).
 */
#include "engine.h"
#include "record.h"

#include <string.h>
#include <structmember.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* New reference to the raised exception (normalised, traceback attached); clears it. */
static PyObject *fetch_exception(void)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL)
        return NULL;
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
}

/* Raise `exc` (stolen) again. */
static void restore_exception(PyObject *exc)
{
    PyObject *tb = PyException_GetTraceback(exc);
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, tb);
}

/* Raise a Python exception for an engine error. Returns NULL. */
static PyObject *raise_sm_err(struct sm_py_state *st, const struct sm_err *err)
{
    if (PyErr_Occurred())
        return NULL;
    return sm_py_raise(st, err->code ? err->code : SM_EINVAL,
                       err->msg[0] ? err->msg : sm_strerror(err->code));
}

/* New reference: getattr(st->hooks, name)(*args). */
static PyObject *call_hook(struct sm_py_state *st, const char *name, PyObject *const *args,
                           size_t n)
{
    if (st->hooks == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "sematic._core is not initialised; import sematic, not sematic._core");
        return NULL;
    }
    PyObject *fn = PyObject_GetAttrString(st->hooks, name);
    if (fn == NULL)
        return NULL;
    PyObject *r = PyObject_Vectorcall(fn, args, n, NULL);
    Py_DECREF(fn);
    return r;
}

/* ------------------------------------------------------------------ Graph */

static int graph_traverse(PyObject *self, visitproc visit, void *arg)
{
    struct graph_obj *go = GRAPH(self);
    Py_VISIT(Py_TYPE(self));
    for (int32_t i = 0; i < go->n_runs; i++) {
        struct run_py *r = &go->runs[i];
        Py_VISIT(r->function);
        Py_VISIT(r->args);
        Py_VISIT(r->resolved);
        Py_VISIT(r->value);
        Py_VISIT(r->props);
        Py_VISIT(r->exception);
    }
    Py_VISIT(go->runner);
    return 0;
}

static int graph_clear(PyObject *self)
{
    struct graph_obj *go = GRAPH(self);
    for (int32_t i = 0; i < go->n_runs; i++) {
        struct run_py *r = &go->runs[i];
        Py_CLEAR(r->function);
        Py_CLEAR(r->args);
        Py_CLEAR(r->resolved);
        Py_CLEAR(r->value);
        Py_CLEAR(r->props);
        Py_CLEAR(r->exception);
    }
    Py_CLEAR(go->runner);
    return 0;
}

static void graph_dealloc(PyObject *self)
{
    struct graph_obj *go = GRAPH(self);
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    graph_clear(self);
    PyMem_Free(go->runs);
    go->runs = NULL;
    sm_graph_free(go->g);
    go->g = NULL;
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* Mix a 64-bit value (splitmix64 finaliser). */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* New reference to a fresh graph, or NULL with an exception. */
static PyObject *graph_new_obj(struct sm_py_state *st)
{
    struct graph_obj *go = PyObject_GC_New(struct graph_obj, st->graph_type);
    if (go == NULL)
        return NULL;
    go->g = sm_graph_new();
    go->runs = NULL;
    go->n_runs = 0;
    go->cap_runs = 0;
    go->runner = NULL;
    go->root = -1;
    go->failed_run = -1;
    go->is_running = false;
    go->recorder = NULL;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    go->id_ms = ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) & 0xFFFFFFFFFFFFULL;
    /* The seed must differ between processes that make graphs in the same millisecond (two
     * runners sharing a server): the kernel's randomness, not the address, clock and pid, whose
     * xor collides (heap addresses repeat from one process to the next under ASan). */
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = (uint64_t)(uintptr_t)go ^ ((uint64_t)getpid() << 40) ^ (uint64_t)ts.tv_nsec;
    go->id_seed = mix64(seed);
    PyObject_GC_Track(go);
    return (PyObject *)go;
}

/* Make room for one more run's Python half. Returns 0, or -1 with MemoryError. */
static int graph_reserve_run(struct graph_obj *go)
{
    if (go->n_runs < go->cap_runs)
        return 0;
    int32_t cap = go->cap_runs ? go->cap_runs * 2 : 64;
    struct run_py *p = PyMem_Realloc(go->runs, (size_t)cap * sizeof(*p));
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    go->runs = p;
    go->cap_runs = cap;
    return 0;
}

/* Add the Python half of the run just added (steals `args`), after graph_reserve_run(). */
static void graph_push_run(struct graph_obj *go, PyObject *function, PyObject *args)
{
    assert(go->n_runs < go->cap_runs && go->n_runs + 1 == sm_graph_n_runs(go->g));
    struct run_py *r = &go->runs[go->n_runs++];
    memset(r, 0, sizeof(*r));
    r->function = Py_NewRef(function);
    r->args = args;
}

/* New reference to the Future of run `run`: the live one if any, else a new handle. */
static PyObject *graph_handle(struct sm_py_state *st, PyObject *graph, int32_t run)
{
    struct run_py *r = &GRAPH(graph)->runs[run];
    if (r->handle != NULL)
        return Py_NewRef(r->handle);
    PyTypeObject *cls = (PyTypeObject *)st->future_class;
    struct future_obj *f = (struct future_obj *)cls->tp_alloc(cls, 0);
    if (f == NULL)
        return NULL;
    f->graph = Py_NewRef(graph);
    f->run = run;
    r->handle = (PyObject *)f;
    return (PyObject *)f;
}

static PyObject *graph_stats(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    struct graph_obj *go = GRAPH(self);
    int32_t counts[SM_STATE_COUNT] = {0};
    for (int32_t i = 0; i < sm_graph_n_runs(go->g); i++)
        counts[sm_graph_state(go->g, i)]++;
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    for (int s = 0; s < SM_STATE_COUNT; s++) {
        PyObject *v = PyLong_FromLong(counts[s]);
        if (v == NULL || PyDict_SetItemString(d, sm_state_name(s), v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}

static PyObject *graph_len(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(sm_graph_n_runs(GRAPH(self)->g));
}

static PyMethodDef graph_methods[] = {
    {"stats", graph_stats, METH_NOARGS, "Count of runs per state, as a dict."},
    {"n_runs", graph_len, METH_NOARGS, "Number of runs in the graph."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot graph_slots[] = {
    {Py_tp_doc, (void *)"A resolution graph: the runs of futures created together."},
    {Py_tp_dealloc, graph_dealloc},
    {Py_tp_traverse, graph_traverse},
    {Py_tp_clear, graph_clear},
    {Py_tp_methods, graph_methods},
    {0, NULL},
};

static PyType_Spec graph_spec = {
    .name = "sematic._core.Graph",
    .basicsize = sizeof(struct graph_obj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION |
             Py_TPFLAGS_IMMUTABLETYPE,
    .slots = graph_slots,
};

/* ----------------------------------------------------------------- Future */

static void future_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    struct future_obj *f = FUT(self);
    if (f->graph != NULL) {
        struct run_py *r = RUNPY(self);
        if (r->handle == self)
            r->handle = NULL;
        Py_CLEAR(f->graph);
    }
    tp->tp_free(self);
    Py_DECREF(tp);
}

PyObject *sm__call_hook(struct sm_py_state *st, const char *name, PyObject *const *args, size_t n)
{
    return call_hook(st, name, args, n);
}

PyObject *sm__graph_handle(struct sm_py_state *st, PyObject *graph, int32_t run)
{
    return graph_handle(st, graph, run);
}

PyObject *sm__raise_err(struct sm_py_state *st, const struct sm_err *err)
{
    return raise_sm_err(st, err);
}

/* UUIDv7 layout: the graph's creation time in ms, then 42 bits of `seed`, then `index`, so the
 * ids of a graph increase with the index (database indexes on them grow at one end). Unique
 * across graphs through the time and the seed. */
static void graph_id_hex(const struct graph_obj *go, uint64_t seed, int32_t index, char out[33])
{
    static const char digits[] = "0123456789abcdef";
    uint64_t hi = (go->id_ms << 16) | 0x7000ULL | (seed & 0xFFFULL);
    uint64_t lo =
        0x8000000000000000ULL | (((seed >> 12) & 0x3FFFFFFFULL) << 32) | (uint64_t)(uint32_t)index;
    for (int i = 15; i >= 0; i--, hi >>= 4)
        out[i] = digits[hi & 0xF];
    for (int i = 31; i >= 16; i--, lo >>= 4)
        out[i] = digits[lo & 0xF];
    out[32] = '\0';
}

void sm__run_id_hex(const struct graph_obj *go, int32_t run, char out[33])
{
    graph_id_hex(go, go->id_seed, run, out);
}

void sm__edge_id_hex(const struct graph_obj *go, int32_t edge, char out[33])
{
    /* Another seed than the runs', so that no edge shares a run's id. */
    graph_id_hex(go, go->id_seed ^ 0x5A5A5A5A5A5ULL, edge, out);
}

static PyObject *future_get_id(PyObject *self, void *Py_UNUSED(closure))
{
    char buf[33];
    sm__run_id_hex(GRAPH(FUT(self)->graph), FUT(self)->run, buf);
    return PyUnicode_FromStringAndSize(buf, 32);
}

static PyObject *future_get_function(PyObject *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(RUNPY(self)->function);
}

/*
 * New dict {param: value} from `tuple`, aligned with the run's params; the
 * upstream marker stands for the run's k-th input future, in order.
 */
static PyObject *aligned_to_dict(struct sm_py_state *st, PyObject *future, PyObject *tuple)
{
    PyObject *d = PyDict_New();
    if (d == NULL || tuple == NULL)
        return d;
    struct future_obj *f = FUT(future);
    PyObject *params = FUNC(RUNPY(future)->function)->params;
    int32_t k = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tuple); i++) {
        PyObject *v = PyTuple_GET_ITEM(tuple, i);
        PyObject *handle = NULL;
        if (v == st->upstream) {
            int32_t up = sm_graph_input(GRAPH(f->graph)->g, f->run, k++);
            v = handle = graph_handle(st, f->graph, up);
            if (handle == NULL)
                goto fail;
        }
        int rc = PyDict_SetItem(d, PyTuple_GET_ITEM(params, i), v);
        Py_XDECREF(handle);
        if (rc < 0)
            goto fail;
    }
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

static PyObject *future_get_kwargs(PyObject *self, void *Py_UNUSED(closure))
{
    struct sm_py_state *st = sm_py_state_by_type(Py_TYPE(self));
    return st ? aligned_to_dict(st, self, RUNPY(self)->args) : NULL;
}

static PyObject *future_get_resolved_kwargs(PyObject *self, void *Py_UNUSED(closure))
{
    struct sm_py_state *st = sm_py_state_by_type(Py_TYPE(self));
    return st ? aligned_to_dict(st, self, RUNPY(self)->resolved) : NULL;
}

static PyObject *future_get_value(PyObject *self, void *Py_UNUSED(closure))
{
    PyObject *v = RUNPY(self)->value;
    return Py_NewRef(v ? v : Py_None);
}

static int future_set_value(PyObject *self, PyObject *value, void *Py_UNUSED(closure))
{
    Py_XSETREF(RUNPY(self)->value, Py_XNewRef(value));
    return 0;
}

static PyObject *future_get_state(PyObject *self, void *Py_UNUSED(closure))
{
    struct sm_py_state *st = sm_py_state_by_type(Py_TYPE(self));
    if (st == NULL)
        return NULL;
    struct future_obj *f = FUT(self);
    enum sm_state s = sm_graph_state(GRAPH(f->graph)->g, f->run);
    if (st->states == NULL)
        return PyUnicode_FromString(sm_state_name(s));
    return Py_NewRef(PyTuple_GET_ITEM(st->states, s));
}

/* New reference to the future of run `id` in `self`'s graph, or None for -1. */
static PyObject *future_of_run(PyObject *self, int32_t id)
{
    if (id < 0)
        Py_RETURN_NONE;
    struct sm_py_state *st = sm_py_state_by_type(Py_TYPE(self));
    return st ? graph_handle(st, FUT(self)->graph, id) : NULL;
}

static PyObject *future_get_parent(PyObject *self, void *Py_UNUSED(closure))
{
    struct future_obj *f = FUT(self);
    return future_of_run(self, sm_graph_parent(GRAPH(f->graph)->g, f->run));
}

static PyObject *future_get_nested(PyObject *self, void *Py_UNUSED(closure))
{
    struct future_obj *f = FUT(self);
    return future_of_run(self, sm_graph_nested(GRAPH(f->graph)->g, f->run));
}

static PyObject *future_get_props(PyObject *self, void *Py_UNUSED(closure))
{
    PyObject *p = RUNPY(self)->props;
    return Py_NewRef(p ? p : Py_None);
}

static int future_set_props(PyObject *self, PyObject *value, void *Py_UNUSED(closure))
{
    Py_XSETREF(RUNPY(self)->props, Py_XNewRef(value == Py_None ? NULL : value));
    return 0;
}

static PyObject *future_get_exception(PyObject *self, void *Py_UNUSED(closure))
{
    PyObject *e = RUNPY(self)->exception;
    return Py_NewRef(e ? e : Py_None);
}

static PyObject *future_get_attempt(PyObject *self, void *Py_UNUSED(closure))
{
    struct future_obj *f = FUT(self);
    return PyLong_FromLong(sm_graph_attempt(GRAPH(f->graph)->g, f->run));
}

static PyObject *future_get_graph(PyObject *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(FUT(self)->graph);
}

static PyObject *future_get_run_index(PyObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLong(FUT(self)->run);
}

static PyObject *future_get_none(PyObject *Py_UNUSED(self), void *Py_UNUSED(closure))
{
    Py_RETURN_NONE;
}

static PyGetSetDef future_getset[] = {
    {"id", future_get_id, NULL, "32-hex id of the future (and of its run).", NULL},
    {"function", future_get_function, NULL, "The Function this is a future of.", NULL},
    {"kwargs", future_get_kwargs, NULL, "Input arguments: concrete values or futures.", NULL},
    {"resolved_kwargs", future_get_resolved_kwargs, NULL, "Concrete inputs once executed.", NULL},
    {"value", future_get_value, future_set_value, "Output value once resolved, else None.", NULL},
    {"state", future_get_state, NULL, "FutureState of the run, from the engine.", NULL},
    {"parent_future", future_get_parent, NULL, "The future whose body returned this.", NULL},
    {"nested_future", future_get_nested, NULL, "The future this one's body returned.", NULL},
    {"original_future_id", future_get_none, NULL, "Id of the future this was cloned from.", NULL},
    {"_props", future_get_props, future_set_props, "FutureProperties once materialised.", NULL},
    {"_exception", future_get_exception, NULL, "What the last failed attempt raised.", NULL},
    {"_attempt", future_get_attempt, NULL, "0 on the first attempt, then 1, 2, ...", NULL},
    {"_graph", future_get_graph, NULL, "The _core.Graph holding this future's run.", NULL},
    {"_run_index", future_get_run_index, NULL, "The run's index in its graph.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* Apply timeout_mins (None or int >= 1, validated by Python) to the engine. */
static PyObject *future_set_timeout(PyObject *self, PyObject *arg)
{
    struct sm_py_state *st = sm_py_state_by_type(Py_TYPE(self));
    if (st == NULL)
        return NULL;
    long long mins = arg == Py_None ? 0 : PyLong_AsLongLong(arg);
    if (mins == -1 && PyErr_Occurred())
        return NULL;
    struct future_obj *f = FUT(self);
    struct sm_err err = SM_ERR_INIT;
    if (sm_graph_set_timeout_ms(GRAPH(f->graph)->g, f->run, mins * st->ms_per_minute, &err) < 0)
        return raise_sm_err(st, &err);
    Py_RETURN_NONE;
}

static PyMethodDef future_methods[] = {
    {"_set_timeout_mins", future_set_timeout, METH_O, "Set the run's timeout in the engine."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot future_slots[] = {
    {Py_tp_doc,
     (void *)"C half of sematic.future.Future: a handle onto a run of the engine's graph."},
    {Py_tp_dealloc, future_dealloc},
    {Py_tp_getset, future_getset},
    {Py_tp_methods, future_methods},
    {0, NULL},
};

static PyType_Spec future_spec = {
    .name = "sematic.future.Future",
    .basicsize = sizeof(struct future_obj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = future_slots,
};

/* --------------------------------------------------------------- Function */

static int func_traverse(PyObject *self, visitproc visit, void *arg)
{
    struct func_obj *fn = FUNC(self);
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(fn->dict);
    Py_VISIT(fn->body);
    Py_VISIT(fn->params);
    Py_VISIT(fn->defaults);
    Py_VISIT(fn->in_types);
    Py_VISIT(fn->out_type);
    Py_VISIT(fn->fqpn);
    Py_VISIT(fn->retry_settings);
    return 0;
}

static int func_clear(PyObject *self)
{
    struct func_obj *fn = FUNC(self);
    Py_CLEAR(fn->dict);
    Py_CLEAR(fn->body);
    Py_CLEAR(fn->params);
    Py_CLEAR(fn->defaults);
    Py_CLEAR(fn->in_types);
    Py_CLEAR(fn->out_type);
    Py_CLEAR(fn->fqpn);
    Py_CLEAR(fn->retry_settings);
    return 0;
}

static void func_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    func_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/*
 * FunctionBase._setup(params, defaults, in_types, out_type, fqpn, body, op,
 * n_positional, retries, retry_settings, timeout_mins, exempt_unused):
 * called once by Function.__init__ after validation.
 */
static PyObject *func_setup(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 12) {
        PyErr_SetString(PyExc_TypeError, "_setup takes 12 arguments");
        return NULL;
    }
    struct func_obj *fn = FUNC(self);
    PyObject *params = args[0], *defaults = args[1], *in_types = args[2];
    if (!PyTuple_Check(params) || !PyTuple_Check(defaults) || !PyTuple_Check(in_types) ||
        PyTuple_GET_SIZE(defaults) != PyTuple_GET_SIZE(params) ||
        PyTuple_GET_SIZE(in_types) != PyTuple_GET_SIZE(params) || !PyUnicode_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError,
                        "_setup: params, defaults and in_types must be tuples of one length");
        return NULL;
    }
    long op = PyLong_AsLong(args[6]);
    Py_ssize_t n_positional = PyLong_AsSsize_t(args[7]);
    long retries = PyLong_AsLong(args[8]);
    long long timeout_mins = args[10] == Py_None ? 0 : PyLong_AsLongLong(args[10]);
    int exempt = PyObject_IsTrue(args[11]);
    if (PyErr_Occurred() || exempt < 0)
        return NULL;
    Py_XSETREF(fn->params, Py_NewRef(params));
    Py_XSETREF(fn->defaults, Py_NewRef(defaults));
    Py_XSETREF(fn->in_types, Py_NewRef(in_types));
    Py_XSETREF(fn->out_type, Py_NewRef(args[3]));
    Py_XSETREF(fn->fqpn, Py_NewRef(args[4]));
    Py_XSETREF(fn->body, Py_NewRef(args[5]));
    Py_XSETREF(fn->retry_settings, args[9] == Py_None ? NULL : Py_NewRef(args[9]));
    fn->op = (int)op;
    fn->n_positional = n_positional;
    fn->retries = (int32_t)retries;
    fn->timeout_mins = timeout_mins;
    fn->is_exempt_unused = exempt;
    Py_RETURN_NONE;
}

/* Replace what executes (mocks); the caller keeps the original to restore it. */
static PyObject *func_set_body(PyObject *self, PyObject *body)
{
    Py_XSETREF(FUNC(self)->body, Py_NewRef(body));
    Py_RETURN_NONE;
}

static PyObject *func_get_body(PyObject *self, void *Py_UNUSED(closure))
{
    PyObject *b = FUNC(self)->body;
    return Py_NewRef(b ? b : Py_None);
}

static PyObject *func_get_out_type(PyObject *self, void *Py_UNUSED(closure))
{
    PyObject *t = FUNC(self)->out_type;
    return Py_NewRef(t ? t : Py_None);
}

static PyObject *func_get_in_types(PyObject *self, void *Py_UNUSED(closure))
{
    PyObject *t = FUNC(self)->in_types;
    return Py_NewRef(t ? t : Py_None);
}

/* The frame of the run executing in this thread, or NULL. */
static struct sm_exec_frame *thread_frame(struct sm_py_state *st)
{
    return PyThread_tss_get(&st->executing_key);
}

/* This thread's frame, else the process's only one (a body's helper thread), else NULL. */
static struct sm_exec_frame *current_frame(struct sm_py_state *st)
{
    struct sm_exec_frame *f = thread_frame(st);
    if (f == NULL && st->n_frames == 1)
        f = st->all_frames;
    return f;
}

static int push_frame(struct sm_py_state *st, struct sm_exec_frame *f)
{
    f->prev_in_thread = thread_frame(st);
    if (PyThread_tss_set(&st->executing_key, f) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "cannot record the executing run for this thread");
        return -1;
    }
    f->prev_all = NULL;
    f->next_all = st->all_frames;
    if (st->all_frames != NULL)
        st->all_frames->prev_all = f;
    st->all_frames = f;
    st->n_frames++;
    return 0;
}

static void pop_frame(struct sm_py_state *st, struct sm_exec_frame *f)
{
    (void)PyThread_tss_set(&st->executing_key, f->prev_in_thread);
    if (f->prev_all != NULL)
        f->prev_all->next_all = f->next_all;
    else
        st->all_frames = f->next_all;
    if (f->next_all != NULL)
        f->next_all->prev_all = f->prev_all;
    st->n_frames--;
}

/*
 * Borrowed: the graph that futures created outside any run join in this
 * thread (kept in the thread's state dict, so threads building pipelines
 * side by side never share one), made on first use. NULL with an exception.
 */
static PyObject *thread_graph(struct sm_py_state *st)
{
    PyObject *d = PyThreadState_GetDict(); /* borrowed */
    PyObject *key = (PyObject *)st->graph_type;
    if (d == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "no thread state to keep the pipeline graph in");
        return NULL;
    }
    PyObject *g = PyDict_GetItemWithError(d, key); /* borrowed */
    if (g != NULL || PyErr_Occurred())
        return g;
    g = graph_new_obj(st);
    if (g == NULL)
        return NULL;
    int rc = PyDict_SetItem(d, key, g);
    Py_DECREF(g); /* the thread dict holds it */
    return rc < 0 ? NULL : g;
}

/* Start a new graph for this thread's next futures if `graph` is its current one. */
static int retire_thread_graph(struct sm_py_state *st, PyObject *graph)
{
    PyObject *d = PyThreadState_GetDict(); /* borrowed */
    PyObject *key = (PyObject *)st->graph_type;
    if (d == NULL || PyDict_GetItemWithError(d, key) != graph)
        return PyErr_Occurred() ? -1 : 0;
    return PyDict_DelItem(d, key);
}

/* Borrowed: the graph new runs join: the executing run's, else that of future arguments, else this thread's. NULL with an exception. */
static PyObject *target_graph(struct sm_py_state *st, PyObject *args_graph)
{
    struct sm_exec_frame *frame = thread_frame(st);
    if (frame != NULL)
        return frame->graph;
    if (args_graph != NULL)
        return args_graph;
    return thread_graph(st);
}

/* Is `o` a list or tuple holding a future anywhere inside (through nested lists and tuples)? */
static int holds_future(struct sm_py_state *st, PyObject *o)
{
    if (!PyList_Check(o) && !PyTuple_Check(o))
        return 0;
    if (Py_EnterRecursiveCall(" while looking for futures in a list"))
        return -1;
    int found = 0;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
    for (Py_ssize_t i = 0; i < n && !found; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(o, i);
        if (is_future(st, item))
            found = 1;
        else
            found = holds_future(st, item);
        if (found < 0)
            break;
        /* A list may change under us through a __eq__; re-read its size. */
        n = PySequence_Fast_GET_SIZE(o);
    }
    Py_LeaveRecursiveCall();
    return found;
}

/*
 * Check one argument against its declared type and return it cast (new
 * reference), or NULL with Sematic's TypeError ("Invalid input type for
 * argument 'a' when calling 'm.f'. Cannot cast ..."), path appended.
 */
static PyObject *cast_argument(struct sm_py_state *st, struct func_obj *fn, Py_ssize_t i,
                               PyObject *value)
{
    PyObject *type = PyTuple_GET_ITEM(fn->in_types, i);
    if (is_future(st, value)) {
        PyObject *from = FUNC(RUNPY(value)->function)->out_type;
        if (from == type)
            return Py_NewRef(value);
        PyObject *reason = NULL;
        int ok = sm_type_can_cast(from, type, &reason);
        if (ok < 0)
            return NULL;
        if (ok)
            return Py_NewRef(value);
        PyObject *hook_args[] = {(PyObject *)fn, PyTuple_GET_ITEM(fn->params, i), value, reason};
        PyObject *e = call_hook(st, "input_future_type_error", hook_args, 4);
        Py_DECREF(reason);
        if (e != NULL) {
            PyErr_SetObject((PyObject *)Py_TYPE(e), e);
            Py_DECREF(e);
        }
        return NULL;
    }
    PyObject *cast = sm_type_cast(type, value);
    if (cast != NULL)
        return cast;
    if (!PyErr_ExceptionMatches(PyExc_TypeError))
        return NULL;
    PyObject *exc = fetch_exception();
    PyObject *hook_args[] = {(PyObject *)fn, PyTuple_GET_ITEM(fn->params, i), value, exc};
    PyObject *e = call_hook(st, "input_type_error", hook_args, 4);
    Py_DECREF(exc);
    if (e != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(e), e);
        Py_DECREF(e);
    }
    return NULL;
}

/*
 * New reference: `args` as a run keeps them, each future replaced by the
 * upstream marker (the engine's input list says which run it was), so that
 * stored arguments never reference a handle. `args` itself when it holds no
 * future.
 */
static PyObject *store_args(struct sm_py_state *st, PyObject *args)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    PyObject *stored = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!is_future(st, PyTuple_GET_ITEM(args, i)))
            continue;
        if (stored == NULL) {
            stored = PyTuple_New(n);
            if (stored == NULL)
                return NULL;
            for (Py_ssize_t j = 0; j < n; j++)
                PyTuple_SET_ITEM(stored, j, Py_NewRef(PyTuple_GET_ITEM(args, j)));
        }
        PyObject *future = PyTuple_GET_ITEM(stored, i);
        PyTuple_SET_ITEM(stored, i, Py_NewRef(st->upstream));
        Py_DECREF(future);
    }
    return stored ? stored : Py_NewRef(args);
}

/*
 * Add a run for `fn` with the cast arguments `args` (an aligned tuple; this
 * steals it) and return its future (new reference), or NULL.
 */
static PyObject *make_future(struct sm_py_state *st, struct func_obj *fn, PyObject *args)
{
    PyObject *graph = NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *a = PyTuple_GET_ITEM(args, i);
        if (!is_future(st, a))
            continue;
        PyObject *g = FUT(a)->graph;
        if (graph == NULL) {
            graph = g;
        } else if (g != graph) {
            Py_DECREF(args);
            PyErr_Format(PyExc_ValueError,
                         "cannot call '%U' with futures of different pipeline runs; create all "
                         "the futures of a pipeline before running it, or pass resolved values",
                         fn->fqpn);
            return NULL;
        }
    }
    PyObject *target = target_graph(st, graph);
    if (target == NULL) {
        Py_DECREF(args);
        return NULL;
    }
    if (graph != NULL && graph != target) {
        Py_DECREF(args);
        PyErr_Format(PyExc_ValueError,
                     "cannot call '%U' inside a Sematic func with a future created outside it; "
                     "pass the future's value as an argument of the enclosing func instead",
                     fn->fqpn);
        return NULL;
    }
    struct graph_obj *go = GRAPH(target);
    /* What can fail comes first, so that every run of the engine has its Python half. */
    PyObject *stored = store_args(st, args);
    if (stored == NULL || graph_reserve_run(go) < 0) {
        Py_XDECREF(stored);
        Py_DECREF(args);
        return NULL;
    }
    struct sm_err err = SM_ERR_INIT;
    int32_t run = sm_graph_add_run(go->g, fn->is_exempt_unused ? SM_RUN_EXEMPT_UNUSED : 0, &err);
    if (run < 0) {
        Py_DECREF(stored);
        Py_DECREF(args);
        return raise_sm_err(st, &err);
    }
    graph_push_run(go, (PyObject *)fn, stored);
    int rc = 0;
    for (Py_ssize_t i = 0; i < n && rc == 0; i++) {
        PyObject *a = PyTuple_GET_ITEM(args, i);
        if (is_future(st, a))
            rc = sm_graph_add_input(go->g, run, FUT(a)->run, &err);
    }
    Py_DECREF(args);
    if (rc == 0 && fn->retries > 0)
        rc = sm_graph_set_retries(go->g, run, fn->retries, &err);
    if (rc == 0 && fn->timeout_mins > 0)
        rc = sm_graph_set_timeout_ms(go->g, run, fn->timeout_mins * st->ms_per_minute, &err);
    if (rc < 0)
        return raise_sm_err(st, &err);
    return graph_handle(st, target, run);
}

/* New reference: args bound to fn's parameters (inspect.Signature.bind's rules and messages). */
static PyObject *bind_arguments(struct sm_py_state *st, struct func_obj *fn, PyObject *args,
                                PyObject *kwargs)
{
    Py_ssize_t n_params = PyTuple_GET_SIZE(fn->params);
    Py_ssize_t n_args = PyTuple_GET_SIZE(args);
    if (n_args > fn->n_positional) {
        PyErr_SetString(PyExc_TypeError, "too many positional arguments");
        return NULL;
    }
    PyObject *bound = PyTuple_New(n_params);
    if (bound == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n_args; i++)
        PyTuple_SET_ITEM(bound, i, Py_NewRef(PyTuple_GET_ITEM(args, i)));
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) > 0) {
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(kwargs, &pos, &key, &value)) {
            Py_ssize_t i = 0;
            for (; i < n_params; i++) {
                PyObject *p = PyTuple_GET_ITEM(fn->params, i);
                if (p == key)
                    break;
                int eq = PyUnicode_Check(key) ? PyUnicode_Compare(p, key) : 1;
                if (eq == -1 && PyErr_Occurred())
                    goto fail;
                if (eq == 0)
                    break;
            }
            if (i == n_params) {
                PyErr_Format(PyExc_TypeError, "got an unexpected keyword argument %R", key);
                goto fail;
            }
            if (PyTuple_GET_ITEM(bound, i) != NULL) {
                PyErr_Format(PyExc_TypeError, "multiple values for argument %R", key);
                goto fail;
            }
            PyTuple_SET_ITEM(bound, i, Py_NewRef(value));
        }
    }
    for (Py_ssize_t i = 0; i < n_params; i++) {
        if (PyTuple_GET_ITEM(bound, i) != NULL)
            continue;
        PyObject *d = PyTuple_GET_ITEM(fn->defaults, i);
        if (d == st->missing) {
            PyErr_Format(PyExc_TypeError, "missing a required argument: %R",
                         PyTuple_GET_ITEM(fn->params, i));
            goto fail;
        }
        PyTuple_SET_ITEM(bound, i, Py_NewRef(d));
    }
    return bound;
fail:
    Py_DECREF(bound);
    return NULL;
}

/* Cast every bound argument in place (lists of futures become _make_list futures first). */
static int cast_bound(struct sm_py_state *st, struct func_obj *fn, PyObject *bound)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(bound); i++) {
        PyObject *v = PyTuple_GET_ITEM(bound, i);
        PyObject *converted = NULL;
        int has = holds_future(st, v);
        if (has < 0)
            return -1;
        if (has) {
            PyObject *hook_args[] = {v, PyTuple_GET_ITEM(fn->in_types, i)};
            converted = call_hook(st, "convert_argument", hook_args, 2);
            if (converted == NULL)
                return -1;
            v = converted;
        }
        PyObject *cast = cast_argument(st, fn, i, v);
        Py_XDECREF(converted);
        if (cast == NULL)
            return -1;
        PyObject *old = PyTuple_GET_ITEM(bound, i);
        PyTuple_SET_ITEM(bound, i, cast);
        Py_DECREF(old);
    }
    return 0;
}

/* Calling a Function: bind, cast, add a run; returns its Future. */
static PyObject *func_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    struct func_obj *fn = FUNC(self);
    struct sm_py_state *st = sm_py_state_by_type(Py_TYPE(self));
    if (st == NULL)
        return NULL;
    if (fn->params == NULL) {
        PyErr_SetString(PyExc_TypeError, "this Function was not set up; use @sematic.func");
        return NULL;
    }
    PyObject *bound = bind_arguments(st, fn, args, kwargs);
    if (bound == NULL)
        return NULL;
    if (cast_bound(st, fn, bound) < 0) {
        Py_DECREF(bound);
        return NULL;
    }
    return make_future(st, fn, bound);
}

/* FunctionBase._call_aligned(values): a future from values aligned with params, already checked. */
static PyObject *func_call_aligned(PyObject *self, PyObject *values)
{
    struct sm_py_state *st = sm_py_state_by_type(Py_TYPE(self));
    if (st == NULL)
        return NULL;
    struct func_obj *fn = FUNC(self);
    if (!PyTuple_Check(values) || fn->params == NULL ||
        PyTuple_GET_SIZE(values) != PyTuple_GET_SIZE(fn->params)) {
        PyErr_SetString(PyExc_TypeError, "_call_aligned takes a tuple aligned with the params");
        return NULL;
    }
    return make_future(st, fn, Py_NewRef(values));
}

static PyMethodDef func_methods[] = {
    {"_setup", (PyCFunction)(void (*)(void))func_setup, METH_FASTCALL,
     "Set the compiled signature and settings (called by Function.__init__)."},
    {"_set_body", func_set_body, METH_O, "Replace the callable that executes (mocks)."},
    {"_call_aligned", func_call_aligned, METH_O, "A future from a tuple aligned with params."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef func_getset[] = {
    {"_body", func_get_body, NULL, "The callable that executes.", NULL},
    {"_out_type", func_get_out_type, NULL, "Compiled output type (_core.Type).", NULL},
    {"_in_types", func_get_in_types, NULL, "Compiled input types, aligned with params.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef func_members[] = {
    {"__dictoffset__", T_PYSSIZET, offsetof(struct func_obj, dict), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot func_slots[] = {
    {Py_tp_doc, (void *)"C half of sematic.function.Function: binding, casting and run creation."},
    {Py_tp_dealloc, func_dealloc},
    {Py_tp_traverse, func_traverse},
    {Py_tp_clear, func_clear},
    {Py_tp_call, func_call},
    {Py_tp_methods, func_methods},
    {Py_tp_getset, func_getset},
    {Py_tp_members, func_members},
    {0, NULL},
};

static PyType_Spec func_spec = {
    .name = "sematic._core.FunctionBase",
    .basicsize = sizeof(struct func_obj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = func_slots,
};

/* --------------------------------------------------------- the executor */

struct exec_ctx {
    struct sm_py_state *st;
    PyObject *graph;         /* borrowed _core.Graph */
    PyObject *on_transition; /* runner hook or NULL */
    PyObject *interrupt;     /* an exception that stops everything (cancellation), or NULL */
};

/* Record `exc` (stolen) as the failure of `run` and report it. Returns 0 or -1 (engine error). */
static int fail_run(struct exec_ctx *cx, int32_t run, PyObject *exc, bool retryable)
{
    struct graph_obj *go = GRAPH(cx->graph);
    Py_XSETREF(go->runs[run].exception, exc);
    struct sm_err err = SM_ERR_INIT;
    if (sm_graph_report_failure(go->g, run, retryable, &err) < 0) {
        if (!PyErr_Occurred())
            raise_sm_err(cx->st, &err);
        return -1;
    }
    return 0;
}

/* Turn the raised exception into the run's failure (through hooks.function_failure). */
static int fail_with_raised(struct exec_ctx *cx, int32_t run)
{
    struct sm_py_state *st = cx->st;
    PyObject *exc = fetch_exception();
    PyObject *fut = graph_handle(st, cx->graph, run);
    PyObject *r = NULL;
    if (fut != NULL) {
        /* Returns (exception to record, retryable: bool, is_cancellation: bool). */
        PyObject *hook_args[] = {fut, exc};
        r = call_hook(st, "function_failure", hook_args, 2);
        Py_DECREF(fut);
    }
    if (r == NULL || !PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 3) {
        Py_DECREF(exc);
        Py_XDECREF(r);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "sematic._hooks failure helper broke its contract");
        return -1;
    }
    int retryable = PyObject_IsTrue(PyTuple_GET_ITEM(r, 1));
    int cancel = PyObject_IsTrue(PyTuple_GET_ITEM(r, 2));
    PyObject *recorded = Py_NewRef(PyTuple_GET_ITEM(r, 0));
    Py_DECREF(r);
    if (cancel) {
        Py_DECREF(recorded);
        Py_XSETREF(cx->interrupt, exc);
        return -1;
    }
    Py_DECREF(exc);
    return fail_run(cx, run, recorded, retryable > 0);
}

/* New reference: the arguments of `run` with each upstream marker replaced by that run's value. */
static PyObject *resolve_args(struct sm_py_state *st, struct graph_obj *go, int32_t run)
{
    PyObject *args = go->runs[run].args;
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    PyObject *resolved = PyTuple_New(n);
    if (resolved == NULL)
        return NULL;
    int32_t k = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *a = PyTuple_GET_ITEM(args, i);
        if (a == st->upstream) {
            a = go->runs[sm_graph_input(go->g, run, k++)].value;
            if (a == NULL)
                a = Py_None; /* a resolved run with a None value */
        }
        PyTuple_SET_ITEM(resolved, i, Py_NewRef(a));
    }
    return resolved;
}

/* hooks.<name>(future of run a, future of run b): new reference, or NULL. */
static PyObject *call_hook_on_runs(struct sm_py_state *st, const char *name, PyObject *graph,
                                   int32_t a, int32_t b, PyObject *extra)
{
    PyObject *fa = graph_handle(st, graph, a);
    PyObject *fb = fa ? graph_handle(st, graph, b) : NULL;
    PyObject *r = NULL;
    if (fb != NULL) {
        PyObject *hook_args[] = {fa, fb, extra};
        r = call_hook(st, name, hook_args, extra ? 3 : 2);
    }
    Py_XDECREF(fa);
    Py_XDECREF(fb);
    return r;
}

/* Call the body per the function's op. New reference, or NULL with the body's exception. */
static PyObject *call_body(struct func_obj *fn, PyObject *resolved)
{
    Py_ssize_t n = PyTuple_GET_SIZE(resolved);
    switch (fn->op) {
    case OP_MAKE_LIST:
        return PySequence_List(resolved);
    case OP_MAKE_TUPLE:
        return Py_NewRef(resolved);
    case OP_GETITEM:
        return PyObject_GetItem(PyTuple_GET_ITEM(resolved, 0), PyTuple_GET_ITEM(resolved, 1));
    default:
        /* fn(**kwargs) without building a dict: all arguments by keyword. */
        return PyObject_Vectorcall(fn->body, &PyTuple_GET_ITEM(resolved, 0), 0,
                                   n ? fn->params : NULL);
    }
}

static int exec_run(void *ctx, struct sm_graph *g, int32_t run, const struct sm_deadline *dl)
{
    struct exec_ctx *cx = ctx;
    struct sm_py_state *st = cx->st;
    struct graph_obj *go = GRAPH(cx->graph);
    struct func_obj *fn = FUNC(go->runs[run].function);
    struct sm_err err = SM_ERR_INIT;
    bool armed = false;

    PyObject *resolved = resolve_args(st, go, run);
    if (resolved == NULL)
        return -1;
    Py_XSETREF(go->runs[run].resolved, resolved);

    if (go->recorder != NULL) {
        /* A cache hit or a run the resumed pipeline had resolved: no execution. */
        int reused = sm__recorder_try_reuse(go->recorder, go, run);
        if (reused != 0)
            return reused < 0 ? -1 : 0;
    }

    if (dl->remaining_ms != INT64_MAX) {
        /* hooks.arm_timeout(future, limiting future, remaining seconds) -> exception or None. */
        PyObject *secs = PyFloat_FromDouble((double)dl->remaining_ms / 1000.0);
        if (secs == NULL)
            return -1;
        PyObject *expired =
            call_hook_on_runs(st, "arm_timeout", cx->graph, run, dl->limiting_run, secs);
        Py_DECREF(secs);
        if (expired == NULL)
            return -1;
        if (expired != Py_None)
            return fail_run(cx, run, expired, false);
        Py_DECREF(expired);
        armed = true;
    }

    if (go->recorder != NULL && fn->op == OP_CALL && sm__recorder_before_body(go->recorder) < 0)
        return -1;
    struct sm_exec_frame frame = {.graph = cx->graph, .run = run};
    if (push_frame(st, &frame) < 0)
        return -1;
    int64_t started_ms = sm_graph_now_ms(g);
    PyObject *result = call_body(fn, resolved);
    pop_frame(st, &frame);

    if (armed) {
        PyObject *exc = result ? NULL : fetch_exception();
        PyObject *r = call_hook(st, "disarm_timeout", NULL, 0);
        if (r == NULL) {
            Py_XDECREF(exc);
            Py_XDECREF(result);
            return -1;
        }
        Py_DECREF(r);
        if (exc != NULL)
            restore_exception(exc);
    }
    if (result == NULL)
        return fail_with_raised(cx, run);
    /* A body the alarm could not interrupt (outside the main thread) still fails when late. */
    if (dl->remaining_ms != INT64_MAX && sm_graph_now_ms(g) - started_ms > dl->remaining_ms) {
        Py_DECREF(result);
        PyObject *e =
            call_hook_on_runs(st, "timeout_error", cx->graph, run, dl->limiting_run, NULL);
        return e == NULL ? -1 : fail_run(cx, run, e, false);
    }

    /* Lists and tuples holding futures become _make_list/_make_tuple futures (API.md 2.2). */
    int has = holds_future(st, result);
    if (has < 0) {
        Py_DECREF(result);
        return fail_with_raised(cx, run);
    }
    if (has) {
        PyObject *hook_args[] = {result, (PyObject *)fn};
        PyObject *converted = call_hook(st, "convert_output", hook_args, 2);
        Py_DECREF(result);
        if (converted == NULL)
            return fail_with_raised(cx, run);
        result = converted;
    }

    bool nested = is_future(st, result);
    int32_t unused = sm_graph_find_unused(g, run, nested ? FUT(result)->run : -1);
    if (unused >= 0) {
        PyObject *e = call_hook_on_runs(st, "unused_future_error", cx->graph, run, unused, NULL);
        Py_DECREF(result);
        if (e == NULL)
            return -1;
        return fail_run(cx, run, e, false);
    }

    if (nested) {
        if (FUT(result)->graph != cx->graph) {
            Py_DECREF(result);
            PyErr_Format(PyExc_ValueError,
                         "'%U' returned a future of another pipeline run; return futures "
                         "created inside the func",
                         fn->fqpn);
            return fail_with_raised(cx, run);
        }
        PyObject *from = FUNC(RUNPY(result)->function)->out_type;
        if (from != fn->out_type) {
            PyObject *reason = NULL;
            int ok = sm_type_can_cast(from, fn->out_type, &reason);
            if (ok <= 0) {
                PyObject *e = NULL;
                if (ok == 0) {
                    PyObject *hook_args[] = {(PyObject *)fn, result, reason};
                    e = call_hook(st, "output_future_type_error", hook_args, 3);
                    Py_DECREF(reason);
                }
                Py_DECREF(result);
                if (e == NULL)
                    return -1;
                return fail_run(cx, run, e, false);
            }
        }
        int32_t nested_run = FUT(result)->run;
        Py_DECREF(result);
        if (sm_graph_report_nested(g, run, nested_run, &err) < 0)
            return PyErr_Occurred() ? -1 : (raise_sm_err(st, &err), -1);
        return 0;
    }

    PyObject *cast = sm_type_cast(fn->out_type, result);
    if (cast == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError)) {
            Py_DECREF(result);
            return fail_with_raised(cx, run);
        }
        PyObject *exc = fetch_exception();
        PyObject *hook_args[] = {(PyObject *)fn, result, exc};
        PyObject *e = call_hook(st, "output_type_error", hook_args, 3);
        Py_DECREF(exc);
        Py_DECREF(result);
        if (e == NULL)
            return -1;
        return fail_run(cx, run, e, false);
    }
    Py_DECREF(result);
    Py_XSETREF(go->runs[run].value, cast);
    if (sm_graph_report_value(g, run, &err) < 0)
        return PyErr_Occurred() ? -1 : (raise_sm_err(st, &err), -1);
    return 0;
}

static int on_transition(void *ctx, struct sm_graph *g, int32_t run, enum sm_state from,
                         enum sm_state to)
{
    struct exec_ctx *cx = ctx;
    struct graph_obj *go = GRAPH(cx->graph);
    struct run_py *r = &go->runs[run];
    if (to == SM_STATE_RESOLVED && from == SM_STATE_RAN) {
        PyObject *v = go->runs[sm_graph_nested(g, run)].value;
        Py_XSETREF(r->value, Py_XNewRef(v));
    }
    if (to == SM_STATE_FAILED && go->failed_run < 0)
        go->failed_run = run;
    if (go->recorder != NULL && sm__recorder_transition(go->recorder, go, run, from, to) < 0)
        return -1;
    bool retry_hook = to == SM_STATE_RETRYING && r->props != NULL;
    if (!retry_hook && cx->on_transition == NULL)
        return 0;
    PyObject *f = graph_handle(cx->st, cx->graph, run);
    if (f == NULL)
        return -1;
    PyObject *result = Py_NewRef(Py_None);
    if (retry_hook) {
        PyObject *hook_args[] = {f};
        Py_XSETREF(result, call_hook(cx->st, "did_mark_for_retry", hook_args, 1));
    }
    if (result != NULL && cx->on_transition != NULL) {
        PyObject *a = PyLong_FromLong(from), *b = PyLong_FromLong(to);
        Py_CLEAR(result);
        if (a != NULL && b != NULL) {
            PyObject *hook_args[] = {f, a, b};
            result = PyObject_Vectorcall(cx->on_transition, hook_args, 3, NULL);
        }
        Py_XDECREF(a);
        Py_XDECREF(b);
    }
    Py_DECREF(f);
    if (result == NULL)
        return -1;
    Py_DECREF(result);
    return 0;
}

/*
 * _core.run(root_future, runner, on_transition=None) -> (ok, value_or_exception)
 * Resolve root; ok is True with the root's value, or False with what the
 * failing run raised (None when the failure has no exception). Cancellation
 * (KeyboardInterrupt, CancellationError) cancels the graph and re-raises.
 */
static PyObject *core_run(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    struct sm_py_state *st = sm_py_state_of(module);
    if (nargs < 2 || nargs > 4 || !is_future(st, args[0]) ||
        (nargs == 4 && args[3] != Py_None && !sm__is_recorder(st, args[3]))) {
        PyErr_SetString(PyExc_TypeError,
                        "run(root_future, runner, on_transition=None, recorder=None)");
        return NULL;
    }
    if (thread_frame(st) != NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "You have called runner.run(...) within a Sematic func. Sematic funcs "
                        "are run by the runner of their pipeline: call them directly instead");
        return NULL;
    }
    struct future_obj *root = FUT(args[0]);
    PyObject *graph = root->graph;
    struct graph_obj *go = GRAPH(graph);
    if (go->is_running) {
        PyErr_SetString(PyExc_RuntimeError,
                        "this pipeline is already running; wait for runner.run() to return");
        return NULL;
    }
    struct exec_ctx cx = {st, graph, NULL, NULL};
    if (nargs >= 3 && args[2] != Py_None)
        cx.on_transition = args[2];
    PyObject *recorder = nargs == 4 && args[3] != Py_None ? args[3] : NULL;
    struct sm_executor ex = {
        .ctx = &cx, .execute = exec_run, .on_transition = on_transition, .wait = NULL};

    Py_INCREF(graph);
    Py_XSETREF(go->runner, Py_NewRef(args[1]));
    go->root = root->run;
    go->failed_run = -1;
    go->is_running = true;
    /* Futures created from now on outside any run start a new graph, so this one can be freed. */
    if (retire_thread_graph(st, graph) < 0)
        goto done_error;
    if (recorder != NULL) {
        if (sm__recorder_begin(recorder, go, root->run) < 0)
            goto done_error;
        go->recorder = sm__recorder_of(recorder);
    }

    struct sm_err err = SM_ERR_INIT;
    int rc = sm_graph_run(go->g, root->run, &ex, &err);
    PyObject *result = NULL;
    if (rc < 0) {
        PyObject *pending = fetch_exception();
        if (cx.interrupt != NULL) {
            Py_XDECREF(pending);
            pending = Py_NewRef(cx.interrupt);
        }
        struct sm_err cerr = SM_ERR_INIT;
        cx.on_transition = NULL; /* the runner learns of the cancellation from the exception */
        if (sm_graph_cancel(go->g, &ex, &cerr) < 0)
            PyErr_Clear();
        if (pending != NULL)
            restore_exception(pending);
        else
            raise_sm_err(st, &err);
        if (go->recorder != NULL)
            sm__recorder_end(go->recorder, go, SM_PIPELINE_CANCELED);
        goto done_error;
    }
    enum sm_state s = sm_graph_state(go->g, root->run);
    if (go->recorder != NULL &&
        sm__recorder_end(go->recorder, go,
                         s == SM_STATE_RESOLVED ? SM_PIPELINE_COMPLETE : SM_PIPELINE_FAILED) < 0)
        goto done_error;
    if (s == SM_STATE_RESOLVED) {
        PyObject *value = go->runs[root->run].value;
        result = Py_BuildValue("(OO)", Py_True, value ? value : Py_None);
    } else {
        PyObject *exc = Py_None;
        if (go->failed_run >= 0 && go->runs[go->failed_run].exception != NULL)
            exc = go->runs[go->failed_run].exception;
        result = Py_BuildValue("(OO)", Py_False, exc);
    }
    go->recorder = NULL;
    go->is_running = false;
    Py_CLEAR(go->runner);
    Py_XDECREF(cx.interrupt);
    Py_DECREF(graph);
    return result;

done_error:
    go->recorder = NULL;
    go->is_running = false;
    Py_CLEAR(go->runner);
    Py_XDECREF(cx.interrupt);
    Py_DECREF(graph);
    return NULL;
}

/* _core.current_run() -> (future, root_future, runner) of the executing run, or None. */
static PyObject *core_current_run(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    struct sm_py_state *st = sm_py_state_of(module);
    struct sm_exec_frame *frame = current_frame(st);
    if (frame == NULL)
        Py_RETURN_NONE;
    struct graph_obj *go = GRAPH(frame->graph);
    PyObject *future = graph_handle(st, frame->graph, frame->run);
    PyObject *root = future ? graph_handle(st, frame->graph, go->root) : NULL;
    if (root == NULL) {
        Py_XDECREF(future);
        return NULL;
    }
    return Py_BuildValue("(NNO)", future, root, go->runner ? go->runner : Py_None);
}

/* _core.in_body() -> whether this thread is executing the body of a run. */
static PyObject *core_in_body(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(thread_frame(sm_py_state_of(module)) != NULL);
}

/* _core.register(future_class, hooks, states): the package's Python halves. */
static PyObject *core_register(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    struct sm_py_state *st = sm_py_state_of(module);
    if (nargs != 3 || !PyType_Check(args[0]) ||
        !PyType_IsSubtype((PyTypeObject *)args[0], st->future_type) || !PyTuple_Check(args[2]) ||
        PyTuple_GET_SIZE(args[2]) != SM_STATE_COUNT) {
        PyErr_SetString(PyExc_TypeError,
                        "register(future_class, hooks, states): future_class must subclass "
                        "FutureBase and states must list the 8 FutureState members");
        return NULL;
    }
    Py_XSETREF(st->future_class, Py_NewRef(args[0]));
    Py_XSETREF(st->hooks, Py_NewRef(args[1]));
    Py_XSETREF(st->states, Py_NewRef(args[2]));
    Py_RETURN_NONE;
}

/* _core.set_ms_per_minute(ms): tests shrink minutes to exercise timeouts. Returns the old value. */
static PyObject *core_set_ms_per_minute(PyObject *module, PyObject *arg)
{
    struct sm_py_state *st = sm_py_state_of(module);
    long long ms = PyLong_AsLongLong(arg);
    if (ms == -1 && PyErr_Occurred())
        return NULL;
    if (ms < 1) {
        PyErr_SetString(PyExc_ValueError, "ms_per_minute must be >= 1");
        return NULL;
    }
    long long old = st->ms_per_minute;
    st->ms_per_minute = ms;
    return PyLong_FromLongLong(old);
}

static PyObject *core_state_names(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    PyObject *t = PyTuple_New(SM_STATE_COUNT);
    if (t == NULL)
        return NULL;
    for (int s = 0; s < SM_STATE_COUNT; s++) {
        PyObject *name = PyUnicode_FromString(sm_state_name(s));
        if (name == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, s, name);
    }
    return t;
}

/* _core.check_transition(from, to): the engine's table, for the Python FutureState API. */
static PyObject *core_check_transition(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2)
        return PyErr_Format(PyExc_TypeError, "check_transition(from, to)");
    long from = PyLong_AsLong(args[0]), to = PyLong_AsLong(args[1]);
    if (PyErr_Occurred())
        return NULL;
    if (from < 0 || from >= SM_STATE_COUNT || to < 0 || to >= SM_STATE_COUNT)
        return PyErr_Format(PyExc_ValueError, "states are 0..%d", SM_STATE_COUNT - 1);
    (void)module;
    return PyBool_FromLong(sm_state_check_transition(from, to, NULL) == 0);
}

/*
 * _core.element_types(items) -> list of the distinct types of items, in order
 * of first appearance: a future counts as its function's output annotation,
 * any other value as type(value). For _make_list's List[Union[...]] type.
 */
static PyObject *core_element_types(PyObject *module, PyObject *items)
{
    struct sm_py_state *st = sm_py_state_of(module);
    PyObject *seq = PySequence_Fast(items, "element_types() takes a sequence");
    if (seq == NULL)
        return NULL;
    PyObject *out = PyList_New(0);
    PyObject *seen = PySet_New(NULL);
    if (out == NULL || seen == NULL)
        goto fail;
    PyObject *last = NULL; /* borrowed: consecutive items usually share a type */
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *type = is_future(st, item)
                             ? sm_type_annotation(FUNC(RUNPY(item)->function)->out_type)
                             : (PyObject *)Py_TYPE(item);
        if (type == last)
            continue;
        last = type;
        PyObject *key = PyLong_FromVoidPtr(type);
        if (key == NULL)
            goto fail;
        int has = PySet_Contains(seen, key);
        if (has == 0 && (PySet_Add(seen, key) < 0 || PyList_Append(out, type) < 0))
            has = -1;
        Py_DECREF(key);
        if (has < 0)
            goto fail;
    }
    Py_DECREF(seen);
    Py_DECREF(seq);
    return out;
fail:
    Py_XDECREF(out);
    Py_XDECREF(seen);
    Py_DECREF(seq);
    return NULL;
}

/*
 * _core.check_elements(items, element_type) -> None, or TypeError
 * "Invalid value: <reason>" for the first item that does not fit
 * element_type (a _core.Type): futures by their output type, values by a
 * cast. Each distinct future output type is checked once.
 */
static PyObject *core_check_elements(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    struct sm_py_state *st = sm_py_state_of(module);
    if (nargs != 2)
        return PyErr_Format(PyExc_TypeError, "check_elements(items, element_type)");
    PyObject *seq = PySequence_Fast(args[0], "check_elements() takes a sequence");
    if (seq == NULL)
        return NULL;
    PyObject *element_type = args[1];
    PyObject *checked = NULL; /* borrowed: the last future output type found castable */
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *reason = NULL;
        if (is_future(st, item)) {
            PyObject *from = FUNC(RUNPY(item)->function)->out_type;
            if (from == checked || from == element_type)
                continue;
            int ok = sm_type_can_cast(from, element_type, &reason);
            if (ok < 0)
                goto fail;
            if (ok) {
                checked = from;
                continue;
            }
        } else {
            PyObject *cast = sm_type_cast(element_type, item);
            if (cast != NULL) {
                Py_DECREF(cast);
                continue;
            }
            if (!PyErr_ExceptionMatches(PyExc_TypeError))
                goto fail;
            PyObject *exc = fetch_exception();
            reason = PyObject_Str(exc);
            Py_DECREF(exc);
            if (reason == NULL)
                goto fail;
        }
        PyErr_Format(PyExc_TypeError, "Invalid value: %U", reason);
        Py_DECREF(reason);
        goto fail;
    }
    Py_DECREF(seq);
    Py_RETURN_NONE;
fail:
    Py_DECREF(seq);
    return NULL;
}

/* _core.type_getitem(container_type, key) -> the Type of container[key] (API.md 2.2). */
static PyObject *core_type_getitem(PyObject *Py_UNUSED(module), PyObject *const *args,
                                   Py_ssize_t nargs)
{
    if (nargs != 2)
        return PyErr_Format(PyExc_TypeError, "type_getitem(container_type, key)");
    return sm_type_getitem(args[0], args[1]);
}

/* _core.type_tuple_arity(type) -> number of slots of a Tuple[...] type, else -1. */
static PyObject *core_type_tuple_arity(PyObject *Py_UNUSED(module), PyObject *type)
{
    return PyLong_FromSsize_t(sm_type_tuple_arity(type));
}

static PyMethodDef engine_functions[] = {
    {"element_types", core_element_types, METH_O,
     "Distinct types of the items (futures: their output annotation), in order."},
    {"check_elements", (PyCFunction)(void (*)(void))core_check_elements, METH_FASTCALL,
     "check_elements(items, element_type): TypeError 'Invalid value: ...' on a misfit."},
    {"type_getitem", (PyCFunction)(void (*)(void))core_type_getitem, METH_FASTCALL,
     "type_getitem(container_type, key) -> Type of container[key]"},
    {"type_tuple_arity", core_type_tuple_arity, METH_O,
     "Number of slots of a Tuple[...] type, or -1."},
    {"run", (PyCFunction)(void (*)(void))core_run, METH_FASTCALL,
     "run(root_future, runner, on_transition=None) -> (ok, value_or_exception)"},
    {"current_run", core_current_run, METH_NOARGS,
     "(future, root_future, runner) of the executing run, or None."},
    {"in_body", core_in_body, METH_NOARGS, "Whether this thread is executing a run's body."},
    {"register", (PyCFunction)(void (*)(void))core_register, METH_FASTCALL,
     "register(future_class, hooks, states)"},
    {"set_ms_per_minute", core_set_ms_per_minute, METH_O,
     "Length of a timeout minute in ms (tests); returns the previous value."},
    {"state_names", core_state_names, METH_NOARGS, "Names of the run states, by value."},
    {"check_transition", (PyCFunction)(void (*)(void))core_check_transition, METH_FASTCALL,
     "Whether the engine allows a run to go from one state to another."},
    {NULL, NULL, 0, NULL},
};

int sm_engine_exec(PyObject *module, struct sm_py_state *st)
{
    st->ms_per_minute = 60000;
    if (PyThread_tss_create(&st->executing_key) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "cannot create a thread-specific key");
        return -1;
    }
    st->graph_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &graph_spec, NULL);
    if (st->graph_type == NULL)
        return -1;
    st->future_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &future_spec, NULL);
    if (st->future_type == NULL)
        return -1;
    st->function_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &func_spec, NULL);
    if (st->function_type == NULL)
        return -1;
    if (PyModule_AddType(module, st->graph_type) < 0 ||
        PyModule_AddType(module, st->future_type) < 0 ||
        PyModule_AddType(module, st->function_type) < 0)
        return -1;
    st->missing = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
    if (st->missing == NULL || PyModule_AddObjectRef(module, "MISSING", st->missing) < 0)
        return -1;
    st->upstream = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
    if (st->upstream == NULL)
        return -1;
    st->future_class = Py_NewRef((PyObject *)st->future_type);
    return PyModule_AddFunctions(module, engine_functions);
}

int sm_engine_traverse(struct sm_py_state *st, visitproc visit, void *arg)
{
    Py_VISIT(st->graph_type);
    Py_VISIT(st->future_type);
    Py_VISIT(st->function_type);
    Py_VISIT(st->future_class);
    Py_VISIT(st->hooks);
    Py_VISIT(st->states);
    Py_VISIT(st->missing);
    Py_VISIT(st->upstream);
    return 0;
}

void sm_engine_clear(struct sm_py_state *st)
{
    if (PyThread_tss_is_created(&st->executing_key))
        PyThread_tss_delete(&st->executing_key);
    Py_CLEAR(st->future_class);
    Py_CLEAR(st->hooks);
    Py_CLEAR(st->states);
    Py_CLEAR(st->missing);
    Py_CLEAR(st->upstream);
    Py_CLEAR(st->graph_type);
    Py_CLEAR(st->future_type);
    Py_CLEAR(st->function_type);
}
