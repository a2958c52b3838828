-- Factor reports (DESIGN.md "Factor research"), durable like runs: queued by the API,
-- claimed under a lease by the dispatcher, computed as a Ray task against the registry's
-- panel, the result stored.
CREATE TABLE factor_reports (
    id uuid PRIMARY KEY,
    owner text NOT NULL,
    spec jsonb NOT NULL,
    data_version text NOT NULL,
    status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    lease_until timestamptz,
    error text,
    result jsonb,
    idempotency_key text,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    UNIQUE (owner, idempotency_key)
);
CREATE INDEX factor_reports_queue_idx ON factor_reports (created_at) WHERE status = 'queued';
CREATE INDEX factor_reports_lease_idx ON factor_reports (lease_until) WHERE status = 'running';
CREATE INDEX factor_reports_owner_idx ON factor_reports (owner, created_at DESC);
