-- Accent-insensitive full-text search for the read models (processors/): "quyet dinh" finds "quyết định",
-- and unaccent maps đ/Đ to d/D. unaccent() is only STABLE (it reads its dictionary by name through the
-- search path), so index expressions and generated columns go through an IMMUTABLE wrapper that names the
-- dictionary explicitly, and through the text search configuration `vn`, which unaccents each word before
-- the simple dictionary lowercases it.
CREATE OR REPLACE FUNCTION public.vn_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN public.unaccent('public.unaccent'::regdictionary, $1);

CREATE TEXT SEARCH CONFIGURATION public.vn (COPY = pg_catalog.simple);
ALTER TEXT SEARCH CONFIGURATION public.vn
    ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part, numword, numhword
    WITH public.unaccent, pg_catalog.simple;
