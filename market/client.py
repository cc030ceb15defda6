"""The exchange's JSON wire format (``parse_*`` / ``dump_*``) and the HTTP `MarketClient`."""

from __future__ import annotations

import asyncio
import math
import random
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import httpx

from market.errors import (
    MarketConnectionError,
    MarketError,
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
from vpp.ports import MarketClient

PROBLEM_TYPE_BASE = "https://vpp.dev/problems/market/"
"""Prefix of every problem ``type`` the exchange answers with; the slug follows."""
NOT_CLEARED = "not-cleared"
BID_REJECTED = "bid-rejected"
TRANSIENT_STATUSES = frozenset({502, 503, 504})
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
"""An idempotency key: 1 to 255 visible ASCII characters (a UUID fits)."""

JsonObject = dict[str, Any]


def problem_type(slug: str) -> str:
    """The problem ``type`` URI of ``slug`` (e.g. ``not-cleared``)."""
    return PROBLEM_TYPE_BASE + slug


# -- writing ---------------------------------------------------------------------------------


def format_instant(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``; ValueError for a naive datetime."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("a naive datetime cannot be sent; times must be timezone-aware")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _number(value: float) -> float | None:
    """A float for JSON: NaN (nothing cleared) becomes null."""
    return None if math.isnan(value) else float(value)


def dump_violation(violation: RuleViolation) -> JsonObject:
    return {"rule": violation.rule, "field": violation.field, "message": violation.message}


def dump_bid(bid: Bid) -> JsonObject:
    """A bid as JSON: quantities kW, prices CNY/MWh, one entry per interval of the day."""
    return {
        "product": bid.product,
        "day": bid.day.isoformat(),
        "participant": bid.participant,
        "side": bid.side.value,
        "submitted_at": None if bid.submitted_at is None else format_instant(bid.submitted_at),
        "intervals": [
            {
                "interval": offer.interval,
                "steps": [
                    {"price_cny_per_mwh": s.price_cny_per_mwh, "quantity_kw": s.quantity_kw}
                    for s in offer.steps
                ],
            }
            for offer in bid.intervals
        ],
    }


def dump_receipt(receipt: Receipt) -> JsonObject:
    return {
        "receipt_id": receipt.receipt_id,
        "product": receipt.product,
        "day": receipt.day.isoformat(),
        "participant": receipt.participant,
        "received_at": format_instant(receipt.received_at),
        "accepted": receipt.accepted,
        "violations": [dump_violation(v) for v in receipt.violations],
    }


def dump_outlook(outlook: MarketOutlook) -> JsonObject:
    return {
        "product": outlook.product,
        "day": outlook.day.isoformat(),
        "gate_closure": format_instant(outlook.gate_closure),
        "demand_kw": [float(q) for q in outlook.demand_kw],
        "reference_price_cny_per_mwh": [_number(p) for p in outlook.reference_price_cny_per_mwh],
    }


def dump_award(award: Award) -> JsonObject:
    return {
        "product": award.product,
        "day": award.day.isoformat(),
        "participant": award.participant,
        "interval": award.interval,
        "quantity_kw": award.quantity_kw,
        "price_cny_per_mwh": award.price_cny_per_mwh,
    }


def dump_clearing(clearing: Clearing) -> JsonObject:
    """A clearing as JSON; NaN clearing prices (nothing cleared) become null."""
    return {
        "product": clearing.product,
        "day": clearing.day.isoformat(),
        "pricing": clearing.pricing.value,
        "clearing_price_cny_per_mwh": [_number(p) for p in clearing.clearing_price_cny_per_mwh],
        "cleared_kw": [float(q) for q in clearing.cleared_kw],
        "demand_kw": [float(q) for q in clearing.demand_kw],
        "awards": [dump_award(a) for a in clearing.awards],
    }


def dump_instruction(instruction: Instruction) -> JsonObject:
    return {
        "instruction_id": instruction.instruction_id,
        "product": instruction.product,
        "day": instruction.day.isoformat(),
        "direction": instruction.direction.value,
        "intervals": list(instruction.intervals),
        "target_kw": [float(t) for t in instruction.target_kw],
        "issued_at": format_instant(instruction.issued_at),
    }


# -- reading (every failure is a MarketProtocolError naming the path) -----------------------


def _fail(path: str, message: str) -> MarketProtocolError:
    return MarketProtocolError(f"{path}: {message}")


def _object(data: object, path: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise _fail(path, f"expected an object, got {type(data).__name__}")
    return data


def _field(obj: Mapping[str, Any], key: str, path: str) -> object:
    if key not in obj:
        raise _fail(f"{path}.{key}", "missing")
    return obj[key]


def _str(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = _field(obj, key, path)
    if not isinstance(value, str):
        raise _fail(f"{path}.{key}", f"expected a string, got {value!r}")
    return value


def _bool(obj: Mapping[str, Any], key: str, path: str) -> bool:
    value = _field(obj, key, path)
    if not isinstance(value, bool):
        raise _fail(f"{path}.{key}", f"expected true or false, got {value!r}")
    return value


def _int_value(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, f"expected an integer, got {value!r}")
    return value


def _float_value(value: object, path: str, *, nullable: bool = False) -> float:
    if value is None and nullable:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, f"expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise _fail(path, f"expected a finite number, got {value!r}")
    return number


def _list(obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = _field(obj, key, path)
    if not isinstance(value, list):
        raise _fail(f"{path}.{key}", f"expected a list, got {type(value).__name__}")
    return value


def _floats(
    obj: Mapping[str, Any], key: str, path: str, *, nullable: bool = False
) -> tuple[float, ...]:
    where = f"{path}.{key}"
    return tuple(
        _float_value(v, f"{where}[{i}]", nullable=nullable)
        for i, v in enumerate(_list(obj, key, path))
    )


def _day(obj: Mapping[str, Any], key: str, path: str) -> date:
    text = _str(obj, key, path)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _fail(f"{path}.{key}", f"expected a date YYYY-MM-DD, got {text!r}") from None


def parse_instant(text: str, path: str = "instant") -> datetime:
    """An RFC 3339 instant with an offset, in UTC; MarketProtocolError if naive or malformed."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(path, f"expected an RFC 3339 time, got {text!r}") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise _fail(path, f"expected a time with an offset, got {text!r}")
    return value.astimezone(UTC)


def _instant(obj: Mapping[str, Any], key: str, path: str) -> datetime:
    return parse_instant(_str(obj, key, path), f"{path}.{key}")


def _direction(obj: Mapping[str, Any], key: str, path: str) -> Direction:
    text = _str(obj, key, path)
    try:
        return Direction(text)
    except ValueError:
        raise _fail(f"{path}.{key}", f"expected 'up' or 'down', got {text!r}") from None


def parse_violation(data: object, path: str = "violation") -> RuleViolation:
    obj = _object(data, path)
    return RuleViolation(
        rule=_str(obj, "rule", path),
        field=_str(obj, "field", path),
        message=_str(obj, "message", path),
    )


def parse_bid(data: object, path: str = "bid") -> Bid:
    """A bid from JSON (the inverse of ``dump_bid``)."""
    obj = _object(data, path)
    intervals: list[IntervalOffer] = []
    for i, raw in enumerate(_list(obj, "intervals", path)):
        at = f"{path}.intervals[{i}]"
        offer = _object(raw, at)
        steps = []
        for j, raw_step in enumerate(_list(offer, "steps", at)):
            step_at = f"{at}.steps[{j}]"
            step = _object(raw_step, step_at)
            steps.append(
                BidStep(
                    price_cny_per_mwh=_float_value(
                        _field(step, "price_cny_per_mwh", step_at), f"{step_at}.price_cny_per_mwh"
                    ),
                    quantity_kw=_float_value(
                        _field(step, "quantity_kw", step_at), f"{step_at}.quantity_kw"
                    ),
                )
            )
        interval = _int_value(_field(offer, "interval", at), f"{at}.interval")
        intervals.append(IntervalOffer(interval, tuple(steps)))
    submitted = obj.get("submitted_at")
    return Bid(
        product=_str(obj, "product", path),
        day=_day(obj, "day", path),
        participant=_str(obj, "participant", path),
        side=_direction(obj, "side", path),
        intervals=tuple(intervals),
        submitted_at=None if submitted is None else _instant(obj, "submitted_at", path),
    )


def parse_receipt(data: object, path: str = "receipt") -> Receipt:
    obj = _object(data, path)
    return Receipt(
        receipt_id=_str(obj, "receipt_id", path),
        product=_str(obj, "product", path),
        day=_day(obj, "day", path),
        participant=_str(obj, "participant", path),
        received_at=_instant(obj, "received_at", path),
        accepted=_bool(obj, "accepted", path),
        violations=tuple(
            parse_violation(v, f"{path}.violations[{i}]")
            for i, v in enumerate(_list(obj, "violations", path))
        ),
    )


def parse_outlook(data: object, path: str = "outlook") -> MarketOutlook:
    obj = _object(data, path)
    demand = _floats(obj, "demand_kw", path)
    prices = _floats(obj, "reference_price_cny_per_mwh", path, nullable=True)
    if len(prices) != len(demand):
        raise _fail(path, f"{len(demand)} demand values but {len(prices)} reference prices")
    return MarketOutlook(
        product=_str(obj, "product", path),
        day=_day(obj, "day", path),
        gate_closure=_instant(obj, "gate_closure", path),
        demand_kw=demand,
        reference_price_cny_per_mwh=prices,
    )


def parse_award(data: object, path: str = "award") -> Award:
    obj = _object(data, path)
    return Award(
        product=_str(obj, "product", path),
        day=_day(obj, "day", path),
        participant=_str(obj, "participant", path),
        interval=_int_value(_field(obj, "interval", path), f"{path}.interval"),
        quantity_kw=_float_value(_field(obj, "quantity_kw", path), f"{path}.quantity_kw"),
        price_cny_per_mwh=_float_value(
            _field(obj, "price_cny_per_mwh", path), f"{path}.price_cny_per_mwh"
        ),
    )


def parse_clearing(data: object, path: str = "clearing") -> Clearing:
    obj = _object(data, path)
    pricing_text = _str(obj, "pricing", path)
    try:
        pricing = Pricing(pricing_text)
    except ValueError:
        raise _fail(f"{path}.pricing", f"unknown pricing {pricing_text!r}") from None
    prices = _floats(obj, "clearing_price_cny_per_mwh", path, nullable=True)
    cleared = _floats(obj, "cleared_kw", path)
    demand = _floats(obj, "demand_kw", path)
    if not len(prices) == len(cleared) == len(demand):
        raise _fail(
            path,
            f"interval counts differ: {len(prices)} prices, {len(cleared)} cleared, "
            f"{len(demand)} demand",
        )
    return Clearing(
        product=_str(obj, "product", path),
        day=_day(obj, "day", path),
        pricing=pricing,
        clearing_price_cny_per_mwh=prices,
        cleared_kw=cleared,
        demand_kw=demand,
        awards=tuple(
            parse_award(a, f"{path}.awards[{i}]") for i, a in enumerate(_list(obj, "awards", path))
        ),
    )


def parse_instruction(data: object, path: str = "instruction") -> Instruction:
    obj = _object(data, path)
    intervals = tuple(
        _int_value(v, f"{path}.intervals[{i}]") for i, v in enumerate(_list(obj, "intervals", path))
    )
    targets = _floats(obj, "target_kw", path)
    if len(targets) != len(intervals):
        raise _fail(path, f"{len(intervals)} intervals but {len(targets)} targets")
    return Instruction(
        instruction_id=_str(obj, "instruction_id", path),
        product=_str(obj, "product", path),
        day=_day(obj, "day", path),
        direction=_direction(obj, "direction", path),
        intervals=intervals,
        target_kw=targets,
        issued_at=_instant(obj, "issued_at", path),
    )


def parse_instructions(data: object, path: str = "body") -> list[Instruction]:
    """``{"instructions": [...]}`` as a list, oldest first as sent."""
    obj = _object(data, path)
    return [
        parse_instruction(item, f"{path}.instructions[{i}]")
        for i, item in enumerate(_list(obj, "instructions", path))
    ]


def parse_problem(data: object) -> tuple[str, tuple[RuleViolation, ...]]:
    """The message and the named rule violations of a problem document (lenient: a
    problem is already an error, so a sloppy one still yields a message)."""
    if not isinstance(data, Mapping):
        return "no problem document", ()
    detail = data.get("detail") or data.get("title") or "no detail given"
    violations: list[RuleViolation] = []
    errors = data.get("errors")
    if isinstance(errors, list):
        for item in errors:
            if isinstance(item, Mapping):
                violations.append(
                    RuleViolation(
                        rule=str(item.get("rule", "")),
                        field=str(item.get("field", "")),
                        message=str(item.get("message", "")),
                    )
                )
    return str(detail), tuple(violations)


# -- the client --------------------------------------------------------------------------------


class HttpMarketClient(MarketClient):
    """One participant's client of an exchange speaking the wire format above.

    ``client`` is an injected ``httpx.AsyncClient`` (the caller owns and closes it);
    ``timeout_s`` bounds every attempt. Transient failures (connect and network errors,
    a connection dropped before the answer, timeouts, 502/503/504) are retried up to
    ``retries`` times with exponential backoff and jitter (``backoff_s`` doubling, at
    most ``max_backoff_s``); a submission is retried with the *same* Idempotency-Key, so
    the exchange records it once whatever happened to the first attempt. Nothing else is
    retried.

    Errors: MarketTimeoutError / MarketConnectionError once retries are exhausted;
    MarketRejectedError for a refusal without receipt (401, 403, 404, 409, 400, other
    4xx); MarketServerError for other 5xx; MarketProtocolError for an answer that breaks
    the wire format. A bid that breaks a market rule is not an exception: ``submit``
    returns its Receipt with ``accepted=False`` (MarketClient.submit's contract: the
    receipt is the market's answer, to be recorded like an accepted one).

    Wire format (``/v1``, JSON, ``Authorization: Bearer <token>``; units in field names;
    instants RFC 3339 in UTC; days ``YYYY-MM-DD``, Beijing-time market days)::

        bid:         {"product", "day", "participant", "side": "up"|"down", "submitted_at": null,
                      "intervals": [{"interval": 0, "steps": [{"price_cny_per_mwh",
                                                               "quantity_kw"}, ...]}, ...]}
        receipt:     {"receipt_id", "product", "day", "participant", "received_at", "accepted",
                      "violations": [{"rule", "field", "message"}, ...]}
        outlook:     {"product", "day", "gate_closure", "demand_kw": [...],
                      "reference_price_cny_per_mwh": [...]}
        clearing:    {"product", "day", "pricing", "clearing_price_cny_per_mwh": [... null where
                      nothing cleared], "cleared_kw", "demand_kw", "awards": [{"product", "day",
                      "participant", "interval", "quantity_kw", "price_cny_per_mwh"}, ...]}
        instruction: {"instruction_id", "product", "day", "direction", "intervals": [...],
                      "target_kw": [...], "issued_at"}

    Errors are RFC 9457 problem documents (``application/problem+json``); a refused bid is a
    422 problem carrying its ``receipt``.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        token: str,
        *,
        participant: str,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.25,
        max_backoff_s: float = 4.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if not token:
            raise ValueError("token must not be empty")
        if timeout_s <= 0 or retries < 0 or backoff_s < 0 or max_backoff_s < 0:
            raise ValueError("timeout_s must be > 0; retries and backoffs >= 0")
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.participant = participant
        self.timeout = httpx.Timeout(timeout_s)
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, application/problem+json",
        }

    def __repr__(self) -> str:
        return f"HttpMarketClient({self.base_url!r}, participant={self.participant!r})"

    # -- MarketClient ---------------------------------------------------------------------

    async def outlook(self, product: str, day: date) -> MarketOutlook:
        """Demand (kW) and indicative prices (CNY/MWh): GET /v1/outlook/{product}/{day}."""
        response = await self._request("GET", f"/v1/outlook/{_segment(product)}/{day.isoformat()}")
        if response.status_code != 200:
            raise self._refusal(response)
        outlook = parse_outlook(self._json(response))
        if (outlook.product, outlook.day) != (product, day):
            raise MarketProtocolError(
                f"asked the outlook of {product} {day}, got {outlook.product} {outlook.day}"
            )
        return outlook

    async def submit(self, bid: Bid, idempotency_key: str) -> Receipt:
        """POST /v1/bids with ``Idempotency-Key``; the same key returns the first receipt.

        201: accepted. 422 with a receipt: refused for the rules it lists, returned with
        ``accepted=False``. Anything else raises (see the class docstring).
        """
        if not IDEMPOTENCY_KEY_PATTERN.fullmatch(idempotency_key):
            raise ValueError("idempotency_key must be 1 to 255 visible ASCII characters")
        if bid.participant != self.participant:
            raise ValueError(
                f"bid is in the name of {bid.participant!r}; this client acts for "
                f"{self.participant!r}"
            )
        response = await self._request(
            "POST",
            "/v1/bids",
            json_body=dump_bid(bid),
            headers={"Idempotency-Key": idempotency_key},
        )
        if response.status_code in (200, 201):
            receipt = parse_receipt(self._json(response))
            if not receipt.accepted:
                raise MarketProtocolError(f"status {response.status_code} with a refused receipt")
        elif response.status_code == 422 and _has_receipt(response):
            receipt = parse_receipt(self._json(response)["receipt"])
            if receipt.accepted:
                raise MarketProtocolError("status 422 with an accepted receipt")
        else:
            raise self._refusal(response)
        if (receipt.product, receipt.day, receipt.participant) != (
            bid.product,
            bid.day,
            bid.participant,
        ):
            raise MarketProtocolError(
                f"receipt is for {receipt.participant} {receipt.product} {receipt.day}, "
                f"the bid for {bid.participant} {bid.product} {bid.day}"
            )
        return receipt

    async def clearing(self, product: str, day: date) -> Clearing | None:
        """GET /v1/clearings/{product}/{day}: this participant's awards; None before clearing."""
        response = await self._request(
            "GET", f"/v1/clearings/{_segment(product)}/{day.isoformat()}"
        )
        if response.status_code == 404 and _problem_slug(response) == NOT_CLEARED:
            return None
        if response.status_code != 200:
            raise self._refusal(response)
        return self._own_clearing(response, product, day)

    async def instructions(self, since: datetime) -> Sequence[Instruction]:
        """GET /v1/instructions?since=: this participant's instructions issued after ``since``."""
        response = await self._request(
            "GET", "/v1/instructions", params={"since": format_instant(since)}
        )
        if response.status_code != 200:
            raise self._refusal(response)
        return parse_instructions(self._json(response))

    # -- beyond the port ---------------------------------------------------------------------

    async def products(self) -> list[JsonObject]:
        """GET /v1/products: every product's pack as ``describe()`` gives it."""
        response = await self._request("GET", "/v1/products")
        if response.status_code != 200:
            raise self._refusal(response)
        body = _object(self._json(response), "body")
        items = _list(body, "products", "body")
        return [dict(_object(item, f"body.products[{i}]")) for i, item in enumerate(items)]

    async def request_clearing(self, product: str, day: date) -> Clearing:
        """POST /v1/clearings/{product}/{day}: clear now (simulator); MarketRejectedError
        with status 409 before gate closure."""
        response = await self._request(
            "POST", f"/v1/clearings/{_segment(product)}/{day.isoformat()}"
        )
        if response.status_code != 200:
            raise self._refusal(response)
        return self._own_clearing(response, product, day)

    # -- plumbing ----------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: JsonObject | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request with bounded retries of transient failures; the same headers (and so
        the same Idempotency-Key) on every attempt."""
        url = self.base_url + path
        all_headers = {**self._headers, **(headers or {})}
        failure: MarketError = MarketConnectionError(f"{method} {path}: no attempt made")
        for attempt in range(self.retries + 1):
            retry_after = 0.0
            try:
                response = await self.client.request(
                    method,
                    url,
                    json=json_body,
                    params=params,
                    headers=all_headers,
                    timeout=self.timeout,
                )
            except httpx.TimeoutException as exc:
                failure = MarketTimeoutError(
                    f"{method} {path}: no answer within {self.timeout.read}s ({exc!r})"
                )
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                failure = MarketConnectionError(f"{method} {path}: connection failed ({exc!r})")
            except httpx.TransportError as exc:
                raise MarketConnectionError(f"{method} {path}: {exc!r}") from exc
            except httpx.DecodingError as exc:
                raise MarketProtocolError(f"{method} {path}: undecodable body ({exc})") from exc
            else:
                if response.status_code not in TRANSIENT_STATUSES:
                    return response
                retry_after = _retry_after_s(response)
                failure = MarketConnectionError(
                    f"{method} {path}: the exchange answered {response.status_code}"
                )
            if attempt < self.retries:
                await self._sleep(max(self._backoff(attempt), min(retry_after, self.max_backoff_s)))
        raise failure

    def _backoff(self, attempt: int) -> float:
        """Seconds before retry ``attempt + 1``: exponential, capped, with 50-100 % jitter."""
        return min(self.max_backoff_s, self.backoff_s * 2.0**attempt) * random.uniform(0.5, 1.0)

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise MarketProtocolError(
                f"{response.request.method} {response.request.url.path}: answer "
                f"{response.status_code} is not JSON ({exc})"
            ) from exc

    def _refusal(self, response: httpx.Response) -> MarketError:
        """The error for an answer the operation did not expect."""
        status = response.status_code
        where = f"{response.request.method} {response.request.url.path}"
        if 400 <= status < 500:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            detail, violations = parse_problem(problem)
            return MarketRejectedError(
                f"{where}: {status} {detail}",
                status_code=status,
                problem=problem if isinstance(problem, Mapping) else {},
                violations=violations,
            )
        if status >= 500:
            return MarketServerError(f"{where}: the exchange failed ({status})", status_code=status)
        return MarketProtocolError(f"{where}: unexpected status {status}")

    def _own_clearing(self, response: httpx.Response, product: str, day: date) -> Clearing:
        clearing = parse_clearing(self._json(response))
        if (clearing.product, clearing.day) != (product, day):
            raise MarketProtocolError(
                f"asked the clearing of {product} {day}, got {clearing.product} {clearing.day}"
            )
        strangers = {a.participant for a in clearing.awards} - {self.participant}
        if strangers:
            raise MarketProtocolError(
                f"the clearing holds awards of {len(strangers)} other participant(s)"
            )
        return clearing


def _segment(text: str) -> str:
    """``text`` as one URL path segment."""
    return quote(text, safe="")


def _problem_slug(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    kind = body.get("type") if isinstance(body, Mapping) else None
    if isinstance(kind, str) and kind.startswith(PROBLEM_TYPE_BASE):
        return kind[len(PROBLEM_TYPE_BASE) :]
    return None


def _has_receipt(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, Mapping) and "receipt" in body


def _retry_after_s(response: httpx.Response) -> float:
    """A numeric Retry-After header (seconds), else 0."""
    text: str = response.headers.get("Retry-After", "0")
    try:
        return max(0.0, float(text))
    except ValueError:
        return 0.0
