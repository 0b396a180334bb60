"""The real Sematic 0.41 server, started for the length of a benchmark.

    with PeerServer(PEER_SEMATIC) as server:
        subprocess.run([...], env=dict(os.environ, **server.client_env()))

Sematic's LocalRunner records every run through its API server, so measuring
it needs one. PeerServer starts it the way a user does, `sematic start`, from
bench/peers/.venv, with its own config directory (SEMATIC_CONFIG_DIR: a fresh
temporary directory holding its SQLite database, data/, server.pid and logs)
and a free port on 127.0.0.1 (Sematic 0.41 reads the port from PORT and binds
to SEMATIC_SERVER_ADDRESS, default 127.0.0.1, which is left unset). `sematic
start` forks a daemon that writes its pid to server.pid; start() waits until
/api/v1/meta/health answers or the deadline passes. stop() runs `sematic stop`
(SIGQUIT to that pid), waits for the pid to go, then sends SIGTERM and SIGKILL
if it has not, and removes the config directory.

Run directly it starts a server, runs a command against it and stops it:

    python bench/peers/server.py [COMMAND ...]   (default: print the URL, wait for Ctrl-C)
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PEER_SEMATIC = os.path.join(HERE, ".venv", "bin", "sematic")

HOST = "127.0.0.1"
# Environment a user may have set that would send the server or the client
# elsewhere: the bind address, a production database, a cloud worker's API.
_SCRUBBED = ("SEMATIC_SERVER_ADDRESS", "DATABASE_URL", "ON_SEMATIC_WORKER",
             "SEMATIC_WORKER_API_ADDRESS", "SEMATIC_WORKER_SOCKET_IO_ADDRESS",
             "SEMATIC_API_KEY", "SEMATIC_AUTHENTICATE")


class PeerServerError(RuntimeError):
    pass


def free_port(host=HOST):
    """A port nothing listens on now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def tree_bytes(path):
    """Total size in bytes of the regular files under path (0 if absent)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _pid_is_sematic(pid):
    """Whether pid is alive and still a Sematic process (not a reused pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"sematic" in f.read()
    except OSError:
        return False


class PeerServer:
    """One `sematic start` server with its own config directory and port."""

    def __init__(self, sematic=PEER_SEMATIC, start_timeout_s=120.0, keep_dir=False):
        self.sematic = sematic
        self.start_timeout_s = start_timeout_s
        self.keep_dir = keep_dir
        self.config_dir = None
        self.port = None
        self.pid = None

    @property
    def url(self):
        return f"http://{HOST}:{self.port}"

    def client_env(self):
        """The variables a Sematic 0.41 client needs to use this server."""
        return {
            "SEMATIC_CONFIG_DIR": self.config_dir,
            "PORT": str(self.port),
            "SEMATIC_API_ADDRESS": self.url,
        }

    def env(self):
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        env.update(self.client_env())
        # `sematic start` opens the dashboard in a browser: make that a no-op.
        env["BROWSER"] = "true"
        return env

    def store_bytes(self):
        """Bytes of what the server keeps per run: its SQLite database (and
        journal) and data/ (artifact payloads)."""
        d = self.config_dir
        files = ("db.sqlite3", "db.sqlite3-wal", "db.sqlite3-journal")
        return (sum(os.path.getsize(os.path.join(d, f)) for f in files
                    if os.path.exists(os.path.join(d, f)))
                + tree_bytes(os.path.join(d, "data")))

    def start(self):
        if not os.path.exists(self.sematic):
            raise PeerServerError(f"no Sematic CLI at '{self.sematic}'; "
                                  "run 'bash bench/peers/setup.sh'")
        self.config_dir = tempfile.mkdtemp(prefix="sematic-peer-server-")
        self.port = free_port()
        deadline = time.monotonic() + self.start_timeout_s
        try:
            proc = subprocess.run([self.sematic, "start"], env=self.env(), cwd=self.config_dir,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=self.start_timeout_s)
        except subprocess.TimeoutExpired:
            self.stop()
            raise PeerServerError(f"'sematic start' did not return in {self.start_timeout_s:g} s")
        if proc.returncode != 0:
            self.stop()
            raise PeerServerError(f"'sematic start' exited {proc.returncode}: "
                                  f"{(proc.stderr or proc.stdout).strip()[-300:]}")
        try:
            self._wait_healthy(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _read_pid(self):
        try:
            with open(os.path.join(self.config_dir, "server.pid")) as f:
                return int(f.read().strip() or 0) or None
        except (OSError, ValueError):
            return None

    def _wait_healthy(self, deadline):
        """Polls the health endpoint until it answers healthy or deadline."""
        last = "no answer"
        while time.monotonic() < deadline:
            self.pid = self.pid or self._read_pid()
            if self.pid is not None and not _pid_is_sematic(self.pid):
                raise PeerServerError(f"the Sematic server (pid {self.pid}) exited while "
                                      f"starting; see {self.config_dir}/error.log:\n"
                                      f"{self._log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/api/v1/meta/health", timeout=2) as r:
                    body = json.loads(r.read())
                if body.get("api", {}).get("healthy") and body.get("db", {}).get("healthy"):
                    if self.pid is None:
                        self.pid = self._read_pid()
                    return
                last = json.dumps(body)
            except (OSError, ValueError) as exc:  # URLError is an OSError
                last = str(exc)
            time.sleep(0.1)
        raise PeerServerError(f"the Sematic server at {self.url} was not healthy within "
                              f"{self.start_timeout_s:g} s (last: {last})\n{self._log_tail()}")

    def _log_tail(self, n=10):
        lines = []
        for name in ("error.log", "access.log"):
            try:
                with open(os.path.join(self.config_dir, name), errors="replace") as f:
                    lines += f.read().splitlines()[-n:]
            except OSError:
                pass
        return "\n".join(lines[-n:])

    def stop(self):
        """Stops the server (if it runs) and removes its config directory."""
        if self.config_dir is None:
            return
        pid = self.pid or self._read_pid()
        try:
            if pid is not None and _pid_is_sematic(pid):
                try:
                    subprocess.run([self.sematic, "stop"], env=self.env(), cwd=self.config_dir,
                                   stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
                except subprocess.TimeoutExpired:
                    pass
                # The daemon is not our child: poll until its pid is gone.
                for sig, wait_s in ((None, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                    if sig is not None and _pid_is_sematic(pid):
                        try:
                            os.kill(pid, sig)
                        except ProcessLookupError:
                            break
                    end = time.monotonic() + wait_s
                    while _pid_is_sematic(pid) and time.monotonic() < end:
                        time.sleep(0.05)
                    if not _pid_is_sematic(pid):
                        break
        finally:
            if not self.keep_dir:
                shutil.rmtree(self.config_dir, ignore_errors=True)
            self.config_dir = self.pid = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv):
    t0 = time.monotonic()
    with PeerServer() as server:
        print(f"peer server: Sematic at {server.url} (pid {server.pid}, config "
              f"{server.config_dir}), healthy after {time.monotonic() - t0:.1f} s", flush=True)
        if argv:
            return subprocess.run(argv, env=dict(os.environ, **server.client_env())).returncode
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
