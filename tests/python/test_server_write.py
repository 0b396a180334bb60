"""The endpoints Sematic's own client writes and reads through, on the real server.

PUT /api/v1/graph, GET /api/v1/runs/:id and its graph, the resolutions
(pipeline runs) and their cancel, the storage objects, the events that
runners post, and Socket.IO over long-polling, driven here with hand-made
requests in the shapes Sematic 0.41's client sends (from a recorded trace),
so every status and body, the 4xx ones included, is asserted exactly.
test_real_sematic_client.py runs the real client itself against the server.
"""
from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import uuid

import pytest

from server_fixture import server, start_server
from store_fixture import cli_env, cli_path

__all__ = ["server"]  # the fixture, imported for pytest

JSON = "application/json"
T0 = "2026-11-23T00:20:47.747800+00:00"


def new_id() -> str:
    return uuid.uuid4().hex


def call(srv, method, path, body=None, raw=None, headers=None):
    """(status, decoded JSON body) of one request; body is JSON-encoded, raw sent as is."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    hdrs.update(headers or {})
    status, resp_headers, payload = srv.request(method, path, body=data, headers=hdrs)
    if resp_headers.get("content-type") == JSON:
        return status, json.loads(payload)
    return status, payload


def run(run_id, root_id, parent_id=None, state="CREATED", name="f", path="m.f", **extra):
    """A run as Sematic 0.41's client sends it (Run.to_json_encodable())."""
    r = {
        "id": run_id, "original_run_id": None, "future_state": state, "name": name,
        "function_path": path, "parent_id": parent_id, "root_id": root_id,
        "description": None, "tags": [], "source_code": f"def {name}():\n    pass\n",
        "nested_future_id": None, "exception_metadata_json": None,
        "external_exception_metadata_json": None, "container_image_uri": None,
        "created_at": T0, "updated_at": T0, "started_at": None, "ended_at": None,
        "resolved_at": None, "failed_at": None, "resource_requirements_json": None,
        "cache_key": None, "user_id": None, "organization_id": None,
    }
    r.update(extra)
    return r


def artifact(art_id, summary=1):
    return {
        "id": art_id, "json_summary": summary,
        "type_serialization": {"registry": {"int": []}, "type": ["builtin", "int", {}]},
        "created_at": T0, "updated_at": T0, "organization_id": None,
    }


def edge(source=None, dest=None, name=None, art=None, edge_id=None, parent=None):
    return {
        "id": edge_id or new_id(), "source_run_id": source, "source_name": None,
        "destination_run_id": dest, "destination_name": name, "artifact_id": art,
        "parent_id": parent, "created_at": T0, "updated_at": T0,
    }


def graph(runs=(), artifacts=(), edges=()):
    return {"graph": {"runs": list(runs), "artifacts": list(artifacts), "edges": list(edges)}}


ART_A = "df56adbd1d6d197be682be18f527e8b4f311f9ae"
ART_B = "941719f737a40821fdc553843134eafaa5aba98a"


def sematic_run_payload(sent):
    """What GET /api/v1/runs/:id answers for a run sent as `sent` (Sematic's payload)."""
    out = {k: v for k, v in sent.items()}
    out["user"] = None
    out["container_image_uri"] = None
    out["organization_id"] = None
    out["user_id"] = None
    return out


def put_pipeline(srv, root, child, status=None):
    """A root with one child, two input artifacts and their edges; and a resolution."""
    g = graph(
        runs=[run(root, root, name="pipeline", path="m.pipeline", tags=["t1"]),
              run(child, root, parent_id=root, name="add", path="m.add")],
        artifacts=[artifact(ART_A, 1), artifact(ART_B, 2)],
        edges=[edge(None, root, "a", ART_A), edge(None, child, "x", ART_B),
               edge(child, None, None, None)],
    )
    assert call(srv, "PUT", "/api/v1/graph", g) == (200, {})
    if status:
        assert call(srv, "PUT", f"/api/v1/resolutions/{root}", resolution(root, status)) == (200, {})
    return g


def resolution(root, status="SCHEDULED", **extra):
    r = {
        "root_id": root, "status": status, "kind": "LOCAL", "git_info_json": None,
        "settings_env_vars": {"SEMATIC_API_ADDRESS": "http://127.0.0.1:1", "SECRET": "s"},
        "container_image_uris": None, "container_image_uri": None, "client_version": "0.41.0",
        "cache_namespace": None, "run_command": None, "build_config": None,
        "resource_requirements_json": None, "user_id": None, "organization_id": None,
    }
    r.update(extra)
    return {"resolution": r}


# ---------------------------------------------------------------- PUT /api/v1/graph


