/*
 * types.c: type annotations compiled into descriptors (_core.Type), value
 * casts (Sematic's safe_cast) and type-level checks (Sematic's
 * can_cast_type), with Sematic 0.41's rules and exact messages (API.md 3.2).
 *
 * A Type is compiled once per annotation object (the cache in the module
 * state) and validated at the top level only, exactly as Sematic's
 * validate_type_annotation does; the arguments of generics and the fields of
 * dataclasses are compiled on first use and kept on the Type. That makes
 * recursive dataclasses compile (the cache closes the cycle) and keeps
 * List[Any] (Sematic's type of an empty _make_list) legal until an element
 * must be cast.
 *
 * Casting returns a new reference, or NULL with either a cast failure (a
 * reason string in struct cast_fail, no exception set) or a Python exception
 * (user code raised). Failure reasons nest like Sematic's ("Cannot cast [..]
 * to typing.List[int]: Cannot cast 'x' to <class 'int'>") and the path to the
 * offending element is collected only while unwinding a failure (STYLE 52).
 * The hot cases (an exact int/float/str for int/float/str, a list of them)
 * are pointer checks with no Python call and no allocation but the result
 * list.
 *
 * Start reading at sm_type_compile(), then cast() and can_cast_ann().
 */
#include "core.h"

#include <stddef.h>
#include <string.h>

#define SM_DOCS_TYPES_URL                                                                          \
    "https://docs.sematic.dev/type-support/type-support#what-types-are-supported"

struct sm_type {
    PyObject_HEAD
    enum type_kind kind;
    int has_ellipsis;      /* KIND_TUPLE: Tuple[T, ...] */
    int is_frozen;         /* KIND_DATACLASS */
    int fields_resolved;   /* KIND_DATACLASS: field_names/args filled */
    PyObject *annotation;  /* what it was compiled from */
    PyObject *cls;         /* classes: the class; NULL for generics */
    PyObject *args;        /* generics: the argument annotations; dataclass: field annotations */
    PyObject *field_names; /* KIND_DATACLASS: tuple of field names, once resolved */
    Py_ssize_t n_children;
    PyObject **children; /* compiled args, filled on first use (NULL until then) */
    PyObject *codec;     /* codec.c's cache for this type (sm_type_codec_slot), NULL until used */
};

#define TYPE(o) ((struct sm_type *)(o))

/* A cast failure being unwound: the reason, and path segments innermost first. */
struct cast_fail {
    PyObject *reason; /* str; NULL while no failure (or when an exception is set) */
    PyObject *path;   /* list of str segments, innermost first; NULL when empty */
};

static void cast_fail_release(struct cast_fail *f)
{
    Py_CLEAR(f->reason);
    Py_CLEAR(f->path);
}

static struct sm_types_state *state_of_type(PyObject *type)
{
    struct sm_py_state *st = sm_py_state_by_type(Py_TYPE(type));
    return st ? &st->types : NULL;
}

/* str.format's "{}" of `o`: new reference. */
static PyObject *fmt(PyObject *o)
{
    return PyObject_Format(o, NULL);
}

/* Set f->reason to PyUnicode_FromFormat(...) (always returns NULL, the cast result). */
static PyObject *fail_fmt(struct cast_fail *f, const char *format, ...)
{
    va_list vargs;
    va_start(vargs, format);
    PyObject *r = PyUnicode_FromFormatV(format, vargs);
    va_end(vargs);
    if (r != NULL) {
        Py_XSETREF(f->reason, r);
    }
    return NULL;
}

/* "Cannot cast {value!r} to {type}" for the failing value itself. */
static PyObject *fail_cannot_cast(struct cast_fail *f, PyObject *value, PyObject *annotation)
{
    PyObject *r = PyObject_Repr(value);
    if (r == NULL)
        return NULL;
    PyObject *t = fmt(annotation);
    if (t == NULL) {
        Py_DECREF(r);
        return NULL;
    }
    fail_fmt(f, "Cannot cast %U to %U", r, t);
    Py_DECREF(r);
    Py_DECREF(t);
    return NULL;
}

/*
 * Wrap the inner reason of f as `prefix_fmt` % (a, b, inner) where a and b are
 * already-formatted strings (b may be NULL: then the format takes a, inner).
 * On error the exception is set and f->reason cleared.
 */
static void fail_wrap(struct cast_fail *f, const char *format, PyObject *a, PyObject *b)
{
    PyObject *inner = f->reason;
    f->reason = NULL;
    PyObject *r =
        b ? PyUnicode_FromFormat(format, a, b, inner) : PyUnicode_FromFormat(format, a, inner);
    Py_DECREF(inner);
    f->reason = r;
}

/* Append a path segment (stolen); on error clears the failure and sets the exception. */
static void fail_push_path(struct cast_fail *f, PyObject *segment)
{
    if (segment == NULL)
        goto error;
    if (f->path == NULL) {
        f->path = PyList_New(0);
        if (f->path == NULL) {
            Py_DECREF(segment);
            goto error;
        }
    }
    int rc = PyList_Append(f->path, segment);
    Py_DECREF(segment);
    if (rc == 0)
        return;
error:
    cast_fail_release(f);
}

/* ------------------------------------------------------------------ */
/* Lazily imported objects (module state, filled on first need)        */
/* ------------------------------------------------------------------ */

/* A module attribute kept in a PyObject * field of struct sm_types_state. */
struct lazy_attr {
    size_t offset; /* offsetof the field */
    const char *module;
    const char *attr;
};

#define SM__OFF(field) offsetof(struct sm_types_state, field)

static const struct lazy_attr typing_tier[] = {
    {SM__OFF(typing_any), "typing", "Any"},
    {SM__OFF(typing_union), "typing", "Union"},
    {SM__OFF(typing_optional), "typing", "Optional"},
    {SM__OFF(typing_list), "typing", "List"},
    {SM__OFF(typing_dict), "typing", "Dict"},
    {SM__OFF(typing_tuple), "typing", "Tuple"},
    {SM__OFF(typing_set), "typing", "Set"},
    {SM__OFF(union_type), "types", "UnionType"},
    {SM__OFF(get_origin), "typing", "get_origin"},
    {SM__OFF(get_args), "typing", "get_args"},
    {SM__OFF(get_type_hints), "typing", "get_type_hints"},
    {SM__OFF(abc_abc), "abc", "ABC"},
    {SM__OFF(abc_meta), "abc", "ABCMeta"},
    {SM__OFF(enum_type), "enum", "Enum"},
    {SM__OFF(numbers_real), "numbers", "Real"},
    {SM__OFF(iterable_abc), "collections.abc", "Iterable"},
    {SM__OFF(mapping_abc), "collections.abc", "Mapping"},
};

static const struct lazy_attr dataclass_tier[] = {
    {SM__OFF(copy_copy), "copy", "copy"},
    {SM__OFF(dataclass_fields_fn), "dataclasses", "fields"},
};

#undef SM__OFF

#define SM__N_LAZY_MAX 17
#define SM__N_LAZY(table) (sizeof(table) / sizeof((table)[0]))

/* getattr(import(module_name), attr): new reference, or NULL with an exception. */
static PyObject *import_attr(const char *module_name, const char *attr)
{
    PyObject *mod = PyImport_ImportModule(module_name);
    if (mod == NULL)
        return NULL;
    PyObject *value = PyObject_GetAttrString(mod, attr);
    Py_DECREF(mod);
    return value;
}

/*
 * Fill the fields of `table` unless *loaded. The imports may release the GIL,
 * so every value is fetched first and the fields are stored in one go, only by
 * the first thread to get there; a field is never replaced once set. 0 or -1.
 */
static int load_tier(struct sm_types_state *ts, const struct lazy_attr *table, size_t n,
                     int *loaded)
{
    PyObject *values[SM__N_LAZY_MAX] = {NULL};
    assert(n <= SM__N_LAZY_MAX);
    size_t i;
    for (i = 0; i < n; i++) {
        values[i] = import_attr(table[i].module, table[i].attr); /* new reference */
        if (values[i] == NULL)
            goto error;
    }
    if (!*loaded) {
        for (i = 0; i < n; i++) {
            PyObject **slot = (PyObject **)(void *)((char *)ts + table[i].offset);
            Py_XSETREF(*slot, values[i]); /* steals values[i] */
            values[i] = NULL;
        }
        *loaded = 1;
    }
    for (i = 0; i < n; i++)
        Py_XDECREF(values[i]);
    return 0;
error:
    for (i = 0; i < n; i++)
        Py_XDECREF(values[i]);
    return -1;
}

/* Load the typing tier (see types.h) if not yet loaded. 0 or -1. */
static int ensure_typing(struct sm_types_state *ts)
{
    if (ts->typing_loaded)
        return 0;
    return load_tier(ts, typing_tier, SM__N_LAZY(typing_tier), &ts->typing_loaded);
}

/* Load the dataclass tier (see types.h) if not yet loaded. 0 or -1. */
static int ensure_dataclasses(struct sm_types_state *ts)
{
    if (ts->dataclasses_loaded)
        return 0;
    return load_tier(ts, dataclass_tier, SM__N_LAZY(dataclass_tier), &ts->dataclasses_loaded);
}

/* ------------------------------------------------------------------ */
/* Validation (Sematic's validate_type_annotation) and compilation     */
/* ------------------------------------------------------------------ */

static PyObject *type_new(struct sm_types_state *ts, enum type_kind kind, PyObject *annotation)
{
    PyTypeObject *tp = (PyTypeObject *)ts->type_type;
    struct sm_type *t = PyObject_GC_New(struct sm_type, tp);
    if (t == NULL)
        return NULL;
    t->kind = kind;
    t->has_ellipsis = 0;
    t->is_frozen = 0;
    t->fields_resolved = 0;
    t->annotation = Py_NewRef(annotation);
    t->cls = NULL;
    t->args = NULL;
    t->field_names = NULL;
    t->n_children = 0;
    t->children = NULL;
    t->codec = NULL;
    PyObject_GC_Track(t);
    return (PyObject *)t;
}

