"""The HTTP client against the real simulator server (uvicorn on a free loopback port)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import anyio
import httpx
import numpy as np
import pytest
import uvicorn

from market.client import HttpMarketClient, dump_bid, dump_clearing, parse_receipt
from market.errors import MarketRejectedError
from market.factories import http_client
from market.simulator.competitors import offered_mask
from market.simulator.http import REPLAYED_HEADER, create_app
from market.simulator.operator import SimulatedMarket
from vpp.bidding.registry import load_packs
from vpp.domain.market import Bid, BidStep, IntervalOffer
from vpp.domain.time import day_bounds_utc
from vpp.ports import ManualClock

pytestmark = pytest.mark.anyio

DAY = date(2026, 6, 2)
BEFORE_GATE = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
VALLEY = "peak_shaving.valley_fill"
PEAK = "peak_shaving.peak_cut"
TOKENS = {"token-of-a-0123456789": "a", "token-of-b-0123456789": "b"}
TOKEN_A, TOKEN_B = list(TOKENS)
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


class _Server(uvicorn.Server):
    """uvicorn that says when it listens and leaves the test runner's signals alone."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Live:
    base_url: str
    market: SimulatedMarket
    clock: ManualClock


@contextlib.asynccontextmanager
async def running(
    market: SimulatedMarket, clear_every_s: float | None = None
) -> AsyncIterator[str]:
    """Serve the market's app on 127.0.0.1 (a port the OS picks) until the block ends."""
    app = create_app(market, TOKENS, clear_every_s=clear_every_s)
    config = uvicorn.Config(app, log_level="warning", access_log=False, ws="none", lifespan="on")
    server = _Server(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    ready = asyncio.create_task(server.ready.wait())
    try:
        await asyncio.wait({serving, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not server.ready.is_set():
            await serving  # raises what stopped the start-up
            raise RuntimeError("the server stopped before it was ready")
        yield f"http://127.0.0.1:{port}"
    finally:
        ready.cancel()
        server.should_exit = True
        with anyio.fail_after(10):
            await serving
        sock.close()


@pytest.fixture
async def live() -> AsyncIterator[Live]:
    clock = ManualClock(BEFORE_GATE)
    market = SimulatedMarket(load_packs(), clock, seed=0, instruction_probability=1.0)
    async with running(market) as base_url:
        yield Live(base_url, market, clock)


def client_for(
    http: httpx.AsyncClient, live: Live, token: str, participant: str
) -> HttpMarketClient:
    return HttpMarketClient(
        http, live.base_url, token, participant=participant, timeout_s=5.0, backoff_s=0.0
    )


def bid_for(market: SimulatedMarket, product: str, participant: str, price: float) -> Bid:
    limits = market.pack(product).limits()
    wanted = np.asarray(market.demand(product, DAY).quantity_kw) > 0
    on = offered_mask(wanted, limits.min_duration_intervals)
    return Bid(
        product=product,
        day=DAY,
        participant=participant,
        side=limits.side,
        intervals=tuple(
            IntervalOffer(k, (BidStep(price, 2000.0),) if on[k] else ())
            for k in range(limits.intervals_per_day)
        ),
    )


def advance_to(clock: ManualClock, instant: datetime) -> None:
    clock.advance((instant - clock.now()).total_seconds())


async def test_submit_replay_clear_awards_and_instructions_end_to_end(live: Live) -> None:
    async with httpx.AsyncClient() as http:
        client = client_for(http, live, TOKEN_A, "a")
        products = await client.products()
        assert {p["product"] for p in products} == set(live.market.products)
        assert all("version" in p and "rules" in p for p in products)

        outlook = await client.outlook(PEAK, DAY)
        assert outlook == await live.market.outlook(PEAK, DAY)

        bid = bid_for(live.market, PEAK, "a", price=1.0)
        receipt = await client.submit(bid, "key-1")
        assert receipt.accepted and receipt.participant == "a"
        assert receipt.received_at == BEFORE_GATE
        assert await client.submit(bid, "key-1") == receipt
        assert await live.market.receipts("a") == [receipt]

        assert await client.clearing(PEAK, DAY) is None
        with pytest.raises(MarketRejectedError, match="gate closes") as refused:
            await client.request_clearing(PEAK, DAY)
        assert refused.value.status_code == 409

        advance_to(live.clock, live.market.pack(PEAK).gate_closure(DAY) + timedelta(seconds=1))
        cleared = await client.request_clearing(PEAK, DAY)
        assert cleared.awards and {a.participant for a in cleared.awards} == {"a"}
        again = await client.clearing(PEAK, DAY)
        direct = await live.market.clearing(PEAK, DAY, "a")
        assert again is not None and direct is not None
        # Compared as JSON: NaN (nothing cleared) is never equal to itself.
        assert dump_clearing(again) == dump_clearing(cleared) == dump_clearing(direct)

        assert list(await client.instructions(EPOCH)) == []
        advance_to(live.clock, day_bounds_utc(DAY)[1])
        instructions = list(await client.instructions(EPOCH))
        assert instructions == await live.market.instructions(EPOCH, "a")
        assert len(instructions) == 1 and instructions[0].product == PEAK
        assert list(await client.instructions(instructions[0].issued_at)) == []


async def test_a_refused_bid_is_a_422_receipt_and_its_replay_too(live: Live) -> None:
    bid = bid_for(live.market, VALLEY, "a", price=999.0)  # above the 200 CNY/MWh cap
    async with httpx.AsyncClient() as http:
        client = client_for(http, live, TOKEN_A, "a")
        receipt = await client.submit(bid, "key-x")
        assert not receipt.accepted
        assert {v.rule for v in receipt.violations} == {"price_cap"}
        headers = {"Authorization": f"Bearer {TOKEN_A}", "Idempotency-Key": "key-x"}
        raw = await http.post(f"{live.base_url}/v1/bids", json=dump_bid(bid), headers=headers)
    assert raw.status_code == 422
    assert raw.headers["content-type"] == "application/problem+json"
    assert raw.headers[REPLAYED_HEADER] == "true"
    body = raw.json()
    assert body["type"].endswith("/bid-rejected") and body["status"] == 422
    assert "price_cap" in {e["rule"] for e in body["errors"]}
    assert "above the cap 200" in body["detail"]
    assert parse_receipt(body["receipt"]) == receipt
    assert await live.market.receipts("a") == [receipt]


class DropFirstPost(httpx.AsyncBaseTransport):
    """Delivers the first POST to the server, then loses its answer as a dropped
    connection would; records every request's Idempotency-Key."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.keys: list[str | None] = []
        self.dropped = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.keys.append(request.headers.get("Idempotency-Key"))
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and not self.dropped:
            self.dropped = True
            await response.aread()
            await response.aclose()
            raise httpx.RemoteProtocolError(
                "server disconnected without a response", request=request
            )
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_retried_submission_after_a_dropped_connection_is_not_duplicated(
    live: Live,
) -> None:
    transport = DropFirstPost()
    sleeps: list[float] = []

    async def no_wait(seconds: float) -> None:
        sleeps.append(seconds)

    bid = bid_for(live.market, VALLEY, "a", price=150.0)
    async with httpx.AsyncClient(transport=transport) as http:
        client = HttpMarketClient(
            http, live.base_url, TOKEN_A, participant="a", timeout_s=5.0, sleep=no_wait
        )
        receipt = await client.submit(bid, "once")
    assert transport.dropped and len(sleeps) == 1
    assert transport.keys == ["once", "once"]
    assert receipt.accepted
    assert await live.market.receipts("a") == [receipt]  # one submission, not two


async def test_participants_never_see_each_others_awards_or_receipts(live: Live) -> None:
    market = live.market
    async with httpx.AsyncClient() as http:
        a = client_for(http, live, TOKEN_A, "a")
        b = client_for(http, live, TOKEN_B, "b")
        mine = await a.submit(bid_for(market, VALLEY, "a", price=101.0), "shared-key")
        # The same key from b is b's own submission, not a replay of a's receipt.
        theirs = await b.submit(bid_for(market, VALLEY, "b", price=102.0), "shared-key")
        assert theirs.receipt_id != mine.receipt_id and theirs.participant == "b"
        # b cannot bid in a's name.
        posing = await http.post(
            f"{live.base_url}/v1/bids",
            json={
                "product": VALLEY,
                "day": DAY.isoformat(),
                "participant": "a",
                "side": "up",
                "intervals": [],
            },
            headers={"Authorization": f"Bearer {TOKEN_B}", "Idempotency-Key": "p"},
        )
        assert posing.status_code == 403
        assert "acts for 'b'" in posing.json()["detail"]

        advance_to(live.clock, market.pack(VALLEY).gate_closure(DAY) + timedelta(seconds=1))
        await a.request_clearing(VALLEY, DAY)
        seen_by_a = await a.clearing(VALLEY, DAY)
        seen_by_b = await b.clearing(VALLEY, DAY)
        raw = await http.get(
            f"{live.base_url}/v1/clearings/{VALLEY}/{DAY.isoformat()}",
            headers={"Authorization": f"Bearer {TOKEN_B}"},
        )
    assert seen_by_a is not None and seen_by_b is not None
    assert {x.participant for x in seen_by_a.awards} == {"a"}
    assert {x.participant for x in seen_by_b.awards} == {"b"}
    assert {award["participant"] for award in raw.json()["awards"]} == {"b"}
    assert await market.receipts("a") == [mine]


async def test_errors_are_precise_problem_documents(live: Live) -> None:
    url = live.base_url
    auth = {"Authorization": f"Bearer {TOKEN_A}"}
    async with httpx.AsyncClient() as http:
        anonymous = await http.get(f"{url}/v1/products")
        wrong = await http.get(f"{url}/v1/products", headers={"Authorization": "Bearer nope"})
        no_key = await http.post(f"{url}/v1/bids", json={}, headers=auth)
        malformed = await http.post(
            f"{url}/v1/bids",
            json={
                "product": VALLEY,
                "day": "2026-06-02",
                "side": "sideways",
                "intervals": [
                    {"interval": 0, "steps": [{"price_cny_per_mwh": "cheap", "quantity_kw": 1.0}]}
                ],
            },
            headers={**auth, "Idempotency-Key": "m"},
        )
        unknown = await http.get(f"{url}/v1/outlook/nope/2026-06-02", headers=auth)
        bad_day = await http.get(f"{url}/v1/outlook/{VALLEY}/2026-13-40", headers=auth)
        not_cleared = await http.get(f"{url}/v1/clearings/{VALLEY}/2026-06-02", headers=auth)
        naive = await http.get(
            f"{url}/v1/instructions", params={"since": "2026-06-01T00:00:00"}, headers=auth
        )
        nowhere = await http.get(f"{url}/v1/nowhere", headers=auth)
    for response in (
        anonymous,
        wrong,
        no_key,
        malformed,
        unknown,
        bad_day,
        not_cleared,
        naive,
        nowhere,
    ):
        assert response.headers["content-type"] == "application/problem+json", response.text
        body = response.json()
        assert body["status"] == response.status_code and body["detail"]
    assert anonymous.status_code == wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert no_key.status_code == 400
    assert {"Idempotency-Key", "product"} <= {e["field"] for e in no_key.json()["errors"]}
    assert malformed.status_code == 400
    fields = {e["field"] for e in malformed.json()["errors"]}
    assert {"side", "intervals[0].steps[0].price_cny_per_mwh"} <= fields
    assert unknown.status_code == 404 and unknown.json()["type"].endswith("/unknown-product")
    assert bad_day.status_code == 400 and bad_day.json()["errors"][0]["field"] == "day"
    assert not_cleared.status_code == 404 and not_cleared.json()["type"].endswith("/not-cleared")
    assert naive.status_code == 400 and naive.json()["errors"][0]["field"] == "since"
    assert nowhere.status_code == 404
    assert await live.market.receipts("a") == []


async def test_the_lifespan_clears_whatever_passes_its_gate() -> None:
    clock = ManualClock(BEFORE_GATE)
    market = SimulatedMarket(load_packs(), clock, seed=0)
    async with running(market, clear_every_s=60.0) as base_url, httpx.AsyncClient() as http:
        client = HttpMarketClient(http, base_url, TOKEN_A, participant="a")
        assert (await client.submit(bid_for(market, VALLEY, "a", price=101.0), "k")).accepted
        assert await client.clearing(VALLEY, DAY) is None
        advance_to(clock, market.pack(VALLEY).gate_closure(DAY) + timedelta(minutes=2))
        with anyio.fail_after(5):
            while (found := await client.clearing(VALLEY, DAY)) is None:
                await asyncio.sleep(0.01)
    assert found.awards


async def test_the_service_configuration_reaches_the_market_over_http(live: Live) -> None:
    """What `VPP_MARKET=http` builds: the factory's client talks to the simulator and
    closes its own connection pool."""
    client = http_client({"url": live.base_url, "token": TOKEN_A}, live.clock, "a")
    try:
        outlook = await client.outlook("peak_shaving.peak_cut", DAY)
        assert len(outlook.demand_kw) == 96
        assert await client.clearing("peak_shaving.peak_cut", DAY) is None
    finally:
        await client.aclose()  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="token"):
        http_client({"url": live.base_url}, live.clock, "a")
