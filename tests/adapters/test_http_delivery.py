"""The webhook adapter against a real receiver served by uvicorn on a loopback port."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from adapters.http import (
    CommandRefused,
    HttpWebhookAdapter,
    MappingSecretStore,
    ReceivedCommand,
    RequestRecord,
    WebhookReceiver,
    receiver_endpoint,
    signature_headers,
)
from adapters.http.wire import encode_batch, encode_command
from vpp.domain.commands import DeliveryStatus, SetpointCommand
from vpp.ports import Clock, ManualClock, SystemClock

SECRET = "the-enterprise-webhook-secret-32-bytes+"
OTHER_SECRET = "a-different-secret-that-is-32-bytes-long"
LOOPBACK_CONFIG: dict[str, Any] = {
    "require_https": False,
    "allow_hosts": ["127.0.0.0/8"],
    "secrets": {"ent-1": SECRET},
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _Server(uvicorn.Server):
    """uvicorn that says when it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


@dataclass
class Device:
    """The enterprise's side: what the receiver applied."""

    applied: list[ReceivedCommand] = field(default_factory=list)
    refuse: set[uuid.UUID] = field(default_factory=set)

    def apply(self, received: ReceivedCommand) -> None:
        if received.asset_id in self.refuse:
            raise CommandRefused("asset in manual mode")
        self.applied.append(received)


@dataclass
class Peer:
    base_url: str
    device: Device
    hits: dict[str, int]

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


async def _wait_for_disconnect(scope: Scope, receive: Receive, send: Send) -> None:
    """Never answers: reads the request, then waits until the client gives up."""
    while (await receive())["type"] != "http.disconnect":
        pass


def build_app(device: Device, hits: dict[str, int]) -> Starlette:
    receiver = WebhookReceiver({"ent-1": SECRET}, device.apply)
    endpoint = receiver_endpoint(receiver)

    def hit(name: str) -> int:
        hits[name] = hits.get(name, 0) + 1
        return hits[name]

    async def ok(request: Request) -> Response:
        hit("ok")
        return await endpoint(request)

    async def flaky_after_apply(request: Request) -> Response:
        # The first request is applied, but its answer is lost behind a 500: the retry
        # must be acknowledged without applying the command a second time.
        response = await endpoint(request)
        return PlainTextResponse("upstream error", 500) if hit("flaky") == 1 else response

    async def flaky_before_apply(request: Request) -> Response:
        if hit("flaky-before") == 1:
            return PlainTextResponse("maintenance", 503, headers={"Retry-After": "7"})
        return await endpoint(request)

    async def accepted(request: Request) -> Response:
        hit("accepted")
        return Response(status_code=202)

    async def redirect(request: Request) -> Response:
        hit("redirect")
        return RedirectResponse("/hooks/ok", status_code=307)

    async def status(request: Request) -> Response:
        code = int(request.path_params["code"])
        return JSONResponse({"error": "nope"}, status_code=code)

    inflight = [0]

    async def counted(request: Request) -> Response:
        # Holds each request a moment so that concurrent ones overlap, and records the
        # most seen at once.
        inflight[0] += 1
        hits["max_inflight"] = max(hits.get("max_inflight", 0), inflight[0])
        try:
            await asyncio.sleep(0.02)
            return await endpoint(request)
        finally:
            inflight[0] -= 1

    async def not_json(request: Request) -> Response:
        return PlainTextResponse("thanks")

    async def partial(request: Request) -> Response:
        answer = await endpoint(request)
        acks = json.loads(bytes(answer.body))["acks"]
        return JSONResponse({"acks": acks[:1]})

    return Starlette(
        routes=[
            Route("/hooks/ok", ok, methods=["POST"]),
            Route("/hooks/flaky", flaky_after_apply, methods=["POST"]),
            Route("/hooks/flaky-before", flaky_before_apply, methods=["POST"]),
            Route("/hooks/accepted", accepted, methods=["POST"]),
            Route("/hooks/redirect", redirect, methods=["POST"]),
            Route("/hooks/status/{code:int}", status, methods=["POST"]),
            Route("/hooks/not-json", not_json, methods=["POST"]),
            Route("/hooks/counted/{n:int}", counted, methods=["POST"]),
            Route("/hooks/partial", partial, methods=["POST"]),
            Mount("/hooks/hang", app=_wait_for_disconnect),
        ]
    )


