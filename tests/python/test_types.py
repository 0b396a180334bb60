"""sematic._core type system: compile_type, safe_cast, can_cast_type, Type (API.md 1.2, 2.2, 2.3, 3.1-3.2;
§9 items 2, 9, 32, 44, 45, 49, 50).

Expected values and messages were taken from the real Sematic 0.41 (sematic.types.casting and
sematic.types.registry.validate_type_annotation). Where Sematic raises an unrelated exception
(AttributeError, issubclass() TypeError) we answer instead; those cases say so.
"""
import abc
import dataclasses
import datetime
import enum
import gc
import math
import sys
import typing
from typing import Any, Dict, FrozenSet, List, Literal, Optional, Set, Tuple, Union

import pytest

from sematic._core import Type, can_cast_type, compile_type, safe_cast

DOCS = "https://docs.sematic.dev/type-support/type-support#what-types-are-supported"


def expected_supported(what):
    return (
        f"Expected a Sematic-supported type here, but got: {what}. Please refer to the Sematic "
        f"docs about supported types: {DOCS}"
    )


def cast_error(type_, value):
    """The TypeError of Type.cast, with its .path."""
    with pytest.raises(TypeError) as info:
        compile_type(type_).cast(value)
    return info.value


class Color(enum.Enum):
    RED = 1
    GREEN = "g"


@dataclasses.dataclass
class A:
    a: int
    b: float = 1.0


@dataclasses.dataclass
class B(A):
    c: str = "x"


@dataclasses.dataclass(frozen=True)
class Frozen:
    x: float


@dataclasses.dataclass
class Node:
    v: int
    children: List["Node"]


@dataclasses.dataclass
class Chain:
    next: Optional["Chain"]


@dataclasses.dataclass
class Chain2:
    next: Optional["Chain2"]


@dataclasses.dataclass
class Named:
    name: str


@dataclasses.dataclass
class Holder:
    items: List[Named]


# ---------------------------------------------------------------- compile_type: annotation errors (§9 items 2, 32)


@pytest.mark.parametrize(
    "annotation, reason",
    [
        (Any, "'Any' is not a Sematic-supported type. Use 'object' instead."),
        (list, "list must be parametrized (list[...] instead of list)."),
        (dict, "dict must be parametrized (dict[...] instead of dict)."),
        (tuple, "tuple must be parametrized (tuple[...] instead of tuple)."),
        (set, "set must be parametrized (set[...] instead of set)."),
        (List, "List must be parametrized (List[...] instead of List)."),
        (Dict, "Dict must be parametrized (Dict[...] instead of Dict)."),
        (Tuple, "Tuple must be parametrized (Tuple[...] instead of Tuple)."),
        (Set, "Set must be parametrized (Set[...] instead of Set)."),
        (Union, "Union must be parametrized (Union[...] instead of Union)."),
        (Optional, "Optional must be parametrized (Optional[...] instead of Optional)."),
        (FrozenSet[int], expected_supported("typing.FrozenSet[int]")),
        (typing.Iterable, expected_supported("typing.Iterable")),
        (typing.Mapping[str, int], expected_supported("typing.Mapping[str, int]")),
        (Literal[1], expected_supported("typing.Literal[1]")),
        (typing.Callable[[int], int], expected_supported("typing.Callable[[int], int]")),
        (typing.TypeVar("T"), expected_supported("~T")),
        (typing.Type[int], expected_supported("typing.Type[int]")),
        (typing.Annotated[int, "x"], expected_supported("typing.Annotated[int, 'x']")),
        (3, expected_supported("3")),
        ([int], expected_supported("[<class 'int'>]")),
        ("int", expected_supported("int")),
    ],
)
def test_compile_type__unsupported_annotations_raise_sematics_reason(annotation, reason):
    with pytest.raises(TypeError) as info:
        compile_type(annotation)
    assert str(info.value) == reason


class _Meta(type):
    pass


class _WithMeta(metaclass=_Meta):
    pass


def test_compile_type__class_with_a_plain_metaclass_is_rejected_like_sematic():
    with pytest.raises(TypeError) as info:
        compile_type(_WithMeta)
    assert str(info.value) == expected_supported(repr(_WithMeta))


