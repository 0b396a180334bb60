"""N independent steps into one reducer: the shape of a big sweep.

    SEMATIC_HOME=... python -m pipelines.fanout N

N `inc` runs, one `total` and the root: N + 2 runs. Prints ``ROOT <root id>``.
bench/ui_paint.py builds its stores with this file too.
"""
import os
import sys
from typing import List

import sematic


@sematic.func
def inc(x: int) -> int:
    return x + 1


@sematic.func
def total(xs: List[int]) -> int:
    return sum(xs)


@sematic.func
def fanout_pipeline(n: int) -> int:
    return total([inc(i) for i in range(n)])


if __name__ == "__main__":
    os.environ.setdefault("SEMATIC_PROGRESS", "0")
    future = fanout_pipeline(int(sys.argv[1]))
    print(f"ROOT {future.id}", flush=True)
    sematic.LocalRunner().run(future)
