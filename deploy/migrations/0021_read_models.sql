-- The read models (processors/): rows derived from the events topic, a pure function of the log.
-- They live in one schema, `rm`, so a rebuild can fill a fresh schema from the first event while `rm`
-- keeps serving, then swap the two by renaming in one transaction. `vanthu_rm_create(schema)` is the one
-- definition of that schema's tables, used here and by every rebuild.
CREATE OR REPLACE FUNCTION public.vanthu_rm_create(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    previous text := current_setting('search_path');
BEGIN
    EXECUTE format('CREATE SCHEMA %I', target);
    PERFORM set_config('search_path', quote_ident(target) || ', public', true);

    -- One row per document: the folded state as jsonb (DocumentState.to_dict) plus what queries filter on.
    CREATE TABLE documents (
        id text PRIMARY KEY,
        kind text,
        office_id text,
        state text NOT NULL,
        version integer NOT NULL,
        document_type text,
        summary text,                 -- trích yếu
        title text,                   -- tasks
        number_code text,             -- số, ký hiệu
        issuing_body text,            -- cơ quan ban hành
        urgency text,
        secrecy text,
        holder_unit text,             -- lead of the open assignment
        holder_user text,
        incoming_number integer,      -- số đến
        register_name text,
        registered_on date,
        outgoing_number integer,      -- số đi
        series text,
        number_year integer,
        issued_on date,
        source_office_id text,        -- a delivered copy: where it came from
        source_document_id text,
        created_at timestamptz,
        created_by text,
        updated_at timestamptz,
        completed_at timestamptz,
        last_event_type text NOT NULL,
        data jsonb NOT NULL,
        search tsvector GENERATED ALWAYS AS (
            to_tsvector('public.vn'::regconfig,
                coalesce(summary, '') || ' ' || coalesce(title, '') || ' ' ||
                coalesce(number_code, '') || ' ' || coalesce(issuing_body, ''))
        ) STORED
    );
    CREATE INDEX documents_office ON documents (office_id, kind, state);
    CREATE INDEX documents_source ON documents (source_document_id) WHERE source_document_id IS NOT NULL;
    CREATE INDEX documents_search ON documents USING gin (search);
    CREATE INDEX documents_number_code ON documents (public.vn_unaccent(lower(number_code)) text_pattern_ops);

    -- Which offices see a document: its own office (inbox / outbox / tasks) and the offices it is addressed to.
    CREATE TABLE document_offices (
        office_id text NOT NULL,
        document_id text NOT NULL,
        relation text NOT NULL,       -- inbox | outbox | task | addressed
        created_at timestamptz,
        PRIMARY KEY (office_id, document_id)
    );
    CREATE INDEX document_offices_listing ON document_offices (office_id, relation, created_at DESC, document_id DESC);
    CREATE INDEX document_offices_document ON document_offices (document_id);

    -- Assignments and their due dates; whether one is due soon or overdue is computed when read.
    CREATE TABLE assignments (
        document_id text NOT NULL,
        assignment_id text NOT NULL,
        office_id text,
        lead_unit text,
        lead_user text,
        cooperating text[] NOT NULL,
        directive text NOT NULL,
        due_date date NOT NULL,
        assigned_at timestamptz NOT NULL,
        assigned_by text NOT NULL,
        completed_on date,
        completed_at timestamptz,
        ended_at timestamptz,
        superseded_by text,
        progress_percent integer NOT NULL,
        approaching_marked boolean NOT NULL,
        missed_marked boolean NOT NULL,
        PRIMARY KEY (document_id, assignment_id)
    );
    CREATE INDEX assignments_open ON assignments (office_id, due_date) WHERE ended_at IS NULL;
    CREATE INDEX assignments_completed ON assignments (office_id, completed_on) WHERE completed_on IS NOT NULL;

    -- Sổ đăng ký văn bản đến (with the columns of the sổ theo dõi giải quyết), NĐ 30 Phụ lục IV.
    CREATE TABLE incoming_register (
        document_id text PRIMARY KEY,
        office_id text NOT NULL,
        register_name text NOT NULL,
        year integer NOT NULL,
        number integer NOT NULL,      -- số đến
        received_on date,             -- ngày đến
        issuing_body text,            -- tác giả
        number_code text,             -- số, ký hiệu
        document_date date,           -- ngày tháng văn bản
        document_type text,           -- tên loại
        summary text,                 -- trích yếu
        secrecy text,
        urgency text,
        recipient text,               -- đơn vị hoặc người nhận
        handed_over_on date,          -- ngày chuyển
        due_date date,                -- thời hạn giải quyết
        progress text,                -- tiến độ giải quyết
        reply_number_code text,       -- số, ký hiệu văn bản trả lời
        note text                     -- ghi chú
    );
    CREATE INDEX incoming_register_order ON incoming_register (office_id, year, register_name, number);

    -- Sổ đăng ký văn bản đi.
    CREATE TABLE outgoing_register (
        document_id text PRIMARY KEY,
        office_id text NOT NULL,
        series text NOT NULL,
        year integer NOT NULL,
        number integer NOT NULL,      -- số đi
        number_code text,             -- số, ký hiệu
        issued_on date,               -- ngày tháng
        document_type text,           -- tên loại
        summary text,                 -- trích yếu
        secrecy text,
        signed_by text,               -- người ký
        recipients text[] NOT NULL,   -- nơi nhận
        archive_holder text,          -- đơn vị nhận bản lưu
        copies integer NOT NULL,      -- số lượng bản
        handed_over_on date,          -- ngày chuyển
        note text
    );
    CREATE INDEX outgoing_register_order ON outgoing_register (office_id, year, series, number);

    -- Each issued document × each recipient office, with the recipient copy's state as last reported.
    CREATE TABLE deliveries (
        source_document_id text NOT NULL,
        office_id text NOT NULL,
        source_office_id text,
        copy_document_id text,        -- null until the copy exists
        state text NOT NULL,          -- pending until delivered, then the copy's state
        updated_at timestamptz,
        PRIMARY KEY (source_document_id, office_id)
    );
    CREATE INDEX deliveries_copy ON deliveries (copy_document_id);
    CREATE INDEX deliveries_sender ON deliveries (source_office_id);

    -- Users granted a secret document.
    CREATE TABLE document_access (
        document_id text NOT NULL,
        user_id text NOT NULL,
        PRIMARY KEY (document_id, user_id)
    );
    CREATE INDEX document_access_user ON document_access (user_id);

    -- The partition offsets whose events these rows include, written in the same transaction as the rows.
    CREATE TABLE offsets (
        projection text NOT NULL,
        topic text NOT NULL,
        partition integer NOT NULL,
        "offset" bigint NOT NULL,     -- last consumed; the consumer resumes at offset + 1
        last_occurred_at timestamptz, -- occurred_at of the newest event applied from this partition
        updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (projection, topic, partition)
    );

    -- Records that could not be decoded or applied, and later events of a document stuck behind one.
    CREATE TABLE dead_letters (
        topic text NOT NULL,
        partition integer NOT NULL,
        "offset" bigint NOT NULL,
        document_id text,
        version integer,
        event_type text,
        reason text NOT NULL,         -- undecodable | unappliable | gap | blocked
        error text NOT NULL,
        key bytea,
        value bytea,
        headers jsonb NOT NULL,
        status text NOT NULL DEFAULT 'open',  -- open | resolved
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        resolved_at timestamptz,
        PRIMARY KEY (topic, partition, "offset")
    );
    CREATE INDEX dead_letters_open ON dead_letters (document_id) WHERE status = 'open';

    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vanthu_app') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO vanthu_app', target);
        EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO vanthu_app', target);
    END IF;
    PERFORM set_config('search_path', previous, true);
END
$fn$;

SELECT public.vanthu_rm_create('rm');

-- Side effects the projector owes (the delivery saga): written in the same transaction as the rows that
-- caused them, run afterwards through the write side, idempotently. Not a read model: a rebuild never
-- refills it, so it lives outside `rm`.
CREATE TABLE public.processor_tasks (
    id bigserial PRIMARY KEY,
    key text NOT NULL UNIQUE,          -- one task per fact, however often the event is seen
    kind text NOT NULL,                -- deliver | recipient_status
    payload jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending',  -- pending | done | failed
    attempts integer NOT NULL DEFAULT 0,
    error text,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    done_at timestamptz
);
CREATE INDEX processor_tasks_pending ON public.processor_tasks (id) WHERE status = 'pending';
