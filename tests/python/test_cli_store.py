"""The store commands of the `sematic` CLI: runs, show, logs, cancel, rerun, gc, settings.

Each test has its own SEMATIC_HOME under tmp_path; rows are written with
sqlite3 through store_fixture (the CLI reads what runners write). The
binary is $SEMATIC_CLI when set, else the `sematic` next to sys.executable.
Waits are on observable output with deadlines, never sleeps (STYLE 41).
"""
from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from store_fixture import BASE_US, Store, cli_env, cli_path, new_id, run_cli


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def store(home: Path):
    s = Store.create(home)
    yield s
    s.close()


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"rc={result.returncode} stderr={result.stderr!r}"
    assert result.stderr == "", result.stderr
    return result.stdout


def table(stdout: str) -> list[list[str]]:
    """Rows of a table whose columns are separated by two or more spaces (header first)."""
    return [re.split(r"\s{2,}", line.rstrip()) for line in stdout.splitlines()]


def failed(result: subprocess.CompletedProcess, rc: int, stderr: str) -> None:
    assert (result.returncode, result.stderr) == (rc, stderr), (result.returncode, result.stderr)
    assert result.stdout == "", result.stdout


class Lines:
    """Lines of a child's stdout, read by a thread, awaited with a deadline."""

    def __init__(self, stream):
        self.seen: list[str] = []
        self._queue: "queue.Queue[str | None]" = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, wanted: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while wanted not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line {wanted!r} within {timeout}s; saw {self.seen!r}")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"output ended before {wanted!r}; saw {self.seen!r}")
            self.seen.append(line)

    def rest(self, timeout: float = 15) -> list[str]:
        """Everything until end of output."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"output did not end within {timeout}s; saw {self.seen!r}")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                return self.seen
            self.seen.append(line)


def proc_start_time(pid: int) -> int:
    """Field 22 of /proc/PID/stat: the process's start time in clock ticks since boot."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[19])


# --------------------------------------------------------------------------- help


def test_cli_store__usage_lists_every_command(home):
    stdout = ok(run_cli(home, "--help"))
    listed = [line.split()[0] for line in stdout.split("commands:\n")[1].splitlines()]
    assert listed == [
        "help", "version", "runs", "show", "logs", "cancel", "rerun", "gc", "settings", "start",
        "stop", "users",
    ]


@pytest.mark.parametrize(
    "command, first_line",
    [
        ("runs", "usage: sematic runs [--all] [--pipeline NAME_OR_PATH] [--state STATE[,STATE...]]"),
        ("show", "usage: sematic show RUN_ID [--json]"),
        ("logs", "usage: sematic logs [-f|--follow] RUN_ID"),
        ("cancel", "usage: sematic cancel [-y|--yes] ROOT_ID"),
        ("rerun", "usage: sematic rerun ROOT_ID [--from RUN_ID | --continue]"),
        ("gc", "usage: sematic gc"),
        ("settings", "usage: sematic settings show"),
        ("users", "usage: sematic users create EMAIL [--first-name NAME] [--last-name NAME]"),
    ],
)
def test_cli_store__every_command_has_help(home, command, first_line):
    for flag in ("--help", "-h"):
        stdout = ok(run_cli(home, command, flag))
        assert stdout.splitlines()[0] == first_line
    # --help touches nothing: no store is created.
    assert not (home / "sematic.db").exists()


