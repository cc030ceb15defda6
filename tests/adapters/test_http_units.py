"""The webhook adapter's pure parts: URL policy, signing, wire format, receiver rules."""

from __future__ import annotations

import ipaddress
import json
import socket
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from pydantic import ValidationError

from adapters.errors import AdapterPayloadError
from adapters.http import (
    CommandRefused,
    DirectorySecretStore,
    GuardedResolver,
    HttpWebhookAdapter,
    MappingSecretStore,
    ReceivedCommand,
    UrlPolicy,
    WebhookReceiver,
    WebhookUrlError,
    compute_signature,
    signature_headers,
)
from adapters.http.receiver import parse_batch
from adapters.http.urls import IPAddress, address_kind, origin_of
from adapters.http.wire import encode_batch, encode_command, match_acks, parse_acks
from vpp.domain.commands import SetpointCommand
from vpp.ports import ManualClock

SECRET = "an-example-secret-of-at-least-32-bytes!"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


NOW = datetime(2025, 6, 1, 16, 0, tzinfo=UTC)
T0 = NOW.timestamp()

FAKE_DNS = {
    "public.example": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "internal.example": ["10.0.0.5"],
    "metadata.example": ["169.254.169.254"],
    "rebind.example": ["93.184.216.34", "127.0.0.1"],
    "localhost": ["127.0.0.1", "::1"],
}


def fake_resolve(host: str, port: int) -> list[IPAddress]:
    literal = host.strip("[]")
    try:
        return [ipaddress.ip_address(literal)]
    except ValueError:
        pass
    if host not in FAKE_DNS:
        raise WebhookUrlError(f"host {host!r} does not resolve")
    return [ipaddress.ip_address(a) for a in FAKE_DNS[host]]


PRODUCTION = UrlPolicy()
DEV_NO_ALLOW = UrlPolicy(require_https=False)
DEV_LOOPBACK = UrlPolicy(require_https=False, allow_hosts=["127.0.0.0/8", "::1"])
DEV_BY_NAME = UrlPolicy(require_https=False, allow_hosts=["LocalHost"])

URL_CASES = [
    # (url, policy, accepted, words in the error)
    ("https://public.example/hooks/vpp", PRODUCTION, True, ""),
    ("https://93.184.216.34:8443/hooks?tenant=7", PRODUCTION, True, ""),
    ("https://[2606:2800:220:1:248:1893:25c8:1946]/h", PRODUCTION, True, ""),
    ("http://public.example/hooks/vpp", PRODUCTION, False, "https"),
    ("ftp://public.example/hooks", DEV_NO_ALLOW, False, "scheme"),
    ("https://user:pw@public.example/hooks", PRODUCTION, False, "user info"),
    ("https://token@public.example/hooks", PRODUCTION, False, "user info"),
    ("https://public.example/hooks#frag", PRODUCTION, False, "fragment"),
    ("https:///nohost", PRODUCTION, False, ""),
    ("https://127.0.0.1/hooks", PRODUCTION, False, "loopback"),
    ("http://127.0.0.1:8080/hooks", DEV_NO_ALLOW, False, "loopback"),
    ("https://localhost/hooks", PRODUCTION, False, "loopback"),
    ("https://10.1.2.3/hooks", PRODUCTION, False, "private"),
    ("https://172.16.0.1/hooks", PRODUCTION, False, "private"),
    ("https://192.168.1.10/hooks", PRODUCTION, False, "private"),
    ("https://100.64.0.1/hooks", PRODUCTION, False, "non-public"),
    ("https://169.254.169.254/latest/meta-data", PRODUCTION, False, "link-local"),
    ("https://metadata.example/", PRODUCTION, False, "link-local"),
    ("https://internal.example/hooks", PRODUCTION, False, "private"),
    ("https://rebind.example/hooks", PRODUCTION, False, "loopback"),
    ("https://0.0.0.0/hooks", PRODUCTION, False, "unspecified"),
    ("https://224.0.0.1/hooks", PRODUCTION, False, "multicast"),
    ("https://[::1]/hooks", PRODUCTION, False, "loopback"),
    ("http://[::1]:8080/hooks", DEV_NO_ALLOW, False, "loopback"),
    ("https://[fe80::1]/hooks", PRODUCTION, False, "link-local"),
    ("https://[fd00::1]/hooks", PRODUCTION, False, "private"),
    ("https://[ff02::1]/hooks", PRODUCTION, False, "multicast"),
    ("https://[::ffff:127.0.0.1]/hooks", PRODUCTION, False, "loopback"),
    ("https://[::ffff:10.0.0.1]/hooks", PRODUCTION, False, "private"),
    ("https://[2002:a00:1::]/hooks", PRODUCTION, False, "private"),
    ("https://[64:ff9b::a9fe:a9fe]/hooks", PRODUCTION, False, "link-local"),
    ("https://nowhere.invalid/hooks", PRODUCTION, False, "does not resolve"),
    ("http://127.0.0.1:8080/hooks", DEV_LOOPBACK, True, ""),
    ("http://[::1]:8080/hooks", DEV_LOOPBACK, True, ""),
    ("http://localhost:8080/hooks", DEV_LOOPBACK, True, ""),
    (
        "http://localhost:8080/hooks",
        UrlPolicy(require_https=False, allow_hosts=["LocalHost"]),
        True,
        "",
    ),
    ("https://internal.example/hooks", UrlPolicy(allow_hosts=["10.0.0.0/8"]), True, ""),
    ("https://10.1.2.3/hooks", UrlPolicy(allow_hosts=["10.0.0.0/24"]), False, "private"),
    ("https://127.0.0.1/hooks", DEV_LOOPBACK, True, ""),
    ("http://127.0.0.1/hooks", UrlPolicy(allow_hosts=["127.0.0.0/8"]), False, "https"),
]


