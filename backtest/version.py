"""The engine's version: bump it whenever the same spec on the same data may give a
different result (results are cached and compared by it).

2.0.1: a return or a fall below float rounding (1e-12) counts as zero in the statistics;
2.0: KRX rules (the price-limit lock is on by default), trades, events, exposure, period
returns; 1.3: result.stocks, names of the stocks held; 1.2: cash_rebalances.
"""

from __future__ import annotations

ENGINE_VERSION = "2.0.1"
