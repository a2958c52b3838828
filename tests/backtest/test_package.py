"""The backtest package: its public names, and no Ray or database imports."""

from __future__ import annotations

import subprocess
import sys

import backtest


def test_public_api():
    for name in ("run_backtest", "StrategySpec", "BacktestResult", "SpecError", "Statistics"):
        assert hasattr(backtest, name)
    assert isinstance(backtest.ENGINE_VERSION, str) and backtest.ENGINE_VERSION


def test_importing_backtest_loads_no_ray_and_no_database_driver():
    code = (
        "import sys, backtest; "
        "bad = sorted({m.split('.')[0] for m in sys.modules} & {'ray', 'psycopg', 'polars'}); "
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
