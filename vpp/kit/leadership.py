"""Scheduler leader election: one PostgreSQL session-level advisory lock, held while leading.

Several scheduler instances (``vpp scheduler`` processes, or API replicas with the
in-process scheduler) run against one PostgreSQL database; only the instance that holds
the advisory lock runs the market-day ticks. The lock belongs to a dedicated connection,
so leadership ends with that session, however it ends:

- the process exits or is killed: the kernel closes its socket, the server ends the
  session and releases the lock at once;
- the connection is lost (server restart, network): the leader's next check fails and
  it steps down; the server releases the lock when it notices the session is gone
  (TCP keepalives every few seconds, set on the session);
- the process hangs or is frozen with its connection open: the session's
  ``idle_session_timeout`` (PostgreSQL >= 14) ends it after ``session_timeout_s`` of
  silence, because a live leader checks in every ``check_s``.

Followers try ``pg_try_advisory_lock`` every ``check_s`` and never block on it. A
leader re-checks its session before every tick (``check``), so it stops at the latest
one check after its session ended. The window in between (a tick already running when
the session dies) is closed by the job-run claims of ``vpp.scheduler``: a (job, period)
is claimed in ``job_runs`` under a unique key, so even two leaders never run a period
twice.

On SQLite (embedded, one process) there is nobody to elect: the instance always leads.
Leadership is exported as the Prometheus gauge ``vpp_scheduler_leader`` (1 leading,
0 following).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Protocol

import psycopg
from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

LOCK_NAME = "vpp.scheduler"
"""Name of the scheduler's advisory lock (hashed to its 64-bit key by ``lock_key``)."""


def lock_key(name: str) -> int:
    """The signed 64-bit advisory-lock key of ``name``: the first 8 bytes of its SHA-256.

    PostgreSQL's ``pg_try_advisory_lock(bigint)`` takes a signed 64-bit key; a hash of a
    readable name keeps keys stable across versions and apart from other locks.
    """
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class Leadership(Protocol):
    """Whether this instance leads; ``check`` re-verifies now (thread-safe, may block on
    the database), ``start``/``stop`` run the periodic check in the background."""

    @property
    def is_leader(self) -> bool: ...

    def check(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


def _leader_gauge(registry: CollectorRegistry | None) -> Gauge | None:
    if registry is None:
        return None
    return Gauge(
        "vpp_scheduler_leader",
        "1 while this scheduler instance leads (runs the market-day jobs), 0 while it follows.",
        registry=registry,
    )


class AlwaysLeader:
    """The single embedded instance (SQLite): it always leads."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._gauge = _leader_gauge(registry)
        if self._gauge is not None:
            self._gauge.set(1)

    @property
    def is_leader(self) -> bool:
        return True

    def check(self) -> bool:
        return True

    def start(self) -> None:
        """Nothing to elect."""

    def stop(self) -> None:
        """Nothing to release."""


def libpq_conninfo(database_url: str) -> str:
    """The libpq connection URI of a SQLAlchemy PostgreSQL URL (driver suffix dropped)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"advisory-lock leadership needs PostgreSQL, not {url.drivername}")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class AdvisoryLockLeadership:
    """Leadership through ``pg_try_advisory_lock`` on a dedicated autocommit connection.

    ``check_s``: seconds between checks (followers retry, the leader confirms its
    session). ``session_timeout_s``: the lock session's ``idle_session_timeout`` (s), after
    which the server ends the session of a leader that stopped checking in; it must
    exceed ``check_s`` by a margin.
    """

    def __init__(
        self,
        database_url: str,
        *,
        name: str = LOCK_NAME,
        check_s: float = 2.0,
        session_timeout_s: float = 15.0,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if session_timeout_s <= check_s:
            raise ValueError("session_timeout_s must exceed check_s")
        self.conninfo = libpq_conninfo(database_url)
        self.key = lock_key(name)
        self.check_s = check_s
        self.session_timeout_s = session_timeout_s
        self._gauge = _leader_gauge(registry)
        self._lock = threading.Lock()
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._leading = False
        self._stop = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._set(False)

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def backend_pid(self) -> int | None:
        """The server process id of the lock session (None while disconnected)."""
        connection = self._connection
        return None if connection is None or connection.closed else connection.info.backend_pid

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        timeout_ms = int(self.session_timeout_s * 1000)
        options = " ".join(
            (
                f"-c idle_session_timeout={timeout_ms}",
                "-c tcp_keepalives_idle=5",
                "-c tcp_keepalives_interval=2",
                "-c tcp_keepalives_count=3",
                "-c application_name=vpp-scheduler-leadership",
            )
        )
        return psycopg.connect(
            self.conninfo,
            autocommit=True,
            connect_timeout=max(2, int(self.check_s * 2)),
            options=options,
            # The client side of a dead link: give up on an unanswered write after the
            # session timeout instead of the kernel's default of many minutes.
            tcp_user_timeout=timeout_ms,
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
        )

    def _set(self, leading: bool) -> None:
        if leading != self._leading:
            log.info("scheduler leadership %s", "acquired" if leading else "lost")
        self._leading = leading
        if self._gauge is not None:
            self._gauge.set(1 if leading else 0)

    def _drop(self, *, resign: bool = False) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                if resign and self._leading and not connection.closed:
                    # Unlock explicitly: the server releases a closed session's locks
                    # only once its backend has exited, a moment after close() returns.
                    connection.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
                connection.close()
            except psycopg.Error:  # already broken: nothing left to release
                log.debug("closing the lock connection failed", exc_info=True)
        self._set(False)

    def check(self) -> bool:
        """Confirm the lock session (leader) or try to take the lock (follower); whether
        this instance leads now. Any database error ends leadership and the session."""
        with self._lock:
            if self._closed:
                return False
            try:
                if self._connection is None or self._connection.closed:
                    self._connection = self._connect()
                if self._leading:
                    self._connection.execute("SELECT 1")
                else:
                    row = self._connection.execute(
                        "SELECT pg_try_advisory_lock(%s)", (self.key,)
                    ).fetchone()
                    self._set(bool(row and row[0]))
            except psycopg.Error as exc:
                log.warning("scheduler leadership check failed: %s", exc)
                self._drop()
            return self._leading

    def _run(self) -> None:
        while not self._stop.is_set():
            self.check()
            self._stop.wait(self.check_s)

    def start(self) -> None:
        """Check now, then every ``check_s`` in a background thread (not the event loop,
        so a busy loop never starves the heartbeat that keeps the session alive)."""
        if self._thread is not None or self._closed:
            return
        self.check()
        self._thread = threading.Thread(target=self._run, name="vpp-leadership", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop checking and resign for good: close the session, which releases the lock."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            self._closed = True
            self._drop(resign=True)


def elect(
    database_url: str,
    *,
    check_s: float = 2.0,
    session_timeout_s: float = 15.0,
    registry: CollectorRegistry | None = None,
) -> Leadership:
    """The leadership of a scheduler on ``database_url``: always leading on SQLite (one
    embedded process), advisory-lock election on PostgreSQL."""
    if make_url(database_url).get_backend_name() == "sqlite":
        return AlwaysLeader(registry)
    return AdvisoryLockLeadership(
        database_url, check_s=check_s, session_timeout_s=session_timeout_s, registry=registry
    )
