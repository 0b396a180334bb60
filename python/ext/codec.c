/*
 * codec.c: values of compiled types (_core.Type) to canonical JSON and back:
 * the type serialization (Sematic's format), the value payload, the summary
 * shown by dashboards, and the artifact id that hashes the first two. The
 * formats are specified in docs/internals/codec.md; they are a contract, so
 * every choice here is deterministic: object keys sorted, sets and dicts in
 * the order of their elements' (keys') encoded bytes, numbers and strings in
 * the canonical forms of include/sematic/json.h.
 *
 * Every position of a value has one compact form chosen by its declared
 * type (an exact int at an int position is a JSON integer, an exact list at
 * a List position an array, ...). Whatever does not fit the form of its
 * position (a subclass of int, a tuple where a list was declared, an
 * arbitrary object) is pickled there as {"pickle": base64}: encoding never
 * loses a value's class, and a decoder tells the two apart by the JSON kind
 * alone. The hot cases (scalars, lists, tuples, dicts and dataclasses of
 * them) make no Python call; pickle, base64, datetime and pathlib are
 * reached only when a value needs them.
 *
 * Per Type, a capsule in the Type's codec slot (struct type_info) keeps the
 * type serialization, the rule of a plain class (bytes, datetime, path or
 * pickle) and the key order of a dataclass's fields.
 *
 * Paths to offending elements ("[3].name") are linked lists of struct
 * path_seg on the C stack, turned into text only when an error is raised
 * (STYLE 52).
 *
 * Start reading at sm_codec_encode(), then enc(); decoding at
 * sm_codec_decode(), then dec(); type serialization at ser_annotation().
 */
#include "core.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "sematic/err.h"
#include "sematic/hash.h"
#include "sematic/json.h"

#include "util/banned.h"

#define INFO_CAPSULE_NAME "sematic._core.codec_info"
/* Strings longer than this many characters are cut in summaries. */
#define SUMMARY_STR_CHARS 4096
/* A pickled value's summary is its repr, cut at this many characters. */
#define SUMMARY_REPR_CHARS 1024
/* A bytes value's summary shows the repr of this many leading bytes. */
#define SUMMARY_BYTES 256
/* Values hashed with the GIL released when the payload is at least this long. */
#define HASH_NOGIL_BYTES ((size_t)64 << 10)
/* _core.encode keeps its buffers for the next call when they are no bigger than this. */
#define SPARE_KEEP_BYTES ((size_t)1 << 20)

/* ------------------------------------------------------------------ */
/* Paths, built only on error                                          */
/* ------------------------------------------------------------------ */

enum seg_kind {
    SEG_INDEX, /* "[3]": a list or tuple element */
    SEG_KEY,   /* "['k']": the value of a dict key */
    SEG_FIELD, /* ".name": a dataclass field */
};

struct path_seg {
    const struct path_seg *parent; /* NULL at the top */
    enum seg_kind kind;
    Py_ssize_t index; /* SEG_INDEX */
    PyObject *key;    /* borrowed: SEG_KEY the key, SEG_FIELD the field name (str) */
};

/* The path text of p ("" at the top): new reference, or NULL with an exception. */
static PyObject *path_text(const struct path_seg *p)
{
    Py_ssize_t n = 0;
    for (const struct path_seg *q = p; q != NULL; q = q->parent)
        n++;
    PyObject *parts = PyList_New(n);
    if (parts == NULL)
        return NULL;
    Py_ssize_t i = n;
    for (const struct path_seg *q = p; q != NULL; q = q->parent) {
        PyObject *s;
        if (q->kind == SEG_INDEX)
            s = PyUnicode_FromFormat("[%zd]", q->index);
        else if (q->kind == SEG_KEY)
            s = PyUnicode_FromFormat("[%R]", q->key);
        else
            s = PyUnicode_FromFormat(".%U", q->key);
        if (s == NULL) {
            Py_DECREF(parts);
            return NULL;
        }
        PyList_SET_ITEM(parts, --i, s); /* steals s */
    }
    PyObject *empty = PyUnicode_New(0, 0);
    PyObject *text = empty ? PyUnicode_Join(empty, parts) : NULL;
    Py_XDECREF(empty);
    Py_DECREF(parts);
    return text;
}

/* " at <path>" for messages, or "" at the top: new reference. */
static PyObject *path_suffix(const struct path_seg *p)
{
    if (p == NULL)
        return PyUnicode_New(0, 0);
    PyObject *text = path_text(p);
    if (text == NULL)
        return NULL;
    PyObject *s = PyUnicode_FromFormat(" at %U", text);
    Py_DECREF(text);
    return s;
}

/* A class's name for messages: "int", "m.C" (qualified outside builtins). New reference. */
static PyObject *class_name(PyObject *cls)
{
    if (!PyType_Check(cls))
        return PyObject_Str(cls);
    PyObject *qual = PyType_GetQualName((PyTypeObject *)cls);
    if (qual == NULL)
        return NULL;
    PyObject *mod = PyObject_GetAttrString(cls, "__module__");
    if (mod == NULL) {
        PyErr_Clear();
        return qual;
    }
    PyObject *name;
    if (!PyUnicode_Check(mod) || PyUnicode_CompareWithASCIIString(mod, "builtins") == 0)
        name = Py_NewRef(qual);
    else
        name = PyUnicode_FromFormat("%U.%U", mod, qual);
    Py_DECREF(mod);
    Py_DECREF(qual);
    return name;
}

/* A type annotation's name for messages: class_name() of classes, str() of generics. */
static PyObject *annotation_text(PyObject *ann)
{
    return PyType_Check(ann) ? class_name(ann) : PyObject_Str(ann);
}

/*
 * Numbers in the canonical forms of include/sematic/json.h, formatted here
 * and written with sm_jw_raw(): sm_jw_int() goes through snprintf and
 * sm_jw_double() searches for the shortest digits with printf (about 0.2
 * and 3 us a number). Integers are plain decimal. The canonical text of a
 * finite double (the shortest that reads back, with a '.' or an exponent,
 * fixed notation for 1e-4 <= |v| < 1e16) is exactly Python's repr(), which
 * PyOS_double_to_string() computes with David Gay's dtoa; NaN and the
 * infinities still go through sm_jw_double() (they are strings).
 */
static void jw_int(struct sm_jw *w, int64_t v)
{
    char buf[24];
    char *end = buf + sizeof(buf), *p = end;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    sm_jw_raw(w, p, (size_t)(end - p));
}

/* A double in json.h's canonical form. 0, or -1 with an exception (out of memory). */
static int jw_double(struct sm_jw *w, double v)
{
    if (!isfinite(v)) {
        sm_jw_double(w, v);
        return 0;
    }
    char *text = PyOS_double_to_string(v, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (text == NULL)
        return -1;
    sm_jw_raw(w, text, strlen(text));
    PyMem_Free(text);
    return 0;
}

/* Raise the _core exception of a JSON writer's sticky error. Returns -1. */
static int raise_writer_error(struct sm_py_state *st, struct sm_jw *w, const char *what)
{
    struct sm_err err = SM_ERR_INIT;
    int code = sm_jw_finish(w, &err);
    if (code == 0)
        code = SM_EINVAL;
    char msg[384];
    snprintf(msg, sizeof(msg), "cannot encode %s: %s", what,
             err.msg[0] ? err.msg : sm_strerror(code));
    sm_py_raise(st, code, msg);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Per-Type cache (a capsule in the Type's codec slot)                 */
/* ------------------------------------------------------------------ */

enum class_rule {
    RULE_UNKNOWN,  /* not decided yet */
    RULE_PICKLE,   /* every value pickled */
    RULE_BYTES,    /* bytes: base64 string */
    RULE_DATETIME, /* datetime.datetime: isoformat() (naive or datetime.timezone, fold 0) */
    RULE_DATE,     /* datetime.date: isoformat() */
    RULE_PATH,     /* a pathlib class: str() */
};

struct type_info {
    PyObject *ser;        /* bytes: the type serialization; NULL until computed */
    enum class_rule rule; /* KIND_CLASS */
    PyObject *aux;        /* RULE_DATETIME: datetime.timezone; RULE_PATH: type(cls()) or NULL */
    Py_ssize_t n_order;   /* KIND_DATACLASS: number of fields once `order` is computed */
    Py_ssize_t *order; /* field indices in the order of their names' bytes; NULL until computed */
};

static void info_free(PyObject *capsule)
{
    struct type_info *info = PyCapsule_GetPointer(capsule, INFO_CAPSULE_NAME);
    if (info == NULL) {
        PyErr_Clear();
        return;
    }
    Py_CLEAR(info->ser);
    Py_CLEAR(info->aux);
    PyMem_Free(info->order);
    PyMem_Free(info);
}

/* The codec's cache of `type` (created on first use): borrowed, or NULL with an exception. */
static struct type_info *info_of(PyObject *type)
{
    PyObject **slot = sm_type_codec_slot(type);
    if (*slot != NULL)
        return PyCapsule_GetPointer(*slot, INFO_CAPSULE_NAME);
    struct type_info *info = PyMem_Calloc(1, sizeof(*info));
    if (info == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    PyObject *capsule = PyCapsule_New(info, INFO_CAPSULE_NAME, info_free);
    if (capsule == NULL) {
        PyMem_Free(info);
        return NULL;
    }
    *slot = capsule; /* the slot owns it; nothing above can have run Python code */
    return info;
}

/* Compare two str objects by their UTF-8 bytes (code point order). */
static int compare_names(PyObject *a, PyObject *b)
{
    return PyUnicode_Compare(a, b);
}

/*
 * The key order of a dataclass Type's fields (JSON objects are written with
 * sorted keys): borrowed array of info->n_order indices, or NULL with an
 * exception.
 */
static const Py_ssize_t *field_order(PyObject *type, struct type_info *info)
{
    if (info->order != NULL)
        return info->order;
    PyObject *names = sm_type_fields(type);
    if (names == NULL)
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    Py_ssize_t *order = PyMem_Malloc((size_t)(n > 0 ? n : 1) * sizeof(Py_ssize_t));
    if (order == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        /* Insertion sort: dataclasses have few fields, and this runs once per Type. */
        Py_ssize_t j = i;
        while (j > 0 && compare_names(PyTuple_GET_ITEM(names, order[j - 1]),
                                      PyTuple_GET_ITEM(names, i)) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    if (PyErr_Occurred()) {
        PyMem_Free(order);
        return NULL;
    }
    if (info->order != NULL) { /* filled meanwhile (sm_type_fields may run Python code) */
        PyMem_Free(order);
    } else {
        info->order = order;
        info->n_order = n;
    }
    return info->order;
}

/* getattr(sys.modules[module], attr) when the module is imported, else NULL with no exception. */
static PyObject *imported_attr(const char *module, const char *attr)
{
    PyObject *name = PyUnicode_FromString(module);
    if (name == NULL)
        return NULL;
    PyObject *mod = PyImport_GetModule(name);
    Py_DECREF(name);
    if (mod == NULL)
        return NULL;
    PyObject *value = PyObject_GetAttrString(mod, attr);
    Py_DECREF(mod);
    return value;
}

/*
 * The rule of a KIND_CLASS Type, decided on first use. A class can only be
 * datetime's or pathlib's when that module is imported already, so this
 * looks in sys.modules and never imports. Returns the rule, or -1 with an
 * exception.
 */
static int class_rule(PyObject *type, struct type_info *info)
{
    if (info->rule != RULE_UNKNOWN)
        return (int)info->rule;
    PyObject *cls = sm_type_class(type);
    enum class_rule rule = RULE_PICKLE;
    PyObject *aux = NULL;
    if (cls == (PyObject *)&PyBytes_Type) {
        rule = RULE_BYTES;
    } else {
        PyObject *dt = imported_attr("datetime", "datetime");
        PyObject *date = dt ? imported_attr("datetime", "date") : NULL;
        if (PyErr_Occurred()) {
            Py_XDECREF(dt);
            Py_XDECREF(date);
            return -1;
        }
        if (dt != NULL && cls == dt) {
            aux = imported_attr("datetime", "timezone");
            if (aux == NULL && PyErr_Occurred()) {
                Py_DECREF(dt);
                Py_DECREF(date);
                return -1;
            }
            rule = RULE_DATETIME;
        } else if (date != NULL && cls == date) {
            rule = RULE_DATE;
        }
        Py_XDECREF(dt);
        Py_XDECREF(date);
    }
    if (rule == RULE_PICKLE) {
        static const char *const path_classes[] = {
            "PurePath", "PurePosixPath", "PureWindowsPath", "Path", "PosixPath", "WindowsPath",
        };
        for (size_t i = 0; i < sizeof(path_classes) / sizeof(path_classes[0]); i++) {
            PyObject *pc = imported_attr("pathlib", path_classes[i]);
            if (pc == NULL) {
                if (PyErr_Occurred())
                    return -1;
                break;
            }
            int is_it = pc == cls;
            Py_DECREF(pc);
            if (is_it) {
                rule = RULE_PATH;
                /* Path("x") makes a PosixPath: values of that class decode to themselves. */
                PyObject *sample = PyObject_CallNoArgs(cls);
                if (sample == NULL) {
                    if (!PyErr_ExceptionMatches(PyExc_Exception))
                        return -1;
                    PyErr_Clear(); /* WindowsPath() on POSIX: only exact values */
                } else {
                    aux = Py_NewRef((PyObject *)Py_TYPE(sample));
                    Py_DECREF(sample);
                }
                break;
            }
        }
    }
    if (info->rule == RULE_UNKNOWN) {
        info->rule = rule;
        Py_XSETREF(info->aux, aux);
    } else {
        Py_XDECREF(aux);
    }
    return (int)info->rule;
}

/* ------------------------------------------------------------------ */
/* Type serialization (Sematic's type_to_json_encodable, keys sorted)  */
/* ------------------------------------------------------------------ */

/*
 * One serialization in progress. The registry maps each type key (a
 * class's __name__, a generic's origin name) to the reprs of its bases,
 * filled in Sematic's order so that a key met twice ends as Sematic's does.
 */
struct ser {
    struct sm_py_state *st;
    PyObject *registry;   /* dict: key (str) -> list of bytes (JSON of [category, key, params]) */
    PyObject *writing;    /* list: dataclasses whose repr is being written (recursion guard) */
    PyObject *populating; /* list: dataclasses whose fields are being registered */
};

/* The builtin category of Sematic: these classes by name, with params {}. */
static const char *builtin_name(PyObject *ann)
{
    if (ann == (PyObject *)&PyLong_Type)
        return "int";
    if (ann == (PyObject *)&PyFloat_Type)
        return "float";
    if (ann == (PyObject *)&PyUnicode_Type)
        return "str";
    if (ann == (PyObject *)&PyBool_Type)
        return "bool";
    if (ann == (PyObject *)Py_TYPE(Py_None))
        return "NoneType";
    if (ann == (PyObject *)&PyBytes_Type)
        return "bytes";
    return NULL;
}

/* 1 when `ann` declares its own dataclass fields (Sematic's _is_dataclass), 0, or -1. */
static int is_own_dataclass(struct sm_codec_state *cs, PyObject *ann)
{
    if (!PyType_Check(ann))
        return 0;
    PyObject *d = PyObject_GetAttr(ann, cs->str_dict);
    if (d == NULL) {
        PyErr_Clear();
        return 0;
    }
    int r = PySequence_Contains(d, cs->str_dataclass_fields);
    Py_DECREF(d);
    if (r < 0) {
        PyErr_Clear();
        return 0;
    }
    return r;
}

/*
 * The key of a supported generic ("list", "dict", "tuple", "set", "Union")
 * with its arguments in *args (new reference), or NULL with *args NULL when
 * `ann` is not one (or on error: check PyErr_Occurred()).
 */
static const char *generic_key(struct sm_types_state *ts, PyObject *ann, PyObject **args)
{
    *args = NULL;
    if (PyType_Check(ann))
        return NULL;
    PyObject *origin = PyObject_CallOneArg(ts->get_origin, ann);
    if (origin == NULL)
        return NULL;
    const char *key = NULL;
    if (origin == (PyObject *)&PyList_Type)
        key = "list";
    else if (origin == (PyObject *)&PyDict_Type)
        key = "dict";
    else if (origin == (PyObject *)&PyTuple_Type)
        key = "tuple";
    else if (origin == (PyObject *)&PySet_Type)
        key = "set";
    else if (origin == ts->typing_union || origin == ts->union_type)
        key = "Union";
    Py_DECREF(origin);
    if (key == NULL)
        return NULL;
    *args = PyObject_CallOneArg(ts->get_args, ann);
    if (*args == NULL)
        return NULL;
    if (!PyTuple_Check(*args)) {
        Py_CLEAR(*args);
        PyErr_SetString(PyExc_TypeError, "typing.get_args() did not return a tuple");
        return NULL;
    }
    return key;
}

/* Sematic's is_supported_type_annotation: 1, 0, or -1 with an exception. */
static int is_supported(struct sm_py_state *st, PyObject *ann)
{
    if (ann == Py_None)
        return 1;
    PyObject *t = sm_type_compile(&st->types, ann);
    if (t != NULL) {
        Py_DECREF(t);
        return 1;
    }
    if (!PyErr_ExceptionMatches(PyExc_Exception))
        return -1;
    PyErr_Clear();
    return 0;
}

/* str(getattr(o, name)) or `fallback` (new reference), or NULL with an exception. */
static PyObject *attr_str(PyObject *o, PyObject *name, PyObject *fallback)
{
    PyObject *v = PyObject_GetAttr(o, name);
    if (v == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            return NULL;
        PyErr_Clear();
        return fallback ? Py_NewRef(fallback) : PyObject_Str(o);
    }
    if (PyUnicode_Check(v))
        return v;
    Py_SETREF(v, PyObject_Str(v));
    return v;
}

/* Write a str object as a JSON string. 0, or -1 with an exception. */
static int jw_pystr(struct sm_jw *w, PyObject *s)
{
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (u == NULL)
        return -1;
    sm_jw_string(w, u, (size_t)n);
    return 0;
}

static int ser_repr(struct ser *s, struct sm_jw *w, PyObject *ann);

/* Sematic's _parameter_repr: {"type": repr} for a supported annotation, else {"value": str}. */
static int ser_param(struct ser *s, struct sm_jw *w, PyObject *ann)
{
    int r = is_supported(s->st, ann);
    if (r < 0)
        return -1;
    sm_jw_begin_object(w);
    if (r) {
        sm_jw_keyz(w, "type");
        if (ser_repr(s, w, ann) < 0)
            return -1;
    } else {
        sm_jw_keyz(w, "value");
        if (ann == Py_Ellipsis) {
            sm_jw_stringz(w, "...");
        } else {
            PyObject *text = PyObject_Str(ann);
            int rc = text ? jw_pystr(w, text) : -1;
            Py_XDECREF(text);
            if (rc < 0)
                return -1;
        }
    }
    sm_jw_end_object(w);
    return 0;
}

/* "fields" of a dataclass repr: {name: param, ...} in key order. 0 or -1. */
static int ser_fields(struct ser *s, struct sm_jw *w, PyObject *cls)
{
    PyObject *t = sm_type_compile(&s->st->types, cls);
    if (t == NULL)
        return -1;
    int rc = -1;
    struct type_info *info = sm_type_kind(t) == KIND_DATACLASS ? info_of(t) : NULL;
    const Py_ssize_t *order = info ? field_order(t, info) : NULL;
    if (order == NULL) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "%R is not a dataclass", cls);
        goto done;
    }
    PyObject *names = sm_type_fields(t);
    if (names == NULL)
        goto done;
    sm_jw_begin_object(w);
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(names); k++) {
        Py_ssize_t i = order[k];
        Py_ssize_t n;
        const char *u = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(names, i), &n);
        if (u == NULL)
            goto done;
        sm_jw_key(w, u, (size_t)n);
        if (ser_param(s, w, sm_type_arg_annotation(t, i)) < 0)
            goto done;
    }
    sm_jw_end_object(w);
    rc = 0;
done:
    Py_DECREF(t);
    return rc;
}

/* 1 when the list holds `o` itself (identity), else 0. */
static int list_has(PyObject *list, PyObject *o)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++)
        if (PyList_GET_ITEM(list, i) == o)
            return 1;
    return 0;
}

