"""Orchestration overhead: ours against plain Python and the real Sematic 0.41.

    .venv/bin/python bench/overhead.py [--sizes 1000,10000,100000] [--quick]
                                       [--runners silent,local]

Two workloads (see bench/workload.py): a chain of N dependent steps and a
fan-out of N steps into one reducer, on two runners: SilentRunner (nothing
kept) and LocalRunner (every run, artifact and edge recorded). Each
measurement is a fresh subprocess, so the peak RSS it reports belongs to that
workload alone (ru_maxrss after the run minus ru_maxrss after `import
sematic`). Every workload is also run as plain Python calls; overhead per step
is (time - plain time) / N. Ours and plain keep the best of --repeat runs.

Our LocalRunner writes to a fresh SEMATIC_HOME per measurement and is run
twice: SEMATIC_SYNC=full (the default: durable at every commit; the target is
measured on it) and SEMATIC_SYNC=normal, for comparison. Its store size per
step is sematic.db + sematic.db-wal + blobs/ after the run (and a checkpoint
of the WAL it leaves), over N.
SEMATIC_COMMIT_INTERVAL_MS is left as the environment has it (default 5).
Sematic's LocalRunner needs its API server: bench/peers/server.py starts one
(`sematic start` with its own SEMATIC_CONFIG_DIR and a free port on
127.0.0.1) for the LocalRunner part and stops it at the end; its store per
step is the growth of the server's db.sqlite3 and data/ over N.

The real Sematic comes from bench/peers/.venv (bash bench/peers/setup.sh
makes it; `make bench` does so when needed). It is measured at the smallest
size first; a larger size whose extrapolated time exceeds --peer-limit-min is
skipped and the estimate printed. Sematic's SilentRunner recurses once per
step of a chain, so its chain of 1,000 ends in RecursionError: that is printed
as its result, and larger chains are not tried. Sematic's LocalRunner spends
0.1 s or more per step, growing with N (its chain of 1,000 does not finish in
10 minutes), so it is first measured at --peer-local-sizes (default 100,300)
and the same extrapolation decides which of --sizes it runs; a run that was
estimated to fit but exceeds --peer-limit-min is stopped there. Where it did
not run, 'Sematic ÷ ours' uses the estimate (~) or the limit it was stopped at
(>=); the target compares with its largest finished size instead.

To measure a package that is not installed in .venv (a staged build), pass
--ours-pythonpath DIR or set BENCH_OURS_PYTHONPATH=DIR: it goes first on
PYTHONPATH for every run of ours (the import line prints which file loaded).
"""

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from peers.server import PeerServer, PeerServerError

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
WORKLOAD = os.path.join(BENCH, "workload.py")
OURS_PY = os.path.join(ROOT, ".venv", "bin", "python")
PEER_PY = os.path.join(BENCH, "peers", ".venv", "bin", "python")
PEER_SEMATIC = os.path.join(BENCH, "peers", ".venv", "bin", "sematic")

TARGET_OVERHEAD_US = 5.0  # per step, at 100,000 steps
TARGET_SPEEDUP = 100.0  # our overhead vs Sematic's, at 1,000 steps
TARGET_BYTES_PER_STEP = 1024
TARGET_IMPORT_S = 0.050
TARGET_IMPORT_BYTES = 30_000_000
TARGET_LOCAL_OVERHEAD_US = 30.0  # LocalRunner, SEMATIC_SYNC=full, per step at 100,000
TARGET_LOCAL_SPEEDUP = 1000.0  # our LocalRunner's overhead per step vs Sematic's


class Result:
    """One measurement: wall seconds and peak RSS increase, or an error."""

    def __init__(self, wall_s=None, rss_kib=None, error=None, extra=None):
        self.wall_s = wall_s
        self.rss_kib = rss_kib
        self.error = error
        self.extra = extra or {}

    @property
    def ok(self):
        return self.error is None


