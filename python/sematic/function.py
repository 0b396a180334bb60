"""The ``@sematic.func`` decorator and the Function it returns (API.md 1.2).

Decoration validates the function and compiles its annotations once into C
type descriptors; ``_core.FunctionBase`` then binds and casts arguments in C
when the Function is called and adds a run to the engine's graph.
"""
from __future__ import annotations

# inspect, logging, typing and the dataclass-based modules are imported where
# they are needed, not here: `import sematic` imports this module.
import sys
from types import FunctionType, MethodType

from sematic import _core
from sematic.abstract_future import validate_timeout_mins
from sematic.future import INLINE_DEPRECATION_MESSAGE, Future
from sematic.utils.exceptions import FunctionError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    import inspect
    from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

    from sematic.resolvers.resource_requirements import ResourceRequirements
    from sematic.retry_settings import RetrySettings

# How the engine executes a function (enum func_op in python/ext/engine.c).
_OP_CALL, _OP_MAKE_LIST, _OP_MAKE_TUPLE, _OP_GETITEM = 0, 1, 2, 3

# Code flags (inspect.CO_*).
_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08
_CO_GENERATOR = 0x20
_CO_COROUTINE = 0x80
_CO_ASYNC_GENERATOR = 0x200


def _parameters(func_: Callable) -> Tuple[Tuple[str, ...], Tuple[Any, ...], int, Optional[str]]:
    """``inspect.signature(func_).parameters`` in short: what Function and func need.

    Returns (names, defaults, n_positional, variadic): the parameter names in
    signature order, their defaults (``_core.MISSING`` where none), how many
    are not keyword-only, and the name of the first ``*args``/``**kwargs``
    parameter (None if none). A plain function is read from its code object;
    anything else (wrapped by ``functools.wraps``, carrying ``__signature__``
    or ``_partialmethod``) asks inspect, which also follows those.
    """
    code = getattr(func_, "__code__", None)
    if (
        type(func_) is not FunctionType
        or code is None
        or hasattr(func_, "__wrapped__")
        or hasattr(func_, "__signature__")
        or hasattr(func_, "_partialmethod")
    ):
        return _parameters_from_inspect(func_)
    n_args = code.co_argcount
    n_kwonly = code.co_kwonlyargcount
    flags = code.co_flags
    varnames = code.co_varnames
    missing = _core.MISSING
    positional = varnames[:n_args]
    kwonly = varnames[n_args : n_args + n_kwonly]
    index = n_args + n_kwonly
    var_positional = var_keyword = None
    if flags & _CO_VARARGS:
        var_positional = varnames[index]
        index += 1
    if flags & _CO_VARKEYWORDS:
        var_keyword = varnames[index]

    defaults = func_.__defaults__ or ()
    names = list(positional)
    values = [missing] * (n_args - len(defaults)) + list(defaults)
    if var_positional is not None:
        names.append(var_positional)
        values.append(missing)
    n_positional = len(names)
    kwdefaults = func_.__kwdefaults__ or {}
    for name in kwonly:
        names.append(name)
        values.append(kwdefaults.get(name, missing))
    if var_keyword is not None:
        names.append(var_keyword)
        values.append(missing)
        n_positional += 1
    variadic = var_positional if var_positional is not None else var_keyword
    return tuple(names), tuple(values), n_positional, variadic


def _parameters_from_inspect(
    func_: Callable,
) -> Tuple[Tuple[str, ...], Tuple[Any, ...], int, Optional[str]]:
    import inspect

    parameters = list(inspect.signature(func_).parameters.values())
    empty = inspect.Parameter.empty
    variadic_kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    variadic = next((p.name for p in parameters if p.kind in variadic_kinds), None)
    return (
        tuple(p.name for p in parameters),
        tuple(_core.MISSING if p.default is empty else p.default for p in parameters),
        sum(1 for p in parameters if p.kind != inspect.Parameter.KEYWORD_ONLY),
        variadic,
    )


def _logger() -> Any:
    import logging

    return logging.getLogger(__name__)


