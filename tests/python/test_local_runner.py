"""LocalRunner over the embedded store: API.md section 9 items 34-42, logs, reruns, caching."""
import dataclasses
import json
import os
import signal
import sqlite3
from typing import List

import pytest

import sematic
from sematic import api_client
from sematic.graph import RerunMode
from sematic.runners.local_runner import LocalRunner
from sematic.utils.exceptions import CancellationError, PipelineRunError


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMATIC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SEMATIC_PROGRESS", "0")
    return tmp_path / "home"


EXECUTED = []


@sematic.func
def add(a: float, b: float) -> float:
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
def add_add_add(a: float, b: float) -> float:
    aa = add(a, b)
    aaa = add(aa, b)
    return add(aaa, b)


@sematic.func
def fail(a: float) -> float:
    raise ValueError("FAIL!")


@sematic.func
def pipeline_fail(a: float) -> float:
    return add(fail(a), a)


def graph(root_id):
    return api_client.get_graph(root_id, root=True)


def test_local_runner__add_records_one_run_three_artifacts_three_edges():
    future = add(1, 2)
    runner = LocalRunner()
    assert runner.run(future) == 3
    runs, artifacts, edges = graph(future.id)
    assert len(runs) == 1 and runs[0].id == future.id and runs[0].future_state == "RESOLVED"
    assert len(artifacts) == 3
    assert sorted(api_client.get_artifact_value(a) for a in artifacts) == [1.0, 2.0, 3.0]
    assert len(edges) == 3
    inputs = [e for e in edges if e.destination_run_id == future.id]
    assert sorted(e.destination_name for e in inputs) == ["a", "b"]
    assert all(e.source_run_id is None for e in inputs)
    (output,) = [e for e in edges if e.source_run_id == future.id]
    assert output.destination_run_id is None and output.artifact_id is not None
    assert api_client.get_run_output(future.id) == 3


def test_local_runner__nested_pipelines_record_sematics_counts():
    future = add_add_add(1, 2)
    assert LocalRunner().run(future) == 7
    runs, artifacts, edges = graph(future.id)
    assert (len(runs), len(artifacts), len(edges)) == (4, 5, 10)

    future = pipeline(3, 5)
    result = LocalRunner().run(future)
    assert result == 24 and isinstance(result, float)
    runs, artifacts, edges = graph(future.id)
    assert (len(runs), len(artifacts), len(edges)) == (6, 5, 16)
    assert api_client.get_pipeline_run(future.id).status == "COMPLETE"
    assert all(r.root_id == future.id for r in runs)
    by_id = {r.id: r for r in runs}
    children = [r for r in runs if r.parent_id == future.id]
    assert sorted(r.name for r in children) == ["add", "add", "add3"]
    assert by_id[future.id].nested_future_id in by_id


def test_local_runner__pipeline_run_starts_scheduled_local_then_running():
    seen = []

    class Watching(LocalRunner):
        def _transition_hook(self):
            def hook(future, before, after):
                if future.id == self.root_id and not seen:
                    self._recorder.flush()
                    seen.append(api_client.get_pipeline_run(self.root_id))

            return hook

    future = add(1, 2)
    Watching().run(future)
    assert seen[0].kind == "LOCAL" and seen[0].status == "RUNNING"
    assert api_client.get_pipeline_run(future.id).status == "COMPLETE"


def test_local_runner__store_state_at_each_transition_matches_sematic():
    """Item 37: SCHEDULED runs have started_at; RAN have ended_at and output edges without
    artifact; RESOLVED have resolved_at and an output artifact."""
    checked = []

    class Watching(LocalRunner):
        def _transition_hook(self):
            names = _core_state_names()

            def hook(future, before, after):
                self._recorder.flush()
                run = api_client.get_run(future.id)
                state = names[after]
                assert run.future_state == state
                out = [
                    e
                    for e in api_client.get_graph(future.id)[2]
                    if e.source_run_id == future.id
                ]
                if state == "SCHEDULED":
                    assert run.started_at is not None
                elif state == "RAN":
                    assert run.ended_at is not None
                    assert out and all(e.artifact_id is None for e in out)
                elif state == "RESOLVED":
                    assert run.resolved_at is not None
                    assert out and all(e.artifact_id is not None for e in out)
                checked.append(state)

            return hook

    LocalRunner.__init__  # noqa: B018 (the class is used below)
    assert Watching().run(add_add_add(1, 2)) == 7
    assert checked.count("RESOLVED") == 4 and "RAN" in checked


