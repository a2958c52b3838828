"""Factor research: hand-worked values on tiny panels, and the same numbers as
alphalens-reloaded where the definitions agree (to 1e-9)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from backtest.research import (
    MIN_STOCKS,
    ForwardReturns,
    ResearchError,
    daily_statistics,
    factor_report,
    forward_returns,
    ranks_within_days,
)
from tests.backtest.toy import toy_panel

N = MIN_STOCKS + 5  # 25 stocks: an IC needs 20


def _panel(n_days: int = 12, *, close=None, factors=None, **fields):
    steps = np.linspace(-0.02, 0.02, N)  # stock i grows by steps[i] a day
    prices = close if close is not None else 100 * np.cumprod(
        np.tile(1 + steps, (n_days, 1)), axis=0)
    return toy_panel(close=prices.tolist(), factors={
        name: np.asarray(v).tolist() for name, v in (factors or {}).items()}, **fields)


def _report(panel, **options):
    return factor_report(panel, factors=[f for f in panel.factor_names if f.startswith("F")],
                         horizons=options.pop("horizons", (1, 2)), threads=1, **options)


def test_a_factor_in_the_order_of_the_returns_has_ic_one_and_its_reverse_minus_one():
    n_days = 12
    order = np.tile(np.arange(N, dtype=float), (n_days, 1))
    report = _report(_panel(n_days, factors={"F_up": order, "F_down": -order}))
    rows = {(r.factor, r.horizon): r for r in report.ic_summary}
    assert rows["F_up", 1].mean_ic == pytest.approx(1.0)
    assert rows["F_down", 2].mean_ic == pytest.approx(-1.0)
    assert rows["F_up", 1].n_days == n_days - 1 and rows["F_up", 2].n_days == n_days - 2
    assert rows["F_up", 1].positive_share == 1.0 and rows["F_down", 1].positive_share == 0.0
    # Ranks that never change: autocorrelation 1; full coverage; the two factors opposite.
    assert all(r.mean_autocorrelation == pytest.approx(1.0) for r in report.autocorrelation)
    assert all(r.share == 1.0 for r in report.coverage)
    assert report.correlation == [[pytest.approx(1.0), pytest.approx(-1.0)],
                                  [pytest.approx(-1.0), pytest.approx(1.0)]]


def test_quantile_means_and_the_spread_on_equally_spaced_returns():
    # 25 stocks, 5 quantiles of 5: stock i's daily return is steps[i].
    n_days = 12
    report = _report(_panel(n_days, factors={"F": np.tile(np.arange(N, dtype=float),
                                                          (n_days, 1))}), horizons=(1,))
    [row] = report.quantile_returns
    steps = np.linspace(-0.02, 0.02, N)
    expected = [steps[5 * q: 5 * q + 5].mean() for q in range(5)]
    assert row.mean_returns == pytest.approx(expected, rel=1e-12)
    assert row.spread == pytest.approx(expected[-1] - expected[0])
    assert len(row.spread_dates) == n_days - 1  # h = 1: every day
    assert row.cumulative_spread[-1] == pytest.approx((1 + row.spread) ** (n_days - 1) - 1)


def test_ic_with_ties_is_spearmans_with_average_ranks():
    # Forward returns of 25 stocks in 5 tie groups; the factor in 5 tie groups the other way.
    n_days = 3
    levels = np.repeat(np.arange(5.0), 5)
    close = np.ones((n_days, N)) * 100
    close[1] = 100 * (1 + 0.01 * levels)
    close[2] = close[1]
    factor = np.tile(np.roll(levels, 3), (n_days, 1))
    report = _report(_panel(close=close, factors={"F": factor}), horizons=(1,))
    x = np.roll(levels, 3)
    ranks_x = np.array([np.mean(np.flatnonzero(np.sort(x) == v)) + 1 for v in x])
    ranks_y = np.array([np.mean(np.flatnonzero(np.sort(levels) == v)) + 1 for v in levels])
    expected = np.corrcoef(ranks_x, ranks_y)[0, 1]
    [row] = report.ic_summary  # day 0 only: day 1's forward returns are all 0 (no dispersion)
    assert row.n_days == 1 and row.mean_ic == pytest.approx(expected)


def test_forward_return_of_a_stock_that_delists_runs_to_its_last_close():
    close = np.array([[10.0, 20.0], [11.0, 22.0], [12.0, np.nan], [13.0, np.nan]])
    forward = forward_returns(close, np.arange(4), 2)
    assert forward[0].tolist() == pytest.approx([0.2, 0.1])
    assert forward[1, 1] == pytest.approx(0.0)  # 22 -> its last close 22
    assert np.isnan(forward[2:]).all()  # past the panel's last day


def test_days_with_too_few_stocks_have_no_ic_and_bad_arguments_name_themselves():
    n_days = 6
    factor = np.tile(np.arange(N, dtype=float), (n_days, 1))
    factor[:, 6:] = np.nan  # 6 stocks with a value: fewer than 20
    report = _report(_panel(n_days, factors={"F": factor}), horizons=(1,))
    assert report.ic_summary[0].n_days == 0 and report.ic_summary[0].mean_ic is None
    assert report.coverage[0].share == pytest.approx(6 / N)
    panel = _panel(n_days, factors={"F": factor})
    for options, field in (({"factors": ["NOPE"]}, "factors"), ({"horizons": (0,)}, "horizons"),
                           ({"quantiles": 1}, "quantiles")):
        with pytest.raises(ResearchError) as refused:
            factor_report(panel, **options)
        assert refused.value.field == field


def test_sector_neutral_ranks_within_each_sector_first():
    # Two sectors whose returns differ by a level; within each, the factor orders returns.
    n_days = 8
    sectors = ["A"] * 13 + ["B"] * 12
    base = np.where(np.array(sectors) == "A", 0.02, -0.02)
    steps = base + np.linspace(0, 0.001, N)
    close = 100 * np.cumprod(np.tile(1 + steps, (n_days, 1)), axis=0)
    factor = np.tile(-base * 1000 + np.linspace(0, 1, N), (n_days, 1))  # B high, A low
    panel = _panel(close=close, factors={"F": factor}, sector=sectors)
    plain = _report(panel, horizons=(1,)).ic_summary[0].mean_ic
    neutral = _report(panel, horizons=(1,), sector_neutral=True).ic_summary[0].mean_ic
    assert plain < 0 < neutral


# -- alphalens-reloaded on the same prices and factor values --------------------------------


def _alphalens(panel, name, periods):
    import alphalens as al
    import pandas as pd

    dates = pd.DatetimeIndex(panel.dates.astype("datetime64[ns]"), name="date")
    codes = pd.Index(panel.codes, name="asset")
    values = pd.DataFrame(panel.factor(name).astype(np.float64), index=dates, columns=codes)
    factor = values.stack().dropna()
    factor.index.names = ["date", "asset"]
    prices = pd.DataFrame(panel.close, index=dates, columns=codes).ffill()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = al.utils.get_clean_factor_and_forward_returns(
            factor, prices, quantiles=5, periods=periods, filter_zscore=None, max_loss=1.0)
        ic = al.performance.factor_information_coefficient(data)
        means = al.performance.mean_return_by_quantile(data, demeaned=False)[0]
        autocorrelation = {h: al.performance.factor_rank_autocorrelation(data, period=h)
                           for h in periods}
    kept = np.searchsorted(panel.dates, data.index.get_level_values("date").unique()
                           .values.astype("datetime64[D]"))
    return kept, ic, means, autocorrelation


def _random_panel(seed: int = 5, n_days: int = 90, n_stocks: int = 60):
    rng = np.random.default_rng(seed)
    close = 100 * np.cumprod(1 + rng.normal(0.0, 0.02, (n_days, n_stocks)), axis=0)
    close[70:, 3] = np.nan  # one delists
    listed = ~np.isnan(close)
    signal = np.vstack([np.zeros((1, n_stocks)), np.diff(np.log(np.nan_to_num(close, nan=1)),
                                                         axis=0)])
    momentum = np.where(listed, np.cumsum(signal, axis=0) + rng.normal(0, 0.05, close.shape),
                        np.nan)
    patchy = np.where(listed & (rng.random(close.shape) > 0.2), rng.normal(size=close.shape),
                      np.nan)
    return toy_panel(close=close.tolist(), factors={"MOM": momentum.tolist(),
                                                    "NOISE": patchy.tolist()},
                     codes=[f"{i:06d}" for i in range(n_stocks)])


@pytest.mark.parametrize("name", ["MOM", "NOISE"])
def test_ic_quantile_returns_and_autocorrelation_equal_alphalens(name):
    pytest.importorskip("alphalens")
    panel = _random_panel()
    periods = (1, 5)
    kept, ic, means, autocorrelation = _alphalens(panel, name, periods)
    rows = np.arange(len(panel.dates))
    eligible = np.isfinite(panel.close) & panel.tradable
    forward = {h: ForwardReturns(np.where(eligible, forward_returns(panel.close, rows, h),
                                          np.nan)) for h in periods}
    values = panel.factor(name)
    daily = daily_statistics(values, eligible, forward, quantiles=5)
    for h in periods:
        ours = daily[f"ic_{h}"][kept]
        assert np.allclose(ours, ic[f"{h}D"].to_numpy(), rtol=0, atol=1e-9, equal_nan=True)
        # alphalens averages each quantile over the days it keeps (all periods known)
        per_day = daily[f"quantiles_{h}"][kept]
        assert np.allclose(np.nanmean(per_day, axis=0), means[f"{h}D"].to_numpy(),
                           rtol=0, atol=1e-9)
        # its autocorrelation shifts by rows of the days it keeps (here: consecutive days)
        theirs = autocorrelation[h].to_numpy()
        ranks, _ = ranks_within_days(np.where(eligible, values, np.nan)[kept])
        lagged = [np.corrcoef(*_both(ranks[t], ranks[t - h]))[0, 1] if t >= h else math.nan
                  for t in range(len(kept))]
        assert np.allclose(lagged, theirs, rtol=0, atol=1e-9, equal_nan=True)
        ours_lagged = daily[f"autocorrelation_{h}"][kept]
        assert np.allclose(ours_lagged[h:], theirs[h:], rtol=0, atol=1e-9)


def _both(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


@pytest.mark.parametrize("quantiles", [2, 3, 5, 6, 7, 10, 11, 12, 14, 15, 20])
def test_quantiles_are_cut_exactly_as_pandas_qcut_cuts_them(quantiles):
    pd = pytest.importorskip("pandas")
    from backtest.research import _qcut

    rng = np.random.default_rng(quantiles)
    for n in (19, 37, 60, 101, 149):
        for values in (np.arange(n, dtype=float), np.round(rng.normal(size=n), 1)):
            try:
                theirs = pd.qcut(values, quantiles, labels=False) + 1
            except ValueError:  # duplicate edges: pandas refuses the cut
                continue
            labels = np.empty((1, n), dtype=np.int8)
            _qcut(values[None, :], np.argsort(values)[None, :], np.array([n]), quantiles,
                  labels)
            assert labels[0].tolist() == list(theirs), (n, quantiles)


def test_a_day_with_a_factor_value_but_no_return_has_no_ic_rather_than_a_wrong_one():
    n_days = 4
    panel = _panel(n_days, factors={"F": np.tile(np.arange(N, dtype=float), (n_days, 1))})
    rows = np.arange(n_days)
    eligible = np.isfinite(panel.close)
    forward = forward_returns(panel.close, rows, 1)
    forward[0, 3] = np.nan  # one stock with a factor value lacks its return on day 0
    daily = daily_statistics(panel.factor("F"), eligible, {1: ForwardReturns(forward)},
                             quantiles=5)
    assert np.isnan(daily["ic_1"][0]) and daily["ic_1"][1] == pytest.approx(1.0)
    with pytest.raises(ResearchError, match="2..100"):
        factor_report(panel, quantiles=200)
