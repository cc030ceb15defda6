"""The key cache: entries lapse after their TTL, and a key in use is verified again
by one caller once its entry is half the TTL old."""

from __future__ import annotations

import uuid

from vpp.kit.auth import KeyCache, Principal


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def principal(role: str = "enterprise") -> Principal:
    return Principal(uuid.uuid4(), uuid.uuid4(), role, None)


def cached_key(ttl_s: float = 10.0) -> tuple[FakeClock, KeyCache, Principal]:
    """A cache whose entry "h" was just verified."""
    clock = FakeClock()
    cache = KeyCache(ttl_s, clock)
    who = principal()
    cache.put("h", who)
    return clock, cache, who


def test_an_entry_lapses_after_its_ttl() -> None:
    clock, cache, who = cached_key()
    clock.now += 10.0
    assert cache.get("h") == who
    clock.now += 0.001
    assert cache.get("h") is None


def test_one_caller_is_asked_to_verify_again_after_half_the_ttl() -> None:
    clock, cache, who = cached_key()
    clock.now += 5.0
    assert not cache.refresh_due("h")
    clock.now += 0.5
    assert cache.refresh_due("h")
    # The others of the moment go on with the entry; nobody else is asked.
    assert not cache.refresh_due("h")
    assert cache.get("h") == who
    renewed = principal()
    cache.refreshed("h", renewed)
    assert cache.get("h") == renewed
    clock.now += 9.0  # the verification renewed the entry's age
    assert cache.get("h") == renewed
    assert cache.refresh_due("h")


def test_a_revoked_key_found_by_the_verification_is_dropped() -> None:
    clock, cache, _who = cached_key()
    clock.now += 6.0
    assert cache.refresh_due("h")
    cache.refreshed("h", None)
    assert cache.get("h") is None
    assert not cache.refresh_due("h")


def test_a_failed_verification_keeps_the_entry_until_its_ttl() -> None:
    clock, cache, who = cached_key()
    clock.now += 6.0
    assert cache.refresh_due("h")
    cache.refresh_failed("h")
    assert cache.get("h") == who
    assert cache.refresh_due("h")  # a later caller tries again
    clock.now += 4.5
    assert cache.get("h") is None


def test_a_zero_ttl_caches_nothing() -> None:
    cache = KeyCache(0.0, FakeClock())
    cache.put("h", principal())
    assert cache.get("h") is None
    assert not cache.refresh_due("h")


def test_a_verification_by_another_path_settles_one_under_way() -> None:
    """A verification that never reports back (its request was cancelled) does not stop
    the next ones once the key is verified again."""
    clock, cache, who = cached_key()
    clock.now += 6.0
    assert cache.refresh_due("h")
    clock.now += 5.0  # lapsed, nothing reported: the route verifies the key itself
    assert cache.get("h") is None
    cache.put("h", who)
    clock.now += 6.0
    assert cache.refresh_due("h")
