"""The sealed evidence ledger (pure): canonical records, a hash chain, offline verification.

Each settled day version seals three kinds of record, in order:

- ``inputs``: the rule, the awards (W, CNY/MWh per event interval), the event days that
  were excluded from the baselines, and ``inputs_sha256``, the digest of every input
  (awards, agreements, and each asset's measured values, baselines and allocations);
- ``enterprise`` (one per enterprise): its agreement, per asset the baseline days, the
  baseline and measured power (W) of every event interval and the digest of its raw readings;
  per product the allocations, its response, its payment and penalty shares per interval;
  its statement (payments, penalties, gross, positive MWh, aggregator's share, net, fen);
- ``pool``: per product the pool's award, delivery, response rate, payment and penalty
  per interval, the unassigned amounts, and the day's totals.

A record's body is canonical JSON (sorted keys, no whitespace, UTF-8; power as integer
watts, ``*_w``, so the text is exact; no NaN: a gap is ``null``); ``body_sha256`` is its
SHA-256 and the record's ``hash`` the SHA-256 of the canonical header (seq, day, version,
kind, account, prev_hash, body_sha256). Records of one market day form one chain from
`GENESIS`; re-settling a day appends a new version to its chain and never rewrites one. An
evidence excerpt keeps every record in place: the caller's own records whole, other
parties' records *redacted* to their sequence, kind, prev_hash and hash (their successor's
prev_hash vouches for them), so anyone can check the links without seeing anyone else's
numbers.

`verify_evidence` checks an excerpt offline: every link and digest, then, for every body
present, the numbers it carries: each enterprise's response recomputed from the sealed
baselines, measurements and allocations, and its statement re-totalled from its interval
shares and its agreement; the pool's totals re-added. It reports the first broken record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from vpp.domain import INTERVAL_HOURS
from vpp.domain.units import KWH_PER_MWH, Direction
from vpp.settlement.core import DayInputs, DayResult
from vpp.settlement.measurement import GapRule
from vpp.settlement.sharing import Agreement, aggregator_cut

FloatArray = npt.NDArray[np.float64]

GENESIS = "0" * 64
FORMAT = "vpp-evidence/1"
W_PER_KW = 1000.0
"""Sealed power is integer watts: exact in JSON, 1 W resolution."""


def canonical(obj: Any) -> str:
    """Canonical JSON text: sorted keys, compact separators, no NaN (raises on NaN)."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def w_rows(values_kw: FloatArray) -> list[list[int | None]]:
    """Rows of kW values as integer watts (exact, canonical JSON); NaN becomes None."""
    v = np.asarray(values_kw, dtype=np.float64)
    finite = np.isfinite(v)
    rows: list[list[int | None]] = (
        np.rint(np.where(finite, v, 0.0) * W_PER_KW).astype(np.int64).tolist()
    )
    for r in np.flatnonzero(~finite.all(axis=-1)).tolist():
        rows[r] = [None if not ok else x for x, ok in zip(rows[r], finite[r], strict=True)]
    return rows


def w_list(values_kw: FloatArray) -> list[int | None]:
    """One row of kW values as integer watts (`w_rows`)."""
    return w_rows(np.asarray(values_kw, dtype=np.float64)[None, :])[0]


@dataclass(frozen=True)
class Record:
    """One sealed record; ``body`` None in an excerpt means withheld from the caller."""

    seq: int
    day: str
    version: int
    kind: str
    account: str | None
    prev_hash: str
    body_sha256: str
    hash: str
    body: dict[str, Any] | None
    redacted: bool = False
    """Another party's record in an excerpt: only its place and hashes are shown."""

    def header(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "day": self.day,
            "version": self.version,
            "kind": self.kind,
            "account": self.account,
            "prev_hash": self.prev_hash,
            "body_sha256": self.body_sha256,
        }

    def to_json(self, *, with_body: bool = True, redact: bool = False) -> dict[str, Any]:
        """The record for an excerpt; ``redact`` hides whose it is and its body digest."""
        if redact:
            return {
                "seq": self.seq,
                "day": self.day,
                "version": self.version,
                "kind": self.kind,
                "redacted": True,
                "prev_hash": self.prev_hash,
                "hash": self.hash,
            }
        out = {**self.header(), "hash": self.hash}
        if with_body and self.body is not None:
            out["body"] = self.body
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Record:
        body = raw.get("body")
        redacted = raw.get("redacted") is True
        return cls(
            seq=int(raw["seq"]),
            day=str(raw["day"]),
            version=int(raw["version"]),
            kind=str(raw["kind"]),
            account=None if raw.get("account") is None else str(raw["account"]),
            prev_hash=str(raw["prev_hash"]),
            body_sha256="" if redacted else str(raw["body_sha256"]),
            hash=str(raw["hash"]),
            body=dict(body) if isinstance(body, Mapping) and not redacted else None,
            redacted=redacted,
        )


