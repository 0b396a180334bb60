"""Orchestration overhead: ours against plain Python and the real Sematic 0.41.

    .venv/bin/python bench/overhead.py [--sizes 1000,10000,100000] [--quick]

Two workloads run on SilentRunner (see bench/workload.py): a chain of N
dependent steps and a fan-out of N steps into one reducer. Each measurement is
a fresh subprocess, so the peak RSS it reports belongs to that workload alone
(ru_maxrss after the run minus ru_maxrss after `import sematic`). Every
workload is also run as plain Python calls; overhead per step is
(time - plain time) / N. Ours and plain keep the best of --repeat runs.

The real Sematic comes from bench/peers/.venv (bash bench/peers/setup.sh
makes it; `make bench` does so when needed). It is measured at the smallest
size first; a larger size whose extrapolated time exceeds --peer-limit-min is
skipped and the estimate printed. Sematic's SilentRunner recurses once per
step of a chain, so its chain of 1,000 ends in RecursionError: that is printed
as its result, and larger chains are not tried.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
WORKLOAD = os.path.join(BENCH, "workload.py")
OURS_PY = os.path.join(ROOT, ".venv", "bin", "python")
PEER_PY = os.path.join(BENCH, "peers", ".venv", "bin", "python")

TARGET_OVERHEAD_US = 5.0  # per step, at 100,000 steps
TARGET_SPEEDUP = 100.0  # our overhead vs Sematic's, at 1,000 steps
TARGET_BYTES_PER_STEP = 1024
TARGET_IMPORT_S = 0.050
TARGET_IMPORT_BYTES = 30_000_000


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


def measure(python, impl, workload, n, timeout_s, home):
    """Runs one workload in a fresh interpreter and returns its Result."""
    env = dict(os.environ, SEMATIC_HOME=home, PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.run(
            [python, WORKLOAD, impl, workload, str(n)],
            cwd=home,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return Result(error=f"timeout after {fmt_duration(timeout_s)}")
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


def row(*cells):
    return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, (_, w)) in
                     enumerate(zip(cells, COLUMNS))).rstrip()


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


def best_of(repeats, python, impl, workload, n, timeout_s, home):
    """The fastest of `repeats` fresh runs (the first error ends it)."""
    best = None
    for _ in range(repeats):
        res = measure(python, impl, workload, n, timeout_s, home)
        if not res.ok:
            return res
        if best is None or res.wall_s < best.wall_s:
            best = res
    return best


def import_cost(python, repeats, home):
    """Best-of-`repeats` time of `import sematic`; the peak RSS of that run."""
    return best_of(repeats, python, "sematic", "import", 0, 300, home)


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000",
                    help="comma-separated numbers of steps (default: %(default)s)")
    ap.add_argument("--quick", action="store_true",
                    help="sizes 1,000 and 10,000, import best of 3, Sematic only where "
                         "estimated under 1 minute")
    ap.add_argument("--ours", default=OURS_PY, help="interpreter with our package installed")
    ap.add_argument("--peer", default=PEER_PY,
                    help="interpreter with the real Sematic 0.41 (default: bench/peers/.venv)")
    ap.add_argument("--no-peer", action="store_true", help="do not run the real Sematic")
    ap.add_argument("--peer-limit-min", type=float, default=10.0,
                    help="skip Sematic sizes estimated to take longer (default: %(default)s)")
    ap.add_argument("--workloads", default="chain,fanout")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of ours and plain per size, best time kept (default: %(default)s); "
                         "Sematic runs once")
    args = ap.parse_args()

    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(",") if s)
    import_repeats = 5
    if args.quick:
        sizes = [s for s in sizes if s <= 10_000] or [1000]
        import_repeats = 3
        args.peer_limit_min = min(args.peer_limit_min, 1.0)
    workloads = args.workloads.split(",")

    if not os.path.exists(args.ours):
        sys.exit(f"bench: no interpreter at '{args.ours}'; run 'make install' first")
    use_peer = not args.no_peer
    if use_peer and not os.path.exists(args.peer):
        print(f"bench: no Sematic peer at '{args.peer}'; run 'bash bench/peers/setup.sh'. "
              "Continuing without it.\n")
        use_peer = False

    home = tempfile.mkdtemp(prefix="sematic-bench-")
    results = {}  # (workload, n, impl) -> Result

    print("import sematic (fresh interpreter, best of %d)" % import_repeats)
    imports = {"ours": import_cost(args.ours, import_repeats, home)}
    if use_peer:
        imports["sematic"] = import_cost(args.peer, import_repeats, home)
    for impl, res in imports.items():
        if res.ok:
            print(f"  {impl:8} {fmt_duration(res.wall_s):>9}  +{fmt_kib(res.rss_kib):>9}  "
                  f"(process peak {fmt_kib(res.extra.get('total_rss_kib'))}, "
                  f"version {res.extra.get('version')})")
        else:
            print(f"  {impl:8} {res.error}")
    print()

    print(row(*(name for name, _ in COLUMNS)))
    print(row(*("-" * w for _, w in COLUMNS)))
    for workload in workloads:
        peer_points = []  # (n, seconds) of successful Sematic runs
        peer_failed_at = None
        for n in sizes:
            plain = best_of(args.repeat, args.ours, "plain", workload, n, 600, home)
            results[(workload, n, "plain")] = plain
            print_row(workload, n, "plain", plain, None)

            peer = None
            if use_peer:
                limit_s = args.peer_limit_min * 60
                if peer_failed_at is not None:
                    peer = Result(error=f"not run: {peer_failed_at[1]} at {fmt_n(peer_failed_at[0])}")
                elif peer_points and estimate_s(peer_points, n) > limit_s:
                    est_min = estimate_s(peer_points, n) / 60
                    peer = Result(error=f"skipped (est. {est_min:.{0 if est_min >= 10 else 1}f} min)")
                else:
                    timeout_s = limit_s * 3
                    if peer_points:
                        timeout_s = max(120, 3 * estimate_s(peer_points, n))
                    peer = measure(args.peer, "sematic", workload, n, timeout_s, home)
                    if peer.ok:
                        peer_points.append((n, peer.wall_s))
                    else:
                        peer_failed_at = (n, peer.error)
                results[(workload, n, "sematic")] = peer
                print_row(workload, n, "sematic", peer, plain)

            ours = best_of(args.repeat, args.ours, "sematic", workload, n, 600, home)
            results[(workload, n, "ours")] = ours
            print_row(workload, n, "ours", ours, plain, peer)
        print()

    print_targets(results, imports, workloads, sizes)
    return 0


def print_targets(results, imports, workloads, sizes):
    print("targets")
    top = sizes[-1]
    for workload in workloads:
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


if __name__ == "__main__":
    t0 = time.perf_counter()
    code = main()
    print(f"\nbench took {fmt_duration(time.perf_counter() - t0)}")
    sys.exit(code)
