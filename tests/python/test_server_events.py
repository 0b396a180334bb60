"""GET /api/v1/events: the store's changes as server-sent events, against the real server.

Pipelines run with our LocalRunner (``sematic.LocalRunner`` from the package under test) in
a thread of this process, on the server's SEMATIC_HOME, while a small SSE reader (a thread
per stream, over http.client) hands events to the test through a queue; the test takes
them with deadlines and fails with what it saw. No sleeps: where an order matters (the
pipeline seen RUNNING before it completes), a step waits for the test to have seen it.

What is asserted: each run's states arrive in lifecycle order and end where the store
ends; the pipeline goes RUNNING -> COMPLETE (FAILED, with FAILED / NESTED_FAILED runs, when
a step raises); a step's printed lines arrive once, with their stream; a note posted
through the API arrives; a stream resumed with Last-Event-ID (or ?after=) gets exactly
the events that followed, none twice, none missing; ?root_id= and ?kinds= filter; bad
parameters are 400s with a message; the cap is a 503; keepalive comments come; the server
stopping ends the stream; many streams at once all see everything. The latency from a
commit to its event reaching a client is measured and printed (-s shows it).
"""
from __future__ import annotations

import http.client
import json
import os
import queue
import socket
import statistics
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import pytest

import sematic
from sematic import _core
from sematic.utils.exceptions import PipelineRunError

from server_fixture import start_server

EVENT_TIMEOUT_S = 60.0
STATE_RANK = {
    "CREATED": 0,
    "SCHEDULED": 1,
    "RETRYING": 1,
    "RAN": 2,
    "RESOLVED": 3,
    "FAILED": 3,
    "NESTED_FAILED": 3,
    "CANCELED": 3,
}


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


# ---------------------------------------------------------------- the SSE reader


class EventStream:
    """One GET /api/v1/events; a thread parses events into a queue as they arrive.

    Each event is a dict of its fields ("id", "event", "data" parsed as JSON) plus "t",
    the time.time() it was read; "comments" lists comment lines since the last event.
    """

    def __init__(self, srv, query: str = "", headers: Optional[Dict[str, str]] = None):
        self.conn = srv.connection(timeout=300)
        self.conn.request("GET", "/api/v1/events" + query, headers=headers or {})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}
        self.queue: "queue.Queue[Optional[Dict[str, Any]]]" = queue.Queue()
        self.seen: List[Dict[str, Any]] = []
        self.comments: List[str] = []
        self.retry: Optional[str] = None
        self.ended = False
        if self.status == 200:
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()
        else:
            self.body = self.resp.read()

    def _read(self) -> None:
        current: Dict[str, Any] = {}
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                text = line.decode()
                assert text.endswith("\n"), f"a line without its end: {text!r}"
                text = text[:-1]
                if text == "":
                    if "data" in current:
                        current["data"] = json.loads(current["data"])
                        current["t"] = time.time()
                        self.queue.put(current)
                    current = {}
                elif text.startswith(":"):
                    self.comments.append(text[1:].strip())
                else:
                    key, _, value = text.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if key == "retry":
                        self.retry = value
                    elif key == "data" and "data" in current:
                        current["data"] += "\n" + value
                    else:
                        current[key] = value
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass  # closed by the test (http.client drops its file object on close)
        self.queue.put(None)

    def next(self, deadline: float) -> Optional[Dict[str, Any]]:
        """The next event, or None when the stream ended; fails at the deadline."""
        try:
            e = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"no event before the deadline; last seen: {self.seen[-5:]}")
        if e is None:
            self.ended = True
        else:
            self.seen.append(e)
        return e

    def until(
        self, pred: Callable[[Dict[str, Any]], bool], timeout: float = EVENT_TIMEOUT_S
    ) -> List[Dict[str, Any]]:
        """The events taken until one satisfies pred (included)."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            e = self.next(deadline)
            if e is None:
                pytest.fail(f"the stream ended before the event waited for; seen: {got}")
            got.append(e)
            if pred(e):
                return got

    def through(self, pred: Callable[[Dict[str, Any]], bool]) -> List[Dict[str, Any]]:
        """until(pred), then the rest of that event's change sequence (up to its id line):
        a commit's events come together, and the status may not be the last of them."""
        got = self.until(pred)
        while "id" not in got[-1]:
            got += self.until(lambda e: True)
        return got

    def close(self) -> None:
        sock = self.conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the reader thread
            except OSError:
                pass
        if self.status == 200:
            self.thread.join(30)
        self.conn.close()


