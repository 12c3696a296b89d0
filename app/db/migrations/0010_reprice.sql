-- Re-rating runs (issue 10 §1, §4): stored CDRs priced again with the tariff version in force at each session's
-- start. A run is cut into partitions (ranges of `cdrs.seq`) that workers on any machine claim with SKIP LOCKED;
-- a partition's results and its DONE are written in one transaction, so each CDR is priced once per run.

CREATE TABLE reprice_runs (
    id             bigserial PRIMARY KEY,
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    params         json NOT NULL,
    dry_run        boolean NOT NULL DEFAULT false,
    state          text NOT NULL DEFAULT 'RUNNING' CHECK (state IN ('RUNNING', 'DONE')),
    engine_version text NOT NULL,
    cdrs           bigint NOT NULL DEFAULT 0
);

-- PENDING -> CLAIMED (by a worker holding the session advisory lock (reprice LOCK_CLASS, claimed_by)) -> DONE.
-- A CLAIMED partition whose worker holds no such lock (it died) is PENDING again. `stats`: the partition's
-- counts per party and tariff, written with DONE (a dry run keeps only these).
CREATE TABLE reprice_partitions (
    run_id      bigint NOT NULL REFERENCES reprice_runs (id) ON DELETE CASCADE,
    first_seq   bigint NOT NULL,
    last_seq    bigint NOT NULL,
    cdrs        int NOT NULL,
    state       text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'CLAIMED', 'DONE')),
    claimed_by  bigint,
    claimed_at  timestamptz,
    attempts    int NOT NULL DEFAULT 0,
    finished_at timestamptz,
    stats       json,
    PRIMARY KEY (run_id, first_seq)
);
CREATE INDEX reprice_partitions_open ON reprice_partitions (run_id, first_seq) WHERE state <> 'DONE';

-- One row per CDR of a run: PRICED (new totals, breakdown, tariff versions used) or FAILED (reason).
-- old_total: the stored CDR's total_cost.excl_vat; change = new_total - old_total.
CREATE TABLE reprice_results (
    run_id          bigint NOT NULL REFERENCES reprice_runs (id) ON DELETE CASCADE,
    seq             bigint NOT NULL,
    country_code    text NOT NULL,
    party_id        text NOT NULL,
    id              text NOT NULL,
    status          text NOT NULL CHECK (status IN ('PRICED', 'FAILED')),
    currency        text,
    old_total       numeric,
    new_total       numeric,
    new_total_incl  numeric,
    change          numeric,
    tariff_ids      text[] NOT NULL DEFAULT '{}',
    tariff_versions json,
    breakdown       json,
    reason          text,
    engine_version  text NOT NULL,
    PRIMARY KEY (run_id, seq)
);
