"""`qbt up`, `qbt down`, `qbt status`: start, stop and describe one QBT deployment.

up:     database (configured or embedded) -> migrations -> demo market if empty ->
        Ray head (started here unless QBT_RAY_ADDRESS / a running head) -> Serve app
        (registry + dispatcher + ingress) -> /healthz -> demo API key -> example run.
down:   Serve app and QBT's actors, then only what `up` itself started (the Ray head,
        the embedded PostgreSQL), as recorded in QBT_HOME/cluster.json.
"""

from __future__ import annotations

import asyncio
import json
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg

from cluster.head import (
    dashboard_sign_in,
    ensure_ray_token,
    runs_dispatcher,
    start_head,
    stop_head,
)
from cluster.monitoring import install_dashboard, session_dir
from runtime.config import Settings
from runtime.database import (
    embedded_pgdata,
    embedded_postgres_running,
    resolve_database_url,
    stop_embedded_postgres,
)
from runtime.names import DISPATCHER_ACTOR, NAMESPACE, SERVICE_ACTORS
from runtime.state import ClusterState, clear_state, head_alive, read_state, write_state

OTHER_ACTORS = tuple(n for n in SERVICE_ACTORS if n != DISPATCHER_ACTOR)  # stopped after it
EXAMPLE_SPEC = Path(__file__).resolve().parent.parent / "examples" / "value_momentum.json"
DEMO_OWNER = "demo"


class UpFailedError(RuntimeError):
    """`qbt up` could not finish; what it had started is stopped again."""


def up(settings: Settings, *, example: bool = True) -> ClusterState:
    """Start what is not running yet (each step recorded in QBT_HOME/cluster.json as soon as
    it has started, so `qbt down` can undo it), then run the example. On any failure stop
    what this call started and raise UpFailedError with one line."""
    started: list[str] = []
    try:
        return _up(settings, started=started, example=example)
    except BaseException as err:
        stopped = _undo(settings, started)
        if isinstance(err, KeyboardInterrupt):
            raise
        undone = f"; stopped what it had started: {', '.join(stopped)}" if stopped else ""
        raise UpFailedError(f"{_reason(err, settings.home)}{undone}") from err


def _reason(err: BaseException, home: Path) -> str:
    """One line for the user; a traceback file for errors that are not the user's."""
    from cluster.errors import user_error_message

    message = user_error_message(err) if isinstance(err, Exception) else None
    if message is not None:
        return message
    home.mkdir(parents=True, exist_ok=True)
    log = home / "up-error.log"
    log.write_text("".join(traceback.format_exception(err)))
    return f"{type(err).__name__}: {' '.join(str(err).split())[:300]} (traceback in {log})"


def _up(settings: Settings, *, started: list[str], example: bool) -> ClusterState:
    from dataprep.defaults import DEMO_END, DEMO_START, DEMO_STOCKS
    from dataprep.schema import migrate
    from dataprep.warehouse import is_empty, load_demo
    from runtime.ray_connection import cluster_address, connect_ray

    state = read_state(settings.home)
    if settings.database_url:
        url, state.embedded_pgdata = settings.database_url, None
    else:
        pgdata = embedded_pgdata(settings.home)
        was_running = embedded_postgres_running(pgdata)
        url = resolve_database_url(settings)
        state.embedded_pgdata = str(pgdata)
        if not was_running:
            started.append("database")
    state.database_url = url
    write_state(settings.home, state)
    migrate(url)
    with psycopg.connect(url) as conn:
        empty = is_empty(conn)
    if empty:
        print(f"database is empty: loading the demo market ({DEMO_STOCKS:,} stocks, "
              f"{DEMO_START.year}-{DEMO_END.year}) ...")
        report = load_demo(url)
        print(", ".join(f"{t} {n:,}" for t, n in report.rows.items())
              + f" rows in {report.generate_seconds + report.load_seconds:.1f} s")

    if cluster_address(settings) is None:
        token = ensure_ray_token()
        if token is not None:
            print(f"created the Ray auth token {token} (0600; `ray get-auth-token` prints it)")
        print(f"starting a Ray head (GCS port {settings.ray_gcs_port}, dashboard "
              f"http://{settings.dashboard_host}:{settings.dashboard_port}) ...")
        address, pgid = start_head(settings, log_path=settings.home / "ray-head.log")
        state.ray_address, state.head_pgid = address, pgid
        started.append("head")
        write_state(settings.home, state)
    connect_ray(settings, log_to_driver=False)

    from serve.app import deploy

    print("starting the DatasetRegistry, the dispatcher and the API (builds the panel) ...")
    if not _service_running():
        started.append("service")
    deploy(settings, url)
    state.http_url = f"http://{settings.http_host}:{settings.http_port}"
    write_state(settings.home, state)
    key = demo_key(settings, url, http_url=state.http_url)
    print(f"\nQBT is up: API {state.http_url} (docs {state.http_url}/docs), dashboard "
          f"http://{settings.dashboard_host}:{settings.dashboard_port}")
    print(f"dashboard: {dashboard_sign_in()}")
    print("           Actors > dataset_registry, dispatcher: each one's page shows its live "
          "state (Logs)")
    for line in install_dashboard(session_dir()).lines(settings):
        print(line)
    print(f"demo API key (admin, owner '{DEMO_OWNER}'): {key}")
    auth = f"-H 'Authorization: Bearer {key}'"
    print(f"try:  curl -s {auth} {state.http_url}/v1/factors | head -c 300")
    print(f"      curl -s {auth} -H 'Content-Type: application/json' "
          f"-d @examples/value_momentum.json '{state.http_url}/v1/backtests?wait=60'")
    if example:
        run_example(state.http_url, key)
    print(f"\nweb app: {state.http_url}/  sign in with the demo key: {key}")
    return state


