"""LocalRunner over HTTP: with SEMATIC_API_ADDRESS set, our SDK writes and reads the store of a
`sematic start` server (src/core/store/http.c, src/server/store_api.c).

Each test starts the real server (server_fixture.py) on its own SEMATIC_HOME and runs
pipelines with the client's SEMATIC_HOME elsewhere, then reads the server's store directly
(``_core.Store(server home)`` with SEMATIC_API_ADDRESS unset) and compares it with what the
same pipelines leave in an embedded store: same runs (names, states, nesting), edges,
artifacts, pipeline statuses and logs. Run ids differ between the two (they are random), so
records are compared by what they say, with ids replaced by run names; artifact ids are
content hashes and compare as they are.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List

import pytest

import sematic
from sematic import _core, api_client
from sematic.graph import RerunMode
from sematic.runners.local_runner import LocalRunner
from sematic.utils.exceptions import PipelineRunError

from server_fixture import Server, _read_line, free_port, server_env, start_server
from store_fixture import binary_env, cli_path

ASAN = os.environ.get("SM_ASAN") == "1"
HERE = Path(__file__).resolve().parent


@pytest.fixture
def server(tmp_path):
    srv = start_server(tmp_path / "server-home")
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setenv("SEMATIC_PROGRESS", "0")
    monkeypatch.delenv("SEMATIC_API_ADDRESS", raising=False)
    monkeypatch.delenv("SEMATIC_API_KEY", raising=False)


def use_server(monkeypatch, server, client_home: Path) -> None:
    """Point this process's SDK at the server, with a client home of its own."""
    monkeypatch.setenv("SEMATIC_HOME", str(client_home))
    monkeypatch.setenv("SEMATIC_API_ADDRESS", server.base_url)


def use_embedded(monkeypatch, home: Path) -> None:
    monkeypatch.setenv("SEMATIC_HOME", str(home))
    monkeypatch.delenv("SEMATIC_API_ADDRESS", raising=False)


def cli(*args: str) -> subprocess.CompletedProcess:
    """`sematic ARGS` with this process's environment (binary_env: no preloaded sanitizer)."""
    return subprocess.run(
        [str(cli_path()), *args], env=binary_env(), capture_output=True, text=True, timeout=120
    )


@contextlib.contextmanager
def local_store(monkeypatch, home: Path):
    """The embedded store at home, opened directly whatever SEMATIC_API_ADDRESS says."""
    with monkeypatch.context() as m:
        m.delenv("SEMATIC_API_ADDRESS", raising=False)
        store = _core.Store(str(home))
    try:
        yield store
    finally:
        store.close()


# ---------------------------------------------------------------- pipelines

EXECUTED: List[Any] = []


@sematic.func
def add(a: float, b: float) -> float:
    print(f"add {a} {b}")
    EXECUTED.append(("add", a, b))
    return a + b


@sematic.func
def add3(a: float, b: float, c: float) -> float:
    return add(add(a, b), c)


@sematic.func
def pipeline(a: float, b: float) -> float:
    c = add(a, b)
    d = add3(a, b, c)
    return add(c, d)


@sematic.func
def fail(a: float) -> float:
    print("about to fail", file=sys.stderr)
    raise ValueError("FAIL!")


@sematic.func
def pipeline_fail(a: float) -> float:
    return add(fail(a), a)


@sematic.func(cache=True)
def cached_add(a: float, b: float) -> float:
    EXECUTED.append(("cached_add", a, b))
    return a + b


@sematic.func
def numbers(n: int) -> List[int]:
    return list(range(n))


@sematic.func
def total(xs: List[int]) -> int:
    return sum(xs)


@sematic.func
def blob_pipeline(n: int) -> int:
    # numbers(n) is far over the 4096 bytes a row holds inline: a blob on the server.
    return total(numbers(n))


@sematic.func
def raw(n: int) -> bytes:
    return bytes(range(256)) * n


@sematic.func
def blob(n: int, fill: int) -> bytes:
    return bytes([fill]) * n


@sematic.func
def two_blobs(n: int) -> List[bytes]:
    return [blob(n, 1), blob(n, 2)]


@sematic.func
def step(x: int, i: int) -> int:
    return x + i


@sematic.func
def chain(n: int) -> int:
    x = 0
    for i in range(n):
        x = step(x, i)
    return x


# The server a running step stops (and may start again), and the runner that runs it.
CURRENT: Dict[str, Any] = {}


