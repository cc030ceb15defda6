"""Prometheus metrics: request counts and latencies by route, telemetry ingested."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class _EventSources:
    """Exports each adapter's own event counts (``AssetAdapter.event_counts``) at scrape time."""

    def __init__(self) -> None:
        self.sources: dict[str, Callable[[], Mapping[str, int]]] = {}

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "vpp_adapter_events",
            "Notable adapter events (malformed payloads, protocol errors, timeouts) by kind.",
            labels=["adapter", "event"],
        )
        for adapter, source in sorted(self.sources.items()):
            for event, count in sorted(source().items()):
                family.add_metric([adapter, event], count)
        yield family


@dataclass
class Metrics:
    """One registry per app, so several apps (tests, replicas in one process) never clash."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    adapter_events: _EventSources = field(default_factory=_EventSources)

    def __post_init__(self) -> None:
        self.registry.register(self.adapter_events)
        self.requests = Counter(
            "vpp_http_requests",
            "HTTP requests answered, by route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vpp_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.readings_ingested = Counter(
            "vpp_telemetry_readings_ingested",
            "Telemetry readings stored (duplicates excluded).",
            registry=self.registry,
        )
        self.commands = Counter(
            "vpp_adapter_commands",
            "Setpoint command outcomes by adapter: sent, acked, rejected, retry, failed, expired.",
            ["adapter", "outcome"],
            registry=self.registry,
        )
        self.delivery_latency = Histogram(
            "vpp_adapter_delivery_seconds",
            "Time from a command's first delivery attempt to its acknowledgement.",
            ["adapter"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.adapter_readings = Counter(
            "vpp_adapter_telemetry_readings",
            "Telemetry readings received through adapters.",
            ["adapter"],
            registry=self.registry,
        )
        self.adapter_devices = Gauge(
            "vpp_adapter_connected_devices",
            "Devices an adapter currently reaches.",
            ["adapter"],
            registry=self.registry,
        )
        self.readings_duplicate = Counter(
            "vpp_telemetry_readings_duplicate",
            "Telemetry readings dropped because the same asset and timestamp was stored.",
            registry=self.registry,
        )

    def record_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency under its route template."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


class MetricsMiddleware:
    """Pure ASGI middleware (no per-request task or body buffering)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            self.metrics.record_request(
                scope["method"], route_template(scope), status, time.perf_counter() - start
            )


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/assets/{asset_id}``), never the raw path,
    so label cardinality stays bounded. FastAPI >= 0.160 keeps the prefixed template in
    its effective route context; older versions on the route itself."""
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    template = getattr(context, "path_format", None) or getattr(scope.get("route"), "path", None)
    return str(template) if template else "unmatched"
