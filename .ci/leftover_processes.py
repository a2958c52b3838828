"""Exit 1 listing every process that belongs to the clone at argv[1] (its binaries, its
folders, or its virtual environment on PATH: Ray workers rename themselves), but this one and
its ancestors."""

from __future__ import annotations

import sys

import psutil

repo = sys.argv[1]
mine = {psutil.Process().pid, *(p.pid for p in psutil.Process().parents())}
left = []
for process in psutil.process_iter():
    if process.pid in mine:
        continue
    try:
        marks = [" ".join(process.cmdline()), process.cwd(),
                 process.environ().get("PATH", "").split(":")[0]]
        if any(repo in mark for mark in marks):
            left.append(f"{process.pid} {process.name()}: {' '.join(process.cmdline())[:120]}")
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        continue
print("\n".join(left) if left else f"no process of {repo} is left")
sys.exit(1 if left else 0)
