-- Every read of a secret document through the API (Thông tư 01/2019: access history is kept), for auditors.
CREATE TABLE secret_reads (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    user_id text NOT NULL,
    office_id text NOT NULL,
    document_id text NOT NULL,
    secrecy text NOT NULL,
    route text NOT NULL
);
CREATE INDEX secret_reads_document ON secret_reads (document_id, at);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vanthu_app') THEN
        GRANT SELECT, INSERT ON secret_reads TO vanthu_app;
        GRANT USAGE ON SEQUENCE secret_reads_id_seq TO vanthu_app;
    END IF;
END
$$;
