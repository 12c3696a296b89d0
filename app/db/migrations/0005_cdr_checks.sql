-- The eMSP checks every CDR it receives (issue 8 §5): every version of every tariff we store, and one check per
-- received CDR. Both are written by triggers, so every writer (Receiver PUT/PATCH, pulls, imports, and what comes
-- later) records them in the transaction of its own write, and none can forget to.

-- Every version of every tariff we stored, ours and our peers': a CDR is checked against the version that was in
-- force when its session started. A DELETE of the tariff keeps its history.
CREATE TABLE tariff_versions (
    country_code text NOT NULL,
    party_id     text NOT NULL,
    id           text NOT NULL,
    last_updated timestamptz NOT NULL,
    peer_id      int,
    data         json NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (country_code, party_id, id, last_updated)
);

CREATE FUNCTION tariff_versions_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The same last_updated sent again with another document: the later one is what we stored.
    INSERT INTO tariff_versions (country_code, party_id, id, last_updated, peer_id, data)
    VALUES (NEW.country_code, NEW.party_id, NEW.id, NEW.last_updated, NEW.peer_id, NEW.data)
    ON CONFLICT (country_code, party_id, id, last_updated)
        DO UPDATE SET data = EXCLUDED.data, peer_id = EXCLUDED.peer_id, stored_at = now();
    RETURN NULL;
END $$;

CREATE TRIGGER tariffs_keep_versions AFTER INSERT OR UPDATE ON tariffs
    FOR EACH ROW EXECUTE FUNCTION tariff_versions_keep();

INSERT INTO tariff_versions (country_code, party_id, id, last_updated, peer_id, data)
SELECT country_code, party_id, id, last_updated, peer_id, data FROM tariffs;

-- One row per CDR a peer sent us (Receiver POST or a pull), re-priced off the request path by the checker
-- (app/checks/checker.py). PENDING until checked; then AGREED, DISPUTED (both breakdowns and the differences kept)
-- or UNVERIFIABLE (with the reason).
CREATE TABLE cdr_checks (
    country_code  text NOT NULL,
    party_id      text NOT NULL,
    id            text NOT NULL,
    status        text NOT NULL DEFAULT 'PENDING'
                  CHECK (status IN ('PENDING', 'AGREED', 'DISPUTED', 'UNVERIFIABLE')),
    currency      text,
    their_total   numeric,
    our_total     numeric,
    difference    numeric,
    reason        text,
    note          text,
    ours          json,
    theirs        json,
    differences   json,
    received_at   timestamptz NOT NULL DEFAULT now(),
    checked_at    timestamptz,
    PRIMARY KEY (country_code, party_id, id),
    FOREIGN KEY (country_code, party_id, id) REFERENCES cdrs (country_code, party_id, id) ON DELETE CASCADE
);
CREATE INDEX cdr_checks_pending ON cdr_checks (received_at) WHERE status = 'PENDING';
CREATE INDEX cdr_checks_status ON cdr_checks (status, received_at);

CREATE FUNCTION cdr_checks_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO cdr_checks (country_code, party_id, id) VALUES (NEW.country_code, NEW.party_id, NEW.id)
        ON CONFLICT DO NOTHING;
    ELSIF NEW.data::text IS DISTINCT FROM OLD.data::text THEN
        -- A peer's CDR re-pulled with other content is checked again.
        INSERT INTO cdr_checks (country_code, party_id, id) VALUES (NEW.country_code, NEW.party_id, NEW.id)
        ON CONFLICT (country_code, party_id, id) DO UPDATE SET
            status = 'PENDING', currency = NULL, their_total = NULL, our_total = NULL, difference = NULL,
            reason = NULL, note = NULL, ours = NULL, theirs = NULL, differences = NULL,
            received_at = now(), checked_at = NULL;
    ELSE
        RETURN NULL;
    END IF;
    PERFORM pg_notify('cdr_checks', '');
    RETURN NULL;
END $$;

-- Only CDRs of peers (peer_id set): the ones we issue ourselves are priced by us already.
CREATE TRIGGER cdrs_queue_checks AFTER INSERT OR UPDATE ON cdrs
    FOR EACH ROW WHEN (NEW.peer_id IS NOT NULL) EXECUTE FUNCTION cdr_checks_queue();

INSERT INTO cdr_checks (country_code, party_id, id)
SELECT country_code, party_id, id FROM cdrs WHERE peer_id IS NOT NULL;
