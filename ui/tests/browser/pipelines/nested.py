"""A pipeline of nested runs: a tree of `branch` funcs, each returning the sum of
its children, `leaf` runs at the bottom.

    SEMATIC_HOME=... python -m pipelines.nested [DEPTH] [WIDTH]

With the defaults (depth 3, width 3): 1 root, 3 + 9 branches, 27 leaves and a
`total` per branch: 53 runs. Prints ``ROOT <root id>``.
"""
import sys
from typing import List

import sematic


@sematic.func
def leaf(i: int) -> int:
    return i


@sematic.func
def total(xs: List[int]) -> int:
    return sum(xs)


@sematic.func
def branch(depth: int, width: int, base: int) -> int:
    if depth == 1:
        return total([leaf(base + i) for i in range(width)])
    return total([branch(depth - 1, width, (base + i) * width) for i in range(width)])


@sematic.func
def nested_pipeline(depth: int = 3, width: int = 3) -> int:
    return branch(depth, width, 0)


if __name__ == "__main__":
    depth = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    width = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    future = nested_pipeline(depth, width)
    print(f"ROOT {future.id}", flush=True)
    sematic.LocalRunner().run(future)
