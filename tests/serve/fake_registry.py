"""The FastAPI app in-process, without Ray: a fake DatasetRegistry, the real Service on a
fresh PostgreSQL database, httpx over ASGI. No dispatcher runs, so a submitted run stays
queued until a test moves it with SQL (`Api.finish`, `Api.sql`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import numpy as np
import psycopg
import ray

from backtest.result import BacktestResult
from backtest.spec import StrategySpec
from backtest.statistics import Statistics, compute_statistics
from backtest.sweep import SweepSpec
from backtest.sweep_analysis import analyse_sweep, returns_matrix
from dataprep.factors import FACTOR_NAMES
from dataprep.panel import FactorCoverage, PanelIndex, coverage_rows
from serve.analyses import Analyses
from serve.api import create_api
from serve.database import DONE_CHANNEL, open_pool
from serve.keys import create_key
from serve.options import ServiceOptions
from serve.service import Service
from serve.store.records import AnalysisInputs

VERSION = "fake-v1"
FIRST_DAY, LAST_DAY = date(2021, 1, 4), date(2022, 12, 30)
N_STOCKS = 60

# A one-year backtest that fits the fake data (as tests/serve/harness.py's SPEC does the demo).
SPEC: dict[str, Any] = {
    "start": "2021-06-01",
    "end": "2022-05-31",
    "ranking": [{"factor": "PBR", "ascending": True}, {"factor": "MOM_3M"}],
    "top_n": 10,
}


def panel_index(
    *,
    version: str = VERSION,
    first: date = FIRST_DAY,
    last: date = LAST_DAY,
    empty: Mapping[str, tuple[str, ...]] | None = None,
) -> PanelIndex:
    """An index with every catalog factor, business days first..last, both benchmarks; each
    factor covers every listed stock-day from the first day, but those in `empty` (factor
    -> its inputs never imported), which have no value at all."""
    days = np.arange(np.datetime64(first), np.datetime64(last) + 1, dtype="datetime64[D]")
    dates = days[np.is_busday(days)]
    empty = empty or {}
    coverage = {
        name: FactorCoverage(first_day=None, share=0.0, missing_inputs=empty[name])
        if name in empty
        else FactorCoverage(first_day=dates[0].astype(date), share=1.0)
        for name in FACTOR_NAMES
    }
    return PanelIndex(
        version=version,
        dates=dates,
        factor_names=FACTOR_NAMES,
        benchmarks=("KOSDAQ", "KOSPI"),
        n_stocks=N_STOCKS,
        coverage=coverage,
    )


@dataclass(frozen=True)
class FakeHandle:
    """What DatasetRegistry.get answers, less the ObjectRef nobody here reads."""

    version: str
    index: PanelIndex


class _Remote:
    """`method.remote(...)`, an awaitable like an actor method's ObjectRef."""

    def __init__(self, method: Callable[..., Awaitable[Any]]) -> None:
        self._method = method

    def remote(self, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return self._method(*args, **kwargs)


@dataclass
class FakeRegistry:
    """Stands in for the DatasetRegistry actor handle: `get`, `versions`, `refresh`, each with
    `.remote()`. `calls` counts them; `down` makes every call raise, as a dead actor does."""

    index: PanelIndex = field(default_factory=panel_index)
    down: bool = False
    calls: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.get, self.versions, self.refresh = (
            _Remote(self._get), _Remote(self._versions), _Remote(self._refresh)
        )

    def _called(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.down:
            raise ConnectionError("the registry actor died")

    async def _get(self, version: str | None = None) -> FakeHandle:
        self._called("get")
        return FakeHandle(version=self.index.version, index=self.index)

    async def _versions(self) -> list[dict[str, Any]]:
        self._called("versions")
        shape = [len(self.index.factor_names), self.index.n_days, self.index.n_stocks]
        return [{
            "version": self.index.version, "current": True, "shape": shape,
            "nbytes": 4 * shape[0] * shape[1] * shape[2], "age_s": 12.5,
            "timings": {"load": 0.5, "factors": 1.25},
            "coverage": coverage_rows(self.index),  # as DatasetRegistry.versions shows it
        }]

    async def _refresh(self, wait: bool = False) -> dict[str, Any]:
        self._called("refresh")
        return {"current": self.index.version, "latest": self.index.version, "building": []}


def statistics(*, seed: int = 0, n_days: int = 20) -> Statistics:
    """Real statistics of a small random equity curve (different seeds rank differently)."""
    rng = np.random.default_rng(seed)
    dates = [date(2021, 6, 1 + day) for day in range(n_days)]
    equity = 1e8 * np.cumprod(1 + rng.normal(0.001, 0.01, n_days))
    return compute_statistics(
        dates=dates, equity=equity, benchmark_equity=np.full(n_days, 1e8),
        initial_capital=1e8, turnovers=np.array([1.0]), costs_paid=1000.0,
        holdings=np.full(n_days, 10.0), risk_free_rate=0.0, cash_rebalances=0,
    )


def result_of(spec: dict[str, Any], *, stats: Statistics, version: str = VERSION) -> str:
    """A BacktestResult (JSON text) for `spec`, as the worker writes it."""
    n = stats.n_days
    return BacktestResult(
        engine_version="engine-test", data_version=version,
        spec=StrategySpec.model_validate(spec),
        dates=[date(2021, 6, 1 + day) for day in range(n)],
        equity=[1e8] * n, benchmark_equity=[1e8] * n, returns=[0.0] * n,
        rebalances=[], statistics=stats,
    ).model_dump_json()


@dataclass
class Api:
    app: Any
    database_url: str
    keys: dict[str, str]
    registry: FakeRegistry
    service: Service

    def client(self, who: str | None = "alice", **headers: str) -> httpx.AsyncClient:
        """A client of the app as `who` (None: no Authorization header)."""
        if who is not None:
            headers["Authorization"] = f"Bearer {self.keys[who]}"
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://test", headers=headers
        )

    async def sql(self, statement: str, params: Any = ()) -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(
            self.database_url, autocommit=True
        ) as conn:
            cur = await conn.execute(statement, params)
            return await cur.fetchall() if cur.description else []

    async def analyse(self) -> None:
        """Analyse every sweep whose variants have all ended, as the dispatcher does, with
        the analysis in-process (no panel here: no walk-forward)."""

        async def analyse(inputs: AnalysisInputs) -> str:
            numbers, matrix = returns_matrix(inputs.variants, inputs.returns)
            values = np.array([np.nan if v is None else v for v in inputs.values])
            return analyse_sweep(SweepSpec.model_validate(inputs.spec), None, values=values,
                                 variants=numbers, returns=matrix).model_dump_json()

        analyses = Analyses(analyse)
        pool = await open_pool(self.database_url, max_size=2, timeout_s=10,
                               statement_timeout_ms=30_000, name="test-analyses")
        try:
            await analyses.start_pending(pool)
            await analyses.wait()
        finally:
            await pool.close()

    async def rows(self) -> dict[str, int]:
        """Rows in the service tables (to show a refused request wrote nothing)."""
        (runs, sweeps), = await self.sql(
            "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM sweeps)"
        )
        return {"runs": runs, "sweeps": sweeps}

    async def finish(
        self, run_id: str, *, status: str = "done", seed: int = 0, with_result: bool = True
    ) -> Statistics:
        """Move a run to `status` as the dispatcher would (statistics, result, timestamps,
        then NOTIFY qbt_done with its id); its statistics."""
        stats = statistics(seed=seed)
        (spec,), = await self.sql("SELECT spec FROM runs WHERE id = %s", (run_id,))
        done = status == "done"
        result = result_of(spec, stats=stats) if done and with_result else None
        returns = np.random.default_rng(seed).normal(0.0005, 0.01, stats.n_days)
        await self.sql(
            "UPDATE runs SET status = %s, attempts = 1,"
            " started_at = created_at + (now() - created_at) / 2,"
            " finished_at = now(), lease_until = NULL, engine_version = %s, statistics = %s,"
            " result = %s, error = %s, daily_returns = %s WHERE id = %s",
            (status, "engine-test" if done else None,
             stats.model_dump_json() if done else None, result,
             None if done else "boom", returns.astype("<f4").tobytes() if done else None,
             run_id),
        )
        await self.sql("SELECT pg_notify(%s, %s)", (DONE_CHANNEL, run_id))
        return stats


@asynccontextmanager
async def serving(
    database_url: str,
    *,
    registry: FakeRegistry | None = None,
    max_sweep_variants: int = 8,
    **options: Any,
) -> AsyncIterator[Api]:
    """The app over `database_url` with its lifespan running (pool and LISTEN connection
    open); keys for alice, bob and root (admin). `options` are ServiceOptions fields."""
    registry = registry if registry is not None else FakeRegistry()
    service = Service(
        database_url=database_url,
        options=ServiceOptions(**options),
        registry=registry,
        max_sweep_variants=max_sweep_variants,
    )
    app = create_api(service)
    keys = {
        "alice": create_key(database_url, owner="alice"),
        "bob": create_key(database_url, owner="bob"),
        "root": create_key(database_url, owner="root", admin=True),
    }
    ray_was_up = ray.is_initialized()  # by another test module's session Ray, not by us
    async with app.router.lifespan_context(app):
        yield Api(app=app, database_url=database_url, keys=keys, registry=registry,
                  service=service)
    assert ray_was_up or not ray.is_initialized(), "serving the app started Ray"


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The `error` object of a 4xx/5xx answer, checking its shape on the way."""
    body = response.json()
    assert set(body) == {"error"}, body
    shape = {"code", "message", "field"}
    assert shape <= set(body["error"]) <= shape | {"id", "idempotency_key"}, body
    return body["error"]  # type: ignore[no-any-return]