@pytest.mark.parametrize(
    "annotation",
    [
        object, int, float, str, bool, bytes, type(None), None, frozenset, datetime.datetime,
        Color, A, Node, List[int], list[int], Dict[str, int], dict[str, int], Tuple[int, str],
        tuple[int, str], Tuple[int, ...], Tuple[()], Set[int], set[int], Optional[int], int | None,
        Union[int, str], int | str, Optional[List[int]], List[Any],
    ],
)
def test_compile_type__supported_annotations_compile(annotation):
    t = compile_type(annotation)
    assert isinstance(t, Type)
    assert t.annotation == (type(None) if annotation is None else annotation)


def test_compile_type__typing_extensions_generics_are_the_typing_ones():
    import typing_extensions as te
    assert compile_type(te.List[int]) is compile_type(typing.List[int])
    with pytest.raises(TypeError, match="'Any' is not a Sematic-supported type"):
        compile_type(te.Any)
    with pytest.raises(TypeError, match="Expected a Sematic-supported type here"):
        compile_type(te.Literal["a"])


def test_compile_type__is_cached_per_annotation():
    assert compile_type(List[int]) is compile_type(List[int])
    assert compile_type(int) is compile_type(int)


def test_compile_type__equal_unions_with_different_order_are_distinct_types():
    # Union[int, str] == Union[str, int] but casting order differs.
    a = compile_type(Union[int, str])
    b = compile_type(Union[str, int])
    assert a.annotation == Union[int, str] and str(b.annotation) == "typing.Union[str, int]"
    assert a.cast("1") == 1
    assert b.cast("1") == "1"


def test_type__repr_annotation_and_immutability():
    t = compile_type(List[int])
    assert repr(t) == "<sematic Type typing.List[int]>"
    assert repr(compile_type(int)) == "<sematic Type <class 'int'>>"
    with pytest.raises(TypeError):
        Type()
    with pytest.raises(AttributeError):
        t.annotation = int
    assert hash(t) == hash(t)


# ---------------------------------------------------------------- safe_cast: scalars (§9 items 9, 44)


@pytest.mark.parametrize(
    "value, type_, expected",
    [
        (1, int, 1),
        (True, int, True),  # bool is an int: unchanged
        (1.23, int, 1),
        ("42", int, 42),
        (b"42", int, 42),
        (1.23, float, 1.23),
        (1, float, 1.0),
        ("1.2", float, 1.2),
        ("a", str, "a"),
        (0, bool, False),
        ("", bool, False),
        ([], bool, False),
        ("x", bool, True),
        (None, type(None), None),
        (None, None, None),
        (3, bytes, b"\x00\x00\x00"),
        (b"ab", bytes, b"ab"),
        (frozenset([1]), frozenset, frozenset([1])),
        ([1], frozenset, frozenset([1])),
        (Color.RED, Color, Color.RED),
        (1, Color, Color.RED),
        ("g", Color, Color.GREEN),
        (datetime.datetime(2020, 1, 1), datetime.datetime, datetime.datetime(2020, 1, 1)),
        ({"x": [1]}, object, {"x": [1]}),
    ],
)
def test_safe_cast__scalars_follow_sematics_rules(value, type_, expected):
    cast_value, error = safe_cast(value, type_)
    assert error is None
    assert cast_value == expected
    assert type(cast_value) is type(expected)


@pytest.mark.parametrize(
    "value, type_, reason",
    [
        ("abc", int, "Cannot cast 'abc' to <class 'int'>"),
        ("abc", float, "Cannot cast 'abc' to <class 'float'>"),
        (None, int, "Cannot cast None to <class 'int'>"),
        (None, float, "Cannot cast None to <class 'float'>"),
        (1, str, "Cannot cast 1 to <class 'str'>"),
        (b"a", str, "Cannot cast b'a' to <class 'str'>"),
        (1, type(None), "Cannot cast 1 to <class 'NoneType'>"),
        ("abc", bytes, "Cannot cast 'abc' to <class 'bytes'>"),
        (1, frozenset, "Cannot cast 1 to <class 'frozenset'>"),
        ("RED", Color, "Cannot cast 'RED' to <enum 'Color'>"),
        ("2020", datetime.datetime, "Cannot cast '2020' to <class 'datetime.datetime'>"),
    ],
)
def test_safe_cast__scalar_failures_give_sematics_reason(value, type_, reason):
    assert safe_cast(value, type_) == (None, reason)
    err = cast_error(type_, value)
    assert err.args == (reason,)
    assert err.path == ""