# Usage errors as data: a stable id, the arguments, the exact stderr (STYLE 38).
USAGE_CASES = [
    ("usage-01", ["runs", "--frob"], "sematic: unknown option '--frob' for 'runs'; run 'sematic runs --help' for its options\n"),
    ("usage-02", ["runs", "extra"], "sematic: unexpected argument 'extra' for 'runs'; run 'sematic runs --help' for its usage\n"),
    ("usage-03", ["runs", "--limit"], "sematic: option '--limit' of 'runs' needs a value; run 'sematic runs --help' for its usage\n"),
    ("usage-04", ["runs", "--limit", "ten"], "sematic: --limit wants a whole number of runs (0 for all), got 'ten'\n"),
    ("usage-05", ["runs", "--limit=-3"], "sematic: --limit wants a whole number of runs (0 for all), got '-3'\n"),
    ("usage-06",
        ["runs", "--state", "RESOLVED,DONE"],
        "sematic: unknown state 'DONE' for --state; use one or more of CREATED, SCHEDULED, RAN, "
        "RESOLVED, FAILED, NESTED_FAILED, RETRYING, CANCELED, separated by commas\n",
    ),
    ("usage-07", ["show"], "sematic: 'show' needs a RUN_ID; run 'sematic show --help' for its usage\n"),
    ("usage-08", ["show", "abc123", "--all"], "sematic: unknown option '--all' for 'show'; run 'sematic show --help' for its options\n"),
    ("usage-09", ["logs"], "sematic: 'logs' needs a RUN_ID; run 'sematic logs --help' for its usage\n"),
    ("usage-10", ["logs", "-x", "abc123"], "sematic: unknown option '-x' for 'logs'; run 'sematic logs --help' for its options\n"),
    ("usage-11", ["cancel"], "sematic: 'cancel' needs the ROOT_ID of a pipeline run; run 'sematic cancel --help' for its usage\n"),
    ("usage-12", ["rerun"], "sematic: 'rerun' needs the ROOT_ID of a pipeline run; run 'sematic rerun --help' for its usage\n"),
    ("usage-13",
        ["rerun", "abc123", "--from", "def456", "--continue"],
        "sematic: 'rerun' takes --from or --continue, not both: --from reruns from one run, "
        "--continue resumes what did not finish\n",
    ),
    ("usage-14", ["rerun", "abc123", "--from"], "sematic: option '--from' of 'rerun' needs a value; run 'sematic rerun --help' for its usage\n"),
    ("usage-15", ["gc", "now"], "sematic: unexpected argument 'now' for 'gc'; run 'sematic gc --help' for its usage\n"),
    ("usage-16", ["settings"], "sematic: 'settings' needs an action: show, set VAR VALUE or delete VAR; run 'sematic settings --help' for its usage\n"),
    ("usage-17", ["settings", "list"], "sematic: unknown settings action 'list'; use show, set VAR VALUE or delete VAR\n"),
    ("usage-18", ["settings", "set", "SEMATIC_API_KEY"], "sematic: 'settings set' needs a VAR and a VALUE: sematic settings set VAR VALUE\n"),
    ("usage-19", ["settings", "delete"], "sematic: 'settings delete' needs a VAR: sematic settings delete VAR\n"),
    ("usage-20", ["settings", "show", "all"], "sematic: 'settings show' takes no arguments, got 'all'\n"),
    ("usage-21",
        ["settings", "set", "api_key", "x"],
        "sematic: setting name 'api_key' must be upper-case letters, digits and '_' (like SEMATIC_API_ADDRESS)\n",
    ),
]


@pytest.mark.parametrize(
    "args, stderr", [c[1:] for c in USAGE_CASES], ids=[c[0] for c in USAGE_CASES]
)
def test_cli_store__usage_errors_exit_2_naming_the_fix(home, args, stderr):
    failed(run_cli(home, *args), 2, stderr)


# --------------------------------------------------------------------------- runs


def test_runs__empty_store_says_how_to_make_runs_and_creates_the_store(home):
    stdout = ok(run_cli(home, "runs"))
    assert stdout == f"no runs yet in {home}; run a pipeline with LocalRunner\n"
    assert (home / "sematic.db").exists()
    assert ok(run_cli(home, "runs", "--json")) == "[]\n"


def test_runs__lists_pipeline_runs_newest_first_as_a_table(store, home):
    first = store.make_run(name="etl", tags=["nightly", "v2"])
    child = store.make_run(name="load", root_id=first, parent_id=first)
    second = store.make_run(name="train_model", state="FAILED")
    third = store.make_run(name="report", state="SCHEDULED")
    store.make_run(name="x", root_id=third, parent_id=third, state="SCHEDULED")

    rows = table(ok(run_cli(home, "runs")))
    assert rows[0] == ["ID", "NAME", "STATE", "CREATED", "DURATION", "TAGS"]
    assert [r[0] for r in rows[1:]] == [third, second, first]  # roots only, newest first
    assert child not in {r[0] for r in rows}
    assert rows[3] == [first, "etl", "RESOLVED", "2026-11-22 10:00:01", "1.50s", "nightly, v2"]
    assert rows[2] == [second, "train_model", "FAILED", "2026-11-22 10:00:03", "2.00s"]
    assert rows[1][:4] == [third, "report", "SCHEDULED", "2026-11-22 10:00:04"]


def test_runs__all_includes_nested_runs(store, home):
    root = store.make_run(name="pipeline")
    child = store.make_run(name="step", root_id=root, parent_id=root)
    rows = table(ok(run_cli(home, "runs", "--all")))
    assert [r[0] for r in rows[1:]] == [child, root]


def test_runs__json_is_an_array_of_runs(store, home):
    root = store.make_run(name="pipeline", function_path="proj.pipe.pipeline", tags=["a"])
    child = store.make_run(name="step", root_id=root, parent_id=root, state="FAILED")
    runs = json.loads(ok(run_cli(home, "runs", "--all", "--json")))
    assert [r["id"] for r in runs] == [child, root]
    assert runs[1]["name"] == "pipeline"
    assert runs[1]["function_path"] == "proj.pipe.pipeline"
    assert runs[1]["future_state"] == "RESOLVED"
    assert runs[1]["tags"] == ["a"]
    assert runs[1]["root_id"] == root
    assert runs[0]["future_state"] == "FAILED"
    assert runs[0]["parent_id"] == root
    assert runs[0]["root_id"] == root


