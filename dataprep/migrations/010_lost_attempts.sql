-- Claims lost with a dead dispatcher do not count against a run's max_attempts: `attempts`
-- stays the claim counter (every write after a claim names it, so it only grows), and
-- `lost_attempts` counts the claims given back because their dispatcher died.
ALTER TABLE runs ADD COLUMN lost_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE factor_reports ADD COLUMN lost_attempts integer NOT NULL DEFAULT 0;