/* Give t n children slots for the annotations in `args` (a tuple, stolen). 0 or -1. */
static int type_set_args(struct sm_type *t, PyObject *args)
{
    assert(t->args == NULL && t->children == NULL);
    t->args = args;
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (n > 0) {
        t->children = PyMem_Calloc((size_t)n, sizeof(PyObject *));
        if (t->children == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    t->n_children = n;
    return 0;
}

/* issubclass(a, b) with errors read as "no", as Sematic's helpers do. */
static int is_subclass_quiet(PyObject *a, PyObject *b)
{
    int r = PyObject_IsSubclass(a, b);
    if (r < 0) {
        PyErr_Clear();
        return 0;
    }
    return r;
}

/* Sematic's name for an annotation in messages: __name__, else str(). New reference. */
static PyObject *annotation_name(struct sm_types_state *ts, PyObject *annotation)
{
    PyObject *name = PyObject_GetAttr(annotation, ts->str_name);
    if (name != NULL && PyUnicode_Check(name))
        return name;
    Py_XDECREF(name);
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_Exception))
            return NULL;
        PyErr_Clear();
    }
    return PyObject_Str(annotation);
}

/* Clear the current exception and return str() of it: new reference, or NULL on error. */
static PyObject *take_exception_str(void)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject *s = value ? PyObject_Str(value) : PyUnicode_New(0, 0);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return s;
}

static PyObject *raise_expected_supported(PyObject *annotation)
{
    PyObject *s = fmt(annotation);
    if (s == NULL)
        return NULL;
    PyErr_Format(PyExc_TypeError,
                 "Expected a Sematic-supported type here, but got: %U. Please refer to the "
                 "Sematic docs about supported types: " SM_DOCS_TYPES_URL,
                 s);
    Py_DECREF(s);
    return NULL;
}

/* typing.get_origin, with types.UnionType read as typing.Union (Sematic's get_origin). */
static PyObject *origin_of(struct sm_types_state *ts, PyObject *annotation)
{
    PyObject *origin = PyObject_CallOneArg(ts->get_origin, annotation);
    if (origin == ts->union_type)
        Py_SETREF(origin, Py_NewRef(ts->typing_union));
    return origin;
}

static int is_dataclass_class(struct sm_types_state *ts, PyObject *cls)
{
    PyObject *fields = PyObject_GetAttr(cls, ts->str_dataclass_fields);
    if (fields == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            return -1;
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(fields);
    return 1;
}

/* Compile a class annotation that passed validation. New reference. */
static PyObject *compile_class(struct sm_types_state *ts, PyObject *ann)
{
    enum type_kind kind;
    if (ann == (PyObject *)&PyBaseObject_Type)
        kind = KIND_OBJECT;
    else if (ann == (PyObject *)Py_TYPE(Py_None))
        kind = KIND_NONE;
    else if (ann == (PyObject *)&PyBool_Type)
        kind = KIND_BOOL;
    else if (ann == (PyObject *)&PyLong_Type)
        kind = KIND_INT;
    else if (ann == (PyObject *)&PyFloat_Type)
        kind = KIND_FLOAT;
    else if (ann == (PyObject *)&PyUnicode_Type)
        kind = KIND_STR;
    else {
        int r = is_dataclass_class(ts, ann);
        if (r < 0)
            return NULL;
        if (r)
            kind = KIND_DATACLASS;
        else if (PyType_Check(ann) && is_subclass_quiet(ann, ts->enum_type))
            kind = KIND_ENUM;
        else
            kind = KIND_CLASS;
    }
    PyObject *t = type_new(ts, kind, ann);
    if (t == NULL)
        return NULL;
    TYPE(t)->cls = Py_NewRef(ann);
    return t;
}

/* Compile a parameterized generic whose (Sematic) origin is `origin`. New reference. */
static PyObject *compile_generic(struct sm_types_state *ts, PyObject *ann, PyObject *origin)
{
    enum type_kind kind;
    if (origin == (PyObject *)&PyList_Type)
        kind = KIND_LIST;
    else if (origin == (PyObject *)&PySet_Type)
        kind = KIND_SET;
    else if (origin == (PyObject *)&PyTuple_Type)
        kind = KIND_TUPLE;
    else if (origin == (PyObject *)&PyDict_Type)
        kind = KIND_DICT;
    else
        kind = KIND_UNION;
    PyObject *args = PyObject_CallOneArg(ts->get_args, ann);
    if (args == NULL)
        return NULL;
    if (!PyTuple_Check(args)) {
        Py_DECREF(args);
        PyErr_SetString(PyExc_TypeError, "typing.get_args() did not return a tuple");
        return NULL;
    }
    PyObject *t = type_new(ts, kind, ann);
    if (t == NULL) {
        Py_DECREF(args);
        return NULL;
    }
    if (type_set_args(TYPE(t), args) < 0) { /* steals args */
        Py_DECREF(t);
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (kind == KIND_TUPLE && n > 0 && PyTuple_GET_ITEM(args, n - 1) == Py_Ellipsis)
        TYPE(t)->has_ellipsis = 1;
    /* List[T] with no argument cannot be spelled; Dict with one can (dict[int]). */
    return t;
}

/*
 * Sematic's validate_type_annotation + classification of `ann` (None already
 * mapped to NoneType). New reference to a fresh Type, or NULL with TypeError.
 */
static PyObject *compile_uncached(struct sm_types_state *ts, PyObject *ann)
{
    /* The builtin classes validate as classes with no lookup of typing objects. */
    if (ann == (PyObject *)&PyBaseObject_Type || ann == (PyObject *)Py_TYPE(Py_None) ||
        ann == (PyObject *)&PyBool_Type || ann == (PyObject *)&PyLong_Type ||
        ann == (PyObject *)&PyFloat_Type || ann == (PyObject *)&PyUnicode_Type)
        return compile_class(ts, ann);
    if (ensure_typing(ts) < 0)
        return NULL;
    if (ann == ts->typing_any) {
        PyErr_SetString(PyExc_TypeError,
                        "'Any' is not a Sematic-supported type. Use 'object' instead.");
        return NULL;
    }
    int is_generic_origin = ann == (PyObject *)&PyTuple_Type || ann == (PyObject *)&PyList_Type ||
                            ann == (PyObject *)&PyDict_Type || ann == (PyObject *)&PySet_Type ||
                            ann == ts->typing_union;
    int is_type = is_subclass_quiet(ann, (PyObject *)&PyType_Type) || Py_IS_TYPE(ann, &PyType_Type);
    int is_non_generic = (is_type && !is_generic_origin) || is_subclass_quiet(ann, ts->abc_abc) ||
                         is_subclass_quiet((PyObject *)Py_TYPE(ann), ts->abc_meta) ||
                         (PyType_Check(ann) && is_subclass_quiet(ann, ts->enum_type));
    if (is_non_generic)
        return compile_class(ts, ann);

    /* is_parameterized_generic(ann, raise_for_unparameterized=True) */
    int is_from_typing = 0;
    PyObject *module = PyObject_GetAttr(ann, ts->str_module);
    if (module == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_Exception))
            return NULL;
        PyErr_Clear();
    } else {
        is_from_typing = PyUnicode_Check(module) && PyUnicode_Compare(module, ts->str_typing) == 0;
        Py_DECREF(module);
    }
    int is_typing_key = ann == ts->typing_tuple || ann == ts->typing_list ||
                        ann == ts->typing_dict || ann == ts->typing_union ||
                        ann == ts->typing_optional || ann == ts->typing_set;
    if ((is_from_typing && is_typing_key) || is_generic_origin) {
        PyObject *name = annotation_name(ts, ann);
        if (name == NULL)
            return NULL;
        PyErr_Format(PyExc_TypeError, "%U must be parametrized (%U[...] instead of %U).", name,
                     name, name);
        Py_DECREF(name);
        return NULL;
    }
    PyObject *origin = origin_of(ts, ann);
    if (origin == NULL)
        return NULL;
    PyObject *t;
    if (origin == (PyObject *)&PyTuple_Type || origin == (PyObject *)&PyList_Type ||
        origin == (PyObject *)&PyDict_Type || origin == (PyObject *)&PySet_Type ||
        origin == ts->typing_union)
        t = compile_generic(ts, ann, origin);
    else
        t = raise_expected_supported(ann);
    Py_DECREF(origin);
    return t;
}

/*
 * Equal annotations may differ in ways that matter (Union[int, str] ==
 * Union[str, int], int | str == Union[int, str]) so a cache hit on an equal
 * but not identical key is taken only when their str() agree too.
 */
static int same_spelling(PyObject *a, PyObject *b)
{
    PyObject *sa = PyObject_Str(a);
    if (sa == NULL)
        return -1;
    PyObject *sb = PyObject_Str(b);
    if (sb == NULL) {
        Py_DECREF(sa);
        return -1;
    }
    int r = PyUnicode_Compare(sa, sb) == 0;
    Py_DECREF(sa);
    Py_DECREF(sb);
    if (r == 0 && PyErr_Occurred())
        return -1;
    return r;
}

PyObject *sm_type_compile(struct sm_types_state *ts, PyObject *annotation)
{
    if (annotation == Py_None)
        annotation = (PyObject *)Py_TYPE(Py_None);
    int cacheable = 1;
    PyObject *hit = PyDict_GetItemWithError(ts->cache, annotation); /* borrowed */
    if (hit != NULL) {
        if (TYPE(hit)->annotation == annotation)
            return Py_NewRef(hit);
        int same = same_spelling(TYPE(hit)->annotation, annotation);
        if (same < 0)
            return NULL;
        if (same)
            return Py_NewRef(hit);
        cacheable = 0; /* keep the first spelling cached; compile this one each time */
    } else if (PyErr_Occurred()) {
        /* Unhashable (or a failing __eq__/__hash__): validate without the cache. */
        if (!PyErr_ExceptionMatches(PyExc_Exception))
            return NULL;
        PyErr_Clear();
        cacheable = 0;
    }
    PyObject *t = compile_uncached(ts, annotation);
    if (t == NULL)
        return NULL;
    if (cacheable && PyDict_SetItem(ts->cache, annotation, t) < 0) {
        Py_DECREF(t);
        return NULL;
    }
    return t;
}

int sm_type_check(const struct sm_types_state *ts, PyObject *o)
{
    return ts->type_type != NULL && PyObject_TypeCheck(o, (PyTypeObject *)ts->type_type);
}

/*
 * Resolve a dataclass's fields on first use: dataclasses.fields() order,
 * annotations from typing.get_type_hints (so string and forward references
 * work) falling back to Field.type. Sematic walks __dataclass_fields__, which
 * also holds ClassVar and InitVar pseudo-fields, and so fails on every such
 * dataclass; we skip them. 0 or -1.
 */
