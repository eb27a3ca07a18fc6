-- The live feed per office (API: GET /v1/offices/{office}/feed, resumable with Last-Event-ID).
-- The processors write one row per change an office sees, in the same transaction as the read models.
-- Each office's seq is taken from its counter row, whose lock is held until commit, so an office's rows
-- become visible in seq order: a client resuming after seq N misses nothing committed later below N.
CREATE TABLE feed_counters (
    office_id text PRIMARY KEY,
    seq bigint NOT NULL
);

CREATE TABLE feed (
    office_id text NOT NULL,
    seq bigint NOT NULL,
    document_id text NOT NULL,
    version integer NOT NULL,
    type text NOT NULL,
    secrecy text,
    payload jsonb NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (office_id, seq)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vanthu_app') THEN
        GRANT SELECT ON feed TO vanthu_app;
    END IF;
END
$$;