class Function(_core.FunctionBase):
    """A Sematic function: calling it returns a Future instead of running it.

    Parameters
    ----------
    func: Callable
        The decorated Python function.
    input_types: Dict[str, Any]
        Annotation of each parameter.
    output_type: Any
        Annotation of the return value.
    standalone, cache, resource_requirements, retry_settings, base_image_tag, timeout_mins:
        The decorator's settings (see ``sematic.func``).
    """

    def __init__(
        self,
        func: Callable,
        input_types: Dict[str, Any],
        output_type: Any,
        standalone: bool = False,
        cache: bool = False,
        resource_requirements: Optional[ResourceRequirements] = None,
        retry_settings: Optional[RetrySettings] = None,
        base_image_tag: Optional[str] = None,
        timeout_mins: Optional[int] = None,
        _op: int = _OP_CALL,
        _params: Optional[Sequence[str]] = None,
        _in_types: Optional[Tuple[Any, ...]] = None,
    ) -> None:
        if _op == _OP_CALL:
            _validate_func(func)
        self._func = func
        self._input_types = input_types
        self._output_type = output_type
        self._standalone = standalone
        self._cache = cache
        self._resource_requirements = resource_requirements
        self._retry_settings = retry_settings
        self._base_image_tag = base_image_tag
        self._timeout_mins = timeout_mins
        self.__doc__ = func.__doc__
        self.__module__ = func.__module__
        self.__name__ = func.__name__
        self.__qualname__ = getattr(func, "__qualname__", func.__name__)
        validate_timeout_mins(timeout_mins)

        if _params is None:
            params, defaults, n_positional, _ = _parameters(func)
        else:
            params = tuple(_params)
            defaults = (_core.MISSING,) * len(params)
            n_positional = len(params)

        in_types = list(_in_types) if _in_types is not None else []
        for name in params[len(in_types) :]:
            try:
                in_types.append(_core.compile_type(input_types[name]))
            except TypeError as e:
                raise TypeError(
                    f"Invalid type annotation for argument '{name}' of {self!r}: {e}"
                ) from None
        try:
            out_type = _core.compile_type(output_type)
        except TypeError as e:
            raise TypeError(f"Invalid type annotation for output of {self!r}: {e}") from None

        self._setup(
            params,
            defaults,
            tuple(in_types),
            out_type,
            self.get_func_fqpn(),
            func,
            _op,
            n_positional,
            retry_settings.retries if retry_settings is not None else 0,
            retry_settings,
            timeout_mins,
            _op == _OP_GETITEM,
        )

    def __repr__(self) -> str:
        return self.get_func_fqpn()

    def get_func_fqpn(self) -> str:
        """The function's path, ``module.name``."""
        return f"{self.__module__}.{self.__name__}"

    def get_source(self) -> str:
        """The source code of the decorated function."""
        import inspect

        try:
            return inspect.getsource(self._func)
        except (OSError, TypeError):
            return "# Source code not available"

    @property
    def func(self) -> Callable:
        """The raw decorated callable."""
        return self._func

    @property
    def __signature__(self) -> inspect.Signature:
        import inspect

        return inspect.signature(self._func)

    @property
    def input_types(self) -> Dict[str, Any]:
        if callable(self._input_types):  # _make_list: built on first use, it can be huge
            self._input_types = self._input_types()
        return self._input_types

    @property
    def output_type(self) -> Any:
        return self._output_type

    @property
    def standalone(self) -> bool:
        return self._standalone

    @property
    def cache(self) -> bool:
        return self._cache

    @property
    def resource_requirements(self) -> Optional[ResourceRequirements]:
        return self._resource_requirements

    @property
    def retry_settings(self) -> Optional[RetrySettings]:
        return self._retry_settings

    @property
    def base_image_tag(self) -> Optional[str]:
        return self._base_image_tag

    @property
    def timeout_mins(self) -> Optional[int]:
        return self._timeout_mins

    def execute(self, **kwargs: Any) -> Any:
        """Run the function's body now, with concrete arguments.

        Raises
        ------
        FunctionError
            When the body raises; the body's exception is the ``__cause__``.
        """
        from sematic.utils.exceptions import CancellationError

        try:
            return self._body(**kwargs)
        except CancellationError:
            raise
        except Exception as e:
            raise FunctionError(f"Error from running {self.__name__}") from e

    def cast_inputs(self, kwargs: Dict[str, Any]) -> Dict[str, Any]:
        """Check and cast input values against the input annotations."""
        return {
            name: self._cast_value(
                kwargs[name],
                type_,
                f"Invalid input type for argument {name!r} when calling '{self}'.",
            )
            for name, type_ in self.input_types.items()
        }

    def cast_output(self, value: Any) -> Any:
        """Check and cast a return value against the output annotation."""
        return self._cast_value(
            value, self._output_type, f"Invalid output type for '{self}'."
        )

    @staticmethod
    def _cast_value(value: Any, type_: Any, error_prefix: str) -> Any:
        if isinstance(value, Future):
            can_cast, error = _core.can_cast_type(value.function.output_type, type_)
            if not can_cast:
                raise TypeError(
                    f"{error_prefix} Cannot cast {value.function.output_type} to {type_}: {error}"
                )
            return value
        cast, error = _core.safe_cast(value, type_)
        if error is not None:
            raise TypeError(f"{error_prefix} Cannot cast {value} to {type_}: {error}")
        return cast

    def _replace_body(self, body: Optional[Callable]) -> None:
        """Make executions call ``body`` (a mock) instead of the function; None restores it."""
        self._set_body(self._func if body is None else body)


