"""The bottom layer: settings, names, the Ray connection, metrics, the embedded database.

It imports nothing of QBT; the domain packages (`dataprep`, `backtest`) import it, and the
edges (`serve`, the `qbt` CLI in `cluster`) import everything (tests/test_layers.py).
"""
