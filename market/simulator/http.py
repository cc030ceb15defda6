"""The simulated market operator over HTTP (FastAPI), and `serve`, which runs it with uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from market.client import (
    BID_REJECTED,
    NOT_CLEARED,
    dump_clearing,
    dump_instruction,
    dump_outlook,
    dump_receipt,
    dump_violation,
    problem_type,
)
from market.simulator.competitors import COMPETITOR_PREFIX
from market.simulator.operator import (
    GateOpenError,
    InvalidRequestError,
    SimulatedMarket,
    UnknownProductError,
)
from vpp.bidding.registry import load_packs
from vpp.domain.market import Bid, BidStep, IntervalOffer
from vpp.domain.units import Direction
from vpp.ports import AcceleratedClock, Clock, SystemClock

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
REPLAYED_HEADER = "Idempotent-Replayed"
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Unprocessable content",
    500: "Internal server error",
}


class Problem(Exception):
    """An error answered as a problem document; ``extra`` adds members (e.g. ``receipt``)."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        errors: Sequence[Mapping[str, str]] = (),
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.errors = [dict(e) for e in errors]
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem_type(problem.slug),
        "title": _TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "detail": problem.detail,
    }
    if instance:
        body["instance"] = instance
    if problem.errors:
        body["errors"] = problem.errors
    body.update(problem.extra)
    return JSONResponse(
        body, status_code=problem.status, headers=problem.headers, media_type=PROBLEM_JSON
    )


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    price_cny_per_mwh: float = Field(description="Step price, CNY/MWh.")
    quantity_kw: float = Field(description="Step quantity, kW held over the interval.")


class IntervalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interval: int = Field(description="0-based interval index in the product's day.")
    steps: list[StepIn] = Field(default_factory=list, max_length=100)


class BidIn(BaseModel):
    """A bid as posted; the pack's rules are checked by the market, not here."""

    model_config = ConfigDict(extra="forbid")

    product: str = Field(min_length=1, max_length=100)
    day: date = Field(description="Market day, Beijing time (YYYY-MM-DD).")
    participant: str | None = Field(
        default=None, description="Must be the caller if given; the token decides."
    )
    side: Direction
    intervals: list[IntervalIn] = Field(max_length=1440)
    submitted_at: AwareDatetime | None = Field(
        default=None, description="Ignored: the market stamps the time it receives the bid."
    )

    def to_domain(self, participant: str) -> Bid:
        return Bid(
            product=self.product,
            day=self.day,
            participant=participant,
            side=self.side,
            intervals=tuple(
                IntervalOffer(
                    offer.interval,
                    tuple(BidStep(s.price_cny_per_mwh, s.quantity_kw) for s in offer.steps),
                )
                for offer in self.intervals
            ),
        )


def _field_of(loc: Sequence[str | int]) -> str:
    """``("body", "intervals", 3, "steps")`` -> ``intervals[3].steps``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


_bearer = HTTPBearer(auto_error=False)


def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The participant the bearer token names; 401 without a known token."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem(401, "unauthorized", "send Authorization: Bearer <token>", headers=challenge)
    sent = credentials.credentials.encode()
    known: Mapping[str, str] = request.app.state.tokens
    found: str | None = None
    for token, name in known.items():
        # Compare with every token, each in constant time, so timing tells nothing.
        if hmac.compare_digest(token.encode(), sent):
            found = name
    if found is None:
        raise Problem(401, "unauthorized", "unknown bearer token", headers=challenge)
    return found


Caller = Annotated[str, Depends(_caller)]
"""The calling participant's name."""


async def run_clearing_loop(market: SimulatedMarket, every_s: float) -> None:
    """Call ``market.clear_due()`` every ``every_s`` seconds of the market's clock, forever."""
    while True:
        try:
            cleared = await market.clear_due()
            for clearing in cleared:
                log.info("cleared %s for %s", clearing.product, clearing.day)
        except Exception:
            log.exception("clearing round failed")
        await market.clock.sleep(every_s)


