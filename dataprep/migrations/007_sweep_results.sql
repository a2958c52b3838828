-- Sweeps at the speed of the hardware (DESIGN.md "Sweeps: speed, walk-forward, overfitting").
-- A variant's daily returns (float32, little-endian: 1 KB a year) feed the overfitting
-- statistics and walk-forward; `spec_hash` (of the canonical spec) lets a run reuse an equal
-- finished run's result, and `reused_from` says which one; a sweep keeps its summary.
ALTER TABLE runs ADD COLUMN daily_returns bytea;
ALTER TABLE runs ADD COLUMN spec_hash text;
ALTER TABLE runs ADD COLUMN reused_from uuid;
CREATE INDEX runs_reuse_idx ON runs (spec_hash) WHERE status = 'done';
-- A sweep variant's selection-plan group (variants of one group differ only in fields the
-- selection does not read); variants are claimed group by group, so that a batch holds
-- variants that share one plan.
ALTER TABLE runs ADD COLUMN plan_group integer;
DROP INDEX runs_claim_idx;
CREATE INDEX runs_claim_idx ON runs ((sweep_id IS NOT NULL), created_at, plan_group, variant)
    WHERE status = 'queued';
ALTER TABLE sweeps ADD COLUMN summary jsonb;
