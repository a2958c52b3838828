"""Sweeps: a base StrategySpec and a grid of overrides, expanded into variants and ranked.

Pure: expansion and ranking take and return plain values. Running the variants on Ray is
`backtest.tasks`.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterator
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from backtest.spec import SIMULATION_FIELDS, StrategySpec
from runtime.names import MAX_SWEEP_VARIANTS

# Statistics where a smaller value ranks first; every other statistic ranks largest first.
LOWER_IS_BETTER = frozenset(
    {
        "annual_volatility",
        "tracking_error",
        "costs_paid",
        "turnover",
        "annual_turnover",
        "cash_rebalances",
    }
)


class SweepError(ValueError):
    """A sweep that cannot be expanded; `field` names the part of the sweep at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)  # plain args: the error pickles across Ray
        self.field, self.message = field, message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class WalkForward(BaseModel):
    """Walk-forward validation: folds of `train_days` trading days in sample followed by
    `test_days` out of sample, stepping by `test_days` from the sweep's start."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    train_days: int = Field(ge=2, le=10_000, description="Trading days in sample per fold.")
    test_days: int = Field(ge=1, le=10_000, description="Trading days out of sample per fold.")


class Validation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    walk_forward: WalkForward | None = Field(
        default=None,
        description=(
            "In each fold the variant best by rank_by in sample (from its daily returns) runs "
            "out of sample, starting in cash with the equity the previous fold ended with; "
            "the result lists the folds and the stitched out-of-sample equity."
        ),
    )


class SweepSpec(BaseModel):
    """A grid search: every combination of `grid` values applied to `base`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base: StrategySpec = Field(description="The strategy every variant starts from.")
    grid: dict[str, list[Any]] = Field(
        description=(
            "Field name (dotted for nested fields, e.g. `costs.slippage_bps`) to the list of "
            "values to try; the variants are the cartesian product."
        ),
    )
    rank_by: str = Field(default="sharpe", description="Statistic the variants are ranked by.")
    top: int = Field(default=10, ge=1, le=1000, description="How many best variants to report.")
    validation: Validation | None = Field(
        default=None, description="Out-of-sample validation of the choice of variant."
    )

    @model_validator(mode="after")
    def _walk_forward_needs_returns(self) -> SweepSpec:
        from backtest.statistics import RETURN_STATISTICS

        if self.validation is None or self.validation.walk_forward is None:
            return self
        if self.rank_by not in RETURN_STATISTICS:
            raise ValueError(
                f'Got "{self.rank_by}" for rank_by with validation.walk_forward: walk-forward '
                "ranks variants by a stretch of their daily returns; use one of "
                + ", ".join(RETURN_STATISTICS))
        if {"start", "end"} & set(self.grid):
            raise ValueError("validation.walk_forward: the grid must not vary start or end "
                             "(the folds cut the sweep's one window)")
        return self

    @field_validator("grid")
    @classmethod
    def _grid_lists_not_empty(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        if not grid:
            raise ValueError("the grid needs at least one field")
        for name, values in grid.items():
            if not values:
                raise ValueError(f"grid[{name!r}] has no values")
        return grid

    @field_validator("rank_by")
    @classmethod
    def _known_statistic(cls, rank_by: str) -> str:
        from backtest.statistics import NUMERIC_STATISTICS

        if rank_by not in NUMERIC_STATISTICS:
            known = ", ".join(NUMERIC_STATISTICS)
            raise ValueError(f'Got "{rank_by}" for rank_by: no such numeric statistic; '
                             f'known: {known}')
        return rank_by

    @property
    def n_variants(self) -> int:
        return math.prod(len(values) for values in self.grid.values())


def _set_dotted(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """`document` with the dotted field `path` set to `value`: a copy along the path only
    (the rest is shared with `document`, which is not changed)."""
    parts = path.split(".")
    top = dict(document)
    node: Any = top
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(parts[: depth + 1])
            raise SweepError(f"grid[{path!r}]", f'"{where}" is not a field of the strategy')
        if depth == len(parts) - 1:
            node[part] = copy.deepcopy(value)
        else:
            node[part] = dict(node[part]) if isinstance(node[part], dict) else node[part]
            node = node[part]
    return top


def _check_count(sweep: SweepSpec, max_variants: int) -> None:
    if sweep.n_variants > max_variants:
        sizes = " x ".join(f"{len(v)} {k}" for k, v in sweep.grid.items())
        raise SweepError(
            "grid",
            f"{sizes} = {sweep.n_variants} variants, above the limit of {max_variants} per sweep",
        )


def iter_variants(
    sweep: SweepSpec, *, max_variants: int = MAX_SWEEP_VARIANTS
) -> Iterator[StrategySpec]:
    """Every variant of the sweep, in grid order (the last grid field varies fastest), one
    at a time (a 100,000-variant sweep is never all in memory as models)."""
    _check_count(sweep, max_variants)
    base = sweep.base.model_dump(mode="json")
    names = list(sweep.grid)
    for number, values in enumerate(itertools.product(*sweep.grid.values())):
        document = base
        for name, value in zip(names, values, strict=True):
            document = _set_dotted(document, name, value)
        try:
            yield StrategySpec.model_validate(document)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            overrides = dict(zip(names, values, strict=True))
            raise SweepError(
                f"grid (variant {number}: {overrides})", f"{where}: {first['msg']}"
            ) from None


def expand(sweep: SweepSpec, *, max_variants: int = MAX_SWEEP_VARIANTS) -> list[StrategySpec]:
    """Every variant of the sweep, in grid order (the last grid field varies fastest)."""
    return list(iter_variants(sweep, max_variants=max_variants))


def plan_group(sweep: SweepSpec, index: int) -> int:
    """Variant `index`'s selection-plan group: the variants of one group differ only in grid
    fields the selection does not read (`backtest.spec.SIMULATION_FIELDS`), so they share
    one plan. Numbered like the grid, over the plan fields only."""
    group = 0
    sizes = [len(v) for v in sweep.grid.values()]
    for name, size in reversed(list(zip(sweep.grid, sizes, strict=True))):
        index, pick = divmod(index, size)
        if name.split(".")[0] not in SIMULATION_FIELDS:
            group = group * size + pick
    return group


def variant_spec(sweep: SweepSpec, index: int, **changes: Any) -> StrategySpec:
    """Variant `index` of the sweep as a StrategySpec, with `changes` to top-level fields."""
    document = sweep.base.model_dump(mode="json")
    for name, value in overrides_of(sweep, index).items():
        document = _set_dotted(document, name, value)
    return StrategySpec.model_validate({**document, **changes})


def overrides_of(sweep: SweepSpec, index: int) -> dict[str, Any]:
    """The grid values of variant `index`."""
    sizes = [len(v) for v in sweep.grid.values()]
    picks = []
    for size in reversed(sizes):
        index, pick = divmod(index, size)
        picks.append(pick)
    picks.reverse()
    return {
        name: values[pick]
        for (name, values), pick in zip(sweep.grid.items(), picks, strict=True)
    }


def rank(
    rows: list[dict[str, Any]], *, rank_by: str
) -> list[dict[str, Any]]:
    """Order variant rows (each with `statistics` or `error`) best first; failures and
    missing values last, ties by variant number."""
    sign = 1.0 if rank_by in LOWER_IS_BETTER else -1.0

    def key(row: dict[str, Any]) -> tuple[int, float, int]:
        value = (row.get("statistics") or {}).get(rank_by)
        if value is None or not math.isfinite(value):
            return (1, 0.0, row["variant"])
        return (0, sign * value, row["variant"])

    return sorted(rows, key=key)