def test_safe_cast__exact_scalars_are_returned_as_is():
    big = 10**30
    s = "x" * 100
    f = 3.25
    assert compile_type(int).cast(big) is big
    assert compile_type(str).cast(s) is s
    assert compile_type(float).cast(f) is f


# ---------------------------------------------------------------- safe_cast: generics (§9 items 45, 50)


@pytest.mark.parametrize(
    "value, type_, expected",
    [
        (["1.2", 3], List[float], [1.2, 3.0]),
        ([1, 2], list[int], [1, 2]),
        ((1, "2"), List[int], [1, 2]),
        ("123", List[int], [1, 2, 3]),
        ({"a": 1}, List[str], ["a"]),
        ((i for i in range(3)), List[int], [0, 1, 2]),
        ([], List[Any], []),
        ("ab", Set[str], {"a", "b"}),
        ([1, "2"], set[int], {1, 2}),
        ([1, "2"], Tuple[int, int], (1, 2)),
        ((), tuple[()], ()),
        ({"a": "1"}, Dict[str, int], {"a": 1}),
        ({1: "a", (1, 2): "b"}, Dict[object, str], {1: "a", (1, 2): "b"}),
        ({1: "a"}, dict[int, str], {1: "a"}),
        (1.5, Union[int, float], 1),  # first member wins, in declaration order
        ("1", Union[float, int], 1.0),
        (True, Union[int, bool], True),
        (None, Optional[int], None),
        ("42", Optional[int], 42),
        (None, int | None, None),
        (None, Optional[bool], False),  # Sematic: bool(None) succeeds before NoneType is tried
        (None, Optional[str], None),
        ([1, None], List[Optional[int]], [1, None]),
        ({"k": [1, "2"]}, Dict[str, List[int]], {"k": [1, 2]}),
    ],
)
def test_safe_cast__generics_follow_sematics_rules(value, type_, expected):
    cast_value, error = safe_cast(value, type_)
    assert error is None
    assert cast_value == expected
    assert type(cast_value) is type(expected)