static int dataclass_resolve(struct sm_types_state *ts, struct sm_type *t)
{
    if (t->fields_resolved)
        return 0;
    if (ensure_typing(ts) < 0 || ensure_dataclasses(ts) < 0)
        return -1;
    PyObject *fields = NULL, *hints = NULL, *names = NULL, *anns = NULL, *params = NULL;
    PyObject *list = PyObject_CallOneArg(ts->dataclass_fields_fn, t->cls);
    if (list == NULL)
        goto error;
    fields = PySequence_Tuple(list);
    Py_DECREF(list);
    if (fields == NULL)
        goto error;
    hints = PyObject_CallOneArg(ts->get_type_hints, t->cls);
    if (hints == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_Exception))
            goto error;
        PyErr_Clear();
    } else if (!PyDict_Check(hints)) {
        Py_CLEAR(hints);
    }
    Py_ssize_t n = PyTuple_GET_SIZE(fields);
    names = PyTuple_New(n);
    anns = PyTuple_New(n);
    if (names == NULL || anns == NULL)
        goto error;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *field = PyTuple_GET_ITEM(fields, i);
        PyObject *name = PyObject_GetAttr(field, ts->str_name_attr);
        if (name == NULL)
            goto error;
        PyTuple_SET_ITEM(names, i, name);
        if (!PyUnicode_Check(name)) {
            PyErr_SetString(PyExc_TypeError, "dataclass field name is not a str");
            goto error;
        }
        PyObject *ann = hints ? PyDict_GetItemWithError(hints, name) : NULL; /* borrowed */
        if (ann != NULL) {
            Py_INCREF(ann);
        } else {
            if (PyErr_Occurred())
                goto error;
            ann = PyObject_GetAttr(field, ts->str_type);
            if (ann == NULL)
                goto error;
        }
        PyTuple_SET_ITEM(anns, i, ann);
    }
    params = PyObject_GetAttr(t->cls, ts->str_dataclass_params);
    if (params == NULL) {
        PyErr_Clear();
    } else {
        PyObject *frozen = PyObject_GetAttr(params, ts->str_frozen);
        if (frozen == NULL) {
            PyErr_Clear();
        } else {
            int r = PyObject_IsTrue(frozen);
            Py_DECREF(frozen);
            if (r < 0)
                goto error;
            t->is_frozen = r;
        }
    }
    if (t->fields_resolved) { /* resolved meanwhile by re-entrant code */
        Py_DECREF(anns);
        Py_DECREF(names);
    } else {
        if (type_set_args(t, anns) < 0) { /* steals anns */
            Py_DECREF(names);
            goto error_after_anns;
        }
        t->field_names = names;
        t->fields_resolved = 1;
    }
    Py_XDECREF(params);
    Py_XDECREF(hints);
    Py_DECREF(fields);
    return 0;
error:
    Py_XDECREF(anns);
    Py_XDECREF(names);
error_after_anns:
    Py_XDECREF(params);
    Py_XDECREF(hints);
    Py_XDECREF(fields);
    return -1;
}

/*
 * Child i of t, compiled on first use: borrowed, or NULL with either an
 * exception set, or (f != NULL) a cast failure with Sematic's reason
 * "Type 'X' is not a valid Sematic type: <why>" when the annotation is not
 * supported. With f == NULL the TypeError is left set.
 */
static PyObject *child(struct sm_type *t, Py_ssize_t i, struct cast_fail *f)
{
    if (t->children[i] != NULL)
        return t->children[i];
    struct sm_types_state *ts = state_of_type((PyObject *)t);
    if (ts == NULL)
        return NULL;
    PyObject *ann = PyTuple_GET_ITEM(t->args, i);
    PyObject *c = sm_type_compile(ts, ann);
    if (c == NULL) {
        if (f == NULL || !PyErr_ExceptionMatches(PyExc_TypeError))
            return NULL;
        PyObject *why = take_exception_str();
        if (why == NULL)
            return NULL;
        PyObject *name = annotation_name(ts, ann == Py_None ? (PyObject *)Py_TYPE(Py_None) : ann);
        if (name == NULL) {
            Py_DECREF(why);
            return NULL;
        }
        fail_fmt(f, "Type '%U' is not a valid Sematic type: %U", name, why);
        Py_DECREF(name);
        Py_DECREF(why);
        return NULL;
    }
    if (t->children[i] == NULL)
        t->children[i] = c;
    else
        Py_DECREF(c);
    return t->children[i];
}

/* ------------------------------------------------------------------ */
/* Casting (Sematic's safe_cast)                                       */
/* ------------------------------------------------------------------ */

static PyObject *cast(struct sm_type *t, PyObject *v, struct cast_fail *f);

/* Sematic's default rule: isinstance -> unchanged, else cls(value), else fail. */
static PyObject *cast_default(struct sm_type *t, PyObject *v, struct cast_fail *f)
{
    int r = PyObject_IsInstance(v, t->cls);
    if (r < 0)
        return NULL;
    if (r)
        return Py_NewRef(v);
    PyObject *res = PyObject_CallOneArg(t->cls, v);
    if (res != NULL)
        return res;
    /* Sematic catches Exception only: KeyboardInterrupt and friends propagate. */
    if (!PyErr_ExceptionMatches(PyExc_Exception))
        return NULL;
    PyErr_Clear();
    return fail_cannot_cast(f, v, t->annotation);
}

static int is_iterable(struct sm_types_state *ts, PyObject *v)
{
    if (PyList_CheckExact(v) || PyTuple_CheckExact(v) || PyDict_CheckExact(v) ||
        PyUnicode_CheckExact(v) || PyAnySet_CheckExact(v))
        return 1;
    return PyObject_IsInstance(v, ts->iterable_abc);
}

/* "{value} not an iterable" (str, not repr, as Sematic). */
static PyObject *fail_not_iterable(struct cast_fail *f, PyObject *v)
{
    PyObject *s = fmt(v);
    if (s == NULL)
        return NULL;
    fail_fmt(f, "%U not an iterable", s);
    Py_DECREF(s);
    return NULL;
}

/* Wrap an element failure of a List/Set cast: "Cannot cast {value} to {type}: {inner}". */
static void fail_wrap_element(struct cast_fail *f, PyObject *v, PyObject *annotation, int use_repr)
{
    PyObject *a = use_repr ? PyObject_Repr(v) : fmt(v);
    PyObject *b = a ? fmt(annotation) : NULL;
    if (b == NULL) {
        Py_XDECREF(a);
        cast_fail_release(f);
        return;
    }
    fail_wrap(f, "Cannot cast %U to %U: %U", a, b);
    Py_DECREF(a);
    Py_DECREF(b);
}

/* List[T] and Set[T]: any iterable, each element cast. */
static PyObject *cast_list_or_set(struct sm_types_state *ts, struct sm_type *t, PyObject *v,
                                  struct cast_fail *f)
{
    int is_set = t->kind == KIND_SET;
    int r = is_iterable(ts, v);
    if (r < 0)
        return NULL;
    if (!r)
        return fail_not_iterable(f, v);
    /* An exact list into a list: slots preallocated, filled in place. */
    Py_ssize_t n_alloc = !is_set && PyList_CheckExact(v) ? PyList_GET_SIZE(v) : 0;
    PyObject *result = is_set ? PySet_New(NULL) : PyList_New(n_alloc);
    if (result == NULL)
        return NULL;
    PyObject *it = NULL, *item = NULL;
    Py_ssize_t i = 0;
    int indexable = PyList_CheckExact(v) || PyTuple_CheckExact(v);
    if (!indexable) {
        it = PyObject_GetIter(v);
        if (it == NULL)
            goto error;
    }
    for (;; i++) {
        if (indexable) {
            /* Re-read the size: casting an element may run code that mutates v. */
            if (PyList_CheckExact(v)) {
                if (i >= PyList_GET_SIZE(v))
                    break;
                item = Py_NewRef(PyList_GET_ITEM(v, i));
            } else {
                if (i >= PyTuple_GET_SIZE(v))
                    break;
                item = Py_NewRef(PyTuple_GET_ITEM(v, i));
            }
        } else {
            item = PyIter_Next(it);
            if (item == NULL) {
                if (PyErr_Occurred())
                    goto error;
                break;
            }
        }
        PyObject *elem_type = child(t, 0, f);
        PyObject *c = elem_type ? cast(TYPE(elem_type), item, f) : NULL;
        if (c == NULL) {
            if (f->reason == NULL)
                goto error;
            if (!is_set || indexable)
                fail_push_path(f, PyUnicode_FromFormat("[%zd]", i));
            if (f->reason != NULL)
                fail_wrap_element(f, v, t->annotation, 0);
            goto error;
        }
        int rc = 0;
        if (i < n_alloc) {
            PyList_SET_ITEM(result, i, c); /* steals c */
        } else {
            rc = is_set ? PySet_Add(result, c) : PyList_Append(result, c);
            Py_DECREF(c);
        }
        Py_CLEAR(item);
        if (rc < 0)
            goto error;
    }
    /* v shrank while its elements were cast: drop the unfilled (NULL) slots. */
    if (i < n_alloc && PyList_SetSlice(result, i, n_alloc, NULL) < 0)
        goto error;
    Py_XDECREF(it);
    return result;
error:
    Py_XDECREF(item);
    Py_XDECREF(it);
    Py_DECREF(result);
    return NULL;
}