def binding(url: str, **extra: Any) -> dict[str, Any]:
    return {"url": url, "secret_id": "ent-1", **extra}


@pytest.mark.parametrize(("url", "policy", "accepted", "words"), URL_CASES)
def test_url_validation_at_enrollment(
    url: str, policy: UrlPolicy, accepted: bool, words: str
) -> None:
    if accepted:
        settings = HttpWebhookAdapter.validate_settings(
            binding(url), policy=policy, resolve=fake_resolve
        )
        assert settings == {"url": url, "secret_id": "ent-1", "timeout_s": 5.0}
        return
    with pytest.raises(ValidationError) as caught:
        HttpWebhookAdapter.validate_settings(binding(url), policy=policy, resolve=fake_resolve)
    errors = caught.value.errors()
    assert [e["loc"] for e in errors] == [("url",)]
    assert words in errors[0]["msg"]
    assert "127.0.0.1" not in errors[0]["msg"] or "127.0.0.1" in url  # addresses not echoed


def test_the_class_level_check_is_the_production_policy() -> None:
    with pytest.raises(ValidationError, match="https"):
        HttpWebhookAdapter.validate_settings(binding("http://93.184.216.34/h"))
    with pytest.raises(ValidationError, match="loopback"):
        HttpWebhookAdapter.validate_settings(binding("https://127.0.0.1/h"))


def test_an_adapter_applies_its_configured_policy_and_knows_its_secrets() -> None:
    adapter = HttpWebhookAdapter(
        ManualClock(NOW),
        {"require_https": False, "allow_hosts": ["127.0.0.0/8"], "secrets": {"ent-1": SECRET}},
    )
    url = "http://127.0.0.1:9000/hooks"
    assert adapter.validate_binding(binding(url, timeout_s=2))["timeout_s"] == 2.0
    with pytest.raises(ValidationError, match="no webhook secret"):
        adapter.validate_binding({"url": url, "secret_id": "ent-2"})
    with pytest.raises(ValidationError, match="loopback"):
        adapter.validate_binding(binding("http://[::1]:9000/hooks"))


