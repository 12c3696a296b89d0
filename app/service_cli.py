"""`ocpi-engine` commands of the OCPI service: serve, party, peer, import, evse-status. Each is a thin shell over
the functions the HTTP API uses, on the same database (DATABASE_URL, else the embedded server)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, get_args

from app.config import Settings

T = TypeVar("T")


def _fail(message: str, code: int = 1) -> int:
    print(f"ocpi-engine: error: {message}", file=sys.stderr)
    return code


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    changes: dict[str, Any] = {}
    for name in ("host", "port", "workers", "base_url", "data_dir"):
        value = getattr(args, name, None)
        if value is not None:
            changes[name] = value
    return settings.with_(**changes) if changes else settings


async def _with_db(settings: Settings, work: Callable[[Any, Any, Settings], Awaitable[T]]) -> T:
    """Run `work(pool, vault, settings)` against the prepared database."""
    from app.db.database import prepare
    from app.db.pool import create_pool
    from app.secrets_vault import TokenVault

    dsn = await prepare(settings)
    settings = settings.with_(database_url=dsn)
    pool = await create_pool(dsn, 1, 4)
    try:
        return await work(pool, TokenVault.load(settings.secret_key, settings.key_file), settings)
    finally:
        await pool.close()


def _run(args: argparse.Namespace, work: Callable[[Any, Any, Settings], Awaitable[int]]) -> int:
    from app import logs

    logs.configure("WARNING")
    try:
        return asyncio.run(_with_db(_settings(args), work))
    except Exception as exc:
        return _database_down(exc)


def _database_down(exc: Exception) -> int:
    """A precise message when the database cannot be reached (down, restarting, refusing); else re-raised."""
    from app.db.pool import describe, unavailable

    if not unavailable(exc):
        raise exc
    return _fail(f"cannot reach the database: {describe(exc)}")


def _run_on_peer(args: argparse.Namespace, work: Callable[[Any, Any, Settings, Any], Awaitable[int]]) -> int:
    """`_run` for a command on peer `args.peer`: `work(pool, vault, settings, peer)`, or a clear error."""
    from app.db import peers

    async def on_peer(pool: Any, vault: Any, settings: Settings) -> int:
        peer = await peers.by_id(pool, args.peer)
        if peer is None:
            return _fail(f"no peer {args.peer} (see `ocpi-engine peer list`)", 2)
        return await work(pool, vault, settings, peer)

    return _run(args, on_peer)


# --- serve -----------------------------------------------------------------------------------------

def cmd_serve(args: argparse.Namespace) -> int:
    from granian import Granian
    from granian.constants import Interfaces

    from app import logs
    from app.db.database import prepare

    settings = _settings(args)
    logs.configure(settings.log_level)
    from app.metrics import process as metrics_process

    # Before any worker exists: the directory where the workers share their samples (see `activate`).
    samples = metrics_process.prepare(settings.data_dir)
    # A TERM while preparing must still run the exit hooks that stop the embedded server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    demo = args.demo if args.demo is not None else not settings.database_url
    try:
        dsn = asyncio.run(prepare(settings))
    except Exception as exc:
        return _database_down(exc)
    settings = settings.with_(database_url=dsn)
    if demo:
        from app.demo.load import load

        async def load_demo(pool: Any, vault: Any, _: Settings) -> Any:
            return await load(pool, vault)

        info = asyncio.run(_with_db(settings, load_demo))
        loaded = ", ".join(f"{n} {k}" for k, n in info.loaded.items())
    versions = f"{settings.public_url}/ocpi/versions"
    print(f"ocpi-engine: OCPI 2.2.1 at {versions} ({settings.workers} worker(s); "
          f"{'embedded PostgreSQL in ' + str(settings.data_dir) if not os.environ.get('DATABASE_URL') else 'DATABASE_URL'})",
          file=sys.stderr)
    if demo:
        print(f"  demo data: {loaded}\n  try: curl -H 'Authorization: Token {info.token}' "
              f"'{settings.public_url}/ocpi/2.2.1/sender/locations?limit=2'\n"
              f"  OpenAPI: {settings.public_url}/schema", file=sys.stderr)
    sys.stderr.flush()
    os.environ.update(settings.to_env())
    Granian("app.server:create_app", factory=True, address=settings.host, port=settings.port,
            interface=Interfaces.ASGI, workers=settings.workers, log_access=False,
            log_dictconfig=logs.dict_config(settings.log_level),
            # A worker that dies is replaced, not the whole server stopped: the new one rebuilds its state from
            # PostgreSQL at start (charging sessions, caches), so nothing else has to go down with it.
            respawn_failed_workers=True,
            backpressure=args.backpressure).serve()
    metrics_process.remove(samples)
    return 0


# --- parties ---------------------------------------------------------------------------------------

def cmd_party_add(args: argparse.Namespace) -> int:
    from app.db import parties, peers

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        holders = await peers.registered_with_party(pool, args.country_code, args.party_id)
        if holders:  # one party, one platform: a peer holds this one (issue 7 §1)
            return _fail(f"{args.country_code.upper()}*{args.party_id.upper()} is held by registered peer "
                         f"{', '.join(map(str, holders))}; take it from the peer first (`ocpi-engine peer parties "
                         f"{holders[0]} --remove ...` or `peer revoke`)", 2)
        try:
            party, created = await parties.add(pool, args.country_code, args.party_id, args.role, args.name, args.website)
        except parties.PartyError as exc:
            return _fail(str(exc), 2)
        print(f"{'added' if created else 'updated'} party {party.label()}: {party.name}")
        return 0

    return _run(args, work)


def cmd_party_list(args: argparse.Namespace) -> int:
    from app.db import parties

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        for p in await parties.list_all(pool):
            print(f"{p.country_code}\t{p.party_id}\t{p.role}\t{p.name}")
        return 0

    return _run(args, work)


# --- peers -----------------------------------------------------------------------------------------

def _parties_arg(texts: list[str] | None) -> list[Any]:
    """`--party CC/PID/ROLE` values as PeerParty (PartyClaimError names a malformed one)."""
    from app.db.peers import PeerParty

    return [PeerParty.parse(t) for t in texts or []]


def cmd_peer_invite(args: argparse.Namespace) -> int:
    from app.db import peers

    try:
        admitted = _parties_arg(args.party)
    except peers.PartyClaimError as exc:
        return _fail(str(exc), 2)

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        try:
            async with pool.acquire() as conn, conn.transaction():
                peer_id, token_a = await peers.invite(conn, vault, args.label, admitted, any_party=args.any_party)
        except peers.PartyClaimError as exc:
            return _fail(f"cannot admit that party: {exc}", 2)
        admits = "ANY party (--any-party: closed test setups only)" if args.any_party else peers.labels(admitted)
        if not admitted and not args.any_party:
            admits += f" yet (admit its parties with `ocpi-engine peer parties {peer_id} --add CC/PID/ROLE`)"
        print(f"peer {peer_id} invited; its credentials may list: {admits}\n"
              f"give it, over a secure channel:\n"
              f"  versions URL: {settings.public_url}/ocpi/versions\n  token A:      {token_a}")
        return 0

    return _run(args, work)


def cmd_peer_parties(args: argparse.Namespace) -> int:
    from app.db import peers

    try:
        add, remove = _parties_arg(args.add), _parties_arg(args.remove)
    except peers.PartyClaimError as exc:
        return _fail(str(exc), 2)

    async def work(pool: Any, vault: Any, settings: Settings, peer: Any) -> int:
        try:
            async with pool.acquire() as conn, conn.transaction():
                await peers.change_parties(conn, args.peer, add, remove)
                if args.any_party is not None:
                    await peers.set_any_party(conn, args.peer, args.any_party)
        except peers.PartyClaimError as exc:
            return _fail(f"cannot admit that party: {exc}", 2)
        peer = await peers.by_id(pool, args.peer)
        assert peer is not None
        print(f"peer {peer.id}: admitted {peers.labels(peer.admitted)}"
              + ("; ANY PARTY admitted" if peer.any_party else "") + f"; holds {peers.labels(peer.parties)}")
        return 0

    return _run_on_peer(args, work)


def cmd_peer_revoke(args: argparse.Namespace) -> int:
    from app.db import peers

    async def work(pool: Any, vault: Any, settings: Settings, peer: Any) -> int:
        async with pool.acquire() as conn, conn.transaction():
            await peers.unregister(conn, peer.id)
        print(f"peer {peer.id} revoked here: its tokens no longer work, nothing more is pushed to it "
              "(the peer was not told)")
        return 0

    return _run_on_peer(args, work)


def cmd_peer_register(args: argparse.Namespace) -> int:
    from app.db.peers import PartyClaimError
    from app.ocpi.client import OcpiClient
    from app.ocpi.credentials import RegistrationError, register

    try:
        admitted = _parties_arg(args.party)
    except PartyClaimError as exc:
        return _fail(str(exc), 2)

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        client = OcpiClient(settings.request_timeout, settings.peer_addresses)
        try:
            peer = await register(pool, vault, client, settings, args.versions_url, args.token_a, args.label,
                                  admitted or None)
        except RegistrationError as exc:
            return _fail(f"registration with {args.versions_url} failed: {exc}")
        finally:
            await client.aclose()
        roles = ", ".join(f"{p.country_code}*{p.party_id} ({p.role})" for p in peer.parties)
        print(f"registered with peer {peer.id} on OCPI {peer.version}: {roles}; {len(peer.endpoints)} endpoints")
        return 0

    return _run(args, work)


def _peer_action(args: argparse.Namespace, action: str) -> int:
    from app.ocpi.client import OcpiClient
    from app.ocpi.credentials import RegistrationError, unregister, update

    async def work(pool: Any, vault: Any, settings: Settings, peer: Any) -> int:
        client = OcpiClient(settings.request_timeout, settings.peer_addresses)
        try:
            if action == "update":
                peer = await update(pool, vault, client, settings, peer)
                print(f"peer {peer.id}: endpoints re-read, tokens rotated (OCPI {peer.version})")
            else:
                await unregister(pool, vault, client, peer)
                print(f"peer {peer.id} unregistered")
        except RegistrationError as exc:
            return _fail(f"{action} of peer {args.peer} failed: {exc}")
        finally:
            await client.aclose()
        return 0

    return _run_on_peer(args, work)


def cmd_peer_list(args: argparse.Namespace) -> int:
    from app.db import peers

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        for p in await peers.list_all(pool):
            roles = ",".join(q.label() for q in p.parties) or "-"
            # An open admission is a deliberate exception: it must not go unnoticed.
            admitted = "ANY-PARTY(!)" if p.any_party else (",".join(q.label() for q in p.admitted) or "-")
            # The admitted parties come last: scripts read the columns before them by position.
            print(f"{p.id}\t{p.status}\t{p.version or '-'}\t{roles}\t{p.versions_url or '-'}\t{p.label or ''}"
                  f"\tadmits {admitted}")
        return 0

    return _run(args, work)


# --- own data --------------------------------------------------------------------------------------

def cmd_import(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from app.modules.owned import MODULES, import_objects, split_records

    try:
        data = args.file.read_bytes()
    except OSError as exc:
        return _fail(f"{args.file}: cannot read: {exc.strerror or exc}", 2)
    try:
        records = split_records(data)
    except ValueError as exc:
        return _fail(f"{args.file}: {exc}", 2)

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        with tqdm(total=len(records), unit=args.module[:-1], desc="importing", file=sys.stderr,
                  disable=args.no_progress or None) as bar:
            result = await import_objects(pool, MODULES[args.module], records, push=not args.no_push,
                                          progress=bar.update)
        print(f"{args.file}: {result.stored} {args.module} stored, {result.unchanged} unchanged, "
              f"{len(result.errors)} rejected, {result.pushes} pushes queued")
        for label, items in (("", result.errors), ("warning: ", result.warnings)):
            for e in items[:20]:
                print(f"  {label}record {e.index}" + (f" ({e.object_id})" if e.object_id else "") + f": {e.message}",
                      file=sys.stderr)
            if len(items) > 20:
                print(f"  ... {len(items) - 20} more", file=sys.stderr)
        return 1 if result.errors else 0

    return _run(args, work)


def cmd_evse_status(args: argparse.Namespace) -> int:
    from app.modules.owned import NotFound, set_evse_status

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        try:
            pushes = await set_evse_status(pool, args.location_id, args.evse_uid, args.status)
        except NotFound as exc:
            return _fail(str(exc), 2)
        print(f"{args.location_id}/{args.evse_uid} is {args.status}; {pushes} pushes queued")
        return 0

    return _run(args, work)


def cmd_pull(args: argparse.Namespace) -> int:
    from app.modules.owned import MODULES
    from app.ocpi.client import OcpiClient
    from app.ocpi.pull import PullError, pull
    from app.schemas.types import to_utc

    async def work(pool: Any, vault: Any, settings: Settings, peer: Any) -> int:
        try:
            since = to_utc(args.date_from) if args.date_from else None
        except ValueError:
            return _fail(f"--date-from {args.date_from!r} is not an OCPI DateTime", 2)
        client = OcpiClient(settings.request_timeout, settings.peer_addresses)
        try:
            result = await pull(pool, vault, client, peer, MODULES[args.module], limit=args.limit, date_from=since)
        except PullError as exc:
            return _fail(str(exc))
        finally:
            await client.aclose()
        print(f"peer {peer.id}: {result.stored} {args.module} stored from {result.pages} pages "
              f"(server total {result.total}), {len(result.rejected)} rejected"
              + (f", {result.removed} no longer listed removed" if result.removed else ""))
        for reason in result.rejected[:20]:
            print(f"  {reason}", file=sys.stderr)
        for warning in result.warnings[:20]:
            print(f"  warning: {warning}", file=sys.stderr)
        return 1 if result.rejected else 0

    return _run_on_peer(args, work)


def _statuses() -> tuple[str, ...]:
    from app.schemas.v2_2_1 import Status

    return get_args(Status)


def add_commands(sub: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, help="data folder: embedded database and key file "
                                                      "(default $OCPI_ENGINE_DATA_DIR or ~/.local/share/ocpi-engine)")
    common.add_argument("--base-url", help="public URL peers reach this deployment at (default http://HOST:PORT)")

    s = sub.add_parser("serve", parents=[common], help="run the OCPI server",
                       description="Run the OCPI 2.2.1 server. Without DATABASE_URL an embedded PostgreSQL is started "
                                   "and, on it, a demo data set is loaded.")
    s.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default 8000)")
    s.add_argument("--workers", type=int, help="server processes (default 1)")
    s.add_argument("--backpressure", type=int, default=None, help="max concurrent requests per worker")
    demo = s.add_mutually_exclusive_group()
    demo.add_argument("--demo", dest="demo", action="store_true", default=None, help="load the demo data set")
    demo.add_argument("--no-demo", dest="demo", action="store_false", help="do not load the demo data set")
    s.set_defaults(func=cmd_serve)

    party = sub.add_parser("party", help="parties this deployment hosts").add_subparsers(dest="action", required=True)
    pa = party.add_parser("add", parents=[common], help="host a party (country code, party id, role)")
    pa.add_argument("country_code", metavar="COUNTRY_CODE")
    pa.add_argument("party_id", metavar="PARTY_ID")
    pa.add_argument("role", metavar="ROLE", help="CPO, EMSP, HUB, NAP, NSP, OTHER or SCSP")
    pa.add_argument("--name", required=True, help="business name shown to peers")
    pa.add_argument("--website")
    pa.set_defaults(func=cmd_party_add)
    party.add_parser("list", parents=[common], help="list hosted parties").set_defaults(func=cmd_party_list)

    peer = sub.add_parser("peer", help="peers: invite, register, update, unregister").add_subparsers(dest="action", required=True)
    pi = peer.add_parser("invite", parents=[common], help="create a token A for a peer that will register with us",
                         description="Create a token A. The peer's credentials may list only the parties named "
                                     "with --party; a party hosted here or held by another peer is refused.")
    pi.add_argument("--label")
    pi.add_argument("--party", action="append", metavar="CC/PID/ROLE",
                    help="a party the peer may register with, e.g. NL/MSP/EMSP (repeatable)")
    pi.add_argument("--any-party", action="store_true",
                    help="admit any party not hosted here nor held by another peer (closed test setups only)")
    pi.set_defaults(func=cmd_peer_invite)
    pr = peer.add_parser("register", parents=[common], help="register with a peer (we start the handshake)",
                         epilog="A token A that starts with '-' goes after '--': peer register -- URL TOKEN_A")
    pr.add_argument("versions_url", metavar="VERSIONS_URL")
    pr.add_argument("token_a", metavar="TOKEN_A")
    pr.add_argument("--label")
    pr.add_argument("--party", action="append", metavar="CC/PID/ROLE",
                    help="the only parties the peer may hold (repeatable); default: the ones it lists, when none "
                         "is hosted here or held by another peer")
    pr.set_defaults(func=cmd_peer_register)
    pu = peer.add_parser("update", parents=[common], help="re-read a peer's endpoints and rotate tokens (PUT credentials)")
    pu.add_argument("peer", type=int, metavar="PEER_ID")
    pu.set_defaults(func=lambda a: _peer_action(a, "update"))
    pd = peer.add_parser("unregister", parents=[common], help="end the connection with a peer (DELETE credentials)")
    pd.add_argument("peer", type=int, metavar="PEER_ID")
    pd.set_defaults(func=lambda a: _peer_action(a, "unregister"))
    pv = peer.add_parser("revoke", parents=[common], help="cut a peer off here without calling it",
                         description="Its tokens stop working at once in every worker, it is marked UNREGISTERED "
                                     "and its pending pushes are stopped; the peer is not told.")
    pv.add_argument("peer", type=int, metavar="PEER_ID")
    pv.set_defaults(func=cmd_peer_revoke)
    pp = peer.add_parser("parties", parents=[common], help="change the parties a peer is admitted to hold")
    pp.add_argument("peer", type=int, metavar="PEER_ID")
    pp.add_argument("--add", action="append", metavar="CC/PID/ROLE", help="admit (and, if registered, hold) a party")
    pp.add_argument("--remove", action="append", metavar="CC/PID/ROLE", help="no longer admitted nor held")
    anyp = pp.add_mutually_exclusive_group()
    anyp.add_argument("--any-party", dest="any_party", action="store_true", default=None,
                      help="admit any party not hosted here nor held by another peer (closed test setups only)")
    anyp.add_argument("--no-any-party", dest="any_party", action="store_false")
    pp.set_defaults(func=cmd_peer_parties)
    peer.add_parser("list", parents=[common], help="list peers").set_defaults(func=cmd_peer_list)

    im = sub.add_parser("import", parents=[common], help="import our own objects from a JSON array or JSON Lines file",
                        description="Import objects owned by our parties; bad records are listed and skipped; "
                                    "registered peers get the changes pushed.")
    im.add_argument("module", choices=["locations", "tariffs", "tokens", "sessions", "cdrs"])
    im.add_argument("file", type=Path, metavar="FILE")
    im.add_argument("--no-push", action="store_true", help="store only; do not push to peers")
    im.add_argument("--no-progress", action="store_true")
    im.set_defaults(func=cmd_import)

    pl = sub.add_parser("pull", parents=[common], help="pull a peer's objects from its Sender interface, all pages")
    pl.add_argument("module", choices=["locations", "tariffs", "tokens", "sessions", "cdrs"])
    pl.add_argument("peer", type=int, metavar="PEER_ID")
    pl.add_argument("--limit", type=int, help="page size to ask for")
    pl.add_argument("--date-from", help="only objects changed since (OCPI DateTime)")
    pl.set_defaults(func=cmd_pull)

    ev = sub.add_parser("evse-status", parents=[common], help="set one of our EVSEs' status and push it to peers")
    ev.add_argument("location_id", metavar="LOCATION_ID")
    ev.add_argument("evse_uid", metavar="EVSE_UID")
    ev.add_argument("status", choices=_statuses(), metavar="STATUS", help=", ".join(_statuses()))
    ev.set_defaults(func=cmd_evse_status)

    from app.charging.cli import add_commands as add_charging_commands

    add_charging_commands(sub, common)