def measure(python, impl, workload, n, timeout_s, home, runner="silent", env=None,
            fresh_home=False):
    """Runs one workload in a fresh interpreter and returns its Result.

    env is added to this process's environment; fresh_home runs it with
    SEMATIC_HOME set to a new empty directory under home, removed after."""
    run_home = tempfile.mkdtemp(prefix="home-", dir=home) if fresh_home else home
    env = dict(os.environ, SEMATIC_HOME=run_home, PYTHONUNBUFFERED="1", **(env or {}))
    try:
        proc = subprocess.run(
            [python, WORKLOAD, impl, workload, str(n), "--runner", runner],
            cwd=run_home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return Result(error=f"timeout after {fmt_duration(timeout_s)}",
                      extra={"at_least_s": timeout_s})
    finally:
        if fresh_home:
            shutil.rmtree(run_home, ignore_errors=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("BENCH-RESULT "):
            fields = json.loads(line[len("BENCH-RESULT ") :])
            return Result(
                wall_s=fields.pop("wall_s", None),
                rss_kib=fields.pop("rss_kib", None),
                error=fields.pop("error", None),
                extra=fields,
            )
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        return Result(error=f"killed by {name}: {tail[:80]}")
    return Result(error=f"exit {proc.returncode}: {tail[:100]}")


def fmt_duration(s):
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    if s < 120:
        return f"{s:.2f} s"
    return f"{s / 60:.1f} min"


def fmt_bytes(n):
    if n is None:
        return "-"
    if n < 1024:
        return f"{n:.0f} B"
    if n < 1024 ** 2:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 ** 2:.1f} MiB"


def fmt_kib(kib):
    if kib is None:
        return "-"
    return f"{kib / 1024:.1f} MiB"


def fmt_n(n):
    return f"{n:,}"


COLUMNS = [
    ("workload", 8),
    ("N", 8),
    ("impl", 8),
    ("wall", 10),
    ("µs/step", 9),
    ("overhead µs/step", 17),
    ("peak RSS", 10),
    ("B/step", 8),
    ("Sematic ÷ ours", 14),
]


LOCAL_COLUMNS = [
    ("workload", 8),
    ("N", 8),
    ("impl", 11),
    ("wall", 10),
    ("µs/step", 9),
    ("overhead µs/step", 17),
    ("peak RSS", 10),
    ("store B/step", 12),
    ("Sematic ÷ ours", 14),
]


def row(*cells, columns=COLUMNS):
    return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, (_, w)) in
                     enumerate(zip(cells, columns))).rstrip()


def print_header(columns):
    print(row(*(name for name, _ in columns), columns=columns))
    print(row(*("-" * w for _, w in columns), columns=columns))


def print_row(workload, n, impl, res, plain, peer=None):
    if not res.ok:
        print(row(workload, fmt_n(n), impl, res.error), flush=True)
        return
    per_step = res.wall_s / n * 1e6
    overhead = "-"
    if impl != "plain" and plain is not None and plain.ok:
        overhead = f"{(res.wall_s - plain.wall_s) / n * 1e6:.2f}"
    bytes_per_step = "-" if res.rss_kib is None else f"{res.rss_kib * 1024 / n:.0f}"
    versus = ""
    if impl == "ours" and peer is not None and peer.ok and plain is not None and plain.ok:
        ours_over = res.wall_s - plain.wall_s
        peer_over = peer.wall_s - plain.wall_s
        if ours_over > 0:
            versus = f"{peer_over / ours_over:,.0f}x"
    print(
        row(workload, fmt_n(n), impl, fmt_duration(res.wall_s), f"{per_step:.2f}", overhead,
            fmt_kib(res.rss_kib), bytes_per_step, versus),
        flush=True,
    )


def best_of(repeats, python, impl, workload, n, timeout_s, home, **kw):
    """The fastest of `repeats` fresh runs (the first error ends it)."""
    best = None
    for _ in range(repeats):
        res = measure(python, impl, workload, n, timeout_s, home, **kw)
        if not res.ok:
            return res
        if best is None or res.wall_s < best.wall_s:
            best = res
    return best


def import_cost(python, repeats, home, env=None):
    """Best-of-`repeats` time of `import sematic`; the peak RSS of that run."""
    return best_of(repeats, python, "sematic", "import", 0, 300, home, env=env)


def estimate_s(points, n):
    """Extrapolates a run time to size n from earlier (size, seconds) points:
    the growth exponent is fitted from the last two points, or taken as 2
    (Sematic's runner scans its futures once per step) from one."""
    (n1, t1) = points[-1]
    exponent = 2.0
    if len(points) >= 2:
        (n0, t0) = points[-2]
        if t0 > 0 and n1 != n0:
            exponent = min(3.0, max(1.0, math.log(t1 / t0) / math.log(n1 / n0)))
    return t1 * (n / n1) ** exponent