def func(
    func: Optional[Callable] = None,
    inline: Optional[bool] = None,
    standalone: bool = False,
    cache: bool = False,
    resource_requirements: Optional[ResourceRequirements] = None,
    retry: Optional[RetrySettings] = None,
    base_image_tag: Optional[str] = None,
    timeout_mins: Optional[int] = None,
) -> Union[Function, Callable[[Callable], Function]]:
    """The Sematic function decorator.

    Parameters
    ----------
    func: Optional[Callable]
        The function to decorate; usually passed by the ``@`` syntax.
    standalone: bool
        Under cluster runners, run the function in a worker of its own rather
        than in the runner's process. Defaults to False.
    cache: bool
        Memoise the output under the runner's ``cache_namespace``. Defaults to False.
    resource_requirements: Optional[ResourceRequirements]
        What a standalone function needs; only allowed with ``standalone=True``.
    retry: Optional[RetrySettings]
        Which exceptions trigger a retry, and how many times.
    base_image_tag: Optional[str]
        Container image tag for standalone functions under cluster runners.
    timeout_mins: Optional[int]
        Minutes allowed between scheduling and completion (integer >= 1).

    Returns
    -------
    Union[Function, Callable]
        The Function, or a decorator when called with settings only.
    """
    if inline is not None:
        from warnings import warn

        warn(INLINE_DEPRECATION_MESSAGE, DeprecationWarning)
        standalone = not inline

    if not standalone and resource_requirements is not None:
        raise ValueError(
            "Only Standalone Functions can have resource requirements "
            "Try using @sematic.func(standalone=True, ...). "
            "See https://go.sematic.dev/t3mynx"
        )

    def _wrapper(func_: Callable) -> Function:
        _validate_func(func_)
        annotations = _annotations(func_)
        output_type: Any = type(None)
        input_types: Dict[str, Any] = {}
        for name, type_ in annotations.items():
            if type_ is None:
                type_ = type(None)
            if name == "return":
                output_type = type_
            else:
                input_types[name] = type_

        names, _, _, variadic = _parameters(func_)
        if variadic is not None:
            raise ValueError(
                "Variadic arguments are not supported. "
                f"'{func_.__name__}' has variadic argument {variadic!r}. Please see "
                "https://docs.sematic.dev/diving-deeper/future-algebra#variadic-arguments"
                " for more details."
            )
        missing = sorted(name for name in names if name not in input_types)
        if missing:
            raise ValueError(
                "Missing function type annotations. The following arguments are not "
                "annotated: {}".format(", ".join(repr(name) for name in missing))
            )

        if not standalone and base_image_tag is not None:
            _logger().warning(
                "base_image_tag %s for %s will be ignored because `standalone` is False",
                base_image_tag,
                func_.__name__,
            )
        _validate_no_external_resources(dict(input_types, **{"<output>": output_type}))

        return Function(
            func_,
            input_types=input_types,
            output_type=output_type,
            standalone=standalone,
            cache=cache,
            resource_requirements=resource_requirements,
            retry_settings=retry,
            base_image_tag=base_image_tag,
            timeout_mins=timeout_mins,
        )

    if func is None:
        return _wrapper
    return _wrapper(func)