def is_status(root: str, status: str) -> Callable[[Dict[str, Any]], bool]:
    return lambda e: (
        e.get("event") == "pipeline_status"
        and e["data"].get("root_id") == root
        and e["data"].get("status") == status
    )


def open_stream(srv, query: str = "", headers=None) -> EventStream:
    """A stream, once it has said where it starts (so what follows is after it)."""
    s = EventStream(srv, query, headers)
    assert s.status == 200, (s.status, getattr(s, "body", b""))
    first = s.until(lambda e: True, timeout=30)[0]
    assert first["event"] == "start", first
    return s


def runs_by_id(events: List[Dict[str, Any]]) -> Dict[str, List[Dict[str, Any]]]:
    """Each run's records, in the order they arrived."""
    out: Dict[str, List[Dict[str, Any]]] = {}
    for e in events:
        if e.get("event") == "runs":
            for r in e["data"]["runs"]:
                out.setdefault(r["id"], []).append(r)
    return out


def assert_states_in_order(runs: Dict[str, List[Dict[str, Any]]]) -> None:
    for run_id, records in runs.items():
        states = [r["future_state"] for r in records]
        ranks = [STATE_RANK[s] for s in states]
        assert ranks == sorted(ranks), f"run {run_id} went {states}"
        terminal = [s for s in states if STATE_RANK[s] == 3]
        assert len(set(terminal)) <= 1, f"run {run_id} went {states}"


def store_runs(home, root: str) -> Dict[str, Dict[str, Any]]:
    store = _core.Store(str(home))
    try:
        return {r["id"]: r for r in json.loads(store.graph(root))["runs"]}
    finally:
        store.close()


class Background:
    """LocalRunner().run(future) in a thread (the test reads events meanwhile)."""

    def __init__(self, future, **runner_kwargs):
        self.future = future
        self.result: Any = None
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, args=(runner_kwargs,), daemon=True)
        self.thread.start()

    def _run(self, kwargs) -> None:
        try:
            self.result = sematic.LocalRunner(**kwargs).run(self.future)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            self.error = e

    def join(self, timeout: float = 120) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the pipeline did not finish"
        return self.result


# ---------------------------------------------------------------- pipelines

GATES: Dict[str, threading.Event] = {}


@sematic.func
def shout(n: int) -> int:
    for i in range(3):
        print(f"shout {n} line {i}")
    print(f"shout {n} to stderr", file=sys.stderr)
    return 2 * n


@sematic.func
def gate(x: int, name: str) -> int:
    # Wait (bounded) until the test says so: lets it see the pipeline RUNNING first.
    GATES[name].wait(EVENT_TIMEOUT_S)
    return x


@sematic.func
def add(a: int, b: int) -> int:
    return a + b


@sematic.func
def live_pipeline(n: int, name: str) -> int:
    return add(shout(gate(n, name)), shout(n + 1))


@sematic.func
def small_pipeline(n: int) -> int:
    return add(shout(n), n)


@sematic.func
def explode(x: int) -> int:
    raise ValueError("boom")


@sematic.func
def failing_pipeline(n: int) -> int:
    return add(explode(n), n)


def gated(name: str) -> threading.Event:
    GATES[name] = threading.Event()
    return GATES[name]


# ---------------------------------------------------------------- tests


