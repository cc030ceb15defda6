"""Checking and storing telemetry batches; reading an asset's history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy.orm import Session

from vpp.assets import repository as assets_repository
from vpp.assets.service import get_asset
from vpp.kit.audit import audit
from vpp.kit.auth import Principal
from vpp.kit.errors import Problem, field_error, validation_problem
from vpp.models import TelemetryReading
from vpp.telemetry import repository
from vpp.telemetry.schemas import BATCH_ADAPTER, IngestResult, Reading

# A reading is about 150 bytes of JSON; refuse bodies far beyond the batch limit
# before spending time parsing them.
BYTES_PER_READING_CEILING = 400


def parse_batch(body: bytes, max_batch: int) -> list[Reading]:
    """Validate a JSON batch; every error names the reading's index and field."""
    if len(body) > max_batch * BYTES_PER_READING_CEILING:
        raise Problem(413, f"request body too large; a batch holds at most {max_batch} readings")
    try:
        batch = BATCH_ADAPTER.validate_json(body)
    except ValidationError as exc:
        raise validation_problem(exc.errors()) from None
    if len(batch.readings) > max_batch:
        raise Problem(
            413,
            f"batch of {len(batch.readings)} readings exceeds the limit of {max_batch}",
            errors=[{"field": "readings", "rule": "max_batch", "message": f"at most {max_batch}"}],
        )
    return batch.readings


def ingest(session: Session, principal: Principal, readings: Sequence[Reading]) -> IngestResult:
    """Store a batch all or nothing; repeated (asset, ts) pairs are stored once."""
    first_index: dict[uuid.UUID, int] = {}
    for index, reading in enumerate(readings):
        first_index.setdefault(reading.asset_id, index)
    unknown = assets_repository.unknown_asset_ids(session, principal.account_id, first_index)
    if unknown:
        index = min(first_index[asset_id] for asset_id in unknown)
        raise field_error(
            f"readings[{index}].asset_id",
            "asset_exists",
            f"no active asset {readings[index].asset_id} of yours",
            status=404,
        )

    # Repeats inside the batch are left to the database, which skips them like any
    # stored duplicate (INSERT OR IGNORE / ON CONFLICT DO NOTHING): the first one wins.
    rows = [
        (r.asset_id, r.ts, r.power_kw, r.soc, r.energy_kwh, r.status, r.quality) for r in readings
    ]
    inserted = repository.insert_readings(session, rows)
    result = IngestResult(accepted=inserted, duplicates=len(readings) - inserted)
    audit(
        session,
        principal,
        "telemetry.ingest",
        "telemetry_batch",
        detail={"readings": len(readings), "assets": len(first_index), **result.model_dump()},
    )
    return result


def history(
    session: Session,
    principal: Principal,
    asset_id: uuid.UUID,
    start: datetime,
    end: datetime,
    limit: int,
) -> Sequence[TelemetryReading]:
    """The asset's readings in [start, end); 404 if it is not the caller's to see."""
    asset = get_asset(session, principal, asset_id)
    return repository.read_range(session, asset.id, start, end, limit)
