-- Refused pushes, read per peer and module by `/metrics` at every scrape and by `outbox show`, without a scan of
-- the delivered history.
CREATE INDEX outbox_refused ON outbox (peer_id, module) WHERE state = 'REFUSED';
