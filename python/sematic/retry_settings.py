"""Retry configuration for Sematic funcs."""

# Standard Library
import logging
from dataclasses import dataclass, field
from typing import Optional, Set, Tuple, Type, Union

# Sematic
from sematic.utils.exceptions import ExceptionMetadata


logger = logging.getLogger(__name__)

# What a failure can be described with: the exception itself (in the same
# process) or its recorded metadata (from another process), or nothing.
FailureDescription = Optional[Union[BaseException, ExceptionMetadata]]


@dataclass
class RetrySettings:
    """Configuration object to pass to ``@sematic.func`` to activate retries.

    Parameters
    ----------
    exceptions: Tuple[Type[Exception]]
        A tuple of exception types to retry for. Subclasses match too.
    retries: int
        How many times to retry; ``retries=3`` allows 4 attempts in all.

    Raises
    ------
    ValueError
        If ``exceptions`` is not a tuple (or list, or set) of exception
        classes, or ``retries`` is not a non-negative integer.
    """

    exceptions: Tuple[Type[BaseException], ...]
    retries: int
    retry_count: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.exceptions, (tuple, list, set)):
            raise ValueError(f"exceptions should be a tuple, got {self.exceptions}")
        for exception_type in self.exceptions:
            if not (
                isinstance(exception_type, type)
                and issubclass(exception_type, BaseException)
            ):
                raise ValueError(
                    "exceptions should only contain exception classes, got "
                    f"{exception_type!r}. Pass the classes themselves, e.g. "
                    "RetrySettings(exceptions=(ValueError,), retries=3)."
                )
        if isinstance(self.retries, bool) or not isinstance(self.retries, int):
            raise ValueError(
                f"retries should be an int, got {self.retries!r}. Pass the number "
                "of retries after the first attempt, e.g. retries=3."
            )
        if self.retries < 0:
            raise ValueError(
                f"retries should be >= 0, got {self.retries}. Use retries=0 to "
                "never retry."
            )

    def should_retry(self, *failures: FailureDescription) -> bool:
        """Whether a failure should trigger another attempt.

        True iff some failure matches ``exceptions`` and the retry budget
        (``retry_count < retries``) is not spent. The caller increments
        ``retry_count`` when it retries.

        Parameters
        ----------
        *failures:
            Exceptions, or their ``ExceptionMetadata`` (e.g. a user error and
            an infrastructure error); None entries are ignored.

        Returns
        -------
        bool
            Whether to retry.
        """
        return self.exception_matches(*failures) and self.retry_count < self.retries

    def exception_matches(self, *failures: FailureDescription) -> bool:
        """Whether some failure is one of ``exceptions``, ignoring the budget.

        An exception matches a listed class if it is an instance of it, or if
        a class on its MRO has the same module and name (so that classes
        re-imported in another process still match).

        Parameters
        ----------
        *failures:
            Exceptions, or their ``ExceptionMetadata``; None entries are ignored.

        Returns
        -------
        bool
            Whether some failure matches.
        """
        present = [failure for failure in failures if failure is not None]
        if not present:
            logger.warning(
                "`should_retry` called with no effective exception metadata! "
                "Unknown failure situation!"
            )
            return False
        return any(self._matches(failure) for failure in present)

    def _matches(self, failure: Union[BaseException, ExceptionMetadata]) -> bool:
        if isinstance(failure, ExceptionMetadata):
            return any(failure.is_instance_of(t) for t in self.exceptions)
        if isinstance(failure, tuple(self.exceptions)):
            return True
        lineage = _lineage(type(failure))
        return any(_names(t) & lineage for t in self.exceptions)


def _names(klass: type) -> Set[Tuple[str, str]]:
    return {(klass.__module__, klass.__qualname__), (klass.__module__, klass.__name__)}


def _lineage(klass: type) -> Set[Tuple[str, str]]:
    names: Set[Tuple[str, str]] = set()
    for ancestor in klass.__mro__:
        names |= _names(ancestor)
    return names
