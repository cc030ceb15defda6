"""The market wire format and the HTTP client's retries and errors, on captured answers."""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import TypeVar

import httpx
import pytest

from market.client import (
    HttpMarketClient,
    dump_bid,
    dump_clearing,
    dump_instruction,
    dump_outlook,
    dump_receipt,
    parse_bid,
    parse_clearing,
    parse_instant,
    parse_instruction,
    parse_instructions,
    parse_outlook,
    parse_receipt,
    problem_type,
)
from market.errors import (
    MarketConnectionError,
    MarketProtocolError,
    MarketRejectedError,
    MarketServerError,
    MarketTimeoutError,
)
from vpp.domain.market import (
    Award,
    Bid,
    BidStep,
    Clearing,
    Instruction,
    IntervalOffer,
    MarketOutlook,
    Pricing,
    Receipt,
    RuleViolation,
)
from vpp.domain.units import Direction

pytestmark = pytest.mark.anyio

BASE = "https://exchange.example"
DAY = date(2026, 6, 2)
NOW = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
PRODUCT = "peak_shaving.valley_fill"
BID = Bid(
    product=PRODUCT,
    day=DAY,
    participant="a",
    side=Direction.UP,
    intervals=(
        IntervalOffer(0, ()),
        IntervalOffer(1, (BidStep(120.0, 1000.0), BidStep(150.5, 500.0))),
    ),
)
RECEIPT = Receipt("r-1", PRODUCT, DAY, "a", NOW, True)
REFUSED = Receipt(
    "r-2", PRODUCT, DAY, "a", NOW, False, (RuleViolation("price_cap", "intervals[1]", "too dear"),)
)
CLEARING = Clearing(
    product=PRODUCT,
    day=DAY,
    pricing=Pricing.UNIFORM,
    clearing_price_cny_per_mwh=(math.nan, 130.0),
    cleared_kw=(0.0, 1000.0),
    demand_kw=(0.0, 1000.0),
    awards=(Award(PRODUCT, DAY, "a", 1, 1000.0, 130.0),),
)
INSTRUCTION = Instruction(
    "i-1", PRODUCT, DAY, Direction.UP, (40, 41), (300.0, 300.0), NOW + timedelta(hours=20)
)

T = TypeVar("T")


def problem(status: int, slug: str, detail: str, **extra: object) -> httpx.Response:
    body = {"type": problem_type(slug), "title": "x", "status": status, "detail": detail, **extra}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