/* Tuple[A, B, ...]: the length must match; element-wise. */
static PyObject *cast_tuple(struct sm_types_state *ts, struct sm_type *t, PyObject *v,
                            struct cast_fail *f)
{
    int r = is_iterable(ts, v);
    if (r < 0)
        return NULL;
    if (!r)
        return fail_not_iterable(f, v);
    if (t->has_ellipsis)
        return fail_fmt(f, "Sematic does not support Ellipsis in Tuples yet (...)");
    Py_ssize_t n = PyObject_Size(v); /* a generator raises TypeError, as in Sematic */
    if (n < 0)
        return NULL;
    if (n != t->n_children) {
        PyObject *rv = PyObject_Repr(v);
        if (rv == NULL)
            return NULL;
        fail_fmt(f, "Expected %zd elements, got %zd: %U", t->n_children, n, rv);
        Py_DECREF(rv);
        return NULL;
    }
    PyObject *items = PySequence_Tuple(v);
    if (items == NULL)
        return NULL;
    /* zip() stops at the shorter: a sized iterable may yield fewer items than its len(). */
    Py_ssize_t m = PyTuple_GET_SIZE(items) < n ? PyTuple_GET_SIZE(items) : n;
    PyObject *result = PyTuple_New(m);
    if (result == NULL)
        goto error;
    for (Py_ssize_t i = 0; i < m; i++) {
        PyObject *elem_type = child(t, i, f);
        PyObject *c = elem_type ? cast(TYPE(elem_type), PyTuple_GET_ITEM(items, i), f) : NULL;
        if (c == NULL) {
            if (f->reason != NULL) {
                fail_push_path(f, PyUnicode_FromFormat("[%zd]", i));
                if (f->reason != NULL)
                    fail_wrap_element(f, v, t->annotation, 1);
            }
            goto error;
        }
        PyTuple_SET_ITEM(result, i, c);
    }
    Py_DECREF(items);
    return result;
error:
    Py_XDECREF(result);
    Py_DECREF(items);
    return NULL;
}

/* Cast one key/value pair of a Dict: 0 with *ck, *cv new references, or -1 (failure in f, or exception). */
static int cast_dict_pair(struct sm_type *t, PyObject *key, PyObject *value, struct cast_fail *f,
                          PyObject **ck, PyObject **cv)
{
    *cv = NULL;
    PyObject *key_type = child(t, 0, f);
    *ck = key_type ? cast(TYPE(key_type), key, f) : NULL;
    if (*ck == NULL) {
        if (f->reason != NULL) {
            PyObject *rk = PyObject_Repr(key);
            if (rk == NULL) {
                cast_fail_release(f);
                return -1;
            }
            fail_wrap(f, "Cannot cast %U to key type: %U", rk, NULL);
            Py_DECREF(rk);
        }
        return -1;
    }
    PyObject *value_type = child(t, 1, f);
    *cv = value_type ? cast(TYPE(value_type), value, f) : NULL;
    if (*cv == NULL) {
        Py_CLEAR(*ck);
        if (f->reason != NULL) {
            fail_push_path(f, PyUnicode_FromFormat("[%R]", key));
            PyObject *rv = f->reason ? PyObject_Repr(value) : NULL;
            if (rv == NULL) {
                cast_fail_release(f);
                return -1;
            }
            fail_wrap(f, "Cannot cast %U to value type: %U", rv, NULL);
            Py_DECREF(rv);
        }
        return -1;
    }
    return 0;
}

/* Cast one pair into result. 0 or -1. */
static int cast_dict_item(struct sm_type *t, PyObject *key, PyObject *value, PyObject *result,
                          struct cast_fail *f)
{
    PyObject *ck, *cv;
    if (cast_dict_pair(t, key, value, f, &ck, &cv) < 0)
        return -1;
    int rc = PyDict_SetItem(result, ck, cv);
    Py_DECREF(ck);
    Py_DECREF(cv);
    return rc;
}

/*
 * An exact dict: while every key and value casts to itself no result is
 * built and the answer is a PyDict_Copy (the common case: a Dict[str, int]
 * of str and int); at the first pair that changes, the unchanged prefix is
 * copied and the rest inserted one by one.
 */
static PyObject *cast_exact_dict(struct sm_type *t, PyObject *v, struct cast_fail *f)
{
    PyObject *result = NULL;
    Py_ssize_t pos = 0, size = PyDict_GET_SIZE(v);
    PyObject *key, *value;
    for (;;) {
        Py_ssize_t prev = pos;
        if (!PyDict_Next(v, &pos, &key, &value))
            break;
        Py_INCREF(key);
        Py_INCREF(value);
        PyObject *ck = NULL, *cv = NULL; /* NULL after a failed cast_dict_pair */
        int rc = cast_dict_pair(t, key, value, f, &ck, &cv);
        if (rc == 0 && result == NULL && (ck != key || cv != value)) {
            result = PyDict_New();
            Py_ssize_t p = 0;
            PyObject *k2, *v2;
            while (result != NULL && p < prev && PyDict_Next(v, &p, &k2, &v2)) {
                if (PyDict_SetItem(result, k2, v2) < 0)
                    Py_CLEAR(result);
            }
            if (result == NULL)
                rc = -1;
        }
        if (rc == 0 && result != NULL)
            rc = PyDict_SetItem(result, ck, cv);
        Py_XDECREF(ck);
        Py_XDECREF(cv);
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc < 0)
            goto error;
        if (PyDict_GET_SIZE(v) != size) {
            PyErr_SetString(PyExc_RuntimeError, "dictionary changed size during iteration");
            goto error;
        }
    }
    return result ? result : PyDict_Copy(v);
error:
    Py_XDECREF(result);
    return NULL;
}

/* Dict[K, V]: a Mapping; keys and values cast. */
static PyObject *cast_dict(struct sm_types_state *ts, struct sm_type *t, PyObject *v,
                           struct cast_fail *f)
{
    int r = PyDict_Check(v) ? 1 : PyObject_IsInstance(v, ts->mapping_abc);
    if (r < 0)
        return NULL;
    if (!r) {
        PyObject *rv = PyObject_Repr(v);
        PyObject *ta = rv ? fmt(t->annotation) : NULL;
        if (ta != NULL)
            fail_fmt(f, "%U is not a mapping. Cannot cast to %U.", rv, ta);
        Py_XDECREF(rv);
        Py_XDECREF(ta);
        return NULL;
    }
    if (t->n_children != 2) { /* dict[int]: Sematic's tuple unpacking fails */
        if (t->n_children < 2)
            PyErr_Format(PyExc_ValueError, "not enough values to unpack (expected 2, got %zd)",
                         t->n_children);
        else
            PyErr_SetString(PyExc_ValueError, "too many values to unpack (expected 2)");
        return NULL;
    }
    if (PyDict_CheckExact(v))
        return cast_exact_dict(t, v, f);
    PyObject *result = PyDict_New();
    if (result == NULL)
        return NULL;
    PyObject *items = PyObject_CallMethodNoArgs(v, ts->str_items);
    if (items == NULL)
        goto error;
    PyObject *it = PyObject_GetIter(items);
    Py_DECREF(items);
    if (it == NULL)
        goto error;
    PyObject *pair;
    while ((pair = PyIter_Next(it)) != NULL) {
        PyObject *kv = PySequence_Tuple(pair);
        Py_DECREF(pair);
        if (kv == NULL)
            goto error_it;
        if (PyTuple_GET_SIZE(kv) != 2) {
            PyErr_Format(PyExc_ValueError, "expected 2 values to unpack, got %zd",
                         PyTuple_GET_SIZE(kv));
            Py_DECREF(kv);
            goto error_it;
        }
        int rc = cast_dict_item(t, PyTuple_GET_ITEM(kv, 0), PyTuple_GET_ITEM(kv, 1), result, f);
        Py_DECREF(kv);
        if (rc < 0)
            goto error_it;
    }
    if (PyErr_Occurred())
        goto error_it;
    Py_DECREF(it);
    return result;
error_it:
    Py_DECREF(it);
error:
    Py_DECREF(result);
    return NULL;
}

/* Union[...]: the first member, in declaration order, whose cast succeeds. */
static PyObject *cast_union(struct sm_type *t, PyObject *v, struct cast_fail *f)
{
    for (Py_ssize_t i = 0; i < t->n_children; i++) {
        PyObject *member = child(t, i, f);
        PyObject *c = member ? cast(TYPE(member), v, f) : NULL;
        if (c != NULL)
            return c;
        if (f->reason == NULL)
            return NULL; /* an exception, not a failed member */
        cast_fail_release(f);
    }
    PyObject *rv = PyObject_Repr(v);
    PyObject *members = rv ? fmt(t->args) : NULL;
    if (members != NULL)
        fail_fmt(f, "%U does not match any of %U", rv, members);
    Py_XDECREF(rv);
    Py_XDECREF(members);
    return NULL;
}

/*
 * Dataclasses: an instance keeps its class (a subclass stays a subclass) with
 * its fields cast; anything else (a dict, an object) needs every field, found
 * as an attribute or an item (for a dict, an item first: Sematic's getattr
 * first finds dict.items for a field named "items"), and builds a new
 * instance. Sematic deep-copies
 * instances; we return the instance itself when no field changed and a
 * shallow copy with the changed fields set otherwise (frozen instances are
 * returned unchanged, as Sematic drops the field casts it cannot set).
 */
static PyObject *cast_dataclass(struct sm_types_state *ts, struct sm_type *t, PyObject *v,
                                struct cast_fail *f)
{
    if (dataclass_resolve(ts, t) < 0)
        return NULL;
    int is_instance = PyObject_IsInstance(v, t->cls);
    if (is_instance < 0)
        return NULL;
    PyObject *values = PyTuple_New(t->n_children);
    if (values == NULL)
        return NULL;
    int changed = 0;
    for (Py_ssize_t i = 0; i < t->n_children; i++) {
        PyObject *name = PyTuple_GET_ITEM(t->field_names, i);
        PyObject *fv = NULL;
        if (PyDict_CheckExact(v)) {
            /* Sematic tries getattr first, so {"items": [...]} meets dict.items;
             * for a plain dict the key is what the user meant. */
            fv = PyDict_GetItemWithError(v, name);
            if (fv == NULL && PyErr_Occurred())
                goto error;
            Py_XINCREF(fv);
        }
        if (fv == NULL)
            fv = PyObject_GetAttr(v, name);
        if (fv == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError))
                goto error;
            PyErr_Clear();
            fv = PyObject_GetItem(v, name);
            if (fv == NULL) {
                if (!PyErr_ExceptionMatches(PyExc_TypeError) &&
                    !PyErr_ExceptionMatches(PyExc_KeyError))
                    goto error;
                PyErr_Clear();
                PyObject *rv = PyObject_Repr(v);
                PyObject *ta = rv ? fmt(t->annotation) : NULL;
                if (ta != NULL)
                    fail_fmt(f, "Cannot cast %U to %U: Field %R is missing", rv, ta, name);
                Py_XDECREF(rv);
                Py_XDECREF(ta);
                goto error;
            }
        }
        PyObject *field_type = child(t, i, f);
        PyObject *c = field_type ? cast(TYPE(field_type), fv, f) : NULL;
        if (c == NULL) {
            Py_DECREF(fv);
            if (f->reason != NULL) {
                fail_push_path(f, PyUnicode_FromFormat(".%U", name));
                PyObject *rv = f->reason ? PyObject_Repr(v) : NULL;
                PyObject *ta = rv ? fmt(t->annotation) : NULL;
                if (ta == NULL) {
                    cast_fail_release(f);
                } else {
                    PyObject *inner = f->reason;
                    f->reason = PyUnicode_FromFormat("Cannot cast field '%U' of %U to %U: %U", name,
                                                     rv, ta, inner);
                    Py_DECREF(inner);
                }
                Py_XDECREF(rv);
                Py_XDECREF(ta);
            }
            goto error;
        }
        if (c != fv)
            changed = 1;
        Py_DECREF(fv);
        PyTuple_SET_ITEM(values, i, c);
    }
    PyObject *result;
    if (is_instance) {
        if (!changed || t->is_frozen) {
            result = Py_NewRef(v);
        } else {
            result = PyObject_CallOneArg(ts->copy_copy, v);
            for (Py_ssize_t i = 0; result != NULL && i < t->n_children; i++) {
                if (PyObject_SetAttr(result, PyTuple_GET_ITEM(t->field_names, i),
                                     PyTuple_GET_ITEM(values, i)) < 0)
                    Py_CLEAR(result);
            }
        }
    } else {
        PyObject *kwargs = PyDict_New();
        if (kwargs == NULL)
            goto error;
        for (Py_ssize_t i = 0; i < t->n_children; i++) {
            if (PyDict_SetItem(kwargs, PyTuple_GET_ITEM(t->field_names, i),
                               PyTuple_GET_ITEM(values, i)) < 0) {
                Py_DECREF(kwargs);
                goto error;
            }
        }
        PyObject *empty = PyTuple_New(0);
        result = empty ? PyObject_Call(t->cls, empty, kwargs) : NULL;
        Py_XDECREF(empty);
        Py_DECREF(kwargs);
    }
    Py_DECREF(values);
    return result;