def _core_state_names():
    from sematic import _core

    return _core.state_names()


def test_local_runner__failure_records_exceptions_and_nested_failed_parents():
    future = pipeline_fail(1)
    with pytest.raises(PipelineRunError):
        LocalRunner().run(future)
    runs, _, _ = graph(future.id)
    by_name = {r.name: r for r in runs}
    assert by_name["fail"].future_state == "FAILED"
    assert "ValueError: FAIL!" in by_name["fail"].exception_metadata.repr
    assert by_name["fail"].failed_at is not None
    root = by_name["pipeline_fail"]
    assert root.future_state == "NESTED_FAILED"
    meta = root.exception_metadata
    assert (meta.repr, meta.name, meta.module, meta.ancestors) == (
        "Failed because the child run failed",
        "Exception",
        "builtins",
        [],
    )
    assert api_client.get_pipeline_run(future.id).status == "FAILED"
    assert all(
        r.future_state in ("FAILED", "NESTED_FAILED", "CANCELED", "RESOLVED") for r in runs
    )


@sematic.func
def interrupted(a: float) -> float:
    os.kill(os.getpid(), signal.SIGINT)
    return a


@sematic.func
def pipeline_interrupted(a: float) -> float:
    return add(interrupted(a), a)


def test_local_runner__sigint_cancels_every_run_and_the_pipeline_run():
    future = pipeline_interrupted(1)
    with pytest.raises(CancellationError, match="signal 2"):
        LocalRunner().run(future)
    runs, _, _ = graph(future.id)
    assert api_client.get_run(future.id).future_state == "CANCELED"
    assert all(r.future_state in ("CANCELED", "RESOLVED", "FAILED") for r in runs)
    assert api_client.get_pipeline_run(future.id).status == "CANCELED"
    # A cancellation is no failure: Sematic's LocalRunner stamps no failure time on it.
    assert all(r.failed_at is None for r in runs if r.future_state == "CANCELED")


@sematic.func
def pipeline_fail_beside(a: float) -> float:
    return add(fail(a), add(a, a))


def test_local_runner__runs_cancelled_by_a_failure_say_why_and_when():
    # What Sematic 0.41's LocalRunner records (_move_runs_to_terminal_state): the runs left
    # unfinished by the failure are CANCELED with a failure time and a reason.
    future = pipeline_fail_beside(1)
    with pytest.raises(PipelineRunError):
        LocalRunner().run(future)
    runs, _, _ = graph(future.id)
    states = sorted(r.future_state for r in runs)
    assert states == ["CANCELED", "CANCELED", "FAILED", "NESTED_FAILED"]
    for cancelled in (r for r in runs if r.future_state == "CANCELED"):
        assert cancelled.name == "add" and cancelled.failed_at is not None
        meta = cancelled.exception_metadata
        assert (meta.repr, meta.name, meta.module, meta.ancestors) == (
            "Marked as failed because the rest of the graph failed.",
            "Exception",
            "builtins",
            [],
        )


def test_local_runner__rerun_from_the_final_add_executes_only_that_add():
    future = pipeline(3, 5)
    assert LocalRunner().run(future) == 24
    runs, _, _ = graph(future.id)
    final = next(r for r in runs if r.id == api_client.get_run(future.id).nested_future_id)
    EXECUTED.clear()
    again = pipeline(3, 5)
    assert LocalRunner(rerun_from=final.id).run(again) == 24
    assert EXECUTED == [("add", 8.0, 16.0)]
    new_runs, _, _ = graph(again.id)
    # Reused runs resolve from the old outputs without running their bodies, so add3's
    # children are not recreated (Sematic clones them: 6 runs; here 4, see
    # docs/internals/record.md).
    assert sorted(r.name for r in new_runs) == ["add", "add", "add3", "pipeline"]
    originals = {r.original_run_id for r in new_runs} - {None}
    assert len(originals) == 2 and originals <= {r.id for r in runs}


