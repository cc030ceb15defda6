"""Hostile input: schemathesis calls every operation of the OpenAPI schema with generated
requests, as every role and without a key, and no answer may be a server error.

Design rule (DESIGN.md section 6): bad input gets a 4xx problem naming the field and the
rule, never a 500. The app runs in process (ASGI) on a SQLite database seeded with a small
park (two enterprises with a site, a battery and telemetry each; an operator, a grid
account with a signing key, an admin); each generated example runs inside a transaction
rolled back after the operation's test, so every operation starts from the same park.

Generated path parameters are swapped, half of the time, for ids of that park so that
the requests reach real rows and not only the 404 branch. The grid role's instructions
are signed with its registered key, so their bodies get past the signature check and
into validation. Bounded for ``make test`` (a few examples per operation and role,
derandomized); ``VPP_FUZZ_EXAMPLES`` raises the budget, and the ``long`` variant runs
many more.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.python.asgi import ASGIClient
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)
from sqlalchemy import Engine

from tests.conftest import BATTERY, SITE, make_settings
from vpp.accounts import service as accounts
from vpp.app import create_app
from vpp.grid.signing import KEY_ID_HEADER, SIGNATURE_HEADER, encode_public_key, sign_body
from vpp.kit import migrate
from vpp.kit.db import create_db_engine, make_sessionmaker

ROLES = ("enterprise", "operator", "grid", "admin")
BASE_URL = "http://testserver"
EXAMPLES = int(os.environ.get("VPP_FUZZ_EXAMPLES", "4"))
"""Examples per operation and role in ``make test`` (the coverage phase adds its own
boundary cases); the long run uses 100."""
INSTRUCTIONS = "/v1/grid/instructions"

SCHEMA = schemathesis.openapi.from_dict(create_app(make_settings()).openapi())
SCHEMA.config.generation.update(deterministic=True, database="none")


@dataclass
class Park:
    """The seeded park: a bearer token per role and the ids generated paths may use."""

    app: FastAPI
    client: ASGIClient
    engine: Engine
    tokens: dict[str, str] = field(default_factory=dict)
    grid_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    grid_key_id: str = "dispatch-1"
    known_ids: list[str] = field(default_factory=list)


KNOWN_IDS: list[str] = []
"""Ids of the seeded park (sites, assets, accounts, a spare key), filled in by the fixture
before any example is generated."""


@SCHEMA.hook("flatmap_path_parameters")
def _real_ids_too(
    _context: schemathesis.HookContext, path_parameters: dict[str, Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """Each generated path parameter, or (as often) one of the park's ids."""
    if not KNOWN_IDS or not path_parameters:
        return st.just(path_parameters)
    return st.fixed_dictionaries(
        {
            name: st.one_of(st.just(value), st.sampled_from(KNOWN_IDS))
            for name, value in path_parameters.items()
        }
    )


