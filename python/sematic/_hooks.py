"""Python helpers that the C engine glue (python/ext/engine.c) calls on rare paths.

Hot paths (binding, casting, scheduling, resolving) never come here: only
error reporting, timeouts, and conversions of lists of futures do. Each
function's contract is fixed by its caller in engine.c.
"""
from __future__ import annotations

from sematic.function import Function, convert_value
from sematic.future import Future
from sematic.utils.exceptions import CancellationError, FunctionError, TimeoutError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any, Optional, Tuple

_EXTRA_FUTURE_DOCS_LINK = (
    "https://docs.sematic.dev/diving-deeper/future-algebra#unused-futures"
)


def _path_suffix(name: str, exc: BaseException, root: str) -> str:
    path = getattr(exc, "path", "")
    return f" (at {root}.{name}{path})" if path else ""


def _chained(error: BaseException, cause: BaseException) -> BaseException:
    """``error`` as if raised by ``raise error from cause`` inside ``except cause``."""
    error.__cause__ = cause
    error.__context__ = cause
    return error


def input_type_error(function: Function, name: str, value: Any, exc: TypeError) -> TypeError:
    """The error for a concrete argument that does not cast to its annotation."""
    reason = exc.args[0] if exc.args else str(exc)
    return TypeError(
        f"Invalid input type for argument {name!r} when calling '{function}'. "
        f"Cannot cast {value} to {function.input_types[name]}: {reason}"
        + _path_suffix(name, exc, "inputs")
    )


def input_future_type_error(function: Function, name: str, future: Future, reason: str) -> TypeError:
    """The error for a future argument whose output type does not cast to the annotation."""
    return TypeError(
        f"Invalid input type for argument {name!r} when calling '{function}'. "
        f"Cannot cast {future.function.output_type} to {function.input_types[name]}: {reason}"
    )


def output_type_error(function: Function, value: Any, exc: TypeError) -> TypeError:
    """The error for a return value that does not cast to the output annotation."""
    reason = exc.args[0] if exc.args else str(exc)
    path = getattr(exc, "path", "")
    return TypeError(
        f"Invalid output type for '{function}'. "
        f"Cannot cast {value} to {function.output_type}: {reason}"
        + (f" (at output{path})" if path else "")
    )


def output_future_type_error(function: Function, future: Future, reason: str) -> TypeError:
    """The error for a returned future whose output type does not cast to the annotation."""
    return TypeError(
        f"Invalid output type for '{function}'. "
        f"Cannot cast {future.function.output_type} to {function.output_type}: {reason}"
    )


def convert_argument(value: Any, type_: Any) -> Any:
    """A list or tuple argument holding futures, as a _make_list/_make_tuple future."""
    return convert_value(value, type_.annotation)


def convert_output(value: Any, function: Function) -> Any:
    """A returned list or tuple holding futures, as a _make_list/_make_tuple future."""
    return convert_value(value, function.output_type)


def function_failure(future: Future, exc: BaseException) -> Tuple[Optional[BaseException], bool, bool]:
    """What to record for a body that raised ``exc``: (exception, retryable, is_cancellation).

    The body's exception is wrapped in FunctionError (its cause), as
    ``Function.execute`` does; KeyboardInterrupt and CancellationError stop
    the whole pipeline run instead.
    """
    if isinstance(exc, (KeyboardInterrupt, CancellationError)):
        return None, False, True
    if isinstance(exc, TimeoutError):
        return exc, False, False
    retry_settings = future.function.retry_settings
    retryable = retry_settings is not None and retry_settings.exception_matches(exc)
    return _chained(FunctionError(f"Error from running {future.function.__name__}"), exc), retryable, False


def unused_future_error(future: Future, unused: Future) -> FunctionError:
    """The error for a body that created ``unused`` without its output depending on it."""
    name = future.function.__name__
    other = unused.function.__name__
    message = (
        f"The output of '{name}' does not depend on the output of  '{other}', thus "
        f"'{other}' will not be executed. See {_EXTRA_FUTURE_DOCS_LINK} for details on "
        "what you can do in this situation."
    )
    return _chained(FunctionError(message), RuntimeError(message))


def _timeout_mins(future: Future) -> Optional[int]:
    props = future._props
    return props.timeout_mins if props is not None else future.function.timeout_mins