def test_local_runner__continue_reuses_every_resolved_run():
    future = pipeline(3, 5)
    LocalRunner().run(future)
    EXECUTED.clear()
    assert LocalRunner(rerun_from=future.id, rerun_mode=RerunMode.CONTINUE).run(pipeline(3, 5)) == 24
    assert EXECUTED == []


def test_local_runner__continue_needs_a_root_run_and_an_existing_one():
    future = pipeline(3, 5)
    LocalRunner().run(future)
    child = next(r for r in graph(future.id)[0] if r.id != future.id)
    with pytest.raises(ValueError, match="Cannot use RerunMode.CONTINUE with a non-root run."):
        LocalRunner(rerun_from=child.id, rerun_mode=RerunMode.CONTINUE).run(pipeline(3, 5))
    with pytest.raises(ValueError, match="Cannot restart from 0123.*: run cannot be found."):
        LocalRunner(rerun_from="0123" * 8).run(pipeline(3, 5))


@sematic.func(cache=True)
def cached_add(a: float, b: float) -> float:
    EXECUTED.append(("cached_add", a, b))
    return a + b


def test_local_runner__cache_hits_in_the_same_namespace_and_misses_in_another():
    first = cached_add(1, 2)
    assert LocalRunner(cache_namespace="ns").run(first) == 3
    EXECUTED.clear()
    second = cached_add(1, 2)
    assert LocalRunner(cache_namespace="ns").run(second) == 3
    assert EXECUTED == []
    r1, r2 = api_client.get_run(first.id), api_client.get_run(second.id)
    assert r1.cache_key == r2.cache_key and r1.cache_key.endswith("_ns")
    assert len(r1.cache_key.split("_")[0]) == 40
    assert r2.original_run_id == first.id
    out1 = [e.artifact_id for e in graph(first.id)[2] if e.source_run_id == first.id]
    out2 = [e.artifact_id for e in graph(second.id)[2] if e.source_run_id == second.id]
    assert out1 == out2

    third = cached_add(1, 2)
    assert LocalRunner(cache_namespace=lambda root: "other").run(third) == 3
    assert EXECUTED == [("cached_add", 1.0, 2.0)]
    assert api_client.get_run(third.id).cache_key.endswith("_other")
    assert api_client.get_run(third.id).cache_key != r1.cache_key


def test_local_runner__long_namespaces_are_truncated_to_50_characters():
    future = cached_add(1, 2)
    LocalRunner(cache_namespace="x" * 80).run(future)
    assert api_client.get_run(future.id).cache_key.endswith("_" + "x" * 50)


@sematic.func
def chatty(a: float) -> float:
    import logging

    print("hello from chatty")
    print("second line", end="")
    import sys

    print("to stderr", file=sys.stderr)
    logging.getLogger("chatty").warning("careful")
    return a


def test_local_runner__captures_what_each_run_prints_and_logs(home):
    future = chatty(1)
    LocalRunner().run(future)
    from sematic import _core

    store = _core.Store(str(home))
    lines = [(stream, text) for _, stream, text in store.logs(future.id)]
    store.close()
    assert (1, "hello from chatty") in lines
    assert (1, "second line") in lines
    assert (2, "to stderr") in lines
    assert (3, "WARNING chatty: careful") in lines


def test_local_runner__runs_record_function_path_source_and_docstring(home):
    future = add(1, 2)
    LocalRunner().run(future)
    run = api_client.get_run(future.id)
    assert run.function_path == f"{__name__}.add"
    assert run.name == "add"
    db = sqlite3.connect(str(home / "sematic.db"))
    (source,) = db.execute(
        "SELECT s.text FROM runs r JOIN sources s ON s.id = r.source_id WHERE r.id = ?",
        (future.id,),
    ).fetchone()
    db.close()
    assert "def add(a: float, b: float) -> float:" in source


