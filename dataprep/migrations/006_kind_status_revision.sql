-- What kind of security a stock is, KRX designations over time (DESIGN.md "Data model"), and
-- a revision counter every market-data write bumps (so an import that overwrites rows makes
-- a new data version even when counts and dates stay the same).
ALTER TABLE stocks ADD COLUMN kind text NOT NULL DEFAULT 'common'
    CHECK (kind IN ('common', 'preferred', 'spac', 'reit', 'other'));

CREATE TABLE stock_status (
    code        text NOT NULL REFERENCES stocks (code),
    status      text NOT NULL
        CHECK (status IN ('administrative', 'warning', 'caution', 'liquidation')),
    start_date  date NOT NULL,
    end_date    date NULL,
    PRIMARY KEY (code, status, start_date),
    CHECK (end_date IS NULL OR end_date >= start_date)
);

CREATE TABLE data_revision (
    id          integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    revision    bigint NOT NULL DEFAULT 0,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO data_revision DEFAULT VALUES;
