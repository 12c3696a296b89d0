"""The OCPI transport and the Receiver/Sender interfaces of one running instance, over real HTTP: envelope,
status codes, auth, headers, pagination, PUT/PATCH rules, and bad input that must leave stored data unchanged."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.ocpi.auth import authorization_header
from tests.service import Instance

DEMO = Path(__file__).parent.parent / "app" / "demo" / "data"
MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def node(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    inst = Instance(pg_admin_dsn, tmp_path_factory.mktemp("node"), "node", OCPI_ENGINE_MAX_BODY_BYTES=str(MAX_BODY),
                    OCPI_ENGINE_PAGE_LIMIT="50")
    try:
        inst.cli("party", "add", "NL", "MSP", "EMSP", "--name", "MSP Mobility")
        inst.cli("party", "add", "NL", "EXA", "CPO", "--name", "Example Charging")
        inst.cli("import", "locations", str(DEMO / "locations.json"), "--no-progress")
        inst.cli("import", "tokens", str(DEMO / "tokens.json"), "--no-progress")
        inst.start()
        yield inst
    finally:
        inst.drop()


class Client:
    """A peer calling the node: a CPO DE*ABC (pushes to our eMSP Receivers) that is also an eMSP DE*ABE."""

    def __init__(self, node: Instance, token: str) -> None:
        self.base = f"{node.url}/ocpi/2.2.1"
        self.http = httpx.Client(headers={"Authorization": authorization_header(token)}, timeout=10)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def __call__(self, method: str, path: str, body: Any = None, raw: bytes | None = None, **kw: Any) -> httpx.Response:
        content = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": "application/json"} if content is not None else {}
        headers.update(kw.pop("headers", {}))
        return self.http.request(method, self.base + path, content=content, headers=headers, **kw)


@pytest.fixture(scope="module")
def peer(node: Instance) -> Iterator[Client]:
    with Client(node, node.client_token("abc", [("DE", "ABC", "CPO"), ("DE", "ABE", "EMSP")])) as client:
        yield client


def location(loc_id: str = "LOC-1", **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(json.loads((DEMO / "locations.json").read_text())[0])
    doc.update(country_code="DE", party_id="ABC", id=loc_id, last_updated="2026-01-01T00:00:00Z")
    for evse in doc["evses"]:
        evse["last_updated"] = "2026-01-01T00:00:00Z"
    doc.update(changes)
    return doc


def ok(r: httpx.Response, http: int = 200) -> dict[str, Any]:
    body: dict[str, Any] = r.json()
    assert r.status_code == http and body["status_code"] == 1000, (r.status_code, body)
    return body


def error(r: httpx.Response, http: int, code: int, *words: str) -> str:
    body = r.json()
    assert (r.status_code, body["status_code"]) == (http, code), (r.status_code, body)
    assert "timestamp" in body
    message: str = body["status_message"]
    for w in words:
        assert w in message, message
    return message


LOC = "/receiver/locations/DE/ABC/LOC-1"


def stored(peer: Client, path: str = LOC) -> Any:
    return ok(peer("GET", path))["data"]


# --- authentication and transport ---------------------------------------------------------------------

def test_missing_and_unknown_tokens_get_401_with_envelope(node: Instance) -> None:
    url = f"{node.url}/ocpi/2.2.1/sender/locations"
    error(httpx.get(url), 401, 2000, "Authorization")
    error(httpx.get(url, headers={"Authorization": "Token nope"}), 401, 2000, "unknown")
    error(httpx.get(url, headers={"Authorization": "Bearer x"}), 401, 2000)


def test_raw_token_accepted_and_ids_echoed(node: Instance) -> None:
    raw_token = node.client_token("raw", [("BE", "RAW", "EMSP")])
    r = httpx.get(f"{node.url}/ocpi/versions/", headers={"Authorization": f"Token {raw_token}",
                                                          "X-Request-ID": "req-1", "X-Correlation-ID": "corr-1"})
    ok(r)
    assert r.headers["x-request-id"] == "req-1" and r.headers["x-correlation-id"] == "corr-1"


def test_unknown_endpoint_and_method_stay_in_envelope(peer: Client) -> None:
    error(peer("GET", "/nowhere"), 404, 2000)
    error(peer("DELETE", "/sender/locations"), 405, 2000)


def test_routing_headers_answered_in_reverse(peer: Client) -> None:
    r = peer("GET", "/sender/locations?limit=1", headers={
        "OCPI-from-country-code": "DE", "OCPI-from-party-id": "ABE", "OCPI-to-country-code": "NL", "OCPI-to-party-id": "EXA"})
    ok(r)
    assert (r.headers["ocpi-to-country-code"], r.headers["ocpi-to-party-id"]) == ("DE", "ABE")
    assert (r.headers["ocpi-from-country-code"], r.headers["ocpi-from-party-id"]) == ("NL", "EXA")


def test_pagination_headers_links_and_windows(peer: Client) -> None:
    r = peer("GET", "/sender/locations?limit=500")  # above the server's maximum of 50
    body = ok(r)
    assert len(body["data"]) == 50 and r.headers["x-limit"] == "50" and r.headers["x-total-count"] == "364"
    seen = [o["id"] for o in body["data"]]
    link = r.headers["link"]
    while link:
        url = link.split(";")[0].strip("<>")
        r = peer.http.get(url)
        seen += [o["id"] for o in ok(r)["data"]]
        link = r.headers.get("link", "")
    assert len(seen) == len(set(seen)) == 364
    docs = json.loads((DEMO / "locations.json").read_text())
    pivot = sorted(d["last_updated"] for d in docs)[100]
    before = ok(peer("GET", f"/sender/locations?date_to={pivot}&limit=50"))
    after = ok(peer("GET", f"/sender/locations?date_from={pivot}&limit=50"))
    total = int(peer("GET", f"/sender/locations?date_to={pivot}").headers["x-total-count"]) + \
        int(peer("GET", f"/sender/locations?date_from={pivot}").headers["x-total-count"])
    assert total == 364  # date_from inclusive, date_to exclusive: the windows never overlap (§1.5)
    assert all(o["last_updated"] < pivot for o in before["data"]) and all(o["last_updated"] >= pivot for o in after["data"])
    error(peer("GET", "/sender/locations?offset=minus"), 200, 2001, "offset")
    error(peer("GET", "/sender/locations?date_from=yesterday"), 200, 2001, "date_from")


def test_sender_object_levels(peer: Client) -> None:
    assert stored(peer, "/sender/locations/LOC-00001")["id"] == "LOC-00001"
    assert stored(peer, "/sender/locations/loc-00001/LOC-00001-1")["uid"] == "LOC-00001-1"
    assert stored(peer, "/sender/locations/LOC-00001/LOC-00001-1/1")["id"] == "1"
    error(peer("GET", "/sender/locations/LOC-99999"), 404, 2003, "LOC-99999")


# --- receiver PUT / PATCH -----------------------------------------------------------------------------

def test_put_is_idempotent_and_get_returns_what_was_put(peer: Client) -> None:
    doc = location(extra_field={"kept": True}, last_updated="2026-01-01T00:00:00.5")  # unknown field, lenient time
    ok(peer("PUT", LOC, doc), 201)
    served = {**doc, "last_updated": "2026-01-01T00:00:00.5Z"}  # date-times served as UTC with Z
    assert stored(peer) == served
    ok(peer("PUT", LOC, doc), 200)
    assert stored(peer) == served
    ok(peer("PUT", LOC.lower() + "/", doc), 200)  # CiString ids, trailing slash


def test_bad_bodies_leave_stored_data_unchanged(peer: Client) -> None:
    ok(peer("PUT", LOC, location()))
    before = stored(peer)
    error(peer("PUT", LOC, raw=b'{"id": "LOC-1",'), 400, 2000, "not valid JSON")
    error(peer("PUT", LOC, location(publish="yes")), 200, 2001, "$.publish")
    error(peer("PUT", LOC, location(city="x" * 46)), 200, 2001, "$.city", "45")
    error(peer("PUT", LOC, location(evses=[{"uid": "E1"}])), 200, 2001, "$.evses[0]")
    error(peer("PUT", LOC, location(country_code="NL", party_id="EXA")), 200, 2001, "country_code")
    error(peer("PUT", LOC, location(loc_id="LOC-2")), 200, 2001, "LOC-2")
    error(peer("PUT", LOC, raw=b""), 200, 2001, "empty")
    error(peer("PUT", LOC, location(directions=[{"language": "en", "text": "x" * MAX_BODY}])), 413, 2000, "too large")
    error(peer("PATCH", LOC, {"name": "no timestamp"}), 200, 2001, "last_updated")
    error(peer("PATCH", LOC, {"publish": 3, "last_updated": "2026-02-01T00:00:00Z"}), 200, 2001, "$.publish")
    assert stored(peer) == before


def test_unknown_objects_are_404_with_module_codes(peer: Client) -> None:
    error(peer("GET", "/receiver/locations/DE/ABC/NOPE"), 404, 2003, "NOPE")
    error(peer("PATCH", "/receiver/locations/DE/ABC/NOPE", {"name": "x", "last_updated": "2026-02-01T00:00:00Z"}),
          404, 2003)
    error(peer("GET", "/receiver/locations/DE/ABC/NOPE"), 404, 2003)  # the failed PATCH created nothing
    error(peer("GET", "/receiver/tariffs/DE/ABC/NOPE"), 404, 2000, "tariff")
    error(peer("GET", "/receiver/sessions/DE/ABC/NOPE"), 404, 2000, "session")
    error(peer("GET", "/receiver/locations/FR/XYZ/LOC-1"), 404, 2000, "FR*XYZ")  # not one of the peer's parties


def test_evse_and_connector_levels_bump_parents(peer: Client) -> None:
    doc = location("LOC-3")
    ok(peer("PUT", "/receiver/locations/DE/ABC/LOC-3", doc), 201)
    uid = doc["evses"][0]["uid"]
    ok(peer("PATCH", f"/receiver/locations/DE/ABC/LOC-3/{uid}", {"status": "CHARGING", "last_updated": "2026-03-01T10:00:00Z"}))
    got = stored(peer, "/receiver/locations/DE/ABC/LOC-3")
    assert got["evses"][0]["status"] == "CHARGING" and got["last_updated"] == "2026-03-01T10:00:00Z"
    new_evse = {k: v for k, v in doc["evses"][0].items() if k != "evse_id"}
    new_evse.update(uid="NEW-EVSE", last_updated="2026-03-02T00:00:00Z")
    ok(peer("PUT", "/receiver/locations/DE/ABC/LOC-3/NEW-EVSE", new_evse), 201)
    conn_id = new_evse["connectors"][0]["id"]
    ok(peer("PATCH", f"/receiver/locations/DE/ABC/LOC-3/NEW-EVSE/{conn_id}",
            {"max_amperage": 63, "last_updated": "2026-03-03T00:00:00Z"}))
    got = stored(peer, "/receiver/locations/DE/ABC/LOC-3")
    assert [e["uid"] for e in got["evses"]] == [uid, "NEW-EVSE"]
    assert got["evses"][1]["connectors"][0]["max_amperage"] == 63
    assert got["evses"][1]["last_updated"] == got["last_updated"] == "2026-03-03T00:00:00Z"
    assert stored(peer, f"/receiver/locations/DE/ABC/LOC-3/NEW-EVSE/{conn_id}")["max_amperage"] == 63
    error(peer("PATCH", "/receiver/locations/DE/ABC/LOC-3/NOPE", {"status": "CHARGING", "last_updated": "2026-03-04T00:00:00Z"}),
          404, 2003, "NOPE")
    # A location PATCH adds and changes EVSEs, never removes one (§1.6).
    ok(peer("PATCH", "/receiver/locations/DE/ABC/LOC-3", {"evses": [{"uid": uid, "status": "BLOCKED"}],
                                                         "last_updated": "2026-03-05T00:00:00Z"}))
    got = stored(peer, "/receiver/locations/DE/ABC/LOC-3")
    assert [(e["uid"], e["status"]) for e in got["evses"]] == [(uid, "BLOCKED"), ("NEW-EVSE", new_evse["status"])]


def _session(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "country_code": "DE", "party_id": "ABC", "id": "S-1", "start_date_time": "2026-03-01T10:00:00Z", "kwh": 1.5,
        "cdr_token": {"country_code": "NL", "party_id": "MSP", "uid": "T1", "type": "RFID", "contract_id": "NL-MSP-1"},
        "auth_method": "WHITELIST", "location_id": "LOC-1", "evse_uid": "E1", "connector_id": "1", "currency": "EUR",
        "status": "ACTIVE", "last_updated": "2026-03-01T10:05:00Z",
        "charging_periods": [{"start_date_time": "2026-03-01T10:00:00Z", "dimensions": [{"type": "ENERGY", "volume": 1.5}]}]}
    doc.update(changes)
    return doc


def test_session_patch_appends_charging_periods(peer: Client) -> None:
    path = "/receiver/sessions/DE/ABC/S-1"
    ok(peer("PUT", path, _session()), 201)
    period = {"start_date_time": "2026-03-01T10:05:00Z", "dimensions": [{"type": "ENERGY", "volume": 2.25}]}
    ok(peer("PATCH", path, {"kwh": 3.75, "charging_periods": [period], "last_updated": "2026-03-01T10:10:00Z"}))
    got = stored(peer, path)
    assert got["kwh"] == 3.75 and len(got["charging_periods"]) == 2 and got["charging_periods"][1] == period
    ok(peer("PATCH", path, {"charging_periods": [], "last_updated": "2026-03-01T10:11:00Z"}))
    assert len(stored(peer, path)["charging_periods"]) == 2  # empty list: no change
    ok(peer("PUT", path, _session(charging_periods=[])))
    assert stored(peer, path)["charging_periods"] == []  # PUT replaces them


def _push_tokens(emsp_peer: Client) -> None:
    token = {"country_code": "BE", "party_id": "EMP", "uid": "APP-1", "type": "APP_USER", "contract_id": "BE-EMP-1",
             "issuer": "EMP", "valid": True, "whitelist": "NEVER", "last_updated": "2026-03-01T00:00:00Z"}
    ok(emsp_peer("PUT", "/receiver/tokens/BE/EMP/APP-1?type=APP_USER", token), 201)
    error(emsp_peer("GET", "/receiver/tokens/BE/EMP/APP-1"), 404, 2004)  # type defaults to RFID
    assert stored(emsp_peer, "/receiver/tokens/BE/EMP/APP-1?type=APP_USER")["uid"] == "APP-1"
    error(emsp_peer("PUT", "/receiver/tokens/BE/EMP/APP-1?type=RFID", token), 200, 2001, "type")
    ok(emsp_peer("PATCH", "/receiver/tokens/BE/EMP/APP-1?type=APP_USER", {"valid": False, "last_updated": "2026-03-02T00:00:00Z"}))
    assert stored(emsp_peer, "/receiver/tokens/BE/EMP/APP-1?type=APP_USER")["valid"] is False


def test_tokens_by_type_and_realtime_authorize(node: Instance, peer: Client) -> None:
    # A peer's eMSP pushes its tokens to our CPO's Receiver; our eMSP NL*MSP answers authorize requests.
    with Client(node, node.client_token("emsp", [("BE", "EMP", "EMSP")])) as emsp_peer:
        _push_tokens(emsp_peer)
    ours = json.loads((DEMO / "tokens.json").read_text())
    valid = next(t for t in ours if t["valid"])
    info = ok(peer("POST", f"/sender/tokens/{valid['uid']}/authorize?type={valid['type']}",
                   {"location_id": "LOC-00001", "evse_uids": ["LOC-00001-1"]}))["data"]
    assert info["allowed"] == "ALLOWED" and info["token"] == valid and info["location"]["location_id"] == "LOC-00001"
    blocked = next(t for t in ours if not t["valid"])
    assert ok(peer("POST", f"/sender/tokens/{blocked['uid']}/authorize?type={blocked['type']}"))["data"]["allowed"] == "BLOCKED"
    r = peer("POST", "/sender/tokens/NO-SUCH-TOKEN/authorize")
    error(r, 404, 2004)
    assert "data" not in r.json()


def test_cdr_post_is_immutable(peer: Client) -> None:
    cdr = json.loads((DEMO / "cdrs.jsonl").read_text().splitlines()[0])
    cdr.update(country_code="DE", party_id="ABC", id="CDR-1")
    r = peer("POST", "/receiver/cdrs", cdr)
    ok(r, 201)
    assert r.headers["location"].endswith("/ocpi/2.2.1/receiver/cdrs/DE/ABC/CDR-1")
    assert peer.http.get(r.headers["location"]).json()["data"] == cdr
    ok(peer("POST", "/receiver/cdrs", cdr), 200)  # a retried push of the same CDR
    error(peer("POST", "/receiver/cdrs", {**cdr, "total_energy": 1}), 200, 2001, "immutable")
    error(peer("POST", "/receiver/cdrs", {**cdr, "id": "CDR-2", "charging_periods": []}), 200, 2001, "charging_periods")
    assert peer.http.get(r.headers["location"]).json()["data"] == cdr


def test_credentials_out_of_turn_and_openapi(node: Instance, peer: Client) -> None:
    error(peer("POST", "/credentials", {"token": "x", "url": "http://127.0.0.1:9/v", "roles": []}), 405, 2000, "already registered")
    creds = ok(peer("GET", "/credentials"))["data"]
    assert creds["url"].endswith("/ocpi/versions") and {r["role"] for r in creds["roles"]} == {"CPO", "EMSP"}
    schema = httpx.get(f"{node.url}/schema/openapi.json").json()
    assert "/ocpi/2.2.1/sender/locations" in schema["paths"]


def test_registration_callback_failure_is_3001_and_changes_nothing(node: Instance) -> None:
    token_a = node.cli("peer", "invite").stdout.split("token A:")[1].split()[0]
    headers = {"Authorization": authorization_header(token_a)}
    creds = {"token": "token-b-of-a-platform-that-is-down", "url": "http://127.0.0.1:9/ocpi/versions",
             "roles": [{"role": "EMSP", "party_id": "DWN", "country_code": "NL", "business_details": {"name": "Down"}}]}
    r = httpx.post(f"{node.url}/ocpi/2.2.1/credentials", json=creds, headers=headers)
    error(r, 200, 3001, "http://127.0.0.1:9/ocpi/versions")
    # Still invited: token A keeps working for versions, the peer has no parties and no token of its own.
    ok(httpx.get(node.versions_url, headers=headers))
    assert not node.query("SELECT 1 FROM peer_parties pp JOIN peers p ON p.id = pp.peer_id WHERE pp.party_id = 'DWN'")
    error(httpx.post(f"{node.url}/ocpi/2.2.1/credentials", content=b"{", headers=headers), 400, 2000, "not valid JSON")
    error(httpx.post(f"{node.url}/ocpi/2.2.1/credentials", json={**creds, "token": "has space"}, headers=headers),
          200, 2001, "$.token")