def test_local_runner__future_set_name_and_tags_are_recorded():
    future = add(1, 2).set(name="my add", tags=["x", "y"])
    LocalRunner().run(future)
    run = api_client.get_run(future.id)
    assert run.name == "my add" and run.tags == ["x", "y"]


def test_local_runner__get_runs_filters_and_orders():
    a, b = add(1, 2), add(3, 4)
    LocalRunner().run(a)
    LocalRunner().run(b)
    assert [r.id for r in api_client.get_runs(function_path=f"{__name__}.add")] == [b.id, a.id]
    assert [r.id for r in api_client.get_runs(order="asc", limit=1)] == [a.id]
    assert api_client.get_runs(future_state="FAILED") == []
    with pytest.raises(api_client.BadRequestError, match="unsupported filter 'colour'"):
        api_client.get_runs(colour="red")


def test_local_runner__unknown_ids_are_clear_errors():
    with pytest.raises(api_client.ResourceNotFoundError):
        api_client.get_run("0" * 32)
    future = pipeline_fail(1)
    with pytest.raises(PipelineRunError):
        LocalRunner().run(future)
    with pytest.raises(RuntimeError, match="Can't get output of unresolved run."):
        api_client.get_run_output(future.id)


def test_local_runner__block_on_run_returns_for_resolved_and_raises_for_failed():
    ok = add(1, 2)
    LocalRunner().run(ok)
    api_client.block_on_run(ok.id, polling_interval_seconds=0.01)
    bad = pipeline_fail(1)
    with pytest.raises(PipelineRunError):
        LocalRunner().run(bad)
    with pytest.raises(RuntimeError, match="Run terminated in state: NESTED_FAILED"):
        api_client.block_on_run(bad.id, polling_interval_seconds=0.01)


def test_local_runner__a_runner_runs_one_pipeline():
    runner = LocalRunner()
    runner.run(add(1, 2))
    with pytest.raises(RuntimeError, match="create a new LocalRunner"):
        runner.run(add(1, 2))


def test_local_runner__bad_settings_are_clear_errors(monkeypatch):
    monkeypatch.setenv("SEMATIC_SYNC", "sometimes")
    with pytest.raises(ValueError, match="invalid SEMATIC_SYNC 'sometimes'"):
        LocalRunner().run(add(1, 2))


def test_local_runner__store_in_a_file_path_is_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("SEMATIC_HOME", str(blocker / "home"))
    with pytest.raises(sematic._core.SematicError, match=str(blocker)):
        LocalRunner().run(add(1, 2))


def test_local_runner__graph_json_is_sematic_shaped():
    future = add(1, 2)
    LocalRunner().run(future)
    from sematic import _core

    store = _core.Store(os.environ["SEMATIC_HOME"])
    g = json.loads(store.graph(future.id))
    store.close()
    run = g["runs"][0]
    for key in ("id", "future_state", "name", "function_path", "root_id", "created_at"):
        assert key in run


@pytest.mark.parametrize("value", ["plain", 'with "quotes" and \\ backslash', "it's # not a comment", ""])
def test_local_runner__settings_written_by_the_cli_read_back_the_same_in_python(home, value):
    import subprocess
    import sys
    from pathlib import Path

    from sematic import _settings

    cli = os.environ.get("SEMATIC_CLI") or str(Path(sys.executable).parent / "sematic")
    result = subprocess.run([cli, "settings", "set", "SEMATIC_TEST_VALUE", value],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert _settings.read_file()["SEMATIC_TEST_VALUE"] == value


@dataclasses.dataclass
class Point:
    x: int
    tags: List[str]


@sematic.func
def make_point(x: int) -> Point:
    return Point(x=x, tags=["a", "b"])


def test_local_runner__sematic_show_renders_dataclass_and_list_summaries():
    import subprocess
    import sys
    from pathlib import Path

    future = make_point(3)
    LocalRunner().run(future)
    cli = os.environ.get("SEMATIC_CLI") or str(Path(sys.executable).parent / "sematic")
    result = subprocess.run([cli, "show", future.id], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert 'Point(tags=["a", "b"] (2 items), x=3)' in result.stdout