def test_runs__filters_by_state_tag_search_pipeline_and_limit(store, home):
    a = store.make_run(name="etl", function_path="proj.etl.etl", tags=["nightly"])
    b = store.make_run(name="etl", function_path="proj.etl.etl", state="FAILED")
    c = store.make_run(name="train", function_path="proj.ml.train", state="CANCELED", tags=["gpu"])
    d = store.make_run(name="report", function_path="proj.report.report", state="SCHEDULED")

    def ids(*args: str) -> list[str]:
        return [r["id"] for r in json.loads(ok(run_cli(home, "runs", "--json", *args)))]

    assert ids("--state", "FAILED,canceled") == [c, b]
    assert ids("--state=RESOLVED") == [a]
    assert ids("--tag", "gpu") == [c]
    assert ids("--tag", "gp") == []  # a tag matches whole
    assert ids("--search", "trai") == [c]
    assert ids("--search", d[3:12]) == [d]
    assert ids("--pipeline", "etl") == [b, a]
    assert ids("--pipeline", "proj.ml.train") == [c]
    assert ids("--pipeline", "etl", "--limit", "1") == [b]
    assert ids("--limit", "2") == [d, c]
    assert ids("--limit", "0") == [d, c, b, a]
    stdout = ok(run_cli(home, "runs", "--tag", "nope"))
    assert stdout == f"no pipeline runs match these filters in {home}\n"


def test_runs__default_limit_is_20(store, home):
    ids = [store.make_run(name=f"p{i}") for i in range(23)]
    rows = table(ok(run_cli(home, "runs")))[1:]
    assert [r[0] for r in rows] == ids[::-1][:20]


def test_runs__durations_read_well_at_every_scale(store, home):
    for name, us in [("a", 400), ("b", 42_000), ("c", 1_420_000), ("d", 12_340_000),
                     ("e", 245_000_000), ("f", 7_380_000_000), ("g", 273_600_000_000)]:
        created = store.tick()
        store.make_run(name=name, created_at=created, ended_at=created + us,
                       resolved_at=created + us)
    canceled = store.tick()
    store.make_run(name="h", state="CANCELED", created_at=canceled)  # no end recorded
    store.db.execute("UPDATE run_rows SET updated_at = ? WHERE name = 'h'", (canceled + 3_000_000,))
    rows = table(ok(run_cli(home, "runs")))[1:]
    assert [(r[1], r[4]) for r in rows] == [("h", "3.00s"),
        ("g", "3d04h"), ("f", "2h03m"), ("e", "4m05s"), ("d", "12.3s"), ("c", "1.42s"),
        ("b", "42ms"), ("a", "0.4ms")]


def test_runs__long_names_are_cut_to_40_characters(store, home):
    store.make_run(name="n" * 60)
    rows = table(ok(run_cli(home, "runs")))
    assert rows[1][1] == "n" * 37 + "..."


# --------------------------------------------------------------------------- show


def make_graph(store: Store):
    """A root with two inputs, an output, and two children; returns their ids."""
    root = store.make_run(
        name="pipeline", function_path="proj.pipe.pipeline", tags=["t1"],
        description="Add two numbers.\n\nMore text.",
    )
    store.make_pipeline(root, status="COMPLETE")
    a = store.make_run(name="add", function_path="proj.pipe.add", root_id=root, parent_id=root)
    b = store.make_run(name="double", function_path="proj.pipe.double", root_id=root, parent_id=root)
    x = store.make_artifact(1)
    y = store.make_artifact(2)
    out = store.make_artifact(6)
    # Stored out of order: inputs are shown by parameter name.
    store.make_edge(root_id=root, destination=root, name="y", artifact_id=y)
    store.make_edge(root_id=root, destination=root, name="x", artifact_id=x)
    store.make_edge(root_id=root, source=root, artifact_id=out)
    return root, a, b, x, y, out


def test_show__prints_the_run_its_pipeline_inputs_output_and_children(store, home):
    root, a, b, x, y, out = make_graph(store)
    stdout = ok(run_cli(home, "show", root))
    lines = stdout.splitlines()
    assert lines[0] == "pipeline (proj.pipe.pipeline)"
    assert "  description    Add two numbers." in lines
    assert f"  id             {root}" in lines
    assert "  state          RESOLVED" in lines
    assert "  root           this run (a pipeline run)" in lines
    assert "  created        2026-11-22 10:00:01" in lines
    assert "  started        2026-11-22 10:00:01" in lines
    assert "  resolved       2026-11-22 10:00:02" in lines
    assert "  duration       1.50s (1.25s since it started)" in lines
    assert "  tags           t1" in lines
    assert "pipeline run" in lines
    assert "  status         COMPLETE" in lines
    assert "  kind           LOCAL" in lines
    assert "  command        python pipeline.py" in lines
    i = lines.index("inputs")
    assert lines[i + 1 : i + 3] == [f"  x = 1  (artifact {x})", f"  y = 2  (artifact {y})"]
    i = lines.index("output")
    assert lines[i + 1] == f"  6  (artifact {out})"
    i = lines.index("children (2)")
    assert lines[i + 1 : i + 3] == [f"  {a}  RESOLVED       add", f"  {b}  RESOLVED       double"]


