"""Bytes a process received over TCP, from the kernel's per-socket counters.

`/proc/PID/io` does not count socket reads, so each TCP socket of the process is asked for
its `tcp_info.tcpi_bytes_received` (Linux >= 4.1): the payload bytes that arrived on it,
protocol framing included, exactly what PostgreSQL or Redis sent. The delta around a data
access is what that access moved over the network. Unix sockets (Ray's plasma protocol) are
not counted; they carry only object metadata, the object itself is mapped.
"""

from __future__ import annotations

import os
import socket
import stat
import struct

_BYTES_RECEIVED = 128  # offset of tcpi_bytes_received (u64) in struct tcp_info
_TCP_INFO_LEN = 232


def _bytes_received(fd: int) -> int | None:
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return None
    try:
        if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
            return None
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
    except OSError:
        return None
    finally:
        sock.close()
    if len(info) < _BYTES_RECEIVED + 8:
        return None
    return int(struct.unpack_from("<Q", info, _BYTES_RECEIVED)[0])


def tcp_bytes_received() -> int:
    """Sum of bytes received on every TCP socket this process holds open."""
    total = 0
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
        except OSError:
            continue
        received = _bytes_received(fd)
        if received is not None:
            total += received
    return total
