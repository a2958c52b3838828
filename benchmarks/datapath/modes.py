"""The four data paths. The engine and the strategies are the same in every mode; only how
a backtest gets its FactorPanel differs.

- db-per-run: each backtest loads its window (+ the catalog's lookback) from PostgreSQL and
  computes the 54 factors itself (`market.load_window`), over the worker's connection.
- redis-pickle: prepared once, stored as zlib(pickle({'prices': records, 'factors':
  records})); each backtest GETs, decompresses, unpickles and rebuilds its frame.
- redis-arrow: prepared once, stored as compressed Arrow IPC; each backtest GETs and
  decompresses into buffers numpy views.
- ray-object-store: QBT: the DatasetRegistry builds the panel once and owns it in the
  object store; each backtest task `ray.get`s the ObjectRef: a zero-copy mapping
  (`rayexec`).

`prepare_redis` runs once per Redis mode in its own process (its heap is reported, not
charged to the workers); `open_fetcher` runs in each worker process; `run_job` is the one
backtest function every mode and every worker calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from benchmarks.datapath.memory import peak_rss_bytes
from benchmarks.datapath.netio import tcp_bytes_received

DB_PER_RUN = "db-per-run"
REDIS_PICKLE = "redis-pickle"
REDIS_ARROW = "redis-arrow"
RAY_OBJECT_STORE = "ray-object-store"
MODES = (DB_PER_RUN, REDIS_PICKLE, REDIS_ARROW, RAY_OBJECT_STORE)
REDIS_MODES = (REDIS_PICKLE, REDIS_ARROW)
KEY_TTL_S = 4 * 3600  # a crashed run's blobs expire on their own
STATISTICS = ("total_return", "sharpe", "max_drawdown", "n_rebalances")


@dataclass
class Fetched:
    """A backtest's panel and what getting it read from a database."""

    panel: Any  # FactorPanel
    rows_read: int = 0
    blob_bytes: int = 0  # bytes of the stored blob fetched (Redis modes)


class Fetcher(Protocol):
    def fetch(self) -> Fetched: ...

    def close(self) -> None: ...

    def outside_pids(self) -> dict[int, str]: ...


def run_job(fetch: Callable[[], Fetched], job: dict[str, Any]) -> dict[str, Any]:
    """Fetch the panel, run the job's strategy on it, answer timings and key statistics."""
    import os

    from backtest import StrategySpec, run_backtest

    answer: dict[str, Any] = {"number": job["number"], "spec": job["spec_index"],
                              "pid": os.getpid(), "error": None}
    spec = StrategySpec.model_validate(job["spec"])
    received = tcp_bytes_received()
    began = time.perf_counter()
    try:
        fetched = fetch()
        fetched_at = time.perf_counter()
        received = tcp_bytes_received() - received
        result = run_backtest(spec, fetched.panel)
        ended = time.perf_counter()
    except Exception as err:  # a failed run is reported, not fatal to the worker
        answer["error"] = f"{type(err).__name__}: {err}"
        return answer
    statistics = result.statistics.model_dump(mode="json")
    answer.update(
        data_s=fetched_at - began,
        engine_s=ended - fetched_at,
        task_s=ended - began,
        rows_read=fetched.rows_read,
        bytes_received=received,
        blob_bytes=fetched.blob_bytes,
        panel_bytes=int(fetched.panel.nbytes),
        peak_rss_bytes=peak_rss_bytes(),
        statistics={k: statistics.get(k) for k in STATISTICS},
    )
    del fetched, result  # freed here by reference counting, as a Celery task's objects are
    if job.get("hold_s"):
        time.sleep(job["hold_s"])  # warm-up only: keep this worker busy so others start
    return answer


# -- db-per-run --------------------------------------------------------------------------


class DatabaseFetcher:
    """One persistent connection per worker (as a Celery worker keeps one)."""

    def __init__(self, context: dict[str, Any]) -> None:
        import psycopg

        from dataprep.panel import FactorPanel  # noqa: F401  (imports before the clock)

        self._context = context
        self._conn = psycopg.connect(context["database_url"])

    def fetch(self) -> Fetched:
        from datetime import date

        from benchmarks.datapath.market import load_window

        window = self._context["window"]
        loaded = load_window(
            self._context["database_url"],
            start=date.fromisoformat(window["signal_day"]),
            end=date.fromisoformat(window["end"]),
            conn=self._conn,
        )
        return Fetched(loaded.panel, rows_read=loaded.rows_read)

    def close(self) -> None:
        self._conn.close()

    def outside_pids(self) -> dict[int, str]:
        return {int(self._conn.info.backend_pid): "postgres"}


