"""The HTTP server core of `sematic start`: the real binary on loopback.

Meta endpoints, error shapes (404, 405, 400, 413, 500), static files with
the SPA fallback and path traversal attempts, the daemon's start / stop /
already running / stale pid / port in use, concurrent requests, and a
streaming response (server-sent events) that blocks without starving the
other requests. Statuses and bodies are asserted exactly (STYLE 37).
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from server_fixture import free_port, ping_ok, sanitizer_report, server, server_env, start_server
from store_fixture import cli_path

__all__ = ["server"]  # the fixture, imported for pytest

JSON = "application/json"


def get_json(srv, path):
    status, headers, body = srv.request("GET", path)
    assert headers.get("content-type") == JSON, (path, headers)
    return status, json.loads(body)


# ---------------------------------------------------------------- meta


def test_server__ping_versions_env_and_authenticate(server):
    assert get_json(server, "/api/v1/ping") == (200, {"status": "ok"})
    assert get_json(server, "/api/v1/meta/versions") == (
        200,
        {"server": [0, 41, 0], "min_client_supported": [0, 30, 0]},
    )
    assert get_json(server, "/api/v1/meta/env") == (200, {"env": {}})
    assert get_json(server, "/authenticate") == (200, {"authenticate": False, "providers": {}})
    status, _, body = server.request("GET", "/api/v1/ping")
    assert body == b'{"status":"ok"}'  # the canonical writer: compact


def test_server__env_reports_the_server_settings_that_are_set(tmp_path):
    srv = start_server(tmp_path / "home", env={"GRAFANA_PANEL_URL": "http://grafana.local/x"})
    try:
        assert get_json(srv, "/api/v1/meta/env") == (
            200,
            {"env": {"GRAFANA_PANEL_URL": "http://grafana.local/x"}},
        )
    finally:
        srv.stop()


def test_server__health_reads_the_store(server):
    assert get_json(server, "/api/v1/meta/health") == (
        200,
        {"api": {"healthy": True, "message": "ok"}, "db": {"healthy": True, "message": "ok"}},
    )


def test_server__head_is_served_by_get_without_a_body(server):
    status, headers, body = server.request("HEAD", "/api/v1/ping")
    assert (status, body) == (200, b"")
    assert headers["content-type"] == JSON


def test_server__every_request_is_one_log_line(server):
    server.request("GET", "/api/v1/ping")
    server.request("GET", "/api/v1/nope?x=1")
    server.wait_log(r"^\S+ GET /api/v1/ping 200 \d+us$")
    server.wait_log(r"^\S+ GET /api/v1/nope 404 \d+us$")


# -------------------------------------------------------------- errors


def test_server__an_unknown_api_path_is_a_json_404(server):
    assert get_json(server, "/api/v1/nope") == (
        404,
        {"error": "no endpoint for GET '/api/v1/nope'; docs/server.md lists the API"},
    )
    status, headers, body = server.request("DELETE", "/api/v2/runs/x")
    assert status == 404
    assert json.loads(body) == {
        "error": "no endpoint for DELETE '/api/v2/runs/x'; docs/server.md lists the API"
    }


def test_server__a_wrong_method_is_405_naming_the_allowed_ones(server):
    status, headers, body = server.request("POST", "/api/v1/ping", body=b"{}")
    assert status == 405
    assert headers["allow"] == "GET, HEAD"
    assert json.loads(body) == {
        "error": "method POST is not allowed on '/api/v1/ping'; use GET, HEAD"
    }
    status, headers, body = server.request("PUT", "/index.html", body=b"x")
    assert status == 405
    assert headers["allow"] == "GET, HEAD"


def test_server__an_unknown_method_is_501(server):
    status, headers, body = server.request("BREW", "/api/v1/ping")
    assert status == 501
    assert json.loads(body) == {"error": "method 'BREW' is not supported"}


def test_server__bad_query_encoding_is_400_naming_the_byte(server):
    status, _, body = server.request("GET", "/api/v1/ping?limit=%zz")
    assert status == 400
    assert json.loads(body) == {
        "error": "bad %-escape '%zz' at byte 19 of the query string; a '%' must be followed "
        "by two hex digits (write a literal '%' as %25)"
    }
    status, _, body = server.request("GET", "/api/v1/ping?x=%ff")
    assert status == 400
    assert "not valid UTF-8" in json.loads(body)["error"]
    status, _, body = server.request("GET", "/api/v1/ping?x=%00")
    assert status == 400
    assert json.loads(body)["error"].startswith("encoded NUL (%00)")


def test_server__query_and_path_parameters_reach_the_handler_decoded(server):
    status, headers, body = server.request(
        "POST",
        "/api/v1/_test/echo/my%20name/a/b%C3%A9?q=1+2&empty&z=%26",
        body=b"hello",
        headers={"Content-Type": "text/plain"},
    )
    assert status == 200, body
    assert json.loads(body) == {
        "params": {"name": "my name", "rest": "a/b\u00e9"},
        "query": [["q", "1 2"], ["empty", ""], ["z", "&"]],
        "path": "/api/v1/_test/echo/my name/a/b\u00e9",
        "body_bytes": 5,
        "content_type": "text/plain",
    }
    status, _, body = server.request("GET", "/api/v1/_test/ticks?count=x")
    assert status == 400
    assert json.loads(body) == {
        "error": "query parameter 'count' must be an integer from 0 to 1000000, got 'x'"
    }


def test_server__a_bad_json_body_is_400_naming_where(server):
    status, _, body = server.request("POST", "/api/v1/_test/echo/n/?json=1", body=b'{"a": [1,}')
    assert status == 400
    assert json.loads(body)["error"].startswith("the request body is not valid JSON: ")
    status, _, body = server.request("POST", "/api/v1/_test/echo/n/?json=1", body=b'{"a": 1}')
    assert status == 200
    assert json.loads(body)["json_kind"] == 5  # SM_JSON_OBJECT


def test_server__a_failing_handler_is_a_500_that_leaks_nothing(server):
    status, _, body = server.request("GET", "/api/v1/_test/fail")
    assert status == 500
    assert json.loads(body) == {"error": "internal error; the server log has the detail"}
    log = server.wait_log(r"GET /api/v1/_test/fail 500 \d+us handler failed: SM_EIO$")
    assert "secret detail 1234" in log


def test_server__test_routes_are_off_by_default(tmp_path):
    srv = start_server(tmp_path / "home", env={"SEMATIC_SERVER_TEST_ROUTES": "0"})
    try:
        status, _, _ = srv.request("GET", "/api/v1/_test/fail")
        assert status == 404
    finally:
        srv.stop()


# -------------------------------------------------------------- bodies


@pytest.fixture
def small_body_server(tmp_path):
    srv = start_server(tmp_path / "home", env={"SEMATIC_SERVER_MAX_BODY_BYTES": "1024"})
    yield srv
    srv.stop()


def test_server__a_body_at_the_limit_is_accepted(small_body_server):
    status, _, body = small_body_server.request("POST", "/api/v1/_test/echo/n/", body=b"x" * 1024)
    assert status == 200
    assert json.loads(body)["body_bytes"] == 1024


def test_server__an_announced_body_over_the_limit_is_413_before_it_is_read(small_body_server):
    # Content-Length says 2048 and no byte of the body is sent: the answer comes anyway.
    reply = small_body_server.raw(
        b"POST /api/v1/_test/echo/n/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n"
    )
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), reply
    assert json.loads(body) == {
        "error": "request body of 2048 bytes is larger than the limit of 1024 bytes; send less, "
        "or raise SEMATIC_SERVER_MAX_BODY_BYTES for the server"
    }


def test_server__a_chunked_body_growing_over_the_limit_is_413(small_body_server):
    chunk = b"y" * 1000
    data = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
    reply = small_body_server.raw(
        b"POST /api/v1/_test/echo/n/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n" + data
    )
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), reply
    assert json.loads(body) == {
        "error": "request body is larger than the limit of 1024 bytes; send less, or raise "
        "SEMATIC_SERVER_MAX_BODY_BYTES for the server"
    }
    assert ping_ok(small_body_server.port)


def test_server__garbage_requests_leave_the_server_serving(server):
    for junk in (
        b"\x00\x01\x02garbage\r\n\r\n",
        b"GET " + b"/a" * 40000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /api/v1/ping HTTP/1.1\r\n" + b"X-Big: " + b"h" * 70000 + b"\r\n\r\n",
        b"GET http://evil/api/v1/ping HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /api/v1/ping HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    ):
        reply = server.raw(junk, half_close=True)
        assert not reply.startswith(b"HTTP/1.1 200"), (junk[:40], reply[:200])
    server.assert_alive()
    assert ping_ok(server.port)


# -------------------------------------------------------------- static


@pytest.fixture
def ui_server(tmp_path):
    ui = tmp_path / "ui"
    (ui / "assets").mkdir(parents=True)
    (ui / "index.html").write_text("<!doctype html><title>dashboard</title>")
    files = {
        "assets/app.js": "text/javascript; charset=utf-8",
        "assets/app.js.map": "application/json",
        "assets/style.css": "text/css; charset=utf-8",
        "logo.svg": "image/svg+xml",
        "logo.png": "image/png",
        "data.json": "application/json",
        "assets/font.woff2": "font/woff2",
    }
    for name in files:
        (ui / name).write_bytes(b"content of " + name.encode())
    (ui / ".env").write_text("SECRET=1")
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the ui directory")
    (ui / "escape.txt").symlink_to(secret)
    (ui / "escape-dir").symlink_to(tmp_path)
    (ui / "inside.js").symlink_to(ui / "assets" / "app.js")
    srv = start_server(tmp_path / "home", ui_dir=ui)
    srv.files = files
    yield srv
    srv.stop()


def test_server__static_files_have_their_content_type(ui_server):
    for name, content_type in ui_server.files.items():
        status, headers, body = ui_server.request("GET", "/" + name)
        assert status == 200, name
        assert headers["content-type"] == content_type, name
        assert body == b"content of " + name.encode()
    status, headers, body = ui_server.request("GET", "/")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert body == b"<!doctype html><title>dashboard</title>"
    # A symlink that stays inside the directory is followed.
    status, _, body = ui_server.request("GET", "/inside.js")
    assert (status, body) == (200, b"content of assets/app.js")


def test_server__spa_routes_get_index_html_and_missing_assets_404(ui_server):
    for path in ("/runs/0123abcd", "/pipelines/my.module.pipeline", "/pipelines/x.y/", "/assets", "/assets/"):
        status, headers, body = ui_server.request("GET", path)
        assert status == 200, path
        assert body == b"<!doctype html><title>dashboard</title>", path
        assert headers["content-type"] == "text/html; charset=utf-8"
    status, headers, body = ui_server.request("GET", "/assets/missing.js")
    assert status == 404
    assert json.loads(body) == {"error": "no file '/assets/missing.js' in the dashboard"}


@pytest.mark.parametrize(
    "path, status",
    [
        ("/../secret.txt", 400),
        ("/assets/../../secret.txt", 400),
        ("/%2e%2e/secret.txt", 400),
        ("/%2E%2E/%2e%2e/etc/passwd", 400),
        ("/.%2e/secret.txt", 400),
        ("/..%2fsecret.txt", 400),
        ("/assets%2f..%2f..%2fsecret.txt", 400),
        ("/%2fetc%2fpasswd", 400),
        ("//etc/passwd", 404),
        ("/escape.txt", 404),
        ("/escape-dir/secret.txt", 404),
        ("/.env", 404),
        ("/assets/%00.js", 400),
        ("/assets\\..\\..\\secret.txt", 404),
    ],
)
def test_server__path_traversal_never_leaves_the_ui_directory(ui_server, path, status):
    got, _, body = ui_server.request("GET", path)
    assert got == status, (path, body)
    assert b"outside the ui directory" not in body
    assert b"root:" not in body
    assert "error" in json.loads(body)


def test_server__without_a_built_dashboard_root_says_how_to_build_it(server):
    status, headers, body = server.request("GET", "/")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert b"the dashboard is not built" in body
    assert b"npm run build" in body and b"SEMATIC_UI_DIR" in body
    status, _, body = server.request("GET", "/runs/abc")  # SPA routes too
    assert status == 200 and b"not built" in body
    status, _, body = server.request("GET", "/assets/app.js")
    assert status == 404
    assert json.loads(body) == {"error": "no file '/assets/app.js': the dashboard is not built"}


# ------------------------------------------------------------ streaming


def read_events(resp, n):
    """The first n server-sent events of a streaming response, as dicts of their fields."""
    events, current = [], {}
    while len(events) < n:
        line = resp.readline()
        assert line, f"the stream ended after {len(events)} events"
        line = line.decode().rstrip("\n")
        if line == "":
            events.append(current)
            current = {}
        else:
            key, _, value = line.partition(": ")
            current[key] = value
    return events


def test_server__a_stream_sends_events_as_they_come(server):
    conn = server.connection()
    conn.request("GET", "/api/v1/_test/ticks?count=5&interval_ms=20")
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("content-type") == "text/event-stream"
    assert resp.getheader("transfer-encoding") == "chunked"
    body = resp.read().decode()
    conn.close()
    assert body == "".join(f"id: {i}\nevent: tick\ndata: {{\"n\":{i}}}\n\n" for i in range(5))


def test_server__open_streams_do_not_starve_other_requests(server):
    streams = []
    for _ in range(4):
        conn = server.connection()
        conn.request("GET", "/api/v1/_test/ticks?count=0&interval_ms=60000")
        resp = conn.getresponse()
        assert resp.status == 200
        # The first event comes at once; the next one not for a minute: the stream is blocked.
        assert read_events(resp, 1) == [{"id": "0", "event": "tick", "data": '{"n":0}'}]
        streams.append((conn, resp))
    started = time.monotonic()
    for _ in range(50):
        assert server.request("GET", "/api/v1/ping")[0] == 200
    assert time.monotonic() - started < 30
    for conn, _ in streams:
        conn.close()
    server.assert_alive()


def test_server__sigterm_ends_open_streams_and_stops_cleanly(tmp_path):
    srv = start_server(tmp_path / "home")
    conn = srv.connection()
    conn.request("GET", "/api/v1/_test/ticks?count=0&interval_ms=60000")
    resp = conn.getresponse()
    read_events(resp, 1)
    started = time.monotonic()
    srv.stop()  # asserts exit 0, no sanitizer report, pid file gone
    assert time.monotonic() - started < 10
    assert resp.read() == b""  # the stream ended
    conn.close()
    assert "SIGTERM received, stopping the server" in srv.log()


# ---------------------------------------------------------- concurrency


def test_server__concurrent_requests_all_succeed(server):
    paths = ["/api/v1/ping", "/api/v1/meta/health", "/api/v1/meta/versions", "/authenticate"]
    failures = []

    def worker(k):
        conn = server.connection()
        try:
            for i in range(200):
                path = paths[(k + i) % len(paths)]
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    failures.append((path, resp.status, body))
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(("exception", repr(e)))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


# ---------------------------------------------------------------- daemon


def cli(home, *args, timeout=60, **env):
    return subprocess.run(
        [str(cli_path()), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=server_env(home, SEMATIC_UI_DIR=str(home.parent / "no-ui"), **env),
    )


def is_gone(pid):
    """No such process, or only its zombie (this sandbox's init may reap orphans late)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"


def read_pid(home):
    return int((home / "server.pid").read_text().split()[0])


def check_log(home):
    log = (home / "logs" / "server.log").read_text(errors="replace")
    report = sanitizer_report(log)
    assert report is None, f"sanitizer report in the server log: {report}\n{log}"
    return log


def test_server__start_daemonizes_and_stop_stops_it(tmp_path):
    home = tmp_path / "home"
    port = free_port()
    result = cli(home, "start", "--port", str(port))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Sematic dashboard: http://127.0.0.1:{port}\n"
    pid = read_pid(home)
    assert (home / "server.pid").read_text() == f"{pid}\nhttp://127.0.0.1:{port}\n"
    assert ping_ok(port)  # the command returned: the server answers, in the background

    # Already running: says where, starts nothing.
    again = cli(home, "start", "--port", str(free_port()))
    assert again.returncode == 0, again.stderr
    assert again.stdout == (
        f"Sematic is already running (pid {pid}): Sematic dashboard: http://127.0.0.1:{port}\n"
    )
    assert read_pid(home) == pid

    stopped = cli(home, "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout == f"stopped the server at http://127.0.0.1:{port} (pid {pid})\n"
    assert not (home / "server.pid").exists()
    assert not ping_ok(port)
    assert is_gone(pid)
    log = check_log(home)
    assert re.search(r" GET /api/v1/ping 200 \d+us$", log, re.M), log

    again = cli(home, "stop")
    assert again.returncode == 0
    assert again.stdout == f"no server running (no pid file '{home / 'server.pid'}')\n"


def test_server__a_stale_pid_file_is_replaced(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    # A pid that is not a server: this test process itself.
    (home / "server.pid").write_text(f"{os.getpid()}\nhttp://127.0.0.1:1\n")
    port = free_port()
    result = cli(home, "start", "--port", str(port))
    try:
        assert result.returncode == 0, result.stderr
        assert "replacing stale pid file" in result.stderr
        assert f"pid {os.getpid()} is not a running server" in result.stderr
        assert result.stdout == f"Sematic dashboard: http://127.0.0.1:{port}\n"
        assert read_pid(home) != os.getpid()
    finally:
        assert cli(home, "stop").returncode == 0
    check_log(home)
    # stop with a stale pid file removes it and says no server runs.
    (home / "server.pid").write_text("999999999\n")
    result = cli(home, "stop")
    assert result.returncode == 0
    assert result.stdout.startswith("no server running (removed stale pid file")
    assert not (home / "server.pid").exists()


def test_server__a_port_in_use_is_a_clear_error_naming_the_fix(tmp_path):
    home = tmp_path / "home"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for args in (("start", "--port", str(port)), ("start", "--foreground")):
            result = cli(home, *args, SEMATIC_SERVER_PORT=str(port))
            assert result.returncode == 1
            assert result.stdout == ""
            assert result.stderr == (
                f"sematic: cannot start the server: port {port} on 127.0.0.1 is already in use "
                "by another program; stop that program, or start on another port with "
                "'sematic start --port PORT' (or SEMATIC_SERVER_PORT)\n"
            )
    assert not (home / "server.pid").exists()


def test_server__the_port_flag_wins_over_the_environment(tmp_path):
    home = tmp_path / "home"
    port = free_port()
    result = cli(home, "start", "--port", str(port), SEMATIC_SERVER_PORT="1")
    try:
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"Sematic dashboard: http://127.0.0.1:{port}\n"
    finally:
        assert cli(home, "stop").returncode == 0


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["--port", "70000"], {}, "option '--port' must be a port number from 1 to 65535"),
        (["--host", "example.com"], {}, "option '--host' must be an IPv4 address"),
        ([], {"SEMATIC_SERVER_PORT": "http"}, "SEMATIC_SERVER_PORT must be a port number"),
        ([], {"SEMATIC_SERVER_MAX_BODY_BYTES": "-1"}, "SEMATIC_SERVER_MAX_BODY_BYTES must be"),
        (["--bogus"], {}, "unknown option '--bogus' for 'start'"),
    ],
)
def test_server__bad_options_are_usage_errors(tmp_path, args, env, message):
    result = cli(tmp_path / "home", "start", *args, **env)
    assert result.returncode == 2
    assert message in result.stderr


def test_server__help_lists_start_and_stop(tmp_path):
    result = cli(tmp_path / "home", "help")
    assert "  start " in result.stdout and "  stop " in result.stdout
    result = cli(tmp_path / "home", "start", "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: sematic start [--host HOST] [--port PORT]")