def test_graph__a_clients_graph_reads_back_in_sematics_shape(server):
    root, child = new_id(), new_id()
    g = put_pipeline(server, root, child)
    status, body = call(server, "GET", f"/api/v1/runs/{root}")
    assert status == 200
    assert body == {"content": sematic_run_payload(g["graph"]["runs"][0])}
    assert list(body["content"]) == sorted(body["content"])  # Sematic's (Flask's) key order

    status, body = call(server, "GET", f"/api/v1/runs/{root}/graph?root=1")
    assert status == 200
    assert list(body) == ["artifacts", "edges", "run_id", "runs"]
    assert body["run_id"] == root
    assert sorted(r["id"] for r in body["runs"]) == sorted([root, child])
    assert sorted(a["id"] for a in body["artifacts"]) == sorted([ART_A, ART_B])
    assert body["artifacts"][0] == {
        **artifact(body["artifacts"][0]["id"], body["artifacts"][0]["json_summary"]),
        "updated_at": T0}
    sent_edges = {e["id"]: e for e in g["graph"]["edges"]}
    assert {e["id"]: e for e in body["edges"]} == sent_edges

    # root=1 for a run inside the pipeline is the same pipeline; root=0 is the run's own edges
    _, from_child = call(server, "GET", f"/api/v1/runs/{child}/graph?root=1")
    assert sorted(r["id"] for r in from_child["runs"]) == sorted([root, child])
    status, direct = call(server, "GET", f"/api/v1/runs/{child}/graph?root=0")
    assert status == 200
    assert [r["id"] for r in direct["runs"]] == [child]
    assert sorted(e["destination_name"] or "-" for e in direct["edges"]) == ["-", "x"]
    assert [a["id"] for a in direct["artifacts"]] == [ART_B]
    assert call(server, "GET", f"/api/v1/runs/{child}/graph")[1] == direct  # root defaults to 0


def test_graph__runs_are_upserted_without_a_transition_check_as_sematic_does(server):
    root = new_id()
    assert call(server, "PUT", "/api/v1/graph", graph([run(root, root, state="RESOLVED")])) == (
        200, {})
    # A LocalRunner cleaning up re-sends runs in an older state; Sematic's save_graph merges.
    assert call(server, "PUT", "/api/v1/graph", graph([run(root, root, state="SCHEDULED")])) == (
        200, {})
    assert call(server, "GET", f"/api/v1/runs/{root}")[1]["content"]["future_state"] == "SCHEDULED"


def test_graph__run_fields_round_trip(server):
    root = new_id()
    exc = {"repr": "Traceback ...\nValueError: bad", "name": "ValueError", "module": "builtins",
           "ancestors": ["builtins.Exception", "builtins.BaseException"]}
    sent = run(root, root, state="FAILED", tags=["a", "b c"], description="  Doc.\n    more  ",
               exception_metadata_json=exc, failed_at="2026-11-23T00:20:48+00:00",
               started_at="2026-11-23T00:20:47.800000+00:00", cache_key="k1",
               resource_requirements_json={"cpu": 1}, nested_future_id=new_id(),
               original_run_id=new_id())
    assert call(server, "PUT", "/api/v1/graph", graph([sent])) == (200, {})
    got = call(server, "GET", f"/api/v1/runs/{root}")[1]["content"]
    want = sematic_run_payload(sent)
    want["description"] = "Doc.\nmore"  # Sematic's validator: stripped, one level dedented
    assert got == want


def test_graph__an_artifact_sent_again_must_be_unchanged(server):
    root = new_id()
    g = graph([run(root, root)], [artifact(ART_A, 1)], [edge(None, root, "a", ART_A)])
    assert call(server, "PUT", "/api/v1/graph", g) == (200, {})
    assert call(server, "PUT", "/api/v1/graph", g) == (200, {})  # the same: fine
    g2 = graph([], [artifact(ART_A, 5)], [])
    assert call(server, "PUT", "/api/v1/graph", g2) == (400, {
        "error": f"invalid graph.artifacts[0] (artifact '{ART_A}'): its 'json_summary' differs "
                 "from the stored one; an artifact id names one value, so send it unchanged or "
                 "compute a new id"})


