"""The real `sematic start --foreground` on a free port, for server tests.

    def test_ping(server):                     # the pytest fixture below
        status, headers, body = server.request("GET", "/api/v1/ping")

    srv = start_server(tmp_path / "home", env={"SEMATIC_SERVER_MAX_BODY_BYTES": "1024"})
    ...
    srv.stop()                                 # SIGTERM; asserts a clean exit

The server runs on a fresh SEMATIC_HOME with the test-only routes on
(SEMATIC_SERVER_TEST_ROUTES=1) and, unless told otherwise, an empty
SEMATIC_UI_DIR (so the result does not depend on whether a dashboard was
built in the tree). Readiness is observed, never guessed: the command
prints its URL once it listens, then a ping must answer. Stopping checks
that the process exited 0 on SIGTERM and that its log (stderr) holds no
sanitizer report; a server that died during the test fails it.

The binary is $SEMATIC_CLI when set (an ASan build, for example), else the
`sematic` next to sys.executable, as in store_fixture.py.
"""
from __future__ import annotations

import http.client
import os
import re
import selectors
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest

from store_fixture import binary_env, cli_path

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "SUMMARY: UndefinedBehaviorSanitizer",
    "SUMMARY: AddressSanitizer",
)


def free_port() -> int:
    """A port nobody listens on right now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sanitizer_report(text: str) -> Optional[str]:
    """The first line of a sanitizer report in text, or None."""
    for line in text.splitlines():
        if any(marker in line for marker in SANITIZER_MARKERS):
            return line
    return None


def server_env(home: Path, **extra: str) -> Dict[str, str]:
    env = binary_env()
    env["SEMATIC_HOME"] = str(home)
    env["SEMATIC_SERVER_TEST_ROUTES"] = "1"
    env.pop("SEMATIC_SERVER_PORT", None)
    env.pop("SEMATIC_SERVER_MAX_BODY_BYTES", None)
    env.update(extra)
    return env


class Server:
    """A running `sematic start --foreground`."""

    def __init__(self, home: Path, port: int, proc: subprocess.Popen, log_path: Path):
        self.home = home
        self.port = port
        self.proc = proc
        self.log_path = log_path
        self.base_url = f"http://127.0.0.1:{port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, pattern: str, timeout: float = 10) -> str:
        """The log once a line matches the regular expression pattern (lines are written when a
        request completes, which may be just after its client read the answer)."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            if re.search(pattern, log, re.M):
                return log
            if time.monotonic() >= deadline:
                pytest.fail(f"no log line matching {pattern!r} within {timeout} s; log:\n{log}")
            time.sleep(0.01)  # a file has no change notification here; look again shortly

    def connection(self, timeout: float = 30) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: Optional[bytes] = None,
        headers: Optional[Dict[str, str]] = None,
    ) -> Tuple[int, Dict[str, str], bytes]:
        """One request on its own connection: (status, headers with lower-case names, body)."""
        conn = self.connection()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def raw(self, data: bytes, timeout: float = 30, half_close: bool = False) -> bytes:
        """Send bytes as they are and read until the server closes the connection.

        half_close: shut our side for writing once sent, so the server sees the end of input
        (for requests it could otherwise wait on for more bytes).
        """
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server refused early; read what it answered
            if half_close:
                s.shutdown(socket.SHUT_WR)
            chunks = []
            while True:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks)

    def assert_alive(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(f"the server exited with {self.proc.returncode}; its log:\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM, then check: exit status 0, no sanitizer report, pid file removed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"the server did not stop within {STOP_TIMEOUT_S} s of SIGTERM")
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        log = self.log()
        report = sanitizer_report(log)
        assert report is None, f"sanitizer report in the server log: {report}\n{log}"
        assert self.proc.returncode == 0, f"server exited {self.proc.returncode}; log:\n{log}"
        assert not (self.home / "server.pid").exists(), "the server left its pid file behind"


def ping_ok(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/api/v1/ping")
        resp = conn.getresponse()
        ok = resp.status == 200 and resp.read() == b'{"status":"ok"}'
        conn.close()
        return ok
    except OSError:
        return False


def start_server(
    home: Path,
    *,
    env: Optional[Dict[str, str]] = None,
    ui_dir: Optional[Path] = None,
) -> Server:
    """Start `sematic start --foreground` on a free port and wait until it answers."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    if ui_dir is None:
        ui_dir = home.parent / f"{home.name}-no-ui"
        ui_dir.mkdir(exist_ok=True)
    extra = {"SEMATIC_UI_DIR": str(ui_dir), **(env or {})}
    for attempt in range(3):
        port = free_port()
        log_path = home.parent / f"{home.name}-server-{port}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [str(cli_path()), "start", "--foreground", "--port", str(port)],
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env=server_env(home, **extra),
            )
        server = Server(home, port, proc, log_path)
        line = _read_line(proc, START_TIMEOUT_S)
        if line.startswith(b"Sematic dashboard: ") and ping_ok(port):
            return server
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        text = server.log()
        if "already in use" in text and attempt < 2:
            continue  # another process took the port between free_port() and the bind
        pytest.fail(f"the server did not start (printed {line!r}); its log:\n{text}")
    raise AssertionError("unreachable")


def _read_line(proc: subprocess.Popen, timeout: float) -> bytes:
    """The first line the process prints, or what it printed before exiting or the deadline."""
    deadline = time.monotonic() + timeout
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                break
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
    return buf


@pytest.fixture
def server(tmp_path):
    """A server on a fresh store, stopped (and checked) after the test."""
    srv = start_server(tmp_path / "home")
    yield srv
    srv.stop()