/* Sematic's _type_repr: [category, key, params]. 0, or -1 with an exception. */
static int ser_repr(struct ser *s, struct sm_jw *w, PyObject *ann)
{
    struct sm_codec_state *cs = &s->st->codec;
    if (ann == Py_None)
        ann = (PyObject *)Py_TYPE(Py_None);
    const char *builtin = builtin_name(ann);
    if (builtin != NULL) {
        sm_jw_begin_array(w);
        sm_jw_stringz(w, "builtin");
        sm_jw_stringz(w, builtin);
        sm_jw_begin_object(w);
        sm_jw_end_object(w);
        sm_jw_end_array(w);
        return 0;
    }
    if (Py_EnterRecursiveCall(" while serializing a type"))
        return -1;
    int rc = -1;
    PyObject *args = NULL, *name = NULL, *module = NULL;
    const char *gkey = generic_key(&s->st->types, ann, &args);
    if (gkey != NULL) {
        sm_jw_begin_array(w);
        sm_jw_stringz(w, "typing");
        sm_jw_stringz(w, gkey);
        sm_jw_begin_object(w);
        sm_jw_keyz(w, "args");
        sm_jw_begin_array(w);
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args); i++)
            if (ser_param(s, w, PyTuple_GET_ITEM(args, i)) < 0)
                goto done;
        sm_jw_end_array(w);
        sm_jw_end_object(w);
        sm_jw_end_array(w);
        rc = 0;
        goto done;
    }
    if (PyErr_Occurred())
        goto done;
    int is_dc = is_own_dataclass(cs, ann);
    name = attr_str(ann, cs->str_name, NULL);
    module = name ? attr_str(ann, cs->str_module, NULL) : NULL;
    if (module == NULL)
        goto done;
    sm_jw_begin_array(w);
    sm_jw_stringz(w, is_dc ? "dataclass" : "class");
    if (jw_pystr(w, name) < 0)
        goto done;
    sm_jw_begin_object(w);
    if (is_dc && !list_has(s->writing, ann)) {
        /* A recursive dataclass refers to itself without "fields" (Sematic recurses forever). */
        if (PyList_Append(s->writing, ann) < 0)
            goto done;
        sm_jw_keyz(w, "fields");
        int frc = ser_fields(s, w, ann);
        if (PySequence_DelItem(s->writing, PyList_GET_SIZE(s->writing) - 1) < 0 || frc < 0)
            goto done;
    }
    sm_jw_keyz(w, "import_path");
    if (jw_pystr(w, module) < 0)
        goto done;
    sm_jw_end_object(w);
    sm_jw_end_array(w);
    rc = 0;
done:
    Py_XDECREF(args);
    Py_XDECREF(name);
    Py_XDECREF(module);
    Py_LeaveRecursiveCall();
    return rc;
}

/* The repr of `ann` as a bytes object: new reference, or NULL with an exception. */
static PyObject *ser_repr_bytes(struct ser *s, PyObject *ann)
{
    struct sm_buf b = SM_BUF_INIT(SM_CODEC_TYPE_MAX_BYTES);
    struct sm_jw w;
    sm_jw_init(&w, &b);
    PyObject *res = NULL;
    if (ser_repr(s, &w, ann) == 0) {
        if (w.code != 0)
            raise_writer_error(s->st, &w, "a type");
        else
            res = PyBytes_FromStringAndSize(b.data ? b.data : "", (Py_ssize_t)b.len);
    }
    sm_buf_release(&b);
    return res;
}

static int ser_populate(struct ser *s, PyObject *ann);

/* Sematic's _populate_registry_from_parameters for one annotation. */
static int ser_populate_param(struct ser *s, PyObject *ann)
{
    int r = is_supported(s->st, ann);
    if (r <= 0)
        return r;
    return ser_populate(s, ann);
}

/* The registry key of `ann` (str): new reference, or NULL with an exception. */
static PyObject *ser_key(struct ser *s, PyObject *ann)
{
    PyObject *args = NULL;
    const char *gkey = generic_key(&s->st->types, ann, &args);
    Py_XDECREF(args);
    if (gkey != NULL)
        return PyUnicode_FromString(gkey);
    if (PyErr_Occurred())
        return NULL;
    return attr_str(ann, s->st->codec.str_name, NULL);
}

/* Sematic's _populate_registry. 0, or -1 with an exception. */
static int ser_populate(struct ser *s, PyObject *ann)
{
    struct sm_types_state *ts = &s->st->types;
    struct sm_codec_state *cs = &s->st->codec;
    if (ann == Py_None)
        ann = (PyObject *)Py_TYPE(Py_None);
    if (ann == (PyObject *)&PyBaseObject_Type || ann == ts->abc_abc)
        return 0;
    if (Py_EnterRecursiveCall(" while serializing a type"))
        return -1;
    int rc = -1;
    PyObject *args = NULL, *key = NULL, *bases = NULL, *entry = NULL;
    const char *gkey = generic_key(ts, ann, &args);
    if (gkey == NULL && PyErr_Occurred())
        goto done;
    if (args != NULL) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args); i++)
            if (ser_populate_param(s, PyTuple_GET_ITEM(args, i)) < 0)
                goto done;
    }
    int is_dc = is_own_dataclass(cs, ann);
    if (is_dc && !list_has(s->populating, ann)) {
        PyObject *t = sm_type_compile(ts, ann);
        PyObject *names = t && sm_type_kind(t) == KIND_DATACLASS ? sm_type_fields(t) : NULL;
        int frc = names ? PyList_Append(s->populating, ann) : -1;
        for (Py_ssize_t i = 0; frc == 0 && i < PyTuple_GET_SIZE(names); i++)
            frc = ser_populate_param(s, sm_type_arg_annotation(t, i));
        if (names != NULL &&
            PySequence_DelItem(s->populating, PyList_GET_SIZE(s->populating) - 1) < 0)
            frc = -1;
        Py_XDECREF(t);
        if (frc < 0) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "%R is not a dataclass", ann);
            goto done;
        }
    }
    key = ser_key(s, ann);
    if (key == NULL)
        goto done;
    PyObject *list = PyList_New(0);
    if (list == NULL || PyDict_SetItem(s->registry, key, list) < 0) {
        Py_XDECREF(list);
        goto done;
    }
    Py_DECREF(list);
    if (gkey == NULL) {
        bases = PyObject_GetAttr(ann, cs->str_bases);
        if (bases == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError))
                goto done;
            PyErr_Clear();
        } else if (!PyTuple_Check(bases)) {
            Py_CLEAR(bases);
        }
    }
    for (Py_ssize_t i = 0; bases != NULL && i < PyTuple_GET_SIZE(bases); i++) {
        PyObject *base = PyTuple_GET_ITEM(bases, i);
        if (base == (PyObject *)&PyBaseObject_Type || base == ts->abc_abc)
            continue;
        if (ser_populate(s, base) < 0)
            goto done;
        entry = ser_repr_bytes(s, base);
        if (entry == NULL)
            goto done;
        /* Looked up again: populating the base may have replaced the list under the same key. */
        PyObject *current = PyDict_GetItemWithError(s->registry, key); /* borrowed */
        if (current == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_SystemError, "type registry lost a key");
            goto done;
        }
        if (PyList_Append(current, entry) < 0)
            goto done;
        Py_CLEAR(entry);
    }
    rc = 0;
done:
    Py_XDECREF(entry);
    Py_XDECREF(bases);
    Py_XDECREF(key);
    Py_XDECREF(args);
    Py_LeaveRecursiveCall();
    return rc;
}

/*
 * Sematic's type_to_json_encodable(ann) as canonical JSON:
 * {"registry": {key: [repr, ...]}, "type": [category, key, params]}.
 * New reference to a bytes object, or NULL with an exception.
 */
static PyObject *ser_annotation(struct sm_py_state *st, PyObject *ann)
{
    if (sm_types_ensure_typing(&st->types) < 0)
        return NULL;
    struct ser s = {st, PyDict_New(), PyList_New(0), PyList_New(0)};
    struct sm_buf b = SM_BUF_INIT(SM_CODEC_TYPE_MAX_BYTES);
    PyObject *keys = NULL, *res = NULL;
    if (s.registry == NULL || s.writing == NULL || s.populating == NULL)
        goto done;
    if (ser_populate(&s, ann) < 0)
        goto done;
    keys = PyDict_Keys(s.registry);
    if (keys == NULL || PyList_Sort(keys) < 0)
        goto done;
    struct sm_jw w;
    sm_jw_init(&w, &b);
    sm_jw_begin_object(&w);
    sm_jw_keyz(&w, "registry");
    sm_jw_begin_object(&w);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(keys); i++) {
        PyObject *key = PyList_GET_ITEM(keys, i);
        PyObject *bases = PyDict_GetItemWithError(s.registry, key); /* borrowed */
        if (bases == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_SystemError, "type registry lost a key");
            goto done;
        }
        Py_ssize_t n;
        const char *u = PyUnicode_AsUTF8AndSize(key, &n);
        if (u == NULL)
            goto done;
        sm_jw_key(&w, u, (size_t)n);
        sm_jw_begin_array(&w);
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(bases); j++) {
            PyObject *repr = PyList_GET_ITEM(bases, j);
            sm_jw_raw(&w, PyBytes_AS_STRING(repr), (size_t)PyBytes_GET_SIZE(repr));
        }
        sm_jw_end_array(&w);
    }
    sm_jw_end_object(&w);
    sm_jw_keyz(&w, "type");
    if (ser_repr(&s, &w, ann) < 0)
        goto done;
    sm_jw_end_object(&w);
    struct sm_err err = SM_ERR_INIT;
    if (w.code != 0 || sm_jw_finish(&w, &err) != 0) {
        raise_writer_error(st, &w, "a type");
        goto done;
    }
    res = PyBytes_FromStringAndSize(b.data, (Py_ssize_t)b.len);
done:
    sm_buf_release(&b);
    Py_XDECREF(keys);
    Py_XDECREF(s.registry);
    Py_XDECREF(s.writing);
    Py_XDECREF(s.populating);
    return res;
}