def test_events__a_live_pipeline_streams_states_logs_and_status(server):
    stream = open_stream(server)
    opened = gated("live")
    future = live_pipeline(5, "live")
    root = future.id
    bg = Background(future)
    try:
        seen = stream.until(is_status(root, "RUNNING"))
        opened.set()
        seen += stream.through(is_status(root, "COMPLETE"))
    finally:
        opened.set()
    assert bg.join() == 10 + 12
    assert bg.error is None
    stream.close()
    complete = next(e for e in seen if is_status(root, "COMPLETE")(e))

    runs = runs_by_id(seen)
    assert_states_in_order(runs)
    final = store_runs(server.home, root)
    assert set(runs) == set(final), "every run of the pipeline is sent"
    for run_id, records in runs.items():
        assert records[-1]["future_state"] == final[run_id]["future_state"] == "RESOLVED"
        assert records[-1]["root_id"] == root
        assert records[-1]["name"] == final[run_id]["name"]
        assert records[-1]["function_path"] == final[run_id]["function_path"]
    assert runs[root][-1]["parent_id"] is None
    assert sorted(r[-1]["name"] for r in runs.values()) == [
        "add",
        "gate",
        "live_pipeline",
        "shout",
        "shout",
    ]
    # The runner may write SCHEDULED first; RUNNING is seen (the gate waited for it).
    statuses = [e["data"]["status"] for e in seen if e["event"] == "pipeline_status"]
    assert statuses in (["RUNNING", "COMPLETE"], ["SCHEDULED", "RUNNING", "COMPLETE"]), statuses
    assert complete["data"]["ended_at"] is not None

    # Each printed line once, with its stream, in order, tagged with its run and root.
    lines = [
        (e["data"]["run_id"], line["stream"], line["text"], line["id"])
        for e in seen
        if e["event"] == "logs"
        for line in e["data"]["lines"]
    ]
    ids = [line[3] for line in lines]
    assert len(ids) == len(set(ids)), f"a line came twice: {lines}"
    texts = sorted((stream_name, text) for _, stream_name, text, _ in lines)
    assert texts == sorted(
        [("stdout", f"shout {n} line {i}") for n in (5, 6) for i in range(3)]
        + [("stderr", "shout 5 to stderr"), ("stderr", "shout 6 to stderr")]
    )
    shout_runs = {r for r, rec in runs.items() if rec[-1]["name"] == "shout"}
    assert {line[0] for line in lines} == shout_runs
    assert all(e["data"]["root_id"] == root for e in seen if e["event"] == "logs")
    assert any(e["event"] == "edges" and root in e["data"]["root_ids"] for e in seen)

    # Ids: increasing change sequences, on the last event of each.
    seqs = [int(e["id"]) for e in seen if "id" in e]
    assert seqs == sorted(set(seqs)), seqs

    # Latency, end to end: a run's state change (its updated_at, set by the runner) to the
    # event in our hands, through the runner's batching (at most 5 ms), its commit, the
    # watcher's wake-up and the stream. CREATED records are deferred by the runner: left out.
    lat = [
        e["t"] - parse_time(r["updated_at"])
        for e in seen
        if e["event"] == "runs"
        for r in e["data"]["runs"]
        if r["future_state"] != "CREATED"
    ]
    print(f"\nstate change -> event: median {1000 * statistics.median(lat):.1f} ms, "
          f"max {1000 * max(lat):.1f} ms over {len(lat)} run records")


