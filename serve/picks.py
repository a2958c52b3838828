"""Picks through the service: validate the spec against the current data version, then
compute them next to the panel (`backtest.tasks.picks_task`, a Ray task that reads the
panel from the object store): no replica maps the panel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from backtest.spec import StrategySpec
from backtest.tasks import picks_task
from backtest.validation import SpecError, check_data
from serve.datasets import Datasets
from serve.errors import InvalidInputError, UnavailableError

PicksRunner = Callable[[Any, StrategySpec], Awaitable[str]]


async def picks_on_ray(handle: Any, spec: StrategySpec) -> str:
    """The picks of `spec` on the handle's panel, as JSON text."""
    return await picks_task.options(name="picks_task").remote(
        handle.ref, spec.model_dump(mode="json")
    )


class Picks:
    def __init__(self, *, datasets: Datasets, runner: PicksRunner = picks_on_ray) -> None:
        self._datasets, self.runner = datasets, runner

    async def compute(self, spec: StrategySpec) -> str:
        """Picks JSON (backtest.picks.Picks) of `spec` on the current data version."""
        handle = await self._datasets.handle()
        try:
            check_data(spec, handle.index)
        except SpecError as err:
            raise InvalidInputError(str(err), field=err.field) from None
        try:
            return await self.runner(handle, spec)
        except Exception as err:
            raise UnavailableError(
                f"The picks could not be computed ({type(err).__name__}: {err}); retry later",
                retry_after_s=5,
            ) from err
