"""Checks of a StrategySpec against one data version (the checks pydantic cannot make).

They read only the version's index (trading days, factor and index names, each factor's
coverage): a FactorPanel or the PanelIndex the registry's handle carries, so the HTTP
service validates without mapping the panel. A spec that uses a factor with no value at all
in the version (coverage 0: its inputs never imported, or too little history) is refused:
no stock could ever be eligible, and the run would sit in cash.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

import numpy as np

from backtest.spec import StrategySpec
from backtest.window import RunWindow
from dataprep.panel import FactorCoverage


class PanelShape(Protocol):
    """What validation reads: `dataprep.panel.FactorPanel` and `PanelIndex` both have it."""

    @property
    def version(self) -> str: ...
    @property
    def dates(self) -> np.ndarray: ...
    @property
    def factor_names(self) -> tuple[str, ...]: ...
    @property
    def benchmarks(self) -> Collection[str]: ...
    @property
    def n_days(self) -> int: ...
    @property
    def coverage(self) -> Mapping[str, FactorCoverage]: ...


class SpecError(ValueError):
    """A spec that does not fit the data; `field` names the offending spec field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def _iso(day: np.datetime64) -> str:
    return str(day.astype("datetime64[D]"))


def _check_factors(spec: StrategySpec, panel: PanelShape) -> None:
    known = set(panel.factor_names)
    for name, where in spec.factors_used().items():
        if name not in known:
            raise SpecError(
                where,
                f'Got "{name}" for {where}: no such factor; known: '
                + ", ".join(panel.factor_names),
            )


def _check_coverage(spec: StrategySpec, panel: PanelShape) -> None:
    """A factor the spec uses must have some value in the version (unknown coverage passes)."""
    for name, where in spec.factors_used().items():
        coverage = panel.coverage.get(name)
        if coverage is None or not coverage.empty:
            continue
        missing = coverage.missing_inputs
        if len(missing) == 1:
            why = f"its input {missing[0]} was never imported"
        elif missing:
            why = f"its inputs {', '.join(missing)} were never imported"
        else:
            why = f"no stock has a value on any of its {panel.n_days} trading days"
        raise SpecError(
            where,
            f'Got "{name}" for {where}: it has no values in data version {panel.version} '
            f"({why})",
        )


def _check_window(spec: StrategySpec, panel: PanelShape) -> RunWindow:
    if panel.n_days == 0:
        raise SpecError("start", "the panel has no trading days")
    first_day, last_day = panel.dates[0], panel.dates[-1]
    start, end = np.datetime64(spec.start, "D"), np.datetime64(spec.end, "D")
    if end > last_day:
        raise SpecError("end", f'Got "{spec.end}" for end: the data ends on {_iso(last_day)}')
    if start <= first_day:
        raise SpecError(
            "start",
            f'Got "{spec.start}" for start: the data starts on {_iso(first_day)} and the '
            "first run day needs the trading day before it in the panel",
        )
    first = int(np.searchsorted(panel.dates, start, side="left"))
    last = int(np.searchsorted(panel.dates, end, side="right")) - 1
    if last < first:
        raise SpecError(
            "start",
            f'Got "{spec.start}" .. "{spec.end}" for start .. end: no trading day in it',
        )
    return RunWindow(first=first, last=last)


def validate_against(spec: StrategySpec, panel: PanelShape) -> RunWindow:
    """Raise SpecError if `spec` cannot run on `panel`; else return the run's rows."""
    check_data(spec, panel)
    return _check_window(spec, panel)


def check_benchmark(spec: StrategySpec, panel: PanelShape) -> None:
    """Raise SpecError if the spec's benchmark index is not in `panel`."""
    if spec.benchmark not in panel.benchmarks:
        raise SpecError(
            "benchmark",
            f'Got "{spec.benchmark}" for benchmark: no such index in the data; known: '
            + ", ".join(sorted(panel.benchmarks)),
        )


def check_data(spec: StrategySpec, panel: PanelShape) -> None:
    """Raise SpecError if what `spec` reads is not in `panel` (factors with values, the
    benchmark and timing indexes), whatever its dates."""
    _check_factors(spec, panel)
    _check_coverage(spec, panel)
    check_benchmark(spec, panel)
    timing = spec.timing.index if spec.timing is not None else None
    if timing is not None and timing not in panel.benchmarks:
        raise SpecError(
            "timing.index",
            f'Got "{timing}" for timing.index: no such index in the data; known: '
            + ", ".join(sorted(panel.benchmarks)),
        )
