"""StrategySpec: what one backtest asks for (the HTTP body, the CLI file, the Ray job argument).

Field-level checks live here (pydantic `ValidationError` naming the field); checks that need
the data (factor names, dates) live in `backtest.validation.validate_against`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from runtime.names import Market

RebalanceRule = Literal["daily", "weekly", "monthly", "quarterly", "semiannual", "annual"]
Exclusion = Literal["preferred", "spac", "reit", "administrative", "warning", "caution",
                    "liquidation", "loss_making"]
KIND_EXCLUSIONS = ("preferred", "spac", "reit")  # by stocks.kind
STATUS_EXCLUSIONS = ("administrative", "warning", "caution", "liquidation")  # by stock_status
PRESETS: dict[str, tuple[Exclusion, ...]] = {
    "standard": ("preferred", "spac", "reit", "administrative", "warning", "liquidation"),
}
Weighting = Literal["equal", "market_cap", "inverse_vol"]

MAX_BPS = 1_000.0  # 10 %: anything above is a typo, not a cost
MAX_TOP_N = 5_000
MAX_REBALANCE_DAYS = 10_000

# Factors the engine reads itself (names in FactorPanel.factor_names).
MARKET_CAP = "MARKET_CAP"
AVG_TRADING_VALUE = "AVG_TRADING_VALUE_20D"
VOLATILITY = "VOL_60D"
EARNINGS = "EARNINGS_YIELD"  # TTM net income / market cap: <= 0 or unknown is loss-making
# The fields a rebalance's selection does not read: variants differing only in these share
# one selection plan (a sweep runs them together, `backtest.variants`).
SIMULATION_FIELDS = frozenset({
    "top_n", "hold_buffer", "max_weight", "costs", "initial_capital", "stop_loss",
    "take_profit", "delisting_return", "limit_lock", "benchmark", "risk_free_rate",
})


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


FactorName = Annotated[str, Field(min_length=1, max_length=100)]


class Universe(_Model):
    """Which stocks may be held at all."""

    markets: Literal["KOSPI", "KOSDAQ", "both"] = Field(
        default="both", description="Markets to trade: KOSPI, KOSDAQ or both."
    )
    exclude_sectors: list[str] = Field(
        default_factory=list, description="Sectors never held (exact sector names)."
    )
    min_market_cap: float | None = Field(
        default=None,
        ge=0,
        description=f"Minimum {MARKET_CAP} (KRW) on the signal day; null means no minimum.",
    )
    min_avg_trading_value: float | None = Field(
        default=None,
        ge=0,
        description=(
            f"Minimum {AVG_TRADING_VALUE} (KRW) on the signal day; null means no minimum."
        ),
    )
    exclude: list[Exclusion] = Field(
        default_factory=list,
        description=(
            "Never hold, judged on the signal day: preferred, spac, reit (by the stock's "
            "kind), administrative (관리종목), warning (투자경고/위험), caution (투자주의), "
            f"liquidation (정리매매) (by its KRX designations), loss_making ({EARNINGS} <= 0 "
            "or unknown: TTM net income <= 0 or none)."
        ),
    )
    preset: Literal["standard"] | None = Field(
        default=None,
        description=(
            "standard: exclude preferred, spac, reit, administrative, warning and "
            "liquidation (on top of `exclude`)."
        ),
    )

    def exclusions(self) -> frozenset[str]:
        """`exclude` and the preset's, together."""
        return frozenset(self.exclude) | frozenset(PRESETS.get(self.preset or "", ()))


class RangeFilter(_Model):
    """Keep stocks whose factor value on the signal day lies in [min, max] (inclusive)."""

    factor: FactorName = Field(description="Factor name, as listed by /v1/factors.")
    min: float | None = Field(default=None, description="Lowest value kept; null: no bound.")
    max: float | None = Field(default=None, description="Highest value kept; null: no bound.")

    @field_validator("max")
    @classmethod
    def _max_not_below_min(cls, value: float | None, info: ValidationInfo) -> float | None:
        low = info.data.get("min")
        if value is not None and low is not None and value < low:
            raise ValueError(f"max ({value}) is below min ({low})")
        return value

    @model_validator(mode="after")
    def _one_bound(self) -> RangeFilter:
        if self.min is None and self.max is None:
            raise ValueError(f'range filter on "{self.factor}" needs min or max')
        return self


Percent = Annotated[float, Field(gt=0, le=100)]