@pytest.mark.parametrize(
    "value, type_, reason, path",
    [
        (
            ["abc"], List[float],
            "Cannot cast ['abc'] to typing.List[float]: Cannot cast 'abc' to <class 'float'>", "[0]",
        ),
        (
            ["1", "abc"], List[float],
            "Cannot cast ['1', 'abc'] to typing.List[float]: Cannot cast 'abc' to <class 'float'>",
            "[1]",
        ),
        ([1, "x"], List[int], "Cannot cast [1, 'x'] to typing.List[int]: Cannot cast 'x' to <class 'int'>", "[1]"),
        ([1, "x"], list[int], "Cannot cast [1, 'x'] to list[int]: Cannot cast 'x' to <class 'int'>", "[1]"),
        # Sematic formats the list with str(), so a string value shows unquoted.
        ("abc", List[int], "Cannot cast abc to typing.List[int]: Cannot cast 'a' to <class 'int'>", "[0]"),
        (5, List[int], "5 not an iterable", ""),
        (5, Set[int], "5 not an iterable", ""),
        ({1, 2}, Set[str], "Cannot cast {1, 2} to typing.Set[str]: Cannot cast 1 to <class 'str'>", ""),
        ((1, "2"), Tuple[int, int, int], "Expected 3 elements, got 2: (1, '2')", ""),
        ([1, "2"], Tuple[int, int, int], "Expected 3 elements, got 2: [1, '2']", ""),
        (
            (1, "x"), Tuple[int, int],
            "Cannot cast (1, 'x') to typing.Tuple[int, int]: Cannot cast 'x' to <class 'int'>", "[1]",
        ),
        ((1, 2), Tuple[int, ...], "Sematic does not support Ellipsis in Tuples yet (...)", ""),
        (5, Tuple[int, ...], "5 not an iterable", ""),
        ({1: 1}, Dict[str, int], "Cannot cast 1 to key type: Cannot cast 1 to <class 'str'>", ""),
        ({"a": "x"}, Dict[str, int], "Cannot cast 'x' to value type: Cannot cast 'x' to <class 'int'>", "['a']"),
        ([1], Dict[str, int], "[1] is not a mapping. Cannot cast to typing.Dict[str, int].", ""),
        ("x", Optional[int], "'x' does not match any of (<class 'int'>, <class 'NoneType'>)", ""),
        ("x", int | None, "'x' does not match any of (<class 'int'>, <class 'NoneType'>)", ""),
        (
            [1], List[Any],
            "Cannot cast [1] to typing.List[typing.Any]: Type 'Any' is not a valid Sematic type: "
            "'Any' is not a Sematic-supported type. Use 'object' instead.",
            "[0]",
        ),
        (
            [1], List[typing.Iterable[int]],
            "Cannot cast [1] to typing.List[typing.Iterable[int]]: Type 'Iterable' is not a valid "
            "Sematic type: " + expected_supported("typing.Iterable[int]"),
            "[0]",
        ),
        (
            {"k": [1, "x"]}, Dict[str, List[int]],
            "Cannot cast [1, 'x'] to value type: Cannot cast [1, 'x'] to typing.List[int]: "
            "Cannot cast 'x' to <class 'int'>",
            "['k'][1]",
        ),
        (
            {(1, 2): "x"}, Dict[Tuple[int, int], int],
            "Cannot cast 'x' to value type: Cannot cast 'x' to <class 'int'>", "[(1, 2)]",
        ),
        ([[1], [2, "y"]], List[List[int]], None, "[1][1]"),
    ],
)
def test_safe_cast__generic_failures_give_sematics_reason_and_path(value, type_, reason, path):
    cast_value, error = safe_cast(value, type_)
    assert cast_value is None
    if reason is not None:
        assert error == reason
    err = cast_error(type_, value)
    assert err.args == (error,)
    assert err.path == path


@pytest.mark.parametrize(
    "type_, reason",
    [
        (Any, "Type 'Any' is not a valid Sematic type: 'Any' is not a Sematic-supported type. Use 'object' instead."),
        (list, "Type 'list' is not a valid Sematic type: list must be parametrized (list[...] instead of list)."),
        (List, "Type 'List' is not a valid Sematic type: List must be parametrized (List[...] instead of List)."),
        (Dict, "Type 'Dict' is not a valid Sematic type: Dict must be parametrized (Dict[...] instead of Dict)."),
        (Union, "Type 'Union' is not a valid Sematic type: Union must be parametrized (Union[...] instead of Union)."),
        (Literal[1], "Type 'Literal' is not a valid Sematic type: " + expected_supported("typing.Literal[1]")),
        # Sematic raises AttributeError (no __name__) here; we name it with str().
        (3, "Type '3' is not a valid Sematic type: " + expected_supported("3")),
    ],
)
def test_safe_cast__unsupported_type_is_a_reason_not_an_exception(type_, reason):
    assert safe_cast(1, type_) == (None, reason)


def test_safe_cast__tuple_of_a_generator_raises_like_sematic():
    with pytest.raises(TypeError, match="has no len"):
        safe_cast((i for i in [1]), Tuple[int])


def test_safe_cast__list_of_exact_ints_keeps_the_elements():
    values = list(range(1000))
    out = compile_type(List[int]).cast(values)
    assert out == values and out is not values
    assert all(a is b for a, b in zip(out, values))


# ---------------------------------------------------------------- safe_cast: dataclasses


def test_safe_cast__dataclass_instance_fields_are_cast_and_subclass_preserved():
    assert safe_cast(A(1), A) == (A(1), None)
    assert safe_cast(A("2"), A) == (A(2), None)
    out, error = safe_cast(B("3"), A)
    assert error is None and type(out) is B and out == B(3)
    original = A("5")
    out, _ = safe_cast(original, A)
    assert original.a == "5" and out.a == 5  # the input is not modified