def mark(ok):
    return "ok  " if ok else "MISS"


def overhead_s(res, plain):
    """Seconds res spent beyond plain Python: measured, or for a peer run that
    was skipped or stopped, its estimate or lower bound. None if unknown."""
    if res is None or plain is None or not plain.ok:
        return None
    if res.ok:
        return res.wall_s - plain.wall_s
    for key in ("estimate_s", "at_least_s"):
        if key in res.extra:
            return res.extra[key] - plain.wall_s
    return None


def versus(peer, ours, plain):
    """'Sematic ÷ ours' for our row: ~ marks an estimate of Sematic's time,
    >= a lower bound (it was stopped at the limit)."""
    if peer is None or ours is None or not ours.ok:
        return ""
    peer_over, ours_over = overhead_s(peer, plain), overhead_s(ours, plain)
    if peer_over is None or ours_over is None or ours_over <= 0:
        return ""
    prefix = "" if peer.ok else ("~" if "estimate_s" in peer.extra else ">=")
    return f"{prefix}{peer_over / ours_over:,.0f}x"


def print_local_row(workload, n, impl, res, plain, peer=None):
    cols = LOCAL_COLUMNS
    if not res.ok:
        print(row(workload, fmt_n(n), impl, res.error, columns=cols), flush=True)
        return
    over = overhead_s(res, plain) if impl != "plain" else None
    store = res.extra.get("store_bytes")
    print(
        row(workload, fmt_n(n), impl, fmt_duration(res.wall_s), f"{res.wall_s / n * 1e6:.2f}",
            "-" if over is None else f"{over / n * 1e6:.2f}", fmt_kib(res.rss_kib),
            "-" if store is None else f"{store / n:,.0f}",
            versus(peer, res, plain) if impl.startswith("ours") else "", columns=cols),
        flush=True,
    )


class PeerSeries:
    """The real Sematic's runs of one workload at growing sizes. A size runs
    while the time extrapolated from the earlier ones fits limit_s and is
    skipped, with the estimate, after; the first failure ends the series."""

    def __init__(self, limit_s, stop_at_limit):
        self.limit_s = limit_s
        self.stop_at_limit = stop_at_limit  # timeout: the limit itself
        self.points = []  # (n, seconds) of successful runs
        self.failed_at = None  # (n, error)

    def run(self, n, measure_fn):
        """measure_fn(timeout_s) -> Result, called unless n is skipped."""
        if self.failed_at is not None:
            return Result(error=f"not run: {self.failed_at[1]} at {fmt_n(self.failed_at[0])}")
        estimate = estimate_s(self.points, n) if self.points else None
        if estimate is not None and estimate > self.limit_s:
            est_min = estimate / 60
            return Result(error=f"skipped (est. {est_min:.{0 if est_min >= 10 else 1}f} min)",
                          extra={"estimate_s": estimate})
        if self.stop_at_limit:
            timeout_s = self.limit_s
        elif estimate is None:
            timeout_s = self.limit_s * 3
        else:
            timeout_s = max(120, 3 * estimate)
        res = measure_fn(timeout_s)
        if res.ok:
            self.points.append((n, res.wall_s))
        else:
            self.failed_at = (n, res.error)
        return res