@pytest.mark.parametrize(
    "raw",
    [
        {"url": "https://public.example/h"},
        {"url": "https://public.example/h", "secret_id": "../etc/passwd"},
        {"url": "https://public.example/h", "secret_id": "ent-1", "timeout_s": 0},
        {"url": "https://public.example/h", "secret_id": "ent-1", "secret": SECRET},
    ],
    ids=["no secret id", "path in secret id", "zero timeout", "inline secret refused"],
)
def test_binding_settings_are_checked(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        HttpWebhookAdapter.validate_settings(raw, resolve=fake_resolve)


def test_address_kinds() -> None:
    assert address_kind(ipaddress.ip_address("8.8.8.8")) is None
    assert address_kind(ipaddress.ip_address("2001:4860:4860::8888")) is None
    assert address_kind(ipaddress.ip_address("fec0::1")) == "site-local"
    assert address_kind(ipaddress.ip_address("192.0.2.1")) == "private"


def test_origin_hides_path_query_and_user_info() -> None:
    assert origin_of("https://u:p@example.com/hooks?token=abc") == "https://example.com:443"
    assert origin_of("http://[::1]:8080/x") == "http://[::1]:8080"


def test_signature_matches_an_independent_implementation() -> None:
    # printf '1700000000.{"commands":[]}' | openssl dgst -sha256 -hmac "$SECRET"
    expected = "d35736b804e6bfc01009ad51c0e7ecba4350c09f64d5e2eaaabcacdb34a6aabb"
    assert compute_signature(SECRET.encode(), 1700000000, b'{"commands":[]}') == expected
    headers = signature_headers("ent-1", SECRET.encode(), 1700000000, b'{"commands":[]}')
    assert headers == {
        "X-VPP-Timestamp": "1700000000",
        "X-VPP-Signature": f"v1={expected}",
        "X-VPP-Key-Id": "ent-1",
    }


def test_short_secrets_are_refused_without_being_shown() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes") as caught:
        MappingSecretStore({"ent-1": "hunter2"})
    assert "hunter2" not in str(caught.value)
    store = MappingSecretStore({"ent-1": SECRET})
    assert SECRET not in repr(store)


def test_directory_secret_store(tmp_path: Path) -> None:
    (tmp_path / "ent-1").write_text(SECRET + "\n")
    store = DirectorySecretStore(tmp_path)
    assert store.get("ent-1") == SECRET.encode()
    assert store.get("ent-2") is None
    assert store.get("../ent-1") is None


def command(
    power_kw: float = -250.0, attempt: int = 1, expires_in: timedelta = timedelta(minutes=15)
) -> SetpointCommand:
    return SetpointCommand(
        id=uuid.UUID(int=1),
        asset_id=uuid.UUID(int=2),
        interval_start=NOW,
        power_kw=power_kw,
        expires_at=NOW + expires_in,
        attempt=attempt,
    )


def test_batch_encoding_is_the_documented_schema() -> None:
    body = encode_batch([encode_command(command())])
    assert json.loads(body) == {
        "commands": [
            {
                "command_id": "00000000-0000-0000-0000-000000000001",
                "asset_id": "00000000-0000-0000-0000-000000000002",
                "interval_start": "2025-06-01T16:00:00Z",
                "power_kw": -250.0,
                "expires_at": "2025-06-01T16:15:00Z",
                "attempt": 1,
            }
        ]
    }


def test_times_are_sent_in_utc_and_naive_ones_refused() -> None:
    shanghai = datetime(2025, 6, 2, 0, 0, tzinfo=timezone(timedelta(hours=8)))
    encoded = encode_command(
        SetpointCommand(uuid.UUID(int=1), uuid.UUID(int=2), shanghai, 1.0, shanghai)
    )
    assert json.loads(encoded.json)["interval_start"] == "2025-06-01T16:00:00Z"
    assert encoded.command_id == "00000000-0000-0000-0000-000000000001"
    with pytest.raises(ValueError, match="naive"):
        encode_command(
            SetpointCommand(uuid.UUID(int=1), uuid.UUID(int=2), datetime(2025, 6, 1), 1.0, NOW)
        )
    with pytest.raises(ValueError, match="finite"):
        encode_command(command(power_kw=float("nan")))


def test_parse_and_match_acks() -> None:
    one, ten, other = (str(uuid.UUID(int=n)) for n in (1, 10, 11))
    acks = parse_acks(
        b'{"acks": [{"command_id": "00000000-0000-0000-0000-000000000001", "accepted": true},'
        b' {"command_id": "{00000000-0000-0000-0000-00000000000A}", "accepted": false,'
        b' "detail": "asset\\noffline"}]}'
    )
    matched = match_acks(acks, [one, ten, other])
    assert [a.accepted if a else None for a in matched] == [True, False, None]
    assert matched[1] is not None
    assert matched[1].detail == "asset offline"


@pytest.mark.parametrize(
    "content",
    [
        b"ok",
        b"[]",
        b'{"acks": {}}',
        b'{"acks": [1]}',
        b'{"acks": [{"command_id": 7, "accepted": true}]}',
        b'{"acks": [{"command_id": "00000000-0000-0000-0000-000000000001", "accepted": 1}]}',
        b'{"acks": [{"command_id": "00000000-0000-0000-0000-000000000001", "accepted": true,'
        b' "detail": 5}]}',
    ],
)
def test_malformed_acks_are_payload_errors(content: bytes) -> None:
    with pytest.raises(AdapterPayloadError):
        parse_acks(content)


def test_an_unmatched_ack_that_is_no_uuid_is_a_payload_error() -> None:
    acks = parse_acks(b'{"acks": [{"command_id": "x", "accepted": true}]}')
    with pytest.raises(AdapterPayloadError, match="not a UUID"):
        match_acks(acks, [str(uuid.UUID(int=1))])


# -- the receiver, called as a plain function ----------------------------------------------


class Device:
    def __init__(self) -> None:
        self.applied: list[ReceivedCommand] = []
        self.refuse: set[uuid.UUID] = set()

    def apply(self, received: ReceivedCommand) -> None:
        if received.asset_id in self.refuse:
            raise CommandRefused("asset is in manual mode")
        self.applied.append(received)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def signed(
    body: bytes, timestamp: float = T0, secret: str = SECRET, key_id: str = "ent-1"
) -> dict[str, str]:
    return signature_headers(key_id, secret.encode(), int(timestamp), body)


def make_receiver(clock: Clock, device: Device) -> WebhookReceiver:
    return WebhookReceiver({"ent-1": SECRET}, device.apply, now=clock)


def batch(*commands: SetpointCommand) -> bytes:
    return encode_batch([encode_command(c) for c in commands])


def test_receiver_verifies_applies_and_acks() -> None:
    device, clock = Device(), Clock(T0)
    receiver = make_receiver(clock, device)
    body = batch(command())
    answer = receiver.handle(signed(body), body)
    assert answer.status_code == 200
    assert answer.body == {
        "acks": [{"command_id": "00000000-0000-0000-0000-000000000001", "accepted": True}]
    }
    assert json.loads(answer.content()) == answer.body
    assert [c.power_kw for c in device.applied] == [-250.0]
    assert device.applied[0].interval_start == NOW


def test_receiver_headers_are_case_insensitive() -> None:
    device, clock = Device(), Clock(T0)
    body = batch(command())
    headers = {k.lower(): v for k, v in signed(body).items()}
    assert make_receiver(clock, device).handle(headers, body).status_code == 200


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h, b: ({**h, "X-VPP-Signature": "v1=" + "0" * 64}, b), "does not match"),
        (lambda h, b: (h, b.replace(b"-250.0", b"-990.0")), "does not match"),
        (lambda h, b: ({**h, "X-VPP-Timestamp": str(int(T0) + 1)}, b), "does not match"),
        (lambda h, b: ({**h, "X-VPP-Key-Id": "ent-9"}, b), "unknown"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "X-VPP-Signature"}, b), "match"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "X-VPP-Timestamp"}, b), "malformed"),
        (lambda h, b: ({**h, "X-VPP-Timestamp": "-5"}, b), "malformed"),
        (lambda h, b: ({**h, "X-VPP-Signature": "v0=abc"}, b), "does not match"),
    ],
    ids=[
        "zero signature",
        "tampered body",
        "other timestamp",
        "unknown key",
        "no signature",
        "no timestamp",
        "negative timestamp",
        "unknown version",
    ],
)
def test_receiver_refuses_unauthentic_requests(mutate: Any, reason: str) -> None:
    device, clock = Device(), Clock(T0)
    body = batch(command())
    headers, sent_body = mutate(signed(body), body)
    answer = make_receiver(clock, device).handle(headers, sent_body)
    assert answer.status_code == 401
    assert reason in answer.body["detail"]
    assert device.applied == []


