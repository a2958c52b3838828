"""Free loopback ports for servers the tests start.

Taken below the kernel's ephemeral range (`ip_local_port_range`, 32768+ on Linux) and above
Ray's worker ports (10002-19999): a port the OS hands out from the ephemeral range can be
taken meanwhile as the source port of one of the many connections Ray opens, so a server
started a moment later fails to bind (CI saw a GCS fail so)."""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 20_000  # above Ray's default worker ports


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port() -> int:
    top = _ephemeral_start()
    for _ in range(200):
        port = random.randrange(LOWEST, top) if top > LOWEST + 100 else 0
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError(f"no free loopback port in {LOWEST}-{top}")
