"""Start the real servers on loopback (gunicorn for WSGI, uvicorn for ASGI) and stop them again."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One server process tree; its output (our log lines, prefixed with the pid) kept in a file."""

    def __init__(self, kind: str, env: dict[str, str], workers: int = 3, threads: int = 4) -> None:
        self.kind = kind
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in stop())
            prefix=f"rs-load-{kind}-", suffix=".log", delete=False
        )
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.load.settings",
            "PYTHONPATH": str(ROOT),
            **env,
        }
        if kind == "gunicorn":
            command = [
                str(BIN / "gunicorn"),
                "tests.load.wsgi:application",
                f"--bind=127.0.0.1:{self.port}",
                f"--workers={workers}",
                f"--threads={threads}",
                "--worker-class=gthread",
                "--keep-alive=5",
                "--log-level=warning",
            ]
        elif kind == "uvicorn":
            command = [
                str(BIN / "uvicorn"),
                "tests.load.asgi:application",
                "--host=127.0.0.1",
                f"--port={self.port}",
                f"--workers={workers}",
                "--log-level=warning",
                "--no-access-log",
            ]
        else:
            raise ValueError(f"unknown server {kind!r}: expected 'gunicorn' or 'uvicorn'")
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers = workers

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until every worker answers (distinct pids on the echo), or fail with the server's log."""
        deadline = time.monotonic() + timeout
        pids: set[int] = set()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.process.returncode}:\n{self.output()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/load/echo/", headers={"Host": "ready.example.com"})
                response = connection.getresponse()
                body = response.read()
                connection.close()
                if response.status == 200:
                    pids.add(json.loads(body)["pid"])
                    if len(pids) >= self.workers:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(
            f"{self.kind} did not answer from {self.workers} workers in {timeout} s (saw {pids}):\n{self.output()}"
        )

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()

    def __enter__(self) -> Server:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        Path(self.log.name).unlink(missing_ok=True)


class Fleet:
    """gunicorn (3 workers x 4 threads, the sync echo) and uvicorn (2 workers, the async echo) on one database.

    Both start together and are loaded together, so "every worker" means the five processes of two servers.
    """

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self._stack = ExitStack()
        self.servers: list[Server] = []

    def __enter__(self) -> Fleet:
        with ExitStack() as stack:
            for kind, workers in (("gunicorn", 3), ("uvicorn", 2)):
                server = Server(kind, self.env, workers=workers, threads=4)
                stack.push(server)
                self.servers.append(server)
            for server in self.servers:
                server.wait_ready()
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @property
    def targets(self) -> list[tuple[int, str]]:
        """(port, echo path) of each server."""
        paths = {"gunicorn": "/load/echo/", "uvicorn": "/load/async-echo/"}
        return [(server.port, paths[server.kind]) for server in self.servers]

    def output(self) -> str:
        return "\n".join(server.output() for server in self.servers)