BAD_GRAPHS = [
    (None, b"", "the request body is empty; send a JSON document"),
    (None, b"{", "the request body is not valid JSON"),
    ({"runs": []}, None,
     "invalid graph: the body must be {\"graph\": {\"runs\": [...], \"artifacts\": [...], "
     "\"edges\": [...]}}; 'graph' is missing"),
    ({"graph": []}, None,
     "invalid graph: the body must be {\"graph\": {\"runs\": [...], \"artifacts\": [...], "
     "\"edges\": [...]}}; 'graph' is not an object"),
    ({"graph": {"runs": [], "artifacts": []}}, None,
     "invalid graph: 'graph.edges' is missing; send {\"graph\": {\"runs\": [...], "
     "\"artifacts\": [...], \"edges\": [...]}} (lists may be empty)"),
    ({"graph": {"runs": {}, "artifacts": [], "edges": []}}, None,
     "invalid graph: 'graph.runs' must be a list"),
    (graph([run("nope", "nope")]), None,
     "invalid graph.runs[0]: 'id' must be 32 lower-case hex digits (a run id), got 'nope'"),
    (graph([run("5983617194cb4fc1acd06ba2f44e9018", "5983617194cb4fc1acd06ba2f44e9018",
                state="DONE")]), None,
     "invalid graph.runs[0] (run '5983617194cb4fc1acd06ba2f44e9018'): 'future_state' must be "
     "one of CREATED, SCHEDULED, RAN, RESOLVED, FAILED, NESTED_FAILED, RETRYING, CANCELED, "
     "got 'DONE'"),
    (graph([run("5983617194cb4fc1acd06ba2f44e9018", "5983617194cb4fc1acd06ba2f44e9018",
                created_at="yesterday")]), None,
     "invalid graph.runs[0] (run '5983617194cb4fc1acd06ba2f44e9018'): 'created_at' must be an "
     "ISO-8601 time such as '2026-11-23T00:20:47.747800+00:00', got 'yesterday'"),
    (graph([run("5983617194cb4fc1acd06ba2f44e9018", "5983617194cb4fc1acd06ba2f44e9018",
                tags="t")]), None,
     "invalid graph.runs[0] (run '5983617194cb4fc1acd06ba2f44e9018'): 'tags' must be a list of "
     "strings, got a string"),
    (graph([{k: v for k, v in run("5983617194cb4fc1acd06ba2f44e9018",
                                  "5983617194cb4fc1acd06ba2f44e9018").items()
             if k != "function_path"}]), None,
     "invalid graph.runs[0] (run '5983617194cb4fc1acd06ba2f44e9018'): 'function_path' is "
     "missing; every run needs one"),
    (graph([run("5983617194cb4fc1acd06ba2f44e9018", "5983617194cb4fc1acd06ba2f44e9018",
                parent_id=7)]), None,
     "invalid graph.runs[0] (run '5983617194cb4fc1acd06ba2f44e9018'): 'parent_id' must be a "
     "string or null, got a number"),
    (graph([], [artifact("abc")]), None,
     "invalid graph.artifacts[0]: 'id' must be an artifact id: 40 lower-case hex digits "
     "(Sematic's SHA-1) or 64 (ours, SHA-256), got 'abc'"),
    (graph([], [{"id": ART_A, "type_serialization": {}}]), None,
     f"invalid graph.artifacts[0] (artifact '{ART_A}'): 'json_summary' is missing; every "
     "artifact needs its summary (null is allowed)"),
    (graph([], [{"id": ART_A, "json_summary": 1, "type_serialization": "int"}]), None,
     f"invalid graph.artifacts[0] (artifact '{ART_A}'): 'type_serialization' must be an "
     "object, got a string"),
    (graph([], [artifact("a" * 64)]), None,
     "invalid graph.artifacts[0] (artifact '" + "a" * 64 + "'): no such artifact, and one with "
     "a 64-hex id (SHA-256, made by our own runner) cannot be created through this API, which "
     "carries no payload; Sematic's client sends 40-hex ids"),
    (graph([], [], [edge(edge_id="dcca9708229747ac845dd29371edcf93")]), None,
     "invalid graph.edges[0] (edge 'dcca9708229747ac845dd29371edcf93'): 'source_run_id' and "
     "'destination_run_id' are both null; an edge joins at least one run"),
    (graph([], [], [edge(source="11111111111111111111111111111111",
                         edge_id="dcca9708229747ac845dd29371edcf93")]), None,
     "invalid graph.edges[0] (edge 'dcca9708229747ac845dd29371edcf93'): it joins no run of this "
     "graph or the store (source '11111111111111111111111111111111', destination 'null'); send "
     "the runs with their edges"),
    (graph([], [], [edge(dest="5983617194cb4fc1acd06ba2f44e9018", art="xyz",
                         edge_id="dcca9708229747ac845dd29371edcf93")]), None,
     "invalid graph.edges[0] (edge 'dcca9708229747ac845dd29371edcf93'): 'artifact_id' must be an "
     "artifact id: 40 lower-case hex digits (Sematic's SHA-1) or 64 (ours, SHA-256), got 'xyz'"),
]


@pytest.mark.parametrize("body,raw,message", BAD_GRAPHS, ids=range(len(BAD_GRAPHS)))
def test_graph__bad_input_is_a_400_naming_the_record_and_field(server, body, raw, message):
    status, answer = call(server, "PUT", "/api/v1/graph", body, raw=raw)
    assert status == 400, answer
    assert answer["error"].startswith(message), (answer, message)


