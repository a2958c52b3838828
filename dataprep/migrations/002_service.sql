-- Service tables: API keys, sweeps and the durable run queue (serve/).
--
-- A run's life: queued -> running (claimed by the dispatcher, lease_until set, attempts + 1)
-- -> done | failed | cancelled. A running row whose lease expired goes back to queued (or to
-- failed once attempts reaches the limit). A sweep is one `sweeps` row plus one `runs` row per
-- variant; its status and progress are counted from those rows.
CREATE TABLE api_keys (
    key_id      text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{12}$'),
    key_hash    bytea NOT NULL CHECK (octet_length(key_hash) = 32),  -- sha256 of the secret
    owner       text NOT NULL CHECK (owner <> '' AND length(owner) <= 100),
    is_admin    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz NULL
);
CREATE INDEX api_keys_owner_idx ON api_keys (owner);

CREATE TABLE sweeps (
    id               uuid PRIMARY KEY,
    owner            text NOT NULL CHECK (owner <> ''),
    spec             jsonb NOT NULL,                       -- the SweepSpec as submitted
    n_variants       integer NOT NULL CHECK (n_variants > 0),
    idempotency_key  text NULL CHECK (length(idempotency_key) <= 200),
    data_version     text NOT NULL,                        -- validated against at submit
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (owner, idempotency_key)
);
CREATE INDEX sweeps_owner_idx ON sweeps (owner, created_at DESC);

CREATE TABLE runs (
    id               uuid PRIMARY KEY,
    owner            text NOT NULL CHECK (owner <> ''),
    sweep_id         uuid NULL REFERENCES sweeps (id) ON DELETE CASCADE,
    variant          integer NULL CHECK (variant >= 0),
    spec             jsonb NOT NULL,                       -- the StrategySpec that runs
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    idempotency_key  text NULL CHECK (length(idempotency_key) <= 200),
    data_version     text NOT NULL,                        -- the panel version it runs on
    engine_version   text NULL,                            -- set with the result
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    lease_until      timestamptz NULL,
    error            text NULL,
    statistics       jsonb NULL,
    result           jsonb NULL,                           -- BacktestResult (single runs only)
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz NULL,
    finished_at      timestamptz NULL,
    UNIQUE (owner, idempotency_key),
    CHECK ((sweep_id IS NULL) = (variant IS NULL)),
    CHECK (status <> 'running' OR lease_until IS NOT NULL),
    CHECK ((status IN ('done', 'failed', 'cancelled')) = (finished_at IS NOT NULL)),
    CHECK (status <> 'done' OR statistics IS NOT NULL)
);
-- The dispatcher's claim order: single runs before sweep variants, then oldest first.
CREATE INDEX runs_claim_idx ON runs ((sweep_id IS NOT NULL), created_at) WHERE status = 'queued';
CREATE INDEX runs_lease_idx ON runs (lease_until) WHERE status = 'running';
-- The per-owner limit on queued + running single runs.
CREATE INDEX runs_owner_active_idx ON runs (owner)
    WHERE status IN ('queued', 'running') AND sweep_id IS NULL;
CREATE INDEX runs_owner_idx ON runs (owner, created_at DESC, id DESC) WHERE sweep_id IS NULL;
CREATE UNIQUE INDEX runs_sweep_idx ON runs (sweep_id, variant) WHERE sweep_id IS NOT NULL;