PyObject *sm_codec_type_json(struct sm_py_state *st, PyObject *type)
{
    struct type_info *info = info_of(type);
    if (info == NULL)
        return NULL;
    if (info->ser != NULL)
        return info->ser;
    PyObject *ser = ser_annotation(st, sm_type_annotation(type));
    if (ser == NULL)
        return NULL;
    if (info->ser == NULL)
        info->ser = ser;
    else
        Py_DECREF(ser); /* computed meanwhile by another thread */
    return info->ser;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

/*
 * One encoding in progress. Sets and dicts encode their elements into a
 * scratch buffer of their nesting depth, sort the texts, then copy them
 * out; nested ones use the next depth's buffer.
 */
struct enc {
    struct sm_py_state *st;
    struct sm_codec_state *cs;
    /* One buffer per sorting depth, each allocated on its own: a writer holds a
     * pointer to its buffer while deeper ones are added. */
    struct sm_buf **scratch;
    int n_scratch;
    int depth;
};

/* One encoded element in a scratch buffer: key (or element) text, and the value's for dicts. */
struct span {
    Py_ssize_t idx;  /* position of the element in the container's iteration */
    size_t off, len; /* while filling: offsets into the scratch buffer */
    size_t voff, vlen;
    const char *p, *v; /* once filled: pointers */
};

static void enc_release(struct enc *e)
{
    for (int i = 0; i < e->n_scratch; i++) {
        sm_buf_release(e->scratch[i]);
        PyMem_Free(e->scratch[i]);
    }
    PyMem_Free(e->scratch);
    e->scratch = NULL;
    e->n_scratch = 0;
}

/* Take the scratch buffer of the next depth (emptied): borrowed, or NULL with an exception. */
static struct sm_buf *scratch_push(struct enc *e)
{
    if (e->depth == e->n_scratch) {
        struct sm_buf **grown =
            PyMem_Realloc(e->scratch, (size_t)(e->n_scratch + 1) * sizeof(*grown));
        if (grown == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        e->scratch = grown;
        struct sm_buf *b = PyMem_Malloc(sizeof(*b));
        if (b == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        sm_buf_init(b, SM_CODEC_VALUE_MAX_BYTES);
        e->scratch[e->n_scratch++] = b;
    }
    struct sm_buf *b = e->scratch[e->depth++];
    sm_buf_reset(b);
    return b;
}

static void scratch_pop(struct enc *e)
{
    e->depth--;
}

static int compare_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0)
        return c;
    return an < bn ? -1 : an > bn;
}

/* qsort order of spans: by key text, then by value text (equal keys are rare but possible). */
static int compare_spans(const void *pa, const void *pb)
{
    const struct span *a = pa, *b = pb;
    int c = compare_bytes(a->p, a->len, b->p, b->len);
    if (c != 0)
        return c;
    c = compare_bytes(a->v ? a->v : "", a->vlen, b->v ? b->v : "", b->vlen);
    if (c != 0)
        return c;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Resolve the offsets of n spans into pointers into b, and sort them. */
static void sort_spans(struct span *spans, size_t n, const struct sm_buf *b, int has_values)
{
    for (size_t i = 0; i < n; i++) {
        spans[i].p = b->data + spans[i].off;
        spans[i].v = has_values ? b->data + spans[i].voff : NULL;
    }
    if (n > 1)
        qsort(spans, n, sizeof(*spans), compare_spans);
}

/* pickle.dumps(v, 4): new reference to bytes, or NULL with the pickling exception set. */
static PyObject *pickle_dumps(struct sm_codec_state *cs, PyObject *v)
{
    if (cs->pickle_dumps == NULL) {
        PyObject *mod = PyImport_ImportModule("pickle");
        if (mod == NULL)
            return NULL;
        PyObject *dumps = PyObject_GetAttrString(mod, "dumps");
        PyObject *loads = dumps ? PyObject_GetAttrString(mod, "loads") : NULL;
        Py_DECREF(mod);
        if (loads == NULL) {
            Py_XDECREF(dumps);
            return NULL;
        }
        if (cs->pickle_dumps == NULL) {
            cs->pickle_dumps = dumps;
            cs->pickle_loads = loads;
        } else {
            Py_DECREF(dumps);
            Py_DECREF(loads);
        }
    }
    PyObject *protocol = PyLong_FromLong(4);
    if (protocol == NULL)
        return NULL;
    PyObject *args[2] = {v, protocol};
    PyObject *data = PyObject_Vectorcall(cs->pickle_dumps, args, 2, NULL);
    Py_DECREF(protocol);
    if (data != NULL && !PyBytes_Check(data)) {
        Py_DECREF(data);
        PyErr_SetString(PyExc_TypeError, "pickle.dumps() did not return bytes");
        return NULL;
    }
    return data;
}

/*
 * The fallback of every position: {"pickle": base64(pickle.dumps(v, 4))}.
 * A value that cannot be pickled raises TypeError naming its class and
 * path, with the pickling error as its cause. 0 or -1.
 */
static int enc_pickle(struct enc *e, PyObject *v, struct sm_jw *w, const struct path_seg *p)
{
    PyObject *data = pickle_dumps(e->cs, v);
    if (data == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_Exception) || PyErr_ExceptionMatches(PyExc_MemoryError))
            return -1;
        PyObject *type, *cause, *tb;
        PyErr_Fetch(&type, &cause, &tb);
        PyErr_NormalizeException(&type, &cause, &tb);
        if (tb != NULL && cause != NULL)
            PyException_SetTraceback(cause, tb);
        PyObject *reason = cause ? PyObject_Str(cause) : NULL;
        PyObject *name = reason ? class_name((PyObject *)Py_TYPE(v)) : NULL;
        PyObject *where = name ? path_suffix(p) : NULL;
        if (where != NULL) {
            PyErr_Format(PyExc_TypeError,
                         "cannot store a value of type '%U'%U: it is not picklable (%U); use a "
                         "dataclass of supported types or make it picklable",
                         name, where, reason);
            if (cause != NULL) {
                PyObject *et, *ev, *etb;
                PyErr_Fetch(&et, &ev, &etb);
                PyErr_NormalizeException(&et, &ev, &etb);
                PyException_SetCause(ev, Py_NewRef(cause)); /* steals the new reference */
                PyException_SetContext(ev, Py_NewRef(cause));
                PyErr_Restore(et, ev, etb);
            }
        }
        Py_XDECREF(where);
        Py_XDECREF(name);
        Py_XDECREF(reason);
        Py_XDECREF(type);
        Py_XDECREF(cause);
        Py_XDECREF(tb);
        return -1;
    }
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "pickle");
    sm_jw_base64(w, PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data));
    sm_jw_end_object(w);
    Py_DECREF(data);
    return 0;
}

/* An exact int: a JSON integer of any size (pickled past int_max_str_digits). 0 or -1. */
static int enc_int(struct enc *e, PyObject *v, struct sm_jw *w, const struct path_seg *p)
{
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (!overflow) {
        if (x == -1 && PyErr_Occurred())
            return -1;
        jw_int(w, (int64_t)x);
        return 0;
    }
    PyObject *text = PyObject_Str(v);
    if (text == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError))
            return -1;
        PyErr_Clear(); /* more digits than sys.get_int_max_str_digits() */
        return enc_pickle(e, v, w, p);
    }
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(text, &n);
    if (u != NULL)
        sm_jw_int_text(w, u, (size_t)n);
    Py_DECREF(text);
    return u ? 0 : -1;
}

/* An exact str: a JSON string (pickled when it holds lone surrogates). 0 or -1. */
static int enc_str(struct enc *e, PyObject *v, struct sm_jw *w, const struct path_seg *p)
{
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(v, &n);
    if (u == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
            return -1;
        PyErr_Clear();
        return enc_pickle(e, v, w, p);
    }
    sm_jw_string(w, u, (size_t)n);
    return 0;
}

/* An `object` position: None, bool, exact int, finite exact float, exact str as JSON; else pickle. */
static int enc_object(struct enc *e, PyObject *v, struct sm_jw *w, const struct path_seg *p)
{
    if (v == Py_None) {
        sm_jw_null(w);
        return 0;
    }
    if (PyBool_Check(v)) {
        sm_jw_bool(w, v == Py_True);
        return 0;
    }
    if (PyLong_CheckExact(v))
        return enc_int(e, v, w, p);
    if (PyFloat_CheckExact(v) && isfinite(PyFloat_AS_DOUBLE(v))) {
        /* NaN and infinities are written as strings: here they would read back as str. */
        return jw_double(w, PyFloat_AS_DOUBLE(v));
    }
    if (PyUnicode_CheckExact(v))
        return enc_str(e, v, w, p);
    return enc_pickle(e, v, w, p);
}

static int enc(struct enc *e, PyObject *t, PyObject *v, struct sm_jw *w, const struct path_seg *p);

/*
 * 1 when v has exactly the form of t's position (no pickle fallback at its
 * top), 0 otherwise. Used to pick a Union member.
 */
static int fits_exactly(PyObject *t, PyObject *v)
{
    switch (sm_type_kind(t)) {
    case KIND_OBJECT:
        return 1;
    case KIND_NONE:
        return v == Py_None;
    case KIND_BOOL:
        return PyBool_Check(v);
    case KIND_INT:
        return PyLong_CheckExact(v);
    case KIND_FLOAT:
        return PyFloat_CheckExact(v);
    case KIND_STR:
        return PyUnicode_CheckExact(v);
    case KIND_LIST:
        return PyList_CheckExact(v);
    case KIND_TUPLE:
        return PyTuple_CheckExact(v) &&
               (sm_type_has_ellipsis(t) || PyTuple_GET_SIZE(v) == sm_type_n_args(t));
    case KIND_SET:
        return PyAnySet_CheckExact(v);
    case KIND_DICT:
        return PyDict_CheckExact(v);
    case KIND_CLASS:
    case KIND_ENUM:
    case KIND_DATACLASS:
        return (PyObject *)Py_TYPE(v) == sm_type_class(t);
    case KIND_UNION:
        return 0;
    }
    return 0;
}

/*
 * 1 when v and everything in it fit t without a pickle fallback, 0 when
 * not, -1 with an exception. Only for telling apart Union members of the
 * same container kind (Union[List[int], List[str]]).
 */
static int fits_deeply(PyObject *t, PyObject *v)
{
    enum type_kind kind = sm_type_kind(t);
    /* An instance of a subclass is encoded as itself, its type in the payload
     * (enc_dataclass()), not pickled: it fits. */
    if (kind == KIND_DATACLASS)
        return PyObject_IsInstance(v, sm_type_class(t));
    if (kind != KIND_UNION && !fits_exactly(t, v))
        return 0;
    if (kind != KIND_UNION && kind != KIND_LIST && kind != KIND_TUPLE && kind != KIND_SET &&
        kind != KIND_DICT)
        return 1;
    if (Py_EnterRecursiveCall(" while encoding a value"))
        return -1;
    int r = 1;
    PyObject *a0 = sm_type_arg(t, 0), *it = NULL, *item;
    if (a0 == NULL) {
        r = -1;
    } else if (kind == KIND_UNION) {
        r = 0;
        for (Py_ssize_t i = 0; r == 0 && i < sm_type_n_args(t); i++) {
            PyObject *m = sm_type_arg(t, i);
            r = m ? fits_deeply(m, v) : -1;
        }
    } else if (kind == KIND_LIST) {
        for (Py_ssize_t i = 0; r == 1 && i < PyList_GET_SIZE(v); i++)
            r = fits_deeply(a0, PyList_GET_ITEM(v, i));
    } else if (kind == KIND_TUPLE) {
        int ell = sm_type_has_ellipsis(t);
        for (Py_ssize_t i = 0; r == 1 && i < PyTuple_GET_SIZE(v); i++) {
            PyObject *ti = ell ? a0 : sm_type_arg(t, i);
            r = ti ? fits_deeply(ti, PyTuple_GET_ITEM(v, i)) : -1;
        }
    } else if (kind == KIND_SET) {
        it = PyObject_GetIter(v);
        if (it == NULL)
            r = -1;
        while (r == 1 && (item = PyIter_Next(it)) != NULL) {
            r = fits_deeply(a0, item);
            Py_DECREF(item);
        }
        if (r == 1 && PyErr_Occurred())
            r = -1;
        Py_XDECREF(it);
    } else {
        PyObject *a1 = sm_type_n_args(t) == 2 ? sm_type_arg(t, 1) : NULL;
        Py_ssize_t pos = 0;
        PyObject *k, *val;
        if (a1 == NULL)
            r = PyErr_Occurred() ? -1 : 0;
        while (r == 1 && PyDict_Next(v, &pos, &k, &val)) {
            r = fits_deeply(a0, k);
            if (r == 1)
                r = fits_deeply(a1, val);
        }
    }
    Py_LeaveRecursiveCall();
    return r;
}

/*
 * The member of Union type t that v is encoded under: the first member v
 * is an exact instance of (so True under Union[int, bool] is a bool), the
 * first that fits deeply when several containers fit, else the first int
 * member for a bool, or the first dataclass, enum or class v is an instance
 * of (a subclass). Returns the
 * index, -1 when none (v is then pickled), or -2 with an exception.
 */
static Py_ssize_t union_pick(PyObject *t, PyObject *v)
{
    Py_ssize_t n = sm_type_n_args(t), first = -1, n_fit = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *m = sm_type_arg(t, i);
        if (m == NULL)
            return -2;
        if (fits_exactly(m, v)) {
            if (first < 0)
                first = i;
            n_fit++;
        }
    }
    if (n_fit > 1) {
        enum type_kind k = sm_type_kind(sm_type_arg(t, first));
        if (k == KIND_LIST || k == KIND_TUPLE || k == KIND_SET || k == KIND_DICT) {
            for (Py_ssize_t i = first; i < n; i++) {
                PyObject *m = sm_type_arg(t, i);
                if (!fits_exactly(m, v))
                    continue;
                int r = fits_deeply(m, v);
                if (r < 0)
                    return -2;
                if (r)
                    return i;
            }
        }
    }
    if (first >= 0)
        return first;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *m = sm_type_arg(t, i);
        enum type_kind k = sm_type_kind(m);
        if (k == KIND_INT && PyBool_Check(v))
            return i; /* a bool cast to int stays a bool (it is one), written true/false */
        if (k != KIND_DATACLASS && k != KIND_ENUM && k != KIND_CLASS)
            continue;
        int r = PyObject_IsInstance(v, sm_type_class(m));
        if (r < 0)
            return -2;
        if (r)
            return i;
    }
    return -1;
}

/*
 * Lists of exact ints and floats are the hottest payloads. Their numbers
 * are formatted into a stack chunk and handed to the writer as one raw run
 * of comma-separated numbers ("1,2,3"), which is byte for byte what
 * writing them one at a time gives (the writer puts the comma between two
 * runs); any other element flushes the run and is encoded as usual.
 */
struct number_run {
    char buf[4096];
    size_t len;
};

static void run_flush(struct number_run *r, struct sm_jw *w)
{
    if (r->len > 0)
        sm_jw_raw(w, r->buf, r->len);
    r->len = 0;
}

/* Append text to the run (flushing first when full). */
static void run_add(struct number_run *r, struct sm_jw *w, const char *text, size_t n)
{
    if (r->len + n + 1 > sizeof(r->buf))
        run_flush(r, w);
    if (n + 1 > sizeof(r->buf)) {
        sm_jw_raw(w, text, n);
        return;
    }
    if (r->len > 0)
        r->buf[r->len++] = ',';
    memcpy(r->buf + r->len, text, n);
    r->len += n;
}

/* 1 when item was added to the run, 0 when it must be encoded as usual, -1 with an exception. */
static int run_number(struct number_run *r, struct sm_jw *w, enum type_kind kind, PyObject *item)
{
    if (kind == KIND_INT && PyLong_CheckExact(item)) {
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(item, &overflow);
        if (overflow)
            return 0;
        if (x == -1 && PyErr_Occurred())
            return -1;
        char digits[24];
        char *end = digits + sizeof(digits), *p = end;
        unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u != 0);
        if (x < 0)
            *--p = '-';
        run_add(r, w, p, (size_t)(end - p));
        return 1;
    }
    if (kind == KIND_FLOAT && PyFloat_CheckExact(item) && isfinite(PyFloat_AS_DOUBLE(item))) {
        char *text =
            PyOS_double_to_string(PyFloat_AS_DOUBLE(item), 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (text == NULL)
            return -1;
        run_add(r, w, text, strlen(text));
        PyMem_Free(text);
        return 1;
    }
    return 0;
}

static int enc_list(struct enc *e, PyObject *t, PyObject *v, struct sm_jw *w,
                    const struct path_seg *p)
{
    if (PyList_GET_SIZE(v) == 0) {
        /* No element type needed: List[Any], the type of an empty _make_list, has none. */
        sm_jw_begin_array(w);
        sm_jw_end_array(w);
        return 0;
    }
    PyObject *et = sm_type_arg(t, 0);
    if (et == NULL)
        return -1;
    if (Py_EnterRecursiveCall(" while encoding a value"))
        return -1;
    enum type_kind ek = sm_type_kind(et);
    int numbers = ek == KIND_INT || ek == KIND_FLOAT;
    struct number_run run;
    run.len = 0;
    int rc = 0;
    struct path_seg seg = {p, SEG_INDEX, 0, NULL};
    sm_jw_begin_array(w);
    /* The size is read again each time: encoding an element may run code that mutates v. */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v) && w->code == 0; i++) {
        PyObject *item = Py_NewRef(PyList_GET_ITEM(v, i));
        rc = numbers ? run_number(&run, w, ek, item) : 0;
        if (rc == 0) {
            run_flush(&run, w);
            seg.index = i;
            rc = enc(e, et, item, w, &seg);
        }
        Py_DECREF(item);
        if (rc < 0)
            break;
        rc = 0;
    }
    run_flush(&run, w);
    sm_jw_end_array(w);
    Py_LeaveRecursiveCall();
    return rc;
}

static int enc_tuple(struct enc *e, PyObject *t, PyObject *v, struct sm_jw *w,
                     const struct path_seg *p)
{
    int ell = sm_type_has_ellipsis(t);
    if (Py_EnterRecursiveCall(" while encoding a value"))
        return -1;
    int rc = 0;
    struct path_seg seg = {p, SEG_INDEX, 0, NULL};
    sm_jw_begin_array(w);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(v) && w->code == 0; i++) {
        PyObject *et = sm_type_arg(t, ell ? 0 : i);
        seg.index = i;
        rc = et ? enc(e, et, PyTuple_GET_ITEM(v, i), w, &seg) : -1;
        if (rc < 0)
            break;
    }
    sm_jw_end_array(w);
    Py_LeaveRecursiveCall();
    return rc;
}

/* Raise the error of a scratch writer. -1 when it has one, else 0. */
static int scratch_check(struct enc *e, struct sm_jw *tw)
{
    if (tw->code == 0)
        return 0;
    return raise_writer_error(e->st, tw, "a value");
}

/*
 * Encode the elements of `src` (a set, or a list of elements) or the keys
 * of its pairs (a dict, or with `pairs` a list of (key, value) tuples) into
 * the scratch buffer of this depth, with the pairs' values when vt != NULL,
 * and sort them: *out_spans (caller frees with PyMem_Free; span.idx is the
 * element's position in the iteration) and *out_n. The scratch buffer
 * stays taken (scratch_pop() after use). 0, or -1 with an exception.
 */
