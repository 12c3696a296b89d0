"""`ocpi-engine sessions list`, `cdrs list`, `cdrs show` on one running instance: our own sessions and CDRs
(imported) and those a peer CPO pushed over HTTP to our eMSP, listed with their origin, filtered, numbers exactly as
stored; bad arguments refused with a precise message and exit 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from app.ocpi.auth import authorization_header
from tests.service import Instance, serving

DEMO = Path(__file__).parent.parent / "app" / "demo" / "data"
V = "/ocpi/2.2.1"
OUR_EMSP = {"country_code": "NL", "party_id": "MSP", "uid": "T1", "type": "RFID", "contract_id": "NL-MSP-1"}


def _session(cc: str, pid: str, sid: str, status: str, updated: str, **more: Any) -> dict[str, Any]:
    return {"country_code": cc, "party_id": pid, "id": sid, "start_date_time": "2026-03-01T10:00:00Z", "kwh": 1.5,
            "cdr_token": OUR_EMSP, "auth_method": "WHITELIST", "location_id": "LOC-1", "evse_uid": "E1",
            "connector_id": "1", "currency": "EUR", "status": status, "last_updated": updated, **more}


@pytest.fixture(scope="module")
def node(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    root = tmp_path_factory.mktemp("lists")
    done = json.dumps(_session("NL", "EXB", "S-DONE", "COMPLETED", "2026-03-02T12:00:00Z",
                               end_date_time="2026-03-02T11:30:00Z"))
    # Written as text: trailing zeros must survive to the listing.
    done = done.replace('"kwh": 1.5', '"kwh": 12.3400, "total_cost": {"excl_vat": 4.100, "incl_vat": 4.9610}')
    text = json.dumps(_session("NL", "EXA", "S-ACTIVE", "ACTIVE", "2026-03-01T10:05:00Z")) + "\n" + done
    assert "12.3400" in text
    (root / "sessions.jsonl").write_text(text + "\n")
    lines = (DEMO / "cdrs.jsonl").read_text().splitlines()[:2]
    lines[1] = lines[1].replace('"excl_vat":10.51', '"excl_vat":10.510')
    assert '"excl_vat":10.510' in lines[1]
    (root / "cdrs.jsonl").write_text("\n".join(lines) + "\n")
    with serving((Instance(pg_admin_dsn, root, "lists"), [
            ("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging"),
            ("party", "add", "NL", "EXB", "CPO", "--name", "Example B"),
            ("party", "add", "NL", "MSP", "EMSP", "--name", "MSP Mobility"),
            ("import", "sessions", str(root / "sessions.jsonl"), "--no-progress"),
            ("import", "cdrs", str(root / "cdrs.jsonl"), "--no-progress")])) as (inst,):
        # A peer CPO pushes a session and a CDR (same id as one of ours) to our eMSP over HTTP.
        headers = {"Authorization": authorization_header(inst.client_token("de-charge", [("DE", "ABC", "CPO")])),
                   "Content-Type": "application/json"}
        peer_session = _session("DE", "ABC", "S-PEER", "ACTIVE", "2026-03-03T08:00:00Z", kwh=7.25,
                                total_cost={"excl_vat": 2.5, "incl_vat": 3.03})
        r = httpx.put(f"{inst.url}{V}/receiver/sessions/DE/ABC/S-PEER", content=json.dumps(peer_session), headers=headers)
        assert r.json()["status_code"] == 1000, r.text
        cdr = json.loads(lines[0])
        cdr.update(country_code="DE", party_id="ABC", cdr_token=OUR_EMSP, last_updated="2026-07-08T00:00:00Z")
        r = httpx.post(f"{inst.url}{V}/receiver/cdrs", content=json.dumps(cdr), headers=headers)
        assert r.json()["status_code"] == 1000, r.text
        yield inst


def _rows(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.splitlines()]


def test_sessions_list_shows_ours_and_received(node: Instance) -> None:
    out = node.cli("sessions", "list")
    assert _rows(out.stdout) == [
        ["KEY", "STATUS", "START", "END", "KWH", "EXCL", "VAT", "INCL", "VAT", "CUR", "EMSP", "ORIGIN"],
        ["DE/ABC/S-PEER", "ACTIVE", "2026-03-01T10:00:00Z", "-", "7.25", "2.5", "3.03", "EUR", "NL*MSP", "de-charge"],
        ["NL/EXB/S-DONE", "COMPLETED", "2026-03-01T10:00:00Z", "2026-03-02T11:30:00Z", "12.3400", "4.100", "4.9610",
         "EUR", "NL*MSP", "ours"],
        ["NL/EXA/S-ACTIVE", "ACTIVE", "2026-03-01T10:00:00Z", "-", "1.5", "-", "-", "EUR", "NL*MSP", "ours"],
    ]
    assert out.stderr.strip() == "3 of 3 sessions (most recently updated first)"
    # Numbers right-aligned under their header.
    header, first = out.stdout.splitlines()[:2]
    assert first.index("7.25") + len("7.25") == header.index("KWH") + len("KWH")


def test_sessions_list_filters(node: Instance) -> None:
    def keys(*args: str) -> list[str]:
        return [r[0] for r in _rows(node.cli("sessions", "list", *args).stdout)[1:]]

    assert keys("--status", "active") == ["DE/ABC/S-PEER", "NL/EXA/S-ACTIVE"]
    assert keys("--status", "COMPLETED") == ["NL/EXB/S-DONE"]
    assert keys("--party", "nl/exa") == ["NL/EXA/S-ACTIVE"]
    assert keys("--party", "NL/EXA", "--party", "DE/ABC") == ["DE/ABC/S-PEER", "NL/EXA/S-ACTIVE"]
    assert keys("--party", "NL/EXA", "--status", "COMPLETED") == []
    # --from inclusive, --to exclusive, on last_updated.
    assert keys("--from", "2026-03-02T12:00:00Z") == ["DE/ABC/S-PEER", "NL/EXB/S-DONE"]
    assert keys("--from", "2026-03-02", "--to", "2026-03-03T08:00:00+00:00") == ["NL/EXB/S-DONE"]
    assert keys("--to", "2026-03-02T12:00:00Z") == ["NL/EXA/S-ACTIVE"]
    limited = node.cli("sessions", "list", "--limit", "1")
    assert [r[0] for r in _rows(limited.stdout)[1:]] == ["DE/ABC/S-PEER"]
    assert limited.stderr.strip() == "1 of 3 sessions (most recently updated first; --limit 3 shows all)"
    none = node.cli("sessions", "list", "--status", "RESERVATION")
    assert _rows(none.stdout)[1:] == [] and none.stderr.strip() == "0 of 0 sessions (most recently updated first)"


def test_sessions_list_json_is_the_stored_documents(node: Instance) -> None:
    out = node.cli("sessions", "list", "--json").stdout
    stored = {r["id"]: r["d"] for r in node.query("SELECT id, data::text AS d FROM sessions")}
    lines = out.splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["S-PEER", "S-DONE", "S-ACTIVE"]
    for line in lines:
        assert line == msgspec.json.format(stored[json.loads(line)["id"].upper()], indent=-1)
    assert '"kwh":12.3400' in lines[1] and '"excl_vat":4.100' in lines[1]
    assert node.cli("sessions", "list", "--json", "--party", "DE/ABC").stdout.count("\n") == 1


def test_cdrs_list(node: Instance) -> None:
    out = node.cli("cdrs", "list")
    assert _rows(out.stdout) == [
        ["KEY", "START", "END", "KWH", "EXCL", "VAT", "INCL", "VAT", "CUR", "EMSP", "ORIGIN"],
        ["DE/ABC/CDR-0000000001", "2026-07-07T09:07:08Z", "2026-07-07T10:34:50Z", "57.0087", "19.43", "23.51", "EUR",
         "NL*MSP", "de-charge"],
        ["NL/EXA/CDR-0000000001", "2026-07-07T09:07:08Z", "2026-07-07T10:34:50Z", "57.0087", "19.43", "23.51", "EUR",
         "NL*ELN", "ours"],
        ["NL/EXA/CDR-0000000002", "2026-03-07T15:27:21Z", "2026-03-07T21:43:27Z", "16.9195", "10.510", "12.72", "EUR",
         "DE*ABC", "ours"],
    ]
    assert out.stderr.strip() == "3 of 3 cdrs (most recently updated first)"
    assert [r[0] for r in _rows(node.cli("cdrs", "list", "--from", "2026-07-07T10:45:55Z", "--party", "NL/EXA").stdout)[1:]] \
        == ["NL/EXA/CDR-0000000001"]
    jsonl = node.cli("cdrs", "list", "--json", "--to", "2026-07-01").stdout
    assert jsonl.count("\n") == 1 and '"excl_vat":10.510' in jsonl


def test_cdrs_show(node: Instance) -> None:
    out = node.cli("cdrs", "show", "cdr-0000000002").stdout
    stored = node.query("SELECT data::text AS d FROM cdrs WHERE id = 'CDR-0000000002'")[0]["d"]
    assert out == msgspec.json.format(stored, indent=2) + "\n"
    assert '\n  "id": "CDR-0000000002",\n' in out and '"excl_vat": 10.510' in out
    # Held for our NL*EXA and received from DE*ABC: the party must be named.
    both = node.cli("cdrs", "show", "CDR-0000000001", check=False)
    assert both.returncode == 2 and both.stdout == ""
    assert both.stderr.strip() == ("ocpi-engine: error: CDR id 'CDR-0000000001' is held for several parties "
                                   "(NL/EXA/CDR-0000000001, DE/ABC/CDR-0000000001): name one with --party CC/PID")
    received = json.loads(node.cli("cdrs", "show", "CDR-0000000001", "--party", "de/abc").stdout)
    assert (received["country_code"], received["cdr_token"]["party_id"]) == ("DE", "MSP")
    missing = node.cli("cdrs", "show", "CDR-0000000002", "--party", "DE/ABC", check=False)
    assert missing.returncode == 2
    assert missing.stderr.strip() == ("ocpi-engine: error: no CDR 'CDR-0000000002' of DE/ABC "
                                      "(see `ocpi-engine cdrs list`)")


@pytest.mark.parametrize(("args", "message"), [
    (["sessions", "list", "--party", "NL"], "argument --party: party 'NL' must be written COUNTRY/PARTY, e.g. NL/EXA"),
    (["sessions", "list", "--party", "NLD/EXA"], "argument --party: country code 'NLD' must be two letters"),
    (["cdrs", "list", "--party", "NL/EX"], "argument --party: party id 'EX' must be three letters or digits"),
    (["sessions", "list", "--status", "DONE"], "argument --status: invalid choice: 'DONE'"),
    (["cdrs", "list", "--status", "ACTIVE"], "unrecognized arguments: --status ACTIVE"),
    (["cdrs", "list", "--from", "yesterday"],
     "argument --from: an RFC 3339 date-time or a date YYYY-MM-DD, not 'yesterday'"),
    (["sessions", "list", "--to", "2026-02-30"], "argument --to: an RFC 3339 date-time or a date YYYY-MM-DD, not '2026-02-30'"),
    (["sessions", "list", "--limit", "0"], "argument --limit: a whole number of at least 1, not '0'"),
    (["cdrs", "list", "--limit", "ten"], "argument --limit: a whole number of at least 1, not 'ten'"),
    (["cdrs", "list", "--from", "2026-03-02", "--to", "2026-03-01T23:00:00+00:00"],
     "--from 2026-03-02T00:00:00Z must be before --to 2026-03-01T23:00:00Z"),
    (["cdrs", "show"], "the following arguments are required: CDR_ID"),
])
def test_bad_arguments_are_refused(node: Instance, args: list[str], message: str) -> None:
    result = node.cli(*args, check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert message in result.stderr, result.stderr
