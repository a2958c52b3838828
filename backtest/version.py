"""The engine's version: bump it whenever the same spec on the same data may give a
different result (results are cached and compared by it)."""

from __future__ import annotations

ENGINE_VERSION = "1.2.0"  # 1.2: statistics.cash_rebalances
