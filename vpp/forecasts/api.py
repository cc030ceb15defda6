"""Routes for forecasts and flexibility."""

from __future__ import annotations

import uuid
from datetime import date

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from vpp.forecasts import service
from vpp.forecasts.schemas import AssetForecast, PoolFlexibility
from vpp.kit.auth import Principal, require
from vpp.kit.responses import json_response
from vpp.kit.session import get_session

router = APIRouter(tags=["forecasts"])
reader = require("enterprise", "operator")
operator = require("operator")
Day = Query(description="Market day (Asia/Shanghai), e.g. 2026-11-26.")


@router.get("/assets/{asset_id}/forecast", response_model=AssetForecast)
def asset_forecast(
    asset_id: uuid.UUID,
    day: date = Day,
    principal: Principal = Depends(reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    """The asset's day-ahead baseline (mean, P10/P50/P90) and guaranteed up/down kW per
    interval, from its stored telemetry; the confidence says how far to trust it."""
    return json_response(service.asset_forecast(session, principal, asset_id, day))


@router.get("/pool/flexibility", response_model=PoolFlexibility)
def pool_flexibility(
    day: date = Day,
    _principal: Principal = Depends(operator),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    """The pool's summed baseline and flexibility envelopes for a market day."""
    return json_response(service.pool_flexibility(session, day))
