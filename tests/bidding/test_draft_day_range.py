"""A draft for a day outside the represented range is bad input (422 naming ``day``),
not a market failure: found by the hostile-input fuzzing, where day=0001-01-01 reached the
market's outlook, overflowed there and came back as a 502."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Caller


@pytest.mark.parametrize("day", ["0001-01-01", "1969-12-31", "2200-01-01", "9999-12-31"])
def test_a_draft_for_a_day_out_of_range_is_refused_before_the_market_is_asked(
    client: TestClient, operator: Caller, day: str
) -> None:
    response = client.post("/v1/bids", json={"day": day}, headers=operator.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    error = response.json()["errors"][0]
    assert error["field"] == "day"
    assert "between 1970-01-01 and 2199-12-31" in error["message"]
