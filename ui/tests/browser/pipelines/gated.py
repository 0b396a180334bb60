"""A pipeline the test drives: each step waits for a file the test creates.

    SEMATIC_HOME=... python -m pipelines.gated GATE_DIR

Writes GATE_DIR/root (the root id) before running. Step NAME (``first``, then
``second``, which consumes first's output) writes GATE_DIR/NAME.started (its
run id) once it runs, then waits until GATE_DIR/NAME.go exists, and returns
its input plus one. The test creates the .go files to move the run on, so
what the page shows in between is a known state, not a race.
"""
import os
import sys
import time

import sematic

POLL_S = 0.02
WAIT_LIMIT_S = 120.0  # a test that never opens the gate still ends


def _write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)  # readers see the whole id or nothing


def _wait_for(path: str) -> None:
    # A file has no change notification in the standard library: look again shortly.
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nobody created '{path}' within {WAIT_LIMIT_S} s")
        time.sleep(POLL_S)


@sematic.func
def gate(name: str, gate_dir: str, x: int) -> int:
    print(f"{name}: waiting for {name}.go", flush=True)
    _write(os.path.join(gate_dir, f"{name}.started"), sematic.context().run_id)
    _wait_for(os.path.join(gate_dir, f"{name}.go"))
    print(f"{name}: open", flush=True)
    return x + 1


@sematic.func
def gated_pipeline(gate_dir: str) -> int:
    first = gate("first", gate_dir, 1)
    return gate("second", gate_dir, first)


if __name__ == "__main__":
    gate_dir = sys.argv[1]
    future = gated_pipeline(gate_dir)
    _write(os.path.join(gate_dir, "root"), future.id)
    sematic.LocalRunner().run(future)
