"""HTTP clients for the reliability tests: many submits at once, and an answer log that
tells refusals (429/503 with Retry-After) from server errors."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

# Heavier specs for the demo markets (the heavy one is ~0.2 s of engine time on one core).
DAILY_1Y: dict[str, Any] = {
    "start": "2021-06-01",
    "end": "2022-05-31",
    "rebalance": "daily",
    "ranking": [{"factor": "PBR", "ascending": True}, {"factor": "MOM_3M"}],
    "top_n": 10,
}
DAILY_3Y: dict[str, Any] = {
    "start": "2021-03-02",
    "end": "2023-12-28",
    "rebalance": "daily",
    "ranking": [
        {"factor": "PBR", "ascending": True},
        {"factor": "MOM_3M"},
        {"factor": "VOL_60D", "ascending": True},
    ],
    "top_n": 25,
}


@dataclass
class AnswerLog:
    """Every answer's status; refusals must carry Retry-After, nothing else may be a 5xx."""

    statuses: Counter[int] = field(default_factory=Counter)
    refusals_without_retry_after: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)  # the first few, to show what they said
    slowest_s: float = 0.0

    def note(self, response: httpx.Response, *, seconds: float = 0.0) -> None:
        status = response.status_code
        self.statuses[status] += 1
        self.slowest_s = max(self.slowest_s, seconds)
        described = f"{response.request.method} {response.request.url.path} {status}"
        if status in (429, 503):
            if len(self.refusals) < 3:
                self.refusals.append(f"{described}: {response.text[:200]}")
            if not response.headers.get("retry-after", "").isdigit():
                self.refusals_without_retry_after.append(f"{described}: {response.text[:200]}")
        elif status >= 500:
            self.server_errors.append(f"{described}: {response.text[:300]}")

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def unavailable_503(self) -> int:
        return self.statuses[503]

    @property
    def five_xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def client(base_url: str, key: str, *, timeout_s: float = 70.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout_s
    )


async def _post_all(
    base_url: str, key: str, path: str, bodies: Sequence[Any], *, concurrency: int
) -> list[httpx.Response]:
    answers: list[httpx.Response | None] = [None] * len(bodies)
    queue = list(enumerate(bodies))

    async def worker(http: httpx.AsyncClient) -> None:
        async with http:
            while queue:
                index, body = queue.pop()
                answers[index] = await http.post(path, json=body)

    await asyncio.gather(*(worker(client(base_url, key)) for _ in range(concurrency)))
    return [a for a in answers if a is not None]


def submit_all(
    base_url: str, key: str, specs: Sequence[dict[str, Any]], *, concurrency: int = 8
) -> list[str]:
    """POST every spec (several at once); the run ids. Every submit must be accepted."""
    answers = asyncio.run(
        _post_all(base_url, key, "/v1/backtests", specs, concurrency=concurrency)
    )
    refused = [f"{a.status_code} {a.text[:200]}" for a in answers if a.status_code != 202]
    assert not refused, refused
    return [a.json()["id"] for a in answers]


def wait_for(predicate: Callable[[], bool], *, timeout_s: float, every_s: float = 0.05) -> bool:
    """True as soon as `predicate()` is; False after `timeout_s` (the caller asserts)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(every_s)
    return True
