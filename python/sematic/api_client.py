"""Reading what pipelines recorded (Sematic's ``sematic.api_client``), over the embedded store.

Sematic's client talks to its server; ours reads ``$SEMATIC_HOME`` directly
through ``_core.Store`` (python/ext/record.c), so it needs no server. Runs,
artifacts, edges and pipeline runs come back as light records whose
attributes have Sematic's names (``run.future_state``, ``run.root_id``, ...).
"""
from __future__ import annotations

import json
import time
from typing import Any, Dict, List, Optional, Tuple

from sematic import _core, _settings


class APIConnectionError(Exception):
    """The store (or server) cannot be reached."""


class ServerError(Exception):
    """The store failed to answer."""


class BadRequestError(Exception):
    """The request was malformed."""


class ResourceNotFoundError(Exception):
    """No record has that id."""


class InvalidResponseError(Exception):
    """The answer could not be understood."""


class IncompatibleClientError(Exception):
    """Client and server versions are incompatible."""


class _Record:
    """A stored record: its fields as attributes (Sematic's names)."""

    _kind = "record"

    def __init__(self, fields: Dict[str, Any]) -> None:
        self.__dict__.update(fields)

    def to_json_encodable(self) -> Dict[str, Any]:
        return dict(self.__dict__)

    def __eq__(self, other: Any) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __repr__(self) -> str:
        key = self.__dict__.get("id") or self.__dict__.get("root_id")
        return f"{type(self).__name__}(id={key!r})"


class Run(_Record):
    """A run: one execution of one function."""

    @property
    def exception_metadata(self) -> Any:
        meta = self.__dict__.get("exception_metadata")
        if meta is None:
            return None
        from sematic.utils._exception_metadata import ExceptionMetadata

        return ExceptionMetadata(**meta)


class Artifact(_Record):
    """A stored value (its payload is read with get_artifact_value)."""


class Edge(_Record):
    """A data-flow edge between runs."""


class PipelineRun(_Record):
    """One execution of a whole pipeline (Sematic's "resolution")."""


def _store() -> Any:
    try:
        return _core.Store(_settings.home())
    except _core.SematicError as e:
        raise APIConnectionError(f"Unable to open the Sematic store: {e}") from e


def _call(method: str, *args: Any, **kwargs: Any) -> Any:
    store = _store()
    try:
        return getattr(store, method)(*args, **kwargs)
    except _core.SematicError as e:
        if getattr(e, "code_name", "") == "SM_ENOTFOUND":
            raise ResourceNotFoundError(str(e)) from e
        if getattr(e, "code_name", "") == "SM_EINVAL":
            raise BadRequestError(str(e)) from e
        raise
    finally:
        store.close()


def get_artifact_value_by_id(artifact_id: str) -> Any:
    """The value of the artifact with this id, decoded to its Python type."""
    return _call("artifact_value", artifact_id)


def get_artifact_value(artifact: Artifact) -> Any:
    """The value of an Artifact record."""
    return get_artifact_value_by_id(artifact.id)


def get_run(run_id: str) -> Run:
    """The run with this id."""
    return Run(json.loads(_call("get_run", run_id)))


_RUN_FILTERS = {
    "root_id": "root_id",
    "parent_id": "parent_id",
    "function_path": "function_path",
    "name": "name",
    "cache_key": "cache_key",
    "tag": "tag",
}


def get_runs(limit: Optional[int] = None, order: Optional[str] = None, **filters: Any) -> List[Run]:
    """Runs matching equality filters (root_id, parent_id, function_path, name, cache_key,
    future_state, id), newest first unless order="asc"."""
    if order not in (None, "asc", "desc"):
        raise BadRequestError(f"invalid order {order!r}: use 'asc' or 'desc'")
    query: Dict[str, Any] = {"oldest_first": order == "asc"}
    if limit is not None:
        query["limit"] = int(limit)
    run_id = None
    for key, value in filters.items():
        if key == "future_state":
            query["states"] = [getattr(value, "value", value)]
        elif key == "id":
            run_id = value
        elif key in _RUN_FILTERS:
            query[_RUN_FILTERS[key]] = value
        else:
            raise BadRequestError(
                f"unsupported filter {key!r}: use one of id, future_state, "
                + ", ".join(sorted(_RUN_FILTERS))
            )
    runs = [Run(r) for r in json.loads(_call("list_runs", **query))]
    if run_id is not None:
        runs = [r for r in runs if r.id == run_id]
    return runs


def get_graph(run_id: str, root: bool = False) -> Tuple[List[Run], List[Artifact], List[Edge]]:
    """(runs, artifacts, edges) of the run's pipeline run (root=True) or of the run itself
    and its direct edges."""
    if root:
        run = get_run(run_id)
        graph = json.loads(_call("graph", run.root_id))
        return (
            [Run(r) for r in graph["runs"]],
            [Artifact(a) for a in graph["artifacts"]],
            [Edge(e) for e in graph["edges"]],
        )
    run = get_run(run_id)
    edges = [Edge(e) for e in json.loads(_call("edges_of_run", run_id))]
    artifacts = []
    seen = set()
    for e in edges:
        if e.artifact_id and e.artifact_id not in seen:
            seen.add(e.artifact_id)
            artifacts.append(Artifact(json.loads(_call("artifact", e.artifact_id))))
    return [run], artifacts, edges


def get_run_output(run_id: str) -> Any:
    """The output value of a RESOLVED run."""
    run = get_run(run_id)
    if run.future_state != "RESOLVED":
        raise RuntimeError("Can't get output of unresolved run.")
    for e in json.loads(_call("edges_of_run", run_id)):
        if e["source_run_id"] == run_id and e["artifact_id"]:
            return get_artifact_value_by_id(e["artifact_id"])
    raise RuntimeError("Could not find output artifact for run.")


def get_pipeline_run(root_id: str) -> PipelineRun:
    """The pipeline run whose root run has this id."""
    return PipelineRun(json.loads(_call("pipeline", root_id)))


def cancel_pipeline_run(root_id: str) -> PipelineRun:
    """Cancel a pipeline run: its driver is signalled when alive, else the store is marked."""
    import subprocess
    import sys
    from pathlib import Path

    cli = Path(sys.executable).parent / "sematic"
    result = subprocess.run(
        [str(cli), "cancel", "-y", root_id], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BadRequestError(result.stderr.strip() or f"cannot cancel {root_id}")
    return get_pipeline_run(root_id)


_TERMINAL = {"RESOLVED", "FAILED", "NESTED_FAILED", "CANCELED"}


def block_on_run(
    run_id: str,
    polling_interval_seconds: float = 5.0,
    max_wait_seconds: Optional[float] = None,
    cancel_on_exit: bool = False,
) -> None:
    """Block until the run is terminal; raise RuntimeError unless it RESOLVED.

    Raises
    ------
    TimeoutError
        When max_wait_seconds passed first.
    RuntimeError
        "Run terminated in state: X" for FAILED, NESTED_FAILED or CANCELED.
    """
    start = time.monotonic()
    run = get_run(run_id)
    try:
        while run.future_state not in _TERMINAL:
            if max_wait_seconds is not None and time.monotonic() - start > max_wait_seconds:
                raise TimeoutError(f"Run {run_id} did not finish within {max_wait_seconds} s")
            time.sleep(polling_interval_seconds)
            run = get_run(run_id)
    finally:
        if cancel_on_exit and run.future_state not in _TERMINAL:
            cancel_pipeline_run(run.root_id)
    if run.future_state != "RESOLVED":
        raise RuntimeError(f"Run terminated in state: {run.future_state}")
