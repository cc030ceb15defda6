"""HTTP load generation: ``wrk`` when available, else an asyncio keep-alive client.

A Python client cannot saturate a Python server on two cores (it needs about as much
CPU per request as the server), so wrk is preferred and installed from Debian when it
is missing and we are root; the fallback says that it limited the measurement.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.core import BenchmarkError, Context, check, percentile
from vpp.kit import eventloop

WRK_SCRIPT = """\
local paths = {%(paths)s}
local token = "%(token)s"
counter = 0
non200 = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local path = paths[(counter %% #paths) + 1]
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non200")
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%%d duration_us=%%d non200=%%d p50_us=%%d p99_us=%%d "
    .. "connect=%%d read=%%d write=%%d timeout=%%d status=%%d\\n",
    summary.requests, summary.duration, bad, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status))
end
"""


REQUEST_TIMEOUT_S = 10.0  # like wrk --timeout: a slower answer counts as an error


@dataclass(frozen=True)
class LoadResult:
    client: str
    requests: int
    seconds: float
    non_200: int
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


_WRK_CHECKED: dict[str, str | None] = {}


def find_wrk(ctx: Context) -> str | None:
    """The wrk binary; installed with apt-get when missing and running as root."""
    if "wrk" in _WRK_CHECKED:
        return _WRK_CHECKED["wrk"]
    path = shutil.which("wrk")
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        ctx.log("    wrk not found: installing it from Debian (apt-get install wrk) ...")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            subprocess.run(
                ["apt-get", "update", "-qq"], env=env, check=True, capture_output=True, timeout=300
            )
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "wrk"],
                env=env,
                check=True,
                capture_output=True,
                timeout=300,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            ctx.log(f"    could not install wrk: {type(exc).__name__}")
        path = shutil.which("wrk")
    _WRK_CHECKED["wrk"] = path
    return path


def load(
    ctx: Context,
    host: str,
    port: int,
    paths: Sequence[str],
    token: str,
    *,
    connections: int,
    seconds: float,
) -> LoadResult:
    """GET ``paths`` in turn over ``connections`` keep-alive connections for ``seconds``."""
    wrk = None if ctx.client == "python" else find_wrk(ctx)
    if wrk is None:
        if ctx.client == "wrk":
            raise BenchmarkError("--client wrk given but wrk is not available")
        return python_load(host, port, paths, token, connections=connections, seconds=seconds)
    return wrk_load(
        ctx,
        wrk,
        host=host,
        port=port,
        paths=paths,
        token=token,
        connections=connections,
        seconds=seconds,
    )


def wrk_load(
    ctx: Context,
    wrk: str,
    *,
    host: str,
    port: int,
    paths: Sequence[str],
    token: str,
    connections: int,
    seconds: float,
) -> LoadResult:
    check(all(re.fullmatch(r"[A-Za-z0-9/_.-]+", p) for p in paths), "unexpected path characters")
    check(re.fullmatch(r"[A-Za-z0-9_-]+", token) is not None, "unexpected token characters")
    script = ctx.workdir / "wrk_get.lua"
    script.write_text(WRK_SCRIPT % {"paths": ", ".join(f'"{p}"' for p in paths), "token": token})
    threads = max(1, min(2, os.cpu_count() or 1, connections))
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        f"{REQUEST_TIMEOUT_S:.0f}s",
        "--latency",
        "-s",
        str(script),
        f"http://{host}:{port}{paths[0]}",
    ]
    finished = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    output = finished.stdout + finished.stderr
    check(finished.returncode == 0, f"wrk failed ({finished.returncode}):\n{output}")
    match = re.search(r"^BENCH (.*)$", output, re.MULTILINE)
    check(match is not None, f"no summary line in wrk's output:\n{output}")
    assert match is not None
    fields = {k: int(v) for k, v in (item.split("=") for item in match.group(1).split())}
    # Cross-check with wrk's own report: its request count and its non-2xx line.
    total = re.search(r"^\s*(\d+) requests in ", output, re.MULTILINE)
    check(total is not None and int(total.group(1)) == fields["requests"], "wrk counts differ")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = sum(fields[k] for k in ("connect", "read", "write", "timeout"))
    return LoadResult(
        client="wrk",
        requests=fields["requests"],
        seconds=fields["duration_us"] / 1e6,
        non_200=max(fields["non200"], int(non2xx.group(1)) if non2xx else 0),
        errors=errors,
        p50_ms=fields["p50_us"] / 1000,
        p99_ms=fields["p99_us"] / 1000,
    )


def python_load(
    host: str, port: int, paths: Sequence[str], token: str, *, connections: int, seconds: float
) -> LoadResult:
    """The fallback: ``connections`` asyncio raw-socket HTTP/1.1 keep-alive loops."""
    return eventloop.run(
        _python_load(host, port, paths, token, connections=connections, seconds=seconds)
    )


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; (status, whether the server closes the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    close = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value)
        elif lowered == b"connection" and value.strip().lower() == b"close":
            close = True
    if length:
        await reader.readexactly(length)
    return status, close


async def _python_load(
    host: str, port: int, paths: Sequence[str], token: str, *, connections: int, seconds: float
) -> LoadResult:
    requests = [
        (
            f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: */*\r\n\r\n"
        ).encode()
        for p in paths
    ]
    latencies: list[float] = []
    counts = {"non_200": 0, "errors": 0}
    started = time.perf_counter()
    deadline = started + seconds

    async def connection(offset: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        index = offset
        try:
            while time.perf_counter() < deadline:
                request = requests[index % len(requests)]
                index += 1
                t0 = time.perf_counter()
                writer.write(request)
                async with asyncio.timeout(REQUEST_TIMEOUT_S):
                    status, close = await _read_response(reader)
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    counts["non_200"] += 1
                if close:
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
        except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError):
            counts["errors"] += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection(i) for i in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return LoadResult(
        client="python",
        requests=len(latencies),
        seconds=elapsed,
        non_200=counts["non_200"],
        errors=counts["errors"],
        p50_ms=percentile(latencies, 50) * 1000 if latencies else math.nan,
        p99_ms=percentile(latencies, 99) * 1000 if latencies else math.nan,
    )
