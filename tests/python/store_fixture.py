"""Rows for the embedded store, written with Python's sqlite3, for CLI tests.

The `sematic` CLI reads what runners write; these helpers write the same
rows directly (schema: src/core/store/migrations/001_initial.sql), so the
CLI can be tested before, and independently of, any runner.

    store = Store.create(tmp_path / "home")   # runs `sematic runs` to create and migrate it
    root = store.make_run(name="pipeline")
    store.make_pipeline(root, status="COMPLETE")

Every write commits at once (autocommit), so a CLI process following the
store sees it as a runner's commit.

The CLI binary is $SEMATIC_CLI when set, else the `sematic` next to
sys.executable (the one `pip install .` put in the venv).
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterable, Optional

STATES = {
    "CREATED": 0,
    "SCHEDULED": 1,
    "RAN": 2,
    "RESOLVED": 3,
    "FAILED": 4,
    "NESTED_FAILED": 5,
    "RETRYING": 6,
    "CANCELED": 7,
}
STATE_NAMES = {value: name for name, value in STATES.items()}

# 2026-11-22 10:00:00 UTC in microseconds: timestamps count from here.
BASE_US = 1_795_341_600 * 1_000_000


def cli_path() -> Path:
    """The `sematic` binary under test."""
    override = os.environ.get("SEMATIC_CLI")
    if override:
        return Path(override)
    return Path(sys.executable).parent / "sematic"


def binary_env() -> dict:
    """This process's environment for running the `sematic` binary.

    Without LD_PRELOAD when the binary is the uninstrumented one: with the
    sanitizer runtimes preloaded (as pytest's own process has them under ASan)
    it checks nothing, and glibc's locale lock then deadlocks at exit, in
    libp11-kit's destructor (pulled in by libcurl) after any strerror().
    `make py-asan-test` runs build-asan's binary (SEMATIC_CLI) instead.
    """
    env = dict(os.environ)
    if "SEMATIC_CLI" not in env:
        env.pop("LD_PRELOAD", None)
    return env


def cli_env(home: Path, **extra: str) -> dict:
    """The environment for a CLI run: its own home, UTC (so times are fixed)."""
    env = binary_env()
    env["SEMATIC_HOME"] = str(home)
    env["TZ"] = "UTC"
    env.update(extra)
    return env


def run_cli(
    home: Path, *args: str, input: Optional[str] = None, timeout: float = 30, **env: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(cli_path()), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        env=cli_env(home, **env),
    )


def artifact_id(type_json: str, payload: bytes) -> str:
    """An artifact's id: hex SHA-256 of the type, a newline and the payload."""
    return hashlib.sha256(type_json.encode() + b"\n" + payload).hexdigest()


def new_id() -> str:
    return uuid.uuid4().hex


class Store:
    """A store home with a sqlite3 connection to its database."""

    def __init__(self, home: Path):
        self.home = Path(home)
        self.db_path = self.home / "sematic.db"
        self.db = sqlite3.connect(str(self.db_path), isolation_level=None, timeout=30)
        self._clock = 0

    @classmethod
    def create(cls, home: Path) -> "Store":
        """Create and migrate the store with `sematic runs`, then connect to it."""
        result = run_cli(home, "runs")
        assert result.returncode == 0, result.stderr
        return cls(home)

    def close(self) -> None:
        self.db.close()

    def tick(self) -> int:
        """A timestamp one second after the previous one."""
        self._clock += 1
        return BASE_US + self._clock * 1_000_000

    # ---------------------------------------------------------------- rows

    def make_run(
        self,
        *,
        id: Optional[str] = None,
        root_id: Optional[str] = None,
        parent_id: Optional[str] = None,
        name: str = "pipeline",
        function_path: Optional[str] = None,
        state: str = "RESOLVED",
        tags: Iterable[str] = (),
        description: Optional[str] = None,
        created_at: Optional[int] = None,
        started_at: Optional[int] = None,
        ended_at: Optional[int] = None,
        resolved_at: Optional[int] = None,
        failed_at: Optional[int] = None,
        exception: Optional[dict] = None,
        cache_key: Optional[str] = None,
        original_run_id: Optional[str] = None,
    ) -> str:
        """Insert a run (a root when root_id is None); returns its id."""
        run_id = id or new_id()
        created = created_at if created_at is not None else self.tick()
        if state == "RESOLVED" and resolved_at is None and ended_at is None:
            started_at = created + 250_000 if started_at is None else started_at
            resolved_at = ended_at = created + 1_500_000
        if state in ("FAILED", "NESTED_FAILED") and failed_at is None and ended_at is None:
            failed_at = ended_at = created + 2_000_000
        function_id = self.db.execute(
            "INSERT INTO functions (function_path, description, is_inline) VALUES (?, ?, 1)",
            (function_path or f"project.pipelines.{name}", description),
        ).lastrowid
        self.db.execute(
            "INSERT INTO run_rows (id, root_id, parent_id, original_run_id, state, name,"
            " function_id, tags, cache_key, exception, created_at, updated_at,"
            " started_at, ended_at, resolved_at, failed_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                root_id or run_id,
                parent_id,
                original_run_id,
                STATES[state],
                name,
                function_id,
                json.dumps(list(tags)),
                cache_key,
                json.dumps(exception) if exception is not None else None,
                created,
                created,
                started_at,
                ended_at,
                resolved_at,
                failed_at,
            ),
        )
        return run_id

    def set_state(self, run_id: str, state: str) -> None:
        now = self.tick()
        resolved = now if state == "RESOLVED" else None
        self.db.execute(
            "UPDATE run_rows SET state = ?, updated_at = ?, ended_at = ?, resolved_at = ? WHERE id = ?",
            (STATES[state], now, now, resolved, run_id),
        )

    def run_state(self, run_id: str) -> str:
        (state,) = self.db.execute("SELECT state FROM runs WHERE id = ?", (run_id,)).fetchone()
        return STATE_NAMES[state]

    def make_pipeline(
        self,
        root_id: str,
        *,
        status: str = "COMPLETE",
        kind: str = "LOCAL",
        python: Optional[str] = None,
        cwd: Optional[str] = None,
        sys_path: Optional[list] = None,
        driver_pid: Optional[int] = None,
        driver_start: Optional[int] = None,
        driver_host: Optional[str] = None,
        run_command: Optional[str] = "python pipeline.py",
    ) -> None:
        created = self.tick()
        self.db.execute(
            "INSERT INTO pipeline_runs (root_id, status, kind, cache_namespace, user, run_command,"
            " python, cwd, sys_path, driver_pid, driver_start, driver_host, created_at,"
            " updated_at) VALUES (?, ?, ?, NULL, 'tester', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                root_id,
                status,
                kind,
                run_command,
                python,
                cwd,
                json.dumps(sys_path) if sys_path is not None else None,
                driver_pid,
                driver_start,
                driver_host,
                created,
                created,
            ),
        )

    def pipeline_status(self, root_id: str) -> str:
        (status,) = self.db.execute(
            "SELECT status FROM pipeline_runs WHERE root_id = ?", (root_id,)
        ).fetchone()
        return status

    def make_artifact(
        self, value: object, *, type_json: str = '{"type":"int"}', summary: object = None
    ) -> str:
        """Insert an artifact whose payload (the JSON of value) is inline; returns its id."""
        payload = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        art_id = artifact_id(type_json, payload)
        self.db.execute(
            "INSERT OR IGNORE INTO artifacts (id, type_json, summary_json, size_bytes, payload,"
            " blob_key, created_at) VALUES (?, ?, ?, ?, ?, NULL, ?)",
            (
                art_id,
                type_json,
                json.dumps(
                    value if summary is None else summary, separators=(",", ":"), ensure_ascii=False
                ),
                len(payload),
                payload,
                self.tick(),
            ),
        )
        return art_id

    def write_blob(self, data: bytes) -> Path:
        """Write a blob file as the blob store lays it out; returns its path."""
        key = hashlib.sha256(data).hexdigest()
        path = self.home / "blobs" / key[:2] / key[2:]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def make_blob_artifact(self, data: bytes, *, type_json: str = '{"type":"bytes"}') -> str:
        """Insert an artifact whose payload lives in a blob; returns its id."""
        key = hashlib.sha256(data).hexdigest()
        self.write_blob(data)
        art_id = artifact_id(type_json, data)
        self.db.execute(
            "INSERT INTO artifacts (id, type_json, summary_json, size_bytes, payload, blob_key,"
            " created_at) VALUES (?, ?, ?, ?, NULL, ?, ?)",
            (art_id, type_json, json.dumps(f"{len(data)} bytes"), len(data), key, self.tick()),
        )
        return art_id

    def make_edge(
        self,
        *,
        root_id: str,
        source: Optional[str] = None,
        destination: Optional[str] = None,
        name: Optional[str] = None,
        artifact_id: Optional[str] = None,
        parent_id: Optional[str] = None,
    ) -> str:
        edge_id = new_id()
        now = self.tick()
        self.db.execute(
            "INSERT INTO edges (id, root_id, source_run_id, destination_run_id, destination_name,"
            " artifact_id, parent_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (edge_id, root_id, source, destination, name, artifact_id, parent_id, now, now),
        )
        return edge_id

    def make_log(self, run_id: str, text: str, stream: int = 1) -> int:
        cursor = self.db.execute(
            "INSERT INTO logs (run_id, stream, ts, text) VALUES (?, ?, ?, ?)",
            (run_id, stream, self.tick(), text),
        )
        return cursor.lastrowid
