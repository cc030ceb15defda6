"""Enrolling, changing and retiring sites and assets, with their physical checks."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python
from sqlalchemy.orm import Session

from vpp.assets import repository
from vpp.assets.schemas import (
    AdapterBinding,
    AssetOut,
    AssetUpdate,
    Flexibility,
    KindSummary,
    PoolSummary,
    SiteCreate,
    SiteUpdate,
)
from vpp.dispatch.registry import validate_binding
from vpp.domain.assets import PARAMS_BY_KIND, AssetKind, AssetParams, flexibility_of
from vpp.kit.audit import audit
from vpp.kit.auth import Principal
from vpp.kit.errors import Problem, field_error, not_found, validation_problem
from vpp.models import Asset, Site
from vpp.models.base import utcnow

_PARAM_ADAPTERS = {kind: TypeAdapter(cls) for kind, cls in PARAMS_BY_KIND.items()}


def tenant_scope(principal: Principal) -> uuid.UUID | None:
    """Operators see every enterprise; everyone else only their own account."""
    return None if principal.role == "operator" else principal.account_id


def create_site(session: Session, principal: Principal, body: SiteCreate) -> Site:
    site = Site(account_id=principal.account_id, **body.model_dump())
    session.add(site)
    session.flush()
    audit(session, principal, "site.create", "site", site.id, body.model_dump(mode="json"))
    return site


def update_site(
    session: Session, principal: Principal, site_id: uuid.UUID, body: SiteUpdate
) -> Site:
    site = _own_site(session, principal, site_id, "site")
    changes = body.model_dump(exclude_unset=True)
    for name, value in changes.items():
        setattr(site, name, value)
    site.updated_at = utcnow()
    audit(session, principal, "site.update", "site", site.id, _jsonable(changes))
    return site


def retire_site(session: Session, principal: Principal, site_id: uuid.UUID) -> Site:
    site = _own_site(session, principal, site_id, "site")
    active = repository.count_active_assets_on_site(session, site.id)
    if active:
        raise Problem(409, f"site still has {active} active asset(s); retire them first")
    site.retired_at = site.retired_at or utcnow()
    audit(session, principal, "site.retire", "site", site.id)
    return site


def _own_site(session: Session, principal: Principal, site_id: uuid.UUID, field: str) -> Site:
    site = repository.get_site(session, site_id, principal.account_id)
    if site is None:
        if field == "site":
            raise not_found("site")
        raise field_error(field, "exists", "no such site", status=404)
    if site.retired_at is not None:
        raise Problem(409, "site is retired")
    return site


def apply_params(asset: Asset, params: AssetParams) -> None:
    """Store validated parameters and the rated flexibility derived from them."""
    flex = flexibility_of(params)
    asset.params = _jsonable(params)
    asset.baseline_kw = flex.baseline_kw
    asset.up_kw = flex.up_kw
    asset.down_kw = flex.down_kw


def create_asset(
    session: Session,
    principal: Principal,
    body: Any,
    adapter_config: Mapping[str, Mapping[str, Any]] | None = None,
) -> Asset:
    """Enroll an asset on one of the caller's sites; ``adapter_config`` is the service's
    adapter-wide configuration, against which the binding is checked."""
    site = _own_site(session, principal, body.site_id, "site_id")
    asset = Asset(
        account_id=principal.account_id,
        site_id=site.id,
        name=body.name,
        kind=body.kind,
        adapter=body.adapter.name,
        adapter_settings=validate_binding(
            body.adapter.name, body.adapter.settings, (adapter_config or {}).get(body.adapter.name)
        ),
    )
    apply_params(asset, body.params)
    session.add(asset)
    session.flush()
    audit(
        session,
        principal,
        "asset.create",
        "asset",
        asset.id,
        {"kind": body.kind, "params": asset.params},
    )
    return asset


def update_asset(
    session: Session,
    principal: Principal,
    asset_id: uuid.UUID,
    body: AssetUpdate,
    adapter_config: Mapping[str, Mapping[str, Any]] | None = None,
) -> Asset:
    asset = get_asset(session, principal, asset_id)
    if asset.retired_at is not None:
        raise Problem(409, "asset is retired")
    changes = body.model_dump(exclude_unset=True)
    if body.name is not None:
        asset.name = body.name
    if body.site_id is not None:
        asset.site_id = _own_site(session, principal, body.site_id, "site_id").id
    if body.adapter is not None:
        asset.adapter_settings = validate_binding(
            body.adapter.name, body.adapter.settings, (adapter_config or {}).get(body.adapter.name)
        )
        asset.adapter = body.adapter.name
    if body.params is not None:
        merged = {**asset.params, **body.params}
        try:
            params = _PARAM_ADAPTERS[AssetKind(asset.kind)].validate_python(merged)
        except ValidationError as exc:
            problem = validation_problem(exc.errors())
            for item in problem.errors:
                item["field"] = f"params.{item['field']}" if item["field"] != "body" else "params"
            problem.detail = f"params.{problem.detail}"
            raise problem from None
        apply_params(asset, params)
    asset.updated_at = utcnow()
    audit(session, principal, "asset.update", "asset", asset.id, _jsonable(changes))
    return asset


def retire_asset(session: Session, principal: Principal, asset_id: uuid.UUID) -> Asset:
    asset = get_asset(session, principal, asset_id)
    if asset.retired_at is None:
        asset.retired_at = utcnow()
        audit(session, principal, "asset.retire", "asset", asset.id)
    return asset


def get_asset(session: Session, principal: Principal, asset_id: uuid.UUID) -> Asset:
    asset = repository.get_asset(session, asset_id, tenant_scope(principal))
    if asset is None:
        raise not_found("asset")
    return asset


def get_site(session: Session, principal: Principal, site_id: uuid.UUID) -> Site:
    site = repository.get_site(session, site_id, tenant_scope(principal))
    if site is None:
        raise not_found("site")
    return site


def asset_out(asset: Asset) -> AssetOut:
    return AssetOut(
        id=asset.id,
        account_id=asset.account_id,
        site_id=asset.site_id,
        name=asset.name,
        kind=AssetKind(asset.kind),
        params=asset.params,
        adapter=AdapterBinding(name=asset.adapter, settings=asset.adapter_settings),
        flexibility=Flexibility(
            baseline_kw=asset.baseline_kw, up_kw=asset.up_kw, down_kw=asset.down_kw
        ),
        created_at=asset.created_at,
        updated_at=asset.updated_at,
        retired_at=asset.retired_at,
    )


def pool_summary(session: Session) -> PoolSummary:
    rows = repository.pool_totals(session)
    by_kind = [
        KindSummary(kind=AssetKind(k), count=n, up_kw=up, down_kw=down) for k, n, up, down in rows
    ]
    return PoolSummary(
        enterprise_count=repository.pool_enterprise_count(session),
        asset_count=sum(k.count for k in by_kind),
        up_kw=sum(k.up_kw for k in by_kind),
        down_kw=sum(k.down_kw for k in by_kind),
        by_kind=by_kind,
    )


def _jsonable(values: Any) -> Any:
    """Enums, UUIDs and dataclasses as plain JSON for the audit log and JSON columns."""
    return to_jsonable_python(values)
