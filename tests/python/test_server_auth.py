"""API keys: `sematic start` with SEMATIC_AUTHENTICATE, and `sematic users`.

With authentication on, every endpoint but ping, versions, health,
/authenticate, the dashboard's files and the API's 404 wants a user's key
in X-API-KEY, checked once before the handler runs (docs/server.md
"Authentication"); without it, everything is open as in Sematic's default.
"""
from __future__ import annotations

import json
import re
import subprocess
import urllib.parse

import pytest

from server_fixture import server, server_env, start_server
from store_fixture import Store, cli_path, run_cli

__all__ = ["server"]  # the fixture, imported for pytest

MISSING = {"error": "Missing API key"}
USER_KEYS = {"avatar_url", "created_at", "first_name", "id", "last_name", "updated_at"}


def get(srv, path, key=None, method="GET", body=None):
    headers = {"X-API-KEY": key} if key is not None else {}
    status, hdrs, data = srv.request(method, path, body=body, headers=headers)
    return status, json.loads(data) if hdrs.get("content-type") == "application/json" else data


def create_user(home, email, *extra):
    """`sematic users create`: (the key it printed once, the user's id)."""
    made = run_cli(home, "users", "create", email, *extra)
    assert made.returncode == 0, made.stderr
    key = re.search(r"^API key: (\S+)$", made.stdout, re.M).group(1)
    user_id = re.search(r"\(id ([0-9a-f]{32})\)", made.stdout).group(1)
    assert "cannot be shown again" in made.stdout
    return key, user_id


@pytest.fixture
def secured(tmp_path):
    ui = tmp_path / "ui"
    ui.mkdir()
    (ui / "index.html").write_text("<html>dashboard</html>")
    srv = start_server(tmp_path / "home", env={"SEMATIC_AUTHENTICATE": "1"}, ui_dir=ui)
    try:
        yield srv
    finally:
        srv.stop()


def test_auth__off_by_default_everything_is_open(server):
    assert get(server, "/authenticate") == (200, {"authenticate": False, "providers": {}})
    assert get(server, "/api/v1/runs?limit=1")[0] == 200
    assert get(server, "/api/v1/users") == (200, {"content": []})
    # A key is not needed, and one that is no user's is ignored.
    assert get(server, "/api/v1/notes", key="whatever")[0] == 200


def test_auth__on_public_rows_answer_without_a_key(secured):
    assert get(secured, "/authenticate") == (200, {"authenticate": True, "providers": {}})
    assert get(secured, "/api/v1/ping") == (200, {"status": "ok"})
    assert get(secured, "/api/v1/meta/versions")[0] == 200
    assert get(secured, "/api/v1/meta/health")[0] == 200
    assert get(secured, "/") == (200, b"<html>dashboard</html>")
    assert get(secured, "/runs/abc")[0] == 200  # the dashboard's own routes
    status, body = get(secured, "/api/v1/nothing")
    assert status == 404 and "no endpoint" in body["error"]


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/v1/runs"),
        ("GET", "/api/v1/runs/" + "a" * 32 + "/logs"),
        ("GET", "/api/v1/artifacts"),
        ("GET", "/api/v1/edges"),
        ("GET", "/api/v1/notes"),
        ("POST", "/api/v1/notes"),
        ("DELETE", "/api/v1/notes/" + "a" * 32),
        ("POST", "/api/v1/metrics"),
        ("GET", "/api/v1/metrics"),
        ("GET", "/api/v1/users"),
        ("GET", "/api/v1/organizations"),
        ("GET", "/api/v1/meta/env"),
    ],
)
def test_auth__on_other_rows_need_a_users_key(secured, method, path):
    assert get(secured, path, method=method) == (401, MISSING)
    assert get(secured, path, key="", method=method) == (401, MISSING)
    assert get(secured, path, key="not-a-key", method=method) == (401, MISSING)
    assert get(secured, path, key="x" * 43, method=method) == (401, MISSING)


