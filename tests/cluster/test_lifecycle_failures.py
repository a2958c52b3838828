"""A `qbt up` that fails stops what it started; `qbt down` stops what a failed `up` left.

Regression: with no Ray token on a fresh machine `ray start --head` exited 1, the embedded
PostgreSQL that `qbt up` had started kept running, and `qbt down` said "stopped: nothing".
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

import dataprep.warehouse
from cluster import lifecycle
from cluster.cli import main
from cluster.head import HeadError
from runtime.config import Settings
from runtime.state import ClusterState, read_state

pytestmark = pytest.mark.slow
REFUSAL = "`ray start --head` exited with 1: AuthenticationError: no token (log ray-head.log)"


@pytest.fixture
def fresh_machine(monkeypatch, tmp_path) -> Path:
    """A new HOME and QBT_HOME, the embedded database, a small demo market, a head that
    refuses to start."""
    real_load_demo = dataprep.warehouse.load_demo

    def small_demo(url, **_kwargs):
        return real_load_demo(url, n_stocks=10, start=date(2023, 1, 2), end=date(2023, 2, 28),
                              seed=1)

    def refuse(*_args, **_kwargs):
        raise HeadError(REFUSAL)

    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("QBT_HOME", str(tmp_path / "home"))
    for name in ("QBT_DATABASE_URL", "QBT_RAY_ADDRESS", "RAY_ADDRESS", "RAY_AUTH_TOKEN",
                 "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(dataprep.warehouse, "load_demo", small_demo)
    monkeypatch.setattr(lifecycle, "start_head", refuse)
    return tmp_path


def test_failed_up_stops_the_database_it_started_and_says_so_in_one_line(fresh_machine,
                                                                           capsys):
    assert main(["up", "--no-example"]) == 2
    captured = capsys.readouterr()
    assert f"created the Ray auth token {fresh_machine / 'user/.ray/auth_token'}" in captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"qbt up: {REFUSAL}; stopped what it had started: embedded "
                               "postgres"), lines[0]
    home = fresh_machine / "home"
    assert not (home / "postgres" / "postmaster.pid").exists()
    assert read_state(home) == ClusterState()
    assert lifecycle.down(Settings(home=home)) == []


def test_down_stops_what_a_failed_up_left(fresh_machine):
    settings = Settings(home=fresh_machine / "home")
    with pytest.raises(HeadError):
        lifecycle._up(settings, started=[], example=False)  # killed before it could undo
    pgdata = fresh_machine / "home" / "postgres"
    assert (pgdata / "postmaster.pid").exists()
    assert read_state(settings.home).embedded_pgdata == str(pgdata)
    assert lifecycle.down(settings) == [f"embedded postgres ({pgdata})"]
    assert not (pgdata / "postmaster.pid").exists()