def record_hash(header: Mapping[str, Any]) -> str:
    """The chain hash of a record from its header (which includes prev_hash)."""
    return sha256(canonical(dict(header)))


def seal(
    bodies: Sequence[tuple[str, str | None, dict[str, Any]]],
    *,
    day: str,
    version: int,
    prev_hash: str,
    first_seq: int,
    texts: Sequence[str] | None = None,
) -> list[Record]:
    """Chain ``(kind, account, body)`` items after ``prev_hash`` from sequence ``first_seq``.

    ``texts``: the bodies' canonical JSON when already encoded (`day_bodies` gives them).
    """
    out: list[Record] = []
    prev = prev_hash
    for i, (kind, account, body) in enumerate(bodies):
        body_sha = sha256(texts[i] if texts is not None else canonical(body))
        rec = Record(first_seq + i, day, version, kind, account, prev, body_sha, "", body)
        digest = record_hash(rec.header())
        rec = Record(first_seq + i, day, version, kind, account, prev, body_sha, digest, body)
        out.append(rec)
        prev = digest
    return out


Body = tuple[str, str | None, dict[str, Any]]


@dataclass(frozen=True)
class DayBodies:
    """A day version's record bodies, their canonical texts and the inputs digest."""

    bodies: list[Body]
    texts: list[str]
    inputs_sha256: str


def _rounded(values: FloatArray, digits: int = 6) -> list[float]:
    return [float(x) for x in np.round(np.asarray(values, dtype=np.float64), digits)]


