"""Unpacking a ``Tuple[...]`` future: one ``_getitem`` future per slot."""
from typing import Iterator

from sematic import _core
from sematic.future import Future
from sematic.future_operators.getitem import getitem_future

_DOCS = "https://docs.sematic.dev/diving-deeper/future-algebra"


def iter_future(future: Future) -> Iterator[Future]:
    """Iterate over the slots of a tuple future (``a, b = f()``)."""
    arity = _core.type_tuple_arity(future.function._out_type)
    if arity < 0:
        raise NotImplementedError(
            "Future.__iter__ is only supported on Tuple futures. "
            f"Find a workaround at {_DOCS}#unpacking-and-iteration-on-lists"
        )
    return iter([getitem_future(future, index) for index in range(arity)])