def _annotations(func_: Callable) -> Dict[str, Any]:
    """The function's annotations, with string annotations evaluated where possible."""
    annotations = getattr(func_, "__annotations__", None)
    if annotations is None:
        return {}
    if type(annotations) is dict and not any(
        isinstance(value, str) for value in annotations.values()
    ):
        return dict(annotations)  # what inspect.get_annotations returns then
    import inspect

    try:
        return dict(inspect.get_annotations(func_, eval_str=True))
    except Exception:
        return dict(getattr(func_, "__annotations__", {}))


def _validate_func(func_: Any) -> None:
    if not isinstance(func_, FunctionType):  # inspect.isfunction
        raise TypeError(
            "@sematic.func can only be used with functions. "
            f"But {func_!r} is a '{type(func_).__name__}'."
        )
    if _is_method_like(func_):
        raise TypeError(
            "@sematic.func can only be used with functions, not methods. "
            f"But {func_!r} is a method. Instead, consider defining a "
            "function where the first argument is the object currently being "
            "passed as 'self' or 'cls'. You should also rename that parameter "
            "to something more descriptive"
        )
    # inspect.isasyncgenfunction, iscoroutinefunction, isgeneratorfunction
    if func_.__code__.co_flags & (_CO_ASYNC_GENERATOR | _CO_COROUTINE | _CO_GENERATOR):
        raise TypeError(
            "@sematic.func can't be used with async functions, generators, "
            f"or coroutines. But {func_!r} is one of these."
        )


def _is_method_like(func_: Callable) -> bool:
    if isinstance(func_, MethodType):  # inspect.ismethod
        return True
    names = _parameters(func_)[0]
    return len(names) >= 1 and names[0] in {"self", "cls"}


def _validate_no_external_resources(annotations: Dict[str, Any]) -> None:
    # No class derives from AbstractExternalResource before its module is imported.
    module = sys.modules.get("sematic.plugins.abstract_external_resource")
    if module is None:
        return
    for name, type_ in annotations.items():
        # dataclasses.is_dataclass, for a class
        if isinstance(type_, type) and hasattr(type_, "__dataclass_fields__"):
            if issubclass(type_, module.AbstractExternalResource):
                raise TypeError(
                    f"{type_.__name__} objects can't be passed into or out of "
                    "Sematic funcs. They are only intended to be used inside "
                    "the body of a Sematic func. Attempted to use with parameter "
                    f"'{name}'"
                )


def _make_list_body(**kwargs: Any) -> List[Any]:
    return list(kwargs.values())


def _make_tuple_body(**kwargs: Any) -> Tuple[Any, ...]:
    return tuple(kwargs.values())


_make_list_body.__name__ = _make_list_body.__qualname__ = "_make_list"
_make_tuple_body.__name__ = _make_tuple_body.__qualname__ = "_make_tuple"


def _check_element(item: Any, element_type: Any) -> None:
    if isinstance(item, Future):
        can_cast, error = _core.can_cast_type(item.function.output_type, element_type)
        if not can_cast:
            raise TypeError(f"Invalid value: {error}")
    else:
        _, error = _core.safe_cast(item, element_type)
        if error is not None:
            raise TypeError(f"Invalid value: {error}")


