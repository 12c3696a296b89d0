-- The delivery engine (issue 9): order per object instead of per peer, coalescing of pending updates, outcome
-- classes (REFUSED is the peer's definite no; DEAD only for a peer we unregistered), claims by live instances,
-- and each peer's delivery status.

ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_state_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_state_check
    CHECK (state IN ('PENDING', 'SENDING', 'DELIVERED', 'REFUSED', 'COALESCED', 'DEAD'));

ALTER TABLE outbox
    ADD COLUMN object_key    text,         -- ordering key (queue.object_key); NULL: no ordering constraint
    ADD COLUMN coalesced     int NOT NULL DEFAULT 0,  -- updates folded into this row
    ADD COLUMN headers       jsonb,        -- extra request headers (copies, correlation id)
    ADD COLUMN url           text,         -- absolute URL instead of the peer's endpoint + path (hub responses)
    ADD COLUMN interface     text NOT NULL DEFAULT 'RECEIVER' CHECK (interface IN ('SENDER', 'RECEIVER')),
    ADD COLUMN claimed_by    int,          -- the engine instance sending it (holds advisory lock 0x0C91/claimed_by)
    ADD COLUMN claimed_at    timestamptz,
    ADD COLUMN first_sent_at timestamptz,
    ADD COLUMN latency_ms    double precision;  -- created_at -> delivered

-- Rows queued before this migration get their key, so they keep their order per object.
UPDATE outbox SET object_key = module || '/' || upper(array_to_string((string_to_array(split_part(path, '?', 1), '/'))[2:4], '/'))
    || CASE WHEN position('?' IN path) > 0 THEN '?' || split_part(path, '?', 2) ELSE '' END
WHERE state = 'PENDING' AND method <> 'POST' AND array_length(string_to_array(split_part(path, '?', 1), '/'), 1) >= 4;

DROP INDEX IF EXISTS outbox_pending;
-- Claims walk a peer's pending rows oldest first; the head test and coalescing look up one object's open rows.
CREATE INDEX outbox_pending ON outbox (peer_id, id) WHERE state = 'PENDING';
CREATE INDEX outbox_open_objects ON outbox (peer_id, object_key, id) WHERE state IN ('PENDING', 'SENDING');
CREATE INDEX outbox_sending ON outbox (peer_id) WHERE state = 'SENDING';

CREATE TABLE peer_delivery (
    peer_id         int PRIMARY KEY REFERENCES peers (id) ON DELETE CASCADE,
    status          text NOT NULL DEFAULT 'CONNECTED' CHECK (status IN ('CONNECTED', 'OFFLINE')),
    failures        int NOT NULL DEFAULT 0,       -- consecutive retryable failures
    since           timestamptz NOT NULL DEFAULT now(),
    last_success_at timestamptz,
    last_failure_at timestamptz,
    last_error      text,
    next_probe_at   timestamptz                   -- while OFFLINE: when the next single probe may go
);

ALTER TABLE peers ADD COLUMN delivery_window int CHECK (delivery_window IS NULL OR delivery_window > 0);