def test_safe_cast__dataclass_without_changes_is_returned_as_is():
    # Sematic deep-copies; we return the same object when no field changes.
    a = A(1, 2.0)
    assert compile_type(A).cast(a) is a


def test_safe_cast__frozen_dataclass_is_unchanged_like_sematic():
    out, error = safe_cast(Frozen(1), Frozen)
    assert error is None and out == Frozen(1) and type(out.x) is int


def test_safe_cast__dataclass_from_dict_and_object():
    assert safe_cast({"a": "4", "b": 2}, A) == (A(4, 2.0), None)

    class Obj:
        a = "7"
        b = 1

    assert safe_cast(Obj(), A) == (A(7, 1.0), None)


@pytest.mark.parametrize(
    "value, reason, path",
    [
        ({"a": "4"}, "Cannot cast {'a': '4'} to <class 'test_types.A'>: Field 'b' is missing", ""),
        ({"b": 2}, "Cannot cast {'b': 2} to <class 'test_types.A'>: Field 'a' is missing", ""),
        (
            {"a": "x", "b": 1},
            "Cannot cast field 'a' of {'a': 'x', 'b': 1} to <class 'test_types.A'>: "
            "Cannot cast 'x' to <class 'int'>",
            ".a",
        ),
    ],
)
def test_safe_cast__dataclass_failures(value, reason, path):
    assert safe_cast(value, A) == (None, reason)
    assert cast_error(A, value).path == path


def test_safe_cast__nested_paths_through_lists_and_dataclasses():
    value = [{"items": [{"name": "a"}]}, {"items": [{"name": "b"}, {"name": 3}]}]
    err = cast_error(List[Holder], value)
    assert err.path == "[1].items[1].name"
    assert err.args[0].startswith("Cannot cast [{'items': [{'name': 'a'}]}, ")
    assert err.args[0].endswith("Cannot cast 3 to <class 'str'>")


def test_safe_cast__dict_keys_win_over_dict_attributes_for_dataclass_fields():
    # Sematic reads getattr({"items": ...}, "items") first and fails on dict.items.
    assert safe_cast({"items": [{"name": "a"}]}, Holder) == (Holder([Named("a")]), None)


@dataclasses.dataclass
class WithPseudoFields:
    a: int
    k: typing.ClassVar[int] = 3
    x: dataclasses.InitVar[int] = 0


@dataclasses.dataclass
class StringAnnotated:
    a: "int"
    b: "List[float]"


@dataclasses.dataclass
class Unresolvable:
    a: "NoSuchName"  # noqa: F821


def test_safe_cast__dataclass_pseudo_fields_are_skipped():
    # Sematic casts ClassVar/InitVar pseudo-fields too, and so fails on every such dataclass.
    assert safe_cast(WithPseudoFields(1), WithPseudoFields) == (WithPseudoFields(1), None)
    assert safe_cast({"a": "2"}, WithPseudoFields) == (WithPseudoFields(2), None)


def test_safe_cast__dataclass_string_annotations_are_resolved():
    assert safe_cast({"a": "1", "b": [1]}, StringAnnotated) == (StringAnnotated(1, [1.0]), None)
    _, error = safe_cast({"a": 1}, Unresolvable)
    assert error == (
        "Cannot cast field 'a' of {'a': 1} to <class 'test_types.Unresolvable'>: Type 'NoSuchName' "
        "is not a valid Sematic type: " + expected_supported("NoSuchName")
    )


def test_safe_cast__recursive_dataclass_compiles_and_casts():
    value = {"v": 1, "children": [{"v": "2", "children": []}]}
    assert safe_cast(value, Node) == (Node(1, [Node(2, [])]), None)
    err = cast_error(Node, {"v": 1, "children": [{"v": "x", "children": []}]})
    assert err.path == ".children[0].v"


# ---------------------------------------------------------------- can_cast_type (§9 items 44, 49)