def day_bodies(
    inputs: DayInputs,
    result: DayResult,
    *,
    version: int,
    settled_at: datetime,
    gap_rule: GapRule,
) -> DayBodies:
    """The day's record bodies (inputs, one per enterprise, pool) and ``inputs_sha256``.

    The enterprise bodies do not depend on the version or the time of settling, so
    ``inputs_sha256`` (over the rules, the awards and every enterprise body: the inputs
    and the results they determine) is the same whenever the same inputs are settled.
    """
    day = inputs.day.isoformat()
    k_idx = result.event_intervals.tolist()
    n = inputs.values_kw.shape[1]
    asset_ids = inputs.asset_ids or tuple(str(i) for i in range(n))
    digests = inputs.readings_sha256 or ("",) * n
    by_account: dict[int, list[int]] = {}
    for a, e in enumerate(inputs.asset_account.tolist()):
        by_account.setdefault(e, []).append(a)
    measured = w_rows(result.measured_kw[:, k_idx])
    filled_rows = {
        a: [k_idx[j] for j in np.flatnonzero(inputs.filled[a, k_idx]).tolist()]
        for a in np.flatnonzero(inputs.filled[:, k_idx].any(axis=1)).tolist()
    }
    baselines = {pr.product: w_rows(pr.baselines.power_kw[:, k_idx]) for pr in result.products}
    iso: dict[tuple[Any, ...], list[str]] = {}
    days_used = {
        pr.product: [
            iso.setdefault(used, [d.isoformat() for d in used]) for used in pr.baselines.days_used
        ]
        for pr in result.products
    }
    allocated = {p.product: w_rows(p.allocated_kw[:, k_idx]) for p in inputs.products}
    enterprises: list[Body] = []
    texts: list[str] = []
    for e, account in enumerate(inputs.accounts):
        agreement = inputs.agreements[e]
        assets = [
            {
                "asset": asset_ids[a],
                "baseline_days": {p: used[a] for p, used in days_used.items()},
                "baseline_w": {p: rows[a] for p, rows in baselines.items()},
                "measured_w": measured[a],
                "filled": filled_rows.get(a, []),
                "readings_sha256": digests[a],
                "allocated_w": {p: rows[a] for p, rows in allocated.items()},
            }
            for a in by_account.get(e, [])
        ]
        products: dict[str, Any] = {}
        statement: dict[str, Any] = {}
        for pr in result.products:
            products[pr.product] = {
                "side": pr.side.value,
                "response_w": w_list(pr.response_kw[e, k_idx]),
                "allocated_w": w_list(pr.allocated_kw[e, k_idx]),
                "flagged": pr.flagged[e, k_idx].tolist(),
                "payment_fen": pr.payment_share_fen[e, k_idx].tolist(),
                "penalty_fen": pr.penalty_share_fen[e, k_idx].tolist(),
            }
            statement[pr.product] = {
                "payment_fen": int(pr.payment_share_fen[e].sum()),
                "penalty_fen": int(pr.penalty_share_fen[e].sum()),
                "gross_fen": int(pr.gross_fen[e]),
                "positive_mwh": float(pr.positive_mwh[e]),
                "aggregator_fen": int(pr.aggregator_fen[e]),
                "net_fen": int(pr.net_fen[e]),
            }
        body = {
            "kind": "enterprise",
            "day": day,
            "account": account,
            "agreement": {
                "ratio_bp": agreement.ratio_bp,
                "fee_fen_per_mwh": agreement.fee_fen_per_mwh,
            },
            "intervals": k_idx,
            "interval_hours": INTERVAL_HOURS,
            "assets": assets,
            "products": products,
            "statement": statement,
        }
        enterprises.append(("enterprise", account, body))
        texts.append(canonical(body))
    core = {
        "day": day,
        "rule": {p.product: (p.rule or inputs.rule).describe() for p in inputs.products},
        "gap_rule": {"max_fill_intervals": gap_rule.max_fill_intervals},
        "event_days": sorted(d.isoformat() for d in inputs.event_days),
        "intervals": k_idx,
        "products": {
            p.product: {
                "side": p.side.value,
                "awarded_w": w_list(p.awarded_kw[k_idx]),
                "price_cny_per_mwh": _rounded(p.price_cny_per_mwh[k_idx]),
            }
            for p in inputs.products
        },
        "accounts": list(inputs.accounts),
    }
    inputs_sha = sha256(canonical(core) + "".join(sha256(t) for t in texts))
    inputs_body = {
        **core,
        "kind": "inputs",
        "version": version,
        "settled_at": settled_at.isoformat(),
        "inputs_sha256": inputs_sha,
    }
    pool_products: dict[str, Any] = {}
    for pr in result.products:
        pool_products[pr.product] = {
            "side": pr.side.value,
            "awarded_w": w_list(pr.awarded_kw[k_idx]),
            "price_cny_per_mwh": _rounded(pr.price_cny_per_mwh[k_idx]),
            "delivered_w": w_list(pr.delivered_kw[k_idx]),
            "response_rate": _rounded(pr.response_rate[k_idx]),
            "payment_fen": pr.payment_fen[k_idx].tolist(),
            "penalty_fen": pr.penalty_fen[k_idx].tolist(),
            "unassigned_fen": pr.unassigned_fen,
            "aggregator_fen": int(pr.aggregator_fen.sum()),
            "enterprises_net_fen": int(pr.net_fen.sum()),
        }
    pool_body = {
        "kind": "pool",
        "day": day,
        "version": version,
        "intervals": k_idx,
        "products": pool_products,
        "totals": {
            "payment_fen": result.pool_payment_fen,
            "penalty_fen": result.pool_penalty_fen,
            "net_fen": result.pool_net_fen,
            "aggregator_fen": result.aggregator_fen,
            "enterprises_net_fen": result.enterprises_net_fen,
        },
    }
    bodies: list[Body] = [("inputs", None, inputs_body), *enterprises, ("pool", None, pool_body)]
    all_texts = [canonical(inputs_body), *texts, canonical(pool_body)]
    return DayBodies(bodies, all_texts, inputs_sha)


class VerificationError(Exception):
    """The first record of an excerpt that fails, and why."""

    def __init__(self, record: Record | None, reason: str) -> None:
        where = "evidence" if record is None else describe(record)
        super().__init__(f"{where}: {reason}")
        self.record = record
        self.reason = reason


