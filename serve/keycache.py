"""Who is calling: API keys verified against PostgreSQL, kept for `ttl_s`, forgotten at once
when a key is revoked (KEYS_CHANNEL) or the listener reconnects (notices may be lost)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from serve.database import Conn
from serve.errors import AuthenticationError
from serve.keys import Owner, lookup_owner

KEY_CACHE_MAX = 10_000


class KeyCache:
    def __init__(
        self, *, db: Callable[[], AbstractAsyncContextManager[Conn]], ttl_s: float
    ) -> None:
        self._db, self._ttl_s = db, ttl_s
        self._keys: dict[str, tuple[Owner, float]] = {}

    async def authenticate(self, token: str | None) -> Owner:
        if not token:
            raise AuthenticationError("Send the API key as `Authorization: Bearer <key>`")
        cached = self._keys.get(token)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        async with self._db() as conn:
            owner = await lookup_owner(conn, token)
        if len(self._keys) >= KEY_CACHE_MAX:
            self._keys.clear()
        self._keys[token] = (owner, time.monotonic() + self._ttl_s)
        return owner

    def revoked(self, key_id: str) -> None:
        self._keys = {t: c for t, c in self._keys.items() if c[0].key_id != key_id}

    def clear(self) -> None:
        self._keys = {}
