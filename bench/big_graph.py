"""The dashboard's reads of one big pipeline: GET .../dag and .../graph?root=1.

    .venv/bin/python bench/big_graph.py [--steps 100000] [--repeat 7] [--home DIR]
                                        [--cli build-c/src/cli/sematic]

Makes a LocalRunner fan-out of --steps steps (bench/workload.py; skipped when
--home already holds a store), starts `sematic start --foreground` on it
(--cli, else the venv's `sematic`) on a free port, and times each endpoint
with curl on loopback: one warm-up request, then --repeat more. Prints, per
endpoint, the median and best wall time, the body's bytes, the server's
CPU time per request (user + system from /proc/PID/stat: the steadier figure
on a busy machine) and its resident memory once the requests are answered
(and its peak). docs/server.md "Figures at 100,000 runs" came from it.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    """The process's resident and peak resident memory in MiB (/proc/PID/status)."""
    got = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                got[key] = int(value.split()[0]) / 1024
    return got.get("VmRSS", 0.0), got.get("VmHWM", 0.0)


def make_store(home, steps):
    env = dict(os.environ, SEMATIC_HOME=home, SEMATIC_SYNC="normal", SEMATIC_PROGRESS="0")
    env.pop("SEMATIC_API_ADDRESS", None)
    t0 = time.time()
    subprocess.run([sys.executable, os.path.join(BENCH, "workload.py"), "sematic", "fanout",
                    str(steps), "--runner", "local"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    print(f"made a fan-out of {steps} steps in {time.time() - t0:.1f} s in {home}")


def root_of(home):
    import sqlite3

    db = sqlite3.connect(os.path.join(home, "sematic.db"))
    try:
        (root,) = db.execute("SELECT root_id FROM pipeline_runs ORDER BY created_at DESC "
                             "LIMIT 1").fetchone()
    finally:
        db.close()
    return root


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--home", help="a store to use (made when it holds none; kept)")
    ap.add_argument("--cli", default=os.path.join(os.path.dirname(sys.executable), "sematic"))
    args = ap.parse_args()

    home = args.home or tempfile.mkdtemp(prefix="big_graph.")
    try:
        if not os.path.exists(os.path.join(home, "sematic.db")):
            make_store(home, args.steps)
        root = root_of(home)
        port = free_port()
        server = subprocess.Popen([args.cli, "start", "--foreground", "--port", str(port)],
                                  env=dict(os.environ, SEMATIC_HOME=home),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.time() + 30
            while True:
                try:
                    urllib.request.urlopen(base + "/api/v1/ping", timeout=5)
                    break
                except OSError:
                    if time.time() > deadline or server.poll() is not None:
                        raise SystemExit("the server did not start")
                    time.sleep(0.05)
            for name, path in (("dag", f"/api/v1/runs/{root}/dag"),
                               ("graph?root=1", f"/api/v1/runs/{root}/graph?root=1")):
                curl = ["curl", "-s", "-o", "/dev/null", "-w", "%{time_total} %{size_download}",
                        base + path]
                subprocess.run(curl, check=True, stdout=subprocess.DEVNULL)
                walls, cpus, size = [], [], 0
                for _ in range(args.repeat):
                    c0 = cpu_s(server.pid)
                    out = subprocess.run(curl, check=True, capture_output=True, text=True)
                    cpus.append(cpu_s(server.pid) - c0)
                    wall, size = out.stdout.split()
                    walls.append(float(wall))
                rss, peak = rss_mib(server.pid)
                print(f"{name:13s} {int(size):>12,} bytes  median {statistics.median(walls):.3f} s"
                      f"  best {min(walls):.3f} s  server CPU {statistics.median(cpus):.2f} s"
                      f"  server RSS after {rss:.0f} MiB (peak {peak:.0f})")
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