error:
    Py_DECREF(values);
    return NULL;
}

/*
 * Cast v to t: new reference, or NULL with a failure in f (f->reason set, no
 * exception) or an exception set (f->reason NULL).
 */
static PyObject *cast(struct sm_type *t, PyObject *v, struct cast_fail *f)
{
    switch (t->kind) {
    case KIND_OBJECT:
        return Py_NewRef(v);
    case KIND_INT:
        if (PyLong_Check(v))
            return Py_NewRef(v);
        if (v == Py_None) /* int(None) raises TypeError: skip the call */
            return fail_cannot_cast(f, v, t->annotation);
        return cast_default(t, v, f);
    case KIND_FLOAT:
        if (PyFloat_Check(v))
            return Py_NewRef(v);
        if (PyLong_CheckExact(v)) {
            double d = PyLong_AsDouble(v);
            if (d == -1.0 && PyErr_Occurred()) {
                if (!PyErr_ExceptionMatches(PyExc_OverflowError))
                    return NULL;
                PyErr_Clear();
                return fail_cannot_cast(f, v, t->annotation);
            }
            return PyFloat_FromDouble(d);
        }
        if (v == Py_None)
            return fail_cannot_cast(f, v, t->annotation);
        return cast_default(t, v, f);
    case KIND_STR:
        if (PyUnicode_Check(v))
            return Py_NewRef(v);
        return fail_cannot_cast(f, v, t->annotation);
    case KIND_BOOL:
        if (PyBool_Check(v))
            return Py_NewRef(v);
        return cast_default(t, v, f);
    case KIND_NONE:
        if (v == Py_None)
            return Py_NewRef(v);
        return fail_cannot_cast(f, v, t->annotation); /* NoneType(x) always raises */
    case KIND_CLASS:
    case KIND_ENUM:
        return cast_default(t, v, f);
    default:
        break;
    }
    /* Containers: guard the C stack against deeply nested values. */
    struct sm_types_state *ts = state_of_type((PyObject *)t);
    if (ts == NULL)
        return NULL;
    if (Py_EnterRecursiveCall(" while casting a value to a Sematic type"))
        return NULL;
    PyObject *res;
    switch (t->kind) {
    case KIND_LIST:
    case KIND_SET:
        res = cast_list_or_set(ts, t, v, f);
        break;
    case KIND_TUPLE:
        res = cast_tuple(ts, t, v, f);
        break;
    case KIND_DICT:
        res = cast_dict(ts, t, v, f);
        break;
    case KIND_UNION:
        res = cast_union(t, v, f);
        break;
    case KIND_DATACLASS:
        res = cast_dataclass(ts, t, v, f);
        break;
    default:
        PyErr_SetString(PyExc_SystemError, "unknown Sematic type kind");
        res = NULL;
        break;
    }
    Py_LeaveRecursiveCall();
    return res;
}

/* The path of a failure: segments joined outermost first. New reference. */
static PyObject *fail_path(struct cast_fail *f)
{
    if (f->path == NULL)
        return PyUnicode_New(0, 0);
    if (PyList_Reverse(f->path) < 0)
        return NULL;
    PyObject *empty = PyUnicode_New(0, 0);
    if (empty == NULL)
        return NULL;
    PyObject *joined = PyUnicode_Join(empty, f->path);
    Py_DECREF(empty);
    return joined;
}

/* Raise TypeError(reason) with .path from a failure; releases f. Returns NULL. */
static PyObject *raise_cast_fail(struct sm_types_state *ts, struct cast_fail *f)
{
    PyObject *path = fail_path(f);
    PyObject *exc = path ? PyObject_CallOneArg(PyExc_TypeError, f->reason) : NULL;
    if (exc != NULL && PyObject_SetAttr(exc, ts->str_path, path) == 0)
        PyErr_SetObject(PyExc_TypeError, exc);
    Py_XDECREF(exc);
    Py_XDECREF(path);
    cast_fail_release(f);
    return NULL;
}

PyObject *sm_type_cast(PyObject *type, PyObject *value)
{
    struct cast_fail f = {NULL, NULL};
    PyObject *res = cast(TYPE(type), value, &f);
    if (res != NULL || f.reason == NULL) {
        cast_fail_release(&f);
        return res;
    }
    struct sm_types_state *ts = state_of_type(type);
    if (ts == NULL) {
        cast_fail_release(&f);
        return NULL;
    }
    return raise_cast_fail(ts, &f);
}

/* ------------------------------------------------------------------ */
/* Type-level checks (Sematic's can_cast_type)                         */
/* ------------------------------------------------------------------ */

static int can_cast_ann(struct sm_types_state *ts, PyObject *from, PyObject *to, PyObject **reason);

/* Set *reason = PyUnicode_FromFormat(...) and return 0, or -1 on error. */
static int no(PyObject **reason, const char *format, ...)
{
    va_list vargs;
    va_start(vargs, format);
    *reason = PyUnicode_FromFormatV(format, vargs);
    va_end(vargs);
    return *reason ? 0 : -1;
}

/* "{from} cannot cast to {to}", Sematic's default reason. */
static int no_default(PyObject **reason, PyObject *from, PyObject *to)
{
    PyObject *a = fmt(from);
    PyObject *b = a ? fmt(to) : NULL;
    int rc = b ? no(reason, "%U cannot cast to %U", a, b) : -1;
    Py_XDECREF(a);
    Py_XDECREF(b);
    return rc;
}

/* typing.get_args(x) as a tuple (new reference). */
static PyObject *args_of(struct sm_types_state *ts, PyObject *x)
{
    PyObject *args = PyObject_CallOneArg(ts->get_args, x);
    if (args != NULL && !PyTuple_Check(args))
        Py_SETREF(args, PyTuple_New(0));
    return args;
}

/* int and float: any class that subclasses numbers.Real. */
static int can_cast_real(struct sm_types_state *ts, PyObject *from, const char *to_name,
                         PyObject **reason)
{
    if (PyType_Check(from)) {
        int r = PyObject_IsSubclass(from, ts->numbers_real);
        if (r != 0)
            return r;
    }
    PyObject *a = fmt(from);
    int rc = a ? no(reason, "Cannot cast %U to %s", a, to_name) : -1;
    Py_XDECREF(a);
    return rc;
}

/* List[T] and Set[T]: any subscripted iterable generic whose arguments all cast to T. */
static int can_cast_iterable(struct sm_types_state *ts, PyObject *from, struct sm_type *to,
                             PyObject **reason)
{
    int rc = -1;
    PyObject *a = fmt(from), *b = a ? fmt(to->annotation) : NULL;
    PyObject *from_args = b ? args_of(ts, from) : NULL, *origin = NULL;
    if (from_args == NULL)
        goto done;
    if (PyTuple_GET_SIZE(from_args) < 1) {
        rc = no(reason, "Can't cast %U to %U: not a subscripted generic", a, b);
        goto done;
    }
    origin = PyObject_CallOneArg(ts->get_origin, from);
    if (origin == NULL)
        goto done;
    if (!PyType_Check(origin) || !is_subclass_quiet(origin, ts->iterable_abc)) {
        rc = no(reason, "Can't cast %U to %U: not an iterable", a, b);
        goto done;
    }
    PyObject *elem = PyTuple_GET_SIZE(to->args) > 0 ? PyTuple_GET_ITEM(to->args, 0) : Py_None;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(from_args); i++) {
        PyObject *why = NULL;
        int r = can_cast_ann(ts, PyTuple_GET_ITEM(from_args, i), elem, &why);
        if (r < 0)
            goto done;
        if (r == 0) {
            rc = no(reason, "Can't cast %U to %U:: %U", a, b, why);
            Py_DECREF(why);
            goto done;
        }
    }
    rc = 1;
done:
    Py_XDECREF(origin);
    Py_XDECREF(from_args);
    Py_XDECREF(a);
    Py_XDECREF(b);
    return rc;
}

