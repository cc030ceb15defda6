"""The ``vpp`` command: serve, migrate, manage accounts and keys, run the demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date, timedelta
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
    import os

    import uvicorn

    settings = _settings(args)
    # The app (built by uvicorn, maybe in worker processes) reads its settings from the
    # environment: hand the command-line choices over there.
    if args.database_url:
        os.environ["VPP_DATABASE_URL"] = args.database_url
    if args.no_scheduler:
        os.environ["VPP_SCHEDULER_ENABLED"] = "false"
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


def cmd_scheduler(args: argparse.Namespace) -> int:
    """Run the market-day scheduler without the HTTP API (Prometheus metrics only).

    On PostgreSQL several instances may run: the one holding the advisory lock leads and
    runs the jobs, the others follow and take over when it goes (``vpp.kit.leadership``).
    The delivery engine runs here too when ``VPP_DISPATCH_ENABLED`` is set.
    """
    import asyncio
    import logging
    import signal

    from prometheus_client import start_http_server

    from vpp.app import create_app
    from vpp.kit import eventloop

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # APScheduler logs every tick (each 2 s) at INFO; leadership changes are what matter.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.root.level))
    base = _settings(args)
    settings = base.model_copy(update={"scheduler_enabled": True})
    port = settings.scheduler_metrics_port if args.metrics_port is None else args.metrics_port
    host = args.metrics_host or settings.host
    app = create_app(settings)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with app.router.lifespan_context(app):
            server = None
            if port:
                server, _thread = start_http_server(
                    port, addr=host, registry=app.state.metrics.registry
                )
            role = "leader" if app.state.leadership.is_leader else "follower"
            print(f"vpp scheduler started as {role}; metrics on {host}:{port}", flush=True)
            try:
                await stop.wait()
            finally:
                if server is not None:
                    server.shutdown()

    eventloop.run(run())
    return 0


def cmd_fleet_generate(args: argparse.Namespace) -> int:
    """Write a synthetic fleet (``vpp.fleet``) into the configured database."""
    import time

    from vpp.fleet.mix import draw_fleet
    from vpp.fleet.repository import write_fleet
    from vpp.models.base import utcnow

    started = time.perf_counter()
    try:
        fleet = draw_fleet(args.assets, args.enterprises, args.seed, args.prefix)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    drawn = time.perf_counter()
    with _session(_settings(args)) as session:
        written = write_fleet(session, fleet, utcnow())
        session.commit()
    done = time.perf_counter()
    mix = ", ".join(f"{kind.value} {n}" for kind, n in fleet.count_by_kind().items())
    print(
        f"{written.assets} assets of {written.enterprises} enterprises written ({mix}); "
        f"drawn in {drawn - started:.1f} s, stored in {done - drawn:.1f} s"
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


def cmd_grid_keys_add(args: argparse.Namespace) -> int:
    """Register a grid account's Ed25519 public key (PEM file or base64 text)."""
    from pathlib import Path

    from vpp.accounts import repository
    from vpp.grid import service
    from vpp.grid.schemas import SigningKeyCreate

    text = args.public_key
    if Path(text).is_file():
        text = Path(text).read_text()
    with _session(_settings(args)) as session:
        account = repository.find_account(session, args.account)
        if account is None:
            print(f"no account {args.account!r}", file=sys.stderr)
            return 2
        body = SigningKeyCreate(account_id=account.id, public_key=text, key_id=args.key_id)
        key = service.register_signing_key(session, None, body)
        session.commit()
        print(f"signing key {key.key_id} (id {key.id}) registered for {account.name}")
    return 0


def cmd_grid_keys_revoke(args: argparse.Namespace) -> int:
    import uuid

    from vpp.grid import service
    from vpp.models.base import utcnow

    with _session(_settings(args)) as session:
        key = service.revoke_signing_key(session, None, uuid.UUID(args.id), utcnow())
        session.commit()
        print(f"signing key {key.key_id} revoked at {key.revoked_at}")
    return 0


