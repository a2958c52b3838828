"""FactorPanel: every factor of one data version as dense arrays, shared zero-copy via Ray."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np


class UnknownFactorError(KeyError):
    """A factor name that the catalog does not declare."""

    def __init__(self, name: str, known: tuple[str, ...] = ()) -> None:
        super().__init__(name, known)  # plain args: the error pickles across Ray
        self.name, self.known = name, known

    def __str__(self) -> str:
        hint = f"; known factors: {', '.join(self.known)}" if self.known else ""
        return f'Unknown factor "{self.name}"{hint}'


@dataclass(frozen=True)
class FactorCoverage:
    """How much of one data version a factor covers, computed once when the panel is built.

    `first_day`: the first trading day on which any stock has a value (None: never);
    `share`: non-NaN stock-days / listed stock-days (days with a close), in [0, 1];
    `missing_inputs`: the factor's inputs (`FactorSpec.inputs`) whose column is all null in
    the loaded data (never imported: no balance sheets, no dividends, no index), which is
    why a factor has no value at all; empty when every input has data or nobody said.
    """

    first_day: date | None
    share: float
    missing_inputs: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """No stock has a value on any day."""
        return self.first_day is None

    def as_row(self) -> dict[str, object]:
        """JSON-ready: first_day (ISO or None), share, missing_inputs."""
        return {
            "first_day": None if self.first_day is None else self.first_day.isoformat(),
            "share": self.share,
            "missing_inputs": list(self.missing_inputs),
        }


def factor_coverage(
    *,
    values: np.ndarray,
    close: np.ndarray,
    dates: np.ndarray,
    factor_names: tuple[str, ...],
    missing_inputs: Mapping[str, tuple[str, ...]] | None = None,
) -> dict[str, FactorCoverage]:
    """Factor name -> FactorCoverage over `values` [n_factors, n_days, n_stocks], a stock-day
    counting where it is listed (`close` [n_days, n_stocks] not NaN). Vectorised: one pass
    over the values, no loop over days or stocks."""
    listed = ~np.isnan(close)
    n_listed = int(np.count_nonzero(listed))
    present = np.isnan(values)  # one bool temporary of the values' shape, reused in place
    np.logical_not(present, out=present)
    present &= listed[None]
    per_day = np.count_nonzero(present, axis=2)  # [n_factors, n_days]
    del present
    counts = per_day.sum(axis=1)
    has_day = per_day > 0
    first = np.argmax(has_day, axis=1) if has_day.shape[1] else np.zeros(len(has_day), int)
    days = np.asarray(dates).astype("datetime64[D]").tolist()
    missing = missing_inputs or {}
    return {
        name: FactorCoverage(
            first_day=days[int(first[i])] if has_day[i].any() else None,
            share=float(counts[i]) / n_listed if n_listed else 0.0,
            missing_inputs=tuple(missing.get(name, ())),
        )
        for i, name in enumerate(factor_names)
    }


def coverage_rows(index: PanelIndex | FactorPanel) -> dict[str, dict[str, object]]:
    """Factor name -> `FactorCoverage.as_row()`, in the panel's factor order (what
    `DatasetRegistry.versions()` and `qbt prep --json` show)."""
    return {
        name: index.coverage[name].as_row() for name in index.factor_names
        if name in index.coverage
    }


# Bits of FactorPanel.status: the KRX designations in force on a day (stock_status).
STATUS_BITS: dict[str, int] = {"administrative": 1, "warning": 2, "caution": 4, "liquidation": 8}


@dataclass(frozen=True, eq=False)
class PanelIndex:
    """What a spec is validated against, without the panel's arrays: its version, trading
    days, factor and index names, and each factor's coverage (a few KB, carried in the
    registry's handle). A factor missing from `coverage` has unknown coverage."""

    version: str
    dates: np.ndarray  # datetime64[D] [n_days]
    factor_names: tuple[str, ...]
    benchmarks: tuple[str, ...]
    n_stocks: int
    coverage: Mapping[str, FactorCoverage] = field(default_factory=dict)

    @property
    def n_days(self) -> int:
        return len(self.dates)