@pytest.mark.parametrize("skew_s", [-301, 301, -3600])
def test_receiver_refuses_stale_and_future_timestamps(skew_s: int) -> None:
    device, clock = Device(), Clock(T0)
    body = batch(command(expires_in=timedelta(hours=2)))
    answer = make_receiver(clock, device).handle(signed(body, T0 + skew_s), body)
    assert answer.status_code == 401
    assert "tolerance" in answer.body["detail"]
    assert device.applied == []


def test_receiver_tolerance_is_configurable() -> None:
    device, clock = Device(), Clock(T0)
    receiver = WebhookReceiver({"ent-1": SECRET}, device.apply, now=clock, tolerance_s=30)
    body = batch(command())
    assert receiver.handle(signed(body, T0 - 31), body).status_code == 401
    assert receiver.handle(signed(body, T0 - 29), body).status_code == 200


def test_receiver_refuses_a_replay_and_forgets_it_after_the_window() -> None:
    device, clock = Device(), Clock(T0)
    receiver = make_receiver(clock, device)
    body = batch(command(expires_in=timedelta(hours=1)))
    headers = signed(body)
    assert receiver.handle(headers, body).status_code == 200
    clock.now += 120
    replay = receiver.handle(headers, body)
    assert (replay.status_code, replay.body["detail"]) == (401, "replayed request")
    clock.now = T0 + 301  # out of the window: refused as stale now, and no longer remembered
    assert receiver.handle(headers, body).body["detail"] == "timestamp outside the tolerance window"
    assert len(device.applied) == 1