class Recorder:
    """A MockTransport handler answering from a list, recording every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Sleeps:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


async def call_with(
    recorder: Recorder, action: Callable[[HttpMarketClient], Awaitable[T]], *, retries: int = 3
) -> tuple[T, Sleeps]:
    sleeps = Sleeps()
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as http:
        client = HttpMarketClient(
            http, BASE, "secret-token", participant="a", retries=retries, sleep=sleeps
        )
        result = await action(client)
    return result, sleeps


# -- the wire format ---------------------------------------------------------------------------


def test_round_trips() -> None:
    assert parse_bid(json.loads(json.dumps(dump_bid(BID)))) == BID
    assert parse_receipt(json.loads(json.dumps(dump_receipt(REFUSED)))) == REFUSED
    outlook = MarketOutlook(PRODUCT, DAY, NOW, (0.0, 1000.0), (100.0, 130.0))
    assert parse_outlook(json.loads(json.dumps(dump_outlook(outlook)))) == outlook
    assert parse_instruction(json.loads(json.dumps(dump_instruction(INSTRUCTION)))) == INSTRUCTION


def test_nan_clearing_prices_travel_as_null() -> None:
    text = json.dumps(dump_clearing(CLEARING), allow_nan=False)
    assert json.loads(text)["clearing_price_cny_per_mwh"] == [None, 130.0]
    parsed = parse_clearing(json.loads(text))
    assert math.isnan(parsed.clearing_price_cny_per_mwh[0])
    assert parsed.awards == CLEARING.awards
    assert dump_clearing(parsed) == dump_clearing(CLEARING)


def test_instants_are_utc_with_an_offset() -> None:
    beijing = timezone(timedelta(hours=8))
    assert dump_receipt(RECEIPT)["received_at"] == "2026-06-01T01:00:00Z"
    assert parse_instant("2026-06-01T09:00:00+08:00") == NOW
    assert parse_instant("2026-06-01T01:00:00Z").tzinfo is UTC
    with pytest.raises(MarketProtocolError, match="offset"):
        parse_instant("2026-06-01T01:00:00")
    with pytest.raises(ValueError, match="naive"):
        dump_receipt(Receipt("r", PRODUCT, DAY, "a", datetime(2026, 6, 1), True))
    assert parse_instant("2026-06-01T09:00:00+08:00") == datetime(2026, 6, 1, 9, tzinfo=beijing)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("receipt_id"), r"receipt\.receipt_id: missing"),
        (lambda d: d.update(accepted="yes"), r"receipt\.accepted: expected true or false"),
        (lambda d: d.update(day="02/06/2026"), r"receipt\.day: expected a date"),
        (lambda d: d.update(received_at="yesterday"), r"receipt\.received_at: expected an RFC"),
        (lambda d: d.update(violations=[{"rule": 1}]), r"violations\[0\]\.rule"),
        (lambda d: d.update(violations={}), r"receipt\.violations: expected a list"),
    ],
)
def test_malformed_receipts_name_the_path(
    mutate: Callable[[dict[str, object]], object], message: str
) -> None:
    data = dump_receipt(REFUSED)
    mutate(data)
    with pytest.raises(MarketProtocolError, match=message):
        parse_receipt(data)


def test_malformed_clearings_and_instructions() -> None:
    data = dump_clearing(CLEARING)
    data["cleared_kw"] = [0.0]
    with pytest.raises(MarketProtocolError, match="interval counts differ"):
        parse_clearing(data)
    data = dump_clearing(CLEARING)
    data["awards"] = [{**dump_clearing(CLEARING)["awards"][0], "quantity_kw": None}]
    with pytest.raises(MarketProtocolError, match=r"awards\[0\]\.quantity_kw: expected a number"):
        parse_clearing(data)
    bad = {**dump_instruction(INSTRUCTION), "direction": "sideways"}
    with pytest.raises(MarketProtocolError, match="'up' or 'down'"):
        parse_instructions({"instructions": [bad]})
    with pytest.raises(MarketProtocolError, match="expected an object"):
        parse_instructions([])
    with pytest.raises(MarketProtocolError, match="2 intervals but 1 targets"):
        parse_instruction({**dump_instruction(INSTRUCTION), "target_kw": [1.0]})


# -- the client: answers ----------------------------------------------------------------------


async def test_accepted_and_refused_submissions_are_receipts() -> None:
    recorder = Recorder(
        httpx.Response(201, json=dump_receipt(RECEIPT)),
        problem(422, "bid-rejected", "breaks 1 rule", receipt=dump_receipt(REFUSED)),
    )

    async def both(client: HttpMarketClient) -> tuple[Receipt, Receipt]:
        return await client.submit(BID, "k1"), await client.submit(BID, "k2")

    (accepted, refused), sleeps = await call_with(recorder, both)
    assert accepted == RECEIPT and refused == REFUSED and sleeps.seconds == []
    first = recorder.requests[0]
    assert first.url == httpx.URL(f"{BASE}/v1/bids")
    assert first.headers["Authorization"] == "Bearer secret-token"
    assert first.headers["Idempotency-Key"] == "k1"
    assert json.loads(first.content) == dump_bid(BID)
    raised = MarketRejectedError.from_receipt(refused)
    assert raised.violations == REFUSED.violations and "too dear" in str(raised)


async def test_clearing_before_and_after_and_instructions() -> None:
    recorder = Recorder(
        problem(404, "not-cleared", "not cleared yet"),
        httpx.Response(200, json=dump_clearing(CLEARING)),
        httpx.Response(200, json={"instructions": [dump_instruction(INSTRUCTION)]}),
    )

    async def run(
        client: HttpMarketClient,
    ) -> tuple[Clearing | None, Clearing | None, Sequence[Instruction]]:
        return (
            await client.clearing(PRODUCT, DAY),
            await client.clearing(PRODUCT, DAY),
            await client.instructions(NOW),
        )

    (before, after, instructions), _ = await call_with(recorder, run)
    assert before is None
    assert after is not None and after.awards == CLEARING.awards
    assert list(instructions) == [INSTRUCTION]
    assert recorder.requests[0].url.path == f"/v1/clearings/{PRODUCT}/2026-06-02"
    assert recorder.requests[2].url.params["since"] == "2026-06-01T01:00:00Z"


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        (httpx.Response(200, text="<html>oops</html>"), MarketProtocolError, "not JSON"),
        (httpx.Response(200, json={"product": PRODUCT}), MarketProtocolError, "missing"),
        (
            httpx.Response(200, json={**dump_clearing(CLEARING), "product": "spot.day_ahead.buy"}),
            MarketProtocolError,
            "asked the clearing",
        ),
        (
            httpx.Response(
                200,
                json=dump_clearing(
                    Clearing(
                        PRODUCT,
                        DAY,
                        Pricing.UNIFORM,
                        (130.0,),
                        (1.0,),
                        (1.0,),
                        (Award(PRODUCT, DAY, "b", 0, 1.0, 130.0),),
                    )
                ),
            ),
            MarketProtocolError,
            "other participant",
        ),
        (problem(404, "unknown-product", "unknown product"), MarketRejectedError, "404"),
        (httpx.Response(302, headers={"location": "/elsewhere"}), MarketProtocolError, "302"),
        (httpx.Response(500, text="boom"), MarketServerError, "500"),
    ],
)
async def test_unexpected_answers_to_a_clearing_raise(
    answer: httpx.Response, error: type[Exception], message: str
) -> None:
    recorder = Recorder(answer)

    async def run(client: HttpMarketClient) -> object:
        return await client.clearing(PRODUCT, DAY)

    with pytest.raises(error, match=message):
        await call_with(recorder, run)
    assert len(recorder.requests) == 1  # none of these is retried


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (httpx.Response(201, json=dump_receipt(REFUSED)), "refused receipt"),
        (problem(422, "bid-rejected", "x", receipt=dump_receipt(RECEIPT)), "accepted receipt"),
        (
            httpx.Response(201, json={**dump_receipt(RECEIPT), "participant": "b"}),
            "receipt is for b",
        ),
        (httpx.Response(201, json=[]), "expected an object"),
    ],
)
async def test_malformed_submission_answers_raise_protocol_errors(
    answer: httpx.Response, message: str
) -> None:
    async def run(client: HttpMarketClient) -> object:
        return await client.submit(BID, "k")

    with pytest.raises(MarketProtocolError, match=message):
        await call_with(Recorder(answer), run)


async def test_refusals_without_receipt_carry_status_and_rules() -> None:
    answer = problem(
        400,
        "validation",
        "side: Input should be 'up' or 'down'",
        errors=[{"field": "side", "rule": "enum", "message": "Input should be 'up' or 'down'"}],
    )

    async def run(client: HttpMarketClient) -> object:
        return await client.submit(BID, "k")

    with pytest.raises(MarketRejectedError) as caught:
        await call_with(Recorder(answer), run)
    assert caught.value.status_code == 400
    assert caught.value.violations == (
        RuleViolation("enum", "side", "Input should be 'up' or 'down'"),
    )
    assert caught.value.receipt is None
    assert caught.value.problem["type"].endswith("/validation")


# -- the client: retries --------------------------------------------------------------------


async def test_transient_failures_are_retried_with_the_same_key() -> None:
    recorder = Recorder(
        httpx.ConnectError("refused"),
        httpx.Response(503, headers={"Retry-After": "1"}),
        httpx.ReadTimeout("slow"),
        httpx.Response(201, json=dump_receipt(RECEIPT)),
    )

    async def run(client: HttpMarketClient) -> object:
        return await client.submit(BID, "same-key")

    receipt, sleeps = await call_with(recorder, run)
    assert receipt == RECEIPT
    assert [r.headers["Idempotency-Key"] for r in recorder.requests] == ["same-key"] * 4
    assert len({r.content for r in recorder.requests}) == 1
    assert len(sleeps.seconds) == 3
    assert sleeps.seconds[1] >= 1.0  # Retry-After honoured
    assert all(0 <= s <= 4.0 for s in sleeps.seconds)


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (httpx.ConnectError("refused"), MarketConnectionError),
        (httpx.RemoteProtocolError("dropped"), MarketConnectionError),
        (httpx.ReadTimeout("slow"), MarketTimeoutError),
        (httpx.ConnectTimeout("slow"), MarketTimeoutError),
        (httpx.Response(504), MarketConnectionError),
    ],
)
async def test_retries_are_bounded(
    failure: httpx.Response | Exception, error: type[Exception]
) -> None:
    recorder = Recorder(failure)

    async def run(client: HttpMarketClient) -> object:
        return await client.outlook(PRODUCT, DAY)

    with pytest.raises(error):
        await call_with(recorder, run, retries=2)
    assert len(recorder.requests) == 3


async def test_backoff_grows_and_is_capped() -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(Recorder(httpx.Response(200)))) as h:
        client = HttpMarketClient(h, BASE, "t", participant="a", backoff_s=1.0, max_backoff_s=3.0)
        delays = [client._backoff(n) for n in range(5)]
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0
    assert all(d <= 3.0 for d in delays) and delays[4] >= 1.5


async def test_arguments_are_checked_before_sending() -> None:
    recorder = Recorder(httpx.Response(500))
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as http:
        client = HttpMarketClient(http, BASE + "/", "secret-xyz", participant="a")
        assert client.base_url == BASE and "secret-xyz" not in repr(client)
        with pytest.raises(ValueError, match="naive"):
            await client.instructions(datetime(2026, 6, 1))
        with pytest.raises(ValueError, match="acts for 'a'"):
            await client.submit(Bid(PRODUCT, DAY, "b", Direction.UP, ()), "k")
        with pytest.raises(ValueError, match="idempotency_key"):
            await client.submit(BID, "")
        with pytest.raises(ValueError, match="http"):
            HttpMarketClient(http, "ftp://x", "t", participant="a")
    assert recorder.requests == []
