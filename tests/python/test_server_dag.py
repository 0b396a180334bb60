"""GET /api/v1/runs/:id/dag, the dashboard's compact graph, against the real server.

Pipelines run with our LocalRunner on the server's SEMATIC_HOME: a nested one, a fan-out
(whose list argument is a _make_list helper run) and a failing one. Each payload is
checked against ui/README.md "The graph payload" and resolved back, index by index, to
the runs and edges of Sematic's own GET /api/v1/runs/:id/graph?root=1 for the same
pipeline: the same runs with their parents, names, functions and states, and exactly the
distinct (source, destination) pairs of the edges whose both ends are set. change_seq is
the store's change sequence at the read: /api/v1/events?after=<change_seq> then brings
only what changed since. Bad and unknown ids are Sematic's 404.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest

import sematic
from sematic.utils.exceptions import PipelineRunError

from server_fixture import start_server

STATES = ["CREATED", "SCHEDULED", "RAN", "RESOLVED", "FAILED", "NESTED_FAILED", "CANCELED",
          "RETRYING"]


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A server, and this process's LocalRunner writing to its store."""
    srv = start_server(tmp_path / "home")
    monkeypatch.setenv("SEMATIC_HOME", str(srv.home))
    monkeypatch.setenv("SEMATIC_PROGRESS", "0")
    monkeypatch.delenv("SEMATIC_API_ADDRESS", raising=False)
    monkeypatch.delenv("SEMATIC_API_KEY", raising=False)
    yield srv
    srv.stop()


@sematic.func
def add(a: int, b: int) -> int:
    return a + b


@sematic.func
def double(x: int) -> int:
    return 2 * x


@sematic.func
def inner(x: int) -> int:
    return add(double(x), 1)


@sematic.func
def nested_pipeline(x: int) -> int:
    return add(inner(x), inner(add(x, 1)))


@sematic.func
def total(xs: List[int]) -> int:
    return sum(xs)


@sematic.func
def fan_out(n: int) -> int:
    return total([double(i) for i in range(n)])


@sematic.func
def explode(x: int) -> int:
    raise ValueError("boom %d" % x)


@sematic.func
def failing_pipeline(x: int) -> int:
    return add(explode(x), double(x))


def get_json(srv, path: str):
    status, headers, body = srv.request("GET", path)
    return status, headers, json.loads(body)


def check_dag(srv, run_id: str) -> Dict[str, Any]:
    """The /dag of run_id's pipeline, checked against its /graph?root=1; returns the dag."""
    status, headers, dag = get_json(srv, f"/api/v1/runs/{run_id}/dag")
    assert status == 200, dag
    assert headers["content-type"] == "application/json"
    assert list(dag) == ["root_id", "change_seq", "states", "names", "functions", "runs",
                         "edges"]
    assert dag["states"] == STATES
    assert len(set(dag["names"])) == len(dag["names"])
    assert len(set(dag["functions"])) == len(dag["functions"])
    runs = dag["runs"]
    assert list(runs) == ["id", "parent", "name", "function", "state"]
    n = len(runs["id"])
    assert all(len(runs[col]) == n for col in runs), {c: len(v) for c, v in runs.items()}

    status, _, graph = get_json(srv, f"/api/v1/runs/{run_id}/graph?root=1")
    assert status == 200
    by_id = {r["id"]: r for r in graph["runs"]}
    root = by_id[run_id]["root_id"]
    assert dag["root_id"] == root
    assert sorted(runs["id"]) == sorted(by_id), "the dag's runs are the graph's"

    for i, rid in enumerate(runs["id"]):
        r = by_id[rid]
        p = runs["parent"][i]
        assert -1 <= p < i, f"run {i} ({r['name']}) comes before its parent {p}"
        assert (runs["id"][p] if p >= 0 else None) == r["parent_id"]
        assert dag["names"][runs["name"][i]] == r["name"]
        assert dag["functions"][runs["function"][i]] == r["function_path"]
        assert STATES[runs["state"][i]] == r["future_state"]
    assert runs["parent"].count(-1) == 1 and runs["id"][runs["parent"].index(-1)] == root

    edges = dag["edges"]
    assert len(edges) % 2 == 0
    pairs = [(runs["id"][edges[k]], runs["id"][edges[k + 1]]) for k in range(0, len(edges), 2)]
    assert len(pairs) == len(set(pairs)), "each connected pair once"
    # Both ends set, and both runs of this pipeline (an index names nothing else).
    expected = {(e["source_run_id"], e["destination_run_id"]) for e in graph["edges"]
                if e["source_run_id"] in by_id and e["destination_run_id"] in by_id}
    assert set(pairs) == expected
    return dag