def test_receiver_applies_a_redelivered_command_once_with_the_same_ack() -> None:
    device, clock = Device(), Clock(T0)
    receiver = make_receiver(clock, device)
    first = batch(command(attempt=1))
    second = batch(command(attempt=2), command(attempt=2))  # and twice in one batch
    assert receiver.handle(signed(first), first).status_code == 200
    clock.now += 1
    answer = receiver.handle(signed(second, clock.now), second)
    assert answer.status_code == 200
    assert [a["accepted"] for a in answer.body["acks"]] == [True, True]
    assert len(device.applied) == 1


def test_receiver_refusals_are_acks_and_remembered() -> None:
    device, clock = Device(), Clock(T0)
    device.refuse.add(uuid.UUID(int=2))
    receiver = make_receiver(clock, device)
    body = batch(command())
    answer = receiver.handle(signed(body), body)
    assert answer.body["acks"] == [
        {
            "command_id": "00000000-0000-0000-0000-000000000001",
            "accepted": False,
            "detail": "asset is in manual mode",
        }
    ]
    device.refuse.clear()
    clock.now += 1
    again = receiver.handle(signed(body, clock.now), body)
    assert again.body["acks"][0]["accepted"] is False
    assert device.applied == []


def test_receiver_refuses_expired_commands_and_forgets_applied_ones_at_expiry() -> None:
    device, clock = Device(), Clock(T0)
    receiver = make_receiver(clock, device)
    body = batch(command(expires_in=timedelta(seconds=60)))
    assert receiver.handle(signed(body), body).body["acks"][0]["accepted"] is True
    assert receiver.remembered_commands == 1
    clock.now += 61
    answer = receiver.handle(signed(body, clock.now), body)
    assert answer.body["acks"][0] == {
        "command_id": "00000000-0000-0000-0000-000000000001",
        "accepted": False,
        "detail": "expired",
    }
    assert receiver.remembered_commands == 0
    assert len(device.applied) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"commands": {}}',
        b'{"commands": [{"command_id": "x"}]}',
        json.dumps(
            {
                "commands": [
                    {
                        **json.loads(encode_command(command()).json),
                        "interval_start": "2025-06-01T16:00:00",
                    }
                ]
            }
        ).encode(),
        json.dumps(
            {"commands": [{**json.loads(encode_command(command()).json), "power_kw": "1"}]}
        ).encode(),
        json.dumps(
            {"commands": [{**json.loads(encode_command(command()).json), "attempt": 0}]}
        ).encode(),
        json.dumps(
            {"commands": [{**json.loads(encode_command(command()).json), "power_kw": True}]}
        ).encode(),
        json.dumps(
            {"commands": [{**json.loads(encode_command(command()).json), "expires_at": [1]}]}
        ).encode(),
        # a valid command before an invalid one: nothing of the batch is applied
        json.dumps(
            {"commands": [json.loads(encode_command(command()).json), {"command_id": 1}]}
        ).encode(),
    ],
    ids=[
        "not json",
        "no list",
        "fields",
        "naive time",
        "power string",
        "attempt 0",
        "power true",
        "time list",
        "mixed",
    ],
)
def test_receiver_refuses_malformed_bodies_whole(body: bytes) -> None:
    device, clock = Device(), Clock(T0)
    answer = make_receiver(clock, device).handle(signed(body), body)
    assert answer.status_code == 400
    assert answer.body["error"] == "invalid_body"
    assert device.applied == []


