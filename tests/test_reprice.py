"""Re-rating stored CDRs (issue 10 §1, §4): `cdrs reprice` on the demo CPO's 500 CDRs, a new tariff version that
re-rates only the sessions after it, dry runs, bad CDRs, resuming a killed run and two workers sharing a run with
one of them killed (SIGKILL): every CDR priced exactly once. Real PostgreSQL, the CLI as subprocesses."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.demo.load import DATA
from tests.service import CLI, Instance, run, wait_for

DEMO_CDRS = 500


@pytest.fixture(scope="module")
def cpo(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    inst = Instance(pg_admin_dsn, tmp_path_factory.mktemp("reprice"), "reprice")
    inst.with_demo()
    yield inst
    inst.drop()


def reprice(inst: Instance, *args: str, check: bool = True) -> dict[str, Any]:
    out = inst.cli("cdrs", "reprice", "--no-progress", "--json", *args, check=check)
    return dict(json.loads(out.stdout))


def results(inst: Instance, run_id: int) -> list[asyncpg.Record]:
    return inst.query("SELECT seq, id, status, new_total, reason, tariff_ids, tariff_versions::text AS versions "
                      "FROM reprice_results WHERE run_id = $1 ORDER BY seq", run_id)


def start(inst: Instance, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*CLI, "cdrs", "reprice", "--no-progress", *args], env=inst.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def killed(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)


def last_run(inst: Instance) -> int:
    return int(inst.query("SELECT coalesce(max(id), 0) AS id FROM reprice_runs")[0]["id"])


def new_run(inst: Instance, previous: int) -> int:
    wait_for(lambda: last_run(inst) > previous, 30, "a new run")
    return last_run(inst)


def done_partitions(inst: Instance, run_id: int) -> int:
    return len(inst.query("SELECT 1 FROM reprice_partitions WHERE run_id = $1 AND state = 'DONE'", run_id))


def assert_exactly_once(inst: Instance, run_id: int) -> None:
    seqs = [r["seq"] for r in results(inst, run_id)]
    assert len(seqs) == len(set(seqs)) == DEMO_CDRS
    assert set(seqs) == {r["seq"] for r in inst.query("SELECT seq FROM cdrs")}
    assert inst.query("SELECT state FROM reprice_runs WHERE id = $1", run_id)[0]["state"] == "DONE"


def test_run_summary_on_demo_data(cpo: Instance) -> None:
    text = cpo.cli("cdrs", "reprice", "--no-progress").stdout
    first = text.splitlines()[0]
    assert f"DONE; {DEMO_CDRS} CDRs, {DEMO_CDRS} priced, 0 failed" in first, text
    assert "PARTY" in text and "NL*EXA  TRF-0016" in text
    summary = reprice(cpo)
    assert (summary["state"], summary["cdrs"], summary["priced"], summary["failed"]) == ("DONE", DEMO_CDRS, DEMO_CDRS, 0)
    # The demo CDRs' totals are not a rating of the demo tariffs: re-rating changes them, per tariff.
    assert summary["changed"] == sum(g["changed"] for g in summary["groups"]) > 0
    rows = results(cpo, summary["run"])
    assert len(rows) == DEMO_CDRS and {r["status"] for r in rows} == {"PRICED"}
    first_row = rows[0]
    assert json.loads(first_row["versions"])[0]["id"] == first_row["tariff_ids"][0]
    listed = cpo.cli("cdrs", "runs").stdout
    assert f"{summary['run']}  " in listed and "DONE" in listed


def test_dry_run_writes_no_results(cpo: Instance) -> None:
    summary = reprice(cpo, "--dry-run", "--tariff", "TRF-0016")
    assert summary["dry_run"] and summary["state"] == "DONE" and summary["priced"] > 0
    assert [g["tariff"] for g in summary["groups"]] == ["TRF-0016"]
    assert results(cpo, summary["run"]) == []
    assert "(dry)" in cpo.cli("cdrs", "runs").stdout


def test_no_breakdown_keeps_the_totals_only(cpo: Instance) -> None:
    full = reprice(cpo, "--tariff", "TRF-0016")
    bare = reprice(cpo, "--tariff", "TRF-0016", "--no-breakdown")
    assert (bare["priced"], bare["changed"]) == (full["priced"], full["changed"]) and bare["priced"] > 0

    def totals(run_id: int) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in cpo.query("SELECT seq, new_total, new_total_incl, change, tariff_ids, "
                                            "tariff_versions::text, breakdown IS NULL FROM reprice_results "
                                            "WHERE run_id = $1 ORDER BY seq", run_id)]

    assert [r[:-1] for r in totals(bare["run"])] == [r[:-1] for r in totals(full["run"])]
    assert {r[-1] for r in totals(bare["run"])} == {True} and {r[-1] for r in totals(full["run"])} == {False}
    out = cpo.cli("cdrs", "reprice", "--run", str(bare["run"]), "--no-breakdown", check=False)
    assert out.returncode == 2 and "--no-breakdown" in out.stderr


def test_bad_cdrs_are_reported_and_the_rest_priced(cpo: Instance) -> None:
    good = json.loads((DATA / "cdrs.jsonl").read_text().splitlines()[0])
    unknown = {**good, "id": "BAD-TARIFF", "charging_periods": [{**good["charging_periods"][0], "tariff_id": "NOPE"}]}
    broken = {**good, "id": "BAD-DATE", "start_date_time": "yesterday"}
    for doc in (unknown, broken):
        cpo.query("INSERT INTO cdrs (country_code, party_id, id, last_updated, emsp_country_code, emsp_party_id, data) "
                  "VALUES ('NL', 'EXA', $1, now(), 'NL', 'ELN', $2::text::json)", doc["id"], json.dumps(doc))
    try:
        summary = reprice(cpo, check=False)
        assert (summary["priced"], summary["failed"]) == (DEMO_CDRS, 2)
        reasons = {f["cdr"]: f["reason"] for f in summary["failures"]}
        assert "we hold no tariff NOPE of NL*EXA" in reasons["NL*EXA/BAD-TARIFF"]
        assert reasons["NL*EXA/BAD-DATE"].startswith("the CDR cannot be prepared: start_date_time: invalid DateTime")
        failed = {r["id"]: r["reason"] for r in results(cpo, summary["run"]) if r["status"] == "FAILED"}
        assert failed.keys() == {"BAD-TARIFF", "BAD-DATE"}
        out = cpo.cli("cdrs", "reprice", "--no-progress", check=False)
        assert out.returncode == 1 and "NL*EXA/BAD-TARIFF: we hold no tariff NOPE" in out.stdout
    finally:
        cpo.query("DELETE FROM cdrs WHERE id LIKE 'BAD-%'")


def test_interrupted_run_continues_with_run(cpo: Instance) -> None:
    previous = last_run(cpo)
    proc = start(cpo, "--partition-size", "50", "--batch", "10", "--pause", "0.05")
    run_id = new_run(cpo, previous)
    wait_for(lambda: done_partitions(cpo, run_id) >= 2, 60, "two partitions done")
    killed(proc)
    done = done_partitions(cpo, run_id)
    assert 2 <= done < 10 and cpo.query("SELECT state FROM reprice_runs WHERE id = $1", run_id)[0]["state"] == "RUNNING"
    assert len(results(cpo, run_id)) == done * 50  # the partition being priced when killed left nothing
    summary = reprice(cpo, "--run", str(run_id))
    assert (summary["state"], summary["priced"], summary["failed"]) == ("DONE", DEMO_CDRS, 0)
    assert_exactly_once(cpo, run_id)


def test_two_processes_share_a_run_one_killed(cpo: Instance) -> None:
    previous = last_run(cpo)
    a = start(cpo, "--partition-size", "25", "--batch", "5", "--pause", "0.05")
    run_id = new_run(cpo, previous)
    b = start(cpo, "--run", str(run_id), "--pause", "0.05")

    def both_claimed() -> bool:
        return len(cpo.query("SELECT DISTINCT claimed_by FROM reprice_partitions WHERE run_id = $1 AND claimed_by "
                             "IS NOT NULL", run_id)) >= 2

    wait_for(both_claimed, 60, "both workers holding partitions")
    killed(a)
    _, err = b.communicate(timeout=120)
    assert b.returncode == 0, err.decode()
    assert_exactly_once(cpo, run_id)
    taken_over = cpo.query("SELECT 1 FROM reprice_partitions WHERE run_id = $1 AND attempts > 1", run_id)
    assert len(taken_over) == 1  # the one A held when killed, priced again by B


def test_new_tariff_version_rerates_only_its_sessions(cpo: Instance, tmp_path: Path) -> None:
    before = reprice(cpo)
    tariff = next(t for t in json.loads((DATA / "tariffs.json").read_text()) if t["id"] == "TRF-0016")
    changed_at = "2026-07-15T00:00:00Z"
    for element in tariff["elements"]:
        for component in element["price_components"]:
            component["price"] = round(component["price"] * 2 + 0.1, 4)
    tariff["last_updated"] = changed_at
    path = tmp_path / "tariff.json"
    path.write_text(json.dumps([tariff]))
    cpo.cli("import", "tariffs", str(path), "--no-push")
    history = json.loads(cpo.cli("tariffs", "history", "TRF-0016", "--json").stdout)
    assert [v["last_updated"][:10] for v in history] == ["2024-12-06", "2026-07-15"]
    assert "2026-07-15T00:00:00+00:00" in cpo.cli("tariffs", "history", "TRF-0016", "--party", "NL/EXA").stdout

    after = reprice(cpo)
    affected = {r["id"] for r in cpo.query(
        "SELECT id FROM cdrs c WHERE (c.data->>'start_date_time')::timestamptz >= $1::text::timestamptz AND EXISTS "
        "(SELECT 1 FROM json_array_elements(c.data->'charging_periods') p WHERE p->>'tariff_id' = 'TRF-0016')",
        changed_at)}
    assert affected  # the demo has TRF-0016 sessions on both sides of the change
    diff = json.loads(cpo.cli("cdrs", "diff", str(before["run"]), str(after["run"]), "--json").stdout)
    assert {d["id"] for d in diff["cdrs"]} == affected
    assert all(float(d["difference"]) > 0 for d in diff["cdrs"])
    assert [(g["tariff"], g["cdrs"]) for g in diff["groups"]] == [("TRF-0016", len(affected))]
    # The summaries differ in that tariff's group only.
    groups = {g["tariff"]: g for g in before["groups"]}
    moved = [g["tariff"] for g in after["groups"] if g != groups[g["tariff"]]]
    assert moved == ["TRF-0016"]
    versions = {json.loads(r["versions"])[0]["last_updated"][:10] for r in results(cpo, after["run"])
                if r["tariff_ids"] == ["TRF-0016"]}
    assert versions == {"2024-12-06", "2026-07-15"}
    text = cpo.cli("cdrs", "diff", str(before["run"]), str(after["run"])).stdout
    assert text.startswith(f"runs {before['run']} -> {after['run']}: {len(affected)} CDRs differ")
    # Only the CDRs of one tariff after a date, as an operator would re-rate them.
    only = reprice(cpo, "--tariff", "TRF-0016", "--from", "2026-07-15")
    assert only["cdrs"] == len(affected)


def test_reprice_rejects_bad_arguments(cpo: Instance) -> None:
    out = cpo.cli("cdrs", "reprice", "--from", "someday", check=False)
    assert out.returncode != 0 and "--from 'someday': not a date" in out.stderr
    out = cpo.cli("cdrs", "reprice", "--run", "999999", check=False)
    assert out.returncode == 2 and "no re-rating run 999999" in out.stderr
    out = cpo.cli("tariffs", "history", "NOPE", check=False)
    assert out.returncode == 2 and "no stored version of tariff 'NOPE'" in out.stderr
