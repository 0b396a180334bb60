"""GET /api/v1/runs/:id/graph?root=1 streamed: a pipeline big enough for many chunks.

The whole-pipeline graph is made by three threads (artifacts, edges, runs) into queues of
~256 KB chunks that the response hands out as they come (runs_one.c). Checked here against
the real server with a LocalRunner fan-out of 3,000 steps (about 4 MB of JSON): the body is
one JSON document in Sematic's shape holding every run, edge and artifact once, the same
records as the store's own listings; a client that hangs up in the middle leaves the
server answering (and, under ASan, leaking nothing: the fixture checks the log); HEAD gets
the headers only.
"""
from __future__ import annotations

import json
import urllib.parse
from typing import List

import pytest

import sematic

from server_fixture import start_server

N = 3000


@pytest.fixture
def server(tmp_path, monkeypatch):
    srv = start_server(tmp_path / "home")
    monkeypatch.setenv("SEMATIC_HOME", str(srv.home))
    monkeypatch.setenv("SEMATIC_PROGRESS", "0")
    monkeypatch.delenv("SEMATIC_API_ADDRESS", raising=False)
    monkeypatch.delenv("SEMATIC_API_KEY", raising=False)
    yield srv
    srv.stop()


@sematic.func
def inc(x: int) -> int:
    return x + 1


@sematic.func
def total(xs: List[int]) -> int:
    return sum(xs)


@sematic.func
def fan_out(n: int) -> int:
    return total([inc(i) for i in range(n)])


def test_graph_stream__a_big_pipeline_comes_whole_in_sematics_shape(server):
    f = fan_out(N)
    assert sematic.LocalRunner().run(f) == sum(range(1, N + 1))
    status, headers, body = server.request("GET", f"/api/v1/runs/{f.id}/graph?root=1")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert headers.get("transfer-encoding") == "chunked"
    assert len(body) > 1 << 20
    graph = json.loads(body)
    assert list(graph) == ["artifacts", "edges", "run_id", "runs"]
    assert graph["run_id"] == f.id
    runs = {r["id"]: r for r in graph["runs"]}
    assert len(runs) == len(graph["runs"]) == N + 3  # the pipeline, _make_list, total
    assert {r["root_id"] for r in graph["runs"]} == {f.id}
    assert all(list(r) == sorted(r) for r in graph["runs"][:10])
    assert len({e["id"] for e in graph["edges"]}) == len(graph["edges"])
    assert len({a["id"] for a in graph["artifacts"]}) == len(graph["artifacts"])
    # Every artifact an edge names is there, and nothing else.
    named = {e["artifact_id"] for e in graph["edges"] if e["artifact_id"]}
    assert {a["id"] for a in graph["artifacts"]} == named
    # The same runs as the read API lists for the pipeline.
    _, _, listed = server.request(
        "GET", "/api/v1/runs?limit=-1&filters="
        + urllib.parse.quote(json.dumps({"root_id": {"eq": f.id}})))
    assert {r["id"] for r in json.loads(listed)["content"]} == set(runs)
    # From a step of the pipeline: the same graph, in the same order, with the step's run_id.
    step = next(r["id"] for r in graph["runs"] if r["name"] == "inc")
    from_step = json.loads(server.request("GET", f"/api/v1/runs/{step}/graph?root=1")[2])
    assert from_step["run_id"] == step
    assert {**from_step, "run_id": f.id} == graph


def test_graph_stream__a_client_leaving_midway_leaves_the_server_serving(server):
    f = fan_out(N)
    sematic.LocalRunner().run(f)
    for _ in range(3):
        conn = server.connection()
        conn.request("GET", f"/api/v1/runs/{f.id}/graph?root=1")
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.read(1000).startswith(b'{"artifacts":[')
        conn.close()  # hang up with most of the body unsent
    status, _, body = server.request("GET", f"/api/v1/runs/{f.id}/graph?root=1")
    assert status == 200 and len(json.loads(body)["runs"]) == N + 3
    assert server.request("GET", "/api/v1/ping")[0] == 200


def test_graph_stream__head_gets_headers_only(server):
    f = fan_out(10)
    sematic.LocalRunner().run(f)
    status, headers, body = server.request("HEAD", f"/api/v1/runs/{f.id}/graph?root=1")
    assert (status, body) == (200, b"")
    assert headers["content-type"] == "application/json"