static int enc_sorted(struct enc *e, PyObject *kt, PyObject *vt, PyObject *src, int pairs,
                      const struct path_seg *p, struct span **out_spans, size_t *out_n)
{
    *out_spans = NULL;
    *out_n = 0;
    Py_ssize_t size = PyDict_Check(src)   ? PyDict_GET_SIZE(src)
                      : PyList_Check(src) ? PyList_GET_SIZE(src)
                                          : PySet_GET_SIZE(src);
    struct span *spans = PyMem_Malloc((size_t)(size > 0 ? size : 1) * sizeof(*spans));
    if (spans == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    struct sm_buf *b = scratch_push(e);
    if (b == NULL) {
        PyMem_Free(spans);
        return -1;
    }
    PyObject *it = NULL, *key = NULL, *value = NULL;
    Py_ssize_t pos = 0;
    size_t n = 0;
    struct sm_jw tw;
    struct path_seg seg = {p, SEG_KEY, 0, NULL};
    if (!PyDict_Check(src) && !PyList_Check(src)) {
        it = PyObject_GetIter(src);
        if (it == NULL)
            goto error;
    }
    for (;;) {
        /* The next element (key) and value, as new references. */
        if (PyDict_Check(src)) {
            PyObject *k, *v;
            if (!PyDict_Next(src, &pos, &k, &v))
                break;
            key = Py_NewRef(k);
            value = Py_NewRef(v);
        } else if (PyList_Check(src)) {
            if (pos >= PyList_GET_SIZE(src))
                break;
            PyObject *item = PyList_GET_ITEM(src, pos++);
            if (pairs) {
                key = Py_NewRef(PyTuple_GET_ITEM(item, 0));
                value = Py_NewRef(PyTuple_GET_ITEM(item, 1));
            } else {
                key = Py_NewRef(item);
            }
        } else {
            key = PyIter_Next(it);
            if (key == NULL) {
                if (PyErr_Occurred())
                    goto error;
                break;
            }
        }
        if (n == (size_t)size) {
            PyErr_SetString(PyExc_RuntimeError, "container changed size during iteration");
            goto error;
        }
        spans[n].idx = (Py_ssize_t)n;
        spans[n].off = b->len;
        sm_jw_init(&tw, b);
        if (enc(e, kt, key, &tw, p) < 0)
            goto error;
        spans[n].len = b->len - spans[n].off;
        if (scratch_check(e, &tw) < 0)
            goto error;
        spans[n].voff = spans[n].vlen = 0;
        if (vt != NULL) {
            spans[n].voff = b->len;
            sm_jw_init(&tw, b);
            seg.key = key;
            if (enc(e, vt, value, &tw, &seg) < 0)
                goto error;
            spans[n].vlen = b->len - spans[n].voff;
            if (scratch_check(e, &tw) < 0)
                goto error;
        }
        Py_CLEAR(key);
        Py_CLEAR(value);
        n++;
        if (PyDict_Check(src) && PyDict_GET_SIZE(src) != size) {
            PyErr_SetString(PyExc_RuntimeError, "dictionary changed size during iteration");
            goto error;
        }
    }
    Py_CLEAR(it);
    sort_spans(spans, n, b, vt != NULL);
    *out_spans = spans;
    *out_n = n;
    return 0;
error:
    Py_XDECREF(key);
    Py_XDECREF(value);
    Py_XDECREF(it);
    PyMem_Free(spans);
    scratch_pop(e);
    return -1;
}

/* Set[T]: an array of the elements in the order of their encoded bytes. */
static int enc_set(struct enc *e, PyObject *t, PyObject *v, struct sm_jw *w,
                   const struct path_seg *p)
{
    if (PySet_GET_SIZE(v) == 0) {
        sm_jw_begin_array(w);
        sm_jw_end_array(w);
        return 0;
    }
    PyObject *et = sm_type_arg(t, 0);
    if (et == NULL)
        return -1;
    if (Py_EnterRecursiveCall(" while encoding a value"))
        return -1;
    struct span *spans;
    size_t n;
    int rc = enc_sorted(e, et, NULL, v, 0, p, &spans, &n);
    if (rc == 0) {
        sm_jw_begin_array(w);
        for (size_t i = 0; i < n; i++)
            sm_jw_raw(w, spans[i].p, spans[i].len);
        sm_jw_end_array(w);
        PyMem_Free(spans);
        scratch_pop(e);
    }
    Py_LeaveRecursiveCall();
    return rc;
}

/* Dict[K, V]: {"items": [[k, v], ...]} in the order of the keys' encoded bytes. */
static int enc_dict(struct enc *e, PyObject *t, PyObject *v, struct sm_jw *w,
                    const struct path_seg *p)
{
    if (sm_type_n_args(t) != 2)
        return enc_pickle(e, v, w, p);
    PyObject *kt = sm_type_arg(t, 0);
    PyObject *vt = kt ? sm_type_arg(t, 1) : NULL;
    if (vt == NULL)
        return -1;
    if (Py_EnterRecursiveCall(" while encoding a value"))
        return -1;
    struct span *spans;
    size_t n;
    int rc = enc_sorted(e, kt, vt, v, 1, p, &spans, &n);
    if (rc == 0) {
        sm_jw_begin_object(w);
        sm_jw_keyz(w, "items");
        sm_jw_begin_array(w);
        for (size_t i = 0; i < n; i++) {
            sm_jw_begin_array(w);
            sm_jw_raw(w, spans[i].p, spans[i].len);
            sm_jw_raw(w, spans[i].v, spans[i].vlen);
            sm_jw_end_array(w);
        }
        sm_jw_end_array(w);
        sm_jw_end_object(w);
        PyMem_Free(spans);
        scratch_pop(e);
    }
    Py_LeaveRecursiveCall();
    return rc;
}

/* A Union below the top: {"value": v, "value_type_index": i}, or the pickle fallback. */
static int enc_union(struct enc *e, PyObject *t, PyObject *v, struct sm_jw *w,
                     const struct path_seg *p)
{
    Py_ssize_t i = union_pick(t, v);
    if (i == -2)
        return -1;
    if (i < 0)
        return enc_pickle(e, v, w, p);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "value");
    if (enc(e, sm_type_arg(t, i), v, w, p) < 0)
        return -1;
    sm_jw_keyz(w, "value_type_index");
    jw_int(w, (int64_t)i);
    sm_jw_end_object(w);
    return 0;
}

/* Compile `cls`: new reference, or NULL with an exception. */
static PyObject *compile_class(struct enc *e, PyObject *cls)
{
    return sm_type_compile(&e->st->types, cls);
}

/*
 * For a dataclass field (or any position) declared `ft` holding `fv`: the
 * Type of fv's own class when it is a subclass of a declared dataclass or
 * enum (new reference), NULL with no exception when the declared type
 * stands, or NULL with an exception.
 */
static PyObject *subclass_type(struct enc *e, PyObject *ft, PyObject *fv)
{
    enum type_kind k = sm_type_kind(ft);
    if (k != KIND_DATACLASS && k != KIND_ENUM)
        return NULL;
    PyObject *cls = sm_type_class(ft);
    if ((PyObject *)Py_TYPE(fv) == cls)
        return NULL;
    int r = PyObject_IsInstance(fv, cls);
    if (r <= 0)
        return NULL;
    PyObject *rt = compile_class(e, (PyObject *)Py_TYPE(fv));
    if (rt == NULL)
        return NULL;
    if (sm_type_kind(rt) != k) {
        Py_DECREF(rt);
        return NULL;
    }
    return rt;
}

/*
 * The parts of a dataclass instance v declared `t`: its own Type *rt (new
 * reference: t itself unless v's class is a subclass), the fields' values
 * and their encoding Types (new references, NULL where the declared field
 * type stands; `sub` marks those with a "types" entry). The arrays have
 * sm_type_n_args(*rt) slots; free with dc_parts_release(). 0 or -1.
 */
struct dc_parts {
    PyObject *rt;
    Py_ssize_t n;
    PyObject **values;
    PyObject **types; /* "types" entries: subclass Types, or NULL */
};

static void dc_parts_release(struct dc_parts *d)
{
    for (Py_ssize_t i = 0; i < d->n; i++) {
        Py_XDECREF(d->values[i]);
        Py_XDECREF(d->types[i]);
    }
    PyMem_Free(d->values);
    d->values = NULL;
    d->types = NULL;
    d->n = 0;
    Py_CLEAR(d->rt);
}

static int dc_parts_get(struct enc *e, PyObject *t, PyObject *v, struct dc_parts *d)
{
    d->rt = NULL;
    d->n = 0;
    d->values = d->types = NULL;
    if ((PyObject *)Py_TYPE(v) == sm_type_class(t)) {
        d->rt = Py_NewRef(t);
    } else {
        d->rt = compile_class(e, (PyObject *)Py_TYPE(v));
        if (d->rt == NULL)
            return -1;
        if (sm_type_kind(d->rt) != KIND_DATACLASS) {
            Py_SETREF(d->rt, Py_NewRef(t));
        }
    }
    PyObject *names = sm_type_fields(d->rt);
    if (names == NULL)
        goto error;
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    d->values = PyMem_Calloc((size_t)(2 * n + 1), sizeof(PyObject *));
    if (d->values == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    d->types = d->values + n;
    d->n = n;
    for (Py_ssize_t i = 0; i < n; i++) {
        d->values[i] = PyObject_GetAttr(v, PyTuple_GET_ITEM(names, i));
        if (d->values[i] == NULL)
            goto error;
        PyObject *ft = sm_type_arg(d->rt, i);
        if (ft == NULL)
            goto error;
        d->types[i] = subclass_type(e, ft, d->values[i]);
        if (d->types[i] == NULL && PyErr_Occurred())
            goto error;
    }
    return 0;
error:
    dc_parts_release(d);
    return -1;
}

/*
 * A dataclass: {"root_type": ser (only for a subclass of the declared
 * class), "types": {f: ser} (only fields holding a subclass of their
 * declared dataclass or enum), "values": {f: v}}.
 */
static int enc_dataclass(struct enc *e, PyObject *t, PyObject *v, struct sm_jw *w,
                         const struct path_seg *p)
{
    struct dc_parts d;
    if (dc_parts_get(e, t, v, &d) < 0)
        return -1;
    if (Py_EnterRecursiveCall(" while encoding a value")) {
        dc_parts_release(&d);
        return -1;
    }
    int rc = -1;
    PyObject *names = sm_type_fields(d.rt);
    struct type_info *info = info_of(d.rt);
    const Py_ssize_t *order = info ? field_order(d.rt, info) : NULL;
    if (order == NULL)
        goto done;
    sm_jw_begin_object(w);
    if (d.rt != t) {
        PyObject *ser = sm_codec_type_json(e->st, d.rt);
        if (ser == NULL)
            goto done;
        sm_jw_keyz(w, "root_type");
        sm_jw_raw(w, PyBytes_AS_STRING(ser), (size_t)PyBytes_GET_SIZE(ser));
    }
    int has_types = 0;
    for (Py_ssize_t k = 0; k < d.n; k++) {
        Py_ssize_t i = order[k];
        if (d.types[i] == NULL)
            continue;
        if (!has_types) {
            sm_jw_keyz(w, "types");
            sm_jw_begin_object(w);
            has_types = 1;
        }
        PyObject *ser = sm_codec_type_json(e->st, d.types[i]);
        Py_ssize_t n;
        const char *u = ser ? PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(names, i), &n) : NULL;
        if (u == NULL)
            goto done;
        sm_jw_key(w, u, (size_t)n);
        sm_jw_raw(w, PyBytes_AS_STRING(ser), (size_t)PyBytes_GET_SIZE(ser));
    }
    if (has_types)
        sm_jw_end_object(w);
    sm_jw_keyz(w, "values");
    sm_jw_begin_object(w);
    struct path_seg seg = {p, SEG_FIELD, 0, NULL};
    for (Py_ssize_t k = 0; k < d.n; k++) {
        Py_ssize_t i = order[k];
        PyObject *name = PyTuple_GET_ITEM(names, i);
        Py_ssize_t n;
        const char *u = PyUnicode_AsUTF8AndSize(name, &n);
        if (u == NULL)
            goto done;
        sm_jw_key(w, u, (size_t)n);
        seg.key = name;
        PyObject *ft = d.types[i] ? d.types[i] : sm_type_arg(d.rt, i);
        if (ft == NULL || enc(e, ft, d.values[i], w, &seg) < 0)
            goto done;
    }
    sm_jw_end_object(w);
    sm_jw_end_object(w);
    rc = 0;
done:
    Py_LeaveRecursiveCall();
    dc_parts_release(&d);
    return rc;
}

/* datetime.isoformat() (or str() for paths) as a JSON string. 0 or -1. */
static int enc_text_of(struct sm_jw *w, PyObject *text)
{
    if (text == NULL)
        return -1;
    int rc = PyUnicode_Check(text) ? jw_pystr(w, text) : -1;
    if (rc < 0 && !PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "isoformat() did not return a str");
    Py_DECREF(text);
    return rc;
}

/* 1 when a datetime round-trips through isoformat(): naive or datetime.timezone, fold 0. */
static int datetime_is_plain(struct enc *e, struct type_info *info, PyObject *v)
{
    PyObject *tz = PyObject_GetAttr(v, e->cs->str_tzinfo);
    if (tz == NULL)
        return -1;
    int plain = tz == Py_None || (info->aux != NULL && (PyObject *)Py_TYPE(tz) == info->aux);
    Py_DECREF(tz);
    if (!plain)
        return 0;
    PyObject *fold = PyObject_GetAttr(v, e->cs->str_fold);
    if (fold == NULL)
        return -1;
    int r = PyObject_IsTrue(fold);
    Py_DECREF(fold);
    return r < 0 ? -1 : !r;
}

/* Any other class: bytes, datetime, date and pathlib values by their rule; the rest pickled. */
static int enc_class(struct enc *e, PyObject *t, PyObject *v, struct sm_jw *w,
                     const struct path_seg *p)
{
    struct type_info *info = info_of(t);
    int rule = info ? class_rule(t, info) : -1;
    if (rule < 0)
        return -1;
    PyObject *cls = sm_type_class(t);
    switch ((enum class_rule)rule) {
    case RULE_BYTES:
        if (!PyBytes_CheckExact(v))
            break;
        sm_jw_base64(w, PyBytes_AS_STRING(v), (size_t)PyBytes_GET_SIZE(v));
        return 0;
    case RULE_DATETIME: {
        if ((PyObject *)Py_TYPE(v) != cls)
            break;
        int r = datetime_is_plain(e, info, v);
        if (r < 0)
            return -1;
        if (!r)
            break;
        return enc_text_of(w, PyObject_CallMethodNoArgs(v, e->cs->str_isoformat));
    }
    case RULE_DATE:
        if ((PyObject *)Py_TYPE(v) != cls)
            break;
        return enc_text_of(w, PyObject_CallMethodNoArgs(v, e->cs->str_isoformat));
    case RULE_PATH:
        if ((PyObject *)Py_TYPE(v) != cls && (PyObject *)Py_TYPE(v) != info->aux)
            break;
        return enc_text_of(w, PyObject_Str(v));
    default:
        break;
    }
    return enc_pickle(e, v, w, p);
}

/*
 * The name of an Enum member of exactly the class of t, when reading it
 * back (cls[name]) gives the member itself: new reference, NULL with no
 * exception when not (another class, a composite Flag), or NULL with one.
 */
static PyObject *enum_name(struct sm_codec_state *cs, PyObject *t, PyObject *v)
{
    PyObject *cls = sm_type_class(t);
    if ((PyObject *)Py_TYPE(v) != cls)
        return NULL;
    PyObject *name = PyObject_GetAttr(v, cs->str_name_member);
    if (name == NULL || !PyUnicode_Check(name)) {
        if (name == NULL && PyErr_ExceptionMatches(PyExc_AttributeError))
            PyErr_Clear();
        Py_XDECREF(name);
        return NULL;
    }
    PyObject *members = PyObject_GetAttr(cls, cs->str_member_map);
    PyObject *hit = members && PyDict_Check(members) ? PyDict_GetItemWithError(members, name)
                                                     : NULL; /* borrowed */
    int same = hit == v;
    Py_XDECREF(members);
    if (!same) {
        Py_CLEAR(name);
        if (PyErr_Occurred() && PyErr_ExceptionMatches(PyExc_AttributeError))
            PyErr_Clear();
    }
    return name;
}

/* An Enum member of exactly the declared class: its name. */
static int enc_enum(struct enc *e, PyObject *t, PyObject *v, struct sm_jw *w,
                    const struct path_seg *p)
{
    PyObject *name = enum_name(e->cs, t, v);
    if (name == NULL)
        return PyErr_Occurred() ? -1 : enc_pickle(e, v, w, p);
    int rc = jw_pystr(w, name);
    Py_DECREF(name);
    return rc;
}

