"""The real service as a uvicorn subprocess (one worker), always terminated."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.core import BenchmarkError, Context


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    log_path: Path
    pid: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextmanager
def running_server(ctx: Context, database_url: str, name: str) -> Iterator[Server]:
    """Start ``uvicorn vpp.app:create_app --factory`` on a free port and wait for /readyz."""
    host = "127.0.0.1"
    port = free_port(host)
    log_path = ctx.workdir / f"server_{name}.log"
    env = {
        **os.environ,
        "VPP_DATABASE_URL": database_url,
        "VPP_RATE_LIMIT_PER_S": "1000000",
        "VPP_RATE_LIMIT_BURST": "1000000",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "vpp.app:create_app",
        "--factory",
        "--host",
        host,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        server = Server(host, port, log_path, process.pid)
        _wait_ready(process, server)
        try:
            yield server
        except Exception:
            tail = _tail(log_path)
            if tail:
                ctx.log(f"    the server's log ends with:\n{tail}")
            raise
        if process.poll() is not None:
            raise BenchmarkError(
                f"the server exited during the benchmark (code {process.returncode}):\n"
                + _tail(log_path)
            )
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


def log_tail_after(server: Server, wait_s: float, lines: int = 30) -> str:
    """The end of the server's log once it has logged something (or after ``wait_s``).

    A stalled server (e.g. a connection-pool deadlock) often says why only when its
    pool timeout expires, so a failing benchmark waits a little for the evidence.
    """
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if server.log_path.stat().st_size > 0:
                time.sleep(0.5)
                break
        except OSError:
            pass
        time.sleep(0.5)
    return _tail(server.log_path, lines)


def _wait_ready(process: subprocess.Popen[bytes], server: Server, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    last_error = "no answer"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BenchmarkError(
                    f"the server exited at start-up (code {process.returncode}):\n"
                    + _tail(server.log_path)
                )
            try:
                response = client.get(f"{server.base_url}/readyz")
                if response.status_code == 200:
                    return
                last_error = f"/readyz answered {response.status_code}"
            except httpx.HTTPError as exc:
                last_error = type(exc).__name__
            time.sleep(0.1)
    raise BenchmarkError(f"the server was not ready within {timeout_s} s ({last_error})")
