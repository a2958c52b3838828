"""Every catalog factor against its naive reference (`naive.py`) on the tiny market plus the
edge stocks (`tiny_market.py`), and every factor's declared inputs against what it reads.

Two panels of one database: all the data (each stock's lookback start, E's history before
its delisting) and one from day 270 (`START`, lookback loaded before it). Both must equal
the reference to float32 precision; a factor without a reference fails.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import dataprep
from dataprep.factors import CATALOG, FACTOR_NAMES, get_factor
from dataprep.panel import FactorPanel
from dataprep.schema import migrate
from tests.conftest import create_database, drop_database
from tests.dataprep.naive import REFERENCES, Inputs, reference
from tests.dataprep.tiny_market import (
    N_DAYS,
    START,
    Stock,
    day,
    edge_stocks,
    tiny_market,
    write_tiny_market,
)

RTOL = 1e-5  # the panel is float32
ATOL = 1e-12  # x / y - 1 where x == y: float64 rounding of rolling sums, not a value
GRID_KEYS = frozenset({"code", "day"})  # where a row sits: every per-stock window reads them
PHI, GAMMA = "000060", "000070"


@pytest.fixture(scope="module")
def market() -> dict[str, Stock]:
    return {**tiny_market(), **edge_stocks()}


@pytest.fixture(scope="module")
def panels(server_url: str, market: dict[str, Stock]) -> Iterator[dict[str, FactorPanel]]:
    url = create_database(server_url, prefix="qbt_ref")
    try:
        migrate(url)
        write_tiny_market(url, market)
        yield {
            "all": dataprep.build_panel(database_url=url),
            "window": dataprep.build_panel(database_url=url, start=day(START)),
        }
    finally:
        drop_database(server_url, url)


@pytest.fixture(scope="module")
def inputs(market: dict[str, Stock]) -> dict[str, Inputs]:
    return {code: Inputs.of(stock) for code, stock in market.items()}


def expected(name: str, market: dict[str, Stock], inputs: dict[str, Inputs]) -> np.ndarray:
    """[N_DAYS, stock] in code order."""
    codes = sorted(market)
    return np.stack([reference(name, market[c], inputs[c]) for c in codes], axis=1)


def mismatches(
    got: np.ndarray, want: np.ndarray, *, codes: np.ndarray, first_day: int
) -> list[tuple[str, int, float, float]]:
    close = np.isclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True)
    return [
        (str(codes[stock]), first_day + int(i), float(got[i, stock]), float(want[i, stock]))
        for i, stock in zip(*np.nonzero(~close), strict=True)
    ]


def test_every_catalog_factor_has_a_reference() -> None:
    assert set(REFERENCES) == set(FACTOR_NAMES)
    assert len(REFERENCES) == len(CATALOG) == 54


@pytest.mark.parametrize("name", FACTOR_NAMES)
def test_factor_matches_its_naive_reference(
    name: str,
    panels: dict[str, FactorPanel],
    market: dict[str, Stock],
    inputs: dict[str, Inputs],
) -> None:
    want = expected(name, market, inputs)
    assert np.isfinite(want).any(), "the reference never has a value: the market misses it"
    full, window = panels["all"], panels["window"]
    assert list(full.codes) == sorted(market) and full.n_days == N_DAYS
    wrong = mismatches(full.factor(name).astype(np.float64), want, codes=full.codes, first_day=0)
    assert not wrong, f"{len(wrong)} (code, day, got, want), first: {wrong[:5]}"
    in_window = np.isin(full.codes, window.codes)  # E delisted before START
    got = window.factor(name).astype(np.float64)
    wrong = mismatches(got, want[START:, in_window], codes=window.codes, first_day=START)
    assert not wrong, f"from START: {len(wrong)} (code, day, got, want), first: {wrong[:5]}"


@pytest.mark.parametrize("name", FACTOR_NAMES)
def test_declared_inputs_are_the_columns_the_expression_reads(name: str) -> None:
    """Up to the grid keys (`code`, `day`), which place a row rather than hold data."""
    spec = get_factor(name)
    read = set(spec.expr().meta.root_names())
    assert len(spec.inputs) == len(set(spec.inputs))
    assert set(spec.inputs) <= read, f"declared, never read: {set(spec.inputs) - read}"
    assert read - GRID_KEYS == set(spec.inputs) - GRID_KEYS, f"read: {sorted(read)}"


# ---- the cases the market must exercise, pinned by hand ------------------------------------


def at(panel: FactorPanel, name: str, code: str, i: int) -> float:
    return float(panel.factor(name)[i, list(panel.codes).index(code)])


def test_lookback_starts_halts_and_delisting(panels: dict[str, FactorPanel]) -> None:
    full = panels["all"]
    volume = full.factor("AVG_VOLUME_20D")[:, 3]  # D, listed on day 100
    assert np.flatnonzero(np.isfinite(volume))[0] == 100 + 19
    assert np.isnan(full.factor("MOM_12M")[:, 3]).all()
    assert at(full, "ZERO_VOLUME_DAYS_60D", "000020", 300) == 3  # two volume-0 rows, one gap
    for i in (249, 254):  # F: twenty untraded days, then no move over 14 days
        assert np.isnan(at(full, "AMIHUD_ILLIQ_20D", PHI, i))
        assert np.isnan(at(full, "RSI_14", PHI, i)) and at(full, "VOL_20D", PHI, i) == 0
    assert np.isfinite(at(full, "AMIHUD_ILLIQ_20D", PHI, 255))  # one traded day is enough
    assert np.isfinite(at(full, "PBR", GAMMA, 310)) and np.isnan(at(full, "PBR", GAMMA, 311))


def test_losses_negative_equity_and_missing_items(panels: dict[str, FactorPanel]) -> None:
    """F, day 240: the 2022-09-30 quarter (k=7) is the latest, TTM = k=4..7."""
    full = panels["all"]
    assert np.isnan(at(full, "PER", PHI, 240))  # TTM net income -79
    assert at(full, "EARNINGS_YIELD", PHI, 240) < 0
    assert np.isnan(at(full, "PBR", PHI, 240))  # equity -60
    assert np.isnan(at(full, "ROE", PHI, 240)) and np.isnan(at(full, "DEBT_TO_EQUITY", PHI, 240))
    assert at(full, "EV_EBITDA", PHI, 240) > 0  # EBITDA -13 + 16
    assert np.isnan(at(full, "EV_EBITDA", PHI, 200))  # k=6: EBITDA -63 + 16
    assert np.isnan(at(full, "EV_EBITDA", PHI, 60))  # k=4: depreciation of k=1 unreported
    assert np.isnan(at(full, "NI_GROWTH_YOY", PHI, 300))  # k=8 over k=4's loss
    assert at(full, "DPS_GROWTH", PHI, 240) == pytest.approx(25 / 30 - 1, rel=RTOL)
    cap = 1_000_000 * full.close[240, list(full.codes).index(PHI)]
    assert at(full, "FCF_YIELD", PHI, 240) == pytest.approx((-10 - 22) / cap, rel=RTOL)
    # NI>0 no, CFO>0 no, ROA up no, CFO>NI yes, leverage down no, current ratio up no,
    # no new shares no (25% more), gross margin up no (no revenue: no margin), turnover no
    assert at(full, "F_SCORE", PHI, 260) == 1


def test_statements_point_in_time_gaps_and_year_earlier(panels: dict[str, FactorPanel]) -> None:
    """G: no 2021-09-30 quarter; 2022-06-30 disclosed on 2022-11-25, after 2022-09-30
    (2022-11-14): until then the latest usable quarter is 2022-03-31 (j=3)."""
    full = panels["all"]
    g = list(full.codes).index(GAMMA)
    cap = full.close[:, g] * np.where(np.arange(N_DAYS) < 200, 600_000, 550_000)
    assert at(full, "PBR", GAMMA, 230) == pytest.approx(cap[230] / 1030, rel=RTOL)
    assert np.isnan(at(full, "PER", GAMMA, 230))  # four statements, not four quarters
    assert at(full, "PER", GAMMA, 240) == pytest.approx(cap[240] / (12 + 13 + 14 + 15), rel=RTOL)
    assert np.isnan(at(full, "REVENUE_GROWTH_YOY", GAMMA, 240))  # no quarter a year before
    assert at(full, "REVENUE_GROWTH_YOY", GAMMA, 200) == pytest.approx(230 / 200 - 1, rel=RTOL)
    assert np.isnan(at(full, "REVENUE_GROWTH_YOY", GAMMA, 300))  # 2022-12-31: disclosed today
    assert at(full, "REVENUE_GROWTH_YOY", GAMMA, 301) == pytest.approx(260 / 220 - 1, rel=RTOL)
    assert at(full, "DIVIDEND_YIELD", GAMMA, 240) == 0  # no dividend reported: none paid
    assert np.isnan(at(full, "INTEREST_COVERAGE", GAMMA, 240))  # no interest expense
