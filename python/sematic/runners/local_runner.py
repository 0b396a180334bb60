"""LocalRunner: resolve a pipeline in this process and record everything in the store.

Execution is SilentRunner's (the C engine). What LocalRunner adds is the
recording, done in C by ``_core.Recorder`` (python/ext/record.c): every run,
artifact, edge and the pipeline run go to the embedded store at
``$SEMATIC_HOME`` (default ``~/.sematic``), committed in batches by a
background thread. No server is needed; ``sematic runs|show|logs`` read the
same store. This module chooses the settings, captures what runs print,
shows progress, and computes what a rerun may reuse.
"""
from __future__ import annotations

import os
import sys
import threading
from typing import Any, Callable, Dict, Optional, Tuple, Union

from sematic import _core, _settings
from sematic.graph import RerunMode
from sematic.runners.silent_runner import SilentRunner

_NAMESPACE_MAX = 50
_STDOUT, _STDERR, _LOGGING = 1, 2, 3


class LocalRunner(SilentRunner):
    """A Runner that records every run, artifact and edge in the local store.

    Parameters
    ----------
    cache_namespace:
        Enables ``cache=True`` funcs: a str, or a callable taking the root
        future and returning one (truncated to 50 characters).
    rerun_from:
        Id of a run of an earlier pipeline run to rerun from.
    rerun_mode:
        ``RerunMode.SPECIFIC_RUN`` (default: rerun that run, its ancestors and
        what depends on them, reuse the rest) or ``RerunMode.CONTINUE``
        (``rerun_from`` must be a root: reuse every run that resolved, run the
        rest; this is how a pipeline whose driver was killed is resumed).
    """

    def __init__(
        self,
        cache_namespace: Optional[Union[str, Callable[[Any], str]]] = None,
        rerun_from: Optional[str] = None,
        rerun_mode: Optional[RerunMode] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if rerun_mode is not None and not isinstance(rerun_mode, RerunMode):
            raise ValueError(f"rerun_mode must be a RerunMode, got {rerun_mode!r}")
        if rerun_mode is not None and rerun_from is None:
            raise ValueError("rerun_mode requires rerun_from: the id of the run to rerun from")
        if rerun_mode is RerunMode.REENTER:
            raise ValueError(
                "RerunMode.REENTER is for runners restarted by a cluster; "
                "use RerunMode.CONTINUE to resume a pipeline run locally"
            )
        self._cache_namespace = cache_namespace
        self._rerun_from = rerun_from
        self._rerun_mode = rerun_mode or (RerunMode.SPECIFIC_RUN if rerun_from else None)
        self._recorder: Any = None
        self._used = False
        self._progress: Optional[_Progress] = None

    # Runner hooks ------------------------------------------------------------

    @property
    def root_id(self) -> Optional[str]:
        """The id of the root run (the pipeline run's id) once run() began."""
        return self._root_future.id if self._root_future is not None else None

    def _make_recorder(self, future: Any) -> Any:
        if self._used:
            raise RuntimeError(
                "this LocalRunner has run a pipeline already; create a new LocalRunner for "
                "each run, as Sematic requires"
            )
        self._used = True
        home = _settings.home()
        sync = (_settings.get("SEMATIC_SYNC") or "full").lower()
        interval = float(_settings.get("SEMATIC_COMMIT_INTERVAL_MS") or 5.0)
        reuse = None
        if self._rerun_from is not None:
            store = _core.Store(home)
            try:
                reuse = _reuse_map(store, self._rerun_from, self._rerun_mode)
            finally:
                store.close()
        self._recorder = _core.Recorder(
            home,
            _pipeline_fields(),
            sync=sync,
            interval_ms=interval,
            cache_namespace=self._make_cache_namespace(future),
            reuse=reuse,
        )
        return self._recorder

    def _close_recorder(self) -> None:
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            recorder.close()

    def _capture(self) -> Any:
        return _Capture(self)

    def _make_cache_namespace(self, root: Any) -> Optional[str]:
        namespace = self._cache_namespace
        if namespace is None:
            return None
        if callable(namespace):
            namespace = namespace(root)
        if not isinstance(namespace, str):
            raise ValueError(f"cache_namespace must be a str, got {namespace!r}")
        if len(namespace) > _NAMESPACE_MAX:
            import logging

            logging.getLogger(__name__).warning(
                "Truncating the cache namespace to %d characters: %r",
                _NAMESPACE_MAX,
                namespace[:_NAMESPACE_MAX],
            )
            namespace = namespace[:_NAMESPACE_MAX]
        return namespace


# Pipeline run fields ---------------------------------------------------------


def _proc_start_time(pid: int) -> int:
    """Field 22 of /proc/PID/stat (start time in clock ticks), 0 when unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            stat = f.read()
        return int(stat[stat.rindex(")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return 0


def _pipeline_fields() -> Dict[str, Any]:
    import json
    import socket

    pid = os.getpid()
    return {
        "kind": "LOCAL",
        "user": os.environ.get("USER"),
        "client_version": _core.VERSION,
        "run_command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "python": sys.executable,
        "cwd": os.getcwd(),
        "sys_path_json": json.dumps([os.path.abspath(p) if p else os.getcwd() for p in sys.path]),
        "driver_pid": pid,
        "driver_start": _proc_start_time(pid),
        "driver_host": socket.gethostname(),
    }


# Reruns ----------------------------------------------------------------------


def _reuse_map(store: Any, rerun_from: str, mode: Optional[RerunMode]) -> Dict[str, Tuple[str, str]]:
    """What the new pipeline run may take from the old one instead of executing.

    Maps a run's reuse digest (function, source, input artifacts) to
    (old run id, output artifact id), for every old RESOLVED run that the
    mode keeps.
    """
    import json

    try:
        run = json.loads(store.get_run(rerun_from))
    except Exception as e:
        if mode is RerunMode.CONTINUE:
            # A driver killed before its first commit left only its journal.
            journaled = _replay_journal(store, rerun_from)
            if journaled:
                return journaled
        raise ValueError(f"Cannot restart from {rerun_from}: run cannot be found.") from e
    root_id = run["root_id"]
    if mode is RerunMode.CONTINUE and rerun_from != root_id:
        raise ValueError("Cannot use RerunMode.CONTINUE with a non-root run.")
    graph = json.loads(store.graph(root_id))
    runs = {r["id"]: r for r in graph["runs"]}
    inputs: Dict[str, Dict[str, str]] = {}
    output: Dict[str, str] = {}
    downstream: Dict[str, set] = {}
    for e in graph["edges"]:
        src, dst = e["source_run_id"], e["destination_run_id"]
        if dst is not None and e["destination_name"] is not None and e["artifact_id"]:
            inputs.setdefault(dst, {})[e["destination_name"]] = e["artifact_id"]
        if src is not None and e["artifact_id"]:
            output.setdefault(src, e["artifact_id"])
        if src is not None and dst is not None:
            downstream.setdefault(src, set()).add(dst)

    excluded: set = set()
    if mode is not RerunMode.CONTINUE:
        # Rerun from here: the run, its ancestors, their descendants' outputs that flow on,
        # and everything downstream of any of them are computed again.
        children: Dict[str, list] = {}
        for r in runs.values():
            if r["parent_id"]:
                children.setdefault(r["parent_id"], []).append(r["id"])
        chain = [rerun_from]
        while runs.get(chain[-1], {}).get("parent_id"):
            chain.append(runs[chain[-1]]["parent_id"])
        to_visit = list(chain)
        while to_visit:
            x = to_visit.pop()
            if x in excluded:
                continue
            excluded.add(x)
            to_visit.extend(downstream.get(x, ()))
            # Descendants of the chosen run and of what depends on it are regenerated; an
            # ancestor's other children are not dropped for being its children.
            if x == rerun_from or x not in chain:
                to_visit.extend(children.get(x, ()))
    reuse: Dict[str, Tuple[str, str]] = {}
    if mode is RerunMode.CONTINUE:
        reuse.update(_replay_journal(store, root_id))
    for r in runs.values():
        if r["future_state"] != "RESOLVED" or r["id"] in excluded or r["id"] not in output:
            continue
        if not r.get("source_code_id"):
            continue
        digest = _core.reuse_digest(
            r["function_path"], r["source_code_id"], inputs.get(r["id"], {})
        )
        reuse.setdefault(digest, (r["id"], output[r["id"]]))
    return reuse


def _replay_journal(store: Any, root_id: str) -> Dict[str, Tuple[str, str]]:
    """Outputs a killed driver had journaled but not committed: stored, and made reusable.

    The journal (``$SEMATIC_HOME/journal/<root>.log``, python/ext/record.c) holds
    records ``J <run> <digest> <artifact> <n_type> <n_payload> <n_summary>\\n`` then the
    three texts and a newline. A record cut short by the crash is ignored.
    """
    path = os.path.join(_settings.home(), "journal", f"{root_id}.log")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return {}
    reuse: Dict[str, Tuple[str, str]] = {}
    pos = 0
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            break
        fields = data[pos:end].split(b" ")
        if len(fields) != 7 or fields[0] != b"J":
            break
        run_id, digest, artifact = (x.decode() for x in fields[1:4])
        n_type, n_payload, n_summary = (int(x) for x in fields[4:7])
        body = end + 1
        stop = body + n_type + n_payload + n_summary
        if stop + 1 > len(data) or data[stop : stop + 1] != b"\n":
            break  # cut short by the crash
        type_json = data[body : body + n_type].decode()
        payload = data[body + n_type : body + n_type + n_payload].decode()
        summary = data[body + n_type + n_payload : stop].decode()
        if n_type:  # else a reuse: the artifact is stored already
            try:
                store.put_artifact(artifact, type_json, summary, payload)
            except ValueError:
                break  # damaged: stop trusting the rest
        reuse[digest] = (run_id, artifact)
        pos = stop + 1
    return reuse


# Logs and progress -----------------------------------------------------------


class _Stream:
    """sys.stdout/sys.stderr during a run: lines printed by a run go to its log too."""

    def __init__(self, original: Any, stream: int, recorder: Any) -> None:
        self._original = original
        self._stream = stream
        self._recorder = recorder
        self._pending: Dict[str, str] = {}

    def write(self, text: str) -> int:
        current = _core.current_run()
        if current is not None:
            run_id = current[0].id
            buffered = self._pending.pop(run_id, "") + text
            *lines, rest = buffered.split("\n")
            for line in lines:
                self._recorder.log(run_id, self._stream, line)
            if rest:
                self._pending[run_id] = rest
        return self._original.write(text)

    def flush_pending(self) -> None:
        for run_id, rest in self._pending.items():
            self._recorder.log(run_id, self._stream, rest)
        self._pending.clear()

    def flush(self) -> None:
        self._original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


class _Capture:
    """Around LocalRunner.run(): log capture and the progress line."""

    def __init__(self, runner: LocalRunner) -> None:
        self._runner = runner

    def __enter__(self) -> None:
        recorder = self._runner._recorder
        self._stdout, self._stderr = sys.stdout, sys.stderr
        self._out = _Stream(sys.stdout, _STDOUT, recorder)
        self._err = _Stream(sys.stderr, _STDERR, recorder)
        sys.stdout, sys.stderr = self._out, self._err
        import logging

        self._handler = _LogHandler(recorder)
        logging.getLogger().addHandler(self._handler)
        self._progress = _Progress(self._runner, self._stdout)
        self._progress.start()

    def __exit__(self, *exc_info: Any) -> None:
        import logging

        self._progress.stop()
        logging.getLogger().removeHandler(self._handler)
        self._out.flush_pending()
        self._err.flush_pending()
        sys.stdout, sys.stderr = self._stdout, self._stderr


def _make_log_handler_class() -> Any:
    import logging

    class LogHandler(logging.Handler):
        def __init__(self, recorder: Any) -> None:
            super().__init__()
            self._recorder = recorder
            self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

        def emit(self, record: logging.LogRecord) -> None:
            current = _core.current_run()
            if current is None:
                return
            try:
                text = self.format(record)
            except Exception:
                return
            run_id = current[0].id
            for line in text.split("\n"):
                self._recorder.log(run_id, _LOGGING, line)

    return LogHandler


_log_handler_class = None


def _LogHandler(recorder: Any) -> Any:
    global _log_handler_class
    if _log_handler_class is None:
        _log_handler_class = _make_log_handler_class()
    return _log_handler_class(recorder)


class _Progress:
    """A live one-line progress on a terminal; plain lines every 10 s otherwise."""

    def __init__(self, runner: LocalRunner, out: Any) -> None:
        self._runner = runner
        self._out = out
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        try:
            self._tty = out.isatty() and os.environ.get("TERM") != "dumb"
        except Exception:
            self._tty = False
        self._enabled = os.environ.get("SEMATIC_PROGRESS", "1") != "0"

    def start(self) -> None:
        if not self._enabled:
            return
        import time

        self._started = time.monotonic()
        if not self._tty:
            self._out.write(f"sematic: pipeline run {self._runner.root_id} started\n")
        self._thread = threading.Thread(target=self._loop, name="sematic-progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        line = self._line(final=True)
        if self._tty:
            self._out.write("\r\x1b[2K" + line + "\n")
        else:
            self._out.write(line + "\n")
        self._out.flush()

    def _line(self, final: bool = False) -> str:
        import time

        root = self._runner._root_future
        stats = root._graph.stats() if root is not None else {}
        known = sum(stats.values())
        done = stats.get("RESOLVED", 0)
        failed = stats.get("FAILED", 0) + stats.get("NESTED_FAILED", 0)
        elapsed = time.monotonic() - self._started
        line = f"sematic: {done}/{known} runs resolved"
        if failed:
            line += f", {failed} failed"
        line += f", {elapsed:.1f} s"
        current = None if final else _core.current_run()
        if current is not None:
            line += f"; running {current[0].function}"
        if final:
            line += f"; see it with: sematic show {self._runner.root_id}"
        return line

    def _loop(self) -> None:
        period = 0.2 if self._tty else 10.0
        while not self._stop.wait(period):
            try:
                line = self._line()
            except Exception:
                continue
            if self._tty:
                width = 200
                try:
                    width = os.get_terminal_size(self._out.fileno()).columns - 1
                except Exception:
                    pass
                self._out.write("\r\x1b[2K" + line[:width])
            else:
                self._out.write(line + "\n")
            self._out.flush()