/* Write v, declared t, into w. 0, or -1 with an exception (w may hold a partial value). */
static int enc(struct enc *e, PyObject *t, PyObject *v, struct sm_jw *w, const struct path_seg *p)
{
    switch (sm_type_kind(t)) {
    case KIND_OBJECT:
        return enc_object(e, v, w, p);
    case KIND_NONE:
        if (v != Py_None)
            break;
        sm_jw_null(w);
        return 0;
    case KIND_BOOL:
        if (!PyBool_Check(v))
            break;
        sm_jw_bool(w, v == Py_True);
        return 0;
    case KIND_INT:
        if (PyLong_CheckExact(v))
            return enc_int(e, v, w, p);
        if (!PyBool_Check(v))
            break;
        sm_jw_bool(w, v == Py_True);
        return 0;
    case KIND_FLOAT:
        if (!PyFloat_CheckExact(v))
            break;
        return jw_double(w, PyFloat_AS_DOUBLE(v));
    case KIND_STR:
        if (!PyUnicode_CheckExact(v))
            break;
        return enc_str(e, v, w, p);
    case KIND_CLASS:
        return enc_class(e, t, v, w, p);
    case KIND_ENUM:
        return enc_enum(e, t, v, w, p);
    case KIND_LIST:
        if (!PyList_CheckExact(v))
            break;
        return enc_list(e, t, v, w, p);
    case KIND_TUPLE:
        if (!fits_exactly(t, v))
            break;
        return enc_tuple(e, t, v, w, p);
    case KIND_SET:
        if (!PyAnySet_CheckExact(v))
            break;
        return enc_set(e, t, v, w, p);
    case KIND_DICT:
        if (!PyDict_CheckExact(v))
            break;
        return enc_dict(e, t, v, w, p);
    case KIND_UNION:
        return enc_union(e, t, v, w, p);
    case KIND_DATACLASS: {
        int r = PyObject_IsInstance(v, sm_type_class(t));
        if (r < 0)
            return -1;
        if (!r)
            break;
        return enc_dataclass(e, t, v, w, p);
    }
    }
    return enc_pickle(e, v, w, p);
}

/* ------------------------------------------------------------------ */
/* Summaries                                                           */
/* ------------------------------------------------------------------ */

static int sum(struct enc *e, PyObject *t, PyObject *v, struct sm_jw *w);

/* 1 once the summary is long enough that containers stop adding elements. */
static int summary_full(const struct sm_jw *w)
{
    return w->out->len > SM_CODEC_SUMMARY_SOFT_BYTES;
}

/* s + "…" (U+2026), marking a cut text: new reference; steals s. NULL with an exception. */
static PyObject *append_ellipsis(PyObject *s)
{
    PyObject *ellipsis = PyUnicode_FromString("\xe2\x80\xa6");
    PyObject *res = ellipsis ? PyUnicode_Concat(s, ellipsis) : NULL;
    Py_XDECREF(ellipsis);
    Py_DECREF(s);
    return res;
}

/* A str cut at `max_chars` characters, "…" appended when cut. 0 or -1. */
static int sum_text(struct sm_jw *w, PyObject *s, Py_ssize_t max_chars)
{
    if (PyUnicode_GET_LENGTH(s) <= max_chars)
        return jw_pystr(w, s);
    PyObject *head = PyUnicode_Substring(s, 0, max_chars);
    if (head == NULL)
        return -1;
    PyObject *cut = append_ellipsis(head);
    if (cut == NULL)
        return -1;
    int rc = jw_pystr(w, cut);
    Py_DECREF(cut);
    return rc;
}

/* {"repr": repr(v)} cut at SUMMARY_REPR_CHARS; a failing repr is described instead. 0 or -1. */
static int sum_repr(struct sm_jw *w, PyObject *v)
{
    PyObject *r = PyObject_Repr(v);
    if (r == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_Exception))
            return -1;
        PyErr_Clear();
        r = PyUnicode_FromFormat("<%s object (repr() failed)>", Py_TYPE(v)->tp_name);
        if (r == NULL)
            return -1;
    }
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "repr");
    int rc = sum_text(w, r, SUMMARY_REPR_CHARS);
    sm_jw_end_object(w);
    Py_DECREF(r);
    if (rc < 0 && PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
        PyErr_Clear(); /* a repr holding lone surrogates */
        sm_jw_begin_object(w);
        sm_jw_keyz(w, "repr");
        sm_jw_stringz(w, Py_TYPE(v)->tp_name);
        sm_jw_end_object(w);
        rc = 0;
    }
    return rc;
}

/* A str as itself, cut at SUMMARY_STR_CHARS. */
static int sum_str(struct sm_jw *w, PyObject *v)
{
    int rc = sum_text(w, v, SUMMARY_STR_CHARS);
    if (rc < 0 && PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
        PyErr_Clear();
        return sum_repr(w, v);
    }
    return rc;
}

/* An exact int as itself (ints too long for str() are described by repr fallback). */
static int sum_int(struct sm_jw *w, PyObject *v)
{
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (!overflow) {
        if (x == -1 && PyErr_Occurred())
            return -1;
        jw_int(w, (int64_t)x);
        return 0;
    }
    PyObject *text = PyObject_Str(v);
    if (text == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError))
            return -1;
        PyErr_Clear();
        return sum_repr(w, v);
    }
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(text, &n);
    if (u != NULL)
        sm_jw_int_text(w, u, (size_t)n);
    Py_DECREF(text);
    return u ? 0 : -1;
}

/* An `object` position: JSON scalars as themselves, the rest by repr. */
static int sum_object(struct sm_jw *w, PyObject *v)
{
    if (v == Py_None) {
        sm_jw_null(w);
        return 0;
    }
    if (PyBool_Check(v)) {
        sm_jw_bool(w, v == Py_True);
        return 0;
    }
    if (PyLong_CheckExact(v))
        return sum_int(w, v);
    if (PyFloat_CheckExact(v))
        return jw_double(w, PyFloat_AS_DOUBLE(v));
    if (PyUnicode_CheckExact(v))
        return sum_str(w, v);
    return sum_repr(w, v);
}

/* {"length": n, "summary": [...]} of list items (or of the sorted `order`), bounded. */
static int sum_elements(struct enc *e, PyObject *et, PyObject *items, const struct span *order,
                        size_t n_order, struct sm_jw *w)
{
    Py_ssize_t n = order ? (Py_ssize_t)n_order : PyList_GET_SIZE(items);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "length");
    jw_int(w, (int64_t)n);
    sm_jw_keyz(w, "summary");
    sm_jw_begin_array(w);
    int rc = 0;
    for (Py_ssize_t i = 0; i < n && w->code == 0; i++) {
        if (i > 0 && summary_full(w))
            break;
        if (!order && i >= PyList_GET_SIZE(items))
            break;
        PyObject *item = Py_NewRef(PyList_GET_ITEM(items, order ? order[i].idx : i));
        rc = sum(e, et, item, w);
        Py_DECREF(item);
        if (rc < 0)
            break;
    }
    sm_jw_end_array(w);
    sm_jw_end_object(w);
    return rc;
}

/* List[T] and Set[T] (sets in their payload order). */
static int sum_list_or_set(struct enc *e, PyObject *t, PyObject *v, struct sm_jw *w)
{
    Py_ssize_t count = PyList_Check(v) ? PyList_GET_SIZE(v) : PySet_GET_SIZE(v);
    PyObject *et = count > 0 ? sm_type_arg(t, 0) : t; /* t stands in: no element is summarized */
    if (et == NULL)
        return -1;
    if (Py_EnterRecursiveCall(" while summarizing a value"))
        return -1;
    int rc = -1;
    if (PyList_CheckExact(v)) {
        rc = sum_elements(e, et, v, NULL, 0, w);
    } else {
        PyObject *items = PySequence_List(v);
        struct span *spans = NULL;
        size_t n = 0;
        if (items != NULL && enc_sorted(e, et, NULL, items, 0, NULL, &spans, &n) == 0) {
            rc = sum_elements(e, et, items, spans, n, w);
            PyMem_Free(spans);
            scratch_pop(e);
        }
        Py_XDECREF(items);
    }
    Py_LeaveRecursiveCall();
    return rc;
}

static int sum_tuple(struct enc *e, PyObject *t, PyObject *v, struct sm_jw *w)
{
    int ell = sm_type_has_ellipsis(t);
    if (Py_EnterRecursiveCall(" while summarizing a value"))
        return -1;
    int rc = 0;
    sm_jw_begin_array(w);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(v) && w->code == 0; i++) {
        PyObject *et = sm_type_arg(t, ell ? 0 : i);
        rc = et ? sum(e, et, PyTuple_GET_ITEM(v, i), w) : -1;
        if (rc < 0)
            break;
    }
    sm_jw_end_array(w);
    Py_LeaveRecursiveCall();
    return rc;
}

/* Dict[K, V]: [[key summary, value summary], ...] in payload order, bounded. */
static int sum_dict(struct enc *e, PyObject *t, PyObject *v, struct sm_jw *w)
{
    if (sm_type_n_args(t) != 2)
        return sum_repr(w, v);
    PyObject *kt = sm_type_arg(t, 0);
    PyObject *vt = kt ? sm_type_arg(t, 1) : NULL;
    if (vt == NULL)
        return -1;
    if (Py_EnterRecursiveCall(" while summarizing a value"))
        return -1;
    int rc = -1;
    PyObject *items = PyDict_Items(v);
    struct span *spans = NULL;
    size_t n = 0;
    if (items != NULL && enc_sorted(e, kt, NULL, items, 1, NULL, &spans, &n) == 0) {
        rc = 0;
        sm_jw_begin_array(w);
        for (size_t i = 0; i < n && rc == 0 && w->code == 0; i++) {
            if (i > 0 && summary_full(w))
                break;
            PyObject *pair = PyList_GET_ITEM(items, spans[i].idx);
            sm_jw_begin_array(w);
            rc = sum(e, kt, PyTuple_GET_ITEM(pair, 0), w);
            if (rc == 0)
                rc = sum(e, vt, PyTuple_GET_ITEM(pair, 1), w);
            sm_jw_end_array(w);
        }
        sm_jw_end_array(w);
        PyMem_Free(spans);
        scratch_pop(e);
    }
    Py_XDECREF(items);
    Py_LeaveRecursiveCall();
    return rc;
}

/*
 * The Type a dataclass field's summary is written with when the declared
 * type is `object`: the value's own class when it compiles (so a dashboard
 * shows an int as an int), else NULL with no exception. New reference.
 */
static PyObject *object_field_type(struct enc *e, PyObject *fv)
{
    PyObject *ft = compile_class(e, (PyObject *)Py_TYPE(fv));
    if (ft == NULL) {
        if (PyErr_ExceptionMatches(PyExc_Exception))
            PyErr_Clear();
        return NULL;
    }
    if (sm_type_kind(ft) == KIND_OBJECT) {
        Py_DECREF(ft);
        return NULL;
    }
    return ft;
}

/* A dataclass: {"root_type": ser, "types": {f: ser}, "values": {f: summary}}. */
static int sum_dataclass(struct enc *e, PyObject *t, PyObject *v, struct sm_jw *w)
{
    struct dc_parts d;
    if (dc_parts_get(e, t, v, &d) < 0)
        return -1;
    if (Py_EnterRecursiveCall(" while summarizing a value")) {
        dc_parts_release(&d);
        return -1;
    }
    int rc = -1;
    PyObject *names = sm_type_fields(d.rt);
    struct type_info *info = info_of(d.rt);
    const Py_ssize_t *order = info ? field_order(d.rt, info) : NULL;
    PyObject *ser = order ? sm_codec_type_json(e->st, d.rt) : NULL;
    if (ser == NULL)
        goto done;
    /* Fields declared `object` are summarized, and typed, by their value's class. */
    for (Py_ssize_t i = 0; i < d.n; i++) {
        PyObject *ft = sm_type_arg(d.rt, i);
        if (ft == NULL)
            goto done;
        if (d.types[i] == NULL && sm_type_kind(ft) == KIND_OBJECT) {
            d.types[i] = object_field_type(e, d.values[i]);
            if (d.types[i] == NULL && PyErr_Occurred())
                goto done;
        }
    }
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "root_type");
    sm_jw_raw(w, PyBytes_AS_STRING(ser), (size_t)PyBytes_GET_SIZE(ser));
    sm_jw_keyz(w, "types");
    sm_jw_begin_object(w);
    for (Py_ssize_t k = 0; k < d.n; k++) {
        Py_ssize_t i = order[k];
        if (d.types[i] == NULL)
            continue;
        PyObject *fser = sm_codec_type_json(e->st, d.types[i]);
        Py_ssize_t n;
        const char *u = fser ? PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(names, i), &n) : NULL;
        if (u == NULL)
            goto done;
        sm_jw_key(w, u, (size_t)n);
        sm_jw_raw(w, PyBytes_AS_STRING(fser), (size_t)PyBytes_GET_SIZE(fser));
    }
    sm_jw_end_object(w);
    sm_jw_keyz(w, "values");
    sm_jw_begin_object(w);
    for (Py_ssize_t k = 0; k < d.n; k++) {
        Py_ssize_t i = order[k];
        Py_ssize_t n;
        const char *u = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(names, i), &n);
        if (u == NULL)
            goto done;
        sm_jw_key(w, u, (size_t)n);
        PyObject *ft = d.types[i] ? d.types[i] : sm_type_arg(d.rt, i);
        if (ft == NULL || sum(e, ft, d.values[i], w) < 0)
            goto done;
    }
    sm_jw_end_object(w);
    sm_jw_end_object(w);
    rc = 0;
done:
    Py_LeaveRecursiveCall();
    dc_parts_release(&d);
    return rc;
}

/* bytes: {"repr": repr(b[:256])}, "…" appended when cut. */
static int sum_bytes(struct sm_jw *w, PyObject *v)
{
    Py_ssize_t n = PyBytes_GET_SIZE(v);
    int cut = n > SUMMARY_BYTES;
    PyObject *head =
        cut ? PyBytes_FromStringAndSize(PyBytes_AS_STRING(v), SUMMARY_BYTES) : Py_NewRef(v);
    PyObject *r = head ? PyObject_Repr(head) : NULL;
    Py_XDECREF(head);
    if (r == NULL)
        return -1;
    if (cut) {
        r = append_ellipsis(r);
        if (r == NULL)
            return -1;
    }
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "repr");
    int rc = jw_pystr(w, r);
    sm_jw_end_object(w);
    Py_DECREF(r);
    return rc;
}

/* The summary of an Enum position: the name, as in the payload, else the repr. */
static int sum_enum(struct enc *e, PyObject *t, PyObject *v, struct sm_jw *w)
{
    PyObject *name = enum_name(e->cs, t, v);
    if (name == NULL)
        return PyErr_Occurred() ? -1 : sum_repr(w, v);
    int rc = sum_str(w, name);
    Py_DECREF(name);
    return rc;
}

static int sum_class(struct enc *e, PyObject *t, PyObject *v, struct sm_jw *w)
{
    struct type_info *info = info_of(t);
    int rule = info ? class_rule(t, info) : -1;
    if (rule < 0)
        return -1;
    PyObject *cls = sm_type_class(t);
    switch ((enum class_rule)rule) {
    case RULE_BYTES:
        if (!PyBytes_CheckExact(v))
            break;
        return sum_bytes(w, v);
    case RULE_DATETIME: {
        if ((PyObject *)Py_TYPE(v) != cls)
            break;
        int r = datetime_is_plain(e, info, v);
        if (r < 0)
            return -1;
        if (!r)
            break;
        return enc_text_of(w, PyObject_CallMethodNoArgs(v, e->cs->str_isoformat));
    }
    case RULE_DATE:
        if ((PyObject *)Py_TYPE(v) != cls)
            break;
        return enc_text_of(w, PyObject_CallMethodNoArgs(v, e->cs->str_isoformat));
    case RULE_PATH:
        if ((PyObject *)Py_TYPE(v) != cls && (PyObject *)Py_TYPE(v) != info->aux)
            break;
        return enc_text_of(w, PyObject_Str(v));
    default:
        break;
    }
    return sum_repr(w, v);
}

/* Write the summary of v, declared t, into w. 0, or -1 with an exception. */
static int sum(struct enc *e, PyObject *t, PyObject *v, struct sm_jw *w)
{
    switch (sm_type_kind(t)) {
    case KIND_OBJECT:
        return sum_object(w, v);
    case KIND_NONE:
    case KIND_BOOL:
    case KIND_INT:
    case KIND_FLOAT:
    case KIND_STR:
        if (!fits_exactly(t, v) && !(sm_type_kind(t) == KIND_INT && PyBool_Check(v)))
            break;
        return sum_object(w, v);
    case KIND_CLASS:
        return sum_class(e, t, v, w);
    case KIND_ENUM:
        return sum_enum(e, t, v, w);
    case KIND_LIST:
    case KIND_SET:
        if (!fits_exactly(t, v))
            break;
        return sum_list_or_set(e, t, v, w);
    case KIND_TUPLE:
        if (!fits_exactly(t, v))
            break;
        return sum_tuple(e, t, v, w);
    case KIND_DICT:
        if (!PyDict_CheckExact(v))
            break;
        return sum_dict(e, t, v, w);
    case KIND_UNION: {
        Py_ssize_t i = union_pick(t, v);
        if (i == -2)
            return -1;
        if (i < 0)
            break;
        return sum(e, sm_type_arg(t, i), v, w);
    }
    case KIND_DATACLASS: {
        int r = PyObject_IsInstance(v, sm_type_class(t));
        if (r < 0)
            return -1;
        if (!r)
            break;
        return sum_dataclass(e, t, v, w);
    }
    }
    return sum_repr(w, v);
}