/* Tuple[A, B]: a tuple generic of the same arity, element-wise. */
static int can_cast_tuple(struct sm_types_state *ts, PyObject *from, struct sm_type *to,
                          PyObject **reason)
{
    int rc = -1;
    PyObject *a = fmt(from), *b = a ? fmt(to->annotation) : NULL;
    PyObject *from_args = b ? args_of(ts, from) : NULL, *origin = NULL;
    if (from_args == NULL)
        goto done;
    Py_ssize_t n = PyTuple_GET_SIZE(from_args);
    if (n < 1) {
        rc = no(reason, "Can't cast %U to %U: not a subscripted generic", a, b);
        goto done;
    }
    if (n != PyTuple_GET_SIZE(to->args)) {
        rc = no(reason, "Can't cast %U to %U: they have different arities (%zd vs %zd)", a, b, n,
                PyTuple_GET_SIZE(to->args));
        goto done;
    }
    origin = PyObject_CallOneArg(ts->get_origin, from);
    if (origin == NULL)
        goto done;
    /* Sematic's issubclass raises for a non-class origin (Union); we say "not a tuple". */
    if (origin == Py_None || !PyType_Check(origin) ||
        !is_subclass_quiet(origin, (PyObject *)&PyTuple_Type)) {
        rc = no(reason, "Can't cast %U to %U: not a tuple", a, b);
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *why = NULL;
        int r =
            can_cast_ann(ts, PyTuple_GET_ITEM(from_args, i), PyTuple_GET_ITEM(to->args, i), &why);
        if (r < 0)
            goto done;
        if (r == 0) {
            rc = no(reason, "Can't cast %U to %U:: %U", a, b, why);
            Py_DECREF(why);
            goto done;
        }
    }
    rc = 1;
done:
    Py_XDECREF(origin);
    Py_XDECREF(from_args);
    Py_XDECREF(a);
    Py_XDECREF(b);
    return rc;
}

/*
 * Dict[K, V]: Sematic has no rule (its default issubclass() raises for
 * subscripted generics, so only the identical object passes). We accept a
 * dict generic whose key and value types cast.
 */
static int can_cast_dict(struct sm_types_state *ts, PyObject *from, struct sm_type *to,
                         PyObject **reason)
{
    if (PyTuple_GET_SIZE(to->args) != 2)
        return no_default(reason, from, to->annotation);
    PyObject *origin = PyObject_CallOneArg(ts->get_origin, from);
    if (origin == NULL)
        return -1;
    int is_dict = origin == (PyObject *)&PyDict_Type;
    Py_DECREF(origin);
    PyObject *from_args = is_dict ? args_of(ts, from) : NULL;
    if (is_dict && from_args == NULL)
        return -1;
    if (!is_dict || PyTuple_GET_SIZE(from_args) != 2) {
        Py_XDECREF(from_args);
        return no_default(reason, from, to->annotation);
    }
    int rc = 1;
    for (Py_ssize_t i = 0; i < 2 && rc == 1; i++) {
        PyObject *why = NULL;
        rc = can_cast_ann(ts, PyTuple_GET_ITEM(from_args, i), PyTuple_GET_ITEM(to->args, i), &why);
        Py_XDECREF(why);
    }
    Py_DECREF(from_args);
    if (rc == 0)
        return no_default(reason, from, to->annotation);
    return rc;
}

/* Union: castable to any member. */
static int can_cast_union(struct sm_types_state *ts, PyObject *from, struct sm_type *to,
                          PyObject **reason)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(to->args); i++) {
        PyObject *why = NULL;
        int r = can_cast_ann(ts, from, PyTuple_GET_ITEM(to->args, i), &why);
        Py_XDECREF(why);
        if (r != 0)
            return r;
    }
    PyObject *a = fmt(from), *b = a ? fmt(to->args) : NULL;
    int rc = b ? no(reason, "%U cannot cast to any of %U", a, b) : -1;
    Py_XDECREF(a);
    Py_XDECREF(b);
    return rc;
}

/* Dataclasses: from a dataclass having all the target's fields, each castable. */
static int can_cast_dataclass(struct sm_types_state *ts, PyObject *from, struct sm_type *to,
                              PyObject **reason)
{
    int rc = -1;
    PyObject *a = fmt(from), *b = a ? fmt(to->annotation) : NULL, *from_t = NULL;
    PyObject *from_fields = NULL, *to_fields = NULL, *missing = NULL;
    if (b == NULL)
        goto done;
    int r = PyType_Check(from) ? is_dataclass_class(ts, from) : 0;
    if (r < 0)
        goto done;
    if (!r) {
        rc = no(reason, "Cannot cast %U to %U: not a dataclass", a, b);
        goto done;
    }
    from_fields = PyObject_GetAttr(from, ts->str_dataclass_fields);
    to_fields = from_fields ? PyObject_GetAttr(to->cls, ts->str_dataclass_fields) : NULL;
    if (to_fields == NULL)
        goto done;
    PyObject *to_keys = PyObject_CallMethod(to_fields, "keys", NULL);
    PyObject *from_keys = to_keys ? PyObject_CallMethod(from_fields, "keys", NULL) : NULL;
    missing = from_keys ? PyNumber_Subtract(to_keys, from_keys) : NULL;
    Py_XDECREF(to_keys);
    Py_XDECREF(from_keys);
    if (missing == NULL)
        goto done;
    Py_ssize_t n_missing = PyObject_Size(missing);
    if (n_missing < 0)
        goto done;
    if (n_missing > 0) {
        rc = no(reason, "Cannot cast %U to %U: missing fields: %R", a, b, missing);
        goto done;
    }
    /* Field annotations as the casts see them (string annotations resolved). */
    if (dataclass_resolve(ts, to) < 0)
        goto done;
    from_t = sm_type_compile(ts, from);
    if (from_t == NULL || dataclass_resolve(ts, TYPE(from_t)) < 0)
        goto done;
    for (Py_ssize_t i = 0; i < to->n_children; i++) {
        PyObject *name = PyTuple_GET_ITEM(to->field_names, i);
        PyObject *from_ann = NULL;
        for (Py_ssize_t j = 0; j < TYPE(from_t)->n_children; j++) {
            if (PyUnicode_Compare(PyTuple_GET_ITEM(TYPE(from_t)->field_names, j), name) == 0) {
                from_ann = PyTuple_GET_ITEM(TYPE(from_t)->args, j);
                break;
            }
        }
        if (from_ann == NULL) {
            if (PyErr_Occurred())
                goto done;
            rc = no(reason, "Cannot cast %U to %U: missing fields: {%R}", a, b, name);
            goto done;
        }
        PyObject *why = NULL;
        int ok = can_cast_ann(ts, from_ann, PyTuple_GET_ITEM(to->args, i), &why);
        if (ok < 0)
            goto done;
        if (ok == 0) {
            rc = no(reason, "Cannot cast %U to %U: field %R cannot cast: %U", a, b, name, why);
            Py_DECREF(why);
            goto done;
        }
    }
    rc = 1;
done:
    Py_XDECREF(from_t);
    Py_XDECREF(missing);
    Py_XDECREF(from_fields);
    Py_XDECREF(to_fields);
    Py_XDECREF(a);
    Py_XDECREF(b);
    return rc;
}

/* Sematic's per-type rule for a target that is not `from` itself. */
static int can_cast_rule(struct sm_types_state *ts, PyObject *from, struct sm_type *to,
                         PyObject **reason)
{
    switch (to->kind) {
    case KIND_OBJECT:
        return 1; /* Sematic's issubclass() raises for generics; everything is an object */
    case KIND_INT:
        return can_cast_real(ts, from, "int", reason);
    case KIND_FLOAT:
        return can_cast_real(ts, from, "float", reason);
    case KIND_STR: {
        if (PyType_Check(from)) {
            int r = PyObject_IsSubclass(from, (PyObject *)&PyUnicode_Type);
            if (r != 0)
                return r;
        }
        PyObject *a = fmt(from);
        int rc = a ? no(reason, "%U cannot cast to str", a) : -1;
        Py_XDECREF(a);
        return rc;
    }
    case KIND_LIST:
    case KIND_SET:
        return can_cast_iterable(ts, from, to, reason);
    case KIND_TUPLE:
        return can_cast_tuple(ts, from, to, reason);
    case KIND_DICT:
        return can_cast_dict(ts, from, to, reason);
    case KIND_UNION:
        return can_cast_union(ts, from, to, reason);
    case KIND_DATACLASS:
        return can_cast_dataclass(ts, from, to, reason);
    case KIND_ENUM: {
        PyObject *a = fmt(from), *b = a ? fmt(to->annotation) : NULL;
        int rc = b ? no(reason, "%U does not match %U", a, b) : -1;
        Py_XDECREF(a);
        Py_XDECREF(b);
        return rc;
    }
    case KIND_NONE:
    case KIND_BOOL:
    case KIND_CLASS:
        /* Default: issubclass; Sematic raises where `from` is no class, we say no. */
        if (is_subclass_quiet(from, to->cls))
            return 1;
        return no_default(reason, from, to->annotation);
    }
    PyErr_SetString(PyExc_SystemError, "unknown Sematic type kind");
    return -1;
}

/* Is `x` a Union annotation (typing.Union[...] or A | B)? */
static int is_union_annotation(struct sm_types_state *ts, PyObject *x)
{
    PyObject *origin = origin_of(ts, x);
    if (origin == NULL)
        return -1;
    int r = origin == ts->typing_union;
    Py_DECREF(origin);
    return r;
}

/*
 * can_cast_type(from, to) on annotations. Beyond Sematic (never refusing what
 * it accepts): equal annotations cast (list[int] objects from two functions,
 * dict types), and a Union casts when every member does (Optional[int] to
 * int | None), where Sematic says no or raises.
 */
