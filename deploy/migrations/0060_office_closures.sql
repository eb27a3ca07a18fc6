-- The write side's index of closed offices (the OfficeClosed events themselves are on 'office:<id>'):
-- read when issuing (no delivery to a closed office), when creating (none in it) and by GET /v1/offices.
CREATE TABLE office_closures (
    office_id text PRIMARY KEY,
    closed_on date NOT NULL,
    successors text[] NOT NULL,          -- the first takes over its open documents
    basis text NOT NULL,
    position bigint NOT NULL,
    closed_at timestamptz NOT NULL
);

GRANT SELECT, INSERT ON office_closures TO vanthu_app;