def parse_time(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


def test_events__a_note_through_the_api_and_the_latency_of_commits(server):
    f = small_pipeline(1)
    assert sematic.LocalRunner().run(f) == 3
    stream = open_stream(server, "?kinds=note")
    samples = []
    for i in range(40):
        if i >= 20:
            # Pace the second half 20 ms apart, so each commit is measured alone: the watcher
            # wakes streams at most every 10 ms, and the first half, back to back, shows that.
            time.sleep(0.02)
        body = json.dumps({"note": {"note": f"note {i}", "run_id": f.id, "root_id": f.id}})
        before = time.time()
        status, _, answer = server.request(
            "POST", "/api/v1/notes", body.encode(), {"Content-Type": "application/json"}
        )
        after = time.time()
        assert status == 200, answer
        posted = json.loads(answer)["content"]
        note_id = posted["id"]
        (e,) = stream.until(lambda e: True)
        assert e["event"] == "note"
        assert e["data"]["id"] == note_id
        assert e["data"]["deleted"] is False
        assert (e["data"]["run_id"], e["data"]["root_id"]) == (f.id, f.id)
        assert e["data"]["note"]["note"] == f"note {i}"
        # The note as the API shows it, author ("user") included: the dashboard renders either.
        assert e["data"]["note"] == posted
        samples.append((e["t"] - before, e["t"] - after))
    status, _, _ = server.request("DELETE", f"/api/v1/notes/{note_id}")
    assert status == 200
    (e,) = stream.until(lambda e: True)
    assert (e["event"], e["data"]["id"], e["data"]["deleted"], e["data"]["note"]) == (
        "note",
        note_id,
        True,
        None,
    )
    stream.close()
    for label, part in (("back to back", samples[:20]), ("20 ms apart", samples[20:])):
        from_request = sorted(s[0] for s in part)
        from_answer = sorted(s[1] for s in part)
        print(
            f"\ncommit -> event, 20 notes {label}: median"
            f" {1000 * statistics.median(from_answer):.2f} ms after the POST's answer (max"
            f" {1000 * from_answer[-1]:.2f}), {1000 * statistics.median(from_request):.2f} ms"
            f" after it was sent"
        )
    assert statistics.median(s[0] for s in samples) < 1.0, samples


def by_sequence(events: List[Dict[str, Any]]):
    """The events' records: [(seq, event, data)] of all but `logs`, and [(line id, run id)].

    A change sequence's events end with the one carrying its `id:`. Log lines are apart
    because a stream reads a run's lines when it first sends them, so which event of a
    run carries a line depends on when the stream read it; each line carries its id.
    """
    records, lines, group = [], [], []
    for e in events:
        group.append(e)
        if "id" in e:
            for g in group:
                if g["event"] == "logs":
                    lines += [(line["id"], g["data"]["run_id"]) for line in g["data"]["lines"]]
                else:
                    records.append((int(e["id"]), g["event"], g["data"]))
            group = []
    assert not group, f"events after the last id line: {group}"
    return records, lines


def logs_rows(home) -> List[Any]:
    """The store's `logs` change rows: (seq, run ids)."""
    import sqlite3

    db = sqlite3.connect(str(home / "sematic.db"))
    try:
        rows = db.execute("SELECT seq, payload FROM events WHERE kind = 'logs' ORDER BY seq")
        return [(seq, set(payload.split(","))) for seq, payload in rows]
    finally:
        db.close()


def test_events__last_event_id_resumes_with_exactly_the_missed_events(server):
    # Three pipelines and a failing one, read whole by a stream from the start once done.
    roots = []
    for n in range(3):
        f = small_pipeline(n)
        sematic.LocalRunner().run(f)
        roots.append(f.id)
    f = failing_pipeline(1)
    with pytest.raises(PipelineRunError):
        sematic.LocalRunner().run(f)
    roots.append(f.id)

    def read_all(query: str = "", headers=None, last: Optional[str] = None) -> List[Dict]:
        """Events up to the one with id `last` (None: the FAILED status and its sequence)."""
        s = open_stream(server, query, headers)
        if last is None:
            got = s.through(is_status(roots[-1], "FAILED"))
        else:
            got = s.until(lambda e: e.get("id") == last)
        s.close()
        return [{k: e[k] for k in ("id", "event", "data") if k in e} for e in got]

    full = read_all("?after=0")
    last = full[-1]["id"]
    ids = [int(e["id"]) for e in full if "id" in e]
    assert len(ids) >= 4 and ids == sorted(set(ids))
    records, lines = by_sequence(full)
    assert len(lines) == len({i for i, _ in lines}) == 3 * 4  # each shout prints 4 lines
    logged = logs_rows(server.home)

    def check_resumed(after: int, got: List[Dict[str, Any]]) -> None:
        got_records, got_lines = by_sequence(got)
        # Every record after the resume point, each once, none before it.
        assert got_records == [r for r in records if r[0] > after], f"after {after}"
        # Every line not had before, each once; a line had before comes again only for a run
        # that wrote lines on both sides of the resume point (its floor: docs/server.md).
        had = {line for line in lines if any(seq <= after and line[1] in runs
                                            for seq, runs in logged)}
        assert len(got_lines) == len(set(got_lines)), got_lines
        assert set(got_lines) | had == set(lines)
        both = {r for _, r in had if any(seq > after and r in runs for seq, runs in logged)}
        assert {r for _, r in set(got_lines) & had} <= both

    # From every id: exactly what followed it, whether by the header or by ?after=.
    for e in full[:-1]:
        if "id" in e:
            check_resumed(int(e["id"]), read_all(headers={"Last-Event-ID": e["id"]}, last=last))
    middle = ids[len(ids) // 2]
    check_resumed(middle, read_all(f"?after={middle}", last=last))
    # The header wins over the URL's after= (a browser reconnects with both).
    check_resumed(middle, read_all("?after=0", headers={"Last-Event-ID": str(middle)}, last=last))
    # From the last id, what comes next is the next change, nothing older.
    s = open_stream(server, headers={"Last-Event-ID": last})
    f = small_pipeline(99)
    sematic.LocalRunner().run(f)
    got = s.through(lambda e: True)
    s.close()
    assert int(got[-1]["id"]) > int(last)
    assert all(f.id in json.dumps(e["data"]) for e in got), got


def test_events__a_stream_cut_off_mid_pipeline_resumes_without_gaps(server):
    first = open_stream(server)
    opened = gated("cut")
    future = live_pipeline(1, "cut")
    root = future.id
    bg = Background(future)
    try:
        before = first.through(is_status(root, "RUNNING"))
        last_id = before[-1]["id"]
        first.close()  # the connection drops here
        opened.set()  # the pipeline goes on meanwhile
        bg.join()
    finally:
        opened.set()
    second = open_stream(server, headers={"Last-Event-ID": last_id})
    after = second.through(is_status(root, "COMPLETE"))
    second.close()
    assert all(int(e["id"]) > int(last_id) for e in after if "id" in e)
    runs = runs_by_id(before + after)
    assert_states_in_order(runs)
    final = store_runs(server.home, root)
    assert {r: rec[-1]["future_state"] for r, rec in runs.items()} == {
        r: rec["future_state"] for r, rec in final.items()
    }
    # Nothing the first stream had comes again: no run record, status or log line.
    def records(events):
        out = []
        for e in events:
            d = e["data"]
            if e["event"] == "runs":
                out += [("run", r["id"], r["future_state"], r["updated_at"]) for r in d["runs"]]
            elif e["event"] == "pipeline_status":
                out.append(("status", d["status"], d["updated_at"]))
            elif e["event"] == "logs":
                out += [("line", line["id"]) for line in d["lines"]]
        return out

    first_records, second_records = records(before), records(after)
    assert len(set(second_records)) == len(second_records)
    repeated = set(first_records) & set(second_records)
    # Only log lines may come again, of a run that wrote lines on both sides of the cut.
    assert {r[0] for r in repeated} <= {"line"}, repeated
    cut = int(last_id)
    logged = logs_rows(server.home)
    both = {r for seq, runs in logged if seq <= cut for r in runs} & {
        r for seq, runs in logged if seq > cut for r in runs
    }
    line_runs = {
        line["id"]: e["data"]["run_id"] for e in before + after if e["event"] == "logs"
        for line in e["data"]["lines"]
    }
    assert {line_runs[r[1]] for r in repeated} <= both
    lines = sorted({r[1] for r in first_records + second_records if r[0] == "line"})
    assert lines == list(range(1, 9)), lines  # every line: 2 shouts x 4


def test_events__root_id_keeps_one_pipeline(server):
    watched = small_pipeline(30)
    stream = open_stream(server, f"?root_id={watched.id}")
    other = small_pipeline(40)
    sematic.LocalRunner().run(other)
    sematic.LocalRunner().run(watched)
    got = stream.through(is_status(watched.id, "COMPLETE"))
    stream.close()
    assert other.id not in json.dumps([e["data"] for e in got])
    for e in got:
        d = e["data"]
        if e["event"] == "runs":
            assert {r["root_id"] for r in d["runs"]} == {watched.id}
        elif e["event"] == "edges":
            assert d["root_ids"] == [watched.id]
        else:
            assert d["root_id"] == watched.id, e
    kinds = {e["event"] for e in got}
    assert {"runs", "edges", "logs", "pipeline_status"} <= kinds
    assert set(runs_by_id(got)) == set(store_runs(server.home, watched.id))


def test_events__a_failing_pipeline_sends_failed_and_nested_failed(server):
    stream = open_stream(server, "?kinds=runs,pipeline_status")
    f = failing_pipeline(3)
    with pytest.raises(PipelineRunError, match="boom"):
        sematic.LocalRunner().run(f)
    got = stream.until(is_status(f.id, "FAILED"))
    stream.close()
    assert {e["event"] for e in got} <= {"runs", "pipeline_status"}
    runs = runs_by_id(got)
    assert_states_in_order(runs)
    final = {r[-1]["name"]: r[-1]["future_state"] for r in runs.values()}
    assert final["explode"] == "FAILED"
    assert final["failing_pipeline"] == "NESTED_FAILED"
    stored = store_runs(server.home, f.id)
    assert {r: rec[-1]["future_state"] for r, rec in runs.items()} == {
        r: rec["future_state"] for r, rec in stored.items()
    }
    statuses = [e["data"]["status"] for e in got if e["event"] == "pipeline_status"]
    assert statuses[-1] == "FAILED"


def test_events__a_cancel_sends_the_canceled_runs_and_status(server):
    stream = open_stream(server, "?kinds=runs,pipeline_status")
    opened = gated("cancel")
    future = live_pipeline(2, "cancel")
    root = future.id
    bg = Background(future)
    try:
        # The gate step is running (and recorded so): cancel as `sematic cancel` does.
        stream.until(
            lambda e: e["event"] == "runs"
            and any(r["name"] == "gate" and r["future_state"] == "SCHEDULED" for r in e["data"]["runs"])
        )
        store = _core.Store(str(server.home))
        before = time.time()
        store.set_pipeline_status(root, "CANCELED")
        after = time.time()
        store.close()
        got = stream.until(is_status(root, "CANCELED"))
    finally:
        opened.set()
    bg.join()
    stream.close()
    canceled = [
        r["name"] for e in got if e["event"] == "runs" for r in e["data"]["runs"]
        if r["future_state"] == "CANCELED"
    ]
    assert "gate" in canceled, got
    print(
        f"\nset_pipeline_status -> event: {1000 * (got[-1]['t'] - after):.2f} ms after it"
        f" returned ({1000 * (got[-1]['t'] - before):.2f} ms after it was called)"
    )


def test_events__kinds_keeps_those_kinds(server):
    stream = open_stream(server, "?kinds=pipeline_status,logs")
    f = small_pipeline(7)
    sematic.LocalRunner().run(f)
    got = stream.through(is_status(f.id, "COMPLETE"))
    stream.close()
    assert {e["event"] for e in got} == {"pipeline_status", "logs"}


@pytest.mark.parametrize(
    "query,headers,message",
    [
        (
            "?after=abc",
            {},
            "invalid after 'abc': expected a change sequence number (digits, 0 to "
            "9223372036854775807), as sent in an event's 'id:' line",
        ),
        (
            "?after=-1",
            {},
            "invalid after '-1': expected a change sequence number (digits, 0 to "
            "9223372036854775807), as sent in an event's 'id:' line",
        ),
        (
            "",
            {"Last-Event-ID": "12x"},
            "invalid Last-Event-ID '12x': expected a change sequence number (digits, 0 to "
            "9223372036854775807), as sent in an event's 'id:' line",
        ),
        (
            "?kinds=runs,bogus",
            {},
            "unknown event kind 'bogus' in kinds: expected a comma-separated list of runs, "
            "edges, pipeline_status, note, metrics, logs",
        ),
        (
            "?kinds=",
            {},
            "kinds is empty: expected a comma-separated list of runs, edges, pipeline_status, "
            "note, metrics, logs, or no kinds parameter for all of them",
        ),
        (
            "?root_id=abc",
            {},
            "invalid root_id 'abc': expected the id of a pipeline run (its root run), 32 "
            "lower-case hex digits",
        ),
    ],
)
def test_events__bad_parameters_are_400_with_a_message(server, query, headers, message):
    status, hdrs, body = server.request("GET", "/api/v1/events" + query, headers=headers)
    assert status == 400
    assert hdrs["content-type"] == "application/json"
    assert json.loads(body) == {"error": message}


def test_events__headers_start_and_method(server):
    s = EventStream(server)
    assert s.status == 200
    assert s.headers["content-type"] == "text/event-stream"
    assert s.headers["cache-control"] == "no-cache"
    assert s.headers["transfer-encoding"] == "chunked"
    start = s.until(lambda e: True)[0]
    assert s.retry == "3000"
    assert (start["event"], start["data"]) == ("start", {"after": int(start["id"])})
    s.close()
    # Resuming from the future (another store's id) starts from now, and says so.
    s = EventStream(server, headers={"Last-Event-ID": "999999"})
    start = s.until(lambda e: True)[0]
    assert int(start["id"]) < 999999
    assert any("is past the store's last change" in c for c in s.comments), s.comments
    s.close()
    status, hdrs, body = server.request("HEAD", "/api/v1/events")
    assert (status, hdrs["content-type"], body) == (200, "text/event-stream", b"")
    status, hdrs, body = server.request("POST", "/api/v1/events")
    assert status == 405


def test_events__keepalive_comments_keep_an_idle_stream_alive(tmp_path):
    srv = start_server(tmp_path / "home", env={"SEMATIC_SERVER_EVENTS_KEEPALIVE_MS": "100"})
    try:
        s = open_stream(srv)
        deadline = time.monotonic() + 30
        while s.comments.count("keepalive") < 3:
            assert time.monotonic() < deadline, f"comments: {s.comments}"
            try:
                e = s.queue.get(timeout=0.05)  # no events come; we wait on the reader
                pytest.fail(f"an event on an idle store: {e}")
            except queue.Empty:
                pass
        s.close()
    finally:
        srv.stop()


def test_events__the_server_stopping_ends_the_stream(tmp_path):
    srv = start_server(tmp_path / "home")
    s = open_stream(srv)
    started = time.monotonic()
    srv.stop()  # asserts exit 0 and no sanitizer report
    assert s.next(time.monotonic() + 10) is None  # the stream ended, cleanly
    assert time.monotonic() - started < 10
    s.close()


def test_events__streams_over_the_cap_are_503(tmp_path):
    srv = start_server(tmp_path / "home", env={"SEMATIC_SERVER_EVENTS_MAX_STREAMS": "2"})
    try:
        a, b = open_stream(srv), open_stream(srv)
        status, hdrs, body = srv.request("GET", "/api/v1/events")
        assert status == 503
        assert hdrs["retry-after"] == "5"
        assert json.loads(body) == {
            "error": "too many event streams: 2 are open, the most this server serves at "
            "once (SEMATIC_SERVER_EVENTS_MAX_STREAMS, default 256); close one (each "
            "dashboard tab holds one) and retry"
        }
        a.close()
        # The slot comes back once the server has seen the connection go: retry until then.
        deadline = time.monotonic() + 30
        while True:
            c = EventStream(srv)
            if c.status == 200:
                break
            assert c.status == 503 and time.monotonic() < deadline, c.status
            c.close()
        c.close()
        b.close()
    finally:
        srv.stop()


def test_events__many_streams_at_once_all_see_everything(server):
    streams = [open_stream(server, "?kinds=runs,pipeline_status") for _ in range(24)]
    f = small_pipeline(3)
    sematic.LocalRunner().run(f)
    results = []
    for s in streams:
        got = s.until(is_status(f.id, "COMPLETE"))
        results.append({r: rec[-1]["future_state"] for r, rec in runs_by_id(got).items()})
        s.close()
    want = {r: rec["future_state"] for r, rec in store_runs(server.home, f.id).items()}
    assert all(r == want for r in results)
    server.assert_alive()
