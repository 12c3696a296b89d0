"""What each role may see and do (issue 7 §2), against one running instance: every module × interface × role,
the routing headers of digest §1.8, single-object GETs with several of our parties, sessions and CDRs for
eMSPs not hosted here, and the rate limit on failed authentication (§1)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.ocpi.auth import authorization_header
from tests.service import Instance, serving

DEMO = Path(__file__).parent.parent / "app" / "demo" / "data"
V = "/ocpi/2.2.1"
ROLES = ("CPO", "EMSP", "NSP", "OTHER", "SCSP", "HUB")
# Who may call what (app/modules/access.py): Sender readers, and the owner role on the Receiver.
SENDER_ROLES = {"locations": {"EMSP", "NSP", "OTHER"}, "tariffs": {"EMSP", "NSP", "OTHER"}, "sessions": {"EMSP"},
                "cdrs": {"EMSP"}, "tokens": {"CPO"}}
RECEIVER_ROLES = {"locations": {"CPO"}, "tariffs": {"CPO"}, "sessions": {"CPO"}, "cdrs": {"CPO"}, "tokens": {"EMSP"}}
STAMP = "2026-03-01T10:00:00Z"


def party_of(role: str) -> tuple[str, str]:
    """Each role's peer holds one party of that role only: DE*R<first two letters>."""
    return ("DE", "R" + role[:2])


def demo(name: str, index: int = 0) -> dict[str, Any]:
    if name.endswith(".jsonl"):
        return dict(json.loads((DEMO / name).read_text().splitlines()[index]))
    return dict(copy.deepcopy(json.loads((DEMO / name).read_text())[index]))


def new_object(module: str, cc: str, pid: str, object_id: str) -> tuple[str, str, dict[str, Any]]:
    """(method, path below the Receiver, body) creating a valid object of party cc*pid."""
    our_emsp = {"country_code": "NL", "party_id": "MSP", "uid": "T1", "type": "RFID", "contract_id": "NL-MSP-1"}
    if module == "locations":
        doc = demo("locations.json")
        doc.update(country_code=cc, party_id=pid, id=object_id, last_updated=STAMP)
    elif module == "tariffs":
        doc = demo("tariffs.json")
        doc.update(country_code=cc, party_id=pid, id=object_id, last_updated=STAMP)
    elif module == "sessions":
        doc = {"country_code": cc, "party_id": pid, "id": object_id, "start_date_time": STAMP, "kwh": 1.5,
               "cdr_token": our_emsp, "auth_method": "WHITELIST", "location_id": "L1", "evse_uid": "E1",
               "connector_id": "1", "currency": "EUR", "status": "ACTIVE", "last_updated": STAMP}
    elif module == "cdrs":
        doc = demo("cdrs.jsonl")
        doc.update(country_code=cc, party_id=pid, id=object_id, cdr_token={**doc["cdr_token"], **our_emsp})
        return "POST", "", doc
    else:
        doc = {"country_code": cc, "party_id": pid, "uid": object_id, "type": "RFID", "contract_id": f"{cc}-{pid}-1",
               "issuer": "x", "valid": True, "whitelist": "ALLOWED", "last_updated": STAMP}
    return "PUT", f"/{cc}/{pid}/{object_id}", doc


