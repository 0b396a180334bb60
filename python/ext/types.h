/*
 * types.h: type annotations compiled into type descriptors (_core.Type), and
 * the value casts and type-level can-cast checks of Sematic 0.41 (API.md 3.2)
 * with Sematic's exact messages. Included by core.h; implemented in types.c.
 *
 * Threads: every function here needs the GIL. Errors: functions returning a
 * pointer return NULL with a Python exception set; functions returning int
 * return -1 with an exception set.
 */
#ifndef SM_PY_TYPES_H
#define SM_PY_TYPES_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* What a compiled Type is (sm_type_kind()). */
enum type_kind {
    KIND_OBJECT,    /* object: anything, unchanged */
    KIND_NONE,      /* NoneType */
    KIND_BOOL,      /* bool: default rule, bool(x) never fails */
    KIND_INT,       /* int: default rule with fast paths */
    KIND_FLOAT,     /* float: default rule with fast paths */
    KIND_STR,       /* str: instances only */
    KIND_CLASS,     /* any other class: isinstance, else cls(value) */
    KIND_ENUM,      /* Enum subclass: cast as KIND_CLASS, can-cast only to itself */
    KIND_LIST,      /* List[T] / list[T] */
    KIND_SET,       /* Set[T] / set[T] */
    KIND_TUPLE,     /* Tuple[A, B] / tuple[A, B] */
    KIND_DICT,      /* Dict[K, V] / dict[K, V] */
    KIND_UNION,     /* Union[...] / Optional[T] / A | B */
    KIND_DATACLASS, /* a dataclass */
};

/* What types.c keeps in the module state; every PyObject * is a strong reference. */
struct sm_types_state {
    PyObject *type_type; /* the heap type _core.Type */
    PyObject *cache;     /* dict: annotation -> Type (compiled once per annotation) */
    /*
     * Objects the validation and casts compare against, imported on first need
     * rather than at module exec, so that `import sematic` does not import
     * typing (see ensure_typing() and ensure_dataclasses() in types.c). The
     * "typing tier" (typing, types, abc, enum, numbers, collections.abc) is
     * loaded before any annotation other than object, None, bool, int, float
     * or str is compiled, and before any type-level check of two different
     * annotations; a Type of any other kind therefore implies it is loaded.
     * The "dataclass tier" (dataclasses.fields, copy.copy) is loaded when a
     * dataclass's fields are first resolved.
     */
    int typing_loaded, dataclasses_loaded;
    PyObject *typing_any, *typing_union, *typing_optional;
    PyObject *typing_list, *typing_dict, *typing_tuple, *typing_set;
    PyObject *union_type; /* types.UnionType (int | None) */
    PyObject *get_origin, *get_args, *get_type_hints;
    PyObject *abc_abc, *abc_meta, *enum_type, *numbers_real;
    PyObject *iterable_abc, *mapping_abc;
    PyObject *copy_copy, *dataclass_fields_fn; /* copy.copy, dataclasses.fields */
    /* interned attribute names */
    PyObject *str_dataclass_fields, *str_dataclass_params, *str_frozen;
    PyObject *str_module, *str_name, *str_name_attr, *str_type, *str_items, *str_path, *str_typing;
    /* (from, to) annotation pairs being checked by can_cast, borrowed for the
     * duration of the check: a pair met again (recursive dataclasses) is
     * assumed castable instead of recursing forever. */
    int n_checking;
    PyObject *checking[2 * 64];
};

/*
 * Create the heap type _core.Type and add the module functions compile_type,
 * safe_cast and can_cast_type to `module`. Called once from the module exec
 * slot; 0, or -1 with an exception set (the fields set so far are released by
 * sm_types_clear).
 */
int sm_types_exec(PyObject *module, struct sm_types_state *ts);
int sm_types_traverse(struct sm_types_state *ts, visitproc visit, void *arg);
void sm_types_clear(struct sm_types_state *ts);

/*
 * Compile `annotation` (borrowed) into a type descriptor: new reference to a
 * _core.Type, or NULL with TypeError whose str() is exactly Sematic's reason
 * ("'Any' is not a Sematic-supported type. Use 'object' instead.", "list must
 * be parametrized (list[...] instead of list).", "Expected a Sematic-supported
 * type here, but got: X. Please refer to ..."). The caller adds the "Invalid
 * type annotation for argument 'x' of m.f: " prefix. Like Sematic, only the
 * top level is validated here; arguments of generics and dataclass fields
 * are compiled on first use, so List[Any] compiles and fails when a value is
 * cast (with Sematic's "Type 'Any' is not a valid Sematic type: ..." reason),
 * and recursive dataclasses compile. `None` means NoneType. Cached per
 * annotation object.
 */
