"""sematic._core value codec: encode, decode, type_serialization, decode_type
(docs/internals/codec.md; API.md 3.1-3.2, 4.2; §9 items 46-51).

The type serializations expected here were produced by the real Sematic 0.41
(sematic.types.serialization.type_to_json_encodable) and dumped with sorted
keys and no spaces; the value and summary formats are ours (codec.md).
"""
import abc
import dataclasses
import datetime
import enum
import hashlib
import json
import math
import pathlib
import random
import re
import sys
from pathlib import Path
from typing import Dict, FrozenSet, List, Optional, Set, Tuple, Union

import pytest

from sematic import _core
from sematic._core import decode, decode_type, encode, type_serialization

MODULE = __name__


class Color(enum.Enum):
    RED = 1
    GREEN = "g"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class A:
    a: int


@dataclasses.dataclass
class Point:
    x: float
    y: float = 0.0
    tags: List[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Point3(Point):
    z: float = 0.0


class PlainSub(Point):
    """A subclass that declares no fields: Sematic's category "class"."""


@dataclasses.dataclass
class Holder:
    point: Point
    color: Color
    anything: object
    maybe: Optional[Point] = None
    when: Optional[datetime.datetime] = None


@dataclasses.dataclass
class Counted:
    n: int
    doubled: int = dataclasses.field(init=False, default=0)

    def __post_init__(self):
        self.doubled = 2 * self.n


@dataclasses.dataclass(frozen=True)
class FrozenCounted:
    n: int
    label: str = dataclasses.field(init=False, default="none")


@dataclasses.dataclass(frozen=True)
class Key:
    name: str
    version: int


@dataclasses.dataclass
class Node:
    value: int
    children: List["Node"] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Named:
    name: object


class MyList(list):
    pass


class MyStr(str):
    pass


class MyDict(dict):
    pass


class Tz(datetime.tzinfo):
    """A time zone that is not datetime.timezone: its datetimes are pickled."""

    def utcoffset(self, dt):
        return datetime.timedelta(hours=1)

    def __eq__(self, other):
        return type(other) is Tz

    def __hash__(self):
        return 1


class Opaque:
    """An arbitrary class: stored by pickle."""

    def __init__(self, x):
        self.x = x

    def __eq__(self, other):
        return type(other) is Opaque and other.x == self.x

    def __repr__(self):
        return f"Opaque({self.x!r})"


def roundtrip(annotation, value):
    """encode then decode; returns (decoded, encoded tuple)."""
    encoded = encode(annotation, value)
    return decode(encoded[1], encoded[2]), encoded


def same(a, b):
    """Equal, with the same classes all the way down (1 != 1.0 != True here), NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a) and all(
            same(k, next(k2 for k2 in b if k2 == k)) for k in a
        )
    if isinstance(a, (set, frozenset)):
        return a == b and all(any(same(x, y) for y in b) for x in a)
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    return a == b


def assert_roundtrip(annotation, value):
    back, encoded = roundtrip(annotation, value)
    assert same(back, value), (back, value, encoded)
    return encoded


# ------------------------------------------------------------------ formats


def test_codec__encode_returns_id_and_three_json_texts():
    id_, type_json, value_json, summary_json = encode(int, 42)
    assert type_json == '{"registry":{"int":[]},"type":["builtin","int",{}]}'
    assert value_json == "42"
    assert summary_json == "42"
    assert id_ == hashlib.sha256((type_json + "\n" + value_json).encode()).hexdigest()
    assert re.fullmatch("[0-9a-f]{64}", id_)


def test_codec__encode_accepts_a_compiled_type():
    assert encode(_core.compile_type(List[int]), [1]) == encode(List[int], [1])


@pytest.mark.parametrize(
    "annotation, value, value_json",
    [
        (int, -7, "-7"),
        (int, 2**63 - 1, "9223372036854775807"),
        (int, 2**64, "18446744073709551616"),
        (int, -(2**100), str(-(2**100))),
        (float, 1.0, "1.0"),
        (float, 0.1, "0.1"),
        (float, -0.0, "-0.0"),
        (float, 1e100, "1e+100"),
        (float, float("nan"), '"NaN"'),
        (float, float("inf"), '"Infinity"'),
        (float, float("-inf"), '"-Infinity"'),
        (str, "a\"b\\c\n\x01", '"a\\"b\\\\c\\n\\u0001"'),
        (str, "h\u00e9llo \U0001f600", '"h\u00e9llo \U0001f600"'),
        (bool, True, "true"),
        (type(None), None, "null"),
        (None, None, "null"),
        (bytes, b"\x00\xffab", '"AP9hYg=="'),
        (List[int], [3, 1, 2], "[3,1,2]"),
        (Tuple[int, str], (1, "x"), '[1,"x"]'),
        (Set[str], {"b", "a", "c"}, '["a","b","c"]'),
        (Set[int], {10, 9, 100}, "[10,100,9]"),
        (Dict[str, int], {"b": 2, "a": 1}, '{"items":[["a",1],["b",2]]}'),
        (Color, Color.GREEN, '"GREEN"'),
        (datetime.datetime, datetime.datetime(2024, 5, 6, 7, 8, 9, 10), '"2024-05-06T07:08:09.000010"'),
        (datetime.date, datetime.date(2024, 5, 6), '"2024-05-06"'),
        (Path, Path("/tmp/x y"), '"/tmp/x y"'),
        (A, A(3), '{"values":{"a":3}}'),
        (List[Optional[int]], [None, 2], '[{"value":null,"value_type_index":1},{"value":2,"value_type_index":0}]'),
        (object, None, "null"),
        (object, 3, "3"),
        (object, 3.0, "3.0"),
        (object, True, "true"),
        (object, "s", '"s"'),
    ],
)
def test_codec__value_json_of_each_kind(annotation, value, value_json):
    encoded = assert_roundtrip(annotation, value)
    assert encoded[2] == value_json


def test_codec__sets_sort_by_encoded_bytes_and_frozensets_read_back_as_sets():
    assert encode(Set[int], frozenset({2, 1}))[2] == "[1,2]"
    assert decode(*encode(Set[int], frozenset({2, 1}))[1:3]) == {1, 2}
    assert encode(Set[int], frozenset({2, 1}))[0] == encode(Set[int], {1, 2})[0]


def test_codec__dataclass_values_have_sorted_keys():
    assert encode(Point, Point(1.5, 2.0, ["a"]))[2] == '{"values":{"tags":["a"],"x":1.5,"y":2.0}}'


def test_codec__tuple_with_ellipsis_uses_one_type_for_every_element():
    encoded = assert_roundtrip(Tuple[int, ...], (1, 2, 3))
    assert encoded[2] == "[1,2,3]"
    assert json.loads(encoded[1])["type"] == ["typing", "tuple", {"args": [{"type": ["builtin", "int", {}]}, {"value": "..."}]}]
    assert decode_type(encoded[1]) == Tuple[int, ...]


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize(
    "annotation, value",
    [
        (int, 0),
        (int, 10**40),
        (float, 5e-324),
        (float, 1.7976931348623157e308),
        (str, ""),
        (str, "\u2028\u2029\x7f\t\r\x00"),
        (bytes, b""),
        (bytes, bytes(range(256))),
        (List[List[int]], [[], [1], [2, 3]]),
        (Dict[str, Dict[int, List[str]]], {"a": {1: ["x"]}, "b": {}}),
        (Dict[Tuple[int, str], float], {(1, "a"): 1.0, (0, "b"): 2.5}),
        (Dict[Key, int], {Key("a", 1): 1, Key("b", 2): 2}),
        (Dict[Color, bool], {Color.RED: True, Color.GREEN: False}),
        (Set[Tuple[int, int]], {(1, 2), (0, 5)}),
        (Tuple[int, Tuple[str, bool], List[float]], (1, ("a", False), [0.5])),
        (Tuple[()], ()),
        (Optional[List[int]], [1]),
        (Union[int, str, None], "x"),
        (Union[Dict[int, str], None], {1: "a"}),
        (Holder, Holder(Point(1.0), Color.RED, {"any": [1]}, Point3(1, 2, ["t"], 3), datetime.datetime(2020, 1, 1))),
        (Node, Node(1, [Node(2), Node(3, [Node(4)])])),
        (Key, Key("k", 2)),
        (Level, Level.HIGH),
        (List[Level], [Level.LOW]),
        (object, Opaque([1, 2])),
        (Opaque, Opaque("x")),
        (List[object], [1, "a", 2.0, None, True, [1], {"k": 2}, Opaque(1)]),
        (Dict[object, object], {1: 1, "1": 2, 1.5: 3, None: 4, True: 5, (1,): 6}),
        (datetime.datetime, datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)),
        (datetime.datetime, datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=5)))),
        (datetime.datetime, datetime.datetime(2020, 1, 1, fold=1)),
        (pathlib.PurePath, pathlib.PurePath("a/b")),
        (pathlib.PurePosixPath, pathlib.PurePosixPath("/x")),
        (frozenset, frozenset({1, 2})),
        (List[int], [1, 2**70, True, -5, Level.LOW, 0, -(2**63)]),
        (List[float], [1.5, float("nan"), -0.0, float("-inf"), 1e300]),
        (List[float], [i / 7 for i in range(3000)]),
    ],
)
def test_codec__round_trips(annotation, value):
    assert_roundtrip(annotation, value)


def test_codec__deeply_nested_dicts_and_sets():
    """Each nesting level of sets and dicts sorts in its own scratch buffer."""
    t, v = Set[int], {3, 1, 2}
    for i in range(10):
        t, v = Dict[str, t], {"b": v, str(i): v}
    assert_roundtrip(t, v)
    assert encode(Dict[Tuple[int, int], Set[str]], {(2, 1): {"b", "a"}, (1, 2): set()})[2] == (
        '{"items":[[[1,2],[]],[[2,1],["a","b"]]]}'
    )


def test_codec__int_float_and_bool_are_distinguished():
    ids = {encode(object, v)[0] for v in (1, 1.0, True)}
    assert len(ids) == 3
    assert [type(v) for v in decode(*encode(List[object], [1, 1.0, True])[1:3])] == [int, float, bool]
    # bool is an int: True at an int position stays True.
    assert decode(*encode(int, True)[1:3]) is True
    assert decode(*encode(Dict[object, int], {1: 1, 1.5: 2})[1:3]) == {1: 1, 1.5: 2}


def test_codec__big_ints_round_trip_at_any_size():
    for v in (2**63, -(2**63) - 1, 3**500, -(7**2000)):
        back = assert_roundtrip(int, v)
        assert back[2] == str(v)
        assert_roundtrip(object, v)
    huge = 10**5000  # more digits than str() allows: pickled
    encoded = assert_roundtrip(int, huge)
    assert encoded[2].startswith('{"pickle":')


def test_codec__nan_and_infinities():
    for v in (float("nan"), float("inf"), float("-inf")):
        back, encoded = roundtrip(float, v)
        assert same(back, v)
        # At an `object` position they would read back as strings: pickled instead.
        back, encoded = roundtrip(object, v)
        assert same(back, v) and encoded[2].startswith('{"pickle":')
    assert encode(float, float("nan"))[3] == '"NaN"'


def test_codec__unicode_and_escapes():
    for s in ['"', "\\", "\b\f\n\r\t", "\x1f", "\u00e9", "\u4e2d", "\U0001f600", "a\x00b", "</script>"]:
        encoded = assert_roundtrip(str, s)
        assert json.loads(encoded[2]) == s
    # A lone surrogate is not UTF-8: the string is pickled.
    encoded = assert_roundtrip(str, "\ud800x")
    assert encoded[2].startswith('{"pickle":')


def test_codec__subclasses_of_core_types_keep_their_class():
    for annotation, value in [(int, Level.LOW), (List[int], MyList([1])), (str, MyStr("s")), (Dict[str, int], MyDict(a=1))]:
        back, encoded = roundtrip(annotation, value)
        assert type(back) is type(value) and back == value
        assert encoded[2].startswith('{"pickle":')


def test_codec__dataclass_subclass_is_preserved():
    back, encoded = roundtrip(Point, Point3(1.0, 2.0, [], 3.0))
    assert type(back) is Point3 and back == Point3(1.0, 2.0, [], 3.0)
    payload = json.loads(encoded[2])
    assert sorted(payload) == ["root_type", "values"]
    assert payload["root_type"] == json.loads(type_serialization(Point3))
    # The exact class writes no root_type.
    assert sorted(json.loads(encode(Point, Point(1.0))[2])) == ["values"]


def test_codec__dataclass_field_holding_a_subclass_has_a_types_entry():
    back, encoded = roundtrip(Holder, Holder(Point3(1.0, 2.0, [], 3.0), Color.RED, 1))
    assert type(back.point) is Point3
    payload = json.loads(encoded[2])
    assert payload["types"] == {"point": json.loads(type_serialization(Point3))}
    assert payload["values"]["point"] == {"values": {"tags": [], "x": 1.0, "y": 2.0, "z": 3.0}}


def test_codec__dataclass_without_own_fields_round_trips():
    back, encoded = roundtrip(Point, PlainSub(1.0))
    assert type(back) is PlainSub
    assert json.loads(encoded[2])["root_type"]["type"] == ["class", "PlainSub", {"import_path": MODULE}]


def test_codec__dataclass_missing_field_takes_the_constructor_default():
    _, type_json, value_json, _ = encode(Point, Point(1.0, 5.0, ["t"]))
    old = json.loads(value_json)
    del old["values"]["y"], old["values"]["tags"]
    back = decode(type_json, json.dumps(old))
    assert back == Point(1.0, 0.0, [])


def test_codec__dataclass_extra_field_in_payload_is_ignored():
    _, type_json, value_json, _ = encode(A, A(1))
    back = decode(type_json, '{"values":{"a":1,"gone":2}}')
    assert back == A(1)


def test_codec__dataclass_init_false_fields_and_post_init():
    back, _ = roundtrip(Counted, Counted(4))
    assert back.n == 4 and back.doubled == 8
    c = Counted(1)
    c.doubled = 100
    back, _ = roundtrip(Counted, c)
    assert back.doubled == 100


def test_codec__frozen_dataclass_init_false_field_is_restored():
    value = FrozenCounted(2)
    object.__setattr__(value, "label", "set later")
    back, _ = roundtrip(FrozenCounted, value)
    assert back.n == 2 and back.label == "set later"


def test_codec__an_empty_list_of_any_is_stored():
    """List[Any] is the type of an empty _make_list (API.md 2.2)."""
    from typing import Any

    _, type_json, value_json, summary_json = encode(List[Any], [])
    assert (value_json, summary_json) == ("[]", '{"length":0,"summary":[]}')
    assert json.loads(type_json)["type"] == ["typing", "list", {"args": [{"value": "typing.Any"}]}]
    assert decode(type_json, value_json) == []
    assert decode_type(type_json) == List[Any]
    with pytest.raises(TypeError, match="'Any' is not a Sematic-supported type"):
        encode(List[Any], [1])


def test_codec__decode_accepts_bytes_and_str():
    _, type_json, value_json, _ = encode(List[str], ["\u00e9"])
    assert decode(type_json.encode(), value_json.encode()) == ["\u00e9"]
    assert decode_type(type_json.encode()) == List[str]


def test_codec__dataclass_in_sematic_format_decodes():
    """Sematic writes root_type and types always; we read them."""
    type_json = type_serialization(Point)
    value_json = json.dumps(
        {"root_type": json.loads(type_json), "types": {}, "values": {"x": 1.0, "y": 2.0, "tags": ["a"]}}
    )
    assert decode(type_json, value_json) == Point(1.0, 2.0, ["a"])


def test_codec__dataclass_root_type_must_be_a_subclass():
    value_json = json.dumps({"root_type": json.loads(type_serialization(A)), "values": {"a": 1}})
    with pytest.raises(TypeError, match="Serialized value was a .*A.*, could not deserialize to a .*Point"):
        decode(type_serialization(Point), value_json)


def test_codec__recursive_dataclass():
    encoded = assert_roundtrip(Node, Node(1, [Node(2)]))
    ser = json.loads(encoded[1])
    # The inner reference to Node has no "fields" (Sematic would recurse forever).
    fields = ser["type"][2]["fields"]
    assert fields["children"]["type"][2]["args"][0]["type"] == ["dataclass", "Node", {"import_path": MODULE}]


def test_codec__enum_member_name_and_errors():
    assert encode(Color, Color.RED)[2] == '"RED"'
    assert decode(type_serialization(Color), '"Color.GREEN"') is Color.GREEN
    with pytest.raises(ValueError, match="^The type Color has no value 'BLUE'$"):
        decode(type_serialization(Color), '"BLUE"')


def test_codec__datetime_round_trips_and_summarizes_as_iso():
    d = datetime.datetime(2023, 1, 2, 3, 4, 5, 6)
    _, _, value_json, summary_json = encode(datetime.datetime, d)
    assert value_json == summary_json == '"2023-01-02T03:04:05.000006"'
    # Time zones other than datetime.timezone would lose their class in ISO text: pickled.
    back, encoded = roundtrip(datetime.datetime, d.replace(tzinfo=Tz()))
    assert encoded[2].startswith('{"pickle":')
    assert type(back.tzinfo) is Tz and back == d.replace(tzinfo=Tz())


# ------------------------------------------------------------------ unions


def test_codec__top_level_union_is_narrowed_to_the_member():
    assert encode(Optional[int], 3) == encode(int, 3)
    assert encode(Optional[int], None) == encode(type(None), None)
    assert encode(Union[int, str], "x")[1] == type_serialization(str)
    assert encode(Union[Point, None], Point3(1.0))[1] == type_serialization(Point)


def test_codec__union_picks_the_first_exact_member():
    # bool is an int: True under Union[int, bool] picks bool.
    assert encode(List[Union[int, bool]], [True, 1])[2] == (
        '[{"value":true,"value_type_index":1},{"value":1,"value_type_index":0}]'
    )
    assert encode(List[Union[float, int]], [1])[2] == '[{"value":1,"value_type_index":1}]'
    # Containers of the same kind: the member the elements fit.
    back, encoded = roundtrip(List[Union[List[int], List[str]]], [["a"], [1]])
    assert encoded[2] == '[{"value":["a"],"value_type_index":1},{"value":[1],"value_type_index":0}]'
    assert back == [["a"], [1]]
    # A subclass instance fits its dataclass's place (it is encoded as itself, not pickled):
    # the member holding it is picked, whichever order the dict was built in. (Found by the
    # random round trips when typing ordered this Union's members so.)
    t = List[Union[Tuple[A, ...], Tuple[Dict[str, Point], ...]]]
    points = {"p": Point(1.0), "q": Point3(2.0, 0.0, [], 3.0)}
    back, encoded = roundtrip(t, [(points,)])
    assert '"value_type_index":1' in encoded[2] and '"pickle"' not in encoded[2]
    assert same(back, [(points,)])
    assert encode(t, [({"q": points["q"], "p": points["p"]},)]) == encoded


def test_codec__a_bool_under_int_without_bool_member_stays_compact():
    # Union[int, float] casts True to the int member, which keeps it a bool. (typing caches
    # List[Union[int, float]] as List[Union[float, int]] when that was made first: Tuple here.)
    assert encode(Tuple[Union[int, float]], (True,))[2] == '[{"value":true,"value_type_index":0}]'
    assert encode(Union[int, float], True) == encode(int, True)
    back = decode(*encode(Tuple[Union[float, int]], (False,))[1:3])
    assert back == (False,) and back[0] is False


def test_codec__union_value_matching_no_member_is_pickled():
    back, encoded = roundtrip(List[Optional[int]], [1.5])
    assert back == [1.5] and encoded[2].startswith('[{"pickle":')


# ------------------------------------------------------------------ ids


def test_codec__equal_values_have_equal_ids_regardless_of_insertion_order():
    d1 = {"a": 1, "b": 2, "c": {3: "x", 1: "y"}}
    d2 = {"c": {1: "y", 3: "x"}, "b": 2, "a": 1}
    t = Dict[str, Union[int, Dict[int, str]]]
    assert encode(t, d1) == encode(t, d2)
    s1, s2 = set(), set()
    for i in range(50):
        s1.add(f"k{i}")
    for i in reversed(range(50)):
        s2.add(f"k{i}")
    assert encode(Set[str], s1) == encode(Set[str], s2)


def test_codec__ids_differ_with_the_type():
    assert encode(int, 1)[0] != encode(float, 1.0)[0]
    assert encode(List[int], [1])[0] != encode(Set[int], {1})[0]
    assert encode(object, 1)[0] != encode(int, 1)[0]


def test_codec__encoding_is_deterministic_across_calls():
    v = Holder(Point(1.0, tags=["a", "b"]), Color.GREEN, {"k": [1, 2]})
    assert len({encode(Holder, v) for _ in range(5)}) == 1


# ------------------------------------------------------------------ type serialization


def test_codec__type_serialization_of_api_item_47():
    assert type_serialization(int) == '{"registry":{"int":[]},"type":["builtin","int",{}]}'
    assert type_serialization(List[int]) == (
        '{"registry":{"int":[],"list":[]},"type":["typing","list",{"args":[{"type":["builtin","int",{}]}]}]}'
    )
    assert type_serialization(A) == (
        '{"registry":{"A":[],"int":[]},"type":["dataclass","A",{"fields":{"a":{"type":["builtin","int",{}]}},'
        f'"import_path":"{MODULE}"}}]}}'
    )
    for t in (int, List[int], A):
        assert decode_type(type_serialization(t)) == t


# Produced by Sematic 0.41's type_to_json_encodable (sorted keys, no spaces).
SEMATIC_TYPE_SERIALIZATIONS = {
    "bool": '{"registry":{"bool":[["builtin","int",{}]],"int":[]},"type":["builtin","bool",{}]}',
    "object": '{"registry":{},"type":["class","object",{"import_path":"builtins"}]}',
    "Optional[int]": '{"registry":{"NoneType":[],"Union":[],"int":[]},"type":["typing","Union",{"args":[{"type":["builtin","int",{}]},{"type":["builtin","NoneType",{}]}]}]}',
    "Dict[str, int]": '{"registry":{"dict":[],"int":[],"str":[]},"type":["typing","dict",{"args":[{"type":["builtin","str",{}]},{"type":["builtin","int",{}]}]}]}',
    "Tuple[int, str]": '{"registry":{"int":[],"str":[],"tuple":[]},"type":["typing","tuple",{"args":[{"type":["builtin","int",{}]},{"type":["builtin","str",{}]}]}]}',
    "Set[int]": '{"registry":{"int":[],"set":[]},"type":["typing","set",{"args":[{"type":["builtin","int",{}]}]}]}',
    "datetime": '{"registry":{"date":[],"datetime":[["class","date",{"import_path":"datetime"}]]},"type":["class","datetime",{"import_path":"datetime"}]}',
    "Path": '{"registry":{"Path":[["class","PurePath",{"import_path":"pathlib"}]],"PurePath":[]},"type":["class","Path",{"import_path":"pathlib"}]}',
    "Color": '{"registry":{"Color":[["class","Enum",{"import_path":"enum"}]],"Enum":[]},"type":["class","Color",{"import_path":"M"}]}',
    "Point3": '{"registry":{"Point":[],"Point3":[["dataclass","Point",{"fields":{"tags":{"type":["typing","list",{"args":[{"type":["builtin","str",{}]}]}]},"x":{"type":["builtin","float",{}]},"y":{"type":["builtin","float",{}]}},"import_path":"M"}]],"float":[],"list":[],"str":[]},"type":["dataclass","Point3",{"fields":{"tags":{"type":["typing","list",{"args":[{"type":["builtin","str",{}]}]}]},"x":{"type":["builtin","float",{}]},"y":{"type":["builtin","float",{}]},"z":{"type":["builtin","float",{}]}},"import_path":"M"}]}',
    "PlainSub": '{"registry":{"PlainSub":[["dataclass","Point",{"fields":{"tags":{"type":["typing","list",{"args":[{"type":["builtin","str",{}]}]}]},"x":{"type":["builtin","float",{}]},"y":{"type":["builtin","float",{}]}},"import_path":"M"}]],"Point":[],"float":[],"list":[],"str":[]},"type":["class","PlainSub",{"import_path":"M"}]}',
}


@pytest.mark.parametrize("name", sorted(SEMATIC_TYPE_SERIALIZATIONS))
def test_codec__type_serialization_matches_sematic(name):
    annotation = {
        "bool": bool,
        "object": object,
        "Optional[int]": Optional[int],
        "Dict[str, int]": Dict[str, int],
        "Tuple[int, str]": Tuple[int, str],
        "Set[int]": Set[int],
        "datetime": datetime.datetime,
        "Path": Path,
        "Color": Color,
        "Point3": Point3,
        "PlainSub": PlainSub,
    }[name]
    expected = SEMATIC_TYPE_SERIALIZATIONS[name].replace('"import_path":"M"', f'"import_path":"{MODULE}"')
    assert type_serialization(annotation) == expected
    assert decode_type(expected) == annotation


def test_codec__pep604_and_builtin_generics_serialize_like_typing():
    assert type_serialization(int | None) == type_serialization(Optional[int])
    assert type_serialization(list[int]) == type_serialization(List[int])
    assert type_serialization(dict[str, int]) == type_serialization(Dict[str, int])


def test_codec__decode_type_returns_typing_annotations():
    assert decode_type(type_serialization(list[int])) == List[int]
    assert decode_type(type_serialization(Optional[Point])) == Optional[Point]
    assert decode_type(type_serialization(type(None))) is type(None)
    assert decode_type(type_serialization(object)) is object
    assert decode_type(type_serialization(bytes)) is bytes


# ------------------------------------------------------------------ summaries


def test_codec__summary_shapes():
    assert encode(List[int], [1, 2])[3] == '{"length":2,"summary":[1,2]}'
    assert encode(Set[int], {2, 1})[3] == '{"length":2,"summary":[1,2]}'
    assert encode(Tuple[int, str], (1, "a"))[3] == '[1,"a"]'
    assert encode(Dict[str, int], {"b": 2, "a": 1})[3] == '[["a",1],["b",2]]'
    assert encode(Optional[int], 3)[3] == "3"
    assert encode(List[Optional[int]], [None])[3] == '{"length":1,"summary":[null]}'
    assert encode(Color, Color.RED)[3] == '"RED"'
    assert encode(object, Opaque(1))[3] == '{"repr":"Opaque(1)"}'
    assert encode(bytes, b"ab")[3] == '{"repr":"b\'ab\'"}'


def test_codec__dataclass_summary_has_root_type_types_and_values():
    summary = json.loads(encode(Holder, Holder(Point(1.0), Color.RED, 5))[3])
    assert sorted(summary) == ["root_type", "types", "values"]
    assert summary["root_type"] == json.loads(type_serialization(Holder))
    # A field declared `object` is typed by its value's class, for displays.
    assert summary["types"] == {"anything": json.loads(type_serialization(int))}
    assert summary["values"]["point"]["values"] == {"tags": {"length": 0, "summary": []}, "x": 1.0, "y": 0.0}
    assert summary["values"]["color"] == "RED"


def test_codec__summary_of_a_100000_element_list_is_bounded():
    value = list(range(100000))
    _, _, value_json, summary_json = encode(List[int], value)
    assert json.loads(value_json) == value
    summary = json.loads(summary_json)
    assert summary["length"] == 100000
    assert 1 <= len(summary["summary"]) < 100000
    assert summary["summary"] == value[: len(summary["summary"])]
    assert 128 * 1024 <= len(summary_json) <= 256 * 1024


def test_codec__summary_keeps_at_least_one_element():
    big = "x" * 4000
    summary = json.loads(encode(List[List[str]], [[big] * 40, [big] * 40])[3])
    assert summary["length"] == 2
    assert len(summary["summary"]) == 1
    assert summary["summary"][0]["length"] == 40 and len(summary["summary"][0]["summary"]) >= 1
    assert len(json.dumps(summary)) <= 256 * 1024


def test_codec__summary_truncates_long_strings_bytes_and_reprs():
    assert json.loads(encode(str, "é" * 5000)[3]) == "é" * 4096 + "\u2026"
    assert json.loads(encode(str, "x" * 4096)[3]) == "x" * 4096
    assert json.loads(encode(bytes, b"a" * 300)[3]) == {"repr": repr(b"a" * 256) + "\u2026"}
    assert json.loads(encode(object, Opaque("y" * 2000))[3])["repr"] == repr(Opaque("y" * 2000))[:1024] + "\u2026"
    # The payload keeps everything.
    assert decode(*encode(str, "é" * 5000)[1:3]) == "é" * 5000


def test_codec__summary_of_big_dict_is_bounded():
    value = {f"key{i:06d}": i for i in range(50000)}
    summary = json.loads(encode(Dict[str, int], value)[3])
    assert 1 <= len(summary) < 50000
    assert summary[0] == ["key000000", 0]


# ------------------------------------------------------------------ errors


def test_codec__unpicklable_value_error_names_type_and_path():
    value = [Named(1), Named(2), Named(3), Named(lambda: 0)]
    with pytest.raises(TypeError) as info:
        encode(List[Named], value)
    message = str(info.value)
    assert message.startswith("cannot store a value of type 'function' at [3].name: it is not picklable (")
    assert message.endswith("); use a dataclass of supported types or make it picklable")
    assert info.value.__cause__ is not None


def test_codec__unpicklable_value_at_the_top():
    import threading

    with pytest.raises(TypeError, match=r"^cannot store a value of type '_thread.lock': it is not picklable \(cannot pickle '_thread.lock' object\); use a dataclass"):
        encode(object, threading.Lock())
    with pytest.raises(TypeError, match=r"at \['k'\]: it is not picklable"):
        encode(Dict[str, object], {"k": threading.Lock()})


def test_codec__undecodable_import_path():
    type_json = json.dumps({"registry": {}, "type": ["dataclass", "C", {"import_path": "no_such_module_xyz", "fields": {}}]})
    with pytest.raises(ImportError) as info:
        decode(type_json, '{"values":{}}')
    assert str(info.value) == (
        "cannot decode artifact: type 'no_such_module_xyz.C' cannot be imported (No module named "
        "'no_such_module_xyz'); run from the project that defines it"
    )
    with pytest.raises(ImportError, match=r"type 'json.NoSuchClass' cannot be imported \(module 'json' has no attribute 'NoSuchClass'\)"):
        decode_type(json.dumps({"registry": {}, "type": ["class", "NoSuchClass", {"import_path": "json"}]}))


@pytest.mark.parametrize(
    "annotation, value_json, message",
    [
        (int, '"x"', "expected an integer for int, got a string"),
        (int, "1.5", "expected an integer for int, got a number"),
        (List[int], "{}", "expected an array for typing.List[int], got an object"),
        (List[int], '[1,"a"]', "expected an integer for int at [1], got a string"),
        (Point, '{"values":{"x":"a"}}', "expected a number for float at .x, got a string"),
        (Point, '{"x":1.0}', f'expected {{"values": {{field: value, ...}}}} for {MODULE}.Point, got an object'),
        (Dict[str, int], "[]", "expected {\"items\": [[key, value], ...]} for typing.Dict[str, int], got an array"),
        (Dict[str, int], '{"items":[["a","b"]]}', "expected an integer for int at ['a'], got a string"),
        (Tuple[int, int], "[1]", "expected an array of 2 elements for typing.Tuple[int, int], got an array"),
        (Optional[List[int]], "[1]", 'expected {"value": ..., "value_type_index": i} for typing.Optional[typing.List[int]], got an array'),
        (bytes, '"@@@@"', "expected base64 text for bytes, got a string"),
        (object, "[1]", 'expected a JSON scalar or {"pickle": ...} for object, got an array'),
        (Opaque, '"x"', f'expected {{"pickle": ...}} for {MODULE}.Opaque, got a string'),
    ],
)
def test_codec__malformed_payloads_name_what_was_expected(annotation, value_json, message):
    with pytest.raises(ValueError) as info:
        decode(type_serialization(annotation), value_json)
    assert str(info.value) == "cannot decode artifact: " + message


def test_codec__malformed_json_and_types():
    with pytest.raises(ValueError, match="^cannot decode artifact: "):
        decode(type_serialization(int), "[1,")
    with pytest.raises(ValueError, match="^cannot decode artifact type: "):
        decode("{}", "1")
    with pytest.raises(ValueError, match="^cannot decode artifact type: expected a builtin type name, got a string$"):
        decode('{"registry":{},"type":["builtin","complex",{}]}', "1")
    with pytest.raises(TypeError):
        decode(1, "1")


def test_codec__deeply_nested_values_raise_recursion_error():
    value = Node(0)
    for i in range(100000):
        value = Node(i, [value])
    # JSON nests 256 levels at most (include/sematic/json.h).
    with pytest.raises(_core.SM_ETOOBIG, match="^cannot encode a value: "):
        encode(Node, value)
    nested = "[" * 100000 + "]" * 100000
    with pytest.raises(ValueError, match="^cannot decode artifact: "):
        decode(type_serialization(List[object]), nested)


# ------------------------------------------------------------------ property-style


HASHABLE_LEAVES = [int, str, bool, bytes, Color, Level, type(None)]
LEAVES = HASHABLE_LEAVES + [float, object, datetime.datetime, datetime.date, Point, A]


def random_type(rng, depth, hashable=False):
    if depth == 0 or rng.random() < 0.3:
        return rng.choice(HASHABLE_LEAVES if hashable else LEAVES)
    kinds = ["tuple", "optional", "union"] if hashable else ["list", "set", "dict", "tuple", "optional", "union", "ellipsis"]
    kind = rng.choice(kinds)
    if kind == "list":
        return List[random_type(rng, depth - 1)]
    if kind == "set":
        return Set[random_type(rng, depth - 1, hashable=True)]
    if kind == "dict":
        return Dict[random_type(rng, depth - 1, hashable=True), random_type(rng, depth - 1)]
    if kind == "tuple":
        return Tuple[tuple(random_type(rng, depth - 1, hashable) for _ in range(rng.randint(1, 3)))]
    if kind == "ellipsis":
        return Tuple[random_type(rng, depth - 1), ...]
    if kind == "optional":
        return Optional[random_type(rng, depth - 1, hashable)]
    members = tuple({random_type(rng, depth - 1, hashable) for _ in range(rng.randint(2, 3))})
    return Union[members] if len(members) > 1 else members[0]


def random_str(rng):
    alphabet = "ab\"\\\n\x00\u00e9\u4e2d\U0001f600 "
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))


def random_value(rng, t):
    import typing

    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is list:
        return [random_value(rng, args[0]) for _ in range(rng.randint(0, 4))]
    if origin is set:
        return {random_value(rng, args[0]) for _ in range(rng.randint(0, 4))}
    if origin is dict:
        return {random_value(rng, args[0]): random_value(rng, args[1]) for _ in range(rng.randint(0, 4))}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(random_value(rng, args[0]) for _ in range(rng.randint(0, 3)))
        return tuple(random_value(rng, a) for a in args)
    if origin is Union:
        return random_value(rng, rng.choice(args))
    if t is int:
        return rng.choice([0, -1, rng.randint(-(10**6), 10**6), rng.randint(-(2**80), 2**80)])
    if t is float:
        return rng.choice([0.0, -0.0, rng.uniform(-1e6, 1e6), 1e300, float("inf")])
    if t is str:
        return random_str(rng)
    if t is bool:
        return rng.random() < 0.5
    if t is bytes:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 5)))
    if t is type(None):
        return None
    if t is Color:
        return rng.choice(list(Color))
    if t is Level:
        return rng.choice(list(Level))
    if t is object:
        return rng.choice([None, 1, 1.5, "s", True, [1, 2], Opaque(rng.randint(0, 9)), Color.RED])
    if t is datetime.datetime:
        return datetime.datetime(2000 + rng.randint(0, 50), 1, 1, rng.randint(0, 23), microsecond=rng.randint(0, 999999))
    if t is datetime.date:
        return datetime.date(2000 + rng.randint(0, 50), rng.randint(1, 12), 1)
    if t is Point:
        return rng.choice([Point, Point3])(rng.uniform(-5, 5), tags=[random_str(rng)])
    if t is A:
        return A(rng.randint(-5, 5))
    raise AssertionError(t)


def reordered(value):
    """The same value with dicts and sets built in another insertion order."""
    if isinstance(value, dict) and type(value) is dict:
        return {k: reordered(value[k]) for k in reversed(list(value))}
    if type(value) is set:
        out = set()
        for v in sorted(value, key=repr, reverse=True):
            out.add(v)
        return out
    if type(value) is list:
        return [reordered(v) for v in value]
    if type(value) is tuple:
        return tuple(reordered(v) for v in value)
    return value


@pytest.mark.parametrize("seed", range(40))
def test_codec__random_nested_values_round_trip(seed):
    rng = random.Random(seed)
    for _ in range(25):
        t = random_type(rng, 3)
        value = random_value(rng, t)
        back, encoded = roundtrip(t, value)
        assert same(back, value), (t, value, back, encoded[2])
        assert encode(t, reordered(value)) == encoded, (t, value)
        json.loads(encoded[2])
        json.loads(encoded[3])
        # Decoding the decoded value's encoding is a fixed point.
        assert encode(t, back)[0] == encoded[0]


# ------------------------------------------------------------------ lint


def test_codec__extension_lint_covers_codec_c():
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        import test_extension_lint as lint
    finally:
        sys.path.pop(0)
    source = (lint.EXT / "codec.c").read_text()
    names = [name for name, _ in lint.functions(source)]
    assert {"sm_codec_encode", "enc_list", "dec_dataclass", "sum_dataclass"} <= set(names)
    problems = []
    for name, body in lint.functions(source):
        for opening, closing in lint.PAIRS:
            if lint.calls(body, opening) > lint.calls(body, closing):
                problems.append(f"codec.c:{name}: {opening} without {closing}")
    assert problems == []
    assert lint.EXT / "codec.c" in lint.SOURCES


@pytest.mark.parametrize(
    "annotation, value",
    [
        (int, 5),
        (float, float("nan")),
        (str, "x" * 4096),
        (str, "x" * 4097),
        (object, 1.5),
        (List[int], list(range(2000))),
        (List[int], list(range(20000))),
        (List[str], ["a", "b"]),
        (List[object], [1, None, "s"]),
        (Set[float], {0.5, 1.5}),
        (Tuple[int, str], (1, "s")),
        (Tuple[float, ...], (1.0, 2.0)),
        (Dict[str, int], {"b": 1, "a": 2}),
        (Dict[str, int], {f"k{i}": i for i in range(20000)}),
        (Dict[int, object], {1: None, 2: "x{y"}),
        (List[int], [1, 2**70, True, -5, Level.LOW]),
        (List[float], [1.5, float("nan"), 2.0, 7]),
        (Point, Point(1.0, 2.0)),
        (Counted, Counted(3)),
        (Key, Key("k" * 5000, 1)),
        (Named, Named(1)),
        (Point, Point3(1.0)),
    ],
)
def test_codec__summary_shortcuts_agree_with_the_full_walk(annotation, value):
    """Scalars, lists of scalars and dataclasses of scalars copy their summary from the payload;
    inside a Tuple[X, Opaque] the same value is summarized by walking it."""
    direct = encode(annotation, value)[3]
    walked = encode(Tuple[annotation, object], (value, Opaque(0)))[3]
    assert walked == "[" + direct + ',{"repr":"Opaque(0)"}]'


@pytest.mark.parametrize("seed", range(5))
def test_codec__floats_are_written_in_their_shortest_form(seed):
    rng = random.Random(seed)
    import struct

    values = [rng.uniform(-1e6, 1e6) for _ in range(200)]
    values += [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0] for _ in range(200)]
    values += [2.0**e for e in range(-1074, 1024, 7)] + [1e16, 1e-4, 9.999999999999999e-5, 5e-324]
    for v in values:
        if math.isfinite(v):
            assert encode(float, v)[2] == repr(v)
            assert float(encode(float, v)[2]) == v


class Perm(enum.Flag):
    R = 4
    W = 2


def test_codec__composite_flags_are_pickled():
    value = Perm.R | Perm.W
    back, encoded = roundtrip(Perm, value)
    assert back is value or back == value
    assert encode(Perm, Perm.R)[2] == '"R"'
    assert_roundtrip(List[Perm], [Perm.W, value])