def _service_running() -> bool:
    import ray

    try:
        ray.get_actor(DISPATCHER_ACTOR, namespace=NAMESPACE)
        return True
    except ValueError:
        return False


def _undo(settings: Settings, started: list[str]) -> list[str]:
    """Stop, newest first, what a failed `up` started, and forget it in the state file. A
    step that fails is named (and stays recorded for `qbt down`); the rest are still tried."""
    state = read_state(settings.home)
    steps: list[tuple[str, Callable[[], list[str]], tuple[str, ...]]] = []
    if "service" in started and "head" not in started:  # a head of ours takes it along
        steps.append(("the serve app", partial(_stop_service, settings, head_follows=False), ()))
    if "head" in started and state.head_pgid is not None:
        steps.append(("the ray head", partial(_stop_head, state.head_pgid),
                      ("ray_address", "head_pgid", "http_url")))
    if "database" in started and state.embedded_pgdata:
        steps.append(("the embedded postgres",
                      partial(_stop_database, Path(state.embedded_pgdata)),
                      ("embedded_pgdata",)))
    stopped: list[str] = []
    for name, stop, recorded in steps:
        try:
            stopped += stop()
        except Exception as err:
            stopped.append(f"NOT {name} ({type(err).__name__}: {err}; run `qbt down`)")
            continue
        for field_name in recorded:
            setattr(state, field_name, None)
    if state.head_pgid is None and state.embedded_pgdata is None:
        clear_state(settings.home)
    else:
        write_state(settings.home, state)
    return stopped


def demo_key(settings: Settings, database_url: str, *, http_url: str) -> str:
    """The demo key kept in QBT_HOME/demo_key (made once; only its hash is in the database),
    made anew when the API does not accept it (e.g. a new database)."""
    from serve.keys import create_key

    path = settings.home / "demo_key"
    if path.exists():
        key = path.read_text().strip()
        answer = httpx.get(f"{http_url}/v1/datasets", headers={"Authorization": f"Bearer {key}"},
                           timeout=30)
        if answer.status_code == 200:
            return key
    key = create_key(database_url, owner=DEMO_OWNER, admin=True)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def run_example(http_url: str, key: str) -> dict[str, Any]:
    spec = json.loads(EXAMPLE_SPEC.read_text())
    print(f"\nexample backtest ({EXAMPLE_SPEC.name}) through the API:")
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {key}"}
    response = httpx.post(f"{http_url}/v1/backtests", params={"wait": 60}, json=spec,
                          headers=headers, timeout=90)
    if response.status_code not in (200, 202):
        raise RuntimeError(f"the example run was refused: {response.status_code} {response.text}")
    body = response.json()
    while body["status"] in ("queued", "running"):
        time.sleep(1)
        body = httpx.get(f"{http_url}/v1/backtests/{body['id']}", headers=headers,
                         timeout=30).json()
    print(f"run {body['id']}: {body['status']} in {time.perf_counter() - started:.1f} s "
          f"(data version {body.get('data_version')})")
    if body["status"] != "done":
        raise RuntimeError(f"the example run {body['id']} ended {body['status']}: "
                           f"{body.get('error')}")
    for name, value in (body.get("statistics") or {}).items():
        shown = f"{value:,.4f}" if isinstance(value, float) else value
        print(f"{name:>20}  {shown}")
    return body