def test_graph__a_bad_record_loses_nothing_and_writes_nothing_of_its_batch(server):
    root, child = new_id(), new_id()
    put_pipeline(server, root, child)
    before = call(server, "GET", f"/api/v1/runs/{root}/graph?root=1")[1]
    newcomer = new_id()
    bad = graph([run(root, root, state="RESOLVED"), run(newcomer, newcomer)],
                [artifact("c" * 40)],
                [edge(None, newcomer, "a", "c" * 40), edge(edge_id="dcca9708229747ac845dd29371edcf93")])
    assert call(server, "PUT", "/api/v1/graph", bad)[0] == 400
    assert call(server, "GET", f"/api/v1/runs/{root}/graph?root=1")[1] == before
    assert call(server, "GET", f"/api/v1/runs/{newcomer}")[0] == 404


def test_graph__a_body_over_the_limit_is_413(tmp_path):
    srv = start_server(tmp_path / "home", env={"SEMATIC_SERVER_MAX_BODY_BYTES": "2048"})
    try:
        root = new_id()
        g = graph([run(root, root, source_code="x" * 4096)])
        status, body = call(srv, "PUT", "/api/v1/graph", g)
        assert status == 413
        assert "SEMATIC_SERVER_MAX_BODY_BYTES" in body["error"]
        assert call(srv, "GET", f"/api/v1/runs/{root}")[0] == 404
    finally:
        srv.stop()


# ---------------------------------------------------------------- GET /api/v1/runs/:id


def test_runs__unknown_and_malformed_ids_are_sematics_404(server):
    missing = new_id()
    assert call(server, "GET", f"/api/v1/runs/{missing}") == (
        404, {"error": f"No runs with id '{missing}'"})
    assert call(server, "GET", "/api/v1/runs/nope") == (404, {"error": "No runs with id 'nope'"})
    assert call(server, "GET", f"/api/v1/runs/{missing}/graph?root=1") == (
        404, {"error": f"No runs with id '{missing}'"})
    root = new_id()
    call(server, "PUT", "/api/v1/graph", graph([run(root, root)]))
    assert call(server, "GET", f"/api/v1/runs/{root}/graph?root=maybe") == (
        400, {"error": "query parameter 'root' must be true or false (or 1 or 0), got 'maybe'"})


def test_runs__external_resources_are_empty_lists_in_sematics_shapes(server):
    rid = new_id()
    assert call(server, "GET", f"/api/v1/runs/{rid}/external_resources") == (200, {"content": []})
    assert call(server, "GET", f"/api/v1/resolutions/{rid}/external_resources") == (
        200, {"external_resources": []})


# ---------------------------------------------------------------- resolutions


def test_resolutions__create_read_update_with_settings_redacted(server):
    root, child = new_id(), new_id()
    put_pipeline(server, root, child)
    git = {"remote": "r", "branch": "main", "commit": "abc", "dirty": False}
    assert call(server, "PUT", f"/api/v1/resolutions/{root}",
                resolution(root, git_info_json=git)) == (200, {})
    want = {
        "build_config": None, "cache_namespace": None, "client_version": "0.41.0",
        "container_image_uri": None, "container_image_uris": None,
        "git_info_json": {"branch": "main", "commit": "abc", "dirty": False, "remote": "r"},
        "kind": "LOCAL", "organization_id": None, "resource_requirements_json": None,
        "root_id": root, "run_command": None, "status": "SCHEDULED", "user": None,
        "user_id": None,
    }
    assert call(server, "GET", f"/api/v1/resolutions/{root}") == (200, {"content": want})
    # The client sends back what it read: settings_env_vars (redacted) as null. Only status moves.
    again = resolution(root, "RUNNING", git_info_json=git, settings_env_vars=None)
    assert call(server, "PUT", f"/api/v1/resolutions/{root}", again) == (200, {})
    assert call(server, "GET", f"/api/v1/resolutions/{root}")[1]["content"]["status"] == "RUNNING"
    assert call(server, "PUT", f"/api/v1/resolutions/{root}", again) == (200, {})  # same: fine
    # COMPLETE: Sematic cancels whatever still runs
    done = resolution(root, "COMPLETE", git_info_json=git)
    assert call(server, "PUT", f"/api/v1/resolutions/{root}", done) == (200, {})
    assert call(server, "GET", f"/api/v1/runs/{child}")[1]["content"]["future_state"] == "CANCELED"


def test_resolutions__a_failed_status_cancels_the_runs_still_going(server):
    root, child = new_id(), new_id()
    put_pipeline(server, root, child, status="RUNNING")
    assert call(server, "PUT", f"/api/v1/resolutions/{root}", resolution(root, "FAILED")) == (
        200, {})
    child_run = call(server, "GET", f"/api/v1/runs/{child}")[1]["content"]
    assert child_run["future_state"] == "CANCELED"


