"""``vpp grid``: a grid company's key pair, registered and revoked on the command line."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from vpp.cli import main
from vpp.grid.signing import sign_body, verify_body
from vpp.kit.db import create_db_engine, make_sessionmaker
from vpp.models import GridSigningKey


@pytest.mark.parametrize(
    "words", [["grid"], ["grid", "keys"], ["grid", "keys", "add"], ["grid", "keys", "revoke"],
              ["grid", "keygen"]],
)  # fmt: skip
def test_grid_commands_have_help(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*words, "--help"])
    assert exit_info.value.code == 0
    assert "usage: vpp" in capsys.readouterr().out


def test_keygen_add_and_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    db = ["--database-url", url]
    assert main([*db, "db", "upgrade"]) == 0
    assert main([*db, "accounts", "create", "--name", "Gansu grid", "--kind", "grid"]) == 0
    assert main([*db, "accounts", "create", "--name", "Acme", "--kind", "enterprise"]) == 0
    private = tmp_path / "grid.pem"
    capsys.readouterr()
    assert main(["grid", "keygen", "--out", str(private)]) == 0
    public_b64 = capsys.readouterr().out.strip()
    assert private.stat().st_mode & 0o777 == 0o600
    assert main(["grid", "keygen", "--out", str(private)]) == 2  # never overwrites
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    assert verify_body(public_b64, b"body", sign_body(key, b"body"))

    add = ["grid", "keys", "add", "--public-key", public_b64, "--key-id", "dispatch-1"]
    assert main([*db, *add, "--account", "Acme"]) == 2  # not a grid account
    assert "grid" in capsys.readouterr().err
    assert main([*db, *add, "--account", "Gansu grid"]) == 0
    assert "dispatch-1" in capsys.readouterr().out

    engine = create_db_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            row = session.scalars(select(GridSigningKey)).one()
            assert row.public_key == public_b64
            assert base64.b64decode(row.public_key) == key.public_key().public_bytes_raw()
        assert main([*db, "grid", "keys", "revoke", str(row.id)]) == 0
        with make_sessionmaker(engine)() as session:
            assert session.scalars(select(GridSigningKey)).one().revoked_at is not None
    finally:
        engine.dispose()
