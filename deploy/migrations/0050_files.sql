-- The files the API has stored (POST /v1/files): their bytes are in the file store under sha256; this is
-- what the API knows of them. `attached_at` is set when a document first attaches one; an upload that no
-- document attaches within VANTHU_FILES_UNATTACHED_HOURS is collected (store and row).
CREATE TABLE files (
    sha256 text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size bigint NOT NULL,
    media_type text NOT NULL,
    name text NOT NULL,
    uploaded_by text NOT NULL,
    office_id text NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    attached_at timestamptz
);
CREATE INDEX files_unattached ON files (uploaded_at) WHERE attached_at IS NULL;

-- Which offices uploaded each file: an office attaches only bytes it uploaded itself (or that reached it
-- with a delivered document), so knowing another office's hash is not a way to read its file.
CREATE TABLE file_uploads (
    sha256 text NOT NULL REFERENCES files ON DELETE CASCADE,
    office_id text NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (sha256, office_id)
);

-- The text of each PDF, extracted by the processors off the request path, for `q` (accent-insensitive like
-- the documents' own search column). A file with no text layer (a scanned image) gets an empty vector.
CREATE TABLE file_texts (
    sha256 text PRIMARY KEY,
    extracted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    characters integer NOT NULL,
    search tsvector NOT NULL
);
CREATE INDEX file_texts_search ON file_texts USING gin (search);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vanthu_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON files, file_uploads TO vanthu_app;
        GRANT SELECT ON file_texts TO vanthu_app;
    END IF;
END
$$;