@pytest.mark.parametrize(
    "from_, to, expected",
    [
        (str, int, (False, "Cannot cast <class 'str'> to int")),
        (bool, int, (True, None)),
        (float, int, (True, None)),
        (int, float, (True, None)),
        (type(None), int, (False, "Cannot cast <class 'NoneType'> to int")),
        (int, str, (False, "<class 'int'> cannot cast to str")),
        (str, str, (True, None)),
        (int, bool, (False, "<class 'int'> cannot cast to <class 'bool'>")),
        (int, type(None), (False, "<class 'int'> cannot cast to <class 'NoneType'>")),
        (None, None, (True, None)),
        (int, datetime.datetime, (False, "<class 'int'> cannot cast to <class 'datetime.datetime'>")),
        (List[int], List[float], (True, None)),
        (List[str], List[float], (False, "Can't cast typing.List[str] to typing.List[float]:: Cannot cast <class 'str'> to float")),
        (int, List[int], (False, "Can't cast <class 'int'> to typing.List[int]: not a subscripted generic")),
        (Tuple[int, str], List[int], (False, "Can't cast typing.Tuple[int, str] to typing.List[int]:: Cannot cast <class 'str'> to int")),
        (Tuple[int, float], List[float], (True, None)),
        (Dict[str, int], List[str], (False, "Can't cast typing.Dict[str, int] to typing.List[str]:: <class 'int'> cannot cast to str")),
        (Union[int, str], List[int], (False, "Can't cast typing.Union[int, str] to typing.List[int]: not an iterable")),
        (Tuple[int, ...], List[int], (False, "Can't cast typing.Tuple[int, ...] to typing.List[int]:: Cannot cast Ellipsis to int")),
        (List[Any], List[int], (False, "Can't cast typing.List[typing.Any] to typing.List[int]:: Cannot cast typing.Any to int")),
        (Set[int], List[int], (True, None)),
        (List[str], Set[float], (False, "Can't cast typing.List[str] to typing.Set[float]:: Cannot cast <class 'str'> to float")),
        (Tuple[int, str], Tuple[int, str, int], (False, "Can't cast typing.Tuple[int, str] to typing.Tuple[int, str, int]: they have different arities (2 vs 3)")),
        (List[int], Tuple[int], (False, "Can't cast typing.List[int] to typing.Tuple[int]: not a tuple")),
        (Tuple[int, int], Tuple[float, str], (False, "Can't cast typing.Tuple[int, int] to typing.Tuple[float, str]:: <class 'int'> cannot cast to str")),
        (Dict[str, int], Dict[str, int], (True, None)),
        (int, Optional[int], (True, None)),
        (str, Optional[int], (False, "<class 'str'> cannot cast to any of (<class 'int'>, <class 'NoneType'>)")),
        (Optional[int], int, (False, "Cannot cast typing.Optional[int] to int")),
        (Optional[int], Optional[int], (True, None)),
        (A, A, (True, None)),
        (B, A, (True, None)),
        (A, B, (False, "Cannot cast <class 'test_types.A'> to <class 'test_types.B'>: missing fields: {'c'}")),
        (int, A, (False, "Cannot cast <class 'int'> to <class 'test_types.A'>: not a dataclass")),
        (Color, Color, (True, None)),
        (int, Color, (False, "<class 'int'> does not match <enum 'Color'>")),
        (int, object, (True, None)),
    ],
)
def test_can_cast_type__matches_sematic(from_, to, expected):
    assert can_cast_type(from_, to) == expected


@pytest.mark.parametrize(
    "from_, to",
    [
        # Sematic raises TypeError from issubclass() or gives False for these; they are castable.
        (dict[str, int], dict[str, int]),
        (Dict[str, int], Dict[str, float]),
        (int | None, Optional[int]),
        (Union[int, float], float),
        (List[int], object),
        (Chain, Chain2),
    ],
)
def test_can_cast_type__accepts_more_than_sematic_where_it_raised(from_, to):
    assert can_cast_type(from_, to) == (True, None)


