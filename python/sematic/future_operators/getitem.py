"""``future[key]``: a ``_getitem`` run that indexes the container once it resolves."""
from typing import Any, get_args, get_origin

from sematic import _core
from sematic.function import _OP_GETITEM, Function
from sematic.future import Future


def _getitem(container: Any, key: Any) -> Any:
    return container[key]


def getitem_future(future: Future, key: Any) -> Future:
    """A future of ``future``'s value indexed by ``key`` (a value or a future).

    Raises
    ------
    TypeError
        When the future's output type is not a List, Tuple or Dict, or the key
        does not fit it.
    """
    container_type = future.function.output_type
    value_type = _core.type_getitem(future.function._out_type, key)
    if isinstance(key, Future):
        key_type = key.function.output_type
    elif get_origin(container_type) is dict:
        key_type = get_args(container_type)[0]
    else:
        key_type = int
    function = Function(
        _getitem,
        input_types={"container": container_type, "key": key_type},
        output_type=value_type.annotation,
        _op=_OP_GETITEM,
        _params=("container", "key"),
    )
    return function._call_aligned((future, key))
