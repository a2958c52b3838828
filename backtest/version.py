"""The engine's version: bump it whenever the same spec on the same data may give a
different result (results are cached and compared by it)."""

from __future__ import annotations

ENGINE_VERSION = "1.3.0"  # 1.3: result.stocks, names of the stocks held; 1.2: cash_rebalances