def create_app(
    market: SimulatedMarket,
    tokens: Mapping[str, str],
    *,
    clear_every_s: float | None = None,
) -> FastAPI:
    """The simulated operator's API.

    Routes (JSON, ``Authorization: Bearer <token>``; the token names the participant; wire
    format in `market.client`; errors RFC 9457 ``application/problem+json`` with ``type``
    ``https://vpp.dev/problems/market/<slug>``)::

        GET  /v1/products                      every pack's describe()
        GET  /v1/outlook/{product}/{day}       demand (kW) and indicative prices (CNY/MWh)
        POST /v1/bids                          header Idempotency-Key required; 201 receipt |
                                               422 bid-rejected problem with "receipt"; a
                                               replayed key gives the first answer again
                                               (header Idempotent-Replayed: true)
        GET  /v1/clearings/{product}/{day}     the caller's awards only; 404 not-cleared
        POST /v1/clearings/{product}/{day}     clear now; 409 gate-open before gate closure
        GET  /v1/instructions?since=<RFC 3339> the caller's instructions issued after since
        GET  /healthz                          liveness, no token

    A participant never sees another's awards, receipts or instructions: clearings are cut
    to the caller's awards, idempotency keys are scoped by participant, and a bid in another
    participant's name is refused (403).

    ``tokens`` maps bearer token -> participant name. With ``clear_every_s`` the app's
    lifespan runs `run_clearing_loop` (seconds of the market's clock); without it
    clearing happens only on request (tests).
    """
    known = {token: name for token, name in tokens.items() if token}
    for name in known.values():
        if not name.strip() or name.startswith(COMPETITOR_PREFIX):
            raise ValueError(f"participant name {name!r} is empty or reserved")

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = (
            asyncio.create_task(run_clearing_loop(market, clear_every_s)) if clear_every_s else None
        )
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="Simulated market operator",
        version="1",
        description="A Gansu-like market operator for peak shaving, spot and green power.",
        lifespan=lifespan,
    )
    app.state.tokens = known

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": _field_of(err.get("loc", ())),
                "rule": str(err.get("type", "invalid")),
                "message": str(err.get("msg", "invalid")),
            }
            for err in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
        return problem_response(Problem(400, "validation", detail, errors=errors), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = _TITLES.get(exc.status_code, "error").lower().replace(" ", "-")
        problem = Problem(exc.status_code, slug, str(exc.detail), headers=exc.headers)
        return problem_response(problem, request.url.path)

    def unknown(exc: UnknownProductError) -> Problem:
        return Problem(404, "unknown-product", str(exc))

    def invalid(exc: InvalidRequestError) -> Problem:
        return Problem(
            400,
            "validation",
            str(exc),
            errors=[{"field": exc.field, "rule": "invalid", "message": exc.message}],
        )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/products", summary="Every product's rule pack")
    async def products(_: Caller) -> dict[str, Any]:
        return {"products": [market.packs[p].describe() for p in market.products]}

    @app.get("/v1/outlook/{product}/{day}", summary="Demand and indicative prices")
    async def outlook(product: str, day: date, _: Caller) -> JSONResponse:
        try:
            found = await market.outlook(product, day)
        except UnknownProductError as exc:
            raise unknown(exc) from exc
        except InvalidRequestError as exc:
            raise invalid(exc) from exc
        return JSONResponse(dump_outlook(found))

    @app.post(
        "/v1/bids",
        status_code=201,
        summary="Submit a bid (idempotent by key)",
        responses={422: {"description": "Refused: a bid-rejected problem with the receipt"}},
    )
    async def submit(
        body: BidIn,
        participant: Caller,
        idempotency_key: Annotated[
            str,
            Header(
                alias="Idempotency-Key",
                description="Client-chosen key (1-255 visible ASCII characters, e.g. a "
                "UUID); a retry must reuse it so the bid is recorded once.",
            ),
        ],
    ) -> JSONResponse:
        if body.participant is not None and body.participant != participant:
            raise Problem(
                403,
                "forbidden",
                f"participant: this token acts for {participant!r}, the bid names "
                f"{body.participant!r}",
            )
        try:
            submission = await market.submit_or_replay(body.to_domain(participant), idempotency_key)
        except UnknownProductError as exc:
            raise unknown(exc) from exc
        except InvalidRequestError as exc:
            raise invalid(exc) from exc
        receipt = submission.receipt
        headers = {REPLAYED_HEADER: "true"} if submission.replayed else {}
        if receipt.accepted:
            return JSONResponse(dump_receipt(receipt), status_code=201, headers=headers)
        count = len(receipt.violations)
        first = receipt.violations[0] if receipt.violations else None
        summary = f"; first: {first.field}: {first.message}" if first else ""
        raise Problem(
            422,
            BID_REJECTED,
            f"bid for {receipt.product} on {receipt.day.isoformat()} breaks {count} rule(s)"
            + summary,
            errors=[dump_violation(v) for v in receipt.violations],
            extra={"receipt": dump_receipt(receipt)},
            headers=headers,
        )

    @app.get("/v1/clearings/{product}/{day}", summary="The caller's awards")
    async def clearing(product: str, day: date, participant: Caller) -> JSONResponse:
        try:
            found = await market.clearing(product, day, participant)
            gate = market.pack(product).gate_closure(day)
        except UnknownProductError as exc:
            raise unknown(exc) from exc
        if found is None:
            raise Problem(
                404,
                NOT_CLEARED,
                f"{product} for {day.isoformat()} is not cleared yet (gate closure "
                f"{gate.isoformat()})",
            )
        return JSONResponse(dump_clearing(found))

    @app.post("/v1/clearings/{product}/{day}", summary="Clear now (after gate closure)")
    async def clear(product: str, day: date, participant: Caller) -> JSONResponse:
        try:
            await market.clear(product, day)
            found = await market.clearing(product, day, participant)
        except UnknownProductError as exc:
            raise unknown(exc) from exc
        except GateOpenError as exc:
            raise Problem(409, "gate-open", str(exc)) from exc
        except InvalidRequestError as exc:
            raise invalid(exc) from exc
        assert found is not None  # cleared just above
        return JSONResponse(dump_clearing(found))

    @app.get("/v1/instructions", summary="The caller's intraday instructions")
    async def instructions(
        participant: Caller,
        since: Annotated[AwareDatetime, Query(description="Only those issued after this.")],
    ) -> dict[str, Any]:
        found = await market.instructions(since, participant)
        return {"instructions": [dump_instruction(i) for i in found]}

    return app


def tokens_of(participants: Mapping[str, str]) -> dict[str, str]:
    """``participant -> token`` as ``token -> participant``; ValueError for an empty name
    or token, a reserved name, or a token given to two participants."""
    tokens: dict[str, str] = {}
    for name, token in participants.items():
        if not name.strip() or not token:
            raise ValueError("participant names and tokens must not be empty")
        if name.startswith(COMPETITOR_PREFIX):
            raise ValueError(f"participant names may not start with {COMPETITOR_PREFIX!r}")
        if token in tokens:
            raise ValueError(f"participants {tokens[token]!r} and {name!r} share a token")
        tokens[token] = name
    return tokens


def serve(
    host: str,
    port: int,
    *,
    seed: int,
    speed: float,
    participants: Mapping[str, str],
    start: datetime | None = None,
    clear_every_s: float = 60.0,
    log_level: str = "info",
) -> None:
    """Run the simulated market operator at ``http://host:port`` until interrupted.

    Blocks (uvicorn handles SIGINT/SIGTERM). ``participants`` maps each participant's name
    to its bearer token. ``seed`` makes the forecasts, competitors and instructions
    reproducible. ``speed`` is the market clock's rate against the wall clock (1 = real
    time; 96 runs a market day in 15 minutes), starting at ``start`` (default now, UTC).
    Every ``clear_every_s`` seconds of market time a background task clears each product
    and day whose gate has passed. The packs are the installed ones (`vpp.bidding.registry`).
    """
    if speed <= 0:
        raise ValueError("speed must be positive")
    tokens = tokens_of(participants)
    clock: Clock = (
        SystemClock()
        if speed == 1 and start is None
        else AcceleratedClock(start or datetime.now(UTC), speed)
    )
    market = SimulatedMarket(load_packs(), clock, seed)
    app = create_app(market, tokens, clear_every_s=clear_every_s)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
