-- Service tables: API keys, runs and sweeps.
CREATE TABLE api_keys (
    key_id      text PRIMARY KEY,
    key_hash    text NOT NULL,
    owner       text NOT NULL CHECK (owner <> ''),
    is_admin    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz NULL
);

CREATE TABLE sweeps (
    id            uuid PRIMARY KEY,
    owner         text NOT NULL,
    spec          jsonb NOT NULL,
    rank_by       text NOT NULL,
    n_variants    integer NOT NULL CHECK (n_variants > 0),
    status        text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    data_version  text NULL,
    error         text NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz NULL
);
CREATE INDEX sweeps_owner_idx ON sweeps (owner, created_at DESC);

CREATE TABLE runs (
    id               uuid PRIMARY KEY,
    owner            text NOT NULL,
    sweep_id         uuid NULL REFERENCES sweeps (id) ON DELETE CASCADE,
    variant          integer NULL,
    spec             jsonb NOT NULL,
    status           text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    idempotency_key  text NULL,
    data_version     text NULL,
    engine_version   text NULL,
    attempts         integer NOT NULL DEFAULT 0,
    lease_until      timestamptz NULL,
    error            text NULL,
    statistics       jsonb NULL,
    result           jsonb NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz NULL,
    finished_at      timestamptz NULL,
    UNIQUE (owner, idempotency_key)
);
CREATE INDEX runs_queue_idx ON runs (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX runs_owner_idx ON runs (owner, created_at DESC);
CREATE INDEX runs_sweep_idx ON runs (sweep_id, variant);
