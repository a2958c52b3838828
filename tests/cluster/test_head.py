"""The environment and command line `qbt up` starts the Ray head with."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from cluster.head import (
    SERVE_ENVIRONMENT,
    ensure_ray_token,
    head_command,
    head_environment,
    ray_token_path,
)
from runtime.config import Settings


def test_head_environment_turns_token_auth_on_and_gives_serve_time_to_start(monkeypatch):
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    for name in SERVE_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    environment = head_environment()
    assert environment["RAY_AUTH_MODE"] == "token"
    assert environment["RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S"] == "60"
    assert environment["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)


def test_values_already_set_win(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "7")
    environment = head_environment()
    assert environment["RAY_AUTH_MODE"] == "disabled"
    assert environment["RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S"] == "7"


def test_head_command_uses_the_configured_ports():
    settings = Settings(ray_gcs_port=7001, dashboard_port=7002, metrics_port=7003)
    command = head_command(settings)
    assert command[1:3] == ["start", "--head"]
    assert {"--port=7001", "--dashboard-port=7002", "--metrics-export-port=7003"} <= set(command)
    assert "--dashboard-host=127.0.0.1" in command


def test_a_missing_ray_token_is_created_0600_where_ray_looks(monkeypatch, tmp_path):
    """Regression: on a fresh HOME `ray start --head` with token auth exited 1
    (no token), since only `ray.init()` makes one."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    created = ensure_ray_token()
    assert created == tmp_path / ".ray" / "auth_token"
    assert stat.S_IMODE(created.stat().st_mode) == 0o600
    assert len(created.read_text()) == 64 and int(created.read_text(), 16) >= 0
    token = created.read_text()
    assert ensure_ray_token() is None and created.read_text() == token  # kept, not replaced


def test_ray_token_path_follows_rays_order(tmp_path):
    assert ray_token_path({"RAY_AUTH_TOKEN": "abc"}) is None
    custom = tmp_path / "elsewhere" / "token"
    assert ray_token_path({"RAY_AUTH_TOKEN_PATH": str(custom)}) == custom
    assert ensure_ray_token({"RAY_AUTH_TOKEN_PATH": str(custom)}) == custom
    assert stat.S_IMODE(custom.stat().st_mode) == 0o600
    assert ensure_ray_token({"RAY_AUTH_TOKEN": "abc"}) is None
