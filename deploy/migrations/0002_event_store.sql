-- The event store (producers/): append-only, one hash chain per document, anchors over blocks of global
-- positions, an outbox the relay drains, snapshots, idempotency keys, register counters.

-- The services' own role: it may append and read events but never change or delete them. Roles are
-- cluster-wide, so another database of the same cluster may have created it already.
DO $$
BEGIN
    CREATE ROLE vanthu_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- Positions come from a sequence, so they can have holes (a rolled-back append burns its values) and
-- concurrent appends commit out of position order: the relay and the anchors are built for both.
CREATE SEQUENCE events_position_seq AS bigint;

CREATE TABLE events (
    position bigint PRIMARY KEY DEFAULT nextval('events_position_seq'),
    stream_id text NOT NULL,             -- the document id
    version integer NOT NULL CHECK (version >= 1),
    event_id uuid NOT NULL UNIQUE,
    type text NOT NULL,
    schema_version integer NOT NULL,
    occurred_at timestamptz NOT NULL,
    body bytea NOT NULL,                 -- Envelope.canonical_bytes(): what is hashed and published, verbatim
    prev_hash bytea NOT NULL,            -- hash of the previous event of this document (32 zero bytes at v1)
    hash bytea NOT NULL,                 -- sha256(prev_hash || body)
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (stream_id, version)
);
ALTER SEQUENCE events_position_seq OWNED BY events.position;

-- Anchor k covers every position in [first_position, last_position]; `skipped` lists the positions in
-- that range that held no event when it was written (rolled-back appends). Its hash chains to anchor k-1
-- and covers (position, event hash) of every event in the block, so a deleted document is detected.
CREATE TABLE anchors (
    seq bigint PRIMARY KEY CHECK (seq >= 1),
    first_position bigint NOT NULL UNIQUE,
    last_position bigint NOT NULL,
    event_count integer NOT NULL,
    skipped bigint[] NOT NULL DEFAULT '{}',
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (last_position >= first_position)
);

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Defence in depth behind the grants: even the owner must disable these triggers to tamper.
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER anchors_append_only BEFORE UPDATE OR DELETE ON anchors
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER anchors_no_truncate BEFORE TRUNCATE ON anchors
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Positions appended but not yet acknowledged by Kafka: written in the appending transaction, deleted by
-- the relay after acks=all. A transaction that commits late simply shows up here late; nothing is skipped.
CREATE TABLE outbox (
    position bigint PRIMARY KEY
);

-- DocumentState.to_dict() every 100 events, so a long stream loads from its latest snapshot.
CREATE TABLE snapshots (
    stream_id text NOT NULL,
    version integer NOT NULL,
    state jsonb NOT NULL,
    hash bytea NOT NULL,                 -- hash of the event at `version`
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (stream_id, version)
);

CREATE TABLE idempotency_keys (
    key text PRIMARY KEY,
    request_hash bytea NOT NULL,
    document_id text NOT NULL,
    version integer NOT NULL,            -- the document's version after the first write
    position bigint NOT NULL,
    warnings jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- số đến per (office, register, year), số đi per (office, year); secret documents on series 'mat'.
CREATE TABLE register_counters (
    office_id text NOT NULL,
    register text NOT NULL CHECK (register IN ('incoming', 'outgoing')),
    series text NOT NULL,
    year integer NOT NULL,
    last_number integer NOT NULL CHECK (last_number >= 1),
    PRIMARY KEY (office_id, register, series, year)
);

-- Incoming documents received per office, to warn on duplicates (same issuing body, số ký hiệu, date).
CREATE TABLE incoming_received (
    document_id text PRIMARY KEY,
    office_id text NOT NULL,
    issuing_body_key text NOT NULL,
    number_code_key text NOT NULL,
    document_date date NOT NULL
);
CREATE INDEX incoming_received_lookup ON incoming_received (office_id, number_code_key, document_date);

GRANT USAGE ON SCHEMA public TO vanthu_app;
GRANT SELECT, INSERT ON events, anchors, snapshots, idempotency_keys, incoming_received TO vanthu_app;
GRANT SELECT, INSERT, DELETE ON outbox TO vanthu_app;
GRANT SELECT, INSERT, UPDATE ON register_counters TO vanthu_app;
GRANT USAGE, SELECT ON SEQUENCE events_position_seq TO vanthu_app;
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO vanthu_app', current_database());
END
$$;