/* ------------------------------------------------------------------ */
/* sm_codec_encode                                                     */
/* ------------------------------------------------------------------ */

void sm_encoded_init(struct sm_encoded *out)
{
    sm_buf_init(&out->type_json, SM_CODEC_TYPE_MAX_BYTES);
    sm_buf_init(&out->value_json, SM_CODEC_VALUE_MAX_BYTES);
    sm_buf_init(&out->summary_json, SM_CODEC_SUMMARY_MAX_BYTES);
    out->id[0] = '\0';
}

void sm_encoded_release(struct sm_encoded *out)
{
    if (out == NULL)
        return;
    sm_buf_release(&out->type_json);
    sm_buf_release(&out->value_json);
    sm_buf_release(&out->summary_json);
    out->id[0] = '\0';
}

/* SHA-256 of type_json + "\n" + value_json into out->id. Touches no Python object. */
static void hash_encoded(struct sm_encoded *out)
{
    struct sm_sha256 h;
    uint8_t digest[SM_SHA256_LEN];
    sm_sha256_init(&h);
    sm_sha256_update(&h, out->type_json.data, out->type_json.len);
    sm_sha256_update(&h, "\n", 1);
    sm_sha256_update(&h, out->value_json.data, out->value_json.len);
    sm_sha256_final(&h, digest);
    sm_hex(digest, SM_SHA256_LEN, out->id);
}

/* 1 for the kinds whose summary is their value JSON (strings up to SUMMARY_STR_CHARS). */
static int is_scalar_kind(enum type_kind k)
{
    return k == KIND_OBJECT || k == KIND_NONE || k == KIND_BOOL || k == KIND_INT ||
           k == KIND_FLOAT || k == KIND_STR;
}

/*
 * How the summary of `v`, a value of t whose payload is `value`, can be had
 * without walking the value again: SUMMARY_PAYLOAD when it is the payload
 * itself (a scalar, a tuple of scalars), SUMMARY_LIST when it is {"length":
 * n, "summary": payload} (a list or set of scalars), SUMMARY_DATACLASS when
 * it is {"root_type": ser, "types": {}, "values": <the payload's values>}
 * (a dataclass of scalars, not `object`, of exactly its class),
 * SUMMARY_DICT when it is the payload's items (a dict of scalars), else
 * SUMMARY_WALK. Each is exactly what sum() would write: a payload without
 * '{' (past the dataclass's own) holds no pickle fallback; one of at most
 * SUMMARY_STR_CHARS bytes holds no string to cut; a list payload this short
 * is below the summary's soft bound.
 */
enum summary_form { SUMMARY_WALK, SUMMARY_PAYLOAD, SUMMARY_LIST, SUMMARY_DICT, SUMMARY_DATACLASS };

static enum summary_form summary_form(PyObject *t, PyObject *v, const struct sm_buf *value)
{
    static const char values_key[] = "{\"values\":{", items_key[] = "{\"items\":[";
    const size_t values_len = sizeof(values_key) - 1, items_len = sizeof(items_key) - 1;
    enum type_kind k = sm_type_kind(t);
    enum summary_form form = SUMMARY_PAYLOAD;
    size_t skip = 0;
    Py_ssize_t n = 0;
    int has_text = k == KIND_STR || k == KIND_OBJECT;
    if (k == KIND_TUPLE || k == KIND_LIST || k == KIND_SET) {
        form = k == KIND_TUPLE ? SUMMARY_PAYLOAD : SUMMARY_LIST;
        n = k == KIND_TUPLE && !sm_type_has_ellipsis(t) ? sm_type_n_args(t) : 1;
    } else if (k == KIND_DATACLASS) {
        if ((PyObject *)Py_TYPE(v) != sm_type_class(t) || value->len < values_len ||
            memcmp(value->data, values_key, values_len) != 0)
            return SUMMARY_WALK;
        form = SUMMARY_DATACLASS;
        skip = values_len;
        n = sm_type_n_args(t);
    } else if (k == KIND_DICT) {
        if (sm_type_n_args(t) != 2 || value->len < items_len ||
            memcmp(value->data, items_key, items_len) != 0)
            return SUMMARY_WALK;
        form = SUMMARY_DICT;
        skip = items_len;
        n = 2;
    } else if (!is_scalar_kind(k)) {
        return SUMMARY_WALK;
    }
    if (memchr(value->data + skip, '{', value->len - skip) != NULL)
        return SUMMARY_WALK;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *et = sm_type_arg(t, i);
        if (et == NULL) {
            PyErr_Clear();
            return SUMMARY_WALK;
        }
        enum type_kind ek = sm_type_kind(et);
        if (!is_scalar_kind(ek) || (form == SUMMARY_DATACLASS && ek == KIND_OBJECT))
            return SUMMARY_WALK;
        has_text |= ek == KIND_STR || ek == KIND_OBJECT;
    }
    size_t limit = has_text ? SUMMARY_STR_CHARS : SM_CODEC_SUMMARY_SOFT_BYTES - 64;
    return value->len <= limit ? form : SUMMARY_WALK;
}

/* Write the summary of value into out->summary_json; a summary over its cap is replaced. */
static int encode_summary(struct enc *e, PyObject *t, PyObject *value, struct sm_encoded *out)
{
    struct sm_buf *b = &out->summary_json;
    const struct sm_buf *payload = &out->value_json;
    struct sm_jw w;
    enum summary_form form = summary_form(t, value, payload);
    if (form == SUMMARY_PAYLOAD || form == SUMMARY_DICT) {
        /* A dict's payload is {"items":[...]}: its summary is the array. */
        size_t skip = form == SUMMARY_DICT ? 9 : 0, drop = form == SUMMARY_DICT ? 1 : 0;
        if (sm_buf_add(b, payload->data + skip, payload->len - skip - drop) == 0)
            return 0;
    } else if (form != SUMMARY_WALK) {
        sm_jw_init(&w, b);
        sm_jw_begin_object(&w);
        if (form == SUMMARY_LIST) {
            sm_jw_keyz(&w, "length");
            jw_int(&w,
                   (int64_t)(PyList_Check(value) ? PyList_GET_SIZE(value) : PySet_GET_SIZE(value)));
            sm_jw_keyz(&w, "summary");
            sm_jw_raw(&w, payload->data, payload->len);
        } else {
            PyObject *ser = sm_codec_type_json(e->st, t);
            if (ser == NULL)
                return -1;
            sm_jw_keyz(&w, "root_type");
            sm_jw_raw(&w, PyBytes_AS_STRING(ser), (size_t)PyBytes_GET_SIZE(ser));
            sm_jw_keyz(&w, "types");
            sm_jw_begin_object(&w);
            sm_jw_end_object(&w);
            /* The payload is {"values":{...}}: its inner object, without the outer braces. */
            sm_jw_keyz(&w, "values");
            sm_jw_raw(&w, payload->data + 10, payload->len - 11);
        }
        sm_jw_end_object(&w);
        struct sm_err err = SM_ERR_INIT;
        if (sm_jw_finish(&w, &err) == 0)
            return 0;
    }
    sm_buf_reset(b);
    sm_jw_init(&w, b);
    if (sum(e, t, value, &w) < 0)
        return -1;
    struct sm_err err = SM_ERR_INIT;
    if (w.code == 0 && sm_jw_finish(&w, &err) == 0)
        return 0;
    if (w.code != SM_ETOOBIG)
        return raise_writer_error(e->st, &w, "a summary");
    /* Bounded lists and strings make this rare: a huge tuple or dataclass of them. */
    sm_buf_reset(&out->summary_json);
    sm_jw_init(&w, &out->summary_json);
    sm_jw_begin_object(&w);
    sm_jw_keyz(&w, "repr");
    sm_jw_stringz(&w, "<summary larger than 1 MiB left out>");
    sm_jw_end_object(&w);
    if (sm_jw_finish(&w, &err) != 0)
        return raise_writer_error(e->st, &w, "a summary");
    return 0;
}

int sm_codec_encode(struct sm_py_state *st, PyObject *type, PyObject *value, struct sm_encoded *out)
{
    struct enc e = {st, &st->codec, NULL, 0, 0};
    sm_buf_reset(&out->type_json);
    sm_buf_reset(&out->value_json);
    sm_buf_reset(&out->summary_json);
    out->id[0] = '\0';
    PyObject *t = type;
    if (sm_type_kind(type) == KIND_UNION) {
        /* The artifact's type is the member the value matched (Sematic's make_artifact). */
        Py_ssize_t i = union_pick(type, value);
        if (i == -2)
            goto error;
        if (i >= 0)
            t = sm_type_arg(type, i);
    }
    PyObject *ser = sm_codec_type_json(st, t);
    if (ser == NULL)
        goto error;
    if (sm_buf_add(&out->type_json, PyBytes_AS_STRING(ser), (size_t)PyBytes_GET_SIZE(ser)) != 0) {
        sm_py_raise(st, SM_ETOOBIG, "cannot encode a type: its serialization is too long");
        goto error;
    }
    struct sm_jw w;
    sm_jw_init(&w, &out->value_json);
    if (enc(&e, t, value, &w, NULL) < 0)
        goto error;
    struct sm_err err = SM_ERR_INIT;
    if (w.code != 0 || sm_jw_finish(&w, &err) != 0) {
        raise_writer_error(st, &w, "a value");
        goto error;
    }
    if (encode_summary(&e, t, value, out) < 0)
        goto error;
    enc_release(&e);
    if (out->type_json.len + out->value_json.len >= HASH_NOGIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS hash_encoded(out);
        Py_END_ALLOW_THREADS
    } else {
        hash_encoded(out);
    }
    return 0;
error:
    enc_release(&e);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

struct dec {
    struct sm_py_state *st;
    struct sm_codec_state *cs;
};

static const char *json_kind_name(const struct sm_json *j)
{
    if (j == NULL)
        return "nothing";
    switch (j->kind) {
    case SM_JSON_NULL:
        return "null";
    case SM_JSON_BOOL:
        return "a boolean";
    case SM_JSON_NUMBER:
        return "a number";
    case SM_JSON_STRING:
        return "a string";
    case SM_JSON_ARRAY:
        return "an array";
    case SM_JSON_OBJECT:
        return "an object";
    }
    return "something else";
}

/* ValueError "cannot decode artifact: expected <what> for <type>[ at <path>], got <kind>". */
static PyObject *dec_fail(PyObject *t, const struct sm_json *j, const struct path_seg *p,
                          const char *expected)
{
    PyObject *name = annotation_text(sm_type_annotation(t));
    PyObject *where = name ? path_suffix(p) : NULL;
    if (where != NULL)
        PyErr_Format(PyExc_ValueError, "cannot decode artifact: expected %s for %U%U, got %s",
                     expected, name, where, json_kind_name(j));
    Py_XDECREF(name);
    Py_XDECREF(where);
    return NULL;
}

/* ValueError about the type serialization itself. */
static PyObject *dec_type_fail(const struct sm_json *j, const char *expected)
{
    PyErr_Format(PyExc_ValueError, "cannot decode artifact type: expected %s, got %s", expected,
                 json_kind_name(j));
    return NULL;
}

static int json_is_str(const struct sm_json *j, const char *s)
{
    size_t n = strlen(s);
    return j != NULL && j->kind == SM_JSON_STRING && j->len == n && memcmp(j->str, s, n) == 0;
}

/* Member `key` (len bytes) of object j, or NULL; the last duplicate wins, as in sm_json_get. */
static const struct sm_json *json_member(const struct sm_json *j, const char *key, size_t len)
{
    if (j == NULL || j->kind != SM_JSON_OBJECT)
        return NULL;
    for (size_t i = j->n_items; i-- > 0;)
        if (j->items[i].key_len == len && memcmp(j->items[i].key, key, len) == 0)
            return &j->items[i];
    return NULL;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Base64 (RFC 4648, padded) to bytes: new reference, or NULL with *bad set and no exception. */
static PyObject *b64_decode(const char *s, size_t n, int *bad)
{
    *bad = 0;
    if (n % 4 != 0) {
        *bad = 1;
        return NULL;
    }
    size_t pad = 0;
    if (n >= 1 && s[n - 1] == '=')
        pad++;
    if (n >= 2 && s[n - 2] == '=')
        pad++;
    size_t out_len = n / 4 * 3 - pad;
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)out_len);
    if (bytes == NULL)
        return NULL;
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(bytes);
    size_t k = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int q = 0; q < 4; q++) {
            unsigned char c = (unsigned char)s[i + q];
            v[q] = c == '=' && i + 4 == n && q >= 4 - (int)pad ? 0 : b64_value(c);
            if (v[q] < 0) {
                Py_DECREF(bytes);
                *bad = 1;
                return NULL;
            }
        }
        uint32_t x =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        unsigned char three[3] = {(unsigned char)(x >> 16), (unsigned char)(x >> 8),
                                  (unsigned char)x};
        for (int q = 0; q < 3 && k < out_len; q++)
            o[k++] = three[q];
    }
    return bytes;
}

/* 1 when j is {"pickle": "<base64>"}, the fallback of every position. */
static int is_pickle(const struct sm_json *j)
{
    return j->kind == SM_JSON_OBJECT && j->n_items == 1 && j->items[0].key_len == 6 &&
           memcmp(j->items[0].key, "pickle", 6) == 0 && j->items[0].kind == SM_JSON_STRING;
}

static PyObject *dec_unpickle(struct dec *d, PyObject *t, const struct sm_json *j,
                              const struct path_seg *p)
{
    const struct sm_json *s = &j->items[0];
    int bad;
    PyObject *data = b64_decode(s->str, s->len, &bad);
    if (data == NULL)
        return bad ? dec_fail(t, s, p, "base64 text under \"pickle\"") : NULL;
    if (d->cs->pickle_loads == NULL) {
        PyObject *probe = pickle_dumps(d->cs, Py_None); /* imports pickle */
        if (probe == NULL) {
            Py_DECREF(data);
            return NULL;
        }
        Py_DECREF(probe);
    }
    PyObject *v = PyObject_CallOneArg(d->cs->pickle_loads, data);
    Py_DECREF(data);
    return v;
}

/* 1 when a JSON number's text is an integer (no fraction, no exponent). */
static int number_is_integer(const struct sm_json *j)
{
    for (size_t i = 0; i < j->len; i++)
        if (j->str[i] == '.' || j->str[i] == 'e' || j->str[i] == 'E')
            return 0;
    return 1;
}

/* An integer from its JSON text, of any size. New reference, or NULL with an exception. */
static PyObject *dec_integer(const struct sm_json *j)
{
    if (j->len > 0 && j->len <= 18) {
        long long x = 0;
        size_t i = j->str[0] == '-';
        int ok = i < j->len;
        for (; ok && i < j->len; i++) {
            if (j->str[i] < '0' || j->str[i] > '9')
                ok = 0;
            else
                x = x * 10 + (j->str[i] - '0');
        }
        if (ok)
            return PyLong_FromLongLong(j->str[0] == '-' ? -x : x);
    }
    char small[64];
    char *text = j->len < sizeof(small) ? small : PyMem_Malloc(j->len + 1);
    if (text == NULL)
        return PyErr_NoMemory();
    memcpy(text, j->str, j->len);
    text[j->len] = '\0';
    PyObject *v = PyLong_FromString(text, NULL, 10);
    if (text != small)
        PyMem_Free(text);
    return v;
}

/* A float from a JSON number or one of the strings "NaN", "Infinity", "-Infinity". */
static PyObject *dec_float(PyObject *t, const struct sm_json *j, const struct path_seg *p)
{
    if (j->kind == SM_JSON_NUMBER)
        return PyFloat_FromDouble(j->num);
    if (json_is_str(j, "NaN"))
        return PyFloat_FromDouble(NAN);
    if (json_is_str(j, "Infinity"))
        return PyFloat_FromDouble(INFINITY);
    if (json_is_str(j, "-Infinity"))
        return PyFloat_FromDouble(-INFINITY);
    return dec_fail(t, j, p, "a number");
}

static PyObject *dec_str(const struct sm_json *j)
{
    return PyUnicode_DecodeUTF8(j->str, (Py_ssize_t)j->len, "strict");
}