def test_show__a_nested_run_names_its_root_and_parent(store, home):
    root, a, *_ = make_graph(store)
    lines = ok(run_cli(home, "show", a)).splitlines()
    assert lines[0] == "add (proj.pipe.add)"
    assert f"  root           {root}" in lines
    assert f"  parent         {root}" in lines
    assert "pipeline run" not in lines


def test_show__json_has_run_pipeline_inputs_output_children(store, home):
    root, a, b, x, y, out = make_graph(store)
    doc = json.loads(ok(run_cli(home, "show", root, "--json")))
    assert doc["run"]["id"] == root
    assert doc["run"]["future_state"] == "RESOLVED"
    assert doc["pipeline_run"]["root_id"] == root
    assert doc["pipeline_run"]["status"] == "COMPLETE"
    assert [(i["name"], i["artifact_id"]) for i in doc["inputs"]] == [("x", x), ("y", y)]
    assert doc["inputs"][0]["artifact"]["id"] == x
    assert doc["inputs"][0]["artifact"]["json_summary"] == 1
    assert doc["output"]["id"] == out
    assert doc["output"]["json_summary"] == 6
    assert [c["id"] for c in doc["children"]] == [a, b]

    leaf = json.loads(ok(run_cli(home, "show", a, "--json")))
    assert leaf["pipeline_run"] is None
    assert leaf["inputs"] == [] and leaf["output"] is None and leaf["children"] == []


def test_show__exception_name_and_traceback_are_printed_as_is(store, home):
    traceback = 'Traceback (most recent call last):\n  File "p.py", line 3, in f\nValueError: bad x'
    run = store.make_run(
        name="f", state="FAILED",
        exception={"repr": traceback, "name": "ValueError", "module": "builtins", "ancestors": []},
    )
    lines = ok(run_cli(home, "show", run)).splitlines()
    i = lines.index("exception")
    assert lines[i + 1 :] [:4] == ["  ValueError"] + traceback.splitlines()[:3]


def test_show__long_summaries_are_cut_at_200_bytes(store, home):
    root = store.make_run(name="p")
    big = store.make_artifact("é" * 300, type_json='{"type":"str"}')
    store.make_edge(root_id=root, destination=root, name="text", artifact_id=big)
    lines = ok(run_cli(home, "show", root)).splitlines()
    (line,) = [l for l in lines if l.startswith("  text = ")]
    summary = line[len("  text = ") : line.index("...  (artifact")]
    assert summary == '"' + "é" * 99  # 1 + 99 * 2 = 199 bytes, cut on a character
    assert line.endswith(f"...  (artifact {big})")


def test_show__cache_key_and_original_run(store, home):
    original = store.make_run(name="f", cache_key="abc_ns")
    hit = store.make_run(name="f", cache_key="abc_ns", original_run_id=original)
    lines = ok(run_cli(home, "show", hit)).splitlines()
    assert "  cache key      abc_ns" in lines
    assert f"  original run   {original}" in lines


def test_show__accepts_a_unique_prefix_in_any_case(store, home):
    root = store.make_run(id="abcdef" + "0" * 26, name="p")
    store.make_run(id="abcd12" + "0" * 26, name="q")
    assert json.loads(ok(run_cli(home, "show", "ABCDEF", "--json")))["run"]["id"] == root
    assert json.loads(ok(run_cli(home, "show", "abcdef00", "--json")))["run"]["id"] == root


def test_show__unknown_ambiguous_and_short_ids_fail_clearly(store, home):
    store.make_run(id="abcdef" + "0" * 26, name="p")
    store.make_run(id="abcdef" + "1" * 26, name="q")
    for bad in ("123456", "0" * 32, "not-an-id", "z" * 32):
        failed(run_cli(home, "show", bad), 1,
               f"sematic: no run '{bad}' in {home}; 'sematic runs --all' lists them\n")
    failed(run_cli(home, "show", "abcdef"), 1,
           f"sematic: run id prefix 'abcdef' is ambiguous in {home}: more than one run starts "
           "with it; give more digits ('sematic runs --all' lists them)\n")
    failed(run_cli(home, "show", "abc"), 1,
           "sematic: run id 'abc' is too short; give at least 6 of its hex digits "
           "('sematic runs --all' lists them)\n")