def _make_list(type_: Any, list_with_futures: Sequence[Any]) -> Future:
    """A future of ``type_`` (a ``List[T]``) from a list mixing values and futures."""
    from collections.abc import Sequence
    from typing import get_args, get_origin

    if get_origin(type_) is not list:
        raise Exception(
            "type_ must be a List type, and it must be parameterized as List[SomeType]."
        )
    if not isinstance(list_with_futures, Sequence):
        raise Exception("list_with_futures must be a collections.Sequence.")
    element_type = get_args(type_)[0]
    compiled = _core.compile_type(element_type)
    _core.check_elements(list_with_futures, compiled)
    params = _param_names(len(list_with_futures))
    function = Function(
        _make_list_body,
        input_types=lambda: dict.fromkeys(params, element_type),
        output_type=type_,
        _op=_OP_MAKE_LIST,
        _params=params,
        _in_types=(compiled,) * len(params),
    )
    return function._call_aligned(tuple(list_with_futures))


_PARAM_NAMES: List[str] = []


def _param_names(n: int) -> Tuple[str, ...]:
    """("v0", ..., "v<n-1>"): the parameters of _make_list and _make_tuple, made once."""
    names = _PARAM_NAMES
    names.extend(f"v{i}" for i in range(len(names), n))
    return tuple(names[:n])


def _make_tuple(type_: Any, tuple_with_futures: Sequence[Any]) -> Future:
    """A future of ``type_`` (a ``Tuple[A, B, ...]``) from a tuple mixing values and futures."""
    from collections.abc import Sequence
    from typing import get_args, get_origin

    if get_origin(type_) is not tuple:
        raise TypeError(
            "type_ must be a Tuple type, and it must be parameterized as "
            f"Tuple[SomeTypeA, SomeTypeB]. Got: {type_}"
        )
    if not isinstance(tuple_with_futures, Sequence):
        raise TypeError("tuple_with_futures must be a collections.Sequence.")
    element_types = get_args(type_)
    if len(element_types) > 1 and element_types[-1] is ...:
        raise TypeError("Sematic does not support Ellipsis in Tuples yet (...)")
    for item, element_type in zip(tuple_with_futures, element_types):
        _check_element(item, element_type)
    params = _param_names(len(tuple_with_futures))
    function = Function(
        _make_tuple_body,
        input_types=dict(zip(params, element_types)),
        output_type=type_,
        _op=_OP_MAKE_TUPLE,
        _params=params,
    )
    return function._call_aligned(tuple(tuple_with_futures))


def make_list_type(values: Sequence[Any]) -> Any:
    """``List[T]`` where T is the Union of the element types (futures: their output types)."""
    from typing import Any, List, Union

    element_types = _core.element_types(values)
    if not element_types:
        return List[Any]
    if len(element_types) == 1:
        return List[element_types[0]]  # type: ignore[valid-type]
    return List[Union[tuple(element_types)]]  # type: ignore[misc]


def _convert_lists(value: List[Any]) -> Any:
    """A list where nested lists holding futures became _make_list futures; a future if any."""
    items = [_convert_lists(item) if isinstance(item, list) else item for item in value]
    if any(isinstance(item, Future) for item in items):
        return _make_list(make_list_type(items), items)
    return items


def _convert_tuples(value: Tuple[Any, ...], expected_type: Any) -> Any:
    """Replace a tuple holding futures (maybe nested) by a _make_tuple future of expected_type."""
    from typing import Any, get_args

    items = list(value)
    slot_types = get_args(expected_type)
    for index, item in enumerate(items):
        if isinstance(item, tuple):
            slot_type = slot_types[index] if index < len(slot_types) else Any
            items[index] = _convert_tuples(item, slot_type)
        elif isinstance(item, list):
            items[index] = _convert_lists(item)
    if any(isinstance(item, Future) for item in items):
        return _make_tuple(expected_type, tuple(items))
    return tuple(items)


def convert_value(value: Any, expected_type: Any) -> Any:
    """Lists and tuples holding futures become futures (API.md 2.2); other values stay."""
    if isinstance(value, list):
        return _convert_lists(value)
    if isinstance(value, tuple):
        return _convert_tuples(value, expected_type)
    return value