def down(settings: Settings) -> list[str]:
    """Stop the Serve app and QBT's actors, then what `up` started; return what was stopped.

    When `up` started the head and the dispatcher runs on it, stopping the head stops them
    all at once (`stop_head`: the dispatcher dies with every other worker, so nothing is
    claimed or written after this returns), with no Ray driver to start: under load, a driver
    took 8 s of the 11-12 s that `down` took (importing Ray, then finding the actor).
    Otherwise a driver kills the dispatcher first and, on a cluster `up` did not start, shuts
    down Serve and the other actors."""
    state = read_state(settings.home)
    stopped: list[str] = []
    pgid = state.head_pgid if head_alive(state.head_pgid) else None  # the head `up` started
    if pgid is not None and runs_dispatcher(pgid):
        stopped += [DISPATCHER_ACTOR, "serve app", *OTHER_ACTORS]
    elif _cluster_address(settings) is not None:
        stopped += _stop_service(settings, head_follows=pgid is not None)
    if pgid is not None:
        stop_head(pgid)
        stopped.append(f"ray head (process group {pgid})")
    if state.embedded_pgdata:
        stopped += _stop_database(Path(state.embedded_pgdata))
    clear_state(settings.home)
    return stopped


def _cluster_address(settings: Settings) -> str | None:
    from runtime.ray_connection import cluster_address  # it imports Ray: only when needed

    return cluster_address(settings)


def _stop_service(settings: Settings, *, head_follows: bool) -> list[str]:
    """The dispatcher first (no claim or write after it), then the Serve app and the other
    actors, unless the head that `up` started is stopped next: that takes all of them at
    once, without Serve's seconds of graceful shutdown."""
    import ray
    from ray import serve

    from runtime.ray_connection import connect_ray

    stopped = []
    connect_ray(settings, log_to_driver=False)
    try:  # first: no claim or write after this point; its runs stay in PostgreSQL
        ray.kill(ray.get_actor(DISPATCHER_ACTOR, namespace=NAMESPACE), no_restart=True)
        stopped.append(DISPATCHER_ACTOR)
    except ValueError:
        pass
    if head_follows:
        ray.shutdown()
        return stopped + ["serve app", *OTHER_ACTORS]
    serve.shutdown()
    stopped.append("serve app")
    for name in OTHER_ACTORS:
        try:
            ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
            stopped.append(name)
        except ValueError:
            pass
    ray.shutdown()
    return stopped


def _stop_head(pgid: int) -> list[str]:
    """The head a failed `up` started: this driver's connection first, then the head."""
    import ray

    ray.shutdown()
    if not head_alive(pgid):
        return []
    stop_head(pgid)
    return [f"ray head (process group {pgid})"]


def _stop_database(pgdata: Path) -> list[str]:
    return [f"embedded postgres ({pgdata})"] if stop_embedded_postgres(pgdata) else []


async def _run_counts(database_url: str) -> dict[str, int]:
    from serve.database import connect_once
    from serve.store.queue import counts_by_status

    async with connect_once(database_url, timeout_s=5) as conn:
        return await counts_by_status(conn)


def status(settings: Settings) -> dict[str, Any]:
    import ray

    from runtime.ray_connection import cluster_address, connect_ray

    report: dict[str, Any] = {"ray_address": cluster_address(settings)}
    if report["ray_address"] is None:
        report["running"] = False
        return report
    connect_ray(settings, log_to_driver=False)
    report["running"] = True
    report["resources"] = ray.cluster_resources()
    report["available"] = ray.available_resources()
    report["nodes"] = [
        {"node": n["NodeManagerAddress"], "alive": n["Alive"], "cpus": n["Resources"].get("CPU")}
        for n in ray.nodes()
    ]
    report["datasets"], report["registry"] = _registry_state()
    report["dispatcher"] = _dispatcher_state()
    url = read_state(settings.home).database_url or resolve_database_url(settings)
    counts = asyncio.run(_run_counts(url))
    report["queue_depth"] = counts.get("queued", 0)
    held = (report["dispatcher"] or {}).get("in_flight", 0)
    report["runs_in_flight"] = held  # what a live dispatcher holds, not rows marked running
    report["runs_unheld"] = max(counts.get("running", 0) - held, 0)
    report["runs_by_status"] = counts
    return report


STATE_TIMEOUT_S = 10.0


def _registry_state() -> tuple[list[dict[str, Any]] | str, dict[str, Any] | None]:
    """(the versions held, or why none can be read; the registry's stats: building, last
    error), without waiting for a build."""
    import ray

    from dataprep.registry import get_registry

    try:
        registry = get_registry()
        versions, stats = ray.get([registry.versions.remote(), registry.stats.remote()],
                                  timeout=STATE_TIMEOUT_S)
        return versions, stats
    except LookupError as err:
        return str(err), None
    except Exception as err:  # dead or restarting
        return f"the dataset registry does not answer ({type(err).__name__})", None


def _dispatcher_state() -> dict[str, Any] | None:
    """The live dispatcher's stats (started_at, in_flight, last_claim_at, ...); None when
    there is none or it does not answer."""
    import ray

    from serve.dispatcher import get_dispatcher

    try:
        return ray.get(get_dispatcher().stats.remote(), timeout=STATE_TIMEOUT_S)  # type: ignore[no-any-return]
    except Exception:
        return None