def parse_sizes(text):
    return sorted({int(s.replace("_", "")) for s in text.split(",") if s})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000",
                    help="comma-separated numbers of steps (default: %(default)s)")
    ap.add_argument("--quick", action="store_true",
                    help="sizes 1,000 and 10,000, import best of 3, Sematic only where "
                         "estimated under 1 minute")
    ap.add_argument("--runners", default="silent,local",
                    help="runners to measure, of silent and local (default: %(default)s)")
    ap.add_argument("--ours", default=OURS_PY, help="interpreter with our package installed")
    ap.add_argument("--ours-pythonpath", default=os.environ.get("BENCH_OURS_PYTHONPATH", ""),
                    help="directory put first on PYTHONPATH for ours, e.g. a staged build "
                         "(default: $BENCH_OURS_PYTHONPATH, else the package in --ours)")
    ap.add_argument("--peer", default=PEER_PY,
                    help="interpreter with the real Sematic 0.41 (default: bench/peers/.venv)")
    ap.add_argument("--no-peer", action="store_true", help="do not run the real Sematic")
    ap.add_argument("--peer-limit-min", type=float, default=10.0,
                    help="skip Sematic sizes estimated to take longer (default: %(default)s)")
    ap.add_argument("--peer-local-sizes", default="100,300",
                    help="sizes Sematic's LocalRunner is measured at first, to extrapolate "
                         "from; ours runs there too (default: %(default)s)")
    ap.add_argument("--workloads", default="chain,fanout")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of ours and plain per size, best time kept (default: %(default)s); "
                         "Sematic runs once")
    args = ap.parse_args()

    sizes = parse_sizes(args.sizes)
    import_repeats = 5
    if args.quick:
        sizes = [s for s in sizes if s <= 10_000] or [1000]
        import_repeats = 3
        args.peer_limit_min = min(args.peer_limit_min, 1.0)
    workloads = args.workloads.split(",")
    runners = [r for r in args.runners.split(",") if r]
    for r in runners:
        if r not in ("silent", "local"):
            sys.exit(f"bench: unknown runner '{r}' (expected silent or local)")

    if not os.path.exists(args.ours):
        sys.exit(f"bench: no interpreter at '{args.ours}'; run 'make install' first")
    ours_env = {}
    if args.ours_pythonpath:
        path = os.path.abspath(args.ours_pythonpath)
        if not os.path.isdir(os.path.join(path, "sematic")):
            sys.exit(f"bench: no sematic package under '{path}'")
        ours_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (path, os.environ.get("PYTHONPATH", "")) if p)
    use_peer = not args.no_peer
    if use_peer and not os.path.exists(args.peer):
        print(f"bench: no Sematic peer at '{args.peer}'; run 'bash bench/peers/setup.sh'. "
              "Continuing without it.\n")
        use_peer = False

    home = tempfile.mkdtemp(prefix="sematic-bench-")
    try:
        return run_all(args, sizes, workloads, runners, ours_env, use_peer, import_repeats, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run_all(args, sizes, workloads, runners, ours_env, use_peer, import_repeats, home):
    results = {}  # (workload, n, impl) -> Result, SilentRunner
    local = {}  # (workload, n, impl) -> Result, LocalRunner

    print("import sematic (fresh interpreter, best of %d)" % import_repeats)
    imports = {"ours": import_cost(args.ours, import_repeats, home, ours_env)}
    if use_peer:
        imports["sematic"] = import_cost(args.peer, import_repeats, home)
    for impl, res in imports.items():
        if res.ok:
            print(f"  {impl:8} {fmt_duration(res.wall_s):>9}  +{fmt_kib(res.rss_kib):>9}  "
                  f"(process peak {fmt_kib(res.extra.get('total_rss_kib'))}, "
                  f"version {res.extra.get('version')}, {res.extra.get('file')})")
        else:
            print(f"  {impl:8} {res.error}")
    print()

    def plain_for(workload, n):
        if (workload, n, "plain") not in results:
            results[(workload, n, "plain")] = best_of(args.repeat, args.ours, "plain", workload,
                                                      n, 600, home, env=ours_env)
        return results[(workload, n, "plain")]

    if "silent" in runners:
        print("SilentRunner")
        print_header(COLUMNS)
        for workload in workloads:
            series = PeerSeries(args.peer_limit_min * 60, stop_at_limit=False)
            for n in sizes:
                plain = plain_for(workload, n)
                print_row(workload, n, "plain", plain, None)

                peer = None
                if use_peer:
                    peer = series.run(n, lambda timeout_s: measure(
                        args.peer, "sematic", workload, n, timeout_s, home))
                    results[(workload, n, "sematic")] = peer
                    print_row(workload, n, "sematic", peer, plain)

                ours = best_of(args.repeat, args.ours, "sematic", workload, n, 600, home,
                               env=ours_env)
                results[(workload, n, "ours")] = ours
                print_row(workload, n, "ours", ours, plain, peer)
            print()

    local_sizes = sizes
    if "local" in runners:
        peer_sizes = parse_sizes(args.peer_local_sizes) if use_peer else []
        local_sizes = sorted(set(sizes) | set(peer_sizes))
        interval = os.environ.get("SEMATIC_COMMIT_INTERVAL_MS", "5 (default)")
        print(f"LocalRunner (ours: a fresh SEMATIC_HOME per run, SEMATIC_COMMIT_INTERVAL_MS="
              f"{interval}; 'ours' is SEMATIC_SYNC=full, 'ours normal' SEMATIC_SYNC=normal)")
        server = None
        if use_peer:
            t0 = time.perf_counter()
            try:
                server = PeerServer(PEER_SEMATIC).start()
                print(f"Sematic's LocalRunner talks to its server: `sematic start` at "
                      f"{server.url} (pid {server.pid}), healthy after "
                      f"{fmt_duration(time.perf_counter() - t0)}")
            except PeerServerError as exc:
                print(f"bench: the Sematic server did not start, so Sematic's LocalRunner is "
                      f"not measured: {exc}")
        try:
            print_header(LOCAL_COLUMNS)
            for workload in workloads:
                series = PeerSeries(args.peer_limit_min * 60, stop_at_limit=True)
                for n in local_sizes:
                    plain = plain_for(workload, n)
                    local[(workload, n, "plain")] = plain
                    print_local_row(workload, n, "plain", plain, None)

                    peer = None
                    if server is not None:
                        peer = series.run(n, lambda timeout_s: measure_peer_local(
                            args.peer, server, workload, n, timeout_s, home))
                        local[(workload, n, "sematic")] = peer
                        print_local_row(workload, n, "sematic", peer, plain)

                    for impl, sync in (("ours", "full"), ("ours normal", "normal")):
                        env = dict(ours_env, SEMATIC_SYNC=sync, SEMATIC_PROGRESS="0")
                        ours = best_of(args.repeat, args.ours, "sematic", workload, n, 600,
                                       home, runner="local", env=env, fresh_home=True)
                        local[(workload, n, impl)] = ours
                        print_local_row(workload, n, impl, ours, plain, peer)
                print()
        finally:
            if server is not None:
                server.stop()

    print_targets(results, imports, workloads, sizes, "silent" in runners)
    if "local" in runners:
        print_local_targets(local, workloads, local_sizes, sizes[-1])
    return 0


def measure_peer_local(python, server, workload, n, timeout_s, home):
    """Sematic's LocalRunner against `server`; the growth of the server's
    store during the run goes in extra['store_bytes']."""
    before = server.store_bytes()
    res = measure(python, "sematic", workload, n, timeout_s, home, runner="local",
                  env=server.client_env())
    if res.ok:
        res.extra["store_bytes"] = server.store_bytes() - before
    return res


def print_targets(results, imports, workloads, sizes, silent=True):
    print("targets")
    top = sizes[-1]
    for workload in workloads if silent else ():
        ours, plain = results.get((workload, top, "ours")), results.get((workload, top, "plain"))
        at = f"at {fmt_n(top)}" + ("" if top == 100_000 else " (target is at 100,000)")
        if ours and ours.ok and plain and plain.ok:
            over = (ours.wall_s - plain.wall_s) / top * 1e6
            print(f"  {mark(over <= TARGET_OVERHEAD_US)} {workload}: overhead {over:.2f} µs/step "
                  f"{at}; target <= {TARGET_OVERHEAD_US:g}")
            if ours.rss_kib is not None:
                per = ours.rss_kib * 1024 / top
                print(f"  {mark(per < TARGET_BYTES_PER_STEP)} {workload}: {per:.0f} B/step peak "
                      f"RSS {at}; target < 1 KiB")
        else:
            print(f"  MISS {workload}: ours did not run {at}")
        ours1, plain1, peer1 = (results.get((workload, 1000, k)) for k in ("ours", "plain", "sematic"))
        if ours1 and peer1 and plain1 and ours1.ok and plain1.ok:
            if peer1.ok:
                ratio = (peer1.wall_s - plain1.wall_s) / max(ours1.wall_s - plain1.wall_s, 1e-9)
                print(f"  {mark(ratio >= TARGET_SPEEDUP)} {workload}: overhead {ratio:,.0f}x less "
                      f"than Sematic at 1,000; target >= {TARGET_SPEEDUP:g}x")
            else:
                print(f"  ok   {workload}: Sematic at 1,000: {peer1.error}; ours ran it")
    ours_import = imports.get("ours")
    if ours_import and ours_import.ok:
        peak_bytes = ours_import.extra.get("total_rss_kib", 0) * 1024
        print(f"  {mark(ours_import.wall_s <= TARGET_IMPORT_S)} import time "
              f"{fmt_duration(ours_import.wall_s)}; target <= 50 ms")
        print(f"  {mark(peak_bytes <= TARGET_IMPORT_BYTES)} import peak RSS "
              f"{peak_bytes / 1e6:.1f} MB (whole process); target <= 30 MB")
    else:
        print(f"  MISS import: {ours_import.error if ours_import else 'not measured'}")


def print_local_targets(local, workloads, sizes, top):
    """LocalRunner: overhead at the largest size with SEMATIC_SYNC=full, store
    per step, and the ratio to Sematic's LocalRunner per step, taken at the
    largest size Sematic finished (measured, not extrapolated; the nearest to
    ours in size)."""
    print("targets: LocalRunner")
    at = f"at {fmt_n(top)}" + ("" if top == 100_000 else " (target is at 100,000)")
    for workload in workloads:
        got = {impl: local.get((workload, top, impl)) for impl in ("ours", "ours normal", "plain")}
        ours, normal, plain = got["ours"], got["ours normal"], got["plain"]
        if not (ours and ours.ok and plain and plain.ok):
            why = ours.error if ours else "not measured"
            print(f"  MISS {workload}: ours did not run {at}: {why}")
            continue
        over_us = (ours.wall_s - plain.wall_s) / top * 1e6
        print(f"  {mark(over_us <= TARGET_LOCAL_OVERHEAD_US)} {workload}: overhead "
              f"{over_us:.2f} µs/step {at}, SEMATIC_SYNC=full (durable); "
              f"target <= {TARGET_LOCAL_OVERHEAD_US:g}")
        if "store_bytes" in ours.extra:
            e = ours.extra
            print(f"  info {workload}: store {e['store_bytes'] / top:,.0f} B/step {at} "
                  f"(sematic.db {fmt_bytes(e['db_bytes'])}, -wal {fmt_bytes(e['wal_bytes'])}, "
                  f"blobs/ {fmt_bytes(e['blobs_bytes'])}; the run left a WAL of "
                  f"{fmt_bytes(e.get('wal_left_bytes', 0))}, checkpointed before measuring)")
        if normal and normal.ok:
            print(f"  info {workload}: SEMATIC_SYNC=normal: "
                  f"{(normal.wall_s - plain.wall_s) / top * 1e6:.2f} µs/step {at}")

        peers = {n: local[(workload, n, "sematic")] for n in sizes
                 if (workload, n, "sematic") in local}
        finished = [n for n, res in peers.items() if res.ok]
        if not finished:
            if not peers:
                print(f"  n/a  {workload}: Sematic's LocalRunner not measured; "
                      f"target >= {TARGET_LOCAL_SPEEDUP:,.0f}x less overhead per step")
            else:
                first = next(iter(peers.values()))
                print(f"  MISS {workload}: Sematic's LocalRunner did not finish a run "
                      f"({first.error}); nothing to compare with")
            continue
        m = finished[-1]
        plain_m = local[(workload, m, "plain")]
        peer_us = overhead_s(peers[m], plain_m) / m * 1e6
        ratio = peer_us / max(over_us, 1e-9)
        print(f"  {mark(ratio >= TARGET_LOCAL_SPEEDUP)} {workload}: overhead per step "
              f"{ratio:,.0f}x less than Sematic's LocalRunner ({peer_us / 1e3:.1f} ms/step at "
              f"{fmt_n(m)}, the largest N it finished; ours {at}); "
              f"target >= {TARGET_LOCAL_SPEEDUP:,.0f}x")
        if len(finished) >= 2:
            m0 = finished[-2]
            marginal_ms = (peers[m].wall_s - peers[m0].wall_s) / (m - m0) * 1e3
            print(f"  info {workload}: Sematic's LocalRunner's marginal cost from "
                  f"{fmt_n(m0)} to {fmt_n(m)} steps: {marginal_ms:.1f} ms/step")
        ours_m = local.get((workload, m, "ours"))
        if ours_m and ours_m.ok and m != top:
            print(f"  info {workload}: at {fmt_n(m)} steps, where both ran: "
                  f"{versus(peers[m], ours_m, plain_m)} less overhead")


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop the peer server.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    t0 = time.perf_counter()
    code = main()
    print(f"\nbench took {fmt_duration(time.perf_counter() - t0)}")
    sys.exit(code)
