"""The ingress replica's view of the current panel, for validating specs at submit time.

The replica asks the DatasetRegistry for the current version at most every `check_s` and
fetches the panel only when the version changes; the panel comes from the object store
zero-copy, so validation is the engine's own `validate_against` on the very arrays the run
will read. When the registry cannot answer, the last panel keeps serving.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from dataprep.panel import FactorPanel
from serve.errors import UnavailableError


class PanelCache:
    def __init__(self, registry: Any, *, check_s: float) -> None:
        self._registry, self._check_s = registry, check_s
        self._panel: FactorPanel | None = None
        self._version: str | None = None
        self._checked = -float("inf")
        self._lock = asyncio.Lock()

    async def current(self) -> tuple[str, FactorPanel]:
        """(version, panel) of the current data version."""
        if time.monotonic() - self._checked >= self._check_s or self._panel is None:
            async with self._lock:
                if time.monotonic() - self._checked >= self._check_s or self._panel is None:
                    await self._check()
        assert self._panel is not None and self._version is not None
        return self._version, self._panel

    async def _check(self) -> None:
        try:
            handle = await self._registry.get.remote()
            if handle.version != self._version:
                self._panel = await handle.ref
                self._version = handle.version
        except Exception as err:
            if self._panel is None:
                raise UnavailableError(
                    f"No data panel is available yet ({type(err).__name__}); retry later",
                    retry_after_s=10,
                ) from err
        self._checked = time.monotonic()
