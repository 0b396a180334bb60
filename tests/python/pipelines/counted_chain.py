"""A chain of N steps; each step appends its index to $COUNTER_FILE when it executes.

Run as ``python -m pipelines.counted_chain N ROOT_FILE [RESUME_FROM]``: the root
id is written to ROOT_FILE before the run starts. With KILL_AT=k the process
SIGKILLs itself inside step k (a seeded crash). With RESUME_FROM the run
continues that pipeline run (RerunMode.CONTINUE).
"""
import os
import signal
import sys

import sematic
from sematic.graph import RerunMode
from sematic.runners.local_runner import LocalRunner


@sematic.func
def step(x: int, i: int) -> int:
    with open(os.environ["COUNTER_FILE"], "a") as f:
        f.write(f"{i}\n")
    if os.environ.get("KILL_AT") == str(i):
        os.kill(os.getpid(), signal.SIGKILL)
    return x + i


@sematic.func
def chain(n: int) -> int:
    x = 0
    for i in range(n):
        x = step(x, i).set(name=f"step-{i}")
    return x


def main() -> None:
    n, root_file = int(sys.argv[1]), sys.argv[2]
    resume_from = sys.argv[3] if len(sys.argv) > 3 else None
    future = chain(n)
    with open(root_file, "w") as f:
        f.write(future.id)
    if resume_from:
        runner = LocalRunner(rerun_from=resume_from, rerun_mode=RerunMode.CONTINUE)
    else:
        runner = LocalRunner()
    print(runner.run(future))


if __name__ == "__main__":
    main()