# -- Redis -------------------------------------------------------------------------------


class RedisFetcher:
    def __init__(self, context: dict[str, Any], *, decode: Callable[[bytes], Any]) -> None:
        import redis

        from benchmarks.datapath import codecs  # noqa: F401  (imports before the clock)

        self._client = redis.Redis.from_url(context["redis_url"])
        self._client.ping()
        self._key = context["key"]
        self._decode = decode

    def fetch(self) -> Fetched:
        blob = self._client.get(self._key)
        if not isinstance(blob, bytes):
            raise LookupError(f"Redis key {self._key} is gone (expired or deleted)")
        size = len(blob)
        panel = self._decode(blob)
        del blob
        return Fetched(panel, blob_bytes=size)

    def close(self) -> None:
        self._client.close()

    def outside_pids(self) -> dict[int, str]:
        return {}  # the Redis server is added by the driver (one server for all workers)


def _decode_pickle(blob: bytes) -> Any:
    from benchmarks.datapath.codecs import decode_pickle

    return decode_pickle(blob, version="redis-pickle")


def _decode_arrow(blob: bytes) -> Any:
    from benchmarks.datapath.codecs import decode_arrow

    return decode_arrow(blob)


def open_fetcher(mode: str, context: dict[str, Any]) -> Fetcher:
    """The worker-side data path of a non-Ray mode."""
    if mode == DB_PER_RUN:
        return DatabaseFetcher(context)
    if mode == REDIS_PICKLE:
        return RedisFetcher(context, decode=_decode_pickle)
    if mode == REDIS_ARROW:
        return RedisFetcher(context, decode=_decode_arrow)
    raise ValueError(f"Got {mode!r}: no worker-process data path (expected one of {MODES[:3]})")


# -- preparation (once per Redis mode, in its own process) --------------------------------


def prepare_redis(
    mode: str, *, plan: dict[str, Any], key: str, arrow_codec: str
) -> dict[str, Any]:
    """Build the window's panel once, encode it as the mode stores it, SET it in Redis."""
    from datetime import date

    import redis

    from benchmarks.datapath import codecs
    from benchmarks.datapath.market import load_window

    window = plan["window"]
    began = time.perf_counter()
    loaded = load_window(
        plan["database_url"],
        start=date.fromisoformat(window["signal_day"]),
        end=date.fromisoformat(window["end"]),
    )
    client = redis.Redis.from_url(plan["redis_url"])
    encoded = time.perf_counter()
    trials: dict[str, Any] = {}
    if mode == REDIS_PICKLE:
        blob, raw = codecs.encode_pickle(loaded.panel)
        codec = "zlib(pickle(records))"
    else:
        codecs_to_try = codecs.ARROW_CODECS if arrow_codec == "auto" else (arrow_codec,)
        blob, raw, codec = b"", 0, ""
        for name in codecs_to_try:
            candidate, size = codecs.encode_arrow(loaded.panel, codec=name)
            client.set(key, candidate, ex=KEY_TTL_S)
            trials[name] = {"blob_bytes": len(candidate), "read_s": _best_read(client, key)}
            if not codec or trials[name]["read_s"] < trials[codec]["read_s"]:
                blob, raw, codec = candidate, size, name
            del candidate
    encode_s = time.perf_counter() - encoded
    stored = time.perf_counter()
    client.set(key, blob, ex=KEY_TTL_S)
    set_s = time.perf_counter() - stored
    return {
        "seconds": time.perf_counter() - began,
        "load_s": loaded.load_s,
        "compute_s": loaded.compute_s,
        "encode_s": encode_s,
        "set_s": set_s,
        "rows_read": loaded.rows_read,
        "bytes_received": loaded.bytes_received,
        "panel_bytes": int(loaded.panel.nbytes),
        "raw_bytes": raw,
        "blob_bytes": len(blob),
        "codec": codec,
        "codec_trials": trials,
        "redis_client": f"redis-py {redis.__version__}, "
                        + ("hiredis parser" if _hiredis() else "pure-Python parser (no hiredis)"),
        "peak_rss_bytes": peak_rss_bytes(),
    }


def _hiredis() -> bool:
    try:
        from redis.utils import HIREDIS_AVAILABLE
    except ImportError:
        return False
    return bool(HIREDIS_AVAILABLE)


def _best_read(client: Any, key: str, *, repeats: int = 3) -> float:
    """Best of a few GET + decode of an Arrow blob (to pick the faster codec)."""
    from benchmarks.datapath.codecs import decode_arrow

    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        decode_arrow(client.get(key))
        best = min(best, time.perf_counter() - began)
    return best
