"""POST /api/v1/resolutions/:id/rerun, the dashboard's "rerun from here", end to end.

A real pipeline runs from a script of its own (a project directory in tmp_path) with our
LocalRunner on the server's SEMATIC_HOME; the server then reruns it by starting `sematic
rerun` detached (the same binary), and answers once the new pipeline run is in the store.
Checked: the new root id comes back, the new pipeline completes with the chosen run
executed again and the others reused, the child's log is under the store's logs/reruns/
and no zombie is left; a child that fails early is a 500 quoting its log; every bad
request is a 4xx naming the problem and the fix.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from server_fixture import start_server
from test_server_write import call, new_id, graph, run

SCRIPT = textwrap.dedent('''
    import sys
    import sematic

    @sematic.func
    def add(a: int, b: int) -> int:
        print("add", a, b)
        return a + b

    @sematic.func
    def double(x: int) -> int:
        return 2 * x

    @sematic.func
    def pipeline(x: int) -> int:
        return add(double(x), double(x + 1))

    if __name__ == "__main__":
        print(sematic.LocalRunner().run(pipeline(int(sys.argv[1]))))
''')


@pytest.fixture
def server(tmp_path):
    srv = start_server(tmp_path / "home")
    yield srv
    srv.stop()


def run_script(srv, project: Path, x: int) -> str:
    """Run the project's pipeline in a process of its own; its root run's id."""
    env = dict(os.environ, SEMATIC_HOME=str(srv.home), SEMATIC_PROGRESS="0")
    env.pop("SEMATIC_API_ADDRESS", None)
    result = subprocess.run([sys.executable, str(project / "pipe.py"), str(x)], cwd=project,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == str(2 * x + 2 * (x + 1))
    db = sqlite3.connect(srv.home / "sematic.db")
    try:
        (root,) = db.execute("SELECT root_id FROM pipeline_runs ORDER BY created_at DESC "
                             "LIMIT 1").fetchone()
    finally:
        db.close()
    return root


@pytest.fixture
def project(tmp_path):
    p = tmp_path / "project"
    p.mkdir()
    (p / "pipe.py").write_text(SCRIPT)
    return p


def runs_of(srv, root):
    status, body = call(srv, "GET", f"/api/v1/runs/{root}/graph?root=1")
    assert status == 200
    return body["runs"]


def wait_status(srv, root, statuses, timeout=120.0):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        status, body = call(srv, "GET", f"/api/v1/resolutions/{root}")
        last = (status, body)
        if status == 200 and body["content"]["status"] in statuses:
            return body["content"]["status"]
        time.sleep(0.05)
    raise AssertionError(f"pipeline run {root} never reached {statuses}; last seen {last}")


def zombies_of(pid: int):
    """Child processes of pid that are zombies (state Z)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z" and int(fields[1]) == pid:
            out.append(int(entry.name))
    return out


def test_rerun__from_a_run_starts_a_new_pipeline_run_and_answers_its_root(server, project):
    root = run_script(server, project, 3)
    old = {r["name"]: r for r in runs_of(server, root) if r["name"] != "double"}
    add_run = old["add"]["id"]

    status, body = call(server, "POST", f"/api/v1/resolutions/{root}/rerun",
                        {"rerun_from": add_run})
    assert status == 200, body
    new_root = body["content"]["root_id"]
    assert new_root != root and len(new_root) == 32
    # It exists when the answer comes.
    assert call(server, "GET", f"/api/v1/resolutions/{new_root}")[0] == 200
    assert wait_status(server, new_root, {"COMPLETE", "FAILED"}) == "COMPLETE"

    new = runs_of(server, new_root)
    assert sorted(r["name"] for r in new) == ["add", "double", "double", "pipeline"]
    by_name = {}
    for r in new:
        by_name.setdefault(r["name"], []).append(r)
    # add ran again; the doubles upstream of it were reused from the old pipeline run.
    assert by_name["add"][0]["original_run_id"] is None
    assert all(r["original_run_id"] for r in by_name["double"])
    assert {r["future_state"] for r in new} == {"RESOLVED"}

    logs = list((server.home / "logs" / "reruns").glob(f"{root}-*.log"))
    assert len(logs) == 1
    assert "add 6 8" in logs[0].read_text()
    assert "rerun of " + root in server.log()
    # The child was waited for: no zombie of the server's.
    deadline = time.time() + 30
    while zombies_of(server.proc.pid) and time.time() < deadline:
        time.sleep(0.05)
    assert zombies_of(server.proc.pid) == []


