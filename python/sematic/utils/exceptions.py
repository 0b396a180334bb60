"""Exceptions raised by Sematic, and how failures are recorded on runs.

The class names, bases and messages are those of Sematic 0.41, because user
code catches these classes and user tests match these messages.
"""

from __future__ import annotations

# Standard Library
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any, Optional, Tuple

    from sematic.utils._exception_metadata import ExceptionMetadata


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

    import traceback

    from sematic.utils._exception_metadata import ExceptionMetadata

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


def __getattr__(name: str) -> Any:
    # ExceptionMetadata is a dataclass: defined on first use, so that importing
    # this module (and sematic) does not import dataclasses.
    if name == "ExceptionMetadata":
        from sematic.utils._exception_metadata import ExceptionMetadata

        globals()[name] = ExceptionMetadata
        return ExceptionMetadata
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
