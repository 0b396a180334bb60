"""Sematic's read API on the real server (docs/server.md "The read API").

GET /api/v1/runs (filters, order, cursors, group_by, search, fields), a
run's metrics and logs, artifacts, edges, notes, metrics, users and
organizations, against a store filled by our LocalRunner (SEMATIC_HOME is
the server's) and, for states a runner does not leave behind (a run still
running, a pipeline not started), by direct store writes (store_fixture).
Statuses and bodies are asserted exactly where Sematic's shape is fixed
(STYLE 37).
"""
from __future__ import annotations

import concurrent.futures
import json
import urllib.parse
from typing import Dict, List

import pytest

import sematic
from server_fixture import start_server
from store_fixture import Store, new_id

JSON = "application/json"

# Sematic's Run payload, plus the `user` the listing adds (api/endpoints/payloads.py).
RUN_KEYS = {
    "cache_key", "container_image_uri", "created_at", "description", "ended_at",
    "exception_metadata_json", "external_exception_metadata_json", "failed_at",
    "function_path", "future_state", "id", "name", "nested_future_id", "organization_id",
    "original_run_id", "parent_id", "resolved_at", "resource_requirements_json", "root_id",
    "source_code", "started_at", "tags", "updated_at", "user", "user_id",
}
PAGE_KEYS = {
    "current_page_url", "next_page_url", "limit", "next_cursor", "after_cursor_count", "content",
}
ARTIFACT_KEYS = {
    "created_at", "id", "json_summary", "organization_id", "type_serialization", "updated_at",
}
EDGE_KEYS = {
    "artifact_id", "created_at", "destination_name", "destination_run_id", "id", "parent_id",
    "source_name", "source_run_id", "updated_at",
}
LOG_KEYS = {
    "can_continue_backward", "can_continue_forward", "forward_cursor_token", "line_ids", "lines",
    "log_info_message", "reverse_cursor_token",
}
NOTE_KEYS = {"created_at", "id", "note", "root_id", "run_id", "updated_at", "user", "user_id"}


# ------------------------------------------------------------------ pipelines


@sematic.func
def add(a: float, b: float) -> float:
    return a + b


@sematic.func
def add_add_add(a: float, b: float) -> float:
    """Three additions in a row."""
    aa = add(a, b)
    aaa = add(aa, b)
    return add(aaa, b)


@sematic.func
def shout(n: int) -> int:
    for i in range(n):
        print(f"line {i} {'even' if i % 2 == 0 else 'odd'}")
    return n


@sematic.func
def talkative(n: int) -> int:
    return shout(n)


@sematic.func
def fan(n: int) -> List[float]:
    return [add(float(i), 1.0) for i in range(n)]


@sematic.func
def four_params(zeta: int, alpha: int, mid: int, beta: int) -> int:
    return zeta + alpha + mid + beta


@sematic.func
def boom(x: float) -> float:
    raise ValueError("boom")


@sematic.func
def failing(x: float) -> float:
    return boom(add(x, x))


def run(future) -> object:
    return sematic.LocalRunner().run(future)


# ------------------------------------------------------------------ fixtures


