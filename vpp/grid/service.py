"""The grid interface's rules: receiving intraday instructions, publishing schedules, keys.

Every channel that carries instructions (the signed REST route, OpenADR, IEC 104) calls
`receive_instruction`; each authenticates the sender its own way first. Nothing here
commits: the request or job that owns the unit of work does.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from vpp.dispatch.intraday import apply_targets
from vpp.domain.market import Instruction, InstructionAnswer, InstructionStatus
from vpp.domain.time import INTERVALS_PER_DAY, day_bounds_utc
from vpp.domain.units import Direction
from vpp.grid import repository, signing
from vpp.grid.schemas import ScheduleOut, SigningKeyCreate
from vpp.kit.audit import audit
from vpp.kit.auth import Principal
from vpp.kit.errors import Problem, field_error, not_found
from vpp.models import Account, GridInstruction, GridSigningKey, ScheduleVersion, WebhookDelivery
from vpp.ports import MarketPack

DEFAULT_MAX_AGE = timedelta(minutes=10)
"""Oldest instruction accepted: minutes, not seconds, for a store-and-forward gateway."""
DEFAULT_MAX_SKEW = timedelta(minutes=1)
"""How far ahead of the VPP's clock an instruction's issue time may be."""
ACCEPT_TOLERANCE_KW = 0.5
"""Shortfall (kW) still counted as meeting a target: the plan does not command deviations
below this either (`vpp.dispatch.planning.ACTIVE_KW`)."""
ACCEPT_TOLERANCE_SHARE = 0.001
"""Relative shortfall still counted as meeting a target (0.1 %)."""
CAPACITY_SLACK_KW = 1e-6
SCHEDULE_DECIMALS = 3


class InstructionRefused(Problem):
    """An instruction refused before anything changed (bad input, stale, conflicting id).

    Channels other than the REST route map it to their own refusal (an OpenADR opt-out,
    an IEC 104 negative confirmation); ``errors`` names the field and the rule.
    """


def _refused(field: str, rule: str, message: str, status: int = 422) -> InstructionRefused:
    problem = field_error(field, rule, message, status)
    return InstructionRefused(
        problem.status, problem.detail, slug=problem.slug, errors=problem.errors
    )


def content_hash(instruction: Instruction) -> str:
    """SHA-256 of the instruction's canonical content (everything but its id): a repeat
    with this hash is a replay, any other content under the same id a conflict."""
    content = {
        "product": instruction.product,
        "day": instruction.day.isoformat(),
        "direction": instruction.direction.value,
        "intervals": list(instruction.intervals),
        "target_kw": [float(v) for v in instruction.target_kw],
        "issued_at": instruction.issued_at.timestamp(),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def answer_of(row: GridInstruction) -> InstructionAnswer:
    return InstructionAnswer(
        instruction_id=row.instruction_id,
        status=InstructionStatus(row.status),
        feasible_kw=tuple(row.feasible_kw),
        reason=row.reason,
    )


def receive_instruction(
    session: Session,
    packs: Mapping[str, MarketPack],
    instruction: Instruction,
    *,
    source: str,
    now: datetime,
    account_id: uuid.UUID | None,
    max_age: timedelta = DEFAULT_MAX_AGE,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> InstructionAnswer:
    """Validate, deduplicate by instruction_id (a repeat with the same content gets the first
    answer and changes nothing; different content under a used id is refused), apply, store,
    and answer. Does not commit.

    Refused with `InstructionRefused` (nothing stored): a used id with other content or
    another sender (409); an issue time older than ``max_age`` or more than ``max_skew``
    ahead of ``now``; an unknown product or a direction other than the product's; no
    intervals, repeated ones, ones outside the day or already over; targets that are not
    finite, negative or beyond the pool's enrolled capacity in the product's direction.

    Applied through `vpp.dispatch.intraday.apply_targets` (the targets replace the
    product's targets in those intervals and the rest of the day is re-planned): accepted
    when every interval is feasible within max(0.5 kW, 0.1 %), partial when some of it is
    (and that much is planned), rejected when none is (the previous targets are restored:
    nothing changed). A new schedule version is published unless rejected.
    """
    digest = content_hash(instruction)
    previous = repository.instruction(session, instruction.instruction_id)
    if previous is not None:
        if previous.content_hash == digest and previous.account_id == account_id:
            return answer_of(previous)
        raise _refused(
            "instruction_id",
            "unique",
            "already used for an instruction with other content; use a new id",
            status=409,
        )
    pack = _validate(session, packs, instruction, now, max_age, max_skew)
    targets = dict(zip(instruction.intervals, instruction.target_kw, strict=True))
    with session.begin_nested() as savepoint:
        feasible_by_interval = apply_targets(
            session, packs, instruction.day, instruction.product, targets, now
        )
        status, feasible, reason = classify(
            instruction.target_kw,
            [feasible_by_interval.get(k, 0.0) for k in instruction.intervals],
            instruction.intervals,
        )
        if status is InstructionStatus.REJECTED:
            savepoint.rollback()
    version = None
    if status is not InstructionStatus.REJECTED:
        published = publish_schedule(
            session, instruction.day, now, cause=f"instruction {instruction.instruction_id}"
        )
        latest = published or repository.latest_version(session, instruction.day)
        version = latest.version if latest else None
    row = GridInstruction(
        instruction_id=instruction.instruction_id,
        account_id=account_id,
        source=source,
        product=instruction.product,
        day=instruction.day,
        direction=pack.limits().side.value,
        intervals=list(instruction.intervals),
        target_kw=[float(v) for v in instruction.target_kw],
        feasible_kw=list(feasible),
        status=status.value,
        reason=reason,
        content_hash=digest,
        issued_at=instruction.issued_at,
        received_at=now,
        schedule_version=version,
    )
    session.add(row)
    session.flush()
    return answer_of(row)


def _validate(
    session: Session,
    packs: Mapping[str, MarketPack],
    instruction: Instruction,
    now: datetime,
    max_age: timedelta,
    max_skew: timedelta,
) -> MarketPack:
    """Every check of `receive_instruction` before anything is written; the product's pack."""
    issued = instruction.issued_at
    if issued.tzinfo is None or issued.utcoffset() is None:
        raise _refused("issued_at", "aware", "must carry a UTC offset")
    if now - issued > max_age:
        raise _refused(
            "issued_at",
            "fresh",
            f"issued {(now - issued).total_seconds():.0f} s ago; instructions older than "
            f"{max_age.total_seconds():.0f} s are refused",
        )
    if issued - now > max_skew:
        raise _refused(
            "issued_at",
            "not_future",
            f"lies {(issued - now).total_seconds():.0f} s in the future (allowed clock "
            f"skew {max_skew.total_seconds():.0f} s)",
        )
    pack = packs.get(instruction.product)
    if pack is None:
        raise _refused(
            "product",
            "product_known",
            f"unknown product {instruction.product!r}; known: " + ", ".join(sorted(packs)),
        )
    limits = pack.limits()
    if instruction.direction is not limits.side:
        raise _refused(
            "direction",
            "matches_product",
            f"{instruction.product} is a {limits.side.value} product, "
            f"not {instruction.direction.value}",
        )
    intervals, targets = instruction.intervals, instruction.target_kw
    if not intervals:
        raise _refused("intervals", "non_empty", "list at least one interval")
    if len(targets) != len(intervals):
        raise _refused(
            "target_kw", "one_per_interval", f"needs {len(intervals)} values, one per interval"
        )
    per_day = limits.intervals_per_day
    length = (day_bounds_utc(instruction.day)[1] - day_bounds_utc(instruction.day)[0]) / per_day
    seen: set[int] = set()
    for i, k in enumerate(intervals):
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < per_day:
            raise _refused(f"intervals[{i}]", "interval_range", f"must be in [0, {per_day - 1}]")
        if k in seen:
            raise _refused(f"intervals[{i}]", "unique", f"interval {k} is listed twice")
        seen.add(k)
        if day_bounds_utc(instruction.day)[0] + (k + 1) * length <= now:
            raise _refused(
                f"intervals[{i}]", "not_past", f"interval {k} of {instruction.day} is already over"
            )
    up_kw, down_kw = repository.enrolled_capacity_kw(session)
    capacity = up_kw if limits.side is Direction.UP else down_kw
    for i, value in enumerate(targets):
        if not math.isfinite(value):
            raise _refused(f"target_kw[{i}]", "finite_number", "must be a finite number")
        if value < 0:
            raise _refused(
                f"target_kw[{i}]", "non_negative", "must be >= 0 (kW in the product's direction)"
            )
        if value > capacity + CAPACITY_SLACK_KW:
            raise _refused(
                f"target_kw[{i}]",
                "within_pool_capacity",
                f"{value:g} kW exceeds the pool's enrolled {limits.side.value} capacity "
                f"of {capacity:g} kW",
            )
    return pack


def classify(
    target_kw: Sequence[float], feasible_kw: Sequence[float], intervals: Sequence[int]
) -> tuple[InstructionStatus, tuple[float, ...], str]:
    """Accepted, partial or rejected from the target and the feasible power per interval (kW).

    An interval meets its target when the shortfall is at most max(0.5 kW, 0.1 % of the
    target). Accepted: every interval does (feasible reported as the target). Rejected:
    some target is positive and no interval delivers more than its tolerance (feasible
    reported as 0: nothing is planned). Partial otherwise (feasible reported as planned,
    clipped to [0, target], rounded to W).
    """
    clipped = [min(max(f, 0.0), t) for t, f in zip(target_kw, feasible_kw, strict=True)]
    tolerance = [max(ACCEPT_TOLERANCE_KW, ACCEPT_TOLERANCE_SHARE * t) for t in target_kw]
    short = [
        (k, t - f)
        for k, t, f, tol in zip(intervals, target_kw, clipped, tolerance, strict=True)
        if t - f > tol
    ]
    if not short:
        return InstructionStatus.ACCEPTED, tuple(float(t) for t in target_kw), ""
    worst_k, worst = max(short, key=lambda item: item[1])
    if all(f <= tol for f, tol in zip(clipped, tolerance, strict=True)):
        return (
            InstructionStatus.REJECTED,
            tuple(0.0 for _ in target_kw),
            f"the pool cannot deliver any of the target (shortfall up to {worst:.1f} kW in "
            f"interval {worst_k}); nothing changed",
        )
    listed = ", ".join(str(k) for k, _ in short)
    return (
        InstructionStatus.PARTIAL,
        tuple(round(f, SCHEDULE_DECIMALS) for f in clipped),
        f"short of the target in interval(s) {listed} (up to {worst:.1f} kW in interval "
        f"{worst_k}); the feasible part is planned",
    )


def get_instruction(session: Session, principal: Principal, instruction_id: str) -> GridInstruction:
    """An instruction by its id: a grid account sees only its own (404 otherwise)."""
    row = repository.instruction(session, instruction_id)
    if row is None or (principal.role == "grid" and row.account_id != principal.account_id):
        raise not_found("instruction")
    return row


# --- schedules -------------------------------------------------------------------------


def schedule_content(session: Session, day: date) -> dict[str, Any] | None:
    """The pool's current schedule of ``day`` (None when nothing is planned): per interval
    the summed baseline and planned net load (kW) and, per product, awarded, target and
    deliverable kW, rounded to W so float noise does not make new versions."""
    totals = repository.pool_plan_totals(session, day)
    targets = repository.pool_targets(session, day)
    if not totals and not targets:
        return None
    baseline = [0.0] * INTERVALS_PER_DAY
    planned = [0.0] * INTERVALS_PER_DAY
    for t, base, setpoint in totals:
        baseline[t], planned[t] = base, setpoint
    products: dict[str, dict[str, list[float]]] = {}
    for row in targets:
        entry = products.setdefault(
            row.product,
            {name: [0.0] * INTERVALS_PER_DAY for name in ("awarded", "target", "deliverable")},
        )
        entry["awarded"][row.interval] = row.awarded_kw
        entry["target"][row.interval] = float(getattr(row, "target_kw", row.awarded_kw))
        entry["deliverable"][row.interval] = row.planned_kw

    def rounded(values: list[float]) -> list[float]:
        return [round(v, SCHEDULE_DECIMALS) + 0.0 for v in values]

    return {
        "day": day.isoformat(),
        "interval_minutes": 15,
        "baseline_kw": rounded(baseline),
        "planned_kw": rounded(planned),
        "products": [
            {
                "product": product,
                "awarded_kw": rounded(entry["awarded"]),
                "target_kw": rounded(entry["target"]),
                "deliverable_kw": rounded(entry["deliverable"]),
            }
            for product, entry in sorted(products.items())
        ],
    }


def _hash_document(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def publish_schedule(
    session: Session, day: date, now: datetime, cause: str = "plan"
) -> ScheduleVersion | None:
    """Record a new version of the day's schedule if its content changed, and queue its
    webhook delivery (outbox, sent by `vpp.grid.webhook.deliver_due`). Returns the new
    version, or None when nothing changed or nothing is planned. Does not commit."""
    content = schedule_content(session, day)
    if content is None:
        return None
    digest = _hash_document(content)
    latest = repository.latest_version(session, day)
    if latest is not None and latest.content_hash == digest:
        return None
    version = ScheduleVersion(
        day=day,
        version=(latest.version + 1) if latest else 1,
        content_hash=digest,
        document=content,
        cause=cause[:200],
        created_at=now,
    )
    session.add(version)
    session.flush()
    session.add(
        WebhookDelivery(
            version_id=version.id,
            state="pending",
            attempts=0,
            next_attempt_at=now,
            last_error="",
            created_at=now,
        )
    )
    session.flush()
    return version


def schedule_out(version: ScheduleVersion) -> ScheduleOut:
    return ScheduleOut.model_validate(
        {
            **version.document,
            "version": version.version,
            "updated_at": version.created_at,
            "cause": version.cause,
        }
    )


def schedules(session: Session, day: date) -> tuple[ScheduleVersion | None, ScheduleVersion | None]:
    """(day-ahead, current): the last version published before the day began, the latest."""
    return (
        repository.latest_version(session, day, before=day_bounds_utc(day)[0]),
        repository.latest_version(session, day),
    )


# --- signing keys ----------------------------------------------------------------------


def register_signing_key(
    session: Session, principal: Principal | None, body: SigningKeyCreate
) -> GridSigningKey:
    """Register a grid account's Ed25519 public key (admin). Refuses a non-grid account,
    a key that is not Ed25519, and a key id already taken."""
    account = session.get(Account, body.account_id)
    if account is None:
        raise field_error("account_id", "account_exists", "no such account")
    if account.kind != "grid":
        raise field_error(
            "account_id", "grid_account", f"the account's kind is {account.kind}, not grid"
        )
    try:
        raw = signing.parse_public_key(body.public_key)
    except signing.SignatureError as exc:
        raise field_error("public_key", "ed25519_public_key", str(exc)) from None
    key_id = body.key_id or signing.key_fingerprint(raw)
    if repository.signing_key(session, key_id) is not None:
        raise field_error("key_id", "unique", f"{key_id!r} is already registered", status=409)
    row = GridSigningKey(
        key_id=key_id, account_id=account.id, public_key=signing.encode_public_key(raw)
    )
    session.add(row)
    session.flush()
    audit(session, principal, "grid_key.create", "grid_signing_key", row.id, {"key_id": key_id})
    return row


def revoke_signing_key(
    session: Session, principal: Principal | None, id_: uuid.UUID, now: datetime
) -> GridSigningKey:
    row = repository.signing_key_by_id(session, id_)
    if row is None:
        raise not_found("signing key")
    if row.revoked_at is None:
        row.revoked_at = now
        audit(session, principal, "grid_key.revoke", "grid_signing_key", row.id)
    session.flush()
    return row


def _signature_problem(field: str, rule: str, message: str) -> Problem:
    return Problem(
        401,
        f"{field}: {message}",
        slug="bad-signature",
        errors=[{"field": field, "rule": rule, "message": message}],
        headers={"WWW-Authenticate": 'Signature realm="vpp-grid"'},
    )


def verify_signature(
    session: Session,
    principal: Principal,
    body: bytes,
    key_id: str | None,
    signature: str | None,
) -> GridSigningKey:
    """The signing key of the caller's account that verifies ``body`` (401 otherwise:
    unsigned, unknown, revoked or foreign key, or a signature that does not verify)."""
    if not signature:
        raise _signature_problem(
            signing.SIGNATURE_HEADER, "required", "the body must be signed (Ed25519, base64)"
        )
    if not key_id:
        raise _signature_problem(
            signing.KEY_ID_HEADER, "required", "name the key the body is signed with"
        )
    key = repository.signing_key(session, key_id)
    if key is None or key.account_id != principal.account_id:
        raise _signature_problem(
            signing.KEY_ID_HEADER, "key_known", "no signing key of this id for this account"
        )
    if key.revoked_at is not None:
        raise _signature_problem(signing.KEY_ID_HEADER, "key_active", "the key is revoked")
    if not signing.verify_body(key.public_key, body, signature):
        raise _signature_problem(
            signing.SIGNATURE_HEADER, "signature_valid", "does not verify for this exact body"
        )
    return key
