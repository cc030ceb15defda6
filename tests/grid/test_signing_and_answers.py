"""The signature primitives and the accepted / partial / rejected rule, by hand."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from vpp.domain.market import InstructionStatus
from vpp.grid.service import classify
from vpp.grid.signing import (
    SignatureError,
    encode_public_key,
    key_fingerprint,
    parse_public_key,
    sign_body,
    verify_body,
    verify_webhook,
    webhook_headers,
    webhook_secret_bytes,
    webhook_signature,
)

# The Standard Webhooks specification's published test vector.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_webhook_signatures_match_the_standard_webhooks_vector() -> None:
    key = webhook_secret_bytes(VECTOR_SECRET)
    assert webhook_signature(key, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE
    headers = webhook_headers(key, VECTOR_ID, VECTOR_TS, VECTOR_BODY)
    assert verify_webhook(key, headers, VECTOR_BODY, now_s=VECTOR_TS + 299)
    assert not verify_webhook(key, headers, VECTOR_BODY, now_s=VECTOR_TS + 301)
    assert not verify_webhook(key, headers, VECTOR_BODY + b" ", now_s=VECTOR_TS)
    rotated = {**headers, "webhook-signature": "v1,AAAA " + headers["webhook-signature"]}
    assert verify_webhook(key, rotated, VECTOR_BODY, now_s=VECTOR_TS)


@pytest.mark.parametrize("secret", ["whsec_c2hvcnQ=", "short", "whsec_not base64!"])
def test_weak_or_malformed_webhook_secrets_are_refused(secret: str) -> None:
    with pytest.raises(SignatureError) as error:
        webhook_secret_bytes(secret)
    assert secret not in str(error.value)


def test_ed25519_body_signatures() -> None:
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes_raw()
    pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    assert parse_public_key(pem) == parse_public_key(encode_public_key(raw)) == raw
    assert len(key_fingerprint(raw)) == 16
    body = b'{"instruction_id": "a"}'
    signature = sign_body(key, body)
    assert len(base64.b64decode(signature)) == 64
    assert verify_body(encode_public_key(raw), body, signature)
    assert not verify_body(encode_public_key(raw), body + b" ", signature)
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    assert not verify_body(encode_public_key(other), body, signature)
    assert not verify_body(encode_public_key(raw), body, "not base64!")


@pytest.mark.parametrize(
    "text",
    [
        "AAAA",
        "not base64!",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
    ],
)
def test_keys_that_are_not_ed25519_public_keys_are_refused(text: str) -> None:
    with pytest.raises(SignatureError):
        parse_public_key(text)


# The tolerance per interval is max(0.5 kW, 0.1 % of the target).
CASES = [
    # target, feasible, status, reported feasible
    ([100.0, 200.0], [100.0, 199.6], InstructionStatus.ACCEPTED, (100.0, 200.0)),
    ([1000.0], [999.0], InstructionStatus.ACCEPTED, (1000.0,)),  # 1 kW = 0.1 % of 1000
    ([1000.0], [998.9], InstructionStatus.PARTIAL, (998.9,)),
    ([100.0, 200.0], [100.0, 50.0], InstructionStatus.PARTIAL, (100.0, 50.0)),
    ([100.0, 200.0], [0.4, 0.0], InstructionStatus.REJECTED, (0.0, 0.0)),
    ([0.0, 0.0], [0.0, 0.0], InstructionStatus.ACCEPTED, (0.0, 0.0)),
    ([100.0], [130.0], InstructionStatus.ACCEPTED, (100.0,)),  # never reported above target
    ([100.0, 10.0], [-5.0, 10.0], InstructionStatus.PARTIAL, (0.0, 10.0)),
]


@pytest.mark.parametrize(("target", "feasible", "status", "reported"), CASES)
def test_answers_by_hand(
    target: list[float],
    feasible: list[float],
    status: InstructionStatus,
    reported: tuple[float, ...],
) -> None:
    got_status, got_feasible, reason = classify(target, feasible, list(range(40, 40 + len(target))))
    assert got_status is status
    assert got_feasible == reported
    assert (reason == "") is (status is InstructionStatus.ACCEPTED)


def test_a_partial_answer_names_the_short_intervals() -> None:
    _, _, reason = classify([100.0, 200.0, 50.0], [100.0, 50.0, 20.0], [60, 61, 62])
    assert "interval(s) 61, 62" in reason
    assert "150.0 kW in interval 61" in reason
