"""Futures: what calling a Sematic func returns (API.md 1.3).

A Future is a handle onto a run of the C engine's graph: ``_core.Future``, a
C type holding (graph, run id), whose graph keeps the arguments and the value.
The Python-facing behaviour (``set()``, properties, indexing, and the
operators that must refuse to work on a value that does not exist yet) is
written below in Python and installed onto that type, so that futures stay
plain C objects outside the cycle collector (a Python subclass would be
collected, at about 0.5 us per future).
"""
from __future__ import annotations

from sematic import _core
from sematic.abstract_future import FutureState, validate_timeout_mins

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from sematic.abstract_future import FutureProperties

_MUTABLE_FIELDS = {"name", "standalone", "cache", "resource_requirements", "tags", "timeout_mins"}

INLINE_DEPRECATION_MESSAGE = (
    "The inline argument to the @sematic.func decorator will be deprecated on "
    "June 1st, 2023. Please replace inline=False with standalone=True."
)

_DOCS = "https://docs.sematic.dev/diving-deeper/future-algebra"


def _unsupported(name: str, anchor: str = "arithmetic-operations") -> NotImplementedError:
    return NotImplementedError(
        f"Future.{name} is not supported yet. Find a workaround at {_DOCS}#{anchor}"
    )


class _FutureMethods:
    """The Python methods of ``Future``; see the module docstring."""

    __hash__ = object.__hash__

    @property
    def props(self) -> FutureProperties:
        """The future's properties (name, tags, state, settings)."""
        props = self._props
        if props is None:
            import copy

            from sematic.abstract_future import FutureProperties

            function = self.function
            props = FutureProperties(
                standalone=function.standalone,
                name=function.__name__,
                tags=[],
                cache=function.cache,
                resource_requirements=function.resource_requirements,
                retry_settings=copy.deepcopy(function.retry_settings),
                base_image_tag=function.base_image_tag,
                timeout_mins=function.timeout_mins,
            )
            if props.retry_settings is not None:
                props.retry_settings.retry_count = self._attempt
            self._props = props
        props.state = self.state
        return props

    def resolve(self, resolver: Any = None, tracking: bool = True) -> Any:
        """Deprecated: run the future with ``resolver`` (see ``runner.run``)."""
        from warnings import warn

        warn(
            "future.resolve(...) will soon be deprecated. "
            "Please update your code to use runner.run(future) instead.",
            DeprecationWarning,
        )
        if self.state != FutureState.RESOLVED:
            if resolver is None:
                from sematic.runners.local_runner import LocalRunner
                from sematic.runners.silent_runner import SilentRunner

                resolver = LocalRunner() if tracking else SilentRunner()
            self.value = resolver.run(self)
        return self.value

    def set(self, **kwargs: Any) -> "Future":
        """Set the future's mutable properties and return the future.

        Parameters
        ----------
        name: str
            The run's name in the dashboard.
        tags: List[str]
            Tags attached to the run.
        standalone: bool
            Whether to run the function in a worker of its own under cluster runners.
        cache: bool
            Whether to cache the output under the runner's ``cache_namespace``.
        resource_requirements: ResourceRequirements
            What a standalone run needs (CPU, memory, GPUs).
        timeout_mins: int
            Minutes allowed between scheduling and completion.

        Returns
        -------
        Future
            This future, so calls can be chained.
        """
        if "inline" in kwargs:
            from warnings import warn

            warn(INLINE_DEPRECATION_MESSAGE, DeprecationWarning)
            kwargs["standalone"] = not kwargs.pop("inline")

        invalid_fields = set(kwargs) - _MUTABLE_FIELDS
        if invalid_fields:
            raise ValueError(f"Cannot mutate fields: {invalid_fields}")

        if "name" in kwargs:
            value = kwargs["name"]
            if not (isinstance(value, str) and len(value) > 0):
                raise ValueError(f"Invalid `name`, must be a non-empty string: {value!r}")
        for flag in ("standalone", "cache"):
            if flag in kwargs and not isinstance(kwargs[flag], bool):
                raise ValueError(f"Invalid `{flag}`, must be a bool: {kwargs[flag]!r}")
        if "resource_requirements" in kwargs:
            from sematic.resolvers.resource_requirements import ResourceRequirements

            value = kwargs["resource_requirements"]
            if not isinstance(value, ResourceRequirements):
                raise ValueError(
                    "Invalid `resource_requirements`, must be a ResourceRequirements: "
                    f"{value!r}"
                )
        if "tags" in kwargs:
            value = kwargs["tags"]
            if not (isinstance(value, list) and all(isinstance(t, str) and t for t in value)):
                raise ValueError(f"Invalid `tags`, must be a list of non empty strings: {value!r}")
        if "timeout_mins" in kwargs:
            validate_timeout_mins(kwargs["timeout_mins"])
            self._set_timeout_mins(kwargs["timeout_mins"])

        props = self.props
        for name, value in kwargs.items():
            setattr(props, name, value)
        return self

    def __getitem__(self, key: Any) -> "Future":
        from sematic.future_operators.getitem import getitem_future

        return getitem_future(self, key)

    def __iter__(self):
        from sematic.future_operators.iter import iter_future

        return iter_future(self)

    def __repr__(self) -> str:
        parent = self.parent_future
        nested = self.nested_future
        return (
            f"Future(id={self.id}, func={self.function}, state={self.state.value}, "
            f"parent_id={parent.id if parent is not None else None}, "
            f"nested_id={nested.id if nested is not None else None}, value={self.value})"
        )

    def is_root_future(self) -> bool:
        """Whether no other future's body returned this one."""
        return self.parent_future is None

    def __bool__(self):
        raise _unsupported("__bool__")

    def __not__(self):
        raise _unsupported("__not__")

    def __add__(self, _):
        raise _unsupported("__add__")

    def __iadd__(self, _):
        raise _unsupported("__iadd__")

    def __mul__(self, _):
        raise _unsupported("__mul__")

    def __imul__(self, _):
        raise _unsupported("__imul__")

    def __truediv__(self, _):
        raise _unsupported("__truediv__")

    def __itruediv__(self, _):
        raise _unsupported("__itruediv__")

    def __eq__(self, other: Any):
        if isinstance(other, _core.Future):
            return self is other
        raise _unsupported("__eq__")

    def __gt__(self, _):
        raise _unsupported("__gt__")

    def __ge__(self, _):
        raise _unsupported("__ge__")

    def __lt__(self, _):
        raise _unsupported("__lt__")

    def __le__(self, _):
        raise _unsupported("__le__")


for _name, _value in vars(_FutureMethods).items():
    if _name not in ("__dict__", "__weakref__", "__module__", "__qualname__"):
        setattr(_core.Future, _name, _value)
del _name, _value

Future = _core.Future
Future.__doc__ = """The future output of a Sematic func call.

A future holds the function, its input arguments (concrete values or other
futures) and, once a runner has resolved it, its value. Pass it to other
Sematic funcs or to ``runner.run(future)``.
"""
