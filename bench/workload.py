"""One benchmark workload, run in a fresh interpreter by bench/overhead.py.

    python bench/workload.py IMPL WORKLOAD N [--runner silent|local]

IMPL is `sematic` (whatever `import sematic` finds in this interpreter: ours
in .venv, the real Sematic 0.41 in bench/peers/.venv) or `plain` (the same
functions, undecorated, called directly). WORKLOAD is

- `chain`: a pipeline func that calls `x = inc(x)` N times, each step
  consuming the previous one's future;
- `fanout`: a pipeline func that calls `inc(i)` for N independent i and hands
  the list of N futures to one reducer, `total(xs: List[int])`;
- `import`: only `import sematic` (N is ignored).

--runner picks the runner: `silent` (default, SilentRunner) or `local`
(LocalRunner). Ours records into the store at $SEMATIC_HOME (sematic.db, its
-wal and blobs/); the real Sematic's sends every run to the API server its
settings name (bench/peers/server.py starts one and sets them).

The same source runs under both Sematic implementations, since ours has
Sematic's API. The last line printed is `BENCH-RESULT {json}` with the wall
time of building and running the graph (the import excluded), the increase in
peak RSS over the baseline taken after the import, and the result or the
error; after a LocalRunner run of ours, also the bytes of the store
(`store_bytes`: sematic.db + sematic.db-wal + everything under blobs/, the
-shm index excluded, sizes as stat reports them, once the WAL has been
checkpointed into the database; `wal_left_bytes`: the WAL as the run left it,
before that checkpoint) and their split.
"""

import argparse
import json
import os
import resource
import sys
import time
from typing import List


def peak_rss_kib() -> int:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def report(**fields) -> None:
    sys.stdout.flush()
    print("BENCH-RESULT " + json.dumps(fields), flush=True)


def error_name(exc: BaseException) -> str:
    """The root cause's type name: Sematic wraps a step's RecursionError in a
    PipelineRunError whose message holds the original traceback."""
    seen = set()
    cur = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, RecursionError):
            return "RecursionError"
        cur = cur.__cause__ or cur.__context__
    if "RecursionError" in str(exc):
        return "RecursionError"
    return type(exc).__name__


def store_sizes(home: str) -> dict:
    """Bytes of our store at `home` (empty when there is none)."""
    db = os.path.join(home, "sematic.db")
    if not os.path.exists(db):
        return {}

    def size(path):
        try:
            return os.stat(path).st_size
        except OSError:
            return 0

    blobs = 0
    for root, _, files in os.walk(os.path.join(home, "blobs")):
        blobs += sum(size(os.path.join(root, f)) for f in files)
    # LocalRunner leaves checkpointing the WAL's last part to whoever writes next (see
    # docs/internals/record.md): do it here, untimed, so that the size is what stays.
    wal_left = size(db + "-wal")
    import sqlite3  # here, not at the top: SQLite is first started by the run itself

    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    sizes = {"db_bytes": size(db), "wal_bytes": size(db + "-wal"), "blobs_bytes": blobs}
    sizes["store_bytes"] = sum(sizes.values())
    sizes["wal_left_bytes"] = wal_left
    return sizes


ap = argparse.ArgumentParser()
ap.add_argument("impl", choices=["sematic", "plain"])
ap.add_argument("workload", choices=["chain", "fanout", "import"])
ap.add_argument("n", type=int)
ap.add_argument("--runner", choices=["silent", "local"], default="silent")
ARGS = ap.parse_args()
IMPL, WORKLOAD, N, RUNNER = ARGS.impl, ARGS.workload, ARGS.n, ARGS.runner

if WORKLOAD == "import":
    before_kib = peak_rss_kib()
    t0 = time.perf_counter()
    import sematic

    wall_s = time.perf_counter() - t0
    report(
        wall_s=wall_s,
        rss_kib=peak_rss_kib() - before_kib,
        total_rss_kib=peak_rss_kib(),
        version=getattr(sematic, "__version__", "?"),
        file=sematic.__file__,
    )
    sys.exit(0)

if IMPL == "plain":

    def func(f):
        return f

    def run(value):
        return value

else:
    import sematic

    func = sematic.func
    Runner = sematic.LocalRunner if RUNNER == "local" else sematic.SilentRunner

    def run(future):
        return Runner().run(future)


# The workload, defined once for all three implementations.


@func
def inc(x: int) -> int:
    return x + 1


@func
def total(xs: List[int]) -> int:
    return sum(xs)


@func
def chain(n: int) -> int:
    x = 0
    for _ in range(n):
        x = inc(x)
    return x


@func
def fanout(n: int) -> int:
    return total([inc(i) for i in range(n)])


pipeline, expected = {"chain": (chain, N), "fanout": (fanout, N * (N + 1) // 2)}[WORKLOAD]

baseline_kib = peak_rss_kib()
t0 = time.perf_counter()
try:
    result = run(pipeline(N))
except Exception as exc:  # reported, not raised: the table shows it
    report(error=error_name(exc), wall_s=time.perf_counter() - t0)
    sys.exit(0)
wall_s = time.perf_counter() - t0
if result != expected:
    report(error=f"wrong result {result!r}, expected {expected!r}", wall_s=wall_s)
else:
    rss_kib = peak_rss_kib() - baseline_kib
    store = {}
    if IMPL == "sematic" and RUNNER == "local" and os.environ.get("SEMATIC_HOME"):
        store = store_sizes(os.environ["SEMATIC_HOME"])
    report(wall_s=wall_s, rss_kib=rss_kib, **store)
