"""Mocking the bodies of Sematic funcs in tests."""

# Standard Library
import inspect
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List
from unittest import mock

# Sematic
from sematic.function import Function


@dataclass
class SematicFuncMock:
    """Handles on a mocked Sematic func.

    Attributes
    ----------
    mock: mock.MagicMock
        Called instead of the func's body; set its ``return_value`` or
        ``side_effect``.
    original: Callable
        The undecorated function, e.g. for ``mock.side_effect = original``.
    signature: inspect.Signature
        The signature of the undecorated function.
    """

    mock: mock.MagicMock
    original: Callable
    signature: inspect.Signature


@contextmanager
def mock_sematic_funcs(
    funcs: List[Function],
) -> Iterator[Dict[Function, SematicFuncMock]]:
    """Replace the bodies of Sematic funcs by mocks, for the span of a ``with`` block.

    The funcs still return futures, still take part in the graph, and still
    check and cast their inputs and outputs; only the code they decorate is
    replaced::

        with mock_sematic_funcs(funcs=[step_1, step_2]) as mocks:
            mocks[step_1].mock.return_value = 42
            mocks[step_2].mock.side_effect = mocks[step_2].original
            assert sematic.SilentRunner().run(pipeline()) == ...

    The original bodies are restored on exit, also when the block raises.

    Parameters
    ----------
    funcs:
        Funcs decorated with ``@sematic.func``.

    Returns
    -------
    Iterator[Dict[Function, SematicFuncMock]]
        Yields the mock handles of each func.

    Raises
    ------
    ValueError
        If an element of ``funcs`` is not a Sematic func (nothing is mocked).
    """
    for func in funcs:
        if not isinstance(func, Function):
            raise ValueError(
                "mock_sematic_funcs(funcs=[...]) must be given a list of "
                "functions decorated with @sematic.func, but one of the "
                f"elements was: {func}"
            )

    mocks: Dict[Function, SematicFuncMock] = {}
    try:
        for func in funcs:
            original = func.func
            signature = inspect.signature(original)
            body = mock.MagicMock()
            body.__signature__ = signature
            mocks[func] = SematicFuncMock(
                mock=body, original=original, signature=signature
            )
            func._replace_body(body)
        yield mocks
    finally:
        for func in mocks:
            func._replace_body(None)
