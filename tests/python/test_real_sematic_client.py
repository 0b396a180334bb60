"""The real Sematic 0.41 client (from PyPI, in bench/peers/.venv) against our server.

Sematic's LocalRunner records every run through its API server: PUT
/api/v1/graph, the resolutions, storage uploads, the events it posts, and a
Socket.IO connection to /pipeline that it must make before it runs and on
which it listens for `cancel`. Each test here starts our server on a fresh
store, points the real client at it (SEMATIC_API_ADDRESS, with a fresh HOME
and SEMATIC_CONFIG_DIR so no user setting leaks in), runs a pipeline with
its LocalRunner in a subprocess, and checks what the server stored against
what the client itself holds at the end (the runner's own runs, artifacts and
edges, dumped by the client script), through our API and through our CLI
(`sematic runs`, `sematic show`) on the server's store.

`make test` installs the client first (`make peers`, bench/peers/setup.sh:
a venv and `pip install sematic==0.41.0`; 103 s on a fresh 2-core machine
with pip's cache empty, nothing once installed).
Without it these tests are skipped, saying how to install it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest

from server_fixture import start_server
from store_fixture import cli_env, cli_path

REPO = Path(__file__).resolve().parents[2]
PEER_PYTHON = REPO / "bench" / "peers" / ".venv" / "bin" / "python"
CLIENT_TIMEOUT_S = 240

pytestmark = pytest.mark.skipif(
    not PEER_PYTHON.exists(),
    reason="the real Sematic 0.41 client is not installed; run 'make peers' "
           "(bash bench/peers/setup.sh)")

# Variables a user may have set that would send the client elsewhere or read other settings
# (as bench/peers/server.py scrubs them).
SCRUBBED = ("SEMATIC_SERVER_ADDRESS", "DATABASE_URL", "ON_SEMATIC_WORKER",
            "SEMATIC_WORKER_API_ADDRESS", "SEMATIC_WORKER_SOCKET_IO_ADDRESS", "SEMATIC_API_KEY",
            "SEMATIC_AUTHENTICATE", "SEMATIC_API_ADDRESS", "SEMATIC_CONFIG_DIR", "SEMATIC_HOME",
            "PORT")
# What `make py-asan-test` sets for our package (its PYTHONPATH would hand the real client our
# `sematic`; the sanitizer runtime is for our extension): the client is not under test.
NOT_FOR_THE_CLIENT = ("PYTHONPATH", "LD_PRELOAD", "PYTHONMALLOC", "ASAN_OPTIONS",
                      "UBSAN_OPTIONS", "SM_ASAN")

PIPELINES = '''
import json, os, sys, time, traceback
from dataclasses import dataclass
from typing import List

import sematic
from sematic import api_client


@dataclass
class Summary:
    total: int
    items: List[int]


@sematic.func
def add(a: int, b: int) -> int:
    """Adds two numbers."""
    print("adding", a, b)
    return a + b


@sematic.func
def summarize(xs: List[int]) -> Summary:
    return Summary(total=sum(xs), items=xs)


@sematic.func
def inner(x: int) -> int:
    return add(add(x, 1), 2)


@sematic.func
def pipeline(a: int, b: int) -> Summary:
    """The nested pipeline."""
    return summarize([inner(a), add(a, b)])


@sematic.func
def boom(x: int) -> int:
    raise ValueError(f"bad value {x}")


@sematic.func
def failing(x: int) -> int:
    return add(boom(x), 1)


@sematic.func
def wait_for(started: str, release: str) -> int:
    open(started, "w").close()
    while not os.path.exists(release):
        time.sleep(0.01)  # the step blocks until the test says; SIGINT interrupts it
    return 1


@sematic.func
def waiting(started: str, release: str) -> int:
    return add(wait_for(started, release), 1)


kind = sys.argv[1]
if kind == "ok":
    future = pipeline(1, 2).set(name="ok pipeline", tags=["e2e", "ok"])
elif kind == "fail":
    future = failing(3).set(name="failing pipeline", tags=["e2e"])
else:
    future = waiting(sys.argv[2], sys.argv[3]).set(name="waiting pipeline")
print("ROOT " + future.id, flush=True)
runner = sematic.LocalRunner()
outcome = {"root_id": future.id}
try:
    value = runner.run(future)
    outcome["result"] = repr(value)
except BaseException as e:
    outcome["error_type"] = type(e).__name__
    outcome["error"] = str(e)

# What the client itself holds at the end, and what its own API client reads back.
outcome["runs"] = [r.to_json_encodable() for r in runner._runs.values()]
outcome["artifacts"] = [a.to_json_encodable() for a in runner._artifacts.values()]
outcome["edges"] = [e.to_json_encodable() for e in runner._edges.values()]
runs, artifacts, edges = api_client.get_graph(future.id, root=True)
outcome["api_graph"] = [len(runs), len(artifacts), len(edges)]
outcome["api_pipeline_run_status"] = api_client.get_pipeline_run(future.id).status
outcome["api_root_state"] = api_client.get_run(future.id).future_state
if kind == "ok":
    outcome["api_output"] = repr(api_client.get_artifact_value(
        [a for a in artifacts if a.id == next(
            e.artifact_id for e in edges
            if e.source_run_id == future.id and e.destination_run_id is None)][0]))
print("OUTCOME " + json.dumps(outcome, default=str), flush=True)
'''


def client_env(tmp: Path, api_url: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in SCRUBBED and k not in NOT_FOR_THE_CLIENT}
    home = tmp / "client-home"
    (home / ".sematic").mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), SEMATIC_CONFIG_DIR=str(home / ".sematic"),
               SEMATIC_API_ADDRESS=api_url, PYTHONUNBUFFERED="1")
    return env


def run_client(tmp: Path, api_url: str, *args: str) -> dict:
    tmp.mkdir(parents=True, exist_ok=True)
    script = tmp / "pipelines.py"
    script.write_text(PIPELINES)
    proc = subprocess.run([str(PEER_PYTHON), str(script), *args], env=client_env(tmp, api_url),
                          cwd=tmp, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("OUTCOME ")]
    assert proc.returncode == 0 and lines, (
        f"the client exited {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\n"
        f"stderr:\n{proc.stderr[-5000:]}")
    assert "Could not connect to the socket.io server" not in proc.stderr, proc.stderr[-3000:]
    outcome = json.loads(lines[-1][len("OUTCOME "):])
    outcome["stderr"] = proc.stderr
    return outcome


def get(srv, path):
    status, _, body = srv.request("GET", path)
    assert status == 200, (path, status, body)
    return json.loads(body)


def cli(home: Path, *args: str):
    proc = subprocess.run([str(cli_path()), *args], env=cli_env(home), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, (args, proc.stderr)
    return proc.stdout


def assert_server_holds(srv, outcome: dict) -> dict:
    """Every run, artifact and edge the client holds is on the server, as the client sent it."""
    root = outcome["root_id"]
    graph = get(srv, f"/api/v1/runs/{root}/graph?root=1")
    served_runs = {r["id"]: r for r in graph["runs"]}
    client_runs = {r["id"]: r for r in outcome["runs"]}
    assert set(served_runs) == set(client_runs)
    for run_id, sent in client_runs.items():
        # Sematic's payload: the columns, plus the user (none here)
        assert served_runs[run_id] == {**sent, "user": None}, run_id
        assert get(srv, f"/api/v1/runs/{run_id}") == {"content": served_runs[run_id]}
    served_artifacts = {a["id"]: a for a in graph["artifacts"]}
    for art in outcome["artifacts"]:
        assert served_artifacts[art["id"]]["json_summary"] == art["json_summary"]
        assert served_artifacts[art["id"]]["type_serialization"] == art["type_serialization"]
    assert set(served_artifacts) == {a["id"] for a in outcome["artifacts"]}
    served_edges = {e["id"]: e for e in graph["edges"]}
    client_edges = {e["id"]: e for e in outcome["edges"]}
    assert set(served_edges) == set(client_edges)
    for edge_id, sent in client_edges.items():
        assert served_edges[edge_id] == sent, edge_id
    # what the client's own API client read back, through our server
    assert outcome["api_graph"] == [len(client_runs), len(outcome["artifacts"]),
                                    len(client_edges)]
    return graph


def test_real_client__a_nested_pipeline_and_a_failing_one_are_recorded_whole(tmp_path):
    srv = start_server(tmp_path / "home")
    try:
        ok = run_client(tmp_path, srv.base_url, "ok")
        assert ok["result"] == "Summary(total=7, items=[4, 3])"
        assert ok["api_output"] == "Summary(total=7, items=[4, 3])"  # bytes from our storage
        assert (ok["api_pipeline_run_status"], ok["api_root_state"]) == ("COMPLETE", "RESOLVED")
        graph = assert_server_holds(srv, ok)
        by_path: Dict[str, List[dict]] = {}
        for r in graph["runs"]:
            by_path.setdefault(r["function_path"], []).append(r)
        # pipeline, summarize, inner, 3 x add and the list's _make_list: 7 runs
        assert sorted((p, len(rs)) for p, rs in by_path.items()) == [
            ("__main__.add", 3), ("__main__.inner", 1), ("__main__.pipeline", 1),
            ("__main__.summarize", 1), ("sematic.function._make_list", 1)]
        root = ok["root_id"]
        assert all(r["future_state"] == "RESOLVED" and r["root_id"] == root
                   for r in graph["runs"])
        root_run = by_path["__main__.pipeline"][0]
        assert (root_run["name"], root_run["tags"], root_run["description"]) == (
            "ok pipeline", ["e2e", "ok"], "The nested pipeline.")
        assert "def pipeline(a: int, b: int) -> Summary:" in root_run["source_code"]
        inner = by_path["__main__.inner"][0]
        assert inner["parent_id"] == root
        assert sorted(r["parent_id"] == inner["id"] for r in by_path["__main__.add"]) == [
            False, True, True]
        resolution = get(srv, f"/api/v1/resolutions/{root}")["content"]
        assert (resolution["status"], resolution["kind"], resolution["client_version"]) == (
            "COMPLETE", "LOCAL", "0.41.0")
        assert "settings_env_vars" not in resolution

        fail = run_client(tmp_path, srv.base_url, "fail")
        assert fail["error_type"] == "PipelineRunError"
        assert_server_holds(srv, fail)
        failed = {r["function_path"]: r for r in fail["runs"]}
        assert (failed["__main__.boom"]["future_state"],
                failed["__main__.failing"]["future_state"],
                failed["__main__.add"]["future_state"]) == ("FAILED", "NESTED_FAILED", "CANCELED")
        status = get(srv, f"/api/v1/resolutions/{fail['root_id']}")["content"]["status"]
        assert status == fail["api_pipeline_run_status"] == "FAILED"
        boom = get(srv, f"/api/v1/runs/{failed['__main__.boom']['id']}")["content"]
        exc = boom["exception_metadata_json"]
        assert (exc["name"], exc["module"]) == ("ValueError", "builtins")
        assert "Traceback (most recent call last)" in exc["repr"]
        assert 'raise ValueError(f"bad value {x}")' in exc["repr"]
        assert exc["repr"].rstrip().endswith("ValueError: bad value 3")

        # our CLI, on the server's store
        roots = json.loads(cli(srv.home, "runs", "--json"))
        assert [(r["name"], r["id"]) for r in roots] == [
            ("failing pipeline", fail["root_id"]), ("ok pipeline", root)]
        every = json.loads(cli(srv.home, "runs", "--all", "--json", "--limit", "0"))
        assert len(every) == len(ok["runs"]) + len(fail["runs"])
        shown = json.loads(cli(srv.home, "show", failed["__main__.boom"]["id"], "--json"))
        assert shown["run"]["exception_metadata"] == exc
        assert [i["name"] for i in shown["inputs"]] == ["x"]
        assert shown["inputs"][0]["artifact"]["json_summary"] == 3
        text = cli(srv.home, "show", root)
        assert "ok pipeline (__main__.pipeline)" in text
        assert "Summary(items=[4, 3] (2 items), total=7)" in text
        assert "status         COMPLETE" in text
        text = cli(srv.home, "show", failed["__main__.boom"]["id"])
        assert "ValueError: bad value 3" in text

        # and the client never got an error from the server (log: time, method, path, status)
        answers = [l.split() for l in srv.log().splitlines() if " /api/" in l or " /socket.io/" in l]
        assert [a for a in answers if not a[3].startswith(("2", "3"))] == []
    finally:
        srv.stop()


def _start_waiting(tmp: Path, api_url: str):
    started, release = tmp / "started", tmp / "release"
    script = tmp / "pipelines.py"
    script.write_text(PIPELINES)
    proc = subprocess.Popen([str(PEER_PYTHON), str(script), "wait", str(started), str(release)],
                            env=client_env(tmp, api_url), cwd=tmp, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while not started.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the waiting step never started\nstdout:\n{out}\nstderr:\n{err[-4000:]}")
        time.sleep(0.02)  # a file has no change notification here; look again shortly
    return proc


def _finish(proc: subprocess.Popen) -> dict:
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the client did not stop within 60 s of the cancel\nstderr:\n{err[-4000:]}")
    lines = [l for l in out.splitlines() if l.startswith("OUTCOME ")]
    assert lines, f"stdout:\n{out}\nstderr:\n{err[-4000:]}"
    outcome = json.loads(lines[-1][len("OUTCOME "):])
    outcome["stderr"] = err
    return outcome


@pytest.mark.parametrize("how", ["api", "cli"])
def test_real_client__a_cancel_stops_a_running_pipeline(tmp_path, how):
    srv = start_server(tmp_path / "home")
    try:
        proc = _start_waiting(tmp_path, srv.base_url)
        roots = json.loads(cli(srv.home, "runs", "--json"))
        assert len(roots) == 1
        root = roots[0]["id"]
        started = time.monotonic()
        if how == "api":
            status, _, body = srv.request("PUT", f"/api/v1/resolutions/{root}/cancel", body=b"{}",
                                          headers={"Content-Type": "application/json"})
            assert status == 200, body
            assert json.loads(body)["content"]["status"] == "CANCELED"
        else:
            out = cli(srv.home, "cancel", "-y", root)
            assert f"Pipeline run {root} canceled" in out
        outcome = _finish(proc)
        took = time.monotonic() - started
        # The client heard `cancel` on /pipeline, sent itself SIGINT and cancelled itself.
        assert outcome["error_type"] == "CancellationError", outcome["stderr"][-3000:]
        assert outcome["error"] == "Pipeline run cancelled due to signal 2"
        assert "Received cancelation event" in outcome["stderr"]
        assert took < 30, took
        assert get(srv, f"/api/v1/resolutions/{root}")["content"]["status"] == "CANCELED"
        graph = get(srv, f"/api/v1/runs/{root}/graph?root=1")
        assert {r["future_state"] for r in graph["runs"]} == {"CANCELED"}
        assert sorted(r["function_path"] for r in graph["runs"]) == [
            "__main__.add", "__main__.wait_for", "__main__.waiting"]
    finally:
        srv.stop()


def test_real_client__counts_match_the_real_sematic_server(tmp_path, monkeypatch):
    """The same pipelines against the real Sematic 0.41 server: the same runs, artifacts and
    edges (artifact ids are content hashes, so they are equal too)."""
    for name in NOT_FOR_THE_CLIENT:  # PeerServer hands our environment to `sematic start`
        monkeypatch.delenv(name, raising=False)
    sys.path.insert(0, str(REPO / "bench" / "peers"))
    try:
        from server import PeerServer  # bench/peers/server.py
    finally:
        sys.path.pop(0)
    ours = start_server(tmp_path / "home")
    try:
        with PeerServer() as peer:
            for kind in ("ok", "fail"):
                a = run_client(tmp_path / f"ours-{kind}", ours.base_url, kind)
                b = run_client(tmp_path / f"peer-{kind}", peer.url, kind)
                for name in ("runs", "artifacts", "edges"):
                    assert len(a[name]) == len(b[name]), (kind, name)
                assert a["api_graph"] == b["api_graph"], kind
                assert sorted(x["id"] for x in a["artifacts"]) == sorted(
                    x["id"] for x in b["artifacts"]), kind
                assert sorted((r["function_path"], r["future_state"]) for r in a["runs"]) == \
                    sorted((r["function_path"], r["future_state"]) for r in b["runs"]), kind
                assert a["api_pipeline_run_status"] == b["api_pipeline_run_status"], kind
    finally:
        ours.stop()
