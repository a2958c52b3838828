"""Factor records and the registry that holds them (one name, one record).

A factor is data: `FactorSpec(name, category, formula, lookback, inputs, expr)`. `expr()`
returns a polars expression over the dense long frame that `compute.py` builds (one row per
stock x trading day, sorted by code then day; per-stock windows: see `ops.py`).
`lookback` is the number of trading days the factor reads, today included (a 1-day
factor has 1), so a panel needs `max(lookback) - 1` extra days before its first day.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import polars as pl

from dataprep.factors.inputs import INPUT_NAMES, statement_quarters
from dataprep.panel import UnknownFactorError

CATEGORIES: tuple[str, ...] = (
    "valuation",
    "profitability",
    "growth",
    "momentum",
    "risk",
    "liquidity",
    "size",
    "quality",
)
CATEGORY_TITLES = {
    "valuation": "Valuation",
    "profitability": "Profitability",
    "growth": "Growth",
    "momentum": "Momentum / technical",
    "risk": "Risk",
    "liquidity": "Liquidity",
    "size": "Size",
    "quality": "Quality / dividends",
}
_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


class DuplicateFactorError(ValueError):
    """Two factor records share one name."""


class InvalidFactorError(ValueError):
    """A factor record that breaks the catalog's rules (the message says which)."""


@dataclass(frozen=True)
class FactorSpec:
    name: str
    category: str
    formula: str
    lookback: int
    inputs: tuple[str, ...]
    expr: Callable[[], pl.Expr]

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise InvalidFactorError(f'Got factor name "{self.name}": use UPPER_SNAKE_CASE')
        if self.category not in CATEGORIES:
            raise InvalidFactorError(
                f'Got category "{self.category}" for {self.name}: one of {", ".join(CATEGORIES)}'
            )
        if self.lookback < 1:
            raise InvalidFactorError(f"Got lookback {self.lookback} for {self.name}: at least 1")
        unknown = [name for name in self.inputs if name not in INPUT_NAMES]
        if unknown or not self.inputs:
            raise InvalidFactorError(f"Got inputs {self.inputs} for {self.name}: unknown {unknown}")
        if not self.formula or "\n" in self.formula:
            raise InvalidFactorError(f"Got formula {self.formula!r} for {self.name}: one line")

    @property
    def statement_quarters(self) -> int:
        """Consecutive quarterly statements the factor needs (0: prices only)."""
        return max((statement_quarters(name) for name in self.inputs), default=0)

    def as_row(self) -> dict[str, object]:
        return {
            "name": self.name,
            "category": self.category,
            "formula": self.formula,
            "lookback": self.lookback,
            "inputs": list(self.inputs),
        }


class FactorRegistry:
    """An ordered, immutable set of factor records; a duplicate name is refused."""

    def __init__(self, specs: Iterable[FactorSpec]) -> None:
        self._specs: dict[str, FactorSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise DuplicateFactorError(f'Factor "{spec.name}" is declared twice')
            self._specs[spec.name] = spec

    def __iter__(self) -> Iterator[FactorSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def get(self, name: str) -> FactorSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownFactorError(name, self.names) from None

    def max_lookback(self) -> int:
        return max((spec.lookback for spec in self), default=1)

    def extra_rows(self) -> int:
        """Trading days to load before a panel's first day so every window is full."""
        return self.max_lookback() - 1

    def statement_quarters(self) -> int:
        return max((spec.statement_quarters for spec in self), default=0)

    def inputs(self) -> tuple[str, ...]:
        """Every input column some factor reads, in first-use order."""
        return tuple(dict.fromkeys(name for spec in self for name in spec.inputs))

    def table(self) -> list[dict[str, object]]:
        return [spec.as_row() for spec in self]

    def markdown(self) -> str:
        lines = [
            "| # | Factor | Category | Formula | Lookback (days) | Inputs |",
            "| ---: | --- | --- | --- | ---: | --- |",
        ]
        for number, spec in enumerate(self, start=1):
            formula = spec.formula.replace("|", "\\|")
            inputs = ", ".join(f"`{name}`" for name in spec.inputs)
            lines.append(
                f"| {number} | `{spec.name}` | {CATEGORY_TITLES[spec.category]} | {formula}"
                f" | {spec.lookback} | {inputs} |"
            )
        return "\n".join(lines) + "\n"