def test_resolutions__bad_puts_are_400s_with_sematics_checks(server):
    root, child = new_id(), new_id()
    put_pipeline(server, root, child)
    orphan = new_id()
    cases = [
        (root, {"nope": 1}, "invalid resolution: the body must be {\"resolution\": {...}}; "
                            "'resolution' is missing"),
        (root, resolution(child), f"Id of resolution in the payload ({child}) does not match "
                                  f"the one from the endpoint called ({root})"),
        (orphan, resolution(orphan),
         "Resolutions can only be created when there is an existing run they are resolving, but "
         f"there is no run with id {orphan}; PUT /api/v1/graph with the root run first"),
        (child, resolution(child), f"Resolutions can only be created for root runs, but the run "
                                   f"{child} has parent {root}"),
        (root, resolution(root, "COMPLETE"), f"New resolution {root} can't begin in the COMPLETE "
                                             "state; start it as CREATED, SCHEDULED or RUNNING"),
        (root, resolution(root, kind="KUBERNETES"),
         f"Non-local resolution {root} must have a docker URI; set container_image_uri"),
        (root, resolution(root, "PAUSED"), "invalid resolution (resolution "),
        (root, resolution(root, kind=7), "invalid resolution (resolution "),
    ]
    for rid, body, message in cases:
        status, answer = call(server, "PUT", f"/api/v1/resolutions/{rid}", body)
        assert status == 400, (body, answer)
        assert answer["error"].startswith(message), (answer["error"], message)
    assert call(server, "GET", f"/api/v1/resolutions/{root}")[0] == 404  # nothing was created

    assert call(server, "PUT", f"/api/v1/resolutions/{root}", resolution(root, "RUNNING")) == (
        200, {})
    status, answer = call(server, "PUT", f"/api/v1/resolutions/{root}",
                          resolution(root, "SCHEDULED"))
    assert (status, answer["error"]) == (
        400, "invalid pipeline run status transition: 'RUNNING' -> 'SCHEDULED'; a pipeline run's "
             "status only moves forward (see API.md 2.4)")
    status, answer = call(server, "PUT", f"/api/v1/resolutions/{root}",
                          resolution(root, "RUNNING", client_version="0.42.0"))
    assert (status, answer["error"]) == (
        400, f"Cannot update client_version of resolution {root} after it has been created. "
             "Original value: '0.41.0', new value: '0.42.0' (will not be used); only the status "
             "of a resolution changes")
    assert call(server, "PUT", f"/api/v1/resolutions/{root}", raw=b"[", body=None)[0] == 400
    missing = new_id()
    assert call(server, "GET", f"/api/v1/resolutions/{missing}") == (
        404, {"error": f"No resolutions with id '{missing}'"})
    assert call(server, "GET", "/api/v1/resolutions/xyz") == (
        404, {"error": "No resolutions with id 'xyz'"})


def test_resolutions__cancel_is_idempotent_and_cancels_the_runs(server):
    root, child = new_id(), new_id()
    put_pipeline(server, root, child, status="RUNNING")
    status, body = call(server, "PUT", f"/api/v1/resolutions/{root}/cancel", {})
    assert status == 200
    assert body["content"]["status"] == "CANCELED"
    assert call(server, "GET", f"/api/v1/runs/{child}")[1]["content"]["future_state"] == "CANCELED"
    assert call(server, "GET", f"/api/v1/runs/{root}")[1]["content"]["future_state"] == "CANCELED"
    assert call(server, "PUT", f"/api/v1/resolutions/{root}/cancel", {}) == (200, body)

    done, done_child = new_id(), new_id()
    put_pipeline(server, done, done_child, status="RUNNING")
    call(server, "PUT", f"/api/v1/resolutions/{done}", resolution(done, "COMPLETE"))
    assert call(server, "PUT", f"/api/v1/resolutions/{done}/cancel", {}) == (400, {
        "error": "Resolution cannot be canceled. Current state: COMPLETE; only a pipeline run "
                 "that has not finished can be"})
    missing = new_id()
    assert call(server, "PUT", f"/api/v1/resolutions/{missing}/cancel", {}) == (
        404, {"error": f"No resolutions with id '{missing}'"})


# ---------------------------------------------------------------- storage