PyObject *sm_type_compile(struct sm_types_state *ts, PyObject *annotation);

/* 1 when `o` is a _core.Type of this module, else 0. */
int sm_type_check(const struct sm_types_state *ts, PyObject *o);

/*
 * Cast `value` (borrowed) to `type` (a _core.Type) with Sematic's safe_cast
 * rules: new reference (maybe `value` itself), or NULL with an exception. A
 * cast failure raises TypeError whose args[0] is Sematic's reason and whose
 * attribute `path` (str) locates the offending element relative to `value`:
 * "" for the value itself, "[1]" for a list or tuple element, "['k']" for a
 * dict value, ".name" for a dataclass field, nested as in "[3].name". Errors
 * raised by user code (a failing __iter__, __hash__, __repr__, a dataclass
 * constructor) propagate unchanged, as in Sematic.
 */
PyObject *sm_type_cast(PyObject *type, PyObject *value);

/*
 * Type-level check for futures (API.md 3.2 can_cast column): 1 when a value
 * of `from` can be passed where `to` is expected; 0 with *reason set to a new
 * reference to Sematic's text (e.g. "Cannot cast <class 'str'> to int"); -1
 * with an exception set. Both are _core.Type objects.
 */
int sm_type_can_cast(PyObject *from, PyObject *to, PyObject **reason);

/* Borrowed: the annotation the Type was compiled from (NoneType for None). */
PyObject *sm_type_annotation(PyObject *type);

/*
 * For fut[key] (API.md 2.2) with a concrete `key`: new reference to the
 * output Type of indexing a future of `container_type`, or NULL with
 * Sematic's error: TypeError "__getitem__ is not supported for Futures of
 * type X", TypeError "Invalid key K: reason" (dict keys are cast with
 * safe_cast), IndexError/TypeError from indexing a Tuple's slots, or TypeError
 * "Invalid type annotation for output of
 * sematic.future_operators.getitem._getitem: reason".
 */
PyObject *sm_type_getitem(PyObject *container_type, PyObject *key);

/*
 * Same as sm_type_getitem for a key that is itself a future whose output type
 * is `key_type` (a Type): dict keys are checked with can_cast; a future used
 * as a Tuple index is a TypeError as in Sematic.
 */
PyObject *sm_type_getitem_future(PyObject *container_type, PyObject *key, PyObject *key_type);

/*
 * The declared type of the `key` argument of Sematic's _getitem for a future
 * of `container_type`: new reference to the Type of int for List/Tuple, of K
 * for Dict[K, V]; NULL with TypeError as sm_type_getitem for other types.
 */
PyObject *sm_type_getitem_key_type(PyObject *container_type);

/* Number of slots when type is a fixed-arity Tuple[...], else -1 (no exception). */
Py_ssize_t sm_type_tuple_arity(PyObject *type);

/* 1 when the type is NoneType (annotation None or NoneType), else 0. */
int sm_type_is_none(PyObject *type);

/*
 * Reading a Type, for the codec (codec.c). `type` is a _core.Type; borrowed
 * results live as long as it does.
 */
enum type_kind sm_type_kind(PyObject *type);
/* Borrowed: the class of a class kind (object, None, bool, ..., enum, dataclass); NULL for generics. */
PyObject *sm_type_class(PyObject *type);
/* Generics: the number of arguments; dataclasses: of fields (after sm_type_fields()). */
Py_ssize_t sm_type_n_args(PyObject *type);
/* Borrowed: argument (or field) i as written; i < sm_type_n_args(). */
PyObject *sm_type_arg_annotation(PyObject *type, Py_ssize_t i);
/* Borrowed: argument (or field) i compiled on first use; NULL with TypeError when unsupported. */
PyObject *sm_type_arg(PyObject *type, Py_ssize_t i);
/* 1 for Tuple[T, ...], else 0. */
int sm_type_has_ellipsis(PyObject *type);
/* Dataclasses: borrowed tuple of field names (resolved on first use), or NULL with an exception. */
PyObject *sm_type_fields(PyObject *type);
/* The slot where codec.c keeps its cache for this Type (a strong reference, cleared with it). */
PyObject **sm_type_codec_slot(PyObject *type);
/* Import the typing tier of struct sm_types_state if not yet done. 0, or -1 with an exception. */
int sm_types_ensure_typing(struct sm_types_state *ts);

#endif
