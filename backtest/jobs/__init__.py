"""Entry points that run the pure engine on Ray (the only place in `backtest/` that imports Ray)."""
