"""The process's distributed engine: Dask distributed for the optimiser's and forecasts' fan-out.

``VPP_COMPUTE`` (`Settings.compute`) picks it:

- unset or empty: everything in this process (`vpp.optimize.blocks.InProcess`);
- ``local:N``: a Dask ``LocalCluster`` of N single-threaded worker processes on this
  machine, started with the service and closed with it (``local`` alone: one per CPU);
- ``tcp://host:8786`` (any Dask address: tcp, tls, ucx, inproc): the workers of that
  Dask scheduler, shared by every replica that names it. The workers need the ``vpp``
  package installed (they run `vpp.optimize` and `vpp.forecast` functions).

The engine is the only fan-out in the service; `vpp.optimize` and `vpp.forecast` stay
pure and receive it as a `BlockMap`. The app's lifespan opens it (`open_compute`) and
installs it as the process default (`installed`), which the bid and forecast services
use when their caller passes none (`current`).
"""

from __future__ import annotations

import os
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vpp.optimize.blocks import IN_PROCESS, BlockMap

T = TypeVar("T")
R = TypeVar("R")

SPEC_PATTERN = r"^(|local(:[1-9][0-9]{0,2})?|(tcp|tls|ucx|inproc)://\S+)$"
"""What ``VPP_COMPUTE`` may hold (module docstring)."""


class DaskBlocks:
    """`BlockMap` over the workers of a ``distributed.Client``.

    Block i goes to the i-th worker (by address, modulo the worker count), so the same
    assets meet the same worker's kept highspy bases in every price round; if that worker
    is gone another one takes the block (``allow_other_workers``) and only starts cold.
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    def _addresses(self) -> list[str]:
        return sorted(self.client.scheduler_info(n_workers=-1)["workers"])

    @property
    def workers(self) -> int:
        return max(1, len(self._addresses()))

    def _submit(self, task: Callable[[T], R], block: T, address: str) -> Any:
        where = [address]
        # the data goes straight to its worker, not inside the task graph (megabytes of
        # telemetry or LP data would pass through the scheduler)
        [data] = self.client.scatter([block], workers=where, hash=False)
        return self.client.submit(task, data, workers=where, allow_other_workers=True, pure=False)

    def map(self, task: Callable[[T], R], blocks: Sequence[T]) -> list[R]:
        addresses = self._addresses()
        if not addresses:  # no worker connected: a fan-out would wait for one forever
            return [task(block) for block in blocks]
        futures = [
            self._submit(task, block, addresses[i % len(addresses)])
            for i, block in enumerate(blocks)
        ]
        results: list[R] = self.client.gather(futures)
        return results

    def imap(self, task: Callable[[T], R], blocks: Iterable[T], ahead: int) -> Iterator[R]:
        addresses = self._addresses()
        if not addresses:
            yield from (task(block) for block in blocks)
            return
        pending: deque[Any] = deque()
        for i, block in enumerate(blocks):
            pending.append(self._submit(task, block, addresses[i % len(addresses)]))
            while len(pending) >= max(ahead, 1):
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


@dataclass
class Compute:
    """An opened engine: its `BlockMap` and what closes it."""

    blocks: BlockMap
    description: str
    _closers: list[Callable[[], object]] = field(default_factory=list)

    def close(self) -> None:
        """Disconnect from (or stop) the engine; the in-process one has nothing to close."""
        while self._closers:
            self._closers.pop()()

    def __enter__(self) -> Compute:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def validate_spec(spec: str | None) -> str | None:
    """``spec`` if it is a valid ``VPP_COMPUTE`` value, else ValueError naming the forms."""
    if spec is not None and re.fullmatch(SPEC_PATTERN, spec) is None:
        raise ValueError(
            f"VPP_COMPUTE={spec!r}: expected empty (in process), local[:N] or a Dask "
            "scheduler address such as tcp://scheduler:8786"
        )
    return spec


WORKER_ENVIRONMENT: dict[str, str | int] = {
    "OMP_NUM_THREADS": 1,
    "MKL_NUM_THREADS": 1,
    "OPENBLAS_NUM_THREADS": 1,
}
"""What a local worker process starts with: Dask's own defaults (one thread per numerical
library, the worker being single-threaded) without its ``MALLOC_TRIM_THRESHOLD_``. That
setting, meant to hand freed memory back to the system sooner, also pins glibc's mmap
threshold, so every large numpy temporary was mapped, page-faulted and unmapped again:
a block of 1,000 forecasts took 2.2 s instead of 0.9 s, and at 10,000 assets the cycle's
forecast 19.2 s instead of 13.3 s and its bid 44.9 s instead of 19.7 s. The workers now
manage memory as the service process itself does. A remote cluster's workers are
started by their operator, who should leave the variable out the same way (Dask's
``distributed.nanny.pre-spawn-environ``)."""


def open_compute(spec: str | None) -> Compute:
    """The engine ``spec`` names (module docstring); the caller closes it."""
    validate_spec(spec)
    if not spec:
        return Compute(IN_PROCESS, "in process")
    from distributed import Client, LocalCluster  # a heavy import, only when configured

    if spec.startswith("local"):
        import dask

        count = int(spec.partition(":")[2] or (os.cpu_count() or 1))
        # A nanny copies its variables into this process's environment before spawning
        # its worker, where they stay: one left by an earlier cluster would be inherited.
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        with dask.config.set({"distributed.nanny.pre-spawn-environ": WORKER_ENVIRONMENT}):
            cluster = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=count,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # its HTTP server (metrics) on a free port
            )
        client = Client(cluster, set_as_default=False)  # type: ignore[no-untyped-call]
        return Compute(
            DaskBlocks(client),
            f"Dask LocalCluster of {count} worker(s)",
            [cluster.close, client.close],
        )
    client = Client(spec, set_as_default=False)  # type: ignore[no-untyped-call]
    return Compute(DaskBlocks(client), f"Dask scheduler {spec}", [client.close])


_installed: list[BlockMap] = []
_lock = threading.Lock()


def current() -> BlockMap:
    """The installed engine's `BlockMap` (the innermost `installed`), else in process."""
    with _lock:
        return _installed[-1] if _installed else IN_PROCESS


@contextmanager
def installed(blocks: BlockMap) -> Iterator[BlockMap]:
    """Make ``blocks`` the process default (`current`) within the block, for every thread."""
    with _lock:
        _installed.append(blocks)
    try:
        yield blocks
    finally:
        with _lock:
            _installed.remove(blocks)
