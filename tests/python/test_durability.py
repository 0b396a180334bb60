"""Nothing lost: SIGKILLed drivers resume without recomputing, concurrent writers, full disks,
corrupted blobs (issue 4, "Reliability")."""
import collections
import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import sematic
from sematic import _core, api_client
from sematic.runners.local_runner import LocalRunner

HERE = Path(__file__).parent
MIGRATIONS = HERE.parent.parent / "src" / "core" / "store" / "migrations"
N_STEPS = 1000
EXPECTED = sum(range(N_STEPS))


def run_chain(home, counter, root_file, kill_at=None, resume_from=None):
    env = dict(os.environ, SEMATIC_HOME=str(home), COUNTER_FILE=str(counter),
               SEMATIC_PROGRESS="0", PYTHONPATH=str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("KILL_AT", None)
    if kill_at is not None:
        env["KILL_AT"] = str(kill_at)
    args = [sys.executable, "-m", "pipelines.counted_chain", str(N_STEPS), str(root_file)]
    if resume_from:
        args.append(resume_from)
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)


def counts(counter):
    if not counter.exists():
        return collections.Counter()
    return collections.Counter(int(x) for x in counter.read_text().split())


def resolved_steps(home, root_id):
    db = sqlite3.connect(str(home / "sematic.db"))
    rows = db.execute(
        "SELECT name FROM runs WHERE root_id = ? AND state = 3 AND name LIKE 'step-%'",
        (root_id,),
    ).fetchall()
    db.close()
    return {int(name.split("-")[1]) for (name,) in rows}


def check_resolved_outputs(home):
    """Every RESOLVED run's output artifact exists and its bytes hash to its id."""
    db = sqlite3.connect(str(home / "sematic.db"))
    rows = db.execute(
        "SELECT DISTINCT e.artifact_id FROM runs r JOIN edges e ON e.source_run_id = r.id "
        "WHERE r.state = 3 AND e.artifact_id IS NOT NULL"
    ).fetchall()
    checked = 0
    for (artifact_id,) in rows:
        row = db.execute(
            "SELECT type_json, payload, blob_key FROM artifacts WHERE id = ?", (artifact_id,)
        ).fetchone()
        assert row is not None, f"artifact {artifact_id} of a RESOLVED run is missing"
        type_json, payload, blob_key = row
        if blob_key:
            payload = (home / "blobs" / blob_key[:2] / blob_key[2:]).read_bytes()
        if isinstance(payload, str):
            payload = payload.encode()
        digest = hashlib.sha256(type_json.encode() + b"\n" + payload).hexdigest()
        assert digest == artifact_id, f"artifact {artifact_id} hashes to {digest}"
        checked += 1
    db.close()
    store = _core.Store(str(home))
    for (artifact_id,) in rows[:50]:
        store.artifact(artifact_id)  # the store's own check
    store.close()
    return checked


def test_durability__sigkilled_drivers_resume_without_running_resolved_steps_twice(tmp_path):
    rng = random.Random(20261122)
    for attempt in range(10):
        home, counter, root_file = tmp_path / f"h{attempt}", tmp_path / f"c{attempt}", tmp_path / f"r{attempt}"
        # Two seeded crashes per attempt: the first run, then the first resume.
        first_kill = rng.randrange(1, N_STEPS - 1)
        second_kill = rng.randrange(first_kill, N_STEPS)
        result = run_chain(home, counter, root_file, kill_at=first_kill)
        assert result.returncode == -9, result.stderr
        roots = [root_file.read_text()]
        for kill_at in (second_kill, None):
            assert check_resolved_outputs(home) >= 0
            before = counts(counter)
            resolved = resolved_steps(home, roots[-1])
            prior = set().union(*(resolved_steps(home, r) for r in roots))
            result = run_chain(home, counter, root_file, kill_at=kill_at, resume_from=roots[-1])
            after = counts(counter)
            ran_again = {i for i in prior if after[i] > before[i]}
            assert not ran_again, f"resolved steps ran again after resume: {sorted(ran_again)[:10]}"
            assert resolved <= prior
            roots.append(root_file.read_text())
            if kill_at is None:
                assert result.returncode == 0, result.stderr
                assert result.stdout.strip().endswith(str(EXPECTED))
            else:
                assert result.returncode == -9, result.stderr
        # Every step ran; only the step in flight at each crash ran twice (the journal keeps
        # what resolved before it, even when its batch was not committed).
        final = counts(counter)
        assert set(final) == set(range(N_STEPS))
        twice = sorted(i for i, c in final.items() if c > 1)
        assert twice == sorted({first_kill, second_kill}), (twice, first_kill, second_kill)
        assert check_resolved_outputs(home) > 0