class PercentileFilter(_Model):
    """Keep the top (highest values) or bottom (lowest values) pct % of the stocks that pass
    every other eligibility rule; exactly one of `top_pct`, `bottom_pct`."""

    factor: FactorName = Field(description="Factor name, as listed by /v1/factors.")
    top_pct: Percent | None = Field(
        default=None, description="Keep this percentage (0, 100] of highest values."
    )
    bottom_pct: Percent | None = Field(
        default=None, description="Keep this percentage (0, 100] of lowest values."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> PercentileFilter:
        if (self.top_pct is None) == (self.bottom_pct is None):
            raise ValueError(
                f'percentile filter on "{self.factor}" needs exactly one of top_pct, bottom_pct'
            )
        return self


def _filter_kind(value: Any) -> str | None:
    """"percentile" or "range" by the keys present; None (a validation error naming the
    item) for anything that is not an object."""
    if isinstance(value, dict):
        keys = set(value)
    elif isinstance(value, BaseModel):
        keys = set(type(value).model_fields)
        keys = {k for k in keys if getattr(value, k, None) is not None}
    else:
        return None
    return "percentile" if {"top_pct", "bottom_pct"} & keys else "range"


Filter = Annotated[
    Annotated[RangeFilter, Tag("range")] | Annotated[PercentileFilter, Tag("percentile")],
    Discriminator(_filter_kind),
]


class RankTerm(_Model):
    """One term of the score: weight x percentile rank of the factor among eligible stocks."""

    factor: FactorName = Field(description="Factor name, as listed by /v1/factors.")
    weight: float = Field(default=1.0, gt=0, le=1_000, description="Weight in the score (> 0).")
    ascending: bool = Field(
        default=False, description="True: lower values are better (uses 1 - percentile)."
    )


class SellTax(_Model):
    """Securities transaction tax in force from `effective` on one market."""

    effective: date = Field(description="First trade date (inclusive) this rate applies to.")
    market: Market = Field(description="Market the rate applies to.")
    bps: float = Field(ge=0, le=MAX_BPS, description="Tax on the sold value, in basis points.")


def statutory_sell_tax() -> list[SellTax]:
    """The KRX securities transaction tax totals (incl. rural special tax) per market, each
    from the first trade date that settles (T+2) on or after its effective date
    (`backtest.tax`, with its sources)."""
    from backtest.tax import statutory_schedule

    return [
        SellTax(effective=day, market=market, bps=bps)  # type: ignore[arg-type]
        for day, market, bps in statutory_schedule()
    ]


class Costs(_Model):
    """Trading costs, all in basis points of the traded value."""

    commission_bps: float = Field(
        default=1.5, ge=0, le=MAX_BPS, description="Commission on buys and sells."
    )
    slippage_bps: float = Field(
        default=0.0, ge=0, le=MAX_BPS, description="Slippage on buys and sells."
    )
    sell_tax: list[SellTax] = Field(
        default_factory=statutory_sell_tax,
        description=(
            "Sell-only tax schedule per market: a sale on trade date d pays the entry with the "
            "latest effective <= d (0 before the first). Defaults to the statutory KRX totals "
            "since 1996 (0.30 % until the 2019 cut), each from the first trade date settling "
            "(T+2) on or after the date it took effect."
        ),
    )

    @field_validator("sell_tax")
    @classmethod
    def _no_duplicates(cls, value: list[SellTax]) -> list[SellTax]:
        seen: set[tuple[date, str]] = set()
        for entry in value:
            key = (entry.effective, entry.market)
            if key in seen:
                raise ValueError(f"two sell_tax entries for {entry.market} on {entry.effective}")
            seen.add(key)
        return value


RebalanceEvery = Annotated[int, Field(strict=True, ge=1, le=MAX_REBALANCE_DAYS)]
Month = Annotated[int, Field(strict=True, ge=1, le=12)]


class MonthsSchedule(_Model):
    """Fixed months: the `day`-th trading day (1-based) of each listed month, e.g. after the
    disclosure deadlines ({"months": [4, 6, 9, 12], "day": 1})."""

    months: list[Month] = Field(min_length=1, max_length=12, description="Months, 1-12.")
    day: int = Field(default=1, ge=1, le=23, description="Trading day of the month, 1-based.")

    @field_validator("months")
    @classmethod
    def _distinct(cls, months: list[int]) -> list[int]:
        if len(set(months)) != len(months):
            raise ValueError(f"months {months} repeat a month")
        return sorted(months)


class Timing(_Model):
    """Market timing: invested only while on. An index trend ({"index", "ma_days"}: on while
    index(d-1) >= its ma_days-day mean at d-1), a season ({"months"}: on in those months),
    or both (on when both are)."""

    index: Market | None = Field(default=None, description="Index of the trend rule.")
    ma_days: int | None = Field(
        default=None, ge=2, le=1000, description="Days of the index's moving average."
    )
    months: list[Month] | None = Field(
        default=None, min_length=1, max_length=12, description="Months invested, 1-12."
    )

    @model_validator(mode="after")
    def _a_rule(self) -> Timing:
        if (self.index is None) != (self.ma_days is None):
            raise ValueError("timing needs both index and ma_days for the trend rule")
        if self.index is None and self.months is None:
            raise ValueError("timing needs index and ma_days, months, or both")
        return self


class StrategySpec(_Model):
    """A factor strategy and its backtest window; see DESIGN.md, "Backtest semantics"."""

    start: date = Field(description="First calendar day of the run (inclusive).")
    end: date = Field(description="Last calendar day of the run (inclusive).")
    universe: Universe = Field(
        default_factory=Universe, description="Markets, sectors and liquidity minimums."
    )
    filters: list[Filter] = Field(
        default_factory=list,
        description=(
            "Eligibility filters on signal-day values: {factor, min, max} ranges and "
            "{factor, top_pct} / {factor, bottom_pct} percentiles."
        ),
    )
    ranking: list[RankTerm] = Field(
        min_length=1, description="Score terms; the top_n highest scores are bought."
    )
    top_n: int = Field(ge=1, le=MAX_TOP_N, description="Number of stocks to hold.")
    weighting: Weighting = Field(
        default="equal",
        description=(
            f"equal; market_cap (proportional to {MARKET_CAP}); "
            f"inverse_vol (proportional to 1/{VOLATILITY})."
        ),
    )
    rebalance: RebalanceRule | RebalanceEvery | MonthsSchedule = Field(
        default="monthly",
        description=(
            "daily, weekly (first trading day of each ISO week), monthly, quarterly (Jan, "
            "Apr, Jul, Oct), semiannual (Jan, Jul), annual (Jan), every N trading days from "
            'the first, or {"months": [...], "day": k}: the k-th trading day of each listed '
            "month."
        ),
    )
    hold_buffer: int = Field(
        default=0, ge=0, le=MAX_TOP_N,
        description=(
            "A held, eligible stock ranked within top_n + hold_buffer is kept; the other "
            "slots go to the best-ranked stocks not held (cuts turnover)."
        ),
    )
    limit_lock: bool = Field(
        default=True,
        description=(
            "A close within 0.5 points of the +30 % limit cannot be bought or added to, "
            "one within 0.5 points of -30 % cannot be sold or reduced (it keeps its value "
            "that day, as a halted one does)."
        ),
    )
    timing: Timing | None = Field(
        default=None,
        description=(
            "Market timing; on the day it turns off every position is sold at the close, "
            "while off nothing is bought, and the first day on again is a rebalance day."
        ),
    )
    costs: Costs = Field(default_factory=Costs, description="Commission, slippage, sell tax.")
    initial_capital: float = Field(
        default=100_000_000.0, gt=0, le=1e15, description="Starting cash in KRW."
    )
    benchmark: Market = Field(default="KOSPI", description="Index the result is compared with.")
    max_weight: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Cap on each position's share of the budget; the excess stays in cash.",
    )
    stop_loss: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description=(
            "Sell a position whose close falls this fraction below its entry price "
            "(0.1 = -10%), at the next trading day's close."
        ),
    )
    take_profit: float | None = Field(
        default=None,
        gt=0,
        le=100,
        description=(
            "Sell a position whose close rises this fraction above its entry price "
            "(0.1 = +10%), at the next trading day's close."
        ),
    )
    delisting_return: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Haircut on a delisted holding's last close: sold at close x (1 - this).",
    )
    risk_free_rate: float = Field(
        default=0.0, ge=-1, le=1, description="Annual risk-free rate for Sharpe, Sortino, alpha."
    )

    @field_validator("end")
    @classmethod
    def _end_not_before_start(cls, value: date, info: ValidationInfo) -> date:
        start = info.data.get("start")
        if start is not None and value < start:
            raise ValueError(f'end "{value}" is before start "{start}"')
        return value

    def factors_used(self) -> dict[str, str]:
        """Factor name -> the first spec field that uses it (for messages)."""
        used: dict[str, str] = {}
        if self.universe.min_market_cap is not None:
            used.setdefault(MARKET_CAP, "universe.min_market_cap")
        if self.universe.min_avg_trading_value is not None:
            used.setdefault(AVG_TRADING_VALUE, "universe.min_avg_trading_value")
        for i, item in enumerate(self.filters):
            used.setdefault(item.factor, f"filters[{i}].factor")
        for i, term in enumerate(self.ranking):
            used.setdefault(term.factor, f"ranking[{i}].factor")
        if self.weighting == "market_cap":
            used.setdefault(MARKET_CAP, "weighting")
        elif self.weighting == "inverse_vol":
            used.setdefault(VOLATILITY, "weighting")
        if "loss_making" in self.universe.exclusions():
            used.setdefault(EARNINGS, "universe.exclude")
        return used
