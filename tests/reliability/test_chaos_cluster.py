"""Faults and exposure of a real `qbt up` deployment (own Ray head with its dashboard and
token auth, throwaway PostgreSQL): a killed backtest worker, a stopped database, a whole-app
`qbt down` / `qbt up`; what listens where, and a Ray driver without the token.

The tests run in file order on one deployment; the restart test comes last.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest

from tests.reliability.clients import DAILY_3Y, AnswerLog, client, submit_all
from tests.reliability.deployment import REPO, Deployment, start_deployment
from tests.reliability.ledger import (
    MAX_STALL_S,
    Tally,
    account,
    longest_stall_s,
    status_counts,
    wait_ended,
)

pytestmark = [pytest.mark.slow]

RESTART_VARIANTS, RESTART_RUNS = 180, 120
DOWN_LIMIT_S = 10.0  # the bound on `qbt down`
TASK = "run_specs_task"  # the Ray task that runs a batch of claimed runs (backtest/tasks.py)
LIGHT = {
    "start": "2022-01-03",
    "end": "2022-12-29",
    "ranking": [{"factor": "PBR", "ascending": True}, {"factor": "MOM_3M"}],
    "top_n": 10,
}


@pytest.fixture(scope="module")
def deployment(at_session_end: list[Callable[[], None]]) -> Iterator[Deployment]:
    # Not under pytest's tmp folder: that one is private to root, and PostgreSQL runs as
    # pgserver's own user when the tests run as root.
    deployed = start_deployment(Path(tempfile.mkdtemp(prefix="qbt-reliability-")))
    yield deployed
    at_session_end.append(deployed.stop_later())  # `qbt down` runs while other tests do


def _sweep_ids(deployment: Deployment, sweep_id: str) -> list[str]:
    rows = deployment.sql("SELECT id::text FROM runs WHERE sweep_id = %s", (sweep_id,))
    return [row[0] for row in rows]


def _ray_state_start(*args: str) -> subprocess.Popen[str]:
    """tests/reliability/ray_state.py in its own process (see there why)."""
    return subprocess.Popen([sys.executable, "-m", "tests.reliability.ray_state", *args],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _ray_state_answer(process: subprocess.Popen[str]) -> Any:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _ray_state(*args: str) -> Any:
    return _ray_state_answer(_ray_state_start(*args))


@pytest.mark.chaos
def test_killed_backtest_worker_is_retried_with_the_same_result(
    deployment: Deployment, tally: Tally
):
    with deployment.client("alice") as http:
        reference = http.post("/v1/backtests", params={"wait": 60}, json=DAILY_3Y)
        assert reference.status_code == 200, reference.text
        # The killer knows the worker that ran the reference (Ray reuses it) before the
        # work starts: 100 variants (one batch, MIN_SWEEP_BATCH) that differ from the
        # reference only in a minimum market cap no stock is below (so each is the
        # reference's backtest, but none is reused from it, and each plans its own
        # selection: one task of several seconds).
        killer = _ray_state_start("kill-running", deployment.dashboard, TASK, "60")
        assert killer.stdout is not None and killer.stdout.readline().strip() == "watching"
        sweep = http.post("/v1/sweeps", json={
            "base": DAILY_3Y, "grid": {"universe.min_market_cap": list(range(100))}})
        assert sweep.status_code == 202, sweep.text
    sweep_id = sweep.json()["id"]

    victim = _ray_state_answer(killer)
    assert "pid" in victim, f"no worker was seen executing {TASK}: {victim}"
    tally.faults += 1

    ids = _sweep_ids(deployment, sweep_id)
    seconds = wait_ended(deployment.database_url, ids, timeout_s=120)
    result = account(deployment.database_url, ids)
    tally.add_runs(result)
    tally.add_runs(account(deployment.database_url, [reference.json()["id"]]))
    attempts = _ray_state("attempts", deployment.dashboard, TASK, str(victim["pid"]))
    statistics = deployment.sql(
        "SELECT DISTINCT statistics::text FROM runs WHERE sweep_id = %s", (sweep_id,)
    )
    tally.notes.update(killed_pid=victim["pid"], recovered_s=round(seconds, 1),
                       task_attempts=attempts, **result.summary())

    assert result.done == len(ids) == 100, result
    assert result.lost == 0 and result.ended_twice == 0 and result.written_twice == 0, result
    assert result.max_attempts == 1 and result.requeued == 0, result  # Ray retried the task
    # Ray retried the killed attempt. (The state API may show the retry itself as FAILED
    # "as driver exits": the dispatcher's job is that of the `qbt up` process, long gone;
    # the database above says the retry finished the runs.)
    assert attempts and attempts[0][:3] == [0, "FAILED", "WORKER_DIED"], (
        attempts, _ray_state("tasks", deployment.dashboard, TASK))
    assert max(attempt[0] for attempt in attempts) >= 1, attempts
    assert len(statistics) == 1  # every copy, the retried ones too, has one same result
    same = json.loads(statistics[0][0])  # as the reference computed alone (to float rounding)
    for name, value in reference.json()["statistics"].items():
        assert same[name] == (pytest.approx(value, rel=1e-9, abs=1e-12)
                              if isinstance(value, float) else value), name


async def _submit_through_outage(
    deployment: Deployment, log: AnswerLog, *, outage_s: float
) -> dict[str, Any]:
    """Three clients submit (one every ~0.3 s each) while the database is stopped for
    `outage_s`; returns the accepted ids and the timeline."""
    accepted: list[tuple[float, str]] = []
    answers: list[tuple[float, float, int]] = []  # (sent at, seconds, status)
    stop = asyncio.Event()

    async def submitter(number: int) -> None:
        async with client(deployment.url, deployment.keys["carol"], timeout_s=30) as http:
            while not stop.is_set():
                sent = time.monotonic()
                response = await http.post("/v1/backtests", json={**LIGHT, "top_n": 5 + number})
                seconds = time.monotonic() - sent
                log.note(response, seconds=seconds)
                answers.append((sent, seconds, response.status_code))
                if response.status_code == 202:
                    accepted.append((time.monotonic(), response.json()["id"]))
                elif response.status_code == 503:
                    body = response.json()
                    assert body["error"]["code"] == "unavailable", body
                    assert "Traceback" not in response.text
                await asyncio.sleep(0.3)

    async def accepted_since(moment: float, n: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while sum(1 for at, _ in accepted if at > moment) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    tasks = [asyncio.ensure_future(submitter(n)) for n in range(3)]
    try:
        await accepted_since(0.0, 5, 30)
        stopped_at, stopped_epoch = time.monotonic(), time.time()
        await asyncio.to_thread(deployment.postgres.stop)
        down_at = time.monotonic()
        async with client(deployment.url, deployment.keys["carol"]) as http:
            health = (await http.get("/healthz")).json()
            health_s = time.monotonic() - down_at
        await asyncio.sleep(outage_s)  # the outage itself: submits keep coming meanwhile
        starting_at = time.monotonic()  # down for sure until here
        await asyncio.to_thread(deployment.postgres.start)
        back_at = time.monotonic()
        await accepted_since(back_at, 5, 60)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    first_after = min((at for at, _ in accepted if at > back_at), default=None)
    return {
        "ids": [ident for _, ident in accepted],
        "answers": answers,
        "stopped_at": stopped_at,
        "down_at": down_at,
        "starting_at": starting_at,
        "back_at": back_at,
        "health_while_down": health,
        "health_s": health_s,
        "stopped_epoch": stopped_epoch,
        "recovered_after_s": None if first_after is None else first_after - back_at,
    }


@pytest.mark.chaos
def test_database_outage_answers_503_then_recovers(deployment: Deployment, tally: Tally):
    log = AnswerLog()
    outage = asyncio.run(_submit_through_outage(deployment, log, outage_s=4.0))
    tally.faults += 1
    ids = outage["ids"]
    seconds = wait_ended(deployment.database_url, ids, timeout_s=120)
    result = account(deployment.database_url, ids)
    tally.add_runs(result)
    tally.requests += log.requests
    tally.unavailable_503 += log.unavailable_503
    tally.server_errors += len(log.server_errors)
    stall = longest_stall_s(deployment.database_url, ids, since=outage["stopped_epoch"])
    while_down = [  # requests that began and ended while the database was surely stopped
        status for sent, seconds, status in outage["answers"]
        if outage["down_at"] <= sent and sent + seconds < outage["starting_at"]
    ]
    tally.notes.update(statuses=dict(log.statuses), slowest_answer_s=round(log.slowest_s, 2),
                       recovered_after_s=outage["recovered_after_s"], ended_s=round(seconds, 1),
                       while_down=while_down, health_while_down=outage["health_while_down"],
                       health_s=round(outage["health_s"], 2), longest_stall_s=round(stall, 1),
                       refusals=log.refusals, no_retry_after=log.refusals_without_retry_after,
                       **result.summary())

    assert while_down and set(while_down) == {503}, while_down
    assert outage["health_while_down"] == {"status": "degraded", "database": "unavailable",
                                           "dataset": "ok"}
    assert set(log.statuses) <= {202, 503}, log.statuses
    assert not log.refusals_without_retry_after and not log.server_errors
    assert log.slowest_s < 10, log.slowest_s  # a quick 503, not a hang
    assert outage["recovered_after_s"] is not None and outage["recovered_after_s"] < 30
    assert result.lost == 0, result  # nothing accepted was lost
    assert result.done + result.failed_with_reason == result.accepted, result
    assert result.ended_twice == 0 and result.written_twice == 0, result
    assert outage["health_s"] <= 1.0, outage["health_s"]
    assert stall <= MAX_STALL_S, stall


def _listeners(port: int) -> set[str]:
    return {
        conn.laddr.ip
        for conn in psutil.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port
    }


def _outside_address() -> str | None:
    """An address of this machine other than loopback (what another host would reach)."""
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family.name == "AF_INET" and not address.address.startswith("127."):
                return address.address
    return None


def _reaches(host: str, port: int) -> bool:
    import socket

    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.mark.security
def test_api_and_dashboard_listen_on_loopback_only(deployment: Deployment, tally: Tally):
    api, dashboard = _listeners(deployment.http_port), _listeners(deployment.dashboard_port)
    gcs = _listeners(deployment.gcs_port)
    outside = _outside_address()
    tally.notes.update(api=sorted(api), dashboard=sorted(dashboard), gcs=sorted(gcs),
                       outside_address=outside)
    assert api == {"127.0.0.1"}, api
    assert dashboard == {"127.0.0.1"}, dashboard
    if outside is not None:  # from another host's point of view
        assert not _reaches(outside, deployment.http_port)
        assert not _reaches(outside, deployment.dashboard_port)
        tally.notes["gcs_reachable_from_outside_address"] = _reaches(outside, deployment.gcs_port)


def _driver(address: str, env: dict[str, str]) -> subprocess.Popen[str]:
    code = f"import ray; ray.init(address={address!r}); print('connected')"
    return subprocess.Popen([sys.executable, "-c", code], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.security
def test_gcs_refuses_a_driver_without_the_token(
    deployment: Deployment, tally: Tally, tmp_path: Path
):
    address = f"127.0.0.1:{deployment.gcs_port}"
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    base.update(RAY_AUTH_MODE="token", RAY_NUM_REDIS_GET_RETRIES="3")  # give up after ~3 s
    no_token_home = str(tmp_path)  # no ~/.ray/auth_token there
    drivers = {
        "wrong token": _driver(address, {**base, "HOME": no_token_home,
                                         "RAY_AUTH_TOKEN": "f" * 32}),
        # A client that does not do token auth at all (sends no token).
        "no token": _driver(address, {**base, "HOME": no_token_home,
                                      "RAY_AUTH_MODE": "disabled"}),
        "the cluster's token": _driver(address, base),  # ~/.ray/auth_token, as qbt up uses
    }
    outcomes = {name: (p.wait(timeout=120), *p.communicate()) for name, p in drivers.items()}
    tally.hostile += 2
    tally.notes.update({name: code for name, (code, _, _) in outcomes.items()})
    for name in ("wrong token", "no token"):
        code, out, err = outcomes[name]
        assert code != 0 and "connected" not in out, (name, out, err[-2000:])
        assert "Authentication token is missing or incorrect" in err, (name, err[-2000:])
    code, out, err = outcomes["the cluster's token"]
    assert code == 0 and "connected" in out, err[-2000:]  # the refusal is the token's doing


@pytest.mark.chaos
def test_qbt_down_with_runs_queued_then_up_completes_them(deployment: Deployment, tally: Tally):
    # A sweep of 180 variants and 120 single runs (~0.2 s a run; a fresh initial capital
    # each, so that none is reused from an earlier test). When the dispatcher dies some are
    # running (claimed, leased) and some are queued (it keeps 64 single runs in flight). So
    # that some are queued however fast the machine runs them and however slow `qbt down`
    # is, a transaction holds a row lock on those still queued after the submits: the
    # dispatcher claims with `FOR UPDATE SKIP LOCKED`, so it passes them over until the lock
    # goes, after the down.
    capital = 1e8 + time.time_ns() % 10**6
    with deployment.client("bob") as http:
        sweep = http.post("/v1/sweeps", json={
            "base": {**DAILY_3Y, "initial_capital": capital},
            "grid": {"top_n": [5 + i % 40 for i in range(RESTART_VARIANTS)]},
        })
        assert sweep.status_code == 202, sweep.text
    ids = _sweep_ids(deployment, sweep.json()["id"])
    ids += submit_all(deployment.url, deployment.keys["bob"],
                      [{**DAILY_3Y, "top_n": 5 + i % 40, "initial_capital": capital + i}
                       for i in range(RESTART_RUNS)])
    with psycopg.connect(deployment.database_url) as holder:
        held = holder.execute(
            "SELECT id FROM runs WHERE status = 'queued' AND id = ANY(%s::uuid[])"
            " FOR UPDATE SKIP LOCKED", (ids,),
        ).fetchall()
        clock = time.monotonic()
        down = deployment.down()
        timings = {"down_s": time.monotonic() - clock}
        tally.faults += 1
        at_down = status_counts(deployment.database_url, ids)
        time.sleep(2)  # nothing of the old deployment claims or finishes runs any more
        after_down = status_counts(deployment.database_url, ids)
        holder.rollback()
    assert down.returncode == 0, down.stderr[-2000:]
    assert timings["down_s"] <= DOWN_LIMIT_S, timings
    assert after_down == at_down, (at_down, after_down)
    # The runs the dead dispatcher leased come back when the new one starts (no waiting
    # for their 60 s leases).
    clock = time.monotonic()
    up = deployment.up()
    timings["up_s"] = time.monotonic() - clock
    up_at = time.time()
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-3000:]
    timings["ended_after_up_s"] = wait_ended(deployment.database_url, ids, timeout_s=120)
    timings["longest_stall_after_up_s"] = longest_stall_s(deployment.database_url, ids,
                                                          since=up_at)
    result = account(deployment.database_url, ids)
    tally.add_runs(result)
    tally.notes.update(at_down=at_down, held_queued=len(held),
                       **{k: round(v, 1) for k, v in timings.items()}, **result.summary())

    assert len(held) >= 10 and at_down.get("queued", 0) >= len(held), (len(held), at_down)
    assert result.lost == 0, result
    assert result.done + result.failed_with_reason == len(ids), result
    assert result.ended_twice == 0 and result.written_twice == 0, result
    assert timings["longest_stall_after_up_s"] <= MAX_STALL_S, timings
    with deployment.client("bob") as http:  # the API after the restart answers for them
        listed = http.get("/v1/backtests", params={"limit": 100}).json()["items"]
        deadline = time.monotonic() + 60  # and the new dispatcher analyses the sweep
        while (swept := http.get(f"/v1/sweeps/{sweep.json()['id']}").json())["status"] in (
                "queued", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
    assert len({item["id"] for item in listed} & set(ids[-RESTART_RUNS:])) == 100
    assert swept["status"] == "done" and swept["n_done"] == RESTART_VARIANTS, swept
    assert swept["overfitting"]["n_trials"] == RESTART_VARIANTS, swept["analysis_errors"]