static int can_cast_ann(struct sm_types_state *ts, PyObject *from, PyObject *to, PyObject **reason)
{
    *reason = NULL;
    if (from == Py_None)
        from = (PyObject *)Py_TYPE(Py_None);
    if (to == Py_None)
        to = (PyObject *)Py_TYPE(Py_None);
    if (from == to)
        return 1;
    if (ensure_typing(ts) < 0)
        return -1;
    PyObject *to_t = sm_type_compile(ts, to); /* an invalid target raises, as in Sematic */
    if (to_t == NULL)
        return -1;
    int n = ts->n_checking;
    for (int i = 0; i < n; i++) {
        if (ts->checking[2 * i] == from && ts->checking[2 * i + 1] == to) {
            Py_DECREF(to_t);
            return 1; /* a cycle through recursive types: holds if the rest holds */
        }
    }
    if (Py_EnterRecursiveCall(" while checking Sematic types")) {
        Py_DECREF(to_t);
        return -1;
    }
    int pushed = n < (int)(sizeof(ts->checking) / sizeof(ts->checking[0]) / 2);
    if (pushed) {
        ts->checking[2 * n] = from;
        ts->checking[2 * n + 1] = to;
        ts->n_checking = n + 1;
    }
    int rc = can_cast_rule(ts, from, TYPE(to_t), reason);
    if (rc == 0) {
        int eq = PyObject_RichCompareBool(from, to, Py_EQ);
        if (eq < 0)
            PyErr_Clear();
        int un = eq > 0 ? 0 : is_union_annotation(ts, from);
        if (un < 0) {
            PyErr_Clear();
            un = 0;
        }
        if (eq > 0) {
            rc = 1;
        } else if (un) {
            PyObject *members = args_of(ts, from);
            int all = members != NULL && PyTuple_GET_SIZE(members) > 0;
            for (Py_ssize_t i = 0; all && i < PyTuple_GET_SIZE(members); i++) {
                PyObject *why = NULL;
                int r = can_cast_ann(ts, PyTuple_GET_ITEM(members, i), to, &why);
                Py_XDECREF(why);
                if (r < 0)
                    PyErr_Clear();
                all = r == 1;
            }
            if (members == NULL)
                PyErr_Clear();
            Py_XDECREF(members);
            if (all)
                rc = 1;
        }
        if (rc == 1)
            Py_CLEAR(*reason);
    }
    if (pushed)
        ts->n_checking = n;
    Py_LeaveRecursiveCall();
    Py_DECREF(to_t);
    if (rc < 0)
        Py_CLEAR(*reason);
    return rc;
}

int sm_type_can_cast(PyObject *from, PyObject *to, PyObject **reason)
{
    *reason = NULL;
    if (from == to)
        return 1;
    struct sm_types_state *ts = state_of_type(to);
    if (ts == NULL)
        return -1;
    return can_cast_ann(ts, TYPE(from)->annotation, TYPE(to)->annotation, reason);
}

PyObject *sm_type_annotation(PyObject *type)
{
    return TYPE(type)->annotation;
}

Py_ssize_t sm_type_tuple_arity(PyObject *type)
{
    struct sm_type *t = TYPE(type);
    if (t->kind != KIND_TUPLE || t->has_ellipsis)
        return -1;
    return t->n_children;
}

int sm_type_is_none(PyObject *type)
{
    return TYPE(type)->kind == KIND_NONE;
}

/* ------------------------------------------------------------------ */
/* fut[key] (Sematic's future_operators/getitem.py)                   */
/* ------------------------------------------------------------------ */

/* Sematic's plain typing.get_origin of the container; NULL + TypeError when not indexable. */
static PyObject *getitem_origin(struct sm_types_state *ts, PyObject *container_type)
{
    PyObject *ann = TYPE(container_type)->annotation;
    if (ensure_typing(ts) < 0)
        return NULL;
    PyObject *origin = PyObject_CallOneArg(ts->get_origin, ann);
    if (origin == NULL)
        return NULL;
    if (origin != (PyObject *)&PyTuple_Type && origin != (PyObject *)&PyList_Type &&
        origin != (PyObject *)&PyDict_Type) {
        Py_DECREF(origin);
        PyObject *s = fmt(ann);
        if (s != NULL) {
            PyErr_Format(PyExc_TypeError, "__getitem__ is not supported for Futures of type %U", s);
            Py_DECREF(s);
        }
        return NULL;
    }
    return origin;
}

/* Compile the output annotation of _getitem with Sematic's decoration-time prefix. */
static PyObject *getitem_output(struct sm_types_state *ts, PyObject *value_ann)
{
    PyObject *t = sm_type_compile(ts, value_ann);
    if (t == NULL && PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyObject *why = take_exception_str();
        if (why != NULL) {
            PyErr_Format(PyExc_TypeError,
                         "Invalid type annotation for output of "
                         "sematic.future_operators.getitem._getitem: %U",
                         why);
            Py_DECREF(why);
        }
    }
    return t;
}

static PyObject *getitem_impl(PyObject *container_type, PyObject *key, PyObject *key_type)
{
    struct sm_types_state *ts = state_of_type(container_type);
    if (ts == NULL)
        return NULL;
    PyObject *origin = getitem_origin(ts, container_type);
    if (origin == NULL)
        return NULL;
    PyObject *args = args_of(ts, TYPE(container_type)->annotation);
    PyObject *value_ann = NULL, *out = NULL;
    if (args == NULL)
        goto done;
    if (origin == (PyObject *)&PyDict_Type) {
        if (PyTuple_GET_SIZE(args) != 2) {
            PyErr_SetString(PyExc_ValueError, "not enough values to unpack (expected 2)");
            goto done;
        }
        PyObject *why = NULL;
        if (key_type != NULL) {
            int r = can_cast_ann(ts, TYPE(key_type)->annotation, PyTuple_GET_ITEM(args, 0), &why);
            if (r < 0)
                goto done;
        } else {
            PyObject *kt = sm_type_compile(ts, PyTuple_GET_ITEM(args, 0));
            if (kt == NULL) {
                if (!PyErr_ExceptionMatches(PyExc_TypeError))
                    goto done;
                /* As Sematic's safe_cast: an unsupported key type is a reason. */
                PyObject *s = take_exception_str();
                PyObject *name = s ? annotation_name(ts, PyTuple_GET_ITEM(args, 0)) : NULL;
                if (name != NULL)
                    why =
                        PyUnicode_FromFormat("Type '%U' is not a valid Sematic type: %U", name, s);
                Py_XDECREF(s);
                Py_XDECREF(name);
                if (why == NULL)
                    goto done;
            } else {
                struct cast_fail f = {NULL, NULL};
                PyObject *c = cast(TYPE(kt), key, &f);
                Py_DECREF(kt);
                Py_XDECREF(c);
                Py_CLEAR(f.path);
                if (c == NULL && f.reason == NULL)
                    goto done;
                why = f.reason;
            }
        }
        if (why != NULL) {
            PyErr_Format(PyExc_TypeError, "Invalid key %R: %U", key, why);
            Py_DECREF(why);
            goto done;
        }
        value_ann = Py_NewRef(PyTuple_GET_ITEM(args, 1));
    } else if (origin == (PyObject *)&PyTuple_Type) {
        value_ann = PyObject_GetItem(args, key); /* IndexError/TypeError as in Sematic */
        if (value_ann == NULL)
            goto done;
    } else {
        if (PyTuple_GET_SIZE(args) < 1) {
            PyErr_SetString(PyExc_IndexError, "tuple index out of range");
            goto done;
        }
        value_ann = Py_NewRef(PyTuple_GET_ITEM(args, 0));
    }
    out = getitem_output(ts, value_ann);
done:
    Py_XDECREF(value_ann);
    Py_XDECREF(args);
    Py_DECREF(origin);
    return out;
}

PyObject *sm_type_getitem(PyObject *container_type, PyObject *key)
{
    return getitem_impl(container_type, key, NULL);
}

PyObject *sm_type_getitem_future(PyObject *container_type, PyObject *key, PyObject *key_type)
{
    struct sm_types_state *ts = state_of_type(container_type);
    if (ts == NULL)
        return NULL;
    PyObject *origin = getitem_origin(ts, container_type);
    if (origin == NULL)
        return NULL;
    int is_tuple = origin == (PyObject *)&PyTuple_Type;
    Py_DECREF(origin);
    if (is_tuple) {
        PyErr_Format(PyExc_TypeError, "tuple indices must be integers or slices, not %s",
                     Py_TYPE(key)->tp_name);
        return NULL;
    }
    return getitem_impl(container_type, key, key_type);
}

PyObject *sm_type_getitem_key_type(PyObject *container_type)
{
    struct sm_types_state *ts = state_of_type(container_type);
    if (ts == NULL)
        return NULL;
    PyObject *origin = getitem_origin(ts, container_type);
    if (origin == NULL)
        return NULL;
    PyObject *key_ann = (PyObject *)&PyLong_Type;
    PyObject *args = NULL;
    if (origin == (PyObject *)&PyDict_Type) {
        args = args_of(ts, TYPE(container_type)->annotation);
        if (args == NULL || PyTuple_GET_SIZE(args) < 1) {
            if (args != NULL)
                PyErr_SetString(PyExc_ValueError, "not enough values to unpack (expected 2)");
            Py_XDECREF(args);
            Py_DECREF(origin);
            return NULL;
        }
        key_ann = PyTuple_GET_ITEM(args, 0);
    }
    PyObject *t = sm_type_compile(ts, key_ann);
    Py_XDECREF(args);
    Py_DECREF(origin);
    return t;
}

/* ------------------------------------------------------------------ */
/* Reading a Type (for codec.c)                                        */
/* ------------------------------------------------------------------ */

enum type_kind sm_type_kind(PyObject *type)
{
    return TYPE(type)->kind;
}

PyObject *sm_type_class(PyObject *type)
{
    return TYPE(type)->cls;
}

Py_ssize_t sm_type_n_args(PyObject *type)
{
    return TYPE(type)->n_children;
}

PyObject *sm_type_arg_annotation(PyObject *type, Py_ssize_t i)
{
    assert(i >= 0 && i < TYPE(type)->n_children);
    return PyTuple_GET_ITEM(TYPE(type)->args, i);
}

PyObject *sm_type_arg(PyObject *type, Py_ssize_t i)
{
    assert(i >= 0 && i < TYPE(type)->n_children);
    return child(TYPE(type), i, NULL);
}

int sm_type_has_ellipsis(PyObject *type)
{
    return TYPE(type)->has_ellipsis;
}

PyObject *sm_type_fields(PyObject *type)
{
    struct sm_type *t = TYPE(type);
    if (t->kind != KIND_DATACLASS) {
        PyErr_SetString(PyExc_SystemError, "sm_type_fields() of a type that is not a dataclass");
        return NULL;
    }
    if (!t->fields_resolved) {
        struct sm_types_state *ts = state_of_type(type);
        if (ts == NULL || dataclass_resolve(ts, t) < 0)
            return NULL;
    }
    return t->field_names;
}

PyObject **sm_type_codec_slot(PyObject *type)
{
    return &TYPE(type)->codec;
}

int sm_types_ensure_typing(struct sm_types_state *ts)
{
    return ensure_typing(ts);
}

/* ------------------------------------------------------------------ */
/* _core.Type                                                          */
/* ------------------------------------------------------------------ */

