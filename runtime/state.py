"""What `qbt up` started, recorded under QBT_HOME so `qbt down` stops exactly that."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict

STATE_FILE = "cluster.json"


class ClusterState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ray_address: str | None = None
    head_pgid: int | None = None  # set only when `qbt up` started the Ray head itself
    embedded_pgdata: str | None = None  # set only when `qbt up` started the embedded database
    database_url: str | None = None
    http_url: str | None = None


def state_path(home: Path) -> Path:
    return home / STATE_FILE


def read_state(home: Path) -> ClusterState:
    path = state_path(home)
    if not path.exists():
        return ClusterState()
    return ClusterState.model_validate(json.loads(path.read_text()))


def write_state(home: Path, state: ClusterState) -> None:
    home.mkdir(parents=True, exist_ok=True)
    temporary = state_path(home).with_suffix(".tmp")
    temporary.write_text(state.model_dump_json(indent=2))
    temporary.replace(state_path(home))


def clear_state(home: Path) -> None:
    state_path(home).unlink(missing_ok=True)


def head_alive(pgid: int | None) -> bool:
    """Whether a process of the head's process group still runs."""
    return pgid is not None and any(in_group(p, pgid) for p in psutil.process_iter())


def in_group(process: psutil.Process, pgid: int) -> bool:
    try:
        return os.getpgid(process.pid) == pgid
    except (ProcessLookupError, PermissionError):
        return False