@pytest.fixture(scope="module")
def node(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    inst = Instance(pg_admin_dsn, tmp_path_factory.mktemp("access"), "access")
    # One location id that both our CPOs use.
    twins = [{**demo("locations.json"), "id": "TWIN-1", "party_id": pid} for pid in ("EXA", "EXB")]
    (inst.data_dir / "twins.json").write_text(json.dumps(twins))
    with serving((inst, [("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging"),
                         ("party", "add", "NL", "EXB", "CPO", "--name", "Second CPO of ours"),
                         ("party", "add", "NL", "MSP", "EMSP", "--name", "MSP Mobility"),
                         ("import", "locations", str(DEMO / "locations.json"), "--no-progress"),
                         ("import", "tokens", str(DEMO / "tokens.json"), "--no-progress"),
                         ("import", "locations", str(inst.data_dir / "twins.json"), "--no-progress")])):
        yield inst


@pytest.fixture(scope="module")
def tokens(node: Instance) -> dict[str, str]:
    return {role: node.client_token(f"only-{role}", [(*party_of(role), role)]) for role in ROLES}


def call(node: Instance, token: str, method: str, path: str, body: Any = None, **headers: str) -> httpx.Response:
    content = json.dumps(body).encode() if body is not None else None
    return httpx.request(method, f"{node.url}{V}{path}", content=content, timeout=10, headers={
        "Authorization": authorization_header(token), "Content-Type": "application/json", **headers})


def answer(r: httpx.Response) -> tuple[int, int, str]:
    body = r.json()
    assert "timestamp" in body
    return r.status_code, body["status_code"], body.get("status_message", "")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("interface", ["sender", "receiver"])
@pytest.mark.parametrize("module", ["locations", "tariffs", "sessions", "cdrs", "tokens"])
def test_every_module_interface_and_role(node: Instance, tokens: dict[str, str], module: str, interface: str,
                                         role: str) -> None:
    token = tokens[role]
    if interface == "sender":
        http, code, message = answer(call(node, token, "GET", f"/sender/{module}?limit=1"))
        if role in SENDER_ROLES[module]:
            assert (http, code) == (200, 1000), message
        else:
            assert (http, code) == (403, 2000) and f"the {module} sender interface is for" in message, message
        return
    cc, pid = party_of(role)
    method, path, body = new_object(module, cc, pid, f"OBJ-{module[:3].upper()}")
    http, code, message = answer(call(node, token, method, f"/receiver/{module}{path}", body))
    if role in RECEIVER_ROLES[module]:
        assert http in (200, 201) and code == 1000, message
    else:
        assert (http, code) == (404, 2000) and f"the {module} receiver interface is for" in message, message
        table = "tokens" if module == "tokens" else module
        assert not node.query(f"SELECT 1 FROM {table} WHERE country_code = $1 AND party_id = $2", cc, pid)


def test_authorize_is_for_cpo_peers_only(node: Instance, tokens: dict[str, str]) -> None:
    valid = next(t for t in json.loads((DEMO / "tokens.json").read_text()) if t["valid"])
    path = f"/sender/tokens/{valid['uid']}/authorize?type={valid['type']}"
    r = call(node, tokens["CPO"], "POST", path)
    assert answer(r)[:2] == (200, 1000) and r.json()["data"]["allowed"] == "ALLOWED"
    for role in ("EMSP", "NSP", "OTHER"):
        r = call(node, tokens[role], "POST", path)
        assert answer(r)[:2] == (403, 2000) and "data" not in r.json()


def test_routing_headers_are_checked(node: Instance, tokens: dict[str, str]) -> None:
    emsp = tokens["EMSP"]
    me = party_of("EMSP")

    def get(**headers: str) -> tuple[int, int, str]:
        return answer(call(node, emsp, "GET", "/sender/locations?limit=1", **headers))

    def pair(side: str, cc: str, pid: str) -> dict[str, str]:
        return {f"OCPI-{side}-country-code": cc, f"OCPI-{side}-party-id": pid}

    r = call(node, emsp, "GET", "/sender/locations?limit=1", **pair("from", *me), **pair("to", "nl", "exb"))
    assert answer(r)[:2] == (200, 1000)
    assert (r.headers["ocpi-to-country-code"], r.headers["ocpi-to-party-id"]) == me
    assert (r.headers["ocpi-from-country-code"], r.headers["ocpi-from-party-id"]) == ("NL", "EXB")
    cases = [
        ({"OCPI-to-country-code": "NL"}, "OCPI-to-country-code given without OCPI-to-party-id"),
        ({"OCPI-from-party-id": "REM"}, "OCPI-from-party-id given without OCPI-from-country-code"),
        (pair("to", "NLD", "EXA"), "'NLD' is not a CiString(2)"),
        (pair("from", "DE", "ABCD"), "'ABCD' is not a CiString(3)"),
        (pair("to", "XX", "YYY"), "OCPI-to XX*YYY is not a CPO party hosted here (ours: NL*EXA (CPO), NL*EXB (CPO))"),
        (pair("to", "NL", "MSP"), "OCPI-to NL*MSP is not a CPO party hosted here"),  # ours, but the eMSP
        (pair("from", "ZZ", "ZZZ"), "OCPI-from ZZ*ZZZ is not a EMSP/NSP/OTHER party of your platform"),
    ]
    for headers, words in cases:
        http, code, message = get(**headers)
        assert (http, code) == (200, 2001) and words in message, (headers, message)
    # A party of the caller, but in a role this interface does not serve.
    both = node.client_token("both-roles", [("DE", "BCP", "CPO"), ("DE", "BEM", "EMSP")])
    http, code, message = answer(call(node, both, "GET", "/sender/locations?limit=1", **pair("from", "DE", "BCP")))
    assert (http, code) == (200, 2001) and "DE*BCP is not a EMSP/NSP/OTHER party" in message
    # Receiver: OCPI-to must be our party of the reading role (our eMSP for pushed locations).
    method, path, body = new_object("locations", *party_of("CPO"), "ROUTED-1")
    http, code, message = answer(call(node, tokens["CPO"], method, f"/receiver/locations{path}", body,
                                      **pair("to", "NL", "EXA")))
    assert (http, code) == (200, 2001) and "OCPI-to NL*EXA is not a EMSP/NSP/OTHER party hosted here" in message
    assert not node.query("SELECT 1 FROM locations WHERE id = 'ROUTED-1'")
    r = call(node, tokens["CPO"], method, f"/receiver/locations{path}", body, **pair("to", "NL", "MSP"))
    assert answer(r)[:2] == (201, 1000)


def test_single_object_get_with_several_of_our_parties(node: Instance, tokens: dict[str, str]) -> None:
    emsp = tokens["EMSP"]
    http, code, message = answer(call(node, emsp, "GET", "/sender/locations/TWIN-1"))
    assert (http, code) == (200, 2001) and "several of our parties (NL*EXA, NL*EXB)" in message, message
    for pid in ("EXA", "EXB"):
        r = call(node, emsp, "GET", "/sender/locations/TWIN-1", **{"OCPI-to-country-code": "NL", "OCPI-to-party-id": pid})
        assert answer(r)[:2] == (200, 1000) and r.json()["data"]["party_id"] == pid
        assert r.headers["ocpi-from-party-id"] == pid
    # An id only one of our parties has needs no OCPI-to.
    assert call(node, emsp, "GET", "/sender/locations/LOC-00001").json()["data"]["party_id"] == "EXA"


def test_sessions_and_cdrs_only_for_our_emsps(node: Instance, tokens: dict[str, str]) -> None:
    cpo = tokens["CPO"]
    cc, pid = party_of("CPO")
    foreign = {"country_code": "BE", "party_id": "OTH", "uid": "T9", "type": "RFID", "contract_id": "BE-OTH-9"}
    _, path, session = new_object("sessions", cc, pid, "S-FOREIGN")
    _, _, cdr = new_object("cdrs", cc, pid, "C-FOREIGN")
    for method, url, body in (("PUT", f"/receiver/sessions{path}", {**session, "cdr_token": foreign}),
                              ("POST", "/receiver/cdrs", {**cdr, "cdr_token": foreign})):
        http, code, message = answer(call(node, cpo, method, url, body))
        assert (http, code) == (200, 2001), message
        assert "eMSP BE*OTH, which is not hosted here (our eMSPs: NL*MSP (EMSP))" in message
    assert not node.query("SELECT 1 FROM sessions WHERE id = 'S-FOREIGN' UNION ALL SELECT 1 FROM cdrs WHERE id = 'C-FOREIGN'")
    # A PATCH cannot move a stored session to a foreign eMSP either.
    assert answer(call(node, cpo, "PUT", f"/receiver/sessions{path}", session))[:2] == (201, 1000)
    http, code, _ = answer(call(node, cpo, "PATCH", f"/receiver/sessions{path}",
                                {"cdr_token": foreign, "last_updated": "2026-03-02T00:00:00Z"}))
    assert (http, code) == (200, 2001)
    assert call(node, cpo, "GET", f"/receiver/sessions{path}").json()["data"]["cdr_token"]["party_id"] == "MSP"


def test_failed_authentication_is_rate_limited(pg_admin_dsn: str, tmp_path: Path) -> None:
    inst = Instance(pg_admin_dsn, tmp_path, "limited", OCPI_ENGINE_AUTH_FAILURES="5", OCPI_ENGINE_AUTH_WINDOW="60")
    try:
        inst.cli("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging")
        inst.start()
        known = inst.client_token("known", [("DE", "KNO", "EMSP")])
        later = inst.client_token("later", [("DE", "LAT", "EMSP")])
        url = f"{inst.url}{V}/sender/locations?limit=1"
        assert httpx.get(url, headers={"Authorization": authorization_header(known)}).status_code == 200
        # Five failures per window (the server's readiness poll by the helper was one already).
        codes = [httpx.get(url, headers={"Authorization": f"Token guess-{i}"}).status_code for i in range(8)]
        failures = codes.count(401)
        assert 1 <= failures <= 5 and codes == [401] * failures + [429] * (8 - failures), codes
        r = httpx.get(url, headers={"Authorization": "Token guess-9"})
        assert r.status_code == 429 and r.json()["status_code"] == 2000
        assert "too many failed authentications" in r.json()["status_message"]
        assert 1 <= int(r.headers["retry-after"]) <= 60
        # A token that authenticated from here before keeps working.
        assert httpx.get(url, headers={"Authorization": authorization_header(known)}).status_code == 200
        # Documented: a token this worker has not seen yet waits like a guess would.
        assert httpx.get(url, headers={"Authorization": authorization_header(later)}).status_code == 429
    finally:
        inst.drop()
