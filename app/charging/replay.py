"""`ocpi-engine sessions replay EVENTS.jsonl`: a file of charging events through the same pipeline as the API, in
batches, with a progress bar and a summary; exit code 1 when some events were refused."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from app.config import Settings

SHOWN_REFUSALS = 20


def _records(data: bytes) -> tuple[list[bytes], list[int]]:
    """The file's non-blank lines and their line numbers (1-based)."""
    lines, numbers = [], []
    for number, line in enumerate(data.splitlines(), 1):
        if line.strip():
            lines.append(line)
            numbers.append(number)
    return lines, numbers


def cmd_replay(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from app.service_cli import _fail, _run

    if args.batch < 1:
        return _fail("--batch must be at least 1", 2)
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        return _fail(f"{args.file}: cannot read: {exc.strerror or exc}", 2)
    numbers: list[int] = []
    if data.lstrip().startswith(b"["):  # a JSON array: one batch, indices are positions in the array
        lines, where = [data], "record"
    else:
        lines, numbers = _records(data)
        where = "line"

    async def work(pool: Any, vault: Any, settings: Settings) -> int:
        from app.charging.ingest import BadBatch, Ingest, NotStored
        from app.ocpi.client import OcpiClient

        client = OcpiClient(settings.request_timeout, settings.peer_addresses)
        ingest = Ingest(pool, vault, client)
        totals = {"accepted": 0, "duplicates": 0, "refused": 0, "cdrs": 0}
        refusals: list[dict[str, Any]] = []
        errors = args.errors.open("wb") if args.errors else None
        started = time.perf_counter()
        try:
            await ingest.rebuild()
            size = args.batch
            with tqdm(total=len(lines) if where == "line" else None, unit="event", desc="replaying", file=sys.stderr,
                      disable=args.no_progress or None) as bar:
                for offset in range(0, len(lines), size):
                    chunk = lines[offset:offset + size]
                    try:
                        report = await ingest.ingest(b"\n".join(chunk))
                    except BadBatch as exc:
                        return _fail(f"{args.file}: not JSON Lines nor a JSON array of events: {exc}", 2)
                    except NotStored as exc:
                        return _fail(f"{args.file}: batch from {where} {numbers[offset] if numbers else 1}: {exc}")
                    totals["accepted"] += report.accepted
                    totals["duplicates"] += report.duplicates
                    totals["refused"] += report.refused
                    totals["cdrs"] += report.cdrs
                    for r in report.results:
                        if r.result != "refused":
                            continue
                        entry = {where: numbers[offset + r.index] if numbers else r.index, "event_id": r.event_id,
                                 "field": r.field, "message": r.message}
                        if len(refusals) < SHOWN_REFUSALS:
                            refusals.append(entry)
                        if errors is not None:
                            errors.write(msgspec.json.encode(entry) + b"\n")
                    bar.update(len(report.results))
        finally:
            await client.aclose()
            if errors is not None:
                errors.close()
        seconds = time.perf_counter() - started
        events = totals["accepted"] + totals["duplicates"] + totals["refused"]
        print(f"{args.file}: {totals['accepted']} accepted, {totals['duplicates']} duplicates, {totals['refused']} refused, "
              f"{totals['cdrs']} CDRs issued; {events} events in {seconds:.1f} s ({events / max(seconds, 1e-9):,.0f} events/s)")
        for entry in refusals:
            print(f"  {where} {entry[where]} ({entry['event_id'] or 'no event_id'}): {entry['field']}: {entry['message']}",
                  file=sys.stderr)
        if totals["refused"] > len(refusals):
            print(f"  ... {totals['refused'] - len(refusals)} more refused"
                  + (f" (all in {args.errors})" if args.errors else " (list them all with --errors FILE)"), file=sys.stderr)
        return 1 if totals["refused"] else 0

    return _run(args, work)


def add_cli(groups: dict[str, Any], common: argparse.ArgumentParser) -> None:
    r = groups["sessions"].add_parser("replay", parents=[common], help="feed a file of charging events to the sessions",
                                      description="Charging events from a JSON Lines file (or a JSON array) through "
                                                  "the same pipeline as POST /api/v1/charging-events. Exit code 0 "
                                                  "when every event was accepted or a duplicate, 1 when some were "
                                                  "refused.")
    r.add_argument("file", type=Path, metavar="EVENTS.jsonl")
    r.add_argument("--batch", type=int, default=5000, help="events per batch (default 5000)")
    r.add_argument("--errors", type=Path, metavar="FILE", help="write every refused event to FILE (JSON Lines)")
    r.add_argument("--no-progress", action="store_true")
    r.set_defaults(func=cmd_replay)