def test_receiver_refuses_large_bodies() -> None:
    device, clock = Device(), Clock(T0)
    receiver = WebhookReceiver({"ent-1": SECRET}, device.apply, now=clock, max_body_bytes=100)
    body = batch(command())
    assert receiver.handle(signed(body), body).status_code == 413


def test_receiver_accepts_either_signature_during_a_rotation() -> None:
    device, clock = Device(), Clock(T0)
    receiver = make_receiver(clock, device)
    body = batch(command())
    headers = signed(body)
    old = signed(body, secret="the-previous-secret-also-32-bytes-long!")["X-VPP-Signature"]
    headers["X-VPP-Signature"] = f"{old}, {headers['X-VPP-Signature']}"
    assert receiver.handle(headers, body).status_code == 200


def test_receiver_lets_unexpected_apply_errors_propagate_unrecorded() -> None:
    clock = Clock(T0)
    calls: list[ReceivedCommand] = []

    def flaky_apply(received: ReceivedCommand) -> None:
        calls.append(received)
        if len(calls) == 1:
            raise RuntimeError("device bus busy")

    receiver = WebhookReceiver({"ent-1": SECRET}, flaky_apply, now=clock)
    body = batch(command())
    with pytest.raises(RuntimeError):
        receiver.handle(signed(body), body)
    clock.now += 1
    assert receiver.handle(signed(body, clock.now), body).body["acks"][0]["accepted"] is True
    assert len(calls) == 2


class _FixedResolver(AbstractResolver):
    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=a,
                port=port,
                family=socket.AF_INET6 if ":" in a else socket.AF_INET,
                proto=0,
                flags=0,
            )
            for a in self.addresses
        ]

    async def close(self) -> None:
        return None


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("addresses", "policy", "refused"),
    [
        (["93.184.216.34"], PRODUCTION, None),
        (["93.184.216.34", "10.0.0.7"], PRODUCTION, "private"),
        (["::1"], PRODUCTION, "loopback"),
        (["169.254.169.254"], PRODUCTION, "link-local"),
        (["127.0.0.1"], DEV_LOOPBACK, None),
    ],
)
async def test_the_guarded_resolver_checks_every_address(
    addresses: list[str], policy: UrlPolicy, refused: str | None
) -> None:
    resolver = GuardedResolver(policy, _FixedResolver(addresses))
    if refused is None:
        results = await resolver.resolve("hooks.example", 443, socket.AF_UNSPEC)
        assert [r["host"] for r in results] == addresses
    else:
        with pytest.raises(WebhookUrlError, match=refused):
            await resolver.resolve("hooks.example", 443, socket.AF_UNSPEC)
    await resolver.close()


def test_send_time_literal_check() -> None:
    DEV_LOOPBACK.check_literal("http://127.0.0.1:8080/hooks")
    PRODUCTION.check_literal("https://hooks.example/x")  # names: left to the resolver
    with pytest.raises(WebhookUrlError, match="loopback"):
        DEV_NO_ALLOW.check_literal("http://127.0.0.1:8080/hooks")
    with pytest.raises(WebhookUrlError, match="https"):
        PRODUCTION.check_literal("http://hooks.example/x")


def test_receiver_dedupes_ids_whatever_their_spelling() -> None:
    device, clock = Device(), Clock(T0)
    receiver = make_receiver(clock, device)
    first = batch(command())
    assert receiver.handle(signed(first), first).status_code == 200
    upper = first.replace(
        b"00000000-0000-0000-0000-000000000001", b"{00000000000000000000000000000001}"
    )
    clock.now += 1
    answer = receiver.handle(signed(upper, clock.now), upper)
    assert answer.body["acks"] == [
        {"command_id": "{00000000000000000000000000000001}", "accepted": True}
    ]
    assert len(device.applied) == 1


@pytest.mark.parametrize("power_kw", [0.0, -0.0, 1e-7, 1e20, -123456.789, 5])
def test_power_values_survive_the_json_template(power_kw: float) -> None:
    body = encode_batch([encode_command(command(power_kw=power_kw))])
    assert json.loads(body)["commands"][0]["power_kw"] == power_kw
    assert parse_batch(body)[0].power_kw == power_kw