/* An `object` position: JSON scalars (ints and floats told apart by their text). */
static PyObject *dec_object(PyObject *t, const struct sm_json *j, const struct path_seg *p)
{
    switch (j->kind) {
    case SM_JSON_NULL:
        Py_RETURN_NONE;
    case SM_JSON_BOOL:
        return PyBool_FromLong(j->boolean);
    case SM_JSON_NUMBER:
        return number_is_integer(j) ? dec_integer(j) : PyFloat_FromDouble(j->num);
    case SM_JSON_STRING:
        return dec_str(j);
    default:
        return dec_fail(t, j, p, "a JSON scalar or {\"pickle\": ...}");
    }
}

static PyObject *dec(struct dec *d, PyObject *t, const struct sm_json *j, const struct path_seg *p);
static PyObject *dec_type_node(struct dec *d, const struct sm_json *j);

static PyObject *dec_list_or_set(struct dec *d, PyObject *t, const struct sm_json *j,
                                 const struct path_seg *p)
{
    if (j->kind != SM_JSON_ARRAY)
        return dec_fail(t, j, p, "an array");
    PyObject *et = j->n_items > 0 ? sm_type_arg(t, 0) : t; /* t stands in: nothing to decode */
    if (et == NULL)
        return NULL;
    int is_set = sm_type_kind(t) == KIND_SET;
    PyObject *res = is_set ? PySet_New(NULL) : PyList_New((Py_ssize_t)j->n_items);
    if (res == NULL)
        return NULL;
    if (Py_EnterRecursiveCall(" while decoding a value")) {
        Py_DECREF(res);
        return NULL;
    }
    struct path_seg seg = {p, SEG_INDEX, 0, NULL};
    for (size_t i = 0; i < j->n_items; i++) {
        seg.index = (Py_ssize_t)i;
        PyObject *item = dec(d, et, &j->items[i], is_set ? p : &seg);
        if (item == NULL) {
            Py_CLEAR(res);
            break;
        }
        if (is_set) {
            int rc = PySet_Add(res, item);
            Py_DECREF(item);
            if (rc < 0) {
                Py_CLEAR(res);
                break;
            }
        } else {
            PyList_SET_ITEM(res, (Py_ssize_t)i, item); /* steals item */
        }
    }
    Py_LeaveRecursiveCall();
    return res;
}

static PyObject *dec_tuple(struct dec *d, PyObject *t, const struct sm_json *j,
                           const struct path_seg *p)
{
    if (j->kind != SM_JSON_ARRAY)
        return dec_fail(t, j, p, "an array");
    int ell = sm_type_has_ellipsis(t);
    if (!ell && (Py_ssize_t)j->n_items != sm_type_n_args(t)) {
        char what[64];
        snprintf(what, sizeof(what), "an array of %zd elements", sm_type_n_args(t));
        return dec_fail(t, j, p, what);
    }
    PyObject *res = PyTuple_New((Py_ssize_t)j->n_items);
    if (res == NULL)
        return NULL;
    if (Py_EnterRecursiveCall(" while decoding a value")) {
        Py_DECREF(res);
        return NULL;
    }
    struct path_seg seg = {p, SEG_INDEX, 0, NULL};
    for (size_t i = 0; i < j->n_items; i++) {
        PyObject *et = sm_type_arg(t, ell ? 0 : (Py_ssize_t)i);
        seg.index = (Py_ssize_t)i;
        PyObject *item = et ? dec(d, et, &j->items[i], &seg) : NULL;
        if (item == NULL) {
            Py_CLEAR(res);
            break;
        }
        PyTuple_SET_ITEM(res, (Py_ssize_t)i, item); /* steals item */
    }
    Py_LeaveRecursiveCall();
    return res;
}

static PyObject *dec_dict(struct dec *d, PyObject *t, const struct sm_json *j,
                          const struct path_seg *p)
{
    const struct sm_json *items = sm_json_get(j, "items");
    if (items == NULL || items->kind != SM_JSON_ARRAY)
        return dec_fail(t, items ? items : j, p, "{\"items\": [[key, value], ...]}");
    if (sm_type_n_args(t) != 2)
        return dec_fail(t, j, p, "{\"pickle\": ...} (the dict type has no key and value types)");
    PyObject *kt = sm_type_arg(t, 0);
    PyObject *vt = kt ? sm_type_arg(t, 1) : NULL;
    if (vt == NULL)
        return NULL;
    PyObject *res = PyDict_New();
    if (res == NULL)
        return NULL;
    if (Py_EnterRecursiveCall(" while decoding a value")) {
        Py_DECREF(res);
        return NULL;
    }
    struct path_seg seg = {p, SEG_KEY, 0, NULL};
    for (size_t i = 0; i < items->n_items; i++) {
        const struct sm_json *pair = &items->items[i];
        if (pair->kind != SM_JSON_ARRAY || pair->n_items != 2) {
            dec_fail(t, pair, p, "a [key, value] pair");
            Py_CLEAR(res);
            break;
        }
        PyObject *k = dec(d, kt, &pair->items[0], p);
        if (k == NULL) {
            Py_CLEAR(res);
            break;
        }
        seg.key = k;
        PyObject *v = dec(d, vt, &pair->items[1], &seg);
        int rc = v ? PyDict_SetItem(res, k, v) : -1;
        Py_DECREF(k);
        Py_XDECREF(v);
        if (rc < 0) {
            Py_CLEAR(res);
            break;
        }
    }
    Py_LeaveRecursiveCall();
    return res;
}

static PyObject *dec_union(struct dec *d, PyObject *t, const struct sm_json *j,
                           const struct path_seg *p)
{
    const struct sm_json *value = sm_json_get(j, "value");
    const struct sm_json *index = sm_json_get(j, "value_type_index");
    if (value == NULL || index == NULL || index->kind != SM_JSON_NUMBER ||
        !number_is_integer(index))
        return dec_fail(t, j, p, "{\"value\": ..., \"value_type_index\": i}");
    double i = index->num;
    if (i < 0 || i >= (double)sm_type_n_args(t)) {
        char what[96];
        snprintf(what, sizeof(what), "a value_type_index below %zd", sm_type_n_args(t));
        return dec_fail(t, index, p, what);
    }
    PyObject *m = sm_type_arg(t, (Py_ssize_t)i);
    return m ? dec(d, m, value, p) : NULL;
}

/*
 * The names of the init=False fields of a dataclass Type (set after the
 * constructor runs): borrowed tuple from the module's cache, or NULL with
 * an exception.
 */
static PyObject *noinit_names(struct dec *d, PyObject *rt)
{
    PyObject *cls = sm_type_class(rt);
    PyObject *hit = PyDict_GetItemWithError(d->cs->noinit, cls); /* borrowed */
    if (hit != NULL || PyErr_Occurred())
        return hit;
    PyObject *names = sm_type_fields(rt);
    if (names == NULL)
        return NULL;
    PyObject *fields = PyObject_GetAttr(cls, d->cs->str_dataclass_fields);
    PyObject *list = fields ? PyList_New(0) : NULL, *tuple = NULL;
    if (list == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        PyObject *field = PyObject_GetItem(fields, name);
        PyObject *init = field ? PyObject_GetAttr(field, d->cs->str_init) : NULL;
        Py_XDECREF(field);
        int r = init ? PyObject_IsTrue(init) : -1;
        Py_XDECREF(init);
        if (r < 0 || (r == 0 && PyList_Append(list, name) < 0))
            goto done;
    }
    tuple = PyList_AsTuple(list);
    if (tuple != NULL && PyDict_SetItem(d->cs->noinit, cls, tuple) < 0)
        Py_CLEAR(tuple);
done:
    Py_XDECREF(list);
    Py_XDECREF(fields);
    if (tuple == NULL)
        return NULL;
    Py_DECREF(tuple); /* the cache holds it */
    return tuple;
}

static PyObject *dec_dataclass(struct dec *d, PyObject *t, const struct sm_json *j,
                               const struct path_seg *p)
{
    const struct sm_json *values = sm_json_get(j, "values");
    if (values == NULL || values->kind != SM_JSON_OBJECT)
        return dec_fail(t, values ? values : j, p, "{\"values\": {field: value, ...}}");
    const struct sm_json *root = sm_json_get(j, "root_type");
    const struct sm_json *types = sm_json_get(j, "types");
    PyObject *rt = NULL, *kwargs = NULL, *late = NULL, *res = NULL, *ft_owned = NULL;
    PyObject *val = NULL;
    if (root != NULL && root->kind != SM_JSON_NULL) {
        rt = dec_type_node(d, root);
        if (rt == NULL)
            goto done;
        int r = sm_type_kind(rt) == KIND_DATACLASS
                    ? PyObject_IsSubclass(sm_type_class(rt), sm_type_class(t))
                    : 0;
        if (r < 0)
            goto done;
        if (!r) {
            PyErr_Format(PyExc_TypeError,
                         "Serialized value was a %R, could not deserialize to a %R",
                         sm_type_annotation(rt), sm_type_annotation(t));
            goto done;
        }
    } else {
        rt = Py_NewRef(t);
    }
    PyObject *names = sm_type_fields(rt);
    PyObject *noinit = names ? noinit_names(d, rt) : NULL;
    kwargs = noinit ? PyDict_New() : NULL;
    if (kwargs == NULL)
        goto done;
    if (Py_EnterRecursiveCall(" while decoding a value"))
        goto done;
    struct path_seg seg = {p, SEG_FIELD, 0, NULL};
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        Py_ssize_t n;
        const char *u = PyUnicode_AsUTF8AndSize(name, &n);
        if (u == NULL)
            break;
        const struct sm_json *member = json_member(values, u, (size_t)n);
        if (member == NULL)
            continue; /* written by an older version of the class: its default applies */
        const struct sm_json *tnode = json_member(types, u, (size_t)n);
        PyObject *ft;
        if (tnode != NULL) {
            ft = ft_owned = dec_type_node(d, tnode);
        } else {
            ft = sm_type_arg(rt, i);
        }
        seg.key = name;
        val = ft ? dec(d, ft, member, &seg) : NULL;
        Py_CLEAR(ft_owned);
        if (val == NULL)
            break;
        int is_late = PySequence_Contains(noinit, name);
        int rc;
        if (is_late < 0) {
            rc = -1;
        } else if (is_late) {
            if (late == NULL)
                late = PyList_New(0);
            PyObject *pair = late ? PyTuple_Pack(2, name, val) : NULL;
            rc = pair ? PyList_Append(late, pair) : -1;
            Py_XDECREF(pair);
        } else {
            rc = PyDict_SetItem(kwargs, name, val);
        }
        Py_CLEAR(val);
        if (rc < 0)
            break;
    }
    Py_LeaveRecursiveCall();
    if (PyErr_Occurred())
        goto done;
    PyObject *empty = PyTuple_New(0);
    res = empty ? PyObject_Call(sm_type_class(rt), empty, kwargs) : NULL;
    Py_XDECREF(empty);
    for (Py_ssize_t i = 0; res != NULL && late != NULL && i < PyList_GET_SIZE(late); i++) {
        PyObject *pair = PyList_GET_ITEM(late, i);
        if (PyObject_GenericSetAttr(res, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1)) < 0)
            Py_CLEAR(res);
    }
done:
    Py_XDECREF(val);
    Py_XDECREF(late);
    Py_XDECREF(kwargs);
    Py_XDECREF(rt);
    return res;
}

static PyObject *dec_enum(struct dec *d, PyObject *t, const struct sm_json *j,
                          const struct path_seg *p)
{
    (void)d;
    if (j->kind != SM_JSON_STRING)
        return dec_fail(t, j, p, "a member name");
    /* Sematic's reader takes the part after the last '.', as in "Color.RED". */
    const char *name = j->str;
    const char *dot = memchr(name, '.', j->len);
    while (dot != NULL) {
        name = dot + 1;
        dot = memchr(name, '.', j->len - (size_t)(name - j->str));
    }
    PyObject *key =
        PyUnicode_DecodeUTF8(name, (Py_ssize_t)(j->len - (size_t)(name - j->str)), "strict");
    if (key == NULL)
        return NULL;
    PyObject *cls = sm_type_class(t);
    PyObject *member = PyObject_GetItem(cls, key);
    if (member == NULL && PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_Clear();
        PyObject *cname = PyObject_GetAttrString(cls, "__name__");
        if (cname != NULL)
            PyErr_Format(PyExc_ValueError, "The type %U has no value '%U'", cname, key);
        Py_XDECREF(cname);
    }
    Py_DECREF(key);
    return member;
}

static PyObject *dec_class(struct dec *d, PyObject *t, const struct sm_json *j,
                           const struct path_seg *p)
{
    struct type_info *info = info_of(t);
    int rule = info ? class_rule(t, info) : -1;
    if (rule < 0)
        return NULL;
    PyObject *cls = sm_type_class(t);
    if (rule == RULE_PICKLE)
        return dec_fail(t, j, p, "{\"pickle\": ...}");
    if (j->kind != SM_JSON_STRING)
        return dec_fail(t, j, p, rule == RULE_BYTES ? "base64 text" : "a string");
    if (rule == RULE_BYTES) {
        int bad;
        PyObject *b = b64_decode(j->str, j->len, &bad);
        return b || !bad ? b : dec_fail(t, j, p, "base64 text");
    }
    PyObject *s = dec_str(j);
    if (s == NULL)
        return NULL;
    PyObject *v = rule == RULE_PATH ? PyObject_CallOneArg(cls, s)
                                    : PyObject_CallMethodOneArg(cls, d->cs->str_fromisoformat, s);
    Py_DECREF(s);
    return v;
}