@pytest.fixture
def peer() -> Iterator[Peer]:
    device, hits = Device(), dict[str, int]()
    config = uvicorn.Config(
        build_app(device, hits),
        loop="asyncio",
        http="h11",
        ws="none",
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = _Server(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert server.ready.wait(timeout=15), "uvicorn did not start"
        yield Peer(f"http://127.0.0.1:{port}", device, hits)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
    assert not thread.is_alive()


NOW = datetime.now(UTC).replace(microsecond=0)


def setpoint(url: str, power_kw: float = 500.0, **settings: Any) -> SetpointCommand:
    return SetpointCommand(
        id=uuid.uuid4(),
        asset_id=uuid.uuid4(),
        interval_start=NOW,
        power_kw=power_kw,
        expires_at=NOW + timedelta(minutes=15),
        settings={"url": url, "secret_id": "ent-1", "timeout_s": 5.0, **settings},
    )


def make_adapter(
    clock: Clock | None = None,
    config: dict[str, Any] | None = None,
    **kwargs: Any,
) -> HttpWebhookAdapter:
    return HttpWebhookAdapter(clock or SystemClock(), config or LOOPBACK_CONFIG, **kwargs)


class NullSink:
    async def telemetry(self, readings: Any) -> None:
        return None

    async def acknowledged(self, acks: Any) -> None:
        return None


def statuses(outcomes: Any) -> dict[uuid.UUID, DeliveryStatus]:
    return {o.command_id: o.status for o in outcomes}


@pytest.mark.anyio
async def test_round_trip_batches_signs_and_acks(peer: Peer) -> None:
    records: list[RequestRecord] = []
    adapter = make_adapter(on_request=records.append)
    await adapter.start(NullSink())
    try:
        commands = [setpoint(peer.url("/hooks/ok"), power_kw=100.0 * i) for i in range(25)]
        commands[3] = dataclasses.replace(commands[3], power_kw=-750.0)
        outcomes = await adapter.deliver(commands)
    finally:
        await adapter.stop()
    assert statuses(outcomes) == {c.id: DeliveryStatus.ACKED for c in commands}
    assert peer.hits == {"ok": 1}  # one request for the whole endpoint
    assert [(r.commands, r.status_code, r.error) for r in records] == [(25, 200, None)]
    applied = {a.command_id: a for a in peer.device.applied}
    assert set(applied) == {c.id for c in commands}
    assert applied[commands[3].id].power_kw == -750.0
    assert applied[commands[3].id].asset_id == commands[3].asset_id
    assert applied[commands[3].id].expires_at == commands[3].expires_at
    assert adapter.health().healthy is False  # stopped


@pytest.mark.anyio
async def test_refusals_are_rejected_outcomes(peer: Peer) -> None:
    adapter = make_adapter()
    await adapter.start(NullSink())
    try:
        good, refused = setpoint(peer.url("/hooks/ok")), setpoint(peer.url("/hooks/ok"))
        peer.device.refuse.add(refused.asset_id)
        outcomes = await adapter.deliver([good, refused])
    finally:
        await adapter.stop()
    by_id = {o.command_id: o for o in outcomes}
    assert by_id[good.id].status is DeliveryStatus.ACKED
    assert (by_id[refused.id].status, by_id[refused.id].detail) == (
        DeliveryStatus.REJECTED,
        "asset in manual mode",
    )


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/hooks/flaky", "/hooks/flaky-before"])
async def test_500_then_200_is_retried_and_applied_once(peer: Peer, path: str) -> None:
    adapter = make_adapter()
    await adapter.start(NullSink())
    try:
        command = setpoint(peer.url(path))
        first = await adapter.deliver([command])
        # The engine retries: same command, next attempt.
        second = await adapter.deliver([dataclasses.replace(command, attempt=2)])
    finally:
        await adapter.stop()
    assert [o.status for o in first] == [DeliveryStatus.RETRY]
    assert "HTTP 50" in first[0].detail
    assert [o.status for o in second] == [DeliveryStatus.ACKED]
    assert [a.command_id for a in peer.device.applied] == [command.id]
    if path == "/hooks/flaky-before":
        assert "retry after 7 s" in first[0].detail
        assert peer.device.applied[0].attempt == 2
    else:
        assert peer.device.applied[0].attempt == 1


@pytest.mark.anyio
async def test_a_wrong_secret_is_refused_by_the_receiver(peer: Peer) -> None:
    adapter = make_adapter(secrets=MappingSecretStore({"ent-1": OTHER_SECRET}))
    await adapter.start(NullSink())
    try:
        outcomes = await adapter.deliver([setpoint(peer.url("/hooks/ok"))])
    finally:
        await adapter.stop()
    assert [o.status for o in outcomes] == [DeliveryStatus.FAILED]
    assert "HTTP 401" in outcomes[0].detail
    assert "signature does not match" in outcomes[0].detail
    assert peer.device.applied == []


@pytest.mark.anyio
async def test_a_stale_timestamp_is_refused_by_the_receiver(peer: Peer) -> None:
    adapter = make_adapter(clock=ManualClock(datetime.now(UTC) - timedelta(minutes=10)))
    await adapter.start(NullSink())
    try:
        outcomes = await adapter.deliver([setpoint(peer.url("/hooks/ok"))])
    finally:
        await adapter.stop()
    assert [o.status for o in outcomes] == [DeliveryStatus.FAILED]
    assert "HTTP 401" in outcomes[0].detail
    assert "tolerance" in outcomes[0].detail
    assert peer.device.applied == []


@pytest.mark.anyio
async def test_a_replayed_request_is_refused_by_the_receiver(peer: Peer) -> None:
    command = setpoint(peer.url("/hooks/ok"))
    body = encode_batch([encode_command(command)])
    headers = signature_headers("ent-1", SECRET.encode(), int(time.time()), body)
    async with httpx.AsyncClient() as client:
        first = await client.post(peer.url("/hooks/ok"), content=body, headers=headers)
        replay = await client.post(peer.url("/hooks/ok"), content=body, headers=headers)
    assert first.status_code == 200
    assert first.json()["acks"] == [{"command_id": str(command.id), "accepted": True}]
    assert replay.status_code == 401
    assert replay.json() == {"error": "invalid_signature", "detail": "replayed request"}
    assert [a.command_id for a in peer.device.applied] == [command.id]


@pytest.mark.anyio
async def test_a_tampered_request_is_refused_by_the_receiver(peer: Peer) -> None:
    command = setpoint(peer.url("/hooks/ok"))
    body = encode_batch([encode_command(command)])
    headers = signature_headers("ent-1", SECRET.encode(), int(time.time()), body)
    tampered = body.replace(b"500.0", b"5000.0")
    async with httpx.AsyncClient() as client:
        response = await client.post(peer.url("/hooks/ok"), content=tampered, headers=headers)
    assert response.status_code == 401
    assert peer.device.applied == []


@pytest.mark.anyio
async def test_a_redirect_is_not_followed_and_fails(peer: Peer) -> None:
    adapter = make_adapter()
    await adapter.start(NullSink())
    try:
        outcomes = await adapter.deliver([setpoint(peer.url("/hooks/redirect"))])
    finally:
        await adapter.stop()
    assert [o.status for o in outcomes] == [DeliveryStatus.FAILED]
    assert "HTTP 307" in outcomes[0].detail
    assert "redirects are not followed" in outcomes[0].detail
    assert peer.hits == {"redirect": 1}  # /hooks/ok never reached
    assert peer.device.applied == []


@pytest.mark.anyio
async def test_an_injected_session_is_used_without_redirects_and_left_open(peer: Peer) -> None:
    async with aiohttp.ClientSession() as session:
        adapter = make_adapter(session=session)
        await adapter.start(NullSink())
        redirected = await adapter.deliver([setpoint(peer.url("/hooks/redirect"))])
        delivered = await adapter.deliver([setpoint(peer.url("/hooks/ok"))])
        await adapter.stop()
        assert not session.closed  # the adapter closes only a session it built
    assert [o.status for o in redirected] == [DeliveryStatus.FAILED]
    assert [o.status for o in delivered] == [DeliveryStatus.ACKED]
    assert peer.hits == {"redirect": 1, "ok": 1}


@pytest.mark.anyio
async def test_a_timeout_is_retried(peer: Peer) -> None:
    records: list[RequestRecord] = []
    adapter = make_adapter(on_request=records.append)
    await adapter.start(NullSink())
    try:
        started = time.perf_counter()
        outcomes = await adapter.deliver([setpoint(peer.url("/hooks/hang/"), timeout_s=0.3)])
        elapsed = time.perf_counter() - started
    finally:
        await adapter.stop()
    assert [o.status for o in outcomes] == [DeliveryStatus.RETRY]
    assert "did not answer within 0.3 s" in outcomes[0].detail
    assert 0.3 <= elapsed < 3
    assert [r.error for r in records] == ["timeout"]


@pytest.mark.anyio
async def test_a_closed_port_is_retried() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bound_not_listening:
        bound_not_listening.bind(("127.0.0.1", 0))
        port = bound_not_listening.getsockname()[1]
        adapter = make_adapter()
        await adapter.start(NullSink())
        try:
            outcomes = await adapter.deliver([setpoint(f"http://127.0.0.1:{port}/hooks")])
        finally:
            await adapter.stop()
    assert [(o.status, o.detail) for o in outcomes] == [
        (DeliveryStatus.RETRY, f"http://127.0.0.1:{port}: cannot connect")
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (400, DeliveryStatus.FAILED),
        (403, DeliveryStatus.FAILED),
        (404, DeliveryStatus.FAILED),
        (408, DeliveryStatus.RETRY),
        (422, DeliveryStatus.FAILED),
        (429, DeliveryStatus.RETRY),
        (500, DeliveryStatus.RETRY),
        (502, DeliveryStatus.RETRY),
        (503, DeliveryStatus.RETRY),
    ],
)
async def test_status_rules(peer: Peer, code: int, expected: DeliveryStatus) -> None:
    adapter = make_adapter()
    await adapter.start(NullSink())
    try:
        outcomes = await adapter.deliver([setpoint(peer.url(f"/hooks/status/{code}"))])
    finally:
        await adapter.stop()
    assert [o.status for o in outcomes] == [expected]
    assert f"HTTP {code}" in outcomes[0].detail


@pytest.mark.anyio
async def test_202_leaves_commands_sent(peer: Peer) -> None:
    adapter = make_adapter()
    await adapter.start(NullSink())
    try:
        outcomes = await adapter.deliver([setpoint(peer.url("/hooks/accepted")) for _ in range(3)])
    finally:
        await adapter.stop()
    assert [o.status for o in outcomes] == [DeliveryStatus.SENT] * 3
    assert peer.hits == {"accepted": 1}


@pytest.mark.anyio
async def test_malformed_or_partial_answers_are_retried(peer: Peer) -> None:
    adapter = make_adapter()
    await adapter.start(NullSink())
    try:
        garbled = await adapter.deliver([setpoint(peer.url("/hooks/not-json"))])
        partial = [setpoint(peer.url("/hooks/partial")) for _ in range(2)]
        partial_outcomes = {o.command_id: o for o in await adapter.deliver(partial)}
    finally:
        await adapter.stop()
    assert [o.status for o in garbled] == [DeliveryStatus.RETRY]
    assert "malformed" in garbled[0].detail
    assert partial_outcomes[partial[0].id].status is DeliveryStatus.ACKED
    assert partial_outcomes[partial[1].id].status is DeliveryStatus.RETRY


@pytest.mark.anyio
async def test_endpoints_are_batched_separately_and_bad_bindings_fail(peer: Peer) -> None:
    records: list[RequestRecord] = []
    adapter = make_adapter(config={**LOOPBACK_CONFIG, "max_batch": 4}, on_request=records.append)
    await adapter.start(NullSink())
    try:
        to_ok = [setpoint(peer.url("/hooks/ok")) for _ in range(10)]
        to_accepted = [setpoint(peer.url("/hooks/accepted")) for _ in range(3)]
        unknown_secret = setpoint(peer.url("/hooks/ok"), secret_id="ent-2")
        invalid = dataclasses.replace(setpoint(peer.url("/hooks/ok")), settings={"url": 5})
        with_userinfo = setpoint(peer.url("/hooks/ok").replace("http://", "http://me:pw@"))
        outcomes = await adapter.deliver(
            [*to_ok, *to_accepted, unknown_secret, invalid, with_userinfo]
        )
    finally:
        await adapter.stop()
    by_id = {o.command_id: o for o in outcomes}
    assert len(outcomes) == 16
    assert {by_id[c.id].status for c in to_ok} == {DeliveryStatus.ACKED}
    assert {by_id[c.id].status for c in to_accepted} == {DeliveryStatus.SENT}
    assert by_id[unknown_secret.id].status is DeliveryStatus.FAILED
    assert "no webhook secret" in by_id[unknown_secret.id].detail
    assert by_id[invalid.id].status is DeliveryStatus.FAILED
    assert "invalid http binding settings" in by_id[invalid.id].detail
    assert by_id[with_userinfo.id].status is DeliveryStatus.FAILED
    assert "pw" not in by_id[with_userinfo.id].detail
    assert sorted(r.commands for r in records) == [2, 3, 4, 4]
    assert peer.hits == {"ok": 3, "accepted": 1}


@pytest.mark.anyio
async def test_the_connect_time_guard_refuses_non_admitted_addresses(peer: Peer) -> None:
    # A binding enrolled earlier (or a name that now resolves to loopback) must not be
    # reachable once the policy no longer admits it.
    config = {**LOOPBACK_CONFIG, "allow_hosts": []}
    adapter = make_adapter(config=config)
    await adapter.start(NullSink())
    try:
        by_ip = await adapter.deliver([setpoint(peer.url("/hooks/ok"))])
        by_name = await adapter.deliver(
            [setpoint(peer.url("/hooks/ok").replace("127.0.0.1", "localhost"))]
        )
    finally:
        await adapter.stop()
    for outcomes in (by_ip, by_name):
        assert [o.status for o in outcomes] == [DeliveryStatus.FAILED]
        assert "loopback" in outcomes[0].detail
    assert peer.hits == {}


@pytest.mark.anyio
async def test_https_is_required_at_send_time_too(peer: Peer) -> None:
    adapter = make_adapter(config={**LOOPBACK_CONFIG, "require_https": True})
    await adapter.start(NullSink())
    try:
        outcomes = await adapter.deliver([setpoint(peer.url("/hooks/ok"))])
    finally:
        await adapter.stop()
    assert [(o.status, o.detail) for o in outcomes] == [
        (DeliveryStatus.FAILED, "the URL must use https")
    ]
    assert peer.hits == {}


@pytest.mark.anyio
async def test_the_secret_never_reaches_logs_or_details(
    peer: Peer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = make_adapter(secrets=MappingSecretStore({"ent-1": OTHER_SECRET}))
    await adapter.start(NullSink())
    try:
        outcomes = await adapter.deliver(
            [setpoint(peer.url("/hooks/ok?token=query-token")), setpoint(peer.url("/hooks/ok"))]
        )
    finally:
        await adapter.stop()
    assert OTHER_SECRET not in caplog.text + repr(adapter) + repr(adapter.options)
    # The adapter names endpoints by origin only (httpx's own INFO log shows full URLs:
    # production logging keeps the "httpx" logger at WARNING).
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("adapters"))
    assert "webhook http://127.0.0.1" in ours  # the refusal was logged, by origin
    assert "query-token" not in ours + repr(outcomes)


@pytest.mark.anyio
async def test_deliver_before_start_is_an_error() -> None:
    from adapters.errors import AdapterError

    with pytest.raises(AdapterError, match="not started"):
        await make_adapter().deliver([setpoint("http://127.0.0.1:9/hooks")])


@pytest.mark.anyio
async def test_an_unsendable_command_fails_alone(peer: Peer) -> None:
    adapter = make_adapter()
    await adapter.start(NullSink())
    try:
        good = setpoint(peer.url("/hooks/ok"))
        naive = dataclasses.replace(
            setpoint(peer.url("/hooks/ok")), interval_start=datetime(2025, 6, 1, 16, 0)
        )
        not_a_number = setpoint(peer.url("/hooks/ok"), power_kw=float("inf"))
        outcomes = {o.command_id: o for o in await adapter.deliver([good, naive, not_a_number])}
    finally:
        await adapter.stop()
    assert outcomes[good.id].status is DeliveryStatus.ACKED
    assert outcomes[naive.id].status is DeliveryStatus.FAILED
    assert "naive" in outcomes[naive.id].detail
    assert outcomes[not_a_number.id].status is DeliveryStatus.FAILED
    assert [a.command_id for a in peer.device.applied] == [good.id]


@pytest.mark.anyio
@pytest.mark.parametrize("per_origin", [1, 2])
async def test_requests_per_origin_are_bounded(peer: Peer, per_origin: int) -> None:
    records: list[RequestRecord] = []
    config = {**LOOPBACK_CONFIG, "max_requests_per_origin": per_origin}
    adapter = make_adapter(config=config, on_request=records.append)
    await adapter.start(NullSink())
    try:
        commands = [setpoint(peer.url(f"/hooks/counted/{n}")) for n in range(6)]
        outcomes = await adapter.deliver(commands)
    finally:
        await adapter.stop()
    assert {o.status for o in outcomes} == {DeliveryStatus.ACKED}
    assert 1 <= peer.hits["max_inflight"] <= per_origin
    assert len(records) == 6
    assert max(r.waited_s for r in records) > 0  # the later ones waited for a slot