def test_durability__two_local_runners_write_one_store_at_once(tmp_path):
    home = tmp_path / "home"
    procs = []
    for k in range(2):
        env = dict(os.environ, SEMATIC_HOME=str(home), COUNTER_FILE=str(tmp_path / f"c{k}"),
                   SEMATIC_PROGRESS="0", SEMATIC_COMMIT_INTERVAL_MS="1",
                   PYTHONPATH=str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "pipelines.counted_chain", str(N_STEPS), str(tmp_path / f"r{k}")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert out.strip().endswith(str(EXPECTED))
    db = sqlite3.connect(str(home / "sematic.db"))
    for k in range(2):
        root = (tmp_path / f"r{k}").read_text()
        (n,) = db.execute("SELECT COUNT(*) FROM runs WHERE root_id = ? AND state = 3", (root,)).fetchone()
        assert n == N_STEPS + 1
        (status,) = db.execute("SELECT status FROM pipeline_runs WHERE root_id = ?", (root,)).fetchone()
        assert status == "COMPLETE"
    db.close()


@sematic.func
def big(n: int) -> str:
    return "x" * n


@sematic.func
def grow(previous: str, n: int) -> str:
    return previous[:1] + "y" * n


@sematic.func
def many_big(n: int, k: int) -> str:
    last = big(n)
    for i in range(k):
        last = grow(last, n + i + 1)
    return last


def _mount_tmpfs(path, size):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")


def test_durability__a_full_disk_is_a_clear_error_and_the_store_stays_readable(tmp_path, monkeypatch):
    home = tmp_path / "small"
    _mount_tmpfs(home, "2m")
    try:
        monkeypatch.setenv("SEMATIC_HOME", str(home))
        monkeypatch.setenv("SEMATIC_PROGRESS", "0")
        ok = big(10)
        assert LocalRunner().run(ok) == "x" * 10
        with pytest.raises(Exception) as info:
            LocalRunner().run(many_big(100_000, 60))
        text = str(info.value) + str(info.value.__context__ or "")
        assert "no space left on device" in text, text
        assert str(home) in text, text
        # What was committed before is still there and readable.
        assert api_client.get_run_output(ok.id) == "x" * 10
        assert api_client.get_run(ok.id).future_state == "RESOLVED"
    finally:
        # Nothing of ours may keep the tmpfs busy (open files): a plain umount must work.
        unmounted = subprocess.run(["umount", str(home)], capture_output=True, text=True)
        if unmounted.returncode != 0:
            subprocess.run(["umount", "-l", str(home)], check=False)
        assert unmounted.returncode == 0, unmounted.stderr


def test_durability__a_corrupted_or_truncated_blob_is_detected_on_read(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("SEMATIC_HOME", str(home))
    monkeypatch.setenv("SEMATIC_PROGRESS", "0")
    future = big(100_000)
    LocalRunner().run(future)
    blobs = [p for p in (home / "blobs").rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert blobs, "a 100 KB value should be stored as a blob"
    (blob,) = blobs
    data = blob.read_bytes()
    blob.write_bytes(data[: len(data) // 2])
    with pytest.raises(_core.SematicError, match="corrupted") as info:
        api_client.get_run_output(future.id)
    assert info.value.code_name == "SM_ECORRUPT"
    blob.write_bytes(data[:-1] + b"y")
    with pytest.raises(_core.SematicError, match="corrupted"):
        api_client.get_run_output(future.id)
    blob.write_bytes(data)
    assert api_client.get_run_output(future.id) == "x" * 100_000


def _cli():
    return os.environ.get("SEMATIC_CLI") or str(Path(sys.executable).parent / "sematic")


def _wait_for(path, proc, deadline_s=60):
    import time

    end = time.monotonic() + deadline_s
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, f"{path} did not appear within {deadline_s} s"
        time.sleep(0.01)


def _wait_for_row(home, sql, arg, proc, deadline_s=60):
    """Until the store shows the row (records are committed within one batch interval)."""
    import time

    end = time.monotonic() + deadline_s
    while True:
        try:
            db = sqlite3.connect(str(home / "sematic.db"))
            try:
                if db.execute(sql, (arg,)).fetchone():
                    return
            finally:
                db.close()
        except sqlite3.OperationalError:
            pass  # not created yet
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, f"no row for {sql!r} within {deadline_s} s"
        time.sleep(0.01)


def test_durability__sematic_cancel_stops_a_running_driver_and_records_it(tmp_path):
    home, root_file, marker = tmp_path / "home", tmp_path / "root", tmp_path / "marker"
    env = dict(os.environ, SEMATIC_HOME=str(home), SEMATIC_PROGRESS="0",
               PYTHONPATH=str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.waiting", str(root_file), str(marker)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(marker, proc)
        root = root_file.read_text()
        _wait_for_row(home, "SELECT 1 FROM runs WHERE root_id = ? AND name = 'wait' AND state = 1",
                      root, proc)
        # Its printed line is readable while it runs: `sematic logs -f` shows it, then ends
        # when the run does.
        db = sqlite3.connect(str(home / "sematic.db"))
        (wait_id,) = db.execute("SELECT id FROM runs WHERE root_id = ? AND name = 'wait'",
                                (root,)).fetchone()
        db.close()
        follow = subprocess.Popen([_cli(), "logs", "-f", wait_id], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        assert follow.stdout.readline() == "waiting\n"
        result = subprocess.run([_cli(), "cancel", "-y", root], env=env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        out, err = proc.communicate(timeout=60)
        follow_out, follow_err = follow.communicate(timeout=60)
    finally:
        proc.kill()
    assert "CancellationError" in err and "signal 15" in err
    db = sqlite3.connect(str(home / "sematic.db"))
    (status,) = db.execute("SELECT status FROM pipeline_runs WHERE root_id = ?", (root,)).fetchone()
    states = dict(db.execute("SELECT name, state FROM runs WHERE root_id = ?", (root,)).fetchall())
    lines = [t for (t,) in db.execute("SELECT text FROM logs")]
    db.close()
    assert status == "CANCELED"
    assert states == {"pipeline": 7, "first": 3, "wait": 7}  # CANCELED, RESOLVED, CANCELED
    assert lines == ["waiting"]
    assert follow_out == "", follow_out  # nothing after the line already read
    assert follow.returncode == 0, follow_err


def test_durability__sematic_rerun_continue_resumes_a_killed_pipeline(tmp_path):
    home, counter, root_file = tmp_path / "home", tmp_path / "counter", tmp_path / "root"
    result = run_chain(home, counter, root_file, kill_at=700)
    assert result.returncode == -9
    root = root_file.read_text()
    resolved = resolved_steps(home, root)
    before = counts(counter)
    env = dict(os.environ, SEMATIC_HOME=str(home), COUNTER_FILE=str(counter), SEMATIC_PROGRESS="0")
    env.pop("KILL_AT", None)
    env["PYTHONPATH"] = str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")
    rerun = subprocess.run([_cli(), "rerun", root, "--continue"], env=env, capture_output=True,
                           text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resolved to {EXPECTED}" in rerun.stdout
    after = counts(counter)
    assert not [i for i in resolved if after[i] > before[i]]
    assert set(after) == set(range(N_STEPS))
    # Steps 0..699 resolved before the crash (committed or journaled): only the rest ran.
    assert sum(after.values()) - sum(before.values()) == N_STEPS - 700
    # The resumed pipeline run is over (marked FAILED): sematic gc deletes its journal; the
    # new one ended normally and deleted its own.
    journal = home / "journal" / f"{root}.log"
    assert journal.exists()
    gc = subprocess.run([_cli(), "gc"], env=env, capture_output=True, text=True, timeout=60)
    assert gc.returncode == 0, gc.stderr
    assert "removed 1 journal of finished pipeline runs" in gc.stdout
    assert list((home / "journal").iterdir()) == []


def test_durability__progress_prints_plain_lines_when_not_a_terminal(tmp_path):
    home, counter, root_file = tmp_path / "home", tmp_path / "counter", tmp_path / "root"
    env = dict(os.environ, SEMATIC_HOME=str(home), COUNTER_FILE=str(counter), SEMATIC_PROGRESS="1",
               PYTHONPATH=str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("KILL_AT", None)
    result = subprocess.run([sys.executable, "-m", "pipelines.counted_chain", "50", str(root_file)],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    root = root_file.read_text()
    lines = result.stdout.splitlines()
    assert lines[0] == f"sematic: pipeline run {root} started"
    assert lines[-2].startswith("sematic: 51/51 runs resolved, ")
    assert lines[-2].endswith(f"; see it with: sematic show {root}")
    assert lines[-1] == str(sum(range(50)))


def test_durability__processes_opening_a_fresh_store_together_all_succeed(tmp_path):
    """SQLite answers BUSY at once (no busy handler) while another connection switches the
    file to WAL or migrates it; opening (while others already write) must wait, not fail."""
    code = (
        "import hashlib, sys\n"
        "from sematic import _core\n"
        "s = _core.Store(sys.argv[1])\n"
        "for i in range(30):\n"
        "    t, p = '{}', str(i)\n"
        "    s.put_artifact(hashlib.sha256(f'{t}\\n{p}'.encode()).hexdigest(), t, p, p)\n"
        "s.close()\n"
    )
    for attempt in range(5):
        home = tmp_path / f"h{attempt}"
        procs = [subprocess.Popen([sys.executable, "-c", code, str(home)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(8)]
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        db = sqlite3.connect(str(home / "sematic.db"))
        (n,) = db.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()
        db.close()
        # Every migration applied, each once.
        assert n == len(list(MIGRATIONS.glob("[0-9][0-9][0-9]_*.sql")))
