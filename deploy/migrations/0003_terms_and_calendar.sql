-- Số đi per (office, document type, committee term), HD 36-HD/VPTW: a counter's period is the calendar
-- year for số đến and the term's first day (ISO; '' for an office's first term) for số đi. Counters of
-- the former per-year outgoing series ('thuong', 'mat') keep their rows and are never taken from again.
ALTER TABLE register_counters ADD COLUMN period text;
UPDATE register_counters SET period = year::text;
ALTER TABLE register_counters ALTER COLUMN period SET NOT NULL;
ALTER TABLE register_counters DROP CONSTRAINT register_counters_pkey;
ALTER TABLE register_counters ALTER COLUMN year DROP NOT NULL;
ALTER TABLE register_counters ADD PRIMARY KEY (office_id, register, series, period);

-- The write side's index of two kinds of recorded acts (the events themselves are in `events`, on the
-- streams 'office:<id>' and 'calendar:<year>'): each office's committee terms, each published year.
CREATE TABLE office_terms (
    office_id text NOT NULL,
    starts_on date NOT NULL,
    label text NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (office_id, starts_on)
);

CREATE TABLE published_calendar (
    year integer PRIMARY KEY,
    body jsonb NOT NULL,                 -- the CalendarPublished event's data
    position bigint NOT NULL,
    published_at timestamptz NOT NULL
);

GRANT SELECT, INSERT, UPDATE ON office_terms, published_calendar TO vanthu_app;