# --------------------------------------------------------------------------- logs


def test_logs__prints_the_lines_in_order(store, home):
    run = store.make_run(name="p")
    other = store.make_run(name="q")
    store.make_log(run, "first")
    store.make_log(other, "not mine")
    store.make_log(run, "second on stderr", stream=2)
    store.make_log(run, "INFO third", stream=3)
    assert ok(run_cli(home, "logs", run)) == "first\nsecond on stderr\nINFO third\n"
    assert ok(run_cli(home, "logs", run[:8])) == "first\nsecond on stderr\nINFO third\n"


def test_logs__unknown_run(store, home):
    failed(run_cli(home, "logs", "f" * 32), 1,
           f"sematic: no run '{'f' * 32}' in {home}; 'sematic runs --all' lists them\n")


def test_logs__follow_prints_new_lines_until_the_run_resolves(store, home):
    run = store.make_run(name="p", state="SCHEDULED")
    store.make_log(run, "line 1")
    proc = subprocess.Popen(
        [str(cli_path()), "logs", "-f", run],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(home),
    )
    try:
        lines = Lines(proc.stdout)
        lines.wait_for("line 1")
        store.make_log(run, "line 2")
        lines.wait_for("line 2")
        assert proc.poll() is None  # still following
        store.make_log(run, "line 3")
        store.set_state(run, "RESOLVED")
        assert lines.rest() == ["line 1", "line 2", "line 3"]
        assert proc.wait(timeout=15) == 0
        assert proc.stderr.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_logs__follow_of_a_finished_run_prints_and_exits(store, home):
    run = store.make_run(name="p")
    store.make_log(run, "done")
    assert ok(run_cli(home, "logs", "--follow", run, timeout=10)) == "done\n"


def test_logs__follow_stops_when_the_driver_died(store, home):
    root = store.make_run(name="p", state="SCHEDULED")
    dead = subprocess.Popen(["true"])
    dead.wait()
    store.make_pipeline(root, status="RUNNING", driver_pid=dead.pid, driver_start=1,
                        driver_host=socket.gethostname())
    store.make_log(root, "last words")
    result = run_cli(home, "logs", "-f", root, timeout=10)
    assert (result.returncode, result.stdout) == (1, "last words\n")
    assert result.stderr == (
        f"sematic: stopped following run '{root}': the driver of its pipeline (pid {dead.pid}) "
        f"exited without finishing it; 'sematic cancel -y {root}' marks it canceled, "
        f"'sematic rerun --continue {root}' resumes it\n"
    )


# ------------------------------------------------------------------------- cancel

# A stand-in for a driver: records itself in pipeline_runs, and on SIGTERM
# cancels its runs and its pipeline run in the store and exits (API.md 2.6).
DRIVER = r"""
import os, signal, socket, sqlite3, sys
db, root = sys.argv[1], sys.argv[2]
stat = open("/proc/self/stat").read()
start = int(stat[stat.rindex(")") + 2:].split()[19])
con = sqlite3.connect(db, isolation_level=None, timeout=30)
con.execute(
    "UPDATE pipeline_runs SET driver_pid = ?, driver_start = ?, driver_host = ? WHERE root_id = ?",
    (os.getpid(), start, socket.gethostname(), root))
def on_term(signum, frame):
    con.execute("BEGIN IMMEDIATE")
    con.execute("UPDATE run_rows SET state = 7 WHERE root_id = ? AND state NOT IN (3, 4, 5, 7)", (root,))
    con.execute("UPDATE pipeline_runs SET status = 'CANCELED' WHERE root_id = ?", (root,))
    con.execute("COMMIT")
    print("canceled by signal", signum, flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
while True:
    signal.pause()
"""


def test_cancel__a_live_driver_is_signalled_and_cancels_itself(store, home):
    root = store.make_run(name="p", state="SCHEDULED")
    step = store.make_run(name="s", root_id=root, parent_id=root, state="SCHEDULED")
    store.make_pipeline(root, status="RUNNING")
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(store.db_path), root],
                              stdout=subprocess.PIPE, text=True)
    try:
        lines = Lines(driver.stdout)
        lines.wait_for("ready")
        assert ok(run_cli(home, "cancel", "-y", root)) == f"Pipeline run {root} canceled.\n"
        lines.wait_for("canceled by signal 15")
        assert driver.wait(timeout=15) == 0
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert store.pipeline_status(root) == "CANCELED"
    assert store.run_state(step) == "CANCELED"


