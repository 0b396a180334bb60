"""API server load: ours against the real Sematic 0.41 server, side by side.

    .venv/bin/python bench/server_load.py [--runs 10000] [--duration 10]
                                          [--connections 16] [--no-peer]
                                          [--big-graph 100000]

For each server (ours: `sematic start --foreground` from this checkout; the
real one: `sematic start` from bench/peers/.venv, see bench/peers/server.py)
on a free port on 127.0.0.1 with a fresh store:

1. Load one pipeline of --runs runs (a root and its children, each with an
   input and an output edge and its artifacts) through the API both servers
   speak, `PUT /api/v1/graph` in chunks of 500 runs, then
   `PUT /api/v1/resolutions/ROOT` (SCHEDULED, RUNNING, COMPLETE). The same graph goes to both.
2. Start a LocalRunner writing at the same time: chains of 2,000 steps, one
   after the other, until the measurements end (ours records into the server's store; the real
   Sematic's LocalRunner sends its runs to its server).
3. Run wrk (`wrk -t2 -c CONNECTIONS -d DURATION --timeout 60s --latency`) against
   `GET /api/v1/runs?limit=20` and `GET /api/v1/runs/ROOT/graph?root=1`, and
   report requests per second, p99 latency and errors (non-2xx responses and
   socket errors: both must be 0).

Ours also loads a pipeline of --big-graph runs (default 100,000) and times
`GET /api/v1/runs/ROOT/graph?root=1` (best of 3, the whole body read).

The last table says how many times ours serves what the real one does. wrk
comes from Debian (`apt-get install -y wrk`; `make bench` installs it).
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT_DIR = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "peers"))
from server import PeerServer, free_port  # noqa: E402

OURS_PY = os.path.join(ROOT_DIR, ".venv", "bin", "python")
PEER_PY = os.path.join(HERE, "peers", ".venv", "bin", "python")
CHUNK = 500

WRITER = r"""
import sys, sematic
@sematic.func
def inc(x: int) -> int:
    return x + 1
@sematic.func
def chain(n: int) -> int:
    x = 0
    for _ in range(n):
        x = inc(x)
    return x
while True:  # until the benchmark kills it
    sematic.LocalRunner().run(chain(int(sys.argv[1])))
"""


def iso(us):
    return datetime.datetime.fromtimestamp(us / 1e6, datetime.timezone.utc).isoformat()


def synthetic_graph(n_runs):
    """A pipeline of n_runs runs in Sematic's JSON shapes: (root id, [chunks of the graph])."""
    root = uuid.uuid4().hex
    now = int(time.time() * 1e6)
    int_type = {"registry": {"int": []}, "type": ["builtin", "int", {}]}

    def run(i, run_id, parent):
        return {
            "id": run_id, "original_run_id": None, "future_state": "RESOLVED",
            "name": "pipeline" if parent is None else "step",
            "function_path": "bench.pipeline" if parent is None else "bench.step",
            "parent_id": parent, "root_id": root, "description": None, "tags": ["bench"],
            "source_code": "def step(x: int) -> int:\n    return x + 1\n",
            "nested_future_id": None, "exception_metadata_json": None,
            "external_exception_metadata_json": None, "container_image_uri": None,
            "created_at": iso(now + i), "updated_at": iso(now + i),
            "started_at": iso(now + i), "ended_at": iso(now + i + 10),
            "resolved_at": iso(now + i + 10), "failed_at": None,
            "resource_requirements_json": None, "cache_key": None,
            "user_id": None, "organization_id": None,
        }

    def artifact(i):
        return {"id": "%040x" % (i + 1), "json_summary": i,
                "type_serialization": int_type, "created_at": iso(now + i),
                "updated_at": iso(now + i), "organization_id": None}

    def edge(src, dst, name, art, i):
        return {"id": uuid.uuid4().hex, "source_run_id": src, "source_name": None,
                "destination_run_id": dst, "destination_name": name,
                "artifact_id": art, "parent_id": None,
                "created_at": iso(now + i), "updated_at": iso(now + i)}

    chunks, runs, arts, edges = [], [run(0, root, None)], [], []
    for i in range(1, n_runs):
        rid = uuid.uuid4().hex
        runs.append(run(i, rid, root))
        arts.append(artifact(i))
        edges.append(edge(None, rid, "x", "%040x" % (i + 1), i))
        edges.append(edge(rid, None, None, "%040x" % (i + 1), i))
        if len(runs) >= CHUNK:
            chunks.append({"graph": {"runs": runs, "artifacts": arts, "edges": edges}})
            runs, arts, edges = [], [], []
    if runs:
        chunks.append({"graph": {"runs": runs, "artifacts": arts, "edges": edges}})
    return root, chunks


def request(method, url, body=None, timeout=300):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def load_pipeline(base, n_runs):
    root, chunks = synthetic_graph(n_runs)
    t0 = time.perf_counter()
    for c in chunks:
        request("PUT", base + "/api/v1/graph", c)
    for status in ("SCHEDULED", "RUNNING", "COMPLETE"):  # a new one may not begin COMPLETE
        request("PUT", base + "/api/v1/resolutions/" + root, {"resolution": {
            "root_id": root, "status": status, "kind": "LOCAL", "git_info_json": None,
            "settings_env_vars": {}, "container_image_uris": None, "container_image_uri": None,
            "client_version": "0.41.0", "cache_namespace": None, "run_command": None,
            "build_config": None, "resource_requirements_json": None, "user_id": None,
            "organization_id": None}})
    return root, time.perf_counter() - t0


