-- A statement imported without a disclosure date (DART bulk files carry none) gets the
-- statutory deadline as disclosed_on; this marks it as an estimate.
ALTER TABLE financials ADD COLUMN disclosure_estimated boolean NOT NULL DEFAULT false;