def test_auth__a_created_users_key_opens_the_api(secured):
    key, user_id = create_user(secured.home, "ada@example.com", "--first-name", "Ada",
                               "--last-name", "Lovelace")
    status, body = get(secured, "/api/v1/runs?limit=1", key=key)
    assert status == 200 and body["content"] == []
    status, body = get(secured, "/api/v1/users", key=key)
    assert status == 200
    assert [(u["id"], u["first_name"], u["last_name"]) for u in body["content"]] == [
        (user_id, "Ada", "Lovelace")
    ]
    assert set(body["content"][0]) == USER_KEYS  # Sematic's redacted user
    assert key not in json.dumps(body) and "ada@example.com" not in json.dumps(body)
    # The log says why a request was refused; the client is told Sematic's words only.
    get(secured, "/api/v1/runs")
    get(secured, "/api/v1/runs", key="nope")
    secured.wait_log(r"GET /api/v1/runs 401 \d+us no X-API-KEY header$")
    log = secured.wait_log(r"GET /api/v1/runs 401 \d+us X-API-KEY is no user's key$")
    assert key not in log


def test_auth__notes_and_metrics_carry_the_user(secured):
    key, user_id = create_user(secured.home, "grace@example.com")
    store = Store(secured.home)
    try:
        root = store.make_run(name="pipeline")
    finally:
        store.close()
    note = {"note": {"note": "mine", "run_id": root, "root_id": root}}
    status, body = get(secured, "/api/v1/notes", key=key, method="POST",
                       body=json.dumps(note).encode())
    assert status == 200, body
    assert body["content"]["user_id"] == user_id
    assert body["content"]["user"]["id"] == user_id
    assert "email" not in body["content"]["user"]
    points = {"metric_points": [{"name": "m", "value": 1, "metric_type": 0,
                                 "labels": {"user_id": "someone else"}, "metric_time": 1e9}]}
    assert get(secured, "/api/v1/metrics", key=key, method="POST",
               body=json.dumps(points).encode()) == (200, {})
    labels = urllib.parse.quote(json.dumps({"user_id": user_id}))
    assert get(secured, f"/api/v1/metrics?labels={labels}", key=key) == (200, {"content": ["m"]})


def test_auth__creating_a_user_again_replaces_the_key(secured):
    old, user_id = create_user(secured.home, "ada@example.com", "--first-name", "Ada")
    new, same_id = create_user(secured.home, "ada@example.com")
    assert same_id == user_id and new != old
    assert get(secured, "/api/v1/users", key=old) == (401, MISSING)
    status, body = get(secured, "/api/v1/users", key=new)
    assert status == 200 and body["content"][0]["first_name"] == "Ada"  # the name is kept


def test_auth__the_body_of_a_refused_request_is_not_read(tmp_path):
    srv = start_server(tmp_path / "home", env={"SEMATIC_AUTHENTICATE": "1",
                                               "SEMATIC_SERVER_MAX_BODY_BYTES": "1024"})
    try:
        status, body = get(srv, "/api/v1/metrics", method="POST", body=b"x" * 4096)
        assert (status, body) == (401, MISSING)  # not 413: the key is checked first
    finally:
        srv.stop()


def test_auth__a_bad_setting_stops_the_start(tmp_path):
    home = tmp_path / "home"
    proc = subprocess.run(
        [str(cli_path()), "start", "--foreground", "--port", "0"],
        capture_output=True, text=True, timeout=30,
        env=server_env(home, SEMATIC_AUTHENTICATE="maybe"),
    )
    assert proc.returncode == 2
    assert "SEMATIC_AUTHENTICATE must be a boolean, got 'maybe'" in proc.stderr


def test_users_cli__create_list_and_usage(tmp_path):
    home = tmp_path / "home"
    listed = run_cli(home, "users", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "No users yet: 'sematic users create EMAIL' makes one.\n"
    key, user_id = create_user(home, "ada@example.com", "--first-name=Ada", "--last-name", "L")
    assert len(key) == 43
    listed = run_cli(home, "users", "list")
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["ID", "EMAIL", "NAME", "CREATED", "KEY"]
    assert lines[1].startswith(f"{user_id}  ada@example.com") and lines[1].endswith("yes")
    assert "Ada L" in lines[1] and key not in listed.stdout
    for args, message in [
        ((), "'users' needs a command"),
        (("create",), "EMAIL"),
        (("create", "not-an-email"), "'not-an-email' is not an email address"),
        (("create", "a@b.c", "--nickname", "x"), "--nickname"),
        (("create", "a@b.c", "--first-name"), "--first-name"),
        (("list", "extra"), "extra"),
        (("delete", "a@b.c"), "unknown users command 'delete'"),
    ]:
        bad = run_cli(home, "users", *args)
        assert bad.returncode == 2, (args, bad.stdout, bad.stderr)
        assert message in bad.stderr, (args, bad.stderr)
    helped = run_cli(home, "users", "--help")
    assert helped.returncode == 0 and "usage: sematic users create EMAIL" in helped.stdout
