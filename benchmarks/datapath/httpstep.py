"""The HTTP scenario: N simulated users, each a real HTTP client, submit one backtest each
through the Serve API and wait for it (benchmarks/http_load.py does the work)."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from typing import Any

_REQUEST_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def run_http(
    *, url: str, key: str, users: int, start: str, end: str, warmup: int = 2
) -> dict[str, Any]:
    """http_load's report for `users` clients with one run each, plus a status."""
    from benchmarks import http_load

    args = http_load.parse_args([
        "--url", url, "--key", key, "--clients", str(users), "--runs-per-client", "1",
        "--start", start, "--end", end, "--warmup", str(warmup),
    ])
    answer = asyncio.run(http_load.run_load(args))
    answer["errors"] = error_kinds(answer.get("errors") or {})
    done = answer.get("outcomes", {}).get("done", 0)
    answer["status"] = "ok" if done == answer["runs"] and not answer["errors"] else "errors"
    return answer


def error_kinds(errors: dict[str, int]) -> dict[str, int]:
    """Errors grouped by kind: the same message with its request id taken out."""
    kinds: Counter[str] = Counter()
    for message, times in errors.items():
        kinds[_REQUEST_ID.sub("<id>", message)] += times
    return dict(kinds.most_common())