def test_cancel__with_the_driver_gone_the_store_is_marked_directly(store, home):
    root = store.make_run(name="p", state="RAN")
    running = store.make_run(name="s", root_id=root, parent_id=root, state="SCHEDULED")
    done = store.make_run(name="t", root_id=root, parent_id=root, state="RESOLVED")
    dead = subprocess.Popen(["true"])
    dead.wait()
    store.make_pipeline(root, status="RUNNING", driver_pid=dead.pid, driver_start=1,
                        driver_host=socket.gethostname())
    assert ok(run_cli(home, "cancel", "--yes", root)) == (
        f"Pipeline run {root} canceled: its driver (pid {dead.pid}) was not running, so the "
        "store was marked directly.\n"
    )
    assert store.pipeline_status(root) == "CANCELED"
    assert (store.run_state(root), store.run_state(running), store.run_state(done)) == (
        "CANCELED", "CANCELED", "RESOLVED")


def test_cancel__a_reused_pid_is_not_signalled(store, home):
    root = store.make_run(name="p", state="SCHEDULED")
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        # The recorded start time is not the bystander's: its pid was "reused".
        store.make_pipeline(root, status="RUNNING", driver_pid=bystander.pid,
                            driver_start=proc_start_time(bystander.pid) + 1,
                            driver_host=socket.gethostname())
        stdout = ok(run_cli(home, "cancel", "-y", root))
        assert "was not running, so the store was marked directly" in stdout
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_cancel__a_driver_on_another_host_is_not_signalled(store, home):
    root = store.make_run(name="p", state="SCHEDULED")
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        # Same pid and start time as a live local process, but recorded on another host.
        store.make_pipeline(root, status="RUNNING", driver_pid=bystander.pid,
                            driver_start=proc_start_time(bystander.pid),
                            driver_host="elsewhere.invalid")
        assert ok(run_cli(home, "cancel", "-y", root)) == (
            f"Pipeline run {root} canceled: its driver (pid {bystander.pid}) ran on host "
            "'elsewhere.invalid', which this command cannot signal, so the store was marked "
            "directly.\n"
        )
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_cancel__a_finished_pipeline_is_left_alone(store, home):
    root = store.make_run(name="p")
    store.make_pipeline(root, status="COMPLETE")
    assert ok(run_cli(home, "cancel", "-y", root)) == (
        f"Pipeline run {root} is already COMPLETE; nothing to cancel.\n")
    assert store.pipeline_status(root) == "COMPLETE"


def test_cancel__asks_for_confirmation_without_y(store, home):
    root = store.make_run(name="etl", state="SCHEDULED")
    store.make_pipeline(root, status="RUNNING")
    result = run_cli(home, "cancel", root, input="n\n")
    assert result.returncode == 1
    assert result.stdout == f"Cancel pipeline run {root} (etl)? [y/N] "
    assert result.stderr == (
        f"sematic: pipeline run '{root}' was not canceled (answer 'y', or pass -y)\n")
    assert store.pipeline_status(root) == "RUNNING"
    result = run_cli(home, "cancel", root, input="y\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Cancel pipeline run {root} (etl)? [y/N] Pipeline run")
    assert store.pipeline_status(root) == "CANCELED"


def test_cancel__a_nested_run_names_the_root_to_cancel(store, home):
    root = store.make_run(name="p", state="SCHEDULED")
    step = store.make_run(name="s", root_id=root, parent_id=root, state="SCHEDULED")
    store.make_pipeline(root, status="RUNNING")
    failed(run_cli(home, "cancel", "-y", step), 1,
           f"sematic: run '{step}' is not a pipeline run; cancel its pipeline run instead: "
           f"sematic cancel {root}\n")


def test_cancel__a_root_without_pipeline_record(store, home):
    root = store.make_run(name="p", state="SCHEDULED")
    failed(run_cli(home, "cancel", "-y", root), 1,
           f"sematic: run '{root}' has no pipeline run record in {home}, so there is nothing "
           "to cancel\n")


# -------------------------------------------------------------------------- rerun

FAKE_PYTHON = """#!/bin/sh
printf 'argv:'
for a in "$0" "$@"; do printf ' %s' "$a"; done
printf '\\ncwd: %s\\nPYTHONPATH: %s\\nSEMATIC_HOME: %s\\n' "$(pwd)" "$PYTHONPATH" "$SEMATIC_HOME"
"""


@pytest.fixture
def rerunnable(store, tmp_path):
    """A pipeline whose recorded interpreter prints what it was run with."""
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    project = tmp_path / "project"
    (project / "lib").mkdir(parents=True)
    root = store.make_run(name="p", state="FAILED")
    step = store.make_run(name="s", root_id=root, parent_id=root, state="FAILED")
    store.make_pipeline(
        root, status="FAILED", python=str(python), cwd=str(project),
        sys_path=[str(project), "", str(tmp_path / "gone"), str(project / "lib"),
                  "/usr/lib/python3.11.zip"],
    )
    return root, step, python, project