def parse_wrk(text):
    """requests/s, p99 latency in ms, errors (non-2xx + socket errors) from wrk --latency."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", text)
    p99 = float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)] if m else float("nan")
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors += int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors += sum(int(x) for x in m.groups()) if m else 0
    return rps, p99, errors


def wrk(url, duration, connections):
    # --timeout 60s: a slow answer is measured, not dropped as a socket timeout.
    out = subprocess.run(["wrk", "-t2", "-c%d" % connections, "-d%ds" % duration, "--timeout",
                          "60s", "--latency", url], capture_output=True, text=True,
                         timeout=duration + 180)
    if out.returncode != 0:
        raise RuntimeError("wrk failed: " + out.stderr)
    return parse_wrk(out.stdout)


def wait_port(port, proc, deadline_s=60):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("the server exited with %d" % proc.returncode)
        try:
            request("GET", "http://127.0.0.1:%d/api/v1/ping" % port, timeout=2)
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the server did not answer within %d s" % deadline_s)


class OurServer:
    """`sematic start --foreground` of this checkout on a fresh SEMATIC_HOME and a free port."""

    def __init__(self, cli):
        self.cli = cli
        self.home = tempfile.mkdtemp(prefix="bench-ours-")
        self.port = free_port()
        self.proc = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def writer_env(self):
        return dict(os.environ, SEMATIC_HOME=self.home, SEMATIC_PROGRESS="0")

    def __enter__(self):
        env = dict(os.environ, SEMATIC_HOME=self.home)
        # Its request log goes to a file: a pipe nobody reads would fill and stall it.
        self.log = open(os.path.join(self.home, "server-foreground.log"), "wb")
        self.proc = subprocess.Popen([self.cli, "start", "--foreground", "--port", str(self.port)],
                                     env=env, stdout=subprocess.DEVNULL, stderr=self.log)
        wait_port(self.port, self.proc)
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)


def measure(name, base, python, writer_env, args):
    root, load_s = load_pipeline(base, args.runs)
    print("%s: loaded %d runs through PUT /api/v1/graph in %.1f s" % (name, args.runs, load_s),
          flush=True)
    writer = subprocess.Popen([python, "-c", WRITER, "2000"], env=writer_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {}
    try:
        time.sleep(1.0)  # let the writer get going; its state is not measured
        for label, path in (("runs?limit=20", "/api/v1/runs?limit=20"),
                            ("graph?root=1", "/api/v1/runs/%s/graph?root=1" % root)):
            results[label] = wrk(base + path, args.duration, args.connections)
            rps, p99, errors = results[label]
            print("%s: GET %-14s %9.0f req/s  p99 %8.1f ms  errors %d" % (
                name, label, rps, p99, errors), flush=True)
        writer_alive = writer.poll() is None
    finally:
        writer.kill()
        writer.wait()
    if not writer_alive:
        print("%s: warning: the LocalRunner writer stopped before the measurements ended" % name)
    return results


def big_graph(cli, n_runs):
    with OurServer(cli) as ours:
        root, load_s = load_pipeline(ours.url, n_runs)
        best = None
        size = 0
        for _ in range(3):
            t0 = time.perf_counter()
            _, body = request("GET", ours.url + "/api/v1/runs/%s/graph?root=1" % root)
            dt = time.perf_counter() - t0
            size = len(body)
            best = dt if best is None else min(best, dt)
        return load_s, best, size


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10000)
    ap.add_argument("--duration", type=int, default=10, help="seconds of wrk per URL")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--big-graph", type=int, default=100000,
                    help="runs of the pipeline whose whole graph is timed (0: skip)")
    ap.add_argument("--no-peer", action="store_true", help="do not run the real Sematic")
    ap.add_argument("--cli", default=os.environ.get("SEMATIC_CLI") or shutil.which(
        "sematic", path=os.path.dirname(OURS_PY)) or "sematic")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is missing: apt-get install -y wrk")

    print("ours: %s; %d runs, wrk -t2 -c%d -d%ds" % (args.cli, args.runs, args.connections,
                                                      args.duration), flush=True)
    with OurServer(args.cli) as ours:
        mine = measure("ours", ours.url, OURS_PY, ours.writer_env(), args)
    peer = None
    if not args.no_peer:
        with PeerServer() as server:
            peer = measure("sematic", server.url, PEER_PY,
                           dict(os.environ, **server.client_env()), args)

    print()
    print("| GET | ours req/s | ours p99 | Sematic req/s | Sematic p99 | ours ÷ Sematic |")
    print("|---|---|---|---|---|---|")
    for label, (rps, p99, errors) in mine.items():
        if peer:
            prps, pp99, perr = peer[label]
            if prps:
                print("| %s | %.0f | %.1f ms | %.0f | %.1f ms | %.1f× |" % (
                    label, rps, p99, prps, pp99, rps / prps))
            else:  # not one answer within the run: its rate is under 1 / duration
                print("| %s | %.0f | %.1f ms | 0 (none in %d s) | – | > %.0f× |" % (
                    label, rps, p99, args.duration, rps * args.duration))
        else:
            print("| %s | %.0f | %.1f ms | - | - | - |" % (label, rps, p99))
    errors = sum(e for _, _, e in mine.values())
    print("errors (ours): %d" % errors)
    if args.big_graph:
        load_s, best, size = big_graph(args.cli, args.big_graph)
        print("ours: GET /api/v1/runs/ROOT/graph?root=1 of %d runs: %.3f s (best of 3, %.1f MB; "
              "loaded in %.1f s)" % (args.big_graph, best, size / 1e6, load_s))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
