"""The environment and command line `qbt up` starts the Ray head with."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cluster.config import Settings
from cluster.head import SERVE_ENVIRONMENT, head_command, head_environment


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
