-- Accent-insensitive search over Vietnamese text ("quyet dinh" finds "quyết định") needs unaccent;
-- pgcrypto gives digest() for checking hashes inside SQL.
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