def test_dag__a_nested_pipeline_resolves_to_its_graph(server):
    f = nested_pipeline(3)
    assert sematic.LocalRunner().run(f) == 16  # (2*3+1) + (2*4+1)
    dag = check_dag(server, f.id)
    names = [dag["names"][i] for i in dag["runs"]["name"]]
    assert sorted(names) == sorted(["nested_pipeline", "inner", "inner", "add", "add", "add",
                                    "add", "double", "double"])
    assert {STATES[s] for s in dag["runs"]["state"]} == {"RESOLVED"}
    assert len(dag["edges"]) > 0
    # Any run of the pipeline names the same pipeline.
    leaf = dag["runs"]["id"][dag["runs"]["name"].index(dag["names"].index("double"))]
    assert get_json(server, f"/api/v1/runs/{leaf}/dag")[2]["root_id"] == f.id
    assert check_dag(server, leaf)["runs"] == dag["runs"]


def test_dag__a_fan_out_with_its_make_list_helper(server):
    f = fan_out(50)
    assert sematic.LocalRunner().run(f) == 2 * sum(range(50))
    dag = check_dag(server, f.id)
    assert "_make_list" in dag["names"]
    runs = dag["runs"]
    names = [dag["names"][i] for i in runs["name"]]
    assert names.count("double") == 50
    pairs = {(dag["edges"][k], dag["edges"][k + 1]) for k in range(0, len(dag["edges"]), 2)}
    make_list = names.index("_make_list")
    into_list = {a for a, b in pairs if b == make_list}
    assert {names[a] for a in into_list} == {"double"} and len(into_list) == 50
    assert {names[b] for a, b in pairs if a == make_list} == {"total"}


def test_dag__a_failed_pipeline_shows_failed_states(server):
    f = failing_pipeline(2)
    with pytest.raises(PipelineRunError):
        sematic.LocalRunner().run(f)
    dag = check_dag(server, f.id)
    state_of = {dag["names"][n]: STATES[s] for n, s in zip(dag["runs"]["name"],
                                                            dag["runs"]["state"])}
    assert state_of["explode"] == "FAILED"
    assert state_of["failing_pipeline"] == "NESTED_FAILED"


def test_dag__change_seq_is_where_the_events_pick_up(server):
    f = add(1, 2)
    assert sematic.LocalRunner().run(f) == 3
    dag = check_dag(server, f.id)
    _, _, seq = get_json(server, "/api/v1/store/change_seq")
    assert dag["change_seq"] == seq["change_seq"]
    g = add(3, 4)
    assert sematic.LocalRunner().run(g) == 7
    later = check_dag(server, f.id)
    assert later["change_seq"] > dag["change_seq"]
    assert later["runs"] == dag["runs"]
    # What the stream sends after change_seq is only what came later: the other pipeline.
    conn = server.connection(timeout=30)
    conn.request("GET", f"/api/v1/events?after={dag['change_seq']}&kinds=runs")
    resp = conn.getresponse()
    assert resp.status == 200
    seen = set()
    while g.id not in seen:
        line = resp.readline().decode()
        assert line, "the stream ended before the later pipeline's runs came"
        if line.startswith("data: ") and '"runs"' in line:
            seen |= {r["id"] for r in json.loads(line[6:])["runs"]}
    conn.close()
    assert f.id not in seen


@pytest.mark.parametrize("bad", ["0" * 32, "not-a-run", "ABCDEF" * 5 + "ab", "0" * 31, "0" * 64])
def test_dag__an_unknown_or_malformed_id_is_sematics_404(server, bad):
    status, _, body = get_json(server, f"/api/v1/runs/{bad}/dag")
    assert (status, body) == (404, {"error": f"No runs with id '{bad}'"})


def test_dag__only_get(server):
    status, headers, _ = server.request("POST", "/api/v1/runs/" + "0" * 32 + "/dag", body=b"{}")
    assert status == 405
    assert "GET" in headers["allow"]


def test_dag__a_clients_graph_written_children_first_still_lists_parents_first(server):
    """Sematic's client may send a child before its parent, and two edges for one pair."""
    from test_server_write import artifact, call, edge, graph, new_id, run

    root, mid, leaf, other = new_id(), new_id(), new_id(), new_id()
    art = "df56adbd1d6d197be682be18f527e8b4f311f9ae"
    g = graph(
        runs=[run(leaf, root, parent_id=mid, name="leaf", path="m.leaf", state="RESOLVED"),
              run(mid, root, parent_id=root, name="mid", path="m.mid", state="RETRYING"),
              run(root, root, name="pipeline", path="m.pipeline", state="CANCELED")],
        artifacts=[artifact(art)],
        edges=[edge(leaf, mid, "x", art), edge(leaf, mid, "y", art), edge(None, leaf, "a", art),
               edge(mid, None), edge(mid, other, "z", art)],
    )
    assert call(server, "PUT", "/api/v1/graph", g) == (200, {})
    dag = check_dag(server, leaf)
    assert dag["runs"]["id"] == [root, mid, leaf]
    assert dag["runs"]["parent"] == [-1, 0, 1]
    assert [STATES[s] for s in dag["runs"]["state"]] == ["CANCELED", "RETRYING", "RESOLVED"]
    # One pair for two edges; none for the edge to a run of no pipeline here.
    assert dag["edges"] == [2, 1]
