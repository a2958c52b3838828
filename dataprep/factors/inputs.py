"""The columns factor expressions may read: the vocabulary of `FactorSpec.inputs`.

Price inputs live on the dense grid (one row per stock x trading day). Statement inputs
are built from `financials` and joined point in time (usable from the first trading day
strictly after `disclosed_on`):
- `<item>`: the latest statement's value (a quarter's flow, or a balance at period end);
- `<flow>_ttm`: the sum of the last four quarters (four consecutive quarters, else null);
- `<item>_lag4`: the value of the quarter four quarters before the latest one;
- `<flow>_ttm_lag4`: the TTM sum as of that quarter a year earlier.

Missing values stay null (the factor is NaN), with one exception, `ZERO_WHEN_MISSING`: a
dividend a statement leaves out was not paid, so it counts 0, but only when the loaded
statements carry dividends at all (some statement reports `dividends_per_share`). When no
statement reports one (dividends never imported), it stays null and every dividend factor
is NaN: unknown, not 0.
"""

from __future__ import annotations

from dataprep.tables import STATEMENT_ITEMS  # FLOW_ITEMS + BALANCE_ITEMS, in table order

PRICE_INPUTS: dict[str, str] = {
    "close": "adjusted close, carried over missing days while listed, null outside the listing",
    "volume": "shares traded (0 on a halted or missing day while listed)",
    "trading_value": "KRW traded (0 on a halted or missing day while listed)",
    "shares_outstanding": "shares outstanding, carried over missing days while listed",
    "returns": "close / previous trading day's close - 1",
    "market_return": "daily return of the stock's market index (KOSPI or KOSDAQ)",
    "day": "index of the trading day in the loaded calendar (0, 1, ...)",
}
FLOW_ITEMS: tuple[str, ...] = (
    "revenue",
    "gross_profit",
    "operating_income",
    "net_income",
    "operating_cash_flow",
    "capex",
    "depreciation",
    "interest_expense",
    "dividends_per_share",
)
BALANCE_ITEMS: tuple[str, ...] = (
    "total_assets",
    "total_liabilities",
    "total_equity",
    "current_assets",
    "current_liabilities",
    "cash",
    "total_debt",
)
# suffix -> consecutive quarters of statements it needs
STATEMENT_KINDS: dict[str, int] = {"": 1, "_ttm": 4, "_lag4": 5, "_ttm_lag4": 8}
# Left out of a statement: 0 (none paid), if any loaded statement reports the item at all;
# never imported (null in every loaded statement): null, so the factor is NaN.
ZERO_WHEN_MISSING = frozenset({"dividends_per_share"})


def _statement_names() -> dict[str, tuple[str, str]]:
    names: dict[str, tuple[str, str]] = {}
    for item in STATEMENT_ITEMS:
        for suffix in STATEMENT_KINDS:
            if "ttm" in suffix and item not in FLOW_ITEMS:
                continue
            names[item + suffix] = (item, suffix)
    return names


STATEMENT_INPUTS: dict[str, tuple[str, str]] = _statement_names()  # name -> (item, suffix)
INPUT_NAMES: frozenset[str] = frozenset(PRICE_INPUTS) | frozenset(STATEMENT_INPUTS)


def statement_quarters(name: str) -> int:
    """Consecutive quarters of statements an input needs (0 for a price input)."""
    if name not in STATEMENT_INPUTS:
        return 0
    return STATEMENT_KINDS[STATEMENT_INPUTS[name][1]]