def restart(old: Server) -> Server:
    """`sematic start` again on the stopped server's home and port."""
    log_path = old.home.parent / f"{old.home.name}-server-{old.port}-again.log"
    ui_dir = old.home.parent / f"{old.home.name}-no-ui"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(cli_path()), "start", "--foreground", "--port", str(old.port)],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=server_env(old.home, SEMATIC_UI_DIR=str(ui_dir)),
        )
    srv = Server(old.home, old.port, proc, log_path)
    line = _read_line(proc, 60)
    assert line.startswith(b"Sematic dashboard: "), srv.log()
    return srv


@sematic.func
def bounce_server(x: float, come_back: bool) -> float:
    """Stop the server, start it again 0.3 s later unless told not to, and commit meanwhile."""
    print("the server goes away")
    old = CURRENT["server"]
    old.stop()
    if come_back:

        def again() -> None:
            time.sleep(0.3)  # the outage itself, not a wait for a condition
            CURRENT["server"] = restart(old)

        CURRENT["thread"] = threading.Thread(target=again)
        CURRENT["thread"].start()
    CURRENT["runner"]._recorder.flush()  # a commit while the server is down
    return x


@sematic.func
def bouncing_pipeline(a: float, come_back: bool) -> float:
    return add(bounce_server(add(a, a), come_back), a)


def run_scenario() -> Dict[str, str]:
    """Nested, failing, cached (twice), large and binary values: {label: root id}."""
    roots = {}
    f = pipeline(3, 5)
    assert LocalRunner().run(f) == 24
    roots["nested"] = f.id
    f = pipeline_fail(1)
    with pytest.raises(PipelineRunError, match="FAIL!"):
        LocalRunner().run(f)
    roots["failing"] = f.id
    EXECUTED.clear()
    f = cached_add(1, 2)
    assert LocalRunner(cache_namespace="team").run(f) == 3
    roots["cached-first"] = f.id
    f = cached_add(1, 2)
    assert LocalRunner(cache_namespace="team").run(f) == 3
    roots["cached-hit"] = f.id
    assert EXECUTED == [("cached_add", 1.0, 2.0)], "the second run must be a cache hit"
    f = blob_pipeline(20000)
    assert LocalRunner().run(f) == sum(range(20000))
    roots["blob"] = f.id
    f = raw(300)
    assert LocalRunner().run(f) == bytes(range(256)) * 300
    roots["bytes"] = f.id
    return roots


def snapshot(store: Any, root_id: str) -> Dict[str, Any]:
    """What a pipeline run left in a store, with run ids replaced by run names."""
    g = json.loads(store.graph(root_id))
    name = {r["id"]: r["name"] for r in g["runs"]}
    runs = Counter(
        (
            r["name"],
            r["function_path"],
            r["future_state"],
            name.get(r["parent_id"]),
            name.get(r["nested_future_id"]),
            r["original_run_id"] is not None,
            r["cache_key"],
            r["id"] == root_id,
            (r["exception_metadata"] or {}).get("repr"),
        )
        for r in g["runs"]
    )
    edges = Counter(
        (
            name.get(e["source_run_id"]),
            name.get(e["destination_run_id"]),
            e["destination_name"],
            e["artifact_id"],
            name.get(e["parent_id"]),
        )
        for e in g["edges"]
    )
    artifacts = sorted(
        (a["id"], a["type_serialization"] is not None, a["size_bytes"], a["json_summary"] is not None)
        for a in g["artifacts"]
    )
    logs = Counter(
        (name[r["id"]], stream, text)
        for r in g["runs"]
        for _, stream, text in store.logs(r["id"])
    )
    pipe = json.loads(store.pipeline(root_id))
    values = {a["id"]: store.artifact_value(a["id"]) for a in g["artifacts"]}
    return {
        "runs": runs,
        "edges": edges,
        "artifacts": artifacts,
        "logs": logs,
        "status": pipe["status"],
        "kind": pipe["kind"],
        "values": values,
    }


# ---------------------------------------------------------------- tests