@dataclass(frozen=True, eq=False)
class FactorPanel:
    """One data version, as DESIGN.md describes it.

    Shapes: `values` float32 [n_factors, n_days, n_stocks] (C-contiguous); `close`,
    `returns` float64 [n_days, n_stocks]; `tradable` bool [n_days, n_stocks];
    `market`, `sector`, `codes` [n_stocks]; `dates` datetime64[D] [n_days];
    `benchmarks` index name -> float64 [n_days].

    `close` is the last known close while a stock is listed (carried over halts) and NaN
    before its first and after its last trading day. `tradable` is True where the stock
    traded that day (a price row with volume > 0). `returns[t]` = close[t]/close[t-1]-1
    (NaN where either is missing; row 0 is NaN).

    `coverage`: factor name -> FactorCoverage; computed from the arrays at construction when
    not given (then without missing inputs, which only the loaded data can tell).

    `kind` [n_stocks]: common, preferred, spac, reit or other (default all common).
    `status` uint8 [n_days, n_stocks]: the designations in force that day, as STATUS_BITS
    (default none): what the engine needs per stock and day, in one byte.
    """

    version: str
    dates: np.ndarray
    codes: np.ndarray
    names: np.ndarray
    market: np.ndarray
    sector: np.ndarray
    factor_names: tuple[str, ...]
    values: np.ndarray
    close: np.ndarray
    returns: np.ndarray
    tradable: np.ndarray
    benchmarks: dict[str, np.ndarray]
    coverage: Mapping[str, FactorCoverage] = field(default_factory=dict)
    kind: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=str))
    status: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=np.uint8))
    _factor_index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n_days, n_stocks = len(self.dates), len(self.codes)
        if self.kind.size == 0:  # not given: every stock common
            object.__setattr__(self, "kind", np.full(n_stocks, "common"))
        if self.status.size == 0:  # not given: no designation
            object.__setattr__(self, "status", np.zeros((n_days, n_stocks), dtype=np.uint8))
        expected = {
            "values": (len(self.factor_names), n_days, n_stocks),
            "close": (n_days, n_stocks),
            "returns": (n_days, n_stocks),
            "tradable": (n_days, n_stocks),
            "market": (n_stocks,),
            "sector": (n_stocks,),
            "names": (n_stocks,),
            "kind": (n_stocks,),
            "status": (n_days, n_stocks),
        }
        for name, shape in expected.items():
            actual = getattr(self, name).shape
            if actual != shape:
                raise ValueError(f"FactorPanel.{name} has shape {actual}, expected {shape}")
        for index, series in self.benchmarks.items():
            if series.shape != (n_days,):
                raise ValueError(f"FactorPanel.benchmarks[{index!r}] has shape {series.shape}")
        if self.values.dtype != np.float32 or not self.values.flags.c_contiguous:
            raise ValueError("FactorPanel.values must be C-contiguous float32")
        object.__setattr__(
            self, "_factor_index", {name: i for i, name in enumerate(self.factor_names)}
        )
        if not self.coverage:
            coverage = factor_coverage(
                values=self.values, close=self.close, dates=self.dates,
                factor_names=self.factor_names,
            )
            object.__setattr__(self, "coverage", coverage)
        elif set(self.coverage) != set(self.factor_names):
            raise ValueError("FactorPanel.coverage must name exactly the panel's factors")

    @property
    def n_days(self) -> int:
        return len(self.dates)

    @property
    def n_stocks(self) -> int:
        return len(self.codes)

    @property
    def nbytes(self) -> int:
        arrays = [self.values, self.close, self.returns, self.tradable, self.dates, self.codes]
        arrays += [self.names, self.market, self.sector, *self.benchmarks.values()]
        arrays += [self.kind, self.status]
        return int(sum(a.nbytes for a in arrays))

    def index(self) -> PanelIndex:
        return PanelIndex(
            version=self.version,
            dates=self.dates,
            factor_names=self.factor_names,
            benchmarks=tuple(sorted(self.benchmarks)),
            n_stocks=self.n_stocks,
            coverage=dict(self.coverage),
        )

    def factor_index(self, name: str) -> int:
        try:
            return self._factor_index[name]
        except KeyError:
            raise UnknownFactorError(name, self.factor_names) from None

    def factor(self, name: str) -> np.ndarray:
        """The [n_days, n_stocks] view of one factor (no copy)."""
        return self.values[self.factor_index(name)]

    def delisting_index(self) -> np.ndarray:
        """Per stock, its last trading day L if its closes stop before the panel's last day,
        else -1 (still listed)."""
        ends = delisting_days(self.close, np.arange(self.n_days))
        return np.where(ends.any(axis=0), np.argmax(ends, axis=0), -1)

    def __reduce__(self):  # keep pickling to the plain fields: arrays travel out-of-band
        return (
            _rebuild_panel,
            (
                self.version,
                self.dates,
                self.codes,
                self.names,
                self.market,
                self.sector,
                self.factor_names,
                self.values,
                self.close,
                self.returns,
                self.tradable,
                self.benchmarks,
                dict(self.coverage),
                self.kind,
                self.status,
            ),
        )


def delisting_days(
    close: np.ndarray, rows: np.ndarray, *, columns: np.ndarray | None = None
) -> np.ndarray:
    """Bool [len(rows), n_columns]: row r is the last trading day L of a stock that delists,
    for the panel rows `rows` of `close` [n_days, n_stocks] (only `columns`, if given).

    The one statement of DESIGN.md's rule: a stock delists when its closes stop before the
    panel's last day, and L is its last day with a close; so L has a close and the next row
    none, and the panel's last day is never an L. It relies on the panel's invariant that
    `close` is NaN only before the first and after the last trading day, and reads only the
    given rows and the ones after them."""
    rows = np.asarray(rows, dtype=np.intp)
    following = rows + 1
    if columns is None:
        today, tomorrow = close[rows], close[np.minimum(following, len(close) - 1)]
    else:
        today = close[np.ix_(rows, columns)]
        tomorrow = close[np.ix_(np.minimum(following, len(close) - 1), columns)]
    ends = ~np.isnan(today) & np.isnan(tomorrow)
    return ends & (following < len(close))[:, None]


def _rebuild_panel(*fields: object) -> FactorPanel:
    return FactorPanel(*fields)  # type: ignore[arg-type]