def test_rerun__null_or_no_body_reruns_the_whole_pipeline(server, project):
    root = run_script(server, project, 1)
    status, body = call(server, "POST", f"/api/v1/resolutions/{root}/rerun", {"rerun_from": None})
    assert status == 200, body
    assert wait_status(server, body["content"]["root_id"], {"COMPLETE", "FAILED"}) == "COMPLETE"
    status, body2 = call(server, "POST", f"/api/v1/resolutions/{root}/rerun")
    assert status == 200, body2
    assert body2["content"]["root_id"] not in (root, body["content"]["root_id"])
    wait_status(server, body2["content"]["root_id"], {"COMPLETE", "FAILED"})


def test_rerun__a_child_that_fails_early_is_a_500_with_its_log(server, project):
    root = run_script(server, project, 2)
    (project / "pipe.py").unlink()  # the rerun cannot find the pipeline's code
    status, body = call(server, "POST", f"/api/v1/resolutions/{root}/rerun", {"rerun_from": None})
    assert status == 500, body
    msg = body["error"]
    assert msg.startswith(f"cannot rerun '{root}': 'sematic rerun {root}' exited with status ")
    assert "before it recorded a pipeline run; its log (" in msg
    assert "which cannot be found" in msg  # sematic._rerun's own words, from the log


def set_pipeline(srv, root, **cols):
    db = sqlite3.connect(srv.home / "sematic.db")
    try:
        for k, v in cols.items():
            db.execute(f"UPDATE pipeline_runs SET {k} = ? WHERE root_id = ?", (v, root))
        db.commit()
    finally:
        db.close()


def test_rerun__bad_requests_name_the_problem_and_the_fix(server, project, tmp_path):
    root = run_script(server, project, 1)
    step = next(r["id"] for r in runs_of(server, root) if r["name"] == "add")
    other = run_script(server, project, 5)
    other_step = next(r["id"] for r in runs_of(server, other) if r["name"] == "add")
    path = f"/api/v1/resolutions/{root}/rerun"

    unknown = "0" * 32
    assert call(server, "POST", f"/api/v1/resolutions/{unknown}/rerun", {}) == (
        404, {"error": f"No runs with id '{unknown}'"})
    assert call(server, "POST", "/api/v1/resolutions/nope/rerun", {}) == (
        404, {"error": "No runs with id 'nope'"})
    assert call(server, "POST", f"/api/v1/resolutions/{step}/rerun", {}) == (400, {
        "error": f"run '{step}' is not a pipeline run's root; to rerun its pipeline from it: "
                 f"POST /api/v1/resolutions/{root}/rerun {{\"rerun_from\": \"{step}\"}}"})
    assert call(server, "POST", path, {"rerun_from": unknown}) == (
        404, {"error": f"No runs with id '{unknown}'"})
    assert call(server, "POST", path, {"rerun_from": other_step}) == (400, {
        "error": f"run '{other_step}' belongs to pipeline run '{other}', not '{root}'; rerun "
                 f"that one: POST /api/v1/resolutions/{other}/rerun"})
    bad_shape = ("Malformed payload: send {\"rerun_from\": \"<run id>\"} to rerun from a run of "
                 "the pipeline, or {\"rerun_from\": null} to rerun it all")
    assert call(server, "POST", path, {"rerun_from": 3}) == (400, {"error": bad_shape})
    assert call(server, "POST", path, [step]) == (400, {"error": bad_shape})
    status, body = call(server, "POST", path, raw=b"{nope")
    assert status == 400 and "error" in body
    assert call(server, "GET", path)[0] == 405

    set_pipeline(server, root, python=str(tmp_path / "gone" / "python"))
    status, body = call(server, "POST", path, {"rerun_from": step})
    assert status == 409
    assert body["error"] == (
        f"cannot rerun '{root}': its driver ran '{tmp_path / 'gone' / 'python'}', which this "
        f"server's machine cannot run (No such file or directory); run it from your project: "
        f"sematic rerun {root} --from {step}")
    set_pipeline(server, root, python=sys.executable, cwd=str(tmp_path / "nowhere"))
    status, body = call(server, "POST", path, {})
    assert status == 409
    assert body["error"] == (
        f"cannot rerun '{root}': its driver ran in '{tmp_path / 'nowhere'}', which is no "
        f"directory on this server's machine; run it from your project: sematic rerun {root}")

    # A pipeline Sematic's own client recorded has no driver record here.
    client_root = new_id()
    assert call(server, "PUT", "/api/v1/graph", graph([run(client_root, client_root)])) == (
        200, {})
    status, body = call(server, "POST", f"/api/v1/resolutions/{client_root}/rerun", {})
    assert status == 409
    assert body["error"].startswith(f"cannot rerun '{client_root}': the store has no record of "
                                    "how its driver ran")
    # Nothing was started by any of these.
    assert not (server.home / "logs" / "reruns").exists()
