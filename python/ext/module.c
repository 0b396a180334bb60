/*
 * module.c: the sematic._core module: its state, multi-phase init, and the
 * exception hierarchy built from SM_ERRNO_MAP (include/sematic/err.h), so
 * that sm_strerror() and Python agree on every code (STYLE 22, 47).
 * Start reading at module_exec(); the types live in types.c and engine.c.
 */
#include "core.h"

#include "sematic/err.h"

PyObject *sm_py_raise(struct sm_py_state *st, int code, const char *msg)
{
    PyObject *key = PyLong_FromLong(code);
    if (key == NULL)
        return NULL;
    PyObject *cls = PyDict_GetItemWithError(st->error_by_code, key); /* borrowed */
    Py_DECREF(key);
    if (cls == NULL && !PyErr_Occurred())
        cls = st->error_base;
    if (cls == NULL)
        return NULL;
    PyErr_SetString(cls, msg);
    return NULL;
}

/* Create SematicError and one subclass per SM_E* code, each with .code and .code_name. */
static int add_exceptions(PyObject *m, struct sm_py_state *st)
{
    st->error_base = PyErr_NewExceptionWithDoc(
        "sematic._core.SematicError", "Base of the errors raised by sematic._core.", NULL, NULL);
    if (st->error_base == NULL)
        return -1;
    if (PyModule_AddObjectRef(m, "SematicError", st->error_base) < 0)
        return -1;
    st->error_by_code = PyDict_New();
    if (st->error_by_code == NULL)
        return -1;
#define SM__ADD_EXC(name, value, text)                                                             \
    do {                                                                                           \
        PyObject *cls =                                                                            \
            PyErr_NewExceptionWithDoc("sematic._core.SM_" #name, text, st->error_base, NULL);      \
        if (cls == NULL)                                                                           \
            return -1;                                                                             \
        PyObject *code = PyLong_FromLong(value);                                                   \
        int rc = code == NULL ? -1 : PyObject_SetAttrString(cls, "code", code);                    \
        PyObject *cname = rc == 0 ? PyUnicode_FromString("SM_" #name) : NULL;                      \
        if (rc == 0)                                                                               \
            rc = cname == NULL ? -1 : PyObject_SetAttrString(cls, "code_name", cname);             \
        Py_XDECREF(cname);                                                                         \
        if (rc == 0)                                                                               \
            rc = PyDict_SetItem(st->error_by_code, code, cls);                                     \
        if (rc == 0)                                                                               \
            rc = PyModule_AddObjectRef(m, "SM_" #name, cls);                                       \
        Py_XDECREF(code);                                                                          \
        Py_DECREF(cls);                                                                            \
        if (rc < 0)                                                                                \
            return -1;                                                                             \
    } while (0);
    SM_ERRNO_MAP(SM__ADD_EXC)
#undef SM__ADD_EXC
    return 0;
}

static int module_exec(PyObject *m)
{
    struct sm_py_state *st = sm_py_state_of(m);
    if (add_exceptions(m, st) < 0)
        goto error;
    if (sm_types_exec(m, &st->types) < 0)
        goto error;
    if (sm_codec_exec(m, &st->codec) < 0)
        goto error;
    if (sm_engine_exec(m, st) < 0)
        goto error;
    if (sm_record_exec(m, st) < 0)
        goto error;
    if (PyModule_AddStringConstant(m, "VERSION", SM_VERSION) < 0)
        goto error;
    return 0;
error:
    return -1;
}

static int module_traverse(PyObject *m, visitproc visit, void *arg)
{
    struct sm_py_state *st = sm_py_state_of(m);
    Py_VISIT(st->error_base);
    Py_VISIT(st->error_by_code);
    Py_VISIT(st->recorder_type);
    Py_VISIT(st->store_type);
    if (sm_types_traverse(&st->types, visit, arg))
        return -1;
    if (sm_codec_traverse(&st->codec, visit, arg))
        return -1;
    return sm_engine_traverse(st, visit, arg);
}

static int module_clear(PyObject *m)
{
    struct sm_py_state *st = sm_py_state_of(m);
    Py_CLEAR(st->error_base);
    Py_CLEAR(st->error_by_code);
    Py_CLEAR(st->recorder_type);
    Py_CLEAR(st->store_type);
    sm_codec_clear(&st->codec);
    sm_types_clear(&st->types);
    sm_engine_clear(st);
    return 0;
}

static void module_free(void *m)
{
    module_clear((PyObject *)m);
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL},
};

PyModuleDef sm_core_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "sematic._core",
    .m_doc = "The C core of Sematic: type checking and the resolution engine.",
    .m_size = sizeof(struct sm_py_state),
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__core(void)
{
    return PyModuleDef_Init(&sm_core_module_def);
}
