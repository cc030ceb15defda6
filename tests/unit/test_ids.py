"""Ids: time-ordered UUIDs (version 7), one at a time and in bulk."""

from __future__ import annotations

import time
import uuid

from vpp.models.base import new_id, new_id_array


def test_bulk_ids_have_the_layout_of_single_ones() -> None:
    before_ms = time.time_ns() // 1_000_000
    ids = [uuid.UUID(bytes=bytes(value)) for value in new_id_array(5000)]
    after_ms = time.time_ns() // 1_000_000
    single = new_id()
    assert len(set(ids)) == 5000
    for value in [*ids, single]:
        assert value.version == 7
        assert value.variant == uuid.RFC_4122
    assert all(before_ms <= value.int >> 80 <= after_ms for value in ids)
    # Time-ordered: a later id never sorts before an earlier millisecond's ids.
    assert max(value.int >> 80 for value in ids) <= single.int >> 80


def test_no_ids_asked_none_given() -> None:
    assert new_id_array(0).shape == (0,)
