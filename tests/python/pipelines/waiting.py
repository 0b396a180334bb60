"""A pipeline whose second step waits (interruptibly) for a minute: for cancel tests.

``python -m pipelines.waiting ROOT_FILE MARKER``: writes the root id to ROOT_FILE,
and MARKER once the waiting step has started.
"""
import sys
import time

import sematic
from sematic.runners.local_runner import LocalRunner


@sematic.func
def first(x: int) -> int:
    return x + 1


@sematic.func
def wait(x: int, marker: str) -> int:
    print("waiting", flush=True)
    with open(marker, "w") as f:
        f.write("started")
    time.sleep(60)
    return x


@sematic.func
def pipeline(x: int, marker: str) -> int:
    return wait(first(x), marker)


if __name__ == "__main__":
    future = pipeline(1, sys.argv[2])
    with open(sys.argv[1], "w") as f:
        f.write(future.id)
    LocalRunner().run(future)
