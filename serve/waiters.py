"""`?wait=`: callers waiting for runs to end, woken by DONE_CHANNEL notices (or a re-read)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager

from runtime.names import FINISHED
from serve.database import Conn
from serve.store import runs as store_runs

# A waiter re-reads its run's status this often, in case a NOTIFY was lost (a reconnect of the
# listener wakes every waiter anyway). Each read takes a pooled connection: at 2 s, 1,000
# waiting clients alone were 500 queries/s against a pool of 10.
WAIT_POLL_S = 10.0


class Waiters:
    def __init__(
        self, *, db: Callable[[], AbstractAsyncContextManager[Conn]], max_wait_s: float
    ) -> None:
        self._db, self._max_wait_s = db, max_wait_s
        self._events: dict[str, list[asyncio.Event]] = defaultdict(list)

    async def wait_for_end(self, owner: str, run_id: uuid.UUID, *, wait_s: float) -> str:
        """Wait (at most wait_s) until the run is done, failed or cancelled; its status."""
        deadline = time.monotonic() + min(wait_s, self._max_wait_s)
        key, event = str(run_id), asyncio.Event()
        self._events[key].append(event)
        try:
            while True:
                event.clear()
                async with self._db() as conn:
                    status = await store_runs.run_status(conn, owner=owner, run_id=run_id)
                left = deadline - time.monotonic()
                if status in FINISHED or left <= 0:
                    return status
                try:
                    await asyncio.wait_for(event.wait(), timeout=min(left, WAIT_POLL_S))
                except TimeoutError:
                    pass
        finally:
            self._events[key].remove(event)
            if not self._events[key]:
                del self._events[key]

    def ended(self, ids: Iterable[str]) -> None:
        for ident in ids:
            for event in self._events.get(ident, ()):
                event.set()

    def wake_all(self) -> None:
        for events in self._events.values():
            for event in events:
                event.set()
