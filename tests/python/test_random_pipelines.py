"""Random pipelines: SilentRunner agrees with plain Python on seeded random expression trees.

Each tree mixes every way a graph grows: plain calls, nesting (a func that
returns the future of a sub-tree), lists of futures into a reducer, tuple
futures unpacked with getitem, and retries of steps that fail once. The same
tree is evaluated directly in Python and as a dynamic Sematic pipeline, and
the two results must match.
"""
import random
from typing import List, Tuple, Union

import pytest

import sematic

Tree = Union[int, tuple]


def random_tree(rng: random.Random, depth: int) -> Tree:
    if depth == 0 or rng.random() < 0.2:
        return rng.randint(-5, 5)
    kind = rng.choice(["add", "mul", "sum", "pair", "nest", "flaky"])
    if kind == "sum":
        return ("sum", [random_tree(rng, depth - 1) for _ in range(rng.randint(0, 4))])
    if kind in ("nest", "flaky"):
        return (kind, random_tree(rng, depth - 1))
    return (kind, random_tree(rng, depth - 1), random_tree(rng, depth - 1))


def plain(tree: Tree) -> int:
    if isinstance(tree, int):
        return tree
    kind = tree[0]
    if kind == "add":
        return plain(tree[1]) + plain(tree[2])
    if kind == "mul":
        return (plain(tree[1]) * plain(tree[2])) % 1009
    if kind == "sum":
        return sum(plain(t) for t in tree[1])
    if kind == "pair":  # (a, b) -> a - b, through a Tuple future unpacked by getitem
        return plain(tree[1]) - plain(tree[2])
    return plain(tree[1])  # nest, flaky


@sematic.func
def add(a: int, b: int) -> int:
    return a + b


@sematic.func
def mul(a: int, b: int) -> int:
    return (a * b) % 1009


@sematic.func
def total(xs: List[int]) -> int:
    return sum(xs)


@sematic.func
def make_pair(a: int, b: int) -> Tuple[int, int]:
    return a, b


@sematic.func
def subtract(a: int, b: int) -> int:
    return a - b


_attempts: dict = {}


class Flaky(Exception):
    pass


@sematic.func(retry=sematic.RetrySettings(exceptions=(Flaky,), retries=1))
def flaky_identity(x: int, key: str) -> int:
    _attempts[key] = _attempts.get(key, 0) + 1
    if _attempts[key] == 1:
        raise Flaky(key)
    return x


@sematic.func
def evaluate(tree: object) -> int:
    """Build the graph of `tree` one level at a time: its value is a future."""
    return _graph_of(tree)


def _graph_of(tree: Tree):
    if isinstance(tree, int):
        return add(tree, 0)
    kind = tree[0]
    if kind == "add":
        return add(_graph_of(tree[1]), _graph_of(tree[2]))
    if kind == "mul":
        return mul(_graph_of(tree[1]), _graph_of(tree[2]))
    if kind == "sum":
        return total([_graph_of(t) for t in tree[1]])
    if kind == "pair":
        a, b = make_pair(_graph_of(tree[1]), _graph_of(tree[2]))
        return subtract(a, b)
    if kind == "nest":
        return evaluate(tree[1])
    return flaky_identity(_graph_of(tree[1]), key=str(id(tree)))


@pytest.mark.parametrize("seed", range(40))
def test_random_pipeline__silent_runner_agrees_with_plain_python(seed):
    rng = random.Random(seed)
    tree = random_tree(rng, depth=rng.randint(1, 6))
    _attempts.clear()
    assert sematic.SilentRunner().run(evaluate(tree)) == plain(tree)
    assert all(n == 2 for n in _attempts.values())
