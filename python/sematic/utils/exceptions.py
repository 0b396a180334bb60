"""Exceptions raised by Sematic, and how failures are recorded on runs.

The class names, bases and messages are those of Sematic 0.41, because user
code catches these classes and user tests match these messages.
"""

# Standard Library
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple, Type, Union


class FunctionError(Exception):
    """An exception raised by the body of a Sematic func.

    The user's exception is attached as ``__cause__``.
    """


class InfrastructureError(Exception):
    """A failure of compute infrastructure rather than of user code."""


class KubernetesError(InfrastructureError):
    """A failure of the Kubernetes cluster that runs Sematic jobs."""


class ExternalResourceError(InfrastructureError):
    """An external resource could not be activated, updated or deactivated."""


class IllegalStateTransitionError(Exception):
    """A state machine (run, pipeline run, resource) made a forbidden transition."""


class IllegalUseOfFutureError(Exception):
    """A future was passed where a concrete value is required."""


class NotInSematicFuncError(RuntimeError):
    """An API meant for the body of a Sematic func was used elsewhere."""


class TimeoutError(RuntimeError):  # noqa: A001 - Sematic's own name, by design.
    """A Sematic func did not finish within its ``timeout_mins``.

    Note this is not the builtin ``TimeoutError``: like Sematic's, it derives
    from ``RuntimeError``.
    """


class CancellationError(Exception):
    """The pipeline run was cancelled."""


class MissingPluginError(Exception):
    """A configured plug-in could not be imported.

    Parameters
    ----------
    plugin_path:
        The import path of the plug-in, as configured.
    """

    def __init__(self, plugin_path: str) -> None:
        super().__init__(
            f"Unable to find plug-in {plugin_path}. Module or class is missing."
        )


class UnsupportedUsageError(Exception):
    """A feature was used where it is not available (e.g. a cloud-only feature)."""


class UnsupportedVersionError(UnsupportedUsageError):
    """A component with an unsupported version was met."""


class DataIntegrityError(Exception):
    """Stored data is inconsistent (e.g. an artifact id reused for new content)."""


@dataclass
class ExceptionMetadata:
    """What a run records about the exception that failed it.

    Parameters
    ----------
    repr:
        Human-readable text: a formatted traceback, or the message.
    name:
        The exception class's ``__name__``.
    module:
        The module defining the exception class.
    ancestors:
        ``"<module>.<name>"`` of every base class deriving from ``Exception``,
        so that retry settings can match by class path in another process.
    """

    repr: str
    name: str
    module: str
    ancestors: List[str] = field(default_factory=list)

    @classmethod
    def from_exception(cls, exception: BaseException) -> "ExceptionMetadata":
        """Describe ``exception`` with its message as ``repr``.

        Parameters
        ----------
        exception:
            The exception to describe.

        Returns
        -------
        ExceptionMetadata
            The description.
        """
        return cls(
            repr=str(exception),
            name=type(exception).__name__,
            module=type(exception).__module__,
            ancestors=cls.ancestors_from_exception(exception),
        )

    @classmethod
    def ancestors_from_exception(
        cls, exception: Union[BaseException, Type[BaseException]]
    ) -> List[str]:
        """List the class paths of an exception's bases that derive from ``Exception``.

        Parameters
        ----------
        exception:
            An exception, or an exception class.

        Returns
        -------
        List[str]
            ``"<module>.<name>"`` of each base, nearest first, without
            duplicates and without the class itself.
        """
        klass = exception if isinstance(exception, type) else type(exception)
        own = _class_path(klass)
        found: List[str] = []
        pending: List[type] = [klass]
        while pending:
            for base in pending.pop().__bases__:
                path = _class_path(base)
                if not issubclass(base, Exception) or path == own or path in found:
                    continue
                found.append(path)
                pending.append(base)
        return found

    def is_instance_of(self, exception_type: Type[BaseException]) -> bool:
        """Whether the described exception is an instance of ``exception_type``.

        The comparison is by module and name, so it holds across processes.

        Parameters
        ----------
        exception_type:
            The class to compare with.

        Returns
        -------
        bool
            True when the class or one of its ancestors is ``exception_type``.
        """
        if (self.module, self.name) == (
            exception_type.__module__,
            exception_type.__name__,
        ):
            return True
        return _class_path(exception_type) in self.ancestors


def _class_path(klass: type) -> str:
    return f"{klass.__module__}.{klass.__name__}"


def format_exception_for_run(
    exception: Optional[BaseException] = None,
) -> Optional[ExceptionMetadata]:
    """Describe an exception for storage on a failed run.

    A ``FunctionError`` is described by its cause (the user's exception), so
    that the Sematic frames around the user's code are not shown; the
    formatting of that traceback is Sematic's (frames separated by blank
    lines). Any other exception is described by its full traceback.

    Parameters
    ----------
    exception:
        The exception; by default, the one being handled.

    Returns
    -------
    Optional[ExceptionMetadata]
        None when there is no exception to describe.
    """
    if exception is None:
        exception = sys.exc_info()[1]
        if exception is None:
            return None

    if isinstance(exception, FunctionError) and exception.__cause__ is not None:
        exception = exception.__cause__
        text = "\n".join(
            traceback.TracebackException.from_exception(exception).format()
        )
    else:
        text = "".join(
            traceback.format_exception(
                type(exception), exception, exception.__traceback__
            )
        )

    return ExceptionMetadata(
        repr=text,
        name=type(exception).__name__,
        module=type(exception).__module__,
        ancestors=ExceptionMetadata.ancestors_from_exception(exception),
    )


class PipelineRunError(Exception):
    """The pipeline run failed; raised by ``runner.run()``. Not meant to be handled.

    Parameters
    ----------
    exception_metadata:
        The failure of user code or of the runner.
    external_exception_metadata:
        The failure of external compute infrastructure, if any.
    """

    def __init__(
        self,
        exception_metadata: Optional[ExceptionMetadata] = None,
        external_exception_metadata: Optional[ExceptionMetadata] = None,
    ) -> None:
        self.exception_metadata = exception_metadata
        self.external_exception_metadata = external_exception_metadata
        self._msg = (
            "The pipeline run failed due to previous errors!"
            + _section("\n\nPipeline failure:\n", exception_metadata)
            + _section("\n\nExternal failure:\n", external_exception_metadata)
        )
        super().__init__(self._msg)

    def __reduce__(self) -> Tuple[type, Tuple[Any, ...]]:
        # Rebuild from the metadata, not from the message (pickling support).
        return (
            type(self),
            (self.exception_metadata, self.external_exception_metadata),
        )


def _section(prefix: str, metadata: Optional[ExceptionMetadata]) -> str:
    if metadata is None or metadata.repr is None:
        return ""
    return prefix + metadata.repr


# Sematic's name before the resolver -> runner rename; still importable.
ResolutionError = PipelineRunError
