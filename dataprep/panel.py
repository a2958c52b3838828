"""FactorPanel: every factor of one data version as dense arrays, shared zero-copy via Ray."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class UnknownFactorError(KeyError):
    """A factor name that the catalog does not declare."""

    def __init__(self, name: str, known: tuple[str, ...] = ()) -> None:
        super().__init__(name, known)  # plain args: the error pickles across Ray
        self.name, self.known = name, known

    def __str__(self) -> str:
        hint = f"; known factors: {', '.join(self.known)}" if self.known else ""
        return f'Unknown factor "{self.name}"{hint}'


@dataclass(frozen=True, eq=False)
class PanelIndex:
    """What a spec is validated against, without the panel's arrays: its version, trading
    days, factor and index names (a few KB, carried in the registry's handle)."""

    version: str
    dates: np.ndarray  # datetime64[D] [n_days]
    factor_names: tuple[str, ...]
    benchmarks: tuple[str, ...]
    n_stocks: int

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
    _factor_index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n_days, n_stocks = len(self.dates), len(self.codes)
        expected = {
            "values": (len(self.factor_names), n_days, n_stocks),
            "close": (n_days, n_stocks),
            "returns": (n_days, n_stocks),
            "tradable": (n_days, n_stocks),
            "market": (n_stocks,),
            "sector": (n_stocks,),
            "names": (n_stocks,),
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
        return int(sum(a.nbytes for a in arrays))

    def index(self) -> PanelIndex:
        return PanelIndex(
            version=self.version,
            dates=self.dates,
            factor_names=self.factor_names,
            benchmarks=tuple(sorted(self.benchmarks)),
            n_stocks=self.n_stocks,
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
