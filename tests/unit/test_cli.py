"""The ``vpp`` command: help on every subcommand, and the account/key workflow on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from vpp.cli import main
from vpp.kit.auth import hash_token
from vpp.kit.db import create_db_engine, make_sessionmaker
from vpp.models import ApiKey

SUBCOMMANDS = [
    [],
    ["serve"],
    ["db"],
    ["db", "upgrade"],
    ["db", "downgrade"],
    ["accounts", "create"],
    ["keys", "create"],
    ["keys", "revoke"],
    ["demo"],
    ["market-sim"],
    ["backtest"],
    ["verify"],
    ["settle"],
    ["scheduler"],
    ["fleet", "generate"],
    ["grid", "keys", "add"],
    ["grid", "keygen"],
]


@pytest.mark.parametrize("words", SUBCOMMANDS, ids=lambda w: " ".join(w) or "vpp")
def test_every_command_has_help(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*words, "--help"])
    assert exit_info.value.code == 0
    assert "usage: vpp" in capsys.readouterr().out


def test_migrate_create_account_and_issue_then_revoke_a_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["--database-url", url, "db", "upgrade"]) == 0
    assert (
        main(
            ["--database-url", url, "accounts", "create", "--name", "Acme", "--kind", "enterprise"]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "--database-url",
                url,
                "keys",
                "create",
                "--account",
                "Acme",
                "--expires-in-days",
                "30",
            ]
        )
        == 0
    )
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith("vpp_")

    engine = create_db_engine(url)
    with make_sessionmaker(engine)() as session:
        key = session.execute(
            select(ApiKey).where(ApiKey.token_hash == hash_token(token))
        ).scalar_one()
        assert key.role == "enterprise" and key.expires_at is not None and key.revoked_at is None
    assert main(["--database-url", url, "keys", "revoke", str(key.id)]) == 0
    with make_sessionmaker(engine)() as session:
        assert session.get(ApiKey, key.id).revoked_at is not None  # type: ignore[union-attr]
    engine.dispose()

    assert main(["--database-url", url, "keys", "create", "--account", "Nobody"]) == 2
    assert (
        main(["--database-url", url, "accounts", "create", "--name", "Acme", "--kind", "grid"]) == 2
    )
    assert "exists" in capsys.readouterr().err
