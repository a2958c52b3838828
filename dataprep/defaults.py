"""The demo market `qbt up` and `qbt db demo` load unless told otherwise (no imports: the
CLI's parser reads these)."""

from __future__ import annotations

from datetime import date

DEMO_STOCKS = 2000
DEMO_START = date(2021, 1, 1)
DEMO_END = date(2023, 12, 31)
DEMO_SEED = 7