def test_http__pipelines_over_http_leave_what_the_embedded_store_has(
    server, tmp_path, monkeypatch
):
    use_embedded(monkeypatch, tmp_path / "embedded")
    embedded_roots = run_scenario()
    with local_store(monkeypatch, tmp_path / "embedded") as store:
        embedded = {k: snapshot(store, root) for k, root in embedded_roots.items()}

    client_home = tmp_path / "client"
    use_server(monkeypatch, server, client_home)
    remote_roots = run_scenario()

    with local_store(monkeypatch, server.home) as store:
        remote = {k: snapshot(store, root) for k, root in remote_roots.items()}
        roots = json.loads(store.list_runs(roots_only=True))
    assert sorted(r["id"] for r in roots) == sorted(remote_roots.values())
    for label in embedded:
        for part in embedded[label]:
            assert remote[label][part] == embedded[label][part], (label, part)
    assert remote["nested"]["status"] == "COMPLETE"
    assert remote["failing"]["status"] == "FAILED"
    assert any(state == "NESTED_FAILED" for _, _, state, *_ in remote["failing"]["runs"])
    assert ("fail", 2, "about to fail") in remote["failing"]["logs"]
    assert ("add", 1, "add 3.0 5.0") in remote["nested"]["logs"]
    # Nothing of the store was written on the client's side.
    assert not (client_home / "sematic.db").exists()
    assert not (client_home / "blobs").exists()


def test_http__reads_through_the_server_match_the_servers_store(server, tmp_path, monkeypatch):
    use_server(monkeypatch, server, tmp_path / "client")
    roots = run_scenario()
    remote = _core.Store(str(tmp_path / "client"))  # SEMATIC_API_ADDRESS: the server's store
    with local_store(monkeypatch, server.home) as direct:
        for root in roots.values():
            assert json.loads(remote.graph(root)) == json.loads(direct.graph(root))
            assert remote.pipeline(root) == direct.pipeline(root)
            for run in json.loads(direct.graph(root))["runs"]:
                assert remote.get_run(run["id"]) == direct.get_run(run["id"])
                assert remote.edges_of_run(run["id"]) == direct.edges_of_run(run["id"])
                assert remote.logs(run["id"]) == direct.logs(run["id"])
                assert remote.logs(run["id"], 0, 1) == direct.logs(run["id"], 0, 1)
        for kwargs in (
            {},
            {"roots_only": True, "oldest_first": True},
            {"name": "cached_add", "limit": 1},
            {"states": ["FAILED", "NESTED_FAILED"]},
            {"function_path": f"{__name__}.add"},
            {"search": "blob"},
            {"parent_id": roots["nested"]},
        ):
            assert remote.list_runs(**kwargs) == direct.list_runs(**kwargs), kwargs
    remote.close()
    # The API client reads through the server too: values, outputs, pipeline runs.
    assert api_client.get_run_output(roots["blob"]) == sum(range(20000))
    assert api_client.get_run_output(roots["bytes"]) == bytes(range(256)) * 300
    assert api_client.get_pipeline_run(roots["failing"]).status == "FAILED"
    runs, artifacts, edges = api_client.get_graph(roots["nested"], root=True)
    assert (len(runs), len(artifacts), len(edges)) == (6, 5, 16)
    with pytest.raises(api_client.ResourceNotFoundError):
        api_client.get_run("0123" * 8)
    # Resuming reads the old pipeline run through the server and reuses all of it.
    EXECUTED.clear()
    again = pipeline(3, 5)
    assert LocalRunner(rerun_from=roots["nested"], rerun_mode=RerunMode.CONTINUE).run(again) == 24
    assert EXECUTED == []
    assert api_client.get_pipeline_run(again.id).status == "COMPLETE"


def test_http__the_cli_reads_through_the_server_and_gc_refuses(server, tmp_path, monkeypatch):
    use_server(monkeypatch, server, tmp_path / "client")
    f = pipeline(3, 5)
    LocalRunner().run(f)
    out = cli("runs")
    assert out.returncode == 0, out.stderr
    assert f.id in out.stdout and "RESOLVED" in out.stdout
    out = cli("gc")
    assert out.returncode != 0
    assert "cannot collect blobs through the Sematic server at" in out.stderr
    assert "run `sematic gc` there" in out.stderr


def test_http__two_runners_share_one_server(server, tmp_path):
    n = 50 if ASAN else 200
    procs = []
    for k in range(2):
        env = dict(os.environ)
        env.update(
            SEMATIC_API_ADDRESS=server.base_url,
            SEMATIC_HOME=str(tmp_path / f"client-{k}"),
            SEMATIC_PROGRESS="0",
            COUNTER_FILE=str(tmp_path / f"counter-{k}"),
            PYTHONPATH=str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        )
        root_file = tmp_path / f"root-{k}"
        cmd = [sys.executable, "-m", "pipelines.counted_chain", str(n), str(root_file)]
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        procs.append((proc, root_file))
    roots = []
    for proc, root_file in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert out.strip() == str(sum(range(n)))
        roots.append(root_file.read_text())
    store = _core.Store(str(server.home))
    try:
        for root in roots:
            g = json.loads(store.graph(root))
            assert len(g["runs"]) == n + 1
            assert {r["future_state"] for r in g["runs"]} == {"RESOLVED"}
            assert json.loads(store.pipeline(root))["status"] == "COMPLETE"
        assert sorted(r["id"] for r in json.loads(store.list_runs(roots_only=True))) == sorted(
            roots
        )
    finally:
        store.close()


