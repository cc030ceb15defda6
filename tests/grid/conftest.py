"""Fixtures of the grid interface tests: a manual clock, signing keys, signed requests."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import Caller
from vpp.app import create_app
from vpp.config import Settings
from vpp.grid.signing import KEY_ID_HEADER, SIGNATURE_HEADER, encode_public_key, sign_body
from vpp.ports import ManualClock

DAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
"""10:00 Beijing time on DAY: interval 40 is under way."""
CURRENT_INTERVAL = 40


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def app(settings: Settings, session_factory: sessionmaker[Session], clock: ManualClock) -> FastAPI:
    return create_app(settings, session_factory=session_factory, clock=clock)


@dataclass
class Signer:
    """A grid caller and the Ed25519 key it signs with (registered under ``key_id``)."""

    caller: Caller
    private_key: Ed25519PrivateKey
    key_id: str
    key_uuid: str

    def headers(self, body: bytes, **overrides: str) -> dict[str, str]:
        headers = {
            **self.caller.headers,
            "Content-Type": "application/json",
            KEY_ID_HEADER: self.key_id,
            SIGNATURE_HEADER: sign_body(self.private_key, body),
        }
        headers.update(overrides)
        return headers

    def post(self, client: TestClient, payload: dict[str, Any], **overrides: str) -> Any:
        body = json.dumps(payload).encode()
        return client.post(
            "/v1/grid/instructions", content=body, headers=self.headers(body, **overrides)
        )


@pytest.fixture
def make_signer(
    client: TestClient, admin: Caller, make_caller: Callable[..., Caller]
) -> Callable[..., Signer]:
    def make(name: str | None = None, key_id: str | None = None) -> Signer:
        caller = make_caller("grid", name)
        key = Ed25519PrivateKey.generate()
        body: dict[str, Any] = {
            "account_id": str(caller.account_id),
            "public_key": encode_public_key(key.public_key().public_bytes_raw()),
        }
        if key_id:
            body["key_id"] = key_id
        response = client.post("/v1/grid/keys", json=body, headers=admin.headers)
        assert response.status_code == 201, response.text
        return Signer(caller, key, response.json()["key_id"], response.json()["id"])

    return make


@pytest.fixture
def signer(make_signer: Callable[..., Signer]) -> Signer:
    return make_signer("Gansu grid dispatch", "dispatch-1")


def instruction(
    instruction_id: str = "ins-1",
    *,
    product: str = "peak_shaving.peak_cut",
    intervals: list[int] | None = None,
    target_kw: list[float] | None = None,
    issued_at: datetime = NOW,
    day: date = DAY,
) -> dict[str, Any]:
    intervals = [CURRENT_INTERVAL + 2, CURRENT_INTERVAL + 3] if intervals is None else intervals
    return {
        "instruction_id": instruction_id,
        "product": product,
        "day": day.isoformat(),
        "intervals": intervals,
        "target_kw": [100.0] * len(intervals) if target_kw is None else target_kw,
        "issued_at": issued_at.isoformat(),
    }