class Api:
    """The server and the store it serves."""

    def __init__(self, srv):
        self.srv = srv
        self.home = srv.home

    def get(self, path: str, params: Dict[str, object] = None, headers=None):
        if params:
            path += "?" + urllib.parse.urlencode(
                {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
            )
        status, hdrs, body = self.srv.request("GET", path, headers=headers)
        assert hdrs.get("content-type") == JSON, (path, status, body)
        return status, json.loads(body)

    def ok(self, path: str, params: Dict[str, object] = None):
        status, body = self.get(path, params)
        assert status == 200, (path, params, body)
        return body

    def send(self, method: str, path: str, payload=None, headers=None):
        data = None if payload is None else json.dumps(payload).encode()
        status, hdrs, body = self.srv.request(method, path, body=data, headers=headers)
        assert hdrs.get("content-type") == JSON, (path, status, body)
        return status, json.loads(body)

    def runs(self, **params) -> List[dict]:
        return self.ok("/api/v1/runs", {"limit": -1, **params})["content"]

    def error(self, path: str, params=None, status=400) -> str:
        got, body = self.get(path, params)
        assert got == status, (path, params, got, body)
        assert set(body) == {"error"}, body
        return body["error"]


@pytest.fixture
def api(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("SEMATIC_HOME", str(home))
    monkeypatch.setenv("SEMATIC_PROGRESS", "0")
    monkeypatch.delenv("SEMATIC_API_ADDRESS", raising=False)
    srv = start_server(home)
    try:
        yield Api(srv)
    finally:
        srv.stop()


def ids(rows) -> set:
    return {r["id"] for r in rows}


def fn(r: dict) -> str:
    """The function's name, without its module."""
    return r["function_path"].rsplit(".", 1)[1]


def roots_of(api, path: str) -> List[dict]:
    return api.runs(filters={"AND": [{"parent_id": {"eq": None}}, {"function_path": {"eq": path}}]})


# ------------------------------------------------------------------ GET /api/v1/runs


def test_runs__page_has_sematics_shape(api):
    assert run(add_add_add(1.0, 2.0)) == 7.0
    page = api.ok("/api/v1/runs")
    assert set(page) == PAGE_KEYS
    assert page["limit"] == 20
    assert page["current_page_url"] == f"http://127.0.0.1:{api.srv.port}/api/v1/runs?limit=20"
    assert page["next_cursor"] is None and page["next_page_url"] is None
    assert page["after_cursor_count"] == 4
    assert len(page["content"]) == 4
    for r in page["content"]:
        assert set(r) == RUN_KEYS
        assert r["user"] is None and r["user_id"] is None
        assert r["future_state"] == "RESOLVED"
    root = [r for r in page["content"] if r["parent_id"] is None]
    assert len(root) == 1
    assert root[0]["function_path"].endswith("add_add_add")
    assert root[0]["description"] == "Three additions in a row."
    assert "def add_add_add" in root[0]["source_code"]
    assert root[0]["created_at"].endswith("+00:00")


def test_runs__newest_first_by_default_oldest_first_on_asc(api):
    run(add_add_add(1.0, 2.0))
    desc = api.runs()
    asc = api.runs(order="asc")
    keys = [(r["created_at"], r["id"]) for r in desc]
    assert keys == sorted(keys, reverse=True)
    assert [r["id"] for r in asc] == [r["id"] for r in reversed(desc)]
    assert api.error("/api/v1/runs", {"order": "up"}) == (
        "invalid value for 'order'; expected one of: ['asc', 'desc']; got: 'up'"
    )


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_runs__cursors_walk_every_run_once(api, order):
    run(fan(30))
    everything = [r["id"] for r in api.runs(order=order)]
    assert len(everything) > 30  # fan, its 30 adds, and the list they make
    seen, counts, cursor, pages = [], [], None, 0
    while True:
        params = {"limit": 7, "order": order}
        if cursor:
            params["cursor"] = cursor
        page = api.ok("/api/v1/runs", params)
        pages += 1
        seen += [r["id"] for r in page["content"]]
        counts.append(page["after_cursor_count"])
        cursor = page["next_cursor"]
        if cursor is None:
            assert page["next_page_url"] is None
            break
        assert page["next_page_url"].endswith(
            "/api/v1/runs?limit=7&cursor=" + urllib.parse.quote_plus(cursor)
        )
        assert len(page["content"]) == 7
    assert seen == everything  # no gap, no duplicate, same order
    assert pages == -(-len(everything) // 7)
    assert counts == [len(everything) - 7 * i for i in range(pages)]


def test_runs__next_page_url_is_followed_as_is(api):
    run(fan(5))
    page = api.ok("/api/v1/runs", {"limit": 4})
    nxt = urllib.parse.urlsplit(page["next_page_url"])
    second = api.ok(nxt.path + "?" + nxt.query)
    assert second["current_page_url"] == page["next_page_url"]
    ids = [r["id"] for r in page["content"] + second["content"]]
    assert ids == [r["id"] for r in api.runs()][:8]


def test_runs__runs_written_between_pages_neither_repeat_nor_shift_pages(api):
    run(fan(10))
    before = [r["id"] for r in api.runs()]
    first = api.ok("/api/v1/runs", {"limit": 6})
    run(fan(3))  # newer runs: they belong before the first page, not in later ones
    second = api.ok("/api/v1/runs", {"limit": 6, "cursor": first["next_cursor"]})
    assert [r["id"] for r in first["content"] + second["content"]] == before[:12]
    assert second["after_cursor_count"] == len(before) - 6
    # The count of a first page sees the new runs at once.
    now = len(api.runs())
    assert now == len(before) + 5  # fan, 3 adds, the list
    assert api.ok("/api/v1/runs", {"limit": 6})["after_cursor_count"] == now
    # Oldest first, new runs come at the end.
    asc_first = api.ok("/api/v1/runs", {"limit": 5, "order": "asc"})
    run(add(1.0, 1.0))
    rest = api.runs(order="asc", cursor=asc_first["next_cursor"])
    assert len(asc_first["content"]) + len(rest) == now + 1
    assert rest[-1]["function_path"].endswith(".add")


def test_runs__limit_minus_one_is_everything(api):
    run(fan(25))
    page = api.ok("/api/v1/runs", {"limit": -1})
    assert len(page["content"]) > 25 and len(page["content"]) == len(api.runs(order="asc"))
    assert page["limit"] == -1
    assert page["next_cursor"] is None
    assert page["after_cursor_count"] == len(page["content"])


def test_runs__filters(api):
    run(add_add_add(1.0, 2.0))
    run(fan(3))
    with pytest.raises(Exception):
        run(failing(1.0))
    everything = api.runs()
    by_id = {r["id"]: r for r in everything}
    adds = [r for r in everything if r["function_path"].endswith(".add")]
    same_function = api.runs(filters={"function_path": {"eq": adds[0]["function_path"]}})
    assert ids(same_function) == ids(adds)
    two = [adds[0]["id"], adds[1]["id"]]
    assert ids(api.runs(filters={"id": {"in": two}})) == set(two)
    roots = api.runs(filters={"parent_id": {"eq": None}})
    assert len(roots) == 3 and all(r["parent_id"] is None for r in roots)
    failed = api.runs(filters={"future_state": {"eq": "FAILED"}})
    assert [fn(r) for r in failed] == ["boom"]
    nested = api.runs(filters={"future_state": {"in": ["FAILED", "NESTED_FAILED"]}})
    assert {fn(r) for r in nested} == {"boom", "failing"}
    # AND / OR.
    root_aaa = [r for r in roots if r["function_path"].endswith("add_add_add")][0]
    aaa = root_aaa["id"]
    inner = api.runs(filters={"AND": [{"root_id": {"eq": aaa}}, {"parent_id": {"eq": aaa}}]})
    assert len(inner) == 3 and all(r["parent_id"] == root_aaa["id"] for r in inner)
    either = api.runs(
        filters={"OR": [{"id": {"eq": root_aaa["id"]}}, {"future_state": {"eq": "FAILED"}}]}
    )
    assert ids(either) == {aaa, failed[0]["id"]}
    # Relationships: the root run's columns, the pipeline run's.
    in_aaa = api.runs(filters={"root_run.function_path": {"eq": root_aaa["function_path"]}})
    assert ids(in_aaa) == ids(r for r in everything if r["root_id"] == aaa)
    in_failed = api.runs(filters={"pipeline_run.status": {"eq": "FAILED"}})
    assert in_failed and {fn(by_id[r["root_id"]]) for r in in_failed} == {"failing"}
    assert api.runs(filters={"tags": {"contains": "nope"}}) == []


def test_runs__tags_contains(api):
    run(add(1.0, 2.0).set(tags=["blue", "team:x"]))
    run(add(3.0, 4.0).set(tags=["red"]))
    blue = api.runs(filters={"tags": {"contains": "blue"}})
    assert [r["tags"] for r in blue] == [["blue", "team:x"]]
    assert api.runs(filters={"tags": {"contains": "team"}}) == []  # an element, not a substring


def test_runs__group_by_function_path_keeps_the_newest_pipeline_run(api):
    run(add_add_add(1.0, 2.0))
    run(add_add_add(3.0, 4.0))
    run(fan(2))
    newest = api.runs(filters={"parent_id": {"eq": None}})
    page = api.ok(
        "/api/v1/runs",
        {"group_by": "function_path", "filters": {"parent_id": {"eq": None}}},
    )
    got = [r["id"] for r in page["content"]]
    by_path = {}
    for r in newest:  # newest first: the first of each path wins
        by_path.setdefault(r["function_path"], r["id"])
    assert got == [i for i in [r["id"] for r in newest] if i in by_path.values()]
    assert len(got) == 2 and page["after_cursor_count"] == 2
    assert "Unsupported group_by value 'color'" in api.error("/api/v1/runs", {"group_by": "color"})


def test_runs__search_is_a_case_insensitive_substring(api):
    run(add_add_add(1.0, 2.0))
    run(fan(2))
    hits = api.runs(search="ADD_ADD")
    assert [fn(r) for r in hits] == ["add_add_add"]
    assert len(api.runs(search="three additions")) == 1  # the docstring
    some = api.runs()[0]["id"]
    assert [r["id"] for r in api.runs(search=some.upper())] == [some]
    assert api.runs(search="%") == []  # literal, not a wildcard


def test_runs__fields_id_gives_only_ids(api):
    run(add(1.0, 2.0))
    page = api.ok("/api/v1/runs", {"fields": ["id"]})
    assert page["content"] == [{"id": r["id"]} for r in api.runs()]
    assert api.error("/api/v1/runs", {"fields": ["id", "name"]}).startswith(
        "'fields' must be either `None` or `['id']`"
    )
    assert api.error("/api/v1/runs", {"fields": "[id"}).startswith("Malformed include fields")


def test_runs__bad_inputs_are_400s_that_say_what_was_wrong(api):
    run(add(1.0, 2.0))
    err = api.error("/api/v1/runs", {"filters": "{not json"})
    assert err.startswith("invalid filters") and "JSON" in err
    err = api.error("/api/v1/runs", {"filters": {"colour": {"eq": "red"}}})
    assert "unknown column 'colour' of runs" in err
    err = api.error("/api/v1/runs", {"filters": {"name": {"like": "x"}}})
    assert "like" in err
    err = api.error("/api/v1/runs", {"filters": {"future_state": {"eq": "DONE"}}})
    assert "DONE" in err
    err = api.error("/api/v1/runs", {"filters": {"root_run.name": {"in": ["x"]}}})
    assert "eq" in err
    err = api.error("/api/v1/runs", {"cursor": "bm90IGEgY3Vyc29y"})
    assert err.startswith("invalid cursor")
    for limit in ("0", "-2", "ten", ""):
        assert api.error("/api/v1/runs", {"limit": limit}).startswith(
            f"limit must be greater than 0 or -1, got '{limit}'"
        )
    for gc in ("orphaned", "orphaned_jobs"):
        err = api.error("/api/v1/runs", {"filters": {gc: {"eq": True}}})
        assert f"garbage-collection filter '{gc}' is not supported" in err
        err = api.error("/api/v1/runs", {"filters": {"AND": [{gc: {"eq": True}}]}})
        assert gc in err


# ------------------------------------------------------------------ a run's metrics


def test_run_metrics__counts_by_state_and_average_runtimes(api):
    run(add_add_add(1.0, 2.0))
    run(add_add_add(2.0, 2.0))
    root = roots_of(api, api.runs(search="add_add_add")[0]["function_path"])[0]
    body = api.ok(f"/api/v1/runs/{root['id']}/metrics")
    content = body["content"]
    assert set(content) == {"count_by_state", "avg_runtime_children", "total_count"}
    assert content["count_by_state"] == {"RESOLVED": 2}
    assert content["total_count"] == 2
    path = root["function_path"]
    add_path = path.rsplit(".", 1)[0] + ".add"
    assert list(content["avg_runtime_children"]) == sorted([path, add_path])
    assert all(v is None or v >= 0 for v in content["avg_runtime_children"].values())
    child = api.runs(filters={"function_path": {"eq": add_path}})[0]
    assert api.ok(f"/api/v1/runs/{child['id']}/metrics")["content"]["total_count"] == 6
    missing = new_id()
    err = api.error(f"/api/v1/runs/{missing}/metrics", status=404)
    assert err == f"No runs with id '{missing}'"
    assert api.error("/api/v1/runs/xyz/metrics", status=404) == "No runs with id 'xyz'"


# ------------------------------------------------------------------ artifacts and edges


def test_artifacts__list_filter_and_one(api):
    run(add_add_add(1.0, 2.0))
    page = api.ok("/api/v1/artifacts")
    assert set(page) == {"content"}
    arts = page["content"]
    assert 0 < len(arts) <= 20
    for a in arts:
        assert set(a) == ARTIFACT_KEYS
    keys = [a["created_at"] for a in arts]
    assert keys == sorted(keys, reverse=True)
    assert len(api.ok("/api/v1/artifacts", {"limit": 2})["content"]) == 2
    seven = [a for a in arts if a["json_summary"] == 7.0][0]
    one = api.ok("/api/v1/artifacts", {"filters": {"id": {"eq": seven["id"]}}})["content"]
    assert one == [seven]
    assert api.ok(f"/api/v1/artifacts/{seven['id']}") == {"content": seven}
    assert seven["type_serialization"]["type"][1] == "float"
    missing = "ab" * 32
    err = api.error(f"/api/v1/artifacts/{missing}", status=404)
    assert err == f"No Artifact with id '{missing}'"
    assert api.error("/api/v1/artifacts/nothex", status=404) == "No Artifact with id 'nothex'"
    assert "unknown column" in api.error("/api/v1/artifacts", {"filters": {"size": {"eq": 1}}})


def test_edges__of_runs_with_or_and_in(api):
    run(add_add_add(1.0, 2.0))
    adds = api.runs(search=".add")
    middle = [r for r in adds if r["function_path"].endswith(".add")][1]
    edges = api.ok(
        "/api/v1/edges",
        {
            "limit": -1,
            "filters": {
                "OR": [
                    {"source_run_id": {"in": [middle["id"]]}},
                    {"destination_run_id": {"in": [middle["id"]]}},
                ]
            },
        },
    )["content"]
    for e in edges:
        assert set(e) == EDGE_KEYS
        assert middle["id"] in (e["source_run_id"], e["destination_run_id"])
    inputs = sorted(e["destination_name"] for e in edges if e["destination_run_id"] == middle["id"])
    assert inputs == ["a", "b"]
    assert any(e["source_run_id"] == middle["id"] for e in edges)
    assert len(api.ok("/api/v1/edges")["content"]) <= 20
    assert "invalid filters" in api.error("/api/v1/edges", {"filters": "[]"})


def test_edges__a_runs_inputs_oldest_first_are_in_parameter_order(api):
    """The dashboard lists a run's inputs as the function declares them (not by name)."""
    for _ in range(3):  # the order must not depend on luck: the ids of one millisecond
        f = four_params(1, 2, 3, 4)
        assert run(f) == 10
        edges = api.ok(
            "/api/v1/edges",
            {"limit": -1, "order": "asc", "filters": {"destination_run_id": {"eq": f.id}}},
        )["content"]
        assert [e["destination_name"] for e in edges] == ["zeta", "alpha", "mid", "beta"]


# ------------------------------------------------------------------ logs


def logs(api, run_id, **params):
    return api.ok(f"/api/v1/runs/{run_id}/logs", params or None)["content"]


def shout_run(api) -> str:
    return api.runs(filters={"function_path": {"eq": shout.__module__ + ".shout"}})[0]["id"]


def test_logs__pages_forward_with_cursor_tokens(api):
    run(talkative(250))
    rid = shout_run(api)
    first = logs(api, rid)
    assert set(first) == LOG_KEYS
    assert first["lines"] == [f"line {i} {'even' if i % 2 == 0 else 'odd'}" for i in range(100)]
    assert first["line_ids"] == sorted(first["line_ids"]) and len(set(first["line_ids"])) == 100
    assert first["can_continue_forward"] is True
    assert first["can_continue_backward"] is False  # the first pull: nothing before it
    assert first["log_info_message"] is None
    lines, line_ids = list(first["lines"]), list(first["line_ids"])
    token, pages = first["forward_cursor_token"], 1
    while token:
        page = logs(api, rid, forward_cursor_token=token)
        lines += page["lines"]
        line_ids += page["line_ids"]
        pages += 1
        token = page["forward_cursor_token"] if page["can_continue_forward"] else None
        assert page["can_continue_backward"] is True
    assert len(lines) == 250 and lines[-1] == "line 249 odd"
    assert line_ids == sorted(line_ids) and len(set(line_ids)) == 250
    assert pages in (3, 4)  # the last full page may be followed by an empty one


def test_logs__reverse_reads_the_end_first(api):
    run(talkative(250))
    rid = shout_run(api)
    last = logs(api, rid, reverse="true", max_lines=100)
    assert last["lines"] == [f"line {i} {'even' if i % 2 == 0 else 'odd'}" for i in range(150, 250)]
    assert last["can_continue_backward"] is True
    assert last["can_continue_forward"] is False  # the run is over
    token = last["reverse_cursor_token"]
    before = logs(api, rid, reverse="true", max_lines=100, reverse_cursor_token=token)
    assert before["lines"][0] == "line 50 even" and before["lines"][-1] == "line 149 odd"
    token = before["reverse_cursor_token"]
    oldest = logs(api, rid, reverse="true", max_lines=100, reverse_cursor_token=token)
    assert len(oldest["lines"]) == 50 and oldest["lines"][0] == "line 0 even"
    assert oldest["can_continue_backward"] is False
    # From the oldest page, forward goes back to where it was.
    fwd = logs(api, rid, max_lines=10, forward_cursor_token=oldest["forward_cursor_token"])
    assert fwd["lines"][0] == "line 50 even"


def test_logs__filter_strings_keep_lines_holding_each(api):
    run(talkative(40))
    rid = shout_run(api)
    odd = logs(api, rid, filter_string="odd")
    assert len(odd["lines"]) == 20 and all(line.endswith("odd") for line in odd["lines"])
    path = f"/api/v1/runs/{rid}/logs?filter_strings=line+3&filter_strings=odd"
    both = api.ok(path)["content"]
    assert both["lines"] == ["line 3 odd"] + [f"line {i} odd" for i in range(31, 40, 2)]
    none = logs(api, rid, filter_string="nothing like this")
    assert none["lines"] == [] and none["log_info_message"] == "No matching log lines."
    # A cursor goes on only with the filters it was made with.
    first = logs(api, rid, filter_string="odd", max_lines=5)
    err = api.error(
        f"/api/v1/runs/{rid}/logs",
        {"filter_string": "even", "forward_cursor_token": first["forward_cursor_token"]},
    )
    assert "different set of filters" in err
    err = api.error(f"/api/v1/runs/{rid}/logs", {"forward_cursor_token": "not a token"})
    assert err.startswith("invalid value for 'forward_cursor_token'")
    other = api.runs(filters={"parent_id": {"eq": None}})[0]["id"]
    params = {"filter_string": "odd", "forward_cursor_token": first["forward_cursor_token"]}
    err = api.error(f"/api/v1/runs/{other}/logs", params)
    assert err.startswith(f"Tried to continue a log search of {other}")
    assert "max_lines" in api.error(f"/api/v1/runs/{rid}/logs", {"max_lines": 0})


def test_logs__states_without_lines_say_why(api):
    store = Store(api.home)
    try:
        # The store exists: the server made it. A pipeline run not started yet.
        root = store.make_run(name="waiting", state="CREATED")
        store.make_pipeline(root, status="SCHEDULED")
        body = logs(api, root)
        assert body["log_info_message"] == "Resolution has not started yet."
        assert body["lines"] == [] and body["can_continue_forward"] is True
        # A run not started in a running pipeline.
        root2 = store.make_run(name="p", state="SCHEDULED")
        store.make_pipeline(root2, status="RUNNING")
        child = store.make_run(name="c", root_id=root2, parent_id=root2, state="CREATED")
        assert logs(api, child)["log_info_message"] == "The run has not yet started executing."
        # A running run: the page ends, but more may come.
        store.make_log(root2, "hello")
        page = logs(api, root2)
        assert page["lines"] == ["hello"] and page["can_continue_forward"] is True
        nxt = logs(api, root2, forward_cursor_token=page["forward_cursor_token"])
        assert nxt["lines"] == [] and nxt["can_continue_forward"] is True
        store.make_log(root2, "world")
        token = nxt["forward_cursor_token"]
        assert logs(api, root2, forward_cursor_token=token)["lines"] == ["world"]
        # A finished run that printed nothing.
        done = store.make_run(name="quiet")
        store.make_pipeline(done, status="COMPLETE")
        quiet = logs(api, done)
        assert quiet["lines"] == [] and quiet["can_continue_forward"] is False
        assert quiet["log_info_message"] == "No log lines: the run printed nothing."
        # A run that reused a cached result shows its original's lines.
        copy = store.make_run(name="copy", original_run_id=root2)
        store.make_pipeline(copy, status="COMPLETE")
        reused = logs(api, copy)
        assert reused["lines"] == ["hello", "world"]
        assert reused["log_info_message"] == f"Run logs sourced from original run {root2}."
    finally:
        store.close()
    missing = new_id()
    assert api.error(f"/api/v1/runs/{missing}/logs", status=404) == f"No runs with id '{missing}'"


# ------------------------------------------------------------------ notes


def post_note(api, text, run_id, root_id):
    note = {"run_id": run_id, "root_id": root_id}
    if text is not None:
        note["note"] = text
    return api.send("POST", "/api/v1/notes", {"note": note})


def test_notes__add_list_delete(api):
    run(add_add_add(1.0, 2.0))
    run(fan(2))
    aaa = api.runs(filters={"parent_id": {"eq": None}}, search="add_add_add")[0]
    child = api.runs(filters={"parent_id": {"eq": aaa["id"]}})[0]
    fan_root = api.runs(filters={"parent_id": {"eq": None}}, search=".fan")[0]
    status, body = post_note(api, "first", child["id"], aaa["id"])
    assert status == 200 and set(body) == {"content"}
    first = body["content"]
    assert set(first) == NOTE_KEYS
    assert (first["note"], first["run_id"], first["root_id"]) == ("first", child["id"], aaa["id"])
    assert first["user"] is None and first["user_id"] is None
    status, second = post_note(api, "second ✓", aaa["id"], aaa["id"])
    assert status == 200
    assert post_note(api, "on fan", fan_root["id"], fan_root["id"])[0] == 200
    of_aaa = {"function_path": aaa["function_path"]}
    listed = api.ok("/api/v1/notes", of_aaa)["content"]
    assert [n["note"] for n in listed] == ["first", "second ✓"]  # oldest first
    assert listed[0] == first
    desc = api.ok("/api/v1/notes", {**of_aaa, "order": "desc"})["content"]
    assert [n["note"] for n in desc] == ["second ✓", "first"]
    by_run = api.ok("/api/v1/notes", {"filters": {"run_id": {"eq": child["id"]}}})["content"]
    assert [n["id"] for n in by_run] == [first["id"]]
    of_child = {"filters": {"run_id": {"eq": child["id"]}}}
    both = api.ok("/api/v1/notes", {**of_child, "function_path": fan_root["function_path"]})
    assert both["content"] == []
    assert len(api.ok("/api/v1/notes")["content"]) == 3
    status, body = api.send("DELETE", f"/api/v1/notes/{first['id']}")
    assert (status, body) == (200, {})
    assert [n["note"] for n in api.ok("/api/v1/notes", of_aaa)["content"]] == ["second ✓"]
    status, body = api.send("DELETE", f"/api/v1/notes/{first['id']}")
    assert (status, body) == (404, {"error": f"No such note: {first['id']}"})


def test_notes__bad_posts(api):
    run(add(1.0, 2.0))
    r = api.runs()[0]
    assert api.send("POST", "/api/v1/notes", {"text": "x"})[0] == 400
    status, body = post_note(api, None, r["id"], r["id"])
    assert status == 400 and body["error"].startswith("Note failed to create: 'note'")
    status, body = post_note(api, "x", "short", r["id"])
    assert status == 400 and "'run_id' must be a run id" in body["error"]
    missing = new_id()
    status, body = post_note(api, "x", missing, missing)
    assert (status, body) == (404, {"error": f"No runs with id '{missing}'"})
    status, body = post_note(api, "x", r["id"], missing)
    assert status == 400 and "is not the pipeline run of run" in body["error"]
    status, hdrs, raw = api.srv.request("POST", "/api/v1/notes", body=b"{nope")
    assert status == 400 and b"not valid JSON" in raw
    err = api.error("/api/v1/notes", {"filters": {"colour": {"eq": 1}}})
    assert err.startswith("invalid filters")


# ------------------------------------------------------------------ metrics


def point(name, value, t, type_=0, **labels):
    return {"name": name, "value": value, "metric_type": type_, "labels": labels, "metric_time": t}


def test_metrics__post_names_and_series(api):
    t0 = 1_700_000_000
    points = [
        point("runs", 1, t0 + 10, function_path="a"),
        point("runs", 1, t0 + 20, function_path="a"),
        point("runs", 1, t0 + 3700, function_path="b"),
        point("latency", 2.0, t0 + 10, 1, function_path="a"),
        point("latency", 4.0, t0 + 30, 1, function_path="a"),
    ]
    assert api.send("POST", "/api/v1/metrics", {"metric_points": points}) == (200, {})
    assert api.ok("/api/v1/metrics") == {"content": ["latency", "runs"]}
    assert api.ok("/api/v1/metrics", {"labels": {"function_path": "b"}}) == {"content": ["runs"]}
    two_hours = {"from_time": t0, "to_time": t0 + 7200}

    def series(name="runs", **params):
        return api.ok(f"/api/v1/metrics/{name}", {**two_hours, **params})["content"]

    whole = series()
    assert whole == {
        "columns": [],
        "metric_name": "runs",
        "metric_type": "COUNT",
        "series": [[3.0, []]],
    }
    gauge = series("latency")
    assert gauge["metric_type"] == "GAUGE" and gauge["series"] == [[3.0, []]]
    grouped = series(group_by="function_path")
    assert grouped["columns"] == ["function_path"]
    assert grouped["series"] == [[2.0, ["a"]], [1.0, ["b"]]]
    hourly = series(rollup="3600")
    assert hourly["columns"] == ["timestamp"]
    assert hourly["series"] == [[2.0, [str(t0)]], [1.0, [str(t0 + 3600)]]]
    both = series(rollup="3600", group_by="function_path")
    assert both["columns"] == ["timestamp", "function_path"]
    auto = series(rollup="auto")
    assert auto["columns"] == ["timestamp"] and sum(v for v, _ in auto["series"]) == 3.0
    # 7200 s in at most 300 buckets: 24 s each, from from_time; 10 and 20 share the first.
    assert auto["series"] == [[2.0, [str(t0)]], [1.0, [str(t0 + 3696)]]]
    assert series(labels={"function_path": "a"})["series"] == [[2.0, []]]
    empty = series(from_time=t0 + 9000, to_time=t0 + 9999)
    assert empty["series"] == [] and empty["metric_type"] is None


def test_metrics__bad_inputs(api):
    assert api.error("/api/v1/metrics/nothing", status=404) == (
        "No metric named 'nothing' was found; GET /api/v1/metrics lists the names"
    )
    api.send("POST", "/api/v1/metrics", {"metric_points": [point("m", 1, 1_700_000_000)]})
    assert api.error("/api/v1/metrics", {"labels": "{x"}).startswith("Unable to deserialize labels")
    for params, message in [
        ({"labels": "[1]"}, "labels must be a JSON object"),
        ({"rollup": "hourly"}, "Incorrect value for rollup"),
        ({"group_by": "colour"}, "Unrecognized group_by 'colour'"),
        ({"group_by": "run_id,root_id"}, "Unrecognized group_by 'run_id,root_id'"),
    ]:
        assert api.error("/api/v1/metrics/m", params).startswith(message), params
    assert "from_time" in api.error("/api/v1/metrics/m", {"from_time": "monday"})
    assert "after to_time" in api.error("/api/v1/metrics/m", {"from_time": 10, "to_time": 5})
    for bad, why in [
        ({"metric_points": [{"name": "m"}]}, "'value' must be a number"),
        ({"metric_points": [dict(point("m", 1, 1), metric_type=2)]}, "'metric_type' must be 0"),
        ({"metric_points": [dict(point("m", 1, 1), labels=[1])]}, "'labels' must be an object"),
        ({"metric_points": [point("", 1, 1)]}, "'name' must be a non-empty string"),
        ({"metric_points": 5}, "Malformed payload"),
    ]:
        status, body = api.send("POST", "/api/v1/metrics", bad)
        assert status == 400 and why in body["error"], (bad, body)
    assert api.send("POST", "/api/v1/metrics", {"metric_points": []}) == (200, {})


# ------------------------------------------------------------------ users and organizations


def test_users_and_organizations(api):
    assert api.ok("/api/v1/users") == {"content": []}
    assert api.ok("/api/v1/organizations") == {"content": []}
    assert api.ok("/api/v1/organizations_users") == {"content": []}
    assert api.error("/api/v1/organizations_users", {"limit": 0}).startswith("limit must be")
    # Users with their fields: test_server_auth.py, where `sematic users create` makes them.


def test_unknown_read_paths_stay_json_404s(api):
    status, body = api.get("/api/v1/runz")
    assert status == 404 and "no endpoint" in body["error"]
    status, hdrs, _ = api.srv.request("PUT", "/api/v1/runs")
    assert status == 405 and "GET" in hdrs["allow"]


def test_runs__listing_under_a_writer_stays_consistent(api):
    """Counts are shared between requests (one per change of the store): under a LocalRunner
    writing, every answer is whole, and a count is never below what was committed before."""
    run(fan(20))
    floor = len(api.runs())
    errors = []

    def client(n):
        seen = []
        for _ in range(n):
            status, body = api.get("/api/v1/runs", {"limit": 20})
            if status != 200 or len(body["content"]) != 20:
                errors.append((status, body))
            seen.append(body["after_cursor_count"])
        return seen

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(client, 40) for _ in range(4)]
        for _ in range(3):
            run(fan(30))
        counts = [c for f in futures for c in f.result()]
    assert errors == []
    assert min(counts) >= floor
    final = api.ok("/api/v1/runs", {"limit": 20})["after_cursor_count"]
    assert final == len(api.runs()) > floor
    assert max(counts) <= final