def test_storage__upload_protocol_round_trips_bytes(server):
    key = ART_A
    status, body = call(server, "GET",
                        f"/api/v1/storage/artifacts/{key}/location?origin=http://example.test:1")
    assert (status, body) == (200, {
        "request_headers": {"Content-Type": "application/octet-stream"},
        "url": f"http://example.test:1/api/v1/storage/artifacts/{key}/local"})
    status, body = call(server, "GET", f"/api/v1/storage/artifacts/{key}/location")
    assert body["url"] == f"{server.base_url}/api/v1/storage/artifacts/{key}/local"

    payload = bytes(range(256)) * 4096  # 1 MiB, every byte value
    status, _, answer = server.request("PUT", f"/api/v1/storage/artifacts/{key}/local",
                                       body=payload,
                                       headers={"Content-Type": "application/octet-stream"})
    assert (status, answer) == (200, b"{}")
    status, headers, data = server.request("GET", f"/api/v1/storage/artifacts/{key}/local")
    assert (status, headers["content-type"]) == (200, "application/octet-stream")
    assert data == payload
    status, headers, _ = server.request(
        "GET", f"/api/v1/storage/artifacts/{key}/data?origin=http://127.0.0.1:{server.port}")
    assert status == 302
    assert headers["location"] == f"http://127.0.0.1:{server.port}/api/v1/storage/artifacts/{key}/local"
    # replaced, and an empty object is an object
    assert server.request("PUT", f"/api/v1/storage/futures/{key}/local", body=b"")[0] == 200
    assert server.request("GET", f"/api/v1/storage/futures/{key}/local")[::2] == (200, b"")


def test_storage__untrusted_names_and_origins_are_400s(server):
    assert call(server, "GET", "/api/v1/storage/artifacts/nope/local") == (
        404, {"error": "No such namespace or key: artifacts nope"})
    for path in ["/api/v1/storage/artifacts/../local", "/api/v1/storage/..%2f..%2fetc/x/local",
                 "/api/v1/storage/artifacts/a%2Fb/local", "/api/v1/storage/%2e%2e/k/local"]:
        assert server.request("GET", path)[0] == 400, path
        assert server.request("PUT", path, body=b"x")[0] == 400, path
    for ns, key in [("artifacts", ".hidden"), ("artifacts", "a%20b"), ("a%5Cb", "k"),
                    ("artifacts", "x" * 201)]:
        for method, suffix in [("PUT", "local"), ("GET", "local"), ("GET", "location"),
                               ("GET", "data")]:
            status, body = call(server, method, f"/api/v1/storage/{ns}/{key}/{suffix}",
                                raw=b"x" if method == "PUT" else None)
            assert status == 400, (ns, key, suffix, body)
            assert "storage" in body["error"], body
    for origin in ["javascript:alert(1)", "http://a%0d%0aSet-Cookie:x", "ftp://x"]:
        status, body = call(server, "GET", f"/api/v1/storage/artifacts/k/location?origin={origin}")
        assert status == 400, origin
        assert body["error"].startswith("query parameter 'origin' must be the server's URL"), body


# ---------------------------------------------------------------- with SEMATIC_AUTHENTICATE