def _post(client: ASGIClient, path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


def _seed(park: Park) -> None:
    factory = make_sessionmaker(park.engine)
    ids: dict[str, uuid.UUID] = {}
    with factory() as session:
        for role in ROLES:
            account = accounts.create_account(session, f"{role} account", role, actor=None)
            _key, token = accounts.issue_key(session, account.id, "fuzz", None, actor=None)
            park.tokens[role] = token
            ids[role] = account.id
        other = accounts.create_account(session, "Enterprise B", "enterprise", actor=None)
        _key, park.tokens["other"] = accounts.issue_key(session, other.id, "b", None, actor=None)
        spare, _ = accounts.issue_key(session, other.id, "spare", None, actor=None)
        session.commit()
    park.known_ids += [str(ids["enterprise"]), str(other.id), str(spare.id)]

    client = park.client
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for name in ("enterprise", "other"):
        site = _post(client, "/v1/sites", park.tokens[name], SITE)
        asset = _post(client, "/v1/assets", park.tokens[name], {**BATTERY, "site_id": site["id"]})
        readings = [
            {
                "asset_id": asset["id"],
                "ts": (now - timedelta(minutes=15 * k)).isoformat(),
                "power_kw": 100.0 - k,
                "energy_kwh": 500.0,
            }
            for k in range(8)
        ]
        _post(client, "/v1/telemetry", park.tokens[name], {"readings": readings})
        park.known_ids += [site["id"], asset["id"]]
    key = _post(
        client,
        "/v1/grid/keys",
        park.tokens["admin"],
        {
            "account_id": str(ids["grid"]),
            "public_key": encode_public_key(park.grid_key.public_key().public_bytes_raw()),
            "key_id": park.grid_key_id,
        },
    )
    park.known_ids.append(key["id"])


@pytest.fixture(scope="module")
def park(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Park]:
    path: Path = tmp_path_factory.mktemp("hostile") / "vpp.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    engine = create_db_engine(url)
    app = create_app(make_settings(database_url=url), session_factory=make_sessionmaker(engine))
    with ASGIClient(app, BASE_URL) as client:  # type: ignore[arg-type]
        park = Park(app, client, engine)
        _seed(park)
        KNOWN_IDS[:] = park.known_ids
        yield park
    KNOWN_IDS.clear()
    engine.dispose()


@pytest.fixture
def rolled_back(park: Park) -> Iterator[Park]:
    """The park's app bound, for one test, to a transaction that is rolled back after it."""
    state = park.app.state
    with park.engine.connect() as conn:
        transaction = conn.begin()
        factory = make_sessionmaker(conn, join_transaction_mode="create_savepoint")
        state.sessionmaker = state.write_sessionmaker = factory
        try:
            yield park
        finally:
            transaction.rollback()
            state.sessionmaker = state.write_sessionmaker = make_sessionmaker(park.engine)


def _signed_call(case: Case[Any], park: Park, headers: dict[str, str]) -> Any:
    """Send ``case`` with its exact body signed by the grid account's registered key."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
    body = kwargs.pop("data", None)
    if body is None and "json" in kwargs:
        body = json.dumps(kwargs.pop("json")).encode()
    body = body.encode() if isinstance(body, str) else (body or b"")
    kwargs["headers"] = {
        **kwargs.get("headers", {}),
        KEY_ID_HEADER: park.grid_key_id,
        SIGNATURE_HEADER: sign_body(park.grid_key, body),
    }
    return park.client.request(data=body, **kwargs)


def _check(case: Case[Any], response: Any, role: str | None) -> None:
    """No server error; a success conforms to the declared schema and media type; a
    refusal is a problem-details document with the same status."""
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} as {role} -> {response.status_code}: "
        f"{response.text}\n"
        f"reproduce: {case.as_curl_command()}"
    )
    if response.status_code < 300:
        case.validate_response(
            response, checks=[response_schema_conformance, content_type_conformance]
        )
    elif response.status_code >= 400:
        content_type = response.headers.get("content-type", "")
        content_type = content_type if isinstance(content_type, str) else content_type[0]
        assert content_type.startswith("application/problem+json"), (
            f"{case.method} {case.formatted_path} -> {response.status_code} {content_type}: "
            f"{response.text}"
        )
        assert response.json()["status"] == response.status_code


def _exercise(case: Case[Any], park: Park) -> None:
    """Send ``case`` as every role and without a key; check every answer."""
    for role in (*ROLES, None):
        headers = {"Authorization": f"Bearer {park.tokens[role]}"} if role else {}
        if role == "grid" and case.path == INSTRUCTIONS and case.method == "POST":
            response = _signed_call(case, park, headers)
        else:
            response = case.call(base_url=BASE_URL, session=park.client, headers=headers)
        _check(case, response, role)


HEALTH_CHECKS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@pytest.mark.slow
@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=HEALTH_CHECKS)
def test_no_generated_request_is_a_server_error(case: Case[Any], rolled_back: Park) -> None:
    _exercise(case, rolled_back)


@pytest.mark.long
@SCHEMA.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=HEALTH_CHECKS)
def test_no_generated_request_is_a_server_error_long(case: Case[Any], rolled_back: Park) -> None:
    _exercise(case, rolled_back)


def test_the_grid_role_gets_past_the_signature_check(rolled_back: Park) -> None:
    """The harness signs what the grid role sends, so fuzzed instructions reach their
    validation: a stale one is refused as stale, not as unsigned."""
    case = SCHEMA["/v1/grid/instructions"]["POST"].Case(
        body={
            "instruction_id": "ins-stale",
            "product": "peak_shaving.peak_cut",
            "day": "2020-01-01",
            "intervals": [40],
            "target_kw": [100.0],
            "issued_at": "2020-01-01T02:00:00+00:00",
        },
        media_type="application/json",
    )
    headers = {"Authorization": f"Bearer {rolled_back.tokens['grid']}"}
    response = _signed_call(case, rolled_back, headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "issued_at", response.text