@pytest.mark.parametrize(
    "from_, to, reason",
    [
        (int, Dict[str, int], "<class 'int'> cannot cast to typing.Dict[str, int]"),
        (Union[int, str], Tuple[int, str], "Can't cast typing.Union[int, str] to typing.Tuple[int, str]: not a tuple"),
        (List[int], bool, "typing.List[int] cannot cast to <class 'bool'>"),
    ],
)
def test_can_cast_type__says_no_where_sematic_raised(from_, to, reason):
    assert can_cast_type(from_, to) == (False, reason)


@pytest.mark.parametrize(
    "to, reason",
    [
        (Any, "'Any' is not a Sematic-supported type. Use 'object' instead."),
        (list, "list must be parametrized (list[...] instead of list)."),
        (List[Any], "'Any' is not a Sematic-supported type. Use 'object' instead."),
    ],
)
def test_can_cast_type__invalid_target_raises(to, reason):
    with pytest.raises(TypeError) as info:
        can_cast_type(List[int], to)
    assert str(info.value) == reason


def test_type__can_cast_from_accepts_types_and_annotations():
    t = compile_type(int)
    assert t.can_cast_from(compile_type(bool)) == (True, None)
    assert t.can_cast_from(str) == (False, "Cannot cast <class 'str'> to int")


# ---------------------------------------------------------------- robustness: odd inputs never crash


def test_robust__huge_ints_nan_and_inf():
    huge = 10**1000
    assert safe_cast(huge, int) == (huge, None)
    assert safe_cast(huge, float) == (None, f"Cannot cast {huge} to <class 'float'>")
    assert math.isnan(safe_cast(float("nan"), float)[0])
    assert math.isnan(safe_cast("nan", float)[0])
    assert safe_cast(float("inf"), float) == (float("inf"), None)
    assert safe_cast(float("nan"), int) == (None, "Cannot cast nan to <class 'int'>")
    assert safe_cast(float("inf"), int) == (None, "Cannot cast inf to <class 'int'>")
    assert safe_cast([huge, "1e400"], List[float])[1] is not None


def test_robust__deeply_nested_values_raise_recursion_error():
    head = None
    for _ in range(100_000):
        head = {"next": head}
    with pytest.raises(RecursionError):
        safe_cast(head, Chain)


def test_robust__cyclic_values_raise_recursion_error():
    node = Node(1, [])
    node.children.append(node)
    node.v = "1"  # forces a copy path too
    with pytest.raises(RecursionError):
        safe_cast(node, Node)


def test_robust__recursive_dataclass_can_cast_terminates():
    assert can_cast_type(Chain, Chain) == (True, None)
    assert can_cast_type(Chain2, Chain) == (True, None)
    assert can_cast_type(List[Chain], List[Chain2]) == (True, None)


class Boom(Exception):
    pass


class BadIter:
    def __iter__(self):
        raise Boom("iter")


class BadHash:
    def __hash__(self):
        raise Boom("hash")

    def __eq__(self, other):
        raise Boom("eq")


class BadHashFromValue(BadHash):
    def __init__(self, value):
        self.value = value


class BadRepr:
    def __repr__(self):
        raise Boom("repr")


class BadLen:
    def __iter__(self):
        return iter([1])

    def __len__(self):
        raise Boom("len")


class BadMapping(dict):
    def items(self):
        raise Boom("items")


class BadInstanceMeta(abc.ABCMeta):
    def __instancecheck__(cls, obj):
        raise Boom("instancecheck")


class BadInstance(metaclass=BadInstanceMeta):
    pass


class Interrupting:
    def __init__(self, value):
        raise KeyboardInterrupt


def test_robust__exceptions_from_user_objects_propagate():
    with pytest.raises(Boom, match="iter"):
        safe_cast(BadIter(), List[int])
    with pytest.raises(Boom, match="hash"):
        safe_cast([BadHash()], Set[object])
    with pytest.raises(Boom, match="hash"):
        safe_cast({"k": 1}, Dict[BadHashFromValue, int])
    with pytest.raises(Boom, match="repr"):
        safe_cast(BadRepr(), int)
    with pytest.raises(Boom, match="len"):
        safe_cast(BadLen(), Tuple[int])
    with pytest.raises(Boom, match="items"):
        safe_cast(BadMapping(a=1), Dict[str, int])
    with pytest.raises(KeyboardInterrupt):
        safe_cast(1, Interrupting)