def test_rerun__execs_the_recorded_python_in_the_recorded_directory(store, home, rerunnable):
    root, step, python, project = rerunnable
    stdout = ok(run_cli(home, "rerun", root[:10], "--continue", PYTHONPATH="/old/path"))
    assert stdout.splitlines() == [
        f"argv: {python} -m sematic._rerun {root} --continue",
        f"cwd: {project}",
        f"PYTHONPATH: {project}:{project / 'lib'}:/old/path",
        f"SEMATIC_HOME: {home}",
    ]
    stdout = ok(run_cli(home, "rerun", root, "--from", step[:8], PYTHONPATH=""))
    assert stdout.splitlines()[0] == f"argv: {python} -m sematic._rerun {root} --from {step}"
    assert stdout.splitlines()[2] == f"PYTHONPATH: {project}:{project / 'lib'}"
    stdout = ok(run_cli(home, "rerun", root, PYTHONPATH=""))
    assert stdout.splitlines()[0] == f"argv: {python} -m sematic._rerun {root}"


def test_rerun__a_relative_home_is_made_absolute_for_the_rerun(store, home, rerunnable):
    root, step, python, project = rerunnable
    result = subprocess.run(
        [str(cli_path()), "rerun", root], capture_output=True, text=True, timeout=30,
        cwd=home.parent, env=cli_env(home, SEMATIC_HOME=home.name, PYTHONPATH=""),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        f"cwd: {project}", f"PYTHONPATH: {project}:{project / 'lib'}", f"SEMATIC_HOME: {home}"]


def test_rerun__a_python_that_is_gone_says_how_to_rerun_by_hand(store, home, rerunnable):
    root, step, python, project = rerunnable
    python.unlink()
    failed(run_cli(home, "rerun", root, "--continue"), 1,
           f"sematic: cannot rerun '{root}': its driver ran '{python}', which no longer exists; "
           f"run it from your project: python -m sematic._rerun {root} --continue\n")


def test_rerun__needs_a_root_and_a_run_of_that_pipeline(store, home, rerunnable):
    root, step, python, project = rerunnable
    failed(run_cli(home, "rerun", step), 1,
           f"sematic: run '{step}' is not a pipeline run; to rerun its pipeline from it: "
           f"sematic rerun {root} --from {step}\n")
    other = store.make_run(name="other")
    failed(run_cli(home, "rerun", other, "--from", step), 1,
           f"sematic: run '{step}' belongs to pipeline run '{root}', not '{other}'; rerun that "
           f"one: sematic rerun {root} --from {step}\n")
    failed(run_cli(home, "rerun", other), 1,
           f"sematic: cannot rerun '{other}': {home} has no record of how its driver ran; run it "
           f"from your project: python -m sematic._rerun {other}\n")


def test_rerun__continue_refuses_a_pipeline_its_driver_still_runs(store, home, tmp_path):
    root = store.make_run(name="p", state="SCHEDULED")
    store.make_pipeline(root, status="RUNNING", python=sys.executable, cwd=str(tmp_path),
                        driver_pid=os.getpid(), driver_start=proc_start_time(os.getpid()),
                        driver_host=socket.gethostname())
    failed(run_cli(home, "rerun", root, "--continue"), 1,
           f"sematic: cannot continue '{root}': its driver (pid {os.getpid()}) is still running "
           f"it; wait for it to end, or cancel it first: sematic cancel -y {root}\n")


# ----------------------------------------------------------------------------- gc


def test_gc__removes_orphan_blobs_and_keeps_referenced_ones(store, home):
    root = store.make_run(name="p")
    kept = store.make_blob_artifact(b"k" * 5000)
    store.make_edge(root_id=root, source=root, artifact_id=kept)
    (kept_path,) = [p for p in (home / "blobs").rglob("*") if p.is_file()]
    orphan = store.write_blob(b"orphan")
    assert ok(run_cli(home, "gc")) == "removed 1 unreferenced blob (6 bytes)\n"
    assert kept_path.exists() and not orphan.exists()
    assert ok(run_cli(home, "gc")) == "removed 0 unreferenced blobs (0 bytes)\n"


# ----------------------------------------------------------------------- settings


