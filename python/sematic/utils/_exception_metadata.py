"""ExceptionMetadata, imported on first use by ``sematic.utils.exceptions``.

It lives in its own module so that ``import sematic`` does not import
dataclasses; its public home stays ``sematic.utils.exceptions.ExceptionMetadata``.
"""

# Standard Library
from dataclasses import dataclass, field
from typing import List, Type, Union


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


ExceptionMetadata.__module__ = "sematic.utils.exceptions"