/* The value of JSON j declared t: new reference, or NULL with an exception. */
static PyObject *dec(struct dec *d, PyObject *t, const struct sm_json *j, const struct path_seg *p)
{
    if (j->kind == SM_JSON_OBJECT && is_pickle(j))
        return dec_unpickle(d, t, j, p);
    switch (sm_type_kind(t)) {
    case KIND_OBJECT:
        return dec_object(t, j, p);
    case KIND_NONE:
        if (j->kind != SM_JSON_NULL)
            return dec_fail(t, j, p, "null");
        Py_RETURN_NONE;
    case KIND_BOOL:
        if (j->kind != SM_JSON_BOOL)
            return dec_fail(t, j, p, "a boolean");
        return PyBool_FromLong(j->boolean);
    case KIND_INT:
        if (j->kind == SM_JSON_BOOL)
            return PyBool_FromLong(j->boolean);
        if (j->kind != SM_JSON_NUMBER || !number_is_integer(j))
            return dec_fail(t, j, p, "an integer");
        return dec_integer(j);
    case KIND_FLOAT:
        return dec_float(t, j, p);
    case KIND_STR:
        if (j->kind != SM_JSON_STRING)
            return dec_fail(t, j, p, "a string");
        return dec_str(j);
    case KIND_CLASS:
        return dec_class(d, t, j, p);
    case KIND_ENUM:
        return dec_enum(d, t, j, p);
    case KIND_LIST:
    case KIND_SET:
        return dec_list_or_set(d, t, j, p);
    case KIND_TUPLE:
        return dec_tuple(d, t, j, p);
    case KIND_DICT:
        return dec_dict(d, t, j, p);
    case KIND_UNION:
        return dec_union(d, t, j, p);
    case KIND_DATACLASS:
        return dec_dataclass(d, t, j, p);
    }
    PyErr_SetString(PyExc_SystemError, "unknown Sematic type kind");
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Decoding types                                                      */
/* ------------------------------------------------------------------ */

/* Write a parsed JSON node back as text (keys in their order), for cache keys. */
static void write_node(struct sm_jw *w, const struct sm_json *j)
{
    switch (j->kind) {
    case SM_JSON_NULL:
        sm_jw_null(w);
        break;
    case SM_JSON_BOOL:
        sm_jw_bool(w, j->boolean);
        break;
    case SM_JSON_NUMBER:
        sm_jw_raw(w, j->str, j->len);
        break;
    case SM_JSON_STRING:
        sm_jw_string(w, j->str, j->len);
        break;
    case SM_JSON_ARRAY:
        sm_jw_begin_array(w);
        for (size_t i = 0; i < j->n_items; i++)
            write_node(w, &j->items[i]);
        sm_jw_end_array(w);
        break;
    case SM_JSON_OBJECT:
        sm_jw_begin_object(w);
        for (size_t i = 0; i < j->n_items; i++) {
            sm_jw_key(w, j->items[i].key, j->items[i].key_len);
            write_node(w, &j->items[i]);
        }
        sm_jw_end_object(w);
        break;
    }
}

/* The class `key` of module `import_path`: new reference, or NULL with ImportError. */
static PyObject *import_class(const struct sm_json *module, const struct sm_json *key)
{
    PyObject *mname = dec_str(module);
    PyObject *name = mname ? dec_str(key) : NULL;
    if (name == NULL) {
        Py_XDECREF(mname);
        return NULL;
    }
    PyObject *mod = PyImport_Import(mname);
    PyObject *cls = mod ? PyObject_GetAttr(mod, name) : NULL;
    Py_XDECREF(mod);
    if (cls == NULL && PyErr_ExceptionMatches(PyExc_Exception)) {
        PyObject *type, *cause, *tb;
        PyErr_Fetch(&type, &cause, &tb);
        PyErr_NormalizeException(&type, &cause, &tb);
        PyObject *reason = cause ? PyObject_Str(cause) : NULL;
        if (reason != NULL) {
            PyErr_Format(PyExc_ImportError,
                         "cannot decode artifact: type '%U.%U' cannot be imported (%U); run from "
                         "the project that defines it",
                         mname, name, reason);
            PyObject *et, *ev, *etb;
            PyErr_Fetch(&et, &ev, &etb);
            PyErr_NormalizeException(&et, &ev, &etb);
            PyException_SetCause(ev, Py_NewRef(cause)); /* steals the new reference */
            PyErr_Restore(et, ev, etb);
        }
        Py_XDECREF(reason);
        Py_XDECREF(type);
        Py_XDECREF(cause);
        Py_XDECREF(tb);
    }
    Py_DECREF(mname);
    Py_DECREF(name);
    return cls;
}

/* The annotation of a [category, key, params] triple: new reference, or NULL with an exception. */
static PyObject *dec_annotation(struct dec *d, const struct sm_json *j)
{
    if (j == NULL || j->kind != SM_JSON_ARRAY || j->n_items != 3 ||
        j->items[0].kind != SM_JSON_STRING || j->items[1].kind != SM_JSON_STRING)
        return dec_type_fail(j, "[category, key, parameters]");
    const struct sm_json *cat = &j->items[0], *key = &j->items[1], *params = &j->items[2];
    struct sm_types_state *ts = &d->st->types;
    if (json_is_str(cat, "builtin")) {
        static const struct {
            const char *name;
            PyObject *cls;
        } builtins[] = {
            {"int", (PyObject *)&PyLong_Type},    {"float", (PyObject *)&PyFloat_Type},
            {"str", (PyObject *)&PyUnicode_Type}, {"bool", (PyObject *)&PyBool_Type},
            {"bytes", (PyObject *)&PyBytes_Type},
        };
        if (json_is_str(key, "NoneType"))
            return Py_NewRef((PyObject *)Py_TYPE(Py_None));
        for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
            if (json_is_str(key, builtins[i].name))
                return Py_NewRef(builtins[i].cls);
        return dec_type_fail(key, "a builtin type name");
    }
    if (json_is_str(cat, "typing")) {
        if (sm_types_ensure_typing(ts) < 0)
            return NULL;
        PyObject *base = json_is_str(key, "list")    ? ts->typing_list
                         : json_is_str(key, "dict")  ? ts->typing_dict
                         : json_is_str(key, "tuple") ? ts->typing_tuple
                         : json_is_str(key, "set")   ? ts->typing_set
                         : json_is_str(key, "Union") ? ts->typing_union
                                                     : NULL;
        if (base == NULL)
            return dec_type_fail(key, "list, dict, tuple, set or Union");
        const struct sm_json *args = sm_json_get(params, "args");
        if (args == NULL || args->kind != SM_JSON_ARRAY ||
            (args->n_items == 0 && base != ts->typing_tuple))
            return dec_type_fail(args, "{\"args\": [...]}");
        PyObject *tuple = PyTuple_New((Py_ssize_t)args->n_items);
        if (tuple == NULL)
            return NULL;
        for (size_t i = 0; i < args->n_items; i++) {
            const struct sm_json *a = &args->items[i];
            const struct sm_json *at = sm_json_get(a, "type");
            PyObject *ann = NULL;
            if (at != NULL)
                ann = dec_annotation(d, at);
            else if (json_is_str(sm_json_get(a, "value"), "..."))
                ann = Py_NewRef(Py_Ellipsis);
            else if (json_is_str(sm_json_get(a, "value"), "typing.Any"))
                ann = Py_NewRef(ts->typing_any); /* List[Any]: an empty _make_list */
            else
                dec_type_fail(a, "{\"type\": ...}");
            if (ann == NULL) {
                Py_DECREF(tuple);
                return NULL;
            }
            PyTuple_SET_ITEM(tuple, (Py_ssize_t)i, ann); /* steals ann */
        }
        PyObject *res;
        if (PyTuple_GET_SIZE(tuple) == 1 && base != ts->typing_tuple)
            res = PyObject_GetItem(base, PyTuple_GET_ITEM(tuple, 0));
        else
            res = PyObject_GetItem(base, tuple);
        Py_DECREF(tuple);
        return res;
    }
    if (json_is_str(cat, "dataclass") || json_is_str(cat, "class")) {
        const struct sm_json *path = sm_json_get(params, "import_path");
        if (path == NULL || path->kind != SM_JSON_STRING)
            return dec_type_fail(path, "{\"import_path\": ...}");
        return import_class(path, key);
    }
    if (json_is_str(cat, "generic")) {
        PyErr_Format(PyExc_ValueError,
                     "cannot decode artifact type: Sematic's generic type '%s' is not supported",
                     key->str);
        return NULL;
    }
    return dec_type_fail(cat, "the category builtin, typing, dataclass or class");
}

/*
 * The Type of a type serialization, through the module's cache keyed by its
 * text: new reference, or NULL with an exception. `parsed` is the parsed
 * text when the caller has it, else NULL.
 */
static PyObject *type_from_text(struct dec *d, const char *text, size_t len,
                                const struct sm_json *parsed)
{
    PyObject *key = PyBytes_FromStringAndSize(text, (Py_ssize_t)len);
    if (key == NULL)
        return NULL;
    PyObject *t = PyDict_GetItemWithError(d->cs->type_cache, key); /* borrowed */
    if (t != NULL || PyErr_Occurred()) {
        Py_XINCREF(t);
        Py_DECREF(key);
        return t;
    }
    struct sm_json_doc doc = {NULL, NULL};
    PyObject *ann = NULL;
    if (parsed == NULL) {
        struct sm_err err = SM_ERR_INIT;
        if (sm_json_parse(&doc, text, len, &err) != 0) {
            PyErr_Format(PyExc_ValueError, "cannot decode artifact type: %s", err.msg);
            goto done;
        }
        parsed = doc.root;
    }
    const struct sm_json *node = sm_json_get(parsed, "type");
    if (node == NULL) {
        dec_type_fail(parsed, "{\"registry\": ..., \"type\": ...}");
        goto done;
    }
    ann = dec_annotation(d, node);
    if (ann == NULL)
        goto done;
    t = sm_type_compile(&d->st->types, ann);
    if (t != NULL && PyDict_SetItem(d->cs->type_cache, key, t) < 0)
        Py_CLEAR(t);
done:
    sm_json_doc_release(&doc);
    Py_XDECREF(ann);
    Py_DECREF(key);
    return t;
}

/* The Type of a type serialization nested in a payload ("root_type", "types"). */
static PyObject *dec_type_node(struct dec *d, const struct sm_json *j)
{
    struct sm_buf b = SM_BUF_INIT(SM_CODEC_TYPE_MAX_BYTES);
    struct sm_jw w;
    sm_jw_init(&w, &b);
    write_node(&w, j);
    PyObject *t = NULL;
    struct sm_err err = SM_ERR_INIT;
    if (sm_jw_finish(&w, &err) != 0)
        raise_writer_error(d->st, &w, "a type");
    else
        t = type_from_text(d, b.data, b.len, j);
    sm_buf_release(&b);
    return t;
}

PyObject *sm_codec_decode(struct sm_py_state *st, const char *type_json, size_t type_len,
                          const char *value_json, size_t value_len)
{
    struct dec d = {st, &st->codec};
    PyObject *t = type_from_text(&d, type_json, type_len, NULL);
    if (t == NULL)
        return NULL;
    struct sm_json_doc doc = {NULL, NULL};
    struct sm_err err = SM_ERR_INIT;
    PyObject *v = NULL;
    if (sm_json_parse(&doc, value_json, value_len, &err) != 0)
        PyErr_Format(PyExc_ValueError, "cannot decode artifact: %s", err.msg);
    else
        v = dec(&d, t, doc.root, NULL);
    sm_json_doc_release(&doc);
    Py_DECREF(t);
    return v;
}

/* ------------------------------------------------------------------ */
/* Module functions                                                    */
/* ------------------------------------------------------------------ */

static struct sm_py_state *state_of_module(PyObject *m)
{
    return sm_py_state_of(m);
}

/* A Type from a Type or an annotation: new reference, or NULL with an exception. */
static PyObject *type_arg(struct sm_py_state *st, PyObject *a)
{
    if (sm_type_check(&st->types, a))
        return Py_NewRef(a);
    return sm_type_compile(&st->types, a);
}

/* The UTF-8 text of a str or bytes argument (borrowed from it). NULL with TypeError. */
static const char *text_arg(PyObject *a, const char *what, size_t *len)
{
    if (PyBytes_Check(a)) {
        *len = (size_t)PyBytes_GET_SIZE(a);
        return PyBytes_AS_STRING(a);
    }
    if (PyUnicode_Check(a)) {
        Py_ssize_t n;
        const char *u = PyUnicode_AsUTF8AndSize(a, &n);
        *len = (size_t)n;
        return u;
    }
    PyErr_Format(PyExc_TypeError, "%s must be str or bytes, not %.100s", what, Py_TYPE(a)->tp_name);
    return NULL;
}

static int check_nargs(const char *name, Py_ssize_t nargs, Py_ssize_t want)
{
    if (nargs == want)
        return 0;
    PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd arguments (%zd given)", name, want,
                 nargs);
    return -1;
}

static PyObject *buf_str(const struct sm_buf *b)
{
    return PyUnicode_DecodeUTF8(b->data ? b->data : "", (Py_ssize_t)b->len, "strict");
}

/* encode(annotation_or_Type, value) -> (id, type_json, value_json, summary_json) */
static PyObject *mod_encode(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_nargs("encode", nargs, 2) < 0)
        return NULL;
    struct sm_py_state *st = state_of_module(m);
    PyObject *t = type_arg(st, args[0]);
    if (t == NULL)
        return NULL;
    /* The buffers of the last call are reused; a call made meanwhile (from Python code
     * run by this encoding, or another thread) gets fresh ones. */
    struct sm_encoded *e = st->codec.spare;
    st->codec.spare = NULL;
    if (e == NULL) {
        e = PyMem_Malloc(sizeof(*e));
        if (e == NULL) {
            Py_DECREF(t);
            return PyErr_NoMemory();
        }
        sm_encoded_init(e);
    }
    PyObject *res = NULL;
    if (sm_codec_encode(st, t, args[1], e) == 0) {
        PyObject *id = PyUnicode_FromStringAndSize(e->id, SM_SHA256_HEX_LEN);
        PyObject *tj = id ? buf_str(&e->type_json) : NULL;
        PyObject *vj = tj ? buf_str(&e->value_json) : NULL;
        PyObject *sj = vj ? buf_str(&e->summary_json) : NULL;
        if (sj != NULL)
            res = PyTuple_Pack(4, id, tj, vj, sj);
        Py_XDECREF(id);
        Py_XDECREF(tj);
        Py_XDECREF(vj);
        Py_XDECREF(sj);
    }
    Py_DECREF(t);
    size_t held = e->type_json.alloc + e->value_json.alloc + e->summary_json.alloc;
    if (st->codec.spare == NULL && held <= SPARE_KEEP_BYTES) {
        st->codec.spare = e;
    } else {
        sm_encoded_release(e);
        PyMem_Free(e);
    }
    return res;
}

/* decode(type_json, value_json) -> value */
static PyObject *mod_decode(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_nargs("decode", nargs, 2) < 0)
        return NULL;
    size_t tlen, vlen;
    const char *tj = text_arg(args[0], "type_json", &tlen);
    const char *vj = tj ? text_arg(args[1], "value_json", &vlen) : NULL;
    if (vj == NULL)
        return NULL;
    return sm_codec_decode(state_of_module(m), tj, tlen, vj, vlen);
}

/* type_serialization(annotation) -> str */
static PyObject *mod_type_serialization(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_nargs("type_serialization", nargs, 1) < 0)
        return NULL;
    struct sm_py_state *st = state_of_module(m);
    PyObject *t = type_arg(st, args[0]);
    if (t == NULL)
        return NULL;
    PyObject *ser = sm_codec_type_json(st, t);
    PyObject *res =
        ser ? PyUnicode_DecodeUTF8(PyBytes_AS_STRING(ser), PyBytes_GET_SIZE(ser), "strict") : NULL;
    Py_DECREF(t);
    return res;
}

/* decode_type(type_json) -> annotation */
static PyObject *mod_decode_type(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_nargs("decode_type", nargs, 1) < 0)
        return NULL;
    size_t len;
    const char *text = text_arg(args[0], "type_json", &len);
    if (text == NULL)
        return NULL;
    struct sm_py_state *st = state_of_module(m);
    struct dec d = {st, &st->codec};
    PyObject *t = type_from_text(&d, text, len, NULL);
    if (t == NULL)
        return NULL;
    PyObject *ann = Py_NewRef(sm_type_annotation(t));
    Py_DECREF(t);
    return ann;
}

static PyMethodDef codec_functions[] = {
    {"encode", (PyCFunction)(void (*)(void))mod_encode, METH_FASTCALL,
     "encode(annotation, value)\n--\n\n(id, type_json, value_json, summary_json) of a value "
     "already cast to `annotation` (an annotation or a Type); see docs/internals/codec.md."},
    {"decode", (PyCFunction)(void (*)(void))mod_decode, METH_FASTCALL,
     "decode(type_json, value_json)\n--\n\nThe value of a stored payload."},
    {"type_serialization", (PyCFunction)(void (*)(void))mod_type_serialization, METH_FASTCALL,
     "type_serialization(annotation)\n--\n\nSematic's type serialization of `annotation` as "
     "canonical JSON (keys sorted)."},
    {"decode_type", (PyCFunction)(void (*)(void))mod_decode_type, METH_FASTCALL,
     "decode_type(type_json)\n--\n\nThe annotation a type serialization stands for."},
    {NULL, NULL, 0, NULL},
};

static int intern(PyObject **slot, const char *s)
{
    *slot = PyUnicode_InternFromString(s);
    return *slot ? 0 : -1;
}

int sm_codec_exec(PyObject *module, struct sm_codec_state *cs)
{
    cs->type_cache = PyDict_New();
    if (cs->type_cache == NULL)
        goto error;
    cs->noinit = PyDict_New();
    if (cs->noinit == NULL)
        goto error;
    if (intern(&cs->str_isoformat, "isoformat") < 0 ||
        intern(&cs->str_fromisoformat, "fromisoformat") < 0 ||
        intern(&cs->str_tzinfo, "tzinfo") < 0 || intern(&cs->str_fold, "fold") < 0 ||
        intern(&cs->str_dict, "__dict__") < 0 || intern(&cs->str_bases, "__bases__") < 0 ||
        intern(&cs->str_module, "__module__") < 0 || intern(&cs->str_name, "__name__") < 0 ||
        intern(&cs->str_name_member, "_name_") < 0 ||
        intern(&cs->str_member_map, "_member_map_") < 0 || intern(&cs->str_init, "init") < 0 ||
        intern(&cs->str_dataclass_fields, "__dataclass_fields__") < 0)
        goto error;
    if (PyModule_AddFunctions(module, codec_functions) < 0)
        goto error;
    return 0;
error:
    return -1;
}

/* clang-format off */
#define SM__CODEC_FIELDS(X) \
    X(type_cache) \
    X(noinit) \
    X(pickle_dumps) \
    X(pickle_loads) \
    X(str_isoformat) \
    X(str_fromisoformat) \
    X(str_tzinfo) \
    X(str_fold) \
    X(str_dict) \
    X(str_bases) \
    X(str_module) \
    X(str_name) \
    X(str_name_member) \
    X(str_member_map) \
    X(str_init) \
    X(str_dataclass_fields)
/* clang-format on */

int sm_codec_traverse(struct sm_codec_state *cs, visitproc visit, void *arg)
{
#define SM__VISIT(field) Py_VISIT(cs->field);
    SM__CODEC_FIELDS(SM__VISIT)
#undef SM__VISIT
    return 0;
}

void sm_codec_clear(struct sm_codec_state *cs)
{
#define SM__CLEAR(field) Py_CLEAR(cs->field);
    SM__CODEC_FIELDS(SM__CLEAR)
#undef SM__CLEAR
    if (cs->spare != NULL) {
        sm_encoded_release(cs->spare);
        PyMem_Free(cs->spare);
        cs->spare = NULL;
    }
}
