"""The data versions as an ingress replica sees them: the DatasetRegistry's current handle,
asked for at most every `check_s`. Specs are validated against the handle's PanelIndex
(dates, factor and index names): no replica maps the panel. When the registry cannot answer,
the last index keeps serving."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from dataprep.panel import PanelIndex
from serve.errors import UnavailableError


class Datasets:
    def __init__(self, registry: Any, *, check_s: float) -> None:
        self._registry, self._check_s = registry, check_s
        self._index: PanelIndex | None = None
        self._checked = -float("inf")
        self._lock = asyncio.Lock()

    async def current(self) -> PanelIndex:
        """The index of the current data version, asked for when it is `check_s` old. One
        request asks; those that come while it does are answered the index they would have
        had a moment earlier instead of waiting behind it."""
        if self._index is None:
            async with self._lock:
                if self._index is None:
                    await self._check()
        elif time.monotonic() - self._checked >= self._check_s and not self._lock.locked():
            async with self._lock:
                if time.monotonic() - self._checked >= self._check_s:
                    await self._check()
        assert self._index is not None
        return self._index

    async def _check(self) -> None:
        try:
            handle = await self._registry.get.remote()
            self._index = handle.index
        except Exception as err:
            if self._index is None:
                raise UnavailableError(
                    f"No data panel is available yet ({type(err).__name__}); retry later",
                    retry_after_s=10,
                ) from err
        self._checked = time.monotonic()

    async def handle(self) -> Any:
        """The registry's PanelHandle of the current version (its index and ObjectRef)."""
        handle = await self._ask("get")
        self._index, self._checked = handle.index, time.monotonic()
        return handle

    async def versions(self) -> list[dict[str, Any]]:
        return await self._ask("versions")  # type: ignore[no-any-return]

    async def refresh(self) -> dict[str, Any]:
        return await self._ask("refresh")  # type: ignore[no-any-return]

    async def _ask(self, method: str) -> Any:
        try:
            return await getattr(self._registry, method).remote()
        except Exception as err:
            raise UnavailableError(
                f"The dataset registry does not answer ({type(err).__name__}); retry later"
            ) from err