def timeout_error(future: Future, limiting: Future) -> TimeoutError:
    """The error for ``future`` running out of the time ``limiting`` (itself or an ancestor) allows."""
    if limiting is future:
        message = (
            f"The Sematic function {future.function.__name__} did not complete in time "
            f"to satisfy its {_timeout_mins(future)} minute timeout."
        )
    else:
        message = (
            f"The Sematic function {future.function.__name__} did not complete in time "
            f"to satisfy the {_timeout_mins(limiting)} minute timeout specified by its "
            f"ancestor {limiting.function.__name__}."
        )
    return TimeoutError(message)


class _Alarm:
    """The SIGALRM timer that interrupts a body running past its deadline."""

    previous_handler: Any = None
    error: Optional[TimeoutError] = None


def arm_timeout(future: Future, limiting: Future, remaining_seconds: float) -> Optional[TimeoutError]:
    """Interrupt ``future``'s body when its time runs out; the error at once if it already has.

    Signals reach only the main thread, so elsewhere the deadline is checked
    when the body returns instead.
    """
    import signal
    import threading

    error = timeout_error(future, limiting)
    if remaining_seconds <= 0:
        return error
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_alarm(signum: int, frame: Any) -> None:
        raise error

    _Alarm.previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, remaining_seconds)
    return None


def disarm_timeout() -> None:
    """Stop the timer armed by ``arm_timeout`` and restore the previous handler."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    signal.setitimer(signal.ITIMER_REAL, 0)
    if _Alarm.previous_handler is not None:
        signal.signal(signal.SIGALRM, _Alarm.previous_handler)
        _Alarm.previous_handler = None


def did_mark_for_retry(future: Future) -> None:
    """Keep ``future.props.retry_settings.retry_count`` in step with the engine's attempts."""
    props = future._props
    if props is not None and props.retry_settings is not None:
        props.retry_settings.retry_count = future._attempt


# LocalRunner's recorder (python/ext/record.c) ----------------------------------


def _json_or_none(value: Any) -> Optional[str]:
    if value is None:
        return None
    import dataclasses
    import json

    def default(o: Any) -> Any:
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return {f.name: getattr(o, f.name) for f in dataclasses.fields(o)}
        if isinstance(o, type):
            return f"{o.__module__}.{o.__qualname__}"
        if hasattr(o, "value") and hasattr(o, "name"):  # enum members
            return o.value
        return repr(o)

    return json.dumps(value, default=default, sort_keys=True)


def _tags_json(tags: Any) -> str:
    import json

    return json.dumps(list(tags or []))


def function_metadata(function: Function) -> Tuple[Any, ...]:
    """What a run records from its function, once per function and pipeline run:
    (name, docstring, source, is_inline, tags_json, resource_json, retry_json, cache, path)."""
    import inspect

    func = getattr(function, "func", None)
    source = None
    if func is not None:
        try:
            source = inspect.getsource(func)
        except (OSError, TypeError):
            source = None
    doc = inspect.cleandoc(function.__doc__) if getattr(function, "__doc__", None) else None
    name = getattr(function, "__name__", None) or str(function).rsplit(".", 1)[-1]
    path = function.get_func_fqpn()
    return (
        name,
        doc,
        source,
        not function.standalone,
        "[]",
        _json_or_none(function.resource_requirements),
        _json_or_none(_retry_dict(function.retry_settings)),
        bool(function.cache),
        path,
    )


def _retry_dict(retry: Any) -> Any:
    if retry is None:
        return None
    return {
        "exceptions": [f"{e.__module__}.{e.__qualname__}" for e in retry.exceptions],
        "retries": retry.retries,
    }


def future_metadata(future: Future) -> Tuple[Any, ...]:
    """Per-run overrides set with future.set(): (name, is_inline, tags_json, resource_json,
    retry_json)."""
    props = future.props
    return (
        props.name,
        not props.standalone,
        _tags_json(props.tags),
        _json_or_none(props.resource_requirements),
        _json_or_none(_retry_dict(props.retry_settings)),
    )


def exception_metadata(exception: Optional[BaseException]) -> str:
    """The JSON a FAILED run records: Sematic's {repr, name, module, ancestors}."""
    import json

    from sematic.utils.exceptions import format_exception_for_run

    if exception is None:
        return json.dumps(
            {"repr": "Unknown failure", "name": "Exception", "module": "builtins", "ancestors": []}
        )
    meta = format_exception_for_run(exception)
    return json.dumps(
        {"repr": meta.repr, "name": meta.name, "module": meta.module, "ancestors": meta.ancestors},
        sort_keys=True,
    )