def test_auth__the_client_records_as_its_user_and_socketio_stays_open(tmp_path):
    srv = start_server(tmp_path / "home", env={"SEMATIC_AUTHENTICATE": "1"})
    try:
        made = subprocess.run([str(cli_path()), "users", "create", "ada@example.com"],
                              env=cli_env(srv.home), capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        key = re.search(r"^API key: (\S+)$", made.stdout, re.M).group(1)
        user_id = re.search(r"\(id ([0-9a-f]{32})\)", made.stdout).group(1)
        root, child = new_id(), new_id()
        g = graph([run(root, root), run(child, root, parent_id=root)])
        assert call(srv, "PUT", "/api/v1/graph", g) == (401, {"error": "Missing API key"})
        auth = {"X-API-KEY": key}
        assert call(srv, "PUT", "/api/v1/graph", g, headers=auth) == (200, {})
        # the upload URL's headers carry the key, so the client's PUT of the bytes passes too
        status, body = call(srv, "GET", f"/api/v1/storage/artifacts/{ART_A}/location",
                            headers=auth)
        assert body["request_headers"] == {"Content-Type": "application/octet-stream",
                                           "X-API-KEY": key}
        # the resolution is the user's, whatever user_id the client sent
        assert call(srv, "PUT", f"/api/v1/resolutions/{root}", resolution(root),
                    headers=auth) == (200, {})
        got = call(srv, "GET", f"/api/v1/resolutions/{root}", headers=auth)[1]["content"]
        assert got["user_id"] == user_id
        assert got["user"]["id"] == user_id
        assert "api_key" not in got["user"] and "email" not in got["user"]
        # Socket.IO needs no key (python-socketio sends none; Sematic's does not ask)
        c = Sio(srv)
        c.connect("/pipeline")
    finally:
        srv.stop()


# ---------------------------------------------------------------- Socket.IO


class Sio:
    """A minimal Engine.IO v4 polling client, speaking as python-socketio does."""

    def __init__(self, srv):
        self.srv = srv
        status, _, body = srv.request("GET", "/socket.io/?EIO=4&transport=polling&t=1")
        assert status == 200, body
        assert body[:1] == b"0", body
        self.open = json.loads(body[1:])
        self.sid = self.open["sid"]

    def url(self):
        return f"/socket.io/?EIO=4&transport=polling&sid={self.sid}"

    def post(self, payload: bytes):
        return self.srv.request("POST", self.url(), body=payload,
                                headers={"Content-Type": "text/plain"})

    def poll(self):
        status, _, body = self.srv.request("GET", self.url())
        assert status == 200, body
        return body

    def wait_polling(self):
        """Returns once a poll of this session waits in the server (a second one is refused)."""
        deadline = time.monotonic() + 10
        while True:
            status, state = call(self.srv, "GET", f"/api/v1/_test/socketio/{self.sid}")
            if status == 200 and state["polling"]:
                return
            assert time.monotonic() < deadline, f"no poll is waiting: {status} {state}"

    def connect(self, nsp="/pipeline"):
        assert self.post(f"40{nsp},{{}}".encode())[::2] == (200, b"ok")
        body = self.poll()
        prefix = f"40{nsp},".encode()
        assert body.startswith(prefix), body
        assert set(json.loads(body[len(prefix):])) == {"sid"}


def test_socketio__handshake_offers_polling_only(server):
    status, headers, body = server.request("GET", "/socket.io/?EIO=4&transport=polling")
    assert status == 200
    assert headers["content-type"] == "text/plain; charset=UTF-8"
    assert body[:1] == b"0"
    opened = json.loads(body[1:])
    assert opened == {"sid": opened["sid"], "upgrades": [], "pingInterval": 25000,
                      "pingTimeout": 20000, "maxPayload": 1000000}


def test_socketio__connect_poll_events_and_close(server):
    c = Sio(server)
    c.connect("/pipeline")
    c.connect("/graph")
    assert c.post(b"40/nowhere,{}")[::2] == (200, b"ok")
    assert c.poll() == b'44/nowhere,{"message":"Invalid namespace"}'
    # Sematic's runners post events; connected sessions of that namespace get them
    assert call(server, "POST", "/api/v1/events/graph/update", {"run_id": "r1"}) == (200, {})
    assert call(server, "POST", "/api/v1/events/job/update", {"run_id": "r2"}) == (200, {})
    assert call(server, "POST", "/api/v1/events/pipeline/update", raw=b"") == (200, {})
    assert c.poll() == b'42/graph,["update",{"run_id":"r1"}]\x1e42/pipeline,["update"]'
    # disconnecting a namespace stops its events
    assert c.post(b"41/graph,")[::2] == (200, b"ok")
    call(server, "POST", "/api/v1/events/graph/update", {"run_id": "r3"})
    call(server, "POST", "/api/v1/events/pipeline/update", {"function_path": "m.f"})
    assert c.poll() == b'42/pipeline,["update",{"function_path":"m.f"}]'

    # a waiting poll answers a close with a noop; the session is then gone
    result = {}
    t = threading.Thread(target=lambda: result.update(body=c.poll()))
    t.start()
    c.wait_polling()
    assert c.post(b"41/pipeline,\x1e1")[::2] == (200, b"ok")
    t.join(timeout=10)
    assert result.get("body") == b"6"
    # one more poll, as python-engineio's reader may send after its close: the close packet,
    # not a 400 (the session is gone: posting to it is an unknown session)
    assert c.poll() == b"1"
    status, body = call(server, "POST", c.url(), raw=b"3")
    assert status == 400
    assert body["error"].startswith(f"unknown Socket.IO session id '{c.sid}'")


def test_socketio__bad_requests_are_400s_naming_the_fix(server):
    bad_gets = [
        ("/socket.io/?EIO=3&transport=polling",
         "unsupported Engine.IO protocol version '3'; this server speaks EIO=4 "
         "(python-socketio 5, socket.io-client 4)"),
        ("/socket.io/?transport=polling",
         "unsupported Engine.IO protocol version ''; this server speaks EIO=4 "
         "(python-socketio 5, socket.io-client 4)"),
        ("/socket.io/?EIO=4&transport=websocket",
         "the websocket transport is not offered (the handshake lists no upgrades); use "
         "transport=polling"),
        ("/socket.io/?EIO=4&transport=carrier-pigeon",
         "unknown Engine.IO transport 'carrier-pigeon'; use transport=polling"),
        ("/socket.io/?EIO=4&transport=polling&sid=nope",
         "unknown Socket.IO session id 'nope': it was closed or timed out; connect again "
         "(GET /socket.io/?EIO=4&transport=polling)"),
    ]
    for path, message in bad_gets:
        assert call(server, "GET", path) == (400, {"error": message}), path
    assert call(server, "GET", "/socket.io/x?EIO=4&transport=polling")[0] == 404
    assert call(server, "POST", "/socket.io/?EIO=4&transport=polling", raw=b"1") == (
        400, {"error": "a Socket.IO POST needs its session: add sid=<the handshake's sid>"})
    c = Sio(server)
    bad_posts = [
        (b"9", "bad Engine.IO payload: unknown packet type '9' at byte 0; expected a digit from "
               "0 to 6, or 'b' for binary"),
        (b"3\x1e", "bad Engine.IO payload: it ends with a separator (0x1e) at byte 1"),
        (b"5", "bad Engine.IO payload: packet type 5 (upgrade) is not for a client to send over "
               "polling; this server offers no upgrades"),
        (b"47", "bad Socket.IO packet: it must start with its type, a digit from 0 to 6"),
        (b"\x1e".join([b"3"] * 65), "bad Engine.IO payload: more than 64 packets"),
    ]
    for payload, message in bad_posts:
        status, body = call(server, "POST", c.url(), raw=payload)
        assert status == 400, payload
        assert body["error"].startswith(message), (body, message)
    status, body = call(server, "POST", c.url(), raw=b"4" + b"x" * 1000001)
    assert status == 413
    assert body["error"].startswith("the payload is 1000002 bytes, more than the 1000000")
    # one poll at a time
    t = threading.Thread(target=c.poll)
    t.start()
    c.wait_polling()
    status, body = call(server, "GET", c.url())
    assert (status, body) == (400, {
        "error": f"a poll is already waiting for Socket.IO session '{c.sid}'; send one GET at a "
                 "time"})
    c.post(b"1")
    t.join(timeout=10)
    assert not t.is_alive()
    # the events endpoint checks its namespace and body
    assert call(server, "POST", "/api/v1/events/a%20b/update", {}) == (400, {
        "error": "invalid namespace 'a b': use letters, digits, '_', '-' and '.' (Sematic's are "
                 "pipeline, graph, job, metrics)"})
    status, body = call(server, "POST", "/api/v1/events/graph/update", raw=b"{oops")
    assert status == 400
    assert body["error"].startswith("the request body is not valid JSON")


def test_socketio__pings_pongs_and_timeouts(tmp_path):
    # Short times, with room for a loaded machine: a pong has 1.5 s to come back.
    srv = start_server(tmp_path / "home", env={
        "SEMATIC_SERVER_SOCKETIO_PING_INTERVAL_MS": "500",
        "SEMATIC_SERVER_SOCKETIO_PING_TIMEOUT_MS": "1500"})
    try:
        c = Sio(srv)
        assert (c.open["pingInterval"], c.open["pingTimeout"]) == (500, 1500)
        started = time.monotonic()
        assert c.poll() == b"2"  # a ping, once the interval is over
        assert time.monotonic() - started >= 0.45
        assert c.post(b"3")[::2] == (200, b"ok")  # pong: the session lives on
        assert c.poll() == b"2"
        # no pong this time: the next poll closes the session
        assert c.poll() == b"1"
        assert call(srv, "GET", c.url())[0] == 400
        # a session nobody touches is closed once interval + timeout (2 s) pass; any request
        # would touch it, so the condition here is the time itself
        idle = Sio(srv)
        time.sleep(2.5)
        assert call(srv, "POST", idle.url(), raw=b"6")[0] == 400
        # and one that is touched lives on
        busy = Sio(srv)
        for _ in range(5):
            time.sleep(0.5)
            assert call(srv, "POST", busy.url(), raw=b"6")[0] == 200
    finally:
        srv.stop()


def test_socketio__a_cancel_reaches_pipeline_sessions_from_the_api_and_the_cli(server):
    root, child = new_id(), new_id()
    put_pipeline(server, root, child, status="RUNNING")
    c = Sio(server)
    c.connect("/pipeline")
    assert call(server, "PUT", f"/api/v1/resolutions/{root}/cancel", {})[0] == 200
    got = c.poll()
    prefix = b'42/pipeline,["cancel",'
    assert got.startswith(prefix), got
    assert json.loads(got[len(prefix):-1]) == {"resolution_id": root,
                                               "function_path": "m.pipeline"}

    # `sematic cancel` marks the store directly (no driver recorded); the session hears it too
    other, other_child = new_id(), new_id()
    put_pipeline(server, other, other_child, status="RUNNING")
    proc = subprocess.run([str(cli_path()), "cancel", "-y", other], env=cli_env(server.home),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = c.poll()
    assert got.startswith(prefix), got
    assert json.loads(got[len(prefix):-1])["resolution_id"] == other


def test_socketio__stopping_the_server_ends_a_waiting_poll(tmp_path):
    srv = start_server(tmp_path / "home")
    c = Sio(srv)
    c.connect()
    result = {}
    t = threading.Thread(target=lambda: result.update(answer=srv.request("GET", c.url())))
    t.start()
    c.wait_polling()
    started = time.monotonic()
    srv.stop()  # asserts a clean exit
    t.join(timeout=10)
    assert not t.is_alive()
    assert time.monotonic() - started < 5
    assert result["answer"][0] == 200  # the poll got its (empty) answer, not a cut connection
