"""Two platforms over real HTTP on loopback, each on its own database: a CPO (NL*EXA) and an eMSP (NL*MSP).
The eMSP registers with the CPO from a token A, pulls locations, tariffs and CDRs through several pages; the
CPO pushes an EVSE status PATCH and a new CDR; the eMSP rotates tokens and finally unregisters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.ocpi.auth import authorization_header
from tests.service import Instance, wait_for

DEMO = Path(__file__).parent.parent / "app" / "demo" / "data"


@pytest.fixture(scope="module")
def pair(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Instance]]:
    root = tmp_path_factory.mktemp("platforms")
    cpo, emsp = Instance(pg_admin_dsn, root, "cpo"), Instance(pg_admin_dsn, root, "emsp")
    try:
        cpo.cli("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging")
        emsp.cli("party", "add", "nl", "msp", "emsp", "--name", "MSP Mobility")
        for module, name in (("tariffs", "tariffs.json"), ("locations", "locations.json"), ("cdrs", "cdrs.jsonl")):
            cpo.cli("import", module, str(DEMO / name), "--no-progress")
        emsp.cli("import", "tokens", str(DEMO / "tokens.json"), "--no-progress")
        cpo.start()
        emsp.start()
        yield cpo, emsp
    finally:
        for instance in (cpo, emsp):
            instance.drop()


def _invite(cpo: Instance) -> str:
    return cpo.invite("msp", "NL/MSP/EMSP")


def test_token_a_is_refused_on_functional_modules(pair: tuple[Instance, Instance]) -> None:
    cpo, _ = pair
    token_a = _invite(cpo)
    headers = {"Authorization": authorization_header(token_a)}
    assert httpx.get(cpo.versions_url, headers=headers).json()["status_code"] == 1000
    r = httpx.get(f"{cpo.url}/ocpi/2.2.1/sender/locations", headers=headers)
    assert r.status_code == 401 and r.json()["status_code"] == 2000
    # Not registered yet: PUT and DELETE on credentials are out of turn (§2.2).
    r = httpx.delete(f"{cpo.url}/ocpi/2.2.1/credentials", headers=headers)
    assert r.status_code == 405 and "not registered" in r.json()["status_message"]


@pytest.fixture(scope="module")
def registered(pair: tuple[Instance, Instance]) -> tuple[Instance, Instance]:
    cpo, emsp = pair
    token_a = _invite(cpo)
    out = emsp.cli("peer", "register", "--label", "example-cpo", "--", cpo.versions_url, token_a).stdout
    assert "registered with peer 1 on OCPI 2.2.1: NL*EXA (CPO)" in out
    # Token A is spent: it no longer opens anything.
    r = httpx.get(cpo.versions_url, headers={"Authorization": authorization_header(token_a)})
    assert r.status_code == 401
    return cpo, emsp


def test_registration_stores_both_sides(registered: tuple[Instance, Instance]) -> None:
    cpo, emsp = registered
    [on_emsp] = emsp.query("SELECT status, version, endpoints::text AS e FROM peers")
    assert on_emsp["status"] == "REGISTERED" and on_emsp["version"] == "2.2.1"
    # The CPO offers the Sender interfaces of what it owns, the Receiver of tokens (§2.1) and of HubClientInfo (§3.8).
    assert sorted((e["identifier"], e["role"]) for e in json.loads(on_emsp["e"])) == [
        ("cdrs", "SENDER"), ("credentials", "SENDER"), ("hubclientinfo", "RECEIVER"), ("locations", "SENDER"),
        ("sessions", "SENDER"), ("tariffs", "SENDER"), ("tokens", "RECEIVER")]
    rows = cpo.query("SELECT p.status, pp.country_code, pp.party_id, pp.role FROM peers p JOIN peer_parties pp ON pp.peer_id = p.id "
                     "WHERE p.status = 'REGISTERED'")
    assert [(r["country_code"], r["party_id"], r["role"]) for r in rows] == [("NL", "MSP", "EMSP")]
    # Tokens are stored encrypted: the raw token text appears nowhere in the table.
    token = emsp.token_out(1)
    assert all(token.encode() not in bytes(r["token_out"]) for r in emsp.query("SELECT token_out FROM peers"))


def test_pull_through_pages(registered: tuple[Instance, Instance]) -> None:
    cpo, emsp = registered
    out = emsp.cli("pull", "locations", "1", "--limit", "50").stdout
    assert "364 locations stored from 8 pages (server total 364)" in out
    out = emsp.cli("pull", "tariffs", "1", "--limit", "15").stdout
    assert "41 tariffs stored from 3 pages" in out
    # A full list replaces the known tariff set (§3.4): a tariff the CPO no longer lists goes.
    emsp.query("INSERT INTO tariffs (country_code, party_id, id, last_updated, peer_id, data) "
               "SELECT country_code, party_id, 'GONE', last_updated, peer_id, data FROM tariffs LIMIT 1")
    out = emsp.cli("pull", "tariffs", "1").stdout
    assert "41 tariffs stored from 1 pages (server total 41), 0 rejected, 1 no longer listed removed" in out
    assert not emsp.query("SELECT 1 FROM tariffs WHERE id = 'GONE'")
    mine = sum(1 for line in (DEMO / "cdrs.jsonl").read_text().splitlines()
               if json.loads(line)["cdr_token"]["party_id"] == "MSP")
    out = emsp.cli("pull", "cdrs", "1", "--limit", "25").stdout
    # Only the CDRs of the eMSP's own tokens are served to it (§3.3).
    assert f"{mine} cdrs stored from {-(-mine // 25)} pages (server total {mine})" in out
    stored = emsp.query("SELECT data::text AS d FROM locations WHERE id = 'LOC-00001'")[0]["d"]
    original = next(o for o in json.loads((DEMO / "locations.json").read_text()) if o["id"] == "LOC-00001")
    assert json.loads(stored) == original


def test_cpo_pushes_evse_status_and_cdr(registered: tuple[Instance, Instance], tmp_path: Path) -> None:
    cpo, emsp = registered
    emsp.cli("pull", "locations", "1")
    out = cpo.cli("evse-status", "LOC-00002", "LOC-00002-3", "OUTOFORDER").stdout
    assert "1 pushes queued" in out

    def evse_status() -> str | None:
        doc = json.loads(emsp.query("SELECT data::text AS d FROM locations WHERE id = 'LOC-00002'")[0]["d"])
        status: str = doc["evses"][0]["status"]
        return status if status == "OUTOFORDER" else None

    wait_for(evse_status, what="the EVSE PATCH to arrive")
    doc = json.loads(emsp.query("SELECT data::text AS d FROM locations WHERE id = 'LOC-00002'")[0]["d"])
    assert doc["last_updated"] == doc["evses"][0]["last_updated"]  # parent bumped (§1.6)

    cdr = json.loads((DEMO / "cdrs.jsonl").read_text().splitlines()[0])
    cdr.update(id="CDR-PUSH-1", cdr_token={**cdr["cdr_token"], "country_code": "NL", "party_id": "MSP"})
    path = tmp_path / "new.jsonl"
    path.write_text(json.dumps(cdr) + "\n")
    assert "1 pushes queued" in cpo.cli("import", "cdrs", str(path), "--no-progress").stdout
    wait_for(lambda: emsp.query("SELECT 1 FROM cdrs WHERE id = 'CDR-PUSH-1'"), what="the CDR POST to arrive")
    row = wait_for(lambda: cpo.query("SELECT state, response_location FROM outbox WHERE module = 'cdrs' AND state <> 'PENDING'"),
                   what="the outbox row to settle")[0]
    assert row["state"] == "DELIVERED"
    assert row["response_location"].endswith("/ocpi/2.2.1/receiver/cdrs/NL/EXA/CDR-PUSH-1")
    r = httpx.get(row["response_location"], headers={"Authorization": authorization_header(cpo.token_out(cpo.peer_id("msp")))})
    assert r.status_code == 200 and r.json()["data"]["id"] == "CDR-PUSH-1"


def test_push_to_an_unreachable_peer_is_retried(registered: tuple[Instance, Instance]) -> None:
    cpo, emsp = registered
    emsp.stop()
    try:
        assert "1 pushes queued" in cpo.cli("evse-status", "LOC-00003", "LOC-00003-3", "BLOCKED").stdout
        # Whatever is at the head of the peer's queue fails (the initial sync may still be going): the failed connect
        # is recorded on the peer (either courier names it), and the PATCH waits, never DEAD.
        peer = wait_for(lambda: cpo.query("SELECT status, last_error FROM peer_delivery WHERE failures > 0"),
                        what="a failed delivery to the peer")[0]
        assert "connect" in peer["last_error"].lower()
        assert cpo.query("SELECT state FROM outbox WHERE path LIKE '%LOC-00003%' AND method = 'PATCH'")[0]["state"] \
            in ("PENDING", "SENDING")
    finally:
        emsp.start()
    # The PATCH, not the location's PUT of the initial sync (delivered at registration).
    wait_for(lambda: cpo.query("SELECT 1 FROM outbox WHERE path LIKE '%LOC-00003%' AND method = 'PATCH' "
                               "AND state = 'DELIVERED'"),
             timeout=90, what="the retried delivery")
    doc = json.loads(emsp.query("SELECT data::text AS d FROM locations WHERE id = 'LOC-00003'")[0]["d"])
    assert doc["evses"][0]["status"] == "BLOCKED"


ODD = " #1 ?a=b&c%"  # a space, '#', '?', '&', '=' and '%' in ids (CiString allows them; '/' it cannot be addressed by)


def test_ids_with_odd_characters_are_percent_encoded_in_every_url(registered: tuple[Instance, Instance],
                                                                   tmp_path: Path) -> None:
    cpo, emsp = registered
    loc = json.loads((DEMO / "locations.json").read_text())[0]
    loc["id"], evse_uid = "LOC" + ODD, "E" + ODD
    loc["evses"] = [{**loc["evses"][0], "uid": evse_uid}]
    (tmp_path / "odd.json").write_text(json.dumps([loc]))
    assert "1 pushes queued" in cpo.cli("import", "locations", str(tmp_path / "odd.json"), "--no-progress").stdout
    wait_for(lambda: emsp.query("SELECT 1 FROM locations WHERE id = upper($1)", loc["id"]), what="the location PUT to arrive")
    assert "1 pushes queued" in cpo.cli("evse-status", loc["id"], evse_uid, "CHARGING").stdout

    def pushed() -> dict[str, object] | None:
        doc: dict[str, object] = json.loads(emsp.query("SELECT data::text AS d FROM locations WHERE id = upper($1)", loc["id"])[0]["d"])
        return doc if doc["evses"][0]["status"] == "CHARGING" else None  # type: ignore[index]

    doc = wait_for(pushed, what="the EVSE status PATCH to arrive")
    stamp = doc["last_updated"]
    assert isinstance(stamp, str) and len(stamp) <= 25 and stamp.endswith("Z")  # what we send (§1.10)

    cdr = json.loads((DEMO / "cdrs.jsonl").read_text().splitlines()[0])
    cdr.update(id="CDR" + ODD, cdr_token={**cdr["cdr_token"], "country_code": "NL", "party_id": "MSP"})
    (tmp_path / "odd.jsonl").write_text(json.dumps(cdr) + "\n")
    assert "1 pushes queued" in cpo.cli("import", "cdrs", str(tmp_path / "odd.jsonl"), "--no-progress").stdout
    row = wait_for(lambda: cpo.query("SELECT state, response_location FROM outbox WHERE module = 'cdrs' AND path = '' "
                                     "AND convert_from(body, 'UTF8') LIKE $1 AND state <> 'PENDING'", "%CDR #1%"),
                   what="the CDR POST to settle")[0]
    assert row["state"] == "DELIVERED"
    assert row["response_location"].endswith("/receiver/cdrs/NL/EXA/CDR%20%231%20%3Fa%3Db%26c%25")
    r = httpx.get(row["response_location"], headers={"Authorization": authorization_header(cpo.token_out(cpo.peer_id("msp")))})
    assert r.status_code == 200 and r.json()["data"]["id"] == "CDR" + ODD
    assert not cpo.query("SELECT 1 FROM outbox WHERE state <> 'DELIVERED'")


def test_pull_stores_what_another_implementation_serves_in_normal_form(registered: tuple[Instance, Instance]) -> None:
    """Nulls in optional fields and date-times with offsets (the independent peer's CPO serves both) are pulled
    without a refusal and stored as every other input: null fields left out, date-times in UTC."""
    cpo, emsp = registered
    doc = json.loads((DEMO / "locations.json").read_text())[3]
    doc.update(last_updated="2027-01-01T01:00:00+01:00", postal_code=None)
    for evse in doc["evses"]:
        evse.update(status_schedule=None, last_updated="2027-01-01T01:00:00+01:00")
    cpo.query("UPDATE locations SET data = $2, last_updated = '2027-01-01T00:00:00Z' WHERE id = $1", doc["id"], json.dumps(doc))
    out = emsp.cli("pull", "locations", "1", "--date-from", "2027-01-01T00:00:00Z").stdout
    assert "1 locations stored from 1 pages (server total 1), 0 rejected" in out
    got = json.loads(emsp.query("SELECT data::text AS d FROM locations WHERE id = $1", doc["id"])[0]["d"])
    assert got["last_updated"] == "2027-01-01T00:00:00Z" and "postal_code" not in got
    assert all("status_schedule" not in e and e["last_updated"] == "2027-01-01T00:00:00Z" for e in got["evses"])


def test_token_rotation_then_unregister(registered: tuple[Instance, Instance]) -> None:
    cpo, emsp = registered
    on_cpo = cpo.peer_id("msp")
    old_emsp_to_cpo, old_cpo_to_emsp = emsp.token_out(1), cpo.token_out(on_cpo)
    assert "tokens rotated" in emsp.cli("peer", "update", "1").stdout
    new_emsp_to_cpo = emsp.token_out(1)
    assert new_emsp_to_cpo != old_emsp_to_cpo and cpo.token_out(on_cpo) != old_cpo_to_emsp
    locations = f"{cpo.url}/ocpi/2.2.1/sender/locations"
    assert httpx.get(locations, headers={"Authorization": authorization_header(old_emsp_to_cpo)}).status_code == 401
    assert httpx.get(locations, headers={"Authorization": authorization_header(new_emsp_to_cpo)}).status_code == 200

    # The CPO's token on the eMSP is now cached by the eMSP's worker; the unregister below is done by the
    # eMSP's CLI in another process, and its NOTIFY must reach the worker's cache.
    cpo_to_emsp = {"Authorization": authorization_header(cpo.token_out(on_cpo))}
    cdr_url = f"{emsp.url}/ocpi/2.2.1/receiver/cdrs/NL/EXA/CDR-PUSH-1"
    assert httpx.get(cdr_url, headers=cpo_to_emsp).status_code == 200
    assert "unregistered" in emsp.cli("peer", "unregister", "1").stdout
    assert httpx.get(cdr_url, headers=cpo_to_emsp).status_code == 401
    r = httpx.get(locations, headers={"Authorization": authorization_header(new_emsp_to_cpo)})
    assert r.status_code == 401 and r.json()["status_code"] == 2000
    assert cpo.query("SELECT status FROM peers WHERE id = $1", on_cpo)[0]["status"] == "UNREGISTERED"