def describe(record: Record) -> str:
    """How a record is named in messages: ``record 3 (enterprise <id>, version 1)``."""
    who = f"{record.kind} {record.account}" if record.account else record.kind
    if record.redacted:
        who += ", redacted"
    return f"record {record.seq} ({who}, {record.day} version {record.version})"


def verify_chain(records: Sequence[Record], head: str | None = None) -> None:
    """Check links and digests; raise `VerificationError` naming the first broken record.

    ``head``: a final hash obtained earlier (e.g. from another download); if given, the
    chain must end with it, which catches a rewritten chain.
    """
    prev = GENESIS
    for i, rec in enumerate(records):
        if rec.seq != i:
            raise VerificationError(rec, f"sequence number {rec.seq}, expected {i}")
        if rec.prev_hash != prev:
            raise VerificationError(
                rec, "prev_hash does not match the previous record's hash (a link was altered)"
            )
        if rec.redacted:
            # Another party's record: its successor's prev_hash vouches for its hash.
            prev = rec.hash
            continue
        if rec.body is not None and sha256(canonical(rec.body)) != rec.body_sha256:
            raise VerificationError(rec, "body does not match its body_sha256 (content altered)")
        if record_hash(rec.header()) != rec.hash:
            raise VerificationError(rec, "hash does not match the record's header")
        prev = rec.hash
    if head is not None and prev != head:
        raise VerificationError(None, f"the chain ends with {prev}, not with the expected {head}")


def _check(cond: bool, record: Record, reason: str) -> None:
    if not cond:
        raise VerificationError(record, reason)


def _kw(values_w: Sequence[float | None]) -> FloatArray:
    """Sealed integer watts back to kW (None -> NaN)."""
    return np.array([np.nan if v is None else v for v in values_w], dtype=np.float64) / W_PER_KW


def verify_enterprise(record: Record) -> None:
    """Recompute an enterprise record's response and statement from its sealed inputs."""
    body = record.body
    assert body is not None
    assets = body["assets"]
    products = body["products"]
    k = len(body["intervals"])
    hours = float(body["interval_hours"])
    alloc = {p: np.zeros((len(assets), k)) for p in products}
    for a, asset in enumerate(assets):
        for p in products:
            alloc[p][a] = np.nan_to_num(_kw(asset["allocated_w"][p]))
    total = sum(alloc.values(), np.zeros((len(assets), k)))
    tolerance = (2 * len(assets) + 1) / W_PER_KW + 1e-9
    for p, data in products.items():
        sign = 1.0 if data["side"] == Direction.UP.value else -1.0
        response = np.zeros(k)
        for a, asset in enumerate(assets):
            base, meas = _kw(asset["baseline_w"][p]), _kw(asset["measured_w"])
            ok = np.isfinite(base) & np.isfinite(meas) & (total[a] > 0)
            weight = np.divide(alloc[p][a], total[a], out=np.zeros(k), where=total[a] > 0)
            response += np.where(ok, sign * (meas - base) * weight, 0.0)
        sealed = _kw(data["response_w"])
        worst = float(np.max(np.abs(response - sealed), initial=0.0))
        _check(
            worst <= tolerance,
            record,
            f"{p}: response_w differs from the sealed baselines and measurements by {worst:.4f} kW",
        )
        line = body["statement"][p]
        pay, pen = sum(data["payment_fen"]), sum(data["penalty_fen"])
        _check(
            line["payment_fen"] == pay,
            record,
            f"{p}: payment_fen {line['payment_fen']} is not the sum of its intervals {pay}",
        )
        _check(
            line["penalty_fen"] == pen,
            record,
            f"{p}: penalty_fen {line['penalty_fen']} is not the sum of its intervals {pen}",
        )
        _check(line["gross_fen"] == pay - pen, record, f"{p}: gross_fen is not payment - penalty")
        mwh = float(np.clip(sealed, 0.0, None).sum()) * hours / KWH_PER_MWH
        _check(
            abs(mwh - line["positive_mwh"]) <= tolerance * k * hours / KWH_PER_MWH + 1e-6,
            record,
            f"{p}: positive_mwh {line['positive_mwh']} differs from the response ({mwh:.6f})",
        )
        agreement = Agreement(**body["agreement"])
        cut = int(
            aggregator_cut(
                np.array([line["gross_fen"]], dtype=np.int64),
                np.array([line["positive_mwh"]]),
                [agreement],
            )[0]
        )
        _check(
            line["aggregator_fen"] == cut,
            record,
            f"{p}: aggregator_fen {line['aggregator_fen']} is not {cut} by the agreement",
        )
        _check(
            line["net_fen"] == line["gross_fen"] - cut,
            record,
            f"{p}: net_fen {line['net_fen']} is not gross - aggregator {line['gross_fen'] - cut}",
        )