static int type_traverse(PyObject *self, visitproc visit, void *arg)
{
    struct sm_type *t = TYPE(self);
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(t->annotation);
    Py_VISIT(t->cls);
    Py_VISIT(t->args);
    Py_VISIT(t->field_names);
    Py_VISIT(t->codec);
    for (Py_ssize_t i = 0; i < t->n_children; i++)
        Py_VISIT(t->children[i]);
    return 0;
}

static int type_clear(PyObject *self)
{
    struct sm_type *t = TYPE(self);
    for (Py_ssize_t i = 0; i < t->n_children; i++)
        Py_CLEAR(t->children[i]);
    Py_CLEAR(t->annotation);
    Py_CLEAR(t->cls);
    Py_CLEAR(t->field_names);
    Py_CLEAR(t->codec);
    /* args and the slot array stay until dealloc: n_children bounds the array. */
    return 0;
}

static void type_dealloc(PyObject *self)
{
    struct sm_type *t = TYPE(self);
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    type_clear(self);
    Py_CLEAR(t->args);
    PyMem_Free(t->children);
    t->children = NULL;
    t->n_children = 0;
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *type_repr(PyObject *self)
{
    PyObject *ann = TYPE(self)->annotation;
    if (ann == NULL)
        return PyUnicode_FromString("<sematic Type (cleared)>");
    PyObject *s = fmt(ann);
    if (s == NULL)
        return NULL;
    PyObject *r = PyUnicode_FromFormat("<sematic Type %U>", s);
    Py_DECREF(s);
    return r;
}

static PyObject *type_get_annotation(PyObject *self, void *closure)
{
    (void)closure;
    PyObject *ann = TYPE(self)->annotation;
    return Py_NewRef(ann ? ann : Py_None);
}

static PyObject *type_cast_method(PyObject *self, PyObject *value)
{
    return sm_type_cast(self, value);
}

/* (ok, reason) tuple from an int result and a reason; steals reason. */
static PyObject *can_cast_result(int r, PyObject *reason)
{
    if (r < 0)
        return NULL;
    if (r)
        return Py_BuildValue("(OO)", Py_True, Py_None);
    PyObject *res = PyTuple_Pack(2, Py_False, reason ? reason : Py_None);
    Py_XDECREF(reason);
    return res;
}

static PyObject *type_can_cast_from(PyObject *self, PyObject *other)
{
    struct sm_types_state *ts = state_of_type(self);
    if (ts == NULL)
        return NULL;
    PyObject *from = sm_type_check(ts, other) ? TYPE(other)->annotation : other;
    PyObject *reason = NULL;
    int r = can_cast_ann(ts, from, TYPE(self)->annotation, &reason);
    return can_cast_result(r, reason);
}

static PyObject *type_getitem_method(PyObject *self, PyObject *key)
{
    return sm_type_getitem(self, key);
}

static PyMethodDef type_methods[] = {
    {"_getitem", type_getitem_method, METH_O,
     "_getitem(key)\n--\n\nThe output Type of fut[key] for a future of this type (API.md 2.2)."},
    {"cast", type_cast_method, METH_O,
     "cast(value)\n--\n\nCast value to this type with Sematic's rules; TypeError (with .path) "
     "when it cannot."},
    {"can_cast_from", type_can_cast_from, METH_O,
     "can_cast_from(other)\n--\n\n(True, None) when values of `other` (a Type or an annotation) "
     "can be passed where this type is expected, else (False, reason)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef type_getset[] = {
    {"annotation", type_get_annotation, NULL, "The annotation this type was compiled from.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static char type_doc[] = "A compiled Sematic type annotation (see sematic._core.compile_type).";

static PyType_Slot type_slots[] = {
    {Py_tp_dealloc, type_dealloc}, {Py_tp_traverse, type_traverse},
    {Py_tp_clear, type_clear},     {Py_tp_repr, type_repr},
    {Py_tp_methods, type_methods}, {Py_tp_getset, type_getset},
    {Py_tp_doc, type_doc},         {0, NULL},
};

static PyType_Spec type_spec = {
    .name = "sematic._core.Type",
    .basicsize = sizeof(struct sm_type),
    .itemsize = 0,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = type_slots,
};

/* ------------------------------------------------------------------ */
/* Module functions                                                    */
/* ------------------------------------------------------------------ */

static struct sm_types_state *state_of_module(PyObject *m)
{
    return &sm_py_state_of(m)->types;
}

static int check_nargs(const char *name, Py_ssize_t nargs, Py_ssize_t want)
{
    if (nargs == want)
        return 0;
    PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd arguments (%zd given)", name, want,
                 nargs);
    return -1;
}

static PyObject *mod_compile_type(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_nargs("compile_type", nargs, 1) < 0)
        return NULL;
    return sm_type_compile(state_of_module(m), args[0]);
}

/* safe_cast(value, annotation) -> (value, None) | (None, reason), as Sematic's. */
static PyObject *mod_safe_cast(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_nargs("safe_cast", nargs, 2) < 0)
        return NULL;
    struct sm_types_state *ts = state_of_module(m);
    PyObject *value = args[0], *ann = args[1];
    PyObject *t = sm_type_check(ts, ann) ? Py_NewRef(ann) : sm_type_compile(ts, ann);
    if (t == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError))
            return NULL;
        PyObject *why = take_exception_str();
        PyObject *name = why ? annotation_name(ts, ann) : NULL;
        PyObject *reason =
            name ? PyUnicode_FromFormat("Type '%U' is not a valid Sematic type: %U", name, why)
                 : NULL;
        Py_XDECREF(why);
        Py_XDECREF(name);
        if (reason == NULL)
            return NULL;
        PyObject *res = PyTuple_Pack(2, Py_None, reason);
        Py_DECREF(reason);
        return res;
    }
    struct cast_fail f = {NULL, NULL};
    PyObject *c = cast(TYPE(t), value, &f);
    Py_DECREF(t);
    Py_CLEAR(f.path);
    if (c != NULL) {
        PyObject *res = PyTuple_Pack(2, c, Py_None);
        Py_DECREF(c);
        return res;
    }
    if (f.reason == NULL)
        return NULL;
    PyObject *res = PyTuple_Pack(2, Py_None, f.reason);
    Py_DECREF(f.reason);
    return res;
}

/* can_cast_type(from, to) -> (bool, reason or None), as Sematic's. */
static PyObject *mod_can_cast_type(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_nargs("can_cast_type", nargs, 2) < 0)
        return NULL;
    struct sm_types_state *ts = state_of_module(m);
    PyObject *from = sm_type_check(ts, args[0]) ? TYPE(args[0])->annotation : args[0];
    PyObject *to = sm_type_check(ts, args[1]) ? TYPE(args[1])->annotation : args[1];
    PyObject *reason = NULL;
    int r = can_cast_ann(ts, from, to, &reason);
    return can_cast_result(r, reason);
}

static PyMethodDef module_functions[] = {
    {"compile_type", (PyCFunction)(void (*)(void))mod_compile_type, METH_FASTCALL,
     "compile_type(annotation)\n--\n\nCompile a type annotation into a Type (cached); "
     "TypeError with Sematic's reason when it is not supported."},
    {"safe_cast", (PyCFunction)(void (*)(void))mod_safe_cast, METH_FASTCALL,
     "safe_cast(value, annotation)\n--\n\n(cast_value, None), or (None, reason) when value "
     "cannot be cast (Sematic's sematic.types.casting.safe_cast)."},
    {"can_cast_type", (PyCFunction)(void (*)(void))mod_can_cast_type, METH_FASTCALL,
     "can_cast_type(from_type, to_type)\n--\n\n(True, None), or (False, reason) "
     "(Sematic's sematic.types.casting.can_cast_type)."},
    {NULL, NULL, 0, NULL},
};

static int intern(PyObject **slot, const char *s)
{
    *slot = PyUnicode_InternFromString(s);
    return *slot ? 0 : -1;
}

int sm_types_exec(PyObject *module, struct sm_types_state *ts)
{
    ts->type_type = PyType_FromModuleAndSpec(module, &type_spec, NULL);
    if (ts->type_type == NULL)
        goto error;
    if (PyModule_AddObjectRef(module, "Type", ts->type_type) < 0)
        goto error;
    ts->cache = PyDict_New();
    if (ts->cache == NULL)
        goto error;
    /* typing and the other modules compared against are imported on first need. */
    if (intern(&ts->str_dataclass_fields, "__dataclass_fields__") < 0 ||
        intern(&ts->str_dataclass_params, "__dataclass_params__") < 0 ||
        intern(&ts->str_frozen, "frozen") < 0 || intern(&ts->str_module, "__module__") < 0 ||
        intern(&ts->str_name, "__name__") < 0 || intern(&ts->str_type, "type") < 0 ||
        intern(&ts->str_items, "items") < 0 || intern(&ts->str_path, "path") < 0 ||
        intern(&ts->str_typing, "typing") < 0 || intern(&ts->str_name_attr, "name") < 0)
        goto error;
    if (PyModule_AddFunctions(module, module_functions) < 0)
        goto error;
    return 0;
error:
    return -1;
}

/* clang-format off */
#define SM__TYPES_FIELDS(X) \
    X(type_type) \
    X(cache) \
    X(typing_any) \
    X(typing_union) \
    X(typing_optional) \
    X(typing_list) \
    X(typing_dict) \
    X(typing_tuple) \
    X(typing_set) \
    X(union_type) \
    X(get_origin) \
    X(get_args) \
    X(get_type_hints) \
    X(abc_abc) \
    X(abc_meta) \
    X(enum_type) \
    X(numbers_real) \
    X(iterable_abc) \
    X(mapping_abc) \
    X(copy_copy) \
    X(dataclass_fields_fn) \
    X(str_name_attr) \
    X(str_dataclass_fields) \
    X(str_dataclass_params) \
    X(str_frozen) \
    X(str_module) \
    X(str_name) \
    X(str_type) \
    X(str_items) \
    X(str_path) \
    X(str_typing)
/* clang-format on */

int sm_types_traverse(struct sm_types_state *ts, visitproc visit, void *arg)
{
#define SM__VISIT(field) Py_VISIT(ts->field);
    SM__TYPES_FIELDS(SM__VISIT)
#undef SM__VISIT
    return 0;
}

void sm_types_clear(struct sm_types_state *ts)
{
#define SM__CLEAR(field) Py_CLEAR(ts->field);
    SM__TYPES_FIELDS(SM__CLEAR)
#undef SM__CLEAR
    ts->typing_loaded = 0;
    ts->dataclasses_loaded = 0;
}
