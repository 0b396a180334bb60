"""Futures: set(), properties, indexing, unpacking and refused operators (API.md 1.3, 2.2; §9 items 12, 20-22, 30-31)."""
import operator
from typing import Dict, List, Tuple

import pytest

import sematic
from sematic.abstract_future import FutureState
from sematic.function import _make_list, _make_tuple
from sematic.future import Future


@sematic.func
def foo() -> str:
    return "foo"


@sematic.func
def bar() -> str:
    return "bar"


@sematic.func
def three_strings() -> List[str]:
    return ["foo", "bar", "baz"]


@sematic.func
def pair() -> Tuple[int, str]:
    return 42, "answer"


def test_future__has_a_32_hex_id_unique_per_future():
    a, b = foo(), foo()
    assert len(a.id) == 32 and int(a.id, 16) >= 0
    assert a.id != b.id
    assert a.id == a.id
    assert a.state is FutureState.CREATED
    assert a.value is None


def test_future__set_updates_props_and_returns_the_same_future():
    future = foo()
    assert future.set(name="renamed", tags=["a", "b"]) is future
    assert future.props.name == "renamed"
    assert future.props.tags == ["a", "b"]
    assert foo().props.name == "foo"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": ""}, "Invalid `name`, must be a non-empty string: ''"),
        ({"standalone": 1}, "Invalid `standalone`, must be a bool: 1"),
        ({"cache": "yes"}, "Invalid `cache`, must be a bool: 'yes'"),
        ({"resource_requirements": {}}, "Invalid `resource_requirements`, must be a ResourceRequirements: {}"),
        ({"tags": ["ok", ""]}, "Invalid `tags`, must be a list of non empty strings: ['ok', '']"),
        ({"function": None}, "Cannot mutate fields: {'function'}"),
        ({"timeout_mins": 0}, "Timeouts must be >=1 minutes, got: 0"),
    ],
)
def test_future__set_refuses_bad_values_with_the_field_named(kwargs, message):
    with pytest.raises(ValueError) as e:
        foo().set(**kwargs)
    assert str(e.value) == message


@pytest.mark.parametrize(
    "op",
    [
        lambda f: bool(f),
        lambda f: not f,
        lambda f: f + 1,
        lambda f: f * 1,
        lambda f: f / 1,
        lambda f: f == 1,
        lambda f: f > 1,
        lambda f: f >= 1,
        lambda f: f < 1,
        lambda f: f <= 1,
        lambda f: operator.iadd(f, 1),
        lambda f: operator.imul(f, 1),
        lambda f: operator.itruediv(f, 1),
    ],
)
def test_future__operators_on_values_not_yet_computed_raise(op):
    with pytest.raises(NotImplementedError, match=r"is not supported yet. Find a workaround at https://docs.sematic.dev"):
        op(foo())


def test_future__equality_between_futures_is_identity():
    a = foo()
    assert a == a
    assert not (a == foo())
    assert len({a, a}) == 1


def test_make_list__builds_a_future_of_the_declared_list_type():
    future = _make_list(List[str], [foo(), bar()])
    assert future.function.output_type == List[str]
    assert future.function.__name__ == "_make_list"
    assert future.function.get_func_fqpn() == "sematic.function._make_list"
    assert len(future.kwargs) == 2

    @sematic.func
    def pipeline() -> List[str]:
        return _make_list(List[str], [foo(), bar()])

    assert sematic.SilentRunner().run(pipeline()) == ["foo", "bar"]


def test_make_tuple__builds_a_future_that_executes_to_the_tuple():
    @sematic.func
    def answer() -> int:
        return 42

    future = _make_tuple(Tuple[str, int], ("a", answer()))
    assert future.function.output_type == Tuple[str, int]
    assert len(future.kwargs) == 2

    @sematic.func
    def pipeline() -> Tuple[str, int]:
        return _make_tuple(Tuple[str, int], ("a", answer()))

    assert sematic.SilentRunner().run(pipeline()) == ("a", 42)


def test_make_tuple__refuses_ellipsis():
    with pytest.raises(TypeError, match=r"Sematic does not support Ellipsis in Tuples yet \(...\)"):
        _make_tuple(Tuple[int, ...], (foo(),))


def test_getitem__on_a_list_future_is_a_getitem_future():
    item = three_strings()[1]
    assert item.function.__name__ == "_getitem"
    assert item.function.output_type is str
    assert item.kwargs["key"] == 1

    @sematic.func
    def pipeline() -> str:
        return three_strings()[1]

    assert sematic.SilentRunner().run(pipeline()) == "bar"


def test_getitem__on_a_dict_future_checks_the_key():
    @sematic.func
    def d() -> Dict[str, int]:
        return {"a": 1}

    @sematic.func
    def pipeline() -> int:
        return d()["a"]

    assert sematic.SilentRunner().run(pipeline()) == 1
    with pytest.raises(TypeError, match="^Invalid key 3: "):
        d()[3]


def test_getitem__on_a_scalar_future_is_refused():
    with pytest.raises(TypeError, match=r"^__getitem__ is not supported for Futures of type <class 'str'>$"):
        foo()[0]


def test_iter__unpacks_a_tuple_future_into_getitem_futures():
    a, b = pair()
    assert (a.kwargs["key"], b.kwargs["key"]) == (0, 1)
    assert a.function.output_type is int
    assert b.function.output_type is str

    @sematic.func
    def describe(n: int, s: str) -> str:
        return f"{s}={n}"

    @sematic.func
    def pipeline() -> str:
        n, s = pair()
        return describe(n, s)

    assert sematic.SilentRunner().run(pipeline()) == "answer=42"


def test_iter__an_unused_getitem_is_not_an_error():
    @sematic.func
    def second() -> str:
        _, s = pair()
        return s

    assert sematic.SilentRunner().run(second()) == "answer"


def test_iter__on_a_non_tuple_future_is_refused():
    with pytest.raises(NotImplementedError, match="Future.__iter__ is only supported on Tuple futures"):
        list(three_strings())


def test_future__resolve_is_deprecated_but_works_without_tracking():
    future = foo()
    with pytest.warns(DeprecationWarning, match="will soon be deprecated"):
        assert future.resolve(tracking=False) == "foo"
    assert future.state is FutureState.RESOLVED
    assert isinstance(future, Future)
