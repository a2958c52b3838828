"""The KRX rules on the demo market, checked against SQL: the standard preset never holds a
preferred share, SPAC, REIT or a stock under an administrative, warning or liquidation
designation on its signal day; picks match what a rebalance on the following day buys."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import psycopg
import pytest

import dataprep
from backtest import StrategySpec, run_backtest
from backtest.picks import compute_picks
from dataprep.panel import FactorPanel
from dataprep.schema import migrate
from dataprep.warehouse import load_demo
from tests.conftest import create_database, drop_database

# Volatile, cheap stocks first: the ranking that walks into designations and delistings.
SPEC: dict[str, Any] = {
    "start": "2022-01-03", "end": "2023-12-28", "top_n": 40, "rebalance": "weekly",
    "ranking": [{"factor": "VOL_60D"}, {"factor": "PBR", "ascending": True}],
}
BARRED = """
SELECT s.code FROM stocks s
WHERE s.code = ANY(%(codes)s) AND s.kind IN ('preferred', 'spac', 'reit')
UNION
SELECT t.code FROM stock_status t WHERE t.code = ANY(%(codes)s)
  AND t.status IN ('administrative', 'warning', 'liquidation')
  AND t.start_date <= %(signal)s AND (t.end_date IS NULL OR t.end_date >= %(signal)s)
"""
# Held over from before and unable to trade on d (halted, or at the lower limit): kept.
FROZEN = """
SELECT p.code FROM stock_prices p JOIN stock_prices q ON q.code = p.code AND q.date = %(signal)s
WHERE p.code = ANY(%(codes)s) AND p.date = %(day)s
  AND (p.volume = 0 OR p.close <= q.close * 0.705)
"""


@pytest.fixture(scope="module")
def demo(server_url: str) -> Iterator[tuple[str, FactorPanel]]:
    url = create_database(server_url, prefix="qbt_rules")
    try:
        migrate(url)
        load_demo(url, n_stocks=400, start=date(2021, 1, 1), end=date(2023, 12, 31), seed=7)
        yield url, dataprep.build_panel(database_url=url)
    finally:
        drop_database(server_url, url)


def held_barred(url: str, panel: FactorPanel, result: Any) -> tuple[int, int]:
    """(holdings barred on their signal day and bought or kept by choice, barred holdings
    kept because they could not trade)."""
    dates = [d.item() for d in panel.dates.astype("datetime64[D]")]
    chosen = frozen = 0
    with psycopg.connect(url) as conn:
        for rebalance in result.rebalances:
            codes = [h.code for h in rebalance.holdings]
            signal = dates[dates.index(rebalance.date) - 1]
            params = {"codes": codes, "signal": signal, "day": rebalance.date}
            barred = {row[0] for row in conn.execute(BARRED, params)}
            stuck = {row[0] for row in conn.execute(FROZEN, params)}
            chosen += len(barred - stuck)
            frozen += len(barred & stuck)
    return chosen, frozen


def test_the_standard_preset_never_chooses_what_sql_says_it_excludes(demo):
    url, panel = demo
    with psycopg.connect(url) as conn:
        kinds = dict(conn.execute("SELECT kind, count(*) FROM stocks GROUP BY kind").fetchall())
        statuses = dict(conn.execute(
            "SELECT status, count(*) FROM stock_status GROUP BY status").fetchall())
    assert kinds.get("preferred") and kinds.get("spac") and kinds.get("reit"), kinds
    assert statuses.get("administrative") and statuses.get("liquidation"), statuses
    plain = run_backtest(StrategySpec.model_validate(SPEC), panel)
    walked_in, _ = held_barred(url, panel, plain)
    assert walked_in > 10  # the spec does walk into them unfiltered
    standard = run_backtest(
        StrategySpec.model_validate({**SPEC, "universe": {"preset": "standard"}}), panel
    )
    chosen, frozen = held_barred(url, panel, standard)
    assert chosen == 0, (chosen, frozen, walked_in)


def test_picks_match_the_following_days_rebalance_on_the_demo_market(demo):
    url, panel = demo
    before = dataprep.build_panel(database_url=url, end=date(2023, 12, 27))
    last = str(panel.dates[-1])
    assert str(before.dates[-1]) < last
    document = {**SPEC, "top_n": 20, "universe": {"preset": "standard"}, "hold_buffer": 5}
    picks = compute_picks(StrategySpec.model_validate(document), before)
    run = run_backtest(StrategySpec.model_validate({**document, "start": last, "end": last}),
                       panel)
    bought = [(h.code, h.weight) for h in run.rebalances[0].holdings]
    assert len(bought) == 20
    assert bought == [(p.code, pytest.approx(p.weight)) for p in picks.picks]
    assert [p.rank for p in picks.picks] == list(range(1, 21))