def test_http__a_commit_is_retried_while_the_server_restarts(tmp_path, monkeypatch):
    CURRENT["server"] = start_server(tmp_path / "server-home")
    try:
        use_server(monkeypatch, CURRENT["server"], tmp_path / "client")
        f = bouncing_pipeline(1, True)
        CURRENT["runner"] = LocalRunner()
        assert CURRENT["runner"].run(f) == 3
        CURRENT["thread"].join()
        with local_store(monkeypatch, CURRENT["server"].home) as store:
            g = json.loads(store.graph(f.id))
            assert sorted(r["name"] for r in g["runs"]) == [
                "add", "add", "bounce_server", "bouncing_pipeline"]
            assert {r["future_state"] for r in g["runs"]} == {"RESOLVED"}
            assert json.loads(store.pipeline(f.id))["status"] == "COMPLETE"
            bounce = next(r for r in g["runs"] if r["name"] == "bounce_server")
            assert store.logs(bounce["id"])[0][1:] == (1, "the server goes away")
    finally:
        CURRENT["server"].stop()


def test_http__a_server_that_stops_for_good_fails_the_run_clearly(tmp_path, monkeypatch):
    CURRENT["server"] = start_server(tmp_path / "server-home")
    address = CURRENT["server"].base_url
    use_server(monkeypatch, CURRENT["server"], tmp_path / "client")
    f = bouncing_pipeline(1, False)
    CURRENT["runner"] = LocalRunner()
    with pytest.raises(_core.SematicError) as info:
        CURRENT["runner"].run(f)
    assert info.value.code_name == "SM_EIO"
    assert str(info.value) == (
        f"cannot reach the Sematic server at '{address}' (SEMATIC_API_ADDRESS): Connection "
        "refused; start it with `sematic start` or unset SEMATIC_API_ADDRESS"
    )
    # The journal (resume after a crash) stays on the client's side.
    assert (tmp_path / "client" / "journal").is_dir()


def test_http__a_server_that_is_down_is_a_clear_error(tmp_path, monkeypatch):
    address = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("SEMATIC_HOME", str(tmp_path / "client"))
    monkeypatch.setenv("SEMATIC_API_ADDRESS", address)
    expected = re.escape(
        f"cannot reach the Sematic server at '{address}' (SEMATIC_API_ADDRESS): "
        "Connection refused; start it with `sematic start` or unset SEMATIC_API_ADDRESS"
    )
    with pytest.raises(_core.SematicError, match=expected) as info:
        LocalRunner().run(add(1, 2))
    assert info.value.code_name == "SM_EIO"
    with pytest.raises(api_client.APIConnectionError, match=expected):
        api_client.get_run("0123" * 8)
    out = cli("runs")
    assert out.returncode == 1
    assert "start it with `sematic start` or unset SEMATIC_API_ADDRESS" in out.stderr


def test_http__addresses_that_are_not_our_server_are_clear_errors(server, tmp_path, monkeypatch):
    monkeypatch.setenv("SEMATIC_HOME", str(tmp_path / "client"))
    monkeypatch.setenv("SEMATIC_API_ADDRESS", "127.0.0.1:5001")
    with pytest.raises(_core.SematicError, match=re.escape(
        "invalid SEMATIC_API_ADDRESS '127.0.0.1:5001': expected the URL of a `sematic start` "
        "server, http://HOST:PORT (for example http://127.0.0.1:5001)")):
        _core.Store(str(tmp_path / "client"))
    # Something answers, but not our store API (here: the dashboard's catch-all).
    monkeypatch.setenv("SEMATIC_API_ADDRESS", server.base_url + "/elsewhere")
    with pytest.raises(_core.SematicError, match="does not serve our store API"):
        _core.Store(str(tmp_path / "client"))