def verify_pool(record: Record, enterprises: Sequence[Record]) -> None:
    """Re-add the pool's totals; with every enterprise body present, tie them to the pool."""
    body = record.body
    assert body is not None
    pay = pen = agg = ent = 0
    for p, data in body["products"].items():
        p_pay, p_pen = sum(data["payment_fen"]), sum(data["penalty_fen"])
        _check(
            data["aggregator_fen"] + data["unassigned_fen"] + data["enterprises_net_fen"]
            == p_pay - p_pen,
            record,
            f"{p}: aggregator + enterprises do not add up to the pool's net",
        )
        pay, pen = pay + p_pay, pen + p_pen
        agg += data["aggregator_fen"] + data["unassigned_fen"]
        ent += data["enterprises_net_fen"]
        if enterprises and all(e.body is not None for e in enterprises):
            net = sum(e.body["statement"][p]["net_fen"] for e in enterprises if e.body)
            _check(
                net == data["enterprises_net_fen"],
                record,
                f"{p}: the enterprises' statements add up to {net} fen, not "
                f"{data['enterprises_net_fen']}",
            )
            for field in ("payment_fen", "penalty_fen"):
                shares = np.sum(
                    [e.body["products"][p][field] for e in enterprises if e.body], axis=0
                )
                _check(
                    bool(np.all(shares <= np.asarray(data[field]))),
                    record,
                    f"{p}: enterprise {field} shares exceed the pool's",
                )
    totals = body["totals"]
    expected = {
        "payment_fen": pay,
        "penalty_fen": pen,
        "net_fen": pay - pen,
        "aggregator_fen": agg,
        "enterprises_net_fen": ent,
    }
    for name, value in expected.items():
        _check(totals[name] == value, record, f"totals.{name} {totals[name]} is not {value}")


@dataclass(frozen=True)
class Verified:
    """What `verify_evidence` checked."""

    records: int
    bodies: int
    enterprises_recomputed: tuple[str, ...]
    pool_checked: bool
    head: str


def verify_evidence(document: Mapping[str, Any], head: str | None = None) -> Verified:
    """Verify an evidence excerpt (module docstring); raise `VerificationError` if broken."""
    if document.get("format") != FORMAT:
        raise VerificationError(None, f"not a {FORMAT} document")
    try:
        records = [Record.from_json(r) for r in document["records"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise VerificationError(None, f"malformed record: {exc!r}") from None
    verify_chain(records, head)
    recomputed: list[str] = []
    pool_checked = False
    by_version: dict[int, list[Record]] = {}
    for rec in records:
        by_version.setdefault(rec.version, []).append(rec)
    for rec in records:
        if rec.body is None:
            continue
        try:
            if rec.kind == "enterprise":
                verify_enterprise(rec)
                recomputed.append(str(rec.account))
            elif rec.kind == "pool":
                ents = [r for r in by_version[rec.version] if r.kind == "enterprise"]
                verify_pool(rec, ents)
                pool_checked = True
        except (KeyError, TypeError, ValueError) as exc:
            raise VerificationError(rec, f"malformed body: {exc!r}") from None
    return Verified(
        records=len(records),
        bodies=sum(r.body is not None for r in records),
        enterprises_recomputed=tuple(recomputed),
        pool_checked=pool_checked,
        head=records[-1].hash if records else GENESIS,
    )


__all__ = [
    "FORMAT",
    "GENESIS",
    "DayBodies",
    "Record",
    "VerificationError",
    "Verified",
    "canonical",
    "day_bodies",
    "describe",
    "record_hash",
    "seal",
    "sha256",
    "verify_chain",
    "verify_evidence",
    "w_list",
    "w_rows",
]
