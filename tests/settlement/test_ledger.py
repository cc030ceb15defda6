"""The sealed ledger: chained records, excerpts that verify offline, and tampering named."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.settlement.helpers import hand_day, pack_scorer, two_enterprise_inputs
from vpp.settlement.core import settle
from vpp.settlement.ledger import (
    FORMAT,
    GENESIS,
    Record,
    VerificationError,
    canonical,
    day_bodies,
    record_hash,
    seal,
    sha256,
    verify_evidence,
)
from vpp.settlement.measurement import GapRule

SETTLED_AT = datetime(2026, 3, 12, 6, 0, tzinfo=UTC)


def sealed(version: int = 1, prev: str = GENESIS, first_seq: int = 0) -> list[Record]:
    inputs = two_enterprise_inputs(hand_day())
    result = settle(inputs, pack_scorer())
    sealed = day_bodies(inputs, result, version=version, settled_at=SETTLED_AT, gap_rule=GapRule())
    return seal(
        sealed.bodies,
        day="2026-03-11",
        version=version,
        prev_hash=prev,
        first_seq=first_seq,
        texts=sealed.texts,
    )


def document(records: list[Record], visible: set[str | None] | None = None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "day": "2026-03-11",
        "records": [
            r.to_json(redact=visible is not None and r.account not in visible) for r in records
        ],
    }


def test_a_day_seals_inputs_every_enterprise_and_the_pool_in_one_chain() -> None:
    records = sealed()
    assert [(r.kind, r.account) for r in records] == [
        ("inputs", None),
        ("enterprise", "E1"),
        ("enterprise", "E2"),
        ("pool", None),
    ]
    assert records[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(records):
        assert after.prev_hash == before.hash
    e2 = records[2].body
    assert e2 is not None
    assert e2["statement"]["peak_shaving.peak_cut"] == {
        "payment_fen": 13200,
        "penalty_fen": 1250,
        "gross_fen": 11950,
        "positive_mwh": 0.35,
        "aggregator_fen": 1545,
        "net_fen": 10405,
    }
    assert e2["assets"][0]["baseline_w"] == {"peak_shaving.peak_cut": [600_000] * 5}
    assert e2["assets"][0]["measured_w"] == [200_000, 200_000, 200_000, 700_000, 400_000]
    pool = records[3].body
    assert pool is not None
    assert pool["totals"] == {
        "payment_fen": 39000,
        "penalty_fen": 2500,
        "net_fen": 36500,
        "aggregator_fen": 6455,
        "enterprises_net_fen": 30045,
    }


def test_full_and_enterprise_excerpts_verify() -> None:
    records = sealed()
    full = verify_evidence(document(records))
    assert full.enterprises_recomputed == ("E1", "E2") and full.pool_checked
    assert full.head == records[-1].hash
    own_doc = document(records, {"E2"})
    assert "E1" not in canonical(own_doc)
    own = verify_evidence(own_doc)
    assert own.enterprises_recomputed == ("E2",) and not own.pool_checked
    assert own.bodies == 1 and own.records == 4
    pool = verify_evidence(document(records, {None}))
    assert pool.enterprises_recomputed == () and pool.pool_checked
    # a redacted record's hash changed is caught by its successor's link
    broken = document(records, {"E2"})
    broken["records"][1]["hash"] = "f" * 64
    with pytest.raises(VerificationError, match=r"record 2 \(enterprise E2.*prev_hash"):
        verify_evidence(broken)


def test_a_new_version_continues_the_chain() -> None:
    first = sealed()
    second = sealed(version=2, prev=first[-1].hash, first_seq=len(first))
    doc = document([*first, *second])
    assert verify_evidence(doc).records == 8
    with pytest.raises(VerificationError, match=r"record 4 .*prev_hash"):
        verify_evidence(document([*first, *sealed(version=2, first_seq=4)]))


def _tampered(doc: dict[str, Any], seq: int, change: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    change(out["records"][seq]["body"])
    return out


def test_changing_any_sealed_number_names_the_record() -> None:
    doc = document(sealed())

    def raise_payment(body: dict[str, Any]) -> None:
        body["products"]["peak_shaving.peak_cut"]["payment_fen"][0] += 1

    with pytest.raises(VerificationError, match=r"record 2 \(enterprise E2.*body does not match"):
        verify_evidence(_tampered(doc, 2, raise_payment))

    def lower_baseline(body: dict[str, Any]) -> None:
        body["assets"][0]["baseline_w"]["peak_shaving.peak_cut"][1] = 500_000

    with pytest.raises(VerificationError, match=r"record 1 \(enterprise E1"):
        verify_evidence(_tampered(doc, 1, lower_baseline))


def _reseal(doc: dict[str, Any], from_seq: int) -> None:
    """What a forger must do to hide a change: recompute every digest from there on."""
    records = doc["records"]
    for i in range(from_seq, len(records)):
        rec = records[i]
        if i > 0:
            rec["prev_hash"] = records[i - 1]["hash"]
        rec["body_sha256"] = sha256(canonical(rec["body"]))
        rec["hash"] = record_hash({k: rec[k] for k in rec if k not in ("hash", "body")})


def test_a_resealed_forgery_fails_its_own_numbers_or_the_known_head() -> None:
    records = sealed()
    doc = document(records)
    forged = copy.deepcopy(doc)
    forged["records"][2]["body"]["statement"]["peak_shaving.peak_cut"]["net_fen"] += 100
    _reseal(forged, 2)
    with pytest.raises(VerificationError, match=r"record 2 \(enterprise E2.*net_fen"):
        verify_evidence(forged)
    # a consistent forgery (every number re-derived) still cannot end at the known head
    consistent = copy.deepcopy(doc)
    consistent["records"][0]["body"]["settled_at"] = "2026-03-12T07:00:00+00:00"
    _reseal(consistent, 0)
    assert verify_evidence(consistent).head != records[-1].hash
    with pytest.raises(VerificationError, match="expected"):
        verify_evidence(consistent, head=records[-1].hash)


def test_the_pool_record_must_add_up() -> None:
    doc = document(sealed())
    forged = copy.deepcopy(doc)
    forged["records"][3]["body"]["totals"]["aggregator_fen"] -= 1
    _reseal(forged, 3)
    with pytest.raises(VerificationError, match=r"record 3 \(pool.*aggregator_fen"):
        verify_evidence(forged)


def test_malformed_documents_are_refused() -> None:
    with pytest.raises(VerificationError, match="not a vpp-evidence"):
        verify_evidence({"records": []})
    with pytest.raises(VerificationError, match="malformed record"):
        verify_evidence({"format": FORMAT, "records": [{"seq": 0}]})
