"""`/metrics` of a service with 2 Granian workers: the delivery counters are the sum over the workers (every
scrape, whichever worker answers, counts every delivery), the queue gauges come from PostgreSQL, and the
endpoint wants an operator key unless OCPI_ENGINE_METRICS_PUBLIC=1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.metrics import process
from tests.ops_receiver import Peer, receiving
from tests.service import Instance, serving, wait_for

DEMO = Path(__file__).parent.parent / "app" / "demo" / "data"
LOCATIONS = 20
REFUSED = "LOC-00002"


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def _total(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items()))


@pytest.fixture(scope="module")
def cpo(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Peer, int, str]]:
    root = tmp_path_factory.mktemp("metrics")
    few = root / "locations.json"
    few.write_text(json.dumps(json.loads((DEMO / "locations.json").read_text())[:LOCATIONS]))
    inst = Instance(pg_admin_dsn, root, "cpo_metrics", workers=2)
    with receiving() as peer, serving((inst, [("party", "add", "NL", "EXA", "CPO", "--name", "Example")])):
        peer.refuse = lambda path: path.endswith(REFUSED)
        peer_id = peer.register_at(inst, "msp")
        inst.cli("import", "locations", str(few), "--no-progress")
        wait_for(lambda: not inst.query("SELECT 1 FROM outbox WHERE state IN ('PENDING', 'SENDING')"), 60,
                 "the pushes to settle")
        key = inst.cli("apikey", "create", "--label", "prometheus").stdout.strip()
        yield inst, peer, peer_id, key


def test_families_labels_and_sums_over_workers(cpo: tuple[Instance, Peer, int, str]) -> None:
    inst, _, peer_id, key = cpo
    peer = str(peer_id)
    assert inst.query("SELECT state, count(*) AS n FROM outbox GROUP BY state ORDER BY state") == [
        ("DELIVERED", LOCATIONS - 1), ("REFUSED", 1)]
    for _ in range(8):  # answered by either worker: the same sums
        r = httpx.get(f"{inst.url}/metrics", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        s = _samples(r.text)
        assert _total(s, "ocpi_deliveries_total", peer=peer, module="locations", outcome="delivered") == LOCATIONS - 1
        assert _total(s, "ocpi_deliveries_total", peer=peer, module="locations", outcome="refused") == 1
        assert _total(s, "ocpi_delivery_latency_seconds_count", peer=peer, module="locations") == LOCATIONS - 1
        assert _total(s, "ocpi_delivery_latency_seconds_bucket", peer=peer, module="locations", le="+Inf") == LOCATIONS - 1
        assert s["ocpi_refused"] == [({"peer": peer, "module": "locations"}, 1.0)]
        assert s["ocpi_queue_depth"] == [({"peer": peer, "module": "locations"}, 0.0)]
        assert s["ocpi_peer_up"] == [({"peer": peer}, 1.0)]
        assert "ocpi_queue_oldest_age_seconds" not in s  # nothing waits


def test_coalesced_updates_are_summed_over_processes(tmp_path: Path) -> None:
    """Each process counts what it folded into waiting pushes; a scrape sums every process's count."""
    env = {**os.environ, process.ENV: str(tmp_path)}
    for n in (2, 3):
        subprocess.run([sys.executable, "-c", f"from app.outbox import metrics; metrics.coalesced(7, 'locations', {n})"],
                       env=env, check=True)
    text = subprocess.run([sys.executable, "-c", "import sys; from app.metrics import process; "
                                                 "sys.stdout.write(process.exposition().decode())"],
                          env=env, check=True, capture_output=True, text=True).stdout
    assert _samples(text)["ocpi_coalesced_total"] == [({"peer": "7", "module": "locations"}, 5.0)]


def test_waiting_pushes_and_an_offline_peer(cpo: tuple[Instance, Peer, int, str]) -> None:
    inst, _, peer_id, key = cpo
    # A push that waits (due in an hour) and the peer marked OFFLINE, as the engine records it.
    inst.query("""INSERT INTO outbox (peer_id, module, method, path, body, from_country_code, from_party_id,
                                      to_country_code, to_party_id, created_at, next_attempt_at)
                  VALUES ($1, 'tariffs', 'PUT', '/NL/EXA/T1', '{}', 'NL', 'EXA', 'NL', 'MSP', now() - interval '90 s',
                          now() + interval '1 hour')""", peer_id)
    # OFFLINE with the next probe an hour away: the engine leaves the waiting push alone meanwhile.
    inst.query("""INSERT INTO peer_delivery (peer_id, status, next_probe_at) VALUES ($1, 'OFFLINE', now() + interval '1 hour')
                  ON CONFLICT (peer_id) DO UPDATE SET status = 'OFFLINE', next_probe_at = EXCLUDED.next_probe_at""",
               peer_id)
    try:
        s = _samples(httpx.get(f"{inst.url}/metrics", headers={"Authorization": f"Bearer {key}"}).text)
        assert ({"peer": str(peer_id), "module": "tariffs"}, 1.0) in s["ocpi_queue_depth"]
        [(labels, age)] = s["ocpi_queue_oldest_age_seconds"]
        assert labels == {"peer": str(peer_id), "module": "tariffs"} and 90 <= age < 300
        assert s["ocpi_peer_up"] == [({"peer": str(peer_id)}, 0.0)]
    finally:
        inst.query("UPDATE peer_delivery SET status = 'CONNECTED', next_probe_at = NULL WHERE peer_id = $1", peer_id)
        inst.query("UPDATE outbox SET state = 'COALESCED' WHERE module = 'tariffs'")


def test_a_key_is_required_unless_public(cpo: tuple[Instance, Peer, int, str], pg_admin_dsn: str,
                                         tmp_path: Path) -> None:
    inst, _, _, _ = cpo
    r = httpx.get(f"{inst.url}/metrics")
    assert r.status_code == 401 and "operator API key" in r.json()["error"]
    r = httpx.get(f"{inst.url}/metrics", headers={"Authorization": "Bearer oek_wrong"})
    assert r.status_code == 401 and r.json() == {"error": "unknown or revoked operator API key"}
    public = Instance(pg_admin_dsn, tmp_path, "public_metrics", OCPI_ENGINE_METRICS_PUBLIC="1")
    with serving((public, [])):
        r = httpx.get(f"{public.url}/metrics")
        assert r.status_code == 200 and "# TYPE ocpi_queue_depth gauge" in r.text