def cmd_grid_keygen(args: argparse.Namespace) -> int:
    """A new Ed25519 key pair for a grid company: the private key (PEM) to a file it
    keeps, the public key (base64) printed to register with ``vpp grid keys add``."""
    import base64
    import os
    from pathlib import Path

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = Path(args.out)
    if path.exists():
        print(f"{path} exists; not overwritten", file=sys.stderr)
        return 2
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    print(base64.b64encode(public).decode("ascii"))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Re-verify a downloaded evidence file offline (``GET /v1/evidence/{day}``)."""
    import json

    from vpp.settlement.ledger import VerificationError, verify_evidence

    try:
        with open(args.file, encoding="utf-8") as handle:
            document = json.load(handle)
        checked = verify_evidence(document, head=args.head)
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    except VerificationError as exc:
        print(f"TAMPERED: {exc}", file=sys.stderr)
        return 1
    print(
        f"ok: {checked.records} record(s) chained, {checked.bodies} body(ies) checked, "
        f"head {checked.head}"
    )
    for account in checked.enterprises_recomputed:
        print(f"  recomputed enterprise {account}: response and statement match")
    if checked.pool_checked:
        print("  pool totals re-added: they match")
    return 0


def cmd_settle(args: argparse.Namespace) -> int:
    """Settle a market day now (a new version only if its inputs changed)."""
    from datetime import UTC, datetime

    from vpp.bidding.registry import load_packs
    from vpp.settlement.service import settle_day

    settings = _settings(args)
    with _session(settings) as session:
        outcome = settle_day(
            session, load_packs(settings.market_rules), args.day, datetime.now(UTC), settings
        )
        session.commit()
        row = outcome.settlement
        state = "settled" if outcome.created else "unchanged"
        print(
            f"{row.day}\tversion {row.version}\t{state}\tpool net {row.net_fen / 100:.2f} CNY"
            f"\taggregator {row.aggregator_fen / 100:.2f} CNY\t{row.id}"
        )
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
    serve.add_argument(
        "--no-scheduler",
        action="store_true",
        help="never run the scheduled jobs here (API replica; `vpp scheduler` runs them)",
    )
    serve.set_defaults(func=cmd_serve)

    sched = sub.add_parser(
        "scheduler",
        help="run the market-day scheduler without HTTP (leader-elected on PostgreSQL)",
    )
    sched.add_argument(
        "--metrics-port", type=int, help="Prometheus port (0: none); VPP_SCHEDULER_METRICS_PORT"
    )
    sched.add_argument("--metrics-host", help="address of the metrics port; default VPP_HOST")
    sched.add_argument("--log-level", default="info")
    sched.set_defaults(func=cmd_scheduler)

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

    grid = sub.add_parser("grid", help="the grid company's signing keys").add_subparsers(
        dest="grid_command", required=True
    )
    grid_keys = grid.add_parser("keys", help="Ed25519 keys verifying signed instructions")
    grid_keys_sub = grid_keys.add_subparsers(dest="grid_keys_command", required=True)
    gadd = grid_keys_sub.add_parser("add", help="register a grid account's public key")
    gadd.add_argument("--account", required=True, help="grid account name or id")
    gadd.add_argument("--public-key", required=True, help="PEM file, or the raw key in base64")
    gadd.add_argument("--key-id", help="sent as Signature-Key-Id (default: a fingerprint)")
    gadd.set_defaults(func=cmd_grid_keys_add)
    grevoke = grid_keys_sub.add_parser("revoke", help="revoke a signing key")
    grevoke.add_argument("id", help="the key's id (as printed by add)")
    grevoke.set_defaults(func=cmd_grid_keys_revoke)
    gkeygen = grid.add_parser(
        "keygen", help="make an Ed25519 key pair (private PEM to --out, public base64 printed)"
    )
    gkeygen.add_argument("--out", required=True, help="file for the private key (mode 0600)")
    gkeygen.set_defaults(func=cmd_grid_keygen)

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

    fleet = sub.add_parser("fleet", help="synthetic fleets for scale tests").add_subparsers(
        dest="fleet_command", required=True
    )
    generate = fleet.add_parser(
        "generate", help="write a realistic mix of enterprises and assets (bulk inserts)"
    )
    generate.add_argument("--assets", type=int, required=True, help="number of assets")
    generate.add_argument(
        "--enterprises", type=int, help="number of enterprises (default: one per 10 assets)"
    )
    generate.add_argument("--seed", type=int, default=0, help="the same seed draws the same fleet")
    generate.add_argument("--prefix", help='name prefix (default "Fleet <seed>")')
    generate.set_defaults(func=cmd_fleet_generate)

    demo = sub.add_parser("demo", help="migrate, seed a simulated Gansu park and serve it")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--reset", action="store_true", help="start from an empty database")
    demo.set_defaults(func=cmd_demo)

    verify = sub.add_parser(
        "verify",
        help="re-verify a downloaded settlement evidence file offline (exit 1 if tampered)",
    )
    verify.add_argument("file", help="the JSON of GET /v1/evidence/{day}")
    verify.add_argument("--head", help="a ledger head hash known from an earlier download")
    verify.set_defaults(func=cmd_verify)

    settle = sub.add_parser("settle", help="settle a market day now (operator)")
    settle.add_argument("--day", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
    settle.set_defaults(func=cmd_settle)
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
