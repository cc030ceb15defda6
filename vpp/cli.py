"""The ``vpp`` command: serve, migrate, manage accounts and keys, run the demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from vpp.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {"database_url": args.database_url} if getattr(args, "database_url", None) else {}
    return Settings(**overrides)


def _session(settings: Settings) -> Session:
    from vpp.kit.db import create_db_engine, make_sessionmaker

    return make_sessionmaker(create_db_engine(settings.database_url))()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings(args)
    uvicorn.run(
        "vpp.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=not args.no_access_log,
    )
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from vpp.kit import migrate

    settings = _settings(args)
    migrate.upgrade(settings.database_url, args.revision)
    print(f"database at revision {args.revision}")
    return 0


def cmd_db_downgrade(args: argparse.Namespace) -> int:
    from vpp.kit import migrate

    migrate.downgrade(_settings(args).database_url, args.revision)
    print(f"database at revision {args.revision}")
    return 0


def cmd_accounts_create(args: argparse.Namespace) -> int:
    from vpp.accounts import service

    with _session(_settings(args)) as session:
        account = service.create_account(session, args.name, args.kind, actor=None)
        session.commit()
        print(f"{account.id}\t{account.kind}\t{account.name}")
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    from vpp.accounts import repository, service
    from vpp.models.base import utcnow

    with _session(_settings(args)) as session:
        account = repository.find_account(session, args.account)
        if account is None:
            print(f"no account {args.account!r}", file=sys.stderr)
            return 2
        expires = utcnow() + timedelta(days=args.expires_in_days) if args.expires_in_days else None
        key, token = service.issue_key(session, account.id, args.name, expires, actor=None)
        session.commit()
        print(f"key id {key.id} for {account.name} ({key.role}); the token is shown once:")
        print(token)
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    import uuid

    from vpp.accounts import service

    with _session(_settings(args)) as session:
        key = service.revoke_key(session, uuid.UUID(args.key_id), actor=None)
        session.commit()
        print(f"key {key.id} revoked at {key.revoked_at}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from vpp import demo

    return demo.run(host=args.host, port=args.port, reset=args.reset)


def cmd_market_sim(args: argparse.Namespace) -> int:
    """The simulated market operator as its own HTTP service (what ``VPP_MARKET=http`` and
    ``VPP_MARKET_CONFIG={"url": ..., "token": ...}`` talk to)."""
    from market.simulator.http import serve

    participants = {}
    for item in args.participant:
        name, sep, token = item.partition("=")
        if not sep or not name or not token:
            raise SystemExit(f"--participant must be NAME=TOKEN, got {item!r}")
        participants[name] = token
    serve(
        args.host,
        args.port,
        seed=args.seed,
        speed=args.speed,
        participants=participants,
        clear_every_s=args.clear_every,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vpp", description=__doc__)
    parser.add_argument("--database-url", help="overrides VPP_DATABASE_URL")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--no-access-log", action="store_true")
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    up = db.add_parser("upgrade", help="migrate the schema forward (default: to head)")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)
    down = db.add_parser("downgrade", help="migrate the schema back to a revision")
    down.add_argument("revision")
    down.set_defaults(func=cmd_db_downgrade)

    accounts = sub.add_parser("accounts", help="accounts").add_subparsers(
        dest="accounts_command", required=True
    )
    create = accounts.add_parser("create", help="create an account")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--kind", required=True, choices=["enterprise", "operator", "grid", "admin"]
    )
    create.set_defaults(func=cmd_accounts_create)

    keys = sub.add_parser("keys", help="API keys").add_subparsers(
        dest="keys_command", required=True
    )
    kcreate = keys.add_parser("create", help="issue a key for an account (token printed once)")
    kcreate.add_argument("--account", required=True, help="account name or id")
    kcreate.add_argument("--name", default="")
    kcreate.add_argument("--expires-in-days", type=float)
    kcreate.set_defaults(func=cmd_keys_create)
    krevoke = keys.add_parser("revoke", help="revoke a key")
    krevoke.add_argument("key_id")
    krevoke.set_defaults(func=cmd_keys_revoke)

    sub.add_parser(
        "backtest",
        help="replay measured load profiles and score the forecasts (see vpp backtest --help)",
    )

    sim = sub.add_parser("market-sim", help="run the simulated market operator over HTTP")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8100)
    sim.add_argument("--seed", type=int, default=0, help="makes demand and competitors repeatable")
    sim.add_argument("--speed", type=float, default=1.0, help="market time per wall second")
    sim.add_argument(
        "--participant",
        action="append",
        default=[],
        required=True,
        metavar="NAME=TOKEN",
        help="a participant and its bearer token (repeatable)",
    )
    sim.add_argument(
        "--clear-every", type=float, default=60.0, help="seconds (market time) between clearings"
    )
    sim.set_defaults(func=cmd_market_sim)

    demo = sub.add_parser("demo", help="migrate, seed a simulated Gansu park and serve it")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--reset", action="store_true", help="start from an empty database")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["backtest"]:
        # The backtest has its own options and --help; hand it everything after its name.
        from vpp.forecast import backtest

        return int(backtest.main(words[1:]))
    args = build_parser().parse_args(words)
    from vpp.kit.errors import Problem

    try:
        return int(args.func(args))
    except Problem as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
