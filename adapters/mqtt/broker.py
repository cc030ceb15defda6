"""A throwaway Mosquitto broker for tests, benchmarks and local runs, configured like production.

It listens on one loopback port, refuses anonymous clients, knows one password per
enterprise plus the VPP service user, and confines each enterprise with an ACL to
``vpp/<its site>/#`` while the service user reaches ``vpp/#``. ``acl_text`` and
``config_text`` show the production layout (DESIGN.md section 6, issue 3 item 5).
The binary comes from ``scripts/ensure-mosquitto``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from adapters.mqtt.payloads import is_segment

SERVICE_USER = "vpp-service"


@dataclass(frozen=True)
class BrokerUser:
    """A broker login: the service user (``sites`` empty, ``service`` True) or an
    enterprise confined to ``vpp/<site>/#`` for each of its sites."""

    username: str
    password: str
    sites: tuple[str, ...] = ()
    service: bool = False


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a TLS listener: the CA that signed the server certificate, the
    certificate and its key."""

    cafile: Path
    certfile: Path
    keyfile: Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def acl_text(users: Sequence[BrokerUser]) -> str:
    """A Mosquitto ACL file: the service user reaches ``vpp/#``, each enterprise
    only ``vpp/<its site>/#``; nobody else anything (``allow_anonymous false``)."""
    lines = ["# generated: service user everywhere, each enterprise its own sites only"]
    for user in users:
        if any(c.isspace() for c in user.username):
            raise ValueError(f"broker user names cannot contain spaces: {user.username!r}")
        lines.append(f"\nuser {user.username}")
        if user.service:
            lines.append("topic readwrite vpp/#")
        for site in user.sites:
            if not is_segment(site):
                raise ValueError(f"not an MQTT-safe site segment: {site!r}")
            lines.append(f"topic readwrite vpp/{site}/#")
    return "\n".join(lines) + "\n"


def config_text(
    port: int,
    password_file: Path,
    acl_file: Path,
    *,
    tcp_nodelay: bool = True,
    max_inflight_messages: int = 1000,
    run_as_root: bool = False,
    tls: TlsFiles | None = None,
) -> str:
    """A Mosquitto 2 configuration: one explicit loopback listener (TLS with ``tls``),
    no anonymous access."""
    listener = [f"listener {port} 127.0.0.1"]
    if tls is not None:
        listener += [f"cafile {tls.cafile}", f"certfile {tls.certfile}", f"keyfile {tls.keyfile}"]
    lines = [
        "per_listener_settings false",
        *listener,
        "allow_anonymous false",
        f"password_file {password_file}",
        f"acl_file {acl_file}",
        "persistence false",
        # Broker side of the Nagle story: its PUBACK-then-PUBLISH writes.
        f"set_tcp_nodelay {'true' if tcp_nodelay else 'false'}",
        # Also the Receive Maximum announced to MQTT 5 clients (default 20).
        f"max_inflight_messages {max_inflight_messages}",
        "max_queued_messages 100000",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
    ]
    if run_as_root:
        # Mosquitto started as root drops to the "mosquitto" user, which cannot read
        # files in a root-only temporary directory; a throwaway broker stays root.
        lines.append("user root")
    return "\n".join(lines) + "\n"


class MosquittoBroker:
    """Runs ``mosquitto`` in ``workdir`` on ``port`` (default: a free one) for ``users``,
    with TLS when given ``tls``.

    ``start`` waits until the port accepts connections; ``kill`` (SIGKILL), ``stop``
    (SIGTERM), ``freeze``/``thaw`` (SIGSTOP/SIGCONT) simulate faults; ``start`` again
    restarts it on the same port with the same configuration (sessions are not
    persisted: a restart loses them, like a crash).
    """

    def __init__(
        self,
        workdir: Path,
        users: Sequence[BrokerUser],
        *,
        binary: str = "mosquitto",
        port: int | None = None,
        tcp_nodelay: bool = True,
        max_inflight_messages: int = 1000,
        tls: TlsFiles | None = None,
    ) -> None:
        self.workdir = workdir
        self.tls = tls
        self.users = tuple(users)
        self.binary = shutil.which(binary) or binary
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.tcp_nodelay = tcp_nodelay
        self.max_inflight_messages = max_inflight_messages
        self.config_file = workdir / "mosquitto.conf"
        self.password_file = workdir / "passwd"
        self.acl_file = workdir / "acl"
        self.log_file = workdir / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._written = False

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def write_files(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        passwd_tool = shutil.which("mosquitto_passwd")
        if passwd_tool is None:
            raise RuntimeError("mosquitto_passwd not found: run scripts/ensure-mosquitto")
        self.password_file.unlink(missing_ok=True)
        self.password_file.touch(mode=0o600)
        for user in self.users:
            subprocess.run(  # noqa: S603  (fixed tool, arguments are not shell-parsed)
                [passwd_tool, "-b", str(self.password_file), user.username, user.password],
                check=True,
                capture_output=True,
            )
        self.acl_file.write_text(acl_text(self.users))
        self.acl_file.chmod(0o600)
        self.config_file.write_text(
            config_text(
                self.port,
                self.password_file,
                self.acl_file,
                tcp_nodelay=self.tcp_nodelay,
                max_inflight_messages=self.max_inflight_messages,
                run_as_root=os.geteuid() == 0,
                tls=self.tls,
            )
        )
        self._written = True

    def start(self, timeout_s: float = 10.0) -> None:
        """Start (or restart) the broker and wait until it accepts connections."""
        if self.running:
            return
        if not self._written:
            self.write_files()
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603
                [self.binary, "-c", str(self.config_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited with {self._process.returncode}: {self.log_tail()}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=0.5),
            ):
                return
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"mosquitto did not listen within {timeout_s} s")
            time.sleep(0.02)

    def _signal(self, signum: signal.Signals) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL: a crash; open connections are reset."""
        self._signal(signal.SIGKILL)
        self._reap()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self._process is None:
            return
        self._signal(signal.SIGCONT)
        self._signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
        self._reap()

    def freeze(self) -> None:
        """SIGSTOP: the broker stops answering but its connections stay open."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)

    def _reap(self) -> None:
        if self._process is not None:
            self._process.wait()
            self._process = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