def test_robust__odd_annotations_and_values():
    assert safe_cast(BadRepr(), object)[1] is None
    assert safe_cast([BadRepr()], List[object])[1] is None
    with pytest.raises(TypeError):
        compile_type(BadHash())  # unhashable and not a type: Sematic's "Expected ..." reason
    with pytest.raises(Boom):
        safe_cast(1, BadInstance)
    assert safe_cast({BadHash: 1}, Dict[type, int]) == ({BadHash: 1}, None)
    assert safe_cast({1: [1, 2]}, Dict[int, List[int]]) == ({1: [1, 2]}, None)


def test_robust__list_mutated_while_casting():
    values = ["a", "b", "c"]

    class Mutator:
        def __init__(self, v):
            values.clear()

    out, error = safe_cast(values, List[Mutator])
    assert error is None and len(out) == 1


def test_robust__list_growing_while_casting():
    values = ["a", "b"]

    class Grower:
        def __init__(self, v):
            if len(values) < 5:
                values.append("more")

    out, error = safe_cast(values, List[Grower])
    assert error is None and len(out) == 5


def test_safe_cast__dict_with_a_changed_value_keeps_order_and_is_a_new_dict():
    d = {"a": 1, "b": "2", "c": 3}
    out = compile_type(Dict[str, int]).cast(d)
    assert out == {"a": 1, "b": 2, "c": 3} and list(out) == ["a", "b", "c"]
    same = {"a": 1, "b": 2}
    out = compile_type(Dict[str, int]).cast(same)
    assert out == same and out is not same
    # keys that collide after the cast: the last one wins, as in Sematic
    assert safe_cast({1: "x", "1": "y"}, Dict[int, str]) == ({1: "y"}, None)


def test_robust__dict_mutated_while_casting_raises():
    d = {"a": "x", "b": "y"}

    class Adder:
        def __init__(self, v):
            d[v + "!"] = v

    with pytest.raises(RuntimeError, match="changed size"):
        safe_cast(d, Dict[str, Adder])


def test_robust__types_are_collected():
    for _ in range(3):
        @dataclasses.dataclass
        class Loop:
            me: Optional["Loop"]

        assert safe_cast({"me": None}, Loop)[1] is None
    gc.collect()


# ---------------------------------------------------------------- enums (§9 item 49) and getitem (API.md 2.2)


def test_enum__can_cast_only_identical_enums():
    class Other(enum.Enum):
        RED = 1

    assert can_cast_type(Other, Color) == (False, "<enum 'Other'> does not match <enum 'Color'>")
    assert can_cast_type(Color, Color) == (True, None)


@pytest.mark.parametrize(
    "container, key, output",
    [
        (List[str], 1, str),
        (Tuple[int, str], 0, int),
        (Tuple[int, str], -1, str),
        (Dict[str, int], "x", int),
        (list[float], 0, float),
    ],
)
def test_getitem__output_type(container, key, output):
    assert compile_type(container)._getitem(key).annotation is output


@pytest.mark.parametrize(
    "container, key, exc, message",
    [
        (int, 0, TypeError, "__getitem__ is not supported for Futures of type <class 'int'>"),
        (Optional[int], 0, TypeError, "__getitem__ is not supported for Futures of type typing.Optional[int]"),
        (Set[int], 0, TypeError, "__getitem__ is not supported for Futures of type typing.Set[int]"),
        (Dict[str, int], 1, TypeError, "Invalid key 1: Cannot cast 1 to <class 'str'>"),
        (Tuple[int, str], 5, IndexError, "tuple index out of range"),
        (Tuple[int, str], "a", TypeError, "tuple indices must be integers or slices, not str"),
        (
            List[Any], 0, TypeError,
            "Invalid type annotation for output of sematic.future_operators.getitem._getitem: "
            "'Any' is not a Sematic-supported type. Use 'object' instead.",
        ),
    ],
)
def test_getitem__errors_match_sematic(container, key, exc, message):
    with pytest.raises(exc) as info:
        compile_type(container)._getitem(key)
    assert str(info.value) == message
