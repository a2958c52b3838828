-- Market data: the source of truth every panel is built from.
CREATE TABLE stocks (
    code         text PRIMARY KEY CHECK (code <> ''),
    name         text NOT NULL,
    market       text NOT NULL CHECK (market IN ('KOSPI', 'KOSDAQ')),
    sector       text NOT NULL,
    listed_on    date NOT NULL,
    delisted_on  date NULL,
    CHECK (delisted_on IS NULL OR delisted_on >= listed_on)
);

CREATE TABLE stock_prices (
    code                text NOT NULL REFERENCES stocks (code),
    date                date NOT NULL,
    open                double precision NOT NULL CHECK (open > 0),
    high                double precision NOT NULL,
    low                 double precision NOT NULL CHECK (low > 0),
    close               double precision NOT NULL CHECK (close > 0),
    volume              bigint NOT NULL CHECK (volume >= 0),
    trading_value       double precision NOT NULL CHECK (trading_value >= 0),
    shares_outstanding  bigint NOT NULL CHECK (shares_outstanding > 0),
    PRIMARY KEY (code, date),
    CHECK (high >= low),
    CHECK (high >= open AND high >= close AND low <= open AND low <= close)
);
CREATE INDEX stock_prices_date_idx ON stock_prices (date);

CREATE TABLE financials (
    code                 text NOT NULL REFERENCES stocks (code),
    period_end           date NOT NULL,
    fiscal_quarter       smallint NOT NULL CHECK (fiscal_quarter BETWEEN 1 AND 4),
    disclosed_on         date NOT NULL,
    revenue              double precision,
    gross_profit         double precision,
    operating_income     double precision,
    net_income           double precision,
    total_assets         double precision,
    total_liabilities    double precision,
    total_equity         double precision,
    current_assets       double precision,
    current_liabilities  double precision,
    cash                 double precision,
    total_debt           double precision,
    operating_cash_flow  double precision,
    capex                double precision,
    depreciation         double precision,
    interest_expense     double precision,
    dividends_per_share  double precision,
    PRIMARY KEY (code, period_end),
    CHECK (disclosed_on >= period_end)
);
CREATE INDEX financials_disclosed_on_idx ON financials (disclosed_on);

CREATE TABLE index_prices (
    index_code  text NOT NULL CHECK (index_code IN ('KOSPI', 'KOSDAQ')),
    date        date NOT NULL,
    close       double precision NOT NULL CHECK (close > 0),
    PRIMARY KEY (index_code, date)
);