def test_http__a_server_that_authenticates_takes_the_key_from_sematic_api_key(
    tmp_path, monkeypatch
):
    srv = start_server(tmp_path / "server-home", env={"SEMATIC_AUTHENTICATE": "1"})
    try:
        made = subprocess.run(
            [str(cli_path()), "users", "create", "me@example.com"],
            env={**server_env(srv.home), "LD_PRELOAD": ""},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        key = re.search(r"^API key: (\S+)$", made.stdout, re.M).group(1)
        use_server(monkeypatch, srv, tmp_path / "client")
        with pytest.raises(_core.SematicError) as info:
            LocalRunner().run(add(1, 2))
        assert str(info.value) == (
            f"the Sematic server at '{srv.base_url}' wants an API key (401: Missing API key): "
            "set SEMATIC_API_KEY to yours (`sematic users create EMAIL` on the server host "
            "makes one)"
        )
        monkeypatch.setenv("SEMATIC_API_KEY", key)
        f = pipeline(3, 5)
        assert LocalRunner().run(f) == 24
        assert api_client.get_pipeline_run(f.id).status == "COMPLETE"
    finally:
        srv.stop()


def test_http__bad_batches_are_400s_naming_the_op_and_write_nothing(server, tmp_path):
    def post(body: Any) -> Any:
        status, _, data = server.request(
            "POST", "/api/v1/store/batch", body=json.dumps(body).encode()
        )
        return status, json.loads(data)

    good_source = {"op": "source", "text": "print('hi')\n"}
    status, body = post({"ops": [good_source, {"op": "run", "run": {"id": "x"}}]})
    assert status == 400 and body["code"] == "SM_EINVAL"
    assert body["error"].startswith("op 1: invalid run: field 'root_id' is missing")
    # An operation the store refuses (a bad id) is named too, and rolls the batch back.
    status, body = post({"ops": [good_source, {"op": "log", "log": {
        "id": 0, "run_id": "nothex", "stream": 1, "ts": 0, "text": "x"}}]})
    assert status == 400
    assert body["error"].startswith("op 1 (log): invalid log run id 'nothex'")
    status, body = post({"ops": [], "extra": 1})
    assert status == 400 and "invalid batch" in body["error"]
    status, body = post({"ops": [{"op": "artifact", "artifact": {}, "payload": "!!"}]})
    assert status == 400 and body["error"].startswith("op 0: invalid artifact: field 'id'")
    status, _, data = server.request("GET", "/api/v1/store/change_seq")
    assert (status, json.loads(data)) == (200, {"change_seq": 0}), "nothing was written"
    status, body = post({"ops": [good_source]})
    assert status == 200 and body == {"n_ops": 1, "n_skipped": 0, "change_seq": 1}
    status, _, data = server.request("GET", "/api/v1/store/runs?nmae=x")
    assert status == 400 and "unknown query parameter 'nmae'" in json.loads(data)["error"]
    status, _, data = server.request("GET", "/api/v1/store/runs/" + "0" * 32)
    assert status == 404 and json.loads(data)["code"] == "SM_ENOTFOUND"


def test_http__a_batch_over_8_mib_goes_in_several_requests(server, tmp_path, monkeypatch):
    n = (2 if ASAN else 6) << 20  # two values of 6 MiB: 16 MiB of base64, over one request's 8
    use_server(monkeypatch, server, tmp_path / "client")
    f = two_blobs(n)
    monkeypatch.setenv("SEMATIC_COMMIT_INTERVAL_MS", "10000")  # one batch for the whole run
    assert LocalRunner().run(f) == [b"\x01" * n, b"\x02" * n]
    assert api_client.get_run_output(f.id) == [b"\x01" * n, b"\x02" * n]
    if not ASAN:
        assert server.wait_log(r"POST /api/v1/store/batch 200").count("/api/v1/store/batch") >= 2


def test_http__a_value_over_the_servers_body_limit_is_a_clear_error(tmp_path, monkeypatch):
    srv = start_server(tmp_path / "server-home", env={"SEMATIC_SERVER_MAX_BODY_BYTES": "1048576"})
    try:
        use_server(monkeypatch, srv, tmp_path / "client")
        with pytest.raises(_core.SematicError) as info:
            LocalRunner().run(blob(1 << 20, 7))
        assert info.value.code_name == "SM_ETOOBIG"
        assert re.fullmatch(
            re.escape(f"the Sematic server at '{srv.base_url}' refused a request of ")
            + r"\d+"
            + re.escape(
                " bytes as too large (its SEMATIC_SERVER_MAX_BODY_BYTES, 64 MiB by default, "
                "takes values up to about 3/4 of it): raise that on the server, or unset "
                "SEMATIC_API_ADDRESS"
            ),
            str(info.value),
        ), str(info.value)
    finally:
        srv.stop()


def pipeline_op(root_id: str, status: int) -> Dict[str, Any]:
    """A put_pipeline operation in rec_json's form (every field of struct sm_pipeline_rec)."""
    rec = {key: None for key in (
        "cache_namespace", "user", "git_json", "settings_json", "client_version", "run_command",
        "python", "cwd", "sys_path_json", "driver_host")}
    rec.update(root_id=root_id, status=status, kind="LOCAL", driver_pid=0, driver_start=0,
               created_at=1, updated_at=2, ended_at=0, seq=0)
    return {"op": "pipeline", "pipeline": rec}


def test_http__a_replayed_batch_skips_the_status_changes_it_already_made(server):
    root = "ab" * 16
    batch = json.dumps({"ops": [pipeline_op(root, 1), pipeline_op(root, 2)]}).encode()
    status, _, data = server.request("POST", "/api/v1/store/batch", body=batch)
    assert status == 200, data
    # Delivered twice as a first delivery, SCHEDULED after RUNNING is refused ...
    status, _, data = server.request("POST", "/api/v1/store/batch", body=batch)
    assert status == 409 and json.loads(data) == {
        "error": "op 0 (pipeline): invalid pipeline run status transition: 'RUNNING' -> "
        "'SCHEDULED'; a pipeline run's status only moves forward (see API.md 2.4)",
        "code": "SM_EINVALID_TRANSITION",
    }
    # ... but a replay (the client lost the first answer) skips it and applies the rest.
    status, _, data = server.request(
        "POST", "/api/v1/store/batch", body=batch, headers={"X-Sematic-Replay": "1"}
    )
    assert status == 200 and json.loads(data)["n_skipped"] == 1
    status, _, data = server.request("GET", f"/api/v1/store/pipelines/{root}")
    assert status == 200 and json.loads(data)["pipeline"]["status"] == 2


def test_http__a_batch_sent_again_under_its_key_is_applied_once(server):
    run_id = "cd" * 16
    line = {"op": "log", "log": {"id": 0, "run_id": run_id, "stream": 1, "ts": 5, "text": "hi"}}
    batch = json.dumps({"key": "0f" * 16, "ops": [line, line]}).encode()
    for _ in range(2):
        # The second time, as a client does after losing the first answer.
        status, _, data = server.request(
            "POST", "/api/v1/store/batch", body=batch, headers={"X-Sematic-Replay": "1"}
        )
        assert status == 200, data
    assert json.loads(data)["n_skipped"] == 2
    status, _, data = server.request("GET", f"/api/v1/store/logs/{run_id}")
    assert status == 200 and [x["text"] for x in json.loads(data)["logs"]] == ["hi", "hi"]
    # Another key is another batch; a key that is not 32 hex digits is refused, writing nothing.
    other = json.dumps({"key": "1e" * 16, "ops": [line]}).encode()
    assert server.request("POST", "/api/v1/store/batch", body=other)[0] == 200
    for bad in ("0F" * 16, "short", 7):
        body = json.dumps({"key": bad, "ops": [line]}).encode()
        status, _, data = server.request("POST", "/api/v1/store/batch", body=body)
        assert status == 400, data
        assert "key" in json.loads(data)["error"], data
    status, _, data = server.request("GET", f"/api/v1/store/logs/{run_id}")
    assert [x["text"] for x in json.loads(data)["logs"]] == ["hi"] * 3


def test_http__timing_of_a_chain_over_http_and_embedded(server, tmp_path, monkeypatch, capsys):
    n = 1000 if ASAN else 10000
    timings = {}
    for label in ("embedded", "http"):
        if label == "embedded":
            use_embedded(monkeypatch, tmp_path / "embedded")
        else:
            use_server(monkeypatch, server, tmp_path / "client")
        f = chain(n)
        start = time.perf_counter()
        assert LocalRunner().run(f) == sum(range(n))
        timings[label] = time.perf_counter() - start
    with local_store(monkeypatch, server.home) as store:
        assert len(json.loads(store.graph(f.id))["runs"]) == n + 1
    with capsys.disabled():
        print(
            f"\nbench: LocalRunner chain of {n} steps: embedded {timings['embedded']:.2f} s, "
            f"over HTTP {timings['http']:.2f} s ({timings['http'] / timings['embedded']:.1f}x)"
        )