def test_settings__set_show_delete_round_trip_with_masking(home, tmp_path):
    path = home / "settings.yaml"
    env = {"SEMATIC_API_ADDRESS": "", "SEMATIC_API_KEY": ""}
    clean = {k: v for k, v in os.environ.items() if k not in env}

    def cli(*args: str, **extra: str) -> subprocess.CompletedProcess:
        full = dict(clean, SEMATIC_HOME=str(home), TZ="UTC", **extra)
        return subprocess.run([str(cli_path()), *args], capture_output=True, text=True,
                              timeout=30, env=full)

    assert ok(cli("settings", "show")) == (
        f"No settings in {path}; set one with: sematic settings set VAR VALUE\n")
    assert ok(cli("settings", "set", "SEMATIC_API_ADDRESS", "http://127.0.0.1:5001")) == (
        f"Set SEMATIC_API_ADDRESS in {path}.\n")
    assert ok(cli("settings", "set", "SEMATIC_API_KEY", "s3cr3t")) == (
        f"Set SEMATIC_API_KEY in {path}.\n")
    assert ok(cli("settings", "set", "SNOWFLAKE_PASSWORD", "p: #1")) == (
        f"Set SNOWFLAKE_PASSWORD in {path}.\n")
    assert ok(cli("settings", "set", "SEMATIC_API_ADDRESS", "http://server:80")) == (
        f"Set SEMATIC_API_ADDRESS in {path}.\n")
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert text.endswith(
        'SEMATIC_API_ADDRESS: http://server:80\nSEMATIC_API_KEY: s3cr3t\nSNOWFLAKE_PASSWORD: "p: #1"\n')
    assert text.startswith("# Sematic settings")
    assert list(home.iterdir()) == [path]  # no temporary file left behind

    assert ok(cli("settings", "show")) == (
        f"Settings in {path}:\n"
        "  SEMATIC_API_ADDRESS: http://server:80\n"
        "  SEMATIC_API_KEY: ********\n"
        "  SNOWFLAKE_PASSWORD: ********\n")
    assert ok(cli("settings", "show", SEMATIC_API_KEY="from-env", AWS_S3_BUCKET="bkt")) == (
        f"Settings in {path}:\n"
        "  SEMATIC_API_ADDRESS: http://server:80\n"
        "  SEMATIC_API_KEY: ********\n"
        "  SNOWFLAKE_PASSWORD: ********\n"
        "\n"
        "Environment overrides (a variable of the same name wins over the file):\n"
        "  SEMATIC_API_KEY=********\n"
        "  AWS_S3_BUCKET=bkt\n")

    assert ok(cli("settings", "delete", "SEMATIC_API_KEY")) == (
        f"Deleted SEMATIC_API_KEY from {path}.\n")
    assert "SEMATIC_API_KEY" not in path.read_text()
    result = cli("settings", "delete", "SEMATIC_API_KEY")
    failed(result, 1, f"sematic: no setting 'SEMATIC_API_KEY' in {path}; "
                      "'sematic settings show' lists them\n")
    result = cli("settings", "set", "SEMATIC_API_ADDRESS", "http://x", SEMATIC_API_ADDRESS="http://y")
    assert ok(result) == (
        f"Set SEMATIC_API_ADDRESS in {path}.\n"
        "Note: the environment variable SEMATIC_API_ADDRESS is set (http://y) and overrides this "
        "setting.\n")


TRICKY_VALUES = [
    "plain", "http://h:1/p?q=1", "", "5001", "true", "a: b", "x #y", "#z", '"q"', "back\\slash",
    "-dash", " lead", "trail ", "tab\there", "ünïcode", "'single'", "[1, 2]", "{a: 1}", "1:20",
]


@pytest.mark.parametrize("value", TRICKY_VALUES)
def test_settings__values_survive_the_file(home, value):
    ok(run_cli(home, "settings", "set", "MY_SETTING", value))
    assert ok(run_cli(home, "settings", "show")).splitlines()[1] == f"  MY_SETTING: {value}"


def test_settings__the_file_reads_as_yaml(home):
    yaml = pytest.importorskip("yaml")
    expected = {f"V{i}": value for i, value in enumerate(TRICKY_VALUES)}
    for key, value in expected.items():
        ok(run_cli(home, "settings", "set", key, value))
    assert yaml.safe_load((home / "settings.yaml").read_text()) == expected


def test_settings__comments_and_other_lines_are_kept(home):
    home.mkdir()
    path = home / "settings.yaml"
    path.write_text("# mine\nA_ONE: 'it''s'\n\nB_TWO: two # note\n")
    assert ok(run_cli(home, "settings", "show")).splitlines()[1:] == [
        "  A_ONE: it's", "  B_TWO: two"]
    ok(run_cli(home, "settings", "set", "C_THREE", "3"))
    ok(run_cli(home, "settings", "delete", "A_ONE"))
    assert path.read_text() == '# mine\n\nB_TWO: two # note\nC_THREE: "3"\n'


def test_settings__a_malformed_file_is_reported_with_its_line(home):
    home.mkdir()
    (home / "settings.yaml").write_text("A: 1\nprofiles:\n  default: {}\n")
    failed(run_cli(home, "settings", "show"), 1,
           f"sematic: cannot read settings file '{home / 'settings.yaml'}': line 2 is not "
           "'KEY: value' with KEY in [A-Z0-9_]+; fix or delete that line\n")


def test_settings__values_are_one_line(home):
    failed(run_cli(home, "settings", "set", "A", "two\nlines"), 2,
           "sematic: the value of setting 'A' must be one line of text without control "
           "characters\n")
