-- The listing read model (issue 16): one narrow row per (office, document) with exactly what the office's
-- lists and search show and filter on, so an inbox page or a search page is an index scan of one office's
-- rows in the order shown (keyset cursors, no sort), and never touches the wide `documents` rows.
-- Indexes hold only columns that never (created_at, kind, office) or seldom (the searched text) change, so
-- the frequent updates (state, version, holder, updated_at) stay HOT. The search index is scoped by office
-- (btree_gin puts office_id in the same GIN index as the text). `documents` loses its own search column
-- and indexes: nothing reads them any more, and every event paid for them.
CREATE EXTENSION IF NOT EXISTS btree_gin;

ALTER FUNCTION public.vanthu_rm_create(text) RENAME TO vanthu_rm_create_0045;

CREATE FUNCTION public.vanthu_rm_listing(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    previous text := current_setting('search_path');
BEGIN
    PERFORM set_config('search_path', quote_ident(target) || ', public', true);
    DROP INDEX documents_search;
    DROP INDEX documents_number_code;
    ALTER TABLE documents DROP COLUMN search;

    CREATE TABLE listing (
        office_id text NOT NULL,          -- the office whose lists show it
        document_id text NOT NULL,
        relation text NOT NULL,           -- inbox | outbox | task | addressed
        document_office_id text,          -- the document's own office (the visibility rule judges it)
        kind text,
        state text NOT NULL,
        version integer NOT NULL,
        document_type text,
        summary text,
        title text,
        number_code text,
        issuing_body text,
        urgency text,
        secrecy text,
        secrecy_rank smallint NOT NULL,   -- Secrecy.rank of `secrecy`
        created_by text,
        incoming_number integer,
        outgoing_number integer,
        holder_unit text,
        holder_user text,
        source_office_id text,
        source_document_id text,
        created_at timestamptz,
        updated_at timestamptz,
        attachments text[] NOT NULL,      -- sha256 of every attached file: `q` also searches their text
        search tsvector GENERATED ALWAYS AS (
            to_tsvector('public.vn'::regconfig,
                coalesce(summary, '') || ' ' || coalesce(title, '') || ' ' ||
                coalesce(number_code, '') || ' ' || coalesce(issuing_body, ''))
        ) STORED,
        PRIMARY KEY (office_id, document_id)
    );
    -- newest first, all kinds and one kind: the order of every page
    CREATE INDEX listing_newest ON listing (office_id, created_at DESC, document_id DESC);
    CREATE INDEX listing_kind_newest ON listing (office_id, kind, created_at DESC, document_id DESC);
    CREATE INDEX listing_document ON listing (document_id);
    CREATE INDEX listing_search ON listing USING gin (office_id, search);
    CREATE INDEX listing_number_code
        ON listing (office_id, public.vn_unaccent(lower(number_code)) text_pattern_ops);
    CREATE INDEX listing_files ON listing USING gin (office_id, attachments);

    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vanthu_app') THEN
        EXECUTE format('GRANT SELECT ON %I.listing TO vanthu_app', target);
    END IF;
    PERFORM set_config('search_path', previous, true);
END
$fn$;

CREATE FUNCTION public.vanthu_rm_create(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM public.vanthu_rm_create_0045(target);
    PERFORM public.vanthu_rm_listing(target);
END
$fn$;

SELECT public.vanthu_rm_listing('rm');
-- What rm holds already, as processors/rows.py `listing_rows` writes it.
INSERT INTO rm.listing (office_id, document_id, relation, document_office_id, kind, state, version,
    document_type, summary, title, number_code, issuing_body, urgency, secrecy, secrecy_rank, created_by,
    incoming_number, outgoing_number, holder_unit, holder_user, source_office_id, source_document_id,
    created_at, updated_at, attachments)
SELECT o.office_id, d.id, o.relation, d.office_id, d.kind, d.state, d.version,
    d.document_type, d.summary, d.title, d.number_code, d.issuing_body, d.urgency, d.secrecy,
    CASE d.secrecy WHEN 'mat' THEN 1 WHEN 'toi_mat' THEN 2 WHEN 'tuyet_mat' THEN 3 ELSE 0 END, d.created_by,
    d.incoming_number, d.outgoing_number, d.holder_unit, d.holder_user, d.source_office_id,
    d.source_document_id, d.created_at, d.updated_at,
    ARRAY(SELECT a ->> 'sha256' FROM jsonb_array_elements(d.data -> 'attachments') WITH ORDINALITY AS x(a, n)
          ORDER BY n)
FROM rm.document_offices o JOIN rm.documents d ON d.id = o.document_id;
